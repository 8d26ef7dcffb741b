#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway aggregate routes against real upstreams: concurrent parts (total time near the
# slowest part, not the sum), path templates, per-part timeouts and the route deadline,
# partial failures (null and a status map) and fail-whole, non-JSON and gzip parts, client
# abort (the upstream sees the cancelled call closed), authentication before the fan-out, a
# part that finds its target at max_conns (503 in the status map).
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_aggregate
need_root aggregate

gw_ns || { t_fail setup "namespace"; exit 1; }
for i in 1 2 3 4; do gw_upstream "u$i" "900$i" || t_fail setup "upstream u$i"; done
KEY=agg-test-key-0123456789
cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}]
  consumers: [{id: alice, keys: [{name: k, sha256: $(printf %s "$KEY" | sha256sum | cut -d' ' -f1)}]}]
  upstreams:
    - {name: u1, targets: [{addr: "127.0.0.1:9001"}]}
    - {name: u2, targets: [{addr: "127.0.0.1:9002"}]}
    - {name: u3, targets: [{addr: "127.0.0.1:9003"}]}
    - {name: u4, targets: [{addr: "127.0.0.1:9004"}]}
    - {name: capped, max_conns: 1, targets: [{addr: "127.0.0.1:9001"}]}
  routes:
    - name: capped
      path: /capped
      type: aggregate
      aggregate:
        on_partial: partial
        parts:
          - {name: first, upstream: capped, path: /one}
          - {name: second, upstream: capped, path: /two}
    - name: conc
      path: /conc
      type: aggregate
      aggregate:
        parts:
          - {name: a, upstream: u1, path: "/a?_delay_ms=400"}
          - {name: b, upstream: u2, path: "/b?_delay_ms=800"}
          - {name: c, upstream: u3, path: "/c?_delay_ms=1200"}
    - name: tmpl
      path: /t
      type: aggregate
      aggregate:
        parts:
          - {name: q, upstream: u1, path: "/users/{query.id}?tag={header.x-tag}"}
          - {name: s, upstream: u2, method: POST, path: "/seg/{segment.2}{path}"}
    - name: partial
      path: /p
      type: aggregate
      aggregate:
        on_partial: partial
        timeout_ms: 3000
        parts:
          - {name: ok, upstream: u1, path: /ok}
          - {name: err, upstream: u2, path: "/e?_status=500"}
          - {name: slow, upstream: u3, path: "/s?_delay_ms=2500", timeout_ms: 300}
          - {name: text, upstream: u1, path: "/t?_ct=text/plain&_body=hello"}
          - {name: gz, upstream: u2, path: "/g?_gzip=1&_body=%7B%22z%22%3A%5B1%2C0.1%5D%7D"}
    - name: allfail
      path: /allfail
      type: aggregate
      aggregate:
        on_partial: partial
        parts: [{name: e, upstream: u2, path: "/e?_status=404"}]
    - name: whole
      path: /f
      type: aggregate
      aggregate:
        parts:
          - {name: ok, upstream: u1, path: /ok}
          - {name: err, upstream: u2, path: "/e?_status=503"}
    - name: deadline
      path: /d
      type: aggregate
      aggregate:
        timeout_ms: 400
        parts: [{name: slow, upstream: u3, path: "/s?_delay_ms=2000"}]
    - name: abort
      path: /abort
      type: aggregate
      aggregate:
        parts: [{name: slow, upstream: u4, path: "/s?_delay_ms=4000"}]
    - name: authed
      path: /auth
      type: aggregate
      policies: [{name: key-auth}]
      aggregate:
        parts: [{name: who, upstream: u1, path: "/who/{consumer}"}]
Y
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not listen"; cat "$GW_TMP/gw.log"; exit 1; }

py() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
stat() { nsx g curl -s "http://127.0.0.1:$1/_stats" | py "d['$2']"; }

# ---- concurrency: the parts run at once (delays 400, 800, 1200 ms; sum 2400 ms) ----
out=$(gcurl -w '\n%{http_code} %{time_total}' http://127.0.0.1:8080/conc)
body=$(echo "$out" | head -1)
read -r code secs < <(echo "$out" | tail -1)
check_eq conc_status "$code" "200"
check_eq conc_parts "$(echo "$body" | py '" ".join(k+"="+v["path"] for k, v in d.items())')" \
	"a=/a?_delay_ms=400 b=/b?_delay_ms=800 c=/c?_delay_ms=1200"
check conc_at_least_slowest python3 -c "assert $secs >= 1.2, $secs"
check conc_not_the_sum python3 -c "assert $secs < 0.8 * 2.4, '$secs s: not concurrent'"

# ---- templates: values from the request, encoded ----
body=$(gcurl -H 'X-Tag: a b/c' 'http://127.0.0.1:8080/t/x/y?id=4%202')
check_eq tmpl_query_header "$(echo "$body" | py 'd["q"]["path"]')" "/users/4%202?tag=a%20b%2Fc"
check_eq tmpl_segment_path_method "$(echo "$body" | py 'd["s"]["method"]+" "+d["s"]["path"]')" "POST /seg/x/x/y"
check_eq tmpl_forwarded "$(echo "$body" | py 'd["q"]["headers"]["x-tag"]+"|"+d["q"]["headers"]["x-forwarded-for"]+"|"+d["q"]["headers"]["accept-encoding"]')" "a b/c|127.0.0.1|identity"
check_eq tmpl_no_traversal "$(gcurl -H 'X-Tag: t' 'http://127.0.0.1:8080/t/x/y?id=../admin' | py 'd["q"]["path"]')" "/users/..%2Fadmin?tag=t"
check_eq tmpl_missing "$(gcurl -w ' %{http_code}' 'http://127.0.0.1:8080/t/x/y?id=1' | tr -d '\n')" \
	'{"error":{"status":400,"code":"bad_request","message":"part q needs {header.x-tag}, which the request does not have"}} 400'

# ---- partial failures: null and a status map; the slow part times out on its own ----
before=$(stat 9003 aborted)
out=$(gcurl -w '\n%{http_code} %{time_total}' http://127.0.0.1:8080/p)
body=$(echo "$out" | head -1)
read -r code secs < <(echo "$out" | tail -1)
check_eq partial_status "$code" "200"
check_eq partial_body "$(echo "$body" | py 'str(d["ok"]["name"])+" "+json.dumps([d["err"], d["slow"], d["text"], d["gz"]])')" 'u1 [null, null, null, {"z": [1, 0.1]}]'
check_eq partial_status_map "$(echo "$body" | py 'json.dumps(d["_status"], separators=(",",":"))')" \
	'{"ok":200,"err":500,"slow":504,"text":502,"gz":200}'
check_eq partial_gz_verbatim "$(echo "$body" | grep -o '"gz":{[^}]*}')" '"gz":{"z":[1,0.1]}'
check part_timeout_bounds_total python3 -c "assert $secs < 2.0, '$secs s'"
check slow_part_closed wait_until 5 test "$(stat 9003 aborted)" -gt "$before"
check_eq all_parts_failed "$(gcurl http://127.0.0.1:8080/allfail)" \
	'{"error":{"status":502,"code":"aggregate_failed","message":"every part failed (part e: upstream status 404)"}}'

# ---- max_conns 1: the parts start together, the first holds the target's only slot ----
body=$(gcurl http://127.0.0.1:8080/capped)
check_eq capped_part_503 "$(echo "$body" | py 'json.dumps([d["first"]["path"], d["second"], d["_status"]], separators=(",",":"))')" \
	'["/one",null,{"first":200,"second":503}]'
check_eq capped_busy_metric "$(gw_metrics | grep '^xdpgw_gateway_upstream_busy_total{upstream="capped"}')" \
	'xdpgw_gateway_upstream_busy_total{upstream="capped"} 1'

# ---- fail whole ----
check_eq fail_whole "$(gcurl -w ' %{http_code}' http://127.0.0.1:8080/f | tr -d '\n')" \
	'{"error":{"status":502,"code":"aggregate_part_failed","message":"part err failed: upstream status 503"}} 502'
out=$(gcurl -w ' %{http_code} %{time_total}' http://127.0.0.1:8080/d | tr -d '\n')
check_eq deadline "${out% *}" '{"error":{"status":504,"code":"aggregate_part_failed","message":"part slow failed: timed out"}} 504'
check deadline_bounds_total python3 -c "assert ${out##* } < 1.5, '${out##* } s'"

# ---- client abort: the outstanding call is cancelled, the upstream sees it closed ----
before=$(stat 9004 aborted)
nsx g curl -s --max-time 0.5 -o /dev/null http://127.0.0.1:8080/abort
check abort_cancels_call wait_until 3 test "$(stat 9004 aborted)" -gt "$before"
check_eq abort_one_call "$(stat 9004 requests)" "1"

# ---- authentication before the fan-out ----
before=$(stat 9001 requests)
check_eq auth_refused "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/auth)" "401"
check_eq no_fanout_when_refused "$(stat 9001 requests)" "$before"
check_eq auth_consumer_in_template "$(gcurl -H "X-API-Key: $KEY" http://127.0.0.1:8080/auth | py 'd["who"]["path"]')" "/who/alice"

# ---- config errors name the path ----
bad() {
	cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams: [{name: u1, targets: [{addr: "127.0.0.1:9001"}]}]
  routes: [{name: r, path: /r, type: aggregate, $1}]
Y
	gw_reload >/dev/null 2>&1
	grep '^Error' "$GW_TMP/gw.log" | tail -1
}
check_eq err_template "$(bad 'aggregate: {parts: [{name: a, upstream: u1, path: "/x/{qury.id}"}]}')" \
	'Error: gateway.routes[r].aggregate.parts[a].path: at offset 3: unknown variable {qury.id}'
check_eq err_upstream "$(bad 'aggregate: {parts: [{name: a, upstream: nope, path: /x}]}')" \
	'Error: gateway.routes[r].aggregate.parts[a].upstream: unknown upstream "nope"'
check_eq err_has_upstream "$(bad 'upstream: u1, aggregate: {parts: [{name: a, upstream: u1, path: /x}]}')" \
	'Error: gateway.routes[r].upstream: not for routes of type aggregate (each part names its upstream)'
check_eq err_body_policy "$(bad 'policies: [{name: cache}], aggregate: {parts: [{name: a, upstream: u1, path: /x}]}')" \
	'Error: gateway.routes[r].policies: body policies (transform of bodies, cache) do not apply to aggregate routes'
check_eq still_serving "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/f)" "502"
t_done
