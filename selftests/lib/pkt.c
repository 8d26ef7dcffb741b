// SPDX-License-Identifier: GPL-2.0
/* Test packet builder with its own checksum code (independent of the datapath's). */
#include "lib/pkt.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pkt_payload(struct pkt *p, size_t len, uint8_t seed)
{
	if (len > PKT_MAX)
		abort();
	for (size_t i = 0; i < len; i++)
		p->b[i] = (uint8_t)(seed + i * 7);
	p->len = len;
}

void pkt_push(struct pkt *p, const void *hdr, size_t n)
{
	if (p->len + n > PKT_MAX)
		abort();
	memmove(p->b + n, p->b, p->len);
	memcpy(p->b, hdr, n);
	p->len += n;
}

void pkt_truncate(struct pkt *p, size_t n)
{
	if (n < p->len)
		p->len = n;
}

uint32_t pkt_sum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *b = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (i < len)
		sum += (uint32_t)b[i] << 8;
	return sum;
}

uint16_t pkt_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
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

static void addr_bytes(int family, const char *s, uint8_t *out)
{
	if (inet_pton(family == 6 ? AF_INET6 : AF_INET, s, out) != 1) {
		fprintf(stderr, "pkt: bad address %s\n", s);
		abort();
	}
}

/* Sum of the pseudo header for an L4 length and protocol. */
static uint32_t pseudo_sum(const struct pkt_ip *ip, size_t l4len, uint8_t proto)
{
	uint8_t a[16], b[16];
	int alen = ip->family == 6 ? 16 : 4;
	uint32_t sum;

	addr_bytes(ip->family, ip->src, a);
	addr_bytes(ip->family, ip->dst, b);
	sum = pkt_sum(a, alen, 0);
	sum = pkt_sum(b, alen, sum);
	sum += proto;
	sum += (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff);
	return sum;
}

void pkt_push_tcp(struct pkt *p, const struct pkt_ip *ip, uint16_t sport, uint16_t dport,
		  uint8_t flags)
{
	uint8_t h[20] = {};
	uint32_t sum;

	put16(h, sport);
	put16(h + 2, dport);
	put32(h + 4, 0x01020304);	/* seq */
	put32(h + 8, flags & 0x10 ? 0x0a0b0c0d : 0);
	h[12] = 5 << 4;
	h[13] = flags;
	put16(h + 14, 65535);
	pkt_push(p, h, sizeof(h));
	sum = pseudo_sum(ip, p->len, 6);
	put16(p->b + 16, pkt_fold(pkt_sum(p->b, p->len, sum)));
}

void pkt_push_udp(struct pkt *p, const struct pkt_ip *ip, uint16_t sport, uint16_t dport)
{
	uint8_t h[8] = {};
	uint16_t c;

	put16(h, sport);
	put16(h + 2, dport);
	put16(h + 4, (uint16_t)(p->len + 8));
	pkt_push(p, h, sizeof(h));
	c = pkt_fold(pkt_sum(p->b, p->len, pseudo_sum(ip, p->len, 17)));
	put16(p->b + 6, c ? c : 0xffff);
}

void pkt_push_icmp(struct pkt *p, const struct pkt_ip *ip, uint8_t type, uint8_t code,
		   uint32_t rest)
{
	uint8_t h[8] = { type, code };
	uint32_t sum = 0;

	put32(h + 4, rest);
	pkt_push(p, h, sizeof(h));
	if (ip->family == 6)
		sum = pseudo_sum(ip, p->len, 58);
	put16(p->b + 2, pkt_fold(pkt_sum(p->b, p->len, sum)));
}

void pkt_push_ip6_ext(struct pkt *p, uint8_t type, uint8_t next, uint8_t hdrlen)
{
	uint8_t h[8 * 256] = { next };
	size_t n = 8;

	if (type == 44) {		/* fragment: offset 0, M set */
		h[3] = 1;
		put32(h + 4, 0x12345678);
	} else {
		h[1] = hdrlen;
		n = 8 * ((size_t)hdrlen + 1);
		h[2] = 1;		/* PadN option filling the rest */
		h[3] = (uint8_t)(n - 4);
	}
	pkt_push(p, h, n);
}

void pkt_push_ip(struct pkt *p, const struct pkt_ip *ip)
{
	uint8_t ttl = ip->ttl ? ip->ttl : 64;

	if (ip->family == 6) {
		uint8_t h[40] = {};

		put32(h, 6u << 28 | (uint32_t)ip->tos << 20 | (ip->flow_label & 0xfffff));
		put16(h + 4, (uint16_t)p->len);
		h[6] = ip->proto;
		h[7] = ttl;
		addr_bytes(6, ip->src, h + 8);
		addr_bytes(6, ip->dst, h + 24);
		pkt_push(p, h, sizeof(h));
		return;
	}
	uint8_t h[60] = {};
	size_t hl = 20 + ip->opt_len;

	h[0] = 0x40 | (uint8_t)(hl / 4);
	h[1] = ip->tos;
	put16(h + 2, (uint16_t)(p->len + hl));
	put16(h + 4, ip->id);
	put16(h + 6, (ip->df ? 0x4000 : 0) | ip->frag);
	h[8] = ttl;
	h[9] = ip->proto;
	addr_bytes(4, ip->src, h + 12);
	addr_bytes(4, ip->dst, h + 16);
	memset(h + 20, 1, ip->opt_len);		/* NOP options */
	put16(h + 10, pkt_fold(pkt_sum(h, hl, 0)));
	pkt_push(p, h, hl);
}

void pkt_mac(const char *s, uint8_t mac[6])
{
	unsigned int v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		abort();
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
}

void pkt_push_eth(struct pkt *p, const char *dst, const char *src, int ntags,
		  const uint16_t *tpid, const uint16_t *tci, uint16_t ethertype)
{
	uint8_t h[14 + 4 * 4];
	size_t n = 12;

	pkt_mac(dst, h);
	pkt_mac(src, h + 6);
	for (int i = 0; i < ntags; i++) {
		put16(h + n, tpid[i]);
		put16(h + n + 2, tci[i]);
		n += 4;
	}
	put16(h + n, ethertype);
	pkt_push(p, h, n + 2);
}

bool pkt_ipv4_csum_ok(const uint8_t *ip)
{
	size_t hl = (ip[0] & 0xf) * 4;

	return pkt_fold(pkt_sum(ip, hl, 0)) == 0;
}

bool pkt_l4_csum_ok(const uint8_t *ip, const uint8_t *l4, size_t len)
{
	uint32_t sum = 0;
	uint8_t proto;

	if ((ip[0] >> 4) == 6) {
		proto = l4 == ip + 40 ? ip[6] : 0;
		if (!proto)
			return false;
		sum = pkt_sum(ip + 8, 32, 0) + proto + (uint32_t)len;
	} else {
		proto = ip[9];
		if (proto != 1)
			sum = pkt_sum(ip + 12, 8, 0) + proto + (uint32_t)len;
	}
	return pkt_fold(pkt_sum(l4, len, sum)) == 0;
}
