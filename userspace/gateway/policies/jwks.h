/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JWK Sets fetched from a URL in the background for the jwt policy: one fetcher thread per
 * (URL, algorithms), shared by every config version that names it, refreshed periodically.
 * A failed fetch keeps the last good keys; an unknown kid may ask for an early fetch, at most
 * once per min_refetch_s, so tokens with random kids cannot make the gateway hammer the
 * issuer.
 */
#ifndef XDPGW_GATEWAY_POLICIES_JWKS_H
#define XDPGW_GATEWAY_POLICIES_JWKS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "gateway/policies/jose.h"

/* A fetched key set; readers hold a reference while they verify with it. */
struct jwks_keys {
	atomic_int refs;
	uint64_t gen;		/* increases with every change of the set */
	struct jose_keyset ks;
};

struct jwks_source;

/*
 * Returns the source for url (a new reference), starting its fetcher on first use, or NULL
 * (errno set) when the thread cannot start. refresh_s: period between fetches; min_refetch_s:
 * least time between two fetches asked for by jwks_source_refetch; timeout_ms per fetch.
 */
struct jwks_source *jwks_source_get(const char *url, uint32_t algs, uint32_t refresh_s,
				    uint32_t min_refetch_s, uint32_t timeout_ms);
void jwks_source_put(struct jwks_source *s);
/* The current keys (a reference: jwks_keys_put), or NULL before the first successful fetch. */
struct jwks_keys *jwks_source_keys(struct jwks_source *s);
/* The generation of the current keys (0 before the first fetch); lock-free. */
uint64_t jwks_source_gen(const struct jwks_source *s);
void jwks_keys_put(struct jwks_keys *k);
/* Asks for an early fetch (an unknown kid); ignored within min_refetch_s of the last one. */
void jwks_source_refetch(struct jwks_source *s);
/* Fetches, failures and refetches asked for, for metrics. */
void jwks_metrics(FILE *out);

#endif
