/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing of the values operators and templates give for a container spec. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/capability.h>

#include "runtime/internal.h"

int forge_cap_parse(const char *name, int *cap, struct forge_err *err)
{
	char buf[64];
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 40)
		return forge_err_set(err, -EINVAL, "unknown capability \"%s\"", name ? name : "");
	/* libcap knows "cap_net_raw"; accept NET_RAW and CAP_NET_RAW too. */
	const char *p = name;
	if (strncasecmp(p, "cap_", 4) == 0)
		p += 4;
	int len = snprintf(buf, sizeof(buf), "cap_%s", p);
	for (int i = 0; i < len; i++) {
		if (!isalnum((unsigned char)buf[i]) && buf[i] != '_')
			return forge_err_set(err, -EINVAL, "unknown capability \"%s\"", name);
		buf[i] = (char)tolower((unsigned char)buf[i]);
	}
	cap_value_t v;
	if (cap_from_name(buf, &v) < 0 || v < 0 || v >= cap_max_bits() || v > 63)
		return forge_err_set(err, -EINVAL, "unknown capability \"%s\"", name);
	*cap = (int)v;
	return 0;
}

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
