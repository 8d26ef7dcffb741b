// SPDX-License-Identifier: GPL-2.0
/*
 * Compiles the `check` objects of the l4 section into one check per backend: the service's
 * check with the backend's override merged over it, every field validated, errors naming the
 * path and the cause. The rest of the section was validated by the L4 module's compile.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwd/cfg.h"
#include "gwd/health.h"
#include "gwd/l4.h"

#define PATH_LEN 400

static const char *const check_fields[] = { "type", "port", "interval", "timeout", "rise", "fall",
					    "encap", "method", "path", "host", "status", "body",
					    NULL };
/* Fields that only an http check reads. */
static const char *const http_fields[] = { "method", "path", "host", "status", "body", NULL };
static const char *const type_names[] = { "none", "tcp", "http", NULL };

void health_compiled_free(struct health_compiled *c)
{
	if (!c)
		return;
	free(c->targets);
	free(c);
}

/* What a check needs to know about its service. */
struct svc_info {
	const char *name;
	struct endpoint vip;
	uint8_t fwd;
};

static bool token_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max)
		return false;
	for (; *s; s++)
		if (!isupper((unsigned char)*s))
			return false;
	return true;
}

/* Printable ASCII without spaces: what can go on a request line or in a Host header. */
static bool visible_ok(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f)
			return false;
	return true;
}

static int compile_http(const json_t *o, const char *path, struct hc_check *c, struct gwd_err *err)
{
	const char *method, *p, *host, *status, *body;
	char cause[200];

	if (cfg_str(o, path, "method", "GET", &method, err) ||
	    cfg_str(o, path, "path", "/", &p, err) || cfg_str(o, path, "host", "", &host, err) ||
	    cfg_str(o, path, "status", "200-399", &status, err) ||
	    cfg_str(o, path, "body", "", &body, err))
		return -EINVAL;
	if (!token_ok(method, sizeof(c->method)))
		return gwd_err_set(err, 400,
				   "%s.method: invalid method '%s' (expected an upper-case token such "
				   "as GET or HEAD)",
				   path, method);
	if (p[0] != '/' || strlen(p) >= sizeof(c->path) || !visible_ok(p))
		return gwd_err_set(err, 400,
				   "%s.path: invalid path '%s' (expected /..., at most %zu printable "
				   "characters without spaces)",
				   path, p, sizeof(c->path) - 1);
	if (strlen(host) >= sizeof(c->host) || !visible_ok(host))
		return gwd_err_set(err, 400, "%s.host: invalid host '%s'", path, host);
	if (hc_status_parse(status, &c->status, cause, sizeof(cause)))
		return gwd_err_set(err, 400, "%s.status: %s", path, cause);
	if (strlen(body) >= sizeof(c->body))
		return gwd_err_set(err, 400, "%s.body: at most %zu bytes", path,
				   sizeof(c->body) - 1);
	if (body[0] && strcmp(method, "HEAD") == 0)
		return gwd_err_set(err, 400, "%s.body: a HEAD response has no body to search", path);
	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->path, sizeof(c->path), "%s", p);
	snprintf(c->host, sizeof(c->host), "%s", host);
	snprintf(c->body, sizeof(c->body), "%s", body);
	return 0;
}

/* Validates check object o (the merged check of a backend, or a service's own) into c. */
static int compile_check(const json_t *o, const char *path, const struct svc_info *svc,
			 struct hc_check *c, struct gwd_err *err)
{
	char a[32], b[32];
	uint64_t interval, timeout;
	uint32_t port;
	int type;

	memset(c, 0, sizeof(*c));
	if (cfg_fields(o, path, check_fields, err) ||
	    cfg_enum(o, path, "type", type_names, HC_TYPE_TCP, &type, err) ||
	    cfg_u32(o, path, "port", 1, 65535, svc->vip.port, &port, err) ||
	    cfg_duration_ms(o, path, "interval", HC_MIN_INTERVAL_MS, HC_MAX_INTERVAL_MS,
			    HC_DEFAULT_INTERVAL_MS, &interval, err) ||
	    cfg_duration_ms(o, path, "timeout", HC_MIN_TIMEOUT_MS, HC_MAX_INTERVAL_MS,
			    interval < HC_DEFAULT_TIMEOUT_MS ? interval : HC_DEFAULT_TIMEOUT_MS,
			    &timeout, err) ||
	    cfg_u32(o, path, "rise", 1, HC_MAX_THRESHOLD, HC_DEFAULT_RISE, &c->rise, err) ||
	    cfg_u32(o, path, "fall", 1, HC_MAX_THRESHOLD, HC_DEFAULT_FALL, &c->fall, err) ||
	    cfg_bool(o, path, "encap", false, &c->encap, err))
		return -EINVAL;
	c->type = (uint8_t)type;
	if (timeout > interval)
		return gwd_err_set(err, 400, "%s.timeout: %s is longer than the interval (%s)", path,
				   cfg_fmt_duration(timeout, a, sizeof(a)),
				   cfg_fmt_duration(interval, b, sizeof(b)));
	if (port == 0 && type != HC_TYPE_NONE)
		return gwd_err_set(err, 400,
				   "%s.port: required, service '%s' takes every port of its "
				   "address",
				   path, svc->name);
	if (c->encap && svc->fwd != XG_FWD_IPIP)
		return gwd_err_set(err, 400,
				   "%s.encap: needs fwd ipip (service '%s' forwards with %s)", path,
				   svc->name, l4_fwd_names[svc->fwd]);
	if (type != HC_TYPE_HTTP) {
		for (size_t i = 0; http_fields[i]; i++)
			if (json_object_get(o, http_fields[i]))
				return gwd_err_set(err, 400, "%s.%s: only http checks have it (type "
							     "is %s)",
						   path, http_fields[i], type_names[type]);
	}
	memset(&c->status, 0, sizeof(c->status));
	if (type == HC_TYPE_HTTP && compile_http(o, path, c, err))
		return -EINVAL;
	c->port = (uint16_t)port;
	c->interval_ms = (uint32_t)interval;
	c->timeout_ms = (uint32_t)timeout;
	return 0;
}

/* A service's check, null when absent. */
static const json_t *check_of(const json_t *obj)
{
	const json_t *v = json_object_get(obj, "check");

	return json_is_null(v) ? NULL : v;
}

/*
 * The check a backend runs: the service's with the backend's override merged over it. When the
 * override makes it a non-http check, the http fields it inherits are dropped (the service's
 * http settings do not apply to it); its own are still refused.
 */
static json_t *merged_check(const json_t *svc_check, const json_t *be_check)
{
	json_t *m = svc_check ? json_deep_copy(svc_check) : json_object();
	const char *type;

	if (!m)
		return NULL;
	if (!be_check)
		return m;
	type = json_string_value(json_object_get(be_check, "type"));
	if (type && strcmp(type, "http") != 0)
		for (size_t i = 0; http_fields[i]; i++)
			json_object_del(m, http_fields[i]);
	json_object_update(m, (json_t *)be_check);
	return m;
}

static int compile_service(const json_t *s, size_t index, struct health_compiled *c,
			   struct gwd_err *err)
{
	const json_t *svc_check = check_of(s), *bes = json_object_get(s, "backends"), *be;
	const char *fwd = json_string_value(json_object_get(s, "fwd"));
	char spath[PATH_LEN], bpath[PATH_LEN], cause[160];
	struct svc_info svc = { 0 };
	struct hc_check base = { 0 };
	size_t i;

	svc.name = json_string_value(json_object_get(s, "name"));
	if (!svc.name)
		return gwd_err_set(err, 400, "l4.services[%zu].name: required field is missing",
				   index);
	snprintf(spath, sizeof(spath), "l4.services[%s].check", svc.name);
	if (endpoint_parse(json_string_value(json_object_get(s, "vip")) ?: "", &svc.vip, cause,
			   sizeof(cause)))
		return gwd_err_set(err, 400, "l4.services[%s].vip: %s", svc.name, cause);
	svc.fwd = fwd && strcmp(fwd, "l2") == 0 ? XG_FWD_L2 : XG_FWD_IPIP;
	if (svc_check && compile_check(svc_check, spath, &svc, &base, err))
		return -EINVAL;
	json_array_foreach ((json_t *)bes, i, be) {
		struct hc_target *t = &c->targets[c->n];
		const char *addr = json_string_value(json_object_get(be, "addr"));
		const json_t *be_check = check_of(be);

		memset(t, 0, sizeof(*t));
		if (!addr || addr_parse(addr, &t->addr, &t->family))
			return gwd_err_set(err, 400, "l4.services[%s].backends[%zu].addr: invalid",
					   svc.name, i);
		addr_fmt(&t->addr, t->family, t->backend);
		snprintf(t->service, sizeof(t->service), "%s", svc.name);
		t->fwd = svc.fwd;
		t->vip = svc.vip;
		if (be_check) {
			json_t *m = merged_check(svc_check, be_check);
			int ret;

			if (!m)
				return gwd_err_set(err, 500, "out of memory");
			snprintf(bpath, sizeof(bpath), "l4.services[%s].backends[%s].check",
				 svc.name, t->backend);
			/* The override alone first, so its own unknown fields are named. */
			ret = cfg_fields(be_check, bpath, check_fields, err);
			if (!ret)
				ret = compile_check(m, bpath, &svc, &t->check, err);
			json_decref(m);
			if (ret)
				return -EINVAL;
		} else if (svc_check) {
			t->check = base;
		}
		c->n++;
	}
	return 0;
}

struct health_compiled *health_compile(const json_t *l4, struct gwd_err *err)
{
	const json_t *svcs = json_object_get(l4, "services"), *s;
	struct health_compiled *c = calloc(1, sizeof(*c));
	size_t i, total = 0;

	if (!c) {
		gwd_err_set(err, 500, "out of memory");
		return NULL;
	}
	json_array_foreach ((json_t *)svcs, i, s)
		total += json_array_size(json_object_get(s, "backends"));
	c->targets = calloc(total + 1, sizeof(*c->targets));
	if (!c->targets) {
		gwd_err_set(err, 500, "out of memory");
		goto fail;
	}
	json_array_foreach ((json_t *)svcs, i, s)
		if (compile_service(s, i, c, err))
			goto fail;
	return c;
fail:
	health_compiled_free(c);
	return NULL;
}
