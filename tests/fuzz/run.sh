#!/usr/bin/env bash
# Build every libFuzzer harness (tests/fuzz/fuzz_*.c) against all core
# sources with clang + ASan + UBSan, then run each for SECONDS (default
# 30). Fails if a harness does not build or finds a crash, a leak, a
# sanitizer report or a timeout.
#
#   tests/fuzz/run.sh [SECONDS] [HARNESS...]     e.g. run.sh 60 fuzz_path
#
# BUILD (default /tmp/ngx_ds-fuzz) receives the binaries, the working
# corpora (seeded from tests/fuzz/corpus/<harness>/, which is never
# written to) and crash artifacts. A harness whose first lines say
# "requires: <function> ..." is skipped, with a notice, until a core
# file defines those functions. Replay a crash: $BUILD/fuzz/<harness> <artifact file>.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
core="$repo/ngx_ds_module/core"

seconds=${1:-30}
shift || true
case $seconds in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] [HARNESS...]" >&2; exit 2 ;;
esac

out="${BUILD:-/tmp/ngx_ds-fuzz}/fuzz"
mkdir -p "$out"

CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "fuzz: $CLANG not found" >&2; exit 2; }

cflags=(-g -O1 -std=gnu11 -Wall -Wextra -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=all -I"$core")
libs=(-ljansson -lmaxminddb -lhiredis -lcrypto)

if [ $# -gt 0 ]; then
    harnesses=("$@")
else
    harnesses=()
    for f in "$here"/fuzz_*.c; do
        harnesses+=("$(basename "$f" .c)")
    done
fi

# UBSan must abort so libFuzzer records the input; LSan is on by default
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# a smaller quarantine keeps RSS and page faults down (2x exec/s on
# the audit harness) while still catching use-after-free within an input
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=32}

failed=()
skipped=()

# the core once, instrumented, into an archive: each harness links only
# the objects it needs, and a core file that does not compile fails the
# run without hiding what the other harnesses find
mkdir -p "$out/obj"
rm -f "$out/obj"/*.o "$out/libdscore-fuzz.a"
for c in "$core"/*.c; do
    o="$out/obj/$(basename "$c" .c).o"
    if ! "$CLANG" "${cflags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" \
             -c -o "$o" "$c" 2>"$o.log"; then
        cat "$o.log" >&2
        failed+=("$(basename "$c")(build)")
    fi
done
ar rcs "$out/libdscore-fuzz.a" "$out"/obj/*.o

for h in "${harnesses[@]}"; do
    src="$here/$h.c"
    [ -f "$src" ] || { echo "fuzz: no such harness $h" >&2; exit 2; }

    # "requires: fn ..." names core functions the harness calls; until
    # some core file defines them (nginx style: name at line start),
    # the harness is skipped rather than failing to link
    missing=
    for req in $(sed -n '1,20s/.*requires: *\([a-z_0-9 ]*\).*/\1/p' "$src"); do
        grep -q "^$req(" "$core"/*.c 2>/dev/null || missing="$missing $req"
    done
    if [ -n "$missing" ]; then
        echo "== $h: skipped, not in the core yet:$missing"
        skipped+=("$h")
        continue
    fi

    echo "== $h: building"
    # the test oracle (jansson-built records) for differential harnesses
    if ! "$CLANG" "${cflags[@]}" -I"$repo/tests/oracle" -o "$out/$h" "$src" \
             "$repo"/tests/oracle/*.c "$out/libdscore-fuzz.a" "${libs[@]}" \
             2>"$out/$h.build.log"; then
        cat "$out/$h.build.log" >&2
        failed+=("$h(build)")
        continue
    fi

    work="$out/corpus-run/$h"
    art="$out/artifacts/$h"
    mkdir -p "$work" "$art"
    seeds=()
    [ -d "$here/corpus/$h" ] && seeds+=("$here/corpus/$h")
    # the shipped example policies are good seeds for the loader
    if [ "$h" = fuzz_policy ] && [ -d "$repo/policies" ]; then
        seeds+=("$repo/policies")
    fi

    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
          -print_final_stats=1 -artifact_prefix="$art/")
    [ -f "$here/$h.dict" ] && args+=(-dict="$here/$h.dict")
    [ -f "$here/$h.options" ] && read -r -a extra <"$here/$h.options" &&
        args+=("${extra[@]}")

    echo "== $h: running ${seconds}s"
    if "$out/$h" "${args[@]}" "$work" "${seeds[@]}" >"$out/$h.log" 2>&1; then
        grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done ' \
            "$out/$h.log" || true
    else
        tail -n 60 "$out/$h.log" >&2
        echo "fuzz: $h FAILED; artifacts in $art, log $out/$h.log" >&2
        failed+=("$h")
    fi
done

if [ ${#skipped[@]} -gt 0 ]; then
    echo "fuzz: skipped (core not there yet): ${skipped[*]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: all harnesses ran ${seconds}s without a finding"
