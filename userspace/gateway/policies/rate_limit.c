// SPDX-License-Identifier: GPL-2.0
/*
 * rate-limit: GCRA per key (consumer, client address, a header, or one key for the route),
 * either in this gateway's memory (exact across its workers) or shared by every gateway on a
 * Redis server. Config:
 *   {name: rate-limit, limit: 100, window: minute, burst: 100, key: consumer, header: X-Tenant,
 *    scope: shared-name, headers: true, policy: local | redis, max_keys: 65536,
 *    redis: {addr: 127.0.0.1:6379, password: ..., db: 0, timeout_ms: 100, prefix: "xdpgw:rl:",
 *            mode: strict | batched, batch: 10, sync_ms: 100, fail: open | closed}}
 * A refused request gets 429 with Retry-After and the IETF RateLimit-Policy / RateLimit
 * fields (draft-ietf-httpapi-ratelimit-headers); with headers: true admitted ones get them too.
 *
 * Redis strict mode runs one atomic script per request (exact). Batched mode decides locally
 * and reports to Redis in batches: an instance holds at most `batch` unreported admissions per
 * key and syncs each active key at least every sync_ms, so all instances together admit at
 * most instances x batch requests beyond the limit (docs/policies-auth.md). When Redis cannot
 * answer, `fail: open` admits and `fail: closed` answers 503; both are counted.
 */
/* Messages name bounded fields; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/policies/auth.h"
#include "gateway/policies/ratelimit.h"
#include "gateway/policies/redis_client.h"

#define STRIPES 64
#define PROBE 8
#define MAX_LIMIT 100000000u

/* ---- the in-memory table ---- */

struct rl_entry {
	uint64_t tat;		/* theoretical arrival time, us (monotonic clock) */
	uint64_t synced_us;	/* batched: last answer from Redis (0: never) */
	uint32_t pending;	/* batched: admitted here, not yet reported */
	uint8_t klen;
	bool used, syncing;
	char key[RL_KEY_MAX];
};

struct rl_stripe {
	pthread_mutex_t lock;
	struct rl_entry *e;	/* allocated on first use */
	uint32_t cap;
} __attribute__((aligned(64)));

struct rl_table {
	struct rl_table *next;	/* registry */
	int refs;		/* under reg_lock */
	char *id;
	uint64_t seed;
	atomic_uint_least64_t evictions;
	struct rl_stripe s[STRIPES];
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rl_table *tables;

struct rl_table *rl_table_get(const char *id, uint32_t max_keys)
{
	struct rl_table *t;
	uint32_t cap = (max_keys + STRIPES - 1) / STRIPES;

	pthread_mutex_lock(&reg_lock);
	for (t = tables; t; t = t->next)
		if (!strcmp(t->id, id)) {
			t->refs++;
			pthread_mutex_unlock(&reg_lock);
			return t;
		}
	t = aligned_alloc(64, sizeof(*t));
	if (t) {
		memset(t, 0, sizeof(*t));
		t->id = strdup(id);
	}
	if (!t || !t->id) {
		free(t);
		pthread_mutex_unlock(&reg_lock);
		return NULL;
	}
	t->refs = 1;
	if (RAND_bytes((unsigned char *)&t->seed, sizeof(t->seed)) != 1)
		t->seed = (uint64_t)time(NULL) ^ (uintptr_t)t;
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_init(&t->s[i].lock, NULL);
		t->s[i].cap = cap < PROBE ? PROBE : cap;
	}
	t->next = tables;
	tables = t;
	pthread_mutex_unlock(&reg_lock);
	return t;
}

void rl_table_put(struct rl_table *t)
{
	struct rl_table **pp;

	if (!t)
		return;
	pthread_mutex_lock(&reg_lock);
	if (--t->refs > 0) {
		pthread_mutex_unlock(&reg_lock);
		return;
	}
	for (pp = &tables; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	pthread_mutex_unlock(&reg_lock);
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_destroy(&t->s[i].lock);
		free(t->s[i].e);
	}
	free(t->id);
	free(t);
}

uint64_t rl_table_evictions(const struct rl_table *t)
{
	return atomic_load(&t->evictions);
}

static uint64_t key_hash(uint64_t seed, const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 31;
	h *= 0x7fb5d329728ea185ULL;
	return h ^ (h >> 27);
}

/* An entry that holds nothing worth keeping: a full bucket and nothing in flight. */
static bool idle(const struct rl_entry *e, uint64_t now)
{
	return !e->used || (e->tat <= now && !e->pending && !e->syncing);
}

/*
 * The key's entry in its stripe (locked by the caller), made when absent. When the probe
 * window is full of keys in debt, the one closest to a full bucket is pushed out (counted).
 */
static struct rl_entry *find(struct rl_table *t, struct rl_stripe *s, uint64_t h, const char *key,
			     size_t klen, uint64_t now)
{
	struct rl_entry *free_e = NULL, *victim = NULL;
	uint32_t i, start = (uint32_t)((h >> 8) % s->cap);

	if (!s->e) {
		s->e = calloc(s->cap, sizeof(*s->e));
		if (!s->e)
			return NULL;
	}
	for (i = 0; i < PROBE; i++) {
		struct rl_entry *e = &s->e[(start + i) % s->cap];

		if (e->used && e->klen == klen && !memcmp(e->key, key, klen))
			return e;
		if (!free_e && idle(e, now))
			free_e = e;
		if (!victim || e->tat < victim->tat)
			victim = e;
	}
	if (!free_e) {
		free_e = victim;
		atomic_fetch_add(&t->evictions, 1);
	}
	memset(free_e, 0, sizeof(*free_e));
	free_e->used = true;
	free_e->klen = (uint8_t)klen;
	memcpy(free_e->key, key, klen);
	return free_e;
}

static struct rl_stripe *stripe_of(struct rl_table *t, const char *key, size_t klen, uint64_t *h)
{
	*h = key_hash(t->seed, key, klen);
	return &t->s[*h % STRIPES];
}

struct rl_result rl_table_take(struct rl_table *t, const char *key, size_t klen, uint64_t now,
			       uint64_t T, uint64_t burst_us)
{
	struct rl_result r = { .allowed = true };
	struct rl_entry *e;
	uint64_t h;
	struct rl_stripe *s = stripe_of(t, key, klen, &h);

	pthread_mutex_lock(&s->lock);
	e = find(t, s, h, key, klen, now);
	if (e)
		r = rl_gcra(&e->tat, now, T, burst_us);
	pthread_mutex_unlock(&s->lock);
	return r;	/* without memory for the table: admitted (not counted against anyone) */
}

/* ---- the policy ---- */

enum key_kind { KEY_CONSUMER, KEY_IP, KEY_HEADER, KEY_GLOBAL };
enum mode { MODE_LOCAL, MODE_STRICT, MODE_BATCHED };

struct rate_limit {
	uint32_t limit, burst, window_s;
	uint64_t T, burst_us;
	enum key_kind key;
	char *header;
	bool headers;
	char *name;
	char policy_hdr[200];
	enum mode mode;
	struct rl_table *table;
	struct redis_conf redis;
	char *prefix;		/* redis key prefix + scope + ":" */
	size_t prefix_len;
	bool fail_open;
	uint32_t batch;
	uint64_t sync_us;
};

enum { R_ALLOWED, R_LIMITED, R_FAIL_OPEN, R_FAIL_CLOSED, R_COUNT };
static uint64_t decisions[R_COUNT];
static const char *const decision_names[R_COUNT] = { "allowed", "limited", "fail_open",
						     "fail_closed" };

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void rate_limit_free(void *p)
{
	struct rate_limit *rl = p;

	if (!rl)
		return;
	rl_table_put(rl->table);
	redis_conf_free(&rl->redis);
	free(rl->header);
	free(rl->name);
	free(rl->prefix);
	free(rl);
}

static int parse_window(const json_t *v, uint32_t *out, char *err, size_t errlen)
{
	static const struct { const char *name; uint32_t s; } names[] = {
		{ "second", 1 }, { "minute", 60 }, { "hour", 3600 }, { "day", 86400 },
	};

	if (!v) {
		*out = 1;	/* per second */
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 86400) {
		*out = (uint32_t)json_integer_value(v);
		return 0;
	}
	for (size_t i = 0; json_is_string(v) && i < 4; i++)
		if (!strcmp(json_string_value(v), names[i].name)) {
			*out = names[i].s;
			return 0;
		}
	snprintf(err, errlen, ".window: must be second, minute, hour, day or 1-86400 seconds");
	return -EINVAL;
}

static int get_u32(const json_t *conf, const char *name, uint32_t min, uint32_t max, uint32_t def,
		   uint32_t *out, char *err, size_t errlen, const char *prefix)
{
	json_t *v = json_object_get(conf, name);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errlen, "%s.%s: must be an integer %u-%u", prefix, name, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int compile_key(struct rate_limit *rl, const json_t *conf, char *err, size_t errlen)
{
	json_t *k = json_object_get(conf, "key"), *h = json_object_get(conf, "header");
	const char *s = k ? json_string_value(k) : "consumer";

	if (!s) {
		snprintf(err, errlen, ".key: must be consumer, ip, header or global");
		return -EINVAL;
	}
	if (!strcmp(s, "consumer"))
		rl->key = KEY_CONSUMER;
	else if (!strcmp(s, "ip"))
		rl->key = KEY_IP;
	else if (!strcmp(s, "header"))
		rl->key = KEY_HEADER;
	else if (!strcmp(s, "global"))
		rl->key = KEY_GLOBAL;
	else {
		snprintf(err, errlen, ".key: unknown key \"%s\" (consumer, ip, header, global)", s);
		return -EINVAL;
	}
	if (rl->key == KEY_HEADER &&
	    (!json_is_string(h) || !json_string_length(h) || strpbrk(json_string_value(h), " :"))) {
		snprintf(err, errlen, ".header: needed with key: header (a header name)");
		return -EINVAL;
	}
	if (rl->key != KEY_HEADER && h) {
		snprintf(err, errlen, ".header: only used with key: header");
		return -EINVAL;
	}
	if (h)
		rl->header = strdup(json_string_value(h));
	return 0;
}

static int compile_redis(struct rate_limit *rl, const json_t *r, const char *scope, char *err,
			 size_t errlen)
{
	json_t *mode = json_object_get(r, "mode"), *fail = json_object_get(r, "fail");
	json_t *prefix = json_object_get(r, "prefix");
	const char *p;
	uint32_t sync_ms;

	if (!r) {
		snprintf(err, errlen, ".redis: needed with policy: redis ({addr: HOST:PORT})");
		return -EINVAL;
	}
	if (redis_conf_parse(r, &rl->redis, err, errlen))
		return -EINVAL;
	if (!mode || (json_is_string(mode) && !strcmp(json_string_value(mode), "strict")))
		rl->mode = MODE_STRICT;
	else if (json_is_string(mode) && !strcmp(json_string_value(mode), "batched"))
		rl->mode = MODE_BATCHED;
	else {
		snprintf(err, errlen, ".redis.mode: must be strict or batched");
		return -EINVAL;
	}
	if (fail && (!json_is_string(fail) || (strcmp(json_string_value(fail), "open") &&
					       strcmp(json_string_value(fail), "closed")))) {
		snprintf(err, errlen, ".redis.fail: must be open or closed");
		return -EINVAL;
	}
	rl->fail_open = !fail || !strcmp(json_string_value(fail), "open");
	if (get_u32(r, "batch", 1, 10000, 10, &rl->batch, err, errlen, ".redis") ||
	    get_u32(r, "sync_ms", 10, 60000, 100, &sync_ms, err, errlen, ".redis"))
		return -EINVAL;
	if (rl->mode == MODE_STRICT &&
	    (json_object_get(r, "batch") || json_object_get(r, "sync_ms"))) {
		snprintf(err, errlen, ".redis: batch and sync_ms are only used with mode: batched");
		return -EINVAL;
	}
	rl->sync_us = (uint64_t)sync_ms * 1000;
	if (prefix && (!json_is_string(prefix) || json_string_length(prefix) > 64)) {
		snprintf(err, errlen, ".redis.prefix: must be a string of at most 64 characters");
		return -EINVAL;
	}
	p = prefix ? json_string_value(prefix) : "xdpgw:rl:";
	rl->prefix_len = strlen(p) + strlen(scope) + 1;
	rl->prefix = malloc(rl->prefix_len + 1);
	if (!rl->prefix)
		return -ENOMEM;
	snprintf(rl->prefix, rl->prefix_len + 1, "%s%s:", p, scope);
	return 0;
}

static void *rate_limit_compile(const json_t *conf, const struct gw_policy_env *env, char *err,
				size_t errlen)
{
	static const char *const fields[] = { "limit", "window", "burst", "key", "header", "scope",
					      "headers", "policy", "redis", "max_keys", "id", NULL };
	struct rate_limit *rl = calloc(1, sizeof(*rl));
	json_t *pol = json_object_get(conf, "policy"), *hd = json_object_get(conf, "headers");
	json_t *scope = json_object_get(conf, "scope"), *id = json_object_get(conf, "id");
	char scope_buf[300];
	uint32_t max_keys;

	if (!rl)
		return NULL;
	if (auth_check_fields(conf, fields, false, err, errlen))
		goto fail;
	if (!json_object_get(conf, "limit")) {
		snprintf(err, errlen, ": missing field \"limit\"");
		goto fail;
	}
	if (get_u32(conf, "limit", 1, MAX_LIMIT, 0, &rl->limit, err, errlen, "") ||
	    parse_window(json_object_get(conf, "window"), &rl->window_s, err, errlen) ||
	    get_u32(conf, "burst", 1, MAX_LIMIT, rl->limit, &rl->burst, err, errlen, "") ||
	    get_u32(conf, "max_keys", 64, 10000000, 65536, &max_keys, err, errlen, "") ||
	    compile_key(rl, conf, err, errlen))
		goto fail;
	if ((uint64_t)rl->limit > (uint64_t)rl->window_s * 1000000) {
		snprintf(err, errlen, ".limit: at most one request per microsecond of the window");
		goto fail;
	}
	rl->T = (uint64_t)rl->window_s * 1000000 / rl->limit;
	rl->burst_us = rl->T * rl->burst;
	if (hd && !json_is_boolean(hd)) {
		snprintf(err, errlen, ".headers: must be true or false");
		goto fail;
	}
	rl->headers = !hd || json_is_true(hd);
	if (scope && (!json_is_string(scope) || !auth_valid_id(json_string_value(scope)))) {
		snprintf(err, errlen, ".scope: must be 1-127 characters of A-Z a-z 0-9 . _ - @ :");
		goto fail;
	}
	if (id && (!json_is_string(id) || !auth_valid_id(json_string_value(id)))) {
		snprintf(err, errlen, ".id: must be 1-127 characters of A-Z a-z 0-9 . _ - @ :");
		goto fail;
	}
	/* State outlives config versions: it is named by the scope, or by route and position. */
	if (scope)
		snprintf(scope_buf, sizeof(scope_buf), "%s", json_string_value(scope));
	else
		snprintf(scope_buf, sizeof(scope_buf), "%s.%zu", env->route ? env->route : "-",
			 env->index);
	rl->name = strdup(id ? json_string_value(id) : scope ? json_string_value(scope) : "default");
	snprintf(rl->policy_hdr, sizeof(rl->policy_hdr), "\"%s\";q=%u;w=%u", rl->name, rl->limit,
		 rl->window_s);
	if (!pol || (json_is_string(pol) && !strcmp(json_string_value(pol), "local"))) {
		rl->mode = MODE_LOCAL;
		if (json_object_get(conf, "redis")) {
			snprintf(err, errlen, ".redis: only used with policy: redis");
			goto fail;
		}
	} else if (json_is_string(pol) && !strcmp(json_string_value(pol), "redis")) {
		if (compile_redis(rl, json_object_get(conf, "redis"), scope_buf, err, errlen))
			goto fail;
	} else {
		snprintf(err, errlen, ".policy: must be local or redis");
		goto fail;
	}
	if (rl->mode != MODE_STRICT) {
		rl->table = rl_table_get(scope_buf, max_keys);
		if (!rl->table)
			goto fail;
	}
	return rl;
fail:
	rate_limit_free(rl);
	return NULL;
}

/* ---- answers ---- */

static size_t fmt_u64(char *p, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

static void add_headers(struct gw_ctx *c, struct rate_limit *rl, const struct rl_result *r)
{
	char buf[256];
	size_t n = 0, nl = strlen(rl->name);

	gw_ctx_resp_header_add(c, "ratelimit-policy", rl->policy_hdr, strlen(rl->policy_hdr));
	if (nl > 128)
		nl = 128;
	buf[n++] = '"';
	memcpy(buf + n, rl->name, nl);
	n += nl;
	memcpy(buf + n, "\";r=", 4);
	n += 4;
	n += fmt_u64(buf + n, r->remaining);
	memcpy(buf + n, ";t=", 3);
	n += 3;
	n += fmt_u64(buf + n, (r->reset_us + 999999) / 1000000);
	gw_ctx_resp_header_add(c, "ratelimit", buf, n);
}

static void count(int what)
{
	__atomic_fetch_add(&decisions[what], 1, __ATOMIC_RELAXED);
}

static enum gw_policy_verdict decide(struct gw_ctx *c, struct rate_limit *rl,
				     const struct rl_result *r)
{
	char ra[24];
	size_t n;

	if (r->allowed) {
		count(R_ALLOWED);
		if (rl->headers)
			add_headers(c, rl, r);
		return GW_POLICY_CONTINUE;
	}
	count(R_LIMITED);
	n = fmt_u64(ra, (r->retry_us + 999999) / 1000000);
	gw_ctx_resp_header_set(c, "retry-after", ra, n);
	add_headers(c, rl, r);
	gw_ctx_error(c, 429, "too_many_requests", "the rate limit of this route is exceeded");
	return GW_POLICY_RESPONDED;
}

static enum gw_policy_verdict fail_mode(struct gw_ctx *c, struct rate_limit *rl)
{
	if (rl->fail_open) {
		count(R_FAIL_OPEN);
		return GW_POLICY_CONTINUE;
	}
	count(R_FAIL_CLOSED);
	gw_ctx_resp_header_set(c, "retry-after", "1", 1);
	gw_ctx_error(c, 503, "rate_limit_unavailable", "the rate limiter cannot decide right now");
	return GW_POLICY_RESPONDED;
}

/* ---- keys ---- */

/* The request's key: "c:ID", "i:ADDR", "h:VALUE" or "g"; long ones as "s:" + SHA-256. */
static size_t build_key(struct gw_ctx *c, struct rate_limit *rl, char *out)
{
	const char *v = NULL, *tag = "i:";
	size_t n = 0;
	struct gw_str h;

	switch (rl->key) {
	case KEY_GLOBAL:
		out[0] = 'g';
		return 1;
	case KEY_CONSUMER:
		if ((v = gw_ctx_consumer(c))) {
			tag = "c:";
			n = strlen(v);
		}
		break;
	case KEY_HEADER:
		if (gw_ctx_req_header(c, rl->header, &h) && h.len) {
			tag = "h:";
			v = h.p;
			n = h.len;
		}
		break;
	case KEY_IP:
		break;
	}
	if (!v) {		/* no consumer or header: the client address */
		v = gw_ctx_client(c);
		n = strlen(v);
	}
	if (n + 2 > RL_KEY_MAX) {
		out[0] = 's';
		out[1] = ':';
		auth_sha256(v, n, (uint8_t *)out + 2);
		return 34;
	}
	memcpy(out, tag, 2);
	memcpy(out + 2, v, n);
	return n + 2;
}

/* ---- Redis ---- */

struct rl_call {
	struct gw_ctx *c;		/* NULL for a background sync */
	struct rate_limit *rl;		/* valid while c is (the request holds the config) */
	struct rl_table *table;		/* batched: a reference, for the update */
	struct redis_op *op;
	uint64_t T, burst_us, sent_us;
	uint32_t reported;		/* batched: admissions reported by this call */
	size_t klen;
	char key[RL_KEY_MAX];
};

static void call_free(struct rl_call *call)
{
	rl_table_put(call->table);
	free(call);
}

/* Batched: folds Redis's answer into the local entry (debt is the global one). */
static void batch_update(struct rl_call *call, int err, uint64_t debt)
{
	struct rl_table *t = call->table;
	struct rl_stripe *s;
	struct rl_entry *e;
	uint64_t h, now = now_us();

	if (!t)
		return;
	s = stripe_of(t, call->key, call->klen, &h);
	pthread_mutex_lock(&s->lock);
	e = find(t, s, h, call->key, call->klen, now);
	if (e) {
		if (call->reported)
			e->syncing = false;
		if (err) {
			e->pending += call->reported;	/* report them with the next sync */
		} else {
			/* Redis's view, plus what was admitted here since the call left. */
			e->tat = now + debt + (uint64_t)e->pending * call->T;
			e->synced_us = now;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static void on_redis(void *arg, int err, bool allowed, uint64_t debt)
{
	struct rl_call *call = arg;
	struct gw_ctx *c = call->c;
	enum gw_policy_verdict v;

	batch_update(call, err, debt);
	if (!c) {
		call_free(call);
		return;
	}
	gw_ctx_on_abort(c, NULL, NULL);
	if (err) {
		v = fail_mode(c, call->rl);
	} else {
		struct rl_result r = rl_from_debt(allowed, debt, call->T, call->burst_us);

		v = decide(c, call->rl, &r);
	}
	call_free(call);
	gw_ctx_resume(c, v);
}

static void on_abort(void *data)
{
	struct rl_call *call = data;

	redis_op_cancel(call->op);
	call_free(call);
}

static struct rl_call *call_new(struct gw_ctx *c, struct rate_limit *rl, const char *key,
				size_t klen)
{
	struct rl_call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->c = c;
	call->rl = rl;
	call->T = rl->T;
	call->burst_us = rl->burst_us;
	call->klen = klen;
	memcpy(call->key, key, klen);
	if (rl->table) {
		call->table = rl->table;
		pthread_mutex_lock(&reg_lock);
		rl->table->refs++;
		pthread_mutex_unlock(&reg_lock);
	}
	return call;
}

/* Sends the script for call; returns 0 or a negative errno (call freed). */
static int call_send(struct gw_ctx *c, struct rate_limit *rl, struct rl_call *call, uint32_t cost)
{
	struct redis_conn *conn = redis_conn_get(c, &rl->redis);
	char *rkey = gw_ctx_alloc(c, rl->prefix_len + call->klen);
	int ret;

	memcpy(rkey, rl->prefix, rl->prefix_len);
	memcpy(rkey + rl->prefix_len, call->key, call->klen);
	ret = conn ? redis_gcra(conn, rkey, rl->prefix_len + call->klen, rl->T, rl->burst_us, cost,
				call->reported, on_redis, call, &call->op)
		   : -ENOMEM;
	if (ret) {
		if (call->reported)
			batch_update(call, ret, 0);
		call_free(call);
	}
	return ret;
}

static enum gw_policy_verdict strict(struct gw_ctx *c, struct rate_limit *rl, const char *key,
				     size_t klen)
{
	struct rl_call *call = call_new(c, rl, key, klen);

	if (!call || call_send(c, rl, call, 1))
		return fail_mode(c, rl);
	gw_ctx_on_abort(c, on_abort, call);
	return GW_POLICY_ASYNC;
}

/*
 * Batched: decide here while this instance holds fewer than `batch` unreported admissions for
 * the key and has heard from Redis about it; report in the background when the batch fills or
 * the key's view is older than sync_ms; otherwise ask Redis (strict) for this request.
 */
static enum gw_policy_verdict batched(struct gw_ctx *c, struct rate_limit *rl, const char *key,
				      size_t klen)
{
	struct rl_table *t = rl->table;
	struct rl_result r = { .allowed = true };
	struct rl_entry *e;
	struct rl_stripe *s;
	uint32_t report = 0;
	uint64_t h, now = now_us();
	bool local = false;

	s = stripe_of(t, key, klen, &h);
	pthread_mutex_lock(&s->lock);
	e = find(t, s, h, key, klen, now);
	if (e && e->synced_us && e->pending < rl->batch) {
		local = true;
		r = rl_gcra(&e->tat, now, rl->T, rl->burst_us);
		if (r.allowed)
			e->pending++;
		if (!e->syncing && e->pending &&
		    (e->pending >= rl->batch || now - e->synced_us >= rl->sync_us)) {
			e->syncing = true;
			report = e->pending;
			e->pending = 0;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (report) {
		struct rl_call *call = call_new(NULL, rl, key, klen);

		if (call) {
			call->reported = report;
			call_send(c, rl, call, 0);
		} else {
			batch_update(&(struct rl_call){ .table = t, .reported = report, .T = rl->T,
							.klen = klen }, -ENOMEM, 0);
		}
	}
	if (local)
		return decide(c, rl, &r);
	return strict(c, rl, key, klen);
}

static enum gw_policy_verdict rate_limit_request(void *inst, struct gw_ctx *c)
{
	struct rate_limit *rl = inst;
	char key[RL_KEY_MAX];
	size_t klen = build_key(c, rl, key);

	if (rl->mode == MODE_LOCAL) {
		struct rl_result r = rl_table_take(rl->table, key, klen, now_us(), rl->T,
						   rl->burst_us);

		return decide(c, rl, &r);
	}
	if (rl->mode == MODE_STRICT)
		return strict(c, rl, key, klen);
	return batched(c, rl, key, klen);
}

static void rate_limit_metrics(FILE *out)
{
	struct rl_table *t;
	uint64_t ev = 0;

	fprintf(out, "# HELP xdpgw_gateway_ratelimit_total Rate-limit decisions by result "
		     "(fail_open/fail_closed: Redis could not answer).\n"
		     "# TYPE xdpgw_gateway_ratelimit_total counter\n");
	for (int i = 0; i < R_COUNT; i++)
		fprintf(out, "xdpgw_gateway_ratelimit_total{result=\"%s\"} %llu\n",
			decision_names[i],
			(unsigned long long)__atomic_load_n(&decisions[i], __ATOMIC_RELAXED));
	pthread_mutex_lock(&reg_lock);
	for (t = tables; t; t = t->next)
		ev += rl_table_evictions(t);
	pthread_mutex_unlock(&reg_lock);
	fprintf(out, "# HELP xdpgw_gateway_ratelimit_evictions_total Keys pushed out of full "
		     "in-memory rate-limit tables while still limited.\n"
		     "# TYPE xdpgw_gateway_ratelimit_evictions_total counter\n"
		     "xdpgw_gateway_ratelimit_evictions_total %llu\n",
		(unsigned long long)ev);
	redis_metrics(out);
}

static const struct gw_policy_ops rate_limit_ops = {
	.name = "rate-limit",
	.compile = rate_limit_compile,
	.free = rate_limit_free,
	.on_request = rate_limit_request,
	.metrics = rate_limit_metrics,
};

GW_POLICY_REGISTER(rate_limit_ops)
