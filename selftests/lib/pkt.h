/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet builder for tests: frames are built from the inside out (payload, then L4, IP and
 * Ethernet headers pushed in front), with checksums from this file's own implementation, so
 * expected packets never share code with the datapath under test.
 */
#ifndef XDPGW_SELFTESTS_PKT_H
#define XDPGW_SELFTESTS_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_MAX 4096

struct pkt {
	uint8_t b[PKT_MAX];
	size_t len;
};

/* An IP header to push. Zero fields take: ttl 64, no options, no fragment bits. */
struct pkt_ip {
	int family;		/* 4 or 6 */
	const char *src;	/* textual addresses */
	const char *dst;
	uint8_t proto;		/* protocol / next header */
	uint8_t tos;		/* IPv4 TOS or IPv6 traffic class */
	uint8_t ttl;
	bool df;
	uint16_t id;
	uint16_t frag;		/* IPv4: MF bit (0x2000) and offset (8-byte units), OR-ed in */
	uint8_t opt_len;	/* IPv4 options bytes (multiple of 4), filled with NOPs */
	uint32_t flow_label;	/* IPv6 */
};

/* Content becomes len bytes of a pattern derived from seed. */
void pkt_payload(struct pkt *p, size_t len, uint8_t seed);
/* Prepends n raw bytes. */
void pkt_push(struct pkt *p, const void *hdr, size_t n);
/* Keeps the first n bytes. */
void pkt_truncate(struct pkt *p, size_t n);

/* L4 headers; ip gives the pseudo-header addresses (and family) for the checksum. */
void pkt_push_tcp(struct pkt *p, const struct pkt_ip *ip, uint16_t sport, uint16_t dport,
		  uint8_t flags);
void pkt_push_udp(struct pkt *p, const struct pkt_ip *ip, uint16_t sport, uint16_t dport);
/* ICMP (family 4) or ICMPv6 (family 6, pseudo-header sum) with the 4-byte rest of header. */
void pkt_push_icmp(struct pkt *p, const struct pkt_ip *ip, uint8_t type, uint8_t code,
		   uint32_t rest);
/* IPv6 extension header (hop-by-hop, routing, dst-opts: len 8*(hdrlen+1); fragment: 8). */
void pkt_push_ip6_ext(struct pkt *p, uint8_t type, uint8_t next, uint8_t hdrlen);

/* IPv4/IPv6 header with lengths (and the IPv4 checksum) over the current content. */
void pkt_push_ip(struct pkt *p, const struct pkt_ip *ip);

/*
 * Ethernet header: MACs as "aa:bb:cc:dd:ee:ff", then ntags VLAN tags (tpid, tci each) and the
 * ethertype.
 */
void pkt_push_eth(struct pkt *p, const char *dst, const char *src, int ntags,
		  const uint16_t *tpid, const uint16_t *tci, uint16_t ethertype);

/* RFC 1071 one's complement sum of len bytes starting with sum (not complemented). */
uint32_t pkt_sum(const void *data, size_t len, uint32_t sum);
uint16_t pkt_fold(uint32_t sum);

/* Checks the IPv4 header checksum of the header at ip. */
bool pkt_ipv4_csum_ok(const uint8_t *ip);
/* Checks the ICMP(v6)/TCP/UDP checksum of the L4 data at l4 (len bytes) under the IP header. */
bool pkt_l4_csum_ok(const uint8_t *ip, const uint8_t *l4, size_t len);

/* Parses "aa:bb:..." into 6 bytes; aborts on a malformed string (test bug). */
void pkt_mac(const char *s, uint8_t mac[6]);

#endif
