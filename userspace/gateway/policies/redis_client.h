/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Redis for the rate-limit policy: one hiredis async connection per (worker, server), attached
 * to the worker's libh2o event loop, so no call ever blocks a worker. Connections reconnect
 * with exponential backoff; while one is down, calls fail at once (the caller applies its
 * fail-open or fail-closed rule) instead of queueing. Every call has a timeout. A server's
 * up/down state is shared by all workers and logged once per change.
 */
#ifndef XDPGW_GATEWAY_POLICIES_REDIS_CLIENT_H
#define XDPGW_GATEWAY_POLICIES_REDIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gateway/policy.h"

struct redis_conf {
	char *addr;		/* "HOST:PORT" (numeric), "[V6]:PORT" or "unix:/path" */
	char *host;		/* parsed: address or socket path */
	int port;		/* 0 for a unix socket */
	char *password;		/* AUTH, or NULL */
	uint32_t db;		/* SELECT when not 0 */
	uint32_t timeout_ms;	/* per call, and for connecting */
	uint32_t max_in_flight;	/* calls outstanding per worker connection (timed-out ones too) */
	char name[192];		/* the worker-local key: addr/db/password hash */
};

#define REDIS_DEFAULT_MAX_IN_FLIGHT 1000

/* Parses `redis: {addr, password, db, timeout_ms, max_in_flight}` fields of obj into c; err like ".redis.addr: ...". */
int redis_conf_parse(const json_t *obj, struct redis_conf *c, char *err, size_t errlen);
void redis_conf_free(struct redis_conf *c);

struct redis_conn;
struct redis_op;

/* The result of the GCRA script: allowed (0/1) and the key's debt in microseconds. */
typedef void (*redis_gcra_cb)(void *arg, int err, bool allowed, uint64_t debt_us);

/* The worker's connection to conf's server (made on first use), or NULL without memory. */
struct redis_conn *redis_conn_get(struct gw_ctx *c, const struct redis_conf *conf);

/*
 * Runs the GCRA script on key: adds forced * T to the key's theoretical arrival time, then
 * admits cost more requests if that keeps it within burst_us of now (server time). cb(arg, 0,
 * allowed, debt) follows on the worker's loop, or cb(arg, -EIO/-ETIMEDOUT, ...) on failure.
 * Returns 0 and sets *op (for redis_op_cancel), -ENOTCONN when the server is down, or -EBUSY
 * (counted) when the connection already has max_in_flight calls outstanding: a call that
 * timed out still holds its place until its reply or the disconnect (no callback follows).
 */
int redis_gcra(struct redis_conn *r, const char *key, size_t klen, uint64_t T, uint64_t burst_us,
	       uint32_t cost, uint32_t forced, redis_gcra_cb cb, void *arg, struct redis_op **op);
/* The caller is gone (client abort): no callback will follow. */
void redis_op_cancel(struct redis_op *op);
/* Writes the Redis servers' state and error counters. */
void redis_metrics(FILE *out);

/* The script, for tests and docs (KEYS[1] key; ARGV: T, burst_us, cost, forced). */
extern const char redis_gcra_script[];

#endif
