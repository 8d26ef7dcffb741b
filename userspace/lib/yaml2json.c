// SPDX-License-Identifier: GPL-2.0
/* YAML to JSON with libyaml's event parser: a small recursive builder with strict limits. */
#include "lib/yaml2json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 64
#define YAML_MAX_FILE (16u << 20)

struct y2j {
	yaml_parser_t parser;
	char *err;
	size_t errlen;
	bool failed;
};

static void fail(struct y2j *y, const yaml_mark_t *mark, const char *fmt, const char *arg)
{
	char cause[160];

	if (y->failed)
		return;
	y->failed = true;
	snprintf(cause, sizeof(cause), fmt, arg);
	snprintf(y->err, y->errlen, "%zu:%zu: %s", mark->line + 1, mark->column + 1, cause);
}

static bool next_event(struct y2j *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&y->parser, ev)) {
		fail(y, &y->parser.problem_mark, "%s",
		     y->parser.problem ? y->parser.problem : "syntax error");
		return false;
	}
	return true;
}

static bool all_digits(const char *s, size_t i)
{
	if (!s[i])
		return false;
	for (; s[i]; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool has_nul(const yaml_event_t *ev)
{
	return strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length;
}

/* YAML 1.2 core schema for plain scalars; anything else is a string. */
static json_t *plain_scalar(const char *s)
{
	char *end;

	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	if (all_digits(s, (s[0] == '-' || s[0] == '+') ? 1 : 0)) {
		long long v;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (!*end && errno != ERANGE)
			return json_integer(v);
	}
	if (strpbrk(s, "0123456789") && strspn(s, "+-0123456789.eE") == strlen(s)) {
		double d = strtod(s, &end);

		if (!*end)
			return json_real(d);
	}
	return json_string(s);
}

static json_t *build_node(struct y2j *y, yaml_event_t *ev, int depth);

static json_t *build_mapping(struct y2j *y, int depth)
{
	json_t *obj = json_object();
	yaml_event_t ev;

	for (;;) {
		json_t *val;
		char *key;

		if (!next_event(y, &ev))
			goto err;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return obj;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			fail(y, &ev.start_mark, "mapping keys must be plain strings%s", "");
			yaml_event_delete(&ev);
			goto err;
		}
		if (has_nul(&ev)) {
			fail(y, &ev.start_mark, "strings can not contain NUL characters (\\0)%s", "");
			yaml_event_delete(&ev);
			goto err;
		}
		key = strdup((const char *)ev.data.scalar.value);
		if (!strcmp(key, "<<")) {
			fail(y, &ev.start_mark, "merge keys ('<<') are not supported%s", "");
			yaml_event_delete(&ev);
			free(key);
			goto err;
		}
		if (json_object_get(obj, key)) {
			fail(y, &ev.start_mark, "duplicate key '%s'", key);
			yaml_event_delete(&ev);
			free(key);
			goto err;
		}
		yaml_event_delete(&ev);
		if (!next_event(y, &ev)) {
			free(key);
			goto err;
		}
		val = build_node(y, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (!val) {
			free(key);
			goto err;
		}
		json_object_set_new(obj, key, val);
		free(key);
	}
err:
	json_decref(obj);
	return NULL;
}

static json_t *build_sequence(struct y2j *y, int depth)
{
	json_t *arr = json_array();
	yaml_event_t ev;

	for (;;) {
		json_t *val;

		if (!next_event(y, &ev))
			goto err;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return arr;
		}
		val = build_node(y, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (!val)
			goto err;
		json_array_append_new(arr, val);
	}
err:
	json_decref(arr);
	return NULL;
}

/* Builds the value that starts with ev; the caller deletes ev. */
static json_t *build_node(struct y2j *y, yaml_event_t *ev, int depth)
{
	if (depth > YAML_MAX_DEPTH) {
		fail(y, &ev->start_mark, "nesting deeper than %s levels", "64");
		return NULL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		fail(y, &ev->start_mark, "aliases ('*name') are not supported%s", "");
		return NULL;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor)
			break;
		/* JSON text with \u0000 is refused on reading (the state file, the admin API):
		 * such a string could be applied and saved, and never loaded again. */
		if (has_nul(ev)) {
			fail(y, &ev->start_mark, "strings can not contain NUL characters (\\0)%s",
			     "");
			return NULL;
		}
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag) {
			json_t *v = plain_scalar((const char *)ev->data.scalar.value);

			/* json_real() refuses infinities: 1e999 is not a value JSON can hold. */
			if (!v)
				fail(y, &ev->start_mark, "number out of range: %.60s",
				     (const char *)ev->data.scalar.value);
			return v;
		}
		return json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
	case YAML_MAPPING_START_EVENT:
		if (ev->data.mapping_start.anchor)
			break;
		return build_mapping(y, depth);
	case YAML_SEQUENCE_START_EVENT:
		if (ev->data.sequence_start.anchor)
			break;
		return build_sequence(y, depth);
	default:
		fail(y, &ev->start_mark, "unexpected YAML event%s", "");
		return NULL;
	}
	fail(y, &ev->start_mark, "anchors ('&name') are not supported%s", "");
	return NULL;
}

json_t *yaml_to_json(const char *buf, size_t len, char *err, size_t errlen)
{
	struct y2j y = { .err = err, .errlen = errlen };
	json_t *root = NULL;
	yaml_event_t ev;
	bool done = false;

	if (errlen)
		err[0] = '\0';
	yaml_parser_initialize(&y.parser);
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)buf, len);
	while (!done && !y.failed && next_event(&y, &ev)) {
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (root) {
				fail(&y, &ev.start_mark, "only one YAML document is allowed%s", "");
				break;
			}
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			if (root) {
				fail(&y, &ev.start_mark, "only one YAML document is allowed%s", "");
				break;
			}
			root = build_node(&y, &ev, 0);
			if (!root)
				y.failed = true;
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&y.parser);
	if (y.failed) {
		json_decref(root);
		return NULL;
	}
	return root ? root : json_object();
}

json_t *yaml_file_to_json(const char *path, char *err, size_t errlen)
{
	char cause[256];
	json_t *root;
	size_t len;
	char *buf;
	FILE *f;
	long sz;

	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		fclose(f);
		return NULL;
	}
	if ((unsigned long)sz > YAML_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than 16 MiB", path);
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)sz + 1);
	len = buf ? fread(buf, 1, (size_t)sz, f) : 0;
	fclose(f);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	root = yaml_to_json(buf, len, cause, sizeof(cause));
	free(buf);
	if (!root)
		snprintf(err, errlen, "%s:%s", path, cause);
	return root;
}
