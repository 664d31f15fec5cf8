#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/test-fuzz.sh — the smoke run of the libFuzzer targets in make check:
# builds them (clang, ASan+UBSan, into build-fuzz/ through `make fuzz-build`),
# replays every seed of tests/fuzz/corpus/<target>/ (crash inputs that were
# fixed stay there as regression tests), then lets each target mutate for
# FUZZ_SMOKE_SECONDS (default 5). `make fuzz FUZZ_SECONDS=N` is the long run.
# The fuzz build does not depend on make check's pass: it runs in the plain one.
#
# TAP on stdout. New inputs found here go to a temporary directory, never
# into the repository's corpus.
set -u

# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/lib/tap.sh"

fuzz_build=${FUZZ_BUILD:-$top/build-fuzz}
smoke_s=${FUZZ_SMOKE_SECONDS:-5}
# libFuzzer's per-input limit; one input takes microseconds, so this is a hang.
readonly INPUT_TIMEOUT_S=10
readonly KILL_SLACK_S=60
readonly MAX_LEN=20000

if [ -x "$build/ukeyd" ] && ldd "$build/ukeyd" 2>/dev/null | grep -q libasan; then
    skip_all "sanitizer pass: the fuzz targets are built the same (ASan+UBSan) in both passes, so they run once"
fi
command -v clang >/dev/null || skip_all "clang is not installed (build-aux/install-deps test)"
probe=$(mktemp -d /tmp/ukeyd-fuzz-probe.XXXXXX)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
    >"$probe/probe.c"
clang -fsanitize=fuzzer,address,undefined -o "$probe/probe" "$probe/probe.c" 2>/dev/null ||
    skip_all "clang cannot build libFuzzer targets (libclang-rt-14-dev missing?)"

make_work fuzz
trap 'rm -rf "$probe"; remove_work' EXIT

if make -C "$top" --no-print-directory fuzz-build FUZZ_BUILD="$fuzz_build" >"$work/build.log" 2>&1; then
    ok 0 "fuzz targets build (clang, ASan+UBSan, libFuzzer)"
else
    ok 1 "fuzz targets build"
    grep -E 'error|Error' "$work/build.log" | head -n 20 | sed 's/^/#   /'
    echo "1..$n"
    exit 1
fi

for src in "$top"/tests/fuzz/fuzz-*.c; do
    t=$(basename "$src" .c)
    t=${t#fuzz-}
    bin=$fuzz_build/fuzz-$t
    seeds=$top/tests/fuzz/corpus/$t
    count=$(find "$seeds" -type f 2>/dev/null | wc -l)
    ok "$([ "$count" -gt 0 ]; echo $?)" "fuzz-$t has seeds ($count in tests/fuzz/corpus/$t)"
    [ "$count" -gt 0 ] || continue
    timeout --kill-after=10 "$KILL_SLACK_S" "$bin" -runs=0 -timeout="$INPUT_TIMEOUT_S" \
        "$seeds" >"$work/$t-replay.log" 2>&1
    rc=$?
    ok "$rc" "fuzz-$t replays its seeds and regression inputs"
    [ "$rc" -eq 0 ] || tail -n 30 "$work/$t-replay.log" | sed 's/^/#   /'
    mkdir -p "$work/corpus-$t" "$work/crashes-$t"
    timeout --kill-after=10 $((smoke_s + KILL_SLACK_S)) "$bin" -max_total_time="$smoke_s" \
        -timeout="$INPUT_TIMEOUT_S" -max_len="$MAX_LEN" -print_final_stats=1 \
        -artifact_prefix="$work/crashes-$t/" "$work/corpus-$t" "$seeds" >"$work/$t-smoke.log" 2>&1
    rc=$?
    ok "$rc" "fuzz-$t mutates for ${smoke_s}s without a crash ($(sed -n \
        's/^stat::number_of_executed_units: *//p' "$work/$t-smoke.log") inputs)"
    if [ "$rc" -ne 0 ]; then
        grep -E 'ERROR|runtime error|property does not hold|SUMMARY' "$work/$t-smoke.log" |
            head -n 10 | sed 's/^/#   /'
        diag "the input is in $work/crashes-$t/"
    fi
done
done_testing
