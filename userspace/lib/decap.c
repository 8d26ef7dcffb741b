// SPDX-License-Identifier: GPL-2.0
/* Backend-side decap program: load, pin, attach, addresses and counters. */
#include "lib/decap.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decap.skel.h"
#include "lib/log.h"

const char *const decap_reason_names[XG_DECAP_R_MAX] = XG_DECAP_REASON_NAMES;
const uint8_t decap_reason_kinds[XG_DECAP_R_MAX] = XG_DECAP_REASON_KINDS;

struct decap_obj {
	struct decap *skel; /* NULL when only the pins are open */
	int addrs_fd;
	int stats_fd;
	char *dir;   /* <bpffs>/decap, or NULL */
	int link_fd; /* unpinned link (tests) */
};

static char *decap_dir(const char *bpffs_dir)
{
	char *dir;

	if (asprintf(&dir, "%s/%s", bpffs_dir, XG_PIN_DECAP_DIR) < 0)
		return NULL;
	return dir;
}

struct decap_obj *decap_load(const char *bpffs_dir)
{
	struct decap_obj *d = calloc(1, sizeof(*d));
	char path[PATH_MAX];
	struct bpf_map *map;
	int err = 0;

	if (!d)
		return NULL;
	d->link_fd = -1;
	d->skel = decap__open();
	if (!d->skel) {
		err = -errno;
		goto fail;
	}
	if (bpffs_dir) {
		d->dir = decap_dir(bpffs_dir);
		if (!d->dir) {
			err = -ENOMEM;
			goto fail;
		}
		err = lb_mkdir_p(d->dir);
		bpf_object__for_each_map(map, d->skel->obj)
		{
			if (err || bpf_map__is_internal(map))
				continue;
			snprintf(path, sizeof(path), "%s/%s", d->dir, bpf_map__name(map));
			err = bpf_map__set_pin_path(map, path);
		}
		if (err)
			goto fail;
	}
	err = decap__load(d->skel);
	if (err) {
		log_error("decap: loading the XDP program failed: %s", strerror(-err));
		goto fail;
	}
	d->addrs_fd = bpf_map__fd(d->skel->maps.decap_addrs);
	d->stats_fd = bpf_map__fd(d->skel->maps.decap_stats);
	return d;
fail:
	decap_unload(d);
	errno = -err;
	return NULL;
}

struct decap_obj *decap_open_pinned(const char *bpffs_dir)
{
	struct decap_obj *d = calloc(1, sizeof(*d));
	char path[PATH_MAX];
	int err = 0;

	if (!d)
		return NULL;
	d->link_fd = -1;
	d->addrs_fd = d->stats_fd = -1;
	d->dir = decap_dir(bpffs_dir);
	if (!d->dir) {
		err = -ENOMEM;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/decap_addrs", d->dir);
	d->addrs_fd = bpf_obj_get(path);
	if (d->addrs_fd < 0) {
		err = -errno;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/decap_stats", d->dir);
	d->stats_fd = bpf_obj_get(path);
	if (d->stats_fd < 0) {
		err = -errno;
		goto fail;
	}
	return d;
fail:
	decap_unload(d);
	errno = -err;
	return NULL;
}

void decap_unload(struct decap_obj *d)
{
	if (!d)
		return;
	if (d->link_fd >= 0)
		close(d->link_fd);
	if (d->skel) {
		decap__destroy(d->skel);
	} else {
		if (d->addrs_fd >= 0)
			close(d->addrs_fd);
		if (d->stats_fd >= 0)
			close(d->stats_fd);
	}
	free(d->dir);
	free(d);
}

int decap_prog_fd(const struct decap_obj *d)
{
	return d->skel ? bpf_program__fd(d->skel->progs.xdp_decap) : -1;
}

int decap_attach(struct decap_obj *d, const char *ifname, enum lb_xdp_mode mode, bool add_ifaddrs)
{
	char links[PATH_MAX], pin[PATH_MAX];
	int fd, err;

	if (!d->skel)
		return -EINVAL;
	if (!*ifname || strchr(ifname, '/') || strlen(ifname) >= IF_NAMESIZE)
		return -EINVAL;
	if (!if_nametoindex(ifname))
		return -ENODEV;
	if (add_ifaddrs) {
		err = decap_addr_add_ifaddrs(d, ifname);
		if (err < 0)
			return err;
	}
	if (!d->dir) {
		if (d->link_fd >= 0)
			return -EBUSY;
		return lb_xdp_link_attach(decap_prog_fd(d), ifname, mode, NULL, &d->link_fd);
	}
	if ((size_t)snprintf(links, sizeof(links), "%s/%s", d->dir, XG_PIN_LINKS_DIR) >=
		    sizeof(links) ||
	    (size_t)snprintf(pin, sizeof(pin), "%s/%s/%s", d->dir, XG_PIN_LINKS_DIR, ifname) >=
		    sizeof(pin))
		return -ENAMETOOLONG;
	err = lb_mkdir_p(links);
	if (err)
		return err;
	err = lb_xdp_link_attach(decap_prog_fd(d), ifname, mode, pin, &fd);
	if (!err)
		close(fd);
	return err;
}

int decap_detach(const char *bpffs_dir, const char *ifname)
{
	char pin[PATH_MAX];

	if (!*ifname || strchr(ifname, '/'))
		return -EINVAL;
	if ((size_t)snprintf(pin, sizeof(pin), "%s/%s/%s/%s", bpffs_dir, XG_PIN_DECAP_DIR,
			     XG_PIN_LINKS_DIR, ifname) >= sizeof(pin))
		return -ENAMETOOLONG;
	return lb_xdp_link_detach(pin);
}

int decap_addr_add(struct decap_obj *d, const struct xg_addr *addr, uint8_t family)
{
	struct xg_addr_key key = { .addr = *addr, .family = family };
	__u32 one = 1;

	if (family != XG_AF_INET && family != XG_AF_INET6)
		return -EINVAL;
	if (family == XG_AF_INET && (addr->v6[1] || addr->v6[2] || addr->v6[3]))
		return -EINVAL;
	if (bpf_map_update_elem(d->addrs_fd, &key, &one, BPF_ANY))
		return errno == E2BIG ? -ENOSPC : -errno;
	return 0;
}

int decap_addr_del(struct decap_obj *d, const struct xg_addr *addr, uint8_t family)
{
	struct xg_addr_key key = { .addr = *addr, .family = family };

	return bpf_map_delete_elem(d->addrs_fd, &key) ? -errno : 0;
}

int decap_addr_add_ifaddrs(struct decap_obj *d, const char *ifname)
{
	struct ifaddrs *ifa, *i;
	int added = 0, err = 0;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i && !err; i = i->ifa_next) {
		struct xg_addr a = {};

		if (!i->ifa_addr || strcmp(i->ifa_name, ifname) != 0)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			a.v4 = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
			err = decap_addr_add(d, &a, XG_AF_INET);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			memcpy(a.bytes, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
			err = decap_addr_add(d, &a, XG_AF_INET6);
		} else {
			continue;
		}
		added += !err;
	}
	freeifaddrs(ifa);
	return err ? err : added;
}

int decap_addr_foreach(struct decap_obj *d, decap_addr_cb cb, void *ctx)
{
	struct xg_addr_key key, next;
	void *prev = NULL;
	int err = 0;

	while (!err && bpf_map_get_next_key(d->addrs_fd, prev, &next) == 0) {
		err = cb(&next.addr, next.family, ctx);
		key = next;
		prev = &key;
	}
	return err;
}

int decap_stats(struct decap_obj *d, struct xg_counter out[XG_DECAP_R_MAX])
{
	int ncpus = libbpf_num_possible_cpus(), err = 0;
	struct xg_counter *v;

	if (ncpus <= 0)
		return -EINVAL;
	v = calloc(ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (__u32 r = 0; r < XG_DECAP_R_MAX && !err; r++) {
		out[r] = (struct xg_counter){};
		if (bpf_map_lookup_elem(d->stats_fd, &r, v)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < ncpus; c++) {
			out[r].packets += v[c].packets;
			out[r].bytes += v[c].bytes;
		}
	}
	free(v);
	return err;
}
