// SPDX-License-Identifier: GPL-2.0
/*
 * bench-xdp wrapper around the balancer (bpf/lb.bpf.c, compiled in whole), so that cases with
 * many flows or a growing packet run batched in BPF_PROG_TEST_RUN (which feeds one buffer to
 * every round): each round first gives the IPv4 TCP/UDP frame the next of bench_flows 5-tuples
 * (source port, then the source address's low 16 bits), runs the balancer, and undoes an
 * IPv4-outer ipip encapsulation (drops the outer header, writes back an Ethernet header) so the
 * next round sees a client frame again. The maps are the balancer's own (reused by fd).
 */
#include "lb.bpf.c"

const volatile __u32 bench_flows = 1;	/* 5-tuples to cycle through (set before load) */

/* Next 5-tuple index, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_next SEC(".maps");

#define BENCH_SPORT_OFF (XG_ETH_HLEN + XG_IPV4_HLEN)
#define BENCH_SADDR_LO_OFF (XG_ETH_HLEN + 14)	/* low 16 bits of the IPv4 source */

static __always_inline int next_flow(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0, *next, i;

	if (data + BENCH_SPORT_OFF + 2 > data_end)
		return -1;
	next = bpf_map_lookup_elem(&bench_next, &zero);
	if (!next)
		return -1;
	i = *next;
	*next = i + 1 >= bench_flows ? 0 : i + 1;
	*(__be16 *)(data + BENCH_SPORT_OFF) = bpf_htons(1024 + (i & 0x7fff));
	*(__be16 *)(data + BENCH_SADDR_LO_OFF) = bpf_htons(i >> 15);
	return 0;
}

/* Back to the client's frame: drop the outer IPv4 header, rewrite an untagged Ethernet one. */
static __always_inline int undo_ipip(struct xdp_md *ctx)
{
	void *data, *data_end;
	struct ethhdr *eth;

	if (bpf_xdp_adjust_head(ctx, XG_IPV4_HLEN))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	__builtin_memset(eth->h_dest, 0x02, ETH_ALEN);
	__builtin_memset(eth->h_source, 0x02, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	return XDP_TX;
}

SEC("xdp")
int xdp_bench_lb(struct xdp_md *ctx)
{
	struct packet pkt = {};
	int action;

	if (next_flow(ctx))
		return XDP_ABORTED;
	action = lb_process(ctx, &pkt);
	count_reason(pkt.reason, pkt.frame_len);
	if (action == XDP_TX && pkt.reason == XG_R_FWD_IPIP && !is_ipv6(&pkt))
		return undo_ipip(ctx);
	return action;
}

/* The cost of the wrapper alone: next 5-tuple, then the encapsulation's size change undone. */
SEC("xdp")
int xdp_bench_wrap(struct xdp_md *ctx)
{
	if (next_flow(ctx))
		return XDP_ABORTED;
	if (bpf_xdp_adjust_head(ctx, -(int)XG_IPV4_HLEN))
		return XDP_ABORTED;
	return undo_ipip(ctx);
}
