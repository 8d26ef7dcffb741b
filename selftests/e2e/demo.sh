#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make demo` as README.md promises it: selftests/demo.sh with DEMO_KEEP=1 runs its six steps
# and exits 0 with nothing unexpected; the commands it prints to explore the kept topology work
# (curl through both VIPs, gwctl against lb1's and gw1's gwd, the g() shortcut); `demo.sh clean`
# removes everything. The demo runs as xg-PID-* (DEMO_PREFIX) so that a user's own kept demo
# is left alone and netns.sh clean finds what a crash would leave.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
t_init demo
need_root demo

P=$XG_NS_PREFIX
out=$(DEMO_PREFIX=$P DEMO_KEEP=1 timeout 240 "$T_ROOT/selftests/demo.sh" 2>&1)
rc=$?
# The demo's whole output in the log when anything in it went wrong, and the failed requests
# of its client loops (START_MS CONN PATH fail CAUSE, or a status of 400 or more).
if [ "$rc" != 0 ] || grep -q '✗' <<<"$out"; then
	printf '%s\n' "$out" >&2
	for f in /tmp/"$P"run/loop-*.out; do
		[ -e "$f" ] && awk -v f="${f##*/}" '$4 == "fail" || $4 + 0 >= 400 { print f ": " $0 }' "$f"
	done | head -50 >&2
fi
if [ "$rc" = 0 ]; then t_ok exits_0; else
	t_fail exits_0 "status $rc: $(printf '%s\n' "$out" | grep -e '✗' -e 'demo failed' | head -3)"; fi
missing=""
for s in "[1/6] Topology" "[2/6] Configuration, with gwctl only" "[3/6] First requests" \
	"[4/6] Traffic" "[5/6] Live changes" "a) Scale out" "b) Drain gw1" "c) Kill users-1" \
	"d) A gateway fails" "[6/6] Summary" "nothing unexpected" "The topology is still up"; do
	grep -qF -- "$s" <<<"$out" || missing+=" '$s'"
done
check_eq all_steps_shown "${missing:-none}" none
check_eq no_unexpected_marks "$(grep -c '✗' <<<"$out")" 0
check_eq no_failure_outside_windows "$(grep -o 'at any other time: [0-9]*' <<<"$out")" \
	"at any other time: 0"

# The printed commands, run as printed (from the repository's root, as a user would).
cd "$T_ROOT" || exit 1
mapfile -t cmds < <(sed -n 's/^  \(ip netns exec .*\)$/\1/p' <<<"$out")
check_eq four_commands_printed "${#cmds[@]}" 4
for i in "${!cmds[@]}"; do
	res=$(eval "${cmds[$i]}" 2>&1)
	case "$i:$res" in
	0:*'"name":"users-'[12]'"'* | 1:*'"name":"products-'[12]'"'* | \
		2:*"api "*"TCP"*"198.18.100.1:80/tcp"* | 3:*"users"*"198.18.2.40:8080"*"up"*) t_ok "printed_command_$i" ;;
	*) t_fail "printed_command_$i" "'${cmds[$i]}': $(head -c 200 <<<"$res")" ;;
	esac
done
shortcut=$(sed -n 's/^  \(g() { .*\)$/\1/p' <<<"$out")
eval "$shortcut"
res=$(g lb1 -j backend show api 2>&1 | jq -r '[.[].addr] | join(" ")' 2>&1)
check_eq shortcut_g "$res" "198.18.0.20 198.18.0.21 198.18.0.22"
remove=$(sed -n 's/^Remove it all: //p' <<<"$out")
check_eq remove_command_printed "$remove" "DEMO_PREFIX=$P $T_ROOT/selftests/demo.sh clean"

res=$(eval "$remove" 2>&1)
check_eq clean_says_so "$res" "removed the demo topology (namespaces ${P}*, their processes, bpffs)"
check_eq clean_leaves_nothing "$(ip netns list | grep -c "^$P")/$(ls -d /tmp/"$P"* 2>/dev/null | wc -l)" 0/0
check_eq clean_again_quiet "$(eval "$remove" 2>&1)" ""
t_done
