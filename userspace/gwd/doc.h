/* SPDX-License-Identifier: GPL-2.0 */
/* The desired-state document: collections addressed by key, edits, merges and diffs. */
#ifndef XDPGW_GWD_DOC_H
#define XDPGW_GWD_DOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gwd/module.h"

#define DOC_MAX_DEPTH 4		/* nesting of collections: services/{service}/backends */
#define DOC_KEY_LEN 128

/*
 * A collection or one element of it, resolved in a document from an admin API path such as
 * "l4/services/web/backends/198.18.1.3" (segments after /v1, percent-decoded).
 */
struct doc_target {
	const struct gwd_collection *coll;
	json_t *array;		/* borrowed from the document; NULL if it does not exist yet */
	bool has_key;		/* the path names one element */
	char key[DOC_KEY_LEN];	/* normalised when the normaliser accepts it */
	int index;		/* index of the element in array, -1 if absent */
	char label[384];	/* "service 'web'", "backend '198.18.1.3' of service 'web'" */
	char of[192];		/* " of service 'web'" for a nested collection, else "" */
};

/*
 * Resolves path (without the leading "/v1/") against the NULL-terminated collections colls in
 * doc. With create, missing objects and the array on the way are created (for an add).
 * Returns 0; -ENOENT when the path names no collection (err: 404 "no such endpoint"), when a
 * parent element does not exist (404 "service 'x' not found"); -EINVAL for a bad path.
 */
int doc_resolve(json_t *doc, const struct gwd_collection *const *colls, const char *path,
		bool create, struct doc_target *t, struct gwd_err *err);

/* The element of t->array whose key field matches key after normalisation, or -1. */
int doc_find(const struct gwd_collection *coll, const json_t *array, const char *key);

/*
 * Collection edits on a document (the candidate copy). Each returns 0 or a negative errno with
 * err set (409 exists, 404 absent, 400 bad body); on error the document is unchanged.
 * add: body must be an object carrying the key field; the stored key is normalised.
 * patch: RFC 7386 merge of body into the element (null removes a field); the key can not change.
 */
int doc_add(json_t *doc, const struct gwd_collection *const *colls, const char *path,
	    const json_t *body, struct gwd_err *err);
int doc_patch(json_t *doc, const struct gwd_collection *const *colls, const char *path,
	      const json_t *body, struct gwd_err *err);
int doc_delete(json_t *doc, const struct gwd_collection *const *colls, const char *path,
	       struct gwd_err *err);

/*
 * Declarative apply: each SECTION.FIELD present in file replaces the one in doc; fields and
 * sections the file does not mention are kept. Returns a new document, or NULL with err set
 * when file is not an object of objects.
 */
json_t *doc_merge_sections(const json_t *doc, const json_t *file, struct gwd_err *err);

/*
 * Differences between two documents as a new array of {"op", "path", "old", "new"} with op "+"
 * (added), "-" (removed) or "~" (changed); arrays that are collections are compared element by
 * element by key, so paths read "l4.services[web].backends[198.18.1.3].weight".
 */
json_t *doc_diff(const json_t *old, const json_t *new, const struct gwd_collection *const *colls);
/* One line for a diff entry: "+ l4.services[web] = {...}", "~ PATH: OLD -> NEW". Caller frees. */
char *doc_diff_line(const json_t *entry);

/* Key normalisers for collections. */
int doc_norm_name(const char *in, char *out, size_t outlen);	/* [A-Za-z0-9_.-], 1-31 */
int doc_norm_ifname(const char *in, char *out, size_t outlen);	/* a valid interface name */
int doc_norm_addr(const char *in, char *out, size_t outlen);	/* canonical IPv4/IPv6 text */
int doc_norm_endpoint(const char *in, char *out, size_t outlen); /* ADDR:PORT, [V6]:PORT */

/* Whether s is a valid object name: 1-31 of [A-Za-z0-9_.-], starting with a letter or digit. */
bool doc_name_valid(const char *s);

#endif
