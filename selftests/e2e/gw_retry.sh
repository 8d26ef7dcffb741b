#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway retries of calls that failed before any response byte: an instance that accepts and
# closes without answering (GET tried on another target, POST not, never the same target twice,
# within the retry limit), a keep-alive connection the upstream closes as the request arrives
# (GET again on a new connection even with retries: 0; POST not), one that closes idle
# connections, a response timeout, a half-sent head (not retried); retries in the metrics.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_retry
need_root retry

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
gw_upstream b 9002 || t_fail setup "upstream b"
gw_upstream c 9003 || t_fail setup "upstream c"
gw_upstream drop 9011 --drop || t_fail setup "upstream drop"
gw_upstream stale 9012 --silent-close-after 1 || t_fail setup "upstream stale"
gw_upstream idle 9013 --idle-close-ms 200 || t_fail setup "upstream idle"
# Far slower than the response timeout, which is far above what the other target needs on a
# loaded machine (a retry that itself times out would turn the GET into a 504).
gw_upstream slow 9014 --delay-ms 20000 || t_fail setup "upstream slow"
cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 1
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams:
    - name: dropnext
      retries: 2
      passive: {failures: 0}
      targets: [{addr: "127.0.0.1:9011"}, {addr: "127.0.0.1:9001"}]
    - name: droponly
      retries: 2
      passive: {failures: 0}
      targets: [{addr: "127.0.0.1:9011"}]
    - name: noretry
      retries: 0
      passive: {failures: 0}
      targets: [{addr: "127.0.0.1:9011"}, {addr: "127.0.0.1:9001"}]
    - name: stale
      retries: 0
      targets: [{addr: "127.0.0.1:9012"}]
    - name: idle
      retries: 0
      targets: [{addr: "127.0.0.1:9013"}]
    - name: timeout
      retries: 1
      response_timeout_ms: 2000
      passive: {failures: 0}
      targets: [{addr: "127.0.0.1:9014"}, {addr: "127.0.0.1:9001"}]
    - name: partial
      retries: 2
      targets: [{addr: "127.0.0.1:9002"}, {addr: "127.0.0.1:9003"}]
  routes:
    - {name: dropnext, path: /dropnext, upstream: dropnext}
    - {name: droponly, path: /droponly, upstream: droponly}
    - {name: noretry, path: /noretry, upstream: noretry}
    - {name: stale, path: /stale, upstream: stale}
    - {name: idle, path: /idle, upstream: idle}
    - {name: timeout, path: /timeout, upstream: timeout}
    - {name: partial, path: /partial, upstream: partial}
Y
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not listen"; cat "$GW_TMP/gw.log"; exit 1; }

# codes PATH N [CURL ARGS]: the statuses of N requests, counted ("200=5 502=3 ").
codes() {
	local path=$1 n=$2
	shift 2
	for i in $(seq 1 "$n"); do
		gcurl -o /dev/null -w '%{http_code}\n' "$@" "http://127.0.0.1:8080$path"
	done | sort | uniq -c | awk '{print $2"="$1}' | tr '\n' ' '
}
# stat PORT FIELD: a field of a test upstream's /_stats.
stat() {
	gcurl "http://127.0.0.1:$1/_stats" | jq -r ".$2"
}
# retries UPSTREAM TARGET REASON: the retry counter (0 when absent).
retries() {
	gw_metrics | awk -v k="xdpgw_gateway_upstream_retries_total{upstream=\"$1\",target=\"$2\",reason=\"$3\"}" \
		'$1 == k { v = $2 } END { print v + 0 }'
}
count() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2" | grep . || echo 0; }

# An instance that accepts and closes without answering: GETs go to the other target.
d0=$(stat 9011 dropped)
check_eq get_tried_elsewhere "$(gw_names /dropnext 8)" "a=8 "
d1=$(stat 9011 dropped)
check dropper_was_tried test "$d1" -gt "$d0"
check_eq retries_counted "$(retries dropnext 127.0.0.1:9011 no_response)" "$((d1 - d0))"
# A POST that reached it is never sent again: 502, once per POST.
a0=$(stat 9001 requests)
c=$(codes /dropnext 8 -d x)
d2=$(stat 9011 dropped)
check post_not_retried test "$(count 502 "$c")" -ge 1
check_eq post_sent_once "$((d2 - d1))" "$(count 502 "$c")"
check_eq post_others_served "$(($(stat 9001 requests) - a0))" "$(count 200 "$c")"
check_eq json_502_closed "$(gcurl -d x http://127.0.0.1:8080/droponly)" '{"error":{"status":502,"code":"upstream_connection_closed","message":"the upstream closed the connection before responding"}}'
# The only target failed: not tried a second time.
d3=$(stat 9011 dropped)
check_eq get_no_other_target "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/droponly)" 502
check_eq same_target_not_again "$(($(stat 9011 dropped) - d3))" 1
# retries: 0 is respected.
d4=$(stat 9011 dropped)
c=$(codes /noretry 6)
check_eq retries_0_respected "$(count 502 "$c")" "$(($(stat 9011 dropped) - d4))"
check retries_0_failed_some test "$(count 502 "$c")" -ge 1

# A pooled connection closed as the request arrives: GET again on a new one (retries: 0).
s0=$(stat 9012 requests)
check_eq stale_get_all_ok "$(codes /stale 5)" "200=5 "
check_eq stale_retries "$(retries stale 127.0.0.1:9012 stale)" 4
check_eq stale_each_sent_twice "$(($(stat 9012 requests) - s0))" 9
# A POST on a connection that looked alive reached the upstream: not sent again.
s1=$(stat 9012 dropped)
check_eq stale_post_502 "$(gcurl -o /dev/null -w '%{http_code}' -d x http://127.0.0.1:8080/stale)" 502
check_eq stale_post_sent_once "$(($(stat 9012 dropped) - s1))" 1
check_eq stale_post_fresh_ok "$(gcurl -o /dev/null -w '%{http_code}' -d x http://127.0.0.1:8080/stale)" 200

# An upstream that closes idle keep-alive connections: nothing lost, POSTs included.
check_eq idle_first "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/idle)" 200
idle_closed() { [ -z "$(nsx g ss -Htn state all '( dport = :9013 )')" ]; }
check idle_connection_closed wait_until 5 idle_closed
check_eq idle_post_after_close "$(gcurl -o /dev/null -w '%{http_code}' -d x http://127.0.0.1:8080/idle)" 200
ok=0
for i in $(seq 1 8); do
	[ "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/idle)" = 200 ] && ok=$((ok + 1))
	sleep 0.$((15 + i * 2))	# around the upstream's 200 ms idle timeout, on purpose
done
check_eq idle_around_timeout "$ok" 8

# A response timeout before any byte: a GET goes to the other target.
check_eq timeout_get_elsewhere "$(gw_names /timeout 2)" "a=2 "
check timeout_retry_counted test "$(retries timeout 127.0.0.1:9014 timeout)" -ge 1

# Half a response head arrived: the request is not tried again.
t0=$(($(stat 9002 requests) + $(stat 9003 requests)))
check_eq partial_502 "$(gcurl -o /dev/null -w '%{http_code}' 'http://127.0.0.1:8080/partial?_partial=1')" 502
check_eq partial_sent_once "$(($(stat 9002 requests) + $(stat 9003 requests) - t0))" 1
t_done
