#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Consumers through gwd (ASan build) and gwctl: add, keys made by gwctl and shown once, keys
# from stdin, yescrypt passwords from stdin, groups for acl, show without secrets, deletion;
# secrets in no log and no state file; policy config errors refused with their message at
# gwctl apply and at gwd start, changing nothing.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_consumers
need_root consumers
prefer_asan_gwd

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
cat >"$GW_TMP/gwd.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams: [{name: a, targets: [{addr: "127.0.0.1:9001"}]}]
  routes:
    - {name: api, path: /api, upstream: a, policies: [{name: key-auth}]}
    - name: admin
      path: /admin
      upstream: a
      policies: [{name: key-auth}, {name: acl, allow_groups: [admins]}]
    - {name: basic, path: /basic, upstream: a, policies: [{name: basic-auth}]}
Y
gwd_start "$GW_TMP/gwd.yaml" 8080 || { t_fail setup "gwd did not serve"; tail "$GW_TMP/gwd.log"; exit 1; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
code() { gcurl -o /dev/null -w '%{http_code}' "$@"; }
generation() { nsx g curl -s --unix-socket "$GW_TMP/gwd.sock" http://x/v1/status | field 'd["generation"]'; }
U=http://127.0.0.1:8080

check consumer_add gctl consumer add alice groups admins,dev
check consumer_add_bob gctl consumer add bob
KEY=$(gctl consumer key add alice name laptop)
check_eq key_printed_once "${#KEY}" "43"
check_eq key_works "$(gcurl -H "X-API-Key: $KEY" "$U/api" | field 'd["headers"]["x-consumer-id"]')" "alice"
check_eq key_group_acl "$(code -H "X-API-Key: $KEY" "$U/admin")" "200"
check key_from_stdin sh -c "printf 'imported-key-0123456789\n' | ip netns exec $(ns g) $GWCTL ${GWCTL_ARGS[*]} consumer key add bob name old stdin"
check_eq stdin_key_works "$(gcurl -H 'X-API-Key: imported-key-0123456789' "$U/api" | field 'd["headers"]["x-consumer-id"]')" "bob"
check_eq acl_bob_denied "$(code -H 'X-API-Key: imported-key-0123456789' "$U/admin")" "403"
# A key longer than gwctl reads is refused, not cut to its first 1023 characters.
long=$(head -c 2000 /dev/zero | tr '\0' k)
out=$(printf '%s\n' "$long" | nsx g "$GWCTL" "${GWCTL_ARGS[@]}" consumer key add bob name cut stdin 2>&1 >/dev/null)
check_eq stdin_key_too_long "$out" "Error: key on stdin: longer than 1023 characters"
check_eq stdin_key_not_added "$(gctl -j consumer show bob | jq -c '[.[0].keys[].name]')" '["old"]'
JKEY=$(gctl -j consumer key add bob | field 'd["key"]')
check_eq json_key_works "$(code -H "X-API-Key: $JKEY" "$U/api")" "200"

check password_set sh -c "printf 'correct horse\n' | ip netns exec $(ns g) $GWCTL ${GWCTL_ARGS[*]} consumer password set alice user al"
check_eq basic_yescrypt_ok "$(gcurl -u 'al:correct horse' "$U/basic" | field 'd["headers"]["x-consumer-id"]')" "alice"
check_eq basic_wrong_password "$(code -u 'al:correct' "$U/basic")" "401"
check stored_as_yescrypt sh -c "ip netns exec $(ns g) curl -s --unix-socket $GW_TMP/gwd.sock http://x/v1/gateway/consumers/alice | grep -q '\"password_hash\":\"\$y\\$'"

out=$(gctl consumer show)
check_eq show_alice "$(echo "$out" | grep '^alice' | tr -s ' ')" "alice admins,dev laptop al"
check_eq show_bob_keys "$(echo "$out" | grep '^bob' | tr -s ' ' | cut -d' ' -f3 | tr ',' '\n' | head -1)" "old"
check show_no_secrets sh -c "! echo '$out' | grep -q -e '$KEY' -e imported-key -e sha256 -e '\\\$y\\\$'"
json=$(gctl -j consumer show alice)
check_eq show_json "$json" '[{"id":"alice","groups":["admins","dev"],"keys":[{"name":"laptop"}],"basic_auth":{"username":"al"}}]'
check secrets_not_in_state sh -c "! grep -rq -e '$KEY' -e imported-key -e 'correct horse' '$GW_TMP/state'"
check secrets_not_in_log sh -c "! grep -q -e '$KEY' -e imported-key -e 'correct horse' '$GW_TMP/gwd.log'"

# Refused input changes nothing.
gen=$(generation)
check_eq bad_id_refused "$(gctl consumer add 'bad id' 2>&1)" "Error: gateway.consumers[2].id: must be 1-127 characters of A-Z a-z 0-9 . _ - @ :"
check_eq duplicate_refused "$(gctl consumer add alice 2>&1)" "Error: consumer 'alice' already exists"
check_eq key_del_unknown "$(gctl consumer key del alice nope 2>&1)" "Error: consumer key del: consumer alice has no key named 'nope'"
cat >"$GW_TMP/bad1.yaml" <<Y
gateway:
  routes:
    - {name: api, path: /api, upstream: a, policies: [{name: jwt, algorithms: [RS257], keys: [{secret: "0123456789abcdef0123456789abcdef"}]}]}
Y
check_eq apply_unknown_algorithm "$(gctl apply -f "$GW_TMP/bad1.yaml" 2>&1 | tail -1)" 'Error: gateway.routes[api].policies[0].algorithms: unknown algorithm "RS257" (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)'
cat >"$GW_TMP/bad2.yaml" <<Y
gateway:
  routes:
    - {name: api, path: /api, upstream: a, policies: [{name: jwt, issuer: https://i.test}]}
Y
check_eq apply_missing_key "$(gctl apply -f "$GW_TMP/bad2.yaml" 2>&1 | tail -1)" 'Error: gateway.routes[api].policies[0]: needs keys, jwks_file or jwks_url'
cat >"$GW_TMP/bad3.yaml" <<Y
gateway:
  routes:
    - {name: api, path: /api, upstream: a, policies: [{name: acl, allow_ips: [198.18.0.0/33]}]}
Y
check_eq apply_bad_cidr "$(gctl apply -f "$GW_TMP/bad3.yaml" 2>&1 | tail -1)" 'Error: gateway.routes[api].policies[0].allow_ips[0]: "198.18.0.0/33" is not an IPv4 or IPv6 address or CIDR prefix (ADDR/LEN)'
check_eq refused_changes_nothing "$(generation)" "$gen"
check_eq still_serving "$(code -H "X-API-Key: $KEY" "$U/api")" "200"

# A config file with the same error does not start.
cp "$GW_TMP/bad3.yaml" "$GW_TMP/bad-start.yaml"
sed -i '1a\  listeners: [{addr: 127.0.0.1:8090}]\n  upstreams: [{name: a, targets: [{addr: "127.0.0.1:9001"}]}]' "$GW_TMP/bad-start.yaml"
nsx g timeout 10 "$GWD" --config "$GW_TMP/bad-start.yaml" --state-dir "$GW_TMP/state2" \
	--socket "$GW_TMP/gwd2.sock" --bpffs "$(bpffs_dir gwd2)" --foreground >"$GW_TMP/start.log" 2>&1
rc=$?
check load_refused test "$rc" -ne 0 -a "$rc" -ne 124
check load_error_message grep -q 'gateway.routes\[api\].policies\[0\].allow_ips\[0\]: "198.18.0.0/33" is not an IPv4 or IPv6 address or CIDR prefix (ADDR/LEN)' "$GW_TMP/start.log"

# Removal.
check key_del gctl consumer key del alice laptop
check_eq deleted_key_refused "$(code -H "X-API-Key: $KEY" "$U/api")" "401"
check password_del gctl consumer password del alice
check_eq deleted_password_refused "$(code -u 'al:correct horse' "$U/basic")" "401"
check consumer_del gctl consumer del bob
check_eq deleted_consumer_refused "$(code -H "X-API-Key: $JKEY" "$U/api")" "401"
check_eq show_after_del "$(gctl consumer show | tail -n +2 | cut -d' ' -f1 | tr '\n' ' ')" "alice "
gwd_stop "$GWD_PID"
check_eq gwd_clean_exit "$GWD_RC" 0
check no_asan_report sh -c "! grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error' '$GW_TMP/gwd.log'"
t_done
