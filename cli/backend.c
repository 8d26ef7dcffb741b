// SPDX-License-Identifier: GPL-2.0
/* gwctl backend: backends of a service: add, del, set (weight, drain, down), show. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gwctl.h"
#include "lib/addr.h"
#include "lib/hc.h"
#include "maps.h"

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
	static const char *const words[] = { "weight", "drain", "undrain", "down", "up", "check" };
	char path[768];
	json_t *body;
	uint32_t w;
	int k = -1, hits = 0, ret;

	if (argc < 3)
		return cli_error("backend set: missing %s (weight W | drain | undrain | down | up | "
				 "check ...)",
				 argc == 0 ? "NAME, ADDR and what to set"
				 : argc == 1 ? "ADDR and what to set" : "what to set");
	for (int j = 0; j < 6; j++)
		if (strcmp(argv[2], words[j]) == 0) {
			k = j;
			hits = 1;
			break;
		} else if (cli_is_prefix(argv[2], words[j])) {
			k = j;
			hits++;
		}
	if (hits != 1)
		return cli_error("backend set: %s '%s' (expected weight W, drain, undrain, down, "
				 "up or check)",
				 hits ? "ambiguous" : "unknown argument", argv[2]);
	if (k == 5) { /* the backend's own health check (cli/check.c) */
		json_t *c;

		if (cli_check_parse("backend set", argc - 3, argv + 3, CHECK_BACKEND, &c))
			return 1;
		body = json_object();
		json_object_set_new(body, "check", c);
	} else if (k == 0) {
		if (argc < 4)
			return cli_error("backend set: weight needs a value");
		if (cli_u32("backend set", "weight", argv[3], UINT32_MAX, &w) ||
		    cli_no_more("backend set", argc - 4, argv + 4))
			return 1;
		body = json_pack("{s:I}", "weight", (json_int_t)w);
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

struct be_show {
	struct lbmap *m;
	bool header;
};

/* "12s", "5m", "3h", "2d": how long ago unix_ms was; "-" when never. */
static const char *age(uint64_t unix_ms, char *buf, size_t len)
{
	struct timespec ts;
	uint64_t now, s;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (!unix_ms) {
		snprintf(buf, len, "-");
		return buf;
	}
	s = now > unix_ms ? (now - unix_ms) / 1000 : 0;
	if (s < 120)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%llum", (unsigned long long)s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%lluh", (unsigned long long)s / 3600);
	else
		snprintf(buf, len, "%llud", (unsigned long long)s / 86400);
	return buf;
}

/* The health checker's view: state, since, last check and its duration, failures/checks. */
static void show_health(const struct xg_backend_health *h, char *err, size_t errlen)
{
	bool checked = h->state != XG_HC_DISABLED && h->probes;
	char buf[32], fails[48];

	snprintf(err, errlen, "%.*s", (int)sizeof(h->last_error), h->last_error);
	open_json_object("health");
	print_string(PRINT_ANY, "state", "%-9s ", hc_state_name(h->state));
	print_string(PRINT_FP, NULL, "%-6s ",
		     h->state == XG_HC_DISABLED ? "-" : age(h->since_unix_ms, buf, sizeof(buf)));
	print_u64(PRINT_JSON, "since_unix_ms", NULL, h->since_unix_ms);
	print_u64(PRINT_JSON, "last_probe_unix_ms", NULL, h->last_probe_unix_ms);
	print_bool(PRINT_JSON, "last_ok", NULL, h->last_ok);
	print_u64(PRINT_JSON, "last_latency_us", NULL, h->last_latency_us);
	if (checked)
		snprintf(buf, sizeof(buf), "%s %.1fms", h->last_ok ? "ok" : "fail",
			 h->last_latency_us / 1000.0);
	print_string(PRINT_FP, NULL, "%-13s ", checked ? buf : "-");
	snprintf(fails, sizeof(fails), "%llu/%llu", (unsigned long long)h->failures,
		 (unsigned long long)h->probes);
	print_string(PRINT_FP, NULL, "%-11s ", checked ? fails : "-");
	print_u64(PRINT_JSON, "probes", NULL, h->probes);
	print_u64(PRINT_JSON, "failures", NULL, h->failures);
	print_string(PRINT_JSON, "last_error", NULL, err);
	close_json_object();
	if (!checked || h->last_ok)
		err[0] = '\0'; /* the text line shows the error of a failed last check only */
}

static int show_service(uint32_t vip_id, const struct xg_vip_info *info, void *ctx)
{
	struct be_show *bs = ctx;
	struct xg_backend_health h;
	struct xg_backend b;
	char addr[ADDR_STRLEN], mac[ADDR_STRLEN], err[sizeof(h.last_error) + 1];

	for (uint32_t id = 0; id < bs->m->max_backends; id++) {
		int64_t active = 0;

		if (lbmap_backend_get(bs->m, id, &b) || !(b.flags & XG_BE_F_IN_USE) ||
		    b.vip_id != vip_id)
			continue;
		if (!bs->header) {
			print_text("%-16s %-40s %-6s %-11s %-9s %-6s %-13s %-11s %-8s %-17s %s\n",
				   "Service", "Backend", "Weight", "State", "Health", "Since",
				   "Last check", "Fail/checks", "Active", "MAC", "Id");
			bs->header = true;
		}
		memset(&h, 0, sizeof(h));
		lbmap_backend_health_get(bs->m, id, &h);
		lbmap_backend_active(bs->m, id, &active);
		open_json_object(NULL);
		print_string(PRINT_ANY, "service", "%-16s ", info->name);
		print_string(PRINT_ANY, "addr", "%-40s ", addr_fmt(&b.addr, b.family, addr));
		print_u64(PRINT_ANY, "weight", "%-6llu ", b.weight);
		print_string(PRINT_ANY, "state", "%-11s ", cli_backend_state(&b));
		show_health(&h, err, sizeof(err));
		print_int(PRINT_ANY, "active", "%-8lld ", active);
		print_string(PRINT_ANY, "mac", "%-17s ", mac_fmt(b.mac, mac));
		print_u64(PRINT_ANY, "id", "%llu", id);
		print_text("%s%s\n", err[0] ? "  " : "", err);
		open_json_array("flags");
		if (b.flags & XG_BE_F_DRAIN)
			print_string(PRINT_JSON, NULL, NULL, "drain");
		if (b.flags & XG_BE_F_DOWN)
			print_string(PRINT_JSON, NULL, NULL, "down");
		if (b.flags & XG_BE_F_ADMIN_DOWN)
			print_string(PRINT_JSON, NULL, NULL, "admin-down");
		if (b.flags & XG_BE_F_HC_FAIL)
			print_string(PRINT_JSON, NULL, NULL, "health-fail");
		close_json_array();
		close_json_object();
	}
	return 0;
}

static int backend_show(int argc, char **argv)
{
	struct be_show bs = { 0 };
	struct xg_vip_info info;
	uint32_t id;

	if (cli_no_more("backend show", argc > 1 ? argc - 1 : 0, argv + 1))
		return 1;
	bs.m = cli_maps();
	if (!bs.m)
		return 1;
	open_json_array(NULL);
	if (argc) {
		if (cli_vip_by_name(bs.m, argv[0], &id, &info))
			return 1;
		show_service(id, &info, &bs);
	} else {
		cli_foreach_vip(bs.m, show_service, &bs);
	}
	close_json_array();
	return 0;
}

static const struct cli_cmd backend_cmds[] = {
	{ "add", "NAME ADDR [weight W]", "add a backend (real server) to service NAME",
	  backend_add },
	{ "del", "NAME ADDR", "remove a backend; its flows move to the others", backend_del },
	{ "set",
	  "NAME ADDR weight W | drain | undrain | down | up | "
	  "check [tcp|http|none|inherit] [FIELD VALUE]...",
	  "change the weight; drain (no new flows, existing ones stay); down (flows move away); "
	  "the backend's own health check",
	  backend_set },
	{ "show", "[NAME]", "show backends with weight, state and health (works while gwd is down)",
	  backend_show },
	{ NULL },
};

const struct cli_object obj_backend = { "backend", "backends (real servers) of a service",
					backend_cmds };
