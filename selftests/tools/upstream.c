// SPDX-License-Identifier: GPL-2.0
/*
 * A tiny configurable HTTP/1.1 upstream for tests and the demo: by default it answers every
 * request with a JSON echo of what it received (its name, a serial number, method, path,
 * headers, body length).
 *
 *   upstream --listen ADDR:PORT [--name NAME] [--status N] [--body TEXT] [--body-file FILE]
 *            [--content-type TYPE] [--header "Name: value"]... [--gzip] [--delay-ms N]
 *            [--close-after N] [--chunked] [--health-status N] [--health-file FILE]
 *            [--drop] [--silent-close-after N] [--idle-close-ms N]
 *
 * --body sends TEXT instead of the echo; --close-after closes each connection after N
 * responses (with Connection: close on the last); --health-status answers GET /health with N;
 * --health-file answers GET /health with the status written in FILE, read on each request (so a
 * test can flip it while the server runs; 200 while FILE is missing or empty);
 * --chunked uses Transfer-Encoding: chunked; --gzip compresses every body (Content-Encoding:
 * gzip, whatever the request accepts). Failures for retry tests: --drop reads each request and
 * closes the connection without answering (an instance that accepted and died); --silent-close-
 * after N answers N requests per connection, then closes it without answering when the next
 * request arrives (a keep-alive connection the server closed as the request came in: the stale
 * race made certain); --idle-close-ms N closes a connection idle that long between requests
 * (a keep-alive timeout shorter than the client's). One thread per connection; stops on SIGTERM.
 *
 * Query parameters starting with "_" change one response: _status=N, _delay_ms=N,
 * _h=Name:value (an extra header, repeatable), _body=TEXT, _ct=CONTENT_TYPE, _gzip=1, _drop=1
 * (close without answering), _partial=1 (close after half a response head). While delaying, a
 * client that closes its connection is noticed and counted as aborted. GET /_stats answers
 * {"requests": N, "aborted": N, "dropped": N} (itself not counted; dropped requests count in
 * both).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/picohttpparser.h"

static const char *opt_name = "upstream";
static int opt_status = 200, opt_health = 200, opt_delay_ms, opt_close_after;
static int opt_silent_close_after, opt_idle_close_ms;
static bool opt_drop;
static const char *opt_body, *opt_content_type, *opt_health_file;
static char *opt_body_file;
static size_t opt_body_file_len;
static bool opt_chunked, opt_gzip;
static char opt_headers[4096];
static size_t opt_headers_len;
static unsigned long n_requests, n_aborted, n_dropped;

#define MAX_BODY (16u << 20)

/* The status in --health-file: 200 when it is missing, empty or not a status. */
static int health_from_file(void)
{
	FILE *f = fopen(opt_health_file, "r");
	int st = 0;

	if (f) {
		if (fscanf(f, "%d", &st) != 1)
			st = 0;
		fclose(f);
	}
	return st >= 100 && st <= 599 ? st : 200;
}

static void json_str(char **p, size_t *left, const char *s, size_t n)
{
	size_t o = 0;

	if (*left < 2)
		return;
	(*p)[o++] = '"';
	for (size_t i = 0; i < n && o + 8 < *left; i++) {
		unsigned char ch = s[i];

		if (ch == '"' || ch == '\\') {
			(*p)[o++] = '\\';
			(*p)[o++] = ch;
		} else if (ch < 0x20) {
			o += snprintf(*p + o, *left - o, "\\u%04x", ch);
		} else {
			(*p)[o++] = ch;
		}
	}
	(*p)[o++] = '"';
	*p += o;
	*left -= o;
}

static void put(char **p, size_t *left, const char *s)
{
	size_t n = strlen(s);

	if (n >= *left)
		n = *left - 1;
	memcpy(*p, s, n);
	*p += n;
	*left -= n;
}

static size_t make_echo(char *out, size_t cap, const char *method, size_t ml, const char *path,
			size_t pl, struct phr_header *h, size_t nh, size_t body_len, unsigned long seq)
{
	char *p = out, num[32];
	size_t left = cap;

	put(&p, &left, "{\"name\":");
	json_str(&p, &left, opt_name, strlen(opt_name));
	snprintf(num, sizeof(num), ",\"seq\":%lu", seq);
	put(&p, &left, num);
	put(&p, &left, ",\"method\":");
	json_str(&p, &left, method, ml);
	put(&p, &left, ",\"path\":");
	json_str(&p, &left, path, pl);
	put(&p, &left, ",\"headers\":{");
	for (size_t i = 0; i < nh; i++) {
		char lname[256];
		size_t n = h[i].name_len < sizeof(lname) ? h[i].name_len : sizeof(lname) - 1;

		for (size_t j = 0; j < n; j++)
			lname[j] = (h[i].name[j] >= 'A' && h[i].name[j] <= 'Z') ? h[i].name[j] + 32
										   : h[i].name[j];
		if (i)
			put(&p, &left, ",");
		json_str(&p, &left, lname, n);
		put(&p, &left, ":");
		json_str(&p, &left, h[i].value, h[i].value_len);
	}
	snprintf(num, sizeof(num), "},\"body_len\":%zu}\n", body_len);
	put(&p, &left, num);
	return p - out;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= w;
	}
	return true;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if ((ch | 32) >= 'a' && (ch | 32) <= 'f')
		return (ch | 32) - 'a' + 10;
	return -1;
}

/*
 * The value of query parameter name in path[0..pl), percent-decoded into buf; the (n+1)th
 * occurrence with skip = n. Returns its length, or -1 when absent.
 */
static long qparam(const char *path, size_t pl, const char *name, int skip, char *buf, size_t cap)
{
	const char *q = memchr(path, '?', pl), *end = path + pl;
	size_t nl = strlen(name);

	while (q && q < end) {
		const char *s = q + 1, *e = s;
		size_t o = 0;

		while (e < end && *e != '&')
			e++;
		if ((size_t)(e - s) > nl && !memcmp(s, name, nl) && s[nl] == '=' && skip-- == 0) {
			for (const char *x = s + nl + 1; x < e && o + 1 < cap; x++) {
				if (*x == '%' && x + 2 < e && hexval(x[1]) >= 0 && hexval(x[2]) >= 0) {
					buf[o++] = hexval(x[1]) * 16 + hexval(x[2]);
					x += 2;
				} else {
					buf[o++] = *x == '+' ? ' ' : *x;
				}
			}
			buf[o] = 0;
			return (long)o;
		}
		q = e;
	}
	return -1;
}

/* Waits up to ms for fd to have input (or EOF); returns false when it has none by then. */
static bool wait_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n;

	while ((n = poll(&pfd, 1, ms)) < 0 && errno == EINTR)
		;
	return n > 0;
}

/* Sleeps ms unless the client closes first; returns false when it did. */
static bool wait_or_abort(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };

	if (poll(&pfd, 1, ms) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
		__atomic_fetch_add(&n_aborted, 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

/* gzip of in[0..len) into out (cap bytes); returns the length or 0. */
static size_t gzip(const char *in, size_t len, char *out, size_t cap)
{
	z_stream zs = { 0 };
	size_t n = 0;

	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = cap;
	if (deflate(&zs, Z_FINISH) == Z_STREAM_END)
		n = zs.total_out;
	deflateEnd(&zs);
	return n;
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg, served = 0;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap), *body = malloc(MAX_BODY), *resp = malloc(MAX_BODY + 8192);
	char *gz = malloc(MAX_BODY + 1024), extra[4096], val[2048];

	while (buf && body && resp && gz) {
		struct phr_header h[100];
		size_t nh = 100, ml, pl, clen = 0, need, blen;
		const char *method, *path;
		int minor, hl = -2, status, n;
		bool close_after = false, do_gzip = opt_gzip;
		char head[8192];
		size_t extra_len = 0;
		unsigned long seq;
		const char *out, *ctype;
		char ctbuf[256];
		long vl;
		int delay = opt_delay_ms;

		while ((hl = phr_parse_request(buf, len, &method, &ml, &path, &pl, &minor, h, &nh, 0)) ==
		       -2) {
			ssize_t r;

			nh = 100;
			if (len == cap)
				goto out;
			if (len == 0 && opt_idle_close_ms && !wait_readable(fd, opt_idle_close_ms))
				goto out;	/* idle too long between requests */
			r = read(fd, buf + len, cap - len);
			if (r <= 0)
				goto out;
			len += r;
		}
		if (hl < 0)
			goto out;
		for (size_t i = 0; i < nh; i++) {
			if (h[i].name_len == 14 && !strncasecmp(h[i].name, "content-length", 14))
				clen = strtoul(h[i].value, NULL, 10);
			if (h[i].name_len == 10 && !strncasecmp(h[i].name, "connection", 10) &&
			    h[i].value_len == 5 && !strncasecmp(h[i].value, "close", 5))
				close_after = true;
		}
		need = hl + clen;
		if (need > cap)
			goto out;
		while (len < need) {
			ssize_t r = read(fd, buf + len, cap - len);

			if (r <= 0)
				goto out;
			len += r;
		}
		if (pl == 7 && !memcmp(path, "/_stats", 7)) {
			blen = snprintf(body, 256,
					"{\"requests\":%lu,\"aborted\":%lu,\"dropped\":%lu}\n",
					__atomic_load_n(&n_requests, __ATOMIC_RELAXED),
					__atomic_load_n(&n_aborted, __ATOMIC_RELAXED),
					__atomic_load_n(&n_dropped, __ATOMIC_RELAXED));
			n = snprintf(head, sizeof(head),
				     "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
				     "content-length: %zu\r\n\r\n", blen);
			if (!write_all(fd, head, n) || !write_all(fd, body, blen))
				goto out;
			memmove(buf, buf + need, len - need);
			len -= need;
			continue;
		}
		seq = __atomic_add_fetch(&n_requests, 1, __ATOMIC_RELAXED);
		if (opt_drop || (opt_silent_close_after && served >= opt_silent_close_after) ||
		    qparam(path, pl, "_drop", 0, val, sizeof(val)) > 0) {
			__atomic_add_fetch(&n_dropped, 1, __ATOMIC_RELAXED);
			goto out;
		}
		if (qparam(path, pl, "_partial", 0, val, sizeof(val)) > 0) {
			write_all(fd, "HTTP/1.1 200 OK\r\ncontent-", 26);
			goto out;
		}
		memcpy(extra, opt_headers, opt_headers_len);
		extra_len = opt_headers_len;
		if (qparam(path, pl, "_delay_ms", 0, val, sizeof(val)) > 0)
			delay = atoi(val);
		if (delay && !wait_or_abort(fd, delay))
			goto out;
		status = opt_status;
		if (pl == 7 && !memcmp(path, "/health", 7))
			status = opt_health_file ? health_from_file() : opt_health;
		if (qparam(path, pl, "_status", 0, val, sizeof(val)) > 0)
			status = atoi(val);
		ctype = opt_content_type ?: opt_body || opt_body_file ? "text/plain" : "application/json";
		if (qparam(path, pl, "_ct", 0, ctbuf, sizeof(ctbuf)) > 0)
			ctype = ctbuf;
		if (qparam(path, pl, "_gzip", 0, val, sizeof(val)) > 0)
			do_gzip = val[0] == '1';
		for (int k = 0; (vl = qparam(path, pl, "_h", k, val, sizeof(val))) >= 0; k++) {
			char *colon = memchr(val, ':', vl);

			if (!colon || extra_len + vl + 4 > sizeof(extra))
				continue;
			extra_len += snprintf(extra + extra_len, sizeof(extra) - extra_len,
					      "%.*s: %s\r\n", (int)(colon - val), val,
					      colon + 1 + (colon[1] == ' '));
		}
		if ((vl = qparam(path, pl, "_body", 0, val, sizeof(val))) >= 0) {
			blen = vl;
			memcpy(body, val, blen);
		} else if (opt_body_file) {
			blen = opt_body_file_len;
			memcpy(body, opt_body_file, blen);
		} else if (opt_body) {
			blen = strlen(opt_body);
			if (blen > MAX_BODY)
				blen = MAX_BODY;
			memcpy(body, opt_body, blen);
		} else {
			blen = make_echo(body, 1 << 16, method, ml, path, pl, h, nh, clen, seq);
		}
		out = body;
		if (do_gzip) {
			size_t zl = gzip(body, blen, gz, MAX_BODY + 1024);

			if (zl) {
				out = gz;
				blen = zl;
				memcpy(extra + extra_len, "content-encoding: gzip\r\n", 24);
				extra_len += 24;
			}
		}
		extra[extra_len] = 0;
		served++;
		if (opt_close_after && served >= opt_close_after)
			close_after = true;
		if (opt_chunked) {
			n = snprintf(head, sizeof(head),
				     "HTTP/1.1 %d X\r\ncontent-type: %s\r\n%s"
				     "x-upstream: %s\r\ntransfer-encoding: chunked\r\n%s\r\n%zx\r\n",
				     status, ctype, extra, opt_name,
				     close_after ? "connection: close\r\n" : "", blen);
			memcpy(resp, head, n);
			memcpy(resp + n, out, blen);
			memcpy(resp + n + blen, "\r\n0\r\n\r\n", 7);
			if (!write_all(fd, resp, n + blen + (blen ? 7 : 5) - (blen ? 0 : 0)))
				goto out;
		} else {
			n = snprintf(head, sizeof(head),
				     "HTTP/1.1 %d X\r\ncontent-type: %s\r\n%sx-upstream: %s\r\n"
				     "content-length: %zu\r\n%s\r\n",
				     status, ctype, extra, opt_name, blen,
				     close_after ? "connection: close\r\n" : "");
			memcpy(resp, head, n);
			memcpy(resp + n, out, blen);
			if (!write_all(fd, resp, n + blen))
				goto out;
		}
		memmove(buf, buf + need, len - need);
		len -= need;
		if (close_after)
			goto out;
	}
out:
	free(buf);
	free(body);
	free(resp);
	free(gz);
	close(fd);
	return NULL;
}

static int listen_on(const char *spec)
{
	struct sockaddr_storage ss = { 0 };
	char host[128];
	const char *colon = strrchr(spec, ':');
	socklen_t sl;
	int fd, one = 1, port;

	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return -1;
	memcpy(host, spec, colon - spec);
	host[colon - spec] = 0;
	port = atoi(colon + 1);
	if (host[0] == '[') {
		struct sockaddr_in6 *s6 = (void *)&ss;

		host[strlen(host) - 1] = 0;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -1;
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		sl = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (void *)&ss, sl) || listen(fd, 512)) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },
		{ "status", required_argument, NULL, 's' },
		{ "body", required_argument, NULL, 'b' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "close-after", required_argument, NULL, 'c' },
		{ "chunked", no_argument, NULL, 'C' },
		{ "health-status", required_argument, NULL, 'H' },
		{ "health-file", required_argument, NULL, 'F' },
		{ "body-file", required_argument, NULL, 'f' },
		{ "content-type", required_argument, NULL, 't' },
		{ "header", required_argument, NULL, 'h' },
		{ "gzip", no_argument, NULL, 'z' },
		{ "drop", no_argument, NULL, 'D' },
		{ "silent-close-after", required_argument, NULL, 'S' },
		{ "idle-close-ms", required_argument, NULL, 'I' },
		{},
	};
	const char *listen_spec = NULL;
	int c, lfd;

	while ((c = getopt_long(argc, argv, "l:n:s:b:d:c:CH:F:f:t:h:zDS:I:", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_spec = optarg; break;
		case 'n': opt_name = optarg; break;
		case 's': opt_status = atoi(optarg); break;
		case 'b': opt_body = optarg; break;
		case 'd': opt_delay_ms = atoi(optarg); break;
		case 'c': opt_close_after = atoi(optarg); break;
		case 'C': opt_chunked = true; break;
		case 'H': opt_health = atoi(optarg); break;
		case 'F': opt_health_file = optarg; break;
		case 't': opt_content_type = optarg; break;
		case 'z': opt_gzip = true; break;
		case 'D': opt_drop = true; break;
		case 'S': opt_silent_close_after = atoi(optarg); break;
		case 'I': opt_idle_close_ms = atoi(optarg); break;
		case 'h':
			if (opt_headers_len + strlen(optarg) + 3 > sizeof(opt_headers)) {
				fprintf(stderr, "Error: too many --header\n");
				return 2;
			}
			opt_headers_len += snprintf(opt_headers + opt_headers_len,
						    sizeof(opt_headers) - opt_headers_len, "%s\r\n",
						    optarg);
			break;
		case 'f': {
			FILE *f = fopen(optarg, "rb");

			opt_body_file = malloc(MAX_BODY);
			if (!f || !opt_body_file) {
				fprintf(stderr, "Error: cannot read %s\n", optarg);
				return 2;
			}
			opt_body_file_len = fread(opt_body_file, 1, MAX_BODY, f);
			fclose(f);
			break;
		}
		default:
			fprintf(stderr, "usage: upstream --listen ADDR:PORT [options]\n");
			return 2;
		}
	}
	if (!listen_spec) {
		fprintf(stderr, "Error: --listen ADDR:PORT is required\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(listen_spec);
	if (lfd < 0) {
		fprintf(stderr, "Error: cannot listen on %s: %s\n", listen_spec, strerror(errno));
		return 1;
	}
	for (;;) {
		pthread_t th;
		pthread_attr_t attr;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), one = 1;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			return 1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 << 10);
		if (pthread_create(&th, &attr, serve, (void *)(intptr_t)fd))
			close(fd);
		pthread_attr_destroy(&attr);
	}
}
