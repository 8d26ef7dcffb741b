// SPDX-License-Identifier: GPL-2.0
/* The `check` objects of the l4 section: defaults, per-backend overrides, exact refusals. */
#include <errno.h>
#include <stdlib.h>

#include "gwd/health.h"
#include "lib/test.h"

static struct health_compiled *compile(const char *text, struct gwd_err *err)
{
	json_error_t jerr;
	json_t *sec = json_loads(text, 0, &jerr);
	struct health_compiled *c;

	if (!sec) {
		fprintf(stderr, "bad JSON in test: %s: %s\n", text, jerr.text);
		return NULL;
	}
	c = health_compile(sec, err);
	json_decref(sec);
	return c;
}

/* One service "web" on 198.18.100.1:80 (fwd F) with the given check and backends. */
static struct health_compiled *web(const char *fwd, const char *check, const char *backends,
				   struct gwd_err *err)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{\"services\": [{\"name\": \"web\", \"vip\": \"198.18.100.1:80\", \"fwd\": "
		 "\"%s\"%s%s, \"backends\": [%s]}]}",
		 fwd, check ? ", \"check\": " : "", check ? check : "", backends);
	return compile(text, err);
}

TEST(no_check_means_none)
{
	struct gwd_err err = { 0 };
	struct health_compiled *c = web("ipip", NULL, "{\"addr\": \"198.18.0.30\"}", &err);

	if (!ASSERT_NOT_NULL(c))
		return;
	ASSERT_EQ(c->n, 1);
	ASSERT_EQ(c->targets[0].check.type, HC_TYPE_NONE);
	ASSERT_STREQ(c->targets[0].service, "web");
	ASSERT_STREQ(c->targets[0].backend, "198.18.0.30");
	health_compiled_free(c);
}

TEST(defaults)
{
	struct gwd_err err = { 0 };
	struct health_compiled *c =
		web("ipip", "{}", "{\"addr\": \"198.18.0.30\"}, {\"addr\": \"2001:2::0:31\"}", &err);
	const struct hc_check *k;

	if (!ASSERT_NOT_NULL(c)) {
		fprintf(stderr, "     %s\n", err.msg);
		return;
	}
	ASSERT_EQ(c->n, 2);
	k = &c->targets[0].check;
	ASSERT_EQ(k->type, HC_TYPE_TCP);
	ASSERT_EQ(k->port, 80);
	ASSERT_EQ(k->interval_ms, 1000);
	ASSERT_EQ(k->timeout_ms, 500);
	ASSERT_EQ(k->rise, 2);
	ASSERT_EQ(k->fall, 3);
	ASSERT_FALSE(k->encap);
	ASSERT_STREQ(c->targets[1].backend, "2001:2::31");
	ASSERT_EQ(c->targets[1].family, XG_AF_INET6);
	ASSERT_EQ(c->targets[1].vip.port, 80);
	ASSERT_TRUE(!memcmp(&c->targets[0].check, &c->targets[1].check, sizeof(*k)));
	health_compiled_free(c);
}

TEST(http_fields_and_short_interval_timeout)
{
	struct gwd_err err = { 0 };
	struct health_compiled *c = web("ipip",
					"{\"type\": \"http\", \"port\": 8080, \"interval\": "
					"\"200ms\", \"method\": \"HEAD\", \"path\": \"/healthz?x=1\", "
					"\"host\": \"web.internal\", \"status\": \"200,204\", "
					"\"rise\": 1, \"fall\": 5, \"encap\": true}",
					"{\"addr\": \"198.18.0.30\"}", &err);
	const struct hc_check *k;

	if (!ASSERT_NOT_NULL(c)) {
		fprintf(stderr, "     %s\n", err.msg);
		return;
	}
	k = &c->targets[0].check;
	ASSERT_EQ(k->type, HC_TYPE_HTTP);
	ASSERT_EQ(k->port, 8080);
	ASSERT_EQ(k->interval_ms, 200);
	ASSERT_EQ(k->timeout_ms, 200); /* the default is capped by the interval */
	ASSERT_STREQ(k->method, "HEAD");
	ASSERT_STREQ(k->path, "/healthz?x=1");
	ASSERT_STREQ(k->host, "web.internal");
	ASSERT_TRUE(hc_status_match(&k->status, 204));
	ASSERT_FALSE(hc_status_match(&k->status, 301));
	ASSERT_EQ(k->rise, 1);
	ASSERT_EQ(k->fall, 5);
	ASSERT_TRUE(k->encap);
	health_compiled_free(c);
}

TEST(backend_overrides_merge_over_the_service)
{
	struct gwd_err err = { 0 };
	struct health_compiled *c = web(
		"ipip",
		"{\"type\": \"http\", \"path\": \"/health\", \"body\": \"ok\", \"interval\": \"2s\"}",
		"{\"addr\": \"198.18.0.30\"}, {\"addr\": \"198.18.0.31\", \"check\": {\"port\": "
		"8080}}, {\"addr\": \"198.18.0.32\", \"check\": {\"type\": \"tcp\"}}, {\"addr\": "
		"\"198.18.0.33\", \"check\": {\"type\": \"none\"}}",
		&err);

	if (!ASSERT_NOT_NULL(c)) {
		fprintf(stderr, "     %s\n", err.msg);
		return;
	}
	ASSERT_EQ(c->n, 4);
	ASSERT_EQ(c->targets[0].check.port, 80);
	ASSERT_STREQ(c->targets[0].check.body, "ok");
	/* Port overridden, the rest inherited. */
	ASSERT_EQ(c->targets[1].check.type, HC_TYPE_HTTP);
	ASSERT_EQ(c->targets[1].check.port, 8080);
	ASSERT_STREQ(c->targets[1].check.path, "/health");
	ASSERT_EQ(c->targets[1].check.interval_ms, 2000);
	/* A tcp override drops the inherited http fields but keeps the interval. */
	ASSERT_EQ(c->targets[2].check.type, HC_TYPE_TCP);
	ASSERT_STREQ(c->targets[2].check.path, "");
	ASSERT_EQ(c->targets[2].check.interval_ms, 2000);
	ASSERT_EQ(c->targets[3].check.type, HC_TYPE_NONE);
	health_compiled_free(c);
}

TEST(a_backend_can_be_checked_alone)
{
	struct gwd_err err = { 0 };
	struct health_compiled *c = web("l2", NULL,
					"{\"addr\": \"198.18.0.30\"}, {\"addr\": \"198.18.0.31\", "
					"\"check\": {\"interval\": \"5s\"}}",
					&err);

	if (!ASSERT_NOT_NULL(c))
		return;
	ASSERT_EQ(c->targets[0].check.type, HC_TYPE_NONE);
	ASSERT_EQ(c->targets[1].check.type, HC_TYPE_TCP);
	ASSERT_EQ(c->targets[1].check.interval_ms, 5000);
	ASSERT_EQ(c->targets[1].fwd, XG_FWD_L2);
	health_compiled_free(c);
}

TEST(refusals_name_the_path_and_the_cause)
{
	static const struct {
		const char *fwd, *check, *backends, *msg;
	} bad[] = {
		{ "ipip", "{\"type\": \"icmp\"}", "",
		  "l4.services[web].check.type: unknown value 'icmp' (expected none, tcp, http)" },
		{ "ipip", "{\"interval\": \"1s\", \"timeout\": \"2s\"}", "",
		  "l4.services[web].check.timeout: 2s is longer than the interval (1s)" },
		{ "ipip", "{\"timeout\": \"600ms\", \"interval\": \"500ms\"}", "",
		  "l4.services[web].check.timeout: 600ms is longer than the interval (500ms)" },
		{ "ipip", "{\"port\": 70000}", "",
		  "l4.services[web].check.port: 70000 is out of range 1-65535" },
		{ "ipip", "{\"port\": 0}", "", "l4.services[web].check.port: 0 is out of range 1-65535" },
		{ "ipip", "{\"interval\": \"10ms\"}", "",
		  "l4.services[web].check.interval: 10ms is out of range 100ms-1h" },
		{ "ipip", "{\"rise\": 0}", "", "l4.services[web].check.rise: 0 is out of range 1-100" },
		{ "ipip", "{\"fall\": 101}", "",
		  "l4.services[web].check.fall: 101 is out of range 1-100" },
		{ "ipip", "{\"colour\": 1}", "",
		  "l4.services[web].check.colour: unknown field (expected type, port, interval, "
		  "timeout, rise, fall, encap, method, path, host, status, body)" },
		{ "ipip", "{\"path\": \"/x\"}", "",
		  "l4.services[web].check.path: only http checks have it (type is tcp)" },
		{ "ipip", "{\"type\": \"http\", \"path\": \"health\"}", "",
		  "l4.services[web].check.path: invalid path 'health' (expected /..., at most 255 "
		  "printable characters without spaces)" },
		{ "ipip", "{\"type\": \"http\", \"path\": \"/a b\"}", "",
		  "l4.services[web].check.path: invalid path '/a b' (expected /..., at most 255 "
		  "printable characters without spaces)" },
		{ "ipip", "{\"type\": \"http\", \"method\": \"get\"}", "",
		  "l4.services[web].check.method: invalid method 'get' (expected an upper-case token "
		  "such as GET or HEAD)" },
		{ "ipip", "{\"type\": \"http\", \"host\": \"a\\r\\nb\"}", "",
		  "l4.services[web].check.host: invalid host 'a\r\nb'" },
		{ "ipip", "{\"type\": \"http\", \"status\": \"2xx\"}", "",
		  "l4.services[web].check.status: '2xx' is not a status list (expected codes 100-599 "
		  "and ranges, e.g. 200-399 or 200,204)" },
		{ "ipip", "{\"type\": \"http\", \"method\": \"HEAD\", \"body\": \"ok\"}", "",
		  "l4.services[web].check.body: a HEAD response has no body to search" },
		{ "ipip", "{\"encap\": \"yes\"}", "",
		  "l4.services[web].check.encap: expected true or false, got a string" },
		{ "l2", "{\"encap\": true}", "",
		  "l4.services[web].check.encap: needs fwd ipip (service 'web' forwards with l2)" },
		{ "ipip", "[]", "", "l4.services[web].check: expected an object, got a list" },
		{ "ipip", "{}", "{\"addr\": \"198.18.0.30\", \"check\": {\"port\": 99999}}",
		  "l4.services[web].backends[198.18.0.30].check.port: 99999 is out of range "
		  "1-65535" },
		{ "ipip", "{\"type\": \"http\"}",
		  "{\"addr\": \"198.18.0.30\", \"check\": {\"type\": \"tcp\", \"path\": \"/\"}}",
		  "l4.services[web].backends[198.18.0.30].check.path: only http checks have it "
		  "(type is tcp)" },
		{ "ipip", "{\"timeout\": \"800ms\"}",
		  "{\"addr\": \"198.18.0.30\", \"check\": {\"interval\": \"500ms\"}}",
		  "l4.services[web].backends[198.18.0.30].check.timeout: 800ms is longer than the "
		  "interval (500ms)" },
		{ "ipip", NULL, "{\"addr\": \"198.18.0.30\", \"check\": {\"kind\": \"tcp\"}}",
		  "l4.services[web].backends[198.18.0.30].check.kind: unknown field (expected type, "
		  "port, interval, timeout, rise, fall, encap, method, path, host, status, body)" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gwd_err err = { 0 };
		struct health_compiled *c = web(bad[i].fwd, bad[i].check, bad[i].backends, &err);

		if (c) {
			test_fail_at(__FILE__, __LINE__, "case %zu compiled", i);
			health_compiled_free(c);
			continue;
		}
		ASSERT_EQ(err.status, 400);
		ASSERT_STREQ(err.msg, bad[i].msg);
	}
}

TEST(all_ports_service_needs_a_check_port)
{
	struct gwd_err err = { 0 };
	struct health_compiled *c = compile(
		"{\"services\": [{\"name\": \"any\", \"vip\": \"198.18.100.2/udp\", \"check\": {}, "
		"\"backends\": [{\"addr\": \"198.18.0.30\"}]}]}",
		&err);

	ASSERT_TRUE(c == NULL);
	ASSERT_STREQ(err.msg, "l4.services[any].check.port: required, service 'any' takes every "
			      "port of its address");
	c = compile("{\"services\": [{\"name\": \"any\", \"vip\": \"198.18.100.2/udp\", "
		    "\"check\": {\"port\": 53}, \"backends\": [{\"addr\": \"198.18.0.30\"}]}]}",
		    &err);
	if (ASSERT_NOT_NULL(c))
		ASSERT_EQ(c->targets[0].check.port, 53);
	health_compiled_free(c);
}
