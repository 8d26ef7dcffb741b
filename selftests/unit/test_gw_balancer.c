// SPDX-License-Identifier: GPL-2.0
/* Balancer data: weighted round-robin order, consistent-hash spread and minimal disruption. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "gateway/gw.h"
#include "lib/gwtest.h"
#include "lib/test.h"

TEST(rr_weights_interleave)
{
	struct gw_config *cfg = gwt_compile("{\"upstreams\":[{\"name\":\"u\",\"targets\":["
		"{\"addr\":\"198.18.1.1:80\",\"weight\":300},{\"addr\":\"198.18.1.2:80\",\"weight\":100}]}]}");
	struct gw_upstream *u;
	unsigned n[2] = { 0 }, run = 0, maxrun = 0;

	if (!cfg)
		return;
	u = &cfg->upstreams[0];
	ASSERT_EQ(u->rr_len, 4);
	for (uint32_t i = 0; i < u->rr_len; i++) {
		n[u->rr_sched[i]]++;
		run = i && u->rr_sched[i] == u->rr_sched[i - 1] ? run + 1 : 1;
		if (run > maxrun)
			maxrun = run;
	}
	ASSERT_EQ(n[0], 3);
	ASSERT_EQ(n[1], 1);
	ASSERT_LE(maxrun, 3);
	gw_config_put(cfg);
}

static bool skip_idx;
static uint32_t skip_target;

static bool usable(void *arg, uint32_t i)
{
	return !skip_idx || i != skip_target;
}

TEST(hash_spread_and_stability)
{
	struct gw_config *cfg = gwt_compile("{\"upstreams\":[{\"name\":\"u\",\"algorithm\":\"hash\",\"targets\":["
		"{\"addr\":\"198.18.1.1:80\"},{\"addr\":\"198.18.1.2:80\"},{\"addr\":\"198.18.1.3:80\"},{\"addr\":\"198.18.1.4:80\"}]}]}");
	enum { KEYS = 20000 };
	static int before[KEYS];
	unsigned n[4] = { 0 }, moved = 0;
	char key[32];
	int i;

	if (!cfg)
		return;
	for (i = 0; i < KEYS; i++) {
		int len = snprintf(key, sizeof(key), "198.18.%d.%d", i / 250, i % 250);

		before[i] = gw_ring_lookup(&cfg->upstreams[0], gw_hash64(key, len), usable, NULL);
		if (!ASSERT_GE(before[i], 0))
			return;
		n[before[i]]++;
	}
	/* Each of 4 targets gets 25% +- 6 points of the keys. */
	for (i = 0; i < 4; i++) {
		ASSERT_GT(n[i], KEYS * 19 / 100);
		ASSERT_LT(n[i], KEYS * 31 / 100);
	}
	/* Taking target 2 out moves its keys only. */
	skip_idx = true;
	skip_target = 2;
	for (i = 0; i < KEYS; i++) {
		int len = snprintf(key, sizeof(key), "198.18.%d.%d", i / 250, i % 250);
		int t = gw_ring_lookup(&cfg->upstreams[0], gw_hash64(key, len), usable, NULL);

		ASSERT_NE(t, 2);
		if (t != before[i]) {
			moved++;
			ASSERT_EQ(before[i], 2);
		}
	}
	ASSERT_EQ(moved, n[2]);
	skip_idx = false;
	gw_config_put(cfg);
}

TEST(panic_threshold)
{
	struct gw_config *cfg = gwt_compile("{\"upstreams\":[{\"name\":\"u\",\"targets\":["
		"{\"addr\":\"198.18.1.1:80\"},{\"addr\":\"198.18.1.2:80\"},{\"addr\":\"198.18.1.3:80\"},"
		"{\"addr\":\"198.18.1.4:80\"},{\"addr\":\"198.18.1.5:80\",\"weight\":0}]},"
		"{\"name\":\"off\",\"panic_threshold\":0,\"targets\":[{\"addr\":\"198.18.1.1:80\"}]}]}");
	struct gw_tstate *st[5] = { NULL };
	struct gw_ustate us = { 0 };
	struct gw_upstream *u;
	uint64_t now = 1000;

	if (!cfg)
		return;
	u = &cfg->upstreams[0];
	ASSERT_EQ(u->panic_threshold, 50);
	ASSERT_EQ(cfg->upstreams[1].panic_threshold, 0);
	for (int i = 0; i < 5; i++) {
		st[i] = aligned_alloc(64, sizeof(*st[i]));
		if (!ASSERT_NOT_NULL(st[i]))
			goto out;
		memset(st[i], 0, sizeof(*st[i]));
		u->targets[i].st = st[i];
	}
	cfg->upstreams[1].targets[0].st = st[0];
	u->us = &us;
	ASSERT_FALSE(gw_upstream_panic(u, now++));
	/* 2 of 4 (the drained fifth does not count, down or not): 50% is not below 50% */
	atomic_store(&st[0]->down, 1);
	atomic_store(&st[4]->down, 1);
	atomic_store(&st[1]->ejected_until, now + 10000);
	ASSERT_FALSE(gw_upstream_panic(u, now++));
	ASSERT_EQ(atomic_load(&us.healthy), 2);
	ASSERT_EQ(atomic_load(&us.eligible), 4);
	/* 1 of 4: panic, entered once however often it is asked */
	atomic_store(&st[2]->down, 1);
	ASSERT_TRUE(gw_upstream_panic(u, now++));
	ASSERT_TRUE(gw_upstream_panic(u, now++));
	ASSERT_EQ(atomic_load(&us.panics), 1);
	/* evaluated once per millisecond: a change within it shows in the next one */
	atomic_store(&st[2]->down, 0);
	ASSERT_TRUE(gw_upstream_panic(u, now - 1));
	ASSERT_FALSE(gw_upstream_panic(u, now++));
	/* all down: panic; an ejection ends by itself */
	atomic_store(&st[2]->down, 1);
	atomic_store(&st[3]->down, 1);
	ASSERT_TRUE(gw_upstream_panic(u, now++));
	ASSERT_EQ(atomic_load(&us.panics), 2);
	now += 20000;
	ASSERT_TRUE(gw_upstream_panic(u, now++));
	ASSERT_EQ(atomic_load(&us.healthy), 1);
	/* threshold 0: never, whatever the health */
	ASSERT_FALSE(gw_upstream_panic(&cfg->upstreams[1], now++));
	/* 100: any unhealthy target is enough */
	u->panic_threshold = 100;
	for (int i = 0; i < 5; i++) {
		atomic_store(&st[i]->down, 0);
		atomic_store(&st[i]->ejected_until, 0);
	}
	ASSERT_FALSE(gw_upstream_panic(u, now++));
	atomic_store(&st[3]->down, 1);
	ASSERT_TRUE(gw_upstream_panic(u, now++));
out:
	gw_config_put(cfg);	/* first: freeing it drops its references to the states */
	for (int i = 0; i < 5; i++)
		free(st[i]);
}

/* max_conns: a target gives out at most the cap of slots, even to threads racing for them. */
struct conn_race {
	const struct gw_upstream *u;
	unsigned taken;
};

static void *conn_race_main(void *arg)
{
	struct conn_race *r = arg;

	for (int i = 0; i < 100000; i++)
		if (gw_target_conn_take(r->u, &r->u->targets[0]))
			r->taken++;
	return NULL;
}

TEST(max_conns_cap)
{
	struct gw_config *cfg = gwt_compile("{\"upstreams\":[{\"name\":\"u\",\"max_conns\":3,"
		"\"targets\":[{\"addr\":\"198.18.1.1:80\"}]},{\"name\":\"free\",\"max_conns\":0,"
		"\"targets\":[{\"addr\":\"198.18.1.2:80\"}]}]}");
	struct conn_race race[4];
	pthread_t th[4];
	struct gw_tstate *st = NULL;
	struct gw_upstream *u, *f;
	unsigned total = 0;

	if (!cfg)
		return;
	u = &cfg->upstreams[0];
	f = &cfg->upstreams[1];
	ASSERT_EQ(u->max_conns, 3);
	st = aligned_alloc(64, sizeof(*st));
	if (!ASSERT_NOT_NULL(st))
		goto out;
	memset(st, 0, sizeof(*st));
	u->targets[0].st = st;
	f->targets[0].st = st;	/* the same runtime state: the count is the target's */
	for (int i = 0; i < 3; i++) {
		ASSERT_TRUE(gw_target_has_room(u, &u->targets[0]));
		ASSERT_TRUE(gw_target_conn_take(u, &u->targets[0]));
	}
	ASSERT_FALSE(gw_target_has_room(u, &u->targets[0]));
	ASSERT_FALSE(gw_target_conn_take(u, &u->targets[0]));
	ASSERT_EQ(atomic_load(&st->conns), 3);
	/* no cap: always taken, still counted (a cap set later sees them) */
	ASSERT_TRUE(gw_target_has_room(f, &f->targets[0]));
	ASSERT_TRUE(gw_target_conn_take(f, &f->targets[0]));
	ASSERT_EQ(atomic_load(&st->conns), 4);
	ASSERT_FALSE(gw_target_conn_take(u, &u->targets[0]));
	gw_target_conn_put(&f->targets[0]);
	gw_target_conn_put(&u->targets[0]);
	ASSERT_TRUE(gw_target_has_room(u, &u->targets[0]));
	for (int i = 0; i < 2; i++)
		gw_target_conn_put(&u->targets[0]);
	ASSERT_EQ(atomic_load(&st->conns), 0);
	/* four threads racing for three slots, never given back: exactly three are taken */
	for (int i = 0; i < 4; i++) {
		race[i] = (struct conn_race){ u, 0 };
		pthread_create(&th[i], NULL, conn_race_main, &race[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += race[i].taken;
	}
	ASSERT_EQ(total, 3);
	ASSERT_EQ(atomic_load(&st->conns), 3);
out:
	gw_config_put(cfg);	/* first: freeing it drops its references to the state */
	free(st);
}
