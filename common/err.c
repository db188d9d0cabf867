/* SPDX-License-Identifier: Apache-2.0 */
/* struct forge_err: a negative errno plus a message naming what failed (DESIGN §7). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

void forge_err_clear(struct forge_err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

static FORGE_PRINTF(3, 0) void err_vformat(struct forge_err *err, int code, const char *fmt,
					   va_list ap)
{
	err->code = code;
	/* A truncated message still names the failing thing at its start. */
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

/* Appends s at msg + used, truncating to the message size; returns the new length. */
static size_t err_append(char msg[FORGE_ERR_MSG_MAX], size_t used, const char *s)
{
	size_t n = strnlen(s, FORGE_ERR_MSG_MAX - 1 - used);

	memcpy(msg + used, s, n);
	msg[used + n] = '\0';
	return used + n;
}

int forge_err_set(struct forge_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	err_vformat(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int forge_err_errno(struct forge_err *err, int errnum, const char *fmt, ...)
{
	char desc[128];
	size_t used;
	va_list ap;

	/* Accept both errno and -errno; 0 means the caller lost errno on the way,
	 * which must still come back as a failure, never as success. */
	if (errnum < 0)
		errnum = -errnum;
	if (errnum == 0)
		errnum = EIO;
	if (!err)
		return -errnum;
	va_start(ap, fmt);
	err_vformat(err, -errnum, fmt, ap);
	va_end(ap);
	used = err_append(err->msg, strlen(err->msg), ": ");
	err_append(err->msg, used, strerror_r(errnum, desc, sizeof(desc)));
	return -errnum;
}

void forge_err_prefix(struct forge_err *err, const char *fmt, ...)
{
	char old[FORGE_ERR_MSG_MAX];
	size_t used;
	va_list ap;

	if (!err)
		return;
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	used = err_append(err->msg, strlen(err->msg), ": ");
	err_append(err->msg, used, old);
}
