// SPDX-License-Identifier: GPL-2.0
/* Address, endpoint, port, protocol, MAC and CIDR parsing and formatting. */
#include "lib/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int addr_parse(const char *s, struct xg_addr *addr, uint8_t *family)
{
	struct xg_addr a = {};

	if (!s || !*s)
		return -EINVAL;
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, a.bytes) != 1)
			return -EINVAL;
		*family = XG_AF_INET6;
	} else {
		/* inet_pton(AF_INET) refuses shorthand such as "10.1" and leading zeros. */
		if (inet_pton(AF_INET, s, &a.v4) != 1)
			return -EINVAL;
		*family = XG_AF_INET;
	}
	*addr = a;
	return 0;
}

const char *addr_fmt(const struct xg_addr *addr, uint8_t family, char *buf)
{
	/* Callers pass at least INET6_ADDRSTRLEN bytes (ADDR_STRLEN or a char[INET6_ADDRSTRLEN]). */
	if (family == XG_AF_INET6)
		inet_ntop(AF_INET6, addr->bytes, buf, INET6_ADDRSTRLEN);
	else if (family == XG_AF_INET)
		inet_ntop(AF_INET, &addr->v4, buf, INET6_ADDRSTRLEN);
	else
		snprintf(buf, INET6_ADDRSTRLEN, "?family%u", family);
	return buf;
}

int proto_parse(const char *s)
{
	if (strcmp(s, "tcp") == 0)
		return IPPROTO_TCP;
	if (strcmp(s, "udp") == 0)
		return IPPROTO_UDP;
	return -EINVAL;
}

const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		return "?";
	}
}

int u32_parse(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int port_parse(const char *s, uint16_t *port)
{
	uint32_t v;
	int err = u32_parse(s, 1, 65535, &v);

	if (err)
		return err;
	*port = (uint16_t)v;
	return 0;
}

static int set_err(char *err, size_t errlen, int code, const char *fmt, const char *arg)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, arg);
	return code;
}

int endpoint_parse(const char *s, struct endpoint *ep, char *err, size_t errlen)
{
	char buf[ADDR_STRLEN * 2];
	char *host = buf, *port = NULL, *proto, *close;
	struct endpoint e = { .proto = IPPROTO_TCP };
	int p;

	if (!s || !*s)
		return set_err(err, errlen, -EINVAL, "empty address%s", "");
	if (strlen(s) >= sizeof(buf))
		return set_err(err, errlen, -EINVAL, "address too long: %.40s...", s);
	strcpy(buf, s);

	proto = strrchr(buf, '/');
	if (proto) {
		*proto++ = '\0';
		p = proto_parse(proto);
		if (p < 0)
			return set_err(err, errlen, -EINVAL,
				       "unknown protocol '%s' (expected tcp or udp)", proto);
		e.proto = (uint8_t)p;
		e.has_proto = true;
	}
	if (buf[0] == '[') {
		close = strchr(buf, ']');
		if (!close)
			return set_err(err, errlen, -EINVAL, "missing ']' in '%s'", s);
		*close = '\0';
		host = buf + 1;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return set_err(err, errlen, -EINVAL, "unexpected text after ']' in '%s'", s);
		if (addr_parse(host, &e.addr, &e.family) || e.family != XG_AF_INET6)
			return set_err(err, errlen, -EINVAL, "invalid IPv6 address '%s'", host);
	} else {
		char *colon = strchr(buf, ':');

		/* One colon: v4:port. More: a bare IPv6 address, which then can not carry a port. */
		if (colon && !strchr(colon + 1, ':')) {
			*colon = '\0';
			port = colon + 1;
		}
		if (addr_parse(host, &e.addr, &e.family))
			return set_err(err, errlen, -EINVAL, "invalid address '%s'", host);
	}
	if (port) {
		int r = port_parse(port, &e.port);

		if (r == -ERANGE)
			return set_err(err, errlen, -ERANGE, "port %s out of range 1-65535", port);
		if (r)
			return set_err(err, errlen, -EINVAL, "invalid port '%s'", port);
		e.has_port = true;
	}
	*ep = e;
	return 0;
}

const char *endpoint_fmt(const struct endpoint *ep, char *buf)
{
	char a[INET6_ADDRSTRLEN];

	addr_fmt(&ep->addr, ep->family, a);
	if (!ep->port)
		snprintf(buf, ADDR_STRLEN, "%s/%s", a, proto_name(ep->proto));
	else if (ep->family == XG_AF_INET6)
		snprintf(buf, ADDR_STRLEN, "[%s]:%u/%s", a, ep->port, proto_name(ep->proto));
	else
		snprintf(buf, ADDR_STRLEN, "%s:%u/%s", a, ep->port, proto_name(ep->proto));
	return buf;
}

const char *mac_fmt(const uint8_t mac[6], char *buf)
{
	snprintf(buf, ADDR_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	return buf;
}

int mac_parse(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

int cidr_parse(const char *s, struct xg_addr *addr, uint8_t *family, uint8_t *prefix_len)
{
	char buf[ADDR_STRLEN];
	const char *slash = strchr(s, '/');
	uint32_t len;
	size_t n;

	if (!slash) {
		if (addr_parse(s, addr, family))
			return -EINVAL;
		*prefix_len = *family == XG_AF_INET ? 32 : 128;
		return 0;
	}
	n = (size_t)(slash - s);
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (addr_parse(buf, addr, family))
		return -EINVAL;
	if (u32_parse(slash + 1, 0, *family == XG_AF_INET ? 32 : 128, &len))
		return -EINVAL;
	*prefix_len = (uint8_t)len;
	return 0;
}

bool cidr_contains(const struct xg_addr *net, uint8_t family, uint8_t prefix_len,
		   const struct xg_addr *addr, uint8_t addr_family)
{
	unsigned int full = prefix_len / 8, rest = prefix_len % 8;

	if (family != addr_family)
		return false;
	if (memcmp(net->bytes, addr->bytes, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		return (net->bytes[full] & mask) == (addr->bytes[full] & mask);
	}
	return true;
}
