/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the authentication and authorization policies (key-auth, basic-auth, jwt, acl,
 * rate-limit): the compiled consumers, the per-request authentication result, the settings
 * every authentication policy has, failure answers and their counters.
 */
#ifndef XDPGW_GATEWAY_POLICIES_AUTH_H
#define XDPGW_GATEWAY_POLICIES_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gateway/policy.h"

#define AUTH_ID_MAX 127		/* consumer ids, usernames, key names */
#define AUTH_GROUPS_MAX 64	/* groups per consumer */

/* ---- consumers (consumers.c) ---- */

struct gw_api_key {
	char *name;		/* shown by gwctl; the key itself is never stored */
	uint8_t sha256[32];
};

struct gw_consumer {
	char *id;
	char **groups;
	size_t ngroups;
	struct gw_api_key *keys;
	size_t nkeys;
	char *username;		/* basic-auth user name (default: id), NULL without basic_auth */
	char *password_hash;	/* crypt(3) string: $y$ (yescrypt), $2b$ (bcrypt), $6$, $5$ */
};

struct gw_consumers;

/*
 * Compiles `gateway.consumers` (NULL: none) into an immutable table. Returns it, or NULL with
 * "gateway.consumers[ID].FIELD: cause" in err. Secrets are only ever accepted hashed.
 */
struct gw_consumers *gw_consumers_compile(const json_t *arr, char *err, size_t errlen);
void gw_consumers_free(struct gw_consumers *cs);
size_t gw_consumers_count(const struct gw_consumers *cs);
const struct gw_consumer *gw_consumer_at(const struct gw_consumers *cs, size_t i);
/* Lookups; NULL when absent (cs may be NULL). by_key compares digests in constant time. */
const struct gw_consumer *gw_consumer_by_id(const struct gw_consumers *cs, const char *id,
					    size_t len);
const struct gw_consumer *gw_consumer_by_key(const struct gw_consumers *cs,
					     const uint8_t sha256[32]);
const struct gw_consumer *gw_consumer_by_username(const struct gw_consumers *cs,
						  const char *user, size_t len);
bool gw_consumer_in_group(const struct gw_consumer *c, const char *group);

/* SHA-256 of data, with a per-thread digest context (no allocation per call). */
void auth_sha256(const void *data, size_t len, uint8_t out[32]);
/* Parses 64 hex digits (either case) into out; returns 0 or -EINVAL. */
int auth_hex32(const char *hex, uint8_t out[32]);
/* Whether s is 1..AUTH_ID_MAX characters of A-Z a-z 0-9 . _ - @ : */
bool auth_valid_id(const char *s);

/* ---- the result an authentication policy leaves for acl and rate-limit ---- */

struct gw_auth_info {
	const char *id;			/* the consumer id */
	const struct gw_consumer *consumer;	/* its entry in gateway.consumers, or NULL */
	const char *const *extra_groups;	/* groups from a token's claim */
	size_t nextra;
};

bool gw_auth_in_group(const struct gw_auth_info *a, const char *group);
/* The request's authentication result (set by auth_success), or NULL. */
const struct gw_auth_info *gw_auth_get(struct gw_ctx *c);

/* ---- settings shared by key-auth, basic-auth and jwt ---- */

struct auth_common {
	char *consumer_header;	/* sent upstream with the consumer id; NULL: none */
	bool hide_credentials;	/* remove the credentials before the upstream sees them */
	char *realm;
};

/* The field names auth_common_parse reads, for unknown-field checks. */
extern const char *const auth_common_fields[];
int auth_common_parse(const json_t *conf, struct auth_common *ac, char *err, size_t errlen);
void auth_common_free(struct auth_common *ac);
/* Rejects fields of conf that are neither in known nor in auth_common_fields. */
int auth_check_fields(const json_t *conf, const char *const *known, bool common, char *err,
		      size_t errlen);
/* Removes client-supplied copies of the consumer header (first thing on every request). */
void auth_strip_consumer_header(struct gw_ctx *c, const struct auth_common *ac);
/* Records a successful authentication: consumer, upstream header, info for later policies. */
void auth_success(struct gw_ctx *c, const struct auth_common *ac, const struct gw_auth_info *a);

/* Why an authentication or authorization failed: counted, logged, never sent to the client. */
enum auth_reason {
	AUTH_OK,
	AUTH_MISSING,		/* no credentials */
	AUTH_MALFORMED,		/* unparsable header or token */
	AUTH_UNKNOWN_KEY,
	AUTH_UNKNOWN_USER,
	AUTH_BAD_PASSWORD,
	AUTH_BUSY,		/* password checks queue full */
	AUTH_TOO_LARGE,
	AUTH_ALG_NONE,
	AUTH_ALG_NOT_ALLOWED,
	AUTH_UNKNOWN_KID,
	AUTH_BAD_SIGNATURE,
	AUTH_EXPIRED,
	AUTH_NOT_YET_VALID,
	AUTH_IAT_FUTURE,
	AUTH_TOO_OLD,
	AUTH_BAD_ISSUER,
	AUTH_BAD_AUDIENCE,
	AUTH_MISSING_CLAIM,
	AUTH_UNKNOWN_CONSUMER,
	AUTH_KEYS_UNAVAILABLE,	/* JWKS not fetched yet */
	AUTH_CONSUMER_DENIED,	/* acl: consumer or group not allowed */
	AUTH_NO_CONSUMER,	/* acl: the route needs an authenticated consumer */
	AUTH_IP_DENIED,		/* acl: client address */
	AUTH_REASON_COUNT,
};

const char *auth_reason_name(enum auth_reason r);

enum auth_policy_kind { AUTH_KEY, AUTH_BASIC, AUTH_JWT, AUTH_ACL, AUTH_KIND_COUNT };

/*
 * Answers 401 with WWW-Authenticate: challenge (e.g. `Bearer realm="x"`), or 403 when
 * challenge is NULL, with the gateway's JSON error body, and counts and logs reason.
 * Returns GW_POLICY_RESPONDED.
 */
enum gw_policy_verdict auth_fail(struct gw_ctx *c, enum auth_policy_kind kind,
				 enum auth_reason reason, const char *challenge);
/* Counts a success for kind. */
void auth_count_ok(enum auth_policy_kind kind);
/* Writes the auth counters (once, from the first auth policy type's metrics hook). */
void auth_metrics(FILE *out);

#endif
