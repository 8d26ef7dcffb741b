// SPDX-License-Identifier: GPL-2.0
/*
 * Every error the gateway produces is JSON: {"error":{"status":N,"code":"...","message":"..."}}.
 * That includes the ones libh2o answers by itself before a request reaches the gateway's handler
 * (413 for a body over the limit, 400 for a malformed request): a filter on the host's fallback
 * path replaces their text/plain body.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/runtime.h"

const char *gw_status_code_name(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 408: return "request_timeout";
	case 413: return "request_entity_too_large";
	case 414: return "uri_too_long";
	case 417: return "expectation_failed";
	case 429: return "too_many_requests";
	case 431: return "request_header_fields_too_large";
	case 500: return "internal_error";
	case 502: return "bad_gateway";
	case 503: return "service_unavailable";
	case 504: return "gateway_timeout";
	default: return status >= 500 ? "server_error" : "client_error";
	}
}

/* JSON string escaping for messages that may carry client-controlled text. */
static size_t esc(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	for (; *s && o + 7 < cap; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = ch;
		} else if (ch < 0x20) {
			o += snprintf(out + o, cap - o, "\\u%04x", ch);
		} else {
			out[o++] = ch;
		}
	}
	out[o] = 0;
	return o;
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status >= 500 ? "Server Error" : "Client Error";
	}
}

size_t gw_error_json(char *buf, size_t len, int status, const char *code, const char *message)
{
	char m[300];
	int n;

	esc(m, sizeof(m), message ? message : "");
	n = snprintf(buf, len, "{\"error\":{\"status\":%d,\"code\":\"%s\",\"message\":\"%s\"}}\n",
		     status, code ? code : gw_status_code_name(status), m);
	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

void gw_send_error(h2o_req_t *req, int status, const char *code, const char *message)
{
	char *buf = h2o_mem_alloc_pool(&req->pool, 512);
	size_t n = gw_error_json(buf, 512, status, code, message);

	req->res.status = status;
	req->res.reason = reason_phrase(status);
	req->res.content_length = n;
	h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
		       H2O_STRLIT("application/json"), 1);
	h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-store"),
		       1);
	h2o_send_inline(req, buf, n);
}

/* ---- the fallback-path filter ---- */

struct json_ostream {
	h2o_ostream_t super;
	h2o_iovec_t body;
	bool sent;
};

static void json_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
			 h2o_send_state_t state)
{
	struct json_ostream *o = (struct json_ostream *)self;

	if (!o->sent && o->body.len && bufcnt) {
		o->sent = true;
		h2o_ostream_send_next(self, req, &o->body, 1, state);
		return;
	}
	h2o_ostream_send_next(self, req, NULL, 0, state);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
	struct json_ostream *o;
	const char *msg;
	char *buf;
	size_t n;

	if (req->res.status < 400) {
		h2o_setup_next_ostream(req, slot);
		return;
	}
	switch (req->res.status) {
	case 413: msg = "the request body exceeds the gateway's limit"; break;
	case 400: msg = "the request is malformed"; break;
	default: msg = req->res.reason ? req->res.reason : ""; break;
	}
	buf = h2o_mem_alloc_pool(&req->pool, 512);
	n = gw_error_json(buf, 512, req->res.status, NULL, msg);
	req->res.content_length = n;
	h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
		       H2O_STRLIT("application/json"), 1);
	o = (struct json_ostream *)h2o_add_ostream(req, sizeof(*o), slot);
	o->super.do_send = json_do_send;
	o->body = h2o_iovec_init(buf, n);
	o->sent = false;
	h2o_setup_next_ostream(req, &o->super.next);
}

void gw_register_error_filter(h2o_pathconf_t *pathconf)
{
	h2o_filter_t *f = h2o_create_filter(pathconf, sizeof(*f));

	f->on_setup_ostream = on_setup_ostream;
}
