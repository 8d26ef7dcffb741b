// SPDX-License-Identifier: GPL-2.0
/* Aggregate routes: path templates (parse and expand) and config errors. */
#include <errno.h>
#include <string.h>

#include "gateway/aggregate.h"
#include "gateway/gw.h"
#include "lib/gwtest.h"
#include "lib/test.h"

static bool hdr(void *arg, const char *name, const char **v, size_t *len)
{
	if (strcmp(name, "x-user"))
		return false;
	*v = "a/b c";
	*len = 5;
	return true;
}

static const char *expand(const char *tmpl, const char *path, const char *query,
			  const char *consumer)
{
	static char out[256];
	struct gw_tmpl t;
	struct gw_tmpl_req r = { path, strlen(path), "/rest", 5, query, query ? strlen(query) : 0,
				 hdr, NULL, consumer };
	const char *missing;
	static char err[128];
	size_t n;

	if (gw_tmpl_parse(tmpl, &t, err, sizeof(err)))
		return err;
	n = gw_tmpl_expand(&t, &r, out, sizeof(out) - 1, &missing);
	if (n == (size_t)-1)
		snprintf(out, sizeof(out), "TOO LONG");
	else if (!n)
		snprintf(out, sizeof(out), "MISSING %s", missing ? missing : "?");
	else
		out[n] = 0;
	gw_tmpl_free(&t);
	return out;
}

TEST(expand)
{
	ASSERT_STREQ(expand("/users/{query.id}", "/x", "a=1&id=4%2F2&id=9", NULL), "/users/4%2F2");
	ASSERT_STREQ(expand("/u/{query.id}", "/x", "id=a+b", NULL), "/u/a%20b");
	ASSERT_STREQ(expand("/u/{query.id}", "/x", "id=", NULL), "/u/");
	ASSERT_STREQ(expand("/u/{query.id}", "/x", "ids=1", NULL), "MISSING {query.id}");
	ASSERT_STREQ(expand("/u/{query.id}", "/x", NULL, NULL), "MISSING {query.id}");
	ASSERT_STREQ(expand("/h/{header.X-User}", "/x", NULL, NULL), "/h/a%2Fb%20c");
	ASSERT_STREQ(expand("/h/{header.x-other}", "/x", NULL, NULL), "MISSING {header.x-other}");
	ASSERT_STREQ(expand("/s/{segment.1}/{segment.3}", "/a//b%20c/d", NULL, NULL),
		     "/s/a/d");
	ASSERT_STREQ(expand("/s/{segment.2}", "/a/b%20c", NULL, NULL), "/s/b%20c");
	ASSERT_STREQ(expand("/s/{segment.2}", "/a/..", NULL, NULL), "MISSING {segment.2}");
	ASSERT_STREQ(expand("/s/{segment.2}", "/a/%2e%2E", NULL, NULL), "MISSING {segment.2}");
	ASSERT_STREQ(expand("/s/{segment.3}", "/a/b", NULL, NULL), "MISSING {segment.3}");
	ASSERT_STREQ(expand("/p{path}?{query}", "/x", "a=1&b", NULL), "/p/rest?a=1&b");
	ASSERT_STREQ(expand("/c/{consumer}", "/x", NULL, "bob@x"), "/c/bob%40x");
	ASSERT_STREQ(expand("/c/{consumer}", "/x", NULL, NULL), "MISSING {consumer}");
	ASSERT_STREQ(expand("/plain/path?x=1", "/x", NULL, NULL), "/plain/path?x=1");
}

TEST(expand_too_long)
{
	char q[300] = "id=";

	memset(q + 3, 'x', 290);
	q[293] = 0;
	ASSERT_STREQ(expand("/u/{query.id}", "/x", q, NULL), "TOO LONG");
}

TEST(parse_errors)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "users", "at offset 0: must start with /" },
		{ "/u/{query.id", "at offset 3: unclosed {" },
		{ "/u/{qury.id}", "at offset 3: unknown variable {qury.id}" },
		{ "/u/{query.}", "at offset 3: unknown variable {query.}" },
		{ "/u/{segment.0}", "at offset 3: unknown variable {segment.0}" },
		{ "/u/{segment.x}", "at offset 3: unknown variable {segment.x}" },
		{ "/u/{header.a b}", "at offset 3: unknown variable {header.a b}" },
		{ "/u v", "at offset 2: character not allowed in a path" },
		{ "/u}", "at offset 2: character not allowed in a path" },
		{ "/u#f", "at offset 2: character not allowed in a path" },
	};
	char err[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gw_tmpl t;

		if (!ASSERT_EQ(gw_tmpl_parse(cases[i].in, &t, err, sizeof(err)), -EINVAL))
			continue;
		ASSERT_STREQ(err, cases[i].want);
		ASSERT_EQ(t.n, 0);
	}
}

static void expect_error(const char *route, const char *want)
{
	char doc[2048];

	snprintf(doc, sizeof(doc),
		 "{\"upstreams\":[{\"name\":\"u\",\"targets\":[{\"addr\":\"198.18.1.1:80\"}]}],"
		 "\"routes\":[{\"name\":\"r\",\"path\":\"/r\",%s}]}", route);
	gwt_expect_error(doc, want);
}

TEST(config)
{
	char err[512];
	json_t *j = json_loads("{\"upstreams\":[{\"name\":\"u\",\"targets\":[{\"addr\":\"198.18.1.1:80\"}]}],"
			       "\"routes\":[{\"name\":\"r\",\"path\":\"/r\",\"type\":\"aggregate\","
			       "\"aggregate\":{\"timeout_ms\":500,\"parts\":[{\"name\":\"a\","
			       "\"upstream\":\"u\",\"path\":\"/a\",\"timeout_ms\":9000}]}}]}", 0, NULL);
	struct gw_config *cfg = gw_config_compile(j, err, sizeof(err));

	json_decref(j);
	if (ASSERT_TRUE(cfg != NULL, "%s", err)) {
		ASSERT_NOT_NULL(cfg->routes[0].agg);
		ASSERT_TRUE(cfg->routes[0].upstream == NULL);
		gw_config_put(cfg);
	}
	expect_error("\"type\":\"fanout\"", "gateway.routes[r].type: must be proxy or aggregate");
	expect_error("\"type\":\"aggregate\"", "gateway.routes[r].aggregate: missing (the parts to call)");
	expect_error("\"upstream\":\"u\",\"aggregate\":{}",
		     "gateway.routes[r].aggregate: only for routes of type aggregate");
	expect_error("\"type\":\"aggregate\",\"aggregate\":{\"parts\":[]}",
		     "gateway.routes[r].aggregate.parts: must be a list of 1-32 parts");
	expect_error("\"type\":\"aggregate\",\"aggregate\":{\"on_partial\":\"some\",\"parts\":[]}",
		     "gateway.routes[r].aggregate.on_partial: must be fail or partial");
	expect_error("\"type\":\"aggregate\",\"aggregate\":{\"parts\":[{\"name\":\"_s\"}]}",
		     "gateway.routes[r].aggregate.parts[0].name: must be 1-64 of A-Z a-z 0-9 _ - . "
		     "not starting with _");
	expect_error("\"type\":\"aggregate\",\"aggregate\":{\"parts\":[{\"name\":\"a\",\"upstream\":\"u\","
		     "\"path\":\"/a\"},{\"name\":\"a\",\"upstream\":\"u\",\"path\":\"/b\"}]}",
		     "gateway.routes[r].aggregate.parts[a]: duplicate part name");
	expect_error("\"type\":\"aggregate\",\"aggregate\":{\"parts\":[{\"name\":\"a\",\"upstream\":\"u\"}]}",
		     "gateway.routes[r].aggregate.parts[a].path: missing (a path template such as "
		     "/users/{query.id})");
	expect_error("\"type\":\"aggregate\",\"aggregate\":{\"parts\":[{\"name\":\"a\",\"upstream\":\"u\","
		     "\"path\":\"/a\",\"method\":\"get\"}]}",
		     "gateway.routes[r].aggregate.parts[a].method: must be an upper-case HTTP method");
}
