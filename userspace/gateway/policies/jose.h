/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JOSE for the jwt policy: base64 (RFC 4648), JWK and JWK Set parsing (RFC 7517, 7518, 8037),
 * compact JWS parsing and signature verification (RFC 7515) with OpenSSL 3, and JWT claim
 * checks (RFC 7519). Pure functions over bytes (time is a parameter), so they can be tested
 * with the RFC examples and fuzzed: no globals, no I/O.
 *
 * Algorithms: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA (Ed25519,
 * Ed448). `none` is never accepted. Each key carries the set of algorithms it may verify,
 * derived from its type (an RSA key never verifies an HMAC, an HMAC secret never an RSA
 * signature) and narrowed by its `alg`.
 */
#ifndef XDPGW_GATEWAY_POLICIES_JOSE_H
#define XDPGW_GATEWAY_POLICIES_JOSE_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jose_alg {
	JOSE_ALG_NONE = 0,	/* "none": parsed so it can be refused by name */
	JOSE_HS256, JOSE_HS384, JOSE_HS512,
	JOSE_RS256, JOSE_RS384, JOSE_RS512,
	JOSE_PS256, JOSE_PS384, JOSE_PS512,
	JOSE_ES256, JOSE_ES384, JOSE_ES512,
	JOSE_EDDSA,
	JOSE_ALG_COUNT,
};

#define JOSE_ALG_BIT(a) (1u << (a))
#define JOSE_HS_ALGS (JOSE_ALG_BIT(JOSE_HS256) | JOSE_ALG_BIT(JOSE_HS384) | JOSE_ALG_BIT(JOSE_HS512))
#define JOSE_RSA_ALGS                                                                              \
	(JOSE_ALG_BIT(JOSE_RS256) | JOSE_ALG_BIT(JOSE_RS384) | JOSE_ALG_BIT(JOSE_RS512) |          \
	 JOSE_ALG_BIT(JOSE_PS256) | JOSE_ALG_BIT(JOSE_PS384) | JOSE_ALG_BIT(JOSE_PS512))

/* Name of alg ("RS256"); "none" for JOSE_ALG_NONE. */
const char *jose_alg_name(enum jose_alg alg);
/* The algorithm named by s (len bytes), or -1 when unknown. */
int jose_alg_parse(const char *s, size_t len);

/* Errors (negative returns of the functions below), each a distinct refusal reason. */
enum jose_err {
	JOSE_OK = 0,
	JOSE_EMALFORMED = -1,	/* not three base64url parts, bad JSON, bad field types */
	JOSE_ETOOLARGE = -2,
	JOSE_EALGNONE = -3,	/* alg "none" */
	JOSE_EALG = -4,		/* algorithm unknown, or not allowed for the key */
	JOSE_ESIGNATURE = -5,	/* the signature does not verify */
	JOSE_ECRIT = -6,	/* a "crit" header names an extension we do not implement */
	JOSE_EEXPIRED = -7,
	JOSE_ENOTYET = -8,	/* nbf in the future */
	JOSE_EIATFUTURE = -9,
	JOSE_ETOOOLD = -10,	/* iat older than max_age */
	JOSE_EISSUER = -11,
	JOSE_EAUDIENCE = -12,
	JOSE_ECLAIM = -13,	/* a required claim is missing */
	JOSE_EKEY = -14,	/* a key cannot be used (bad JWK, unsupported type, too small) */
	JOSE_EKID = -15,	/* no key has the token's kid */
};

const char *jose_strerror(int err);

/*
 * Base64 decoding into out (capacity *outlen, set to the decoded length). url: the base64url
 * alphabet without padding (RFC 7515 section 2), else the standard alphabet with optional
 * padding. Strict: any other character, a bad length or non-zero trailing bits is an error.
 * Returns 0 or JOSE_EMALFORMED (JOSE_ETOOLARGE when out is too small).
 */
int jose_b64_decode(const char *in, size_t len, bool url, uint8_t *out, size_t *outlen);
/* Bytes needed to decode len characters. */
static inline size_t jose_b64_decoded_max(size_t len)
{
	return len / 4 * 3 + 3;
}
/* base64url without padding; out needs 4 * ((len + 2) / 3) + 1 bytes; returns the length. */
size_t jose_b64url_encode(const uint8_t *in, size_t len, char *out);

enum jose_kty { JOSE_KTY_OCT = 1, JOSE_KTY_RSA, JOSE_KTY_EC, JOSE_KTY_OKP };

/* A verification key. */
struct jose_key {
	char *kid;		/* NULL when the key has none */
	enum jose_kty kty;
	uint32_t algs;		/* JOSE_ALG_BIT()s this key may verify */
	EVP_PKEY *pkey;		/* RSA, EC, OKP */
	uint8_t *secret;	/* oct */
	size_t secret_len;
};

/*
 * Key constructors. Each fills k (zeroed first) or returns JOSE_EKEY with the cause in err.
 * algs narrows the algorithms the key type allows (0: all of them); asking for an algorithm
 * the key type cannot verify is an error (an RSA key for HS256). RSA keys must have at least
 * 2048 bits; HMAC secrets at least as many bytes as the hash (32 for HS256).
 * from_jwk: one JWK object (public members only are read; "alg", "use" and "key_ops" are
 * honoured: a key for "enc" is refused). from_pem: a PUBLIC KEY or CERTIFICATE in PEM.
 */
int jose_key_from_jwk(const json_t *jwk, uint32_t algs, struct jose_key *k, char *err,
		      size_t errlen);
int jose_key_from_pem(const char *pem, size_t len, uint32_t algs, struct jose_key *k, char *err,
		      size_t errlen);
int jose_key_from_secret(const uint8_t *secret, size_t len, uint32_t algs, struct jose_key *k,
			 char *err, size_t errlen);
void jose_key_clear(struct jose_key *k);

struct jose_keyset {
	struct jose_key *keys;
	size_t n;
	size_t skipped;		/* keys of the set that were not usable (enc, unknown kty...) */
};

/*
 * Parses a JWK Set document ({"keys": [...]}). Unusable members are skipped and counted; a set
 * with no usable key, or a document that is not a JWK Set, is an error (JOSE_EMALFORMED or
 * JOSE_EKEY, with the cause in err). algs narrows every key as in jose_key_from_jwk.
 */
int jose_jwks_parse(const char *buf, size_t len, uint32_t algs, struct jose_keyset *ks, char *err,
		    size_t errlen);
void jose_keyset_clear(struct jose_keyset *ks);

/* A parsed compact JWS. header and payload are owned (json_decref via jose_jws_clear). */
struct jose_jws {
	enum jose_alg alg;
	const char *kid;	/* points into header, NULL when absent */
	json_t *header;
	json_t *claims;		/* the payload as a JSON object, NULL when it is not one */
	uint8_t *payload;	/* decoded payload bytes */
	size_t payload_len;
	const char *signing_input;	/* header.payload, pointing into the token */
	size_t signing_input_len;
	uint8_t *sig;
	size_t sig_len;
};

/*
 * Splits and decodes a compact JWS of len bytes (at most max_len; 0: 16 KiB). The header must
 * be a JSON object with a string "alg"; "none" gives JOSE_EALGNONE, an unknown algorithm
 * JOSE_EALG, a "crit" member JOSE_ECRIT. Returns 0 and fills jws, or an error with jws clear.
 */
int jose_jws_parse(const char *token, size_t len, size_t max_len, struct jose_jws *jws);
void jose_jws_clear(struct jose_jws *jws);
/*
 * Verifies jws's signature with key. Returns 0, JOSE_EALG when the token's algorithm is not in
 * key->algs, or JOSE_ESIGNATURE.
 */
int jose_jws_verify(const struct jose_jws *jws, const struct jose_key *key);

/*
 * Verifies jws with the keys of ks: the keys whose kid equals the token's (JOSE_EKID when none
 * has it), or every key when the token has no kid. A key that does not allow the token's
 * algorithm is never tried. Returns 0 (and *used when used is not NULL), JOSE_EKID, JOSE_EALG
 * when no candidate allows the algorithm, or JOSE_ESIGNATURE.
 */
int jose_keyset_verify(const struct jose_keyset *ks, const struct jose_jws *jws,
		       const struct jose_key **used);

/* What jose_jwt_check_claims checks. */
struct jose_claim_rules {
	int64_t now;		/* unix seconds */
	int64_t leeway;		/* seconds of clock skew tolerated on exp, nbf, iat */
	int64_t max_age;	/* > 0: iat is required and must be at most this old */
	const char *const *issuers;	/* NULL-terminated; NULL: any */
	const char *const *audiences;	/* NULL-terminated; NULL: any */
	const char *const *required;	/* claims that must be present */
};

/*
 * Checks registered claims when present: exp (now < exp + leeway), nbf (nbf - leeway <= now),
 * iat (not in the future; max_age), iss (one of issuers), aud (a string or a list sharing one
 * value with audiences) and the required claims. Time claims must be numbers. Returns 0 or
 * the first failed check's error.
 */
int jose_jwt_check_claims(const json_t *claims, const struct jose_claim_rules *rules);

#endif
