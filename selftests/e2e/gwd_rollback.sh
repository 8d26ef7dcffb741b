#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A change that the last module (the gateway) fails to apply after the L4 balancer and the
# health checker applied theirs: gwd (ASan+UBSan build) answers with the cause, and the
# document, the state file, the datapath's services, backends and selection tables, and the
# gateway's traffic are all as before. Then a change that needs a new gateway worker set works
# (twice), and gwd stops cleanly with no sanitizer report.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gwd_rollback
need_root rollback
need_asan_gwd gwd_rollback

gw_ns || { t_fail setup "namespace"; exit 1; }
nsx g ip link add xgr0 type veth peer name xgr1 && nsx g ip link set xgr0 up &&
	nsx g ip link set xgr1 up && nsx g ip addr add 198.18.0.2/24 dev xgr0 ||
	{ t_fail setup "veth"; exit 1; }
# Backends with known MACs, so they are live and the selection tables hold them.
for i in 30 31 32 33 40; do
	nsx g ip neigh replace 198.18.0.$i lladdr 02:00:c6:12:00:$i dev xgr0 nud permanent
done
gw_upstream a 9001 || t_fail setup "upstream a"
FS=$(bpffs_dir gwd)

# config PORT L4_EXTRA ACCESS_LOG
config() {
	cat <<Y
l4:
  links: [{name: xgr0, mode: generic}]
  services:
    - name: web
      vip: 198.18.100.1:80/tcp
      backends: [{addr: 198.18.0.30, weight: 100}, {addr: 198.18.0.31}]
    - {name: dns, vip: "198.18.100.2:53/udp", algo: sh, backends: [{addr: 198.18.0.32}]}
$2
gateway:
  workers: 2
  listeners: [{addr: "127.0.0.1:$1"}]
  upstreams: [{name: a, targets: [{addr: "127.0.0.1:9001"}]}]
  routes: [{name: r, path: /, upstream: a}]
$3
Y
}

config 8080 "" "" >"$GW_TMP/a.yaml"
# L4: a new service, a backend more, a weight changed, a backend removed; the gateway: an
# access log it can not open (it needs a new worker set, started after L4 applied).
config 8080 "    - {name: api, vip: 198.18.100.3:443/tcp, algo: rr, backends: [{addr: 198.18.0.40}]}" \
	"  access_log: /nonexistent-xg-dir/access.log" |
	sed -e 's/weight: 100}, {addr: 198.18.0.31}/weight: 7}, {addr: 198.18.0.33}/' >"$GW_TMP/bad.yaml"
config 8081 "" "" >"$GW_TMP/c.yaml"
config 8082 "" "  limits: {max_headers: 50}" >"$GW_TMP/d.yaml"

bg_start g "$GW_TMP/gwd.log" "$GWD" --config "$GW_TMP/a.yaml" --state-dir "$GW_TMP/state" \
	--socket "$GW_TMP/gwd.sock" --bpffs "$FS" --foreground
GWD_PID=$BG_PID
GWCTL_ARGS=(--socket "$GW_TMP/gwd.sock")
# (an ASan gwd loading the balancer on a busy machine can take a while)
wait_listen g 8080 30 || { t_fail start "gwd did not serve"; tail "$GW_TMP/gwd.log"; exit 1; }
G() { gctl --bpffs "$FS" "$@"; }

# Everything a failed change must leave as it was.
snapshot() {
	md5sum <"$GW_TMP/state/state.json"
	nsx g curl -sf --unix-socket "$GW_TMP/gwd.sock" http://gwd/v1/config
	echo
	G -j vip show | jq -c 'map({name, addr, port, proto, algo, backends, live, table_size}) | sort_by(.name)'
	G -j backend show | jq -c 'map({service, addr, weight, state}) | sort_by(.service, .addr)'
	for port in 1000 2000 3000 4000 5000; do
		G -j lookup web 198.18.0.9:$port | jq -c '{backend, why}'
	done
}
before=$(snapshot)
check_eq traffic_before "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/)" 200

err=$(gctl apply -f "$GW_TMP/bad.yaml" 2>&1 >/dev/null)
check_eq refused_exit "$?" 1
case "$err" in
*'gateway.access_log: cannot open "/nonexistent-xg-dir/access.log"'*) t_ok refused_cause ;;
*) t_fail refused_cause "$err" ;;
esac
after=$(snapshot)
if [ "$before" = "$after" ]; then t_ok nothing_changed; else
	t_fail nothing_changed "$(diff <(echo "$before") <(echo "$after") | head -20)"; fi
check_eq traffic_after "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/)" 200
check_eq failed_counted "$(nsx g curl -sf --unix-socket "$GW_TMP/gwd.sock" http://gwd/v1/status | jq .changes.failed)" 1

# New worker sets after the failed one: each serves on its listener.
check apply_c gctl apply -f "$GW_TMP/c.yaml"
wait_listen g 8081 30 || t_fail listener_c "8081 not listening"
check_eq traffic_c "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8081/)" 200
check apply_d gctl apply -f "$GW_TMP/d.yaml"
wait_listen g 8082 30 || t_fail listener_d "8082 not listening"
for i in 1 2 3 4 5 6; do
	gcurl -o /dev/null -w '%{http_code}\n' http://127.0.0.1:8082/
done >"$GW_TMP/codes"
check_eq traffic_d "$(sort -u "$GW_TMP/codes")" 200

# SIGHUP (an nginx habit for "reload") must not end gwd, and with it the gateway's traffic.
kill -HUP "$GWD_PID"
wait_until 5 grep -q 'SIGHUP ignored' "$GW_TMP/gwd.log" || t_fail hup_logged "no log line"
check hup_survived kill -0 "$GWD_PID"
check_eq traffic_after_hup "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8082/)" 200
kill -TERM "$GWD_PID"
wait_until 15 sh -c "! kill -0 $GWD_PID 2>/dev/null" || t_fail stops "gwd still runs 15 s after TERM"
check no_sanitizer_report sh -c "! grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error' '$GW_TMP/gwd.log'"
grep -A30 -e 'ERROR:' -e 'runtime error' "$GW_TMP/gwd.log" | head -40 >&2
t_done
