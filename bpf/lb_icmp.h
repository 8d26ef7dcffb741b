/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ICMP and ICMPv6 at a VIP: classify what arrived (echo request, an error quoting one of our
 * flows, anything else), answer echo requests in place, and build frag-needed / packet-too-big
 * for a client whose packet would exceed the MTU once encapsulated.
 */
#ifndef XDPGW_LB_ICMP_H
#define XDPGW_LB_ICMP_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "lb_consts.h"
#include "lb_csum.h"
#include "lb_l2.h"
#include "lb_parse.h"

/* ICMP and ICMPv6 share this layout for the messages we write (linux/icmp.h drags libc in). */
struct icmp_hdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	union {
		struct {
			__be16 unused;
			__be16 mtu;	/* ICMPv4 frag-needed: next-hop MTU */
		} frag;
		__be32 mtu6;		/* ICMPv6 packet-too-big */
	};
};

enum icmp_class {
	ICMP_IS_ECHO,		/* echo request */
	ICMP_IS_ERROR,		/* an error quoting a TCP/UDP packet our VIP sent: flow filled */
	ICMP_IS_OTHER,		/* anything else, passed */
	ICMP_IS_BAD,		/* truncated ICMP header, dropped */
};

/* Ports of the quoted L4 header, the first 4 bytes of both TCP and UDP. */
struct quoted_ports {
	__be16 source;
	__be16 dest;
};

/* Does the quote hold len bytes from the start of the quoted header? (not Ethernet padding) */
static __always_inline bool quote_holds(const struct packet *pkt, __u32 len)
{
	return l4_offset(pkt) + XG_ICMP_HLEN + len <= l3_offset(pkt) + pkt->ip_len;
}

/*
 * Quoted packet of an ICMPv4 error: it went VIP -> client, so the flow is its reverse.
 * Requires the quoted source to be the address the error was sent to.
 */
static __always_inline enum icmp_class icmp4_quoted_flow(void *data, void *data_end,
							 const struct packet *pkt,
							 struct xg_flow_key *flow)
{
	struct iphdr *inner = data + l4_offset(pkt) + XG_ICMP_HLEN;
	struct quoted_ports *ports;

	if ((void *)(inner + 1) > data_end || !quote_holds(pkt, sizeof(*inner)) ||
	    inner->version != 4 || inner->ihl < 5)
		return ICMP_IS_OTHER;
	if (inner->saddr != pkt->flow.dst.v4 ||
	    (inner->protocol != IPPROTO_TCP && inner->protocol != IPPROTO_UDP))
		return ICMP_IS_OTHER;
	ports = (void *)inner + (inner->ihl & 0xf) * 4;
	if ((void *)(ports + 1) > data_end ||
	    !quote_holds(pkt, (inner->ihl & 0xf) * 4 + sizeof(*ports)))
		return ICMP_IS_OTHER;
	flow->family = XG_AF_INET;
	flow->proto = inner->protocol;
	flow->src.v4 = inner->daddr;
	flow->dst.v4 = inner->saddr;
	flow->sport = ports->dest;
	flow->dport = ports->source;
	return ICMP_IS_ERROR;
}

static __always_inline enum icmp_class icmp6_quoted_flow(void *data, void *data_end,
							 const struct packet *pkt,
							 struct xg_flow_key *flow)
{
	struct ipv6hdr *inner = data + l4_offset(pkt) + XG_ICMP_HLEN;
	struct quoted_ports *ports = (void *)(inner + 1);

	if ((void *)(ports + 1) > data_end || !quote_holds(pkt, sizeof(*inner) + sizeof(*ports)) ||
	    inner->version != 6)
		return ICMP_IS_OTHER;
	if (inner->nexthdr != IPPROTO_TCP && inner->nexthdr != IPPROTO_UDP)
		return ICMP_IS_OTHER;
	if (inner->saddr.s6_addr32[0] != pkt->flow.dst.v6[0] ||
	    inner->saddr.s6_addr32[1] != pkt->flow.dst.v6[1] ||
	    inner->saddr.s6_addr32[2] != pkt->flow.dst.v6[2] ||
	    inner->saddr.s6_addr32[3] != pkt->flow.dst.v6[3])
		return ICMP_IS_OTHER;
	flow->family = XG_AF_INET6;
	flow->proto = inner->nexthdr;
	__builtin_memcpy(flow->src.bytes, inner->daddr.s6_addr, 16);
	__builtin_memcpy(flow->dst.bytes, inner->saddr.s6_addr, 16);
	flow->sport = ports->dest;
	flow->dport = ports->source;
	return ICMP_IS_ERROR;
}

/* What kind of ICMP message arrived at a VIP address; fills flow for errors. */
static __always_inline enum icmp_class icmp_classify(void *data, void *data_end,
						     const struct packet *pkt,
						     struct xg_flow_key *flow)
{
	__u8 *hdr = data + l4_offset(pkt);
	__u8 type;

	if ((void *)(hdr + XG_ICMP_HLEN) > data_end ||
	    l4_offset(pkt) + XG_ICMP_HLEN > l3_offset(pkt) + pkt->ip_len)
		return ICMP_IS_BAD;
	type = hdr[0];
	if (!is_ipv6(pkt)) {
		if (type == XG_ICMP_ECHO)
			return ICMP_IS_ECHO;
		if (type == XG_ICMP_DEST_UNREACH || type == XG_ICMP_TIME_EXCEEDED)
			return icmp4_quoted_flow(data, data_end, pkt, flow);
		return ICMP_IS_OTHER;
	}
	if (type == XG_ICMPV6_ECHO_REQUEST)
		return ICMP_IS_ECHO;
	if (type == XG_ICMPV6_DEST_UNREACH || type == XG_ICMPV6_PKT_TOOBIG ||
	    type == XG_ICMPV6_TIME_EXCEED)
		return icmp6_quoted_flow(data, data_end, pkt, flow);
	return ICMP_IS_OTHER;
}

/* Turns an echo request into the reply in place: swapped MACs and addresses, fixed sums. */
static __always_inline int icmp_echo_reply(void *data, void *data_end, struct packet *pkt)
{
	struct ethhdr *eth = data;
	__u8 *icmp = data + l4_offset(pkt);
	__u8 mac[ETH_ALEN];
	__u16 old, new;

	if ((void *)(eth + 1) > data_end || (void *)(icmp + XG_ICMP_HLEN) > data_end)
		return verdict(pkt, XDP_DROP, XG_R_DROP_MALFORMED);
	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);

	if (is_ipv6(pkt)) {
		struct ipv6hdr *ip6h = data + l3_offset(pkt);

		if ((void *)(ip6h + 1) > data_end)
			return verdict(pkt, XDP_DROP, XG_R_DROP_MALFORMED);
		ip6h->saddr = ip6h->daddr;
		__builtin_memcpy(ip6h->daddr.s6_addr, pkt->flow.src.bytes, 16);
		ip6h->hop_limit = XG_TTL;
		/* Addresses swapped: the pseudo-header sum is unchanged; only the type moves. */
		old = bpf_htons(XG_ICMPV6_ECHO_REQUEST << 8 | icmp[1]);
		new = bpf_htons(XG_ICMPV6_ECHO_REPLY << 8 | icmp[1]);
		icmp[0] = XG_ICMPV6_ECHO_REPLY;
	} else {
		struct iphdr *iph = data + l3_offset(pkt);

		if ((void *)(iph + 1) > data_end)
			return verdict(pkt, XDP_DROP, XG_R_DROP_MALFORMED);
		iph->daddr = iph->saddr;
		iph->saddr = pkt->flow.dst.v4;
		old = bpf_htons(iph->ttl << 8 | iph->protocol);
		iph->ttl = XG_TTL;
		csum_replace2(&iph->check, old, bpf_htons(XG_TTL << 8 | iph->protocol));
		old = bpf_htons(XG_ICMP_ECHO << 8 | icmp[1]);
		new = bpf_htons(XG_ICMP_ECHOREPLY << 8 | icmp[1]);
		icmp[0] = XG_ICMP_ECHOREPLY;
	}
	csum_replace2((__u16 *)(icmp + 2), old, new);
	return verdict(pkt, XDP_TX, XG_R_ICMP_ECHO_REPLY);
}

/*
 * Makes room for a new IP + ICMP header of hdr_len bytes in front of the client's datagram,
 * cuts the datagram to XG_ICMP_QUOTE_LEN bytes and writes the Ethernet header back to the
 * client (MACs swapped, tags kept). Returns XG_CONTINUE with *l3 at the new IP header, the
 * headers and the quote bounds-checked, or a drop verdict.
 */
static __always_inline int icmp_reply_frame(struct xdp_md *ctx, struct packet *pkt,
					    __u32 hdr_len, __u16 eth_proto, void **l3)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 want = l3_offset(pkt) + hdr_len + XG_ICMP_QUOTE_LEN;
	struct l2_saved l2 = {};

	if (!l2_save(data, data_end, pkt, &l2))
		return verdict(pkt, XDP_DROP, XG_R_DROP_MALFORMED);
	if (bpf_xdp_adjust_head(ctx, -(int)hdr_len))
		return verdict(pkt, XDP_DROP, XG_R_DROP_ADJUST);
	/* The frame is now hdr_len longer than it arrived. */
	if (bpf_xdp_adjust_tail(ctx, (int)want - (int)(pkt->frame_len + hdr_len)))
		return verdict(pkt, XDP_DROP, XG_R_DROP_ADJUST);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (!l2_write(data, data_end, pkt, l2.src, l2.dst, l2.tags, eth_proto))
		return verdict(pkt, XDP_DROP, XG_R_DROP_ADJUST);
	*l3 = data + l3_offset(pkt);
	if (*l3 + hdr_len + XG_ICMP_QUOTE_LEN > data_end)
		return verdict(pkt, XDP_DROP, XG_R_DROP_ADJUST);
	return XG_CONTINUE;
}

/* ICMPv4 frag-needed to the client, from the VIP, quoting its datagram. */
static __always_inline int icmp4_frag_needed(struct xdp_md *ctx, struct packet *pkt, __u32 mtu)
{
	struct iphdr *iph;
	struct icmp_hdr *icmp;
	void *l3;
	__s64 sum;
	int rc;

	rc = icmp_reply_frame(ctx, pkt, XG_IPV4_HLEN + XG_ICMP_HLEN, XG_ETH_P_IP, &l3);
	if (rc != XG_CONTINUE)
		return rc;
	iph = l3;
	icmp = (void *)(iph + 1);
	*(__u8 *)iph = 0x45;
	iph->tos = 0;
	iph->tot_len = bpf_htons(XG_IPV4_HLEN + XG_ICMP_HLEN + XG_ICMP_QUOTE_LEN);
	iph->id = 0;
	iph->frag_off = 0;
	iph->ttl = XG_TTL;
	iph->protocol = IPPROTO_ICMP;
	iph->check = 0;
	iph->saddr = pkt->flow.dst.v4;
	iph->daddr = pkt->flow.src.v4;
	iph->check = ipv4_hdr_csum(iph);
	icmp->type = XG_ICMP_DEST_UNREACH;
	icmp->code = XG_ICMP_FRAG_NEEDED;
	icmp->checksum = 0;
	icmp->frag.unused = 0;
	icmp->frag.mtu = bpf_htons(mtu);
	sum = bpf_csum_diff(NULL, 0, (void *)icmp, XG_ICMP_HLEN + XG_ICMP_QUOTE_LEN, 0);
	icmp->checksum = csum_fold((__u32)sum);
	return verdict(pkt, XDP_TX, XG_R_ICMP_TOO_BIG_SENT);
}

struct ipv6_pseudo {
	struct in6_addr saddr;
	struct in6_addr daddr;
	__be32 len;
	__u8 zero[3];
	__u8 nexthdr;
};

/* ICMPv6 packet-too-big to the client, from the VIP, quoting its datagram. */
static __always_inline int icmp6_too_big(struct xdp_md *ctx, struct packet *pkt, __u32 mtu)
{
	struct ipv6_pseudo ph = {};
	struct ipv6hdr *ip6h;
	struct icmp_hdr *icmp;
	void *l3;
	__s64 sum;
	int rc;

	rc = icmp_reply_frame(ctx, pkt, XG_IPV6_HLEN + XG_ICMP_HLEN, XG_ETH_P_IPV6, &l3);
	if (rc != XG_CONTINUE)
		return rc;
	ip6h = l3;
	icmp = (void *)(ip6h + 1);
	*(__be32 *)ip6h = bpf_htonl(0x60000000);
	ip6h->payload_len = bpf_htons(XG_ICMP_HLEN + XG_ICMP_QUOTE_LEN);
	ip6h->nexthdr = IPPROTO_ICMPV6;
	ip6h->hop_limit = XG_TTL;
	__builtin_memcpy(ip6h->saddr.s6_addr, pkt->flow.dst.bytes, 16);
	__builtin_memcpy(ip6h->daddr.s6_addr, pkt->flow.src.bytes, 16);
	icmp->type = XG_ICMPV6_PKT_TOOBIG;
	icmp->code = 0;
	icmp->checksum = 0;
	icmp->mtu6 = bpf_htonl(mtu < XG_IPV6_MIN_MTU ? XG_IPV6_MIN_MTU : mtu);
	__builtin_memcpy(ph.saddr.s6_addr, pkt->flow.dst.bytes, 16);
	__builtin_memcpy(ph.daddr.s6_addr, pkt->flow.src.bytes, 16);
	ph.len = bpf_htonl(XG_ICMP_HLEN + XG_ICMP_QUOTE_LEN);
	ph.nexthdr = IPPROTO_ICMPV6;
	sum = bpf_csum_diff(NULL, 0, (void *)&ph, sizeof(ph), 0);
	sum = bpf_csum_diff(NULL, 0, (void *)icmp, XG_ICMP_HLEN + XG_ICMP_QUOTE_LEN, (__u32)sum);
	icmp->checksum = csum_fold((__u32)sum);
	return verdict(pkt, XDP_TX, XG_R_ICMP_TOO_BIG_SENT);
}

/*
 * The client's packet does not fit the link once encapsulated: tell the client (DF IPv4 and
 * all IPv6, which routers never fragment); an IPv4 packet without DF is dropped, counted.
 */
static __always_inline int icmp_too_big(struct xdp_md *ctx, struct packet *pkt, __u32 mtu)
{
	if (pkt->ip_len < XG_ICMP_QUOTE_LEN)
		return verdict(pkt, XDP_DROP, XG_R_DROP_TOO_BIG);
	if (is_ipv6(pkt))
		return icmp6_too_big(ctx, pkt, mtu);
	if (!pkt->df)
		return verdict(pkt, XDP_DROP, XG_R_DROP_TOO_BIG);
	return icmp4_frag_needed(ctx, pkt, mtu);
}

#endif
