// SPDX-License-Identifier: GPL-2.0
/*
 * Authentication, authorization and rate limiting without a network: consumers (hashed
 * secrets only, lookups by key digest, user and id), each policy's config errors with the exact
 * message, GCRA arithmetic, and the in-memory limiter admitting exactly its burst under threads.
 */
#include <crypt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/policies/auth.h"
#include "gateway/policies/ratelimit.h"
#include "lib/gwtest.h"
#include "lib/test.h"

/* SHA-256("secret-key-1") */
#define KEY1_SHA "b8c3c6fc67ee7e5a3b9bc0ba1e1da6ef6e4ee4b2a3ed2f9e4bb4d2a2c4ee7d02"

static void hex(const uint8_t d[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static json_t *consumers_json(void)
{
	uint8_t d[32];
	char h[65], buf[1024];

	auth_sha256("secret-key-1", 12, d);
	hex(d, h);
	snprintf(buf, sizeof(buf),
		 "[{\"id\":\"alice\",\"groups\":[\"admins\",\"beta\"],"
		 "\"keys\":[{\"name\":\"k1\",\"sha256\":\"%s\"}],"
		 "\"basic_auth\":{\"username\":\"al\",\"password_hash\":\"%s\"}},"
		 "{\"id\":\"bob\"}]",
		 h, "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc"
		    ".eoxqOmSuNp2xS0ktL3nh/");
	return json_loads(buf, 0, NULL);
}

TEST(consumers_lookup)
{
	json_t *j = consumers_json();
	char err[256] = "";
	struct gw_consumers *cs = gw_consumers_compile(j, err, sizeof(err));
	uint8_t d[32];
	const struct gw_consumer *c;

	json_decref(j);
	if (!ASSERT_NOT_NULL(cs))
		return;
	auth_sha256("secret-key-1", 12, d);
	c = gw_consumer_by_key(cs, d);
	ASSERT_STREQ(c ? c->id : NULL, "alice");
	auth_sha256("secret-key-2", 12, d);
	ASSERT_TRUE(gw_consumer_by_key(cs, d) == NULL);
	c = gw_consumer_by_username(cs, "al", 2);
	ASSERT_STREQ(c ? c->id : NULL, "alice");
	ASSERT_TRUE(gw_consumer_by_username(cs, "alice", 5) == NULL);
	c = gw_consumer_by_id(cs, "bob", 3);
	ASSERT_STREQ(c ? c->id : NULL, "bob");
	ASSERT_TRUE(gw_consumer_by_id(cs, "bo", 2) == NULL);
	ASSERT_TRUE(gw_consumer_in_group(gw_consumer_by_id(cs, "alice", 5), "beta"));
	ASSERT_FALSE(gw_consumer_in_group(gw_consumer_by_id(cs, "bob", 3), "beta"));
	gw_consumers_free(cs);
}

/* The stored hash verifies with crypt_r, the way basic-auth's checker does it. */
TEST(password_hash_verifies)
{
	struct crypt_data cd = { 0 };
	const char *h = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq."
			"qc.eoxqOmSuNp2xS0ktL3nh/";
	char *mine = crypt_r("password", "$6$saltsalt$", &cd);

	ASSERT_STREQ(mine, h);
	ASSERT_STREQ(crypt_r("password", h, &cd), h);
	ASSERT_TRUE(strcmp(crypt_r("Password", h, &cd), h) != 0);
}

#define UP "\"upstreams\":[{\"name\":\"u\",\"targets\":[{\"addr\":\"198.18.1.1:80\"}]}]"
#define ROUTE(pol) "{" UP ",\"routes\":[{\"name\":\"r\",\"upstream\":\"u\",\"policies\":[" pol "]}]}"
#define P "gateway.routes[r].policies[0]"

TEST(config_errors)
{
	/* consumers: secrets are only accepted hashed */
	gwt_expect_error("{\"consumers\":[{\"id\":\"alice\",\"keys\":[{\"key\":\"abc\"}]}]}",
		     "gateway.consumers[alice].keys[0]: unknown field \"key\" (API keys are stored "
		     "as their SHA-256 only: give sha256, or use gwctl consumer key add)");
	gwt_expect_error("{\"consumers\":[{\"id\":\"alice\",\"basic_auth\":{\"password\":\"x\"}}]}",
		     "gateway.consumers[alice].basic_auth: unknown field \"password\" (passwords are "
		     "stored hashed only: give password_hash, or use gwctl consumer password set)");
	gwt_expect_error("{\"consumers\":[{\"id\":\"alice\",\"keys\":[{\"sha256\":\"abc\"}]}]}",
		     "gateway.consumers[alice].keys[0].sha256: must be 64 hex digits (the SHA-256 "
		     "of the key)");
	gwt_expect_error("{\"consumers\":[{\"id\":\"a\",\"basic_auth\":{\"password_hash\":\"$1$x$y\"}}]}",
		     "gateway.consumers[a].basic_auth.password_hash: must be a crypt(3) hash: $y$ "
		     "(yescrypt), $2b$ (bcrypt), $6$ or $5$ (SHA-crypt)");
	gwt_expect_error("{\"consumers\":[{\"id\":\"a\"},{\"id\":\"a\"}]}",
		     "gateway.consumers[a]: duplicate consumer id");
	gwt_expect_error("{\"consumers\":[{\"id\":\"a\",\"keys\":[{\"sha256\":\"" KEY1_SHA "\"}]},"
		     "{\"id\":\"b\",\"keys\":[{\"name\":\"x\",\"sha256\":\"" KEY1_SHA "\"}]}]}",
		     "gateway.consumers[b].keys[x]: the same key belongs to consumer a");
	gwt_expect_error("{\"consumers\":[{\"id\":\"bad id\"}]}",
		     "gateway.consumers[0].id: must be 1-127 characters of A-Z a-z 0-9 . _ - @ :");
	/* key-auth, basic-auth */
	gwt_expect_error(ROUTE("{\"name\":\"key-auth\",\"headr\":\"x\"}"),
		     P ": unknown field \"headr\" (header, query, consumer_header, "
		     "hide_credentials, realm)");
	gwt_expect_error(ROUTE("{\"name\":\"key-auth\",\"header\":false}"),
		     P ": needs a header or a query parameter to read the key from");
	gwt_expect_error(ROUTE("{\"name\":\"basic-auth\",\"cache_ttl_s\":-1}"),
		     P ".cache_ttl_s: must be an integer 0-86400");
	gwt_expect_error(ROUTE("{\"name\":\"basic-auth\",\"realm\":\"a\\\"b\"}"),
		     P ".realm: must be 1-64 characters without quotes");
	/* jwt: unknown algorithm, missing key, bad key */
	gwt_expect_error(ROUTE("{\"name\":\"jwt\"}"), P ": needs keys, jwks_file or jwks_url");
	gwt_expect_error(ROUTE("{\"name\":\"jwt\",\"algorithms\":[\"RS256\",\"none\"],\"keys\":[{\"secret\":"
			   "\"0123456789abcdef0123456789abcdef\"}]}"),
		     P ".algorithms: unknown algorithm \"none\" (HS256, HS384, HS512, RS256, RS384, "
		     "RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)");
	gwt_expect_error(ROUTE("{\"name\":\"jwt\",\"keys\":[{\"secret\":\"0123456789abcdef0123456789abcdef\","
			   "\"alg\":\"HS257\"}]}"),
		     P ".keys[0].alg: unknown algorithm \"HS257\" (HS256, HS384, HS512, RS256, RS384, "
		     "RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)");
	gwt_expect_error(ROUTE("{\"name\":\"jwt\",\"keys\":[{\"secret\":\"short\"}]}"),
		     P ".keys[0]: HMAC secret is too short (5 bytes; HS256 needs 32, HS384 48, HS512 "
		     "64)");
	gwt_expect_error(ROUTE("{\"name\":\"jwt\",\"keys\":[{\"kid\":\"k\"}]}"),
		     P ".keys[0]: needs exactly one of jwk, pem, pem_file, secret, secret_base64");
	gwt_expect_error(ROUTE("{\"name\":\"jwt\",\"keys\":[{\"pem_file\":\"/nonexistent.pem\"}]}"),
		     P ".keys[0].pem_file: cannot open \"/nonexistent.pem\": No such file or "
		     "directory");
	gwt_expect_error(ROUTE("{\"name\":\"jwt\",\"keys\":[{\"pem\":\"-----BEGIN PUBLIC KEY-----\"}]}"),
		     P ".keys[0]: not a PEM public key or certificate");
	gwt_expect_error(ROUTE("{\"name\":\"jwt\",\"jwks_url\":\"ftp://x\"}"),
		     P ".jwks_url: must be an http:// or https:// URL");
	/* acl: bad CIDR */
	gwt_expect_error(ROUTE("{\"name\":\"acl\",\"allow_ips\":[\"198.18.0.0/15\",\"10.0.0.0/33\"]}"),
		     P ".allow_ips[1]: \"10.0.0.0/33\" is not an IPv4 or IPv6 address or CIDR prefix "
		     "(ADDR/LEN)");
	gwt_expect_error(ROUTE("{\"name\":\"acl\",\"deny_ips\":[\"2001:2::/129\"]}"),
		     P ".deny_ips[0]: \"2001:2::/129\" is not an IPv4 or IPv6 address or CIDR prefix "
		     "(ADDR/LEN)");
	gwt_expect_error(ROUTE("{\"name\":\"acl\"}"),
		     P ": needs at least one of allow_ips, deny_ips, allow_consumers, allow_groups, "
		     "deny_consumers, deny_groups");
	/* rate-limit */
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\"}"), P ": missing field \"limit\"");
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\",\"limit\":10,\"window\":\"week\"}"),
		     P ".window: must be second, minute, hour, day or 1-86400 seconds");
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\",\"limit\":10,\"key\":\"cookie\"}"),
		     P ".key: unknown key \"cookie\" (consumer, ip, header, global)");
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\",\"limit\":10,\"key\":\"header\"}"),
		     P ".header: needed with key: header (a header name)");
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\",\"limit\":10,\"scope\":\"s\",\"id\":\"a b\"}"),
		     P ".id: must be 1-127 characters of A-Z a-z 0-9 . _ - @ :");
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\",\"limit\":10,\"policy\":\"redis\"}"),
		     P ".redis: needed with policy: redis ({addr: HOST:PORT})");
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\",\"limit\":10,\"policy\":\"redis\","
			   "\"redis\":{\"addr\":\"redis.local:6379\"}}"),
		     P ".redis.addr: \"redis.local:6379\": not a numeric address (names are not "
		     "resolved)");
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\",\"limit\":10,\"policy\":\"redis\","
			   "\"redis\":{\"addr\":\"127.0.0.1:6379\",\"fail\":\"maybe\"}}"),
		     P ".redis.fail: must be open or closed");
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\",\"limit\":10,\"policy\":\"redis\","
			   "\"redis\":{\"addr\":\"127.0.0.1:6379\",\"batch\":5}}"),
		     P ".redis: batch and sync_ms are only used with mode: batched");
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\",\"limit\":10,\"policy\":\"redis\","
			   "\"redis\":{\"addr\":\"127.0.0.1:6379\",\"max_in_flight\":0}}"),
		     P ".redis.max_in_flight: must be an integer 1-100000");
	gwt_expect_error(ROUTE("{\"name\":\"rate-limit\",\"limit\":10,\"policy\":\"redis\","
			   "\"redis\":{\"addr\":\"127.0.0.1:6379\",\"max_in_flight\":\"5\"}}"),
		     P ".redis.max_in_flight: must be an integer 1-100000");
}

TEST(config_ok)
{
	char err[512] = "", buf[2048];
	json_t *cons = consumers_json(), *j;
	struct gw_config *cfg;
	char *cs = json_dumps(cons, JSON_COMPACT);

	snprintf(buf, sizeof(buf),
		 "{" UP ",\"consumers\":%s,\"routes\":[{\"name\":\"r\",\"upstream\":\"u\","
		 "\"policies\":[{\"name\":\"key-auth\",\"query\":\"api_key\"},"
		 "{\"name\":\"acl\",\"allow_groups\":[\"admins\"],\"deny_ips\":[\"2001:2::/48\"]},"
		 "{\"name\":\"rate-limit\",\"limit\":100,\"window\":\"minute\",\"burst\":10},"
		 "{\"name\":\"jwt\",\"keys\":[{\"secret\":\"0123456789abcdef0123456789abcdef\"}],"
		 "\"issuer\":\"https://i.test\",\"audience\":[\"api\"]},"
		 "{\"name\":\"basic-auth\"}]}]}", cs);
	free(cs);
	json_decref(cons);
	j = json_loads(buf, 0, NULL);
	cfg = gw_config_compile(j, err, sizeof(err));
	json_decref(j);
	if (!ASSERT_TRUE(cfg != NULL, "%s", err))
		return;
	ASSERT_EQ(cfg->routes[0].npolicies, 5);
	gw_config_put(cfg);
}

TEST(gcra)
{
	/* 10 per second, burst 3: T = 100 ms */
	uint64_t T = 100000, burst = 3 * T, tat = 0, now = 1000000000;
	struct rl_result r;

	r = rl_gcra(&tat, now, T, burst);
	ASSERT_TRUE(r.allowed);
	ASSERT_EQ(r.remaining, 2);
	ASSERT_EQ(r.reset_us, T);
	ASSERT_TRUE(rl_gcra(&tat, now, T, burst).allowed);
	r = rl_gcra(&tat, now, T, burst);
	ASSERT_TRUE(r.allowed);
	ASSERT_EQ(r.remaining, 0);
	r = rl_gcra(&tat, now, T, burst);
	ASSERT_FALSE(r.allowed);
	ASSERT_EQ(r.retry_us, T);	/* the next slot frees in one emission interval */
	ASSERT_EQ(r.reset_us, 3 * T);
	r = rl_gcra(&tat, now + T - 1, T, burst);
	ASSERT_FALSE(r.allowed);
	ASSERT_EQ(r.retry_us, 1);
	ASSERT_TRUE(rl_gcra(&tat, now + T, T, burst).allowed);
	ASSERT_FALSE(rl_gcra(&tat, now + T, T, burst).allowed);
	/* after a long pause, a full burst again (not more) */
	now += 100 * T;
	for (int i = 0; i < 3; i++)
		ASSERT_TRUE(rl_gcra(&tat, now, T, burst).allowed);
	ASSERT_FALSE(rl_gcra(&tat, now, T, burst).allowed);
	/* the Redis path: same numbers from the debt */
	r = rl_from_debt(false, 3 * T, T, burst);
	ASSERT_EQ(r.remaining, 0);
	ASSERT_EQ(r.retry_us, T);
	r = rl_from_debt(true, T, T, burst);
	ASSERT_EQ(r.remaining, 2);
}

struct hammer {
	struct rl_table *t;
	uint64_t now;
	int admitted;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < 2000; i++) {
		char key[16];
		int n = snprintf(key, sizeof(key), "c:k%d", i % 4);

		if (rl_table_take(h->t, key, (size_t)n, h->now, 1000000, 50 * 1000000ull).allowed)
			h->admitted++;
	}
	return NULL;
}

/* 4 threads x 2000 requests over 4 keys, burst 50 each: exactly 200 admitted. */
TEST(table_exact_across_threads)
{
	struct rl_table *t = rl_table_get("test.exact", 1024);
	struct hammer h[4];
	pthread_t th[4];
	int total = 0;

	if (!ASSERT_NOT_NULL(t))
		return;
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ t, 5000000000ull, 0 };
		pthread_create(&th[i], NULL, hammer_main, &h[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += h[i].admitted;
	}
	ASSERT_EQ(total, 200);
	ASSERT_EQ(rl_table_evictions(t), 0);
	/* the same name is the same state (config versions share it) */
	{
		struct rl_table *again = rl_table_get("test.exact", 1024);

		ASSERT_TRUE(again == t);
		ASSERT_FALSE(rl_table_take(again, "c:k0", 4, 5000000000ull, 1000000,
					   50 * 1000000ull).allowed);
		rl_table_put(again);
	}
	rl_table_put(t);
}

/* A full table pushes out the key closest to a full bucket, and says so. */
TEST(table_eviction_counted)
{
	struct rl_table *t = rl_table_get("test.evict", 64);	/* 64 stripes x 8 slots */
	int i;

	if (!ASSERT_NOT_NULL(t))
		return;
	for (i = 0; i < 5000; i++) {
		char key[16];
		int n = snprintf(key, sizeof(key), "i:%d", i);

		rl_table_take(t, key, (size_t)n, 1000, 1000000, 1000000);
	}
	ASSERT_GT(rl_table_evictions(t), 0);
	rl_table_put(t);
}
