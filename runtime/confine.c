/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What both sides of a launch share, and every process that enters a
 * container: the launcher ⇄ init messages, descriptor shuffling, the PATH
 * search and self-confinement (capabilities, no_new_privs, seccomp).
 *
 * Linked into libforge-runtime and, on its own, into the static forge-init
 * (runtime/init.c): libc only, no allocation after a clone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <linux/capability.h>
#include <linux/seccomp.h>

#include "runtime/internal.h"

/* ================================================================= sync */

ssize_t forge_send_fd(int sock, const void *buf, size_t len, int fd)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t forge_recv_fd(int sock, void *buf, size_t len, int *fd, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	if (fd)
		*fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int got;
			memcpy(&got, CMSG_DATA(cm), sizeof(int));
			if (fd && *fd < 0)
				*fd = got;
			else
				close(got);
		}
	}
	return (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? -EPROTO : n;
}

int forge_sync_send(int sock, uint32_t type, int e, int wstatus, int fd, const char *fmt, ...)
{
	struct sync_msg m = {.type = type, .err = e, .wstatus = wstatus};
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(m.text, sizeof(m.text), fmt, ap);
		va_end(ap);
	}
	ssize_t n = forge_send_fd(sock, &m, sizeof(m), fd);
	return n == (ssize_t)sizeof(m) ? 0 : (n < 0 ? (int)n : -EPROTO);
}

/* Receives one message; *fd gets a passed descriptor or -1. 0 at EOF. */
ssize_t forge_sync_recv(int sock, struct sync_msg *m, int *fd, int flags)
{
	ssize_t n = forge_recv_fd(sock, m, sizeof(*m), fd, flags);
	if (n <= 0)
		return n;
	if (n != (ssize_t)sizeof(*m))
		return -EPROTO;
	m->text[sizeof(m->text) - 1] = '\0';
	return n;
}

/* ================================================================= processes */

int forge_fds_arrange(const int *fds, int n, int first_cloexec)
{
	int tmp[8];
	if (n > 8)
		return -EINVAL;
	/* Copies above every target first, so no dup2 overwrites a source. */
	for (int i = 0; i < n; i++) {
		tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);
		if (tmp[i] < 0)
			return -errno;
	}
	for (int i = 0; i < n; i++)
		if (dup3(tmp[i], i, i >= first_cloexec ? O_CLOEXEC : 0) < 0)
			return -errno;
	syscall(SYS_close_range, (unsigned)n, ~0U, 0U);
	return 0;
}

int forge_exec_search(const char *const *argv, char *const *envp)
{
	const char *cmd = argv[0];
	if (strchr(cmd, '/')) {
		execve(cmd, (char *const *)argv, envp);
		return errno;
	}
	const char *path = FORGE_DEFAULT_PATH;
	for (char *const *e = envp; e && *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	int saved = ENOENT;
	char buf[FORGE_PATH_MAX];
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);
		if (dlen == 0)
			snprintf(buf, sizeof(buf), "%s", cmd);
		else
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)dlen, p, cmd);
		execve(buf, (char *const *)argv, envp);
		if (errno == EACCES || (errno != ENOENT && errno != ENOTDIR))
			saved = errno;
		if (!*end)
			break;
		p = end;
	}
	return saved;
}

int forge_confine_self(uint64_t caps, const struct forge_seccomp_prog *prog, const char **what)
{
	/* Bounding set: every capability not granted; EINVAL past the kernel's last. */
	for (int cap = 0; cap < 64; cap++) {
		if (caps & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			*what = "drop bounding capabilities";
			return -errno;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		*what = "clear ambient capabilities";
		return -errno;
	}
	/* Permitted and effective: the grant; inheritable: nothing. */
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {
	    {.effective = (uint32_t)caps, .permitted = (uint32_t)caps},
	    {.effective = (uint32_t)(caps >> 32), .permitted = (uint32_t)(caps >> 32)},
	};
	if (syscall(SYS_capset, &hdr, data) < 0) {
		*what = "set capabilities";
		return -errno;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*what = "no_new_privs";
		return -errno;
	}
	int rc = forge_seccomp_install(prog);
	if (rc < 0) {
		*what = "seccomp";
		return rc;
	}
	return 0;
}

int forge_seccomp_install(const struct forge_seccomp_prog *prog)
{
	if (!prog || !prog->filter || prog->len == 0)
		return -EINVAL;
	struct sock_fprog fprog = {.len = prog->len, .filter = prog->filter};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
		return -errno;
	return 0;
}

void forge_reset_signals(void)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* EINVAL for KILL/STOP and RT gaps */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

