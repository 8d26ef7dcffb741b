#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway per-target state under churn: 40 live changes, each with another target address,
# leave only the current config's target states held, and the first config's (the worker set
# keeps the config it started with until it restarts): the removed ones are freed once nothing
# references them. Requests are served throughout.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_churn
need_root churn

gw_ns || { t_fail setup "namespace"; exit 1; }
gw_upstream a 9001 || t_fail setup "upstream a"
conf() {	# conf PORT: a drained (weight 0) second target at 127.0.0.1:PORT
	cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 2
  listeners: [{addr: 127.0.0.1:8080}]
  upstreams:
    - {name: pa, targets: [{addr: "127.0.0.1:9001"}, {addr: "127.0.0.1:$1", weight: 0}]}
  routes:
    - {name: r, path: /, upstream: pa}
Y
}
conf 20000
gw_start "$GW_TMP/gw.yaml" 8080 || { t_fail setup "gateway did not serve"; exit 1; }
states() { gw_metrics | awk '$1 == "xdpgw_gateway_target_states" {print $2}'; }
states_le() { [ "$(states)" -le "$1" ]; }
check_eq states_at_start "$(states)" 2

failed=0 served=0
for i in $(seq 1 40); do
	conf $((20000 + i))
	gw_reload || failed=$((failed + 1))
	[ "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/x)" = 200 ] &&
		served=$((served + 1))
done
check_eq changes_applied "$failed" 0
check_eq served_throughout "$served" 40
check removed_states_freed wait_until 5 states_le 3; echo "# target states after 40 changes: $(states)"
check_eq current_target_metrics "$(gw_metrics | grep -c 'xdpgw_gateway_upstream_target_requests_total{upstream="pa",target="127.0.0.1:20040"}')" 1
# A target removed and added again is served (its state starts afresh).
conf 20000
check readd gw_reload
check_eq readd_served "$(gcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/x)" 200

t_done
