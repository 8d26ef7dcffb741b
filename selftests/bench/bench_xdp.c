// SPDX-License-Identifier: GPL-2.0
/*
 * bench-xdp: ns per packet of the XDP balancer through BPF_PROG_TEST_RUN, against the trivial
 * XDP_TX program (selftests/bpf/progs/reflect.bpf.c) measured in the same run.
 *
 * Batched cases (the kernel times `repeat` runs of one buffer): the floor, non-VIP traffic and
 * an established flow in l2 mode, whose output has the input's size and cost.
 * Single-call cases: a packet that grows (ipip) would feed its own output to the next round,
 * and a new flow needs a fresh 5-tuple per packet, so these run as repeat=1 calls, one packet
 * each. A single call costs more than the same work batched (a clock read around it, caches
 * cooled by the syscall); that overhead is calibrated on the balancer itself: the l2
 * established case measured both ways, in the same run.
 * Wrapped cases (selftests/bpf/progs/bench_lb.bpf.c, the balancer compiled into a wrapper that
 * gives each round the next of FLOWS 5-tuples and undoes the encapsulation): established UDP
 * flows, ipip, batched: one flow (everything in cache) and FLOWS flows (default 65536, as in
 * bench-l4: each round touches another connection-table entry). They are reported as
 * wrapped - wrapper alone + floor, comparable with the other cases.
 * Every case is measured REPEATS times (default 5), cases interleaved, and the median printed:
 *   bench-xdp CASE ns_per_pkt=N ratio_to_floor=R [flows=N]
 * The raw single-call and wrapped numbers and the calibration go to stderr. WRAPPED_ONLY=1
 * runs the floor and the wrapped cases only (a quick look at the connection table's cost);
 * CT_ENTRIES sets the connection table's size (default XG_CT_ENTRIES).
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/addr.h"
#include "lib/lb.h"
#include "lib/lbmap.h"
#include "lib/pkt.h"
#include "bench_lb.skel.h"
#include "reflect.skel.h"

#define IFINDEX 1		/* lo: present in every namespace, accepted by test runs */
#define VIP "198.18.100.1"
#define NBACKENDS 10

static unsigned int repeats = 5, batch_repeat = 2000000, single_calls = 200000;
static unsigned int many_flows = 65536;

struct frame {
	uint8_t b[256];
	uint32_t len;
};

static int run(int prog, struct frame *f, uint32_t repeat, uint32_t *ns, uint32_t *retval)
{
	struct xdp_md ctx = { .data_end = f->len, .ingress_ifindex = IFINDEX };
	uint8_t out[512];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = f->len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(prog, &o))
		return -errno;
	*ns = o.duration;
	*retval = o.retval;
	return 0;
}

/* A TCP frame from client index i (distinct 5-tuple per i) to dst. */
static void tcp_frame(uint32_t i, const char *dst, uint8_t flags, struct frame *f)
{
	char src[INET_ADDRSTRLEN];
	struct pkt p;
	struct in_addr a = { .s_addr = htonl(0xc6120000u | ((i >> 8) & 0x1ffff)) }; /* 198.18/15 */
	struct pkt_ip ip = { .family = 4, .dst = dst, .proto = 6, .df = true };

	inet_ntop(AF_INET, &a, src, sizeof(src));
	ip.src = src;
	pkt_payload(&p, 0, 0);
	pkt_push_tcp(&p, &ip, (uint16_t)(1024 + (i & 0xff) * 251 % 64000), 80, flags);
	pkt_push_ip(&p, &ip);
	pkt_push_eth(&p, "02:00:00:00:00:01", "02:00:00:00:00:02", 0, NULL, NULL, 0x0800);
	memcpy(f->b, p.b, p.len);
	f->len = (uint32_t)(p.len < 60 ? 60 : p.len);	/* minimum Ethernet frame */
}

/* A UDP frame from client index 0 to dst (the wrapper gives it the 5-tuple of each round). */
static void udp_frame(const char *dst, struct frame *f)
{
	struct pkt p;
	struct pkt_ip ip = { .family = 4, .src = "198.18.0.0", .dst = dst, .proto = 17, .df = true };

	pkt_payload(&p, 18, 0);
	pkt_push_udp(&p, &ip, 1024, 80);
	pkt_push_ip(&p, &ip);
	pkt_push_eth(&p, "02:00:00:00:00:01", "02:00:00:00:00:02", 0, NULL, NULL, 0x0800);
	memcpy(f->b, p.b, p.len);
	f->len = (uint32_t)p.len;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One measurement with a large repeat count: ns per packet as the kernel reports it. */
static double batch(int prog, struct frame *f, uint32_t want)
{
	uint32_t ns, ret;

	if (run(prog, f, batch_repeat, &ns, &ret) || ret != want) {
		fprintf(stderr, "bench-xdp: batch run failed (retval %u, want %u)\n", ret, want);
		exit(1);
	}
	return ns;
}

/*
 * single_calls runs of one packet each; frame_for(i) gives packet i. Returns the mean of the
 * per-call durations (each includes one clock read).
 */
static double singles(int prog, void (*frame_for)(uint32_t i, struct frame *f), uint32_t base,
		      uint32_t want)
{
	uint64_t total = 0;
	struct frame f;

	for (uint32_t i = 0; i < single_calls; i++) {
		uint32_t ns, ret;

		frame_for(base + i, &f);
		if (run(prog, &f, 1, &ns, &ret) || ret != want) {
			fprintf(stderr, "bench-xdp: single run %u failed (retval %u)\n", i, ret);
			exit(1);
		}
		total += ns;
	}
	return (double)total / single_calls;
}

static void syn_of(uint32_t i, struct frame *f)
{
	tcp_frame(i, VIP, 0x02, f);
}

static void ack_established(uint32_t i, struct frame *f)
{
	(void)i;
	tcp_frame(0, VIP, 0x10, f);
}

/* Service id (tcp or udp VIP:80), maglev over NBACKENDS backends, ipip. */
static void add_service(struct lbmap *m, uint32_t vip_id, uint8_t proto)
{
	struct xg_vip_key key = { .port = htons(80), .proto = proto, .family = XG_AF_INET };
	struct xg_vip vip = { .algo = XG_ALGO_MAGLEV, .fwd = XG_FWD_IPIP };
	uint32_t id;

	inet_pton(AF_INET, VIP, &key.addr.v4);
	if (lbmap_vip_set(m, vip_id, proto == 6 ? "bench" : "bench-udp", &key, &vip))
		exit(1);
	for (uint32_t b = 0; b < NBACKENDS; b++) {
		struct xg_backend be = { .family = XG_AF_INET, .weight = 1, .vip_id = vip_id,
					 .mac = { 2, 0xbe, 0, 0, (uint8_t)vip_id, (uint8_t)b } };

		be.addr.v4 = htonl(0xc6130000u + 256 * vip_id + b + 1);
		if (lbmap_backend_alloc_id(m, &id) || lbmap_backend_set(m, id, &be))
			exit(1);
	}
}

static struct lb_obj *setup(void)
{
	struct lb_opts opts = {};	/* default sizes: the connection table as deployed */
	struct xg_link link = { .ifindex = IFINDEX, .mtu = 1500 };
	struct lb_obj *lb;
	struct lbmap *m;
	uint8_t fam;
	char *env;

	if ((env = getenv("CT_ENTRIES")))	/* experiments with the table size */
		opts.ct_entries = (uint32_t)atoi(env);
	lb = lb_load(&opts);
	if (!lb) {
		fprintf(stderr, "bench-xdp: loading the balancer failed: %s\n", strerror(errno));
		exit(1);
	}
	m = lb_maps(lb);
	pkt_mac("02:00:00:00:00:01", link.mac);
	addr_parse("198.18.0.1", &link.src4, &fam);
	if (lbmap_link_set(m, &link))
		exit(1);
	add_service(m, 0, 6);
	add_service(m, 1, 17);
	return lb;
}

/*
 * The wrapper (bench_lb.bpf.c) on the balancer's own maps, cycling through flows 5-tuples.
 * Returns the loaded skeleton.
 */
static struct bench_lb *wrapper(struct lb_obj *lb, uint32_t flows)
{
	struct bench_lb *w = bench_lb__open();
	struct lbmap *m = lb_maps(lb);

	if (!w)
		exit(1);
	w->rodata->bench_flows = flows;
	for (int i = 0; i < LBMAP_MAX; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(w->obj, lbmap_names[i]);

		if (!map || bpf_map__reuse_fd(map, m->fd[i])) {
			fprintf(stderr, "bench-xdp: reusing %s failed\n", lbmap_names[i]);
			exit(1);
		}
	}
	if (bench_lb__load(w)) {
		fprintf(stderr, "bench-xdp: loading the wrapper failed\n");
		exit(1);
	}
	return w;
}

/* The same case in l2 mode: no size change, so it can run batched (a cross-check). */
static void set_fwd(struct lb_obj *lb, uint8_t fwd)
{
	struct lbmap *m = lb_maps(lb);
	struct xg_vip_info info;

	if (lbmap_vip_get(m, 0, &info))
		exit(1);
	info.vip.fwd = fwd;
	if (lbmap_vip_set(m, 0, info.name, &info.key, &info.vip))
		exit(1);
}

static void print(const char *name, double ns, double floor)
{
	printf("bench-xdp %s ns_per_pkt=%.1f ratio_to_floor=%.2f\n", name, ns, ns / floor);
}

static void set_rate(struct lb_obj *lb, uint32_t rate)
{
	struct xg_settings set = {};

	lbmap_settings_get(lb_maps(lb), &set);
	set.new_flow_rate = rate;
	if (lbmap_settings_set(lb_maps(lb), &set))
		exit(1);
}

int main(int argc, char **argv)
{
	double floor_b[16], nonvip[16], est[16], l2_b[16], l2_1[16], syn[16], skip[16];
	double wrap[16], udp1[16], udpn[16];
	bool wrapped_only;
	struct bench_lb *one, *many;
	struct reflect *reflect;
	struct frame f;
	struct lb_obj *lb, *wlb;
	uint32_t ns, ret;
	int lb_fd, fl_fd;
	char *env;

	(void)argc;
	(void)argv;
	if ((env = getenv("REPEATS")) && atoi(env) >= 3 && atoi(env) <= 15)
		repeats = (unsigned int)atoi(env);
	if ((env = getenv("SINGLE_CALLS")) && atoi(env) >= 1000 && atoi(env) <= 1000000)
		single_calls = (unsigned int)atoi(env);
	if ((env = getenv("FLOWS")) && atoi(env) >= 1 && atoi(env) <= (1 << 22))
		many_flows = (unsigned int)atoi(env);
	wrapped_only = (env = getenv("WRAPPED_ONLY")) && strcmp(env, "1") == 0;
	if (geteuid() != 0) {
		fprintf(stderr, "bench-xdp: needs root\n");
		return 1;
	}
	libbpf_set_print(NULL);
	lb = setup();
	reflect = reflect__open_and_load();
	if (!reflect)
		return 1;
	lb_fd = lb_prog_fd(lb);
	fl_fd = bpf_program__fd(reflect->progs.xdp_reflect);
	/* Their own balancer: a connection table holding just their flows, as in bench-l4 (the
	 * new-flow cases fill the other one, and a full table has longer hash chains). */
	wlb = setup();
	one = wrapper(wlb, 1);
	many = wrapper(wlb, many_flows);
	/* Create the flows: the measured rounds are established packets. */
	udp_frame(VIP, &f);
	if (run(bpf_program__fd(many->progs.xdp_bench_lb), &f, many_flows, &ns, &ret) ||
	    ret != XDP_TX || run(bpf_program__fd(one->progs.xdp_bench_lb), &f, 1, &ns, &ret))
		return 1;

	/* One established flow: its SYN inserts the entry the ACKs then hit. */
	syn_of(0, &f);
	if (run(lb_fd, &f, 1, &ns, &ret) || ret != XDP_TX)
		return 1;
	for (unsigned int r = 0; r < repeats; r++) {
		uint32_t base = 1 + 2 * r * single_calls;	/* fresh clients every repeat */

		tcp_frame(0, VIP, 0x10, &f);
		floor_b[r] = batch(fl_fd, &f, XDP_TX);
		udp_frame(VIP, &f);
		wrap[r] = batch(bpf_program__fd(one->progs.xdp_bench_wrap), &f, XDP_TX);
		udp1[r] = batch(bpf_program__fd(one->progs.xdp_bench_lb), &f, XDP_TX);
		udpn[r] = batch(bpf_program__fd(many->progs.xdp_bench_lb), &f, XDP_TX);
		if (wrapped_only)
			continue;
		tcp_frame(0, "198.18.200.200", 0x10, &f);
		nonvip[r] = batch(lb_fd, &f, XDP_PASS);
		est[r] = singles(lb_fd, ack_established, 0, XDP_TX);
		syn[r] = singles(lb_fd, syn_of, base, XDP_TX);
		set_rate(lb, 1);	/* one insert per second and CPU: the rest are skipped */
		skip[r] = singles(lb_fd, syn_of, base + single_calls, XDP_TX);
		set_rate(lb, 0);
		set_fwd(lb, XG_FWD_L2);
		tcp_frame(0, VIP, 0x10, &f);
		l2_b[r] = batch(lb_fd, &f, XDP_TX);
		l2_1[r] = singles(lb_fd, ack_established, 0, XDP_TX);
		set_fwd(lb, XG_FWD_IPIP);
	}
	double fb = median(floor_b, repeats), l2 = median(l2_b, repeats);
	double call = median(l2_1, repeats) - l2, w = median(wrap, repeats);
	double u1 = median(udp1, repeats), un = median(udpn, repeats);

	fprintf(stderr,
		"bench-xdp: %u repeats, batch repeat %u, %u single calls per case\n"
		"bench-xdp: wrapper alone %.1f ns; wrapped UDP established: 1 flow %.1f, %u flows "
		"%.1f ns (cases below: wrapped - wrapper + floor)\n",
		repeats, batch_repeat, single_calls, w, u1, many_flows, un);
	if (!wrapped_only)
		fprintf(stderr,
			"bench-xdp: single-call overhead %.1f ns (established l2: %.1f single, "
			"%.1f batched)\n"
			"bench-xdp: raw single calls: established %.1f, new-flow-syn %.1f, "
			"new-flow-insert-skipped %.1f ns\n",
			call, median(l2_1, repeats), l2, median(est, repeats), median(syn, repeats),
			median(skip, repeats));
	print("floor-xdp-tx", fb, fb);
	if (!wrapped_only) {
		print("non-vip", median(nonvip, repeats), fb);
		print("established", median(est, repeats) - call, fb);
		print("established-l2", l2, fb);
		print("new-flow-syn", median(syn, repeats) - call, fb);
		print("new-flow-insert-skipped", median(skip, repeats) - call, fb);
	}
	print("established-udp", u1 - w + fb, fb);
	printf("bench-xdp established-udp-many ns_per_pkt=%.1f ratio_to_floor=%.2f flows=%u\n",
	       un - w + fb, (un - w + fb) / fb, many_flows);
	bench_lb__destroy(many);
	bench_lb__destroy(one);
	reflect__destroy(reflect);
	lb_unload(wlb);
	lb_unload(lb);
	return 0;
}
