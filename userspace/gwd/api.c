// SPDX-License-Identifier: GPL-2.0
/* Admin API routes: status, config, apply, metrics, module routes and generic collections. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gwd/admin.h"
#include "gwd/doc.h"

int admin_reply_text(struct admin_req *r, int status, const char *content_type, const char *body,
		     size_t len)
{
	free(r->resp);
	r->resp = malloc(len + 1);
	if (r->resp) {
		memcpy(r->resp, body, len);
		r->resp[len] = '\0';
		r->resp_len = len;
	} else {
		r->resp_len = 0;
		status = 500;
	}
	r->status = status;
	r->content_type = content_type;
	r->replied = true;
	return 0;
}

int admin_reply_json(struct admin_req *r, int status, json_t *body)
{
	char *s = json_dumps(body ? body : json_null(),
			     JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(body);
	if (!s)
		return admin_reply_text(r, 500, "application/json", "{\"error\":\"out of memory\"}",
					25);
	admin_reply_text(r, status, "application/json", s, strlen(s));
	free(s);
	return 0;
}

int admin_reply_error(struct admin_req *r, int status, const char *fmt, ...)
{
	char msg[GWD_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return admin_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

const char *admin_query_get(const struct admin_req *r, const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name);

	for (const char *p = r->query; p && *p;) {
		const char *end = strchr(p, '&');
		size_t seg = end ? (size_t)(end - p) : strlen(p);

		if (seg >= nl && strncmp(p, name, nl) == 0 && (seg == nl || p[nl] == '=')) {
			size_t o = 0;

			for (size_t i = nl + 1; i < seg && o + 1 < len; i++) {
				int c = (unsigned char)p[i];

				if (c == '%' && i + 2 < seg + 1) {
					unsigned int v;

					if (sscanf(p + i + 1, "%2x", &v) == 1) {
						c = (int)v;
						i += 2;
					}
				} else if (c == '+') {
					c = ' ';
				}
				buf[o++] = (char)c;
			}
			buf[o] = '\0';
			return buf;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

bool admin_query_flag(const struct admin_req *r, const char *name)
{
	char v[16];

	if (!admin_query_get(r, name, v, sizeof(v)))
		return false;
	return !v[0] || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes");
}

json_t *admin_body_json(struct admin_req *r)
{
	json_error_t jerr;
	json_t *v;

	if (!r->body_len) {
		admin_reply_error(r, 400, "a JSON body is required");
		return NULL;
	}
	v = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!v)
		admin_reply_error(r, 400, "invalid JSON body: line %d column %d: %s", jerr.line,
				  jerr.column, jerr.text);
	return v;
}

/* Runs one change and replies {"generation", "diff"} or the error. */
static void reply_change(struct admin_req *r, json_t *candidate, bool dry_run)
{
	struct gwd_change_info ci = { .who = r->who, .what = r->what, .dry_run = dry_run,
				      .if_generation = -1 };
	struct gwd_err err = { 0 };
	json_t *diff = NULL;
	char buf[32];

	if (admin_query_get(r, "if_generation", buf, sizeof(buf))) {
		char *end;
		long long g;

		errno = 0;
		g = strtoll(buf, &end, 10);
		if (end == buf || *end || g < 0 || errno == ERANGE) {
			json_decref(candidate);
			admin_reply_error(r, 400, "if_generation: invalid value '%s'", buf);
			return;
		}
		ci.if_generation = g;
	}
	if (gwd_change(r->gwd, candidate, &ci, &diff, &err)) {
		admin_reply_error(r, err.status ? err.status : 500, "%s", err.msg);
		return;
	}
	admin_reply_json(r, 200,
			 json_pack("{s:I, s:b, s:o}", "generation", (json_int_t)r->gwd->generation,
				   "applied", !dry_run && json_array_size(diff) > 0, "diff", diff));
}

static void handle_status(struct admin_req *r)
{
	struct gwd *gwd = r->gwd;
	json_t *mods = json_object();

	for (size_t i = 0; i < gwd->n_mods; i++) {
		json_t *m = json_object();

		if (gwd->mods[i].mod->status)
			gwd->mods[i].mod->status(gwd->mods[i].priv, m);
		json_object_set_new(mods, gwd->mods[i].mod->name, m);
	}
	admin_reply_json(
		r, 200,
		json_pack("{s:s, s:i, s:I, s:I, s:s, s:s, s:s, s:{s:I, s:I, s:I}, s:o}", "version",
			  XDPGW_VERSION, "pid", (int)getpid(), "uptime_sec",
			  (json_int_t)(time(NULL) - gwd->started), "generation",
			  (json_int_t)gwd->generation, "state_file", gwd->state_path, "socket",
			  gwd->opts.socket ? gwd->opts.socket : "", "bpffs",
			  gwd->opts.bpffs ? gwd->opts.bpffs : "", "changes", "ok",
			  (json_int_t)gwd->changes_ok, "refused", (json_int_t)gwd->changes_refused,
			  "failed", (json_int_t)gwd->changes_failed, "modules", mods));
}

static void handle_apply(struct admin_req *r)
{
	struct gwd_err err = { 0 };
	json_t *body = admin_body_json(r), *cand;

	if (!body)
		return;
	/* Daemon settings are not desired state: a config file's gwd section is ignored. */
	if (json_is_object(body))
		json_object_del(body, "gwd");
	if (admin_query_flag(r, "replace")) {
		cand = json_is_object(body) ? json_incref(body) : NULL;
		if (!cand)
			gwd_err_set(&err, 400, "the document must be an object of sections");
	} else {
		cand = doc_merge_sections(r->gwd->doc, body, &err);
	}
	json_decref(body);
	if (!cand) {
		admin_reply_error(r, err.status, "%s", err.msg);
		return;
	}
	reply_change(r, cand, admin_query_flag(r, "dry_run"));
}

static void handle_metrics(struct admin_req *r)
{
	struct gwd *gwd = r->gwd;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		admin_reply_error(r, 500, "out of memory");
		return;
	}
	fprintf(f,
		"# HELP xdpgw_gwd_up 1 while gwd serves its admin API.\n"
		"# TYPE xdpgw_gwd_up gauge\nxdpgw_gwd_up 1\n"
		"# HELP xdpgw_gwd_start_time_seconds When gwd started (unix time).\n"
		"# TYPE xdpgw_gwd_start_time_seconds gauge\nxdpgw_gwd_start_time_seconds %lld\n"
		"# HELP xdpgw_config_generation Accepted configuration changes (state file).\n"
		"# TYPE xdpgw_config_generation gauge\nxdpgw_config_generation %" PRIu64 "\n"
		"# HELP xdpgw_config_changes_total Configuration changes since start by result.\n"
		"# TYPE xdpgw_config_changes_total counter\n"
		"xdpgw_config_changes_total{result=\"ok\"} %" PRIu64 "\n"
		"xdpgw_config_changes_total{result=\"refused\"} %" PRIu64 "\n"
		"xdpgw_config_changes_total{result=\"failed\"} %" PRIu64 "\n",
		(long long)gwd->started, gwd->generation, gwd->changes_ok, gwd->changes_refused,
		gwd->changes_failed);
	admin_metrics(gwd, f);
	for (size_t i = 0; i < gwd->n_mods; i++)
		if (gwd->mods[i].mod->metrics)
			gwd->mods[i].mod->metrics(gwd->mods[i].priv, f);
	fclose(f);
	admin_reply_text(r, 200, "text/plain; version=0.0.4", buf ? buf : "", len);
	free(buf);
}

static void handle_collection(struct admin_req *r, const char *sub)
{
	struct gwd *gwd = r->gwd;
	struct gwd_err err = { 0 };
	struct doc_target t;
	json_t *body = NULL, *cand;
	int ret;

	if (!strcmp(r->method, "GET")) {
		if (doc_resolve(gwd->doc, gwd->colls, sub, false, &t, &err)) {
			admin_reply_error(r, err.status, "%s", err.msg);
		} else if (!t.has_key) {
			admin_reply_json(r, 200, t.array ? json_deep_copy(t.array) : json_array());
		} else if (t.index < 0) {
			admin_reply_error(r, 404, "%s not found", t.label);
		} else {
			admin_reply_json(r, 200,
					 json_deep_copy(json_array_get(t.array, (size_t)t.index)));
		}
		return;
	}
	if (strcmp(r->method, "DELETE") != 0) {
		if (strcmp(r->method, "POST") && strcmp(r->method, "PATCH")) {
			admin_reply_error(r, 405, "method %s not allowed on /v1/%s", r->method, sub);
			return;
		}
		body = admin_body_json(r);
		if (!body)
			return;
	}
	cand = json_deep_copy(gwd->doc);
	if (!strcmp(r->method, "POST"))
		ret = doc_add(cand, gwd->colls, sub, body, &err);
	else if (!strcmp(r->method, "PATCH"))
		ret = doc_patch(cand, gwd->colls, sub, body, &err);
	else
		ret = doc_delete(cand, gwd->colls, sub, &err);
	json_decref(body);
	if (ret) {
		json_decref(cand);
		gwd->changes_refused++;
		admin_reply_error(r, err.status, "%s", err.msg);
		return;
	}
	reply_change(r, cand, admin_query_flag(r, "dry_run"));
}

static bool route_matches(const struct admin_route *rt, const struct admin_req *r)
{
	size_t n = strlen(rt->path);

	if (rt->method && strcmp(rt->method, r->method) != 0)
		return false;
	if (n && rt->path[n - 1] == '*')
		return strncmp(rt->path, r->path, n - 1) == 0;
	return strcmp(rt->path, r->path) == 0;
}

void api_handle(struct admin_req *r)
{
	struct gwd *gwd = r->gwd;
	bool get = !strcmp(r->method, "GET");

	if (!strcmp(r->path, "/metrics") && get)
		handle_metrics(r);
	else if (!strcmp(r->path, "/v1/status") && get)
		handle_status(r);
	else if (!strcmp(r->path, "/v1/config") && get)
		admin_reply_json(r, 200, json_deep_copy(gwd->doc));
	else if (!strcmp(r->path, "/v1/apply") && !strcmp(r->method, "POST"))
		handle_apply(r);
	if (r->replied)
		return;
	for (size_t i = 0; i < gwd->n_mods; i++) {
		for (const struct admin_route *rt = gwd->mods[i].mod->routes; rt && rt->path; rt++) {
			if (route_matches(rt, r)) {
				rt->handle(gwd->mods[i].priv, r);
				if (!r->replied)
					admin_reply_error(r, 500, "no reply from module %s",
							  gwd->mods[i].mod->name);
				return;
			}
		}
	}
	if (!strncmp(r->path, "/v1/", 4) && strcmp(r->path, "/v1/status") &&
	    strcmp(r->path, "/v1/config") && strcmp(r->path, "/v1/apply")) {
		handle_collection(r, r->path + 4);
		return;
	}
	if (!strcmp(r->path, "/metrics") || !strncmp(r->path, "/v1/", 4))
		admin_reply_error(r, 405, "method %s not allowed on %s", r->method, r->path);
	else
		admin_reply_error(r, 404, "no such endpoint '%s'", r->path);
}
