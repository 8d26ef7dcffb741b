// SPDX-License-Identifier: GPL-2.0
/* gwctl vip: services (VIPs) of the L4 balancer: add, del, set, show. */
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>

#include "check.h"
#include "gwctl.h"
#include "lib/addr.h"
#include "maps.h"

/* Parses [algo A] [fwd F] [persist SECONDS] [check ...] into body. Returns 0 or cli_error's 1. */
static int vip_options(const char *what, int argc, char **argv, json_t *body)
{
	static const char *const keys[] = { "algo", "fwd", "persist", "check" };

	for (int i = 0; i < argc; i += 2) {
		int k = -1, hits = 0;

		for (int j = 0; j < 4; j++)
			if (cli_is_prefix(argv[i], keys[j])) {
				k = j;
				hits++;
			}
		if (hits != 1)
			return cli_error("%s: unknown argument '%s' (expected algo, fwd, persist, "
					 "check)",
					 what, argv[i]);
		if (k == 3) { /* check takes the rest of the line (cli/check.c) */
			json_t *c;

			if (cli_check_parse(what, argc - i - 1, argv + i + 1,
					    strcmp(what, "vip add") ? CHECK_SET : CHECK_ADD, &c))
				return 1;
			if (c)
				json_object_set_new(body, "check", c);
			return 0;
		}
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
		return cli_error("vip set: nothing to change (algo, fwd, persist, check)");
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
	return cli_delete("vip del", "NAME", "l4/services", argc, argv);
}

struct vip_show {
	struct lbmap *m;
	const char *name;
	bool header;
};

static void count_backends(struct lbmap *m, uint32_t vip_id, unsigned *total, unsigned *live)
{
	struct xg_backend b;

	*total = *live = 0;
	for (uint32_t id = 0; id < m->max_backends; id++) {
		if (lbmap_backend_get(m, id, &b) || !(b.flags & XG_BE_F_IN_USE) ||
		    b.vip_id != vip_id)
			continue;
		(*total)++;
		*live += strcmp(cli_backend_state(&b), "up") == 0;
	}
}

static int show_one(uint32_t id, const struct xg_vip_info *info, void *ctx)
{
	struct vip_show *vs = ctx;
	char vip[ADDR_STRLEN + 16], addr[ADDR_STRLEN];
	unsigned total, live;

	if (vs->name && strcmp(vs->name, info->name))
		return 0;
	if (!vs->header) {
		print_text("%-16s %-32s %-7s %-5s %-8s %-6s %-9s %s\n", "Service", "VIP", "Algo",
			   "Fwd", "Persist", "Id", "Backends", "Table");
		vs->header = true;
	}
	count_backends(vs->m, id, &total, &live);
	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "%-16s ", info->name);
	cli_fmt_vip(&info->key, vip, sizeof(vip));
	print_string(PRINT_FP, NULL, "%-32s ", vip);
	print_string(PRINT_JSON, "addr", NULL, addr_fmt(&info->key.addr, info->key.family, addr));
	print_u64(PRINT_JSON, "port", NULL, ntohs(info->key.port));
	print_string(PRINT_JSON, "proto", NULL, proto_name(info->key.proto));
	print_u64(PRINT_JSON, "family", NULL, info->key.family == XG_AF_INET6 ? 6 : 4);
	print_string(PRINT_ANY, "algo", "%-7s ", lbmap_algo_name(info->vip.algo));
	print_string(PRINT_ANY, "fwd", "%-5s ", lbmap_fwd_name(info->vip.fwd));
	print_u64(PRINT_ANY, "persist", "%-8llu ", info->vip.persist_sec);
	print_u64(PRINT_ANY, "id", "%-6llu ", id);
	print_text("%u/%-7u ", live, total);
	print_u64(PRINT_JSON, "backends", NULL, total);
	print_u64(PRINT_JSON, "live", NULL, live);
	print_u64(PRINT_ANY, "table_size", "%llu\n", info->sel_size);
	print_u64(PRINT_JSON, "generation", NULL, info->generation);
	close_json_object();
	return 0;
}

static int vip_show(int argc, char **argv)
{
	struct vip_show vs = { .name = argc ? argv[0] : NULL };
	uint32_t id;
	struct xg_vip_info info;

	if (cli_no_more("vip show", argc > 1 ? argc - 1 : 0, argv + 1))
		return 1;
	vs.m = cli_maps();
	if (!vs.m)
		return 1;
	if (vs.name && cli_vip_by_name(vs.m, vs.name, &id, &info))
		return 1;
	open_json_array(NULL);
	cli_foreach_vip(vs.m, show_one, &vs);
	close_json_array();
	return 0;
}

static const struct cli_cmd vip_cmds[] = {
	{ "add",
	  "NAME ADDR:PORT[/tcp|/udp] [algo maglev|sh|rr|lc] [fwd ipip|l2] [persist SECONDS] "
	  "[" CLI_CHECK_GRAMMAR "]",
	  "add a service: a VIP address, port and protocol, balanced over its backends",
	  vip_add },
	{ "del", "NAME", "remove a service and its backends", vip_del },
	{ "set",
	  "NAME [algo maglev|sh|rr|lc] [fwd ipip|l2] [persist SECONDS] [" CLI_CHECK_GRAMMAR "]",
	  "change a service's algorithm, forwarding mode, persistence or health check", vip_set },
	{ "show", "[NAME]", "show services as the datapath has them (works while gwd is down)",
	  vip_show },
	{ NULL },
};

const struct cli_object obj_vip = { "vip", "services (VIPs) of the L4 balancer", vip_cmds };
