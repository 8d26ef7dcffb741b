// SPDX-License-Identifier: GPL-2.0
/*
 * Workers and listeners: one libh2o evloop, context and SO_REUSEPORT listener socket per
 * worker thread, TLS with a certificate per SNI name, and live configuration: route, upstream
 * and policy changes are published per worker (a pointer swap between requests); listener,
 * limit and worker-count changes start a new worker set that overlaps the old one.
 */
/* Paths and names in messages are bounded on purpose; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/runtime.h"
#include "lib/log.h"

/* After limits.drain_timeout_ms, connections left are shut down and get this long to close. */
#define FORCE_CLOSE_MS 2000

/* An accepted client connection, listed on its worker until libh2o closes it. */
struct gw_client {
	h2o_linklist_t link;
	struct gw_worker *w;
	h2o_socket_t *sock;
};

/* Workers given up with connections still open: their memory is kept (never freed). */
static atomic_uint abandoned_workers;

struct gw_workerset {
	struct gw_workerset *next;
	struct gw_server *srv;
	struct gw_config *cfg;	/* the server part this set was built for */
	h2o_globalconf_t gc;
	h2o_hostconf_t *host;
	SSL_CTX **ssl;		/* per listener, NULL for plain HTTP */
	size_t nssl;
	int logfd;
	unsigned n;
	struct gw_worker *w;
	h2o_barrier_t ready;
	atomic_int started_ok;
};

struct gw_server {
	pthread_mutex_t lock;
	/* Held while a message is sent to a worker and while a worker gives up its receiver, so
	 * that nothing is sent to a receiver that is gone (rx_gone). */
	pthread_mutex_t rx_lock;
	atomic_uint_least64_t conns;		/* open client connections, all workers */
	atomic_uint_least64_t conn_limited;	/* a worker reached its max_conns */
	struct gw_config *cfg;
	struct gw_workerset *set, *retiring;
	struct gw_tstate *tstates;
	struct gw_ustate *ustates;
	struct gw_route_metrics *rmetrics;
	size_t nrmetrics;
	uint64_t slots_used;
	struct gw_health *health;
};

struct gw_route_metrics gw_no_route_metrics = { .name = "_none" };

struct wmsg {
	h2o_multithread_message_t super;
	void (*fn)(void *arg);	/* gw_worker_post; NULL for a plain wake-up */
	void *arg;
};

/* ---- registries of runtime state (kept across config versions) ---- */

static struct gw_tstate *tstate_get(struct gw_server *srv, const char *upstream,
				    const struct gw_target *t)
{
	struct gw_tstate *st;
	char key[sizeof(st->key)];

	snprintf(key, sizeof(key), "%s/%s", upstream, t->addr);
	for (st = srv->tstates; st; st = st->next)
		if (!strcmp(st->key, key))
			return st;
	st = aligned_alloc(64, (sizeof(*st) + 63) / 64 * 64);
	if (!st)
		return NULL;
	memset(st, 0, sizeof(*st));
	atomic_init(&st->refs, 1);	/* the registry's */
	snprintf(st->key, sizeof(st->key), "%s", key);
	snprintf(st->upstream, sizeof(st->upstream), "%s", upstream);
	snprintf(st->addr, sizeof(st->addr), "%s", t->addr);
	st->sa = t->sa;
	st->salen = t->salen;
	st->next = srv->tstates;
	srv->tstates = st;
	return st;
}

void gw_tstate_put(struct gw_tstate *st)
{
	if (st && atomic_fetch_sub(&st->refs, 1) == 1)
		free(st);
}

/* No worker holds a pooled connection to it, and nothing is in flight. */
static bool tstate_quiet(struct gw_tstate *st)
{
	if (atomic_load(&st->conns) || __atomic_load_n(&st->hc_busy, __ATOMIC_ACQUIRE))
		return false;
	for (size_t i = 0; i < GW_MAX_SLOTS; i++)
		if (__atomic_load_n(&st->slot[i].idle, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&st->slot[i].inflight, __ATOMIC_RELAXED))
			return false;
	return true;
}

/*
 * Frees (under srv->lock) the state of targets that left the config once no config points to
 * them any more (no request, retry, health check or config version can reach them) and no
 * worker pools a connection to them; each is about 8.5 KiB, so churning target addresses does
 * not grow the registry. Its counters, health and breaker state go with it: a target added
 * again later starts afresh (as a new target). Returns how many were freed.
 */
static size_t tstate_sweep(struct gw_server *srv)
{
	struct gw_tstate **pp = &srv->tstates, *st;
	size_t n = 0;
	unsigned one;

	while ((st = *pp)) {
		one = 1;
		if (atomic_load(&st->retired) && atomic_load(&st->refs) == 1 && tstate_quiet(st) &&
		    atomic_compare_exchange_strong(&st->refs, &one, 0)) {
			*pp = st->next;
			free(st);
			n++;
			continue;
		}
		pp = &st->next;
	}
	return n;
}

static struct gw_ustate *ustate_get(struct gw_server *srv, const char *name)
{
	struct gw_ustate *us;

	for (us = srv->ustates; us; us = us->next)
		if (!strcmp(us->name, name))
			return us;
	us = calloc(1, sizeof(*us));
	if (!us)
		return NULL;
	snprintf(us->name, sizeof(us->name), "%s", name);
	us->next = srv->ustates;
	srv->ustates = us;
	return us;
}

/*
 * A route's metrics outlive config versions (counters keep counting across changes), but not
 * the route: an entry whose route left the config is given to a new route name once it has
 * been out for METRICS_REUSE_MS with no request in flight, so churning route names does not
 * grow the registry (each entry is about 25 KiB). Entries are never freed: a request of an
 * old version may still count into one.
 */
#define METRICS_REUSE_MS 60000

static int64_t metrics_inflight(const struct gw_route_metrics *m)
{
	int64_t n = 0;

	for (size_t i = 0; i < GW_MAX_SLOTS; i++)
		n += __atomic_load_n(&m->slot[i].inflight, __ATOMIC_RELAXED);
	return n;
}

static struct gw_route_metrics *metrics_reuse(struct gw_server *srv, const char *name)
{
	uint64_t now = gw_now_ms();

	for (struct gw_route_metrics *m = srv->rmetrics; m; m = m->next) {
		if (!m->retired_ms || now - m->retired_ms < METRICS_REUSE_MS ||
		    metrics_inflight(m) || !strcmp(m->name, "_other"))
			continue;
		memset(m->slot, 0, sizeof(m->slot));
		snprintf(m->name, sizeof(m->name), "%s", name);
		m->retired_ms = 0;
		return m;
	}
	return NULL;
}

struct gw_route_metrics *gw_server_route_metrics(struct gw_server *srv, const char *name)
{
	struct gw_route_metrics *m;

	for (m = srv->rmetrics; m; m = m->next)
		if (!strcmp(m->name, name))
			return m;
	if ((m = metrics_reuse(srv, name)))
		return m;
	/* Bounded label cardinality: past the cap, new names share one series. */
	if (srv->nrmetrics >= 2 * GW_MAX_ROUTES)
		name = "_other";
	for (m = srv->rmetrics; m; m = m->next)
		if (!strcmp(m->name, name))
			return m;
	m = aligned_alloc(64, (sizeof(*m) + 63) / 64 * 64);
	if (!m)
		return &gw_no_route_metrics;
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->next = srv->rmetrics;
	srv->rmetrics = m;
	srv->nrmetrics++;
	return m;
}

/* Links the config's targets and routes to their runtime state; marks the rest retired. */
static int bind_config(struct gw_server *srv, struct gw_config *cfg)
{
	struct gw_tstate *st;
	size_t i, j;

	for (st = srv->tstates; st; st = st->next)
		atomic_store(&st->retired, 1);
	for (i = 0; i < cfg->nupstreams; i++) {
		struct gw_upstream *u = &cfg->upstreams[i];

		if (!cfg->bound && !(u->us = ustate_get(srv, u->name)))
			return -ENOMEM;
		for (j = 0; j < u->ntargets; j++) {
			if (!cfg->bound) {
				if (!(u->targets[j].st = tstate_get(srv, u->name, &u->targets[j])))
					return -ENOMEM;
				atomic_fetch_add(&u->targets[j].st->refs, 1);	/* cfg's */
			}
			atomic_store(&u->targets[j].st->retired, 0);
		}
	}
	if (!cfg->bound)
		for (i = 0; i < cfg->nroutes; i++)
			cfg->routes[i].m = gw_server_route_metrics(srv, cfg->routes[i].name);
	cfg->bound = true;
	/* cfg becomes current: the metrics of routes it no longer has start to retire */
	for (struct gw_route_metrics *m = srv->rmetrics; m; m = m->next) {
		bool used = false;

		for (i = 0; i < cfg->nroutes && !used; i++)
			used = cfg->routes[i].m == m;
		if (used)
			m->retired_ms = 0;
		else if (!m->retired_ms)
			m->retired_ms = gw_now_ms();
	}
	tstate_sweep(srv);
	return 0;
}

/* ---- TLS ---- */

static const h2o_iovec_t http1_alpn[] = { { H2O_STRLIT("http/1.1") }, { NULL } };

struct sni_map {
	const struct gw_listener_cfg *l;
	SSL_CTX **ctx;		/* per certificate */
};

static int sni_ex_index = -1;

static int on_servername(SSL *ssl, int *al, void *arg)
{
	struct sni_map *map = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t i, j;

	if (!name)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < map->l->ncerts; i++)
		for (j = 0; j < map->l->certs[i].nnames; j++)
			if (!strcasecmp(map->l->certs[i].names[j], name)) {
				SSL_set_SSL_CTX(ssl, map->ctx[i]);
				return SSL_TLSEXT_ERR_OK;
			}
	for (i = 0; i < map->l->ncerts; i++)
		for (j = 0; j < map->l->certs[i].nnames; j++)
			if (map->l->certs[i].names[j][0] == '*' &&
			    !fnmatch(map->l->certs[i].names[j], name, FNM_CASEFOLD)) {
				SSL_set_SSL_CTX(ssl, map->ctx[i]);
				return SSL_TLSEXT_ERR_OK;
			}
	return SSL_TLSEXT_ERR_OK;	/* the default (first) certificate */
}

static void free_sni_map(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	struct sni_map *map = ptr;

	if (!map)
		return;
	for (size_t i = 1; i < map->l->ncerts; i++)
		SSL_CTX_free(map->ctx[i]);
	free(map->ctx);
	free(map);
}

static SSL_CTX *new_cert_ctx(const struct gw_listener_cfg *l, const struct gw_cert *cert,
			     char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert->cert_path) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cert->key_path, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "gateway.listeners[%s]: cannot load %s: %s", l->addr,
			 cert->cert_path, ERR_reason_error_string(ERR_peek_last_error()));
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	h2o_ssl_register_alpn_protocols(ctx, l->http2 ? h2o_http2_alpn_protocols : http1_alpn);
	return ctx;
}

static SSL_CTX *make_ssl(const struct gw_listener_cfg *l, char *err, size_t errlen)
{
	struct sni_map *map = calloc(1, sizeof(*map));
	size_t i;

	if (sni_ex_index < 0)
		sni_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_sni_map);
	if (!map || !(map->ctx = calloc(l->ncerts, sizeof(SSL_CTX *)))) {
		free(map);
		return NULL;
	}
	map->l = l;
	for (i = 0; i < l->ncerts; i++) {
		map->ctx[i] = new_cert_ctx(l, &l->certs[i], err, errlen);
		if (!map->ctx[i]) {
			while (i-- > 0)
				SSL_CTX_free(map->ctx[i]);
			free(map->ctx);
			free(map);
			return NULL;
		}
	}
	SSL_CTX_set_tlsext_servername_callback(map->ctx[0], on_servername);
	SSL_CTX_set_tlsext_servername_arg(map->ctx[0], map);
	SSL_CTX_set_ex_data(map->ctx[0], sni_ex_index, map);
	return map->ctx[0];
}

/* ---- listeners ---- */

static int open_listener(const struct gw_listener_cfg *l, const struct gw_limits *lim, char *err,
			 size_t errlen)
{
	int fd = socket(l->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	unsigned int uto = lim->write_timeout_ms;

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Inherited by accepted sockets: bounds how long sent data may stay unacknowledged. */
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
	if (l->sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&l->sa, l->salen) || listen(fd, 1024))
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "gateway.listeners[%s]: cannot listen: %s", l->addr, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static void on_accept(h2o_socket_t *listener, const char *err);

/*
 * At its share of limits.max_connections a worker stops reading its listeners (new
 * connections wait in the kernel's backlog, and no accept loop spins at the fd limit); the
 * next close of one of its connections resumes them. As libh2o's own server does.
 */
static void listeners_read(struct gw_worker *w, bool on)
{
	for (size_t i = 0; i < w->set->cfg->nlisteners; i++) {
		if (!w->lsocks[i])
			continue;
		if (on)
			h2o_socket_read_start(w->lsocks[i], on_accept);
		else
			h2o_socket_read_stop(w->lsocks[i]);
	}
	w->accept_paused = !on;
}

static void on_conn_close(void *data)
{
	struct gw_client *cl = data;
	struct gw_worker *w = cl->w;

	h2o_linklist_unlink(&cl->link);
	free(cl);
	w->conns--;
	atomic_fetch_sub_explicit(&w->srv->conns, 1, memory_order_relaxed);
	if (w->accept_paused && !w->stopping && w->conns < w->max_conns)
		listeners_read(w, true);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_accept_ctx_t *actx = listener->data;
	struct gw_worker *w = H2O_STRUCT_FROM_MEMBER(struct gw_worker, ctx, actx->ctx);
	int i;

	if (err)
		return;
	for (i = 0; i < 16; i++) {
		h2o_socket_t *sock;
		struct gw_client *cl;

		if (w->conns >= w->max_conns) {
			atomic_fetch_add_explicit(&w->srv->conn_limited, 1, memory_order_relaxed);
			listeners_read(w, false);
			break;
		}
		sock = h2o_evloop_socket_accept(listener);
		if (!sock)
			break;
		if (!(cl = calloc(1, sizeof(*cl)))) {
			h2o_socket_close(sock);
			break;
		}
		cl->w = w;
		cl->sock = sock;
		h2o_linklist_insert(&w->clients, &cl->link);
		w->conns++;
		atomic_fetch_add_explicit(&w->srv->conns, 1, memory_order_relaxed);
		sock->on_close.cb = on_conn_close;
		sock->on_close.data = cl;
		h2o_accept(actx, sock);
	}
}

/* ---- worker thread ---- */

static bool ctx_idle(h2o_context_t *ctx)
{
	return h2o_linklist_is_empty(&ctx->http1._conns) && h2o_linklist_is_empty(&ctx->http2._conns);
}

/* No client connection left, in a TLS handshake either. */
static bool worker_idle(struct gw_worker *w)
{
	return ctx_idle(&w->ctx) && h2o_linklist_is_empty(&w->clients);
}

/*
 * Shuts down (SHUT_RDWR) the worker's client and upstream sockets: libh2o and the upstream
 * call then see read or write errors and close them through their normal paths (requests end,
 * their policies' cleanups run: a cache fill ends, a coalesced waiter stops waiting).
 */
static size_t shutdown_all(struct gw_worker *w)
{
	size_t n = gw_upcall_shutdown_all();

	for (h2o_linklist_t *l = w->clients.next; l != &w->clients; l = l->next) {
		struct gw_client *cl = H2O_STRUCT_FROM_MEMBER(struct gw_client, link, l);

		shutdown(h2o_socket_get_fd(cl->sock), SHUT_RDWR);
		n++;
	}
	return n;
}

static void housekeeping(struct gw_worker *w)
{
	struct gw_server *srv = w->srv;
	struct gw_tstate *st;

	gw_worker_sync_config(w);
	gw_log_flush(w);
	/* Pooled connections to targets that left the config; then their state, once unused. */
	pthread_mutex_lock(&srv->lock);
	for (st = srv->tstates; st; st = st->next)
		if (atomic_load(&st->retired) && st->slot[w->slot].idle)
			gw_upcall_drain_idle(st, w->slot);
	tstate_sweep(srv);
	pthread_mutex_unlock(&srv->lock);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
	struct gw_worker *w = H2O_STRUCT_FROM_MEMBER(struct gw_worker, tick, entry);

	housekeeping(w);
	if (!w->stopping)
		h2o_timeout_link(w->loop, &w->ctx.one_sec_timeout, &w->tick);
}

static void on_message(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
	struct gw_worker *w = H2O_STRUCT_FROM_MEMBER(struct gw_worker, rx, rx);

	while (!h2o_linklist_is_empty(messages)) {
		struct wmsg *m = H2O_STRUCT_FROM_MEMBER(struct wmsg, super.link, messages->next);

		h2o_linklist_unlink(&m->super.link);
		if (m->fn)
			m->fn(m->arg);
		free(m);
	}
	gw_worker_sync_config(w);
}

/* Sends m to w unless w has already given up its receiver (then m is freed: -ESRCH). */
static int send_to(struct gw_worker *w, struct wmsg *m)
{
	bool gone;

	pthread_mutex_lock(&w->srv->rx_lock);
	gone = w->rx_gone;
	if (!gone)
		h2o_multithread_send_message(&w->rx, &m->super);
	pthread_mutex_unlock(&w->srv->rx_lock);
	if (gone)
		free(m);
	return gone ? -ESRCH : 0;
}

int gw_worker_post(struct gw_worker *w, void (*fn)(void *arg), void *arg)
{
	struct wmsg *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->arg = arg;
	return send_to(w, m);
}

static void wake(struct gw_worker *w)
{
	struct wmsg *m = calloc(1, sizeof(*m));

	if (m)
		send_to(w, m);
}

/*
 * Stops accepting and lets open connections finish for limits.drain_timeout_ms; then shuts the
 * rest down, as nginx's worker_shutdown_timeout does, and runs the loop on (FORCE_CLOSE_MS at
 * most) while libh2o closes them.
 */
static void worker_drain(struct gw_worker *w)
{
	struct gw_server *srv = w->srv;
	uint32_t drain_ms = w->set->cfg->limits.drain_timeout_ms;
	uint64_t deadline = gw_now_ms() + drain_ms;
	struct gw_tstate *st;
	size_t i;

	w->stopping = true;
	for (i = 0; i < w->set->cfg->nlisteners; i++) {
		if (w->lsocks[i]) {
			h2o_socket_read_stop(w->lsocks[i]);
			h2o_socket_close(w->lsocks[i]);
			w->lsocks[i] = NULL;
		}
	}
	h2o_context_request_shutdown(&w->ctx);
	while (!worker_idle(w) && gw_now_ms() < deadline)
		h2o_evloop_run(w->loop, 100);
	if (!worker_idle(w)) {
		log_warn("gateway worker %u: %u connections still open after %u ms of draining; "
			 "closing them (%zu sockets shut down)", w->idx, w->conns, drain_ms,
			 shutdown_all(w));
		deadline = gw_now_ms() + FORCE_CLOSE_MS;
		/* Again on each turn: a retry may have opened a new upstream connection. */
		while (!worker_idle(w) && gw_now_ms() < deadline) {
			h2o_evloop_run(w->loop, 100);
			shutdown_all(w);
		}
	}
	pthread_mutex_lock(&srv->lock);
	for (st = srv->tstates; st; st = st->next)
		gw_upcall_drain_idle(st, w->slot);
	pthread_mutex_unlock(&srv->lock);
	gw_log_flush(w);
}

/* Parks sockets on this worker's loop unless turned off (epoll_park.c); worker 0 says why. */
static void start_epoll_park(struct gw_worker *w)
{
	const struct gw_config *cfg = w->set->cfg;
	const char *why;
	int want = gw_epoll_park_wanted(cfg->epoll_park, &why);

	if (want < 0) {
		if (w->idx == 0)
			log_warn("gateway: XDPGW_EPOLL_PARK must be 0, 1, false or true; using "
				 "gateway.epoll_park");
		want = cfg->epoll_park;
		why = "gateway.epoll_park: false";
	}
	if (!want) {
		if (w->idx == 0)
			log_info("gateway: epoll parking off (%s): sockets are re-registered per "
				 "request", why);
		return;
	}
	if (gw_epoll_park_start(w->loop) && w->idx == 0)
		log_warn("gateway: libh2o's epoll loop is not the expected one; sockets are "
			 "re-registered per request");
}

static void *worker_main(void *arg)
{
	struct gw_worker *w = arg;
	struct gw_workerset *set = w->set;
	const struct gw_config *cfg = set->cfg;
	char err[256];
	size_t i;
	bool ok = true;

	w->loop = h2o_evloop_create();
	start_epoll_park(w);
	h2o_context_init(&w->ctx, w->loop, &set->gc);
	w->tmo.loop = w->loop;
	h2o_linklist_init_anchor(&w->clients);
	h2o_multithread_register_receiver(w->ctx.queue, &w->rx, on_message);
	for (i = 0; i < cfg->nlisteners; i++) {
		int fd = open_listener(&cfg->listeners[i], &cfg->limits, err, sizeof(err));

		if (fd < 0) {
			if (w->idx == 0)
				log_error("%s", err);
			ok = false;
			continue;
		}
		w->accept[i] = (h2o_accept_ctx_t){ .ctx = &w->ctx, .hosts = set->gc.hosts,
						   .ssl_ctx = set->ssl[i] };
		w->lsocks[i] = h2o_evloop_socket_create(w->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
		w->lsocks[i]->data = &w->accept[i];
		h2o_socket_read_start(w->lsocks[i], on_accept);
	}
	if (!ok)
		atomic_store(&set->started_ok, 0);
	gw_worker_sync_config(w);
	w->tick.cb = on_tick;
	h2o_timeout_link(w->loop, &w->ctx.one_sec_timeout, &w->tick);
	h2o_barrier_wait(&set->ready);
	while (!atomic_load(&w->stop))
		h2o_evloop_run(w->loop, INT32_MAX);
	if (h2o_timeout_is_linked(&w->tick))
		h2o_timeout_unlink(&w->tick);
	worker_drain(w);
	/* Policies' per-worker objects (Redis connections) close on this loop, which runs on. */
	gw_worker_locals_destroy(w);
	h2o_evloop_run(w->loop, 0);
	/* libh2o's shutdown leaves a one-second timer of its own linked: let it fire. */
	for (int i = 0; i < 30 && !h2o_linklist_is_empty(&w->ctx.one_sec_timeout._entries); i++)
		h2o_evloop_run(w->loop, 100);
	if (worker_idle(w) && h2o_linklist_is_empty(&w->ctx.one_sec_timeout._entries) &&
	    h2o_linklist_is_empty(&w->ctx.zero_timeout._entries)) {
		gw_worker_sync_config(w);
		if (w->cur)
			gw_wver_release(w->cur);
		w->cur = NULL;
		pthread_mutex_lock(&w->srv->rx_lock);
		w->rx_gone = true;
		pthread_mutex_unlock(&w->srv->rx_lock);
		h2o_multithread_unregister_receiver(w->ctx.queue, &w->rx);
		gw_timeouts_dispose(&w->tmo);
		h2o_context_dispose(&w->ctx);
		h2o_evloop_run(w->loop, 0);	/* sockets closed above are freed on the next run */
		gw_evloop_destroy(w->loop);
		gw_thread_release_caches();
	} else {
		/*
		 * Something did not close even when shut down. Its loop never runs again, so its
		 * descriptors are closed here, but its memory (worker, context, loop, requests) is
		 * kept for good: something may still point into it, and a bounded leak beats a
		 * use after free. Nothing is sent to it any more (rx_gone).
		 */
		size_t nfd = gw_upcall_abandon_all();

		while (!h2o_linklist_is_empty(&w->clients)) {
			struct gw_client *cl = H2O_STRUCT_FROM_MEMBER(struct gw_client, link,
								      w->clients.next);

			close(h2o_socket_get_fd(cl->sock));
			h2o_linklist_unlink(&cl->link);
			nfd++;
		}
		pthread_mutex_lock(&w->srv->rx_lock);
		w->rx_gone = true;
		pthread_mutex_unlock(&w->srv->rx_lock);
		w->abandoned = true;
		log_error("gateway worker %u: connections still open %d ms after shutting them "
			  "down; closed %zu descriptors and left the worker's memory allocated "
			  "(%u workers so far)", w->idx, FORCE_CLOSE_MS, nfd,
			  atomic_fetch_add(&abandoned_workers, 1) + 1);
	}
	gw_epoll_park_stop();
	free(w->logbuf);
	atomic_store(&w->done, 1);
	return NULL;
}

/* ---- worker sets ---- */

static void fallback_log(h2o_logger_t *self, h2o_req_t *req)
{
	struct gw_worker *w = H2O_STRUCT_FROM_MEMBER(struct gw_worker, ctx, req->conn->ctx);

	gw_proxy_log_h2o_error(w, req);
}

static void set_free(struct gw_workerset *set)
{
	size_t i;

	for (i = 0; i < set->n && set->w; i++)
		if (set->w[i].abandoned) {
			/* Its memory is kept, and so is its slot (metrics in flight count there). */
			for (unsigned j = 0; j < set->n; j++)
				if (!set->w[j].abandoned && set->w[j].srv)
					set->srv->slots_used &= ~(1ULL << set->w[j].slot);
			return;
		}

	for (i = 0; i < set->nssl; i++)
		if (set->ssl[i])
			SSL_CTX_free(set->ssl[i]);
	free(set->ssl);
	for (i = 0; i < set->n && set->w; i++) {
		struct gw_worker *w = &set->w[i];

		free(w->lsocks);
		free(w->accept);
		/* Only a slot this worker was given (w->srv set with it): a set that failed
		 * before its workers got slots must not free slot 0 from under a running one. */
		if (w->srv)
			set->srv->slots_used &= ~(1ULL << w->slot);
		/* Threads are joined (or never ran): a config published to them is ours. */
		gw_config_put(atomic_exchange(&w->pending, NULL));
	}
	free(set->w);
	h2o_config_dispose(&set->gc);
	if (set->logfd > 2)
		close(set->logfd);
	gw_config_put(set->cfg);
	free(set);
}

static void set_stop(struct gw_workerset *set)
{
	for (unsigned i = 0; i < set->n; i++) {
		atomic_store(&set->w[i].stop, 1);
		wake(&set->w[i]);
	}
}

static void set_join(struct gw_workerset *set)
{
	for (unsigned i = 0; i < set->n; i++)
		pthread_join(set->w[i].th, NULL);
}

static int open_log(const char *path)
{
	if (!path)
		return -1;
	if (!strcmp(path, "stderr"))
		return 2;
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static struct gw_workerset *set_start(struct gw_server *srv, struct gw_config *cfg, char *err,
				      size_t errlen)
{
	struct gw_workerset *set = calloc(1, sizeof(*set));
	h2o_pathconf_t *path;
	h2o_handler_t *handler;
	h2o_logger_t *logger;
	unsigned i, slot = 0;

	if (!set)
		goto nomem;
	set->srv = srv;
	set->cfg = gw_config_get(cfg);
	set->n = cfg->workers;
	set->logfd = -1;
	h2o_config_init(&set->gc);
	set->gc.server_name = h2o_iovec_init(H2O_STRLIT("xdpgw"));
	set->gc.max_request_entity_size = cfg->limits.max_body_bytes;
	set->gc.http1.req_timeout = cfg->limits.idle_timeout_ms;
	set->gc.http1.upgrade_to_http2 = 0;
	set->gc.http2.idle_timeout = cfg->limits.idle_timeout_ms;
	set->gc.handshake_timeout = cfg->limits.tls_handshake_timeout_ms;
	set->host = h2o_config_register_host(&set->gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	path = h2o_config_register_path(set->host, "/", 0);
	handler = h2o_create_handler(path, sizeof(*handler));
	handler->on_req = gw_proxy_on_req;
	gw_register_error_filter(&set->host->fallback_path);
	logger = h2o_create_logger(&set->host->fallback_path, sizeof(*logger));
	logger->log_access = fallback_log;
	set->nssl = cfg->nlisteners;
	set->ssl = calloc(cfg->nlisteners + 1, sizeof(SSL_CTX *));
	set->w = calloc(set->n, sizeof(*set->w));
	if (!set->ssl || !set->w)
		goto nomem_set;
	for (i = 0; i < cfg->nlisteners; i++)
		if (cfg->listeners[i].tls && !(set->ssl[i] = make_ssl(&cfg->listeners[i], err, errlen)))
			goto fail;
	if (cfg->access_log && (set->logfd = open_log(cfg->access_log)) < 0) {
		snprintf(err, errlen, "gateway.access_log: cannot open \"%s\": %s", cfg->access_log,
			 strerror(errno));
		goto fail;
	}
	h2o_barrier_init(&set->ready, set->n + 1);
	atomic_store(&set->started_ok, 1);
	for (i = 0; i < set->n; i++) {
		struct gw_worker *w = &set->w[i];

		while (slot < GW_MAX_SLOTS && (srv->slots_used & (1ULL << slot)))
			slot++;
		if (slot == GW_MAX_SLOTS) {
			snprintf(err, errlen, "gateway.workers: no free worker slots");
			set->n = i;
			goto fail;
		}
		srv->slots_used |= 1ULL << slot;
		w->srv = srv;
		w->set = set;
		w->idx = i;
		w->slot = slot;
		/* SO_REUSEPORT spreads connections evenly enough for an even share each. */
		w->max_conns = cfg->limits.max_connections / set->n ?: 1;
		w->logfd = set->logfd;
		w->lsocks = calloc(cfg->nlisteners + 1, sizeof(*w->lsocks));
		w->accept = calloc(cfg->nlisteners + 1, sizeof(*w->accept));
		if (getrandom(w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || !(w->rng[0] | w->rng[1]))
			w->rng[0] = 0x9e3779b97f4a7c15ULL ^ (uintptr_t)w, w->rng[1] = gw_now_us();
		atomic_store(&w->pending, gw_config_get(srv->cfg ? srv->cfg : cfg));
	}
	for (i = 0; i < set->n; i++)
		h2o_multithread_create_thread(&set->w[i].th, NULL, worker_main, &set->w[i]);
	h2o_barrier_wait(&set->ready);
	if (!atomic_load(&set->started_ok)) {
		snprintf(err, errlen, "gateway: a listener could not be opened (see the log)");
		set_stop(set);
		set_join(set);
		set_free(set);
		return NULL;
	}
	return set;
fail:
	set_free(set);
	return NULL;
nomem_set:
	set_free(set);
nomem:
	snprintf(err, errlen, "gateway: out of memory");
	return NULL;
}

static void publish(struct gw_workerset *set, struct gw_config *cfg)
{
	for (unsigned i = 0; i < set->n; i++) {
		struct gw_config *old = atomic_exchange(&set->w[i].pending, gw_config_get(cfg));

		gw_config_put(old);
		wake(&set->w[i]);
	}
}

static void reap(struct gw_server *srv, bool wait)
{
	struct gw_workerset **pp = &srv->retiring;

	while (*pp) {
		struct gw_workerset *set = *pp;
		bool done = true;

		for (unsigned i = 0; i < set->n; i++)
			if (!atomic_load(&set->w[i].done))
				done = false;
		if (!done && !wait) {
			pp = &set->next;
			continue;
		}
		set_join(set);
		*pp = set->next;
		set_free(set);
	}
}

/* ---- public ---- */

struct gw_server *gw_server_start(struct gw_config *cfg, char *err, size_t errlen)
{
	struct gw_server *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		snprintf(err, errlen, "gateway: out of memory");
		return NULL;
	}
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->rx_lock, NULL);
	if (bind_config(srv, cfg)) {
		snprintf(err, errlen, "gateway: out of memory");
		goto fail;
	}
	srv->cfg = gw_config_get(cfg);
	srv->set = set_start(srv, cfg, err, errlen);
	if (!srv->set)
		goto fail;
	srv->health = gw_health_start(srv);
	gw_health_update(srv->health, cfg);
	return srv;
fail:
	gw_server_stop(srv);
	return NULL;
}

int gw_server_apply(struct gw_server *srv, struct gw_config *cfg, char *err, size_t errlen)
{
	struct gw_workerset *set;
	int ret;

	pthread_mutex_lock(&srv->lock);
	ret = bind_config(srv, cfg);
	pthread_mutex_unlock(&srv->lock);
	if (ret) {
		snprintf(err, errlen, "gateway: out of memory");
		return ret;
	}
	reap(srv, false);
	if (gw_config_needs_restart(srv->set->cfg, cfg)) {
		struct gw_config *prev = srv->cfg;

		srv->cfg = gw_config_get(cfg);	/* new workers start on cfg */
		set = set_start(srv, cfg, err, errlen);
		if (!set) {
			gw_config_put(srv->cfg);
			srv->cfg = prev;
			pthread_mutex_lock(&srv->lock);
			bind_config(srv, prev);
			pthread_mutex_unlock(&srv->lock);
			return -EINVAL;
		}
		gw_config_put(prev);
		set_stop(srv->set);
		srv->set->next = srv->retiring;
		srv->retiring = srv->set;
		srv->set = set;
	} else {
		struct gw_config *prev = srv->cfg;

		pthread_mutex_lock(&srv->lock);
		srv->cfg = gw_config_get(cfg);
		pthread_mutex_unlock(&srv->lock);
		gw_config_put(prev);
		publish(srv->set, cfg);
	}
	gw_health_update(srv->health, cfg);
	return 0;
}

void gw_server_stop(struct gw_server *srv)
{
	struct gw_tstate *st;
	struct gw_route_metrics *m;

	if (!srv)
		return;
	if (srv->health)
		gw_health_stop(srv->health);
	if (srv->set) {
		set_stop(srv->set);
		srv->set->next = srv->retiring;
		srv->retiring = srv->set;
		srv->set = NULL;
	}
	for (struct gw_workerset *s = srv->retiring; s; s = s->next)
		set_stop(s);
	reap(srv, true);
	/* Configs that outlive the server (the caller's) keep theirs until they are freed. */
	while ((st = srv->tstates)) {
		srv->tstates = st->next;
		gw_tstate_put(st);
	}
	while (srv->ustates) {
		struct gw_ustate *us = srv->ustates;

		srv->ustates = us->next;
		free(us);
	}
	while ((m = srv->rmetrics)) {
		srv->rmetrics = m->next;
		free(m);
	}
	gw_config_put(srv->cfg);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->rx_lock);
	free(srv);
}

void gw_server_metrics(struct gw_server *srv, FILE *out)
{
	pthread_mutex_lock(&srv->lock);
	gw_metrics_write(srv, out);
	pthread_mutex_unlock(&srv->lock);
}

/* Accessors for obs.c and health.c (the structs stay private to this file). */
struct gw_config *gw_server_config(struct gw_server *srv)
{
	return srv->cfg;
}

void gw_server_conn_stats(struct gw_server *srv, uint64_t *open, uint64_t *limited)
{
	*open = atomic_load_explicit(&srv->conns, memory_order_relaxed);
	*limited = atomic_load_explicit(&srv->conn_limited, memory_order_relaxed);
}

struct gw_route_metrics *gw_server_route_metrics_list(struct gw_server *srv)
{
	return srv->rmetrics;
}

struct gw_tstate *gw_server_tstates(struct gw_server *srv)
{
	return srv->tstates;
}

uint64_t gw_server_slots(struct gw_server *srv)
{
	return srv->slots_used;
}

pthread_mutex_t *gw_server_lock(struct gw_server *srv)
{
	return &srv->lock;
}
