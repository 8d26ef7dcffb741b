// SPDX-License-Identifier: GPL-2.0
/*
 * The gateway server's worker sets across live changes: a restart that fails leaves the running
 * set and its worker slots (per-worker idle-connection pools and counters) as they were.
 * Runs in a network namespace of its own (unshare), listeners on its loopback.
 */
#include <string.h>
#include <unistd.h>

#include "gateway/gw.h"
#include "gateway/runtime.h"
#include "lib/test.h"

static struct gw_config *compile(const char *json)
{
	char err[512] = "";
	json_t *j = json_loads(json, 0, NULL);
	struct gw_config *cfg = j ? gw_config_compile(j, err, sizeof(err)) : NULL;

	json_decref(j);
	if (!ASSERT_NOT_NULL(cfg))
		fprintf(stderr, "     %s: %s\n", json, err);
	return cfg;
}

#define LISTEN "\"listeners\":[{\"addr\":\"127.0.0.1:8080\"}]"

TEST(failed_restart_keeps_worker_slots)
{
	struct gw_config *a, *bad, *c;
	struct gw_server *srv;
	char err[512] = "";
	uint64_t before;

	if (!test_own_netns())
		return;
	a = compile("{\"workers\":2," LISTEN "}");
	/* Needs a new worker set (access_log is part of the server), which can not start. */
	bad = compile("{\"workers\":2," LISTEN ",\"access_log\":\"/nonexistent-xg/dir/access.log\"}");
	c = compile("{\"workers\":2," LISTEN ",\"limits\":{\"max_headers\":50}}");
	if (!a || !bad || !c)
		goto out;
	srv = gw_server_start(a, err, sizeof(err));
	if (!ASSERT_NOT_NULL(srv)) {
		fprintf(stderr, "     %s\n", err);
		goto out;
	}
	before = gw_server_slots(srv);
	ASSERT_EQ(__builtin_popcountll(before), 2);
	ASSERT_TRUE(gw_server_apply(srv, bad, err, sizeof(err)) != 0, "bad access_log applied");
	ASSERT_TRUE(strstr(err, "access_log") != NULL, "error: %s", err);
	/* The running workers still own their slots: none may be handed out twice. */
	ASSERT_EQ(gw_server_slots(srv), before);
	/* A restart that works overlaps the old set on slots of its own. */
	if (!ASSERT_OK(gw_server_apply(srv, c, err, sizeof(err))))
		fprintf(stderr, "     %s\n", err);
	ASSERT_EQ(__builtin_popcountll(gw_server_slots(srv) & ~before), 2);
	gw_server_stop(srv);
out:
	gw_config_put(a);
	gw_config_put(bad);
	gw_config_put(c);
}

static int count_epoll_fds(void)
{
	char path[64], target[64];
	int n = 0;

	for (int fd = 0; fd < 4096; fd++) {
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += !strcmp(target, "anon_inode:[eventpoll]");
	}
	return n;
}

/* libh2o 2.2's h2o_evloop_destroy frees a loop but not its epoll descriptor: every worker set
 * that ends (a restart, the stop) and the health thread must not leave theirs open. */
TEST(worker_sets_leave_no_epoll_fds)
{
	struct gw_config *a, *b;
	struct gw_server *srv;
	char err[512] = "";
	int before;

	if (!test_own_netns())
		return;
	a = compile("{\"workers\":2," LISTEN "}");
	b = compile("{\"workers\":3," LISTEN "}");
	if (!a || !b)
		goto out;
	before = count_epoll_fds();
	srv = gw_server_start(a, err, sizeof(err));
	if (!ASSERT_NOT_NULL(srv))
		goto out;
	ASSERT_OK(gw_server_apply(srv, b, err, sizeof(err)));
	ASSERT_OK(gw_server_apply(srv, a, err, sizeof(err)));
	gw_server_stop(srv);
	ASSERT_EQ(count_epoll_fds(), before);
out:
	gw_config_put(a);
	gw_config_put(b);
}
