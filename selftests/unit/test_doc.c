// SPDX-License-Identifier: GPL-2.0
/* The document: collection edits by key with their exact errors, section merges and diffs. */
#include <errno.h>
#include <stdlib.h>

#include "gwd/doc.h"
#include "lib/test.h"

static const struct gwd_collection colls_tbl[] = {
	{ .path = "/l4/links", .key = "name", .what = "link", .normalise = doc_norm_ifname },
	{ .path = "/l4/services", .key = "name", .what = "service", .normalise = doc_norm_name },
	{ .path = "/l4/services/{service}/backends", .key = "addr", .what = "backend",
	  .normalise = doc_norm_addr },
};
static const struct gwd_collection *const colls[] = { &colls_tbl[0], &colls_tbl[1],
						      &colls_tbl[2], NULL };

static json_t *J(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

	if (!v)
		fprintf(stderr, "bad JSON in test: %s\n", text);
	return v;
}

static bool doc_is(const json_t *doc, const char *want_text)
{
	json_t *want = J(want_text);
	bool ok = ASSERT_TRUE(json_equal((json_t *)doc, want), "%s", want_text);

	if (!ok) {
		char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

		fprintf(stderr, "     got: %s\n", s);
		free(s);
	}
	json_decref(want);
	return ok;
}

#define BASE "{\"l4\": {\"services\": [{\"name\": \"web\", \"backends\": [{\"addr\": \"2001:2:0::3\"}]}]}}"

TEST(add_creates_containers_and_normalises)
{
	struct gwd_err err = { 0 };
	json_t *doc = J("{}"), *body = J("{\"name\": \"web\", \"vip\": \"198.18.0.10:80\"}");

	ASSERT_OK(doc_add(doc, colls, "l4/services", body, &err));
	json_decref(body);
	body = J("{\"addr\": \"2001:2:0:0::5\", \"weight\": 7}");
	ASSERT_OK(doc_add(doc, colls, "l4/services/web/backends", body, &err));
	doc_is(doc, "{\"l4\": {\"services\": [{\"name\": \"web\", \"vip\": \"198.18.0.10:80\", "
		    "\"backends\": [{\"addr\": \"2001:2::5\", \"weight\": 7}]}]}}");
	json_decref(body);
	json_decref(doc);
}

TEST(add_errors)
{
	static const struct {
		const char *path, *body, *msg;
		int status;
	} cases[] = {
		{ "l4/services", "{\"name\": \"web\"}", "service 'web' already exists", 409 },
		{ "l4/services/web/backends", "{\"addr\": \"2001:2::3\"}",
		  "backend '2001:2::3' of service 'web' already exists", 409 },
		{ "l4/services/nosuch/backends", "{\"addr\": \"198.18.1.1\"}",
		  "service 'nosuch' not found", 404 },
		{ "l4/services", "{\"vip\": \"x\"}", "service: field 'name' (a string) is required",
		  400 },
		{ "l4/services", "[1]", "the body must be a JSON object", 400 },
		{ "l4/nothing", "{}", "no such endpoint '/v1/l4/nothing'", 404 },
		{ "l4/services/web", "{}",
		  "service 'web': use PATCH to change an element, POST adds to the collection", 405 },
		{ "l4/services/a%zz", "{}", "invalid path '/v1/l4/services/a%zz'", 400 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gwd_err err = { 0 };
		json_t *doc = J(BASE), *body = J(cases[i].body);

		ASSERT_TRUE(doc_add(doc, colls, cases[i].path, body, &err) < 0, "%s",
			    cases[i].path);
		ASSERT_STREQ(err.msg, cases[i].msg);
		ASSERT_EQ(err.status, cases[i].status);
		doc_is(doc, BASE); /* unchanged */
		json_decref(body);
		json_decref(doc);
	}
}

TEST(no_parent_no_collection)
{
	struct gwd_err err = { 0 };
	json_t *doc = J("{}"), *body = J("{\"addr\": \"198.18.1.1\"}");

	ASSERT_TRUE(doc_add(doc, colls, "l4/services/web/backends", body, &err) < 0);
	ASSERT_STREQ(err.msg, "service 'web' not found");
	doc_is(doc, "{}");
	json_decref(body);
	json_decref(doc);
}

TEST(patch_merges_by_normalised_key)
{
	struct gwd_err err = { 0 };
	json_t *doc = J(BASE), *body = J("{\"weight\": 5, \"drain\": true}");

	ASSERT_OK(doc_patch(doc, colls, "l4/services/web/backends/2001:2::3", body, &err));
	json_decref(body);
	body = J("{\"drain\": null, \"addr\": \"2001:0002::3\"}");
	ASSERT_OK(doc_patch(doc, colls, "l4/services/web/backends/2001%3a2::3", body, &err));
	doc_is(doc, "{\"l4\": {\"services\": [{\"name\": \"web\", \"backends\": "
		    "[{\"addr\": \"2001:2:0::3\", \"weight\": 5}]}]}}");
	json_decref(body);
	json_decref(doc);
}

TEST(patch_delete_errors)
{
	struct gwd_err err = { 0 };
	json_t *doc = J(BASE), *body = J("{\"addr\": \"198.18.1.1\"}");

	ASSERT_TRUE(doc_patch(doc, colls, "l4/services/web/backends/2001:2::3", body, &err) < 0);
	ASSERT_STREQ(err.msg, "backend '2001:2::3' of service 'web': field 'addr' can not change");
	ASSERT_TRUE(doc_patch(doc, colls, "l4/services/web/backends/198.18.1.9", body, &err) < 0);
	ASSERT_STREQ(err.msg, "backend '198.18.1.9' of service 'web' not found");
	ASSERT_EQ(err.status, 404);
	ASSERT_TRUE(doc_delete(doc, colls, "l4/services/web/backends/198.18.1.9", &err) < 0);
	ASSERT_STREQ(err.msg, "backend '198.18.1.9' of service 'web' not found");
	ASSERT_TRUE(doc_delete(doc, colls, "l4/links/eth0", &err) < 0);
	ASSERT_STREQ(err.msg, "link 'eth0' not found");
	ASSERT_TRUE(doc_delete(doc, colls, "l4/services", &err) < 0);
	ASSERT_STREQ(err.msg, "DELETE needs an element: /v1/l4/services/KEY");
	doc_is(doc, BASE);
	ASSERT_OK(doc_delete(doc, colls, "l4/services/web/backends/2001:2:0:0:0::3", &err));
	doc_is(doc, "{\"l4\": {\"services\": [{\"name\": \"web\", \"backends\": []}]}}");
	json_decref(body);
	json_decref(doc);
}

TEST(merge_sections_keeps_unmentioned)
{
	struct gwd_err err = { 0 };
	json_t *doc = J("{\"l4\": {\"links\": [{\"name\": \"eth0\"}], \"services\": []}, "
			"\"gateway\": {\"routes\": []}}");
	json_t *file = J("{\"l4\": {\"services\": [{\"name\": \"web\"}]}}");
	json_t *out = doc_merge_sections(doc, file, &err);

	if (ASSERT_NOT_NULL(out))
		doc_is(out, "{\"l4\": {\"links\": [{\"name\": \"eth0\"}], \"services\": "
			    "[{\"name\": \"web\"}]}, \"gateway\": {\"routes\": []}}");
	json_decref(out);
	json_decref(file);
	file = J("{\"l4\": []}");
	ASSERT_TRUE(doc_merge_sections(doc, file, &err) == NULL);
	ASSERT_STREQ(err.msg, "l4: must be an object");
	json_decref(file);
	json_decref(doc);
}

static bool diff_is(const char *old, const char *new, const char *const *want)
{
	json_t *o = J(old), *n = J(new), *d = doc_diff(o, n, colls), *e;
	size_t i, nw = 0;
	bool ok = true;

	while (want[nw])
		nw++;
	ok = ASSERT_EQ(json_array_size(d), nw);
	json_array_foreach (d, i, e) {
		char *line = doc_diff_line(e);

		if (i < nw)
			ok &= ASSERT_STREQ(line, want[i]);
		else
			fprintf(stderr, "     extra: %s\n", line);
		free(line);
	}
	json_decref(d);
	json_decref(o);
	json_decref(n);
	return ok;
}

TEST(diff_by_key)
{
	static const char *const want[] = {
		"~ l4.services[web].backends[2001:2::3].weight: 1 -> 2",
		"- l4.services[web].backends[198.18.1.1]",
		"+ l4.services[web].backends[198.18.1.2] = {\"addr\":\"198.18.1.2\"}",
		"+ l4.services[db] = {\"name\":\"db\"}",
		"~ l4.settings.x: [1] -> [2]",
		NULL,
	};
	static const char *const none[] = { NULL };

	diff_is("{\"l4\": {\"services\": [{\"name\": \"web\", \"backends\": [{\"addr\": "
		"\"2001:2:0::3\", \"weight\": 1}, {\"addr\": \"198.18.1.1\"}]}], \"settings\": "
		"{\"x\": [1]}}}",
		"{\"l4\": {\"services\": [{\"name\": \"web\", \"backends\": [{\"addr\": "
		"\"198.18.1.2\"}, {\"addr\": \"2001:2::3\", \"weight\": 2}]}, {\"name\": \"db\"}], "
		"\"settings\": {\"x\": [2]}}}",
		want);
	/* Order of keyed elements and key spelling do not matter. */
	diff_is("{\"l4\": {\"services\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}}",
		"{\"l4\": {\"services\": [{\"name\": \"b\"}, {\"name\": \"a\"}]}}", none);
}

TEST(normalisers)
{
	char out[64];

	ASSERT_OK(doc_norm_addr("2001:0002:0:0::10", out, sizeof(out)));
	ASSERT_STREQ(out, "2001:2::10");
	ASSERT_ERR(doc_norm_addr("198.18.0.300", out, sizeof(out)), -EINVAL);
	ASSERT_OK(doc_norm_endpoint("[2001:2::0:1]:80", out, sizeof(out)));
	ASSERT_STREQ(out, "[2001:2::1]:80");
	ASSERT_ERR(doc_norm_endpoint("198.18.0.1", out, sizeof(out)), -EINVAL);
	ASSERT_OK(doc_norm_name("web-1.a_b", out, sizeof(out)));
	ASSERT_ERR(doc_norm_name("-web", out, sizeof(out)), -EINVAL);
	ASSERT_ERR(doc_norm_name("a234567890123456789012345678901x", out, sizeof(out)), -EINVAL);
	ASSERT_ERR(doc_norm_ifname("a/b", out, sizeof(out)), -EINVAL);
	ASSERT_ERR(doc_norm_ifname("0123456789abcdef", out, sizeof(out)), -EINVAL);
	ASSERT_OK(doc_norm_ifname("veth0", out, sizeof(out)));
}
