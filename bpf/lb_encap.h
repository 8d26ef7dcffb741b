/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Forwarding to the chosen backend, back out the ingress link (XDP_TX):
 *   ipip: IPIP / IP6IP6 / 4in6 / 6in4 with the link's outer source (low bits optionally from
 *         the flow hash so the backend spreads flows over its RX queues), next-hop MAC from
 *         lb_backends; too big for the link once encapsulated: ICMP back to the client;
 *   l2:   destination MAC rewritten to the backend's, packet otherwise untouched.
 */
#ifndef XDPGW_LB_ENCAP_H
#define XDPGW_LB_ENCAP_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "lb_consts.h"
#include "lb_csum.h"
#include "lb_icmp.h"
#include "lb_l2.h"
#include "lb_maps.h"
#include "lb_parse.h"
#include "lb_select.h"

/* IPv4 outer source: the link's address, its low bits from the flow hash if configured. */
static __always_inline __be32 outer_src4(const struct xg_link *link, __u32 hash)
{
	__u32 bits = link->src4_hash_bits, mask;

	if (!bits)
		return link->src4.v4;
	mask = bits >= 16 ? 0xffff : (1u << bits) - 1;
	return bpf_htonl((bpf_ntohl(link->src4.v4) & ~mask) | (hash & mask));
}

static __always_inline void outer_src6(const struct xg_link *link, __u32 hash,
				       struct in6_addr *src)
{
	__u32 bits = link->src6_hash_bits, mask;

	__builtin_memcpy(src->s6_addr, link->src6.bytes, 16);
	if (!bits)
		return;
	mask = bits >= 32 ? 0xffffffff : (1u << bits) - 1;
	src->s6_addr32[3] = bpf_htonl((bpf_ntohl(link->src6.v6[3]) & ~mask) | (hash & mask));
}

static __always_inline void write_outer4(struct iphdr *o, const struct packet *pkt,
					 const struct xg_link *link,
					 const struct xg_backend *be, __u32 hash)
{
	*(__u8 *)o = 0x45;
	o->tos = pkt->tos;
	o->tot_len = bpf_htons(pkt->ip_len + XG_IPV4_HLEN);
	o->id = 0;
	/* 6in4 is never fragmented on the way; 4in4 keeps the client's DF. */
	o->frag_off = (is_ipv6(pkt) || pkt->df) ? bpf_htons(XG_IP_DF) : 0;
	o->ttl = XG_TTL;
	o->protocol = is_ipv6(pkt) ? IPPROTO_IPV6 : IPPROTO_IPIP;
	o->check = 0;
	o->saddr = outer_src4(link, hash);
	o->daddr = be->addr.v4;
	o->check = ipv4_hdr_csum(o);
}

static __always_inline void write_outer6(struct ipv6hdr *o, const struct packet *pkt,
					 const struct xg_link *link,
					 const struct xg_backend *be, __u32 hash)
{
	/* version 6, the client's traffic class, the flow hash as flow label */
	*(__be32 *)o = bpf_htonl(0x60000000 | ((__u32)pkt->tos << 20) | (hash & 0xfffff));
	o->payload_len = bpf_htons(pkt->ip_len);
	o->nexthdr = is_ipv6(pkt) ? IPPROTO_IPV6 : IPPROTO_IPIP;
	o->hop_limit = XG_TTL;
	outer_src6(link, hash, &o->saddr);
	__builtin_memcpy(o->daddr.s6_addr, be->addr.bytes, 16);
}

/*
 * Encapsulates in an outer header of the backend's family. A client packet too big for the
 * link gets frag-needed / too-big back; an ICMP error we forward (icmp_error) is dropped.
 */
static __always_inline int fwd_ipip(struct xdp_md *ctx, struct packet *pkt,
				    const struct xg_link *link, const struct xg_backend *be,
				    __u32 seed, bool icmp_error)
{
	bool outer6 = be->family == XG_AF_INET6;
	__u32 outer_len = outer6 ? XG_IPV6_HLEN : XG_IPV4_HLEN;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct l2_saved l2 = {};
	__u32 hash = 0;
	void *l3;

	if (link->mtu && pkt->ip_len + outer_len > link->mtu) {
		if (icmp_error)
			return verdict(pkt, XDP_DROP, XG_R_DROP_TOO_BIG);
		return icmp_too_big(ctx, pkt, link->mtu - outer_len);
	}
	if (outer6 || link->src4_hash_bits)
		hash = flow_hash(pkt, seed);
	if (!l2_save(data, data_end, pkt, &l2))
		return verdict(pkt, XDP_DROP, XG_R_DROP_MALFORMED);
	if (bpf_xdp_adjust_head(ctx, -(int)outer_len))
		return verdict(pkt, XDP_DROP, XG_R_DROP_ADJUST);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (!l2_write(data, data_end, pkt, be->mac, link->mac, l2.tags,
		      outer6 ? XG_ETH_P_IPV6 : XG_ETH_P_IP))
		return verdict(pkt, XDP_DROP, XG_R_DROP_ADJUST);
	l3 = data + l3_offset(pkt);
	if (outer6) {
		if (l3 + XG_IPV6_HLEN > data_end)
			return verdict(pkt, XDP_DROP, XG_R_DROP_ADJUST);
		write_outer6(l3, pkt, link, be, hash);
	} else {
		if (l3 + XG_IPV4_HLEN > data_end)
			return verdict(pkt, XDP_DROP, XG_R_DROP_ADJUST);
		write_outer4(l3, pkt, link, be, hash);
	}
	return verdict(pkt, XDP_TX, icmp_error ? XG_R_ICMP_ERR_FWD : XG_R_FWD_IPIP);
}

/* Direct server return on one segment: only the MACs change; families must match. */
static __always_inline int fwd_l2(struct xdp_md *ctx, struct packet *pkt,
				  const struct xg_link *link, const struct xg_backend *be,
				  bool icmp_error)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if (be->family != pkt->flow.family)
		return verdict(pkt, XDP_DROP, XG_R_DROP_FAMILY);
	if ((void *)(eth + 1) > data_end)
		return verdict(pkt, XDP_DROP, XG_R_DROP_MALFORMED);
	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, link->mac, ETH_ALEN);
	return verdict(pkt, XDP_TX, icmp_error ? XG_R_ICMP_ERR_FWD : XG_R_FWD_L2);
}

/* Sends the packet (a client's, or an ICMP error about a flow) to backend be, per service. */
static __always_inline int forward(struct xdp_md *ctx, struct packet *pkt,
				   const struct xg_vip *vip, const struct xg_backend *be,
				   __u32 seed, bool icmp_error)
{
	__u32 ifindex = ctx->ingress_ifindex;
	struct xg_link *link = bpf_map_lookup_elem(&lb_links, &ifindex);

	if (!link || !link->ifindex)
		return verdict(pkt, XDP_DROP, XG_R_DROP_NO_LINK);
	if (vip->fwd == XG_FWD_L2)
		return fwd_l2(ctx, pkt, link, be, icmp_error);
	return fwd_ipip(ctx, pkt, link, be, seed, icmp_error);
}

#endif
