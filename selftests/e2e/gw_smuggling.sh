#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Request smuggling and header abuse through the gateway, with raw bytes on a socket: ambiguous
# framing (Content-Length with Transfer-Encoding, duplicates, HTTP/1.0 chunked, bad chunks),
# Host abuse, line folding and invalid bytes in headers, oversized heads, absolute-form and
# CONNECT targets, paths that could skip a route's policies, and hop-by-hop headers both ways.
# Each case checks the status, what reached the upstream, and that a refused request closes the
# connection (nothing pipelined behind it runs). docs/security.md lists the behaviours.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_smuggling
need_root smuggling

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
gw_upstream b 9002 || t_fail setup "upstream b"
cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 1
  listeners: [{addr: 127.0.0.1:8080}]
  limits: {max_header_bytes: 4096, max_headers: 20}
  upstreams:
    - {name: a, targets: [{addr: "127.0.0.1:9001"}]}
    - {name: b, targets: [{addr: "127.0.0.1:9002"}]}
  routes:
    - {name: open, path: /, upstream: a}
    - {name: admin, path: /admin, upstream: a, policies: [{name: acl, deny_ips: [127.0.0.0/8]}]}
    - {name: other, hosts: [other.test], path: /, upstream: b}
Y
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not start"; exit 1; }

# send REQUEST: writes the raw request (python escapes: \r \n \x00; {y*N}: N bytes), reads until the gateway
# closes or 2 s pass; prints "STATUS CONN NRESP" then the bodies' "path" and "host" values and
# response header names, one per line (NRESP: responses seen; CONN: its Connection header), and
# last "upstream-requests=N": how many requests upstream a counted meanwhile (its /_stats before
# the request was sent and after the gateway's answer ended).
send() {
	nsx g python3 - "$1" <<'PY'
import json, re, signal, socket, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)	# callers may read the first line only
def upstream_requests():
    u = socket.create_connection(("127.0.0.1", 9001)); u.settimeout(5)
    u.sendall(b"GET /_stats HTTP/1.1\r\nHost: a\r\n\r\n")
    r = b""
    while b"\r\n\r\n" not in r or len(r.split(b"\r\n\r\n", 1)[1]) < int(
            re.search(rb"(?i)content-length: *(\d+)", r).group(1)):
        r += u.recv(65536)
    u.close()
    return json.loads(r.split(b"\r\n\r\n", 1)[1])["requests"]
before = upstream_requests()
req = sys.argv[1].encode().decode("unicode_escape")
req = re.sub(r"\{y\*(\d+)\}", lambda m: "y" * int(m.group(1)), req).encode("latin1")
s = socket.create_connection(("127.0.0.1", 8080)); s.settimeout(2)
try:
    s.sendall(req)
except OSError:
    pass	# answered and closed before the whole request was read
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
except OSError:	# timeout, or reset after an early answer
    pass
text = out.decode("latin1")
heads = re.findall(r"HTTP/1\.1 (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n", text, re.S)
if not heads:
    print("none - 0"); print("upstream-requests=%d" % (upstream_requests() - before)); sys.exit()
status, hdrs = heads[0]
names = [l.split(":")[0].lower() for l in hdrs.split("\r\n")]
conn = [l.split(":", 1)[1].strip().lower() for l in hdrs.split("\r\n") if l.lower().startswith("connection:")]
print(status, conn[0] if conn else "-", len(heads))
for m in re.finditer(r'\{"name":.*?"body_len":\d+\}', text):
    d = json.loads(m.group(0))
    print("path=" + d["path"]); print("host=" + d["headers"].get("host", "-"))
    for k in d["headers"]: print("upstream-got=" + k)
for n in names: print("header=" + n)
print("upstream-requests=%d" % (upstream_requests() - before))
PY
}

# refused NAME STATUS REQUEST: the gateway answers STATUS, closes, and the upstream sees nothing.
refused() {
	local out
	out=$(send "$3")
	check_eq "$1" "$(echo "$out" | head -1)" "$2 close 1"
	check_eq "$1_nothing_upstream" "$(echo "$out" | sed -n 's/^upstream-requests=//p')" 0
}
SMUGGLED='GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n'

# ---- framing ----
refused cl_and_te 400 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$SMUGGLED"
refused te_and_cl 400 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n$SMUGGLED"
refused two_content_lengths 400 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd$SMUGGLED"
refused same_content_length_twice 400 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd$SMUGGLED"
refused content_length_list 400 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\nabcd"
refused content_length_signed 400 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd"
refused te_not_chunked 400 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"
refused te_list 400 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
refused te_twice 400 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
refused te_http10 400 "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
refused bad_chunk_size 400 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n"
out=$(send "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n$SMUGGLED")
check_eq chunked_alone_ok "$(echo "$out" | head -1)" "200 keep-alive 2"
check_eq chunked_pipelined_own_request "$(echo "$out" | grep '^path=' | tr '\n' ' ')" "path=/ path=/smuggled "
check chunked_reframed sh -c "echo '$out' | grep -q '^upstream-got=content-length' && ! echo '$out' | grep -q '^upstream-got=transfer-encoding'"

# ---- Host ----
refused two_hosts 400 "GET / HTTP/1.1\r\nHost: a\r\nHost: other.test\r\n\r\n"
refused no_host_http11 400 "GET / HTTP/1.1\r\n\r\n"
check_eq no_host_http10_ok "$(send "GET / HTTP/1.0\r\n\r\n" | head -1)" "200 close 1"

# ---- header syntax (libh2o's parser: plain 400, connection closed) ----
for c in "space_before_colon|X-Foo : bar" "space_in_name|X Foo: bar" "nul_in_value|X-Foo: b\x00r" \
	"cr_in_value|X-Foo: b\rr" "non_token_name|X(Foo): bar"; do
	refused "${c%%|*}" 400 "GET / HTTP/1.1\r\nHost: a\r\n${c#*|}\r\n\r\n"
done
refused obs_fold 400 "GET / HTTP/1.1\r\nHost: a\r\nX-Foo: bar\r\n baz\r\n\r\n"
check_eq bare_lf_accepted "$(send 'GET / HTTP/1.1\nHost: a\nConnection: close\n\n' | head -1)" "200 close 1"

# ---- sizes ----
big=$(printf 'x%.0s' $(seq 1 5000))
refused header_bytes_over_limit 431 "GET / HTTP/1.1\r\nHost: a\r\nX-Big: $big\r\nConnection: close\r\n\r\n"
many=$(for i in $(seq 1 25); do printf 'X-H%d: v\\r\\n' "$i"; done)
refused headers_over_limit 431 "GET / HTTP/1.1\r\nHost: a\r\n${many}Connection: close\r\n\r\n"
# over libh2o's own limit on a request head (H2O_MAX_REQLEN, 408 KiB): its plain 400
refused head_over_libh2o_max 400 "GET / HTTP/1.1\r\nHost: a\r\nX-Huge: {y*420000}\r\n\r\n"

# ---- targets ----
out=$(send "GET http://other.test/abs?q=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
check_eq absolute_form_routes_on_its_host "$(echo "$out" | grep -E '^(path|host)=' | tr '\n' ' ')" "path=/abs?q=1 host=other.test "
check_eq absolute_form_policies_apply "$(send 'GET http://a/admin HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n' | head -1)" "403 close 1"
refused absolute_form_userinfo 400 "GET http://u@other.test/ HTTP/1.1\r\nHost: a\r\n\r\n"
refused absolute_form_other_scheme 400 "GET ftp://other.test/ HTTP/1.1\r\nHost: a\r\n\r\n"
out=$(send 'CONNECT 127.0.0.1:9001 HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n\r\n')
check_eq connect_refused "$(echo "$out" | head -1)" "405 close 1"
check_eq connect_nothing_upstream "$(echo "$out" | sed -n 's/^upstream-requests=//p')" 0
for p in "/admin" "/x/../admin" "/x/%2e%2e/admin" "/%61dmin" "//admin" "/admin;x=1" "/admin/" "/admin%2fx"; do
	check_eq "admin_policy_applies_to_${p//[^a-z0-9]/_}" "$(send "GET $p HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" | head -1)" "403 close 1"
done
refused backslash_in_path 400 'GET /x\\..\\admin HTTP/1.1\r\nHost: a\r\n\r\n'

# ---- hop-by-hop ----
out=$(send "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, keep-alive\r\nX-Foo: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\nX-Bar: ok\r\nConnection: close\r\n\r\n")
check_eq hop_by_hop_request "$(echo "$out" | grep -E '^upstream-got=(x-foo|x-bar|keep-alive|te|upgrade|proxy-connection|connection)$' | tr '\n' ' ')" "upstream-got=x-bar "
out=$(send "GET /?_h=Connection:X-Up&_h=X-Up:1&_h=X-Keep:2&_h=Keep-Alive:timeout%3D9&_h=Upgrade:h2c&_h=Proxy-Connection:close&_h=Trailer:X-T HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
check_eq hop_by_hop_response "$(echo "$out" | grep -E '^header=(x-up|x-keep|keep-alive|upgrade|proxy-connection|trailer|connection)$' | tr '\n' ' ')" "header=connection header=x-keep "
# ---- connection limit: at its share a worker stops accepting until a connection closes ----
sed -i 's/max_headers: 20}/max_headers: 20, max_connections: 3}/' "$GW_TMP/gw.yaml"
gw_reload || t_fail reload_max_connections "not applied"
check_eq max_connections_held "$(nsx g python3 - <<'PY'
import socket, time
def get(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    s.settimeout(1.5)
    try:
        return s.recv(65536).split(b" ")[1].decode()
    except OSError:
        return "none"
held = [socket.create_connection(("127.0.0.1", 8080)) for _ in range(3)]
codes = [get(s) for s in held]            # three served, kept open
extra = socket.create_connection(("127.0.0.1", 8080))   # queued in the backlog
waiting = get(extra)
held[0].close()                           # one closes: the fourth is accepted
extra.settimeout(3)
try:
    late = extra.recv(65536).split(b" ")[1].decode()
except OSError:
    late = "none"
print(" ".join(codes), waiting, late)
PY
)" "200 200 200 none 200"
gw_metrics >"$GW_TMP/m.txt"
check connection_limit_counted awk '/^xdpgw_gateway_connection_limit_total/ {found = $2 >= 1} END {exit !found}' "$GW_TMP/m.txt"
check connections_gauge grep -q '^xdpgw_gateway_connections [0-9]' "$GW_TMP/m.txt"
t_done
