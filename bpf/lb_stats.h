/* SPDX-License-Identifier: GPL-2.0 */
/* Counting: the verdict of a packet (action + reason) and the per-service/backend counters. */
#ifndef XDPGW_LB_STATS_H
#define XDPGW_LB_STATS_H

#include "lb_maps.h"
#include "lb_parse.h"

static __always_inline void count_reason(__u32 reason, __u64 bytes)
{
	struct xg_counter *c = bpf_map_lookup_elem(&lb_stats, &reason);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* Informational reasons (ct-hit, ct-miss ...), counted in addition to the verdict. */
static __always_inline void count_info(const struct packet *pkt, enum xg_reason reason)
{
	count_reason(reason, pkt->frame_len);
}

/*
 * lb_vip_stats or lb_be_stats: a packet of a flow, counted when it was sent to the backend
 * (sent), new_flow when the flow started here (also when its first packet was answered with
 * too-big instead: the flow has its backend all the same).
 */
static __always_inline void count_flow(void *map, __u32 id, __u64 bytes, bool sent, bool new_flow)
{
	struct xg_flow_stats *s = bpf_map_lookup_elem(map, &id);

	if (s) {
		s->packets += sent;
		s->bytes += sent ? bytes : 0;
		s->new_flows += new_flow;
	}
}

#endif
