// SPDX-License-Identifier: GPL-2.0
/*
 * The router: each route expands into one entry per host pattern, sorted once at compile time
 * so that the first entry that matches is the most specific one (docs/gateway.md):
 *   1. host: exact name, then wildcard (longer suffix first), then routes without hosts;
 *   2. path: exact, then regex (in declaration order), then prefix (longer first);
 *   3. routes with a method list before routes without;
 *   4. more header conditions first;
 *   5. declaration order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/gw.h"

static int cmp_match(const void *a_, const void *b_)
{
	const struct gw_match *a = a_, *b = b_;
	const struct gw_route *ra = a->route, *rb = b->route;

	if (a->host_kind != b->host_kind)
		return b->host_kind - a->host_kind;
	if (a->host_kind == GW_HOST_WILDCARD && a->host_len != b->host_len)
		return b->host_len > a->host_len ? 1 : -1;
	if (ra->path_kind != rb->path_kind)
		return rb->path_kind - ra->path_kind;
	if (ra->path_kind == GW_PATH_PREFIX && ra->path_len != rb->path_len)
		return rb->path_len > ra->path_len ? 1 : -1;
	if ((ra->nmethods > 0) != (rb->nmethods > 0))
		return rb->nmethods > 0 ? 1 : -1;
	if (ra->nheaders != rb->nheaders)
		return rb->nheaders > ra->nheaders ? 1 : -1;
	if (ra->idx != rb->idx)
		return ra->idx < rb->idx ? -1 : 1;
	return a < b ? -1 : 1;
}

int gw_router_build(struct gw_router *r, struct gw_route *routes, size_t n)
{
	size_t i, j, k = 0, total = 0;

	for (i = 0; i < n; i++)
		total += routes[i].nhosts ? routes[i].nhosts : 1;
	r->m = calloc(total + 1, sizeof(*r->m));
	if (!r->m)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct gw_route *rt = &routes[i];

		if (!rt->nhosts) {
			r->m[k++] = (struct gw_match){ .route = rt, .host_kind = GW_HOST_ANY };
			continue;
		}
		for (j = 0; j < rt->nhosts; j++) {
			const char *h = rt->hosts[j];
			struct gw_match *m = &r->m[k++];

			m->route = rt;
			if (h[0] == '*') {
				m->host_kind = GW_HOST_WILDCARD;
				m->host = h + 1;	/* ".example.com" */
			} else {
				m->host_kind = GW_HOST_EXACT;
				m->host = h;
			}
			m->host_len = strlen(m->host);
		}
	}
	/* Stable in effect: ties fall back to declaration order, then entry address. */
	qsort(r->m, k, sizeof(*r->m), cmp_match);
	r->n = k;
	return 0;
}

void gw_router_free(struct gw_router *r)
{
	free(r->m);
	r->m = NULL;
	r->n = 0;
}

bool gw_path_prefix_match(const char *prefix, size_t plen, const char *path, size_t len)
{
	if (len < plen || memcmp(prefix, path, plen) != 0)
		return false;
	/* Segment-aware: "/api" matches "/api" and "/api/x", not "/apix". */
	return len == plen || prefix[plen - 1] == '/' || path[plen] == '/' || path[plen] == '?';
}

static bool host_matches(const struct gw_match *m, const char *host, size_t len)
{
	switch (m->host_kind) {
	case GW_HOST_ANY:
		return true;
	case GW_HOST_EXACT:
		return len == m->host_len && strncasecmp(host, m->host, len) == 0;
	case GW_HOST_WILDCARD:
		return len > m->host_len &&
		       strncasecmp(host + len - m->host_len, m->host, m->host_len) == 0;
	}
	return false;
}

static bool regex_matches(const struct gw_route *rt, const char *path, size_t len)
{
	char stackbuf[2048], *buf = stackbuf;
	bool ok;

	if (len >= sizeof(stackbuf)) {
		buf = malloc(len + 1);
		if (!buf)
			return false;
	}
	memcpy(buf, path, len);
	buf[len] = 0;
	ok = regexec(&rt->re, buf, 0, NULL, 0) == 0;
	if (buf != stackbuf)
		free(buf);
	return ok;
}

static bool route_matches(const struct gw_route *rt, const struct gw_req_view *v)
{
	size_t i;

	switch (rt->path_kind) {
	case GW_PATH_EXACT:
		if (v->path_len != rt->path_len || memcmp(v->path, rt->path, v->path_len))
			return false;
		break;
	case GW_PATH_PREFIX:
		if (!gw_path_prefix_match(rt->path, rt->path_len, v->path, v->path_len))
			return false;
		break;
	case GW_PATH_REGEX:
		if (!regex_matches(rt, v->path, v->path_len))
			return false;
		break;
	}
	if (rt->nmethods) {
		for (i = 0; i < rt->nmethods; i++)
			if (strlen(rt->methods[i]) == v->method_len &&
			    !memcmp(rt->methods[i], v->method, v->method_len))
				break;
		if (i == rt->nmethods)
			return false;
	}
	for (i = 0; i < rt->nheaders; i++) {
		const char *val;
		size_t len;

		if (!v->get_header || !v->get_header(v->arg, rt->headers[i].name, &val, &len))
			return false;
		if (rt->headers[i].value &&
		    (strlen(rt->headers[i].value) != len || memcmp(rt->headers[i].value, val, len)))
			return false;
	}
	return true;
}

const struct gw_route *gw_router_match(const struct gw_router *r, const struct gw_req_view *v)
{
	size_t host_len = v->host_len, i;
	const char *colon;

	/* The Host header may carry a port; [v6]:port keeps its brackets. */
	colon = host_len ? memrchr(v->host, ':', host_len) : NULL;
	if (colon && !memchr(colon, ']', host_len - (colon - v->host)))
		host_len = colon - v->host;
	for (i = 0; i < r->n; i++) {
		const struct gw_match *m = &r->m[i];

		if (host_matches(m, v->host, host_len) && route_matches(m->route, v))
			return m->route;
	}
	return NULL;
}
