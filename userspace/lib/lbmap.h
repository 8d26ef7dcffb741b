/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The balancer's maps from userspace: services, backends, links, settings, selection tables,
 * statistics, the connection table and a `lookup` dry run. gwd writes through this module
 * (it is the single writer); gwctl opens the pinned maps read-only for its reads.
 *
 * Keys, values and byte order are those of <xdpgw/abi.h>: addresses and ports in network
 * order, everything else host order. Ids: a service id indexes lb_vip_info / lb_selection /
 * lb_vip_stats; a backend id (global over all services) indexes lb_backends and its companions.
 * Functions return 0 or a negative errno unless stated; on error nothing was changed unless
 * the comment says otherwise.
 */
#ifndef XDPGW_LBMAP_H
#define XDPGW_LBMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdpgw/abi.h>

enum lbmap_id {
	LBMAP_VIPS,
	LBMAP_VIP_ADDRS,
	LBMAP_VIP_FILTER,
	LBMAP_VIP_INFO,
	LBMAP_VIP_STATS,
	LBMAP_SELECTION,
	LBMAP_BACKENDS,
	LBMAP_BE_HEALTH,
	LBMAP_BE_STATS,
	LBMAP_BE_ACTIVE,
	LBMAP_CONNTRACK,
	LBMAP_PERSIST,
	LBMAP_LINKS,
	LBMAP_SETTINGS,
	LBMAP_STATS,
	LBMAP_RR_CURSOR,
	LBMAP_CPU_STATE,
	LBMAP_MAX,
};

/* Pinned names, indexed by enum lbmap_id ("lb_vips", ...). */
extern const char *const lbmap_names[LBMAP_MAX];
/* Reason names and kinds, indexed by enum xg_reason. */
extern const char *const lbmap_reason_names[XG_R_MAX];
extern const uint8_t lbmap_reason_kinds[XG_R_MAX];

struct lbmap {
	int fd[LBMAP_MAX];
	uint32_t max_entries[LBMAP_MAX];
	uint32_t max_vips;
	uint32_t max_backends;
	int ncpus; /* possible CPUs: per-CPU values come in arrays of this length */
	bool readonly;
	uint32_t sel_budget; /* entries of all selection tables together (XG_SEL_BUDGET) */
	uint32_t sel_max;    /* largest table (XG_SEL_MAX) */
	bool sel_plain;	     /* lb_selection refused an mmapable table: fill tables by batch update */
};

/*
 * Opens the maps pinned under bpffs_dir (gwctl: readonly). Returns NULL with errno set
 * (ENOENT: nothing pinned there, i.e. the balancer was never loaded with this directory).
 */
struct lbmap *lbmap_open(const char *bpffs_dir, bool readonly);
/* Takes the fds of a loaded object (lb.c); dups them, so the caller keeps its own. */
struct lbmap *lbmap_from_fds(const int fds[LBMAP_MAX]);
void lbmap_close(struct lbmap *m);

/* ---- services ---- */

/*
 * A service id not in use, in *id: the first free one from one past the last id handed out
 * (round-robin, remembered in lb_settings; ids are reserved by that, not by the write); -ENOSPC
 * when all max_vips are taken.
 */
int lbmap_vip_alloc_id(struct lbmap *m, uint32_t *id);

/*
 * Creates or changes service id: name, key (address, port 0 for all ports, proto, family) and
 * vip (algo, fwd, flags, persist_sec; vip->id is set to id). Validates everything first
 * (-EINVAL: bad family/proto/algo/fwd/name; -EEXIST: key used by another service).
 * Order: lb_vip_info, address and filter, selection table for the algorithm, then lb_vips,
 * so a packet that finds the service finds all it needs. A changed key removes the old one.
 */
int lbmap_vip_set(struct lbmap *m, uint32_t id, const char *name, const struct xg_vip_key *key,
		  const struct xg_vip *vip);

/*
 * Removes service id: its lb_vip_info entry and its lb_vips key first (packets pass from then
 * on), its selection table, its backends (flags cleared, stats zeroed), its address if no
 * other service uses it, its stats and persistence entries. -ENOENT if not in use.
 */
int lbmap_vip_del(struct lbmap *m, uint32_t id);

/*
 * Sets the Maglev table size of service id (maglev and sh; also kept for the others) and
 * republishes. size must be a prime in [MAGLEV_MIN_SIZE, XG_SEL_MAX] (-EINVAL); 0 returns to
 * the default. The size then stays as set unless the backends need more for their 1% shares
 * or MAGLEV_SLOTS_PER_BACKEND. Set the same size on every L4 node of a tier: nodes with equal
 * backends and sizes pick the same backend for a flow.
 */
int lbmap_vip_set_table_size(struct lbmap *m, uint32_t id, uint32_t size);

/* lb_vip_info[id]; -ENOENT if not in use. */
int lbmap_vip_get(struct lbmap *m, uint32_t id, struct xg_vip_info *info);
/* The id of the service named name; -ENOENT if none. */
int lbmap_vip_find(struct lbmap *m, const char *name, uint32_t *id);
/* The id of the service with exactly this key; -ENOENT if none. */
int lbmap_vip_find_key(struct lbmap *m, const struct xg_vip_key *key, uint32_t *id);

/* Sets or clears XG_ADDR_F_NO_ECHO on a service address. -ENOENT if no service uses it. */
int lbmap_vip_addr_set_flags(struct lbmap *m, const struct xg_addr *addr, uint8_t family,
			     uint32_t flags);

/* Calls cb for each service in use, by id; a non-zero return stops and is returned. */
typedef int (*lbmap_vip_cb)(uint32_t id, const struct xg_vip_info *info, void *ctx);
int lbmap_vip_foreach(struct lbmap *m, lbmap_vip_cb cb, void *ctx);

/* ---- backends ---- */

/* A backend id not in use, round-robin as lbmap_vip_alloc_id; -ENOSPC when all are taken. */
int lbmap_backend_alloc_id(struct lbmap *m, uint32_t *id);

/*
 * Writes backend id (be->flags gets XG_BE_F_IN_USE added) and republishes its service's
 * selection table, in the order that never sends a new flow to a backend that may not take it:
 * a backend that stops taking new flows (down, drain, weight 0) leaves the table before its
 * entry changes; one that starts is written before the table includes it.
 * -EINVAL: bad family/service, be->vip_id not in use; -EEXIST: the same address is already a
 * backend of that service under another id; -E2BIG: the table would not fit (lc over
 * XG_LC_MAX_BACKENDS live backends, or the selection budget). On a table error the backend
 * entry is left as it was before the call.
 */
int lbmap_backend_set(struct lbmap *m, uint32_t id, const struct xg_backend *be);

/*
 * Several backend changes of one service with a single table swap (each swap waits for an RCU
 * grace period in the kernel, ~10-30 ms, so restoring or applying many backends should go
 * through here). A change sets backend c[i].id to c[i].be (be.vip_id must be vip_id) or, with
 * del, removes it. Everything is validated first (the errors of lbmap_backend_set, -ENOENT
 * for deleting what is not a backend of vip_id, -EINVAL for an id twice); then backends that
 * take new flows afterwards are written, the table of the final state is swapped in, and the
 * others (down, draining, weight 0, removed) are written last. On a table error the entries
 * written are put back and nothing changed.
 */
struct lbmap_be_change {
	uint32_t id;
	bool del;
	struct xg_backend be;
};
int lbmap_backends_apply(struct lbmap *m, uint32_t vip_id, const struct lbmap_be_change *c,
			 size_t n);

/*
 * Removes backend id: out of the table first, then its entry cleared (its flows move to live
 * backends on their next packet), its stats and active count zeroed. -ENOENT if not in use.
 */
int lbmap_backend_del(struct lbmap *m, uint32_t id);

int lbmap_backend_get(struct lbmap *m, uint32_t id, struct xg_backend *be);
/* The backend of service vip_id with this address; -ENOENT if none. */
int lbmap_backend_find(struct lbmap *m, uint32_t vip_id, const struct xg_addr *addr, uint8_t family,
		       uint32_t *id);

/* Calls cb for each backend in use of service vip_id (XG_VIP_NONE: of all services). */
typedef int (*lbmap_backend_cb)(uint32_t id, const struct xg_backend *be, void *ctx);
int lbmap_backend_foreach(struct lbmap *m, uint32_t vip_id, lbmap_backend_cb cb, void *ctx);

/* lb_be_health[id] (written by the health checker for gwctl). */
int lbmap_backend_health_set(struct lbmap *m, uint32_t id, const struct xg_backend_health *h);
int lbmap_backend_health_get(struct lbmap *m, uint32_t id, struct xg_backend_health *h);

/*
 * Rebuilds and swaps in the selection table of service vip_id from lb_backends (live
 * backends of the service: in use, not down, not draining, weight > 0) and the service's algo.
 * lbmap_vip_set and lbmap_backend_set/del call it; call it directly after changing backends
 * with lbmap_backend_write(). Returns 0, -E2BIG (see lbmap_backend_set) or another errno.
 */
int lbmap_sel_publish(struct lbmap *m, uint32_t vip_id);

/* Writes lb_backends[id] as given, without republishing: for batches, then lbmap_sel_publish. */
int lbmap_backend_write(struct lbmap *m, uint32_t id, const struct xg_backend *be);

/* The current selection table of vip_id: up to cap backend ids into ids; *n gets the count. */
int lbmap_sel_read(struct lbmap *m, uint32_t vip_id, uint32_t *ids, uint32_t cap, uint32_t *n);

/* ---- links and settings ---- */

/*
 * lb_links[link->ifindex] = *link. Write it before attaching to the link. -ERANGE when the
 * ifindex is not below the load-time max_ifindex (XG_MAX_IFINDEX), -EINVAL for ifindex 0 or
 * hash bits over 16 (IPv4) / 32 (IPv6).
 */
int lbmap_link_set(struct lbmap *m, const struct xg_link *link);
/* -ENOENT when the link is not configured. */
int lbmap_link_get(struct lbmap *m, uint32_t ifindex, struct xg_link *link);
int lbmap_link_del(struct lbmap *m, uint32_t ifindex);

int lbmap_settings_get(struct lbmap *m, struct xg_settings *s);
int lbmap_settings_set(struct lbmap *m, const struct xg_settings *s);

/* ---- statistics (per-CPU values summed) ---- */

int lbmap_stats_reasons(struct lbmap *m, struct xg_counter out[XG_R_MAX]);
/* Totals by action: out[XG_RK_TX], out[XG_RK_PASS], out[XG_RK_DROP] (out[XG_RK_INFO]: sum of
 * the informational counters). */
int lbmap_stats_actions(struct lbmap *m, struct xg_counter out[4]);
int lbmap_stats_vip(struct lbmap *m, uint32_t id, struct xg_flow_stats *out);
int lbmap_stats_backend(struct lbmap *m, uint32_t id, struct xg_flow_stats *out);
/* Active flows of backend id as the datapath counts them (>= 0). */
int lbmap_backend_active(struct lbmap *m, uint32_t id, int64_t *active);
/* Zeroes every counter: reasons, services, backends (not active counts). */
int lbmap_stats_reset(struct lbmap *m);

/* ---- connection table ---- */

/* Called per entry; a non-zero return stops the walk and is returned by the walker. */
typedef int (*lbmap_ct_cb)(const struct xg_flow_key *key, const struct xg_ct_value *val, void *ctx);
/* Walks the connection table (a snapshot in batches; entries may come and go meanwhile). */
int lbmap_ct_foreach(struct lbmap *m, lbmap_ct_cb cb, void *ctx);
/* Deletes the entries of service vip_id (XG_VIP_NONE: all); *flushed gets the count. */
int lbmap_ct_flush(struct lbmap *m, uint32_t vip_id, uint64_t *flushed);
/* Deletes the persistence entries of service vip_id (XG_VIP_NONE: all). */
int lbmap_persist_flush(struct lbmap *m, uint32_t vip_id, uint64_t *flushed);

/*
 * LRU evictions, which the kernel does not report, estimated from counters: entries the
 * datapath inserted (ct-insert, persist-insert) minus entries flushed (ct-flushed,
 * persist-flushed, counted by lbmap_*_flush) minus entries in the table now, never below 0.
 * Since the counters were created or last reset (a reset forgets the entries present then, so
 * the estimate is then a lower bound); two CPUs inserting the same new flow at once count one
 * eviction too many. Walks both tables (milliseconds per 100k entries).
 */
struct lbmap_evictions {
	uint64_t ct_inserts, ct_entries, ct_evicted;
	uint64_t persist_inserts, persist_entries, persist_evicted;
};
int lbmap_evictions(struct lbmap *m, struct lbmap_evictions *out);

/*
 * lc resync: recounts active flows per backend from the connection table (entries without
 * FIN/RST, not idle past the timeout, pointing at an in-use backend of their service) and
 * writes lb_be_active. gwd calls it on a timer (every few seconds). Accuracy: exact at the
 * scan for flows in the table; between scans the datapath adds new flows and subtracts
 * FIN/RST, so the drift is bounded by flows that ended without FIN/RST (UDP, timeouts,
 * evictions) since the last scan; flows that start or end during the scan (milliseconds
 * per 100k entries) may be off by one each until the next scan.
 */
int lbmap_lc_resync(struct lbmap *m);

/* CLOCK_MONOTONIC in ns, the clock of last_seen_ns fields. */
uint64_t lbmap_now_ns(void);

/* ---- dry run: which backend would this flow get, and why ---- */

enum lbmap_why {
	LBMAP_WHY_NOT_VIP,    /* no service for (dst, dport, proto) */
	LBMAP_WHY_CT,	      /* existing connection-table entry */
	LBMAP_WHY_CT_MOVE,    /* entry's backend down/gone (UDP: idle): selected anew */
	LBMAP_WHY_PERSIST,    /* persistence entry of the client */
	LBMAP_WHY_TABLE,      /* maglev/sh: table slot hash % n */
	LBMAP_WHY_RR,	      /* rr: next in the sequence (CPU 0's cursor) */
	LBMAP_WHY_LC,	      /* lc: fewest active flows per weight now */
	LBMAP_WHY_NO_BACKEND, /* service has no live backend */
};

struct lbmap_lookup {
	enum lbmap_why why;
	uint32_t vip_id;      /* XG_VIP_NONE if no service */
	uint32_t backend_id;  /* XG_BACKEND_NONE if none */
	uint32_t hash;	      /* the hash used (flow or source) */
	uint32_t slot;	      /* table slot (1-based as in the inner map), TABLE/RR/LC */
	uint32_t table_size;  /* entries in the table */
	bool all_ports;	      /* the service matched is the address's port-0 service */
	uint64_t ct_age_ns;   /* CT: time since last_seen */
	const char *why_text; /* a short English explanation */
};

/* Dry run of the datapath's decision for flow (client -> VIP), changing nothing. */
int lbmap_lookup(struct lbmap *m, const struct xg_flow_key *flow, struct lbmap_lookup *res);

/* ---- helpers ---- */

/* Human name of an algorithm / forwarding mode, and back (-EINVAL if unknown). */
const char *lbmap_algo_name(uint8_t algo);
int lbmap_algo_parse(const char *s);
const char *lbmap_fwd_name(uint8_t fwd);
int lbmap_fwd_parse(const char *s);

/*
 * Bytes of kernel memory the maps take with these sizes on ncpus CPUs, the formula of
 * docs/datapath.md (selection tables counted at their budget).
 */
uint64_t lbmap_memory_estimate(uint32_t max_vips, uint32_t max_backends, uint32_t ct_entries,
			       uint32_t persist_entries, int ncpus);

#endif
