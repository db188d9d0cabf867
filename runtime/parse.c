/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing of the values operators and templates give for a container spec. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"

int forge_parse_bytes(const char *s, uint64_t *out, struct forge_err *err)
{
	char *end = NULL;
	if (!s || !*s || !isdigit((unsigned char)*s))
		return forge_err_set(err, -EINVAL, "invalid size \"%s\"", s ? s : "");
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return forge_err_set(err, -ERANGE, "size \"%s\" is out of range", s);
	unsigned shift = 0;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return forge_err_set(err, -EINVAL, "invalid size \"%s\" (use bytes or K, M, G, T)",
				     s);
	}
	if (*end && end[1] &&
	    !((end[1] == 'i' || end[1] == 'B') &&
	      (end[2] == '\0' || (end[1] == 'i' && end[2] == 'B' && !end[3]))))
		return forge_err_set(err, -EINVAL, "invalid size \"%s\" (use bytes or K, M, G, T)",
				     s);
	if (v == 0)
		return forge_err_set(err, -EINVAL, "size \"%s\" must be greater than 0", s);
	if (shift && v > (UINT64_MAX >> shift))
		return forge_err_set(err, -ERANGE, "size \"%s\" is out of range", s);
	*out = (uint64_t)v << shift;
	return 0;
}
