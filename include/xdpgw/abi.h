/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The contract between the XDP datapath and userspace (gwd, gwctl, tests): map keys and values,
 * enums and limits. The only header included by both sides: fixed-width types, no pointers,
 * explicit padding, every struct a multiple of 8 bytes where it is a map value.
 */
#ifndef XDPGW_ABI_H
#define XDPGW_ABI_H

#include <linux/types.h>

/* ---- limits (defaults; map sizes are overridable at load time) ---- */
#define XG_NAME_LEN 32			/* service names, NUL-terminated */
#define XG_MAX_VIPS 512			/* services (lb_vips, lb_selection outer) */
#define XG_MAX_BACKENDS 4096		/* backends over all services (lb_backends) */
#define XG_CT_ENTRIES (1u << 20)	/* connection table (lb_conntrack) */
#define XG_PERSIST_ENTRIES (1u << 16)	/* persistence table (lb_persist) */
#define XG_MAX_LINKS 64			/* interfaces the balancer is attached to */
#define XG_MAX_DECAP_ADDRS 64		/* local addresses the decap program accepts */
#define XG_SEL_MAX 131071		/* largest selection table (a prime), entries */
#define XG_LC_MAX_BACKENDS 64		/* lc scans at most this many backends per service */

#define XG_BACKEND_NONE 0xffffffffu

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

/* Key of lb_vips. port 0 means "all ports of this address". */
struct xg_vip_key {
	struct xg_addr addr;
	__be16 port;
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;		/* enum xg_family */
};

enum xg_vip_flags {
	XG_VIP_F_HC_ENCAP = 1 << 0,	/* health probes go through the encapsulation */
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

/* lb_vip_info[id]: for decoding by gwctl; the datapath never reads it. */
struct xg_vip_info {
	char name[XG_NAME_LEN];
	struct xg_vip_key key;
	struct xg_vip vip;
	__u32 in_use;
	__u32 sel_size;		/* entries in the current selection table */
	__u32 generation;	/* bumped on every change of this service */
	__u32 pad;
};

/*
 * lb_selection[vip id] is an inner array map of __u32 whose slot 0 holds the number of entries
 * that follow; slots 1..n hold backend ids. For maglev and sh it is the Maglev lookup table,
 * for rr the weighted sequence, for lc the list of eligible backends. A change builds a new
 * inner map and swaps it in with one update, so a packet sees the old table or the new one.
 */
#define XG_SEL_HDR 1

/* ---- backends ---- */
enum xg_backend_flags {
	XG_BE_F_IN_USE = 1 << 0,
	XG_BE_F_DOWN = 1 << 1,		/* health or operator: no new flows, existing flows move */
	XG_BE_F_DRAIN = 1 << 2,		/* weight 0 / drain: no new flows, existing flows stay */
	XG_BE_F_ADMIN_DOWN = 1 << 3,	/* operator set down; health can not clear it */
	XG_BE_F_HC_FAIL = 1 << 4,	/* health checker says down */
};

/* lb_backends[id]. mac is the next-hop MAC: the backend's own on the same segment, else the
 * gateway's. */
struct xg_backend {
	struct xg_addr addr;
	__u8 family;		/* enum xg_family */
	__u8 flags;		/* enum xg_backend_flags */
	__u16 weight;
	__u32 vip_id;
	__u8 mac[6];
	__u16 pad;
	__u32 ifindex;		/* egress link (0: the ingress link) */
};

/* lb_backend_health[id]: health checker's view, for gwctl; the datapath never reads it. */
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
	XG_CT_F_FIN = 1 << 0,	/* FIN or RST seen from the client: counted out of lc */
};

struct xg_ct_value {
	__u32 backend_id;
	__u32 vip_id;
	__u64 last_seen_ns;	/* bpf_ktime_get_ns() at the last refresh */
	__u32 flags;		/* enum xg_ct_flags */
	__u32 pad;
};

struct xg_persist_key {
	struct xg_addr src;
	__u32 vip_id;
	__u8 family;
	__u8 pad[3];
};

struct xg_persist_value {
	__u32 backend_id;
	__u32 pad;
	__u64 last_seen_ns;
};

/* ---- links the balancer is attached to: lb_links[ifindex] ---- */
struct xg_link {
	__u8 mac[6];		/* our MAC: source of forwarded frames */
	__u16 mtu;
	__u32 ifindex;
	struct xg_addr src4;	/* outer source for IPv4 encapsulation (v4 field) */
	struct xg_addr src6;	/* outer source for IPv6 encapsulation */
	__u8 src4_hash_bits;	/* low bits of src4 taken from the flow hash (0: fixed) */
	__u8 src6_hash_bits;
	__u8 pad[6];
};

/* ---- runtime settings: lb_settings[0], written by gwd ---- */
struct xg_settings {
	__u64 ct_timeout_tcp_ns;	/* idle TCP flow entry is stale after this */
	__u64 ct_timeout_udp_ns;
	__u32 new_flow_rate;		/* conntrack inserts per second per CPU; 0: unlimited */
	__u32 flags;
};

/* ---- statistics ---- */
struct xg_counter {
	__u64 packets;
	__u64 bytes;
};

/* lb_vip_stats[vip id] and lb_backend_stats[backend id], per CPU. */
struct xg_flow_stats {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
	__u64 pad;
};

/*
 * lb_stats[reason], per CPU: what happened to each packet, by name. Every XDP_PASS and
 * XDP_DROP taken by the balancer is counted under exactly one reason.
 */
#define XG_REASONS(X)                                                                              \
	X(FWD_IPIP, "fwd-ipip")			/* XDP_TX, encapsulated */                         \
	X(FWD_L2, "fwd-l2")			/* XDP_TX, MAC rewritten */                        \
	X(PASS_NOT_IP, "pass-not-ip")		/* not IPv4/IPv6 (ARP, LLDP ...) */               \
	X(PASS_NOT_VIP, "pass-not-vip")		/* destination is not a service */                 \
	X(PASS_FRAGMENT, "pass-fragment")	/* non-first fragment or fragment to a VIP */      \
	X(DROP_BAD_IP, "drop-bad-ip")		/* malformed IP header to a VIP */                  \
	X(DROP_MALFORMED, "drop-malformed")	/* truncated or inconsistent headers for a VIP */ \
	X(DROP_NO_BACKEND, "drop-no-backend")	/* service has no live backend */                  \
	X(DROP_NO_LINK, "drop-no-link")		/* ingress link not configured */                  \
	X(DROP_TOO_BIG, "drop-too-big")		/* DF and over MTU after encap: ICMP sent */       \
	X(DROP_ADJUST, "drop-adjust-failed")	/* bpf_xdp_adjust_head failed */                   \
	X(DROP_PROTO, "drop-unsupported-proto")	/* VIP address, protocol we do not balance */      \
	X(CT_HIT, "ct-hit")			/* informational: flow found in the table */       \
	X(CT_MISS, "ct-miss")			/* informational: new flow selected */             \
	X(CT_INSERT_SKIPPED, "ct-insert-skipped") /* over new_flow_rate: forwarded, not stored */ \
	X(CT_RESELECT, "ct-reselect")		/* flow's backend was down: moved */               \
	X(ICMP_ECHO_REPLY, "icmp-echo-reply")	/* echo request to a VIP answered (XDP_TX) */      \
	X(ICMP_ERR_FWD, "icmp-error-fwd")	/* ICMP error about a flow sent to its backend */ \
	X(ICMP_TOO_BIG_SENT, "icmp-too-big-sent") /* frag-needed / packet-too-big generated */    \
	X(ICMP_PASS, "icmp-pass")		/* other ICMP to a VIP address */                  \
	X(PERSIST_HIT, "persist-hit")		/* informational: persistence kept the backend */

#define XG_REASON_ENUM_(id, name) XG_R_##id,
enum xg_reason {
	XG_REASONS(XG_REASON_ENUM_) XG_R_MAX,
};
#undef XG_REASON_ENUM_

/* ---- decap program: decap_addrs holds the outer destinations it strips ---- */
struct xg_decap_key {
	struct xg_addr addr;
	__u8 family;
	__u8 pad[3];
};

enum xg_decap_reason {
	XG_DECAP_R_PASS = 0,		/* not encapsulated for us */
	XG_DECAP_R_STRIPPED = 1,
	XG_DECAP_R_MALFORMED = 2,
	XG_DECAP_R_MAX,
};

/* Names of the pinned objects under the bpffs directory (default /sys/fs/bpf/xdpgw). */
#define XG_PIN_LINKS_DIR "links"		/* links/IFNAME: XDP link of the balancer */
#define XG_PIN_DECAP_DIR "decap"		/* decap/IFNAME and decap maps */

#endif
