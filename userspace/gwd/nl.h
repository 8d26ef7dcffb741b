/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gwd's view of the kernel's network state through libnl-route: interfaces (index, MTU, MAC,
 * addresses), next hops (route lookups) and neighbour MACs, kept current by netlink events on
 * gwd's main loop. Unresolved neighbours are resolved by sending them a probe.
 */
#ifndef XDPGW_GWD_NL_H
#define XDPGW_GWD_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdpgw/abi.h>

struct nlw;
struct st_h2o_evloop_t;

enum nlw_event {
	NLW_LINK = 1 << 0,	/* an interface appeared, went away or changed (MTU, MAC, state) */
	NLW_ADDR = 1 << 1,	/* an address was added or removed */
	NLW_NEIGH = 1 << 2,	/* a neighbour entry changed */
	NLW_ROUTE = 1 << 3,	/* a route changed (next hops may differ) */
};

struct nlw_link {
	int ifindex;
	uint32_t mtu;
	uint8_t mac[6];
	bool up;
	bool has_src4, has_src6;	/* the first global address of each family */
	struct xg_addr src4, src6;
};

struct nlw_hop {
	int oif;			/* egress interface */
	bool gateway;			/* via a router (else the destination is on-link) */
	struct xg_addr via;		/* the neighbour to reach: gateway or destination */
	uint8_t via_family;
	bool has_mac;
	uint8_t mac[6];
};

/*
 * Opens the link, address and neighbour caches and a route-change watch, all served on loop;
 * cb(ctx, events) runs on the loop after each batch of changes. Returns NULL with err set.
 */
struct nlw *nlw_open(struct st_h2o_evloop_t *loop, void (*cb)(void *ctx, unsigned events),
		     void *ctx, char *err, size_t errlen);
void nlw_close(struct nlw *nl);

/* Interface ifname now. Returns 0 or -ENODEV. */
int nlw_link(struct nlw *nl, const char *ifname, struct nlw_link *out);

/*
 * The next hop towards dst (a route lookup like `ip route get`) and its MAC when the neighbour
 * table knows it (reachable, stale, delay, probe, permanent). With resolve, an unknown MAC is
 * asked for by sending a probe; a later NLW_NEIGH event tells when to look again.
 * Returns 0, -ENETUNREACH (no route), -EADDRNOTAVAIL (dst is a local address), or another
 * negative errno.
 */
int nlw_nexthop(struct nlw *nl, const struct xg_addr *dst, uint8_t family, bool resolve,
		struct nlw_hop *out);

/* Asks the kernel to resolve the next hop's MAC (a datagram to its discard port). */
void nlw_probe(struct nlw *nl, const struct nlw_hop *hop);

/* The MAC of neighbour (family, addr) on ifindex if known. */
bool nlw_neigh_mac(struct nlw *nl, int ifindex, const struct xg_addr *addr, uint8_t family,
		   uint8_t mac[6]);

/* Name of ifindex into name (IFNAMSIZ) or "if%d". */
const char *nlw_ifname(struct nlw *nl, int ifindex, char *name);

#endif
