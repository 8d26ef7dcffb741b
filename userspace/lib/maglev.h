/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Weighted Maglev (Eisenbud et al., NSDI 2016) lookup tables. Each backend walks its own
 * permutation of the table (offset and skip from hashes of its address) and claims free slots
 * in turns; a backend of weight w takes a turn w / max_weight of the rounds (credit scheme),
 * so its slot count is within one of size * w / sum(w).
 */
#ifndef XDPGW_MAGLEV_H
#define XDPGW_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sel.h"

#define MAGLEV_MIN_SIZE 1021	       /* smallest table */
#define MAGLEV_SLOTS_PER_BACKEND 1000  /* at least this many slots per backend (see below) */
#define MAGLEV_SHARE_TOLERANCE 0.01    /* a backend's share within 1% (relative) of its weight's */
#define MAGLEV_SEED_OFFSET 0x4d41474cu /* hash seeds of the permutation: equal on every node */
#define MAGLEV_SEED_SKIP 0x534b4950u

bool maglev_is_prime(uint32_t n);
/* The smallest prime >= n (n <= 4294967291). */
uint32_t maglev_next_prime(uint32_t n);

/*
 * Fills table[0 .. size-1] with backend ids. b must be in canonical order (sel_sort), size a
 * prime larger than n. Returns 0, -EINVAL (n == 0, size not prime or <= n, zero weight) or
 * -ENOMEM.
 */
int maglev_build(const struct sel_backend *b, size_t n, uint32_t size, uint32_t *table);

/*
 * The table size for these backends: the smallest prime >= max(min_size, MAGLEV_MIN_SIZE,
 * MAGLEV_SLOTS_PER_BACKEND * n, 100 * sum(w) / min(w)) whose built table gives every backend
 * a share within MAGLEV_SHARE_TOLERANCE of its weight share, capped at max_size (the largest
 * prime <= it). The 100 * sum/min term is what the 1% share needs (each backend's slot count
 * is within one of its ideal); the slots-per-backend term keeps disruption low: removing one
 * of n backends moves under 1% of the other backends' flows at 1000 slots per backend
 * (about 2% at 100, measured in selftests/unit/test_maglev.c) - as long as the size stays the
 * same: a table of another size remaps almost every flow, which is why lbmap keeps a service's
 * size (min_size) unless its backends outgrow it.
 * *within (may be NULL) tells whether the tolerance holds at the size returned.
 * Returns the size, or 0 with errno set (EINVAL, ENOMEM).
 */
uint32_t maglev_size(const struct sel_backend *b, size_t n, uint32_t min_size, uint32_t max_size,
		     bool *within);

/* Largest relative share error |count/size - w/W| / (w/W) over the backends of a table. */
double maglev_max_share_error(const struct sel_backend *b, size_t n, const uint32_t *table,
			      uint32_t size);

#endif
