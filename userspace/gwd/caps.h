/* SPDX-License-Identifier: GPL-2.0 */
/* gwd's capabilities: what it keeps after start-up and why (docs/security.md). */
#ifndef XDPGW_GWD_CAPS_H
#define XDPGW_GWD_CAPS_H

#include <stddef.h>

/*
 * Keeps only the capabilities gwd uses after start-up (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN,
 * CAP_NET_RAW, CAP_NET_BIND_SERVICE) in the permitted, effective and bounding sets, clears the
 * inheritable and ambient ones and sets no_new_privs. Must run before any thread starts
 * (capabilities are per thread; threads made later inherit the reduced sets). Does nothing
 * when gwd is not root. Returns 0, or a negative errno with the cause in msg.
 */
int caps_drop(char *msg, size_t len);

/* The kept capabilities as text ("cap_net_admin,cap_net_bind_service,..."). */
const char *caps_kept_text(void);

#endif
