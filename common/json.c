/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Canonical JSON: the byte string that gets hashed and, later, signed. Object
 * keys sorted bytewise (jansson ≥ 2.14 sorts with memcmp over the key bytes,
 * which tests/unit/test_common_json.c pins down), no whitespace, UTF-8 as is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

#define JSON_CANONICAL_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

static int json_canonical(const json_t *value, char **out, struct forge_err *err)
{
	*out = NULL;
	if (!value)
		return forge_err_set(err, -EINVAL, "canonical json: no value");
	*out = json_dumps(value, JSON_CANONICAL_FLAGS);
	if (!*out)
		return forge_err_set(err, -ENOMEM, "canonical json: encoding failed");
	return 0;
}

char *forge_json_canonical(const json_t *value, struct forge_err *err)
{
	char *text;

	json_canonical(value, &text, err);
	return text;
}

int forge_json_canonical_sha256(const json_t *value, char hex[65], struct forge_err *err)
{
	char *text;
	int rc = json_canonical(value, &text, err);

	if (rc < 0)
		return rc;
	forge_sha256_hex(text, strlen(text), hex);
	free(text);
	return 0;
}
