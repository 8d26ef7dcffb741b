// SPDX-License-Identifier: GPL-2.0
/* Gateway config fixtures for unit tests (see gwtest.h). */
#include "lib/gwtest.h"

#include "lib/test.h"

struct gw_config *gwt_compile(const char *json)
{
	char err[512];
	json_t *j = json_loads(json, 0, NULL);
	struct gw_config *cfg;

	if (!ASSERT_NOT_NULL(j))
		return NULL;
	cfg = gw_config_compile(j, err, sizeof(err));
	json_decref(j);
	if (!cfg)
		test_fail_at(__FILE__, __LINE__, "compile: %s", err);
	return cfg;
}

void gwt_expect_error(const char *json, const char *want)
{
	char err[512] = "";
	json_t *j = json_loads(json, 0, NULL);
	struct gw_config *cfg;

	if (!ASSERT_NOT_NULL(j))
		return;
	cfg = gw_config_compile(j, err, sizeof(err));
	json_decref(j);
	if (!ASSERT_TRUE(cfg == NULL, "compiled, want error: %s", want)) {
		gw_config_put(cfg);
		return;
	}
	ASSERT_STREQ(err, want);
}
