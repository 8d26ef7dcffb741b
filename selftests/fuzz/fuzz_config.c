// SPDX-License-Identifier: GPL-2.0
/*
 * The configuration file (gwd --config, gwctl apply -f): YAML -> JSON (yaml2json.c), then the
 * compilers of every section (l4, gateway with its upstreams, routes, consumers and policies).
 * Any input must give a document or an error, never a crash, a leak or undefined behaviour.
 */
#include "gateway/gateway.h"
#include "gwd/l4.h"
#include "lib/yaml2json.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l4_limits lim = { .max_vips = 512, .max_backends = 4096 };
	struct gwd_err gerr = { 0 };
	struct l4_compiled *l4;
	struct gw_config *gw;
	char err[512];
	json_t *doc;

	doc = yaml_to_json((const char *)data, size, err, sizeof(err));
	if (!doc)
		return 0;
	fuzz_defang(doc);
	if (json_is_object(doc)) {
		l4 = l4_compile(json_object_get(doc, "l4"), &lim, &gerr);
		l4_compiled_free(l4);
		if (json_is_object(json_object_get(doc, "gateway"))) {
			gw = gw_config_compile(json_object_get(doc, "gateway"), err, sizeof(err));
			gw_config_put(gw);
		}
	}
	json_decref(doc);
	return 0;
}
