# SPDX-License-Identifier: GPL-2.0
# Sourced by the benchmark suites (xdp.sh, l4.sh, l7.sh): each owns one section of the page.

# page_put_section FILE SUITE SECTION_FILE: replaces SUITE's section of FILE (from the line
# starting "<!-- bench-SUITE:begin" to the one starting "<!-- bench-SUITE:end -->") with
# SECTION_FILE, or appends it after a blank line when FILE has none.
page_put_section() {
	awk -v sec="$3" -v begin="<!-- bench-$2:begin" -v end="<!-- bench-$2:end -->" '
		index($0, begin) == 1 { while ((getline l < sec) > 0) print l; skip = 1; done = 1; next }
		index($0, end) == 1 { skip = 0; next }
		!skip { print }
		END { if (!done) { print ""; while ((getline l < sec) > 0) print l } }' "$1" \
		>"$1.tmp" && mv "$1.tmp" "$1"
}
