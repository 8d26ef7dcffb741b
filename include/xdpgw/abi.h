/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The contract between the XDP datapath and userspace (gwd, gwctl, tests): map names, keys and
 * values, enums and limits. The only header included by both sides (with its companion
 * <xdpgw/hash.h>, the hash functions both sides must compute identically): fixed-width types,
 * no pointers, explicit padding, every struct a multiple of 8 bytes where it is a map value.
 *
 * Byte order: addresses and ports are network byte order (as on the wire) everywhere; every
 * other integer is host order. Map names below are the names the maps are pinned under in the
 * bpffs directory (default /sys/fs/bpf/xdpgw); the library opens them by these names.
 *
 * Map                 type                      key                  value
 * lb_vips             hash                      struct xg_vip_key    struct xg_vip
 * lb_vip_addrs        hash                      struct xg_addr_key   struct xg_vip_addr
 * lb_vip_filter       array [XG_VIP_FILTER_WORDS] __u32 word        __u64 bits
 * lb_vip_info         array [max_vips]          __u32 vip id         struct xg_vip_info
 * lb_vip_stats        percpu array [max_vips]   __u32 vip id         struct xg_flow_stats
 * lb_selection        array of maps [max_vips]  __u32 vip id         inner array of __u32
 * lb_backends         array [max_backends]      __u32 backend id     struct xg_backend
 * lb_be_health        array [max_backends]      __u32 backend id     struct xg_backend_health
 * lb_be_stats         percpu array [max_backends] __u32 backend id   struct xg_flow_stats
 * lb_be_active        array [max_backends]      __u32 backend id     __s64 active flows
 * lb_conntrack        LRU hash, no common LRU   struct xg_flow_key   struct xg_ct_value
 * lb_persist          LRU hash                  struct xg_persist_key struct xg_persist_value
 * lb_links            array [max_ifindex]       __u32 ifindex        struct xg_link
 * lb_settings         array [1]                 __u32 0              struct xg_settings
 * lb_stats            percpu array [XG_R_MAX]   __u32 enum xg_reason struct xg_counter
 * lb_rr_cursor        percpu array [max_vips]   __u32 vip id         __u32 (datapath only)
 * lb_cpu_state        percpu array [1]          __u32 0              struct xg_cpu_state
 * decap_addrs         hash [XG_MAX_DECAP_ADDRS] struct xg_addr_key   __u32 (unused, 0)
 * decap_stats         percpu array [XG_DECAP_R_MAX] __u32 reason     struct xg_counter
 */
#ifndef XDPGW_ABI_H
#define XDPGW_ABI_H

#include <linux/types.h>

/* ---- limits (defaults; the sizes marked "load time" are overridable through lb_opts) ---- */
#define XG_NAME_LEN 32			/* service names, NUL-terminated */
#define XG_MAX_VIPS 512			/* load time: services (ids 0..max_vips-1) */
#define XG_MAX_BACKENDS 4096		/* load time: backends over all services */
#define XG_CT_ENTRIES (1u << 20)	/* load time: connection table entries */
#define XG_PERSIST_ENTRIES (1u << 16)	/* load time: persistence table entries */
#define XG_MAX_LINKS 64			/* interfaces one process attaches to */
#define XG_MAX_IFINDEX 4096		/* load time: lb_links slots (ifindex < this) */
#define XG_MAX_DECAP_ADDRS 64		/* local addresses the decap program accepts */
#define XG_SEL_MAX 65521		/* largest selection table (a prime), entries */
#define XG_SEL_DEFAULT 16381		/* Maglev table size of a service unless set or outgrown */
#define XG_SEL_BUDGET (1u << 22)	/* all selection tables together, entries (lib enforced) */
#define XG_LC_MAX_BACKENDS 64		/* lc scans at most this many backends per service */
#define XG_VIP_FILTER_WORDS 1024	/* lb_vip_filter: 65536 bits */

#define XG_BACKEND_NONE 0xffffffffu
#define XG_VIP_NONE 0xffffffffu

/* Connection-table timeouts used when lb_settings holds 0. */
#define XG_CT_TIMEOUT_TCP_DEFAULT_NS (900ull * 1000000000ull)
#define XG_CT_TIMEOUT_UDP_DEFAULT_NS (120ull * 1000000000ull)

/* ---- addresses ---- */
enum xg_family {
	XG_AF_INET = 4,
	XG_AF_INET6 = 6,
};

/* An IPv4 address lives in v4 (== v6[0]) with the other words zero. Network byte order. */
struct xg_addr {
	union {
		__be32 v4;
		__be32 v6[4];
		__u8 bytes[16];
	};
};

/* Key of lb_vip_addrs and decap_addrs: one address. pad must be zero. */
struct xg_addr_key {
	struct xg_addr addr;
	__u8 family;		/* enum xg_family */
	__u8 pad[3];
};

/* ---- services (VIPs) ---- */
enum xg_algo {
	XG_ALGO_MAGLEV = 0,	/* weighted Maglev over the 5-tuple */
	XG_ALGO_SH = 1,		/* Maglev table keyed by source address only */
	XG_ALGO_RR = 2,		/* weighted round robin, per-CPU cursor */
	XG_ALGO_LC = 3,		/* least active flows / weight */
	XG_ALGO_MAX,
};

enum xg_fwd {
	XG_FWD_IPIP = 0,	/* IPIP / IP6IP6 (or 4in6, 6in4) to the backend, DSR */
	XG_FWD_L2 = 1,		/* rewrite destination MAC only, DSR on one L2 segment */
	XG_FWD_MAX,
};

/*
 * Key of lb_vips. port 0 means "all ports of this address" (looked up when the exact port
 * misses). pad must be zero: the key is hashed as bytes.
 */
struct xg_vip_key {
	struct xg_addr addr;
	__be16 port;
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;		/* enum xg_family */
};

enum xg_vip_flags {
	XG_VIP_F_HC_ENCAP = 1 << 0,	/* health probes go through the encapsulation (gwd) */
};

/* Value of lb_vips: everything the datapath needs to handle a packet for this service. */
struct xg_vip {
	__u32 id;		/* index into lb_selection, lb_vip_info, lb_vip_stats */
	__u8 algo;		/* enum xg_algo */
	__u8 fwd;		/* enum xg_fwd */
	__u16 flags;		/* enum xg_vip_flags */
	__u32 persist_sec;	/* 0: no persistence */
	__u32 pad;
};

/*
 * lb_vip_addrs: every address that has at least one service. A packet to such an address that
 * matches no service is passed (pass-no-service); echo requests to it are answered.
 * lb_vip_filter: a one-hash Bloom filter over the same addresses (bit xg_vip_filter_bit() of
 * <xdpgw/hash.h>), so that traffic for other addresses is passed after one array read.
 * The library keeps both in step with lb_vips (bits are set before an address is added and
 * cleared after it is removed).
 */
enum xg_vip_addr_flags {
	XG_ADDR_F_NO_ECHO = 1 << 0,	/* do not answer echo requests to this address */
};

struct xg_vip_addr {
	__u32 flags;		/* enum xg_vip_addr_flags */
	__u32 services;		/* services on this address (informational) */
};

/*
 * lb_vip_info[id]: the service by id. gwctl decodes it; the datapath reads in_use, key and vip
 * to find an established flow's service from its connection-table entry (an array read
 * instead of a hash lookup), so it must be written before lb_vips and cleared before the
 * lb_vips key goes.
 */
struct xg_vip_info {
	char name[XG_NAME_LEN];
	struct xg_vip_key key;
	struct xg_vip vip;
	__u32 in_use;
	__u32 sel_size;		/* entries in the current selection table */
	__u32 generation;	/* bumped on every change of this service */
	__u32 maglev_size;	/* maglev/sh table size: configured or grown; 0: XG_SEL_DEFAULT */
	__u32 reserved;
};

/*
 * lb_selection[vip id] is an inner array map (BPF_F_INNER_MAP, so sizes differ per service;
 * BPF_F_MMAPABLE, so userspace fills it through a mapping) of __u32 whose slot 0 holds the
 * number n of entries that follow; slots 1..n hold backend ids. For maglev and sh it is the
 * Maglev lookup table (n prime), for rr the weighted sequence, for lc the list of eligible
 * backends (n <= XG_LC_MAX_BACKENDS). Only live backends (in use, not down, not draining,
 * weight > 0) appear. A change builds a new inner map and swaps it in with
 * one update of the outer map, so a packet sees the old table or the new one, never a mix.
 * An absent inner map or n == 0 means "no live backend".
 */
#define XG_SEL_HDR 1

/* ---- backends ---- */
enum xg_backend_flags {
	XG_BE_F_IN_USE = 1 << 0,
	XG_BE_F_DOWN = 1 << 1,		/* the datapath's view: no new flows, existing flows move */
	XG_BE_F_DRAIN = 1 << 2,		/* weight 0 / drain: no new flows, existing flows stay */
	XG_BE_F_ADMIN_DOWN = 1 << 3,	/* informational: operator set down */
	XG_BE_F_HC_FAIL = 1 << 4,	/* informational: health checker says down */
};

/*
 * lb_backends[id]. Backend ids are global over all services. mac is the next-hop MAC: the
 * backend's own on the same segment (required for l2), else the gateway's. The datapath reads
 * addr, family, flags, vip_id and mac; weight is for userspace (tables, lc).
 */
struct xg_backend {
	struct xg_addr addr;
	__u8 family;		/* enum xg_family */
	__u8 flags;		/* enum xg_backend_flags */
	__u16 weight;
	__u32 vip_id;		/* the service it belongs to: a flow of another service never uses it */
	__u8 mac[6];
	__u16 pad;
};

/* lb_be_health[id]: health checker's view, for gwctl; the datapath never reads it. */
enum xg_hc_state {
	XG_HC_UNKNOWN = 0,
	XG_HC_UP = 1,
	XG_HC_DOWN = 2,
	XG_HC_DISABLED = 3,
};

struct xg_backend_health {
	__u8 state;		/* enum xg_hc_state */
	__u8 last_ok;		/* last probe succeeded */
	__u16 pad;
	__u32 last_latency_us;
	__u64 since_unix_ms;	/* when state last changed */
	__u64 last_probe_unix_ms;
	__u64 probes;
	__u64 failures;
	char last_error[32];
};

/* ---- connection and persistence tables ---- */

/* A flow as the client sent it: src is the client, dst the VIP. pad must be zero. */
struct xg_flow_key {
	struct xg_addr src;
	struct xg_addr dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

enum xg_ct_flags {
	XG_CT_F_FIN = 1 << 0,	/* FIN or RST seen from the client: counted out of lb_be_active */
};

/*
 * lb_conntrack value. last_seen_ns is bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC, coarse),
 * refreshed at most once per XG_CT_REFRESH_NS to keep established packets from writing.
 * UDP: read on every packet; an entry idle past ct_timeout_udp_ns is a new flow.
 * TCP: read only on SYN/FIN/RST and on every XG_CT_SAMPLE-th established packet of a CPU
 * (saves the clock read, ~1.5 ns); TCP entries never expire on the packet path
 * (the LRU evicts them, a SYN after FIN/RST starts a new flow), the timestamp serves the lc
 * resync and gwctl.
 */
struct xg_ct_value {
	__u32 backend_id;
	__u32 vip_id;
	__u64 last_seen_ns;
	__u32 flags;		/* enum xg_ct_flags */
	__u32 pad;
};
#define XG_CT_REFRESH_NS 1000000000ull
#define XG_CT_SAMPLE 32

struct xg_persist_key {
	struct xg_addr src;
	__u32 vip_id;
	__u8 family;
	__u8 pad[3];
};

struct xg_persist_value {
	__u32 backend_id;
	__u32 pad;
	__u64 last_seen_ns;	/* coarse monotonic; refreshed by every new flow of the client */
};

/*
 * ---- links the balancer is attached to: lb_links[ifindex] ----
 * An array indexed by ifindex (an array read costs nothing on the packet path, a hash lookup
 * does); an entry whose ifindex field is 0 is "not configured" (drop-no-link).
 */
struct xg_link {
	__u8 mac[6];		/* our MAC: source of forwarded frames */
	__u16 mtu;		/* L3 MTU; 0: no check */
	__u32 ifindex;
	struct xg_addr src4;	/* outer source for IPv4 encapsulation (v4 field) */
	struct xg_addr src6;	/* outer source for IPv6 encapsulation */
	__u8 src4_hash_bits;	/* low bits of src4 taken from the flow hash (0: fixed; max 16) */
	__u8 src6_hash_bits;	/* same for src6 (max 32) */
	__u8 pad[10];
};

/* ---- runtime settings: lb_settings[0], written by gwd; zeros mean the defaults ---- */
struct xg_settings {
	__u64 ct_timeout_tcp_ns;	/* idle TCP entry is stale (reselected) after this */
	__u64 ct_timeout_udp_ns;
	__u32 new_flow_rate;		/* conntrack inserts per second per CPU; 0: unlimited */
	__u32 hash_seed;		/* seed of the flow hash: equal on every L4 node */
	/* Userspace only (lbmap keeps them across settings writes): where the search for a free
	 * service / backend id starts, one past the last id handed out. Ids go round, so an id
	 * freed comes back only after all others were taken, and a connection-table entry naming
	 * a removed id finds it unused (reselected) rather than a newcomer under that id. */
	__u32 next_vip_id;
	__u32 next_backend_id;
};

/* lb_cpu_state[0], per CPU: the insert-rate window. Datapath only. */
struct xg_cpu_state {
	__u64 window_start_ns;
	__u64 inserts;
	__u64 packets;		/* established TCP packets: every XG_CT_SAMPLE-th refreshes time */
	__u64 pad;
};

/* ---- statistics ---- */
struct xg_counter {
	__u64 packets;
	__u64 bytes;
};

/* lb_vip_stats[vip id] and lb_be_stats[backend id], per CPU. */
struct xg_flow_stats {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
	__u64 pad;
};

/* What a reason says about the packet's fate. */
enum xg_reason_kind {
	XG_RK_TX = 0,		/* sent back out the ingress link (XDP_TX) */
	XG_RK_PASS = 1,		/* handed to the kernel untouched (XDP_PASS) */
	XG_RK_DROP = 2,		/* dropped (XDP_DROP) */
	XG_RK_INFO = 3,		/* informational, counted in addition to the fate */
};

/*
 * lb_stats[reason], per CPU: what happened to each packet, by name. Every packet is counted
 * under exactly one reason of kind TX, PASS or DROP; INFO reasons are counted in addition.
 * X(ID, "name", kind). Userspace gets the names with XG_REASON_NAMES.
 */
#define XG_REASONS(X)                                                                              \
	X(FWD_IPIP, "fwd-ipip", XG_RK_TX)		/* encapsulated to the backend */          \
	X(FWD_L2, "fwd-l2", XG_RK_TX)			/* MAC rewritten to the backend */         \
	X(ICMP_ECHO_REPLY, "icmp-echo-reply", XG_RK_TX)	/* echo request to a VIP answered */       \
	X(ICMP_ERR_FWD, "icmp-error-fwd", XG_RK_TX)	/* ICMP error about a flow to its backend */ \
	X(ICMP_TOO_BIG_SENT, "icmp-too-big-sent", XG_RK_TX) /* frag-needed / too-big to client */ \
	X(PASS_NOT_IP, "pass-not-ip", XG_RK_PASS)	/* not IPv4/IPv6 (ARP, LLDP ...) */        \
	X(PASS_TRUNCATED, "pass-truncated", XG_RK_PASS)	/* too short to read the destination */   \
	X(PASS_NOT_VIP, "pass-not-vip", XG_RK_PASS)	/* destination is not a VIP address */     \
	X(PASS_NO_SERVICE, "pass-no-service", XG_RK_PASS) /* VIP address, no service on port */   \
	X(PASS_PROTO, "pass-proto", XG_RK_PASS)		/* VIP address, not TCP/UDP/ICMP */        \
	X(PASS_FRAGMENT, "pass-fragment", XG_RK_PASS)	/* IP fragment to a VIP address */         \
	X(PASS_ICMP, "pass-icmp", XG_RK_PASS)		/* other ICMP to a VIP address */          \
	X(PASS_ICMP_NO_FLOW, "pass-icmp-no-flow", XG_RK_PASS) /* ICMP error, flow not known */    \
	X(DROP_BAD_IP, "drop-bad-ip", XG_RK_DROP)	/* to a VIP, invalid IP header */          \
	X(DROP_MALFORMED, "drop-malformed", XG_RK_DROP)	/* to a VIP, truncated/invalid L4 or ext */ \
	X(DROP_NO_BACKEND, "drop-no-backend", XG_RK_DROP) /* service has no live backend */        \
	X(DROP_NO_LINK, "drop-no-link", XG_RK_DROP)	/* ingress link not in lb_links */         \
	X(DROP_TOO_BIG, "drop-too-big", XG_RK_DROP)	/* over MTU after encap, no ICMP possible */ \
	X(DROP_ADJUST, "drop-adjust-failed", XG_RK_DROP) /* bpf_xdp_adjust_head/tail failed */     \
	X(DROP_FAMILY, "drop-family", XG_RK_DROP)	/* l2 to a backend of the other family */  \
	X(CT_HIT, "ct-hit", XG_RK_INFO)			/* flow found in the table */              \
	X(CT_MISS, "ct-miss", XG_RK_INFO)		/* new flow selected */                    \
	X(CT_INSERT_SKIPPED, "ct-insert-skipped", XG_RK_INFO) /* over new_flow_rate: not stored */ \
	X(CT_INSERT_FAILED, "ct-insert-failed", XG_RK_INFO) /* map update failed */              \
	X(CT_RESELECT, "ct-reselect", XG_RK_INFO)	/* flow's backend down/gone/stale: moved */ \
	X(CT_CLOSE, "ct-close", XG_RK_INFO)		/* FIN/RST: flow counted out of active */  \
	X(PERSIST_HIT, "persist-hit", XG_RK_INFO)	/* persistence kept the client's backend */ \
	X(CT_INSERT, "ct-insert", XG_RK_INFO)		/* new flow stored in lb_conntrack */      \
	X(PERSIST_INSERT, "persist-insert", XG_RK_INFO)	/* new client stored in lb_persist */      \
	X(CT_FLUSHED, "ct-flushed", XG_RK_INFO)		/* entries flushed (userspace counts them) */ \
	X(PERSIST_FLUSHED, "persist-flushed", XG_RK_INFO) /* same for lb_persist */

#define XG_REASON_ENUM_(id, name, kind) XG_R_##id,
enum xg_reason {
	XG_REASONS(XG_REASON_ENUM_) XG_R_MAX,
};
#undef XG_REASON_ENUM_

/* Map values are multiples of 8 bytes (no hidden tail padding between the two sides). */
_Static_assert(sizeof(struct xg_vip) % 8 == 0, "xg_vip");
_Static_assert(sizeof(struct xg_vip_info) % 8 == 0, "xg_vip_info");
_Static_assert(sizeof(struct xg_backend) % 8 == 0, "xg_backend");
_Static_assert(sizeof(struct xg_backend_health) % 8 == 0, "xg_backend_health");
_Static_assert(sizeof(struct xg_ct_value) % 8 == 0, "xg_ct_value");
_Static_assert(sizeof(struct xg_persist_value) % 8 == 0, "xg_persist_value");
_Static_assert(sizeof(struct xg_link) % 8 == 0, "xg_link");
_Static_assert(sizeof(struct xg_settings) % 8 == 0, "xg_settings");
_Static_assert(sizeof(struct xg_flow_key) == 40, "xg_flow_key");

/* Initialisers for userspace tables indexed by enum xg_reason. */
#define XG_REASON_NAME_(id, name, kind) name,
#define XG_REASON_KIND_(id, name, kind) kind,
#define XG_REASON_NAMES { XG_REASONS(XG_REASON_NAME_) }
#define XG_REASON_KINDS { XG_REASONS(XG_REASON_KIND_) }

/* ---- decap program (backend hosts): decap_addrs holds the outer destinations it strips ---- */
#define XG_DECAP_REASONS(X)                                                                        \
	X(STRIPPED, "decap-stripped", XG_RK_PASS)	/* outer header removed, inner passed up */ \
	X(PASS_NOT_IP, "pass-not-ip", XG_RK_PASS)	/* not IPv4/IPv6 */                          \
	X(PASS_NOT_ENCAP, "pass-not-encap", XG_RK_PASS)	/* not IPIP/IP6IP6/4in6/6in4 */          \
	X(PASS_NOT_LOCAL, "pass-not-local", XG_RK_PASS)	/* outer destination not in decap_addrs */ \
	X(PASS_FRAGMENT, "pass-fragment", XG_RK_PASS)	/* outer header is a fragment */           \
	X(PASS_TRUNCATED, "pass-truncated", XG_RK_PASS)	/* too short to read the outer header */   \
	X(DROP_MALFORMED, "drop-malformed", XG_RK_DROP)	/* ours, but inner header invalid */       \
	X(DROP_ADJUST, "drop-adjust-failed", XG_RK_DROP) /* bpf_xdp_adjust_head failed */

#define XG_DECAP_REASON_ENUM_(id, name, kind) XG_DECAP_R_##id,
enum xg_decap_reason {
	XG_DECAP_REASONS(XG_DECAP_REASON_ENUM_) XG_DECAP_R_MAX,
};
#undef XG_DECAP_REASON_ENUM_
#define XG_DECAP_REASON_NAMES { XG_DECAP_REASONS(XG_REASON_NAME_) }
#define XG_DECAP_REASON_KINDS { XG_DECAP_REASONS(XG_REASON_KIND_) }

/*
 * Pinned objects under the bpffs directory (default /sys/fs/bpf/xdpgw):
 *   <dir>/lb_*                   the balancer's maps, by the names above
 *   <dir>/links/IFNAME           XDP link of the balancer on IFNAME
 *   <dir>/decap/decap_*          the decap program's maps
 *   <dir>/decap/links/IFNAME     XDP link of the decap program on IFNAME
 */
#define XG_BPFFS_DEFAULT "/sys/fs/bpf/xdpgw"
#define XG_PIN_LINKS_DIR "links"
#define XG_PIN_DECAP_DIR "decap"

#endif
