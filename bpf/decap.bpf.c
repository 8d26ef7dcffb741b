// SPDX-License-Identifier: GPL-2.0
/*
 * Backend-side decapsulation: strips the outer IPv4/IPv6 header of IPIP, IP6IP6, 4in6 and 6in4
 * packets addressed to one of this host's decap_addrs and passes the inner packet up the
 * stack, so backends need no tunnel device. Everything else passes untouched.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <xdpgw/abi.h>

#include "lb_consts.h"
#include "lb_l2.h"
#include "lb_parse.h"

/* Outer destinations this host decapsulates. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XG_MAX_DECAP_ADDRS);
	__type(key, struct xg_addr_key);
	__type(value, __u32);
} decap_addrs SEC(".maps");

/* Packets and bytes per enum xg_decap_reason, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XG_DECAP_R_MAX);
	__type(key, __u32);
	__type(value, struct xg_counter);
} decap_stats SEC(".maps");

struct outer {
	__u32 len;		/* bytes to strip */
	__u8 inner_proto;	/* IPPROTO_IPIP or IPPROTO_IPV6 */
};

static __always_inline bool is_local(const struct packet *pkt)
{
	struct xg_addr_key key = { .addr = pkt->flow.dst, .family = pkt->flow.family };

	return bpf_map_lookup_elem(&decap_addrs, &key) != NULL;
}

/* The outer header, if it is an encapsulation for us; else the reason to pass. */
static __always_inline int parse_outer(void *data, void *data_end, struct packet *pkt,
				       struct outer *o)
{
	void *l3 = data + l3_offset(pkt);

	if (!is_ipv6(pkt)) {
		struct iphdr *iph = l3;

		if ((void *)(iph + 1) > data_end)
			return XG_DECAP_R_PASS_TRUNCATED;
		if (iph->version != 4 || iph->ihl < 5 ||
		    (iph->protocol != IPPROTO_IPIP && iph->protocol != IPPROTO_IPV6))
			return XG_DECAP_R_PASS_NOT_ENCAP;
		if (!is_local(pkt))
			return XG_DECAP_R_PASS_NOT_LOCAL;
		if (iph->frag_off & bpf_htons(XG_IP_MF | XG_IP_OFFSET))
			return XG_DECAP_R_PASS_FRAGMENT;
		o->len = iph->ihl * 4;
		o->inner_proto = iph->protocol;
		return XG_CONTINUE;
	}
	struct ipv6hdr *ip6h = l3;

	if ((void *)(ip6h + 1) > data_end)
		return XG_DECAP_R_PASS_TRUNCATED;
	if (ip6h->version != 6 || (ip6h->nexthdr != IPPROTO_IPIP && ip6h->nexthdr != IPPROTO_IPV6))
		return XG_DECAP_R_PASS_NOT_ENCAP;
	if (!is_local(pkt))
		return XG_DECAP_R_PASS_NOT_LOCAL;
	o->len = sizeof(*ip6h);
	o->inner_proto = ip6h->nexthdr;
	return XG_CONTINUE;
}

/* The inner header must be whole and of the family the outer header announced. */
static __always_inline bool inner_ok(void *data, void *data_end, const struct packet *pkt,
				     const struct outer *o)
{
	void *inner = data + l3_offset(pkt) + (o->len & 0x7f);

	if (o->inner_proto == IPPROTO_IPIP) {
		struct iphdr *iph = inner;

		return (void *)(iph + 1) <= data_end && iph->version == 4 && iph->ihl >= 5;
	}
	struct ipv6hdr *ip6h = inner;

	return (void *)(ip6h + 1) <= data_end && ip6h->version == 6;
}

static __always_inline int decap(struct xdp_md *ctx, struct packet *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct l2_saved l2 = {};
	struct outer o = {};
	int rc;

	rc = parse_eth(data, data_end, pkt);
	if (rc != XG_CONTINUE)
		return pkt->reason == XG_R_PASS_NOT_IP ? XG_DECAP_R_PASS_NOT_IP :
							 XG_DECAP_R_PASS_TRUNCATED;
	rc = parse_ip_addrs(data, data_end, pkt);
	if (rc != XG_CONTINUE)
		return XG_DECAP_R_PASS_TRUNCATED;
	rc = parse_outer(data, data_end, pkt, &o);
	if (rc != XG_CONTINUE)
		return rc;
	if (!inner_ok(data, data_end, pkt, &o))
		return XG_DECAP_R_DROP_MALFORMED;
	if (!l2_save(data, data_end, pkt, &l2))
		return XG_DECAP_R_DROP_MALFORMED;
	if (bpf_xdp_adjust_head(ctx, (int)(o.len & 0x7f)))
		return XG_DECAP_R_DROP_ADJUST;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (!l2_write(data, data_end, pkt, l2.dst, l2.src, l2.tags,
		      o.inner_proto == IPPROTO_IPIP ? XG_ETH_P_IP : XG_ETH_P_IPV6))
		return XG_DECAP_R_DROP_ADJUST;
	return XG_DECAP_R_STRIPPED;
}

SEC("xdp")
int xdp_decap(struct xdp_md *ctx)
{
	struct packet pkt = {};
	__u32 reason;
	struct xg_counter *c;

	pkt.frame_len = (void *)(long)ctx->data_end - (void *)(long)ctx->data;
	reason = decap(ctx, &pkt);
	c = bpf_map_lookup_elem(&decap_stats, &reason);
	if (c) {
		c->packets++;
		c->bytes += pkt.frame_len;
	}
	return reason == XG_DECAP_R_DROP_MALFORMED || reason == XG_DECAP_R_DROP_ADJUST ?
		XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
