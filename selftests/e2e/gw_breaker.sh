#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway circuit breaker through gwd: opening on consecutive failures (5xx and connect
# errors) and on an error ratio, fast 503 with Retry-After without touching the target,
# half-open trials (a limited number at a time), closing and re-opening; state in gwctl
# upstream show, metrics and the log.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_breaker
need_root breaker

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
gw_upstream r 9002 || t_fail setup "upstream r"
cat >"$GW_TMP/gwd.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams:
    - name: a
      targets: [{addr: "127.0.0.1:9001"}]
      passive: {failures: 0}
      circuit_breaker: {failures: 3, open_ms: 3000, half_open_requests: 2}
    - name: r
      targets: [{addr: "127.0.0.1:9002"}]
      passive: {failures: 0}
      circuit_breaker: {error_ratio: 0.5, window_ms: 10000, min_requests: 10, open_ms: 60000}
    - name: dead
      targets: [{addr: "127.0.0.1:9009"}]
      retries: 0
      passive: {failures: 0}
      circuit_breaker: {failures: 2, open_ms: 60000}
  routes:
    - {name: a, path: /a, upstream: a}
    - {name: r, path: /r, upstream: r}
    - {name: dead, path: /dead, upstream: dead}
Y
gwd_start "$GW_TMP/gwd.yaml" 8080 || { t_fail setup "gwd did not serve"; tail "$GW_TMP/gwd.log"; exit 1; }

code() { gcurl -o /dev/null -w '%{http_code}' "http://127.0.0.1:8080$1"; }
codes() { local p out=""; for p in "$@"; do out="$out$(code "$p") "; done; echo "${out% }"; }
# jq, not python: the open phase below must fit in open_ms, and a python start costs up to half
# a second on a loaded machine
up_requests() { nsx g curl -s "http://127.0.0.1:$1/_stats" | jq -r .requests; }
state() { gctl -j upstream show "$1" | jq -r '.[0].targets[0].breaker'; }
state_is() { [ "$(state "$1")" = "$2" ]; }
up_at_least() { [ "$(up_requests "$1")" -ge "$2" ]; }

check_eq starts_closed "$(state a) $(gctl upstream show a | tail -1 | awk '{print $5}')" "closed up"

# ---- consecutive failures: a success in between resets the count ----
check_eq success_resets_count "$(codes '/a?_status=500' '/a?_status=500' /a '/a?_status=500' '/a?_status=500')" "500 500 200 500 500"
check_eq still_closed "$(state a)" "closed"
check_eq third_in_a_row_opens "$(code '/a?_status=503')" "503"
check_eq opened "$(state a)" "open"
check_eq show_open "$(gctl upstream show a | tail -1 | awk '{print $5}')" "open"

# ---- open: 503 at once, Retry-After, the target is not called ----
before=$(up_requests 9001)
body=$(gcurl -D "$GW_TMP/h" http://127.0.0.1:8080/a/x)
check_eq fast_fail_body "$body" '{"error":{"status":503,"code":"circuit_open","message":"the upstream'"'"'s circuit breaker is open; retry later"}}'
check retry_after test "$(tr -d '\r' <"$GW_TMP/h" | awk -F': ' 'tolower($1)=="retry-after" {print $2}')" -ge 1
check_eq target_untouched "$(codes /a /a /a) $(($(up_requests 9001) - before))" "503 503 503 0"
check logged_open grep -q 'upstream a target 127.0.0.1:9001: circuit open for 3000 ms (3 consecutive failures)' "$GW_TMP/gwd.log"

# ---- half-open: two trials at a time; a third request meanwhile is refused ----
check half_open_after_open_ms wait_until 10 state_is a half-open
before=$(up_requests 9001)
t1=$GW_TMP/t1 t2=$GW_TMP/t2
(code '/a?_delay_ms=3000' >"$t1") & p1=$!
(code '/a?_delay_ms=3000' >"$t2") & p2=$!
wait_until 5 up_at_least 9001 $((before + 2))
check_eq third_refused_during_trials "$(code /a)" "503"
wait "$p1" "$p2"
check_eq trials_succeeded "$(cat "$t1") $(cat "$t2")" "200 200"
check_eq closed_after_trials "$(state a) $(code /a)" "closed 200"
check logged_half_open grep -q 'target 127.0.0.1:9001: circuit half-open (2 trial requests)' "$GW_TMP/gwd.log"
check logged_closed grep -q 'target 127.0.0.1:9001: circuit closed after 2 successful trials' "$GW_TMP/gwd.log"

# ---- a failed trial opens it again ----
codes '/a?_status=500' '/a?_status=500' '/a?_status=500' >/dev/null
check_eq reopened "$(state a)" "open"
check half_open_again wait_until 10 state_is a half-open
check_eq failed_trial "$(code '/a?_status=500')" "500"
check_eq open_after_failed_trial "$(state a)" "open"
check logged_trial_failed grep -q 'circuit open for 3000 ms (a trial request failed)' "$GW_TMP/gwd.log"

# ---- error ratio over a window ----
for i in 1 2 3 4 5 6 7 8 9; do
	if [ $((i % 2)) -eq 0 ]; then code '/r?_status=500' >/dev/null; else code /r >/dev/null; fi
done
check_eq ratio_below_min_requests "$(state r)" "closed"
check_eq ratio_trips "$(code '/r?_status=502') $(state r) $(code /r)" "502 open 503"

# ---- connect errors count too ----
check_eq connect_errors_open "$(codes /dead /dead /dead)" "502 502 503"

# ---- status and metrics ----
check_eq show_json "$(gctl -j upstream show dead | jq -r '.[0].targets[0] | "\(.state) \(.breaker)"')" "open open"
nsx g curl -s --unix-socket "$GW_TMP/gwd.sock" http://x/metrics >"$GW_TMP/m.txt"
check metric_state grep -q '^xdpgw_gateway_upstream_breaker_state{upstream="dead",target="127.0.0.1:9009",state="open"} 1$' "$GW_TMP/m.txt"
check metric_state_closed grep -q '^xdpgw_gateway_upstream_breaker_state{upstream="dead",target="127.0.0.1:9009",state="closed"} 0$' "$GW_TMP/m.txt"
check metric_opened grep -q '^xdpgw_gateway_upstream_breaker_opened_total{upstream="a",target="127.0.0.1:9001"} 3$' "$GW_TMP/m.txt"

# ---- config errors ----
cat >"$GW_TMP/bad.yaml" <<'Y'
gateway:
  upstreams:
    - name: a
      targets: [{addr: "127.0.0.1:9001"}]
      circuit_breaker: {error_ratio: 2}
Y
err=$(gctl -j apply -f "$GW_TMP/bad.yaml" 2>/dev/null)
check_eq bad_ratio "$err" '{"error":"gateway.upstreams[a].circuit_breaker.error_ratio: must be a number above 0 and at most 1"}'
t_done
