// SPDX-License-Identifier: GPL-2.0
/* gwctl: the xdpgw command line; global options, the table of objects, help and dispatch. */
#include <curl/curl.h>
#include <errno.h>
#include <bpf/libbpf.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwctl.h"
#include "lib/addr.h"
#include "lib/log.h"

struct cli_opts cli;

/* libbpf's messages (and the verifier's log) go to stderr with -d only. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!cli.debug)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* The objects, in help order. A new object is one file and one row here. */
static const struct cli_object *const objects[] = {
	&obj_link, &obj_vip, &obj_backend, &obj_decap, &obj_stats, &obj_conntrack,
	&obj_lookup, &obj_status, &obj_doctor, &obj_route, &obj_upstream, &obj_consumer, &obj_cache,
	&obj_apply,
	NULL,
};

bool cli_is_prefix(const char *word, const char *keyword)
{
	size_t n = strlen(word);

	return n > 0 && strncmp(keyword, word, n) == 0;
}

int cli_no_more(const char *what, int argc, char **argv)
{
	if (argc > 0)
		return cli_error("%s: unexpected argument '%s'", what, argv[0]);
	return 0;
}

int cli_u32(const char *what, const char *keyword, const char *s, uint32_t max, uint32_t *out)
{
	int ret = u32_parse(s, 0, max, out);

	if (ret == -ERANGE)
		return cli_error("%s: %s %s is out of range 0-%u", what, keyword, s, max);
	if (ret)
		return cli_error("%s: %s must be a number, got '%s'", what, keyword, s);
	return 0;
}

static void print_object_usage(FILE *f, const struct cli_object *o, const char *indent)
{
	for (const struct cli_cmd *c = o->cmds; c->name; c++)
		fprintf(f, "%sgwctl %s%s%s%s%s\n", indent, o->name, c->name[0] ? " " : "", c->name,
			c->args[0] ? " " : "", c->args);
}

static void usage_all(FILE *f)
{
	fprintf(f, "Usage: gwctl [OPTIONS] OBJECT { COMMAND | help }\n"
		   "       gwctl help | gwctl OBJECT help | gwctl version\n"
		   "OPTIONS := { -j|--json | -p|--pretty | -d|--debug | --socket PATH | "
		   "--bpffs DIR }\n"
		   "OBJECT := {");
	for (size_t i = 0; objects[i]; i++)
		fprintf(f, " %s%s", objects[i]->name, objects[i + 1] ? " |" : " }\n\n");
	for (size_t i = 0; objects[i]; i++)
		print_object_usage(f, objects[i], "  ");
	fprintf(f, "\nPrefixes are accepted when unambiguous (gwctl b a = gwctl backend add).\n"
		   "Changes go through gwd (--socket, default " GWCTL_DEFAULT_SOCKET "); reads "
		   "come from the\npinned maps (--bpffs, default " GWCTL_DEFAULT_BPFFS ") and "
		   "work while gwd is down.\nSee docs/gwctl.md and docs/gwctl-OBJECT.md.\n");
}

static json_t *object_json(const struct cli_object *o)
{
	json_t *cmds = json_array();

	for (const struct cli_cmd *c = o->cmds; c->name; c++)
		json_array_append_new(cmds, json_pack("{s:s, s:s, s:s}", "name", c->name, "args",
						      c->args, "help", c->help));
	return json_pack("{s:s, s:s, s:o}", "name", o->name, "summary", o->summary, "commands",
			 cmds);
}

/* gwctl -j help: the grammar as data (for completion and other tools). */
static void help_json(const struct cli_object *only)
{
	json_t *objs;

	if (only) {
		print_json(NULL, object_json(only));
		return;
	}
	objs = json_array();
	for (size_t i = 0; objects[i]; i++)
		json_array_append_new(objs, object_json(objects[i]));
	print_json("options", json_pack("[s, s, s, s, s]", "-j", "-p", "-d", "--socket",
					"--bpffs"));
	print_json("objects", objs);
}

static void usage_object(FILE *f, const struct cli_object *o)
{
	fprintf(f, "Usage:\n");
	print_object_usage(f, o, "  ");
	fprintf(f, "\n");
	for (const struct cli_cmd *c = o->cmds; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name[0] ? c->name : o->name, c->help);
}

/* Finds word among names (prefixes allowed unless exact_only); prints why not and returns -1. */
static int match(const char *kind, const char *ctx, const char *word, const char *const *names,
		 size_t n, bool exact_only)
{
	char list[256] = "";
	int found = -1, count = 0;

	for (size_t i = 0; i < n; i++) {
		if (!names[i][0])
			continue;
		if (strcmp(names[i], word) == 0)
			return (int)i;
	}
	if (!exact_only) {
		for (size_t i = 0; i < n; i++) {
			if (names[i][0] && cli_is_prefix(word, names[i])) {
				size_t l = strlen(list);

				snprintf(list + l, sizeof(list) - l, "%s%s", count ? ", " : "",
					 names[i]);
				found = (int)i;
				count++;
			}
		}
		if (count == 1)
			return found;
	}
	if (count > 1)
		cli_error("%sambiguous %s '%s': %s", ctx, kind, word, list);
	return count > 1 ? -2 : -1;
}

static int run_object(const struct cli_object *o, int argc, char **argv)
{
	const char *names[32];
	const struct cli_cmd *def = NULL;
	char ctx[64];
	size_t n = 0;
	int i;

	for (const struct cli_cmd *c = o->cmds; c->name && n < 32; c++) {
		names[n++] = c->name;
		if (!c->name[0])
			def = c;
	}
	if (argc > 0 && (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 ||
			 strcmp(argv[0], "-h") == 0)) {
		if (print_is_json())
			help_json(o);
		else
			usage_object(stdout, o);
		return 0;
	}
	if (argc == 0) {
		if (def)
			return def->run(0, argv);
		for (size_t k = 0; k < n; k++)
			if (strcmp(names[k], "show") == 0)
				return o->cmds[k].run(0, argv);
		return cli_error("%s: missing command (try 'gwctl %s help')", o->name, o->name);
	}
	snprintf(ctx, sizeof(ctx), "%s: ", o->name);
	i = match("command", ctx, argv[0], names, n, def != NULL);
	if (i == -2)
		return 1;
	if (i >= 0)
		return o->cmds[i].run(argc - 1, argv + 1);
	if (def)
		return def->run(argc, argv);
	return cli_error("%s: unknown command '%s' (try 'gwctl %s help')", o->name, argv[0],
			 o->name);
}

static void record_cmdline(int argc, char **argv)
{
	size_t n = 0;

	for (int i = 0; i < argc && n < sizeof(cli.cmdline) - 2; i++)
		n += (size_t)snprintf(cli.cmdline + n, sizeof(cli.cmdline) - n, "%s%s",
				      i ? " " : "", argv[i]);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "debug", no_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 'S' },
		{ "bpffs", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	const char *names[32];
	size_t n = 0;
	int c, i, ret;

	cli.socket = GWCTL_DEFAULT_SOCKET;
	cli.bpffs = GWCTL_DEFAULT_BPFFS;
	log_init("gwctl", LOG_LVL_WARN);
	libbpf_set_print(libbpf_print);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jpdhV", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			cli.json = true;
			break;
		case 'p':
			cli.json = cli.pretty = true;
			break;
		case 'd':
			cli.debug = true;
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'S':
			cli.socket = optarg;
			break;
		case 'B':
			cli.bpffs = optarg;
			break;
		case 'h':
			usage_all(stdout);
			return 0;
		case 'V':
			printf("gwctl " XDPGW_VERSION "\n");
			return 0;
		default:
			print_start();
			if (optopt && strchr("SB", optopt) == NULL && optopt != 0)
				return cli_error("unknown option '-%c' (try 'gwctl help')", optopt);
			return cli_error("unknown option or missing value for '%s' (try 'gwctl "
					 "help')",
					 argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	print_start();
	if (argc == 0) {
		usage_all(stderr);
		return cli_error("missing object (try 'gwctl help')");
	}
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "version") == 0) {
		if (cli_no_more(argv[0], argc - 1, argv + 1))
			return 1;
		if (argv[0][0] == 'v')
			print_string(PRINT_ANY, "version", "gwctl %s\n", XDPGW_VERSION);
		else if (print_is_json())
			help_json(NULL);
		else
			usage_all(stdout);
		print_end();
		return 0;
	}
	for (i = 0; objects[i] && n < 32; i++)
		names[n++] = objects[i]->name;
	i = match("object", "", argv[0], names, n, false);
	if (i == -2)
		return 1;
	if (i < 0)
		return cli_error("unknown object '%s' (try 'gwctl help')", argv[0]);
	/* Arguments end up as JSON strings, which must be UTF-8: jansson refuses others, and a
	 * field left out of a change changes something else (a purge of one path purges all). An
	 * apply's FILE is a path, not a value. */
	for (int a = 1; a < argc && objects[i] != &obj_apply; a++) {
		json_t *t = json_string(argv[a]);

		if (!t)
			return cli_error("%s: argument %d is not valid UTF-8", objects[i]->name, a);
		json_decref(t);
	}
	record_cmdline(argc, argv);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ret = run_object(objects[i], argc - 1, argv + 1);
	if (ret == 0)
		print_end();
	curl_global_cleanup();
	return ret;
}
