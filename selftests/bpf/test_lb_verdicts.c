// SPDX-License-Identifier: GPL-2.0
/*
 * What is not balanced: non-VIP, non-IP, truncated, malformed, fragmented and odd-header
 * packets get the documented action and reason counter, and pass untouched when passed.
 */
#include <linux/bpf.h>
#include <stdio.h>

#include "lib/lbtest.h"
#include "lib/test.h"

#define CLIENT4 "198.18.7.7"
#define VIP4 "198.18.100.1"
#define OTHER4 "198.18.100.2"
#define CLIENT6 "2001:2::7:7"
#define VIP6 "2001:2::100:1"
#define BE4 "198.19.0.10"

extern const uint16_t lbt_tpids[2], lbt_tcis[2];

struct verdict_case {
	const char *name;
	void (*build)(struct pkt *p);
	int action;
	enum xg_reason reason;
};

static void v4_frame(struct pkt *p, const char *dst, uint8_t proto, uint16_t dport)
{
	struct lbt_flow f = { .family = 4, .src = CLIENT4, .dst = dst, .proto = proto,
			      .sport = 5555, .dport = dport, .payload = 20 };

	lbt_frame(&f, p);
}

static void b_not_vip(struct pkt *p)
{
	v4_frame(p, OTHER4, 6, 80);
}

static void b_no_service_port(struct pkt *p)
{
	v4_frame(p, VIP4, 6, 81);
}

static void b_no_service_proto(struct pkt *p)
{
	v4_frame(p, VIP4, 17, 80);
}

static void b_arp(struct pkt *p)
{
	pkt_payload(p, 28, 1);
	pkt_push_eth(p, "ff:ff:ff:ff:ff:ff", LBT_CLIENT_MAC, 0, NULL, NULL, 0x0806);
}

static void b_truncated_ip(struct pkt *p)
{
	v4_frame(p, VIP4, 6, 80);
	pkt_truncate(p, 14 + 16);
}

static void b_truncated_tcp(struct pkt *p)
{
	struct pkt_ip ip = { .family = 4, .src = CLIENT4, .dst = VIP4, .proto = 6 };

	pkt_payload(p, 10, 0);	/* 10 bytes where a 20-byte TCP header should be */
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x0800);
}

static void b_tot_len_beyond_frame(struct pkt *p)
{
	v4_frame(p, VIP4, 6, 80);
	pkt_truncate(p, p->len - 8);
}

static void b_bad_ihl(struct pkt *p)
{
	v4_frame(p, VIP4, 6, 80);
	p->b[14] = 0x44;
}

static void b_bad_version(struct pkt *p)
{
	v4_frame(p, VIP4, 6, 80);
	p->b[14] = 0x55;
}

static void b_bad_ihl_not_vip(struct pkt *p)
{
	v4_frame(p, OTHER4, 6, 80);
	p->b[14] = 0x44;
}

static void b_tcp_doff_short(struct pkt *p)
{
	v4_frame(p, VIP4, 6, 80);
	p->b[14 + 20 + 12] = 4 << 4;
}

static void b_tcp_doff_beyond(struct pkt *p)
{
	v4_frame(p, VIP4, 6, 80);
	p->b[14 + 20 + 12] = 15 << 4;	/* 60 bytes of header in a 40-byte segment */
}

static void b_fragment_first(struct pkt *p)
{
	struct pkt_ip ip = { .family = 4, .src = CLIENT4, .dst = VIP4, .proto = 6,
			     .frag = 0x2000 };

	pkt_payload(p, 40, 0);
	pkt_push_tcp(p, &ip, 5555, 80, 0x02);
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x0800);
}

static void b_fragment_later(struct pkt *p)
{
	struct pkt_ip ip = { .family = 4, .src = CLIENT4, .dst = VIP4, .proto = 6, .frag = 100 };

	pkt_payload(p, 40, 0);
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x0800);
}

static void b_fragment_not_vip(struct pkt *p)
{
	struct pkt_ip ip = { .family = 4, .src = CLIENT4, .dst = OTHER4, .proto = 6, .frag = 100 };

	pkt_payload(p, 40, 0);
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x0800);
}

static void b_v6_fragment(struct pkt *p)
{
	struct pkt_ip ip = { .family = 6, .src = CLIENT6, .dst = VIP6, .proto = 44 };

	pkt_payload(p, 40, 0);
	pkt_push_tcp(p, &ip, 5555, 80, 0x02);
	pkt_push_ip6_ext(p, 44, 6, 0);
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x86dd);
}

static void b_v6_ext_chain_ok(struct pkt *p)
{
	struct pkt_ip ip = { .family = 6, .src = CLIENT6, .dst = VIP6, .proto = 0 };

	pkt_payload(p, 40, 0);
	pkt_push_tcp(p, &ip, 5555, 80, 0x02);
	pkt_push_ip6_ext(p, 60, 6, 1);		/* destination options, 16 bytes */
	pkt_push_ip6_ext(p, 43, 60, 0);		/* routing, 8 bytes */
	pkt_push_ip6_ext(p, 0, 43, 0);		/* hop-by-hop, 8 bytes */
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x86dd);
}

static void b_v6_ext_chain_too_long(struct pkt *p)
{
	struct pkt_ip ip = { .family = 6, .src = CLIENT6, .dst = VIP6, .proto = 60 };

	pkt_payload(p, 40, 0);
	pkt_push_tcp(p, &ip, 5555, 80, 0x02);
	pkt_push_ip6_ext(p, 60, 6, 0);
	for (int i = 0; i < 7; i++)
		pkt_push_ip6_ext(p, 60, 60, 0);
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x86dd);
}

static void b_v6_ext_truncated(struct pkt *p)
{
	struct pkt_ip ip = { .family = 6, .src = CLIENT6, .dst = VIP6, .proto = 60 };

	pkt_payload(p, 0, 0);
	pkt_push_ip6_ext(p, 60, 6, 4);		/* claims 40 bytes */
	pkt_truncate(p, 8);
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x86dd);
}

static void b_v6_payload_len_beyond(struct pkt *p)
{
	struct lbt_flow f = { .family = 6, .src = CLIENT6, .dst = VIP6, .proto = 6,
			      .sport = 5555, .dport = 80, .payload = 20 };

	lbt_frame(&f, p);
	p->b[14 + 5] += 4;
}

static void b_gre_to_vip(struct pkt *p)
{
	struct pkt_ip ip = { .family = 4, .src = CLIENT4, .dst = VIP4, .proto = 47 };

	pkt_payload(p, 24, 0);
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x0800);
}

static void b_three_tags(struct pkt *p)
{
	static const uint16_t tpid[3] = { 0x88a8, 0x8100, 0x8100 }, tci[3] = { 1, 2, 3 };

	v4_frame(p, VIP4, 6, 80);
	p->len -= 14;
	memmove(p->b, p->b + 14, p->len);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 3, tpid, tci, 0x0800);
}

static void b_vlan_truncated(struct pkt *p)
{
	pkt_payload(p, 0, 0);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x8100);
	p->b[p->len++] = 0;
}

static void b_ip_options_ok(struct pkt *p)
{
	struct pkt_ip ip = { .family = 4, .src = CLIENT4, .dst = VIP4, .proto = 6, .opt_len = 8 };

	pkt_payload(p, 20, 0);
	pkt_push_tcp(p, &ip, 5555, 80, 0x02);
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x0800);
}

static void b_udp_truncated(struct pkt *p)
{
	struct pkt_ip ip = { .family = 4, .src = CLIENT4, .dst = VIP4, .proto = 17 };

	pkt_payload(p, 6, 0);
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, 0, NULL, NULL, 0x0800);
}

static const struct verdict_case cases[] = {
	{ "not-vip", b_not_vip, XDP_PASS, XG_R_PASS_NOT_VIP },
	{ "no-service-port", b_no_service_port, XDP_PASS, XG_R_PASS_NO_SERVICE },
	{ "no-service-proto", b_no_service_proto, XDP_PASS, XG_R_PASS_NO_SERVICE },
	{ "arp", b_arp, XDP_PASS, XG_R_PASS_NOT_IP },
	{ "truncated-ip-header", b_truncated_ip, XDP_PASS, XG_R_PASS_TRUNCATED },
	{ "truncated-tcp", b_truncated_tcp, XDP_DROP, XG_R_DROP_MALFORMED },
	{ "truncated-udp", b_udp_truncated, XDP_DROP, XG_R_DROP_MALFORMED },
	{ "tot-len-beyond-frame", b_tot_len_beyond_frame, XDP_DROP, XG_R_DROP_BAD_IP },
	{ "ihl-4", b_bad_ihl, XDP_DROP, XG_R_DROP_BAD_IP },
	{ "version-5", b_bad_version, XDP_DROP, XG_R_DROP_BAD_IP },
	{ "ihl-4-not-vip", b_bad_ihl_not_vip, XDP_PASS, XG_R_PASS_NOT_VIP },
	{ "tcp-doff-4", b_tcp_doff_short, XDP_DROP, XG_R_DROP_MALFORMED },
	{ "tcp-doff-beyond", b_tcp_doff_beyond, XDP_DROP, XG_R_DROP_MALFORMED },
	{ "fragment-first", b_fragment_first, XDP_PASS, XG_R_PASS_FRAGMENT },
	{ "fragment-later", b_fragment_later, XDP_PASS, XG_R_PASS_FRAGMENT },
	{ "fragment-not-vip", b_fragment_not_vip, XDP_PASS, XG_R_PASS_NOT_VIP },
	{ "v6-fragment-header", b_v6_fragment, XDP_PASS, XG_R_PASS_FRAGMENT },
	{ "v6-ext-chain", b_v6_ext_chain_ok, XDP_TX, XG_R_FWD_IPIP },
	{ "v6-ext-chain-too-long", b_v6_ext_chain_too_long, XDP_DROP, XG_R_DROP_MALFORMED },
	{ "v6-ext-truncated", b_v6_ext_truncated, XDP_DROP, XG_R_DROP_MALFORMED },
	{ "v6-payload-len-beyond", b_v6_payload_len_beyond, XDP_DROP, XG_R_DROP_BAD_IP },
	{ "gre-to-vip", b_gre_to_vip, XDP_PASS, XG_R_PASS_PROTO },
	{ "three-vlan-tags", b_three_tags, XDP_PASS, XG_R_PASS_NOT_IP },
	{ "vlan-truncated", b_vlan_truncated, XDP_PASS, XG_R_PASS_TRUNCATED },
	{ "ipv4-options", b_ip_options_ok, XDP_TX, XG_R_FWD_IPIP },
};

TEST(verdicts_and_reasons)
{
	struct lbt t;
	uint32_t vip4, vip6, be;
	struct pkt in, out;

	if (!lbt_setup(&t, NULL))
		return;
	if (!ASSERT_OK(lbt_vip(&t, "web4", VIP4, 80, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, &vip4)) ||
	    !ASSERT_OK(lbt_vip(&t, "web6", VIP6, 80, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, &vip6)) ||
	    !ASSERT_OK(lbt_backend(&t, vip4, BE4, 1, NULL, &be)) ||
	    !ASSERT_OK(lbt_backend(&t, vip6, "2001:2:0:1::10", 1, NULL, &be)))
		goto out;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct verdict_case *c = &cases[i];
		int action;

		memset(&in, 0, sizeof(in));
		c->build(&in);
		lbt_mark(&t);
		action = lbt_run(&t, &in, &out);
		if (!ASSERT_EQ(action, c->action) || !ASSERT_EQ(lbt_fate(&t), c->reason) ||
		    !ASSERT_EQ(lbt_delta(&t, c->reason), 1)) {
			enum xg_reason got = lbt_fate(&t);

			fprintf(stderr, "case %s: action %d reason %s\n", c->name, action,
				got < XG_R_MAX ? lbmap_reason_names[got] : "none");
			break;
		}
		if (c->action == XDP_PASS &&
		    !ASSERT_MEMEQ(out.b, out.len, in.b, in.len)) {
			fprintf(stderr, "case %s: passed packet was modified\n", c->name);
			break;
		}
	}
out:
	lbt_teardown(&t);
}

TEST(no_backend_drops)
{
	struct lbt t;
	struct lbt_flow f = { .family = 4, .src = CLIENT4, .dst = VIP4, .proto = 6,
			      .sport = 1, .dport = 80, .payload = 10 };
	struct pkt in, out;
	uint32_t vip, be;

	if (!lbt_setup(&t, NULL))
		return;
	if (!ASSERT_OK(lbt_vip(&t, "web", VIP4, 80, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, &vip)))
		goto out;
	lbt_frame(&f, &in);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_DROP);
	ASSERT_EQ(lbt_fate(&t), XG_R_DROP_NO_BACKEND);
	/* One backend, then down: drops again, counted the same way. */
	if (!ASSERT_OK(lbt_backend(&t, vip, BE4, 1, NULL, &be)))
		goto out;
	lbt_mark(&t);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX);
	ASSERT_OK(lbt_backend_state(&t, be, XG_BE_F_DOWN, 1));
	lbt_mark(&t);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_DROP);
	ASSERT_EQ(lbt_fate(&t), XG_R_DROP_NO_BACKEND);
out:
	lbt_teardown(&t);
}

TEST(unconfigured_link_drops)
{
	struct lbt t;
	struct lbt_flow f = { .family = 4, .src = CLIENT4, .dst = VIP4, .proto = 17,
			      .sport = 1, .dport = 53, .payload = 10 };
	struct pkt in, out;
	uint32_t vip, be;

	if (!lbt_setup(&t, NULL))
		return;
	if (!ASSERT_OK(lbt_vip(&t, "dns", VIP4, 53, 17, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, &vip)) ||
	    !ASSERT_OK(lbt_backend(&t, vip, BE4, 1, NULL, &be)) ||
	    !ASSERT_OK(lbmap_link_del(t.m, LBT_IFINDEX)))
		goto out;
	lbt_frame(&f, &in);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_DROP);
	ASSERT_EQ(lbt_fate(&t), XG_R_DROP_NO_LINK);
out:
	lbt_teardown(&t);
}
