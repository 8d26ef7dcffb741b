// SPDX-License-Identifier: GPL-2.0
/*
 * Flows over time: connection-table stickiness across backend-set changes, down and drain
 * semantics, FIN/RST and active counts, persistence, the insert rate limit, and the lookup
 * dry run agreeing with the datapath.
 */
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <stdio.h>

#include "lib/lbtest.h"
#include "lib/test.h"

#define VIP4 "198.18.100.1"
#define NFLOWS 300

static const char *const be_addrs[] = { "198.19.0.1", "198.19.0.2", "198.19.0.3",
					"198.19.0.4", "198.19.0.5" };

/* Client i's flow: 198.18.(i/200).(i%200 + 1), port 10000 + i. */
static void client(unsigned int i, char *buf)
{
	snprintf(buf, 16, "198.18.%u.%u", (10 + i / 200) & 0xff, i % 200 + 1);
}

static void flow_frame(int i, uint8_t flags, struct pkt *p)
{
	char src[16];
	struct lbt_flow f = { .family = 4, .dst = VIP4, .proto = 6, .sport = (uint16_t)(10000 + i),
			      .dport = 80, .payload = 10, .tcp_flags = flags };

	client(i, src);
	f.src = src;
	lbt_frame(&f, p);
}

/* The backend a forwarded ipip frame went to: outer destination's index in be_addrs. */
static int backend_of(const struct pkt *out)
{
	struct in_addr a;

	memcpy(&a, out->b + 14 + 16, 4);
	for (size_t i = 0; i < sizeof(be_addrs) / sizeof(be_addrs[0]); i++)
		if (a.s_addr == inet_addr(be_addrs[i]))
			return (int)i;
	return -1;
}

/* Sends one packet of flow i; returns the backend index or -1 (-2: not forwarded). */
static int send_flow(struct lbt *t, int i, uint8_t flags)
{
	struct pkt in, out;

	flow_frame(i, flags, &in);
	if (lbt_run(t, &in, &out) != XDP_TX)
		return -2;
	return backend_of(&out);
}

static bool setup_service(struct lbt *t, uint8_t algo, int nbackends, uint32_t *vip,
			  uint32_t *ids)
{
	if (!lbt_setup(t, NULL))
		return false;
	if (!ASSERT_OK(lbt_vip(t, "web", VIP4, 80, 6, algo, XG_FWD_IPIP, 0, vip)))
		return false;
	for (int b = 0; b < nbackends; b++)
		if (!ASSERT_OK(lbt_backend(t, *vip, be_addrs[b], 1, NULL, &ids[b])))
			return false;
	return true;
}

TEST(ct_sticky_across_backend_changes)
{
	static int first[NFLOWS];
	uint32_t vip, ids[5];
	struct lbt t;
	int moved_new = 0;

	if (!setup_service(&t, XG_ALGO_MAGLEV, 3, &vip, ids))
		goto out;
	for (int i = 0; i < NFLOWS; i++) {
		first[i] = send_flow(&t, i, 0x02);
		if (!ASSERT_GE(first[i], 0))
			goto out;
	}
	/* Two more backends: the table changes, established flows must not. */
	if (!ASSERT_OK(lbt_backend(&t, vip, be_addrs[3], 1, NULL, &ids[3])) ||
	    !ASSERT_OK(lbt_backend(&t, vip, be_addrs[4], 1, NULL, &ids[4])))
		goto out;
	lbt_mark(&t);
	for (int i = 0; i < NFLOWS; i++)
		if (!ASSERT_EQ(send_flow(&t, i, 0x10), first[i]))
			goto out;
	ASSERT_EQ(lbt_delta(&t, XG_R_CT_HIT), NFLOWS);
	ASSERT_EQ(lbt_delta(&t, XG_R_CT_MISS), 0);
	/* Weight change of an existing backend: still sticky. */
	if (!ASSERT_OK(lbt_backend_state(&t, ids[0], 0, 5)))
		goto out;
	for (int i = 0; i < NFLOWS; i++)
		if (!ASSERT_EQ(send_flow(&t, i, 0x10), first[i]))
			goto out;
	/* New flows do reach the new backends. */
	for (int i = NFLOWS; i < 2 * NFLOWS; i++)
		moved_new += send_flow(&t, i, 0x02) >= 3;
	ASSERT_GT(moved_new, 0);
out:
	lbt_teardown(&t);
}

TEST(down_moves_flows_drain_keeps_them)
{
	static int first[NFLOWS];
	uint32_t vip, ids[5];
	struct lbt t;
	int on0 = 0, on1 = 0;

	if (!setup_service(&t, XG_ALGO_MAGLEV, 3, &vip, ids))
		goto out;
	for (int i = 0; i < NFLOWS; i++) {
		first[i] = send_flow(&t, i, 0x02);
		on0 += first[i] == 0;
		on1 += first[i] == 1;
	}
	if (!ASSERT_GT(on0, 0) || !ASSERT_GT(on1, 0))
		goto out;
	/* Drain backend 0, mark backend 1 down. */
	if (!ASSERT_OK(lbt_backend_state(&t, ids[0], XG_BE_F_DRAIN, 1)) ||
	    !ASSERT_OK(lbt_backend_state(&t, ids[1], XG_BE_F_DOWN, 1)))
		goto out;
	lbt_mark(&t);
	for (int i = 0; i < NFLOWS; i++) {
		int now = send_flow(&t, i, 0x10);

		if (first[i] == 0 && !ASSERT_EQ(now, 0))	/* draining: existing stay */
			goto out;
		if (first[i] == 1 && !ASSERT_EQ(now, 2))	/* down: moved to the live one */
			goto out;
		if (first[i] == 2 && !ASSERT_EQ(now, 2))
			goto out;
	}
	ASSERT_EQ(lbt_delta(&t, XG_R_CT_RESELECT), on1);
	/* Moved flows stay where they moved, even once backend 1 is back. */
	if (!ASSERT_OK(lbt_backend_state(&t, ids[1], 0, 1)))
		goto out;
	for (int i = 0; i < NFLOWS; i++)
		if (first[i] == 1 && !ASSERT_EQ(send_flow(&t, i, 0x10), 2))
			goto out;
	/* New flows: never to the draining backend. */
	for (int i = NFLOWS; i < 2 * NFLOWS; i++)
		if (!ASSERT_NE(send_flow(&t, i, 0x02), 0))
			goto out;
	/* Weight 0 is drain too. */
	if (!ASSERT_OK(lbt_backend_state(&t, ids[0], 0, 0)))
		goto out;
	for (int i = 0; i < NFLOWS; i++)
		if (first[i] == 0 && !ASSERT_EQ(send_flow(&t, i, 0x10), 0))
			goto out;
out:
	lbt_teardown(&t);
}

/* Services change under established flows. */
TEST(services_change_under_established_flows)
{
	struct xg_backend be;
	uint32_t all_ports, exact, b0, b1, b2;
	struct pkt in, out;
	struct lbt t;

	if (!lbt_setup(&t, NULL))
		return;
	if (!ASSERT_OK(lbt_vip(&t, "any", VIP4, 0, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, &all_ports)) ||
	    !ASSERT_OK(lbt_backend(&t, all_ports, be_addrs[0], 1, NULL, &b0)))
		goto out;
	ASSERT_EQ(send_flow(&t, 0, 0x02), 0);		/* port 80 via the all-ports service */
	/* A service for port 80 appears: the established flow stays, new flows go there. */
	if (!ASSERT_OK(lbt_vip(&t, "http", VIP4, 80, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, &exact)) ||
	    !ASSERT_OK(lbt_backend(&t, exact, be_addrs[1], 1, NULL, &b1)))
		goto out;
	ASSERT_EQ(send_flow(&t, 0, 0x10), 0);
	ASSERT_EQ(send_flow(&t, 1, 0x02), 1);
	/* The all-ports service goes: its flow now belongs to the port-80 service. */
	ASSERT_OK(lbmap_vip_del(t.m, all_ports));
	lbt_mark(&t);
	ASSERT_EQ(send_flow(&t, 0, 0x10), 1);
	ASSERT_EQ(lbt_delta(&t, XG_R_CT_RESELECT), 1);
	/* Gone too: the address is no VIP any more, its packets pass. */
	ASSERT_OK(lbmap_vip_del(t.m, exact));
	flow_frame(1, 0x10, &in);
	lbt_mark(&t);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_PASS);
	ASSERT_EQ(lbt_fate(&t), XG_R_PASS_NOT_VIP);
	/* Re-created (under a new id) with another backend: the old entry moves to it. */
	if (!ASSERT_OK(lbt_vip(&t, "http", VIP4, 80, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, &exact)) ||
	    !ASSERT_OK(lbt_backend(&t, exact, be_addrs[2], 1, NULL, &b2)))
		goto out;
	ASSERT_EQ(send_flow(&t, 1, 0x10), 2);
	ASSERT_OK(lbmap_backend_get(t.m, b2, &be));
out:
	lbt_teardown(&t);
}

/*
 * A service deleted and added again (renamed in one change) with its backends in another
 * order: its established flows must be reselected, not follow whatever backend now holds the
 * id their entry names.
 */
TEST(readded_service_reselects_its_flows)
{
	static const int order[] = { 2, 0, 1 };
	uint32_t vip, ids[5], vip2, ids2[3];
	struct lbt t;

	if (!setup_service(&t, XG_ALGO_MAGLEV, 3, &vip, ids))
		goto out;
	for (int i = 0; i < NFLOWS; i++)
		if (!ASSERT_GE(send_flow(&t, i, 0x02), 0))
			goto out;
	if (!ASSERT_OK(lbmap_vip_del(t.m, vip)) ||
	    !ASSERT_OK(lbt_vip(&t, "site", VIP4, 80, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, &vip2)))
		goto out;
	for (int b = 0; b < 3; b++)
		if (!ASSERT_OK(lbt_backend(&t, vip2, be_addrs[order[b]], 1, NULL, &ids2[b])))
			goto out;
	ASSERT_NE(vip2, vip);
	for (int b = 0; b < 3; b++)
		for (int o = 0; o < 3; o++)
			ASSERT_NE(ids2[b], ids[o]);
	lbt_mark(&t);
	for (int i = 0; i < NFLOWS; i++)
		if (!ASSERT_GE(send_flow(&t, i, 0x10), 0))
			goto out;
	ASSERT_EQ(lbt_delta(&t, XG_R_CT_RESELECT), NFLOWS);
	ASSERT_EQ(lbt_delta(&t, XG_R_CT_HIT), 0);
out:
	lbt_teardown(&t);
}

/* A backend replaced by another in one change: the new one does not inherit the old one's flows. */
TEST(replaced_backend_does_not_inherit_flows)
{
	static int first[NFLOWS];
	uint32_t vip, ids[5];
	struct lbt t;
	int on1 = 0;

	if (!setup_service(&t, XG_ALGO_MAGLEV, 3, &vip, ids))
		goto out;
	for (int i = 0; i < NFLOWS; i++) {
		first[i] = send_flow(&t, i, 0x02);
		on1 += first[i] == 1;
	}
	if (!ASSERT_GT(on1, 0) || !ASSERT_OK(lbmap_backend_del(t.m, ids[1])) ||
	    !ASSERT_OK(lbt_backend(&t, vip, be_addrs[3], 1, NULL, &ids[3])))
		goto out;
	ASSERT_NE(ids[3], ids[1]);
	lbt_mark(&t);
	for (int i = 0; i < NFLOWS; i++) {
		int now = send_flow(&t, i, 0x10);

		if (first[i] != 1 && !ASSERT_EQ(now, first[i]))
			goto out;
		if (first[i] == 1 && !ASSERT_GE(now, 0))
			goto out;
	}
	ASSERT_EQ(lbt_delta(&t, XG_R_CT_RESELECT), on1);
out:
	lbt_teardown(&t);
}

/*
 * Ids go round: a freed id comes back only after the others were taken, also through another
 * handle on the same maps (gwd restarted on pinned maps) and a settings write.
 */
TEST(ids_not_reused_soon)
{
	uint32_t vip, ids[5], id, vid;
	struct xg_settings set = { .hash_seed = 7 };
	struct lbmap *m2 = NULL;
	struct lbt t;

	if (!setup_service(&t, XG_ALGO_MAGLEV, 3, &vip, ids))
		goto out;
	if (!ASSERT_OK(lbmap_backend_del(t.m, ids[2])) || !ASSERT_OK(lbmap_settings_set(t.m, &set)))
		goto out;
	m2 = lbmap_from_fds(t.m->fd);
	if (!ASSERT_TRUE(m2 != NULL))
		goto out;
	ASSERT_OK(lbmap_backend_alloc_id(m2, &id));
	ASSERT_EQ(id, ids[2] + 1);
	ASSERT_OK(lbmap_vip_del(m2, vip));
	ASSERT_OK(lbmap_vip_alloc_id(m2, &vid));
	ASSERT_EQ(vid, vip + 1);
	/* Past the end the search starts over at the lowest free id. */
	for (uint32_t i = 0; i < m2->max_backends; i++) {
		if (!ASSERT_OK(lbmap_backend_alloc_id(m2, &id)))
			goto out;
		if (i == m2->max_backends - ids[2] - 2)
			ASSERT_EQ(id, 0);
	}
out:
	lbmap_close(m2);
	lbt_teardown(&t);
}

TEST(lookup_agrees_with_datapath)
{
	uint32_t vip, ids[5];
	struct lbt t;

	if (!setup_service(&t, XG_ALGO_MAGLEV, 5, &vip, ids))
		goto out;
	for (int i = 0; i < 200; i++) {
		struct xg_flow_key k = { .family = XG_AF_INET, .proto = 6,
					 .sport = htons(10000 + i), .dport = htons(80) };
		struct lbmap_lookup res;
		char src[16];
		int got;

		client(i, src);
		inet_pton(AF_INET, src, &k.src.v4);
		inet_pton(AF_INET, VIP4, &k.dst.v4);
		if (!ASSERT_OK(lbmap_lookup(t.m, &k, &res)) || !ASSERT_EQ(res.why, LBMAP_WHY_TABLE))
			goto out;
		got = send_flow(&t, i, 0x02);
		if (!ASSERT_GE(got, 0) || !ASSERT_EQ(res.backend_id, ids[got]))
			goto out;
		if (!ASSERT_OK(lbmap_lookup(t.m, &k, &res)) || !ASSERT_EQ(res.why, LBMAP_WHY_CT) ||
		    !ASSERT_EQ(res.backend_id, ids[got]))
			goto out;
	}
out:
	lbt_teardown(&t);
}
