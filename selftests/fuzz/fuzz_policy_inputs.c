// SPDX-License-Identifier: GPL-2.0
/*
 * Request data that drives policies, from any client: API keys and basic-auth credentials
 * (consumer lookups, hex and base64 decoding), rate-limit keys (the shared table, with
 * eviction), cache keys (host, path, Vary, Cache-Control) and the transform policy's query and
 * path rewriting. The first byte picks the consumer of the rest.
 */
#include <assert.h>
#include <regex.h>

#include "gateway/policies/auth.h"
#include "gateway/policies/cache_store.h"
#include "gateway/policies/jose.h"
#include "gateway/policies/ratelimit.h"
#include "gateway/policies/transform.h"
#include "fuzz.h"

static struct gw_consumers *consumers;
static struct rl_table *table;
static regex_t path_re;

static void setup(void)
{
	char err[256];
	json_t *j = json_loads(
		"[{\"id\": \"alice\", \"groups\": [\"admin\"], \"keys\": [{\"name\": \"k1\", "
		"\"sha256\": \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}],"
		"\"basic_auth\": {\"username\": \"al\", \"password_hash\": \"$6$saltsalt$qFmFH.bQmmtX"
		"zyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/\"}},"
		"{\"id\": \"bob\"}]", 0, NULL);

	consumers = j ? gw_consumers_compile(j, err, sizeof(err)) : NULL;
	json_decref(j);
	table = rl_table_get("fuzz", 64);
	if (!consumers || !table || regcomp(&path_re, "^/api/(v[0-9]+)/(.*)$", REG_EXTENDED))
		abort();
}

static bool get_header(void *arg, const char *name, const char **v, size_t *len)
{
	const char *in = arg;

	/* Every header has the input as its value, except the ones named like "x-absent*". */
	if (!strncmp(name, "x-absent", 8))
		return false;
	*v = in;
	*len = strlen(in);
	return true;
}

static void cache_inputs(const char *s, size_t len)
{
	char key[CACHE_MAX_KEY], names[CACHE_MAX_VARY];
	size_t off, plen, klen;
	struct cache_cc cc;
	long n;

	cache_cc_parse(s, len, &cc);
	n = cache_vary_names(s, len, names, sizeof(names));
	klen = cache_key_primary(key, sizeof(key), s, len / 2, s + len / 2, len - len / 2, "alice",
				 &off, &plen);
	if (klen && n >= 0)
		(void)cache_key_vary(key, sizeof(key), klen, names, get_header, (void *)s);
	if (klen)
		assert(off + plen <= klen);
}

static void transform_inputs(const char *s, size_t len)
{
	char *remove[] = { "token", "a b" };
	struct tf_param set[] = { { "page", "1" } }, add[] = { { "via", "x&y=z" } };
	struct tf_query_edit e = { remove, 2, set, 1, add, 1 };
	char out[8192];
	size_t n;

	n = tf_query_rewrite(&e, s, len, out, sizeof(out));
	assert(n == (size_t)-1 || n <= sizeof(out));
	n = tf_path_rewrite(&path_re, "/$2/$1$$", s, len, out, sizeof(out));
	assert(n == (size_t)-1 || n <= sizeof(out));
	(void)tf_is_json_type(s, len);
}

static void auth_inputs(const char *s, size_t len)
{
	uint8_t digest[32], raw[4096];
	size_t n = sizeof(raw);

	auth_sha256(s, len, digest);
	(void)gw_consumer_by_key(consumers, digest);
	(void)gw_consumer_by_username(consumers, s, len);
	(void)gw_consumer_by_id(consumers, s, len);
	(void)auth_hex32(s, digest);
	(void)auth_valid_id(s);
	/* Authorization: Basic BASE64(user:password) */
	if (len < 3000 && jose_b64_decode(s, len, false, raw, &n) == 0) {
		uint8_t *colon = memchr(raw, ':', n);

		if (colon)
			(void)gw_consumer_by_username(consumers, (char *)raw, (size_t)(colon - raw));
	}
}

/*
 * The table's contract: keys of at most RL_KEY_MAX bytes (rate_limit.c's build_key stores
 * longer ones as "s:" + SHA-256; rl_table_take itself does not check). 10/s, burst 5.
 */
static void rate_limit_key(const char *v, size_t n, uint64_t now)
{
	char key[RL_KEY_MAX];
	size_t klen = n + 2;

	if (n + 2 > RL_KEY_MAX) {
		memcpy(key, "s:", 2);
		auth_sha256(v, n, (uint8_t *)key + 2);
		klen = 34;
	} else {
		memcpy(key, "h:", 2);
		memcpy(key + 2, v, n);
	}
	(void)rl_table_take(table, key, klen, now, 100000, 500000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t now = 1000000;
	char *s;

	if (!consumers)
		setup();
	if (!size)
		return 0;
	s = fuzz_str(data + 1, size - 1);
	if (!s)
		return 0;
	switch (data[0] % 4) {
	case 0:
		auth_inputs(s, size - 1);
		break;
	case 1:	/* rate-limit keys as the policy builds them: "h:VALUE", long ones hashed */
		now += data[0];
		rate_limit_key(s, size - 1, now);
		break;
	case 2:
		cache_inputs(s, size - 1);
		break;
	default:
		transform_inputs(s, size - 1);
		break;
	}
	free(s);
	return 0;
}
