/* SPDX-License-Identifier: GPL-2.0 */
/* gwctl's read side: the pinned maps of one gwd instance (--bpffs) and how to decode them. */
#ifndef XDPGW_CLI_MAPS_H
#define XDPGW_CLI_MAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <xdpgw/abi.h>

#include "lib/lb.h"
#include "lib/lbmap.h"

/*
 * Opens the balancer's maps pinned under cli.bpffs read-only (once; closed at exit). On failure
 * prints why (nothing pinned there, permission) through cli_error and returns NULL.
 */
struct lbmap *cli_maps(void);
void cli_maps_close(void);

/* The in-use service named name: 0 with *id and *info, else prints "vip 'x' not found" and
 * returns 1. */
int cli_vip_by_name(struct lbmap *m, const char *name, uint32_t *id, struct xg_vip_info *info);

/* Calls cb for every service in use (in id order); stops at a non-zero return. */
int cli_foreach_vip(struct lbmap *m, int (*cb)(uint32_t id, const struct xg_vip_info *info,
					     void *ctx),
		    void *ctx);

/* "198.18.0.10:80/tcp", "[2001:2::10]:443/tcp", "198.18.0.10/udp (all ports)". */
const char *cli_fmt_vip(const struct xg_vip_key *key, char *buf, size_t len);
/* "up", "draining", "down", "unhealthy", "unresolved" from the backend's flags. */
const char *cli_backend_state(const struct xg_backend *b);
/*
 * An lb_links_foreach callback: prints one attached link (name, ifindex, mode, program) as a
 * line or a JSON object, and counts it in *(unsigned *)count unless count is NULL. Returns 0.
 */
int cli_show_link(const struct lb_link_info *li, void *count);

#endif
