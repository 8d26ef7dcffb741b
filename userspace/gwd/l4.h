/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The L4 module of gwd: the `l4` section (settings, links, services, backends) compiled into an
 * immutable object, and applied to the XDP datapath through the datapath library (lb.h, lbmap.h).
 */
#ifndef XDPGW_GWD_L4_H
#define XDPGW_GWD_L4_H

#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdpgw/abi.h>

#include "gwd/module.h"
#include "lib/addr.h"

enum l4_link_mode { L4_MODE_NATIVE = 0, L4_MODE_GENERIC = 1 };

struct l4_link_cfg {
	char name[IFNAMSIZ];
	int mode;			/* enum l4_link_mode (== enum lb_xdp_mode) */
	bool has_src4, has_src6;	/* outer sources given; else the link's first address */
	struct xg_addr src4, src6;
};

struct l4_backend_cfg {
	char key[ADDR_STRLEN];		/* canonical address text */
	struct xg_addr addr;
	uint8_t family;
	uint16_t weight;
	bool drain;			/* operator: no new flows, existing flows stay */
	bool down;			/* operator: no new flows, existing flows move */
};

struct l4_service_cfg {
	char name[XG_NAME_LEN];
	char vip[ADDR_STRLEN];		/* canonical "ADDR:PORT/proto" */
	struct xg_vip_key key;
	uint8_t algo;			/* enum xg_algo */
	uint8_t fwd;			/* enum xg_fwd */
	uint16_t flags;			/* enum xg_vip_flags */
	uint32_t persist_sec;
	size_t n_backends;
	struct l4_backend_cfg *backends;
};

struct l4_settings_cfg {
	uint64_t ct_timeout_tcp_ms;
	uint64_t ct_timeout_udp_ms;
	uint32_t new_flow_rate;
	uint32_t hash_seed;
	uint64_t lc_resync_ms;
};

struct l4_compiled {
	struct l4_settings_cfg settings;
	size_t n_links;
	struct l4_link_cfg *links;
	size_t n_services;
	struct l4_service_cfg *services;
};

/* What compile checks against: capacity and which interfaces exist. */
struct l4_limits {
	uint32_t max_vips;
	uint32_t max_backends;
	/* Returns whether interface name exists; NULL: every name is accepted. */
	bool (*link_exists)(const char *name, void *ctx);
	void *ctx;
	/* Links that may be missing without an error (already configured: an interface that
	 * went away must not make the running configuration invalid). */
	const struct l4_compiled *running;
	bool lenient_links;	/* at start: missing interfaces are warnings */
};

#define L4_DEFAULT_WEIGHT 100
#define L4_CT_TIMEOUT_TCP_MS (900 * 1000ull)	/* as the datapath's default (IPVS's too) */
#define L4_CT_TIMEOUT_UDP_MS (120 * 1000ull)
#define L4_MAX_PERSIST_MS (24ull * 3600 * 1000)

/*
 * Compiles the l4 section (NULL: empty) into a new object, or returns NULL with err naming the
 * path and the cause. Every check that can be made without touching the datapath is made here.
 */
struct l4_compiled *l4_compile(const json_t *sec, const struct l4_limits *lim,
			       struct gwd_err *err);
void l4_compiled_free(struct l4_compiled *c);
/* Rewrites the section's VIPs and backend addresses in canonical form (those that parse). */
void l4_canonicalise(json_t *sec);

const struct l4_service_cfg *l4_service_find(const struct l4_compiled *c, const char *name);
const struct l4_backend_cfg *l4_backend_find(const struct l4_service_cfg *s,
					     const struct xg_addr *addr, uint8_t family);
const struct l4_link_cfg *l4_link_find(const struct l4_compiled *c, const char *name);

extern const struct gwd_module l4_module;

/*
 * For the health checker: marks the backend addr of service down (no new flows, its flows
 * move) or up again. An operator's drain or down still wins. Returns 0 or -ENOENT.
 */
int l4_backend_set_health(void *l4_priv, const char *service, const struct xg_addr *addr,
			  uint8_t family, bool down);

struct lbmap;
/*
 * For the health checker: the datapath id of the backend addr of service and the maps holding
 * it (to write its lb_be_health entry). Returns 0, or -ENOENT when the backend is not in the
 * datapath (not configured, or the datapath is not loaded).
 */
int l4_backend_lookup(void *l4_priv, const char *service, const struct xg_addr *addr,
		      uint8_t family, uint32_t *id, struct lbmap **m);

extern const char *const l4_algo_names[];	/* by enum xg_algo, NULL-terminated */
extern const char *const l4_fwd_names[];	/* by enum xg_fwd */
extern const char *const l4_mode_names[];	/* by enum l4_link_mode */

#endif
