#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The layered path for real, set up like `make demo` (selftests/lib/edge.sh, examples/demo-*.yaml
# applied with gwctl): client1 -> XDP balancer on lb1 -> IPIP -> decap on gw1/gw2 -> gateway ->
# users-1/2, products-1/2. IPv4 and IPv6 VIPs, the client's address seen by the services, flows
# spread over both gateways and all instances, counted by gwctl stats and the gateways' metrics;
# a killed service instance leaves every gateway's selection with no failed request after the
# verdict and comes back; with L4 health checks, a killed gateway leaves lb1's selection and
# comes back after a gwd restart from its state file.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/topo.sh"
. "$(dirname "$0")/../lib/edge.sh"
t_init layered
need_root layered

REQLOOP=$BUILD/tools/reqloop
[ -x "$REQLOOP" ] && [ -x "$BUILD/tools/upstream" ] ||
	{ t_fail setup "build/tools missing (make tools)"; exit 1; }
edge_create || { t_fail setup "edge_create"; exit 1; }
edge_configure || { t_fail configure "$(tail -3 "$EDGE_DIR"/*/gwd.log)"; exit 1; }
t_ok configured_from_examples
topo_env
T=$EDGE_DIR
now_ms() { date +%s%3N; }

# ---- the path, IPv4 and IPv6 ----
for fam in 4 6; do
	url="http://$TOPO_VIP4/users/42?x=1"
	[ $fam = 6 ] && url="http://[$TOPO_VIP6]/products/7"
	got=$(topo_exec client1 curl -sf --max-time 5 "$url" |
		jq -r '[.name, .path, .headers["x-forwarded-for"], .headers.via] | join(" ")')
	want="users-[12] /users/42[?]x=1 $(topo_addr client1 4) 1.1 xdpgw"	# a glob
	[ $fam = 6 ] && want="products-[12] /products/7 $(topo_addr client1 6) 1.1 xdpgw"
	# shellcheck disable=SC2053
	if [[ "$got" == $want ]]; then t_ok "v${fam}_path_client_address_kept"; else
		t_fail "v${fam}_path_client_address_kept" "got '$got', want '$want'"; fi
done

# ---- spread: 200 new connections over both gateways and all four instances ----
flows() { edge_gwctl lb1 -j stats api | jq -r '[.services[0].backends[].new_flows] | join(" ")'; }
read -r f1 f2 <<<"$(flows)"
s1=$(edge_served gw1) s2=$(edge_served gw2)
# A request fails on an error, or on no answer within 5 s (-t; reqloop's default 2 s is less
# than a starved node can take on a loaded machine).
topo_exec client1 "$REQLOOP" -a "$TOPO_VIP4:80" -p /users,/products -r 400 -d 0.5 -t 5000 \
	>"$T/burst.out"
n=$(grep -c '^[0-9]' "$T/burst.out")
check_eq burst_all_answered "$(awk '$4 == 200' "$T/burst.out" | wc -l)" "$n"
check_eq burst_all_instances "$(awk '$4 == 200 {print $5}' "$T/burst.out" | sort -u | tr '\n' ' ')" \
	"products-1 products-2 users-1 users-2 "
read -r g1 g2 <<<"$(flows)"
g1=$((g1 - f1)) g2=$((g2 - f2))
if [ "$g1" -gt 0 ] && [ "$g2" -gt 0 ] && [ $((g1 + g2)) = "$n" ]; then t_ok burst_spread_over_gateways
else t_fail burst_spread_over_gateways "lb1 new flows gw1 $g1, gw2 $g2 of $n"; fi
check_eq gateways_counted_every_request "$(($(edge_served gw1) - s1 + $(edge_served gw2) - s2))" "$n"
# gwctl route stats: one route, text and JSON, bad input
out=$(edge_gwctl gw1 route stats users)
case "$out" in
"ROUTE "*"REQUESTS"*"2XX"*"MEAN_MS"*$'\n'"users "*) t_ok route_stats_text ;;
*) t_fail route_stats_text "$out" ;;
esac
check_eq route_stats_json "$(edge_gwctl gw1 -j route stats users | jq -c '[length, (.[0].requests == .[0].by_class["2xx"]), (.[0].mean_ms > 0)]')" \
	"[1,true,true]"
out=$(edge_gwctl gw1 route stats nosuch 2>&1)
check_eq route_stats_unknown "$?:$out" "1:Error: route stats: no route 'nosuch' in the gateway's metrics"
stripped() {
	edge_gwctl "$1" -j decap show | jq '.reasons[] | select(.name == "decap-stripped") | .packets'
}
if [ "$(stripped gw1)" -gt 0 ] && [ "$(stripped gw2)" -gt 0 ]; then t_ok gateways_decapsulated
else t_fail gateways_decapsulated "gw1 $(stripped gw1), gw2 $(stripped gw2)"; fi

# ---- a client loop for the failovers: 100 requests/s on new connections ----
rm -f "$T/stop"
topo_exec client1 "$REQLOOP" -a "$TOPO_VIP4:80" -p /users,/products -r 100 -d 60 -t 5000 \
	-s "$T/stop" >"$T/loop.out" &
LOOP=$!
XG_PIDS+=("$LOOP")
wait_until 5 test -s "$T/loop.out" || t_fail loop_starts
# failed_since MS: requests started at or after MS that failed (no answer, or >= 400)
failed_since() {
	awk -v a="$1" '$1 ~ /^[0-9]+$/ && $1 >= a && ($4 == "fail" || $4 + 0 >= 400)' "$T/loop.out" |
		wc -l
}
# served_since MS NAME: requests started at or after MS answered by NAME
served_since() { awk -v a="$1" -v n="$2" '$1 >= a && $5 == n' "$T/loop.out" | wc -l; }
requests_since() { [ "$(awk -v a="$1" '$1 ~ /^[0-9]+$/ && $1 >= a' "$T/loop.out" | wc -l)" -ge "$2" ]; }

# ---- a service instance dies: the gateways take it out, then back ----
USERS1=$(edge_target svc1)
state_on() { edge_gwctl "$1" -j upstream show users | jq -r ".[].targets[] | select(.addr == \"$USERS1\") | .state"; }
out_everywhere() { [ "$(state_on gw1)" != up ] && [ "$(state_on gw2)" != up ]; }
up_everywhere() { [ "$(state_on gw1)" = up ] && [ "$(state_on gw2)" = up ]; }
edge_svc_stop svc1 KILL
if wait_until 10 out_everywhere; then t_ok instance_out_on_both_gateways; else
	t_fail instance_out_on_both_gateways "gw1 $(state_on gw1), gw2 $(state_on gw2)"; fi
t=$(now_ms)
wait_until 10 requests_since "$t" 100
check_eq no_failure_after_instance_out "$(failed_since "$t")" 0
check_eq users_served_by_users2_only "$(served_since "$t" users-1)" 0
edge_svc_start svc1 || t_fail instance_restarts
if wait_until 10 up_everywhere; then t_ok instance_back_on_both_gateways; else
	t_fail instance_back_on_both_gateways "gw1 $(state_on gw1), gw2 $(state_on gw2)"; fi
t=$(now_ms)
wait_until 10 requests_since "$t" 100
check_eq no_failure_after_instance_back "$(failed_since "$t")" 0
if [ "$(served_since "$t" users-1)" -gt 0 ]; then t_ok instance_serves_again; else
	t_fail instance_serves_again "no request answered by users-1"; fi

# ---- a gateway dies: lb1's health checks take it out ----
health() {
	edge_gwctl lb1 -j backend show api |
		jq -r ".[] | select(.addr == \"$(topo_addr "$1" 4)\") | .health.state"
}
health_is() { [ "$(health "$1")" = "$2" ]; }
both_up() { health_is gw1 up && health_is gw2 up; }
if wait_until 10 both_up; then t_ok l4_checks_from_example_pass; else
	t_fail l4_checks_from_example_pass "$(edge_gwctl lb1 backend show api)"; fi
edge_gwd_stop gw2 KILL
if wait_until 10 health_is gw2 down; then t_ok gateway_out; else
	t_fail gateway_out "$(edge_gwctl lb1 backend show api)"; fi
t=$(now_ms)
read -r f1 f2 <<<"$(flows)"
wait_until 10 requests_since "$t" 100
check_eq no_failure_after_gateway_out "$(failed_since "$t")" 0
read -r g1 g2 <<<"$(flows)"
check_eq no_new_flow_to_dead_gateway "$((g2 - f2))" 0
edge_gwd_start gw2 || t_fail gateway_restarts "$(tail -3 "$T/gw2/gwd.log")"
if wait_until 10 health_is gw2 up; then t_ok gateway_back; else
	t_fail gateway_back "$(edge_gwctl lb1 backend show api)"; fi
check_eq gateway_config_from_state "$(edge_gwctl gw2 -j route show | jq -r '[.[].name] | join(",")')" \
	users,products
t=$(now_ms)
read -r f1 f2 <<<"$(flows)"
wait_until 10 requests_since "$t" 100
check_eq no_failure_after_gateway_back "$(failed_since "$t")" 0
read -r g1 g2 <<<"$(flows)"
if [ $((g2 - f2)) -gt 0 ]; then t_ok gateway_takes_flows_again; else
	t_fail gateway_takes_flows_again "no new flow to gw2"; fi
touch "$T/stop"
wait "$LOOP"
t_done
