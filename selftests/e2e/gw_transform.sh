#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway transform policy against real upstreams: request headers, query and path rewriting,
# response headers, JSON body edits with exact bodies and Content-Length (nested, arrays,
# missing fields, unchanged, invalid JSON, non-JSON, gzip, oversize pass/fail, > 1 MiB).
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_transform
need_root transform

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
gw_upstream c 9002 --chunked || t_fail setup "upstream c"
python3 - "$GW_TMP/big.json" <<'PY'
import json, sys
doc = {"password": "p", "rows": [{"ssn": str(i), "v": "x" * 40} for i in range(30000)]}
open(sys.argv[1], "w").write(json.dumps(doc, separators=(",", ":")))
PY
gw_upstream big 9003 --body-file "$GW_TMP/big.json" --content-type application/json ||
	t_fail setup "upstream big"
BODY='{remove: [password, internal.*, "items[*].ssn", "rows[*].ssn"], rename: {"user.fullName": name}, add: {"meta.gw": xdpgw}'
cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams:
    - {name: a, targets: [{addr: "127.0.0.1:9001"}]}
    - {name: c, targets: [{addr: "127.0.0.1:9002"}]}
    - {name: big, targets: [{addr: "127.0.0.1:9003"}]}
  routes:
    - name: req
      path: /t/
      upstream: a
      policies:
        - name: transform
          request:
            headers: {remove: [X-Drop], rename: {X-Old: X-New}, set: {X-Env: test}, add: {X-Tag: a}}
            query: {remove: [debug], set: {v: "2"}, add: {src: g w}}
            path: {regex: "^/t/(.*)\$", replace: "/svc/\$1"}
          response:
            headers: {remove: [X-Upstream], set: {X-Transformed: "yes"}}
    - name: body
      path: /b
      upstream: a
      policies: [{name: transform, response: {body: $BODY, max_bytes: 400}}}]
    - name: strict
      path: /f
      upstream: a
      policies: [{name: transform, response: {body: $BODY, max_bytes: 400, oversize: fail, on_error: fail}}}]
    - name: chunked
      path: /c
      upstream: c
      policies: [{name: transform, response: {body: $BODY, max_bytes: 400}}}]
    - name: big
      path: /big
      upstream: big
      policies: [{name: transform, response: {body: $BODY, max_bytes: 8000000}}}]
Y
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not listen"; cat "$GW_TMP/gw.log"; exit 1; }

field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
enc() { python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
# body PATH JSON [CURL_ARGS]: GET PATH?_body=JSON; prints "LENGTH BODY" (the Content-Length
# header and the body, which must agree).
body() {
	local p=$1 j=$2 out len sep='?'
	shift 2
	[[ $p == *\?* ]] && sep='&'
	out=$(gcurl -D "$GW_TMP/h" "http://127.0.0.1:8080$p${sep}_body=$(enc "$j")" "$@")
	len=$(tr -d '\r' <"$GW_TMP/h" | awk -F': ' 'tolower($1)=="content-length" {print $2}')
	[ "$len" = "$(blen "$out")" ] || echo "LENGTH MISMATCH header=$len body=$(blen "$out")"
	echo "$len $out"
}
# blen TEXT: its length in bytes
blen() { printf %s "$1" | wc -c; }

# ---- request side ----
out=$(gcurl -D "$GW_TMP/h" -H 'X-Drop: 1' -H 'X-Old: o' -H 'Accept-Encoding: gzip' \
	'http://127.0.0.1:8080/t/items?debug=1&x=y%20z&v=1')
check_eq path_and_query "$(echo "$out" | field 'd["path"]')" "/svc/items?x=y%20z&v=2&src=g%20w"
check_eq header_removed "$(echo "$out" | field '"x-drop" in d["headers"]')" "False"
check_eq header_renamed "$(echo "$out" | field 'd["headers"].get("x-new")+" "+str("x-old" in d["headers"])')" "o False"
check_eq header_set_add "$(echo "$out" | field 'd["headers"]["x-env"]+" "+d["headers"]["x-tag"]')" "test a"
check_eq accept_encoding_untouched "$(echo "$out" | field 'd["headers"]["accept-encoding"]')" "gzip"
check resp_header_removed sh -c "! grep -qi '^x-upstream:' '$GW_TMP/h'"
check resp_header_set grep -qi '^x-transformed: yes' "$GW_TMP/h"
out=$(gcurl 'http://127.0.0.1:8080/t/')
check_eq empty_query_rest "$(echo "$out" | field 'd["path"]')" "/svc/?v=2&src=g%20w"

# ---- JSON bodies ----
in='{"id":1,"password":"p","internal":{"a":1,"b":[2]},"user":{"fullName":"Ann","x":0.1},"items":[{"ssn":"1","n":1},{"n":2},{"ssn":"3"}]}'
want='{"id":1,"internal":{},"user":{"x":0.1,"name":"Ann"},"items":[{"n":1},{"n":2},{}],"meta":{"gw":"xdpgw"}}'
check_eq nested_arrays "$(body /b "$in")" "${#want} $want"
want='{"a":[1,2.5,true,null],"meta":{"gw":"xdpgw"}}'
check_eq missing_fields "$(body /b '{"a":[1,2.5,true,null]}')" "${#want} $want"
in='{"meta": {"gw": "upstream"},  "x": 1}'
check_eq unchanged_verbatim "$(body /b "$in")" "${#in} $in"
in='{"password": "p", '
check_eq invalid_json_untouched "$(body /b "$in")" "${#in} $in"
in='{"password":"p"}'
check_eq non_json_untouched "$(body '/b?_ct=text/plain' "$in")" "${#in} $in"
in='{"password":"p","a":"é\u00e9\n"}'
want='{"a":"éé\n","meta":{"gw":"xdpgw"}}'
check_eq unicode_escapes "$(body /b "$in")" "$(blen "$want") $want"
in='{"password":"p","k":1}'
want='{"k":1,"meta":{"gw":"xdpgw"}}'
check_eq gzip_decoded "$(body '/b?_gzip=1' "$in" --compressed)" "${#want} $want"
check gzip_encoding_dropped sh -c "! grep -qi '^content-encoding:' '$GW_TMP/h'"
check_eq top_level_array_untouched "$(body /b '[{"password":1}]')" '16 [{"password":1}]'

# ---- oversize: pass untouched (counted) or fail ----
big=$(python3 -c 'import json; print(json.dumps({"password":"p","pad":"x"*500}, separators=(",",":")))')
check_eq oversize_passes "$(body /b "$big")" "${#big} $big"
check_eq oversize_fails "$(gcurl -o /dev/null -w '%{http_code}' "http://127.0.0.1:8080/f?_body=$(enc "$big")")" "502"
check_eq invalid_fails "$(gcurl -w ' %{http_code}' "http://127.0.0.1:8080/f?_body=$(enc '{"a":')" | tr -d '\n')" \
	'{"error":{"status":502,"code":"response_filter_failed","message":"a response policy could not process the upstream body"}} 502'
out=$(gcurl "http://127.0.0.1:8080/c?_body=$(enc "$big")")
check_eq oversize_chunked_streams "${#out} ${out:0:20}" "${#big} ${big:0:20}"
want='{"k":2,"meta":{"gw":"xdpgw"}}'
out=$(gcurl "http://127.0.0.1:8080/c?_body=$(enc '{"password":"p","k":2}')")
check_eq chunked_small_edited "$out" "$want"

# ---- a body over 1 MiB through the buffered path ----
gcurl -D "$GW_TMP/h" -o "$GW_TMP/big.out" http://127.0.0.1:8080/big
check big_body_edited python3 - "$GW_TMP/big.out" "$GW_TMP/h" <<'PY'
import json, sys
raw = open(sys.argv[1], "rb").read()
d = json.loads(raw)
assert "password" not in d and d["meta"] == {"gw": "xdpgw"}, list(d)
assert len(d["rows"]) == 30000 and all(list(r) == ["v"] for r in d["rows"])
cl = [l.split(":", 1)[1].strip() for l in open(sys.argv[2]) if l.lower().startswith("content-length")]
assert cl == [str(len(raw))], (cl, len(raw))
PY

gw_metrics >"$GW_TMP/m.txt"
check metric_oversize_pass grep -q '^xdpgw_gateway_body_oversize_total{route="body",action="pass"} 1$' "$GW_TMP/m.txt"
check metric_oversize_fail grep -q '^xdpgw_gateway_body_oversize_total{route="strict",action="fail"} 1$' "$GW_TMP/m.txt"
check metric_bodies_changed grep -q '^xdpgw_gateway_transform_bodies_total{result="changed"} [1-9]' "$GW_TMP/m.txt"
check metric_bodies_invalid grep -q '^xdpgw_gateway_transform_bodies_total{result="invalid"} [2-9]' "$GW_TMP/m.txt"

# ---- config errors name the path ----
sed -i 's/"items\[\*\].ssn"/"items[*.ssn"/' "$GW_TMP/gw.yaml"
if gw_reload; then t_fail bad_path_refused "applied"; else t_ok bad_path_refused; fi
check_eq bad_path_message "$(grep '^Error' "$GW_TMP/gw.log" | tail -1)" \
	'Error: gateway.routes[body].policies[0].response.body.remove[2]: "items[*.ssn": at offset 7: expected ] after *'
check_eq still_serving "$(body /b '{"password":1,"k":3}')" '29 {"k":3,"meta":{"gw":"xdpgw"}}'
t_done
