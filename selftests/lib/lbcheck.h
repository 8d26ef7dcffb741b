/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differential check of the balancer against the reference model (lib/lbmodel.h): loads the
 * model's configuration from the program's maps, answers the model's state reads from the
 * maps (recording them), runs a frame through BPF_PROG_TEST_RUN and compares the action, every
 * reason counter, the output frame, the connection-table / persistence / round-robin /
 * active-flow changes and the service and backend counters. A disagreement can be saved as a
 * fixture (config + the state read + frame + the model's verdict) that
 * selftests/bpf/test_lb_fixtures.c replays on a fresh program.
 */
#ifndef XDPGW_SELFTESTS_LBCHECK_H
#define XDPGW_SELFTESTS_LBCHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/lbmap.h"
#include "lib/lbmodel.h"

#define LBC_MAX_READS 8

/* State the model read for one frame, as found in the maps before the frame ran. */
struct lbc_reads {
	int nct, npersist, nrr, nactive;
	struct {
		struct xg_flow_key key;
		bool found;
		struct xg_ct_value val;
	} ct[LBC_MAX_READS];
	struct {
		struct xg_persist_key key;
		bool found;
		struct xg_persist_value val;
	} persist[LBC_MAX_READS];
	struct {
		uint32_t vip_id, cursor;
	} rr[LBC_MAX_READS];
	struct {
		uint32_t id;
		int64_t active;
	} active[LBC_MAX_READS];
};

struct lbc {
	struct lbmap *m;
	int prog_fd;
	uint32_t ifindex;		/* ingress of the frames */
	int cpu, ncpus;			/* the process is pinned to cpu */
	struct lbm_config cfg;		/* loaded by lbc_load_config() */
	struct xg_counter reasons[XG_R_MAX];	/* counters after the last frame */
	struct lbc_reads reads;		/* of the last frame */
	uint64_t now_ns;		/* of the last frame */
	bool check_lookup;		/* also compare lbmap_lookup() with the model */
	uint64_t lookups_checked;
};

/*
 * Binds to a loaded balancer (maps m, program prog_fd, frames arriving on ifindex) and pins
 * the calling thread to the CPU it runs on (per-CPU state is read for that CPU).
 * Returns 0 or a negative errno.
 */
int lbc_init(struct lbc *c, struct lbmap *m, int prog_fd, uint32_t ifindex);
void lbc_free(struct lbc *c);
/* Reloads the model's configuration from the maps (after every configuration change). */
int lbc_load_config(struct lbc *c);

/*
 * Runs frame through the program and the model. Returns 1 when they agree, 0 when they do
 * not (msg says how, first difference first), a negative errno when the run itself failed.
 * *res gets the model's result.
 */
int lbc_check(struct lbc *c, const uint8_t *frame, size_t len, struct lbm_result *res, char *msg,
	      size_t msglen);

/* The model's answer for frame against the current maps; nothing runs, nothing changes. */
void lbc_peek(struct lbc *c, const uint8_t *frame, size_t len, struct lbm_result *res);

/*
 * Writes a fixture for the frame last given to lbc_check (its configuration and the state
 * read before it ran) to path, with note as a comment. Returns 0 or a negative errno.
 */
int lbc_fixture_write(struct lbc *c, const char *path, const uint8_t *frame, size_t len,
		      const struct lbm_result *res, const char *note);

/* A fixture read back: the frame and the verdict the model gave when it was written. */
struct lbc_fixture {
	uint8_t frame[PKT_MAX];
	size_t len;
	int action;
	int reason;
	char note[256];
};

/*
 * Writes the fixture's configuration and state into the maps of a freshly loaded balancer
 * (raw map writes: tables are created as given, not rebuilt) and reads its frame and expected
 * verdict. Returns 0 or a negative errno (-EINVAL with a message on stderr: bad line).
 */
int lbc_fixture_apply(struct lbmap *m, const char *path, struct lbc_fixture *fx);

/* A decap fixture ("prog decap"): the local addresses, the frame and the recorded verdict. */
struct lbc_decap_fixture {
	struct lbm_decap local;
	uint8_t frame[PKT_MAX];
	size_t len;
	int action;
	uint32_t reason;	/* enum xg_decap_reason */
};

bool lbc_fixture_is_decap(const char *path);
/* Reads a decap fixture. Returns 0 or a negative errno (-EINVAL with a message on stderr). */
int lbc_decap_fixture_read(const char *path, struct lbc_decap_fixture *fx);

/* Reason name by number, "?" when out of range. */
const char *lbc_reason_name(int reason);
const char *lbc_action_name(int action);

#endif
