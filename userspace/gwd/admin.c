// SPDX-License-Identifier: GPL-2.0
/*
 * The admin API server: libh2o on gwd's main loop, listening on a unix socket (mode 0600) and,
 * when configured, on a TCP address (loopback unless allowed otherwise) where every request
 * must carry the admin token.
 */
#include "gwd/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gwd/state.h"
#include "lib/addr.h"
#include "lib/lb.h"
#include "lib/log.h"

#define ADMIN_TOKEN_MIN 16
#define ADMIN_TOKEN_MAX 4096

/*
 * One listening socket and its own connection budget: an unauthenticated TCP peer can fill the
 * TCP listener's, never the unix socket's (the operator's way in).
 */
struct admin_listener {
	struct admin_server *srv;
	const char *name;	/* "unix" or "tcp": the metrics label */
	h2o_socket_t *sock;	/* NULL when off */
	unsigned conns, max;
	bool paused;		/* at max: not reading the listener (peers wait in the backlog) */
	uint64_t limited;	/* times it reached max */
	time_t limit_logged;	/* logged at most once a second */
	unsigned limit_quiet;
};

struct admin_server {
	struct gwd *gwd;
	h2o_globalconf_t conf;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	struct admin_listener unix_l, tcp_l;
	h2o_socket_t *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	h2o_socket_t *tcp;	/* the TCP listener, NULL when off */
	bool stopped;
	char *token;		/* required on TCP: "Authorization: Bearer TOKEN" */
	size_t token_len;
	time_t refused_logged;	/* refusals are logged at most once a second */
	unsigned refused_quiet;
};

struct admin_handler {
	h2o_handler_t super;
	struct admin_server *srv;
};

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 503: return "Service Unavailable";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

static char *header_value(h2o_req_t *req, const char *name, size_t len)
{
	ssize_t i = h2o_find_header_by_str(&req->headers, name, len, -1);

	if (i < 0)
		return NULL;
	h2o_iovec_t v = req->headers.entries[i].value;

	return strndup(v.base, v.len);
}

/* "tcp 127.0.0.1:5555" for a request over TCP; false for the unix socket. */
static bool over_tcp(h2o_req_t *req, char *peer, size_t len)
{
	struct sockaddr_storage ss;
	struct endpoint ep = { 0 };
	char buf[ADDR_STRLEN];

	if (!req->conn->callbacks->get_sockname(req->conn, (struct sockaddr *)&ss) ||
	    ss.ss_family == AF_UNIX)
		return false;
	snprintf(peer, len, "tcp ?");
	if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss)) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

			ep.family = XG_AF_INET;
			ep.addr.v4 = sin->sin_addr.s_addr;
			ep.port = ntohs(sin->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

			ep.family = XG_AF_INET6;
			memcpy(ep.addr.bytes, &sin6->sin6_addr, 16);
			ep.port = ntohs(sin6->sin6_port);
		}
		if (ep.family) {
			ep.proto = IPPROTO_TCP;
			snprintf(peer, len, "tcp %s", endpoint_fmt(&ep, buf));
			*strrchr(peer, '/') = 0;	/* no "/tcp" */
		}
	}
	return true;
}

/* Over TCP the token is required, compared in constant time. */
static bool token_ok(struct admin_server *srv, h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	h2o_iovec_t v;

	if (i < 0 || !srv->token)
		return false;
	v = req->headers.entries[i].value;
	if (v.len != 7 + srv->token_len || strncasecmp(v.base, "Bearer ", 7))
		return false;
	return CRYPTO_memcmp(v.base + 7, srv->token, srv->token_len) == 0;
}

static void log_refused(struct admin_server *srv, const char *peer)
{
	time_t now = time(NULL);

	if (now == srv->refused_logged) {
		srv->refused_quiet++;
		return;
	}
	log_warn("admin API: refused a request without the right token from %s (%u more in the "
		 "last second)", peer, srv->refused_quiet);
	srv->refused_logged = now;
	srv->refused_quiet = 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct admin_server *srv = ((struct admin_handler *)self)->srv;
	char peer[ADDR_STRLEN + 8], who_tcp[ADDR_STRLEN + 140];
	bool tcp = over_tcp(req, peer, sizeof(peer));
	size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
	char *method = strndup(req->method.base, req->method.len);
	char *path = strndup(req->path.base, plen);
	char *query = req->query_at != SIZE_MAX
			      ? strndup(req->path.base + req->query_at + 1,
					req->path.len - req->query_at - 1)
			      : strdup("");
	char *who = header_value(req, H2O_STRLIT("x-xdpgw-who"));
	char *what = header_value(req, H2O_STRLIT("x-xdpgw-what"));
	char fallback[512];
	struct admin_req r = {
		.gwd = srv->gwd,
		.method = method,
		.path = path,
		.query = query,
		.body = req->entity.base,
		.body_len = req->entity.base ? req->entity.len : 0,
		.who = who ? who : "admin-api",
	};

	if (tcp) {	/* the peer is part of who; a client's name only adds to it */
		snprintf(who_tcp, sizeof(who_tcp), "%s%s%.120s", peer, who ? " " : "",
			 who ? who : "");
		r.who = who_tcp;
	}
	if (!method || !path || !query) {
		admin_reply_error(&r, 500, "out of memory");
	} else if (tcp && !token_ok(srv, req)) {
		log_refused(srv, peer);
		admin_reply_error(&r, 401, "this admin listener needs the admin token "
					   "(Authorization: Bearer TOKEN)");
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
			       H2O_STRLIT("Bearer realm=\"xdpgw\""));
	} else {
		snprintf(fallback, sizeof(fallback), "%s %s", method, path);
		r.what = what ? what : fallback;
		api_handle(&r);
	}
	req->res.status = r.status;
	req->res.reason = reason(r.status);
	req->res.content_length = r.resp_len;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       r.content_type, strlen(r.content_type));
	h2o_send_inline(req, r.resp, r.resp_len);
	free(r.resp);
	free(method);
	free(path);
	free(query);
	free(who);
	free(what);
	return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void limit_reached(struct admin_listener *l)
{
	time_t now = time(NULL);

	l->limited++;
	if (now == l->limit_logged) {
		l->limit_quiet++;
		return;
	}
	log_warn("admin API: the %s listener has %u connections open, its limit "
		 "(admin_max_connections): new ones wait until one closes (%u more times in the "
		 "last second)", l->name, l->conns, l->limit_quiet);
	l->limit_logged = now;
	l->limit_quiet = 0;
}

static void on_conn_close(void *data)
{
	struct admin_listener *l = data;

	l->conns--;
	if (l->paused && !l->srv->stopped && l->sock && l->conns < l->max) {
		l->paused = false;
		h2o_socket_read_start(l->sock, on_accept);
	}
}

/*
 * At its limit a listener stops reading (new peers wait in the kernel's backlog, no accept
 * loop spins), as the gateway's workers do; the next close resumes it.
 */
static void on_accept(h2o_socket_t *listener, const char *err)
{
	struct admin_listener *l = listener->data;
	h2o_socket_t *sock;

	if (err)
		return;
	for (int i = 0; i < 16; i++) {
		if (l->conns >= l->max) {
			limit_reached(l);
			l->paused = true;
			h2o_socket_read_stop(listener);
			return;
		}
		sock = h2o_evloop_socket_accept(listener);
		if (!sock)
			return;
		l->conns++;
		sock->on_close.cb = on_conn_close;
		sock->on_close.data = l;
		h2o_accept(&l->srv->accept_ctx, sock);
	}
}

void admin_metrics(struct gwd *gwd, FILE *f)
{
	struct admin_server *srv = gwd->admin;
	const struct admin_listener *ls[2];

	if (!srv)
		return;
	ls[0] = &srv->unix_l;
	ls[1] = &srv->tcp_l;
	fputs("# HELP xdpgw_admin_connections Open admin API connections per listener.\n"
	      "# TYPE xdpgw_admin_connections gauge\n", f);
	for (int i = 0; i < 2; i++)
		if (ls[i]->sock)
			fprintf(f, "xdpgw_admin_connections{listener=\"%s\"} %u\n", ls[i]->name,
				ls[i]->conns);
	fputs("# HELP xdpgw_admin_connection_limit_total Times an admin listener reached "
	      "admin_max_connections and left new connections waiting.\n"
	      "# TYPE xdpgw_admin_connection_limit_total counter\n", f);
	for (int i = 0; i < 2; i++)
		if (ls[i]->sock)
			fprintf(f, "xdpgw_admin_connection_limit_total{listener=\"%s\"} %llu\n",
				ls[i]->name, (unsigned long long)ls[i]->limited);
}

/* Refuses to replace a socket another gwd still serves; removes a stale one. */
static int claim_path(const char *path, struct gwd_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, live;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		return gwd_err_set(err, 500, "cannot use admin socket %s: %s", path,
				   strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return gwd_err_set(err, 500, "admin socket %s exists and is not a socket", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	live = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	if (live)
		return gwd_err_set(err, 500,
				   "another gwd is serving %s: stop it first or use --socket", path);
	unlink(path);
	return 0;
}

int admin_start(struct gwd *gwd, const char *path, struct gwd_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct admin_server *srv;
	struct admin_handler *h;
	h2o_hostconf_t *host;
	h2o_pathconf_t *pc;
	char dir[sizeof(sa.sun_path)];
	mode_t old_mask;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return gwd_err_set(err, 500, "admin socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');

	if (slash && slash != dir) {
		*slash = '\0';
		if (lb_mkdir_p(dir))
			return gwd_err_set(err, 500, "cannot create %s: %s", dir, strerror(errno));
	}
	if (claim_path(path, err))
		return -EINVAL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return gwd_err_set(err, 500, "socket: %s", strerror(errno));
	/* Created 0600 from the start: no window in which others could connect. */
	old_mask = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		int e = errno;

		umask(old_mask);
		close(fd);
		return gwd_err_set(err, 500, "cannot listen on admin socket %s: %s", path,
				   strerror(e));
	}
	umask(old_mask);
	chmod(path, 0600);

	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		close(fd);
		unlink(path);
		return gwd_err_set(err, 500, "out of memory");
	}
	srv->gwd = gwd;
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	h2o_config_init(&srv->conf);
	srv->conf.server_name = h2o_iovec_init(H2O_STRLIT("gwd"));
	srv->conf.max_request_entity_size = ADMIN_MAX_BODY;
	host = h2o_config_register_host(&srv->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	pc = h2o_config_register_path(host, "/", 0);
	h = (struct admin_handler *)h2o_create_handler(pc, sizeof(*h));
	h->super.on_req = on_req;
	h->srv = srv;
	h2o_context_init(&srv->ctx, (h2o_evloop_t *)gwd->loop, &srv->conf);
	srv->accept_ctx.ctx = &srv->ctx;
	srv->accept_ctx.hosts = srv->conf.hosts;
	srv->listener = h2o_evloop_socket_create((h2o_evloop_t *)gwd->loop, fd,
						 H2O_SOCKET_FLAG_DONT_READ);
	srv->unix_l = (struct admin_listener){
		.srv = srv, .name = "unix", .sock = srv->listener,
		.max = gwd->opts.admin_max_connections ?: ADMIN_DEFAULT_MAX_CONNS };
	srv->tcp_l = (struct admin_listener){ .srv = srv, .name = "tcp", .max = srv->unix_l.max };
	srv->listener->data = &srv->unix_l;
	h2o_socket_read_start(srv->listener, on_accept);
	gwd->admin = srv;
	log_info("admin API listening on %s (at most %u connections)", path, srv->unix_l.max);
	return 0;
}

/* The token from path: 16-4096 printable characters, in a file only its owner can read. */
static int read_token(struct admin_server *srv, const char *path, struct gwd_err *err)
{
	char buf[ADMIN_TOKEN_MAX + 2];
	struct stat st;
	size_t n;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return gwd_err_set(err, 400, "admin token file %s: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		fclose(f);
		return gwd_err_set(err, 400, "admin token file %s: not a regular file", path);
	}
	if ((st.st_mode & 077) || st.st_uid != geteuid()) {
		fclose(f);
		return gwd_err_set(err, 400, "admin token file %s: must be owned by gwd's user and "
					     "readable by it only (chmod 600)", path);
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	for (size_t i = 0; i < n; i++)
		if (buf[i] <= ' ' || buf[i] > '~')
			n = 0;	/* refused below, without echoing the secret */
	if (n < ADMIN_TOKEN_MIN || n > ADMIN_TOKEN_MAX) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return gwd_err_set(err, 400, "admin token file %s: the token must be %d-%d printable "
					     "characters without spaces on one line",
				   path, ADMIN_TOKEN_MIN, ADMIN_TOKEN_MAX);
	}
	srv->token = strndup(buf, n);
	srv->token_len = n;
	OPENSSL_cleanse(buf, sizeof(buf));
	return srv->token ? 0 : gwd_err_set(err, 500, "out of memory");
}

/* ADDR:PORT, [V6]:PORT or a bare PORT (127.0.0.1). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, bool *loopback,
			struct gwd_err *err)
{
	struct endpoint ep = { 0 };
	char cause[160];
	uint16_t port;

	memset(ss, 0, sizeof(*ss));
	if (port_parse(s, &port) == 0) {
		ep.family = XG_AF_INET;
		ep.addr.v4 = htonl(INADDR_LOOPBACK);
		ep.port = port;
	} else if (endpoint_parse(s, &ep, cause, sizeof(cause)) || !ep.has_port || ep.has_proto) {
		return gwd_err_set(err, 400, "admin_listen: '%s' is not ADDR:PORT, [IPV6]:PORT or "
					     "PORT",
				   s);
	}
	if (ep.family == XG_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = ep.addr.v4;
		sin->sin_port = htons(ep.port);
		*len = sizeof(*sin);
		*loopback = (ntohl(ep.addr.v4) >> 24) == 127;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ep.addr.bytes, 16);
		sin6->sin6_port = htons(ep.port);
		*len = sizeof(*sin6);
		*loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	}
	return 0;
}

int admin_listen_tcp(struct gwd *gwd, const char *listen_at, const char *token_file,
		     bool allow_remote, struct gwd_err *err)
{
	struct admin_server *srv = gwd->admin;
	struct sockaddr_storage ss;
	socklen_t len = 0;
	bool loopback = false;
	int fd, one = 1;

	if (!srv)
		return gwd_err_set(err, 500, "admin API not started");
	if (parse_listen(listen_at, &ss, &len, &loopback, err))
		return -EINVAL;
	if (!loopback && !allow_remote)
		return gwd_err_set(err, 400, "admin_listen %s is not a loopback address: set "
					     "admin_allow_remote to listen there (plain HTTP: the "
					     "token crosses the network in clear)",
				   listen_at);
	if (!token_file)
		return gwd_err_set(err, 400, "admin_listen %s needs admin_token_file: the TCP "
					     "listener never runs without a token",
				   listen_at);
	if (read_token(srv, token_file, err))
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return gwd_err_set(err, 500, "admin_listen: socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 64)) {
		int e = errno;

		close(fd);
		return gwd_err_set(err, 500, "admin_listen: cannot listen on %s: %s", listen_at,
				   strerror(e));
	}
	srv->tcp = h2o_evloop_socket_create((h2o_evloop_t *)gwd->loop, fd,
					    H2O_SOCKET_FLAG_DONT_READ);
	srv->tcp_l.sock = srv->tcp;
	srv->tcp->data = &srv->tcp_l;
	h2o_socket_read_start(srv->tcp, on_accept);
	log_info("admin API also listening on %s (TCP, token required%s)", listen_at,
		 loopback ? "" : ", not loopback");
	return 0;
}

void admin_stop(struct gwd *gwd)
{
	struct admin_server *srv = gwd->admin;

	if (!srv)
		return;
	srv->stopped = true;	/* closes of open connections no longer resume a listener */
	if (srv->tcp) {
		h2o_socket_read_stop(srv->tcp);
		h2o_socket_close(srv->tcp);
		srv->tcp = NULL;
		srv->tcp_l.sock = NULL;
	}
	if (srv->token) {
		OPENSSL_cleanse(srv->token, srv->token_len);
		free(srv->token);
		srv->token = NULL;
	}
	h2o_socket_read_stop(srv->listener);
	h2o_socket_close(srv->listener);
	srv->unix_l.sock = NULL;
	unlink(srv->path);
	/* The context is left to process exit: open client connections may still hold it. */
	gwd->admin = NULL;
}
