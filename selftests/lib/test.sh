# SPDX-License-Identifier: GPL-2.0
# Shell test harness for e2e tests: result lines in the same format as the C harness,
# bounded waits, and a summary exit status. Source it, then call t_init SUITE.

T_SUITE=${T_SUITE:-e2e}
T_FAILED=0
T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$T_ROOT/build}
GWD=${GWD:-$BUILD/gwd}
GWCTL=${GWCTL:-$BUILD/gwctl}

# t_init SUITE: T_SUITE_SUFFIX (if set) is appended, for a suite run again in another mode.
t_init() { T_SUITE=$1${T_SUITE_SUFFIX:-}; }
t_ok() { echo "ok   $T_SUITE/$1"; }
t_fail() { echo "FAIL $T_SUITE/$1: ${2:-failed}"; T_FAILED=$((T_FAILED + 1)); }
t_skip() { echo "skip $T_SUITE/$1: $2"; }

# check NAME CMD...: ok when CMD exits 0; its output is kept for the failure message.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		t_ok "$name"
	else
		t_fail "$name" "'$*' exited $?: $(printf '%s' "$out" | tail -3 | tr '\n' ' ')"
	fi
}

# check_eq NAME GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then t_ok "$1"; else t_fail "$1" "got '$2', want '$3'"; fi
}

# wait_until SECONDS CMD...: polls CMD every 50 ms until it succeeds; fails after SECONDS.
wait_until() {
	local limit=$1 deadline
	shift
	deadline=$(($(date +%s%N) + limit * 1000000000))
	while ! "$@" >/dev/null 2>&1; do
		if [ "$(date +%s%N)" -gt "$deadline" ]; then
			return 1
		fi
		sleep 0.05
	done
	return 0
}

# need_root NAME: skips the whole script (exit 0 after a skip line) unless root.
need_root() {
	if [ "$(id -u)" != 0 ]; then
		t_skip "$1" "needs root (network namespaces, BPF)"
		exit 0
	fi
}

# need_tool PATH: fails the setup and exits unless the helper program PATH was built.
need_tool() {
	[ -x "$1" ] || { t_fail setup "$1 missing (make tools)"; exit 1; }
}

# prefer_asan_gwd: GWD is the ASan+UBSan gwd (ASAN_GWD, else build/asan/gwd) when it is built,
# so the suite also catches memory errors; else it stays the release one.
prefer_asan_gwd() {
	local asan=${ASAN_GWD:-$BUILD/asan/gwd}

	if [ -x "$asan" ]; then GWD=$asan; fi
}

# need_asan_gwd SUITE: GWD is the ASan+UBSan gwd; without one the suite is skipped.
need_asan_gwd() {
	GWD=${ASAN_GWD:-$BUILD/asan/gwd}
	[ -x "$GWD" ] || { echo "skip $1/all: no ASan build ($GWD): make asan"; exit 0; }
}

t_done() {
	[ "$T_FAILED" -eq 0 ]
}
