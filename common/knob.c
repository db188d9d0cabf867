/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel knobs: small files under /proc, /sys and the cgroup mounts. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/common.h"

int forge_read_knob(int dirfd, const char *path, char **out, size_t *len, size_t max,
		    struct forge_err *err)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return forge_err_errno(err, errno, "read %s", path);
	char *buf = malloc(max + 1);
	if (!buf) {
		close(fd);
		return forge_err_set(err, -ENOMEM, "read %s: out of memory", path);
	}
	size_t used = 0;
	for (;;) {
		ssize_t n = read(fd, buf + used, max + 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			close(fd);
			return forge_err_errno(err, e, "read %s", path);
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max) {
			free(buf);
			close(fd);
			return forge_err_set(err, -EFBIG, "read %s: larger than %zu bytes", path,
					     max);
		}
	}
	close(fd);
	buf[used] = '\0';
	*out = buf;
	if (len)
		*len = used;
	return 0;
}
