#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway authentication and authorization: key-auth (header and query, hashed keys), basic-auth
# (crypt hashes, unknown users), jwt (HS256, RS256 from a JWKS URL, expired, alg none, unknown
# kid), acl (groups, addresses), the consumer header upstream (client copies removed), 401/403
# with WWW-Authenticate and JSON bodies, local rate limiting exact across two workers with the
# IETF RateLimit fields, and the counters.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_auth
need_root auth

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"

# Keys and tokens, made here independently of the gateway (python3 and the openssl CLI).
KEY_ALICE=alice-key-0123456789
KEY_BOB=bob-key-9876543210
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
PW_HASH=$(openssl passwd -6 -salt pepper 's3cret pass')
HS_SECRET=0123456789abcdef0123456789abcdef
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$GW_TMP/rsa.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$GW_TMP/rsa2.pem" 2>/dev/null
# jwks KID=PEM...: a JWK Set with those RSA public keys
jwks() {
	python3 - "$@" <<'PY'
import base64, json, subprocess, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
keys = []
for arg in sys.argv[1:]:
    kid, pem = arg.split("=", 1)
    out = subprocess.run(["openssl", "rsa", "-in", pem, "-noout", "-modulus"],
                         capture_output=True, text=True).stdout.strip().split("=")[1]
    keys.append({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                 "n": b64(bytes.fromhex(out)), "e": b64(b"\x01\x00\x01")})
print(json.dumps({"keys": keys}))
PY
}
jwks rsa1="$GW_TMP/rsa.pem" >"$GW_TMP/jwks.json"
# jwt ALG KID CLAIMS_JSON [PEM]: a compact JWS (HS256 with $HS_SECRET, RS256 with PEM (default
# rsa.pem), none unsigned); KID "k1 k2 ...": one token per kid, one per line (one python)
jwt() {
	python3 - "$1" "$2" "$3" "$HS_SECRET" "${4:-$GW_TMP/rsa.pem}" <<'PY'
import base64, hashlib, hmac, json, subprocess, sys
alg, kid, claims, secret, pem = sys.argv[1:6]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
for kid in kid.split(" "):
    hdr = {"alg": alg, "typ": "JWT"}
    if kid:
        hdr["kid"] = kid
    si = b64(json.dumps(hdr).encode()) + "." + b64(claims.encode())
    if alg == "HS256":
        sig = hmac.new(secret.encode(), si.encode(), hashlib.sha256).digest()
    elif alg == "RS256":
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", pem], input=si.encode(),
                             capture_output=True).stdout
    else:
        sig = b""
    print(si + "." + b64(sig))
PY
}
NOW=$(date +%s)

# The JWKS endpoint is a test upstream answering the key set.
gw_upstream jwks 9005 --body "$(cat "$GW_TMP/jwks.json")" || t_fail setup "jwks upstream"
JWKS_PID=$UP_PID

cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}]
  access_log: $GW_TMP/access.log
  upstreams:
    - {name: a, targets: [{addr: "127.0.0.1:9001"}]}
  consumers:
    - {id: alice, groups: [admins], keys: [{name: laptop, sha256: $(sha $KEY_ALICE)}],
       basic_auth: {username: alice, password_hash: '$PW_HASH'}}
    - {id: bob, keys: [{sha256: $(sha $KEY_BOB)}]}
  routes:
    - name: keys
      path: /keys
      upstream: a
      policies:
        - {name: key-auth, query: api_key, hide_credentials: true}
    - name: admin
      path: /admin
      upstream: a
      policies:
        - {name: key-auth}
        - {name: acl, allow_groups: [admins]}
    - name: inner
      path: /inner
      upstream: a
      policies:
        - {name: acl, deny_ips: [127.0.0.0/8]}
    - name: basic
      path: /basic
      upstream: a
      policies:
        - {name: basic-auth, realm: staff}
    - name: tokens
      path: /tokens
      upstream: a
      policies:
        - name: jwt
          keys: [{kid: h1, secret: "$HS_SECRET", alg: HS256}]
          jwks_url: http://127.0.0.1:9005/jwks.json
          jwks_min_refetch_s: 2
          issuer: https://issuer.test
          audience: api
          groups_claim: scope
          consumer_header: X-User
        - {name: acl, allow_groups: [read]}
    - name: limited
      path: /limited
      upstream: a
      policies:
        - {name: key-auth}
        - {name: rate-limit, limit: 7, window: hour, key: consumer, id: hourly}
Y
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not listen"; cat "$GW_TMP/gw.log"; exit 1; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
code() { gcurl -o /dev/null -w '%{http_code}' "$@"; }
U=http://127.0.0.1:8080

# ---- key-auth ----
gcurl -D "$GW_TMP/h" -o "$GW_TMP/b" "$U/keys/x"
check_eq key_missing_401 "$(head -1 "$GW_TMP/h" | cut -d' ' -f2)" "401"
check key_challenge grep -qi '^www-authenticate: ApiKey realm="xdpgw"' "$GW_TMP/h"
check_eq key_missing_json "$(cat "$GW_TMP/b")" '{"error":{"status":401,"code":"unauthorized","message":"authentication is required"}}'
check_eq key_bad_401 "$(code -H 'X-API-Key: nope' "$U/keys/x")" "401"
check_eq key_bad_message "$(gcurl -H 'X-API-Key: nope' "$U/keys/x" | field 'd["error"]["message"]')" "the credentials are not valid"
out=$(gcurl -H "X-API-Key: $KEY_ALICE" -H 'X-Consumer-Id: mallory' "$U/keys/x")
check_eq key_ok_consumer "$(echo "$out" | field 'd["headers"]["x-consumer-id"]')" "alice"
check_eq key_hidden "$(echo "$out" | field '"x-api-key" in d["headers"]')" "False"
out=$(gcurl "$U/keys/x?a=1&api_key=$KEY_BOB&b=2")
check_eq key_query_ok "$(echo "$out" | field 'd["headers"]["x-consumer-id"]')" "bob"
check_eq key_query_hidden "$(echo "$out" | field 'd["path"]')" "/keys/x?a=1&b=2"
out=$(gcurl -H 'X-Consumer-Id: mallory' -H "X-API-Key: $KEY_BOB" "$U/keys/x")
check_eq client_consumer_header_replaced "$(echo "$out" | field 'd["headers"]["x-consumer-id"]')" "bob"

# ---- acl ----
check_eq acl_group_allowed "$(code -H "X-API-Key: $KEY_ALICE" "$U/admin")" "200"
gcurl -D "$GW_TMP/h" -o "$GW_TMP/b" -H "X-API-Key: $KEY_BOB" "$U/admin"
check_eq acl_group_denied_403 "$(head -1 "$GW_TMP/h" | cut -d' ' -f2)" "403"
check_eq acl_403_json "$(cat "$GW_TMP/b")" '{"error":{"status":403,"code":"forbidden","message":"access to this route is not allowed"}}'
check acl_403_no_challenge sh -c "! grep -qi '^www-authenticate' '$GW_TMP/h'"
check_eq acl_ip_denied "$(code "$U/inner")" "403"

# ---- basic-auth ----
gcurl -D "$GW_TMP/h" -o /dev/null "$U/basic"
check basic_challenge grep -qi '^www-authenticate: Basic realm="staff", charset="UTF-8"' "$GW_TMP/h"
check_eq basic_ok "$(gcurl -u 'alice:s3cret pass' "$U/basic" | field 'd["headers"]["x-consumer-id"]')" "alice"
check_eq basic_ok_cached "$(code -u 'alice:s3cret pass' "$U/basic")" "200"
hashes() { gw_metrics | awk '$1 == "xdpgw_gateway_basic_auth_hash_checks_total" {print $2}'; }
h0=$(hashes)
check_eq basic_bad_password "$(code -u 'alice:s3cret' "$U/basic")" "401"
check_eq basic_unknown_user "$(code -u 'carol:s3cret pass' "$U/basic")" "401"
# Both refusals cost one password hash: an unknown user is not answered faster.
check_eq basic_unknown_user_hashed "$(($(hashes) - h0))" "2"
check basic_cache_used test "$(gw_metrics | awk '$1 == "xdpgw_gateway_basic_auth_cache_hits_total" {print $2}')" -ge 1
check_eq basic_malformed "$(code -H 'Authorization: Basic !!!' "$U/basic")" "401"

# ---- jwt ----
good=$(jwt HS256 h1 "{\"sub\":\"carol\",\"iss\":\"https://issuer.test\",\"aud\":\"api\",\"exp\":$((NOW + 300)),\"scope\":\"read write\"}")
out=$(gcurl -H "Authorization: Bearer $good" -H 'X-User: mallory' "$U/tokens")
check_eq jwt_hs256_ok "$(echo "$out" | field 'd["headers"]["x-user"]')" "carol"
check_eq jwt_cached_ok "$(code -H "Authorization: Bearer $good" "$U/tokens")" "200"
rs=$(jwt RS256 rsa1 "{\"sub\":\"dave\",\"iss\":\"https://issuer.test\",\"aud\":[\"api\"],\"exp\":$((NOW + 300)),\"scope\":\"read\"}")
rs_ok() { [ "$(code -H "Authorization: Bearer $rs" "$U/tokens")" = 200 ]; }
wait_until 5 rs_ok
check_eq jwt_rs256_from_jwks_url "$(gcurl -H "Authorization: Bearer $rs" "$U/tokens" | field 'd["headers"]["x-user"]')" "dave"
expired=$(jwt HS256 h1 "{\"sub\":\"carol\",\"iss\":\"https://issuer.test\",\"aud\":\"api\",\"exp\":$((NOW - 600))}")
gcurl -D "$GW_TMP/h" -o /dev/null -H "Authorization: Bearer $expired" "$U/tokens"
check_eq jwt_expired_401 "$(head -1 "$GW_TMP/h" | cut -d' ' -f2)" "401"
check jwt_invalid_token_challenge grep -qi '^www-authenticate: Bearer realm="xdpgw", error="invalid_token"' "$GW_TMP/h"
check_eq jwt_wrong_audience "$(code -H "Authorization: Bearer $(jwt HS256 h1 "{\"sub\":\"c\",\"iss\":\"https://issuer.test\",\"aud\":\"web\",\"exp\":$((NOW + 300))}")" "$U/tokens")" "401"
check_eq jwt_alg_none "$(code -H "Authorization: Bearer $(jwt none '' "{\"sub\":\"c\",\"iss\":\"https://issuer.test\",\"aud\":\"api\",\"exp\":$((NOW + 300))}")" "$U/tokens")" "401"
check_eq jwt_unknown_kid "$(code -H "Authorization: Bearer $(jwt HS256 nope "{\"sub\":\"c\",\"iss\":\"https://issuer.test\",\"aud\":\"api\",\"exp\":$((NOW + 300))}")" "$U/tokens")" "401"
check_eq jwt_scope_denied_by_acl "$(code -H "Authorization: Bearer $(jwt HS256 h1 "{\"sub\":\"c\",\"iss\":\"https://issuer.test\",\"aud\":\"api\",\"exp\":$((NOW + 300)),\"scope\":\"write\"}")" "$U/tokens")" "403"
bad=${good%?}A
[ "$bad" = "$good" ] && bad=${good%?}B
check_eq jwt_bad_signature "$(code -H "Authorization: Bearer $bad" "$U/tokens")" "401"
# Unknown kids do not make the gateway fetch the JWKS for each request: early fetches are
# honoured at most once per jwks_min_refetch_s (2 s here).
metric() { gw_metrics | awk -v m="$1" '$1 == m {print $2}'; }
mapfile -t toks < <(jwt HS256 "$(echo random{1..20})" '{"sub":"x"}')
before=$(metric 'xdpgw_gateway_jwks_fetches_total{result="refetch"}')
t0=$(date +%s%N)
for t in "${toks[@]}"; do code -H "Authorization: Bearer $t" "$U/tokens" >/dev/null; done
elapsed_s=$((($(date +%s%N) - t0) / 1000000000))
after=$(metric 'xdpgw_gateway_jwks_fetches_total{result="refetch"}')
check jwt_unknown_kid_no_storm test $((after - before)) -le $((1 + elapsed_s / 2))
echo "# 20 unknown kids in ${elapsed_s}s: $((after - before)) early fetches"
# The issuer goes away: fetches fail, the last good keys stay in use.
bg_stop "$JWKS_PID"
fetch_failed() {
	code -H "Authorization: Bearer $(jwt HS256 "gone" '{"sub":"x"}')" "$U/tokens" >/dev/null
	[ "$(metric 'xdpgw_gateway_jwks_fetches_total{result="failed"}')" -ge 1 ]
}
check jwks_fetch_fails wait_until 10 fetch_failed
rs_new=$(jwt RS256 rsa1 "{\"sub\":\"erin\",\"iss\":\"https://issuer.test\",\"aud\":\"api\",\"exp\":$((NOW + 300)),\"scope\":\"read\"}")
check_eq jwks_last_good_keys_kept "$(gcurl -H "Authorization: Bearer $rs_new" "$U/tokens" | field 'd["headers"]["x-user"]')" "erin"
check jwks_failure_logged_once test "$(grep -c 'cannot fetch keys from http://127.0.0.1:9005' "$GW_TMP/gw.log")" -eq 1
# Key rotation: the issuer comes back with a new key; its kid triggers an early fetch.
jwks rsa1="$GW_TMP/rsa.pem" rsa2="$GW_TMP/rsa2.pem" >"$GW_TMP/jwks2.json"
gw_upstream jwks2 9005 --body "$(cat "$GW_TMP/jwks2.json")" || t_fail setup "jwks upstream 2"
rs2=$(jwt RS256 rsa2 "{\"sub\":\"frank\",\"iss\":\"https://issuer.test\",\"aud\":\"api\",\"exp\":$((NOW + 300)),\"scope\":\"read\"}" "$GW_TMP/rsa2.pem")
rs2_ok() { [ "$(code -H "Authorization: Bearer $rs2" "$U/tokens")" = 200 ]; }
check jwks_rotation_new_kid wait_until 10 rs2_ok
check jwks_recovery_logged grep -q 'keys from http://127.0.0.1:9005/jwks.json (fetching works again)' "$GW_TMP/gw.log"

# ---- local rate limit: exactly 7 of 40 concurrent requests pass, across 2 workers ----
seq 1 40 | xargs -P 8 -I{} ip netns exec "$(ns g)" curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 \
	-H "X-API-Key: $KEY_ALICE" "$U/limited" >"$GW_TMP/codes"
check_eq ratelimit_exact_200 "$(grep -c '^200$' "$GW_TMP/codes")" "7"
check_eq ratelimit_exact_429 "$(grep -c '^429$' "$GW_TMP/codes")" "33"
check_eq ratelimit_other_key_ok "$(code -H "X-API-Key: $KEY_BOB" "$U/limited")" "200"
gcurl -D "$GW_TMP/h" -o "$GW_TMP/b" -H "X-API-Key: $KEY_ALICE" "$U/limited"
check ratelimit_retry_after grep -qiE '^retry-after: (51[0-9]|5[2-9][0-9])' "$GW_TMP/h"
check ratelimit_policy_field grep -qi '^ratelimit-policy: "hourly";q=7;w=3600' "$GW_TMP/h"
check ratelimit_field grep -qiE '^ratelimit: "hourly";r=0;t=[0-9]+' "$GW_TMP/h"
check_eq ratelimit_429_json "$(field 'd["error"]["code"]' <"$GW_TMP/b")" "too_many_requests"
gcurl -D "$GW_TMP/h" -o /dev/null -H "X-API-Key: $KEY_BOB" "$U/limited"
check ratelimit_fields_on_allowed grep -qi '^ratelimit: "hourly";r=5;t=' "$GW_TMP/h"

# ---- counters and the access log ----
gw_metrics >"$GW_TMP/m.txt"
check metrics_key_ok grep -q '^xdpgw_gateway_auth_total{policy="key-auth",result="ok"} [1-9]' "$GW_TMP/m.txt"
check metrics_key_unknown grep -q '^xdpgw_gateway_auth_total{policy="key-auth",result="unknown_key"} [1-9]' "$GW_TMP/m.txt"
check metrics_jwt_expired grep -q '^xdpgw_gateway_auth_total{policy="jwt",result="expired"} 1$' "$GW_TMP/m.txt"
check metrics_jwt_alg_none grep -q '^xdpgw_gateway_auth_total{policy="jwt",result="alg_none"} 1$' "$GW_TMP/m.txt"
check metrics_acl_denied grep -q '^xdpgw_gateway_auth_total{policy="acl",result="consumer_denied"} 2$' "$GW_TMP/m.txt"
check metrics_ratelimit_limited grep -q '^xdpgw_gateway_ratelimit_total{result="limited"} 34$' "$GW_TMP/m.txt"
wait_until 5 grep -q '"consumer":"bob"' "$GW_TMP/access.log"
check access_log_consumer grep -q '"route":"keys".*"status":200.*"consumer":"bob"' "$GW_TMP/access.log"
check secrets_not_logged sh -c "! grep -q -e '$KEY_ALICE' -e 's3cret' '$GW_TMP/gw.log' '$GW_TMP/access.log'"
check failures_logged grep -q 'key-auth failed: route keys client 127.0.0.1 consumer -: unknown_key' "$GW_TMP/gw.log"
t_done
