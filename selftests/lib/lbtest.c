// SPDX-License-Identifier: GPL-2.0
/* Datapath test fixture: the real program, loaded by the library, driven by BPF_PROG_TEST_RUN. */
#include "lib/lbtest.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <ftw.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lib/addr.h"
#include "lib/test.h"

const uint16_t lbt_tpids[2] = { 0x88a8, 0x8100 };
const uint16_t lbt_tcis[2] = { 100, 200 };

bool lbt_setup(struct lbt *t, const struct lb_opts *opts)
{
	struct lb_opts small = { .max_vips = 64, .max_backends = 256, .ct_entries = 1 << 16,
				 .persist_entries = 1024 };
	struct xg_link link = { .ifindex = LBT_IFINDEX, .mtu = LBT_MTU };
	uint8_t fam;

	memset(t, 0, sizeof(*t));
	if (geteuid() != 0) {
		test_skip("needs root for BPF");
		return false;
	}
	t->lb = lb_load(opts ? opts : &small);
	if (!ASSERT_NOT_NULL(t->lb))
		return false;
	t->m = lb_maps(t->lb);
	pkt_mac(LBT_OUR_MAC, link.mac);
	addr_parse(LBT_SRC4, &link.src4, &fam);
	addr_parse(LBT_SRC6, &link.src6, &fam);
	if (!ASSERT_OK(lbmap_link_set(t->m, &link)))
		return false;
	lbt_mark(t);
	return true;
}

void lbt_teardown(struct lbt *t)
{
	lb_unload(t->lb);
	t->lb = NULL;
}

int lbt_vip(struct lbt *t, const char *name, const char *addr, uint16_t port, uint8_t proto,
	    uint8_t algo, uint8_t fwd, uint32_t persist_sec, uint32_t *id)
{
	struct xg_vip_key key = { .port = htons(port), .proto = proto };
	struct xg_vip vip = { .algo = algo, .fwd = fwd, .persist_sec = persist_sec };
	int err;

	if (addr_parse(addr, &key.addr, &key.family))
		return -EINVAL;
	err = lbmap_vip_alloc_id(t->m, id);
	return err ?: lbmap_vip_set(t->m, *id, name, &key, &vip);
}

void lbt_backend_mac(uint32_t id, char *buf)
{
	snprintf(buf, 18, "02:be:00:00:%02x:%02x", (id >> 8) & 0xff, id & 0xff);
}

int lbt_backend(struct lbt *t, uint32_t vip, const char *addr, uint16_t weight, const char *mac,
		uint32_t *id)
{
	struct xg_backend be = { .weight = weight, .vip_id = vip };
	char buf[18];
	int err;

	if (addr_parse(addr, &be.addr, &be.family))
		return -EINVAL;
	err = lbmap_backend_alloc_id(t->m, id);
	if (err)
		return err;
	if (!mac) {
		lbt_backend_mac(*id, buf);
		mac = buf;
	}
	pkt_mac(mac, be.mac);
	return lbmap_backend_set(t->m, *id, &be);
}

int lbt_backend_state(struct lbt *t, uint32_t id, uint8_t flags, uint16_t weight)
{
	struct xg_backend be;
	int err = lbmap_backend_get(t->m, id, &be);

	if (err)
		return err;
	be.flags = (be.flags & XG_BE_F_IN_USE) | flags;
	be.weight = weight;
	return lbmap_backend_set(t->m, id, &be);
}

int lbt_prog_run(int prog_fd, uint32_t ifindex, const struct pkt *in, struct pkt *out)
{
	struct xdp_md ctx = { .data_end = (__u32)in->len, .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->b, .data_size_in = (__u32)in->len,
		    .data_out = out->b, .data_size_out = sizeof(out->b), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	out->len = o.data_size_out;
	return (int)o.retval;
}

int lbt_run(struct lbt *t, const struct pkt *in, struct pkt *out)
{
	return lbt_prog_run(lb_prog_fd(t->lb), LBT_IFINDEX, in, out);
}

bool lbt_sandbox(const char *name, char *dir, size_t len)
{
	struct statfs fs;

	if (!test_own_netns())
		return false;
	if (statfs("/sys/fs/bpf", &fs) || fs.f_type != BPF_FS_MAGIC)
		if (!ASSERT_OK(mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL) ? -errno : 0))
			return false;
	snprintf(dir, len, "/sys/fs/bpf/xg-%d-%s", getpid(), name);
	return true;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void lbt_rmtree(const char *dir)
{
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void lbt_mark(struct lbt *t)
{
	lbmap_stats_reasons(t->m, t->mark);
}

uint64_t lbt_delta(struct lbt *t, enum xg_reason r)
{
	struct xg_counter now[XG_R_MAX];

	if (lbmap_stats_reasons(t->m, now))
		return UINT64_MAX;
	return now[r].packets - t->mark[r].packets;
}

enum xg_reason lbt_fate(struct lbt *t)
{
	struct xg_counter now[XG_R_MAX];

	if (lbmap_stats_reasons(t->m, now))
		return XG_R_MAX;
	for (int r = 0; r < XG_R_MAX; r++)
		if (lbmap_reason_kinds[r] != XG_RK_INFO && now[r].packets != t->mark[r].packets)
			return (enum xg_reason)r;
	return XG_R_MAX;
}

static struct pkt_ip flow_ip(const struct lbt_flow *f)
{
	return (struct pkt_ip){ .family = f->family, .src = f->src, .dst = f->dst,
				.proto = f->proto, .df = f->df, .tos = f->tos };
}

void lbt_datagram(const struct lbt_flow *f, struct pkt *p)
{
	struct pkt_ip ip = flow_ip(f);

	pkt_payload(p, f->payload, (uint8_t)f->sport);
	if (f->proto == 6)
		pkt_push_tcp(p, &ip, f->sport, f->dport, f->tcp_flags ? f->tcp_flags : 0x02);
	else
		pkt_push_udp(p, &ip, f->sport, f->dport);
	pkt_push_ip(p, &ip);
}

void lbt_frame(const struct lbt_flow *f, struct pkt *p)
{
	lbt_datagram(f, p);
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, f->ntags, lbt_tpids, lbt_tcis,
		     f->family == 6 ? 0x86dd : 0x0800);
}

void lbt_dump(struct lbt *t)
{
	struct xg_counter now[XG_R_MAX];

	if (lbmap_stats_reasons(t->m, now))
		return;
	for (int r = 0; r < XG_R_MAX; r++)
		if (now[r].packets != t->mark[r].packets)
			fprintf(stderr, "  %s: %llu\n", lbmap_reason_names[r],
				(unsigned long long)(now[r].packets - t->mark[r].packets));
}
