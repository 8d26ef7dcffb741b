/* SPDX-License-Identifier: GPL-2.0 */
/* Decoding compressed upstream bodies (gzip, deflate) with zlib, bounded in size. */
#ifndef XDPGW_GATEWAY_INFLATE_H
#define XDPGW_GATEWAY_INFLATE_H

#include <stdbool.h>
#include <stddef.h>

/* Whether Content-Encoding e[0..len) is something gw_inflate decodes (gzip, x-gzip, deflate). */
bool gw_encoding_supported(const char *e, size_t len);
/* Whether e[0..len) is empty or "identity" (nothing to decode). */
bool gw_encoding_identity(const char *e, size_t len);

/*
 * Decodes in[0..len) (gzip or zlib/raw deflate, detected from the data) into a malloc'ed
 * buffer of at most max_out bytes. Returns 0 with *out and *outlen, -E2BIG when the decoded
 * body is larger than max_out, -EINVAL when the data is corrupt or truncated, -ENOMEM.
 */
int gw_inflate(const char *in, size_t len, size_t max_out, char **out, size_t *outlen);

#endif
