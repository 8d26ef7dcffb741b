// SPDX-License-Identifier: GPL-2.0
/* gwctl apply: a declarative YAML file (gwd's config format) applied as one change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwctl.h"
#include "lib/yaml2json.h"

static void print_diff_line(const json_t *e)
{
	const char *op = json_string_value(json_object_get(e, "op"));
	const char *path = json_string_value(json_object_get(e, "path"));
	const size_t fl = JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS;
	json_t *ov = json_object_get(e, "old"), *nv = json_object_get(e, "new");
	char *o = ov ? json_dumps(ov, fl) : NULL, *n = nv ? json_dumps(nv, fl) : NULL;

	if (op && *op == '+')
		printf("+ %s = %s\n", path, n ? n : "");
	else if (op && *op == '-')
		printf("- %s\n", path);
	else
		printf("~ %s: %s -> %s\n", path, o ? o : "", n ? n : "");
	free(o);
	free(n);
}

static int apply_run(int argc, char **argv)
{
	const char *file = NULL;
	bool dry = false, replace = false;
	char err[512], path[128];
	json_t *doc, *resp = NULL, *diff = NULL, *e;
	size_t i, n;
	int ret;

	for (int a = 0; a < argc; a++) {
		if (!strcmp(argv[a], "-f") || !strcmp(argv[a], "--file")) {
			if (a + 1 >= argc)
				return cli_error("apply: -f needs a FILE");
			file = argv[++a];
		} else if (!strcmp(argv[a], "--dry-run") || !strcmp(argv[a], "-n")) {
			dry = true;
		} else if (!strcmp(argv[a], "--replace")) {
			replace = true;
		} else {
			return cli_error("apply: unexpected argument '%s' (gwctl apply -f FILE "
					 "[--dry-run] [--replace])",
					 argv[a]);
		}
	}
	if (!file)
		return cli_error("apply: missing -f FILE");
	doc = yaml_file_to_json(file, err, sizeof(err));
	if (!doc)
		return cli_error("apply: %s", err);
	snprintf(path, sizeof(path), "apply?dry_run=1%s", replace ? "&replace=1" : "");
	ret = gwd_call("POST", path, doc, &resp);
	if (ret)
		goto out;
	diff = json_incref(json_object_get(resp, "diff"));
	n = json_array_size(diff);
	if (dry && print_is_json()) {
		print_json("generation", json_incref(json_object_get(resp, "generation")));
		print_json("diff", json_incref(diff));
		goto out;
	}
	if (!print_is_json()) {
		json_array_foreach (diff, i, e)
			print_diff_line(e);
		if (n == 0)
			printf("no changes\n");
		else if (dry)
			printf("dry run: %zu change%s not applied\n", n, n == 1 ? "" : "s");
	}
	if (dry || n == 0) {
		if (!dry)
			cli_changed();
		goto out;
	}
	/* Apply exactly what was shown: refused if anything changed in between. */
	snprintf(path, sizeof(path), "apply?if_generation=%lld%s",
		 (long long)json_integer_value(json_object_get(resp, "generation")),
		 replace ? "&replace=1" : "");
	json_decref(resp);
	resp = NULL;
	ret = gwd_call("POST", path, doc, &resp);
	if (ret)
		goto out;
	if (!print_is_json())
		printf("applied %zu change%s (generation %lld)\n", n, n == 1 ? "" : "s",
		       (long long)json_integer_value(json_object_get(resp, "generation")));
	cli_changed();
out:
	json_decref(diff);
	json_decref(resp);
	json_decref(doc);
	return ret;
}

static const struct cli_cmd apply_cmds[] = {
	{ "", "-f FILE [--dry-run] [--replace]",
	  "apply a YAML file (gwd's config format) as one change; shows the diff. Sections and "
	  "their fields the file does not mention are kept unless --replace",
	  apply_run },
	{ NULL },
};

const struct cli_object obj_apply = { "apply", "declarative configuration from a YAML file",
				      apply_cmds };
