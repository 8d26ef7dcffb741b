// SPDX-License-Identifier: GPL-2.0
/*
 * Differential fuzzing of the datapath: random and mutated frames (valid, truncated, padded,
 * odd headers, VLAN stacks, IPv4 options and fragments, IPv6 extension chains, ICMP errors
 * quoting anything) run through the real programs with BPF_PROG_TEST_RUN and through the
 * reference model (lib/lbmodel.c); action, every reason counter, output bytes and state
 * changes must agree. The configuration (backends up/down/drain/weights/removed, services,
 * algorithms, forwarding modes, link MTU and hash bits, seed, echo flag) and the flow state
 * (aged, closed, repointed and fabricated entries, cursors, active counts) change as it goes.
 *
 *   XG_FUZZ_PACKETS   frames per program (default 200000; `make fuzz-xdp` runs more)
 *   XG_FUZZ_SEED      generator seed (default 1, so `make test` is repeatable)
 *   XG_FUZZ_FIXTURES  directory for mismatch fixtures (default $BUILD/fuzz-xdp)
 *
 * Every mismatch is written as a fixture that test_lb_fixtures replays once it is copied to
 * selftests/bpf/fixtures/ (`make fuzz-xdp` writes there directly).
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <xdpgw/hash.h>

#include "lib/addr.h"
#include "lib/decap.h"
#include "lib/lbcheck.h"
#include "lib/lbtest.h"
#include "lib/test.h"

#define CONFIG_EVERY 2000	/* frames between configuration changes */
#define MAX_FIXTURES 20		/* mismatch fixtures written per run */
#define MAX_REPORTS 10		/* mismatches printed per run */
#define ENCAP_RING 512		/* balancer outputs kept for the decap round */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	/* xorshift64*: fast, good enough, reproducible from the seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return n ? (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32) % n : 0;
}

static bool chance(uint32_t percent)
{
	return rnd(100) < percent;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

/* ---- addresses and the configuration ---- */

#define VIP4A "198.18.100.1"
#define VIP4B "198.18.100.2"
#define VIP6A "2001:2::100:1"
#define VIP6B "2001:2::100:2"
#define OTHER4 "198.18.50.50"
#define OTHER6 "2001:2::50:50"

static char coll4[ADDR_STRLEN], coll6[ADDR_STRLEN];	/* filter collisions, not VIPs */
static const char *clients4[] = { "198.18.7.1", "198.18.7.2", "198.18.7.3", "198.18.7.4",
				  "198.18.7.5", "198.18.7.6", "198.18.7.7", "198.18.7.8" };
static const char *clients6[] = { "2001:2::7:1", "2001:2::7:2", "2001:2::7:3", "2001:2::7:4",
				  "2001:2::7:5", "2001:2::7:6", "2001:2::7:7", "2001:2::7:8" };

struct svc_def {
	const char *name, *addr;
	uint16_t port;
	uint8_t proto, algo, fwd;
	uint32_t persist;
	const char *backends;	/* "4:w 6:w ...": family and weight of each backend */
	bool deleted;
	uint32_t id;
};

static struct svc_def services[] = {
	{ "web4", VIP4A, 80, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, "4:1 4:2 4:3 6:1" },
	{ "dns4", VIP4A, 53, 17, XG_ALGO_SH, XG_FWD_IPIP, 0, "4:1 4:1 4:1" },
	{ "all4", VIP4A, 0, 6, XG_ALGO_RR, XG_FWD_L2, 0, "4:1 4:2" },
	{ "lc4", VIP4A, 443, 6, XG_ALGO_LC, XG_FWD_IPIP, 0, "4:1 4:2 4:1 6:3" },
	{ "udpall4", VIP4A, 0, 17, XG_ALGO_MAGLEV, XG_FWD_IPIP, 3600, "4:1 4:1 6:1" },
	{ "web6", VIP6A, 80, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, "6:1 6:2 4:1" },
	{ "l2v6", VIP6A, 443, 17, XG_ALGO_MAGLEV, XG_FWD_L2, 0, "6:1 4:1" },
	{ "empty6", VIP6A, 22, 6, XG_ALGO_MAGLEV, XG_FWD_IPIP, 0, "" },
	{ "web4b", VIP4B, 80, 6, XG_ALGO_MAGLEV, XG_FWD_L2, 0, "4:1 4:1" },
	{ "rr6", VIP6A, 0, 17, XG_ALGO_RR, XG_FWD_IPIP, 3600, "6:1 6:2" },
	{ "lc6", VIP6B, 0, 6, XG_ALGO_LC, XG_FWD_L2, 0, "6:1 6:1 6:2" },
};
#define NSERVICES (sizeof(services) / sizeof(services[0]))

struct fz {
	struct lbt t;
	struct lbc c;
	uint32_t nbackend_addrs;
	uint64_t mismatches, fixtures, by_reason[XG_R_MAX];
	const char *fixture_dir;
	uint64_t seed;
	bool link_deleted;
	struct xg_link link;
	/* balancer outputs for the decap round: frame in, frame out */
	struct pkt *ring_in, *ring_out;
	uint32_t ring_n;
};

/* An address whose filter bit is the VIP's, so the filter says "maybe" and the lookup "no". */
static void find_collision(const char *vip, char *out)
{
	struct xg_addr v, a = {};
	uint8_t fam;

	addr_parse(vip, &v, &fam);
	for (uint32_t i = 1; i < (1u << 24); i++) {
		a = v;
		if (fam == XG_AF_INET)
			a.v4 = htonl(ntohl(v.v4) ^ i);
		else
			a.v6[3] = htonl(ntohl(v.v6[3]) ^ i);
		if (xg_vip_filter_bit(&a, fam) == xg_vip_filter_bit(&v, fam))
			break;
	}
	addr_fmt(&a, fam, out);
}

static void backend_addr(uint32_t svc, uint32_t n, int family, char *buf)
{
	if (family == 6)
		snprintf(buf, ADDR_STRLEN, "2001:2:0:%x::%x", svc + 1, n + 1);
	else
		snprintf(buf, ADDR_STRLEN, "198.19.%u.%u", svc + 1, n + 1);
}

static int add_backend(struct fz *z, uint32_t svc, uint32_t n, int family, uint16_t weight)
{
	char addr[ADDR_STRLEN];
	uint32_t id;

	backend_addr(svc, n, family, addr);
	return lbt_backend(&z->t, services[svc].id, addr, weight, NULL, &id);
}

static int add_service(struct fz *z, uint32_t i)
{
	struct svc_def *s = &services[i];
	const char *b = s->backends;
	int err, n = 0;

	/* Made ipip first: l2 refuses backends of the other family, and drop-family needs one. */
	err = lbt_vip(&z->t, s->name, s->addr, s->port, s->proto, s->algo, XG_FWD_IPIP, s->persist,
		      &s->id);
	if (err)
		return err;
	if (s->algo == XG_ALGO_MAGLEV || s->algo == XG_ALGO_SH)
		lbmap_vip_set_table_size(z->t.m, s->id, 1021);	/* small fixtures */
	while (*b) {
		int family = b[0] - '0', weight = b[2] - '0';

		err = add_backend(z, i, (uint32_t)n++, family, (uint16_t)weight);
		if (err)
			return err;
		b += b[3] ? 4 : 3;
	}
	s->deleted = false;
	if (s->fwd != XG_FWD_IPIP) {
		struct xg_vip_info info;

		err = lbmap_vip_get(z->t.m, s->id, &info);
		info.vip.fwd = s->fwd;
		err = err ?: lbmap_vip_set(z->t.m, s->id, s->name, &info.key, &info.vip);
	}
	return err;
}

/* ---- configuration changes ---- */

static uint32_t random_backend(struct fz *z)
{
	uint32_t start = rnd(z->c.cfg.max_backends);

	for (uint32_t i = 0; i < z->c.cfg.max_backends; i++) {
		uint32_t id = (start + i) % z->c.cfg.max_backends;

		if (z->c.cfg.be[id].flags & XG_BE_F_IN_USE)
			return id;
	}
	return XG_BACKEND_NONE;
}

static void change_config(struct fz *z)
{
	static const uint16_t mtus[] = { 0, 1500, 576, 1320, 9000, 1500 };
	static const uint8_t bits4[] = { 0, 8, 16 }, bits6[] = { 0, 20, 32 };
	static const uint16_t weights[] = { 0, 1, 2, 3, 5 };
	struct xg_settings set = {};
	uint32_t op = rnd(100), id, svc;
	struct svc_def *s;

	if (z->link_deleted) {	/* a missing link lasts one period */
		lbmap_link_set(z->t.m, &z->link);
		z->link_deleted = false;
	}
	if (op < 40) {
		static const uint8_t flags[] = { 0, 0, XG_BE_F_DOWN, XG_BE_F_DRAIN,
						 XG_BE_F_DOWN | XG_BE_F_DRAIN };

		id = random_backend(z);
		if (id != XG_BACKEND_NONE)
			lbt_backend_state(&z->t, id, flags[rnd(5)], weights[rnd(5)]);
	} else if (op < 50) {
		id = random_backend(z);
		if (chance(50) && id != XG_BACKEND_NONE) {
			lbmap_backend_del(z->t.m, id);
		} else {
			svc = rnd(NSERVICES);
			if (!services[svc].deleted)
				add_backend(z, svc, 8 + rnd(40), chance(70) ? 4 : 6,
					    (uint16_t)(1 + rnd(4)));
		}
	} else if (op < 60) {
		z->link.mtu = mtus[rnd(6)];
		z->link.src4_hash_bits = bits4[rnd(3)];
		z->link.src6_hash_bits = bits6[rnd(3)];
		lbmap_link_set(z->t.m, &z->link);
	} else if (op < 65) {
		lbmap_link_del(z->t.m, LBT_IFINDEX);
		z->link_deleted = true;
	} else if (op < 75) {
		lbmap_settings_get(z->t.m, &set);
		set.hash_seed = rnd(0xffffffffu);
		lbmap_settings_set(z->t.m, &set);
	} else if (op < 85) {
		struct xg_vip_info info;

		s = &services[rnd(NSERVICES)];
		if (!s->deleted && lbmap_vip_get(z->t.m, s->id, &info) == 0) {
			info.vip.algo = (uint8_t)rnd(XG_ALGO_MAX);
			info.vip.fwd = (uint8_t)rnd(XG_FWD_MAX);
			info.vip.persist_sec = chance(30) ? 3600 : 0;
			lbmap_vip_set(z->t.m, s->id, info.name, &info.key, &info.vip);
		}
	} else if (op < 90) {
		svc = rnd(NSERVICES);
		s = &services[svc];
		if (s->deleted)
			add_service(z, svc);
		else if (lbmap_vip_del(z->t.m, s->id) == 0)
			s->deleted = true;
	} else {
		struct xg_addr a;
		const char *addrs[] = { VIP4A, VIP4B, VIP6A, VIP6B };
		uint8_t fam;

		addr_parse(addrs[rnd(4)], &a, &fam);
		lbmap_vip_addr_set_flags(z->t.m, &a, fam, chance(50) ? XG_ADDR_F_NO_ECHO : 0);
	}
}

/* ---- state changes for the next frame's flow ---- */

/*
 * A timestamp for a fabricated entry: the datapath's coarse clock, 10 ms back, so that it is
 * never ahead of the clock the model reads next (an entry "from the future" would wrap the
 * unsigned age and look idle to one side and fresh to the other).
 */
static uint64_t recent_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec - 10000000ull;
}

static void change_state(struct fz *z, const struct lbm_result *peek)
{
	int ct_fd = z->t.m->fd[LBMAP_CONNTRACK];
	struct xg_ct_value ct = {};
	uint32_t op = rnd(100);

	if (peek->vip_id == XG_VIP_NONE)
		return;
	if (op < 60) {
		bool found = bpf_map_lookup_elem(ct_fd, &peek->flow, &ct) == 0;
		uint32_t what = rnd(6);

		if (!found || what == 0) {
			ct = (struct xg_ct_value){ .backend_id = random_backend(z),
						   .vip_id = chance(80) ? peek->vip_id :
									  rnd(z->c.cfg.max_vips + 2),
						   .last_seen_ns = recent_ns() };
		} else if (what == 1) {
			ct.last_seen_ns = 1;	/* idle for as long as the machine is up */
		} else if (what == 2) {
			ct.flags ^= XG_CT_F_FIN;
		} else if (what == 3) {
			ct.backend_id = chance(80) ? random_backend(z) :
						     z->c.cfg.max_backends + rnd(4);
		} else if (what == 4) {
			ct.vip_id = rnd(z->c.cfg.max_vips + 2);
		} else {
			bpf_map_delete_elem(ct_fd, &peek->flow);
			return;
		}
		bpf_map_update_elem(ct_fd, &peek->flow, &ct, BPF_ANY);
	} else if (op < 80) {
		struct xg_persist_key pk = { .src = peek->flow.src, .vip_id = peek->vip_id,
					     .family = peek->flow.family };
		struct xg_persist_value pv = { .backend_id = random_backend(z),
					       .last_seen_ns = chance(50) ? 1 : recent_ns() };

		bpf_map_update_elem(z->t.m->fd[LBMAP_PERSIST], &pk, &pv, BPF_ANY);
	} else if (op < 90) {
		uint64_t v[z->c.ncpus];
		uint32_t cursor = chance(50) ? rnd(10) : rnd(0xffffffffu);

		for (int i = 0; i < z->c.ncpus; i++)
			v[i] = cursor;
		bpf_map_update_elem(z->t.m->fd[LBMAP_RR_CURSOR], &peek->vip_id, v, BPF_ANY);
	} else {
		uint32_t id = random_backend(z);
		int64_t active = (int64_t)rnd(60) - 5;

		if (id != XG_BACKEND_NONE)
			bpf_map_update_elem(z->t.m->fd[LBMAP_BE_ACTIVE], &id, &active, BPF_ANY);
	}
}

/* ---- frames ---- */

static const uint16_t tpid_choices[2] = { 0x8100, 0x88a8 };

static uint16_t pick_dport(uint8_t proto)
{
	static const uint16_t tcp[] = { 80, 80, 443, 22, 8080 }, udp[] = { 53, 53, 443, 123 };

	if (chance(10))
		return (uint16_t)rnd(65536);
	return proto == 17 ? udp[rnd(4)] : tcp[rnd(5)];
}

static uint8_t pick_tcp_flags(void)
{
	static const uint8_t f[] = { 0x02, 0x02, 0x10, 0x18, 0x18, 0x11, 0x04, 0x12, 0x14, 0x01 };

	return chance(5) ? (uint8_t)rnd(256) : f[rnd(10)];
}

static size_t pick_payload(void)
{
	uint32_t r = rnd(100);

	if (r < 80)
		return rnd(64);
	if (r < 95)
		return 100 + rnd(1400);
	return 1500 + rnd(1800);
}

/* What an ICMP error quotes: mostly a packet our VIP sent to a client, sometimes anything. */
static void build_quote(struct pkt *q, int family, const char *vip)
{
	int fam = chance(90) ? family : 10 - family;
	const char *client = fam == 6 ? clients6[rnd(8)] : clients4[rnd(8)];
	const char *src = fam != family ? (fam == 6 ? VIP6A : VIP4A) : chance(85) ? vip :
			  fam == 6 ? OTHER6 : OTHER4;
	uint8_t proto = chance(50) ? 6 : chance(90) ? 17 : (uint8_t)rnd(256);
	struct pkt_ip ip = { .family = fam, .src = src, .dst = client, .proto = proto,
			     .opt_len = (uint8_t)(fam == 4 && chance(10) ? 4 * rnd(5) : 0) };
	uint16_t sport = pick_dport(proto), dport = (uint16_t)(1000 + rnd(8));

	pkt_payload(q, rnd(32), (uint8_t)rnd(256));
	if (proto == 6)
		pkt_push_tcp(q, &ip, sport, dport, 0x12);
	else if (proto == 17)
		pkt_push_udp(q, &ip, sport, dport);
	pkt_push_ip(q, &ip);
	if (chance(60))	/* routers quote at least 28 bytes, often more */
		pkt_truncate(q, chance(20) ? rnd((uint32_t)q->len + 1) : 28 + rnd(40));
}

static void build_icmp(struct pkt *p, const struct pkt_ip *ip)
{
	static const uint8_t types4[] = { 8, 8, 8, 8, 0, 3, 3, 3, 11, 11, 5, 13 };
	static const uint8_t types6[] = { 128, 128, 128, 128, 129, 1, 1, 2, 2, 3, 135, 136 };
	uint8_t type = chance(5) ? (uint8_t)rnd(256) : ip->family == 6 ? types6[rnd(12)] :
							 types4[rnd(12)];
	bool error = ip->family == 6 ? type >= 1 && type <= 3 : type == 3 || type == 11;

	if (error)
		build_quote(p, ip->family, ip->dst);
	else
		pkt_payload(p, pick_payload(), (uint8_t)rnd(256));
	pkt_push_icmp(p, ip, type, (uint8_t)(chance(80) ? (type == 3 ? 4 : 0) : rnd(16)),
		      chance(50) ? 0x00010000u | rnd(1500) : rnd(0xffffffffu));
}

/* IPv6 extension headers in front of what is in p; ip->proto gets the first one. */
static void push_ext_chain(struct pkt *p, struct pkt_ip *ip)
{
	static const uint8_t types[] = { 0, 43, 60, 60, 44, 51, 59 };
	int n = 1 + (int)rnd(chance(20) ? 9 : 4);
	uint8_t next = ip->proto;

	for (int i = 0; i < n && p->len + 64 < 3400; i++) {
		uint8_t type = types[rnd(7)];

		if (type == 51 || type == 59) {	/* AH / no-next-header: the chain's end */
			pkt_payload(p, 0, 0);
			next = type;
			continue;
		}
		pkt_push_ip6_ext(p, type, next, (uint8_t)rnd(3));
		next = type;
	}
	ip->proto = next;
}

static void mutate(struct pkt *p)
{
	uint32_t what = rnd(100);

	if (what < 25) {		/* truncated */
		pkt_truncate(p, 14 + rnd((uint32_t)p->len - 13));
	} else if (what < 45) {	/* Ethernet padding or trailing garbage */
		size_t n = 1 + rnd(64);

		for (size_t i = 0; i < n && p->len < 3500; i++)
			p->b[p->len++] = chance(50) ? 0 : (uint8_t)rnd(256);
	} else if (what < 80) {	/* header fields near the start */
		int n = 1 + (int)rnd(3);

		for (int i = 0; i < n; i++)
			p->b[14 + rnd(p->len > 94 ? 80 : (uint32_t)p->len - 14)] = (uint8_t)rnd(256);
	} else {			/* anywhere */
		int n = 1 + (int)rnd(4);

		for (int i = 0; i < n; i++)
			p->b[rnd((uint32_t)p->len)] = (uint8_t)rnd(256);
	}
}

static void build_frame(struct pkt *p)
{
	int family = chance(65) ? 4 : 6;
	uint32_t r = rnd(100);
	const char *dst = family == 4 ? (r < 60 ? VIP4A : r < 75 ? VIP4B : r < 88 ? coll4 : OTHER4) :
			  (r < 60 ? VIP6A : r < 75 ? VIP6B : r < 88 ? coll6 : OTHER6);
	const char *src = family == 4 ? clients4[rnd(8)] : clients6[rnd(8)];
	uint8_t icmp = family == 4 ? 1 : 58, proto;
	struct pkt_ip ip = { .family = family, .src = src, .dst = dst, .df = chance(50),
			     .tos = (uint8_t)(chance(20) ? rnd(256) : 0),
			     .ttl = (uint8_t)(1 + rnd(255)) };
	static const uint8_t odd[] = { 0, 2, 47, 50, 51, 132, 255, 1, 58, 4, 41 };
	uint16_t tpid[3], tci[3];
	int tags;

	r = rnd(100);
	proto = r < 45 ? 6 : r < 75 ? 17 : r < 90 ? icmp : odd[rnd(11)];
	ip.proto = proto;
	if (proto == 6 || proto == 17) {
		pkt_payload(p, pick_payload(), (uint8_t)rnd(256));
		if (proto == 6)
			pkt_push_tcp(p, &ip, (uint16_t)(1000 + rnd(8)), pick_dport(6),
				     pick_tcp_flags());
		else
			pkt_push_udp(p, &ip, (uint16_t)(1000 + rnd(8)), pick_dport(17));
	} else if (proto == icmp) {
		build_icmp(p, &ip);
	} else {
		pkt_payload(p, rnd(64), (uint8_t)rnd(256));
	}
	if (family == 6 && chance(15))
		push_ext_chain(p, &ip);
	if (family == 4 && chance(10))
		ip.opt_len = (uint8_t)(4 * rnd(11));
	if (family == 4 && chance(5))
		ip.frag = (uint16_t)(chance(50) ? 0x2000 : 0) | (uint16_t)(chance(50) ? rnd(0x2000) : 0);
	pkt_push_ip(p, &ip);
	r = rnd(100);
	tags = r < 70 ? 0 : r < 85 ? 1 : r < 95 ? 2 : 3;
	for (int i = 0; i < tags; i++) {
		tpid[i] = tpid_choices[rnd(2)];
		tci[i] = (uint16_t)rnd(4096);
	}
	pkt_push_eth(p, LBT_OUR_MAC, LBT_CLIENT_MAC, tags, tpid, tci,
		     chance(97) ? (family == 6 ? 0x86dd : 0x0800) :
		     chance(50) ? (family == 6 ? 0x0800 : 0x86dd) : (uint16_t)rnd(65536));
	if (chance(25))
		mutate(p);
}

/* ---- the run ---- */

static void save_fixture(struct fz *z, const char *kind, uint64_t n, const struct pkt *p,
			 const struct lbm_result *res, const char *msg)
{
	char path[512], note[600];

	if (z->fixtures >= env_u64("XG_FUZZ_MAX_FIXTURES", MAX_FIXTURES))
		return;
	mkdir(z->fixture_dir, 0755);
	snprintf(path, sizeof(path), "%s/%s-%llu-%llu.fix", z->fixture_dir, kind,
		 (unsigned long long)z->seed, (unsigned long long)n);
	snprintf(note, sizeof(note), "fuzz seed %llu frame %llu: %.500s",
		 (unsigned long long)z->seed, (unsigned long long)n, msg);
	if (lbc_fixture_write(&z->c, path, p->b, p->len, res, note) == 0) {
		z->fixtures++;
		fprintf(stderr, "  fixture %s\n", path);
	}
}

static void print_frame(const struct pkt *p)
{
	fprintf(stderr, "  frame (%zu bytes):", p->len);
	for (size_t i = 0; i < p->len && i < 96; i++)
		fprintf(stderr, "%s%02x", i % 16 ? "" : "\n    ", p->b[i]);
	fprintf(stderr, "%s\n", p->len > 96 ? " ..." : "");
}

static bool setup(struct fz *z)
{
	struct lb_opts opts = { .max_vips = 64, .max_backends = 256, .ct_entries = 1 << 16,
				.persist_entries = 4096 };
	uint8_t fam;

	memset(z, 0, sizeof(*z));
	z->seed = env_u64("XG_FUZZ_SEED", 1);
	rng_state = z->seed * 0x9E3779B97F4A7C15ull + 1;
	z->fixture_dir = getenv("XG_FUZZ_FIXTURES");
	if (!z->fixture_dir) {
		static char dir[400];

		snprintf(dir, sizeof(dir), "%s/fuzz-xdp", getenv("BUILD") ?: "build");
		z->fixture_dir = dir;
	}
	find_collision(VIP4A, coll4);
	find_collision(VIP6A, coll6);
	if (!lbt_setup(&z->t, &opts))
		return false;
	for (uint32_t i = 0; i < NSERVICES; i++)
		if (!ASSERT_OK(add_service(z, i)))
			return false;
	z->link = (struct xg_link){ .ifindex = LBT_IFINDEX, .mtu = LBT_MTU };
	pkt_mac(LBT_OUR_MAC, z->link.mac);
	addr_parse(LBT_SRC4, &z->link.src4, &fam);
	addr_parse(LBT_SRC6, &z->link.src6, &fam);
	if (!ASSERT_OK(lbc_init(&z->c, z->t.m, lb_prog_fd(z->t.lb), LBT_IFINDEX)) ||
	    !ASSERT_OK(lbc_load_config(&z->c)))
		return false;
	z->c.check_lookup = true;
	z->ring_in = calloc(ENCAP_RING, sizeof(struct pkt));
	z->ring_out = calloc(ENCAP_RING, sizeof(struct pkt));
	return ASSERT_NOT_NULL(z->ring_in) && ASSERT_NOT_NULL(z->ring_out);
}

static void teardown(struct fz *z)
{
	lbc_free(&z->c);
	lbt_teardown(&z->t);
	free(z->ring_in);
	free(z->ring_out);
}

static struct fz fuzz;	/* shared by both tests: the decap round uses the balancer's outputs */

/* Keeps encapsulated outputs for the decap round (its round trip must give the input back). */
static void keep_output(struct fz *z, const struct pkt *in, const struct lbm_result *res)
{
	uint32_t slot;

	if (res->reason != XG_R_FWD_IPIP)
		return;
	slot = z->ring_n < ENCAP_RING ? z->ring_n++ : rnd(ENCAP_RING);
	z->ring_in[slot] = *in;
	memcpy(z->ring_out[slot].b, res->out, res->out_len);
	z->ring_out[slot].len = res->out_len;
}

TEST(lb_differential)
{
	uint64_t packets = env_u64("XG_FUZZ_PACKETS", 200000), reports = 0;
	struct fz *z = &fuzz;
	struct lbm_result *res = malloc(sizeof(*res)), *peek = malloc(sizeof(*peek));
	struct pkt *p = malloc(sizeof(*p));
	char msg[1024];
	time_t start = time(NULL);
	int distinct = 0;

	if (!ASSERT_NOT_NULL(res) || !ASSERT_NOT_NULL(peek) || !ASSERT_NOT_NULL(p) || !setup(z))
		goto out;
	for (uint64_t n = 0; n < packets && !test_failed(); n++) {
		int rc;

		if (n && n % env_u64("XG_FUZZ_CONFIG_EVERY", CONFIG_EVERY) == 0) {
			change_config(z);
			if (!ASSERT_OK(lbc_load_config(&z->c)))
				break;
		}
		build_frame(p);
		if (chance(5)) {	/* disturb the state this frame's flow reads */
			lbc_peek(&z->c, p->b, p->len, peek);
			change_state(z, peek);
		}
		rc = lbc_check(&z->c, p->b, p->len, res, msg, sizeof(msg));
		if (!ASSERT_GE(rc, 0))
			break;
		z->by_reason[res->reason]++;
		if (rc == 1) {
			keep_output(z, p, res);
			continue;
		}
		z->mismatches++;
		if (reports++ < env_u64("XG_FUZZ_REPORTS", MAX_REPORTS)) {
			fprintf(stderr, "MISMATCH seed %llu frame %llu (model: %s %s, %s): %s\n",
				(unsigned long long)z->seed, (unsigned long long)n,
				lbc_action_name(res->action), lbc_reason_name(res->reason), res->why,
				msg);
			print_frame(p);
		}
		save_fixture(z, "lb", n, p, res, msg);
	}
	for (int r = 0; r < XG_R_MAX; r++)
		if (z->by_reason[r]) {
			distinct++;
			fprintf(stderr, "  %-20s %llu\n", lbc_reason_name(r),
				(unsigned long long)z->by_reason[r]);
		}
	fprintf(stderr, "lb: %llu frames, seed %llu, %d fates, %llu lookups checked, %llu "
		"mismatches, %lds\n", (unsigned long long)packets, (unsigned long long)z->seed,
		distinct, (unsigned long long)z->c.lookups_checked,
		(unsigned long long)z->mismatches, (long)(time(NULL) - start));
	ASSERT_EQ(z->mismatches, 0);
	/* The generator must reach most fates, or the comparison proves little. */
	if (packets >= 100000)
		ASSERT_GE(distinct, 17);
out:
	free(res);
	free(peek);
	free(p);
}

/* ---- the decap program ---- */

static int decap_run(struct decap_obj *d, const struct pkt *in, struct pkt *out)
{
	return lbt_prog_run(decap_prog_fd(d), 1, in, out);
}

/* An encapsulated frame: outer header to a local address (mostly) around a generated one. */
static void build_encap(struct fz *z, const struct lbm_decap *dm, struct pkt *p)
{
	struct pkt inner;
	char local[ADDR_STRLEN];
	const struct lbm_addr *a = &dm->local[rnd((uint32_t)dm->n)];
	int outer_family = a->family == XG_AF_INET6 ? 6 : 4;
	struct pkt_ip ip = { .family = outer_family, .src = outer_family == 6 ? LBT_SRC6 : LBT_SRC4,
			     .dst = local };
	uint16_t ethertype;

	if (z->ring_n && chance(50)) {	/* a real balancer output, maybe mutated */
		*p = z->ring_out[rnd(z->ring_n)];
		if (chance(40))
			mutate(p);
		return;
	}
	build_frame(&inner);
	ethertype = (uint16_t)(inner.b[12] << 8 | inner.b[13]);
	memcpy(p->b, inner.b + 14, inner.len - 14);
	p->len = inner.len - 14;
	if (chance(85))
		addr_fmt(&a->addr, a->family, local);
	else
		snprintf(local, sizeof(local), "%s", outer_family == 6 ? OTHER6 : OTHER4);
	ip.proto = chance(90) ? (ethertype == 0x86dd ? 41 : 4) : (uint8_t)rnd(256);
	if (outer_family == 4 && chance(5))
		ip.frag = 0x2000;
	pkt_push_ip(p, &ip);
	pkt_push_eth(p, "02:be:00:00:00:01", LBT_OUR_MAC, 0, NULL, NULL,
		     outer_family == 6 ? 0x86dd : 0x0800);
	if (chance(25))
		mutate(p);
}

static int add_local(struct decap_obj *d, struct lbm_decap *dm, const struct xg_addr *a,
		     uint8_t family)
{
	int err;

	if (dm->n == XG_MAX_DECAP_ADDRS)
		return 0;
	err = decap_addr_add(d, a, family);
	if (!err)
		dm->local[dm->n++] = (struct lbm_addr){ .addr = *a, .family = family };
	return err == -EEXIST ? 0 : err;
}

TEST(decap_differential)
{
	uint64_t packets = env_u64("XG_FUZZ_PACKETS", 200000) / 4, mismatches = 0, trips = 0;
	static const char *const names[XG_DECAP_R_MAX] = XG_DECAP_REASON_NAMES;
	struct xg_counter before[XG_DECAP_R_MAX], after[XG_DECAP_R_MAX];
	struct fz *z = &fuzz;
	struct decap_obj *d;
	struct lbm_decap dm = {};
	struct pkt *p = malloc(sizeof(*p)), *out = malloc(sizeof(*out));
	uint8_t *want = malloc(PKT_MAX);

	if (!ASSERT_NOT_NULL(p) || !ASSERT_NOT_NULL(out) || !ASSERT_NOT_NULL(want))
		goto out;
	if (!z->t.lb || !z->c.cfg.max_backends) {
		test_skip("the balancer round did not run");
		goto out;
	}
	d = decap_load(NULL);
	if (!ASSERT_NOT_NULL(d))
		goto out;
	/* Every backend of the balancer round is local, so its outputs are stripped. */
	for (uint32_t id = 0; id < z->c.cfg.max_backends; id++)
		if (z->c.cfg.be[id].flags & XG_BE_F_IN_USE &&
		    !ASSERT_OK(add_local(d, &dm, &z->c.cfg.be[id].addr, z->c.cfg.be[id].family)))
			goto unload;
	for (uint32_t i = 0; i < z->ring_n; i++) {
		const uint8_t *o = z->ring_out[i].b;
		size_t l3 = 14;
		struct xg_addr a = {};

		while ((o[l3 - 2] << 8 | o[l3 - 1]) == 0x8100 || (o[l3 - 2] << 8 | o[l3 - 1]) == 0x88a8)
			l3 += 4;
		if (o[l3 - 2] == 0x86)
			memcpy(a.bytes, o + l3 + 24, 16);
		else
			memcpy(&a.v4, o + l3 + 16, 4);
		if (!ASSERT_OK(add_local(d, &dm, &a, o[l3 - 2] == 0x86 ? XG_AF_INET6 : XG_AF_INET)))
			goto unload;
	}
	if (!ASSERT_OK(decap_stats(d, before)))
		goto unload;
	for (uint64_t n = 0; n < packets && !test_failed(); n++) {
		uint32_t reason;
		size_t want_len;
		int action, got;
		bool ok = true;

		build_encap(z, &dm, p);
		action = lbm_run_decap(&dm, p->b, p->len, &reason, want, &want_len);
		got = decap_run(d, p, out);
		if (!ASSERT_GE(got, 0) || !ASSERT_OK(decap_stats(d, after)))
			break;
		for (int r = 0; r < XG_DECAP_R_MAX; r++)
			ok &= after[r].packets - before[r].packets == (r == (int)reason);
		memcpy(before, after, sizeof(after));
		ok &= got == action;
		if (ok && action == LBM_PASS)
			ok = out->len == want_len && !memcmp(out->b, want, want_len);
		if (ok)
			continue;
		if (mismatches++ < MAX_REPORTS) {
			fprintf(stderr, "DECAP MISMATCH seed %llu frame %llu: program %s, model %s %s"
				"%s\n", (unsigned long long)z->seed, (unsigned long long)n,
				lbc_action_name(got), lbc_action_name(action), names[reason],
				got == action ? " (output or counters differ)" : "");
			print_frame(p);
		}
	}
	/* Round trip: what the balancer encapsulated comes out as the client sent it. */
	for (uint32_t i = 0; i < z->ring_n; i++) {
		const struct pkt *in = &z->ring_in[i];
		uint32_t reason;
		size_t want_len;

		lbm_run_decap(&dm, z->ring_out[i].b, z->ring_out[i].len, &reason, want, &want_len);
		if (reason != XG_DECAP_R_STRIPPED)
			continue;	/* a backend beyond the XG_MAX_DECAP_ADDRS local addresses */
		if (!ASSERT_EQ(decap_run(d, &z->ring_out[i], out), LBM_PASS))
			break;
		if (!ASSERT_MEMEQ(out->b + 12, out->len - 12, in->b + 12, in->len - 12))
			break;
		trips++;
	}
	fprintf(stderr, "decap: %llu frames, %llu round trips, %llu mismatches\n",
		(unsigned long long)packets, (unsigned long long)trips,
		(unsigned long long)mismatches);
	ASSERT_EQ(mismatches, 0);
unload:
	decap_unload(d);
out:
	teardown(z);
	free(p);
	free(out);
	free(want);
}
