/* SPDX-License-Identifier: Apache-2.0 */
/* Image references ("name:tag", "name@sha256:<hex>") and digests, checked at the boundary. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "images/images.h"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool forge_digest_is_valid(const char *digest)
{
	if (!digest || strncmp(digest, "sha256:", 7) != 0)
		return false;
	for (int i = 0; i < 64; i++)
		if (!is_hex_lower(digest[7 + i]))
			return false;
	return digest[71] == '\0';
}

/* Components [a-z0-9][a-z0-9._-]* joined by single '/', no "..", at most
 * FORGE_IMAGE_NAME_MAX bytes. n is the name's length within s. */
static int check_name(const char *s, size_t n, struct forge_err *err)
{
	if (n == 0)
		return forge_err_set(err, -EINVAL, "image reference: empty name");
	if (n > FORGE_IMAGE_NAME_MAX)
		return forge_err_set(err, -EINVAL, "image name \"%.*s…\": longer than %d bytes", 32,
				     s, FORGE_IMAGE_NAME_MAX);
	if (memmem(s, n, "..", 2))
		return forge_err_set(err, -EINVAL, "image name \"%.*s\": \"..\" is not allowed",
				     (int)n, s);
	bool start = true;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (start && !is_lower_alnum(c))
			return forge_err_set(err, -EINVAL,
					     "image name \"%.*s\": each component must start with "
					     "[a-z0-9]",
					     (int)n, s);
		if (c == '/') {
			start = true;
			continue;
		}
		if (!is_lower_alnum(c) && c != '.' && c != '_' && c != '-')
			return forge_err_set(err, -EINVAL,
					     "image name \"%.*s\": character '%c' is not allowed "
					     "(components are [a-z0-9][a-z0-9._-]*)",
					     (int)n, s, c);
		start = false;
	}
	if (start)
		return forge_err_set(err, -EINVAL, "image name \"%.*s\": ends with '/'", (int)n, s);
	return 0;
}

static int check_tag(const char *t, struct forge_err *err)
{
	size_t n = strlen(t);
	if (n == 0 || n > FORGE_IMAGE_TAG_MAX)
		return forge_err_set(err, -EINVAL, "image tag \"%s\": must be 1 to %d characters",
				     t, FORGE_IMAGE_TAG_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '_' || (i > 0 && (c == '.' || c == '-'));
		if (!ok)
			return forge_err_set(
			    err, -EINVAL,
			    "image tag \"%s\": must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}", t);
	}
	return 0;
}

int forge_image_ref_parse(const char *ref, struct forge_image_ref *out, struct forge_err *err)
{
	const char *at, *colon, *slash;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!ref || !*ref)
		return forge_err_set(err, -EINVAL, "image reference: empty");
	at = strchr(ref, '@');
	if (at) {
		rc = check_name(ref, (size_t)(at - ref), err);
		if (rc < 0)
			return rc;
		if (!forge_digest_is_valid(at + 1))
			return forge_err_set(
			    err, -EINVAL,
			    "image reference \"%s\": digest must be sha256: and 64 "
			    "lowercase hex digits",
			    ref);
		memcpy(out->name, ref, (size_t)(at - ref));
		memcpy(out->digest, at + 1, FORGE_DIGEST_MAX - 1);
		return 0;
	}
	colon = strrchr(ref, ':');
	slash = strrchr(ref, '/');
	if (!colon || (slash && slash > colon))
		return forge_err_set(err, -EINVAL,
				     "image reference \"%s\": expected NAME:TAG or NAME@sha256:HEX",
				     ref);
	rc = check_name(ref, (size_t)(colon - ref), err);
	if (rc == 0)
		rc = check_tag(colon + 1, err);
	if (rc < 0)
		return rc;
	memcpy(out->name, ref, (size_t)(colon - ref));
	snprintf(out->tag, sizeof(out->tag), "%s", colon + 1);
	return 0;
}
