/* SPDX-License-Identifier: GPL-2.0 */
/* The gateway's libh2o-facing runtime: workers, the upstream HTTP client, per-request state. */
#ifndef XDPGW_GATEWAY_RUNTIME_H
#define XDPGW_GATEWAY_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>

#include <h2o.h>

#include "gateway/gw.h"
#include "lib/picohttpparser.h"

/*
 * Checks a request before routing (reqcheck.c): ambiguous HTTP/1 framing, Host lines, line
 * folding, CONNECT; rewrites an absolute-form target to origin form. Returns 0, or the status
 * to refuse with (code and msg set; the connection is closed after the answer).
 */
int gw_request_check(h2o_req_t *req, const char **code, const char **msg);
/* Appends the tokens of a Connection value to out[n..cap); returns the new count. */
size_t gw_connection_tokens(const char *v, size_t len, h2o_iovec_t *out, size_t cap, size_t n);
/* Whether a header name is one of the tokens (hop-by-hop), case-insensitively. */
bool gw_connection_names(const h2o_iovec_t *tokens, size_t n, const char *name, size_t len);

/* libh2o timeouts have a fixed duration each: one per distinct value, per loop. */
struct gw_timeouts {
	h2o_loop_t *loop;
	size_t n;
	struct {
		uint64_t ms;
		h2o_timeout_t t;
	} e[32];
};
h2o_timeout_t *gw_timeout_get(struct gw_timeouts *t, uint64_t ms);
void gw_timeouts_dispose(struct gw_timeouts *t);

/* ---- upstream.c: a small HTTP/1.1 client with per-worker keep-alive pools ---- */

enum gw_upcall_err {
	GW_UP_CONNECT_FAILED,	/* refused, unreachable: nothing was sent */
	GW_UP_CONNECT_TIMEOUT,	/* nothing was sent */
	GW_UP_STALE,		/* a reused keep-alive connection closed before any response byte */
	GW_UP_NO_RESPONSE,	/* a new connection closed or reset before any response byte */
	GW_UP_RESPONSE_TIMEOUT,
	GW_UP_BAD_RESPONSE,	/* closed within the head, or unparsable */
	GW_UP_NERRS
};

/* How a failed call may be tried again (gw_upcall_retry). */
enum gw_retry {
	GW_RETRY_NONE,
	GW_RETRY_SAME,		/* the same target on a new connection (a stale keep-alive one) */
	GW_RETRY_NEXT,		/* another target, within the upstream's retry limit */
};

struct gw_upcall;
struct gw_upcall_cbs {
	/* The response head; headers point into a buffer valid only during the call. Returns 0
	 * to go on, non-zero to abandon the call (it is then cancelled by the client). */
	int (*on_head)(struct gw_upcall *up, int minor, int status, const char *msg,
		       size_t msg_len, struct phr_header *h, size_t nh);
	/* Failure before the response head; the call is over. */
	void (*on_error)(struct gw_upcall *up, enum gw_upcall_err err);
	/* Body bytes were appended to *up->body; eos: the call is over (err NULL if complete). */
	void (*on_body)(struct gw_upcall *up, bool eos, const char *err);
};

struct gw_idle_conn;

struct gw_upcall {
	/* set by the caller before gw_upcall_start */
	h2o_loop_t *loop;
	struct gw_timeouts *tmo;
	int slot;		/* keep-alive pool slot (worker), or -1 for no pooling */
	struct gw_tstate *st;
	uint32_t connect_ms, response_ms, max_idle, idle_ms;
	h2o_iovec_t reqbufs[2];
	size_t nreqbufs;
	bool is_head;
	bool check_reused;	/* probe a pooled connection before sending (non-idempotent) */
	const struct gw_upcall_cbs *cb;
	h2o_buffer_t **body;	/* where body bytes go (owned by the caller) */
	void *data;
	/* internal */
	h2o_socket_t *sock;
	h2o_linklist_t live;	/* in this thread's list of calls with a socket, while sock */
	h2o_timeout_entry_t timer;
	int state;
	bool reused, keepalive, chunked, paused;
	bool sent;		/* request bytes were handed to the socket */
	bool got_bytes;		/* response bytes arrived */
	size_t content_left;	/* SIZE_MAX: until the connection closes */
	struct phr_chunked_decoder dec;
};

/*
 * Starts the call: a pooled connection of st for slot, or a new one. Callbacks follow. With
 * check_reused, a pooled connection that the upstream already closed is dropped before a byte
 * is sent on it (the next pooled one or a new connection is used instead).
 */
void gw_upcall_start(struct gw_upcall *up);
/*
 * Whether a call that failed with err may be tried again, as nginx's proxy_next_upstream
 * "error timeout" does: never once a response byte arrived; connect failures always (nothing
 * was sent); otherwise only idempotent requests, or requests of which no byte was sent: a stale
 * keep-alive connection on a new one to the same target, a connection closed or reset without
 * a response, and (with timeouts) a response timeout on another target.
 */
enum gw_retry gw_upcall_retry(const struct gw_upcall *up, enum gw_upcall_err err, bool idempotent,
			      bool timeouts);
/* The retry counter (gw_tstate_slot.retries) of a retried error; its metric label. */
unsigned gw_retry_reason(enum gw_upcall_err err);
extern const char *const gw_retry_reason_names[GW_RETRY_REASONS];
/* Aborts a call in progress (no callback follows). Safe when not started or finished. */
void gw_upcall_cancel(struct gw_upcall *up);
bool gw_upcall_active(const struct gw_upcall *up);
/* Flow control: stop reading upstream while the client is slow. */
void gw_upcall_pause(struct gw_upcall *up);
void gw_upcall_resume(struct gw_upcall *up);
/* Closes every pooled connection of st for slot (worker exit, target retired). */
void gw_upcall_drain_idle(struct gw_tstate *st, int slot);
/* Frees libh2o's per-thread buffer caches; call last on a thread that exits. */
void gw_thread_release_caches(void);
/*
 * The calls of this thread that hold an upstream socket: gw_upcall_shutdown_all shuts each one
 * down (SHUT_RDWR: the call then fails through its normal read/write error path) and returns
 * how many; gw_upcall_abandon_all closes their descriptors for a worker that is given up (its
 * loop never runs again) and returns how many.
 */
size_t gw_upcall_shutdown_all(void);
size_t gw_upcall_abandon_all(void);
/* h2o_evloop_destroy, and the loop's epoll descriptor, which libh2o 2.2 leaves open. */
void gw_evloop_destroy(h2o_evloop_t *loop);

/*
 * epoll_park.c: on the calling worker thread, keeps sockets that libh2o stops polling in the
 * loop's epoll set (EPOLL_CTL_MOD) instead of removing and adding them per request. Returns 0,
 * or -ENOTSUP (nothing changes) when loop does not look like libh2o 2.2's epoll loop.
 * gw_epoll_park_stop ends it for the thread (after the loop is destroyed).
 */
int gw_epoll_park_start(h2o_evloop_t *loop);
void gw_epoll_park_stop(void);
/*
 * Whether workers park sockets: configured (gateway.epoll_park) unless XDPGW_EPOLL_PARK is set
 * to 0|false or 1|true. Returns 1 or 0 with *why naming what turned it off (NULL when on), or
 * -EINVAL for another XDPGW_EPOLL_PARK value (the caller reports it and uses configured).
 */
int gw_epoll_park_wanted(bool configured, const char **why);

/* ---- workers (server.c) ---- */

struct gw_server;
struct gw_workerset;
struct gw_worker;

/* One worker's handle on one config version; the refs are worker-local. */
struct gw_wver {
	struct gw_config *cfg;
	struct gw_worker *w;
	uint32_t refs;
	uint32_t *rr_cursor;	/* per upstream */
};

struct gw_worker {
	struct gw_server *srv;
	struct gw_workerset *set;
	unsigned idx, slot;
	pthread_t th;
	h2o_evloop_t *loop;
	h2o_context_t ctx;
	h2o_socket_t **lsocks;
	h2o_accept_ctx_t *accept;
	h2o_multithread_receiver_t rx;
	struct gw_wver *cur;
	_Atomic(struct gw_config *) pending;
	struct gw_timeouts tmo;
	uint64_t rng[2];
	char *logbuf;
	size_t loglen, logcap;
	int logfd;
	h2o_timeout_entry_t tick;
	uint64_t last_tick_ms;
	char timestr[32];
	time_t timestr_sec;
	atomic_int stop;
	atomic_int done;
	uint32_t conns, max_conns;	/* open client connections of this worker, its share */
	bool accept_paused;		/* listeners stopped at max_conns, until one closes */
	bool rx_gone;		/* rx unregistered (under the server's rx_lock): send nothing */
	bool stopping;
	bool abandoned;		/* connections outlived the drain: memory kept, never freed */
	h2o_linklist_t clients;	/* accepted client connections (struct gw_client) */
	struct gw_wlocal *locals;	/* gw_ctx_worker_local objects */
};

static inline uint64_t gw_rand(struct gw_worker *w)
{
	uint64_t s1 = w->rng[0];
	const uint64_t s0 = w->rng[1];

	w->rng[0] = s0;
	s1 ^= s1 << 23;
	w->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return w->rng[1] + s0;
}

void gw_wver_release(struct gw_wver *v);
/* Moves the worker to the newest published config (on the worker's thread). */
void gw_worker_sync_config(struct gw_worker *w);
/* Looks up (creating) the per-route metrics of name for the server. */
struct gw_route_metrics *gw_server_route_metrics(struct gw_server *srv, const char *name);
extern struct gw_route_metrics gw_no_route_metrics;

/* server.c accessors (the server struct stays private) */
struct gw_config *gw_server_config(struct gw_server *srv);
struct gw_route_metrics *gw_server_route_metrics_list(struct gw_server *srv);
/* Open client connections and how often a worker reached its share of max_connections. */
void gw_server_conn_stats(struct gw_server *srv, uint64_t *open, uint64_t *limited);
struct gw_tstate *gw_server_tstates(struct gw_server *srv);
uint64_t gw_server_slots(struct gw_server *srv);
pthread_mutex_t *gw_server_lock(struct gw_server *srv);

/* ---- proxy.c ---- */
int gw_proxy_on_req(h2o_handler_t *self, h2o_req_t *req);
struct gw_ctx;
/*
 * For calls other than the route's own (aggregation parts): a target of u by u's algorithm,
 * skipping tried[0..ntried) and targets that are unusable or refused by their breaker; -1 if
 * none. gw_proxy_passive records a call's outcome for passive health checks.
 */
int gw_proxy_pick(struct gw_ctx *c, const struct gw_upstream *u, const uint16_t *tried,
		  uint8_t ntried);
void gw_proxy_passive(struct gw_ctx *c, const struct gw_upstream *u, const struct gw_target *t,
		      bool failed);

/* ---- aggregate.c: routes of type aggregate ---- */
/* Calls the route's parts concurrently and answers one JSON object (after the policies). */
void gw_agg_start(struct gw_ctx *c);
/* Destroys the worker's gw_ctx_worker_local objects (on the worker's thread, loop still alive). */
void gw_worker_locals_destroy(struct gw_worker *w);
void gw_proxy_log_h2o_error(struct gw_worker *w, h2o_req_t *req);

/* ---- obs.c ---- */
struct gw_ctx;
void gw_log_request(struct gw_worker *w, struct gw_ctx *c, h2o_req_t *req);
void gw_log_flush(struct gw_worker *w);
void gw_metrics_write(struct gw_server *srv, FILE *out);

/* ---- jsonerr.c ---- */
void gw_send_error(h2o_req_t *req, int status, const char *code, const char *message);
/* Turns libh2o's own text/plain errors (413, 400, ...) into the gateway's JSON errors. */
void gw_register_error_filter(h2o_pathconf_t *pathconf);

/* ---- health.c ---- */
struct gw_health;
struct gw_health *gw_health_start(struct gw_server *srv);
void gw_health_update(struct gw_health *h, struct gw_config *cfg);
void gw_health_stop(struct gw_health *h);

#endif
