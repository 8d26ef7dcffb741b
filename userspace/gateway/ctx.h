/* SPDX-License-Identifier: GPL-2.0 */
/* Per-request state of the gateway (struct gw_ctx), shared by proxy.c and obs.c. */
#ifndef XDPGW_GATEWAY_CTX_H
#define XDPGW_GATEWAY_CTX_H

#include <netinet/in.h>

#include "gateway/runtime.h"

#define GW_MAX_TRIES 11

struct gw_ctx {
	h2o_generator_t gen;
	h2o_req_t *req;
	struct gw_worker *w;
	struct gw_wver *ver;
	const struct gw_route *route;
	const struct gw_upstream *u;
	struct gw_upcall up;
	const struct gw_target *target;
	uint16_t tried[GW_MAX_TRIES];
	uint8_t ntried;
	bool idempotent, stale_retried;
	bool cb_pending, cb_trial;	/* the call holds a circuit-breaker slot (a trial) */
	bool busy;		/* a pick passed a target over: at its max_conns */
	uint64_t t_start_us, t_up_start_us, t_up_us;
	h2o_iovec_t path_up;	/* path and query sent upstream */
	h2o_iovec_t reqid;
	h2o_iovec_t traceparent;
	const char *consumer;
	char client[INET6_ADDRSTRLEN];
	/* response streaming */
	h2o_buffer_t *body;	/* filled by the upstream call */
	h2o_buffer_t *inflight;	/* handed to h2o_send, waiting for proceed */
	bool started, sending, up_done, final_sent, body_error;
	bool buffer_whole;	/* a policy wants the whole body */
	/* policies */
	size_t policy_pos;
	bool async;
	void (*abort_cb)(void *data);
	void *abort_data;
	bool responded;
	/* body policies: which ones want this body (bit = policy index), and the limit */
	uint64_t body_mask;
	size_t body_limit;
	bool oversize_fail;
	struct gw_ctx_data *data;	/* gw_ctx_set_data */
};

#endif
