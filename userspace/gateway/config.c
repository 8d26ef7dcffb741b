// SPDX-License-Identifier: GPL-2.0
/* Compiles the `gateway` section (JSON) into an immutable gw_config, with errors naming the path. */
/* Paths and names in messages are bounded on purpose; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/aggregate.h"
#include "gateway/gw.h"

#define NAME_MAX_LEN 127

struct cctx {
	char *err;
	size_t errlen;
	const json_t *section;
	const struct gw_consumers *consumers;
};

__attribute__((format(printf, 2, 3))) static int fail(struct cctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Rejects fields the schema does not know (a typo must not be silently ignored). */
static int check_fields(struct cctx *c, const char *path, const json_t *obj, const char *const *known)
{
	return gw_json_check_fields(obj, path, known, c->err, c->errlen);
}

static int get_u32(struct cctx *c, const char *path, const json_t *obj, const char *key,
		   uint32_t min, uint32_t max, uint32_t def, uint32_t *out)
{
	json_t *v = json_object_get(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return fail(c, "%s.%s: must be an integer", path, key);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(c, "%s.%s: %lld is out of range %u-%u", path, key,
			    (long long)json_integer_value(v), min, max);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int get_u64(struct cctx *c, const char *path, const json_t *obj, const char *key,
		   uint64_t min, uint64_t max, uint64_t def, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return fail(c, "%s.%s: must be a non-negative integer", path, key);
	if ((uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max)
		return fail(c, "%s.%s: %lld is out of range %llu-%llu", path, key,
			    (long long)json_integer_value(v), (unsigned long long)min,
			    (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_bool(struct cctx *c, const char *path, const json_t *obj, const char *key, bool def,
		    bool *out)
{
	json_t *v = json_object_get(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(c, "%s.%s: must be true or false", path, key);
	*out = json_is_true(v);
	return 0;
}

/* A string field; *out is NULL when absent (and not required). Returns a strdup'ed copy. */
static int get_str(struct cctx *c, const char *path, const json_t *obj, const char *key,
		   bool required, char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v) {
		if (required)
			return fail(c, "%s: missing field \"%s\"", path, key);
		return 0;
	}
	if (!json_is_string(v))
		return fail(c, "%s.%s: must be a string", path, key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

int gw_parse_hostport(const char *s, struct sockaddr_storage *sa, socklen_t *salen, char *canon,
		      char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2], buf[INET6_ADDRSTRLEN];
	const char *colon, *port_s;
	char *end;
	unsigned long port;
	size_t hl;

	memset(sa, 0, sizeof(*sa));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':') {
			snprintf(err, errlen, "\"%s\" is not ADDR:PORT or [V6ADDR]:PORT", s);
			return -EINVAL;
		}
		hl = rb - s - 1;
		port_s = rb + 2;
		if (hl >= sizeof(host))
			goto bad_addr;
		memcpy(host, s + 1, hl);
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon) {
			snprintf(err, errlen, "\"%s\" is not ADDR:PORT or [V6ADDR]:PORT", s);
			return -EINVAL;
		}
		hl = colon - s;
		port_s = colon + 1;
		if (hl >= sizeof(host))
			goto bad_addr;
		memcpy(host, s, hl);
	}
	host[hl] = 0;
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (!*port_s || *end || errno || port == 0 || port > 65535) {
		snprintf(err, errlen, "\"%s\": port must be 1-65535", s);
		return -EINVAL;
	}
	if (s[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad_addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*salen = sizeof(*sin);
		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
		snprintf(canon, GW_ADDRLEN, "%s:%lu", buf, port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad_addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*salen = sizeof(*sin6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
		snprintf(canon, GW_ADDRLEN, "[%s]:%lu", buf, port);
	}
	return 0;
bad_addr:
	snprintf(err, errlen, "\"%s\": not a numeric IPv4 or [IPv6] address (names are not resolved)",
		 s);
	return -EINVAL;
}

/* ---- listeners ---- */

static int check_cert(struct cctx *c, const char *path, const struct gw_cert *cert)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int ret = 0;

	if (!ctx)
		return fail(c, "%s: cannot create a TLS context", path);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert->cert_path) != 1)
		ret = fail(c, "%s.cert: cannot load certificate \"%s\": %s", path, cert->cert_path,
			   ERR_reason_error_string(ERR_peek_last_error()));
	else if (SSL_CTX_use_PrivateKey_file(ctx, cert->key_path, SSL_FILETYPE_PEM) != 1)
		ret = fail(c, "%s.key: cannot load private key \"%s\": %s", path, cert->key_path,
			   ERR_reason_error_string(ERR_peek_last_error()));
	else if (SSL_CTX_check_private_key(ctx) != 1)
		ret = fail(c, "%s.key: does not match the certificate", path);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return ret;
}

static int compile_tls(struct cctx *c, const char *lpath, const json_t *tls,
		       struct gw_listener_cfg *l)
{
	static const char *const tls_fields[] = { "certificates", NULL };
	static const char *const cert_fields[] = { "cert", "key", "sni", NULL };
	char path[256], cpath[300];
	json_t *certs, *cj;
	size_t i;
	int ret;

	snprintf(path, sizeof(path), "%s.tls", lpath);
	if ((ret = check_fields(c, path, tls, tls_fields)))
		return ret;
	certs = json_object_get(tls, "certificates");
	if (!json_is_array(certs) || json_array_size(certs) == 0)
		return fail(c, "%s.certificates: must be a non-empty list", path);
	l->certs = calloc(json_array_size(certs), sizeof(*l->certs));
	if (!l->certs)
		return -ENOMEM;
	json_array_foreach(certs, i, cj) {
		struct gw_cert *cert = &l->certs[i];
		json_t *sni, *n;
		size_t j;

		snprintf(cpath, sizeof(cpath), "%s.certificates[%zu]", path, i);
		l->ncerts = i + 1;
		if ((ret = check_fields(c, cpath, cj, cert_fields)) ||
		    (ret = get_str(c, cpath, cj, "cert", true, &cert->cert_path)) ||
		    (ret = get_str(c, cpath, cj, "key", true, &cert->key_path)))
			return ret;
		sni = json_object_get(cj, "sni");
		if (sni && !json_is_array(sni))
			return fail(c, "%s.sni: must be a list of names", cpath);
		cert->names = calloc(json_array_size(sni) + 1, sizeof(char *));
		if (!cert->names)
			return -ENOMEM;
		json_array_foreach(sni, j, n) {
			if (!json_is_string(n) || !json_string_length(n))
				return fail(c, "%s.sni[%zu]: must be a host name", cpath, j);
			cert->names[j] = strdup(json_string_value(n));
			cert->nnames = j + 1;
			for (char *p = cert->names[j]; *p; p++)
				*p = tolower((unsigned char)*p);
		}
		if ((ret = check_cert(c, cpath, cert)))
			return ret;
	}
	return 0;
}

static int compile_listeners(struct cctx *c, struct gw_config *cfg, const json_t *arr)
{
	static const char *const fields[] = { "addr", "tls", "http2", NULL };
	char path[128], msg[200];
	json_t *lj;
	size_t i, j;
	int ret;

	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return fail(c, "gateway.listeners: must be a list");
	cfg->listeners = calloc(json_array_size(arr) + 1, sizeof(*cfg->listeners));
	if (!cfg->listeners)
		return -ENOMEM;
	json_array_foreach(arr, i, lj) {
		struct gw_listener_cfg *l = &cfg->listeners[i];
		json_t *addr = json_object_get(lj, "addr"), *tls;

		snprintf(path, sizeof(path), "gateway.listeners[%zu]", i);
		if (json_is_string(addr))
			snprintf(path, sizeof(path), "gateway.listeners[%s]", json_string_value(addr));
		if ((ret = check_fields(c, path, lj, fields)))
			return ret;
		if (!json_is_string(addr))
			return fail(c, "%s: missing field \"addr\"", path);
		if (gw_parse_hostport(json_string_value(addr), &l->sa, &l->salen, l->addr, msg,
				      sizeof(msg)))
			return fail(c, "%s.addr: %s", path, msg);
		cfg->nlisteners = i + 1;
		for (j = 0; j < i; j++)
			if (!strcmp(cfg->listeners[j].addr, l->addr))
				return fail(c, "%s: duplicate listener", path);
		if ((ret = get_bool(c, path, lj, "http2", false, &l->http2)))
			return ret;
		tls = json_object_get(lj, "tls");
		if (tls) {
			l->tls = true;
			if ((ret = compile_tls(c, path, tls, l)))
				return ret;
		}
		if (l->http2 && !l->tls)
			return fail(c, "%s.http2: needs tls (HTTP/2 is offered through ALPN only)",
				    path);
	}
	return 0;
}

static int compile_limits(struct cctx *c, struct gw_limits *lim, const json_t *lj)
{
	static const char *const fields[] = { "max_body_bytes", "max_header_bytes", "max_headers",
		"max_connections", "idle_timeout_ms", "write_timeout_ms", "tls_handshake_timeout_ms",
		"upstream_connect_timeout_ms", "upstream_response_timeout_ms", "drain_timeout_ms",
		NULL };
	const char *p = "gateway.limits";
	json_t *empty = json_object();
	int ret;

	if (!lj)
		lj = empty;
	if ((ret = check_fields(c, p, lj, fields)) ||
	    (ret = get_u64(c, p, lj, "max_body_bytes", 0, 1ULL << 32, 1 << 20, &lim->max_body_bytes)) ||
	    (ret = get_u32(c, p, lj, "max_header_bytes", 256, 65536, 16384, &lim->max_header_bytes)) ||
	    (ret = get_u32(c, p, lj, "max_headers", 1, 99, 64, &lim->max_headers)) ||
	    (ret = get_u32(c, p, lj, "max_connections", 1, 1000000, 8192,
			   &lim->max_connections)) ||
	    (ret = get_u32(c, p, lj, "idle_timeout_ms", 100, 3600000, 60000, &lim->idle_timeout_ms)) ||
	    (ret = get_u32(c, p, lj, "write_timeout_ms", 100, 3600000, 60000, &lim->write_timeout_ms)) ||
	    (ret = get_u32(c, p, lj, "tls_handshake_timeout_ms", 100, 600000, 10000,
			   &lim->tls_handshake_timeout_ms)) ||
	    (ret = get_u32(c, p, lj, "upstream_connect_timeout_ms", 10, 600000, 5000,
			   &lim->connect_timeout_ms)) ||
	    (ret = get_u32(c, p, lj, "upstream_response_timeout_ms", 10, 3600000, 60000,
			   &lim->response_timeout_ms)) ||
	    (ret = get_u32(c, p, lj, "drain_timeout_ms", 100, 3600000, 10000,
			   &lim->drain_timeout_ms))) {
		json_decref(empty);
		return ret;
	}
	json_decref(empty);
	return 0;
}

/* ---- upstreams ---- */

static int compile_health(struct cctx *c, const char *upath, const json_t *hj,
			  struct gw_health_cfg *hc)
{
	static const char *const fields[] = { "path", "host", "interval_ms", "timeout_ms", "healthy",
		"unhealthy", "status", NULL };
	char path[200];
	uint32_t smin = 200, smax = 399;
	json_t *st;
	int ret;

	snprintf(path, sizeof(path), "%s.health_check", upath);
	if ((ret = check_fields(c, path, hj, fields)) ||
	    (ret = get_str(c, path, hj, "path", false, &hc->path)) ||
	    (ret = get_str(c, path, hj, "host", false, &hc->host)) ||
	    (ret = get_u32(c, path, hj, "interval_ms", 50, 3600000, 2000, &hc->interval_ms)) ||
	    (ret = get_u32(c, path, hj, "timeout_ms", 10, 600000, 1000, &hc->timeout_ms)) ||
	    (ret = get_u32(c, path, hj, "healthy", 1, 100, 2, &hc->healthy)) ||
	    (ret = get_u32(c, path, hj, "unhealthy", 1, 100, 2, &hc->unhealthy)))
		return ret;
	if (!hc->path)
		hc->path = strdup("/");
	if (hc->path[0] != '/')
		return fail(c, "%s.path: must start with /", path);
	st = json_object_get(hj, "status");
	if (st) {
		if (!json_is_string(st) ||
		    sscanf(json_string_value(st), "%u-%u", &smin, &smax) != 2 || smin < 100 ||
		    smax > 599 || smin > smax)
			return fail(c, "%s.status: must be a range such as \"200-399\"", path);
	}
	hc->status_min = smin;
	hc->status_max = smax;
	hc->enabled = true;
	return 0;
}

static int compile_breaker(struct cctx *c, const char *upath, const json_t *bj,
			   struct gw_breaker_cfg *b)
{
	static const char *const fields[] = { "failures", "error_ratio", "window_ms",
		"min_requests", "open_ms", "half_open_requests", "on_5xx", NULL };
	json_t *ratio = json_object_get(bj, "error_ratio");
	char path[220];
	int ret;

	snprintf(path, sizeof(path), "%s.circuit_breaker", upath);
	if ((ret = check_fields(c, path, bj, fields)) ||
	    (ret = get_u32(c, path, bj, "failures", 0, 100000, ratio ? 0 : 5, &b->failures)) ||
	    (ret = get_u32(c, path, bj, "window_ms", 100, 3600000, 10000, &b->window_ms)) ||
	    (ret = get_u32(c, path, bj, "min_requests", 1, 1000000, 20, &b->min_requests)) ||
	    (ret = get_u32(c, path, bj, "open_ms", 100, 3600000, 10000, &b->open_ms)) ||
	    (ret = get_u32(c, path, bj, "half_open_requests", 1, 1000, 1,
			   &b->half_open_requests)) ||
	    (ret = get_bool(c, path, bj, "on_5xx", true, &b->on_5xx)))
		return ret;
	if (ratio && (!json_is_number(ratio) || json_number_value(ratio) <= 0 ||
		      json_number_value(ratio) > 1))
		return fail(c, "%s.error_ratio: must be a number above 0 and at most 1", path);
	b->error_ratio = ratio ? json_number_value(ratio) : 0;
	if (!b->failures && !b->error_ratio)
		return fail(c, "%s: needs failures or error_ratio to ever open", path);
	b->enabled = true;
	return 0;
}

static int compile_targets(struct cctx *c, const char *upath, const json_t *arr,
			   struct gw_upstream *u)
{
	static const char *const fields[] = { "addr", "weight", NULL };
	char path[300], msg[200];
	json_t *tj;
	size_t i, j;
	int ret;

	if (!arr)
		arr = json_array();
	else
		json_incref((json_t *)arr);
	if (!json_is_array(arr)) {
		json_decref((json_t *)arr);
		return fail(c, "%s.targets: must be a list", upath);
	}
	if (json_array_size(arr) > GW_MAX_TARGETS) {
		json_decref((json_t *)arr);
		return fail(c, "%s.targets: more than %d targets", upath, GW_MAX_TARGETS);
	}
	u->targets = calloc(json_array_size(arr) + 1, sizeof(*u->targets));
	ret = u->targets ? 0 : -ENOMEM;
	json_array_foreach(arr, i, tj) {
		struct gw_target *t = &u->targets[i];
		json_t *a = json_object_get(tj, "addr");

		if (ret)
			break;
		snprintf(path, sizeof(path), "%s.targets[%zu]", upath, i);
		if (!json_is_object(tj) || !json_is_string(a)) {
			ret = fail(c, "%s: must be an object with \"addr\": \"ADDR:PORT\"", path);
			break;
		}
		snprintf(path, sizeof(path), "%s.targets[%s]", upath, json_string_value(a));
		if ((ret = check_fields(c, path, tj, fields)))
			break;
		if (gw_parse_hostport(json_string_value(a), &t->sa, &t->salen, t->addr, msg,
				      sizeof(msg))) {
			ret = fail(c, "%s.addr: %s", path, msg);
			break;
		}
		u->ntargets = i + 1;
		if ((ret = get_u32(c, path, tj, "weight", 0, 65535, 100, &t->weight)))
			break;
		for (j = 0; j < i; j++)
			if (!strcmp(u->targets[j].addr, t->addr)) {
				ret = fail(c, "%s: duplicate target", path);
				break;
			}
	}
	json_decref((json_t *)arr);
	return ret;
}

/*
 * The start of gateway.LIST[i], an object with a valid "name": checks it and its fields and
 * leaves "gateway.LIST[NAME]" in path. Returns 0 or -EINVAL with the cause in c->err.
 */
static int named_entry(struct cctx *c, const char *list, size_t i, const json_t *obj,
		       const char *const *fields, char *path, size_t pathlen)
{
	const json_t *name = json_object_get(obj, "name");

	snprintf(path, pathlen, "gateway.%s[%zu]", list, i);
	if (!json_is_object(obj))
		return fail(c, "%s: must be an object", path);
	if (!json_is_string(name) || !valid_name(json_string_value(name)))
		return fail(c, "%s.name: must be 1-%d characters of A-Z a-z 0-9 . _ -", path,
			    NAME_MAX_LEN);
	snprintf(path, pathlen, "gateway.%s[%s]", list, json_string_value(name));
	return check_fields(c, path, obj, fields);
}

static int compile_upstream(struct cctx *c, struct gw_config *cfg, const json_t *uj, size_t i)
{
	static const char *const fields[] = { "name", "algorithm", "hash_on", "hash_key", "targets",
		"retries", "connect_timeout_ms", "response_timeout_ms", "keepalive", "health_check",
		"passive", "circuit_breaker", "panic_threshold", "max_conns", NULL };
	static const char *const ka_fields[] = { "max_idle", "idle_timeout_ms", NULL };
	static const char *const pass_fields[] = { "failures", "eject_ms", "on_5xx", NULL };
	struct gw_upstream *u = &cfg->upstreams[i];
	char path[200], sub[260];
	json_t *name = json_object_get(uj, "name"), *v, *empty;
	char *s = NULL;
	size_t j;
	int ret;

	if ((ret = named_entry(c, "upstreams", i, uj, fields, path, sizeof(path))))
		return ret;
	u->name = strdup(json_string_value(name));
	u->idx = i;
	for (j = 0; j < i; j++)
		if (!strcmp(cfg->upstreams[j].name, u->name))
			return fail(c, "%s: duplicate upstream name", path);
	if ((ret = get_str(c, path, uj, "algorithm", false, &s)))
		return ret;
	if (!s || !strcmp(s, "rr"))
		u->algo = GW_ALGO_RR;
	else if (!strcmp(s, "lc"))
		u->algo = GW_ALGO_LC;
	else if (!strcmp(s, "hash"))
		u->algo = GW_ALGO_HASH;
	else if (!strcmp(s, "p2c"))
		u->algo = GW_ALGO_P2C;
	else {
		fail(c, "%s.algorithm: unknown algorithm \"%s\" (rr, lc, hash, p2c)", path, s);
		free(s);
		return -EINVAL;
	}
	free(s);
	s = NULL;
	if ((ret = get_str(c, path, uj, "hash_on", false, &s)))
		return ret;
	if (!s || !strcmp(s, "ip"))
		u->hash_on = GW_HASH_IP;
	else if (!strcmp(s, "header"))
		u->hash_on = GW_HASH_HEADER;
	else if (!strcmp(s, "cookie"))
		u->hash_on = GW_HASH_COOKIE;
	else {
		fail(c, "%s.hash_on: must be ip, header or cookie, not \"%s\"", path, s);
		free(s);
		return -EINVAL;
	}
	free(s);
	if ((ret = get_str(c, path, uj, "hash_key", false, &u->hash_key)))
		return ret;
	if (u->hash_on == GW_HASH_HEADER && u->hash_key)
		for (char *p = u->hash_key; *p; p++)
			*p = tolower((unsigned char)*p);
	if (u->hash_on != GW_HASH_IP && (!u->hash_key || !*u->hash_key))
		return fail(c, "%s.hash_key: needed when hash_on is header or cookie", path);
	if (u->hash_on != GW_HASH_IP && u->algo != GW_ALGO_HASH)
		return fail(c, "%s.hash_on: only used with algorithm hash", path);
	if ((ret = compile_targets(c, path, json_object_get(uj, "targets"), u)) ||
	    (ret = get_u32(c, path, uj, "retries", 0, 10, 2, &u->retries)) ||
	    (ret = get_u32(c, path, uj, "panic_threshold", 0, 100, 50, &u->panic_threshold)) ||
	    (ret = get_u32(c, path, uj, "max_conns", 0, 1000000, GW_DEFAULT_MAX_CONNS,
			   &u->max_conns)) ||
	    (ret = get_u32(c, path, uj, "connect_timeout_ms", 10, 600000,
			   cfg->limits.connect_timeout_ms, &u->connect_timeout_ms)) ||
	    (ret = get_u32(c, path, uj, "response_timeout_ms", 10, 3600000,
			   cfg->limits.response_timeout_ms, &u->response_timeout_ms)))
		return ret;
	empty = json_object();
	v = json_object_get(uj, "keepalive");
	snprintf(sub, sizeof(sub), "%s.keepalive", path);
	if ((ret = check_fields(c, sub, v ? v : empty, ka_fields)) ||
	    (ret = get_u32(c, sub, v ? v : empty, "max_idle", 0, 10000, 64, &u->keepalive_max_idle)) ||
	    (ret = get_u32(c, sub, v ? v : empty, "idle_timeout_ms", 100, 3600000, 30000,
			   &u->keepalive_idle_ms)))
		goto out;
	v = json_object_get(uj, "passive");
	snprintf(sub, sizeof(sub), "%s.passive", path);
	if ((ret = check_fields(c, sub, v ? v : empty, pass_fields)) ||
	    (ret = get_u32(c, sub, v ? v : empty, "failures", 0, 1000, 5, &u->passive.failures)) ||
	    (ret = get_u32(c, sub, v ? v : empty, "eject_ms", 100, 3600000, 10000,
			   &u->passive.eject_ms)) ||
	    (ret = get_bool(c, sub, v ? v : empty, "on_5xx", false, &u->passive.on_5xx)))
		goto out;
	v = json_object_get(uj, "health_check");
	if (v && (ret = compile_health(c, path, v, &u->hc)))
		goto out;
	v = json_object_get(uj, "circuit_breaker");
	if (v && (ret = compile_breaker(c, path, v, &u->breaker)))
		goto out;
	ret = gw_balancer_build(u);
out:
	json_decref(empty);
	return ret;
}

/* ---- routes ---- */

static int compile_policies(struct cctx *c, const char *rpath, const json_t *arr,
			    struct gw_route *r)
{
	struct gw_policy_env env = { c->section, r->name, c->consumers, 0 };
	char path[300], perr[300];
	json_t *pj;
	size_t i;

	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return fail(c, "%s.policies: must be a list", rpath);
	r->policies = calloc(json_array_size(arr) + 1, sizeof(*r->policies));
	if (!r->policies)
		return -ENOMEM;
	json_array_foreach(arr, i, pj) {
		json_t *name = json_object_get(pj, "name"), *conf;
		const struct gw_policy_ops *ops;

		snprintf(path, sizeof(path), "%s.policies[%zu]", rpath, i);
		if (!json_is_object(pj) || !json_is_string(name))
			return fail(c, "%s: must be an object with a \"name\"", path);
		ops = gw_policy_find(json_string_value(name));
		if (!ops)
			return fail(c, "%s.name: unknown policy \"%s\"", path, json_string_value(name));
		conf = json_deep_copy(pj);
		json_object_del(conf, "name");
		perr[0] = 0;
		env.index = i;
		r->policies[i].inst = ops->compile(conf, &env, perr, sizeof(perr));
		json_decref(conf);
		if (!r->policies[i].inst)
			return fail(c, "%s%s%s", path,
				    perr[0] == '.' || perr[0] == ':' || !perr[0] ? "" : ": ",
				    perr[0] ? perr : ": invalid");
		r->policies[i].ops = ops;
		r->npolicies = i + 1;
		if (ops->flags & GW_POLICY_WANTS_BODY) {
			if (i >= 64)
				return fail(c, "%s: body policies must be among a route's first 64",
					    path);
			r->wants_body = true;
		}
	}
	return 0;
}

static bool valid_host_pattern(const char *h)
{
	if (!*h)
		return false;
	if (h[0] == '*') {
		if (h[1] != '.' || !h[2])
			return false;
		h += 2;
	}
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.' && *h != '_')
			return false;
	return true;
}

static int compile_route_match(struct cctx *c, const char *path, const json_t *rj,
			       struct gw_route *r)
{
	json_t *hosts = json_object_get(rj, "hosts"), *methods = json_object_get(rj, "methods");
	json_t *headers = json_object_get(rj, "headers"), *v;
	const char *key;
	char *match = NULL;
	size_t i;
	int ret;

	if (hosts && !json_is_array(hosts))
		return fail(c, "%s.hosts: must be a list", path);
	r->hosts = calloc(json_array_size(hosts) + 1, sizeof(char *));
	json_array_foreach(hosts, i, v) {
		if (!json_is_string(v) || !valid_host_pattern(json_string_value(v)))
			return fail(c, "%s.hosts[%zu]: must be a host name or *.suffix", path, i);
		r->hosts[i] = strdup(json_string_value(v));
		r->nhosts = i + 1;
		for (char *p = r->hosts[i]; *p; p++)
			*p = tolower((unsigned char)*p);
	}
	if ((ret = get_str(c, path, rj, "path", false, &r->path)) ||
	    (ret = get_str(c, path, rj, "path_match", false, &match)))
		return ret;
	if (!r->path)
		r->path = strdup("/");
	if (!match || !strcmp(match, "prefix"))
		r->path_kind = GW_PATH_PREFIX;
	else if (!strcmp(match, "exact"))
		r->path_kind = GW_PATH_EXACT;
	else if (!strcmp(match, "regex"))
		r->path_kind = GW_PATH_REGEX;
	else {
		fail(c, "%s.path_match: must be prefix, exact or regex, not \"%s\"", path, match);
		free(match);
		return -EINVAL;
	}
	free(match);
	r->path_len = strlen(r->path);
	if (r->path_kind == GW_PATH_REGEX) {
		char rerr[128];
		int rc = regcomp(&r->re, r->path, REG_EXTENDED | REG_NOSUB);

		if (rc) {
			regerror(rc, &r->re, rerr, sizeof(rerr));
			return fail(c, "%s.path: invalid regular expression: %s", path, rerr);
		}
		r->has_re = true;
	} else if (r->path[0] != '/') {
		return fail(c, "%s.path: must start with /", path);
	}
	if (methods && (!json_is_array(methods) || !json_array_size(methods)))
		return fail(c, "%s.methods: must be a non-empty list", path);
	r->methods = calloc(json_array_size(methods) + 1, sizeof(char *));
	json_array_foreach(methods, i, v) {
		const char *m = json_is_string(v) ? json_string_value(v) : "";

		if (!*m || strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") !=
				   strlen(m))
			return fail(c, "%s.methods[%zu]: must be an HTTP method name", path, i);
		r->methods[i] = strdup(m);
		r->nmethods = i + 1;
		for (char *p = r->methods[i]; *p; p++)
			*p = toupper((unsigned char)*p);
	}
	if (headers && !json_is_object(headers))
		return fail(c, "%s.headers: must be an object of NAME: VALUE (or true)", path);
	r->headers = calloc(json_object_size(headers) + 1, sizeof(*r->headers));
	i = 0;
	json_object_foreach(headers, key, v) {
		if (!*key || !(json_is_string(v) || json_is_true(v)))
			return fail(c, "%s.headers.%s: must be a string, or true for any value", path,
				    key);
		r->headers[i].name = strdup(key);
		for (char *p = r->headers[i].name; *p; p++)
			*p = tolower((unsigned char)*p);
		r->headers[i].value = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
		r->nheaders = ++i;
	}
	return 0;
}

/* A route of type aggregate: parts instead of an upstream (aggregate.c). */
static int compile_aggregate(struct cctx *c, struct gw_config *cfg, const char *path,
			     const json_t *rj, struct gw_route *r)
{
	static const char *const proxy_only[] = { "upstream", "strip_prefix", "rewrite_prefix",
		"preserve_host", NULL };
	json_t *aj = json_object_get(rj, "aggregate");
	char msg[300];
	int ret;

	for (const char *const *k = proxy_only; *k; k++)
		if (json_object_get(rj, *k))
			return fail(c, "%s.%s: not for routes of type aggregate (each part names its "
				    "upstream)", path, *k);
	if (!aj)
		return fail(c, "%s.aggregate: missing (the parts to call)", path);
	msg[0] = 0;
	if ((ret = gw_agg_compile(aj, cfg, &r->agg, msg, sizeof(msg))))
		return ret == -ENOMEM ? ret : fail(c, "%s.aggregate%s", path, msg);
	if ((ret = compile_policies(c, path, json_object_get(rj, "policies"), r)))
		return ret;
	if (r->wants_body)
		return fail(c, "%s.policies: body policies (transform of bodies, cache) do not apply "
			    "to aggregate routes", path);
	return 0;
}

static int compile_route(struct cctx *c, struct gw_config *cfg, const json_t *rj, size_t i)
{
	static const char *const fields[] = { "name", "hosts", "path", "path_match", "methods",
		"headers", "strip_prefix", "rewrite_prefix", "preserve_host", "upstream", "policies",
		"type", "aggregate", NULL };
	struct gw_route *r = &cfg->routes[i];
	json_t *name = json_object_get(rj, "name"), *type;
	char path[200], *up = NULL;
	size_t j;
	int ret;

	if ((ret = named_entry(c, "routes", i, rj, fields, path, sizeof(path))))
		return ret;
	r->name = strdup(json_string_value(name));
	r->idx = i;
	for (j = 0; j < i; j++)
		if (!strcmp(cfg->routes[j].name, r->name))
			return fail(c, "%s: duplicate route name", path);
	if ((ret = compile_route_match(c, path, rj, r)))
		return ret;
	type = json_object_get(rj, "type");
	if (type && (!json_is_string(type) || (strcmp(json_string_value(type), "proxy") &&
					       strcmp(json_string_value(type), "aggregate"))))
		return fail(c, "%s.type: must be proxy or aggregate", path);
	if (type && !strcmp(json_string_value(type), "aggregate"))
		return compile_aggregate(c, cfg, path, rj, r);
	if (json_object_get(rj, "aggregate"))
		return fail(c, "%s.aggregate: only for routes of type aggregate", path);
	if ((ret = get_bool(c, path, rj, "strip_prefix", false, &r->strip_prefix)) ||
	    (ret = get_str(c, path, rj, "rewrite_prefix", false, &r->rewrite_prefix)) ||
	    (ret = get_bool(c, path, rj, "preserve_host", true, &r->preserve_host)) ||
	    (ret = get_str(c, path, rj, "upstream", true, &up)))
		return ret;
	if ((r->strip_prefix || r->rewrite_prefix) && r->path_kind == GW_PATH_REGEX) {
		free(up);
		return fail(c, "%s.strip_prefix: needs a prefix or exact path, not a regex", path);
	}
	if (r->rewrite_prefix && r->rewrite_prefix[0] != '/') {
		free(up);
		return fail(c, "%s.rewrite_prefix: must start with /", path);
	}
	for (j = 0; j < cfg->nupstreams; j++)
		if (!strcmp(cfg->upstreams[j].name, up))
			r->upstream = &cfg->upstreams[j];
	if (!r->upstream) {
		fail(c, "%s.upstream: unknown upstream \"%s\"", path, up);
		free(up);
		return -EINVAL;
	}
	free(up);
	return compile_policies(c, path, json_object_get(rj, "policies"), r);
}

/* ---- the whole section ---- */

static void free_route(struct gw_route *r)
{
	size_t i;

	for (i = 0; i < r->npolicies; i++)
		if (r->policies[i].ops && r->policies[i].ops->free)
			r->policies[i].ops->free(r->policies[i].inst);
	free(r->policies);
	for (i = 0; r->hosts && i < r->nhosts; i++)
		free(r->hosts[i]);
	free(r->hosts);
	for (i = 0; r->methods && i < r->nmethods; i++)
		free(r->methods[i]);
	free(r->methods);
	for (i = 0; r->headers && i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	if (r->has_re)
		regfree(&r->re);
	gw_agg_free(r->agg);
	free(r->path);
	free(r->rewrite_prefix);
	free(r->name);
}

static void config_free(struct gw_config *cfg)
{
	size_t i, j;

	gw_router_free(&cfg->router);
	for (i = 0; cfg->routes && i < cfg->nroutes; i++)
		free_route(&cfg->routes[i]);
	free(cfg->routes);
	gw_consumers_free(cfg->consumers);	/* after the policies that read them */
	for (i = 0; cfg->upstreams && i < cfg->nupstreams; i++) {
		struct gw_upstream *u = &cfg->upstreams[i];

		gw_balancer_free(u);
		for (j = 0; u->targets && j < u->ntargets; j++)
			gw_tstate_put(u->targets[j].st);
		free(u->targets);
		free(u->name);
		free(u->hash_key);
		free(u->hc.path);
		free(u->hc.host);
	}
	free(cfg->upstreams);
	for (i = 0; cfg->listeners && i < cfg->nlisteners; i++) {
		struct gw_listener_cfg *l = &cfg->listeners[i];

		for (j = 0; l->certs && j < l->ncerts; j++) {
			for (size_t k = 0; l->certs[j].names && k < l->certs[j].nnames; k++)
				free(l->certs[j].names[k]);
			free(l->certs[j].names);
			free(l->certs[j].cert_path);
			free(l->certs[j].key_path);
		}
		free(l->certs);
	}
	free(cfg->listeners);
	free(cfg->access_log);
	json_decref(cfg->server_part);
	free(cfg);
}

struct gw_config *gw_config_get(struct gw_config *cfg)
{
	atomic_fetch_add(&cfg->refs, 1);
	return cfg;
}

void gw_config_put(struct gw_config *cfg)
{
	if (cfg && atomic_fetch_sub(&cfg->refs, 1) == 1)
		config_free(cfg);
}

int gw_config_needs_restart(const struct gw_config *old, const struct gw_config *new)
{
	return !json_equal(old->server_part, new->server_part);
}

static int compile_section(struct cctx *c, struct gw_config *cfg, const json_t *s)
{
	static const char *const fields[] = { "workers", "listeners", "limits", "access_log",
		"upstreams", "routes", "consumers", "enabled", "epoll_park", NULL };
	json_t *ups = json_object_get(s, "upstreams"), *routes = json_object_get(s, "routes"), *v;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t i;
	int ret;

	if ((ret = check_fields(c, "gateway", s, fields)))
		return ret;
	if ((ret = get_u32(c, "gateway", s, "workers", 0, GW_MAX_WORKERS, 0, &cfg->workers)))
		return ret;
	if (!cfg->workers)
		cfg->workers = ncpu < 1 ? 1 : ncpu > GW_MAX_WORKERS ? GW_MAX_WORKERS : (uint32_t)ncpu;
	if ((ret = get_bool(c, "gateway", s, "epoll_park", true, &cfg->epoll_park)) ||
	    (ret = compile_limits(c, &cfg->limits, json_object_get(s, "limits"))) ||
	    (ret = compile_listeners(c, cfg, json_object_get(s, "listeners"))) ||
	    (ret = get_str(c, "gateway", s, "access_log", false, &cfg->access_log)))
		return ret;
	if (cfg->access_log && !*cfg->access_log)
		return fail(c, "gateway.access_log: must be a file path, \"stderr\", or absent");
	if (ups && !json_is_array(ups))
		return fail(c, "gateway.upstreams: must be a list");
	if (routes && !json_is_array(routes))
		return fail(c, "gateway.routes: must be a list");
	if (json_array_size(routes) > GW_MAX_ROUTES)
		return fail(c, "gateway.routes: more than %d routes", GW_MAX_ROUTES);
	cfg->upstreams = calloc(json_array_size(ups) + 1, sizeof(*cfg->upstreams));
	cfg->routes = calloc(json_array_size(routes) + 1, sizeof(*cfg->routes));
	if (!cfg->upstreams || !cfg->routes)
		return -ENOMEM;
	json_array_foreach(ups, i, v) {
		cfg->nupstreams = i + 1;
		if ((ret = compile_upstream(c, cfg, v, i)))
			return ret;
	}
	cfg->consumers = gw_consumers_compile(json_object_get(s, "consumers"), c->err, c->errlen);
	if (!cfg->consumers)
		return -errno;
	c->consumers = cfg->consumers;
	json_array_foreach(routes, i, v) {
		cfg->nroutes = i + 1;
		if ((ret = compile_route(c, cfg, v, i)))
			return ret;
	}
	if ((ret = gw_router_build(&cfg->router, cfg->routes, cfg->nroutes)))
		return fail(c, "gateway.routes: cannot build the router (%s)", strerror(-ret));
	cfg->server_part = json_object();
	json_object_set_new(cfg->server_part, "workers", json_integer(cfg->workers));
	json_object_set_new(cfg->server_part, "epoll_park", json_boolean(cfg->epoll_park));
	for (const char *const *k = (const char *const[]){ "listeners", "limits", "access_log", NULL };
	     *k; k++)
		if ((v = json_object_get(s, *k)))
			json_object_set(cfg->server_part, *k, v);
	return 0;
}

struct gw_config *gw_config_compile(const json_t *section, char *err, size_t errlen)
{
	struct cctx c = { err, errlen, section, NULL };
	struct gw_config *cfg = calloc(1, sizeof(*cfg));
	json_t *empty = NULL;
	int ret;

	if (!cfg) {
		snprintf(err, errlen, "gateway: out of memory");
		return NULL;
	}
	atomic_init(&cfg->refs, 1);
	if (!section)
		section = empty = json_object();
	ret = compile_section(&c, cfg, section);
	json_decref(empty);
	if (ret) {
		if (ret == -ENOMEM)
			snprintf(err, errlen, "gateway: out of memory");
		config_free(cfg);
		errno = -ret;
		return NULL;
	}
	return cfg;
}
