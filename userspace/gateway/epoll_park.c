// SPDX-License-Identifier: GPL-2.0
/*
 * Keeps sockets registered in a gateway worker's epoll set while libh2o 2.2 has no interest in
 * them, so a proxied request costs no epoll_ctl at all.
 *
 * Why: libh2o 2.2's HTTP/1 server stops reading the client socket while a request is being
 * handled, and its epoll backend turns "no interest" into EPOLL_CTL_DEL and the next interest
 * into EPOLL_CTL_ADD. A proxied request always spans loop iterations, so each one paid a DEL
 * and an ADD: the kernel frees and allocates an epitem (with memcg accounting) and polls the
 * socket again, about 1 us per request on the benchmark machine (selftests/bench/l7.sh,
 * docs/benchmarks.md). nginx keeps its sockets registered and changes nothing per request.
 *
 * How: the gateway's executables define epoll_ctl, epoll_wait, close, dup2 and dup3, which the
 * dynamic linker binds libh2o's calls (and every other caller's) to. For the epoll set of a
 * worker thread that called gw_epoll_park_start (and for no other set or thread) they "park"
 * a socket instead:
 *   - DEL with an event argument (libh2o's "no interest left"; its close path passes NULL):
 *     a socket registered for input only stays registered as it is (lazy: no system call);
 *     any other is switched to edge-triggered with no events (quiet: one EPOLL_CTL_MOD).
 *   - epoll_wait drops the events of parked sockets, as libh2o would see none after a DEL;
 *     a lazy one that reports input (the client sent more, or closed) is made quiet then.
 *   - ADD of a parked socket: nothing for a lazy one with the same interest, else a MOD,
 *     which also reports pending input at once, as the ADD did.
 *   - close (and dup2/dup3 onto a number) of a parked socket removes it from the set first.
 *     libh2o, which believes it unregistered, would not; and a close removes a registration
 *     only with the last reference to the open file, so a copy held elsewhere (a child
 *     between fork and exec, a dup) would keep reporting events whose data points at the
 *     socket libh2o has freed. The DEL moves here from the request (where libh2o put it) to
 *     the connection's end, where it is not per request.
 * Socket pointers are mapped back to descriptors through libh2o 2.2's evloop socket layout
 * ({ h2o_socket_t super; int fd; ... }), checked on every park; a mismatch turns lazy parking
 * and event filtering off for the thread (quiet parking alone is layout-free). Everything
 * else goes to the system calls unchanged.
 *
 * What it relies on, and why each holds in the gateway:
 *   - the state is per thread (the worker's own sockets, in its own set): a worker's sockets
 *     are registered, parked and closed on its thread only; libh2o never touches a loop from
 *     another thread (cross-thread messages go through its pipe);
 *   - descriptor numbers are freed through close, dup2 or dup3 (interposed here), never by
 *     close_range or fclose on a worker's sockets;
 *   - no socket of a worker loop is handed to another loop (h2o_socket_export, which skips
 *     the DEL of a socket libh2o believes unregistered): the gateway's upstream pools keep
 *     connections on their loop and libh2o's socketpool is not used;
 *   - a child made by fork gets the parent's epoll sets (the same open files): a pthread_atfork
 *     handler turns parking off in the child, so nothing it closes changes the parent's sets
 *     (posix_spawn children close and exec with internal calls that bypass these);
 *   - signal handlers do not close descriptors (the table grows with realloc).
 * The switch: gateway.epoll_park (default true) or XDPGW_EPOLL_PARK=0|1 in the environment,
 * which wins (gw_epoll_park_wanted). Off, the calls go to the system unchanged; epoll_wait and
 * close remain plain system calls rather than glibc's, which are also pthread cancellation
 * points (the gateway cancels no thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gateway/runtime.h"

enum park_state {
	P_NONE,		/* not known to be registered */
	P_REGISTERED,	/* registered with .events, libh2o knows it */
	P_LAZY,		/* libh2o removed it; still registered with .events */
	P_QUIET,	/* libh2o removed it; registered edge-triggered, no events */
};

struct park_slot {
	void *ptr;		/* the event data libh2o registered: its socket */
	uint32_t events;
	uint8_t state;
};

static __thread int park_epfd = -1;
static __thread bool park_layout_ok;	/* fd found after h2o_socket_t in every parked socket */
static __thread struct park_slot *slots;	/* by descriptor number */
static __thread size_t nslots;

static int raw_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	return syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

static struct park_slot *slot_get(int fd, bool grow)
{
	if ((size_t)fd >= nslots) {
		size_t n = nslots ? nslots : 1024;
		struct park_slot *s;

		if (!grow)
			return NULL;
		while (n <= (size_t)fd)
			n *= 2;
		s = realloc(slots, n * sizeof(*s));
		if (!s)
			return NULL;
		memset(s + nslots, 0, (n - nslots) * sizeof(*s));
		slots = s;
		nslots = n;
	}
	return &slots[fd];
}

/* The descriptor of a libh2o 2.2 evloop socket. */
static int sock_fd(const void *sock)
{
	return *(const int *)((const char *)sock + sizeof(h2o_socket_t));
}

static int quiet(int epfd, int fd, struct park_slot *s)
{
	struct epoll_event ev = { .events = EPOLLET, .data.ptr = s->ptr };

	if (raw_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev))
		return -1;
	s->state = P_QUIET;
	s->events = EPOLLET;
	return 0;
}

/* Not the layout we know: no more lazy parking or filtering; lazy sockets become quiet. */
static void layout_mismatch(int epfd)
{
	size_t i;

	park_layout_ok = false;
	for (i = 0; i < nslots; i++)
		if (slots[i].state == P_LAZY && quiet(epfd, i, &slots[i]))
			slots[i].state = P_NONE;
}

static int park(int epfd, int fd, struct epoll_event *ev)
{
	struct park_slot *s = slot_get(fd, true);

	if (!s)
		return raw_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, ev);
	if (park_layout_ok && sock_fd(ev->data.ptr) != fd)
		layout_mismatch(epfd);
	s->ptr = ev->data.ptr;
	if (park_layout_ok && s->state == P_REGISTERED && s->events == EPOLLIN) {
		s->state = P_LAZY;
		return 0;
	}
	if (quiet(epfd, fd, s) == 0)
		return 0;
	s->state = P_NONE;
	return raw_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, ev);
}

static int unpark(int epfd, int fd, struct epoll_event *ev, struct park_slot *s)
{
	if (s->state == P_LAZY && s->events == ev->events && s->ptr == ev->data.ptr) {
		s->state = P_REGISTERED;
		return 0;
	}
	if (raw_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, ev)) {
		if (errno != ENOENT || raw_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ev)) {
			s->state = P_NONE;
			return -1;
		}
	}
	s->state = P_REGISTERED;
	s->events = ev->events;
	s->ptr = ev->data.ptr;
	return 0;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct park_slot *s;
	int ret;

	if (epfd != park_epfd || fd < 0)
		return raw_epoll_ctl(epfd, op, fd, ev);
	if (op == EPOLL_CTL_DEL && ev)
		return park(epfd, fd, ev);
	s = slot_get(fd, op != EPOLL_CTL_DEL);
	if (op == EPOLL_CTL_ADD && s && (s->state == P_LAZY || s->state == P_QUIET))
		return unpark(epfd, fd, ev, s);
	ret = raw_epoll_ctl(epfd, op, fd, ev);
	if (s) {
		if (ret == 0 && op != EPOLL_CTL_DEL) {
			s->state = P_REGISTERED;
			s->events = ev->events;
			s->ptr = ev->data.ptr;
		} else {
			s->state = P_NONE;
		}
	}
	return ret;
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	int n = syscall(SYS_epoll_pwait, epfd, events, maxevents, timeout, NULL, _NSIG / 8);
	int i, kept = 0;

	if (n <= 0 || epfd != park_epfd || !park_layout_ok)
		return n;
	for (i = 0; i < n; i++) {
		void *ptr = events[i].data.ptr;
		int fd = sock_fd(ptr);
		struct park_slot *s = fd >= 0 ? slot_get(fd, false) : NULL;

		if (s && s->ptr == ptr && (s->state == P_LAZY || s->state == P_QUIET)) {
			/* A lazy one would report its input on every wait: make it quiet, or, if
			 * that fails, unregister it as libh2o asked (its ADD registers it again). */
			if (s->state == P_LAZY && quiet(epfd, fd, s)) {
				raw_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
				s->state = P_NONE;
			}
			continue;
		}
		events[kept++] = events[i];
	}
	return kept;
}

/* The number fd is about to be freed or replaced: a parked socket leaves the set first. */
static void forget(int fd)
{
	if (fd < 0)
		return;
	if (fd == park_epfd) {
		park_epfd = -1;	/* the set itself: nothing of this thread is parked any more */
		return;
	}
	if ((size_t)fd >= nslots)
		return;
	if (slots[fd].state == P_LAZY || slots[fd].state == P_QUIET)
		raw_epoll_ctl(park_epfd, EPOLL_CTL_DEL, fd, NULL);
	slots[fd].state = P_NONE;
}

int close(int fd)
{
	forget(fd);
	return syscall(SYS_close, fd);
}

/* dup2 and dup3 close newfd when it is open: the same as close for a parked socket there. */
int dup3(int oldfd, int newfd, int flags)
{
	if (oldfd != newfd && fcntl(oldfd, F_GETFD) >= 0)
		forget(newfd);
	return syscall(SYS_dup3, oldfd, newfd, flags);
}

int dup2(int oldfd, int newfd)
{
	if (oldfd == newfd)	/* dup3 refuses equal numbers; dup2 checks oldfd and returns it */
		return fcntl(oldfd, F_GETFD) < 0 ? -1 : newfd;
	return dup3(oldfd, newfd, 0);
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

/* In a child made by fork: the parent's epoll sets are shared; leave them alone. */
static void park_atfork_child(void)
{
	park_epfd = -1;
}

static void park_atfork_register(void)
{
	pthread_atfork(NULL, NULL, park_atfork_child);
}

int gw_epoll_park_wanted(bool configured, const char **why)
{
	const char *env = getenv("XDPGW_EPOLL_PARK");

	*why = configured ? NULL : "gateway.epoll_park: false";
	if (!env || !*env)
		return configured;
	if (!strcmp(env, "0") || !strcmp(env, "false")) {
		*why = "XDPGW_EPOLL_PARK=0";
		return 0;
	}
	if (!strcmp(env, "1") || !strcmp(env, "true")) {
		*why = NULL;
		return 1;
	}
	return -EINVAL;
}

int gw_epoll_park_start(h2o_evloop_t *loop)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	/* libh2o 2.2's epoll loop is { h2o_evloop_t super; int ep; } (evloop/epoll.c.h). */
	int ep = *(const int *)((const char *)loop + sizeof(h2o_evloop_t));

	if (ep < 0 || !is_epoll_fd(ep))
		return -ENOTSUP;
	pthread_once(&once, park_atfork_register);
	park_epfd = ep;
	park_layout_ok = true;
	return 0;
}

void gw_evloop_destroy(h2o_evloop_t *loop)
{
	/* Read before the loop is freed: libh2o 2.2's epoll loop is { h2o_evloop_t super; int ep;
	 * }, and its h2o_evloop_destroy frees the loop without closing ep. */
	int ep = *(const int *)((const char *)loop + sizeof(h2o_evloop_t));
	bool ours = ep > 2 && is_epoll_fd(ep);

	h2o_evloop_destroy(loop);
	if (ours)
		close(ep);
}

void gw_epoll_park_stop(void)
{
	park_epfd = -1;
	free(slots);
	slots = NULL;
	nslots = 0;
}
