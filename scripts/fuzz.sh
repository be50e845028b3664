#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, one after another,
# and prints per target the runs executed, their speed, the coverage reached
# and whether a crash was found. Exits 1 when any target crashed (or hit a
# timeout or out-of-memory), 2 on a usage or setup problem.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
#
# Needs a nightly toolchain (`rustup toolchain install nightly`, or set
# FUZZ_TOOLCHAIN) and cargo-fuzz (`cargo install cargo-fuzz`). Corpora grow
# in fuzz/corpus/<target>/ and are kept between runs; the committed seeds in
# fuzz/seeds/<target>/ are read but never written. A crash leaves its input
# in fuzz/artifacts/<target>/, with the command to replay it in the log
# fuzz/artifacts/<target>.log.
set -euo pipefail

SECONDS_PER_TARGET=${1:-60}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
TARGETS=(uri_canonical v2_resource aws_chunked_decode framing_watch)

if ! [[ $SECONDS_PER_TARGET =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET]  (a whole number of seconds, default 60)" >&2
    exit 2
fi
if ! cargo "+$TOOLCHAIN" fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz on the $TOOLCHAIN toolchain is missing: cargo install cargo-fuzz" >&2
    exit 2
fi

cd "$(dirname "$0")/../fuzz"

echo "building ${#TARGETS[@]} targets (release, debug assertions, address sanitizer)"
cargo "+$TOOLCHAIN" fuzz build

# The value of libFuzzer's final `stat::NAME:` line in a log, or "?".
final_stat() {
    sed -n "s/^stat::$1: *//p" "$2" | tail -n 1 | grep . || echo "?"
}

# The value after `KEY:` on the last status line (`#N ... cov: X ft: Y ...`).
status() {
    grep -E '^#[0-9]+' "$2" | tail -n 1 | sed -n "s/.* $1: \([^ ]*\).*/\1/p" | grep . || echo "?"
}

failed=()
summary=()
for target in "${TARGETS[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="artifacts/$target.log"
    corpora=("corpus/$target")
    [ -d "seeds/$target" ] && corpora+=("seeds/$target")

    echo
    echo "== $target: ${SECONDS_PER_TARGET}s (log: fuzz/$log)"
    started=$(date +%s)
    set +e
    cargo "+$TOOLCHAIN" fuzz run "$target" "${corpora[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1
    rc=$?
    set -e
    elapsed=$(($(date +%s) - started))

    finding=$(grep -m 1 -oE 'ERROR: libFuzzer: [a-z-]+|ERROR: AddressSanitizer: [a-z-]+|panicked at [^ ]+' "$log" || true)
    if [ "$rc" -eq 0 ]; then
        outcome="no crash"
    else
        outcome="CRASH (exit $rc${finding:+, $finding})"
        failed+=("$target")
        grep -m 1 -E '^(Failing input|artifact_prefix|Test unit written to)' "$log" || true
    fi
    line=$(printf '%-20s runs %-10s exec/s %-7s cov %-6s ft %-6s corpus %-6s %4ss  %s' \
        "$target" "$(final_stat number_of_executed_units "$log")" \
        "$(final_stat average_exec_per_sec "$log")" "$(status cov "$log")" \
        "$(status ft "$log")" "$(status corp "$log")" "$elapsed" "$outcome")
    echo "$line"
    summary+=("$line")
done

echo
echo "== summary (${SECONDS_PER_TARGET}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
