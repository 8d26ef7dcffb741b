// SPDX-License-Identifier: GPL-2.0
/* The registry of policy types; each policy file registers itself from a constructor. */
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
