// SPDX-License-Identifier: GPL-2.0
/* gwctl conntrack: the balancer's connection table, decoded; flush through gwd. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwctl.h"
#include "lib/addr.h"
#include "maps.h"

struct ct_show {
	struct lbmap *m;
	uint32_t vip_id;	/* XG_VIP_NONE: all */
	uint64_t now;
	uint64_t count;
	char names[XG_MAX_VIPS][XG_NAME_LEN];
};

static const char *ep_fmt(const struct xg_addr *a, uint8_t family, uint16_t port, char *buf)
{
	char s[ADDR_STRLEN];

	addr_fmt(a, family, s);
	snprintf(buf, ADDR_STRLEN, family == XG_AF_INET6 ? "[%s]:%u" : "%s:%u", s, port);
	return buf;
}

static int show_entry(const struct xg_flow_key *k, const struct xg_ct_value *v, void *ctx)
{
	struct ct_show *cs = ctx;
	char src[ADDR_STRLEN], dst[ADDR_STRLEN], be_addr[ADDR_STRLEN];
	struct xg_backend b;
	bool have_be;
	uint64_t age_ms;

	if (cs->vip_id != XG_VIP_NONE && v->vip_id != cs->vip_id)
		return 0;
	if (cs->count++ == 0)
		print_text("%-5s %-46s %-46s %-16s %-40s %8s %s\n", "Proto", "Client", "VIP",
			   "Service", "Backend", "Idle", "Flags");
	have_be = lbmap_backend_get(cs->m, v->backend_id, &b) == 0 && (b.flags & XG_BE_F_IN_USE);
	age_ms = cs->now > v->last_seen_ns ? (cs->now - v->last_seen_ns) / 1000000 : 0;
	open_json_object(NULL);
	print_string(PRINT_ANY, "proto", "%-5s ", proto_name(k->proto));
	print_string(PRINT_ANY, "client", "%-46s ", ep_fmt(&k->src, k->family, ntohs(k->sport), src));
	print_string(PRINT_ANY, "vip", "%-46s ", ep_fmt(&k->dst, k->family, ntohs(k->dport), dst));
	print_string(PRINT_ANY, "service", "%-16s ",
		     v->vip_id < XG_MAX_VIPS && cs->names[v->vip_id][0] ? cs->names[v->vip_id]
									 : "?");
	print_string(PRINT_ANY, "backend", "%-40s ",
		     have_be ? addr_fmt(&b.addr, b.family, be_addr) : "(gone)");
	print_u64(PRINT_JSON, "backend_id", NULL, v->backend_id);
	print_text("%7.1fs ", (double)age_ms / 1000);
	print_u64(PRINT_JSON, "idle_ms", NULL, age_ms);
	print_string(PRINT_ANY, "flags", "%s\n", (v->flags & XG_CT_F_FIN) ? "fin" : "");
	close_json_object();
	return 0;
}

static int name_cb(uint32_t id, const struct xg_vip_info *info, void *ctx)
{
	struct ct_show *cs = ctx;

	if (id < XG_MAX_VIPS)
		snprintf(cs->names[id], XG_NAME_LEN, "%s", info->name);
	return 0;
}

static int ct_show(int argc, char **argv)
{
	struct ct_show *cs;
	struct xg_vip_info info;
	int ret;

	if (cli_no_more("conntrack show", argc > 1 ? argc - 1 : 0, argv + 1))
		return 1;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return cli_error("conntrack show: out of memory");
	cs->vip_id = XG_VIP_NONE;
	cs->m = cli_maps();
	if (!cs->m || (argc && cli_vip_by_name(cs->m, argv[0], &cs->vip_id, &info))) {
		free(cs);
		return 1;
	}
	cli_foreach_vip(cs->m, name_cb, cs);
	cs->now = lbmap_now_ns();
	open_json_array(NULL);
	ret = lbmap_ct_foreach(cs->m, show_entry, cs);
	close_json_array();
	if (!ret && !cs->count)
		print_text("no flows\n");
	free(cs);
	if (ret)
		return cli_error("conntrack show: cannot read the connection table: %s",
				 strerror(-ret));
	return 0;
}

static int ct_flush(int argc, char **argv)
{
	json_t *body;
	int ret;

	if (cli_no_more("conntrack flush", argc > 1 ? argc - 1 : 0, argv + 1))
		return 1;
	body = argc ? json_pack("{s:s}", "service", argv[0]) : json_object();
	ret = gwd_call("POST", "l4/conntrack/flush", body, NULL);
	json_decref(body);
	return ret ?: cli_changed();
}

static const struct cli_cmd conntrack_cmds[] = {
	{ "show", "[NAME]", "list the flows of the connection table: client, VIP, backend, idle time",
	  ct_show },
	{ "flush", "[NAME]", "forget flows (all, or of one service); they are balanced again on "
			     "their next packet (through gwd)",
	  ct_flush },
	{ NULL },
};

const struct cli_object obj_conntrack = { "conntrack", "the connection table of the L4 balancer",
					  conntrack_cmds };
