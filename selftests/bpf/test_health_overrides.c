// SPDX-License-Identifier: GPL-2.0
/*
 * The health module driving the L4 module on a real datapath (private bpffs, no event loop:
 * probe results are fed by hand): fall failures take a backend out of the selection table,
 * rise successes bring it back, flapping changes nothing, an operator's drain or down wins
 * over a passing check, an undrain does not resurrect a failing backend, removing the check
 * trusts the backend again, and a restarted gwd keeps a failing backend out.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gwd/gwd.h"
#include "gwd/health.h"
#include "gwd/l4.h"
#include "lib/lbmap.h"
#include "lib/lbtest.h"
#include "lib/log.h"
#include "lib/test.h"

extern const struct gwd_module l4_module;
static const struct gwd_module *const mods[] = { &l4_module, &health_module, NULL };
static const char *const be_addr[] = { "198.18.0.30", "198.18.0.31", "198.18.0.32" };

static char dir[128];
static struct gwd gwd;

static bool sandbox(void)
{
	return lbt_sandbox("test-health", dir, sizeof(dir));
}

/* The document: service web with three backends; check and per-backend fields as given. */
static json_t *doc(const char *check, const char *be0, const char *be1)
{
	char text[1024];
	json_error_t jerr;

	snprintf(text, sizeof(text),
		 "{\"l4\": {\"services\": [{\"name\": \"web\", \"vip\": \"198.18.100.1:80\"%s%s, "
		 "\"backends\": [{\"addr\": \"%s\"%s}, {\"addr\": \"%s\"%s}, {\"addr\": \"%s\"}]}]}}",
		 check ? ", \"check\": " : "", check ? check : "", be_addr[0], be0 ? be0 : "",
		 be_addr[1], be1 ? be1 : "", be_addr[2]);
	return json_loads(text, 0, &jerr);
}

static bool start(json_t *d)
{
	struct gwd_err err = { 0 };

	memset(&gwd, 0, sizeof(gwd));
	gwd.opts.bpffs = dir;
	if (!ASSERT_OK(gwd_core_init(&gwd, mods, &err)))
		return false;
	if (!ASSERT_OK(gwd_core_start(&gwd, d, false, "test", &err))) {
		fprintf(stderr, "     %s\n", err.msg);
		return false;
	}
	return true;
}

static bool change(json_t *d)
{
	struct gwd_change_info ci = { .who = "test", .what = "change", .if_generation = -1 };
	struct gwd_err err = { 0 };
	bool ok = ASSERT_OK(gwd_change(&gwd, d, &ci, NULL, &err));

	if (!ok)
		fprintf(stderr, "     %s\n", err.msg);
	return ok;
}

static void feed(int be, const char *results)
{
	void *h = gwd_module_priv(&gwd, "health");

	for (const char *r = results; *r; r++)
		ASSERT_OK(health_feed(h, "web", be_addr[be], *r == '+', 100, "connect: refused"));
}

/* The backend's datapath entry, health entry, and whether the selection table holds it. */
struct view {
	struct xg_backend b;
	struct xg_backend_health h;
	bool selected;
};

static struct view view(int be)
{
	struct view v = { 0 };
	struct xg_addr a;
	struct lbmap *m;
	static uint32_t ids[65536];
	uint32_t id, n = 0, vip;
	uint8_t f;

	addr_parse(be_addr[be], &a, &f);
	if (!ASSERT_OK(l4_backend_lookup(gwd_module_priv(&gwd, "l4"), "web", &a, f, &id, &m)))
		return v;
	ASSERT_OK(lbmap_backend_get(m, id, &v.b));
	ASSERT_OK(lbmap_backend_health_get(m, id, &v.h));
	ASSERT_OK(lbmap_vip_find(m, "web", &vip));
	ASSERT_OK(lbmap_sel_read(m, vip, ids, 65536, &n));
	for (uint32_t i = 0; i < n && !v.selected; i++)
		v.selected = ids[i] == id;
	return v;
}

#define FAIL_FLAGS (XG_BE_F_DOWN | XG_BE_F_HC_FAIL)

TEST(checks_and_operator_overrides)
{
	const char *check = "{\"type\": \"tcp\", \"fall\": 2, \"rise\": 2}";
	struct view v;

	log_init("test_health_overrides", LOG_LVL_ERROR);
	if (!sandbox() || !start(doc(check, NULL, NULL)))
		goto out;
	v = view(0);
	ASSERT_TRUE(v.selected, "unknown backends take traffic");
	ASSERT_EQ(v.h.state, XG_HC_UNKNOWN);

	/* fall: one failure is not enough, two are. */
	feed(0, "-");
	ASSERT_TRUE(view(0).selected);
	feed(0, "-");
	v = view(0);
	ASSERT_FALSE(v.selected, "down after fall failures");
	ASSERT_EQ(v.b.flags & FAIL_FLAGS, FAIL_FLAGS);
	ASSERT_EQ(v.h.state, XG_HC_DOWN);
	ASSERT_EQ(v.h.failures, 2);
	ASSERT_EQ(v.h.probes, 2);
	ASSERT_STREQ(v.h.last_error, "connect: refused");
	ASSERT_TRUE(view(1).selected && view(2).selected, "the others stay");

	/* Operator drain of a failing backend, then undrain: still out. */
	if (!change(doc(check, ", \"drain\": true", NULL)))
		goto out;
	ASSERT_FALSE(view(0).selected);
	if (!change(doc(check, ", \"drain\": false", NULL)))
		goto out;
	v = view(0);
	ASSERT_FALSE(v.selected, "undrain does not resurrect a failing backend");
	ASSERT_EQ(v.b.flags & (FAIL_FLAGS | XG_BE_F_DRAIN), FAIL_FLAGS);

	/* Operator drain and down win over a passing check. */
	feed(1, "++");
	if (!change(doc(check, NULL, ", \"drain\": true")))
		goto out;
	v = view(1);
	ASSERT_FALSE(v.selected, "drain wins over a passing check");
	ASSERT_EQ(v.h.state, XG_HC_UP);
	ASSERT_EQ(v.b.flags & (XG_BE_F_DRAIN | XG_BE_F_HC_FAIL), XG_BE_F_DRAIN);
	if (!change(doc(check, NULL, ", \"down\": true")))
		goto out;
	v = view(1);
	ASSERT_FALSE(v.selected, "down wins over a passing check");
	ASSERT_EQ(v.b.flags & (XG_BE_F_ADMIN_DOWN | XG_BE_F_HC_FAIL), XG_BE_F_ADMIN_DOWN);
	feed(1, "+");
	ASSERT_FALSE(view(1).selected, "more passing checks change nothing");
	if (!change(doc(check, NULL, NULL)))
		goto out;
	ASSERT_TRUE(view(1).selected);

	/* rise: a failure in between restarts the count; two in a row bring it back. */
	feed(0, "+-+");
	ASSERT_FALSE(view(0).selected, "flapping stays down");
	feed(0, "+");
	v = view(0);
	ASSERT_TRUE(v.selected, "up after rise successes");
	ASSERT_EQ(v.b.flags & FAIL_FLAGS, 0);
	ASSERT_EQ(v.h.state, XG_HC_UP);
	feed(0, "-+-+-+");
	ASSERT_TRUE(view(0).selected, "flapping stays up");

	/* The check removed: a failing backend is trusted again. */
	feed(2, "--");
	ASSERT_FALSE(view(2).selected);
	if (!change(doc(NULL, NULL, NULL)))
		goto out;
	v = view(2);
	ASSERT_TRUE(v.selected, "no check: trusted");
	ASSERT_EQ(v.b.flags & FAIL_FLAGS, 0);
	ASSERT_EQ(v.h.state, XG_HC_DISABLED);
	ASSERT_ERR(health_feed(gwd_module_priv(&gwd, "health"), "web", be_addr[2], false, 0, "x"),
		   -ENOENT);

	/* A restart keeps a failing backend out until it passes rise checks. */
	if (!change(doc(check, NULL, NULL)))
		goto out;
	feed(2, "--");
	ASSERT_FALSE(view(2).selected);
	gwd_core_fini(&gwd);
	if (!start(doc(check, NULL, NULL)))
		goto out;
	v = view(2);
	ASSERT_FALSE(v.selected, "still out after a restart");
	ASSERT_EQ(v.h.state, XG_HC_DOWN);
	ASSERT_EQ(v.h.failures, 2);
	ASSERT_TRUE(view(0).selected && view(1).selected);
	feed(2, "++");
	ASSERT_TRUE(view(2).selected);
out:
	if (gwd.n_mods)
		gwd_core_fini(&gwd);
	lbt_rmtree(dir);
}
