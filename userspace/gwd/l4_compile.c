// SPDX-License-Identifier: GPL-2.0
/* Compiles the l4 section: every field checked, errors naming the path and the cause. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwd/cfg.h"
#include "gwd/doc.h"
#include "gwd/l4.h"
#include "lib/log.h"

const char *const l4_algo_names[] = { "maglev", "sh", "rr", "lc", NULL };
const char *const l4_fwd_names[] = { "ipip", "l2", NULL };
const char *const l4_mode_names[] = { "native", "generic", NULL };

#define PATH_LEN 320

static const char *const l4_fields[] = { "settings", "links", "services", NULL };
static const char *const settings_fields[] = { "conntrack_timeout_tcp", "conntrack_timeout_udp",
					       "new_flow_rate", "hash_seed", "lc_resync_interval",
					       NULL };
static const char *const link_fields[] = { "name", "mode", "src4", "src6", NULL };
/* "check" belongs to the health module (health_compile.c). */
static const char *const service_fields[] = { "name", "vip", "algo", "fwd", "persist",
					      "backends", "check", NULL };
static const char *const backend_fields[] = { "addr", "weight", "drain", "down", "check", NULL };

void l4_compiled_free(struct l4_compiled *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_services; i++)
		free(c->services[i].backends);
	free(c->services);
	free(c->links);
	free(c);
}

const struct l4_service_cfg *l4_service_find(const struct l4_compiled *c, const char *name)
{
	for (size_t i = 0; c && i < c->n_services; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return &c->services[i];
	return NULL;
}

const struct l4_backend_cfg *l4_backend_find(const struct l4_service_cfg *s,
					     const struct xg_addr *addr, uint8_t family)
{
	for (size_t i = 0; s && i < s->n_backends; i++)
		if (s->backends[i].family == family && !memcmp(&s->backends[i].addr, addr, 16))
			return &s->backends[i];
	return NULL;
}

const struct l4_link_cfg *l4_link_find(const struct l4_compiled *c, const char *name)
{
	for (size_t i = 0; c && i < c->n_links; i++)
		if (strcmp(c->links[i].name, name) == 0)
			return &c->links[i];
	return NULL;
}

/* "PARENT[KEY]" where KEY is the element's key field in canonical form when it parses,
 * else as written, else the index. */
static void elem_path(char *out, const char *parent, const json_t *elem, const char *keyfield,
		      int (*norm)(const char *, char *, size_t), size_t index)
{
	const char *raw = json_string_value(json_object_get(elem, keyfield));
	char buf[DOC_KEY_LEN];

	if (raw && norm && norm(raw, buf, sizeof(buf)) == 0)
		snprintf(out, PATH_LEN, "%s[%s]", parent, buf);
	else if (raw)
		snprintf(out, PATH_LEN, "%s[%s]", parent, raw);
	else
		snprintf(out, PATH_LEN, "%s[%zu]", parent, index);
}

static int compile_settings(const json_t *sec, struct l4_settings_cfg *s, struct gwd_err *err)
{
	const json_t *v = json_object_get(sec, "settings");
	const char *p = "l4.settings";

	s->ct_timeout_tcp_ms = L4_CT_TIMEOUT_TCP_MS;
	s->ct_timeout_udp_ms = L4_CT_TIMEOUT_UDP_MS;
	s->lc_resync_ms = 5000;
	if (!v)
		return 0;
	if (cfg_fields(v, p, settings_fields, err) ||
	    cfg_duration_ms(v, p, "conntrack_timeout_tcp", 1000, 24 * 3600 * 1000ull,
			    s->ct_timeout_tcp_ms, &s->ct_timeout_tcp_ms, err) ||
	    cfg_duration_ms(v, p, "conntrack_timeout_udp", 1000, 24 * 3600 * 1000ull,
			    s->ct_timeout_udp_ms, &s->ct_timeout_udp_ms, err) ||
	    cfg_u32(v, p, "new_flow_rate", 0, 100000000, 0, &s->new_flow_rate, err) ||
	    cfg_u32(v, p, "hash_seed", 0, UINT32_MAX, 0, &s->hash_seed, err) ||
	    cfg_duration_ms(v, p, "lc_resync_interval", 100, 3600 * 1000ull, s->lc_resync_ms,
			    &s->lc_resync_ms, err))
		return -EINVAL;
	return 0;
}

static int parse_src(const json_t *obj, const char *path, const char *field, uint8_t want,
		     struct xg_addr *out, bool *has, struct gwd_err *err)
{
	const char *s;
	uint8_t fam;

	if (cfg_str(obj, path, field, NULL, &s, err))
		return -EINVAL;
	*has = s != NULL;
	if (s && (addr_parse(s, out, &fam) || fam != want))
		return gwd_err_set(err, 400, "%s.%s: invalid IPv%d address '%s'", path, field,
				   want == XG_AF_INET ? 4 : 6, s);
	return 0;
}

static bool link_was_running(const struct l4_limits *lim, const char *name)
{
	return lim->lenient_links || l4_link_find(lim->running, name);
}

static int compile_links(const json_t *sec, const struct l4_limits *lim, struct l4_compiled *c,
			 struct gwd_err *err)
{
	const json_t *arr, *e;
	char path[PATH_LEN];
	size_t i;

	if (cfg_array(sec, "l4", "links", &arr, err))
		return -EINVAL;
	if (json_array_size(arr) > XG_MAX_LINKS)
		return gwd_err_set(err, 400, "l4.links: at most %d links, got %zu", XG_MAX_LINKS,
				   json_array_size(arr));
	c->links = calloc(json_array_size(arr) + 1, sizeof(*c->links));
	if (!c->links)
		return gwd_err_set(err, 500, "out of memory");
	json_array_foreach ((json_t *)arr, i, e) {
		struct l4_link_cfg *l = &c->links[c->n_links];
		const char *name;
		int mode;

		elem_path(path, "l4.links", e, "name", doc_norm_ifname, i);
		if (cfg_fields(e, path, link_fields, err) ||
		    cfg_str_req(e, path, "name", &name, err))
			return -EINVAL;
		if (doc_norm_ifname(name, l->name, sizeof(l->name)))
			return gwd_err_set(err, 400, "%s.name: invalid interface name '%s'", path,
					   name);
		if (l4_link_find(c, l->name))
			return gwd_err_set(err, 400, "%s: listed twice", path);
		if (cfg_enum(e, path, "mode", l4_mode_names, L4_MODE_NATIVE, &mode, err) ||
		    parse_src(e, path, "src4", XG_AF_INET, &l->src4, &l->has_src4, err) ||
		    parse_src(e, path, "src6", XG_AF_INET6, &l->src6, &l->has_src6, err))
			return -EINVAL;
		l->mode = mode;
		if (lim->link_exists && !lim->link_exists(l->name, lim->ctx)) {
			if (!link_was_running(lim, l->name))
				return gwd_err_set(err, 400, "%s: no such interface", path);
			log_warn("%s: interface %s does not exist (now); kept in the configuration",
				 path, l->name);
		}
		c->n_links++;
	}
	return 0;
}

static int compile_backend(const json_t *e, const char *path, const struct l4_service_cfg *s,
			   struct l4_backend_cfg *b, struct gwd_err *err)
{
	const char *addr;
	uint32_t w;

	if (cfg_fields(e, path, backend_fields, err) || cfg_str_req(e, path, "addr", &addr, err))
		return -EINVAL;
	if (addr_parse(addr, &b->addr, &b->family))
		return gwd_err_set(err, 400, "%s.addr: invalid address '%s'", path, addr);
	addr_fmt(&b->addr, b->family, b->key);
	if (l4_backend_find(s, &b->addr, b->family))
		return gwd_err_set(err, 400, "%s: listed twice", path);
	if (cfg_u32(e, path, "weight", 0, 65535, L4_DEFAULT_WEIGHT, &w, err) ||
	    cfg_bool(e, path, "drain", false, &b->drain, err) ||
	    cfg_bool(e, path, "down", false, &b->down, err))
		return -EINVAL;
	b->weight = (uint16_t)w;
	if (s->fwd == XG_FWD_L2 && b->family != s->key.family)
		return gwd_err_set(err, 400,
				   "%s: an IPv%d backend can not serve an IPv%d service with fwd "
				   "l2 (use fwd ipip)",
				   path, b->family, s->key.family);
	return 0;
}

static int compile_vip(const json_t *e, const char *path, struct l4_service_cfg *s,
		       struct gwd_err *err)
{
	char cause[160];
	struct endpoint ep;
	const char *vip;

	if (cfg_str_req(e, path, "vip", &vip, err))
		return -EINVAL;
	if (endpoint_parse(vip, &ep, cause, sizeof(cause)))
		return gwd_err_set(err, 400, "%s.vip: %s", path, cause);
	s->key.addr = ep.addr;
	s->key.family = ep.family;
	s->key.proto = ep.proto;
	s->key.port = htons(ep.port);
	endpoint_fmt(&ep, s->vip);
	return 0;
}

static int compile_service(const json_t *e, const char *path, struct l4_compiled *c,
			   struct l4_service_cfg *s, struct gwd_err *err)
{
	const json_t *bes, *be;
	const char *name;
	char bpath[PATH_LEN], parent[PATH_LEN];
	uint64_t persist;
	int algo, fwd;
	size_t i;

	if (cfg_fields(e, path, service_fields, err) || cfg_str_req(e, path, "name", &name, err))
		return -EINVAL;
	if (!doc_name_valid(name))
		return gwd_err_set(err, 400,
				   "%s.name: invalid name '%s' (1-31 letters, digits, '-', '_', "
				   "'.', starting with a letter or digit)",
				   path, name);
	if (l4_service_find(c, name))
		return gwd_err_set(err, 400, "%s: listed twice", path);
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (compile_vip(e, path, s, err) ||
	    cfg_enum(e, path, "algo", l4_algo_names, XG_ALGO_MAGLEV, &algo, err) ||
	    cfg_enum(e, path, "fwd", l4_fwd_names, XG_FWD_IPIP, &fwd, err) ||
	    cfg_duration_ms(e, path, "persist", 0, L4_MAX_PERSIST_MS, 0, &persist, err) ||
	    cfg_array(e, path, "backends", &bes, err))
		return -EINVAL;
	s->algo = (uint8_t)algo;
	s->fwd = (uint8_t)fwd;
	s->persist_sec = (uint32_t)((persist + 999) / 1000);
	for (i = 0; i < c->n_services; i++)
		if (!memcmp(&c->services[i].key, &s->key, sizeof(s->key)))
			return gwd_err_set(err, 400, "%s.vip: %s is already used by service '%s'",
					   path, s->vip, c->services[i].name);
	s->backends = calloc(json_array_size(bes) + 1, sizeof(*s->backends));
	if (!s->backends)
		return gwd_err_set(err, 500, "out of memory");
	snprintf(parent, sizeof(parent), "%.300s.backends", path);
	json_array_foreach ((json_t *)bes, i, be) {
		elem_path(bpath, parent, be, "addr", doc_norm_addr, i);
		if (compile_backend(be, bpath, s, &s->backends[s->n_backends], err))
			return -EINVAL;
		s->n_backends++;
	}
	if (s->algo == XG_ALGO_LC && s->n_backends > XG_LC_MAX_BACKENDS)
		return gwd_err_set(err, 400, "%s.backends: algo lc balances at most %d backends, got "
				   "%zu", path, XG_LC_MAX_BACKENDS, s->n_backends);
	return 0;
}

static int compile_services(const json_t *sec, const struct l4_limits *lim, struct l4_compiled *c,
			    struct gwd_err *err)
{
	const json_t *arr, *e;
	char path[PATH_LEN];
	size_t i, total = 0;

	if (cfg_array(sec, "l4", "services", &arr, err))
		return -EINVAL;
	if (lim->max_vips && json_array_size(arr) > lim->max_vips)
		return gwd_err_set(err, 400, "l4.services: at most %u services, got %zu",
				   lim->max_vips, json_array_size(arr));
	c->services = calloc(json_array_size(arr) + 1, sizeof(*c->services));
	if (!c->services)
		return gwd_err_set(err, 500, "out of memory");
	json_array_foreach ((json_t *)arr, i, e) {
		struct l4_service_cfg *s = &c->services[c->n_services];

		elem_path(path, "l4.services", e, "name", NULL, i);
		if (compile_service(e, path, c, s, err)) {
			free(s->backends);
			s->backends = NULL;
			return -EINVAL;
		}
		c->n_services++;
		total += s->n_backends;
	}
	if (lim->max_backends && total > lim->max_backends)
		return gwd_err_set(err, 400,
				   "l4.services: %zu backends over all services, the balancer holds "
				   "at most %u",
				   total, lim->max_backends);
	return 0;
}

static void canonical_string(json_t *obj, const char *field, bool endpoint)
{
	const char *v = json_string_value(json_object_get(obj, field));
	char buf[ADDR_STRLEN + 16], cause[160];
	struct endpoint ep;
	struct xg_addr a;
	uint8_t fam;

	if (!v)
		return;
	if (endpoint && endpoint_parse(v, &ep, cause, sizeof(cause)) == 0)
		endpoint_fmt(&ep, buf);
	else if (!endpoint && addr_parse(v, &a, &fam) == 0)
		addr_fmt(&a, fam, buf);
	else
		return;
	if (strcmp(v, buf))
		json_object_set_new(obj, field, json_string(buf));
}

void l4_canonicalise(json_t *sec)
{
	json_t *svc, *be;
	size_t i, j;

	json_array_foreach (json_object_get(sec, "services"), i, svc) {
		if (!json_is_object(svc))
			continue;
		canonical_string(svc, "vip", true);
		json_array_foreach (json_object_get(svc, "backends"), j, be)
			if (json_is_object(be))
				canonical_string(be, "addr", false);
	}
}

struct l4_compiled *l4_compile(const json_t *sec, const struct l4_limits *lim,
			       struct gwd_err *err)
{
	struct l4_compiled *c = calloc(1, sizeof(*c));

	if (!c) {
		gwd_err_set(err, 500, "out of memory");
		return NULL;
	}
	if (sec && cfg_fields(sec, "l4", l4_fields, err))
		goto fail;
	if (compile_settings(sec, &c->settings, err) || compile_links(sec, lim, c, err) ||
	    compile_services(sec, lim, c, err))
		goto fail;
	return c;
fail:
	l4_compiled_free(c);
	return NULL;
}
