/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reference model of the XDP datapath (bpf/lb.bpf.c, bpf/decap.bpf.c): for one frame, a
 * configuration and the dynamic state the decision reads, the expected action, reason
 * counters, backend, output frame and state changes, written from docs/datapath.md in plain
 * C with no code shared with bpf/ (only the hash functions of <xdpgw/hash.h>, which are part
 * of the contract). The differential fuzzer (selftests/bpf/test_lb_fuzz.c) runs random and
 * mutated frames through BPF_PROG_TEST_RUN and through this model and compares everything.
 *
 * It lives with the tests, not in userspace/lib: an oracle must stay independent of the
 * product, and `gwctl lookup` answers a different question (a flow, not a frame, against the
 * live maps); the fuzzer checks lbmap_lookup() against this model instead.
 */
#ifndef XDPGW_SELFTESTS_LBMODEL_H
#define XDPGW_SELFTESTS_LBMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdpgw/abi.h>

#include "lib/pkt.h"

#define LBM_MAX_VIPS 64
#define LBM_MAX_BACKENDS 256
#define LBM_MAX_ADDRS 64

/* XDP actions, as in linux/bpf.h (kept here so the model needs no kernel header). */
enum { LBM_ABORTED = 0, LBM_DROP = 1, LBM_PASS = 2, LBM_TX = 3 };

struct lbm_service {
	bool in_use;
	char name[XG_NAME_LEN];
	struct xg_vip_key key;
	struct xg_vip vip;	/* vip.id is the index */
	uint32_t *table;	/* selection table (backend ids), n entries; owned */
	uint32_t n;
};

/* An address with at least one service, and its flags (XG_ADDR_F_NO_ECHO). */
struct lbm_addr {
	struct xg_addr addr;
	uint8_t family;
	uint32_t flags;
};

/* Everything gwd configures: services, backends, the ingress link, settings. */
struct lbm_config {
	uint32_t max_vips, max_backends;	/* load-time sizes (ids at or above: no entry) */
	struct lbm_service svc[LBM_MAX_VIPS];
	struct xg_backend be[LBM_MAX_BACKENDS];	/* flags 0: not in use (zeroed entry) */
	struct lbm_addr addr_flags[LBM_MAX_ADDRS];	/* flags of VIP addresses, when set */
	int naddr_flags;
	struct xg_link link;	/* the ingress link's lb_links entry; ifindex 0: none */
	struct xg_settings set;
};

/*
 * Dynamic state the decision reads, answered by the caller (from the real maps, just before
 * the packet runs). now_ns: the coarse monotonic clock; the fuzzer keeps state ages far from
 * every threshold so that the few microseconds between its read and the program's do not
 * matter.
 */
struct lbm_state {
	bool (*ct_get)(void *ctx, const struct xg_flow_key *k, struct xg_ct_value *v);
	bool (*persist_get)(void *ctx, const struct xg_persist_key *k, struct xg_persist_value *v);
	uint32_t (*rr_cursor)(void *ctx, uint32_t vip_id);	/* this CPU's */
	int64_t (*active)(void *ctx, uint32_t backend_id);
	void *ctx;
	uint64_t now_ns;
};

/* The expected outcome of one frame. */
struct lbm_result {
	int action;			/* LBM_DROP, LBM_PASS, LBM_TX */
	enum xg_reason reason;		/* the fate */
	uint8_t info[XG_R_MAX];		/* informational reasons counted (0 or 1 each) */
	uint8_t out[PKT_MAX];		/* the frame after (TX, PASS; undefined after DROP) */
	size_t out_len;

	/* A TCP/UDP packet of a service (vip_id != XG_VIP_NONE): its flow and decision. */
	uint32_t vip_id;
	uint32_t backend_id;		/* XG_BACKEND_NONE: none */
	struct xg_flow_key flow;	/* the flow of the decision (ICMP errors: the quoted one) */
	bool flow_sent;			/* lb_vip_stats / lb_be_stats count its packet, bytes */
	bool new_flow;			/* ... and a new flow */

	/* State after the packet. */
	bool ct_written;		/* lb_conntrack[flow] = ct_after (backend, vip, flags) */
	struct xg_ct_value ct_after;
	bool persist_written;		/* lb_persist[(src, vip)] backend = persist_backend */
	uint32_t persist_backend;
	bool rr_moved;			/* this CPU's lb_rr_cursor[vip_id] = rr_after */
	uint32_t rr_after;
	int nactive;			/* lb_be_active changes */
	struct {
		uint32_t id;
		int64_t delta;
	} active[2];

	const char *why;		/* one line on the path taken, for reports */
};

/* Configuration helpers: services and backends by id; a table is copied. */
void lbm_config_init(struct lbm_config *c, uint32_t max_vips, uint32_t max_backends);
void lbm_config_free(struct lbm_config *c);
void lbm_config_copy(struct lbm_config *dst, const struct lbm_config *src);
void lbm_set_table(struct lbm_config *c, uint32_t vip_id, const uint32_t *ids, uint32_t n);
/* Flags of an address (XG_ADDR_F_*); it must carry a service to matter. */
void lbm_set_addr_flags(struct lbm_config *c, const struct xg_addr *a, uint8_t family,
			uint32_t flags);

/* The balancer (xdp_lb) on frame[0..len) arriving on c->link. Fills *r. */
void lbm_run_lb(const struct lbm_config *c, const struct lbm_state *st, const uint8_t *frame,
		size_t len, struct lbm_result *r);

/* Local addresses of the decap program. */
struct lbm_decap {
	struct lbm_addr local[XG_MAX_DECAP_ADDRS];
	int n;
};

/* The decap program (xdp_decap): *reason gets enum xg_decap_reason; returns the action. */
int lbm_run_decap(const struct lbm_decap *d, const uint8_t *frame, size_t len,
		  uint32_t *reason, uint8_t *out, size_t *out_len);

#endif
