// SPDX-License-Identifier: GPL-2.0
/* The response cache's store: keys, Cache-Control/Vary parsing, LRU, coalescing, purge. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/policies/cache_store.h"

#define FILL_BUCKETS 256
#define MIN_BUCKETS 1024

/* ---- keys (pure) ---- */

size_t cache_key_primary(char *out, size_t cap, const char *host, size_t hl, const char *path,
			 size_t pl, const char *consumer, size_t *path_off, size_t *path_len)
{
	size_t cl = consumer ? strlen(consumer) : 0, need = 4 + hl + 1 + pl + 1 + (consumer ? cl + 2 : 0);
	const char *q = memchr(path, '?', pl);
	size_t o = 0;

	if (need > cap || memchr(host, '\n', hl) || memchr(path, '\n', pl) ||
	    (consumer && strchr(consumer, '\n')))
		return 0;
	memcpy(out, "GET\n", 4);
	o = 4;
	for (size_t i = 0; i < hl; i++)
		out[o++] = tolower((unsigned char)host[i]);
	out[o++] = '\n';
	*path_off = o;
	*path_len = q ? (size_t)(q - path) : pl;
	memcpy(out + o, path, pl);
	o += pl;
	out[o++] = '\n';
	if (consumer) {
		out[o++] = '@';
		memcpy(out + o, consumer, cl);
		o += cl;
		out[o++] = '\n';
	}
	return o;
}

size_t cache_key_vary(char *out, size_t cap, size_t len, const char *names, cache_get_header_fn get,
		      void *arg)
{
	const char *n = names;

	if (!*names)
		return len;
	if (len + 5 > cap)
		return 0;
	memcpy(out + len, "vary\n", 5);
	len += 5;
	while (*n) {
		const char *end = strchr(n, '\n'), *v = "";
		size_t nl = end - n, vl = 0;
		char name[CACHE_MAX_VARY];

		memcpy(name, n, nl);
		name[nl] = 0;
		if (!get(arg, name, &v, &vl))
			v = "", vl = 0;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (len + nl + 1 + vl + 1 > cap || memchr(v, '\n', vl))
			return 0;
		memcpy(out + len, name, nl);
		len += nl;
		out[len++] = ':';
		memcpy(out + len, v, vl);
		len += vl;
		out[len++] = '\n';
		n = end + 1;
	}
	return len;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

long cache_vary_names(const char *v, size_t len, char *out, size_t cap)
{
	char buf[CACHE_MAX_VARY], *names[64];
	size_t n = 0, i = 0, o = 0, b = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e == s)
			continue;
		if (e - s == 1 && v[s] == '*')
			return -1;
		if (n == 64 || b + (e - s) + 1 > sizeof(buf))
			return -1;
		names[n++] = buf + b;
		for (size_t k = s; k < e; k++) {
			unsigned char ch = v[k];

			if (ch <= ' ' || ch == ':' || ch >= 127)
				return -1;
			buf[b++] = tolower(ch);
		}
		buf[b++] = 0;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (i = 0; i < n; i++) {
		size_t l = strlen(names[i]);

		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		if (o + l + 2 > cap)
			return -1;
		memcpy(out + o, names[i], l);
		o += l;
		out[o++] = '\n';
	}
	if (o + 1 > cap)
		return -1;
	out[o] = 0;
	return (long)o;
}

static long cc_number(const char *v, size_t len)
{
	long n = 0;
	size_t i = 0;

	if (len && *v == '"')
		v++, len -= len > 1 ? 2 : 1;
	if (!len)
		return -1;
	for (; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (n < 1000000000L)
			n = n * 10 + (v[i] - '0');
	}
	return n;
}

void cache_cc_parse(const char *v, size_t len, struct cache_cc *cc)
{
	size_t i = 0;

	memset(cc, 0, sizeof(*cc));
	cc->max_age = cc->s_maxage = -1;
	while (i < len) {
		size_t s, e, eq;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',' && v[i] != '"')
			i++;
		if (i < len && v[i] == '"') {	/* a quoted value may hold commas */
			i++;
			while (i < len && v[i] != '"')
				i++;
			while (i < len && v[i] != ',')
				i++;
		}
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		for (eq = s; eq < e && v[eq] != '='; eq++)
			;
#define IS(name) (eq - s == sizeof(name) - 1 && !strncasecmp(v + s, name, eq - s))
		if (IS("no-store"))
			cc->no_store = true;
		else if (IS("no-cache"))
			cc->no_cache = true;
		else if (IS("private"))
			cc->is_private = true;
		else if (IS("public"))
			cc->is_public = true;
		else if (IS("max-age") && eq < e)
			cc->max_age = cc_number(v + eq + 1, e - eq - 1);
		else if (IS("s-maxage") && eq < e)
			cc->s_maxage = cc_number(v + eq + 1, e - eq - 1);
#undef IS
	}
}

/* ---- entries ---- */

static uint64_t hash_key(const char *k, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)k[i]) * 0x100000001b3ULL;
	return h;
}

struct cache_entry *cache_entry_new(const struct cache_object *o)
{
	size_t hdr_bytes = 0, i, size;
	struct cache_entry *e;
	char *p;

	for (i = 0; i < o->nhdrs; i++)
		hdr_bytes += o->hdrs[i].name_len + o->hdrs[i].value_len + 2;
	size = sizeof(*e) + o->nhdrs * sizeof(struct cache_hdr) + o->key_len + 1 + hdr_bytes +
	       o->body_len + 1;
	if (!(e = malloc(size)))
		return NULL;
	memset(e, 0, sizeof(*e));
	e->hdrs = (struct cache_hdr *)(e + 1);
	p = (char *)(e->hdrs + o->nhdrs);
	e->key = p;
	memcpy(p, o->key, o->key_len);
	p[o->key_len] = 0;
	p += o->key_len + 1;
	for (i = 0; i < o->nhdrs; i++) {
		struct cache_hdr *h = &e->hdrs[i];

		h->name = p;
		h->name_len = o->hdrs[i].name_len;
		memcpy(p, o->hdrs[i].name, h->name_len);
		p[h->name_len] = 0;
		p += h->name_len + 1;
		h->value = p;
		h->value_len = o->hdrs[i].value_len;
		memcpy(p, o->hdrs[i].value, h->value_len);
		p[h->value_len] = 0;
		p += h->value_len + 1;
	}
	e->nhdrs = o->nhdrs;
	e->body = p;
	memcpy(p, o->body, o->body_len);
	p[o->body_len] = 0;
	e->body_len = o->body_len;
	e->key_len = o->key_len;
	e->path_off = o->path_off;
	e->path_len = o->path_len;
	e->hash = hash_key(o->key, o->key_len);
	e->status = o->status;
	e->created_ms = o->created_ms;
	e->expires_ms = o->created_ms + o->ttl_ms;
	e->stale_until_ms = e->expires_ms + o->stale_ms;
	e->age_base = o->age_base;
	e->bytes = size + 64;	/* allocator overhead, roughly */
	atomic_init(&e->refs, 1);
	return e;
}

void cache_entry_put(struct cache_entry *e)
{
	if (e && atomic_fetch_sub(&e->refs, 1) == 1)
		free(e);
}

/* ---- the store ---- */

struct cache_fill {
	struct cache_fill *next;
	uint64_t hash;
	char *key;
	size_t key_len;
	struct cache_waiter *waiters;
};

struct cache_store {
	struct cache_store *next;	/* registry */
	int refs;			/* under the registry lock */
	char route[128];
	size_t max_bytes;
	pthread_mutex_t lock;
	struct cache_entry **buckets;
	size_t nbuckets, nentries, bytes;
	struct cache_entry lru;		/* sentinel: lru.lru_next is the most recently used */
	struct cache_fill *fills[FILL_BUCKETS];
	struct cache_stats st;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_store *registry;

struct cache_store *cache_store_get(const char *route, size_t max_bytes)
{
	struct cache_store *s;

	pthread_mutex_lock(&registry_lock);
	for (s = registry; s; s = s->next)
		if (s->max_bytes == max_bytes && !strcmp(s->route, route)) {
			s->refs++;
			pthread_mutex_unlock(&registry_lock);
			return s;
		}
	s = calloc(1, sizeof(*s));
	if (s && !(s->buckets = calloc(MIN_BUCKETS, sizeof(*s->buckets)))) {
		free(s);
		s = NULL;
	}
	if (s) {
		s->refs = 1;
		snprintf(s->route, sizeof(s->route), "%s", route);
		s->max_bytes = max_bytes;
		s->nbuckets = MIN_BUCKETS;
		s->lru.lru_next = s->lru.lru_prev = &s->lru;
		pthread_mutex_init(&s->lock, NULL);
		s->next = registry;
		registry = s;
	}
	pthread_mutex_unlock(&registry_lock);
	return s;
}

static void unlink_entry(struct cache_store *s, struct cache_entry *e)
{
	struct cache_entry **pp = &s->buckets[e->hash & (s->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
	s->nentries--;
	s->bytes -= e->bytes;
	cache_entry_put(e);
}

void cache_store_put(struct cache_store *s)
{
	struct cache_store **pp;

	if (!s)
		return;
	pthread_mutex_lock(&registry_lock);
	if (--s->refs) {
		pthread_mutex_unlock(&registry_lock);
		return;
	}
	for (pp = &registry; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	pthread_mutex_unlock(&registry_lock);
	/* No request uses the store any more (the configs that did are gone): no fills. */
	while (s->lru.lru_next != &s->lru)
		unlink_entry(s, s->lru.lru_next);
	pthread_mutex_destroy(&s->lock);
	free(s->buckets);
	free(s);
}

static struct cache_entry *find(struct cache_store *s, const char *key, size_t len, uint64_t h,
				bool vary)
{
	for (struct cache_entry *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == h && e->key_len == len && e->is_vary == vary && !memcmp(e->key, key, len))
			return e;
	return NULL;
}

static void touch(struct cache_store *s, struct cache_entry *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
	e->lru_next = s->lru.lru_next;
	e->lru_prev = &s->lru;
	s->lru.lru_next->lru_prev = e;
	s->lru.lru_next = e;
}

static void grow(struct cache_store *s)
{
	size_t n = s->nbuckets * 2;
	struct cache_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return;	/* longer chains, still correct */
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct cache_entry *e = s->buckets[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

/* Inserts e (the store owns the caller's reference), replacing an entry with the same key. */
static void insert(struct cache_store *s, struct cache_entry *e)
{
	struct cache_entry *old = find(s, e->key, e->key_len, e->hash, e->is_vary);

	if (old)
		unlink_entry(s, old);
	if (s->nentries >= s->nbuckets)
		grow(s);
	e->hnext = s->buckets[e->hash & (s->nbuckets - 1)];
	s->buckets[e->hash & (s->nbuckets - 1)] = e;
	e->lru_next = s->lru.lru_next;
	e->lru_prev = &s->lru;
	s->lru.lru_next->lru_prev = e;
	s->lru.lru_next = e;
	s->nentries++;
	s->bytes += e->bytes;
	while (s->bytes > s->max_bytes && s->lru.lru_prev != &s->lru && s->lru.lru_prev != e) {
		unlink_entry(s, s->lru.lru_prev);
		s->st.evictions++;
	}
}

static struct cache_fill *find_fill(struct cache_store *s, const char *key, size_t len, uint64_t h)
{
	for (struct cache_fill *f = s->fills[h % FILL_BUCKETS]; f; f = f->next)
		if (f->hash == h && f->key_len == len && !memcmp(f->key, key, len))
			return f;
	return NULL;
}

enum cache_result cache_store_begin(struct cache_store *s, const char *primary, size_t plen,
				    cache_get_header_fn get, void *arg, uint64_t now_ms, bool lead,
				    bool wait, struct cache_waiter *w, char *key_out,
				    size_t *key_len, struct cache_entry **entry,
				    struct cache_fill **fill)
{
	struct cache_entry *v, *e;
	struct cache_fill *f;
	size_t len = plen;
	uint64_t h;

	*entry = NULL;
	*fill = NULL;
	memcpy(key_out, primary, plen);
	pthread_mutex_lock(&s->lock);
	v = find(s, primary, plen, hash_key(primary, plen), true);
	if (v && now_ms < v->stale_until_ms) {
		touch(s, v);
		len = cache_key_vary(key_out, CACHE_MAX_KEY, plen, v->body, get, arg);
		if (!len)
			len = plen;	/* values too long: the key without them only finds a miss */
	}
	*key_len = len;
	h = hash_key(key_out, len);
	e = find(s, key_out, len, h, false);
	if (e && now_ms < e->expires_ms) {
		touch(s, e);
		atomic_fetch_add(&e->refs, 1);
		*entry = e;
		s->st.hits++;
		pthread_mutex_unlock(&s->lock);
		return CACHE_HIT;
	}
	if (e && now_ms >= e->stale_until_ms) {
		unlink_entry(s, e);
		e = NULL;
	}
	f = find_fill(s, key_out, len, h);
	if (f && wait) {
		if (w) {
			w->fill = f;
			w->next = f->waiters;
			f->waiters = w;
			s->st.coalesced++;
		}
		pthread_mutex_unlock(&s->lock);
		return w ? CACHE_WAIT : CACHE_BUSY;
	}
	if (e) {
		atomic_fetch_add(&e->refs, 1);
		*entry = e;
	}
	if (!f && lead && (f = calloc(1, sizeof(*f)))) {
		if ((f->key = malloc(len))) {
			memcpy(f->key, key_out, len);
			f->key_len = len;
			f->hash = h;
			f->next = s->fills[h % FILL_BUCKETS];
			s->fills[h % FILL_BUCKETS] = f;
			*fill = f;
		} else {
			free(f);	/* no coalescing for this one */
		}
	}
	s->st.misses++;
	pthread_mutex_unlock(&s->lock);
	return CACHE_MISS;
}

void cache_store_end(struct cache_store *s, struct cache_fill *fill, struct cache_entry *e,
		     const char *vary, size_t plen, uint64_t now_ms)
{
	pthread_mutex_lock(&s->lock);
	if (e) {
		struct cache_entry *v = find(s, e->key, plen, hash_key(e->key, plen), true);

		if (vary) {
			uint64_t until = e->stale_until_ms;
			struct cache_object o = { e->key, plen, e->path_off, e->path_len, 0, NULL, 0,
						  vary, strlen(vary), now_ms, 0, 0, 0 };
			struct cache_entry *nv;

			if (v && v->stale_until_ms > until && !strcmp(v->body, vary))
				until = v->stale_until_ms;
			o.ttl_ms = until > now_ms ? until - now_ms : 0;
			if ((nv = cache_entry_new(&o))) {
				nv->is_vary = true;
				insert(s, nv);
			}
		} else if (v) {
			unlink_entry(s, v);
		}
		if (e->bytes <= s->max_bytes) {
			atomic_fetch_add(&e->refs, 1);
			insert(s, e);
			s->st.stored++;
		}
	}
	if (fill) {
		struct cache_fill **pp = &s->fills[fill->hash % FILL_BUCKETS];
		struct cache_waiter *w, *next;

		while (*pp != fill)
			pp = &(*pp)->next;
		*pp = fill->next;
		for (w = fill->waiters; w; w = next) {
			next = w->next;
			w->fill = NULL;
			w->wake(w);
		}
		free(fill->key);
		free(fill);
	}
	pthread_mutex_unlock(&s->lock);
}

bool cache_store_cancel_wait(struct cache_store *s, struct cache_waiter *w)
{
	bool queued = false;

	pthread_mutex_lock(&s->lock);
	if (w->fill) {
		struct cache_waiter **pp = &w->fill->waiters;

		while (*pp && *pp != w)
			pp = &(*pp)->next;
		if (*pp) {
			*pp = w->next;
			queued = true;
		}
		w->fill = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	return queued;
}

void cache_store_inc(struct cache_store *s, enum cache_counter which)
{
	pthread_mutex_lock(&s->lock);
	if (which == CACHE_CTR_BYPASS)
		s->st.bypass++;
	else
		s->st.stale++;
	pthread_mutex_unlock(&s->lock);
}

static bool path_matches(const struct cache_entry *e, const char *path)
{
	size_t pl = strlen(path);
	const char *p = e->key + e->path_off;

	if (pl && path[pl - 1] == '*')
		return e->path_len >= pl - 1 && !memcmp(p, path, pl - 1);
	return e->path_len == pl && !memcmp(p, path, pl);
}

long cache_purge(const char *route, const char *path)
{
	struct cache_store *s;
	long n = 0;
	bool found = false;

	pthread_mutex_lock(&registry_lock);
	for (s = registry; s; s = s->next) {
		struct cache_entry *e, *prev;

		if (strcmp(s->route, route))
			continue;
		found = true;
		pthread_mutex_lock(&s->lock);
		for (e = s->lru.lru_prev; e != &s->lru; e = prev) {
			prev = e->lru_prev;
			if (path && !path_matches(e, path))
				continue;
			if (!e->is_vary)
				n++;
			unlink_entry(s, e);
		}
		s->st.purged += n;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&registry_lock);
	return found ? n : -ENOENT;
}

static void add_stats(struct cache_stats *t, struct cache_store *s)
{
	pthread_mutex_lock(&s->lock);
	t->hits += s->st.hits;
	t->misses += s->st.misses;
	t->stale += s->st.stale;
	t->evictions += s->st.evictions;
	t->stored += s->st.stored;
	t->purged += s->st.purged;
	t->coalesced += s->st.coalesced;
	t->bypass += s->st.bypass;
	t->entries += s->nentries;
	t->bytes += s->bytes;
	t->max_bytes += s->max_bytes;
	pthread_mutex_unlock(&s->lock);
}

bool cache_stats(const char *route, struct cache_stats *st)
{
	bool found = false;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&registry_lock);
	for (struct cache_store *s = registry; s; s = s->next)
		if (!strcmp(s->route, route)) {
			add_stats(st, s);
			found = true;
		}
	pthread_mutex_unlock(&registry_lock);
	return found;
}

void cache_foreach(void (*fn)(const char *route, const struct cache_stats *st, void *arg),
		   void *arg)
{
	pthread_mutex_lock(&registry_lock);
	for (struct cache_store *s = registry; s; s = s->next) {
		struct cache_store *t;
		struct cache_stats st = { 0 };

		for (t = registry; t != s && strcmp(t->route, s->route); t = t->next)
			;
		if (t != s)
			continue;	/* counted with the first store of that route */
		for (t = s; t; t = t->next)
			if (!strcmp(t->route, s->route))
				add_stats(&st, t);
		fn(s->route, &st, arg);
	}
	pthread_mutex_unlock(&registry_lock);
}
