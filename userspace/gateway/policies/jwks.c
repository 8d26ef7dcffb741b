// SPDX-License-Identifier: GPL-2.0
/*
 * Background JWKS fetchers (see jwks.h): a registry of sources keyed by URL and algorithms, a
 * thread per source that fetches with libcurl (bounded time and size), parses with jose.c and
 * publishes the keys by pointer swap under a mutex. Failures keep the last good keys and are
 * logged once per change of state.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/policies/jwks.h"
#include "lib/log.h"

#define MAX_JWKS_BYTES (1 << 20)
#define RETRY_MIN_S 1
#define RETRY_MAX_S 60

struct jwks_source {
	struct jwks_source *next;	/* registry */
	int refs;			/* under reg_lock */
	char *url;
	uint32_t algs, refresh_s, min_refetch_s, timeout_ms;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, refetch;
	struct jwks_keys *keys;		/* under lock */
	atomic_uint_least64_t gen;
	uint64_t last_fetch_ms;		/* under lock */
	bool failing;			/* fetcher thread only */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jwks_source *sources;
static uint64_t n_fetch_ok, n_fetch_fail, n_refetch;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void jwks_keys_put(struct jwks_keys *k)
{
	if (k && atomic_fetch_sub(&k->refs, 1) == 1) {
		jose_keyset_clear(&k->ks);
		free(k);
	}
}

struct body {
	char *p;
	size_t len;
	bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	char *np;

	if (b->len + n > MAX_JWKS_BYTES) {
		b->too_big = true;
		return 0;
	}
	np = realloc(b->p, b->len + n + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = 0;
	return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct jwks_source *s = arg;
	bool stop;

	pthread_mutex_lock(&s->lock);
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;	/* non-zero aborts the transfer */
}

/* One fetch; returns the new keys or NULL with the cause in err. */
static struct jwks_keys *fetch(struct jwks_source *s, char *err, size_t errlen)
{
	CURL *curl = curl_easy_init();
	struct body b = { 0 };
	struct jwks_keys *k = NULL;
	long status = 0;
	CURLcode rc;

	if (!curl) {
		snprintf(err, errlen, "cannot start a transfer");
		return NULL;
	}
	curl_easy_setopt(curl, CURLOPT_URL, s->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "xdpgw-jwks/" XDPGW_VERSION);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", b.too_big ? "the document exceeds 1 MiB"
						      : curl_easy_strerror(rc));
		goto out;
	}
	if (status != 200) {
		snprintf(err, errlen, "HTTP status %ld", status);
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (jose_jwks_parse(b.p ? b.p : "", b.len, s->algs, &k->ks, err, errlen)) {
		free(k);
		k = NULL;
		goto out;
	}
	atomic_init(&k->refs, 1);
out:
	free(b.p);
	return k;
}

static void *fetcher_main(void *arg)
{
	struct jwks_source *s = arg;
	uint32_t retry_s = RETRY_MIN_S;

	for (;;) {
		char err[256] = "";
		struct jwks_keys *k = fetch(s, err, sizeof(err)), *old = NULL;
		uint64_t next_ms;

		pthread_mutex_lock(&s->lock);
		s->last_fetch_ms = mono_ms();
		if (k) {
			k->gen = atomic_load(&s->gen) + 1;
			old = s->keys;
			s->keys = k;
			atomic_store(&s->gen, k->gen);
		}
		pthread_mutex_unlock(&s->lock);
		jwks_keys_put(old);
		if (k) {
			__atomic_fetch_add(&n_fetch_ok, 1, __ATOMIC_RELAXED);
			if (s->failing || k->gen == 1)
				log_info("jwt: %zu keys from %s%s", k->ks.n, s->url,
					 s->failing ? " (fetching works again)" : "");
			s->failing = false;
			retry_s = RETRY_MIN_S;
			next_ms = mono_ms() + (uint64_t)s->refresh_s * 1000;
		} else {
			__atomic_fetch_add(&n_fetch_fail, 1, __ATOMIC_RELAXED);
			if (!s->failing)
				log_warn("jwt: cannot fetch keys from %s: %s; %s", s->url, err,
					 atomic_load(&s->gen) ? "keeping the last good keys"
							      : "no keys yet, tokens are refused");
			s->failing = true;
			next_ms = mono_ms() + (uint64_t)retry_s * 1000;
			retry_s = retry_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : retry_s * 2;
			if (retry_s > s->refresh_s)
				retry_s = s->refresh_s;
		}
		pthread_mutex_lock(&s->lock);
		while (!s->stop && !s->refetch && mono_ms() < next_ms) {
			struct timespec ts;
			uint64_t left = next_ms - mono_ms();

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += left / 1000;
			ts.tv_nsec += (left % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		}
		s->refetch = false;
		if (s->stop) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pthread_mutex_unlock(&s->lock);
	}
	jwks_keys_put(s->keys);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->url);
	free(s);
	return NULL;
}

struct jwks_source *jwks_source_get(const char *url, uint32_t algs, uint32_t refresh_s,
				    uint32_t min_refetch_s, uint32_t timeout_ms)
{
	struct jwks_source *s;
	pthread_attr_t attr;
	sigset_t all, old;
	int ret;

	pthread_mutex_lock(&reg_lock);
	for (s = sources; s; s = s->next)
		if (!strcmp(s->url, url) && s->algs == algs && s->refresh_s == refresh_s &&
		    s->min_refetch_s == min_refetch_s && s->timeout_ms == timeout_ms) {
			s->refs++;
			pthread_mutex_unlock(&reg_lock);
			return s;
		}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->url = strdup(url))) {
		free(s);
		pthread_mutex_unlock(&reg_lock);
		errno = ENOMEM;
		return NULL;
	}
	s->refs = 1;
	s->algs = algs;
	s->refresh_s = refresh_s;
	s->min_refetch_s = min_refetch_s;
	s->timeout_ms = timeout_ms;
	atomic_init(&s->gen, 0);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);	/* signals stay with the main thread */
	ret = pthread_create(&s->th, &attr, fetcher_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->cond);
		free(s->url);
		free(s);
		pthread_mutex_unlock(&reg_lock);
		errno = ret;
		return NULL;
	}
	s->next = sources;
	sources = s;
	pthread_mutex_unlock(&reg_lock);
	return s;
}

void jwks_source_put(struct jwks_source *s)
{
	struct jwks_source **pp;

	if (!s)
		return;
	pthread_mutex_lock(&reg_lock);
	if (--s->refs > 0) {
		pthread_mutex_unlock(&reg_lock);
		return;
	}
	for (pp = &sources; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&reg_lock);
	/* The detached fetcher frees the source when it sees stop (at most one fetch later). */
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

struct jwks_keys *jwks_source_keys(struct jwks_source *s)
{
	struct jwks_keys *k;

	pthread_mutex_lock(&s->lock);
	k = s->keys;
	if (k)
		atomic_fetch_add(&k->refs, 1);
	pthread_mutex_unlock(&s->lock);
	return k;
}

uint64_t jwks_source_gen(const struct jwks_source *s)
{
	return atomic_load_explicit(&s->gen, memory_order_acquire);
}

void jwks_source_refetch(struct jwks_source *s)
{
	uint64_t now = mono_ms();

	pthread_mutex_lock(&s->lock);
	if (!s->refetch && now - s->last_fetch_ms >= (uint64_t)s->min_refetch_s * 1000) {
		s->refetch = true;
		s->last_fetch_ms = now;	/* counts as a fetch for the rate limit */
		pthread_cond_signal(&s->cond);
		__atomic_fetch_add(&n_refetch, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&s->lock);
}

void jwks_metrics(FILE *out)
{
	fprintf(out,
		"# HELP xdpgw_gateway_jwks_fetches_total JWK Set fetches by result, and early "
		"fetches asked for by unknown key ids.\n"
		"# TYPE xdpgw_gateway_jwks_fetches_total counter\n"
		"xdpgw_gateway_jwks_fetches_total{result=\"ok\"} %llu\n"
		"xdpgw_gateway_jwks_fetches_total{result=\"failed\"} %llu\n"
		"xdpgw_gateway_jwks_fetches_total{result=\"refetch\"} %llu\n",
		(unsigned long long)__atomic_load_n(&n_fetch_ok, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&n_fetch_fail, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&n_refetch, __ATOMIC_RELAXED));
}
