// SPDX-License-Identifier: GPL-2.0
/*
 * What the gateway refuses or rewrites before routing, against request smuggling and header
 * abuse (docs/security.md):
 *
 *   - ambiguous HTTP/1 framing: Content-Length together with Transfer-Encoding, several
 *     Content-Length or Transfer-Encoding lines, Transfer-Encoding on HTTP/1.0: 400,
 *     connection closed;
 *   - several Host lines, none on HTTP/1.1, obsolete line folding: 400, connection closed;
 *   - CONNECT: 405 (the gateway is no tunnel);
 *   - an absolute-form target (GET http://host/path): its host replaces Host and its path the
 *     target, so routing, policies and the upstream all see the same origin-form request;
 *   - a backslash in the target: 400; routes match a view of the path without repeated
 *     slashes and ;parameters (routing_view).
 *
 * libh2o 2.2.5 keeps only the last Host and the first Content-Length, and lets
 * Transfer-Encoding win silently, without telling its handler; its HTTP/1 connection keeps the
 * request head in the socket's input buffer until the response is sent, so the head is parsed
 * again here to see every line. That reads struct st_h2o_http1_conn_t's first two members,
 * which libh2o 2.2's lib/http1.c defines as {h2o_conn_t super; h2o_socket_t *sock;}.
 */
#include <h2o.h>
#include <string.h>
#include <strings.h>

#include "gateway/runtime.h"

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
		      const char **path, size_t *path_len, int *minor_version,
		      struct phr_header *headers, size_t *num_headers, size_t last_len);

/* The start of libh2o 2.2's private struct st_h2o_http1_conn_t. */
struct h1conn_head {
	h2o_conn_t super;
	h2o_socket_t *sock;
};

static bool name_is(const struct phr_header *h, const char *name, size_t len)
{
	return h->name_len == len && !strncasecmp(h->name, name, len);
}

/* Checks the HTTP/1 request head as sent; 0 or the status to refuse with. */
static int check_h1_head(h2o_req_t *req, const char **msg)
{
	h2o_socket_t *sock = ((struct h1conn_head *)req->conn)->sock;
	struct phr_header h[H2O_MAX_HEADERS];
	size_t nh = H2O_MAX_HEADERS, ml, pl, ncl = 0, nte = 0, nhost = 0;
	const char *m, *p;
	int minor, len;

	if (!sock || !sock->input || !sock->input->size)
		return 0;
	len = phr_parse_request(sock->input->bytes, sock->input->size, &m, &ml, &p, &pl, &minor, h,
				&nh, 0);
	if (len <= 0)
		return 0; /* libh2o parsed it; nothing more to see */
	for (size_t i = 0; i < nh; i++) {
		if (!h[i].name || !h[i].name_len) {
			*msg = "obsolete line folding in a header";
			return 400;
		}
		ncl += name_is(&h[i], "content-length", 14);
		nte += name_is(&h[i], "transfer-encoding", 17);
		nhost += name_is(&h[i], "host", 4);
	}
	if (ncl && nte)
		*msg = "Content-Length together with Transfer-Encoding";
	else if (ncl > 1)
		*msg = "more than one Content-Length";
	else if (nte > 1)
		*msg = "more than one Transfer-Encoding";
	else if (nte && minor == 0)
		*msg = "Transfer-Encoding in an HTTP/1.0 request";
	else if (nhost > 1)
		*msg = "more than one Host";
	else if (!nhost && minor >= 1)
		*msg = "no Host in an HTTP/1.1 request";
	else
		return 0;
	return 400;
}

/* GET http://host:port/path: the URI's authority and path take over. 0 or 400. */
static int absolute_form(h2o_req_t *req, const char **msg)
{
	h2o_iovec_t t = req->path, auth, path;
	size_t s, a;

	if (t.len > 7 && !strncasecmp(t.base, "http://", 7))
		s = 7;
	else if (t.len > 8 && !strncasecmp(t.base, "https://", 8))
		s = 8;
	else {
		*msg = "the request target is neither a path nor an http(s) URI";
		return 400;
	}
	for (a = s; a < t.len && t.base[a] != '/' && t.base[a] != '?' && t.base[a] != '#'; a++)
		if (t.base[a] == '@') {
			*msg = "user information in the request target";
			return 400;
		}
	if (a == s) {
		*msg = "no host in the request target";
		return 400;
	}
	auth = h2o_strdup(&req->pool, t.base + s, a - s);
	if (a < t.len && t.base[a] == '/') {
		path = h2o_strdup(&req->pool, t.base + a, t.len - a);
	} else { /* "http://h" or "http://h?q": the path is "/" */
		path.base = h2o_mem_alloc_pool(&req->pool, t.len - a + 1);
		path.base[0] = '/';
		memcpy(path.base + 1, t.base + a, t.len - a);
		path.len = t.len - a + 1;
	}
	req->authority = auth;
	req->path = path;
	req->path_normalized = h2o_url_normalize_path(&req->pool, path.base, path.len,
						      &req->query_at, &req->norm_indexes);
	return 0;
}

/*
 * The path routes are matched on: libh2o's normalized path (dot segments resolved, unreserved
 * percent-escapes decoded) with repeated slashes merged and ";parameters" dropped from each
 * segment, so /admin cannot be reached past its route's policies as //admin or /admin;x
 * (spellings many upstreams read as /admin). The upstream still gets the path as sent.
 */
static void routing_view(h2o_req_t *req)
{
	h2o_iovec_t n = req->path_normalized;
	bool change = false;
	char *out;
	size_t o = 0;

	for (size_t i = 0; i + 1 < n.len && !change; i++)
		change = (n.base[i] == '/' && n.base[i + 1] == '/') || n.base[i] == ';';
	if (!change && !(n.len && n.base[n.len - 1] == ';'))
		return;
	out = h2o_mem_alloc_pool(&req->pool, n.len + 1);
	for (size_t i = 0; i < n.len; i++) {
		if (n.base[i] == '/' && o && out[o - 1] == '/')
			continue;
		if (n.base[i] == ';') { /* to the end of the segment */
			while (i + 1 < n.len && n.base[i + 1] != '/')
				i++;
			continue;
		}
		out[o++] = n.base[i];
	}
	if (!o)
		out[o++] = '/';
	req->path_normalized = h2o_iovec_init(out, o);
	req->norm_indexes = NULL;
}

int gw_request_check(h2o_req_t *req, const char **code, const char **msg)
{
	int status = 0;

	*code = "bad_request";
	if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("CONNECT"))) {
		*code = "method_not_allowed";
		*msg = "CONNECT is not supported: the gateway is not a tunnel";
		req->http1_is_persistent = 0; /* what follows would be tunnel bytes */
		return 405;
	}
	/* HTTP/1.x requests come from libh2o's HTTP/1 connections only (h2c is off). */
	if (req->version < 0x200)
		status = check_h1_head(req, msg);
	if (!status && req->path.len && req->path.base[0] != '/' &&
	    !(req->path.len == 1 && req->path.base[0] == '*'))
		status = absolute_form(req, msg);
	if (!status && memchr(req->path.base, '\\', req->path.len)) {
		*msg = "a backslash in the request target";
		status = 400;
	}
	if (!status)
		routing_view(req);
	if (status)
		req->http1_is_persistent = 0; /* what follows on this connection is not trusted */
	return status;
}

size_t gw_connection_tokens(const char *v, size_t len, h2o_iovec_t *out, size_t cap, size_t n)
{
	size_t p = 0, s;

	while (p < len && n < cap) {
		while (p < len && (v[p] == ' ' || v[p] == '\t' || v[p] == ','))
			p++;
		s = p;
		while (p < len && v[p] != ',' && v[p] != ' ' && v[p] != '\t')
			p++;
		if (p > s)
			out[n++] = h2o_iovec_init(v + s, p - s);
	}
	return n;
}

bool gw_connection_names(const h2o_iovec_t *tokens, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (tokens[i].len == len && !strncasecmp(tokens[i].base, name, len))
			return true;
	return false;
}
