#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway through gwd and gwctl: route and upstream changes through the admin API, bad input
# refused without change, and 100 live changes under load with zero failed requests.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_live
need_root live

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
gw_upstream b 9002 || t_fail setup "upstream b"
cat >"$GW_TMP/gwd.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams:
    - {name: pa, targets: [{addr: "127.0.0.1:9001"}]}
  routes:
    - {name: live, path: /live, upstream: pa}
Y
gwd_start "$GW_TMP/gwd.yaml" 8080 || { t_fail setup "gwd did not serve"; tail "$GW_TMP/gwd.log"; exit 1; }
name() { python3 -c "import json,sys; print(json.load(sys.stdin)['name'])"; }

check upstream_add_new_pool gctl upstream add pb 127.0.0.1:9002 weight 50
check route_add gctl route add two /two upstream pb strip-prefix host two.test
check_eq route_served "$(gcurl -H 'Host: two.test' http://127.0.0.1:8080/two/x | name)" "b"
check_eq route_show "$(gctl route show two | tail -1 | tr -s ' ')" "two two.test /two prefix * pb strip"
check_eq upstream_show "$(gctl upstream show pb | tail -1 | tr -s ' ')" "pb rr 127.0.0.1:9002 50 up 0 1024"
gen=$(nsx g curl -s --unix-socket "$GW_TMP/gwd.sock" http://x/v1/status | python3 -c "import json,sys; print(json.load(sys.stdin)['generation'])")
err=$(gctl route add bad /bad upstream nope 2>&1)
check_eq bad_upstream_refused "$err" 'Error: gateway.routes[bad].upstream: unknown upstream "nope"'
err=$(gctl upstream add pb backend.test:80 2>&1)
check_eq bad_target_refused "$err" 'Error: gateway.upstreams[pb].targets[backend.test:80].addr: "backend.test:80": not a numeric IPv4 or [IPv6] address (names are not resolved)'
gen2=$(nsx g curl -s --unix-socket "$GW_TMP/gwd.sock" http://x/v1/status | python3 -c "import json,sys; print(json.load(sys.stdin)['generation'])")
check_eq refused_changes_nothing "$gen2" "$gen"
check upstream_set_weight gctl upstream set pb 127.0.0.1:9002 weight 0
check_eq upstream_drained "$(gctl upstream show pb | tail -1 | tr -s ' ')" "pb rr 127.0.0.1:9002 0 drained 0 1024"
check_eq drained_503 "$(gcurl -H 'Host: two.test' http://127.0.0.1:8080/two/x)" '{"error":{"status":503,"code":"no_healthy_upstream","message":"no healthy target in the route'"'"'s upstream"}}'
err=$(gctl upstream del pb 2>&1)
check_eq pool_in_use_refused "$err" 'Error: gateway.routes[two].upstream: unknown upstream "pb"'
# max_conns: a pool setting from gwctl; bad values are refused by gwctl and by gwd, unchanged.
mc() { gctl -j upstream show pb | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['max_conns'])"; }
check_eq max_conns_default "$(mc)" 1024
check upstream_set_max_conns gctl upstream set pb max_conns 5
check_eq max_conns_set "$(mc)" 5
check upstream_add_max_conns gctl upstream add pb 127.0.0.1:9001 max_conns 7
check_eq max_conns_with_add "$(mc) $(gctl -j upstream show pb | python3 -c "import json,sys; print(len(json.load(sys.stdin)[0]['targets']))")" "7 2"
gen=$(nsx g curl -s --unix-socket "$GW_TMP/gwd.sock" http://x/v1/status | python3 -c "import json,sys; print(json.load(sys.stdin)['generation'])")
err=$(gctl upstream set pb max_conns 2000000 2>&1)
check_eq max_conns_cli_range "$err" 'Error: upstream set: max_conns 2000000 is out of range 0-1000000'
err=$(gctl upstream set pb max_conns many 2>&1)
check_eq max_conns_cli_number "$err" "Error: upstream set: max_conns must be a number, got 'many'"
err=$(nsx g curl -s --unix-socket "$GW_TMP/gwd.sock" -X PATCH -d '{"max_conns":-1}' http://x/v1/gateway/upstreams/pb)
check max_conns_api_refused sh -c "echo '$err' | grep -qF 'gateway.upstreams[pb].max_conns: -1 is out of range 0-1000000'"
gen2=$(nsx g curl -s --unix-socket "$GW_TMP/gwd.sock" http://x/v1/status | python3 -c "import json,sys; print(json.load(sys.stdin)['generation'])")
check_eq max_conns_refused_changes_nothing "$gen2 $(mc)" "$gen 7"
check_eq max_conns_text "$(gctl upstream show pb | awk 'NR > 1 { print $7 }' | sort -u)" "7"
check upstream_set_no_cap gctl upstream set pb max_conns 0
check_eq max_conns_text_no_cap "$(gctl upstream show pb | awk 'NR > 1 { print $7 }' | sort -u)" "-"
check route_del gctl route del two
check_eq route_gone "$(gcurl -o /dev/null -w '%{http_code}' -H 'Host: two.test' http://127.0.0.1:8080/two/x)" "404"

# 100 changes while 8 keep-alive connections load /live.
rm -f "$GW_TMP/stop"
nsx g "$BUILD/tools/httpload" -a 127.0.0.1:8080 -p /live -c 8 -n 10000000 -d 60 -s "$GW_TMP/stop" \
	>"$GW_TMP/load.out" 2>&1 &
load_pid=$!
XG_PIDS+=("$load_pid")
failed_changes=0
for i in $(seq 1 100); do
	case $((i % 4)) in
	1) gctl route add "r$i" "/r$i" upstream pb >/dev/null 2>&1 || failed_changes=$((failed_changes + 1)) ;;
	2) gctl route del "r$((i - 1))" >/dev/null 2>&1 || failed_changes=$((failed_changes + 1)) ;;
	3) gctl upstream add pa 127.0.0.1:9002 >/dev/null 2>&1 || failed_changes=$((failed_changes + 1)) ;;
	0) gctl upstream del pa 127.0.0.1:9002 >/dev/null 2>&1 || failed_changes=$((failed_changes + 1)) ;;
	esac
done
touch "$GW_TMP/stop"
wait_until 20 sh -c "! kill -0 $load_pid 2>/dev/null"
out=$(cat "$GW_TMP/load.out")
echo "# load during 100 changes: $out"
check_eq changes_accepted "$failed_changes" 0
check_eq zero_failed_requests "$(echo "$out" | sed -E 's/.* non2xx=([0-9]+) errors=([0-9]+).*/\1 \2/')" "0 0"
check load_ran test "$(echo "$out" | sed -E 's/requests=([0-9]+).*/\1/')" -gt 1000
nsx g curl -s --unix-socket "$GW_TMP/gwd.sock" http://x/metrics >"$GW_TMP/metrics.txt"
check gwd_metrics_gateway grep -q '^xdpgw_gateway_requests_total{route="live",class="2xx"} [1-9]' "$GW_TMP/metrics.txt"
check gwd_metrics_up grep -q '^xdpgw_gateway_up 1' "$GW_TMP/metrics.txt"
check_eq pool_restored "$(gctl upstream show pa | wc -l)" "2"
t_done
