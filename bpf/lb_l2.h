/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Ethernet header rewriting that keeps VLAN tags: save the tags before bpf_xdp_adjust_head()
 * moves the frame start, then write MACs, the same tags and the new ethertype at the new start.
 */
#ifndef XDPGW_LB_L2_H
#define XDPGW_LB_L2_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include "lb_consts.h"
#include "lb_parse.h"

struct l2_saved {
	__u8 dst[ETH_ALEN];
	__u8 src[ETH_ALEN];
	__u32 tags[XG_VLAN_MAX_DEPTH];	/* raw TPID + TCI of each tag, as on the wire */
};

/* Copies MACs and tags of the current frame; false if the frame is shorter than parsed. */
static __always_inline bool l2_save(void *data, void *data_end, const struct packet *pkt,
				    struct l2_saved *l2)
{
	if (data + XG_ETH_HLEN > data_end)
		return false;
	__builtin_memcpy(l2->dst, data, ETH_ALEN);
	__builtin_memcpy(l2->src, data + ETH_ALEN, ETH_ALEN);
	if (pkt->vlans >= 1) {
		if (data + XG_ETH_HLEN + XG_VLAN_HLEN > data_end)
			return false;
		__builtin_memcpy(&l2->tags[0], data + 12, 4);
	}
	if (pkt->vlans >= 2) {
		if (data + XG_ETH_HLEN + 2 * XG_VLAN_HLEN > data_end)
			return false;
		__builtin_memcpy(&l2->tags[1], data + 16, 4);
	}
	return true;
}

/* Writes dst, src, the saved tags and proto (host order) at the frame start. */
static __always_inline bool l2_write(void *data, void *data_end, const struct packet *pkt,
				     const __u8 *dst, const __u8 *src, const __u32 *tags,
				     __u16 proto)
{
	__be16 p = bpf_htons(proto);

	if (data + XG_ETH_HLEN > data_end)
		return false;
	__builtin_memcpy(data, dst, ETH_ALEN);
	__builtin_memcpy(data + ETH_ALEN, src, ETH_ALEN);
	switch (pkt->vlans) {
	case 0:
		__builtin_memcpy(data + 12, &p, 2);
		break;
	case 1:
		if (data + XG_ETH_HLEN + XG_VLAN_HLEN > data_end)
			return false;
		__builtin_memcpy(data + 12, &tags[0], 4);
		__builtin_memcpy(data + 16, &p, 2);
		break;
	default:
		if (data + XG_ETH_HLEN + 2 * XG_VLAN_HLEN > data_end)
			return false;
		__builtin_memcpy(data + 12, &tags[0], 4);
		__builtin_memcpy(data + 16, &tags[1], 4);
		__builtin_memcpy(data + 20, &p, 2);
		break;
	}
	return true;
}

#endif
