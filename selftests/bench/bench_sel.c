// SPDX-License-Identifier: GPL-2.0
/*
 * Selection-table rebuild time for bench-l4: loads a private, unpinned copy of the balancer
 * (lb_load without a bpffs directory), makes one Maglev service with N backends and times
 * lbmap_sel_publish(), which is what gwd runs when a service's backends change: build the
 * weighted Maglev table, create a new inner map, fill it and swap it into lb_selection.
 * The table-building part alone (maglev_size + maglev_build) is timed as well.
 *
 *   bench_sel [N...]        (default 10 1000 10000; REPEATS runs each, median reported)
 *
 * Output: `bench-l4 cp-rebuild backends=N table=SIZE publish_cpu_ms=T publish_ms=T
 * build_cpu_ms=T inner_map_bytes=B` per N (CPU time: this process's, kernel time included;
 * the wall-clock publish time also counts what other processes take). Needs root (BPF).
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/lb.h"
#include "lib/lbmap.h"
#include "lib/maglev.h"
#include "lib/sel.h"

#define MAX_N 16384
#define DEFAULT_REPEATS 5

static double clock_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* This process's CPU time, kernel time in its syscalls included: what other processes take
 * from the CPU does not count, so it is steady on a shared machine. */
static double cpu_ms(void)
{
	return clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(n - 1) / 2];
}

/* Backend i of the run: 198.19.x.y, weight 100, as gwd writes it. */
static struct xg_backend backend_of(uint32_t i, uint32_t vip_id)
{
	struct xg_backend b = {
		.family = XG_AF_INET,
		.flags = XG_BE_F_IN_USE,
		.weight = 100,
		.vip_id = vip_id,
		.mac = { 0x02, 0x00, 0xc6, 0x12, 0x00, 0x0a },
	};

	b.addr.v4 = htonl((198u << 24) | (19u << 16) | (i + 1));
	return b;
}

/* memlock of the inner map now in lb_selection[vip_id], from its fdinfo. */
static long long inner_map_bytes(struct lbmap *m, uint32_t vip_id)
{
	char path[64], line[256];
	long long bytes = -1;
	uint32_t inner_id;
	FILE *f;
	int fd;

	if (bpf_map_lookup_elem(m->fd[LBMAP_SELECTION], &vip_id, &inner_id))
		return -1;
	fd = bpf_map_get_fd_by_id(inner_id);
	if (fd < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lld", &bytes) == 1)
			break;
	if (f)
		fclose(f);
	close(fd);
	return bytes;
}

/* Times the table build alone (what the CPU does, no maps), in CPU ms; -1 on failure. */
static double time_build(uint32_t n, uint32_t sel_max, uint32_t *size_out)
{
	struct sel_backend *b = calloc(n, sizeof(*b));
	uint32_t *table = NULL, size;
	double t0, t;

	if (!b)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		b[i].id = i;
		b[i].weight = 100;
		b[i].family = XG_AF_INET;
		b[i].addr.v4 = htonl((198u << 24) | (19u << 16) | (i + 1));
	}
	t0 = cpu_ms();
	sel_sort(b, n);
	size = maglev_size(b, n, XG_SEL_DEFAULT, sel_max, NULL);
	table = size ? malloc(sizeof(*table) * size) : NULL;
	if (!table || maglev_build(b, n, size, table)) {
		free(table);
		free(b);
		return -1;
	}
	t = cpu_ms() - t0;
	*size_out = size;
	free(table);
	free(b);
	return t;
}

static int run(uint32_t n, int repeats)
{
	struct lb_opts o = { .max_backends = MAX_N, .ct_entries = 1024, .persist_entries = 1024 };
	struct xg_vip_key key = { .port = htons(80), .proto = 17, .family = XG_AF_INET };
	struct xg_vip vip = { .algo = XG_ALGO_MAGLEV, .fwd = XG_FWD_IPIP };
	double publish[64], publish_cpu[64], build[64];
	struct xg_vip_info info;
	struct lb_obj *lb;
	struct lbmap *m;
	uint32_t vip_id = 0, size = 0;
	int ret = 1;

	lb = lb_load(&o);
	if (!lb) {
		fprintf(stderr, "bench_sel: cannot load the balancer: %s\n", strerror(errno));
		return 1;
	}
	m = lb_maps(lb);
	key.addr.v4 = htonl(0xc6126403); /* 198.18.100.3 */
	if (lbmap_vip_set(m, vip_id, "rebuild", &key, &vip)) {
		fprintf(stderr, "bench_sel: cannot create the service\n");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct xg_backend b = backend_of(i, vip_id);

		if (lbmap_backend_write(m, i, &b)) {
			fprintf(stderr, "bench_sel: cannot write backend %u\n", i);
			goto out;
		}
	}
	for (int r = 0; r < repeats; r++) {
		double t0 = now_ms(), c0 = cpu_ms();
		int err = lbmap_sel_publish(m, vip_id);

		publish_cpu[r] = cpu_ms() - c0;
		publish[r] = now_ms() - t0;
		if (err) {
			fprintf(stderr, "bench_sel: publish with %u backends: %s\n", n,
				strerror(-err));
			goto out;
		}
		build[r] = time_build(n, m->sel_max, &size);
		if (build[r] < 0) {
			fprintf(stderr, "bench_sel: maglev build with %u backends failed\n", n);
			goto out;
		}
	}
	if (lbmap_vip_get(m, vip_id, &info) == 0)
		size = info.sel_size;
	printf("bench-l4 cp-rebuild backends=%u table=%u publish_cpu_ms=%.2f publish_ms=%.2f "
	       "build_cpu_ms=%.2f inner_map_bytes=%lld\n",
	       n, size, median(publish_cpu, repeats), median(publish, repeats),
	       median(build, repeats), inner_map_bytes(m, vip_id));
	ret = 0;
out:
	lb_unload(lb);
	return ret;
}

int main(int argc, char **argv)
{
	static const uint32_t defaults[] = { 10, 1000, 10000 };
	const char *env = getenv("REPEATS");
	int repeats = env ? atoi(env) : DEFAULT_REPEATS;
	int ret = 0;

	if (repeats < 1 || repeats > 64) {
		fprintf(stderr, "bench_sel: REPEATS must be 1-64\n");
		return 2;
	}
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			char *end;
			unsigned long n = strtoul(argv[i], &end, 10);

			if (*end || n < 1 || n > MAX_N) {
				fprintf(stderr, "bench_sel: backends must be 1-%d, not '%s'\n",
					MAX_N, argv[i]);
				return 2;
			}
			ret |= run((uint32_t)n, repeats);
		}
		return ret;
	}
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		ret |= run(defaults[i], repeats);
	return ret;
}
