// SPDX-License-Identifier: GPL-2.0
/* Config compile errors name the path and the cause, exactly. */
#include <string.h>

#include "gateway/gw.h"
#include "lib/gwtest.h"
#include "lib/test.h"

#define UP "\"upstreams\":[{\"name\":\"u\",\"targets\":[{\"addr\":\"198.18.1.1:80\"}]}]"

TEST(errors)
{
	gwt_expect_error("{\"routs\":[]}", "gateway: unknown field \"routs\"");
	gwt_expect_error("{" UP ",\"routes\":[{\"name\":\"r\",\"upstream\":\"nope\"}]}",
		     "gateway.routes[r].upstream: unknown upstream \"nope\"");
	gwt_expect_error("{\"upstreams\":[{\"name\":\"u\",\"targets\":[{\"addr\":\"198.18.1.3:80\",\"weight\":70000}]}]}",
		     "gateway.upstreams[u].targets[198.18.1.3:80].weight: 70000 is out of range 0-65535");
	gwt_expect_error("{\"upstreams\":[{\"name\":\"u\",\"targets\":[{\"addr\":\"backend.local:80\"}]}]}",
		     "gateway.upstreams[u].targets[backend.local:80].addr: \"backend.local:80\": not a numeric IPv4 or [IPv6] address (names are not resolved)");
	gwt_expect_error("{\"upstreams\":[{\"name\":\"u\",\"algorithm\":\"random\"}]}",
		     "gateway.upstreams[u].algorithm: unknown algorithm \"random\" (rr, lc, hash, p2c)");
	gwt_expect_error("{\"upstreams\":[{\"name\":\"u\",\"targets\":[{\"addr\":\"198.18.1.1:80\"},{\"addr\":\"198.18.1.1:80\"}]}]}",
		     "gateway.upstreams[u].targets[198.18.1.1:80]: duplicate target");
	gwt_expect_error("{" UP ",\"routes\":[{\"name\":\"r\",\"path\":\"(\",\"path_match\":\"regex\",\"upstream\":\"u\"}]}",
		     "gateway.routes[r].path: invalid regular expression: Unmatched ( or \\(");
	gwt_expect_error("{" UP ",\"routes\":[{\"name\":\"r\",\"upstream\":\"u\",\"policies\":[{\"name\":\"nope\"}]}]}",
		     "gateway.routes[r].policies[0].name: unknown policy \"nope\"");
	gwt_expect_error("{" UP ",\"routes\":[{\"name\":\"r\",\"upstream\":\"u\",\"policies\":[{\"name\":\"request-headers\",\"set\":{\"Bad Name\":\"x\"}}]}]}",
		     "gateway.routes[r].policies[0].set: \"Bad Name\" is not a valid header name");
	gwt_expect_error("{\"upstreams\":[{\"name\":\"u\",\"max_conns\":2000000,\"targets\":[{\"addr\":\"198.18.1.1:80\"}]}]}",
		     "gateway.upstreams[u].max_conns: 2000000 is out of range 0-1000000");
	gwt_expect_error("{\"upstreams\":[{\"name\":\"u\",\"max_conns\":\"10\",\"targets\":[{\"addr\":\"198.18.1.1:80\"}]}]}",
		     "gateway.upstreams[u].max_conns: must be an integer");
	gwt_expect_error("{\"limits\":{\"max_headers\":500}}",
		     "gateway.limits.max_headers: 500 is out of range 1-99");
	gwt_expect_error("{\"listeners\":[{\"addr\":\"198.18.0.1:80\",\"http2\":true}]}",
		     "gateway.listeners[198.18.0.1:80].http2: needs tls (HTTP/2 is offered through ALPN only)");
	gwt_expect_error("{\"listeners\":[{\"addr\":\"198.18.0.1:80\",\"tls\":{\"certificates\":[{\"cert\":\"/nonexistent.pem\",\"key\":\"/nonexistent.key\"}]}}]}",
		     "gateway.listeners[198.18.0.1:80].tls.certificates[0].cert: cannot load certificate \"/nonexistent.pem\": system lib");
	gwt_expect_error("{" UP ",\"routes\":[{\"name\":\"r\",\"upstream\":\"u\"},{\"name\":\"r\",\"upstream\":\"u\"}]}",
		     "gateway.routes[r]: duplicate route name");
}

TEST(defaults)
{
	char err[256];
	json_t *j = json_loads("{" UP "}", 0, NULL);
	struct gw_config *cfg = gw_config_compile(j, err, sizeof(err));

	json_decref(j);
	if (!ASSERT_NOT_NULL(cfg))
		return;
	ASSERT_EQ(cfg->limits.max_body_bytes, 1 << 20);
	ASSERT_EQ(cfg->limits.max_headers, 64);
	ASSERT_EQ(cfg->limits.max_header_bytes, 16384);
	ASSERT_EQ(cfg->upstreams[0].retries, 2);
	ASSERT_EQ(cfg->upstreams[0].max_conns, 1024);
	ASSERT_EQ(cfg->upstreams[0].algo, GW_ALGO_RR);
	ASSERT_EQ(cfg->upstreams[0].targets[0].weight, 100);
	ASSERT_GE(cfg->workers, 1);
	gw_config_put(cfg);
}

TEST(restart_detection)
{
	char err[256];
	json_t *a = json_loads("{\"workers\":1," UP "}", 0, NULL);
	json_t *b = json_loads("{\"workers\":1,\"routes\":[{\"name\":\"r\",\"upstream\":\"u\"}]," UP "}", 0, NULL);
	json_t *c = json_loads("{\"workers\":2," UP "}", 0, NULL);
	struct gw_config *ca = gw_config_compile(a, err, sizeof(err));
	struct gw_config *cb = gw_config_compile(b, err, sizeof(err));
	struct gw_config *cc = gw_config_compile(c, err, sizeof(err));

	if (ASSERT_NOT_NULL(ca) && ASSERT_NOT_NULL(cb) && ASSERT_NOT_NULL(cc)) {
		ASSERT_FALSE(gw_config_needs_restart(ca, cb));
		ASSERT_TRUE(gw_config_needs_restart(ca, cc));
	}
	gw_config_put(ca);
	gw_config_put(cb);
	gw_config_put(cc);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}
