// SPDX-License-Identifier: GPL-2.0
/* Weighted Maglev table construction and table sizing. */
#include "lib/maglev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xdpgw/hash.h>

bool maglev_is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	for (uint32_t d = 3; (uint64_t)d * d <= n; d += 2)
		if (n % d == 0)
			return false;
	return true;
}

uint32_t maglev_next_prime(uint32_t n)
{
	while (!maglev_is_prime(n))
		n++;
	return n;
}

static uint32_t prev_prime(uint32_t n)
{
	while (n > 2 && !maglev_is_prime(n))
		n--;
	return n;
}

int maglev_build(const struct sel_backend *b, size_t n, uint32_t size, uint32_t *table)
{
	uint32_t *offset = NULL, *skip = NULL, *next = NULL, wmax = 0, filled = 0;
	uint64_t *credit = NULL;
	int err = 0;

	if (n == 0 || size <= n || !maglev_is_prime(size))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (b[i].weight == 0)
			return -EINVAL;
		if (b[i].weight > wmax)
			wmax = b[i].weight;
	}
	offset = calloc(n, sizeof(*offset));
	skip = calloc(n, sizeof(*skip));
	next = calloc(n, sizeof(*next));
	credit = calloc(n, sizeof(*credit));
	if (!offset || !skip || !next || !credit) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		offset[i] = xg_src_hash(&b[i].addr, b[i].family, MAGLEV_SEED_OFFSET) % size;
		skip[i] = xg_src_hash(&b[i].addr, b[i].family, MAGLEV_SEED_SKIP) % (size - 1) + 1;
	}
	for (uint32_t s = 0; s < size; s++)
		table[s] = XG_BACKEND_NONE;
	for (;;) {
		for (size_t i = 0; i < n; i++) {
			uint32_t slot;

			credit[i] += b[i].weight;
			if (credit[i] < wmax)
				continue;
			credit[i] -= wmax;
			/* A permutation of a prime-sized table visits every slot: this ends. */
			do {
				slot = (offset[i] + (uint64_t)next[i] * skip[i]) % size;
				next[i]++;
			} while (table[slot] != XG_BACKEND_NONE);
			table[slot] = b[i].id;
			if (++filled == size)
				goto out;
		}
	}
out:
	free(credit);
	free(next);
	free(skip);
	free(offset);
	return err;
}

double maglev_max_share_error(const struct sel_backend *b, size_t n, const uint32_t *table,
			      uint32_t size)
{
	double worst = 0, wsum = 0;

	for (size_t i = 0; i < n; i++)
		wsum += b[i].weight;
	for (size_t i = 0; i < n; i++) {
		uint32_t count = 0;
		double want = b[i].weight / wsum, err;

		for (uint32_t s = 0; s < size; s++)
			count += table[s] == b[i].id;
		err = ((double)count / size - want) / want;
		if (err < 0)
			err = -err;
		if (err > worst)
			worst = err;
	}
	return worst;
}

uint32_t maglev_size(const struct sel_backend *b, size_t n, uint32_t min_size, uint32_t max_size,
		     bool *within)
{
	uint64_t wsum = 0, wmin = UINT32_MAX, want;
	uint32_t size, cap, *table;
	bool ok = false;

	if (n == 0 || max_size <= n) {
		errno = EINVAL;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (b[i].weight == 0) {
			errno = EINVAL;
			return 0;
		}
		wsum += b[i].weight;
		if (b[i].weight < wmin)
			wmin = b[i].weight;
	}
	cap = prev_prime(max_size);
	want = (100 * wsum + wmin - 1) / wmin;
	if (want < (uint64_t)MAGLEV_SLOTS_PER_BACKEND * n)
		want = (uint64_t)MAGLEV_SLOTS_PER_BACKEND * n;
	if (want < MAGLEV_MIN_SIZE)
		want = MAGLEV_MIN_SIZE;
	if (want < min_size)
		want = min_size;
	size = want >= cap ? cap : maglev_next_prime((uint32_t)want);
	if (size > cap)
		size = cap;
	table = malloc(sizeof(*table) * cap);
	if (!table) {
		errno = ENOMEM;
		return 0;
	}
	for (;;) {
		if (maglev_build(b, n, size, table)) {
			free(table);
			errno = EINVAL;
			return 0;
		}
		ok = maglev_max_share_error(b, n, table, size) <= MAGLEV_SHARE_TOLERANCE;
		if (ok || size == cap)
			break;
		size = (uint64_t)size * 5 / 4 >= cap ? cap : maglev_next_prime(size * 5 / 4);
		if (size > cap)
			size = cap;
	}
	free(table);
	if (within)
		*within = ok;
	return size;
}
