#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# gwd's security properties (docs/security.md): the admin socket is 0600 root and refuses
# other users; no TCP admin listener unless configured, then loopback only unless allowed, and
# every request needs the token (401 otherwise, logged without the token); start refusals for
# unsafe token files and addresses; each admin listener's connection bound (its own budget,
# counted and logged, served again once one closes); capabilities reduced to the documented set in every thread,
# no_new_privs, and run-time changes (new selection tables, attach) still work with them.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init security
need_root security
prefer_asan_gwd

gw_ns || { t_fail setup "namespace"; exit 1; }
nsx g ip link add xgs0 type veth peer name xgs1 && nsx g ip link set xgs0 up &&
	nsx g ip link set xgs1 up && nsx g ip link add xgd0 type veth peer name xgd1 &&
	nsx g ip addr add 198.18.0.1/24 dev xgd0 && nsx g ip link set xgd0 up ||
	{ t_fail setup "links"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
cat >"$GW_TMP/gwd.yaml" <<Y
l4:
  links: [{name: xgs0, mode: generic}]
  services: [{name: web, vip: 198.18.100.1:80/tcp, backends: [{addr: 198.18.0.30}]}]
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams: [{name: a, targets: [{addr: "127.0.0.1:9001"}]}]
  routes: [{name: r, path: /, upstream: a}]
Y
BPFFS=$(bpffs_dir gwd)
# run_gwd ARGS...: gwd in the foreground in "g" with this test's paths; sets GWD_PID.
run_gwd() {
	: >"$GW_TMP/gwd.log"
	bg_start g "$GW_TMP/gwd.log" "$GWD" --config "$GW_TMP/gwd.yaml" --state-dir "$GW_TMP/state" \
		--socket "$GW_TMP/gwd.sock" --bpffs "$BPFFS" --foreground "$@"
	GWD_PID=$BG_PID
	GWCTL_ARGS=(--socket "$GW_TMP/gwd.sock")
}
# refuses CASE MESSAGE ARGS...: gwd exits 1 at start, saying MESSAGE.
refuses() {
	local name=$1 msg=$2 i
	shift 2
	run_gwd "$@"
	for i in $(seq 1 100); do
		kill -0 "$GWD_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$GWD_PID" 2>/dev/null; then
		t_fail "$name" "gwd started"
		bg_stop "$GWD_PID"
		return
	fi
	wait "$GWD_PID"
	check_eq "${name}_status" "$?" "1"
	check "${name}_message" grep -qF "$msg" "$GW_TMP/gwd.log"
}
listening() { nsx g ss -ltnH | awk '{print $4}' | sort -u | tr '\n' ' '; }
acurl() { nsx g curl -s --max-time 5 "$@"; }

# ---- defaults: unix socket only, reduced capabilities ----
run_gwd
wait_listen g 8080 15 || { t_fail setup "gwd did not serve"; tail "$GW_TMP/gwd.log"; exit 1; }
check_eq socket_mode_owner "$(stat -c '%a %U %F' "$GW_TMP/gwd.sock")" "600 root socket"
check nobody_cannot_connect sh -c "! ip netns exec $(ns g) setpriv --reuid=nobody --regid=nogroup --clear-groups curl -s --max-time 3 --unix-socket '$GW_TMP/gwd.sock' http://x/v1/status"
check_eq no_tcp_admin_by_default "$(listening)" "127.0.0.1:8080 127.0.0.1:9001 "
# CAP_NET_BIND_SERVICE 10, CAP_NET_ADMIN 12, CAP_NET_RAW 13, CAP_PERFMON 38, CAP_BPF 39
want_caps=000000c000003400
caps=$(cat /proc/"$GWD_PID"/task/*/status | awk '/^CapEff|^CapPrm|^CapBnd/ {print $2}' | sort -u | tr '\n' ' ')
check_eq caps_every_thread "$caps" "$want_caps "
check_eq caps_no_inheritable "$(awk '/^CapInh|^CapAmb/ {print $2}' /proc/"$GWD_PID"/status | sort -u)" "0000000000000000"
check_eq no_new_privs "$(awk '/^NoNewPrivs/ {print $2}' /proc/"$GWD_PID"/status)" "1"
check_eq threads_exist "$(($(ls /proc/"$GWD_PID"/task | wc -l) > 2))" "1"
check caps_logged grep -q "capabilities after start-up: cap_bpf,cap_perfmon,cap_net_admin,cap_net_raw,cap_net_bind_service" "$GW_TMP/gwd.log"
# Run-time work with the reduced set: new selection tables (backends), a new service, stats.
check backend_add_with_reduced_caps gctl backend add web 198.18.0.31
check service_add_with_reduced_caps gctl vip add web2 198.18.100.2:443
check backend_add_new_service gctl backend add web2 198.18.0.32
check_eq gateway_serves "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/)" "200"
bg_stop "$GWD_PID"
check no_sanitizer_report sh -c "! grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error' '$GW_TMP/gwd.log'"

# ---- the TCP admin listener ----
TOKEN=tok-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$GW_TMP/token"
chmod 600 "$GW_TMP/token"
run_gwd --admin-listen 9180 --admin-token-file "$GW_TMP/token"
wait_listen g 9180 15 || { t_fail tcp_admin "not listening"; tail "$GW_TMP/gwd.log"; }
check_eq tcp_admin_loopback_only "$(listening)" "127.0.0.1:8080 127.0.0.1:9001 127.0.0.1:9180 "
check_eq no_token_401 "$(acurl -o /dev/null -w '%{http_code}' http://127.0.0.1:9180/v1/status)" "401"
check_eq no_token_json "$(acurl http://127.0.0.1:9180/v1/status)" '{"error":"this admin listener needs the admin token (Authorization: Bearer TOKEN)"}'
check www_authenticate sh -c "ip netns exec $(ns g) curl -s -D - -o /dev/null http://127.0.0.1:9180/v1/status | grep -qi '^www-authenticate: Bearer'"
check_eq wrong_token_401 "$(acurl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN}x" http://127.0.0.1:9180/v1/status)" "401"
check_eq prefix_token_401 "$(acurl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN%?}" http://127.0.0.1:9180/v1/status)" "401"
check_eq basic_scheme_401 "$(acurl -o /dev/null -w '%{http_code}' -u "x:$TOKEN" http://127.0.0.1:9180/v1/status)" "401"
check_eq token_200 "$(acurl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9180/v1/status)" "200"
check_eq metrics_with_token "$(acurl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9180/metrics)" "200"
check_eq change_with_token "$(acurl -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" -H 'X-Xdpgw-Who: ci-bot' --data '{"addr": "198.18.0.33"}' http://127.0.0.1:9180/v1/l4/services/web/backends)" "200"
check change_logged_with_peer grep -q "tcp 127.0.0.1:[0-9]* ci-bot" "$GW_TMP/gwd.log"
check refusal_logged grep -q "refused a request without the right token from tcp 127.0.0.1" "$GW_TMP/gwd.log"
check token_not_logged sh -c "! grep -qF '$TOKEN' '$GW_TMP/gwd.log'"
check_eq unix_socket_needs_no_token "$(acurl -o /dev/null -w '%{http_code}' --unix-socket "$GW_TMP/gwd.sock" http://x/v1/status)" "200"
bg_stop "$GWD_PID"

# ---- admin connections: each listener its own bound (admin_max_connections) ----
{ cat "$GW_TMP/gwd.yaml"; echo "gwd: {admin_max_connections: 3}"; } >"$GW_TMP/gwd-limit.yaml"
# hold TCP_N UNIX_N STOPFILE: opens idle connections and keeps them until STOPFILE exists (20 s
# at most); prints "held" once they are all connected.
hold() {
	rm -f "$3"
	bg_start g "$GW_TMP/hold-${3##*/}.log" python3 -c '
import os, socket, sys, time
held = []
for i in range(int(sys.argv[1])):
	held.append(socket.create_connection(("127.0.0.1", 9180)))
for i in range(int(sys.argv[2])):
	s = socket.socket(socket.AF_UNIX)
	s.connect(sys.argv[3])
	held.append(s)
print("held", flush=True)
end = time.time() + 20
while not os.path.exists(sys.argv[4]) and time.time() < end:
	time.sleep(0.02)
' "$1" "$2" "$GW_TMP/gwd.sock" "$3"
	HOLD_PID=$BG_PID
	wait_until 5 grep -q held "$GW_TMP/hold-${3##*/}.log"
}
umetric() { acurl --unix-socket "$GW_TMP/gwd.sock" http://x/metrics | grep "^xdpgw_admin_$1"; }
tmetric() { acurl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9180/metrics | grep "^xdpgw_admin_$1"; }
run_gwd --config "$GW_TMP/gwd-limit.yaml" --admin-listen 9180 --admin-token-file "$GW_TMP/token"
wait_listen g 9180 15 || { t_fail admin_bound "not listening"; tail "$GW_TMP/gwd.log"; }
check admin_bound_logged grep -q "admin API listening on .* (at most 3 connections)" "$GW_TMP/gwd.log"
# four idle TCP peers (no token needed to connect): three are taken, the fourth waits, counted
hold 4 0 "$GW_TMP/stop-tcp" || t_fail admin_bound "tcp peers not connected"
check tcp_bound_counted wait_until 5 sh -c "ip netns exec $(ns g) curl -s --unix-socket '$GW_TMP/gwd.sock' http://x/metrics | grep -qx 'xdpgw_admin_connection_limit_total{listener=\"tcp\"} 1'"
check_eq tcp_bound_open "$(umetric 'connections{listener="tcp"}')" 'xdpgw_admin_connections{listener="tcp"} 3'
check tcp_bound_logged grep -q "admin API: the tcp listener has 3 connections open, its limit (admin_max_connections)" "$GW_TMP/gwd.log"
check_eq unix_serves_while_tcp_full "$(acurl -o /dev/null -w '%{http_code}' --unix-socket "$GW_TMP/gwd.sock" http://x/v1/status)" "200"
bg_start g "$GW_TMP/tcp-waiting" curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9180/v1/status
WAIT_PID=$BG_PID
touch "$GW_TMP/stop-tcp"
wait "$WAIT_PID"
check_eq tcp_waiting_served_after_close "$(cat "$GW_TMP/tcp-waiting")" "200"
wait "$HOLD_PID"
# three idle unix peers: a gwctl-like request waits; the TCP listener still serves
hold 0 3 "$GW_TMP/stop-unix" || t_fail admin_bound "unix peers not connected"
bg_start g "$GW_TMP/unix-waiting" curl -s --max-time 10 -o /dev/null -w '%{http_code}' --unix-socket "$GW_TMP/gwd.sock" http://x/v1/status
WAIT_PID=$BG_PID
check unix_bound_logged wait_until 5 grep -q "admin API: the unix listener has 3 connections open" "$GW_TMP/gwd.log"
check_eq unix_bound_counted "$(tmetric 'connection_limit_total{listener="unix"}')" 'xdpgw_admin_connection_limit_total{listener="unix"} 1'
touch "$GW_TMP/stop-unix"
wait "$WAIT_PID"
check_eq unix_waiting_served_after_close "$(cat "$GW_TMP/unix-waiting")" "200"
wait "$HOLD_PID"
bg_stop "$GWD_PID"
check admin_bound_no_sanitizer_report sh -c "! grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error' '$GW_TMP/gwd.log'"
{ cat "$GW_TMP/gwd.yaml"; echo "gwd: {admin_max_connections: 0}"; } >"$GW_TMP/gwd-bad.yaml"
refuses admin_bound_zero "gwd.admin_max_connections: 0 is out of range 1-65536" --config "$GW_TMP/gwd-bad.yaml"

# ---- refusals at start ----
refuses no_token_file "needs admin_token_file" --admin-listen 9180
chmod 644 "$GW_TMP/token"
refuses token_file_readable "readable by it only (chmod 600)" --admin-listen 9180 --admin-token-file "$GW_TMP/token"
printf 'short\n' >"$GW_TMP/short"
chmod 600 "$GW_TMP/short"
refuses token_too_short "the token must be 16-4096 printable characters" --admin-listen 9180 --admin-token-file "$GW_TMP/short"
chmod 600 "$GW_TMP/token"
refuses remote_not_allowed "is not a loopback address: set admin_allow_remote" --admin-listen 198.18.0.1:9180 --admin-token-file "$GW_TMP/token"
refuses bad_address "is not ADDR:PORT" --admin-listen "nope" --admin-token-file "$GW_TMP/token"
check token_not_in_refusals sh -c "! grep -qF '$TOKEN' '$GW_TMP/gwd.log'"
run_gwd --admin-listen 198.18.0.1:9180 --admin-token-file "$GW_TMP/token" --admin-allow-remote
check remote_when_allowed wait_until 10 sh -c "ip netns exec $(ns g) ss -ltnH | grep -q '198.18.0.1:9180 '"
check_eq remote_needs_token "$(acurl -o /dev/null -w '%{http_code}' http://198.18.0.1:9180/v1/status)" "401"
bg_stop "$GWD_PID"
t_done
