#!/usr/bin/env bash
# Run integration tests with nginx under valgrind's memcheck, nginx in
# one process (master_process off; daemon off), so the process that
# serves requests is the one valgrind watches. Fails on any invalid
# access, use of uninitialised memory, or definite leak (nginx's own
# exit-time leaks are suppressed in scripts/valgrind.supp): conftest's
# teardown reads <prefix>/logs/valgrind.<pid> and fails the test whose
# nginx reported errors.
#
#   scripts/valgrind.sh [PYTEST ARGS...]
#
# Without arguments it runs VALGRIND_TESTS (default below): the tests
# that do not need a reload or several workers (one process cannot do
# either) and that finish in a few minutes at valgrind's ~20-50x
# slowdown. Pass pytest arguments to choose others, e.g.
#   scripts/valgrind.sh test_audit.py -k fields
#
# Environment: BUILD (default <repo>/build; module and dsctl are built
# there first), VALGRIND (default valgrind).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$repo/build}
python=/usr/bin/python3
vg=${VALGRIND:-valgrind}

command -v "$vg" >/dev/null || {
    echo "valgrind: $vg not found (apt-get install valgrind)" >&2; exit 2; }

t0=$(date +%s)
make -s -C "$repo" BUILD="$build" all

# ~3 s per test under valgrind: the default (~6 min on 2 CPUs) is every
# test of the bad-input, fault, audit and rate-limit suites that one
# nginx process can run at valgrind's speed. Left out: reloads and
# 2-worker tests (single-process mode has neither), tests with timing
# bounds under load (Redis kill/pause, "at most one error line a
# second").
# A quick run (~20 s): VALGRIND_TESTS="test_bad_input.py::test_every_hostile_input_in_one_worker"
default_tests=(test_bad_input.py test_faults.py test_audit.py
               test_ratelimit.py
               -k "not reload and not swap and not load and not redis_killed\
 and not redis_paused and not write_errors")
if [ $# -eq 0 ]; then
    if [ -n "${VALGRIND_TESTS:-}" ]; then
        read -r -a args <<<"$VALGRIND_TESTS"
    else
        args=("${default_tests[@]}")
    fi
else
    args=("$@")
fi

export DS_BUILD=$build
export DS_NGINX_SINGLE=1
export DS_NGINX_SLOW=${DS_NGINX_SLOW:-20}
# --keep-debuginfo: the module is dlclose()d before the leak check;
# without it a leak's stack shows ??? where the module's frames were
export DS_NGINX_WRAPPER="$vg --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite --show-leak-kinds=definite \
--keep-debuginfo=yes --num-callers=40 --track-origins=yes \
--suppressions=$repo/scripts/valgrind.supp \
--log-file={prefix}/logs/valgrind.%p"

echo "== valgrind: ${args[*]}"
rc=0
(cd "$repo/tests/integration" &&
    "$python" -m pytest -q -p no:cacheprovider "${args[@]}") || rc=$?
echo "== valgrind: took $(( $(date +%s) - t0 ))s, rc=$rc"
exit $rc
