/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Health probes through the encapsulation: a TCP SYN to VIP:PORT, wrapped in IPIP / IP6IP6 /
 * 4in6 / 6in4 to one backend exactly as the XDP balancer forwards a client's packet, sent from
 * userspace with a raw socket. The backend's decap program strips it and its stack answers
 * from the VIP straight to us (direct server return); a SYN-ACK proves decap, the VIP binding
 * and a listener. The answer is caught by a raw TCP socket filtered (classic BPF) on a local
 * port reserved for the probes; then an encapsulated RST closes the half-open connection.
 */
#ifndef XDPGW_GWD_HEALTH_ENCAP_H
#define XDPGW_GWD_HEALTH_ENCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdpgw/abi.h>

struct st_h2o_evloop_t;
struct hc_encap;

/* What came back for a probe: seq is the probe's own sequence number (the answer's ack - 1). */
struct hc_encap_reply {
	uint32_t seq;
	uint32_t ack_seq;	/* the answer's ack number, for the RST */
	uint32_t peer_seq;	/* the answer's sequence number */
	struct xg_addr from;	/* the answer's source: the VIP */
	uint8_t family;
	uint16_t from_port;	/* host order */
	bool syn_ack;		/* SYN+ACK (a listener); else RST */
};

typedef void (*hc_encap_reply_cb)(void *ctx, const struct hc_encap_reply *r);

/*
 * Opens the receive side on loop (raw TCP sockets for IPv4 and IPv6, filtered on a reserved
 * local port) and calls cb for every answer. Returns NULL with a cause in err (errlen bytes)
 * when the sockets cannot be made (no CAP_NET_RAW).
 */
struct hc_encap *hc_encap_open(struct st_h2o_evloop_t *loop, hc_encap_reply_cb cb, void *ctx,
			       char *err, size_t errlen);
void hc_encap_close(struct hc_encap *e);

/* A probe packet's addresses: inner from src to vip:port, outer to backend. */
struct hc_encap_path {
	struct xg_addr vip, backend, src;
	uint8_t vip_family, backend_family;	/* src is of vip_family */
	uint16_t port;				/* host order */
};

/*
 * Finds the inner source for a probe to backend: the address this host sends from towards the
 * backend, or, when the VIP's family differs, an address of the VIP's family on the same
 * interface. Returns 0 or a negative errno with a cause in err.
 */
int hc_encap_source(const struct xg_addr *backend, uint8_t backend_family, uint8_t vip_family,
		    struct xg_addr *src, char *err, size_t errlen);

/* Sends a SYN (rst false, seq: the probe's sequence number) or a RST (seq: the RST's). */
int hc_encap_send(struct hc_encap *e, const struct hc_encap_path *p, uint32_t seq, bool rst,
		  char *err, size_t errlen);

/*
 * Builds the inner packet (IPv4 or IPv6 header and a TCP SYN with an MSS option, or a bare
 * RST) into buf. Returns its length, or 0 when buf is too small. For tests and hc_encap_send.
 */
size_t hc_encap_build(uint8_t *buf, size_t len, const struct hc_encap_path *p, uint16_t sport,
		      uint32_t seq, bool rst);

/* The local port the probes are sent from (host order), 0 before hc_encap_open. */
uint16_t hc_encap_port(const struct hc_encap *e);

#endif
