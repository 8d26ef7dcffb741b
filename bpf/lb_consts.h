/* SPDX-License-Identifier: GPL-2.0 */
/* Constants of the XDP balancer: parse bounds, header sizes, protocol numbers, defaults. */
#ifndef XDPGW_LB_CONSTS_H
#define XDPGW_LB_CONSTS_H

#include <linux/types.h>
#include <stdbool.h>

/* Returned by helpers that did not decide the packet's fate: keep going. */
#define XG_CONTINUE (-1)

#define XG_VLAN_MAX_DEPTH 2		/* 802.1Q / 802.1ad tags parsed */
#define XG_IPV6_MAX_EXT 6		/* IPv6 extension headers walked before giving up */
#define XG_ETH_HLEN 14
#define XG_VLAN_HLEN 4
#define XG_IPV4_HLEN 20
#define XG_IPV6_HLEN 40
#define XG_ICMP_HLEN 8
#define XG_TTL 64			/* TTL / hop limit of headers we write */

/* Bytes of the client's IP datagram quoted in a frag-needed / packet-too-big we send. */
#define XG_ICMP_QUOTE_LEN 128
#define XG_IPV6_MIN_MTU 1280

#define XG_ETH_P_8021Q 0x8100
#define XG_ETH_P_8021AD 0x88A8
#define XG_ETH_P_IP 0x0800
#define XG_ETH_P_IPV6 0x86DD

#define XG_IP_DF 0x4000
#define XG_IP_MF 0x2000
#define XG_IP_OFFSET 0x1FFF

#define XG_TCP_FIN 0x01
#define XG_TCP_SYN 0x02
#define XG_TCP_RST 0x04
#define XG_TCP_ACK 0x10

#define XG_ICMP_ECHOREPLY 0
#define XG_ICMP_DEST_UNREACH 3
#define XG_ICMP_FRAG_NEEDED 4		/* code of DEST_UNREACH */
#define XG_ICMP_ECHO 8
#define XG_ICMP_TIME_EXCEEDED 11
#define XG_ICMPV6_DEST_UNREACH 1
#define XG_ICMPV6_PKT_TOOBIG 2
#define XG_ICMPV6_TIME_EXCEED 3
#define XG_ICMPV6_ECHO_REQUEST 128
#define XG_ICMPV6_ECHO_REPLY 129

#define XG_NSEC_PER_SEC 1000000000ull

#endif
