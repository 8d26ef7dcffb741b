#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway upstream pools: each algorithm's distribution, retry of failed connects (any
# method), passive ejection, active health checks (ejection and return), response timeout,
# 502/503/504 JSON, max_conns (the next target, then 503 upstream_busy, counted).
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_upstreams
need_root upstreams

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
gw_upstream b 9002 || t_fail setup "upstream b"
gw_upstream c 9003 || t_fail setup "upstream c"
gw_upstream slow 9004 --delay-ms 1000 || t_fail setup "upstream slow"
gw_upstream slow2 9007 --delay-ms 1000 || t_fail setup "upstream slow2"
gw_upstream h1 9005 || t_fail setup "upstream h1"
gw_upstream h2 9006 --health-status 200
H2_PID=$UP_PID
cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 1
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams:
    - name: rr
      targets: [{addr: "127.0.0.1:9001", weight: 300}, {addr: "127.0.0.1:9002", weight: 100}]
    - name: hash
      algorithm: hash
      hash_on: header
      hash_key: X-User
      targets: [{addr: "127.0.0.1:9001"}, {addr: "127.0.0.1:9002"}, {addr: "127.0.0.1:9003"}]
    - name: lc
      algorithm: lc
      targets: [{addr: "127.0.0.1:9004"}, {addr: "127.0.0.1:9007"}]
    - name: p2c
      algorithm: p2c
      targets: [{addr: "127.0.0.1:9001"}, {addr: "127.0.0.1:9002"}, {addr: "127.0.0.1:9003"}]
    - name: retry
      retries: 2
      passive: {failures: 1000}
      targets: [{addr: "127.0.0.1:9101"}, {addr: "127.0.0.1:9102"}, {addr: "127.0.0.1:9001"}]
    - name: dead
      targets: [{addr: "127.0.0.1:9101"}]
    - name: eject
      passive: {failures: 2, eject_ms: 60000}
      retries: 0
      targets: [{addr: "127.0.0.1:9103"}, {addr: "127.0.0.1:9002"}]
    - name: timeout
      response_timeout_ms: 300
      targets: [{addr: "127.0.0.1:9004"}]
    - name: health
      health_check: {path: /health, interval_ms: 100, timeout_ms: 500, healthy: 2, unhealthy: 2}
      targets: [{addr: "127.0.0.1:9005"}, {addr: "127.0.0.1:9006"}]
    - name: capped
      algorithm: hash
      hash_on: header
      hash_key: X-User
      max_conns: 1
      targets: [{addr: "127.0.0.1:9001"}, {addr: "127.0.0.1:9002"}]
  routes:
    - {name: rr, path: /rr, upstream: rr}
    - {name: hash, path: /hash, upstream: hash}
    - {name: lc, path: /lc, upstream: lc}
    - {name: p2c, path: /p2c, upstream: p2c}
    - {name: retry, path: /retry, upstream: retry}
    - {name: dead, path: /dead, upstream: dead}
    - {name: eject, path: /eject, upstream: eject}
    - {name: timeout, path: /timeout, upstream: timeout}
    - {name: health, path: /health-route, upstream: health}
    - {name: capped, path: /capped, upstream: capped}
Y
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not listen"; cat "$GW_TMP/gw.log"; exit 1; }


check_eq rr_weighted "$(gw_names /rr 40)" "a=30 b=10 "
u1=$(gw_names /hash 10 -H 'X-User: alice')
u2=$(gw_names /hash 10 -H 'X-User: bob')
check hash_sticky_alice sh -c "echo '$u1' | grep -Eq '^[abc]=10 $'"
check hash_sticky_bob sh -c "echo '$u2' | grep -Eq '^[abc]=10 $'"
spread=$(for u in $(seq 1 30); do gcurl -H "X-User: user$u" http://127.0.0.1:8080/hash; done | jq -r .name | sort -u | wc -l)
check_eq hash_spreads "$spread" 3
p=$(gw_names /p2c 60)
check p2c_uses_all sh -c "echo '$p' | grep -q 'a=' && echo '$p' | grep -q 'b=' && echo '$p' | grep -q 'c='"
# lc: 4 concurrent slow requests over 2 targets: each new one goes to the least busy.
pids=()
for i in 1 2 3 4; do
	gcurl http://127.0.0.1:8080/lc >"$GW_TMP/lc$i" &
	pids+=($!)
done
wait "${pids[@]}"
lc=$(cat "$GW_TMP"/lc? | python3 -c "import json,sys; print(sorted(json.loads(l)['name'] for l in sys.stdin))")
check_eq lc_balances_in_flight "$lc" "['slow', 'slow', 'slow2', 'slow2']"

# Connect failures are retried on the next target; a POST too, as nothing of it was sent
# (gw_retry.sh tests POSTs that reached an upstream: those are not).
check_eq retry_get "$(gw_names /retry 6)" "a=6 "
codes=$(for i in 1 2 3 4 5 6; do gcurl -o /dev/null -w '%{http_code} ' -d x http://127.0.0.1:8080/retry; done)
check_eq post_connect_failure_retried "$codes" "200 200 200 200 200 200 "
check_eq json_502 "$(gcurl http://127.0.0.1:8080/dead)" '{"error":{"status":502,"code":"upstream_connect_failed","message":"could not connect to the upstream"}}'
# Passive ejection: after 2 failed connects the dead target gets no more traffic.
for i in 1 2 3 4; do gcurl -o /dev/null http://127.0.0.1:8080/eject; done
check_eq passive_ejection "$(gw_names /eject 6)" "b=6 "
check_eq json_504 "$(gcurl http://127.0.0.1:8080/timeout)" '{"error":{"status":504,"code":"upstream_timeout","message":"the upstream did not respond in time"}}'

# max_conns 1: a second request for the same hash key goes to the ring's next target; a third
# finds both at their cap: 503 at once, counted. Finished calls give their slots back.
capped_in_flight() {
	gw_metrics | grep '^xdpgw_gateway_upstream_target_in_flight{upstream="capped"' |
		awk '{s += $2} END {print s + 0}'
}
bg_start g "$GW_TMP/held1" curl -sS --max-time 20 -H 'X-User: k' 'http://127.0.0.1:8080/capped?_delay_ms=3000'
HELD1=$BG_PID
check cap_first_held wait_until 5 eval '[ "$(capped_in_flight)" = 1 ]'
bg_start g "$GW_TMP/held2" curl -sS --max-time 20 -H 'X-User: k' 'http://127.0.0.1:8080/capped?_delay_ms=3000'
HELD2=$BG_PID
check cap_next_target_takes_it wait_until 5 eval '[ "$(capped_in_flight)" = 2 ]'
check_eq cap_all_full_503 "$(gcurl -w ' %{http_code}' -H 'X-User: k' http://127.0.0.1:8080/capped | tr -d '\n')" \
	'{"error":{"status":503,"code":"upstream_busy","message":"every target of the route'"'"'s upstream is at its connection limit"}} 503'
m=$(gw_metrics)
check_eq cap_busy_counted "$(echo "$m" | grep '^xdpgw_gateway_upstream_busy_total{upstream="capped"}')" \
	'xdpgw_gateway_upstream_busy_total{upstream="capped"} 1'
# the second request passed its target over once, the third both: 3
check_eq cap_hits_counted "$(echo "$m" | grep '^xdpgw_gateway_upstream_target_conn_limit_total{upstream="capped"' |
	awk '{s += $2} END {print s + 0}')" 3
check_eq cap_gauge "$(echo "$m" | grep '^xdpgw_gateway_upstream_max_conns{upstream="capped"}')" \
	'xdpgw_gateway_upstream_max_conns{upstream="capped"} 1'
check cap_released_when_done wait_until 10 eval '[ "$(capped_in_flight)" = 0 ]'
wait "$HELD1" "$HELD2"
check_eq cap_held_on_both_targets "$(cat "$GW_TMP/held1" "$GW_TMP/held2" | python3 -c "import json,sys
print(sorted(json.loads(l)['name'] for l in sys.stdin))")" "['a', 'b']"
check_eq cap_free_again "$(gcurl -o /dev/null -w '%{http_code}' -H 'X-User: k' http://127.0.0.1:8080/capped)" 200

# Active health checks: h2 stops answering -> ejected; back -> returns.
check_eq health_both "$(gw_names /health-route 4)" "h1=2 h2=2 "
bg_stop "$H2_PID"
gw_upstream h2b 9006 --name h2 --health-status 503
H2_PID=$UP_PID
healthy() { gw_metrics | grep -q "xdpgw_gateway_upstream_target_healthy{upstream=\"health\",target=\"127.0.0.1:9006\"} $1"; }
check health_ejected wait_until 5 healthy 0
check_eq health_traffic_moves "$(gw_names /health-route 4)" "h1=4 "
bg_stop "$H2_PID"
gw_upstream h2c 9006 --name h2
check health_returns wait_until 5 healthy 1
check_eq health_traffic_back "$(gw_names /health-route 4)" "h1=2 h2=2 "
t_done
