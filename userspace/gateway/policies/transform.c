// SPDX-License-Identifier: GPL-2.0
/*
 * transform: rewrites requests and responses. Config (every block optional):
 *   {name: transform,
 *    request:  {headers: {remove: [..], rename: {Old: New}, set: {..}, add: {..}},
 *               query: {remove: [..], set: {k: v}, add: {k: v}},
 *               path: "/fixed" | {regex: "^/v1/(.*)$", replace: "/v2/$1"}},
 *    response: {headers: {remove: [..], set: {..}, add: {..}},
 *               body: {remove: [PATH..], rename: {PATH: NAME}, set: {PATH: VALUE},
 *                      add: {PATH: VALUE}, max_bytes: N, oversize: pass|fail,
 *                      on_error: pass|fail, accept_identity: true}}}
 * JSON bodies (application/json or any "+json" media type) are parsed with jansson, edited (jsonpath.h) and
 * serialized again; other bodies, and JSON bodies the edits do not touch, pass unchanged.
 * Compressed bodies: the request asks the upstream for identity (accept_identity), and gzip or
 * deflate answers are decoded with zlib anyway; the edited body is sent uncompressed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/inflate.h"
#include "gateway/policies/jsonpath.h"
#include "gateway/policies/transform.h"
#include "gateway/policy.h"

#define DEFAULT_MAX_BODY (1u << 20)
#define MAX_BODY_LIMIT (8u << 20)
#define MAX_URL 8192

struct hdr_edit {
	char **remove;
	size_t nremove;
	struct tf_param *rename;	/* name -> value holds the new name */
	size_t nrename;
	struct tf_param *set, *add;
	size_t nset, nadd;
};

struct transform {
	struct hdr_edit req_headers, resp_headers;
	struct tf_query_edit query;
	bool has_query;
	char *path_fixed;	/* path: "/fixed" */
	regex_t path_re;	/* path: {regex, replace} */
	char *path_rep;
	bool has_path_re;
	struct jp_program body;
	size_t max_body;
	bool oversize_fail, error_fail, accept_identity;
};

/* Counters for all transform instances (metrics). */
static unsigned long long n_requests, n_changed, n_unchanged, n_invalid, n_oversize, n_decoded,
	n_failed;

#define COUNT(x) __atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

/* ---- pure helpers (transform.h) ---- */

static bool unreserved(unsigned char ch)
{
	return isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decoded form of a query name (+ is a space) equals plain? */
static bool query_name_is(const char *s, size_t len, const char *plain)
{
	size_t i = 0, k = 0;

	while (i < len) {
		int ch = (unsigned char)s[i];

		if (ch == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			ch = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 3;
		} else {
			if (ch == '+')
				ch = ' ';
			i++;
		}
		if (plain[k] == 0 || (unsigned char)plain[k] != ch)
			return false;
		k++;
	}
	return plain[k] == 0;
}

static size_t encode(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char ch = *s;

		if (unreserved(ch)) {
			if (o + 1 > cap)
				return (size_t)-1;
			out[o++] = ch;
		} else {
			if (o + 3 > cap)
				return (size_t)-1;
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	return o;
}

static bool dropped(const struct tf_query_edit *e, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < e->nremove; i++)
		if (query_name_is(name, len, e->remove[i]))
			return true;
	for (i = 0; i < e->nset; i++)
		if (query_name_is(name, len, e->set[i].name))
			return true;
	return false;
}

static size_t append_param(char *out, size_t o, size_t cap, const struct tf_param *p)
{
	size_t n;

	if (o && o < cap)
		out[o++] = '&';
	else if (o)
		return (size_t)-1;
	if ((n = encode(out + o, cap - o, p->name)) == (size_t)-1)
		return n;
	o += n;
	if (o >= cap)
		return (size_t)-1;
	out[o++] = '=';
	if ((n = encode(out + o, cap - o, p->value)) == (size_t)-1)
		return n;
	return o + n;
}

size_t tf_query_rewrite(const struct tf_query_edit *e, const char *q, size_t len, char *out,
			size_t cap)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t start = i, nend;

		while (i < len && q[i] != '&')
			i++;
		for (nend = start; nend < i && q[nend] != '='; nend++)
			;
		if (i > start && !dropped(e, q + start, nend - start)) {
			if (o + (o ? 1 : 0) + (i - start) > cap)
				return (size_t)-1;
			if (o)
				out[o++] = '&';
			memcpy(out + o, q + start, i - start);
			o += i - start;
		}
		i++;	/* the '&' */
	}
	for (i = 0; i < e->nset; i++)
		if ((o = append_param(out, o, cap, &e->set[i])) == (size_t)-1)
			return o;
	for (i = 0; i < e->nadd; i++)
		if ((o = append_param(out, o, cap, &e->add[i])) == (size_t)-1)
			return o;
	return o;
}

size_t tf_path_rewrite(const regex_t *re, const char *rep, const char *path, size_t len, char *out,
		       size_t cap)
{
	regmatch_t m[10];
	char buf[MAX_URL];
	size_t o = 0;

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, path, len);
	buf[len] = 0;
	if (regexec(re, buf, 10, m, 0))
		return 0;
	for (const char *r = rep; *r; r++) {
		const char *src = r;
		size_t n = 1;

		if (r[0] == '$' && r[1] >= '0' && r[1] <= '9') {
			int g = r[1] - '0';

			r++;
			if (m[g].rm_so < 0)
				continue;
			src = buf + m[g].rm_so;
			n = m[g].rm_eo - m[g].rm_so;
		} else if (r[0] == '$' && r[1] == '$') {
			r++;
		}
		if (o + n + 1 > cap)
			return (size_t)-1;
		memcpy(out + o, src, n);
		o += n;
	}
	if (o == 0 || out[0] != '/') {
		if (o + 2 > cap)
			return (size_t)-1;
		memmove(out + 1, out, o);
		out[0] = '/';
		o++;
	}
	return o;
}

bool tf_is_json_type(const char *v, size_t len)
{
	size_t n = 0;

	while (len && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (n < len && v[n] != ';' && v[n] != ' ' && v[n] != '\t')
		n++;
	if (n == 16 && !strncasecmp(v, "application/json", 16))
		return true;
	return n > 5 && memchr(v, '/', n) && !strncasecmp(v + n - 5, "+json", 5);
}

/* ---- config ---- */

/* {NAME: VALUE} into params; headers: names and values checked as header fields. */
static int parse_params(const json_t *obj, const char *where, bool header, bool value_is_name,
			struct tf_param **out, size_t *n, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	*n = 0;
	if (!obj)
		return 0;
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "%s: must be an object of NAME: %s", where,
			 value_is_name ? "NEW_NAME" : "VALUE");
		return -EINVAL;
	}
	if (!(*out = calloc(json_object_size(obj) + 1, sizeof(**out))))
		return -ENOMEM;
	json_object_foreach((json_t *)obj, key, v) {
		const char *val = json_string_value(v);

		if (header ? !gw_http_token_valid(key) : !*key) {
			snprintf(err, errlen, "%s: \"%s\" is not a valid %s name", where, key,
				 header ? "header" : "parameter");
			return -EINVAL;
		}
		if (!val || (header && (value_is_name ? !gw_http_token_valid(val) : !gw_http_value_valid(val)))) {
			snprintf(err, errlen, "%s.%s: must be a %s", where, key,
				 value_is_name ? "header name"
				 : header      ? "string without control characters"
					       : "string");
			return -EINVAL;
		}
		(*out)[*n].name = strdup(key);
		(*out)[*n].value = strdup(val);
		(*n)++;
		if (!(*out)[*n - 1].name || !(*out)[*n - 1].value)
			return -ENOMEM;
	}
	return 0;
}

static int parse_names(const json_t *arr, const char *where, bool header, char ***out, size_t *n,
		       char *err, size_t errlen)
{
	json_t *v;
	size_t i;

	*n = 0;
	if (!arr)
		return 0;
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "%s: must be a list of names", where);
		return -EINVAL;
	}
	if (!(*out = calloc(json_array_size(arr) + 1, sizeof(char *))))
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (!s || (header ? !gw_http_token_valid(s) : !*s)) {
			snprintf(err, errlen, "%s[%zu]: must be a %s name", where, i,
				 header ? "header" : "parameter");
			return -EINVAL;
		}
		if (!((*out)[(*n)++] = strdup(s)))
			return -ENOMEM;
	}
	return 0;
}

static int parse_headers(const json_t *hj, const char *where, bool allow_rename,
			 struct hdr_edit *h, char *err, size_t errlen)
{
	static const char *const req_fields[] = { "remove", "rename", "set", "add", NULL };
	static const char *const resp_fields[] = { "remove", "set", "add", NULL };
	char w[64];
	int ret;

	if (!hj)
		return 0;
	if ((ret = gw_json_check_fields(hj, where, allow_rename ? req_fields : resp_fields, err, errlen)))
		return ret;
	snprintf(w, sizeof(w), "%s.remove", where);
	if ((ret = parse_names(json_object_get(hj, "remove"), w, true, &h->remove, &h->nremove, err,
			       errlen)))
		return ret;
	snprintf(w, sizeof(w), "%s.rename", where);
	if ((ret = parse_params(json_object_get(hj, "rename"), w, true, true, &h->rename,
				&h->nrename, err, errlen)))
		return ret;
	snprintf(w, sizeof(w), "%s.set", where);
	if ((ret = parse_params(json_object_get(hj, "set"), w, true, false, &h->set, &h->nset, err,
				errlen)))
		return ret;
	snprintf(w, sizeof(w), "%s.add", where);
	return parse_params(json_object_get(hj, "add"), w, true, false, &h->add, &h->nadd, err,
			    errlen);
}

static void free_params(struct tf_param *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void free_hdr_edit(struct hdr_edit *h)
{
	free_names(h->remove, h->nremove);
	free_params(h->rename, h->nrename);
	free_params(h->set, h->nset);
	free_params(h->add, h->nadd);
}

static void transform_free(void *p)
{
	struct transform *t = p;

	if (!t)
		return;
	free_hdr_edit(&t->req_headers);
	free_hdr_edit(&t->resp_headers);
	free_names(t->query.remove, t->query.nremove);
	free_params(t->query.set, t->query.nset);
	free_params(t->query.add, t->query.nadd);
	free(t->path_fixed);
	if (t->has_path_re)
		regfree(&t->path_re);
	free(t->path_rep);
	jp_program_free(&t->body);
	free(t);
}

static int parse_mode(const json_t *obj, const char *key, const char *where, bool *fail, char *err,
		      size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	const char *s = json_string_value(v);

	*fail = false;
	if (!v)
		return 0;
	if (s && !strcmp(s, "pass"))
		return 0;
	if (s && !strcmp(s, "fail")) {
		*fail = true;
		return 0;
	}
	snprintf(err, errlen, "%s.%s: must be pass or fail", where, key);
	return -EINVAL;
}

static int parse_path(struct transform *t, const json_t *pj, char *err, size_t errlen)
{
	static const char *const fields[] = { "regex", "replace", NULL };
	const char *re, *rep;
	char rerr[128];
	int rc;

	if (!pj)
		return 0;
	if (json_is_string(pj)) {
		if (json_string_value(pj)[0] != '/' || !gw_http_value_valid(json_string_value(pj))) {
			snprintf(err, errlen, ".request.path: must start with /");
			return -EINVAL;
		}
		t->path_fixed = strdup(json_string_value(pj));
		return t->path_fixed ? 0 : -ENOMEM;
	}
	if ((rc = gw_json_check_fields(pj, ".request.path", fields, err, errlen)))
		return rc;
	re = json_string_value(json_object_get(pj, "regex"));
	rep = json_string_value(json_object_get(pj, "replace"));
	if (!re || !rep) {
		snprintf(err, errlen, ".request.path: needs \"regex\" and \"replace\" strings");
		return -EINVAL;
	}
	if (!gw_http_value_valid(rep) || strchr(rep, '?')) {
		snprintf(err, errlen, ".request.path.replace: must be a path without a query");
		return -EINVAL;
	}
	if ((rc = regcomp(&t->path_re, re, REG_EXTENDED))) {
		regerror(rc, &t->path_re, rerr, sizeof(rerr));
		snprintf(err, errlen, ".request.path.regex: invalid regular expression: %s", rerr);
		return -EINVAL;
	}
	t->has_path_re = true;
	for (const char *r = rep; *r; r++)
		if (r[0] == '$' && r[1] >= '1' && r[1] <= '9' &&
		    (size_t)(r[1] - '0') > t->path_re.re_nsub) {
			snprintf(err, errlen, ".request.path.replace: $%c but the regex has %zu groups",
				 r[1], t->path_re.re_nsub);
			return -EINVAL;
		}
	t->path_rep = strdup(rep);
	return t->path_rep ? 0 : -ENOMEM;
}

static int parse_request(struct transform *t, const json_t *rq, char *err, size_t errlen)
{
	static const char *const fields[] = { "headers", "query", "path", NULL };
	static const char *const qfields[] = { "remove", "set", "add", NULL };
	json_t *q;
	int rc;

	if (!rq)
		return 0;
	if ((rc = gw_json_check_fields(rq, ".request", fields, err, errlen)) ||
	    (rc = parse_headers(json_object_get(rq, "headers"), ".request.headers", true,
				&t->req_headers, err, errlen)) ||
	    (rc = parse_path(t, json_object_get(rq, "path"), err, errlen)))
		return rc;
	q = json_object_get(rq, "query");
	if (!q)
		return 0;
	t->has_query = true;
	if ((rc = gw_json_check_fields(q, ".request.query", qfields, err, errlen)) ||
	    (rc = parse_names(json_object_get(q, "remove"), ".request.query.remove", false,
			      &t->query.remove, &t->query.nremove, err, errlen)) ||
	    (rc = parse_params(json_object_get(q, "set"), ".request.query.set", false, false,
			       &t->query.set, &t->query.nset, err, errlen)))
		return rc;
	return parse_params(json_object_get(q, "add"), ".request.query.add", false, false,
			    &t->query.add, &t->query.nadd, err, errlen);
}

static int parse_body(struct transform *t, const json_t *bj, char *err, size_t errlen)
{
	static const char *const extra[] = { "max_bytes", "oversize", "on_error", "accept_identity",
					     NULL };
	json_t *v;
	char perr[512];
	int rc;

	if (!bj)
		return 0;
	if (!json_is_object(bj)) {
		snprintf(err, errlen, ".response.body: must be an object");
		return -EINVAL;
	}
	if ((rc = jp_program_compile(bj, extra, &t->body, perr, sizeof(perr)))) {
		snprintf(err, errlen, ".response.body%s", perr);
		return rc;
	}
	v = json_object_get(bj, "max_bytes");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > MAX_BODY_LIMIT)) {
		snprintf(err, errlen, ".response.body.max_bytes: must be 1-%u", MAX_BODY_LIMIT);
		return -EINVAL;
	}
	t->max_body = v ? (size_t)json_integer_value(v) : DEFAULT_MAX_BODY;
	v = json_object_get(bj, "accept_identity");
	if (v && !json_is_boolean(v)) {
		snprintf(err, errlen, ".response.body.accept_identity: must be true or false");
		return -EINVAL;
	}
	t->accept_identity = !v || json_is_true(v);
	if ((rc = parse_mode(bj, "oversize", ".response.body", &t->oversize_fail, err, errlen)))
		return rc;
	return parse_mode(bj, "on_error", ".response.body", &t->error_fail, err, errlen);
}

static void *transform_compile(const json_t *conf, const struct gw_policy_env *env, char *err,
			       size_t errlen)
{
	static const char *const fields[] = { "request", "response", NULL };
	static const char *const rfields[] = { "headers", "body", NULL };
	struct transform *t = calloc(1, sizeof(*t));
	json_t *rs = json_object_get(conf, "response");
	int rc;

	if (!t) {
		snprintf(err, errlen, ": out of memory");
		return NULL;
	}
	if ((rc = gw_json_check_fields(conf, "", fields, err, errlen)) ||
	    (rc = parse_request(t, json_object_get(conf, "request"), err, errlen)))
		goto fail;
	if (rs && ((rc = gw_json_check_fields(rs, ".response", rfields, err, errlen)) ||
		   (rc = parse_headers(json_object_get(rs, "headers"), ".response.headers", false,
				       &t->resp_headers, err, errlen)) ||
		   (rc = parse_body(t, json_object_get(rs, "body"), err, errlen))))
		goto fail;
	if (!json_object_size(conf)) {
		snprintf(err, errlen, ": needs a request or response block");
		goto fail;
	}
	return t;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, ": out of memory");
	transform_free(t);
	return NULL;
}

/* ---- request ---- */

static void rename_req_header(struct gw_ctx *c, const char *from, const char *to)
{
	struct gw_str v;
	char *copy;

	if (!gw_ctx_req_header(c, from, &v))
		return;
	copy = gw_ctx_alloc(c, v.len + 1);
	memcpy(copy, v.p, v.len);
	gw_ctx_req_header_remove(c, from);
	gw_ctx_req_header_set(c, to, copy, v.len);
}

static void rewrite_url(struct transform *t, struct gw_ctx *c)
{
	struct gw_str cur = gw_ctx_path(c);
	const char *q = memchr(cur.p, '?', cur.len);
	size_t plen = q ? (size_t)(q - cur.p) : cur.len, qlen = q ? cur.len - plen - 1 : 0;
	char *out = gw_ctx_alloc(c, 2 * MAX_URL + 2), *path = out, *query = out + MAX_URL + 1;
	size_t np = plen, nq = qlen;

	if (cur.len > MAX_URL)
		return;
	memcpy(path, cur.p, plen);
	if (t->path_fixed) {
		np = strlen(t->path_fixed);
		memcpy(path, t->path_fixed, np);
	} else if (t->has_path_re) {
		size_t n = tf_path_rewrite(&t->path_re, t->path_rep, cur.p, plen, path, MAX_URL);

		if (n == (size_t)-1)
			return;
		np = n ? n : plen;
	}
	if (t->has_query) {
		nq = tf_query_rewrite(&t->query, q ? q + 1 : "", qlen, query, MAX_URL);
		if (nq == (size_t)-1)
			return;
	} else if (q) {
		memcpy(query, q + 1, qlen);
	}
	if (nq) {
		path[np++] = '?';
		memmove(path + np, query, nq);
		np += nq;
	}
	gw_ctx_set_path(c, path, np);
}

static enum gw_policy_verdict transform_request(void *inst, struct gw_ctx *c)
{
	struct transform *t = inst;
	const struct hdr_edit *h = &t->req_headers;
	size_t i;

	for (i = 0; i < h->nremove; i++)
		gw_ctx_req_header_remove(c, h->remove[i]);
	for (i = 0; i < h->nrename; i++)
		rename_req_header(c, h->rename[i].name, h->rename[i].value);
	for (i = 0; i < h->nset; i++)
		gw_ctx_req_header_set(c, h->set[i].name, h->set[i].value, strlen(h->set[i].value));
	for (i = 0; i < h->nadd; i++)
		gw_ctx_req_header_add(c, h->add[i].name, h->add[i].value, strlen(h->add[i].value));
	if (t->has_query || t->path_fixed || t->has_path_re)
		rewrite_url(t, c);
	if (t->accept_identity && !jp_program_empty(&t->body))
		gw_ctx_req_header_set(c, "accept-encoding", "identity", 8);
	COUNT(n_requests);
	return GW_POLICY_CONTINUE;
}

/* ---- response ---- */

static void transform_response(void *inst, struct gw_ctx *c)
{
	struct transform *t = inst;
	const struct hdr_edit *h = &t->resp_headers;
	size_t i;

	for (i = 0; i < h->nremove; i++)
		gw_ctx_resp_header_remove(c, h->remove[i]);
	for (i = 0; i < h->nset; i++)
		gw_ctx_resp_header_set(c, h->set[i].name, h->set[i].value, strlen(h->set[i].value));
	for (i = 0; i < h->nadd; i++)
		gw_ctx_resp_header_add(c, h->add[i].name, h->add[i].value, strlen(h->add[i].value));
}

static size_t transform_body_wanted(void *inst, struct gw_ctx *c, bool *fail_oversize)
{
	struct transform *t = inst;
	struct gw_str ct;

	if (jp_program_empty(&t->body) || !gw_ctx_resp_header(c, "content-type", &ct) ||
	    !tf_is_json_type(ct.p, ct.len))
		return 0;
	*fail_oversize = t->oversize_fail;
	return t->max_body;
}

/* An edit could not be made: leave the body as it is, or fail, per on_error. */
static int body_error(struct transform *t)
{
	COUNT(n_invalid);
	if (t->error_fail) {
		COUNT(n_failed);
		return -1;
	}
	return 0;
}

static void weaken_etag(struct gw_ctx *c)
{
	struct gw_str v;
	char *w;

	if (!gw_ctx_resp_header(c, "etag", &v) || (v.len >= 2 && !memcmp(v.p, "W/", 2)))
		return;
	w = gw_ctx_alloc(c, v.len + 2);
	memcpy(w, "W/", 2);
	memcpy(w + 2, v.p, v.len);
	gw_ctx_resp_header_set(c, "etag", w, v.len + 2);
}

static int transform_body(void *inst, struct gw_ctx *c, const char **body, size_t *len)
{
	struct transform *t = inst;
	const char *in = *body;
	char *decoded = NULL, *out;
	size_t inlen = *len, outlen;
	struct gw_str enc = { "", 0 };
	enum jp_run_result r;
	int rc;

	gw_ctx_resp_header(c, "content-encoding", &enc);
	if (!gw_encoding_identity(enc.p, enc.len)) {
		if (!gw_encoding_supported(enc.p, enc.len))
			return body_error(t);
		rc = gw_inflate(in, inlen, t->max_body, &decoded, &inlen);
		if (rc == -E2BIG) {
			COUNT(n_oversize);
			return t->oversize_fail ? -1 : 0;
		}
		if (rc)
			return rc == -ENOMEM ? -1 : body_error(t);
		in = decoded;
		COUNT(n_decoded);
	}
	r = jp_program_run(&t->body, in, inlen, &out, &outlen);
	switch (r) {
	case JP_RUN_CHANGED:
		free(decoded);
		*body = gw_ctx_alloc(c, outlen ? outlen : 1);
		memcpy((char *)*body, out, outlen);
		*len = outlen;
		free(out);
		COUNT(n_changed);
		gw_ctx_resp_header_remove(c, "content-encoding");
		weaken_etag(c);
		return 0;
	case JP_RUN_UNCHANGED:
		free(decoded);
		COUNT(n_unchanged);
		return 0;
	case JP_RUN_INVALID:
		free(decoded);
		return body_error(t);
	case JP_RUN_NOMEM:
		break;
	}
	free(decoded);
	COUNT(n_failed);
	return -1;
}

static void transform_metrics(FILE *out)
{
	fprintf(out,
		"# HELP xdpgw_gateway_transform_requests_total Requests the transform policy "
		"rewrote.\n"
		"# TYPE xdpgw_gateway_transform_requests_total counter\n"
		"xdpgw_gateway_transform_requests_total %llu\n"
		"# HELP xdpgw_gateway_transform_bodies_total JSON response bodies by outcome "
		"(changed, unchanged, invalid: not JSON or undecodable, oversize after decoding, "
		"failed: answered 502).\n"
		"# TYPE xdpgw_gateway_transform_bodies_total counter\n"
		"xdpgw_gateway_transform_bodies_total{result=\"changed\"} %llu\n"
		"xdpgw_gateway_transform_bodies_total{result=\"unchanged\"} %llu\n"
		"xdpgw_gateway_transform_bodies_total{result=\"invalid\"} %llu\n"
		"xdpgw_gateway_transform_bodies_total{result=\"oversize\"} %llu\n"
		"xdpgw_gateway_transform_bodies_total{result=\"failed\"} %llu\n"
		"# HELP xdpgw_gateway_transform_decoded_total Compressed bodies decoded to edit them.\n"
		"# TYPE xdpgw_gateway_transform_decoded_total counter\n"
		"xdpgw_gateway_transform_decoded_total %llu\n",
		__atomic_load_n(&n_requests, __ATOMIC_RELAXED),
		__atomic_load_n(&n_changed, __ATOMIC_RELAXED),
		__atomic_load_n(&n_unchanged, __ATOMIC_RELAXED),
		__atomic_load_n(&n_invalid, __ATOMIC_RELAXED),
		__atomic_load_n(&n_oversize, __ATOMIC_RELAXED),
		__atomic_load_n(&n_failed, __ATOMIC_RELAXED),
		__atomic_load_n(&n_decoded, __ATOMIC_RELAXED));
}

static const struct gw_policy_ops transform_ops = {
	.name = "transform",
	.flags = GW_POLICY_WANTS_BODY,
	.compile = transform_compile,
	.free = transform_free,
	.on_request = transform_request,
	.on_response = transform_response,
	.on_body = transform_body,
	.metrics = transform_metrics,
	.body_wanted = transform_body_wanted,
};

GW_POLICY_REGISTER(transform_ops)
