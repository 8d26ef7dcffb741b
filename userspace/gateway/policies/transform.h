/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pure helpers of the transform policy (query and path rewriting, media types), exposed for
 * unit tests and fuzz targets. No global state; output goes to caller-provided buffers.
 */
#ifndef XDPGW_GATEWAY_TRANSFORM_H
#define XDPGW_GATEWAY_TRANSFORM_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

struct tf_param {
	char *name, *value;	/* plain (decoded) text */
};

struct tf_query_edit {
	char **remove;		/* names, plain text */
	size_t nremove;
	struct tf_param *set;	/* replace every parameter of that name */
	size_t nset;
	struct tf_param *add;	/* append */
	size_t nadd;
};

/*
 * Rewrites the query q[0..len) (without the '?'): drops the parameters whose decoded name is in
 * remove or set, keeps the others byte for byte, then appends set and add as name=value,
 * percent-encoded. Writes at most cap bytes to out; returns the length, or (size_t)-1 when it
 * does not fit.
 */
size_t tf_query_rewrite(const struct tf_query_edit *e, const char *q, size_t len, char *out,
			size_t cap);

/*
 * Rewrites path[0..len) (without the query) with re and the replacement rep, where $1..$9 are
 * the groups and $$ is a dollar sign. Returns the new length written to out (at most cap), 0
 * when re does not match (the path stays), (size_t)-1 when the result does not fit.
 */
size_t tf_path_rewrite(const regex_t *re, const char *rep, const char *path, size_t len, char *out,
		       size_t cap);

/* Whether the Content-Type value v[0..len) is JSON: application/json or any "+json" type. */
bool tf_is_json_type(const char *v, size_t len);

#endif
