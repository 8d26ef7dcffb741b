/* SPDX-License-Identifier: GPL-2.0 */
/* The L7 gateway's public interface: compile a `gateway` section, run it, swap it live. */
#ifndef XDPGW_GATEWAY_H
#define XDPGW_GATEWAY_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

struct gw_config;
struct gw_server;

/*
 * Compiles the `gateway` section of the desired-state document into an immutable config.
 * Returns the config (one reference, owned by the caller) or NULL with a message in err that
 * names the path and the cause, e.g.
 *   gateway.routes[users].upstream: unknown upstream "api2"
 * Nothing outside the returned object changes.
 */
struct gw_config *gw_config_compile(const json_t *section, char *err, size_t errlen);
/* Drops one reference; the last one frees the config (any thread). NULL is a no-op. */
void gw_config_put(struct gw_config *cfg);
/* Takes one more reference; returns cfg. */
struct gw_config *gw_config_get(struct gw_config *cfg);
/*
 * True when moving from old to new needs listeners, workers, TLS or limits rebuilt (a server
 * restart with SO_REUSEPORT overlap); false when routes, upstreams and policies alone differ.
 */
int gw_config_needs_restart(const struct gw_config *old, const struct gw_config *new);

/*
 * Starts the workers and listeners for cfg (the server takes its own reference).
 * Returns the server or NULL with the cause in err (a listener that cannot bind, a
 * certificate that does not load). Nothing is left running on failure.
 */
struct gw_server *gw_server_start(struct gw_config *cfg, char *err, size_t errlen);
/*
 * Makes cfg current. Route, upstream and policy changes are swapped per worker: requests in
 * flight finish on the version they started with; the next request on every connection uses
 * cfg. Listener, worker, TLS and limit changes start a new set of workers (SO_REUSEPORT lets
 * both sets accept during the overlap), then drain the old set. Returns 0, or a negative errno
 * with the cause in err; on failure the previous config stays current.
 */
int gw_server_apply(struct gw_server *srv, struct gw_config *cfg, char *err, size_t errlen);
/* Stops accepting, lets in-flight requests finish (bounded), joins the workers, frees. */
void gw_server_stop(struct gw_server *srv);
/* Writes the gateway's Prometheus text metrics to out. */
void gw_server_metrics(struct gw_server *srv, FILE *out);
/* Writes a JSON array with each upstream target's state (health, in-flight) to out. */
json_t *gw_server_upstream_status(struct gw_server *srv);

#endif
