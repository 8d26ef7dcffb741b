// SPDX-License-Identifier: GPL-2.0
/* Router precedence: host before path, exact before regex before longest prefix, methods, headers. */
#include <string.h>

#include "gateway/gw.h"
#include "lib/gwtest.h"
#include "lib/test.h"

struct hdr {
	const char *name, *value;
};

static bool get_hdr(void *arg, const char *name, const char **v, size_t *len)
{
	for (const struct hdr *h = arg; h && h->name; h++)
		if (!strcmp(h->name, name)) {
			*v = h->value;
			*len = strlen(h->value);
			return true;
		}
	return false;
}

static const char *match(struct gw_config *cfg, const char *host, const char *method,
			 const char *path, const struct hdr *hdrs)
{
	struct gw_req_view v = { host, strlen(host), path, strlen(path), method, strlen(method),
				 get_hdr, (void *)hdrs };
	const struct gw_route *r = gw_router_match(&cfg->router, &v);

	return r ? r->name : "(none)";
}

#define UP "\"upstreams\":[{\"name\":\"u\",\"targets\":[{\"addr\":\"198.18.1.1:80\"}]}]"

TEST(precedence)
{
	struct gw_config *cfg = gwt_compile("{" UP ",\"routes\":["
		"{\"name\":\"catchall\",\"path\":\"/\",\"upstream\":\"u\"},"
		"{\"name\":\"api\",\"path\":\"/api\",\"upstream\":\"u\"},"
		"{\"name\":\"api_users\",\"path\":\"/api/users\",\"upstream\":\"u\"},"
		"{\"name\":\"exact\",\"path\":\"/api/users/me\",\"path_match\":\"exact\",\"upstream\":\"u\"},"
		"{\"name\":\"re\",\"path\":\"^/api/users/[0-9]+$\",\"path_match\":\"regex\",\"upstream\":\"u\"},"
		"{\"name\":\"post\",\"path\":\"/api\",\"methods\":[\"POST\"],\"upstream\":\"u\"},"
		"{\"name\":\"canary\",\"path\":\"/api\",\"headers\":{\"x-canary\":\"1\"},\"upstream\":\"u\"},"
		"{\"name\":\"wild\",\"hosts\":[\"*.example.com\"],\"path\":\"/\",\"upstream\":\"u\"},"
		"{\"name\":\"wild2\",\"hosts\":[\"*.eu.example.com\"],\"path\":\"/\",\"upstream\":\"u\"},"
		"{\"name\":\"host\",\"hosts\":[\"api.example.com\"],\"path\":\"/\",\"upstream\":\"u\"}"
		"]}");
	const struct hdr canary[] = { { "x-canary", "1" }, { NULL } };
	const struct hdr not_canary[] = { { "x-canary", "2" }, { NULL } };

	if (!cfg)
		return;
	ASSERT_STREQ(match(cfg, "other", "GET", "/", NULL), "catchall");
	ASSERT_STREQ(match(cfg, "other", "GET", "/apix", NULL), "catchall");
	ASSERT_STREQ(match(cfg, "other", "GET", "/api", NULL), "api");
	ASSERT_STREQ(match(cfg, "other", "GET", "/api/x", NULL), "api");
	ASSERT_STREQ(match(cfg, "other", "GET", "/api/users/abc", NULL), "api_users");
	ASSERT_STREQ(match(cfg, "other", "GET", "/api/users/me", NULL), "exact");
	ASSERT_STREQ(match(cfg, "other", "GET", "/api/users/42", NULL), "re");
	ASSERT_STREQ(match(cfg, "other", "POST", "/api/x", NULL), "post");
	ASSERT_STREQ(match(cfg, "other", "GET", "/api/x", canary), "canary");
	ASSERT_STREQ(match(cfg, "other", "GET", "/api/x", not_canary), "api");
	ASSERT_STREQ(match(cfg, "api.example.com", "GET", "/api/users/me", NULL), "host");
	ASSERT_STREQ(match(cfg, "API.Example.com:8080", "GET", "/", NULL), "host");
	ASSERT_STREQ(match(cfg, "www.example.com", "GET", "/x", NULL), "wild");
	ASSERT_STREQ(match(cfg, "a.eu.example.com", "GET", "/x", NULL), "wild2");
	ASSERT_STREQ(match(cfg, "example.com", "GET", "/api", NULL), "api");
	gw_config_put(cfg);
}

TEST(no_match)
{
	struct gw_config *cfg = gwt_compile("{" UP ",\"routes\":["
		"{\"name\":\"a\",\"hosts\":[\"a.test\"],\"path\":\"/a\",\"upstream\":\"u\"}]}");

	if (!cfg)
		return;
	ASSERT_STREQ(match(cfg, "b.test", "GET", "/a", NULL), "(none)");
	ASSERT_STREQ(match(cfg, "a.test", "GET", "/b", NULL), "(none)");
	ASSERT_STREQ(match(cfg, "a.test", "GET", "/a/b", NULL), "a");
	gw_config_put(cfg);
}

TEST(prefix_segments)
{
	ASSERT_TRUE(gw_path_prefix_match("/api", 4, "/api", 4));
	ASSERT_TRUE(gw_path_prefix_match("/api", 4, "/api/v1", 7));
	ASSERT_FALSE(gw_path_prefix_match("/api", 4, "/apiv1", 6));
	ASSERT_TRUE(gw_path_prefix_match("/api/", 5, "/api/v1", 7));
	ASSERT_TRUE(gw_path_prefix_match("/", 1, "/anything", 9));
}
