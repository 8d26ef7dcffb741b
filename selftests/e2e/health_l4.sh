#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Health checks drive backend selection, for real: three backends serve HTTP behind the XDP
# balancer (ipip, decap on the backends). A tcp check: the server of one backend stops, its
# fall-th failed round takes it out of selection, and from then on no new connection reaches
# it and a client loop sees no failure (the time this took is printed against the documented
# bound fall x interval + 100 ms: a measurement, not asserted, as a gwd starved of CPU on a
# loaded machine runs its rounds late); it starts again and gets traffic again. An http check
# whose
# /health answers 500 takes its backend out the same way (the server still answers, so the loop
# sees no failure at all) and back. A check through the encapsulation catches a backend whose
# decap program was removed while its server is fine. Operator drain wins over a passing check,
# undrain does not resurrect a failing backend. Bad check settings change nothing.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/topo.sh"
t_init health_l4
need_root health_l4

# The sanitizer builds (make test-e2e builds them) catch memory errors of the checker's paths.
prefer_asan_gwd
[ -x "$BUILD/asan/gwctl" ] && GWCTL=$BUILD/asan/gwctl
UPSTREAM=$BUILD/tools/upstream
need_tool "$UPSTREAM"
topo_create l4 backends=3 || { t_fail setup "topology"; exit 1; }
T=$(tmp_dir)
FS=$(topo_bpffs lb1)
SOCK=$T/gwd.sock
INTERVAL_MS=300
FALL=3
RISE=2
WINDOW_MS=$((FALL * INTERVAL_MS + 100))
declare -A IP SRV
for b in be1 be2 be3; do IP[$b]=$(topo_addr $b 4); done

G() { topo_exec lb1 "$GWCTL" --socket "$SOCK" --bpffs "$FS" "$@"; }
api() { curl -sf --unix-socket "$SOCK" "http://gwd$1"; }
now_ms() { local t=$EPOCHREALTIME; echo $((${t/./} / 1000)); }
# health FIELD BACKEND: a field of the backend's lb_be_health entry as gwctl shows it
health() { G -j backend show web | jq -r ".[] | select(.addr == \"${IP[$2]}\") | .health.$1"; }
state() { G -j backend show web | jq -r ".[] | select(.addr == \"${IP[$1]}\") | .state"; }
state_is() { test "$(state "$1")" = "$2"; }
hc_is() { test "$(health state "$1")" = "$2"; }
new_flows() {
	G -j stats web | jq ".services[0].backends[] | select(.addr == \"${IP[$1]}\") | .new_flows"
}

serve() { # serve BACKEND: the HTTP server of a backend, answering its name
	bg_start "$1" "$T/$1.log" "$UPSTREAM" --listen 0.0.0.0:80 --body "$1" \
		--health-file "$T/$1.health"
	SRV[$1]=$BG_PID
	wait_listen "$1" 80
}

# A client loop in client1: one new connection per request, "START_MS NAME" or "START_MS FAIL"
# per line, until $T/stop exists (bounded: 4000 requests, 40 s).
loop_start() {
	rm -f "$T/stop"
	topo_exec client1 bash -c '
		for ((i = 0; i < 4000 && SECONDS < 40; i++)); do
			[ -e "$2" ] && break
			t=$EPOCHREALTIME
			r=$(curl -s -m 1 "http://$1/") || r=FAIL
			echo "$((${t/./} / 1000)) ${r:-FAIL}"
		done' loop "$TOPO_VIP4" "$T/stop" >"$1" &
	LOOP_PID=$!
	XG_PIDS+=("$LOOP_PID")
}
loop_stop() { touch "$T/stop"; wait "$LOOP_PID"; }
# after FILE MS: the loop's lines that started after MS
after() { awk -v t="$2" '$1 > t' "$1"; }

for b in be1 be2 be3; do
	serve $b || t_fail "listen_$b"
	topo_exec $b "$GWCTL" --bpffs "$(topo_bpffs $b)" decap attach eth0 || t_fail "decap_$b"
done
bg_start lb1 "$T/gwd.log" "$GWD" --foreground --state-dir "$T/state" --socket "$SOCK" \
	--bpffs "$FS"
GWD_PID=$BG_PID
wait_until 10 api /v1/status || { t_fail gwd_starts "$(tail -5 "$T/gwd.log")"; exit 1; }

G link attach eth0 || t_fail link_attach
G vip add web "$TOPO_VIP4:80" || t_fail vip_add
for b in be1 be2 be3; do G backend add web "${IP[$b]}" || t_fail "backend_add_$b"; done
up_is() { test "$(G -j backend show web | jq '[.[] | select(.state == "up")] | length')" = "$1"; }
wait_until 10 up_is 3 || t_fail backends_resolved "$(G backend show web)"
check_eq unchecked_is_disabled "$(health state be1)" disabled

# ---- bad settings: clear errors, nothing changes ----
gen=$(api /v1/status | jq .generation)
bad() { # bad NAME MESSAGE ARGS...
	local name=$1 want=$2 out
	shift 2
	out=$(G "$@" 2>&1)
	check_eq "$name" "$?/$out" "1/Error: $want"
}
bad bad_type "vip set: check: unknown check type 'icmp' (expected tcp, http, none, or a field to change)" \
	vip set web check icmp
out=$(curl -s --unix-socket "$SOCK" -X PATCH -d '{"check": {"type": "icmp"}}' http://gwd/v1/l4/services/web)
check_eq bad_type_api "$out" '{"error":"l4.services[web].check.type: unknown value '"'icmp'"' (expected none, tcp, http)"}'
bad bad_timeout "l4.services[web].check.timeout: 2s is longer than the interval (1s)" \
	vip set web check tcp interval 1s timeout 2s
bad bad_port "l4.services[web].check.port: 70000 is out of range 1-65535" \
	vip set web check tcp port 70000
bad bad_http_field "l4.services[web].check.path: only http checks have it (type is tcp)" \
	vip set web check tcp path /x
bad bad_status "l4.services[web].check.status: '600' is not a status list (expected codes 100-599 and ranges, e.g. 200-399 or 200,204)" \
	vip set web check http status 600
bad bad_keyword "vip set: check: unknown argument 'colour' (expected port, interval, timeout, rise, fall, encap, method, path, host, status or body)" \
	vip set web check tcp colour red
bad bad_backend_port "l4.services[web].backends[${IP[be1]}].check.port: 0 is out of range 1-65535" \
	backend set web "${IP[be1]}" check port 0
check_eq bad_changes_nothing "$(api /v1/status | jq .generation)/$(api /v1/config | jq -c '.l4.services[0].check')" "$gen/null"

# ---- tcp check: a stopped server leaves selection within the bound ----
check vip_set_check G vip set web check tcp interval ${INTERVAL_MS}ms timeout 200ms fall $FALL rise $RISE
for b in be1 be2 be3; do wait_until 5 hc_is $b up || t_fail "checked_up_$b" "$(G backend show web)"; done
check_eq config_has_check "$(api /v1/config | jq -cS '.l4.services[0].check')" \
	"{\"fall\":$FALL,\"interval\":\"${INTERVAL_MS}ms\",\"rise\":$RISE,\"timeout\":\"200ms\",\"type\":\"tcp\"}"

loop_start "$T/tcp.out"
wait_until 5 grep -q be2 "$T/tcp.out" || t_fail tcp_loop_reaches_be2 "$(tail -3 "$T/tcp.out")"
t0=$(now_ms)
bg_stop "${SRV[be2]}"
wait_until 5 state_is be2 unhealthy || t_fail be2_unhealthy "$(G backend show web)"
t_seen=$(now_ms) # the datapath's state said unhealthy: its selection table no longer has be2
detect=$(($(health since_unix_ms be2) - t0))
nf=$(new_flows be2)
sleep 1 # traffic after the marking: what must not fail nor reach be2
check_eq tcp_no_new_flows_to_down "$(new_flows be2)" "$nf"
loop_stop
n_after=$(after "$T/tcp.out" "$t_seen" | wc -l)
f_after=$(after "$T/tcp.out" "$t_seen" | grep -c FAIL)
check_eq tcp_no_failure_after_marking "$f_after failures" "0 failures"
[ "$n_after" -gt 10 ] || t_fail tcp_loop_kept_going "only $n_after requests after the marking"
echo "# health_l4: tcp: out of selection ${detect} ms after the stop (documented bound ${WINDOW_MS} ms), $n_after requests after, $(grep -c FAIL "$T/tcp.out") failures before"
check_eq tcp_error_shown "$(health last_error be2)" "connect: Connection refused"
check_eq tcp_failures_counted "$([ "$(health failures be2)" -ge $FALL ] && echo yes)" yes

serve be2 || t_fail relisten_be2
wait_until 5 state_is be2 up || t_fail be2_back_up "$(G backend show web)"
loop_start "$T/tcp2.out"
wait_until 5 grep -q be2 "$T/tcp2.out" && t_ok tcp_recovered_gets_traffic ||
	t_fail tcp_recovered_gets_traffic "$(sort "$T/tcp2.out" | awk '{print $2}' | uniq -c)"
loop_stop
check_eq tcp_recovered_no_failure "$(grep -c FAIL "$T/tcp2.out")" 0
check_eq log_down_line "$(grep -c "health: l4.services\[web\].backends\[${IP[be2]}\] is down after $FALL failed checks (connect: Connection refused" "$T/gwd.log")" 1
check_eq log_up_line "$(grep -c "health: l4.services\[web\].backends\[${IP[be2]}\] is up after $RISE passed checks" "$T/gwd.log")" 1
m=$(api /metrics)
check_eq metrics_transitions "$(echo "$m" | grep "^xdpgw_l4_health_transitions_total{service=\"web\",backend=\"${IP[be2]}\",to=\"down\"}" | awk '{print $2}')" 1
check_eq metrics_state "$(echo "$m" | grep "^xdpgw_l4_health_state{service=\"web\",backend=\"${IP[be2]}\",state=\"up\"}" | awk '{print $2}')" 1

# ---- operator overrides ----
check drain_be1 G backend set web "${IP[be1]}" drain
check_eq drain_wins_over_passing "$(state be1)/$(health state be1)" draining/up
echo 500 >"$T/be1.health"
check http_check G vip set web check http path /health interval ${INTERVAL_MS}ms timeout 200ms fall $FALL rise $RISE
wait_until 5 hc_is be1 down || t_fail be1_http_down "$(G backend show web)"
check undrain_be1 G backend set web "${IP[be1]}" undrain
check_eq undrain_keeps_failing_out "$(state be1)" unhealthy
check_eq http_error_shown "$(health last_error be1)" "http: status 500"

# ---- http check: /health answers 500 while the server still serves ----
echo 200 >"$T/be1.health"
wait_until 5 state_is be1 up || t_fail be1_http_up "$(G backend show web)"
loop_start "$T/http.out"
wait_until 5 grep -q be1 "$T/http.out" || t_fail http_loop_reaches_be1
t0=$(now_ms)
echo 500 >"$T/be1.health"
wait_until 5 state_is be1 unhealthy || t_fail be1_unhealthy "$(G backend show web)"
t_seen=$(now_ms)
echo "# health_l4: http: out of selection $(($(health since_unix_ms be1) - t0)) ms after /health turned 500 (documented bound ${WINDOW_MS} ms)"
nf=$(new_flows be1)
sleep 1
check_eq http_no_new_flows_to_down "$(new_flows be1)" "$nf"
loop_stop
check_eq http_no_failure "$(grep -c FAIL "$T/http.out")" 0
check_eq http_none_to_be1_after_marking "$(after "$T/http.out" "$t_seen" | grep -c be1)" 0
echo 200 >"$T/be1.health"
wait_until 5 state_is be1 up || t_fail be1_http_back "$(G backend show web)"
loop_start "$T/http2.out"
wait_until 5 grep -q be1 "$T/http2.out" && t_ok http_recovered_gets_traffic ||
	t_fail http_recovered_gets_traffic
loop_stop

# ---- through the encapsulation: a backend without its decap program ----
check encap_check G vip set web check tcp encap on interval ${INTERVAL_MS}ms timeout 200ms fall $FALL rise $RISE
for b in be1 be2 be3; do wait_until 5 hc_is $b up || t_fail "encap_up_$b" "$(G backend show web)"; done
check_eq encap_passing_everywhere "$(G -j backend show web | jq -r '[.[].health.last_ok] | unique | join(",")')" true
topo_exec be3 "$GWCTL" --bpffs "$(topo_bpffs be3)" decap detach eth0 || t_fail decap_detach_be3
wait_until 5 state_is be3 unhealthy || t_fail encap_catches_missing_decap "$(G backend show web)"
case "$(health last_error be3)" in
encap:*) t_ok encap_error_shown ;;
*) t_fail encap_error_shown "$(health last_error be3)" ;;
esac
check_eq direct_port_still_open "$(topo_exec lb1 curl -s -m 1 "http://${IP[be3]}/")" be3
topo_exec be3 "$GWCTL" --bpffs "$(topo_bpffs be3)" decap attach eth0 || t_fail decap_attach_be3
wait_until 5 state_is be3 up || t_fail encap_recovers "$(G backend show web)"

# ---- IPv6 through IP6IP6: the same catch ----
for b in be1 be2 be3; do
	bg_start $b "$T/$b.v6.log" "$UPSTREAM" --listen "[::]:8080" --body "$b"
	wait_listen $b 8080 || t_fail "listen_v6_$b"
done
check vip6_add G vip add web6 "[$TOPO_VIP6]:8080" check tcp encap on interval ${INTERVAL_MS}ms timeout 200ms fall $FALL
for b in be1 be2 be3; do G backend add web6 "$(topo_addr $b 6)" || t_fail "backend6_add_$b"; done
hc6_is() { test "$(G -j backend show web6 | jq -r ".[] | select(.addr == \"$(topo_addr $1 6)\") | .health.state")" = "$2"; }
for b in be1 be2 be3; do wait_until 5 hc6_is $b up || t_fail "encap6_up_$b" "$(G backend show web6)"; done
topo_exec be2 "$GWCTL" --bpffs "$(topo_bpffs be2)" decap detach eth0 || t_fail decap_detach_be2
wait_until 5 hc6_is be2 down && t_ok encap6_catches_missing_decap ||
	t_fail encap6_catches_missing_decap "$(G backend show web6)"
topo_exec be2 "$GWCTL" --bpffs "$(topo_bpffs be2)" decap attach eth0 || t_fail decap_attach_be2
wait_until 5 hc6_is be2 up || t_fail encap6_recovers "$(G backend show web6)"
check vip6_del G vip del web6

# ---- a backend's own check: an http body that must contain a word ----
check be3_override G backend set web "${IP[be3]}" check http path / body be3
wait_until 5 hc_is be3 up || t_fail body_found "$(G backend show web)"
check_eq override_in_config "$(api /v1/config | jq -cS ".l4.services[0].backends[] | select(.addr == \"${IP[be3]}\") | .check")" \
	'{"body":"be3","path":"/","type":"http"}'
check be3_body_missing G backend set web "${IP[be3]}" check body nothere
wait_until 5 state_is be3 unhealthy || t_fail body_missing_fails "$(G backend show web)"
check_eq body_error_shown "$(health last_error be3)" 'http: body lacks "nothere"'
check_eq others_keep_service_check "$(state be1)/$(state be2)" up/up
check be3_inherit G backend set web "${IP[be3]}" check inherit
wait_until 5 state_is be3 up || t_fail inherit_recovers "$(G backend show web)"

# ---- check removed: backends trusted again ----
echo 500 >"$T/be1.health"
check http_again G vip set web check http path /health interval ${INTERVAL_MS}ms timeout 200ms fall 1
wait_until 5 state_is be1 unhealthy || t_fail be1_down_again
check check_none G vip set web check none
wait_until 5 state_is be1 up || t_fail none_trusts_again "$(G backend show web)"
check_eq none_is_disabled "$(health state be1)" disabled

bg_stop "$GWD_PID" TERM
check_eq gwd_clean_exit "$(grep -c 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' "$T/gwd.log")" 0
t_done
