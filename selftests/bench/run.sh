#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs the benchmark suites: selftests/bench/run.sh all|xdp|l4|l7. Each suite is
# selftests/bench/SUITE.sh; its last lines are machine-readable: `bench-SUITE CASE key=value ...`.
# A suite that does not exist yet prints `bench-SUITE skipped reason=...` instead.
# Each suite rewrites its own section of docs/benchmarks.md (unless BENCH_DOCS=0); then
# report.sh draws the charts (docs/img/bench-*.png) and writes the rest of the page.
# The whole invocation is bounded: BENCH_BUDGET seconds (840) shared by the suites in order; a
# suite still running when the budget is spent is stopped (its namespaces go with it) and the
# suites after it are skipped.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export BUILD=${BUILD:-$ROOT/build}
BENCH_DOCS=${BENCH_DOCS:-1}
BENCH_BUDGET=${BENCH_BUDGET:-840}
DEADLINE=$(($(date +%s) + BENCH_BUDGET))
WHAT=${1:-all}
TIMES=()

run_suite() {
	local suite=$1 script="$ROOT/selftests/bench/$1.sh" t0 rc
	if [ ! -f "$script" ]; then
		echo "bench-$suite skipped reason=not-implemented"
		return 0
	fi
	t0=$(date +%s)
	if [ "$t0" -ge "$DEADLINE" ]; then
		echo "bench-$suite skipped reason=time-budget-spent"
		return 1
	fi
	TIMES+=("load-$suite=$(cut -d' ' -f1 /proc/loadavg)")
	timeout --kill-after=20 $((DEADLINE - t0)) bash "$script"
	rc=$?
	[ $rc = 124 ] && echo "bench-$suite error reason=stopped-at-the-${BENCH_BUDGET}s-budget"
	TIMES+=("$suite=$(($(date +%s) - t0))")
	return $rc
}

report() {
	[ "$BENCH_DOCS" = 1 ] || return 0
	"$ROOT/selftests/bench/report.sh" "${TIMES[@]}" || echo "bench: report.sh failed" >&2
}

case "$WHAT" in
xdp | l4 | l7)
	run_suite "$WHAT"
	rc=$?
	report
	exit $rc
	;;
all)
	rc=0
	for s in xdp l4 l7; do
		run_suite "$s" || rc=1
	done
	report
	exit $rc
	;;
*) echo "usage: $0 all|xdp|l4|l7" >&2; exit 2 ;;
esac
