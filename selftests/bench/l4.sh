#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench-l4: packets per second and new TCP connections per second through the balancer
# namespace, xdpgw against nftables DNAT, plus the control plane's costs.
#
# Topology: topo.sh's chain layout, client1 (generator) -> lb1 (balancer) -> be1 (sink).
#   ceiling   XDP_DROP (counting) on lb1's ingress: the generator's own cost per packet
#   nftables  lb1 forwards with nftables DNAT (numgen over 4 backends) and conntrack
#   xdpgw     lb1 runs the xdpgw XDP balancer (ipip to the 4 backends, redirected to eth1)
# In the forwarding cases be1's eth0 counts and drops every frame with XDP.
# Traffic: trafgen, 60-byte UDP frames over FLOWS flows (source ports), -n PACKETS, one
# process pinned to CPU BENCH_CPU, through a pfifo qdisc on the generator's veth for lossless
# back-pressure (see docs/development.md and the DESIGN notes). On a veth the generator and
# the balancer share that CPU, so besides packets per second the suite reports the balancer's
# marginal cost per packet: 1/pps(case) - 1/pps(ceiling). A warm-up pass of FLOWS packets
# per case creates the flows first, so the measured packets belong to established flows.
# Each case runs REPEATS times, interleaved; the median is reported.
#
# Connections: connrate (selftests/tools/connrate.c) opens CONNS connections (at most
# CONN_SECONDS seconds) to the VIP, each a handshake, one request and reply, and a close;
# the server runs in be1, behind nftables DNAT or behind xdpgw (decap program on be1).
#
# Environment: REPEATS (3), PACKETS (1000000), FLOWS (65536), CONNS (20000),
# CONN_SECONDS (5), BENCH_CPU (0), BENCH_DOCS=0 to leave docs/benchmarks.md alone.
# Output: human-readable progress, then `bench-l4 CASE key=value ...` lines.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/test.sh"
. "$HERE/../lib/netns.sh"
. "$HERE/../lib/topo.sh"

REPEATS=${REPEATS:-3}
PACKETS=${PACKETS:-1000000}
FLOWS=${FLOWS:-65536}
CONNS=${CONNS:-20000}
CONN_SECONDS=${CONN_SECONDS:-5}
BENCH_CPU=${BENCH_CPU:-0}
BENCH_DOCS=${BENCH_DOCS:-1}
SINK_OBJ=$BUILD/bpf/bench_sink.bpf.o
CONNRATE=$BUILD/tools/connrate
BACKENDS=(198.18.2.30 198.18.2.31 198.18.2.32 198.18.2.33)
RESULTS=()	# the machine-readable lines, printed last

say() { echo "# $*"; }
result() { RESULTS+=("bench-l4 $*"); }
die() {
	echo "bench-l4: $*" >&2
	echo "bench-l4 error reason=$(echo "$*" | tr ' ' '-')"
	exit 1
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# marginal_ns PPS CEILING_PPS
marginal_ns() { awk -v p="$1" -v c="$2" 'BEGIN {printf "%.0f", 1e9 / p - 1e9 / c}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "nan"; else printf "%.2f", a / b}'; }

# field CASE KEY: a value from the result lines.
field() {
	printf '%s\n' "${RESULTS[@]}" | awk -v c="$1" -v k="$2" '$2 == c {
		for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }'
}

# write_docs FILE: replaces this suite's section of FILE (between its markers) with the results.
write_docs() {
	local file=$1 section=$TMP/section.md
	{
		echo "<!-- bench-l4:begin (written by selftests/bench/l4.sh; edit the script) -->"
		echo "## L4: packets and connections through the balancer namespace"
		echo
		echo "Produced by \`make bench-l4\` (REPEATS=$REPEATS PACKETS=$PACKETS FLOWS=$FLOWS" \
			"CONNS=$CONNS) on $(date -u +%Y-%m-%d), $(nproc) CPUs" \
			"($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)."
		echo "Medians of $REPEATS interleaved runs. Topology: generator -> balancer -> sink"
		echo "namespaces (\`topo_create chain\`); 60-byte UDP over $FLOWS established flows from"
		echo "trafgen pinned to one CPU, which the balancer's processing shares: the marginal cost"
		echo "\`1/pps(case) - 1/pps(ceiling)\` is the balancer's own time per packet."
		echo
		echo "| case | packets/s | marginal ns/packet | vs nftables |"
		echo "| --- | ---: | ---: | --- |"
		echo "| ceiling: XDP_DROP at the balancer's ingress | $(field ceiling pps) | 0 | |"
		echo "| nftables DNAT (numgen, conntrack) | $(field nftables pps) |" \
			"$(field nftables marginal_ns) | 1.00 |"
		if [ -n "$(field xdpgw pps)" ]; then
			echo "| xdpgw (ipip, XDP redirect) | $(field xdpgw pps) |" \
				"$(field xdpgw marginal_ns) | packets/s x$(field xdpgw pps_vs_nftables)," \
				"marginal x$(field xdpgw marginal_vs_nftables) |"
		else
			echo "| xdpgw | not measured: $(field xdpgw reason | tr '-' ' ') | | |"
		fi
		echo
		echo "| case | new TCP connections/s | vs nftables |"
		echo "| --- | ---: | --- |"
		echo "| nftables DNAT | $(field conn-nftables cps) | 1.00 |"
		if [ -n "$(field conn-xdpgw cps)" ]; then
			echo "| xdpgw | $(field conn-xdpgw cps) | x$(field conn-xdpgw cps_vs_nftables) |"
		else
			echo "| xdpgw | not measured | |"
		fi
		echo
		if [ -n "$(field xdpgw pps)" ]; then
			echo "Targets (issue 10): packets/s at least 1.6x nftables':" \
				"$(field xdpgw target_pps_1.6x) (x$(field xdpgw pps_vs_nftables));" \
				"marginal cost at most one third of nftables':" \
				"$(field xdpgw target_marginal_third) (x$(field xdpgw marginal_vs_nftables))."
			echo
		fi
		echo "Raw result lines:"
		echo
		echo '```'
		printf '%s\n' "${RESULTS[@]}"
		echo '```'
		echo "<!-- bench-l4:end -->"
	} >"$section"
	[ -f "$file" ] || printf '# xdpgw benchmarks\n\nEach section is written by its suite (`make bench-SUITE`).\n' >"$file"
	awk -v sec="$section" '
		/^<!-- bench-l4:begin/ { while ((getline l < sec) > 0) print l; skip = 1; done = 1; next }
		/^<!-- bench-l4:end -->/ { skip = 0; next }
		!skip { print }
		END { if (!done) { print ""; while ((getline l < sec) > 0) print l } }' "$file" \
		>"$file.tmp" && mv "$file.tmp" "$file"
}

[ "$(id -u)" = 0 ] || die "needs root (namespaces, XDP)"
for f in "$SINK_OBJ" "$CONNRATE"; do
	[ -e "$f" ] || die "$f is missing: run make"
done
for t in trafgen nft bpftool jq taskset; do
	command -v "$t" >/dev/null || die "$t is missing: run make deps"
done
[ "$REPEATS" -ge 1 ] && [ "$PACKETS" -ge "$FLOWS" ] || die "want REPEATS >= 1, PACKETS >= FLOWS"

# ---- topology and fixed configuration ----
topo_create chain || die "could not build the topology"
topo_env
TMP=$(tmp_dir)
BPFFS=$(bpffs_dir bench)
for a in "${BACKENDS[@]:1}"; do
	topo_exec be1 ip addr add "$a/24" dev eth0
done
# The sink drops ARP too: lb1 gets static neighbours for the backends (as for the client).
for a in "${BACKENDS[@]}"; do
	topo_exec lb1 ip neigh replace "$a" lladdr "$TOPO_BE1_MAC" dev eth1 nud permanent
done
topo_exec lb1 ip neigh replace "$TOPO_CLIENT1_IP4" lladdr "$TOPO_CLIENT1_MAC" dev eth0 \
	nud permanent
topo_exec client1 ip neigh replace "$TOPO_LB1_IP4" lladdr "$TOPO_LB1_MAC" dev eth0 nud permanent
topo_exec client1 tc qdisc replace dev eth0 root pfifo limit 10000
topo_exec client1 sysctl -qw net.ipv4.ip_local_port_range="1024 65535"

backend_map=$(for i in "${!BACKENDS[@]}"; do printf '%d : %s, ' "$i" "${BACKENDS[$i]}"; done)
NFT_RULES="table ip xgbench {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr $TOPO_VIP4 udp dport 80 dnat to numgen inc mod ${#BACKENDS[@]} map { ${backend_map%, } }
		ip daddr $TOPO_VIP4 tcp dport 80 dnat to numgen inc mod ${#BACKENDS[@]} map { ${backend_map%, } }
	}
}"
topo_exec lb1 nft -f - <<<"$NFT_RULES" || die "nftables rules refused"
# Flows must outlive the whole run, or the measured packets would create them again.
topo_exec lb1 sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600 \
	net.netfilter.nf_conntrack_udp_timeout_stream=600 || die "conntrack sysctls"

# load_sink NAME NODE: loads bench_sink.bpf.o (its own maps) and attaches xdp_sink natively to
# the node's eth0.
load_sink() {
	bpftool prog loadall "$SINK_OBJ" "$BPFFS/$1" pinmaps "$BPFFS/$1-maps" type xdp ||
		die "loading $SINK_OBJ failed"
	topo_exec "$2" bpftool net attach xdpdrv pinned "$BPFFS/$1/xdp_sink" dev eth0 ||
		die "attaching the sink to $2 failed"
}
# sink_packets NAME: frames counted so far.
sink_packets() {
	bpftool map dump pinned "$BPFFS/$1-maps/sink_count" -j |
		jq '[.[] | select(.formatted.key == 0) | .formatted.values[].value] | add'
}

sink_reached() { [ "$(sink_packets "$1")" -ge "$2" ]; }

TRAFGEN_CFG=$TMP/udp.cfg
cat >"$TRAFGEN_CFG" <<EOF
{
	eth(da=$TOPO_LB1_MAC, sa=$TOPO_CLIENT1_MAC),
	ipv4(saddr=$TOPO_CLIENT1_IP4, daddr=$TOPO_VIP4, ttl=64),
	udp(sport=dinc(0, $((FLOWS - 1))), dport=80, csum=0),
	fill(0x00, 18)
}
EOF

# trafgen_run COUNT: sends COUNT frames; prints trafgen's own send time in microseconds.
trafgen_run() {
	local log=$TMP/trafgen.log
	topo_exec client1 taskset -c "$BENCH_CPU" trafgen -o eth0 -i "$TRAFGEN_CFG" -n "$1" -P 1 \
		-q -Q --no-sock-mem >"$log" 2>&1 || die "trafgen failed: $(tail -2 "$log")"
	tr -d '\r' <"$log" | awk '/usec on CPU/ {print $1 * 1000000 + $3}'
}

# ---- cases: CASE_on / CASE_off switch lb1 between them ----
CASES=(ceiling nftables)
declare -A COUNTER=([ceiling]=ceiling [nftables]=sink [xdpgw]=sink)

ceiling_on() {
	topo_exec lb1 bpftool net attach xdpdrv pinned "$BPFFS/ceiling/xdp_sink" dev eth0
}
ceiling_off() { topo_exec lb1 ip link set dev eth0 xdp off; }
nftables_on() { :; }	# the rules stay loaded; with no XDP program on lb1 they see the traffic
nftables_off() { :; }

# xdpgw_setup sets XDPGW_SKIP and fails when xdpgw cannot run here.
XDPGW_SKIP="the xdpgw datapath is not on main yet"
if [ -f "$HERE/l4_xdpgw.sh" ]; then
	# shellcheck source=selftests/bench/l4_xdpgw.sh
	. "$HERE/l4_xdpgw.sh"	# xdpgw_setup, xdpgw_on/off, xdpgw_conn_on/off, cp_bench
	xdpgw_setup && CASES+=(xdpgw)
fi

load_sink ceiling lb1
ceiling_off
load_sink sink be1

declare -A PPS=()
say "bench-l4: $PACKETS packets x $REPEATS repeats per case, $FLOWS flows, CPU $BENCH_CPU"
for c in "${CASES[@]}"; do
	"${c}_on"
	trafgen_run "$FLOWS" >/dev/null
	"${c}_off"
done
for r in $(seq 1 "$REPEATS"); do
	for c in "${CASES[@]}"; do
		"${c}_on"
		before=$(sink_packets "${COUNTER[$c]}")
		us=$(trafgen_run "$PACKETS")
		# Lossless back-pressure: every frame sent reaches the counter (bounded wait).
		wait_until 5 sink_reached "${COUNTER[$c]}" $((before + PACKETS))
		got=$(($(sink_packets "${COUNTER[$c]}") - before))
		"${c}_off"
		pps=$(awk -v n="$PACKETS" -v us="$us" 'BEGIN {printf "%.0f", n * 1e6 / us}')
		say "run $r $c: pps=$pps delivered=$got/$PACKETS"
		[ "$got" -ge "$PACKETS" ] || say "  $c lost $((PACKETS - got)) frames"
		PPS[$c]="${PPS[$c]:-} $pps"
	done
done

# shellcheck disable=SC2086
ceil=$(median ${PPS[ceiling]})
result "ceiling pps=$ceil runs=$(echo ${PPS[ceiling]} | tr ' ' ,)"
# shellcheck disable=SC2086
nft=$(median ${PPS[nftables]})
nft_ns=$(marginal_ns "$nft" "$ceil")
result "nftables pps=$nft marginal_ns=$nft_ns runs=$(echo ${PPS[nftables]} | tr ' ' ,)"
if [ -n "${PPS[xdpgw]:-}" ]; then
	# shellcheck disable=SC2086
	xg=$(median ${PPS[xdpgw]})
	xg_ns=$(marginal_ns "$xg" "$ceil")
	pps_x=$(ratio "$xg" "$nft")
	ns_x=$(ratio "$xg_ns" "$nft_ns")
	t_pps=$(awk -v r="$pps_x" 'BEGIN {print (r >= 1.6) ? "met" : "missed"}')
	t_ns=$(awk -v r="$ns_x" 'BEGIN {print (r <= 1 / 3) ? "met" : "missed"}')
	result "xdpgw pps=$xg marginal_ns=$xg_ns pps_vs_nftables=$pps_x" \
		"marginal_vs_nftables=$ns_x target_pps_1.6x=$t_pps target_marginal_third=$t_ns" \
		"runs=$(echo ${PPS[xdpgw]} | tr ' ' ,)"
else
	result "xdpgw skipped reason=$(echo "${XDPGW_SKIP:-unavailable}" | head -1 | tr ' ' '-')"
fi

# ---- new TCP connections per second ----
topo_exec lb1 ip link set dev eth0 xdp off
topo_exec be1 ip link set dev eth0 xdp off
bg_start be1 "$TMP/server.log" taskset -c $((1 - BENCH_CPU)) "$CONNRATE" serve -p 80 \
	-t $((REPEATS * 2 * (CONN_SECONDS + 2) + 30))
wait_listen be1 80 || die "the TCP sink did not listen"
CONN_CASES=(nftables)
[ -n "${PPS[xdpgw]:-}" ] && CONN_CASES+=(xdpgw)
declare -A CPS=()
for r in $(seq 1 "$REPEATS"); do
	for c in "${CONN_CASES[@]}"; do
		[ "$c" = nftables ] || xdpgw_conn_on
		line=$(topo_exec client1 taskset -c "$BENCH_CPU" "$CONNRATE" connect "$TOPO_VIP4" 80 \
			-n "$CONNS" -c 32 -t "$CONN_SECONDS" 2>>"$TMP/connrate.err")
		[ "$c" = nftables ] || xdpgw_conn_off
		say "run $r conn-$c: $line"
		cps=$(echo "$line" | sed -n 's/.*cps=\([0-9]*\).*/\1/p')
		case "$line" in *"errors=0 timeouts=0"*) ;; *) say "  conn-$c had failures" ;; esac
		CPS[$c]="${CPS[$c]:-} ${cps:-0}"
	done
done
# shellcheck disable=SC2086
nft_cps=$(median ${CPS[nftables]})
result "conn-nftables cps=$nft_cps runs=$(echo ${CPS[nftables]} | tr ' ' ,)"
if [ -n "${CPS[xdpgw]:-}" ]; then
	# shellcheck disable=SC2086
	xg_cps=$(median ${CPS[xdpgw]})
	result "conn-xdpgw cps=$xg_cps cps_vs_nftables=$(ratio "$xg_cps" "$nft_cps")" \
		"runs=$(echo ${CPS[xdpgw]} | tr ' ' ,)"
else
	result "conn-xdpgw skipped reason=$(echo "${XDPGW_SKIP:-unavailable}" | head -1 | tr ' ' '-')"
fi

# ---- control plane ----
if [ -n "${PPS[xdpgw]:-}" ] && declare -F cp_bench >/dev/null; then
	cp_bench
else
	result "control-plane skipped reason=needs-gwctl-and-the-xdpgw-datapath"
fi

[ "$BENCH_DOCS" = 1 ] && write_docs "$HERE/../../docs/benchmarks.md"
printf '%s\n' "${RESULTS[@]}"
