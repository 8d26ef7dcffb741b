// SPDX-License-Identifier: GPL-2.0
/* gwctl backend: backends of a service: add, del, set (weight, drain, down), show. */
#include <stdio.h>
#include <string.h>

#include "gwctl.h"

static int backend_add(int argc, char **argv)
{
	json_t *body;
	uint32_t w;
	char path[512];
	int ret = 0;

	if (argc < 2)
		return cli_error("backend add: missing %s (gwctl backend add NAME ADDR [weight W])",
				 argc ? "ADDR" : "NAME and ADDR");
	body = json_pack("{s:s}", "addr", argv[1]);
	if (argc > 2) {
		if (!cli_is_prefix(argv[2], "weight"))
			ret = cli_error("backend add: unknown argument '%s' (expected weight)",
					argv[2]);
		else if (argc < 4)
			ret = cli_error("backend add: weight needs a value");
		else if (!cli_u32("backend add", "weight", argv[3], UINT32_MAX, &w))
			json_object_set_new(body, "weight", json_integer(w));
		else
			ret = 1;
		if (!ret)
			ret = cli_no_more("backend add", argc - 4, argv + 4);
	}
	snprintf(path, sizeof(path), "l4/services/%s/backends", cli_escape(argv[0]));
	if (!ret)
		ret = gwd_call("POST", path, body, NULL);
	json_decref(body);
	return ret ? ret : cli_changed();
}

static int backend_del(int argc, char **argv)
{
	char path[768];

	if (argc < 2)
		return cli_error("backend del: missing %s", argc ? "ADDR" : "NAME and ADDR");
	if (cli_no_more("backend del", argc - 2, argv + 2))
		return 1;
	snprintf(path, sizeof(path), "l4/services/%s/backends/%s", cli_escape(argv[0]),
		 cli_escape(argv[1]));
	return gwd_call("DELETE", path, NULL, NULL) ?: cli_changed();
}

static int backend_set(int argc, char **argv)
{
	static const char *const words[] = { "weight", "drain", "undrain", "down", "up" };
	char path[768];
	json_t *body;
	uint32_t w;
	int k = -1, hits = 0, ret;

	if (argc < 3)
		return cli_error("backend set: missing %s (weight W | drain | undrain | down | up)",
				 argc == 0 ? "NAME, ADDR and what to set"
				 : argc == 1 ? "ADDR and what to set" : "what to set");
	for (int j = 0; j < 5; j++)
		if (strcmp(argv[2], words[j]) == 0) {
			k = j;
			hits = 1;
			break;
		} else if (cli_is_prefix(argv[2], words[j])) {
			k = j;
			hits++;
		}
	if (hits != 1)
		return cli_error("backend set: %s '%s' (expected weight W, drain, undrain, down "
				 "or up)",
				 hits ? "ambiguous" : "unknown argument", argv[2]);
	if (k == 0) {
		if (argc < 4)
			return cli_error("backend set: weight needs a value");
		if (cli_u32("backend set", "weight", argv[3], UINT32_MAX, &w) ||
		    cli_no_more("backend set", argc - 4, argv + 4))
			return 1;
		body = json_pack("{s:i}", "weight", (json_int_t)w);
	} else {
		if (cli_no_more("backend set", argc - 3, argv + 3))
			return 1;
		body = json_pack("{s:b}", k <= 2 ? "drain" : "down", k == 1 || k == 3);
	}
	snprintf(path, sizeof(path), "l4/services/%s/backends/%s", cli_escape(argv[0]),
		 cli_escape(argv[1]));
	ret = gwd_call("PATCH", path, body, NULL);
	json_decref(body);
	return ret ? ret : cli_changed();
}

static const struct cli_cmd backend_cmds[] = {
	{ "add", "NAME ADDR [weight W]", "add a backend (real server) to service NAME",
	  backend_add },
	{ "del", "NAME ADDR", "remove a backend; its flows move to the others", backend_del },
	{ "set", "NAME ADDR weight W | drain | undrain | down | up",
	  "change the weight; drain (no new flows, existing ones stay); down (flows move away)",
	  backend_set },
	{ NULL },
};

const struct cli_object obj_backend = { "backend", "backends (real servers) of a service",
					backend_cmds };
