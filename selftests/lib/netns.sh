# SPDX-License-Identifier: GPL-2.0
# Network-namespace helper for e2e tests: everything it makes is named xg-<pid>-*, and removed
# on exit (also on failure or interrupt). Processes are ended by their PID only: the ones it
# started, and any process still running inside one of its own namespaces.
#
#   ns_add NAME                      create namespace NAME (lo up); prints nothing
#   ns NAME                          the real namespace name, for ip netns exec
#   nsx NAME CMD...                  run CMD inside NAME
#   veth_add NS1 IF1 NS2 IF2         a veth pair between two namespaces, both up
#   bg_start NAME LOGFILE CMD...     CMD in the background inside NAME; sets BG_PID
#   bg_stop PID [SIGNAL]             signal one of our processes, wait (bounded) for its end
#   wait_listen NAME PORT [SECONDS] wait (bounded) until a TCP listener is up
#   bpffs_dir NAME                   a private bpffs directory, removed on exit (see below)
#   tmp_dir                          a private temporary directory, removed on exit
#   ns_cleanup                       what the trap runs
#   netns.sh list|clean [PID]        (run as a script) list or remove leftovers of dead runs:
#                                    processes inside leftover namespaces, the namespaces,
#                                    bpffs mounts and directories, temporary directories
#
# bpffs: `ip netns exec` remounts /sys, so a bpffs at /sys/fs/bpf is not visible to a daemon
# started in a namespace. Each run therefore mounts its own bpffs instance at
# /tmp/xg-<pid>-bpffs (visible inside ip netns exec, as other mounts are) and bpffs_dir
# returns a directory in it. Unmounting it on exit removes every pin the run made.
#
# Cleanup works by name prefix, not by lists, so directories made in a subshell
# (`d=$(tmp_dir)`) are removed too.

# A caller may set XG_NS_PREFIX first (the demo uses xgdemo-: a kept demo topology is not a
# leftover of a dead run, so `netns.sh clean`, which every e2e run calls, leaves it alone).
XG_NS_PREFIX=${XG_NS_PREFIX:-"xg-$$-"}
XG_BPFFS_ROOT="/tmp/${XG_NS_PREFIX}bpffs"
XG_PIDS=()

ns() { echo "${XG_NS_PREFIX}$1"; }

ns_add() {
	local n
	n=$(ns "$1")
	ip netns add "$n" || return 1
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

# bg_reap PID TRIES: waits up to TRIES x 50 ms for one of our signalled processes to end, then
# kills it and collects its status.
bg_reap() {
	local pid=$1 i
	for i in $(seq 1 "$2"); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# bg_stop PID [SIGNAL]: signals one of our processes and waits (bounded) for it to end.
bg_stop() {
	kill -"${2:-TERM}" "$1" 2>/dev/null || return 0
	bg_reap "$1" 100
	return 0
}

# wait_listen NAME PORT [SECONDS]: waits until a TCP socket listens on PORT inside NAME.
wait_listen() {
	wait_until "${3:-5}" sh -c "ip netns exec $(ns "$1") ss -ltnH | grep -q ':$2 '"
}

# bpffs_dir NAME: prints a directory on this run's own bpffs mount (for gwd/gwctl --bpffs).
bpffs_dir() {
	local d
	if ! mountpoint -q "$XG_BPFFS_ROOT"; then
		mkdir -p "$XG_BPFFS_ROOT" || return 1
		mount -t bpf bpf "$XG_BPFFS_ROOT" || return 1
	fi
	d="$XG_BPFFS_ROOT/$1"
	mkdir -p "$d" || return 1
	echo "$d"
}

tmp_dir() {
	mktemp -d "/tmp/${XG_NS_PREFIX}XXXXXX"
}

# xg_namespaces PREFIX: our namespaces with that name prefix.
xg_namespaces() {
	ip netns list 2>/dev/null | awk -v p="$1" 'index($1, p) == 1 {print $1}'
}

# xg_kill_in_ns NS: ends every process still inside namespace NS (all of them are ours: the
# namespace is). TERM, a bounded wait, then KILL.
xg_kill_in_ns() {
	local pids
	pids=$(ip netns pids "$1" 2>/dev/null)
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null
	for _ in $(seq 1 40); do
		pids=$(ip netns pids "$1" 2>/dev/null)
		[ -n "$pids" ] || return 0
		sleep 0.05
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	return 0
}

# xg_remove PREFIX: removes every namespace, bpffs mount and temporary directory named PREFIX*.
xg_remove() {
	local prefix=$1 n d
	for n in $(xg_namespaces "$prefix"); do
		xg_kill_in_ns "$n"
	done
	for n in $(xg_namespaces "$prefix"); do
		ip netns del "$n" 2>/dev/null
	done
	for d in /tmp/"$prefix"* /sys/fs/bpf/"$prefix"*; do
		[ -e "$d" ] || continue
		if mountpoint -q "$d"; then
			# Unpin first: a mount namespace made meanwhile (any `ip netns exec`, ours or
			# not) holds a copy of this mount, and the pins would live on in it.
			find "$d" -mindepth 1 -delete 2>/dev/null
			umount -l "$d" 2>/dev/null
		fi
		rm -rf "$d"
	done
}

ns_cleanup() {
	local pid
	for pid in "${XG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${XG_PIDS[@]}"; do
		bg_reap "$pid" 40
	done
	XG_PIDS=()
	xg_remove "$XG_NS_PREFIX"
}

# Leftovers of runs whose shell is gone (or of run PID only): prefixes xg-PID-.
xg_leftovers() {
	local only=${1:-} n pid
	{
		ip netns list 2>/dev/null | awk '{print $1}'
		ls /sys/fs/bpf /tmp 2>/dev/null
	} | grep -E '^xg-[0-9]+-' | sed -E 's/^(xg-[0-9]+-).*/\1/' | sort -u | while read -r n; do
		pid=${n#xg-}
		pid=${pid%-}
		[ -z "$only" ] || [ "$pid" = "$only" ] || continue
		kill -0 "$pid" 2>/dev/null || echo "$n"
	done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-list}" in
	list)
		xg_leftovers "${2:-}" | while read -r p; do
			xg_namespaces "$p"
			ls -d /tmp/"$p"* /sys/fs/bpf/"$p"* 2>/dev/null
		done
		;;
	clean)
		xg_leftovers "${2:-}" | while read -r p; do
			xg_remove "$p"
			echo "removed ${p}*"
		done
		;;
	*) echo "usage: $0 list|clean [PID]" >&2; exit 2 ;;
	esac
	exit 0
fi

trap 'ns_cleanup' EXIT
trap 'ns_cleanup; exit 130' INT TERM
