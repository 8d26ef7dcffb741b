// SPDX-License-Identifier: GPL-2.0
/*
 * Aggregate routes' path templates: the template syntax (operator input, first line) and the
 * request data they expand (client input: the path, the query after the second line's "?",
 * header values and the consumer from the rest). Expansion must stay within its buffer and
 * percent-encode what came from the client.
 */
#include <assert.h>

#include "gateway/aggregate.h"
#include "fuzz.h"

struct hdrs {
	const char *v;
	size_t len;
};

static bool header(void *arg, const char *name, const char **v, size_t *len)
{
	const struct hdrs *h = arg;

	if (!strncmp(name, "x-absent", 8))
		return false;
	*v = h->v;
	*len = h->len;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), *nl, *req, *q, err[256], out[4096];
	struct gw_tmpl t;
	struct gw_tmpl_req r = { .header = header };
	struct hdrs h = { "", 0 };
	const char *missing;
	size_t n;

	if (!s)
		return 0;
	nl = strchr(s, '\n');
	req = nl ? nl + 1 : s + size;
	if (nl)
		*nl = 0;
	if (gw_tmpl_parse(s, &t, err, sizeof(err)) == 0) {
		/* second line: the request target; the rest: header value and consumer */
		nl = strchr(req, '\n');
		if (nl) {
			*nl = 0;
			h.v = nl + 1;
			h.len = strlen(nl + 1);
			r.consumer = h.len ? nl + 1 : NULL;
		}
		q = strchr(req, '?');
		r.path = req;
		r.path_len = q ? (size_t)(q - req) : strlen(req);
		r.rest = req;
		r.rest_len = r.path_len;
		r.query = q ? q + 1 : NULL;
		r.query_len = q ? strlen(q + 1) : 0;
		r.arg = &h;
		n = gw_tmpl_expand(&t, &r, out, sizeof(out), &missing);
		assert(n == (size_t)-1 || n <= sizeof(out));
		n = gw_tmpl_expand(&t, &r, out, 8, &missing);	/* a small buffer too */
		assert(n == (size_t)-1 || n <= 8);
		gw_tmpl_free(&t);
	}
	free(s);
	return 0;
}
