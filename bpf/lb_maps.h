/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Maps of the XDP balancer. Keys, values and names are the contract in <xdpgw/abi.h>; sizes
 * here are defaults that the loader (userspace/lib/lb.c) overrides before load.
 */
#ifndef XDPGW_LB_MAPS_H
#define XDPGW_LB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpgw/abi.h>

/* Services by (address, port, protocol); port 0 for "all ports". */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XG_MAX_VIPS);
	__type(key, struct xg_vip_key);
	__type(value, struct xg_vip);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lb_vips SEC(".maps");

/* Addresses that carry at least one service. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XG_MAX_VIPS);
	__type(key, struct xg_addr_key);
	__type(value, struct xg_vip_addr);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lb_vip_addrs SEC(".maps");

/* One-hash Bloom filter over lb_vip_addrs: a clear bit means "not a VIP address". */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XG_VIP_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} lb_vip_filter SEC(".maps");

/* Names and keys of services for gwctl; never read here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XG_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct xg_vip_info);
} lb_vip_info SEC(".maps");

/* Per-service traffic, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XG_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct xg_flow_stats);
} lb_vip_stats SEC(".maps");

/*
 * Template of the per-service selection tables; real ones are sized per service and filled
 * through a mapping (BPF_F_MMAPABLE) before they are swapped in.
 */
struct lb_sel_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

/* Selection table of each service, swapped whole by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XG_MAX_VIPS);
	__type(key, __u32);
	__array(values, struct lb_sel_inner);
} lb_selection SEC(".maps");

/* Backends by global id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XG_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xg_backend);
} lb_backends SEC(".maps");

/* Health checker's view of each backend, for gwctl; never read here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XG_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xg_backend_health);
} lb_be_health SEC(".maps");

/* Per-backend traffic, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XG_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xg_flow_stats);
} lb_be_stats SEC(".maps");

/* Active flows per backend (lc), shared by all CPUs, resynced by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XG_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __s64);
} lb_be_active SEC(".maps");

/*
 * Connection table: one shared LRU hash with per-CPU LRU lists (BPF_F_NO_COMMON_LRU), so a
 * flow that changes CPU still finds its entry while inserts do not contend on one list.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XG_CT_ENTRIES);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct xg_flow_key);
	__type(value, struct xg_ct_value);
} lb_conntrack SEC(".maps");

/* Persistence: the backend of a client address per service. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XG_PERSIST_ENTRIES);
	__type(key, struct xg_persist_key);
	__type(value, struct xg_persist_value);
} lb_persist SEC(".maps");

/* Links we are attached to, by ifindex: our MAC, MTU, outer source addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XG_MAX_IFINDEX);
	__type(key, __u32);
	__type(value, struct xg_link);
} lb_links SEC(".maps");

/* Runtime knobs written by gwd. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xg_settings);
} lb_settings SEC(".maps");

/* Packets and bytes per reason, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XG_R_MAX);
	__type(key, __u32);
	__type(value, struct xg_counter);
} lb_stats SEC(".maps");

/* Round-robin position per service, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XG_MAX_VIPS);
	__type(key, __u32);
	__type(value, __u32);
} lb_rr_cursor SEC(".maps");

/* Insert-rate window, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xg_cpu_state);
} lb_cpu_state SEC(".maps");

#endif
