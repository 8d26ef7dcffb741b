// SPDX-License-Identifier: GPL-2.0
/*
 * What a client or an issuer sends the jwt policy: a compact JWS (Authorization: Bearer ...),
 * its claims, and JWK Sets / PEM keys from the issuer. The first byte picks the parser; the
 * token is verified against fixed HMAC, RSA-less and EC keys, its claims checked.
 */
#include "gateway/policies/jose.h"
#include "fuzz.h"

static const char jwks_ec[] =
	"{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"kid\": \"ec1\","
	"\"x\": \"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	"\"y\": \"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
	"{\"kty\": \"oct\", \"kid\": \"h1\", \"k\": "
	"\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}"
	"]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jose_keyset ks;
	static bool have_keys;
	const char *in = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	struct jose_keyset fks = { 0 };
	struct jose_jws jws;
	struct jose_key key;
	char err[256];
	uint8_t buf[4096];
	size_t n = sizeof(buf);

	if (!have_keys) {
		have_keys = jose_jwks_parse(jwks_ec, sizeof(jwks_ec) - 1, 0, &ks, err,
					    sizeof(err)) == 0;
		if (!have_keys)
			abort();
	}
	if (!size)
		return 0;
	switch (data[0] % 4) {
	case 0:
		if (jose_jws_parse(in, len, 0, &jws) == 0) {
			struct jose_claim_rules rules = { .now = 1700000000, .leeway = 60,
							  .max_age = 3600 };
			static const char *const iss[] = { "https://issuer", NULL };

			rules.issuers = iss;
			(void)jose_keyset_verify(&ks, &jws, NULL);
			if (jws.claims)
				(void)jose_jwt_check_claims(jws.claims, &rules);
			jose_jws_clear(&jws);
		}
		break;
	case 1:
		if (jose_jwks_parse(in, len, 0, &fks, err, sizeof(err)) == 0)
			jose_keyset_clear(&fks);
		break;
	case 2:
		if (jose_key_from_pem(in, len, 0, &key, err, sizeof(err)) == 0)
			jose_key_clear(&key);
		break;
	default:
		if (len <= 2048) {
			(void)jose_b64_decode(in, len, true, buf, &n);
			n = sizeof(buf);
			(void)jose_b64_decode(in, len, false, buf, &n);
		}
		(void)jose_alg_parse(in, len);
		break;
	}
	return 0;
}
