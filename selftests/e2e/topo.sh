#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Proves the topology helper: every layout builds, its nodes reach each other over IPv4 and
# IPv6, native XDP_TX frames cross the bridge, and teardown leaves nothing behind, also after
# SIGTERM and after kill -9 of the building shell (then `netns.sh clean`).
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/topo.sh"
t_init topo
need_root layouts
LIB=$T_ROOT/selftests/lib
[ -f "$BUILD/bpf/pass.bpf.o" ] && [ -f "$BUILD/bpf/reflect.bpf.o" ] ||
	{ t_skip layouts "BPF objects missing: run make"; exit 0; }

root_links() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }
links_before=$(root_links)

# reach NODE ADDR: one ping answered within a second.
reach() {
	local fam=-4
	[[ "$2" == *:* ]] && fam=-6
	topo_exec "$1" ping "$fam" -c 1 -W 1 -q "$2" >/dev/null
}

# check_segment_reach LAYOUT SEGMENT: the segment's first node reaches every other one.
check_segment_reach() {
	local layout=$1 seg=$2 first="" n fam bad=""
	for n in $(topo_nodes); do
		topo_addr "$n" 4 "$seg" >/dev/null 2>&1 || continue
		if [ -z "$first" ]; then
			first=$n
			continue
		fi
		for fam in 4 6; do
			reach "$first" "$(topo_addr "$n" "$fam" "$seg")" || bad="$bad $first->$n/v$fam"
		done
	done
	check_eq "${layout}_${seg}_reach_ipv4_ipv6" "${bad:-none}" none
}

# route_of NODE ADDR: "local" or the next hop the node uses for ADDR.
route_of() {
	topo_exec "$1" ip route get "$2" | awk '
		$1 == "local" { print "local"; exit }
		{ for (i = 1; i < NF; i++) if ($i == "via") { print $(i + 1); exit } print "direct" }'
}

# ---- bad input: a clear error, nothing built ----
out=$(topo_create bogus 2>&1)
check_eq bad_layout_refused "$?:$out" "1:topo: unknown layout 'bogus' (l4, layered, ecmp, chain)"
out=$(topo_create l4 backends=0 2>&1)
check_eq bad_option_refused "$?:$out" "1:topo: backends=0: want a number from 1 to 64"
check_eq bad_input_builds_nothing "$(ip netns list | grep -c "^xg-$$-")" 0

# ---- l4: one segment, native XDP_TX from the L4 node reaches the bridge ----
if topo_create l4; then
	t_ok l4_builds
	check_segment_reach l4 front
	check_eq l4_client_routes_vip_via_lb1 "$(route_of client1 198.18.100.7)" 198.18.0.2
	check_eq l4_backend_owns_vip_range "$(route_of be2 198.18.100.7)" local
	check l4_backend_owns_vip6 sh -c "ip -n $(topo_ns be1) -6 route get 2001:2:0:100::9 |
		grep -q '^local'"
	check_eq l4_deterministic_mac "$(topo_mac be1)" 02:00:c6:12:00:1e
	check l4_full_checksums sh -c "ip netns exec $(topo_ns client1) ethtool -k eth0 |
		grep -q '^tx-checksumming: off'"
	check l4_static_fdb sh -c "bridge -n $(topo_ns sw) fdb show br br-front static |
		grep -q '^02:00:c6:12:00:1e dev $(topo_peer be1) master br-front static'"
	out=$(topo_addr be1 4 back 2>&1)
	check_eq l4_unknown_segment_refused "$out" "topo: node 'be1' is not on segment 'back'"
	topo_env
	check_eq l4_env_exports "$TOPO_BACKENDS|$TOPO_BE2_IP6|$TOPO_LB1_NS" \
		"be1 be2|2001:2::31|$(topo_ns lb1)"

	# lb1 reflects every frame with XDP_TX in native mode; its peer must take them.
	topo_exec client1 ip neigh replace 198.18.0.2 lladdr "$(topo_mac lb1)" dev eth0
	topo_exec lb1 ip link set dev eth0 xdpdrv obj "$BUILD/bpf/reflect.bpf.o" sec xdp
	xdp_stat() { topo_exec lb1 ethtool -S eth0 | awk -v k="rx_queue_0_$1:" '$1 == k {print $2}'; }
	topo_exec client1 ping -c 5 -i 0.01 -W 0.2 -q 198.18.0.2 >/dev/null
	tx=$(xdp_stat xdp_tx) err=$(xdp_stat xdp_tx_errors)
	check l4_native_xdp_tx_accepted_by_peer test "${tx:-0}" -ge 5 -a "${err:-1}" -eq 0
	# Without a program on the peer the frames are lost: the check above can fail.
	topo_peer_xdp lb1 none
	topo_exec client1 ping -c 5 -i 0.01 -W 0.2 -q 198.18.0.2 >/dev/null
	check l4_native_xdp_tx_lost_without_peer_prog test "$(xdp_stat xdp_tx_errors)" -ge $((err + 5))
	# Pins in the run's bpffs go away with the topology.
	bpffs=$(topo_bpffs lb1)
	map_id=$(bpftool -j map create "$bpffs/probe" type array key 4 value 4 entries 1 \
		name xg_topo_probe >/dev/null && bpftool -j map show pinned "$bpffs/probe" |
		sed -E 's/^\{"id":([0-9]+).*/\1/')
	check l4_bpffs_pin_visible_in_node topo_exec lb1 test -e "$bpffs/probe"
	topo_destroy
	check_eq l4_teardown_namespaces "$(ip netns list | grep -c "^xg-$$-")" 0
	check_eq l4_teardown_bpffs "$(grep -c "xg-$$-" /proc/mounts)/$(ls -d /tmp/xg-$$-* 2>/dev/null)" 0/
	if [[ "$map_id" =~ ^[0-9]+$ ]]; then
		check l4_teardown_unpins_maps wait_until 5 sh -c "! bpftool map show id $map_id"
	else
		t_fail l4_teardown_unpins_maps "could not pin a probe map: '$map_id'"
	fi
else
	t_fail l4_builds
fi

# ---- layered: front and back segments, gateways own the VIPs ----
if topo_create layered; then
	t_ok layered_builds
	check_segment_reach layered front
	check_segment_reach layered back
	check_eq layered_gateway_owns_vip "$(route_of gw2 "$TOPO_VIP4")" local
	check_eq layered_client_routes_vip_via_lb1 "$(route_of client1 "$TOPO_VIP4")" 198.18.0.2
	check_eq layered_nodes "$(echo $(topo_nodes gateway) $(topo_nodes service))" \
		"gw1 gw2 svc1 svc2 svc3 svc4"
	topo_destroy
else
	t_fail layered_builds
fi

# ---- ecmp: a router spreads flows to the VIP over two L4 nodes ----
# next_hops SPORTS...: the distinct next hops the router picks for UDP flows to the VIP.
next_hops() {
	local sport
	for sport in "$@"; do
		topo_exec router ip route get "$TOPO_VIP4" from 198.18.1.10 iif eth0 ipproto udp \
			sport "$sport" dport 53 | grep -o 'via [0-9.]*'
	done | sort -u | tr '\n' ' '
}
if topo_create ecmp clients=2; then
	t_ok ecmp_builds
	check_segment_reach ecmp edge
	check_segment_reach ecmp front
	bad=""
	for n in lb1 lb2 be1; do
		for fam in 4 6; do
			reach client2 "$(topo_addr "$n" "$fam")" || bad="$bad client2->$n/v$fam"
		done
	done
	check_eq ecmp_client_reaches_front_through_router "${bad:-none}" none
	check_eq ecmp_flows_spread_over_both_lbs "$(next_hops $(seq 1000 1031))" \
		"via 198.18.0.2 via 198.18.0.3 "
	check_eq ecmp_ipv6_multipath "$(topo_exec router ip -6 route show "$TOPO_VIP6_NET" |
		grep -c 'nexthop via')" 2
	topo_ecmp lb2
	check_eq ecmp_scale_in_to_lb2 "$(next_hops $(seq 1000 1031))" "via 198.18.0.3 "
	out=$(topo_ecmp be1 2>&1)
	check_eq ecmp_non_lb_refused "$out" "topo: 'be1' is not an L4 node"
	topo_destroy
else
	t_fail ecmp_builds
fi

# ---- chain: generator -> balancer -> sink, routed through lb1 ----
if topo_create chain; then
	t_ok chain_builds
	bad=""
	for fam in 4 6; do
		reach client1 "$(topo_addr be1 "$fam")" || bad="$bad client1->be1/v$fam"
		reach be1 "$(topo_addr client1 "$fam")" || bad="$bad be1->client1/v$fam"
	done
	check_eq chain_client_reaches_sink_through_lb1 "${bad:-none}" none
	check_eq chain_sink_owns_vip "$(route_of be1 "$TOPO_VIP4")" local
	check_eq chain_lb1_two_legs "$(topo_addr lb1 4 front) $(topo_addr lb1 4 back)" \
		"198.18.0.2 198.18.2.2"
	out=$(topo_peer_xdp lb1 gro 2>&1)
	check_eq chain_peer_xdp_refused "$out" \
		"topo: the chain layout has no bridge-side peers: attach to the far end"
	topo_destroy
else
	t_fail chain_builds
fi

new_links=$(comm -13 <(echo "$links_before") <(root_links) | grep -E '^(br-|[feb]-|eth[01]$)')
check_eq teardown_leaves_no_root_links "${new_links:-none}" none

# ---- a run that dies: SIGTERM cleans up by itself, kill -9 needs netns.sh clean ----
tmp=$(tmp_dir)
# start_run TAG: a shell that builds the l4 layout, pins a map, starts a process in be1, then
# idles; sets RUN_PID once it is ready (the shell is ours: the exit trap ends it).
start_run() {
	local dir=$tmp/$1
	RUN_PID=""
	mkdir -p "$dir"
	bash -c '
		. "$1/test.sh"; . "$1/netns.sh"; . "$1/topo.sh"
		topo_create l4 || exit 1
		bpftool map create "$(topo_bpffs lb1)/probe" type array key 4 value 4 entries 1 \
			name xg_topo_crash || exit 1
		bg_start be1 /dev/null sleep 60
		echo "$BG_PID" >"$2/bg"
		echo "$$" >"$2/pid.tmp" && mv "$2/pid.tmp" "$2/pid"
		while :; do sleep 0.1; done' run "$LIB" "$dir" >"$dir/log" 2>&1 &
	XG_PIDS+=("$!")
	disown	# killing it is the point: no job notices for it
	wait_until 30 test -s "$dir/pid" || return 1
	RUN_PID=$(cat "$dir/pid")
}

gone() {
	[ -z "$(ip netns list | grep "^xg-$1-")" ] && ! ls -d /tmp/xg-"$1"-* >/dev/null 2>&1 &&
		! kill -0 "$2" 2>/dev/null && ! bpftool map list | grep -q xg_topo_crash
}

if start_run term; then
	pid=$RUN_PID bg=$(cat "$tmp/term/bg")
	kill -TERM "$pid"
	check sigterm_cleans_up_by_itself wait_until 30 gone "$pid" "$bg"
else
	t_fail sigterm_cleans_up_by_itself "the run did not start: $(tail -3 "$tmp/term/log")"
fi

if start_run crash; then
	pid=$RUN_PID bg=$(cat "$tmp/crash/bg")
	kill -KILL "$pid"
	wait_until 5 sh -c "! kill -0 $pid"
	left=$("$LIB/netns.sh" list "$pid")
	check_eq crash_leaves_leftovers "$(echo "$left" | grep -c "xg-$pid-")" 6
	"$LIB/netns.sh" clean "$pid" >/dev/null
	check crash_clean_removes_everything wait_until 30 gone "$pid" "$bg"
	check_eq crash_clean_then_nothing_listed "$("$LIB/netns.sh" list "$pid")" ""
else
	t_fail crash_clean_removes_everything "the run did not start: $(tail -3 "$tmp/crash/log")"
fi
# Whatever happened above, the runs this test started leave nothing behind.
for d in "$tmp"/term "$tmp"/crash; do
	[ -s "$d/pid" ] || continue
	kill -KILL "$(cat "$d/pid")" 2>/dev/null
	"$LIB/netns.sh" clean "$(cat "$d/pid")" >/dev/null
done
t_done
