// SPDX-License-Identifier: GPL-2.0
/* libnl-route caches on gwd's loop: links, addresses, neighbours; route lookups; probes. */
#include "gwd/nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <h2o.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/rtnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"

struct nlw {
	struct nl_cache_mngr *mngr;
	struct nl_cache *links, *addrs, *neighs;
	struct nl_sock *query;		/* synchronous route lookups */
	struct nl_sock *watch;		/* route change notifications */
	h2o_socket_t *mngr_sock, *watch_sock;
	int probe4, probe6;		/* UDP sockets that trigger neighbour resolution */
	void (*cb)(void *ctx, unsigned events);
	void *ctx;
	unsigned pending;		/* events seen in the current batch */
};

static int to_af(uint8_t family)
{
	return family == XG_AF_INET6 ? AF_INET6 : AF_INET;
}

static size_t addr_len(uint8_t family)
{
	return family == XG_AF_INET6 ? 16 : 4;
}

static void on_cache_change(struct nl_cache *cache, struct nl_object *obj, int action, void *arg)
{
	struct nlw *nl = arg;

	if (cache == nl->links)
		nl->pending |= NLW_LINK;
	else if (cache == nl->addrs)
		nl->pending |= NLW_ADDR;
	else if (cache == nl->neighs)
		nl->pending |= NLW_NEIGH;
}

static void flush_events(struct nlw *nl)
{
	unsigned ev = nl->pending;

	nl->pending = 0;
	if (ev && nl->cb)
		nl->cb(nl->ctx, ev);
}

static void on_mngr_ready(h2o_socket_t *sock, const char *err)
{
	struct nlw *nl = sock->data;
	int ret = nl_cache_mngr_data_ready(nl->mngr);

	if (ret < 0)
		log_warn("netlink: %s; resynchronising", nl_geterror(ret));
	if (ret < 0) {
		/* Lost events (ENOBUFS): reload everything and tell the module all changed. */
		nl_cache_refill(nl->query, nl->links);
		nl_cache_refill(nl->query, nl->addrs);
		nl_cache_refill(nl->query, nl->neighs);
		nl->pending |= NLW_LINK | NLW_ADDR | NLW_NEIGH | NLW_ROUTE;
	}
	flush_events(nl);
}

static int count_msg(struct nl_msg *msg, void *arg)
{
	struct nlw *nl = arg;

	nl->pending |= NLW_ROUTE;
	return NL_OK;
}

static void on_watch_ready(h2o_socket_t *sock, const char *err)
{
	struct nlw *nl = sock->data;
	int ret;

	do
		ret = nl_recvmsgs_default(nl->watch);
	while (ret > 0);
	if (ret < 0 && ret != -NLE_AGAIN) {
		log_debug("netlink route watch: %s", nl_geterror(ret));
		nl->pending |= NLW_ROUTE;
	}
	flush_events(nl);
}

/* The loop watches a duplicate, so closing the h2o socket leaves libnl's descriptor alone. */
static h2o_socket_t *watch_fd(struct st_h2o_evloop_t *loop, int fd, struct nlw *nl,
			      h2o_socket_cb cb)
{
	h2o_socket_t *s = h2o_evloop_socket_create((h2o_evloop_t *)loop,
						   fcntl(fd, F_DUPFD_CLOEXEC, 0),
						   H2O_SOCKET_FLAG_DONT_READ);

	s->data = nl;
	h2o_socket_read_start(s, cb);
	return s;
}

struct nlw *nlw_open(struct st_h2o_evloop_t *loop, void (*cb)(void *ctx, unsigned events),
		     void *ctx, char *err, size_t errlen)
{
	struct nlw *nl = calloc(1, sizeof(*nl));
	int ret;

	if (!nl) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	nl->cb = cb;
	nl->ctx = ctx;
	nl->probe4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	nl->probe6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	nl->query = nl_socket_alloc();
	nl->watch = nl_socket_alloc();
	if (!nl->query || !nl->watch) {
		snprintf(err, errlen, "netlink: out of memory");
		goto fail;
	}
	/* One answer per lookup: no ACK to read after it (or the next lookup reads it). */
	nl_socket_disable_auto_ack(nl->query);
	ret = nl_connect(nl->query, NETLINK_ROUTE);
	if (!ret)
		ret = nl_cache_mngr_alloc(NULL, NETLINK_ROUTE, NL_AUTO_PROVIDE, &nl->mngr);
	if (!ret)
		ret = nl_cache_mngr_add(nl->mngr, "route/link", on_cache_change, nl, &nl->links);
	if (!ret)
		ret = nl_cache_mngr_add(nl->mngr, "route/addr", on_cache_change, nl, &nl->addrs);
	if (!ret)
		ret = nl_cache_mngr_add(nl->mngr, "route/neigh", on_cache_change, nl, &nl->neighs);
	if (ret) {
		snprintf(err, errlen, "netlink: %s", nl_geterror(ret));
		goto fail;
	}
	nl_socket_disable_seq_check(nl->watch);
	nl_socket_modify_cb(nl->watch, NL_CB_VALID, NL_CB_CUSTOM, count_msg, nl);
	ret = nl_connect(nl->watch, NETLINK_ROUTE);
	if (!ret)
		ret = nl_socket_add_memberships(nl->watch, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, 0);
	if (!ret)
		ret = nl_socket_set_nonblocking(nl->watch);
	if (ret) {
		snprintf(err, errlen, "netlink route watch: %s", nl_geterror(ret));
		goto fail;
	}
	nl->mngr_sock = watch_fd(loop, nl_cache_mngr_get_fd(nl->mngr), nl, on_mngr_ready);
	nl->watch_sock = watch_fd(loop, nl_socket_get_fd(nl->watch), nl, on_watch_ready);
	return nl;
fail:
	nlw_close(nl);
	return NULL;
}

void nlw_close(struct nlw *nl)
{
	if (!nl)
		return;
	if (nl->mngr_sock)
		h2o_socket_close(nl->mngr_sock);
	if (nl->watch_sock)
		h2o_socket_close(nl->watch_sock);
	if (nl->mngr)
		nl_cache_mngr_free(nl->mngr);
	if (nl->watch)
		nl_socket_free(nl->watch);
	if (nl->query)
		nl_socket_free(nl->query);
	if (nl->probe4 >= 0)
		close(nl->probe4);
	if (nl->probe6 >= 0)
		close(nl->probe6);
	free(nl);
}

struct first_addr {
	int ifindex;
	struct nlw_link *out;
};

static void pick_addr(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct first_addr *f = arg;
	struct nl_addr *local = rtnl_addr_get_local(a);
	int fam = rtnl_addr_get_family(a);

	if (rtnl_addr_get_ifindex(a) != f->ifindex || !local ||
	    rtnl_addr_get_scope(a) != RT_SCOPE_UNIVERSE)
		return;
	if (fam == AF_INET && !f->out->has_src4 && nl_addr_get_len(local) == 4) {
		memcpy(&f->out->src4.v4, nl_addr_get_binary_addr(local), 4);
		f->out->has_src4 = true;
	} else if (fam == AF_INET6 && !f->out->has_src6 && nl_addr_get_len(local) == 16 &&
		   !(rtnl_addr_get_flags(a) & (IFA_F_TENTATIVE | IFA_F_DADFAILED))) {
		memcpy(f->out->src6.bytes, nl_addr_get_binary_addr(local), 16);
		f->out->has_src6 = true;
	}
}

int nlw_link(struct nlw *nl, const char *ifname, struct nlw_link *out)
{
	struct rtnl_link *l = rtnl_link_get_by_name(nl->links, ifname);
	struct nl_addr *mac;
	struct first_addr f = { .out = out };

	memset(out, 0, sizeof(*out));
	if (!l)
		return -ENODEV;
	out->ifindex = rtnl_link_get_ifindex(l);
	out->mtu = rtnl_link_get_mtu(l);
	out->up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
	mac = rtnl_link_get_addr(l);
	if (mac && nl_addr_get_len(mac) == 6)
		memcpy(out->mac, nl_addr_get_binary_addr(mac), 6);
	rtnl_link_put(l);
	f.ifindex = out->ifindex;
	nl_cache_foreach(nl->addrs, pick_addr, &f);
	return 0;
}

const char *nlw_ifname(struct nlw *nl, int ifindex, char *name)
{
	if (!rtnl_link_i2name(nl->links, ifindex, name, IFNAMSIZ))
		snprintf(name, IFNAMSIZ, "if%d", ifindex);
	return name;
}

bool nlw_neigh_mac(struct nlw *nl, int ifindex, const struct xg_addr *addr, uint8_t family,
		   uint8_t mac[6])
{
	struct nl_addr *dst = nl_addr_build(to_af(family), addr->bytes, addr_len(family));
	struct rtnl_neigh *n;
	struct nl_addr *ll;
	bool ok = false;

	if (!dst)
		return false;
	n = rtnl_neigh_get(nl->neighs, ifindex, dst);
	nl_addr_put(dst);
	if (!n)
		return false;
	ll = rtnl_neigh_get_lladdr(n);
	if (ll && nl_addr_get_len(ll) == 6 &&
	    (rtnl_neigh_get_state(n) & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE |
					NUD_PERMANENT | NUD_NOARP))) {
		memcpy(mac, nl_addr_get_binary_addr(ll), 6);
		ok = true;
	}
	rtnl_neigh_put(n);
	return ok;
}

struct route_result {
	bool found;
	int type;
	int oif;
	bool gateway;
	uint8_t gw[16];
	int gw_len;
};

static int parse_route(struct nl_msg *msg, void *arg)
{
	struct route_result *r = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[RTA_MAX + 1];
	struct rtmsg *rtm = nlmsg_data(h);

	if (h->nlmsg_type != RTM_NEWROUTE || nlmsg_parse(h, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return NL_SKIP;
	r->found = true;
	r->type = rtm->rtm_type;
	if (tb[RTA_OIF])
		r->oif = (int)nla_get_u32(tb[RTA_OIF]);
	if (tb[RTA_GATEWAY] && nla_len(tb[RTA_GATEWAY]) <= 16) {
		r->gateway = true;
		r->gw_len = nla_len(tb[RTA_GATEWAY]);
		memcpy(r->gw, nla_data(tb[RTA_GATEWAY]), (size_t)r->gw_len);
	}
	return NL_OK;
}

static int route_get(struct nlw *nl, const struct xg_addr *dst, uint8_t family,
		     struct route_result *r)
{
	struct rtmsg rtm = { .rtm_family = (unsigned char)to_af(family),
			     .rtm_dst_len = (unsigned char)(addr_len(family) * 8) };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_REQUEST);
	int ret;

	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, RTA_DST, (int)addr_len(family), dst->bytes) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	ret = nl_send_auto(nl->query, msg);
	nlmsg_free(msg);
	if (ret < 0)
		return -EIO;
	nl_socket_modify_cb(nl->query, NL_CB_VALID, NL_CB_CUSTOM, parse_route, r);
	ret = nl_recvmsgs_default(nl->query);
	nl_socket_modify_cb(nl->query, NL_CB_VALID, NL_CB_DEFAULT, NULL, NULL);
	if (ret == -NLE_NOADDR || ret == -NLE_FAILURE || !r->found)
		return -ENETUNREACH;
	return ret < 0 ? -EIO : 0;
}

/* A datagram to the discard port makes the kernel resolve the neighbour on the way. */
void nlw_probe(struct nlw *nl, const struct nlw_hop *hop)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(9) };

	if (hop->via_family == XG_AF_INET6) {
		memcpy(&s6.sin6_addr, hop->via.bytes, 16);
		if (IN6_IS_ADDR_LINKLOCAL(&s6.sin6_addr))
			s6.sin6_scope_id = (uint32_t)hop->oif;
		sendto(nl->probe6, "", 0, 0, (struct sockaddr *)&s6, sizeof(s6));
	} else {
		s4.sin_addr.s_addr = hop->via.v4;
		sendto(nl->probe4, "", 0, 0, (struct sockaddr *)&s4, sizeof(s4));
	}
}

int nlw_nexthop(struct nlw *nl, const struct xg_addr *dst, uint8_t family, bool resolve,
		struct nlw_hop *out)
{
	struct route_result r = { 0 };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = route_get(nl, dst, family, &r);
	if (ret)
		return ret;
	if (r.type == RTN_LOCAL)
		return -EADDRNOTAVAIL;
	if (r.type != RTN_UNICAST || !r.oif)
		return -ENETUNREACH;
	out->oif = r.oif;
	if (r.gateway && (size_t)r.gw_len == addr_len(family)) {
		out->gateway = true;
		memcpy(out->via.bytes, r.gw, (size_t)r.gw_len);
		out->via_family = family;
	} else if (r.gateway && r.gw_len == 16) {
		out->gateway = true; /* an IPv4 route via an IPv6 next hop */
		memcpy(out->via.bytes, r.gw, 16);
		out->via_family = XG_AF_INET6;
	} else {
		out->via = *dst;
		out->via_family = family;
	}
	out->has_mac = nlw_neigh_mac(nl, out->oif, &out->via, out->via_family, out->mac);
	if (!out->has_mac && resolve)
		nlw_probe(nl, out);
	return 0;
}
