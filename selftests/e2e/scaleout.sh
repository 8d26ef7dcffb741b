#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Scale-out: two L4 nodes behind an ECMP route (ecmp topology), each with its own gwd and the
# same configuration, choose the same backend for a flow. New connections spread over both
# nodes (IPv4 and IPv6, ipip); gwctl lookup agrees on both; connections opened through lb1
# survive the route moving them to lb2, which has never seen them; and the documented limit:
# after a backend-set change, a moved flow that Maglev now maps elsewhere is reset, exactly
# the flows `gwctl lookup` predicts (docs/scale-out.md).
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/topo.sh"
t_init scaleout
need_root scaleout

TCPNAME=$BUILD/tools/tcpname
need_tool "$TCPNAME"
topo_create ecmp backends=3 || { t_fail setup "topology"; exit 1; }
T=$(tmp_dir)
CLIENT=$(topo_addr client1 4)

G() { local n=$1; shift; topo_exec "$n" "$GWCTL" --socket "$T/$n.sock" --bpffs "$(topo_bpffs "$n")" "$@"; }
gwd_ready() { topo_exec "$1" curl -sf --unix-socket "$T/$1.sock" http://gwd/v1/status >/dev/null; }
live_is() { [ "$(G "$1" -j vip show | jq "[.[].live] | add")" = "$2" ]; }
new_flows() { G "$1" -j stats "$2" | jq '.services[0].new_flows'; }

for b in be1 be2 be3; do
	bg_start "$b" "$T/$b.log" "$TCPNAME" serve 80 "$b"
	topo_exec "$b" "$GWCTL" --bpffs "$(topo_bpffs "$b")" decap attach eth0 ||
		t_fail "decap_attach_$b"
done
for b in be1 be2 be3; do wait_listen "$b" 80 || t_fail "listen_$b"; done

# One configuration for the tier, applied to both nodes (hash_seed: the same on every node).
cat >"$T/tier.yaml" <<EOF
l4:
  settings: {hash_seed: 424242}
  links: [{name: eth0}]
  services:
    - name: web
      vip: $TOPO_VIP4:80/tcp
      backends: [{addr: $(topo_addr be1 4)}, {addr: $(topo_addr be2 4)}]
    - name: web6
      vip: "[$TOPO_VIP6]:80/tcp"
      backends: [{addr: $(topo_addr be1 6)}, {addr: $(topo_addr be2 6)}]
EOF
for n in lb1 lb2; do
	bg_start "$n" "$T/gwd-$n.log" "$GWD" --foreground --state-dir "$T/state-$n" \
		--socket "$T/$n.sock" --bpffs "$(topo_bpffs "$n")"
	wait_until 10 gwd_ready "$n" || { t_fail "gwd_starts_$n" "$(tail -3 "$T/gwd-$n.log")"; exit 1; }
	G "$n" apply -f "$T/tier.yaml" >/dev/null || t_fail "apply_$n"
	wait_until 10 live_is "$n" 4 || t_fail "backends_up_$n" "$(G "$n" backend show)"
done
check_eq same_table_size "$(G lb1 -j vip show | jq -c '[.[].table_size]')" \
	"$(G lb2 -j vip show | jq -c '[.[].table_size]')"

# ---- both nodes answer the same for every flow ----
differ=""
for p in $(seq 41000 41031); do
	a=$(G lb1 -j lookup web "$CLIENT:$p" | jq -r .backend)
	b=$(G lb2 -j lookup web "$CLIENT:$p" | jq -r .backend)
	[ "$a" = "$b" ] || differ+=" $p:$a/$b"
done
check_eq lookup_same_on_both_nodes "${differ:-none}" none

# ---- new connections spread over both L4 nodes, IPv4 and IPv6 ----
for fam in 4 6; do
	svc=web vip=$TOPO_VIP4
	[ $fam = 6 ] && svc=web6 vip=$TOPO_VIP6
	before1=$(new_flows lb1 $svc) before2=$(new_flows lb2 $svc)
	topo_exec client1 "$TCPNAME" once "$vip" 80 60 $((30000 + fam * 1000)) >"$T/once.out"
	check_eq "v${fam}_all_answered" "$(grep -c FAIL "$T/once.out")/$(wc -l <"$T/once.out")" 0/60
	n1=$(($(new_flows lb1 $svc) - before1)) n2=$(($(new_flows lb2 $svc) - before2))
	if [ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] && [ $((n1 + n2)) = 60 ]; then
		t_ok "v${fam}_spread_over_both_l4_nodes"
	else
		t_fail "v${fam}_spread_over_both_l4_nodes" "lb1 $n1, lb2 $n2 of 60"
	fi
done

# ---- connections opened through lb1 survive moving to lb2 ----
LL=16
mkfifo "$T/ll.in"
exec 9<>"$T/ll.in"
ll_ping() {
	local r=$(($(grep -c '^round ' "$T/ll.out") + 1))
	echo ping >&9
	wait_until 10 grep -q "^round $r " "$T/ll.out" || { echo "no round $r"; return 1; }
	grep "^round $r " "$T/ll.out"
}
topo_ecmp lb1
before2=$(new_flows lb2 web)
topo_exec client1 "$TCPNAME" client "$TOPO_VIP4" 80 $LL 45000 <"$T/ll.in" >"$T/ll.out" &
XG_PIDS+=("$!")
wait_until 10 grep -q '^ready' "$T/ll.out" || { t_fail long_lived_open "$(cat "$T/ll.out")"; exit 1; }
check_eq long_lived_open "$(grep -c '^conn .* be[12]$' "$T/ll.out")" $LL
check_eq long_lived_only_via_lb1 "$(($(new_flows lb2 web) - before2))" 0
check_eq long_lived_baseline "$(ll_ping)" "round 1 ok=$LL fail=0"
topo_ecmp lb2
check_eq moved_to_lb2_no_reset "$(ll_ping)" "round 2 ok=$LL fail=0"
check_eq lb2_adopted_the_flows "$(G lb2 -j conntrack show web | jq "[.[] | select(.client | startswith(\"$CLIENT:45\"))] | length")" $LL
# lb2 picked, for each moved flow, the backend the connection was opened on
wrong=""
for i in $(seq 0 $((LL - 1))); do
	want=$(awk -v i="$i" '$1 == "conn" && $2 == i {print $3}' "$T/ll.out")
	got=$(G lb2 -j conntrack show web | jq -r ".[] | select(.client == \"$CLIENT:$((45000 + i))\") | .backend")
	[ "$(topo_addr "$want" 4)" = "$got" ] || wrong+=" $i:$want/$got"
done
check_eq lb2_same_backends "${wrong:-none}" none

# ---- the limit: a backend-set change, then a move to a node without the flows' entries ----
# lb1 forgets the flows (as a restarted or new node would), be3 joins on both nodes; the flows
# Maglev now maps to another backend are the ones that break when they move back to lb1.
check conntrack_flush_lb1 G lb1 conntrack flush web
for n in lb1 lb2; do G "$n" backend add web "$(topo_addr be3 4)" || t_fail "add_be3_$n"; done
wait_until 10 live_is lb1 5 || t_fail be3_up "$(G lb1 backend show web)"
moved=0
for i in $(seq 0 $((LL - 1))); do
	want=$(awk -v i="$i" '$1 == "conn" && $2 == i {print $3}' "$T/ll.out")
	got=$(G lb1 -j lookup web "$CLIENT:$((45000 + i))" | jq -r .backend)
	[ "$(topo_addr "$want" 4)" = "$got" ] || moved=$((moved + 1))
done
if [ "$moved" -gt 0 ]; then t_ok lookup_predicts_remapped_flows; else
	t_fail lookup_predicts_remapped_flows "no flow of $LL remapped by be3: choose other ports"; fi
check_eq still_fine_on_lb2 "$(ll_ping)" "round 3 ok=$LL fail=0"
topo_ecmp lb1
check_eq back_to_lb1_remapped_flows_reset "$(ll_ping)" "round 4 ok=$((LL - moved)) fail=$moved"

echo quit >&9
t_done
