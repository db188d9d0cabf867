/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compact JWS (RFC 7515/7519) for bearer and entitlement tokens: HS256 and
 * EdDSA (Ed25519) only. The alg picks the key type, never the other way
 * round: an HS256 token is checked with the HMAC secret alone and an EdDSA
 * token with the public keys alone, so a public key can never serve as an
 * HMAC secret. "none" and every other alg are refused.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "api/internal.h"

#define JWT_PART_MAX  4096 /* decoded bytes of the header or the payload */
#define KEYS_FILE_MAX (64 * 1024)
#define KID_CHARS     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

#define REFUSE(err, ...) (forge_err_set((err), -EACCES, __VA_ARGS__), -EACCES)

static json_t *decode_object(const char *s, size_t len, struct forge_err *err)
{
	char buf[JWT_PART_MAX];
	size_t n;
	json_error_t jerr;

	if (forge_base64url_decode(buf, sizeof(buf), &n, s, len, "token part", NULL))
		return NULL;
	json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &jerr);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	if (!j)
		forge_err_set(err, -EACCES, "malformed token");
	return j;
}

/* NumericDate: an integer or a number of seconds; *present false when absent. */
static int get_time(const json_t *claims, const char *name, int64_t *out, bool *present)
{
	json_t *v = json_object_get(claims, name);

	*present = v != NULL;
	if (!v)
		return 0;
	if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (json_is_real(v) && json_real_value(v) > -1e15 && json_real_value(v) < 1e15)
		*out = (int64_t)json_real_value(v);
	else
		return -EINVAL;
	return 0;
}

static bool audience_ok(const json_t *aud, const char *want)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, v) if (json_is_string(v) &&
					  strcmp(json_string_value(v), want) == 0) return true;
	return false;
}

static int check_claims(const struct api_jwt_keys *k, const json_t *claims, int64_t now,
			struct forge_err *err)
{
	int64_t exp = 0, nbf = 0, iat = 0;
	bool has_exp, has_nbf, has_iat;

	if (get_time(claims, "exp", &exp, &has_exp) || get_time(claims, "nbf", &nbf, &has_nbf) ||
	    get_time(claims, "iat", &iat, &has_iat))
		return REFUSE(err, "exp, nbf and iat must be numbers");
	if (!has_exp || !has_iat)
		return REFUSE(err, "the token has no %s claim", has_exp ? "iat" : "exp");
	if (now > exp + k->skew_s)
		return REFUSE(err, "the token expired");
	if (has_nbf && nbf > now + k->skew_s)
		return REFUSE(err, "the token is not valid yet");
	if (iat > now + k->skew_s)
		return REFUSE(err, "the token was issued in the future");
	if (k->max_lifetime_s && exp - iat > k->max_lifetime_s)
		return REFUSE(err, "the token lives longer than %d s", k->max_lifetime_s);
	if (k->issuer && k->issuer[0]) {
		const char *iss = json_string_value(json_object_get(claims, "iss"));
		if (!iss || strcmp(iss, k->issuer) != 0)
			return REFUSE(err, "wrong issuer");
	}
	if (k->audience && k->audience[0] &&
	    !audience_ok(json_object_get(claims, "aud"), k->audience))
		return REFUSE(err, "wrong audience");
	return 0;
}

static int check_signature(const struct api_jwt_keys *k, const json_t *header, const char *input,
			   size_t input_len, const char *sig64, size_t sig64_len,
			   struct forge_err *err)
{
	const char *alg = json_string_value(json_object_get(header, "alg"));
	const char *kid = json_string_value(json_object_get(header, "kid"));
	uint8_t sig[FORGE_ED25519_SIG_BYTES];
	size_t n = 0;

	if (!alg)
		return REFUSE(err, "the token header has no alg");
	/* Headers that would let the token pick its own key, or demand
	 * extensions this verifier does not implement. */
	if (json_object_get(header, "crit") || json_object_get(header, "jwk") ||
	    json_object_get(header, "jku") || json_object_get(header, "x5u") ||
	    json_object_get(header, "x5c"))
		return REFUSE(err, "unsupported token header parameter");
	if (forge_base64url_decode(sig, sizeof(sig), &n, sig64, sig64_len, "signature", NULL))
		return REFUSE(err, "malformed signature");
	if (strcmp(alg, "HS256") == 0 && (k->algs & API_ALG_HS256) && k->hs_len) {
		if (n != FORGE_HMAC_SHA256_BYTES ||
		    !forge_hmac_sha256_verify(sig, k->hs_secret, k->hs_len, input, input_len))
			return REFUSE(err, "bad signature");
		return 0;
	}
	if (strcmp(alg, "EdDSA") == 0 && (k->algs & API_ALG_EDDSA) && k->n_ed) {
		for (size_t i = 0; i < k->n_ed && n == sizeof(sig); i++)
			if ((!kid || strcmp(kid, k->ed[i].kid) == 0) &&
			    forge_ed25519_verify(sig, input, input_len, k->ed[i].pk))
				return 0;
		return REFUSE(err, "bad signature");
	}
	return REFUSE(err, "the token's alg is not accepted here");
}

int api_jwt_verify(const struct api_jwt_keys *k, const char *token, int64_t now, json_t **claims,
		   struct forge_err *err)
{
	size_t len = token ? strnlen(token, API_JWT_MAX + 1) : 0;
	const char *d1 = token ? memchr(token, '.', len) : NULL;
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	json_t *header = NULL, *payload = NULL;
	int rc;

	*claims = NULL;
	if (!len || len > API_JWT_MAX || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
		return REFUSE(err, "malformed token");
	if (!(header = decode_object(token, (size_t)(d1 - token), err)))
		return -EACCES;
	rc = check_signature(k, header, token, (size_t)(d2 - token), d2 + 1,
			     len - (size_t)(d2 + 1 - token), err);
	json_decref(header);
	if (rc)
		return rc;
	if (!(payload = decode_object(d1 + 1, (size_t)(d2 - d1 - 1), err)))
		return -EACCES;
	if ((rc = check_claims(k, payload, now, err))) {
		json_decref(payload);
		return rc;
	}
	*claims = payload;
	return 0;
}

static char *encode_part(const json_t *j, struct forge_err *err)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS), *out = NULL;
	size_t n;

	if (!text) {
		forge_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	n = forge_base64url_len(strlen(text)) + 1;
	if ((out = malloc(n)))
		forge_base64url_encode(out, n, text, strlen(text), NULL);
	else
		forge_err_set(err, -ENOMEM, "out of memory");
	free(text);
	return out;
}

int api_jwt_encode(const char *alg, const char *kid, const json_t *claims, const void *key,
		   size_t keylen, char **out, struct forge_err *err)
{
	uint8_t sig[FORGE_ED25519_SIG_BYTES];
	size_t sig_len;
	char *h64 = NULL, *p64 = NULL, *input = NULL, s64[128];
	json_t *header = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
	int rc = 0;

	*out = NULL;
	if (!header || (kid && json_object_set_new(header, "kid", json_string(kid)))) {
		rc = forge_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (strcmp(alg, "HS256") == 0 && keylen > 0) {
		sig_len = FORGE_HMAC_SHA256_BYTES;
	} else if (strcmp(alg, "EdDSA") == 0 && keylen == FORGE_ED25519_SECRET_BYTES) {
		sig_len = FORGE_ED25519_SIG_BYTES;
	} else {
		rc = forge_err_set(err, -EINVAL, "jwt: alg %s with a %zu-byte key", alg, keylen);
		goto out;
	}
	if (!(h64 = encode_part(header, err)) || !(p64 = encode_part(claims, err)) ||
	    asprintf(&input, "%s.%s", h64, p64) < 0) {
		input = NULL;
		rc = -ENOMEM;
		goto out;
	}
	if (sig_len == FORGE_HMAC_SHA256_BYTES)
		forge_hmac_sha256(sig, key, keylen, input, strlen(input));
	else
		forge_ed25519_sign(sig, input, strlen(input), key);
	forge_base64url_encode(s64, sizeof(s64), sig, sig_len, NULL);
	if (asprintf(out, "%s.%s", input, s64) < 0) {
		*out = NULL;
		rc = forge_err_set(err, -ENOMEM, "out of memory");
	}
out:
	json_decref(header);
	free(h64);
	free(p64);
	free(input);
	return rc;
}

/* "<kid> <key>": the key as 64 hex digits or 43 base64url characters. */
static int parse_key_line(char *line, struct api_pubkey *k, struct forge_err *err,
			  const char *where)
{
	char *save = NULL, *kid = strtok_r(line, " \t", &save), *key = strtok_r(NULL, " \t", &save);
	size_t n = 0;

	if (!kid || !key || strtok_r(NULL, " \t", &save))
		return forge_err_set(err, -EINVAL, "%s: expected \"<kid> <public key>\"", where);
	if (strlen(kid) > API_KID_MAX || strspn(kid, KID_CHARS) != strlen(kid))
		return forge_err_set(err, -EINVAL, "%s: a kid is [A-Za-z0-9._-]{1,%d}", where,
				     API_KID_MAX);
	if (strlen(key) == 64 ? sodium_hex2bin(k->pk, sizeof(k->pk), key, 64, NULL, &n, NULL) != 0
			      : forge_base64url_decode(k->pk, sizeof(k->pk), &n, key, strlen(key),
						       "key", NULL) != 0)
		n = 0;
	if (n != sizeof(k->pk))
		return forge_err_set(err, -EINVAL,
				     "%s: an Ed25519 public key is 64 hex digits or 43 base64url "
				     "characters",
				     where);
	strcpy(k->kid, kid);
	return 0;
}

int api_pubkeys_load(const char *path, struct api_pubkey *keys, size_t *n, struct forge_err *err)
{
	char *buf = NULL, *cur, *line, where[FORGE_PATH_MAX + 16];
	int rc, lineno = 0;

	*n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return forge_err_errno(err, errno, "public keys %s", path);
	rc = forge_read_fd(fd, path, &buf, NULL, KEYS_FILE_MAX, err);
	close(fd);
	if (rc < 0)
		return rc;
	for (cur = buf; (line = strsep(&cur, "\n"));) {
		snprintf(where, sizeof(where), "%s:%d", path, ++lineno);
		while (isspace((unsigned char)*line))
			line++;
		if (!*line || *line == '#')
			continue;
		if (*n == API_MAX_KEYS) {
			rc = forge_err_set(err, -E2BIG, "%s: more than %d keys", where,
					   API_MAX_KEYS);
			break;
		}
		if ((rc = parse_key_line(line, &keys[*n], err, where)))
			break;
		for (size_t i = 0; i < *n && !rc; i++)
			if (strcmp(keys[i].kid, keys[*n].kid) == 0)
				rc = forge_err_set(err, -EINVAL, "%s: kid %s twice", where,
						   keys[i].kid);
		if (rc)
			break;
		(*n)++;
	}
	free(buf);
	if (rc == 0 && *n == 0)
		rc = forge_err_set(err, -EINVAL, "public keys %s: no key", path);
	if (rc)
		*n = 0;
	return rc;
}
