/* SPDX-License-Identifier: GPL-2.0 */
/* Internal structures of the gateway: the compiled config, runtime target state, workers. */
#ifndef XDPGW_GATEWAY_GW_H
#define XDPGW_GATEWAY_GW_H

#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "gateway/gateway.h"
#include "gateway/policy.h"
#include "lib/hc.h"

#define GW_MAX_WORKERS 32	/* per worker set; two sets may overlap during a restart */
#define GW_MAX_SLOTS (2 * GW_MAX_WORKERS)
#define GW_MAX_TARGETS 1024
#define GW_MAX_ROUTES 4096
#define GW_ADDRLEN 64
#define GW_HIST_BUCKETS 14
#define GW_BREAKER_BUCKETS 10	/* the error-ratio window, in slices */
#define GW_DEFAULT_MAX_CONNS 1024	/* per target: Envoy's default connection cap */
#define GW_RETRY_REASONS 4	/* connect, stale, no_response, timeout (gw_retry_reason) */

/* Relaxed per-worker counters: one writer, racy readers; no locked instruction. */
#define GW_CTR_ADD(x, v) __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define GW_CTR_GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static inline uint64_t gw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline uint64_t gw_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- compiled configuration (immutable once bound) ---- */

struct gw_cert {
	char **names;		/* SNI names; the first certificate is also the default */
	size_t nnames;
	char *cert_path, *key_path;
};

struct gw_listener_cfg {
	char addr[GW_ADDRLEN];	/* canonical ADDR:PORT */
	struct sockaddr_storage sa;
	socklen_t salen;
	bool tls, http2;
	struct gw_cert *certs;
	size_t ncerts;
};

struct gw_limits {
	uint64_t max_body_bytes;
	uint32_t max_header_bytes;
	uint32_t max_headers;
	uint32_t max_connections;	/* open client connections, over all workers */
	uint32_t idle_timeout_ms;	/* keep-alive idle and request read (one libh2o timer) */
	uint32_t write_timeout_ms;	/* TCP_USER_TIMEOUT on client sockets */
	uint32_t tls_handshake_timeout_ms;
	uint32_t connect_timeout_ms;	/* upstream defaults, overridable per upstream */
	uint32_t response_timeout_ms;
	/* a restarted worker set's connections may finish this long; the rest are closed */
	uint32_t drain_timeout_ms;
};

enum gw_algo { GW_ALGO_RR, GW_ALGO_LC, GW_ALGO_HASH, GW_ALGO_P2C };
enum gw_hash_on { GW_HASH_IP, GW_HASH_HEADER, GW_HASH_COOKIE };

struct gw_tstate;

/* Drops a config's reference to a target's runtime state (config_free). */
void gw_tstate_put(struct gw_tstate *st);

struct gw_target {
	char addr[GW_ADDRLEN];	/* canonical ADDR:PORT, the key in its upstream */
	struct sockaddr_storage sa;
	socklen_t salen;
	uint32_t weight;	/* 0: drained, takes no new requests */
	struct gw_tstate *st;	/* runtime state, bound when the config is applied */
};

struct gw_health_cfg {
	bool enabled;
	char *path;
	char *host;		/* Host header; default the target address */
	uint32_t interval_ms, timeout_ms;
	uint32_t healthy, unhealthy;	/* consecutive results that flip the state */
	uint16_t status_min, status_max;
};

struct gw_passive_cfg {
	uint32_t failures;	/* consecutive failures that eject; 0 disables */
	uint32_t eject_ms;
	bool on_5xx;		/* count 5xx responses as failures (connect errors always count) */
};

/* Circuit breaker of each target of an upstream (breaker.c). */
struct gw_breaker_cfg {
	bool enabled;
	uint32_t failures;	/* consecutive failures that open it; 0: not this way */
	double error_ratio;	/* failed/total over the window that opens it; 0: not this way */
	uint32_t window_ms, min_requests;
	uint32_t open_ms;	/* how long it stays open before trials */
	uint32_t half_open_requests;	/* trials at a time, and successes that close it */
	bool on_5xx;		/* 5xx responses count as failures (errors and timeouts always do) */
};

struct gw_ring_point {
	uint64_t hash;
	uint32_t target;
};

/* Runtime state of an upstream pool, kept across config versions (keyed by name). */
struct gw_ustate {
	struct gw_ustate *next;
	char name[128];
	atomic_uint_least64_t checked_ms;	/* when panic was last evaluated (gw_now_ms) */
	atomic_int panic;		/* too few healthy targets: balancing over all of them */
	atomic_uint_least64_t panics;	/* times it entered panic */
	atomic_uint healthy, eligible;	/* at the last evaluation */
	atomic_uint_least64_t busy;	/* requests refused: every target at max_conns */
};

struct gw_upstream {
	char *name;
	uint32_t idx;
	enum gw_algo algo;
	enum gw_hash_on hash_on;
	char *hash_key;		/* header or cookie name */
	struct gw_target *targets;
	size_t ntargets;
	uint32_t retries;
	uint32_t connect_timeout_ms, response_timeout_ms;
	uint32_t keepalive_max_idle, keepalive_idle_ms;
	struct gw_health_cfg hc;
	struct gw_passive_cfg passive;
	struct gw_breaker_cfg breaker;
	uint32_t panic_threshold;	/* percent of healthy targets below which health is ignored */
	uint32_t max_conns;	/* calls in progress per target, over all workers; 0: no cap */
	struct gw_ustate *us;	/* runtime state, bound when the config is applied */
	uint16_t *rr_sched;	/* smooth weighted round-robin order */
	uint32_t rr_len;
	struct gw_ring_point *ring;	/* consistent-hash ring, sorted */
	uint32_t ring_len;
};

enum gw_host_kind { GW_HOST_ANY = 0, GW_HOST_WILDCARD = 1, GW_HOST_EXACT = 2 };
enum gw_path_kind { GW_PATH_PREFIX = 0, GW_PATH_REGEX = 1, GW_PATH_EXACT = 2 };

struct gw_header_match {
	char *name;
	char *value;		/* exact value; NULL: present with any value */
};

struct gw_policy_inst {
	const struct gw_policy_ops *ops;
	void *inst;
};

struct gw_route_metrics;
struct gw_agg_cfg;

struct gw_route {
	char *name;
	uint32_t idx;
	char **hosts;
	size_t nhosts;
	enum gw_path_kind path_kind;
	char *path;
	size_t path_len;
	regex_t re;
	bool has_re;
	char **methods;		/* upper case; NULL: any */
	size_t nmethods;
	struct gw_header_match *headers;
	size_t nheaders;
	bool strip_prefix;
	char *rewrite_prefix;	/* replaces the matched prefix; NULL: keep */
	bool preserve_host;
	struct gw_upstream *upstream;
	struct gw_policy_inst *policies;
	size_t npolicies;
	bool wants_body;
	struct gw_agg_cfg *agg;	/* type aggregate: the parts (aggregate.h); NULL: proxy */
	struct gw_route_metrics *m;	/* bound when applied */
};

/* One (host pattern, path) pair of a route, in precedence order. */
struct gw_match {
	const struct gw_route *route;
	const char *host;	/* exact host, or the suffix after "*" for wildcards */
	size_t host_len;
	enum gw_host_kind host_kind;
};

struct gw_router {
	struct gw_match *m;
	size_t n;
};

struct gw_config {
	atomic_int refs;
	json_t *server_part;	/* workers, listeners, limits, access_log: compared for restarts */
	uint32_t workers;
	struct gw_listener_cfg *listeners;
	size_t nlisteners;
	struct gw_limits limits;
	char *access_log;	/* path, "stderr", or NULL (off) */
	bool epoll_park;	/* workers keep sockets in their epoll set (epoll_park.c) */
	struct gw_upstream *upstreams;
	size_t nupstreams;
	struct gw_route *routes;
	size_t nroutes;
	struct gw_router router;
	struct gw_consumers *consumers;	/* policies/auth.h; shared by the route policies */
	bool bound;
};

/* ---- router.c ---- */
int gw_router_build(struct gw_router *r, struct gw_route *routes, size_t n);
void gw_router_free(struct gw_router *r);
/* The most specific route for the request, or NULL. get_header(name) returns a value or NULL. */
struct gw_req_view {
	const char *host;
	size_t host_len;
	const char *path;	/* normalized, without the query */
	size_t path_len;
	const char *method;
	size_t method_len;
	bool (*get_header)(void *arg, const char *name, const char **v, size_t *len);
	void *arg;
};
const struct gw_route *gw_router_match(const struct gw_router *r, const struct gw_req_view *v);
bool gw_path_prefix_match(const char *prefix, size_t plen, const char *path, size_t len);

/* ---- balancer.c ---- */
/* FNV-1a with a splitmix64 finaliser; the seeded form keys per-table hashes (seed 0: gw_hash64). */
uint64_t gw_hash64(const void *data, size_t len);
uint64_t gw_hash64_seeded(uint64_t seed, const void *data, size_t len);
int gw_balancer_build(struct gw_upstream *u);
void gw_balancer_free(struct gw_upstream *u);
/* Target index for a hash key, skipping targets for which usable(arg, i) is false; -1: none. */
int gw_ring_lookup(const struct gw_upstream *u, uint64_t hash, bool (*usable)(void *, uint32_t),
		   void *arg);

/* ---- runtime state shared by workers ---- */

struct gw_idle_conn;

struct gw_tstate_slot {		/* one worker's view of a target, on its own cache line */
	struct gw_idle_conn *idle;	/* keep-alive connections (a list) */
	uint32_t nidle;
	uint32_t inflight;
	uint64_t requests, failures;
	uint64_t retries[GW_RETRY_REASONS];	/* failed calls tried again, by reason */
	uint64_t conn_limit;	/* picks that passed the target over: at its max_conns */
} __attribute__((aligned(64)));

struct gw_tstate {
	struct gw_tstate *next;	/* registry list */
	char key[GW_ADDRLEN + 128];	/* upstream/addr */
	char upstream[128];
	char addr[GW_ADDRLEN];
	struct sockaddr_storage sa;
	socklen_t salen;
	atomic_int down;	/* active health check says down */
	atomic_uint fails;	/* consecutive passive failures */
	atomic_uint_least64_t ejected_until;	/* gw_now_ms() */
	atomic_int retired;	/* no longer in the current config */
	/* 1 for the server's registry + 1 per config whose targets point here (config_free drops
	 * it): freed at 0, once retired, unreferenced and without pooled connections */
	atomic_uint refs;
	atomic_uint conns;	/* calls in progress over all workers (gw_target_conn_take) */
	/* circuit breaker (breaker.c); state persists across config versions */
	atomic_int cb_state;	/* enum gw_breaker_state */
	atomic_uint cb_fails;	/* consecutive failures while closed */
	atomic_uint cb_trials;	/* half-open trial calls in flight */
	atomic_uint cb_trial_ok;	/* successful trials since half-open */
	atomic_uint_least64_t cb_open_until;	/* gw_now_ms() */
	atomic_uint_least64_t cb_opened;	/* times it opened */
	struct {
		atomic_uint_least64_t epoch;
		atomic_uint total, failed;
	} cb_win[GW_BREAKER_BUCKETS];
	/* health checker's own fields (one thread) */
	uint64_t hc_next_at;
	struct hc_sm hc;	/* rise/fall verdict (lib/hc.h, shared with gwd's L4 checks) */
	bool hc_busy;
	struct gw_tstate_slot slot[GW_MAX_SLOTS];
};

struct gw_route_metrics_slot {
	uint64_t status[6];	/* 1xx..5xx, [0] other */
	uint64_t hist[GW_HIST_BUCKETS + 1];	/* last: +Inf */
	uint64_t sum_us;
	uint64_t upstream_hist[GW_HIST_BUCKETS + 1];
	uint64_t upstream_sum_us;
	uint64_t bytes_in, bytes_out;
	int64_t inflight;
	uint64_t body_oversize_pass, body_oversize_fail;	/* bodies too large for body policies */
} __attribute__((aligned(64)));

struct gw_route_metrics {
	struct gw_route_metrics *next;
	char name[128];
	uint64_t retired_ms;	/* 0: a route of the current config; else when it left it */
	struct gw_route_metrics_slot slot[GW_MAX_SLOTS];
};

extern const double gw_hist_bounds_s[GW_HIST_BUCKETS];
void gw_hist_observe(uint64_t *hist, uint64_t *sum, uint64_t us);

static inline bool gw_target_usable(const struct gw_target *t, uint64_t now_ms)
{
	const struct gw_tstate *st = t->st;

	return t->weight > 0 && !atomic_load_explicit(&st->down, memory_order_relaxed) &&
	       atomic_load_explicit(&st->ejected_until, memory_order_relaxed) <= now_ms;
}

/* Whether t is below its upstream's max_conns (always true without a cap). */
static inline bool gw_target_has_room(const struct gw_upstream *u, const struct gw_target *t)
{
	return !u->max_conns ||
	       atomic_load_explicit(&t->st->conns, memory_order_relaxed) < u->max_conns;
}

/*
 * Takes one of t's connection slots for a call (nginx max_conns, HAProxy maxconn): true when
 * taken, false (nothing taken) when t is at its upstream's max_conns. Every call holds one,
 * capped or not, so a cap set later counts the calls already in flight; give it back with
 * gw_target_conn_put when the call ends.
 */
bool gw_target_conn_take(const struct gw_upstream *u, const struct gw_target *t);
void gw_target_conn_put(const struct gw_target *t);

/*
 * Envoy's panic threshold: true when fewer than panic_threshold percent of u's targets with a
 * weight are usable (health checks or passive ejection took the rest out); the balancer then
 * ignores health and uses every target with a weight, rather than overload the few left or
 * answer 503 for all when a stall failed every check at once. Evaluated at most once per
 * millisecond per pool; entering and leaving panic are logged and counted (balancer.c).
 */
bool gw_upstream_panic(const struct gw_upstream *u, uint64_t now_ms);
/* Evaluates it now whatever the last evaluation (after a health verdict changed). */
void gw_upstream_panic_update(const struct gw_upstream *u, uint64_t now_ms);

/* ---- breaker.c: circuit breaker per target ---- */
enum gw_breaker_state { GW_BREAKER_CLOSED, GW_BREAKER_OPEN, GW_BREAKER_HALF_OPEN };

/* Whether the breaker lets a call to t through now (no side effect; true when disabled). */
bool gw_breaker_allows(const struct gw_upstream *u, const struct gw_target *t, uint64_t now);
/*
 * Takes a call: open -> half-open once the open time is over, and in half-open one of the
 * trial slots (*trial set). Returns false when refused (the slots went to other calls).
 */
bool gw_breaker_acquire(const struct gw_upstream *u, const struct gw_target *t, uint64_t now,
			bool *trial);
/* The outcome of a call taken with gw_breaker_acquire: may open or close the breaker. */
void gw_breaker_result(const struct gw_upstream *u, const struct gw_target *t, bool failed,
		       bool trial, uint64_t now);
/* A call taken with gw_breaker_acquire ended without an outcome (cancelled). */
void gw_breaker_release(const struct gw_target *t, bool trial);
/*
 * When no target of u takes calls and at least one is refused only by its open breaker:
 * milliseconds until the first one half-opens (at least 1). 0 otherwise.
 */
uint64_t gw_breaker_retry_after(const struct gw_upstream *u, uint64_t now);
const char *gw_breaker_state_name(const struct gw_tstate *st);

/* ---- jsonerr.c ---- */
/* Writes {"error":{"status":N,"code":"...","message":"..."}} into buf; returns its length. */
size_t gw_error_json(char *buf, size_t len, int status, const char *code, const char *message);
const char *gw_status_code_name(int status);

/* ---- policies/consumers.c: `gateway.consumers`, read by the authentication policies ---- */
struct gw_consumers *gw_consumers_compile(const json_t *arr, char *err, size_t errlen);
void gw_consumers_free(struct gw_consumers *cs);

/* ---- config.c helpers shared with tests ---- */
int gw_parse_hostport(const char *s, struct sockaddr_storage *sa, socklen_t *salen, char *canon,
		      char *err, size_t errlen);

#endif
