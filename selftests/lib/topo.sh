# SPDX-License-Identifier: GPL-2.0
# Named test and demo topologies out of network namespaces, veth pairs and bridges, built on
# netns.sh: every namespace is xg-<pid>-NODE and is removed on exit (also on failure, SIGINT,
# SIGTERM); `selftests/lib/netns.sh list|clean [PID]` finds and removes what a killed run left.
#
# Usage (after sourcing test.sh, netns.sh and this file):
#   topo_create LAYOUT [clients=N] [lbs=N] [backends=N] [gateways=N] [services=N]
#               [peer_xdp=pass|gro|none]
#   topo_exec lb1 ip -br addr              # run a command in a node
#   bg_start be1 "$log" some-server        # background process in a node (netns.sh)
#   topo_addr be1 [4|6] [SEGMENT]          # a node's address (first segment by default)
#   topo_env                               # exports TOPO_* variables (see below)
#
# Layouts (all nodes of a segment hang off one bridge in the switch namespace "sw"):
#   l4       client1 --+                   one L2 segment "front": clients, L4 nodes and
#            lb1 ------+-- br-front         backends. Clients route the VIP ranges via lb1;
#            be1, be2 -+                   backends own the VIP ranges (DSR) and reply
#                                          straight to the client. For the balancer's ipip and
#                                          l2 modes, IPv4 and IPv6.
#   layered  client1, lb1, gw1, gw2 on "front"; gw1, gw2, svc1..svc4 on "back".
#            Gateways own the VIP ranges (the decap program is the test's to attach);
#            services listen on their "back" addresses.
#   ecmp     client1 -- br-edge -- router -- br-front -- lb1, lb2, be1, be2
#            The router has one multipath route per VIP range via every L4 node, hashed on
#            the L4 5-tuple (fib_multipath_hash_policy=1); front nodes route via the router.
#            topo_ecmp lb2 changes the route to use lb2 only (scale-in, failover).
#   chain    client1 --front-- lb1 --back-- be1, point-to-point veths, no bridge (benchmarks:
#            generator -> balancer -> sink). lb1 forwards (ip_forward); client1 and be1 route
#            everything via lb1; be1 owns the VIP ranges. The far ends are node interfaces,
#            so peer_xdp does not apply: attach what the test needs to be1's eth0 (any XDP
#            program there accepts frames lb1 redirects to its eth1).
#
# Defaults: clients=1, lbs=1 (ecmp: 2), backends=2, gateways=2, services=4.
# Nodes are named client1.., lb1.., be1.., gw1.., svc1.., router. Each node's interface on its
# first segment is eth0, on its second eth1 (router: eth0 on edge, eth1 on front).
#
# Addresses (inside the namespaces only; nothing in the root namespace routes to them):
#   segment  IPv4            IPv6               host numbers
#   front    198.18.0.0/24   2001:2::/64        router 1, lbN 1+N, clientN 9+N, gwN 19+N,
#                                               beN 29+N
#   edge     198.18.1.0/24   2001:2:0:1::/64    router 1, clientN 9+N
#   back     198.18.2.0/24   2001:2:0:2::/64    gwN 19+N, svcN 39+N (chain: lb1 2, be1 30)
#   VIPs     198.18.100.0/24 2001:2:0:100::/64  TOPO_VIP4=198.18.100.1, TOPO_VIP6=2001:2:0:100::1
# The IPv6 host part is the same decimal digits (be1: 198.18.0.30, 2001:2::30). MACs are
# 02:00:c6:12:SEGMENT:HOST (front 00, edge 01, back 02), so tests can name them up front.
# Node interfaces have TX checksum offload off (full checksums, as from a real NIC: XDP
# programs on the path cannot complete a veth's partial checksums), and each bridge knows every
# node's MAC from the start (static FDB entries: nothing is flooded).
# Nodes that own the VIPs (backends, gateways) have TOPO_VIP4/32 and TOPO_VIP6/128 on lo plus
# local routes for both whole VIP ranges, and arp_ignore=1/arp_announce=2.
#
# Native XDP: a frame an L4 node sends with XDP_TX is dropped by the veth peer unless the peer
# runs an XDP program (or has GRO on). So the bridge-side peer of every L4 node gets
# build/bpf/pass.bpf.o (peer_xdp=pass, the default), or GRO (peer_xdp=gro), or nothing
# (peer_xdp=none, enough for generic mode). topo_peer_xdp NODE MODE changes one node's peer.
# Prefer pass: with gro, the peer's ring was seen here to stall after the node's XDP program
# (attached through a BPF link) sent XDP_TX frames, dropping all later frames from the node.
#
# Other helpers:
#   topo_ns NODE            the namespace name (for ip -n, ip netns exec)
#   topo_if NODE [SEG]      the node's interface name on SEG
#   topo_mac NODE [SEG]     its MAC
#   topo_peer NODE [SEG]    the bridge-side interface (in namespace "sw"; chain: empty)
#   topo_nodes [ROLE]       node names (ROLE: client, lb, backend, gateway, service, router)
#   topo_bpffs NODE         a private bpffs directory for the node's gwd/gwctl (--bpffs)
#   topo_show               a table of nodes, interfaces and addresses
#   topo_env [-p]           exports TOPO_LAYOUT, TOPO_VIP4, TOPO_VIP6, TOPO_VIP4_NET,
#                           TOPO_VIP6_NET, TOPO_NODES, TOPO_CLIENTS, TOPO_LBS, TOPO_BACKENDS,
#                           TOPO_GATEWAYS, TOPO_SERVICES and per node TOPO_<NODE>_{NS,IF,IP4,
#                           IP6,MAC} (first segment) and TOPO_<NODE>_<SEG>_{IF,IP4,IP6,MAC};
#                           -p prints them as export lines instead
#   topo_keep               leave the topology up when the shell exits; prints how to remove it
#   topo_destroy            tear down now (the exit trap does it otherwise)
# One topology per shell at a time; topo_destroy, then topo_create another.

TOPO_VIP4=198.18.100.1
TOPO_VIP6=2001:2:0:100::1
TOPO_VIP4_NET=198.18.100.0/24
TOPO_VIP6_NET=2001:2:0:100::/64

declare -gA _TOPO_NET4=([front]=198.18.0 [edge]=198.18.1 [back]=198.18.2)
declare -gA _TOPO_NET6=([front]=2001:2:: [edge]=2001:2:0:1:: [back]=2001:2:0:2::)
declare -gA _TOPO_SEGID=([front]=0 [edge]=1 [back]=2)
_TOPO_LAYOUT=
_topo_reset() {
	_TOPO_LAYOUT=
	_TOPO_NODES=()
	declare -gA _TOPO_ROLE=() _TOPO_SEGS=() _TOPO_IF=() _TOPO_IP4=() _TOPO_IP6=() \
		_TOPO_MAC=() _TOPO_PEER=()
}
_topo_reset

_topo_err() { echo "topo: $*" >&2; return 1; }

topo_ns() { ns "$1"; }
topo_exec() { nsx "$@"; }

_topo_known() {
	[ -n "${_TOPO_ROLE[$1]:-}" ] || _topo_err "no node '$1' in topology '${_TOPO_LAYOUT:-none}'"
}

# _topo_seg NODE [SEG]: the segment asked for, or the node's first one.
_topo_seg() {
	local segs=${_TOPO_SEGS[$1]:-}
	if [ -n "${2:-}" ]; then
		[[ " $segs " == *" $2 "* ]] || _topo_err "node '$1' is not on segment '$2'" || return 1
		echo "$2"
	else
		echo "${segs%% *}"
	fi
}

topo_addr() {
	local node=$1 fam=${2:-4} seg
	_topo_known "$node" || return 1
	seg=$(_topo_seg "$node" "${3:-}") || return 1
	case "$fam" in
	4) echo "${_TOPO_IP4[$node,$seg]}" ;;
	6) echo "${_TOPO_IP6[$node,$seg]}" ;;
	*) _topo_err "address family '$fam' is not 4 or 6" ;;
	esac
}

topo_if() {
	local seg
	_topo_known "$1" || return 1
	seg=$(_topo_seg "$1" "${2:-}") || return 1
	echo "${_TOPO_IF[$1,$seg]}"
}

topo_mac() {
	local seg
	_topo_known "$1" || return 1
	seg=$(_topo_seg "$1" "${2:-}") || return 1
	echo "${_TOPO_MAC[$1,$seg]}"
}

topo_peer() {
	local seg
	_topo_known "$1" || return 1
	seg=$(_topo_seg "$1" "${2:-}") || return 1
	echo "${_TOPO_PEER[$1,$seg]}"
}

topo_nodes() {
	local n
	for n in "${_TOPO_NODES[@]}"; do
		[ -z "${1:-}" ] || [ "${_TOPO_ROLE[$n]}" = "$1" ] || continue
		echo "$n"
	done
}

topo_bpffs() { bpffs_dir "$1"; }

# _topo_node NAME ROLE: a namespace with DAD off (addresses usable at once).
_topo_node() {
	ns_add "$1" || return 1
	_TOPO_NODES+=("$1")
	_TOPO_ROLE[$1]=$2
	_TOPO_SEGS[$1]=
	nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		>/dev/null
}

# _topo_join NODE SEGMENT IFNAME HOST: a veth from NODE into the segment's bridge, with the
# segment's addresses for HOST and a MAC derived from both.
_topo_join() {
	local node=$1 seg=$2 ifname=$3 host=$4 mac peer
	mac=$(printf '02:00:c6:12:%02x:%02x' "${_TOPO_SEGID[$seg]}" "$host")
	peer="${seg:0:1}-$node"
	ip link add "$ifname" netns "$(ns "$node")" address "$mac" type veth peer name "$peer" \
		netns "$(ns sw)" || return 1
	ip -n "$(ns sw)" link set "$peer" master "br-$seg" up || return 1
	# Known from the start, so the bridge never floods frames for a node to the others.
	bridge -n "$(ns sw)" fdb replace "$mac" dev "$peer" master static || return 1
	_topo_addrs "$node" "$seg" "$ifname" "$host" "$mac" "$peer"
}

# _topo_addrs NODE SEGMENT IFNAME HOST MAC PEER: brings the interface up with the segment's
# addresses for HOST and records it.
_topo_addrs() {
	local node=$1 seg=$2 ifname=$3 host=$4 n
	n=$(ns "$node")
	# Full checksums on the wire, as from a real NIC: with TX checksum offload a veth hands on
	# partial checksums, which XDP programs on the way (encapsulation, XDP_TX) cannot fix.
	ip netns exec "$n" ethtool -K "$ifname" tx off >/dev/null || return 1
	ip -n "$n" link set "$ifname" up || return 1
	ip -n "$n" addr add "${_TOPO_NET4[$seg]}.$host/24" dev "$ifname" || return 1
	ip -n "$n" -6 addr add "${_TOPO_NET6[$seg]}$host/64" dev "$ifname" nodad || return 1
	_TOPO_SEGS[$node]="${_TOPO_SEGS[$node]:+${_TOPO_SEGS[$node]} }$seg"
	_TOPO_IF[$node,$seg]=$ifname
	_TOPO_MAC[$node,$seg]=$5
	_TOPO_PEER[$node,$seg]=$6
	_TOPO_IP4[$node,$seg]="${_TOPO_NET4[$seg]}.$host"
	_TOPO_IP6[$node,$seg]="${_TOPO_NET6[$seg]}$host"
}

_topo_bridge() {
	ip -n "$(ns sw)" link add "br-$1" type bridge mcast_snooping 0 || return 1
	ip -n "$(ns sw)" link set "br-$1" up
}

# _topo_own_vips NODE: the node accepts every VIP locally (DSR target) and never answers ARP
# for them on its segment interfaces.
_topo_own_vips() {
	local n
	n=$(ns "$1")
	nsx "$1" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
		>/dev/null || return 1
	ip -n "$n" addr add "$TOPO_VIP4/32" dev lo || return 1
	ip -n "$n" -6 addr add "$TOPO_VIP6/128" dev lo || return 1
	ip -n "$n" route add local "$TOPO_VIP4_NET" dev lo || return 1
	ip -n "$n" -6 route add local "$TOPO_VIP6_NET" dev lo
}

# _topo_route_vips NODE VIA_NODE: the node reaches the VIP ranges through VIA_NODE.
_topo_route_vips() {
	local n
	n=$(ns "$1")
	ip -n "$n" route add "$TOPO_VIP4_NET" via "$(topo_addr "$2" 4 front)" || return 1
	ip -n "$n" -6 route add "$TOPO_VIP6_NET" via "$(topo_addr "$2" 6 front)"
}

_topo_default_via() {
	local n
	n=$(ns "$1")
	ip -n "$n" route add default via "$(topo_addr "$2" 4 "$3")" || return 1
	ip -n "$n" -6 route add default via "$(topo_addr "$2" 6 "$3")"
}

# topo_peer_xdp NODE pass|gro|none: how the bridge-side peers of NODE accept XDP_TX frames.
topo_peer_xdp() {
	local node=$1 mode=$2 seg peer sw obj=${BUILD:-build}/bpf/pass.bpf.o
	_topo_known "$node" || return 1
	[ "$_TOPO_LAYOUT" != chain ] ||
		_topo_err "the chain layout has no bridge-side peers: attach to the far end" || return 1
	sw=$(ns sw)
	for seg in ${_TOPO_SEGS[$node]}; do
		peer=${_TOPO_PEER[$node,$seg]}
		case "$mode" in
		pass)
			[ -f "$obj" ] || _topo_err "$obj is missing: run make" || return 1
			ip -n "$sw" link set dev "$peer" xdpdrv obj "$obj" sec xdp || return 1
			;;
		gro)
			ip -n "$sw" link set dev "$peer" xdp off
			ip netns exec "$sw" ethtool -K "$peer" gro on >/dev/null || return 1
			;;
		none)
			ip -n "$sw" link set dev "$peer" xdp off
			ip netns exec "$sw" ethtool -K "$peer" gro off >/dev/null || return 1
			;;
		*) _topo_err "peer_xdp '$mode' is not pass, gro or none" || return 1 ;;
		esac
	done
}

# topo_ecmp NODE...: the router's multipath routes to the VIP ranges use these L4 nodes only.
topo_ecmp() {
	local n hops4=() hops6=() r
	[ "$_TOPO_LAYOUT" = ecmp ] || _topo_err "topo_ecmp needs the ecmp layout" || return 1
	[ $# -gt 0 ] || _topo_err "topo_ecmp needs at least one L4 node" || return 1
	for n in "$@"; do
		[ "${_TOPO_ROLE[$n]:-}" = lb ] || _topo_err "'$n' is not an L4 node" || return 1
		hops4+=(nexthop via "$(topo_addr "$n" 4 front)" dev eth1)
		hops6+=(nexthop via "$(topo_addr "$n" 6 front)" dev eth1)
	done
	r=$(ns router)
	ip -n "$r" route replace "$TOPO_VIP4_NET" "${hops4[@]}" || return 1
	ip -n "$r" -6 route replace "$TOPO_VIP6_NET" "${hops6[@]}"
}

# _topo_count NAME VALUE MAX: validates a node count option.
_topo_count() {
	[[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le "$3" ] ||
		_topo_err "$1=$2: want a number from 1 to $3"
}

# topo_create LAYOUT [key=value...]: builds the layout; on failure removes what it made and
# returns non-zero.
topo_create() {
	local layout=${1:-} opt key val i
	local clients=1 lbs=1 backends=2 gateways=2 services=4 peer_xdp=pass
	[ -z "$_TOPO_LAYOUT" ] || _topo_err "topology '$_TOPO_LAYOUT' exists: topo_destroy first" ||
		return 1
	case "$layout" in
	l4 | layered | chain) ;;
	ecmp) lbs=2 ;;
	*) _topo_err "unknown layout '$layout' (l4, layered, ecmp, chain)"; return 1 ;;
	esac
	shift
	for opt in "$@"; do
		key=${opt%%=*}
		val=${opt#*=}
		case "$key" in
		clients) _topo_count "$key" "$val" 9 && clients=$val ;;
		lbs) _topo_count "$key" "$val" 8 && lbs=$val ;;
		backends) _topo_count "$key" "$val" 64 && backends=$val ;;
		gateways) _topo_count "$key" "$val" 9 && gateways=$val ;;
		services) _topo_count "$key" "$val" 64 && services=$val ;;
		peer_xdp)
			case "$val" in pass | gro | none) peer_xdp=$val ;;
			*) _topo_err "peer_xdp=$val: want pass, gro or none" ;; esac ;;
		*) _topo_err "unknown option '$opt'" ;;
		esac || return 1
	done
	if [ "$layout" = chain ] && [ $# -gt 0 ]; then
		_topo_err "the chain layout takes no options"
		return 1
	fi
	_TOPO_LAYOUT=$layout
	if [ "$layout" = chain ]; then
		_topo_build_chain || { _topo_err "building layout 'chain' failed; removing it"
			topo_destroy; return 1; }
		return 0
	fi
	if ! _topo_build "$layout" "$clients" "$lbs" "$backends" "$gateways" "$services" \
		"$peer_xdp"; then
		_topo_err "building layout '$layout' failed; removing it"
		topo_destroy
		return 1
	fi
}

_topo_build() {
	local layout=$1 clients=$2 lbs=$3 backends=$4 gateways=$5 services=$6 peer_xdp=$7 i n
	ns_add sw || return 1
	nsx sw sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
		>/dev/null || return 1
	_topo_bridge front || return 1
	case "$layout" in
	ecmp) _topo_bridge edge || return 1 ;;
	layered) _topo_bridge back || return 1 ;;
	esac

	if [ "$layout" = ecmp ]; then
		_topo_node router router || return 1
		_topo_join router edge eth0 1 && _topo_join router front eth1 1 || return 1
		nsx router sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
			net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1 \
			>/dev/null || return 1
	fi
	for i in $(seq 1 "$lbs"); do
		_topo_node "lb$i" lb && _topo_join "lb$i" front eth0 $((1 + i)) || return 1
	done
	for i in $(seq 1 "$clients"); do
		n=client$i
		_topo_node "$n" client || return 1
		if [ "$layout" = ecmp ]; then
			_topo_join "$n" edge eth0 $((9 + i)) && _topo_default_via "$n" router edge ||
				return 1
		else
			_topo_join "$n" front eth0 $((9 + i)) && _topo_route_vips "$n" lb1 || return 1
		fi
	done
	if [ "$layout" = layered ]; then
		for i in $(seq 1 "$gateways"); do
			n=gw$i
			_topo_node "$n" gateway && _topo_join "$n" front eth0 $((19 + i)) &&
				_topo_join "$n" back eth1 $((19 + i)) && _topo_own_vips "$n" || return 1
		done
		for i in $(seq 1 "$services"); do
			_topo_node "svc$i" service && _topo_join "svc$i" back eth0 $((39 + i)) ||
				return 1
		done
	else
		for i in $(seq 1 "$backends"); do
			n=be$i
			_topo_node "$n" backend && _topo_join "$n" front eth0 $((29 + i)) &&
				_topo_own_vips "$n" || return 1
		done
	fi
	if [ "$layout" = ecmp ]; then
		for n in $(topo_nodes lb) $(topo_nodes backend); do
			_topo_default_via "$n" router front || return 1
		done
		# shellcheck disable=SC2046
		topo_ecmp $(topo_nodes lb) || return 1
	fi
	for n in $(topo_nodes lb); do
		topo_peer_xdp "$n" "$peer_xdp" || return 1
	done
}

# _topo_p2p SEGMENT NODE1 IF1 HOST1 NODE2 IF2 HOST2: a veth between two nodes on SEGMENT.
_topo_p2p() {
	local seg=$1 mac1 mac2
	mac1=$(printf '02:00:c6:12:%02x:%02x' "${_TOPO_SEGID[$seg]}" "$4")
	mac2=$(printf '02:00:c6:12:%02x:%02x' "${_TOPO_SEGID[$seg]}" "$7")
	ip link add "$3" netns "$(ns "$2")" address "$mac1" type veth peer name "$6" \
		netns "$(ns "$5")" address "$mac2" || return 1
	_topo_addrs "$2" "$seg" "$3" "$4" "$mac1" "" && _topo_addrs "$5" "$seg" "$6" "$7" "$mac2" ""
}

_topo_build_chain() {
	_topo_node client1 client && _topo_node lb1 lb && _topo_node be1 backend || return 1
	_topo_p2p front client1 eth0 10 lb1 eth0 2 && _topo_p2p back lb1 eth1 2 be1 eth0 30 ||
		return 1
	nsx lb1 sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null &&
		_topo_default_via client1 lb1 front && _topo_default_via be1 lb1 back &&
		_topo_own_vips be1
}

topo_destroy() {
	ns_cleanup
	_topo_reset
}

topo_show() {
	local n seg
	printf '%-8s %-8s %-6s %-5s %-15s %-18s %s\n' node role seg if ipv4 ipv6 mac
	for n in "${_TOPO_NODES[@]}"; do
		for seg in ${_TOPO_SEGS[$n]}; do
			printf '%-8s %-8s %-6s %-5s %-15s %-18s %s\n' "$n" "${_TOPO_ROLE[$n]}" "$seg" \
				"${_TOPO_IF[$n,$seg]}" "${_TOPO_IP4[$n,$seg]}" "${_TOPO_IP6[$n,$seg]}" \
				"${_TOPO_MAC[$n,$seg]}"
		done
	done
	echo "namespaces: $(ns NODE) (switch: $(ns sw)); VIPs $TOPO_VIP4 $TOPO_VIP6"
}

topo_env() {
	local print=${1:-} n seg up useg v pairs=() p
	pairs+=("TOPO_LAYOUT=$_TOPO_LAYOUT" "TOPO_VIP4=$TOPO_VIP4" "TOPO_VIP6=$TOPO_VIP6"
		"TOPO_VIP4_NET=$TOPO_VIP4_NET" "TOPO_VIP6_NET=$TOPO_VIP6_NET"
		"TOPO_NODES=${_TOPO_NODES[*]}"
		"TOPO_CLIENTS=$(topo_nodes client | paste -sd ' ')"
		"TOPO_LBS=$(topo_nodes lb | paste -sd ' ')"
		"TOPO_BACKENDS=$(topo_nodes backend | paste -sd ' ')"
		"TOPO_GATEWAYS=$(topo_nodes gateway | paste -sd ' ')"
		"TOPO_SERVICES=$(topo_nodes service | paste -sd ' ')")
	for n in "${_TOPO_NODES[@]}"; do
		up=${n^^}
		pairs+=("TOPO_${up}_NS=$(ns "$n")")
		for seg in ${_TOPO_SEGS[$n]}; do
			useg=${seg^^}
			for v in IF IP4 IP6 MAC; do
				case $v in
				IF) p=${_TOPO_IF[$n,$seg]} ;;
				IP4) p=${_TOPO_IP4[$n,$seg]} ;;
				IP6) p=${_TOPO_IP6[$n,$seg]} ;;
				MAC) p=${_TOPO_MAC[$n,$seg]} ;;
				esac
				pairs+=("TOPO_${up}_${useg}_$v=$p")
				[ "$seg" != "${_TOPO_SEGS[$n]%% *}" ] || pairs+=("TOPO_${up}_$v=$p")
			done
		done
	done
	for p in "${pairs[@]}"; do
		if [ "$print" = -p ]; then
			printf 'export %s=%q\n' "${p%%=*}" "${p#*=}"
		else
			export "${p?}"
		fi
	done
}

# topo_keep: the topology outlives this shell (for DEMO_KEEP); prints how to remove it.
topo_keep() {
	trap - EXIT INT TERM
	echo "topology left up: namespaces $(ns '*'); remove it with:"
	echo "  $(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netns.sh clean $$"
}
