#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Gateway TLS: a certificate per SNI name (exact and wildcard, first one the default), ALPN
# offering http/1.1 only unless the listener asks for HTTP/2.
. "$(dirname "$0")/../lib/test.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/gw.sh"
t_init gw_tls
need_root tls

gw_ns || { t_fail setup "namespace"; exit 1; }
for n in default.test api.test wild; do
	cn=$n
	[ "$n" = wild ] && cn='*.apps.test'
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$cn" \
		-keyout "$GW_TMP/$n.key" -out "$GW_TMP/$n.crt" >/dev/null 2>&1 ||
		{ t_fail setup "openssl"; exit 1; }
done
gw_upstream a 9001 || t_fail setup "upstream a"
cat >"$GW_TMP/gw.yaml" <<Y
gateway:
  workers: 1
  listeners:
    - addr: 127.0.0.1:8443
      tls:
        certificates:
          - {cert: $GW_TMP/default.test.crt, key: $GW_TMP/default.test.key, sni: [default.test]}
          - {cert: $GW_TMP/api.test.crt, key: $GW_TMP/api.test.key, sni: [api.test]}
          - {cert: $GW_TMP/wild.crt, key: $GW_TMP/wild.key, sni: ["*.apps.test"]}
    - addr: 127.0.0.1:8444
      http2: true
      tls:
        certificates:
          - {cert: $GW_TMP/api.test.crt, key: $GW_TMP/api.test.key, sni: [api.test]}
  upstreams: [{name: a, targets: [{addr: "127.0.0.1:9001"}]}]
  routes: [{name: all, path: /, upstream: a}]
Y
gw_start "$GW_TMP/gw.yaml" 8443 || { t_fail setup "gateway did not listen"; cat "$GW_TMP/gw.log"; exit 1; }

subject() {
	echo | nsx g timeout 5 openssl s_client -connect 127.0.0.1:8443 ${1:+-servername "$1"} \
		2>/dev/null | sed -n 's/^subject=.*CN *= *//p'
}
check_eq sni_exact "$(subject api.test)" "api.test"
check_eq sni_wildcard "$(subject x.apps.test)" "*.apps.test"
check_eq sni_unknown_default "$(subject other.test)" "default.test"
check_eq https_proxied "$(gcurl -k --resolve api.test:8443:127.0.0.1 https://api.test:8443/x |
	python3 -c "import json,sys; d=json.load(sys.stdin); print(d['name'], d['headers']['x-forwarded-proto'])")" "a https"
check_eq http1_only_by_default "$(gcurl -k --http2 -o /dev/null -w '%{http_version}' --resolve api.test:8443:127.0.0.1 https://api.test:8443/x)" "1.1"
check_eq http2_when_asked "$(gcurl -k --http2 -o /dev/null -w '%{http_version}' --resolve api.test:8444:127.0.0.1 https://api.test:8444/x)" "2"
t_done
