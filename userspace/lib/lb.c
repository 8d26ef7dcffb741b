// SPDX-License-Identifier: GPL-2.0
/* Loader of the XDP balancer: map sizing, pinning and reuse, XDP links that outlive gwd. */
#include "lib/lb.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lb.skel.h"
#include "lib/lbmap.h"
#include "lib/log.h"

#define LB_MAX_HELD_LINKS XG_MAX_LINKS

struct held_link {
	char ifname[IF_NAMESIZE];
	int fd;
};

struct lb_obj {
	struct lb *skel;
	struct lbmap *maps;
	char *bpffs_dir;
	struct held_link links[LB_MAX_HELD_LINKS];
	int nlinks;
};

int lb_mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return -EINVAL;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int lb_xdp_mode_parse(const char *s)
{
	if (strcmp(s, "native") == 0)
		return LB_XDP_NATIVE;
	if (strcmp(s, "generic") == 0)
		return LB_XDP_GENERIC;
	return -EINVAL;
}

const char *lb_xdp_mode_name(enum lb_xdp_mode mode)
{
	return mode == LB_XDP_GENERIC ? "generic" : "native";
}

/* Sizes of the maps, by map name; those not listed keep their compiled size. */
static int size_maps(struct lb *skel, const struct lb_opts *o)
{
	uint32_t vips = o->max_vips ?: XG_MAX_VIPS, bes = o->max_backends ?: XG_MAX_BACKENDS;
	struct {
		struct bpf_map *map;
		uint32_t n;
	} sizes[] = {
		{ skel->maps.lb_vips, vips },
		{ skel->maps.lb_vip_addrs, vips },
		{ skel->maps.lb_vip_info, vips },
		{ skel->maps.lb_vip_stats, vips },
		{ skel->maps.lb_selection, vips },
		{ skel->maps.lb_rr_cursor, vips },
		{ skel->maps.lb_backends, bes },
		{ skel->maps.lb_be_health, bes },
		{ skel->maps.lb_be_stats, bes },
		{ skel->maps.lb_be_active, bes },
		{ skel->maps.lb_conntrack, o->ct_entries ?: XG_CT_ENTRIES },
		{ skel->maps.lb_persist, o->persist_entries ?: XG_PERSIST_ENTRIES },
		{ skel->maps.lb_links, o->max_ifindex ?: XG_MAX_IFINDEX },
	};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int err = bpf_map__set_max_entries(sizes[i].map, sizes[i].n);

		if (err)
			return err;
	}
	return 0;
}

static int pin_maps(struct lb *skel, const char *dir)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	err = lb_mkdir_p(dir);
	if (err)
		return err;
	bpf_object__for_each_map(map, skel->obj)
	{
		if (bpf_map__is_internal(map))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map)) >=
		    sizeof(path))
			return -ENAMETOOLONG;
		err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
	}
	return 0;
}

struct lb_obj *lb_load(const struct lb_opts *opts)
{
	struct lb_opts defaults = {};
	int fds[LBMAP_MAX];
	struct lb_obj *lb;
	int err;

	if (!opts)
		opts = &defaults;
	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return NULL;
	if (opts->bpffs_dir && !(lb->bpffs_dir = strdup(opts->bpffs_dir))) {
		err = -ENOMEM;
		goto fail;
	}
	LIBBPF_OPTS(bpf_object_open_opts, oo, .kernel_log_level = opts->debug ? 1 : 0);
	lb->skel = lb__open_opts(&oo);
	if (!lb->skel) {
		err = -errno;
		log_error("lb: opening the BPF object failed: %s", strerror(-err));
		goto fail;
	}
	err = size_maps(lb->skel, opts);
	if (!err && opts->bpffs_dir)
		err = pin_maps(lb->skel, opts->bpffs_dir);
	if (err)
		goto fail;
	err = lb__load(lb->skel);
	if (err) {
		log_error("lb: loading the XDP program failed: %s%s", strerror(-err),
			  opts->bpffs_dir ? " (maps pinned with other sizes? remove the pins)"
					  : "");
		goto fail;
	}
	for (int i = 0; i < LBMAP_MAX; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(lb->skel->obj, lbmap_names[i]);

		fds[i] = map ? bpf_map__fd(map) : -1;
	}
	lb->maps = lbmap_from_fds(fds);
	if (!lb->maps) {
		err = -errno;
		goto fail;
	}
	return lb;
fail:
	lb_unload(lb);
	errno = -err;
	return NULL;
}

void lb_unload(struct lb_obj *lb)
{
	if (!lb)
		return;
	for (int i = 0; i < lb->nlinks; i++)
		close(lb->links[i].fd);
	lbmap_close(lb->maps);
	lb__destroy(lb->skel);
	free(lb->bpffs_dir);
	free(lb);
}

struct lbmap *lb_maps(struct lb_obj *lb)
{
	return lb->maps;
}

int lb_prog_fd(const struct lb_obj *lb)
{
	return bpf_program__fd(lb->skel->progs.xdp_lb);
}

/* The XDP mode of what is attached to ifindex now, or -ENOENT. */
static int xdp_attached_mode(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return -ENOENT;
	switch (q.attach_mode) {
	case XDP_ATTACHED_DRV:
		return LB_XDP_NATIVE;
	case XDP_ATTACHED_SKB:
		return LB_XDP_GENERIC;
	default:
		return -ENOENT;
	}
}

int lb_xdp_link_attach(int prog_fd, const char *ifname, enum lb_xdp_mode mode, const char *pin_path,
		       int *link_fd)
{
	unsigned int ifindex = if_nametoindex(ifname);
	int fd, err, cur;

	if (!ifindex)
		return -ENODEV;
	if (pin_path && (fd = bpf_obj_get(pin_path)) >= 0) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);

		err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
		if (!err && info.xdp.ifindex == ifindex) {
			cur = xdp_attached_mode(ifindex);
			if (cur >= 0 && cur != (int)mode) {
				close(fd);
				return -EEXIST;
			}
			err = bpf_link_update(fd, prog_fd, NULL) ? -errno : 0;
			if (err) {
				close(fd);
				return err;
			}
			*link_fd = fd;
			return 0;
		}
		/* A pin of a link whose interface is gone: replace it. */
		close(fd);
		unlink(pin_path);
	}
	LIBBPF_OPTS(bpf_link_create_opts, lo,
		    .flags = mode == LB_XDP_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
	fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lo);
	if (fd < 0)
		return -errno;
	if (pin_path && bpf_obj_pin(fd, pin_path)) {
		err = -errno;
		close(fd);
		return err;
	}
	*link_fd = fd;
	return 0;
}

int lb_xdp_link_detach(const char *pin_path)
{
	int fd = bpf_obj_get(pin_path), err = 0;

	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	if (bpf_link_detach(fd) && errno != ENOLINK)
		err = -errno;
	close(fd);
	if (!err && unlink(pin_path))
		err = -errno;
	return err;
}

static int link_pin_path(const char *dir, const char *sub, const char *ifname, char *buf,
			 size_t len)
{
	if (strchr(ifname, '/') || !*ifname || strlen(ifname) >= IF_NAMESIZE)
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "%s/%s", dir, sub) >= len)
		return -ENAMETOOLONG;
	int err = lb_mkdir_p(buf);

	if (err)
		return err;
	if ((size_t)snprintf(buf, len, "%s/%s/%s", dir, sub, ifname) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static struct held_link *held_link(struct lb_obj *lb, const char *ifname)
{
	for (int i = 0; i < lb->nlinks; i++)
		if (strcmp(lb->links[i].ifname, ifname) == 0)
			return &lb->links[i];
	return NULL;
}

int lb_attach(struct lb_obj *lb, const char *ifname, enum lb_xdp_mode mode)
{
	char path[PATH_MAX], *pin = NULL;
	struct held_link *h = held_link(lb, ifname);
	int fd, err;

	if (strlen(ifname) >= IF_NAMESIZE || !*ifname)
		return -EINVAL;
	if (lb->bpffs_dir) {
		err = link_pin_path(lb->bpffs_dir, XG_PIN_LINKS_DIR, ifname, path, sizeof(path));
		if (err)
			return err;
		pin = path;
	}
	if (h && !pin) {
		/* Same process, unpinned: switch the held link to our program. */
		return bpf_link_update(h->fd, lb_prog_fd(lb), NULL) ? -errno : 0;
	}
	if (!h && lb->nlinks == LB_MAX_HELD_LINKS)
		return -ENOSPC;
	err = lb_xdp_link_attach(lb_prog_fd(lb), ifname, mode, pin, &fd);
	if (err)
		return err;
	if (h) {
		close(h->fd);
	} else {
		h = &lb->links[lb->nlinks++];
		snprintf(h->ifname, sizeof(h->ifname), "%s", ifname);
	}
	h->fd = fd;
	return 0;
}

int lb_detach(struct lb_obj *lb, const char *bpffs_dir, const char *ifname)
{
	struct held_link *h = lb ? held_link(lb, ifname) : NULL;
	char path[PATH_MAX];
	int err = -ENOENT;

	if (h) {
		err = bpf_link_detach(h->fd) && errno != ENOLINK ? -errno : 0;
		close(h->fd);
		*h = lb->links[--lb->nlinks];
	}
	if (bpffs_dir) {
		if (strchr(ifname, '/') ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s/%s", bpffs_dir, XG_PIN_LINKS_DIR,
				     ifname) >= sizeof(path))
			return -EINVAL;
		int perr = lb_xdp_link_detach(path);

		if (perr != -ENOENT || err == -ENOENT)
			err = perr;
	}
	return err;
}

static int link_info_of(int fd, const char *name, struct lb_link_info *out)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int mode;

	memset(out, 0, sizeof(*out));
	if (strlen(name) >= sizeof(out->ifname))
		return -ENAMETOOLONG;
	memcpy(out->ifname, name, strlen(name) + 1);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	out->ifindex = info.xdp.ifindex;
	out->prog_id = info.prog_id;
	out->link_id = info.id;
	mode = out->ifindex ? xdp_attached_mode(out->ifindex) : -ENOENT;
	if (mode >= 0) {
		out->mode = mode;
		out->mode_known = true;
	}
	return 0;
}

int lb_links_foreach(const char *bpffs_dir, const char *subdir, lb_link_cb cb, void *ctx)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct lb_link_info info;
	struct dirent *de;
	int err = 0;
	DIR *d;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", bpffs_dir, subdir) >= sizeof(dir))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!err && (de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (link_info_of(fd, de->d_name, &info) == 0)
			err = cb(&info, ctx);
		close(fd);
	}
	closedir(d);
	return err;
}
