// SPDX-License-Identifier: GPL-2.0
/* gwctl stats: per service and per backend counters (ipvsadm -L -n --stats style), reasons. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gwctl.h"
#include "lib/addr.h"
#include "lib/hc.h"
#include "maps.h"

#define RATE_WINDOW_MS 1000

struct snap {
	struct xg_counter reasons[XG_R_MAX];
	struct xg_flow_stats *vip;	/* [max_vips] */
	struct xg_flow_stats *be;	/* [max_backends] */
	uint64_t at_ns;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int take(struct lbmap *m, struct snap *s)
{
	s->vip = calloc(m->max_vips, sizeof(*s->vip));
	s->be = calloc(m->max_backends, sizeof(*s->be));
	if (!s->vip || !s->be)
		return -ENOMEM;
	s->at_ns = mono_ns();
	lbmap_stats_reasons(m, s->reasons);
	for (uint32_t id = 0; id < m->max_vips; id++)
		lbmap_stats_vip(m, id, &s->vip[id]);
	for (uint32_t id = 0; id < m->max_backends; id++)
		lbmap_stats_backend(m, id, &s->be[id]);
	return 0;
}

static void release(struct snap *s)
{
	free(s->vip);
	free(s->be);
}

struct view {
	struct lbmap *m;
	struct snap a, b;	/* b is used for rates only */
	bool rate;
	double secs;
	const char *name;
};

/* A counter as printed: the value, or its rate over the window. */
static double val(const struct view *v, uint64_t a, uint64_t b)
{
	return v->rate ? (b >= a ? (double)(b - a) / v->secs : 0) : (double)a;
}

static void counters(const struct view *v, const struct xg_flow_stats *a,
		     const struct xg_flow_stats *b)
{
	const struct xg_flow_stats *bb = v->rate ? b : a;

	if (v->rate) {
		print_float(PRINT_ANY, "new_flows_per_sec", "%10.1f ", val(v, a->new_flows, bb->new_flows));
		print_float(PRINT_ANY, "packets_per_sec", "%12.1f ", val(v, a->packets, bb->packets));
		print_float(PRINT_ANY, "bytes_per_sec", "%14.1f ", val(v, a->bytes, bb->bytes));
	} else {
		print_u64(PRINT_ANY, "new_flows", "%10llu ", a->new_flows);
		print_u64(PRINT_ANY, "packets", "%12llu ", a->packets);
		print_u64(PRINT_ANY, "bytes", "%14llu ", a->bytes);
	}
}

static int show_service(uint32_t vip_id, const struct xg_vip_info *info, void *ctx)
{
	struct view *v = ctx;
	char vip[ADDR_STRLEN + 16], addr[ADDR_STRLEN], proto[8];
	struct xg_backend_health h;
	struct xg_backend b;
	int64_t total_active = 0, active;

	if (v->name && strcmp(v->name, info->name))
		return 0;
	for (uint32_t id = 0; id < v->m->max_backends; id++)
		if (lbmap_backend_get(v->m, id, &b) == 0 && (b.flags & XG_BE_F_IN_USE) &&
		    b.vip_id == vip_id && lbmap_backend_active(v->m, id, &active) == 0)
			total_active += active;
	snprintf(proto, sizeof(proto), "%s", proto_name(info->key.proto));
	for (char *p = proto; *p; p++)
		*p = (char)(*p - ('a' - 'A'));
	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "%-16s ", info->name);
	print_string(PRINT_FP, NULL, "%-4s ", proto);
	print_string(PRINT_JSON, "proto", NULL, proto_name(info->key.proto));
	print_string(PRINT_ANY, "vip", "%-40s ", cli_fmt_vip(&info->key, vip, sizeof(vip)));
	counters(v, &v->a.vip[vip_id], &v->b.vip[vip_id]);
	print_int(PRINT_ANY, "active", "%8lld\n", total_active);
	open_json_array("backends");
	for (uint32_t id = 0; id < v->m->max_backends; id++) {
		if (lbmap_backend_get(v->m, id, &b) || !(b.flags & XG_BE_F_IN_USE) ||
		    b.vip_id != vip_id)
			continue;
		active = 0;
		lbmap_backend_active(v->m, id, &active);
		memset(&h, 0, sizeof(h));
		lbmap_backend_health_get(v->m, id, &h);
		open_json_object(NULL);
		print_text("  -> ");
		print_string(PRINT_ANY, "addr", "%-57s ", addr_fmt(&b.addr, b.family, addr));
		counters(v, &v->a.be[id], &v->b.be[id]);
		print_int(PRINT_ANY, "active", "%8lld ", active);
		print_u64(PRINT_ANY, "weight", "%6llu ", b.weight);
		print_string(PRINT_ANY, "state", "%-10s ", cli_backend_state(&b));
		print_string(PRINT_ANY, "health", "%s\n", hc_state_name(h.state));
		close_json_object();
	}
	close_json_array();
	close_json_object();
	return 0;
}

static void show_reasons(const struct view *v)
{
	static const char *const kinds[] = { "tx", "pass", "drop", "info" };
	bool any = false;

	open_json_array("reasons");
	for (int i = 0; i < XG_R_MAX; i++) {
		double p = val(v, v->a.reasons[i].packets, v->b.reasons[i].packets);
		double by = val(v, v->a.reasons[i].bytes, v->b.reasons[i].bytes);

		if (!print_is_json() && p == 0)
			continue;
		if (!any)
			print_text("\nPackets by reason%s:\n", v->rate ? " (per second)" : "");
		any = true;
		open_json_object(NULL);
		print_string(PRINT_ANY, "kind", "  %-5s ", kinds[lbmap_reason_kinds[i] & 3]);
		print_string(PRINT_ANY, "name", "%-24s ", lbmap_reason_names[i]);
		if (v->rate) {
			print_float(PRINT_ANY, "packets_per_sec", "%12.1f pkt/s ", p);
			print_float(PRINT_ANY, "bytes_per_sec", "%14.1f B/s\n", by);
		} else {
			print_u64(PRINT_ANY, "packets", "%12llu pkts ", v->a.reasons[i].packets);
			print_u64(PRINT_ANY, "bytes", "%14llu bytes\n", v->a.reasons[i].bytes);
		}
		close_json_object();
	}
	close_json_array();
	if (!any)
		print_text("\nPackets by reason: none yet\n");
}

static int stats_show(int argc, char **argv)
{
	struct view v = { 0 };
	struct xg_vip_info info;
	uint32_t id;
	int ret = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--rate") || !strcmp(argv[i], "rate"))
			v.rate = true;
		else if (!v.name && argv[i][0] != '-')
			v.name = argv[i];
		else
			return cli_error("stats: unexpected argument '%s' (gwctl stats [NAME] "
					 "[--rate])",
					 argv[i]);
	}
	v.m = cli_maps();
	if (!v.m)
		return 1;
	if (v.name && cli_vip_by_name(v.m, v.name, &id, &info))
		return 1;
	if (take(v.m, &v.a)) {
		ret = cli_error("stats: out of memory");
		goto out;
	}
	if (v.rate) {
		struct timespec ts = { RATE_WINDOW_MS / 1000, (RATE_WINDOW_MS % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		if (take(v.m, &v.b)) {
			ret = cli_error("stats: out of memory");
			goto out;
		}
		v.secs = (double)(v.b.at_ns - v.a.at_ns) / 1e9;
	} else {
		v.b = v.a;
	}
	open_json_object(NULL);
	print_bool(PRINT_JSON, "rate", NULL, v.rate);
	if (v.rate)
		print_float(PRINT_JSON, "window_sec", NULL, v.secs);
	print_text("%-16s %-4s %-40s %10s %12s %14s %8s\n", "Service", "Prot", "LocalAddress:Port",
		   v.rate ? "NewFlow/s" : "NewFlows", v.rate ? "Packets/s" : "Packets",
		   v.rate ? "Bytes/s" : "Bytes", "Active");
	print_text("  -> %-57s %10s %12s %14s %8s %6s %-10s %s\n", "Backend", "", "", "", "",
		   "Weight", "State", "Health");
	open_json_array("services");
	cli_foreach_vip(v.m, show_service, &v);
	close_json_array();
	if (!v.name)
		show_reasons(&v);
	close_json_object();
out:
	if (v.rate)
		release(&v.b);
	release(&v.a);
	return ret;
}

static int stats_reset(int argc, char **argv)
{
	if (cli_no_more("stats reset", argc, argv))
		return 1;
	return gwd_call("POST", "l4/stats/reset", NULL, NULL) ?: cli_changed();
}

static const struct cli_cmd stats_cmds[] = {
	{ "reset", "", "zero every counter (through gwd)", stats_reset },
	{ "", "[NAME] [--rate]",
	  "packets, bytes, new and active flows per service and backend, and every drop and pass "
	  "reason by name; --rate: per second over 1 s",
	  stats_show },
	{ NULL },
};

const struct cli_object obj_stats = { "stats", "counters of the L4 balancer", stats_cmds };
