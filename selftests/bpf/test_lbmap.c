// SPDX-License-Identifier: GPL-2.0
/*
 * The map library's contract: every bad input gets its errno and changes nothing; service key
 * changes, deletes and algorithm changes leave lb_vips, lb_vip_addrs, the filter and the
 * selection tables consistent; table sizes and the selection budget; the memory formula.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <xdpgw/hash.h>

#include "lib/lbtest.h"
#include "lib/maglev.h"
#include "lib/test.h"

static struct xg_vip_key key4(const char *addr, uint16_t port)
{
	struct xg_vip_key k = { .port = htons(port), .proto = 6, .family = XG_AF_INET };

	k.addr.v4 = inet_addr(addr);
	return k;
}

#define K4(a, p)                                                                                   \
	(&(struct xg_vip_key){ .addr.v4 = inet_addr(a), .port = htons(p), .proto = 6,               \
			       .family = XG_AF_INET })

static int count_map(struct lbmap *m, enum lbmap_id id, size_t ksize)
{
	char key[64], next[64];
	void *prev = NULL;
	int n = 0;

	while (bpf_map_get_next_key(m->fd[id], prev, next) == 0) {
		memcpy(key, next, ksize);
		prev = key;
		n++;
	}
	return n;
}

static int filter_bits(struct lbmap *m)
{
	int bits = 0;

	for (uint32_t w = 0; w < XG_VIP_FILTER_WORDS; w++) {
		uint64_t v = 0;

		bpf_map_lookup_elem(m->fd[LBMAP_VIP_FILTER], &w, &v);
		bits += __builtin_popcountll(v);
	}
	return bits;
}

TEST(vip_bad_input_changes_nothing)
{
	struct xg_vip vip = { .algo = XG_ALGO_MAGLEV }, bad;
	struct xg_vip_key k = key4("198.18.100.1", 80), kb;
	struct xg_vip_info before, after;
	char longname[XG_NAME_LEN + 1];
	struct lbt t;

	if (!lbt_setup(&t, NULL))
		return;
	if (!ASSERT_OK(lbmap_vip_set(t.m, 0, "web", &k, &vip)) ||
	    !ASSERT_OK(lbmap_vip_get(t.m, 0, &before)))
		goto out;
	memset(longname, 'x', XG_NAME_LEN);
	longname[XG_NAME_LEN] = 0;
	ASSERT_ERR(lbmap_vip_set(t.m, 1, "", &k, &vip), -EINVAL);
	ASSERT_ERR(lbmap_vip_set(t.m, 1, longname, &k, &vip), -EINVAL);
	ASSERT_ERR(lbmap_vip_set(t.m, 1000, "other", &k, &vip), -EINVAL);
	kb = k;
	kb.family = 5;
	ASSERT_ERR(lbmap_vip_set(t.m, 1, "other", &kb, &vip), -EINVAL);
	kb = k;
	kb.addr.v6[2] = 1;
	ASSERT_ERR(lbmap_vip_set(t.m, 1, "other", &kb, &vip), -EINVAL);
	kb = k;
	kb.proto = 1;
	ASSERT_ERR(lbmap_vip_set(t.m, 1, "other", &kb, &vip), -EINVAL);
	bad = vip;
	bad.algo = XG_ALGO_MAX;
	ASSERT_ERR(lbmap_vip_set(t.m, 1, "other", K4("198.18.100.2", 80), &bad), -EINVAL);
	bad = vip;
	bad.fwd = XG_FWD_MAX;
	ASSERT_ERR(lbmap_vip_set(t.m, 1, "other", K4("198.18.100.2", 80), &bad), -EINVAL);
	ASSERT_ERR(lbmap_vip_set(t.m, 1, "other", &k, &vip), -EEXIST);	/* key of web */
	ASSERT_ERR(lbmap_vip_set(t.m, 1, "web", K4("198.18.100.2", 80), &vip), -EEXIST);
	ASSERT_ERR(lbmap_vip_del(t.m, 1), -ENOENT);
	ASSERT_OK(lbmap_vip_get(t.m, 0, &after));
	ASSERT_MEMEQ(&after, sizeof(after), &before, sizeof(before));
	ASSERT_EQ(count_map(t.m, LBMAP_VIPS, sizeof(struct xg_vip_key)), 1);
	ASSERT_EQ(count_map(t.m, LBMAP_VIP_ADDRS, sizeof(struct xg_addr_key)), 1);
	ASSERT_EQ(filter_bits(t.m), 1);
out:
	lbt_teardown(&t);
}

TEST(vip_key_change_and_delete_keep_maps_consistent)
{
	struct xg_vip vip = { .algo = XG_ALGO_MAGLEV };
	struct xg_vip_key k1 = key4("198.18.100.1", 80), k2 = key4("198.18.100.2", 443);
	struct xg_vip_key k3 = key4("198.18.100.1", 81);
	uint32_t id;
	struct lbt t;

	if (!lbt_setup(&t, NULL))
		return;
	if (!ASSERT_OK(lbmap_vip_set(t.m, 0, "a", &k1, &vip)) ||
	    !ASSERT_OK(lbmap_vip_set(t.m, 1, "b", &k3, &vip)))
		goto out;
	ASSERT_EQ(count_map(t.m, LBMAP_VIP_ADDRS, sizeof(struct xg_addr_key)), 1);
	/* a moves to another address: both addresses are VIP addresses now */
	ASSERT_OK(lbmap_vip_set(t.m, 0, "a", &k2, &vip));
	ASSERT_ERR(lbmap_vip_find_key(t.m, &k1, &id), -ENOENT);
	ASSERT_OK(lbmap_vip_find_key(t.m, &k2, &id));
	ASSERT_EQ(id, 0);
	ASSERT_EQ(count_map(t.m, LBMAP_VIPS, sizeof(struct xg_vip_key)), 2);
	ASSERT_EQ(count_map(t.m, LBMAP_VIP_ADDRS, sizeof(struct xg_addr_key)), 2);
	/* b goes: its address is no VIP address any more, and its filter bit is clear */
	ASSERT_OK(lbmap_vip_del(t.m, 1));
	ASSERT_EQ(count_map(t.m, LBMAP_VIP_ADDRS, sizeof(struct xg_addr_key)), 1);
	ASSERT_EQ(filter_bits(t.m), 1);
	ASSERT_OK(lbmap_vip_del(t.m, 0));
	ASSERT_EQ(count_map(t.m, LBMAP_VIPS, sizeof(struct xg_vip_key)), 0);
	ASSERT_EQ(count_map(t.m, LBMAP_VIP_ADDRS, sizeof(struct xg_addr_key)), 0);
	ASSERT_EQ(filter_bits(t.m), 0);
	ASSERT_ERR(lbmap_vip_find(t.m, "a", &id), -ENOENT);
out:
	lbt_teardown(&t);
}

TEST(backend_bad_input_changes_nothing)
{
	struct xg_vip vip = { .algo = XG_ALGO_MAGLEV }, vl2 = { .fwd = XG_FWD_L2 };
	struct xg_backend be = { .family = XG_AF_INET, .weight = 1, .vip_id = 0 }, b, got;
	uint32_t sel[4], n;
	struct lbt t;

	if (!lbt_setup(&t, NULL))
		return;
	be.addr.v4 = inet_addr("198.19.0.1");
	if (!ASSERT_OK(lbmap_vip_set(t.m, 0, "web", K4("198.18.100.1", 80), &vip)) ||
	    !ASSERT_OK(lbmap_vip_set(t.m, 1, "l2", K4("198.18.100.1", 81), &vl2)) ||
	    !ASSERT_OK(lbmap_backend_set(t.m, 0, &be)))
		goto out;
	b = be;
	b.vip_id = 5;					/* no such service */
	ASSERT_ERR(lbmap_backend_set(t.m, 1, &b), -EINVAL);
	b = be;
	b.family = 0;
	ASSERT_ERR(lbmap_backend_set(t.m, 1, &b), -EINVAL);
	ASSERT_ERR(lbmap_backend_set(t.m, 1, &be), -EEXIST);	/* same address, same service */
	ASSERT_ERR(lbmap_backend_set(t.m, 100000, &be), -EINVAL);
	b = be;
	b.vip_id = 1;
	b.family = XG_AF_INET6;
	inet_pton(AF_INET6, "2001:2::5", b.addr.bytes);
	ASSERT_ERR(lbmap_backend_set(t.m, 1, &b), -EINVAL);	/* l2 needs the VIP's family */
	b = be;
	b.vip_id = 1;
	ASSERT_ERR(lbmap_backend_set(t.m, 0, &b), -EBUSY);	/* id belongs to another service */
	ASSERT_ERR(lbmap_backend_del(t.m, 9), -ENOENT);
	ASSERT_ERR(lbmap_backend_get(t.m, 1, &got), -ENOENT);
	ASSERT_OK(lbmap_backend_get(t.m, 0, &got));
	ASSERT_EQ(got.vip_id, 0);
	ASSERT_OK(lbmap_sel_read(t.m, 0, sel, 4, &n));
	ASSERT_EQ(n, XG_SEL_DEFAULT);
out:
	lbt_teardown(&t);
}

TEST(backends_apply_in_one_swap)
{
	struct xg_vip vip = { .algo = XG_ALGO_RR };
	struct lbmap_be_change c[4] = {};
	struct xg_vip_info before, after;
	struct xg_backend got;
	uint32_t sel[16], n;
	struct lbt t;

	if (!lbt_setup(&t, NULL))
		return;
	if (!ASSERT_OK(lbmap_vip_set(t.m, 0, "web", K4("198.18.100.1", 80), &vip)))
		goto out;
	for (int i = 0; i < 3; i++) {
		c[i].id = 10 + i;
		c[i].be = (struct xg_backend){ .family = XG_AF_INET, .weight = 1, .vip_id = 0 };
		c[i].be.addr.v4 = htonl(0xc6130001 + i);
	}
	ASSERT_OK(lbmap_vip_get(t.m, 0, &before));
	ASSERT_OK(lbmap_backends_apply(t.m, 0, c, 3));
	ASSERT_OK(lbmap_vip_get(t.m, 0, &after));
	ASSERT_EQ(after.sel_size, 3);
	ASSERT_EQ(after.generation, before.generation + 1);	/* one table swap */
	/* a bad batch changes nothing: the second change reuses the first's address */
	c[0].be.weight = 5;
	c[1].be.addr = c[0].be.addr;
	ASSERT_ERR(lbmap_backends_apply(t.m, 0, c, 2), -EEXIST);
	ASSERT_OK(lbmap_backend_get(t.m, 10, &got));
	ASSERT_EQ(got.weight, 1);
	c[1].be.addr.v4 = htonl(0xc6130002);
	c[1].id = 10;					/* the same id twice */
	ASSERT_ERR(lbmap_backends_apply(t.m, 0, c, 2), -EINVAL);
	/* weight change, one down, one removed, one new, in one swap */
	c[0] = (struct lbmap_be_change){ .id = 10, .be = got };
	c[0].be.weight = 2;
	c[1] = (struct lbmap_be_change){ .id = 11 };
	ASSERT_OK(lbmap_backend_get(t.m, 11, &c[1].be));
	c[1].be.flags |= XG_BE_F_DOWN;
	c[2] = (struct lbmap_be_change){ .id = 12, .del = true };
	c[3] = (struct lbmap_be_change){ .id = 13, .be = got };
	c[3].be.addr.v4 = htonl(0xc6130009);
	ASSERT_OK(lbmap_vip_get(t.m, 0, &before));
	ASSERT_OK(lbmap_backends_apply(t.m, 0, c, 4));
	ASSERT_OK(lbmap_vip_get(t.m, 0, &after));
	ASSERT_EQ(after.generation, before.generation + 1);
	ASSERT_OK(lbmap_sel_read(t.m, 0, sel, 16, &n));
	ASSERT_EQ(n, 3);				/* 10 twice (weight 2), 13 once */
	ASSERT_ERR(lbmap_backend_get(t.m, 12, &got), -ENOENT);
	ASSERT_OK(lbmap_backend_get(t.m, 11, &got));
	ASSERT_TRUE(got.flags & XG_BE_F_DOWN);
	c[0] = (struct lbmap_be_change){ .id = 12, .del = true };
	ASSERT_ERR(lbmap_backends_apply(t.m, 0, c, 1), -ENOENT);
out:
	lbt_teardown(&t);
}

/*
 * Tables are filled through a mapping (mmapable inner arrays); an lb_selection pinned by an
 * older version (inner template without BPF_F_MMAPABLE) refuses those, and the library falls
 * back to batch-filled tables. Both read back slot for slot.
 */
TEST(selection_tables_mmapable_and_plain)
{
	LIBBPF_OPTS(bpf_map_create_opts, plain, .map_flags = BPF_F_INNER_MAP);
	struct xg_vip vip = { .algo = XG_ALGO_RR };
	uint32_t sel[16], n, heavy, light;
	int tmpl, outer, saved;
	struct lbt t;

	if (!lbt_setup(&t, NULL))
		return;
	ASSERT_OK(lbmap_vip_set(t.m, 0, "web", K4("198.18.100.1", 80), &vip));
	ASSERT_OK(lbt_backend(&t, 0, "198.19.0.1", 2, NULL, &heavy));
	ASSERT_OK(lbt_backend(&t, 0, "198.19.0.2", 1, NULL, &light));
	ASSERT_FALSE(t.m->sel_plain);
	ASSERT_OK(lbmap_sel_read(t.m, 0, sel, 16, &n));
	ASSERT_EQ(n, 3);	/* smooth weighted round robin: heavy, light, heavy */
	ASSERT_TRUE(sel[0] == heavy && sel[1] == light && sel[2] == heavy);
	/* an outer map whose template is a plain inner array, as older versions pinned */
	tmpl = bpf_map_create(BPF_MAP_TYPE_ARRAY, "old_tmpl", 4, 4, 1, &plain);
	LIBBPF_OPTS(bpf_map_create_opts, oo, .inner_map_fd = tmpl);
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "old_sel", 4, 4,
			       t.m->max_entries[LBMAP_SELECTION], &oo);
	if (!ASSERT_TRUE(tmpl >= 0 && outer >= 0))
		goto out;
	saved = t.m->fd[LBMAP_SELECTION];
	t.m->fd[LBMAP_SELECTION] = outer;
	ASSERT_OK(lbmap_sel_publish(t.m, 0));
	ASSERT_TRUE(t.m->sel_plain);
	ASSERT_OK(lbmap_sel_read(t.m, 0, sel, 16, &n));
	ASSERT_EQ(n, 3);
	ASSERT_TRUE(sel[0] == heavy && sel[1] == light && sel[2] == heavy);
	t.m->fd[LBMAP_SELECTION] = saved;
out:
	if (outer >= 0)
		close(outer);
	if (tmpl >= 0)
		close(tmpl);
	lbt_teardown(&t);
}

TEST(lc_backend_limit_and_budget)
{
	struct lb_opts opts = { .max_vips = 8, .max_backends = 128, .ct_entries = 1024,
				.persist_entries = 64 };
	struct xg_vip lc = { .algo = XG_ALGO_LC }, mg = { .algo = XG_ALGO_MAGLEV };
	struct xg_backend be = { .family = XG_AF_INET, .weight = 1, .vip_id = 0 }, got;
	struct xg_vip_info info;
	uint32_t n, ids[XG_LC_MAX_BACKENDS];
	struct lbt t;

	if (!lbt_setup(&t, &opts))
		return;
	if (!ASSERT_OK(lbmap_vip_set(t.m, 0, "lc", K4("198.18.100.1", 80), &lc)))
		goto out;
	for (uint32_t i = 0; i < XG_LC_MAX_BACKENDS; i++) {
		be.addr.v4 = htonl(0xc6130001 + i);
		if (!ASSERT_OK(lbmap_backend_set(t.m, i, &be)))
			goto out;
	}
	be.addr.v4 = htonl(0xc6130100);
	ASSERT_ERR(lbmap_backend_set(t.m, 64, &be), -E2BIG);
	ASSERT_ERR(lbmap_backend_get(t.m, 64, &got), -ENOENT);	/* left as it was */
	ASSERT_OK(lbmap_sel_read(t.m, 0, ids, XG_LC_MAX_BACKENDS, &n));
	ASSERT_EQ(n, XG_LC_MAX_BACKENDS);
	/* draining one makes room: it leaves the list */
	be.addr.v4 = htonl(0xc6130001);
	be.flags = XG_BE_F_DRAIN;
	ASSERT_OK(lbmap_backend_set(t.m, 0, &be));
	ASSERT_OK(lbmap_sel_read(t.m, 0, ids, XG_LC_MAX_BACKENDS, &n));
	ASSERT_EQ(n, XG_LC_MAX_BACKENDS - 1);

	/* The selection budget: a maglev table that would not fit is refused. */
	t.m->sel_budget = XG_SEL_DEFAULT;	/* the lc list (63) already uses some */
	if (!ASSERT_OK(lbmap_vip_set(t.m, 1, "mg", K4("198.18.100.2", 80), &mg)))
		goto out;
	be = (struct xg_backend){ .family = XG_AF_INET, .weight = 1, .vip_id = 1 };
	be.addr.v4 = htonl(0xc6130200);
	ASSERT_ERR(lbmap_backend_set(t.m, 100, &be), -E2BIG);
	ASSERT_OK(lbmap_vip_get(t.m, 1, &info));
	ASSERT_EQ(info.sel_size, 0);
out:
	lbt_teardown(&t);
}

TEST(table_sizes)
{
	struct xg_vip vip = { .algo = XG_ALGO_MAGLEV };
	struct xg_backend be = { .family = XG_AF_INET, .weight = 1, .vip_id = 0 };
	struct xg_vip_info info;
	struct lbt t;

	if (!lbt_setup(&t, NULL))
		return;
	be.addr.v4 = inet_addr("198.19.0.1");
	if (!ASSERT_OK(lbmap_vip_set(t.m, 0, "web", K4("198.18.100.1", 80), &vip)) ||
	    !ASSERT_OK(lbmap_backend_set(t.m, 0, &be)))
		goto out;
	ASSERT_ERR(lbmap_vip_set_table_size(t.m, 0, 1000), -EINVAL);		/* not prime */
	ASSERT_ERR(lbmap_vip_set_table_size(t.m, 0, 65537), -EINVAL);		/* over max */
	ASSERT_ERR(lbmap_vip_set_table_size(t.m, 0, 13), -EINVAL);		/* under min */
	ASSERT_ERR(lbmap_vip_set_table_size(t.m, 3, 4099), -ENOENT);
	ASSERT_OK(lbmap_vip_set_table_size(t.m, 0, 4099));
	ASSERT_OK(lbmap_vip_get(t.m, 0, &info));
	ASSERT_EQ(info.sel_size, 4099);
	/* 20 backends need 20000 slots: the table grows (at least doubles) and keeps that size */
	for (uint32_t i = 1; i < 20; i++) {
		be.addr.v4 = htonl(0xc6130001 + i);
		ASSERT_OK(lbmap_backend_set(t.m, i, &be));
	}
	ASSERT_OK(lbmap_vip_get(t.m, 0, &info));
	ASSERT_GE(info.sel_size, 20000);
	ASSERT_TRUE(maglev_is_prime(info.sel_size));
	{
		uint32_t grown = info.sel_size;

		ASSERT_OK(lbmap_backend_del(t.m, 19));
		ASSERT_OK(lbmap_vip_get(t.m, 0, &info));
		ASSERT_EQ(info.sel_size, grown);		/* removal keeps the size */
	}
	/* rr: the table is the weighted sequence */
	vip.algo = XG_ALGO_RR;
	ASSERT_OK(lbmap_vip_set(t.m, 0, "web", K4("198.18.100.1", 80), &vip));
	ASSERT_OK(lbmap_vip_get(t.m, 0, &info));
	ASSERT_EQ(info.sel_size, 19);
out:
	lbt_teardown(&t);
}

TEST(links)
{
	struct xg_link link = { .ifindex = 0, .mtu = 1500 }, got;
	struct lbt t;

	if (!lbt_setup(&t, NULL))
		return;
	ASSERT_ERR(lbmap_link_set(t.m, &link), -EINVAL);
	link.ifindex = XG_MAX_IFINDEX;
	ASSERT_ERR(lbmap_link_set(t.m, &link), -ERANGE);
	link.ifindex = 7;
	link.src4_hash_bits = 17;
	ASSERT_ERR(lbmap_link_set(t.m, &link), -EINVAL);
	ASSERT_ERR(lbmap_link_get(t.m, 7, &got), -ENOENT);
	link.src4_hash_bits = 16;
	ASSERT_OK(lbmap_link_set(t.m, &link));
	ASSERT_OK(lbmap_link_get(t.m, 7, &got));
	ASSERT_OK(lbmap_link_del(t.m, 7));
	ASSERT_ERR(lbmap_link_get(t.m, 7, &got), -ENOENT);
	ASSERT_ERR(lbmap_link_del(t.m, 7), -ENOENT);
	lbt_teardown(&t);
}

TEST(memory_formula_defaults_fit)
{
	uint64_t bytes = lbmap_memory_estimate(XG_MAX_VIPS, XG_MAX_BACKENDS, XG_CT_ENTRIES,
					       XG_PERSIST_ENTRIES, 2);

	fprintf(stderr, "defaults on 2 CPUs: %.1f MiB\n", bytes / 1048576.0);
	ASSERT_LT(bytes, 256ull << 20);
}

static int count_cb(uint32_t id, const void *x, void *ctx)
{
	(void)id;
	(void)x;
	(*(int *)ctx)++;
	return 0;
}

static int count_vip(uint32_t id, const struct xg_vip_info *i, void *ctx)
{
	return count_cb(id, i, ctx);
}

static int count_be(uint32_t id, const struct xg_backend *b, void *ctx)
{
	return count_cb(id, b, ctx);
}

TEST(iterators_and_action_totals)
{
	struct xg_vip vip = { .algo = XG_ALGO_MAGLEV };
	struct xg_backend be = { .family = XG_AF_INET, .weight = 1 };
	struct xg_counter act[4];
	struct lbt_flow f = { .family = 4, .src = "198.18.1.1", .dst = "198.18.100.1",
			      .proto = 6, .sport = 9, .dport = 80 };
	struct pkt in, out;
	int nv = 0, nb = 0, nb0 = 0;
	struct lbt t;

	if (!lbt_setup(&t, NULL))
		return;
	ASSERT_OK(lbmap_vip_set(t.m, 2, "a", K4("198.18.100.1", 80), &vip));
	ASSERT_OK(lbmap_vip_set(t.m, 5, "b", K4("198.18.100.1", 81), &vip));
	for (uint32_t i = 0; i < 3; i++) {
		be.vip_id = i ? 5 : 2;
		be.addr.v4 = htonl(0xc6130001 + i);
		ASSERT_OK(lbmap_backend_set(t.m, 10 + i, &be));
	}
	ASSERT_OK(lbmap_vip_foreach(t.m, count_vip, &nv));
	ASSERT_OK(lbmap_backend_foreach(t.m, XG_VIP_NONE, count_be, &nb));
	ASSERT_OK(lbmap_backend_foreach(t.m, 2, count_be, &nb0));
	ASSERT_EQ(nv, 2);
	ASSERT_EQ(nb, 3);
	ASSERT_EQ(nb0, 1);
	lbt_frame(&f, &in);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX);
	f.dst = "198.18.100.7";
	lbt_frame(&f, &in);
	ASSERT_EQ(lbt_run(&t, &in, &out), XDP_PASS);
	ASSERT_OK(lbmap_stats_actions(t.m, act));
	ASSERT_EQ(act[XG_RK_TX].packets, 1);
	ASSERT_EQ(act[XG_RK_PASS].packets, 1);
	ASSERT_EQ(act[XG_RK_DROP].packets, 0);
	ASSERT_EQ(act[XG_RK_INFO].packets, 2);		/* ct-miss, ct-insert */
	ASSERT_OK(lbmap_stats_reset(t.m));
	ASSERT_OK(lbmap_stats_actions(t.m, act));
	ASSERT_EQ(act[XG_RK_TX].packets, 0);
	lbt_teardown(&t);
}

TEST(names_and_parsers)
{
	ASSERT_EQ(lbmap_algo_parse("maglev"), XG_ALGO_MAGLEV);
	ASSERT_EQ(lbmap_algo_parse("lc"), XG_ALGO_LC);
	ASSERT_ERR(lbmap_algo_parse("wrr"), -EINVAL);
	ASSERT_EQ(lbmap_fwd_parse("l2"), XG_FWD_L2);
	ASSERT_ERR(lbmap_fwd_parse("gre"), -EINVAL);
	ASSERT_STREQ(lbmap_reason_names[XG_R_DROP_NO_BACKEND], "drop-no-backend");
	ASSERT_EQ(lbmap_reason_kinds[XG_R_CT_HIT], XG_RK_INFO);
	ASSERT_EQ(lb_xdp_mode_parse("generic"), LB_XDP_GENERIC);
	ASSERT_ERR(lb_xdp_mode_parse("offload"), -EINVAL);
}
