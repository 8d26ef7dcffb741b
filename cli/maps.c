// SPDX-License-Identifier: GPL-2.0
/* Opening the pinned maps read-only with errors an operator can act on, and decoders. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gwctl.h"
#include "lib/addr.h"
#include "lib/bpffs.h"
#include "lib/lb.h"
#include "maps.h"

static struct lbmap *maps;

struct lbmap *cli_maps(void)
{
	if (maps)
		return maps;
	maps = lbmap_open(cli.bpffs, true);
	if (maps)
		return maps;
	if (errno == ENOENT && access(cli.bpffs, F_OK))
		cli_error("no balancer maps: %s does not exist (gwd's --bpffs directory; default "
			  GWCTL_DEFAULT_BPFFS ")",
			  cli.bpffs);
	else if (errno == ENOENT && !bpffs_is_bpf(cli.bpffs))
		cli_error("no balancer maps: %s is not on a bpf filesystem", cli.bpffs);
	else if (errno == ENOENT)
		cli_error("no balancer maps in %s: gwd has not loaded the balancer yet (no l4 link "
			  "or service), or runs with another --bpffs",
			  cli.bpffs);
	else if (errno == EACCES || errno == EPERM)
		cli_error("permission denied opening the pinned maps in %s: gwctl needs root",
			  cli.bpffs);
	else
		cli_error("cannot open the pinned maps in %s: %s", cli.bpffs, strerror(errno));
	return NULL;
}

void cli_maps_close(void)
{
	if (maps)
		lbmap_close(maps);
	maps = NULL;
}

int cli_foreach_vip(struct lbmap *m, int (*cb)(uint32_t id, const struct xg_vip_info *info,
					     void *ctx),
		    void *ctx)
{
	struct xg_vip_info info;
	int ret;

	for (uint32_t id = 0; id < m->max_vips; id++) {
		if (lbmap_vip_get(m, id, &info) || !info.in_use)
			continue;
		info.name[XG_NAME_LEN - 1] = '\0';
		ret = cb(id, &info, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

int cli_vip_by_name(struct lbmap *m, const char *name, uint32_t *id, struct xg_vip_info *info)
{
	if (lbmap_vip_find(m, name, id) || lbmap_vip_get(m, *id, info))
		return cli_error("vip '%s' not found in the datapath (maps in %s)", name,
				 cli.bpffs);
	info->name[XG_NAME_LEN - 1] = '\0';
	return 0;
}

const char *cli_fmt_vip(const struct xg_vip_key *key, char *buf, size_t len)
{
	struct endpoint ep = { .addr = key->addr, .family = key->family, .proto = key->proto,
			       .port = ntohs(key->port) };
	char tmp[ADDR_STRLEN];

	endpoint_fmt(&ep, tmp);
	snprintf(buf, len, "%s%s", tmp, ep.port ? "" : " (all ports)");
	return buf;
}

const char *cli_backend_state(const struct xg_backend *b)
{
	if (!(b->flags & XG_BE_F_IN_USE))
		return "unused";
	if (b->flags & XG_BE_F_ADMIN_DOWN)
		return "down";
	if (b->flags & XG_BE_F_HC_FAIL)
		return "unhealthy";
	if (b->flags & XG_BE_F_DOWN)
		return "unresolved";
	if ((b->flags & XG_BE_F_DRAIN) || b->weight == 0)
		return "draining";
	return "up";
}

int cli_show_link(const struct lb_link_info *li, void *count)
{
	if (count)
		(*(unsigned *)count)++;
	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "  %-16s", li->ifname);
	print_u64(PRINT_ANY, "ifindex", " ifindex %-4llu", li->ifindex);
	print_string(PRINT_ANY, "mode", " mode %-8s", li->mode_known ? lb_xdp_mode_name(li->mode)
								       : "?");
	print_u64(PRINT_ANY, "prog_id", " prog %llu\n", li->prog_id);
	close_json_object();
	return 0;
}
