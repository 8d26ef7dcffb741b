// SPDX-License-Identifier: GPL-2.0
/* gzip / deflate decoding of upstream bodies with zlib (for JSON transformation, aggregation). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "gateway/inflate.h"

static bool token_is(const char *e, size_t len, const char *tok)
{
	while (len && (*e == ' ' || *e == '\t'))
		e++, len--;
	while (len && (e[len - 1] == ' ' || e[len - 1] == '\t'))
		len--;
	return len == strlen(tok) && !strncasecmp(e, tok, len);
}

bool gw_encoding_supported(const char *e, size_t len)
{
	return token_is(e, len, "gzip") || token_is(e, len, "x-gzip") || token_is(e, len, "deflate");
}

bool gw_encoding_identity(const char *e, size_t len)
{
	return token_is(e, len, "") || token_is(e, len, "identity");
}

/* One pass with the given windowBits (47: gzip or zlib header; -15: raw deflate). */
static int run(const char *in, size_t len, size_t max_out, int wbits, char **out, size_t *outlen)
{
	z_stream zs = { 0 };
	size_t cap = len * 4 + 256, used = 0;
	char *buf;
	int zr;

	if (cap > max_out + 1)
		cap = max_out + 1;
	if (inflateInit2(&zs, wbits) != Z_OK)
		return -ENOMEM;
	if (!(buf = malloc(cap))) {
		inflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = len > 0xffffffffu ? 0xffffffffu : (uInt)len;
	do {
		if (used == cap) {
			size_t ncap = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
			char *nb;

			if (ncap <= cap) {
				zr = Z_BUF_ERROR;	/* more than max_out */
				break;
			}
			if (!(nb = realloc(buf, ncap))) {
				zr = Z_MEM_ERROR;
				break;
			}
			buf = nb;
			cap = ncap;
		}
		zs.next_out = (Bytef *)buf + used;
		zs.avail_out = (uInt)(cap - used);
		zr = inflate(&zs, Z_NO_FLUSH);
		used = cap - zs.avail_out;
	} while (zr == Z_OK);
	inflateEnd(&zs);
	if (zr == Z_STREAM_END && used <= max_out && zs.avail_in == 0) {
		*out = buf;
		*outlen = used;
		return 0;
	}
	free(buf);
	if (zr == Z_MEM_ERROR)
		return -ENOMEM;
	if (used > max_out || (zr == Z_BUF_ERROR && used == cap))
		return -E2BIG;
	return -EINVAL;
}

int gw_inflate(const char *in, size_t len, size_t max_out, char **out, size_t *outlen)
{
	int rc = run(in, len, max_out, 15 + 32, out, outlen);

	/* Some servers send raw deflate for "deflate": try that when the header was wrong. */
	if (rc == -EINVAL)
		rc = run(in, len, max_out, -15, out, outlen) == 0 ? 0 : -EINVAL;
	return rc;
}
