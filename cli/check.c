// SPDX-License-Identifier: GPL-2.0
/*
 * The `check ...` words of `gwctl vip add|set` and `gwctl backend set`: a health check as JSON
 * for the admin API. gwd validates the values (ranges, timeout vs interval, ...); this only
 * knows the grammar. See docs/health.md.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "gwctl.h"

static const char *const fields[] = { "port", "interval", "timeout", "rise", "fall", "encap",
				      "method", "path", "host", "status", "body", NULL };
enum { F_PORT, F_INTERVAL, F_TIMEOUT, F_RISE, F_FALL, F_ENCAP };

/* The field word is matched by unambiguous prefix; returns its index or -1 (error printed). */
static int field_of(const char *what, const char *word)
{
	int k = -1, hits = 0;

	for (int j = 0; fields[j]; j++) {
		if (!strcmp(word, fields[j]))
			return j;
		if (cli_is_prefix(word, fields[j])) {
			k = j;
			hits++;
		}
	}
	if (hits == 1)
		return k;
	cli_error("%s: check: %s '%s' (expected port, interval, timeout, rise, fall, encap, "
		  "method, path, host, status or body)",
		  what, hits ? "ambiguous argument" : "unknown argument", word);
	return -1;
}

static int set_field(const char *what, json_t *o, int k, const char *v)
{
	uint32_t n;

	switch (k) {
	case F_PORT:
	case F_RISE:
	case F_FALL:
		if (cli_u32(what, fields[k], v, UINT32_MAX, &n))
			return 1;
		json_object_set_new(o, fields[k], json_integer(n));
		return 0;
	case F_ENCAP:
		if (strcmp(v, "on") && strcmp(v, "off"))
			return cli_error("%s: check: encap takes on or off, not '%s'", what, v);
		json_object_set_new(o, "encap", json_boolean(!strcmp(v, "on")));
		return 0;
	default: /* durations and strings: gwd parses and checks them */
		json_object_set_new(o, fields[k], json_string(v));
		return 0;
	}
}

int cli_check_parse(const char *what, int argc, char **argv, enum cli_check_mode mode,
		    json_t **out)
{
	static const char *const types[] = { "tcp", "http", "none", "inherit" };
	const char *type = NULL;
	json_t *o;
	int i = 0;

	*out = NULL;
	if (argc == 0)
		return cli_error("%s: check: missing tcp, http, none%s or a field to change", what,
				 mode == CHECK_BACKEND ? ", inherit" : "");
	for (int j = 0; j < 4; j++)
		if (!strcmp(argv[0], types[j]))
			type = types[j];
	if (type && !strcmp(type, "inherit") && mode != CHECK_BACKEND)
		return cli_error("%s: check: inherit is for a backend (a service's check is tcp, "
				 "http or none)",
				 what);
	if (type && (!strcmp(type, "none") || !strcmp(type, "inherit")) && argc > 1 &&
	    (mode != CHECK_BACKEND || !strcmp(type, "inherit")))
		return cli_no_more(what, argc - 1, argv + 1);
	if (!type) {
		bool field = false;

		for (int j = 0; fields[j]; j++)
			field |= cli_is_prefix(argv[0], fields[j]);
		if (!field)
			return cli_error("%s: check: unknown check type '%s' (expected tcp, http, "
					 "none%s, or a field to change)",
					 what, argv[0], mode == CHECK_BACKEND ? ", inherit" : "");
	}
	o = json_object();
	if (type) {
		i = 1;
		/* A type replaces the whole check: every other field is cleared (JSON merge). */
		if (mode != CHECK_ADD)
			for (int j = 0; fields[j]; j++)
				json_object_set_new(o, fields[j], json_null());
		json_object_set_new(o, "type", json_string(type));
	}
	for (; i < argc; i += 2) {
		int k = field_of(what, argv[i]);

		if (k < 0)
			goto fail;
		if (i + 1 >= argc) {
			cli_error("%s: check: %s needs a value", what, fields[k]);
			goto fail;
		}
		if (set_field(what, o, k, argv[i + 1]))
			goto fail;
	}
	if (type && !strcmp(type, "inherit")) {
		json_decref(o);
		*out = json_null();	/* the backend's override removed */
	} else if (type && !strcmp(type, "none") && mode != CHECK_BACKEND) {
		json_decref(o);
		*out = mode == CHECK_ADD ? NULL : json_null();	/* the service's check removed */
	} else {
		*out = o;
	}
	return 0;
fail:
	json_decref(o);
	return 1;
}
