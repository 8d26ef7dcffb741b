// SPDX-License-Identifier: GPL-2.0
/* The admin API server: libh2o on gwd's main loop, listening on a unix socket (mode 0600). */
#include "gwd/admin.h"

#include <errno.h>
#include <h2o.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gwd/state.h"
#include "lib/log.h"

struct admin_server {
	struct gwd *gwd;
	h2o_globalconf_t conf;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	h2o_socket_t *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
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

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct admin_server *srv = ((struct admin_handler *)self)->srv;
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

	if (!method || !path || !query) {
		admin_reply_error(&r, 500, "out of memory");
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

static void on_accept(h2o_socket_t *listener, const char *err)
{
	struct admin_server *srv = listener->data;
	h2o_socket_t *sock;

	if (err)
		return;
	sock = h2o_evloop_socket_accept(listener);
	if (sock)
		h2o_accept(&srv->accept_ctx, sock);
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
		if (state_mkdir_p(dir))
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
	srv->listener->data = srv;
	h2o_socket_read_start(srv->listener, on_accept);
	gwd->admin = srv;
	log_info("admin API listening on %s", path);
	return 0;
}

void admin_stop(struct gwd *gwd)
{
	struct admin_server *srv = gwd->admin;

	if (!srv)
		return;
	h2o_socket_read_stop(srv->listener);
	h2o_socket_close(srv->listener);
	unlink(srv->path);
	/* The context is left to process exit: open client connections may still hold it. */
	gwd->admin = NULL;
}
