// SPDX-License-Identifier: GPL-2.0
/* gwctl route: the gateway's routes: add, del, show. */
#include <stdio.h>
#include <string.h>

#include "gwctl.h"

static int route_add(int argc, char **argv)
{
	json_t *body, *hosts = json_array();
	int ret = 0, i;

	if (argc < 2)
		return cli_error("route add: missing %s (gwctl route add NAME PATH upstream POOL "
				 "[host HOST]... [methods M,M] [strip-prefix] [exact|regex])",
				 argc ? "PATH" : "NAME and PATH");
	body = json_pack("{s:s,s:s}", "name", argv[0], "path", argv[1]);
	for (i = 2; i < argc && !ret; i++) {
		const char *w = argv[i];

		if (!strcmp(w, "strip-prefix")) {
			json_object_set_new(body, "strip_prefix", json_true());
		} else if (!strcmp(w, "exact") || !strcmp(w, "regex") || !strcmp(w, "prefix")) {
			json_object_set_new(body, "path_match", json_string(w));
		} else if (cli_is_prefix(w, "upstream") || cli_is_prefix(w, "host") ||
			   cli_is_prefix(w, "methods") || cli_is_prefix(w, "rewrite-prefix")) {
			if (i + 1 >= argc) {
				ret = cli_error("route add: %s needs a value", w);
				break;
			}
			if (cli_is_prefix(w, "upstream")) {
				json_object_set_new(body, "upstream", json_string(argv[++i]));
			} else if (cli_is_prefix(w, "host")) {
				json_array_append_new(hosts, json_string(argv[++i]));
			} else if (cli_is_prefix(w, "rewrite-prefix")) {
				json_object_set_new(body, "rewrite_prefix", json_string(argv[++i]));
			} else {
				json_t *m = json_array();
				char buf[256], *save = NULL, *tok;

				snprintf(buf, sizeof(buf), "%s", argv[++i]);
				for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
					json_array_append_new(m, json_string(tok));
				json_object_set_new(body, "methods", m);
			}
		} else {
			ret = cli_error("route add: unknown argument '%s' (expected upstream, host, "
					"methods, strip-prefix, rewrite-prefix, exact or regex)", w);
		}
	}
	if (!ret && !json_object_get(body, "upstream"))
		ret = cli_error("route add: missing upstream POOL");
	if (json_array_size(hosts))
		json_object_set(body, "hosts", hosts);
	if (!ret)
		ret = gwd_call("POST", "gateway/routes", body, NULL);
	json_decref(hosts);
	json_decref(body);
	return ret ? ret : cli_changed();
}

static int route_del(int argc, char **argv)
{
	char path[512];

	if (argc < 1)
		return cli_error("route del: missing NAME");
	if (cli_no_more("route del", argc - 1, argv + 1))
		return 1;
	snprintf(path, sizeof(path), "gateway/routes/%s", cli_escape(argv[0]));
	return gwd_call("DELETE", path, NULL, NULL) ?: cli_changed();
}

static void join(json_t *arr, char *buf, size_t len, const char *none)
{
	size_t i, o = 0;
	json_t *v;

	buf[0] = 0;
	json_array_foreach(arr, i, v)
		o += snprintf(buf + o, o < len ? len - o : 0, "%s%s", i ? "," : "",
			      json_string_value(v) ?: "");
	if (!o)
		snprintf(buf, len, "%s", none);
}

static int route_show(int argc, char **argv)
{
	json_t *arr, *r;
	size_t i;

	if (argc > 1)
		return cli_no_more("route show", argc - 1, argv + 1);
	if (gwd_call("GET", "gateway/routes", NULL, &arr))
		return 1;
	print_start();
	open_json_array(NULL);
	if (!print_is_json())
		print_text("%-16s %-24s %-24s %-6s %-12s %-16s %s\n", "NAME", "HOSTS", "PATH",
			   "MATCH", "METHODS", "UPSTREAM", "REWRITE");
	json_array_foreach(arr, i, r) {
		const char *name = json_string_value(json_object_get(r, "name")) ?: "";
		const char *path = json_string_value(json_object_get(r, "path")) ?: "/";
		const char *match = json_string_value(json_object_get(r, "path_match")) ?: "prefix";
		const char *up = json_string_value(json_object_get(r, "upstream")) ?: "";
		const char *rw = json_string_value(json_object_get(r, "rewrite_prefix"));
		bool strip = json_is_true(json_object_get(r, "strip_prefix"));
		char hosts[256], methods[128];

		if (argc == 1 && strcmp(argv[0], name))
			continue;
		join(json_object_get(r, "hosts"), hosts, sizeof(hosts), "*");
		join(json_object_get(r, "methods"), methods, sizeof(methods), "*");
		if (print_is_json()) {
			print_json(NULL, json_incref(r));
			continue;
		}
		print_text("%-16s %-24s %-24s %-6s %-12s %-16s %s\n", name, hosts, path, match,
			   methods, up, rw ? rw : strip ? "strip" : "-");
	}
	close_json_array();
	print_end();
	json_decref(arr);
	return 0;
}

static const struct cli_cmd route_cmds[] = {
	{ "add",
	  "NAME PATH upstream POOL [host HOST]... [methods M,M] [strip-prefix] "
	  "[rewrite-prefix P] [exact|regex]",
	  "add a route: requests matching host, path and methods go to POOL", route_add },
	{ "del", "NAME", "remove a route", route_del },
	{ "show", "[NAME]", "list routes", route_show },
	{ NULL },
};

const struct cli_object obj_route = { "route", "the gateway's routes", route_cmds };
