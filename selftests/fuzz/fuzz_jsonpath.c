// SPDX-License-Identifier: GPL-2.0
/*
 * The transform policy's JSON body edits: the path syntax (first line of the input) and the
 * documents it edits (the rest: a request or response body from anyone). The path is used to
 * remove, rename and set on the body; a compiled program runs on it as the policy does.
 */
#include "gateway/policies/jsonpath.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jp_program prog;
	static bool compiled;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t plen = nl ? (size_t)(nl - data) : size;
	const char *body = nl ? (const char *)nl + 1 : "";
	size_t blen = nl ? size - plen - 1 : 0;
	char *path = fuzz_str(data, plen), err[256], *out;
	struct jp_path p;
	json_error_t jerr;
	json_t *doc, *v;
	size_t outlen;

	if (!compiled) {
		json_t *conf = json_loads("{\"remove\": [\"password\", \"items[*].secret\", \"**.token\"],"
					  " \"rename\": {\"user.name\": \"login\"},"
					  " \"set\": {\"meta.via\": \"xdpgw\", \"items[0].first\": true},"
					  " \"add\": {\"meta.count\": 1}}", 0, &jerr);

		if (!conf || jp_program_compile(conf, NULL, &prog, err, sizeof(err)))
			abort();
		json_decref(conf);
		compiled = true;
	}
	if (!path)
		return 0;
	doc = json_loadb(body, blen, JSON_DECODE_ANY, &jerr);
	if (jp_path_parse(path, &p, err, sizeof(err)) == 0) {
		(void)jp_path_has_wildcard(&p);
		if (doc) {
			v = json_deep_copy(doc);
			(void)jp_remove(v, &p);
			json_decref(v);
			v = json_deep_copy(doc);
			(void)jp_rename(v, &p, "renamed");
			json_decref(v);
			v = json_deep_copy(doc);
			(void)jp_set(v, &p, doc, false);
			out = jp_dump(v, &outlen);
			free(out);
			json_decref(v);
		}
		jp_path_free(&p);
	}
	if (jp_program_run(&prog, body, blen, &out, &outlen) == JP_RUN_CHANGED)
		free(out);
	json_decref(doc);
	free(path);
	return 0;
}
