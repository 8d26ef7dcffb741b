// SPDX-License-Identifier: GPL-2.0
/*
 * A tiny configurable HTTP/1.1 upstream for tests and the demo: by default it answers every
 * request with a JSON echo of what it received (its name, method, path, headers, body length).
 *
 *   upstream --listen ADDR:PORT [--name NAME] [--status N] [--body TEXT] [--delay-ms N]
 *            [--close-after N] [--chunked] [--health-status N]
 *
 * --body sends TEXT instead of the echo; --close-after closes each connection after N
 * responses (with Connection: close on the last); --health-status answers GET /health with N;
 * --chunked uses Transfer-Encoding: chunked. One thread per connection; stops on SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct phr_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
		      const char **path, size_t *path_len, int *minor_version,
		      struct phr_header *headers, size_t *num_headers, size_t last_len);

static const char *opt_name = "upstream";
static int opt_status = 200, opt_health = 200, opt_delay_ms, opt_close_after;
static const char *opt_body;
static bool opt_chunked;

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
			size_t pl, struct phr_header *h, size_t nh, size_t body_len)
{
	char *p = out, num[32];
	size_t left = cap;

	put(&p, &left, "{\"name\":");
	json_str(&p, &left, opt_name, strlen(opt_name));
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

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg, served = 0;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap), *body = malloc(1 << 16), *resp = malloc(1 << 17);

	while (buf && body && resp) {
		struct phr_header h[100];
		size_t nh = 100, ml, pl, clen = 0, need, blen;
		const char *method, *path;
		int minor, hl = -2, status;
		bool close_after = false;
		char head[512];

		while ((hl = phr_parse_request(buf, len, &method, &ml, &path, &pl, &minor, h, &nh, 0)) ==
		       -2) {
			ssize_t r;

			nh = 100;
			if (len == cap)
				goto out;
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
		if (opt_delay_ms)
			usleep(opt_delay_ms * 1000);
		status = opt_status;
		if (pl == 7 && !memcmp(path, "/health", 7))
			status = opt_health;
		if (opt_body) {
			blen = strlen(opt_body);
			if (blen > (1 << 16))
				blen = 1 << 16;
			memcpy(body, opt_body, blen);
		} else {
			blen = make_echo(body, 1 << 16, method, ml, path, pl, h, nh, clen);
		}
		served++;
		if (opt_close_after && served >= opt_close_after)
			close_after = true;
		if (opt_chunked) {
			int n = snprintf(head, sizeof(head),
					 "HTTP/1.1 %d X\r\ncontent-type: application/json\r\n"
					 "x-upstream: %s\r\ntransfer-encoding: chunked\r\n%s\r\n%zx\r\n",
					 status, opt_name, close_after ? "connection: close\r\n" : "",
					 blen);
			memcpy(resp, head, n);
			memcpy(resp + n, body, blen);
			memcpy(resp + n + blen, "\r\n0\r\n\r\n", 7);
			if (!write_all(fd, resp, n + blen + (blen ? 7 : 5) - (blen ? 0 : 0)))
				goto out;
		} else {
			int n = snprintf(head, sizeof(head),
					 "HTTP/1.1 %d X\r\ncontent-type: %s\r\nx-upstream: %s\r\n"
					 "content-length: %zu\r\n%s\r\n",
					 status, opt_body ? "text/plain" : "application/json", opt_name,
					 blen, close_after ? "connection: close\r\n" : "");
			memcpy(resp, head, n);
			memcpy(resp + n, body, blen);
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
		{},
	};
	const char *listen_spec = NULL;
	int c, lfd;

	while ((c = getopt_long(argc, argv, "l:n:s:b:d:c:CH:", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_spec = optarg; break;
		case 'n': opt_name = optarg; break;
		case 's': opt_status = atoi(optarg); break;
		case 'b': opt_body = optarg; break;
		case 'd': opt_delay_ms = atoi(optarg); break;
		case 'c': opt_close_after = atoi(optarg); break;
		case 'C': opt_chunked = true; break;
		case 'H': opt_health = atoi(optarg); break;
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
