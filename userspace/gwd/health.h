/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The health-check module of gwd: the `check` objects of the l4 section (per service, with
 * per-backend overrides) compiled into one check per backend, probed without blocking on gwd's
 * main loop (tcp connect, http request, and optionally a TCP handshake through the IPIP
 * encapsulation to the VIP), and fed into the L4 module's backend state.
 */
#ifndef XDPGW_GWD_HEALTH_H
#define XDPGW_GWD_HEALTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdpgw/abi.h>

#include "gwd/module.h"
#include "lib/addr.h"
#include "lib/hc.h"

enum hc_type { HC_TYPE_NONE = 0, HC_TYPE_TCP, HC_TYPE_HTTP };

#define HC_DEFAULT_INTERVAL_MS 1000
#define HC_DEFAULT_TIMEOUT_MS 500
#define HC_DEFAULT_RISE 2
#define HC_DEFAULT_FALL 3
#define HC_MIN_INTERVAL_MS 100
#define HC_MAX_INTERVAL_MS (3600 * 1000)
#define HC_MIN_TIMEOUT_MS 10
#define HC_MAX_THRESHOLD 100
#define HC_BODY_MAX 128		/* expected body substring, bytes */
#define HC_BODY_SCAN 65536	/* bytes of the response body searched for it */

/* One check as configured (service check with the backend's override merged over it). */
struct hc_check {
	uint8_t type;		/* enum hc_type */
	bool encap;		/* also a TCP handshake through the encapsulation to the VIP */
	uint16_t port;		/* resolved: the check's port or the service's */
	uint32_t interval_ms, timeout_ms;
	uint32_t rise, fall;
	char method[16];
	char path[256];
	char host[256];		/* "" : the backend's address */
	char body[HC_BODY_MAX];	/* "" : no body check */
	struct hc_status_set status;
};

/* One backend to check (or, type none, not to check). */
struct hc_target {
	char service[XG_NAME_LEN];
	char backend[ADDR_STRLEN];	/* canonical address: the backend's key */
	struct xg_addr addr;
	uint8_t family;
	uint8_t fwd;			/* the service's enum xg_fwd */
	struct endpoint vip;		/* the service's VIP (port 0: all ports) */
	struct hc_check check;
};

struct health_compiled {
	size_t n;
	struct hc_target *targets;	/* every backend of every service, in document order */
};

/*
 * Compiles the checks of the l4 section (NULL: none) into one target per backend. Returns a new
 * object, or NULL with err naming the path and the cause
 * ("l4.services[web].check.timeout: 2s is longer than the interval (1s)").
 */
struct health_compiled *health_compile(const json_t *l4, struct gwd_err *err);
void health_compiled_free(struct health_compiled *c);

/*
 * Feeds one probe result for a backend, as the prober does after each round (tests call it
 * without a loop). error is a short cause for a failure (NULL for a success). Returns 0, or
 * -ENOENT when no checked backend has that name.
 */
int health_feed(void *health_priv, const char *service, const char *backend, bool ok,
		uint32_t latency_us, const char *error);

extern const struct gwd_module health_module;

#endif
