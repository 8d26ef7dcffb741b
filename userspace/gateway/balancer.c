// SPDX-License-Identifier: GPL-2.0
/*
 * Upstream target selection data built at compile time: the smooth weighted round-robin
 * order (nginx's algorithm, so weights interleave instead of bursting) and the consistent
 * hash ring (160 points per 100 units of weight; removing a target moves only its keys).
 */
/* Paths and names in messages are bounded on purpose; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "lib/log.h"

#define RR_MAX_LEN 4096
#define RING_POINTS_PER_100 160

uint64_t gw_hash64_seeded(uint64_t seed, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	/* splitmix64 finalizer: FNV alone leaves the high bits poorly mixed for short keys */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

uint64_t gw_hash64(const void *data, size_t len)
{
	return gw_hash64_seeded(0, data, len);
}

static uint32_t gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static int build_rr(struct gw_upstream *u)
{
	uint32_t w[GW_MAX_TARGETS], g = 0, total = 0, i, k;
	int64_t cur[GW_MAX_TARGETS] = { 0 };

	for (i = 0; i < u->ntargets; i++)
		if (u->targets[i].weight)
			g = gcd(g, u->targets[i].weight);
	for (i = 0; i < u->ntargets; i++) {
		w[i] = g ? u->targets[i].weight / g : 0;
		total += w[i];
	}
	if (total > RR_MAX_LEN) {
		uint32_t scaled = 0;

		for (i = 0; i < u->ntargets; i++) {
			if (!w[i])
				continue;
			w[i] = (uint32_t)((uint64_t)w[i] * RR_MAX_LEN / total);
			if (!w[i])
				w[i] = 1;
			scaled += w[i];
		}
		total = scaled;
	}
	u->rr_len = total;
	if (!total)
		return 0;
	u->rr_sched = calloc(total, sizeof(*u->rr_sched));
	if (!u->rr_sched)
		return -ENOMEM;
	for (k = 0; k < total; k++) {
		int best = -1;

		for (i = 0; i < u->ntargets; i++) {
			if (!w[i])
				continue;
			cur[i] += w[i];
			if (best < 0 || cur[i] > cur[best])
				best = i;
		}
		cur[best] -= total;
		u->rr_sched[k] = best;
	}
	return 0;
}

static int cmp_point(const void *a_, const void *b_)
{
	const struct gw_ring_point *a = a_, *b = b_;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return a->target < b->target ? -1 : a->target > b->target;
}

static int build_ring(struct gw_upstream *u)
{
	uint32_t i, n = 0, total = 0;
	char key[GW_ADDRLEN + 16];

	for (i = 0; i < u->ntargets; i++)
		if (u->targets[i].weight)
			total += (u->targets[i].weight * RING_POINTS_PER_100 + 99) / 100;
	u->ring_len = 0;
	if (!total)
		return 0;
	u->ring = calloc(total, sizeof(*u->ring));
	if (!u->ring)
		return -ENOMEM;
	for (i = 0; i < u->ntargets; i++) {
		uint32_t pts = (u->targets[i].weight * RING_POINTS_PER_100 + 99) / 100, p;

		for (p = 0; p < pts; p++) {
			int len = snprintf(key, sizeof(key), "%s#%u", u->targets[i].addr, p);

			u->ring[n].hash = gw_hash64(key, len);
			u->ring[n].target = i;
			n++;
		}
	}
	qsort(u->ring, n, sizeof(*u->ring), cmp_point);
	u->ring_len = n;
	return 0;
}

int gw_balancer_build(struct gw_upstream *u)
{
	int ret = build_rr(u);

	if (!ret && u->algo == GW_ALGO_HASH)
		ret = build_ring(u);
	return ret;
}

void gw_balancer_free(struct gw_upstream *u)
{
	free(u->rr_sched);
	free(u->ring);
	u->rr_sched = NULL;
	u->ring = NULL;
}

int gw_ring_lookup(const struct gw_upstream *u, uint64_t hash, bool (*usable)(void *, uint32_t),
		   void *arg)
{
	uint32_t lo = 0, hi = u->ring_len, i;

	if (!u->ring_len)
		return -1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (u->ring[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Walk clockwise past unusable targets: their keys spread over the next ones. */
	for (i = 0; i < u->ring_len; i++) {
		const struct gw_ring_point *p = &u->ring[(lo + i) % u->ring_len];

		if (!usable || usable(arg, p->target))
			return p->target;
	}
	return -1;
}

static bool panic_eval(const struct gw_upstream *u, uint64_t now_ms, bool cached)
{
	struct gw_ustate *us = u->us;
	uint32_t eligible = 0, healthy = 0;
	bool panic;
	size_t i;

	if (!u->panic_threshold)
		return false;
	if (cached && us && atomic_load_explicit(&us->checked_ms, memory_order_acquire) == now_ms)
		return atomic_load_explicit(&us->panic, memory_order_relaxed);
	for (i = 0; i < u->ntargets; i++) {
		if (!u->targets[i].weight)
			continue;	/* drained: out by choice, not by health */
		eligible++;
		healthy += gw_target_usable(&u->targets[i], now_ms);
	}
	panic = eligible && (uint64_t)healthy * 100 < (uint64_t)u->panic_threshold * eligible;
	if (!us)
		return panic;
	atomic_store_explicit(&us->healthy, healthy, memory_order_relaxed);
	atomic_store_explicit(&us->eligible, eligible, memory_order_relaxed);
	if (atomic_exchange(&us->panic, panic) != panic) {
		if (panic) {
			atomic_fetch_add(&us->panics, 1);
			log_warn("gateway: upstream %s enters panic: %u of %u targets healthy, below "
				 "%u%%: balancing over all of them", u->name, healthy, eligible,
				 u->panic_threshold);
		} else {
			log_info("gateway: upstream %s leaves panic: %u of %u targets healthy", u->name,
				 healthy, eligible);
		}
	}
	atomic_store_explicit(&us->checked_ms, now_ms, memory_order_release);
	return panic;
}

bool gw_upstream_panic(const struct gw_upstream *u, uint64_t now_ms)
{
	return panic_eval(u, now_ms, true);
}

void gw_upstream_panic_update(const struct gw_upstream *u, uint64_t now_ms)
{
	panic_eval(u, now_ms, false);
}

bool gw_target_conn_take(const struct gw_upstream *u, const struct gw_target *t)
{
	atomic_uint *n = &t->st->conns;
	unsigned v = atomic_load_explicit(n, memory_order_relaxed);

	if (!u->max_conns) {
		atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
		return true;
	}
	do {
		if (v >= u->max_conns)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(n, &v, v + 1, memory_order_relaxed,
						       memory_order_relaxed));
	return true;
}

void gw_target_conn_put(const struct gw_target *t)
{
	atomic_fetch_sub_explicit(&t->st->conns, 1, memory_order_relaxed);
}
