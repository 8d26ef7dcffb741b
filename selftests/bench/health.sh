#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bench-health: what gwd's health checker costs with many backends. One namespace; N backends
# on 198.19.0.0/16 (a local route: every address answers on this host), one listener on port
# 80 for all of them (an accept-and-close loop for tcp checks, the test upstream for http);
# one service with N backends, a check every INTERVAL. After a warm-up, over SECONDS: check
# rounds per second, gwd's CPU time (user + system, from /proc) per second and per round,
# failed rounds, and gwd's thread count (the checker adds none).
#   selftests/bench/health.sh [N] [tcp|http]      (defaults 2000 tcp)
# Last lines: `bench-health CASE key=value ...`.
set -u
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
N=${1:-2000}
TYPE=${2:-tcp}
INTERVAL=${INTERVAL:-1s}
SECONDS_MEASURED=${SECONDS_MEASURED:-10}
[ "$(id -u)" = 0 ] || { echo "bench-health skipped reason=needs-root"; exit 0; }

ns_add lb || exit 1
T=$(tmp_dir)
FS=$(bpffs_dir lb)
SOCK=$T/gwd.sock
api() { curl -sf --unix-socket "$SOCK" "http://gwd$1"; }
nsx lb ip route add local 198.19.0.0/16 dev lo
if [ "$TYPE" = tcp ]; then
	bg_start lb "$T/listener.log" python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(4096)
while True:
    c, _ = s.accept()
    c.close()'
else
	bg_start lb "$T/listener.log" "$BUILD/tools/upstream" --listen 0.0.0.0:80 --body ok
fi
wait_listen lb 80 || { echo "bench-health error reason=listener"; exit 1; }
{
	printf 'l4:\n  services:\n    - name: big\n      vip: 198.18.100.1:80\n'
	printf '      check: {type: %s, interval: %s, timeout: 500ms}\n      backends:\n' "$TYPE" "$INTERVAL"
	for ((i = 0; i < N; i++)); do printf '        - addr: 198.19.%d.%d\n' $((i / 250)) $((i % 250 + 1)); done
} >"$T/gwd.yaml"
bg_start lb "$T/gwd.log" "$GWD" --foreground --config "$T/gwd.yaml" --state-dir "$T/state" \
	--socket "$SOCK" --bpffs "$FS"
GWD_PID=$BG_PID
wait_until 30 api /v1/status || { echo "bench-health error reason=gwd"; tail -3 "$T/gwd.log"; exit 1; }
# ip netns exec runs gwd as its child: the daemon's own pid
PID=$(pgrep -P "$GWD_PID" -x gwd || echo "$GWD_PID")
rounds() { api /metrics | awk '/^xdpgw_l4_health_check_duration_seconds_count/ { print $2 }'; }
fails() { api /metrics | awk '/^xdpgw_l4_health_checks_total.*result="fail"/ { s += $2 } END { print s + 0 }'; }
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
sleep 3
r1=$(rounds) f1=$(fails) c1=$(cpu) t1=$(date +%s%N)
sleep "$SECONDS_MEASURED"
r2=$(rounds) f2=$(fails) c2=$(cpu) t2=$(date +%s%N)
hz=$(getconf CLK_TCK)
el_ms=$(((t2 - t1) / 1000000))
rps=$(((r2 - r1) * 1000 / el_ms))
cpu_ms=$(((c2 - c1) * 1000 / hz))
echo "health: $(api /v1/status | jq -c .modules.health)" >&2
echo "bench-health $TYPE backends=$N interval=$INTERVAL rounds_per_s=$rps" \
	"cpu_pct=$(awk -v c="$cpu_ms" -v e="$el_ms" 'BEGIN { printf "%.1f", 100 * c / e }')" \
	"cpu_us_per_round=$(awk -v c="$cpu_ms" -v r="$((r2 - r1))" 'BEGIN { printf "%.1f", r ? 1000 * c / r : 0 }')" \
	"failed_rounds=$((f2 - f1)) threads=$(ls "/proc/$PID/task" | wc -l)" \
	"load=$(cut -d' ' -f1 /proc/loadavg)"
