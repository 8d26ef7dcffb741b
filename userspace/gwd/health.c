// SPDX-License-Identifier: GPL-2.0
/*
 * The health-check module: one check per backend of the l4 section, probed on gwd's main loop
 * without blocking (a min-heap of due times driven by one 10 ms timer, non-blocking sockets),
 * each result fed into a rise/fall state machine (lib/hc.h) whose verdict goes to the L4
 * module (XG_BE_F_HC_FAIL: out of new-flow selection, flows move) and to lb_be_health for
 * gwctl. See docs/health.md for the semantics and the timing bound.
 */
#include "gwd/health.h"

#include <errno.h>
#include <h2o.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gwd/admin.h"
#include "gwd/gwd.h"
#include "gwd/health_encap.h"
#include "gwd/l4.h"
#include "lib/lbmap.h"
#include "lib/log.h"
#include "lib/picohttpparser.h"

#define TICK_MS 10
#define MAX_HEAD 16384
#define MAX_SLOTS 65536		/* encap probe sequence numbers carry the slot in 16 bits */
#define NO_SLOT UINT32_MAX
#define ERR_LEN 128

enum { SUB_DIRECT = 1, SUB_ENCAP = 2 };

static const double latency_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					  0.25,	 0.5,	 1,	2.5 };
#define N_BUCKETS (sizeof(latency_buckets) / sizeof(latency_buckets[0]))

struct hc_item {
	struct health *h;	/* the module, for socket callbacks */
	struct hc_target t;
	struct hc_sm sm;
	bool pushed_down;	/* what the L4 module was last told */
	bool has_id;		/* be_id and m are the datapath's entry for this backend */
	uint32_t be_id;
	struct lbmap *m;
	uint32_t slot;
	size_t heap_idx;	/* SIZE_MAX: not scheduled */
	uint64_t due_us;	/* next start when idle, the deadline while probing */
	/* the round in flight */
	bool probing;
	uint8_t pending;	/* SUB_* still running */
	bool round_failed;
	char round_err[ERR_LEN];
	uint64_t start_us;
	h2o_socket_t *sock;
	char req[700];
	bool head_done, chunked;
	int64_t body_left;	/* -1: until the connection closes */
	size_t body_len;	/* decoded body bytes at the start of sock->input */
	struct phr_chunked_decoder dec;
	uint32_t encap_seq;
	struct hc_encap_path path;
	/* the last round and totals */
	bool last_ok;
	uint32_t last_latency_us;
	uint64_t last_probe_ms;
	char last_error[ERR_LEN];
	uint64_t ok_total, fail_total, went_up, went_down;
};

struct health {
	struct gwd *gwd;
	h2o_evloop_t *loop;
	bool started;		/* applied once: later applies do not adopt the map's state */
	struct hc_item **items;
	size_t n_items;
	struct hc_item **slots;	/* [MAX_SLOTS] */
	uint32_t slot_hint;
	struct hc_item **heap;
	size_t heap_n, heap_cap;
	h2o_timeout_t tick;
	h2o_timeout_entry_t tick_entry;
	struct hc_encap *encap;
	bool encap_failed;	/* could not open: logged once, probes fail with encap_err */
	char encap_err[ERR_LEN];
	uint64_t hist[N_BUCKETS + 1];
	double hist_sum;
	uint64_t hist_count;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Jitter only: xorshift64*, seeded once (a syscall per round would cost more than it). */
static uint32_t rnd32(void)
{
	static uint64_t x;

	if (!x && (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x) || !x))
		x = mono_us() | 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return (uint32_t)((x * 2685821657736338717ull) >> 32);
}

static const char *item_label(const struct hc_item *it, char *buf, size_t len)
{
	snprintf(buf, len, "l4.services[%s].backends[%s]", it->t.service, it->t.backend);
	return buf;
}

static bool checked(const struct hc_item *it)
{
	return it->t.check.type != HC_TYPE_NONE;
}

/* ---- the schedule: a binary min-heap on due_us ---- */

static void heap_swap(struct health *h, size_t a, size_t b)
{
	struct hc_item *t = h->heap[a];

	h->heap[a] = h->heap[b];
	h->heap[b] = t;
	h->heap[a]->heap_idx = a;
	h->heap[b]->heap_idx = b;
}

static void heap_up(struct health *h, size_t i)
{
	while (i && h->heap[(i - 1) / 2]->due_us > h->heap[i]->due_us) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct health *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->heap_n && h->heap[l]->due_us < h->heap[m]->due_us)
			m = l;
		if (r < h->heap_n && h->heap[r]->due_us < h->heap[m]->due_us)
			m = r;
		if (m == i)
			return;
		heap_swap(h, i, m);
		i = m;
	}
}

static void heap_remove(struct health *h, struct hc_item *it)
{
	size_t i = it->heap_idx;

	if (i == SIZE_MAX)
		return;
	it->heap_idx = SIZE_MAX;
	if (i == --h->heap_n)
		return;
	h->heap[i] = h->heap[h->heap_n];
	h->heap[i]->heap_idx = i;
	heap_down(h, i);
	heap_up(h, i);
}

static void tick_arm(struct health *h)
{
	if (h->loop && h->heap_n && !h2o_timeout_is_linked(&h->tick_entry))
		h2o_timeout_link(h->loop, &h->tick, &h->tick_entry);
}

/* (Re)schedules it at due_us. Returns 0 or -ENOMEM. */
static int schedule(struct health *h, struct hc_item *it, uint64_t due_us)
{
	heap_remove(h, it);
	if (h->heap_n == h->heap_cap) {
		size_t cap = h->heap_cap ? 2 * h->heap_cap : 64;
		struct hc_item **n = realloc(h->heap, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->heap = n;
		h->heap_cap = cap;
	}
	it->due_us = due_us;
	it->heap_idx = h->heap_n;
	h->heap[h->heap_n++] = it;
	heap_up(h, it->heap_idx);
	tick_arm(h);
	return 0;
}

/* ---- verdicts ---- */

static void write_health(struct health *h, struct hc_item *it)
{
	struct xg_backend_health v = { 0 };

	if (!it->has_id)
		return;
	v.state = checked(it) ? it->sm.state : XG_HC_DISABLED;
	v.last_ok = it->last_ok;
	v.last_latency_us = it->last_latency_us;
	v.since_unix_ms = it->sm.since_ms;
	v.last_probe_unix_ms = it->last_probe_ms;
	v.probes = it->sm.probes;
	v.failures = it->sm.failures;
	/* Cut to the map's field; gwctl reads it up to its size without a NUL. */
	memcpy(v.last_error, it->last_error,
	       strnlen(it->last_error, sizeof(v.last_error)));
	if (lbmap_backend_health_set(it->m, it->be_id, &v))
		it->has_id = false; /* looked up again at the next apply */
}

/* Tells the L4 module whether the backend is out of selection for failing its check. */
static void push(struct health *h, struct hc_item *it, bool down)
{
	void *l4 = gwd_module_priv(h->gwd, "l4");
	char lbl[200];
	int ret;

	if (!l4)
		return;
	ret = l4_backend_set_health(l4, it->t.service, &it->t.addr, it->t.family, down);
	if (ret == 0)
		it->pushed_down = down;
	else if (ret != -ENOENT)
		log_error("health: %s: cannot mark it %s in the datapath: %s",
			  item_label(it, lbl, sizeof(lbl)), down ? "down" : "up", strerror(-ret));
}

static void observe_latency(struct health *h, uint32_t us)
{
	double s = us / 1e6;
	size_t b = 0;

	while (b < N_BUCKETS && s > latency_buckets[b])
		b++;
	h->hist[b]++;
	h->hist_sum += s;
	h->hist_count++;
}

static void fmt_age(uint64_t ms, char *buf, size_t len)
{
	if (ms < 10000)
		snprintf(buf, len, "%.1fs", ms / 1000.0);
	else if (ms < 3600 * 1000)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%.1fh", ms / 3600000.0);
}

/* One round's result: the state machine, the log line on a change, the datapath, the map. */
static void record(struct health *h, struct hc_item *it, bool ok, uint32_t latency_us,
		   const char *error)
{
	uint64_t now = wall_ms(), since = it->sm.since_ms;
	uint8_t before = it->sm.state;
	char lbl[200], age[32];
	enum hc_change ch;

	it->last_ok = ok;
	it->last_latency_us = latency_us;
	it->last_probe_ms = now;
	snprintf(it->last_error, sizeof(it->last_error), "%s", ok ? "" : error ? error : "failed");
	if (ok)
		it->ok_total++;
	else
		it->fail_total++;
	observe_latency(h, latency_us);
	ch = hc_sm_feed(&it->sm, it->t.check.rise, it->t.check.fall, ok, now);
	fmt_age(since && now > since ? now - since : 0, age, sizeof(age));
	if (ch == HC_WENT_DOWN) {
		it->went_down++;
		log_warn("health: %s is down after %u failed check%s (%s; was %s for %s)",
			 item_label(it, lbl, sizeof(lbl)), it->sm.fail_run,
			 it->sm.fail_run == 1 ? "" : "s", it->last_error, hc_state_name(before), age);
		push(h, it, true);
	} else if (ch == HC_WENT_UP) {
		it->went_up++;
		if (before == XG_HC_DOWN)
			log_info("health: %s is up after %u passed check%s (%.1f ms; was down for "
				 "%s)",
				 item_label(it, lbl, sizeof(lbl)), it->sm.ok_run,
				 it->sm.ok_run == 1 ? "" : "s", latency_us / 1000.0, age);
		else
			log_info("health: %s is up (first check passed in %.1f ms)",
				 item_label(it, lbl, sizeof(lbl)), latency_us / 1000.0);
		if (it->pushed_down)
			push(h, it, false);
	}
	write_health(h, it);
}

/* ---- probes ---- */

static void round_end(struct health *h, struct hc_item *it);

/* A part of the round finished; the round ends with its first failure or its last success. */
static void sub_done(struct health *h, struct hc_item *it, uint8_t sub, bool ok, const char *fmt,
		     ...) __attribute__((format(printf, 5, 6)));
static void sub_done(struct health *h, struct hc_item *it, uint8_t sub, bool ok, const char *fmt,
		     ...)
{
	va_list ap;

	if (!it->probing || !(it->pending & sub))
		return;
	it->pending &= (uint8_t)~sub;
	if (!ok) {
		it->round_failed = true;
		va_start(ap, fmt);
		vsnprintf(it->round_err, sizeof(it->round_err), fmt, ap);
		va_end(ap);
	}
	if (!ok || !it->pending)
		round_end(h, it);
}

static void close_sock(struct hc_item *it)
{
	if (it->sock) {
		h2o_socket_close(it->sock);
		it->sock = NULL;
	}
}

/* Ends the round in flight without a verdict (reconfiguration, shutdown). */
static void round_cancel(struct health *h, struct hc_item *it)
{
	close_sock(it);
	it->probing = false;
	it->pending = 0;
}

static void round_end(struct health *h, struct hc_item *it)
{
	uint64_t now = mono_us(), period_us = (uint64_t)it->t.check.interval_ms * 1000, next;
	uint64_t lat = now - it->start_us;

	close_sock(it);
	it->probing = false;
	it->pending = 0;
	record(h, it, !it->round_failed, lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat,
	       it->round_err);
	/* Start to start, shortened by up to 10 % at random: checks of many backends spread out
	 * and never run later than the interval (the failover bound depends on it). */
	next = it->start_us + period_us - rnd32() % (period_us / 10 + 1);
	schedule(h, it, next > now ? next : now);
}

static const char *http_host(const struct hc_item *it, char *buf, size_t len)
{
	const struct hc_check *c = &it->t.check;

	if (c->host[0])
		snprintf(buf, len, "%s", c->host);
	else if (c->port == 80)
		snprintf(buf, len, it->t.family == XG_AF_INET6 ? "[%s]" : "%s", it->t.backend);
	else
		snprintf(buf, len, it->t.family == XG_AF_INET6 ? "[%s]:%u" : "%s:%u",
			 it->t.backend, c->port);
	return buf;
}

/* Body expectations: done when the substring is found (ok) or the body ended without it. */
static void http_body(struct health *h, struct hc_item *it, bool eof)
{
	h2o_buffer_t *in = it->sock->input;
	const struct hc_check *c = &it->t.check;
	bool complete = eof;

	if (it->chunked) {
		size_t n = in->size - it->body_len;
		ssize_t r = phr_decode_chunked(&it->dec, in->bytes + it->body_len, &n);

		if (r == -1) {
			sub_done(h, it, SUB_DIRECT, false, "http: bad chunked body");
			return;
		}
		in->size = it->body_len + n;
		complete |= r >= 0;
	} else if (it->body_left >= 0) {
		complete |= (int64_t)in->size >= it->body_left;
	}
	it->body_len = in->size;
	if (memmem(in->bytes, in->size < HC_BODY_SCAN ? in->size : HC_BODY_SCAN, c->body,
		   strlen(c->body))) {
		sub_done(h, it, SUB_DIRECT, true, NULL);
		return;
	}
	if (complete || in->size >= HC_BODY_SCAN)
		sub_done(h, it, SUB_DIRECT, false, "http: body lacks \"%.40s\"", c->body);
}

static bool header_is(const struct phr_header *hd, const char *name)
{
	return hd->name_len == strlen(name) && !strncasecmp(hd->name, name, hd->name_len);
}

static void on_http_read(h2o_socket_t *sock, const char *err)
{
	struct hc_item *it = sock->data;
	struct health *h = it->h;
	struct phr_header hd[64];
	size_t nh = 64, msg_len;
	const char *msg;
	int minor, status;
	int ret;

	if (it->head_done) {
		http_body(h, it, err != NULL);
		return;
	}
	ret = phr_parse_response(sock->input->bytes, sock->input->size, &minor, &status, &msg,
				 &msg_len, hd, &nh, 0);
	if (ret == -2 && !err && sock->input->size < MAX_HEAD)
		return;
	if (ret < 0) {
		sub_done(h, it, SUB_DIRECT, false, "%s", err ? "http: closed before the response"
							      : "http: bad response");
		return;
	}
	if (!hc_status_match(&it->t.check.status, status)) {
		sub_done(h, it, SUB_DIRECT, false, "http: status %d", status);
		return;
	}
	if (!it->t.check.body[0]) {
		sub_done(h, it, SUB_DIRECT, true, NULL);
		return;
	}
	it->head_done = true;
	it->body_left = -1;
	for (size_t i = 0; i < nh; i++) {
		if (header_is(&hd[i], "content-length"))
			it->body_left = strtoll(hd[i].value, NULL, 10);
		else if (header_is(&hd[i], "transfer-encoding") &&
			 memmem(hd[i].value, hd[i].value_len, "chunked", 7))
			it->chunked = true;
	}
	h2o_buffer_consume(&sock->input, (size_t)ret);
	it->body_len = 0;
	http_body(h, it, err != NULL);
}

static void on_http_written(h2o_socket_t *sock, const char *err)
{
	struct hc_item *it = sock->data;
	struct health *h = it->h;

	if (err)
		sub_done(h, it, SUB_DIRECT, false, "http: cannot send the request");
}

static void on_connected(h2o_socket_t *sock, const char *err)
{
	struct hc_item *it = sock->data;
	struct health *h = it->h;
	int so_err = 0;
	socklen_t l = sizeof(so_err);
	h2o_iovec_t buf;

	if (getsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_ERROR, &so_err, &l) || so_err || err) {
		sub_done(h, it, SUB_DIRECT, false, "connect: %s",
			 so_err ? strerror(so_err) : err ? err : "failed");
		return;
	}
	if (it->t.check.type == HC_TYPE_TCP) {
		sub_done(h, it, SUB_DIRECT, true, NULL);
		return;
	}
	buf = h2o_iovec_init(it->req, strlen(it->req));
	h2o_socket_write(sock, &buf, 1, on_http_written);
	h2o_socket_read_start(sock, on_http_read);
}

static void probe_direct(struct health *h, struct hc_item *it)
{
	const struct hc_check *c = &it->t.check;
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	char host[300];
	int fd;

	if (it->t.family == XG_AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->port);
		memcpy(&s6->sin6_addr, it->t.addr.bytes, 16);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(c->port);
		s4->sin_addr.s_addr = it->t.addr.v4;
		sl = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		sub_done(h, it, SUB_DIRECT, false, "socket: %s", strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) && errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		sub_done(h, it, SUB_DIRECT, false, "connect: %s", strerror(e));
		return;
	}
	if (c->type == HC_TYPE_HTTP)
		snprintf(it->req, sizeof(it->req),
			 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xdpgw-health/" XDPGW_VERSION
			 "\r\nAccept: */*\r\nConnection: close\r\n\r\n",
			 c->method, c->path, http_host(it, host, sizeof(host)));
	it->head_done = it->chunked = false;
	it->body_len = 0;
	memset(&it->dec, 0, sizeof(it->dec));
	it->dec.consume_trailer = 1;
	/* Not H2O_SOCKET_FLAG_IS_CONNECTING: libh2o would read SO_ERROR itself and keep only
	 * "connection failure"; on_connected reads it to say why. */
	it->sock = h2o_evloop_socket_create(h->loop, fd, 0);
	it->sock->data = it;
	h2o_socket_notify_write(it->sock, on_connected);
}

static void on_encap_reply(void *ctx, const struct hc_encap_reply *r)
{
	struct health *h = ctx;
	uint32_t slot = r->seq >> 16;
	struct hc_item *it = slot < MAX_SLOTS ? h->slots[slot] : NULL;
	char err[ERR_LEN], vip[ADDR_STRLEN];

	if (!it || !it->probing || !(it->pending & SUB_ENCAP) || it->encap_seq != r->seq ||
	    r->family != it->t.vip.family || memcmp(&r->from, &it->t.vip.addr, 16) ||
	    r->from_port != it->t.check.port)
		return;
	if (r->syn_ack) {
		/* Close the half-open connection on the backend, through the same tunnel. */
		hc_encap_send(h->encap, &it->path, r->ack_seq, true, err, sizeof(err));
		sub_done(h, it, SUB_ENCAP, true, NULL);
	} else {
		sub_done(h, it, SUB_ENCAP, false, "encap: %s:%u refused (RST)",
			 addr_fmt(&it->t.vip.addr, it->t.vip.family, vip), it->t.check.port);
	}
}

static void probe_encap(struct health *h, struct hc_item *it)
{
	char err[ERR_LEN];

	if (!h->encap && !h->encap_failed) {
		h->encap = hc_encap_open(h->loop, on_encap_reply, h, h->encap_err,
					 sizeof(h->encap_err));
		if (!h->encap) {
			h->encap_failed = true;
			log_error("health: encapsulated checks cannot run: %s", h->encap_err);
		}
	}
	if (!h->encap) {
		sub_done(h, it, SUB_ENCAP, false, "encap: %s", h->encap_err);
		return;
	}
	if (it->slot == NO_SLOT) {
		sub_done(h, it, SUB_ENCAP, false, "encap: more than %d checks", MAX_SLOTS);
		return;
	}
	it->path = (struct hc_encap_path){ .vip = it->t.vip.addr, .vip_family = it->t.vip.family,
					   .backend = it->t.addr,
					   .backend_family = it->t.family,
					   .port = it->t.check.port };
	if (hc_encap_source(&it->t.addr, it->t.family, it->t.vip.family, &it->path.src, err,
			    sizeof(err))) {
		sub_done(h, it, SUB_ENCAP, false, "encap: %s", err);
		return;
	}
	it->encap_seq = it->slot << 16 | (rnd32() & 0xffff);
	if (hc_encap_send(h->encap, &it->path, it->encap_seq, false, err, sizeof(err)))
		sub_done(h, it, SUB_ENCAP, false, "encap: %s", err);
}

static void round_start(struct health *h, struct hc_item *it, uint64_t now)
{
	it->probing = true;
	it->round_failed = false;
	it->round_err[0] = '\0';
	it->start_us = now;
	it->pending = SUB_DIRECT | (it->t.check.encap ? SUB_ENCAP : 0);
	schedule(h, it, now + (uint64_t)it->t.check.timeout_ms * 1000);
	probe_direct(h, it);
	if (it->probing && (it->pending & SUB_ENCAP))
		probe_encap(h, it);
}

/* A round past its deadline: what is still pending failed. */
static void round_timeout(struct health *h, struct hc_item *it)
{
	char vip[ADDR_STRLEN];
	uint32_t ms = it->t.check.timeout_ms;

	if (it->pending & SUB_DIRECT)
		sub_done(h, it, SUB_DIRECT, false, "%s: timed out after %u ms",
			 it->t.check.type == HC_TYPE_HTTP ? "http" : "connect", ms);
	if (it->probing && (it->pending & SUB_ENCAP))
		sub_done(h, it, SUB_ENCAP, false, "encap: no answer from %s:%u in %u ms",
			 addr_fmt(&it->t.vip.addr, it->t.vip.family, vip), it->t.check.port, ms);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
	struct health *h = H2O_STRUCT_FROM_MEMBER(struct health, tick_entry, entry);
	uint64_t now = mono_us();

	while (h->heap_n && h->heap[0]->due_us <= now) {
		struct hc_item *it = h->heap[0];

		heap_remove(h, it);
		if (it->probing)
			round_timeout(h, it);
		else
			round_start(h, it, now);
	}
	tick_arm(h);
}

/* ---- configuration ---- */

static uint32_t slot_alloc(struct health *h, struct hc_item *it)
{
	for (uint32_t n = 0; n < MAX_SLOTS; n++) {
		uint32_t s = (h->slot_hint + n) % MAX_SLOTS;

		if (!h->slots[s]) {
			h->slots[s] = it;
			h->slot_hint = s + 1;
			return s;
		}
	}
	return NO_SLOT;
}

static void item_free(struct health *h, struct hc_item *it)
{
	round_cancel(h, it);
	heap_remove(h, it);
	if (it->slot != NO_SLOT)
		h->slots[it->slot] = NULL;
	free(it);
}

static struct hc_item *item_new(struct health *h, const struct hc_target *t)
{
	struct hc_item *it = calloc(1, sizeof(*it));

	if (!it)
		return NULL;
	it->h = h;
	it->t = *t;
	it->heap_idx = SIZE_MAX;
	it->slot = slot_alloc(h, it);
	it->sm.since_ms = wall_ms();
	return it;
}

static bool same_key(const struct hc_item *it, const struct hc_target *t)
{
	return !strcmp(it->t.service, t->service) && !strcmp(it->t.backend, t->backend);
}

/* Field by field: padding inside struct endpoint is not reliably zero. */
static bool same_target(const struct hc_target *a, const struct hc_target *b)
{
	/* hc_check is zeroed before compile fills it (health_compile.c): memcmp is exact. */
	return !memcmp(&a->check, &b->check, sizeof(a->check)) && a->fwd == b->fwd &&
	       a->vip.family == b->vip.family && a->vip.port == b->vip.port &&
	       a->vip.proto == b->vip.proto && !memcmp(&a->vip.addr, &b->vip.addr, 16);
}

static uint64_t key_hash(const char *service, const char *backend)
{
	uint64_t x = 1469598103934665603ull;

	for (const char *p = service; *p; p++)
		x = (x ^ (uint8_t)*p) * 1099511628211ull;
	x = (x ^ '/') * 1099511628211ull;
	for (const char *p = backend; *p; p++)
		x = (x ^ (uint8_t)*p) * 1099511628211ull;
	return x;
}

/* Takes over the state a previous gwd left in lb_be_health (first apply only). */
static void adopt(struct hc_item *it)
{
	struct xg_backend_health v;

	if (!it->has_id || lbmap_backend_health_get(it->m, it->be_id, &v) ||
	    (v.state != XG_HC_UP && v.state != XG_HC_DOWN))
		return;
	it->sm.state = v.state;
	it->sm.since_ms = v.since_unix_ms;
	it->sm.probes = v.probes;
	it->sm.failures = v.failures;
	it->last_ok = v.last_ok;
	it->last_latency_us = v.last_latency_us;
	it->last_probe_ms = v.last_probe_unix_ms;
	snprintf(it->last_error, sizeof(it->last_error), "%.*s", (int)sizeof(v.last_error),
		 v.last_error);
}

/* After the L4 module applied: ids, the datapath's view, the map and the schedule. */
static void sync_item(struct health *h, struct hc_item *it, bool fresh, bool reconfigured)
{
	void *l4 = gwd_module_priv(h->gwd, "l4");
	uint64_t now = mono_us(), interval_us = (uint64_t)it->t.check.interval_ms * 1000;

	it->has_id = l4 && !l4_backend_lookup(l4, it->t.service, &it->t.addr, it->t.family,
					     &it->be_id, &it->m);
	if (fresh && !h->started && checked(it))
		adopt(it);
	if (!checked(it)) {
		heap_remove(h, it);
		if (fresh || reconfigured || it->pushed_down)
			push(h, it, false);
	} else if (fresh && !h->started) {
		push(h, it, it->sm.state == XG_HC_DOWN);
	} else if (it->sm.state == XG_HC_DOWN) {
		/* The L4 module may have made the backend afresh (removed and added back). */
		push(h, it, true);
	}
	if (fresh || reconfigured)
		write_health(h, it);
	if (checked(it) && (fresh || reconfigured))
		schedule(h, it, now + rnd32() % (interval_us + 1));
}

static void *health_mod_compile(void *priv, const json_t *sec, const json_t *doc,
				struct gwd_err *err)
{
	return health_compile(json_object_get(doc, "l4"), err);
}

static void health_mod_free(void *compiled)
{
	health_compiled_free(compiled);
}

static int health_mod_apply(void *priv, const void *compiled, const void *old,
			    struct gwd_err *err)
{
	struct health *h = priv;
	const struct health_compiled *c = compiled;
	struct hc_item **items = calloc(c->n + 1, sizeof(*items));
	bool *fresh = calloc(c->n + 1, sizeof(*fresh)), *changed = calloc(c->n + 1, sizeof(*changed));
	size_t cap = 16, i;
	struct hc_item **index = NULL;

	while (cap < 2 * h->n_items)
		cap *= 2;
	index = calloc(cap, sizeof(*index));
	if (!items || !fresh || !changed || !index) {
		free(items);
		free(fresh);
		free(changed);
		free(index);
		return gwd_err_set(err, 500, "health: out of memory");
	}
	for (i = 0; i < h->n_items; i++) {
		size_t j = key_hash(h->items[i]->t.service, h->items[i]->t.backend) & (cap - 1);

		while (index[j])
			j = (j + 1) & (cap - 1);
		index[j] = h->items[i];
	}
	for (i = 0; i < c->n; i++) {
		const struct hc_target *t = &c->targets[i];
		size_t j = key_hash(t->service, t->backend) & (cap - 1);

		for (; index[j]; j = (j + 1) & (cap - 1))
			if (index[j] != (void *)1 && same_key(index[j], t))
				break;
		if (index[j]) {
			items[i] = index[j];
			index[j] = (void *)1; /* taken: the probe goes on with the new config */
			if (!same_target(&items[i]->t, t)) {
				bool type_changed = items[i]->t.check.type != t->check.type;

				round_cancel(h, items[i]);
				items[i]->t = *t;
				if (type_changed) {
					items[i]->sm = (struct hc_sm){ .since_ms = wall_ms() };
					items[i]->last_error[0] = '\0';
				}
				changed[i] = true;
			}
			continue;
		}
		items[i] = item_new(h, t);
		if (!items[i]) {
			for (size_t k = 0; k < i; k++)
				if (fresh[k])
					item_free(h, items[k]);
			free(items);
			free(fresh);
			free(changed);
			free(index);
			return gwd_err_set(err, 500, "health: out of memory");
		}
		fresh[i] = true;
	}
	for (size_t j = 0; j < cap; j++)
		if (index[j] && index[j] != (void *)1)
			item_free(h, index[j]);
	free(index);
	free(h->items);
	h->items = items;
	h->n_items = c->n;
	for (i = 0; i < c->n; i++)
		sync_item(h, items[i], fresh[i], changed[i]);
	h->started = true;
	free(fresh);
	free(changed);
	return 0;
}

int health_feed(void *priv, const char *service, const char *backend, bool ok,
		uint32_t latency_us, const char *error)
{
	struct health *h = priv;

	for (size_t i = 0; i < h->n_items; i++) {
		struct hc_item *it = h->items[i];

		if (checked(it) && !strcmp(it->t.service, service) && !strcmp(it->t.backend, backend)) {
			record(h, it, ok, latency_us, error);
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- lifecycle ---- */

static int health_mod_init(struct gwd *gwd, void **priv, struct gwd_err *err)
{
	struct health *h = calloc(1, sizeof(*h));

	if (!h || !(h->slots = calloc(MAX_SLOTS, sizeof(*h->slots)))) {
		free(h);
		return gwd_err_set(err, 500, "out of memory");
	}
	h->gwd = gwd;
	h->loop = (h2o_evloop_t *)gwd->loop;
	if (h->loop) {
		h2o_timeout_init(h->loop, &h->tick, TICK_MS);
		h->tick_entry.cb = on_tick;
	}
	*priv = h;
	return 0;
}

static void health_mod_fini(void *priv)
{
	struct health *h = priv;

	if (!h)
		return;
	for (size_t i = 0; i < h->n_items; i++)
		item_free(h, h->items[i]);
	free(h->items);
	if (h->loop) {
		if (h2o_timeout_is_linked(&h->tick_entry))
			h2o_timeout_unlink(&h->tick_entry);
		h2o_timeout_dispose(h->loop, &h->tick);
	}
	hc_encap_close(h->encap);
	free(h->heap);
	free(h->slots);
	free(h);
}

/* ---- admin API, status and metrics ---- */

static const char *const type_names[] = { "none", "tcp", "http" };

static json_t *item_json(const struct hc_item *it)
{
	const struct hc_check *c = &it->t.check;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "service", it->t.service, "backend",
			      it->t.backend, "type", type_names[c->type], "state",
			      checked(it) ? hc_state_name(it->sm.state) : "disabled");

	if (!checked(it))
		return o;
	json_object_set_new(o, "port", json_integer(c->port));
	json_object_set_new(o, "encap", json_boolean(c->encap));
	json_object_set_new(o, "interval_ms", json_integer(c->interval_ms));
	json_object_set_new(o, "timeout_ms", json_integer(c->timeout_ms));
	json_object_set_new(o, "rise", json_integer(c->rise));
	json_object_set_new(o, "fall", json_integer(c->fall));
	json_object_set_new(o, "since_unix_ms", json_integer((json_int_t)it->sm.since_ms));
	json_object_set_new(o, "last_probe_unix_ms", json_integer((json_int_t)it->last_probe_ms));
	json_object_set_new(o, "last_ok", json_boolean(it->last_ok));
	json_object_set_new(o, "last_latency_us", json_integer(it->last_latency_us));
	json_object_set_new(o, "last_error", json_string(it->last_error));
	json_object_set_new(o, "ok_run", json_integer(it->sm.ok_run));
	json_object_set_new(o, "fail_run", json_integer(it->sm.fail_run));
	json_object_set_new(o, "probes", json_integer((json_int_t)it->sm.probes));
	json_object_set_new(o, "failures", json_integer((json_int_t)it->sm.failures));
	json_object_set_new(o, "went_down", json_integer((json_int_t)it->went_down));
	json_object_set_new(o, "went_up", json_integer((json_int_t)it->went_up));
	return o;
}

static int route_health(void *priv, struct admin_req *r)
{
	struct health *h = priv;
	json_t *arr = json_array();
	char svc[XG_NAME_LEN + 8];
	const char *only = admin_query_get(r, "service", svc, sizeof(svc));

	for (size_t i = 0; i < h->n_items; i++)
		if (!only || !strcmp(only, h->items[i]->t.service))
			json_array_append_new(arr, item_json(h->items[i]));
	return admin_reply_json(r, 200, arr);
}

static const struct admin_route health_routes[] = {
	{ "GET", "/v1/l4/health", route_health },
	{ .path = NULL },
};

static void health_mod_status(void *priv, json_t *out)
{
	struct health *h = priv;
	unsigned n[4] = { 0 }, checks = 0, probing = 0;

	for (size_t i = 0; i < h->n_items; i++) {
		if (!checked(h->items[i]))
			continue;
		checks++;
		probing += h->items[i]->probing;
		n[h->items[i]->sm.state & 3]++;
	}
	json_object_set_new(out, "checks", json_integer(checks));
	json_object_set_new(out, "up", json_integer(n[XG_HC_UP]));
	json_object_set_new(out, "down", json_integer(n[XG_HC_DOWN]));
	json_object_set_new(out, "unknown", json_integer(n[XG_HC_UNKNOWN]));
	json_object_set_new(out, "in_flight", json_integer(probing));
	json_object_set_new(out, "encap_port", json_integer(hc_encap_port(h->encap)));
}

/* A backend's counter split by one label: NAME{service,backend,LABEL="A"} av, then "B" bv. */
static void counter_pair(FILE *f, const char *name, const struct hc_item *it, const char *label,
			 const char *a, uint64_t av, const char *b, uint64_t bv)
{
	fprintf(f, "%s{service=\"%s\",backend=\"%s\",%s=\"%s\"} %" PRIu64 "\n", name, it->t.service,
		it->t.backend, label, a, av);
	fprintf(f, "%s{service=\"%s\",backend=\"%s\",%s=\"%s\"} %" PRIu64 "\n", name, it->t.service,
		it->t.backend, label, b, bv);
}

static void health_mod_metrics(void *priv, FILE *f)
{
	static const char *const states[] = { "unknown", "up", "down" };
	struct health *h = priv;
	uint64_t cum = 0;

	fprintf(f, "# HELP xdpgw_l4_health_state Health of each checked backend (1 for its current "
		   "state).\n# TYPE xdpgw_l4_health_state gauge\n");
	for (size_t i = 0; i < h->n_items; i++) {
		const struct hc_item *it = h->items[i];

		for (int s = 0; checked(it) && s < 3; s++)
			fprintf(f,
				"xdpgw_l4_health_state{service=\"%s\",backend=\"%s\",state=\"%s\"} "
				"%d\n",
				it->t.service, it->t.backend, states[s], it->sm.state == s);
	}
	fprintf(f, "# HELP xdpgw_l4_health_checks_total Check rounds per backend by result.\n"
		   "# TYPE xdpgw_l4_health_checks_total counter\n");
	for (size_t i = 0; i < h->n_items; i++) {
		const struct hc_item *it = h->items[i];

		if (checked(it))
			counter_pair(f, "xdpgw_l4_health_checks_total", it, "result", "ok",
				     it->ok_total, "fail", it->fail_total);
	}
	fprintf(f, "# HELP xdpgw_l4_health_transitions_total State changes per backend.\n"
		   "# TYPE xdpgw_l4_health_transitions_total counter\n");
	for (size_t i = 0; i < h->n_items; i++) {
		const struct hc_item *it = h->items[i];

		if (checked(it))
			counter_pair(f, "xdpgw_l4_health_transitions_total", it, "to", "up",
				     it->went_up, "down", it->went_down);
	}
	fprintf(f, "# HELP xdpgw_l4_health_last_latency_seconds Duration of the last check round.\n"
		   "# TYPE xdpgw_l4_health_last_latency_seconds gauge\n");
	for (size_t i = 0; i < h->n_items; i++) {
		const struct hc_item *it = h->items[i];

		if (checked(it) && it->last_probe_ms)
			fprintf(f,
				"xdpgw_l4_health_last_latency_seconds{service=\"%s\",backend=\"%s\"} "
				"%.6f\n",
				it->t.service, it->t.backend, it->last_latency_us / 1e6);
	}
	fprintf(f, "# HELP xdpgw_l4_health_check_duration_seconds Duration of check rounds.\n"
		   "# TYPE xdpgw_l4_health_check_duration_seconds histogram\n");
	for (size_t b = 0; b < N_BUCKETS; b++) {
		cum += h->hist[b];
		fprintf(f, "xdpgw_l4_health_check_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			latency_buckets[b], cum);
	}
	fprintf(f,
		"xdpgw_l4_health_check_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
		"xdpgw_l4_health_check_duration_seconds_sum %.6f\n"
		"xdpgw_l4_health_check_duration_seconds_count %" PRIu64 "\n",
		h->hist_count, h->hist_sum, h->hist_count);
}

const struct gwd_module health_module = {
	.name = "health",
	.section = NULL,
	.init = health_mod_init,
	.fini = health_mod_fini,
	.compile = health_mod_compile,
	.apply = health_mod_apply,
	.free = health_mod_free,
	.routes = health_routes,
	.status = health_mod_status,
	.metrics = health_mod_metrics,
};
