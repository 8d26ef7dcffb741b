// SPDX-License-Identifier: GPL-2.0
/* The desired-state document: collection paths, keyed edits, section merges and keyed diffs. */
#include "gwd/doc.h"

#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"

#define DOC_MAX_SEGS 16
#define DOC_SEG_LEN 256

struct segs {
	int n;
	char s[DOC_MAX_SEGS][DOC_SEG_LEN];
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Splits "a/b%2Fc/d" into percent-decoded segments; empty segments are skipped. */
static int split_path(const char *path, struct segs *out)
{
	const char *p = path;

	out->n = 0;
	while (*p) {
		size_t len = 0;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		if (out->n == DOC_MAX_SEGS)
			return -EINVAL;
		char *seg = out->s[out->n++];

		while (*p && *p != '/') {
			int c = (unsigned char)*p++;

			if (c == '%') {
				int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);

				if (lo < 0)
					return -EINVAL;
				c = hi * 16 + lo;
				p += 2;
				if (c == 0)
					return -EINVAL;
			}
			if (len + 1 >= DOC_SEG_LEN)
				return -EINVAL;
			seg[len++] = (char)c;
		}
		seg[len] = '\0';
	}
	return 0;
}

static bool is_param(const char *seg)
{
	return seg[0] == '{';
}

/* The key of an element in normalised form (or raw when the normaliser refuses it). */
static const char *elem_key(const struct gwd_collection *coll, const json_t *elem, char *buf,
			    size_t len)
{
	const char *raw = json_string_value(json_object_get(elem, coll->key));

	if (!raw)
		return NULL;
	if (coll->normalise && coll->normalise(raw, buf, len) == 0)
		return buf;
	return raw;
}

static const char *norm_key(const struct gwd_collection *coll, const char *key, char *buf,
			    size_t len)
{
	if (coll->normalise && coll->normalise(key, buf, len) == 0)
		return buf;
	return key;
}

int doc_find(const struct gwd_collection *coll, const json_t *array, const char *key)
{
	char want_buf[DOC_KEY_LEN], got_buf[DOC_KEY_LEN];
	const char *want = norm_key(coll, key, want_buf, sizeof(want_buf));
	const json_t *elem;
	size_t i;

	if (!json_is_array(array))
		return -1;
	json_array_foreach (array, i, elem) {
		const char *got = elem_key(coll, elem, got_buf, sizeof(got_buf));

		if (got && strcmp(got, want) == 0)
			return (int)i;
	}
	return -1;
}

/* The collection whose path is exactly the first n segments of segs. */
static const struct gwd_collection *parent_coll(const struct gwd_collection *const *colls,
						const struct segs *csegs, int n)
{
	for (size_t i = 0; colls[i]; i++) {
		struct segs p;

		if (split_path(colls[i]->path, &p) || p.n != n)
			continue;
		int k = 0;

		while (k < n && strcmp(p.s[k], csegs->s[k]) == 0)
			k++;
		if (k == n)
			return colls[i];
	}
	return NULL;
}

static bool coll_matches(const struct segs *csegs, const struct segs *segs)
{
	if (segs->n != csegs->n && segs->n != csegs->n + 1)
		return false;
	for (int i = 0; i < csegs->n; i++)
		if (!is_param(csegs->s[i]) && strcmp(csegs->s[i], segs->s[i]) != 0)
			return false;
	return true;
}

int doc_resolve(json_t *doc, const struct gwd_collection *const *colls, const char *path,
		bool create, struct doc_target *t, struct gwd_err *err)
{
	struct segs segs, csegs;
	char of[192] = "";
	json_t *node = doc;

	memset(t, 0, sizeof(*t));
	t->index = -1;
	if (split_path(path, &segs))
		return gwd_err_set(err, 400, "invalid path '/v1/%s'", path);
	for (size_t i = 0; colls[i]; i++) {
		if (split_path(colls[i]->path, &csegs) == 0 && coll_matches(&csegs, &segs)) {
			t->coll = colls[i];
			break;
		}
	}
	if (!t->coll) {
		gwd_err_set(err, 404, "no such endpoint '/v1/%s'", path);
		return -ENOENT;
	}
	int i;

	for (i = 0; i < csegs.n && node; i++) {
		const char *seg = csegs.s[i];
		bool last = i == csegs.n - 1;

		if (is_param(seg)) {
			const struct gwd_collection *pc = parent_coll(colls, &csegs, i);
			int idx = pc ? doc_find(pc, node, segs.s[i]) : -1;
			char kb[DOC_KEY_LEN];

			if (idx < 0)
				goto parent_missing;
			snprintf(of, sizeof(of), " of %s '%s'", pc->what,
				 norm_key(pc, segs.s[i], kb, sizeof(kb)));
			node = json_array_get(node, (size_t)idx);
			continue;
		}
		if (!json_is_object(node))
			return gwd_err_set(err, 400, "'%s' is not an object in the document", seg);
		json_t *child = json_object_get(node, seg);

		if (!child && create) {
			child = last ? json_array() : json_object();
			json_object_set_new(node, seg, child);
		}
		if (child && last && !json_is_array(child))
			return gwd_err_set(err, 400, "'%s' is not a list in the document", seg);
		node = child;
	}
	/* A container missing on the way: a parent element after it can not exist; a
	 * collection that does not exist yet is empty. */
	for (; i < csegs.n; i++)
		if (is_param(csegs.s[i]))
			goto parent_missing;
	t->array = node;
	snprintf(t->of, sizeof(t->of), "%s", of);
	if (segs.n == csegs.n + 1) {
		char kb[DOC_KEY_LEN];

		t->has_key = true;
		snprintf(t->key, sizeof(t->key), "%s",
			 norm_key(t->coll, segs.s[csegs.n], kb, sizeof(kb)));
		t->index = doc_find(t->coll, t->array, t->key);
		snprintf(t->label, sizeof(t->label), "%s '%s'%s", t->coll->what, t->key, of);
	} else {
		snprintf(t->label, sizeof(t->label), "%ss%s", t->coll->what, of);
	}
	return 0;

parent_missing:;
	const struct gwd_collection *pc = parent_coll(colls, &csegs, i);
	char kb[DOC_KEY_LEN];

	gwd_err_set(err, 404, "%s '%s' not found%s", pc ? pc->what : "parent",
		    pc ? norm_key(pc, segs.s[i], kb, sizeof(kb)) : segs.s[i], of);
	return -ENOENT;
}

static int elem_body_key(const struct doc_target *t, const json_t *body, char *key, size_t len,
			 struct gwd_err *err)
{
	const char *raw = json_string_value(json_object_get(body, t->coll->key));
	char kb[DOC_KEY_LEN];

	if (!json_is_object(body))
		return gwd_err_set(err, 400, "the body must be a JSON object");
	if (!raw)
		return gwd_err_set(err, 400, "%s%s: field '%s' (a string) is required",
				   t->coll->what, t->of, t->coll->key);
	snprintf(key, len, "%s", norm_key(t->coll, raw, kb, sizeof(kb)));
	return 0;
}

int doc_add(json_t *doc, const struct gwd_collection *const *colls, const char *path,
	    const json_t *body, struct gwd_err *err)
{
	struct doc_target t;
	char key[DOC_KEY_LEN];
	json_t *copy;
	int ret;

	/* First without creating anything, so a refused add leaves doc as it was. */
	ret = doc_resolve(doc, colls, path, false, &t, err);
	if (ret)
		return ret;
	if (t.has_key)
		return gwd_err_set(err, 405, "%s: use PATCH to change an element, POST adds to the "
				   "collection", t.label);
	ret = elem_body_key(&t, body, key, sizeof(key), err);
	if (ret)
		return ret;
	if (doc_find(t.coll, t.array, key) >= 0) {
		gwd_err_set(err, 409, "%s '%s'%s already exists", t.coll->what, key, t.of);
		return -EEXIST;
	}
	ret = doc_resolve(doc, colls, path, true, &t, err);
	if (ret)
		return ret;
	copy = json_deep_copy(body);
	if (!copy)
		return gwd_err_set(err, 500, "out of memory");
	json_object_set_new(copy, t.coll->key, json_string(key));
	json_array_append_new(t.array, copy);
	return 0;
}

/* RFC 7386 JSON merge patch of patch into target (both objects). */
static void merge_patch(json_t *target, const json_t *patch)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)patch, k, v) {
		json_t *cur = json_object_get(target, k);

		if (json_is_null(v)) {
			json_object_del(target, k);
		} else if (json_is_object(v) && json_is_object(cur)) {
			merge_patch(cur, v);
		} else if (json_is_object(v)) {
			/* RFC 7386: merged into an empty object, so its nulls are dropped too. */
			json_t *fresh = json_object();

			merge_patch(fresh, v);
			json_object_set_new(target, k, fresh);
		} else {
			json_object_set_new(target, k, json_deep_copy(v));
		}
	}
}

/* doc_resolve() for a METHOD that needs an existing element: 405 without a key, 404 when absent. */
static int resolve_element(json_t *doc, const struct gwd_collection *const *colls,
			   const char *method, const char *path, struct doc_target *t,
			   struct gwd_err *err)
{
	int ret = doc_resolve(doc, colls, path, false, t, err);

	if (ret)
		return ret;
	if (!t->has_key)
		return gwd_err_set(err, 405, "%s needs an element: /v1/%s/KEY", method, path);
	if (t->index < 0) {
		gwd_err_set(err, 404, "%s not found", t->label);
		return -ENOENT;
	}
	return 0;
}

int doc_patch(json_t *doc, const struct gwd_collection *const *colls, const char *path,
	      const json_t *body, struct gwd_err *err)
{
	struct doc_target t;
	json_t *elem;
	int ret;

	ret = resolve_element(doc, colls, "PATCH", path, &t, err);
	if (ret)
		return ret;
	if (!json_is_object(body))
		return gwd_err_set(err, 400, "the body must be a JSON object");
	elem = json_array_get(t.array, (size_t)t.index);
	json_t *newkey = json_object_get(body, t.coll->key);

	if (newkey) {
		char kb[DOC_KEY_LEN], eb[DOC_KEY_LEN];
		const char *nk = json_string_value(newkey);
		const char *ek = elem_key(t.coll, elem, eb, sizeof(eb));

		if (!nk || !ek || strcmp(norm_key(t.coll, nk, kb, sizeof(kb)), ek) != 0)
			return gwd_err_set(err, 400, "%s: field '%s' can not change", t.label,
					   t.coll->key);
	}
	if (!json_is_object(elem))
		return gwd_err_set(err, 400, "%s is not an object in the document", t.label);
	/* Keep the stored (normalised) key even when the body spells it differently. */
	json_t *keep = json_incref(json_object_get(elem, t.coll->key));

	merge_patch(elem, body);
	json_object_set_new(elem, t.coll->key, keep);
	return 0;
}

int doc_delete(json_t *doc, const struct gwd_collection *const *colls, const char *path,
	       struct gwd_err *err)
{
	struct doc_target t;
	int ret;

	ret = resolve_element(doc, colls, "DELETE", path, &t, err);
	if (ret)
		return ret;
	json_array_remove(t.array, (size_t)t.index);
	return 0;
}

json_t *doc_merge_sections(const json_t *doc, const json_t *file, struct gwd_err *err)
{
	const char *sec, *field;
	json_t *out, *val, *fv;

	if (!json_is_object(file)) {
		gwd_err_set(err, 400, "the document must be an object of sections");
		return NULL;
	}
	json_object_foreach ((json_t *)file, sec, val) {
		if (!json_is_object(val)) {
			gwd_err_set(err, 400, "%s: must be an object", sec);
			return NULL;
		}
	}
	out = json_deep_copy(doc);
	if (!out) {
		gwd_err_set(err, 500, "out of memory");
		return NULL;
	}
	json_object_foreach ((json_t *)file, sec, val) {
		json_t *cur = json_object_get(out, sec);

		if (!json_is_object(cur)) {
			json_object_set_new(out, sec, json_deep_copy(val));
			continue;
		}
		json_object_foreach (val, field, fv)
			json_object_set_new(cur, field, json_deep_copy(fv));
	}
	return out;
}

/* ---- diff ---- */

struct diff_ctx {
	const struct gwd_collection *const *colls;
	json_t *out;
	struct segs pattern;	/* document path with "{}" for collection elements */
};

static const struct gwd_collection *coll_at(const struct diff_ctx *d)
{
	for (size_t i = 0; d->colls && d->colls[i]; i++) {
		struct segs c;

		if (split_path(d->colls[i]->path, &c) || c.n != d->pattern.n)
			continue;
		int k = 0;

		while (k < c.n && (is_param(c.s[k]) ? is_param(d->pattern.s[k])
						    : strcmp(c.s[k], d->pattern.s[k]) == 0))
			k++;
		if (k == c.n)
			return d->colls[i];
	}
	return NULL;
}

static void diff_add(struct diff_ctx *d, const char *op, const char *path, const json_t *old,
		     const json_t *new)
{
	json_t *e = json_pack("{s:s, s:s}", "op", op, "path", path);

	if (old)
		json_object_set_new(e, "old", json_deep_copy(old));
	if (new)
		json_object_set_new(e, "new", json_deep_copy(new));
	json_array_append_new(d->out, e);
}

static void diff_value(struct diff_ctx *d, const json_t *old, const json_t *new, const char *path,
		       const char *skip);

static void diff_keyed(struct diff_ctx *d, const struct gwd_collection *coll, const json_t *old,
		       const json_t *new, const char *path)
{
	char kb[DOC_KEY_LEN], sub[1024];
	const json_t *e;
	size_t i;

	if (d->pattern.n == DOC_MAX_SEGS)
		return;
	snprintf(d->pattern.s[d->pattern.n++], DOC_SEG_LEN, "{}");
	json_array_foreach ((json_t *)old, i, e) {
		const char *k = elem_key(coll, e, kb, sizeof(kb));
		int j = k ? doc_find(coll, new, k) : -1;

		snprintf(sub, sizeof(sub), "%s[%s]", path, k ? k : "?");
		if (j < 0)
			diff_add(d, "-", sub, e, NULL);
		else
			diff_value(d, e, json_array_get(new, (size_t)j), sub, coll->key);
	}
	json_array_foreach ((json_t *)new, i, e) {
		const char *k = elem_key(coll, e, kb, sizeof(kb));

		if (!k || doc_find(coll, old, k) < 0) {
			snprintf(sub, sizeof(sub), "%s[%s]", path, k ? k : "?");
			diff_add(d, "+", sub, NULL, e);
		}
	}
	d->pattern.n--;
}

/* skip: the key field of a collection element, equal after normalisation by construction. */
static void diff_value(struct diff_ctx *d, const json_t *old, const json_t *new, const char *path,
		       const char *skip)
{
	const struct gwd_collection *coll;
	char sub[1024];
	const char *k;
	json_t *v;

	if (json_is_object(old) && json_is_object(new)) {
		json_object_foreach ((json_t *)old, k, v) {
			json_t *nv = json_object_get(new, k);

			if (skip && strcmp(k, skip) == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
			if (!nv) {
				diff_add(d, "-", sub, v, NULL);
				continue;
			}
			if (d->pattern.n == DOC_MAX_SEGS)
				continue;
			snprintf(d->pattern.s[d->pattern.n++], DOC_SEG_LEN, "%s", k);
			diff_value(d, v, nv, sub, NULL);
			d->pattern.n--;
		}
		json_object_foreach ((json_t *)new, k, v) {
			if (!json_object_get(old, k)) {
				snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
				diff_add(d, "+", sub, NULL, v);
			}
		}
		return;
	}
	coll = json_is_array(old) && json_is_array(new) ? coll_at(d) : NULL;
	if (coll)
		diff_keyed(d, coll, old, new, path);
	else if (!json_equal((json_t *)old, (json_t *)new))
		diff_add(d, "~", path, old, new);
}

json_t *doc_diff(const json_t *old, const json_t *new, const struct gwd_collection *const *colls)
{
	struct diff_ctx d = { .colls = colls, .out = json_array() };
	json_t *empty = json_object();

	diff_value(&d, old ? old : empty, new ? new : empty, "", NULL);
	json_decref(empty);
	return d.out;
}

char *doc_diff_line(const json_t *entry)
{
	const char *op = json_string_value(json_object_get(entry, "op"));
	const char *path = json_string_value(json_object_get(entry, "path"));
	const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS;
	char *o = NULL, *n = NULL, *line = NULL;
	json_t *ov = json_object_get(entry, "old"), *nv = json_object_get(entry, "new");

	if (ov)
		o = json_dumps(ov, flags);
	if (nv)
		n = json_dumps(nv, flags);
	if (op && *op == '+')
		line = asprintf(&line, "+ %s = %s", path, n ? n : "") < 0 ? NULL : line;
	else if (op && *op == '-')
		line = asprintf(&line, "- %s", path) < 0 ? NULL : line;
	else
		line = asprintf(&line, "~ %s: %s -> %s", path, o ? o : "", n ? n : "") < 0 ? NULL
											    : line;
	free(o);
	free(n);
	return line;
}

/* ---- key normalisers ---- */

bool doc_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= XG_NAME_LEN || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

int doc_norm_name(const char *in, char *out, size_t outlen)
{
	if (!doc_name_valid(in) || strlen(in) >= outlen)
		return -EINVAL;
	strcpy(out, in);
	return 0;
}

int doc_norm_ifname(const char *in, char *out, size_t outlen)
{
	size_t n = strlen(in);

	if (n == 0 || n >= IFNAMSIZ || n >= outlen || !strcmp(in, ".") || !strcmp(in, ".."))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (in[i] == '/' || in[i] == ':' || isspace((unsigned char)in[i]))
			return -EINVAL;
	strcpy(out, in);
	return 0;
}

int doc_norm_addr(const char *in, char *out, size_t outlen)
{
	char buf[ADDR_STRLEN];
	struct xg_addr a;
	uint8_t fam;

	if (addr_parse(in, &a, &fam))
		return -EINVAL;
	addr_fmt(&a, fam, buf);
	if (strlen(buf) >= outlen)
		return -EINVAL;
	strcpy(out, buf);
	return 0;
}

int doc_norm_endpoint(const char *in, char *out, size_t outlen)
{
	char a[ADDR_STRLEN];
	struct endpoint ep;
	int n;

	if (endpoint_parse(in, &ep, NULL, 0) || !ep.has_port || ep.has_proto)
		return -EINVAL;
	addr_fmt(&ep.addr, ep.family, a);
	if (ep.family == XG_AF_INET6)
		n = snprintf(out, outlen, "[%s]:%u", a, ep.port);
	else
		n = snprintf(out, outlen, "%s:%u", a, ep.port);
	return n < 0 || (size_t)n >= outlen ? -EINVAL : 0;
}
