/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Routes of type aggregate: several upstream calls ("parts") made concurrently, answered as one
 * JSON object keyed by part name. Config (a route's `aggregate` block):
 *   {timeout_ms: 10000, on_partial: fail|partial, max_part_bytes: 1048576,
 *    parts: [{name: user, upstream: users, method: GET, path: "/users/{query.id}",
 *             timeout_ms: 2000}, ...]}
 * Path templates take values from the request (templates below); the parsers are pure so
 * they can be unit-tested and fuzzed.
 */
#ifndef XDPGW_GATEWAY_AGGREGATE_H
#define XDPGW_GATEWAY_AGGREGATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_config;
struct gw_agg_cfg;

/* ---- path templates ----
 * Literal text with {VARIABLE}s:
 *   {query.NAME}   the request's query parameter NAME (decoded, then percent-encoded)
 *   {header.NAME}  the request header NAME (percent-encoded)
 *   {segment.N}    the Nth segment of the request path, from 1 (decoded, then encoded;
 *                  "." and ".." count as absent)
 *   {path}         the request path after the route's prefix (normalized, as is)
 *   {query}        the request's whole query string (as is, without the "?")
 *   {consumer}     the consumer an authentication policy set (percent-encoded)
 * A variable that has no value makes the request fail with 400 (it names the variable).
 */
enum gw_tmpl_kind { GW_TMPL_LIT, GW_TMPL_QUERY, GW_TMPL_HEADER, GW_TMPL_SEGMENT, GW_TMPL_PATH,
		    GW_TMPL_QUERY_ALL, GW_TMPL_CONSUMER };

struct gw_tmpl_piece {
	enum gw_tmpl_kind kind;
	char *text;	/* literal text, or the variable's NAME; also the whole "{...}" in var */
	char *var;
	size_t len;
	long n;		/* segment number */
};

struct gw_tmpl {
	struct gw_tmpl_piece *p;
	size_t n;
};

/* Parses s; returns 0, or -EINVAL with err ("at offset 7: unknown variable {qery.id}"). */
int gw_tmpl_parse(const char *s, struct gw_tmpl *t, char *err, size_t errlen);
void gw_tmpl_free(struct gw_tmpl *t);

/* What a template reads from the request. */
struct gw_tmpl_req {
	const char *path;	/* without the query, as the client sent it */
	size_t path_len;
	const char *rest;	/* the normalized path after the route's prefix */
	size_t rest_len;
	const char *query;	/* after the "?", or NULL */
	size_t query_len;
	bool (*header)(void *arg, const char *name, const char **v, size_t *len);
	void *arg;
	const char *consumer;	/* or NULL */
};

/*
 * Expands t into out (cap bytes). Returns the length; 0 with *missing pointing at the
 * variable's text when a value is absent; (size_t)-1 when the result does not fit.
 */
size_t gw_tmpl_expand(const struct gw_tmpl *t, const struct gw_tmpl_req *r, char *out, size_t cap,
		      const char **missing);

/* ---- the route's config ---- */

/*
 * Compiles a route's `aggregate` object (upstreams resolved in cfg). Returns 0 with *out, or
 * -EINVAL with err relative to the object (".parts[1].upstream: unknown upstream \"x\"").
 */
int gw_agg_compile(const json_t *aj, const struct gw_config *cfg, struct gw_agg_cfg **out,
		   char *err, size_t errlen);
void gw_agg_free(struct gw_agg_cfg *a);

#endif
