// SPDX-License-Identifier: GPL-2.0
/*
 * key-auth: an API key from a header (default X-API-Key) or a query parameter identifies the
 * consumer. Keys are stored as SHA-256 digests (gateway.consumers[].keys[].sha256); a request's
 * key is hashed and looked up by digest, compared in constant time. Config:
 *   {name: key-auth, header: X-API-Key, query: api_key, hide_credentials: true,
 *    consumer_header: X-Consumer-Id, realm: api}
 * Failure: 401 with `WWW-Authenticate: ApiKey realm="..."`.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/policies/auth.h"

#define MAX_KEY_LEN 4096

struct key_auth {
	struct auth_common ac;
	char *header;		/* lower case; NULL: not read from a header */
	char *query;		/* query parameter name; NULL: not read from the query */
	size_t query_len;
	const struct gw_consumers *consumers;
	char challenge[128];
};

static void key_auth_free(void *p)
{
	struct key_auth *ka = p;

	if (!ka)
		return;
	auth_common_free(&ka->ac);
	free(ka->header);
	free(ka->query);
	free(ka);
}

static void *key_auth_compile(const json_t *conf, const struct gw_policy_env *env, char *err,
			      size_t errlen)
{
	static const char *const fields[] = { "header", "query", NULL };
	struct key_auth *ka = calloc(1, sizeof(*ka));
	json_t *h = json_object_get(conf, "header"), *q = json_object_get(conf, "query");

	if (!ka)
		return NULL;
	if (auth_check_fields(conf, fields, true, err, errlen) ||
	    auth_common_parse(conf, &ka->ac, err, errlen))
		goto fail;
	if (h && !json_is_false(h) && (!json_is_string(h) || !json_string_length(h) ||
					strpbrk(json_string_value(h), " :\t\r\n"))) {
		snprintf(err, errlen, ".header: must be a header name, or false");
		goto fail;
	}
	if (q && (!json_is_string(q) || !json_string_length(q) ||
		  strpbrk(json_string_value(q), "&=#? "))) {
		snprintf(err, errlen, ".query: must be a query parameter name");
		goto fail;
	}
	if (!h || json_is_string(h)) {
		ka->header = strdup(h ? json_string_value(h) : "x-api-key");
		for (char *p = ka->header; p && *p; p++)
			*p = tolower((unsigned char)*p);
	}
	if (q) {
		ka->query = strdup(json_string_value(q));
		ka->query_len = strlen(ka->query);
	}
	if (!ka->header && !ka->query) {
		snprintf(err, errlen, ": needs a header or a query parameter to read the key from");
		goto fail;
	}
	ka->consumers = env->consumers;
	snprintf(ka->challenge, sizeof(ka->challenge), "ApiKey realm=\"%s\"", ka->ac.realm);
	return ka;
fail:
	key_auth_free(ka);
	return NULL;
}

/*
 * Finds NAME=VALUE in the query of path; returns the value (not decoded: keys are expected to
 * be URL-safe) and the span of the whole parameter, including one '&' separator, in *ps, *pe.
 */
static bool find_query(struct gw_str path, const char *name, size_t nlen, struct gw_str *value,
		       size_t *ps, size_t *pe)
{
	const char *q = memchr(path.p, '?', path.len);
	size_t i, end = path.len;

	if (!q)
		return false;
	i = q - path.p + 1;
	while (i < end) {
		size_t s = i, e;

		while (i < end && path.p[i] != '&')
			i++;
		e = i;
		if (e - s > nlen && !memcmp(path.p + s, name, nlen) && path.p[s + nlen] == '=') {
			value->p = path.p + s + nlen + 1;
			value->len = e - s - nlen - 1;
			*ps = s;
			*pe = e < end ? e + 1 : e;
			return true;
		}
		i++;
	}
	return false;
}

static void remove_query_param(struct gw_ctx *c, struct gw_str path, size_t ps, size_t pe)
{
	char *p = gw_ctx_alloc(c, path.len);
	size_t n;

	memcpy(p, path.p, ps);
	memcpy(p + ps, path.p + pe, path.len - pe);
	n = path.len - (pe - ps);
	/* A trailing '&' or a query left empty: drop it too. */
	while (n > 0 && (p[n - 1] == '&' || p[n - 1] == '?'))
		n--;
	gw_ctx_set_path(c, p, n);
}

static enum gw_policy_verdict key_auth_request(void *inst, struct gw_ctx *c)
{
	struct key_auth *ka = inst;
	struct gw_auth_info *info;
	const struct gw_consumer *who;
	struct gw_str key = { NULL, 0 }, path = { NULL, 0 };
	size_t ps = 0, pe = 0;
	bool from_query = false;
	uint8_t digest[32];

	auth_strip_consumer_header(c, &ka->ac);
	if (!ka->header || !gw_ctx_req_header(c, ka->header, &key)) {
		if (ka->query) {
			path = gw_ctx_path(c);
			from_query = find_query(path, ka->query, ka->query_len, &key, &ps, &pe);
		}
		if (!from_query)
			return auth_fail(c, AUTH_KEY, AUTH_MISSING, ka->challenge);
	}
	if (key.len == 0)
		return auth_fail(c, AUTH_KEY, AUTH_MISSING, ka->challenge);
	if (key.len > MAX_KEY_LEN)
		return auth_fail(c, AUTH_KEY, AUTH_TOO_LARGE, ka->challenge);
	auth_sha256(key.p, key.len, digest);
	who = gw_consumer_by_key(ka->consumers, digest);
	if (!who)
		return auth_fail(c, AUTH_KEY, AUTH_UNKNOWN_KEY, ka->challenge);
	if (ka->ac.hide_credentials) {
		if (from_query)
			remove_query_param(c, path, ps, pe);
		else
			gw_ctx_req_header_remove(c, ka->header);
	}
	info = gw_ctx_alloc(c, sizeof(*info));
	*info = (struct gw_auth_info){ .id = who->id, .consumer = who };
	auth_success(c, &ka->ac, info);
	auth_count_ok(AUTH_KEY);
	return GW_POLICY_CONTINUE;
}

static void key_auth_metrics(FILE *out)
{
	auth_metrics(out);	/* the shared counters of every authentication policy */
}

static const struct gw_policy_ops key_auth_ops = {
	.name = "key-auth",
	.compile = key_auth_compile,
	.free = key_auth_free,
	.on_request = key_auth_request,
	.metrics = key_auth_metrics,
};

GW_POLICY_REGISTER(key_auth_ops)
