#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every forwarding mode and address family with real TCP through gwd and the XDP balancer (l4
# topology): IPv4 VIP in l2 mode, IPv6 VIP in ipip mode (IP6IP6), IPv4 VIP over IPv6 backends
# (4in6) and IPv6 VIP over IPv4 backends (6in4). Each service's connections all get answered
# and reach every backend. (IPv4 ipip and IPv6 l2: l4_control.sh.)
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/topo.sh"
t_init l4_modes
need_root l4_modes

TCPNAME=$BUILD/tools/tcpname
need_tool "$TCPNAME"
topo_create l4 backends=3 || { t_fail setup "topology"; exit 1; }
T=$(tmp_dir)
SOCK=$T/gwd.sock
G() { topo_exec lb1 "$GWCTL" --socket "$SOCK" --bpffs "$(topo_bpffs lb1)" "$@"; }
gwd_ready() { curl -sf --unix-socket "$SOCK" http://gwd/v1/status >/dev/null; }

for b in be1 be2 be3; do
	bg_start "$b" "$T/$b.log" "$TCPNAME" serve 80 "$b"
	topo_exec "$b" "$GWCTL" --bpffs "$(topo_bpffs "$b")" decap attach eth0 ||
		t_fail "decap_attach_$b"
done
for b in be1 be2 be3; do wait_listen "$b" 80 || t_fail "listen_$b"; done
bg_start lb1 "$T/gwd.log" "$GWD" --foreground --state-dir "$T/state" --socket "$SOCK" \
	--bpffs "$(topo_bpffs lb1)"
wait_until 10 gwd_ready || { t_fail gwd_starts "$(tail -3 "$T/gwd.log")"; exit 1; }

# backends FAMILY: the three backends' addresses as a YAML list
backends() { echo "[{addr: $(topo_addr be1 "$1")}, {addr: $(topo_addr be2 "$1")}, {addr: $(topo_addr be3 "$1")}]"; }
V4B=198.18.100.2 V6B=2001:2:0:100::2
cat >"$T/modes.yaml" <<EOF
l4:
  links: [{name: eth0}]
  services:
    - {name: v4-l2, vip: "$TOPO_VIP4:80", fwd: l2, backends: $(backends 4)}
    - {name: v6-ipip, vip: "[$TOPO_VIP6]:80", fwd: ipip, backends: $(backends 6)}
    - {name: v4-over-v6, vip: "$V4B:80", fwd: ipip, backends: $(backends 6)}
    - {name: v6-over-v4, vip: "[$V6B]:80", fwd: ipip, backends: $(backends 4)}
EOF
check apply G apply -f "$T/modes.yaml"
all_live() { [ "$(G -j vip show | jq '[.[].live] | add')" = 12 ]; }
wait_until 10 all_live || t_fail backends_up "$(G backend show)"

# mode NAME VIP SPORT_BASE: 30 connections all answered, by all three backends, counted by
# the service's stats
mode() {
	local name=$1 vip=$2 before after s
	before=$(G -j stats "$name" | jq '.services[0].new_flows')
	topo_exec client1 "$TCPNAME" once "$vip" 80 30 "$3" >"$T/$name.out"
	after=$(G -j stats "$name" | jq '.services[0].new_flows')
	check_eq "${name}_answered" "$(grep -c FAIL "$T/$name.out")/$(wc -l <"$T/$name.out")" 0/30
	s=$(sort "$T/$name.out" | uniq -c | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $2 }')
	check_eq "${name}_all_backends" "$s" "be1 be2 be3"
	check_eq "${name}_counted" "$((after - before))" 30
}
mode v4-l2 "$TOPO_VIP4" 30000
mode v6-ipip "$TOPO_VIP6" 31000
mode v4-over-v6 "$V4B" 32000
mode v6-over-v4 "$V6B" 33000
# the encapsulations really were the ones named (reason counters of the datapath and decap)
check_eq l2_and_ipip_reasons "$(G -j stats | jq -c '[.reasons[] | select(.name == "fwd-l2" or .name == "fwd-ipip") | .packets > 0]')" \
	"[true,true]"
t_done
