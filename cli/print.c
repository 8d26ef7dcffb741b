// SPDX-License-Identifier: GPL-2.0
/* One printing path for text and JSON: text goes out as printed, JSON is built and dumped once. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwctl.h"

#define PRINT_MAX_DEPTH 16

static json_t *root;
static json_t *stack[PRINT_MAX_DEPTH];
static int depth;
static bool done;	/* an error or a result was written: nothing else goes to stdout */

bool print_is_json(void)
{
	return cli.json;
}

void print_start(void)
{
	json_decref(root);
	root = NULL;
	depth = 0;
	done = false;
}

static void attach(const char *key, json_t *v)
{
	json_t *cur;

	if (depth == 0) {
		if (!root)
			root = json_object();
		stack[depth++] = root;
	}
	cur = stack[depth - 1];
	if (json_is_array(cur))
		json_array_append_new(cur, v);
	else
		json_object_set_new(cur, key ? key : "value", v);
}

static void open_container(const char *key, json_t *c)
{
	if (!cli.json) {
		json_decref(c);
		return;
	}
	if (!root && depth == 0) {
		root = c;
	} else {
		json_incref(c);
		attach(key, c);
		json_decref(c);
	}
	if (depth < PRINT_MAX_DEPTH)
		stack[depth++] = c;
}

void open_json_object(const char *key)
{
	open_container(key, json_object());
}

void open_json_array(const char *key)
{
	open_container(key, json_array());
}

void close_json_object(void)
{
	if (cli.json && depth > 0)
		depth--;
}

void close_json_array(void)
{
	close_json_object();
}

void print_json(const char *key, json_t *value)
{
	if (cli.json && !key && !root && depth == 0)
		root = value;	/* the whole document */
	else if (cli.json)
		attach(key, value);
	else
		json_decref(value);
}

#define PRINT_TEXT(t, fmt, value)                                                                  \
	do {                                                                                       \
		if (!cli.json && (t) != PRINT_JSON && (fmt))                                       \
			printf((fmt), (value));                                                    \
	} while (0)

void print_string(enum print_type t, const char *key, const char *fmt, const char *value)
{
	if (cli.json && t != PRINT_FP)
		attach(key, value ? json_string(value) : json_null());
	PRINT_TEXT(t, fmt, value ? value : "-");
}

void print_u64(enum print_type t, const char *key, const char *fmt, uint64_t value)
{
	if (cli.json && t != PRINT_FP)
		attach(key, json_integer((json_int_t)value));
	PRINT_TEXT(t, fmt, (unsigned long long)value);
}

void print_int(enum print_type t, const char *key, const char *fmt, long long value)
{
	if (cli.json && t != PRINT_FP)
		attach(key, json_integer(value));
	PRINT_TEXT(t, fmt, value);
}

void print_bool(enum print_type t, const char *key, const char *fmt, bool value)
{
	if (cli.json && t != PRINT_FP)
		attach(key, json_boolean(value));
	PRINT_TEXT(t, fmt, value ? "yes" : "no");
}

void print_float(enum print_type t, const char *key, const char *fmt, double value)
{
	if (cli.json && t != PRINT_FP)
		attach(key, json_real(value));
	PRINT_TEXT(t, fmt, value);
}

void print_null(enum print_type t, const char *key, const char *fmt)
{
	if (cli.json && t != PRINT_FP)
		attach(key, json_null());
	PRINT_TEXT(t, fmt, "-");
}

void print_text(const char *fmt, ...)
{
	va_list ap;

	if (cli.json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static void dump(json_t *v)
{
	/* 12 significant digits: jansson's default 17 prints 0.077 as 0.076999999999999999. */
	size_t flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12);

	flags |= cli.pretty ? JSON_INDENT(2) : JSON_COMPACT;
	json_dumpf(v ? v : json_null(), stdout, flags);
	fputc('\n', stdout);
}

void print_end(void)
{
	if (cli.json && !done)
		dump(root ? root : json_object());
	done = true;
	json_decref(root);
	root = NULL;
	depth = 0;
	fflush(stdout);
}

int cli_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "Error: %s\n", msg);
	if (cli.json && !done) {
		json_t *e = json_pack("{s:s}", "error", msg);

		if (!e) {
			/* Not UTF-8 (an argument quoted, or a character cut at the end): JSON
			 * strings can not hold it, and a null would read as success. */
			for (char *p = msg; *p; p++)
				if ((unsigned char)*p >= 0x80)
					*p = '?';
			e = json_pack("{s:s}", "error", msg);
		}
		dump(e);
		json_decref(e);
	}
	done = true;
	json_decref(root);
	root = NULL;
	depth = 0;
	return 1;
}

int cli_changed(void)
{
	if (cli.json && !done) {
		fputs("null\n", stdout);
		fflush(stdout);
	}
	done = true;
	return 0;
}
