// SPDX-License-Identifier: GPL-2.0
/* XDP_PASS for the peer of a native-mode veth: lets it receive frames sent with XDP_TX. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
