// SPDX-License-Identifier: GPL-2.0
/*
 * The inner packet of an encapsulated health probe: header fields as the backend's stack needs
 * them, and checksums verified by the test packet library's own implementation.
 */
#include <arpa/inet.h>

#include "gwd/health_encap.h"
#include "lib/addr.h"
#include "lib/pkt.h"
#include "lib/test.h"

static struct hc_encap_path path(const char *src, const char *vip, const char *be, uint16_t port)
{
	struct hc_encap_path p = { .port = port };

	addr_parse(src, &p.src, &p.vip_family);
	addr_parse(vip, &p.vip, &p.vip_family);
	addr_parse(be, &p.backend, &p.backend_family);
	return p;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

TEST(ipv4_syn)
{
	struct hc_encap_path p = path("198.18.0.2", "198.18.100.1", "198.18.0.30", 80);
	uint8_t b[128];
	size_t n = hc_encap_build(b, sizeof(b), &p, 40000, 0x00070abc, false);
	const uint8_t *tcp = b + 20;

	if (!ASSERT_EQ(n, 44))
		return;
	ASSERT_EQ(b[0], 0x45);
	ASSERT_EQ(get16(b + 2), 44);			/* total length */
	ASSERT_EQ(get16(b + 6), 0x4000);		/* DF, no fragment */
	ASSERT_EQ(b[8], 64);				/* TTL */
	ASSERT_EQ(b[9], 6);				/* TCP */
	ASSERT_EQ(get32(b + 12), 0xc6120002);		/* 198.18.0.2 */
	ASSERT_EQ(get32(b + 16), 0xc6126401);		/* 198.18.100.1: the VIP, not the backend */
	ASSERT_TRUE(pkt_ipv4_csum_ok(b));
	ASSERT_EQ(get16(tcp), 40000);
	ASSERT_EQ(get16(tcp + 2), 80);
	ASSERT_EQ(get32(tcp + 4), 0x00070abc);		/* seq carries the probe's slot */
	ASSERT_EQ(get32(tcp + 8), 0);
	ASSERT_EQ(tcp[12], 6 << 4);			/* 24-byte header: MSS option */
	ASSERT_EQ(tcp[13], 0x02);			/* SYN only */
	ASSERT_EQ(tcp[20], 2);				/* MSS kind, length 4, 1400 */
	ASSERT_EQ(tcp[21], 4);
	ASSERT_EQ(get16(tcp + 22), 1400);
	ASSERT_TRUE(pkt_l4_csum_ok(b, tcp, 24));
}

TEST(ipv4_rst)
{
	struct hc_encap_path p = path("198.18.0.2", "198.18.100.1", "198.18.0.30", 8080);
	uint8_t b[128];
	size_t n = hc_encap_build(b, sizeof(b), &p, 40000, 0xdeadbeef, true);

	if (!ASSERT_EQ(n, 40))
		return;
	ASSERT_EQ(get16(b + 2), 40);
	ASSERT_EQ(b[20 + 12], 5 << 4);
	ASSERT_EQ(b[20 + 13], 0x04);			/* RST only */
	ASSERT_EQ(get32(b + 20 + 4), 0xdeadbeef);
	ASSERT_EQ(get16(b + 20 + 2), 8080);
	ASSERT_TRUE(pkt_ipv4_csum_ok(b));
	ASSERT_TRUE(pkt_l4_csum_ok(b, b + 20, 20));
}

TEST(ipv6_syn_over_an_ipv4_backend)
{
	/* 6in4: the inner family is the VIP's; the outer header is the kernel's. */
	struct hc_encap_path p = path("2001:2::2", "2001:2:0:100::1", "198.18.0.30", 443);
	uint8_t b[128];
	size_t n = hc_encap_build(b, sizeof(b), &p, 51000, 0x12345678, false);
	const uint8_t *tcp = b + 40;
	struct xg_addr a;
	uint8_t f;

	if (!ASSERT_EQ(n, 64))
		return;
	ASSERT_EQ(b[0] >> 4, 6);
	ASSERT_EQ(get16(b + 4), 24);			/* payload length */
	ASSERT_EQ(b[6], 6);				/* next header TCP */
	ASSERT_EQ(b[7], 64);				/* hop limit */
	addr_parse("2001:2:0:100::1", &a, &f);
	ASSERT_TRUE(!memcmp(b + 24, a.bytes, 16), "destination is the VIP");
	ASSERT_EQ(get16(tcp + 2), 443);
	ASSERT_EQ(tcp[13], 0x02);
	ASSERT_TRUE(pkt_l4_csum_ok(b, tcp, 24));
}

TEST(too_small_a_buffer)
{
	struct hc_encap_path p = path("198.18.0.2", "198.18.100.1", "198.18.0.30", 80);
	uint8_t b[43];

	ASSERT_EQ(hc_encap_build(b, sizeof(b), &p, 1, 1, false), 0);
	ASSERT_EQ(hc_encap_build(b, 39, &p, 1, 1, true), 0);
}

TEST(source_towards_a_local_backend)
{
	struct xg_addr be, src;
	uint8_t f;
	char err[128];

	/* The loopback route: the kernel's source towards 127.0.0.1 is 127.0.0.1. */
	addr_parse("127.0.0.1", &be, &f);
	if (!ASSERT_OK(hc_encap_source(&be, XG_AF_INET, XG_AF_INET, &src, err, sizeof(err))))
		return;
	ASSERT_EQ(ntohl(src.v4), 0x7f000001);
}
