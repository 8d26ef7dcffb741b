/* SPDX-License-Identifier: GPL-2.0 */
/* Parsing and printing of addresses, ports and protocols in the forms gwctl and YAML accept. */
#ifndef XDPGW_ADDR_H
#define XDPGW_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdpgw/abi.h>

/* Large enough for "[ipv6]:port/proto" and for MACs. */
#define ADDR_STRLEN 64

/* An endpoint as written by an operator: ADDR, ADDR:PORT, [V6]:PORT, with /tcp or /udp. */
struct endpoint {
	struct xg_addr addr;
	uint8_t family;		/* XG_AF_INET or XG_AF_INET6 */
	uint8_t proto;		/* IPPROTO_TCP (default) or IPPROTO_UDP */
	uint16_t port;		/* host order; 0 when absent */
	bool has_port;
	bool has_proto;
};

/* Parses a bare IPv4 or IPv6 address (no brackets, no port). Returns 0 or -EINVAL. */
int addr_parse(const char *s, struct xg_addr *addr, uint8_t *family);
/* Writes the address in canonical text form into buf (ADDR_STRLEN); returns buf. */
const char *addr_fmt(const struct xg_addr *addr, uint8_t family, char *buf);

/*
 * Parses "ADDR", "ADDR:PORT", "[V6ADDR]:PORT" or "[V6ADDR]", each optionally followed by
 * "/tcp" or "/udp". A bare IPv6 address without brackets is accepted when no port follows.
 * Returns 0, or -EINVAL with a human-readable cause in err (errlen bytes).
 */
int endpoint_parse(const char *s, struct endpoint *ep, char *err, size_t errlen);
/* Formats as ADDR:PORT/proto ([V6]:PORT/proto); the port part only when ep->port != 0. */
const char *endpoint_fmt(const struct endpoint *ep, char *buf);

/* "tcp" -> IPPROTO_TCP, "udp" -> IPPROTO_UDP; -EINVAL otherwise. */
int proto_parse(const char *s);
const char *proto_name(uint8_t proto);

/* Parses a port 1..65535 in decimal; -EINVAL or -ERANGE. */
int port_parse(const char *s, uint16_t *port);
/* Parses an unsigned decimal within [min, max]; -EINVAL or -ERANGE. */
int u32_parse(const char *s, uint32_t min, uint32_t max, uint32_t *out);

const char *mac_fmt(const uint8_t mac[6], char *buf);
int mac_parse(const char *s, uint8_t mac[6]);

/* Parses "ADDR/LEN" (CIDR); returns 0 or -EINVAL. */
int cidr_parse(const char *s, struct xg_addr *addr, uint8_t *family, uint8_t *prefix_len);
bool cidr_contains(const struct xg_addr *net, uint8_t family, uint8_t prefix_len,
		   const struct xg_addr *addr, uint8_t addr_family);

#endif
