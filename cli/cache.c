// SPDX-License-Identifier: GPL-2.0
/* gwctl cache: the gateway's response caches (the cache policy): show and purge. */
#include <stdio.h>
#include <string.h>

#include "gwctl.h"

static int cache_purge(int argc, char **argv)
{
	json_t *body, *resp = NULL;
	int ret;

	if (argc < 1)
		return cli_error("cache purge: missing ROUTE (gwctl cache purge ROUTE [PATH])");
	if (cli_no_more("cache purge", argc > 2 ? argc - 2 : 0, argv + 2))
		return 1;
	if (argc == 2 && argv[1][0] != '/')
		return cli_error("cache purge: PATH must start with / (an exact path, or a prefix "
				 "ending in *), got '%s'", argv[1]);
	body = json_pack("{s:s}", "route", argv[0]);
	if (argc == 2)
		json_object_set_new(body, "path", json_string(argv[1]));
	ret = gwd_call("POST", "gateway/cache/purge", body, &resp);
	json_decref(body);
	if (ret)
		return ret;
	print_start();
	open_json_object(NULL);
	print_int(PRINT_JSON, "purged", NULL, json_integer_value(json_object_get(resp, "purged")));
	close_json_object();
	if (!print_is_json())
		print_text("purged %lld entries\n",
			   (long long)json_integer_value(json_object_get(resp, "purged")));
	print_end();
	json_decref(resp);
	return 0;
}

static int cache_show(int argc, char **argv)
{
	static const char *const counters[] = { "hits", "misses", "stale", "evictions", "stored",
						"purged", "coalesced", "bypass", NULL };
	json_t *arr, *c;
	size_t i;
	bool found = false;

	if (argc > 1)
		return cli_no_more("cache show", argc - 1, argv + 1);
	if (gwd_call("GET", "gateway/cache", NULL, &arr))
		return 1;
	/* An unknown route is an error before anything is printed (stdout stays one document). */
	json_array_foreach(arr, i, c)
		found |= argc == 1 &&
			 !strcmp(argv[0], json_string_value(json_object_get(c, "route")) ?: "");
	if (argc == 1 && !found) {
		json_decref(arr);
		return cli_error("cache show: route %s has no cache", argv[0]);
	}
	print_start();
	open_json_array(NULL);
	if (!print_is_json())
		print_text("%-20s %8s %12s %12s %10s %10s %9s %9s\n", "ROUTE", "ENTRIES", "BYTES",
			   "MAX_BYTES", "HITS", "MISSES", "EVICTED", "COALESCED");
	json_array_foreach(arr, i, c) {
		const char *route = json_string_value(json_object_get(c, "route")) ?: "";

		if (argc == 1 && strcmp(argv[0], route))
			continue;
		open_json_object(NULL);
		print_string(PRINT_JSON, "route", NULL, route);
		print_int(PRINT_JSON, "entries", NULL, json_integer_value(json_object_get(c, "entries")));
		print_int(PRINT_JSON, "bytes", NULL, json_integer_value(json_object_get(c, "bytes")));
		print_int(PRINT_JSON, "max_bytes", NULL,
			  json_integer_value(json_object_get(c, "max_bytes")));
		for (const char *const *k = counters; *k; k++)
			print_int(PRINT_JSON, *k, NULL, json_integer_value(json_object_get(c, *k)));
		close_json_object();
		if (!print_is_json())
			print_text("%-20s %8lld %12lld %12lld %10lld %10lld %9lld %9lld\n", route,
				   json_integer_value(json_object_get(c, "entries")),
				   json_integer_value(json_object_get(c, "bytes")),
				   json_integer_value(json_object_get(c, "max_bytes")),
				   json_integer_value(json_object_get(c, "hits")),
				   json_integer_value(json_object_get(c, "misses")),
				   json_integer_value(json_object_get(c, "evictions")),
				   json_integer_value(json_object_get(c, "coalesced")));
	}
	close_json_array();
	json_decref(arr);
	print_end();
	return 0;
}

static const struct cli_cmd cache_cmds[] = {
	{ "purge", "ROUTE [PATH]",
	  "drop a route's cached responses: all, one path (any query), or PATH* as a prefix",
	  cache_purge },
	{ "show", "[ROUTE]", "entries, bytes, hits, misses and evictions per route", cache_show },
	{ NULL },
};

const struct cli_object obj_cache = { "cache", "the gateway's response caches", cache_cmds };
