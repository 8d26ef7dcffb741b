/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loader of the XDP balancer (bpf/lb.bpf.c): sizes the maps, pins them by name under a bpffs
 * directory and reuses pinned ones on restart, loads the program and attaches it to links with
 * pinned BPF links (<bpffs>/links/IFNAME) that survive the process.
 *
 * Lifecycle (gwd): lb_load() -> lbmap_link_set() for each link -> lb_attach() per link ->
 * ... lbmap_* changes ... -> lb_unload() (links and maps stay pinned, traffic keeps flowing).
 * A restarted gwd calls lb_load() with the same directory (maps reused, counters and flows
 * kept) and lb_attach() again: a pinned link is updated to the new program in place.
 */
#ifndef XDPGW_LB_H
#define XDPGW_LB_H

#include <stdbool.h>
#include <stdint.h>
#include <xdpgw/abi.h>

struct lbmap;

enum lb_xdp_mode {
	LB_XDP_NATIVE = 0,  /* driver mode (XDP_FLAGS_DRV_MODE) */
	LB_XDP_GENERIC = 1, /* skb mode (XDP_FLAGS_SKB_MODE), works on any device */
};

/* Load-time options; zero fields take the defaults of <xdpgw/abi.h>. */
struct lb_opts {
	const char *bpffs_dir;	  /* pin maps and links here; NULL: nothing pinned (tests) */
	uint32_t max_vips;	  /* XG_MAX_VIPS */
	uint32_t max_backends;	  /* XG_MAX_BACKENDS */
	uint32_t ct_entries;	  /* XG_CT_ENTRIES */
	uint32_t persist_entries; /* XG_PERSIST_ENTRIES */
	uint32_t max_ifindex;	  /* XG_MAX_IFINDEX: links with a larger ifindex cannot be used */
	bool debug;		  /* libbpf debug output and the verifier log on failure */
};

struct lb_obj;

/*
 * Opens the skeleton, sizes the maps, reuses maps already pinned under opts->bpffs_dir (their
 * contents are kept: flows, counters, services), loads the program and pins new maps.
 * Creates the directory (and mounts nothing: the caller mounts bpffs). Pinned maps of other
 * sizes or layouts are refused (-EINVAL from libbpf): remove the pins to resize.
 * Returns the handle, or NULL with errno set.
 */
struct lb_obj *lb_load(const struct lb_opts *opts);

/* Releases the process's references. Pinned maps and links stay; unpinned links detach. */
void lb_unload(struct lb_obj *lb);

/* The map view of this instance (owned by lb, valid until lb_unload). */
struct lbmap *lb_maps(struct lb_obj *lb);
int lb_prog_fd(const struct lb_obj *lb);

/*
 * Attaches the program to ifname. With a bpffs directory: if <dir>/links/IFNAME exists, the
 * pinned link is switched to this program (bpf_link_update; the mode it was made with stays,
 * -EEXIST if another mode is asked); otherwise a link is created in the given mode and pinned.
 * Without a directory the link lives as long as lb. The link's lb_links entry should be
 * written (lbmap_link_set) first: packets on a link without one are dropped (drop-no-link).
 * Returns 0 or a negative errno (-ENODEV: no such interface).
 */
int lb_attach(struct lb_obj *lb, const char *ifname, enum lb_xdp_mode mode);

/*
 * Detaches the balancer from ifname: forces the link off (BPF_LINK_DETACH) and removes its pin.
 * lb may be NULL (detaching what another process pinned). Returns 0, -ENOENT if not attached.
 */
int lb_detach(struct lb_obj *lb, const char *bpffs_dir, const char *ifname);

/* An XDP link pinned under <bpffs>/links (or held by lb). */
struct lb_link_info {
	char ifname[32];
	uint32_t ifindex; /* 0 if the interface is gone */
	uint32_t prog_id;
	uint32_t link_id;
	enum lb_xdp_mode mode;
	bool mode_known; /* mode read back from the kernel (same network namespace only) */
};

typedef int (*lb_link_cb)(const struct lb_link_info *info, void *ctx);

/* Calls cb for each link pinned in <bpffs_dir>/<subdir>; stops at cb's first non-zero. */
int lb_links_foreach(const char *bpffs_dir, const char *subdir, lb_link_cb cb, void *ctx);

/*
 * Shared helpers, also used by the decap loader: attach prog_fd to ifname with a link pinned
 * at pin_path (NULL: not pinned; the link fd is returned in *link_fd), or update the link
 * already pinned there. Returns 0 or a negative errno.
 */
int lb_xdp_link_attach(int prog_fd, const char *ifname, enum lb_xdp_mode mode, const char *pin_path,
		       int *link_fd);
int lb_xdp_link_detach(const char *pin_path);
/* Creates dir and its parents (mode 0700). Returns 0 or a negative errno. */
int lb_mkdir_p(const char *dir);
/* Names "native"/"generic"; -EINVAL otherwise. */
int lb_xdp_mode_parse(const char *s);
const char *lb_xdp_mode_name(enum lb_xdp_mode mode);

#endif
