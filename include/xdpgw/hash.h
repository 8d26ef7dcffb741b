/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hash functions the datapath and userspace must compute identically (the `lookup` dry run,
 * the table builders, the reference model): flow hash, source hash, VIP filter bit.
 *
 * Words are the 32-bit loads of the network-order fields as they sit in memory (so the value
 * depends on host byte order, which is the same for the BPF program and its userspace).
 * The mixing is MurmurHash3's 32-bit block and finaliser steps.
 */
#ifndef XDPGW_HASH_H
#define XDPGW_HASH_H

#include <linux/types.h>
#include <xdpgw/abi.h>

static inline __u32 xg_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* One MurmurHash3 block step: mixes word k into state h. */
static inline __u32 xg_hash_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51u;
	k = xg_rotl32(k, 15);
	k *= 0x1b873593u;
	h ^= k;
	h = xg_rotl32(h, 13);
	return h * 5 + 0xe6546b64u;
}

/* MurmurHash3's finaliser; nwords is folded in as the length. */
static inline __u32 xg_hash_final(__u32 h, __u32 nwords)
{
	h ^= nwords * 4;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/*
 * Hash of a flow's 5-tuple: picks the Maglev slot (maglev), the outer source's low bits and
 * the IPv6 outer flow label. IPv4 hashes 4 words, IPv6 10.
 */
static inline __u32 xg_flow_hash(const struct xg_flow_key *k, __u32 seed)
{
	__u32 ports = (__u32)k->sport | ((__u32)k->dport << 16);
	__u32 h = seed;

	if (k->family == XG_AF_INET6) {
		h = xg_hash_mix(h, k->src.v6[0]);
		h = xg_hash_mix(h, k->src.v6[1]);
		h = xg_hash_mix(h, k->src.v6[2]);
		h = xg_hash_mix(h, k->src.v6[3]);
		h = xg_hash_mix(h, k->dst.v6[0]);
		h = xg_hash_mix(h, k->dst.v6[1]);
		h = xg_hash_mix(h, k->dst.v6[2]);
		h = xg_hash_mix(h, k->dst.v6[3]);
		h = xg_hash_mix(h, ports);
		h = xg_hash_mix(h, k->proto);
		return xg_hash_final(h, 10);
	}
	h = xg_hash_mix(h, k->src.v4);
	h = xg_hash_mix(h, k->dst.v4);
	h = xg_hash_mix(h, ports);
	h = xg_hash_mix(h, k->proto);
	return xg_hash_final(h, 4);
}

/* Hash of the source address only: the Maglev slot for sh services. */
static inline __u32 xg_src_hash(const struct xg_addr *src, __u8 family, __u32 seed)
{
	__u32 h = seed;

	if (family == XG_AF_INET6) {
		h = xg_hash_mix(h, src->v6[0]);
		h = xg_hash_mix(h, src->v6[1]);
		h = xg_hash_mix(h, src->v6[2]);
		h = xg_hash_mix(h, src->v6[3]);
		return xg_hash_final(h, 4);
	}
	h = xg_hash_mix(h, src->v4);
	return xg_hash_final(h, 1);
}

/* Bit of lb_vip_filter for a VIP address: 16 bits of a multiplicative hash. */
static inline __u32 xg_vip_filter_bit(const struct xg_addr *addr, __u8 family)
{
	__u32 x = addr->v6[0];

	if (family == XG_AF_INET6)
		x ^= xg_rotl32(addr->v6[1], 8) ^ xg_rotl32(addr->v6[2], 16) ^
		     xg_rotl32(addr->v6[3], 24);
	return (x * 0x9e3779b1u) >> 16;
}

#endif
