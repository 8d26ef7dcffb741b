// SPDX-License-Identifier: GPL-2.0
/* gwctl route: the gateway's routes: add, del, show, stats. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwctl.h"

static int route_add(int argc, char **argv)
{
	json_t *body, *hosts = json_array();
	int ret = 0, i;

	if (argc < 2)
		return cli_error("route add: missing %s (gwctl route add NAME PATH upstream POOL "
				 "[host HOST]... [methods M,M] [strip-prefix] [exact|regex])",
				 argc ? "PATH" : "NAME and PATH");
	body = json_pack("{s:s,s:s}", "name", argv[0], "path", argv[1]);
	for (i = 2; i < argc && !ret; i++) {
		const char *w = argv[i];

		if (!strcmp(w, "strip-prefix")) {
			json_object_set_new(body, "strip_prefix", json_true());
		} else if (!strcmp(w, "exact") || !strcmp(w, "regex") || !strcmp(w, "prefix")) {
			json_object_set_new(body, "path_match", json_string(w));
		} else if (cli_is_prefix(w, "upstream") || cli_is_prefix(w, "host") ||
			   cli_is_prefix(w, "methods") || cli_is_prefix(w, "rewrite-prefix")) {
			if (i + 1 >= argc) {
				ret = cli_error("route add: %s needs a value", w);
				break;
			}
			if (cli_is_prefix(w, "upstream")) {
				json_object_set_new(body, "upstream", json_string(argv[++i]));
			} else if (cli_is_prefix(w, "host")) {
				json_array_append_new(hosts, json_string(argv[++i]));
			} else if (cli_is_prefix(w, "rewrite-prefix")) {
				json_object_set_new(body, "rewrite_prefix", json_string(argv[++i]));
			} else {
				json_t *m = json_array();
				char buf[256], *save = NULL, *tok;

				snprintf(buf, sizeof(buf), "%s", argv[++i]);
				for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
					json_array_append_new(m, json_string(tok));
				json_object_set_new(body, "methods", m);
			}
		} else {
			ret = cli_error("route add: unknown argument '%s' (expected upstream, host, "
					"methods, strip-prefix, rewrite-prefix, exact or regex)", w);
		}
	}
	if (!ret && !json_object_get(body, "upstream"))
		ret = cli_error("route add: missing upstream POOL");
	if (json_array_size(hosts))
		json_object_set(body, "hosts", hosts);
	if (!ret)
		ret = gwd_call("POST", "gateway/routes", body, NULL);
	json_decref(hosts);
	json_decref(body);
	return ret ? ret : cli_changed();
}

static int route_del(int argc, char **argv)
{
	return cli_delete("route del", "NAME", "gateway/routes", argc, argv);
}

static void join(json_t *arr, char *buf, size_t len, const char *none)
{
	size_t i, o = 0;
	json_t *v;

	buf[0] = 0;
	json_array_foreach(arr, i, v)
		o += snprintf(buf + o, o < len ? len - o : 0, "%s%s", i ? "," : "",
			      json_string_value(v) ?: "");
	if (!o)
		snprintf(buf, len, "%s", none);
}

static int route_show(int argc, char **argv)
{
	json_t *arr, *r;
	size_t i;

	if (argc > 1)
		return cli_no_more("route show", argc - 1, argv + 1);
	if (gwd_call("GET", "gateway/routes", NULL, &arr))
		return 1;
	if (argc == 1) {
		bool found = false;

		json_array_foreach(arr, i, r)
			found |= !strcmp(json_string_value(json_object_get(r, "name")) ?: "", argv[0]);
		if (!found) {
			json_decref(arr);
			return cli_error("route '%s' not found", argv[0]);
		}
	}
	print_start();
	open_json_array(NULL);
	if (!print_is_json())
		print_text("%-16s %-24s %-24s %-6s %-12s %-16s %s\n", "NAME", "HOSTS", "PATH",
			   "MATCH", "METHODS", "UPSTREAM", "REWRITE");
	json_array_foreach(arr, i, r) {
		const char *name = json_string_value(json_object_get(r, "name")) ?: "";
		const char *path = json_string_value(json_object_get(r, "path")) ?: "/";
		const char *match = json_string_value(json_object_get(r, "path_match")) ?: "prefix";
		const char *up = json_string_value(json_object_get(r, "upstream")) ?: "";
		const char *rw = json_string_value(json_object_get(r, "rewrite_prefix"));
		bool strip = json_is_true(json_object_get(r, "strip_prefix"));
		char hosts[256], methods[128];

		if (argc == 1 && strcmp(argv[0], name))
			continue;
		join(json_object_get(r, "hosts"), hosts, sizeof(hosts), "*");
		join(json_object_get(r, "methods"), methods, sizeof(methods), "*");
		if (print_is_json()) {
			print_json(NULL, json_incref(r));
			continue;
		}
		print_text("%-16s %-24s %-24s %-6s %-12s %-16s %s\n", name, hosts, path, match,
			   methods, up, rw ? rw : strip ? "strip" : "-");
	}
	close_json_array();
	print_end();
	json_decref(arr);
	return 0;
}

/* ---- route stats: the gateway's per-route metrics from gwd's /metrics ---- */

struct route_stats {
	char name[128];
	double requests, by_class[6];	/* by_class[1..5]: 1xx..5xx */
	double in_flight, dur_sum, dur_count, up_sum, up_count, bytes_in, bytes_out;
};

/* The value of label KEY in a Prometheus label set "{a="x",b="y"}" into out; false if absent. */
static bool label(const char *labels, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);
	const char *p = labels, *e;

	while ((p = strstr(p, key))) {
		if ((p == labels || p[-1] == '{' || p[-1] == ',') && !strncmp(p + kl, "=\"", 2)) {
			p += kl + 2;
			e = strchr(p, '"');
			if (!e || (size_t)(e - p) >= len)
				return false;
			memcpy(out, p, e - p);
			out[e - p] = 0;
			return true;
		}
		p += kl;
	}
	return false;
}

/* The entry of route name in rs[0..*n), added at the end when new (NULL when full). */
static struct route_stats *route_entry(struct route_stats *rs, size_t *n, size_t cap,
				       const char *name)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (!strcmp(rs[i].name, name))
			return &rs[i];
	if (*n == cap)
		return NULL;
	memset(&rs[*n], 0, sizeof(rs[*n]));
	snprintf(rs[*n].name, sizeof(rs[*n].name), "%s", name);
	return &rs[(*n)++];
}

/* Adds one metrics line to rs when it is a per-route gateway metric. */
static void route_line(char *line, struct route_stats *rs, size_t *n, size_t cap)
{
	static const char pre[] = "xdpgw_gateway_";
	char route[128], class[8], *labels = strchr(line, '{'), *end, *sp;
	struct route_stats *r;
	const char *m = line + sizeof(pre) - 1;
	double v;

	if (strncmp(line, pre, sizeof(pre) - 1) || !labels || !(end = strchr(labels, '}')))
		return;
	*end = 0;
	if (!label(labels, "route", route, sizeof(route)))
		return;
	sp = end + 1;
	v = strtod(sp, NULL);
	*labels = 0;
	if (!(r = route_entry(rs, n, cap, route)))
		return;
	if (!strcmp(m, "requests_total")) {
		r->requests += v;
		if (label(labels + 1, "class", class, sizeof(class)) && class[0] >= '1' &&
		    class[0] <= '5')
			r->by_class[class[0] - '0'] += v;
	} else if (!strcmp(m, "requests_in_flight")) {
		r->in_flight += v;
	} else if (!strcmp(m, "request_duration_seconds_sum")) {
		r->dur_sum += v;
	} else if (!strcmp(m, "request_duration_seconds_count")) {
		r->dur_count += v;
	} else if (!strcmp(m, "upstream_duration_seconds_sum")) {
		r->up_sum += v;
	} else if (!strcmp(m, "upstream_duration_seconds_count")) {
		r->up_count += v;
	} else if (!strcmp(m, "received_bytes_total")) {
		r->bytes_in += v;
	} else if (!strcmp(m, "sent_bytes_total")) {
		r->bytes_out += v;
	}
}

#define ROUTE_STATS_MAX 8194	/* gwd's 8192 route names, "_none" and "_other" */

static int route_stats(int argc, char **argv)
{
	struct route_stats *rs;
	char *text, *line, *save = NULL;
	size_t n = 0, i;
	bool found = false;

	if (argc > 1)
		return cli_no_more("route stats", argc - 1, argv + 1);
	if (gwd_get_text("metrics", &text))
		return 1;
	rs = calloc(ROUTE_STATS_MAX, sizeof(*rs));
	if (!rs) {
		free(text);
		return cli_error("out of memory");
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (line[0] != '#')
			route_line(line, rs, &n, ROUTE_STATS_MAX);
	free(text);
	for (i = 0; argc == 1 && i < n && !found; i++)
		found = !strcmp(argv[0], rs[i].name);
	if (argc == 1 && !found) {
		free(rs);
		return cli_error("route stats: no route '%s' in the gateway's metrics", argv[0]);
	}
	for (i = 0; i + 1 < n; i++) {	/* requests that matched no route last */
		if (!strcmp(rs[i].name, "_none")) {
			struct route_stats none = rs[i];

			memmove(&rs[i], &rs[i + 1], (n - i - 1) * sizeof(*rs));
			rs[n - 1] = none;
			break;
		}
	}
	print_start();
	open_json_array(NULL);
	if (!print_is_json())
		print_text("%-16s %9s %8s %8s %8s %8s %8s %8s %8s %12s %12s\n", "ROUTE", "REQUESTS",
			   "2XX", "3XX", "4XX", "5XX", "INFLIGHT", "MEAN_MS", "UP_MS", "BYTES_IN",
			   "BYTES_OUT");
	for (i = 0; i < n; i++) {
		struct route_stats *r = &rs[i];
		double mean = r->dur_count ? r->dur_sum * 1e3 / r->dur_count : 0;
		double up = r->up_count ? r->up_sum * 1e3 / r->up_count : 0;

		if (argc == 1 ? strcmp(argv[0], r->name) : !strcmp(r->name, "_none") && !r->requests)
			continue;
		open_json_object(NULL);
		print_string(PRINT_JSON, "route", NULL, r->name);
		print_u64(PRINT_JSON, "requests", NULL, (uint64_t)r->requests);
		open_json_object("by_class");
		for (int c = 1; c <= 5; c++) {
			char key[4] = { (char)('0' + c), 'x', 'x', 0 };

			print_u64(PRINT_JSON, key, NULL, (uint64_t)r->by_class[c]);
		}
		close_json_object();
		print_u64(PRINT_JSON, "in_flight", NULL, (uint64_t)r->in_flight);
		print_float(PRINT_JSON, "mean_ms", NULL, mean);
		print_float(PRINT_JSON, "upstream_mean_ms", NULL, up);
		print_u64(PRINT_JSON, "bytes_in", NULL, (uint64_t)r->bytes_in);
		print_u64(PRINT_JSON, "bytes_out", NULL, (uint64_t)r->bytes_out);
		close_json_object();
		if (!print_is_json())
			print_text("%-16s %9.0f %8.0f %8.0f %8.0f %8.0f %8.0f %8.3f %8.3f %12.0f "
				   "%12.0f\n",
				   strcmp(r->name, "_none") ? r->name : "(no route)", r->requests,
				   r->by_class[2], r->by_class[3], r->by_class[4], r->by_class[5],
				   r->in_flight, mean, up, r->bytes_in, r->bytes_out);
	}
	close_json_array();
	print_end();
	free(rs);
	return 0;
}

static const struct cli_cmd route_cmds[] = {
	{ "add",
	  "NAME PATH upstream POOL [host HOST]... [methods M,M] [strip-prefix] "
	  "[rewrite-prefix P] [exact|regex]",
	  "add a route: requests matching host, path and methods go to POOL", route_add },
	{ "del", "NAME", "remove a route", route_del },
	{ "show", "[NAME]", "list routes", route_show },
	{ "stats", "[NAME]",
	  "requests per route by status class, in flight, mean latency and bytes (gwd's /metrics)",
	  route_stats },
	{ NULL },
};

const struct cli_object obj_route = { "route", "the gateway's routes", route_cmds };
