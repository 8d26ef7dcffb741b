// SPDX-License-Identifier: GPL-2.0
/*
 * Replays the datapath fixtures in selftests/bpf/fixtures/ (mismatches the differential fuzzer
 * found, and hand-written cases): each is loaded into a fresh balancer or decap program, its
 * frame run, and the program must agree with the reference model on everything
 * (lib/lbcheck.c) and give the verdict the fixture records. One test per fixture file.
 */
#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/decap.h"
#include "lib/lbcheck.h"
#include "lib/lbtest.h"
#include "lib/test.h"

/* selftests/bpf/fixtures: $XG_FIXTURES, else from the working directory or the binary's. */
static const char *fixture_dir(void)
{
	static char dir[PATH_MAX + 32];
	char exe[PATH_MAX];
	ssize_t n;

	if (getenv("XG_FIXTURES"))
		return getenv("XG_FIXTURES");
	if (access("selftests/bpf/fixtures", R_OK) == 0)
		return "selftests/bpf/fixtures";
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = 0;
	/* build/asan/tests/test_lb_fixtures -> the tree that holds build/ */
	for (int i = 0; i < 4; i++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			return NULL;
		*slash = 0;
	}
	snprintf(dir, sizeof(dir), "%s/selftests/bpf/fixtures", exe);
	return access(dir, R_OK) == 0 ? dir : NULL;
}

static void replay_lb(const char *path)
{
	struct lb_opts opts = { .max_vips = 64, .max_backends = 256, .ct_entries = 1 << 16,
				.persist_entries = 4096 };
	struct lbm_result *res = malloc(sizeof(*res));
	struct lbc_fixture fx;
	struct lbt t;
	struct lbc c;
	char msg[1024];
	int rc;

	if (!ASSERT_NOT_NULL(res))
		return;
	if (!lbt_setup(&t, &opts))
		goto out;
	if (!ASSERT_OK(lbc_fixture_apply(t.m, path, &fx)) ||
	    !ASSERT_OK(lbc_init(&c, t.m, lb_prog_fd(t.lb), LBT_IFINDEX)))
		goto teardown;
	if (!ASSERT_OK(lbc_load_config(&c)))
		goto free;
	rc = lbc_check(&c, fx.frame, fx.len, res, msg, sizeof(msg));
	if (!ASSERT_GE(rc, 0))
		goto free;
	if (!ASSERT_EQ(rc, 1))
		fprintf(stderr, "%s (%s): %s\n", path, fx.note, msg);
	if (!ASSERT_EQ(res->action, fx.action) || !ASSERT_EQ(res->reason, fx.reason))
		fprintf(stderr, "%s: the model now says %s %s, the fixture %s %s\n", path,
			lbc_action_name(res->action), lbc_reason_name(res->reason),
			lbc_action_name(fx.action), lbc_reason_name(fx.reason));
free:
	lbc_free(&c);
teardown:
	lbt_teardown(&t);
out:
	free(res);
}

static void replay_decap(const char *path)
{
	static const char *const names[XG_DECAP_R_MAX] = XG_DECAP_REASON_NAMES;
	struct xg_counter before[XG_DECAP_R_MAX], after[XG_DECAP_R_MAX];
	struct lbc_decap_fixture fx;
	struct decap_obj *d;
	struct pkt *out = malloc(sizeof(*out));
	uint8_t *want = malloc(PKT_MAX);
	size_t want_len;
	uint32_t reason;
	int action;

	if (!ASSERT_NOT_NULL(out) || !ASSERT_NOT_NULL(want))
		goto out;
	if (geteuid() != 0) {
		test_skip("needs root for BPF");
		goto out;
	}
	d = decap_load(NULL);
	if (!ASSERT_NOT_NULL(d) || !ASSERT_OK(lbc_decap_fixture_read(path, &fx)))
		goto unload;
	for (int i = 0; i < fx.local.n; i++)
		if (!ASSERT_OK(decap_addr_add(d, &fx.local.local[i].addr, fx.local.local[i].family)))
			goto unload;
	action = lbm_run_decap(&fx.local, fx.frame, fx.len, &reason, want, &want_len);
	ASSERT_EQ(action, fx.action);
	if (!ASSERT_EQ(reason, fx.reason))
		fprintf(stderr, "%s: the model now says %s\n", path, names[reason]);
	if (!ASSERT_OK(decap_stats(d, before)))
		goto unload;
	{
		struct xdp_md ctx = { .data_end = (__u32)fx.len, .ingress_ifindex = 1 };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = fx.frame, .data_size_in = (__u32)fx.len,
			    .data_out = out->b, .data_size_out = sizeof(out->b), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);

		if (!ASSERT_OK(bpf_prog_test_run_opts(decap_prog_fd(d), &o)))
			goto unload;
		ASSERT_EQ(o.retval, action);
		out->len = o.data_size_out;
	}
	if (!ASSERT_OK(decap_stats(d, after)))
		goto unload;
	for (int r = 0; r < XG_DECAP_R_MAX; r++)
		if (!ASSERT_EQ(after[r].packets - before[r].packets, r == (int)reason))
			fprintf(stderr, "%s: reason %s\n", path, names[r]);
	if (action == LBM_PASS)
		ASSERT_MEMEQ(out->b, out->len, want, want_len);
unload:
	decap_unload(d);
out:
	free(out);
	free(want);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

TEST(replay)
{
	const char *dir = fixture_dir();
	struct dirent **names = NULL;
	int n, replayed = 0;

	if (!ASSERT_NOT_NULL(dir))
		return;
	n = scandir(dir, &names, NULL, by_name);
	if (!ASSERT_GE(n, 0))
		return;
	for (int i = 0; i < n; i++) {
		size_t len = strlen(names[i]->d_name);
		char *path = NULL;

		if (len > 4 && !strcmp(names[i]->d_name + len - 4, ".fix") && !test_failed() &&
		    asprintf(&path, "%s/%s", dir, names[i]->d_name) > 0) {
			fprintf(stderr, "replay %s\n", path);
			if (lbc_fixture_is_decap(path))
				replay_decap(path);
			else
				replay_lb(path);
			if (test_failed())
				fprintf(stderr, "  failed: %s\n", path);
			replayed++;
			free(path);
		}
		free(names[i]);
	}
	free(names);
	ASSERT_GT(replayed, 0);
}
