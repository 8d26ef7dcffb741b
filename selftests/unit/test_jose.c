// SPDX-License-Identifier: GPL-2.0
/*
 * JOSE: the RFC 7515, 7519 and 8037 example tokens verify; expired, not yet valid, wrong
 * issuer or audience, bad signature, alg none, an HS token signed with an RSA key's public PEM,
 * an unknown kid, malformed base64 and JSON, and an oversized token are refused with their own
 * error.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/policies/jose.h"
#include "lib/test.h"

/* RFC 7515 A.1 (also RFC 7519 3.1): HS256 with an oct JWK. */
static const char a1_jwk[] =
	"{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Y"
	"j0iPS4hcgUuTwjAzZr1Z9CAow\"}";
static const char a1_token[] =
	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0c"
	"nVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/* RFC 7515 A.2: RS256. */
static const char a2_jwk[] =
	"{\"kty\":\"RSA\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-"
	"Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7"
	"OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3q"
	"Co5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyu"
	"XpoQ\",\"e\":\"AQAB\"}";
static const char a2_token[] =
	"eyJhbGciOiJSUzI1NiJ9."
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0c"
	"nVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_"
	"O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkS"
	"jtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6"
	"IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

/* RFC 7515 A.3: ES256. */
static const char a3_jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
			     "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
			     "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
static const char a3_token[] =
	"eyJhbGciOiJFUzI1NiJ9."
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0c"
	"nVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/* RFC 7515 A.5: an unsecured JWS. */
static const char a5_token[] =
	"eyJhbGciOiJub25lIn0."
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0c"
	"nVlfQ.";

/* RFC 8037 A.4: Ed25519 over a payload that is not JSON. */
static const char ed_jwk[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
			     "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char ed_token[] =
	"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
	"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

#define RFC_NOW 1300819000	/* before the examples' exp (1300819380) */

static bool load_jwk(const char *text, uint32_t algs, struct jose_key *k)
{
	char err[256] = "";
	json_t *j = json_loads(text, 0, NULL);
	int ret = jose_key_from_jwk(j, algs, k, err, sizeof(err));

	json_decref(j);
	return ASSERT_EQ(ret, 0) || (test_fail_at(__FILE__, __LINE__, "%s", err), false);
}

static int verify_token(const char *token, const struct jose_key *k)
{
	struct jose_jws jws;
	int ret = jose_jws_parse(token, strlen(token), 0, &jws);

	if (ret)
		return ret;
	ret = jose_jws_verify(&jws, k);
	jose_jws_clear(&jws);
	return ret;
}

/* Flips one bit in the middle of the signature part. */
static char *tamper(const char *token)
{
	char *t = strdup(token);
	char *sig = strrchr(t, '.') + 1;
	size_t n = strlen(sig);

	sig[n / 2] = sig[n / 2] == 'A' ? 'B' : 'A';
	return t;
}

TEST(rfc7515_a1_hs256)
{
	struct jose_key k;
	struct jose_jws jws;
	char *bad;

	if (!load_jwk(a1_jwk, 0, &k))
		return;
	ASSERT_EQ(k.kty, JOSE_KTY_OCT);
	ASSERT_EQ(verify_token(a1_token, &k), 0);
	if (ASSERT_EQ(jose_jws_parse(a1_token, strlen(a1_token), 0, &jws), 0)) {
		ASSERT_EQ(jws.alg, JOSE_HS256);
		ASSERT_STREQ(json_string_value(json_object_get(jws.claims, "iss")), "joe");
		ASSERT_EQ(json_integer_value(json_object_get(jws.claims, "exp")), 1300819380);
		jose_jws_clear(&jws);
	}
	bad = tamper(a1_token);
	ASSERT_EQ(verify_token(bad, &k), JOSE_ESIGNATURE);
	free(bad);
	jose_key_clear(&k);
}

TEST(rfc7515_a2_rs256)
{
	struct jose_key k;
	char *bad;

	if (!load_jwk(a2_jwk, 0, &k))
		return;
	ASSERT_EQ(k.kty, JOSE_KTY_RSA);
	ASSERT_EQ(verify_token(a2_token, &k), 0);
	bad = tamper(a2_token);
	ASSERT_EQ(verify_token(bad, &k), JOSE_ESIGNATURE);
	free(bad);
	jose_key_clear(&k);
}

TEST(rfc7515_a3_es256)
{
	struct jose_key k;
	char *bad;

	if (!load_jwk(a3_jwk, 0, &k))
		return;
	ASSERT_EQ(k.algs, JOSE_ALG_BIT(JOSE_ES256));
	ASSERT_EQ(verify_token(a3_token, &k), 0);
	bad = tamper(a3_token);
	ASSERT_EQ(verify_token(bad, &k), JOSE_ESIGNATURE);
	free(bad);
	jose_key_clear(&k);
}

TEST(rfc8037_a4_eddsa)
{
	struct jose_key k;
	struct jose_jws jws;
	char *bad;

	if (!load_jwk(ed_jwk, 0, &k))
		return;
	ASSERT_EQ(verify_token(ed_token, &k), 0);
	if (ASSERT_EQ(jose_jws_parse(ed_token, strlen(ed_token), 0, &jws), 0)) {
		ASSERT_MEMEQ(jws.payload, jws.payload_len, "Example of Ed25519 signing", 26);
		ASSERT_TRUE(jws.claims == NULL);	/* not JSON: not a JWT */
		ASSERT_EQ(jose_jwt_check_claims(jws.claims, &(struct jose_claim_rules){ 0 }),
			  JOSE_EMALFORMED);
		jose_jws_clear(&jws);
	}
	bad = tamper(ed_token);
	ASSERT_EQ(verify_token(bad, &k), JOSE_ESIGNATURE);
	free(bad);
	jose_key_clear(&k);
}

TEST(alg_none_refused)
{
	struct jose_jws jws;

	ASSERT_EQ(jose_jws_parse(a5_token, strlen(a5_token), 0, &jws), JOSE_EALGNONE);
	ASSERT_EQ(jose_alg_parse("none", 4), JOSE_ALG_NONE);
}

/* ---- tokens made here, signed with a known secret ---- */

static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";

static char *b64(const void *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	jose_b64url_encode(data, len, out);
	return out;
}

static char *sign_hs256(const char *header, const char *payload, const void *key, size_t keylen)
{
	char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload)), *s, *tok;
	uint8_t mac[32];
	unsigned int maclen;
	size_t n;

	n = strlen(h) + strlen(p) + 1;
	tok = malloc(n + 64);
	sprintf(tok, "%s.%s", h, p);
	HMAC(EVP_sha256(), key, (int)keylen, (uint8_t *)tok, n, mac, &maclen);
	s = b64(mac, maclen);
	strcat(tok, ".");
	strcat(tok, s);
	free(h);
	free(p);
	free(s);
	return tok;
}

static int check(const char *payload, const struct jose_claim_rules *r)
{
	struct jose_key k;
	struct jose_jws jws;
	char err[128];
	char *tok = sign_hs256("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, secret, 32);
	int ret;

	jose_key_from_secret(secret, 32, 0, &k, err, sizeof(err));
	ret = jose_jws_parse(tok, strlen(tok), 0, &jws);
	if (!ret)
		ret = jose_jws_verify(&jws, &k);
	if (!ret)
		ret = jose_jwt_check_claims(jws.claims, r);
	jose_jws_clear(&jws);
	jose_key_clear(&k);
	free(tok);
	return ret;
}

TEST(claims)
{
	static const char *const iss[] = { "https://issuer.test", NULL };
	static const char *const aud[] = { "api", NULL };
	static const char *const req[] = { "sub", NULL };
	struct jose_claim_rules r = { .now = 1000000, .leeway = 30, .issuers = iss,
				      .audiences = aud, .required = req };

	ASSERT_EQ(check("{\"sub\":\"alice\",\"iss\":\"https://issuer.test\",\"aud\":\"api\","
			"\"exp\":1000100,\"nbf\":999990,\"iat\":999990}", &r), 0);
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://issuer.test\",\"aud\":[\"x\",\"api\"],"
			"\"exp\":1000100}", &r), 0);
	/* exp in the past beyond the leeway; within the leeway is accepted */
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://issuer.test\",\"aud\":\"api\","
			"\"exp\":999960}", &r), JOSE_EEXPIRED);
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://issuer.test\",\"aud\":\"api\","
			"\"exp\":999980}", &r), 0);
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://issuer.test\",\"aud\":\"api\","
			"\"nbf\":1000100}", &r), JOSE_ENOTYET);
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://issuer.test\",\"aud\":\"api\","
			"\"iat\":1000100}", &r), JOSE_EIATFUTURE);
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://evil.test\",\"aud\":\"api\"}", &r),
		  JOSE_EISSUER);
	ASSERT_EQ(check("{\"sub\":\"a\",\"aud\":\"api\"}", &r), JOSE_EISSUER);
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://issuer.test\",\"aud\":\"web\"}", &r),
		  JOSE_EAUDIENCE);
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://issuer.test\",\"aud\":[\"web\"]}", &r),
		  JOSE_EAUDIENCE);
	ASSERT_EQ(check("{\"iss\":\"https://issuer.test\",\"aud\":\"api\"}", &r), JOSE_ECLAIM);
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://issuer.test\",\"aud\":\"api\","
			"\"exp\":\"tomorrow\"}", &r), JOSE_EMALFORMED);
	r.max_age = 60;
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://issuer.test\",\"aud\":\"api\","
			"\"iat\":999000}", &r), JOSE_ETOOOLD);
	ASSERT_EQ(check("{\"sub\":\"a\",\"iss\":\"https://issuer.test\",\"aud\":\"api\"}", &r),
		  JOSE_ECLAIM);
}

/* The classic confusion: an HS256 token whose secret is the RSA key's public PEM. */
TEST(hs_token_with_rsa_pem_as_secret)
{
	struct jose_key rsa, pem_key;
	char err[256] = "", *pem, *tok;
	BIO *bio = BIO_new(BIO_s_mem());
	long n;

	if (!load_jwk(a2_jwk, 0, &rsa))
		return;
	PEM_write_bio_PUBKEY(bio, rsa.pkey);
	n = BIO_get_mem_data(bio, &pem);
	tok = sign_hs256("{\"alg\":\"HS256\"}", "{\"sub\":\"mallory\"}", pem, (size_t)n);
	ASSERT_EQ(jose_key_from_pem(pem, (size_t)n, 0, &pem_key, err, sizeof(err)), 0);
	ASSERT_EQ(pem_key.kty, JOSE_KTY_RSA);
	ASSERT_EQ(pem_key.algs & JOSE_HS_ALGS, 0);
	ASSERT_EQ(verify_token(tok, &pem_key), JOSE_EALG);
	ASSERT_EQ(verify_token(tok, &rsa), JOSE_EALG);
	jose_key_clear(&rsa);
	/* And a key configured for RS256 cannot be asked to do HMAC at all. */
	ASSERT_EQ(jose_key_from_pem(pem, (size_t)n, JOSE_ALG_BIT(JOSE_HS256), &rsa, err,
				    sizeof(err)), JOSE_EKEY);
	ASSERT_STREQ(err, "algorithm HS256 cannot be used with this key type");
	jose_key_clear(&pem_key);
	BIO_free(bio);
	free(tok);
}

TEST(keyset_kid)
{
	static const char jwks[] =
		"{\"keys\":[{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\","
		"\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
		"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
		"{\"kty\":\"RSA\",\"kid\":\"enc\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
		"{\"kty\":\"oct\",\"kid\":\"h1\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}";
	struct jose_keyset ks;
	struct jose_jws jws;
	const struct jose_key *used = NULL;
	char err[256] = "", *tok;

	if (!ASSERT_EQ(jose_jwks_parse(jwks, strlen(jwks), 0, &ks, err, sizeof(err)), 0))
		return;
	ASSERT_EQ(ks.n, 2);
	ASSERT_EQ(ks.skipped, 1);
	/* No kid: every key allowing ES256 is tried. */
	if (ASSERT_EQ(jose_jws_parse(a3_token, strlen(a3_token), 0, &jws), 0)) {
		ASSERT_EQ(jose_keyset_verify(&ks, &jws, &used), 0);
		ASSERT_STREQ(used ? used->kid : NULL, "ec1");
		jose_jws_clear(&jws);
	}
	tok = sign_hs256("{\"alg\":\"HS256\",\"kid\":\"h1\"}", "{}", secret, 32);
	if (ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), 0)) {
		ASSERT_EQ(jose_keyset_verify(&ks, &jws, &used), 0);
		jose_jws_clear(&jws);
	}
	free(tok);
	tok = sign_hs256("{\"alg\":\"HS256\",\"kid\":\"nope\"}", "{}", secret, 32);
	if (ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), 0)) {
		ASSERT_EQ(jose_keyset_verify(&ks, &jws, &used), JOSE_EKID);
		jose_jws_clear(&jws);
	}
	free(tok);
	/* kid ec1 with HS256: the key does not allow the algorithm */
	tok = sign_hs256("{\"alg\":\"HS256\",\"kid\":\"ec1\"}", "{}", secret, 32);
	if (ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), 0)) {
		ASSERT_EQ(jose_keyset_verify(&ks, &jws, &used), JOSE_EALG);
		jose_jws_clear(&jws);
	}
	free(tok);
	jose_keyset_clear(&ks);
	ASSERT_EQ(jose_jwks_parse("{\"keys\":[]}", 11, 0, &ks, err, sizeof(err)), JOSE_EKEY);
	ASSERT_EQ(jose_jwks_parse("{\"kty\":\"oct\"}", 13, 0, &ks, err, sizeof(err)),
		  JOSE_EMALFORMED);
	ASSERT_EQ(jose_jwks_parse("{\"keys\":", 8, 0, &ks, err, sizeof(err)), JOSE_EMALFORMED);
}

TEST(malformed)
{
	struct jose_jws jws;
	char big[20000];
	char *tok;

	ASSERT_EQ(jose_jws_parse("abc", 3, 0, &jws), JOSE_EMALFORMED);
	ASSERT_EQ(jose_jws_parse("a.b", 3, 0, &jws), JOSE_EMALFORMED);
	ASSERT_EQ(jose_jws_parse("a.b.c.d", 7, 0, &jws), JOSE_EMALFORMED);
	/* bad base64url characters in each part */
	tok = "eyJhbGciOiJIUzI1NiJ9.eyJ!!!.c2ln";
	ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), JOSE_EMALFORMED);
	tok = "eyJhbGciOiJIUzI1NiJ9+.e30.c2ln";
	ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), JOSE_EMALFORMED);
	tok = "eyJhbGciOiJIUzI1NiJ9.e30.c2ln=";
	ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), JOSE_EMALFORMED);
	/* header that is not JSON: {"alg": */
	tok = "eyJhbGciOg.e30.c2ln";
	ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), JOSE_EMALFORMED);
	/* header without alg; alg not a string; unknown alg; crit */
	tok = "e30.e30.c2ln";
	ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), JOSE_EMALFORMED);
	tok = "eyJhbGciOjF9.e30.c2ln";
	ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), JOSE_EMALFORMED);
	tok = "eyJhbGciOiJYWTI1NiJ9.e30.c2ln";
	ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), JOSE_EALG);
	tok = "eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiZXhwIl19.e30.c2ln";
	ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), JOSE_ECRIT);
	/* duplicate members in the header */
	tok = "eyJhbGciOiJIUzI1NiIsImFsZyI6Im5vbmUifQ.e30.c2ln";
	ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), JOSE_EMALFORMED);
	/* empty signature */
	tok = "eyJhbGciOiJIUzI1NiJ9.e30.";
	ASSERT_EQ(jose_jws_parse(tok, strlen(tok), 0, &jws), JOSE_EMALFORMED);
	/* oversized */
	memset(big, 'A', sizeof(big));
	ASSERT_EQ(jose_jws_parse(big, sizeof(big), 0, &jws), JOSE_ETOOLARGE);
	ASSERT_EQ(jose_jws_parse(a1_token, strlen(a1_token), 100, &jws), JOSE_ETOOLARGE);
}

TEST(base64)
{
	uint8_t out[16];
	size_t n;

	n = sizeof(out);
	ASSERT_EQ(jose_b64_decode("YWxpY2U6c2VjcmV0", 16, false, out, &n), 0);
	ASSERT_MEMEQ(out, n, "alice:secret", 12);
	n = sizeof(out);
	ASSERT_EQ(jose_b64_decode("YQ==", 4, false, out, &n), 0);
	ASSERT_MEMEQ(out, n, "a", 1);
	n = sizeof(out);
	ASSERT_EQ(jose_b64_decode("YQ", 2, true, out, &n), 0);
	n = sizeof(out);
	ASSERT_EQ(jose_b64_decode("YR", 2, true, out, &n), JOSE_EMALFORMED);	/* trailing bits */
	n = sizeof(out);
	ASSERT_EQ(jose_b64_decode("Y", 1, true, out, &n), JOSE_EMALFORMED);
	n = sizeof(out);
	ASSERT_EQ(jose_b64_decode("Y=Q=", 4, false, out, &n), JOSE_EMALFORMED);
	n = 2;
	ASSERT_EQ(jose_b64_decode("YWxpY2U", 7, true, out, &n), JOSE_ETOOLARGE);
}

/* Algorithms without an RFC example: a key made here, signed with OpenSSL. */
static char *sign_pkey(EVP_PKEY *pkey, const char *alg, const char *md, bool pss)
{
	char hdr[64], *h, *p, *s, *tok;
	uint8_t sig[1024];
	size_t siglen = sizeof(sig), n;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx;

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", alg);
	h = b64(hdr, strlen(hdr));
	p = b64("{\"sub\":\"x\"}", 11);
	tok = malloc(4096);
	n = (size_t)sprintf(tok, "%s.%s", h, p);
	EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, pkey, NULL);
	if (pss) {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
	}
	EVP_DigestSign(ctx, sig, &siglen, (uint8_t *)tok, n);
	s = b64(sig, siglen);
	strcat(tok, ".");
	strcat(tok, s);
	EVP_MD_CTX_free(ctx);
	free(h);
	free(p);
	free(s);
	return tok;
}

TEST(rsa_family)
{
	static const struct { const char *alg, *md; bool pss; } cases[] = {
		{ "RS384", "SHA384", false }, { "RS512", "SHA512", false },
		{ "PS256", "SHA256", true },  { "PS384", "SHA384", true },
	};
	EVP_PKEY *pkey = EVP_RSA_gen(2048);
	BIO *bio = BIO_new(BIO_s_mem());
	struct jose_key k, only_rs256, small;
	char err[256], *pem;
	long n;

	if (!ASSERT_NOT_NULL(pkey))
		return;
	PEM_write_bio_PUBKEY(bio, pkey);
	n = BIO_get_mem_data(bio, &pem);
	ASSERT_EQ(jose_key_from_pem(pem, (size_t)n, 0, &k, err, sizeof(err)), 0);
	ASSERT_EQ(jose_key_from_pem(pem, (size_t)n, JOSE_ALG_BIT(JOSE_RS256), &only_rs256, err,
				    sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *tok = sign_pkey(pkey, cases[i].alg, cases[i].md, cases[i].pss);

		ASSERT_TRUE(verify_token(tok, &k) == 0, "%s", cases[i].alg);
		/* the per-key allow-list: this key only verifies RS256 */
		ASSERT_TRUE(verify_token(tok, &only_rs256) == JOSE_EALG, "%s", cases[i].alg);
		free(tok);
	}
	jose_key_clear(&k);
	jose_key_clear(&only_rs256);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	/* keys under 2048 bits are refused */
	pkey = EVP_RSA_gen(1024);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, pkey);
	n = BIO_get_mem_data(bio, &pem);
	ASSERT_EQ(jose_key_from_pem(pem, (size_t)n, 0, &small, err, sizeof(err)), JOSE_EKEY);
	ASSERT_STREQ(err, "RSA key is too small (2048 bits required)");
	BIO_free(bio);
	EVP_PKEY_free(pkey);
}

TEST(key_errors)
{
	struct jose_key k;
	char err[256];
	json_t *j;

	ASSERT_EQ(jose_key_from_secret(secret, 16, 0, &k, err, sizeof(err)), JOSE_EKEY);
	ASSERT_STREQ(err, "HMAC secret is too short (16 bytes; HS256 needs 32, HS384 48, HS512 64)");
	ASSERT_EQ(jose_key_from_secret(secret, 32, JOSE_ALG_BIT(JOSE_RS256), &k, err, sizeof(err)),
		  JOSE_EKEY);
	ASSERT_STREQ(err, "algorithm RS256 cannot be used with an HMAC secret");
	j = json_loads("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8"
		       "Tus9uPHvRVEU\",\"y\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"}",
		       0, NULL);
	ASSERT_EQ(jose_key_from_jwk(j, 0, &k, err, sizeof(err)), JOSE_EKEY);
	json_decref(j);
	j = json_loads("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES384\",\"x\":\"f83OJ3D2xF1Bg8"
		       "vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYj"
		       "KIWI5a0\"}", 0, NULL);
	ASSERT_EQ(jose_key_from_jwk(j, 0, &k, err, sizeof(err)), JOSE_EKEY);
	ASSERT_STREQ(err, "algorithm ES384 cannot be used with this key type");
	json_decref(j);
	j = json_loads("{\"kty\":\"XYZ\"}", 0, NULL);
	ASSERT_EQ(jose_key_from_jwk(j, 0, &k, err, sizeof(err)), JOSE_EKEY);
	json_decref(j);
	ASSERT_EQ(jose_key_from_pem("nope", 4, 0, &k, err, sizeof(err)), JOSE_EKEY);
	ASSERT_STREQ(err, "not a PEM public key or certificate");
}

/*
 * Mutated tokens (byte changes, truncations, insertions) never crash the parser and never
 * verify: the signature covers every byte and only canonical base64url is accepted.
 */
TEST(mutations_never_verify)
{
	const char *tokens[] = { a1_token, a3_token, ed_token };
	const char *jwks[] = { a1_jwk, a3_jwk, ed_jwk };
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	int verified = 0, parsed = 0;

	for (size_t t = 0; t < 3; t++) {
		struct jose_key k;
		size_t len = strlen(tokens[t]);

		if (!load_jwk(jwks[t], 0, &k))
			return;
		for (int i = 0; i < 3000; i++) {
			char buf[1024];
			size_t n = len, pos;
			struct jose_jws jws;

			memcpy(buf, tokens[t], len);
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			pos = rng % len;
			switch ((rng >> 32) % 4) {
			case 0: buf[pos] = (char)(rng >> 40); break;	/* any byte */
			case 1: buf[pos] ^= (char)(1 << ((rng >> 40) % 7)); break;
			case 2: n = pos; break;				/* truncated */
			case 3:						/* one byte inserted */
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = "A-_.=z9"[(rng >> 40) % 7];
				n = len + 1;
				break;
			}
			if (n == len && !memcmp(buf, tokens[t], len))
				continue;
			if (jose_jws_parse(buf, n, 0, &jws) == 0) {
				parsed++;
				if (jose_jws_verify(&jws, &k) == 0)
					verified++;
				jose_jws_clear(&jws);
			}
		}
		jose_key_clear(&k);
	}
	ASSERT_EQ(verified, 0);
	ASSERT_GT(parsed, 0);	/* the mutations did reach verification */
}
