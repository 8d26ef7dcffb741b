// SPDX-License-Identifier: GPL-2.0
/*
 * New TCP connections per second, for bench-l4: a client that opens connections to an address
 * (each one: handshake, "ping\n", wait for "pong\n", close with RST so no TIME_WAIT piles up),
 * and the server it talks to. Both are bounded in count and in time.
 *
 *   connrate serve [-p PORT] [-t SECONDS]
 *   connrate connect ADDR PORT [-n COUNT] [-c CONCURRENCY] [-t SECONDS]
 *
 * The client prints one line: connections=N errors=N timeouts=N seconds=S cps=R
 * slow_handshakes=N slow_replies=N, and exits 0 when every connection it started succeeded, 1
 * otherwise (the line is printed either way). A timeout is a connection not done within 1 s;
 * slow_handshakes counts connections whose handshake took over 1 s (a lost SYN or SYN-ACK: the
 * kernel retransmits after 1 s; the network path), slow_replies those whose handshake was
 * quick but whose reply came after 1 s in all (a lost request, or a server that did not run:
 * CPU starvation on a loaded machine).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/addr.h"

#define CONN_TIMEOUT_NS 1000000000ull	/* a connection slower than this counts as a timeout */
#define MAX_CONCURRENCY 1024
#define EPOLL_BATCH 64
#define REQUEST "ping\n"
#define REPLY "pong\n"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr, "usage: connrate serve [-p PORT] [-t SECONDS]\n"
			"       connrate connect ADDR PORT [-n COUNT] [-c CONCURRENCY] "
			"[-t SECONDS]\n");
	return 2;
}

/* ---- server ---- */

/* Accepts every pending connection and watches it for its request. */
static void serve_accept(int lfd, int ep)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			close(fd);
	}
}

/* Answers one request (or drops a connection that closed or failed), then closes. */
static void serve_conn(int fd)
{
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0 && write(fd, REPLY, sizeof(REPLY) - 1) < 0)
		fprintf(stderr, "connrate: reply: %s\n", strerror(errno));
	close(fd);
}

static int serve(uint16_t port, uint32_t seconds)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct epoll_event ev = { .events = EPOLLIN }, evs[EPOLL_BATCH];
	uint64_t end = now_ns() + (uint64_t)seconds * 1000000000ull;
	int lfd, ep, one = 1, zero = 0, i, n;

	lfd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "connrate: listen on port %u: %s\n", port, strerror(errno));
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = lfd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		fprintf(stderr, "connrate: epoll: %s\n", strerror(errno));
		return 1;
	}
	while (now_ns() < end) {
		n = epoll_wait(ep, evs, EPOLL_BATCH, 100);
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == lfd)
				serve_accept(lfd, ep);
			else
				serve_conn(evs[i].data.fd);
		}
	}
	return 0;
}

/* ---- client ---- */

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_WAITING };

struct conn {
	int fd;
	enum conn_state state;
	uint64_t start;
	bool slow_handshake;	/* connected over CONN_TIMEOUT_NS after start */
};

struct client {
	struct sockaddr_storage dst;
	socklen_t dst_len;
	int ep;
	struct conn *conns;
	uint32_t concurrency, in_flight;
	uint64_t started, ok, errors, timeouts, slow_handshakes, slow_replies;
	int first_errno;
};

/* Ends a connection: RST instead of FIN, so neither side keeps TIME_WAIT state. */
static void conn_end(struct client *c, struct conn *conn, int err)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if ((err == ETIMEDOUT && conn->state == CONN_CONNECTING) || conn->slow_handshake)
		c->slow_handshakes++;
	else if (err == ETIMEDOUT)
		c->slow_replies++;

	setsockopt(conn->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(conn->fd);
	conn->fd = -1;
	conn->state = CONN_IDLE;
	c->in_flight--;
	if (err == 0) {
		c->ok++;
	} else if (err == ETIMEDOUT) {
		c->timeouts++;
	} else {
		c->errors++;
		if (!c->first_errno)
			c->first_errno = err;
	}
}

static int conn_start(struct client *c, uint32_t slot)
{
	struct conn *conn = &c->conns[slot];
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = slot };
	int fd;

	fd = socket(c->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	c->started++;
	c->in_flight++;
	conn->fd = fd;
	conn->start = now_ns();
	conn->state = CONN_CONNECTING;
	conn->slow_handshake = false;
	if (connect(fd, (struct sockaddr *)&c->dst, c->dst_len) < 0 && errno != EINPROGRESS) {
		conn_end(c, conn, errno);
		return 0;
	}
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		conn_end(c, conn, errno);
	return 0;
}

static void conn_event(struct client *c, uint32_t slot, uint32_t events)
{
	struct conn *conn = &c->conns[slot];
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = slot };
	socklen_t len = sizeof(int);
	char buf[16];
	int err = 0;
	ssize_t n;

	if (conn->state == CONN_CONNECTING) {
		if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (!err && write(conn->fd, REQUEST, sizeof(REQUEST) - 1) < 0)
			err = errno;
		if (!err && epoll_ctl(c->ep, EPOLL_CTL_MOD, conn->fd, &ev) < 0)
			err = errno;
		if (err) {
			conn_end(c, conn, err);
		} else {
			conn->state = CONN_WAITING;
			conn->slow_handshake = now_ns() - conn->start > CONN_TIMEOUT_NS;
		}
		return;
	}
	if (conn->state != CONN_WAITING)
		return;
	n = read(conn->fd, buf, sizeof(buf));
	if (n < 0 && errno == EAGAIN && !(events & (EPOLLERR | EPOLLHUP)))
		return;
	if (n == (ssize_t)sizeof(REPLY) - 1 && !memcmp(buf, REPLY, n))
		conn_end(c, conn, 0);
	else
		conn_end(c, conn, n < 0 ? errno : ECONNRESET);
}

static void expire(struct client *c, uint64_t now)
{
	uint32_t i;

	for (i = 0; i < c->concurrency; i++)
		if (c->conns[i].state != CONN_IDLE && now - c->conns[i].start > CONN_TIMEOUT_NS)
			conn_end(c, &c->conns[i], ETIMEDOUT);
}

static int parse_dst(const char *addr, uint16_t port, struct client *c)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&c->dst;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->dst;

	memset(&c->dst, 0, sizeof(c->dst));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		c->dst_len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		c->dst_len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

static int run_client(struct client *c, uint64_t count, uint32_t seconds)
{
	struct epoll_event evs[EPOLL_BATCH];
	uint64_t begin = now_ns(), stop = begin + (uint64_t)seconds * 1000000000ull, end;
	uint32_t i;
	int n, err;

	for (;;) {
		uint64_t now = now_ns();

		for (i = 0; i < c->concurrency && c->started < count && now < stop; i++) {
			if (c->conns[i].state != CONN_IDLE)
				continue;
			err = conn_start(c, i);
			if (err) {
				fprintf(stderr, "connrate: socket: %s\n", strerror(-err));
				return 1;
			}
		}
		if (c->in_flight == 0 && (c->started >= count || now >= stop))
			break;
		n = epoll_wait(c->ep, evs, EPOLL_BATCH, 10);
		for (i = 0; i < (uint32_t)(n > 0 ? n : 0); i++)
			conn_event(c, evs[i].data.u32, evs[i].events);
		expire(c, now_ns());
	}
	end = now_ns();
	printf("connections=%llu errors=%llu timeouts=%llu seconds=%.3f cps=%.0f "
	       "slow_handshakes=%llu slow_replies=%llu\n",
	       (unsigned long long)c->ok, (unsigned long long)c->errors,
	       (unsigned long long)c->timeouts, (end - begin) / 1e9,
	       c->ok / ((end - begin) / 1e9), (unsigned long long)c->slow_handshakes,
	       (unsigned long long)c->slow_replies);
	if (c->first_errno)
		fprintf(stderr, "connrate: first error: %s\n", strerror(c->first_errno));
	return c->ok > 0 && c->errors == 0 && c->timeouts == 0 ? 0 : 1;
}

static int client_main(int argc, char **argv)
{
	struct client c = { .concurrency = 32 };
	uint32_t count = 10000, seconds = 5, i;
	uint16_t port;
	int opt, ret;

	if (argc < 3 || port_parse(argv[2], &port) < 0) {
		fprintf(stderr, "connrate: connect needs ADDR and a PORT from 1 to 65535\n");
		return usage();
	}
	if (parse_dst(argv[1], port, &c) < 0) {
		fprintf(stderr, "connrate: '%s' is not an IPv4 or IPv6 address\n", argv[1]);
		return 2;
	}
	optind = 3;
	while ((opt = getopt(argc, argv, "n:c:t:")) != -1) {
		if ((opt == 'n' && u32_parse(optarg, 1, 100000000, &count) < 0) ||
		    (opt == 'c' && u32_parse(optarg, 1, MAX_CONCURRENCY, &c.concurrency) < 0) ||
		    (opt == 't' && u32_parse(optarg, 1, 3600, &seconds) < 0) ||
		    opt == '?') {
			fprintf(stderr, "connrate: bad value for -%c (-n 1..100000000, "
					"-c 1..%d, -t 1..3600)\n", optopt ? optopt : opt,
				MAX_CONCURRENCY);
			return 2;
		}
	}
	c.conns = calloc(c.concurrency, sizeof(*c.conns));
	c.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!c.conns || c.ep < 0) {
		fprintf(stderr, "connrate: %s\n", strerror(errno));
		free(c.conns);
		return 1;
	}
	for (i = 0; i < c.concurrency; i++)
		c.conns[i].fd = -1;
	ret = run_client(&c, count, seconds);
	close(c.ep);
	free(c.conns);
	return ret;
}

static int server_main(int argc, char **argv)
{
	uint32_t seconds = 60;
	uint16_t port = 80;
	int opt;

	optind = 1;
	while ((opt = getopt(argc, argv, "p:t:")) != -1) {
		if ((opt == 'p' && port_parse(optarg, &port) < 0) ||
		    (opt == 't' && u32_parse(optarg, 1, 3600, &seconds) < 0) || opt == '?') {
			fprintf(stderr, "connrate: bad value for -%c (-p 1..65535, -t 1..3600)\n",
				optopt ? optopt : opt);
			return 2;
		}
	}
	return serve(port, seconds);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "serve"))
		return server_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "connect"))
		return client_main(argc - 1, argv + 1);
	return usage();
}
