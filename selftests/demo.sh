#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: the layered edge for real, in network namespaces, configured with gwctl only.
#
#   selftests/demo.sh                 run it (make demo builds first); exits 1 if anything failed
#   DEMO_KEEP=1 selftests/demo.sh     leave the topology up and print how to explore it
#   selftests/demo.sh clean           remove a topology left up (DEMO_KEEP, or a killed run)
#
# client1 ──▶ lb1 (gwd, XDP balancer) ──ipip──▶ gw1 gw2 [gw3] (gwd gateway, decap) ──▶ users-1,
# users-2, products-1, products-2. Topology and daemons come from selftests/lib/edge.sh (shared
# with selftests/e2e/layered.sh), the configuration from examples/demo-*.yaml. A client loop
# (build/tools/reqloop, one line per request) runs through the live changes; each step reports
# what the loop, `gwctl stats` and `gwctl route stats` saw. docs/demo.md explains the output.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Names: xgdemo-*, not xg-PID-*, so that `netns.sh clean` (every e2e run) leaves a kept demo
# alone. DEMO_PREFIX changes them (selftests/e2e/demo.sh runs the demo as xg-PID-*).
XG_NS_PREFIX=${DEMO_PREFIX:-xgdemo-}
EDGE_DIR=/tmp/${XG_NS_PREFIX}run
. "$ROOT/selftests/lib/test.sh"
. "$ROOT/selftests/lib/netns.sh"
. "$ROOT/selftests/lib/topo.sh"
. "$ROOT/selftests/lib/edge.sh"

# ---- presentation ----
if [ -t 1 ] && [ "${TERM:-dumb}" != dumb ]; then
	B=$'\e[1m' D=$'\e[2m' GR=$'\e[32m' RD=$'\e[31m' N=$'\e[0m'
else
	B='' D='' GR='' RD='' N=''
fi
STEP=0
UNEXPECTED=0

title() {
	STEP=$((STEP + 1))
	printf '\n%s[%d/6] %s%s\n' "$B" "$STEP" "$1" "$N"
}
part() { printf '\n  %s%s%s\n' "$B" "$1" "$N"; }
say() { printf '      %s\n' "$*"; }
good() { printf '      %s✓%s %s\n' "$GR" "$N" "$*"; }
bad() {
	printf '      %s✗ %s%s\n' "$RD" "$*" "$N"
	UNEXPECTED=$((UNEXPECTED + 1))
}
# indent: a command's output under its command line; lines longer than $CUT columns (when
# set) are cut.
indent() {
	awk -v w="${CUT:-0}" '{ s = "       " $0; if (w && length(s) > w) s = substr(s, 1, w - 1) "…"
		print s }'
}
# prompt NODE WORDS...: "NODE$ WORDS", the command line as one would type it in that node.
prompt() {
	local node=$1
	shift
	printf '  %s%s$%s %s\n' "$D" "$node" "$N" "$*"
}
# run NODE CMD...: prompt, then CMD in NODE (gwctl: against the node's own gwd), its output
# indented under it; returns CMD's status.
run() {
	local node=$1
	shift
	prompt "$node" "$@"
	if [ "$1" = gwctl ]; then
		shift
		edge_gwctl "$node" "$@" 2>&1 | indent
	else
		topo_exec "$node" "$@" 2>&1 | indent
	fi
	return "${PIPESTATUS[0]}"
}
die() {
	printf '\n%sdemo failed: %s%s\n' "$RD" "$*" "$N"
	printf 'daemon logs: %s/NODE/gwd.log\n' "$EDGE_DIR"
	exit 1
}
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f s", ms / 1000 }'; }

# ---- clean, usage, preflight ----
demo_clean() {
	local pid
	pid=$(cat "$EDGE_DIR/demo.pid" 2>/dev/null)
	if [ -n "$pid" ] && [ "$pid" != $$ ] && grep -qs demo.sh "/proc/$pid/cmdline"; then
		echo "Error: a demo is running (pid $pid); it removes its topology when it ends" >&2
		return 1
	fi
	if [ -n "$(xg_namespaces "$XG_NS_PREFIX")" ] || ls -d /tmp/"$XG_NS_PREFIX"* >/dev/null 2>&1
	then
		xg_remove "$XG_NS_PREFIX"
		echo "removed the demo topology (namespaces ${XG_NS_PREFIX}*, their processes, bpffs)"
	fi
}

bail() {
	trap - EXIT INT TERM
	[ $# -eq 0 ] || echo "Error: $*" >&2
	exit 1
}
[[ "$XG_NS_PREFIX" =~ ^xg[a-z0-9-]*-$ ]] ||
	bail "DEMO_PREFIX=$XG_NS_PREFIX: want xg, then letters, digits or dashes, ending with a dash"
case "${1:-}" in
clean) trap - EXIT INT TERM; demo_clean; exit ;;
"") ;;
*) sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//'; trap - EXIT INT TERM; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || bail "the demo needs root (network namespaces, XDP, bpffs): sudo make demo"
for f in "$GWD" "$GWCTL" "$BUILD/tools/upstream" "$BUILD/tools/reqloop" "$BUILD/bpf/pass.bpf.o"
do
	[ -e "$f" ] || bail "$f is missing: run make demo"
done
demo_clean || bail
DEMO_START=$(now_ms)

cat <<EOF
${B}xdpgw demo${N}: a layered edge in network namespaces, configured with gwctl only

  client1 ──▶ lb1 ──────ipip──────▶ gw1, gw2 ─────▶ users-1, users-2        /users
              XDP balancer (L4)     API gateways    products-1, products-2  /products
  VIPs $TOPO_VIP4:80 and [$TOPO_VIP6]:80
EOF

# ---- 1. topology ----
title "Topology"
mkdir -p "$EDGE_DIR" && echo $$ >"$EDGE_DIR/demo.pid"
t=$(now_ms)
edge_create gateways=3 || die "building the topology failed"
topo_env
say "one network namespace per node, ${XG_NS_PREFIX}NODE, and a switch with two bridges:"
say "front 198.18.0.0/24: client1 .10, lb1 .2, gw1 .20, gw2 .21, gw3 .22 (a spare, joins later)"
say "back  198.18.2.0/24: users-1 .40, users-2 .41, products-1 .42, products-2 .43 (port 8080)"
say "gwd runs on lb1 and on each gateway, with an empty configuration; the services are"
say "build/tools/upstream, which answers every request with a JSON echo of it"
good "up in $(secs $(($(now_ms) - t)))"

# ---- 2. configuration ----
title "Configuration, with gwctl only"
run gw1 gwctl decap attach eth0 || die "decap attach on gw1"
CUT=100 run gw1 gwctl apply -f examples/demo-gateway.yaml || die "apply on gw1"
for g in gw2 gw3; do
	edge_gwctl "$g" decap attach eth0 >/dev/null &&
		edge_gwctl "$g" apply -f "$EDGE_EXAMPLES/demo-gateway.yaml" >/dev/null ||
		die "configuring $g"
done
for g in gw1 gw2 gw3; do wait_listen "$g" 80 || die "the gateway on $g does not listen"; done
say "(the same on gw2 and gw3: the decap program strips the IPIP header in XDP; the gateway"
say "listens on port 80, also of the VIPs, which every gateway holds on lo)"
CUT=100 run lb1 gwctl apply -f examples/demo-l4.yaml || die "apply on lb1"
wait_until 10 _edge_l4_up || die "lb1 does not resolve its backends: $(edge_gwctl lb1 backend show)"
wait_until 10 _edge_vip_answers || die "the VIP does not answer"
say "lb1 attached the XDP balancer to eth0 and resolved the gateways' MAC addresses"

# ---- 3. first requests ----
title "First requests from client1"
trimmed='{name, method, path, "x-forwarded-for": .headers["x-forwarded-for"], via: .headers.via}'
for url in "http://$TOPO_VIP4/users/42" "http://[$TOPO_VIP6]/products/7"; do
	prompt client1 curl -s "'$url'"
	body=$(topo_exec client1 curl -s --max-time 2 "$url")
	line=$(printf '%s\n' "$body" | jq -c "$trimmed" 2>/dev/null) ||
		die "no JSON answer from $url: $body"
	printf '%s\n' "$line" | CUT=100 indent
done
say "The service's JSON echo (trimmed): which instance answered, and client1's own address in"
say "x-forwarded-for: lb1 forwarded the packets in IPIP, the gateway answered client1 directly"
say "(direct server return), and neither end saw the L4 hop."

# ---- 4. traffic ----
title "Traffic: 600 requests, each on a new TCP connection"
LOOP=$EDGE_DIR/loop-burst.out
# A request fails on an error status, a connection error, or no answer within 5 s (-t): on a
# loaded machine a starved node can take longer than reqloop's default 2 s to answer.
prompt client1 build/tools/reqloop -a "$TOPO_VIP4:80" -p /users,/products -r 300 -d 2 -t 5000
topo_exec client1 "$BUILD/tools/reqloop" -a "$TOPO_VIP4:80" -p /users,/products -r 300 -d 2 \
	-t 5000 >"$LOOP" 2>&1
awk '$1 ~ /^[0-9]+$/ { n++ } $4 == 200 { ok++; by[$5]++ }
	END { printf "%d requests, %d answered 200, by", n, ok
	      split("users-1 users-2 products-1 products-2", names, " ")
	      for (i = 1; i <= 4; i++) printf "%s %s %d", (i > 1 ? "," : ""), names[i], by[names[i]]
	      printf "\n" }' "$LOOP" | indent
failed=$(awk '$4 == "fail" || $4 + 0 >= 400' "$LOOP" | wc -l)
[ "$failed" = 0 ] || bad "$failed requests failed: $(awk '$4 == "fail" || $4 + 0 >= 400' "$LOOP" | head -2)"
run lb1 gwctl stats api
say "gwctl stats reads the balancer's per-CPU counters from lb1's pinned maps: new flows (TCP"
say "connections) per gateway, and the packets client1 sent (answers go straight back)."
run gw1 gwctl route stats || die "route stats on gw1"
run gw2 gwctl route stats || die "route stats on gw2"
say "gwctl route stats reads each gateway's /metrics: requests per route and status class,"
say "mean time to answer and mean time upstream in milliseconds, body bytes."

# ---- 5. live changes ----
title "Live changes while client1 keeps sending"
STOP=$EDGE_DIR/loop.stop
NEW=$EDGE_DIR/loop-new.out
KEPT=$EDGE_DIR/loop-kept.out
rm -f "$STOP"
bg_start client1 "$NEW" "$BUILD/tools/reqloop" -a "$TOPO_VIP4:80" -p /users,/products -r 100 \
	-d 120 -t 5000 -s "$STOP"
LOOP_PIDS=("$BG_PID")
bg_start client1 "$KEPT" "$BUILD/tools/reqloop" -a "$TOPO_VIP4:80" -p /users,/products -r 40 \
	-d 120 -k 8 -t 5000 -s "$STOP"
LOOP_PIDS+=("$BG_PID")
LIVE_START=$(now_ms)
wait_until 5 sh -c "[ \$(grep -c '^[0-9]' '$KEPT') -ge 8 ]" || die "the client loop did not start"
say "client loop: 100 requests/s, each on a new connection, and 8 keep-alive connections with"
say "40 requests/s between them (build/tools/reqloop, one line per request)"

# Failure windows: from a kill until the health checks have taken the victim out. Failures
# there are expected and reported; anywhere else they are not.
WINDOWS=()
RECAP=()	# one line per live change, for the summary
# window FILE FROM TO: "requests answered failed reconnected" of the requests that started in
# [FROM, TO] ms; failed: no answer, or an answer of 400 or more
window() {
	awk -v a="$2" -v b="$3" '$1 ~ /^[0-9]+$/ && $1 >= a && $1 <= b {
		n++; if ($4 == "fail" || $4 + 0 >= 400) f++; else ok++; if ($2 ~ /\+$/) r++ }
		END { printf "%d %d %d %d\n", n, ok, f, r }' "$1"
}
# causes FROM TO: what the failed requests of both loops in [FROM, TO] got ("refused 3, 502 1")
causes() {
	cat "$NEW" "$KEPT" | awk -v a="$1" -v b="$2" '$1 ~ /^[0-9]+$/ && $1 >= a && $1 <= b &&
		($4 == "fail" || $4 + 0 >= 400) { c[$4 == "fail" ? $5 : $4]++ }
		END { for (k in c) printf "%s%s %d", (s++ ? ", " : ""), k, c[k] }'
}
# check_window TEXT FROM TO [RECONNECTS]: both loops answered everything in the window and no
# open connection had to reconnect (unless RECONNECTS is "ok": after a gateway died, its
# connections reconnect when they next send)
check_window() {
	local n k
	read -r -a n <<<"$(window "$NEW" "$2" "$3")"
	read -r -a k <<<"$(window "$KEPT" "$2" "$3")"
	[ "${4:-}" != ok ] || k[3]=0
	if [ "${n[2]}" = 0 ] && [ "${k[2]}" = 0 ] && [ "${k[3]}" = 0 ]; then
		good "$1: ${n[0]} requests on new connections, ${k[0]} on open ones, all answered"
	else
		bad "$1: ${n[2]} of ${n[0]} failed on new connections, ${k[2]} of ${k[0]} on open ones, ${k[3]} reconnected ($(causes "$2" "$3"))"
	fi
}
# failure_window FROM TO: records an expected window and says what failed in it
failure_window() {
	local n k c
	WINDOWS+=("$1 $2")
	read -r -a n <<<"$(window "$NEW" "$1" "$2")"
	read -r -a k <<<"$(window "$KEPT" "$1" "$2")"
	c=$(causes "$1" "$2")
	say "until then: ${n[2]} of ${n[0]} requests failed on new connections, ${k[2]} of ${k[0]} on open ones${c:+ ($c)}"
}
# new_flows: "gw1 gw2 gw3" new-flow counters of service api on lb1
new_flows() {
	edge_gwctl lb1 -j stats api | jq -r '[.services[0].backends[] | {(.addr): .new_flows}] |
		add | [."198.18.0.20", ."198.18.0.21", ."198.18.0.22"] | map(. // 0) | join(" ")'
}
# flows_since BEFORE: new flows per gateway since the new_flows output BEFORE
flows_since() {
	paste -d' ' <(tr ' ' '\n' <<<"$(new_flows)") <(tr ' ' '\n' <<<"$1") |
		awk '{ printf "%s%d", (NR > 1 ? " " : ""), $1 - $2 }'
}
lb_state_is() {
	edge_gwctl lb1 -j backend show api |
		jq -e ".[] | select(.addr == \"$(topo_addr "$1" 4)\") | .state == \"$2\"" >/dev/null
}

part "a) Scale out the gateway tier: gw3 joins"
t0=$(now_ms)
run lb1 gwctl backend add api "$(topo_addr gw3 4)" || die "backend add"
edge_gwctl lb1 backend add api6 "$(topo_addr gw3 6)" || die "backend add api6"
say "(and gwctl backend add api6 $(topo_addr gw3 6))"
wait_until 5 lb_state_is gw3 up || die "gw3 does not come up: $(edge_gwctl lb1 backend show api)"
before=$(new_flows)
sleep 2
read -r f1 f2 f3 <<<"$(flows_since "$before")"
if [ "$f3" -gt 0 ]; then
	good "new connections in the next 2 s: gw1 $f1, gw2 $f2, gw3 $f3 (gwctl stats)"
	RECAP+=("gw3 joined lb1's services and took $f3 of the next $((f1 + f2 + f3)) new connections")
else
	bad "gw3 got no new connections: gw1 $f1, gw2 $f2, gw3 $f3"
fi
check_window "open connections stayed where they were (lb1's connection table)" "$t0" "$(now_ms)"

part "b) Drain gw1: no new connections, its open ones keep working"
run lb1 gwctl backend set api "$(topo_addr gw1 4)" drain || die "drain"
before=$(new_flows)
m=$(edge_served gw1)
t0=$(now_ms)
sleep 2
read -r f1 f2 f3 <<<"$(flows_since "$before")"
m=$(($(edge_served gw1) - m))
if [ "$f1" = 0 ]; then
	good "new connections in 2 s: gw1 0, gw2 $f2, gw3 $f3; gw1 still answered $m requests on its open connections"
	RECAP+=("gw1 drained: no new connection for 2 s, $m requests answered on its open ones")
else
	bad "gw1 got $f1 new connections while draining"
fi
check_window "nothing broke" "$t0" "$(now_ms)"
run lb1 gwctl backend set api "$(topo_addr gw1 4)" undrain || die "undrain"

part "c) Kill users-1: the gateways' health checks take it out"
USERS1=$(edge_target svc1)
target_state() {
	edge_gwctl "$1" -j upstream show users |
		jq -r ".[].targets[] | select(.addr == \"$USERS1\") | .state"
}
on_all_gateways() {
	local g st
	for g in gw1 gw2 gw3; do
		st=$(target_state "$g")
		case "$1" in
		out) [ -n "$st" ] && [ "$st" != up ] || return 1 ;;
		up) [ "$st" = up ] || return 1 ;;
		esac
	done
}
prompt svc1 "kill -9 \$(pidof upstream)    ${D}# users-1$N"
t0=$(now_ms)
edge_svc_stop svc1 KILL
wait_until 10 on_all_gateways out || die "users-1 is still in use on a gateway"
t1=$(now_ms)
states=$(for g in gw1 gw2 gw3; do printf '%s %s, ' "$g" "$(target_state "$g")"; done)
good "all three gateways took users-1 out after $(secs $((t1 - t0))): ${states%, }"
recap="users-1 killed: out of the gateways' pools after $(secs $((t1 - t0)))"
say "(ejected: 3 refused connects in a row; down: 2 failed GET /health, one every 300 ms)"
failure_window "$t0" "$t1"
say "(refused connects are retried on users-2, and so is a GET users-1 had accepted but not"
say "answered; only a POST it may have seen would get 502: the gateway does not send it twice)"
sleep 1
check_window "after that" "$t1" "$(now_ms)"
prompt svc1 build/tools/upstream --listen "$USERS1" --name users-1 \&
t0=$(now_ms)
edge_svc_start svc1 || die "restarting users-1"
wait_until 10 on_all_gateways up || die "users-1 does not come back"
good "back in on all three gateways after $(secs $(($(now_ms) - t0))) (2 passing health checks)"
RECAP+=("$recap, back $(secs $(($(now_ms) - t0))) after its restart")

# d) lb1's health checks on the gateways
part "d) A gateway fails: lb1's health checks take it out"
health_is() {
	edge_gwctl lb1 -j backend show api |
		jq -e ".[] | select(.addr == \"$(topo_addr "$1" 4)\") | .health.state == \"$2\"" \
		>/dev/null
}
all_pass() { health_is gw1 up && health_is gw2 up && health_is gw3 up; }
wait_until 10 all_pass || die "the gateways fail their checks: $(edge_gwctl lb1 backend show api)"
good "gw1, gw2 and gw3 pass lb1's checks (examples/demo-l4.yaml: every 200 ms, a TCP connection"
say "to the gateway's port 80 and a SYN to the VIP through the IPIP tunnel, which proves the"
say "decap program, the VIP on lo and the listener; out after 2 failed rounds)"
prompt gw2 "kill -9 \$(pidof gwd)    ${D}# gw2's gateway dies with its connections$N"
t0=$(now_ms)
edge_gwd_stop gw2 KILL
wait_until 10 health_is gw2 down || die "gw2 is not taken out: $(edge_gwctl lb1 backend show api)"
t1=$(now_ms)
good "lb1 took gw2 out after $(secs $((t1 - t0))) (bound: 2 failed rounds x 200 ms + 100 ms)"
recap="gw2's gwd killed: out of lb1's service after $(secs $((t1 - t0)))"
failure_window "$t0" "$t1"
say "(new connections lb1 still sent to gw2, where nothing listens any more, and the open"
say "connections gw2 had: they reconnect, through gw1 and gw3)"
sleep 1
check_window "after that" "$t1" "$(now_ms)" ok
prompt gw2 "gwd --foreground ... &    ${D}# its state file brings its configuration back$N"
t0=$(now_ms)
edge_gwd_start gw2 || die "gwd does not restart on gw2: $(tail -3 "$EDGE_DIR/gw2/gwd.log")"
wait_until 10 health_is gw2 up || die "gw2 does not come back: $(edge_gwctl lb1 backend show api)"
t1=$(now_ms)
good "gw2 back in after $(secs $((t1 - t0))) (2 passing rounds)"
RECAP+=("$recap, back $(secs $((t1 - t0))) after its restart")
sleep 1
check_window "after that" "$t1" "$(now_ms)"

# ---- 6. summary ----
touch "$STOP"
wait "${LOOP_PIDS[@]}" 2>/dev/null
LIVE_END=$(now_ms)
title "Summary"
say "what happened:"
for r in "${RECAP[@]}"; do say "  - $r"; done
read -r -a n <<<"$(window "$NEW" 0 "$LIVE_END")"
read -r -a k <<<"$(window "$KEPT" 0 "$LIVE_END")"
say "the client loop during the live changes ($(secs $((LIVE_END - LIVE_START)))):"
printf '        %-28s %6d requests %6d answered %4d failed\n' "on new connections" \
	"${n[0]}" "${n[1]}" "${n[2]}"
printf '        %-28s %6d requests %6d answered %4d failed %4d reconnected\n' \
	"on 8 keep-alive connections" "${k[0]}" "${k[1]}" "${k[2]}" "${k[3]}"
inside=0
for w in "${WINDOWS[@]}"; do
	read -r a b <<<"$w"
	read -r -a wn <<<"$(window "$NEW" "$a" "$b")"
	read -r -a wk <<<"$(window "$KEPT" "$a" "$b")"
	inside=$((inside + wn[2] + wk[2]))
done
outside=$((n[2] + k[2] - inside))
say "failed between a kill and the health checks' verdict: $inside; at any other time: $outside"
[ "$outside" = 0 ] || bad "$outside requests failed outside the failure windows"
say "Where the numbers come from: answers and failures from the client loop's own lines"
say "($EDGE_DIR/loop-*.out); new connections per gateway from gwctl stats (the balancer's"
say "per-CPU counters in lb1's pinned maps); requests a gateway answered from its gwctl route"
say "stats (its gwd's /metrics); out and back-in times by polling gwctl from each kill."
if [ "$UNEXPECTED" = 0 ]; then
	good "nothing unexpected; the demo took $(secs $(($(now_ms) - DEMO_START)))"
else
	printf '      %s%d unexpected results, marked ✗ above%s\n' "$RD" "$UNEXPECTED" "$N"
fi

if [ "${DEMO_KEEP:-0}" = 1 ]; then
	trap - EXIT INT TERM
	g="$GWCTL --socket $EDGE_DIR/NODE/gwd.sock --bpffs $XG_BPFFS_ROOT/NODE"
	cat <<EOF

${B}The topology is still up${N} (DEMO_KEEP=1); each node is the network namespace ${XG_NS_PREFIX}NODE:
  ip netns exec ${XG_NS_PREFIX}client1 curl -s http://$TOPO_VIP4/users/1
  ip netns exec ${XG_NS_PREFIX}client1 curl -s 'http://[$TOPO_VIP6]/products/1'
  ip netns exec ${XG_NS_PREFIX}lb1 ${g//NODE/lb1} stats
  ip netns exec ${XG_NS_PREFIX}gw1 ${g//NODE/gw1} upstream show

Shorter, after pasting this function:
  g() { n=\$1; shift; ip netns exec ${XG_NS_PREFIX}\$n ${g//NODE/\$n} "\$@"; }
$(printf '  %-42s %s\n' "g lb1 backend show api" "g lb1 conntrack show api" \
	"g lb1 lookup api 198.18.0.10:40000" "g lb1 backend set api 198.18.0.21 drain" \
	"g gw1 route show" "g gw1 upstream set users $USERS1 weight 0")
Nodes: client1, lb1, gw1-gw3, svc1-svc4. Logs: $EDGE_DIR/NODE/gwd.log. docs/demo.md has more.
Remove it all: ${DEMO_PREFIX:+DEMO_PREFIX=$DEMO_PREFIX }$ROOT/selftests/demo.sh clean
EOF
	exit 0
fi
printf '\nRemoving the topology: '
topo_destroy
echo "done (namespaces, processes, pinned objects)."
[ "$UNEXPECTED" = 0 ]
