#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: until the layered demo lands, builds everything and runs the e2e smoke test.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
echo "xdpgw demo: the layered topology demo is not built yet."
echo "What exists today: the build (gwd, gwctl, BPF objects) and the test harness."
echo "Running the e2e smoke test (two namespaces, one veth, TCP over IPv4 and IPv6):"
exec "$ROOT/selftests/run.sh" e2e smoke
