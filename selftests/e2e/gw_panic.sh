#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway health panic threshold (Envoy's): while at least half of a pool's targets pass their
# checks, the failing ones get no traffic; below that (every check failing at once, as when the
# machine stalls) the pool balances over all of them instead of answering 503, with a metric
# and a log line on entering and leaving panic; panic_threshold: 0 keeps the strict behaviour.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_panic
need_root panic

gw_ns || { t_fail setup "namespace"; exit 1; }
for i in 1 2 3; do
	gw_upstream p$i 900$i --health-file "$GW_TMP/h$i" || t_fail setup "upstream p$i"
done
hc='{path: /health, interval_ms: 100, timeout_ms: 500, healthy: 1, unhealthy: 1}'
targets='[{addr: "127.0.0.1:9001"}, {addr: "127.0.0.1:9002"}, {addr: "127.0.0.1:9003"}]'
cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 1
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams:
    - {name: panic, health_check: $hc, targets: $targets}
    - {name: strict, panic_threshold: 0, health_check: $hc, targets: $targets}
  routes:
    - {name: panic, path: /panic, upstream: panic}
    - {name: strict, path: /strict, upstream: strict}
Y
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not listen"; cat "$GW_TMP/gw.log"; exit 1; }

names() {
	local urls=()
	for i in $(seq 1 "$2"); do urls+=("http://127.0.0.1:8080$1"); done
	gcurl "${urls[@]}" | python3 -c "import json,sys
for l in sys.stdin: print(json.loads(l).get('name') or json.loads(l)['error']['code'])" |
		sort | uniq -c | awk '{print $2"="$1}' | tr '\n' ' '
}
# healthy N: N targets of each pool pass their checks (the metric of both pools agrees).
healthy() {
	local m
	m=$(gw_metrics) || return 1
	[ "$(grep -c 'xdpgw_gateway_upstream_target_healthy{upstream="panic".*} 1' <<<"$m")" = "$1" ] &&
		[ "$(grep -c 'xdpgw_gateway_upstream_target_healthy{upstream="strict".*} 1' <<<"$m")" = "$1" ]
}
metric() { gw_metrics | awk -v k="$1" '$1 == k { print $2 }'; }

check_eq all_healthy "$(names /panic 6)" "p1=2 p2=2 p3=2 "
# 2 of 3 healthy (67%): above the default 50%, the failing target gets nothing.
echo 503 >"$GW_TMP/h3"
check one_down wait_until 5 healthy 2
check_eq above_threshold_avoids_down "$(names /panic 6)" "p1=3 p2=3 "
check_eq not_in_panic "$(metric 'xdpgw_gateway_upstream_panic{upstream="panic"}')" 0
# 1 of 3 (33%): panic, every target takes its share again; the strict pool keeps one.
echo 503 >"$GW_TMP/h2"
check two_down wait_until 5 healthy 1
check_eq panic_spreads "$(names /panic 6)" "p1=2 p2=2 p3=2 "
check_eq strict_uses_healthy "$(names /strict 6)" "p1=6 "
check_eq in_panic "$(metric 'xdpgw_gateway_upstream_panic{upstream="panic"}')" 1
check panic_logged grep -q "upstream panic enters panic: 1 of 3 targets healthy, below 50%" "$GW_TMP/gw.log"
# Every check fails (a stall): panic serves, strict answers 503.
echo 503 >"$GW_TMP/h1"
check all_down wait_until 5 healthy 0
check_eq panic_serves_all_down "$(names /panic 6)" "p1=2 p2=2 p3=2 "
check_eq strict_503 "$(names /strict 2)" "no_healthy_upstream=2 "
check_eq strict_never_panics "$(metric 'xdpgw_gateway_upstream_panic_total{upstream="strict"}')" 0
# Back: panic ends, logged, entered once.
rm -f "$GW_TMP/h1" "$GW_TMP/h2" "$GW_TMP/h3"
check all_back wait_until 5 healthy 3
check_eq out_of_panic "$(metric 'xdpgw_gateway_upstream_panic{upstream="panic"}')" 0
check leave_logged grep -q "upstream panic leaves panic: [23] of 3 targets healthy" "$GW_TMP/gw.log"
check_eq entered_once "$(metric 'xdpgw_gateway_upstream_panic_total{upstream="panic"}')" 1
t_done
