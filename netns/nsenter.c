/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entering a network namespace for a moment. A netlink socket stays bound to
 * the namespace of the thread that created it, and /proc/sys/net acts on the
 * writer's: so the calling thread enters a namespace only for those, and
 * comes straight back. If it cannot come back the process aborts, since
 * everything it did next would act on a container.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netns/internal.h"

int forge_netns_enter(int ns_fd, int *own, const char *what, struct forge_err *err)
{
	*own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*own < 0)
		return forge_err_errno(err, errno, "netns: open /proc/thread-self/ns/net");
	if (setns(ns_fd, CLONE_NEWNET) < 0) {
		int e = errno;
		close(*own);
		return forge_err_errno(err, e, "netns: enter %s", what);
	}
	return 0;
}

void forge_netns_return(int own)
{
	if (setns(own, CLONE_NEWNET) < 0)
		abort();
	close(own);
}

bool forge_netns_same(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

bool forge_netns_is_own(int fd)
{
	int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	bool same = own >= 0 && forge_netns_same(fd, own);

	if (own >= 0)
		close(own);
	return same;
}
