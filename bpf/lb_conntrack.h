/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The connection table: established flows keep their backend; new flows are selected and
 * inserted (at most settings.new_flow_rate inserts per second per CPU); flows whose backend
 * went down move to a live one; FIN/RST count a flow out of the backend's active flows.
 */
#ifndef XDPGW_LB_CONNTRACK_H
#define XDPGW_LB_CONNTRACK_H

#include "lb_maps.h"
#include "lb_parse.h"
#include "lb_select.h"
#include "lb_stats.h"

enum ct_state {
	CT_KEEP,	/* the entry's backend serves this packet */
	CT_MOVE,	/* backend down, removed or of another service: same flow, new backend */
	CT_RENEW,	/* idle past the timeout, or a SYN after FIN/RST: a new flow on old key */
};

static __always_inline __u64 ct_timeout(const struct xg_settings *set, __u8 proto)
{
	if (proto == IPPROTO_TCP)
		return set->ct_timeout_tcp_ns ?: XG_CT_TIMEOUT_TCP_DEFAULT_NS;
	return set->ct_timeout_udp_ns ?: XG_CT_TIMEOUT_UDP_DEFAULT_NS;
}

static __always_inline bool is_syn(const struct packet *pkt)
{
	return pkt->flow.proto == IPPROTO_TCP &&
	       (pkt->tcp_flags & (XG_TCP_SYN | XG_TCP_ACK)) == XG_TCP_SYN;
}

static __always_inline bool is_fin_or_rst(const struct packet *pkt)
{
	return pkt->flow.proto == IPPROTO_TCP && (pkt->tcp_flags & (XG_TCP_FIN | XG_TCP_RST));
}

/* now is 0 for TCP packets that did not read the clock: TCP entries do not go stale here. */
static __always_inline enum ct_state ct_check(const struct xg_ct_value *ct,
					      const struct packet *pkt, const struct xg_vip *vip,
					      const struct xg_settings *set, __u64 now)
{
	struct xg_backend *be = backend_lookup(ct->backend_id);

	if (pkt->flow.proto == IPPROTO_UDP && now - ct->last_seen_ns > ct_timeout(set, IPPROTO_UDP))
		return CT_RENEW;
	if ((ct->flags & XG_CT_F_FIN) && is_syn(pkt))
		return CT_RENEW;
	if (ct->vip_id != vip->id || !be || !backend_keeps_flows(be, vip->id))
		return CT_MOVE;
	return CT_KEEP;
}

/* Established packet: refresh the timestamp (at most once per XG_CT_REFRESH_NS), note FIN. */
static __always_inline void ct_touch(struct packet *pkt, struct xg_ct_value *ct, __u64 now)
{
	if (now && now - ct->last_seen_ns >= XG_CT_REFRESH_NS)
		ct->last_seen_ns = now;
	if (is_fin_or_rst(pkt) && !(ct->flags & XG_CT_F_FIN)) {
		ct->flags |= XG_CT_F_FIN;
		backend_active_add(ct->backend_id, -1);
		count_info(pkt, XG_R_CT_CLOSE);
	}
}

/* Token-free rate limit: inserts per one-second window on this CPU. */
static __always_inline bool ct_insert_allowed(const struct xg_settings *set, __u64 now)
{
	__u32 zero = 0;
	struct xg_cpu_state *st;

	if (!set->new_flow_rate)
		return true;
	st = bpf_map_lookup_elem(&lb_cpu_state, &zero);
	if (!st)
		return true;
	if (now - st->window_start_ns >= XG_NSEC_PER_SEC) {
		st->window_start_ns = now;
		st->inserts = 0;
	}
	if (st->inserts >= set->new_flow_rate)
		return false;
	st->inserts++;
	return true;
}

static __always_inline void ct_insert(struct packet *pkt, const struct xg_vip *vip, __u32 id,
				      const struct xg_settings *set, __u64 now)
{
	struct xg_ct_value ct = {
		.backend_id = id,
		.vip_id = vip->id,
		.last_seen_ns = now,
	};

	if (!ct_insert_allowed(set, now)) {
		count_info(pkt, XG_R_CT_INSERT_SKIPPED);
		return;
	}
	if (is_fin_or_rst(pkt))
		ct.flags = XG_CT_F_FIN;
	if (bpf_map_update_elem(&lb_conntrack, &pkt->flow, &ct, BPF_ANY)) {
		count_info(pkt, XG_R_CT_INSERT_FAILED);
		return;
	}
	/* the LRU evicts without telling: inserts minus entries (and flushes) estimate it */
	count_info(pkt, XG_R_CT_INSERT);
	if (!ct.flags)
		backend_active_add(id, 1);
}

/* Points an existing entry at a new backend, moving its active-flow count along. */
static __always_inline void ct_repoint(struct packet *pkt, struct xg_ct_value *ct,
				       const struct xg_vip *vip, __u32 id, __u64 now)
{
	struct xg_backend *old = backend_lookup(ct->backend_id);

	if (!(ct->flags & XG_CT_F_FIN) && old && old->vip_id == ct->vip_id)
		backend_active_add(ct->backend_id, -1);
	ct->backend_id = id;
	ct->vip_id = vip->id;
	ct->last_seen_ns = now;
	ct->flags = is_fin_or_rst(pkt) ? XG_CT_F_FIN : 0;
	if (!ct->flags)
		backend_active_add(id, 1);
	count_info(pkt, XG_R_CT_RESELECT);
}

/* Does this established packet read the clock? UDP always, TCP on control flags or sampled. */
static __always_inline bool ct_needs_time(const struct packet *pkt)
{
	struct xg_cpu_state *st;
	__u32 zero = 0;

	if (pkt->flow.proto != IPPROTO_TCP ||
	    (pkt->tcp_flags & (XG_TCP_SYN | XG_TCP_FIN | XG_TCP_RST)))
		return true;
	st = bpf_map_lookup_elem(&lb_cpu_state, &zero);
	return st && st->packets++ % XG_CT_SAMPLE == 0;
}

static __always_inline struct xg_ct_value *ct_lookup(const struct packet *pkt)
{
	return bpf_map_lookup_elem(&lb_conntrack, &pkt->flow);
}

/*
 * The service a connection-table entry was made for, if it still is this packet's: an array
 * read of lb_vip_info instead of the lb_vips hash lookup, checked against the packet (in use,
 * same address and protocol, same port or the all-ports service). NULL: look the service up.
 * An established flow of an all-ports service stays with it when a service for its exact
 * port appears later.
 */
static __always_inline const struct xg_vip *ct_service(const struct packet *pkt,
						       const struct xg_ct_value *ct)
{
	__u32 id = ct->vip_id;
	struct xg_vip_info *info = bpf_map_lookup_elem(&lb_vip_info, &id);

	if (!info || !info->in_use || info->key.proto != pkt->flow.proto ||
	    info->key.family != pkt->flow.family ||
	    (info->key.port != pkt->flow.dport && info->key.port != 0) ||
	    info->key.addr.v6[0] != pkt->flow.dst.v6[0] ||
	    info->key.addr.v6[1] != pkt->flow.dst.v6[1] ||
	    info->key.addr.v6[2] != pkt->flow.dst.v6[2] ||
	    info->key.addr.v6[3] != pkt->flow.dst.v6[3])
		return NULL;
	return &info->vip;
}

/*
 * The backend id for this packet's flow: the connection table's entry (ct, looked up by the
 * caller) when it still holds, else a fresh selection (recorded in the table). *new_flow tells
 * the stats a flow started here. Returns XG_BACKEND_NONE when the service has no live backend.
 */
static __always_inline __u32 conntrack_backend(struct packet *pkt, struct xg_ct_value *ct,
					       const struct xg_vip *vip,
					       const struct xg_settings *set, bool *new_flow)
{
	enum ct_state state;
	__u64 now = 0;
	__u32 id;

	if (ct) {
		if (ct_needs_time(pkt))
			now = bpf_ktime_get_coarse_ns();
		state = ct_check(ct, pkt, vip, set, now);
		if (state == CT_KEEP) {
			count_info(pkt, XG_R_CT_HIT);
			ct_touch(pkt, ct, now);
			return ct->backend_id;
		}
		if (!now)
			now = bpf_ktime_get_coarse_ns();
		id = select_new_flow(pkt, vip, set->hash_seed, now);
		if (id != XG_BACKEND_NONE) {
			ct_repoint(pkt, ct, vip, id, now);
			*new_flow = state == CT_RENEW;
		}
		return id;
	}
	count_info(pkt, XG_R_CT_MISS);
	now = bpf_ktime_get_coarse_ns();
	id = select_new_flow(pkt, vip, set->hash_seed, now);
	if (id != XG_BACKEND_NONE) {
		ct_insert(pkt, vip, id, set, now);
		*new_flow = true;
	}
	return id;
}

/*
 * The backend of a flow without touching any state (ICMP errors about it): the table's entry,
 * else what a deterministic algorithm (maglev, sh without persistence) would pick.
 */
static __always_inline __u32 conntrack_peek(struct packet *pkt, const struct xg_vip *vip,
					    const struct xg_settings *set)
{
	struct xg_ct_value *ct = bpf_map_lookup_elem(&lb_conntrack, &pkt->flow);
	struct xg_backend *be;

	if (ct && ct->vip_id == vip->id) {
		be = backend_lookup(ct->backend_id);
		if (be && backend_keeps_flows(be, vip->id))
			return ct->backend_id;
	}
	if (vip->persist_sec || (vip->algo != XG_ALGO_MAGLEV && vip->algo != XG_ALGO_SH))
		return XG_BACKEND_NONE;
	return select_backend(pkt, vip, set->hash_seed);
}

#endif
