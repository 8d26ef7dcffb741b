// SPDX-License-Identifier: GPL-2.0
/* The C test harness: runs registered tests in order and prints one result line per test. */
#include "test.h"

#include <errno.h>
#include <libgen.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

static struct test_case *tests_head, **tests_tail = &tests_head;
static const char *suite = "test";
static const struct test_case *current;
static bool current_failed, current_skipped;

void test_register(struct test_case *tc)
{
	*tests_tail = tc;
	tests_tail = &tc->next;
}

void test_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	/* Only the first failure names the test; later ones add context on stderr. */
	if (!current_failed) {
		printf("FAIL %s/%s: %s:%d: ", suite, current ? current->name : "?", file, line);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	} else {
		fprintf(stderr, "     also %s:%d: ", file, line);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fprintf(stderr, "\n");
	}
	fflush(stdout);
	current_failed = true;
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	if (current_failed || current_skipped)
		return;
	printf("skip %s/%s: ", suite, current ? current->name : "?");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	current_skipped = true;
}

bool test_own_netns(void)
{
	if (geteuid() != 0) {
		test_skip("needs root");
		return false;
	}
	return ASSERT_OK(unshare(CLONE_NEWNET) ? -errno : 0);
}

bool test_failed(void)
{
	return current_failed;
}

void test_hexdiff(const void *got, size_t got_len, const void *want, size_t want_len)
{
	const unsigned char *g = got, *w = want;
	size_t n = got_len > want_len ? got_len : want_len;

	fprintf(stderr, "     off   got                               want\n");
	for (size_t off = 0; off < n; off += 16) {
		bool row_differs = false;

		fprintf(stderr, "     %04zx  ", off);
		for (size_t i = off; i < off + 16; i++) {
			if (i < got_len)
				fprintf(stderr, "%02x", g[i]);
			else
				fprintf(stderr, "  ");
			if (i >= got_len || i >= want_len || g[i] != w[i])
				row_differs = row_differs || i < n;
		}
		fprintf(stderr, "  ");
		for (size_t i = off; i < off + 16; i++) {
			if (i < want_len)
				fprintf(stderr, "%02x", w[i]);
			else
				fprintf(stderr, "  ");
		}
		fprintf(stderr, "%s\n", row_differs ? "  <" : "");
	}
}

static bool selected(const struct test_case *tc, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], tc->name) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int failed = 0;
	char *base = basename(argv[0]);

	suite = strncmp(base, "test_", 5) == 0 ? base + 5 : base;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (struct test_case *tc = tests_head; tc; tc = tc->next) {
		if (!selected(tc, argc, argv))
			continue;
		current = tc;
		current_failed = current_skipped = false;
		tc->fn();
		if (current_failed)
			failed++;
		else if (!current_skipped)
			printf("ok   %s/%s\n", suite, tc->name);
	}
	return failed ? 1 : 0;
}
