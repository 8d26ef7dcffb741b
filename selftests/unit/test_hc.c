// SPDX-License-Identifier: GPL-2.0
/* The health state machine (rise, fall, flapping, first result) and HTTP status lists. */
#include <errno.h>

#include "lib/hc.h"
#include "lib/test.h"

/* Feeds a string of results ('+' ok, '-' failed) from t = 1000 ms, one per 100 ms; returns the
 * changes as a string ('U' went up, 'D' went down, '.' same). */
static const char *feed(struct hc_sm *sm, uint32_t rise, uint32_t fall, const char *results)
{
	static char out[128];
	size_t i;

	for (i = 0; results[i] && i < sizeof(out) - 1; i++) {
		enum hc_change c = hc_sm_feed(sm, rise, fall, results[i] == '+', 1000 + 100 * i);

		out[i] = c == HC_WENT_UP ? 'U' : c == HC_WENT_DOWN ? 'D' : '.';
	}
	out[i] = '\0';
	return out;
}

TEST(first_success_confirms_unknown)
{
	struct hc_sm sm = { 0 };

	ASSERT_EQ(sm.state, XG_HC_UNKNOWN);
	ASSERT_TRUE(hc_sm_passing(&sm), "unknown takes traffic");
	ASSERT_STREQ(feed(&sm, 2, 3, "+"), "U");
	ASSERT_EQ(sm.state, XG_HC_UP);
	ASSERT_EQ(sm.since_ms, 1000);
}

TEST(fall_consecutive_failures_take_it_down)
{
	struct hc_sm sm = { 0 };

	ASSERT_STREQ(feed(&sm, 2, 3, "++--+---+"), "U......D.");
	ASSERT_EQ(sm.state, XG_HC_DOWN);
	ASSERT_FALSE(hc_sm_passing(&sm));
	ASSERT_EQ(sm.since_ms, 1700);
	ASSERT_EQ(sm.probes, 9);
	ASSERT_EQ(sm.failures, 5);
}

TEST(unknown_goes_down_after_fall_failures)
{
	struct hc_sm sm = { 0 };

	ASSERT_STREQ(feed(&sm, 2, 3, "--"), "..");
	ASSERT_EQ(sm.state, XG_HC_UNKNOWN);
	ASSERT_TRUE(hc_sm_passing(&sm), "still taking traffic before fall failures");
	ASSERT_STREQ(feed(&sm, 2, 3, "-"), "D");
	ASSERT_EQ(sm.state, XG_HC_DOWN);
}

TEST(rise_consecutive_successes_bring_it_back)
{
	struct hc_sm sm = { 0 };

	feed(&sm, 2, 1, "-");
	ASSERT_EQ(sm.state, XG_HC_DOWN);
	ASSERT_STREQ(feed(&sm, 3, 1, "++-++"), ".....");
	ASSERT_EQ(sm.state, XG_HC_DOWN);
	ASSERT_STREQ(feed(&sm, 3, 1, "+"), "U");
	ASSERT_EQ(sm.state, XG_HC_UP);
	ASSERT_EQ(sm.ok_run, 3);
}

TEST(flapping_never_changes_state)
{
	struct hc_sm up = { 0 }, down = { 0 };

	feed(&up, 2, 2, "+");
	ASSERT_STREQ(feed(&up, 2, 2, "-+-+-+-+-+-+-+-+"), "................");
	ASSERT_EQ(up.state, XG_HC_UP);
	feed(&down, 2, 2, "--");
	ASSERT_EQ(down.state, XG_HC_DOWN);
	ASSERT_STREQ(feed(&down, 2, 2, "+-+-+-+-+-+-+-+-"), "................");
	ASSERT_EQ(down.state, XG_HC_DOWN);
}

TEST(steady_state_reports_nothing)
{
	struct hc_sm sm = { 0 };

	ASSERT_STREQ(feed(&sm, 2, 3, "++++++"), "U.....");
	ASSERT_EQ(sm.since_ms, 1000);
	feed(&sm, 2, 3, "---");
	ASSERT_STREQ(feed(&sm, 2, 3, "------"), "......");
}

TEST(thresholds_below_one_count_as_one)
{
	struct hc_sm sm = { 0 };

	ASSERT_STREQ(feed(&sm, 0, 0, "+-+"), "UDU");
}

TEST(state_names)
{
	ASSERT_STREQ(hc_state_name(XG_HC_UNKNOWN), "unknown");
	ASSERT_STREQ(hc_state_name(XG_HC_UP), "up");
	ASSERT_STREQ(hc_state_name(XG_HC_DOWN), "down");
	ASSERT_STREQ(hc_state_name(XG_HC_DISABLED), "disabled");
	ASSERT_STREQ(hc_state_name(42), "unknown");
}

TEST(status_lists)
{
	struct hc_status_set s;
	char err[200], buf[128];

	ASSERT_OK(hc_status_parse("200", &s, err, sizeof(err)));
	ASSERT_TRUE(hc_status_match(&s, 200));
	ASSERT_FALSE(hc_status_match(&s, 201));
	ASSERT_OK(hc_status_parse("200-299, 304,401-401", &s, err, sizeof(err)));
	ASSERT_EQ(s.n, 3);
	ASSERT_TRUE(hc_status_match(&s, 204));
	ASSERT_TRUE(hc_status_match(&s, 304));
	ASSERT_TRUE(hc_status_match(&s, 401));
	ASSERT_FALSE(hc_status_match(&s, 302));
	ASSERT_FALSE(hc_status_match(&s, 500));
	ASSERT_STREQ(hc_status_fmt(&s, buf, sizeof(buf)), "200-299,304,401");
	ASSERT_OK(hc_status_parse("100-599", &s, err, sizeof(err)));
	ASSERT_TRUE(hc_status_match(&s, 599));
}

TEST(status_list_errors_change_nothing)
{
	static const struct {
		const char *in, *err;
	} bad[] = {
		{ "", "empty status list (expected e.g. 200-399 or 200,204)" },
		{ "20", "'20' is not a status list (expected codes 100-599 and ranges, e.g. 200-399 "
			"or 200,204)" },
		{ "600", "'600' is not a status list (expected codes 100-599 and ranges, e.g. "
			 "200-399 or 200,204)" },
		{ "2000", "'2000' is not a status list (expected codes 100-599 and ranges, e.g. "
			  "200-399 or 200,204)" },
		{ "200,", "'200,' is not a status list (expected codes 100-599 and ranges, e.g. "
			  "200-399 or 200,204)" },
		{ "ok", "'ok' is not a status list (expected codes 100-599 and ranges, e.g. "
			"200-399 or 200,204)" },
		{ "399-200", "'399-200': range 399-200 is backwards" },
		{ "200,201,202,203,204,205,206,207,208", "'200,201,202,203,204,205,206,207,208': "
							 "at most 8 statuses or ranges" },
	};
	struct hc_status_set s, before;
	char err[200];

	ASSERT_OK(hc_status_parse("418", &s, err, sizeof(err)));
	before = s;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_ERR(hc_status_parse(bad[i].in, &s, err, sizeof(err)), -EINVAL);
		ASSERT_STREQ(err, bad[i].err);
		ASSERT_TRUE(!memcmp(&s, &before, sizeof(s)), "set unchanged");
	}
}
