// SPDX-License-Identifier: GPL-2.0
/* gwctl status: gwd, links and modes, map sizes and memory, counts; reads work with gwd down. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gwctl.h"
#include "lib/decap.h"
#include "lib/lb.h"
#include "maps.h"

struct counts {
	struct lbmap *m;
	unsigned services, backends, up;
	uint64_t flows;
};

static int count_vip(uint32_t id, const struct xg_vip_info *info, void *ctx)
{
	((struct counts *)ctx)->services++;
	return 0;
}

static int count_flow(const struct xg_flow_key *k, const struct xg_ct_value *v, void *ctx)
{
	((struct counts *)ctx)->flows++;
	return 0;
}

/* Prints gwd's state; returns whether it answered. */
static bool show_gwd(void)
{
	char why[512];
	json_t *st = NULL;
	bool up;

	open_json_object("gwd");
	up = gwd_try("GET", "status", NULL, &st, why, sizeof(why)) == 0;
	if (up) {
		print_bool(PRINT_JSON, "running", NULL, true);
		print_u64(PRINT_ANY, "pid", "gwd        running (pid %llu",
			  json_integer_value(json_object_get(st, "pid")));
		print_u64(PRINT_ANY, "uptime_sec", ", up %llus",
			  json_integer_value(json_object_get(st, "uptime_sec")));
		print_u64(PRINT_ANY, "generation", ", generation %llu)\n",
			  json_integer_value(json_object_get(st, "generation")));
		print_string(PRINT_ANY, "socket", "           socket %s\n", cli.socket);
		print_string(PRINT_ANY, "state_file", "           state  %s\n",
			     json_string_value(json_object_get(st, "state_file")));
		print_json("modules", json_incref(json_object_get(st, "modules")));
	} else {
		print_bool(PRINT_JSON, "running", NULL, false);
		print_string(PRINT_ANY, "error", "gwd        %s\n", why);
	}
	close_json_object();
	json_decref(st);
	return up;
}

static void show_balancer(struct lbmap *m)
{
	struct counts c = { .m = m };
	struct xg_backend b;
	unsigned nlinks = 0;

	cli_foreach_vip(m, count_vip, &c);
	for (uint32_t id = 0; id < m->max_backends; id++) {
		if (lbmap_backend_get(m, id, &b) || !(b.flags & XG_BE_F_IN_USE))
			continue;
		c.backends++;
		c.up += strcmp(cli_backend_state(&b), "up") == 0;
	}
	struct lbmap_evictions ev;
	bool have_ev = lbmap_evictions(m, &ev) == 0;

	if (have_ev)
		c.flows = ev.ct_entries;
	else
		lbmap_ct_foreach(m, count_flow, &c);
	print_bool(PRINT_JSON, "loaded", NULL, true);
	print_text("links\n");
	open_json_array("links");
	lb_links_foreach(cli.bpffs, XG_PIN_LINKS_DIR, cli_show_link, &nlinks);
	close_json_array();
	if (!nlinks)
		print_text("  none: the balancer sees no traffic (gwctl link attach IFNAME)\n");
	open_json_object("counts");
	print_u64(PRINT_ANY, "services", "services   %llu", c.services);
	print_u64(PRINT_ANY, "max_services", " of %llu\n", m->max_vips);
	print_u64(PRINT_ANY, "backends", "backends   %llu", c.backends);
	print_u64(PRINT_ANY, "max_backends", " of %llu", m->max_backends);
	print_u64(PRINT_ANY, "backends_up", " (%llu up)\n", c.up);
	print_u64(PRINT_ANY, "flows", "conntrack  %llu flows", c.flows);
	print_u64(PRINT_ANY, "conntrack_size", " (table of %llu)",
		  m->max_entries[LBMAP_CONNTRACK]);
	/* LRU evictions are not reported by the kernel: inserts - flushed - entries */
	if (have_ev)
		print_u64(PRINT_ANY, "conntrack_evicted", ", ~%llu evicted", ev.ct_evicted);
	print_text("\n");
	close_json_object();
	open_json_object("maps");
	if (have_ev)
		print_u64(PRINT_ANY, "persist_entries", "persist    %llu clients", ev.persist_entries);
	print_u64(PRINT_ANY, "persist_size", have_ev ? " (table of %llu)" : "persist    table of %llu",
		  m->max_entries[LBMAP_PERSIST]);
	if (have_ev)
		print_u64(PRINT_ANY, "persist_evicted", ", ~%llu evicted", ev.persist_evicted);
	print_text("\n");
	print_u64(PRINT_ANY, "cpus", "cpus       %llu\n", m->ncpus);
	print_u64(PRINT_ANY, "memory_bytes", "memory     ~%llu bytes in maps (estimate)\n",
		  lbmap_memory_estimate(m->max_vips, m->max_backends,
					m->max_entries[LBMAP_CONNTRACK],
					m->max_entries[LBMAP_PERSIST], m->ncpus));
	close_json_object();
}

static int count_addr(const struct xg_addr *a, uint8_t family, void *ctx)
{
	(*(unsigned *)ctx)++;
	return 0;
}

/* The decap program of a backend host, when it was attached with this --bpffs. */
static bool show_decap(void)
{
	struct decap_obj *d = decap_open_pinned(cli.bpffs);
	char dir[512];
	unsigned n = 0, nlinks = 0;

	if (!d)
		return false;
	open_json_object("decap");
	print_text("decap links\n");
	open_json_array("links");
	snprintf(dir, sizeof(dir), "%s/%s", XG_PIN_DECAP_DIR, XG_PIN_LINKS_DIR);
	lb_links_foreach(cli.bpffs, dir, cli_show_link, &nlinks);
	if (!nlinks)
		print_text("  none (gwctl decap attach IFNAME)\n");
	close_json_array();
	decap_addr_foreach(d, count_addr, &n);
	print_u64(PRINT_ANY, "addrs", "decap      %llu outer addresses accepted\n", n);
	close_json_object();
	decap_unload(d);
	return true;
}

static int status_run(int argc, char **argv)
{
	struct lbmap *m;
	bool gwd_up, decap;

	if (cli_no_more("status", argc, argv))
		return 1;
	open_json_object(NULL);
	gwd_up = show_gwd();
	print_string(PRINT_ANY, "bpffs", "bpffs      %s\n", cli.bpffs);
	m = lbmap_open(cli.bpffs, true);
	if (!m && (errno == EACCES || errno == EPERM))
		return cli_error("permission denied opening the pinned maps in %s: gwctl needs "
				 "root",
				 cli.bpffs);
	open_json_object("balancer");
	if (m) {
		show_balancer(m);
		lbmap_close(m);
	} else {
		print_bool(PRINT_JSON, "loaded", NULL, false);
		print_text("balancer   not loaded: no maps in %s%s\n", cli.bpffs,
			   gwd_up ? " (gwd loads it with the first l4 link or service)" : "");
	}
	close_json_object();
	decap = show_decap();
	close_json_object();
	if (!gwd_up && !m && !decap)
		return cli_error("nothing to show: gwd does not answer on %s and nothing is pinned "
				 "in %s (wrong --socket or --bpffs?)",
				 cli.socket, cli.bpffs);
	return 0;
}

static const struct cli_cmd status_cmds[] = {
	{ "", "", "gwd (running or not), links and XDP modes, counts, map sizes and memory, and the "
	  "decap program when attached with this --bpffs",
	  status_run },
	{ NULL },
};

const struct cli_object obj_status = { "status", "overview of this balancer instance",
				       status_cmds };
