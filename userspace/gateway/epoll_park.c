// SPDX-License-Identifier: GPL-2.0
/*
 * Keeps sockets registered in a gateway worker's epoll set while libh2o 2.2 has no interest in
 * them, instead of removing and adding them again on every request.
 *
 * Why: libh2o 2.2's HTTP/1 server stops reading the client socket while a request is being
 * handled, and its epoll backend turns "no interest" into EPOLL_CTL_DEL and the next interest
 * into EPOLL_CTL_ADD. A proxied request always spans loop iterations, so each one paid a DEL
 * and an ADD: the kernel frees and allocates an epitem (with memcg accounting) and polls the
 * socket again, about 0.6 us per request on the benchmark machine (selftests/bench/l7.sh,
 * docs/benchmarks.md). nginx keeps its sockets registered; so does libh2o from 2.3 on (it uses
 * EPOLL_CTL_MOD only).
 *
 * How: the gateway's executables define epoll_ctl, which the dynamic linker binds libh2o's
 * calls to. For the epoll set of a worker thread that called gw_epoll_park_start (and for no
 * other set or thread), the shim turns
 *   DEL with an event argument (libh2o's "no interest left"; its close path passes NULL) into
 *     MOD to edge-triggered, no events: nothing is reported but a hang-up or an error, once,
 *     which libh2o ignores for a socket it does not poll (it finds out on its next read);
 *   ADD of a socket it parked that way into MOD, which also reports pending input at once.
 * A parked socket that libh2o closes leaves the set with its last file reference, as every
 * closed socket does (the gateway neither forks nor exports sockets between loops); if the
 * descriptor number comes back, the MOD fails with ENOENT and the shim adds it.
 * Everything else goes to the system call unchanged. A client that resets its connection while
 * its request is in progress is seen as before (on the next read), and libh2o notes the
 * hang-up it ignored on stderr ("ignoring epoll event", at most once a minute).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gateway/runtime.h"

static __thread int park_epfd = -1;
static __thread uint8_t *parked;	/* bit per descriptor number */
static __thread size_t parked_bytes;

static int raw_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	return syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

static bool is_parked(int fd)
{
	return (size_t)fd / 8 < parked_bytes && (parked[fd / 8] & (1u << (fd % 8)));
}

static int set_parked(int fd, bool on)
{
	if ((size_t)fd / 8 >= parked_bytes) {
		size_t n = parked_bytes ? parked_bytes : 512;
		uint8_t *p;

		if (!on)
			return 0;
		while (n <= (size_t)fd / 8)
			n *= 2;
		p = realloc(parked, n);
		if (!p)
			return -1;
		memset(p + parked_bytes, 0, n - parked_bytes);
		parked = p;
		parked_bytes = n;
	}
	if (on)
		parked[fd / 8] |= 1u << (fd % 8);
	else
		parked[fd / 8] &= ~(1u << (fd % 8));
	return 0;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (epfd != park_epfd || fd < 0)
		return raw_epoll_ctl(epfd, op, fd, ev);
	if (op == EPOLL_CTL_DEL && ev) {
		struct epoll_event quiet = { .events = EPOLLET, .data = ev->data };

		if (set_parked(fd, true) == 0 && raw_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &quiet) == 0)
			return 0;
		set_parked(fd, false);
		return raw_epoll_ctl(epfd, op, fd, ev);
	}
	if (is_parked(fd)) {
		set_parked(fd, false);
		if (op == EPOLL_CTL_ADD) {
			int ret = raw_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, ev);

			if (ret == 0 || errno != ENOENT)
				return ret;
			/* closed while parked and the number reused: a new registration */
		}
	}
	return raw_epoll_ctl(epfd, op, fd, ev);
}

/* Whether fd is an epoll instance (the check that our reading of libh2o's loop is right). */
static bool is_epoll_fd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:[eventpoll]");
}

int gw_epoll_park_start(h2o_evloop_t *loop)
{
	/* libh2o 2.2's epoll loop is { h2o_evloop_t super; int ep; } (evloop/epoll.c.h). */
	int ep = *(const int *)((const char *)loop + sizeof(h2o_evloop_t));

	if (ep < 0 || !is_epoll_fd(ep))
		return -ENOTSUP;
	park_epfd = ep;
	return 0;
}

void gw_epoll_park_stop(void)
{
	park_epfd = -1;
	free(parked);
	parked = NULL;
	parked_bytes = 0;
}
