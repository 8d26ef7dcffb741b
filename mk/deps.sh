#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Installs the Debian packages xdpgw needs to build, test, demo and benchmark; only what is missing.
set -eu

BUILD_PKGS="make gcc clang-14 llvm-14 pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
	libnl-3-dev libnl-route-3-dev libh2o-evloop-dev libssl-dev libyaml-dev libjansson-dev
	libhiredis-dev libcurl4-openssl-dev libcrypt-dev libclang-rt-14-dev libcap-dev"
RUN_PKGS="iproute2 ethtool curl nftables netsniff-ng redis-server nginx-light haproxy h2o wrk
	gnuplot-nox python3 procps psmisc socat iputils-ping jq openssl linux-perf"

if [ "${1:-}" = "--list" ]; then
	echo $BUILD_PKGS $RUN_PKGS
	exit 0
fi

missing=""
for p in $BUILD_PKGS $RUN_PKGS; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$status" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
	echo "  DEPS    all packages present"
	exit 0
fi
echo "  DEPS    installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "Error: missing Debian packages:$missing; run 'make deps' as root" >&2
	exit 1
fi

# Packages such as nginx and redis-server start a service on install; xdpgw only needs their
# binaries, so keep services down while installing unless the admin has a policy already.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	own_policy=1
fi
trap '[ $own_policy = 1 ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
