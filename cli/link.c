// SPDX-License-Identifier: GPL-2.0
/* gwctl link: interfaces the L4 balancer is attached to: attach, detach, show. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gwctl.h"
#include "lib/addr.h"
#include "lib/lb.h"
#include "maps.h"

static int link_attach(int argc, char **argv)
{
	json_t *body;
	int ret = 0;

	if (argc < 1)
		return cli_error("link attach: missing IFNAME");
	body = json_pack("{s:s}", "name", argv[0]);
	if (argc > 1) {
		if (!cli_is_prefix(argv[1], "mode"))
			ret = cli_error("link attach: unknown argument '%s' (expected mode)",
					argv[1]);
		else if (argc < 3)
			ret = cli_error("link attach: mode needs a value (native or generic)");
		else
			json_object_set_new(body, "mode", json_string(argv[2]));
		if (!ret)
			ret = cli_no_more("link attach", argc - 3, argv + 3);
	}
	if (!ret)
		ret = gwd_call("POST", "l4/links", body, NULL);
	json_decref(body);
	return ret ? ret : cli_changed();
}

static int link_detach(int argc, char **argv)
{
	return cli_delete("link detach", "IFNAME", "l4/links", argc, argv);
}

struct link_show {
	struct lbmap *m;
	bool header;
};

static int show_link(const struct lb_link_info *li, void *ctx)
{
	struct link_show *ls = ctx;
	char mac[ADDR_STRLEN], a4[ADDR_STRLEN], a6[ADDR_STRLEN];
	struct xg_link l;
	bool have = li->ifindex && ls->m && lbmap_link_get(ls->m, li->ifindex, &l) == 0;

	if (!ls->header) {
		print_text("%-16s %-7s %-8s %-17s %-5s %-15s %-26s %s\n", "Link", "Ifindex",
			   "Mode", "MAC", "MTU", "Src4", "Src6", "Prog");
		ls->header = true;
	}
	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "%-16s ", li->ifname);
	print_u64(PRINT_ANY, "ifindex", "%-7llu ", li->ifindex);
	print_string(PRINT_ANY, "mode", "%-8s ",
		     li->mode_known ? lb_xdp_mode_name(li->mode) : "?");
	if (have) {
		print_string(PRINT_ANY, "mac", "%-17s ", mac_fmt(l.mac, mac));
		print_u64(PRINT_ANY, "mtu", "%-5llu ", l.mtu);
		print_string(PRINT_ANY, "src4", "%-15s ",
			     l.src4.v4 ? addr_fmt(&l.src4, XG_AF_INET, a4) : NULL);
		print_string(PRINT_ANY, "src6", "%-26s ",
			     memcmp(&l.src6, &(struct xg_addr){ 0 }, 16)
				     ? addr_fmt(&l.src6, XG_AF_INET6, a6)
				     : NULL);
	} else {
		print_text("%-17s %-5s %-15s %-26s ", "-", "-", "-", "-");
	}
	print_u64(PRINT_ANY, "prog_id", "%llu\n", li->prog_id);
	print_u64(PRINT_JSON, "link_id", NULL, li->link_id);
	print_bool(PRINT_JSON, "configured", NULL, have);
	close_json_object();
	return 0;
}

static int link_show(int argc, char **argv)
{
	struct link_show ls = { 0 };
	int ret;

	if (cli_no_more("link show", argc, argv))
		return 1;
	ls.m = cli_maps();
	if (!ls.m)
		return 1;
	open_json_array(NULL);
	ret = lb_links_foreach(cli.bpffs, XG_PIN_LINKS_DIR, show_link, &ls);
	close_json_array();
	if (ret && ret != -ENOENT)
		return cli_error("link show: cannot read %s/%s: %s", cli.bpffs, XG_PIN_LINKS_DIR,
				 strerror(-ret));
	return 0;
}

static const struct cli_cmd link_cmds[] = {
	{ "attach", "IFNAME [mode native|generic]",
	  "attach the balancer to an interface (XDP; native by default)", link_attach },
	{ "detach", "IFNAME", "detach the balancer from an interface", link_detach },
	{ "show", "", "show the links the balancer is attached to (works while gwd is down)",
	  link_show },
	{ NULL },
};

const struct cli_object obj_link = { "link", "interfaces the L4 balancer is attached to",
				     link_cmds };
