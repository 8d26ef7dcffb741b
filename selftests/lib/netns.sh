# SPDX-License-Identifier: GPL-2.0
# Network-namespace helper for e2e tests: everything it makes is named xg-<pid>-*, tracked,
# and removed on exit (also on failure or interrupt). Processes are ended by their PID only.
#
#   ns_add NAME                      create namespace NAME (lo up); prints nothing
#   ns NAME                          the real namespace name, for ip netns exec
#   nsx NAME CMD...                  run CMD inside NAME
#   veth_add NS1 IF1 NS2 IF2         a veth pair between two namespaces, both up
#   bg_start NAME LOGFILE CMD...     CMD in the background inside NAME; sets BG_PID
#   wait_listen NAME PORT [SECONDS] wait (bounded) until a TCP listener is up
#   bpffs_dir NAME                   a private bpffs directory (mounted bpffs), removed on exit
#   ns_cleanup                       what the trap runs
#   netns.sh clean | list            (run as a script) list or remove leftovers of dead runs

XG_NS_PREFIX="xg-$$-"
XG_NAMESPACES=()
XG_PIDS=()
XG_BPFFS_DIRS=()
XG_TMPDIRS=()

ns() { echo "${XG_NS_PREFIX}$1"; }

ns_add() {
	local n
	n=$(ns "$1")
	ip netns add "$n" || return 1
	XG_NAMESPACES+=("$n")
	ip -n "$n" link set lo up
}

nsx() {
	local n
	n=$(ns "$1")
	shift
	ip netns exec "$n" "$@"
}

veth_add() {
	local ns1 ns2
	ns1=$(ns "$1")
	ns2=$(ns "$3")
	ip link add "$2" netns "$ns1" type veth peer name "$4" netns "$ns2" || return 1
	ip -n "$ns1" link set "$2" up
	ip -n "$ns2" link set "$4" up
}

bg_start() {
	local n log=$2
	n=$(ns "$1")
	shift 2
	ip netns exec "$n" "$@" >"$log" 2>&1 &
	BG_PID=$!
	XG_PIDS+=("$BG_PID")
}

# bg_stop PID [SIGNAL]: signals one of our processes and waits (bounded) for it to end.
bg_stop() {
	local pid=$1 sig=${2:-TERM} i
	kill -"$sig" "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# wait_listen NAME PORT [SECONDS]: waits until a TCP socket listens on PORT inside NAME.
wait_listen() {
	wait_until "${3:-5}" sh -c "ip netns exec $(ns "$1") ss -ltnH | grep -q ':$2 '"
}

bpffs_dir() {
	local d
	if ! mountpoint -q /sys/fs/bpf; then
		mount -t bpf bpf /sys/fs/bpf || return 1
	fi
	d="/sys/fs/bpf/${XG_NS_PREFIX}$1"
	mkdir -p "$d"
	XG_BPFFS_DIRS+=("$d")
	echo "$d"
}

tmp_dir() {
	local d
	d=$(mktemp -d "/tmp/${XG_NS_PREFIX}XXXXXX")
	XG_TMPDIRS+=("$d")
	echo "$d"
}

ns_cleanup() {
	local pid n d
	for pid in "${XG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${XG_PIDS[@]}"; do
		for _ in $(seq 1 40); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for n in "${XG_NAMESPACES[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	for d in "${XG_BPFFS_DIRS[@]}"; do
		rm -rf "$d"
	done
	for d in "${XG_TMPDIRS[@]}"; do
		rm -rf "$d"
	done
	XG_PIDS=() XG_NAMESPACES=() XG_BPFFS_DIRS=() XG_TMPDIRS=()
}

trap 'ns_cleanup' EXIT
trap 'ns_cleanup; exit 130' INT TERM

# Leftovers of runs whose shell is gone: namespaces and bpffs directories named xg-PID-*.
xg_leftovers() {
	local n pid
	{ ip netns list 2>/dev/null | awk '{print $1}'; ls /sys/fs/bpf 2>/dev/null; } |
		grep -E '^xg-[0-9]+-' | sort -u | while read -r n; do
			pid=${n#xg-}
			pid=${pid%%-*}
			kill -0 "$pid" 2>/dev/null || echo "$n"
		done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	trap - EXIT INT TERM
	case "${1:-list}" in
	list) xg_leftovers ;;
	clean)
		xg_leftovers | while read -r n; do
			ip netns del "$n" 2>/dev/null
			rm -rf "/sys/fs/bpf/$n"
			echo "removed $n"
		done
		;;
	*) echo "usage: $0 list|clean" >&2; exit 2 ;;
	esac
fi
