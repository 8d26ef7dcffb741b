// SPDX-License-Identifier: GPL-2.0
/*
 * acl: who may use a route. Client addresses against CIDR allow and deny lists (IPv4 and
 * IPv6), and the authenticated consumer (left by key-auth, basic-auth or jwt earlier in the
 * route's policies) against consumer and group lists. Config:
 *   {name: acl, allow_ips: [198.18.0.0/15], deny_ips: [198.18.0.66/32],
 *    allow_consumers: [alice], allow_groups: [admins], deny_consumers: [], deny_groups: []}
 * Order: a deny match refuses; then a non-empty allow list must match (addresses and
 * consumers are checked independently: both must pass). A consumer list on a route without
 * an authenticated consumer refuses. Refusal: 403 with the JSON error body.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/policies/auth.h"
#include "lib/addr.h"

#define MAX_LIST 4096

struct cidr {
	struct xg_addr net;
	uint8_t family, prefix;
};

struct name_list {
	char **v;
	size_t n;
};

struct acl {
	struct cidr *allow_ips, *deny_ips;
	size_t nallow_ips, ndeny_ips;
	struct name_list allow_consumers, allow_groups, deny_consumers, deny_groups;
	bool needs_consumer;
};

static void names_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void acl_free(void *p)
{
	struct acl *a = p;

	if (!a)
		return;
	free(a->allow_ips);
	free(a->deny_ips);
	names_free(&a->allow_consumers);
	names_free(&a->allow_groups);
	names_free(&a->deny_consumers);
	names_free(&a->deny_groups);
	free(a);
}

static int parse_cidrs(const json_t *conf, const char *key, struct cidr **out, size_t *n,
		       char *err, size_t errlen)
{
	json_t *arr = json_object_get(conf, key), *v;
	size_t i;

	*n = 0;
	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > MAX_LIST) {
		snprintf(err, errlen, ".%s: must be a list of at most %d CIDR prefixes", key,
			 MAX_LIST);
		return -EINVAL;
	}
	*out = calloc(json_array_size(arr) + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		struct cidr *c = &(*out)[i];

		if (!json_is_string(v) ||
		    cidr_parse(json_string_value(v), &c->net, &c->family, &c->prefix)) {
			snprintf(err, errlen, ".%s[%zu]: \"%s\" is not an IPv4 or IPv6 address or "
				 "CIDR prefix (ADDR/LEN)", key, i,
				 json_is_string(v) ? json_string_value(v) : "(not a string)");
			return -EINVAL;
		}
		*n = i + 1;
	}
	return 0;
}

static int parse_names(const json_t *conf, const char *key, struct name_list *l, char *err,
		       size_t errlen)
{
	json_t *arr = json_object_get(conf, key), *v;
	size_t i;

	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > MAX_LIST) {
		snprintf(err, errlen, ".%s: must be a list of at most %d names", key, MAX_LIST);
		return -EINVAL;
	}
	l->v = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (!l->v)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || !auth_valid_id(json_string_value(v))) {
			snprintf(err, errlen, ".%s[%zu]: must be a consumer id or group name", key, i);
			return -EINVAL;
		}
		l->v[i] = strdup(json_string_value(v));
		if (!l->v[i])
			return -ENOMEM;
		l->n = i + 1;
	}
	return 0;
}

static void *acl_compile(const json_t *conf, const struct gw_policy_env *env, char *err,
			 size_t errlen)
{
	static const char *const fields[] = { "allow_ips", "deny_ips", "allow_consumers",
					      "allow_groups", "deny_consumers", "deny_groups", NULL };
	struct acl *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	if (auth_check_fields(conf, fields, false, err, errlen) ||
	    parse_cidrs(conf, "allow_ips", &a->allow_ips, &a->nallow_ips, err, errlen) ||
	    parse_cidrs(conf, "deny_ips", &a->deny_ips, &a->ndeny_ips, err, errlen) ||
	    parse_names(conf, "allow_consumers", &a->allow_consumers, err, errlen) ||
	    parse_names(conf, "allow_groups", &a->allow_groups, err, errlen) ||
	    parse_names(conf, "deny_consumers", &a->deny_consumers, err, errlen) ||
	    parse_names(conf, "deny_groups", &a->deny_groups, err, errlen))
		goto fail;
	a->needs_consumer = a->allow_consumers.n || a->allow_groups.n || a->deny_consumers.n ||
			    a->deny_groups.n;
	if (!a->needs_consumer && !a->nallow_ips && !a->ndeny_ips) {
		snprintf(err, errlen, ": needs at least one of %s, %s, %s, %s, %s, %s", fields[0],
			 fields[1], fields[2], fields[3], fields[4], fields[5]);
		goto fail;
	}
	/* Consumer ids are not checked against gateway.consumers: tokens name their own. */
	return a;
fail:
	acl_free(a);
	return NULL;
}

static bool in_cidrs(const struct cidr *v, size_t n, const struct xg_addr *addr, uint8_t family)
{
	for (size_t i = 0; i < n; i++)
		if (cidr_contains(&v[i].net, v[i].family, v[i].prefix, addr, family))
			return true;
	return false;
}

static bool in_names(const struct name_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return true;
	return false;
}

static bool any_group(const struct name_list *l, const struct gw_auth_info *info)
{
	for (size_t i = 0; i < l->n; i++)
		if (gw_auth_in_group(info, l->v[i]))
			return true;
	return false;
}

static enum gw_policy_verdict acl_request(void *inst, struct gw_ctx *c)
{
	struct acl *a = inst;
	const struct gw_auth_info *info;
	const char *id;

	if (a->nallow_ips || a->ndeny_ips) {
		struct xg_addr addr;
		uint8_t family;

		if (addr_parse(gw_ctx_client(c), &addr, &family) ||
		    in_cidrs(a->deny_ips, a->ndeny_ips, &addr, family) ||
		    (a->nallow_ips && !in_cidrs(a->allow_ips, a->nallow_ips, &addr, family)))
			return auth_fail(c, AUTH_ACL, AUTH_IP_DENIED, NULL);
	}
	if (!a->needs_consumer)
		goto ok;
	id = gw_ctx_consumer(c);
	info = gw_auth_get(c);
	if (!id)
		return auth_fail(c, AUTH_ACL, AUTH_NO_CONSUMER, NULL);
	if (in_names(&a->deny_consumers, id) || any_group(&a->deny_groups, info))
		return auth_fail(c, AUTH_ACL, AUTH_CONSUMER_DENIED, NULL);
	if ((a->allow_consumers.n || a->allow_groups.n) && !in_names(&a->allow_consumers, id) &&
	    !any_group(&a->allow_groups, info))
		return auth_fail(c, AUTH_ACL, AUTH_CONSUMER_DENIED, NULL);
ok:
	auth_count_ok(AUTH_ACL);
	return GW_POLICY_CONTINUE;
}

static const struct gw_policy_ops acl_ops = {
	.name = "acl",
	.compile = acl_compile,
	.free = acl_free,
	.on_request = acl_request,
};

GW_POLICY_REGISTER(acl_ops)
