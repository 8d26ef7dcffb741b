// SPDX-License-Identifier: GPL-2.0
/*
 * Forwarding, byte for byte: every forwarding mode (ipip 4in4, 6in6, 4in6, 6in4; l2 v4/v6),
 * with 0, 1 and 2 VLAN tags, against frames built independently by selftests/lib/pkt.c.
 */
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <xdpgw/hash.h>

#include "lib/lbtest.h"
#include "lib/test.h"

extern const uint16_t lbt_tpids[2], lbt_tcis[2];

#define CLIENT4 "198.18.7.7"
#define CLIENT6 "2001:2::7:7"
#define VIP4 "198.18.100.1"
#define VIP6 "2001:2::100:1"
#define BE4 "198.19.0.10"
#define BE6 "2001:2:0:1::10"

static struct xg_flow_key flow_key(const struct lbt_flow *f)
{
	struct xg_flow_key k = { .family = f->family == 6 ? XG_AF_INET6 : XG_AF_INET,
				 .proto = f->proto, .sport = htons(f->sport),
				 .dport = htons(f->dport) };

	inet_pton(f->family == 6 ? AF_INET6 : AF_INET, f->src, k.src.bytes);
	inet_pton(f->family == 6 ? AF_INET6 : AF_INET, f->dst, k.dst.bytes);
	return k;
}

/* Expected ipip output: the client's datagram under an outer header to the backend. */
static void expect_ipip(const struct lbt_flow *f, int be_family, const char *be_addr,
			const char *be_mac, struct pkt *want)
{
	struct xg_flow_key k = flow_key(f);
	struct pkt_ip outer = {
		.family = be_family,
		.src = be_family == 6 ? LBT_SRC6 : LBT_SRC4,
		.dst = be_addr,
		.proto = f->family == 6 ? 41 : 4,
		.tos = f->tos,
		.df = f->family == 6 ? true : f->df,
		.flow_label = xg_flow_hash(&k, 0) & 0xfffff,
	};

	lbt_datagram(f, want);
	pkt_push_ip(want, &outer);
	pkt_push_eth(want, be_mac, LBT_OUR_MAC, f->ntags, lbt_tpids, lbt_tcis,
		     be_family == 6 ? 0x86dd : 0x0800);
}

static void expect_l2(const struct lbt_flow *f, const char *be_mac, struct pkt *want)
{
	lbt_datagram(f, want);
	pkt_push_eth(want, be_mac, LBT_OUR_MAC, f->ntags, lbt_tpids, lbt_tcis,
		     f->family == 6 ? 0x86dd : 0x0800);
}

struct fwd_case {
	const char *name;
	uint8_t fwd;
	int client_family;
	int be_family;
	uint8_t proto;
};

static const struct fwd_case fwd_cases[] = {
	{ "ipip-4in4-tcp", XG_FWD_IPIP, 4, 4, 6 },
	{ "ipip-4in4-udp", XG_FWD_IPIP, 4, 4, 17 },
	{ "ipip-6in6-tcp", XG_FWD_IPIP, 6, 6, 6 },
	{ "ipip-6in6-udp", XG_FWD_IPIP, 6, 6, 17 },
	{ "ipip-4in6-tcp", XG_FWD_IPIP, 4, 6, 6 },
	{ "ipip-6in4-udp", XG_FWD_IPIP, 6, 4, 17 },
	{ "l2-v4-tcp", XG_FWD_L2, 4, 4, 6 },
	{ "l2-v6-udp", XG_FWD_L2, 6, 6, 17 },
};

/* Case i gets its own VIP (198.18.100.10+i or 2001:2::100:10+i) in one loaded balancer. */
static void vip_of(const struct fwd_case *c, size_t i, char *buf)
{
	if (c->client_family == 6)
		snprintf(buf, 64, "2001:2::100:%zx", 0x10 + i);
	else
		snprintf(buf, 64, "198.18.100.%zu", 10 + i);
}

static bool run_fwd_case(struct lbt *t, const struct fwd_case *c, size_t i, int ntags)
{
	char vip_addr[64], name[16], mac[18];
	struct lbt_flow f = {
		.family = c->client_family,
		.src = c->client_family == 6 ? CLIENT6 : CLIENT4,
		.proto = c->proto, .sport = 40000, .dport = 80, .payload = 100,
		.ntags = ntags, .df = true, .tos = 0x28,
	};
	const char *be_addr = c->be_family == 6 ? BE6 : BE4;
	struct pkt in, out, want;
	uint32_t vip, be;
	int action;

	vip_of(c, i, vip_addr);
	f.dst = vip_addr;
	snprintf(name, sizeof(name), "svc%zu", i);
	if (ntags == 0 &&
	    (!ASSERT_OK(lbt_vip(t, name, vip_addr, 80, c->proto, XG_ALGO_MAGLEV, c->fwd, 0, &vip)) ||
	     !ASSERT_OK(lbt_backend(t, vip, be_addr, 1, NULL, &be))))
		return false;
	if (!ASSERT_OK(lbmap_vip_find(t->m, name, &vip)))
		return false;
	{
		struct xg_addr a = {};

		inet_pton(c->be_family == 6 ? AF_INET6 : AF_INET, be_addr, a.bytes);
		if (!ASSERT_OK(lbmap_backend_find(t->m, vip, &a, c->be_family == 6 ? XG_AF_INET6 :
						  XG_AF_INET, &be)))
			return false;
	}
	lbt_backend_mac(be, mac);
	lbt_frame(&f, &in);
	if (c->fwd == XG_FWD_L2)
		expect_l2(&f, mac, &want);
	else
		expect_ipip(&f, c->be_family, be_addr, mac, &want);
	lbt_mark(t);
	action = lbt_run(t, &in, &out);
	if (!ASSERT_EQ(action, XDP_TX)) {
		lbt_dump(t);
		fprintf(stderr, "case %s tags %d\n", c->name, ntags);
		return false;
	}
	if (!ASSERT_MEMEQ(out.b, out.len, want.b, want.len)) {
		fprintf(stderr, "case %s with %d tags\n", c->name, ntags);
		return false;
	}
	if (c->fwd == XG_FWD_IPIP && c->be_family == 4)
		ASSERT_TRUE(pkt_ipv4_csum_ok(out.b + 14 + 4 * ntags));
	ASSERT_EQ(lbt_fate(t), c->fwd == XG_FWD_L2 ? XG_R_FWD_L2 : XG_R_FWD_IPIP);
	return !test_failed();
}

TEST(forwarding_exact_bytes)
{
	struct lbt t;

	if (!lbt_setup(&t, NULL))
		return;
	for (int tags = 0; tags <= 2; tags++)
		for (size_t i = 0; i < sizeof(fwd_cases) / sizeof(fwd_cases[0]); i++)
			if (!run_fwd_case(&t, &fwd_cases[i], i, tags))
				goto out;
out:
	lbt_teardown(&t);
}

/* Outer sources with hash bits: the low bits come from the flow hash. */
TEST(ipip_outer_source_hash_bits)
{
	struct lbt t;
	struct lbt_flow f = { .family = 4, .src = CLIENT4, .dst = VIP4, .proto = 6,
			      .sport = 1234, .dport = 80, .payload = 10 };
	struct xg_link link;
	struct xg_flow_key k = flow_key(&f);
	struct pkt in, out;
	uint32_t vip, be, src, want;

	if (!lbt_setup(&t, NULL))
		return;
	if (!ASSERT_OK(lbt_vip(&t, "svc", VIP4, 80, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, &vip)) ||
	    !ASSERT_OK(lbt_backend(&t, vip, BE4, 1, NULL, &be)) ||
	    !ASSERT_OK(lbmap_link_get(t.m, LBT_IFINDEX, &link)))
		goto out;
	link.src4_hash_bits = 8;
	if (!ASSERT_OK(lbmap_link_set(t.m, &link)))
		goto out;
	lbt_frame(&f, &in);
	if (!ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX))
		goto out;
	memcpy(&src, out.b + 14 + 12, 4);
	inet_pton(AF_INET, LBT_SRC4, &want);
	want = htonl((ntohl(want) & ~0xffu) | (xg_flow_hash(&k, 0) & 0xff));
	ASSERT_EQ(src, want);
	ASSERT_TRUE(pkt_ipv4_csum_ok(out.b + 14));
out:
	lbt_teardown(&t);
}
