#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# What an operator does with gwd and gwctl on an L4 node, with real traffic in the l4 topology
# (ASan builds of both): gwd starts from examples/gwd.yaml; the admin socket is 0600; status,
# stats (totals that match the connections made, --rate, reset), lookup (predicts the backend a
# real connection then gets), conntrack show/flush, apply -f (diff, dry run, no-op, applied
# exactly), gwd following MTU and neighbour changes, doctor on the L4 node and on a backend,
# decap show/detach/attach without gwd, -d, reads and status with gwd down, bash completion,
# and gwd mounting bpffs where none is mounted.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/topo.sh"
t_init l4_ops
need_root l4_ops

# The sanitizer builds (make test-e2e builds them) catch memory errors of the paths used here.
prefer_asan_gwd
[ -x "$BUILD/asan/gwctl" ] && GWCTL=$BUILD/asan/gwctl
TCPNAME=$BUILD/tools/tcpname
need_tool "$TCPNAME"
topo_create l4 backends=3 || { t_fail setup "topology"; exit 1; }
T=$(tmp_dir)
FS=$(topo_bpffs lb1)
SOCK=$T/gwd.sock
BE1=$(topo_addr be1 4) BE2=$(topo_addr be2 4) BE3=$(topo_addr be3 4)
CLIENT=$(topo_addr client1 4)

G() { topo_exec lb1 "$GWCTL" --socket "$SOCK" --bpffs "$FS" "$@"; }
# GB NODE ARGS...: gwctl on a backend host (its own bpffs, no gwd there)
GB() { local n=$1; shift; topo_exec "$n" "$GWCTL" --bpffs "$(topo_bpffs "$n")" "$@"; }
gwd_ready() { curl -sf --unix-socket "$SOCK" http://gwd/v1/status >/dev/null; }
# once N SPORT_BASE: N short connections to the IPv4 VIP; names into $T/once.out
once() { topo_exec client1 "$TCPNAME" once "$TOPO_VIP4" 80 "$1" "$2" >"$T/once.out"; }
name_of() { case "$1" in "$BE1") echo be1 ;; "$BE2") echo be2 ;; "$BE3") echo be3 ;; *) echo "?" ;; esac; }

for b in be1 be2 be3; do
	bg_start "$b" "$T/$b.log" "$TCPNAME" serve 80 "$b"
	GB "$b" decap attach eth0 || t_fail "decap_attach_$b"
done
for b in be1 be2 be3; do wait_listen "$b" 80 || t_fail "listen_$b"; done

# ---- gwd from the example configuration (its gwd section loses to the command line) ----
bg_start lb1 "$T/gwd.log" "$GWD" --foreground --config "$T_ROOT/examples/gwd.yaml" \
	--state-dir "$T/state" --socket "$SOCK" --bpffs "$FS"
GWD_PID=$BG_PID
wait_until 20 gwd_ready || { t_fail gwd_starts "$(tail -5 "$T/gwd.log")"; exit 1; }
check_eq example_config_services "$(G -j vip show | jq -r '[.[].name] | sort | join(",")')" \
	"api,dns,web,web6"
check_eq example_config_saved "$(jq -r '.document.l4.services | length' "$T/state/state.json")" 4
check_eq socket_mode "$(stat -c '%a %U' "$SOCK")" "600 root"
check_eq status_running "$(G -j status | jq -c '[.gwd.running, .balancer.loaded, .balancer.counts.services, (.balancer.links | length)]')" \
	"[true,true,4,1]"
# Conditions for wait_until.
web_up_is() { [ "$(G -j backend show web | jq '[.[] | select(.state == "up")] | length')" = "$1" ]; }
web_new_flows_over() { [ "$(G -j stats web | jq '.services[0].new_flows')" -ge "$1" ]; }
link_mtu_is() { [ "$(G -j link show | jq '.[0].mtu')" = "$1" ]; }
be1_mac() { G -j backend show web | jq -r ".[] | select(.addr == \"$BE1\") | .mac"; }
be1_mac_is() { [ "$(be1_mac)" = "$1" ]; }

wait_until 10 web_up_is 3 || t_fail backends_resolved "$(G backend show web)"

# ---- stats: totals match the connections made ----
check stats_reset G stats reset
check_eq stats_zero "$(G -j stats | jq '[.services[].packets] | add')" 0
once 60 30000
check_eq traffic_answered "$(grep -c FAIL "$T/once.out")/$(wc -l <"$T/once.out")" 0/60
check_eq stats_new_flows "$(G -j stats web | jq '.services[0].new_flows')" 60
for b in be1 be2 be3; do
	addr=$(topo_addr $b 4)
	check_eq "stats_per_backend_$b" \
		"$(G -j stats web | jq ".services[0].backends[] | select(.addr == \"$addr\") | .new_flows")" \
		"$(grep -cx $b "$T/once.out")"
done
check_eq stats_packets_sum "$(G -j stats web | jq '.services[0] | .packets == ([.backends[].packets] | add)')" true
check_eq stats_reason_named "$(G -j stats | jq -r '.reasons[] | select(.name == "fwd-ipip") | .packets > 0')" true
# /metrics: the text format's rules (each family's samples grouped after its TYPE line)
curl -sf --unix-socket "$SOCK" http://gwd/metrics >"$T/metrics"
out=$(awk '/^# TYPE / { if ($3 in seen) print "TYPE twice: " $3; seen[$3] = 1; cur = $3; next }
	/^#/ || /^$/ { next }
	{ n = $1; sub(/\{.*/, "", n); if (n != cur && index(n, cur "_") != 1) print "sample " n " outside its family (" cur ")" }' "$T/metrics")
check_eq metrics_grouped "$out" ""
check_eq metrics_service_new_flows "$(sed -n 's/^xdpgw_l4_service_new_flows_total{service="web"} //p' "$T/metrics")" 60
check_eq metrics_backend_up "$(grep -c '^xdpgw_l4_backend_up{service="web",backend="[0-9.]*"} 1$' "$T/metrics")" 3
out=$(G stats web)
case "$out" in
*"Service"*"LocalAddress:Port"*"web"*"TCP"*"$TOPO_VIP4:80/tcp"*"-> $BE1"*) t_ok stats_text ;;
*) t_fail stats_text "$out" ;;
esac

# --rate: per second over the window while traffic runs, zero when it stops
bg_start client1 "$T/load.log" "$TCPNAME" once "$TOPO_VIP4" 80 2000 40000
LOAD=$BG_PID
wait_until 10 web_new_flows_over 100 || t_fail load_started "$(G stats web)"
raw=$(G -j stats web --rate)
rate=$(jq -c '[.rate, (.window_sec > 0.9), (.services[0].new_flows_per_sec > 10), (.services[0].packets_per_sec > 50)]' <<<"$raw")
check_eq stats_rate_under_load "$rate" "[true,true,true,true]"
# rates print as numbers people read (0.077, not 0.076999999999999999): 12 digits at most
check_eq stats_rate_json_digits "$(grep -oE '[0-9]+\.[0-9]+' <<<"$raw" | awk 'length($0) > 13')" ""
bg_stop "$LOAD"
check_eq stats_rate_idle "$(G -j stats web --rate | jq '.services[0].new_flows_per_sec')" 0

# ---- lookup predicts what real connections get ----
check conntrack_flush_web G conntrack flush web
check_eq conntrack_flushed "$(G -j conntrack show web | jq length)" 0
# thousands of flows inserted, then flushed, in a table far from full: nothing evicted (a
# flush not counted apart would show here as evictions)
check_eq flush_is_not_eviction "$(G -j status | jq -c '[.balancer.counts.conntrack_evicted, .balancer.maps.persist_evicted, (.balancer.counts.flows < 100)]')" "[0,0,true]"
check_eq flush_counted "$(G -j stats | jq -c '[.reasons[] | select(.name == "ct-insert" or .name == "ct-flushed") | .packets] | [.[1] > 0, .[0] >= .[1]]')" "[true,true]"
wrong=""
for p in $(seq 41000 41019); do
	want=$(name_of "$(G -j lookup web "$CLIENT:$p" | jq -r .backend)")
	got=$(topo_exec client1 "$TCPNAME" once "$TOPO_VIP4" 80 1 "$p")
	[ "$want" = "$got" ] || wrong+=" $p:$want/$got"
done
check_eq lookup_predicts_backend "$wrong" ""
check_eq lookup_established "$(G -j lookup web "$CLIENT:41000" | jq -r .why)" \
	"established flow in the connection table"
check_eq conntrack_lists_flow "$(G -j conntrack show web | jq -r ".[] | select(.client == \"$CLIENT:41005\") | [.vip, .service, .proto] | join(\" \")")" \
	"$TOPO_VIP4:80 web tcp"
check_eq conntrack_all_services "$(G -j conntrack show | jq '[.[] | select(.service == "web")] | length')" \
	"$(G -j conntrack show web | jq length)"

# ---- apply -f: the diff, a dry run that changes nothing, exactly what was shown ----
# (other spellings of the same VIP and backend are no change: gwd compares canonical forms)
sed -e '/^    - name: api/,$d' -e 's/weight: 50 .*/weight: 100/' \
	-e 's#vip: 198.18.100.1:80/tcp#vip: 198.18.100.1:80#' -e 's#- addr: 2001:2::30#- addr: 2001:0002:0::30#' \
	"$T_ROOT/examples/gwd.yaml" >"$T/edit.yaml"
gen=$(curl -sf --unix-socket "$SOCK" http://gwd/v1/status | jq .generation)
out=$(G apply -f "$T/edit.yaml" --dry-run)
check_eq apply_dry_run_diff "$out" "~ l4.services[web].backends[198.18.0.32].weight: 50 -> 100
- l4.services[api]
dry run: 2 changes not applied"
check_eq apply_dry_run_changes_nothing "$(curl -sf --unix-socket "$SOCK" http://gwd/v1/status | jq .generation)/$(G -j vip show | jq length)" "$gen/4"
out=$(G apply -f "$T/edit.yaml")
check_eq apply_applied "$(tail -1 <<<"$out")" "applied 2 changes (generation $((gen + 1)))"
check_eq apply_result "$(G -j vip show | jq length)/$(G -j backend show web | jq ".[] | select(.addr == \"$BE3\") | .weight")" "3/100"
check_eq apply_again_no_change "$(G apply -f "$T/edit.yaml")" "no changes"
check_eq apply_json_null "$(G -j apply -f "$T/edit.yaml")" null
check_eq apply_json_dry_run "$(G -j apply -f "$T_ROOT/examples/gwd.yaml" --dry-run | jq -c '[.diff[].op]')" '["~","+"]'

# ---- gwd follows the kernel: link MTU, neighbour MACs ----
topo_exec lb1 ip link set eth0 mtu 1400
if wait_until 5 link_mtu_is 1400; then t_ok follows_mtu; else t_fail follows_mtu "$(G link show)"; fi
topo_exec lb1 ip link set eth0 mtu 1500
topo_exec lb1 ip neigh replace "$BE1" lladdr 02:00:00:00:00:99 dev eth0 nud permanent
if wait_until 5 be1_mac_is 02:00:00:00:00:99; then t_ok follows_neighbour; else
	t_fail follows_neighbour "$(be1_mac)"; fi
topo_exec lb1 ip neigh del "$BE1" dev eth0
if wait_until 10 be1_mac_is "$(topo_mac be1)"; then t_ok neighbour_resolved_again; else
	t_fail neighbour_resolved_again "$(be1_mac)"; fi
# a route to be3 via another host: its next hop (and MAC) is that host's, then back
be3_mac() { G -j backend show web | jq -r ".[] | select(.addr == \"$BE3\") | .mac"; }
be3_mac_is() { [ "$(be3_mac)" = "$1" ]; }
topo_exec lb1 ip route add "$BE3/32" via "$CLIENT" dev eth0
if wait_until 5 be3_mac_is "$(topo_mac client1)"; then t_ok follows_route; else
	t_fail follows_route "$(be3_mac)"; fi
topo_exec lb1 ip route del "$BE3/32" via "$CLIENT" dev eth0
if wait_until 5 be3_mac_is "$(topo_mac be3)"; then t_ok follows_route_back; else
	t_fail follows_route_back "$(be3_mac)"; fi
once 30 42000
check_eq traffic_after_neighbour_change "$(grep -c FAIL "$T/once.out")" 0

# ---- -j: every read prints one valid JSON document ----
bad_json=""
for cmd in "link show" "vip show" "vip show web" "backend show" "backend show web" "stats" \
	"stats web" "conntrack show" "conntrack show web" "lookup web $CLIENT:1234" "status" \
	"doctor" "help" "vip help" "version" "decap show"; do
	# shellcheck disable=SC2086
	out=$(G -j $cmd 2>/dev/null)
	jq -e 'type == "object" or type == "array"' <<<"$out" >/dev/null || bad_json+=" [$cmd]"
	[ "$(wc -l <<<"$out")" = 1 ] || bad_json+=" [$cmd: not one line]"
done
check_eq json_reads_valid "$bad_json" ""

# ---- doctor ----
out=$(G doctor)
check_eq doctor_ok_exit $? 0
case "$out" in
*"ok    link eth0: XDP attached in native mode"*"ok    service web: 3 of 3 backends take new flows"*) t_ok doctor_ok_text ;;
*) t_fail doctor_ok_text "$out" ;;
esac
check doctor_setup_empty G vip add empty 198.18.100.9:80
out=$(G -j doctor)
check_eq doctor_fail_exit $? 1
check_eq doctor_names_cause "$(jq -r '.checks[] | select(.status == "fail") | .check + ": " + .detail' <<<"$out")" \
	"service empty: no backends: its packets are dropped (drop-no-backend)"
check doctor_cleanup_empty G vip del empty
out=$(GB be1 doctor)
check_eq doctor_backend_exit $? 0
case "$out" in
*"ok    gwd: not running; a backend host that only decapsulates needs none"*"ok    decap eth0: decap program attached"*"ok    vip: addresses on lo: $TOPO_VIP4, $TOPO_VIP6"*) t_ok doctor_backend_text ;;
*) t_fail doctor_backend_text "$out" ;;
esac

# ---- decap without gwd ----
check_eq decap_show "$(GB be1 -j decap show | jq -c '[.links[0].name, (.addrs | any(. == "'"$BE1"'")), (.reasons[] | select(.name == "decap-stripped") | .packets > 0)]')" \
	'["eth0",true,true]'
check decap_detach GB be3 decap detach eth0
check_eq decap_detached "$(GB be3 -j decap show | jq '.links | length')" 0
check decap_reattach GB be3 decap attach eth0
check_eq decap_reattached "$(GB be3 -j decap show | jq -r '.links[0].name')" eth0

# ---- -d shows the admin API calls ----
out=$(G -d backend set web "$BE2" weight 100 2>&1 >/dev/null)
case "$out" in
"gwctl: PATCH http://gwd/v1/l4/services/web/backends/$BE2 {\"weight\":100}"*) t_ok debug_shows_call ;;
*) t_fail debug_shows_call "$out" ;;
esac

# ---- bash completion, against this instance ----
comp() {
	(
		. "$T_ROOT/cli/gwctl.bash-completion"
		COMP_WORDS=("$GWCTL" --socket "$SOCK" --bpffs "$FS" "$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_gwctl
		echo "${COMPREPLY[*]}"
	)
}
# the objects as the usage text lists them ("OBJECT := { link | vip | ... }")
objects=$("$GWCTL" help | sed -n 's/^OBJECT := { \(.*\) }$/\1/p' | sed 's/ | / /g')
check_eq complete_objects "$(comp "")" "$objects help version"
check_eq complete_prefix "$(comp st)" "stats status"
check_eq complete_services "$(comp vip del '')" "dns web web6"
check_eq complete_backends "$(comp backend set web '')" \
	"$BE1 $BE2 $BE3 weight drain undrain down up check"
check_eq complete_choice_group "$(comp backend set web "$BE1" check '')" "tcp http none inherit"
check_eq complete_keyword_value "$(comp vip add w 1.2.3.4:80 algo '')" "maglev sh rr lc"
check_eq complete_stats "$(comp stats w)" "web web6"

# ---- gwd down: reads and status still work ----
bg_stop "$GWD_PID" TERM
check_eq gwd_clean_exit "$(grep -c 'ERROR: \(Address\|Leak\)Sanitizer' "$T/gwd.log")" 0
check_eq status_gwd_down "$(G -j status | jq -c '[.gwd.running, .balancer.loaded, .balancer.counts.services]')" "[false,true,3]"
out=$(G doctor)
check_eq doctor_gwd_down_exit $? 0
case "$out" in
*"warn  gwd: gwd is not running (no admin socket at $SOCK): the pinned datapath keeps forwarding"*) t_ok doctor_gwd_down ;;
*) t_fail doctor_gwd_down "$out" ;;
esac
once 30 43000
check_eq traffic_gwd_down "$(grep -c FAIL "$T/once.out")" 0

# ---- a wrong --state-dir does not wipe the pinned datapath ----
out=$(topo_exec lb1 timeout 20 "$GWD" --foreground --state-dir "$T/other" --socket "$T/other.sock" \
	--bpffs "$FS" 2>&1)
check_eq empty_start_refused $? 1
case "$out" in
*"the datapath pinned in $FS has 3 services and 1 link, but there is no state file in $T/other and no config file: refusing"*) t_ok empty_start_message ;;
*) t_fail empty_start_message "$out" ;;
esac
check_eq empty_start_no_state_file "$(ls "$T/other" 2>/dev/null)" ""
check_eq empty_start_kept "$(G -j vip show | jq length)/$(G -j link show | jq -r '.[0].name')" 3/eth0
once 30 44000
check_eq traffic_after_empty_start "$(grep -c FAIL "$T/once.out")" 0

# ---- gwd mounts bpffs when nothing is mounted (inside ip netns exec's private /sys) ----
out=$(topo_exec lb1 sh -c "$GWD --foreground --state-dir $T/state2 --socket $T/mnt.sock --bpffs /sys/fs/bpf/xg-$$-mnt >$T/mnt.log 2>&1 &
	pid=\$!
	i=0
	while [ \$i -lt 200 ] && ! [ -S $T/mnt.sock ]; do sleep 0.05; i=\$((i + 1)); done
	stat -f -c %T /sys/fs/bpf/xg-$$-mnt
	kill \$pid; wait \$pid")
check_eq gwd_mounts_bpffs "$out" bpf_fs
t_done
