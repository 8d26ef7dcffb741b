// SPDX-License-Identifier: GPL-2.0
/*
 * The request path: limits, routing, policies, target choice, the upstream request with proxy
 * headers, retries of calls that failed before any response byte, and streaming the response
 * back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/ctx.h"

#define MAX_WHOLE_BODY (8u << 20)

static const char hexdig[] = "0123456789abcdef";

static void proxy_start(struct gw_ctx *c);
static void run_policies(struct gw_ctx *c);

/* ---- small helpers ---- */

static bool is_idempotent(h2o_iovec_t m)
{
	static const char *const ok[] = { "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", NULL };

	for (const char *const *p = ok; *p; p++)
		if (h2o_memis(m.base, m.len, *p, strlen(*p)))
			return true;
	return false;
}

static void random_hex(struct gw_worker *w, char *out, size_t nhex)
{
	size_t i;
	uint64_t r = 0;

	for (i = 0; i < nhex; i++) {
		if (i % 16 == 0)
			r = gw_rand(w);
		out[i] = hexdig[r & 15];
		r >>= 4;
	}
}

static bool all_hex(const char *p, size_t n)
{
	bool nonzero = false;

	for (size_t i = 0; i < n; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
		if (p[i] != '0')
			nonzero = true;
	}
	return nonzero;
}

static bool valid_request_id(h2o_iovec_t v)
{
	if (v.len == 0 || v.len > 128)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		char ch = v.base[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.' || ch == ':'))
			return false;
	}
	return true;
}

static bool find_req_header(void *arg, const char *name, const char **v, size_t *len)
{
	h2o_req_t *req = arg;
	ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);

	if (i < 0)
		return false;
	*v = req->headers.entries[i].value.base;
	*len = req->headers.entries[i].value.len;
	return true;
}

/* ---- request identity: X-Request-Id and W3C traceparent ---- */

static void set_identity(struct gw_ctx *c)
{
	h2o_req_t *req = c->req;
	ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
	char *tp;
	bool generated = false;

	if (i >= 0 && valid_request_id(req->headers.entries[i].value)) {
		c->reqid = req->headers.entries[i].value;
	} else {
		char *id = h2o_mem_alloc_pool(&req->pool, 32);

		random_hex(c->w, id, 32);
		c->reqid = h2o_iovec_init(id, 32);
		generated = true;
	}
	/* traceparent: version-traceid(32)-parentid(16)-flags(2); we are a new span in it */
	tp = h2o_mem_alloc_pool(&req->pool, 55);
	i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("traceparent"), -1);
	if (i >= 0 && req->headers.entries[i].value.len == 55 &&
	    !memcmp(req->headers.entries[i].value.base, "00-", 3) &&
	    all_hex(req->headers.entries[i].value.base + 3, 32) &&
	    req->headers.entries[i].value.base[35] == '-' &&
	    all_hex(req->headers.entries[i].value.base + 36, 16) &&
	    req->headers.entries[i].value.base[52] == '-') {
		memcpy(tp, req->headers.entries[i].value.base, 55);
	} else {
		memcpy(tp, "00-", 3);
		if (generated)
			memcpy(tp + 3, c->reqid.base, 32);
		else
			random_hex(c->w, tp + 3, 32);
		memcpy(tp + 35, "-0000000000000000-01", 20);
	}
	random_hex(c->w, tp + 36, 16);
	c->traceparent = h2o_iovec_init(tp, 55);
}

/* ---- errors ---- */

static void respond_error(struct gw_ctx *c, int status, const char *code, const char *msg)
{
	if (c->responded || c->started)
		return;
	c->responded = true;
	h2o_add_header_by_str(&c->req->pool, &c->req->res.headers, H2O_STRLIT("x-request-id"), 0,
			      NULL, c->reqid.base, c->reqid.len);
	gw_send_error(c->req, status, code, msg);
}

/* ---- upstream path ---- */

static h2o_iovec_t upstream_path(struct gw_ctx *c)
{
	h2o_req_t *req = c->req;
	const struct gw_route *r = c->route;
	h2o_iovec_t base = req->path, query = { NULL, 0 }, out;
	const char *rest;
	size_t restlen, plen = r->path_len, qa = req->query_at;
	const char *pre = r->rewrite_prefix ? r->rewrite_prefix : "";
	size_t prelen = strlen(pre);

	if (!r->strip_prefix && !r->rewrite_prefix)
		return req->path;
	if (qa != SIZE_MAX) {
		query = h2o_iovec_init(req->path.base + qa, req->path.len - qa);
		base.len = qa;
	}
	/* Strip from the raw path when it carries the prefix verbatim, else from the normalized. */
	if (!gw_path_prefix_match(r->path, plen, base.base, base.len))
		base = req->path_normalized;
	if (r->path_kind == GW_PATH_PREFIX && plen && r->path[plen - 1] == '/')
		plen--;		/* "/api/" strips to "/x", not "x" */
	rest = base.base + (plen <= base.len ? plen : base.len);
	restlen = base.len - (plen <= base.len ? plen : base.len);
	if (prelen && pre[prelen - 1] == '/' && restlen && rest[0] == '/') {
		rest++;
		restlen--;
	}
	out.base = h2o_mem_alloc_pool(&req->pool, prelen + restlen + query.len + 2);
	out.len = 0;
	memcpy(out.base, pre, prelen);
	out.len = prelen;
	if ((out.len == 0 || out.base[out.len - 1] != '/') && (restlen == 0 || rest[0] != '/'))
		if (!(out.len > 0 && restlen == 0))
			out.base[out.len++] = '/';
	if (restlen)
		memcpy(out.base + out.len, rest, restlen);
	out.len += restlen;
	if (query.len)
		memcpy(out.base + out.len, query.base, query.len);
	out.len += query.len;
	return out;
}

/* Headers never forwarded (hop-by-hop, or rewritten by the gateway). */
static bool skip_header(const h2o_header_t *h, const h2o_iovec_t *conn_tokens, size_t nconn)
{
	static const h2o_token_t *const drop[] = {
		H2O_TOKEN_CONNECTION, H2O_TOKEN_CONTENT_LENGTH, H2O_TOKEN_TRANSFER_ENCODING,
		H2O_TOKEN_HOST, H2O_TOKEN_KEEP_ALIVE, H2O_TOKEN_TE, H2O_TOKEN_UPGRADE,
		H2O_TOKEN_EXPECT, H2O_TOKEN_HTTP2_SETTINGS, H2O_TOKEN_X_FORWARDED_FOR, H2O_TOKEN_VIA,
	};
	static const char *const drop_str[] = { "proxy-connection", "x-forwarded-proto",
		"x-forwarded-host", "x-request-id", "traceparent", NULL };
	size_t i;

	if (h2o_iovec_is_token(h->name)) {
		for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
			if ((const h2o_iovec_t *)drop[i] == h->name)
				return true;
	}
	for (i = 0; drop_str[i]; i++)
		if (h2o_lcstris(h->name->base, h->name->len, drop_str[i], strlen(drop_str[i])))
			return true;
	/* Connection: X-Foo names X-Foo hop-by-hop, in any case */
	return gw_connection_names(conn_tokens, nconn, h->name->base, h->name->len);
}

#define APPEND(p, l)                                                                               \
	do {                                                                                       \
		memcpy(buf + off, (p), (l));                                                       \
		off += (l);                                                                        \
	} while (0)
#define APPEND_LIT(s) APPEND(s, sizeof(s) - 1)

static h2o_iovec_t build_request(struct gw_ctx *c)
{
	h2o_req_t *req = c->req;
	h2o_iovec_t conn_tokens[16], host = req->authority, xff = { NULL, 0 }, via = { NULL, 0 };
	size_t nconn = 0, need, off = 0, i, clen = strlen(c->client);
	const h2o_iovec_t *proto = &req->scheme->name;
	char *buf;

	/* Tokens listed in Connection name more hop-by-hop headers. */
	for (ssize_t ci = -1; (ci = h2o_find_header(&req->headers, H2O_TOKEN_CONNECTION, ci)) >= 0;)
		nconn = gw_connection_tokens(req->headers.entries[ci].value.base,
					     req->headers.entries[ci].value.len, conn_tokens, 16, nconn);
	need = req->method.len + c->path_up.len + host.len + 256 + clen + c->reqid.len;
	for (i = 0; i < req->headers.size; i++) {
		const h2o_header_t *h = &req->headers.entries[i];

		need += h->name->len + h->value.len + 4;
		if (h->name == &H2O_TOKEN_X_FORWARDED_FOR->buf)
			xff = h->value;	/* only the last one: several get joined by the client rarely */
		else if (h->name == &H2O_TOKEN_VIA->buf)
			via = h->value;
	}
	if (!c->route->preserve_host)
		host = h2o_iovec_init(c->target->addr, strlen(c->target->addr));
	buf = h2o_mem_alloc_pool(&req->pool, need);
	APPEND(req->method.base, req->method.len);
	buf[off++] = ' ';
	APPEND(c->path_up.base, c->path_up.len);
	APPEND_LIT(" HTTP/1.1\r\nhost: ");
	APPEND(host.base, host.len);
	APPEND_LIT("\r\n");
	if (req->entity.base || h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) ||
	    h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT")))
		off += sprintf(buf + off, "content-length: %zu\r\n", req->entity.len);
	for (i = 0; i < req->headers.size; i++) {
		const h2o_header_t *h = &req->headers.entries[i];

		if (skip_header(h, conn_tokens, nconn))
			continue;
		APPEND(h->orig_name ? h->orig_name : h->name->base, h->name->len);
		APPEND_LIT(": ");
		APPEND(h->value.base, h->value.len);
		APPEND_LIT("\r\n");
	}
	APPEND_LIT("x-forwarded-for: ");
	if (xff.len) {
		APPEND(xff.base, xff.len);
		APPEND_LIT(", ");
	}
	APPEND(c->client, clen);
	APPEND_LIT("\r\nx-forwarded-proto: ");
	APPEND(proto->base, proto->len);
	APPEND_LIT("\r\nx-forwarded-host: ");
	APPEND(req->authority.base, req->authority.len);
	APPEND_LIT("\r\nvia: ");
	if (via.len) {
		APPEND(via.base, via.len);
		APPEND_LIT(", ");
	}
	if (req->version >= 0x200)
		APPEND_LIT("2 xdpgw");
	else
		APPEND_LIT("1.1 xdpgw");
	APPEND_LIT("\r\nx-request-id: ");
	APPEND(c->reqid.base, c->reqid.len);
	APPEND_LIT("\r\ntraceparent: ");
	APPEND(c->traceparent.base, c->traceparent.len);
	APPEND_LIT("\r\n\r\n");
	return h2o_iovec_init(buf, off);
}

/* ---- target choice ---- */

struct pick_arg {
	struct gw_ctx *c;
	uint64_t now;
	bool panic;		/* gw_upstream_panic: health is ignored, weights still count */
	uint64_t full_seen;	/* targets (index mod 64) already counted as at their cap */
};

/* Counts a target passed over at its max_conns, once per pick. */
static void count_full(struct gw_ctx *c, uint64_t *seen, uint32_t idx)
{
	c->busy = true;
	if (seen) {
		if (*seen & (1ULL << (idx % 64)))
			return;
		*seen |= 1ULL << (idx % 64);
	}
	GW_CTR_ADD(c->u->targets[idx].st->slot[c->w->slot].conn_limit, 1);
}

static bool tried(const struct gw_ctx *c, uint32_t idx)
{
	for (uint8_t i = 0; i < c->ntried; i++)
		if (c->tried[i] == idx)
			return true;
	return false;
}

static bool candidate(void *arg, uint32_t idx)
{
	struct pick_arg *a = arg;
	const struct gw_target *t = &a->c->u->targets[idx];

	if (!(a->panic ? t->weight > 0 : gw_target_usable(t, a->now)) || tried(a->c, idx) ||
	    !gw_breaker_allows(a->c->u, t, a->now))
		return false;
	if (!gw_target_has_room(a->c->u, t)) {
		count_full(a->c, &a->full_seen, idx);
		return false;
	}
	return true;
}

/* a is less loaded than b (in-flight per unit of weight, on this worker) */
static bool less_loaded(const struct gw_upstream *u, unsigned slot, uint32_t a, uint32_t b)
{
	uint64_t la = (uint64_t)u->targets[a].st->slot[slot].inflight * u->targets[b].weight;
	uint64_t lb = (uint64_t)u->targets[b].st->slot[slot].inflight * u->targets[a].weight;

	return la < lb;
}

static int pick_lc(struct gw_ctx *c, struct pick_arg *a)
{
	const struct gw_upstream *u = c->u;
	uint32_t n = u->ntargets, start = gw_rand(c->w) % n, k;
	int best = -1;

	for (k = 0; k < n; k++) {
		uint32_t i = (start + k) % n;

		if (candidate(a, i) && (best < 0 || less_loaded(u, c->w->slot, i, best)))
			best = i;
	}
	return best;
}

static int pick_hash(struct gw_ctx *c, struct pick_arg *a)
{
	const struct gw_upstream *u = c->u;
	h2o_req_t *req = c->req;
	const char *key = c->client;
	size_t len = strlen(c->client);

	if (u->hash_on == GW_HASH_HEADER) {
		ssize_t i = h2o_find_header_by_str(&req->headers, u->hash_key, strlen(u->hash_key), -1);

		if (i >= 0) {
			key = req->headers.entries[i].value.base;
			len = req->headers.entries[i].value.len;
		}
	} else if (u->hash_on == GW_HASH_COOKIE) {
		size_t kl = strlen(u->hash_key);

		for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) >= 0;) {
			h2o_iovec_t v = req->headers.entries[i].value;
			size_t p = 0;

			while (p < v.len) {
				size_t s, e;

				while (p < v.len && (v.base[p] == ' ' || v.base[p] == ';'))
					p++;
				s = p;
				while (p < v.len && v.base[p] != ';')
					p++;
				e = p;
				if (e - s > kl && !memcmp(v.base + s, u->hash_key, kl) &&
				    v.base[s + kl] == '=') {
					key = v.base + s + kl + 1;
					len = e - s - kl - 1;
					goto found;
				}
			}
		}
	}
found:
	return gw_ring_lookup(u, gw_hash64(key, len), candidate, a);
}

static int pick_target(struct gw_ctx *c)
{
	const struct gw_upstream *u = c->u;
	struct pick_arg a = { c, gw_now_ms(), false, 0 };
	uint32_t *cursor = &c->ver->rr_cursor[u->idx];
	uint32_t k;

	if (!u->ntargets || !u->rr_len)
		return -1;
	a.panic = gw_upstream_panic(u, a.now);
	switch (u->algo) {
	case GW_ALGO_RR:
		for (k = 0; k < u->rr_len; k++) {
			uint32_t i = u->rr_sched[(*cursor)++ % u->rr_len];

			if (candidate(&a, i))
				return i;
		}
		return -1;
	case GW_ALGO_LC:
		return pick_lc(c, &a);
	case GW_ALGO_P2C:
		for (k = 0; k < 4; k++) {
			uint32_t x = u->rr_sched[gw_rand(c->w) % u->rr_len];
			uint32_t y = u->rr_sched[gw_rand(c->w) % u->rr_len];

			if (x == y || !candidate(&a, x) || !candidate(&a, y))
				continue;
			return less_loaded(u, c->w->slot, y, x) ? (int)y : (int)x;
		}
		return pick_lc(c, &a);
	case GW_ALGO_HASH:
		return pick_hash(c, &a);
	}
	return -1;
}

/*
 * A target with room under max_conns whose circuit breaker takes the call (another worker may
 * have taken the last slot, a half-open breaker may refuse: next). The call holds a
 * connection slot until upcall_done.
 */
static int pick_acquire(struct gw_ctx *c)
{
	for (int k = 0; k < 4; k++) {
		int idx = pick_target(c);
		const struct gw_target *t;
		bool trial;

		if (idx < 0)
			return -1;
		t = &c->u->targets[idx];
		if (!gw_target_conn_take(c->u, t)) {
			count_full(c, NULL, idx);
		} else if (gw_breaker_acquire(c->u, t, gw_now_ms(), &trial)) {
			c->cb_pending = c->u->breaker.enabled;
			c->cb_trial = trial;
			return idx;
		} else {
			gw_target_conn_put(t);
		}
		if (c->ntried < GW_MAX_TRIES)
			c->tried[c->ntried++] = idx;
	}
	return -1;
}

/* The call's outcome for the circuit breaker (once per call). */
static void breaker_outcome(struct gw_ctx *c, bool failed)
{
	if (!c->cb_pending)
		return;
	c->cb_pending = false;
	gw_breaker_result(c->u, c->target, failed, c->cb_trial, gw_now_ms());
}

/* ---- passive health ---- */

void gw_proxy_passive(struct gw_ctx *c, const struct gw_upstream *u, const struct gw_target *t,
		      bool failed)
{
	struct gw_tstate *st = t->st;
	const struct gw_passive_cfg *p = &u->passive;

	if (!failed) {
		if (atomic_load_explicit(&st->fails, memory_order_relaxed))
			atomic_store_explicit(&st->fails, 0, memory_order_relaxed);
		return;
	}
	GW_CTR_ADD(st->slot[c->w->slot].failures, 1);
	if (p->failures && atomic_fetch_add(&st->fails, 1) + 1 >= p->failures) {
		atomic_store(&st->ejected_until, gw_now_ms() + p->eject_ms);
		atomic_store(&st->fails, 0);
	}
}

static void passive_result(struct gw_ctx *c, bool failed)
{
	gw_proxy_passive(c, c->u, c->target, failed);
}

int gw_proxy_pick(struct gw_ctx *c, const struct gw_upstream *u, const uint16_t *tried,
		  uint8_t ntried)
{
	const struct gw_upstream *saved_u = c->u;
	uint16_t saved_tried[GW_MAX_TRIES];
	uint8_t saved_n = c->ntried;
	int idx;

	/* The route's balancing code reads c: lend it this upstream and tried list. */
	memcpy(saved_tried, c->tried, sizeof(saved_tried));
	c->u = u;
	c->ntried = ntried < GW_MAX_TRIES ? ntried : GW_MAX_TRIES;
	memcpy(c->tried, tried, c->ntried * sizeof(*tried));
	idx = pick_target(c);
	memcpy(c->tried, saved_tried, sizeof(saved_tried));
	c->ntried = saved_n;
	c->u = saved_u;
	return idx;
}

static void upcall_done(struct gw_ctx *c)
{
	if (c->cb_pending) {	/* ended without an outcome (cancelled) */
		c->cb_pending = false;
		gw_breaker_release(c->target, c->cb_trial);
	}
	c->target->st->slot[c->w->slot].inflight--;
	gw_target_conn_put(c->target);
	c->t_up_us += gw_now_us() - c->t_up_start_us;
}

/* ---- response streaming ---- */

static void do_send(struct gw_ctx *c)
{
	h2o_buffer_t *t;
	h2o_iovec_t iov;
	h2o_send_state_t state;

	if (c->sending || c->final_sent || (c->body->size == 0 && !c->up_done))
		return;
	t = c->inflight;
	c->inflight = c->body;
	c->body = t;
	state = !c->up_done ? H2O_SEND_STATE_IN_PROGRESS
			    : c->body_error ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL;
	c->sending = true;
	if (state != H2O_SEND_STATE_IN_PROGRESS)
		c->final_sent = true;
	iov = h2o_iovec_init(c->inflight->bytes, c->inflight->size);
	h2o_send(c->req, &iov, iov.len ? 1 : 0, state);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct gw_ctx *c = (struct gw_ctx *)gen;

	c->sending = false;
	h2o_buffer_consume(&c->inflight, c->inflight->size);
	if (!c->up_done)
		gw_upcall_resume(&c->up);
	do_send(c);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	struct gw_ctx *c = (struct gw_ctx *)gen;

	if (gw_upcall_active(&c->up)) {
		gw_upcall_cancel(&c->up);
		upcall_done(c);
	}
}

static void run_on_response(struct gw_ctx *c, size_t upto)
{
	const struct gw_route *r = c->route;

	while (upto-- > 0)
		if (r->policies[upto].ops->on_response)
			r->policies[upto].ops->on_response(r->policies[upto].inst, c);
}

static void copy_response_header(h2o_req_t *req, const struct phr_header *h,
				 const h2o_iovec_t *conn_tokens, size_t nconn)
{
	const h2o_token_t *tok;
	h2o_iovec_t v, n;
	char lower[64];

	if (gw_connection_names(conn_tokens, nconn, h->name, h->name_len))
		return;	/* named hop-by-hop by the upstream's Connection */
	/* Names are case-insensitive: lower-case them so lookups (and HTTP/2) see one form;
	 * known names need no copy (the token is the name). */
	if (h->name_len <= sizeof(lower)) {
		for (size_t i = 0; i < h->name_len; i++)
			lower[i] = h2o_tolower(h->name[i]);
		n = h2o_iovec_init(lower, h->name_len);
	} else {
		n = h2o_strdup(&req->pool, h->name, h->name_len);
		h2o_strtolower(n.base, n.len);
	}
	tok = h2o_lookup_token(n.base, n.len);

	if (tok) {
		if (tok == H2O_TOKEN_CONNECTION || tok == H2O_TOKEN_CONTENT_LENGTH ||
		    tok == H2O_TOKEN_TRANSFER_ENCODING || tok == H2O_TOKEN_KEEP_ALIVE ||
		    tok == H2O_TOKEN_TE || tok == H2O_TOKEN_UPGRADE || tok == H2O_TOKEN_SERVER ||
		    tok == H2O_TOKEN_DATE)
			return;
		v = h2o_strdup(&req->pool, h->value, h->value_len);
		h2o_add_header(&req->pool, &req->res.headers, tok, NULL, v.base, v.len);
		return;
	}
	if (h2o_memis(n.base, n.len, H2O_STRLIT("proxy-connection")) ||
	    h2o_memis(n.base, n.len, H2O_STRLIT("trailer")))
		return;
	if (n.base == lower)
		n = h2o_strdup(&req->pool, lower, n.len);
	v = h2o_strdup(&req->pool, h->value, h->value_len);
	h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 0, NULL, v.base, v.len);
}

/* Lets a policy answer an upstream failure (a cache's stale copy); true when one did. */
static bool policy_answers_error(struct gw_ctx *c, int status)
{
	const struct gw_route *r = c->route;

	for (size_t i = c->policy_pos; i-- > 0 && !c->responded;) {
		const struct gw_policy_inst *p = &r->policies[i];

		if (p->ops->on_upstream_error && p->ops->on_upstream_error(p->inst, c, status))
			return true;
	}
	return c->responded;
}

static void upstream_error(struct gw_ctx *c, int status, const char *code, const char *msg)
{
	if (!c->responded && !c->started && policy_answers_error(c, status))
		return;
	respond_error(c, status, code, msg);
}

/* Decides whether this response is buffered for the route's body policies, and up to what size. */
static void choose_body(struct gw_ctx *c, int status)
{
	const struct gw_route *r = c->route;
	size_t i;

	c->buffer_whole = false;
	c->body_mask = 0;
	c->body_limit = MAX_WHOLE_BODY;
	c->oversize_fail = false;
	if (c->up.is_head || status < 200 || status == 204 || status == 304)
		return;
	for (i = 0; i < r->npolicies && i < 64; i++) {
		const struct gw_policy_inst *p = &r->policies[i];
		size_t limit = MAX_WHOLE_BODY;
		bool fail = true;

		if (!(p->ops->flags & GW_POLICY_WANTS_BODY) || !p->ops->on_body)
			continue;
		if (p->ops->body_wanted) {
			fail = false;
			if (!(limit = p->ops->body_wanted(p->inst, c, &fail)))
				continue;
		}
		if (limit > MAX_WHOLE_BODY)
			limit = MAX_WHOLE_BODY;
		if (!c->buffer_whole || limit < c->body_limit) {
			c->body_limit = limit;
			c->oversize_fail = fail;
		} else if (limit == c->body_limit) {
			c->oversize_fail |= fail;
		}
		c->body_mask |= 1ULL << i;
		c->buffer_whole = true;
	}
}

static void start_streaming(struct gw_ctx *c)
{
	run_on_response(c, c->route->npolicies);
	c->started = true;
	c->responded = true;
	h2o_start_response(c->req, &c->gen);
}

/*
 * The body is larger than a body policy processes: stream it untouched, or answer 502 when a
 * policy asked for that. Returns true when the request failed (the upstream call is over).
 */
static bool body_oversize(struct gw_ctx *c)
{
	struct gw_route_metrics_slot *m = &c->route->m->slot[c->w->slot];

	if (c->oversize_fail) {
		GW_CTR_ADD(m->body_oversize_fail, 1);
		if (gw_upcall_active(&c->up)) {
			gw_upcall_cancel(&c->up);
			upcall_done(c);
		}
		c->req->res.headers = (h2o_headers_t){ NULL };
		respond_error(c, 502, "upstream_body_too_large",
			      "the upstream body exceeds what the route's policies can process");
		return true;
	}
	GW_CTR_ADD(m->body_oversize_pass, 1);
	c->buffer_whole = false;
	start_streaming(c);
	return false;
}

static int on_up_head(struct gw_upcall *up, int minor, int status, const char *msg,
		      size_t msg_len, struct phr_header *h, size_t nh)
{
	struct gw_ctx *c = up->data;
	h2o_req_t *req = c->req;
	h2o_iovec_t conn_tokens[16];
	size_t i, nconn = 0;

	breaker_outcome(c, status >= 500 && c->u->breaker.on_5xx);
	if (status >= 500 && policy_answers_error(c, status)) {
		passive_result(c, c->u->passive.on_5xx);
		upcall_done(c);
		return 1;
	}
	req->res.status = status;
	req->res.reason = h2o_strdup(&req->pool, msg, msg_len).base;
	for (i = 0; i < nh; i++)
		if (h[i].name_len == 10 && !strncasecmp(h[i].name, "connection", 10))
			nconn = gw_connection_tokens(h[i].value, h[i].value_len, conn_tokens, 16,
						     nconn);
	for (i = 0; i < nh; i++) {
		if (h[i].name_len == 14 && !strncasecmp(h[i].name, "content-length", 14)) {
			if (!up->chunked && !up->is_head && status != 204 && status != 304)
				req->res.content_length = up->content_left;
			continue;
		}
		copy_response_header(req, &h[i], conn_tokens, nconn);
	}
	if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
		req->res.content_length = SIZE_MAX;
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
			      c->reqid.base, c->reqid.len);
	passive_result(c, c->u->passive.on_5xx && status >= 500);
	if (c->route->wants_body)
		choose_body(c, status);
	if (c->buffer_whole) {
		if (req->res.content_length == SIZE_MAX || req->res.content_length <= c->body_limit)
			return 0;
		/* Known to be too large up front: decide before reading it. */
		if (c->oversize_fail) {
			body_oversize(c);
			return 1;
		}
		body_oversize(c);
		return 0;
	}
	start_streaming(c);
	return 0;
}

static void send_whole(struct gw_ctx *c)
{
	const struct gw_route *r = c->route;
	const char *body = c->body->bytes;
	size_t len = c->body->size, i;
	h2o_iovec_t iov;

	/* Innermost first, each policy's on_response then on_body: every policy sees the
	 * response as the policies after it in the route left it (a cache stores that). */
	for (i = r->npolicies; i-- > 0;) {
		const struct gw_policy_inst *p = &r->policies[i];

		if (p->ops->on_response)
			p->ops->on_response(p->inst, c);
		if (i < 64 && ((c->body_mask >> i) & 1) && p->ops->on_body(p->inst, c, &body, &len)) {
			c->req->res.headers = (h2o_headers_t){ NULL };
			respond_error(c, 502, "response_filter_failed",
				      "a response policy could not process the upstream body");
			return;
		}
	}
	c->req->res.content_length = len;
	c->started = true;
	c->responded = true;
	c->final_sent = true;
	h2o_start_response(c->req, &c->gen);
	iov = h2o_iovec_init(body, len);
	h2o_send(c->req, &iov, len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

static void on_up_body(struct gw_upcall *up, bool eos, const char *err)
{
	struct gw_ctx *c = up->data;

	if (eos) {
		upcall_done(c);
		c->up_done = true;
		c->body_error = err != NULL;
		if (err)
			passive_result(c, true);
	}
	if (c->buffer_whole) {
		if (err) {
			c->req->res.headers = (h2o_headers_t){ NULL };
			respond_error(c, 502, "upstream_body_error", err);
			return;
		}
		if (c->body->size > c->body_limit) {
			if (body_oversize(c))
				return;
			/* now streaming: fall through to send what we have */
		} else if (eos) {
			send_whole(c);
			return;
		} else {
			gw_upcall_resume(&c->up);	/* the client pauses above 1 MiB */
			return;
		}
	}
	do_send(c);
}

static void start_upcall(struct gw_ctx *c, int idx, bool fresh)
{
	struct gw_worker *w = c->w;
	const struct gw_upstream *u = c->u;
	struct gw_upcall *up = &c->up;

	c->target = &u->targets[idx];
	if (!fresh)
		c->tried[c->ntried++] = idx;
	c->target->st->slot[w->slot].inflight++;
	GW_CTR_ADD(c->target->st->slot[w->slot].requests, 1);
	c->t_up_start_us = gw_now_us();
	up->loop = w->loop;
	up->tmo = &w->tmo;
	up->slot = fresh ? -1 : (int)w->slot;
	up->st = c->target->st;
	up->connect_ms = u->connect_timeout_ms;
	up->response_ms = u->response_timeout_ms;
	up->max_idle = u->keepalive_max_idle;
	up->idle_ms = u->keepalive_idle_ms;
	up->reqbufs[0] = build_request(c);
	up->reqbufs[1] = c->req->entity;
	up->nreqbufs = c->req->entity.len ? 2 : 1;
	up->is_head = h2o_memis(c->req->method.base, c->req->method.len, H2O_STRLIT("HEAD"));
	up->check_reused = !c->idempotent;
	up->body = &c->body;
	up->data = c;
	gw_upcall_start(up);
	/* A fresh call must pool its connection once done: the slot is only for the take. */
	if (fresh)
		up->slot = w->slot;
}

/* The same target once more on a new connection, when its breaker takes the call. */
static bool retry_same(struct gw_ctx *c)
{
	bool trial;

	if (c->stale_retried)
		return false;
	if (!gw_target_conn_take(c->u, c->target)) {
		count_full(c, NULL, (uint32_t)(c->target - c->u->targets));
		return false;
	}
	if (!gw_breaker_acquire(c->u, c->target, gw_now_ms(), &trial)) {
		gw_target_conn_put(c->target);
		return false;
	}
	c->stale_retried = true;
	c->cb_pending = c->u->breaker.enabled;
	c->cb_trial = trial;
	start_upcall(c, (int)(c->target - c->u->targets), true);
	return true;
}

static void on_up_error(struct gw_upcall *up, enum gw_upcall_err err)
{
	struct gw_ctx *c = up->data;
	enum gw_retry how = gw_upcall_retry(up, err, c->idempotent, true);
	uint64_t *retries = c->target->st->slot[c->w->slot].retries;
	int idx;

	if (err != GW_UP_STALE) {
		/* a stale pooled connection says nothing about the target's health */
		breaker_outcome(c, true);
		passive_result(c, true);
	}
	upcall_done(c);
	if (how == GW_RETRY_SAME) {
		if (retry_same(c)) {
			GW_CTR_ADD(retries[gw_retry_reason(err)], 1);
			return;
		}
		how = GW_RETRY_NEXT;
	}
	if (how == GW_RETRY_NEXT && c->ntried <= c->u->retries && c->ntried < GW_MAX_TRIES &&
	    (idx = pick_acquire(c)) >= 0) {
		start_upcall(c, idx, false);
		GW_CTR_ADD(retries[gw_retry_reason(err)], 1);
		return;
	}
	switch (err) {
	case GW_UP_CONNECT_TIMEOUT:
		upstream_error(c, 504, "upstream_connect_timeout", "connecting to the upstream timed out");
		break;
	case GW_UP_CONNECT_FAILED:
		upstream_error(c, 502, "upstream_connect_failed", "could not connect to the upstream");
		break;
	case GW_UP_STALE:
	case GW_UP_NO_RESPONSE:
		upstream_error(c, 502, "upstream_connection_closed",
			       "the upstream closed the connection before responding");
		break;
	case GW_UP_RESPONSE_TIMEOUT:
		upstream_error(c, 504, "upstream_timeout", "the upstream did not respond in time");
		break;
	default:
		upstream_error(c, 502, "bad_gateway", "invalid or incomplete response from the upstream");
		break;
	}
}

static const struct gw_upcall_cbs proxy_cbs = {
	.on_head = on_up_head,
	.on_error = on_up_error,
	.on_body = on_up_body,
};

static void proxy_start(struct gw_ctx *c)
{
	int idx;

	if (c->responded)
		return;
	if (c->route->agg) {
		gw_agg_start(c);
		return;
	}
	c->u = c->route->upstream;
	c->path_up = c->path_up.base ? c->path_up : upstream_path(c);
	idx = pick_acquire(c);
	if (idx < 0) {
		uint64_t wait_ms = gw_breaker_retry_after(c->u, gw_now_ms());

		if (c->busy) {
			/* nginx's max_conns without a queue: turned away at once, counted */
			if (c->u->us)
				atomic_fetch_add_explicit(&c->u->us->busy, 1, memory_order_relaxed);
			upstream_error(c, 503, "upstream_busy",
				       "every target of the route's upstream is at its connection limit");
		} else if (!wait_ms) {
			upstream_error(c, 503, "no_healthy_upstream",
				       "no healthy target in the route's upstream");
		} else if (!policy_answers_error(c, 503)) {
			/* Every usable target's breaker is open: fail fast, touch none. */
			char *ra = h2o_mem_alloc_pool(&c->req->pool, 24);
			int n = snprintf(ra, 24, "%llu", (unsigned long long)(wait_ms + 999) / 1000);

			h2o_add_header(&c->req->pool, &c->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
				       ra, n);
			respond_error(c, 503, "circuit_open",
				      "the upstream's circuit breaker is open; retry later");
		}
		return;
	}
	c->up.cb = &proxy_cbs;
	start_upcall(c, idx, false);
}

/* ---- policies ---- */

static void run_policies(struct gw_ctx *c)
{
	const struct gw_route *r = c->route;

	while (c->policy_pos < r->npolicies) {
		const struct gw_policy_inst *p = &r->policies[c->policy_pos];
		enum gw_policy_verdict v = GW_POLICY_CONTINUE;

		if (p->ops->on_request)
			v = p->ops->on_request(p->inst, c);
		if (v == GW_POLICY_ASYNC) {
			c->async = true;
			return;
		}
		c->policy_pos++;
		if (v == GW_POLICY_RESPONDED || c->responded)
			return;
	}
	proxy_start(c);
}

void gw_ctx_resume(struct gw_ctx *c, enum gw_policy_verdict verdict)
{
	c->async = false;
	c->abort_cb = NULL;
	c->policy_pos++;
	if (verdict == GW_POLICY_RESPONDED || c->responded)
		return;
	run_policies(c);
}

/* ---- lifecycle ---- */

static void on_ctx_dispose(void *p)
{
	struct gw_ctx *c = p;

	if (c->async && c->abort_cb)
		c->abort_cb(c->abort_data);
	if (gw_upcall_active(&c->up)) {
		gw_upcall_cancel(&c->up);
		upcall_done(c);
	}
	gw_log_request(c->w, c, c->req);
	h2o_buffer_dispose(&c->body);
	h2o_buffer_dispose(&c->inflight);
	gw_wver_release(c->ver);
}

static void pick_up_config(struct gw_worker *w);

static bool over_header_limits(h2o_req_t *req, const struct gw_limits *lim)
{
	size_t i, bytes = req->path.len + req->authority.len + req->method.len;

	if (req->headers.size > lim->max_headers)
		return true;
	for (i = 0; i < req->headers.size; i++)
		bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
	return bytes > lim->max_header_bytes;
}

int gw_proxy_on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct gw_worker *w = H2O_STRUCT_FROM_MEMBER(struct gw_worker, ctx, req->conn->ctx);
	struct gw_ctx *c;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct gw_req_view view;
	const char *code, *why;
	int status;

	if (atomic_load_explicit(&w->pending, memory_order_relaxed))
		pick_up_config(w);
	c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), on_ctx_dispose);
	memset(c, 0, sizeof(*c));
	c->req = req;
	c->w = w;
	c->ver = w->cur;
	c->ver->refs++;
	c->t_start_us = gw_now_us();
	c->gen.proceed = on_proceed;
	c->gen.stop = on_stop;
	h2o_buffer_init(&c->body, &h2o_socket_buffer_prototype);
	h2o_buffer_init(&c->inflight, &h2o_socket_buffer_prototype);
	sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
	if (sl == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, sl, c->client) == SIZE_MAX)
		strcpy(c->client, "unknown");
	set_identity(c);
	if ((status = gw_request_check(req, &code, &why))) {
		respond_error(c, status, code, why);
		return 0;
	}
	if (over_header_limits(req, &c->ver->cfg->limits)) {
		respond_error(c, 431, "request_header_fields_too_large",
			      "the request has too many headers or they are too large");
		return 0;
	}
	view = (struct gw_req_view){ req->authority.base, req->authority.len,
				     req->path_normalized.base, req->path_normalized.len,
				     req->method.base, req->method.len, find_req_header, req };
	c->route = gw_router_match(&c->ver->cfg->router, &view);
	if (!c->route) {
		respond_error(c, 404, "route_not_found", "no route matches the request");
		return 0;
	}
	GW_CTR_ADD(c->route->m->slot[w->slot].inflight, 1);
	c->idempotent = is_idempotent(req->method);
	c->buffer_whole = c->route->wants_body;
	run_policies(c);
	return 0;
}

/* Moves the worker to the newest published config (between requests, on its own thread). */
static void pick_up_config(struct gw_worker *w)
{
	struct gw_config *cfg = atomic_exchange(&w->pending, NULL);
	struct gw_wver *v;

	if (!cfg)
		return;
	v = calloc(1, sizeof(*v) + sizeof(uint32_t) * (cfg->nupstreams + 1));
	if (!v) {
		gw_config_put(cfg);	/* keep serving the old version */
		return;
	}
	v->cfg = cfg;
	v->w = w;
	v->refs = 1;
	v->rr_cursor = (uint32_t *)(v + 1);
	for (size_t i = 0; i < cfg->nupstreams; i++)
		v->rr_cursor[i] = (uint32_t)gw_rand(w);
	if (w->cur)
		gw_wver_release(w->cur);
	w->cur = v;
}

void gw_worker_sync_config(struct gw_worker *w)
{
	pick_up_config(w);
}

void gw_wver_release(struct gw_wver *v)
{
	if (--v->refs)
		return;
	gw_config_put(v->cfg);
	free(v);
}

/* ---- the policy API (policy.h) ---- */

struct gw_str gw_ctx_method(struct gw_ctx *c)
{
	return (struct gw_str){ c->req->method.base, c->req->method.len };
}

struct gw_str gw_ctx_host(struct gw_ctx *c)
{
	return (struct gw_str){ c->req->authority.base, c->req->authority.len };
}

struct gw_str gw_ctx_path(struct gw_ctx *c)
{
	if (!c->path_up.base)
		c->path_up = upstream_path(c);
	return (struct gw_str){ c->path_up.base, c->path_up.len };
}

struct gw_str gw_ctx_req_path(struct gw_ctx *c)
{
	return (struct gw_str){ c->req->path.base, c->req->path.len };
}

const char *gw_ctx_client(struct gw_ctx *c)
{
	return c->client;
}

const char *gw_ctx_route(struct gw_ctx *c)
{
	return c->route ? c->route->name : NULL;
}

void *gw_ctx_alloc(struct gw_ctx *c, size_t len)
{
	return h2o_mem_alloc_pool(&c->req->pool, len);
}

static char *lower_dup(struct gw_ctx *c, const char *name, size_t *len);

static bool get_header(struct gw_ctx *c, h2o_headers_t *hs, const char *name, struct gw_str *value)
{
	size_t nl;
	char *n = lower_dup(c, name, &nl);
	ssize_t i = h2o_find_header_by_str(hs, n, nl, -1);

	if (i < 0)
		return false;
	value->p = hs->entries[i].value.base;
	value->len = hs->entries[i].value.len;
	return true;
}

static char *lower_dup(struct gw_ctx *c, const char *name, size_t *len)
{
	size_t n = strlen(name);
	char *p = h2o_mem_alloc_pool(&c->req->pool, n + 1);

	for (size_t i = 0; i <= n; i++)
		p[i] = (name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i];
	*len = n;
	return p;
}

static void set_header(struct gw_ctx *c, h2o_headers_t *hs, const char *name, const char *value,
		       size_t len, bool overwrite)
{
	size_t nl;
	char *n = lower_dup(c, name, &nl);
	h2o_iovec_t v = h2o_strdup(&c->req->pool, value, len);

	if (overwrite)
		h2o_set_header_by_str(&c->req->pool, hs, n, nl, 1, v.base, v.len, 1);
	else
		h2o_add_header_by_str(&c->req->pool, hs, n, nl, 1, NULL, v.base, v.len);
}

static void remove_header(struct gw_ctx *c, h2o_headers_t *hs, const char *name)
{
	size_t nl;
	char *n = lower_dup(c, name, &nl);
	ssize_t i;

	while ((i = h2o_find_header_by_str(hs, n, nl, -1)) >= 0)
		h2o_delete_header(hs, i);
}

bool gw_ctx_req_header(struct gw_ctx *c, const char *name, struct gw_str *value)
{
	return get_header(c, &c->req->headers, name, value);
}

void gw_ctx_req_header_set(struct gw_ctx *c, const char *name, const char *value, size_t len)
{
	set_header(c, &c->req->headers, name, value, len, true);
}

void gw_ctx_req_header_add(struct gw_ctx *c, const char *name, const char *value, size_t len)
{
	set_header(c, &c->req->headers, name, value, len, false);
}

void gw_ctx_req_header_remove(struct gw_ctx *c, const char *name)
{
	remove_header(c, &c->req->headers, name);
}

void gw_ctx_set_path(struct gw_ctx *c, const char *path, size_t len)
{
	c->path_up = h2o_strdup(&c->req->pool, path, len);
}

int gw_ctx_status(struct gw_ctx *c)
{
	return c->req->res.status;
}

void gw_ctx_set_status(struct gw_ctx *c, int status)
{
	c->req->res.status = status;
	c->req->res.reason = "";
}

bool gw_ctx_resp_header(struct gw_ctx *c, const char *name, struct gw_str *value)
{
	return get_header(c, &c->req->res.headers, name, value);
}

void gw_ctx_resp_header_set(struct gw_ctx *c, const char *name, const char *value, size_t len)
{
	set_header(c, &c->req->res.headers, name, value, len, true);
}

void gw_ctx_resp_header_add(struct gw_ctx *c, const char *name, const char *value, size_t len)
{
	set_header(c, &c->req->res.headers, name, value, len, false);
}

void gw_ctx_resp_header_remove(struct gw_ctx *c, const char *name)
{
	remove_header(c, &c->req->res.headers, name);
}

void gw_ctx_resp_header_foreach(struct gw_ctx *c,
				void (*fn)(void *arg, struct gw_str name, struct gw_str value),
				void *arg)
{
	const h2o_headers_t *hs = &c->req->res.headers;

	for (size_t i = 0; i < hs->size; i++)
		fn(arg, (struct gw_str){ hs->entries[i].name->base, hs->entries[i].name->len },
		   (struct gw_str){ hs->entries[i].value.base, hs->entries[i].value.len });
}

void gw_ctx_set_consumer(struct gw_ctx *c, const char *id)
{
	c->consumer = h2o_strdup(&c->req->pool, id, strlen(id)).base;
}

const char *gw_ctx_consumer(struct gw_ctx *c)
{
	return c->consumer;
}

struct gw_ctx_data {
	struct gw_ctx_data *next;
	const void *key;
	void *data;
};

void gw_ctx_set_data(struct gw_ctx *c, const void *key, void *data)
{
	struct gw_ctx_data *d;

	for (d = c->data; d; d = d->next)
		if (d->key == key) {
			d->data = data;
			return;
		}
	d = h2o_mem_alloc_pool(&c->req->pool, sizeof(*d));
	*d = (struct gw_ctx_data){ c->data, key, data };
	c->data = d;
}

void *gw_ctx_data(struct gw_ctx *c, const void *key)
{
	for (struct gw_ctx_data *d = c->data; d; d = d->next)
		if (d->key == key)
			return d->data;
	return NULL;
}

struct done_cb {
	void (*cb)(void *data);
	void *data;
};

static void on_done_dispose(void *p)
{
	struct done_cb *d = p;

	d->cb(d->data);
}

void gw_ctx_on_done(struct gw_ctx *c, void (*cb)(void *data), void *data)
{
	struct done_cb *d = h2o_mem_alloc_shared(&c->req->pool, sizeof(*d), on_done_dispose);

	d->cb = cb;
	d->data = data;
}

bool gw_ctx_body_buffered(struct gw_ctx *c)
{
	return c->buffer_whole;
}

struct gw_worker *gw_ctx_waker(struct gw_ctx *c)
{
	return c->w;
}

void gw_ctx_respond(struct gw_ctx *c, int status, const char *content_type, const char *body,
		    size_t len)
{
	h2o_req_t *req = c->req;
	h2o_iovec_t b;

	if (c->responded)
		return;
	c->responded = true;
	req->res.status = status;
	req->res.reason = "";
	if (content_type)
		h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, content_type,
			       strlen(content_type), 1);
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
			      c->reqid.base, c->reqid.len);
	run_on_response(c, c->policy_pos);
	b = h2o_strdup(&req->pool, body, len);
	req->res.content_length = b.len;
	h2o_send_inline(req, b.base, b.len);
}

void gw_ctx_error(struct gw_ctx *c, int status, const char *code, const char *message)
{
	char buf[512];
	size_t n = gw_error_json(buf, sizeof(buf), status, code, message);

	gw_ctx_respond(c, status, "application/json", buf, n);
}

void *gw_ctx_loop(struct gw_ctx *c)
{
	return c->w->loop;
}

unsigned gw_ctx_worker(struct gw_ctx *c)
{
	return c->w->slot;
}

_Static_assert(sizeof(h2o_timeout_entry_t) <= sizeof(((struct gw_timer *)0)->opaque),
	       "gw_timer.opaque must hold an h2o_timeout_entry_t");

static void on_gw_timer(h2o_timeout_entry_t *entry)
{
	struct gw_timer *t = (struct gw_timer *)entry;

	t->cb(t);
}

void gw_ctx_timer_start(struct gw_ctx *c, struct gw_timer *t, uint32_t ms)
{
	h2o_timeout_entry_t *e = (h2o_timeout_entry_t *)t->opaque;

	if (h2o_timeout_is_linked(e))
		h2o_timeout_unlink(e);
	*e = (h2o_timeout_entry_t){ .cb = on_gw_timer };
	h2o_timeout_link(c->w->loop, gw_timeout_get(&c->w->tmo, ms), e);
}

void gw_timer_stop(struct gw_timer *t)
{
	h2o_timeout_entry_t *e = (h2o_timeout_entry_t *)t->opaque;

	if (e->cb && h2o_timeout_is_linked(e))
		h2o_timeout_unlink(e);
}

void gw_ctx_on_abort(struct gw_ctx *c, void (*cb)(void *data), void *data)
{
	c->abort_cb = cb;
	c->abort_data = data;
}

struct gw_wlocal {
	struct gw_wlocal *next;
	void *obj;
	void (*destroy)(void *obj);
	char name[];
};

void *gw_ctx_worker_local(struct gw_ctx *c, const char *name, void *(*create)(void *loop, void *arg),
			  void (*destroy)(void *obj), void *arg)
{
	struct gw_worker *w = c->w;
	struct gw_wlocal *l;
	size_t n = strlen(name);

	for (l = w->locals; l; l = l->next)
		if (!strcmp(l->name, name))
			return l->obj;
	l = malloc(sizeof(*l) + n + 1);
	if (!l)
		return NULL;
	l->obj = create(w->loop, arg);
	if (!l->obj) {
		free(l);
		return NULL;
	}
	l->destroy = destroy;
	memcpy(l->name, name, n + 1);
	l->next = w->locals;
	w->locals = l;
	return l->obj;
}

void gw_worker_locals_destroy(struct gw_worker *w)
{
	struct gw_wlocal *l;

	while ((l = w->locals)) {
		w->locals = l->next;
		if (l->destroy)
			l->destroy(l->obj);
		free(l);
	}
}
