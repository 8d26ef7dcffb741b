#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench-l7: the xdpgw gateway (gwd with a YAML config, as a user runs it) against nginx, HAProxy
# and the h2o binary from Debian, as HTTP/1.1 reverse proxies with upstream keep-alive.
#
# Everything runs inside one network namespace this script creates, on its loopback:
#   CPU PROXY_CPU (1)  the proxy under test: one worker (workers: 1, worker_processes 1,
#                      nbthread 1, num-threads 1), the whole process pinned with taskset
#   CPU LOAD_CPU (0)   the upstream (a one-worker nginx answering a fixed 175-byte JSON body,
#                      the cheapest HTTP server in Debian) and the load generator
#                      (wrk -t1 -cCONNS --latency, DURATION seconds)
# Per run: requests/s and p50/p99 from wrk, and the proxy's CPU time per request:
# (utime+stime of the proxy's processes, from /proc/PID/stat, over the run) / requests. CPU
# per request survives a noisy machine best (the proxy's time is its own whatever else runs).
#
# Cases (each with the proxies that can do it without add-on modules):
#   plain           plain proxy                                     xdpgw nginx haproxy h2o
#   keyauth-rl-log  API key + rate limit (never reached) + JSON     xdpgw nginx haproxy
#                   access log (buffered 32 KiB / 1 s where the proxy can)
#   jwt-rl          JWT RS256 bearer token + rate limit by subject  xdpgw haproxy
#   json-remove     drop one member of the upstream's JSON body     xdpgw
#   cache-hit       responses served from the proxy's cache         xdpgw nginx haproxy
# Before measuring, each proxy is checked: the right body, 401 without credentials in the
# authentication cases, and in cache-hit the upstream's request counter (nginx stub_status)
# must stay still while the proxy answers. A run with any non-2xx answer fails the case; one with
# socket errors (wrk's 2 s timeouts: a stall of the shared machine) is done again, twice at most,
# and counted as discarded.
# The proxies of a case run side by side (idle unless loaded); after a warm-up (WARMUP
# seconds each) the REPEATS runs are interleaved across them and the median is reported.
#
# Environment: REPEATS (5), DURATION (3 seconds), WARMUP (1), CONNS (32), PROXY_CPU (1),
# LOAD_CPU (0), CASES (all five), PROXIES (xdpgw nginx haproxy h2o), BENCH_DOCS=0 to leave
# docs/benchmarks.md alone, PERF (build/bench/perf-l7; empty: off) where one extra xdpgw run per
# case is profiled with perf (PERF/CASE-flat.txt: self time by function; CASE-tree.txt: call
# graphs; a CASE-xdpgw-profile result line).
# Output: progress on stderr, then `bench-l7 CASE-PROXY key=value ...` lines, ratios to
# nginx's plain proxy (plain-nginx) and the issue-10 target lines `bench-l7 target-...`.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/page.sh"
. "$HERE/../lib/test.sh"
. "$HERE/../lib/netns.sh"

REPEATS=${REPEATS:-5}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-32}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
CASES=${CASES:-plain keyauth-rl-log jwt-rl json-remove cache-hit}
PROXIES=${PROXIES:-xdpgw nginx haproxy h2o}
BENCH_DOCS=${BENCH_DOCS:-1}
# Profiling is on by default where perf can sample (PERF= turns it off).
PERF=${PERF-$BUILD/bench/perf-l7}
if [ -n "$PERF" ] && ! perf record -q -o /dev/null true >/dev/null 2>&1; then
	PERF=
fi
HZ=$(getconf CLK_TCK)
UP_PORT=9000
declare -A PORT=([xdpgw]=8001 [nginx]=8002 [haproxy]=8003 [h2o]=8004 [ref]=8009)
# "ref" is nginx's plain proxy, run in every case next to the case's proxies: CPU ratios to
# nginx's plain proxy pair each run with the reference run of the same round.
declare -A KIND=([ref]=nginx)
BODY='{"id":42,"name":"widget","price":9.99,"tags":["a","b"],"owner":{"id":7,"email":"owner@example.com"},"internal":{"cost":3.1,"supplier":"acme"},"updated":"2026-01-01T00:00:00Z"}'
API_KEY=bench-key-6b1f0c2e9d
RATE=1000000	# requests per second per consumer: far above what one core proxies
RESULTS=()	# the machine-readable lines, printed last

say() { echo "# $*" >&2; }
result() { RESULTS+=("bench-l7 $*"); }
die() {
	echo "bench-l7: $*" >&2
	echo "bench-l7 error reason=$(echo "$*" | tr ' ' '-')"
	exit 1
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0 || a == "") print "nan"; else printf "%.2f", a / b}'; }

# field CASE KEY: a value from the result lines.
field() {
	printf '%s\n' "${RESULTS[@]}" | awk -v c="$1" -v k="$2" '$2 == c {
		for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }'
}

# ---- proxy configurations: conf_PROXY CASE DIR writes DIR/PROXY.conf, or returns 1 with
# ---- SKIP_REASON set when the proxy cannot do the case without add-ons.

# The headers a proxy sends upstream are comparable: each adds X-Forwarded-For and a request
# id, and keeps upstream connections alive.
conf_xdpgw() {
	local c=$1 d=$2 pol="" log="" consumers=""
	case $c in
	plain) ;;
	keyauth-rl-log)
		log="  access_log: $d/xdpgw-access.log"
		consumers="  consumers: [{id: alice, keys: [{name: k1, sha256: $(printf %s "$API_KEY" |
			sha256sum | cut -d' ' -f1)}]}]"
		pol="      policies:
        - {name: key-auth, header: X-API-Key}
        - {name: rate-limit, limit: $RATE, window: second, key: consumer}"
		;;
	jwt-rl)
		pol="      policies:
        - {name: jwt, keys: [{kid: k1, pem_file: $d/jwt.pub, algorithms: [RS256]}], issuer: bench, audience: [api], consumer_claim: sub}
        - {name: rate-limit, limit: $RATE, window: second, key: consumer}"
		;;
	json-remove)
		pol="      policies: [{name: transform, response: {body: {remove: [internal]}}}]"
		;;
	cache-hit)
		pol="      policies: [{name: cache, ttl_ms: 600000}]"
		;;
	esac
	cat >"$d/xdpgw.conf" <<EOF
gateway:
  workers: 1
$log
  listeners: [{addr: "127.0.0.1:${PORT[xdpgw]}"}]
  upstreams: [{name: app, targets: [{addr: "127.0.0.1:$UP_PORT"}]}]
$consumers
  routes:
    - name: app
      path: /
      upstream: app
$pol
EOF
}

conf_nginx() {
	local c=$1 d=$2 port=${3:-${PORT[nginx]}} http="" loc=""
	case $c in
	plain) ;;
	keyauth-rl-log)
		http="map \$http_x_api_key \$consumer { default \"\"; \"$API_KEY\" alice; }
	limit_req_zone \$consumer zone=rl:1m rate=${RATE}r/s;
	log_format json escape=json '{\"time\":\"\$time_iso8601\",\"request_id\":\"\$request_id\",'
		'\"client\":\"\$remote_addr\",\"method\":\"\$request_method\",\"host\":\"\$host\",'
		'\"path\":\"\$uri\",\"upstream\":\"\$upstream_addr\",\"status\":\$status,'
		'\"bytes_in\":\$request_length,\"bytes_out\":\$body_bytes_sent,'
		'\"latency_s\":\$request_time,\"upstream_latency_s\":\"\$upstream_response_time\",'
		'\"consumer\":\"\$consumer\"}';"
		loc="if (\$consumer = \"\") { return 401; }
			limit_req zone=rl burst=1000 nodelay;
			access_log $d/nginx-access.log json buffer=32k flush=1s;"
		;;
	cache-hit)
		http="proxy_cache_path $d/nginx-cache levels=1:2 keys_zone=c:10m max_size=64m;"
		loc="proxy_cache c; proxy_cache_valid 200 10m;"
		;;
	*) SKIP_REASON=needs-nginx-plus-or-njs; return 1 ;;
	esac
	cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
error_log $d/nginx-error.log warn;
pid $d/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    upstream app { server 127.0.0.1:$UP_PORT; keepalive 64; }
    $http
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Request-Id \$request_id;
            $loc
        }
    }
}
EOF
}

conf_haproxy() {
	local c=$1 d=$2 glob="" fe="" be=""
	case $c in
	plain) ;;
	keyauth-rl-log)
		glob="log stdout format raw local0"
		fe="log global
	log-format '{\"time\":\"%tr\",\"request_id\":\"%ID\",\"client\":\"%ci\",\"method\":\"%HM\",\"host\":\"%[capture.req.hdr(0)]\",\"path\":\"%HPO\",\"upstream\":\"%si:%sp\",\"status\":%ST,\"bytes_in\":%U,\"bytes_out\":%B,\"latency_ms\":%Ta,\"upstream_latency_ms\":%Tr,\"consumer\":\"%[var(txn.consumer)]\"}'
	http-request capture req.hdr(host) len 64
	http-request set-var(txn.consumer) req.hdr(x-api-key),map_str($d/haproxy-keys.map)
	http-request deny deny_status 401 unless { var(txn.consumer) -m found }
	http-request track-sc0 var(txn.consumer) table rl
	http-request deny deny_status 429 if { sc_http_req_rate(0) gt $RATE }"
		printf '%s alice\n' "$API_KEY" >"$d/haproxy-keys.map"
		;;
	jwt-rl)
		# HAProxy's documented JWT recipe: algorithm, claims, then the signature.
		fe="http-request set-var(txn.bearer) http_auth_bearer
	http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
	http-request deny deny_status 401 unless { var(txn.alg) -m str RS256 }
	http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('\$.iss') -m str bench }
	http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('\$.aud') -m str api }
	http-request set-var(txn.now) date()
	http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
	http-request deny deny_status 401 if { var(txn.exp),sub(txn.now) -m int lt 0 }
	http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.alg,\"$d/jwt.pub\") -m int 1 }
	http-request set-var(txn.consumer) var(txn.bearer),jwt_payload_query('\$.sub')
	http-request track-sc0 var(txn.consumer) table rl
	http-request deny deny_status 429 if { sc_http_req_rate(0) gt $RATE }"
		;;
	cache-hit)
		glob="" be="http-request cache-use c
	http-response cache-store c"
		;;
	*) SKIP_REASON=needs-lua; return 1 ;;
	esac
	cat >"$d/haproxy.conf" <<EOF
global
    nbthread 1
    maxconn 4096
    $glob
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option forwardfor
    unique-id-format %{+X}o%ci%cp%fi%fp%Ts%rt
    unique-id-header X-Request-Id
backend rl
    stick-table type string len 64 size 100k expire 60s store http_req_rate(1s)
cache c
    total-max-size 64
    max-age 600
frontend f
    bind 127.0.0.1:${PORT[haproxy]}
    $fe
    default_backend app
backend app
    $be
    server s1 127.0.0.1:$UP_PORT
EOF
}

conf_h2o() {
	local c=$1 d=$2
	[ "$c" = plain ] || { SKIP_REASON=needs-mruby-script; return 1; }
	cat >"$d/h2o.conf" <<EOF
num-threads: 1
user: nobody
error-log: $d/h2o-error.log
listen: {host: 127.0.0.1, port: ${PORT[h2o]}}
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:$UP_PORT/
        proxy.preserve-host: ON
EOF
}

# ---- start_proxy NAME DIR: starts NAME (a proxy, or ref) from its configuration in DIR; sets
# ---- PID_OF[NAME]; returns 1 with SKIP_REASON set when it did not start (refused config)

declare -A PID_OF

start_proxy() {
	local p=$1 d=$2 kind=${KIND[$1]:-$1} log="$2/$1.log"
	case $kind in
	xdpgw)
		rm -rf "$d/state"
		bg_start g "$log" taskset -c "$PROXY_CPU" "$GWD" --config "$d/xdpgw.conf" \
			--state-dir "$d/state" --socket "$d/gwd.sock" --bpffs "$BPFFS" --foreground
		;;
	nginx) bg_start g "$log" taskset -c "$PROXY_CPU" nginx -c "$d/nginx.conf" -p "$d" ;;
	haproxy) bg_start g "$log" taskset -c "$PROXY_CPU" haproxy -db -f "$d/haproxy.conf" ;;
	h2o) bg_start g "$log" taskset -c "$PROXY_CPU" h2o -c "$d/h2o.conf" ;;
	esac
	PID_OF[$p]=$BG_PID
	# Listening, or gone (a refused configuration): whichever comes first.
	wait_until 10 sh -c "ip netns exec $(ns g) ss -ltnH | grep -q ':${PORT[$p]} ' ||
		! kill -0 $BG_PID"
	if ! nsx g ss -ltnH | grep -q ":${PORT[$p]} "; then
		if grep -q 'unknown policy' "$log"; then
			SKIP_REASON=policy-not-landed
		else
			SKIP_REASON=did-not-start
			tail -5 "$log" >&2
		fi
		bg_stop "$BG_PID"
		return 1
	fi
}

# proc_ticks PID: utime+stime of PID and its children (nginx's worker), in clock ticks.
proc_ticks() {
	local p sum=0 t
	for p in "$1" $(ps -o pid= --ppid "$1"); do
		t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# upstream_requests: the upstream's request counter (stub_status; the read itself counts one).
upstream_requests() {
	nsx g curl -s --max-time 2 "http://127.0.0.1:$UP_PORT/_status" | awk 'NR == 3 {print $3}'
}

# case_headers CASE: sets HDR, the request headers (curl and wrk options) of a case, and
# URL_PATH (cache-hit asks for /cached, which the upstream marks cacheable for 10 minutes).
case_headers() {
	HDR=()
	URL_PATH=/item
	[ "$1" = cache-hit ] && URL_PATH=/cached
	case $1 in
	keyauth-rl-log) HDR=(-H "X-API-Key: $API_KEY") ;;
	jwt-rl) HDR=(-H "Authorization: Bearer $TOKEN") ;;
	esac
}

# verify PROXY CASE: the proxy answers this case correctly (returns 1 with a reason).
verify() {
	local p=$1 c=$2 url out code
	case_headers "$c"
	url="http://127.0.0.1:${PORT[$p]}$URL_PATH"
	out=$(nsx g curl -s --max-time 5 "${HDR[@]}" "$url")
	case $c in
	json-remove)
		[ "$(echo "$out" | jq -c . 2>/dev/null)" = "$(echo "$BODY" | jq -c 'del(.internal)')" ] ||
			{ VERIFY_REASON=body-not-edited; return 1; } ;;
	*) [ "$out" = "$BODY" ] || { VERIFY_REASON=wrong-body; return 1; } ;;
	esac
	case $c in
	keyauth-rl-log | jwt-rl)
		code=$(nsx g curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url")
		[ "$code" = 401 ] || { VERIFY_REASON=no-401-without-credentials; return 1; }
		if [ "$c" = jwt-rl ]; then
			code=$(nsx g curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
				-H "Authorization: Bearer $BAD_TOKEN" "$url")
			[ "$code" = 401 ] || { VERIFY_REASON=no-401-for-a-bad-signature; return 1; }
		fi
		;;
	esac
	return 0
}

# to_us VALUE: wrk's latency (1.23ms, 456.00us, 1.2s) in microseconds.
to_us() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /s$/) m = 1e6; else m = 0
		sub(/[a-z]+$/, "", v); printf "%.0f", v * m }'
}

# run_wrk PROXY CASE SECONDS: one load run; sets RPS P50 P99 CPU_US REQS, or returns 1 with
# WRK_FAIL set: non-2xx-answers, no-answers or socket-errors (wrk's timeouts count: a stall of the
# shared machine can cause them, so run_case retries those).
run_wrk() {
	local p=$1 c=$2 s=$3 out t0 t1 bad
	case_headers "$c"
	t0=$(proc_ticks "${PID_OF[$p]}")
	out=$(nsx g taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${s}s" --latency "${HDR[@]}" \
		"http://127.0.0.1:${PORT[$p]}$URL_PATH" 2>&1)
	t1=$(proc_ticks "${PID_OF[$p]}")
	REQS=$(echo "$out" | awk '/requests in/ {print $1}')
	RPS=$(echo "$out" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
	P50=$(to_us "$(echo "$out" | awk '$1 == "50%" {print $2}')")
	P99=$(to_us "$(echo "$out" | awk '$1 == "99%" {print $2}')")
	WRK_FAIL=
	if echo "$out" | grep -q 'Non-2xx'; then
		WRK_FAIL=non-2xx-answers
	elif [ -z "$REQS" ] || [ "$REQS" -eq 0 ]; then
		WRK_FAIL=no-answers
	elif echo "$out" | grep -q 'Socket errors'; then
		WRK_FAIL=socket-errors
	fi
	if [ -n "$WRK_FAIL" ]; then
		echo "$out" >&2
		return 1
	fi
	CPU_US=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$REQS" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
}

# profile CASE: one more xdpgw run, not counted, with perf sampling the gateway; writes
# $PERF/CASE-flat.txt (self time by function) and CASE-tree.txt (call graphs), and adds the
# result line CASE-xdpgw-profile: the share of samples per object (kernel, libc, libh2o, gwd,
# ...) and the hottest user-space functions.
profile() {
	local c=$1 data="$PERF/$1.data" perf_pid shares top
	mkdir -p "$PERF"
	perf record -q -g -o "$data" -p "${PID_OF[xdpgw]}" 2>/dev/null &
	perf_pid=$!
	sleep 0.3
	run_wrk xdpgw "$c" "$DURATION" >/dev/null 2>&1
	total[xdpgw]=$((total[xdpgw] + ${REQS:-0}))	# run_case's count, for the access log check
	kill -INT "$perf_pid"
	wait "$perf_pid"
	perf report -i "$data" --no-children --percent-limit 0.3 --stdio -g none 2>/dev/null \
		>"$PERF/$c-flat.txt"
	perf report -i "$data" --children --percent-limit 2 --stdio -g caller,0.5,callee \
		--max-stack 32 2>/dev/null >"$PERF/$c-tree.txt"
	shares=$(perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null |
		awk '$1 ~ /%$/ {
			v = $1; sub(/%/, "", v); d = $2
			if (d == "[kernel.kallsyms]") d = "kernel"
			else if (d == "[vdso]") d = "vdso"
			else if (d ~ /^libc[.]so/) d = "libc"
			else { sub(/^lib/, "", d); sub(/[.-].*/, "", d) }
			sum[d] += v
		} END { for (d in sum) if (sum[d] >= 0.1) printf "%s=%.1f ", d, sum[d] }')
	top=$(perf report -i "$data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
		awk '$1 ~ /%$/ && $2 != "[kernel.kallsyms]" && $4 !~ /^0x/ && n < 8 {
			v = $1; sub(/%/, "", v); printf "%s%s:%s", n++ ? "," : "", $4, v }')
	result "$c-xdpgw-profile $shares top_user=$top samples=$(perf report -i "$data" --stdio \
		-g none 2>/dev/null | awk '/^# Samples:/ {print $3; exit}')"
	say "$c-xdpgw: profile in $PERF/$c-flat.txt and $c-tree.txt"
}

# ---- one case: start its proxies, verify, warm up, interleave the runs, report medians

run_case() {
	local c=$1 d="$TMP/$1" p r try up0 up1 extra ref_cpu ref_rps live=() names=()
	declare -A rps p50 p99 cpu vs rvs total discarded
	mkdir -p "$d" "$d/ref"
	cp "$TMP"/jwt.* "$d/"
	for p in $PROXIES; do
		SKIP_REASON=
		if ! "conf_$p" "$c" "$d" || ! start_proxy "$p" "$d"; then
			result "$c-$p skipped reason=$SKIP_REASON"
			say "$c-$p: skipped ($SKIP_REASON)"
			continue
		fi
		if ! verify "$p" "$c"; then
			result "$c-$p error reason=$VERIFY_REASON"
			say "$c-$p: $VERIFY_REASON"
			bg_stop "${PID_OF[$p]}"
			continue
		fi
		live+=("$p")
	done
	[ ${#live[@]} -gt 0 ] || return 0
	# The reference: nginx's plain proxy (itself in the plain case).
	if [ "$c" = plain ] && [[ " ${live[*]} " == *" nginx "* ]]; then
		REF=nginx
	else
		REF=ref
		conf_nginx plain "$d/ref" "${PORT[ref]}" && start_proxy ref "$d/ref" &&
			verify ref plain || die "the nginx reference did not start"
	fi
	# The reference runs first in every round.
	names=("$REF")
	for p in "${live[@]}"; do
		[ "$p" = "$REF" ] || names+=("$p")
	done
	live=("${names[@]}")
	for p in "${live[@]}"; do
		run_wrk "$p" "$c" "$WARMUP" >/dev/null 2>&1
		total[$p]=${REQS:-0}
	done
	for r in $(seq 1 "$REPEATS"); do
		ref_cpu=
		ref_rps=
		for p in "${live[@]}"; do
			case ${rps[$p]:-} in error* | not-cached) continue ;; esac
			for try in 1 2 3; do
				up0=$(upstream_requests)
				run_wrk "$p" "$([ "$p" = ref ] && echo plain || echo "$c")" "$DURATION" &&
					break
				total[$p]=$((total[$p] + ${REQS:-0}))
				# Socket errors (timeouts) alone may be the machine: the run is done again.
				[ "$WRK_FAIL" = socket-errors ] && [ "$try" -lt 3 ] || break
				discarded[$p]=$((${discarded[$p]:-0} + 1))
				say "$c-$p run $r: discarded ($WRK_FAIL), once more"
			done
			if [ -n "$WRK_FAIL" ]; then
				rps[$p]=error-$WRK_FAIL
				continue
			fi
			up1=$(upstream_requests)
			total[$p]=$((total[$p] + REQS))
			if [ "$c" = cache-hit ] && [ "$p" != ref ] && [ $((up1 - up0)) -gt $((REQS / 100)) ]; then
				say "$c-$p: $((up1 - up0)) upstream requests for $REQS answers: not cached"
				rps[$p]=not-cached
				continue
			fi
			rps[$p]+="$RPS "
			p50[$p]+="$P50 "
			p99[$p]+="$P99 "
			cpu[$p]+="$CPU_US "
			# Paired with this round's reference run (measured first in the round).
			[ "$p" = "$REF" ] && ref_cpu=$CPU_US ref_rps=$RPS
			vs[$p]+="$(ratio "$CPU_US" "$ref_cpu") "
			rvs[$p]+="$(ratio "$RPS" "$ref_rps") "
			say "$c-$p run $r: $RPS req/s, p50 $P50 us, p99 $P99 us, $CPU_US us CPU/request"
		done
	done
	if [ -n "$PERF" ] && [[ " ${live[*]} " == *" xdpgw "* ]]; then
		profile "$c"
	fi
	for p in "${live[@]}"; do
		# Graceful stop (nginx: QUIT), so buffered access logs are written out.
		bg_stop "${PID_OF[$p]}" "$([ "${KIND[$p]:-$p}" = nginx ] && echo QUIT || echo TERM)"
		case ${rps[$p]:-} in
		error-*)
			result "$c-$p error reason=${rps[$p]#error-}"
			continue
			;;
		not-cached)
			result "$c-$p error reason=not-cached"
			continue
			;;
		esac
		extra=
		if [ "$c" = keyauth-rl-log ] && [ "$p" != ref ]; then
			# The access log was written: its lines for the requests answered (all runs).
			extra=" requests=${total[$p]} log_lines=$(cat "$d/$p-access.log" "$d/$p.log" \
				2>/dev/null | grep -c '"status":200')"
		fi
		# shellcheck disable=SC2086
		result "$([ "$p" = ref ] && echo "$c-nginx-plain-ref" || echo "$c-$p")" \
			"rps=$(median ${rps[$p]}) p50_us=$(median ${p50[$p]})" \
			"p99_us=$(median ${p99[$p]}) cpu_us_per_req=$(median ${cpu[$p]})" \
			"cpu_vs_nginx_plain=$(median ${vs[$p]}) rps_vs_nginx_plain=$(median ${rvs[$p]})" \
			"cpu_runs=$(echo ${cpu[$p]} | tr ' ' ,) discarded=${discarded[$p]:-0}$extra"
	done
}

# target NAME CASE LIMIT: the issue-10 target line for xdpgw's CPU/request in CASE.
target() {
	local v
	v=$(field "$2-xdpgw" cpu_vs_nginx_plain)
	if [ -z "$v" ] || [ "$v" = nan ]; then
		result "target-$1 case=$2-xdpgw limit=$3 verdict=not-measured"
		return
	fi
	result "target-$1 case=$2-xdpgw cpu_vs_nginx_plain=$v limit=$3" \
		"verdict=$(awk -v v="$v" -v l="$3" 'BEGIN {print (v <= l) ? "met" : "missed"}')"
}

# ---- the docs section

case_title() {
	case $1 in
	plain) echo "plain proxy" ;;
	keyauth-rl-log) echo "key-auth + rate limit (not reached) + JSON access log" ;;
	jwt-rl) echo "JWT (RS256) + rate limit" ;;
	json-remove) echo "response JSON field removal" ;;
	cache-hit) echo "cache hit" ;;
	esac
}

# shares_row CASE: the profile line of CASE as a table row.
shares_row() {
	local l
	l=$(printf '%s\n' "${RESULTS[@]}" | awk -v c="$1-xdpgw-profile" '$2 == c')
	[ -n "$l" ] || return 0
	echo "$l" | awk -v t="$(case_title "$1")" '{
		for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		other = 100 - v["kernel"] - v["libc"] - v["h2o"] - v["gwd"]
		top = v["top_user"]; gsub(/,/, ", ", top); gsub(/:/, " ", top)
		printf "| %s | %s | %s%% | %s%% | %s%% | %s%% | %.1f%% | %s |\n", t, v["samples"],
			v["kernel"], v["libc"], v["h2o"], v["gwd"], other, top }'
}

write_docs() {
	local file=$1 section=$TMP/section.md c p
	{
		echo "<!-- bench-l7:begin (written by selftests/bench/l7.sh; edit the script) -->"
		echo "## L7: the gateway against nginx, HAProxy and h2o"
		echo
		echo "Produced by \`make bench-l7\` (REPEATS=$REPEATS DURATION=$DURATION CONNS=$CONNS) on" \
			"$(date -u +%Y-%m-%d) with nginx $(nginx -v 2>&1 | sed 's,.*/,,'), HAProxy" \
			"$(haproxy -v | awk 'NR == 1 {print $3}'), h2o $(h2o --version | awk 'NR == 1 {print $3}')" \
			"and wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null), all from Debian."
		echo
		echo "- One network namespace made for the run, loopback only. Each proxy runs **one"
		echo "  worker** (xdpgw \`workers: 1\`, nginx \`worker_processes 1\`, HAProxy \`nbthread 1\`,"
		echo "  h2o \`num-threads: 1\`), the whole process pinned to CPU $PROXY_CPU with taskset."
		echo "  xdpgw is \`gwd --config FILE\` with the YAML below, as a user runs it."
		echo "- CPU $LOAD_CPU runs the upstream (one nginx worker answering a fixed 175-byte JSON"
		echo "  body) and \`wrk -t1 -c$CONNS -d${DURATION}s --latency\`. HTTP/1.1 with keep-alive on"
		echo "  both sides; every proxy keeps its upstream connections alive and adds"
		echo "  X-Forwarded-For and a request id."
		echo "- **CPU us/request** is the proxy's own utime+stime (/proc/PID/stat, all its threads"
		echo "  and processes) over a run, divided by the requests wrk completed. It is the figure"
		echo "  that survives a busy machine; requests/s and latency also depend on the CPU the"
		echo "  load generator and the upstream share."
		echo "- Every case also runs **nginx's plain proxy** as a reference, first in each round;"
		echo "  **vs nginx plain** is the median over the $REPEATS rounds of (this run's figure) /"
		echo "  (the reference's in the same round), so slow drifts of the machine cancel out."
		echo "  Other columns are medians of the $REPEATS runs."
		echo "- Checked before measuring: the body is the upstream's (json-remove: without the"
		echo "  removed member), 401 without credentials (and for a forged JWT signature); in"
		echo "  cache-hit the upstream's request counter (nginx stub_status) must stay still. A run"
		echo "  with any non-2xx answer fails the case; one with socket errors (wrk's 2 s timeouts,"
		echo "  a stall of the shared machine) is done again (\`discarded\` in the raw lines), at"
		echo "  most twice. In key-auth, every request"
		echo "  must have its access-log line (\`log_lines\` against \`requests\` in the raw lines)."
		echo
		echo "| case | proxy | requests/s | vs nginx plain | p50 us | p99 us | CPU us/request | vs nginx plain |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
		for c in $CASES; do
			for p in $PROXIES; do
				if [ -n "$(field "$c-$p" rps)" ]; then
					echo "| $(case_title "$c") | $p | $(field "$c-$p" rps) |" \
						"$(field "$c-$p" rps_vs_nginx_plain) |" \
						"$(field "$c-$p" p50_us) | $(field "$c-$p" p99_us) |" \
						"$(field "$c-$p" cpu_us_per_req) | $(field "$c-$p" cpu_vs_nginx_plain) |"
				elif [ -n "$(field "$c-$p" reason)" ]; then
					echo "| $(case_title "$c") | $p | n/a: $(field "$c-$p" reason | tr '-' ' ') | | | | | |"
				fi
			done
		done
		echo
		echo "![bench-l7 chart](img/bench-l7.png)"
		echo
		echo "Targets (issue 10): xdpgw's CPU per request against nginx's plain proxy."
		echo
		echo "| target | limit | measured | verdict |"
		echo "| --- | ---: | ---: | --- |"
		echo "| plain proxy | 1.05 | $(field target-plain-cpu cpu_vs_nginx_plain) |" \
			"$(field target-plain-cpu verdict) |"
		echo "| key-auth + rate limit + access log | 1.15 |" \
			"$(field target-keyauth-rl-log-cpu cpu_vs_nginx_plain) |" \
			"$(field target-keyauth-rl-log-cpu verdict) |"
		echo
		echo "### What each proxy does per case"
		echo
		echo "The configurations are written by \`selftests/bench/l7.sh\` (\`conf_xdpgw\`,"
		echo "\`conf_nginx\`, \`conf_haproxy\`, \`conf_h2o\`). A proxy that needs an add-on for a case"
		echo "(njs or NGINX Plus, Lua, mruby) is left out of it rather than scripted."
		echo
		echo "- **key-auth + rate limit + JSON access log**: xdpgw's \`key-auth\` hashes the"
		echo "  X-API-Key header (SHA-256) and looks the digest up among \`consumers\`, then"
		echo "  \`rate-limit\` (local GCRA per consumer, $RATE/s, never reached) and the JSON"
		echo "  access log buffered per worker (32 KiB or 1 s). nginx: a \`map\` of the plain key,"
		echo "  \`limit_req\` per consumer and a JSON \`log_format\` with the same buffering. HAProxy:"
		echo "  a map file, a stick table with \`http_req_rate\`, a JSON \`log-format\` to stdout"
		echo "  (a line per request, redirected to a file)."
		echo "- **JWT (RS256) + rate limit**: xdpgw's \`jwt\` checks signature, issuer, audience and"
		echo "  expiry and remembers a verified token per worker, so a client's repeated token"
		echo "  costs a lookup rather than an RSA verification. HAProxy follows its documented"
		echo "  recipe (\`jwt_header_query\`, \`jwt_payload_query\` checks, \`jwt_verify\`): an RSA"
		echo "  verification on every request. nginx needs NGINX Plus or njs for JWT."
		echo "- **response JSON field removal**: xdpgw's \`transform\` policy parses the body,"
		echo "  removes \`internal\` and serializes it again (jansson)."
		echo "- **cache hit**: xdpgw's \`cache\` policy (memory, shared by the workers), nginx"
		echo "  \`proxy_cache\` (files, served from the page cache), HAProxy \`cache\` (memory). The"
		echo "  upstream marks /cached \`Cache-Control: public, max-age=600\`."
		echo
		if printf '%s\n' "${RESULTS[@]}" | grep -q -- '-xdpgw-profile '; then
			echo "### Where the gateway's time goes"
			echo
			echo "One more xdpgw run per case under \`perf record -g\` (cpu-clock sampling; this"
			echo "machine has no hardware counters), share of samples per object and the hottest"
			echo "user-space functions (self time, % of all samples). Full reports:"
			echo "\`build/bench/perf-l7/CASE-flat.txt\` and \`CASE-tree.txt\` after a run."
			echo
			echo "| case | samples | kernel | libc | libh2o | gwd | other | hottest user-space functions |"
			echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
			for c in $CASES; do shares_row "$c"; done
			echo
		fi
		echo "Reading the profiles (and nginx's, compared while writing this benchmark): about"
		echo "four fifths of the gateway's CPU time is the kernel's loopback TCP work (waking the"
		echo "peer, the send and receive paths, epoll), as for nginx and HAProxy, with the same"
		echo "number of system calls per request as nginx (about 6: a read and a writev on each"
		echo "side, epoll). The rest is spread thin: libh2o's request parsing and response"
		echo "flattening (it formats the head with sprintf: the \`__vfprintf_internal\` entries),"
		echo "malloc, the gateway's routing, proxy headers and upstream client, and each case's"
		echo "policy work (SHA-256 for key-auth; jansson parsing and serializing the body, with"
		echo "a malloc per JSON value, is most of what json-remove adds). Two costs were found"
		echo "this way and removed; interleaved A/B runs of old and new gwd builds measured"
		echo "about 10% less CPU per request for them together:"
		echo
		echo "- libh2o 2.2 removes a client socket from epoll while its request is handled and"
		echo "  adds it back afterwards (EPOLL_CTL_DEL + ADD per request: the kernel frees and"
		echo "  allocates an epitem with memcg accounting, about 1 us). The gateway keeps the"
		echo "  registration and hides the socket's events from libh2o until it reads again"
		echo "  (\`userspace/gateway/epoll_park.c\`): no epoll_ctl per request, as in nginx. A"
		echo "  first version that switched interest with EPOLL_CTL_MOD still cost about 5%;"
		echo "  A/B runs of the two versions in the plain case measured that difference."
		echo "  These A/B figures were measured by hand with gwd builds of before and after, not"
		echo "  by a command of this suite; the parking alone can be measured again with its kill"
		echo "  switch: \`XDPGW_EPOLL_PARK=0 CASES=plain BENCH_DOCS=0 make bench-l7\` against the"
		echo "  same command without the variable."
		echo "- The JSON access log formatted its numbers with snprintf (\`%f\` for the"
		echo "  latencies); it now writes them directly (\`userspace/gateway/obs.c\`)."
		echo
		echo "### Commands and configurations"
		echo
		echo "Load, per run (headers per case: \`X-API-Key: ...\` for key-auth,"
		echo "\`Authorization: Bearer ...\` for JWT; path /cached for cache-hit, else /item):"
		echo
		echo '```sh'
		echo "ip netns exec NS taskset -c $LOAD_CPU wrk -t1 -c$CONNS -d${DURATION}s --latency [-H HEADER] http://127.0.0.1:PORT/item"
		echo "ip netns exec NS taskset -c $PROXY_CPU gwd --config xdpgw.conf --state-dir DIR/state --socket DIR/gwd.sock --bpffs BPFFS --foreground"
		echo "ip netns exec NS taskset -c $PROXY_CPU nginx -c DIR/nginx.conf -p DIR"
		echo "ip netns exec NS taskset -c $PROXY_CPU haproxy -db -f DIR/haproxy.conf"
		echo "ip netns exec NS taskset -c $PROXY_CPU h2o -c DIR/h2o.conf"
		echo '```'
		echo
		echo "<details><summary>The upstream and every proxy's configuration, per case</summary>"
		echo
		echo "upstream (nginx, CPU $LOAD_CPU):"
		echo
		echo '```nginx'
		sed "s,$TMP,DIR,g" "$TMP/upstream.conf"
		echo '```'
		for c in $CASES; do
			for p in $PROXIES; do
				[ -f "$TMP/$c/$p.conf" ] || continue
				echo
				echo "$(case_title "$c"), $p:"
				echo
				echo '```'
				grep -v '^[[:space:]]*$' "$TMP/$c/$p.conf" | sed "s,$TMP/$c,DIR,g"
				echo '```'
			done
		done
		echo
		echo "</details>"
		echo
		echo "Raw result lines:"
		echo
		echo '```'
		printf '%s\n' "${RESULTS[@]}"
		echo '```'
		echo "<!-- bench-l7:end -->"
	} >"$section"
	[ -f "$file" ] || printf '# xdpgw benchmarks\n' >"$file"
	page_put_section "$file" l7 "$section"
}

# ---- main
# (L7_DEFINE_ONLY=1: stop here, for sourcing the functions in experiments.)
[ "${L7_DEFINE_ONLY:-0}" = 1 ] && return 0

[ "$(id -u)" = 0 ] || die "needs root (namespaces)"
[ -x "$GWD" ] || die "$GWD is missing: run make"
for t in nginx haproxy h2o wrk curl jq openssl taskset sha256sum; do
	command -v "$t" >/dev/null || die "$t is missing: run make deps"
done
[ "$REPEATS" -ge 1 ] && [ "$DURATION" -ge 1 ] || die "want REPEATS >= 1 and DURATION >= 1"

ns_add g || die "could not create the namespace"
TMP=$(tmp_dir)
chmod 755 "$TMP"	# h2o drops to nobody
BPFFS=$(bpffs_dir gwd)

# The upstream: one nginx worker with a fixed JSON body and a request counter.
cat >"$TMP/upstream.conf" <<EOF
daemon off;
worker_processes 1;
error_log $TMP/upstream-error.log warn;
pid $TMP/upstream.pid;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$UP_PORT;
		location / { default_type application/json; return 200 '$BODY'; }
		location = /cached {
			default_type application/json;
			add_header Cache-Control "public, max-age=600";
			return 200 '$BODY';
		}
		location = /_status { stub_status; }
	}
}
EOF
bg_start g "$TMP/upstream.log" taskset -c "$LOAD_CPU" nginx -c "$TMP/upstream.conf" -p "$TMP"
wait_listen g "$UP_PORT" || die "the upstream did not start"

# RS256 key pair, a certificate for HAProxy's jwt_verify, a valid token and a forged one.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/jwt.key" 2>/dev/null &&
	openssl pkey -in "$TMP/jwt.key" -pubout -out "$TMP/jwt.pub" &&
	openssl req -new -x509 -key "$TMP/jwt.key" -subj /CN=bench -days 2 -out "$TMP/jwt.crt" ||
	die "could not make the JWT keys"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
jwt_head=$(printf '{"alg":"RS256","typ":"JWT","kid":"k1"}' | b64url)
jwt_claims=$(printf '{"sub":"alice","iss":"bench","aud":"api","iat":%d,"exp":%d}' "$now" \
	$((now + 86400)) | b64url)
TOKEN="$jwt_head.$jwt_claims.$(printf '%s.%s' "$jwt_head" "$jwt_claims" |
	openssl dgst -sha256 -sign "$TMP/jwt.key" -binary | b64url)"
BAD_TOKEN="${TOKEN%?????}AAAAA"

say "bench-l7: cases [$CASES], proxies [$PROXIES], $REPEATS x ${DURATION}s runs, $CONNS connections"
for c in $CASES; do
	run_case "$c"
done
target plain-cpu plain 1.05
target keyauth-rl-log-cpu keyauth-rl-log 1.15

[ "$BENCH_DOCS" = 1 ] && write_docs "$HERE/../../docs/benchmarks.md"
printf '%s\n' "${RESULTS[@]}"
