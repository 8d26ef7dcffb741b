// SPDX-License-Identifier: GPL-2.0
/* gwctl decap: the backend-side program that strips IPIP/IP6IP6 addressed to the host; no gwd. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "gwctl.h"
#include "lib/addr.h"
#include "lib/bpffs.h"
#include "lib/decap.h"
#include "maps.h"

static int decap_attach_cmd(int argc, char **argv)
{
	enum lb_xdp_mode mode = LB_XDP_NATIVE;
	struct decap_obj *d;
	char err[256];
	int ret;

	if (argc < 1)
		return cli_error("decap attach: missing IFNAME");
	if (argc > 1) {
		int m;

		if (!cli_is_prefix(argv[1], "mode"))
			return cli_error("decap attach: unknown argument '%s' (expected mode)",
					 argv[1]);
		if (argc < 3)
			return cli_error("decap attach: mode needs a value (native or generic)");
		m = lb_xdp_mode_parse(argv[2]);
		if (m < 0)
			return cli_error("decap attach: unknown mode '%s' (expected native or "
					 "generic)",
					 argv[2]);
		mode = (enum lb_xdp_mode)m;
		if (cli_no_more("decap attach", argc - 3, argv + 3))
			return 1;
	}
	if (!if_nametoindex(argv[0]))
		return cli_error("decap attach: no such interface '%s'", argv[0]);
	if (bpffs_prepare(cli.bpffs, err, sizeof(err)))
		return cli_error("decap attach: %s", err);
	d = decap_load(cli.bpffs);
	if (!d)
		return cli_error("decap attach: cannot load the decap program: %s%s",
				 strerror(errno), errno == EPERM ? " (gwctl needs root)" : "");
	ret = decap_attach(d, argv[0], mode, true);
	decap_unload(d);
	if (ret == -EEXIST)
		return cli_error("decap attach: %s already runs the decap program in the other "
				 "mode: detach it first",
				 argv[0]);
	if (ret == -ENODEV)
		return cli_error("decap attach: no such interface '%s'", argv[0]);
	if (ret)
		return cli_error("decap attach: %s: %s%s", argv[0], strerror(-ret),
				 mode == LB_XDP_NATIVE ? " (try mode generic)" : "");
	return cli_changed();
}

static int decap_detach_cmd(int argc, char **argv)
{
	int ret;

	if (argc < 1)
		return cli_error("decap detach: missing IFNAME");
	if (cli_no_more("decap detach", argc - 1, argv + 1))
		return 1;
	ret = decap_detach(cli.bpffs, argv[0]);
	if (ret == -ENOENT)
		return cli_error("decap detach: the decap program is not attached to '%s'",
				 argv[0]);
	if (ret)
		return cli_error("decap detach: %s: %s", argv[0], strerror(-ret));
	return cli_changed();
}

static int show_addr(const struct xg_addr *addr, uint8_t family, void *ctx)
{
	char buf[ADDR_STRLEN];

	print_string(PRINT_ANY, NULL, "  %s\n", addr_fmt(addr, family, buf));
	return 0;
}

static int decap_show_cmd(int argc, char **argv)
{
	static const char *const kinds[] = { "tx", "pass", "drop", "info" };
	struct xg_counter st[XG_DECAP_R_MAX];
	struct decap_obj *d;
	char dir[512];

	if (cli_no_more("decap show", argc, argv))
		return 1;
	d = decap_open_pinned(cli.bpffs);
	if (!d) {
		if (errno == ENOENT)
			return cli_error("decap show: the decap program was never attached with "
					 "--bpffs %s",
					 cli.bpffs);
		return cli_error("decap show: cannot open the pinned maps in %s/%s: %s", cli.bpffs,
				 XG_PIN_DECAP_DIR, strerror(errno));
	}
	open_json_object(NULL);
	print_text("links\n");
	open_json_array("links");
	snprintf(dir, sizeof(dir), "%s/%s", XG_PIN_DECAP_DIR, XG_PIN_LINKS_DIR);
	lb_links_foreach(cli.bpffs, dir, cli_show_link, NULL);
	close_json_array();
	print_text("addresses (outer destinations stripped)\n");
	open_json_array("addrs");
	decap_addr_foreach(d, show_addr, NULL);
	close_json_array();
	open_json_array("reasons");
	if (decap_stats(d, st) == 0) {
		print_text("packets by reason\n");
		for (int i = 0; i < XG_DECAP_R_MAX; i++) {
			open_json_object(NULL);
			print_string(PRINT_ANY, "kind", "  %-5s", kinds[decap_reason_kinds[i] & 3]);
			print_string(PRINT_ANY, "name", " %-20s", decap_reason_names[i]);
			print_u64(PRINT_ANY, "packets", " %12llu pkts", st[i].packets);
			print_u64(PRINT_ANY, "bytes", " %14llu bytes\n", st[i].bytes);
			close_json_object();
		}
	}
	close_json_array();
	close_json_object();
	decap_unload(d);
	return 0;
}

static const struct cli_cmd decap_cmds[] = {
	{ "attach", "IFNAME [mode native|generic]",
	  "on a backend host: strip IPIP/IP6IP6 (and 4in6/6in4) addressed to IFNAME's addresses; "
	  "needs no gwd",
	  decap_attach_cmd },
	{ "detach", "IFNAME", "remove the decap program from IFNAME", decap_detach_cmd },
	{ "show", "", "links, accepted outer addresses and counters of the decap program",
	  decap_show_cmd },
	{ NULL },
};

const struct cli_object obj_decap = { "decap", "backend-side decapsulation (no gwd needed)",
				      decap_cmds };
