/* SPDX-License-Identifier: Apache-2.0 */
/* Capability names as operators and templates write them (libcap's table). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sys/capability.h>

#include "common/common.h"

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
