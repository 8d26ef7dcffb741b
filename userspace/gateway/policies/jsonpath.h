/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JSON paths and body edits for the transform policy (and the aggregation route): a small,
 * documented path syntax (docs/config.md "JSON paths"), the edits remove / rename / set / add
 * on a jansson document, and a compact serializer that keeps numbers readable.
 *
 * Everything here is a pure function of its arguments (no global state, no I/O), so the
 * parser and the body transformation can be unit-tested and fuzzed directly.
 *
 * Syntax, informally:
 *   path    := [ "$" ] segment*          the first segment may omit its leading "."
 *   segment := "." NAME | ".*" | ".**" | "[" INDEX "]" | "[*]" | "[" QUOTED "]"
 *   NAME    := one or more characters other than . [ ] (the names "*" and "**" are wildcards)
 *   QUOTED  := "..." or '...' with \" \' \\ escapes: a member name taken literally
 *   INDEX   := an integer; negative counts from the end (-1 is the last element)
 * "*" matches every member of an object or element of an array; "**" matches the node itself
 * and every node below it (so "**.password" is a "password" member at any depth).
 * Examples: password, internal.*, items[*].ssn, [0].id, **.token, meta["x.y"].
 */
#ifndef XDPGW_GATEWAY_JSONPATH_H
#define XDPGW_GATEWAY_JSONPATH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JP_MAX_PATH_LEN 1024
#define JP_MAX_SEGMENTS 64

enum jp_seg_kind {
	JP_SEG_NAME,	/* an object member */
	JP_SEG_INDEX,	/* an array element */
	JP_SEG_WILD,	/* every member or element */
	JP_SEG_DEEP,	/* this node and every descendant */
};

struct jp_seg {
	enum jp_seg_kind kind;
	char *name;	/* JP_SEG_NAME: NUL-terminated, malloc'ed */
	long index;	/* JP_SEG_INDEX */
};

struct jp_path {
	struct jp_seg *segs;
	size_t n;
};

/*
 * Parses s into p. Returns 0, or -EINVAL with a message in err ("at offset 6: expected ]")
 * and p left empty. The caller frees p with jp_path_free.
 */
int jp_path_parse(const char *s, struct jp_path *p, char *err, size_t errlen);
void jp_path_free(struct jp_path *p);
/* Whether the path contains a wildcard ("*" or "**"). */
bool jp_path_has_wildcard(const struct jp_path *p);

/* Edits on a document; each returns the number of places changed (0 when nothing matched). */
size_t jp_remove(json_t *root, const struct jp_path *p);
/* Renames the member the path's last segment names (which must be a NAME) to new_name. */
size_t jp_rename(json_t *root, const struct jp_path *p, const char *new_name);
/*
 * Sets the member the last segment names to a copy of value; only_if_absent keeps an existing
 * member. Missing objects on the way (NAME segments) are created. The path must not contain
 * "**" and must end in a NAME.
 */
size_t jp_set(json_t *root, const struct jp_path *p, const json_t *value, bool only_if_absent);

/*
 * Serializes v as compact JSON (no spaces) into a malloc'ed buffer and returns it with its
 * length in *len, or NULL on allocation failure. Object members keep their order; real numbers
 * use the shortest form that reads back to the same double (0.1, not 0.10000000000000001).
 */
char *jp_dump(const json_t *v, size_t *len);

/* ---- a compiled list of edits: what a `body` block of the transform policy holds ---- */

enum jp_op_kind { JP_OP_REMOVE, JP_OP_RENAME, JP_OP_SET, JP_OP_ADD };

struct jp_op {
	enum jp_op_kind kind;
	struct jp_path path;
	char *text;		/* the path as configured, for messages */
	char *new_name;		/* JP_OP_RENAME */
	json_t *value;		/* JP_OP_SET, JP_OP_ADD */
};

struct jp_program {
	struct jp_op *ops;
	size_t n;
};

/*
 * Compiles {remove: [PATH...], rename: {PATH: NAME}, set: {PATH: VALUE}, add: {PATH: VALUE}}
 * (every key optional; other keys of conf are left to the caller, listed in ignore, a
 * NULL-terminated list). Edits run in that order: remove, rename, set, add. Returns 0, or
 * -EINVAL with err relative to conf (".remove[1]: at offset 3: expected ]").
 */
int jp_program_compile(const json_t *conf, const char *const *ignore, struct jp_program *prog,
		       char *err, size_t errlen);
void jp_program_free(struct jp_program *prog);
bool jp_program_empty(const struct jp_program *prog);
/* Applies the edits to a parsed document; returns the number of changes. */
size_t jp_program_apply(const struct jp_program *prog, json_t *doc);

enum jp_run_result {
	JP_RUN_CHANGED = 0,	/* *out holds the new body (malloc'ed), *outlen its length */
	JP_RUN_UNCHANGED = 1,	/* valid JSON, no edit matched: keep the original bytes */
	JP_RUN_INVALID = 2,	/* not valid JSON (or nested deeper than the parser allows) */
	JP_RUN_NOMEM = 3,
};

/* Parses in[0..len) as JSON, applies prog and serializes the result with jp_dump. */
enum jp_run_result jp_program_run(const struct jp_program *prog, const char *in, size_t len,
				  char **out, size_t *outlen);

#endif
