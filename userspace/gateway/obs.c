// SPDX-License-Identifier: GPL-2.0
/*
 * Observability: the JSON-lines access log (buffered per worker, flushed every second or when
 * 32 KiB are pending) and Prometheus metrics summed over per-worker counters. Labels are route
 * names and configured targets only, so cardinality is bounded by the config.
 */
/* Paths and names in messages are bounded on purpose; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "gateway/ctx.h"

#define LOG_FLUSH_AT 32768
#define LOG_LINE_MAX 8192

const double gw_hist_bounds_s[GW_HIST_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
						   0.05,   0.1,   0.25,   0.5,   1,    2.5,
						   5,      10 };

void gw_hist_observe(uint64_t *hist, uint64_t *sum, uint64_t us)
{
	static const uint64_t bounds_us[GW_HIST_BUCKETS] = { 500, 1000, 2500, 5000, 10000,
		25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000 };
	int i;

	for (i = 0; i < GW_HIST_BUCKETS && us > bounds_us[i]; i++)
		;
	GW_CTR_ADD(hist[i], 1);
	GW_CTR_ADD(*sum, us);
}

/* ---- access log ---- */

static size_t put_esc(char *out, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	for (i = 0; i < len && o + 6 < cap; i++) {
		unsigned char ch = s[i];

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[ch >> 4];
			out[o + 5] = hex[ch & 15];
			o += 6;
		} else {
			out[o++] = ch;
		}
	}
	return o;
}

void gw_log_flush(struct gw_worker *w)
{
	size_t off = 0;

	while (off < w->loglen) {
		ssize_t n = write(w->logfd, w->logbuf + off, w->loglen - off);

		if (n <= 0)
			break;	/* a full disk loses log lines, never requests */
		off += n;
	}
	w->loglen = 0;
}

static const char *log_time(struct gw_worker *w, char *ms)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != w->timestr_sec) {
		gmtime_r(&tv.tv_sec, &tm);
		strftime(w->timestr, sizeof(w->timestr), "%Y-%m-%dT%H:%M:%S", &tm);
		w->timestr_sec = tv.tv_sec;
	}
	ms[0] = '.';
	ms[1] = '0' + tv.tv_usec / 100000;
	ms[2] = '0' + tv.tv_usec / 10000 % 10;
	ms[3] = '0' + tv.tv_usec / 1000 % 10;
	ms[4] = 'Z';
	ms[5] = '\0';
	return w->timestr;
}

/*
 * Numbers without printf: the access log is written per request, and snprintf with %f was its
 * largest user-space cost (about 0.4 us a line in selftests/bench/l7.sh's key-auth case).
 */
static size_t put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* Microseconds as milliseconds with three decimals, "12.345" (what %.3f of us/1000 printed). */
static size_t put_ms(char *p, uint64_t us)
{
	size_t n = put_u64(p, us / 1000);

	p[n] = '.';
	p[n + 1] = '0' + us / 100 % 10;
	p[n + 2] = '0' + us / 10 % 10;
	p[n + 3] = '0' + us % 10;
	return n + 4;
}

#define LIT(s) (memcpy(p + o, s, sizeof(s) - 1), o += sizeof(s) - 1)
#define STR(s, l) (p[o++] = '"', o += put_esc(p + o, LOG_LINE_MAX - o - 64, (s), (l)), p[o++] = '"')

static void write_log(struct gw_worker *w, struct gw_ctx *c, h2o_req_t *req, uint64_t total_us)
{
	char *p, ms[8];
	const char *t;
	size_t o = 0;
	const char *route = c && c->route ? c->route->name : NULL;

	if (w->logfd < 0)
		return;
	if (w->logcap - w->loglen < LOG_LINE_MAX) {
		size_t cap = w->logcap ? w->logcap * 2 : 65536;
		char *nb = realloc(w->logbuf, cap);

		if (!nb)
			return;
		w->logbuf = nb;
		w->logcap = cap;
	}
	p = w->logbuf + w->loglen;
	t = log_time(w, ms);
	LIT("{\"time\":\"");
	memcpy(p + o, t, strlen(t));
	o += strlen(t);
	memcpy(p + o, ms, strlen(ms));
	o += strlen(ms);
	LIT("\",\"request_id\":");
	if (c)
		STR(c->reqid.base, c->reqid.len);
	else
		LIT("null");
	LIT(",\"client\":");
	if (c) {
		STR(c->client, strlen(c->client));
	} else {
		struct sockaddr_storage ss;
		char host[64];
		socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);

		if (sl && h2o_socket_getnumerichost((struct sockaddr *)&ss, sl, host) != SIZE_MAX)
			STR(host, strlen(host));
		else
			LIT("null");
	}
	LIT(",\"method\":");
	STR(req->input.method.base, req->input.method.len);
	LIT(",\"host\":");
	STR(req->input.authority.base, req->input.authority.len);
	LIT(",\"path\":");
	STR(req->input.path.base, req->input.path.len > 2048 ? 2048 : req->input.path.len);
	LIT(",\"route\":");
	if (route)
		STR(route, strlen(route));
	else
		LIT("null");
	LIT(",\"upstream\":");
	if (c && c->target)
		STR(c->target->addr, strlen(c->target->addr));
	else
		LIT("null");
	LIT(",\"status\":");
	o += put_u64(p + o, req->res.status > 0 ? (uint64_t)req->res.status : 0);
	LIT(",\"bytes_in\":");
	o += put_u64(p + o, req->entity.len);
	LIT(",\"bytes_out\":");
	o += put_u64(p + o, req->bytes_sent);
	LIT(",\"latency_ms\":");
	o += put_ms(p + o, total_us);
	LIT(",\"upstream_latency_ms\":");
	if (c && c->target)
		o += put_ms(p + o, c->t_up_us);
	else
		LIT("null");
	LIT(",\"consumer\":");
	if (c && c->consumer)
		STR(c->consumer, strlen(c->consumer));
	else
		LIT("null");
	LIT("}\n");
	w->loglen += o;
	if (w->loglen >= LOG_FLUSH_AT)
		gw_log_flush(w);
}

static void count(struct gw_worker *w, struct gw_route_metrics *m, int status, uint64_t total_us,
		  struct gw_ctx *c, h2o_req_t *req)
{
	struct gw_route_metrics_slot *s = &m->slot[w->slot];
	int cls = status / 100;

	GW_CTR_ADD(s->status[cls >= 1 && cls <= 5 ? cls : 0], 1);
	gw_hist_observe(s->hist, &s->sum_us, total_us);
	if (c && c->target)
		gw_hist_observe(s->upstream_hist, &s->upstream_sum_us, c->t_up_us);
	GW_CTR_ADD(s->bytes_in, req->entity.len);
	GW_CTR_ADD(s->bytes_out, req->bytes_sent);
}

void gw_log_request(struct gw_worker *w, struct gw_ctx *c, h2o_req_t *req)
{
	uint64_t total_us = gw_now_us() - c->t_start_us;
	struct gw_route_metrics *m = c->route ? c->route->m : &gw_no_route_metrics;

	if (c->route)
		GW_CTR_ADD(m->slot[w->slot].inflight, -1);
	count(w, m, req->res.status, total_us, c, req);
	write_log(w, c, req, total_us);
}

void gw_proxy_log_h2o_error(struct gw_worker *w, h2o_req_t *req)
{
	struct timeval now;
	uint64_t us;

	gettimeofday(&now, NULL);
	us = (now.tv_sec - req->timestamps.request_begin_at.tv_sec) * 1000000ULL +
	     (now.tv_usec - req->timestamps.request_begin_at.tv_usec);
	if (req->timestamps.request_begin_at.tv_sec == 0)
		us = 0;
	count(w, &gw_no_route_metrics, req->res.status, us, NULL, req);
	write_log(w, NULL, req, us);
}

/* ---- Prometheus ---- */

static void label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

/* The uint64_t counter at byte offset field of a target's per-worker slots, summed. */
static uint64_t slot_sum(const struct gw_target *t, size_t field)
{
	uint64_t r = 0;

	for (int s = 0; s < GW_MAX_SLOTS; s++)
		r += GW_CTR_GET(*(const uint64_t *)((const char *)&t->st->slot[s] + field));
	return r;
}

/* The counter family name (HELP help): per target of each upstream, slot_sum(field). */
static void target_counter(FILE *out, const struct gw_config *cfg, const char *name,
			   const char *help, size_t field)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (size_t i = 0; cfg && i < cfg->nupstreams; i++)
		for (size_t j = 0; j < cfg->upstreams[i].ntargets; j++) {
			const struct gw_target *t = &cfg->upstreams[i].targets[j];

			fprintf(out, "%s{upstream=\"", name);
			label(out, cfg->upstreams[i].name);
			fprintf(out, "\",target=\"%s\"} %llu\n", t->addr,
				(unsigned long long)slot_sum(t, field));
		}
}

static void write_hist(FILE *out, const char *name, const char *route, const uint64_t *hist,
		       uint64_t sum_us)
{
	uint64_t cum = 0;
	int i;

	for (i = 0; i <= GW_HIST_BUCKETS; i++) {
		cum += hist[i];
		fprintf(out, "%s_bucket{route=\"", name);
		label(out, route);
		if (i < GW_HIST_BUCKETS)
			fprintf(out, "\",le=\"%g\"} %llu\n", gw_hist_bounds_s[i], (unsigned long long)cum);
		else
			fprintf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	fprintf(out, "%s_sum{route=\"", name);
	label(out, route);
	fprintf(out, "\"} %.6f\n%s_count{route=\"", sum_us / 1e6, name);
	label(out, route);
	fprintf(out, "\"} %llu\n", (unsigned long long)cum);
}

static void sum_route(const struct gw_route_metrics *m, struct gw_route_metrics_slot *t)
{
	int s, i;

	memset(t, 0, sizeof(*t));
	for (s = 0; s < GW_MAX_SLOTS; s++) {
		const struct gw_route_metrics_slot *x = &m->slot[s];

		for (i = 0; i < 6; i++)
			t->status[i] += GW_CTR_GET(x->status[i]);
		for (i = 0; i <= GW_HIST_BUCKETS; i++) {
			t->hist[i] += GW_CTR_GET(x->hist[i]);
			t->upstream_hist[i] += GW_CTR_GET(x->upstream_hist[i]);
		}
		t->sum_us += GW_CTR_GET(x->sum_us);
		t->upstream_sum_us += GW_CTR_GET(x->upstream_sum_us);
		t->bytes_in += GW_CTR_GET(x->bytes_in);
		t->bytes_out += GW_CTR_GET(x->bytes_out);
		t->inflight += GW_CTR_GET(x->inflight);
		t->body_oversize_pass += GW_CTR_GET(x->body_oversize_pass);
		t->body_oversize_fail += GW_CTR_GET(x->body_oversize_fail);
	}
}

static void policy_metrics(const struct gw_policy_ops *ops, void *arg)
{
	if (ops->metrics)
		ops->metrics(arg);
}

static void breaker_metrics(const struct gw_config *cfg, FILE *out)
{
	static const char *const states[] = { "closed", "open", "half_open" };
	static const char *const names[] = { "closed", "open", "half-open" };
	size_t i, j;
	int k;

	fputs("# HELP xdpgw_gateway_upstream_breaker_state Circuit breaker state per target "
	      "(1 for the current state).\n"
	      "# TYPE xdpgw_gateway_upstream_breaker_state gauge\n", out);
	for (i = 0; cfg && i < cfg->nupstreams; i++)
		for (j = 0; cfg->upstreams[i].breaker.enabled && j < cfg->upstreams[i].ntargets; j++)
			for (k = 0; k < 3; k++) {
				const struct gw_target *t = &cfg->upstreams[i].targets[j];

				fputs("xdpgw_gateway_upstream_breaker_state{upstream=\"", out);
				label(out, cfg->upstreams[i].name);
				fprintf(out, "\",target=\"%s\",state=\"%s\"} %d\n", t->addr, states[k],
					!strcmp(gw_breaker_state_name(t->st), names[k]));
			}
	fputs("# HELP xdpgw_gateway_upstream_breaker_opened_total Times a target's circuit "
	      "breaker opened.\n"
	      "# TYPE xdpgw_gateway_upstream_breaker_opened_total counter\n", out);
	for (i = 0; cfg && i < cfg->nupstreams; i++)
		for (j = 0; cfg->upstreams[i].breaker.enabled && j < cfg->upstreams[i].ntargets; j++) {
			const struct gw_target *t = &cfg->upstreams[i].targets[j];

			fputs("xdpgw_gateway_upstream_breaker_opened_total{upstream=\"", out);
			label(out, cfg->upstreams[i].name);
			fprintf(out, "\",target=\"%s\"} %llu\n", t->addr,
				(unsigned long long)atomic_load(&t->st->cb_opened));
		}
}

static void panic_metrics(const struct gw_config *cfg, FILE *out)
{
	size_t i;

	fputs("# HELP xdpgw_gateway_upstream_panic 1 while too few of the pool's targets are healthy "
	      "(below panic_threshold) and the balancer uses all of them.\n"
	      "# TYPE xdpgw_gateway_upstream_panic gauge\n", out);
	for (i = 0; cfg && i < cfg->nupstreams; i++) {
		fputs("xdpgw_gateway_upstream_panic{upstream=\"", out);
		label(out, cfg->upstreams[i].name);
		fprintf(out, "\"} %d\n", gw_upstream_panic(&cfg->upstreams[i], gw_now_ms()));
	}
	fputs("# HELP xdpgw_gateway_upstream_panic_total Times the pool entered panic.\n"
	      "# TYPE xdpgw_gateway_upstream_panic_total counter\n", out);
	for (i = 0; cfg && i < cfg->nupstreams; i++) {
		const struct gw_ustate *us = cfg->upstreams[i].us;

		fputs("xdpgw_gateway_upstream_panic_total{upstream=\"", out);
		label(out, cfg->upstreams[i].name);
		fprintf(out, "\"} %llu\n", us ? (unsigned long long)atomic_load(&us->panics) : 0ULL);
	}
}

/* max_conns: the cap, the picks that found a target at it, the requests turned away. */
static void conn_limit_metrics(const struct gw_config *cfg, FILE *out)
{
	size_t i;

	fputs("# HELP xdpgw_gateway_upstream_max_conns Calls in progress allowed per target (0: no "
	      "cap).\n"
	      "# TYPE xdpgw_gateway_upstream_max_conns gauge\n", out);
	for (i = 0; cfg && i < cfg->nupstreams; i++) {
		fputs("xdpgw_gateway_upstream_max_conns{upstream=\"", out);
		label(out, cfg->upstreams[i].name);
		fprintf(out, "\"} %u\n", cfg->upstreams[i].max_conns);
	}
	target_counter(out, cfg, "xdpgw_gateway_upstream_target_conn_limit_total",
		       "Picks that passed the target over because it was at max_conns.",
		       offsetof(struct gw_tstate_slot, conn_limit));
	fputs("# HELP xdpgw_gateway_upstream_busy_total Requests (and aggregation parts) answered "
	      "503 because every target was at max_conns.\n"
	      "# TYPE xdpgw_gateway_upstream_busy_total counter\n", out);
	for (i = 0; cfg && i < cfg->nupstreams; i++) {
		const struct gw_ustate *us = cfg->upstreams[i].us;

		fputs("xdpgw_gateway_upstream_busy_total{upstream=\"", out);
		label(out, cfg->upstreams[i].name);
		fprintf(out, "\"} %llu\n", us ? (unsigned long long)atomic_load(&us->busy) : 0ULL);
	}
}

void gw_metrics_write(struct gw_server *srv, FILE *out)
{
	static const char *const cls[6] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct gw_route_metrics *list[2 * GW_MAX_ROUTES + 2], *m;
	struct gw_route_metrics_slot *sums;
	struct gw_config *cfg = gw_server_config(srv);
	size_t n = 0, i, j;
	int c;

	list[n++] = &gw_no_route_metrics;
	for (m = gw_server_route_metrics_list(srv); m && n < sizeof(list) / sizeof(list[0]);
	     m = m->next)
		list[n++] = m;
	sums = calloc(n, sizeof(*sums));
	if (!sums)
		return;
	for (i = 0; i < n; i++)
		sum_route(list[i], &sums[i]);

	{
		uint64_t open, limited;

		gw_server_conn_stats(srv, &open, &limited);
		fprintf(out, "# HELP xdpgw_gateway_connections Open client connections.\n"
			     "# TYPE xdpgw_gateway_connections gauge\n"
			     "xdpgw_gateway_connections %llu\n"
			     "# HELP xdpgw_gateway_connection_limit_total Times a worker reached its "
			     "share of limits.max_connections and paused accepting.\n"
			     "# TYPE xdpgw_gateway_connection_limit_total counter\n"
			     "xdpgw_gateway_connection_limit_total %llu\n",
			(unsigned long long)open, (unsigned long long)limited);
	}
	{
		unsigned long long nst = 0;

		for (const struct gw_tstate *st = gw_server_tstates(srv); st; st = st->next)
			nst++;
		fprintf(out, "# HELP xdpgw_gateway_target_states Per-target runtime states held: the "
			     "current config's targets and removed ones still referenced.\n"
			     "# TYPE xdpgw_gateway_target_states gauge\n"
			     "xdpgw_gateway_target_states %llu\n", nst);
	}
	fputs("# HELP xdpgw_gateway_requests_total Requests by route and status class.\n"
	      "# TYPE xdpgw_gateway_requests_total counter\n", out);
	for (i = 0; i < n; i++)
		for (c = 0; c < 6; c++) {
			if (!sums[i].status[c] && c != 2 && c != 5)
				continue;
			fputs("xdpgw_gateway_requests_total{route=\"", out);
			label(out, list[i]->name);
			fprintf(out, "\",class=\"%s\"} %llu\n", cls[c],
				(unsigned long long)sums[i].status[c]);
		}
	fputs("# HELP xdpgw_gateway_request_duration_seconds Time from request to response end.\n"
	      "# TYPE xdpgw_gateway_request_duration_seconds histogram\n", out);
	for (i = 0; i < n; i++)
		write_hist(out, "xdpgw_gateway_request_duration_seconds", list[i]->name, sums[i].hist,
			   sums[i].sum_us);
	fputs("# HELP xdpgw_gateway_upstream_duration_seconds Time spent on upstream calls.\n"
	      "# TYPE xdpgw_gateway_upstream_duration_seconds histogram\n", out);
	for (i = 1; i < n; i++)
		write_hist(out, "xdpgw_gateway_upstream_duration_seconds", list[i]->name,
			   sums[i].upstream_hist, sums[i].upstream_sum_us);
	fputs("# HELP xdpgw_gateway_requests_in_flight Requests being served.\n"
	      "# TYPE xdpgw_gateway_requests_in_flight gauge\n", out);
	for (i = 1; i < n; i++) {
		fputs("xdpgw_gateway_requests_in_flight{route=\"", out);
		label(out, list[i]->name);
		fprintf(out, "\"} %lld\n", (long long)sums[i].inflight);
	}
	fputs("# HELP xdpgw_gateway_received_bytes_total Request body bytes.\n"
	      "# TYPE xdpgw_gateway_received_bytes_total counter\n", out);
	for (i = 0; i < n; i++) {
		fputs("xdpgw_gateway_received_bytes_total{route=\"", out);
		label(out, list[i]->name);
		fprintf(out, "\"} %llu\n", (unsigned long long)sums[i].bytes_in);
	}
	fputs("# HELP xdpgw_gateway_sent_bytes_total Response body bytes.\n"
	      "# TYPE xdpgw_gateway_sent_bytes_total counter\n", out);
	for (i = 0; i < n; i++) {
		fputs("xdpgw_gateway_sent_bytes_total{route=\"", out);
		label(out, list[i]->name);
		fprintf(out, "\"} %llu\n", (unsigned long long)sums[i].bytes_out);
	}
	fputs("# HELP xdpgw_gateway_body_oversize_total Responses too large for the route's body "
	      "policies, passed through untouched or failed with 502.\n"
	      "# TYPE xdpgw_gateway_body_oversize_total counter\n", out);
	for (i = 1; i < n; i++) {
		if (!sums[i].body_oversize_pass && !sums[i].body_oversize_fail)
			continue;
		fputs("xdpgw_gateway_body_oversize_total{route=\"", out);
		label(out, list[i]->name);
		fprintf(out, "\",action=\"pass\"} %llu\n", (unsigned long long)sums[i].body_oversize_pass);
		fputs("xdpgw_gateway_body_oversize_total{route=\"", out);
		label(out, list[i]->name);
		fprintf(out, "\",action=\"fail\"} %llu\n", (unsigned long long)sums[i].body_oversize_fail);
	}
	free(sums);

	fputs("# HELP xdpgw_gateway_upstream_target_healthy 1 when the target takes traffic.\n"
	      "# TYPE xdpgw_gateway_upstream_target_healthy gauge\n", out);
	for (i = 0; cfg && i < cfg->nupstreams; i++)
		for (j = 0; j < cfg->upstreams[i].ntargets; j++) {
			const struct gw_target *t = &cfg->upstreams[i].targets[j];

			fputs("xdpgw_gateway_upstream_target_healthy{upstream=\"", out);
			label(out, cfg->upstreams[i].name);
			fprintf(out, "\",target=\"%s\"} %d\n", t->addr,
				gw_target_usable(t, gw_now_ms()) ? 1 : 0);
		}
	target_counter(out, cfg, "xdpgw_gateway_upstream_target_requests_total",
		       "Upstream calls per target.", offsetof(struct gw_tstate_slot, requests));
	target_counter(out, cfg, "xdpgw_gateway_upstream_target_failures_total",
		       "Failed upstream calls per target.",
		       offsetof(struct gw_tstate_slot, failures));
	fputs("# HELP xdpgw_gateway_upstream_retries_total Failed calls to a target that were tried "
	      "again (the same target on a new connection for a stale keep-alive one, else another "
	      "target), by reason.\n"
	      "# TYPE xdpgw_gateway_upstream_retries_total counter\n", out);
	for (i = 0; cfg && i < cfg->nupstreams; i++)
		for (j = 0; j < cfg->upstreams[i].ntargets; j++) {
			const struct gw_target *t = &cfg->upstreams[i].targets[j];

			for (int k = 0; k < GW_RETRY_REASONS; k++) {
				uint64_t r = slot_sum(t, offsetof(struct gw_tstate_slot, retries) +
								 k * sizeof(uint64_t));

				if (!r)
					continue;
				fputs("xdpgw_gateway_upstream_retries_total{upstream=\"", out);
				label(out, cfg->upstreams[i].name);
				fprintf(out, "\",target=\"%s\",reason=\"%s\"} %llu\n", t->addr,
					gw_retry_reason_names[k], (unsigned long long)r);
			}
		}
	fputs("# HELP xdpgw_gateway_upstream_target_in_flight Upstream calls in progress.\n"
	      "# TYPE xdpgw_gateway_upstream_target_in_flight gauge\n", out);
	for (i = 0; cfg && i < cfg->nupstreams; i++)
		for (j = 0; j < cfg->upstreams[i].ntargets; j++) {
			const struct gw_target *t = &cfg->upstreams[i].targets[j];
			uint64_t r = 0;

			for (int s = 0; s < GW_MAX_SLOTS; s++)
				r += __atomic_load_n(&t->st->slot[s].inflight, __ATOMIC_RELAXED);
			fputs("xdpgw_gateway_upstream_target_in_flight{upstream=\"", out);
			label(out, cfg->upstreams[i].name);
			fprintf(out, "\",target=\"%s\"} %llu\n", t->addr, (unsigned long long)r);
		}
	panic_metrics(cfg, out);
	conn_limit_metrics(cfg, out);
	breaker_metrics(cfg, out);
	gw_policy_foreach(policy_metrics, out);
}

json_t *gw_server_upstream_status(struct gw_server *srv)
{
	struct gw_config *cfg;
	json_t *arr = json_array();
	size_t i, j;

	pthread_mutex_lock(gw_server_lock(srv));
	cfg = gw_server_config(srv);
	for (i = 0; cfg && i < cfg->nupstreams; i++)
		for (j = 0; j < cfg->upstreams[i].ntargets; j++) {
			const struct gw_target *t = &cfg->upstreams[i].targets[j];
			uint64_t inflight = 0, now = gw_now_ms();

			for (int s = 0; s < GW_MAX_SLOTS; s++)
				inflight += __atomic_load_n(&t->st->slot[s].inflight, __ATOMIC_RELAXED);
			json_t *o = json_pack("{s:s,s:s,s:i,s:b,s:b,s:b,s:I}", "upstream",
					      cfg->upstreams[i].name, "addr", t->addr, "weight",
					      (int)t->weight, "healthy", !atomic_load(&t->st->down),
					      "ejected", atomic_load(&t->st->ejected_until) > now,
					      "usable", gw_target_usable(t, now), "in_flight",
					      (json_int_t)inflight);

			if (gw_upstream_panic(&cfg->upstreams[i], now))
				json_object_set_new(o, "panic", json_true());
			if (cfg->upstreams[i].max_conns) {
				uint64_t hits =
					slot_sum(t, offsetof(struct gw_tstate_slot, conn_limit));

				json_object_set_new(o, "max_conns",
						    json_integer(cfg->upstreams[i].max_conns));
				json_object_set_new(o, "conn_limit_hits", json_integer(hits));
			}
			if (cfg->upstreams[i].breaker.enabled) {
				json_object_set_new(o, "breaker",
						    json_string(gw_breaker_state_name(t->st)));
				json_object_set_new(o, "breaker_opened",
						    json_integer(atomic_load(&t->st->cb_opened)));
			}
			json_array_append_new(arr, o);
		}
	pthread_mutex_unlock(gw_server_lock(srv));
	return arr;
}
