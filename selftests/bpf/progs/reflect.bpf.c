// SPDX-License-Identifier: GPL-2.0
/* Test and benchmark floor: swaps the Ethernet addresses and sends the frame back (XDP_TX). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

/* Frames seen, so tests can tell the program ran. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} reflect_count SEC(".maps");

SEC("xdp")
int xdp_reflect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char tmp[ETH_ALEN];
	__u32 zero = 0;
	__u64 *count;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	count = bpf_map_lookup_elem(&reflect_count, &zero);
	if (count)
		*count += 1;
	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
