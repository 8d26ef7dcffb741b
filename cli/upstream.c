// SPDX-License-Identifier: GPL-2.0
/* gwctl upstream: the gateway's upstream pools and their targets: add, del, set, show. */
#include <stdio.h>
#include <string.h>

#include "gwctl.h"

/* Whether pool exists (GET of the whole collection: no error printed when absent). */
static int pool_exists(const char *pool, bool *exists)
{
	json_t *arr, *u;
	size_t i;

	if (gwd_call("GET", "gateway/upstreams", NULL, &arr))
		return 1;
	*exists = false;
	json_array_foreach(arr, i, u)
		if (!strcmp(json_string_value(json_object_get(u, "name")) ?: "", pool))
			*exists = true;
	json_decref(arr);
	return 0;
}

static int upstream_add(int argc, char **argv)
{
	json_t *target, *body;
	bool exists;
	uint32_t w;
	char path[512];
	int ret = 0, i;

	if (argc < 2)
		return cli_error("upstream add: missing %s (gwctl upstream add POOL ADDR:PORT "
				 "[weight W] [algorithm rr|lc|hash|p2c] [max_conns N])",
				 argc ? "ADDR:PORT" : "POOL and ADDR:PORT");
	target = json_pack("{s:s}", "addr", argv[1]);
	body = json_pack("{s:s}", "name", argv[0]);
	for (i = 2; i < argc && !ret; i += 2) {
		if (cli_is_prefix(argv[i], "weight")) {
			if (i + 1 >= argc)
				ret = cli_error("upstream add: weight needs a value");
			else if (!cli_u32("upstream add", "weight", argv[i + 1], 65535, &w))
				json_object_set_new(target, "weight", json_integer(w));
			else
				ret = 1;
		} else if (cli_is_prefix(argv[i], "algorithm")) {
			if (i + 1 >= argc)
				ret = cli_error("upstream add: algorithm needs a value");
			else
				json_object_set_new(body, "algorithm", json_string(argv[i + 1]));
		} else if (cli_is_prefix(argv[i], "max_conns")) {
			if (i + 1 >= argc)
				ret = cli_error("upstream add: max_conns needs a value");
			else if (!cli_u32("upstream add", "max_conns", argv[i + 1], 1000000, &w))
				json_object_set_new(body, "max_conns", json_integer(w));
			else
				ret = 1;
		} else {
			ret = cli_error("upstream add: unknown argument '%s' (expected weight, "
					"algorithm or max_conns)", argv[i]);
		}
	}
	if (!ret)
		ret = pool_exists(argv[0], &exists);
	if (!ret && exists && json_object_size(body) > 1) {
		/* pool settings given with a new target: one change to the pool first */
		json_t *patch = json_deep_copy(body);

		json_object_del(patch, "name");
		snprintf(path, sizeof(path), "gateway/upstreams/%s", cli_escape(argv[0]));
		ret = gwd_call("PATCH", path, patch, NULL);
		json_decref(patch);
	}
	if (!ret && exists) {
		snprintf(path, sizeof(path), "gateway/upstreams/%s/targets", cli_escape(argv[0]));
		ret = gwd_call("POST", path, target, NULL);
	} else if (!ret) {
		/* A new pool: created with its first target in one change. */
		json_object_set_new(body, "targets", json_pack("[O]", target));
		ret = gwd_call("POST", "gateway/upstreams", body, NULL);
	}
	json_decref(target);
	json_decref(body);
	return ret ? ret : cli_changed();
}

static int upstream_del(int argc, char **argv)
{
	char path[768];

	if (argc < 1)
		return cli_error("upstream del: missing POOL (gwctl upstream del POOL [ADDR:PORT])");
	if (cli_no_more("upstream del", argc > 2 ? argc - 2 : 0, argv + 2))
		return 1;
	if (argc == 1)
		snprintf(path, sizeof(path), "gateway/upstreams/%s", cli_escape(argv[0]));
	else
		snprintf(path, sizeof(path), "gateway/upstreams/%s/targets/%s", cli_escape(argv[0]),
			 cli_escape(argv[1]));
	return gwd_call("DELETE", path, NULL, NULL) ?: cli_changed();
}

static int upstream_set(int argc, char **argv)
{
	char path[768];
	json_t *body;
	uint32_t w;
	int ret;

	if (argc >= 2 && cli_is_prefix(argv[1], "max_conns")) {
		/* a pool setting: the cap on each target's calls in progress */
		if (argc < 3)
			return cli_error("upstream set: max_conns needs a value");
		if (cli_u32("upstream set", "max_conns", argv[2], 1000000, &w) ||
		    cli_no_more("upstream set", argc - 3, argv + 3))
			return 1;
		snprintf(path, sizeof(path), "gateway/upstreams/%s", cli_escape(argv[0]));
		body = json_pack("{s:I}", "max_conns", (json_int_t)w);
		ret = gwd_call("PATCH", path, body, NULL);
		json_decref(body);
		return ret ? ret : cli_changed();
	}
	if (argc < 4 || !cli_is_prefix(argv[2], "weight"))
		return cli_error("upstream set: expected POOL ADDR:PORT weight W or POOL max_conns N");
	if (cli_u32("upstream set", "weight", argv[3], 65535, &w) ||
	    cli_no_more("upstream set", argc - 4, argv + 4))
		return 1;
	snprintf(path, sizeof(path), "gateway/upstreams/%s/targets/%s", cli_escape(argv[0]),
		 cli_escape(argv[1]));
	body = json_pack("{s:I}", "weight", (json_int_t)w);
	ret = gwd_call("PATCH", path, body, NULL);
	json_decref(body);
	return ret ? ret : cli_changed();
}

/* Runtime state of a target from GET /v1/status (modules.gateway.targets). */
static json_t *target_state(json_t *status, const char *pool, const char *addr)
{
	json_t *targets = json_object_get(json_object_get(json_object_get(status, "modules"),
							  "gateway"), "targets"), *t;
	size_t i;

	json_array_foreach(targets, i, t)
		if (!strcmp(json_string_value(json_object_get(t, "upstream")) ?: "", pool) &&
		    !strcmp(json_string_value(json_object_get(t, "addr")) ?: "", addr))
			return t;
	return NULL;
}

static int upstream_show(int argc, char **argv)
{
	json_t *arr, *status = NULL, *u;
	size_t i, j;

	if (argc > 1)
		return cli_no_more("upstream show", argc - 1, argv + 1);
	if (gwd_call("GET", "gateway/upstreams", NULL, &arr))
		return 1;
	if (argc == 1) {
		bool found = false;

		json_array_foreach(arr, i, u)
			found |= !strcmp(json_string_value(json_object_get(u, "name")) ?: "", argv[0]);
		if (!found) {
			json_decref(arr);
			return cli_error("upstream '%s' not found", argv[0]);
		}
	}
	if (gwd_call("GET", "status", NULL, &status)) {
		json_decref(arr);
		return 1;
	}
	print_start();
	open_json_array(NULL);
	if (!print_is_json())
		print_text("%-16s %-5s %-24s %6s %-9s %8s %8s\n", "POOL", "ALGO", "TARGET", "WEIGHT",
			   "STATE", "INFLIGHT", "MAXCONN");
	json_array_foreach(arr, i, u) {
		const char *name = json_string_value(json_object_get(u, "name")) ?: "";
		const char *algo = json_string_value(json_object_get(u, "algorithm")) ?: "rr";
		json_t *targets = json_object_get(u, "targets"), *t;
		json_t *mc = json_object_get(u, "max_conns");
		long long max_conns = mc ? json_integer_value(mc) : 1024;
		char cap[24] = "-";	/* 0: no cap */

		if (argc == 1 && strcmp(argv[0], name))
			continue;
		open_json_object(NULL);
		print_string(PRINT_JSON, "name", NULL, name);
		print_string(PRINT_JSON, "algorithm", NULL, algo);
		print_int(PRINT_JSON, "max_conns", NULL, max_conns);
		if (max_conns)
			snprintf(cap, sizeof(cap), "%lld", max_conns);
		open_json_array("targets");
		if (!json_array_size(targets) && !print_is_json())
			print_text("%-16s %-5s %-24s\n", name, algo, "-");
		json_array_foreach(targets, j, t) {
			const char *addr = json_string_value(json_object_get(t, "addr")) ?: "";
			json_t *st = target_state(status, name, addr), *wj = json_object_get(t, "weight");
			long long w = wj ? json_integer_value(wj) : 100;
			const char *breaker = st ? json_string_value(json_object_get(st, "breaker"))
						 : NULL;
			const char *state = !st ? "unknown"
					    : !json_is_true(json_object_get(st, "usable")) ?
					      (json_is_true(json_object_get(st, "ejected")) ? "ejected"
					       : w == 0 ? "drained" : "down")
					    : breaker && strcmp(breaker, "closed") ? breaker : "up";
			long long inflight = st ? json_integer_value(json_object_get(st, "in_flight")) : 0;

			open_json_object(NULL);
			print_string(PRINT_JSON, "addr", NULL, addr);
			print_int(PRINT_JSON, "weight", NULL, w);
			print_string(PRINT_JSON, "state", NULL, state);
			print_int(PRINT_JSON, "in_flight", NULL, inflight);
			if (breaker)
				print_string(PRINT_JSON, "breaker", NULL, breaker);
			if (st && json_is_true(json_object_get(st, "panic")))
				print_bool(PRINT_JSON, "panic", NULL, true);
			close_json_object();
			if (!print_is_json())
				print_text("%-16s %-5s %-24s %6lld %-9s %8lld %8s\n", name, algo, addr,
					   w, state, inflight, cap);
		}
		close_json_array();
		close_json_object();
	}
	close_json_array();
	print_end();
	json_decref(arr);
	json_decref(status);
	return 0;
}

static const struct cli_cmd upstream_cmds[] = {
	{ "add", "POOL ADDR:PORT [weight W] [algorithm rr|lc|hash|p2c] [max_conns N]",
	  "add a target to an upstream pool (the pool is created if new)", upstream_add },
	{ "del", "POOL [ADDR:PORT]", "remove a target, or the whole pool", upstream_del },
	{ "set", "POOL [ADDR:PORT weight W] [max_conns N]",
	  "change a target's weight (0 drains it), or the pool's cap on each target's calls in "
	  "progress (0: none)", upstream_set },
	{ "show", "[POOL]", "list pools, targets, health, circuit breakers and in-flight requests", upstream_show },
	{ NULL },
};

const struct cli_object obj_upstream = { "upstream", "the gateway's upstream pools and targets",
					 upstream_cmds };
