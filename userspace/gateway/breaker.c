// SPDX-License-Identifier: GPL-2.0
/*
 * Circuit breaker per upstream target, shared by every worker (atomics in the target's
 * runtime state, so it survives config changes):
 *   closed    -> open       after `failures` consecutive failures, or when the failed share of
 *                           the calls in the last window_ms reaches error_ratio (with at least
 *                           min_requests calls);
 *   open      -> half-open  after open_ms: up to half_open_requests trial calls at a time;
 *   half-open -> closed     after half_open_requests successful trials;
 *   half-open -> open       on a failed trial.
 * While open the target takes no calls; when no target of the upstream can, the proxy answers
 * 503 with Retry-After without touching any. Changes of state are logged.
 */
#include <stdio.h>

#include "gateway/gw.h"
#include "lib/log.h"

static const char *const state_names[] = { "closed", "open", "half-open" };

const char *gw_breaker_state_name(const struct gw_tstate *st)
{
	int s = atomic_load_explicit(&st->cb_state, memory_order_relaxed);

	/* Open past its time is half-open already: the next call is a trial. */
	if (s == GW_BREAKER_OPEN && gw_now_ms() >= atomic_load(&st->cb_open_until))
		s = GW_BREAKER_HALF_OPEN;
	return s >= 0 && s <= GW_BREAKER_HALF_OPEN ? state_names[s] : "closed";
}

bool gw_breaker_allows(const struct gw_upstream *u, const struct gw_target *t, uint64_t now)
{
	const struct gw_tstate *st = t->st;

	if (!u->breaker.enabled)
		return true;
	switch (atomic_load_explicit(&st->cb_state, memory_order_relaxed)) {
	case GW_BREAKER_OPEN:
		if (now < atomic_load_explicit(&st->cb_open_until, memory_order_relaxed))
			return false;
		/* it half-opens on the next call */
		__attribute__((fallthrough));
	case GW_BREAKER_HALF_OPEN:
		return atomic_load_explicit(&st->cb_trials, memory_order_relaxed) <
		       u->breaker.half_open_requests;
	default:
		return true;
	}
}

static void window_reset(struct gw_tstate *st)
{
	for (int i = 0; i < GW_BREAKER_BUCKETS; i++) {
		atomic_store_explicit(&st->cb_win[i].total, 0, memory_order_relaxed);
		atomic_store_explicit(&st->cb_win[i].failed, 0, memory_order_relaxed);
	}
}

/* from -> open; the winner of the transition resets the counters and logs. */
static void trip(const struct gw_upstream *u, struct gw_tstate *st, int from, uint64_t now,
		 const char *why)
{
	int expect = from;

	atomic_store(&st->cb_trial_ok, 0);
	atomic_store(&st->cb_open_until, now + u->breaker.open_ms);
	if (!atomic_compare_exchange_strong(&st->cb_state, &expect, GW_BREAKER_OPEN))
		return;
	atomic_store(&st->cb_fails, 0);
	window_reset(st);
	atomic_fetch_add(&st->cb_opened, 1);
	log_warn("gateway: upstream %s target %s: circuit open for %u ms (%s)", st->upstream,
		 st->addr, u->breaker.open_ms, why);
}

bool gw_breaker_acquire(const struct gw_upstream *u, const struct gw_target *t, uint64_t now,
			bool *trial)
{
	struct gw_tstate *st = t->st;
	int state;
	unsigned n;

	*trial = false;
	if (!u->breaker.enabled)
		return true;
	state = atomic_load(&st->cb_state);
	if (state == GW_BREAKER_CLOSED)
		return true;
	if (state == GW_BREAKER_OPEN) {
		if (now < atomic_load(&st->cb_open_until))
			return false;
		if (atomic_compare_exchange_strong(&st->cb_state, &state, GW_BREAKER_HALF_OPEN))
			log_info("gateway: upstream %s target %s: circuit half-open (%u trial "
				 "request%s)", st->upstream, st->addr, u->breaker.half_open_requests,
				 u->breaker.half_open_requests == 1 ? "" : "s");
		else if (state == GW_BREAKER_CLOSED)
			return true;
	}
	n = atomic_load(&st->cb_trials);
	do {
		if (n >= u->breaker.half_open_requests)
			return false;
	} while (!atomic_compare_exchange_weak(&st->cb_trials, &n, n + 1));
	*trial = true;
	return true;
}

void gw_breaker_release(const struct gw_target *t, bool trial)
{
	if (trial)
		atomic_fetch_sub(&t->st->cb_trials, 1);
}

/* Counts the call in the error-ratio window; returns true when the ratio trips it. */
static bool window_count(const struct gw_breaker_cfg *cfg, struct gw_tstate *st, bool failed,
			 uint64_t now)
{
	uint64_t slice = cfg->window_ms / GW_BREAKER_BUCKETS, epoch, total = 0, bad = 0;
	int i;

	if (!slice)
		slice = 1;
	epoch = now / slice;
	i = epoch % GW_BREAKER_BUCKETS;
	if (atomic_load_explicit(&st->cb_win[i].epoch, memory_order_relaxed) != epoch) {
		/* a new slice: whoever gets here first clears it (approximate under races) */
		atomic_store_explicit(&st->cb_win[i].epoch, epoch, memory_order_relaxed);
		atomic_store_explicit(&st->cb_win[i].total, 0, memory_order_relaxed);
		atomic_store_explicit(&st->cb_win[i].failed, 0, memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&st->cb_win[i].total, 1, memory_order_relaxed);
	if (!failed)
		return false;
	atomic_fetch_add_explicit(&st->cb_win[i].failed, 1, memory_order_relaxed);
	for (i = 0; i < GW_BREAKER_BUCKETS; i++) {
		uint64_t e = atomic_load_explicit(&st->cb_win[i].epoch, memory_order_relaxed);

		if (e + GW_BREAKER_BUCKETS > epoch) {
			total += atomic_load_explicit(&st->cb_win[i].total, memory_order_relaxed);
			bad += atomic_load_explicit(&st->cb_win[i].failed, memory_order_relaxed);
		}
	}
	return total >= cfg->min_requests && (double)bad >= cfg->error_ratio * (double)total;
}

void gw_breaker_result(const struct gw_upstream *u, const struct gw_target *t, bool failed,
		       bool trial, uint64_t now)
{
	const struct gw_breaker_cfg *cfg = &u->breaker;
	struct gw_tstate *st = t->st;
	char why[96];

	if (!cfg->enabled)
		return;
	if (trial) {
		atomic_fetch_sub(&st->cb_trials, 1);
		if (failed) {
			trip(u, st, GW_BREAKER_HALF_OPEN, now, "a trial request failed");
		} else if (atomic_fetch_add(&st->cb_trial_ok, 1) + 1 >= cfg->half_open_requests) {
			int expect = GW_BREAKER_HALF_OPEN;

			if (atomic_compare_exchange_strong(&st->cb_state, &expect, GW_BREAKER_CLOSED)) {
				atomic_store(&st->cb_fails, 0);
				window_reset(st);
				log_info("gateway: upstream %s target %s: circuit closed after %u "
					 "successful trial%s", st->upstream, st->addr,
					 cfg->half_open_requests, cfg->half_open_requests == 1 ? "" : "s");
			}
		}
		return;
	}
	if (atomic_load(&st->cb_state) != GW_BREAKER_CLOSED)
		return;	/* a call from before it opened */
	if (!failed) {
		if (atomic_load_explicit(&st->cb_fails, memory_order_relaxed))
			atomic_store_explicit(&st->cb_fails, 0, memory_order_relaxed);
	} else if (cfg->failures && atomic_fetch_add(&st->cb_fails, 1) + 1 >= cfg->failures) {
		snprintf(why, sizeof(why), "%u consecutive failures", cfg->failures);
		trip(u, st, GW_BREAKER_CLOSED, now, why);
		return;
	}
	if (cfg->error_ratio > 0 && window_count(cfg, st, failed, now)) {
		snprintf(why, sizeof(why), "error ratio at least %.2f over %u ms", cfg->error_ratio,
			 cfg->window_ms);
		trip(u, st, GW_BREAKER_CLOSED, now, why);
	}
}

uint64_t gw_breaker_retry_after(const struct gw_upstream *u, uint64_t now)
{
	uint64_t best = 0;

	if (!u->breaker.enabled)
		return 0;
	for (size_t i = 0; i < u->ntargets; i++) {
		const struct gw_target *t = &u->targets[i];
		uint64_t until;

		if (!gw_target_usable(t, now) ||
		    atomic_load(&t->st->cb_state) == GW_BREAKER_CLOSED)
			continue;
		until = atomic_load(&t->st->cb_open_until);
		until = until > now ? until - now : 1;
		if (!best || until < best)
			best = until;
	}
	return best;
}
