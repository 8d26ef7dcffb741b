// SPDX-License-Identifier: GPL-2.0
/*
 * Admin API bodies and object paths, as gwd handles them (api.c): the first line of the input
 * is "METHOD PATH" (POST/PATCH/DELETE on a collection path such as
 * l4/services/web/backends/198.18.1.3, or APPLY for POST /v1/apply), the rest the JSON body.
 * The edit runs on a copy of a realistic document, then the candidate is diffed and compiled
 * like a change; a refused edit must leave the document as it was.
 */
#include <assert.h>

#include "gateway/gateway.h"
#include "gwd/doc.h"
#include "gwd/l4.h"
#include "fuzz.h"

static const char base_doc[] =
	"{\"l4\": {\"links\": [{\"name\": \"eth0\"}], \"services\": ["
	"{\"name\": \"web\", \"vip\": \"198.18.100.1:80/tcp\", \"backends\": ["
	"{\"addr\": \"198.18.1.3\"}, {\"addr\": \"2001:2::5\", \"weight\": 7}]},"
	"{\"name\": \"dns\", \"vip\": \"[2001:2::100:1]:53/udp\", \"algo\": \"sh\"}]},"
	"\"gateway\": {\"listeners\": [{\"addr\": \"198.18.0.1:8080\"}],"
	"\"upstreams\": [{\"name\": \"api\", \"targets\": [{\"addr\": \"198.18.2.1:8000\"}]}],"
	"\"consumers\": [{\"id\": \"alice\", \"groups\": [\"admin\"]}],"
	"\"routes\": [{\"name\": \"users\", \"path\": \"/users\", \"upstream\": \"api\","
	"\"policies\": [{\"name\": \"key-auth\"}, {\"name\": \"rate-limit\", \"rate\": 10}]}]}}";

static const struct gwd_collection *colls[16];

static void setup(void)
{
	size_t n = 0;

	for (int m = 0; gwd_modules[m]; m++)
		for (const struct gwd_collection *c = gwd_modules[m]->collections; c && c->path; c++)
			if (n + 1 < sizeof(colls) / sizeof(colls[0]))
				colls[n++] = c;
	colls[n] = NULL;
}

static void compile(const json_t *doc)
{
	struct l4_limits lim = { .max_vips = 512, .max_backends = 4096 };
	struct gwd_err err = { 0 };
	char msg[512];

	l4_compiled_free(l4_compile(json_object_get(doc, "l4"), &lim, &err));
	if (json_is_object(json_object_get(doc, "gateway")))
		gw_config_put(gw_config_compile(json_object_get(doc, "gateway"), msg, sizeof(msg)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *base;
	const uint8_t *nl = memchr(data, '\n', size);
	char *line, *path, *text;
	struct gwd_err err = { 0 };
	json_t *cand, *body = NULL, *diff, *e;
	json_error_t jerr;
	size_t i;
	int ret = -1;

	if (!base) {
		setup();
		base = json_loads(base_doc, 0, &jerr);
		assert(base);
	}
	if (!nl)
		return 0;
	line = fuzz_str(data, (size_t)(nl - data));
	if (!line)
		return 0;
	path = strchr(line, ' ');
	if (path)
		*path++ = 0;
	body = json_loadb((const char *)nl + 1, size - (size_t)(nl + 1 - data),
			  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	fuzz_defang(body);
	cand = json_deep_copy(base);
	if (!strcmp(line, "APPLY") && body) {
		json_decref(cand);
		cand = doc_merge_sections(base, body, &err);
		ret = cand ? 0 : -1;
	} else if (path && !strcmp(line, "POST") && body) {
		ret = doc_add(cand, colls, path, body, &err);
	} else if (path && !strcmp(line, "PATCH") && body) {
		ret = doc_patch(cand, colls, path, body, &err);
	} else if (path && !strcmp(line, "DELETE")) {
		ret = doc_delete(cand, colls, path, &err);
	}
	if (cand && ret)	/* refused: nothing changed */
		assert(json_equal(cand, base));
	if (cand && !ret) {
		diff = doc_diff(base, cand, colls);
		json_array_foreach(diff, i, e)
			free(doc_diff_line(e));
		json_decref(diff);
		compile(cand);
		text = json_dumps(cand, JSON_COMPACT);
		free(text);
	}
	json_decref(cand);
	json_decref(body);
	free(line);
	return 0;
}
