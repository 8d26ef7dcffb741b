/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet parsing: Ethernet with up to two VLAN tags, IPv4 (with options), IPv6 (with hop-by-hop,
 * routing, destination-options and fragment headers), TCP and UDP. Each parse_<hdr>() helper
 * fills struct packet and returns XG_CONTINUE; parse_eth() and parse_ip_addrs() otherwise return
 * an XDP action (the packet is not ours), the validating parsers a reason (enum xg_reason) that
 * the caller turns into drop or pass once it knows whether the destination is really a VIP.
 */
#ifndef XDPGW_LB_PARSE_H
#define XDPGW_LB_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <xdpgw/abi.h>
#include "lb_consts.h"

/* For the verifier: offsets are masked to a bound they never exceed. */
#define XG_L3_OFF_MASK 0x1f		/* 14 + 2 * 4 = 22 */
#define XG_L4_OFF_MASK 0x3fff		/* 22 + 40 + XG_IPV6_MAX_EXT * 2048 < 16384 */

/* What the parsers learned about a packet; everything the later stages need. */
struct packet {
	struct xg_flow_key flow;	/* client -> VIP, as the connection table keys it */
	__u64 frame_len;		/* bytes of the frame as received */
	__u32 l3_off;			/* offset of the IP header: 14 + 4 * vlans */
	__u32 l4_off;			/* offset of the L4 (or ICMP) header */
	__u32 ip_len;			/* IP datagram length from its header (v6: 40 + payload) */
	__u32 hash;			/* xg_flow_hash(), valid when has_hash */
	__u16 eth_proto;		/* host order: XG_ETH_P_IP or XG_ETH_P_IPV6 */
	__u8 vlans;			/* tags before the IP header, 0..2 */
	__u8 tcp_flags;
	__u8 df;			/* IPv4 don't-fragment bit */
	__u8 tos;			/* IPv4 TOS / IPv6 traffic class */
	__u8 has_hash;
	__u8 reason;			/* enum xg_reason of the verdict */
};

struct vlan_tag {
	__be16 tci;
	__be16 proto;			/* the next ethertype */
};

static __always_inline __u32 l3_offset(const struct packet *pkt)
{
	return pkt->l3_off & XG_L3_OFF_MASK;
}

static __always_inline __u32 l4_offset(const struct packet *pkt)
{
	return pkt->l4_off & XG_L4_OFF_MASK;
}

/* Records why the packet gets this action; counted once, at the end of xdp_lb. */
static __always_inline int verdict(struct packet *pkt, int action, enum xg_reason reason)
{
	pkt->reason = reason;
	return action;
}

static __always_inline bool is_ipv6(const struct packet *pkt)
{
	return pkt->flow.family == XG_AF_INET6;
}

/* Ethernet and VLAN tags: sets l3_off and eth_proto, passes what is not IP. */
static __always_inline int parse_eth(void *data, void *data_end, struct packet *pkt)
{
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);
	__u16 proto;

	if ((void *)(eth + 1) > data_end)
		return verdict(pkt, XDP_PASS, XG_R_PASS_TRUNCATED);
	proto = bpf_ntohs(eth->h_proto);
#pragma unroll
	for (int i = 0; i < XG_VLAN_MAX_DEPTH; i++) {
		struct vlan_tag *tag = data + off;

		if (proto != XG_ETH_P_8021Q && proto != XG_ETH_P_8021AD)
			break;
		if ((void *)(tag + 1) > data_end)
			return verdict(pkt, XDP_PASS, XG_R_PASS_TRUNCATED);
		proto = bpf_ntohs(tag->proto);
		off += sizeof(*tag);
		pkt->vlans++;
	}
	pkt->l3_off = off;
	pkt->eth_proto = proto;
	if (proto != XG_ETH_P_IP && proto != XG_ETH_P_IPV6)
		return verdict(pkt, XDP_PASS, XG_R_PASS_NOT_IP);
	return XG_CONTINUE;
}

/*
 * The fixed IP header, only as far as the addresses: enough to tell whether the packet may be
 * ours. Validation waits until we know it is (parse_ip), so foreign traffic is never judged.
 */
static __always_inline int parse_ip_addrs(void *data, void *data_end, struct packet *pkt)
{
	void *l3 = data + l3_offset(pkt);

	if (pkt->eth_proto == XG_ETH_P_IP) {
		struct iphdr *iph = l3;

		if ((void *)(iph + 1) > data_end)
			goto truncated;
		pkt->flow.family = XG_AF_INET;
		pkt->flow.src.v4 = iph->saddr;
		pkt->flow.dst.v4 = iph->daddr;
		return XG_CONTINUE;
	}
	struct ipv6hdr *ip6h = l3;

	if ((void *)(ip6h + 1) > data_end)
		goto truncated;
	pkt->flow.family = XG_AF_INET6;
	__builtin_memcpy(pkt->flow.src.bytes, ip6h->saddr.s6_addr, 16);
	__builtin_memcpy(pkt->flow.dst.bytes, ip6h->daddr.s6_addr, 16);
	return XG_CONTINUE;
truncated:
	return verdict(pkt, XDP_PASS, XG_R_PASS_TRUNCATED);
}

/*
 * Validates the IPv4 header of a packet that may be for a VIP; sets ip_len, l4_off, proto,
 * df and tos. Returns XG_CONTINUE or the reason the packet cannot be balanced (the caller turns
 * it into drop or pass once it knows whether the address is really a VIP).
 */
static __always_inline int parse_ipv4(void *data, void *data_end, struct packet *pkt)
{
	__u32 l3_off = l3_offset(pkt);
	struct iphdr *iph = data + l3_off;
	__u32 hlen, tot_len;

	if ((void *)(iph + 1) > data_end)
		return XG_R_PASS_TRUNCATED;
	hlen = iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	if (iph->version != 4 || hlen < sizeof(*iph) || tot_len < hlen ||
	    data + l3_off + tot_len > data_end)
		return XG_R_DROP_BAD_IP;
	if (iph->frag_off & bpf_htons(XG_IP_MF | XG_IP_OFFSET))
		return XG_R_PASS_FRAGMENT;
	pkt->ip_len = tot_len;
	pkt->l4_off = l3_off + hlen;
	pkt->flow.proto = iph->protocol;
	pkt->df = !!(iph->frag_off & bpf_htons(XG_IP_DF));
	pkt->tos = iph->tos;
	return XG_CONTINUE;
}

struct ipv6_ext {
	__u8 nexthdr;
	__u8 hdrlen;			/* 8-octet units, not counting the first 8 */
};

/* IPv6 counterpart of parse_ipv4: walks the common extension headers to the L4 header. */
static __always_inline int parse_ipv6(void *data, void *data_end, struct packet *pkt)
{
	__u32 l3_off = l3_offset(pkt);
	struct ipv6hdr *ip6h = data + l3_off;
	__u32 off, payload;
	__u8 nexthdr;

	if ((void *)(ip6h + 1) > data_end)
		return XG_R_PASS_TRUNCATED;
	payload = bpf_ntohs(ip6h->payload_len);
	if (ip6h->version != 6 || payload == 0 ||
	    data + l3_off + sizeof(*ip6h) + payload > data_end)
		return XG_R_DROP_BAD_IP;
	pkt->ip_len = sizeof(*ip6h) + payload;
	pkt->tos = (ip6h->priority << 4) | (ip6h->flow_lbl[0] >> 4);
	nexthdr = ip6h->nexthdr;
	off = l3_off + sizeof(*ip6h);
#pragma unroll
	for (int i = 0; i < XG_IPV6_MAX_EXT; i++) {
		struct ipv6_ext *ext = data + off;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			/* Within the datagram, not in the frame's padding after it. */
			if ((void *)(ext + 1) > data_end || off + sizeof(*ext) > l3_off + pkt->ip_len)
				return XG_R_DROP_MALFORMED;
			nexthdr = ext->nexthdr;
			off += (ext->hdrlen + 1) * 8;
			continue;
		case IPPROTO_FRAGMENT:
			return XG_R_PASS_FRAGMENT;
		default:
			goto done;
		}
	}
	/* Still an extension header after XG_IPV6_MAX_EXT of them. */
	switch (nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_FRAGMENT:
		return XG_R_DROP_MALFORMED;
	}
done:
	if (off > l3_off + pkt->ip_len)
		return XG_R_DROP_MALFORMED;
	pkt->l4_off = off;
	pkt->flow.proto = nexthdr;
	return XG_CONTINUE;
}

/* TCP or UDP ports and TCP flags; the header must lie inside the IP datagram. */
static __always_inline int parse_l4(void *data, void *data_end, struct packet *pkt)
{
	void *l4 = data + l4_offset(pkt);
	__u32 room = l3_offset(pkt) + pkt->ip_len - l4_offset(pkt);

	if (pkt->flow.proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end || room < sizeof(*th) || th->doff < 5 ||
		    th->doff * 4 > room)
			return XG_R_DROP_MALFORMED;
		pkt->flow.sport = th->source;
		pkt->flow.dport = th->dest;
		pkt->tcp_flags = ((__u8 *)th)[13];
		return XG_CONTINUE;
	}
	struct udphdr *uh = l4;

	if ((void *)(uh + 1) > data_end || room < sizeof(*uh))
		return XG_R_DROP_MALFORMED;
	pkt->flow.sport = uh->source;
	pkt->flow.dport = uh->dest;
	return XG_CONTINUE;
}

#endif
