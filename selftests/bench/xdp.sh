#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench-xdp: ns per packet of the XDP balancer with BPF_PROG_TEST_RUN, against the trivial
# XDP_TX floor measured in the same run (selftests/bench/bench_xdp.c explains the method).
# Needs root. Environment: REPEATS (5, median reported), SINGLE_CALLS (200000), FLOWS (65536,
# the established-udp-many case), BENCH_CPU (0, the CPU it runs on), BENCH_DOCS=0 to leave
# docs/benchmarks.md alone.
# Output: `bench-xdp CASE ns_per_pkt=N ratio_to_floor=R` lines; method notes on stderr.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/page.sh"
BUILD=${BUILD:-$HERE/../../build}
BIN="$BUILD/bench/bench_xdp"
BENCH_DOCS=${BENCH_DOCS:-1}
REPEATS=${REPEATS:-5}
SINGLE_CALLS=${SINGLE_CALLS:-200000}
FLOWS=${FLOWS:-65536}
BENCH_CPU=${BENCH_CPU:-0}
export REPEATS SINGLE_CALLS FLOWS

if [ ! -x "$BIN" ]; then
	echo "bench-xdp skipped reason=not-built"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench-xdp skipped reason=needs-root"
	exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
echo "# bench-xdp on $(nproc) CPUs ($CPU), kernel $(uname -r)" >&2
# One CPU for the whole run: a test run executes on the caller's CPU, and a process that
# migrates finds the other CPU's caches cold (seen here as +100 ns on the 65,536-flow case).
taskset -c "$BENCH_CPU" "$BIN" >"$TMP/out" 2>"$TMP/notes" || { cat "$TMP/notes" >&2; exit 1; }
cat "$TMP/notes" >&2

# field CASE KEY: a value from the result lines.
field() {
	sed -n "s/^bench-xdp $1 .*$2=\([^ ]*\).*/\1/p" "$TMP/out"
}

# write_docs FILE: replaces this suite's section of FILE (between its markers).
write_docs() {
	local file=$1 section=$TMP/section.md
	{
		echo "<!-- bench-xdp:begin (written by selftests/bench/xdp.sh; edit the script) -->"
		echo "## XDP datapath: ns per packet (BPF_PROG_TEST_RUN)"
		echo
		echo "Produced by \`make bench-xdp\` (REPEATS=$REPEATS SINGLE_CALLS=$SINGLE_CALLS) on" \
			"$(date -u +%Y-%m-%d), $(nproc) CPUs ($CPU), kernel $(uname -r)."
		echo "Medians of $REPEATS interleaved runs on CPU $BENCH_CPU; the floor is the trivial"
		echo "XDP_TX program (selftests/bpf/progs/reflect.bpf.c) measured in the same run."
		echo "Services: a TCP and a UDP VIP, maglev over 10 backends each, ipip (l2 where named),"
		echo "default map sizes (1M-entry connection table; the UDP cases on a second balancer of"
		echo "their own). Batched cases run one buffer with repeat=2,000,000; cases whose packet"
		echo "grows (ipip) or needs a fresh 5-tuple per packet (new flows) run as repeat=1"
		echo "calls, corrected by the single-call overhead calibrated on the balancer"
		echo "itself (the l2 established case measured both ways in the same run). The UDP cases"
		echo "run batched through a wrapper program (selftests/bpf/progs/bench_lb.bpf.c: the"
		echo "balancer compiled in whole, giving each round the next 5-tuple and undoing the"
		echo "encapsulation), reported as wrapped - wrapper alone + floor. The difference"
		echo "between established-udp and established-udp-many is the price of reading another"
		echo "connection-table entry per packet (cache and TLB misses): what bench-l4 pays;"
		echo "[datapath.md](datapath.md#where-the-time-goes) breaks it down."
		echo
		echo "| case | ns/packet | x floor | what it is |"
		echo "| --- | ---: | ---: | --- |"
		echo "| floor-xdp-tx | $(field floor-xdp-tx ns_per_pkt) | 1.00 | swap MACs, XDP_TX |"
		echo "| non-vip | $(field non-vip ns_per_pkt) | $(field non-vip ratio_to_floor) |" \
			"TCP to an address with no service: XDP_PASS after one filter-bit read |"
		echo "| established | $(field established ns_per_pkt) |" \
			"$(field established ratio_to_floor) | ACK of a flow in the table, ipip |"
		echo "| established-l2 | $(field established-l2 ns_per_pkt) |" \
			"$(field established-l2 ratio_to_floor) | same flow, l2 (MAC rewrite), batched |"
		echo "| established-udp | $(field established-udp ns_per_pkt) |" \
			"$(field established-udp ratio_to_floor) | UDP datagram of an established flow, ipip," \
			"batched through the wrapper (one flow: its entry stays in cache) |"
		echo "| established-udp-many | $(field established-udp-many ns_per_pkt) |" \
			"$(field established-udp-many ratio_to_floor) | the same over" \
			"$(field established-udp-many flows) flows in turn, as bench-l4 sends them: every" \
			"packet reads another connection-table entry |"
		echo "| new-flow-syn | $(field new-flow-syn ns_per_pkt) |" \
			"$(field new-flow-syn ratio_to_floor) | SYN of a new 5-tuple: selection and" \
			"table insert (the SYN is the insert packet) |"
		echo "| new-flow-insert-skipped | $(field new-flow-insert-skipped ns_per_pkt) |" \
			"$(field new-flow-insert-skipped ratio_to_floor) | same, over the insert rate" \
			"limit: selected and forwarded, not inserted |"
		echo
		awk -v f="$(field floor-xdp-tx ns_per_pkt)" -v e="$(field established ratio_to_floor)" \
			-v n="$(field new-flow-syn ratio_to_floor)" -v v="$(field non-vip ratio_to_floor)" '
			function verdict(r, t) { return r <= t ? "met" : "missed" }
			BEGIN {
				printf "Targets (issue 3) were set where this floor costs about 5 ns:"
				printf " established <= 45 ns, new flow <= 250 ns, non-VIP <= 15 ns, i.e."
				printf " 9x, 50x and 3x the floor. Here the floor costs %s ns (a bare XDP_PASS" , f
				printf " costs nearly as much: the test-run loop itself), so the absolute"
				printf " numbers are not comparable and the ratios are: established %sx (%s)," , e, verdict(e, 9)
				printf " new flow %sx (%s), non-VIP %sx (%s). For scale, DESIGN.md gives" , n, verdict(n, 50), v, verdict(v, 3)
				printf " a production XDP balancer at 68 / 500 / 25 ns over a 5 ns floor"
				printf " (13.6x, 100x, 5x).\n"
			}'
		echo
		echo "Method notes from the run:"
		echo
		echo '```'
		cat "$TMP/notes"
		cat "$TMP/out"
		echo '```'
		echo "<!-- bench-xdp:end -->"
	} >"$section"
	[ -f "$file" ] || printf '# xdpgw benchmarks\n\nEach section is written by its suite (`make bench-SUITE`).\n' >"$file"
	page_put_section "$file" xdp "$section"
}

[ "$BENCH_DOCS" = 1 ] && write_docs "$HERE/../../docs/benchmarks.md"
cat "$TMP/out"
