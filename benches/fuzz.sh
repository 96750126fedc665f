#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for SECONDS each (default 60), one
# after the other, and prints per target the executions, executions per
# second and crashes. Exits 1 if any target crashed (a failed assertion, a
# panic, a hang over TIMEOUT seconds or memory over RSS_LIMIT_MB); the input
# that did it is left in fuzz/artifacts/TARGET/ and its panic is printed.
#
#   bash benches/fuzz.sh [SECONDS]
#
# Needs cargo-fuzz (`cargo install --locked cargo-fuzz`). By default the
# targets are built without a sanitizer (`-s none`: netkit's protocol code is
# safe Rust, where AddressSanitizer finds nothing a bounds check would not,
# at a third of the speed and ten times the memory), with debug assertions
# (`-a`: arithmetic overflow panics), on the default toolchain, which that
# needs no nightly for. SANITIZER=address (or another cargo-fuzz sanitizer)
# builds with it on `cargo +nightly`. Knobs: TARGETS (space-separated,
# default all), MAX_LEN (longest input, 4096), TIMEOUT (seconds per input,
# 10), RSS_LIMIT_MB (2048), SANITIZER (none).
#
# New inputs the fuzzer finds go to fuzz/corpus/TARGET/ (ignored by git; the
# committed seeds are the seed-* files there), so later runs start from them.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-60}
MAX_LEN=${MAX_LEN:-4096}
TIMEOUT=${TIMEOUT:-10}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-2048}
SANITIZER=${SANITIZER:-none}

if ! [[ $SECS =~ ^[0-9]+$ ]] || [ "$SECS" -eq 0 ]; then
    echo "usage: benches/fuzz.sh [SECONDS]  (SECONDS: a positive whole number)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is missing: cargo install --locked cargo-fuzz" >&2
    exit 2
fi

cargo_fuzz=(cargo fuzz)
flags=(-s "$SANITIZER" -a)
if [ "$SANITIZER" != none ]; then
    cargo_fuzz=(cargo +nightly fuzz)
fi

targets=${TARGETS:-$("${cargo_fuzz[@]}" list)}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

start=$(date +%s)
if ! "${cargo_fuzz[@]}" build "${flags[@]}" >"$logs/build" 2>&1; then
    tail -n 40 "$logs/build" >&2
    echo "fuzz.sh: building the fuzz targets failed" >&2
    exit 1
fi
echo "built the fuzz targets in $(($(date +%s) - start)) s (sanitizer: $SANITIZER)"

printf '%-22s %12s %9s %8s\n' target execs exec/s crashes
total=0
passed=0
failed=0
for t in $targets; do
    log="$logs/$t"
    rc=0
    "${cargo_fuzz[@]}" run "${flags[@]}" "$t" -- \
        -max_total_time="$SECS" -max_len="$MAX_LEN" -timeout="$TIMEOUT" \
        -rss_limit_mb="$RSS_LIMIT_MB" -print_final_stats=1 >"$log" 2>&1 || rc=$?
    # libFuzzer's final stats; on a crash it may stop before printing them,
    # then the last status line (#N ...) tells how far it got.
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    if [ -z "$execs" ]; then
        execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    fi
    rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    crashes=0
    if [ "$rc" -ne 0 ] || grep -qE '^==[0-9]+== ERROR: libFuzzer|deadly signal|Test unit written to' "$log"; then
        crashes=1
    fi
    printf '%-22s %12s %9s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$crashes"
    total=$((total + ${execs:-0}))
    if [ "$crashes" -ne 0 ]; then
        failed=$((failed + 1))
        echo "--- $t failed (exit $rc):"
        grep -E "panicked at|^thread '|ERROR: libFuzzer|Test unit written to|SUMMARY" "$log" | head -n 20 ||
            tail -n 40 "$log"
        echo "--- reproduce: ${cargo_fuzz[*]} run ${flags[*]} $t fuzz/artifacts/$t/<file>"
    else
        passed=$((passed + 1))
    fi
done
echo "$total executions in all, $(($(date +%s) - start)) s with the build"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
