// SPDX-License-Identifier: GPL-2.0
/*
 * What operators type into gwctl and the config: addresses, endpoints (ADDR:PORT/proto,
 * [V6]:PORT), CIDRs, MACs, ports, numbers, durations and the admin API's key normalisers.
 * Whatever parses must print back to something that parses to the same value.
 */
#include <assert.h>
#include <errno.h>

#include "gwd/cfg.h"
#include "gwd/doc.h"
#include "lib/addr.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), buf[ADDR_STRLEN], buf2[ADDR_STRLEN], err[128], norm[256];
	struct endpoint ep, ep2;
	struct xg_addr a, a2;
	uint8_t fam, fam2, plen, mac[6];
	uint16_t port;
	uint32_t u;
	uint64_t ms;

	if (!s)
		return 0;
	if (addr_parse(s, &a, &fam) == 0) {
		addr_fmt(&a, fam, buf);
		assert(addr_parse(buf, &a2, &fam2) == 0 && fam2 == fam && !memcmp(&a, &a2, sizeof(a)));
	}
	if (endpoint_parse(s, &ep, err, sizeof(err)) == 0) {
		endpoint_fmt(&ep, buf);
		assert(endpoint_parse(buf, &ep2, err, sizeof(err)) == 0);
		assert(!memcmp(&ep.addr, &ep2.addr, sizeof(ep.addr)) && ep.family == ep2.family &&
		       ep.port == ep2.port && ep.proto == ep2.proto);
	}
	if (cidr_parse(s, &a, &fam, &plen) == 0)
		(void)cidr_contains(&a, fam, plen, &a, fam);
	if (mac_parse(s, mac) == 0) {
		mac_fmt(mac, buf2);
		assert(mac_parse(buf2, mac) == 0);
	}
	(void)port_parse(s, &port);
	(void)u32_parse(s, 1, 65535, &u);
	(void)proto_parse(s);
	if (cfg_parse_duration_ms(s, &ms) == 0)
		(void)cfg_fmt_duration(ms, norm, sizeof(norm));
	(void)doc_norm_name(s, norm, sizeof(norm));
	(void)doc_norm_ifname(s, norm, sizeof(norm));
	if (doc_norm_addr(s, norm, sizeof(norm)) == 0)
		assert(doc_norm_addr(norm, buf2, sizeof(buf2)) == 0 && !strcmp(norm, buf2));
	if (doc_norm_endpoint(s, norm, sizeof(norm)) == 0) {
		char again[256];

		assert(doc_norm_endpoint(norm, again, sizeof(again)) == 0 && !strcmp(norm, again));
	}
	(void)doc_name_valid(s);
	free(s);
	return 0;
}
