// SPDX-License-Identifier: GPL-2.0
/*
 * Algorithms through the datapath: 100,000 random flows over weighted backends land within
 * 2% of each weight share (maglev, sh, rr, lc); maglev disruption on removing a backend;
 * persistence; the new-flow insert limit; FIN/RST and the lc active counts and their resync;
 * UDP idle timeout; LRU evictions of full tables estimated from the insert counters.
 */
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/lbtest.h"
#include "lib/test.h"

#define VIP4 "198.18.100.1"
#define FLOWS 100000
#define MAXB 8

struct algo_setup {
	struct lbt t;
	uint32_t vip;
	uint32_t ids[MAXB];
	uint32_t addrs[MAXB];	/* network order */
	int n;
};

static bool setup_sized(struct algo_setup *s, uint8_t algo, uint8_t proto,
			const uint16_t *weights, int n, uint32_t persist, uint32_t ct_entries,
			uint32_t persist_entries)
{
	struct lb_opts opts = { .max_vips = 16, .max_backends = 64, .ct_entries = ct_entries,
				.persist_entries = persist_entries };
	char addr[32];

	memset(s, 0, sizeof(*s));
	if (!lbt_setup(&s->t, &opts))
		return false;
	if (!ASSERT_OK(lbt_vip(&s->t, "svc", VIP4, 80, proto, algo, XG_FWD_IPIP, persist,
			       &s->vip)))
		return false;
	for (int b = 0; b < n; b++) {
		snprintf(addr, sizeof(addr), "198.19.0.%d", b + 1);
		s->addrs[b] = inet_addr(addr);
		if (!ASSERT_OK(lbt_backend(&s->t, s->vip, addr, weights[b], NULL, &s->ids[b])))
			return false;
	}
	s->n = n;
	return true;
}

static bool setup(struct algo_setup *s, uint8_t algo, uint8_t proto, const uint16_t *weights,
		  int n, uint32_t persist)
{
	return setup_sized(s, algo, proto, weights, n, persist, 1 << 18, 1 << 12);
}

/* Sends flow (src, sport) with flags; returns the backend index, -1 if not forwarded. */
static int send_flow(struct algo_setup *s, uint32_t src, uint16_t sport, uint8_t proto,
		uint8_t flags)
{
	char a[INET_ADDRSTRLEN];
	struct in_addr in = { .s_addr = src };
	struct lbt_flow f = { .family = 4, .src = a, .dst = VIP4, .proto = proto, .sport = sport,
			      .dport = 80, .payload = 0, .tcp_flags = flags };
	struct pkt pin, out;

	inet_ntop(AF_INET, &in, a, sizeof(a));
	lbt_frame(&f, &pin);
	if (lbt_run(&s->t, &pin, &out) != XDP_TX)
		return -1;
	for (int b = 0; b < s->n; b++)
		if (memcmp(out.b + 14 + 16, &s->addrs[b], 4) == 0)
			return b;
	return -1;
}

/* A random client inside 198.18.0.0/15. */
static uint32_t random_client(void)
{
	return htonl(0xc6120000u | ((uint32_t)rand() & 0x1ffff));
}

static void distribution(uint8_t algo, const char *name)
{
	static const uint16_t weights[4] = { 1, 2, 3, 4 };
	struct algo_setup s;
	int count[4] = {};

	srand(42);
	if (!setup(&s, algo, 6, weights, 4, 0))
		goto out;
	for (int i = 0; i < FLOWS; i++) {
		int b = send_flow(&s, random_client(), (uint16_t)(1024 + rand() % 60000), 6, 0x02);

		if (!ASSERT_GE(b, 0))
			goto out;
		count[b]++;
	}
	for (int b = 0; b < 4; b++) {
		double share = (double)count[b] / FLOWS, want = weights[b] / 10.0;

		fprintf(stderr, "%s: backend weight %u share %.4f (want %.4f)\n", name, weights[b],
			share, want);
		if (!ASSERT_TRUE(fabs(share - want) <= 0.02)) {
			fprintf(stderr, "%s: share %.4f vs %.4f\n", name, share, want);
			break;
		}
	}
out:
	lbt_teardown(&s.t);
}

TEST(distribution_maglev)
{
	distribution(XG_ALGO_MAGLEV, "maglev");
}

TEST(distribution_sh)
{
	distribution(XG_ALGO_SH, "sh");
}

TEST(distribution_rr)
{
	distribution(XG_ALGO_RR, "rr");
}

TEST(distribution_lc)
{
	distribution(XG_ALGO_LC, "lc");
}

/* sh: one client's flows all land on one backend. */
TEST(sh_sticks_by_source)
{
	static const uint16_t w[4] = { 1, 1, 1, 1 };
	struct algo_setup s;
	uint32_t client = inet_addr("198.18.3.3");
	int first;

	if (!setup(&s, XG_ALGO_SH, 6, w, 4, 0))
		goto out;
	first = send_flow(&s, client, 1000, 6, 0x02);
	for (int p = 1001; p < 1100; p++)
		if (!ASSERT_EQ(send_flow(&s, client, (uint16_t)p, 6, 0x02), first))
			break;
out:
	lbt_teardown(&s.t);
}

/*
 * Removing one of N maglev backends, fresh flows (connection table flushed between the two
 * passes): at most 1/N + 2% of the flows move, at most 2% of those not on it.
 */
TEST(maglev_disruption_through_datapath)
{
	enum { N = 5, NF = 20000 };
	static const uint16_t w[N] = { 1, 1, 1, 1, 1 };
	static int before[NF];
	static uint32_t src[NF];
	static uint16_t port[NF];
	struct algo_setup s;
	int moved = 0, moved_other = 0, on_removed = 0;
	uint64_t flushed;

	srand(5);
	if (!setup(&s, XG_ALGO_MAGLEV, 6, w, N, 0))
		goto out;
	for (int i = 0; i < NF; i++) {
		src[i] = random_client();
		port[i] = (uint16_t)(1024 + rand() % 60000);
		before[i] = send_flow(&s, src[i], port[i], 6, 0x02);
	}
	if (!ASSERT_OK(lbmap_ct_flush(s.t.m, XG_VIP_NONE, &flushed)) || !ASSERT_GT(flushed, 0) ||
	    !ASSERT_OK(lbmap_backend_del(s.t.m, s.ids[2])))
		goto out;
	for (int i = 0; i < NF; i++) {
		int after = send_flow(&s, src[i], port[i], 6, 0x02);

		if (!ASSERT_GE(after, 0) || !ASSERT_NE(after, 2))
			goto out;
		if (before[i] == 2) {
			on_removed++;
			continue;
		}
		moved_other += after != before[i];
	}
	moved = on_removed + moved_other;
	fprintf(stderr, "moved %d of %d (%d were on the removed backend)\n", moved, NF, on_removed);
	ASSERT_LE(moved, NF / N + NF / 50);
	ASSERT_LE(moved_other, (NF - on_removed) / 50);
out:
	lbt_teardown(&s.t);
}

TEST(persistence_keeps_client_on_backend)
{
	static const uint16_t w[3] = { 1, 1, 1 };
	uint32_t client = inet_addr("198.18.4.4"), other = inet_addr("198.18.4.5");
	struct algo_setup s;
	int first, moved = 0;

	/* rr would spread a client's flows; persistence keeps them together. */
	if (!setup(&s, XG_ALGO_RR, 6, w, 3, 300))
		goto out;
	lbt_mark(&s.t);
	first = send_flow(&s, client, 2000, 6, 0x02);
	for (int p = 2001; p < 2030; p++)
		if (!ASSERT_EQ(send_flow(&s, client, (uint16_t)p, 6, 0x02), first))
			goto out;
	ASSERT_EQ(lbt_delta(&s.t, XG_R_PERSIST_HIT), 29);
	/* Another client is not bound by it. */
	for (int p = 2000; p < 2003; p++)
		moved += send_flow(&s, other, (uint16_t)p, 6, 0x02) != first;
	ASSERT_GT(moved, 0);
	/* Drain the persisted backend: the client's new flows go elsewhere, and stay together. */
	if (!ASSERT_OK(lbt_backend_state(&s.t, s.ids[first], XG_BE_F_DRAIN, 1)))
		goto out;
	{
		int next = send_flow(&s, client, 3000, 6, 0x02);

		ASSERT_NE(next, first);
		ASSERT_EQ(send_flow(&s, client, 3001, 6, 0x02), next);
		/* the established flow stays on the draining backend */
		ASSERT_EQ(send_flow(&s, client, 2000, 6, 0x10), first);
	}
out:
	lbt_teardown(&s.t);
}

TEST(insert_rate_limit)
{
	static const uint16_t w[2] = { 1, 1 };
	struct xg_settings set = {};
	struct algo_setup s;
	uint64_t skipped, missed;

	if (!setup(&s, XG_ALGO_MAGLEV, 6, w, 2, 0))
		goto out;
	set.new_flow_rate = 10;
	if (!ASSERT_OK(lbmap_settings_set(s.t.m, &set)))
		goto out;
	lbt_mark(&s.t);
	for (int i = 0; i < 60; i++)
		if (!ASSERT_GE(send_flow(&s, inet_addr("198.18.5.5"), (uint16_t)(4000 + i), 6, 0x02), 0))
			goto out;
	skipped = lbt_delta(&s.t, XG_R_CT_INSERT_SKIPPED);
	missed = lbt_delta(&s.t, XG_R_CT_MISS);
	ASSERT_EQ(missed, 60);
	/* 10 per second per CPU: the run takes milliseconds, but may switch CPU once or twice. */
	ASSERT_GE(skipped, 60 - 10 * (uint64_t)libbpf_num_possible_cpus());
	ASSERT_LE(skipped, 50);
	ASSERT_EQ(lbt_delta(&s.t, XG_R_FWD_IPIP), 60);
out:
	lbt_teardown(&s.t);
}

TEST(fin_counts_flows_out_and_resync_agrees)
{
	static const uint16_t w[2] = { 1, 1 };
	uint32_t client = inet_addr("198.18.6.6");
	struct algo_setup s;
	int64_t a0, a1, r0, r1;
	uint64_t flushed;

	if (!setup(&s, XG_ALGO_LC, 6, w, 2, 0))
		goto out;
	for (int p = 0; p < 10; p++)
		send_flow(&s, client, (uint16_t)(5000 + p), 6, 0x02);
	ASSERT_OK(lbmap_backend_active(s.t.m, s.ids[0], &a0));
	ASSERT_OK(lbmap_backend_active(s.t.m, s.ids[1], &a1));
	ASSERT_EQ(a0, 5);		/* lc alternates between equal backends */
	ASSERT_EQ(a1, 5);
	lbt_mark(&s.t);
	send_flow(&s, client, 5000, 6, 0x11);	/* FIN */
	send_flow(&s, client, 5000, 6, 0x11);	/* again: counted once */
	send_flow(&s, client, 5001, 6, 0x04);	/* RST */
	send_flow(&s, client, 5002, 6, 0x10);	/* plain ACK */
	ASSERT_EQ(lbt_delta(&s.t, XG_R_CT_CLOSE), 2);
	ASSERT_OK(lbmap_backend_active(s.t.m, s.ids[0], &a0));
	ASSERT_OK(lbmap_backend_active(s.t.m, s.ids[1], &a1));
	ASSERT_EQ(a0 + a1, 8);
	/* Resync from the table gives the same counts. */
	ASSERT_OK(lbmap_lc_resync(s.t.m));
	ASSERT_OK(lbmap_backend_active(s.t.m, s.ids[0], &r0));
	ASSERT_OK(lbmap_backend_active(s.t.m, s.ids[1], &r1));
	ASSERT_EQ(r0, a0);
	ASSERT_EQ(r1, a1);
	/* A SYN on a closed flow is a new flow. */
	lbt_mark(&s.t);
	send_flow(&s, client, 5000, 6, 0x02);
	ASSERT_EQ(lbt_delta(&s.t, XG_R_CT_RESELECT), 1);
	/* Flushing the table zeroes the counts. */
	ASSERT_OK(lbmap_ct_flush(s.t.m, s.vip, &flushed));
	ASSERT_EQ(flushed, 10);
	ASSERT_OK(lbmap_backend_active(s.t.m, s.ids[0], &r0));
	ASSERT_OK(lbmap_backend_active(s.t.m, s.ids[1], &r1));
	ASSERT_EQ(r0 + r1, 0);
out:
	lbt_teardown(&s.t);
}

/* Makes the connection-table entries look idle for `ago` nanoseconds. */
static int age_entries(struct lbmap *m, uint64_t ago)
{
	struct xg_flow_key key, next;
	struct xg_ct_value v;
	void *prev = NULL;
	int fd = m->fd[LBMAP_CONNTRACK], n = 0;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
			v.last_seen_ns -= ago;
			n += bpf_map_update_elem(fd, &next, &v, BPF_EXIST) == 0;
		}
		key = next;
		prev = &key;
	}
	return n;
}

TEST(udp_idle_flow_is_new_again)
{
	static const uint16_t w[3] = { 1, 1, 1 };
	uint32_t client = inet_addr("198.18.8.8");
	struct algo_setup s;
	struct xg_flow_stats st;
	int first;

	if (!setup(&s, XG_ALGO_RR, 17, w, 3, 0))
		goto out;
	first = send_flow(&s, client, 6000, 17, 0);
	ASSERT_EQ(send_flow(&s, client, 6000, 17, 0), first);	/* within the timeout: same */
	/* Idle for longer than the default UDP timeout: a new flow, and rr moves on. */
	if (!ASSERT_EQ(age_entries(s.t.m, XG_CT_TIMEOUT_UDP_DEFAULT_NS + 1000000000ull), 1))
		goto out;
	lbt_mark(&s.t);
	ASSERT_NE(send_flow(&s, client, 6000, 17, 0), first);
	ASSERT_EQ(lbt_delta(&s.t, XG_R_CT_RESELECT), 1);
	ASSERT_OK(lbmap_stats_vip(s.t.m, s.vip, &st));
	ASSERT_EQ(st.new_flows, 2);
	ASSERT_EQ(st.packets, 3);
out:
	lbt_teardown(&s.t);
}

TEST(tcp_idle_flow_keeps_backend)
{
	static const uint16_t w[3] = { 1, 1, 1 };
	uint32_t client = inet_addr("198.18.8.9");
	struct algo_setup s;
	int first;

	if (!setup(&s, XG_ALGO_RR, 6, w, 3, 0))
		goto out;
	first = send_flow(&s, client, 6001, 6, 0x02);
	if (!ASSERT_EQ(age_entries(s.t.m, 3600ull * 1000000000ull), 1))
		goto out;
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(send_flow(&s, client, 6001, 6, 0x10), first);
out:
	lbt_teardown(&s.t);
}

/*
 * Tables far smaller than the flows: the kernel's LRU evicts without telling, the datapath
 * counts inserts (not hits), flushes are counted apart, and inserts - flushed - entries
 * gives the evictions (exact here: one thread, so no two CPUs insert the same flow).
 */
TEST(lru_evictions_estimated)
{
	enum { CT = 1024, PERSIST = 512, FEW = 100, MANY = 5000 };
	static const uint16_t w[2] = { 1, 1 };
	struct algo_setup s;
	struct lbmap_evictions ev;
	uint64_t flushed;
	uint32_t pvip, pbe;

	srand(11);
	if (!setup_sized(&s, XG_ALGO_MAGLEV, 6, w, 2, 0, CT, PERSIST))
		goto out;
	if (!ASSERT_OK(lbt_vip(&s.t, "sticky", "198.18.100.2", 80, 6, XG_ALGO_RR, XG_FWD_IPIP, 60,
			       &pvip)) ||
	    !ASSERT_OK(lbt_backend(&s.t, pvip, "198.19.1.1", 1, NULL, &pbe)))
		goto out;
	for (int round = 0; round < 2; round++)	/* the second round only hits */
		for (int i = 0; i < FEW; i++)
			if (!ASSERT_GE(send_flow(&s, htonl(0xc6120000u + i), 1000, 6, 0x02), 0))
				goto out;
	if (!ASSERT_OK(lbmap_evictions(s.t.m, &ev)))
		goto out;
	ASSERT_EQ(ev.ct_inserts, FEW);
	ASSERT_EQ(ev.ct_entries, FEW);
	ASSERT_EQ(ev.ct_evicted, 0);
	/* a flush is not an eviction */
	if (!ASSERT_OK(lbmap_ct_flush(s.t.m, XG_VIP_NONE, &flushed)) || !ASSERT_EQ(flushed, FEW) ||
	    !ASSERT_OK(lbmap_evictions(s.t.m, &ev)))
		goto out;
	ASSERT_EQ(ev.ct_entries, 0);
	ASSERT_EQ(ev.ct_evicted, 0);
	for (int i = 0; i < MANY; i++)
		if (!ASSERT_GE(send_flow(&s, random_client(), (uint16_t)(1024 + i), 6, 0x02), 0))
			goto out;
	if (!ASSERT_OK(lbmap_evictions(s.t.m, &ev)))
		goto out;
	ASSERT_EQ(ev.ct_inserts, FEW + MANY);
	ASSERT_LE(ev.ct_entries, CT);
	ASSERT_EQ(ev.ct_evicted, MANY - ev.ct_entries);
	ASSERT_GE(ev.ct_evicted, MANY - CT);
	/* persistence: one entry per client; a full table evicts too */
	for (int i = 0; i < MANY; i++) {
		char a[INET_ADDRSTRLEN];
		struct in_addr in = { .s_addr = htonl(0xc6130000u + i) };
		struct lbt_flow f = { .family = 4, .src = a, .dst = "198.18.100.2", .proto = 6,
				      .sport = 2000, .dport = 80, .tcp_flags = 0x02 };
		struct pkt pin, pout;

		inet_ntop(AF_INET, &in, a, sizeof(a));
		lbt_frame(&f, &pin);
		if (!ASSERT_EQ(lbt_run(&s.t, &pin, &pout), XDP_TX))
			goto out;
	}
	if (!ASSERT_OK(lbmap_evictions(s.t.m, &ev)))
		goto out;
	ASSERT_EQ(ev.persist_inserts, MANY);
	ASSERT_LE(ev.persist_entries, PERSIST);
	ASSERT_EQ(ev.persist_evicted, MANY - ev.persist_entries);
	ASSERT_GE(ev.persist_evicted, MANY - PERSIST);
out:
	lbt_teardown(&s.t);
}
