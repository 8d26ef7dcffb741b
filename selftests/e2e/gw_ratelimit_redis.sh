#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Cluster-wide rate limiting: two gwd instances (two workers each) on one Redis server of
# the test's own (inside the test namespace). Strict mode admits exactly N of a concurrent
# burst spread over both; batched mode stays within its documented bound; with Redis stopped,
# fail-closed answers 503 and fail-open admits, both counted and logged once; when Redis comes
# back, decisions resume. A Redis that accepts and never answers: calls past max_in_flight are
# not sent (the fail mode decides at once, counted as overflow), timed-out calls keep their place.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_ratelimit_redis
need_root ratelimit_redis
command -v redis-server >/dev/null || { t_skip ratelimit_redis "redis-server not installed"; exit 0; }

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
REDIS_PORT=6390
redis_start() {
	bg_start g "$GW_TMP/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
		--save '' --appendonly no --protected-mode no
	REDIS_PID=$BG_PID
	wait_listen g "$REDIS_PORT"
}
rcli() { nsx g redis-cli -p "$REDIS_PORT" "$@"; }
redis_start || { t_fail setup "redis-server"; exit 1; }

# The strict route fails closed: a call slower than its timeout_ms answers 503, so the timeout
# is far above what Redis needs on a loaded machine (a stopped Redis fails at once anyway).
conf() {
	cat <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:$1}]
  upstreams:
    - {name: a, targets: [{addr: "127.0.0.1:9001"}]}
  routes:
    - name: strict
      path: /strict
      upstream: a
      policies:
        - name: rate-limit
          limit: 40
          window: hour
          key: header
          header: X-Tenant
          scope: tenants
          policy: redis
          redis: {addr: "127.0.0.1:$REDIS_PORT", fail: closed, timeout_ms: 2000}
    - name: batched
      path: /batched
      upstream: a
      policies:
        - name: rate-limit
          limit: 40
          window: hour
          key: header
          header: X-Tenant
          scope: batched
          policy: redis
          redis: {addr: "127.0.0.1:$REDIS_PORT", mode: batched, batch: 5, sync_ms: 50}
    - name: open
      path: /open
      upstream: a
      policies:
        - name: rate-limit
          limit: 1000
          key: ip
          policy: redis
          redis: {addr: "127.0.0.1:$REDIS_PORT", fail: open}
Y
}
conf 8080 >"$GW_TMP/gw1.yaml"
conf 8081 >"$GW_TMP/gw2.yaml"
# Two gwd instances (the ASan build: the Redis path runs under the sanitizers).
prefer_asan_gwd
for i in 1 2; do
	bg_start g "$GW_TMP/gwd$i.log" "$GWD" --config "$GW_TMP/gw$i.yaml" --state-dir "$GW_TMP/state$i" \
		--socket "$GW_TMP/gwd$i.sock" --bpffs "$(bpffs_dir "gwd$i")" --foreground
	eval "GWD${i}_PID=$BG_PID"
	wait_listen g $((8079 + i)) 10 || { t_fail setup "gwd $i"; tail "$GW_TMP/gwd$i.log"; exit 1; }
done
gw_metrics() { nsx g curl -s --unix-socket "$GW_TMP/gwd1.sock" http://x/metrics; }

# burst PATH TENANT N: N requests, 8 at a time, alternating between the two instances.
burst() {
	seq 1 "$3" | xargs -P 8 -I{} sh -c 'ip netns exec "$0" curl -s -o /dev/null -w "%{http_code}\n" \
		--max-time 5 -H "X-Tenant: $3" "http://127.0.0.1:$((8080 + {} % 2))$1"' \
		"$(ns g)" "$1" "$3" "$2" >"$GW_TMP/codes"
}
n200() { grep -c '^200$' "$GW_TMP/codes"; }
# codes: "N CODE, ..." of the last burst, for failure messages
codes() { sort "$GW_TMP/codes" | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }'; }

# ---- strict: exactly the limit, across 2 instances x 2 workers ----
burst /strict t1 160
check_eq strict_exact_200 "$(n200)" "40"
check_eq strict_rest_429 "$(grep -c '^429$' "$GW_TMP/codes") ($(codes))" "120 (40 200, 120 429)"
gw_metrics | grep '^xdpgw_gateway_redis_calls_total' | sed 's/^/# gwd1 after the strict burst: /' >&2
check strict_key_in_redis sh -c "ip netns exec $(ns g) redis-cli -p $REDIS_PORT exists 'xdpgw:rl:tenants:h:t1' | grep -qx 1"
check_eq other_tenant_ok "$(gcurl -o /dev/null -w '%{http_code}' -H 'X-Tenant: t2' http://127.0.0.1:8081/strict)" "200"

# ---- batched: at least the limit, at most limit + instances x batch (2 x 5) ----
burst /batched t1 160
got=$(n200)
check batched_within_bound test "$got" -ge 40 -a "$got" -le 50
echo "# batched mode admitted $got of 160 (limit 40, bound 50)"

# ---- Redis down: fail closed and fail open ----
bg_stop "$REDIS_PID"
check_eq fail_closed_503 "$(gcurl -o /dev/null -w '%{http_code}' -H 'X-Tenant: t3' http://127.0.0.1:8080/strict)" "503"
check_eq fail_closed_503_again "$(gcurl -o /dev/null -w '%{http_code}' -H 'X-Tenant: t3' http://127.0.0.1:8080/strict)" "503"
check_eq fail_open_200 "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/open)" "200"
gcurl -D "$GW_TMP/h" -o "$GW_TMP/b" -H 'X-Tenant: t3' http://127.0.0.1:8081/strict
check_eq fail_closed_json "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["error"]["code"])' <"$GW_TMP/b")" "rate_limit_unavailable"
check fail_closed_retry_after grep -qi '^retry-after: 1' "$GW_TMP/h"
check_eq down_logged_once "$(grep -c 'redis 127.0.0.1:'$REDIS_PORT' is down' "$GW_TMP/gwd1.log")" "1"
gw_metrics >"$GW_TMP/m.txt"
check metrics_fail_closed grep -q '^xdpgw_gateway_ratelimit_total{result="fail_closed"} [1-9]' "$GW_TMP/m.txt"
check metrics_fail_open grep -q '^xdpgw_gateway_ratelimit_total{result="fail_open"} [1-9]' "$GW_TMP/m.txt"
check metrics_redis_down grep -q '^xdpgw_gateway_redis_up{addr="127.0.0.1:'$REDIS_PORT'"} 0' "$GW_TMP/m.txt"

# ---- Redis back: decisions resume (a fresh server: the tenant starts with a full burst) ----
redis_start || t_fail redis_restart "redis-server"
ok_again() { [ "$(gcurl -o /dev/null -w '%{http_code}' -H 'X-Tenant: t4' http://127.0.0.1:8080/strict)" = 200 ]; }
check recovers wait_until 10 ok_again
check_eq up_logged "$(grep -c "redis 127.0.0.1:$REDIS_PORT is up again" "$GW_TMP/gwd1.log")" "1"
burst /strict t5 60
check_eq strict_exact_after_recovery "$(n200)" "40"
gw_metrics >"$GW_TMP/m.txt"
check metrics_redis_up grep -q '^xdpgw_gateway_redis_up{addr="127.0.0.1:'$REDIS_PORT'"} 1' "$GW_TMP/m.txt"
gwd_stop "$GWD1_PID"
rc1=$GWD_RC
gwd_stop "$GWD2_PID"
check_eq gwd_clean_exit "$rc1 $GWD_RC" "0 0"
check no_asan_report sh -c "! grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error' '$GW_TMP/gwd1.log' '$GW_TMP/gwd2.log'"

# ---- max_in_flight: a Redis that accepts and never answers ----
bg_start g "$GW_TMP/blackhole.log" python3 -c '
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 6391))
s.listen(16)
held = []
s.settimeout(0.2)
end = time.time() + 30
while time.time() < end:
	try:
		held.append(s.accept()[0])
	except socket.timeout:
		pass
'
wait_listen g 6391 || t_fail setup "black hole"
cat >"$GW_TMP/bh.yaml" <<Y
gateway:
  workers: 1
  listeners: [{addr: 127.0.0.1:8092}]
  upstreams: [{name: a, targets: [{addr: "127.0.0.1:9001"}]}]
  routes:
    - name: bh
      path: /bh
      upstream: a
      policies:
        - name: rate-limit
          limit: 1000
          key: ip
          policy: redis
          redis: {addr: "127.0.0.1:6391", fail: closed, timeout_ms: 1500, max_in_flight: 2}
Y
gw_start "$GW_TMP/bh.yaml" 8092 || t_fail setup "gwgate"
gate_metrics() {
	rm -f "$GW_TMP/metrics"
	kill -USR1 "$GW_PID"
	wait_until 5 test -s "$GW_TMP/metrics" && grep "^xdpgw_gateway_redis_calls_total.*result=\"$1\"" "$GW_TMP/metrics"
}
bh_calls() { [ "$(gate_metrics sent | awk '{print $2}')" = 2 ]; }
for i in 1 2; do
	bg_start g "$GW_TMP/bh$i" curl -s --max-time 10 -o /dev/null -w '%{http_code}' http://127.0.0.1:8092/bh
	eval "BH${i}_PID=$BG_PID"
done
check bh_two_in_flight wait_until 5 bh_calls
check_eq bh_third_not_sent "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8092/bh) $(gate_metrics overflow)" \
	'503 xdpgw_gateway_redis_calls_total{addr="127.0.0.1:6391",result="overflow"} 1'
wait "$BH1_PID" "$BH2_PID"
check_eq bh_timed_out_fail_closed "$(cat "$GW_TMP/bh1") $(cat "$GW_TMP/bh2") $(gate_metrics timeout)" \
	'503 503 xdpgw_gateway_redis_calls_total{addr="127.0.0.1:6391",result="timeout"} 2'
# the two timed-out calls still wait for their replies: still no room
check_eq bh_timed_out_keep_place "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8092/bh) $(gate_metrics overflow)" \
	'503 xdpgw_gateway_redis_calls_total{addr="127.0.0.1:6391",result="overflow"} 2'
bg_stop "$GW_PID"
t_done
