// SPDX-License-Identifier: GPL-2.0
/*
 * cache: a response cache per route, shared by every worker. Config:
 *   {name: cache, ttl_ms: 60000, max_bytes: 67108864, max_object_bytes: 1048576,
 *    statuses: [200, 203, 300, 301, 404, 410], per_consumer: false,
 *    stale_if_error_ms: 0, coalesce: true, lock_timeout_ms: 10000}
 * GET responses are stored (HEAD is answered from them), keyed by host, path, query and the
 * request headers the response's Vary names. The TTL is the response's s-maxage, else its
 * max-age (less its Age), else ttl_ms. Responses with no-store, no-cache, private, Set-Cookie
 * or Vary: * are not stored; requests with credentials (Authorization, Cookie, or a consumer
 * set by an authentication policy earlier in the route) bypass the cache unless per_consumer,
 * which keys entries by consumer. Concurrent misses for one key wait for the first one's
 * response (at most lock_timeout_ms). Answers carry X-Cache: HIT, MISS or STALE and Age.
 * The cache stores the response as the policies after it in the route left it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/gw.h"
#include "gateway/policies/cache_store.h"
#include "lib/log.h"

#define DEFAULT_MAX_BYTES (64u << 20)
#define DEFAULT_MAX_OBJECT (1u << 20)
#define MAX_HEADERS_STORED 64

struct cache_policy {
	struct cache_store *store;
	uint64_t ttl_ms, stale_ms;
	uint32_t lock_timeout_ms;
	size_t max_object;
	uint8_t statuses[600 / 8];	/* bit per status code */
	bool per_consumer, coalesce;
};

/* Per request, from the request's pool. */
struct cache_req {
	struct cache_policy *cp;
	struct gw_ctx *c;
	char *primary, *key;
	size_t plen, key_len, path_off, path_len;
	bool is_head, served, want_body;
	struct cache_fill *fill;	/* this request fetches for the others */
	struct cache_entry *stale;	/* for stale-if-error */
	struct waiter *waiter;
};

/* A request waiting for another one's fill; malloc'ed: a wake-up may outlive the request. */
struct waiter {
	struct cache_waiter base;
	struct gw_worker *worker;
	struct cache_req *cr;	/* NULL once the request is gone */
	struct gw_timer timer;
};

static bool status_cacheable(const struct cache_policy *cp, int status)
{
	return status >= 0 && status < 600 && (cp->statuses[status / 8] >> (status % 8)) & 1;
}

/* ---- config ---- */

static int get_u64(const json_t *conf, const char *key, uint64_t min, uint64_t max, uint64_t def,
		   uint64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(conf, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
	    (uint64_t)json_integer_value(v) > max) {
		snprintf(err, errlen, ".%s: must be an integer %llu-%llu", key,
			 (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_bool(const json_t *conf, const char *key, bool def, bool *out, char *err,
		    size_t errlen)
{
	json_t *v = json_object_get(conf, key);

	*out = v ? json_is_true(v) : def;
	if (v && !json_is_boolean(v)) {
		snprintf(err, errlen, ".%s: must be true or false", key);
		return -EINVAL;
	}
	return 0;
}

static void cache_free(void *p)
{
	struct cache_policy *cp = p;

	if (!cp)
		return;
	cache_store_put(cp->store);
	free(cp);
}

static void *cache_compile(const json_t *conf, const struct gw_policy_env *env, char *err,
			   size_t errlen)
{
	static const char *const fields[] = { "ttl_ms", "max_bytes", "max_object_bytes", "statuses",
		"per_consumer", "stale_if_error_ms", "coalesce", "lock_timeout_ms", NULL };
	static const int default_statuses[] = { 200, 203, 300, 301, 404, 410 };
	struct cache_policy *cp = calloc(1, sizeof(*cp));
	json_t *st = json_object_get(conf, "statuses"), *v;
	uint64_t max_bytes, max_object, lock_ms;
	const char *key;
	size_t i;

	if (!cp) {
		snprintf(err, errlen, ": out of memory");
		return NULL;
	}
	json_object_foreach((json_t *)conf, key, v) {
		const char *const *k;

		for (k = fields; *k && strcmp(*k, key); k++)
			;
		if (!*k) {
			snprintf(err, errlen, ": unknown field \"%s\"", key);
			goto fail;
		}
	}
	if (get_u64(conf, "ttl_ms", 0, 365ULL * 86400000, 60000, &cp->ttl_ms, err, errlen) ||
	    get_u64(conf, "max_bytes", 4096, 1ULL << 40, DEFAULT_MAX_BYTES, &max_bytes, err, errlen) ||
	    get_u64(conf, "max_object_bytes", 1, 64u << 20, DEFAULT_MAX_OBJECT, &max_object, err,
		    errlen) ||
	    get_u64(conf, "stale_if_error_ms", 0, 365ULL * 86400000, 0, &cp->stale_ms, err, errlen) ||
	    get_u64(conf, "lock_timeout_ms", 10, 600000, 10000, &lock_ms, err, errlen) ||
	    get_bool(conf, "per_consumer", false, &cp->per_consumer, err, errlen) ||
	    get_bool(conf, "coalesce", true, &cp->coalesce, err, errlen))
		goto fail;
	if (max_object > max_bytes / 2) {
		snprintf(err, errlen, ".max_object_bytes: must be at most half of max_bytes (%llu)",
			 (unsigned long long)max_bytes / 2);
		goto fail;
	}
	cp->max_object = max_object;
	cp->lock_timeout_ms = lock_ms;
	if (st && (!json_is_array(st) || !json_array_size(st))) {
		snprintf(err, errlen, ".statuses: must be a non-empty list of status codes");
		goto fail;
	}
	json_array_foreach(st, i, v) {
		json_int_t code = json_integer_value(v);

		if (!json_is_integer(v) || code < 200 || code > 599 || code == 206) {
			snprintf(err, errlen, ".statuses[%zu]: must be a status code 200-599 but 206",
				 i);
			goto fail;
		}
		cp->statuses[code / 8] |= 1 << (code % 8);
	}
	if (!st)
		for (i = 0; i < sizeof(default_statuses) / sizeof(default_statuses[0]); i++)
			cp->statuses[default_statuses[i] / 8] |= 1 << (default_statuses[i] % 8);
	/* The store outlives config versions: same route and size, same cached responses. */
	cp->store = cache_store_get(env->route, max_bytes);
	if (!cp->store) {
		snprintf(err, errlen, ": out of memory");
		goto fail;
	}
	return cp;
fail:
	cache_free(cp);
	return NULL;
}

/* ---- serving ---- */

static bool get_req_header(void *arg, const char *name, const char **v, size_t *len)
{
	struct gw_str s;

	if (!gw_ctx_req_header(arg, name, &s))
		return false;
	*v = s.p;
	*len = s.len;
	return true;
}

static void serve(struct cache_req *cr, const struct cache_entry *e, const char *xcache)
{
	struct gw_ctx *c = cr->c;
	uint64_t now = gw_now_ms();
	char age[24];
	int n;

	for (size_t i = 0; i < e->nhdrs; i++)
		gw_ctx_resp_header_add(c, e->hdrs[i].name, e->hdrs[i].value, e->hdrs[i].value_len);
	gw_ctx_resp_header_set(c, "x-cache", xcache, strlen(xcache));
	n = snprintf(age, sizeof(age), "%llu",
		     (unsigned long long)(e->age_base +
					  (now > e->created_ms ? (now - e->created_ms) / 1000 : 0)));
	gw_ctx_resp_header_set(c, "age", age, n);
	cr->served = true;
	gw_ctx_respond(c, e->status, NULL, e->body, e->body_len);
}

static void end_fill(struct cache_req *cr, struct cache_entry *e, const char *vary)
{
	if (!cr->fill && !e)
		return;
	cache_store_end(cr->cp->store, cr->fill, e, vary, cr->plen, gw_now_ms());
	cr->fill = NULL;
}

static void on_wake(void *arg);
static void on_wait_timeout(struct gw_timer *t);
static void on_wait_abort(void *arg);

static void wake_cb(struct cache_waiter *base)
{
	struct waiter *w = (struct waiter *)base;

	/* Under the store lock, on the fetching request's thread: hop to the waiter's. A worker
	 * that is gone (-ESRCH) was given up with this request open: its memory stays. */
	int err = gw_worker_post(w->worker, on_wake, w);

	if (err && err != -ESRCH)
		log_error("gateway: cache: cannot wake a waiting request (out of memory)");
}

/*
 * Looks the request up and decides: answered from the cache, waiting for another request's
 * fetch, or going upstream (maybe fetching for others).
 */
static enum gw_policy_verdict lookup(struct cache_req *cr, bool may_wait)
{
	struct cache_policy *cp = cr->cp;
	char key[CACHE_MAX_KEY];
	struct cache_entry *e;
	struct cache_fill *fill;
	struct waiter *w = NULL;
	enum cache_result r;
	bool wait = may_wait && cp->coalesce;

	for (;;) {
		r = cache_store_begin(cp->store, cr->primary, cr->plen, get_req_header, cr->c,
				      gw_now_ms(), !cr->is_head, wait, w ? &w->base : NULL, key,
				      &cr->key_len, &e, &fill);
		if (r != CACHE_BUSY)
			break;
		/* Someone fetches this key: wait for it (allocated only now, off the hit path). */
		if (!(w = calloc(1, sizeof(*w)))) {
			wait = false;
			continue;
		}
		w->base.wake = wake_cb;
		w->worker = gw_ctx_waker(cr->c);
		w->cr = cr;
	}
	if (r == CACHE_WAIT) {
		cr->waiter = w;
		w->timer.cb = on_wait_timeout;
		w->timer.data = w;
		gw_ctx_timer_start(cr->c, &w->timer, cp->lock_timeout_ms);
		gw_ctx_on_abort(cr->c, on_wait_abort, w);
		return GW_POLICY_ASYNC;
	}
	free(w);
	if (r == CACHE_HIT) {
		serve(cr, e, "HIT");
		cache_entry_put(e);
		return GW_POLICY_RESPONDED;
	}
	cr->key = gw_ctx_alloc(cr->c, cr->key_len);
	memcpy(cr->key, key, cr->key_len);
	cr->fill = fill;
	cache_entry_put(cr->stale);
	cr->stale = cp->stale_ms ? e : NULL;
	if (!cp->stale_ms)
		cache_entry_put(e);
	return GW_POLICY_CONTINUE;
}

/* On the waiting request's worker: the fetch ended; look again (a hit, or go upstream). */
static void on_wake(void *arg)
{
	struct waiter *w = arg;
	struct cache_req *cr = w->cr;

	if (!cr) {		/* the request went away meanwhile */
		free(w);
		return;
	}
	gw_timer_stop(&w->timer);
	cr->waiter = NULL;
	free(w);
	gw_ctx_resume(cr->c, lookup(cr, false));
}

static void on_wait_timeout(struct gw_timer *t)
{
	struct waiter *w = t->data;
	struct cache_req *cr = w->cr;

	if (!cache_store_cancel_wait(cr->cp->store, &w->base))
		return;		/* woken already: on_wake is on its way */
	cr->waiter = NULL;
	free(w);
	gw_ctx_resume(cr->c, lookup(cr, false));
}

static void on_wait_abort(void *arg)
{
	struct waiter *w = arg;

	gw_timer_stop(&w->timer);
	w->cr->waiter = NULL;
	if (cache_store_cancel_wait(w->cr->cp->store, &w->base))
		free(w);
	else
		w->cr = NULL;	/* on_wake frees it */
}

static void cache_done(void *arg)
{
	struct cache_req *cr = arg;

	end_fill(cr, NULL, NULL);
	cache_entry_put(cr->stale);
	cr->stale = NULL;
}

/* ---- hooks ---- */

static bool credentialed(struct gw_ctx *c)
{
	struct gw_str v;

	return gw_ctx_consumer(c) || gw_ctx_req_header(c, "authorization", &v) ||
	       gw_ctx_req_header(c, "cookie", &v) || gw_ctx_req_header(c, "proxy-authorization", &v);
}

static enum gw_policy_verdict cache_request(void *inst, struct gw_ctx *c)
{
	struct cache_policy *cp = inst;
	struct gw_str m = gw_ctx_method(c), host = gw_ctx_host(c), path = gw_ctx_req_path(c);
	const char *consumer = gw_ctx_consumer(c);
	struct cache_req *cr;
	char primary[CACHE_MAX_KEY];
	bool head = m.len == 4 && !memcmp(m.p, "HEAD", 4);
	size_t plen, poff, pathlen;

	if (!head && !(m.len == 3 && !memcmp(m.p, "GET", 3)))
		return GW_POLICY_CONTINUE;
	plen = 0;
	if (!credentialed(c) || (cp->per_consumer && consumer))
		plen = cache_key_primary(primary, sizeof(primary) / 2, host.p, host.len, path.p,
					 path.len, cp->per_consumer ? consumer : NULL, &poff,
					 &pathlen);
	if (!plen) {
		/* Not looked up (credentials, key too long): a MISS that stores nothing. */
		cache_store_inc(cp->store, CACHE_CTR_BYPASS);
		cr = gw_ctx_alloc(c, sizeof(*cr));
		memset(cr, 0, sizeof(*cr));
		gw_ctx_set_data(c, cp, cr);
		return GW_POLICY_CONTINUE;
	}
	cr = gw_ctx_alloc(c, sizeof(*cr) + plen);
	memset(cr, 0, sizeof(*cr));
	cr->cp = cp;
	cr->c = c;
	cr->is_head = head;
	cr->primary = (char *)(cr + 1);
	memcpy(cr->primary, primary, plen);
	cr->plen = plen;
	cr->path_off = poff;
	cr->path_len = pathlen;
	gw_ctx_set_data(c, cp, cr);
	gw_ctx_on_done(c, cache_done, cr);
	return lookup(cr, true);
}

static void cache_response(void *inst, struct gw_ctx *c)
{
	struct cache_req *cr = gw_ctx_data(c, inst);

	if (!cr || cr->served)
		return;
	gw_ctx_resp_header_set(c, "x-cache", "MISS", 4);
	/* The body will not reach on_body: let the waiting requests go now. */
	if (cr->fill && !(cr->want_body && gw_ctx_body_buffered(c)))
		end_fill(cr, NULL, NULL);
}

static size_t cache_body_wanted(void *inst, struct gw_ctx *c, bool *fail_oversize)
{
	struct cache_policy *cp = inst;
	struct cache_req *cr = gw_ctx_data(c, inst);
	struct gw_str v;
	struct cache_cc cc;

	if (!cr || cr->is_head || !cr->key || !status_cacheable(cp, gw_ctx_status(c)) ||
	    gw_ctx_resp_header(c, "set-cookie", &v))
		return 0;
	if (gw_ctx_resp_header(c, "cache-control", &v)) {
		cache_cc_parse(v.p, v.len, &cc);
		if (cc.no_store || cc.no_cache || cc.is_private)
			return 0;
	}
	cr->want_body = true;
	*fail_oversize = false;
	return cp->max_object;
}

struct collect {
	struct cache_hdr h[MAX_HEADERS_STORED];
	size_t n;
	bool overflow;
};

static void collect_header(void *arg, struct gw_str name, struct gw_str value)
{
	static const char *const skip[] = { "x-cache", "age", "x-request-id", "date", "server",
		"connection", "keep-alive", "transfer-encoding", "content-length", NULL };
	struct collect *col = arg;

	for (const char *const *s = skip; *s; s++)
		if (name.len == strlen(*s) && !strncasecmp(name.p, *s, name.len))
			return;
	if (col->n == MAX_HEADERS_STORED) {
		col->overflow = true;
		return;
	}
	col->h[col->n++] = (struct cache_hdr){ name.p, value.p, name.len, value.len };
}

/* The TTL for this response in ms (0: do not store), and its Vary names in vary. */
static uint64_t response_ttl(struct cache_policy *cp, struct gw_ctx *c, char *vary, size_t cap,
			     bool *has_vary, uint32_t *age)
{
	struct gw_str v;
	struct cache_cc cc = { .max_age = -1, .s_maxage = -1 };
	long secs = -1;

	*has_vary = false;
	*age = 0;
	if (!status_cacheable(cp, gw_ctx_status(c)) || gw_ctx_resp_header(c, "set-cookie", &v))
		return 0;
	if (gw_ctx_resp_header(c, "cache-control", &v)) {
		cache_cc_parse(v.p, v.len, &cc);
		if (cc.no_store || cc.no_cache || cc.is_private)
			return 0;
	}
	if (gw_ctx_resp_header(c, "vary", &v)) {
		long n = cache_vary_names(v.p, v.len, vary, cap);

		if (n < 0)
			return 0;
		*has_vary = n > 0;
	}
	if (gw_ctx_resp_header(c, "age", &v)) {
		char buf[16];

		snprintf(buf, sizeof(buf), "%.*s", (int)(v.len < 15 ? v.len : 15), v.p);
		*age = (uint32_t)strtoul(buf, NULL, 10);
	}
	secs = cc.s_maxage >= 0 ? cc.s_maxage : cc.max_age;
	if (secs < 0)
		return cp->ttl_ms;
	return secs > (long)*age ? (uint64_t)(secs - *age) * 1000 : 0;
}

static int cache_body(void *inst, struct gw_ctx *c, const char **body, size_t *len)
{
	struct cache_policy *cp = inst;
	struct cache_req *cr = gw_ctx_data(c, inst);
	char vary[CACHE_MAX_VARY], key[CACHE_MAX_KEY];
	struct collect col = { .n = 0 };
	struct cache_object o;
	struct cache_entry *e = NULL;
	bool has_vary;
	uint32_t age;
	uint64_t ttl;
	size_t klen;

	if (!cr || !cr->key)
		return 0;
	ttl = response_ttl(cp, c, vary, sizeof(vary), &has_vary, &age);
	gw_ctx_resp_header_foreach(c, collect_header, &col);
	memcpy(key, cr->primary, cr->plen);
	klen = has_vary ? cache_key_vary(key, sizeof(key), cr->plen, vary, get_req_header, c)
			: cr->plen;
	if (ttl && klen && !col.overflow && *len <= cp->max_object) {
		o = (struct cache_object){ key, klen, cr->path_off, cr->path_len, gw_ctx_status(c),
					   col.h, col.n, *body, *len, gw_now_ms(), ttl,
					   cp->stale_ms, age };
		e = cache_entry_new(&o);
	}
	end_fill(cr, e, has_vary ? vary : NULL);
	cache_entry_put(e);
	return 0;
}

static bool cache_upstream_error(void *inst, struct gw_ctx *c, int status)
{
	struct cache_policy *cp = inst;
	struct cache_req *cr = gw_ctx_data(c, inst);

	if (!cr || !cr->stale)
		return false;
	cache_store_inc(cp->store, CACHE_CTR_STALE);
	end_fill(cr, NULL, NULL);
	serve(cr, cr->stale, "STALE");
	return true;
}

/* ---- metrics ---- */

struct metric {
	const char *name, *type, *help;
	size_t off;
};

static const struct metric metrics[] = {
	{ "hits_total", "counter", "Requests answered from the cache.",
	  offsetof(struct cache_stats, hits) },
	{ "misses_total", "counter", "Cacheable requests that went upstream.",
	  offsetof(struct cache_stats, misses) },
	{ "stale_total", "counter", "Upstream failures answered with a stale copy.",
	  offsetof(struct cache_stats, stale) },
	{ "evictions_total", "counter", "Entries evicted to stay within max_bytes.",
	  offsetof(struct cache_stats, evictions) },
	{ "stored_total", "counter", "Responses stored.", offsetof(struct cache_stats, stored) },
	{ "purged_total", "counter", "Entries removed by purge.",
	  offsetof(struct cache_stats, purged) },
	{ "coalesced_total", "counter", "Misses that waited for another request's fetch.",
	  offsetof(struct cache_stats, coalesced) },
	{ "bypass_total", "counter", "Requests not looked up (credentials, key too long).",
	  offsetof(struct cache_stats, bypass) },
	{ "entries", "gauge", "Entries in the cache.", offsetof(struct cache_stats, entries) },
	{ "bytes", "gauge", "Bytes the entries use.", offsetof(struct cache_stats, bytes) },
};

struct metrics_arg {
	FILE *out;
	const struct metric *m;
};

static void metric_line(const char *route, const struct cache_stats *st, void *arg)
{
	struct metrics_arg *a = arg;

	fprintf(a->out, "xdpgw_gateway_cache_%s{route=\"%s\"} %llu\n", a->m->name, route,
		(unsigned long long)*(const uint64_t *)((const char *)st + a->m->off));
}

static void cache_metrics(FILE *out)
{
	for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		struct metrics_arg a = { out, &metrics[i] };

		fprintf(out, "# HELP xdpgw_gateway_cache_%s %s\n# TYPE xdpgw_gateway_cache_%s %s\n",
			metrics[i].name, metrics[i].help, metrics[i].name, metrics[i].type);
		cache_foreach(metric_line, &a);
	}
}

static const struct gw_policy_ops cache_ops = {
	.name = "cache",
	.flags = GW_POLICY_WANTS_BODY,
	.compile = cache_compile,
	.free = cache_free,
	.on_request = cache_request,
	.on_response = cache_response,
	.on_body = cache_body,
	.metrics = cache_metrics,
	.body_wanted = cache_body_wanted,
	.on_upstream_error = cache_upstream_error,
};

GW_POLICY_REGISTER(cache_ops)
