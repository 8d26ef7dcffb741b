// SPDX-License-Identifier: GPL-2.0
/*
 * jwt: a bearer token (RFC 7519, compact JWS) verified with keys from the config, a JWK Set
 * file, or a JWK Set URL fetched in the background (jwks.c); registered claims checked with a
 * leeway; the consumer is a configured claim. Config:
 *   {name: jwt, keys: [{kid: k1, pem_file: /etc/keys/k1.pem, algorithms: [RS256]},
 *                      {kid: h1, secret: "...at least 32 bytes...", alg: HS256},
 *                      {jwk: {kty: EC, crv: P-256, x: ..., y: ...}}],
 *    jwks_file: PATH, jwks_url: https://issuer/jwks.json, jwks_refresh_s: 300,
 *    jwks_min_refetch_s: 30, algorithms: [RS256, ES256], issuer: https://issuer,
 *    audience: [api], leeway_s: 30, max_age_s: 0, required_claims: [exp],
 *    consumer_claim: sub, groups_claim: groups, require_consumer: false,
 *    header: Authorization, scheme: Bearer, max_token_bytes: 8192}
 * Verified tokens are remembered per worker (keyed by the whole token, checked again for time
 * and key changes on every use), so a client's repeated token costs a hash and a compare, not
 * a signature verification. Failure: 401 with `WWW-Authenticate: Bearer realm="..."` (and
 * error="invalid_token" when a token was sent, RFC 6750), 503 before a JWKS URL gave keys.
 */
/* Messages name bounded fields; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway/gw.h"
#include "gateway/policies/auth.h"
#include "gateway/policies/jose.h"
#include "gateway/policies/jwks.h"

#define CACHE_SLOTS 1024	/* verified tokens remembered per worker */
#define CACHE_MAX_TOKEN 4096	/* longer tokens are verified every time */
#define MAX_LIST 64
#define MAX_ID_LEN 256

struct tok_entry {
	uint64_t hash;
	char *token;
	size_t len;
	json_t *claims;
	uint64_t gen;		/* key generation it was verified with */
};

struct tok_cache {
	struct tok_entry e[CACHE_SLOTS];
};

struct jwt {
	struct auth_common ac;
	const struct gw_consumers *consumers;
	struct jose_keyset keys;	/* from the config and jwks_file */
	struct jwks_source *remote;	/* jwks_url */
	uint32_t algs;			/* tokens' algorithms allowed by the policy */
	char *header;
	char *scheme;			/* "Bearer"; NULL: the whole header value is the token */
	size_t scheme_len;
	size_t max_token;
	char **issuers, **audiences, **required;
	int64_t leeway, max_age;
	char *consumer_claim, *groups_claim;
	bool require_consumer;
	uint64_t seed;
	char challenge[128], challenge_invalid[160];
	struct tok_cache *cache[GW_MAX_SLOTS];	/* each used by its worker only */
};

static void free_list(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

static void cache_free(struct tok_cache *tc)
{
	if (!tc)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		free(tc->e[i].token);
		json_decref(tc->e[i].claims);
	}
	free(tc);
}

static void jwt_free(void *p)
{
	struct jwt *j = p;

	if (!j)
		return;
	auth_common_free(&j->ac);
	jose_keyset_clear(&j->keys);
	jwks_source_put(j->remote);
	free(j->header);
	free(j->scheme);
	free_list(j->issuers);
	free_list(j->audiences);
	free_list(j->required);
	free(j->consumer_claim);
	free(j->groups_claim);
	for (size_t i = 0; i < GW_MAX_SLOTS; i++)
		cache_free(j->cache[i]);
	free(j);
}

/* ---- config ---- */

static int parse_algs(const json_t *v, const char *path, uint32_t *out, char *err, size_t errlen)
{
	json_t *a;
	size_t i;

	*out = 0;
	if (json_is_string(v)) {
		int alg = jose_alg_parse(json_string_value(v), json_string_length(v));

		if (alg <= 0)
			goto unknown;
		*out = JOSE_ALG_BIT(alg);
		return 0;
	}
	if (!json_is_array(v) || !json_array_size(v)) {
		snprintf(err, errlen, "%s: must be a list of algorithms", path);
		return -EINVAL;
	}
	json_array_foreach(v, i, a) {
		int alg = json_is_string(a) ? jose_alg_parse(json_string_value(a),
							     json_string_length(a))
					    : -1;

		if (alg <= 0) {
			v = a;
			goto unknown;
		}
		*out |= JOSE_ALG_BIT(alg);
	}
	return 0;
unknown:
	snprintf(err, errlen, "%s: unknown algorithm \"%s\" (HS256, HS384, HS512, RS256, RS384, "
		 "RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)", path,
		 json_is_string(v) ? json_string_value(v) : "(not a string)");
	return -EINVAL;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen, const char *what)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f) {
		snprintf(err, errlen, "%s: cannot open \"%s\": %s", what, path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		snprintf(err, errlen, "%s: \"%s\" is not a readable file of at most 1 MiB", what,
			 path);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (!buf) {
		snprintf(err, errlen, "%s: cannot read \"%s\"", what, path);
		return NULL;
	}
	buf[n] = 0;
	*len = (size_t)n;
	return buf;
}

static int add_key(struct jwt *j, const json_t *kj, size_t i, char *err, size_t errlen)
{
	static const char *const fields[] = { "kid", "alg", "algorithms", "jwk", "pem", "pem_file",
					      "secret", "secret_base64", NULL };
	struct jose_key *k = &j->keys.keys[j->keys.n];
	json_t *kid = json_object_get(kj, "kid"), *v;
	char path[64], kerr[200] = "", *buf = NULL;
	uint32_t algs = 0;
	size_t len = 0, nsrc = 0;
	const char *key;
	int ret;

	snprintf(path, sizeof(path), ".keys[%zu]", i);
	if ((ret = gw_json_check_fields(kj, path, fields, err, errlen)))
		return ret;
	json_object_foreach((json_t *)kj, key, v)
		if (strcmp(key, "kid") && strcmp(key, "alg") && strcmp(key, "algorithms"))
			nsrc++;
	if (nsrc != 1) {
		snprintf(err, errlen, "%s: needs exactly one of jwk, pem, pem_file, secret, "
			 "secret_base64", path);
		return -EINVAL;
	}
	if (kid && (!json_is_string(kid) || !json_string_length(kid))) {
		snprintf(err, errlen, "%s.kid: must be a non-empty string", path);
		return -EINVAL;
	}
	if ((v = json_object_get(kj, "alg")) || (v = json_object_get(kj, "algorithms"))) {
		char ap[80];

		snprintf(ap, sizeof(ap), "%s.%s", path,
			 json_object_get(kj, "alg") ? "alg" : "algorithms");
		if (parse_algs(v, ap, &algs, err, errlen))
			return -EINVAL;
	}
	if ((v = json_object_get(kj, "jwk"))) {
		ret = jose_key_from_jwk(v, algs, k, kerr, sizeof(kerr));
	} else if ((v = json_object_get(kj, "pem")) || (v = json_object_get(kj, "pem_file"))) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s: pem and pem_file must be strings", path);
			return -EINVAL;
		}
		if (json_object_get(kj, "pem_file")) {
			char what[80];

			snprintf(what, sizeof(what), "%s.pem_file", path);
			buf = read_file(json_string_value(v), &len, err, errlen, what);
			if (!buf) {
				memmove(err, err, strlen(err) + 1);
				return -EINVAL;
			}
		}
		ret = jose_key_from_pem(buf ? buf : json_string_value(v),
					buf ? len : json_string_length(v), algs, k, kerr,
					sizeof(kerr));
		free(buf);
	} else if ((v = json_object_get(kj, "secret"))) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s.secret: must be a string", path);
			return -EINVAL;
		}
		ret = jose_key_from_secret((const uint8_t *)json_string_value(v),
					   json_string_length(v), algs, k, kerr, sizeof(kerr));
	} else {
		uint8_t raw[512];
		const char *s = json_string_value(json_object_get(kj, "secret_base64"));

		len = sizeof(raw);
		if (!s || (jose_b64_decode(s, strlen(s), false, raw, &len) &&
			   (len = sizeof(raw), jose_b64_decode(s, strlen(s), true, raw, &len)))) {
			snprintf(err, errlen, "%s.secret_base64: must be base64 of at most 512 bytes",
				 path);
			return -EINVAL;
		}
		ret = jose_key_from_secret(raw, len, algs, k, kerr, sizeof(kerr));
		OPENSSL_cleanse(raw, sizeof(raw));
	}
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, kerr);
		return -EINVAL;
	}
	if (kid) {
		free(k->kid);
		k->kid = strdup(json_string_value(kid));
	}
	j->keys.n++;
	return 0;
}

static int load_jwks_file(struct jwt *j, const char *path, char *err, size_t errlen)
{
	struct jose_keyset ks;
	struct jose_key *nk;
	char kerr[256];
	size_t len;
	char *buf = read_file(path, &len, err, errlen, ".jwks_file");

	if (!buf)
		return -EINVAL;
	if (jose_jwks_parse(buf, len, 0, &ks, kerr, sizeof(kerr))) {
		free(buf);
		snprintf(err, errlen, ".jwks_file: \"%s\": %s", path, kerr);
		return -EINVAL;
	}
	free(buf);
	nk = realloc(j->keys.keys, (j->keys.n + ks.n + 1) * sizeof(*nk));
	if (!nk) {
		jose_keyset_clear(&ks);
		return -ENOMEM;
	}
	j->keys.keys = nk;
	memcpy(nk + j->keys.n, ks.keys, ks.n * sizeof(*nk));
	j->keys.n += ks.n;
	free(ks.keys);
	return 0;
}

static int parse_strings(const json_t *v, const char *name, bool single_ok, char ***out, char *err,
			 size_t errlen)
{
	json_t *s;
	size_t i;

	if (!v)
		return 0;
	if (single_ok && json_is_string(v) && json_string_length(v)) {
		*out = calloc(2, sizeof(char *));
		if (!*out || !((*out)[0] = strdup(json_string_value(v))))
			return -ENOMEM;
		return 0;
	}
	if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > MAX_LIST) {
		snprintf(err, errlen, ".%s: must be a %slist of 1-%d strings", name,
			 single_ok ? "string or a " : "", MAX_LIST);
		return -EINVAL;
	}
	*out = calloc(json_array_size(v) + 1, sizeof(char *));
	if (!*out)
		return -ENOMEM;
	json_array_foreach(v, i, s) {
		if (!json_is_string(s) || !json_string_length(s)) {
			snprintf(err, errlen, ".%s[%zu]: must be a non-empty string", name, i);
			return -EINVAL;
		}
		if (!((*out)[i] = strdup(json_string_value(s))))
			return -ENOMEM;
	}
	return 0;
}

static int get_int(const json_t *conf, const char *name, int64_t min, int64_t max, int64_t def,
		   int64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(conf, name);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errlen, ".%s: must be an integer %lld-%lld", name, (long long)min,
			 (long long)max);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

static int get_string(const json_t *conf, const char *name, const char *def, char **out,
		      char *err, size_t errlen)
{
	json_t *v = json_object_get(conf, name);

	if (v && (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 256)) {
		snprintf(err, errlen, ".%s: must be a string of 1-256 characters", name);
		return -EINVAL;
	}
	*out = v ? strdup(json_string_value(v)) : def ? strdup(def) : NULL;
	return 0;
}

static int compile_sources(struct jwt *j, const json_t *conf, char *err, size_t errlen)
{
	json_t *keys = json_object_get(conf, "keys"), *file = json_object_get(conf, "jwks_file");
	json_t *url = json_object_get(conf, "jwks_url"), *kj;
	int64_t refresh, refetch, timeout;
	size_t i;
	int ret;

	if (keys && (!json_is_array(keys) || !json_array_size(keys))) {
		snprintf(err, errlen, ".keys: must be a non-empty list");
		return -EINVAL;
	}
	if (!keys && !file && !url) {
		snprintf(err, errlen, ": needs keys, jwks_file or jwks_url");
		return -EINVAL;
	}
	j->keys.keys = calloc(json_array_size(keys) + 1, sizeof(struct jose_key));
	if (!j->keys.keys)
		return -ENOMEM;
	json_array_foreach(keys, i, kj)
		if ((ret = add_key(j, kj, i, err, errlen)))
			return ret;
	if (file && !json_is_string(file)) {
		snprintf(err, errlen, ".jwks_file: must be a path");
		return -EINVAL;
	}
	if (file && (ret = load_jwks_file(j, json_string_value(file), err, errlen)))
		return ret;
	if ((ret = get_int(conf, "jwks_refresh_s", 10, 86400, 300, &refresh, err, errlen)) ||
	    (ret = get_int(conf, "jwks_min_refetch_s", 1, 3600, 30, &refetch, err, errlen)) ||
	    (ret = get_int(conf, "jwks_timeout_ms", 100, 60000, 5000, &timeout, err, errlen)))
		return ret;
	if (!url)
		return 0;
	if (!json_is_string(url) || (strncmp(json_string_value(url), "http://", 7) &&
				     strncmp(json_string_value(url), "https://", 8))) {
		snprintf(err, errlen, ".jwks_url: must be an http:// or https:// URL");
		return -EINVAL;
	}
	j->remote = jwks_source_get(json_string_value(url), 0, (uint32_t)refresh,
				    (uint32_t)refetch, (uint32_t)timeout);
	if (!j->remote) {
		snprintf(err, errlen, ".jwks_url: cannot start the fetcher: %s", strerror(errno));
		return -EINVAL;
	}
	return 0;
}

static void *jwt_compile(const json_t *conf, const struct gw_policy_env *env, char *err,
			 size_t errlen)
{
	static const char *const fields[] = { "keys", "jwks_file", "jwks_url", "jwks_refresh_s",
		"jwks_min_refetch_s", "jwks_timeout_ms", "algorithms", "issuer", "audience",
		"leeway_s", "max_age_s", "required_claims", "consumer_claim", "groups_claim",
		"require_consumer", "header", "scheme", "max_token_bytes", NULL };
	struct jwt *j = calloc(1, sizeof(*j));
	json_t *v, *empty;
	int64_t max_token;

	if (!j)
		return NULL;
	if (auth_check_fields(conf, fields, true, err, errlen) ||
	    auth_common_parse(conf, &j->ac, err, errlen))
		goto fail;
	if ((v = json_object_get(conf, "algorithms"))) {
		if (parse_algs(v, ".algorithms", &j->algs, err, errlen))
			goto fail;
	} else {
		j->algs = ~0u & ~JOSE_ALG_BIT(JOSE_ALG_NONE);
	}
	empty = json_pack("[s]", "exp");
	v = json_object_get(conf, "required_claims");
	if (parse_strings(conf ? json_object_get(conf, "issuer") : NULL, "issuer", true,
			  &j->issuers, err, errlen) ||
	    parse_strings(json_object_get(conf, "audience"), "audience", true, &j->audiences, err,
			  errlen) ||
	    (v && json_is_array(v) && !json_array_size(v)
		     ? 0
		     : parse_strings(v ? v : empty, "required_claims", false, &j->required, err,
				     errlen))) {
		json_decref(empty);
		goto fail;
	}
	json_decref(empty);
	if (get_int(conf, "leeway_s", 0, 3600, 30, &j->leeway, err, errlen) ||
	    get_int(conf, "max_age_s", 0, 365 * 86400, 0, &j->max_age, err, errlen) ||
	    get_int(conf, "max_token_bytes", 256, 65536, 8192, &max_token, err, errlen) ||
	    get_string(conf, "consumer_claim", "sub", &j->consumer_claim, err, errlen) ||
	    get_string(conf, "groups_claim", NULL, &j->groups_claim, err, errlen) ||
	    get_string(conf, "header", "authorization", &j->header, err, errlen))
		goto fail;
	j->max_token = (size_t)max_token;
	for (char *p = j->header; *p; p++)
		*p = tolower((unsigned char)*p);
	v = json_object_get(conf, "scheme");
	if (v && !json_is_string(v)) {
		snprintf(err, errlen, ".scheme: must be a string (\"\" for a bare token)");
		goto fail;
	}
	if (!v || json_string_length(v)) {
		j->scheme = strdup(v ? json_string_value(v) : "Bearer");
		j->scheme_len = strlen(j->scheme);
	}
	v = json_object_get(conf, "require_consumer");
	if (v && !json_is_boolean(v)) {
		snprintf(err, errlen, ".require_consumer: must be true or false");
		goto fail;
	}
	j->require_consumer = json_is_true(v);
	if (compile_sources(j, conf, err, errlen))
		goto fail;
	j->consumers = env->consumers;
	j->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uintptr_t)j;
	snprintf(j->challenge, sizeof(j->challenge), "Bearer realm=\"%s\"", j->ac.realm);
	snprintf(j->challenge_invalid, sizeof(j->challenge_invalid),
		 "Bearer realm=\"%s\", error=\"invalid_token\"", j->ac.realm);
	return j;
fail:
	jwt_free(j);
	return NULL;
}

/* ---- requests ---- */

/* A cache index, 8 bytes at a time (entries are compared in full, so only speed matters). */
static uint64_t token_hash(uint64_t seed, const char *p, size_t len)
{
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL), w;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	for (; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 32);
}

static enum auth_reason reason_of(int err)
{
	switch (err) {
	case JOSE_ETOOLARGE: return AUTH_TOO_LARGE;
	case JOSE_EALGNONE: return AUTH_ALG_NONE;
	case JOSE_EALG: return AUTH_ALG_NOT_ALLOWED;
	case JOSE_ESIGNATURE: return AUTH_BAD_SIGNATURE;
	case JOSE_EEXPIRED: return AUTH_EXPIRED;
	case JOSE_ENOTYET: return AUTH_NOT_YET_VALID;
	case JOSE_EIATFUTURE: return AUTH_IAT_FUTURE;
	case JOSE_ETOOOLD: return AUTH_TOO_OLD;
	case JOSE_EISSUER: return AUTH_BAD_ISSUER;
	case JOSE_EAUDIENCE: return AUTH_BAD_AUDIENCE;
	case JOSE_ECLAIM: return AUTH_MISSING_CLAIM;
	case JOSE_EKID: return AUTH_UNKNOWN_KID;
	default: return AUTH_MALFORMED;
	}
}

static int check_claims(struct jwt *j, const json_t *claims)
{
	struct timespec ts;
	struct jose_claim_rules r = { .leeway = j->leeway, .max_age = j->max_age,
				      .issuers = (const char *const *)j->issuers,
				      .audiences = (const char *const *)j->audiences,
				      .required = (const char *const *)j->required };

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	r.now = ts.tv_sec;
	return jose_jwt_check_claims(claims, &r);
}

/* Signature with the configured keys, then the fetched ones; *gen: the remote generation. */
static int verify(struct jwt *j, const struct jose_jws *jws, uint64_t *gen)
{
	struct jwks_keys *k;
	int ret = jose_keyset_verify(&j->keys, jws, NULL);

	*gen = 0;
	if (ret != JOSE_EKID || !j->remote)
		return ret;
	k = jwks_source_keys(j->remote);
	if (!k)
		return 1;	/* no keys fetched yet */
	*gen = k->gen;
	ret = jose_keyset_verify(&k->ks, jws, NULL);
	jwks_keys_put(k);
	if (ret == JOSE_EKID)
		jwks_source_refetch(j->remote);	/* rate-limited inside */
	return ret;
}

static bool valid_id(const char *s, size_t n)
{
	if (n == 0 || n > MAX_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 127)
			return false;
	return true;
}

static const char *pool_strdup(struct gw_ctx *c, const char *s, size_t n)
{
	char *p = gw_ctx_alloc(c, n + 1);

	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

/*
 * Fills the consumer and groups from verified claims, copied into the request (the claims may
 * go before the request ends); returns an auth_reason.
 */
static enum auth_reason identify(struct gw_ctx *c, struct jwt *j, const json_t *claims,
				 struct gw_auth_info *info)
{
	json_t *id = json_object_get(claims, j->consumer_claim), *g, *v;
	const char **groups = NULL;
	size_t i, n = 0;

	if (!json_is_string(id) || !valid_id(json_string_value(id), json_string_length(id)))
		return AUTH_MISSING_CLAIM;
	info->id = pool_strdup(c, json_string_value(id), json_string_length(id));
	info->consumer = gw_consumer_by_id(j->consumers, info->id, json_string_length(id));
	if (j->require_consumer && !info->consumer)
		return AUTH_UNKNOWN_CONSUMER;
	if (!j->groups_claim || !(g = json_object_get(claims, j->groups_claim)))
		return AUTH_OK;
	if (json_is_array(g)) {
		groups = gw_ctx_alloc(c, (json_array_size(g) + 1) * sizeof(char *));
		json_array_foreach(g, i, v)
			if (json_is_string(v) && n < MAX_LIST)
				groups[n++] = pool_strdup(c, json_string_value(v),
							  json_string_length(v));
	} else if (json_is_string(g)) {
		/* a space-separated list, as in OAuth's "scope" */
		size_t len = json_string_length(g);
		char *copy = gw_ctx_alloc(c, len + 1), *save = NULL, *tok;

		memcpy(copy, json_string_value(g), len + 1);
		groups = gw_ctx_alloc(c, (MAX_LIST + 1) * sizeof(char *));
		for (tok = strtok_r(copy, " ", &save); tok && n < MAX_LIST;
		     tok = strtok_r(NULL, " ", &save))
			groups[n++] = tok;
	}
	info->extra_groups = groups;
	info->nextra = n;
	return AUTH_OK;
}

static enum gw_policy_verdict accept_claims(struct gw_ctx *c, struct jwt *j,
					    const json_t *claims)
{
	struct gw_auth_info *info = gw_ctx_alloc(c, sizeof(*info));
	enum auth_reason r;

	memset(info, 0, sizeof(*info));
	r = identify(c, j, claims, info);
	if (r != AUTH_OK)
		return auth_fail(c, AUTH_JWT, r, j->challenge_invalid);
	if (j->ac.hide_credentials)
		gw_ctx_req_header_remove(c, j->header);
	auth_success(c, &j->ac, info);
	auth_count_ok(AUTH_JWT);
	return GW_POLICY_CONTINUE;
}

static struct tok_entry *cache_slot(struct gw_ctx *c, struct jwt *j, uint64_t h)
{
	unsigned w = gw_ctx_worker(c);

	if (w >= GW_MAX_SLOTS)
		return NULL;
	if (!j->cache[w])
		j->cache[w] = calloc(1, sizeof(struct tok_cache));
	return j->cache[w] ? &j->cache[w]->e[h % CACHE_SLOTS] : NULL;
}

static enum gw_policy_verdict jwt_request(void *inst, struct gw_ctx *c)
{
	struct jwt *j = inst;
	struct tok_entry *e = NULL;
	struct jose_jws jws;
	struct gw_str h;
	const char *tok;
	size_t len;
	uint64_t hash = 0, gen;
	int ret;

	auth_strip_consumer_header(c, &j->ac);
	if (!gw_ctx_req_header(c, j->header, &h))
		return auth_fail(c, AUTH_JWT, AUTH_MISSING, j->challenge);
	tok = h.p;
	len = h.len;
	if (j->scheme) {
		if (len <= j->scheme_len || strncasecmp(tok, j->scheme, j->scheme_len) ||
		    tok[j->scheme_len] != ' ')
			return auth_fail(c, AUTH_JWT, AUTH_MISSING, j->challenge);
		tok += j->scheme_len;
		len -= j->scheme_len;
		while (len && *tok == ' ') {
			tok++;
			len--;
		}
	}
	if (len > j->max_token)
		return auth_fail(c, AUTH_JWT, AUTH_TOO_LARGE, j->challenge_invalid);
	if (len <= CACHE_MAX_TOKEN) {
		hash = token_hash(j->seed, tok, len);
		e = cache_slot(c, j, hash);
		if (e && e->token && e->hash == hash && e->len == len && !memcmp(e->token, tok, len) &&
		    e->gen == (j->remote ? jwks_source_gen(j->remote) : 0)) {
			ret = check_claims(j, e->claims);
			if (ret)
				return auth_fail(c, AUTH_JWT, reason_of(ret), j->challenge_invalid);
			return accept_claims(c, j, e->claims);
		}
	}
	ret = jose_jws_parse(tok, len, j->max_token, &jws);
	if (ret)
		return auth_fail(c, AUTH_JWT, reason_of(ret), j->challenge_invalid);
	if (!(j->algs & JOSE_ALG_BIT(jws.alg))) {
		jose_jws_clear(&jws);
		return auth_fail(c, AUTH_JWT, AUTH_ALG_NOT_ALLOWED, j->challenge_invalid);
	}
	ret = verify(j, &jws, &gen);
	if (ret == 0 && !jws.claims)
		ret = JOSE_EMALFORMED;	/* signed, but the payload is not a claims set */
	if (ret == 0)
		ret = check_claims(j, jws.claims);
	if (ret) {
		jose_jws_clear(&jws);
		return auth_fail(c, AUTH_JWT, ret == 1 ? AUTH_KEYS_UNAVAILABLE : reason_of(ret),
				 j->challenge_invalid);
	}
	if (e) {
		char *copy = malloc(len);

		if (copy) {
			free(e->token);
			json_decref(e->claims);
			memcpy(copy, tok, len);
			*e = (struct tok_entry){ hash, copy, len, json_incref(jws.claims), gen };
		}
	}
	ret = accept_claims(c, j, jws.claims);	/* copies what it keeps into the request */
	jose_jws_clear(&jws);
	return ret;
}

static void jwt_metrics(FILE *out)
{
	jwks_metrics(out);
}

static const struct gw_policy_ops jwt_ops = {
	.name = "jwt",
	.compile = jwt_compile,
	.free = jwt_free,
	.on_request = jwt_request,
	.metrics = jwt_metrics,
};

GW_POLICY_REGISTER(jwt_ops)
