/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the libFuzzer targets (selftests/fuzz/fuzz_*.c, built with clang and
 * -fsanitize=fuzzer,address,undefined): the entry point and helpers that keep a target inside
 * its parser (no network, no reads of files the input names).
 */
#ifndef XDPGW_SELFTESTS_FUZZ_H
#define XDPGW_SELFTESTS_FUZZ_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of the input (parsers of C strings). Caller frees. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = 0;
	}
	return s;
}

/*
 * Members that name files or URLs are operator-trusted pointers to other input, not the input
 * under test: a fuzzer must not make the target read /dev/zero or start fetcher threads
 * towards random hosts. They are pointed at a file that does not exist, or removed.
 */
static inline void fuzz_defang(json_t *v)
{
	static const char *const files[] = { "cert", "key", "pem_file", "jwks_file", "access_log",
					     NULL };
	const char *name;
	json_t *m, *tmp;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			fuzz_defang(m);
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_del(v, "jwks_url");
	json_object_foreach_safe(v, tmp, name, m) {
		bool path = false;

		for (i = 0; files[i] && !path; i++)
			path = !strcmp(name, files[i]) && json_is_string(m) &&
			       (strcmp(name, "cert") && strcmp(name, "key") ?
					true : strchr(json_string_value(m), '/') != NULL);
		if (path)
			json_object_set_new(v, name, json_string("/nonexistent/xdpgw-fuzz"));
		else
			fuzz_defang(m);
	}
}

#endif
