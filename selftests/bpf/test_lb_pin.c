// SPDX-License-Identifier: GPL-2.0
/*
 * Restart safety through the library: maps pinned in a private bpffs directory are reused by
 * the next load (services and counters kept), XDP links pinned per interface keep the program
 * attached after the process lets go and are switched to a freshly loaded program in place;
 * detach removes both. Runs in a network namespace of its own (unshare) with a veth pair.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/decap.h"
#include "lib/lbtest.h"
#include "lib/test.h"

static char dir[128];

static void cleanup_dir(void)
{
	lbt_rmtree(dir);
}

/* A fresh network namespace with veth xgp0 <-> xgp1, and a private bpffs directory. */
static bool sandbox(void)
{
	if (!lbt_sandbox("test-pin", dir, sizeof(dir)))
		return false;
	if (ASSERT_EQ(system("ip link add xgp0 type veth peer name xgp1 && ip link set xgp0 up && "
			     "ip link set xgp1 up && ip addr add 198.18.0.2/24 dev xgp1"), 0))
		return true;
	dir[0] = '\0';	/* not set up: a later test tries again */
	return false;
}

/* The program id attached to ifname in generic or native mode, 0 if none. */
static uint32_t xdp_prog(const char *ifname)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query((int)if_nametoindex(ifname), 0, &q))
		return 0;
	return q.prog_id;
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static int count_link(const struct lb_link_info *info, void *ctx)
{
	int *n = ctx;

	if (strcmp(info->ifname, "xgp0") == 0 && info->mode_known && info->mode == LB_XDP_GENERIC)
		(*n)++;
	return 0;
}

TEST(pinned_maps_and_links_survive_reload)
{
	struct lb_opts opts = { .max_vips = 16, .max_backends = 64, .ct_entries = 4096,
				.persist_entries = 256 };
	struct lb_obj *lb1 = NULL, *lb2 = NULL;
	struct lbmap *ro = NULL;
	struct xg_vip_key key = { .port = htons(80), .proto = 6, .family = XG_AF_INET };
	struct xg_vip vip = { .algo = XG_ALGO_MAGLEV };
	struct xg_backend be = { .family = XG_AF_INET, .weight = 1 }, tmp;
	struct xg_flow_stats st;
	char path[256];
	uint32_t id, bid, fid;
	int n = 0;

	if (!sandbox())
		return;
	opts.bpffs_dir = dir;
	lb1 = lb_load(&opts);
	if (!ASSERT_NOT_NULL(lb1))
		goto out;
	key.addr.v4 = inet_addr("198.18.100.1");
	be.addr.v4 = inet_addr("198.19.0.1");
	if (!ASSERT_OK(lbmap_vip_set(lb_maps(lb1), 3, "web", &key, &vip)) ||
	    !ASSERT_OK(lbmap_backend_set(lb_maps(lb1), 7, (be.vip_id = 3, &be))))
		goto out;
	/* a backend comes and goes: its id is not handed out again after the reload */
	tmp = be;
	tmp.addr.v4 = inet_addr("198.19.0.2");
	if (!ASSERT_OK(lbmap_backend_alloc_id(lb_maps(lb1), &fid)) ||
	    !ASSERT_OK(lbmap_backend_set(lb_maps(lb1), fid, &tmp)) ||
	    !ASSERT_OK(lbmap_backend_del(lb_maps(lb1), fid)))
		goto out;
	if (!ASSERT_OK(lb_attach(lb1, "xgp0", LB_XDP_GENERIC)))
		goto out;
	snprintf(path, sizeof(path), "%s/links/xgp0", dir);
	ASSERT_OK(access(path, F_OK) ? -errno : 0);
	snprintf(path, sizeof(path), "%s/lb_conntrack", dir);
	ASSERT_OK(access(path, F_OK) ? -errno : 0);
	ASSERT_EQ(xdp_prog("xgp0"), prog_id(lb_prog_fd(lb1)));
	{
		/* some traffic for the counters */
		struct lbt t = { .lb = lb1, .m = lb_maps(lb1) };
		struct lbt_flow f = { .family = 4, .src = "198.18.1.1", .dst = "198.18.100.1",
				      .proto = 6, .sport = 1, .dport = 80 };
		struct xg_link link = { .ifindex = LBT_IFINDEX, .mtu = 1500 };
		struct pkt in, out;

		ASSERT_OK(lbmap_link_set(t.m, &link));
		lbt_frame(&f, &in);
		ASSERT_EQ(lbt_run(&t, &in, &out), XDP_TX);
	}

	/* The process lets go: the program stays attached through the pinned link. */
	lb_unload(lb1);
	lb1 = NULL;
	ASSERT_NE(xdp_prog("xgp0"), 0);

	/* gwctl's view: read-only, everything decodable, writes refused. */
	ro = lbmap_open(dir, true);
	if (!ASSERT_NOT_NULL(ro))
		goto out;
	ASSERT_OK(lbmap_vip_find(ro, "web", &id));
	ASSERT_EQ(id, 3);
	ASSERT_OK(lbmap_stats_vip(ro, 3, &st));
	ASSERT_EQ(st.packets, 1);
	ASSERT_ERR(lbmap_vip_del(ro, 3), -EPERM);
	ASSERT_ERR(lbmap_backend_set(ro, 8, &be), -EPERM);
	lbmap_close(ro);
	ro = NULL;

	/* Other sizes cannot reuse the pinned maps: refused, nothing changed. */
	opts.ct_entries = 8192;
	ASSERT_TRUE(lb_load(&opts) == NULL);
	opts.ct_entries = 4096;

	/* A new load reuses the maps: the service, backend and counters are there. */
	lb2 = lb_load(&opts);
	if (!ASSERT_NOT_NULL(lb2))
		goto out;
	ASSERT_OK(lbmap_vip_find(lb_maps(lb2), "web", &id));
	ASSERT_OK(lbmap_backend_find(lb_maps(lb2), 3, &be.addr, XG_AF_INET, &bid));
	ASSERT_EQ(bid, 7);
	ASSERT_OK(lbmap_backend_alloc_id(lb_maps(lb2), &bid));
	ASSERT_EQ(bid, fid + 1);
	ASSERT_OK(lbmap_stats_vip(lb_maps(lb2), 3, &st));
	ASSERT_EQ(st.packets, 1);
	/* and attaching again switches the pinned link to the new program */
	ASSERT_OK(lb_attach(lb2, "xgp0", LB_XDP_GENERIC));
	ASSERT_EQ(xdp_prog("xgp0"), prog_id(lb_prog_fd(lb2)));
	ASSERT_ERR(lb_attach(lb2, "xgp0", LB_XDP_NATIVE), -EEXIST);
	ASSERT_ERR(lb_attach(lb2, "nosuchif0", LB_XDP_GENERIC), -ENODEV);
	ASSERT_OK(lb_links_foreach(dir, XG_PIN_LINKS_DIR, count_link, &n));
	ASSERT_EQ(n, 1);

	/* Detach: the program is off the link and the pin is gone. */
	ASSERT_OK(lb_detach(lb2, dir, "xgp0"));
	ASSERT_EQ(xdp_prog("xgp0"), 0);
	snprintf(path, sizeof(path), "%s/links/xgp0", dir);
	ASSERT_ERR(access(path, F_OK), -1);
	ASSERT_ERR(lb_detach(lb2, dir, "xgp0"), -ENOENT);
	/* native mode on a veth works too */
	ASSERT_OK(lb_attach(lb2, "xgp0", LB_XDP_NATIVE));
	ASSERT_OK(lb_detach(NULL, dir, "xgp0"));
	ASSERT_EQ(xdp_prog("xgp0"), 0);
out:
	lbmap_close(ro);
	lb_unload(lb1);
	lb_unload(lb2);
	cleanup_dir();
}

static int count_addr(const struct xg_addr *a, uint8_t family, void *ctx)
{
	int *n = ctx;

	*n += family == XG_AF_INET && a->v4 == inet_addr("198.18.0.2");
	return 0;
}

TEST(decap_attach_without_gwd)
{
	struct decap_obj *d = NULL, *p = NULL;
	struct xg_counter c[XG_DECAP_R_MAX];
	int n = 0;

	if (!dir[0] && !sandbox())
		return;
	d = decap_load(dir);
	if (!ASSERT_NOT_NULL(d))
		goto out;
	if (!ASSERT_OK(decap_attach(d, "xgp1", LB_XDP_NATIVE, true)))
		goto out;
	ASSERT_EQ(xdp_prog("xgp1"), prog_id(decap_prog_fd(d)));
	decap_unload(d);
	d = NULL;
	ASSERT_NE(xdp_prog("xgp1"), 0);
	/* show: the pinned maps, with the interface's address added by attach */
	p = decap_open_pinned(dir);
	if (!ASSERT_NOT_NULL(p))
		goto out;
	ASSERT_OK(decap_addr_foreach(p, count_addr, &n));
	ASSERT_EQ(n, 1);
	ASSERT_OK(decap_stats(p, c));
	ASSERT_OK(decap_detach(dir, "xgp1"));
	ASSERT_EQ(xdp_prog("xgp1"), 0);
	ASSERT_ERR(decap_detach(dir, "xgp1"), -ENOENT);
out:
	decap_unload(d);
	decap_unload(p);
	cleanup_dir();
}
