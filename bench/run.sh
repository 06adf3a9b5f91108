#!/usr/bin/env bash
# ngx_ds benchmark: what enforcement costs against plain nginx proxying,
# one interleaved run on loopback (see bench/README.md).
#
#   bench/run.sh                  build (make all), then benchmark
#   BENCH_DURATION=5 BENCH_ROUNDS=5 bench/run.sh
#
# Knobs (environment): BUILD (build dir, default ./build),
# BENCH_DURATION (s per wrk run, 5), BENCH_ROUNDS (5), BENCH_THREADS (1),
# BENCH_CONNECTIONS (16), BENCH_WORKERS (worker_processes, 1),
# BENCH_WARMUP (s, 2), BENCH_RESTART (1: fresh gateway processes before
# every round after the first, each warmed up 1 s; 0: the same processes
# throughout), BENCH_SIZE (recipients of the big policy, 100000),
# BENCH_CASES (comma list, default all), BENCH_SEED (shuffle seed),
# BENCH_OUT (results dir, default bench/results), BENCH_SKIP_BUILD=1,
# BENCH_PROFILE (comma list of cases to profile with perf after the rounds),
# BENCH_CALLGRIND (comma list of cases to count instructions per request
# with callgrind; BENCH_CALLGRIND_N requests each, 2000).
#
# Every process it starts (nginx masters and workers, redis-server, wrk)
# is stopped when it exits, also on failure or Ctrl-C; the scratch
# directory is removed unless BENCH_KEEP=1.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$repo/build}
case $build in /*) ;; *) build=$repo/$build ;; esac
out=${BENCH_OUT:-$repo/bench/results}
py=/usr/bin/python3

for tool in wrk redis-server perl nginx; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
        echo "bench: $tool missing (scripts/deps.sh bench)" >&2; exit 1; }
done

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    make -C "$repo" BUILD="$build" all
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ngx-ds-bench.XXXXXX")
child=

cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$child" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$child" 2>/dev/null || true
    fi
    # belt and braces: anything bench.py started and left behind (its
    # pids file lists them), and those processes' children (nginx
    # workers); only if the pid still runs one of our programs
    if [ -f "$work/pids" ]; then
        while read -r pid; do
            for p in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null) \
                     "$pid"; do
                if grep -qaE 'nginx|redis|wrk|perf|valgrind' "/proc/$p/cmdline" \
                        2>/dev/null; then
                    kill -KILL "$p" 2>/dev/null || true
                fi
            done
        done < "$work/pids"
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench: scratch kept in $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

args=(--build "$build" --work "$work" --out "$out"
      --duration "${BENCH_DURATION:-5}" --rounds "${BENCH_ROUNDS:-5}"
      --threads "${BENCH_THREADS:-1}"
      --connections "${BENCH_CONNECTIONS:-16}"
      --workers "${BENCH_WORKERS:-1}" --warmup "${BENCH_WARMUP:-2}"
      --restart "${BENCH_RESTART:-1}"
      --size "${BENCH_SIZE:-100000}" --cases "${BENCH_CASES:-}"
      --profile "${BENCH_PROFILE:-}" --callgrind "${BENCH_CALLGRIND:-}"
      --callgrind-n "${BENCH_CALLGRIND_N:-2000}")
[ -n "${BENCH_SEED:-}" ] && args+=(--seed "$BENCH_SEED")

"$py" "$repo/bench/bench.py" "${args[@]}" &
child=$!
wait "$child"
