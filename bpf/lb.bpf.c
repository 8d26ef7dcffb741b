// SPDX-License-Identifier: GPL-2.0
/*
 * The XDP L4 balancer: packets to a service (VIP, port, protocol) go to a backend chosen per
 * flow and leave encapsulated or MAC-rewritten by XDP_TX; everything else passes untouched.
 * Every packet is counted under exactly one reason (lb_stats); see docs/datapath.md.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <xdpgw/abi.h>

#include "lb_consts.h"
#include "lb_maps.h"
#include "lb_parse.h"
#include "lb_stats.h"
#include "lb_select.h"
#include "lb_conntrack.h"
#include "lb_icmp.h"
#include "lb_encap.h"

static __always_inline struct xg_settings *settings(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lb_settings, &zero);
}

/*
 * A packet we will not balance. Its reason stands only if the destination really is a VIP
 * address (the filter has false positives): otherwise it is someone else's and passes.
 */
static __always_inline int not_balanced(struct packet *pkt, enum xg_reason reason)
{
	if (!vip_addr_lookup(pkt))
		return verdict(pkt, XDP_PASS, XG_R_PASS_NOT_VIP);
	if (reason == XG_R_DROP_BAD_IP || reason == XG_R_DROP_MALFORMED)
		return verdict(pkt, XDP_DROP, reason);
	return verdict(pkt, XDP_PASS, reason);
}

/* An ICMP error quoting one of our flows goes to that flow's backend, untouched inside. */
static __always_inline int icmp_error_to_backend(struct xdp_md *ctx, struct packet *pkt,
						 const struct xg_flow_key *flow)
{
	struct xg_settings *set = settings();
	struct xg_backend *be;
	struct xg_vip *vip;
	__u32 id;

	if (!set)
		return verdict(pkt, XDP_PASS, XG_R_PASS_ICMP_NO_FLOW);
	pkt->flow = *flow;
	vip = vip_lookup(pkt);
	if (!vip)
		return verdict(pkt, XDP_PASS, XG_R_PASS_ICMP_NO_FLOW);
	id = conntrack_peek(pkt, vip, set);
	be = id == XG_BACKEND_NONE ? NULL : backend_lookup(id);
	if (!be)
		return verdict(pkt, XDP_PASS, XG_R_PASS_ICMP_NO_FLOW);
	return forward(ctx, pkt, vip, be, set->hash_seed, true);
}

static __always_inline int handle_icmp(struct xdp_md *ctx, struct packet *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct xg_flow_key flow = {};
	struct xg_vip_addr *addr;

	addr = vip_addr_lookup(pkt);
	if (!addr)
		return verdict(pkt, XDP_PASS, XG_R_PASS_NOT_VIP);
	switch (icmp_classify(data, data_end, pkt, &flow)) {
	case ICMP_IS_ECHO:
		if (addr->flags & XG_ADDR_F_NO_ECHO)
			return verdict(pkt, XDP_PASS, XG_R_PASS_ICMP);
		return icmp_echo_reply(data, data_end, pkt);
	case ICMP_IS_ERROR:
		return icmp_error_to_backend(ctx, pkt, &flow);
	case ICMP_IS_BAD:
		return verdict(pkt, XDP_DROP, XG_R_DROP_MALFORMED);
	default:
		return verdict(pkt, XDP_PASS, XG_R_PASS_ICMP);
	}
}

/* A TCP or UDP packet of service vip (ct: its flow's entry, if any): backend, then out. */
static __always_inline int balance(struct xdp_md *ctx, struct packet *pkt,
				   const struct xg_vip *vip, struct xg_ct_value *ct)
{
	struct xg_settings *set = settings();
	bool new_flow = false;
	struct xg_backend *be;
	__u32 id;
	int action;

	if (!set)	/* for the verifier: index 0 of an array always exists */
		return verdict(pkt, XDP_DROP, XG_R_DROP_NO_BACKEND);
	id = conntrack_backend(pkt, ct, vip, set, &new_flow);
	be = id == XG_BACKEND_NONE ? NULL : backend_lookup(id);
	if (!be)
		return verdict(pkt, XDP_DROP, XG_R_DROP_NO_BACKEND);
	action = forward(ctx, pkt, vip, be, set->hash_seed, false);
	if (action == XDP_TX) {
		/* A too-big answer to the client never reached the backend. */
		bool sent = pkt->reason != XG_R_ICMP_TOO_BIG_SENT;

		count_flow(&lb_vip_stats, vip->id, pkt->frame_len, sent, new_flow);
		count_flow(&lb_be_stats, id, pkt->frame_len, sent, new_flow);
	}
	return action;
}

static __always_inline int lb_process(struct xdp_md *ctx, struct packet *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct xg_vip *vip = NULL;
	struct xg_ct_value *ct;
	int rc;

	pkt->frame_len = data_end - data;
	rc = parse_eth(data, data_end, pkt);
	if (rc != XG_CONTINUE)
		return rc;
	rc = parse_ip_addrs(data, data_end, pkt);
	if (rc != XG_CONTINUE)
		return rc;
	if (!vip_filter_match(pkt))
		return verdict(pkt, XDP_PASS, XG_R_PASS_NOT_VIP);

	rc = is_ipv6(pkt) ? parse_ipv6(data, data_end, pkt) : parse_ipv4(data, data_end, pkt);
	if (rc != XG_CONTINUE)
		return not_balanced(pkt, rc);
	if (pkt->flow.proto == (is_ipv6(pkt) ? IPPROTO_ICMPV6 : IPPROTO_ICMP))
		return handle_icmp(ctx, pkt);
	if (pkt->flow.proto != IPPROTO_TCP && pkt->flow.proto != IPPROTO_UDP)
		return not_balanced(pkt, XG_R_PASS_PROTO);
	rc = parse_l4(data, data_end, pkt);
	if (rc != XG_CONTINUE)
		return not_balanced(pkt, rc);

	/* An established flow names its service; others look it up. */
	ct = ct_lookup(pkt);
	if (ct)
		vip = ct_service(pkt, ct);
	if (!vip)
		vip = vip_lookup(pkt);
	if (!vip)
		return not_balanced(pkt, XG_R_PASS_NO_SERVICE);
	return balance(ctx, pkt, vip, ct);
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	struct packet pkt = {};
	int action;

	action = lb_process(ctx, &pkt);
	count_reason(pkt.reason, pkt.frame_len);
	return action;
}

char LICENSE[] SEC("license") = "GPL";
