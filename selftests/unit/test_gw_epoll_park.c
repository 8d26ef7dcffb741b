// SPDX-License-Identifier: GPL-2.0
/*
 * epoll_park.c on a real libh2o loop: a socket libh2o stops reading stays in the epoll set
 * (checked in /proc/self/fdinfo), its input is hidden until libh2o reads again and then
 * delivered, a hang-up while parked is delivered after, and a closed parked descriptor whose
 * number comes back is registered again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/runtime.h"
#include "lib/test.h"

struct reader {
	int calls;
	size_t bytes;
	char last[16];
	bool err;
};

static void on_read(h2o_socket_t *sock, const char *err)
{
	struct reader *r = sock->data;

	r->calls++;
	if (err) {
		r->err = true;
		h2o_socket_read_stop(sock);
		return;
	}
	r->bytes += sock->input->size;
	snprintf(r->last, sizeof(r->last), "%.*s", (int)sock->input->size, sock->input->bytes);
	h2o_buffer_consume(&sock->input, sock->input->size);
}

/* Runs the loop for about ms milliseconds. */
static void run_for(h2o_evloop_t *loop, int ms)
{
	for (int i = 0; i < ms / 10; i++)
		h2o_evloop_run(loop, 10);
}

/* The registered event mask of fd in epoll set ep, or -1 when fd is not registered. */
static long long registered_events(int ep, int fd)
{
	char path[64], line[256];
	long long events = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
	f = fopen(path, "r");
	if (!f)
		return -2;
	while (fgets(line, sizeof(line), f)) {
		int tfd;
		unsigned long long ev;

		if (sscanf(line, "tfd: %d events: %llx", &tfd, &ev) == 2 && tfd == fd)
			events = ev;
	}
	fclose(f);
	return events;
}

static int loop_epfd(h2o_evloop_t *loop)
{
	return *(const int *)((const char *)loop + sizeof(h2o_evloop_t));
}

struct fixture {
	h2o_evloop_t *loop;
	int ep, peer;
	h2o_socket_t *sock;
	struct reader r;
};

static bool setup(struct fixture *fx)
{
	int sv[2];

	memset(fx, 0, sizeof(*fx));
	fx->loop = h2o_evloop_create();
	if (!ASSERT_OK(gw_epoll_park_start(fx->loop)))
		return false;
	fx->ep = loop_epfd(fx->loop);
	if (!ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)))
		return false;
	fx->peer = sv[1];
	fx->sock = h2o_evloop_socket_create(fx->loop, sv[0], 0);
	fx->sock->data = &fx->r;
	h2o_socket_read_start(fx->sock, on_read);
	return true;
}

static void teardown(struct fixture *fx)
{
	if (fx->sock)
		h2o_socket_close(fx->sock);
	if (fx->peer >= 0)
		close(fx->peer);
	h2o_evloop_run(fx->loop, 0);
	h2o_evloop_destroy(fx->loop);
	gw_epoll_park_stop();
}

/* Reads "a", then parks the socket (libh2o stops reading and runs its loop once). */
static bool read_then_park(struct fixture *fx)
{
	if (!ASSERT_EQ(write(fx->peer, "a", 1), 1))
		return false;
	run_for(fx->loop, 50);
	if (!ASSERT_EQ(fx->r.calls, 1) || !ASSERT_TRUE(!strcmp(fx->r.last, "a")))
		return false;
	h2o_socket_read_stop(fx->sock);
	h2o_evloop_run(fx->loop, 0);
	return true;
}

TEST(parked_input_waits_for_the_next_read)
{
	struct fixture fx;
	int fd;

	if (!setup(&fx))
		return;
	fd = h2o_socket_get_fd(fx.sock);
	if (!read_then_park(&fx))
		goto out;
	/* libh2o removed it; it is still registered, for input, level-triggered */
	ASSERT_EQ(registered_events(fx.ep, fd) & (EPOLLIN | EPOLLET), EPOLLIN);
	ASSERT_EQ(write(fx.peer, "b", 1), 1);
	run_for(fx.loop, 50);
	ASSERT_EQ(fx.r.calls, 1);	/* hidden while parked */
	/* and the socket went quiet (edge-triggered, no input interest) rather than spinning */
	ASSERT_EQ(registered_events(fx.ep, fd) & (EPOLLIN | EPOLLET), EPOLLET);
	h2o_socket_read_start(fx.sock, on_read);
	run_for(fx.loop, 50);
	ASSERT_EQ(fx.r.calls, 2);
	ASSERT_TRUE(!strcmp(fx.r.last, "b"));
	ASSERT_EQ(registered_events(fx.ep, fd) & (EPOLLIN | EPOLLET), EPOLLIN);
out:
	teardown(&fx);
}

TEST(resume_when_nothing_came)
{
	struct fixture fx;

	if (!setup(&fx))
		return;
	if (!read_then_park(&fx))
		goto out;
	run_for(fx.loop, 30);
	h2o_socket_read_start(fx.sock, on_read);
	ASSERT_EQ(write(fx.peer, "c", 1), 1);
	run_for(fx.loop, 50);
	ASSERT_EQ(fx.r.calls, 2);
	ASSERT_TRUE(!strcmp(fx.r.last, "c"));
out:
	teardown(&fx);
}

TEST(hangup_while_parked_is_seen_after)
{
	struct fixture fx;

	if (!setup(&fx))
		return;
	if (!read_then_park(&fx))
		goto out;
	close(fx.peer);
	fx.peer = -1;
	run_for(fx.loop, 50);
	ASSERT_EQ(fx.r.calls, 1);
	ASSERT_FALSE(fx.r.err);
	h2o_socket_read_start(fx.sock, on_read);
	run_for(fx.loop, 50);
	ASSERT_TRUE(fx.r.err);
out:
	teardown(&fx);
}

TEST(closed_parked_number_is_registered_again)
{
	struct fixture fx;
	struct reader r2 = { 0 };
	h2o_socket_t *s2;
	int fd, sv[2];

	if (!setup(&fx))
		return;
	fd = h2o_socket_get_fd(fx.sock);
	if (!read_then_park(&fx))
		goto out;
	h2o_socket_close(fx.sock);
	fx.sock = NULL;
	h2o_evloop_run(fx.loop, 0);
	ASSERT_EQ(registered_events(fx.ep, fd), -1);
	if (!ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)))
		goto out;
	/* the lowest free number: the closed one */
	ASSERT_EQ(sv[0], fd);
	s2 = h2o_evloop_socket_create(fx.loop, sv[0], 0);
	s2->data = &r2;
	h2o_socket_read_start(s2, on_read);
	ASSERT_EQ(write(sv[1], "d", 1), 1);
	run_for(fx.loop, 50);
	ASSERT_EQ(r2.calls, 1);
	ASSERT_TRUE(!strcmp(r2.last, "d"));
	h2o_socket_close(s2);
	close(sv[1]);
out:
	teardown(&fx);
}
