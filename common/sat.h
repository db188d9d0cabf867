/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spawn authorization token (SAT, docs/protocol.md): minted by forge-api
 * for each spawn, verified again by forged.
 *
 *   base64url(canonical claims JSON) "." base64url(HMAC-SHA256(secret, first part))
 *
 * base64url without padding; the MAC covers the encoded first part, as sent.
 * Claims, all required, no others: sub, tenant_id, track, plan,
 * retention_days, scenario_id, request_id, iat, exp, jti.
 *
 * forge_sat_verify checks the form, the MAC (constant time, before any JSON
 * is parsed), the claims' types and characters, and the time bounds. It does
 * not know the spawn: forged compares the claims with the spawn's args and
 * remembers the jti (replay) itself.
 */
#ifndef FORGE_SAT_H
#define FORGE_SAT_H

#include <errno.h>
#include <stdint.h>

#include "common/common.h"

#define FORGE_SAT_MAX_TTL     300  /* seconds from iat to exp, at most */
#define FORGE_SAT_SKEW	      30   /* seconds an iat may lie in the future */
#define FORGE_SAT_MAX	      2048 /* bytes of a token */
#define FORGE_SAT_SECRET_MIN  32   /* bytes of a secret */
#define FORGE_SAT_SECRET_MAX  1024
#define FORGE_SAT_ID_MAX      128 /* sub, tenant_id, request_id */
#define FORGE_SAT_NAME_MAX    64  /* track, plan */
#define FORGE_SAT_SCENARIO_ID 12  /* [a-z0-9]{12} */
#define FORGE_SAT_JTI	      32  /* lowercase hex */

/* What forge_sat_verify returns besides 0: distinct so that forged can answer
 * unauthorized, token_expired or bad_request. */
#define FORGE_SAT_MALFORMED (-EINVAL)	   /* not a SAT, bad claims, iat/exp out of bounds */
#define FORGE_SAT_BAD_MAC   (-EACCES)	   /* the MAC does not match */
#define FORGE_SAT_EXPIRED   (-EKEYEXPIRED) /* now >= exp */

struct forge_sat_claims {
	char sub[FORGE_SAT_ID_MAX + 1];
	char tenant_id[FORGE_SAT_ID_MAX + 1];
	char track[FORGE_SAT_NAME_MAX + 1];
	char plan[FORGE_SAT_NAME_MAX + 1];
	int retention_days; /* 1..3650 */
	char scenario_id[FORGE_SAT_SCENARIO_ID + 1];
	char request_id[FORGE_SAT_ID_MAX + 1];
	int64_t iat, exp; /* unix seconds; 0 < exp - iat <= FORGE_SAT_MAX_TTL */
	char jti[FORGE_SAT_JTI + 1];
};

/* Mints a token for c; an empty c->jti is filled with fresh randomness first.
 * The claims are validated as forge_sat_verify would. *out is malloc'd. */
int forge_sat_mint(struct forge_sat_claims *c, const void *secret, size_t secret_len, char **out,
		   struct forge_err *err);

/* Verifies token at time now (unix seconds); fills *c on success. Returns 0,
 * FORGE_SAT_MALFORMED, FORGE_SAT_BAD_MAC or FORGE_SAT_EXPIRED, with err
 * naming what was wrong (never the secret). */
int forge_sat_verify(const char *token, const void *secret, size_t secret_len, int64_t now,
		     struct forge_sat_claims *c, struct forge_err *err);

/* The secret from the environment: SAT_HMAC_SECRET, else the file named by
 * SAT_HMAC_SECRET_FILE, else the legacy SAT_SECRET (*legacy set, so that the
 * caller can warn). A file's trailing newlines are not part of it. -ENOENT
 * when none is set; -EINVAL when shorter than FORGE_SAT_SECRET_MIN bytes.
 * *secret is malloc'd; release it with forge_secret_free. */
int forge_sat_secret_from_env(unsigned char **secret, size_t *len, bool *legacy,
			      struct forge_err *err);

/* Reads a secret file (at most FORGE_SAT_SECRET_MAX bytes, trailing newlines
 * dropped, at least FORGE_SAT_SECRET_MIN bytes left); what names it in errors. */
int forge_secret_read_file(const char *path, const char *what, unsigned char **secret, size_t *len,
			   struct forge_err *err);
/* Zeroes then frees a secret. */
void forge_secret_free(unsigned char *secret, size_t len);

#endif /* FORGE_SAT_H */
