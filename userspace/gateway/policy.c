// SPDX-License-Identifier: GPL-2.0
/*
 * The registry of policy types (each policy file registers itself from a constructor) and the
 * checks their config parsers share.
 */
#include <errno.h>
#include <string.h>

#include "gateway/policy.h"

#define MAX_POLICY_TYPES 64

static const struct gw_policy_ops *types[MAX_POLICY_TYPES];
static size_t ntypes;

void gw_policy_register(const struct gw_policy_ops *ops)
{
	if (ntypes < MAX_POLICY_TYPES && !gw_policy_find(ops->name))
		types[ntypes++] = ops;
}

const struct gw_policy_ops *gw_policy_find(const char *name)
{
	for (size_t i = 0; i < ntypes; i++)
		if (!strcmp(types[i]->name, name))
			return types[i];
	return NULL;
}

void gw_policy_foreach(void (*fn)(const struct gw_policy_ops *ops, void *arg), void *arg)
{
	for (size_t i = 0; i < ntypes; i++)
		fn(types[i], arg);
}

bool gw_http_token_valid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 127 || strchr("()<>@,;:\\\"/[]?={}", *s))
			return false;
	return true;
}

bool gw_http_value_valid(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' && *s != '\t')
			return false;
	return true;
}

int gw_json_check_fields(const json_t *obj, const char *where, const char *const *known,
			 char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "%s: must be an object", where);
		return -EINVAL;
	}
	json_object_foreach((json_t *)obj, key, v) {
		const char *const *k;

		for (k = known; *k && strcmp(*k, key); k++)
			;
		if (!*k) {
			snprintf(err, errlen, "%s: unknown field \"%s\"", where, key);
			return -EINVAL;
		}
	}
	return 0;
}
