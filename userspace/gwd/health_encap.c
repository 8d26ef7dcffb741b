// SPDX-License-Identifier: GPL-2.0
/*
 * Encapsulated health probes (see health_encap.h). Why userspace raw sockets and not a TC
 * egress program that encapsulates marked packets of ordinary kernel connections: a kernel
 * connection to the VIP needs a route to the VIP on the L4 node (it usually has none, and when
 * the node also runs the gateway the VIP is local and the connection never leaves), and its
 * neighbour resolution would target the VIP; a raw socket sends the outer packet to the
 * backend's own address, which the node already routes to, and needs nothing attached. The
 * price is that the probe through the tunnel is a TCP handshake, not an HTTP request (an http
 * check still runs its request directly against the backend, and both must pass).
 */
#include "gwd/health_encap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"

#define MSS 1400
#define TTL 64

struct hc_encap {
	h2o_evloop_t *loop;
	hc_encap_reply_cb cb;
	void *ctx;
	int reserve_fd;		/* holds the local port so no kernel socket takes it */
	uint16_t port;
	h2o_socket_t *rx4, *rx6;
	int tx[2][2];		/* [outer is v6][inner is v6], -1 until first used */
};

uint16_t hc_encap_port(const struct hc_encap *e)
{
	return e ? e->port : 0;
}

/* ---- packets ---- */

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

size_t hc_encap_build(uint8_t *buf, size_t len, const struct hc_encap_path *p, uint16_t sport,
		      uint32_t seq, bool rst)
{
	bool v6 = p->vip_family == XG_AF_INET6;
	size_t iph = v6 ? sizeof(struct ip6_hdr) : sizeof(struct iphdr);
	size_t tcplen = rst ? 20 : 24;
	struct tcphdr *th;
	uint32_t sum;

	if (len < iph + tcplen)
		return 0;
	memset(buf, 0, iph + tcplen);
	th = (struct tcphdr *)(buf + iph);
	th->source = htons(sport);
	th->dest = htons(p->port);
	th->seq = htonl(seq);
	th->doff = (uint16_t)(tcplen / 4);
	if (rst) {
		th->rst = 1;
	} else {
		uint8_t *opt = (uint8_t *)(th + 1);

		th->syn = 1;
		th->window = htons(65535);
		opt[0] = TCPOPT_MAXSEG;
		opt[1] = TCPOLEN_MAXSEG;
		opt[2] = MSS >> 8;
		opt[3] = MSS & 0xff;
	}
	/* Pseudo-header: addresses, protocol, TCP length. */
	if (v6) {
		struct ip6_hdr *ip6 = (struct ip6_hdr *)buf;

		ip6->ip6_flow = htonl(6u << 28);
		ip6->ip6_plen = htons((uint16_t)tcplen);
		ip6->ip6_nxt = IPPROTO_TCP;
		ip6->ip6_hlim = TTL;
		memcpy(&ip6->ip6_src, p->src.bytes, 16);
		memcpy(&ip6->ip6_dst, p->vip.bytes, 16);
		sum = sum16(p->src.bytes, 16, 0);
		sum = sum16(p->vip.bytes, 16, sum);
	} else {
		struct iphdr *ip = (struct iphdr *)buf;

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons((uint16_t)(iph + tcplen));
		ip->frag_off = htons(IP_DF);
		ip->ttl = TTL;
		ip->protocol = IPPROTO_TCP;
		ip->saddr = p->src.v4;
		ip->daddr = p->vip.v4;
		ip->check = fold(sum16(ip, iph, 0));
		sum = sum16(&p->src.v4, 4, 0);
		sum = sum16(&p->vip.v4, 4, sum);
	}
	sum += IPPROTO_TCP + (uint32_t)tcplen;
	th->check = fold(sum16(th, tcplen, sum));
	return iph + tcplen;
}

/* ---- sources ---- */

static int to_sockaddr(const struct xg_addr *a, uint8_t family, uint16_t port,
		       struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == XG_AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->bytes, 16);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = a->v4;
		*len = sizeof(*s4);
	}
	return 0;
}

static bool from_sockaddr(const struct sockaddr *sa, struct xg_addr *a, uint8_t *family)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		a->v4 = ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
		*family = XG_AF_INET;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(a->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		*family = XG_AF_INET6;
		return true;
	}
	return false;
}

/* An address of family on the interface that holds local (a global one for IPv6). */
static int sibling_addr(const struct xg_addr *local, uint8_t local_family, uint8_t family,
			struct xg_addr *out)
{
	struct ifaddrs *ifa, *i;
	char ifname[IF_NAMESIZE] = "";
	int ret = -EADDRNOTAVAIL;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i && !ifname[0]; i = i->ifa_next) {
		struct xg_addr a;
		uint8_t f;

		if (i->ifa_addr && from_sockaddr(i->ifa_addr, &a, &f) && f == local_family &&
		    !memcmp(&a, local, sizeof(a)))
			snprintf(ifname, sizeof(ifname), "%s", i->ifa_name);
	}
	for (i = ifa; i && ifname[0] && ret; i = i->ifa_next) {
		uint8_t f;

		if (!i->ifa_addr || strcmp(i->ifa_name, ifname) ||
		    !from_sockaddr(i->ifa_addr, out, &f) || f != family)
			continue;
		if (f == XG_AF_INET6 && (out->bytes[0] == 0xfe && (out->bytes[1] & 0xc0) == 0x80))
			continue; /* link-local: the backend could not answer it off-link */
		ret = 0;
	}
	freeifaddrs(ifa);
	return ret;
}

int hc_encap_source(const struct xg_addr *backend, uint8_t backend_family, uint8_t vip_family,
		    struct xg_addr *src, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct xg_addr local;
	uint8_t lf = 0;
	int fd, ret;

	to_sockaddr(backend, backend_family, 9, &ss, &len);
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return ret;
	}
	/* A UDP connect only looks the route up: the source the kernel would use. */
	if (connect(fd, (struct sockaddr *)&ss, len) || getsockname(fd, (struct sockaddr *)&ss, &len)) {
		ret = -errno;
		snprintf(err, errlen, "no route to the backend: %s", strerror(errno));
		close(fd);
		return ret;
	}
	close(fd);
	from_sockaddr((struct sockaddr *)&ss, &local, &lf);
	if (vip_family == backend_family) {
		*src = local;
		return 0;
	}
	ret = sibling_addr(&local, lf, vip_family, src);
	if (ret)
		snprintf(err, errlen, "no IPv%d address on the interface towards the backend",
			 vip_family);
	return ret;
}

/* ---- sockets ---- */

/* Classic BPF: accept TCP segments to port (IPv4 raw sockets see the IP header first). */
static int attach_port_filter(int fd, bool v4, uint16_t port)
{
	struct sock_filter f4[] = {
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),		/* x = IP header length */
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),		/* TCP destination port */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_filter f6[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 2),		/* IPv6 raw: TCP header first */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = v4 ? (struct sock_fprog){ sizeof(f4) / sizeof(f4[0]), f4 }
				    : (struct sock_fprog){ sizeof(f6) / sizeof(f6[0]), f6 };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ? -errno : 0;
}

/* The send sockets also receive their protocol's packets: they keep none of them. */
static int attach_drop_filter(int fd)
{
	struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { 1, f };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ? -errno : 0;
}

static void drain(int fd)
{
	uint8_t buf[64];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

static void handle_segment(struct hc_encap *e, const uint8_t *tcp, size_t len,
			   const struct xg_addr *from, uint8_t family)
{
	const struct tcphdr *th = (const struct tcphdr *)tcp;
	struct hc_encap_reply r = { 0 };

	if (len < sizeof(*th) || ntohs(th->dest) != e->port || !th->ack || !(th->syn || th->rst))
		return;
	r.ack_seq = ntohl(th->ack_seq);
	r.seq = r.ack_seq - 1;
	r.peer_seq = ntohl(th->seq);
	r.from = *from;
	r.family = family;
	r.from_port = ntohs(th->source);
	r.syn_ack = th->syn && !th->rst;
	e->cb(e->ctx, &r);
}

static void on_rx(h2o_socket_t *sock, const char *err)
{
	struct hc_encap *e = sock->data;
	bool v4 = sock == e->rx4;
	int fd = h2o_socket_get_fd(sock);
	uint8_t buf[256];

	if (err)
		return;
	for (int n = 0; n < 64; n++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct xg_addr from;
		uint8_t fam;
		ssize_t r = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);

		if (r < 0)
			break;
		if (v4) {
			const struct iphdr *ip = (const struct iphdr *)buf;
			size_t ihl;

			if ((size_t)r < sizeof(*ip))
				continue;
			ihl = (size_t)ip->ihl * 4;
			if (ihl < sizeof(*ip) || (size_t)r < ihl)
				continue;
			memset(&from, 0, sizeof(from));
			from.v4 = ip->saddr;
			handle_segment(e, buf + ihl, (size_t)r - ihl, &from, XG_AF_INET);
		} else if (from_sockaddr((struct sockaddr *)&ss, &from, &fam)) {
			handle_segment(e, buf, (size_t)r, &from, XG_AF_INET6);
		}
	}
}

static h2o_socket_t *open_rx(struct hc_encap *e, int family)
{
	int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	h2o_socket_t *sock;

	if (fd < 0)
		return NULL;
	if (attach_port_filter(fd, family == AF_INET, e->port)) {
		close(fd);
		return NULL;
	}
	drain(fd); /* what arrived before the filter */
	sock = h2o_evloop_socket_create(e->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	sock->data = e;
	h2o_socket_read_start(sock, on_rx);
	return sock;
}

/* Binds a TCP socket to a kernel-chosen port: no connection of this host will use it. */
static int reserve_port(struct hc_encap *e)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int off = 0, fd;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) ||
			bind(fd, (struct sockaddr *)&s6, sizeof(s6)))) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&s4, sizeof(s4))) {
			int ret = -errno;

			if (fd >= 0)
				close(fd);
			return ret;
		}
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len)) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	e->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	e->reserve_fd = fd;
	return 0;
}

struct hc_encap *hc_encap_open(struct st_h2o_evloop_t *loop, hc_encap_reply_cb cb, void *ctx,
			       char *err, size_t errlen)
{
	struct hc_encap *e = calloc(1, sizeof(*e));
	int ret;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->loop = (h2o_evloop_t *)loop;
	e->cb = cb;
	e->ctx = ctx;
	e->reserve_fd = -1;
	memset(e->tx, -1, sizeof(e->tx));
	ret = reserve_port(e);
	if (ret) {
		snprintf(err, errlen, "cannot reserve a local port: %s", strerror(-ret));
		goto fail;
	}
	e->rx4 = open_rx(e, AF_INET);
	if (!e->rx4) {
		snprintf(err, errlen, "raw IPv4 TCP socket: %s", strerror(errno));
		goto fail;
	}
	e->rx6 = open_rx(e, AF_INET6);
	if (!e->rx6)
		log_warn("health: encapsulated checks of IPv6 VIPs unavailable: raw IPv6 TCP "
			 "socket: %s",
			 strerror(errno));
	return e;
fail:
	hc_encap_close(e);
	return NULL;
}

void hc_encap_close(struct hc_encap *e)
{
	if (!e)
		return;
	if (e->rx4)
		h2o_socket_close(e->rx4);
	if (e->rx6)
		h2o_socket_close(e->rx6);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			if (e->tx[i][j] >= 0)
				close(e->tx[i][j]);
	if (e->reserve_fd >= 0)
		close(e->reserve_fd);
	free(e);
}

/* The raw socket that puts an outer header of the backend's family around the inner one. */
static int tx_socket(struct hc_encap *e, bool outer6, bool inner6)
{
	int *fd = &e->tx[outer6][inner6];

	if (*fd >= 0)
		return *fd;
	*fd = socket(outer6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		     inner6 ? IPPROTO_IPV6 : IPPROTO_IPIP);
	if (*fd < 0)
		return -errno;
	if (attach_drop_filter(*fd)) {
		int ret = -errno;

		close(*fd);
		*fd = -1;
		return ret;
	}
	return *fd;
}

int hc_encap_send(struct hc_encap *e, const struct hc_encap_path *p, uint32_t seq, bool rst,
		  char *err, size_t errlen)
{
	uint8_t pkt[128];
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t n = hc_encap_build(pkt, sizeof(pkt), p, e->port, seq, rst);
	int fd = tx_socket(e, p->backend_family == XG_AF_INET6, p->vip_family == XG_AF_INET6);

	if (fd < 0) {
		snprintf(err, errlen, "raw socket: %s", strerror(-fd));
		return fd;
	}
	/* Raw IPv6 sockets take the port field as the protocol: leave it 0. */
	to_sockaddr(&p->backend, p->backend_family, 0, &ss, &sl);
	if (sendto(fd, pkt, n, 0, (struct sockaddr *)&ss, sl) != (ssize_t)n) {
		int ret = -errno;

		snprintf(err, errlen, "send: %s", strerror(errno));
		return ret;
	}
	return 0;
}
