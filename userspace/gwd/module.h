/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The interface of a gwd module (the L4 balancer, the health checker, the gateway): compile a
 * section of the desired-state document into an immutable object, apply it, and optionally
 * register document collections, admin API routes, status and metrics.
 */
#ifndef XDPGW_GWD_MODULE_H
#define XDPGW_GWD_MODULE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct gwd;
struct admin_req;

#define GWD_ERR_LEN 512

/*
 * An error for a human: msg reads "PATH: cause" for configuration errors
 * (`l4.services[web].backends[198.18.1.3].weight: 70000 is out of range 0-65535`) and status is
 * the HTTP status the admin API answers with (400 invalid, 404 absent, 409 conflict, 500 ...).
 */
struct gwd_err {
	int status;
	char msg[GWD_ERR_LEN];
};

/* Sets err (when err is not NULL) and returns -EINVAL, for `return gwd_err_set(...)`. */
int gwd_err_set(struct gwd_err *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A collection: an array of objects inside the document, each named by a key field, that the
 * admin API exposes as /v1{path}[/KEY] (POST add, PATCH merge, DELETE, GET). {name} segments
 * in path stand for the key of an element of the parent collection, e.g.
 * "/l4/services/{service}/backends". Keys are compared after normalise (canonical addresses);
 * normalise returns 0 or -EINVAL (the raw key is then used as is, and compile reports it).
 */
struct gwd_collection {
	const char *path;
	const char *key;
	const char *what;	/* singular noun for messages: "service", "backend" */
	int (*normalise)(const char *in, char *out, size_t outlen);
};

/*
 * An admin API route owned by a module. path is exact, or a prefix when it ends in '*'.
 * method is "GET", "POST", ... handle answers through admin_reply_*() (admin.h) and returns 0;
 * it runs on gwd's main loop and must not block.
 */
struct admin_route {
	const char *method;
	const char *path;
	int (*handle)(void *priv, struct admin_req *req);
};

/*
 * A module. Every change of the document, whatever its source, runs compile on every module
 * (nothing outside the module may change during compile), then apply on every module in the
 * order of the module table; if one apply fails, the modules applied before it get apply()
 * again with their previous object, in reverse order.
 */
struct gwd_module {
	const char *name;
	/* Top-level document key this module owns ("l4", "gateway"), or NULL for a module that
	 * only reads other sections (the health checker reads l4). */
	const char *section;

	/* Optional. Called once at start, before the first compile. *priv is passed to every
	 * other callback. Returns 0 or a negative errno with err set (gwd then refuses to start). */
	int (*init)(struct gwd *gwd, void **priv, struct gwd_err *err);
	/* Optional. Called once at shutdown after the last apply; priv is released here. */
	void (*fini)(void *priv);

	/*
	 * Validates section (NULL when the document has none; doc is the whole candidate
	 * document, for cross-section checks) into a new immutable compiled object. Returns it,
	 * or NULL with err naming the path and the cause. Must not change anything else.
	 */
	void *(*compile)(void *priv, const json_t *section, const json_t *doc, struct gwd_err *err);
	/*
	 * Makes compiled the running configuration; old is the running one (NULL the first
	 * time). Neither is owned by apply. Returns 0, or a negative errno with err set, in which
	 * case the module must still run old (it is retried with apply(old, compiled) anyway).
	 */
	int (*apply)(void *priv, const void *compiled, const void *old, struct gwd_err *err);
	/* Releases a compiled object (NULL is a no-op). */
	void (*free)(void *compiled);
	/*
	 * Optional. Rewrites values of the candidate's section (never NULL here) into their
	 * canonical spelling before compile and diff ("198.18.0.10:80" -> "198.18.0.10:80/tcp"),
	 * so that spelling differences are not changes. Values it can not parse stay as they are
	 * (compile reports them).
	 */
	void (*canonicalise)(json_t *section);

	const struct gwd_collection *collections; /* optional, ends with { .path = NULL } */
	const struct admin_route *routes;	   /* optional, ends with { .path = NULL } */
	/* Optional: adds the module's fields to GET /v1/status (out is an object to fill). */
	void (*status)(void *priv, json_t *out);
	/* Optional: writes Prometheus text exposition lines (with # HELP / # TYPE) to out. */
	void (*metrics)(void *priv, FILE *out);
};

/* The module table (modules.c), in apply order, NULL-terminated. */
extern const struct gwd_module *const gwd_modules[];

/* The private state of the running module named name, or NULL (for modules that cooperate,
 * such as the health checker and the L4 balancer). */
void *gwd_module_priv(struct gwd *gwd, const char *name);
/* The compiled object the module named name currently runs, or NULL. */
const void *gwd_module_compiled(struct gwd *gwd, const char *name);

#endif
