#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway: routing precedence, prefix strip/rewrite, JSON errors (404, 413, 431), proxy
# headers, a header policy, IPv6 listener, access log fields, metrics as Prometheus text.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_routing
need_root routing

gw_ns || { t_fail setup "namespace"; exit 1; }
nsx g ip -6 addr add ::1/128 dev lo 2>/dev/null
gw_upstream a 9001 || t_fail setup "upstream a"
gw_upstream b 9002 || t_fail setup "upstream b"
gw_upstream c 9003 || t_fail setup "upstream c"
cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 2
  listeners:
    - addr: 127.0.0.1:8080
    - addr: "[::1]:8080"
  limits: {max_body_bytes: 1000, max_headers: 20}
  access_log: $GW_TMP/access.log
  upstreams:
    - {name: a, targets: [{addr: "127.0.0.1:9001"}]}
    - {name: b, targets: [{addr: "127.0.0.1:9002"}]}
    - {name: c, targets: [{addr: "127.0.0.1:9003"}]}
  routes:
    - {name: all, path: /, upstream: a}
    - {name: api, path: /api, strip_prefix: true, upstream: b,
       policies: [{name: request-headers, set: {X-Env: test}, remove: [X-Secret]}]}
    - {name: v2, path: /v2/, rewrite_prefix: /internal/v2/, upstream: c}
    - {name: me, path: /api/me, path_match: exact, upstream: c}
    - {name: host, hosts: ["*.example.test"], path: /, upstream: c}
Y
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not listen"; cat "$GW_TMP/gw.log"; exit 1; }

# field JQ_FILTER: of the JSON on stdin (jq: a python start costs up to half a second when loaded)
field() { jq -r "$1"; }

check_eq prefix_routes "$(gcurl http://127.0.0.1:8080/api/users?q=1 | field '"\(.name) \(.path)"')" "b /users?q=1"
check_eq exact_beats_prefix "$(gcurl http://127.0.0.1:8080/api/me | field '"\(.name) \(.path)"')" "c /api/me"
check_eq segment_prefix "$(gcurl http://127.0.0.1:8080/apix | field '.name')" "a"
check_eq rewrite_prefix "$(gcurl http://127.0.0.1:8080/v2/items/7 | field '.path')" "/internal/v2/items/7"
check_eq host_beats_path "$(gcurl -H 'Host: www.example.test' http://127.0.0.1:8080/api/x | field '.name')" "c"
check_eq ipv6_listener "$(gcurl 'http://[::1]:8080/api/x' | field '.name')" "b"

# Proxy headers and the header policy.
out=$(gcurl -H 'X-Forwarded-For: 198.18.9.9' -H 'X-Secret: s' -H 'Via: 1.0 edge' \
	-H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' \
	-H 'X-Request-Id: abc-123' http://127.0.0.1:8080/api/h)
check_eq xff_appended "$(echo "$out" | field '.headers["x-forwarded-for"]')" "198.18.9.9, 127.0.0.1"
check_eq xfp "$(echo "$out" | field '.headers["x-forwarded-proto"]')" "http"
check_eq xfh "$(echo "$out" | field '.headers["x-forwarded-host"]')" "127.0.0.1:8080"
check_eq via "$(echo "$out" | field '.headers.via')" "1.0 edge, 1.1 xdpgw"
check_eq request_id_passed "$(echo "$out" | field '.headers["x-request-id"]')" "abc-123"
check_eq traceparent_kept_trace "$(echo "$out" | field '.headers.traceparent[:36]')" "00-0af7651916cd43dd8448eb211c80319c-"
check_eq traceparent_new_span "$(echo "$out" | field '.headers.traceparent[36:52] != "b7ad6b7169203331"')" "true"
check_eq policy_set "$(echo "$out" | field '.headers["x-env"]')" "test"
check_eq policy_remove "$(echo "$out" | field '.headers | has("x-secret")')" "false"
out=$(gcurl -D "$GW_TMP/h" http://127.0.0.1:8080/api/h)
rid=$(echo "$out" | field '.headers["x-request-id"]')
check request_id_generated test "${#rid}" -eq 32
check request_id_in_response grep -qi "^x-request-id: $rid" "$GW_TMP/h"
check traceparent_started test "$(echo "$out" | field '.headers.traceparent[3:35]')" = "$rid"

# JSON errors from the gateway, including libh2o's own 413.
cat >"$GW_TMP/gw2.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}, {addr: "[::1]:8080"}]
  limits: {max_body_bytes: 1000, max_headers: 20}
  access_log: $GW_TMP/access.log
  upstreams: [{name: a, targets: [{addr: "127.0.0.1:9001"}]}]
  routes: [{name: only, path: /only, upstream: a}]
Y
cp "$GW_TMP/gw2.yaml" "$GW_TMP/gw.yaml"
check reload_routes_only gw_reload
body=$(gcurl http://127.0.0.1:8080/nothing)
check_eq json_404_body "$body" '{"error":{"status":404,"code":"route_not_found","message":"no route matches the request"}}'
head -c 5000 /dev/zero >"$GW_TMP/big"
body=$(gcurl -w ' %{http_code}' --data-binary @"$GW_TMP/big" http://127.0.0.1:8080/only | tr -d '\n')
check_eq json_413 "$body" '{"error":{"status":413,"code":"request_entity_too_large","message":"the request body exceeds the gateway'"'"'s limit"}} 413'
hdrs=()
for i in $(seq 1 30); do hdrs+=(-H "X-H$i: v"); done
check_eq json_431 "$(gcurl "${hdrs[@]}" http://127.0.0.1:8080/only | field '.error.code')" "request_header_fields_too_large"
check_eq small_body_ok "$(gcurl -d 'hello' http://127.0.0.1:8080/only | field '.body_len')" "5"

# Access log: one JSON line per request with the documented fields.
wait_until 5 grep -q '"route":"only"' "$GW_TMP/access.log"
line=$(grep '"route":"only"' "$GW_TMP/access.log" | grep '"status":200' | tail -1)
check_eq access_log_fields "$(echo "$line" | field 'keys | join(",")')" \
	"bytes_in,bytes_out,client,consumer,host,latency_ms,method,path,request_id,route,status,time,upstream,upstream_latency_ms"
check_eq access_log_values "$(echo "$line" | field '"\(.method) \(.path) \(.upstream) \(.bytes_in)"')" "POST /only 127.0.0.1:9001 5"

# Metrics: valid Prometheus text with the request counters.
gw_metrics >"$GW_TMP/m.txt"
check metrics_parse python3 - "$GW_TMP/m.txt" <<'PY'
import re, sys
names = set()
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line or line.startswith("# HELP") or line.startswith("# TYPE"):
        if line.startswith("# TYPE"):
            assert line.split()[3] in ("counter", "gauge", "histogram"), line
        continue
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+]+|\+Inf|NaN)', line)
    assert m, "bad line: " + line
    names.add(m.group(1))
for want in ("xdpgw_gateway_requests_total", "xdpgw_gateway_request_duration_seconds_bucket",
             "xdpgw_gateway_upstream_target_healthy", "xdpgw_gateway_requests_in_flight"):
    assert want in names, want
PY
check metrics_404_counted grep -q '^xdpgw_gateway_requests_total{route="_none",class="4xx"} [1-9]' "$GW_TMP/m.txt"
check metrics_route_counted grep -q '^xdpgw_gateway_requests_total{route="only",class="2xx"} [1-9]' "$GW_TMP/m.txt"
t_done
