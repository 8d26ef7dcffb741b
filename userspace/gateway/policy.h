/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The gateway's policy interface: one file per policy under policies/, each a module with
 * config parsing, per-request hooks before and after the upstream call, and metrics.
 *
 * Lifecycle: compile() runs on the control thread when a config is compiled and returns an
 * immutable instance shared by every worker; free() runs when the last config version that
 * uses the instance is released (on any thread). Hooks run on the worker thread that owns the
 * request and must not block: a policy that waits on the network (a Redis call, a JWKS fetch)
 * returns GW_POLICY_ASYNC and later calls gw_ctx_resume() on that same worker's loop
 * (gw_ctx_loop()); gw_ctx_on_abort() tells it when the client went away first.
 *
 * Order: on_request runs in route order before the upstream is chosen; any hook may answer
 * itself (gw_ctx_respond / gw_ctx_error) and return GW_POLICY_RESPONDED (401, 429, a cache
 * hit): later policies and the upstream are skipped, but on_response still runs for the
 * policies already passed, so headers such as RateLimit-* can be added to a short-circuit.
 * on_response runs in reverse order once the response head is known; a policy that needs the
 * whole body (JSON transformation, caching) sets GW_POLICY_WANTS_BODY in flags and gets
 * on_body with the complete body (bounded by its own max_body_bytes) before anything is sent.
 */
#ifndef XDPGW_GATEWAY_POLICY_H
#define XDPGW_GATEWAY_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct gw_ctx;
struct gw_consumers;

enum gw_policy_verdict {
	GW_POLICY_CONTINUE = 0,	/* go on with the next policy / the upstream */
	GW_POLICY_RESPONDED,	/* the policy answered; skip the rest */
	GW_POLICY_ASYNC,	/* the policy will call gw_ctx_resume() later */
};

enum {
	GW_POLICY_WANTS_BODY = 1 << 0,	/* on_body gets the whole upstream response body */
};

/* What compile() may read besides its own JSON object (for example consumers). */
struct gw_policy_env {
	const json_t *gateway;	/* the whole `gateway` section, read-only */
	const char *route;	/* name of the route that uses this instance */
	/* The compiled `gateway.consumers` (policies/auth.h), valid as long as the instance. */
	const struct gw_consumers *consumers;
	/* Position of the policy in the route's list (stable ids for state kept across versions). */
	size_t index;
};

struct gw_policy_ops {
	const char *name;	/* the `name` used in a route's policies list */
	unsigned flags;
	/*
	 * Validates conf (the policy's object, without `name`) and returns an immutable instance,
	 * or NULL with a cause in err relative to the policy (the caller prefixes the path,
	 * e.g. "gateway.routes[users].policies[0].add.X-Foo: must be a string").
	 */
	void *(*compile)(const json_t *conf, const struct gw_policy_env *env, char *err,
			 size_t errlen);
	void (*free)(void *inst);
	enum gw_policy_verdict (*on_request)(void *inst, struct gw_ctx *c);
	void (*on_response)(void *inst, struct gw_ctx *c);
	/* Gets the whole body (*body, *len), may replace it with memory from gw_ctx_alloc(). */
	int (*on_body)(void *inst, struct gw_ctx *c, const char **body, size_t *len);
	/* Adds this policy type's metrics in Prometheus text (called once per type). */
	void (*metrics)(FILE *out);
	/*
	 * Optional, for GW_POLICY_WANTS_BODY policies: called once the response head is known
	 * (status and headers readable). Returns the most body bytes the policy processes for
	 * this response, or 0 when it does not need this body (on_body is then not called for
	 * it). A body above the smallest limit is not buffered: it passes through untouched
	 * (on_body is not called, gw_ctx_body_buffered() is false in on_response) unless a
	 * policy with that limit set *fail_oversize, which answers 502. NULL: every body up to the
	 * gateway's own limit, failing above it.
	 */
	size_t (*body_wanted)(void *inst, struct gw_ctx *c, bool *fail_oversize);
	/*
	 * Optional: the upstream failed before anything was sent to the client: a 5xx response
	 * head (status is the upstream's), a failed or timed-out connect or response, or no
	 * usable target (status is the gateway's 502/503/504). The policy may answer itself
	 * with gw_ctx_respond() (a cache serving a stale copy) and return true; the gateway's
	 * answer (or the upstream's 5xx) is then dropped. Called in reverse route order.
	 */
	bool (*on_upstream_error)(void *inst, struct gw_ctx *c, int status);
};

/* Registers a policy type; call from a constructor (GW_POLICY_REGISTER). */
void gw_policy_register(const struct gw_policy_ops *ops);
const struct gw_policy_ops *gw_policy_find(const char *name);
void gw_policy_foreach(void (*fn)(const struct gw_policy_ops *ops, void *arg), void *arg);

#define GW_POLICY_REGISTER(ops)                                                                    \
	__attribute__((constructor)) static void gw_policy_register_##ops(void)                    \
	{                                                                                          \
		gw_policy_register(&ops);                                                          \
	}

/* ---- what a hook may do with the request (all on the worker thread) ---- */

/* A string view: not NUL-terminated. */
struct gw_str {
	const char *p;
	size_t len;
};

struct gw_str gw_ctx_method(struct gw_ctx *c);
struct gw_str gw_ctx_host(struct gw_ctx *c);
struct gw_str gw_ctx_path(struct gw_ctx *c);	/* as sent to the upstream, with the query */
struct gw_str gw_ctx_req_path(struct gw_ctx *c);	/* as the client sent it, with the query */
/* The client's address in numeric form (NUL-terminated, owned by the request). */
const char *gw_ctx_client(struct gw_ctx *c);
const char *gw_ctx_route(struct gw_ctx *c);
/* Memory that lives as long as the request. */
void *gw_ctx_alloc(struct gw_ctx *c, size_t len);

/* Request headers (names are case-insensitive). get returns false when absent. */
bool gw_ctx_req_header(struct gw_ctx *c, const char *name, struct gw_str *value);
void gw_ctx_req_header_set(struct gw_ctx *c, const char *name, const char *value, size_t len);
void gw_ctx_req_header_add(struct gw_ctx *c, const char *name, const char *value, size_t len);
void gw_ctx_req_header_remove(struct gw_ctx *c, const char *name);
/* Replaces the path (and query) sent to the upstream. */
void gw_ctx_set_path(struct gw_ctx *c, const char *path, size_t len);

/* Response side (valid in on_response and on_body). */
int gw_ctx_status(struct gw_ctx *c);
void gw_ctx_set_status(struct gw_ctx *c, int status);
bool gw_ctx_resp_header(struct gw_ctx *c, const char *name, struct gw_str *value);
void gw_ctx_resp_header_set(struct gw_ctx *c, const char *name, const char *value, size_t len);
void gw_ctx_resp_header_add(struct gw_ctx *c, const char *name, const char *value, size_t len);
void gw_ctx_resp_header_remove(struct gw_ctx *c, const char *name);
/* Calls fn for every response header, in order. */
void gw_ctx_resp_header_foreach(struct gw_ctx *c,
				void (*fn)(void *arg, struct gw_str name, struct gw_str value),
				void *arg);

/* The authenticated consumer (logged in the access log's consumer field). */
void gw_ctx_set_consumer(struct gw_ctx *c, const char *id);
/* The consumer set by an earlier policy, or NULL. */
const char *gw_ctx_consumer(struct gw_ctx *c);

/* Per-request data of a policy instance (key: usually inst), NULL when never set. */
void gw_ctx_set_data(struct gw_ctx *c, const void *key, void *data);
void *gw_ctx_data(struct gw_ctx *c, const void *key);
/* cb(data) runs once when the request is over, whatever the outcome (sent, failed, aborted). */
void gw_ctx_on_done(struct gw_ctx *c, void (*cb)(void *data), void *data);
/* In on_response: whether the whole body is being buffered for on_body (false when it streams). */
bool gw_ctx_body_buffered(struct gw_ctx *c);

/*
 * Answers the request from the gateway: status, content type and body (copied). Extra
 * response headers can be added before with gw_ctx_resp_header_add.
 */
void gw_ctx_respond(struct gw_ctx *c, int status, const char *content_type, const char *body,
		    size_t len);
/* Answers with the gateway's JSON error body {"error":{"status","code","message"}}. */
void gw_ctx_error(struct gw_ctx *c, int status, const char *code, const char *message);

/* For async hooks: the worker's event loop (an h2o_loop_t today) and its index. */
void *gw_ctx_loop(struct gw_ctx *c);
unsigned gw_ctx_worker(struct gw_ctx *c);
/*
 * A one-shot timer on the request's worker loop (timeouts of async calls, backoff). The
 * storage belongs to the caller (e.g. from gw_ctx_alloc); cb runs on the same worker unless
 * gw_timer_stop() ran first. Stop it in the gw_ctx_on_abort callback.
 */
struct gw_timer {
	uint64_t opaque[4];	/* the event loop's timer entry */
	void (*cb)(struct gw_timer *t);
	void *data;
};
void gw_ctx_timer_start(struct gw_ctx *c, struct gw_timer *t, uint32_t ms);
void gw_timer_stop(struct gw_timer *t);

/* Continues the request after GW_POLICY_ASYNC with the hook's final verdict. */
void gw_ctx_resume(struct gw_ctx *c, enum gw_policy_verdict verdict);
/* cb(data) runs if the request is torn down (client abort) while a hook is pending. */
void gw_ctx_on_abort(struct gw_ctx *c, void (*cb)(void *data), void *data);

/*
 * Waking a pending request from another thread (request coalescing): gw_ctx_waker(c) names
 * c's worker; gw_worker_post(waker, fn, arg) runs fn(arg) on that worker's thread soon, where
 * fn may call gw_ctx_resume(). Callable from any thread while the worker runs requests (the
 * pending request keeps it running). Returns 0, -ENOMEM, or -ESRCH once the worker is gone.
 */
struct gw_worker;
struct gw_worker *gw_ctx_waker(struct gw_ctx *c);
int gw_worker_post(struct gw_worker *w, void (*fn)(void *arg), void *arg);

/*
 * Per-worker objects that outlive config versions (a connection to Redis): returns the
 * worker's object named name, made by create(loop, arg) on first use (create may return NULL;
 * it is then tried again on the next call). destroy(obj) runs once on the worker's own thread
 * when the worker exits, before its loop goes away.
 */
void *gw_ctx_worker_local(struct gw_ctx *c, const char *name, void *(*create)(void *loop, void *arg),
			  void (*destroy)(void *obj), void *arg);

/* ---- helpers for the policies' compile() ---- */

/* Whether s is a non-empty HTTP token (RFC 9110 5.6.2), which is what a header name must be. */
bool gw_http_token_valid(const char *s);
/* Whether s may be sent as a header field value: no control character but tab. */
bool gw_http_value_valid(const char *s);
/*
 * Checks that obj is a JSON object whose keys all appear in known (NULL-terminated). Returns
 * 0, or -EINVAL with "WHERE: must be an object" or "WHERE: unknown field \"KEY\"" in err.
 */
int gw_json_check_fields(const json_t *obj, const char *where, const char *const *known,
			 char *err, size_t errlen);

#endif
