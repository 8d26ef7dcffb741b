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
# at the start (after a warm-up) and at the end. A request fails when it gets an error or no
# answer within SOAK_TIMEOUT_MS (15 s); one answered after SOAK_SLOW_MS (3 s) is late. Passes
# when:
#   - no request failed outside the failover windows (SOAK_WINDOW_MS, 3 s, after a kill or a
#     gateway set down: the requests in flight there and the keep-alive connections reset by
#     a moved flow may fail, docs/datapath.md "Down versus drain");
#   - every late request outside the windows is explained by stalls of the machine: the
#     soak's ticker (a shell loop waking every 100 ms, which needs next to no CPU) was 500 ms
#     or more late for so much of the request's time that without those stalls it would have
#     been answered within SOAK_SLOW_MS. When the ticker gets no CPU, neither do gwd, the
#     services or the client. A late request not so explained fails the soak;
#   - every gwd's RSS grew by less than 10%;
#   - every gwd's descriptors stayed flat (end <= start + SOAK_FD_SLACK, 16: connection pools
#     breathe with the load).
# The report goes to stdout and to $BUILD/soak/report.txt; logs stay in $BUILD/soak/:
# changes.log (every change and flap: start and end in epoch ms, exit status, command,
# output), stalls (the ticker's late wake-ups), machine (once a second: load average and the
# CPU and I/O pressure totals of /proc/pressure), NODE/access.log (the gateways' access logs;
# each request carries X-Request-Id, reqloop -i) and failures-context: for every failed or
# late request outside a window, what the gateway logged for it, the changes, flaps and stalls
# of the seconds before and during it, and the machine's CPU pressure then.
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
TIMEOUT_MS=${SOAK_TIMEOUT_MS:-15000}
SLOW_MS=${SOAK_SLOW_MS:-3000}
STALL_MS=${SOAK_STALL_MS:-1000}
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

# now_ms: epoch milliseconds, in REPLY (no fork: the loops below run often).
now_ms() { REPLY=${EPOCHREALTIME//[!0-9]/}; REPLY=${REPLY%???}; }
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
window() { now_ms; echo "$REPLY $((REPLY + WINDOW_MS)) $1" >>"$OUT/windows"; }
# logged [-q] CMD...: runs CMD in this shell (a service restart keeps its PID) and logs it in
# changes.log, one line: start and end (epoch ms), exit status, the command and its output.
# -q: the output is left out when CMD succeeds (an API key).
logged() {
	local quiet=0 t0 out rc
	[ "$1" = -q ] && { quiet=1; shift; }
	now_ms; t0=$REPLY
	"$@" >"$OUT/last.out" 2>&1
	rc=$?
	now_ms
	out=$(<"$OUT/last.out")
	[ "$quiet" = 1 ] && [ "$rc" = 0 ] && out=
	echo "$t0 $REPLY rc=$rc $*${out:+ -> ${out//$'\n'/ | }}" >>"$OUT/changes.log"
	return "$rc"
}
change() { logged edge_gwctl "$@"; }
both_gw() { change gw1 "$@" && change gw2 "$@"; }
# ticker: wakes every 100 ms (a builtin read with a timeout: no fork) and logs each wake-up
# 500 ms or more late in $OUT/stalls ("FROM_MS TO_MS LATE_MS"); once a second, the load average,
# the CPU and I/O pressure totals (microseconds, "some") and the CPU time of all CPUs by kind
# (/proc/stat: user, nice, system, idle, iowait, irq, softirq, steal..., ticks of 10 ms) in
# $OUT/machine.
ticker() {
	local fd prev now late sec=0 la cpu io st
	exec {fd}<> <(:)
	now_ms; prev=$REPLY
	while [ ! -e "$OUT/stop" ]; do
		read -r -t 0.1 -u "$fd" _
		now_ms; now=$REPLY
		late=$((now - prev - 100))
		[ "$late" -lt 500 ] || echo "$prev $now $late" >>"$OUT/stalls"
		prev=$now
		[ $((now / 1000)) != "$sec" ] || continue
		sec=$((now / 1000))
		read -r la <"/proc/loadavg"
		cpu="" io=""
		[ -r /proc/pressure/cpu ] && { read -r _ cpu <"/proc/pressure/cpu"; cpu=${cpu##*total=}; }
		[ -r /proc/pressure/io ] && { read -r _ io <"/proc/pressure/io"; io=${io##*total=}; }
		read -r _ st </proc/stat
		st=${st// /,}
		echo "$now load=${la// /,} cpu_some_us=${cpu:--} io_some_us=${io:--} ticks=$st" \
			>>"$OUT/machine"
	done
}

echo "soak: building the edge (release gwd, 2 gateways, 4 services)"
edge_create gateways=2 || { t_fail setup "the edge did not start"; exit 1; }
edge_configure || { t_fail setup "the edge could not be configured"; exit 1; }
# Each gateway writes its own access log (a worker restart, before the load starts).
for g in gw1 gw2; do
	sed "s|^  workers: 2\$|&\n  access_log: $EDGE_DIR/$g/access.log|" \
		"$EDGE_EXAMPLES/demo-gateway.yaml" >"$EDGE_EXAMPLES/$g-gateway.yaml"
	edge_gwctl "$g" apply -f "$EDGE_EXAMPLES/$g-gateway.yaml" >/dev/null &&
		wait_until 10 test -e "$EDGE_DIR/$g/access.log" ||
		{ t_fail setup "$g: the access log could not be turned on"; exit 1; }
done
: >"$OUT/windows"
: >"$OUT/changes.log"
: >"$OUT/stalls"
ticker &
XG_PIDS+=("$!")

# ---- load: keep-alive connections and a new connection per request ----
LOAD_SECONDS=$((SECONDS_TOTAL + WARMUP + 5))
bg_start client1 "$OUT/keepalive.out" "$BUILD/tools/reqloop" -a "$TOPO_VIP4:80" \
	-p /users/1,/account/2,/products/3 -r 300 -k 16 -d "$LOAD_SECONDS" -t "$TIMEOUT_MS" \
	-s "$OUT/stop" -i k -H "X-API-Key: $KEY"
KEEP_PID=$BG_PID
bg_start client1 "$OUT/newconn.out" "$BUILD/tools/reqloop" -a "$TOPO_VIP4:80" \
	-p /users/4,/account/5,/products/6 -r 60 -d "$LOAD_SECONDS" -t "$TIMEOUT_MS" \
	-s "$OUT/stop" -i n -H "X-API-Key: $KEY"
NEW_PID=$BG_PID
sleep "$WARMUP"
sample start

# ---- changes every second, flaps every minute ----
echo "soak: ${SECONDS_TOTAL}s of load with a change every second"
now_ms
start=$REPLY
changes=0 refused=0
for ((t = 0; t < SECONDS_TOTAL; t++)); do
	tick=$((start + (t + 1) * 1000))
	case $((t % 6)) in
	0) both_gw route add "soak$t" "/soak/$t" upstream users &&
		{ [ "$t" -lt 6 ] || both_gw route del "soak$((t - 6))"; } ;;
	1) both_gw consumer add "tmp$t" groups clients &&
		logged -q edge_gwctl gw1 consumer key add "tmp$t" &&
		{ [ "$t" -lt 7 ] || both_gw consumer del "tmp$((t - 6))"; } ;;
	2) both_gw upstream set products 198.18.2.42:8080 weight $((t % 12 ? 100 : 50)) ;;
	3) change lb1 backend set api 198.18.0.20 weight $((t % 12 == 3 ? 50 : 100)) ;;
	4) both_gw upstream set users 198.18.2.41:8080 weight $((t % 12 == 4 ? 50 : 100)) ;;
	5) change lb1 backend set api6 2001:2::21 weight $((t % 12 == 5 ? 50 : 100)) ;;
	esac
	if [ $? -eq 0 ]; then changes=$((changes + 1)); else refused=$((refused + 1)); fi
	case $((t % 60)) in
	20) window "kill users-2"; logged edge_svc_stop svc2 KILL ;;
	30) logged edge_svc_start svc2 || echo "soak: users-2 did not restart" >>"$OUT/changes.log" ;;
	40) window "gw2 down"; change lb1 backend set api 198.18.0.21 down ;;
	45) change lb1 backend set api 198.18.0.21 up ;;
	50) sample "t$t" ;;
	esac
	now_ms
	while [ "$REPLY" -lt "$tick" ]; do sleep 0.05; now_ms; done
done
sample end
# The loads stop between two requests (reqloop -s); a signal if they do not.
touch "$OUT/stop"
wait_until $((TIMEOUT_MS / 1000 + 10)) eval '! kill -0 "$KEEP_PID" && ! kill -0 "$NEW_PID"'
bg_stop "$KEEP_PID" INT
bg_stop "$NEW_PID" INT

# ---- report ----
# A line: START_MS CONN PATH STATUS NAME ms=ELAPSED id=ID, or START_MS CONN PATH fail CAUSE...
# ms=ELAPSED id=ID. "late" lists the late and failed requests outside the windows.
cat "$OUT/keepalive.out" "$OUT/newconn.out" | grep -v '^#' >"$OUT/requests"
awk -v wfile="$OUT/windows" -v slow="$SLOW_MS" -v late="$OUT/late" '
	BEGIN { while ((getline l < wfile) > 0) { split(l, w, " "); ws[++nw] = w[1]; we[nw] = w[2] } }
	{ total++
	  ms = $(NF - 1); sub(/^ms=/, "", ms); ms += 0
	  good = $4 ~ /^2[0-9][0-9]$/
	  if (good && ms <= slow) { ok++; next }
	  inw = 0
	  for (i = 1; i <= nw; i++) if ($1 >= ws[i] && $1 <= we[i]) inw = 1
	  if (good) { slowc++; if (!inw) { lateout++; if (ms > maxlate) maxlate = ms; print "late " $0 > late } ; next }
	  if (inw) win++; else { out++; print "fail " $0 > late } }
	END { printf "%d %d %d %d %d %d %d\n", total, ok, slowc + 0, lateout + 0, maxlate + 0, win + 0, out + 0 }' \
	"$OUT/requests" >"$OUT/counts"
touch "$OUT/late"
read -r total ok slow lateout maxlate inwin outside <"$OUT/counts"

# The access logs are flushed every second: wait until they hold every answered request.
access_lines() { cat "$EDGE_DIR"/gw*/access.log 2>/dev/null | wc -l; }
wait_until 10 eval '[ "$(access_lines)" -ge "$((ok + slow))" ]'

# stalled FROM TO: how many milliseconds of [FROM, TO] the ticker was late in its stalls.
stalled() {
	awk -v a="$1" -v b="$2" '{ f = $1 + 100 > a ? $1 + 100 : a; t = $2 < b ? $2 : b }
		t > f { s += t - f } END { print s + 0 }' "$OUT/stalls"
}
# context LINE: what the gateway logged for the request, and the seconds before and during it.
context() {
	local kind=$1 s=$2 ms id e g hit
	ms=$(awk '{ print $(NF - 1) }' <<<"$*") ms=${ms#ms=}
	id=$(awk '{ print $NF }' <<<"$*") id=${id#id=}
	e=$((s + ms))
	echo "$kind: ${*:2}"
	echo "  started $(date -u -d "@${s:0:-3}.${s: -3}" +%T.%3N), ended $(date -u -d "@${e:0:-3}.${e: -3}" +%T.%3N) UTC"
	hit=0
	for g in gw1 gw2; do
		grep -h "\"request_id\":\"$id\"" "$EDGE_DIR/$g/access.log" 2>/dev/null |
			jq -r --arg g "$g" --argjson ms "$ms" '"  gateway \($g): logged \(.time) status \(.status), latency \(.latency_ms) ms (upstream \(.upstream) \(.upstream_latency_ms) ms), route \(.route); outside the gateway (client, network, balancer): \($ms - .latency_ms | floor) ms"' |
			grep . && hit=1
	done
	[ "$hit" = 1 ] || echo "  gateway: neither gateway logged request $id"
	echo "  changes and flaps from 5 s before until it ended (start end rc command):"
	awk -v a=$((s - 5000)) -v b="$e" '$2 >= a && $1 <= b { print "    " $0 }' "$OUT/changes.log" | cut -c1-200
	awk -v a=$((s - 10000)) -v b="$e" '$2 >= a && $1 <= b { print "  failover window: " $0 }' "$OUT/windows"
	echo "  machine stalls (the ticker woke late; from to late_ms) from 5 s before until it ended;" \
		"they cover $(stalled "$s" "$e") ms of the request's $ms ms:"
	awk -v a=$((s - 5000)) -v b="$e" '$2 >= a && $1 <= b { print "    " $0 }' "$OUT/stalls"
	echo "  machine since the sample before (load average, running/all tasks; pressure: share of the time some task waited for a CPU, for I/O; where the CPUs' time went, out of $(nproc)00%):"
	awk -v a=$((s - 5000)) -v b=$((e + 1000)) '
		{ split($3, c, "="); split($4, io, "="); sub(/^ticks=/, "", $5); split($5, t, ",") }
		$1 >= a && $1 <= b && p { d = $1 - p
			printf "    %s %s cpu_some %.0f%% io_some %.0f%% | user %.0f%% system %.0f%% softirq %.0f%% idle %.0f%% iowait %.0f%% steal %.0f%%\n",
			$1, $2, (c[2] - pc) / d / 10, (io[2] - pio) / d / 10,
			(t[1] + t[2] - pt[1] - pt[2]) * 1000 / d, (t[3] - pt[3]) * 1000 / d,
			(t[6] + t[7] - pt[6] - pt[7]) * 1000 / d, (t[4] - pt[4]) * 1000 / d,
			(t[5] - pt[5]) * 1000 / d, (t[8] - pt[8]) * 1000 / d }
		{ p = $1; pc = c[2]; pio = io[2]; for (i = 1; i <= 8; i++) pt[i] = t[i] }' "$OUT/machine"
}
: >"$OUT/failures-context"
lateok=0 latestall=0 n=0
while read -r line; do
	n=$((n + 1))
	[ "$n" -le 50 ] && context $line >>"$OUT/failures-context"
	set -- $line
	[ "$1" = late ] || continue
	ms=$(awk '{ print $(NF - 1) }' <<<"$line") ms=${ms#ms=}
	if [ $((ms - $(stalled "$2" $(($2 + ms))))) -le "$SLOW_MS" ]; then
		latestall=$((latestall + 1))
	else
		lateok=$((lateok + 1))
	fi
done <"$OUT/late"
{
	echo "soak: ${SECONDS_TOTAL}s, $changes changes ($refused refused), $(wc -l <"$OUT/windows") flaps"
	echo "soak: requests $total, ok $ok, failed $((inwin + outside)) ($inwin in failover windows, $outside outside), late $slow (answered after ${SLOW_MS} ms; $lateout outside the windows, $latestall of them explained by machine stalls, longest $maxlate ms)"
	for n in lb1 gw1 gw2; do
		s=$(grep "^start $n rss" "$OUT/samples") e=$(grep "^end $n rss" "$OUT/samples")
		r0=${s#*rss_kb=} r0=${r0%% *} r1=${e#*rss_kb=} r1=${r1%% *}
		f0=${s##*fds=} f1=${e##*fds=}
		growth=$(awk -v a="$r0" -v b="$r1" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
		echo "soak: gwd $n rss ${r0} -> ${r1} kB (${growth}%), fds $f0 -> $f1"
	done
	echo "soak: lb1 connection-table entries $(grep '^start lb1 flows' "$OUT/samples" | cut -d= -f2) -> $(grep '^end lb1 flows' "$OUT/samples" | cut -d= -f2)"
	awk -v lim="$STALL_MS" '$3 >= lim { n++ } $3 > m { m = $3 } END { printf "soak: machine stalls of %d ms or more: %d (longest %d ms)", lim, n, m }' "$OUT/stalls"
	awk '{ split($3, c, "=") } NR == 1 { a = $1; ca = c[2] } END { if (NR > 1) printf ", CPU pressure %.0f%%", (c[2] - ca) / ($1 - a) / 10 }' "$OUT/machine"
	echo
} | tee "$OUT/report.txt"

check_eq requests_made "$((total > SECONDS_TOTAL * 300))" "1"
check_eq no_failures_outside_windows "$outside" "0"
check_eq late_requests_explained_by_machine_stalls "$lateok" "0"
[ "$outside" -eq 0 ] && [ "$lateok" -eq 0 ] || head -40 "$OUT/failures-context"
for n in lb1 gw1 gw2; do
	s=$(grep "^start $n rss" "$OUT/samples") e=$(grep "^end $n rss" "$OUT/samples")
	r0=${s#*rss_kb=} r0=${r0%% *} r1=${e#*rss_kb=} r1=${r1%% *}
	check_eq "${n}_rss_growth_under_10pct" "$((r1 * 10 < r0 * 11))" "1"
	check_eq "${n}_fds_flat" "$((${e##*fds=} <= ${s##*fds=} + FD_SLACK))" "1"
	check "${n}_still_running" kill -0 "$(pid_of "$n")"
done
t_done
