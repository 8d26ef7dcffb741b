/* SPDX-License-Identifier: GPL-2.0 */
/* Gateway config fixtures for unit tests: compile a JSON document, or check its exact error. */
#ifndef XDPGW_SELFTESTS_GWTEST_H
#define XDPGW_SELFTESTS_GWTEST_H

#include "gateway/gw.h"

/* The compiled gateway section json (the caller puts it), or NULL after a test failure. */
struct gw_config *gwt_compile(const char *json);
/* Checks that json parses but does not compile, failing with exactly want. */
void gwt_expect_error(const char *json, const char *want);

#endif
