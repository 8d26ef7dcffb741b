#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Renders the benchmark charts and assembles docs/benchmarks.md around the suites' sections.
#
#   selftests/bench/report.sh [SUITE=SECONDS ...]
#
# Each suite (xdp.sh, l4.sh, l7.sh) owns one section of the page, between its markers
# `<!-- bench-SUITE:begin ... -->` and `<!-- bench-SUITE:end -->`, and ends it with its raw
# `bench-SUITE CASE key=value` lines. This script reads those lines back from the page (so the
# page, the charts and the closing note always agree, whichever suite ran last), draws
# docs/img/bench-SUITE.png with gnuplot, and rewrites everything outside the sections: the
# introduction (machine, commands, run times), the charts after each section and the closing
# note with every issue-10 target met or missed. SUITE=SECONDS arguments record how long the
# suites of this invocation took; earlier times are kept from the page.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAGE=${BENCH_PAGE:-$ROOT/docs/benchmarks.md}
IMG=$(dirname "$PAGE")/img
SUITES="xdp l4 l7"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

[ -f "$PAGE" ] || printf '# xdpgw benchmarks\n' >"$PAGE"
mkdir -p "$IMG"

# section SUITE: the suite's section of the page, markers included (empty when absent).
section() {
	awk -v s="$1" '
		index($0, "<!-- bench-" s ":begin") == 1 { on = 1 }
		on { print }
		index($0, "<!-- bench-" s ":end -->") == 1 { on = 0 }' "$PAGE"
}

# lines SUITE: the suite's raw result lines, from its section.
lines() { section "$1" | grep "^bench-$1 " ; }

# val SUITE CASE KEY: one value from the raw lines.
val() {
	lines "$1" | awk -v c="$2" -v k="$3" '$2 == c {
		for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }'
}

# recorded KEY: what the page recorded earlier for KEY (SUITE: seconds; load-SUITE: load).
recorded() { sed -n "s/^<!-- bench-times.* $1=\([0-9.]*\).*/\1/p" "$PAGE" | head -1; }

declare -A SECS LOAD
for s in $SUITES; do
	SECS[$s]=$(recorded "$s")
	LOAD[$s]=$(recorded "load-$s")
done
for a in "$@"; do
	case $a in
	load-*=*) k=${a%%=*}; LOAD[${k#load-}]=${a#*=} ;;
	*=*) SECS[${a%%=*}]=${a#*=} ;;
	esac
done

# ---- charts ----

GP_HEAD='set terminal pngcairo noenhanced size 900,420 font "sans,10"
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set grid ytics lc rgb "#dddddd"
set datafile missing "-"
set key top left
set yrange [0:*]'

chart_xdp() {
	local f=$TMP/xdp.dat c
	for c in floor-xdp-tx non-vip established established-l2 established-udp \
		established-udp-many new-flow-syn new-flow-insert-skipped; do
		echo "$c $(val xdp "$c" ns_per_pkt)"
	done | awk 'NF == 2' >"$f"
	[ -s "$f" ] || return 1
	gnuplot <<-EOF
	$GP_HEAD
	set output "$IMG/bench-xdp.png"
	set title "bench-xdp: ns per packet through BPF_PROG_TEST_RUN (median; lower is better)"
	set ylabel "ns / packet"
	set style data histograms
	set boxwidth 0.8
	set xtics scale 0 rotate by -15
	plot "$f" using 2:xtic(1) notitle lc rgb "#3a6ea5", \
	     "" using 0:2:(sprintf("%.0f", \$2)) with labels offset 0,0.7 notitle
	EOF
}

chart_l4() {
	local c v
	for c in ceiling floor nftables xdpgw; do
		v=$(val l4 "$c" pps)
		[ -n "$v" ] && echo "$c $v"
	done >"$TMP/l4-pps.dat"
	for c in floor nftables xdpgw; do
		v=$(val l4 "$c" marginal_ns)
		[ -n "$v" ] && echo "$c $v"
	done >"$TMP/l4-marginal.dat"
	for c in nftables xdpgw; do
		v=$(val l4 "conn-$c" cps)
		[ -n "$v" ] && echo "$c $v"
	done >"$TMP/l4-conn.dat"
	[ -n "$(val l4 nftables pps)" ] || return 1
	[ -s "$TMP/l4-conn.dat" ] || echo "nftables -" >"$TMP/l4-conn.dat"
	gnuplot <<-EOF
	$GP_HEAD
	set terminal pngcairo noenhanced size 1150,380 font "sans,10"
	set output "$IMG/bench-l4.png"
	set multiplot layout 1,3 title "bench-l4: balancer namespace on one CPU (median of runs)"
	set style data histograms
	set boxwidth 0.8
	set xtics scale 0
	set title "packets/s (higher is better)"
	plot "$TMP/l4-pps.dat" using 2:xtic(1) notitle lc rgb "#3a6ea5", \
	     "" using 0:2:(sprintf("%.0f", \$2)) with labels offset 0,0.7 notitle
	set title "marginal ns/packet over the ceiling (lower is better)"
	plot "$TMP/l4-marginal.dat" using 2:xtic(1) notitle lc rgb "#c0504d", \
	     "" using 0:2:(sprintf("%.0f", \$2)) with labels offset 0,0.7 notitle
	set title "new TCP connections/s (higher is better)"
	plot "$TMP/l4-conn.dat" using 2:xtic(1) notitle lc rgb "#9bbb59", \
	     "" using 0:2:(sprintf("%.0f", \$2)) with labels offset 0,0.7 notitle
	unset multiplot
	EOF
}

L7_CASES="plain keyauth-rl-log jwt-rl json-remove cache-hit"
L7_PROXIES="xdpgw nginx haproxy h2o"

chart_l7() {
	local f=$TMP/l7.dat c p row key
	for key in cpu_vs_nginx_plain rps_vs_nginx_plain; do
		for c in $L7_CASES; do
			row=$c
			for p in $L7_PROXIES; do
				v=$(val l7 "$c-$p" "$key")
				row+=" ${v:--}"
			done
			echo "$row"
		done >"$TMP/l7-$key.dat"
	done
	[ -n "$(val l7 plain-nginx cpu_us_per_req)" ] || return 1
	f=$TMP/l7-cpu_vs_nginx_plain.dat
	gnuplot <<-EOF
	$GP_HEAD
	set terminal pngcairo noenhanced size 1000,700 font "sans,10"
	set output "$IMG/bench-l7.png"
	set multiplot layout 2,1 title "bench-l7: one proxy worker on one CPU (median of runs; missing bar: the proxy cannot do the case without add-ons, or not measured)"
	set style data histograms
	set style histogram clustered gap 1
	set boxwidth 0.9
	set xtics scale 0
	set key outside right top
	set title "proxy CPU time per request / nginx plain proxy's in the same round (lower is better)"
	set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "#444444"
	plot "$f" using 2:xtic(1) title "xdpgw" lc rgb "#3a6ea5", \
	     "" using 3 title "nginx" lc rgb "#9bbb59", \
	     "" using 4 title "HAProxy" lc rgb "#c0504d", \
	     "" using 5 title "h2o" lc rgb "#8064a2"
	set title "requests/s / nginx plain proxy's in the same round (higher is better; load generator and upstream share the other CPU)"
	f2 = "$TMP/l7-rps_vs_nginx_plain.dat"
	plot f2 using 2:xtic(1) title "xdpgw" lc rgb "#3a6ea5", \
	     "" using 3 title "nginx" lc rgb "#9bbb59", \
	     "" using 4 title "HAProxy" lc rgb "#c0504d", \
	     "" using 5 title "h2o" lc rgb "#8064a2"
	unset multiplot
	EOF
}

declare -A CHART
for s in $SUITES; do
	CHART[$s]=
	if command -v gnuplot >/dev/null && "chart_$s" 2>"$TMP/gnuplot-$s.err"; then
		CHART[$s]="img/bench-$s.png"
	elif [ -s "$TMP/gnuplot-$s.err" ]; then
		echo "report: gnuplot failed for $s: $(head -3 "$TMP/gnuplot-$s.err")" >&2
	fi
done

# ---- targets (issue 10, and issue 3's for the datapath) ----

verdict() { awk -v v="$1" -v l="$2" -v op="$3" 'BEGIN {
	if (v == "" || v == "nan") print "not measured"
	else if (op == "<=") print (v + 0 <= l + 0) ? "met" : "missed"
	else print (v + 0 >= l + 0) ? "met" : "missed" }'; }

target_row() {	# NAME FIGURE LIMIT OP SUITE
	local f=${2:-}
	echo "| $1 | ${f:-not measured} | $4 $3 | $(verdict "$f" "$3" "$4") | bench-$5 |"
}

targets() {
	local xg_pps nft_pps xg_ns nft_ns pps_x ns_x
	echo "| target | measured | limit | verdict | suite |"
	echo "| --- | ---: | ---: | --- | --- |"
	target_row "L4: xdpgw packets/s vs nftables DNAT" "$(val l4 xdpgw pps_vs_nftables)" 1.6 ">=" l4
	target_row "L4: xdpgw marginal ns/packet vs nftables DNAT" \
		"$(val l4 xdpgw marginal_vs_nftables)" 0.333 "<=" l4
	target_row "L7: plain proxy CPU/request vs nginx" \
		"$(val l7 target-plain-cpu cpu_vs_nginx_plain)" 1.05 "<=" l7
	target_row "L7: key-auth + rate limit + access log CPU/request vs nginx plain" \
		"$(val l7 target-keyauth-rl-log-cpu cpu_vs_nginx_plain)" 1.15 "<=" l7
	target_row "XDP (issue 3): established flow, x floor" \
		"$(val xdp established ratio_to_floor)" 9 "<=" xdp
	target_row "XDP (issue 3): new flow (SYN), x floor" \
		"$(val xdp new-flow-syn ratio_to_floor)" 50 "<=" xdp
	target_row "XDP (issue 3): non-VIP traffic, x floor" "$(val xdp non-vip ratio_to_floor)" 3 "<=" xdp
}

# ---- the page ----

fmt_secs() { [ -n "$1" ] && printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)) || echo "not run"; }

intro() {
	local total=0 s cpu
	cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
	echo "# xdpgw benchmarks"
	echo
	echo "<!-- written by selftests/bench/report.sh around the suites' own sections; edit the scripts -->"
	echo "<!-- bench-times$(for s in $SUITES; do
		[ -n "${SECS[$s]}" ] && printf ' %s=%s' "$s" "${SECS[$s]}"
		[ -n "${LOAD[$s]}" ] && printf ' load-%s=%s' "$s" "${LOAD[$s]}"
	done) -->"
	echo "Side by side with what users would pick instead, measured on the project's own"
	echo "namespace topologies. Every figure is a median of at least 3 runs and is read against a"
	echo "peer or a floor measured in the same run; the [closing note](#targets) lists each target."
	targets | awk -F' [|] ' 'NR > 2 {n[$4]++} END {
		printf "Last results: %d targets met, %d missed", n["met"], n["missed"]
		if (n["not measured"]) printf ", %d not measured", n["not measured"]
		print "."
	}'
	echo
	echo "## Running"
	echo
	echo '```sh'
	echo "make bench        # all three suites, then the charts and this page (under 15 minutes)"
	echo "make bench-xdp    # one suite: selftests/bench/run.sh xdp (also l4, l7)"
	echo "REPEATS=5 DURATION=10 make bench-l7    # each suite's knobs are in its script's header"
	echo '```'
	echo
	echo "Each suite ends with machine-readable lines \`bench-SUITE CASE key=value ...\`, rewrites"
	echo "its own section below, and \`selftests/bench/report.sh\` redraws the charts"
	echo "(\`docs/img/bench-*.png\`, gnuplot) and this page's other parts from those lines. Nothing"
	echo "touches the root namespace: every suite builds its namespaces and removes them."
	echo
	echo "## Machine"
	echo
	echo "| | |"
	echo "| --- | --- |"
	echo "| CPU | $cpu, $(nproc) CPUs |"
	echo "| memory | $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) |"
	echo "| kernel | $(uname -r) |"
	echo "| system | Debian $(cat /etc/debian_version 2>/dev/null) |"
	echo "| peers | nginx $(nginx -v 2>&1 | sed 's,.*/,,'), HAProxy $(haproxy -v 2>/dev/null | awk 'NR == 1 {print $3}'), h2o $(h2o --version 2>/dev/null | awk 'NR == 1 {print $3}'), nftables $(nft --version 2>/dev/null | awk '{print $2}'), wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null), trafgen (netsniff-ng $(dpkg-query -W -f='${Version}' netsniff-ng 2>/dev/null)) |"
	echo "| toolchain | $(clang-14 --version 2>/dev/null | awk 'NR == 1 {print $1, $2, $4}'), libbpf $(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null), libh2o $(dpkg-query -W -f='${Version}' libh2o-evloop-dev 2>/dev/null) |"
	printf '| run times | '
	for s in $SUITES; do
		printf 'bench-%s %s; ' "$s" "$(fmt_secs "${SECS[$s]}")"
		total=$((total + ${SECS[$s]:-0}))
	done
	printf 'total %s |\n' "$(fmt_secs "$total")"
	printf '| load average before each suite | '
	for s in $SUITES; do printf 'bench-%s %s; ' "$s" "${LOAD[$s]:-?}"; done
	printf '(on %s CPUs) |\n' "$(nproc)"
	echo
	echo "The machine is shared: other jobs may run during a benchmark (the load average"
	echo "above says how busy it was). Packets/s and requests/s move with that; the ratios"
	echo "measured side by side, and the CPU time per request, much less."
}

{
	intro
	for s in $SUITES; do
		echo
		if [ -n "$(section "$s")" ]; then
			section "$s"
		else
			echo "## bench-$s"
			echo
			echo "Not run yet: \`make bench-$s\`."
		fi
		# A section may place its chart itself; otherwise it follows the section.
		if [ -n "${CHART[$s]}" ] && ! section "$s" | grep -qF "${CHART[$s]}"; then
			echo
			echo "![bench-$s chart](${CHART[$s]})"
		fi
	done
	echo
	echo "## Targets"
	echo
	echo "Closing note, from the figures above (issue 10; the XDP rows are issue 3's datapath"
	echo "targets as ratios to the floor):"
	echo
	targets
} >"$TMP/page.md"
mv "$TMP/page.md" "$PAGE"
