#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# gwd (ASan+UBSan build) under LeakSanitizer through start / load / reload / stop cycles with
# every module and policy in use: the L4 balancer on a veth (maps pinned, reused on restart),
# the gateway with key-auth, basic-auth, jwt, acl, rate-limit, transform, cache and header
# policies, requests through all of them, live changes (routes, listeners: a new worker set,
# consumers, L4 backends), a restart from the saved state, and SIGTERM. Each stop must exit 0
# with no sanitizer report (selftests/lsan.supp only covers libh2o's own caches).
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gwd_leaks
need_root leaks
need_asan_gwd gwd_leaks
CYCLES=${LEAK_CYCLES:-3}

gw_ns || { t_fail setup "namespace"; exit 1; }
nsx g ip link add xgl0 type veth peer name xgl1 && nsx g ip link set xgl0 up &&
	nsx g ip link set xgl1 up || { t_fail setup "veth"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
gw_upstream b 9002 || t_fail setup "upstream b"

sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
KEY=leak-test-key-0123456789
HS_SECRET=0123456789abcdef0123456789abcdef
PW_HASH=$(openssl passwd -6 -salt pepper 's3cret pass')
NOW=$(date +%s)
TOKEN=$(python3 - "$HS_SECRET" "$NOW" <<'PY'
import base64, hashlib, hmac, json, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
secret, now = sys.argv[1], int(sys.argv[2])
si = b64(json.dumps({"alg": "HS256", "kid": "h1"}).encode()) + "." + \
     b64(json.dumps({"sub": "alice", "iss": "https://issuer.test", "exp": now + 3600}).encode())
print(si + "." + b64(hmac.new(secret.encode(), si.encode(), hashlib.sha256).digest()))
PY
)

# config PORT WEIGHT EXTRA_ROUTE: the whole document; the arguments make the variants differ.
config() {
	cat <<Y
l4:
  links: [{name: xgl0, mode: generic}]
  services:
    - name: web
      vip: 198.18.100.1:80/tcp
      backends: [{addr: 198.18.0.30, weight: $2}, {addr: "2001:2::30"}]
    - {name: dns, vip: "[2001:2:0:100::1]:53/udp", algo: sh, persist: 1m,
       backends: [{addr: "2001:2::31"}]}
gateway:
  workers: 2
  listeners: [{addr: "127.0.0.1:$1"}]
  upstreams:
    - {name: a, targets: [{addr: "127.0.0.1:9001", weight: $2}, {addr: "127.0.0.1:9002"}]}
  consumers:
    - {id: alice, groups: [admins], keys: [{name: k1, sha256: $(sha $KEY)}],
       basic_auth: {username: alice, password_hash: '$PW_HASH'}}
  routes:
    - {name: key, path: /key, upstream: a, policies: [{name: key-auth},
       {name: acl, allow_groups: [admins]}, {name: rate-limit, limit: 1000, window: second}]}
    - {name: basic, path: /basic, upstream: a, policies: [{name: basic-auth}]}
    - {name: jwt, path: /jwt, upstream: a, policies: [{name: jwt,
       keys: [{kid: h1, secret: "$HS_SECRET", alg: HS256}], issuer: https://issuer.test}]}
    - name: tf
      path: /tf
      upstream: a
      policies:
        - {name: request-headers, set: {X-From: gw}, remove: [Cookie]}
        - {name: transform, request: {query: {remove: [debug]}},
           response: {body: {remove: [headers], set: {"via": "gw"}}}}
        - {name: response-headers, set: {X-Done: "1"}}
    - {name: cache, path: /cache, upstream: a, policies: [{name: cache, ttl_ms: 60000}]}
    - {name: limited, path: /limited, upstream: a,
       policies: [{name: rate-limit, limit: 2, window: minute}]}
$3
Y
}

# traffic PORT: requests through every policy; prints the status codes.
traffic() {
	local u=http://127.0.0.1:$1 codes=""
	for args in "-H X-API-Key:$KEY $u/key" "$u/key" "-u 'alice:s3cret pass' $u/basic" \
		"-u alice:wrong $u/basic" "-H Authorization:Bearer\ $TOKEN $u/jwt" "$u/jwt" \
		"-H Cookie:c=1 $u/tf?debug=1&x=2" "$u/cache" "$u/cache" "$u/limited" "$u/limited" \
		"$u/limited" "-X POST --data-binary @/etc/hostname $u/tf"; do
		# shellcheck disable=SC2086
		codes+="$(eval gcurl -o /dev/null -w '%{http_code}' $args) "
	done
	echo "$codes"
}

# stop_gwd: SIGTERM, bounded wait; sets STOP_STATUS to gwd's exit status ("hung" if it was
# killed after 10 s).
stop_gwd() {
	local i
	kill -TERM "$GWD_PID" 2>/dev/null
	for i in $(seq 1 200); do
		kill -0 "$GWD_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$GWD_PID" 2>/dev/null; then
		kill -KILL "$GWD_PID"
		wait "$GWD_PID" 2>/dev/null
		STOP_STATUS=hung
		return
	fi
	wait "$GWD_PID"
	STOP_STATUS=$?
}

config 8080 100 "" >"$GW_TMP/a.yaml"
config 8081 50 "    - {name: extra, path: /extra, upstream: a}" >"$GW_TMP/b.yaml"
want="200 401 200 401 200 401 200 200 200 200 200 429 200 "
for c in $(seq 1 "$CYCLES"); do
	: >"$GW_TMP/gwd.log"
	# The first start loads the file; later ones restart from the saved state. (An ASan gwd
	# loading the balancer on a busy machine can take a while: wait up to 30 s.)
	conf=()
	[ "$c" = 1 ] && conf=(--config "$GW_TMP/a.yaml")
	bg_start g "$GW_TMP/gwd.log" "$GWD" "${conf[@]}" --state-dir "$GW_TMP/state" \
		--socket "$GW_TMP/gwd.sock" --bpffs "$(bpffs_dir gwd)" --foreground
	GWD_PID=$BG_PID
	GWCTL_ARGS=(--socket "$GW_TMP/gwd.sock")
	wait_listen g 8080 30 ||
		{ t_fail "cycle${c}_start" "gwd did not serve"; tail "$GW_TMP/gwd.log"; break; }
	got=$(traffic 8080)
	# /limited keeps its count across reloads within a cycle, not across restarts.
	check_eq "cycle${c}_policies" "$got" "$want"
	check "cycle${c}_apply_b" gctl apply -f "$GW_TMP/b.yaml"
	wait_listen g 8081 30 || t_fail "cycle${c}_new_listener" "8081 not listening"
	check_eq "cycle${c}_extra_route" "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8081/extra)" "200"
	traffic 8081 >/dev/null
	check "cycle${c}_route_add" gctl route add r$c /r$c upstream a
	check "cycle${c}_consumer_add" gctl consumer add bob$c
	check "cycle${c}_backend_add" gctl backend add web 198.18.0.4$c
	check "cycle${c}_backend_del" gctl backend del web 198.18.0.4$c
	check "cycle${c}_consumer_del" gctl consumer del bob$c
	check "cycle${c}_route_del" gctl route del r$c
	check "cycle${c}_apply_a" gctl apply -f "$GW_TMP/a.yaml"
	wait_listen g 8080 30 || t_fail "cycle${c}_listener_back" "8080 not listening"
	traffic 8080 >/dev/null
	stop_gwd
	check_eq "cycle${c}_clean_exit" "$STOP_STATUS" "0"
	check "cycle${c}_no_sanitizer_report" sh -c "! grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error' '$GW_TMP/gwd.log'"
	if grep -q -e 'Sanitizer' -e 'runtime error' "$GW_TMP/gwd.log"; then
		grep -A30 -e 'ERROR:' -e 'runtime error' "$GW_TMP/gwd.log" | head -60 >&2
		break
	fi
done
t_done
