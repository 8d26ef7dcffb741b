// SPDX-License-Identifier: GPL-2.0
/*
 * JOSE: base64, JWK/JWKS, compact JWS verification and JWT claim checks (see jose.h). Pure
 * functions over bytes; OpenSSL 3 EVP does the cryptography.
 */
/* Messages name bounded fields; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/policies/jose.h"

#define DEFAULT_MAX_TOKEN (16 * 1024)
#define MAX_SIG_BYTES 1024	/* RSA-8192 */
#define MIN_RSA_BITS 2048

static const char *const alg_names[JOSE_ALG_COUNT] = {
	[JOSE_ALG_NONE] = "none", [JOSE_HS256] = "HS256", [JOSE_HS384] = "HS384",
	[JOSE_HS512] = "HS512",	  [JOSE_RS256] = "RS256", [JOSE_RS384] = "RS384",
	[JOSE_RS512] = "RS512",	  [JOSE_PS256] = "PS256", [JOSE_PS384] = "PS384",
	[JOSE_PS512] = "PS512",	  [JOSE_ES256] = "ES256", [JOSE_ES384] = "ES384",
	[JOSE_ES512] = "ES512",	  [JOSE_EDDSA] = "EdDSA",
};

const char *jose_alg_name(enum jose_alg alg)
{
	return alg < JOSE_ALG_COUNT ? alg_names[alg] : "?";
}

int jose_alg_parse(const char *s, size_t len)
{
	for (int a = 0; a < JOSE_ALG_COUNT; a++)
		if (strlen(alg_names[a]) == len && !memcmp(alg_names[a], s, len))
			return a;
	return -1;
}

const char *jose_strerror(int err)
{
	switch (err) {
	case JOSE_OK: return "ok";
	case JOSE_EMALFORMED: return "malformed";
	case JOSE_ETOOLARGE: return "too large";
	case JOSE_EALGNONE: return "alg none";
	case JOSE_EALG: return "algorithm not allowed";
	case JOSE_ESIGNATURE: return "bad signature";
	case JOSE_ECRIT: return "unsupported critical header";
	case JOSE_EEXPIRED: return "expired";
	case JOSE_ENOTYET: return "not yet valid";
	case JOSE_EIATFUTURE: return "issued in the future";
	case JOSE_ETOOOLD: return "too old";
	case JOSE_EISSUER: return "wrong issuer";
	case JOSE_EAUDIENCE: return "wrong audience";
	case JOSE_ECLAIM: return "missing claim";
	case JOSE_EKEY: return "unusable key";
	case JOSE_EKID: return "unknown key id";
	}
	return "unknown error";
}

/* ---- base64 ---- */

static int b64_value(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

int jose_b64_decode(const char *in, size_t len, bool url, uint8_t *out, size_t *outlen)
{
	size_t cap = *outlen, o = 0, i, rem;
	uint32_t acc = 0;
	int bits = 0;

	if (!url && len % 4 == 0 && len >= 4) {
		/* Standard alphabet: up to two '=' at the end of a length that is a multiple of 4. */
		if (in[len - 1] == '=')
			len--;
		if (in[len - 1] == '=')
			len--;
	}
	rem = len % 4;
	if (rem == 1)
		return JOSE_EMALFORMED;
	if (!url && rem != 0 && len != 0 && memchr(in, '=', len))
		return JOSE_EMALFORMED;
	if (len / 4 * 3 + (rem ? rem - 1 : 0) > cap)
		return JOSE_ETOOLARGE;
	for (i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i], url);

		if (v < 0)
			return JOSE_EMALFORMED;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Canonical encodings only: the unused low bits of the last character are zero. */
	if (bits && (acc & ((1u << bits) - 1)))
		return JOSE_EMALFORMED;
	*outlen = o;
	return 0;
}

size_t jose_b64url_encode(const uint8_t *in, size_t len, char *out)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = tbl[(v >> 6) & 63];
		out[o++] = tbl[v & 63];
	}
	if (len - i == 1) {
		out[o++] = tbl[in[i] >> 2];
		out[o++] = tbl[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = tbl[v >> 10];
		out[o++] = tbl[(v >> 4) & 63];
		out[o++] = tbl[(v & 15) << 2];
	}
	out[o] = 0;
	return o;
}

/* Decodes a base64url JSON string member into a new buffer. */
static uint8_t *b64url_member(const json_t *obj, const char *name, size_t *len)
{
	const char *s = json_string_value(json_object_get(obj, name));
	size_t sl, cap;
	uint8_t *out;

	if (!s)
		return NULL;
	sl = strlen(s);
	cap = jose_b64_decoded_max(sl);
	out = malloc(cap + 1);
	if (!out)
		return NULL;
	*len = cap;
	if (jose_b64_decode(s, sl, true, out, len) || *len == 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---- keys ---- */

void jose_key_clear(struct jose_key *k)
{
	free(k->kid);
	EVP_PKEY_free(k->pkey);
	if (k->secret) {
		OPENSSL_cleanse(k->secret, k->secret_len);
		free(k->secret);
	}
	memset(k, 0, sizeof(*k));
}

static int key_err(struct jose_key *k, char *err, size_t errlen, const char *fmt, const char *arg)
{
	snprintf(err, errlen, fmt, arg);
	jose_key_clear(k);
	ERR_clear_error();
	return JOSE_EKEY;
}

/* The algorithms a key of this type (and curve) can verify. */
static uint32_t algs_for_pkey(EVP_PKEY *pkey, enum jose_kty *kty)
{
	char group[64];
	size_t gl;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		*kty = JOSE_KTY_RSA;
		return JOSE_RSA_ALGS;
	}
	if (EVP_PKEY_is_a(pkey, "RSA-PSS")) {
		*kty = JOSE_KTY_RSA;
		return JOSE_ALG_BIT(JOSE_PS256) | JOSE_ALG_BIT(JOSE_PS384) | JOSE_ALG_BIT(JOSE_PS512);
	}
	if (EVP_PKEY_is_a(pkey, "ED25519") || EVP_PKEY_is_a(pkey, "ED448")) {
		*kty = JOSE_KTY_OKP;
		return JOSE_ALG_BIT(JOSE_EDDSA);
	}
	if (EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   &gl)) {
		*kty = JOSE_KTY_EC;
		if (!strcmp(group, "prime256v1") || !strcmp(group, "P-256"))
			return JOSE_ALG_BIT(JOSE_ES256);
		if (!strcmp(group, "secp384r1") || !strcmp(group, "P-384"))
			return JOSE_ALG_BIT(JOSE_ES384);
		if (!strcmp(group, "secp521r1") || !strcmp(group, "P-521"))
			return JOSE_ALG_BIT(JOSE_ES512);
	}
	return 0;
}

static int narrow_algs(struct jose_key *k, uint32_t possible, uint32_t want, char *err,
		       size_t errlen)
{
	if (want & ~possible) {
		for (int a = 0; a < JOSE_ALG_COUNT; a++)
			if ((want & ~possible) & JOSE_ALG_BIT(a))
				return key_err(k, err, errlen, "algorithm %s cannot be used with this "
					       "key type", jose_alg_name(a));
	}
	k->algs = want ? want : possible;
	return 0;
}

/* The key must be a usable public key: RSA size, EC point on the curve. */
static int check_pkey(struct jose_key *k, char *err, size_t errlen)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	if (k->kty == JOSE_KTY_RSA && EVP_PKEY_get_bits(k->pkey) < MIN_RSA_BITS)
		return key_err(k, err, errlen, "RSA key is too small (%s bits required)", "2048");
	if (k->kty != JOSE_KTY_EC)
		return 0;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
	ok = ctx && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return key_err(k, err, errlen, "EC public key is not a point on its curve%s", "");
	return 0;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *rsa_from_jwk(const json_t *jwk)
{
	size_t nl = 0, el = 0;
	uint8_t *n = b64url_member(jwk, "n", &nl), *e = b64url_member(jwk, "e", &el);
	BIGNUM *bn = n ? BN_bin2bn(n, (int)nl, NULL) : NULL;
	BIGNUM *be = e ? BN_bin2bn(e, (int)el, NULL) : NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pkey = NULL;

	if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		pkey = pkey_fromdata("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pkey;
}

static EVP_PKEY *ec_from_jwk(const json_t *jwk, const char *crv, char *err, size_t errlen)
{
	static const struct { const char *crv, *group; size_t len; } curves[] = {
		{ "P-256", "prime256v1", 32 }, { "P-384", "secp384r1", 48 },
		{ "P-521", "secp521r1", 66 },
	};
	size_t xl = 0, yl = 0, i;
	uint8_t *x, *y, pub[1 + 2 * 66];
	OSSL_PARAM_BLD *bld;
	EVP_PKEY *pkey = NULL;

	for (i = 0; i < 3 && strcmp(curves[i].crv, crv); i++)
		;
	if (i == 3) {
		snprintf(err, errlen, "unsupported EC curve \"%s\" (P-256, P-384, P-521)", crv);
		return NULL;
	}
	x = b64url_member(jwk, "x", &xl);
	y = b64url_member(jwk, "y", &yl);
	if (!x || !y || xl != curves[i].len || yl != curves[i].len) {
		snprintf(err, errlen, "EC key: x and y must be %zu bytes each", curves[i].len);
		free(x);
		free(y);
		return NULL;
	}
	pub[0] = 0x04;	/* uncompressed point */
	memcpy(pub + 1, x, xl);
	memcpy(pub + 1 + xl, y, yl);
	bld = OSSL_PARAM_BLD_new();
	if (bld &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[i].group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + xl + yl))
		pkey = pkey_fromdata("EC", bld);
	if (!pkey)
		snprintf(err, errlen, "EC key: not a valid point on %s", crv);
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return pkey;
}

static EVP_PKEY *okp_from_jwk(const json_t *jwk, const char *crv, char *err, size_t errlen)
{
	size_t xl = 0, want;
	const char *type;
	uint8_t *x;
	EVP_PKEY *pkey = NULL;

	if (!strcmp(crv, "Ed25519")) {
		type = "ED25519";
		want = 32;
	} else if (!strcmp(crv, "Ed448")) {
		type = "ED448";
		want = 57;
	} else {
		snprintf(err, errlen, "unsupported OKP curve \"%s\" (Ed25519, Ed448)", crv);
		return NULL;
	}
	x = b64url_member(jwk, "x", &xl);
	if (x && xl == want)
		pkey = EVP_PKEY_new_raw_public_key_ex(NULL, type, NULL, x, xl);
	if (!pkey)
		snprintf(err, errlen, "OKP key: x must be %zu bytes", want);
	free(x);
	return pkey;
}

static int jwk_usage(const json_t *jwk, uint32_t *algs, char *err, size_t errlen)
{
	json_t *use = json_object_get(jwk, "use"), *ops = json_object_get(jwk, "key_ops");
	json_t *alg = json_object_get(jwk, "alg"), *op;
	size_t i;
	bool verify = false;

	if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig"))) {
		snprintf(err, errlen, "key is not for signatures (\"use\" is not \"sig\")");
		return JOSE_EKEY;
	}
	if (ops) {
		json_array_foreach(ops, i, op)
			if (json_is_string(op) && !strcmp(json_string_value(op), "verify"))
				verify = true;
		if (!verify) {
			snprintf(err, errlen, "key_ops does not include \"verify\"");
			return JOSE_EKEY;
		}
	}
	if (alg) {
		int a = json_is_string(alg) ? jose_alg_parse(json_string_value(alg),
							     json_string_length(alg))
					    : -1;

		if (a <= 0) {
			snprintf(err, errlen, "unsupported \"alg\" %s",
				 json_is_string(alg) ? json_string_value(alg) : "(not a string)");
			return JOSE_EKEY;
		}
		if (*algs && !(*algs & JOSE_ALG_BIT(a))) {
			snprintf(err, errlen, "\"alg\" %s is not among the allowed algorithms",
				 json_string_value(alg));
			return JOSE_EKEY;
		}
		*algs = JOSE_ALG_BIT(a);
	}
	return 0;
}

int jose_key_from_jwk(const json_t *jwk, uint32_t algs, struct jose_key *k, char *err,
		      size_t errlen)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	json_t *kid = json_object_get(jwk, "kid");
	uint32_t possible = 0;

	memset(k, 0, sizeof(*k));
	if (!json_is_object(jwk) || !kty)
		return key_err(k, err, errlen, "a JWK must be an object with a \"kty\"%s", "");
	if (kid && (!json_is_string(kid) || !json_string_length(kid) ||
		    json_string_length(kid) > 256))
		return key_err(k, err, errlen, "\"kid\" must be a string of 1-256 characters%s", "");
	if (jwk_usage(jwk, &algs, err, errlen))
		return JOSE_EKEY;
	if (kid && !(k->kid = strdup(json_string_value(kid))))
		return key_err(k, err, errlen, "out of memory%s", "");
	if (!strcmp(kty, "oct")) {
		size_t len = 0;
		uint8_t *s = b64url_member(jwk, "k", &len);
		char *kidsave = k->kid;
		int ret;

		if (!s)
			return key_err(k, err, errlen, "oct key: \"k\" must be base64url%s", "");
		k->kid = NULL;
		ret = jose_key_from_secret(s, len, algs, k, err, errlen);
		OPENSSL_cleanse(s, len);
		free(s);
		if (ret) {
			free(kidsave);
			return ret;
		}
		k->kid = kidsave;
		return 0;
	}
	if (!strcmp(kty, "RSA")) {
		k->pkey = rsa_from_jwk(jwk);
		if (!k->pkey)
			return key_err(k, err, errlen, "RSA key: \"n\" and \"e\" must be base64url "
				       "integers%s", "");
	} else if (!strcmp(kty, "EC") && crv) {
		k->pkey = ec_from_jwk(jwk, crv, err, errlen);
	} else if (!strcmp(kty, "OKP") && crv) {
		k->pkey = okp_from_jwk(jwk, crv, err, errlen);
	} else {
		return key_err(k, err, errlen, "unsupported key type \"%s\" (oct, RSA, EC with crv, "
			       "OKP with crv)", kty);
	}
	if (!k->pkey) {
		free(k->kid);
		k->kid = NULL;
		ERR_clear_error();
		return JOSE_EKEY;
	}
	possible = algs_for_pkey(k->pkey, &k->kty);
	if (!possible)
		return key_err(k, err, errlen, "unsupported key%s", "");
	if (narrow_algs(k, possible, algs, err, errlen))
		return JOSE_EKEY;
	return check_pkey(k, err, errlen);
}

int jose_key_from_pem(const char *pem, size_t len, uint32_t algs, struct jose_key *k, char *err,
		      size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	uint32_t possible;

	memset(k, 0, sizeof(*k));
	if (!bio)
		return key_err(k, err, errlen, "out of memory%s", "");
	k->pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!k->pkey) {
		X509 *x;

		ERR_clear_error();
		BIO_reset(bio);
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (x) {
			k->pkey = X509_get_pubkey(x);
			X509_free(x);
		}
	}
	BIO_free(bio);
	if (!k->pkey)
		return key_err(k, err, errlen, "not a PEM public key or certificate%s", "");
	possible = algs_for_pkey(k->pkey, &k->kty);
	if (!possible)
		return key_err(k, err, errlen, "unsupported key type (RSA, EC P-256/384/521, "
			       "Ed25519, Ed448)%s", "");
	if (narrow_algs(k, possible, algs, err, errlen))
		return JOSE_EKEY;
	return check_pkey(k, err, errlen);
}

int jose_key_from_secret(const uint8_t *secret, size_t len, uint32_t algs, struct jose_key *k,
			 char *err, size_t errlen)
{
	uint32_t possible = 0;

	memset(k, 0, sizeof(*k));
	k->kty = JOSE_KTY_OCT;
	/* RFC 7518 3.2: a key at least as long as the hash output. */
	if (len >= 32)
		possible |= JOSE_ALG_BIT(JOSE_HS256);
	if (len >= 48)
		possible |= JOSE_ALG_BIT(JOSE_HS384);
	if (len >= 64)
		possible |= JOSE_ALG_BIT(JOSE_HS512);
	if (algs & ~JOSE_HS_ALGS) {
		for (int a = 0; a < JOSE_ALG_COUNT; a++)
			if ((algs & ~JOSE_HS_ALGS) & JOSE_ALG_BIT(a))
				return key_err(k, err, errlen, "algorithm %s cannot be used with an "
					       "HMAC secret", jose_alg_name(a));
	}
	if (!possible || (algs & ~possible)) {
		char msg[96];

		snprintf(msg, sizeof(msg), "HMAC secret is too short (%zu bytes; HS256 needs 32, "
			 "HS384 48, HS512 64)", len);
		return key_err(k, err, errlen, "%s", msg);
	}
	k->algs = algs ? algs : possible;
	k->secret = malloc(len);
	if (!k->secret)
		return key_err(k, err, errlen, "out of memory%s", "");
	memcpy(k->secret, secret, len);
	k->secret_len = len;
	return 0;
}

void jose_keyset_clear(struct jose_keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		jose_key_clear(&ks->keys[i]);
	free(ks->keys);
	memset(ks, 0, sizeof(*ks));
}

int jose_jwks_parse(const char *buf, size_t len, uint32_t algs, struct jose_keyset *ks, char *err,
		    size_t errlen)
{
	json_error_t jerr;
	json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr), *keys, *kj;
	char kerr[200] = "";
	size_t i;

	memset(ks, 0, sizeof(*ks));
	if (!doc) {
		snprintf(err, errlen, "not JSON: line %d: %s", jerr.line, jerr.text);
		return JOSE_EMALFORMED;
	}
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys)) {
		json_decref(doc);
		snprintf(err, errlen, "not a JWK Set (no \"keys\" list)");
		return JOSE_EMALFORMED;
	}
	ks->keys = calloc(json_array_size(keys) + 1, sizeof(*ks->keys));
	if (!ks->keys) {
		json_decref(doc);
		snprintf(err, errlen, "out of memory");
		return JOSE_EKEY;
	}
	json_array_foreach(keys, i, kj) {
		if (jose_key_from_jwk(kj, algs, &ks->keys[ks->n], kerr, sizeof(kerr)))
			ks->skipped++;
		else
			ks->n++;
	}
	json_decref(doc);
	if (!ks->n) {
		snprintf(err, errlen, "no usable key in the set%s%s", kerr[0] ? " (last: " : "",
			 kerr[0] ? kerr : "");
		if (kerr[0])
			strncat(err, ")", errlen - strlen(err) - 1);
		jose_keyset_clear(ks);
		return JOSE_EKEY;
	}
	return 0;
}

/* ---- JWS ---- */

void jose_jws_clear(struct jose_jws *jws)
{
	json_decref(jws->header);
	json_decref(jws->claims);
	free(jws->payload);
	free(jws->sig);
	memset(jws, 0, sizeof(*jws));
}

static uint8_t *decode_part(const char *p, size_t len, size_t *outlen)
{
	size_t cap = jose_b64_decoded_max(len);
	uint8_t *out = malloc(cap + 1);

	if (!out)
		return NULL;
	*outlen = cap;
	if (jose_b64_decode(p, len, true, out, outlen)) {
		free(out);
		return NULL;
	}
	out[*outlen] = 0;
	return out;
}

int jose_jws_parse(const char *token, size_t len, size_t max_len, struct jose_jws *jws)
{
	const char *d1, *d2, *s;
	size_t hl, pl, sl, n;
	uint8_t *hdr;
	json_t *alg, *kid;
	int a, ret = JOSE_EMALFORMED;

	memset(jws, 0, sizeof(*jws));
	if (len > (max_len ? max_len : DEFAULT_MAX_TOKEN))
		return JOSE_ETOOLARGE;
	d1 = memchr(token, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (d1 + 1 - token)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (d2 + 1 - token)))
		return JOSE_EMALFORMED;
	hl = d1 - token;
	pl = d2 - d1 - 1;
	s = d2 + 1;
	sl = len - (s - token);
	if (!hl)
		return JOSE_EMALFORMED;
	hdr = decode_part(token, hl, &n);
	if (!hdr)
		return JOSE_EMALFORMED;
	jws->header = json_loadb((const char *)hdr, n, JSON_REJECT_DUPLICATES, NULL);
	free(hdr);
	if (!json_is_object(jws->header))
		goto fail;
	alg = json_object_get(jws->header, "alg");
	if (!json_is_string(alg))
		goto fail;
	if (!strcasecmp(json_string_value(alg), "none")) {
		ret = JOSE_EALGNONE;
		goto fail;
	}
	a = jose_alg_parse(json_string_value(alg), json_string_length(alg));
	if (a <= 0) {
		ret = JOSE_EALG;
		goto fail;
	}
	jws->alg = a;
	if (json_object_get(jws->header, "crit")) {
		ret = JOSE_ECRIT;
		goto fail;
	}
	kid = json_object_get(jws->header, "kid");
	if (kid && !json_is_string(kid))
		goto fail;
	jws->kid = json_string_value(kid);
	jws->payload = decode_part(d1 + 1, pl, &jws->payload_len);
	if (!jws->payload)
		goto fail;
	if (jws->payload_len && jws->payload[0] == '{') {
		jws->claims = json_loadb((const char *)jws->payload, jws->payload_len,
					 JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(jws->claims)) {
			json_decref(jws->claims);
			jws->claims = NULL;
		}
	}
	if (sl == 0 || sl > MAX_SIG_BYTES * 4 / 3 + 4)
		goto fail;
	jws->sig = decode_part(s, sl, &jws->sig_len);
	if (!jws->sig)
		goto fail;
	jws->signing_input = token;
	jws->signing_input_len = d2 - token;
	return 0;
fail:
	jose_jws_clear(jws);
	return ret;
}

static const char *md_name(enum jose_alg alg)
{
	switch (alg) {
	case JOSE_HS256: case JOSE_RS256: case JOSE_PS256: case JOSE_ES256:
		return "SHA256";
	case JOSE_HS384: case JOSE_RS384: case JOSE_PS384: case JOSE_ES384:
		return "SHA384";
	case JOSE_HS512: case JOSE_RS512: case JOSE_PS512: case JOSE_ES512:
		return "SHA512";
	default:
		return NULL;
	}
}

static int verify_hmac(const struct jose_jws *jws, const struct jose_key *key)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	const EVP_MD *md = jws->alg == JOSE_HS256 ? EVP_sha256()
			   : jws->alg == JOSE_HS384 ? EVP_sha384() : EVP_sha512();

	if (!HMAC(md, key->secret, (int)key->secret_len, (const uint8_t *)jws->signing_input,
		  jws->signing_input_len, mac, &maclen))
		return JOSE_ESIGNATURE;
	if (jws->sig_len != maclen || CRYPTO_memcmp(mac, jws->sig, maclen))
		return JOSE_ESIGNATURE;
	return 0;
}

/* ECDSA signatures are R || S of the curve's size in JWS, DER in OpenSSL. */
static uint8_t *ecdsa_to_der(const struct jose_jws *jws, size_t *derlen)
{
	size_t half = jws->alg == JOSE_ES256 ? 32 : jws->alg == JOSE_ES384 ? 48 : 66;
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	uint8_t *der = NULL;
	int n;

	if (jws->sig_len != 2 * half)
		return NULL;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(jws->sig, (int)half, NULL);
	s = BN_bin2bn(jws->sig + half, (int)half, NULL);
	if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return NULL;
	*derlen = (size_t)n;
	return der;
}

static int verify_pkey(const struct jose_jws *jws, const struct jose_key *key)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const uint8_t *sig = jws->sig;
	size_t siglen = jws->sig_len;
	uint8_t *der = NULL;
	int ok = 0;

	if (!ctx)
		return JOSE_ESIGNATURE;
	if (jws->alg >= JOSE_ES256 && jws->alg <= JOSE_ES512) {
		der = ecdsa_to_der(jws, &siglen);
		if (!der)
			goto out;
		sig = der;
	}
	if (EVP_DigestVerifyInit_ex(ctx, &pctx, md_name(jws->alg), NULL, NULL, key->pkey, NULL) != 1)
		goto out;
	if (jws->alg >= JOSE_PS256 && jws->alg <= JOSE_PS512 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	ok = EVP_DigestVerify(ctx, sig, siglen, (const uint8_t *)jws->signing_input,
			      jws->signing_input_len) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : JOSE_ESIGNATURE;
}

int jose_jws_verify(const struct jose_jws *jws, const struct jose_key *key)
{
	if (jws->alg <= JOSE_ALG_NONE || jws->alg >= JOSE_ALG_COUNT ||
	    !(key->algs & JOSE_ALG_BIT(jws->alg)))
		return JOSE_EALG;
	if (key->kty == JOSE_KTY_OCT)
		return key->secret ? verify_hmac(jws, key) : JOSE_EALG;
	if (!key->pkey)
		return JOSE_EALG;
	return verify_pkey(jws, key);
}

int jose_keyset_verify(const struct jose_keyset *ks, const struct jose_jws *jws,
		       const struct jose_key **used)
{
	bool kid_seen = false, alg_ok = false;

	for (size_t i = 0; i < ks->n; i++) {
		const struct jose_key *k = &ks->keys[i];

		if (jws->kid && (!k->kid || strcmp(k->kid, jws->kid)))
			continue;
		kid_seen = true;
		if (!(k->algs & JOSE_ALG_BIT(jws->alg)))
			continue;
		alg_ok = true;
		if (jose_jws_verify(jws, k) == 0) {
			if (used)
				*used = k;
			return 0;
		}
	}
	if (!kid_seen)
		return JOSE_EKID;
	return alg_ok ? JOSE_ESIGNATURE : JOSE_EALG;
}

/* ---- JWT claims ---- */

static bool in_list(const char *v, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(v, *list))
			return true;
	return false;
}

int jose_jwt_check_claims(const json_t *claims, const struct jose_claim_rules *r)
{
	json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
	json_t *iat = json_object_get(claims, "iat"), *iss = json_object_get(claims, "iss");
	json_t *aud = json_object_get(claims, "aud"), *v;
	double now = (double)r->now, leeway = (double)r->leeway;
	size_t i;

	if (!json_is_object(claims))
		return JOSE_EMALFORMED;
	if ((exp && !json_is_number(exp)) || (nbf && !json_is_number(nbf)) ||
	    (iat && !json_is_number(iat)))
		return JOSE_EMALFORMED;
	for (const char *const *c = r->required; c && *c; c++)
		if (!json_object_get(claims, *c))
			return JOSE_ECLAIM;
	if (exp && now >= json_number_value(exp) + leeway)
		return JOSE_EEXPIRED;
	if (nbf && now + leeway < json_number_value(nbf))
		return JOSE_ENOTYET;
	if (iat && json_number_value(iat) > now + leeway)
		return JOSE_EIATFUTURE;
	if (r->max_age > 0 && (!iat || now - json_number_value(iat) > (double)r->max_age + leeway))
		return iat ? JOSE_ETOOOLD : JOSE_ECLAIM;
	if (r->issuers && (!json_is_string(iss) || !in_list(json_string_value(iss), r->issuers)))
		return JOSE_EISSUER;
	if (r->audiences) {
		if (json_is_string(aud))
			return in_list(json_string_value(aud), r->audiences) ? 0 : JOSE_EAUDIENCE;
		if (!json_is_array(aud))
			return JOSE_EAUDIENCE;
		json_array_foreach(aud, i, v)
			if (json_is_string(v) && in_list(json_string_value(v), r->audiences))
				return 0;
		return JOSE_EAUDIENCE;
	}
	return 0;
}
