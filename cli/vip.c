// SPDX-License-Identifier: GPL-2.0
/* gwctl vip: services (VIPs) of the L4 balancer: add, del, set, show. */
#include <stdio.h>
#include <string.h>

#include "gwctl.h"

/* Parses [algo A] [fwd F] [persist SECONDS] into body. Returns 0 or cli_error's 1. */
static int vip_options(const char *what, int argc, char **argv, json_t *body)
{
	static const char *const keys[] = { "algo", "fwd", "persist" };

	for (int i = 0; i < argc; i += 2) {
		int k = -1, hits = 0;

		for (int j = 0; j < 3; j++)
			if (cli_is_prefix(argv[i], keys[j])) {
				k = j;
				hits++;
			}
		if (hits != 1)
			return cli_error("%s: unknown argument '%s' (expected algo, fwd, persist)",
					 what, argv[i]);
		if (i + 1 >= argc)
			return cli_error("%s: %s needs a value", what, keys[k]);
		if (k == 2) {
			uint32_t s;

			if (cli_u32(what, "persist", argv[i + 1], UINT32_MAX, &s))
				return 1;
			json_object_set_new(body, "persist", json_integer(s));
		} else {
			json_object_set_new(body, keys[k], json_string(argv[i + 1]));
		}
	}
	return 0;
}

static int vip_add(int argc, char **argv)
{
	json_t *body;
	int ret;

	if (argc < 2)
		return cli_error("vip add: missing %s (gwctl vip add NAME ADDR:PORT[/tcp|/udp] ...)",
				 argc ? "ADDR:PORT" : "NAME and ADDR:PORT");
	body = json_pack("{s:s, s:s}", "name", argv[0], "vip", argv[1]);
	ret = vip_options("vip add", argc - 2, argv + 2, body);
	if (!ret)
		ret = gwd_call("POST", "l4/services", body, NULL);
	json_decref(body);
	return ret ? ret : cli_changed();
}

static int vip_set(int argc, char **argv)
{
	char path[512];
	json_t *body;
	int ret;

	if (argc < 1)
		return cli_error("vip set: missing NAME");
	if (argc < 2)
		return cli_error("vip set: nothing to change (algo, fwd, persist)");
	body = json_object();
	ret = vip_options("vip set", argc - 1, argv + 1, body);
	snprintf(path, sizeof(path), "l4/services/%s", cli_escape(argv[0]));
	if (!ret)
		ret = gwd_call("PATCH", path, body, NULL);
	json_decref(body);
	return ret ? ret : cli_changed();
}

static int vip_del(int argc, char **argv)
{
	char path[512];

	if (argc < 1)
		return cli_error("vip del: missing NAME");
	if (cli_no_more("vip del", argc - 1, argv + 1))
		return 1;
	snprintf(path, sizeof(path), "l4/services/%s", cli_escape(argv[0]));
	return gwd_call("DELETE", path, NULL, NULL) ?: cli_changed();
}

static const struct cli_cmd vip_cmds[] = {
	{ "add", "NAME ADDR:PORT[/tcp|/udp] [algo maglev|sh|rr|lc] [fwd ipip|l2] [persist SECONDS]",
	  "add a service: a VIP address, port and protocol, balanced over its backends",
	  vip_add },
	{ "del", "NAME", "remove a service and its backends", vip_del },
	{ "set", "NAME [algo maglev|sh|rr|lc] [fwd ipip|l2] [persist SECONDS]",
	  "change a service's algorithm, forwarding mode or persistence", vip_set },
	{ NULL },
};

const struct cli_object obj_vip = { "vip", "services (VIPs) of the L4 balancer", vip_cmds };
