#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway response cache through gwd: hit/miss, HEAD from GET, key parts, expiry (max-age,
# s-maxage), Vary, no-store/private/Set-Cookie, credentials, coalescing (the upstream counts
# one request for 20 concurrent misses), LRU eviction, purge with gwctl, a cache that survives
# a config change, stale-if-error, metrics.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_cache
need_root cache

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
cat >"$GW_TMP/gwd.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}]
  consumers:
    - {id: alice, keys: [{name: k, sha256: $(sha alice-key-0123456789)}]}
    - {id: bob, keys: [{name: k, sha256: $(sha bob-key-0123456789)}]}
  upstreams: [{name: a, targets: [{addr: "127.0.0.1:9001"}], passive: {failures: 0}}]
  routes:
    - {name: c, path: /c, upstream: a, policies: [{name: cache, ttl_ms: 60000, stale_if_error_ms: 60000}]}
    - {name: small, path: /s, upstream: a, policies: [{name: cache, max_bytes: 8192, max_object_bytes: 4096}]}
    - {name: pc, path: /pc, upstream: a, policies: [{name: key-auth}, {name: cache, per_consumer: true}]}
    - {name: nc, path: /nc, upstream: a, policies: [{name: key-auth}, {name: cache}]}
Y
gwd_start "$GW_TMP/gwd.yaml" 8080 || { t_fail setup "gwd did not serve"; tail "$GW_TMP/gwd.log"; exit 1; }

# get PATH [CURL_ARGS]: prints "X-CACHE SEQ" (SEQ: the upstream's serial number, - if none)
get() {
	local p=$1 body xc seq
	shift
	body=$(gcurl -D "$GW_TMP/h" "http://127.0.0.1:8080$p" "$@")
	xc=$(tr -d '\r' <"$GW_TMP/h" | awk -F': ' 'tolower($1)=="x-cache" {print $2}')
	seq=$(printf '%s' "$body" | sed -n 's/^{"name":"[^"]*","seq":\([0-9]*\),.*/\1/p')
	echo "${xc:-none} ${seq:--}"
}
hdr() { tr -d '\r' <"$GW_TMP/h" | awk -F': ' -v n="$1" 'tolower($1)==n {print $2}'; }
up_requests() { nsx g curl -s http://127.0.0.1:9001/_stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }
seq_of() { echo "${1#* }"; }
# xcache_is PATH VALUE: the X-Cache of a GET of PATH is VALUE
xcache_is() { nsx g curl -s -D - -o /dev/null "http://127.0.0.1:8080$1" | grep -qi "^x-cache: $2"; }

# ---- hit and miss ----
r1=$(get /c/1)
check_eq first_is_miss "${r1% *}" "MISS"
r2=$(get /c/1)
check_eq second_is_hit "$r2" "HIT $(seq_of "$r1")"
check age_header test -n "$(hdr age)" -a "$(hdr age)" -ge 0
len=$(gcurl http://127.0.0.1:8080/c/1 | wc -c)
gcurl -I -D "$GW_TMP/h" -o /dev/null http://127.0.0.1:8080/c/1
check_eq head_from_get "$(hdr x-cache) $(hdr content-length)" "HIT $len"
check_eq query_in_key "$(get '/c/1?x=1' | cut -d' ' -f1)" "MISS"
check_eq host_in_key "$(get /c/1 -H 'Host: other.test' | cut -d' ' -f1)" "MISS"
check_eq post_not_cached "$(get /c/1 -X POST -d x | cut -d' ' -f1)" "none"

# ---- expiry from Cache-Control ----
p='/c/exp?_h=Cache-Control:max-age%3D100,%20s-maxage%3D3'
r1=$(get "$p")
check_eq s_maxage_hit "$(get "$p")" "HIT $(seq_of "$r1")"
check expires wait_until 10 xcache_is "$p" MISS
r2=$(get "$p")
check_eq refetched_after_expiry "${r2% *} $([ "$(seq_of "$r2")" != "$(seq_of "$r1")" ] && echo new)" "HIT new"

# ---- Vary ----
p='/c/v?_h=Vary:Accept-Language'
en=$(get "$p" -H 'Accept-Language: en')
fr=$(get "$p" -H 'Accept-Language: fr')
check_eq vary_miss_per_value "${en% *} ${fr% *}" "MISS MISS"
check_eq vary_hit_en "$(get "$p" -H 'Accept-Language: en')" "HIT $(seq_of "$en")"
check_eq vary_hit_fr "$(get "$p" -H 'Accept-Language: fr')" "HIT $(seq_of "$fr")"
check_eq vary_star "$(get '/c/vs?_h=Vary:*' >/dev/null; get '/c/vs?_h=Vary:*' | cut -d' ' -f1)" "MISS"

# ---- not stored ----
for case in 'ns?_h=Cache-Control:no-store' 'pr?_h=Cache-Control:private,max-age%3D60' \
	'nc?_h=Cache-Control:no-cache' 'ck?_h=Set-Cookie:a%3Db' 'st?_status=500'; do
	get "/c/$case" >/dev/null
	check_eq "not_stored_${case%%\?*}" "$(get "/c/$case" | cut -d' ' -f1)" "MISS"
done
get /c/auth -H 'Authorization: Bearer t' >/dev/null
check_eq credentials_bypass "$(get /c/auth -H 'Authorization: Bearer t' | cut -d' ' -f1)" "MISS"
check_eq credentials_not_stored "$(get /c/auth | cut -d' ' -f1)" "MISS"

# ---- per-consumer caching behind authentication ----
a1=$(get /pc/x -H 'X-API-Key: alice-key-0123456789')
check_eq per_consumer_hit "$(get /pc/x -H 'X-API-Key: alice-key-0123456789')" "HIT $(seq_of "$a1")"
b1=$(get /pc/x -H 'X-API-Key: bob-key-0123456789')
check_eq per_consumer_separate "${b1% *} $([ "$(seq_of "$b1")" != "$(seq_of "$a1")" ] && echo own)" "MISS own"
check_eq per_consumer_auth_first "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/pc/x)" "401"
get /nc/x -H 'X-API-Key: alice-key-0123456789' >/dev/null
check_eq consumer_not_cached_by_default "$(get /nc/x -H 'X-API-Key: alice-key-0123456789' | cut -d' ' -f1)" "MISS"

# ---- coalescing: 20 concurrent misses, one upstream request (most of them wait on it) ----
before=$(up_requests)
pids=()
for i in $(seq 1 20); do
	nsx g curl -s --max-time 5 -D "$GW_TMP/co$i.h" -o "$GW_TMP/co$i.b" \
		'http://127.0.0.1:8080/c/co?_delay_ms=1500' &
	pids+=($!)
done
wait "${pids[@]}"
after=$(up_requests)
check_eq coalesced_one_upstream_request "$((after - before))" "1"
check_eq coalesced_same_body "$(cat "$GW_TMP"/co*.b | sort -u | wc -l)" "1"
check_eq coalesced_statuses "$(cat "$GW_TMP"/co*.h | grep -ci '^x-cache: MISS') $(cat "$GW_TMP"/co*.h | grep -ci '^x-cache: HIT')" "1 19"

# ---- LRU eviction in a small cache ----
for i in $(seq 1 12); do get "/s/$i" >/dev/null; done
check_eq lru_recent_kept "$(get /s/12 | cut -d' ' -f1)" "HIT"
check_eq lru_oldest_evicted "$(get /s/1 | cut -d' ' -f1)" "MISS"

# ---- purge with gwctl ----
get /c/p/1 >/dev/null; get /c/p/2 >/dev/null; get '/c/p/1?q=2' >/dev/null
check_eq purge_one_path "$(gctl -j cache purge c /c/p/1)" '{"purged":2}'
check_eq purged_is_miss "$(get /c/p/1 | cut -d' ' -f1) $(get /c/p/2 | cut -d' ' -f1)" "MISS HIT"
check_eq purge_prefix "$(gctl cache purge c '/c/p/*')" "purged 2 entries"
check_eq purge_all_then_miss "$(gctl cache purge c >/dev/null; get /c/1 | cut -d' ' -f1)" "MISS"
check_eq purge_unknown_route "$(gctl cache purge nope 2>&1)" "Error: cache purge: route nope has no cache"
check_eq purge_bad_path "$(gctl cache purge c p/1 2>&1)" \
	"Error: cache purge: PATH must start with / (an exact path, or a prefix ending in *), got 'p/1'"
check cache_show sh -c "'$GWCTL' --socket '$GW_TMP/gwd.sock' cache show c | grep -q '^c '"
# an unknown route: the error alone, nothing on stdout (under -j the error document alone)
check_eq cache_show_unknown "$(gctl cache show nope 2>/dev/null; echo "rc=$?")" "rc=1"
check_eq cache_show_unknown_json "$(gctl -j cache show nope 2>/dev/null)" \
	'{"error":"cache show: route nope has no cache"}'

# ---- the cache outlives a config change ----
r1=$(get /c/keep)
check route_added gctl route add other /other upstream a
check_eq kept_across_config_change "$(get /c/keep)" "HIT $(seq_of "$r1")"

# ---- metrics ----
nsx g curl -s --unix-socket "$GW_TMP/gwd.sock" http://x/metrics >"$GW_TMP/m.txt"
check metric_hits grep -q '^xdpgw_gateway_cache_hits_total{route="c"} [1-9]' "$GW_TMP/m.txt"
check metric_misses grep -q '^xdpgw_gateway_cache_misses_total{route="c"} [1-9]' "$GW_TMP/m.txt"
co=$(awk '/^xdpgw_gateway_cache_coalesced_total\{route="c"\}/ {print $2}' "$GW_TMP/m.txt")
check metric_coalesced test "$co" -ge 10 -a "$co" -le 19
check metric_evictions grep -q '^xdpgw_gateway_cache_evictions_total{route="small"} [1-9]' "$GW_TMP/m.txt"
check metric_bypass grep -q '^xdpgw_gateway_cache_bypass_total{route="c"} 2$' "$GW_TMP/m.txt"
check metric_bypass_consumer grep -q '^xdpgw_gateway_cache_bypass_total{route="nc"} 2$' "$GW_TMP/m.txt"

# ---- stale-if-error: the upstream is gone, an expired copy answers ----
p='/c/stale?_h=Cache-Control:max-age%3D1'
r1=$(get "$p")
kill "$UP_PID"
up_gone() { ! nsx g curl -s -o /dev/null http://127.0.0.1:9001/_stats; }
wait_until 5 up_gone
check stale_served wait_until 10 xcache_is "$p" STALE
check_eq stale_body "$(get "$p")" "STALE $(seq_of "$r1")"
check_eq no_copy_is_502 "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/c/never)" "502"
t_done
