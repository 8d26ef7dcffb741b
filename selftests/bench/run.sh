#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs the benchmark suites: selftests/bench/run.sh all|xdp|l4|l7. Each suite is
# selftests/bench/SUITE.sh; its last lines are machine-readable: `bench-SUITE CASE key=value ...`.
# A suite that does not exist yet prints `bench-SUITE skipped reason=...` instead.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export BUILD=${BUILD:-$ROOT/build}
WHAT=${1:-all}

run_suite() {
	local suite=$1 script="$ROOT/selftests/bench/$1.sh"
	if [ ! -f "$script" ]; then
		echo "bench-$suite skipped reason=not-implemented"
		return 0
	fi
	bash "$script"
}

case "$WHAT" in
xdp | l4 | l7) run_suite "$WHAT" ;;
all)
	rc=0
	for s in xdp l4 l7; do
		run_suite "$s" || rc=1
	done
	exit $rc
	;;
*) echo "usage: $0 all|xdp|l4|l7" >&2; exit 2 ;;
esac
