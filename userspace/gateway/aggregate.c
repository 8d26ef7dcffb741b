// SPDX-License-Identifier: GPL-2.0
/*
 * Routes of type aggregate (aggregate.h): after the route's policies (authentication, rate
 * limiting) passed, every part is called at once on its own upstream, each under its own
 * timeout and all under the route's deadline; the answer is one JSON object keyed by part
 * name, each part's body spliced in as received (validated, gzip decoded). on_partial: fail
 * answers 502/504 as soon as one part fails; partial answers 200 with null for failed parts and
 * a "_status" map of every part's status. A client that goes away cancels the calls in flight.
 */
/* Names in messages are bounded on purpose; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/aggregate.h"
#include "gateway/ctx.h"
#include "gateway/inflate.h"

#define MAX_PARTS 32
#define MAX_URL 8192
#define DEFAULT_MAX_PART (1u << 20)

struct gw_agg_part {
	char *name;
	const struct gw_upstream *u;
	char *method;
	struct gw_tmpl path;
	uint32_t timeout_ms;
};

struct gw_agg_cfg {
	struct gw_agg_part *parts;
	size_t nparts;
	uint32_t timeout_ms;
	bool partial;
	size_t max_part_bytes;
};

/* ---- templates (pure) ---- */

void gw_tmpl_free(struct gw_tmpl *t)
{
	for (size_t i = 0; t->p && i < t->n; i++) {
		free(t->p[i].text);
		free(t->p[i].var);
	}
	free(t->p);
	t->p = NULL;
	t->n = 0;
}

static int tmpl_fail(struct gw_tmpl *t, char *err, size_t errlen, size_t off, const char *what,
		     const char *s, size_t len)
{
	snprintf(err, errlen, "at offset %zu: %s%s%.*s%s", off, what, len ? " {" : "", (int)len, s,
		 len ? "}" : "");
	gw_tmpl_free(t);
	return -EINVAL;
}

static bool valid_var_name(const char *s, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.~", s[i]))
			return false;
	return true;
}

static int tmpl_var(struct gw_tmpl_piece *p, const char *v, size_t len)
{
	static const struct { const char *prefix; enum gw_tmpl_kind kind; } kinds[] = {
		{ "query.", GW_TMPL_QUERY }, { "header.", GW_TMPL_HEADER },
		{ "segment.", GW_TMPL_SEGMENT },
	};

	if (len == 4 && !memcmp(v, "path", 4))
		p->kind = GW_TMPL_PATH;
	else if (len == 5 && !memcmp(v, "query", 5))
		p->kind = GW_TMPL_QUERY_ALL;
	else if (len == 8 && !memcmp(v, "consumer", 8))
		p->kind = GW_TMPL_CONSUMER;
	else {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			size_t pl = strlen(kinds[k].prefix);

			if (len <= pl || memcmp(v, kinds[k].prefix, pl) || !valid_var_name(v + pl, len - pl))
				continue;
			p->kind = kinds[k].kind;
			if (p->kind == GW_TMPL_SEGMENT) {
				char *end;

				p->n = strtol(v + pl, &end, 10);
				if (end != v + len || p->n < 1 || p->n > 64)
					return -1;
				return 0;
			}
			if (!(p->text = strndup(v + pl, len - pl)))
				return -ENOMEM;
			p->len = len - pl;
			if (p->kind == GW_TMPL_HEADER)
				for (char *c = p->text; *c; c++)
					*c = tolower((unsigned char)*c);
			return 0;
		}
		return -1;
	}
	return 0;
}

int gw_tmpl_parse(const char *s, struct gw_tmpl *t, char *err, size_t errlen)
{
	size_t i = 0, len = strlen(s);

	t->p = NULL;
	t->n = 0;
	if (s[0] != '/')
		return tmpl_fail(t, err, errlen, 0, "must start with /", "", 0);
	if (len >= MAX_URL)
		return tmpl_fail(t, err, errlen, 0, "too long", "", 0);
	if (!(t->p = calloc(len + 1, sizeof(*t->p))))
		return -ENOMEM;
	while (i < len) {
		struct gw_tmpl_piece *p = &t->p[t->n];
		size_t start = i;

		if (s[i] == '{') {
			const char *close = strchr(s + i, '}');
			int rc;

			if (!close)
				return tmpl_fail(t, err, errlen, i, "unclosed {", "", 0);
			t->n++;
			rc = tmpl_var(p, s + i + 1, close - s - i - 1);
			if (rc == -ENOMEM) {
				gw_tmpl_free(t);
				return rc;
			}
			if (rc)
				return tmpl_fail(t, err, errlen, i, "unknown variable", s + i + 1,
						 close - s - i - 1);
			if (!(p->var = strndup(s + i, close - s - i + 1))) {
				gw_tmpl_free(t);
				return -ENOMEM;
			}
			i = close - s + 1;
			continue;
		}
		while (i < len && s[i] != '{') {
			unsigned char ch = s[i];

			if (ch <= ' ' || ch >= 127 || ch == '}' || ch == '#' || ch == '"' || ch == '\\')
				return tmpl_fail(t, err, errlen, i, "character not allowed in a path",
						 "", 0);
			i++;
		}
		p->kind = GW_TMPL_LIT;
		t->n++;
		if (!(p->text = strndup(s + start, i - start))) {
			gw_tmpl_free(t);
			return -ENOMEM;
		}
		p->len = i - start;
	}
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if ((ch | 32) >= 'a' && (ch | 32) <= 'f')
		return (ch | 32) - 'a' + 10;
	return -1;
}

/* Percent-decodes s[0..len) into out (at least len bytes); plus: '+' is a space. */
static size_t decode(const char *s, size_t len, char *out, bool plus)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		} else {
			out[o++] = plus && s[i] == '+' ? ' ' : s[i];
		}
	}
	return o;
}

/* Appends s[0..len) percent-encoded (all but unreserved characters). */
static bool put_encoded(char *out, size_t cap, size_t *o, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = s[i];

		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			if (*o + 1 > cap)
				return false;
			out[(*o)++] = ch;
		} else {
			if (*o + 3 > cap)
				return false;
			out[(*o)++] = '%';
			out[(*o)++] = hex[ch >> 4];
			out[(*o)++] = hex[ch & 15];
		}
	}
	return true;
}

static bool put_raw(char *out, size_t cap, size_t *o, const char *s, size_t len)
{
	if (*o + len > cap)
		return false;
	memcpy(out + *o, s, len);
	*o += len;
	return true;
}

/* The decoded value of query parameter name into buf; -1 when absent. */
static long query_value(const char *q, size_t qlen, const char *name, char *buf, size_t cap)
{
	size_t i = 0, nl = strlen(name);

	while (q && i < qlen) {
		size_t s = i, eq, dn;
		char dname[256];

		while (i < qlen && q[i] != '&')
			i++;
		for (eq = s; eq < i && q[eq] != '='; eq++)
			;
		if (eq - s < sizeof(dname)) {
			dn = decode(q + s, eq - s, dname, true);
			if (dn == nl && !memcmp(dname, name, nl)) {
				size_t vl = eq < i ? i - eq - 1 : 0;

				if (vl > cap)
					return -1;
				return (long)decode(q + eq + 1, vl, buf, true);
			}
		}
		i++;
	}
	return -1;
}

/* The decoded Nth (from 1) segment of path into buf; -1 when absent, "." or "..". */
static long segment_value(const char *path, size_t len, long n, char *buf, size_t cap)
{
	size_t i = 0;

	while (i < len) {
		size_t s;

		while (i < len && path[i] == '/')
			i++;
		s = i;
		while (i < len && path[i] != '/')
			i++;
		if (i > s && --n == 0) {
			size_t dl;

			if (i - s > cap)
				return -1;
			dl = decode(path + s, i - s, buf, false);
			if ((dl == 1 && buf[0] == '.') || (dl == 2 && !memcmp(buf, "..", 2)))
				return -1;
			return (long)dl;
		}
	}
	return -1;
}

size_t gw_tmpl_expand(const struct gw_tmpl *t, const struct gw_tmpl_req *r, char *out, size_t cap,
		      const char **missing)
{
	char buf[MAX_URL];
	size_t o = 0;

	*missing = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const struct gw_tmpl_piece *p = &t->p[i];
		const char *v = NULL;
		size_t vl = 0;
		long n = -1;
		bool ok = true;

		switch (p->kind) {
		case GW_TMPL_LIT:
			ok = put_raw(out, cap, &o, p->text, p->len);
			break;
		case GW_TMPL_QUERY:
			n = query_value(r->query, r->query_len, p->text, buf, sizeof(buf));
			ok = n >= 0 && put_encoded(out, cap, &o, buf, n);
			break;
		case GW_TMPL_SEGMENT:
			n = segment_value(r->path, r->path_len, p->n, buf, sizeof(buf));
			ok = n >= 0 && put_encoded(out, cap, &o, buf, n);
			break;
		case GW_TMPL_HEADER:
			n = r->header && r->header(r->arg, p->text, &v, &vl) ? (long)vl : -1;
			ok = n >= 0 && put_encoded(out, cap, &o, v, vl);
			break;
		case GW_TMPL_CONSUMER:
			n = r->consumer ? (long)strlen(r->consumer) : -1;
			ok = n >= 0 && put_encoded(out, cap, &o, r->consumer, n);
			break;
		case GW_TMPL_PATH:
			n = (long)r->rest_len;
			ok = put_raw(out, cap, &o, r->rest, r->rest_len);
			break;
		case GW_TMPL_QUERY_ALL:
			n = r->query ? (long)r->query_len : -1;
			ok = n >= 0 && put_raw(out, cap, &o, r->query, r->query_len);
			break;
		}
		if (n < 0 && p->kind != GW_TMPL_LIT) {
			*missing = p->var;
			return 0;
		}
		if (!ok)
			return (size_t)-1;
	}
	return o;
}

/* ---- config ---- */

void gw_agg_free(struct gw_agg_cfg *a)
{
	if (!a)
		return;
	for (size_t i = 0; a->parts && i < a->nparts; i++) {
		free(a->parts[i].name);
		free(a->parts[i].method);
		gw_tmpl_free(&a->parts[i].path);
	}
	free(a->parts);
	free(a);
}

static int get_ms(const json_t *o, const char *where, const char *key, uint32_t def, uint32_t *out,
		  char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 10 || json_integer_value(v) > 3600000) {
		snprintf(err, errlen, "%s.%s: must be an integer 10-3600000", where, key);
		return -EINVAL;
	}
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int compile_part(const json_t *pj, size_t i, const struct gw_config *cfg,
			struct gw_agg_cfg *a, char *err, size_t errlen)
{
	static const char *const fields[] = { "name", "upstream", "method", "path", "timeout_ms",
					      NULL };
	struct gw_agg_part *p = &a->parts[i];
	const char *name = json_string_value(json_object_get(pj, "name"));
	const char *up = json_string_value(json_object_get(pj, "upstream"));
	const char *method = json_string_value(json_object_get(pj, "method"));
	const char *path = json_string_value(json_object_get(pj, "path"));
	char where[200], terr[200];
	size_t k;
	int rc;

	snprintf(where, sizeof(where), ".parts[%zu]", i);
	if (!json_is_object(pj)) {
		snprintf(err, errlen, "%s: must be an object", where);
		return -EINVAL;
	}
	if (!name || !*name || strlen(name) > 64 || name[0] == '_' ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") !=
		    strlen(name)) {
		snprintf(err, errlen, "%s.name: must be 1-64 of A-Z a-z 0-9 _ - . not starting "
			 "with _", where);
		return -EINVAL;
	}
	snprintf(where, sizeof(where), ".parts[%s]", name);
	if ((rc = gw_json_check_fields(pj, where, fields, err, errlen)))
		return rc;
	for (k = 0; k < i; k++)
		if (!strcmp(a->parts[k].name, name)) {
			snprintf(err, errlen, "%s: duplicate part name", where);
			return -EINVAL;
		}
	if (!(p->name = strdup(name)))
		return -ENOMEM;
	a->nparts = i + 1;
	for (k = 0; up && k < cfg->nupstreams; k++)
		if (!strcmp(cfg->upstreams[k].name, up))
			p->u = &cfg->upstreams[k];
	if (!p->u) {
		snprintf(err, errlen, "%s.upstream: %s", where,
			 up ? "unknown upstream" : "missing (the pool to call)");
		if (up)
			snprintf(err, errlen, "%s.upstream: unknown upstream \"%s\"", where, up);
		return -EINVAL;
	}
	if (method && (!*method || strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method))) {
		snprintf(err, errlen, "%s.method: must be an upper-case HTTP method", where);
		return -EINVAL;
	}
	if (!(p->method = strdup(method ? method : "GET")))
		return -ENOMEM;
	if (!path) {
		snprintf(err, errlen, "%s.path: missing (a path template such as /users/{query.id})",
			 where);
		return -EINVAL;
	}
	if ((rc = gw_tmpl_parse(path, &p->path, terr, sizeof(terr)))) {
		if (rc == -EINVAL)
			snprintf(err, errlen, "%s.path: %s", where, terr);
		return rc;
	}
	return get_ms(pj, where, "timeout_ms", a->timeout_ms, &p->timeout_ms, err, errlen);
}

int gw_agg_compile(const json_t *aj, const struct gw_config *cfg, struct gw_agg_cfg **out,
		   char *err, size_t errlen)
{
	static const char *const fields[] = { "parts", "timeout_ms", "on_partial", "max_part_bytes",
					      NULL };
	struct gw_agg_cfg *a = calloc(1, sizeof(*a));
	json_t *parts = json_object_get(aj, "parts"), *v;
	const char *mode = json_string_value(json_object_get(aj, "on_partial"));
	size_t i;
	int rc;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	if ((rc = gw_json_check_fields(aj, "", fields, err, errlen)) ||
	    (rc = get_ms(aj, "", "timeout_ms", 10000, &a->timeout_ms, err, errlen)))
		goto fail;
	v = json_object_get(aj, "max_part_bytes");
	a->max_part_bytes = DEFAULT_MAX_PART;
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > (8 << 20))) {
		snprintf(err, errlen, ".max_part_bytes: must be 1-%d", 8 << 20);
		goto invalid;
	}
	if (v)
		a->max_part_bytes = json_integer_value(v);
	if (json_object_get(aj, "on_partial") &&
	    (!mode || (strcmp(mode, "fail") && strcmp(mode, "partial")))) {
		snprintf(err, errlen, ".on_partial: must be fail or partial");
		goto invalid;
	}
	a->partial = mode && !strcmp(mode, "partial");
	if (!json_is_array(parts) || !json_array_size(parts) || json_array_size(parts) > MAX_PARTS) {
		snprintf(err, errlen, ".parts: must be a list of 1-%d parts", MAX_PARTS);
		goto invalid;
	}
	if (!(a->parts = calloc(json_array_size(parts), sizeof(*a->parts)))) {
		rc = -ENOMEM;
		goto fail;
	}
	json_array_foreach(parts, i, v) {
		if ((rc = compile_part(v, i, cfg, a, err, errlen)))
			goto fail;
		if (a->parts[i].timeout_ms > a->timeout_ms)
			a->parts[i].timeout_ms = a->timeout_ms;
	}
	*out = a;
	return 0;
invalid:
	rc = -EINVAL;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, ": out of memory");
	gw_agg_free(a);
	return rc;
}

/* ---- runtime ---- */

struct agg_run;

struct agg_call {
	struct agg_run *run;
	const struct gw_agg_part *part;
	struct gw_upcall up;
	h2o_buffer_t *body;
	const struct gw_target *target;
	h2o_iovec_t path;	/* the expanded template */
	uint16_t tried[GW_MAX_TRIES];
	uint8_t ntried;
	bool active, cb_pending, cb_trial, stale_retried, done, failed, gzip, bad_encoding;
	int status;		/* the part's status, or the gateway's 502/503/504 */
	const char *why;	/* for a failed part */
	h2o_timeout_entry_t timer;
};

struct agg_run {
	struct gw_ctx *c;
	struct gw_worker *w;
	const struct gw_agg_cfg *cfg;
	size_t ndone;
	bool finished, watching;
	h2o_socket_t *client;
	struct agg_run *next_watch;
	h2o_timeout_entry_t deadline;
	uint64_t t_start_us;
	struct agg_call calls[];
};

/* Runs of this worker that watch their client's socket for an early close. */
static __thread struct agg_run *watching;

static void finish(struct agg_run *run);
static bool call_start(struct agg_call *call, bool fresh);

static void unwatch(struct agg_run *run)
{
	struct agg_run **pp = &watching;

	if (!run->watching)
		return;
	while (*pp && *pp != run)
		pp = &(*pp)->next_watch;
	if (*pp)
		*pp = run->next_watch;
	run->watching = false;
	h2o_socket_read_stop(run->client);
}

/* The upcall is over (whatever the reason): give back what it held. */
static void call_end(struct agg_call *call)
{
	if (!call->active)
		return;
	call->active = false;
	if (call->cb_pending) {
		call->cb_pending = false;
		gw_breaker_release(call->target, call->cb_trial);
	}
	call->target->st->slot[call->run->w->slot].inflight--;
	gw_target_conn_put(call->target);
}

static void call_cancel(struct agg_call *call)
{
	if (h2o_timeout_is_linked(&call->timer))
		h2o_timeout_unlink(&call->timer);
	if (call->active) {
		gw_upcall_cancel(&call->up);
		call_end(call);
	}
}

static void call_outcome(struct agg_call *call, bool failed)
{
	if (call->cb_pending) {
		call->cb_pending = false;
		gw_breaker_result(call->part->u, call->target, failed, call->cb_trial, gw_now_ms());
	}
}

static void part_over(struct agg_call *call, bool failed, int status, const char *why)
{
	struct agg_run *run = call->run;

	if (call->done)
		return;
	call_cancel(call);
	call->done = true;
	call->failed = failed;
	call->status = status;
	call->why = why;
	run->ndone++;
	if ((failed && !run->cfg->partial) || run->ndone == run->cfg->nparts)
		finish(run);
}

static void on_part_timeout(h2o_timeout_entry_t *e)
{
	struct agg_call *call = H2O_STRUCT_FROM_MEMBER(struct agg_call, timer, e);

	part_over(call, true, 504, "timed out");
}

static int on_head(struct gw_upcall *up, int minor, int status, const char *msg, size_t msg_len,
		   struct phr_header *h, size_t nh)
{
	struct agg_call *call = up->data;

	call_outcome(call, status >= 500 && call->part->u->breaker.on_5xx);
	gw_proxy_passive(call->run->c, call->part->u, call->target,
			 status >= 500 && call->part->u->passive.on_5xx);
	call->status = status;
	for (size_t i = 0; i < nh; i++)
		if (h[i].name_len == 16 && !strncasecmp(h[i].name, "content-encoding", 16) &&
		    !gw_encoding_identity(h[i].value, h[i].value_len)) {
			call->gzip = gw_encoding_supported(h[i].value, h[i].value_len);
			call->bad_encoding = !call->gzip;
		}
	if (up->content_left != SIZE_MAX && up->content_left > call->run->cfg->max_part_bytes) {
		call_end(call);
		part_over(call, true, 502, "body too large");
		return 1;
	}
	return 0;
}

static void on_body(struct gw_upcall *up, bool eos, const char *err)
{
	struct agg_call *call = up->data;

	if (call->body->size > call->run->cfg->max_part_bytes) {
		part_over(call, true, 502, "body too large");
		return;
	}
	if (!eos) {
		gw_upcall_resume(up);	/* the client pauses above 1 MiB */
		return;
	}
	call_end(call);
	if (err)
		part_over(call, true, 502, err);
	else if (call->status < 200 || call->status > 299)
		part_over(call, true, call->status, "upstream status");
	else
		part_over(call, false, call->status, NULL);
}

static void on_error(struct gw_upcall *up, enum gw_upcall_err err)
{
	struct agg_call *call = up->data;
	const struct gw_upstream *u = call->part->u;
	bool idempotent = !strcmp(call->part->method, "GET") || !strcmp(call->part->method, "HEAD");
	/* A part's timeout is its whole budget: a response timeout is not tried again. */
	enum gw_retry how = gw_upcall_retry(up, err, idempotent, false);
	uint64_t *retries = call->target->st->slot[call->run->w->slot].retries;

	if (err != GW_UP_STALE) {
		call_outcome(call, true);
		gw_proxy_passive(call->run->c, u, call->target, true);
	}
	call_end(call);
	if (how == GW_RETRY_SAME && !call->stale_retried) {
		call->stale_retried = true;
		call->ntried--;	/* the same target once more, on a new connection */
		if (call_start(call, true))
			GW_CTR_ADD(retries[gw_retry_reason(err)], 1);
		return;
	}
	if (how != GW_RETRY_NONE && call->ntried <= u->retries && call->ntried < GW_MAX_TRIES) {
		if (call_start(call, false))
			GW_CTR_ADD(retries[gw_retry_reason(err)], 1);
		return;
	}
	if (err == GW_UP_CONNECT_TIMEOUT || err == GW_UP_RESPONSE_TIMEOUT)
		part_over(call, true, 504, "timed out");
	else if (err == GW_UP_CONNECT_FAILED)
		part_over(call, true, 502, "connect failed");
	else
		part_over(call, true, 502, "invalid response");
}

static const struct gw_upcall_cbs agg_cbs = {
	.on_head = on_head,
	.on_error = on_error,
	.on_body = on_body,
};

static bool skip_header(const h2o_header_t *h)
{
	static const char *const skip[] = { "connection", "content-length", "transfer-encoding",
		"host", "keep-alive", "te", "upgrade", "expect", "http2-settings", "proxy-connection",
		"accept-encoding", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "via",
		"x-request-id", "traceparent", "content-type", NULL };

	for (const char *const *s = skip; *s; s++)
		if (h2o_lcstris(h->name->base, h->name->len, *s, strlen(*s)))
			return true;
	return false;
}

/* The part's request head for its target (headers as the proxy forwards them). */
static h2o_iovec_t build_request(struct agg_call *call)
{
	struct gw_ctx *c = call->run->c;
	h2o_req_t *req = c->req;
	const char *m = call->part->method, *xff = NULL;
	size_t need = 512 + call->path.len + strlen(c->client) + req->authority.len, i, off = 0,
	       xffl = 0;
	char *buf;

	for (i = 0; i < req->headers.size; i++) {
		need += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
		if (h2o_lcstris(req->headers.entries[i].name->base, req->headers.entries[i].name->len,
				H2O_STRLIT("x-forwarded-for"))) {
			xff = req->headers.entries[i].value.base;
			xffl = req->headers.entries[i].value.len;
		}
	}
	buf = h2o_mem_alloc_pool(&req->pool, need);
	off += snprintf(buf, need, "%s %.*s HTTP/1.1\r\nhost: %s\r\naccept-encoding: identity\r\n",
			m, (int)call->path.len, call->path.base, call->target->addr);
	if (!strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH"))
		off += snprintf(buf + off, need - off, "content-length: 0\r\n");
	for (i = 0; i < req->headers.size; i++) {
		const h2o_header_t *h = &req->headers.entries[i];

		if (skip_header(h))
			continue;
		memcpy(buf + off, h->orig_name ? h->orig_name : h->name->base, h->name->len);
		off += h->name->len;
		memcpy(buf + off, ": ", 2);
		off += 2;
		memcpy(buf + off, h->value.base, h->value.len);
		off += h->value.len;
		memcpy(buf + off, "\r\n", 2);
		off += 2;
	}
	off += snprintf(buf + off, need - off,
			"x-forwarded-for: %.*s%s%s\r\nx-forwarded-proto: %.*s\r\n"
			"x-forwarded-host: %.*s\r\nvia: 1.1 xdpgw\r\nx-request-id: %.*s\r\n"
			"traceparent: %.*s\r\n\r\n",
			(int)xffl, xff ? xff : "", xff ? ", " : "", c->client,
			(int)req->scheme->name.len, req->scheme->name.base, (int)req->authority.len,
			req->authority.base, (int)c->reqid.len, c->reqid.base,
			(int)c->traceparent.len, c->traceparent.base);
	return h2o_iovec_init(buf, off);
}

/*
 * Starts (or retries) the part's call; fresh: on a new connection to the same target. Returns
 * false when no target takes it (the part is then over).
 */
static bool call_start(struct agg_call *call, bool fresh)
{
	struct agg_run *run = call->run;
	struct gw_worker *w = run->w;
	const struct gw_upstream *u = call->part->u;
	struct gw_upcall *up = &call->up;
	uint64_t now = gw_now_ms();
	bool full = false;
	int idx = -1;

	run->c->busy = false;	/* set by gw_proxy_pick when a target is at its max_conns */
	if (fresh) {
		idx = call->target - u->targets;
		if (!gw_target_conn_take(u, call->target)) {
			GW_CTR_ADD(call->target->st->slot[w->slot].conn_limit, 1);
			full = true;
			idx = -1;
		}
	} else {
		for (int k = 0; k < 4 && idx < 0; k++) {
			idx = gw_proxy_pick(run->c, u, call->tried, call->ntried);
			if (idx < 0)
				break;
			if (!gw_target_conn_take(u, &u->targets[idx])) {
				GW_CTR_ADD(u->targets[idx].st->slot[w->slot].conn_limit, 1);
				full = true;
			} else if (!gw_breaker_acquire(u, &u->targets[idx], now, &call->cb_trial)) {
				gw_target_conn_put(&u->targets[idx]);
			} else {
				call->cb_pending = u->breaker.enabled;
				break;
			}
			if (call->ntried < GW_MAX_TRIES)
				call->tried[call->ntried++] = idx;
			idx = -1;
		}
	}
	if (idx < 0) {
		full |= run->c->busy;
		if (full && u->us)
			atomic_fetch_add_explicit(&u->us->busy, 1, memory_order_relaxed);
		part_over(call, true, 503,
			  full ? "every target at its connection limit"
			  : gw_breaker_retry_after(u, now) ? "circuit breaker open" : "no healthy target");
		return false;
	}
	call->target = &u->targets[idx];
	if (call->ntried < GW_MAX_TRIES)
		call->tried[call->ntried++] = idx;
	call->target->st->slot[w->slot].inflight++;
	GW_CTR_ADD(call->target->st->slot[w->slot].requests, 1);
	call->active = true;
	h2o_buffer_consume(&call->body, call->body->size);
	*up = (struct gw_upcall){ .loop = w->loop, .tmo = &w->tmo, .slot = fresh ? -1 : (int)w->slot,
				  .st = call->target->st, .cb = &agg_cbs, .body = &call->body,
				  .data = call };
	up->connect_ms = u->connect_timeout_ms < call->part->timeout_ms ? u->connect_timeout_ms
									: call->part->timeout_ms;
	up->response_ms = u->response_timeout_ms < call->part->timeout_ms ? u->response_timeout_ms
									  : call->part->timeout_ms;
	up->max_idle = u->keepalive_max_idle;
	up->idle_ms = u->keepalive_idle_ms;
	up->reqbufs[0] = build_request(call);
	up->nreqbufs = 1;
	up->is_head = !strcmp(call->part->method, "HEAD");
	up->check_reused = !up->is_head && strcmp(call->part->method, "GET");
	gw_upcall_start(up);
	if (fresh)
		up->slot = w->slot;
	return true;
}

static void on_deadline(h2o_timeout_entry_t *e)
{
	struct agg_run *run = H2O_STRUCT_FROM_MEMBER(struct agg_run, deadline, e);

	for (size_t i = 0; i < run->cfg->nparts && !run->finished; i++)
		part_over(&run->calls[i], true, 504, "timed out");
}

static void on_client_event(h2o_socket_t *sock, const char *err)
{
	struct agg_run *run;

	for (run = watching; run && run->client != sock; run = run->next_watch)
		;
	if (!run) {
		h2o_socket_read_stop(sock);
		return;
	}
	unwatch(run);
	if (!err)
		return;		/* data (a pipelined request): no longer watched, left for later */
	/* The client is gone: cancel the calls in flight (their upstreams see the close). */
	for (size_t i = 0; i < run->cfg->nparts; i++)
		call_cancel(&run->calls[i]);
	run->finished = true;
	run->c->t_up_us = gw_now_us() - run->t_start_us;
	gw_ctx_error(run->c, 499, "client_closed_request",
		     "the client closed the connection before the answer");
}

static void run_dispose(void *p)
{
	struct agg_run *run = p;

	unwatch(run);
	if (h2o_timeout_is_linked(&run->deadline))
		h2o_timeout_unlink(&run->deadline);
	for (size_t i = 0; i < run->cfg->nparts; i++) {
		call_cancel(&run->calls[i]);
		h2o_buffer_dispose(&run->calls[i].body);
	}
}

/* The part's body, decoded and checked as JSON; NULL (with call->why) when it is not. */
static h2o_iovec_t part_json(struct agg_call *call, char **decoded)
{
	h2o_iovec_t b = h2o_iovec_init(call->body->bytes, call->body->size);
	json_error_t jerr;
	json_t *doc;
	size_t len;

	*decoded = NULL;
	if (call->bad_encoding) {
		call->why = "unsupported content encoding";
		return h2o_iovec_init(NULL, 0);
	}
	if (call->gzip) {
		if (gw_inflate(b.base, b.len, call->run->cfg->max_part_bytes, decoded, &len)) {
			call->why = "undecodable body";
			return h2o_iovec_init(NULL, 0);
		}
		b = h2o_iovec_init(*decoded, len);
	}
	if (!(doc = json_loadb(b.base, b.len, JSON_DECODE_ANY, &jerr))) {
		call->why = "not JSON";
		return h2o_iovec_init(NULL, 0);
	}
	json_decref(doc);
	return b;
}

static void finish(struct agg_run *run)
{
	struct gw_ctx *c = run->c;
	const struct gw_agg_cfg *cfg = run->cfg;
	h2o_iovec_t bodies[MAX_PARTS];
	char *decoded[MAX_PARTS] = { NULL }, *out, msg[256];
	size_t i, nfailed = 0, need = 64, o = 0;
	struct agg_call *first = NULL;

	if (run->finished)
		return;
	run->finished = true;
	unwatch(run);
	if (h2o_timeout_is_linked(&run->deadline))
		h2o_timeout_unlink(&run->deadline);
	for (i = 0; i < cfg->nparts; i++)
		call_cancel(&run->calls[i]);
	c->t_up_us = gw_now_us() - run->t_start_us;
	for (i = 0; i < cfg->nparts; i++) {
		struct agg_call *call = &run->calls[i];

		bodies[i] = h2o_iovec_init(NULL, 0);
		if (call->done && !call->failed) {
			bodies[i] = part_json(call, &decoded[i]);
			if (!bodies[i].base) {
				call->failed = true;
				call->status = 502;
			}
		}
		if (call->failed && !nfailed++)
			first = call;	/* the reason, rather than the parts cancelled for it */
		need += strlen(call->part->name) * 2 + bodies[i].len + 32;
	}
	for (i = 0; i < cfg->nparts; i++) {
		struct agg_call *call = &run->calls[i];

		if (call->done)
			continue;
		call->failed = true;
		call->status = 504;
		call->why = "cancelled";
		if (!nfailed++)
			first = call;
	}
	if (nfailed && (!cfg->partial || nfailed == cfg->nparts)) {
		int status = first->status == 504 ? 504 : 502;

		char why[64];

		if (first->why && !strcmp(first->why, "upstream status"))
			snprintf(why, sizeof(why), "upstream status %d", first->status);
		else
			snprintf(why, sizeof(why), "%s", first->why ? first->why : "failed");
		if (nfailed == cfg->nparts && cfg->partial)
			snprintf(msg, sizeof(msg), "every part failed (part %s: %s)", first->part->name,
				 why);
		else
			snprintf(msg, sizeof(msg), "part %s failed: %s", first->part->name, why);
		gw_ctx_error(c, status, nfailed == cfg->nparts && cfg->partial ? "aggregate_failed"
									 : "aggregate_part_failed",
			     msg);
		goto out;
	}
	out = gw_ctx_alloc(c, need);
	out[o++] = '{';
	for (i = 0; i < cfg->nparts; i++) {
		o += snprintf(out + o, need - o, "%s\"%s\":", i ? "," : "", run->calls[i].part->name);
		if (bodies[i].base) {
			memcpy(out + o, bodies[i].base, bodies[i].len);
			o += bodies[i].len;
			while (o && (out[o - 1] == '\n' || out[o - 1] == '\r' || out[o - 1] == ' '))
				o--;
		} else {
			memcpy(out + o, "null", 4);
			o += 4;
		}
	}
	if (cfg->partial) {
		o += snprintf(out + o, need - o, ",\"_status\":{");
		for (i = 0; i < cfg->nparts; i++)
			o += snprintf(out + o, need - o, "%s\"%s\":%d", i ? "," : "",
				      run->calls[i].part->name, run->calls[i].status);
		out[o++] = '}';
	}
	out[o++] = '}';
	gw_ctx_respond(c, 200, "application/json", out, o);
out:
	for (i = 0; i < cfg->nparts; i++)
		free(decoded[i]);
}

static bool req_header(void *arg, const char *name, const char **v, size_t *len)
{
	struct gw_str s;

	if (!gw_ctx_req_header(arg, name, &s))
		return false;
	*v = s.p;
	*len = s.len;
	return true;
}

/* The request path after the route's prefix (what {path} stands for). */
static void route_rest(struct gw_ctx *c, struct gw_tmpl_req *tr)
{
	const struct gw_route *r = c->route;
	h2o_iovec_t n = c->req->path_normalized;
	size_t plen = r->path_len;

	tr->rest = n.base;
	tr->rest_len = n.len;
	if (r->path_kind != GW_PATH_PREFIX)
		return;
	if (plen && r->path[plen - 1] == '/')
		plen--;
	if (plen <= n.len) {
		tr->rest = n.base + plen;
		tr->rest_len = n.len - plen;
	}
	if (!tr->rest_len)
		tr->rest = "/", tr->rest_len = 1;
}

void gw_agg_start(struct gw_ctx *c)
{
	const struct gw_agg_cfg *cfg = c->route->agg;
	h2o_req_t *req = c->req;
	struct agg_run *run;
	struct gw_tmpl_req tr = { 0 };
	char buf[MAX_URL], msg[160];
	size_t i, qa = req->query_at;

	run = h2o_mem_alloc_shared(&req->pool, sizeof(*run) + cfg->nparts * sizeof(struct agg_call),
				   run_dispose);
	memset(run, 0, sizeof(*run) + cfg->nparts * sizeof(struct agg_call));
	run->c = c;
	run->w = c->w;
	run->cfg = cfg;
	run->t_start_us = gw_now_us();
	run->deadline.cb = on_deadline;
	for (i = 0; i < cfg->nparts; i++) {
		run->calls[i].run = run;
		run->calls[i].part = &cfg->parts[i];
		run->calls[i].timer.cb = on_part_timeout;
		h2o_buffer_init(&run->calls[i].body, &h2o_socket_buffer_prototype);
	}
	/* Every part's path first: a missing value fails the request before any call. */
	tr.path = req->path.base;
	tr.path_len = qa != SIZE_MAX ? qa : req->path.len;
	if (qa != SIZE_MAX) {
		tr.query = req->path.base + qa + 1;
		tr.query_len = req->path.len - qa - 1;
	}
	tr.header = req_header;
	tr.arg = c;
	tr.consumer = gw_ctx_consumer(c);
	route_rest(c, &tr);
	for (i = 0; i < cfg->nparts; i++) {
		const char *missing;
		size_t n = gw_tmpl_expand(&cfg->parts[i].path, &tr, buf, sizeof(buf), &missing);

		if (n == 0 || n == (size_t)-1) {
			if (missing)
				snprintf(msg, sizeof(msg), "part %s needs %s, which the request does not have",
					 cfg->parts[i].name, missing);
			else
				snprintf(msg, sizeof(msg), "part %s: the path is too long",
					 cfg->parts[i].name);
			gw_ctx_error(c, 400, "bad_request", msg);
			return;
		}
		run->calls[i].path = h2o_strdup(&req->pool, buf, n);
	}
	h2o_timeout_link(run->w->loop, gw_timeout_get(&run->w->tmo, cfg->timeout_ms), &run->deadline);
	/* HTTP/1 stops reading during a request: watch for the client going away ourselves. */
	if (req->version < 0x200 && req->conn->callbacks->get_socket &&
	    (run->client = req->conn->callbacks->get_socket(req->conn))) {
		run->watching = true;
		run->next_watch = watching;
		watching = run;
		h2o_socket_read_start(run->client, on_client_event);
	}
	for (i = 0; i < cfg->nparts && !run->finished; i++) {
		struct agg_call *call = &run->calls[i];

		h2o_timeout_link(run->w->loop, gw_timeout_get(&run->w->tmo, call->part->timeout_ms),
				 &call->timer);
		call_start(call, false);
	}
}
