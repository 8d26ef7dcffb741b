/* SPDX-License-Identifier: GPL-2.0 */
/* Internet checksums: full IPv4 header sums, incremental updates (RFC 1624), ICMP sums. */
#ifndef XDPGW_LB_CSUM_H
#define XDPGW_LB_CSUM_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

/* Folds a 32-bit one's complement sum to 16 bits and complements it. */
static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Checksum of a 20-byte IPv4 header whose check field is zero (no options: the ones we write). */
static __always_inline __u16 ipv4_hdr_csum(const struct iphdr *iph)
{
	const __u16 *w = (const __u16 *)iph;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*iph) / 2); i++)
		sum += w[i];
	return csum_fold(sum);
}

/*
 * Updates a checksum field for one 16-bit word changing from old to new (RFC 1624, eqn. 3).
 * All three are in memory (network) order; one's complement sums do not care which.
 */
static __always_inline void csum_replace2(__u16 *check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~*check + (__u16)~old + new;

	*check = csum_fold(sum);
}

/* Same for a 32-bit word (an IPv4 address). */
static __always_inline void csum_replace4(__u16 *check, __u32 old, __u32 new)
{
	__u32 sum = (__u16)~*check;

	sum += (__u16)~(old & 0xffff) + (__u16)~(old >> 16);
	sum += (new & 0xffff) + (new >> 16);
	*check = csum_fold(sum);
}

#endif
