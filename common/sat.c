/* SPDX-License-Identifier: Apache-2.0 */
/* Spawn authorization tokens: mint and verify (HMAC-SHA256), base64url, secrets. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sat.h"

/* --------------------------------------------------------------- secrets */

void forge_secret_free(unsigned char *secret, size_t len)
{
	if (!secret)
		return;
	forge_memzero(secret, len);
	free(secret);
}

static int secret_check_len(size_t len, const char *what, struct forge_err *err)
{
	if (len < FORGE_SAT_SECRET_MIN)
		return forge_err_set(err, -EINVAL, "%s: %zu bytes, at least %d are needed", what,
				     len, FORGE_SAT_SECRET_MIN);
	if (len > FORGE_SAT_SECRET_MAX)
		return forge_err_set(err, -EINVAL, "%s: over %d bytes", what, FORGE_SAT_SECRET_MAX);
	return 0;
}

int forge_secret_read_file(const char *path, const char *what, unsigned char **secret, size_t *len,
			   struct forge_err *err)
{
	char *buf = NULL;
	size_t n = 0;
	int rc;

	*secret = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return forge_err_errno(err, errno, "%s: %s", what, path);
	rc = forge_read_fd(fd, path, &buf, &n, FORGE_SAT_SECRET_MAX + 2, err);
	close(fd);
	if (rc < 0) {
		forge_err_prefix(err, "%s", what);
		return rc;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	rc = secret_check_len(n, path, err);
	if (rc < 0) {
		forge_err_prefix(err, "%s", what);
		forge_secret_free((unsigned char *)buf, n);
		return rc;
	}
	*secret = (unsigned char *)buf;
	*len = n;
	return 0;
}

int forge_sat_secret_from_env(unsigned char **secret, size_t *len, bool *legacy,
			      struct forge_err *err)
{
	const char *v = getenv("SAT_HMAC_SECRET"), *file = getenv("SAT_HMAC_SECRET_FILE");
	int rc;

	*secret = NULL;
	*len = 0;
	*legacy = false;
	if (file && *file && !(v && *v))
		return forge_secret_read_file(file, "SAT_HMAC_SECRET_FILE", secret, len, err);
	if (!(v && *v)) {
		v = getenv("SAT_SECRET");
		*legacy = v && *v;
	}
	if (!(v && *v))
		return forge_err_set(err, -ENOENT,
				     "no SAT secret: set SAT_HMAC_SECRET or SAT_HMAC_SECRET_FILE");
	rc = secret_check_len(strlen(v), *legacy ? "SAT_SECRET" : "SAT_HMAC_SECRET", err);
	if (rc < 0)
		return rc;
	*secret = (unsigned char *)strdup(v);
	if (!*secret)
		return forge_err_set(err, -ENOMEM, "SAT secret: out of memory");
	*len = strlen(v);
	return 0;
}

/* ---------------------------------------------------------------- claims */

#define ID_CHARS      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-"
#define TRACK_CHARS   "abcdefghijklmnopqrstuvwxyz0123456789_-"
#define PLAN_CHARS    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
#define SCEN_CHARS    "abcdefghijklmnopqrstuvwxyz0123456789"
#define JTI_CHARS     "0123456789abcdef"
#define RETENTION_MAX 3650

static bool sat_str_ok(const char *s, size_t min, size_t max, const char *chars)
{
	size_t n = strlen(s);

	return n >= min && n <= max && strspn(s, chars) == n;
}

static int sat_check(const struct forge_sat_claims *c, struct forge_err *err)
{
	const struct {
		const char *name, *value, *chars;
		size_t min, max;
	} f[] = {
	    {"sub", c->sub, ID_CHARS, 1, FORGE_SAT_ID_MAX},
	    {"tenant_id", c->tenant_id, ID_CHARS, 1, FORGE_SAT_ID_MAX},
	    {"track", c->track, TRACK_CHARS, 1, FORGE_SAT_NAME_MAX},
	    {"plan", c->plan, PLAN_CHARS, 1, FORGE_SAT_NAME_MAX},
	    {"scenario_id", c->scenario_id, SCEN_CHARS, FORGE_SAT_SCENARIO_ID,
	     FORGE_SAT_SCENARIO_ID},
	    {"request_id", c->request_id, ID_CHARS, 1, FORGE_SAT_ID_MAX},
	    {"jti", c->jti, JTI_CHARS, FORGE_SAT_JTI, FORGE_SAT_JTI},
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (!sat_str_ok(f[i].value, f[i].min, f[i].max, f[i].chars))
			return forge_err_set(err, FORGE_SAT_MALFORMED,
					     "SAT claim \"%s\" is empty, too long or has a "
					     "character outside its set",
					     f[i].name);
	if (c->retention_days < 1 || c->retention_days > RETENTION_MAX)
		return forge_err_set(err, FORGE_SAT_MALFORMED,
				     "SAT claim \"retention_days\" must be 1..%d", RETENTION_MAX);
	if (c->iat <= 0 || c->exp <= c->iat || c->exp - c->iat > FORGE_SAT_MAX_TTL)
		return forge_err_set(
		    err, FORGE_SAT_MALFORMED,
		    "SAT claims \"iat\"/\"exp\": exp must follow iat by at most %d s",
		    FORGE_SAT_MAX_TTL);
	return 0;
}

/* Copies a claim string into a fixed field; too long is malformed. */
static int sat_copy(char *dst, size_t dstsz, const char *src, const char *name,
		    struct forge_err *err)
{
	if (strlen(src) >= dstsz)
		return forge_err_set(err, FORGE_SAT_MALFORMED, "SAT claim \"%s\" is too long",
				     name);
	strcpy(dst, src);
	return 0;
}

static int sat_from_json(const json_t *j, struct forge_sat_claims *c, struct forge_err *err)
{
	const char *sub, *tenant, *track, *plan, *scen, *req, *jti;
	json_int_t retention, iat, exp;
	json_error_t jerr;
	int rc;

	memset(c, 0, sizeof(*c));
	if (json_unpack_ex((json_t *)j, &jerr, JSON_STRICT,
			   "{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:s}", "sub", &sub,
			   "tenant_id", &tenant, "track", &track, "plan", &plan, "retention_days",
			   &retention, "scenario_id", &scen, "request_id", &req, "iat", &iat, "exp",
			   &exp, "jti", &jti) != 0)
		return forge_err_set(err, FORGE_SAT_MALFORMED, "SAT claims: %s", jerr.text);
	if ((rc = sat_copy(c->sub, sizeof(c->sub), sub, "sub", err)) ||
	    (rc = sat_copy(c->tenant_id, sizeof(c->tenant_id), tenant, "tenant_id", err)) ||
	    (rc = sat_copy(c->track, sizeof(c->track), track, "track", err)) ||
	    (rc = sat_copy(c->plan, sizeof(c->plan), plan, "plan", err)) ||
	    (rc = sat_copy(c->scenario_id, sizeof(c->scenario_id), scen, "scenario_id", err)) ||
	    (rc = sat_copy(c->request_id, sizeof(c->request_id), req, "request_id", err)) ||
	    (rc = sat_copy(c->jti, sizeof(c->jti), jti, "jti", err)))
		return rc;
	if (retention < 1 || retention > RETENTION_MAX)
		return forge_err_set(err, FORGE_SAT_MALFORMED,
				     "SAT claim \"retention_days\" must be 1..%d", RETENTION_MAX);
	c->retention_days = (int)retention;
	c->iat = iat;
	c->exp = exp;
	return sat_check(c, err);
}

/* ------------------------------------------------------------ mint, verify */

int forge_sat_mint(struct forge_sat_claims *c, const void *secret, size_t secret_len, char **out,
		   struct forge_err *err)
{
	uint8_t mac[FORGE_HMAC_SHA256_BYTES];
	char *text = NULL, *tok = NULL;
	size_t body_len, sig_len = forge_base64url_len(sizeof(mac));
	json_t *j = NULL;
	int rc;

	*out = NULL;
	if (!c->jti[0])
		forge_random_hex(c->jti, FORGE_SAT_JTI);
	if ((rc = secret_check_len(secret_len, "SAT secret", err)) || (rc = sat_check(c, err)))
		return rc;
	j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:I, s:s}", "sub", c->sub,
		      "tenant_id", c->tenant_id, "track", c->track, "plan", c->plan,
		      "retention_days", c->retention_days, "scenario_id", c->scenario_id,
		      "request_id", c->request_id, "iat", (json_int_t)c->iat, "exp",
		      (json_int_t)c->exp, "jti", c->jti);
	if (!j)
		return forge_err_set(err, -ENOMEM, "SAT: out of memory");
	if (!(text = forge_json_canonical(j, err))) {
		rc = -ENOMEM;
		goto out;
	}
	body_len = forge_base64url_len(strlen(text));
	if (!(tok = malloc(body_len + 1 + sig_len + 1))) {
		rc = forge_err_set(err, -ENOMEM, "SAT: out of memory");
		goto out;
	}
	forge_base64url_encode(tok, body_len + 1, text, strlen(text), NULL);
	forge_hmac_sha256(mac, secret, secret_len, tok, body_len);
	tok[body_len] = '.';
	forge_base64url_encode(tok + body_len + 1, sig_len + 1, mac, sizeof(mac), NULL);
	*out = tok;
	tok = NULL;
out:
	free(text);
	free(tok);
	json_decref(j);
	return rc;
}

int forge_sat_verify(const char *token, const void *secret, size_t secret_len, int64_t now,
		     struct forge_sat_claims *c, struct forge_err *err)
{
	uint8_t mac[FORGE_HMAC_SHA256_BYTES];
	size_t tlen = token ? strnlen(token, FORGE_SAT_MAX + 1) : 0, mac_len = 0, body_len = 0;
	const char *dot = token ? memchr(token, '.', tlen) : NULL;
	char body[FORGE_SAT_MAX];
	json_error_t jerr;
	json_t *j = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	if (tlen == 0 || tlen > FORGE_SAT_MAX || !dot || dot == token || !dot[1] ||
	    memchr(dot + 1, '.', tlen - (size_t)(dot + 1 - token)))
		return forge_err_set(
		    err, FORGE_SAT_MALFORMED,
		    "SAT: not two base64url parts joined by '.' (at most %d bytes)", FORGE_SAT_MAX);
	if ((rc = secret_check_len(secret_len, "SAT secret", err)))
		return rc;
	if (forge_base64url_decode(mac, sizeof(mac), &mac_len, dot + 1,
				   tlen - (size_t)(dot + 1 - token), "SAT MAC", err) ||
	    mac_len != sizeof(mac))
		return forge_err_set(err, FORGE_SAT_MALFORMED, "SAT: the MAC part is not %zu bytes",
				     sizeof(mac));
	/* The MAC first: nothing unauthenticated reaches the JSON parser. */
	if (!forge_hmac_sha256_verify(mac, secret, secret_len, token, (size_t)(dot - token)))
		return forge_err_set(err, FORGE_SAT_BAD_MAC, "SAT: bad MAC");
	if (forge_base64url_decode(body, sizeof(body), &body_len, token, (size_t)(dot - token),
				   "SAT claims", err))
		return FORGE_SAT_MALFORMED;
	j = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return forge_err_set(err, FORGE_SAT_MALFORMED, "SAT: claims: %s", jerr.text);
	rc = sat_from_json(j, c, err);
	json_decref(j);
	if (rc == 0 && c->iat > now + FORGE_SAT_SKEW)
		rc = forge_err_set(err, FORGE_SAT_MALFORMED, "SAT: issued in the future");
	else if (rc == 0 && now >= c->exp)
		rc = forge_err_set(err, FORGE_SAT_EXPIRED, "SAT: expired %lld s ago",
				   (long long)(now - c->exp));
	if (rc)
		memset(c, 0, sizeof(*c));
	return rc;
}
