// SPDX-License-Identifier: GPL-2.0
/*
 * The upstream client (upstream.c) on a real libh2o loop against a server on a Unix socket that
 * the test drives by hand: which failures may be tried again (gw_upcall_retry), a pooled
 * connection that the server closed is never used for a request that must not be sent twice,
 * a stale pooled connection used by an idempotent one is reported as stale, and a connection
 * closed without an answer as no response.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway/runtime.h"
#include "lib/test.h"

struct outcome {
	bool done, failed;
	enum gw_upcall_err err;
	int status;
};

static int on_head(struct gw_upcall *up, int minor, int status, const char *msg, size_t msg_len,
		   struct phr_header *h, size_t nh)
{
	((struct outcome *)up->data)->status = status;
	return 0;
}

static void on_error(struct gw_upcall *up, enum gw_upcall_err err)
{
	struct outcome *o = up->data;

	o->done = o->failed = true;
	o->err = err;
}

static void on_body(struct gw_upcall *up, bool eos, const char *err)
{
	h2o_buffer_consume(up->body, (*up->body)->size);
	if (eos)
		((struct outcome *)up->data)->done = true;
}

static const struct gw_upcall_cbs cbs = { on_head, on_error, on_body };

struct fixture {
	h2o_evloop_t *loop;
	struct gw_timeouts tmo;
	struct gw_tstate *st;
	h2o_buffer_t *body;
	char dir[64];
	int lfd;
};

static bool setup(struct fixture *fx)
{
	struct sockaddr_un *sun;

	memset(fx, 0, sizeof(*fx));
	signal(SIGPIPE, SIG_IGN);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/xg-upstream-XXXXXX");
	if (!ASSERT_NOT_NULL(mkdtemp(fx->dir)))
		return false;
	fx->st = aligned_alloc(64, sizeof(*fx->st));
	if (!ASSERT_NOT_NULL(fx->st))
		return false;
	memset(fx->st, 0, sizeof(*fx->st));
	sun = (struct sockaddr_un *)&fx->st->sa;
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/s", fx->dir);
	fx->st->salen = sizeof(*sun);
	fx->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!ASSERT_OK(bind(fx->lfd, (struct sockaddr *)sun, sizeof(*sun))) ||
	    !ASSERT_OK(listen(fx->lfd, 16)))
		return false;
	fx->loop = h2o_evloop_create();
	fx->tmo.loop = fx->loop;
	h2o_buffer_init(&fx->body, &h2o_socket_buffer_prototype);
	return true;
}

static void teardown(struct fixture *fx)
{
	char path[128];

	if (fx->st)
		gw_upcall_drain_idle(fx->st, 0);
	if (fx->loop) {
		h2o_evloop_run(fx->loop, 0);
		h2o_buffer_dispose(&fx->body);
		gw_timeouts_dispose(&fx->tmo);
		h2o_evloop_destroy(fx->loop);
	}
	if (fx->lfd > 0)
		close(fx->lfd);
	snprintf(path, sizeof(path), "%s/s", fx->dir);
	unlink(path);
	rmdir(fx->dir);
	free(fx->st);
	gw_thread_release_caches();
}

static void start(struct fixture *fx, struct gw_upcall *up, struct outcome *o, const char *req,
		  bool unsafe)
{
	memset(up, 0, sizeof(*up));
	memset(o, 0, sizeof(*o));
	up->loop = fx->loop;
	up->tmo = &fx->tmo;
	up->slot = 0;
	up->st = fx->st;
	up->connect_ms = up->response_ms = 2000;
	up->max_idle = 4;
	up->idle_ms = 10000;
	up->reqbufs[0] = h2o_iovec_init(req, strlen(req));
	up->nreqbufs = 1;
	up->check_reused = unsafe;
	up->cb = &cbs;
	up->body = &fx->body;
	up->data = o;
	gw_upcall_start(up);
}

/* Runs the loop until o is done (at most about 2 s). */
static bool run_until_done(struct fixture *fx, struct outcome *o)
{
	for (int i = 0; i < 200 && !o->done; i++)
		h2o_evloop_run(fx->loop, 10);
	return ASSERT_TRUE(o->done);
}

/* A connection waiting on the listener, or -1 (none within 100 ms). */
static int server_accept(struct fixture *fx)
{
	struct pollfd p = { .fd = fx->lfd, .events = POLLIN };

	if (poll(&p, 1, 100) != 1)
		return -1;
	return accept4(fx->lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* Runs the loop until the request head arrived on fd; returns its first line's method. */
static bool server_read(struct fixture *fx, int fd, char *method, size_t cap)
{
	char buf[1024];
	size_t len = 0;

	for (int i = 0; i < 200; i++) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);

		if (n > 0) {
			len += n;
			buf[len] = 0;
			if (strstr(buf, "\r\n\r\n")) {
				snprintf(method, cap, "%.*s", (int)strcspn(buf, " "), buf);
				return true;
			}
		}
		h2o_evloop_run(fx->loop, 10);
	}
	return ASSERT_TRUE(false, "no request arrived");
}

static bool server_answer(int fd)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

	return ASSERT_EQ(write(fd, resp, sizeof(resp) - 1), (ssize_t)sizeof(resp) - 1);
}

/* One answered GET that leaves its connection in the pool; returns the server's side. */
static int pooled_connection(struct fixture *fx)
{
	struct gw_upcall up;
	struct outcome o;
	char m[16];
	int fd;

	start(fx, &up, &o, "GET / HTTP/1.1\r\nhost: t\r\n\r\n", false);
	fd = server_accept(fx);
	if (!ASSERT_GE(fd, 0) || !server_read(fx, fd, m, sizeof(m)) || !server_answer(fd) ||
	    !run_until_done(fx, &o) || !ASSERT_EQ(o.status, 200) ||
	    !ASSERT_EQ(fx->st->slot[0].nidle, 1)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

TEST(retry_rules)
{
	struct gw_upcall up = { 0 };

	/* connect failures: nothing was sent, any method */
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_CONNECT_FAILED, false, false), GW_RETRY_NEXT);
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_CONNECT_TIMEOUT, false, false), GW_RETRY_NEXT);
	up.sent = true;
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_STALE, true, false), GW_RETRY_SAME);
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_STALE, false, true), GW_RETRY_NONE);
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_NO_RESPONSE, true, false), GW_RETRY_NEXT);
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_NO_RESPONSE, false, true), GW_RETRY_NONE);
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_RESPONSE_TIMEOUT, true, true), GW_RETRY_NEXT);
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_RESPONSE_TIMEOUT, true, false), GW_RETRY_NONE);
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_BAD_RESPONSE, true, true), GW_RETRY_NONE);
	/* not one byte of a request that must not be repeated was sent: safe */
	up.sent = false;
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_STALE, false, true), GW_RETRY_SAME);
	/* once a response byte arrived, never */
	up.sent = true;
	up.got_bytes = true;
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_RESPONSE_TIMEOUT, true, true), GW_RETRY_NONE);
	ASSERT_EQ(gw_upcall_retry(&up, GW_UP_NO_RESPONSE, true, true), GW_RETRY_NONE);
	ASSERT_STREQ(gw_retry_reason_names[gw_retry_reason(GW_UP_STALE)], "stale");
	ASSERT_STREQ(gw_retry_reason_names[gw_retry_reason(GW_UP_CONNECT_TIMEOUT)], "connect");
}

TEST(closed_pooled_connection_is_not_used_for_unsafe_requests)
{
	struct fixture fx;
	struct gw_upcall up;
	struct outcome o;
	char m[16];
	int old = -1, fd = -1;

	if (!setup(&fx))
		goto out;
	if ((old = pooled_connection(&fx)) < 0)
		goto out;
	/* The server closes it; the loop has not run, so the pool has not noticed. */
	close(old);
	start(&fx, &up, &o, "POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n", true);
	ASSERT_FALSE(up.reused);
	ASSERT_EQ(fx.st->slot[0].nidle, 0);
	fd = server_accept(&fx);
	if (!ASSERT_GE(fd, 0) || !server_read(&fx, fd, m, sizeof(m)))
		goto out;
	ASSERT_STREQ(m, "POST");
	if (server_answer(fd) && run_until_done(&fx, &o)) {
		ASSERT_FALSE(o.failed);
		ASSERT_EQ(o.status, 200);
	}
out:
	if (fd >= 0)
		close(fd);
	teardown(&fx);
}

TEST(stale_pooled_connection_is_reported_stale)
{
	struct fixture fx;
	struct gw_upcall up;
	struct outcome o;
	int old;

	if (!setup(&fx))
		goto out;
	if ((old = pooled_connection(&fx)) < 0)
		goto out;
	close(old);
	/* An idempotent request takes it without a check, and finds it closed. */
	start(&fx, &up, &o, "GET / HTTP/1.1\r\nhost: t\r\n\r\n", false);
	ASSERT_TRUE(up.reused);
	if (run_until_done(&fx, &o)) {
		ASSERT_TRUE(o.failed);
		ASSERT_EQ(o.err, GW_UP_STALE);
		ASSERT_TRUE(up.sent);
		ASSERT_EQ(gw_upcall_retry(&up, o.err, true, true), GW_RETRY_SAME);
		ASSERT_EQ(gw_upcall_retry(&up, o.err, false, true), GW_RETRY_NONE);
	}
out:
	teardown(&fx);
}

TEST(closed_without_answer_is_no_response)
{
	struct fixture fx;
	struct gw_upcall up;
	struct outcome o;
	char m[16];
	int fd;

	if (!setup(&fx))
		goto out;
	start(&fx, &up, &o, "GET / HTTP/1.1\r\nhost: t\r\n\r\n", false);
	fd = server_accept(&fx);
	if (!ASSERT_GE(fd, 0))
		goto out;
	if (server_read(&fx, fd, m, sizeof(m))) {
		close(fd);
		if (run_until_done(&fx, &o)) {
			ASSERT_TRUE(o.failed);
			ASSERT_EQ(o.err, GW_UP_NO_RESPONSE);
			ASSERT_EQ(gw_upcall_retry(&up, o.err, true, true), GW_RETRY_NEXT);
		}
	} else {
		close(fd);
	}
out:
	teardown(&fx);
}

TEST(partial_head_is_not_retried)
{
	struct fixture fx;
	struct gw_upcall up;
	struct outcome o;
	char m[16];
	int fd;

	if (!setup(&fx))
		goto out;
	start(&fx, &up, &o, "GET / HTTP/1.1\r\nhost: t\r\n\r\n", false);
	fd = server_accept(&fx);
	if (!ASSERT_GE(fd, 0))
		goto out;
	if (server_read(&fx, fd, m, sizeof(m)) && ASSERT_EQ(write(fd, "HTTP/1.1 200", 12), 12)) {
		for (int i = 0; i < 5; i++)
			h2o_evloop_run(fx.loop, 10);
		close(fd);
		if (run_until_done(&fx, &o)) {
			ASSERT_EQ(o.err, GW_UP_BAD_RESPONSE);
			ASSERT_EQ(gw_upcall_retry(&up, o.err, true, true), GW_RETRY_NONE);
		}
	} else {
		close(fd);
	}
out:
	teardown(&fx);
}
