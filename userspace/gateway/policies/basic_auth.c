// SPDX-License-Identifier: GPL-2.0
/*
 * basic-auth (RFC 7617): user name and password checked against the consumer's crypt(3) hash
 * (yescrypt, bcrypt, SHA-crypt) with libcrypt's crypt_r. A password hash costs milliseconds to
 * hundreds of milliseconds by design, so it never runs on a worker: a small pool of checker
 * threads does it and wakes the worker through an eventfd on its loop. Successful checks are
 * remembered per config (keyed by a salted SHA-256 of user and password) for cache_ttl_s, so
 * a client pays the hash once. An unknown user costs the same hash (against another
 * consumer's) as a known one, so timing does not tell which user names exist. Config:
 *   {name: basic-auth, cache_ttl_s: 300, hide_credentials: true, realm: api}
 * Failure: 401 with `WWW-Authenticate: Basic realm="...", charset="UTF-8"`; 503 when the
 * checker queue is full.
 */
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <h2o.h>

#include "gateway/policies/auth.h"
#include "gateway/policies/jose.h"
#include "lib/log.h"

#define MAX_CREDENTIALS 1024	/* decoded user:password */
#define CACHE_SLOTS 1024
#define CHECKERS 2		/* checker threads (a hash uses one core fully) */
#define QUEUE_MAX 256		/* checks waiting beyond this answer 503 */

struct cache_entry {
	uint8_t key[32];
	const struct gw_consumer *who;
	uint64_t expires_ms;
};

struct basic_auth {
	struct auth_common ac;
	const struct gw_consumers *consumers;
	const char *dummy_hash;	/* a hash of the same kind as real ones, for unknown users */
	char challenge[160];
	uint64_t ttl_ms;
	uint8_t salt[16];
	pthread_mutex_t lock;
	struct cache_entry *cache;
};

/* ---- the checker pool (process-wide, started on first use) ---- */

struct pw_job {
	struct pw_job *next;
	char *hash, *password;
	int wfd;		/* the thread's own descriptor of the eventfd; it closes it */
	atomic_int refs;	/* the worker side and the thread */
	atomic_bool ok;
	/* worker side */
	h2o_socket_t *sock;
	struct gw_ctx *c;
	struct basic_auth *ba;
	const struct gw_consumer *who;
	uint8_t cache_key[32];
};

static struct {
	pthread_once_t once;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pw_job *head, **tail;
	unsigned queued;
	bool started;
} pool = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER,
	   .cond = PTHREAD_COND_INITIALIZER };

static uint64_t n_checks, n_cache_hits;

static void job_put(struct pw_job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) != 1)
		return;
	OPENSSL_cleanse(j->password, strlen(j->password));
	free(j->password);
	free(j->hash);
	free(j);
}

static void *checker_main(void *arg)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));

	for (;;) {
		struct pw_job *j;
		const char *out;
		uint64_t one = 1;

		pthread_mutex_lock(&pool.lock);
		while (!pool.head)
			pthread_cond_wait(&pool.cond, &pool.lock);
		j = pool.head;
		pool.head = j->next;
		if (!pool.head)
			pool.tail = &pool.head;
		pool.queued--;
		pthread_mutex_unlock(&pool.lock);
		out = cd ? crypt_r(j->password, j->hash, cd) : NULL;
		__atomic_fetch_add(&n_checks, 1, __ATOMIC_RELAXED);
		atomic_store(&j->ok, out && out[0] != '*' && strlen(out) == strlen(j->hash) &&
					     !CRYPTO_memcmp(out, j->hash, strlen(j->hash)));
		if (cd)
			OPENSSL_cleanse(cd, sizeof(*cd));
		if (write(j->wfd, &one, sizeof(one)) < 0)
			log_warn("basic-auth: cannot wake the worker: %s", strerror(errno));
		close(j->wfd);
		job_put(j);
	}
	return arg;
}

static void pool_start(void)
{
	pthread_attr_t attr;

	pool.tail = &pool.head;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < CHECKERS; i++) {
		pthread_t th;
		sigset_t all, old;

		/* Checkers take no signals (gwd and gwgate wait for theirs in one thread). */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		if (!pthread_create(&th, &attr, checker_main, NULL))
			pool.started = true;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_attr_destroy(&attr);
}

static bool pool_submit(struct pw_job *j)
{
	bool ok;

	pthread_once(&pool.once, pool_start);
	pthread_mutex_lock(&pool.lock);
	ok = pool.started && pool.queued < QUEUE_MAX;
	if (ok) {
		j->next = NULL;
		*pool.tail = j;
		pool.tail = &j->next;
		pool.queued++;
		pthread_cond_signal(&pool.cond);
	}
	pthread_mutex_unlock(&pool.lock);
	return ok;
}

/* ---- cache of successful checks ---- */

static const struct gw_consumer *cache_get(struct basic_auth *ba, const uint8_t key[32])
{
	struct cache_entry *e = &ba->cache[(key[0] | key[1] << 8) % CACHE_SLOTS];
	const struct gw_consumer *who = NULL;
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	pthread_mutex_lock(&ba->lock);
	if (e->who && e->expires_ms > now && !CRYPTO_memcmp(e->key, key, 32))
		who = e->who;
	pthread_mutex_unlock(&ba->lock);
	return who;
}

static void cache_put(struct basic_auth *ba, const uint8_t key[32], const struct gw_consumer *who)
{
	struct cache_entry *e = &ba->cache[(key[0] | key[1] << 8) % CACHE_SLOTS];
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	pthread_mutex_lock(&ba->lock);
	memcpy(e->key, key, 32);
	e->who = who;
	e->expires_ms = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ba->ttl_ms;
	pthread_mutex_unlock(&ba->lock);
}

/* ---- the policy ---- */

static void basic_auth_free(void *p)
{
	struct basic_auth *ba = p;

	if (!ba)
		return;
	auth_common_free(&ba->ac);
	if (ba->cache) {
		OPENSSL_cleanse(ba->cache, CACHE_SLOTS * sizeof(*ba->cache));
		free(ba->cache);
	}
	pthread_mutex_destroy(&ba->lock);
	free(ba);
}

static void *basic_auth_compile(const json_t *conf, const struct gw_policy_env *env, char *err,
				size_t errlen)
{
	static const char *const fields[] = { "cache_ttl_s", NULL };
	struct basic_auth *ba = calloc(1, sizeof(*ba));
	json_t *ttl = json_object_get(conf, "cache_ttl_s");
	size_t i;

	if (!ba)
		return NULL;
	pthread_mutex_init(&ba->lock, NULL);
	if (auth_check_fields(conf, fields, true, err, errlen) ||
	    auth_common_parse(conf, &ba->ac, err, errlen))
		goto fail;
	if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 0 ||
		    json_integer_value(ttl) > 86400)) {
		snprintf(err, errlen, ".cache_ttl_s: must be an integer 0-86400");
		goto fail;
	}
	ba->ttl_ms = (ttl ? (uint64_t)json_integer_value(ttl) : 300) * 1000;
	ba->cache = calloc(CACHE_SLOTS, sizeof(*ba->cache));
	if (!ba->cache || RAND_bytes(ba->salt, sizeof(ba->salt)) != 1)
		goto fail;
	ba->consumers = env->consumers;
	for (i = 0; i < gw_consumers_count(env->consumers) && !ba->dummy_hash; i++)
		ba->dummy_hash = gw_consumer_at(env->consumers, i)->password_hash;
	snprintf(ba->challenge, sizeof(ba->challenge), "Basic realm=\"%s\", charset=\"UTF-8\"",
		 ba->ac.realm);
	return ba;
fail:
	basic_auth_free(ba);
	return NULL;
}

static void succeed(struct gw_ctx *c, struct basic_auth *ba, const struct gw_consumer *who)
{
	struct gw_auth_info *info = gw_ctx_alloc(c, sizeof(*info));

	if (ba->ac.hide_credentials)
		gw_ctx_req_header_remove(c, "authorization");
	*info = (struct gw_auth_info){ .id = who->id, .consumer = who };
	auth_success(c, &ba->ac, info);
	auth_count_ok(AUTH_BASIC);
}

static void on_checked(h2o_socket_t *sock, const char *err)
{
	struct pw_job *j = sock->data;
	struct gw_ctx *c = j->c;
	bool ok = atomic_load(&j->ok) && j->who;

	h2o_socket_read_stop(sock);
	h2o_socket_close(sock);
	j->sock = NULL;
	gw_ctx_on_abort(c, NULL, NULL);	/* answering below must not find the job pending */
	if (ok) {
		cache_put(j->ba, j->cache_key, j->who);
		succeed(c, j->ba, j->who);
		job_put(j);
		gw_ctx_resume(c, GW_POLICY_CONTINUE);
		return;
	}
	auth_fail(c, AUTH_BASIC, j->who ? AUTH_BAD_PASSWORD : AUTH_UNKNOWN_USER,
		  j->ba->challenge);
	job_put(j);
	gw_ctx_resume(c, GW_POLICY_RESPONDED);
}

static void on_abort(void *data)
{
	struct pw_job *j = data;

	if (j->sock) {
		h2o_socket_read_stop(j->sock);
		h2o_socket_close(j->sock);
		j->sock = NULL;
	}
	job_put(j);
}

static enum gw_policy_verdict start_check(struct gw_ctx *c, struct basic_auth *ba,
					  const struct gw_consumer *who, const char *pw,
					  size_t pwlen, const uint8_t key[32])
{
	const char *hash = who ? who->password_hash : ba->dummy_hash;
	struct pw_job *j;
	int efd;

	if (!hash)	/* no consumer has a password: nothing to compare with */
		return auth_fail(c, AUTH_BASIC, AUTH_UNKNOWN_USER, ba->challenge);
	j = calloc(1, sizeof(*j));
	if (!j)
		return auth_fail(c, AUTH_BASIC, AUTH_BUSY, NULL);
	j->wfd = -1;
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0 || (j->wfd = dup(efd)) < 0 || !(j->hash = strdup(hash)) ||
	    !(j->password = strndup(pw, pwlen))) {
		if (efd >= 0)
			close(efd);
		if (j->wfd >= 0)
			close(j->wfd);
		free(j->hash);
		free(j);
		return auth_fail(c, AUTH_BASIC, AUTH_BUSY, NULL);
	}
	atomic_init(&j->refs, 2);
	j->c = c;
	j->ba = ba;
	j->who = who;
	memcpy(j->cache_key, key, 32);
	j->sock = h2o_evloop_socket_create(gw_ctx_loop(c), efd, H2O_SOCKET_FLAG_DONT_READ);
	j->sock->data = j;
	if (!pool_submit(j)) {
		close(j->wfd);
		h2o_socket_close(j->sock);
		OPENSSL_cleanse(j->password, strlen(j->password));
		free(j->password);
		free(j->hash);
		free(j);
		return auth_fail(c, AUTH_BASIC, AUTH_BUSY, NULL);
	}
	h2o_socket_read_start(j->sock, on_checked);
	gw_ctx_on_abort(c, on_abort, j);
	return GW_POLICY_ASYNC;
}

static enum gw_policy_verdict basic_auth_request(void *inst, struct gw_ctx *c)
{
	struct basic_auth *ba = inst;
	uint8_t buf[MAX_CREDENTIALS + 16 + 1], key[32];
	const struct gw_consumer *who;
	struct gw_str h;
	const char *colon;
	size_t i, n = MAX_CREDENTIALS;

	auth_strip_consumer_header(c, &ba->ac);
	if (!gw_ctx_req_header(c, "authorization", &h))
		return auth_fail(c, AUTH_BASIC, AUTH_MISSING, ba->challenge);
	if (h.len < 6 || strncasecmp(h.p, "basic ", 6))
		return auth_fail(c, AUTH_BASIC, AUTH_MISSING, ba->challenge);
	for (i = 6; i < h.len && h.p[i] == ' '; i++)
		;
	/* Decoded after the salt, so the salted digest below needs no copy. */
	memcpy(buf, ba->salt, 16);
	if (jose_b64_decode(h.p + i, h.len - i, false, buf + 16, &n))
		return auth_fail(c, AUTH_BASIC, h.len - i > MAX_CREDENTIALS * 4 / 3 + 4
					     ? AUTH_TOO_LARGE : AUTH_MALFORMED, ba->challenge);
	colon = memchr(buf + 16, ':', n);
	if (!colon || memchr(buf + 16, 0, n))
		return auth_fail(c, AUTH_BASIC, AUTH_MALFORMED, ba->challenge);
	auth_sha256(buf, 16 + n, key);
	who = cache_get(ba, key);
	if (who) {
		__atomic_fetch_add(&n_cache_hits, 1, __ATOMIC_RELAXED);
		OPENSSL_cleanse(buf, sizeof(buf));
		succeed(c, ba, who);
		return GW_POLICY_CONTINUE;
	}
	who = gw_consumer_by_username(ba->consumers, (const char *)buf + 16,
				      colon - (const char *)buf - 16);
	{
		enum gw_policy_verdict v = start_check(c, ba, who, colon + 1,
						       n - (colon + 1 - (const char *)buf - 16), key);

		OPENSSL_cleanse(buf, sizeof(buf));
		return v;
	}
}

static void basic_auth_metrics(FILE *out)
{
	fprintf(out,
		"# HELP xdpgw_gateway_basic_auth_hash_checks_total Password hashes computed (unknown "
		"users included: they cost the same).\n"
		"# TYPE xdpgw_gateway_basic_auth_hash_checks_total counter\n"
		"xdpgw_gateway_basic_auth_hash_checks_total %llu\n"
		"# HELP xdpgw_gateway_basic_auth_cache_hits_total Requests admitted from the cache "
		"of successful checks.\n"
		"# TYPE xdpgw_gateway_basic_auth_cache_hits_total counter\n"
		"xdpgw_gateway_basic_auth_cache_hits_total %llu\n",
		(unsigned long long)__atomic_load_n(&n_checks, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&n_cache_hits, __ATOMIC_RELAXED));
}

static const struct gw_policy_ops basic_auth_ops = {
	.name = "basic-auth",
	.compile = basic_auth_compile,
	.free = basic_auth_free,
	.on_request = basic_auth_request,
	.metrics = basic_auth_metrics,
};

GW_POLICY_REGISTER(basic_auth_ops)
