// SPDX-License-Identifier: GPL-2.0
/*
 * The backend-side decap program: exact output for IPIP, IP6IP6, 4in6 and 6in4 with 0-2 VLAN
 * tags, and the pass/drop rule with its reason for what it must not strip.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <unistd.h>

#include "lib/decap.h"
#include "lib/lbtest.h"
#include "lib/pkt.h"
#include "lib/test.h"

#define LOCAL4 "198.19.0.10"
#define LOCAL6 "2001:2:0:1::10"
#define LB4 "198.18.0.1"
#define LB6 "2001:2::1"
#define MAC_BE "02:be:00:00:00:01"
#define MAC_LB "02:00:00:00:00:01"

static const uint16_t tpids[2] = { 0x88a8, 0x8100 }, tcis[2] = { 7, 8 };

static struct decap_obj *setup(void)
{
	struct decap_obj *d;
	struct xg_addr a = {};

	if (geteuid() != 0) {
		test_skip("needs root for BPF");
		return NULL;
	}
	d = decap_load(NULL);
	if (!ASSERT_NOT_NULL(d))
		return NULL;
	inet_pton(AF_INET, LOCAL4, &a.v4);
	ASSERT_OK(decap_addr_add(d, &a, XG_AF_INET));
	memset(&a, 0, sizeof(a));
	inet_pton(AF_INET6, LOCAL6, a.bytes);
	ASSERT_OK(decap_addr_add(d, &a, XG_AF_INET6));
	return d;
}

static int run(struct decap_obj *d, const struct pkt *in, struct pkt *out)
{
	return lbt_prog_run(decap_prog_fd(d), 1, in, out);
}

/* The inner datagram a balancer would have sent: client -> VIP, TCP. */
static void inner(int family, struct pkt *p)
{
	struct pkt_ip ip = { .family = family, .proto = 6,
			     .src = family == 6 ? "2001:2::7:7" : "198.18.7.7",
			     .dst = family == 6 ? "2001:2::100:1" : "198.18.100.1" };

	pkt_payload(p, 64, 3);
	pkt_push_tcp(p, &ip, 40000, 80, 0x10);
	pkt_push_ip(p, &ip);
}

static void encap(int outer_family, int inner_family, const char *dst, int ntags,
		  struct pkt *p)
{
	struct pkt_ip o = { .family = outer_family, .proto = inner_family == 6 ? 41 : 4,
			    .src = outer_family == 6 ? LB6 : LB4, .dst = dst, .df = true };

	inner(inner_family, p);
	pkt_push_ip(p, &o);
	pkt_push_eth(p, MAC_BE, MAC_LB, ntags, tpids, tcis, outer_family == 6 ? 0x86dd : 0x0800);
}

static uint64_t reason_count(struct decap_obj *d, enum xg_decap_reason r)
{
	struct xg_counter c[XG_DECAP_R_MAX];

	return decap_stats(d, c) ? UINT64_MAX : c[r].packets;
}

TEST(decap_exact_output)
{
	static const struct {
		int outer, inner;
	} combos[] = { { 4, 4 }, { 6, 6 }, { 6, 4 }, { 4, 6 } };
	struct decap_obj *d = setup();
	struct pkt in, out, want;

	if (!d)
		return;
	for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
		for (int tags = 0; tags <= 2; tags++) {
			encap(combos[i].outer, combos[i].inner,
			      combos[i].outer == 6 ? LOCAL6 : LOCAL4, tags, &in);
			inner(combos[i].inner, &want);
			pkt_push_eth(&want, MAC_BE, MAC_LB, tags, tpids, tcis,
				     combos[i].inner == 6 ? 0x86dd : 0x0800);
			if (!ASSERT_EQ(run(d, &in, &out), XDP_PASS) ||
			    !ASSERT_MEMEQ(out.b, out.len, want.b, want.len)) {
				fprintf(stderr, "outer %d inner %d tags %d\n", combos[i].outer,
					combos[i].inner, tags);
				goto out;
			}
		}
	}
	ASSERT_EQ(reason_count(d, XG_DECAP_R_STRIPPED), 12);
out:
	decap_unload(d);
}

static void b_not_local(struct pkt *p)
{
	encap(4, 4, "198.19.0.99", 0, p);
}

static void b_plain_tcp(struct pkt *p)
{
	inner(4, p);
	pkt_push_eth(p, MAC_BE, MAC_LB, 0, NULL, NULL, 0x0800);
}

static void b_inner_truncated(struct pkt *p)
{
	encap(4, 4, LOCAL4, 0, p);
	pkt_truncate(p, 14 + 20 + 12);
	p->b[14 + 3] = 20 + 12;		/* outer tot_len consistent with the cut */
}

static void b_inner_wrong_version(struct pkt *p)
{
	encap(6, 4, LOCAL6, 0, p);
	p->b[14 + 40] = 0x65;		/* announced IPv4, carries "version 6" */
}

static void b_outer_fragment(struct pkt *p)
{
	struct pkt_ip o = { .family = 4, .proto = 4, .src = LB4, .dst = LOCAL4, .frag = 0x2000 };

	inner(4, p);
	pkt_push_ip(p, &o);
	pkt_push_eth(p, MAC_BE, MAC_LB, 0, NULL, NULL, 0x0800);
}

static void b_arp(struct pkt *p)
{
	pkt_payload(p, 28, 0);
	pkt_push_eth(p, MAC_BE, MAC_LB, 0, NULL, NULL, 0x0806);
}

static void b_truncated_outer(struct pkt *p)
{
	encap(6, 6, LOCAL6, 0, p);
	pkt_truncate(p, 14 + 30);
}

TEST(decap_verdicts)
{
	static const struct {
		const char *name;
		void (*build)(struct pkt *p);
		int action;
		enum xg_decap_reason reason;
	} cases[] = {
		{ "not-local", b_not_local, XDP_PASS, XG_DECAP_R_PASS_NOT_LOCAL },
		{ "plain-tcp", b_plain_tcp, XDP_PASS, XG_DECAP_R_PASS_NOT_ENCAP },
		{ "inner-truncated", b_inner_truncated, XDP_DROP, XG_DECAP_R_DROP_MALFORMED },
		{ "inner-wrong-version", b_inner_wrong_version, XDP_DROP,
		  XG_DECAP_R_DROP_MALFORMED },
		{ "outer-fragment", b_outer_fragment, XDP_PASS, XG_DECAP_R_PASS_FRAGMENT },
		{ "arp", b_arp, XDP_PASS, XG_DECAP_R_PASS_NOT_IP },
		{ "truncated-outer", b_truncated_outer, XDP_PASS, XG_DECAP_R_PASS_TRUNCATED },
	};
	struct decap_obj *d = setup();
	struct pkt in, out;

	if (!d)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t before = reason_count(d, cases[i].reason);

		cases[i].build(&in);
		if (!ASSERT_EQ(run(d, &in, &out), cases[i].action) ||
		    !ASSERT_EQ(reason_count(d, cases[i].reason), before + 1)) {
			fprintf(stderr, "case %s\n", cases[i].name);
			break;
		}
		if (cases[i].action == XDP_PASS && !ASSERT_MEMEQ(out.b, out.len, in.b, in.len)) {
			fprintf(stderr, "case %s: passed packet was modified\n", cases[i].name);
			break;
		}
	}
	decap_unload(d);
}

TEST(decap_addr_errors)
{
	struct decap_obj *d = setup();
	struct xg_addr a = {}, seen = {};
	int n = 0;

	if (!d)
		return;
	a.v6[1] = 1;
	ASSERT_ERR(decap_addr_add(d, &a, XG_AF_INET), -EINVAL);
	ASSERT_ERR(decap_addr_add(d, &a, 5), -EINVAL);
	inet_pton(AF_INET, "198.19.0.77", &seen.v4);
	ASSERT_ERR(decap_addr_del(d, &seen, XG_AF_INET), -ENOENT);
	for (uint32_t i = 0; i < XG_MAX_DECAP_ADDRS; i++) {
		struct xg_addr x = { .v4 = htonl(0xc6130100 + i) };

		if (decap_addr_add(d, &x, XG_AF_INET) == 0)
			n++;
	}
	/* two addresses from setup() plus as many as fit */
	ASSERT_EQ(n, XG_MAX_DECAP_ADDRS - 2);
	a = (struct xg_addr){ .v4 = htonl(0xc6130200) };
	ASSERT_ERR(decap_addr_add(d, &a, XG_AF_INET), -ENOSPC);
	decap_unload(d);
}
