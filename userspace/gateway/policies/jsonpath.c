// SPDX-License-Identifier: GPL-2.0
/* JSON paths, edits on jansson documents and a compact serializer (see jsonpath.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/policies/jsonpath.h"

/* ---- parsing ---- */

void jp_path_free(struct jp_path *p)
{
	for (size_t i = 0; p->segs && i < p->n; i++)
		free(p->segs[i].name);
	free(p->segs);
	p->segs = NULL;
	p->n = 0;
}

static int parse_fail(struct jp_path *p, char *err, size_t errlen, size_t off, const char *what)
{
	snprintf(err, errlen, "at offset %zu: %s", off, what);
	jp_path_free(p);
	return -EINVAL;
}

static int push(struct jp_path *p, enum jp_seg_kind kind, const char *name, size_t len, long index)
{
	struct jp_seg *s;

	if (p->n == JP_MAX_SEGMENTS)
		return -E2BIG;
	if (!p->segs && !(p->segs = calloc(JP_MAX_SEGMENTS, sizeof(*p->segs))))
		return -ENOMEM;
	s = &p->segs[p->n];
	s->kind = kind;
	s->index = index;
	s->name = NULL;
	if (name) {
		if (!(s->name = malloc(len + 1)))
			return -ENOMEM;
		memcpy(s->name, name, len);
		s->name[len] = 0;
	}
	p->n++;
	return 0;
}

/* A quoted name at s[*i] (the quote); unescapes into buf. Returns its length or -1. */
static long parse_quoted(const char *s, size_t *i, char *buf)
{
	char q = s[*i];
	size_t o = 0, k = *i + 1;

	for (; s[k] && s[k] != q; k++) {
		if (s[k] == '\\') {
			if (s[k + 1] != '\\' && s[k + 1] != '"' && s[k + 1] != '\'')
				return -1;
			k++;
		}
		buf[o++] = s[k];
	}
	if (s[k] != q)
		return -1;
	*i = k + 1;
	return (long)o;
}

/* Parses "[...]" at s[*i]. Returns 0 or a message. */
static const char *parse_bracket(struct jp_path *p, const char *s, size_t *i, int *rc)
{
	char buf[JP_MAX_PATH_LEN];
	size_t k = *i + 1;

	*rc = 0;
	if (s[k] == '*') {
		if (s[k + 1] != ']') {
			*i = k + 1;
			return "expected ] after *";
		}
		*rc = push(p, JP_SEG_WILD, NULL, 0, 0);
		*i = k + 2;
		return NULL;
	}
	if (s[k] == '"' || s[k] == '\'') {
		long n = parse_quoted(s, &k, buf);

		if (n < 0)
			return "unterminated or badly escaped quoted name";
		if (s[k] != ']') {
			*i = k;
			return "expected ] after the quoted name";
		}
		*rc = push(p, JP_SEG_NAME, buf, n, 0);
		*i = k + 1;
		return NULL;
	}
	{
		char *end;
		long v;

		if (!((s[k] >= '0' && s[k] <= '9') || (s[k] == '-' && s[k + 1] >= '0' && s[k + 1] <= '9'))) {
			*i = k;
			return "expected an index, * or a quoted name after [";
		}
		errno = 0;
		v = strtol(s + k, &end, 10);
		if (errno || v > 1000000000L || v < -1000000000L) {
			*i = k;
			return "index out of range";
		}
		if (*end != ']') {
			*i = end - s;
			return "expected ]";
		}
		*rc = push(p, JP_SEG_INDEX, NULL, 0, v);
		*i = end - s + 1;
		return NULL;
	}
}

int jp_path_parse(const char *s, struct jp_path *p, char *err, size_t errlen)
{
	size_t i = 0, len = strlen(s);
	bool first = true;
	int rc;

	p->segs = NULL;
	p->n = 0;
	if (len == 0)
		return parse_fail(p, err, errlen, 0, "empty path");
	if (len >= JP_MAX_PATH_LEN)
		return parse_fail(p, err, errlen, 0, "path too long");
	if (s[0] == '$') {
		i = 1;
		if (s[1] && s[1] != '.' && s[1] != '[')
			return parse_fail(p, err, errlen, 1, "expected . or [ after $");
		first = false;
	}
	while (s[i]) {
		size_t start;

		if (s[i] == '[') {
			const char *msg = parse_bracket(p, s, &i, &rc);

			if (msg)
				return parse_fail(p, err, errlen, i, msg);
			if (rc)
				return parse_fail(p, err, errlen, i, rc == -E2BIG ? "too many segments"
									 : "out of memory");
			first = false;
			continue;
		}
		if (s[i] == '.')
			i++;
		else if (!first)
			return parse_fail(p, err, errlen, i, "expected . or [");
		first = false;
		start = i;
		while (s[i] && s[i] != '.' && s[i] != '[' && s[i] != ']')
			i++;
		if (i == start)
			return parse_fail(p, err, errlen, i, "empty member name");
		if (s[i] == ']')
			return parse_fail(p, err, errlen, i, "unexpected ]");
		if (i - start == 1 && s[start] == '*')
			rc = push(p, JP_SEG_WILD, NULL, 0, 0);
		else if (i - start == 2 && s[start] == '*' && s[start + 1] == '*')
			rc = push(p, JP_SEG_DEEP, NULL, 0, 0);
		else
			rc = push(p, JP_SEG_NAME, s + start, i - start, 0);
		if (rc)
			return parse_fail(p, err, errlen, start, rc == -E2BIG ? "too many segments"
								      : "out of memory");
	}
	if (p->n == 0)
		return parse_fail(p, err, errlen, i, "the path names nothing (\"$\" alone)");
	if (p->segs[p->n - 1].kind == JP_SEG_DEEP)
		return parse_fail(p, err, errlen, len, "** must be followed by another segment");
	return 0;
}

bool jp_path_has_wildcard(const struct jp_path *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->segs[i].kind == JP_SEG_WILD || p->segs[i].kind == JP_SEG_DEEP)
			return true;
	return false;
}

/* ---- edits ---- */

enum edit { EDIT_REMOVE, EDIT_RENAME, EDIT_SET, EDIT_ADD };

struct edit_arg {
	enum edit kind;
	const char *new_name;
	const json_t *value;
};

static json_t *array_at(json_t *a, long idx, size_t *pos)
{
	size_t n = json_array_size(a);

	if (idx < 0)
		idx += (long)n;
	if (idx < 0 || (size_t)idx >= n)
		return NULL;
	*pos = (size_t)idx;
	return json_array_get(a, *pos);
}

/* The edit on the last segment s, at node. */
static size_t edit_last(json_t *node, const struct jp_seg *s, const struct edit_arg *e)
{
	size_t pos, n;
	json_t *v;

	switch (s->kind) {
	case JP_SEG_NAME:
		if (!json_is_object(node))
			return 0;
		v = json_object_get(node, s->name);
		switch (e->kind) {
		case EDIT_REMOVE:
			return v && !json_object_del(node, s->name);
		case EDIT_RENAME:
			if (!v || !strcmp(s->name, e->new_name))
				return 0;
			json_incref(v);
			json_object_del(node, s->name);
			json_object_set_new(node, e->new_name, v);
			return 1;
		case EDIT_ADD:
			if (v)
				return 0;
			/* fall through */
		case EDIT_SET:
			return !json_object_set_new(node, s->name, json_deep_copy(e->value));
		}
		return 0;
	case JP_SEG_INDEX:
		if (e->kind != EDIT_REMOVE || !json_is_array(node) || !array_at(node, s->index, &pos))
			return 0;
		return !json_array_remove(node, pos);
	case JP_SEG_WILD:
		if (e->kind != EDIT_REMOVE)
			return 0;
		if (json_is_object(node) && (n = json_object_size(node))) {
			json_object_clear(node);
			return n;
		}
		if (json_is_array(node) && (n = json_array_size(node))) {
			json_array_clear(node);
			return n;
		}
		return 0;
	case JP_SEG_DEEP:
		return 0;	/* refused by the parser */
	}
	return 0;
}

static size_t walk(json_t *node, const struct jp_seg *s, size_t n, const struct edit_arg *e);

static size_t walk_children(json_t *node, const struct jp_seg *s, size_t n,
			    const struct edit_arg *e)
{
	size_t count = 0, i;
	const char *key;
	json_t *v;

	if (json_is_object(node)) {
		json_object_foreach(node, key, v)
			count += walk(v, s, n, e);
	} else if (json_is_array(node)) {
		json_array_foreach(node, i, v)
			count += walk(v, s, n, e);
	}
	return count;
}

static size_t walk(json_t *node, const struct jp_seg *s, size_t n, const struct edit_arg *e)
{
	json_t *next;
	size_t pos;

	if (n == 1)
		return edit_last(node, s, e);
	switch (s->kind) {
	case JP_SEG_NAME:
		if (!json_is_object(node))
			return 0;
		next = json_object_get(node, s->name);
		if (!next && (e->kind == EDIT_SET || e->kind == EDIT_ADD) &&
		    s[1].kind == JP_SEG_NAME) {
			next = json_object();
			if (!next || json_object_set_new(node, s->name, next))
				return 0;
		}
		return next ? walk(next, s + 1, n - 1, e) : 0;
	case JP_SEG_INDEX:
		if (!json_is_array(node) || !(next = array_at(node, s->index, &pos)))
			return 0;
		return walk(next, s + 1, n - 1, e);
	case JP_SEG_WILD:
		return walk_children(node, s + 1, n - 1, e);
	case JP_SEG_DEEP:
		/* Here first, then below: edits at this level are done before we descend. */
		return walk(node, s + 1, n - 1, e) + walk_children(node, s, n, e);
	}
	return 0;
}

size_t jp_remove(json_t *root, const struct jp_path *p)
{
	struct edit_arg e = { EDIT_REMOVE, NULL, NULL };

	return p->n ? walk(root, p->segs, p->n, &e) : 0;
}

size_t jp_rename(json_t *root, const struct jp_path *p, const char *new_name)
{
	struct edit_arg e = { EDIT_RENAME, new_name, NULL };

	if (!p->n || p->segs[p->n - 1].kind != JP_SEG_NAME)
		return 0;
	return walk(root, p->segs, p->n, &e);
}

size_t jp_set(json_t *root, const struct jp_path *p, const json_t *value, bool only_if_absent)
{
	struct edit_arg e = { only_if_absent ? EDIT_ADD : EDIT_SET, NULL, value };

	if (!p->n || p->segs[p->n - 1].kind != JP_SEG_NAME)
		return 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->segs[i].kind == JP_SEG_DEEP)
			return 0;
	return walk(root, p->segs, p->n, &e);
}

/* ---- serializing ---- */

struct out {
	char *p;
	size_t len, cap;
	bool oom;
};

static char *reserve(struct out *o, size_t n)
{
	if (o->oom)
		return NULL;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		char *np;

		while (cap < o->len + n)
			cap *= 2;
		if (!(np = realloc(o->p, cap))) {
			o->oom = true;
			return NULL;
		}
		o->p = np;
		o->cap = cap;
	}
	return o->p + o->len;
}

static void put(struct out *o, const char *s, size_t n)
{
	char *d = reserve(o, n);

	if (d) {
		memcpy(d, s, n);
		o->len += n;
	}
}

static void put_string(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	put(o, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char ch = s[i];
		char esc[6] = { '\\', 0 };
		size_t el = 2;

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		put(o, s + run, i - run);
		run = i + 1;
		switch (ch) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			el = 6;
		}
		put(o, esc, el);
	}
	put(o, s + run, n - run);
	put(o, "\"", 1);
}

static void put_real(struct out *o, double d)
{
	char buf[40];
	int n = 0, prec;

	for (prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, sizeof(buf) - 2, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".eEn")) {	/* keep it a real: 2.0 stays "2.0", not "2" */
		buf[n++] = '.';
		buf[n++] = '0';
	}
	put(o, buf, n);
}

static void dump(struct out *o, const json_t *v)
{
	char buf[32];
	const char *key;
	json_t *x;
	size_t i;
	bool first = true;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		put(o, "{", 1);
		json_object_foreach((json_t *)v, key, x) {
			if (!first)
				put(o, ",", 1);
			first = false;
			put_string(o, key, strlen(key));
			put(o, ":", 1);
			dump(o, x);
		}
		put(o, "}", 1);
		break;
	case JSON_ARRAY:
		put(o, "[", 1);
		json_array_foreach(v, i, x) {
			if (i)
				put(o, ",", 1);
			dump(o, x);
		}
		put(o, "]", 1);
		break;
	case JSON_STRING:
		put_string(o, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		put(o, buf, snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v)));
		break;
	case JSON_REAL:
		put_real(o, json_real_value(v));
		break;
	case JSON_TRUE:
		put(o, "true", 4);
		break;
	case JSON_FALSE:
		put(o, "false", 5);
		break;
	case JSON_NULL:
		put(o, "null", 4);
		break;
	}
}

char *jp_dump(const json_t *v, size_t *len)
{
	struct out o = { 0 };

	dump(&o, v);
	if (o.oom || !reserve(&o, 1)) {
		free(o.p);
		return NULL;
	}
	o.p[o.len] = 0;
	*len = o.len;
	return o.p;
}

/* ---- programs ---- */

void jp_program_free(struct jp_program *prog)
{
	for (size_t i = 0; prog->ops && i < prog->n; i++) {
		jp_path_free(&prog->ops[i].path);
		free(prog->ops[i].text);
		free(prog->ops[i].new_name);
		json_decref(prog->ops[i].value);
	}
	free(prog->ops);
	prog->ops = NULL;
	prog->n = 0;
}

bool jp_program_empty(const struct jp_program *prog)
{
	return prog->n == 0;
}

static bool valid_member_name(const char *s)
{
	return *s && strlen(s) < JP_MAX_PATH_LEN;
}

static int add_op(struct jp_program *prog, enum jp_op_kind kind, const char *where, const char *path,
		  const json_t *arg, char *err, size_t errlen)
{
	struct jp_op *op = &prog->ops[prog->n];
	char perr[160];

	memset(op, 0, sizeof(*op));
	if (jp_path_parse(path, &op->path, perr, sizeof(perr))) {
		snprintf(err, errlen, "%s: \"%s\": %s", where, path, perr);
		return -EINVAL;
	}
	op->kind = kind;
	prog->n++;
	if (!(op->text = strdup(path)))
		return -ENOMEM;
	if (kind == JP_OP_REMOVE)
		return 0;
	if (op->path.segs[op->path.n - 1].kind != JP_SEG_NAME) {
		snprintf(err, errlen, "%s: \"%s\": must end in a member name", where, path);
		return -EINVAL;
	}
	if (kind == JP_OP_RENAME) {
		if (!json_is_string(arg) || !valid_member_name(json_string_value(arg))) {
			snprintf(err, errlen, "%s: the new name must be a non-empty string", where);
			return -EINVAL;
		}
		op->new_name = strdup(json_string_value(arg));
		return op->new_name ? 0 : -ENOMEM;
	}
	for (size_t i = 0; i < op->path.n; i++)
		if (op->path.segs[i].kind == JP_SEG_DEEP) {
			snprintf(err, errlen, "%s: \"%s\": ** can only remove or rename", where, path);
			return -EINVAL;
		}
	op->value = json_deep_copy(arg);
	return op->value ? 0 : -ENOMEM;
}

int jp_program_compile(const json_t *conf, const char *const *ignore, struct jp_program *prog,
		       char *err, size_t errlen)
{
	static const char *const mine[] = { "remove", "rename", "set", "add", NULL };
	static const enum jp_op_kind kinds[] = { JP_OP_RENAME, JP_OP_SET, JP_OP_ADD };
	json_t *rm = json_object_get(conf, "remove"), *v;
	const char *key;
	char where[JP_MAX_PATH_LEN + 32];
	size_t total = json_array_size(rm), i;
	int ret;

	prog->ops = NULL;
	prog->n = 0;
	json_object_foreach((json_t *)conf, key, v) {
		const char *const *k;
		bool known = false;

		for (k = mine; *k && !known; k++)
			known = !strcmp(*k, key);
		for (k = ignore; k && *k && !known; k++)
			known = !strcmp(*k, key);
		if (!known) {
			snprintf(err, errlen, ": unknown field \"%s\"", key);
			return -EINVAL;
		}
	}
	if (rm && !json_is_array(rm)) {
		snprintf(err, errlen, ".remove: must be a list of paths");
		return -EINVAL;
	}
	for (i = 1; i < 4; i++) {
		v = json_object_get(conf, mine[i]);
		if (v && !json_is_object(v)) {
			snprintf(err, errlen, ".%s: must be an object of PATH: %s", mine[i],
				 i == 1 ? "NEW_NAME" : "VALUE");
			return -EINVAL;
		}
		total += json_object_size(v);
	}
	if (!(prog->ops = calloc(total + 1, sizeof(*prog->ops))))
		return -ENOMEM;
	json_array_foreach(rm, i, v) {
		snprintf(where, sizeof(where), ".remove[%zu]", i);
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s: must be a path string", where);
			goto fail;
		}
		if ((ret = add_op(prog, JP_OP_REMOVE, where, json_string_value(v), NULL, err, errlen)))
			goto fail_ret;
	}
	for (i = 1; i < 4; i++) {
		json_object_foreach(json_object_get(conf, mine[i]), key, v) {
			snprintf(where, sizeof(where), ".%s.%s", mine[i], key);
			if ((ret = add_op(prog, kinds[i - 1], where, key, v, err, errlen)))
				goto fail_ret;
		}
	}
	return 0;
fail:
	ret = -EINVAL;
fail_ret:
	if (ret == -ENOMEM)
		snprintf(err, errlen, ": out of memory");
	jp_program_free(prog);
	return ret;
}

size_t jp_program_apply(const struct jp_program *prog, json_t *doc)
{
	size_t changes = 0;

	for (size_t i = 0; i < prog->n; i++) {
		const struct jp_op *op = &prog->ops[i];

		switch (op->kind) {
		case JP_OP_REMOVE:
			changes += jp_remove(doc, &op->path);
			break;
		case JP_OP_RENAME:
			changes += jp_rename(doc, &op->path, op->new_name);
			break;
		case JP_OP_SET:
		case JP_OP_ADD:
			changes += jp_set(doc, &op->path, op->value, op->kind == JP_OP_ADD);
			break;
		}
	}
	return changes;
}

enum jp_run_result jp_program_run(const struct jp_program *prog, const char *in, size_t len,
				  char **out, size_t *outlen)
{
	json_error_t jerr;
	json_t *doc = json_loadb(in, len, JSON_DECODE_ANY, &jerr);
	enum jp_run_result r = JP_RUN_UNCHANGED;

	*out = NULL;
	*outlen = 0;
	if (!doc)
		return JP_RUN_INVALID;
	if (jp_program_apply(prog, doc)) {
		*out = jp_dump(doc, outlen);
		r = *out ? JP_RUN_CHANGED : JP_RUN_NOMEM;
	}
	json_decref(doc);
	return r;
}
