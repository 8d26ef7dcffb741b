#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench-xdp: ns per packet of the XDP balancer with BPF_PROG_TEST_RUN, against the trivial
# XDP_TX floor measured in the same run (see selftests/bench/bench_xdp.c for the method).
# Needs root. Environment: REPEATS (5, median reported), SINGLE_CALLS (200000).
# Output: `bench-xdp CASE ns_per_pkt=N ratio_to_floor=R` lines; method notes on stderr.
set -u
BUILD=${BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
BIN="$BUILD/bench/bench_xdp"

if [ ! -x "$BIN" ]; then
	echo "bench-xdp skipped reason=not-built (make benches)"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench-xdp skipped reason=needs-root"
	exit 0
fi
echo "# bench-xdp on $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), kernel $(uname -r)" >&2
exec "$BIN"
