/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The health-check verdict shared by gwd's L4 checker and the gateway's upstream checks: a
 * rise/fall state machine fed one probe result at a time, and the expected-status lists of HTTP
 * checks. Pure code, no sockets and no clock: callers pass the time.
 */
#ifndef XDPGW_HC_H
#define XDPGW_HC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdpgw/abi.h>

/*
 * One checked target. state is enum xg_hc_state (UNKNOWN, UP, DOWN). A new target is UNKNOWN
 * and takes traffic (adding a check never drops a working backend): its first success makes it
 * UP, `fall` consecutive failures make it DOWN. An UP target goes DOWN after `fall` consecutive
 * failures; a DOWN one comes back UP after `rise` consecutive successes. A result of the other
 * kind resets the run, so a flapping target (ok, fail, ok, fail ...) never changes state.
 * Zero-initialised is a valid UNKNOWN state.
 */
struct hc_sm {
	uint8_t state;		/* enum xg_hc_state */
	uint32_t ok_run;	/* consecutive successes */
	uint32_t fail_run;	/* consecutive failures */
	uint64_t since_ms;	/* when state last changed, on the caller's clock (0: never) */
	uint64_t probes;	/* results fed */
	uint64_t failures;	/* failed results fed */
};

enum hc_change {
	HC_SAME = 0,
	HC_WENT_UP,		/* UNKNOWN -> UP or DOWN -> UP */
	HC_WENT_DOWN,		/* UNKNOWN -> DOWN or UP -> DOWN */
};

/*
 * Feeds one probe result (ok or not) at time now_ms with thresholds rise and fall (values below
 * 1 count as 1). Returns what changed; on a change since_ms is now_ms.
 */
enum hc_change hc_sm_feed(struct hc_sm *sm, uint32_t rise, uint32_t fall, bool ok,
			  uint64_t now_ms);

/* Whether the target should take new traffic by this verdict (UNKNOWN and UP do). */
static inline bool hc_sm_passing(const struct hc_sm *sm)
{
	return sm->state != XG_HC_DOWN;
}

/* "unknown", "up", "down", "disabled" for an enum xg_hc_state. */
const char *hc_state_name(uint8_t state);

/* Expected HTTP statuses: up to HC_STATUS_RANGES ranges, each 100-599. */
#define HC_STATUS_RANGES 8
struct hc_status_set {
	uint8_t n;
	struct {
		uint16_t lo, hi;
	} r[HC_STATUS_RANGES];
};

/*
 * Parses "200", "200-399", "200,204,300-399" (spaces allowed after commas) into set. Returns 0,
 * or -EINVAL with a cause for a human in err (errlen bytes), set unchanged.
 */
int hc_status_parse(const char *s, struct hc_status_set *set, char *err, size_t errlen);
bool hc_status_match(const struct hc_status_set *set, int status);
/* Writes the set back in the form hc_status_parse reads; returns buf. */
const char *hc_status_fmt(const struct hc_status_set *set, char *buf, size_t len);

#endif
