// SPDX-License-Identifier: GPL-2.0
/* gwctl link: interfaces the L4 balancer is attached to: attach, detach, show. */
#include <stdio.h>
#include <string.h>

#include "gwctl.h"

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
	char path[256];

	if (argc < 1)
		return cli_error("link detach: missing IFNAME");
	if (cli_no_more("link detach", argc - 1, argv + 1))
		return 1;
	snprintf(path, sizeof(path), "l4/links/%s", cli_escape(argv[0]));
	return gwd_call("DELETE", path, NULL, NULL) ?: cli_changed();
}

static const struct cli_cmd link_cmds[] = {
	{ "attach", "IFNAME [mode native|generic]",
	  "attach the balancer to an interface (XDP; native by default)", link_attach },
	{ "detach", "IFNAME", "detach the balancer from an interface", link_detach },
	{ NULL },
};

const struct cli_object obj_link = { "link", "interfaces the L4 balancer is attached to",
				     link_cmds };
