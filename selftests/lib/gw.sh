# SPDX-License-Identifier: GPL-2.0
# Helpers for the gateway's e2e tests: a namespace with loopback up, test upstreams and the
# gateway (build/tools/gwgate) started inside it, live reloads and metrics. Source after
# test.sh and netns.sh.

GW_TOOLS=${GW_TOOLS:-$BUILD/tools}
GW_APPLIED=0

# gw_ns: makes namespace "g" (loopback only) and a temp dir in $GW_TMP.
gw_ns() {
	ns_add g || return 1
	GW_TMP=$(tmp_dir)
}

# gw_upstream NAME PORT [ARGS...]: starts a test upstream on 127.0.0.1:PORT; sets UP_PID.
gw_upstream() {
	local name=$1 port=$2
	shift 2
	bg_start g "$GW_TMP/up-$name.log" "$GW_TOOLS/upstream" --listen "127.0.0.1:$port" \
		--name "$name" "$@"
	UP_PID=$BG_PID
	wait_listen g "$port"
}

# gw_start CONFIG_FILE PORT: starts the gateway and waits for its listener; sets GW_PID.
gw_start() {
	GW_CONF=$1
	bg_start g "$GW_TMP/gw.log" "$GW_TOOLS/gwgate" -c "$1" --metrics-file "$GW_TMP/metrics"
	GW_PID=$BG_PID
	GW_APPLIED=0
	wait_listen g "$2"
}

# gw_reload: SIGHUP, then waits until the gateway logged one more "applied" (or an error).
gw_reload() {
	local want=$((GW_APPLIED + 1))
	kill -HUP "$GW_PID"
	wait_until 5 sh -c "[ \$(grep -c -e '^applied' -e '^Error' '$GW_TMP/gw.log') -ge $want ]" ||
		return 1
	GW_APPLIED=$want
	[ "$(grep -e '^applied' -e '^Error' "$GW_TMP/gw.log" | tail -1)" = applied ]
}

# gw_metrics: prints the Prometheus text.
gw_metrics() {
	rm -f "$GW_TMP/metrics"
	kill -USR1 "$GW_PID"
	wait_until 5 test -s "$GW_TMP/metrics" && cat "$GW_TMP/metrics"
}

# gcurl ARGS...: curl inside the namespace, bounded.
gcurl() {
	nsx g curl -sS --max-time 5 "$@"
}

# gw_names PATH N [CURL ARGS]: N requests to the gateway on 127.0.0.1:8080 (one curl, kept
# alive); prints the upstream names that answered them, counted ("a=3 b=1 ").
gw_names() {
	local path=$1 n=$2
	shift 2
	local urls=()
	for i in $(seq 1 "$n"); do urls+=("http://127.0.0.1:8080$path"); done
	gcurl "$@" "${urls[@]}" | jq -r .name | sort | uniq -c | awk '{print $2"="$1}' | tr '\n' ' '
}

# gwd_start CONFIG_FILE PORT: starts gwd (gateway module) in "g" with private socket, state and
# bpffs; waits for the gateway listener. Sets GWD_PID and GWCTL_ARGS.
gwd_start() {
	bg_start g "$GW_TMP/gwd.log" "$GWD" --config "$1" --state-dir "$GW_TMP/state" \
		--socket "$GW_TMP/gwd.sock" --bpffs "$(bpffs_dir gwd)" --foreground
	GWD_PID=$BG_PID
	GWCTL_ARGS=(--socket "$GW_TMP/gwd.sock")
	wait_listen g "$2"
}

# gwd_stop PID: TERM, then its exit status in GWD_RC (0: it shut down by itself, cleanly).
gwd_stop() {
	kill -TERM "$1"
	wait_until 20 sh -c "! kill -0 $1 2>/dev/null"
	wait "$1"
	GWD_RC=$?
}

# gctl ARGS...: gwctl against the test's gwd.
gctl() {
	nsx g "$GWCTL" "${GWCTL_ARGS[@]}" "$@"
}
