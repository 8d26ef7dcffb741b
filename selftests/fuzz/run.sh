#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs the libFuzzer targets ($BUILD/fuzzers/fuzz_*, `make fuzzers`).
#   selftests/fuzz/run.sh short [SECONDS] [TARGET]   make test: 3 s each on a scratch copy of
#                                                    the seed corpus, after the regressions
#   selftests/fuzz/run.sh long [SECONDS] [TARGET]    make fuzz: 60 s each; what the fuzzer
#                                                    finds new is kept in $BUILD/fuzz-corpus
# Seeds: selftests/fuzz/corpus/TARGET/. Regressions: selftests/fuzz/crashes/TARGET/* (inputs
# that once crashed; each must now run clean). A crash prints FAIL with the saved input, which
# then belongs in crashes/TARGET/ once fixed. Targets run in a private network namespace when
# possible: none of them may reach the network.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
MODE=${1:-short}
SECONDS_EACH=${2:-}
ONLY=${3:-}
case "$MODE" in
short) SECONDS_EACH=${SECONDS_EACH:-3} ;;
long) SECONDS_EACH=${SECONDS_EACH:-60} ;;
*) echo "usage: $0 short|long [SECONDS] [TARGET]" >&2; exit 2 ;;
esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/selftests/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
NETNS=()
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
	NETNS=(unshare -n)
fi
WORK=$(mktemp -d "$BUILD/fuzz-run.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
failed=0

run_target() {
	local bin=$1 name=${1##*/fuzz_} corpus art log runs rc crash
	corpus=$ROOT/selftests/fuzz/corpus/$name
	art=$BUILD/fuzz-artifacts/$name
	log=$WORK/$name.log
	mkdir -p "$art"
	# Regressions first: each input once.
	if compgen -G "$ROOT/selftests/fuzz/crashes/$name/*" >/dev/null; then
		if ! "${NETNS[@]}" "$bin" -runs=1 "$ROOT/selftests/fuzz/crashes/$name"/* >"$log" 2>&1; then
			echo "FAIL fuzz/$name: a regression input crashes again (log: $art/regress.log)"
			cp "$log" "$art/regress.log"
			tail -20 "$log" >&2
			return 1
		fi
	fi
	if [ "$MODE" = short ]; then
		mkdir -p "$WORK/corpus-$name"
		out=$WORK/corpus-$name
	else
		out=$BUILD/fuzz-corpus/$name
		mkdir -p "$out"
	fi
	"${NETNS[@]}" "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" "$out" "$corpus" \
		>"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ "$rc" -ne 0 ]; then
		crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		cp "$log" "$art/last.log"
		echo "FAIL fuzz/$name: exit $rc; input ${crash:-?}; log $art/last.log"
		grep -m1 -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error" "$log" >&2
		tail -30 "$log" >&2
		return 1
	fi
	echo "ok   fuzz/$name: ${runs:-?} inputs in ${SECONDS_EACH}s"
}

for bin in "$BUILD"/fuzzers/fuzz_*; do
	[ -x "$bin" ] || continue
	[ -n "$ONLY" ] && [ "${bin##*/fuzz_}" != "$ONLY" ] && continue
	run_target "$bin" || failed=1
done
exit $failed
