// SPDX-License-Identifier: GPL-2.0
/*
 * epoll_park.c on a real libh2o loop: a socket libh2o stops reading stays in the epoll set
 * (checked in /proc/self/fdinfo), its input is hidden until libh2o reads again and then
 * delivered, a hang-up while parked is delivered after, a closed parked descriptor whose
 * number comes back is registered again, a closed or replaced one leaves the set even when its
 * file lives on, a forked child changes nothing in the parent's set, and the switch.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

/*
 * A parked socket whose open file has another reference (a dup, a child between fork and exec)
 * leaves the set when libh2o closes it: a close alone would not remove the registration, whose
 * events would then carry the freed socket's address.
 */
TEST(close_with_a_second_reference_leaves_the_set)
{
	struct fixture fx;
	int fd, copy = -1;

	if (!setup(&fx))
		return;
	fd = h2o_socket_get_fd(fx.sock);
	if (!read_then_park(&fx))
		goto out;
	copy = dup(fd);
	if (!ASSERT_GE(copy, 0))
		goto out;
	h2o_socket_close(fx.sock);
	fx.sock = NULL;
	h2o_evloop_run(fx.loop, 0);
	ASSERT_EQ(registered_events(fx.ep, fd), -1);
	/* input on the surviving file reaches nobody (and nothing freed is touched) */
	ASSERT_EQ(write(fx.peer, "e", 1), 1);
	run_for(fx.loop, 30);
	ASSERT_EQ(fx.r.calls, 1);
out:
	if (copy >= 0)
		close(copy);
	teardown(&fx);
}

TEST(dup2_onto_a_parked_number_leaves_the_set)
{
	struct fixture fx;
	int fd, copy = -1, other[2] = { -1, -1 };

	if (!setup(&fx))
		return;
	fd = h2o_socket_get_fd(fx.sock);
	if (!read_then_park(&fx))
		goto out;
	copy = dup(fd);
	if (!ASSERT_GE(copy, 0) || !ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
							 other)))
		goto out;
	/* The number now names another file; the old one lives on through copy. */
	if (!ASSERT_EQ(dup2(other[0], fd), fd))
		goto out;
	ASSERT_EQ(registered_events(fx.ep, fd), -1);
	ASSERT_EQ(dup2(fd, fd), fd);
	ASSERT_EQ(dup2(-1, fd), -1);
	ASSERT_EQ(errno, EBADF);
out:
	/* libh2o's socket now closes the other file under its number; that is fine here */
	if (copy >= 0)
		close(copy);
	for (int i = 0; i < 2; i++)
		if (other[i] >= 0)
			close(other[i]);
	teardown(&fx);
}

/* A forked child shares the parent's epoll set: what it closes must not change the parent's. */
TEST(fork_child_leaves_the_parents_set_alone)
{
	struct fixture fx;
	int fd, status = -1;
	pid_t pid;

	if (!setup(&fx))
		return;
	fd = h2o_socket_get_fd(fx.sock);
	if (!read_then_park(&fx))
		goto out;
	pid = fork();
	if (pid == 0) {
		close(fd);
		_exit(0);
	}
	if (!ASSERT_GT(pid, 0) || !ASSERT_EQ(waitpid(pid, &status, 0), pid))
		goto out;
	ASSERT_EQ(status, 0);
	ASSERT_EQ(registered_events(fx.ep, fd) & (EPOLLIN | EPOLLET), EPOLLIN);
	h2o_socket_read_start(fx.sock, on_read);
	ASSERT_EQ(write(fx.peer, "f", 1), 1);
	run_for(fx.loop, 50);
	ASSERT_EQ(fx.r.calls, 2);
out:
	teardown(&fx);
}

TEST(switch_from_config_and_environment)
{
	const char *why;

	unsetenv("XDPGW_EPOLL_PARK");
	ASSERT_EQ(gw_epoll_park_wanted(true, &why), 1);
	ASSERT_TRUE(why == NULL);
	ASSERT_EQ(gw_epoll_park_wanted(false, &why), 0);
	ASSERT_STREQ(why, "gateway.epoll_park: false");
	setenv("XDPGW_EPOLL_PARK", "0", 1);
	ASSERT_EQ(gw_epoll_park_wanted(true, &why), 0);
	ASSERT_STREQ(why, "XDPGW_EPOLL_PARK=0");
	setenv("XDPGW_EPOLL_PARK", "true", 1);
	ASSERT_EQ(gw_epoll_park_wanted(false, &why), 1);
	setenv("XDPGW_EPOLL_PARK", "yes", 1);
	ASSERT_EQ(gw_epoll_park_wanted(true, &why), -EINVAL);
	unsetenv("XDPGW_EPOLL_PARK");
}
