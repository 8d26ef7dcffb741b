/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The response cache's store: one per route, shared by every worker thread (one mutex),
 * bounded in bytes with LRU eviction; entries are immutable and reference-counted so a hit is
 * served without holding the lock. Concurrent misses for one key are coalesced: the first one
 * (the leader) fetches, the others wait on its "fill" and are woken when it ends.
 *
 * Keys are strings built by cache_key_*() (pure functions, fuzzable):
 *   primary = "GET\n" host "\n" path[?query] "\n" [ "@" consumer "\n" ]
 *   full    = primary [ "vary\n" (name ":" value "\n")* ]   names from the response's Vary
 * The Vary names last seen for a primary key are kept in a small record of their own, so a
 * lookup knows which request headers complete the key.
 */
#ifndef XDPGW_GATEWAY_CACHE_STORE_H
#define XDPGW_GATEWAY_CACHE_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CACHE_MAX_KEY 8192
#define CACHE_MAX_VARY 512	/* bytes of normalized Vary names */

/* ---- keys and header parsing (pure) ---- */

/* Request header lookup for the key builder: true with the value when present. */
typedef bool (*cache_get_header_fn)(void *arg, const char *name, const char **v, size_t *len);

/*
 * Writes the primary key for host[0..hl) (lower-cased) and path[0..pl) (with the query), and
 * consumer when not NULL. *path_off and *path_len locate the path without the query inside
 * the key. Returns the key length, or 0 when it does not fit in cap.
 */
size_t cache_key_primary(char *out, size_t cap, const char *host, size_t hl, const char *path,
			 size_t pl, const char *consumer, size_t *path_off, size_t *path_len);
/*
 * Appends to the key out[0..len) the values of the request headers named in names (a
 * normalized list from cache_vary_names, "" for none). Returns the new length, or 0 when it
 * does not fit.
 */
size_t cache_key_vary(char *out, size_t cap, size_t len, const char *names, cache_get_header_fn get,
		      void *arg);
/*
 * Normalizes a Vary header value: lower-case names, sorted, without duplicates, each followed
 * by '\n', written NUL-terminated to out. Returns the length, or -1 for "*" (never cacheable)
 * or when the list does not fit.
 */
long cache_vary_names(const char *v, size_t len, char *out, size_t cap);

struct cache_cc {
	bool no_store, no_cache, is_private, is_public;
	long max_age, s_maxage;	/* seconds, -1 when absent */
};
/* Parses a Cache-Control header value (directives are case-insensitive; unknown ones ignored). */
void cache_cc_parse(const char *v, size_t len, struct cache_cc *cc);

/* ---- entries ---- */

struct cache_hdr {
	const char *name, *value;	/* NUL-terminated, inside the entry */
	size_t name_len, value_len;
};

struct cache_entry {
	struct cache_entry *hnext, *lru_prev, *lru_next;
	uint64_t hash;
	atomic_int refs;
	bool is_vary;		/* a record of the Vary names of a primary key */
	char *key;
	size_t key_len, path_off, path_len;
	int status;
	struct cache_hdr *hdrs;
	size_t nhdrs;
	const char *body;
	size_t body_len;
	uint64_t created_ms, expires_ms, stale_until_ms;
	uint32_t age_base;	/* the upstream's Age when stored, seconds */
	size_t bytes;		/* what it counts against the store's limit */
};

/* What the policy stores: copied into one allocation by cache_entry_new. */
struct cache_object {
	const char *key;
	size_t key_len, path_off, path_len;
	int status;
	const struct cache_hdr *hdrs;
	size_t nhdrs;
	const char *body;
	size_t body_len;
	uint64_t created_ms, ttl_ms, stale_ms;
	uint32_t age_base;
};

/* Builds an entry (one reference) or NULL when out of memory. */
struct cache_entry *cache_entry_new(const struct cache_object *o);
void cache_entry_put(struct cache_entry *e);

/* ---- the store ---- */

struct cache_waiter {
	struct cache_waiter *next;
	struct cache_fill *fill;	/* set by the store while queued */
	/* Called once with the store lock held when the fill ends; must not call the store. */
	void (*wake)(struct cache_waiter *w);
};

struct cache_fill;

struct cache_stats {
	uint64_t hits, misses, stale, evictions, stored, purged, coalesced, bypass;
	uint64_t entries, bytes, max_bytes;
};

struct cache_store;

/*
 * The store of route for a config that allows max_bytes: an existing one with the same route
 * and size (so a config reload keeps the cached responses), or a new one. Returns a
 * reference, or NULL when out of memory.
 */
struct cache_store *cache_store_get(const char *route, size_t max_bytes);
void cache_store_put(struct cache_store *s);

enum cache_result {
	CACHE_HIT,	/* *entry is fresh (a reference) */
	CACHE_MISS,	/* *fill: this request fetches (or NULL when leading was not asked);
			   *entry: an expired entry still usable for stale-if-error, or NULL */
	CACHE_WAIT,	/* another request is fetching this key: w was queued on it */
	CACHE_BUSY,	/* another request is fetching this key and w was NULL: retry with one */
};

/*
 * Looks up the key: primary[0..plen) completed with the Vary names recorded for it (values
 * from get). key_out (CACHE_MAX_KEY bytes) receives the full key, *key_len its length.
 * lead: on a miss with no fill in progress, start one (*fill). wait: on a miss with a fill in
 * progress, queue w (CACHE_WAIT), or answer CACHE_BUSY when w is NULL (so the caller
 * allocates a waiter only when there is something to wait for); !wait: answer CACHE_MISS.
 */
enum cache_result cache_store_begin(struct cache_store *s, const char *primary, size_t plen,
				    cache_get_header_fn get, void *arg, uint64_t now_ms, bool lead,
				    bool wait, struct cache_waiter *w, char *key_out,
				    size_t *key_len, struct cache_entry **entry,
				    struct cache_fill **fill);
/*
 * Ends a fill: stores e when not NULL (the store takes a reference; vary: the normalized
 * names for its primary key, NULL for none, plen: the primary key's length), then wakes
 * every waiter. fill may be NULL (a store without a fill).
 */
void cache_store_end(struct cache_store *s, struct cache_fill *fill, struct cache_entry *e,
		     const char *vary, size_t plen, uint64_t now_ms);
/*
 * Takes w off its fill's queue. Returns true when it was still queued (it will not be woken),
 * false when it was already woken.
 */
bool cache_store_cancel_wait(struct cache_store *s, struct cache_waiter *w);

/*
 * Removes the entries of every store of route whose path (without the query) is path, or
 * starts with path without its final '*'; path NULL removes all. Returns the number removed,
 * or -ENOENT when route has no cache.
 */
long cache_purge(const char *route, const char *path);

/* Counts an event the policy sees (hits, misses and coalescing are counted by the store). */
enum cache_counter { CACHE_CTR_BYPASS, CACHE_CTR_STALE };
void cache_store_inc(struct cache_store *s, enum cache_counter which);

/* Sums the stats of every store of route (false when it has none). */
bool cache_stats(const char *route, struct cache_stats *st);
/* Calls fn for each route with a cache (once per name), with its summed stats. */
void cache_foreach(void (*fn)(const char *route, const struct cache_stats *st, void *arg),
		   void *arg);

#endif
