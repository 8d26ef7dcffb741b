// SPDX-License-Identifier: GPL-2.0
/* Differential check of the balancer against the reference model, and datapath fixtures. */
#include "lib/lbcheck.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xdpgw/hash.h>

#include "lib/addr.h"

static const char *const reason_names[XG_R_MAX] = XG_REASON_NAMES;

const char *lbc_reason_name(int reason)
{
	return reason >= 0 && reason < XG_R_MAX ? reason_names[reason] : "?";
}

const char *lbc_action_name(int action)
{
	static const char *const names[] = { "ABORTED", "DROP", "PASS", "TX", "REDIRECT" };

	return action >= 0 && action <= 4 ? names[action] : "?";
}

/* CLOCK_MONOTONIC_COARSE: the clock of bpf_ktime_get_coarse_ns(). */
static uint64_t coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- per-CPU values: this CPU's, and sums ---- */

static int percpu_get(struct lbc *c, int fd, uint32_t key, void *vals)
{
	return bpf_map_lookup_elem(fd, &key, vals) ? -errno : 0;
}

static int reasons_read(struct lbc *c, struct xg_counter out[XG_R_MAX])
{
	struct xg_counter *v = calloc((size_t)c->ncpus * XG_R_MAX, sizeof(*v));
	uint32_t keys[XG_R_MAX], count = XG_R_MAX, out_batch;
	int err = 0;

	if (!v)
		return -ENOMEM;
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	if (bpf_map_lookup_batch(c->m->fd[LBMAP_STATS], NULL, &out_batch, keys, v, &count, &o) &&
	    errno != ENOENT)
		err = -errno;
	else if (count != XG_R_MAX)
		err = -EIO;
	for (uint32_t i = 0; i < count && !err; i++) {
		out[keys[i]] = (struct xg_counter){};
		for (int cpu = 0; cpu < c->ncpus; cpu++) {
			out[keys[i]].packets += v[i * c->ncpus + cpu].packets;
			out[keys[i]].bytes += v[i * c->ncpus + cpu].bytes;
		}
	}
	free(v);
	return err;
}

static int flow_stats_read(struct lbc *c, enum lbmap_id map, uint32_t id,
			   struct xg_flow_stats *sum)
{
	struct xg_flow_stats v[c->ncpus];
	int err = percpu_get(c, c->m->fd[map], id, v);

	*sum = (struct xg_flow_stats){};
	for (int cpu = 0; cpu < c->ncpus && !err; cpu++) {
		sum->packets += v[cpu].packets;
		sum->bytes += v[cpu].bytes;
		sum->new_flows += v[cpu].new_flows;
	}
	return err;
}

static uint32_t rr_cursor_read(struct lbc *c, uint32_t vip_id)
{
	uint64_t v[c->ncpus];	/* per-CPU values are 8-byte slots */

	if (vip_id >= c->m->max_vips || percpu_get(c, c->m->fd[LBMAP_RR_CURSOR], vip_id, v))
		return 0;
	return (uint32_t)v[c->cpu];
}

static int64_t active_read(struct lbc *c, uint32_t id)
{
	int64_t v = 0;

	if (id < c->m->max_backends)
		bpf_map_lookup_elem(c->m->fd[LBMAP_BE_ACTIVE], &id, &v);
	return v;
}

/* ---- the model's state reads, answered from the maps and recorded ---- */

static bool st_ct(void *ctx, const struct xg_flow_key *k, struct xg_ct_value *v)
{
	struct lbc *c = ctx;
	struct lbc_reads *r = &c->reads;
	bool found = bpf_map_lookup_elem(c->m->fd[LBMAP_CONNTRACK], k, v) == 0;

	if (r->nct < LBC_MAX_READS) {
		r->ct[r->nct].key = *k;
		r->ct[r->nct].found = found;
		if (found)
			r->ct[r->nct].val = *v;
		r->nct++;
	}
	return found;
}

static bool st_persist(void *ctx, const struct xg_persist_key *k, struct xg_persist_value *v)
{
	struct lbc *c = ctx;
	struct lbc_reads *r = &c->reads;
	bool found = bpf_map_lookup_elem(c->m->fd[LBMAP_PERSIST], k, v) == 0;

	if (r->npersist < LBC_MAX_READS) {
		r->persist[r->npersist].key = *k;
		r->persist[r->npersist].found = found;
		if (found)
			r->persist[r->npersist].val = *v;
		r->npersist++;
	}
	return found;
}

static uint32_t st_rr(void *ctx, uint32_t vip_id)
{
	struct lbc *c = ctx;
	uint32_t v = rr_cursor_read(c, vip_id);

	if (c->reads.nrr < LBC_MAX_READS) {
		c->reads.rr[c->reads.nrr].vip_id = vip_id;
		c->reads.rr[c->reads.nrr++].cursor = v;
	}
	return v;
}

static int64_t st_active(void *ctx, uint32_t id)
{
	struct lbc *c = ctx;
	int64_t v = active_read(c, id);

	if (c->reads.nactive < LBC_MAX_READS) {
		c->reads.active[c->reads.nactive].id = id;
		c->reads.active[c->reads.nactive++].active = v;
	}
	return v;
}

/* ---- configuration from the maps ---- */

int lbc_init(struct lbc *c, struct lbmap *m, int prog_fd, uint32_t ifindex)
{
	cpu_set_t set;

	memset(c, 0, sizeof(*c));
	c->m = m;
	c->prog_fd = prog_fd;
	c->ifindex = ifindex;
	c->ncpus = libbpf_num_possible_cpus();
	c->cpu = sched_getcpu();
	if (c->ncpus <= 0 || c->cpu < 0)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(c->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return -errno;
	lbm_config_init(&c->cfg, m->max_vips, m->max_backends);
	return reasons_read(c, c->reasons);
}

void lbc_free(struct lbc *c)
{
	lbm_config_free(&c->cfg);
}

/* The table of vip_id, read in one batch. */
static int table_read(struct lbc *c, uint32_t vip_id, uint32_t **ids, uint32_t *n)
{
	uint32_t inner_id, zero = 0, count, *keys = NULL, *vals = NULL, got, batch;
	int fd, err = 0;

	*ids = NULL;
	*n = 0;
	if (bpf_map_lookup_elem(c->m->fd[LBMAP_SELECTION], &vip_id, &inner_id))
		return 0;	/* no table */
	fd = bpf_map_get_fd_by_id(inner_id);
	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &zero, &count)) {
		err = -errno;
		goto out;
	}
	keys = calloc(count + 1, sizeof(*keys));
	vals = calloc(count + 1, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	got = count + 1;
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	if (bpf_map_lookup_batch(fd, NULL, &batch, keys, vals, &got, &o) && errno != ENOENT) {
		err = -errno;
		goto out;
	}
	if (got < count + 1) {
		err = -EIO;
		goto out;
	}
	*ids = malloc((count ? count : 1) * sizeof(**ids));
	if (!*ids) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < got; i++)
		if (keys[i] >= XG_SEL_HDR && keys[i] <= count)
			(*ids)[keys[i] - XG_SEL_HDR] = vals[i];
	*n = count;
out:
	free(keys);
	free(vals);
	close(fd);
	return err;
}

int lbc_load_config(struct lbc *c)
{
	struct lbm_config *cfg = &c->cfg;
	struct xg_addr_key akey, next;
	struct xg_vip_addr aval;
	void *prev = NULL;
	int err;

	lbm_config_free(cfg);
	lbm_config_init(cfg, c->m->max_vips, c->m->max_backends);
	for (uint32_t id = 0; id < cfg->max_vips; id++) {
		struct xg_vip_info info;
		struct lbm_service *s = &cfg->svc[id];
		uint32_t *ids, n;

		if (bpf_map_lookup_elem(c->m->fd[LBMAP_VIP_INFO], &id, &info))
			return -errno;
		if (!info.in_use)
			continue;
		s->in_use = true;
		memcpy(s->name, info.name, sizeof(s->name));
		s->key = info.key;
		s->vip = info.vip;
		err = table_read(c, id, &ids, &n);
		if (err)
			return err;
		s->table = ids;
		s->n = n;
	}
	for (uint32_t id = 0; id < cfg->max_backends; id++)
		if (bpf_map_lookup_elem(c->m->fd[LBMAP_BACKENDS], &id, &cfg->be[id]))
			return -errno;
	while (bpf_map_get_next_key(c->m->fd[LBMAP_VIP_ADDRS], prev, &next) == 0) {
		akey = next;
		prev = &akey;
		if (bpf_map_lookup_elem(c->m->fd[LBMAP_VIP_ADDRS], &akey, &aval) == 0 && aval.flags)
			lbm_set_addr_flags(cfg, &akey.addr, akey.family, aval.flags);
	}
	if (lbmap_link_get(c->m, c->ifindex, &cfg->link))
		memset(&cfg->link, 0, sizeof(cfg->link));
	return lbmap_settings_get(c->m, &cfg->set);
}

/* ---- the check ---- */

struct report {
	char *buf;
	size_t len, used;
	int n;
};

__attribute__((format(printf, 2, 3))) static void differ(struct report *rep, const char *fmt, ...)
{
	va_list ap;
	int w;

	rep->n++;
	if (rep->used + 1 >= rep->len)
		return;
	if (rep->used) {
		rep->buf[rep->used++] = ';';
		rep->buf[rep->used++] = ' ';
		if (rep->used >= rep->len) {
			rep->used = rep->len - 1;
			rep->buf[rep->used] = 0;
			return;
		}
	}
	va_start(ap, fmt);
	w = vsnprintf(rep->buf + rep->used, rep->len - rep->used, fmt, ap);
	va_end(ap);
	if (w > 0)
		rep->used += (size_t)w < rep->len - rep->used ? (size_t)w : rep->len - rep->used - 1;
}

static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* Checks that need no model: checksums of headers the program wrote. */
static void check_sums(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len,
		       const struct lbm_result *res, struct report *rep)
{
	size_t l3 = 14;
	uint16_t type;

	(void)in_len;
	while (l3 + 4 <= out_len && ((type = (uint16_t)(out[l3 - 2] << 8 | out[l3 - 1])) == 0x8100 ||
				     type == 0x88a8))
		l3 += 4;
	type = (uint16_t)(out[l3 - 2] << 8 | out[l3 - 1]);
	if (res->reason == XG_R_FWD_IPIP || res->reason == XG_R_ICMP_TOO_BIG_SENT ||
	    (res->reason == XG_R_ICMP_ERR_FWD && type == 0x0800 && out[l3 + 9] == 4)) {
		if (type == 0x0800 && l3 + 20 <= out_len && !pkt_ipv4_csum_ok(out + l3))
			differ(rep, "IPv4 header checksum of the written header is wrong");
	}
	if (res->reason == XG_R_ICMP_TOO_BIG_SENT) {
		size_t ihl = type == 0x0800 ? 20 : 40;

		if (!pkt_l4_csum_ok(out + l3, out + l3 + ihl, out_len - l3 - ihl))
			differ(rep, "checksum of the too-big ICMP message is wrong");
	}
	if (res->reason == XG_R_ICMP_ECHO_REPLY) {
		/* A request with valid sums gets a reply with valid sums (l4 from the model). */
		size_t ihl = type == 0x0800 ? (in[l3] & 0xfu) * 4 : 40;
		size_t end = l3 + (type == 0x0800 ? (size_t)(in[l3 + 2] << 8 | in[l3 + 3]) :
					   40 + (size_t)(in[l3 + 4] << 8 | in[l3 + 5]));

		if (type == 0x86dd && in[l3 + 6] != 58)
			return;	/* extension headers: the sum covers more than we look at */
		if (end <= out_len && pkt_l4_csum_ok(in + l3, in + l3 + ihl, end - l3 - ihl) &&
		    !pkt_l4_csum_ok(out + l3, out + l3 + ihl, end - l3 - ihl))
			differ(rep, "echo reply checksum broken from a valid request");
		if (type == 0x0800 && pkt_ipv4_csum_ok(in + l3) && !pkt_ipv4_csum_ok(out + l3))
			differ(rep, "echo reply IPv4 header checksum broken from a valid request");
	}
}

/* gwctl lookup's dry run must agree with the model where it claims to know the answer. */
static void check_lookup(struct lbc *c, const struct lbm_result *res, struct report *rep)
{
	const struct lbm_service *s;
	struct lbmap_lookup lk;

	if (res->vip_id == XG_VIP_NONE || res->backend_id == XG_BACKEND_NONE ||
	    (res->reason != XG_R_FWD_IPIP && res->reason != XG_R_FWD_L2))
		return;
	s = &c->cfg.svc[res->vip_id];
	if (!res->info[XG_R_CT_HIT] &&
	    (!res->info[XG_R_CT_MISS] || s->vip.persist_sec ||
	     (s->vip.algo != XG_ALGO_MAGLEV && s->vip.algo != XG_ALGO_SH)))
		return;
	if (lbmap_lookup(c->m, &res->flow, &lk)) {
		differ(rep, "lbmap_lookup failed");
		return;
	}
	c->lookups_checked++;
	if (lk.backend_id != res->backend_id || lk.vip_id != res->vip_id)
		differ(rep, "lbmap_lookup says service %u backend %u (%s), model %u %u", lk.vip_id,
		       lk.backend_id, lk.why_text, res->vip_id, res->backend_id);
}

/* State after the frame: connection table, persistence, cursor, active counts. */
static void check_state(struct lbc *c, const struct lbm_result *res, const int64_t *active_pre,
			struct report *rep)
{
	struct lbc_reads *rd = &c->reads;
	struct xg_ct_value ct;

	for (int i = 0; i < rd->nct; i++) {
		bool found = !bpf_map_lookup_elem(c->m->fd[LBMAP_CONNTRACK], &rd->ct[i].key, &ct);
		bool is_flow = res->ct_written &&
			       !memcmp(&rd->ct[i].key, &res->flow, sizeof(res->flow));
		const struct xg_ct_value *want = is_flow ? &res->ct_after :
					 rd->ct[i].found ? &rd->ct[i].val : NULL;

		if (!want) {
			if (found)
				differ(rep, "a connection-table entry appeared (backend %u)",
				       ct.backend_id);
			continue;
		}
		if (!found)
			differ(rep, "connection-table entry missing (want backend %u)",
			       want->backend_id);
		else if (ct.backend_id != want->backend_id || ct.vip_id != want->vip_id ||
			 ct.flags != want->flags)
			differ(rep, "connection-table entry backend %u vip %u flags %u, want %u %u %u",
			       ct.backend_id, ct.vip_id, ct.flags, want->backend_id, want->vip_id,
			       want->flags);
	}
	if (res->persist_written) {
		struct xg_persist_key pk = { .src = res->flow.src, .vip_id = res->vip_id,
					     .family = res->flow.family };
		struct xg_persist_value pv;

		if (bpf_map_lookup_elem(c->m->fd[LBMAP_PERSIST], &pk, &pv))
			differ(rep, "persistence entry missing");
		else if (pv.backend_id != res->persist_backend)
			differ(rep, "persistence entry backend %u, want %u", pv.backend_id,
			       res->persist_backend);
	}
	if (res->rr_moved && rr_cursor_read(c, res->vip_id) != res->rr_after)
		differ(rep, "rr cursor %u, want %u", rr_cursor_read(c, res->vip_id), res->rr_after);
	for (int i = 0; i < res->nactive; i++) {
		int64_t now = active_read(c, res->active[i].id);

		if (now - active_pre[i] != res->active[i].delta)
			differ(rep, "active flows of backend %u moved by %lld, want %lld",
			       res->active[i].id, (long long)(now - active_pre[i]),
			       (long long)res->active[i].delta);
	}
}

static void check_flow_stats(struct lbc *c, const struct lbm_result *res,
			     const struct xg_flow_stats pre[2], size_t len, struct report *rep)
{
	uint32_t ids[2] = { res->vip_id, res->backend_id };
	enum lbmap_id maps[2] = { LBMAP_VIP_STATS, LBMAP_BE_STATS };
	const char *what[2] = { "service", "backend" };

	for (int i = 0; i < 2; i++) {
		struct xg_flow_stats now;
		uint64_t want = res->flow_sent;

		if (ids[i] == XG_VIP_NONE || flow_stats_read(c, maps[i], ids[i], &now))
			continue;
		if (now.packets - pre[i].packets != want || now.bytes - pre[i].bytes != want * len ||
		    now.new_flows - pre[i].new_flows != res->new_flow)
			differ(rep, "%s %u counters +%llu packets +%llu new flows, want +%llu +%d",
			       what[i], ids[i], (unsigned long long)(now.packets - pre[i].packets),
			       (unsigned long long)(now.new_flows - pre[i].new_flows),
			       (unsigned long long)want, res->new_flow);
	}
}

void lbc_peek(struct lbc *c, const uint8_t *frame, size_t len, struct lbm_result *res)
{
	struct lbm_state st = { .ct_get = st_ct, .persist_get = st_persist, .rr_cursor = st_rr,
				.active = st_active, .ctx = c, .now_ns = coarse_now() };

	memset(&c->reads, 0, sizeof(c->reads));
	lbm_run_lb(&c->cfg, &st, frame, len, res);
}

int lbc_check(struct lbc *c, const uint8_t *frame, size_t len, struct lbm_result *res, char *msg,
	      size_t msglen)
{
	struct lbm_state st = { .ct_get = st_ct, .persist_get = st_persist, .rr_cursor = st_rr,
				.active = st_active, .ctx = c };
	struct xdp_md ctx = { .data_end = (__u32)len, .ingress_ifindex = c->ifindex };
	struct report rep = { .buf = msg, .len = msglen };
	struct xg_counter now[XG_R_MAX];
	struct xg_flow_stats pre[2] = {};
	int64_t active_pre[2] = {};
	static uint8_t out[PKT_MAX + 512];
	int err;

	msg[0] = 0;
	memset(&c->reads, 0, sizeof(c->reads));
	c->now_ns = st.now_ns = coarse_now();
	lbm_run_lb(&c->cfg, &st, frame, len, res);

	if (res->vip_id != XG_VIP_NONE)
		flow_stats_read(c, LBMAP_VIP_STATS, res->vip_id, &pre[0]);
	if (res->backend_id != XG_BACKEND_NONE)
		flow_stats_read(c, LBMAP_BE_STATS, res->backend_id, &pre[1]);
	for (int i = 0; i < res->nactive; i++)
		active_pre[i] = active_read(c, res->active[i].id);
	if (c->check_lookup)
		check_lookup(c, res, &rep);

	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	if (bpf_prog_test_run_opts(c->prog_fd, &o))
		return -errno;
	err = reasons_read(c, now);
	if (err)
		return err;

	if ((int)o.retval != res->action)
		differ(&rep, "action %s, model %s", lbc_action_name((int)o.retval),
		       lbc_action_name(res->action));
	for (int r = 0; r < XG_R_MAX; r++) {
		uint64_t want = (r == (int)res->reason) + res->info[r];
		uint64_t got = now[r].packets - c->reasons[r].packets;

		if (r == XG_R_CT_FLUSHED || r == XG_R_PERSIST_FLUSHED)
			continue;	/* userspace counts its flushes there, not the datapath */

		if (got != want)
			differ(&rep, "reason %s counted %llu, model %llu", reason_names[r],
			       (unsigned long long)got, (unsigned long long)want);
		else if (now[r].bytes - c->reasons[r].bytes != want * len)
			differ(&rep, "reason %s bytes %llu, want %llu", reason_names[r],
			       (unsigned long long)(now[r].bytes - c->reasons[r].bytes),
			       (unsigned long long)(want * len));
	}
	memcpy(c->reasons, now, sizeof(now));
	if ((int)o.retval == res->action && res->action != LBM_DROP) {
		if (o.data_size_out != res->out_len ||
		    memcmp(out, res->out, res->out_len < o.data_size_out ? res->out_len :
									  o.data_size_out))
			differ(&rep, "output frame differs at byte %zu (length %u, model %zu)",
			       first_diff(out, res->out,
					  res->out_len < o.data_size_out ? res->out_len :
									   o.data_size_out),
			       o.data_size_out, res->out_len);
		if (res->action == LBM_TX)
			check_sums(frame, len, out, o.data_size_out, res, &rep);
	}
	check_state(c, res, active_pre, &rep);
	check_flow_stats(c, res, pre, len, &rep);
	return rep.n == 0;
}

/* ---- fixtures ---- */

static void put_addr(FILE *f, const struct xg_addr *a, uint8_t family)
{
	char buf[ADDR_STRLEN];

	fprintf(f, " %s", family == XG_AF_INET || family == XG_AF_INET6 ? addr_fmt(a, family, buf) :
									 "-");
}

static void put_mac(FILE *f, const uint8_t *mac)
{
	char buf[ADDR_STRLEN];

	fprintf(f, " %s", mac_fmt(mac, buf));
}

static void put_flow(FILE *f, const struct xg_flow_key *k)
{
	fprintf(f, " %u", k->family);
	put_addr(f, &k->src, k->family);
	put_addr(f, &k->dst, k->family);
	fprintf(f, " %u %u %u", ntohs(k->sport), ntohs(k->dport), k->proto);
}

int lbc_fixture_write(struct lbc *c, const char *path, const uint8_t *frame, size_t len,
		      const struct lbm_result *res, const char *note)
{
	const struct lbm_config *cfg = &c->cfg;
	const struct lbc_reads *rd = &c->reads;
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "# xdpgw datapath fixture: replayed by selftests/bpf/test_lb_fixtures.c\n");
	fprintf(f, "note %s\n", note);
	fprintf(f, "settings %u %llu %llu\n", cfg->set.hash_seed,
		(unsigned long long)cfg->set.ct_timeout_tcp_ns,
		(unsigned long long)cfg->set.ct_timeout_udp_ns);
	if (cfg->link.ifindex) {
		fprintf(f, "link");
		put_mac(f, cfg->link.mac);
		fprintf(f, " %u", cfg->link.mtu);
		put_addr(f, &cfg->link.src4, XG_AF_INET);
		put_addr(f, &cfg->link.src6, XG_AF_INET6);
		fprintf(f, " %u %u\n", cfg->link.src4_hash_bits, cfg->link.src6_hash_bits);
	}
	for (uint32_t id = 0; id < cfg->max_vips; id++) {
		const struct lbm_service *s = &cfg->svc[id];
		bool relevant = id == res->vip_id;

		if (!s->in_use)
			continue;
		for (int i = 0; i < rd->nct; i++)
			relevant |= rd->ct[i].found && rd->ct[i].val.vip_id == id;
		fprintf(f, "vip %u %s %u", id, s->name, s->key.family);
		put_addr(f, &s->key.addr, s->key.family);
		fprintf(f, " %u %u %u %u %u\n", ntohs(s->key.port), s->key.proto, s->vip.algo,
			s->vip.fwd, s->vip.persist_sec);
		if (!relevant || !s->n)
			continue;
		fprintf(f, "table %u %u", id, s->n);
		for (uint32_t i = 0; i < s->n; i++)
			fprintf(f, " %u", s->table[i]);
		fprintf(f, "\n");
	}
	for (int i = 0; i < cfg->naddr_flags; i++) {
		fprintf(f, "addr %u", cfg->addr_flags[i].family);
		put_addr(f, &cfg->addr_flags[i].addr, cfg->addr_flags[i].family);
		fprintf(f, " %u\n", cfg->addr_flags[i].flags);
	}
	for (uint32_t id = 0; id < cfg->max_backends; id++) {
		const struct xg_backend *be = &cfg->be[id];

		if (!be->flags && !be->family)
			continue;
		fprintf(f, "backend %u %u", id, be->family);
		put_addr(f, &be->addr, be->family);
		fprintf(f, " %u %u %u", be->flags, be->weight, be->vip_id);
		put_mac(f, be->mac);
		fprintf(f, "\n");
	}
	for (int i = 0; i < rd->nct; i++) {
		fprintf(f, "ct");
		put_flow(f, &rd->ct[i].key);
		if (rd->ct[i].found)
			fprintf(f, " %u %u %u %llu\n", rd->ct[i].val.backend_id, rd->ct[i].val.vip_id,
				rd->ct[i].val.flags,
				(unsigned long long)(c->now_ns - rd->ct[i].val.last_seen_ns));
		else
			fprintf(f, " -\n");
	}
	for (int i = 0; i < rd->npersist; i++) {
		fprintf(f, "persist %u", rd->persist[i].key.family);
		put_addr(f, &rd->persist[i].key.src, rd->persist[i].key.family);
		fprintf(f, " %u", rd->persist[i].key.vip_id);
		if (rd->persist[i].found)
			fprintf(f, " %u %llu\n", rd->persist[i].val.backend_id,
				(unsigned long long)(c->now_ns - rd->persist[i].val.last_seen_ns));
		else
			fprintf(f, " -\n");
	}
	for (int i = 0; i < rd->nrr; i++)
		fprintf(f, "rr %u %u\n", rd->rr[i].vip_id, rd->rr[i].cursor);
	for (int i = 0; i < rd->nactive; i++)
		fprintf(f, "active %u %lld\n", rd->active[i].id, (long long)rd->active[i].active);
	fprintf(f, "frame ");
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", frame[i]);
	fprintf(f, "\nexpect %s %s\n", lbc_action_name(res->action), lbc_reason_name(res->reason));
	if (fclose(f))
		return -errno;
	return 0;
}

/* ---- reading fixtures back ---- */

struct fxline {
	const char *path;
	int lineno;
	char *save;
};

static char *tok(struct fxline *l)
{
	return strtok_r(NULL, " \t\n", &l->save);
}

static int bad(struct fxline *l, const char *what)
{
	fprintf(stderr, "%s:%d: %s\n", l->path, l->lineno, what);
	return -EINVAL;
}

static bool num(struct fxline *l, uint64_t *v)
{
	char *s = tok(l), *end;

	if (!s)
		return false;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && !*end;
}

static bool snum(struct fxline *l, int64_t *v)
{
	char *s = tok(l), *end;

	if (!s)
		return false;
	errno = 0;
	*v = strtoll(s, &end, 0);
	return !errno && !*end;
}

static bool address(struct fxline *l, struct xg_addr *a, uint8_t family)
{
	char *s = tok(l);
	uint8_t fam;

	memset(a, 0, sizeof(*a));
	if (!s)
		return false;
	if (!strcmp(s, "-"))
		return true;
	return addr_parse(s, a, &fam) == 0 && fam == family;
}

static bool mac(struct fxline *l, uint8_t *m)
{
	char *s = tok(l);

	return s && mac_parse(s, m) == 0;
}

static bool flow(struct fxline *l, struct xg_flow_key *k)
{
	uint64_t fam, sp, dp, proto;

	memset(k, 0, sizeof(*k));
	if (!num(l, &fam) || !address(l, &k->src, (uint8_t)fam) ||
	    !address(l, &k->dst, (uint8_t)fam) || !num(l, &sp) || !num(l, &dp) || !num(l, &proto))
		return false;
	k->family = (uint8_t)fam;
	k->sport = htons((uint16_t)sp);
	k->dport = htons((uint16_t)dp);
	k->proto = (uint8_t)proto;
	return true;
}

static int frame_hex(struct fxline *l, uint8_t *frame, size_t *len)
{
	char *hex = tok(l);
	size_t n = hex ? strlen(hex) : 0;

	if (!n || n % 2 || n / 2 > PKT_MAX)
		return bad(l, "frame HEX");
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int byte;

		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return bad(l, "frame: not hex");
		frame[i] = (uint8_t)byte;
	}
	*len = n / 2;
	return 0;
}

static int put(struct lbmap *m, enum lbmap_id map, const void *key, const void *val)
{
	return bpf_map_update_elem(m->fd[map], key, val, BPF_ANY) ? -errno : 0;
}

/* The same value on every CPU. */
static int put_percpu32(struct lbmap *m, enum lbmap_id map, uint32_t key, uint32_t v)
{
	uint64_t vals[m->ncpus];

	for (int i = 0; i < m->ncpus; i++)
		vals[i] = v;
	return put(m, map, &key, vals);
}

static int table_put(struct lbmap *m, uint32_t vip_id, const uint32_t *ids, uint32_t n)
{
	/* The flags of the lb_sel_inner template (bpf/lb_maps.h). */
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, n + XG_SEL_HDR, &o), err = 0;

	if (fd < 0)
		return -errno;
	for (uint32_t i = 0; i <= n && !err; i++) {
		uint32_t v = i ? ids[i - 1] : n;

		if (bpf_map_update_elem(fd, &i, &v, BPF_ANY))
			err = -errno;
	}
	if (!err && bpf_map_update_elem(m->fd[LBMAP_SELECTION], &vip_id, &fd, BPF_ANY))
		err = -errno;
	close(fd);
	return err;
}

static int apply_vip(struct lbmap *m, struct fxline *l)
{
	uint64_t id, fam, port, proto, algo, fwd, persist;
	struct xg_vip_info info = { .in_use = 1 };
	struct xg_addr_key ak = {};
	struct xg_vip_addr av = { .services = 1 };
	uint32_t bit, word;
	uint64_t bits = 0;
	char *name;
	int err;

	if (!num(l, &id) || !(name = tok(l)) || !num(l, &fam) ||
	    !address(l, &info.key.addr, (uint8_t)fam) || !num(l, &port) || !num(l, &proto) ||
	    !num(l, &algo) || !num(l, &fwd) || !num(l, &persist) || id >= m->max_vips)
		return bad(l, "vip ID NAME FAMILY ADDR PORT PROTO ALGO FWD PERSIST");
	snprintf(info.name, sizeof(info.name), "%s", name);
	info.key.family = (uint8_t)fam;
	info.key.port = htons((uint16_t)port);
	info.key.proto = (uint8_t)proto;
	info.vip = (struct xg_vip){ .id = (uint32_t)id, .algo = (uint8_t)algo, .fwd = (uint8_t)fwd,
				    .persist_sec = (uint32_t)persist };
	ak.addr = info.key.addr;
	ak.family = info.key.family;
	bpf_map_lookup_elem(m->fd[LBMAP_VIP_ADDRS], &ak, &av);
	bit = xg_vip_filter_bit(&ak.addr, ak.family);
	word = bit / 64;
	bpf_map_lookup_elem(m->fd[LBMAP_VIP_FILTER], &word, &bits);
	bits |= 1ull << (bit % 64);
	err = put(m, LBMAP_VIP_INFO, &(uint32_t){ (uint32_t)id }, &info);
	err = err ?: put(m, LBMAP_VIP_ADDRS, &ak, &av);
	err = err ?: put(m, LBMAP_VIP_FILTER, &word, &bits);
	return err ?: put(m, LBMAP_VIPS, &info.key, &info.vip);
}

static int apply_line(struct lbmap *m, struct fxline *l, const char *what, struct lbc_fixture *fx)
{
	uint64_t a, b, cnum, d;
	int64_t sv;
	int err = 0;

	if (!strcmp(what, "note")) {
		char *rest = strtok_r(NULL, "\n", &l->save);

		snprintf(fx->note, sizeof(fx->note), "%s", rest ? rest : "");
	} else if (!strcmp(what, "settings")) {
		struct xg_settings s = {};

		if (!num(l, &a) || !num(l, &b) || !num(l, &cnum))
			return bad(l, "settings SEED TCP_NS UDP_NS");
		s.hash_seed = (uint32_t)a;
		s.ct_timeout_tcp_ns = b;
		s.ct_timeout_udp_ns = cnum;
		err = lbmap_settings_set(m, &s);
	} else if (!strcmp(what, "link")) {
		struct xg_link k = { .ifindex = 1 };

		if (!mac(l, k.mac) || !num(l, &a) || !address(l, &k.src4, XG_AF_INET) ||
		    !address(l, &k.src6, XG_AF_INET6) || !num(l, &b) || !num(l, &cnum))
			return bad(l, "link MAC MTU SRC4 SRC6 BITS4 BITS6");
		k.mtu = (uint16_t)a;
		k.src4_hash_bits = (uint8_t)b;
		k.src6_hash_bits = (uint8_t)cnum;
		err = lbmap_link_set(m, &k);
	} else if (!strcmp(what, "vip")) {
		err = apply_vip(m, l);
	} else if (!strcmp(what, "table")) {
		uint32_t *ids;

		if (!num(l, &a) || !num(l, &b) || a >= m->max_vips || b > XG_SEL_MAX)
			return bad(l, "table ID N IDS...");
		ids = calloc(b ? b : 1, sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		for (uint64_t i = 0; i < b && !err; i++)
			if (!num(l, &cnum))
				err = bad(l, "table: fewer ids than N");
			else
				ids[i] = (uint32_t)cnum;
		err = err ?: table_put(m, (uint32_t)a, ids, (uint32_t)b);
		free(ids);
	} else if (!strcmp(what, "addr")) {
		struct xg_addr_key k = {};
		struct xg_vip_addr v = {};

		if (!num(l, &a) || !address(l, &k.addr, (uint8_t)a) || !num(l, &b))
			return bad(l, "addr FAMILY ADDR FLAGS");
		k.family = (uint8_t)a;
		bpf_map_lookup_elem(m->fd[LBMAP_VIP_ADDRS], &k, &v);
		v.flags = (uint32_t)b;
		err = put(m, LBMAP_VIP_ADDRS, &k, &v);
	} else if (!strcmp(what, "backend")) {
		struct xg_backend be = {};

		if (!num(l, &a) || !num(l, &b) || !address(l, &be.addr, (uint8_t)b) ||
		    !num(l, &cnum) || !num(l, &d) || a >= m->max_backends)
			return bad(l, "backend ID FAMILY ADDR FLAGS WEIGHT VIP MAC");
		be.family = (uint8_t)b;
		be.flags = (uint8_t)cnum;
		be.weight = (uint16_t)d;
		if (!num(l, &d) || !mac(l, be.mac))
			return bad(l, "backend ID FAMILY ADDR FLAGS WEIGHT VIP MAC");
		be.vip_id = (uint32_t)d;
		err = put(m, LBMAP_BACKENDS, &(uint32_t){ (uint32_t)a }, &be);
	} else if (!strcmp(what, "ct")) {
		struct xg_flow_key k;
		struct xg_ct_value v = {};
		char *s;

		if (!flow(l, &k))
			return bad(l, "ct FAMILY SRC DST SPORT DPORT PROTO -|BACKEND VIP FLAGS AGE");
		s = tok(l);
		if (s && !strcmp(s, "-"))
			return 0;
		if (!s || (v.backend_id = (uint32_t)strtoul(s, NULL, 0), !num(l, &a)) ||
		    !num(l, &b) || !num(l, &cnum))
			return bad(l, "ct FAMILY SRC DST SPORT DPORT PROTO -|BACKEND VIP FLAGS AGE");
		v.vip_id = (uint32_t)a;
		v.flags = (uint32_t)b;
		d = coarse_now();
		v.last_seen_ns = cnum < d ? d - cnum : 1;
		err = put(m, LBMAP_CONNTRACK, &k, &v);
	} else if (!strcmp(what, "persist")) {
		struct xg_persist_key k = {};
		struct xg_persist_value v = {};
		char *s;

		if (!num(l, &a) || !address(l, &k.src, (uint8_t)a) || !num(l, &b))
			return bad(l, "persist FAMILY SRC VIP -|BACKEND AGE");
		k.family = (uint8_t)a;
		k.vip_id = (uint32_t)b;
		s = tok(l);
		if (s && !strcmp(s, "-"))
			return 0;
		if (!s || !num(l, &cnum))
			return bad(l, "persist FAMILY SRC VIP -|BACKEND AGE");
		v.backend_id = (uint32_t)strtoul(s, NULL, 0);
		d = coarse_now();
		v.last_seen_ns = cnum < d ? d - cnum : 1;
		err = put(m, LBMAP_PERSIST, &k, &v);
	} else if (!strcmp(what, "rr")) {
		if (!num(l, &a) || !num(l, &b) || a >= m->max_vips)
			return bad(l, "rr VIP CURSOR");
		err = put_percpu32(m, LBMAP_RR_CURSOR, (uint32_t)a, (uint32_t)b);
	} else if (!strcmp(what, "active")) {
		if (!num(l, &a) || !snum(l, &sv) || a >= m->max_backends)
			return bad(l, "active ID N");
		err = put(m, LBMAP_BE_ACTIVE, &(uint32_t){ (uint32_t)a }, &sv);
	} else if (!strcmp(what, "frame")) {
		return frame_hex(l, fx->frame, &fx->len);
	} else if (!strcmp(what, "expect")) {
		char *act = tok(l), *reason = tok(l);

		fx->action = fx->reason = -1;
		for (int i = 0; act && i <= 4; i++)
			if (!strcmp(act, lbc_action_name(i)))
				fx->action = i;
		for (int i = 0; reason && i < XG_R_MAX; i++)
			if (!strcmp(reason, reason_names[i]))
				fx->reason = i;
		if (fx->action < 0 || fx->reason < 0)
			return bad(l, "expect ACTION REASON");
	} else if (!strcmp(what, "prog")) {
		char *prog = tok(l);

		if (!prog || strcmp(prog, "lb"))
			return bad(l, "a balancer fixture says prog lb (or nothing)");
	} else {
		return bad(l, "unknown line");
	}
	return err;
}

int lbc_fixture_apply(struct lbmap *m, const char *path, struct lbc_fixture *fx)
{
	struct fxline l = { .path = path };
	FILE *f = fopen(path, "r");
	char *line = NULL, *what;
	size_t cap = 0;
	int err = 0;

	if (!f)
		return -errno;
	memset(fx, 0, sizeof(*fx));
	fx->action = -1;
	/* A fixture describes the whole configuration: no default link. */
	lbmap_link_del(m, 1);
	while (!err && getline(&line, &cap, f) > 0) {
		l.lineno++;
		what = strtok_r(line, " \t\n", &l.save);
		if (!what || what[0] == '#')
			continue;
		err = apply_line(m, &l, what, fx);
	}
	free(line);
	fclose(f);
	if (!err && (!fx->len || fx->action < 0))
		err = bad(&l, "a fixture needs a frame and an expect line");
	return err;
}

/* ---- decap fixtures ---- */

bool lbc_fixture_is_decap(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	bool decap = false;

	while (f && !decap && fgets(line, sizeof(line), f))
		decap = !strncmp(line, "prog decap", 10);
	if (f)
		fclose(f);
	return decap;
}

int lbc_decap_fixture_read(const char *path, struct lbc_decap_fixture *fx)
{
	static const char *const names[XG_DECAP_R_MAX] = XG_DECAP_REASON_NAMES;
	struct fxline l = { .path = path };
	FILE *f = fopen(path, "r");
	char *line = NULL, *what;
	size_t cap = 0;
	uint64_t fam;
	int err = 0;

	if (!f)
		return -errno;
	memset(fx, 0, sizeof(*fx));
	fx->action = -1;
	while (!err && getline(&line, &cap, f) > 0) {
		l.lineno++;
		what = strtok_r(line, " \t\n", &l.save);
		if (!what || what[0] == '#' || !strcmp(what, "note") || !strcmp(what, "prog"))
			continue;
		if (!strcmp(what, "local")) {
			struct lbm_addr *a = &fx->local.local[fx->local.n];

			if (fx->local.n == XG_MAX_DECAP_ADDRS || !num(&l, &fam) ||
			    !address(&l, &a->addr, (uint8_t)fam))
				err = bad(&l, "local FAMILY ADDR");
			a->family = (uint8_t)fam;
			fx->local.n += !err;
		} else if (!strcmp(what, "frame")) {
			err = frame_hex(&l, fx->frame, &fx->len);
		} else if (!strcmp(what, "expect")) {
			char *act = tok(&l), *reason = tok(&l);
			int r = -1;

			for (int i = 0; act && i <= 4; i++)
				if (!strcmp(act, lbc_action_name(i)))
					fx->action = i;
			for (int i = 0; reason && i < XG_DECAP_R_MAX; i++)
				if (!strcmp(reason, names[i]))
					r = i;
			if (fx->action < 0 || r < 0)
				err = bad(&l, "expect ACTION DECAP_REASON");
			fx->reason = (uint32_t)r;
		} else {
			err = bad(&l, "unknown line in a decap fixture");
		}
	}
	free(line);
	fclose(f);
	if (!err && (!fx->len || fx->action < 0))
		err = bad(&l, "a fixture needs a frame and an expect line");
	return err;
}
