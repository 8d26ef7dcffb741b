// SPDX-License-Identifier: GPL-2.0
/*
 * A bounded HTTP/1.1 load client for tests: C keep-alive connections send N requests in total
 * (or stop after D seconds) and it prints one line:
 *   requests=N ok=N non2xx=N errors=N reconnects=N
 * An "error" is a request that got no complete response. Like real clients, a request whose
 * reused keep-alive connection was closed before any response byte is retried once on a new
 * connection (counted in reconnects, not errors).
 *
 *   httpload -a ADDR:PORT [-H HOST] [-p PATH] [-c CONNS] [-n TOTAL] [-d SECONDS] [-s STOPFILE]
 * -s: stop early once STOPFILE exists.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lib/picohttpparser.h"

static struct sockaddr_storage target;
static socklen_t target_len;
static char reqbuf[1024];
static size_t reqlen;
static atomic_long remaining, n_ok, n_non2xx, n_err, n_reconn, n_req;
static double deadline;
static const char *stop_file;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int conn_open(void)
{
	int fd = socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct timeval tv = { 5, 0 };

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (void *)&target, target_len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Returns status (>0), 0 when closed before any byte, -1 on other errors. *keep: reusable. */
static int one_request(int fd, bool *keep)
{
	char buf[65536];
	size_t len = 0;

	if (write(fd, reqbuf, reqlen) != (ssize_t)reqlen)
		return 0;
	for (;;) {
		struct phr_header h[64];
		size_t nh = 64, msg_len, clen = SIZE_MAX;
		const char *msg;
		int minor, status, hl;
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);

		if (r <= 0)
			return len == 0 ? 0 : -1;
		len += r;
		hl = phr_parse_response(buf, len, &minor, &status, &msg, &msg_len, h, &nh, 0);
		if (hl == -2)
			continue;
		if (hl < 0)
			return -1;
		*keep = true;
		for (size_t i = 0; i < nh; i++) {
			if (h[i].name_len == 14 && !strncasecmp(h[i].name, "content-length", 14))
				clen = strtoul(h[i].value, NULL, 10);
			if (h[i].name_len == 10 && !strncasecmp(h[i].name, "connection", 10) &&
			    !strncasecmp(h[i].value, "close", 5))
				*keep = false;
		}
		if (clen == SIZE_MAX)
			return -1;	/* the gateway always sends a length for these tests */
		while (len < hl + clen) {
			size_t want = hl + clen - len;

			if (want > sizeof(buf))
				want = sizeof(buf);
			r = read(fd, buf, want);
			if (r <= 0)
				return -1;
			len += r;
		}
		return status;
	}
}

static void *worker(void *arg)
{
	int fd = -1;
	bool reused = false;

	long i = 0;

	while (atomic_fetch_sub(&remaining, 1) > 0 && now_s() < deadline) {
		bool keep = false;
		int st;

		if (stop_file && ++i % 50 == 0 && access(stop_file, F_OK) == 0)
			break;
		if (fd < 0) {
			fd = conn_open();
			reused = false;
			if (fd < 0) {
				atomic_fetch_add(&n_err, 1);
				atomic_fetch_add(&n_req, 1);
				usleep(10000);
				continue;
			}
		}
		st = one_request(fd, &keep);
		if (st == 0 && reused) {
			close(fd);
			atomic_fetch_add(&n_reconn, 1);
			fd = conn_open();
			reused = false;
			st = fd < 0 ? -1 : one_request(fd, &keep);
		}
		atomic_fetch_add(&n_req, 1);
		if (st >= 200 && st < 300)
			atomic_fetch_add(&n_ok, 1);
		else if (st > 0)
			atomic_fetch_add(&n_non2xx, 1);
		else
			atomic_fetch_add(&n_err, 1);
		if (st <= 0 || !keep) {
			if (fd >= 0)
				close(fd);
			fd = -1;
		} else {
			reused = true;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *host = "test", *path = "/";
	int conns = 4, c;
	long total = 1000;
	double secs = 30;
	pthread_t th[256];
	char hostpart[128];
	const char *colon;

	while ((c = getopt(argc, argv, "a:H:p:c:n:d:s:")) != -1) {
		switch (c) {
		case 's': stop_file = optarg; break;
		case 'a': addr = optarg; break;
		case 'H': host = optarg; break;
		case 'p': path = optarg; break;
		case 'c': conns = atoi(optarg); break;
		case 'n': total = atol(optarg); break;
		case 'd': secs = atof(optarg); break;
		default:
			fprintf(stderr, "usage: httpload -a ADDR:PORT [-H HOST] [-p PATH] [-c N] [-n N] [-d S]\n");
			return 2;
		}
	}
	if (!addr || conns < 1 || conns > 256 || !(colon = strrchr(addr, ':'))) {
		fprintf(stderr, "Error: -a ADDR:PORT is required; 1-256 connections\n");
		return 2;
	}
	snprintf(hostpart, sizeof(hostpart), "%.*s", (int)(colon - addr), addr);
	if (hostpart[0] == '[') {
		struct sockaddr_in6 *s6 = (void *)&target;

		hostpart[strlen(hostpart) - 1] = 0;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(atoi(colon + 1));
		inet_pton(AF_INET6, hostpart + 1, &s6->sin6_addr);
		target_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)&target;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(atoi(colon + 1));
		inet_pton(AF_INET, hostpart, &s4->sin_addr);
		target_len = sizeof(*s4);
	}
	reqlen = snprintf(reqbuf, sizeof(reqbuf), "GET %s HTTP/1.1\r\nhost: %s\r\n\r\n", path, host);
	atomic_store(&remaining, total);
	deadline = now_s() + secs;
	for (c = 0; c < conns; c++)
		pthread_create(&th[c], NULL, worker, NULL);
	for (c = 0; c < conns; c++)
		pthread_join(th[c], NULL);
	printf("requests=%ld ok=%ld non2xx=%ld errors=%ld reconnects=%ld\n", atomic_load(&n_req),
	       atomic_load(&n_ok), atomic_load(&n_non2xx), atomic_load(&n_err),
	       atomic_load(&n_reconn));
	return 0;
}
