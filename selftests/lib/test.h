/* SPDX-License-Identifier: GPL-2.0 */
/* The C test harness shared by every unit and BPF test: registration, ASSERT macros, results. */
#ifndef XDPGW_SELFTESTS_TEST_H
#define XDPGW_SELFTESTS_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * A test is a function registered with TEST(name). The runner prints one line per test:
 *   ok   SUITE/NAME
 *   FAIL SUITE/NAME: first failed assertion
 *   skip SUITE/NAME: reason
 * and exits non-zero when any test failed. SUITE is the program name without "test_".
 * `./test_x NAME...` runs only the named tests.
 */
struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool test_failed(void);
/* Moves the test into a network namespace of its own: false (skipped or failed) when it cannot,
 * a skip when not root. */
bool test_own_netns(void);
/* Hex dump of two buffers side by side for a mismatch report, to stderr. */
void test_hexdiff(const void *got, size_t got_len, const void *want, size_t want_len);

#define TEST(name)                                                                                 \
	static void test_fn_##name(void);                                                          \
	static struct test_case test_case_##name = { #name, test_fn_##name, NULL };                 \
	__attribute__((constructor)) static void test_reg_##name(void)                             \
	{                                                                                          \
		test_register(&test_case_##name);                                                  \
	}                                                                                          \
	static void test_fn_##name(void)

/* Every ASSERT evaluates to true when it holds, so it can guard: if (!ASSERT_OK(x)) return; */
#define ASSERT_TRUE(cond, ...)                                                                     \
	({                                                                                         \
		bool ok_ = !!(cond);                                                               \
		if (!ok_)                                                                          \
			test_fail_at(__FILE__, __LINE__, "%s" __VA_OPT__(": ") __VA_ARGS__, #cond); \
		ok_;                                                                               \
	})
#define ASSERT_FALSE(cond, ...) ASSERT_TRUE(!(cond), ##__VA_ARGS__)

#define ASSERT_CMP_(a, b, op)                                                                      \
	({                                                                                         \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		bool ok_ = a_ op b_;                                                               \
		if (!ok_)                                                                          \
			test_fail_at(__FILE__, __LINE__, "%s %s %s: got %lld vs %lld", #a, #op,    \
				     #b, a_, b_);                                                  \
		ok_;                                                                               \
	})
#define ASSERT_EQ(a, b) ASSERT_CMP_(a, b, ==)
#define ASSERT_NE(a, b) ASSERT_CMP_(a, b, !=)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, b, <)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, b, <=)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, b, >)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, b, >=)

/* A call returning 0 or a negative errno. */
#define ASSERT_OK(expr)                                                                            \
	({                                                                                         \
		long long r_ = (long long)(expr);                                                  \
		bool ok_ = r_ == 0;                                                                \
		if (!ok_)                                                                          \
			test_fail_at(__FILE__, __LINE__, "%s: returned %lld (%s)", #expr, r_,      \
				     r_ < 0 ? strerror((int)-r_) : "non-zero");                    \
		ok_;                                                                               \
	})
#define ASSERT_ERR(expr, want)                                                                     \
	({                                                                                         \
		long long r_ = (long long)(expr), w_ = (long long)(want);                          \
		bool ok_ = r_ == w_;                                                               \
		if (!ok_)                                                                          \
			test_fail_at(__FILE__, __LINE__, "%s: returned %lld, want %lld", #expr,    \
				     r_, w_);                                                      \
		ok_;                                                                               \
	})
#define ASSERT_NOT_NULL(ptr)                                                                       \
	({                                                                                         \
		bool ok_ = (ptr) != NULL;                                                          \
		if (!ok_)                                                                          \
			test_fail_at(__FILE__, __LINE__, "%s is NULL", #ptr);                      \
		ok_;                                                                               \
	})
#define ASSERT_STREQ(a, b)                                                                         \
	({                                                                                         \
		const char *a_ = (a), *b_ = (b);                                                   \
		bool ok_ = a_ && b_ && strcmp(a_, b_) == 0;                                        \
		if (!ok_)                                                                          \
			test_fail_at(__FILE__, __LINE__, "%s == %s: got \"%s\" vs \"%s\"", #a, #b, \
				     a_ ? a_ : "(null)", b_ ? b_ : "(null)");                      \
		ok_;                                                                               \
	})
#define ASSERT_MEMEQ(got, got_len, want, want_len)                                                 \
	({                                                                                         \
		size_t gl_ = (got_len), wl_ = (want_len);                                          \
		bool ok_ = gl_ == wl_ && memcmp((got), (want), gl_) == 0;                          \
		if (!ok_) {                                                                        \
			test_fail_at(__FILE__, __LINE__, "%s differs from %s (%zu vs %zu bytes)",  \
				     #got, #want, gl_, wl_);                                       \
			test_hexdiff((got), gl_, (want), wl_);                                     \
		}                                                                                  \
		ok_;                                                                               \
	})

#endif
