// SPDX-License-Identifier: GPL-2.0
/*
 * Consumers (`gateway.consumers`): id, groups and credentials, compiled once per config into
 * hash indexes by id, API-key digest and basic-auth user name. Secrets are accepted hashed
 * only: API keys as SHA-256 (`sha256`), passwords as crypt(3) strings (`password_hash`). Also
 * the helpers every authentication policy shares: settings, success and failure answers,
 * counters.
 */
/* Paths and names in messages are bounded on purpose; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/gw.h"
#include "gateway/policies/auth.h"
#include "lib/log.h"

struct slot {
	const struct gw_consumer *c;
	const uint8_t *digest;	/* key slots only */
};

struct gw_consumers {
	struct gw_consumer *v;
	size_t n;
	struct slot *by_id, *by_key, *by_user;	/* open addressing, capacity cap (power of 2) */
	size_t cap_id, cap_key, cap_user;
	uint64_t seed;
};

/* ---- hashing ---- */

static pthread_key_t sha_key;
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha_ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void sha_init(void)
{
	pthread_key_create(&sha_key, sha_ctx_free);
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void auth_sha256(const void *data, size_t len, uint8_t out[32])
{
	EVP_MD_CTX *ctx;
	unsigned int n = 32;

	pthread_once(&sha_once, sha_init);
	ctx = pthread_getspecific(sha_key);
	if (!ctx) {
		ctx = EVP_MD_CTX_new();
		pthread_setspecific(sha_key, ctx);
	}
	if (!ctx || !EVP_DigestInit_ex2(ctx, sha256_md, NULL) ||
	    !EVP_DigestUpdate(ctx, data, len) || !EVP_DigestFinal_ex(ctx, out, &n)) {
		/* Out of memory: a digest no stored key has (keys are hashes of real input). */
		memset(out, 0xff, 32);
	}
}

int auth_hex32(const char *hex, uint8_t out[32])
{
	for (size_t i = 0; i < 64; i++) {
		int c = (unsigned char)hex[i], v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return -EINVAL;
		if (i % 2 == 0)
			out[i / 2] = v << 4;
		else
			out[i / 2] |= v;
	}
	return hex[64] ? -EINVAL : 0;
}

bool auth_valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AUTH_ID_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-@:", *s))
			return false;
	return true;
}

static size_t cap_for(size_t n)
{
	size_t cap = 8;

	while (cap < 2 * n)
		cap <<= 1;
	return cap;
}

/* ---- compile ---- */

static void consumer_free(struct gw_consumer *c)
{
	size_t i;

	for (i = 0; i < c->ngroups; i++)
		free(c->groups[i]);
	free(c->groups);
	for (i = 0; i < c->nkeys; i++)
		free(c->keys[i].name);
	free(c->keys);
	free(c->id);
	free(c->username);
	if (c->password_hash) {
		OPENSSL_cleanse(c->password_hash, strlen(c->password_hash));
		free(c->password_hash);
	}
}

void gw_consumers_free(struct gw_consumers *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n; i++)
		consumer_free(&cs->v[i]);
	free(cs->v);
	free(cs->by_id);
	free(cs->by_key);
	free(cs->by_user);
	free(cs);
}

static bool known_hash_scheme(const char *h)
{
	static const char *const ok[] = { "$y$", "$gy$", "$7$", "$2b$", "$2y$", "$2a$", "$6$",
					  "$5$", NULL };

	for (const char *const *p = ok; *p; p++)
		if (!strncmp(h, *p, strlen(*p)))
			return strlen(h) > strlen(*p) + 8;
	return false;
}

static int fail(char *err, size_t errlen, const char *path, const char *msg)
{
	snprintf(err, errlen, "%s%s", path, msg);
	return -EINVAL;
}

static int compile_keys(const json_t *keys, const char *path, struct gw_consumer *c, char *err,
			size_t errlen)
{
	char kp[300];
	json_t *kj;
	size_t i, j;

	if (!keys)
		return 0;
	if (!json_is_array(keys))
		return fail(err, errlen, path, ".keys: must be a list of {name, sha256}");
	c->keys = calloc(json_array_size(keys) + 1, sizeof(*c->keys));
	if (!c->keys)
		return -ENOMEM;
	json_array_foreach(keys, i, kj) {
		struct gw_api_key *k = &c->keys[i];
		json_t *name = json_object_get(kj, "name"), *sha = json_object_get(kj, "sha256");
		const char *key;
		json_t *v;

		snprintf(kp, sizeof(kp), "%s.keys[%zu]", path, i);
		if (!json_is_object(kj))
			return fail(err, errlen, kp, ": must be an object {name, sha256}");
		json_object_foreach(kj, key, v) {
			if (strcmp(key, "name") && strcmp(key, "sha256")) {
				snprintf(err, errlen, "%s: unknown field \"%s\"%s", kp, key,
					 !strcmp(key, "key") ? " (API keys are stored as their "
							       "SHA-256 only: give sha256, or "
							       "use gwctl consumer key add)"
							     : "");
				return -EINVAL;
			}
		}
		if (!json_is_string(sha) || auth_hex32(json_string_value(sha), k->sha256))
			return fail(err, errlen, kp, ".sha256: must be 64 hex digits (the SHA-256 "
					     "of the key)");
		if (name && (!json_is_string(name) || !auth_valid_id(json_string_value(name))))
			return fail(err, errlen, kp, ".name: must be 1-127 characters of A-Z a-z "
					     "0-9 . _ - @ :");
		if (name) {
			k->name = strdup(json_string_value(name));
		} else {
			/* Default name: a fingerprint of the digest, safe to show. */
			k->name = malloc(9);
			if (k->name)
				snprintf(k->name, 9, "%02x%02x%02x%02x", k->sha256[0],
					 k->sha256[1], k->sha256[2], k->sha256[3]);
		}
		if (!k->name)
			return -ENOMEM;
		c->nkeys = i + 1;
		for (j = 0; j < i; j++)
			if (!strcmp(c->keys[j].name, k->name))
				return fail(err, errlen, kp, ": duplicate key name");
	}
	return 0;
}

static int compile_basic(const json_t *b, const char *path, struct gw_consumer *c, char *err,
			 size_t errlen)
{
	json_t *user = json_object_get(b, "username"), *hash = json_object_get(b, "password_hash");
	const char *key;
	json_t *v;

	if (!json_is_object(b))
		return fail(err, errlen, path, ".basic_auth: must be an object {username, "
				     "password_hash}");
	json_object_foreach((json_t *)b, key, v) {
		if (strcmp(key, "username") && strcmp(key, "password_hash")) {
			snprintf(err, errlen, "%s.basic_auth: unknown field \"%s\"%s", path, key,
				 !strcmp(key, "password") ? " (passwords are stored hashed only: "
							    "give password_hash, or use gwctl "
							    "consumer password set)"
							  : "");
			return -EINVAL;
		}
	}
	if (user && (!json_is_string(user) || !json_string_length(user) ||
		     json_string_length(user) > AUTH_ID_MAX ||
		     strchr(json_string_value(user), ':')))
		return fail(err, errlen, path, ".basic_auth.username: must be 1-127 characters "
				     "without ':'");
	if (!json_is_string(hash) || !known_hash_scheme(json_string_value(hash)))
		return fail(err, errlen, path, ".basic_auth.password_hash: must be a crypt(3) "
				     "hash: $y$ (yescrypt), $2b$ (bcrypt), $6$ or $5$ (SHA-crypt)");
	c->username = strdup(user ? json_string_value(user) : c->id);
	c->password_hash = strdup(json_string_value(hash));
	return c->username && c->password_hash ? 0 : -ENOMEM;
}

static int compile_consumer(const json_t *cj, size_t i, struct gw_consumer *c, char *err,
			    size_t errlen)
{
	static const char *const fields[] = { "id", "groups", "keys", "basic_auth", NULL };
	json_t *id = json_object_get(cj, "id"), *groups, *g, *v;
	char path[200];
	size_t j, k;
	int ret;

	snprintf(path, sizeof(path), "gateway.consumers[%zu]", i);
	if (!json_is_object(cj))
		return fail(err, errlen, path, ": must be an object");
	if (!json_is_string(id) || !auth_valid_id(json_string_value(id)))
		return fail(err, errlen, path, ".id: must be 1-127 characters of A-Z a-z 0-9 . _ "
				     "- @ :");
	snprintf(path, sizeof(path), "gateway.consumers[%s]", json_string_value(id));
	if ((ret = gw_json_check_fields(cj, path, fields, err, errlen)))
		return ret;
	c->id = strdup(json_string_value(id));
	if (!c->id)
		return -ENOMEM;
	groups = json_object_get(cj, "groups");
	if (groups && (!json_is_array(groups) || json_array_size(groups) > AUTH_GROUPS_MAX))
		return fail(err, errlen, path, ".groups: must be a list of at most 64 names");
	c->groups = calloc(json_array_size(groups) + 1, sizeof(char *));
	if (!c->groups)
		return -ENOMEM;
	json_array_foreach(groups, j, g) {
		if (!json_is_string(g) || !auth_valid_id(json_string_value(g))) {
			snprintf(err, errlen, "%s.groups[%zu]: must be 1-127 characters of A-Z a-z "
				 "0-9 . _ - @ :", path, j);
			return -EINVAL;
		}
		for (k = 0; k < c->ngroups; k++)
			if (!strcmp(c->groups[k], json_string_value(g)))
				break;
		if (k < c->ngroups)
			continue;	/* a repeated group is harmless */
		c->groups[c->ngroups] = strdup(json_string_value(g));
		if (!c->groups[c->ngroups])
			return -ENOMEM;
		c->ngroups++;
	}
	if ((ret = compile_keys(json_object_get(cj, "keys"), path, c, err, errlen)))
		return ret;
	if ((v = json_object_get(cj, "basic_auth")) &&
	    (ret = compile_basic(v, path, c, err, errlen)))
		return ret;
	return 0;
}

static struct slot *probe(struct slot *t, size_t cap, uint64_t h)
{
	size_t i = h & (cap - 1);

	while (t[i].c)
		i = (i + 1) & (cap - 1);
	return &t[i];
}

static int build_indexes(struct gw_consumers *cs, char *err, size_t errlen)
{
	size_t nkeys = 0, i, j;

	for (i = 0; i < cs->n; i++)
		nkeys += cs->v[i].nkeys;
	cs->cap_id = cs->cap_user = cap_for(cs->n);
	cs->cap_key = cap_for(nkeys);
	cs->by_id = calloc(cs->cap_id, sizeof(struct slot));
	cs->by_user = calloc(cs->cap_user, sizeof(struct slot));
	cs->by_key = calloc(cs->cap_key, sizeof(struct slot));
	if (!cs->by_id || !cs->by_user || !cs->by_key)
		return -ENOMEM;
	for (i = 0; i < cs->n; i++) {
		const struct gw_consumer *c = &cs->v[i];

		if (gw_consumer_by_id(cs, c->id, strlen(c->id))) {
			snprintf(err, errlen, "gateway.consumers[%s]: duplicate consumer id", c->id);
			return -EINVAL;
		}
		probe(cs->by_id, cs->cap_id, gw_hash64_seeded(cs->seed, c->id, strlen(c->id)))->c = c;
		if (c->username) {
			const struct gw_consumer *o =
				gw_consumer_by_username(cs, c->username, strlen(c->username));

			if (o) {
				snprintf(err, errlen, "gateway.consumers[%s].basic_auth.username: "
					 "\"%s\" is already used by consumer %s", c->id,
					 c->username, o->id);
				return -EINVAL;
			}
			probe(cs->by_user, cs->cap_user,
			      gw_hash64_seeded(cs->seed, c->username, strlen(c->username)))->c = c;
		}
		for (j = 0; j < c->nkeys; j++) {
			const struct gw_consumer *o = gw_consumer_by_key(cs, c->keys[j].sha256);
			struct slot *s;
			uint64_t h;

			if (o) {
				snprintf(err, errlen, "gateway.consumers[%s].keys[%s]: the same key "
					 "belongs to consumer %s", c->id, c->keys[j].name, o->id);
				return -EINVAL;
			}
			memcpy(&h, c->keys[j].sha256, sizeof(h));
			s = probe(cs->by_key, cs->cap_key, h);
			s->c = c;
			s->digest = c->keys[j].sha256;
		}
	}
	return 0;
}

struct gw_consumers *gw_consumers_compile(const json_t *arr, char *err, size_t errlen)
{
	struct gw_consumers *cs = calloc(1, sizeof(*cs));
	json_t *cj;
	size_t i;
	int ret = 0;

	if (!cs)
		goto nomem;
	cs->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uintptr_t)cs;
	if (arr && !json_is_array(arr)) {
		snprintf(err, errlen, "gateway.consumers: must be a list");
		goto fail;
	}
	cs->v = calloc(json_array_size(arr) + 1, sizeof(*cs->v));
	if (!cs->v)
		goto nomem;
	json_array_foreach(arr, i, cj) {
		cs->n = i + 1;
		if ((ret = compile_consumer(cj, i, &cs->v[i], err, errlen)))
			goto fail;
	}
	if ((ret = build_indexes(cs, err, errlen)))
		goto fail;
	return cs;
fail:
	if (ret != -ENOMEM) {
		gw_consumers_free(cs);
		errno = EINVAL;
		return NULL;
	}
nomem:
	gw_consumers_free(cs);
	snprintf(err, errlen, "gateway.consumers: out of memory");
	errno = ENOMEM;
	return NULL;
}

size_t gw_consumers_count(const struct gw_consumers *cs)
{
	return cs ? cs->n : 0;
}

const struct gw_consumer *gw_consumer_at(const struct gw_consumers *cs, size_t i)
{
	return cs && i < cs->n ? &cs->v[i] : NULL;
}

/* Looks s[0..len) up in an index by id (or by username): the consumer, or NULL. */
static const struct gw_consumer *find_str(const struct slot *t, size_t cap, uint64_t seed,
					  const char *s, size_t len, bool username)
{
	for (size_t i = gw_hash64_seeded(seed, s, len) & (cap - 1); t[i].c; i = (i + 1) & (cap - 1)) {
		const char *k = username ? t[i].c->username : t[i].c->id;

		if (strlen(k) == len && !memcmp(k, s, len))
			return t[i].c;
	}
	return NULL;
}

const struct gw_consumer *gw_consumer_by_id(const struct gw_consumers *cs, const char *id,
					    size_t len)
{
	if (!cs || !cs->by_id)
		return NULL;
	return find_str(cs->by_id, cs->cap_id, cs->seed, id, len, false);
}

const struct gw_consumer *gw_consumer_by_username(const struct gw_consumers *cs,
						  const char *user, size_t len)
{
	if (!cs || !cs->by_user)
		return NULL;
	return find_str(cs->by_user, cs->cap_user, cs->seed, user, len, true);
}

const struct gw_consumer *gw_consumer_by_key(const struct gw_consumers *cs,
					     const uint8_t sha256[32])
{
	const struct gw_consumer *found = NULL;
	uint64_t h;
	size_t i;

	if (!cs || !cs->by_key)
		return NULL;
	/*
	 * The index is the digest itself: probing reveals nothing about the key (a preimage
	 * would be needed). Every candidate is compared in full and in constant time.
	 */
	memcpy(&h, sha256, sizeof(h));
	for (i = h & (cs->cap_key - 1); cs->by_key[i].c; i = (i + 1) & (cs->cap_key - 1))
		if (!CRYPTO_memcmp(cs->by_key[i].digest, sha256, 32))
			found = cs->by_key[i].c;
	return found;
}

bool gw_consumer_in_group(const struct gw_consumer *c, const char *group)
{
	for (size_t i = 0; c && i < c->ngroups; i++)
		if (!strcmp(c->groups[i], group))
			return true;
	return false;
}

bool gw_auth_in_group(const struct gw_auth_info *a, const char *group)
{
	if (!a)
		return false;
	if (gw_consumer_in_group(a->consumer, group))
		return true;
	for (size_t i = 0; i < a->nextra; i++)
		if (!strcmp(a->extra_groups[i], group))
			return true;
	return false;
}

/* ---- settings shared by the authentication policies ---- */

const char *const auth_common_fields[] = { "consumer_header", "hide_credentials", "realm", NULL };

int auth_check_fields(const json_t *conf, const char *const *known, bool common, char *err,
		      size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)conf, key, v) {
		const char *const *k;
		bool ok = false;

		for (k = known; *k && !ok; k++)
			ok = !strcmp(*k, key);
		for (k = auth_common_fields; common && *k && !ok; k++)
			ok = !strcmp(*k, key);
		if (!ok) {
			char list[400] = "";
			size_t o = 0;

			for (k = known; *k; k++)
				o += snprintf(list + o, o < sizeof(list) ? sizeof(list) - o : 0, "%s%s",
					      o ? ", " : "", *k);
			for (k = auth_common_fields; common && *k; k++)
				o += snprintf(list + o, o < sizeof(list) ? sizeof(list) - o : 0, "%s%s",
					      o ? ", " : "", *k);
			snprintf(err, errlen, ": unknown field \"%s\" (%s)", key, list);
			return -EINVAL;
		}
	}
	return 0;
}

int auth_common_parse(const json_t *conf, struct auth_common *ac, char *err, size_t errlen)
{
	json_t *h = json_object_get(conf, "consumer_header");
	json_t *hide = json_object_get(conf, "hide_credentials");
	json_t *realm = json_object_get(conf, "realm");

	memset(ac, 0, sizeof(*ac));
	if (h && !json_is_false(h) && !json_is_null(h) &&
	    (!json_is_string(h) || !gw_http_token_valid(json_string_value(h)))) {
		snprintf(err, errlen, ".consumer_header: must be a header name, or false");
		return -EINVAL;
	}
	if (!h)
		ac->consumer_header = strdup("x-consumer-id");
	else if (json_is_string(h))
		ac->consumer_header = strdup(json_string_value(h));
	if (ac->consumer_header)
		for (char *p = ac->consumer_header; *p; p++)
			*p = tolower((unsigned char)*p);
	if (hide && !json_is_boolean(hide)) {
		snprintf(err, errlen, ".hide_credentials: must be true or false");
		return -EINVAL;
	}
	ac->hide_credentials = json_is_true(hide);
	if (realm) {
		const char *r = json_string_value(realm);

		if (!r || !*r || strpbrk(r, "\"\\") || strlen(r) > 64) {
			snprintf(err, errlen, ".realm: must be 1-64 characters without quotes");
			return -EINVAL;
		}
		for (const char *p = r; *p; p++)
			if ((unsigned char)*p < ' ' || *p == 127) {
				snprintf(err, errlen, ".realm: must not contain control characters");
				return -EINVAL;
			}
	}
	ac->realm = strdup(realm ? json_string_value(realm) : "xdpgw");
	return ac->realm ? 0 : -ENOMEM;
}

void auth_common_free(struct auth_common *ac)
{
	free(ac->consumer_header);
	free(ac->realm);
}

void auth_strip_consumer_header(struct gw_ctx *c, const struct auth_common *ac)
{
	struct gw_str v;

	if (ac->consumer_header && gw_ctx_req_header(c, ac->consumer_header, &v))
		gw_ctx_req_header_remove(c, ac->consumer_header);
}

/* The address is the key of the authentication result among the request's policy data. */
static const char auth_data_key;

const struct gw_auth_info *gw_auth_get(struct gw_ctx *c)
{
	return gw_ctx_data(c, &auth_data_key);
}

void auth_success(struct gw_ctx *c, const struct auth_common *ac, const struct gw_auth_info *a)
{
	gw_ctx_set_consumer(c, a->id);
	if (ac->consumer_header)
		gw_ctx_req_header_set(c, ac->consumer_header, a->id, strlen(a->id));
	gw_ctx_set_data(c, &auth_data_key, (void *)a);
}

/* ---- failures: counted, logged (bounded), answered without detail ---- */

static const char *const reason_names[AUTH_REASON_COUNT] = {
	[AUTH_OK] = "ok",
	[AUTH_MISSING] = "missing",
	[AUTH_MALFORMED] = "malformed",
	[AUTH_UNKNOWN_KEY] = "unknown_key",
	[AUTH_UNKNOWN_USER] = "unknown_user",
	[AUTH_BAD_PASSWORD] = "bad_password",
	[AUTH_BUSY] = "busy",
	[AUTH_TOO_LARGE] = "too_large",
	[AUTH_ALG_NONE] = "alg_none",
	[AUTH_ALG_NOT_ALLOWED] = "alg_not_allowed",
	[AUTH_UNKNOWN_KID] = "unknown_kid",
	[AUTH_BAD_SIGNATURE] = "bad_signature",
	[AUTH_EXPIRED] = "expired",
	[AUTH_NOT_YET_VALID] = "not_yet_valid",
	[AUTH_IAT_FUTURE] = "issued_in_future",
	[AUTH_TOO_OLD] = "too_old",
	[AUTH_BAD_ISSUER] = "bad_issuer",
	[AUTH_BAD_AUDIENCE] = "bad_audience",
	[AUTH_MISSING_CLAIM] = "missing_claim",
	[AUTH_UNKNOWN_CONSUMER] = "unknown_consumer",
	[AUTH_KEYS_UNAVAILABLE] = "keys_unavailable",
	[AUTH_CONSUMER_DENIED] = "consumer_denied",
	[AUTH_NO_CONSUMER] = "no_consumer",
	[AUTH_IP_DENIED] = "ip_denied",
};

static const char *const kind_names[AUTH_KIND_COUNT] = { "key-auth", "basic-auth", "jwt", "acl" };

static uint64_t counters[AUTH_KIND_COUNT][AUTH_REASON_COUNT];

/* Failure log lines are bounded: a flood of bad credentials must not flood the log. */
#define LOG_BURST 20
static uint64_t log_window_s, log_lines, log_dropped;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

const char *auth_reason_name(enum auth_reason r)
{
	return r < AUTH_REASON_COUNT ? reason_names[r] : "unknown";
}

void auth_count_ok(enum auth_policy_kind kind)
{
	__atomic_fetch_add(&counters[kind][AUTH_OK], 1, __ATOMIC_RELAXED);
}

static void log_failure(struct gw_ctx *c, enum auth_policy_kind kind, enum auth_reason reason)
{
	uint64_t now = (uint64_t)time(NULL), dropped = 0;
	bool print;

	pthread_mutex_lock(&log_lock);
	if (now != log_window_s) {
		dropped = log_dropped;
		log_window_s = now;
		log_lines = 0;
		log_dropped = 0;
	}
	print = log_lines < LOG_BURST;
	if (print)
		log_lines++;
	else
		log_dropped++;
	pthread_mutex_unlock(&log_lock);
	if (dropped)
		log_info("gateway: %llu more authentication failures not logged",
			 (unsigned long long)dropped);
	if (print)
		log_info("gateway: %s %s: route %s client %s consumer %s: %s",
			 kind_names[kind], kind == AUTH_ACL ? "denied" : "failed",
			 gw_ctx_route(c) ? gw_ctx_route(c) : "-", gw_ctx_client(c),
			 gw_ctx_consumer(c) ? gw_ctx_consumer(c) : "-", reason_names[reason]);
}

enum gw_policy_verdict auth_fail(struct gw_ctx *c, enum auth_policy_kind kind,
				 enum auth_reason reason, const char *challenge)
{
	__atomic_fetch_add(&counters[kind][reason], 1, __ATOMIC_RELAXED);
	log_failure(c, kind, reason);
	if (reason == AUTH_BUSY || reason == AUTH_KEYS_UNAVAILABLE) {
		gw_ctx_resp_header_set(c, "retry-after", "1", 1);
		gw_ctx_error(c, 503, "authentication_unavailable",
			     "authentication is temporarily unavailable");
	} else if (challenge) {
		gw_ctx_resp_header_set(c, "www-authenticate", challenge, strlen(challenge));
		gw_ctx_error(c, 401, "unauthorized",
			     reason == AUTH_MISSING ? "authentication is required"
						    : "the credentials are not valid");
	} else {
		gw_ctx_error(c, 403, "forbidden", "access to this route is not allowed");
	}
	return GW_POLICY_RESPONDED;
}

void auth_metrics(FILE *out)
{
	fprintf(out, "# HELP xdpgw_gateway_auth_total Authentication and authorization decisions "
		     "by policy and result (ok, or the reason of the refusal).\n"
		     "# TYPE xdpgw_gateway_auth_total counter\n");
	for (int k = 0; k < AUTH_KIND_COUNT; k++)
		for (int r = 0; r < AUTH_REASON_COUNT; r++) {
			uint64_t v = __atomic_load_n(&counters[k][r], __ATOMIC_RELAXED);

			if (v || r == AUTH_OK)
				fprintf(out, "xdpgw_gateway_auth_total{policy=\"%s\",result=\"%s\"} "
					     "%llu\n", kind_names[k], reason_names[r],
					(unsigned long long)v);
		}
}
