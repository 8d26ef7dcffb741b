// SPDX-License-Identifier: GPL-2.0
/* The rise/fall health state machine and HTTP expected-status lists (see hc.h). */
#include "lib/hc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum hc_change hc_sm_feed(struct hc_sm *sm, uint32_t rise, uint32_t fall, bool ok,
			  uint64_t now_ms)
{
	if (rise < 1)
		rise = 1;
	if (fall < 1)
		fall = 1;
	sm->probes++;
	if (ok) {
		sm->fail_run = 0;
		if (sm->ok_run < UINT32_MAX)
			sm->ok_run++;
		/* UNKNOWN already takes traffic: its first success only confirms it. */
		if (sm->state == XG_HC_UNKNOWN || (sm->state == XG_HC_DOWN && sm->ok_run >= rise)) {
			sm->state = XG_HC_UP;
			sm->since_ms = now_ms;
			return HC_WENT_UP;
		}
		return HC_SAME;
	}
	sm->failures++;
	sm->ok_run = 0;
	if (sm->fail_run < UINT32_MAX)
		sm->fail_run++;
	if (sm->state != XG_HC_DOWN && sm->fail_run >= fall) {
		sm->state = XG_HC_DOWN;
		sm->since_ms = now_ms;
		return HC_WENT_DOWN;
	}
	return HC_SAME;
}

const char *hc_state_name(uint8_t state)
{
	switch (state) {
	case XG_HC_UP:
		return "up";
	case XG_HC_DOWN:
		return "down";
	case XG_HC_DISABLED:
		return "disabled";
	default:
		return "unknown";
	}
}

/* A status code 100-599 at *p; advances *p. Returns it or -1. */
static int status_code(const char **p)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)**p))
		return -1;
	v = strtol(*p, &end, 10);
	if (end - *p != 3 || v < 100 || v > 599)
		return -1;
	*p = end;
	return (int)v;
}

int hc_status_parse(const char *s, struct hc_status_set *set, char *err, size_t errlen)
{
	struct hc_status_set out = { 0 };
	const char *p = s;

	if (!s || !*s) {
		snprintf(err, errlen, "empty status list (expected e.g. 200-399 or 200,204)");
		return -EINVAL;
	}
	for (;;) {
		int lo = status_code(&p), hi;

		if (lo < 0)
			goto bad;
		hi = lo;
		if (*p == '-') {
			p++;
			hi = status_code(&p);
			if (hi < 0)
				goto bad;
			if (hi < lo) {
				snprintf(err, errlen, "'%s': range %d-%d is backwards", s, lo, hi);
				return -EINVAL;
			}
		}
		if (out.n == HC_STATUS_RANGES) {
			snprintf(err, errlen, "'%s': at most %d statuses or ranges", s,
				 HC_STATUS_RANGES);
			return -EINVAL;
		}
		out.r[out.n].lo = (uint16_t)lo;
		out.r[out.n].hi = (uint16_t)hi;
		out.n++;
		if (*p == '\0')
			break;
		if (*p != ',')
			goto bad;
		p++;
		while (*p == ' ')
			p++;
	}
	*set = out;
	return 0;
bad:
	snprintf(err, errlen,
		 "'%s' is not a status list (expected codes 100-599 and ranges, e.g. 200-399 or "
		 "200,204)",
		 s);
	return -EINVAL;
}

bool hc_status_match(const struct hc_status_set *set, int status)
{
	for (uint8_t i = 0; i < set->n; i++)
		if (status >= set->r[i].lo && status <= set->r[i].hi)
			return true;
	return false;
}

const char *hc_status_fmt(const struct hc_status_set *set, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (uint8_t i = 0; i < set->n && n < len; i++) {
		if (set->r[i].lo == set->r[i].hi)
			n += (size_t)snprintf(buf + n, len - n, "%s%u", i ? "," : "", set->r[i].lo);
		else
			n += (size_t)snprintf(buf + n, len - n, "%s%u-%u", i ? "," : "",
					      set->r[i].lo, set->r[i].hi);
	}
	return buf;
}
