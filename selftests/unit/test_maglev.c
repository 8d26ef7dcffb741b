// SPDX-License-Identifier: GPL-2.0
/* Selection-table builders: weighted Maglev shares, sizing, disruption; rr sequence; lc list. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <xdpgw/hash.h>

#include "lib/maglev.h"
#include "lib/sel.h"
#include "lib/test.h"

static void backends(struct sel_backend *b, size_t n, const uint32_t *weights)
{
	for (size_t i = 0; i < n; i++) {
		b[i] = (struct sel_backend){ .id = (uint32_t)(100 + i), .family = XG_AF_INET,
					     .weight = weights ? weights[i] : 1 };
		b[i].addr.v4 = htonl(0xc6130000 + (uint32_t)i + 1);
	}
	sel_sort(b, n);
}

TEST(primes)
{
	ASSERT_TRUE(maglev_is_prime(2));
	ASSERT_TRUE(maglev_is_prime(65521));
	ASSERT_FALSE(maglev_is_prime(65535));
	ASSERT_FALSE(maglev_is_prime(1));
	ASSERT_EQ(maglev_next_prime(1022), 1031);
	ASSERT_EQ(maglev_next_prime(65520), 65521);
}

TEST(shares_within_one_percent)
{
	static const uint32_t sets[][6] = {
		{ 1, 1, 1, 1, 1, 1 }, { 1, 2, 3, 4, 5, 6 }, { 100, 1, 1, 1, 1, 1 },
		{ 7, 13, 100, 3, 50, 2 },
	};
	struct sel_backend b[6];

	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		uint32_t size, *table;
		bool within = false;

		backends(b, 6, sets[s]);
		size = maglev_size(b, 6, 0, XG_SEL_MAX, &within);
		if (!ASSERT_GT(size, 6) || !ASSERT_TRUE(within) ||
		    !ASSERT_TRUE(maglev_is_prime(size)))
			return;
		table = malloc(size * sizeof(*table));
		if (!ASSERT_OK(maglev_build(b, 6, size, table)))
			return;
		ASSERT_TRUE(maglev_max_share_error(b, 6, table, size) <= 0.01);
		for (uint32_t i = 0; i < size; i++)
			if (!ASSERT_TRUE(table[i] >= 100 && table[i] < 106))
				break;
		free(table);
	}
}

TEST(size_is_capped)
{
	uint32_t w[2] = { 1, 65535 };
	struct sel_backend b[2];
	bool within = true;

	backends(b, 2, w);
	ASSERT_EQ(maglev_size(b, 2, 0, 1000, &within), 997);	/* largest prime <= 1000 */
	ASSERT_FALSE(within);
}

TEST(same_table_whatever_the_ids_order)
{
	struct sel_backend a[5], b[5];
	uint32_t ta[1021], tb[1021];

	backends(a, 5, NULL);
	for (int i = 0; i < 5; i++)
		b[i] = a[4 - i];
	sel_sort(b, 5);
	ASSERT_OK(maglev_build(a, 5, 1021, ta));
	ASSERT_OK(maglev_build(b, 5, 1021, tb));
	ASSERT_MEMEQ(ta, sizeof(ta), tb, sizeof(tb));
}

TEST(bad_input)
{
	struct sel_backend b[2];
	uint32_t t[8], w0[2] = { 1, 0 };

	backends(b, 2, NULL);
	ASSERT_ERR(maglev_build(b, 0, 7, t), -EINVAL);
	ASSERT_ERR(maglev_build(b, 2, 8, t), -EINVAL);		/* not prime */
	ASSERT_ERR(maglev_build(b, 2, 2, t), -EINVAL);		/* not larger than n */
	backends(b, 2, w0);
	ASSERT_ERR(maglev_build(b, 2, 7, t), -EINVAL);		/* zero weight */
	ASSERT_EQ(maglev_size(b, 2, 0, 1000, NULL), 0);
}

/*
 * Removing one of N backends at the same table size (lbmap keeps a service's size): fresh flows
 * (no connection table) move at most 1/N + 2%, and at most 2% of those not on the removed one.
 */
TEST(disruption_on_removal)
{
	enum { N = 10, FLOWS = 100000 };
	struct sel_backend b[N], fewer[N - 1];
	uint32_t size, size2, *t1, *t2;
	int moved = 0, moved_not_removed = 0, on_removed = 0;

	backends(b, N, NULL);
	size = maglev_size(b, N, 0, XG_SEL_MAX, NULL);
	t1 = malloc(size * sizeof(*t1));
	ASSERT_OK(maglev_build(b, N, size, t1));
	for (int i = 0, j = 0; i < N; i++)
		if (i != 3)
			fewer[j++] = b[i];
	size2 = maglev_size(fewer, N - 1, size, XG_SEL_MAX, NULL);
	ASSERT_EQ(size2, size);
	t2 = malloc(size2 * sizeof(*t2));
	ASSERT_OK(maglev_build(fewer, N - 1, size2, t2));
	srand(7);
	for (int f = 0; f < FLOWS; f++) {
		struct xg_flow_key k = { .family = XG_AF_INET, .proto = 6 };
		uint32_t h, before, after;

		k.src.v4 = (uint32_t)rand();
		k.dst.v4 = htonl(0xc6126401);
		k.sport = (uint16_t)rand();
		k.dport = htons(80);
		h = xg_flow_hash(&k, 0);
		before = t1[h % size];
		after = t2[h % size2];
		if (before == b[3].id) {
			on_removed++;
			continue;
		}
		moved += before != after;
		moved_not_removed += before != after;
	}
	moved += on_removed;
	ASSERT_LE(moved, FLOWS / N + FLOWS / 50);
	/* Of the flows that were not on the removed backend, at most 2% move. */
	ASSERT_LE(moved_not_removed, (FLOWS - on_removed) / 50);
	free(t1);
	free(t2);
}

TEST(rr_sequence_counts_and_spread)
{
	uint32_t w[3] = { 5, 1, 1 }, seq[64];
	struct sel_backend b[3];
	int count[3] = {}, run = 0, longest = 0;
	int len;

	backends(b, 3, w);
	len = sel_rr_sequence(b, 3, 64, seq);
	if (!ASSERT_EQ(len, 7))
		return;
	for (int i = 0; i < len; i++) {
		for (int j = 0; j < 3; j++)
			count[j] += seq[i] == b[j].id;
		run = i && seq[i] == seq[i - 1] ? run + 1 : 1;
		if (run > longest)
			longest = run;
	}
	for (int j = 0; j < 3; j++)
		ASSERT_EQ(count[j], (int)b[j].weight);
	ASSERT_LE(longest, 3);		/* smooth: the heavy one is interleaved */
	/* gcd reduces: weights 10, 20 -> 1, 2 */
	w[0] = 10;
	w[1] = 20;
	backends(b, 2, w);
	ASSERT_EQ(sel_rr_sequence(b, 2, 64, seq), 3);
	/* scaled to fit max */
	w[0] = 60000;
	w[1] = 1;
	backends(b, 2, w);
	len = sel_rr_sequence(b, 2, 64, seq);
	ASSERT_TRUE(len > 0 && len <= 64);
}

TEST(lc_list_limits)
{
	struct sel_backend b[XG_LC_MAX_BACKENDS + 1];
	uint32_t ids[XG_LC_MAX_BACKENDS + 1];

	backends(b, XG_LC_MAX_BACKENDS + 1, NULL);
	ASSERT_EQ(sel_lc_list(b, XG_LC_MAX_BACKENDS, ids), XG_LC_MAX_BACKENDS);
	ASSERT_ERR(sel_lc_list(b, XG_LC_MAX_BACKENDS + 1, ids), -E2BIG);
	ASSERT_ERR(sel_lc_list(b, 0, ids), -EINVAL);
}
