/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Selection-table builders: weighted Maglev (maglev.h) and the rr sequence and lc list here.
 * Pure functions over a list of live backends; lbmap.c turns their output into inner maps.
 */
#ifndef XDPGW_SEL_H
#define XDPGW_SEL_H

#include <stddef.h>
#include <stdint.h>
#include <xdpgw/abi.h>

/* A live backend as the builders see it. */
struct sel_backend {
	uint32_t id;	     /* backend id written into the table */
	uint32_t weight;     /* > 0 */
	struct xg_addr addr; /* identity for Maglev: the same on every L4 node */
	uint8_t family;
};

/*
 * Sorts backends into the canonical order (family, address): every node given the same set
 * builds the same tables whatever ids it allocated.
 */
void sel_sort(struct sel_backend *b, size_t n);

/*
 * Weighted round-robin sequence into seq (room for max entries): each backend appears
 * weight / gcd(weights) times, interleaved smoothly (nginx's smooth weighted round robin), so
 * consecutive new flows spread. When sum(weights)/gcd exceeds max, weights are scaled to fit
 * (each keeps at least one slot). Returns the length (> 0) or -EINVAL (n == 0, a zero weight)
 * or -E2BIG (more backends than max).
 */
int sel_rr_sequence(const struct sel_backend *b, size_t n, uint32_t max, uint32_t *seq);

/*
 * lc list: the backend ids, in canonical order. Returns n, or -E2BIG over XG_LC_MAX_BACKENDS,
 * -EINVAL if n == 0.
 */
int sel_lc_list(const struct sel_backend *b, size_t n, uint32_t *ids);

#endif
