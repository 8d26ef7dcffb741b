#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The L4 control plane for real: gwd and gwctl drive the XDP balancer in the l4 topology.
# A service with three backends (ipip, decap on the backends), TCP connections land on all
# three; a backend added and removed and one drained while long-lived connections stay open;
# gwd SIGKILLed during traffic (established flows continue, new ones still balanced), restarted
# (state restored, ids, links, counters and flows untouched); a corrupt state file makes gwd
# refuse to start and stay away from the file. Plus an IPv6 service in l2 mode.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/topo.sh"
t_init l4_control
need_root l4_control

TCPNAME=$BUILD/tools/tcpname
need_tool "$TCPNAME"
topo_create l4 backends=4 || { t_fail setup "topology"; exit 1; }
T=$(tmp_dir)
FS=$(topo_bpffs lb1)
SOCK=$T/gwd.sock
BE4=$(topo_addr be4 4)

G() { topo_exec lb1 "$GWCTL" --socket "$SOCK" --bpffs "$FS" "$@"; }
gwd_ready() { curl -sf --unix-socket "$SOCK" http://gwd/v1/status >/dev/null; }
start_gwd() {
	bg_start lb1 "$T/gwd.$1.log" "$GWD" --foreground --state-dir "$T/state" --socket "$SOCK" \
		--bpffs "$FS"
	GWD_PID=$BG_PID
	wait_until 10 gwd_ready
}
# up_count SERVICE: backends of SERVICE that take new flows
up_count() { G -j backend show "$1" | jq '[.[] | select(.state == "up")] | length'; }
up_is() { test "$(up_count "$1")" = "$2"; }
# spread FILE: "be1=N be2=N ..." from tcpname output
spread() { sort "$1" | uniq -c | awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $2, $1 }'; }
# check_spread NAME: the connections of the last `once` reached be1, be2 and be3.
check_spread() {
	local s
	s=$(spread "$T/once.out")
	case "$s" in
	be1=*" be2="*" be3="*) t_ok "$1" "$s" ;;
	*) t_fail "$1" "$s" ;;
	esac
}
# once N SPORT_BASE [ADDR]: N short connections from client1; names into $T/once.out
once() { topo_exec client1 "$TCPNAME" once "${3:-$TOPO_VIP4}" 80 "$1" "$2" >"$T/once.out"; }

# Long-lived connections: a tcpname client fed through a FIFO held open on fd 9.
LL=12
ll_start() {
	mkfifo "$T/ll.in"
	exec 9<>"$T/ll.in"
	topo_exec client1 "$TCPNAME" client "$TOPO_VIP4" 80 $LL 40000 <"$T/ll.in" >"$T/ll.out" &
	LL_PID=$!
	XG_PIDS+=("$LL_PID")
	wait_until 10 grep -q '^ready' "$T/ll.out"
}
# ll_ping: every long-lived connection answers (prints the round's line; runs in $(...), so
# the round number comes from the output so far)
ll_ping() {
	local r=$(($(grep -c '^round ' "$T/ll.out") + 1))

	echo ping >&9
	wait_until 10 grep -q "^round $r " "$T/ll.out" || { echo "no round $r"; return 1; }
	grep "^round $r " "$T/ll.out"
}

for b in be1 be2 be3 be4; do
	bg_start "$b" "$T/$b.log" "$TCPNAME" serve 80 "$b"
	topo_exec "$b" "$GWCTL" --bpffs "$(topo_bpffs "$b")" decap attach eth0 ||
		t_fail "decap_attach_$b"
done
for b in be1 be2 be3 be4; do wait_listen "$b" 80 || t_fail "listen_$b"; done

start_gwd 1 || { t_fail gwd_starts "$(tail -5 "$T/gwd.1.log")"; exit 1; }
t_ok gwd_starts

# ---- configure: attach, one service, three backends ----
check link_attach G link attach eth0
check vip_add G vip add web "$TOPO_VIP4:80/tcp" algo maglev fwd ipip
for b in be1 be2 be3; do check "backend_add_$b" G backend add web "$(topo_addr $b 4)"; done
if wait_until 10 up_is web 3; then t_ok backends_resolved; else
	t_fail backends_resolved "$(G backend show web)"; fi
check_eq link_show_lists_eth0 "$(G -j link show | jq -r '.[].name')" eth0

once 60 30000
check_eq short_connections_all_answered "$(grep -c FAIL "$T/once.out")" 0
check_spread spread_over_three

# ---- long-lived connections across changes ----
ll_start || { t_fail long_lived_open "$(cat "$T/ll.out")"; exit 1; }
check_eq long_lived_open "$(grep -c '^conn .* be[1-3]$' "$T/ll.out")" $LL
check_eq long_lived_baseline "$(ll_ping)" "round 1 ok=$LL fail=0"

check backend_add_be4 G backend add web "$BE4"
wait_until 10 up_is web 4 || t_fail be4_up "$(G backend show web)"
check_eq long_lived_after_add "$(ll_ping)" "round 2 ok=$LL fail=0"
once 60 31000
if grep -qx be4 "$T/once.out"; then t_ok new_flows_reach_be4; else
	t_fail new_flows_reach_be4 "$(spread "$T/once.out")"; fi

check backend_del_be4 G backend del web "$BE4"
check_eq long_lived_after_del "$(ll_ping)" "round 3 ok=$LL fail=0"
once 40 32000
check_eq no_flows_to_removed_be4 "$(grep -c be4 "$T/once.out")" 0

check backend_drain_be1 G backend set web "$(topo_addr be1 4)" drain
check_eq drained_state "$(G -j backend show web | jq -r ".[] | select(.addr == \"$(topo_addr be1 4)\") | .state")" draining
check_eq long_lived_after_drain "$(ll_ping)" "round 4 ok=$LL fail=0"
once 40 33000
check_eq no_new_flows_to_drained "$(grep -c be1 "$T/once.out")/$(grep -c FAIL "$T/once.out")" 0/0
check backend_undrain_be1 G backend set web "$(topo_addr be1 4)" undrain

# ---- gwd killed during traffic ----
before_gen=$(curl -sf --unix-socket "$SOCK" http://gwd/v1/status | jq .generation)
topo_exec client1 "$TCPNAME" once "$TOPO_VIP4" 80 100 34000 >"$T/during.out" &
traffic=$!
kill -KILL "$GWD_PID"
wait "$traffic"
check_eq traffic_during_sigkill "$(grep -c FAIL "$T/during.out")/$(wc -l <"$T/during.out")" 0/100
wait "$GWD_PID" 2>/dev/null
check_eq long_lived_after_sigkill "$(ll_ping)" "round 5 ok=$LL fail=0"
once 60 35000
check_spread balanced_while_gwd_down
check_eq reads_while_gwd_down "$(G -j vip show | jq -r '.[].name')" web
out=$(G backend add web "$BE4" 2>&1)
check_eq change_while_gwd_down "$out" "Error: gwd is not running (nothing listens on $SOCK)"

# What a restart must not change.
vip_id=$(G -j vip show | jq '.[0].id')
be_ids=$(G -j backend show web | jq -c '[.[] | [.addr, .id]]')
link_id=$(G -j link show | jq '.[0].link_id')
packets=$(G -j stats web | jq '.services[0].packets')
flows=$(G -j conntrack show web | jq length)

start_gwd 2 || { t_fail gwd_restarts "$(tail -5 "$T/gwd.2.log")"; exit 1; }
t_ok gwd_restarts
check_eq restart_generation "$(curl -sf --unix-socket "$SOCK" http://gwd/v1/status | jq .generation)" "$before_gen"
check_eq restart_state_restored "$(curl -sf --unix-socket "$SOCK" http://gwd/v1/config | jq -c '[.l4.services[] | [.name, (.backends | length)]]')" '[["web",3]]'
check_eq restart_vip_id "$(G -j vip show | jq '.[0].id')" "$vip_id"
check_eq restart_backend_ids "$(G -j backend show web | jq -c '[.[] | [.addr, .id]]')" "$be_ids"
check_eq restart_link_not_detached "$(G -j link show | jq '.[0].link_id')" "$link_id"
p=$(G -j stats web | jq '.services[0].packets')
if [ "$p" -ge "$packets" ]; then t_ok restart_counters_kept; else
	t_fail restart_counters_kept "$p < $packets"; fi
f=$(G -j conntrack show web | jq length)
if [ "$f" -ge "$LL" ] && [ "$f" -ge "$flows" ]; then t_ok restart_flows_kept; else
	t_fail restart_flows_kept "$f flows after, $flows before"; fi
check_eq restart_adopted "$(grep -c 'adopted 3 backends' "$T/gwd.2.log")" 1
check_eq long_lived_after_restart "$(ll_ping)" "round 6 ok=$LL fail=0"
once 60 36000
check_spread balanced_after_restart

# ---- IPv6 service in l2 mode ----
check vip_add_v6_l2 G vip add web6 "[$TOPO_VIP6]:80" fwd l2
for b in be1 be2 be3; do G backend add web6 "$(topo_addr $b 6)" || t_fail "backend_add_v6_$b"; done
wait_until 10 up_is web6 3 || t_fail v6_backends_up "$(G backend show web6)"
once 30 37000 "$TOPO_VIP6"
check_spread v6_l2_spread

# ---- clean stop, then a corrupt state file ----
bg_stop "$GWD_PID" TERM
check_eq stop_keeps_link "$(G -j link show | jq -r '.[].name')" eth0
check_eq long_lived_after_stop "$(ll_ping)" "round 7 ok=$LL fail=0"
state=$T/state/state.json
printf '{"format": "xdpgw-state", "version": 1, "generation": 9, "document": {"l4": ' >"$state"
sum=$(md5sum <"$state")
out=$(topo_exec lb1 timeout 10 "$GWD" --foreground --state-dir "$T/state" --socket "$SOCK" \
	--bpffs "$FS" 2>&1)
rc=$?
check_eq corrupt_state_refused "$rc" 1
case "$out" in
*"state file $state is corrupt: "*"; it was left untouched"*"refusing to start"*) t_ok corrupt_state_message ;;
*) t_fail corrupt_state_message "$out" ;;
esac
check_eq corrupt_state_untouched "$(md5sum <"$state")" "$sum"
check_eq corrupt_state_no_socket "$(gwd_ready && echo serving || echo none)" none
check_eq long_lived_after_refusal "$(ll_ping)" "round 8 ok=$LL fail=0"

echo quit >&9
t_done
