/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The admin API: HTTP + JSON on a unix socket (libh2o, behind this small interface). Handlers
 * see a struct admin_req and answer with admin_reply_*(); routes are in api.c and modules.
 */
#ifndef XDPGW_GWD_ADMIN_H
#define XDPGW_GWD_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "gwd/gwd.h"

#define ADMIN_MAX_BODY (16u << 20)
#define ADMIN_DEFAULT_MAX_CONNS 256	/* open connections per admin listener */

struct admin_req {
	struct gwd *gwd;
	const char *method;	/* "GET", "POST", ... */
	const char *path;	/* without the query, e.g. "/v1/l4/services/web" (percent-encoded) */
	const char *query;	/* after '?', "" when none */
	const char *body;
	size_t body_len;
	const char *who;	/* client's X-Xdpgw-Who, else "admin-api" */
	const char *what;	/* client's X-Xdpgw-What, else "METHOD PATH" */
	/* the reply, filled by admin_reply_*() */
	int status;
	const char *content_type;
	char *resp;		/* malloc'ed */
	size_t resp_len;
	bool replied;
};

/* Replies with body (a reference is stolen; NULL sends JSON null). Returns 0. */
int admin_reply_json(struct admin_req *r, int status, json_t *body);
/* Replies {"error": "..."} with status. Returns 0. */
int admin_reply_error(struct admin_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Replies with an arbitrary body (copied). Returns 0. */
int admin_reply_text(struct admin_req *r, int status, const char *content_type, const char *body,
		     size_t len);
/* Whether the query has name=1|true|yes or a bare name. */
bool admin_query_flag(const struct admin_req *r, const char *name);
/* Copies the value of name=VALUE from the query into buf (percent-decoded). NULL if absent. */
const char *admin_query_get(const struct admin_req *r, const char *name, char *buf, size_t len);
/* Parses the body as JSON; on failure replies 400 and returns NULL. New reference. */
json_t *admin_body_json(struct admin_req *r);

/* Answers one request: core endpoints, module routes, collections (api.c). */
void api_handle(struct admin_req *r);

/*
 * Starts serving on the unix socket path (created mode 0600; a stale socket is replaced, a
 * live one means another gwd: error). Returns 0 or a negative errno with err set.
 */
int admin_start(struct gwd *gwd, const char *path, struct gwd_err *err);
/*
 * Also serves the API on TCP at listen_at (ADDR:PORT, [V6]:PORT, or PORT on 127.0.0.1), after
 * admin_start. Every request there must carry "Authorization: Bearer TOKEN", the token read from
 * token_file (16-4096 printable characters; the file must be the user's own, mode 0600 or
 * stricter); refusals are 401 and logged with the peer. A non-loopback address is refused
 * unless allow_remote. Returns 0 or a negative errno with err set (nothing listens then).
 */
int admin_listen_tcp(struct gwd *gwd, const char *listen_at, const char *token_file,
		     bool allow_remote, struct gwd_err *err);
/*
 * Each listener (the unix socket, the TCP one) takes at most gwd->opts.admin_max_connections
 * open connections; at the limit new ones wait in the listen backlog, and it is counted and
 * logged. Writes xdpgw_admin_connections and xdpgw_admin_connection_limit_total to f.
 */
void admin_metrics(struct gwd *gwd, FILE *f);
/* Stops listening (unix socket and TCP) and removes the socket file. */
void admin_stop(struct gwd *gwd);

#endif
