// SPDX-License-Identifier: GPL-2.0
/*
 * A paced HTTP/1.1 client loop for the demo and e2e tests: one line per request, so a script
 * can count what happened in any time window (before, during and after a change).
 *
 *   reqloop -a ADDR:PORT -p PATH[,PATH]... [-r RATE] [-d SECONDS] [-k CONNS] [-t MS]
 *           [-s STOPFILE] [-H "NAME: VALUE"]... [-i PREFIX]
 *
 * GET requests rotate over the PATHs at RATE per second (default 100) until SECONDS have passed
 * (default 60; at most RATE x SECONDS requests) or STOPFILE exists. Without -k every request opens a new TCP connection
 * (Connection: close), so an L4 balancer sees a new flow each time. With -k CONNS the requests
 * rotate over CONNS keep-alive connections opened at the start; a connection the server closed
 * before answering is reopened and the request retried once, as browsers and HTTP libraries
 * do (the line's CONN then ends in "+"). Every wait is bounded by -t MS (default 2000).
 *
 * Output, one line per request when it ends, flushed:
 *   START_MS CONN PATH STATUS NAME      (NAME: the "name" field of a JSON answer, or "-")
 *   START_MS CONN PATH fail CAUSE       (refused, reset, timeout, closed, unreachable, ...)
 * START_MS is when the request began (epoch milliseconds), so a request that hangs until its
 * timeout is counted in the time window it started in.
 * CONN is "new" or "kN" (keep-alive connection N). A last line "# done N requests" ends it.
 * -H adds a header line to every request (an API key for a policy, say).
 * -i PREFIX sends "X-Request-Id: PREFIX-N" with request N (0, 1, ...), which the gateway's
 * access log records, and ends every line with " ms=ELAPSED id=PREFIX-N": ELAPSED is how long
 * the request took in milliseconds, on the monotonic clock (until its answer or its failure).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
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

#define MAX_PATHS 16
#define MAX_CONNS 64
#define RESP_MAX (256 * 1024)

static struct sockaddr_storage target;
static socklen_t target_len;
static char host[128];
static int timeout_ms = 2000;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *cause_of(int err)
{
	switch (err) {
	case ECONNREFUSED: return "refused";
	case ECONNRESET: case EPIPE: return "reset";
	case EAGAIN: case ETIMEDOUT: case EINPROGRESS: return "timeout";
	case EHOSTUNREACH: case ENETUNREACH: return "unreachable";
	default: return strerror(err);
	}
}

/* Parses ADDR:PORT or [V6]:PORT into target and the Host header value; 0 or -1. */
static int parse_target(const char *s)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&target;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&target;
	const char *colon = strrchr(s, ':');
	char addr[INET6_ADDRSTRLEN + 2];
	size_t n;
	long port;

	if (!colon || colon == s)
		return -1;
	port = strtol(colon + 1, NULL, 10);
	n = colon - s;
	if (port < 1 || port > 65535 || n >= sizeof(addr))
		return -1;
	memcpy(addr, s, n);
	addr[n] = 0;
	snprintf(host, sizeof(host), "%s", s);
	memset(&target, 0, sizeof(target));
	if (addr[0] == '[' && addr[n - 1] == ']') {
		addr[n - 1] = 0;
		if (inet_pton(AF_INET6, addr + 1, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		target_len = sizeof(*s6);
		return 0;
	}
	if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
		return -1;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	target_len = sizeof(*s4);
	return 0;
}

/* A connected socket with bounded I/O, or -1 with errno set. */
static int conn_open(void)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int fd = socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, err;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&target, target_len)) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* The JSON "name" field of body (first occurrence), or "-". */
static void name_of(const char *body, size_t len, char *out, size_t cap)
{
	const char *p = memmem(body, len, "\"name\":\"", 8), *e;

	snprintf(out, cap, "-");
	if (!p)
		return;
	p += 8;
	e = memchr(p, '"', body + len - p);
	if (e && (size_t)(e - p) < cap && e > p)
		snprintf(out, cap, "%.*s", (int)(e - p), p);
}

/* Whether buf[0..len) holds a complete chunked body. */
static bool chunked_done(const char *buf, size_t len)
{
	size_t off = 0;

	for (;;) {
		char *end;
		unsigned long n;
		const char *crlf = memmem(buf + off, len - off, "\r\n", 2);

		if (!crlf)
			return false;
		n = strtoul(buf + off, &end, 16);
		off = crlf - buf + 2;
		if (n == 0)
			return memmem(buf + off - 2, len - off + 2, "\r\n\r\n", 4) != NULL;
		if (off + n + 2 > len)
			return false;
		off += n + 2;
	}
}

/*
 * Sends one GET on fd and reads the answer. Returns the status (> 0); 0 when the connection
 * was closed before any byte of an answer (retry on a new connection); -1 on other errors
 * with errno set. *keep: the connection may carry another request. name: the answer's name.
 */
static char extra_headers[1024];	/* -H lines, each ending in CRLF */

static char id_prefix[64];	/* -i */
static char cur_id[96];		/* X-Request-Id of the request in progress (with -i) */

static int request(int fd, const char *path, bool close_after, bool *keep, char *name,
		   size_t namecap)
{
	static char buf[RESP_MAX];
	char req[2048], idh[128] = "";
	size_t len = 0;
	int n;

	*keep = false;
	if (cur_id[0])
		snprintf(idh, sizeof(idh), "X-Request-Id: %s\r\n", cur_id);
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: reqloop\r\n%s%s%s\r\n", path, host,
		     extra_headers, idh, close_after ? "Connection: close\r\n" : "");
	if (send(fd, req, n, MSG_NOSIGNAL) != n)
		return errno == EPIPE || errno == ECONNRESET ? 0 : -1;
	for (;;) {
		struct phr_header h[64];
		size_t nh = 64, msg_len, clen = (size_t)-1;
		const char *msg;
		int minor, status, hl;
		bool chunked = false, conn_close = close_after;
		ssize_t r = recv(fd, buf + len, sizeof(buf) - len, 0);

		if (r == 0 && len == 0)
			return 0;
		if (r < 0 && len == 0 && errno == ECONNRESET)
			return 0;
		if (r <= 0) {
			if (r == 0)
				errno = EPROTO;
			return -1;
		}
		len += r;
		hl = phr_parse_response(buf, len, &minor, &status, &msg, &msg_len, h, &nh, 0);
		if (hl == -2 && len < sizeof(buf))
			continue;
		if (hl < 0) {
			errno = EPROTO;
			return -1;
		}
		for (size_t i = 0; i < nh; i++) {
			if (h[i].name_len == 14 && !strncasecmp(h[i].name, "content-length", 14))
				clen = strtoul(h[i].value, NULL, 10);
			else if (h[i].name_len == 17 &&
				 !strncasecmp(h[i].name, "transfer-encoding", 17))
				chunked = h[i].value_len >= 7 && !strncasecmp(h[i].value, "chunked", 7);
			else if (h[i].name_len == 10 && !strncasecmp(h[i].name, "connection", 10) &&
				 !strncasecmp(h[i].value, "close", 5))
				conn_close = true;
		}
		/* Read the rest of the body: by length, chunks, or until the server closes. */
		for (;;) {
			if (clen != (size_t)-1 && len >= hl + clen)
				break;
			if (chunked && chunked_done(buf + hl, len - hl))
				break;
			if (len == sizeof(buf)) {
				errno = EMSGSIZE;
				return -1;
			}
			r = recv(fd, buf + len, sizeof(buf) - len, 0);
			if (r == 0 && clen == (size_t)-1 && !chunked) {
				conn_close = true;
				break;
			}
			if (r <= 0) {
				if (r == 0)
					errno = EPROTO;
				return -1;
			}
			len += r;
		}
		name_of(buf + hl, len - hl, name, namecap);
		*keep = !conn_close;
		return status;
	}
}

/* Ends a request's line: with -i, its duration (monotonic clock) and X-Request-Id. */
static void line_end(double start)
{
	if (cur_id[0])
		printf(" ms=%.0f id=%s", (now_s() - start) * 1000, cur_id);
	putchar('\n');
}

/* One request on a new connection: prints its line. */
static void once_new(const char *path)
{
	long long t = epoch_ms();
	double t0 = now_s();
	char name[64];
	bool keep;
	int fd = conn_open(), st;

	if (fd < 0) {
		printf("%lld new %s fail %s", t, path, cause_of(errno));
		line_end(t0);
		return;
	}
	st = request(fd, path, true, &keep, name, sizeof(name));
	if (st > 0)
		printf("%lld new %s %d %s", t, path, st, name);
	else
		printf("%lld new %s fail %s", t, path, st == 0 ? "closed" : cause_of(errno));
	line_end(t0);
	close(fd);
}

/*
 * One request on keep-alive connection i (opened on first use, reopened when needed): prints
 * its line. opened[i]: whether it was opened before (so a new socket is a reopening).
 */
static void once_kept(int *fds, bool *opened, int i, const char *path)
{
	char name[64];
	bool keep = false, reopened = false, fresh = fds[i] < 0;
	long long t = epoch_ms();
	double t0 = now_s();
	int st;

	if (fds[i] < 0) {
		fds[i] = conn_open();
		reopened = opened[i];
		opened[i] = true;
		if (fds[i] < 0) {
			printf("%lld k%d+ %s fail %s", t, i, path, cause_of(errno));
			line_end(t0);
			return;
		}
	}
	st = request(fds[i], path, false, &keep, name, sizeof(name));
	if (st == 0 && !fresh) {
		close(fds[i]);
		reopened = true;
		fds[i] = conn_open();
		st = fds[i] < 0 ? -1 : request(fds[i], path, false, &keep, name, sizeof(name));
	}
	if (st > 0)
		printf("%lld k%d%s %s %d %s", t, i, reopened ? "+" : "", path, st, name);
	else
		printf("%lld k%d%s %s fail %s", t, i, reopened ? "+" : "", path,
		       st == 0 ? "closed" : cause_of(errno));
	line_end(t0);
	if (!keep && fds[i] >= 0) {
		close(fds[i]);
		fds[i] = -1;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: reqloop -a ADDR:PORT -p PATH[,PATH]... [-r RATE] [-d SECONDS] "
			"[-k CONNS] [-t MS] [-s STOPFILE] [-H \"NAME: VALUE\"]... [-i PREFIX]\n");
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *stop_file = NULL;
	char *paths[MAX_PATHS], pathbuf[1024] = "/";
	int npaths = 0, conns = 0, fds[MAX_CONNS], c, i;
	bool opened[MAX_CONNS] = { false };
	double rate = 100, secs = 60, start;
	long n = 0;

	while ((c = getopt(argc, argv, "a:p:r:d:k:t:s:H:i:")) != -1) {
		switch (c) {
		case 'H':
			if (strlen(extra_headers) + strlen(optarg) + 3 > sizeof(extra_headers) ||
			    strpbrk(optarg, "\r\n")) {
				fprintf(stderr, "reqloop: -H: too long or with a line break\n");
				return 2;
			}
			strcat(extra_headers, optarg);
			strcat(extra_headers, "\r\n");
			break;
		case 'i':
			if (strlen(optarg) >= sizeof(id_prefix) || !*optarg ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789-_.:") != strlen(optarg)) {
				fprintf(stderr, "reqloop: -i: 1-63 of A-Z a-z 0-9 - _ . :\n");
				return 2;
			}
			snprintf(id_prefix, sizeof(id_prefix), "%s", optarg);
			break;
		case 'a': addr = optarg; break;
		case 'p': snprintf(pathbuf, sizeof(pathbuf), "%s", optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'k': conns = atoi(optarg); break;
		case 't': timeout_ms = atoi(optarg); break;
		case 's': stop_file = optarg; break;
		default: usage(); return 2;
		}
	}
	if (!addr || parse_target(addr)) {
		fprintf(stderr, "Error: -a wants ADDR:PORT or [V6]:PORT\n");
		return 2;
	}
	if (rate <= 0 || rate > 10000 || secs <= 0 || secs > 3600 || conns < 0 ||
	    conns > MAX_CONNS || timeout_ms < 10 || timeout_ms > 60000) {
		fprintf(stderr, "Error: -r 0-10000, -d 0-3600, -k 0-%d, -t 10-60000\n", MAX_CONNS);
		return 2;
	}
	for (char *save = NULL, *t = strtok_r(pathbuf, ",", &save); t && npaths < MAX_PATHS;
	     t = strtok_r(NULL, ",", &save))
		paths[npaths++] = t;
	if (!npaths || paths[0][0] != '/') {
		fprintf(stderr, "Error: -p wants paths starting with /\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < conns; i++)
		fds[i] = -1;
	start = now_s();
	while (!stop && now_s() - start < secs && n < rate * secs) {
		double due = start + n / rate, wait = due - now_s();

		if (wait > 0)
			usleep(wait * 1e6);
		if (stop_file && n % 10 == 0 && access(stop_file, F_OK) == 0)
			break;
		if (id_prefix[0])
			snprintf(cur_id, sizeof(cur_id), "%s-%ld", id_prefix, n);
		if (conns)
			once_kept(fds, opened, n % conns, paths[(n + n / conns) % npaths]);
		else
			once_new(paths[n % npaths]);
		n++;
	}
	for (i = 0; i < conns; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	printf("# done %ld requests\n", n);
	return 0;
}
