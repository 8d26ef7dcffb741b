// SPDX-License-Identifier: GPL-2.0
/* The balancer's maps from userspace: services, backends, selection tables, stats, conntrack. */
#include "lib/lbmap.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xdpgw/hash.h>

#include "lib/maglev.h"
#include "lib/sel.h"

const char *const lbmap_names[LBMAP_MAX] = {
	[LBMAP_VIPS] = "lb_vips",
	[LBMAP_VIP_ADDRS] = "lb_vip_addrs",
	[LBMAP_VIP_FILTER] = "lb_vip_filter",
	[LBMAP_VIP_INFO] = "lb_vip_info",
	[LBMAP_VIP_STATS] = "lb_vip_stats",
	[LBMAP_SELECTION] = "lb_selection",
	[LBMAP_BACKENDS] = "lb_backends",
	[LBMAP_BE_HEALTH] = "lb_be_health",
	[LBMAP_BE_STATS] = "lb_be_stats",
	[LBMAP_BE_ACTIVE] = "lb_be_active",
	[LBMAP_CONNTRACK] = "lb_conntrack",
	[LBMAP_PERSIST] = "lb_persist",
	[LBMAP_LINKS] = "lb_links",
	[LBMAP_SETTINGS] = "lb_settings",
	[LBMAP_STATS] = "lb_stats",
	[LBMAP_RR_CURSOR] = "lb_rr_cursor",
	[LBMAP_CPU_STATE] = "lb_cpu_state",
};

const char *const lbmap_reason_names[XG_R_MAX] = XG_REASON_NAMES;
const uint8_t lbmap_reason_kinds[XG_R_MAX] = XG_REASON_KINDS;

#define CT_BATCH 4096

/* ---- opening ---- */

static int lbmap_init(struct lbmap *m)
{
	for (int i = 0; i < LBMAP_MAX; i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(m->fd[i], &info, &len))
			return -errno;
		m->max_entries[i] = info.max_entries;
	}
	m->max_vips = m->max_entries[LBMAP_VIP_INFO];
	m->max_backends = m->max_entries[LBMAP_BACKENDS];
	m->ncpus = libbpf_num_possible_cpus();
	if (m->ncpus <= 0)
		return m->ncpus ?: -EINVAL;
	m->sel_budget = XG_SEL_BUDGET;
	m->sel_max = XG_SEL_MAX;
	return 0;
}

static struct lbmap *lbmap_alloc(void)
{
	struct lbmap *m = calloc(1, sizeof(*m));

	if (m)
		for (int i = 0; i < LBMAP_MAX; i++)
			m->fd[i] = -1;
	return m;
}

struct lbmap *lbmap_open(const char *bpffs_dir, bool readonly)
{
	LIBBPF_OPTS(bpf_obj_get_opts, oo, .file_flags = readonly ? BPF_F_RDONLY : 0);
	struct lbmap *m = lbmap_alloc();
	char path[PATH_MAX];
	int err = 0;

	if (!m)
		return NULL;
	m->readonly = readonly;
	for (int i = 0; i < LBMAP_MAX && !err; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", bpffs_dir, lbmap_names[i]) >=
		    sizeof(path)) {
			err = -ENAMETOOLONG;
			break;
		}
		m->fd[i] = bpf_obj_get_opts(path, &oo);
		if (m->fd[i] < 0)
			err = -errno;
	}
	if (!err)
		err = lbmap_init(m);
	if (err) {
		lbmap_close(m);
		errno = -err;
		return NULL;
	}
	return m;
}

struct lbmap *lbmap_from_fds(const int fds[LBMAP_MAX])
{
	struct lbmap *m = lbmap_alloc();
	int err = 0;

	if (!m)
		return NULL;
	for (int i = 0; i < LBMAP_MAX && !err; i++) {
		m->fd[i] = fds[i] >= 0 ? dup(fds[i]) : -1;
		if (m->fd[i] < 0)
			err = fds[i] >= 0 ? -errno : -ENOENT;
	}
	if (!err)
		err = lbmap_init(m);
	if (err) {
		lbmap_close(m);
		errno = -err;
		return NULL;
	}
	return m;
}

void lbmap_close(struct lbmap *m)
{
	if (!m)
		return;
	for (int i = 0; i < LBMAP_MAX; i++)
		if (m->fd[i] >= 0)
			close(m->fd[i]);
	free(m);
}

uint64_t lbmap_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* ---- small map helpers ---- */

static int map_get(struct lbmap *m, enum lbmap_id map, const void *key, void *val)
{
	return bpf_map_lookup_elem(m->fd[map], key, val) ? -errno : 0;
}

static int map_put(struct lbmap *m, enum lbmap_id map, const void *key, const void *val)
{
	if (m->readonly)
		return -EPERM;
	return bpf_map_update_elem(m->fd[map], key, val, BPF_ANY) ? -errno : 0;
}

static int map_del(struct lbmap *m, enum lbmap_id map, const void *key)
{
	if (m->readonly)
		return -EPERM;
	return bpf_map_delete_elem(m->fd[map], key) ? -errno : 0;
}

/* Zeroes entry id of a per-CPU array whose value is vsize bytes. */
static int percpu_zero(struct lbmap *m, enum lbmap_id map, uint32_t id, size_t vsize)
{
	void *zero = calloc(m->ncpus, vsize);
	int err;

	if (!zero)
		return -ENOMEM;
	err = map_put(m, map, &id, zero);
	free(zero);
	return err;
}

/*
 * All entries of an array map in one syscall (a batch lookup), into vals (n * vsize bytes);
 * falls back to one lookup per entry where batches are not supported.
 */
static int array_read_all(int fd, uint32_t n, size_t vsize, void *vals)
{
	uint32_t *keys = malloc(sizeof(*keys) * n), out_batch, count = n;
	int err = 0;

	if (!keys)
		return -ENOMEM;
	if (bpf_map_lookup_batch(fd, NULL, &out_batch, keys, vals, &count, NULL) && errno != ENOENT)
		count = 0;
	if (count != n) {
		for (uint32_t i = 0; i < n && !err; i++)
			if (bpf_map_lookup_elem(fd, &i, (char *)vals + i * vsize))
				err = -errno;
	}
	free(keys);
	return err;
}

/* A calloc'd copy of the n entries of an array map; caller frees. NULL with errno on error. */
static void *array_snapshot(int fd, uint32_t n, size_t vsize)
{
	void *vals = calloc(n, vsize);
	int err;

	if (!vals)
		return NULL;
	err = array_read_all(fd, n, vsize, vals);
	if (err) {
		free(vals);
		errno = -err;
		return NULL;
	}
	return vals;
}

/* Snapshots of lb_vip_info / lb_backends (max_vips / max_backends entries); caller frees. */
static struct xg_vip_info *vips_read(struct lbmap *m)
{
	return array_snapshot(m->fd[LBMAP_VIP_INFO], m->max_vips, sizeof(struct xg_vip_info));
}

static struct xg_backend *backends_read(struct lbmap *m)
{
	return array_snapshot(m->fd[LBMAP_BACKENDS], m->max_backends, sizeof(struct xg_backend));
}

const char *lbmap_algo_name(uint8_t algo)
{
	static const char *const names[XG_ALGO_MAX] = { "maglev", "sh", "rr", "lc" };

	return algo < XG_ALGO_MAX ? names[algo] : "?";
}

int lbmap_algo_parse(const char *s)
{
	for (int i = 0; i < XG_ALGO_MAX; i++)
		if (strcmp(s, lbmap_algo_name(i)) == 0)
			return i;
	return -EINVAL;
}

const char *lbmap_fwd_name(uint8_t fwd)
{
	return fwd == XG_FWD_IPIP ? "ipip" : fwd == XG_FWD_L2 ? "l2" : "?";
}

int lbmap_fwd_parse(const char *s)
{
	if (strcmp(s, "ipip") == 0)
		return XG_FWD_IPIP;
	if (strcmp(s, "l2") == 0)
		return XG_FWD_L2;
	return -EINVAL;
}

static bool addr_valid(const struct xg_addr *a, uint8_t family)
{
	if (family == XG_AF_INET)
		return !a->v6[1] && !a->v6[2] && !a->v6[3];
	return family == XG_AF_INET6;
}

/* ---- services ---- */

/*
 * Ids are handed out round-robin: the search for a free id starts one past the last id handed
 * out (lb_settings.next_vip_id / next_backend_id, so a gwd restarted on the pinned maps goes
 * on from there). A lowest-free search gave a service deleted and added again (or a backend
 * replaced by another) the ids just freed, and the established flows whose entries name them
 * followed the newcomer without being reselected.
 */
static uint32_t id_cursor(struct lbmap *m, bool vip)
{
	struct xg_settings s;

	if (lbmap_settings_get(m, &s))
		return 0;
	return vip ? s.next_vip_id : s.next_backend_id;
}

static int id_cursor_set(struct lbmap *m, bool vip, uint32_t next)
{
	struct xg_settings s;
	uint32_t zero = 0;
	int err;

	if (m->readonly)
		return 0;
	err = lbmap_settings_get(m, &s);
	if (err)
		return err;
	if (vip)
		s.next_vip_id = next;
	else
		s.next_backend_id = next;
	return map_put(m, LBMAP_SETTINGS, &zero, &s);
}

int lbmap_vip_alloc_id(struct lbmap *m, uint32_t *id)
{
	struct xg_vip_info *all = vips_read(m);
	uint32_t start = id_cursor(m, true) % m->max_vips;
	int err = -ENOSPC;

	if (!all)
		return -errno;
	for (uint32_t k = 0; k < m->max_vips; k++) {
		uint32_t i = (start + k) % m->max_vips;

		if (!all[i].in_use) {
			err = id_cursor_set(m, true, (i + 1) % m->max_vips);
			if (!err)
				*id = i;
			break;
		}
	}
	free(all);
	return err;
}

int lbmap_vip_get(struct lbmap *m, uint32_t id, struct xg_vip_info *info)
{
	int err;

	if (id >= m->max_vips)
		return -ENOENT;
	err = map_get(m, LBMAP_VIP_INFO, &id, info);
	if (err)
		return err;
	return info->in_use ? 0 : -ENOENT;
}

int lbmap_vip_find(struct lbmap *m, const char *name, uint32_t *id)
{
	struct xg_vip_info *all = vips_read(m);
	int err = -ENOENT;

	if (!all)
		return -errno;
	for (uint32_t i = 0; i < m->max_vips; i++)
		if (all[i].in_use && strncmp(all[i].name, name, sizeof(all[i].name)) == 0) {
			*id = i;
			err = 0;
			break;
		}
	free(all);
	return err;
}

int lbmap_vip_find_key(struct lbmap *m, const struct xg_vip_key *key, uint32_t *id)
{
	struct xg_vip vip;

	if (map_get(m, LBMAP_VIPS, key, &vip))
		return -ENOENT;
	*id = vip.id;
	return 0;
}

static bool same_addr(const struct xg_addr *a, uint8_t fa, const struct xg_addr *b, uint8_t fb)
{
	return fa == fb && memcmp(a, b, sizeof(*a)) == 0;
}

/* Rewrites the filter words from lb_vip_addrs: bits of present addresses set, others clear. */
static int filter_rebuild(struct lbmap *m)
{
	uint64_t want[XG_VIP_FILTER_WORDS] = {}, have;
	struct xg_addr_key key, next;
	void *prev = NULL;
	int err;

	while (bpf_map_get_next_key(m->fd[LBMAP_VIP_ADDRS], prev, &next) == 0) {
		uint32_t bit = xg_vip_filter_bit(&next.addr, next.family);

		want[bit / 64] |= 1ull << (bit % 64);
		key = next;
		prev = &key;
	}
	for (uint32_t w = 0; w < XG_VIP_FILTER_WORDS; w++) {
		err = map_get(m, LBMAP_VIP_FILTER, &w, &have);
		if (err)
			return err;
		if (have == want[w])
			continue;
		err = map_put(m, LBMAP_VIP_FILTER, &w, &want[w]);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Makes lb_vip_addrs agree with the services in lb_vip_info for one address, then the filter.
 * Adding: address and filter bit exist before the caller adds the service to lb_vips;
 * removing: called after the service left lb_vips.
 */
static int addr_sync(struct lbmap *m, const struct xg_addr *addr, uint8_t family)
{
	struct xg_addr_key key = { .addr = *addr, .family = family };
	struct xg_vip_info *all = vips_read(m);
	struct xg_vip_addr val = {};
	uint32_t count = 0;
	int err;

	if (!all)
		return -errno;
	for (uint32_t i = 0; i < m->max_vips; i++)
		if (all[i].in_use && same_addr(&all[i].key.addr, all[i].key.family, addr, family))
			count++;
	free(all);
	if (count) {
		map_get(m, LBMAP_VIP_ADDRS, &key, &val);
		val.services = count;
		err = map_put(m, LBMAP_VIP_ADDRS, &key, &val);
	} else {
		err = map_del(m, LBMAP_VIP_ADDRS, &key);
		if (err == -ENOENT)
			err = 0;
	}
	return err ?: filter_rebuild(m);
}

int lbmap_vip_addr_set_flags(struct lbmap *m, const struct xg_addr *addr, uint8_t family,
			     uint32_t flags)
{
	struct xg_addr_key key = { .addr = *addr, .family = family };
	struct xg_vip_addr val;

	if (map_get(m, LBMAP_VIP_ADDRS, &key, &val))
		return -ENOENT;
	val.flags = flags;
	return map_put(m, LBMAP_VIP_ADDRS, &key, &val);
}

static int vip_validate(struct lbmap *m, uint32_t id, const char *name,
			const struct xg_vip_key *key, const struct xg_vip *vip)
{
	uint32_t other;

	if (m->readonly)
		return -EPERM;
	if (id >= m->max_vips || !name || !*name || strlen(name) >= XG_NAME_LEN)
		return -EINVAL;
	if ((key->family != XG_AF_INET && key->family != XG_AF_INET6) ||
	    !addr_valid(&key->addr, key->family))
		return -EINVAL;
	if (key->proto != IPPROTO_TCP && key->proto != IPPROTO_UDP)
		return -EINVAL;
	if (vip->algo >= XG_ALGO_MAX || vip->fwd >= XG_FWD_MAX)
		return -EINVAL;
	if (lbmap_vip_find_key(m, key, &other) == 0 && other != id)
		return -EEXIST;
	if (lbmap_vip_find(m, name, &other) == 0 && other != id)
		return -EEXIST;
	return 0;
}

int lbmap_vip_set(struct lbmap *m, uint32_t id, const char *name, const struct xg_vip_key *key,
		  const struct xg_vip *vip)
{
	struct xg_vip_info old = {}, info = {};
	struct xg_vip val = *vip;
	bool had, key_changed;
	int err;

	err = vip_validate(m, id, name, key, vip);
	if (err)
		return err;
	had = lbmap_vip_get(m, id, &old) == 0;
	key_changed = had && memcmp(&old.key, key, sizeof(*key)) != 0;
	val.id = id;
	val.pad = 0;

	snprintf(info.name, sizeof(info.name), "%s", name);
	info.key = *key;
	info.vip = val;
	info.in_use = 1;
	info.sel_size = had ? old.sel_size : 0;
	info.maglev_size = had ? old.maglev_size : 0;
	info.generation = old.generation + 1;
	err = map_put(m, LBMAP_VIP_INFO, &id, &info);
	if (err)
		return err;
	if (!had) {
		percpu_zero(m, LBMAP_VIP_STATS, id, sizeof(struct xg_flow_stats));
		percpu_zero(m, LBMAP_RR_CURSOR, id, sizeof(uint32_t));
	}
	err = addr_sync(m, &key->addr, key->family);
	if (!err && (!had || old.vip.algo != val.algo))
		err = lbmap_sel_publish(m, id);
	if (!err)
		err = map_put(m, LBMAP_VIPS, key, &val);
	if (err) {
		/* Put back what was there. */
		map_put(m, LBMAP_VIP_INFO, &id, &old);
		addr_sync(m, &key->addr, key->family);
		return err;
	}
	if (key_changed) {
		map_del(m, LBMAP_VIPS, &old.key);
		addr_sync(m, &old.key.addr, old.key.family);
	}
	return 0;
}

int lbmap_vip_set_table_size(struct lbmap *m, uint32_t id, uint32_t size)
{
	struct xg_vip_info info, old;
	int err;

	if (m->readonly)
		return -EPERM;
	if (size && (size < MAGLEV_MIN_SIZE || size > m->sel_max || !maglev_is_prime(size)))
		return -EINVAL;
	err = lbmap_vip_get(m, id, &info);
	if (err)
		return err;
	old = info;
	info.maglev_size = size;
	err = map_put(m, LBMAP_VIP_INFO, &id, &info);
	if (!err)
		err = lbmap_sel_publish(m, id);
	if (err)
		map_put(m, LBMAP_VIP_INFO, &id, &old);
	return err;
}

int lbmap_vip_del(struct lbmap *m, uint32_t id)
{
	struct xg_vip_info info, empty = {};
	struct xg_backend *all;
	int err;

	if (m->readonly)
		return -EPERM;
	err = lbmap_vip_get(m, id, &info);
	if (err)
		return err;
	/* Established flows find their service through lb_vip_info: it goes first. */
	empty.generation = info.generation + 1;
	err = map_put(m, LBMAP_VIP_INFO, &id, &empty);
	if (err)
		return err;
	err = map_del(m, LBMAP_VIPS, &info.key);
	if (err && err != -ENOENT) {
		map_put(m, LBMAP_VIP_INFO, &id, &info);
		return err;
	}
	map_del(m, LBMAP_SELECTION, &id);
	all = backends_read(m);
	for (uint32_t b = 0; all && b < m->max_backends; b++) {
		struct xg_backend none = {};
		int64_t zero = 0;

		if (!(all[b].flags & XG_BE_F_IN_USE) || all[b].vip_id != id)
			continue;
		map_put(m, LBMAP_BACKENDS, &b, &none);
		map_put(m, LBMAP_BE_ACTIVE, &b, &zero);
		percpu_zero(m, LBMAP_BE_STATS, b, sizeof(struct xg_flow_stats));
	}
	free(all);
	percpu_zero(m, LBMAP_VIP_STATS, id, sizeof(struct xg_flow_stats));
	lbmap_persist_flush(m, id, NULL);
	return addr_sync(m, &info.key.addr, info.key.family);
}

int lbmap_vip_foreach(struct lbmap *m, lbmap_vip_cb cb, void *ctx)
{
	struct xg_vip_info *all = vips_read(m);
	int err = 0;

	if (!all)
		return -errno;
	for (uint32_t i = 0; i < m->max_vips && !err; i++)
		if (all[i].in_use)
			err = cb(i, &all[i], ctx);
	free(all);
	return err;
}

/* ---- backends ---- */

static bool takes_new(const struct xg_backend *be)
{
	return (be->flags & (XG_BE_F_IN_USE | XG_BE_F_DOWN | XG_BE_F_DRAIN)) == XG_BE_F_IN_USE &&
	       be->weight > 0;
}

int lbmap_backend_alloc_id(struct lbmap *m, uint32_t *id)
{
	struct xg_backend *all = backends_read(m);
	uint32_t start = id_cursor(m, false) % m->max_backends;
	int err = -ENOSPC;

	if (!all)
		return -errno;
	for (uint32_t k = 0; k < m->max_backends; k++) {
		uint32_t i = (start + k) % m->max_backends;

		if (!(all[i].flags & XG_BE_F_IN_USE)) {
			err = id_cursor_set(m, false, (i + 1) % m->max_backends);
			if (!err)
				*id = i;
			break;
		}
	}
	free(all);
	return err;
}

int lbmap_backend_get(struct lbmap *m, uint32_t id, struct xg_backend *be)
{
	int err;

	if (id >= m->max_backends)
		return -ENOENT;
	err = map_get(m, LBMAP_BACKENDS, &id, be);
	if (err)
		return err;
	return be->flags & XG_BE_F_IN_USE ? 0 : -ENOENT;
}

int lbmap_backend_find(struct lbmap *m, uint32_t vip_id, const struct xg_addr *addr, uint8_t family,
		       uint32_t *id)
{
	struct xg_backend *all = backends_read(m);
	int err = -ENOENT;

	if (!all)
		return -errno;
	for (uint32_t i = 0; i < m->max_backends; i++)
		if ((all[i].flags & XG_BE_F_IN_USE) && all[i].vip_id == vip_id &&
		    same_addr(&all[i].addr, all[i].family, addr, family)) {
			*id = i;
			err = 0;
			break;
		}
	free(all);
	return err;
}

int lbmap_backend_write(struct lbmap *m, uint32_t id, const struct xg_backend *be)
{
	if (id >= m->max_backends)
		return -EINVAL;
	return map_put(m, LBMAP_BACKENDS, &id, be);
}

/* Publishes vip_id's table from a snapshot of lb_backends (all: max_backends entries). */
static int sel_publish_from(struct lbmap *m, uint32_t vip_id, const struct xg_backend *all);

static int change_validate(struct lbmap *m, uint32_t vip_id, const struct xg_vip_info *info,
			   const struct lbmap_be_change *c, const struct xg_backend *cur)
{
	const struct xg_backend *be = &c->be;

	if (c->id >= m->max_backends)
		return -EINVAL;
	if (c->del)
		return (cur->flags & XG_BE_F_IN_USE) && cur->vip_id == vip_id ? 0 : -ENOENT;
	if ((be->family != XG_AF_INET && be->family != XG_AF_INET6) ||
	    !addr_valid(&be->addr, be->family) || be->vip_id != vip_id)
		return -EINVAL;
	if (info->vip.fwd == XG_FWD_L2 && be->family != info->key.family)
		return -EINVAL;
	if ((cur->flags & XG_BE_F_IN_USE) && cur->vip_id != vip_id)
		return -EBUSY;
	return 0;
}

/* No two in-use backends of vip_id share an address in the state `all`. */
static int check_unique(struct lbmap *m, uint32_t vip_id, const struct xg_backend *all)
{
	struct sel_backend *list = calloc(m->max_backends, sizeof(*list));
	size_t n = 0;
	int err = 0;

	if (!list)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->max_backends; i++)
		if ((all[i].flags & XG_BE_F_IN_USE) && all[i].vip_id == vip_id) {
			list[n].addr = all[i].addr;
			list[n++].family = all[i].family;
		}
	sel_sort(list, n);
	for (size_t i = 1; i < n && !err; i++)
		if (same_addr(&list[i].addr, list[i].family, &list[i - 1].addr, list[i - 1].family))
			err = -EEXIST;
	free(list);
	return err;
}

static void counters_zero(struct lbmap *m, uint32_t id)
{
	int64_t zero = 0;

	map_put(m, LBMAP_BE_ACTIVE, &id, &zero);
	percpu_zero(m, LBMAP_BE_STATS, id, sizeof(struct xg_flow_stats));
}

int lbmap_backends_apply(struct lbmap *m, uint32_t vip_id, const struct lbmap_be_change *c,
			 size_t n)
{
	struct xg_backend *old = NULL, *next = NULL, none = {};
	struct xg_vip_info info;
	int err;

	if (m->readonly)
		return -EPERM;
	if (lbmap_vip_get(m, vip_id, &info))
		return -EINVAL;
	old = backends_read(m);
	next = calloc(m->max_backends, sizeof(*next));
	if (!old || !next) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(next, old, m->max_backends * sizeof(*next));
	for (size_t i = 0; i < n; i++) {
		err = change_validate(m, vip_id, &info, &c[i],
				      c[i].id < m->max_backends ? &old[c[i].id] : &none);
		for (size_t j = 0; !err && j < i; j++)
			if (c[j].id == c[i].id)
				err = -EINVAL;
		if (err)
			goto out;
		if (c[i].del) {
			next[c[i].id] = none;
		} else {
			next[c[i].id] = c[i].be;
			next[c[i].id].flags |= XG_BE_F_IN_USE;
			next[c[i].id].pad = 0;
		}
	}
	err = check_unique(m, vip_id, next);
	if (err)
		goto out;
	/* 1. Backends that take new flows afterwards: entries first, so the table never points
	 *    at an entry not yet written. New ones start with zeroed counters. */
	for (size_t i = 0; i < n; i++) {
		uint32_t id = c[i].id;

		if (c[i].del || !takes_new(&next[id]))
			continue;
		if (!(old[id].flags & XG_BE_F_IN_USE))
			counters_zero(m, id);
		err = map_put(m, LBMAP_BACKENDS, &id, &next[id]);
		if (err)
			goto undo;
	}
	/* 2. The table of the final state, in one swap. */
	err = sel_publish_from(m, vip_id, next);
	if (err)
		goto undo;
	/* 3. Backends that stop taking new flows, or go: only after they left the table. */
	for (size_t i = 0; i < n; i++) {
		uint32_t id = c[i].id;

		if (!c[i].del && takes_new(&next[id]))
			continue;
		if (!(old[id].flags & XG_BE_F_IN_USE))
			counters_zero(m, id);
		err = map_put(m, LBMAP_BACKENDS, &id, &next[id]);
		if (err)
			goto out; /* the table is already right; report the failure */
		if (c[i].del)
			counters_zero(m, id);
	}
	goto out;
undo:
	for (size_t i = 0; i < n; i++)
		if (!c[i].del && takes_new(&next[c[i].id]))
			map_put(m, LBMAP_BACKENDS, &c[i].id, &old[c[i].id]);
out:
	free(old);
	free(next);
	return err;
}

int lbmap_backend_set(struct lbmap *m, uint32_t id, const struct xg_backend *be)
{
	struct lbmap_be_change c = { .id = id, .be = *be };

	if (m->readonly)
		return -EPERM;
	if (id >= m->max_backends)
		return -EINVAL;
	return lbmap_backends_apply(m, be->vip_id, &c, 1);
}

int lbmap_backend_del(struct lbmap *m, uint32_t id)
{
	struct lbmap_be_change c = { .id = id, .del = true };
	struct xg_backend old;
	int err;

	if (m->readonly)
		return -EPERM;
	err = lbmap_backend_get(m, id, &old);
	return err ?: lbmap_backends_apply(m, old.vip_id, &c, 1);
}

int lbmap_backend_foreach(struct lbmap *m, uint32_t vip_id, lbmap_backend_cb cb, void *ctx)
{
	struct xg_backend *all = backends_read(m);
	int err = 0;

	if (!all)
		return -errno;
	for (uint32_t i = 0; i < m->max_backends && !err; i++)
		if ((all[i].flags & XG_BE_F_IN_USE) &&
		    (vip_id == XG_VIP_NONE || all[i].vip_id == vip_id))
			err = cb(i, &all[i], ctx);
	free(all);
	return err;
}

int lbmap_backend_health_set(struct lbmap *m, uint32_t id, const struct xg_backend_health *h)
{
	if (id >= m->max_backends)
		return -EINVAL;
	return map_put(m, LBMAP_BE_HEALTH, &id, h);
}

int lbmap_backend_health_get(struct lbmap *m, uint32_t id, struct xg_backend_health *h)
{
	if (id >= m->max_backends)
		return -ENOENT;
	return map_get(m, LBMAP_BE_HEALTH, &id, h);
}

/* ---- selection tables ---- */

/* Live backends of vip_id, canonical order; *n gets the count. Caller frees. */
static struct sel_backend *live_backends(struct lbmap *m, uint32_t vip_id,
					 const struct xg_backend *all, size_t *n)
{
	struct sel_backend *list = calloc(m->max_backends, sizeof(*list));

	*n = 0;
	if (!list)
		return NULL;
	for (uint32_t i = 0; i < m->max_backends; i++) {
		const struct xg_backend *be = &all[i];

		if (be->vip_id != vip_id || !takes_new(be))
			continue;
		list[*n].id = i;
		list[*n].weight = be->weight;
		list[*n].addr = be->addr;
		list[*n].family = be->family;
		(*n)++;
	}
	sel_sort(list, *n);
	return list;
}

/* Entries of all selection tables but vip_id's. */
static uint64_t sel_used(struct lbmap *m, uint32_t vip_id)
{
	struct xg_vip_info *all = vips_read(m);
	uint64_t used = 0;

	if (!all)
		return UINT64_MAX; /* unknown: refuse rather than overshoot */
	for (uint32_t i = 0; i < m->max_vips; i++)
		if (i != vip_id && all[i].in_use)
			used += all[i].sel_size;
	free(all);
	return used;
}

/*
 * Builds the table (slot 0 = n) for the service's algo into a new buffer; returns n or a
 * negative errno. A Maglev table keeps the service's size (info->maglev_size) unless the
 * backends outgrow it; it then at least doubles, so growth is rare (a new size remaps fresh
 * flows; established ones keep their entries).
 */
static int sel_build(struct lbmap *m, struct xg_vip_info *info, struct sel_backend *b, size_t n,
		     uint32_t **out)
{
	uint8_t algo = info->vip.algo;
	uint32_t size, *table;
	int len;

	if (algo == XG_ALGO_MAGLEV || algo == XG_ALGO_SH) {
		uint32_t floor = info->maglev_size ?: XG_SEL_DEFAULT;

		size = maglev_size(b, n, floor, m->sel_max, NULL);
		if (size > floor && size < m->sel_max)
			size = maglev_size(b, n, 2 * floor > size ? 2 * floor : size, m->sel_max,
					   NULL);
		if (!size)
			return -errno;
		info->maglev_size = size;
	} else {
		size = m->sel_max;
	}
	table = calloc((size_t)size + XG_SEL_HDR, sizeof(*table));
	if (!table)
		return -ENOMEM;
	switch (algo) {
	case XG_ALGO_RR:
		len = sel_rr_sequence(b, n, size, table + XG_SEL_HDR);
		break;
	case XG_ALGO_LC:
		len = sel_lc_list(b, n, table + XG_SEL_HDR);
		break;
	default:
		len = maglev_build(b, n, size, table + XG_SEL_HDR);
		if (len == 0)
			len = (int)size;
		break;
	}
	if (len < 0) {
		free(table);
		return len;
	}
	table[0] = (uint32_t)len;
	*out = table;
	return len;
}

/*
 * A new inner array holding table[0 .. n] (slot 0 = n); returns its fd or a negative errno.
 * mmapable (the lb_sel_inner template's flags): the array is filled through a mapping, one
 * copy in userspace, instead of a batch update that costs the kernel a copy and an update call
 * per slot (~5 ms for a 16381-slot table here). Otherwise filled by batch update: the form an
 * lb_selection pinned by an older version accepts (its template lacks BPF_F_MMAPABLE).
 */
static int sel_inner_create(const uint32_t *table, uint32_t n, bool mmapable)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo,
		    .map_flags = BPF_F_INNER_MAP | (mmapable ? BPF_F_MMAPABLE : 0));
	uint32_t count = n + XG_SEL_HDR, *keys;
	int fd, err = 0;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lb_sel", sizeof(uint32_t), sizeof(uint32_t), count,
			    &mo);
	if (fd < 0)
		return -errno;
	if (mmapable) {
		/* Array slots are 8 bytes apart (values are rounded up to 8). */
		size_t len = (size_t)count * 8;
		uint32_t *slots = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (slots == MAP_FAILED) {
			err = -errno;
			close(fd);
			return err;
		}
		for (uint32_t i = 0; i < count; i++)
			slots[2 * i] = table[i];
		munmap(slots, len);
		return fd;
	}
	keys = malloc(sizeof(*keys) * count);
	if (!keys) {
		close(fd);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++)
		keys[i] = i;
	if (bpf_map_update_batch(fd, keys, table, &count, NULL))
		err = -errno;
	free(keys);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/*
 * The swap: one update of the outer array; packets see the old table or this one. An
 * lb_selection pinned by an older version refuses mmapable tables (-EINVAL: the inner map
 * template differs): fall back to plain ones, and remember.
 */
static int sel_swap(struct lbmap *m, uint32_t vip_id, const uint32_t *table, uint32_t n)
{
	int fd, err;

	for (;;) {
		fd = sel_inner_create(table, n, !m->sel_plain);
		if (fd < 0)
			return fd;
		err = map_put(m, LBMAP_SELECTION, &vip_id, &fd);
		close(fd);
		if (err != -EINVAL || m->sel_plain)
			return err;
		m->sel_plain = true;
	}
}

static int sel_publish_from(struct lbmap *m, uint32_t vip_id, const struct xg_backend *all)
{
	struct sel_backend *live;
	struct xg_vip_info info;
	uint32_t *table = NULL;
	int len, err;
	size_t n;

	if (m->readonly)
		return -EPERM;
	err = lbmap_vip_get(m, vip_id, &info);
	if (err)
		return err;
	live = live_backends(m, vip_id, all, &n);
	if (!live)
		return -ENOMEM;
	if (n == 0) {
		free(live);
		err = map_del(m, LBMAP_SELECTION, &vip_id);
		if (err && err != -ENOENT)
			return err;
		info.sel_size = 0;
		info.generation++;
		return map_put(m, LBMAP_VIP_INFO, &vip_id, &info);
	}
	len = sel_build(m, &info, live, n, &table);
	free(live);
	if (len < 0)
		return len;
	uint64_t used = sel_used(m, vip_id);

	if (used == UINT64_MAX || used + (uint64_t)len > m->sel_budget) {
		free(table);
		return -E2BIG;
	}
	err = sel_swap(m, vip_id, table, (uint32_t)len);
	free(table);
	if (err)
		return err;
	info.sel_size = (uint32_t)len;
	info.generation++;
	return map_put(m, LBMAP_VIP_INFO, &vip_id, &info);
}

int lbmap_sel_publish(struct lbmap *m, uint32_t vip_id)
{
	struct xg_backend *all = backends_read(m);
	int err;

	if (!all)
		return -errno;
	err = sel_publish_from(m, vip_id, all);
	free(all);
	return err;
}

/* fd of the inner table of vip_id, or a negative errno (-ENOENT: no table). */
static int sel_inner_fd(struct lbmap *m, uint32_t vip_id)
{
	uint32_t inner_id;
	int fd;

	if (map_get(m, LBMAP_SELECTION, &vip_id, &inner_id))
		return -ENOENT;
	fd = bpf_map_get_fd_by_id(inner_id);
	return fd < 0 ? -errno : fd;
}

int lbmap_sel_read(struct lbmap *m, uint32_t vip_id, uint32_t *ids, uint32_t cap, uint32_t *n)
{
	uint32_t zero = 0, count;
	int fd = sel_inner_fd(m, vip_id), err = 0;

	*n = 0;
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, &count)) {
		err = -errno;
		goto out;
	}
	*n = count;
	for (uint32_t i = 0; i < count && i < cap; i++) {
		uint32_t key = i + XG_SEL_HDR;

		if (bpf_map_lookup_elem(fd, &key, &ids[i])) {
			err = -errno;
			break;
		}
	}
out:
	close(fd);
	return err;
}

/* ---- links and settings ---- */

int lbmap_link_set(struct lbmap *m, const struct xg_link *link)
{
	struct xg_link val = *link;

	if (!link->ifindex || link->src4_hash_bits > 16 || link->src6_hash_bits > 32)
		return -EINVAL;
	if (link->ifindex >= m->max_entries[LBMAP_LINKS])
		return -ERANGE;
	memset(val.pad, 0, sizeof(val.pad));
	return map_put(m, LBMAP_LINKS, &link->ifindex, &val);
}

int lbmap_link_get(struct lbmap *m, uint32_t ifindex, struct xg_link *link)
{
	int err;

	if (ifindex == 0 || ifindex >= m->max_entries[LBMAP_LINKS])
		return -ENOENT;
	err = map_get(m, LBMAP_LINKS, &ifindex, link);
	if (!err && link->ifindex != ifindex)
		err = -ENOENT;
	return err;
}

int lbmap_link_del(struct lbmap *m, uint32_t ifindex)
{
	struct xg_link none = {}, cur;
	int err = lbmap_link_get(m, ifindex, &cur);

	return err ?: map_put(m, LBMAP_LINKS, &ifindex, &none);
}

int lbmap_settings_get(struct lbmap *m, struct xg_settings *s)
{
	uint32_t zero = 0;

	return map_get(m, LBMAP_SETTINGS, &zero, s);
}

int lbmap_settings_set(struct lbmap *m, const struct xg_settings *s)
{
	struct xg_settings val = *s, cur;
	uint32_t zero = 0;

	/* the id cursors are lbmap's, not the caller's: kept */
	if (lbmap_settings_get(m, &cur) == 0) {
		val.next_vip_id = cur.next_vip_id;
		val.next_backend_id = cur.next_backend_id;
	}
	return map_put(m, LBMAP_SETTINGS, &zero, &val);
}

/* ---- statistics ---- */

int lbmap_stats_reasons(struct lbmap *m, struct xg_counter out[XG_R_MAX])
{
	struct xg_counter *v = calloc(m->ncpus, sizeof(*v));
	int err = 0;

	if (!v)
		return -ENOMEM;
	for (uint32_t r = 0; r < XG_R_MAX && !err; r++) {
		out[r] = (struct xg_counter){};
		err = map_get(m, LBMAP_STATS, &r, v);
		for (int c = 0; c < m->ncpus && !err; c++) {
			out[r].packets += v[c].packets;
			out[r].bytes += v[c].bytes;
		}
	}
	free(v);
	return err;
}

int lbmap_stats_actions(struct lbmap *m, struct xg_counter out[4])
{
	struct xg_counter r[XG_R_MAX];
	int err = lbmap_stats_reasons(m, r);

	memset(out, 0, 4 * sizeof(*out));
	for (int i = 0; i < XG_R_MAX && !err; i++) {
		out[lbmap_reason_kinds[i]].packets += r[i].packets;
		out[lbmap_reason_kinds[i]].bytes += r[i].bytes;
	}
	return err;
}

static int flow_stats(struct lbmap *m, enum lbmap_id map, uint32_t id, struct xg_flow_stats *out)
{
	struct xg_flow_stats *v;
	int err;

	if (id >= m->max_entries[map])
		return -ENOENT;
	v = calloc(m->ncpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*out = (struct xg_flow_stats){};
	err = map_get(m, map, &id, v);
	for (int c = 0; c < m->ncpus && !err; c++) {
		out->packets += v[c].packets;
		out->bytes += v[c].bytes;
		out->new_flows += v[c].new_flows;
	}
	free(v);
	return err;
}

int lbmap_stats_vip(struct lbmap *m, uint32_t id, struct xg_flow_stats *out)
{
	return flow_stats(m, LBMAP_VIP_STATS, id, out);
}

int lbmap_stats_backend(struct lbmap *m, uint32_t id, struct xg_flow_stats *out)
{
	return flow_stats(m, LBMAP_BE_STATS, id, out);
}

int lbmap_backend_active(struct lbmap *m, uint32_t id, int64_t *active)
{
	int64_t v;
	int err;

	if (id >= m->max_backends)
		return -ENOENT;
	err = map_get(m, LBMAP_BE_ACTIVE, &id, &v);
	if (!err)
		*active = v > 0 ? v : 0;
	return err;
}

int lbmap_stats_reset(struct lbmap *m)
{
	int err = 0;

	for (uint32_t r = 0; r < XG_R_MAX && !err; r++)
		err = percpu_zero(m, LBMAP_STATS, r, sizeof(struct xg_counter));
	for (uint32_t i = 0; i < m->max_vips && !err; i++)
		err = percpu_zero(m, LBMAP_VIP_STATS, i, sizeof(struct xg_flow_stats));
	for (uint32_t i = 0; i < m->max_backends && !err; i++)
		err = percpu_zero(m, LBMAP_BE_STATS, i, sizeof(struct xg_flow_stats));
	return err;
}

/* ---- connection table ---- */

/* Walks a hash map in batches of CT_BATCH; cb gets each key/value. */
static int hash_foreach(int fd, size_t ksize, size_t vsize,
			int (*cb)(const void *k, const void *v, void *ctx), void *ctx)
{
	void *keys = malloc(ksize * CT_BATCH), *vals = malloc(vsize * CT_BATCH);
	__u32 batch = 0, count;
	bool first = true;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		int rc;

		count = CT_BATCH;
		rc = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals, &count,
					  NULL);
		if (rc && errno != ENOENT) {
			err = -errno;
			break;
		}
		for (__u32 i = 0; i < count && !err; i++)
			err = cb((char *)keys + i * ksize, (char *)vals + i * vsize, ctx);
		if (rc || err)
			break;
		first = false;
	}
out:
	free(keys);
	free(vals);
	return err;
}

struct ct_walk {
	lbmap_ct_cb cb;
	void *ctx;
};

static int ct_walk_one(const void *k, const void *v, void *ctx)
{
	struct ct_walk *w = ctx;

	return w->cb(k, v, w->ctx);
}

int lbmap_ct_foreach(struct lbmap *m, lbmap_ct_cb cb, void *ctx)
{
	struct ct_walk w = { cb, ctx };

	return hash_foreach(m->fd[LBMAP_CONNTRACK], sizeof(struct xg_flow_key),
			    sizeof(struct xg_ct_value), ct_walk_one, &w);
}

struct key_list {
	void *keys;
	size_t n, cap, ksize;
	uint32_t vip_id;
	size_t vip_off; /* offset of the vip id in key (persist) or value (ct) */
	bool in_key;
};

static int collect_key(const void *k, const void *v, void *ctx)
{
	struct key_list *l = ctx;
	uint32_t vip;

	memcpy(&vip, (const char *)(l->in_key ? k : v) + l->vip_off, sizeof(vip));
	if (l->vip_id != XG_VIP_NONE && vip != l->vip_id)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		void *p = realloc(l->keys, cap * l->ksize);

		if (!p)
			return -ENOMEM;
		l->keys = p;
		l->cap = cap;
	}
	memcpy((char *)l->keys + l->n++ * l->ksize, k, l->ksize);
	return 0;
}

/*
 * Adds n to a reason counter that only userspace writes (the flushes): the datapath never
 * touches it, so reading and writing the per-CPU values back loses nothing.
 */
static int stat_add(struct lbmap *m, uint32_t reason, uint64_t n)
{
	struct xg_counter *v = calloc(m->ncpus, sizeof(*v));
	int err;

	if (!v)
		return -ENOMEM;
	err = map_get(m, LBMAP_STATS, &reason, v);
	if (!err) {
		v[0].packets += n;
		err = map_put(m, LBMAP_STATS, &reason, v);
	}
	free(v);
	return err;
}

static int flush_keys(struct lbmap *m, enum lbmap_id map, struct key_list *l, size_t vsize,
		      uint64_t *flushed)
{
	uint64_t done = 0;
	int err;

	if (m->readonly)
		return -EPERM;
	err = hash_foreach(m->fd[map], l->ksize, vsize, collect_key, l);
	for (size_t i = 0; i < l->n && !err; i++)
		if (bpf_map_delete_elem(m->fd[map], (char *)l->keys + i * l->ksize) == 0)
			done++;
	free(l->keys);
	if (done) {
		/* counted so that the eviction estimate does not take them for evictions */
		int e = stat_add(m, map == LBMAP_CONNTRACK ? XG_R_CT_FLUSHED : XG_R_PERSIST_FLUSHED,
				 done);

		err = err ?: e;
	}
	if (flushed)
		*flushed = done;
	return err;
}

static int count_one(const void *k, const void *v, void *ctx)
{
	(*(uint64_t *)ctx)++;
	return 0;
}

int lbmap_evictions(struct lbmap *m, struct lbmap_evictions *out)
{
	struct xg_counter r[XG_R_MAX];
	int err;

	memset(out, 0, sizeof(*out));
	err = lbmap_stats_reasons(m, r) ?:
	      hash_foreach(m->fd[LBMAP_CONNTRACK], sizeof(struct xg_flow_key),
			   sizeof(struct xg_ct_value), count_one, &out->ct_entries) ?:
	      hash_foreach(m->fd[LBMAP_PERSIST], sizeof(struct xg_persist_key),
			   sizeof(struct xg_persist_value), count_one, &out->persist_entries);
	if (err)
		return err;
	out->ct_inserts = r[XG_R_CT_INSERT].packets;
	out->persist_inserts = r[XG_R_PERSIST_INSERT].packets;
	if (out->ct_inserts > r[XG_R_CT_FLUSHED].packets + out->ct_entries)
		out->ct_evicted = out->ct_inserts - r[XG_R_CT_FLUSHED].packets - out->ct_entries;
	if (out->persist_inserts > r[XG_R_PERSIST_FLUSHED].packets + out->persist_entries)
		out->persist_evicted = out->persist_inserts - r[XG_R_PERSIST_FLUSHED].packets -
				       out->persist_entries;
	return 0;
}

int lbmap_ct_flush(struct lbmap *m, uint32_t vip_id, uint64_t *flushed)
{
	struct key_list l = {
		.ksize = sizeof(struct xg_flow_key),
		.vip_id = vip_id,
		.vip_off = offsetof(struct xg_ct_value, vip_id),
	};
	int err = flush_keys(m, LBMAP_CONNTRACK, &l, sizeof(struct xg_ct_value), flushed);

	return err ?: lbmap_lc_resync(m);
}

int lbmap_persist_flush(struct lbmap *m, uint32_t vip_id, uint64_t *flushed)
{
	struct key_list l = {
		.ksize = sizeof(struct xg_persist_key),
		.vip_id = vip_id,
		.vip_off = offsetof(struct xg_persist_key, vip_id),
		.in_key = true,
	};

	return flush_keys(m, LBMAP_PERSIST, &l, sizeof(struct xg_persist_value), flushed);
}

struct resync {
	struct xg_backend *backends;
	int64_t *counts;
	int64_t *active; /* lb_be_active before the write */
	uint32_t max_backends;
	uint64_t now, tcp_ns, udp_ns;
};

static int resync_one(const struct xg_flow_key *k, const struct xg_ct_value *v, void *ctx)
{
	struct resync *r = ctx;
	uint64_t timeout = k->proto == IPPROTO_TCP ? r->tcp_ns : r->udp_ns;
	const struct xg_backend *be;

	if (v->flags & XG_CT_F_FIN || v->backend_id >= r->max_backends)
		return 0;
	if ((int64_t)(r->now - v->last_seen_ns) > (int64_t)timeout)
		return 0;
	be = &r->backends[v->backend_id];
	if ((be->flags & XG_BE_F_IN_USE) && be->vip_id == v->vip_id)
		r->counts[v->backend_id]++;
	return 0;
}

int lbmap_lc_resync(struct lbmap *m)
{
	struct resync r = { .max_backends = m->max_backends };
	struct xg_settings set = {};
	int err = 0;

	if (m->readonly)
		return -EPERM;
	r.backends = calloc(m->max_backends, sizeof(*r.backends));
	r.counts = calloc(m->max_backends, sizeof(*r.counts));
	r.active = calloc(m->max_backends, sizeof(*r.active));
	if (!r.backends || !r.counts || !r.active) {
		err = -ENOMEM;
		goto out;
	}
	err = array_read_all(m->fd[LBMAP_BACKENDS], m->max_backends, sizeof(*r.backends),
			     r.backends);
	if (err)
		goto out;
	lbmap_settings_get(m, &set);
	r.tcp_ns = set.ct_timeout_tcp_ns ?: XG_CT_TIMEOUT_TCP_DEFAULT_NS;
	r.udp_ns = set.ct_timeout_udp_ns ?: XG_CT_TIMEOUT_UDP_DEFAULT_NS;
	r.now = lbmap_now_ns();
	err = lbmap_ct_foreach(m, resync_one, &r);
	if (!err)
		err = array_read_all(m->fd[LBMAP_BE_ACTIVE], m->max_backends, sizeof(*r.active),
				     r.active);
	for (uint32_t i = 0; i < m->max_backends && !err; i++)
		if (r.active[i] != r.counts[i])
			err = map_put(m, LBMAP_BE_ACTIVE, &i, &r.counts[i]);
out:
	free(r.backends);
	free(r.counts);
	free(r.active);
	return err;
}

/* ---- lookup dry run ---- */

static bool keeps_flows(const struct xg_backend *be, uint32_t vip_id)
{
	return (be->flags & (XG_BE_F_IN_USE | XG_BE_F_DOWN)) == XG_BE_F_IN_USE &&
	       be->vip_id == vip_id;
}

/* Selection as the datapath would make it for a new flow (without changing cursors). */
static int lookup_select(struct lbmap *m, const struct xg_flow_key *flow, const struct xg_vip *vip,
			 uint32_t seed, struct lbmap_lookup *res)
{
	uint32_t zero = 0, n, slot, id;
	int fd = sel_inner_fd(m, vip->id), err = 0;

	res->why = LBMAP_WHY_NO_BACKEND;
	res->why_text = "the service has no live backend";
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, &n) || n == 0)
		goto out;
	res->table_size = n;
	switch (vip->algo) {
	case XG_ALGO_SH:
		res->hash = xg_src_hash(&flow->src, flow->family, seed);
		slot = res->hash % n;
		res->why = LBMAP_WHY_TABLE;
		res->why_text = "source-address hash into the Maglev table (sh)";
		break;
	case XG_ALGO_RR: {
		uint32_t *cur = calloc(m->ncpus, sizeof(*cur));

		if (!cur) {
			err = -ENOMEM;
			goto out;
		}
		if (map_get(m, LBMAP_RR_CURSOR, &vip->id, cur) == 0)
			slot = cur[0] % n;
		else
			slot = 0;
		free(cur);
		res->why = LBMAP_WHY_RR;
		res->why_text = "next in the weighted round-robin sequence (CPU 0's position)";
		break;
	}
	case XG_ALGO_LC: {
		uint32_t best = XG_BACKEND_NONE, best_w = 1;
		int64_t best_a = 0;

		slot = 0;
		for (uint32_t i = 0; i < n && i < XG_LC_MAX_BACKENDS; i++) {
			uint32_t key = i + XG_SEL_HDR;
			struct xg_backend be;
			int64_t a;

			if (bpf_map_lookup_elem(fd, &key, &id) || lbmap_backend_get(m, id, &be) ||
			    !takes_new(&be) || be.vip_id != vip->id)
				continue;
			if (lbmap_backend_active(m, id, &a))
				a = 0;
			if (best == XG_BACKEND_NONE || a * best_w < best_a * be.weight) {
				best = id;
				best_a = a;
				best_w = be.weight;
				slot = i;
			}
		}
		res->slot = slot + XG_SEL_HDR;
		res->backend_id = best;
		res->why = best == XG_BACKEND_NONE ? LBMAP_WHY_NO_BACKEND : LBMAP_WHY_LC;
		res->why_text = best == XG_BACKEND_NONE
					? "the service has no live backend"
					: "fewest active flows per unit of weight (lc)";
		goto out;
	}
	default:
		res->hash = xg_flow_hash(flow, seed);
		slot = res->hash % n;
		res->why = LBMAP_WHY_TABLE;
		res->why_text = "5-tuple hash into the Maglev table";
		break;
	}
	res->slot = slot + XG_SEL_HDR;
	if (bpf_map_lookup_elem(fd, &res->slot, &id)) {
		err = -errno;
		goto out;
	}
	res->backend_id = id;
out:
	close(fd);
	return err;
}

int lbmap_lookup(struct lbmap *m, const struct xg_flow_key *flow, struct lbmap_lookup *res)
{
	struct xg_vip_key key = {
		.addr = flow->dst,
		.port = flow->dport,
		.proto = flow->proto,
		.family = flow->family,
	};
	struct xg_flow_key fk = *flow;
	struct xg_settings set = {};
	struct xg_vip_info info;
	struct xg_ct_value ct;
	struct xg_backend be;
	struct xg_vip vip;
	uint64_t now = lbmap_now_ns();
	bool has_ct;
	int err;

	memset(res, 0, sizeof(*res));
	res->vip_id = XG_VIP_NONE;
	res->backend_id = XG_BACKEND_NONE;
	res->why = LBMAP_WHY_NOT_VIP;
	res->why_text = "no service for this destination, port and protocol";
	fk.pad = 0;
	has_ct = map_get(m, LBMAP_CONNTRACK, &fk, &ct) == 0;
	/* As the datapath: an entry names its service when that still matches the packet. */
	if (has_ct && lbmap_vip_get(m, ct.vip_id, &info) == 0 && info.key.proto == key.proto &&
	    info.key.family == key.family && !memcmp(&info.key.addr, &key.addr, sizeof(key.addr)) &&
	    (info.key.port == key.port || info.key.port == 0)) {
		vip = info.vip;
		res->all_ports = info.key.port == 0;
	} else if (map_get(m, LBMAP_VIPS, &key, &vip)) {
		key.port = 0;
		if (map_get(m, LBMAP_VIPS, &key, &vip))
			return 0;
		res->all_ports = true;
	}
	res->vip_id = vip.id;
	lbmap_settings_get(m, &set);
	if (has_ct) {
		uint64_t udp_timeout = set.ct_timeout_udp_ns ?: XG_CT_TIMEOUT_UDP_DEFAULT_NS;
		bool stale;

		res->ct_age_ns = now > ct.last_seen_ns ? now - ct.last_seen_ns : 0;
		/* TCP entries do not expire on the packet path; UDP ones do. */
		stale = fk.proto == IPPROTO_UDP && res->ct_age_ns > udp_timeout;
		if (ct.vip_id == vip.id && !stale &&
		    lbmap_backend_get(m, ct.backend_id, &be) == 0 && keeps_flows(&be, vip.id)) {
			res->backend_id = ct.backend_id;
			res->why = LBMAP_WHY_CT;
			res->why_text = "established flow in the connection table";
			return 0;
		}
	}
	if (vip.persist_sec) {
		struct xg_persist_key pk = { .src = flow->src,
					     .vip_id = vip.id,
					     .family = flow->family };
		struct xg_persist_value pv;

		if (map_get(m, LBMAP_PERSIST, &pk, &pv) == 0 &&
		    now - pv.last_seen_ns < (uint64_t)vip.persist_sec * 1000000000ull &&
		    lbmap_backend_get(m, pv.backend_id, &be) == 0 && takes_new(&be) &&
		    be.vip_id == vip.id) {
			res->backend_id = pv.backend_id;
			res->why = LBMAP_WHY_PERSIST;
			res->why_text = "persistence: the client's recent backend";
			return 0;
		}
	}
	err = lookup_select(m, &fk, &vip, set.hash_seed, res);
	if (!err && has_ct && ct.vip_id == vip.id && res->backend_id != XG_BACKEND_NONE) {
		res->why = LBMAP_WHY_CT_MOVE;
		res->why_text =
			"the entry's backend is down or gone (or the UDP flow idle): the next "
			"packet is selected anew, as shown";
	}
	return err;
}

/* ---- memory ---- */

/* Kernel hash element: struct htab_elem (48 bytes) + key + value, each rounded to 8. */
static uint64_t hash_bytes(uint64_t entries, size_t ksize, size_t vsize, bool percpu_lru)
{
	uint64_t buckets = 1;

	while (buckets < entries)
		buckets <<= 1;
	(void)percpu_lru;
	return entries * (48 + ((ksize + 7) & ~7ul) + ((vsize + 7) & ~7ul)) + buckets * 16;
}

static uint64_t array_bytes(uint64_t entries, size_t vsize, int ncpus)
{
	return entries * ((vsize + 7) & ~7ul) * (ncpus > 0 ? ncpus : 1);
}

uint64_t lbmap_memory_estimate(uint32_t max_vips, uint32_t max_backends, uint32_t ct_entries,
			       uint32_t persist_entries, int ncpus)
{
	uint64_t b = 0;

	b += hash_bytes(ct_entries, sizeof(struct xg_flow_key), sizeof(struct xg_ct_value), true);
	b += hash_bytes(persist_entries, sizeof(struct xg_persist_key),
			sizeof(struct xg_persist_value), false);
	b += hash_bytes(max_vips, sizeof(struct xg_vip_key), sizeof(struct xg_vip), false);
	b += hash_bytes(max_vips, sizeof(struct xg_addr_key), sizeof(struct xg_vip_addr), false);
	b += array_bytes(XG_VIP_FILTER_WORDS, 8, 1);
	b += array_bytes(max_vips, sizeof(struct xg_vip_info), 1);
	b += array_bytes(max_vips, sizeof(struct xg_flow_stats), ncpus);
	b += array_bytes(max_vips, 8, 1);		     /* outer selection array */
	b += array_bytes(max_vips, sizeof(uint32_t), ncpus); /* rr cursors */
	b += array_bytes((uint64_t)XG_SEL_BUDGET + max_vips, sizeof(uint32_t), 1);
	b += array_bytes(max_backends, sizeof(struct xg_backend), 1);
	b += array_bytes(max_backends, sizeof(struct xg_backend_health), 1);
	b += array_bytes(max_backends, sizeof(struct xg_flow_stats), ncpus);
	b += array_bytes(max_backends, sizeof(int64_t), 1);
	b += array_bytes(XG_MAX_IFINDEX, sizeof(struct xg_link), 1);
	b += array_bytes(XG_R_MAX, sizeof(struct xg_counter), ncpus);
	b += array_bytes(1, sizeof(struct xg_settings), 1);
	b += array_bytes(1, sizeof(struct xg_cpu_state), ncpus);
	return b;
}
