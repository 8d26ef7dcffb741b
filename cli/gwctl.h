/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gwctl internals: the object and command tables, argument helpers, the admin API client and
 * the one printing path for text and JSON (iproute2's print_* style).
 *
 * Adding an object: write cli/OBJECT.c defining `const struct cli_object obj_OBJECT` with its
 * command table, and add one row to the table in cli/main.c. `gwctl help`, `gwctl OBJECT help`
 * and prefix matching come from the table.
 */
#ifndef XDPGW_CLI_GWCTL_H
#define XDPGW_CLI_GWCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GWCTL_DEFAULT_SOCKET "/run/xdpgw/gwd.sock"
#define GWCTL_DEFAULT_BPFFS "/sys/fs/bpf/xdpgw"

/* Global options (the only globals besides the printer's state). */
struct cli_opts {
	bool json;
	bool pretty;
	bool debug;
	const char *socket;
	const char *bpffs;
	char cmdline[512];	/* "vip add web ..." for gwd's change log */
};
extern struct cli_opts cli;

/*
 * A command: `gwctl OBJECT NAME ARGS`. name "" is the object's default command (run when the
 * first word is not a command: `gwctl stats web`); such objects match command names exactly so
 * that a service called "re" is not taken for "reset". run gets the words after the command
 * and returns the exit status (0, or cli_error()'s 1).
 */
struct cli_cmd {
	const char *name;
	const char *args;	/* grammar, printed by help and in docs/gwctl-OBJECT.md */
	const char *help;	/* one line */
	int (*run)(int argc, char **argv);
};

struct cli_object {
	const char *name;
	const char *summary;
	const struct cli_cmd *cmds;	/* ends with { .name = NULL } */
};

/* ---- errors and results ---- */
/* Prints "Error: MSG" to stderr (and {"error": MSG} under -j) and returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A change succeeded: prints null under -j, nothing otherwise. Returns 0. */
int cli_changed(void);
/* Fails unless argc == 0: "Error: OBJ CMD: unexpected argument 'x'". */
int cli_no_more(const char *what, int argc, char **argv);
/* Whether a keyword matches word exactly or as a prefix of at least one letter. */
bool cli_is_prefix(const char *word, const char *keyword);
/* Parses an unsigned number for keyword in what; prints the error. */
int cli_u32(const char *what, const char *keyword, const char *s, uint32_t max, uint32_t *out);

/* ---- admin API client (client.c) ---- */
/*
 * Calls gwd: METHOD path (below /v1/, already escaped with cli_escape) with an optional JSON
 * body. Returns 0 with *resp (new reference; may be NULL when resp is NULL) for a 2xx answer;
 * otherwise prints the error through cli_error and returns 1. The error text is gwd's own
 * message, or says why gwd could not be reached.
 */
int gwd_call(const char *method, const char *path, const json_t *body, json_t **resp);
/* The same without printing: on failure the reason goes to why (whylen bytes). */
int gwd_try(const char *method, const char *path, const json_t *body, json_t **resp, char *why,
	    size_t whylen);
/*
 * GETs http://gwd/PATH (not below /v1: "metrics") as text. Returns 0 with *text (malloc'ed,
 * NUL-terminated, the caller frees it) for a 2xx answer; otherwise prints the error through
 * cli_error and returns 1 with *text NULL.
 */
int gwd_get_text(const char *path, char **text);
/*
 * "OBJECT del NAME" (cmd "vip del", arg "NAME"): DELETE collection/NAME (escaped) with nothing
 * after NAME. Returns 0 after printing the change, or 1 after printing the error.
 */
int cli_delete(const char *cmd, const char *arg, const char *collection, int argc, char **argv);
/* Percent-escapes one path segment (an address, a name); returns a static buffer slot. */
const char *cli_escape(const char *s);

/* ---- printing (print.c) ---- */
enum print_type { PRINT_ANY, PRINT_JSON, PRINT_FP };

void print_start(void);	/* starts one output document */
void print_end(void);	/* writes it (JSON under -j) */
void open_json_object(const char *key);
void close_json_object(void);
void open_json_array(const char *key);
void close_json_array(void);
void print_string(enum print_type t, const char *key, const char *fmt, const char *value);
void print_u64(enum print_type t, const char *key, const char *fmt, uint64_t value);
void print_int(enum print_type t, const char *key, const char *fmt, long long value);
void print_bool(enum print_type t, const char *key, const char *fmt, bool value);
void print_float(enum print_type t, const char *key, const char *fmt, double value);
void print_null(enum print_type t, const char *key, const char *fmt);
/* Adds a JSON value under key (reference stolen) in JSON mode; ignored in text mode. */
void print_json(const char *key, json_t *value);
/* Text-mode only output. */
void print_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool print_is_json(void);

/* ---- objects ---- */
extern const struct cli_object obj_link, obj_vip, obj_backend, obj_decap, obj_stats,
	obj_conntrack, obj_lookup, obj_status, obj_doctor, obj_apply, obj_route, obj_upstream,
	obj_consumer, obj_cache;

#endif
