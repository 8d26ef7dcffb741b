// SPDX-License-Identifier: GPL-2.0
/*
 * ICMP at a VIP, byte for byte: echo replies (v4, v6, with VLAN tags), errors about a flow
 * forwarded to its backend, frag-needed / packet-too-big generated for clients whose packets
 * would not fit once encapsulated, and what is passed or dropped instead.
 */
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <xdpgw/hash.h>

#include "lib/lbtest.h"
#include "lib/test.h"

extern const uint16_t lbt_tpids[2], lbt_tcis[2];

#define CLIENT4 "198.18.7.7"
#define CLIENT6 "2001:2::7:7"
#define ROUTER4 "198.18.50.1"
#define ROUTER6 "2001:2::50:1"
#define VIP4 "198.18.100.1"
#define VIP6 "2001:2::100:1"
#define BE4 "198.19.0.10"
#define BE6 "2001:2:0:1::10"

static bool setup(struct lbt *t, uint8_t algo, uint8_t fwd, uint32_t *be4, uint32_t *be6)
{
	uint32_t v4, v6;

	if (!lbt_setup(t, NULL))
		return false;
	return ASSERT_OK(lbt_vip(t, "web4", VIP4, 80, 6, algo, fwd, 0, &v4)) &&
	       ASSERT_OK(lbt_vip(t, "web6", VIP6, 80, 6, algo, fwd, 0, &v6)) &&
	       ASSERT_OK(lbt_backend(t, v4, fwd == XG_FWD_L2 ? "198.18.0.10" : BE4, 1, NULL,
				     be4)) &&
	       ASSERT_OK(lbt_backend(t, v6, BE6, 1, NULL, be6));
}

/* An echo request (or reply) with id 0x1234, seq 7 and 56 bytes of data. */
static void echo(int family, const char *src, const char *dst, uint8_t type, uint8_t ttl,
		 int ntags, const char *eth_dst, const char *eth_src, struct pkt *p)
{
	struct pkt_ip ip = { .family = family, .src = src, .dst = dst, .ttl = ttl,
			     .proto = family == 6 ? 58 : 1, .id = 0x4321 };

	pkt_payload(p, 56, 9);
	pkt_push_icmp(p, &ip, type, 0, 0x12340007);
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, eth_dst, eth_src, ntags, lbt_tpids, lbt_tcis, family == 6 ? 0x86dd : 0x0800);
}

TEST(echo_reply_exact)
{
	struct pkt in, out, want;
	uint32_t b4, b6;
	struct lbt t;

	if (!setup(&t, XG_ALGO_MAGLEV, XG_FWD_IPIP, &b4, &b6))
		goto out;
	for (int tags = 0; tags <= 2; tags += 2) {
		echo(4, CLIENT4, VIP4, 8, 50, tags, LBT_OUR_MAC, LBT_CLIENT_MAC, &in);
		echo(4, VIP4, CLIENT4, 0, 64, tags, LBT_CLIENT_MAC, LBT_OUR_MAC, &want);
		lbt_mark(&t);
		if (!ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX) ||
		    !ASSERT_MEMEQ(out.b, out.len, want.b, want.len))
			goto out;
		ASSERT_EQ(lbt_fate(&t), XG_R_ICMP_ECHO_REPLY);

		echo(6, CLIENT6, VIP6, 128, 50, tags, LBT_OUR_MAC, LBT_CLIENT_MAC, &in);
		echo(6, VIP6, CLIENT6, 129, 64, tags, LBT_CLIENT_MAC, LBT_OUR_MAC, &want);
		if (!ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX) ||
		    !ASSERT_MEMEQ(out.b, out.len, want.b, want.len))
			goto out;
	}
	/* Not a VIP: passed. A VIP address with echo turned off: passed as other ICMP. */
	echo(4, CLIENT4, "198.18.100.9", 8, 50, 0, LBT_OUR_MAC, LBT_CLIENT_MAC, &in);
	lbt_mark(&t);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_PASS);
	ASSERT_EQ(lbt_fate(&t), XG_R_PASS_NOT_VIP);
	{
		struct xg_addr a = {};

		inet_pton(AF_INET, VIP4, &a.v4);
		ASSERT_OK(lbmap_vip_addr_set_flags(t.m, &a, XG_AF_INET, XG_ADDR_F_NO_ECHO));
	}
	echo(4, CLIENT4, VIP4, 8, 50, 0, LBT_OUR_MAC, LBT_CLIENT_MAC, &in);
	lbt_mark(&t);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_PASS);
	ASSERT_EQ(lbt_fate(&t), XG_R_PASS_ICMP);
	ASSERT_MEMEQ(out.b, out.len, in.b, in.len);
	/* An echo reply to the VIP is nobody's business here. */
	echo(4, CLIENT4, VIP4, 0, 50, 0, LBT_OUR_MAC, LBT_CLIENT_MAC, &in);
	lbt_mark(&t);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_PASS);
	ASSERT_EQ(lbt_fate(&t), XG_R_PASS_ICMP);
out:
	lbt_teardown(&t);
}

/* The TCP segment the VIP (really its backend, DSR) sent to the client: what errors quote. */
static void reply_segment(int family, uint16_t cport, struct pkt *p)
{
	struct pkt_ip ip = { .family = family, .proto = 6, .src = family == 6 ? VIP6 : VIP4,
			     .dst = family == 6 ? CLIENT6 : CLIENT4, .df = true };

	pkt_payload(p, 1400, 1);
	pkt_push_tcp(p, &ip, 80, cport, 0x18);
	pkt_push_ip(p, &ip);
}

/* An ICMP error from a router on the way to the client, quoting the first bytes of seg. */
static void icmp_error(int family, uint8_t type, uint8_t code, uint32_t rest,
		       const struct pkt *seg, size_t quote, struct pkt *p)
{
	struct pkt_ip ip = { .family = family, .proto = family == 6 ? 58 : 1, .tos = 0xc0,
			     .src = family == 6 ? ROUTER6 : ROUTER4, .dst = family == 6 ? VIP6 : VIP4 };

	memcpy(p->b, seg->b, quote);
	p->len = quote;
	pkt_push_icmp(p, &ip, type, code, rest);
	pkt_push_ip(p, &ip);
}

TEST(icmp_error_goes_to_the_flows_backend)
{
	struct pkt in, out, want, seg;
	uint32_t b4, b6;
	struct lbt t;
	char mac[18];

	if (!setup(&t, XG_ALGO_RR, XG_FWD_IPIP, &b4, &b6))
		goto out;
	/* Establish client:5000 -> VIP:80, then a router says the reply path needs MTU 1400. */
	for (int family = 4; family <= 6; family += 2) {
		struct lbt_flow f = { .family = family, .src = family == 6 ? CLIENT6 : CLIENT4,
				      .dst = family == 6 ? VIP6 : VIP4, .proto = 6, .sport = 5000,
				      .dport = 80, .payload = 0 };
		struct pkt_ip outer = { .family = family, .proto = family == 6 ? 41 : 4,
					.src = family == 6 ? LBT_SRC6 : LBT_SRC4,
					.dst = family == 6 ? BE6 : BE4, .tos = 0xc0 };
		struct xg_flow_key k = { .family = family == 6 ? XG_AF_INET6 : XG_AF_INET,
					 .proto = 6, .sport = htons(5000), .dport = htons(80) };

		lbt_frame(&f, &in);
		if (!ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX))
			goto out;
		reply_segment(family, 5000, &seg);
		if (family == 4)
			icmp_error(4, 3, 4, 1400, &seg, 28, &in);
		else
			icmp_error(6, 2, 0, 1400, &seg, 48, &in);
		want = in;
		inet_pton(family == 6 ? AF_INET6 : AF_INET, f.src, k.src.bytes);
		inet_pton(family == 6 ? AF_INET6 : AF_INET, f.dst, k.dst.bytes);
		outer.flow_label = xg_flow_hash(&k, 0) & 0xfffff;
		pkt_push_ip(&want, &outer);
		lbt_backend_mac(family == 6 ? b6 : b4, mac);
		pkt_push_eth(&want, mac, LBT_OUR_MAC, 0, NULL, NULL, family == 6 ? 0x86dd : 0x0800);
		pkt_push_eth(&in, LBT_OUR_MAC, "02:00:00:00:00:50", 0, NULL, NULL,
			     family == 6 ? 0x86dd : 0x0800);
		lbt_mark(&t);
		if (!ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX) ||
		    !ASSERT_MEMEQ(out.b, out.len, want.b, want.len)) {
			fprintf(stderr, "family %d\n", family);
			goto out;
		}
		ASSERT_EQ(lbt_fate(&t), XG_R_ICMP_ERR_FWD);
	}
	/* No flow for client:5001 and rr cannot recompute one: passed. */
	reply_segment(4, 5001, &seg);
	icmp_error(4, 3, 4, 1400, &seg, 28, &in);
	pkt_push_eth(&in, LBT_OUR_MAC, "02:00:00:00:00:50", 0, NULL, NULL, 0x0800);
	lbt_mark(&t);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_PASS);
	ASSERT_EQ(lbt_fate(&t), XG_R_PASS_ICMP_NO_FLOW);
	/* An error quoting a packet that did not come from the VIP: passed as other ICMP. */
	{
		struct pkt_ip ip = { .family = 4, .proto = 6, .src = "198.18.9.9", .dst = CLIENT4 };

		pkt_payload(&seg, 20, 0);
		pkt_push_tcp(&seg, &ip, 80, 5000, 0x10);
		pkt_push_ip(&seg, &ip);
		icmp_error(4, 3, 1, 0, &seg, 28, &in);
		pkt_push_eth(&in, LBT_OUR_MAC, "02:00:00:00:00:50", 0, NULL, NULL, 0x0800);
		lbt_mark(&t);
		ASSERT_EQ(lbt_run(&t, &in, &out), XDP_PASS);
		ASSERT_EQ(lbt_fate(&t), XG_R_PASS_ICMP);
	}
	/* Truncated ICMP header to a VIP: dropped. */
	{
		struct pkt_ip ip = { .family = 4, .proto = 1, .src = ROUTER4, .dst = VIP4 };

		pkt_payload(&in, 4, 3);
		pkt_push_ip(&in, &ip);
		pkt_push_eth(&in, LBT_OUR_MAC, "02:00:00:00:00:50", 0, NULL, NULL, 0x0800);
		lbt_mark(&t);
		ASSERT_EQ(lbt_run(&t, &in, &out), XDP_DROP);
		ASSERT_EQ(lbt_fate(&t), XG_R_DROP_MALFORMED);
	}
out:
	lbt_teardown(&t);
}

TEST(icmp_error_without_entry_follows_maglev)
{
	struct pkt in, out, seg;
	struct lbmap_lookup res;
	struct xg_flow_key k = { .family = XG_AF_INET, .proto = 6, .sport = htons(6000),
				 .dport = htons(80) };
	uint32_t b4, b6, ip;
	struct lbt t;

	if (!setup(&t, XG_ALGO_MAGLEV, XG_FWD_IPIP, &b4, &b6))
		goto out;
	reply_segment(4, 6000, &seg);
	icmp_error(4, 11, 0, 0, &seg, 28, &in);
	pkt_push_eth(&in, LBT_OUR_MAC, "02:00:00:00:00:50", 0, NULL, NULL, 0x0800);
	if (!ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX))
		goto out;
	inet_pton(AF_INET, CLIENT4, &k.src.v4);
	inet_pton(AF_INET, VIP4, &k.dst.v4);
	if (!ASSERT_OK(lbmap_lookup(t.m, &k, &res)) || !ASSERT_EQ(res.why, LBMAP_WHY_TABLE))
		goto out;
	inet_pton(AF_INET, BE4, &ip);
	ASSERT_EQ(res.backend_id, b4);
	ASSERT_TRUE(memcmp(out.b + 14 + 16, &ip, 4) == 0);
	/* and nothing was inserted for it */
	ASSERT_OK(lbmap_lookup(t.m, &k, &res));
	ASSERT_EQ(res.why, LBMAP_WHY_TABLE);
out:
	lbt_teardown(&t);
}

/* A client frame of ip_len bytes of IP datagram. */
static void big_frame(int family, bool df, size_t ip_len, int ntags, struct pkt *p)
{
	struct lbt_flow f = { .family = family, .src = family == 6 ? CLIENT6 : CLIENT4,
			      .dst = family == 6 ? VIP6 : VIP4, .proto = 6, .sport = 7000,
			      .dport = 80, .df = df, .ntags = ntags, .tcp_flags = 0x10 };

	f.payload = ip_len - (family == 6 ? 40 : 20) - 20;
	lbt_frame(&f, p);
}

/* What we expect back: ICMP from the VIP to the client quoting 128 bytes of the datagram. */
static void expect_too_big(int family, uint32_t mtu, int ntags, struct pkt *want)
{
	struct pkt_ip ip = { .family = family, .proto = family == 6 ? 58 : 1,
			     .src = family == 6 ? VIP6 : VIP4, .dst = family == 6 ? CLIENT6 : CLIENT4 };
	struct pkt orig;

	big_frame(family, true, 1500, 0, &orig);
	memcpy(want->b, orig.b + 14, 128);
	want->len = 128;
	if (family == 6)
		pkt_push_icmp(want, &ip, 2, 0, mtu);
	else
		pkt_push_icmp(want, &ip, 3, 4, mtu & 0xffff);
	pkt_push_ip(want, &ip);
	pkt_push_eth(want, LBT_CLIENT_MAC, LBT_OUR_MAC, ntags, lbt_tpids, lbt_tcis,
		     family == 6 ? 0x86dd : 0x0800);
}

TEST(too_big_generates_icmp)
{
	struct pkt in, out, want;
	uint32_t b4, b6;
	struct lbt t;

	if (!setup(&t, XG_ALGO_MAGLEV, XG_FWD_IPIP, &b4, &b6))
		goto out;
	for (int tags = 0; tags <= 1; tags++) {
		/* IPv4, DF, 1500 bytes: 1520 once encapsulated over a 1500 MTU. */
		big_frame(4, true, 1500, tags, &in);
		expect_too_big(4, 1480, tags, &want);
		lbt_mark(&t);
		if (!ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX) ||
		    !ASSERT_MEMEQ(out.b, out.len, want.b, want.len))
			goto out;
		ASSERT_EQ(lbt_fate(&t), XG_R_ICMP_TOO_BIG_SENT);
		ASSERT_TRUE(pkt_ipv4_csum_ok(out.b + 14 + 4 * tags));
		ASSERT_TRUE(pkt_l4_csum_ok(out.b + 14 + 4 * tags, out.b + 34 + 4 * tags, 136));
		/* IPv6: 1540 once encapsulated. */
		big_frame(6, false, 1500, tags, &in);
		expect_too_big(6, 1460, tags, &want);
		if (!ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX) ||
		    !ASSERT_MEMEQ(out.b, out.len, want.b, want.len))
			goto out;
		ASSERT_TRUE(pkt_l4_csum_ok(out.b + 14 + 4 * tags, out.b + 54 + 4 * tags, 136));
	}
	/* IPv4 without DF cannot be told: dropped, counted. */
	big_frame(4, false, 1500, 0, &in);
	lbt_mark(&t);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_DROP);
	ASSERT_EQ(lbt_fate(&t), XG_R_DROP_TOO_BIG);
	/* Exactly fitting packets go through. */
	big_frame(4, true, 1480, 0, &in);
	lbt_mark(&t);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX);
	ASSERT_EQ(lbt_fate(&t), XG_R_FWD_IPIP);
	big_frame(6, true, 1460, 0, &in);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX);
out:
	lbt_teardown(&t);
}

TEST(l2_never_too_big)
{
	struct pkt in, out;
	uint32_t b4, b6;
	struct lbt t;

	if (!setup(&t, XG_ALGO_MAGLEV, XG_FWD_L2, &b4, &b6))
		goto out;
	big_frame(4, true, 1500, 0, &in);
	lbt_mark(&t);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX);
	ASSERT_EQ(lbt_fate(&t), XG_R_FWD_L2);
out:
	lbt_teardown(&t);
}
