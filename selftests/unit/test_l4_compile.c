// SPDX-License-Identifier: GPL-2.0
/* The l4 section's compile: defaults, canonical forms, and every refusal with its exact message. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "gwd/l4.h"
#include "lib/test.h"

static bool exists(const char *name, void *ctx)
{
	return strcmp(name, "lo") == 0 || strcmp(name, "eth0") == 0;
}

static const struct l4_limits limits = { .max_vips = 4, .max_backends = 6,
					 .link_exists = exists };

static struct l4_compiled *compile(const char *text, struct gwd_err *err,
				   const struct l4_limits *lim)
{
	json_error_t jerr;
	json_t *sec = json_loads(text, 0, &jerr);
	struct l4_compiled *c;

	if (!sec) {
		fprintf(stderr, "bad JSON in test: %s: %s\n", text, jerr.text);
		return NULL;
	}
	c = l4_compile(sec, lim ? lim : &limits, err);
	json_decref(sec);
	return c;
}

TEST(defaults_and_canonical_forms)
{
	struct gwd_err err = { 0 };
	struct l4_compiled *c = compile(
		"{\"links\": [{\"name\": \"eth0\"}], \"services\": [{\"name\": \"web\", \"vip\": "
		"\"[2001:2:0::10]:443\", \"backends\": [{\"addr\": \"198.18.1.1\"}, {\"addr\": "
		"\"2001:2::0:5\", \"weight\": 7, \"drain\": true}]}]}",
		&err, NULL);

	if (!ASSERT_NOT_NULL(c)) {
		fprintf(stderr, "     %s\n", err.msg);
		return;
	}
	ASSERT_EQ(c->n_links, 1);
	ASSERT_EQ(c->links[0].mode, L4_MODE_NATIVE);
	ASSERT_EQ(c->settings.ct_timeout_tcp_ms, 900000);
	ASSERT_EQ(c->settings.lc_resync_ms, 5000);
	ASSERT_EQ(c->n_services, 1);
	ASSERT_STREQ(c->services[0].vip, "[2001:2::10]:443/tcp");
	ASSERT_EQ(c->services[0].key.port, htons(443));
	ASSERT_EQ(c->services[0].key.proto, IPPROTO_TCP);
	ASSERT_EQ(c->services[0].algo, XG_ALGO_MAGLEV);
	ASSERT_EQ(c->services[0].fwd, XG_FWD_IPIP);
	ASSERT_EQ(c->services[0].n_backends, 2);
	ASSERT_EQ(c->services[0].backends[0].weight, L4_DEFAULT_WEIGHT);
	ASSERT_STREQ(c->services[0].backends[1].key, "2001:2::5");
	ASSERT_EQ(c->services[0].backends[1].weight, 7);
	ASSERT_TRUE(c->services[0].backends[1].drain);
	l4_compiled_free(c);
}

TEST(durations_and_settings)
{
	struct gwd_err err = { 0 };
	struct l4_compiled *c = compile(
		"{\"settings\": {\"conntrack_timeout_tcp\": \"5m\", \"conntrack_timeout_udp\": 30, "
		"\"lc_resync_interval\": \"500ms\", \"hash_seed\": 42}, \"services\": [{\"name\": "
		"\"dns\", \"vip\": \"198.18.0.53:53/udp\", \"persist\": \"2m\", \"algo\": \"sh\"}]}",
		&err, NULL);

	if (!ASSERT_NOT_NULL(c)) {
		fprintf(stderr, "     %s\n", err.msg);
		return;
	}
	ASSERT_EQ(c->settings.ct_timeout_tcp_ms, 300000);
	ASSERT_EQ(c->settings.ct_timeout_udp_ms, 30000);
	ASSERT_EQ(c->settings.lc_resync_ms, 500);
	ASSERT_EQ(c->settings.hash_seed, 42);
	ASSERT_EQ(c->services[0].persist_sec, 120);
	ASSERT_EQ(c->services[0].algo, XG_ALGO_SH);
	ASSERT_EQ(c->services[0].key.proto, IPPROTO_UDP);
	l4_compiled_free(c);
}

#define SVC(extra) "{\"services\": [{\"name\": \"web\", \"vip\": \"198.18.0.10:80\"" extra "}]}"

TEST(refusals)
{
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{ "{\"servics\": []}",
		  "l4.servics: unknown field (expected settings, links, services)" },
		{ "{\"links\": {}}", "l4.links: expected a list, got an object" },
		{ "{\"links\": [\"eth0\"]}", "l4.links[0]: expected an object, got a string" },
		{ "{\"links\": [{}]}", "l4.links[0].name: required field is missing" },
		{ "{\"links\": [{\"name\": \"nosuch0\"}]}", "l4.links[nosuch0]: no such interface" },
		{ "{\"links\": [{\"name\": \"a/b\"}]}",
		  "l4.links[a/b].name: invalid interface name 'a/b'" },
		{ "{\"links\": [{\"name\": \"lo\"}, {\"name\": \"lo\"}]}", "l4.links[lo]: listed twice" },
		{ "{\"links\": [{\"name\": \"lo\", \"mode\": \"skb\"}]}",
		  "l4.links[lo].mode: unknown value 'skb' (expected native, generic)" },
		{ "{\"links\": [{\"name\": \"lo\", \"src4\": \"2001:2::1\"}]}",
		  "l4.links[lo].src4: invalid IPv4 address '2001:2::1'" },
		{ "{\"services\": [{\"vip\": \"198.18.0.10:80\"}]}",
		  "l4.services[0].name: required field is missing" },
		{ "{\"services\": [{\"name\": \"bad name\", \"vip\": \"198.18.0.10:80\"}]}",
		  "l4.services[bad name].name: invalid name 'bad name' (1-31 letters, digits, '-', "
		  "'_', '.', starting with a letter or digit)" },
		{ "{\"services\": [{\"name\": \"web\"}]}", "l4.services[web].vip: required field is missing" },
		{ "{\"services\": [{\"name\": \"web\", \"vip\": \"198.18.0.300:80\"}]}",
		  "l4.services[web].vip: invalid address '198.18.0.300'" },
		{ "{\"services\": [{\"name\": \"web\", \"vip\": \"198.18.0.10:70000\"}]}",
		  "l4.services[web].vip: port 70000 out of range 1-65535" },
		{ "{\"services\": [{\"name\": \"web\", \"vip\": \"198.18.0.10:80/sctp\"}]}",
		  "l4.services[web].vip: unknown protocol 'sctp' (expected tcp or udp)" },
		{ SVC(", \"algo\": \"wrr\""),
		  "l4.services[web].algo: unknown value 'wrr' (expected maglev, sh, rr, lc)" },
		{ SVC(", \"fwd\": \"nat\""), "l4.services[web].fwd: unknown value 'nat' (expected ipip, l2)" },
		{ SVC(", \"persist\": \"2d\""),
		  "l4.services[web].persist: invalid duration \"2d\" (expected seconds or a string such "
		  "as 500ms, 5s, 2m)" },
		{ SVC(", \"persist\": 90000"), "l4.services[web].persist: 25h is out of range 0s-24h" },
		{ SVC(", \"wieght\": 1"),
		  "l4.services[web].wieght: unknown field (expected name, vip, algo, fwd, persist, "
		  "backends, check)" },
		{ "{\"services\": [{\"name\": \"web\", \"vip\": \"198.18.0.10:80\"}, {\"name\": \"web\", "
		  "\"vip\": \"198.18.0.11:80\"}]}",
		  "l4.services[web]: listed twice" },
		{ "{\"services\": [{\"name\": \"a\", \"vip\": \"198.18.0.10:80\"}, {\"name\": \"b\", "
		  "\"vip\": \"198.18.0.10:80/tcp\"}]}",
		  "l4.services[b].vip: 198.18.0.10:80/tcp is already used by service 'a'" },
		{ SVC(", \"backends\": [{\"addr\": \"198.18.1.3\", \"weight\": 70000}]"),
		  "l4.services[web].backends[198.18.1.3].weight: 70000 is out of range 0-65535" },
		{ SVC(", \"backends\": [{\"addr\": \"198.18.1.3\", \"weight\": -1}]"),
		  "l4.services[web].backends[198.18.1.3].weight: -1 is out of range 0-65535" },
		{ SVC(", \"backends\": [{\"addr\": \"198.18.1\"}]"),
		  "l4.services[web].backends[198.18.1].addr: invalid address '198.18.1'" },
		{ SVC(", \"backends\": [{\"addr\": \"198.18.1.3\"}, {\"addr\": \"198.18.1.3\"}]"),
		  "l4.services[web].backends[198.18.1.3]: listed twice" },
		{ SVC(", \"backends\": [{\"addr\": \"198.18.1.3\", \"drain\": \"yes\"}]"),
		  "l4.services[web].backends[198.18.1.3].drain: expected true or false, got a string" },
		{ SVC(", \"fwd\": \"l2\", \"backends\": [{\"addr\": \"2001:2::0:5\"}]"),
		  "l4.services[web].backends[2001:2::5]: an IPv6 backend can not serve an IPv4 "
		  "service with fwd l2 (use fwd ipip)" },
		{ "{\"services\": [{\"name\": \"a\", \"vip\": \"198.18.0.1:1\"}, {\"name\": \"b\", "
		  "\"vip\": \"198.18.0.1:2\"}, {\"name\": \"c\", \"vip\": \"198.18.0.1:3\"}, "
		  "{\"name\": \"d\", \"vip\": \"198.18.0.1:4\"}, {\"name\": \"e\", \"vip\": "
		  "\"198.18.0.1:5\"}]}",
		  "l4.services: at most 4 services, got 5" },
		{ SVC(", \"backends\": [{\"addr\": \"198.18.1.1\"}, {\"addr\": \"198.18.1.2\"}, {\"addr\": "
		      "\"198.18.1.3\"}, {\"addr\": \"198.18.1.4\"}, {\"addr\": \"198.18.1.5\"}, "
		      "{\"addr\": \"198.18.1.6\"}, {\"addr\": \"198.18.1.7\"}]"),
		  "l4.services: 7 backends over all services, the balancer holds at most 6" },
		{ "{\"settings\": {\"conntrack_timeout_tcp\": 0}}",
		  "l4.settings.conntrack_timeout_tcp: 0s is out of range 1s-24h" },
		{ "{\"settings\": {\"lc_resync_interval\": \"1ms\"}}",
		  "l4.settings.lc_resync_interval: 1ms is out of range 100ms-1h" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gwd_err err = { 0 };
		struct l4_compiled *c = compile(cases[i].doc, &err, NULL);

		if (!ASSERT_TRUE(c == NULL, "accepted: %s", cases[i].doc)) {
			l4_compiled_free(c);
			continue;
		}
		ASSERT_STREQ(err.msg, cases[i].msg);
		ASSERT_EQ(err.status, 400);
	}
}

TEST(lc_limit)
{
	char doc[8192] = "{\"services\": [{\"name\": \"web\", \"vip\": \"198.18.0.10:80\", "
			 "\"algo\": \"lc\", \"backends\": [";
	struct l4_limits lim = limits;
	struct gwd_err err = { 0 };
	struct l4_compiled *c;

	for (int i = 0; i <= XG_LC_MAX_BACKENDS; i++)
		snprintf(doc + strlen(doc), sizeof(doc) - strlen(doc), "%s{\"addr\": \"198.18.1.%d\"}",
			 i ? ", " : "", i + 1);
	strcat(doc, "]}]}");
	lim.max_backends = 1000;
	c = compile(doc, &err, &lim);
	ASSERT_TRUE(c == NULL);
	ASSERT_STREQ(err.msg, "l4.services[web].backends: algo lc balances at most 64 backends, got 65");
	l4_compiled_free(c);
}

/* A link that is running may disappear without making the configuration invalid. */
TEST(missing_running_link_is_kept)
{
	struct gwd_err err = { 0 };
	struct l4_compiled *running = compile("{\"links\": [{\"name\": \"eth0\"}]}", &err, NULL);
	struct l4_limits lim = { .link_exists = exists, .running = running };
	struct l4_compiled *c;

	if (!ASSERT_NOT_NULL(running))
		return;
	snprintf(running->links[0].name, sizeof(running->links[0].name), "gone0");
	c = compile("{\"links\": [{\"name\": \"gone0\"}]}", &err, &lim);
	ASSERT_NOT_NULL(c);
	l4_compiled_free(c);
	c = compile("{\"links\": [{\"name\": \"gone1\"}]}", &err, &lim);
	ASSERT_TRUE(c == NULL);
	ASSERT_STREQ(err.msg, "l4.links[gone1]: no such interface");
	l4_compiled_free(running);
}

TEST(canonicalise_rewrites_spellings_only)
{
	json_t *sec = json_loads(
		"{\"services\": [{\"name\": \"web\", \"vip\": \"198.18.100.1:80\", \"backends\": "
		"[{\"addr\": \"2001:0002:0::30\"}, {\"addr\": \"198.18.0.31\"}, {\"addr\": "
		"\"not-an-address\"}]}, {\"name\": \"v6\", \"vip\": \"[2001:2:0:100:0::1]:443/udp\"}, "
		"{\"name\": \"bad\", \"vip\": \"198.18.100.300:80\"}, {\"name\": \"all\", \"vip\": "
		"\"198.18.100.2/udp\"}, 7]}",
		0, NULL);
	json_t *svcs, *bes;

	if (!ASSERT_NOT_NULL(sec))
		return;
	l4_canonicalise(sec);
	svcs = json_object_get(sec, "services");
	bes = json_object_get(json_array_get(svcs, 0), "backends");
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(svcs, 0), "vip")),
		     "198.18.100.1:80/tcp");
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(bes, 0), "addr")), "2001:2::30");
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(bes, 1), "addr")),
		     "198.18.0.31");
	/* what does not parse is left for compile to report as written */
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(bes, 2), "addr")),
		     "not-an-address");
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(svcs, 1), "vip")),
		     "[2001:2:0:100::1]:443/udp");
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(svcs, 2), "vip")),
		     "198.18.100.300:80");
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(svcs, 3), "vip")),
		     "198.18.100.2/udp");
	json_decref(sec);
}
