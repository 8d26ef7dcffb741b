// SPDX-License-Identifier: GPL-2.0
/* Canonical backend order, the weighted round-robin sequence and the least-connections list. */
#include "lib/sel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int backend_cmp(const void *a, const void *b)
{
	const struct sel_backend *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr.bytes, y->addr.bytes, sizeof(x->addr.bytes));
}

void sel_sort(struct sel_backend *b, size_t n)
{
	qsort(b, n, sizeof(*b), backend_cmp);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

int sel_rr_sequence(const struct sel_backend *b, size_t n, uint32_t max, uint32_t *seq)
{
	uint64_t g = 0, total = 0;
	int64_t *current;
	uint32_t *w;
	size_t len;

	if (n == 0)
		return -EINVAL;
	if (n > max)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		if (b[i].weight == 0)
			return -EINVAL;
		g = gcd(g, b[i].weight);
		total += b[i].weight;
	}
	w = calloc(n, sizeof(*w));
	current = calloc(n, sizeof(*current));
	if (!w || !current) {
		free(w);
		free(current);
		return -ENOMEM;
	}
	len = 0;
	for (size_t i = 0; i < n; i++) {
		w[i] = b[i].weight / g;
		if (total / g > max) {
			/* Scale to fit: floor(w * max / total), at least 1 slot each. */
			w[i] = (uint32_t)((uint64_t)b[i].weight * (max - n) / total);
			if (w[i] == 0)
				w[i] = 1;
		}
		len += w[i];
	}
	/* Smooth weighted round robin: each step, everyone gains its weight, the richest pays. */
	for (size_t s = 0; s < len; s++) {
		size_t best = 0;

		for (size_t i = 0; i < n; i++) {
			current[i] += w[i];
			if (current[i] > current[best])
				best = i;
		}
		current[best] -= (int64_t)len;
		seq[s] = b[best].id;
	}
	free(current);
	free(w);
	return (int)len;
}

int sel_lc_list(const struct sel_backend *b, size_t n, uint32_t *ids)
{
	if (n == 0)
		return -EINVAL;
	if (n > XG_LC_MAX_BACKENDS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		ids[i] = b[i].id;
	return (int)n;
}
