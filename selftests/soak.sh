#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make soak: 10 minutes (SOAK_SECONDS) of mixed load through the layered edge (client1 ->
# lb1's XDP balancer -> gw1, gw2 gateways -> four service instances; selftests/lib/edge.sh)
# with policies on (key-auth, acl, rate-limit, transform, cache), while every second something
# changes (routes, consumers and their keys, upstream weights, L4 backend weights, on every
# node through gwctl) and backends flap every minute (a service instance killed and restarted,
# a gateway set down and up on the balancer). Release binaries.
#
# Reports requests and failures, and each gwd's RSS and open descriptors and lb1's map entries
# at the start (after a warm-up) and at the end. Passes when:
#   - no request failed outside the failover windows (SOAK_WINDOW_MS, 3 s, after a kill or a
#     gateway set down: the requests in flight there and the keep-alive connections reset by
#     a moved flow may fail, docs/datapath.md "Down versus drain");
#   - every gwd's RSS grew by less than 10%;
#   - every gwd's descriptors stayed flat (end <= start + SOAK_FD_SLACK, 16: connection pools
#     breathe with the load).
# The report goes to stdout and to $BUILD/soak/report.txt; logs stay in $BUILD/soak/.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/selftests/lib/test.sh"
. "$ROOT/selftests/lib/netns.sh"
. "$ROOT/selftests/lib/topo.sh"
. "$ROOT/selftests/lib/edge.sh"
t_init soak
need_root soak

SECONDS_TOTAL=${SOAK_SECONDS:-600}
WARMUP=${SOAK_WARMUP:-20}
WINDOW_MS=${SOAK_WINDOW_MS:-3000}
FD_SLACK=${SOAK_FD_SLACK:-16}
OUT=$BUILD/soak
rm -rf "$OUT"
mkdir -p "$OUT"
EDGE_DIR=$OUT/edge
for f in "$GWD" "$GWCTL" "$BUILD/tools/upstream" "$BUILD/tools/reqloop"; do
	[ -x "$f" ] || { echo "soak: $f is missing: make build" >&2; exit 1; }
done

# ---- configuration: the demo's, with policies ----
EDGE_EXAMPLES=$OUT/config
mkdir -p "$EDGE_EXAMPLES"
cp "$ROOT/examples/demo-l4.yaml" "$EDGE_EXAMPLES/"
KEY=soak-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
cat >"$EDGE_EXAMPLES/demo-gateway.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: "0.0.0.0:80"}, {addr: "[::]:80"}]
  upstreams:
    - name: users
      targets: [{addr: "198.18.2.40:8080"}, {addr: "198.18.2.41:8080"}]
      health_check: {path: /health, interval_ms: 300, timeout_ms: 300, healthy: 2, unhealthy: 2}
      passive: {failures: 3, eject_ms: 1000}
    - name: products
      targets: [{addr: "198.18.2.42:8080"}, {addr: "198.18.2.43:8080"}]
      health_check: {path: /health, interval_ms: 300, timeout_ms: 300, healthy: 2, unhealthy: 2}
      passive: {failures: 3, eject_ms: 1000}
  consumers:
    - {id: soak, groups: [clients], keys: [{name: k, sha256: $(sha "$KEY")}]}
  routes:
    - name: users
      path: /users
      upstream: users
      policies:
        - {name: rate-limit, limit: 100000, window: second}
        - {name: transform, response: {headers: {set: {X-Soak: "1"}}}}
    - name: account
      path: /account
      upstream: users
      policies:
        - {name: key-auth}
        - {name: acl, allow_groups: [clients]}
        - {name: rate-limit, limit: 100000, window: second, key: consumer}
        - {name: request-headers, set: {X-From: soak}}
    - name: products
      path: /products
      upstream: products
      policies:
        - {name: cache, ttl_ms: 500, max_bytes: 4194304}
Y

now_ms() { date +%s%3N; }
pid_of() { echo "${EDGE_PID[$1]}"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$(pid_of "$1")/status"; }
fds() { ls "/proc/$(pid_of "$1")/fd" | wc -l; }
flows() { edge_gwctl lb1 -j status | jq '.balancer.counts.flows // .balancer.counts.conntrack // 0'; }
# sample LABEL: one line per gwd and lb1's flows, into $OUT/samples.
sample() {
	local n
	for n in lb1 gw1 gw2; do
		echo "$1 $n rss_kb=$(rss_kb "$n") fds=$(fds "$n")" >>"$OUT/samples"
	done
	echo "$1 lb1 flows=$(flows)" >>"$OUT/samples"
}
# window WHAT: failures of requests started in the next WINDOW_MS are expected.
window() { echo "$(now_ms) $(($(now_ms) + WINDOW_MS)) $1" >>"$OUT/windows"; }
both_gw() { edge_gwctl gw1 "$@" >>"$OUT/changes.log" 2>&1 && edge_gwctl gw2 "$@" >>"$OUT/changes.log" 2>&1; }

echo "soak: building the edge (release gwd, 2 gateways, 4 services)"
edge_create gateways=2 || { t_fail setup "the edge did not start"; exit 1; }
edge_configure || { t_fail setup "the edge could not be configured"; exit 1; }
: >"$OUT/windows"

# ---- load: keep-alive connections and a new connection per request ----
LOAD_SECONDS=$((SECONDS_TOTAL + WARMUP + 5))
bg_start client1 "$OUT/keepalive.out" "$BUILD/tools/reqloop" -a "$TOPO_VIP4:80" \
	-p /users/1,/account/2,/products/3 -r 300 -k 16 -d "$LOAD_SECONDS" -t 3000 \
	-H "X-API-Key: $KEY"
KEEP_PID=$BG_PID
bg_start client1 "$OUT/newconn.out" "$BUILD/tools/reqloop" -a "$TOPO_VIP4:80" \
	-p /users/4,/account/5,/products/6 -r 60 -d "$LOAD_SECONDS" -t 3000 -H "X-API-Key: $KEY"
NEW_PID=$BG_PID
sleep "$WARMUP"
sample start

# ---- changes every second, flaps every minute ----
echo "soak: ${SECONDS_TOTAL}s of load with a change every second"
start=$(date +%s)
changes=0 refused=0
for ((t = 0; t < SECONDS_TOTAL; t++)); do
	tick=$((start + t + 1))
	case $((t % 6)) in
	0) both_gw route add "soak$t" "/soak/$t" upstream users &&
		{ [ "$t" -lt 6 ] || both_gw route del "soak$((t - 6))"; } ;;
	1) both_gw consumer add "tmp$t" groups clients &&
		edge_gwctl gw1 consumer key add "tmp$t" >/dev/null 2>>"$OUT/changes.log" &&
		{ [ "$t" -lt 7 ] || both_gw consumer del "tmp$((t - 6))"; } ;;
	2) both_gw upstream set products 198.18.2.42:8080 weight $((t % 12 ? 100 : 50)) ;;
	3) edge_gwctl lb1 backend set api 198.18.0.20 weight $((t % 12 == 3 ? 50 : 100)) \
		>>"$OUT/changes.log" 2>&1 ;;
	4) both_gw upstream set users 198.18.2.41:8080 weight $((t % 12 == 4 ? 50 : 100)) ;;
	5) edge_gwctl lb1 backend set api6 2001:2::21 weight $((t % 12 == 5 ? 50 : 100)) \
		>>"$OUT/changes.log" 2>&1 ;;
	esac
	if [ $? -eq 0 ]; then changes=$((changes + 1)); else refused=$((refused + 1)); fi
	case $((t % 60)) in
	20) window "kill users-2"; edge_svc_stop svc2 KILL ;;
	30) edge_svc_start svc2 >/dev/null || echo "soak: users-2 did not restart" >>"$OUT/changes.log" ;;
	40) window "gw2 down"; edge_gwctl lb1 backend set api 198.18.0.21 down >>"$OUT/changes.log" 2>&1 ;;
	45) edge_gwctl lb1 backend set api 198.18.0.21 up >>"$OUT/changes.log" 2>&1 ;;
	50) sample "t$t" ;;
	esac
	while [ "$(date +%s)" -lt "$tick" ]; do sleep 0.05; done
done
sample end
touch "$OUT/stop"
bg_stop "$KEEP_PID" INT
bg_stop "$NEW_PID" INT

# ---- report ----
cat "$OUT/keepalive.out" "$OUT/newconn.out" | grep -v '^#' >"$OUT/requests"
awk -v wfile="$OUT/windows" '
	BEGIN { while ((getline l < wfile) > 0) { split(l, w, " "); ws[++nw] = w[1]; we[nw] = w[2] } }
	{ total++
	  if ($4 ~ /^2[0-9][0-9]$/) { ok++; next }
	  inw = 0
	  for (i = 1; i <= nw; i++) if ($1 >= ws[i] && $1 <= we[i]) inw = 1
	  if (inw) win++; else { out++; print "outside a window: " $0 > "/dev/stderr" } }
	END { printf "%d %d %d %d\n", total, ok, win + 0, out + 0 }' "$OUT/requests" \
	>"$OUT/counts" 2>"$OUT/failures-outside"
read -r total ok inwin outside <"$OUT/counts"
{
	echo "soak: ${SECONDS_TOTAL}s, $changes changes ($refused refused), $(wc -l <"$OUT/windows") flaps"
	echo "soak: requests $total, ok $ok, failed $((inwin + outside)) ($inwin in failover windows, $outside outside)"
	for n in lb1 gw1 gw2; do
		s=$(grep "^start $n rss" "$OUT/samples") e=$(grep "^end $n rss" "$OUT/samples")
		r0=${s#*rss_kb=} r0=${r0%% *} r1=${e#*rss_kb=} r1=${r1%% *}
		f0=${s##*fds=} f1=${e##*fds=}
		growth=$(awk -v a="$r0" -v b="$r1" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
		echo "soak: gwd $n rss ${r0} -> ${r1} kB (${growth}%), fds $f0 -> $f1"
	done
	echo "soak: lb1 connection-table entries $(grep '^start lb1 flows' "$OUT/samples" | cut -d= -f2) -> $(grep '^end lb1 flows' "$OUT/samples" | cut -d= -f2)"
} | tee "$OUT/report.txt"

check_eq requests_made "$((total > SECONDS_TOTAL * 300))" "1"
check_eq no_failures_outside_windows "$outside" "0"
[ "$outside" -eq 0 ] || head -5 "$OUT/failures-outside"
for n in lb1 gw1 gw2; do
	s=$(grep "^start $n rss" "$OUT/samples") e=$(grep "^end $n rss" "$OUT/samples")
	r0=${s#*rss_kb=} r0=${r0%% *} r1=${e#*rss_kb=} r1=${r1%% *}
	check_eq "${n}_rss_growth_under_10pct" "$((r1 * 10 < r0 * 11))" "1"
	check_eq "${n}_fds_flat" "$((${e##*fds=} <= ${s##*fds=} + FD_SLACK))" "1"
	check "${n}_still_running" kill -0 "$(pid_of "$n")"
done
t_done
