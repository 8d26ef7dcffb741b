#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs the test suites and prints one closing line: "N passed, N failed, N skipped".
#   selftests/run.sh all|unit|fuzz|e2e [NAME_FILTER]
# Each test program prints "ok|FAIL|skip SUITE/NAME..." lines; a program that exits non-zero
# without a FAIL line (a crash, a sanitizer report) counts as one failure.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
LOGS=$BUILD/test-logs
WHAT=${1:-all}
FILTER=${2:-}
PER_PROGRAM_TIMEOUT=${PER_PROGRAM_TIMEOUT:-300}
passed=0 failed=0 skipped=0
TIMES=() # "MILLISECONDS NAME" per program, for the slowest-programs summary

mkdir -p "$LOGS"
export BUILD ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/selftests/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
	local name=$1 out rc nfail
	shift
	local log="$LOGS/$name.log" t0 ms
	t0=$(date +%s%N)
	out=$(timeout --kill-after=10 "$PER_PROGRAM_TIMEOUT" "$@" 2>"$log")
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	TIMES+=("$ms $name")
	[ -n "$out" ] && printf '%s\n' "$out"
	passed=$((passed + $(printf '%s\n' "$out" | grep -c '^ok ')))
	nfail=$(printf '%s\n' "$out" | grep -c '^FAIL ')
	skipped=$((skipped + $(printf '%s\n' "$out" | grep -c '^skip ')))
	if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL $name: timed out after ${PER_PROGRAM_TIMEOUT}s"
		else
			echo "FAIL $name: exited with status $rc"
		fi
		nfail=1
	fi
	if [ "$nfail" -gt 0 ]; then
		echo "---- stderr of $name (last 30 lines; full log: $log)"
		tail -30 "$log"
		echo "----"
	fi
	failed=$((failed + nfail))
}

matches() { [ -z "$FILTER" ] || [[ "$1" == *"$FILTER"* ]]; }

run_unit() {
	local t
	for t in "$BUILD"/asan/tests/test_*; do
		[ -x "$t" ] || continue
		matches "$(basename "$t")" || continue
		run_one "$(basename "$t")" "$t"
	done
}

# libFuzzer targets ($BUILD/fuzzers, `make fuzzers`): regressions, then a few seconds each.
run_fuzz() {
	local t
	for t in "$BUILD"/fuzzers/fuzz_*; do
		[ -x "$t" ] || continue
		matches "$(basename "$t")" || continue
		run_one "$(basename "$t")" "$ROOT/selftests/fuzz/run.sh" short "${FUZZ_SECONDS:-3}" \
			"${t##*/fuzz_}"
	done
}

run_e2e() {
	local t
	"$ROOT/selftests/lib/netns.sh" clean >/dev/null 2>&1
	for t in "$ROOT"/selftests/e2e/*.sh; do
		matches "$(basename "$t")" || continue
		run_one "e2e-$(basename "$t" .sh)" bash "$t"
	done
}

start=$(date +%s)
case "$WHAT" in
unit) run_unit ;;
fuzz) run_fuzz ;;
e2e) run_e2e ;;
all) run_unit; run_fuzz; run_e2e ;;
*) echo "usage: $0 all|unit|fuzz|e2e [FILTER]" >&2; exit 2 ;;
esac

echo "# $WHAT suites took $(($(date +%s) - start))s; logs in $LOGS"
if [ "${#TIMES[@]}" -gt 1 ]; then
	printf '%s\n' "${TIMES[@]}" | sort -rn |
		awk '{ printf "%6.1f  %s\n", $1 / 1000, $2 }' >"$LOGS/durations.txt"
	echo "# slowest programs (seconds; all in $LOGS/durations.txt):"
	head -"${SLOWEST:-10}" "$LOGS/durations.txt" | sed 's/^/#   /'
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
