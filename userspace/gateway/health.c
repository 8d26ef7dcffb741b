// SPDX-License-Identifier: GPL-2.0
/*
 * Active HTTP health checks: one thread with its own event loop probes every target of every
 * upstream that has a health_check, and writes the verdict into the target's shared state,
 * so all workers agree. A target flips after `unhealthy` consecutive failures or `healthy`
 * consecutive successes; targets start healthy so traffic flows before the first probe.
 */
/* Paths and names in messages are bounded on purpose; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/runtime.h"
#include "lib/hc.h"
#include "lib/log.h"

#define TICK_MS 50

struct hc_item {
	struct gw_health *h;
	const struct gw_upstream *u;
	struct gw_tstate *st;
	const struct gw_health_cfg *cfg;
	struct gw_upcall up;
	h2o_buffer_t *body;
	char reqbuf[512];
};

struct gw_health {
	pthread_t th;
	h2o_evloop_t *loop;
	struct gw_timeouts tmo;
	h2o_timeout_entry_t tick;
	_Atomic(struct gw_config *) pending;
	struct gw_config *cfg;
	atomic_int stop;
	struct hc_item *items;
	size_t nitems;
	bool started;
};

static void verdict(struct hc_item *it, bool ok)
{
	struct gw_tstate *st = it->st;
	uint64_t now = gw_now_ms();

	st->hc_busy = false;
	st->hc_next_at = now + it->cfg->interval_ms;
	/* Targets start healthy: UNKNOWN passes, as UP does; only DOWN takes one out. */
	switch (hc_sm_feed(&st->hc, it->cfg->healthy, it->cfg->unhealthy, ok, now)) {
	case HC_WENT_UP:
		if (atomic_exchange(&st->down, 0))
			log_info("gateway: upstream %s target %s is healthy", st->upstream, st->addr);
		break;
	case HC_WENT_DOWN:
		if (!atomic_exchange(&st->down, 1))
			log_warn("gateway: upstream %s target %s is unhealthy", st->upstream,
				 st->addr);
		break;
	default:
		return;
	}
	gw_upstream_panic_update(it->u, now);	/* log a panic change now, traffic or not */
}

static int on_head(struct gw_upcall *up, int minor, int status, const char *msg, size_t msg_len,
		   struct phr_header *h, size_t nh)
{
	struct hc_item *it = up->data;

	verdict(it, status >= it->cfg->status_min && status <= it->cfg->status_max);
	return 1;	/* the status is all we need: drop the connection */
}

static void on_error(struct gw_upcall *up, enum gw_upcall_err err)
{
	verdict(up->data, false);
}

static void on_body(struct gw_upcall *up, bool eos, const char *err)
{
	h2o_buffer_consume(up->body, (*up->body)->size);
}

static const struct gw_upcall_cbs hc_cbs = { on_head, on_error, on_body };

static void probe(struct gw_health *h, struct hc_item *it)
{
	const struct gw_health_cfg *c = it->cfg;
	int n = snprintf(it->reqbuf, sizeof(it->reqbuf),
			 "GET %s HTTP/1.1\r\nhost: %s\r\nuser-agent: xdpgw-health\r\n"
			 "connection: close\r\n\r\n",
			 c->path, c->host ? c->host : it->st->addr);

	memset(&it->up, 0, sizeof(it->up));
	it->up.loop = h->loop;
	it->up.tmo = &h->tmo;
	it->up.slot = -1;
	it->up.st = it->st;
	it->up.connect_ms = c->timeout_ms;
	it->up.response_ms = c->timeout_ms;
	it->up.reqbufs[0] = h2o_iovec_init(it->reqbuf, n);
	it->up.nreqbufs = 1;
	it->up.cb = &hc_cbs;
	it->up.body = &it->body;
	it->up.data = it;
	it->st->hc_busy = true;
	gw_upcall_start(&it->up);
}

static void drop_items(struct gw_health *h)
{
	for (size_t i = 0; i < h->nitems; i++) {
		if (gw_upcall_active(&h->items[i].up))
			gw_upcall_cancel(&h->items[i].up);
		h->items[i].st->hc_busy = false;
		h2o_buffer_dispose(&h->items[i].body);
	}
	free(h->items);
	h->items = NULL;
	h->nitems = 0;
}

static void rebuild(struct gw_health *h, struct gw_config *cfg)
{
	size_t i, j, n = 0;

	drop_items(h);
	gw_config_put(h->cfg);
	h->cfg = cfg;
	for (i = 0; i < cfg->nupstreams; i++)
		if (cfg->upstreams[i].hc.enabled)
			n += cfg->upstreams[i].ntargets;
	h->items = calloc(n + 1, sizeof(*h->items));
	for (i = 0; i < cfg->nupstreams; i++) {
		struct gw_upstream *u = &cfg->upstreams[i];

		for (j = 0; j < u->ntargets; j++) {
			struct gw_tstate *st = u->targets[j].st;

			if (!u->hc.enabled) {
				atomic_store(&st->down, 0);	/* checks removed: trust it again */
				st->hc = (struct hc_sm){ 0 };	/* and start afresh if they return */
				continue;
			}
			if (!h->items)
				continue;
			h->items[h->nitems] = (struct hc_item){ .h = h, .u = u, .st = st,
								.cfg = &u->hc };
			h2o_buffer_init(&h->items[h->nitems].body, &h2o_socket_buffer_prototype);
			h->nitems++;
		}
	}
}

static void on_tick(h2o_timeout_entry_t *entry)
{
	struct gw_health *h = H2O_STRUCT_FROM_MEMBER(struct gw_health, tick, entry);
	struct gw_config *cfg = atomic_exchange(&h->pending, NULL);
	uint64_t now = gw_now_ms();

	if (cfg)
		rebuild(h, cfg);
	for (size_t i = 0; i < h->nitems; i++) {
		struct hc_item *it = &h->items[i];

		if (!it->st->hc_busy && it->st->hc_next_at <= now)
			probe(h, it);
	}
	if (!atomic_load(&h->stop))
		h2o_timeout_link(h->loop, gw_timeout_get(&h->tmo, TICK_MS), &h->tick);
}

static void *health_main(void *arg)
{
	struct gw_health *h = arg;

	h->tick.cb = on_tick;
	h2o_timeout_link(h->loop, gw_timeout_get(&h->tmo, TICK_MS), &h->tick);
	while (!atomic_load(&h->stop))
		h2o_evloop_run(h->loop, TICK_MS);
	if (h2o_timeout_is_linked(&h->tick))
		h2o_timeout_unlink(&h->tick);
	drop_items(h);
	gw_thread_release_caches();
	return NULL;
}

struct gw_health *gw_health_start(struct gw_server *srv)
{
	struct gw_health *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->loop = h2o_evloop_create();
	h->tmo.loop = h->loop;
	h2o_multithread_create_thread(&h->th, NULL, health_main, h);
	h->started = true;
	return h;
}

void gw_health_update(struct gw_health *h, struct gw_config *cfg)
{
	struct gw_config *old;

	if (!h)
		return;
	old = atomic_exchange(&h->pending, gw_config_get(cfg));
	gw_config_put(old);
}

void gw_health_stop(struct gw_health *h)
{
	if (!h)
		return;
	atomic_store(&h->stop, 1);
	pthread_join(h->th, NULL);
	gw_config_put(atomic_exchange(&h->pending, NULL));
	gw_config_put(h->cfg);
	gw_timeouts_dispose(&h->tmo);
	gw_evloop_destroy(h->loop);
	free(h);
}
