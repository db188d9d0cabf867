/* SPDX-License-Identifier: Apache-2.0 */
/* forge.conf, the one configuration file forged and forge-api share. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int forge_conf_parse_file(const char *path, bool must_exist, forge_conf_fn fn, void *ctx,
			  struct forge_err *err)
{
	char where[FORGE_PATH_MAX + 32], *buf = NULL, *cur, *l;
	int rc, line = 0;

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT && !must_exist ? 0
						      : forge_err_errno(err, errno, "config %s", path);
	rc = forge_read_fd(fd, path, &buf, NULL, FORGE_CONF_MAX, err);
	close(fd);
	if (rc < 0)
		return rc;
	for (cur = buf; rc == 0 && (l = strsep(&cur, "\n"));) {
		line++;
		char *s = trim(l), *eq = strchr(s, '=');
		if (!*s || *s == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%d", path, line);
		if (!eq) {
			rc = forge_err_set(err, -EINVAL, "%s: expected key = value", where);
			break;
		}
		*eq = '\0';
		rc = fn(ctx, trim(s), trim(eq + 1), where, err);
	}
	free(buf);
	return rc;
}
