// SPDX-License-Identifier: GPL-2.0
/*
 * The L4 module: applies the compiled l4 section to the XDP datapath through the datapath
 * library, adopting what is pinned at start (no detach, no table reset), keeping backend MACs
 * and link parameters current from netlink, and resyncing lc counts on a timer.
 */
#include <errno.h>
#include <h2o.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gwd/admin.h"
#include "gwd/doc.h"
#include "gwd/gwd.h"
#include "gwd/l4.h"
#include "gwd/nl.h"
#include "lib/lb.h"
#include "lib/lbmap.h"
#include "lib/log.h"

#define L4_TICK_MS 100
#define L4_RETRY_MS 1000	/* re-probe unresolved neighbours, re-check routes */

/* What gwd knows about one backend id besides the map entry. */
struct l4_be_rt {
	bool used;
	uint32_t vip_id;
	char service[XG_NAME_LEN];
	uint8_t fwd;
	struct l4_backend_cfg cfg;
	bool has_mac;
	uint8_t mac[6];
	bool hc_down;		/* set by the health checker */
	bool unresolved;	/* no next-hop MAC yet: kept out of new flows */
	bool not_onlink;	/* fwd l2 and the backend is behind a router */
	bool routed;		/* hop holds the last route lookup */
	struct nlw_hop hop;
	struct xg_backend written;
};

struct l4_link_rt {
	char name[IFNAMSIZ];
	int ifindex;		/* 0: the interface is missing */
	struct xg_link written;
};

struct l4 {
	struct gwd *gwd;
	struct lb_obj *lb;
	struct lbmap *m;
	struct nlw *nl;
	const struct l4_compiled *running;
	bool started;
	struct l4_be_rt *be;	/* [m->max_backends] */
	struct l4_link_rt links[XG_MAX_LINKS];
	size_t n_links;
	unsigned nl_events;
	h2o_timeout_t tick;
	h2o_timeout_entry_t tick_entry;
	uint64_t last_resync_ms, last_retry_ms;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool be_live(const struct xg_backend *b)
{
	return (b->flags & XG_BE_F_IN_USE) && !(b->flags & (XG_BE_F_DOWN | XG_BE_F_DRAIN)) &&
	       b->weight > 0;
}

static const char *be_label(const struct l4_be_rt *rt, char *buf, size_t len)
{
	snprintf(buf, len, "l4.services[%s].backends[%s]", rt->service, rt->cfg.key);
	return buf;
}

/* ---- next hops ---- */

/*
 * Finds the backend's next-hop MAC: a route lookup when asked (or never done), else the
 * neighbour table for the known next hop. Keeps the last known MAC while a new one resolves.
 */
static void resolve_mac(struct l4 *l4, struct l4_be_rt *rt, bool lookup_route)
{
	char lbl[160];
	int ret = 0;

	if (!l4->nl)
		return;
	if (lookup_route || !rt->routed) {
		ret = nlw_nexthop(l4->nl, &rt->cfg.addr, rt->cfg.family, true, &rt->hop);
		rt->routed = ret == 0;
	} else {
		rt->hop.has_mac = nlw_neigh_mac(l4->nl, rt->hop.oif, &rt->hop.via,
						rt->hop.via_family, rt->hop.mac);
		if (!rt->hop.has_mac)
			nlw_probe(l4->nl, &rt->hop);
	}
	if (ret) {
		if (!rt->unresolved && !rt->has_mac)
			log_warn("%s: no route (%s): kept out of new flows until one appears",
				 be_label(rt, lbl, sizeof(lbl)), strerror(-ret));
		rt->unresolved = !rt->has_mac;
		return;
	}
	if (rt->fwd == XG_FWD_L2 && rt->hop.gateway) {
		if (!rt->not_onlink)
			log_warn("%s: fwd l2 needs the backend on the same segment, but the route "
				 "goes through a router",
				 be_label(rt, lbl, sizeof(lbl)));
		rt->not_onlink = true;
		rt->unresolved = true;
		return;
	}
	rt->not_onlink = false;
	if (rt->hop.has_mac) {
		if (rt->has_mac && memcmp(rt->mac, rt->hop.mac, 6))
			log_info("%s: next-hop MAC changed", be_label(rt, lbl, sizeof(lbl)));
		memcpy(rt->mac, rt->hop.mac, 6);
		rt->has_mac = true;
	}
	rt->unresolved = !rt->has_mac;
}

/* The map entry for rt as it should be now. */
static struct xg_backend compose(const struct l4_be_rt *rt)
{
	struct xg_backend b = {
		.addr = rt->cfg.addr,
		.family = rt->cfg.family,
		.flags = XG_BE_F_IN_USE,
		.weight = rt->cfg.weight,
		.vip_id = rt->vip_id,
	};

	if (rt->cfg.drain || rt->cfg.weight == 0)
		b.flags |= XG_BE_F_DRAIN;
	if (rt->cfg.down)
		b.flags |= XG_BE_F_DOWN | XG_BE_F_ADMIN_DOWN;
	if (rt->hc_down)
		b.flags |= XG_BE_F_DOWN | XG_BE_F_HC_FAIL;
	if (rt->unresolved)
		b.flags |= XG_BE_F_DOWN;
	if (rt->has_mac)
		memcpy(b.mac, rt->mac, 6);
	return b;
}

/*
 * Writes rt's entry if it differs from what the map holds. A backend that stops taking new
 * flows goes through lbmap_backend_set (out of the table before the entry changes); one that
 * starts or changes otherwise is written and *publish is set for one table rebuild later.
 */
static int write_backend(struct l4 *l4, uint32_t id, struct l4_be_rt *rt, bool *publish)
{
	struct xg_backend b = compose(rt);
	int ret;

	if (!memcmp(&b, &rt->written, sizeof(b)))
		return 0;
	if (be_live(&rt->written) && !be_live(&b)) {
		ret = lbmap_backend_set(l4->m, id, &b);
	} else {
		ret = lbmap_backend_write(l4->m, id, &b);
		if (!ret && (be_live(&b) != be_live(&rt->written) ||
			     (be_live(&b) && b.weight != rt->written.weight)))
			*publish = true;
	}
	if (!ret)
		rt->written = b;
	return ret;
}

/* ---- settings ---- */

static int apply_settings(struct l4 *l4, const struct l4_compiled *n, const struct l4_compiled *o,
			  struct gwd_err *err)
{
	struct xg_settings s = {
		.ct_timeout_tcp_ns = n->settings.ct_timeout_tcp_ms * 1000000,
		.ct_timeout_udp_ns = n->settings.ct_timeout_udp_ms * 1000000,
		.new_flow_rate = n->settings.new_flow_rate,
		.hash_seed = n->settings.hash_seed,
	};
	int ret;

	if (o && !memcmp(&o->settings, &n->settings, sizeof(n->settings)))
		return 0;
	ret = lbmap_settings_set(l4->m, &s);
	if (ret)
		return gwd_err_set(err, 500, "l4.settings: cannot write lb_settings: %s",
				   strerror(-ret));
	return 0;
}

/* ---- links ---- */

static struct l4_link_rt *link_rt(struct l4 *l4, const char *name)
{
	for (size_t i = 0; i < l4->n_links; i++)
		if (strcmp(l4->links[i].name, name) == 0)
			return &l4->links[i];
	return NULL;
}

static void link_rt_drop(struct l4 *l4, struct l4_link_rt *lr)
{
	*lr = l4->links[--l4->n_links];
}

/* Writes lb_links for cfg from the interface's current state. -ENODEV if it is missing. */
static int link_sync(struct l4 *l4, const struct l4_link_cfg *cfg, struct l4_link_rt *lr)
{
	struct nlw_link nl;
	struct xg_link x = { 0 };
	int ret;

	ret = l4->nl ? nlw_link(l4->nl, cfg->name, &nl) : -ENODEV;
	if (ret)
		return ret;
	memcpy(x.mac, nl.mac, 6);
	x.mtu = nl.mtu > 65535 ? 65535 : (uint16_t)nl.mtu;
	x.ifindex = (uint32_t)nl.ifindex;
	x.src4 = cfg->has_src4 ? cfg->src4 : nl.src4;
	x.src6 = cfg->has_src6 ? cfg->src6 : nl.src6;
	if (lr->ifindex == nl.ifindex && !memcmp(&x, &lr->written, sizeof(x)))
		return 0;
	if (lr->ifindex && lr->ifindex != nl.ifindex)
		lbmap_link_del(l4->m, (uint32_t)lr->ifindex);
	ret = lbmap_link_set(l4->m, &x);
	if (ret)
		return ret;
	lr->ifindex = nl.ifindex;
	lr->written = x;
	return 0;
}

static int attach_link(struct l4 *l4, const struct l4_link_cfg *cfg, bool force_new,
		       struct gwd_err *err)
{
	int ret;

	if (force_new)
		lb_detach(l4->lb, l4->gwd->opts.bpffs, cfg->name);
	ret = lb_attach(l4->lb, cfg->name, (enum lb_xdp_mode)cfg->mode);
	if (ret == -EEXIST) {
		/* Pinned in the other mode by an earlier run: replace it. */
		log_info("l4.links[%s]: pinned in another XDP mode; re-attaching in mode %s",
			 cfg->name, l4_mode_names[cfg->mode]);
		lb_detach(l4->lb, l4->gwd->opts.bpffs, cfg->name);
		ret = lb_attach(l4->lb, cfg->name, (enum lb_xdp_mode)cfg->mode);
	}
	if (ret == -ENODEV)
		return gwd_err_set(err, 400, "l4.links[%s]: no such interface", cfg->name);
	if (ret)
		return gwd_err_set(err, 500, "l4.links[%s]: cannot attach XDP in mode %s: %s%s",
				   cfg->name, l4_mode_names[cfg->mode], strerror(-ret),
				   cfg->mode == L4_MODE_NATIVE ? " (try mode generic)" : "");
	return 0;
}

struct stale_ctx {
	struct l4 *l4;
	const struct l4_compiled *n;
};

static int detach_stale(const struct lb_link_info *info, void *arg)
{
	struct stale_ctx *c = arg;

	if (!l4_link_find(c->n, info->ifname)) {
		log_info("l4.links[%s]: attached by an earlier run but not configured: detaching",
			 info->ifname);
		lb_detach(c->l4->lb, c->l4->gwd->opts.bpffs, info->ifname);
		if (info->ifindex)
			lbmap_link_del(c->l4->m, info->ifindex);
	}
	return 0;
}

static int apply_links(struct l4 *l4, const struct l4_compiled *n, const struct l4_compiled *o,
		       struct gwd_err *err)
{
	int ret;

	for (size_t i = 0; o && i < o->n_links; i++) {
		struct l4_link_rt *lr;

		if (l4_link_find(n, o->links[i].name))
			continue;
		lb_detach(l4->lb, l4->gwd->opts.bpffs, o->links[i].name);
		lr = link_rt(l4, o->links[i].name);
		if (lr) {
			if (lr->ifindex)
				lbmap_link_del(l4->m, (uint32_t)lr->ifindex);
			link_rt_drop(l4, lr);
		}
		log_info("l4.links[%s]: detached", o->links[i].name);
	}
	if (!o) {
		struct stale_ctx c = { l4, n };

		lb_links_foreach(l4->gwd->opts.bpffs, XG_PIN_LINKS_DIR, detach_stale, &c);
	}
	for (size_t i = 0; i < n->n_links; i++) {
		const struct l4_link_cfg *cfg = &n->links[i];
		const struct l4_link_cfg *old = l4_link_find(o, cfg->name);
		struct l4_link_rt *lr = link_rt(l4, cfg->name);

		if (!lr) {
			lr = &l4->links[l4->n_links++];
			memset(lr, 0, sizeof(*lr));
			snprintf(lr->name, sizeof(lr->name), "%s", cfg->name);
		}
		ret = link_sync(l4, cfg, lr);
		if (ret == -ENODEV) {
			log_warn("l4.links[%s]: interface missing; attached when it appears",
				 cfg->name);
			continue;
		}
		if (ret)
			return gwd_err_set(err, 500, "l4.links[%s]: cannot write lb_links: %s",
					   cfg->name, strerror(-ret));
		if (old && old->mode == cfg->mode && l4->started)
			continue;
		ret = attach_link(l4, cfg, old && old->mode != cfg->mode, err);
		if (ret)
			return ret;
		log_info("l4.links[%s]: attached (ifindex %d, mode %s)", cfg->name, lr->ifindex,
			 l4_mode_names[cfg->mode]);
	}
	return 0;
}

/* ---- services and backends ---- */

static bool service_same(const struct l4_service_cfg *a, const struct l4_service_cfg *b)
{
	if (!a || !b || memcmp(&a->key, &b->key, sizeof(a->key)) || a->algo != b->algo ||
	    a->fwd != b->fwd || a->flags != b->flags || a->persist_sec != b->persist_sec ||
	    a->n_backends != b->n_backends)
		return false;
	for (size_t i = 0; i < a->n_backends; i++) {
		const struct l4_backend_cfg *x = &a->backends[i];
		const struct l4_backend_cfg *y = l4_backend_find(b, &x->addr, x->family);

		if (!y || x->weight != y->weight || x->drain != y->drain || x->down != y->down)
			return false;
	}
	return true;
}

static int find_rt(struct l4 *l4, uint32_t vip_id, const struct l4_backend_cfg *cfg)
{
	for (uint32_t id = 0; id < l4->m->max_backends; id++) {
		struct l4_be_rt *rt = &l4->be[id];

		if (rt->used && rt->vip_id == vip_id && rt->cfg.family == cfg->family &&
		    !memcmp(&rt->cfg.addr, &cfg->addr, 16))
			return (int)id;
	}
	return -1;
}

static int sync_backends(struct l4 *l4, const struct l4_service_cfg *s, uint32_t vip_id,
			 bool publish, struct gwd_err *err)
{
	char lbl[160];
	int ret;

	/* At start the tables are rebuilt from the backends (a crash may have come between a
	 * backend write and its table); the build is deterministic, so flows see no change. */
	/* Backends that left: out of the table, then cleared (their flows move on). */
	for (uint32_t id = 0; id < l4->m->max_backends; id++) {
		struct l4_be_rt *rt = &l4->be[id];

		if (!rt->used || rt->vip_id != vip_id ||
		    l4_backend_find(s, &rt->cfg.addr, rt->cfg.family))
			continue;
		ret = lbmap_backend_del(l4->m, id);
		if (ret && ret != -ENOENT)
			return gwd_err_set(err, 500, "%s: cannot remove: %s",
					   be_label(rt, lbl, sizeof(lbl)), strerror(-ret));
		memset(rt, 0, sizeof(*rt));
	}
	for (size_t i = 0; i < s->n_backends; i++) {
		const struct l4_backend_cfg *cfg = &s->backends[i];
		int idx = find_rt(l4, vip_id, cfg);
		struct l4_be_rt *rt;
		uint32_t id;

		if (idx < 0) {
			ret = lbmap_backend_alloc_id(l4->m, &id);
			if (ret)
				return gwd_err_set(err, 507,
						   "l4.services[%s].backends[%s]: no free backend id "
						   "(the datapath holds %u)",
						   s->name, cfg->key, l4->m->max_backends);
			rt = &l4->be[id];
			memset(rt, 0, sizeof(*rt));
			rt->used = true;
			rt->vip_id = vip_id;
		} else {
			id = (uint32_t)idx;
			rt = &l4->be[id];
		}
		snprintf(rt->service, sizeof(rt->service), "%s", s->name);
		rt->fwd = s->fwd;
		rt->cfg = *cfg;
		resolve_mac(l4, rt, !rt->routed);
		ret = write_backend(l4, id, rt, &publish);
		if (ret == -E2BIG)
			return gwd_err_set(err, 400,
					   "l4.services[%s]: the selection table does not fit (algo lc "
					   "takes at most %d live backends; all tables together at most "
					   "%u entries)",
					   s->name, XG_LC_MAX_BACKENDS, l4->m->sel_budget);
		if (ret)
			return gwd_err_set(err, 500, "%s: cannot write: %s",
					   be_label(rt, lbl, sizeof(lbl)), strerror(-ret));
	}
	if (publish) {
		ret = lbmap_sel_publish(l4->m, vip_id);
		if (ret)
			return gwd_err_set(err, ret == -E2BIG ? 400 : 500,
					   "l4.services[%s]: cannot build the selection table: %s",
					   s->name, ret == -E2BIG ? "over the datapath's budget"
								  : strerror(-ret));
	}
	return 0;
}

static int apply_service(struct l4 *l4, const struct l4_service_cfg *s,
			 const struct l4_service_cfg *old, struct gwd_err *err)
{
	struct xg_vip vip = { .algo = s->algo, .fwd = s->fwd, .flags = s->flags,
			      .persist_sec = s->persist_sec };
	uint32_t id;
	bool fresh = false;
	int ret;

	if (l4->started && service_same(s, old))
		return 0;
	if (lbmap_vip_find(l4->m, s->name, &id)) {
		ret = lbmap_vip_alloc_id(l4->m, &id);
		if (ret)
			return gwd_err_set(err, 507, "l4.services[%s]: no free service id (the "
						     "datapath holds %u)",
					   s->name, l4->m->max_vips);
		fresh = true;
	}
	ret = lbmap_vip_set(l4->m, id, s->name, &s->key, &vip);
	if (ret == -EEXIST)
		return gwd_err_set(err, 409, "l4.services[%s].vip: %s is used by another service "
					     "in the datapath",
				   s->name, s->vip);
	if (ret)
		return gwd_err_set(err, 500, "l4.services[%s]: cannot write the service: %s",
				   s->name, strerror(-ret));
	if (fresh)
		log_info("l4.services[%s]: service id %u for %s", s->name, id, s->vip);
	return sync_backends(l4, s, id, !l4->started || !old || old->algo != s->algo, err);
}

/*
 * The order in which n's services can be written: the datapath holds one service per VIP, so a
 * service that takes a VIP another service of n still holds goes after that one moved to its
 * new VIP (the document may list them in any order). order[] gets indexes into n->services.
 * VIPs swapped between services (a cycle) have no such order: refused here, before anything
 * changed.
 */
static int service_order(struct l4 *l4, const struct l4_compiled *n, size_t *order,
			 struct gwd_err *err)
{
	size_t ns = n->n_services, placed = 0, i, j;
	struct xg_vip_key *cur = NULL;
	bool *moving = NULL, *done = NULL, conflict = false;
	struct xg_vip_info info;
	uint32_t id;
	int ret = 0;

	for (i = 0; i < ns; i++) {
		order[i] = i;
		/* Held by a service of another name: only then is the order worth working out. */
		if (!lbmap_vip_find_key(l4->m, &n->services[i].key, &id) &&
		    !lbmap_vip_get(l4->m, id, &info) &&
		    strncmp(info.name, n->services[i].name, XG_NAME_LEN))
			conflict = true;
	}
	if (!conflict)
		return 0;
	cur = calloc(ns + 1, sizeof(*cur));
	moving = calloc(ns + 1, sizeof(*moving));
	done = calloc(ns + 1, sizeof(*done));
	if (!cur || !moving || !done) {
		ret = gwd_err_set(err, 500, "l4: out of memory");
		goto out;
	}
	for (i = 0; i < ns; i++)
		if (!lbmap_vip_find(l4->m, n->services[i].name, &id) &&
		    !lbmap_vip_get(l4->m, id, &info) &&
		    memcmp(&info.key, &n->services[i].key, sizeof(info.key))) {
			cur[i] = info.key;
			moving[i] = true;
		}
	while (placed < ns) {
		bool progress = false;

		for (i = 0; i < ns; i++) {
			if (done[i])
				continue;
			for (j = 0; j < ns; j++)
				if (j != i && moving[j] && !done[j] &&
				    !memcmp(&cur[j], &n->services[i].key, sizeof(cur[j])))
					break;
			if (j < ns)
				continue;	/* j still holds i's VIP */
			done[i] = true;
			order[placed++] = i;
			progress = true;
		}
		if (progress)
			continue;
		for (i = 0; done[i]; i++)
			;
		for (j = 0; j == i || !moving[j] || done[j] ||
			    memcmp(&cur[j], &n->services[i].key, sizeof(cur[j]));
		     j++)
			;
		ret = gwd_err_set(err, 409,
				  "l4.services[%s].vip: %s is still the VIP of service %s, which "
				  "moves to %s in the same change: VIPs can not be swapped between "
				  "services in one change (move one of them to a free VIP first)",
				  n->services[i].name, n->services[i].vip, n->services[j].name,
				  n->services[j].vip);
		break;
	}
out:
	free(cur);
	free(moving);
	free(done);
	return ret;
}

static int apply_services(struct l4 *l4, const struct l4_compiled *n, const struct l4_compiled *o,
			  const size_t *order, struct gwd_err *err)
{
	struct xg_vip_info info;
	int ret;

	/* Services that left (or, at start, that the maps hold and the document does not). */
	for (uint32_t id = 0; id < l4->m->max_vips; id++) {
		if (lbmap_vip_get(l4->m, id, &info) || !info.in_use)
			continue;
		info.name[XG_NAME_LEN - 1] = '\0';
		if (l4_service_find(n, info.name))
			continue;
		ret = lbmap_vip_del(l4->m, id);
		if (ret && ret != -ENOENT)
			return gwd_err_set(err, 500, "l4.services[%s]: cannot remove: %s", info.name,
					   strerror(-ret));
		for (uint32_t b = 0; b < l4->m->max_backends; b++)
			if (l4->be[b].used && l4->be[b].vip_id == id)
				memset(&l4->be[b], 0, sizeof(l4->be[b]));
		log_info("l4.services[%s]: removed", info.name);
	}
	for (size_t k = 0; k < n->n_services; k++) {
		const struct l4_service_cfg *s = &n->services[order[k]];

		ret = apply_service(l4, s, l4_service_find(o, s->name), err);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- module callbacks ---- */

static int l4_load(struct l4 *l4, struct gwd_err *err);

static bool link_exists(const char *name, void *ctx)
{
	struct l4 *l4 = ctx;
	struct nlw_link nl;

	return l4->nl ? nlw_link(l4->nl, name, &nl) == 0 : if_nametoindex(name) != 0;
}

static void *l4_mod_compile(void *priv, const json_t *sec, const json_t *doc, struct gwd_err *err)
{
	struct l4 *l4 = priv;
	struct l4_limits lim = {
		.max_vips = l4->m ? l4->m->max_vips : XG_MAX_VIPS,
		.max_backends = l4->m ? l4->m->max_backends : XG_MAX_BACKENDS,
		.link_exists = link_exists,
		.ctx = l4,
		.running = l4->running,
		.lenient_links = !l4->started,
	};

	struct l4_compiled *c = l4_compile(sec, &lim, err);
	size_t *order;

	if (!c || !l4->m)
		return c;
	/* A swap of VIPs between services is refused here, as the change's error (409). */
	order = calloc(c->n_services + 1, sizeof(*order));
	if (!order || service_order(l4, c, order, err)) {
		if (!order)
			gwd_err_set(err, 500, "l4: out of memory");
		free(order);
		l4_compiled_free(c);
		return NULL;
	}
	free(order);
	return c;
}

static int count_link(const struct lb_link_info *info, void *ctx)
{
	(*(unsigned *)ctx)++;
	return 0;
}

/*
 * A datapath pinned by an earlier run and no configuration at all (no state file, no config
 * file) is almost surely a wrong --state-dir: applying the empty document would detach every
 * link and delete every service. Refuses that; an operator who wants it empty says so with
 * `gwctl apply --replace` or removes the pins.
 */
static int refuse_empty_over_pinned(struct l4 *l4, struct gwd_err *err)
{
	struct xg_vip_info info;
	unsigned services = 0, links = 0;

	for (uint32_t id = 0; id < l4->m->max_vips; id++)
		services += lbmap_vip_get(l4->m, id, &info) == 0 && info.in_use;
	lb_links_foreach(l4->gwd->opts.bpffs, XG_PIN_LINKS_DIR, count_link, &links);
	if (!services && !links)
		return 0;
	return gwd_err_set(err, 409,
			   "the datapath pinned in %s has %u service%s and %u link%s, but there is "
			   "no state file in %s and no config file: refusing to start from an "
			   "empty configuration, which would detach and clear it. Start gwd with "
			   "the --state-dir (or --config) of the run that made it, or remove %s to "
			   "start afresh",
			   l4->gwd->opts.bpffs, services, services == 1 ? "" : "s", links,
			   links == 1 ? "" : "s", l4->gwd->opts.state_dir,
			   l4->gwd->opts.bpffs);
}

static int l4_mod_apply(void *priv, const void *compiled, const void *old, struct gwd_err *err)
{
	struct l4 *l4 = priv;
	const struct l4_compiled *n = compiled, *o = l4->started ? old : NULL;
	size_t *order;
	int ret;

	if (!l4->started && l4->lb && l4->gwd->empty_start && !n->n_links && !n->n_services) {
		ret = refuse_empty_over_pinned(l4, err);
		if (ret)
			return ret;
	}

	if (!l4->lb) {
		if (!n->n_links && !n->n_services) {
			l4->running = n;
			l4->started = true;
			return 0;
		}
		ret = l4_load(l4, err);
		if (ret)
			return ret;
		o = NULL; /* first time on this datapath: reconcile everything */
	}
	order = calloc(n->n_services + 1, sizeof(*order));
	if (!order)
		return gwd_err_set(err, 500, "l4: out of memory");
	/* Compile refused swaps; the order is worked out again from the maps as they are. */
	ret = service_order(l4, n, order, err);
	if (ret) {
		free(order);
		return ret;
	}
	ret = apply_settings(l4, n, o, err);
	if (!ret)
		ret = apply_links(l4, n, o, err);
	if (!ret)
		ret = apply_services(l4, n, o, order, err);
	free(order);
	/* Even on error: what was applied is what runs now; the rollback diffs against it. */
	l4->running = n;
	l4->started = true;
	return ret;
}

static void l4_mod_free(void *compiled)
{
	l4_compiled_free(compiled);
}

/*
 * After netlink events: re-reads links (MTU, MAC, addresses, re-created interfaces), next hops
 * (route events: lookups again; neighbour events: MACs of the known next hops) and, on retry,
 * probes the neighbours still unresolved.
 */
static void refresh(struct l4 *l4, unsigned events, bool retry)
{
	struct gwd_err err = { 0 };
	bool *publish_vip;

	if (!l4->running || !l4->m)
		return;
	if (events & (NLW_LINK | NLW_ADDR)) {
		for (size_t i = 0; i < l4->running->n_links; i++) {
			const struct l4_link_cfg *cfg = &l4->running->links[i];
			struct l4_link_rt *lr = link_rt(l4, cfg->name);
			int before = lr ? lr->ifindex : 0;

			if (!lr)
				continue;
			if (link_sync(l4, cfg, lr) == 0 && lr->ifindex != before) {
				log_info("l4.links[%s]: interface (re)appeared as ifindex %d: "
					 "attaching",
					 cfg->name, lr->ifindex);
				if (attach_link(l4, cfg, true, &err))
					log_error("%s", err.msg);
			}
		}
	}
	if (!(events & (NLW_NEIGH | NLW_ROUTE)) && !retry)
		return;
	publish_vip = calloc(l4->m->max_vips, sizeof(*publish_vip));
	if (!publish_vip)
		return;
	for (uint32_t id = 0; id < l4->m->max_backends; id++) {
		struct l4_be_rt *rt = &l4->be[id];
		bool publish = false;

		if (!rt->used || (!(events & (NLW_NEIGH | NLW_ROUTE)) && !rt->unresolved))
			continue;
		resolve_mac(l4, rt, (events & NLW_ROUTE) || (retry && rt->unresolved));
		if (write_backend(l4, id, rt, &publish))
			log_warn("backend id %u: cannot update its entry", id);
		if (publish && rt->vip_id < l4->m->max_vips)
			publish_vip[rt->vip_id] = true;
	}
	for (uint32_t v = 0; v < l4->m->max_vips; v++)
		if (publish_vip[v] && lbmap_sel_publish(l4->m, v))
			log_warn("service id %u: cannot rebuild its selection table", v);
	free(publish_vip);
}

static void on_netlink(void *ctx, unsigned events)
{
	struct l4 *l4 = ctx;

	l4->nl_events |= events;
}

static bool any_lc(const struct l4_compiled *c)
{
	for (size_t i = 0; c && i < c->n_services; i++)
		if (c->services[i].algo == XG_ALGO_LC)
			return true;
	return false;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
	struct l4 *l4 = H2O_STRUCT_FROM_MEMBER(struct l4, tick_entry, entry);
	uint64_t now = now_ms();
	bool retry = now - l4->last_retry_ms >= L4_RETRY_MS;
	unsigned ev = l4->nl_events;

	l4->nl_events = 0;
	if (ev || retry)
		refresh(l4, ev, retry);
	if (retry)
		l4->last_retry_ms = now;
	if (l4->m && l4->running && any_lc(l4->running) &&
	    now - l4->last_resync_ms >= l4->running->settings.lc_resync_ms) {
		int ret = lbmap_lc_resync(l4->m);

		if (ret)
			log_warn("lc resync: %s", strerror(-ret));
		l4->last_resync_ms = now;
	}
	h2o_timeout_link((h2o_evloop_t *)l4->gwd->loop, &l4->tick, &l4->tick_entry);
}

static void l4_mod_fini(void *priv);

/* Takes over the backend entries an earlier run left in the maps: ids, MACs, flags. */
static void adopt(struct l4 *l4)
{
	struct xg_vip_info info;
	struct xg_backend b;
	unsigned n = 0;

	for (uint32_t id = 0; id < l4->m->max_backends; id++) {
		struct l4_be_rt *rt = &l4->be[id];

		if (lbmap_backend_get(l4->m, id, &b) || !(b.flags & XG_BE_F_IN_USE))
			continue;
		if (lbmap_vip_get(l4->m, b.vip_id, &info))
			continue;
		rt->used = true;
		rt->vip_id = b.vip_id;
		snprintf(rt->service, sizeof(rt->service), "%.*s", XG_NAME_LEN - 1, info.name);
		rt->fwd = info.vip.fwd;
		rt->cfg.addr = b.addr;
		rt->cfg.family = b.family;
		rt->cfg.weight = b.weight;
		addr_fmt(&b.addr, b.family, rt->cfg.key);
		rt->has_mac = b.mac[0] | b.mac[1] | b.mac[2] | b.mac[3] | b.mac[4] | b.mac[5];
		memcpy(rt->mac, b.mac, 6);
		rt->hc_down = b.flags & XG_BE_F_HC_FAIL;
		rt->written = b;
		n++;
	}
	if (n)
		log_info("adopted %u backends from the pinned maps in %s", n, l4->gwd->opts.bpffs);
}

/*
 * Loads the datapath (or adopts the one pinned by an earlier run): done at start when maps are
 * pinned, else at the first apply that has links or services, so a gateway-only gwd never
 * loads the XDP balancer.
 */
static int l4_load(struct l4 *l4, struct gwd_err *err)
{
	struct lb_opts o = { .bpffs_dir = l4->gwd->opts.bpffs,
			     .debug = log_get_level() >= LOG_LVL_DEBUG };

	if (l4->lb)
		return 0;
	l4->lb = lb_load(&o);
	if (!l4->lb)
		return gwd_err_set(err, 500,
				   "cannot load the XDP balancer with its maps in %s: %s (with "
				   "--log-level debug gwd prints libbpf's and the verifier's log)",
				   l4->gwd->opts.bpffs, strerror(errno));
	l4->m = lb_maps(l4->lb);
	l4->be = calloc(l4->m->max_backends, sizeof(*l4->be));
	if (!l4->be) {
		lb_unload(l4->lb);
		l4->lb = NULL;
		l4->m = NULL;
		return gwd_err_set(err, 500, "out of memory");
	}
	adopt(l4);
	log_info("XDP balancer loaded (maps in %s: %u services, %u backends at most)",
		 l4->gwd->opts.bpffs, l4->m->max_vips, l4->m->max_backends);
	return 0;
}

static int l4_mod_init(struct gwd *gwd, void **priv, struct gwd_err *err)
{
	char msg[256], pin[PATH_MAX];
	struct l4 *l4 = calloc(1, sizeof(*l4));

	if (!l4)
		return gwd_err_set(err, 500, "out of memory");
	l4->gwd = gwd;
	snprintf(pin, sizeof(pin), "%s/%s", gwd->opts.bpffs ? gwd->opts.bpffs : "",
		 lbmap_names[LBMAP_VIPS]);
	if (gwd->opts.bpffs && access(pin, F_OK) == 0 && l4_load(l4, err)) {
		free(l4);
		return -EINVAL;
	}
	if (gwd->loop) {
		l4->nl = nlw_open(gwd->loop, on_netlink, l4, msg, sizeof(msg));
		if (!l4->nl) {
			l4_mod_fini(l4);
			return gwd_err_set(err, 500, "%s", msg);
		}
		h2o_timeout_init((h2o_evloop_t *)gwd->loop, &l4->tick, L4_TICK_MS);
		l4->tick_entry.cb = on_tick;
		h2o_timeout_link((h2o_evloop_t *)gwd->loop, &l4->tick, &l4->tick_entry);
		l4->last_resync_ms = l4->last_retry_ms = now_ms();
	}
	*priv = l4;
	return 0;
}

static void l4_mod_fini(void *priv)
{
	struct l4 *l4 = priv;

	if (!l4)
		return;
	if (l4->gwd->loop && l4->tick_entry.cb) {
		h2o_timeout_unlink(&l4->tick_entry);
		h2o_timeout_dispose((h2o_evloop_t *)l4->gwd->loop, &l4->tick);
	}
	nlw_close(l4->nl);
	/* Pinned maps and links stay: traffic keeps flowing while gwd is away. */
	if (l4->lb)
		lb_unload(l4->lb);
	free(l4->be);
	free(l4);
}

int l4_backend_set_health(void *priv, const char *service, const struct xg_addr *addr,
			  uint8_t family, bool down)
{
	struct l4 *l4 = priv;
	bool publish = false;
	int ret;

	for (uint32_t id = 0; l4->m && id < l4->m->max_backends; id++) {
		struct l4_be_rt *rt = &l4->be[id];

		if (!rt->used || strcmp(rt->service, service) || rt->cfg.family != family ||
		    memcmp(&rt->cfg.addr, addr, 16))
			continue;
		rt->hc_down = down;
		ret = write_backend(l4, id, rt, &publish);
		if (!ret && publish)
			ret = lbmap_sel_publish(l4->m, rt->vip_id);
		return ret;
	}
	return -ENOENT;
}

int l4_backend_lookup(void *priv, const char *service, const struct xg_addr *addr,
		      uint8_t family, uint32_t *id, struct lbmap **m)
{
	struct l4 *l4 = priv;

	for (uint32_t i = 0; l4->m && i < l4->m->max_backends; i++) {
		struct l4_be_rt *rt = &l4->be[i];

		if (rt->used && !strcmp(rt->service, service) && rt->cfg.family == family &&
		    !memcmp(&rt->cfg.addr, addr, 16)) {
			*id = i;
			*m = l4->m;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- admin routes ---- */

static int not_loaded(struct admin_req *r)
{
	return admin_reply_error(r, 409, "the L4 balancer is not loaded (no l4 links or services)");
}

static int route_stats_reset(void *priv, struct admin_req *r)
{
	struct l4 *l4 = priv;
	int ret;

	if (!l4->m)
		return not_loaded(r);
	ret = lbmap_stats_reset(l4->m);

	if (ret)
		return admin_reply_error(r, 500, "cannot reset the counters: %s", strerror(-ret));
	log_info("counters reset by %s", r->who);
	return admin_reply_json(r, 200, NULL);
}

static int route_ct_flush(void *priv, struct admin_req *r)
{
	struct l4 *l4 = priv;
	uint32_t vip_id = XG_VIP_NONE;
	uint64_t ct = 0, persist = 0;
	json_t *body = r->body_len ? admin_body_json(r) : json_object(), *svc, *v;
	const char *name, *k;
	int ret;

	if (!body)
		return 0;
	/* Anything but {"service": NAME} or {} is refused: read as "no service", it would
	 * forget every flow of every service. */
	if (!json_is_object(body)) {
		json_decref(body);
		return admin_reply_error(r, 400, "conntrack flush: the body must be {\"service\": "
					 "NAME}, {} or empty");
	}
	json_object_foreach (body, k, v) {
		if (strcmp(k, "service")) {
			admin_reply_error(r, 400, "conntrack flush: unknown field \"%.64s\" "
				      "(expected \"service\")", k);
			json_decref(body);
			return 0;
		}
	}
	svc = json_object_get(body, "service");
	if (svc && !json_is_string(svc)) {
		json_decref(body);
		return admin_reply_error(r, 400, "conntrack flush: \"service\" must be a service "
					 "name");
	}
	if (!l4->m) {
		json_decref(body);
		return not_loaded(r);
	}
	name = json_string_value(svc);
	if (name && lbmap_vip_find(l4->m, name, &vip_id)) {
		admin_reply_error(r, 404, "service '%s' not found", name);
		json_decref(body);
		return 0;
	}
	ret = lbmap_ct_flush(l4->m, vip_id, &ct);
	if (!ret)
		ret = lbmap_persist_flush(l4->m, vip_id, &persist);
	if (ret) {
		json_decref(body);
		return admin_reply_error(r, 500, "cannot flush the connection table: %s",
					 strerror(-ret));
	}
	log_info("connection table flushed by %s%s%s: %" PRIu64 " flows, %" PRIu64
		 " persistence entries",
		 r->who, name ? " for service " : "", name ? name : "", ct, persist);
	json_decref(body);
	return admin_reply_json(r, 200, json_pack("{s:I, s:I}", "flushed", (json_int_t)ct,
						  "persist_flushed", (json_int_t)persist));
}

static const struct admin_route l4_routes[] = {
	{ "POST", "/v1/l4/stats/reset", route_stats_reset },
	{ "POST", "/v1/l4/conntrack/flush", route_ct_flush },
	{ .path = NULL },
};

static const struct gwd_collection l4_collections[] = {
	{ .path = "/l4/links", .key = "name", .what = "link", .normalise = doc_norm_ifname },
	{ .path = "/l4/services", .key = "name", .what = "service", .normalise = doc_norm_name },
	{ .path = "/l4/services/{service}/backends", .key = "addr", .what = "backend",
	  .normalise = doc_norm_addr },
	{ .path = NULL },
};

/* ---- status and metrics ---- */

static void l4_mod_status(void *priv, json_t *out)
{
	struct l4 *l4 = priv;
	json_t *links = json_array(), *unresolved = json_array();
	unsigned nbe = 0;

	json_object_set_new(out, "loaded", json_boolean(l4->m != NULL));
	if (!l4->m) {
		json_decref(links);
		json_decref(unresolved);
		return;
	}

	for (size_t i = 0; l4->running && i < l4->running->n_links; i++) {
		const struct l4_link_cfg *cfg = &l4->running->links[i];
		struct l4_link_rt *lr = link_rt(l4, cfg->name);

		json_array_append_new(links, json_pack("{s:s, s:i, s:s}", "name", cfg->name,
						       "ifindex", lr ? lr->ifindex : 0, "mode",
						       l4_mode_names[cfg->mode]));
	}
	for (uint32_t id = 0; id < l4->m->max_backends; id++) {
		char lbl[160];

		if (!l4->be[id].used)
			continue;
		nbe++;
		if (l4->be[id].unresolved)
			json_array_append_new(unresolved,
					      json_string(be_label(&l4->be[id], lbl, sizeof(lbl))));
	}
	json_object_set_new(out, "links", links);
	json_object_set_new(out, "services",
			    json_integer(l4->running ? (json_int_t)l4->running->n_services : 0));
	json_object_set_new(out, "backends", json_integer(nbe));
	json_object_set_new(out, "unresolved_backends", unresolved);
	json_object_set_new(out, "max_vips", json_integer(l4->m->max_vips));
	json_object_set_new(out, "max_backends", json_integer(l4->m->max_backends));
}

/* One metric family: HELP and TYPE, then all its samples (the text format wants them grouped). */
static void metric_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_services(struct l4 *l4, FILE *f)
{
	static const char *const fam[][2] = {
		{ "xdpgw_l4_service_packets_total", "Packets forwarded per service." },
		{ "xdpgw_l4_service_bytes_total", "Bytes forwarded per service." },
		{ "xdpgw_l4_service_new_flows_total", "New flows per service." },
	};
	struct xg_flow_stats *fs = calloc(l4->m->max_vips, sizeof(*fs));
	char (*names)[XG_NAME_LEN] = calloc(l4->m->max_vips, XG_NAME_LEN);
	struct xg_vip_info info;

	if (!fs || !names)
		goto out;
	for (uint32_t id = 0; id < l4->m->max_vips; id++) {
		if (lbmap_vip_get(l4->m, id, &info) || !info.in_use ||
		    lbmap_stats_vip(l4->m, id, &fs[id]))
			continue;
		snprintf(names[id], XG_NAME_LEN, "%.*s", XG_NAME_LEN - 1, info.name);
	}
	for (int k = 0; k < 3; k++) {
		metric_family(f, fam[k][0], "counter", fam[k][1]);
		for (uint32_t id = 0; id < l4->m->max_vips; id++)
			if (names[id][0])
				fprintf(f, "%s{service=\"%s\"} %llu\n", fam[k][0], names[id],
					(unsigned long long)(k == 0   ? fs[id].packets
							     : k == 1 ? fs[id].bytes
								      : fs[id].new_flows));
	}
out:
	free(fs);
	free(names);
}

static void metrics_backends(struct l4 *l4, FILE *f)
{
	static const char *const fam[][3] = {
		{ "xdpgw_l4_backend_packets_total", "counter", "Packets forwarded per backend." },
		{ "xdpgw_l4_backend_new_flows_total", "counter", "New flows per backend." },
		{ "xdpgw_l4_backend_active_flows", "gauge",
		  "Active flows per backend (datapath count)." },
		{ "xdpgw_l4_backend_up", "gauge", "1 when the backend takes new flows." },
	};
	struct xg_flow_stats *fs = calloc(l4->m->max_backends, sizeof(*fs));
	int64_t *active = calloc(l4->m->max_backends, sizeof(*active));
	bool *ok = calloc(l4->m->max_backends, sizeof(*ok));
	unsigned unresolved = 0;

	if (!fs || !active || !ok)
		goto out;
	for (uint32_t id = 0; id < l4->m->max_backends; id++) {
		if (!l4->be[id].used)
			continue;
		unresolved += l4->be[id].unresolved;
		ok[id] = lbmap_stats_backend(l4->m, id, &fs[id]) == 0;
		lbmap_backend_active(l4->m, id, &active[id]);
	}
	for (int k = 0; k < 4; k++) {
		metric_family(f, fam[k][0], fam[k][1], fam[k][2]);
		for (uint32_t id = 0; id < l4->m->max_backends; id++) {
			const struct l4_be_rt *rt = &l4->be[id];
			long long v = k == 0   ? (long long)fs[id].packets
				      : k == 1 ? (long long)fs[id].new_flows
				      : k == 2 ? (long long)active[id]
					       : be_live(&rt->written);

			if (ok[id])
				fprintf(f, "%s{service=\"%s\",backend=\"%s\"} %lld\n", fam[k][0],
					rt->service, rt->cfg.key, v);
		}
	}
	metric_family(f, "xdpgw_l4_backends_unresolved", "gauge",
		      "Backends without a next-hop MAC.");
	fprintf(f, "xdpgw_l4_backends_unresolved %u\n", unresolved);
out:
	free(fs);
	free(active);
	free(ok);
}

static void l4_mod_metrics(void *priv, FILE *f)
{
	struct l4 *l4 = priv;
	static const char *const kinds[] = { "tx", "pass", "drop", "info" };
	struct xg_counter reasons[XG_R_MAX];

	if (!l4->m)
		return;
	if (lbmap_stats_reasons(l4->m, reasons) == 0) {
		metric_family(f, "xdpgw_l4_packets_total", "counter",
			      "Packets seen by the XDP balancer by reason.");
		for (int i = 0; i < XG_R_MAX; i++)
			fprintf(f, "xdpgw_l4_packets_total{reason=\"%s\",kind=\"%s\"} %llu\n",
				lbmap_reason_names[i], kinds[lbmap_reason_kinds[i] & 3],
				(unsigned long long)reasons[i].packets);
		metric_family(f, "xdpgw_l4_bytes_total", "counter",
			      "Bytes seen by the XDP balancer by reason.");
		for (int i = 0; i < XG_R_MAX; i++)
			fprintf(f, "xdpgw_l4_bytes_total{reason=\"%s\",kind=\"%s\"} %llu\n",
				lbmap_reason_names[i], kinds[lbmap_reason_kinds[i] & 3],
				(unsigned long long)reasons[i].bytes);
	}
	metrics_services(l4, f);
	metrics_backends(l4, f);
}

const struct gwd_module l4_module = {
	.name = "l4",
	.section = "l4",
	.init = l4_mod_init,
	.fini = l4_mod_fini,
	.compile = l4_mod_compile,
	.apply = l4_mod_apply,
	.free = l4_mod_free,
	.collections = l4_collections,
	.routes = l4_routes,
	.canonicalise = l4_canonicalise,
	.status = l4_mod_status,
	.metrics = l4_mod_metrics,
};
