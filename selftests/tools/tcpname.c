// SPDX-License-Identifier: GPL-2.0
/*
 * TCP name server and long-lived client for L4 tests: which backend serves each connection,
 * and do open connections keep working across changes.
 *
 *   tcpname serve PORT NAME
 *       answers every line received with "NAME\n"; IPv4 and IPv6; stops on SIGTERM.
 *   tcpname client ADDR PORT N [SPORT_BASE]
 *       opens N connections (source ports SPORT_BASE+i when given), prints "conn I NAME" for
 *       each, then "ready". Commands on stdin, one per line:
 *         ping   sends a line on every connection and prints
 *                "round R ok=X fail=Y" (plus "fail I CAUSE" per failed connection)
 *         quit   closes everything and exits (also on EOF)
 *   tcpname once ADDR PORT COUNT [SPORT_BASE]
 *       COUNT short connections, one line each; prints every backend name once per connection.
 * Every wait is bounded (2 s per connect or reply).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TIMEOUT_MS 2000
#define MAX_CONNS 1024

static int parse_sa(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}

/* Reads one line (without the newline) within TIMEOUT_MS; returns its length or -1. */
static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, TIMEOUT_MS) != 1)
			return -1;
		r = read(fd, buf + n, 1);
		if (r <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (int)n;
}

static int dial(const char *addr, int port, int sport, char *err, size_t errlen)
{
	struct sockaddr_storage ss, local;
	socklen_t len;
	struct pollfd p;
	int fd, one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (parse_sa(addr, port, &ss, &len)) {
		snprintf(err, errlen, "bad address %s", addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sport) {
		memset(&local, 0, sizeof(local));
		local.ss_family = ss.ss_family;
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&local)->sin_port = htons((uint16_t)sport);
		else
			((struct sockaddr_in6 *)&local)->sin6_port = htons((uint16_t)sport);
		if (bind(fd, (struct sockaddr *)&local, len)) {
			snprintf(err, errlen, "bind port %d: %s", sport, strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, TIMEOUT_MS) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) ||
	    soerr) {
		snprintf(err, errlen, "connect: %s", soerr ? strerror(soerr) : "timed out");
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends a line and reads the backend's name back. */
static int ask(int fd, char *name, size_t len)
{
	if (write(fd, "x\n", 2) != 2)
		return -1;
	return read_line(fd, name, len) > 0 ? 0 : -1;
}

static int run_client(const char *addr, int port, int n, int sport_base)
{
	static int fds[MAX_CONNS];
	char name[128], err[256], cmd[64];
	int round = 0;

	for (int i = 0; i < n; i++) {
		fds[i] = dial(addr, port, sport_base ? sport_base + i : 0, err, sizeof(err));
		if (fds[i] < 0 || ask(fds[i], name, sizeof(name))) {
			printf("conn %d FAIL %s\n", i, fds[i] < 0 ? err : "no answer");
			fds[i] = -1;
		} else {
			printf("conn %d %s\n", i, name);
		}
	}
	printf("ready\n");
	fflush(stdout);
	while (fgets(cmd, sizeof(cmd), stdin)) {
		int ok = 0, fail = 0;

		if (!strncmp(cmd, "quit", 4))
			break;
		if (strncmp(cmd, "ping", 4))
			continue;
		round++;
		for (int i = 0; i < n; i++) {
			if (fds[i] >= 0 && ask(fds[i], name, sizeof(name)) == 0) {
				ok++;
			} else {
				fail++;
				printf("fail %d %s\n", i, fds[i] < 0 ? "never connected" : "no answer");
			}
		}
		printf("round %d ok=%d fail=%d\n", round, ok, fail);
		fflush(stdout);
	}
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}

static int run_once(const char *addr, int port, int count, int sport_base)
{
	char name[128], err[256];
	int failed = 0;

	for (int i = 0; i < count; i++) {
		int fd = dial(addr, port, sport_base ? sport_base + i : 0, err, sizeof(err));

		if (fd < 0 || ask(fd, name, sizeof(name))) {
			printf("FAIL %s\n", fd < 0 ? err : "no answer");
			failed++;
		} else {
			printf("%s\n", name);
		}
		if (fd >= 0)
			close(fd);
	}
	fflush(stdout);
	return failed ? 1 : 0;
}

struct conn_arg {
	int fd;
	const char *name;
};

static void *serve_conn(void *p)
{
	struct conn_arg *a = p;
	char buf[256], reply[160];
	size_t n = 0;

	snprintf(reply, sizeof(reply), "%s\n", a->name);
	for (;;) {
		ssize_t r = read(a->fd, buf + n, sizeof(buf) - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		for (char *nl; (nl = memchr(buf, '\n', n));) {
			size_t used = (size_t)(nl - buf) + 1;

			if (write(a->fd, reply, strlen(reply)) < 0)
				goto out;
			memmove(buf, buf + used, n - used);
			n -= used;
		}
		if (n == sizeof(buf))
			n = 0;
	}
out:
	close(a->fd);
	free(a);
	return NULL;
}

static int run_server(int port, const char *name)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, zero = 0;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 512)) {
		fprintf(stderr, "tcpname: listen on port %d: %s\n", port, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		struct conn_arg *a;
		pthread_t t;

		if (c < 0)
			continue;
		a = malloc(sizeof(*a));
		a->fd = c;
		a->name = name;
		if (pthread_create(&t, NULL, serve_conn, a)) {
			close(c);
			free(a);
			continue;
		}
		pthread_detach(t);
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return run_server(atoi(argv[2]), argv[3]);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "client"))
		return run_client(argv[2], atoi(argv[3]), atoi(argv[4]) > MAX_CONNS ? MAX_CONNS
										   : atoi(argv[4]),
				  argc == 6 ? atoi(argv[5]) : 0);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "once"))
		return run_once(argv[2], atoi(argv[3]), atoi(argv[4]), argc == 6 ? atoi(argv[5]) : 0);
	fprintf(stderr, "usage: tcpname serve PORT NAME | client ADDR PORT N [SPORT_BASE] | once "
			"ADDR PORT COUNT [SPORT_BASE]\n");
	return 2;
}
