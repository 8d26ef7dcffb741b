// SPDX-License-Identifier: GPL-2.0
/*
 * The gateway as a gwd module: the `gateway` section compiles into a gw_config; apply starts,
 * swaps or stops the gateway server. The gateway runs while its section has at least one
 * listener and `enabled` is not false, independently of the L4 role. Registers the upstreams,
 * targets, routes and consumers collections of the admin API and the gateway's metrics.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/policies/cache_store.h"
#include "gwd/admin.h"
#include "gwd/module.h"
#include "lib/log.h"

struct gw_mod {
	struct gw_server *srv;
};

/* A compiled section: cfg NULL means "gateway off". */
struct gw_compiled {
	struct gw_config *cfg;
};

static int mod_init(struct gwd *gwd, void **priv, struct gwd_err *err)
{
	struct gw_mod *m = calloc(1, sizeof(*m));

	if (!m)
		return gwd_err_set(err, 500, "gateway: out of memory");
	*priv = m;
	return 0;
}

static void mod_fini(void *priv)
{
	struct gw_mod *m = priv;

	gw_server_stop(m->srv);
	free(m);
}

static void *mod_compile(void *priv, const json_t *section, const json_t *doc,
			 struct gwd_err *err)
{
	struct gw_compiled *c = calloc(1, sizeof(*c));
	char msg[GWD_ERR_LEN];

	if (!c) {
		gwd_err_set(err, 500, "gateway: out of memory");
		return NULL;
	}
	if (!section)
		return c;
	if (json_object_get(section, "enabled") && !json_is_boolean(json_object_get(section, "enabled"))) {
		gwd_err_set(err, 400, "gateway.enabled: must be true or false");
		free(c);
		return NULL;
	}
	c->cfg = gw_config_compile(section, msg, sizeof(msg));
	if (!c->cfg) {
		gwd_err_set(err, 400, "%s", msg);
		free(c);
		return NULL;
	}
	if (json_is_false(json_object_get(section, "enabled")) || !c->cfg->nlisteners) {
		gw_config_put(c->cfg);
		c->cfg = NULL;
	}
	return c;
}

static int mod_apply(void *priv, const void *compiled, const void *old, struct gwd_err *err)
{
	struct gw_mod *m = priv;
	const struct gw_compiled *c = compiled;
	char msg[GWD_ERR_LEN];

	if (!c->cfg) {
		if (m->srv) {
			gw_server_stop(m->srv);
			m->srv = NULL;
			log_info("gateway: stopped");
		}
		return 0;
	}
	if (!m->srv) {
		m->srv = gw_server_start(c->cfg, msg, sizeof(msg));
		if (!m->srv)
			return gwd_err_set(err, 500, "%s", msg);
		log_info("gateway: started with %u workers, %zu listeners, %zu routes",
			 c->cfg->workers, c->cfg->nlisteners, c->cfg->nroutes);
		return 0;
	}
	if (gw_server_apply(m->srv, c->cfg, msg, sizeof(msg)))
		return gwd_err_set(err, 500, "%s", msg);
	return 0;
}

static void mod_free(void *compiled)
{
	struct gw_compiled *c = compiled;

	if (!c)
		return;
	gw_config_put(c->cfg);
	free(c);
}

static int norm_target(const char *in, char *out, size_t outlen)
{
	struct sockaddr_storage sa;
	socklen_t sl;
	char canon[GW_ADDRLEN], err[128];

	if (gw_parse_hostport(in, &sa, &sl, canon, err, sizeof(err)))
		return -EINVAL;
	snprintf(out, outlen, "%s", canon);
	return 0;
}

static void mod_status(void *priv, json_t *out)
{
	struct gw_mod *m = priv;

	json_object_set_new(out, "running", json_boolean(m->srv != NULL));
	if (m->srv)
		json_object_set_new(out, "targets", gw_server_upstream_status(m->srv));
}

static void mod_metrics(void *priv, FILE *out)
{
	struct gw_mod *m = priv;

	fprintf(out, "# HELP xdpgw_gateway_up 1 while the gateway serves.\n"
		     "# TYPE xdpgw_gateway_up gauge\nxdpgw_gateway_up %d\n", m->srv ? 1 : 0);
	if (m->srv)
		gw_server_metrics(m->srv, out);
}

/* ---- the response cache (policies/cache.c): show and purge ---- */

static void cache_entry_json(const char *route, const struct cache_stats *st, void *arg)
{
	json_array_append_new(arg, json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
					     "route", route, "entries", (json_int_t)st->entries,
					     "bytes", (json_int_t)st->bytes, "max_bytes",
					     (json_int_t)st->max_bytes, "hits", (json_int_t)st->hits,
					     "misses", (json_int_t)st->misses, "stale",
					     (json_int_t)st->stale, "evictions",
					     (json_int_t)st->evictions, "stored", (json_int_t)st->stored,
					     "purged", (json_int_t)st->purged, "coalesced",
					     (json_int_t)st->coalesced, "bypass", (json_int_t)st->bypass));
}

static int api_cache_show(void *priv, struct admin_req *r)
{
	json_t *arr = json_array();

	cache_foreach(cache_entry_json, arr);
	return admin_reply_json(r, 200, arr);
}

/* POST {"route": NAME, "path": "/exact" | "/prefix*" (optional)} -> {"purged": N} */
static int api_cache_purge(void *priv, struct admin_req *r)
{
	json_t *body = admin_body_json(r), *route, *path;
	long n;

	if (!body)
		return 0;
	route = json_object_get(body, "route");
	path = json_object_get(body, "path");
	if (!json_is_string(route) || (path && !json_is_null(path) && !json_is_string(path)) ||
	    (json_is_string(path) && json_string_value(path)[0] != '/')) {
		json_decref(body);
		return admin_reply_error(r, 400, "cache purge: expected {\"route\": NAME, "
					 "\"path\": \"/PATH\" or \"/PREFIX*\"}");
	}
	n = cache_purge(json_string_value(route), json_string_value(path));
	if (n < 0)
		admin_reply_error(r, 404, "cache purge: route %s has no cache",
				  json_string_value(route));
	else
		admin_reply_json(r, 200, json_pack("{s:I}", "purged", (json_int_t)n));
	if (n >= 0)
		log_info("gateway: cache of route %s purged%s%s: %ld entries",
			 json_string_value(route), path ? " for " : "",
			 json_is_string(path) ? json_string_value(path) : "", n);
	json_decref(body);
	return 0;
}

static const struct admin_route gw_routes[] = {
	{ .method = "GET", .path = "/v1/gateway/cache", .handle = api_cache_show },
	{ .method = "POST", .path = "/v1/gateway/cache/purge", .handle = api_cache_purge },
	{ .path = NULL },
};

static const struct gwd_collection gw_collections[] = {
	{ .path = "/gateway/upstreams", .key = "name", .what = "upstream" },
	{ .path = "/gateway/upstreams/{upstream}/targets", .key = "addr", .what = "target",
	  .normalise = norm_target },
	{ .path = "/gateway/routes", .key = "name", .what = "route" },
	{ .path = "/gateway/consumers", .key = "id", .what = "consumer" },
	{ .path = NULL },
};

const struct gwd_module gateway_module = {
	.name = "gateway",
	.section = "gateway",
	.init = mod_init,
	.fini = mod_fini,
	.compile = mod_compile,
	.apply = mod_apply,
	.free = mod_free,
	.collections = gw_collections,
	.routes = gw_routes,
	.status = mod_status,
	.metrics = mod_metrics,
};
