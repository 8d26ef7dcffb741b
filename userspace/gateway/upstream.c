// SPDX-License-Identifier: GPL-2.0
/*
 * The upstream call: a small HTTP/1.1 client on libh2o sockets. Unlike libh2o's socketpool,
 * idle keep-alive connections stay registered on their worker's loop (no export/import, so
 * no extra syscalls per request), each pool is per worker and per target, and the connect and
 * response phases have their own timeouts, so the proxy can retry a failed connect elsewhere.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/runtime.h"

#define MAX_HEAD_BYTES 65536
#define MAX_RESP_HEADERS 100
#define PAUSE_ABOVE (1 << 20)

enum { ST_IDLE, ST_CONNECTING, ST_WRITING, ST_HEAD, ST_BODY, ST_DONE };

struct gw_idle_conn {
	struct gw_idle_conn *next, *prev;
	h2o_socket_t *sock;
	struct gw_tstate *st;
	int slot;
	h2o_timeout_entry_t timer;
};

h2o_timeout_t *gw_timeout_get(struct gw_timeouts *t, uint64_t ms)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->e[i].ms == ms)
			return &t->e[i].t;
	if (t->n == sizeof(t->e) / sizeof(t->e[0])) {
		/* More distinct values than slots: round to the nearest existing one. */
		size_t best = 0;

		for (i = 1; i < t->n; i++)
			if (llabs((long long)t->e[i].ms - (long long)ms) <
			    llabs((long long)t->e[best].ms - (long long)ms))
				best = i;
		return &t->e[best].t;
	}
	t->e[t->n].ms = ms;
	h2o_timeout_init(t->loop, &t->e[t->n].t, ms);
	return &t->e[t->n++].t;
}

void gw_timeouts_dispose(struct gw_timeouts *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		h2o_timeout_dispose(t->loop, &t->e[i].t);
	t->n = 0;
}

/*
 * libh2o keeps per-thread free lists of socket buffers that it never releases; a worker that
 * exits (config restart, shutdown) drains its own so they do not leak. A recycled chunk starts
 * with the pointer to the next one (libh2o 2.2's layout).
 */
void gw_thread_release_caches(void)
{
	h2o_mem_recycle_t *r = &h2o_socket_buffer_prototype.allocator;

	while (r->_link) {
		void **chunk = (void **)r->_link;

		r->_link = *chunk;
		free(chunk);
	}
	r->cnt = 0;
}

/* ---- calls with a socket, per thread (the worker's drain shuts them down) ---- */

static __thread h2o_linklist_t live_calls;

static void live_add(struct gw_upcall *up)
{
	if (!live_calls.next)
		h2o_linklist_init_anchor(&live_calls);
	h2o_linklist_insert(&live_calls, &up->live);
}

static void live_del(struct gw_upcall *up)
{
	if (h2o_linklist_is_linked(&up->live))
		h2o_linklist_unlink(&up->live);
}

size_t gw_upcall_shutdown_all(void)
{
	size_t n = 0;

	if (!live_calls.next)
		return 0;
	for (h2o_linklist_t *l = live_calls.next; l != &live_calls; l = l->next) {
		struct gw_upcall *up = H2O_STRUCT_FROM_MEMBER(struct gw_upcall, live, l);

		shutdown(h2o_socket_get_fd(up->sock), SHUT_RDWR);
		n++;
	}
	return n;
}

size_t gw_upcall_abandon_all(void)
{
	size_t n = 0;

	if (!live_calls.next)
		return 0;
	while (!h2o_linklist_is_empty(&live_calls)) {
		struct gw_upcall *up = H2O_STRUCT_FROM_MEMBER(struct gw_upcall, live, live_calls.next);

		close(h2o_socket_get_fd(up->sock));
		h2o_linklist_unlink(&up->live);
		n++;
	}
	return n;
}

/* ---- idle pool ---- */

static void idle_unlink(struct gw_idle_conn *ic)
{
	struct gw_tstate_slot *s = &ic->st->slot[ic->slot];

	if (ic->prev)
		ic->prev->next = ic->next;
	else
		s->idle = ic->next;
	if (ic->next)
		ic->next->prev = ic->prev;
	s->nidle--;
	if (h2o_timeout_is_linked(&ic->timer))
		h2o_timeout_unlink(&ic->timer);
}

static void idle_close(struct gw_idle_conn *ic)
{
	idle_unlink(ic);
	h2o_socket_close(ic->sock);
	free(ic);
}

static void on_idle_event(h2o_socket_t *sock, const char *err)
{
	/* An idle connection has nothing to say: data or EOF both end it. */
	idle_close(sock->data);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
	idle_close(H2O_STRUCT_FROM_MEMBER(struct gw_idle_conn, timer, entry));
}

static void idle_put(struct gw_upcall *up)
{
	struct gw_tstate_slot *s = &up->st->slot[up->slot];
	struct gw_idle_conn *ic;

	live_del(up);
	if (s->nidle >= up->max_idle || atomic_load(&up->st->retired) ||
	    !(ic = calloc(1, sizeof(*ic)))) {
		h2o_socket_close(up->sock);
		up->sock = NULL;
		return;
	}
	ic->sock = up->sock;
	ic->st = up->st;
	ic->slot = up->slot;
	ic->next = s->idle;
	if (s->idle)
		s->idle->prev = ic;
	s->idle = ic;
	s->nidle++;
	up->sock = NULL;
	ic->sock->data = ic;
	h2o_socket_read_start(ic->sock, on_idle_event);
	ic->timer.cb = on_idle_timeout;
	h2o_timeout_link(up->loop, gw_timeout_get(up->tmo, up->idle_ms), &ic->timer);
}

/*
 * Whether a pooled connection is still open as far as this side can tell: no EOF, no error
 * and no unsolicited bytes waiting. The loop may not have reported a close that already
 * arrived; a request that must not be sent twice is only sent on a connection that passes.
 */
static bool idle_alive(h2o_socket_t *sock)
{
	char b;
	ssize_t n = recv(h2o_socket_get_fd(sock), &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static h2o_socket_t *idle_take(struct gw_upcall *up)
{
	struct gw_idle_conn *ic;
	h2o_socket_t *sock;

	while (up->slot >= 0 && (ic = up->st->slot[up->slot].idle)) {
		idle_unlink(ic);
		sock = ic->sock;
		free(ic);
		if (up->check_reused && !idle_alive(sock)) {
			h2o_socket_close(sock);	/* closed by the upstream: never sent on */
			continue;
		}
		h2o_socket_read_stop(sock);
		return sock;
	}
	return NULL;
}

void gw_upcall_drain_idle(struct gw_tstate *st, int slot)
{
	while (st->slot[slot].idle)
		idle_close(st->slot[slot].idle);
}

/* ---- the call ---- */

static void timer_set(struct gw_upcall *up, uint32_t ms)
{
	if (h2o_timeout_is_linked(&up->timer))
		h2o_timeout_unlink(&up->timer);
	h2o_timeout_link(up->loop, gw_timeout_get(up->tmo, ms), &up->timer);
}

static void timer_clear(struct gw_upcall *up)
{
	if (h2o_timeout_is_linked(&up->timer))
		h2o_timeout_unlink(&up->timer);
}

static void close_sock(struct gw_upcall *up)
{
	timer_clear(up);
	if (up->sock) {
		live_del(up);
		h2o_socket_close(up->sock);
		up->sock = NULL;
	}
}

static void fail(struct gw_upcall *up, enum gw_upcall_err err)
{
	close_sock(up);
	up->state = ST_DONE;
	up->cb->on_error(up, err);
}

static void body_fail(struct gw_upcall *up, const char *err)
{
	close_sock(up);
	up->state = ST_DONE;
	up->cb->on_body(up, true, err);
}

static void finish(struct gw_upcall *up)
{
	timer_clear(up);
	up->state = ST_DONE;
	if (up->keepalive && up->slot >= 0 && up->sock->input->size == 0) {
		h2o_socket_read_stop(up->sock);
		idle_put(up);
	} else {
		close_sock(up);
	}
	up->cb->on_body(up, true, NULL);
}

static void append_body(struct gw_upcall *up, const char *p, size_t len)
{
	h2o_iovec_t dst;

	if (!len)
		return;
	dst = h2o_buffer_reserve(up->body, len);
	memcpy(dst.base, p, len);
	(*up->body)->size += len;
}

/* Moves body bytes from the socket buffer to *up->body. Returns 1 at the end of the body. */
static int take_body(struct gw_upcall *up)
{
	h2o_buffer_t **in = &up->sock->input;

	if (up->chunked) {
		size_t len = (*in)->size;
		ssize_t rc = phr_decode_chunked(&up->dec, (*in)->bytes, &len);

		if (rc == -1)
			return -1;
		append_body(up, (*in)->bytes, len);
		if (rc >= 0) {
			/* rc bytes after the last chunk: a pipelined reply we never asked for */
			if (rc > 0)
				up->keepalive = false;
			h2o_buffer_consume(in, (*in)->size);
			return 1;
		}
		h2o_buffer_consume(in, (*in)->size);
		return 0;
	}
	if (up->content_left == SIZE_MAX) {
		append_body(up, (*in)->bytes, (*in)->size);
		h2o_buffer_consume(in, (*in)->size);
		return 0;
	}
	if ((*up->body)->size == 0 && (*in)->size <= up->content_left) {
		/* Common case: hand the whole socket buffer over without copying. */
		h2o_buffer_t *t = *up->body;
		size_t n = (*in)->size;

		*up->body = *in;
		*in = t;
		up->content_left -= n;
	} else {
		size_t n = (*in)->size < up->content_left ? (*in)->size : up->content_left;

		append_body(up, (*in)->bytes, n);
		h2o_buffer_consume(in, n);
		up->content_left -= n;
		if ((*in)->size)
			up->keepalive = false;
	}
	return up->content_left == 0;
}

static void on_read(h2o_socket_t *sock, const char *err);

static void process_body(struct gw_upcall *up)
{
	int rc = take_body(up);

	if (rc < 0) {
		body_fail(up, "invalid chunked encoding from upstream");
		return;
	}
	if (rc > 0) {
		finish(up);
		return;
	}
	timer_set(up, up->response_ms);
	if ((*up->body)->size > PAUSE_ABOVE && !up->paused) {
		up->paused = true;
		h2o_socket_read_stop(up->sock);
	}
	if ((*up->body)->size)
		up->cb->on_body(up, false, NULL);
}

static bool header_is(const struct phr_header *h, const char *name)
{
	return h->name_len == strlen(name) && !strncasecmp(h->name, name, h->name_len);
}

static bool value_has_token(const struct phr_header *h, const char *tok)
{
	size_t tl = strlen(tok), i = 0;

	while (i < h->value_len) {
		size_t start, end;

		while (i < h->value_len && (h->value[i] == ' ' || h->value[i] == ','))
			i++;
		start = i;
		while (i < h->value_len && h->value[i] != ',')
			i++;
		end = i;
		while (end > start && h->value[end - 1] == ' ')
			end--;
		if (end - start == tl && !strncasecmp(h->value + start, tok, tl))
			return true;
	}
	return false;
}

static void process_head(struct gw_upcall *up)
{
	struct phr_header h[MAX_RESP_HEADERS];
	size_t nh = MAX_RESP_HEADERS, i, msg_len;
	int minor, status, rlen;
	const char *msg;
	h2o_buffer_t **in = &up->sock->input;

	for (;;) {
		nh = MAX_RESP_HEADERS;
		rlen = phr_parse_response((*in)->bytes, (*in)->size, &minor, &status, &msg, &msg_len, h,
					  &nh, 0);
		if (rlen == -2) {
			if ((*in)->size > MAX_HEAD_BYTES)
				fail(up, GW_UP_BAD_RESPONSE);
			return;
		}
		if (rlen < 0) {
			fail(up, GW_UP_BAD_RESPONSE);
			return;
		}
		if (status >= 100 && status < 200 && status != 101) {
			h2o_buffer_consume(in, rlen);	/* skip 100 Continue and friends */
			continue;
		}
		break;
	}
	up->keepalive = minor >= 1;
	up->chunked = false;
	up->content_left = SIZE_MAX;
	for (i = 0; i < nh; i++) {
		if (header_is(&h[i], "connection")) {
			if (value_has_token(&h[i], "close"))
				up->keepalive = false;
			else if (value_has_token(&h[i], "keep-alive"))
				up->keepalive = true;
		} else if (header_is(&h[i], "transfer-encoding")) {
			up->chunked = value_has_token(&h[i], "chunked");
		} else if (header_is(&h[i], "content-length")) {
			size_t cl = h2o_strtosize(h[i].value, h[i].value_len);

			if (cl == SIZE_MAX || (up->content_left != SIZE_MAX && up->content_left != cl)) {
				fail(up, GW_UP_BAD_RESPONSE);
				return;
			}
			up->content_left = cl;
		}
	}
	if (up->chunked)
		up->content_left = SIZE_MAX;
	if (up->is_head || status == 204 || status == 304) {
		up->chunked = false;
		up->content_left = 0;
	}
	if (up->content_left == SIZE_MAX && !up->chunked)
		up->keepalive = false;
	memset(&up->dec, 0, sizeof(up->dec));
	up->dec.consume_trailer = 1;
	up->state = ST_BODY;
	if (up->cb->on_head(up, minor, status, msg, msg_len, h, nh)) {
		gw_upcall_cancel(up);
		return;
	}
	h2o_buffer_consume(in, rlen);
	if (up->content_left == 0 && !up->chunked) {
		finish(up);
		return;
	}
	process_body(up);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
	struct gw_upcall *up = sock->data;

	if (err) {
		if (up->state == ST_HEAD) {
			if (up->got_bytes || sock->input->size)
				fail(up, GW_UP_BAD_RESPONSE);
			else
				fail(up, up->reused ? GW_UP_STALE : GW_UP_NO_RESPONSE);
			return;
		}
		/* until-close framing ends here; anything else is truncated */
		if (sock->input->size)
			take_body(up);
		if (up->content_left == SIZE_MAX && !up->chunked) {
			up->keepalive = false;
			close_sock(up);
			up->state = ST_DONE;
			up->cb->on_body(up, true, NULL);
		} else {
			body_fail(up, "upstream closed the connection mid-response");
		}
		return;
	}
	if (up->state == ST_HEAD) {
		up->got_bytes = true;
		process_head(up);
	}
	else if (up->state == ST_BODY)
		process_body(up);
}

static void on_write(h2o_socket_t *sock, const char *err)
{
	struct gw_upcall *up = sock->data;

	if (err) {
		fail(up, up->reused ? GW_UP_STALE : GW_UP_NO_RESPONSE);
		return;
	}
	up->state = ST_HEAD;
	h2o_socket_read_start(sock, on_read);
}

static void send_request(struct gw_upcall *up)
{
	up->state = ST_WRITING;
	up->sock->data = up;
	timer_set(up, up->response_ms);
	up->sent = true;
	h2o_socket_write(up->sock, up->reqbufs, up->nreqbufs, on_write);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
	struct gw_upcall *up = sock->data;

	if (err) {
		fail(up, GW_UP_CONNECT_FAILED);
		return;
	}
	send_request(up);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
	struct gw_upcall *up = H2O_STRUCT_FROM_MEMBER(struct gw_upcall, timer, entry);

	switch (up->state) {
	case ST_CONNECTING:
		fail(up, up->sock ? GW_UP_CONNECT_TIMEOUT : GW_UP_CONNECT_FAILED);
		break;
	case ST_WRITING:
	case ST_HEAD:
		fail(up, GW_UP_RESPONSE_TIMEOUT);
		break;
	default:
		body_fail(up, "upstream response timed out");
		break;
	}
}

void gw_upcall_start(struct gw_upcall *up)
{
	up->timer = (h2o_timeout_entry_t){ .cb = on_timeout };
	up->paused = false;
	up->reused = false;
	up->sent = false;
	up->got_bytes = false;
	up->sock = idle_take(up);
	if (up->sock) {
		live_add(up);
		up->reused = true;
		send_request(up);
		return;
	}
	up->state = ST_CONNECTING;
	up->sock = h2o_socket_connect(up->loop, (struct sockaddr *)&up->st->sa, up->st->salen,
				      on_connect);
	if (!up->sock) {
		/* Immediate failure (no route, no fds): report it from the loop, not from here. */
		up->state = ST_CONNECTING;
		timer_set(up, 0);
		return;
	}
	live_add(up);
	up->sock->data = up;
	timer_set(up, up->connect_ms);
}

enum gw_retry gw_upcall_retry(const struct gw_upcall *up, enum gw_upcall_err err, bool idempotent,
			      bool timeouts)
{
	if (err == GW_UP_CONNECT_FAILED || err == GW_UP_CONNECT_TIMEOUT)
		return GW_RETRY_NEXT;
	if (up->got_bytes || (!idempotent && up->sent))
		return GW_RETRY_NONE;
	switch (err) {
	case GW_UP_STALE:
		return GW_RETRY_SAME;
	case GW_UP_NO_RESPONSE:
		return GW_RETRY_NEXT;
	case GW_UP_RESPONSE_TIMEOUT:
		return timeouts ? GW_RETRY_NEXT : GW_RETRY_NONE;
	default:
		return GW_RETRY_NONE;
	}
}

const char *const gw_retry_reason_names[GW_RETRY_REASONS] = { "connect", "stale", "no_response",
								 "timeout" };

unsigned gw_retry_reason(enum gw_upcall_err err)
{
	switch (err) {
	case GW_UP_CONNECT_FAILED:
	case GW_UP_CONNECT_TIMEOUT:
		return 0;
	case GW_UP_STALE:
		return 1;
	case GW_UP_NO_RESPONSE:
		return 2;
	default:
		return 3;
	}
}

void gw_upcall_cancel(struct gw_upcall *up)
{
	if (up->state == ST_IDLE || up->state == ST_DONE)
		return;
	close_sock(up);
	up->state = ST_DONE;
}

bool gw_upcall_active(const struct gw_upcall *up)
{
	return up->state != ST_IDLE && up->state != ST_DONE;
}

void gw_upcall_pause(struct gw_upcall *up)
{
	if (up->sock && up->state == ST_BODY && !up->paused) {
		up->paused = true;
		h2o_socket_read_stop(up->sock);
	}
}

void gw_upcall_resume(struct gw_upcall *up)
{
	if (up->sock && up->state == ST_BODY && up->paused) {
		up->paused = false;
		h2o_socket_read_start(up->sock, on_read);
	}
}
