/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rate limiter's core, shared by the rate-limit policy and its tests: GCRA (the generic
 * cell rate algorithm, a token bucket kept as one timestamp per key) and the table of keys a
 * gateway keeps in memory, exact across worker threads (striped locks).
 *
 * GCRA: a limit of L requests per window W admits one request every T = W / L on average, and
 * up to `burst` at once. Each key keeps a theoretical arrival time TAT; a request at `now` is
 * admitted when max(TAT, now) + T - now <= burst * T, and then TAT moves by T. The "debt"
 * TAT - now is the time until the key is back to a full burst.
 */
#ifndef XDPGW_GATEWAY_POLICIES_RATELIMIT_H
#define XDPGW_GATEWAY_POLICIES_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rl_result {
	bool allowed;
	uint32_t remaining;	/* requests admissible right after this one */
	uint64_t retry_us;	/* refused: wait this long before the next can pass */
	uint64_t reset_us;	/* time until a full burst is available again */
};

/* The result from a key's debt after the decision (what the Redis script returns). */
static inline struct rl_result rl_from_debt(bool allowed, uint64_t debt, uint64_t T,
					    uint64_t burst_us)
{
	struct rl_result r = { .allowed = allowed, .reset_us = debt };

	r.remaining = debt >= burst_us ? 0 : (uint32_t)((burst_us - debt) / T);
	if (!allowed)
		r.retry_us = debt + T > burst_us ? debt + T - burst_us : 1;
	return r;
}

/* One GCRA decision on *tat (updated when admitted). */
static inline struct rl_result rl_gcra(uint64_t *tat, uint64_t now, uint64_t T, uint64_t burst_us)
{
	uint64_t base = *tat > now ? *tat : now;
	bool allowed = base + T - now <= burst_us;

	if (allowed)
		*tat = base + T;
	return rl_from_debt(allowed, (allowed ? base + T : base) - now, T, burst_us);
}

/* ---- the in-memory table (rate_limit.c) ---- */

#define RL_KEY_MAX 64		/* longer keys are stored as their SHA-256 */

struct rl_table;

/*
 * The table named id (a new reference), shared by every config version and route that names
 * it, created with room for max_keys keys. NULL without memory.
 */
struct rl_table *rl_table_get(const char *id, uint32_t max_keys);
void rl_table_put(struct rl_table *t);
/* One local decision for key (exact across threads). now in microseconds. */
struct rl_result rl_table_take(struct rl_table *t, const char *key, size_t klen, uint64_t now,
			       uint64_t T, uint64_t burst_us);
/* Keys pushed out while the table was full of keys still in debt. */
uint64_t rl_table_evictions(const struct rl_table *t);

#endif
