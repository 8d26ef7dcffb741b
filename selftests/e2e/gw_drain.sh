#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway worker restart with connections that outlive limits.drain_timeout_ms: a request held
# by a slow upstream and a cache fetch with a coalesced waiter are closed at the deadline
# (clients get an answer or EOF, not a hang), the upstream sees its connections closed, the
# old workers' descriptors are all closed, and a later miss on the cached key does not wait
# for the abandoned fetch (lock_timeout_ms).
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_drain
need_root drain

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
gw_upstream s 9003 --delay-ms 30000 || t_fail setup "upstream s"
conf() {	# conf DRAIN_MS CACHE_UPSTREAM
	cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 1
  listeners: [{addr: 127.0.0.1:8080}]
  limits: {drain_timeout_ms: $1}
  upstreams:
    - {name: pa, targets: [{addr: "127.0.0.1:9001"}]}
    - {name: slow, targets: [{addr: "127.0.0.1:9003"}]}
  routes:
    - {name: slow, path: /slow, upstream: slow}
    - {name: c, path: /c, upstream: $2, policies: [{name: cache, lock_timeout_ms: 20000}]}
Y
}
conf 300 slow
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not serve"; exit 1; }
nfds() { ls "/proc/$GW_PID/fd" | wc -l; }
base=$(nfds)
stat_ge() { [ "$(gcurl http://127.0.0.1:9003/_stats | jq -r ".$1")" -ge "$2" ]; }
coalesced() { gw_metrics | awk '/^xdpgw_gateway_cache_coalesced_total\{route="c"\}/ {print $2}'; }

# A request the slow upstream holds, a cache fetch, and a miss coalesced onto that fetch.
pids=()
for p in slow/x c/k; do
	nsx g curl -s -o /dev/null -w '%{http_code}' --max-time 25 "http://127.0.0.1:8080/$p" \
		>"$GW_TMP/${p%%/*}.code" 2>/dev/null &
	pids+=($!)
	XG_PIDS+=($!)
done
wait_until 5 stat_ge requests 2 || t_fail setup "the slow upstream did not get both requests"
nsx g curl -s -o /dev/null -w '%{http_code}' --max-time 25 "http://127.0.0.1:8080/c/k" \
	>"$GW_TMP/waiter.code" 2>/dev/null &
pids+=($!)
XG_PIDS+=($!)
coalesced_is() { [ "$(coalesced)" = "$1" ]; }
check waiter_coalesced wait_until 5 coalesced_is 1

# A limit change restarts the workers; the old one drains 300 ms, then closes what is left.
conf 301 pa
check restart gw_reload
done_all() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
check clients_answered wait_until 6 done_all
check slow_request_ended grep -qxE "000|502" "$GW_TMP/slow.code"
check upstream_saw_close wait_until 5 stat_ge aborted 2
check logged grep -q "still open after 300 ms of draining; closing them" "$GW_TMP/gw.log"
check_eq nothing_abandoned "$(grep -c 'left the worker.s memory' "$GW_TMP/gw.log")" 0
fds_back() { [ "$(nfds)" -le "$base" ]; }
check fds_closed wait_until 5 fds_back
# The fetch on the old worker was ended: a miss now goes upstream at once.
check_eq miss_not_held "$(gcurl --max-time 5 -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/c/k)" 200
check_eq still_serves "$(gcurl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/c/k)" 200

t_done
