/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fixture for datapath tests: loads the real balancer through the userspace library (maps not
 * pinned), configures the test link, services and backends, and runs packets through
 * BPF_PROG_TEST_RUN, with reason counters read as deltas.
 */
#ifndef XDPGW_SELFTESTS_LBTEST_H
#define XDPGW_SELFTESTS_LBTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <xdpgw/abi.h>

#include "lib/lb.h"
#include "lib/lbmap.h"
#include "lib/pkt.h"

/* lo exists in every namespace and BPF_PROG_TEST_RUN accepts it as the ingress device. */
#define LBT_IFINDEX 1
#define LBT_OUR_MAC "02:00:00:00:00:01"
#define LBT_CLIENT_MAC "02:00:00:00:00:02"
#define LBT_SRC4 "198.18.0.1"
#define LBT_SRC6 "2001:2::1"
#define LBT_MTU 1500

struct lbt {
	struct lb_obj *lb;
	struct lbmap *m;
	struct xg_counter mark[XG_R_MAX];
};

/* Skips (test_skip) when not root; loads small maps unless opts says otherwise. */
bool lbt_setup(struct lbt *t, const struct lb_opts *opts);
void lbt_teardown(struct lbt *t);

/* A service on addr:port/proto; *id gets its id. Returns 0 or a negative errno. */
int lbt_vip(struct lbt *t, const char *name, const char *addr, uint16_t port, uint8_t proto,
	    uint8_t algo, uint8_t fwd, uint32_t persist_sec, uint32_t *id);
/* A backend of service vip; mac NULL: a MAC derived from the id. */
int lbt_backend(struct lbt *t, uint32_t vip, const char *addr, uint16_t weight, const char *mac,
		uint32_t *id);
/* Changes flags (XG_BE_F_DOWN, XG_BE_F_DRAIN) and weight of backend id. */
int lbt_backend_state(struct lbt *t, uint32_t id, uint8_t flags, uint16_t weight);

/* Runs one frame; returns the XDP action or a negative errno; out gets the frame after. */
int lbt_run(struct lbt *t, const struct pkt *in, struct pkt *out);
/* The same for any XDP program (the decap one), the frame arriving on ifindex. */
int lbt_prog_run(int prog_fd, uint32_t ifindex, const struct pkt *in, struct pkt *out);

/*
 * For tests that pin or attach: moves the process into a network namespace of its own, mounts
 * bpffs there if needed and names a private directory /sys/fs/bpf/xg-PID-NAME in dir (len
 * bytes). Skips without root. Returns false after a skip or a failure.
 */
bool lbt_sandbox(const char *name, char *dir, size_t len);
/* Removes dir and everything below it (a pinned tree); nothing when dir is empty. */
void lbt_rmtree(const char *dir);

/* Reason counters: lbt_mark() remembers them, lbt_delta() tells packets counted since. */
void lbt_mark(struct lbt *t);
uint64_t lbt_delta(struct lbt *t, enum xg_reason r);
/* The first TX/PASS/DROP reason counted since the mark (XG_R_MAX if none). */
enum xg_reason lbt_fate(struct lbt *t);
/* Prints the reasons counted since the mark to stderr (failure reports). */
void lbt_dump(struct lbt *t);

/* A client frame: ethernet (with ntags VLAN tags 0x8100/0x88a8) + IP + TCP/UDP + payload. */
struct lbt_flow {
	int family;
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;
	uint8_t tcp_flags;	/* 0: SYN */
	size_t payload;
	int ntags;
	bool df;
	uint8_t tos;
};
void lbt_frame(const struct lbt_flow *f, struct pkt *p);
/* The IP datagram of the same flow (what an encapsulation carries). */
void lbt_datagram(const struct lbt_flow *f, struct pkt *p);
/* The MAC the fixture gives backend id when none is given. */
void lbt_backend_mac(uint32_t id, char *buf);

#endif
