/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Services and backends: VIP lookup, backend liveness, the selection algorithms (maglev, sh,
 * rr, lc) over the per-service table in lb_selection, and persistence.
 */
#ifndef XDPGW_LB_SELECT_H
#define XDPGW_LB_SELECT_H

#include <xdpgw/hash.h>
#include "lb_maps.h"
#include "lb_parse.h"
#include "lb_stats.h"

/* A clear filter bit proves the destination is no VIP address: one array read. */
static __always_inline bool vip_filter_match(const struct packet *pkt)
{
	__u32 bit = xg_vip_filter_bit(&pkt->flow.dst, pkt->flow.family);
	__u32 word = bit / 64;
	__u64 *bits = bpf_map_lookup_elem(&lb_vip_filter, &word);

	return bits && (*bits & (1ull << (bit % 64)));
}

/* The exact answer (the filter has false positives); only on uncommon paths. */
static __always_inline struct xg_vip_addr *vip_addr_lookup(const struct packet *pkt)
{
	struct xg_addr_key key = {
		.addr = pkt->flow.dst,
		.family = pkt->flow.family,
	};

	return bpf_map_lookup_elem(&lb_vip_addrs, &key);
}

/* The service of (dst, dport, proto), else the all-ports service of (dst, proto). */
static __always_inline struct xg_vip *vip_lookup(const struct packet *pkt)
{
	struct xg_vip_key key = {
		.addr = pkt->flow.dst,
		.port = pkt->flow.dport,
		.proto = pkt->flow.proto,
		.family = pkt->flow.family,
	};
	struct xg_vip *vip;

	vip = bpf_map_lookup_elem(&lb_vips, &key);
	if (vip)
		return vip;
	key.port = 0;
	return bpf_map_lookup_elem(&lb_vips, &key);
}

static __always_inline struct xg_backend *backend_lookup(__u32 id)
{
	return bpf_map_lookup_elem(&lb_backends, &id);
}

/* May an existing flow of service vip_id stay on this backend? (draining ones keep theirs) */
static __always_inline bool backend_keeps_flows(const struct xg_backend *be, __u32 vip_id)
{
	return (be->flags & (XG_BE_F_IN_USE | XG_BE_F_DOWN)) == XG_BE_F_IN_USE &&
	       be->vip_id == vip_id;
}

/* May a new flow of service vip_id go to this backend? */
static __always_inline bool backend_takes_new(const struct xg_backend *be, __u32 vip_id)
{
	return (be->flags & (XG_BE_F_IN_USE | XG_BE_F_DOWN | XG_BE_F_DRAIN)) == XG_BE_F_IN_USE &&
	       be->weight > 0 && be->vip_id == vip_id;
}

static __always_inline __u32 flow_hash(struct packet *pkt, __u32 seed)
{
	if (!pkt->has_hash) {
		pkt->hash = xg_flow_hash(&pkt->flow, seed);
		pkt->has_hash = 1;
	}
	return pkt->hash;
}

static __always_inline __s64 backend_active(__u32 id)
{
	__s64 *active = bpf_map_lookup_elem(&lb_be_active, &id);

	return active && *active > 0 ? *active : 0;
}

static __always_inline void backend_active_add(__u32 id, __s64 delta)
{
	__s64 *active = bpf_map_lookup_elem(&lb_be_active, &id);

	if (active)
		__sync_fetch_and_add(active, delta);
}

/* lc: the eligible backend with the fewest active flows per unit of weight. */
static __always_inline __u32 select_lc(void *table, __u32 n, __u32 vip_id)
{
	__u32 best = XG_BACKEND_NONE, best_weight = 1;
	__s64 best_active = 0;

	for (__u32 i = 0; i < XG_LC_MAX_BACKENDS; i++) {
		__u32 idx = XG_SEL_HDR + i, *slot, id;
		struct xg_backend *be;
		__s64 active;

		if (i >= n)
			break;
		slot = bpf_map_lookup_elem(table, &idx);
		if (!slot)
			break;
		id = *slot;
		be = backend_lookup(id);
		if (!be || !backend_takes_new(be, vip_id))
			continue;
		active = backend_active(id);
		/* active / weight < best_active / best_weight, without division */
		if (best == XG_BACKEND_NONE || active * best_weight < best_active * be->weight) {
			best = id;
			best_active = active;
			best_weight = be->weight;
		}
	}
	return best;
}

/* A backend for a new flow by the service's algorithm, or XG_BACKEND_NONE. */
static __always_inline __u32 select_backend(struct packet *pkt, const struct xg_vip *vip,
					    __u32 seed)
{
	__u32 vip_id = vip->id, zero = 0, n, idx, *slot;
	void *table;

	table = bpf_map_lookup_elem(&lb_selection, &vip_id);
	if (!table)
		return XG_BACKEND_NONE;
	slot = bpf_map_lookup_elem(table, &zero);
	if (!slot || *slot == 0)
		return XG_BACKEND_NONE;
	n = *slot;
	switch (vip->algo) {
	case XG_ALGO_SH:
		idx = xg_src_hash(&pkt->flow.src, pkt->flow.family, seed) % n;
		break;
	case XG_ALGO_RR: {
		__u32 *cursor = bpf_map_lookup_elem(&lb_rr_cursor, &vip_id);

		if (!cursor)
			return XG_BACKEND_NONE;
		idx = *cursor % n;
		*cursor = idx + 1;
		break;
	}
	case XG_ALGO_LC:
		return select_lc(table, n, vip_id);
	default:
		idx = flow_hash(pkt, seed) % n;
		break;
	}
	idx += XG_SEL_HDR;
	slot = bpf_map_lookup_elem(table, &idx);
	return slot ? *slot : XG_BACKEND_NONE;
}

/*
 * Persistence: a client keeps its backend for persist_sec after its last new flow, as long as
 * that backend takes new flows; otherwise the algorithm picks and the choice is remembered.
 */
static __always_inline __u32 select_persistent(struct packet *pkt, const struct xg_vip *vip,
					       __u32 seed, __u64 now)
{
	struct xg_persist_key key = {
		.src = pkt->flow.src,
		.vip_id = vip->id,
		.family = pkt->flow.family,
	};
	struct xg_persist_value *pv, fresh = {};
	struct xg_backend *be;

	pv = bpf_map_lookup_elem(&lb_persist, &key);
	if (pv && now - pv->last_seen_ns < (__u64)vip->persist_sec * XG_NSEC_PER_SEC) {
		be = backend_lookup(pv->backend_id);
		if (be && backend_takes_new(be, vip->id)) {
			pv->last_seen_ns = now;
			count_info(pkt, XG_R_PERSIST_HIT);
			return pv->backend_id;
		}
	}
	fresh.backend_id = select_backend(pkt, vip, seed);
	fresh.last_seen_ns = now;
	if (fresh.backend_id != XG_BACKEND_NONE &&
	    !bpf_map_update_elem(&lb_persist, &key, &fresh, BPF_ANY) && !pv)
		count_info(pkt, XG_R_PERSIST_INSERT);
	return fresh.backend_id;
}

static __always_inline __u32 select_new_flow(struct packet *pkt, const struct xg_vip *vip,
					     __u32 seed, __u64 now)
{
	if (vip->persist_sec)
		return select_persistent(pkt, vip, seed, now);
	return select_backend(pkt, vip, seed);
}

#endif
