#!/usr/bin/env bash
# Build ngx_http_ds_module.so (and dsctl) with AddressSanitizer and
# UndefinedBehaviorSanitizer into their own build directory, then run
# the integration suite against Debian's nginx with that module loaded.
# Any sanitizer report, [alert] or [emerg] line fails the test that
# caused it (tests/integration/conftest.py scans the error log and the
# per-process report files <prefix>/logs/sanitizer.<pid>).
#
#   scripts/sanitize.sh [PYTEST ARGS...]      e.g. scripts/sanitize.sh -k bad_input
#
# Environment:
#   ASAN_BUILD     build directory (default: <repo>/build/asan)
#   NGX_SRC        nginx sources (default: /usr/share/nginx/src)
#   ASAN_OPTIONS   default detect_leaks=1:abort_on_error=0:... (see below)
#   SANITIZE_BUILD_ONLY=1   build, do not run the suite
#
# Debian's nginx is not built with ASan, so the runtimes are preloaded
# into nginx alone (DS_NGINX_PRELOAD): the master loads them at exec,
# the workers are forked from it and keep them. See docs/hardening.md.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${ASAN_BUILD:-$repo/build/asan}
ngx_src=${NGX_SRC:-/usr/share/nginx/src}
python=/usr/bin/python3
cc=${CC:-gcc}

san="-fsanitize=address,undefined"
export DS_CC_OPT="$san -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
export DS_LD_OPT="$san"

t0=$(date +%s)
echo "== sanitize: building the module into $build"
scripts_dir=$repo/scripts
"$scripts_dir/build-module.sh" "$ngx_src" "$build"

# dsctl with the same sanitizers: the tests run it on every audit log
echo "== sanitize: building dsctl"
make -s -C "$repo" BUILD="$build" CC="$cc" \
    CFLAGS="-g -O1 -fno-omit-frame-pointer $san -fno-sanitize-recover=undefined" \
    dsctl

# the module really is instrumented (a silent no-op build proves nothing)
syms=$(nm -D "$build/ngx_http_ds_module.so")
if ! grep -q ' U __asan_init' <<<"$syms"; then
    echo "sanitize: $build/ngx_http_ds_module.so is not ASan-instrumented" >&2
    exit 1
fi
echo "== sanitize: built in $(( $(date +%s) - t0 ))s"
[ "${SANITIZE_BUILD_ONLY:-}" = 1 ] && exit 0

libasan=$("$cc" -print-file-name=libasan.so)
libubsan=$("$cc" -print-file-name=libubsan.so)
for l in "$libasan" "$libubsan"; do
    [ -e "$l" ] || { echo "sanitize: no $l (gcc's sanitizer runtimes)" >&2; exit 1; }
done

# nginx: preload the runtimes, write reports into the test's prefix.
# detect_leaks=1: LeakSanitizer runs when each nginx process exits; what
# nginx itself keeps until exit (cycle pool) is still reachable through
# ngx_cycle and is not reported. scripts/lsan.supp, if present, is used.
export DS_NGINX_PRELOAD="$libasan:$libubsan"
export DS_NGINX_SANITIZER=1
lsan=print_suppressions=0
supp="$repo/scripts/lsan.supp"
[ -f "$supp" ] && lsan="suppressions=$supp:$lsan"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0:check_initialization_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-$lsan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export DS_BUILD=$build

echo "== sanitize: integration suite (LD_PRELOAD=$DS_NGINX_PRELOAD)"
t1=$(date +%s)
rc=0
(cd "$repo/tests/integration" &&
    "$python" -m pytest -q -p no:cacheprovider "$@") || rc=$?
echo "== sanitize: suite took $(( $(date +%s) - t1 ))s, rc=$rc"
exit $rc
