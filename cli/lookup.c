// SPDX-License-Identifier: GPL-2.0
/* gwctl lookup: which backend a flow gets, and why (a dry run of the datapath's decision). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "gwctl.h"
#include "lib/addr.h"
#include "maps.h"

static int lookup_run(int argc, char **argv)
{
	struct xg_flow_key flow = { 0 };
	struct lbmap_lookup res;
	struct xg_vip_info info;
	struct xg_backend b;
	struct endpoint src;
	struct lbmap *m;
	char cause[160], addr[ADDR_STRLEN], vip[ADDR_STRLEN + 16];
	uint16_t dport = 0;
	uint32_t id;
	int ret;

	if (argc < 2)
		return cli_error("lookup: missing %s (gwctl lookup NAME SRC_ADDR:SRC_PORT [dport "
				 "PORT])",
				 argc ? "SRC_ADDR:SRC_PORT" : "NAME and SRC_ADDR:SRC_PORT");
	if (endpoint_parse(argv[1], &src, cause, sizeof(cause)))
		return cli_error("lookup: %s", cause);
	if (!src.has_port)
		return cli_error("lookup: the client needs a port: %s:PORT", argv[1]);
	if (argc > 2) {
		if (!cli_is_prefix(argv[2], "dport") || argc != 4)
			return cli_error("lookup: unexpected argument '%s' (expected dport PORT)",
					 argv[2]);
		if (port_parse(argv[3], &dport))
			return cli_error("lookup: invalid port '%s'", argv[3]);
	}
	m = cli_maps();
	if (!m || cli_vip_by_name(m, argv[0], &id, &info))
		return 1;
	if (src.family != info.key.family)
		return cli_error("lookup: service '%s' is IPv%d, the client address IPv%d", argv[0],
				 info.key.family, src.family);
	if (!info.key.port && !dport)
		return cli_error("lookup: service '%s' balances all ports: give dport PORT",
				 argv[0]);
	if (info.key.port && dport && htons(dport) != info.key.port)
		return cli_error("lookup: service '%s' takes port %u only (dport is for a service "
				 "on all ports)",
				 argv[0], ntohs(info.key.port));
	flow.src = src.addr;
	flow.dst = info.key.addr;
	flow.sport = htons(src.port);
	flow.dport = info.key.port ? info.key.port : htons(dport);
	flow.proto = info.key.proto;
	flow.family = info.key.family;
	ret = lbmap_lookup(m, &flow, &res);
	if (ret)
		return cli_error("lookup: %s", strerror(-ret));
	open_json_object(NULL);
	print_string(PRINT_ANY, "service", "service  %s", info.name);
	print_string(PRINT_ANY, "vip", " (%s)\n", cli_fmt_vip(&info.key, vip, sizeof(vip)));
	print_string(PRINT_ANY, "client", "client   %s\n", argv[1]);
	if (res.backend_id != XG_BACKEND_NONE && lbmap_backend_get(m, res.backend_id, &b) == 0) {
		print_string(PRINT_ANY, "backend", "backend  %s",
			     addr_fmt(&b.addr, b.family, addr));
		print_u64(PRINT_ANY, "backend_id", " (id %llu", res.backend_id);
		print_string(PRINT_ANY, "state", ", %s)\n", cli_backend_state(&b));
	} else {
		print_null(PRINT_ANY, "backend", "backend  none\n");
	}
	print_string(PRINT_ANY, "why", "why      %s\n", res.why_text ? res.why_text : "?");
	if (res.why != LBMAP_WHY_CT)
		print_u64(PRINT_ANY, "hash", "hash     0x%08llx\n", res.hash);
	if (res.table_size) {
		print_u64(PRINT_ANY, "slot", "slot     %llu", res.slot);
		print_u64(PRINT_ANY, "table_size", " of %llu\n", res.table_size);
	}
	if (res.why == LBMAP_WHY_CT)
		print_u64(PRINT_ANY, "ct_idle_ms", "idle     %llu ms\n", res.ct_age_ns / 1000000);
	close_json_object();
	return 0;
}

static const struct cli_cmd lookup_cmds[] = {
	{ "", "NAME SRC_ADDR:SRC_PORT [dport PORT]",
	  "which backend a client's flow to service NAME gets, and why (changes nothing)",
	  lookup_run },
	{ NULL },
};

const struct cli_object obj_lookup = { "lookup", "dry run of the balancer's choice for a flow",
				       lookup_cmds };
