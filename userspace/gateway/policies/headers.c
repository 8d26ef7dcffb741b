// SPDX-License-Identifier: GPL-2.0
/*
 * request-headers and response-headers: set, add and remove headers on the way to the upstream
 * or back to the client. Config:
 *   {name: request-headers, set: {X-Env: prod}, add: {X-Tag: a}, remove: [X-Debug]}
 * Removal runs first, then set (replaces), then add (appends).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/policy.h"

struct hdr {
	char *name, *value;
	size_t value_len;
};

struct headers_policy {
	struct hdr *set, *add;
	size_t nset, nadd;
	char **remove;
	size_t nremove;
	unsigned long long applied;
};

static unsigned long long applied_req, applied_resp;

static void headers_free(void *p)
{
	struct headers_policy *hp = p;
	size_t i;

	if (!hp)
		return;
	for (i = 0; i < hp->nset; i++) {
		free(hp->set[i].name);
		free(hp->set[i].value);
	}
	for (i = 0; i < hp->nadd; i++) {
		free(hp->add[i].name);
		free(hp->add[i].value);
	}
	for (i = 0; i < hp->nremove; i++)
		free(hp->remove[i]);
	free(hp->set);
	free(hp->add);
	free(hp->remove);
	free(hp);
}

static int parse_map(const json_t *conf, const char *key, struct hdr **out, size_t *n, char *err,
		     size_t errlen)
{
	json_t *obj = json_object_get(conf, key), *v;
	const char *name;

	*n = 0;
	if (!obj)
		return 0;
	if (!json_is_object(obj)) {
		snprintf(err, errlen, ".%s: must be an object of NAME: VALUE", key);
		return -1;
	}
	*out = calloc(json_object_size(obj) + 1, sizeof(**out));
	if (!*out)
		return -1;
	json_object_foreach(obj, name, v) {
		if (!gw_http_token_valid(name)) {
			snprintf(err, errlen, ".%s: \"%s\" is not a valid header name", key, name);
			return -1;
		}
		if (!json_is_string(v) || !gw_http_value_valid(json_string_value(v))) {
			snprintf(err, errlen, ".%s.%s: must be a string without control characters",
				 key, name);
			return -1;
		}
		(*out)[*n].name = strdup(name);
		(*out)[*n].value = strdup(json_string_value(v));
		(*out)[*n].value_len = json_string_length(v);
		(*n)++;
	}
	return 0;
}

static void *headers_compile(const json_t *conf, const struct gw_policy_env *env, char *err,
			     size_t errlen)
{
	struct headers_policy *hp = calloc(1, sizeof(*hp));
	json_t *rm = json_object_get(conf, "remove"), *v;
	const char *key;
	size_t i;

	if (!hp)
		return NULL;
	json_object_foreach((json_t *)conf, key, v) {
		if (strcmp(key, "set") && strcmp(key, "add") && strcmp(key, "remove")) {
			snprintf(err, errlen, ": unknown field \"%s\" (set, add, remove)", key);
			goto fail;
		}
	}
	if (parse_map(conf, "set", &hp->set, &hp->nset, err, errlen) ||
	    parse_map(conf, "add", &hp->add, &hp->nadd, err, errlen))
		goto fail;
	if (rm && !json_is_array(rm)) {
		snprintf(err, errlen, ".remove: must be a list of header names");
		goto fail;
	}
	hp->remove = calloc(json_array_size(rm) + 1, sizeof(char *));
	json_array_foreach(rm, i, v) {
		if (!json_is_string(v) || !gw_http_token_valid(json_string_value(v))) {
			snprintf(err, errlen, ".remove[%zu]: must be a header name", i);
			goto fail;
		}
		hp->remove[hp->nremove++] = strdup(json_string_value(v));
	}
	if (!hp->nset && !hp->nadd && !hp->nremove) {
		snprintf(err, errlen, ": needs at least one of set, add, remove");
		goto fail;
	}
	return hp;
fail:
	headers_free(hp);
	return NULL;
}

static enum gw_policy_verdict request_apply(void *inst, struct gw_ctx *c)
{
	struct headers_policy *hp = inst;
	size_t i;

	for (i = 0; i < hp->nremove; i++)
		gw_ctx_req_header_remove(c, hp->remove[i]);
	for (i = 0; i < hp->nset; i++)
		gw_ctx_req_header_set(c, hp->set[i].name, hp->set[i].value, hp->set[i].value_len);
	for (i = 0; i < hp->nadd; i++)
		gw_ctx_req_header_add(c, hp->add[i].name, hp->add[i].value, hp->add[i].value_len);
	__atomic_fetch_add(&applied_req, 1, __ATOMIC_RELAXED);
	return GW_POLICY_CONTINUE;
}

static void response_apply(void *inst, struct gw_ctx *c)
{
	struct headers_policy *hp = inst;
	size_t i;

	for (i = 0; i < hp->nremove; i++)
		gw_ctx_resp_header_remove(c, hp->remove[i]);
	for (i = 0; i < hp->nset; i++)
		gw_ctx_resp_header_set(c, hp->set[i].name, hp->set[i].value, hp->set[i].value_len);
	for (i = 0; i < hp->nadd; i++)
		gw_ctx_resp_header_add(c, hp->add[i].name, hp->add[i].value, hp->add[i].value_len);
	__atomic_fetch_add(&applied_resp, 1, __ATOMIC_RELAXED);
}

static void headers_metrics(FILE *out)
{
	fprintf(out,
		"# HELP xdpgw_gateway_policy_headers_applied_total Requests and responses whose "
		"headers a headers policy changed.\n"
		"# TYPE xdpgw_gateway_policy_headers_applied_total counter\n"
		"xdpgw_gateway_policy_headers_applied_total{policy=\"request-headers\"} %llu\n"
		"xdpgw_gateway_policy_headers_applied_total{policy=\"response-headers\"} %llu\n",
		__atomic_load_n(&applied_req, __ATOMIC_RELAXED),
		__atomic_load_n(&applied_resp, __ATOMIC_RELAXED));
}

static const struct gw_policy_ops request_headers = {
	.name = "request-headers",
	.compile = headers_compile,
	.free = headers_free,
	.on_request = request_apply,
	.metrics = headers_metrics,
};

static const struct gw_policy_ops response_headers = {
	.name = "response-headers",
	.compile = headers_compile,
	.free = headers_free,
	.on_response = response_apply,
};

GW_POLICY_REGISTER(request_headers)
GW_POLICY_REGISTER(response_headers)
