#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway policy interface: an asynchronous policy (gwgate's test-async: a timer on the worker
# loop, like a Redis call) continues, answers 401, and survives client aborts; a bad policy
# config is refused at reload and the old config keeps serving; a worker restart (workers
# changed) keeps serving.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_policy
need_root policy

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
write_conf() {
	cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: $1
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams: [{name: a, targets: [{addr: "127.0.0.1:9001"}]}]
  routes:
    - {name: async, path: /async, upstream: a, policies: [{name: test-async, delay_ms: $2}]}
    - {name: deny, path: /deny, upstream: a, policies: [{name: test-async, delay_ms: 20, deny: true}]}
    - {name: slow, path: /slow, upstream: a, policies: [{name: test-async, delay_ms: 2000}]}
Y
}
write_conf 2 50
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not listen"; cat "$GW_TMP/gw.log"; exit 1; }

check_eq async_continues "$(gcurl http://127.0.0.1:8080/async | python3 -c "import json,sys; print(json.load(sys.stdin)['headers']['x-async'])")" "done"
check_eq async_responds "$(gcurl -w ' %{http_code}' http://127.0.0.1:8080/deny | tr -d '\n')" \
	'{"error":{"status":401,"code":"unauthorized","message":"denied by test-async"}} 401'
for i in 1 2 3 4 5; do nsx g curl -s --max-time 0.2 http://127.0.0.1:8080/slow >/dev/null; done
check_eq survives_aborts "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/async)" "200"
check_eq async_under_load "$(nsx g "$BUILD/tools/httpload" -a 127.0.0.1:8080 -p /async -c 16 -n 400 | sed -E 's/.* ok=([0-9]+) non2xx=([0-9]+) errors=([0-9]+).*/\1 \2 \3/')" "400 0 0"

write_conf 2 0
kill -HUP "$GW_PID"
check bad_policy_error wait_until 5 grep -q '^Error: gateway.routes\[async\].policies\[0\].delay_ms: must be 1-10000' "$GW_TMP/gw.log"
GW_APPLIED=$((GW_APPLIED + 1))
check_eq old_config_serves "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/async)" "200"

write_conf 1 50
check restart_applied gw_reload
check_eq restart_serves "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/async)" "200"
check_eq restart_keeps_metrics "$(gw_metrics | grep -c '^xdpgw_gateway_requests_total{route="async",class="2xx"} 40[0-9]')" "1"
t_done
