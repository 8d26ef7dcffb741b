// SPDX-License-Identifier: GPL-2.0
/* YAML to JSON: typing of scalars, structure, and every refused construct with its message. */
#include "lib/test.h"
#include "lib/yaml2json.h"

static bool converts_to(const char *yaml, const char *want_json)
{
	char err[256];
	json_t *got = yaml_to_json(yaml, strlen(yaml), err, sizeof(err));
	json_t *want = json_loads(want_json, JSON_DECODE_ANY, NULL);
	bool ok;

	if (!ASSERT_NOT_NULL(got)) {
		fprintf(stderr, "     error: %s\n", err);
		json_decref(want);
		return false;
	}
	ok = ASSERT_TRUE(json_equal(got, want), "%s", yaml);
	if (!ok) {
		char *s = json_dumps(got, JSON_ENCODE_ANY);
		fprintf(stderr, "     got: %s\n", s);
		free(s);
	}
	json_decref(got);
	json_decref(want);
	return ok;
}

static bool refused_with(const char *yaml, const char *want_err)
{
	char err[256];
	json_t *got = yaml_to_json(yaml, strlen(yaml), err, sizeof(err));

	if (!ASSERT_TRUE(got == NULL, "accepted: %s", yaml)) {
		json_decref(got);
		return false;
	}
	return ASSERT_STREQ(err, want_err);
}

TEST(scalars_are_typed)
{
	converts_to("a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: hello\ng: '80'\nh: \"true\"\ni: 1e3\n",
		    "{\"a\":1,\"b\":-2,\"c\":1.5,\"d\":true,\"e\":null,\"f\":\"hello\","
		    "\"g\":\"80\",\"h\":\"true\",\"i\":1000.0}");
	/* Addresses and durations stay strings. */
	converts_to("vip: 198.18.0.10:80/tcp\nv6: '[2001:2::1]:80'\nt: 500ms\nip: 1.2.3.4\n",
		    "{\"vip\":\"198.18.0.10:80/tcp\",\"v6\":\"[2001:2::1]:80\",\"t\":\"500ms\","
		    "\"ip\":\"1.2.3.4\"}");
}

TEST(structure)
{
	converts_to("services:\n  - name: web\n    backends: [{addr: 198.18.1.1, weight: 2}]\n",
		    "{\"services\":[{\"name\":\"web\",\"backends\":[{\"addr\":\"198.18.1.1\","
		    "\"weight\":2}]}]}");
	converts_to("", "{}");
	converts_to("[1, 2]", "[1,2]");
}

TEST(refusals)
{
	refused_with("a: 1\na: 2\n", "2:1: duplicate key 'a'");
	refused_with("a: &x 1\nb: *x\n", "1:4: anchors ('&name') are not supported");
	refused_with("a: [1, 2\n", "2:1: did not find expected ',' or ']'");
	refused_with("? [1]\n: 2\n", "1:3: mapping keys must be plain strings");
	refused_with("a: 1\n---\nb: 2\n", "2:1: only one YAML document is allowed");
	/* JSON has no infinity: a float that overflows is an error that says so, not an empty one. */
	refused_with("a:\n  b: 1e999\n", "2:6: number out of range: 1e999");
	refused_with("- -1e400\n", "1:3: number out of range: -1e400");
	/* A NUL in a string (the "\0" escape) could be applied and saved, but never read back:
	 * the state file would then be refused as corrupt at the next start. */
	refused_with("a: \"u\\0x\"\n", "1:4: strings can not contain NUL characters (\\0)");
	refused_with("\"k\\0\": 1\n", "1:1: strings can not contain NUL characters (\\0)");
}

TEST(depth_limit)
{
	char buf[300] = "";

	for (int i = 0; i < 70; i++)
		strcat(buf, "[");
	refused_with(buf, "1:66: nesting deeper than 64 levels");
}
