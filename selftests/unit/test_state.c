// SPDX-License-Identifier: GPL-2.0
/* State store: atomic replace, round trip, and refusal of corrupt or unreadable files. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gwd/state.h"
#include "lib/test.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/xg-state-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/state.json", dir);
}

static void teardown(void)
{
	char tmp[160];

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	unlink(path);
	rmdir(dir);
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static char *read_all(void)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

TEST(round_trip)
{
	json_t *doc = json_pack("{s:{s:[{s:s}]}}", "l4", "services", "name", "web"), *got = NULL;
	uint64_t gen = 0;
	char err[512];
	struct stat st;

	setup();
	ASSERT_OK(state_save(path, doc, 7, err, sizeof(err)));
	if (ASSERT_OK(stat(path, &st)))
		ASSERT_EQ(st.st_mode & 0777, 0600);
	if (ASSERT_OK(state_load(path, &got, &gen, err, sizeof(err)))) {
		ASSERT_TRUE(json_equal(doc, got));
		ASSERT_EQ(gen, 7);
	}
	/* No temporary file is left behind. */
	char tmp[160];

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ASSERT_TRUE(access(tmp, F_OK) != 0);
	json_decref(got);
	json_decref(doc);
	teardown();
}

TEST(missing_is_enoent)
{
	json_t *doc = NULL;
	uint64_t gen;
	char err[512] = "";

	setup();
	ASSERT_EQ(state_load(path, &doc, &gen, err, sizeof(err)), -ENOENT);
	ASSERT_TRUE(doc == NULL);
	teardown();
}

/* Each corrupt file is refused with a message naming the file, and is left byte for byte. */
TEST(corrupt_refused_untouched)
{
	static const struct {
		const char *text, *cause;
	} cases[] = {
		{ "", "line 1 column 0: '[' or '{' expected near end of file" },
		{ "{\"format\": \"xdpgw-state\", \"version\": 1, \"generation\": 3, \"document\": {",
		  "line 1 column 70: string or '}' expected near end of file" },
		{ "{\"format\": \"other\"}",
		  "not an xdpgw state file (no \"format\": \"xdpgw-state\")" },
		{ "{\"format\": \"xdpgw-state\", \"version\": 2}",
		  "unsupported version (this gwd reads version 1)" },
		{ "{\"format\": \"xdpgw-state\", \"version\": 1, \"generation\": 3}",
		  "\"document\" is missing or not an object" },
		{ "{\"format\": \"xdpgw-state\", \"version\": 1, \"document\": {}}",
		  "\"generation\" is missing or invalid" },
		{ "{\"format\": \"xdpgw-state\", \"format\": \"xdpgw-state\"}",
		  "line 1 column 34: duplicate object key near '\"format\"'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512], want[768];
		json_t *doc = NULL;
		uint64_t gen;

		setup();
		write_file(cases[i].text);
		ASSERT_EQ(state_load(path, &doc, &gen, err, sizeof(err)), -EBADMSG);
		snprintf(want, sizeof(want),
			 "state file %s is corrupt: %s; it was left untouched: repair it, or move "
			 "it away to start from the config file",
			 path, cases[i].cause);
		ASSERT_STREQ(err, want);
		ASSERT_STREQ(read_all(), cases[i].text);
		ASSERT_TRUE(doc == NULL);
		teardown();
	}
}

TEST(unreadable_refused)
{
	char err[512], want[256];
	json_t *doc = NULL;
	uint64_t gen;

	setup();
	ASSERT_OK(mkdir(path, 0700)); /* a directory where the file should be */
	ASSERT_EQ(state_load(path, &doc, &gen, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "cannot read state file %s: not a regular file", path);
	ASSERT_STREQ(err, want);
	rmdir(path);
	teardown();
}

/* A save that can not complete leaves the previous file intact. */
TEST(failed_save_keeps_old)
{
	json_t *a = json_pack("{s:{}}", "l4"), *b = json_pack("{s:{s:[]}}", "l4", "links");
	char err[512], tmp[160], want[256];
	json_t *got = NULL;
	uint64_t gen;

	setup();
	ASSERT_OK(state_save(path, a, 1, err, sizeof(err)));
	/* The temporary path is a directory: open fails, the old file must survive. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ASSERT_OK(mkdir(tmp, 0700));
	ASSERT_EQ(state_save(path, b, 2, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "cannot save state file %s: Is a directory", path);
	ASSERT_STREQ(err, want);
	rmdir(tmp);
	if (ASSERT_OK(state_load(path, &got, &gen, err, sizeof(err)))) {
		ASSERT_TRUE(json_equal(got, a));
		ASSERT_EQ(gen, 1);
	}
	json_decref(got);
	json_decref(a);
	json_decref(b);
	teardown();
}

/* What state_load would refuse (over 64 MiB) is never saved: the old file stays loadable. */
TEST(oversize_not_saved)
{
	size_t big = (64u << 20) + 1;
	char *s = malloc(big + 1), err[512], want[256];
	json_t *a = json_pack("{s:{}}", "l4"), *b, *got = NULL;
	uint64_t gen;

	if (!ASSERT_NOT_NULL(s))
		return;
	memset(s, 'x', big);
	s[big] = '\0';
	b = json_pack("{s:{s:s}}", "gateway", "access_log", s);
	free(s);
	setup();
	ASSERT_OK(state_save(path, a, 1, err, sizeof(err)));
	ASSERT_EQ(state_save(path, b, 2, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "cannot save state file %s: the configuration would take "
		 "more than 64 MiB", path);
	ASSERT_STREQ(err, want);
	if (ASSERT_OK(state_load(path, &got, &gen, err, sizeof(err)))) {
		ASSERT_TRUE(json_equal(got, a));
		ASSERT_EQ(gen, 1);
	}
	json_decref(got);
	json_decref(a);
	json_decref(b);
	teardown();
}
