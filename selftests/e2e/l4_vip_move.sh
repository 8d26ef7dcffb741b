#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# VIPs that move between services in one change: a service may take the VIP another service of
# the same change leaves, whatever their order in the document (and along a chain); VIPs
# swapped between services are refused before anything changes, with the cause.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
t_init l4_vip_move
need_root l4_vip_move

ns_add n || { t_fail setup "namespace"; exit 1; }
nsx n ip link add xgm0 type veth peer name xgm1 && nsx n ip link set xgm0 up &&
	nsx n ip link set xgm1 up || { t_fail setup "veth"; exit 1; }
T=$(tmp_dir)
FS=$(bpffs_dir move)
SOCK=$T/gwd.sock
bg_start n "$T/gwd.log" "$GWD" --foreground --state-dir "$T/state" --socket "$SOCK" --bpffs "$FS"
wait_until 10 test -S "$SOCK" || { t_fail gwd_starts "$(tail -3 "$T/gwd.log")"; exit 1; }

G() { nsx n "$GWCTL" --socket "$SOCK" --bpffs "$FS" "$@"; }
# doc A_VIP B_VIP C_VIP [ORDER]: the document; ORDER "ba" lists b first.
doc() {
	local a="{name: a, vip: \"$1\"}" b="{name: b, vip: \"$2\"}" c="{name: c, vip: \"$3\"}"
	printf 'l4:\n  links: [{name: xgm0, mode: generic}]\n  services: [%s]\n' \
		"$([ "$4" = ba ] && echo "$c, $b, $a" || echo "$a, $b, $c")"
}
vips() { G -j vip show | jq -r 'sort_by(.name) | map("\(.name)=\(.addr):\(.port)") | join(" ")'; }
X=198.18.100.1:80 Y=198.18.100.2:80 Z=198.18.100.3:80 W=198.18.100.4:80

doc $X $Y $W >"$T/1.yaml"
check start G apply -f "$T/1.yaml"
check_eq start_vips "$(vips)" "a=198.18.100.1:80 b=198.18.100.2:80 c=198.18.100.4:80"
# b takes a's VIP, a takes a free one; b is listed (and would be written) first.
doc $Z $X $W ba >"$T/2.yaml"
check move_taker_first G apply -f "$T/2.yaml"
check_eq moved_vips "$(vips)" "a=198.18.100.3:80 b=198.18.100.1:80 c=198.18.100.4:80"
# A chain: c takes a's, a takes b's, b takes a free one.
doc $X $Y $Z ba >"$T/3.yaml"
check move_chain G apply -f "$T/3.yaml"
check_eq chain_vips "$(vips)" "a=198.18.100.1:80 b=198.18.100.2:80 c=198.18.100.3:80"
# A swap: refused up front, nothing changed.
doc $Y $X $Z >"$T/4.yaml"
before=$(md5sum <"$T/state/state.json")
err=$(G apply -f "$T/4.yaml" 2>&1 >/dev/null)
check_eq swap_refused "$err" "Error: l4.services[a].vip: 198.18.100.2:80/tcp is still the VIP of service b, which moves to 198.18.100.1:80/tcp in the same change: VIPs can not be swapped between services in one change (move one of them to a free VIP first)"
check_eq swap_changed_nothing "$(vips) $(md5sum <"$T/state/state.json")" \
	"a=198.18.100.1:80 b=198.18.100.2:80 c=198.18.100.3:80 $before"
check_eq swap_not_applied "$(grep -c 'rolling back' "$T/gwd.log")" 0
t_done
