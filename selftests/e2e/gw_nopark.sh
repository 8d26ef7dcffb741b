#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The epoll parking kill switch (userspace/gateway/epoll_park.c): gateway.epoll_park: false
# and XDPGW_EPOLL_PARK=0|1 (which wins) decide whether a worker keeps the client sockets of
# requests in progress in its epoll set, read from /proc (fdinfo of the gateway's epoll sets
# against its accepted sockets); then the gateway's basic suites run again with parking off.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_nopark
need_root nopark

gw_ns || { t_fail setup "namespace"; exit 1; }

# in_epoll PID PORT: how many of PID's sockets accepted on PORT are in one of its epoll sets.
in_epoll() {
	local pid=$1 port=$2 f tfds
	tfds=$(for f in /proc/"$pid"/fd/*; do
		[ "$(readlink "$f")" = "anon_inode:[eventpoll]" ] &&
			awk '/^tfd:/ { print $2 }' "/proc/$pid/fdinfo/${f##*/}"
	done | sort -u)
	nsx g ss -Htnp state established "( sport = :$port )" | grep -o 'fd=[0-9]*' | cut -d= -f2 |
		sort -u | comm -12 - <(echo "$tfds") | wc -l
}
# parked_during_slow_requests NAME PARK_CONFIG ENV PORT: starts a gateway, holds 3 requests
# in progress, prints how many of their client sockets stay registered, stops it. An upstream
# of its own holds the requests 10 s, longer than the count from /proc takes on a loaded
# machine; once counted, it stops: the requests end at once (502), and so can the gateway.
parked_during_slow_requests() {
	local name=$1 park=$2 env=$3 port=$4 pids=() n
	cat >"$GW_TMP/$name.yaml" <<Y
gateway:
  workers: 1
  epoll_park: $park
  listeners: [{addr: 127.0.0.1:$port}]
  upstreams: [{name: slow, targets: [{addr: "127.0.0.1:9001"}]}]
  routes: [{name: slow, path: /, upstream: slow}]
Y
	gw_upstream "slow-$name" 9001 --delay-ms 10000 || { echo "no upstream"; return; }
	local up=$UP_PID
	bg_start g "$GW_TMP/$name.log" env $env "$GW_TOOLS/gwgate" -c "$GW_TMP/$name.yaml"
	local gw=$BG_PID
	wait_listen g "$port" || { echo "no listener"; bg_stop "$up"; return; }
	for i in 1 2 3; do
		ip netns exec "$(ns g)" curl -s -o /dev/null --max-time 15 "http://127.0.0.1:$port/" &
		pids+=($!)
	done
	# all three accepted and waiting on the upstream
	if wait_until 5 sh -c "[ \$(ip netns exec $(ns g) ss -Htn state established '( sport = :9001 )' | wc -l) -ge 3 ]"
	then
		n=$(in_epoll "$gw" "$port")
	else
		n="not 3 requests at the upstream"
	fi
	# still in progress when counted, or the count says nothing
	for i in "${pids[@]}"; do kill -0 "$i" 2>/dev/null || n="requests over before the count"; done
	bg_stop "$up"
	wait "${pids[@]}"
	bg_stop "$gw"
	echo "$n"
}

check_eq parked_by_default "$(parked_during_slow_requests on true XDPGW_EPOLL_PARK= 8080)" 3
check_eq off_by_config "$(parked_during_slow_requests off false XDPGW_EPOLL_PARK= 8081)" 0
check off_logged grep -q "epoll parking off (gateway.epoll_park: false)" "$GW_TMP/off.log"
check_eq env_off_wins "$(parked_during_slow_requests envoff true XDPGW_EPOLL_PARK=0 8082)" 0
check env_off_logged grep -q "epoll parking off (XDPGW_EPOLL_PARK=0)" "$GW_TMP/envoff.log"
check_eq env_on_wins "$(parked_during_slow_requests envon false XDPGW_EPOLL_PARK=1 8083)" 3
check_eq env_bad_uses_config "$(parked_during_slow_requests envbad true XDPGW_EPOLL_PARK=maybe 8084)" 3
check env_bad_warned grep -q "XDPGW_EPOLL_PARK must be 0, 1, false or true" "$GW_TMP/envbad.log"

# The basics with parking off: routing, upstream pools and retries, keep-alive on both sides.
dir=$(dirname "$0")
for suite in gw_routing gw_upstreams gw_retry; do
	out=$(XDPGW_EPOLL_PARK=0 T_SUITE_SUFFIX=-nopark bash "$dir/$suite.sh" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -E '^(ok|FAIL|skip) '
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' <<<"$out"; then
		t_fail "$suite" "exited $rc: $(tail -3 <<<"$out" | tr '\n' ' ')"
	fi
	grep -q '^FAIL ' <<<"$out" && T_FAILED=$((T_FAILED + 1))
done
t_done
