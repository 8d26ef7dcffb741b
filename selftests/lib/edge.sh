# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# The demo's layered edge, shared by `make demo` (selftests/demo.sh) and
# selftests/e2e/layered.sh, on topo.sh's "layered" layout:
#
#   client1 ──▶ lb1: gwd, XDP balancer on eth0 ──ipip──▶ gw1..gwN: gwd with the gateway role,
#   decap on eth0, VIPs on lo ──▶ svc1..svc4: build/tools/upstream answering JSON on :8080 as
#   users-1, users-2, products-1, products-2
#
# Source after test.sh, netns.sh and topo.sh.
#   edge_create [gateways=N]   the topology, the four services and one gwd (empty configuration)
#                              on lb1 and on every gateway; files under EDGE_DIR (default: a
#                              tmp_dir): NODE/gwd.sock, NODE/state/, NODE/gwd.log, SVC.log
#   edge_configure [GW...]     what the demo shows step by step, quietly: decap attach and
#                              examples/demo-gateway.yaml on the gateways (default: all), then
#                              examples/demo-l4.yaml on lb1; waits until the VIP answers
#   edge_gwctl NODE ARGS...    gwctl against NODE's gwd (--socket) and pinned maps (--bpffs)
#   edge_gwd_start NODE        starts NODE's gwd (again) and waits until its admin API answers
#   edge_gwd_stop NODE [SIG]   signals NODE's gwd (default TERM) and waits for its end
#   edge_svc_start SVC         starts a service instance, waits until it listens
#   edge_svc_stop SVC [SIG]
#   edge_name SVC              users-1 | users-2 | products-1 | products-2
#   edge_target SVC            its ADDR:PORT (198.18.2.40:8080 ...)
#   edge_served NODE           requests NODE's gateway answered on its routes so far
#                              (gwctl route stats: every status class, not "no route")

EDGE_EXAMPLES=${EDGE_EXAMPLES:-$T_ROOT/examples}
EDGE_PORT=8080
declare -gA EDGE_PID=()

edge_name() {
	case "$1" in
	svc1) echo users-1 ;;
	svc2) echo users-2 ;;
	svc3) echo products-1 ;;
	svc4) echo products-2 ;;
	*) echo "edge: unknown service node '$1'" >&2; return 1 ;;
	esac
}

edge_target() { echo "$(topo_addr "$1" 4):$EDGE_PORT"; }

edge_gwctl() {
	local node=$1
	shift
	topo_exec "$node" "$GWCTL" --socket "$EDGE_DIR/$node/gwd.sock" \
		--bpffs "$(topo_bpffs "$node")" "$@"
}

_edge_gwd_ready() {
	topo_exec "$1" curl -sf --max-time 2 --unix-socket "$EDGE_DIR/$1/gwd.sock" \
		http://gwd/v1/status >/dev/null
}

edge_gwd_start() {
	local node=$1
	mkdir -p "$EDGE_DIR/$node"
	# exec keeps the PID: BG_PID is gwd itself. The log accumulates over restarts.
	bg_start "$node" /dev/null sh -c 'exec "$@" >>"$0" 2>&1' "$EDGE_DIR/$node/gwd.log" \
		"$GWD" --foreground --state-dir "$EDGE_DIR/$node/state" \
		--socket "$EDGE_DIR/$node/gwd.sock" --bpffs "$(topo_bpffs "$node")"
	EDGE_PID[$node]=$BG_PID
	wait_until 10 _edge_gwd_ready "$node"
}

edge_gwd_stop() {
	[ -n "${EDGE_PID[$1]:-}" ] || return 0
	# (stderr: no "Killed" job notice from the shell)
	{ bg_stop "${EDGE_PID[$1]}" "${2:-TERM}"; } 2>/dev/null
	EDGE_PID[$1]=
}

edge_svc_start() {
	local svc=$1 name
	name=$(edge_name "$svc") || return 1
	bg_start "$svc" "$EDGE_DIR/$svc.log" "$BUILD/tools/upstream" \
		--listen "$(edge_target "$svc")" --name "$name"
	EDGE_PID[$svc]=$BG_PID
	wait_listen "$svc" "$EDGE_PORT"
}

edge_svc_stop() { edge_gwd_stop "$@"; }

edge_create() {
	local n
	EDGE_DIR=${EDGE_DIR:-$(tmp_dir)}
	mkdir -p "$EDGE_DIR" || return 1
	topo_create layered services=4 "$@" || return 1
	for n in $(topo_nodes service); do
		edge_svc_start "$n" || { echo "edge: service $n did not start" >&2; return 1; }
	done
	for n in $(topo_nodes lb) $(topo_nodes gateway); do
		edge_gwd_start "$n" ||
			{ echo "edge: gwd on $n did not start: $(tail -3 "$EDGE_DIR/$n/gwd.log")" >&2
			return 1; }
	done
}

# _edge_l4_up: every backend of every service takes new flows.
_edge_l4_up() {
	edge_gwctl lb1 -j backend show | jq -e 'length > 0 and all(.[]; .state == "up")' >/dev/null
}

_edge_vip_answers() {
	topo_exec client1 curl -sf --max-time 2 -o /dev/null "http://$TOPO_VIP4/users/ready"
}

edge_configure() {
	local gws=("$@") g
	[ ${#gws[@]} -gt 0 ] || mapfile -t gws < <(topo_nodes gateway)
	for g in "${gws[@]}"; do
		edge_gwctl "$g" decap attach eth0 >/dev/null &&
			edge_gwctl "$g" apply -f "$EDGE_EXAMPLES/demo-gateway.yaml" >/dev/null &&
			wait_listen "$g" 80 || { echo "edge: configuring $g failed" >&2; return 1; }
	done
	edge_gwctl lb1 apply -f "$EDGE_EXAMPLES/demo-l4.yaml" >/dev/null &&
		wait_until 10 _edge_l4_up && wait_until 10 _edge_vip_answers ||
		{ echo "edge: configuring lb1 failed" >&2; return 1; }
}

edge_served() {
	edge_gwctl "$1" -j route stats | jq '[.[] | select(.route != "_none") | .requests] | add // 0'
}
