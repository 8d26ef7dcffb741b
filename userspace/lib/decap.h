/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loader and maps of the backend-side decap program (bpf/decap.bpf.c), usable without gwd:
 * `gwctl decap attach|detach|show` drive it directly. Its maps are pinned under
 * <bpffs>/decap/ (decap_addrs, decap_stats) and its links under <bpffs>/decap/links/IFNAME.
 */
#ifndef XDPGW_DECAP_H
#define XDPGW_DECAP_H

#include <stdbool.h>
#include <stdint.h>
#include <xdpgw/abi.h>

#include "lib/lb.h"

struct decap_obj;

/* Reason names and kinds, indexed by enum xg_decap_reason. */
extern const char *const decap_reason_names[XG_DECAP_R_MAX];
extern const uint8_t decap_reason_kinds[XG_DECAP_R_MAX];

/*
 * Loads the program, reusing the maps pinned under <bpffs_dir>/decap (pinning them if new);
 * bpffs_dir NULL: nothing pinned (tests). Returns NULL with errno set on failure.
 */
struct decap_obj *decap_load(const char *bpffs_dir);
/* Opens only the pinned maps (for show/addr changes without loading). NULL, errno on failure. */
struct decap_obj *decap_open_pinned(const char *bpffs_dir);
/* Releases the process's references; pinned objects stay. */
void decap_unload(struct decap_obj *d);
/* The program fd (-1 for decap_open_pinned). */
int decap_prog_fd(const struct decap_obj *d);

/*
 * Attaches to ifname (a loaded object), pinning the link at <dir>/decap/links/IFNAME or
 * updating the one pinned there. add_ifaddrs: also adds every IPv4/IPv6 address currently on
 * ifname to decap_addrs. Returns 0 or a negative errno (-ENODEV, -EEXIST: other mode).
 */
int decap_attach(struct decap_obj *d, const char *ifname, enum lb_xdp_mode mode, bool add_ifaddrs);
/* Forces the pinned link off ifname and removes the pin; -ENOENT if none. */
int decap_detach(const char *bpffs_dir, const char *ifname);

/* decap_addrs: -EINVAL bad family, -ENOSPC full (XG_MAX_DECAP_ADDRS), -ENOENT on del. */
int decap_addr_add(struct decap_obj *d, const struct xg_addr *addr, uint8_t family);
int decap_addr_del(struct decap_obj *d, const struct xg_addr *addr, uint8_t family);
/* Adds the addresses of ifname; returns the number added or a negative errno. */
int decap_addr_add_ifaddrs(struct decap_obj *d, const char *ifname);

typedef int (*decap_addr_cb)(const struct xg_addr *addr, uint8_t family, void *ctx);
int decap_addr_foreach(struct decap_obj *d, decap_addr_cb cb, void *ctx);

/* Per-reason counters summed over CPUs. */
int decap_stats(struct decap_obj *d, struct xg_counter out[XG_DECAP_R_MAX]);

#endif
