// SPDX-License-Identifier: GPL-2.0
/* The circuit breaker's state machine: consecutive failures, error ratio, trials, closing. */
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "lib/test.h"

static struct gw_tstate *st;
static struct gw_target target;
static struct gw_upstream up;

static void setup(const struct gw_breaker_cfg *cfg)
{
	free(st);
	st = aligned_alloc(64, (sizeof(*st) + 63) / 64 * 64);
	memset(st, 0, sizeof(*st));
	snprintf(st->upstream, sizeof(st->upstream), "u");
	snprintf(st->addr, sizeof(st->addr), "198.18.1.1:80");
	memset(&target, 0, sizeof(target));
	target.st = st;
	target.weight = 100;
	memset(&up, 0, sizeof(up));
	up.breaker = *cfg;
	up.targets = &target;
	up.ntargets = 1;
}

/* One call at time now with the given outcome; returns false when the breaker refused it. */
static bool call(uint64_t now, bool failed)
{
	bool trial;

	if (!gw_breaker_allows(&up, &target, now) || !gw_breaker_acquire(&up, &target, now, &trial))
		return false;
	gw_breaker_result(&up, &target, failed, trial, now);
	return true;
}

TEST(consecutive_failures)
{
	struct gw_breaker_cfg cfg = { .enabled = true, .failures = 3, .open_ms = 1000,
				      .half_open_requests = 2, .window_ms = 10000 };
	bool t1, t2, t3;

	setup(&cfg);
	ASSERT_TRUE(call(0, true) && call(1, true) && call(2, false) && call(3, true) &&
		    call(4, true));
	ASSERT_STREQ(gw_breaker_state_name(st), "closed");
	ASSERT_TRUE(call(5, true));
	ASSERT_EQ(atomic_load(&st->cb_state), GW_BREAKER_OPEN);
	ASSERT_FALSE(call(6, false));
	ASSERT_EQ(gw_breaker_retry_after(&up, 6), 999);
	ASSERT_EQ(gw_breaker_retry_after(&up, 1004), 1);
	/* half-open after open_ms: two trials at a time */
	ASSERT_TRUE(gw_breaker_acquire(&up, &target, 1005, &t1) && t1);
	ASSERT_EQ(atomic_load(&st->cb_state), GW_BREAKER_HALF_OPEN);
	ASSERT_TRUE(gw_breaker_acquire(&up, &target, 1005, &t2) && t2);
	ASSERT_FALSE(gw_breaker_allows(&up, &target, 1005));
	ASSERT_FALSE(gw_breaker_acquire(&up, &target, 1005, &t3));
	gw_breaker_release(&target, t2);	/* a cancelled trial frees its slot */
	ASSERT_TRUE(gw_breaker_allows(&up, &target, 1006));
	gw_breaker_result(&up, &target, false, t1, 1010);
	ASSERT_EQ(atomic_load(&st->cb_state), GW_BREAKER_HALF_OPEN);
	ASSERT_TRUE(call(1011, false));
	ASSERT_EQ(atomic_load(&st->cb_state), GW_BREAKER_CLOSED);
	ASSERT_EQ(atomic_load(&st->cb_trials), 0);
	/* a failed trial opens it again */
	ASSERT_TRUE(call(1020, true) && call(1021, true) && call(1022, true));
	ASSERT_TRUE(call(2100, true));
	ASSERT_EQ(atomic_load(&st->cb_state), GW_BREAKER_OPEN);
	ASSERT_EQ(atomic_load(&st->cb_open_until), 3100);
	ASSERT_EQ(atomic_load(&st->cb_opened), 3);
}

TEST(error_ratio)
{
	struct gw_breaker_cfg cfg = { .enabled = true, .error_ratio = 0.5, .window_ms = 1000,
				      .min_requests = 10, .open_ms = 500, .half_open_requests = 1 };
	int i;

	setup(&cfg);
	for (i = 0; i < 9; i++)
		ASSERT_TRUE(call(i, i % 2));
	ASSERT_EQ(atomic_load(&st->cb_state), GW_BREAKER_CLOSED);	/* 4 of 9, below min */
	ASSERT_TRUE(call(9, true));
	ASSERT_EQ(atomic_load(&st->cb_state), GW_BREAKER_OPEN);	/* 5 of 10 */
	/* old calls leave the window: failures long ago do not count */
	setup(&cfg);
	for (i = 0; i < 9; i++)
		ASSERT_TRUE(call(i, true));
	for (i = 0; i < 10; i++)
		ASSERT_TRUE(call(5000 + i, i == 9));
	ASSERT_EQ(atomic_load(&st->cb_state), GW_BREAKER_CLOSED);
}

TEST(disabled_and_stale_results)
{
	struct gw_breaker_cfg off = { 0 }, cfg = { .enabled = true, .failures = 1, .open_ms = 100,
						   .half_open_requests = 1 };
	bool trial;

	setup(&off);
	for (int i = 0; i < 100; i++)
		ASSERT_TRUE(call(i, true));
	ASSERT_EQ(gw_breaker_retry_after(&up, 0), 0);
	setup(&cfg);
	ASSERT_TRUE(gw_breaker_acquire(&up, &target, 0, &trial) && !trial);	/* in flight */
	ASSERT_TRUE(call(1, true));
	ASSERT_EQ(atomic_load(&st->cb_state), GW_BREAKER_OPEN);
	/* the call from before it opened ends: it changes nothing */
	gw_breaker_result(&up, &target, false, trial, 2);
	ASSERT_EQ(atomic_load(&st->cb_state), GW_BREAKER_OPEN);
	target.weight = 0;	/* a drained target is not "refused only by its breaker" */
	ASSERT_EQ(gw_breaker_retry_after(&up, 2), 0);
	free(st);
	st = NULL;
}
