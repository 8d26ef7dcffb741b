// SPDX-License-Identifier: GPL-2.0
/* The JSON path parser, body edits, serializer, query/path rewriting and gzip decoding. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gateway/inflate.h"
#include "gateway/policies/jsonpath.h"
#include "gateway/policies/transform.h"
#include "lib/test.h"

/* The path as a readable list of segments: name, #index, *, ** */
static void describe(const struct jp_path *p, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = 0;
	for (size_t i = 0; i < p->n && o < cap; i++) {
		const struct jp_seg *s = &p->segs[i];

		o += snprintf(out + o, cap - o, "%s", i ? " " : "");
		switch (s->kind) {
		case JP_SEG_NAME: o += snprintf(out + o, cap - o, "<%s>", s->name); break;
		case JP_SEG_INDEX: o += snprintf(out + o, cap - o, "#%ld", s->index); break;
		case JP_SEG_WILD: o += snprintf(out + o, cap - o, "*"); break;
		case JP_SEG_DEEP: o += snprintf(out + o, cap - o, "**"); break;
		}
	}
}

TEST(parse_valid)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "password", "<password>" },
		{ "internal.*", "<internal> *" },
		{ "items[*].ssn", "<items> * <ssn>" },
		{ "$.a.b", "<a> <b>" },
		{ "$[0]", "#0" },
		{ "[*].ssn", "* <ssn>" },
		{ "a[-1]", "<a> #-1" },
		{ "**.token", "** <token>" },
		{ "meta[\"x.y\"]", "<meta> <x.y>" },
		{ "m['it''s']", NULL },	/* invalid: see below */
		{ "m['a\\'b']", "<m> <a'b>" },
		{ "a[\"*\"]", "<a> <*>" },
		{ "a.b-c_d.é", "<a> <b-c_d> <é>" },
	};
	char err[200], got[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jp_path p;
		int rc = jp_path_parse(cases[i].in, &p, err, sizeof(err));

		if (!cases[i].want) {
			ASSERT_EQ(rc, -EINVAL);
			continue;
		}
		if (!ASSERT_OK(rc))
			continue;
		describe(&p, got, sizeof(got));
		ASSERT_STREQ(got, cases[i].want);
		jp_path_free(&p);
	}
}

TEST(parse_errors)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "", "at offset 0: empty path" },
		{ "a..b", "at offset 2: empty member name" },
		{ "a.", "at offset 2: empty member name" },
		{ "a[", "at offset 2: expected an index, * or a quoted name after [" },
		{ "a[*", "at offset 3: expected ] after *" },
		{ "a[1", "at offset 3: expected ]" },
		{ "a[x]", "at offset 2: expected an index, * or a quoted name after [" },
		{ "a[\"x]", "at offset 1: unterminated or badly escaped quoted name" },
		{ "a[\"x\"", "at offset 5: expected ] after the quoted name" },
		{ "a]", "at offset 1: unexpected ]" },
		{ "$x", "at offset 1: expected . or [ after $" },
		{ "$", "at offset 1: the path names nothing (\"$\" alone)" },
		{ "a.**", "at offset 4: ** must be followed by another segment" },
		{ "a[99999999999]", "at offset 2: index out of range" },
		{ "[0]x", "at offset 3: expected . or [" },
	};
	char err[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jp_path p;

		if (!ASSERT_EQ(jp_path_parse(cases[i].in, &p, err, sizeof(err)), -EINVAL))
			continue;
		ASSERT_STREQ(err, cases[i].want);
		ASSERT_EQ(p.n, 0);
	}
}

TEST(parse_limits)
{
	char path[2 * JP_MAX_PATH_LEN], err[200];
	struct jp_path p;
	size_t o = 0;

	for (int i = 0; i < JP_MAX_SEGMENTS + 1; i++)
		o += snprintf(path + o, sizeof(path) - o, "%sa", i ? "." : "");
	ASSERT_EQ(jp_path_parse(path, &p, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "too many segments") != NULL, "%s", err);
	memset(path, 'a', JP_MAX_PATH_LEN);
	path[JP_MAX_PATH_LEN] = 0;
	ASSERT_EQ(jp_path_parse(path, &p, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "at offset 0: path too long");
}

/* Runs conf (JSON text of a body block) on in; checks the output (NULL: unchanged). */
static void run_case(const char *conf, const char *in, const char *want, enum jp_run_result wantr)
{
	json_t *cj = json_loads(conf, 0, NULL);
	struct jp_program prog;
	char err[256], *out;
	size_t outlen;
	enum jp_run_result r;

	if (!ASSERT_NOT_NULL(cj))
		return;
	if (!ASSERT_OK(jp_program_compile(cj, NULL, &prog, err, sizeof(err)))) {
		json_decref(cj);
		return;
	}
	json_decref(cj);
	r = jp_program_run(&prog, in, strlen(in), &out, &outlen);
	ASSERT_EQ(r, wantr);
	if (r == JP_RUN_CHANGED && ASSERT_NOT_NULL(out)) {
		ASSERT_STREQ(out, want);
		ASSERT_EQ(outlen, strlen(want));
	} else {
		ASSERT_TRUE(out == NULL);
	}
	free(out);
	jp_program_free(&prog);
}

TEST(edits)
{
	run_case("{\"remove\":[\"password\",\"internal.*\",\"items[*].ssn\"]}",
		 "{\"id\":7,\"password\":\"x\",\"internal\":{\"a\":1,\"b\":{}},"
		 "\"items\":[{\"ssn\":\"1\",\"k\":1},{\"k\":2},5,{\"ssn\":null}]}",
		 "{\"id\":7,\"internal\":{},\"items\":[{\"k\":1},{\"k\":2},5,{}]}", JP_RUN_CHANGED);
	run_case("{\"remove\":[\"internal\"]}", "{\"internal\":{\"a\":1},\"z\":[]}", "{\"z\":[]}",
		 JP_RUN_CHANGED);
	run_case("{\"remove\":[\"a[0]\",\"b[-1]\"]}", "{\"a\":[1,2],\"b\":[3,4]}",
		 "{\"a\":[2],\"b\":[3]}", JP_RUN_CHANGED);
	run_case("{\"remove\":[\"a[5]\",\"x.y.z\",\"a.b\"]}", "{\"a\":[1]}", NULL, JP_RUN_UNCHANGED);
	run_case("{\"remove\":[\"**.token\"]}",
		 "{\"token\":1,\"a\":{\"token\":2,\"b\":[{\"token\":3,\"c\":{\"token\":4}}]}}",
		 "{\"a\":{\"b\":[{\"c\":{}}]}}", JP_RUN_CHANGED);
	run_case("{\"remove\":[\"[*].ssn\"]}", "[{\"ssn\":1,\"a\":2},{\"b\":3}]",
		 "[{\"a\":2},{\"b\":3}]", JP_RUN_CHANGED);
	run_case("{\"remove\":[\"[*]\"]}", "[1,2]", "[]", JP_RUN_CHANGED);
	run_case("{\"rename\":{\"user.fullName\":\"name\",\"items[*].id\":\"key\"}}",
		 "{\"user\":{\"fullName\":\"A\",\"x\":1},\"items\":[{\"id\":1,\"v\":2},{\"v\":3}]}",
		 "{\"user\":{\"x\":1,\"name\":\"A\"},\"items\":[{\"v\":2,\"key\":1},{\"v\":3}]}",
		 JP_RUN_CHANGED);
	run_case("{\"rename\":{\"a\":\"b\"}}", "{\"a\":1,\"b\":2}", "{\"b\":1}", JP_RUN_CHANGED);
	run_case("{\"set\":{\"meta.v\":2,\"a\":{\"k\":[1]}}}", "{\"a\":1}",
		 "{\"a\":{\"k\":[1]},\"meta\":{\"v\":2}}", JP_RUN_CHANGED);
	run_case("{\"add\":{\"meta.v\":2,\"a\":3}}", "{\"a\":1,\"meta\":{\"v\":1}}", NULL,
		 JP_RUN_UNCHANGED);
	run_case("{\"add\":{\"items[*].seen\":true}}", "{\"items\":[{},{\"seen\":false},7]}",
		 "{\"items\":[{\"seen\":true},{\"seen\":false},7]}", JP_RUN_CHANGED);
	run_case("{\"set\":{\"a.b\":1}}", "{\"a\":\"str\"}", NULL, JP_RUN_UNCHANGED);
	run_case("{\"remove\":[\"a\"]}", "{\"a\":", NULL, JP_RUN_INVALID);
	run_case("{\"remove\":[\"a\"]}", "", NULL, JP_RUN_INVALID);
	run_case("{\"remove\":[\"a\"]}", "\"just a string\"", NULL, JP_RUN_UNCHANGED);
	run_case("{\"remove\":[\"a\"]}", "{\"a\":1,\"a\":2,\"b\":3}", "{\"b\":3}", JP_RUN_CHANGED);
}

TEST(serializer)
{
	run_case("{\"remove\":[\"x\"]}",
		 "{\"x\":0,\"r\":[0.1,1.5e-7,2.0,-0.0,1e300,123456789.125,3.141592653589793],"
		 "\"i\":[-9223372036854775807,0],\"s\":\"q\\\"b\\\\s\\u0001\\t\\u00e9/\"}",
		 "{\"r\":[0.1,1.5e-07,2.0,-0.0,1e+300,123456789.125,3.141592653589793],"
		 "\"i\":[-9223372036854775807,0],\"s\":\"q\\\"b\\\\s\\u0001\\t\xc3\xa9/\"}",
		 JP_RUN_CHANGED);
}

static void compile_error(const char *conf, const char *want)
{
	json_t *cj = json_loads(conf, 0, NULL);
	struct jp_program prog;
	char err[256] = "";

	if (!ASSERT_NOT_NULL(cj))
		return;
	ASSERT_EQ(jp_program_compile(cj, NULL, &prog, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, want);
	ASSERT_EQ(prog.n, 0);
	json_decref(cj);
}

TEST(compile_errors)
{
	compile_error("{\"remov\":[]}", ": unknown field \"remov\"");
	compile_error("{\"remove\":\"a\"}", ".remove: must be a list of paths");
	compile_error("{\"remove\":[1]}", ".remove[0]: must be a path string");
	compile_error("{\"remove\":[\"a\",\"b[\"]}",
		      ".remove[1]: \"b[\": at offset 2: expected an index, * or a quoted name after [");
	compile_error("{\"rename\":{\"a\":5}}", ".rename.a: the new name must be a non-empty string");
	compile_error("{\"rename\":{\"a[0]\":\"b\"}}", ".rename.a[0]: \"a[0]\": must end in a member name");
	compile_error("{\"set\":{\"**.a\":1}}", ".set.**.a: \"**.a\": ** can only remove or rename");
	compile_error("{\"add\":[]}", ".add: must be an object of PATH: VALUE");
}

TEST(query_rewrite)
{
	struct tf_param set[] = { { "v", "2" } }, add[] = { { "src", "g w&x" } };
	char *rm[] = { "debug", "a b" };
	struct tf_query_edit e = { rm, 2, set, 1, add, 1 };

	static const char in[] = "debug=1&x=y%20z&v=1&a+b=3&a%20b=4&&keep";
	static const char want1[] = "x=y%20z&keep&v=2&src=g%20w%26x", want2[] = "v=2&src=g%20w%26x";
	char out[256];
	size_t n;

	n = tf_query_rewrite(&e, in, strlen(in), out, sizeof(out));
	out[n < sizeof(out) ? n : 0] = 0;
	ASSERT_STREQ(out, want1);
	n = tf_query_rewrite(&e, "", 0, out, sizeof(out));
	out[n < sizeof(out) ? n : 0] = 0;
	ASSERT_STREQ(out, want2);
	ASSERT_EQ(tf_query_rewrite(&e, "a=1", 3, out, 10), (size_t)-1);
}

TEST(path_rewrite)
{
	regex_t re;
	char out[64];
	size_t n;

	if (!ASSERT_OK(regcomp(&re, "^/v1/([^/]*)/(.*)$", REG_EXTENDED)))
		return;
	n = tf_path_rewrite(&re, "/v2/$2/$1$$", "/v1/users/42", 12, out, sizeof(out));
	out[n < sizeof(out) ? n : 0] = 0;
	ASSERT_STREQ(out, "/v2/42/users$");
	ASSERT_EQ(tf_path_rewrite(&re, "/x", "/v2/a/b", 7, out, sizeof(out)), 0);
	n = tf_path_rewrite(&re, "$1", "/v1/a/b", 7, out, sizeof(out));
	ASSERT_TRUE(n == 2 && !memcmp(out, "/a", 2));
	ASSERT_EQ(tf_path_rewrite(&re, "/$2$2$2$2", "/v1/a/0123456789abcdef", 22, out, 32),
		  (size_t)-1);
	regfree(&re);
}

TEST(json_types)
{
	ASSERT_TRUE(tf_is_json_type("application/json", 16));
	ASSERT_TRUE(tf_is_json_type(" Application/JSON; charset=utf-8", 32));
	ASSERT_TRUE(tf_is_json_type("application/problem+json", 24));
	ASSERT_FALSE(tf_is_json_type("text/plain", 10));
	ASSERT_FALSE(tf_is_json_type("+json", 5));
	ASSERT_FALSE(tf_is_json_type("application/jsonx", 17));
}

TEST(inflate)
{
	const char *text = "{\"hello\":\"world\",\"pad\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
	char gz[256], *out;
	size_t len = strlen(text), outlen;
	z_stream zs = { 0 };

	ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)text;
	zs.avail_in = len;
	zs.next_out = (Bytef *)gz;
	zs.avail_out = sizeof(gz);
	ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
	deflateEnd(&zs);
	if (ASSERT_OK(gw_inflate(gz, zs.total_out, 1000, &out, &outlen))) {
		ASSERT_TRUE(outlen == len && !memcmp(out, text, len));
		free(out);
	}
	ASSERT_EQ(gw_inflate(gz, zs.total_out, len - 1, &out, &outlen), -E2BIG);
	ASSERT_EQ(gw_inflate(gz, zs.total_out - 4, 1000, &out, &outlen), -EINVAL);
	ASSERT_EQ(gw_inflate("not compressed", 14, 1000, &out, &outlen), -EINVAL);
	ASSERT_TRUE(gw_encoding_supported(" gzip", 5) && gw_encoding_supported("deflate", 7));
	ASSERT_FALSE(gw_encoding_supported("br", 2));
	ASSERT_TRUE(gw_encoding_identity("", 0) && gw_encoding_identity("Identity", 8));
}
