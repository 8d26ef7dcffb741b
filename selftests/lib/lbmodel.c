// SPDX-License-Identifier: GPL-2.0
/*
 * Reference model of the XDP datapath, from docs/datapath.md: a frame is read as a byte array
 * with explicit offsets (no kernel headers, no code from bpf/), decided, and the expected
 * output frame is built from scratch.
 */
#include "lib/lbmodel.h"

#include <stdlib.h>
#include <string.h>
#include <xdpgw/hash.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define P_ICMP 1
#define P_IPIP 4
#define P_TCP 6
#define P_UDP 17
#define P_IPV6 41
#define P_ICMPV6 58
#define QUOTE 128		/* bytes of the client's datagram quoted in too-big replies */
#define MAX_EXT 6		/* IPv6 extension headers before the packet is malformed */
#define TTL 64

/* ---- reading and writing bytes ---- */

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = v >> 8;
	b[1] = v & 0xff;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b + 2, v & 0xffff);
}

/* One's complement sum of big-endian 16-bit words, folded, not complemented. */
static uint16_t sum16(const uint8_t *b, size_t len, uint32_t sum)
{
	for (size_t i = 0; i < len; i += 2)
		sum += (uint32_t)b[i] << 8 | (i + 1 < len ? b[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * RFC 1624 eqn. 3 on a checksum field when one 16-bit word (big-endian values) changes:
 * HC' = ~(~HC + ~m + m'). Echo replies keep whatever checksum error the request had.
 */
static void csum_update(uint8_t *field, uint16_t old, uint16_t new)
{
	uint32_t sum = (uint16_t)~get16(field) + (uint16_t)~old + new;

	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(field, (uint16_t)~sum);
}

static bool addr_eq(const struct xg_addr *a, const struct xg_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* ---- configuration ---- */

void lbm_config_init(struct lbm_config *c, uint32_t max_vips, uint32_t max_backends)
{
	memset(c, 0, sizeof(*c));
	c->max_vips = max_vips < LBM_MAX_VIPS ? max_vips : LBM_MAX_VIPS;
	c->max_backends = max_backends < LBM_MAX_BACKENDS ? max_backends : LBM_MAX_BACKENDS;
}

void lbm_config_free(struct lbm_config *c)
{
	for (uint32_t i = 0; i < LBM_MAX_VIPS; i++) {
		free(c->svc[i].table);
		c->svc[i].table = NULL;
		c->svc[i].n = 0;
	}
}

void lbm_set_table(struct lbm_config *c, uint32_t vip_id, const uint32_t *ids, uint32_t n)
{
	struct lbm_service *s = &c->svc[vip_id];

	free(s->table);
	s->table = n ? malloc(n * sizeof(*ids)) : NULL;
	if (n && !s->table)
		abort();
	if (n)
		memcpy(s->table, ids, n * sizeof(*ids));
	s->n = n;
}

void lbm_config_copy(struct lbm_config *dst, const struct lbm_config *src)
{
	memcpy(dst, src, sizeof(*dst));
	for (uint32_t i = 0; i < LBM_MAX_VIPS; i++) {
		dst->svc[i].table = NULL;
		dst->svc[i].n = 0;
		lbm_set_table(dst, i, src->svc[i].table, src->svc[i].n);
	}
}

void lbm_set_addr_flags(struct lbm_config *c, const struct xg_addr *a, uint8_t family,
			uint32_t flags)
{
	int i;

	for (i = 0; i < c->naddr_flags; i++)
		if (c->addr_flags[i].family == family && addr_eq(&c->addr_flags[i].addr, a))
			break;
	if (i == c->naddr_flags) {
		if (i == LBM_MAX_ADDRS)
			abort();
		c->naddr_flags++;
	}
	c->addr_flags[i] = (struct lbm_addr){ .addr = *a, .family = family, .flags = flags };
}

/* Is addr the address of a service in use? (lb_vip_addrs) */
static bool is_vip_addr(const struct lbm_config *c, const struct xg_addr *a, uint8_t family)
{
	for (uint32_t i = 0; i < c->max_vips; i++)
		if (c->svc[i].in_use && c->svc[i].key.family == family &&
		    addr_eq(&c->svc[i].key.addr, a))
			return true;
	return false;
}

/* The filter holds one bit per VIP address: a clear bit means "not ours". */
static bool filter_match(const struct lbm_config *c, const struct xg_addr *a, uint8_t family)
{
	uint32_t bit = xg_vip_filter_bit(a, family);

	for (uint32_t i = 0; i < c->max_vips; i++)
		if (c->svc[i].in_use &&
		    xg_vip_filter_bit(&c->svc[i].key.addr, c->svc[i].key.family) == bit)
			return true;
	return false;
}

static uint32_t addr_flags(const struct lbm_config *c, const struct xg_addr *a, uint8_t family)
{
	for (int i = 0; i < c->naddr_flags; i++)
		if (c->addr_flags[i].family == family && addr_eq(&c->addr_flags[i].addr, a))
			return c->addr_flags[i].flags;
	return 0;
}

/* The service of (dst, dport, proto), else the all-ports one; NULL: none. */
static const struct lbm_service *service_of(const struct lbm_config *c,
					    const struct xg_flow_key *f)
{
	const struct lbm_service *any = NULL;

	for (uint32_t i = 0; i < c->max_vips; i++) {
		const struct lbm_service *s = &c->svc[i];

		if (!s->in_use || s->key.family != f->family || s->key.proto != f->proto ||
		    !addr_eq(&s->key.addr, &f->dst))
			continue;
		if (s->key.port == f->dport)
			return s;
		if (s->key.port == 0)
			any = s;
	}
	return any;
}

/* lb_backends[id]; NULL when id is beyond the array (an entry not in use is still read). */
static const struct xg_backend *backend(const struct lbm_config *c, uint32_t id)
{
	return id < c->max_backends ? &c->be[id] : NULL;
}

static bool keeps_flows(const struct xg_backend *be, uint32_t vip_id)
{
	return (be->flags & XG_BE_F_IN_USE) && !(be->flags & XG_BE_F_DOWN) &&
	       be->vip_id == vip_id;
}

static bool takes_new(const struct xg_backend *be, uint32_t vip_id)
{
	return keeps_flows(be, vip_id) && !(be->flags & XG_BE_F_DRAIN) && be->weight > 0;
}

/* ---- parsing ---- */

struct frame {
	const uint8_t *b;
	size_t len;
	int vlans;
	size_t l3;		/* IP header */
	uint16_t ethertype;	/* after the tags */
	size_t end;		/* end of the IP datagram (l3 + its length) */
	size_t l4;
	uint32_t ip_len;
	uint8_t proto, tos, tcp_flags;
	bool df;
	struct xg_flow_key flow;
};

/* Ethernet and up to two tags; 0 or the PASS reason. */
static int parse_link(struct frame *f)
{
	uint16_t type = get16(f->b + 12);
	size_t off = 14;

	while (f->vlans < 2 && (type == ETH_P_8021Q || type == ETH_P_8021AD)) {
		if (off + 4 > f->len)
			return XG_R_PASS_TRUNCATED;
		type = get16(f->b + off + 2);
		off += 4;
		f->vlans++;
	}
	f->l3 = off;
	f->ethertype = type;
	if (type != ETH_P_IP && type != ETH_P_IPV6)
		return XG_R_PASS_NOT_IP;
	if (off + (type == ETH_P_IP ? 20 : 40) > f->len)
		return XG_R_PASS_TRUNCATED;
	f->flow.family = type == ETH_P_IP ? XG_AF_INET : XG_AF_INET6;
	if (type == ETH_P_IP) {
		memcpy(&f->flow.src.v4, f->b + off + 12, 4);
		memcpy(&f->flow.dst.v4, f->b + off + 16, 4);
	} else {
		memcpy(f->flow.src.bytes, f->b + off + 8, 16);
		memcpy(f->flow.dst.bytes, f->b + off + 24, 16);
	}
	return 0;
}

/* Validates the IP header (the destination may be a VIP); 0 or the reason it is not balanced. */
static int parse_ip(struct frame *f)
{
	const uint8_t *ip = f->b + f->l3;

	if (f->flow.family == XG_AF_INET) {
		uint32_t hlen = (ip[0] & 0xf) * 4u, total = get16(ip + 2);

		if (ip[0] >> 4 != 4 || hlen < 20 || total < hlen || f->l3 + total > f->len)
			return XG_R_DROP_BAD_IP;
		if (get16(ip + 6) & 0x3fff)	/* MF or a fragment offset */
			return XG_R_PASS_FRAGMENT;
		f->ip_len = total;
		f->end = f->l3 + total;
		f->l4 = f->l3 + hlen;
		f->proto = ip[9];
		f->df = get16(ip + 6) & 0x4000;
		f->tos = ip[1];
		return 0;
	}
	uint32_t payload = get16(ip + 4);
	uint8_t next = ip[6];
	size_t off = f->l3 + 40;

	if (ip[0] >> 4 != 6 || payload == 0 || f->l3 + 40 + payload > f->len)
		return XG_R_DROP_BAD_IP;
	f->ip_len = 40 + payload;
	f->end = f->l3 + f->ip_len;
	f->tos = (uint8_t)((ip[0] & 0xf) << 4 | ip[1] >> 4);
	for (int n = 0;; n++) {
		bool ext = next == 0 || next == 43 || next == 60;

		if (!ext && next != 44)
			break;
		if (n == MAX_EXT)
			return XG_R_DROP_MALFORMED;
		if (next == 44)
			return XG_R_PASS_FRAGMENT;
		/* Each extension header must lie within the datagram. */
		if (off + 2 > f->end)
			return XG_R_DROP_MALFORMED;
		next = f->b[off];
		off += (f->b[off + 1] + 1u) * 8;
	}
	if (off > f->end)
		return XG_R_DROP_MALFORMED;
	f->l4 = off;
	f->proto = next;
	return 0;
}

static int parse_ports(struct frame *f)
{
	size_t room = f->end - f->l4;
	const uint8_t *l4 = f->b + f->l4;

	if (f->proto == P_TCP) {
		if (room < 20 || (l4[12] >> 4) < 5 || (l4[12] >> 4) * 4u > room)
			return XG_R_DROP_MALFORMED;
		f->tcp_flags = l4[13];
	} else if (room < 8) {
		return XG_R_DROP_MALFORMED;
	}
	memcpy(&f->flow.sport, l4, 2);
	memcpy(&f->flow.dport, l4 + 2, 2);
	f->flow.proto = f->proto;
	return 0;
}

/* ---- verdicts and output ---- */

static void fate(struct lbm_result *r, int action, enum xg_reason reason, const char *why)
{
	r->action = action;
	r->reason = reason;
	r->why = why;
}

static void pass_untouched(struct lbm_result *r, const struct frame *f, enum xg_reason reason,
			   const char *why)
{
	fate(r, LBM_PASS, reason, why);
	memcpy(r->out, f->b, f->len);
	r->out_len = f->len;
}

/* A packet that is not balanced: judged only when its destination really is a VIP address. */
static void not_balanced(const struct lbm_config *c, const struct frame *f,
			 struct lbm_result *r, enum xg_reason reason, const char *why)
{
	if (!is_vip_addr(c, &f->flow.dst, f->flow.family))
		return pass_untouched(r, f, XG_R_PASS_NOT_VIP, "filter false positive");
	if (reason == XG_R_DROP_BAD_IP || reason == XG_R_DROP_MALFORMED)
		return fate(r, LBM_DROP, reason, why);
	pass_untouched(r, f, reason, why);
}

/* Ethernet header at out: dst, src, the frame's tags as they were, then ethertype. */
static size_t write_eth(uint8_t *out, const struct frame *f, const uint8_t *dst,
			const uint8_t *src, uint16_t ethertype)
{
	memcpy(out, dst, 6);
	memcpy(out + 6, src, 6);
	memcpy(out + 12, f->b + 12, 4u * f->vlans);
	put16(out + 12 + 4 * f->vlans, ethertype);
	return 14 + 4u * f->vlans;
}

static uint32_t src_mask(uint32_t bits, uint32_t max)
{
	return bits >= max ? (max == 32 ? 0xffffffffu : 0xffffu) : (1u << bits) - 1;
}

/* The client's datagram (and whatever followed it in the frame) under an outer IP header. */
static void encapsulate(const struct lbm_config *c, const struct frame *f,
			const struct xg_backend *be, const struct xg_flow_key *flow,
			struct lbm_result *r)
{
	const struct xg_link *link = &c->link;
	uint32_t hash = xg_flow_hash(flow, c->set.hash_seed);
	size_t off;
	uint8_t *o;

	if (be->family == XG_AF_INET6) {
		off = write_eth(r->out, f, be->mac, link->mac, ETH_P_IPV6);
		o = r->out + off;
		memset(o, 0, 40);
		put32(o, 6u << 28 | (uint32_t)f->tos << 20 | (hash & 0xfffff));
		put16(o + 4, (uint16_t)f->ip_len);
		o[6] = f->flow.family == XG_AF_INET6 ? P_IPV6 : P_IPIP;
		o[7] = TTL;
		memcpy(o + 8, link->src6.bytes, 16);
		if (link->src6_hash_bits) {
			uint32_t mask = src_mask(link->src6_hash_bits, 32);
			uint32_t word = (uint32_t)o[20] << 24 | o[21] << 16 | o[22] << 8 | o[23];

			put32(o + 20, (word & ~mask) | (hash & mask));
		}
		memcpy(o + 24, be->addr.bytes, 16);
		off += 40;
	} else {
		off = write_eth(r->out, f, be->mac, link->mac, ETH_P_IP);
		o = r->out + off;
		memset(o, 0, 20);
		o[0] = 0x45;
		o[1] = f->tos;
		put16(o + 2, (uint16_t)(f->ip_len + 20));
		if (f->flow.family == XG_AF_INET6 || f->df)
			put16(o + 6, 0x4000);
		o[8] = TTL;
		o[9] = f->flow.family == XG_AF_INET6 ? P_IPV6 : P_IPIP;
		memcpy(o + 12, &link->src4.v4, 4);
		if (link->src4_hash_bits) {
			uint32_t mask = src_mask(link->src4_hash_bits, 16);
			uint32_t word = (uint32_t)o[12] << 24 | o[13] << 16 | o[14] << 8 | o[15];

			put32(o + 12, (word & ~mask) | (hash & mask));
		}
		memcpy(o + 16, &be->addr.v4, 4);
		put16(o + 10, (uint16_t)~sum16(o, 20, 0));
		off += 20;
	}
	memcpy(r->out + off, f->b + f->l3, f->len - f->l3);
	r->out_len = off + f->len - f->l3;
}

/* Frag-needed / packet-too-big back to the client, from the VIP, quoting its datagram. */
static void too_big_reply(const struct frame *f, uint32_t mtu, struct lbm_result *r)
{
	bool v6 = f->flow.family == XG_AF_INET6;
	size_t off = write_eth(r->out, f, f->b + 6, f->b, v6 ? ETH_P_IPV6 : ETH_P_IP);
	uint8_t *ip = r->out + off, *icmp;

	if (v6) {
		uint8_t pseudo[40] = {};

		memset(ip, 0, 40);
		put32(ip, 6u << 28);
		put16(ip + 4, 8 + QUOTE);
		ip[6] = P_ICMPV6;
		ip[7] = TTL;
		memcpy(ip + 8, f->flow.dst.bytes, 16);
		memcpy(ip + 24, f->flow.src.bytes, 16);
		icmp = ip + 40;
		memset(icmp, 0, 8);
		icmp[0] = 2;
		put32(icmp + 4, mtu < 1280 ? 1280 : mtu);
		memcpy(icmp + 8, f->b + f->l3, QUOTE);
		memcpy(pseudo, ip + 8, 32);
		put32(pseudo + 32, 8 + QUOTE);
		pseudo[39] = P_ICMPV6;
		put16(icmp + 2, (uint16_t)~sum16(icmp, 8 + QUOTE, sum16(pseudo, 40, 0)));
	} else {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		put16(ip + 2, 20 + 8 + QUOTE);
		ip[8] = TTL;
		ip[9] = P_ICMP;
		memcpy(ip + 12, &f->flow.dst.v4, 4);
		memcpy(ip + 16, &f->flow.src.v4, 4);
		put16(ip + 10, (uint16_t)~sum16(ip, 20, 0));
		icmp = ip + 20;
		memset(icmp, 0, 8);
		icmp[0] = 3;
		icmp[1] = 4;
		put16(icmp + 6, (uint16_t)mtu);
		memcpy(icmp + 8, f->b + f->l3, QUOTE);
		put16(icmp + 2, (uint16_t)~sum16(icmp, 8 + QUOTE, 0));
	}
	r->out_len = (size_t)(icmp - r->out) + 8 + QUOTE;
}

/*
 * Sends the frame to backend be (a client packet, or an ICMP error about flow): checks the
 * link, the forwarding mode and the MTU.
 */
static void forward(const struct lbm_config *c, const struct frame *f, const struct lbm_service *s,
		    const struct xg_backend *be, const struct xg_flow_key *flow, bool icmp_error,
		    struct lbm_result *r)
{
	const struct xg_link *link = &c->link;
	uint32_t outer = be->family == XG_AF_INET6 ? 40 : 20;

	if (!link->ifindex)
		return fate(r, LBM_DROP, XG_R_DROP_NO_LINK, "link not configured");
	if (s->vip.fwd == XG_FWD_L2) {
		if (be->family != f->flow.family)
			return fate(r, LBM_DROP, XG_R_DROP_FAMILY, "l2 to the other family");
		memcpy(r->out, f->b, f->len);
		memcpy(r->out, be->mac, 6);
		memcpy(r->out + 6, link->mac, 6);
		r->out_len = f->len;
		return fate(r, LBM_TX, icmp_error ? XG_R_ICMP_ERR_FWD : XG_R_FWD_L2, "l2");
	}
	if (link->mtu && f->ip_len + outer > link->mtu) {
		if (icmp_error)
			return fate(r, LBM_DROP, XG_R_DROP_TOO_BIG, "forwarded ICMP error too big");
		if (f->ip_len < QUOTE)
			return fate(r, LBM_DROP, XG_R_DROP_TOO_BIG, "too big, too short to quote");
		if (f->flow.family == XG_AF_INET && !f->df)
			return fate(r, LBM_DROP, XG_R_DROP_TOO_BIG, "too big, IPv4 without DF");
		too_big_reply(f, link->mtu - outer, r);
		return fate(r, LBM_TX, XG_R_ICMP_TOO_BIG_SENT, "too big: ICMP to the client");
	}
	encapsulate(c, f, be, flow, r);
	fate(r, LBM_TX, icmp_error ? XG_R_ICMP_ERR_FWD : XG_R_FWD_IPIP, "ipip");
}

/* ---- selection ---- */

static void active_add(struct lbm_result *r, uint32_t id, int64_t delta)
{
	for (int i = 0; i < r->nactive; i++)
		if (r->active[i].id == id) {
			r->active[i].delta += delta;
			return;
		}
	r->active[r->nactive].id = id;
	r->active[r->nactive++].delta = delta;
}

/* A backend for a new flow by the service's table and algorithm. */
static uint32_t select_backend(const struct lbm_config *c, const struct lbm_state *st,
			       const struct lbm_service *s, const struct xg_flow_key *flow,
			       struct lbm_result *r)
{
	uint32_t n = s->n, idx, best = XG_BACKEND_NONE, best_w = 1;
	int64_t best_a = 0;

	if (!n)
		return XG_BACKEND_NONE;
	switch (s->vip.algo) {
	case XG_ALGO_SH:
		idx = xg_src_hash(&flow->src, flow->family, c->set.hash_seed) % n;
		return s->table[idx];
	case XG_ALGO_RR:
		idx = st->rr_cursor(st->ctx, s->vip.id) % n;
		r->rr_moved = true;
		r->rr_after = idx + 1;
		return s->table[idx];
	case XG_ALGO_LC:
		for (uint32_t i = 0; i < n && i < XG_LC_MAX_BACKENDS; i++) {
			uint32_t id = s->table[i];
			const struct xg_backend *be = backend(c, id);
			int64_t a;

			if (!be || !takes_new(be, s->vip.id))
				continue;
			a = st->active(st->ctx, id);
			a = a > 0 ? a : 0;
			if (best == XG_BACKEND_NONE || a * best_w < best_a * be->weight) {
				best = id;
				best_a = a;
				best_w = be->weight;
			}
		}
		return best;
	default:
		return s->table[xg_flow_hash(flow, c->set.hash_seed) % n];
	}
}

/* Persistence first when the service has it, then the algorithm. */
static uint32_t select_new(const struct lbm_config *c, const struct lbm_state *st,
			   const struct lbm_service *s, const struct xg_flow_key *flow,
			   struct lbm_result *r)
{
	struct xg_persist_key pk = { .src = flow->src, .vip_id = s->vip.id, .family = flow->family };
	struct xg_persist_value pv;
	const struct xg_backend *be;
	bool found;
	uint32_t id;

	if (!s->vip.persist_sec)
		return select_backend(c, st, s, flow, r);
	found = st->persist_get(st->ctx, &pk, &pv);
	if (found && st->now_ns - pv.last_seen_ns < (uint64_t)s->vip.persist_sec * 1000000000ull) {
		be = backend(c, pv.backend_id);
		if (be && takes_new(be, s->vip.id)) {
			r->info[XG_R_PERSIST_HIT] = 1;
			r->persist_written = true;
			r->persist_backend = pv.backend_id;
			return pv.backend_id;
		}
	}
	id = select_backend(c, st, s, flow, r);
	if (id != XG_BACKEND_NONE) {
		r->persist_written = true;
		r->persist_backend = id;
		if (!found)
			r->info[XG_R_PERSIST_INSERT] = 1;
	}
	return id;
}

static bool fin_or_rst(const struct frame *f)
{
	return f->flow.proto == P_TCP && (f->tcp_flags & 0x05);
}

/* The flow's backend through the connection table (entry ct if has_ct). */
static uint32_t conntrack(const struct lbm_config *c, const struct lbm_state *st,
			  const struct frame *f, const struct lbm_service *s, bool has_ct,
			  const struct xg_ct_value *ct, struct lbm_result *r)
{
	uint32_t vid = s->vip.id, id;
	bool syn = f->flow.proto == P_TCP && (f->tcp_flags & 0x12) == 0x02, renew;
	const struct xg_backend *be, *old;
	uint64_t udp_timeout = c->set.ct_timeout_udp_ns ?: XG_CT_TIMEOUT_UDP_DEFAULT_NS;

	if (!has_ct) {
		r->info[XG_R_CT_MISS] = 1;
		id = select_new(c, st, s, &f->flow, r);
		if (id == XG_BACKEND_NONE)
			return id;
		r->new_flow = true;
		r->ct_written = true;
		r->info[XG_R_CT_INSERT] = 1;
		r->ct_after = (struct xg_ct_value){ .backend_id = id, .vip_id = vid,
						    .flags = fin_or_rst(f) ? XG_CT_F_FIN : 0 };
		if (!r->ct_after.flags)
			active_add(r, id, 1);
		return id;
	}
	renew = (f->flow.proto == P_UDP && st->now_ns - ct->last_seen_ns > udp_timeout) ||
		((ct->flags & XG_CT_F_FIN) && syn);
	be = backend(c, ct->backend_id);
	if (!renew && ct->vip_id == vid && be && keeps_flows(be, vid)) {
		r->info[XG_R_CT_HIT] = 1;
		r->ct_written = true;
		r->ct_after = *ct;
		if (fin_or_rst(f) && !(ct->flags & XG_CT_F_FIN)) {
			r->ct_after.flags |= XG_CT_F_FIN;
			active_add(r, ct->backend_id, -1);
			r->info[XG_R_CT_CLOSE] = 1;
		}
		return ct->backend_id;
	}
	/* Stale, closed and reopened, or its backend cannot keep it: the same entry moves. */
	id = select_new(c, st, s, &f->flow, r);
	if (id == XG_BACKEND_NONE)
		return id;
	old = backend(c, ct->backend_id);
	if (!(ct->flags & XG_CT_F_FIN) && old && old->vip_id == ct->vip_id)
		active_add(r, ct->backend_id, -1);
	r->ct_written = true;
	r->ct_after = (struct xg_ct_value){ .backend_id = id, .vip_id = vid,
					    .flags = fin_or_rst(f) ? XG_CT_F_FIN : 0 };
	if (!r->ct_after.flags)
		active_add(r, id, 1);
	r->info[XG_R_CT_RESELECT] = 1;
	r->new_flow = renew;
	return id;
}

/* The service an entry names, if it is still this packet's (in use, same address/proto/port). */
static const struct lbm_service *entry_service(const struct lbm_config *c,
					       const struct xg_ct_value *ct,
					       const struct xg_flow_key *flow)
{
	const struct lbm_service *s;

	if (ct->vip_id >= c->max_vips)
		return NULL;
	s = &c->svc[ct->vip_id];
	if (!s->in_use || s->key.proto != flow->proto || s->key.family != flow->family ||
	    (s->key.port != flow->dport && s->key.port != 0) || !addr_eq(&s->key.addr, &flow->dst))
		return NULL;
	return s;
}

static void balance(const struct lbm_config *c, const struct lbm_state *st,
		    const struct frame *f, struct lbm_result *r)
{
	const struct lbm_service *s = NULL;
	struct xg_ct_value ct;
	bool has_ct = st->ct_get(st->ctx, &f->flow, &ct);
	const struct xg_backend *be;
	uint32_t id;

	if (has_ct)
		s = entry_service(c, &ct, &f->flow);
	if (!s)
		s = service_of(c, &f->flow);
	if (!s)
		return not_balanced(c, f, r, XG_R_PASS_NO_SERVICE, "no service on this port");
	r->vip_id = s->vip.id;
	r->flow = f->flow;
	id = conntrack(c, st, f, s, has_ct, &ct, r);
	be = id == XG_BACKEND_NONE ? NULL : backend(c, id);
	if (!be) {
		r->new_flow = false;
		return fate(r, LBM_DROP, XG_R_DROP_NO_BACKEND, "no live backend");
	}
	r->backend_id = id;
	forward(c, f, s, be, &f->flow, false, r);
	/*
	 * Service and backend counters: packets and bytes sent to the backend; a new flow once
	 * its backend is chosen and its first packet left (forwarded, or answered with too-big).
	 */
	r->flow_sent = r->action == LBM_TX && r->reason != XG_R_ICMP_TOO_BIG_SENT;
	r->new_flow = r->new_flow && r->action == LBM_TX;
}

/* ---- ICMP ---- */

/* The flow an ICMP error quotes (a packet VIP -> client, reversed); false if none. */
static bool quoted_flow(const struct frame *f, struct xg_flow_key *q)
{
	const uint8_t *in = f->b + f->l4 + 8;
	size_t at = f->l4 + 8;

	memset(q, 0, sizeof(*q));
	if (f->flow.family == XG_AF_INET) {
		size_t ihl;

		if (at + 20 > f->end || in[0] >> 4 != 4 || (in[0] & 0xf) < 5)
			return false;
		ihl = (in[0] & 0xfu) * 4;
		if (memcmp(in + 12, &f->flow.dst.v4, 4) || (in[9] != P_TCP && in[9] != P_UDP))
			return false;
		if (at + ihl + 4 > f->end)
			return false;
		q->family = XG_AF_INET;
		q->proto = in[9];
		memcpy(&q->src.v4, in + 16, 4);
		memcpy(&q->dst.v4, in + 12, 4);
		memcpy(&q->sport, in + ihl + 2, 2);
		memcpy(&q->dport, in + ihl, 2);
		return true;
	}
	if (at + 44 > f->end || in[0] >> 4 != 6 || (in[6] != P_TCP && in[6] != P_UDP) ||
	    memcmp(in + 8, f->flow.dst.bytes, 16))
		return false;
	q->family = XG_AF_INET6;
	q->proto = in[6];
	memcpy(q->src.bytes, in + 24, 16);
	memcpy(q->dst.bytes, in + 8, 16);
	memcpy(&q->sport, in + 42, 2);
	memcpy(&q->dport, in + 40, 2);
	return true;
}

static void echo_reply(const struct frame *f, struct lbm_result *r)
{
	uint8_t *ip, *icmp;

	memcpy(r->out, f->b, f->len);
	r->out_len = f->len;
	memcpy(r->out, f->b + 6, 6);
	memcpy(r->out + 6, f->b, 6);
	ip = r->out + f->l3;
	icmp = r->out + f->l4;
	if (f->flow.family == XG_AF_INET6) {
		memcpy(ip + 8, f->flow.dst.bytes, 16);
		memcpy(ip + 24, f->flow.src.bytes, 16);
		ip[7] = TTL;
		icmp[0] = 129;
		csum_update(icmp + 2, (uint16_t)(128 << 8 | icmp[1]), (uint16_t)(129 << 8 | icmp[1]));
	} else {
		uint16_t old = get16(ip + 8);

		memcpy(ip + 12, &f->flow.dst.v4, 4);
		memcpy(ip + 16, &f->flow.src.v4, 4);
		ip[8] = TTL;
		csum_update(ip + 10, old, get16(ip + 8));
		icmp[0] = 0;
		csum_update(icmp + 2, (uint16_t)(8 << 8 | icmp[1]), (uint16_t)(icmp[1]));
	}
	fate(r, LBM_TX, XG_R_ICMP_ECHO_REPLY, "echo reply");
}

/* An ICMP error about one of our flows goes, unchanged inside, to that flow's backend. */
static void icmp_error(const struct lbm_config *c, const struct lbm_state *st,
		       const struct frame *f, const struct xg_flow_key *q, struct lbm_result *r)
{
	const struct lbm_service *s = service_of(c, q);
	const struct xg_backend *be;
	struct xg_ct_value ct;
	uint32_t id = XG_BACKEND_NONE;

	if (!s)
		return pass_untouched(r, f, XG_R_PASS_ICMP_NO_FLOW, "error, no service");
	r->vip_id = s->vip.id;
	r->flow = *q;
	if (st->ct_get(st->ctx, q, &ct) && ct.vip_id == s->vip.id &&
	    (be = backend(c, ct.backend_id)) && keeps_flows(be, s->vip.id))
		id = ct.backend_id;
	else if (!s->vip.persist_sec &&
		 (s->vip.algo == XG_ALGO_MAGLEV || s->vip.algo == XG_ALGO_SH))
		id = select_backend(c, st, s, q, r);
	be = id == XG_BACKEND_NONE ? NULL : backend(c, id);
	if (!be)
		return pass_untouched(r, f, XG_R_PASS_ICMP_NO_FLOW, "error, flow not placed");
	r->backend_id = id;
	forward(c, f, s, be, q, true, r);
}

static void icmp(const struct lbm_config *c, const struct lbm_state *st, const struct frame *f,
		 struct lbm_result *r)
{
	bool v6 = f->flow.family == XG_AF_INET6;
	struct xg_flow_key q;
	uint8_t type;

	if (!is_vip_addr(c, &f->flow.dst, f->flow.family))
		return pass_untouched(r, f, XG_R_PASS_NOT_VIP, "filter false positive");
	if (f->l4 + 8 > f->end)
		return fate(r, LBM_DROP, XG_R_DROP_MALFORMED, "ICMP header truncated");
	type = f->b[f->l4];
	if (type == (v6 ? 128 : 8)) {
		if (addr_flags(c, &f->flow.dst, f->flow.family) & XG_ADDR_F_NO_ECHO)
			return pass_untouched(r, f, XG_R_PASS_ICMP, "echo disabled");
		return echo_reply(f, r);
	}
	if ((!v6 && (type == 3 || type == 11)) || (v6 && type >= 1 && type <= 3)) {
		if (quoted_flow(f, &q))
			return icmp_error(c, st, f, &q, r);
	}
	pass_untouched(r, f, XG_R_PASS_ICMP, "other ICMP");
}

/* ---- the balancer ---- */

void lbm_run_lb(const struct lbm_config *c, const struct lbm_state *st, const uint8_t *frame,
		size_t len, struct lbm_result *r)
{
	struct frame f = { .b = frame, .len = len };
	int reason;

	memset(r, 0, sizeof(*r));
	r->vip_id = XG_VIP_NONE;
	r->backend_id = XG_BACKEND_NONE;
	if (len < 14)	/* never reaches XDP */
		return pass_untouched(r, &f, XG_R_PASS_TRUNCATED, "runt");
	reason = parse_link(&f);
	if (reason)
		return pass_untouched(r, &f, reason, "not IP or truncated");
	if (!filter_match(c, &f.flow.dst, f.flow.family))
		return pass_untouched(r, &f, XG_R_PASS_NOT_VIP, "filter");
	reason = parse_ip(&f);
	if (reason)
		return not_balanced(c, &f, r, reason, "IP header");
	if (f.proto == (f.flow.family == XG_AF_INET6 ? P_ICMPV6 : P_ICMP))
		return icmp(c, st, &f, r);
	if (f.proto != P_TCP && f.proto != P_UDP)
		return not_balanced(c, &f, r, XG_R_PASS_PROTO, "protocol");
	reason = parse_ports(&f);
	if (reason)
		return not_balanced(c, &f, r, reason, "L4 header");
	balance(c, st, &f, r);
}

/* ---- the decap program ---- */

static bool decap_local(const struct lbm_decap *d, const struct xg_flow_key *flow)
{
	for (int i = 0; i < d->n; i++)
		if (d->local[i].family == flow->family && addr_eq(&d->local[i].addr, &flow->dst))
			return true;
	return false;
}

int lbm_run_decap(const struct lbm_decap *d, const uint8_t *frame, size_t len,
		  uint32_t *reason, uint8_t *out, size_t *out_len)
{
	struct frame f = { .b = frame, .len = len };
	const uint8_t *ip, *in;
	size_t strip;
	uint8_t inner;
	int rc;

	memcpy(out, frame, len);
	*out_len = len;
	rc = len < 14 ? XG_R_PASS_TRUNCATED : parse_link(&f);
	if (rc) {
		*reason = rc == XG_R_PASS_NOT_IP ? XG_DECAP_R_PASS_NOT_IP :
						    XG_DECAP_R_PASS_TRUNCATED;
		return LBM_PASS;
	}
	ip = frame + f.l3;
	if (f.flow.family == XG_AF_INET) {
		inner = ip[9];
		strip = (ip[0] & 0xfu) * 4;
		if (ip[0] >> 4 != 4 || strip < 20 || (inner != P_IPIP && inner != P_IPV6)) {
			*reason = XG_DECAP_R_PASS_NOT_ENCAP;
			return LBM_PASS;
		}
	} else {
		inner = ip[6];
		strip = 40;
		if (ip[0] >> 4 != 6 || (inner != P_IPIP && inner != P_IPV6)) {
			*reason = XG_DECAP_R_PASS_NOT_ENCAP;
			return LBM_PASS;
		}
	}
	if (!decap_local(d, &f.flow)) {
		*reason = XG_DECAP_R_PASS_NOT_LOCAL;
		return LBM_PASS;
	}
	if (f.flow.family == XG_AF_INET && (get16(ip + 6) & 0x3fff)) {
		*reason = XG_DECAP_R_PASS_FRAGMENT;
		return LBM_PASS;
	}
	in = ip + strip;
	if (inner == P_IPIP ? f.l3 + strip + 20 > len || in[0] >> 4 != 4 || (in[0] & 0xf) < 5 :
			      f.l3 + strip + 40 > len || in[0] >> 4 != 6) {
		*reason = XG_DECAP_R_DROP_MALFORMED;
		return LBM_DROP;
	}
	rc = (int)write_eth(out, &f, frame, frame + 6, inner == P_IPIP ? ETH_P_IP : ETH_P_IPV6);
	memcpy(out + rc, in, len - f.l3 - strip);
	*out_len = (size_t)rc + len - f.l3 - strip;
	*reason = XG_DECAP_R_STRIPPED;
	return LBM_PASS;
}
