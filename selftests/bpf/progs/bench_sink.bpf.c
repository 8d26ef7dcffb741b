// SPDX-License-Identifier: GPL-2.0
/* Benchmark sink: counts every frame and drops it (XDP_DROP). Also the bench-l4 ceiling. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <xdpgw/abi.h>

/* Frames seen, [0] packets, [1] bytes; per CPU so counting costs no atomic. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} sink_count SEC(".maps");

/* Per outer destination address (xdp_sink_by_dst only): frames, and when the first arrived. */
struct sink_dst {
	__u64 packets;
	__u64 first_ns;		/* bpf_ktime_get_ns (CLOCK_MONOTONIC) of this CPU's first */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct xg_addr);
	__type(value, struct sink_dst);
} sink_by_dst SEC(".maps");

static __always_inline void count(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *val;

	val = bpf_map_lookup_elem(&sink_count, &key);
	if (val)
		*val += 1;
	key = 1;
	val = bpf_map_lookup_elem(&sink_count, &key);
	if (val)
		*val += ctx->data_end - ctx->data;
}

SEC("xdp")
int xdp_sink(struct xdp_md *ctx)
{
	count(ctx);
	return XDP_DROP;
}

/* Also counts per destination, so a benchmark can see which backend a packet went to. */
SEC("xdp")
int xdp_sink_by_dst(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct xg_addr dst = {};
	struct sink_dst *val;

	count(ctx);
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto == __builtin_bswap16(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return XDP_DROP;
		dst.v4 = ip->daddr;
	} else if (eth->h_proto == __builtin_bswap16(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return XDP_DROP;
		__builtin_memcpy(dst.bytes, ip6->daddr.s6_addr, sizeof(dst.bytes));
	} else {
		return XDP_DROP;
	}
	val = bpf_map_lookup_elem(&sink_by_dst, &dst);
	if (val) {
		/* Other CPUs' slots start at zero when the entry is made on one CPU. */
		if (!val->first_ns)
			val->first_ns = bpf_ktime_get_ns();
		val->packets++;
	} else {
		struct sink_dst first = { .packets = 1, .first_ns = bpf_ktime_get_ns() };

		bpf_map_update_elem(&sink_by_dst, &dst, &first, BPF_NOEXIST);
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
