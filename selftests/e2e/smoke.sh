#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Proves the e2e harness: two namespaces joined by a veth, one TCP connection between them.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
t_init smoke
need_root tcp_over_veth

ns_add a && ns_add b && veth_add a veth0 b veth0 || { t_fail setup "namespaces"; exit 1; }
nsx a ip addr add 198.18.0.1/24 dev veth0
nsx b ip addr add 198.18.0.2/24 dev veth0
nsx a ip -6 addr add 2001:2::1/64 dev veth0 nodad
nsx b ip -6 addr add 2001:2::2/64 dev veth0 nodad

tmp=$(tmp_dir)
bg_start b "$tmp/server.log" socat -T 5 TCP6-LISTEN:7000,reuseaddr,fork,ipv6only=0 \
	SYSTEM:'read l; echo "pong $l"'
wait_listen b 7000 || t_fail server_listens "socat did not listen within 5 s"

reply=$(echo ping4 | nsx a timeout 5 socat -T 3 - TCP4:198.18.0.2:7000)
check_eq tcp_over_veth_ipv4 "$reply" "pong ping4"
reply=$(echo ping6 | nsx a timeout 5 socat -T 3 - TCP6:[2001:2::2]:7000)
check_eq tcp_over_veth_ipv6 "$reply" "pong ping6"

# Nothing of this test is visible from the root namespace.
if ip route get 198.18.0.2 2>/dev/null | grep -q veth0; then
	t_fail root_ns_isolated "root namespace routes to the test addresses"
else
	t_ok root_ns_isolated
fi
t_done
