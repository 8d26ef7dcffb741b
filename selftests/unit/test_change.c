// SPDX-License-Identifier: GPL-2.0
/* The change pipeline with two recording modules: compile errors, rollback, save, dry runs. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "gwd/cfg.h"
#include "gwd/gwd.h"
#include "gwd/state.h"
#include "lib/test.h"

static char calls[512];	/* "alpha:3 beta:fail alpha:0" ... */

struct fake {
	const char *name;
	uint32_t value;
	bool fail_apply;
};

static void *fake_compile(void *priv, const json_t *sec, const json_t *doc, struct gwd_err *err)
{
	static const char *const known[] = { "value", "fail_apply", NULL };
	const char *name = priv;
	struct fake *f = calloc(1, sizeof(*f));

	f->name = name;
	if (sec && (cfg_fields(sec, name, known, err) ||
		    cfg_u32(sec, name, "value", 0, 10, 0, &f->value, err) ||
		    cfg_bool(sec, name, "fail_apply", false, &f->fail_apply, err))) {
		free(f);
		return NULL;
	}
	return f;
}

static int fake_apply(void *priv, const void *compiled, const void *old, struct gwd_err *err)
{
	const struct fake *f = compiled;
	size_t n = strlen(calls);

	snprintf(calls + n, sizeof(calls) - n, "%s%s:%u%s", n ? " " : "", f->name, f->value,
		 f->fail_apply ? "!" : "");
	if (f->fail_apply)
		return gwd_err_set(err, 500, "%s refused to apply", f->name);
	return 0;
}

static int fake_init(struct gwd *gwd, void **priv, struct gwd_err *err);

static const struct gwd_module alpha = {
	.name = "alpha", .section = "alpha", .init = fake_init, .compile = fake_compile,
	.apply = fake_apply, .free = free,
};
static const struct gwd_module beta = {
	.name = "beta", .section = "beta", .init = fake_init, .compile = fake_compile,
	.apply = fake_apply, .free = free,
};
static const struct gwd_module *const mods[] = { &alpha, &beta, NULL };

static int fake_init(struct gwd *gwd, void **priv, struct gwd_err *err)
{
	*priv = (void *)(gwd->n_mods == 0 ? "alpha" : "beta");
	return 0;
}

static struct gwd gwd;
static char dir[64];

static void setup(void)
{
	struct gwd_err err = { 0 };

	memset(&gwd, 0, sizeof(gwd));
	snprintf(dir, sizeof(dir), "/tmp/xg-change-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(gwd.state_path, sizeof(gwd.state_path), "%s/state.json", dir);
	if (gwd_core_init(&gwd, mods, &err) ||
	    gwd_core_start(&gwd, json_loads("{\"alpha\": {\"value\": 1}}", 0, NULL), true, "test",
			   &err))
		abort();
	calls[0] = '\0';
}

static void teardown(void)
{
	gwd_core_fini(&gwd);
	unlink(gwd.state_path);
	rmdir(dir);
}

static int change(const char *doc, bool dry, json_t **diff, struct gwd_err *err)
{
	struct gwd_change_info ci = { .who = "test", .what = doc, .dry_run = dry,
				      .if_generation = -1 };

	return gwd_change(&gwd, json_loads(doc, 0, NULL), &ci, diff, err);
}

static bool saved_is(const char *want_text, uint64_t want_gen)
{
	json_t *got = NULL, *want = json_loads(want_text, 0, NULL);
	uint64_t gen = 0;
	char err[512];
	bool ok = ASSERT_OK(state_load(gwd.state_path, &got, &gen, err, sizeof(err))) &&
		  ASSERT_TRUE(json_equal(got, want), "saved document is %s", want_text) &&
		  ASSERT_EQ(gen, want_gen);

	json_decref(got);
	json_decref(want);
	return ok;
}

TEST(change_applies_saves_and_diffs)
{
	struct gwd_err err = { 0 };
	json_t *diff = NULL;

	setup();
	ASSERT_EQ(gwd.generation, 1);
	ASSERT_OK(change("{\"alpha\": {\"value\": 3}, \"beta\": {}}", false, &diff, &err));
	ASSERT_STREQ(calls, "alpha:3 beta:0");
	ASSERT_EQ(json_array_size(diff), 2);
	ASSERT_EQ(gwd.generation, 2);
	saved_is("{\"alpha\": {\"value\": 3}, \"beta\": {}}", 2);
	json_decref(diff);
	teardown();
}

TEST(compile_error_changes_nothing)
{
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{ "{\"alpha\": {\"value\": 11}}", "alpha.value: 11 is out of range 0-10" },
		{ "{\"alpha\": {\"value\": \"3\"}}", "alpha.value: expected an integer, got a string" },
		{ "{\"beta\": {\"valeu\": 1}}", "beta.valeu: unknown field (expected value, fail_apply)" },
		{ "{\"gamma\": {}}", "gamma: unknown section (expected alpha, beta)" },
		{ "[]", "the document must be an object of sections" },
	};

	setup();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gwd_err err = { 0 };

		ASSERT_TRUE(change(cases[i].doc, false, NULL, &err) < 0, "%s", cases[i].doc);
		ASSERT_STREQ(err.msg, cases[i].msg);
		ASSERT_EQ(err.status, 400);
	}
	ASSERT_STREQ(calls, "");
	ASSERT_EQ(gwd.generation, 1);
	ASSERT_EQ(gwd.changes_refused, 5);
	saved_is("{\"alpha\": {\"value\": 1}}", 1);
	teardown();
}

TEST(apply_failure_rolls_back)
{
	struct gwd_err err = { 0 };

	setup();
	ASSERT_TRUE(change("{\"alpha\": {\"value\": 4}, \"beta\": {\"fail_apply\": true}}", false,
			   NULL, &err) < 0);
	ASSERT_STREQ(err.msg, "beta refused to apply");
	ASSERT_EQ(err.status, 500);
	/* alpha applied, beta failed, then beta and alpha put back on their old objects. */
	ASSERT_STREQ(calls, "alpha:4 beta:0! beta:0 alpha:1");
	ASSERT_EQ(gwd.generation, 1);
	ASSERT_EQ(gwd.changes_failed, 1);
	saved_is("{\"alpha\": {\"value\": 1}}", 1);
	teardown();
}

TEST(save_failure_rolls_back)
{
	struct gwd_err err = { 0 };
	char want[600], path[PATH_MAX];

	setup();
	snprintf(path, sizeof(path), "%s", gwd.state_path);
	snprintf(gwd.state_path, sizeof(gwd.state_path), "%s/missing/state.json", dir);
	ASSERT_TRUE(change("{\"alpha\": {\"value\": 2}}", false, NULL, &err) < 0);
	snprintf(want, sizeof(want),
		 "cannot save state file %s/missing/state.json: No such file or directory; the "
		 "change was rolled back",
		 dir);
	ASSERT_STREQ(err.msg, want);
	ASSERT_STREQ(calls, "alpha:2 beta:0 beta:0 alpha:1");
	snprintf(gwd.state_path, sizeof(gwd.state_path), "%s", path);
	saved_is("{\"alpha\": {\"value\": 1}}", 1);
	teardown();
}

TEST(dry_run_and_noop)
{
	struct gwd_err err = { 0 };
	json_t *diff = NULL;

	setup();
	ASSERT_OK(change("{\"alpha\": {\"value\": 5}}", true, &diff, &err));
	ASSERT_EQ(json_array_size(diff), 1);
	json_decref(diff);
	ASSERT_OK(change("{\"alpha\": {\"value\": 1}}", false, &diff, &err));
	ASSERT_EQ(json_array_size(diff), 0);
	json_decref(diff);
	ASSERT_STREQ(calls, "");
	ASSERT_EQ(gwd.generation, 1);
	teardown();
}

TEST(if_generation_conflict)
{
	struct gwd_change_info ci = { .who = "t", .what = "w", .if_generation = 0 };
	struct gwd_err err = { 0 };

	setup();
	ASSERT_TRUE(gwd_change(&gwd, json_object(), &ci, NULL, &err) < 0);
	ASSERT_EQ(err.status, 409);
	ASSERT_STREQ(err.msg, "the configuration changed while this change was prepared "
			      "(generation 0, now 1): review and retry");
	ci.if_generation = 1;
	ASSERT_OK(gwd_change(&gwd, json_object(), &ci, NULL, &err));
	ASSERT_EQ(gwd.generation, 2);
	teardown();
}
