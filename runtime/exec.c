/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exec into a running container.
 *
 *   launcher ── fork ──▶ helper: joins the container's cgroup, then all its
 *                        namespaces at once (setns on init's pidfd), becomes
 *                        container root, and clones the command with
 *                        CLONE_PARENT so that the launcher is its parent
 *                        (it can wait for it and kill it; the helper exits).
 *   command: new session, stdio = launcher's pipes, same capabilities,
 *            no_new_privs and seccomp as the container, execve.
 *   tty mode: the helper opens a new pty in the container's own devpts (so
 *            the command's terminal is /dev/pts/N inside, not a host pty),
 *            gives the command its slave as stdio and controlling terminal,
 *            and passes the master back to the launcher (SCM_RIGHTS).
 *
 * The launcher reads both pipes up to output_limit each (the rest is read and
 * dropped), and kills the command's process group at the timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/openat2.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "runtime/internal.h"

#define EXEC_OUTPUT_MAX (64u << 20)
#define KILL_DRAIN_MS	200

/* Where the command's own set-up failed, reported through the exec pipe. */
enum exec_stage { EXEC_STAGE_SETSID, EXEC_STAGE_CHDIR, EXEC_STAGE_CONFINE, EXEC_STAGE_EXEC };

struct helper_report {
	int32_t pid; /* the command's host pid, or 0 */
	int32_t err; /* positive errno when the helper failed */
	char text[200];
};

struct capture {
	int fd;
	char *buf;
	size_t len, limit;
	bool truncated;
};

static void helper_fail(int ctl, int e, const char *what)
{
	struct helper_report r = {.err = e};
	snprintf(r.text, sizeof(r.text), "exec: %s: %s", what, strerror(e));
	(void)!write(ctl, &r, sizeof(r));
	_exit(125);
}

/* In the container's namespaces, as its root: a new pty of the container's
 * devpts instance (the one init mounted on /dev/pts). The path is resolved
 * in the container's root without following symlinks, and what it opens
 * must be a ptmx device. Returns the master; *slave gets the peer. */
static int open_container_pty(int *slave)
{
	struct open_how how = {.flags = O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
					  RESOLVE_NO_MAGICLINKS};
	int m = (int)syscall(SYS_openat2, AT_FDCWD, "/dev/pts/ptmx", &how, sizeof(how));
	if (m < 0)
		return -errno;
	struct stat st;
	int unlock = 0, e = 0;
	if (fstat(m, &st) < 0)
		e = errno;
	else if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
		e = ENOTTY;
	else if (ioctl(m, TIOCSPTLCK, &unlock) < 0 ||
		 (*slave = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		e = errno;
	if (e) {
		close(m);
		return -e;
	}
	int fl = fcntl(m, F_GETFL);
	if (fl >= 0)
		fcntl(m, F_SETFL, fl & ~O_NONBLOCK);
	return m;
}

static void __attribute__((noreturn))
run_exec_command(const struct forge_container *c, const struct forge_exec_spec *spec,
		 const struct forge_seccomp_prog *prog, char *const *envp, int fds[3], int ep)
{
	forge_reset_signals();
	int all[4] = {fds[0], fds[1], fds[2], ep};
	if (forge_fds_arrange(all, 4, 3) < 0)
		_exit(125);
	ep = 3;
	const char *what;
	int32_t report[2] = {0, EXEC_STAGE_SETSID}; /* errno, stage */
	if (setsid() < 0)
		goto failed;
	/* interactive: the pty becomes the new session's controlling terminal */
	if (spec->tty && ioctl(0, TIOCSCTTY, 0) < 0)
		goto failed;
	report[1] = EXEC_STAGE_CHDIR;
	if (chdir(spec->cwd ? spec->cwd : "/") < 0)
		goto failed;
	report[1] = EXEC_STAGE_CONFINE;
	int rc = forge_confine_self(c->caps, prog, &what);
	if (rc < 0) {
		errno = -rc;
		goto failed;
	}
	report[1] = EXEC_STAGE_EXEC;
	errno = forge_exec_search(spec->argv, envp);
failed:
	report[0] = errno;
	(void)!write(ep, report, sizeof(report));
	_exit(127);
}

/* The helper: runs in a fork of the launcher, never returns. */
static void __attribute__((noreturn))
run_helper(struct forge_container *c, const struct forge_exec_spec *spec,
	   const struct forge_seccomp_prog *prog, char *const *envp, int fds[3], int ep, int ctl)
{
	struct forge_err err;
	if (forge_cgroup_attach(&c->cg, getpid(), &err) < 0)
		helper_fail(ctl, -err.code, "join cgroup");
	if (setns(c->pidfd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
				CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP) < 0)
		helper_fail(ctl, errno, "join namespaces");
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
		helper_fail(ctl, errno, "become container root");
	int master = -1;
	if (spec->tty) {
		int slave = -1;
		master = open_container_pty(&slave);
		if (master < 0)
			helper_fail(ctl, -master, "open a pty in the container");
		fds[0] = fds[1] = fds[2] = slave;
	}
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid < 0)
		helper_fail(ctl, errno, "clone");
	if (pid == 0) {
		close(ctl);
		if (master >= 0)
			close(master);
		run_exec_command(c, spec, prog, envp, fds, ep);
	}
	struct helper_report r = {.pid = pid};
	(void)forge_send_fd(ctl, &r, sizeof(r), master); /* with the pty master in tty mode */
	_exit(0);
}

static int capture_read(struct capture *cap)
{
	char buf[65536];
	ssize_t n = read(cap->fd, buf, sizeof(buf));
	if (n < 0)
		return (errno == EINTR || errno == EAGAIN) ? 1 : -errno;
	if (n == 0)
		return 0;
	size_t room = cap->limit - cap->len;
	size_t take = (size_t)n < room ? (size_t)n : room;
	memcpy(cap->buf + cap->len, buf, take);
	cap->len += take;
	if (take < (size_t)n)
		cap->truncated = true;
	return 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads both pipes until they close and the command exits, killing its
 * process group at the deadline. */
static int pump(struct capture cap[2], int pidfd, pid_t pid, int timeout_ms,
		struct forge_exec_result *res)
{
	int64_t deadline = now_ms() + timeout_ms;
	bool exited = false, killed = false;

	while (cap[0].fd >= 0 || cap[1].fd >= 0 || !exited) {
		struct pollfd pf[3];
		int n = 0, idx[3];
		for (int i = 0; i < 2; i++)
			if (cap[i].fd >= 0) {
				pf[n] = (struct pollfd){.fd = cap[i].fd, .events = POLLIN};
				idx[n++] = i;
			}
		if (!exited) {
			pf[n] = (struct pollfd){.fd = pidfd, .events = POLLIN};
			idx[n++] = 2;
		}
		int64_t left = deadline - now_ms();
		if (left < 0)
			left = 0;
		int r = poll(pf, (nfds_t)n, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0) {
			if (killed || exited)
				break; /* a descendant holds the pipes open: give up on them */
			kill(-pid, SIGKILL);
			sys_pidfd_send_signal(pidfd, SIGKILL);
			res->timed_out = killed = true;
			deadline = now_ms() + KILL_DRAIN_MS;
			continue;
		}
		for (int i = 0; i < n && r > 0; i++) {
			if (!pf[i].revents)
				continue;
			if (idx[i] == 2) {
				/* Background children may keep the pipes open: read
				 * what they write for a moment, not until the timeout. */
				exited = true;
				if (!killed && deadline > now_ms() + KILL_DRAIN_MS)
					deadline = now_ms() + KILL_DRAIN_MS;
				continue;
			}
			struct capture *cp = &cap[idx[i]];
			int rc = capture_read(cp);
			if (rc <= 0) {
				close(cp->fd);
				cp->fd = -1;
			}
		}
	}
	siginfo_t si = {0};
	if (!exited) {
		kill(-pid, SIGKILL);
		sys_pidfd_send_signal(pidfd, SIGKILL);
	}
	if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0)
		return -errno;
	/* Whatever the command left behind in its group goes with it. */
	kill(-pid, SIGKILL);
	res->exited = si.si_code == CLD_EXITED;
	res->code = res->exited ? si.si_status : 0;
	res->signal = res->exited ? 0 : si.si_status;
	return 0;
}

static int validate_exec(const struct forge_exec_spec *spec, struct forge_err *err)
{
	if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
		return forge_err_set(err, -EINVAL, "exec: no command given");
	if (spec->timeout_ms <= 0)
		return forge_err_set(err, -EINVAL, "exec: timeout must be positive");
	if (spec->output_limit == 0 || spec->output_limit > EXEC_OUTPUT_MAX)
		return forge_err_set(err, -EINVAL, "exec: output limit must be 1..%u bytes",
				     EXEC_OUTPUT_MAX);
	if (spec->cwd && spec->cwd[0] != '/')
		return forge_err_set(err, -EINVAL, "exec: working dir \"%s\" is not absolute",
				     spec->cwd);
	if (spec->tty && (spec->stdin_fd >= 0 || !spec->tty_master))
		return forge_err_set(err, -EINVAL,
				     "exec: tty mode takes no stdin_fd and needs a tty_master callback");
	for (const char *const *e = spec->envp; e && *e; e++)
		if (!strchr(*e, '=') || **e == '=')
			return forge_err_set(err, -EINVAL,
					     "exec: environment entry \"%s\" is not KEY=VALUE", *e);
	return 0;
}

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0) {
			close(p[i]);
			p[i] = -1;
		}
}

int forge_container_exec(struct forge_container *c, const struct forge_exec_spec *spec,
			 struct forge_exec_result *res, struct forge_err *err)
{
	static const char *const fixed_env[] = {"PATH=" FORGE_DEFAULT_PATH, "HOME=/root", NULL};
	const struct forge_seccomp_prog *prog = NULL;
	int out[2] = {-1, -1}, errp[2] = {-1, -1}, ep[2] = {-1, -1}, ctl[2] = {-1, -1};
	int null = -1, pidfd = -1, master = -1, rc;
	pid_t helper = -1;

	memset(res, 0, sizeof(*res));
	rc = validate_exec(spec, err);
	if (rc < 0)
		return rc;
	if (c->reaped || c->have_status)
		return forge_err_set(err, -ESRCH, "exec: container %s is not running", c->name);
	rc = forge_runtime_seccomp(c->rt, c->seccomp_mode, &prog, err);
	if (rc < 0)
		return rc;
	res->out = calloc(1, spec->output_limit + 1);
	res->err = calloc(1, spec->output_limit + 1);
	if (!res->out || !res->err) {
		rc = forge_err_set(err, -ENOMEM, "exec: out of memory");
		goto done;
	}
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(ep, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		rc = forge_err_errno(err, errno, "exec: pipes");
		goto done;
	}
	int fds[3] = {spec->stdin_fd >= 0 ? spec->stdin_fd : null, out[1], errp[1]};
	char *const *envp = (char *const *)(spec->envp ? spec->envp : fixed_env);
	helper = fork();
	if (helper < 0) {
		rc = forge_err_errno(err, errno, "exec: fork");
		goto done;
	}
	if (helper == 0)
		run_helper(c, spec, prog, envp, fds, ep[1], ctl[1]);
	close(out[1]);
	close(errp[1]);
	close(ep[1]);
	close(ctl[1]);
	out[1] = errp[1] = ep[1] = ctl[1] = -1;

	struct helper_report hr = {0};
	ssize_t n = forge_recv_fd(ctl[0], &hr, sizeof(hr), &master, 0);
	waitpid(helper, NULL, 0);
	if (n != (ssize_t)sizeof(hr) || hr.err || hr.pid <= 0 || (spec->tty && master < 0)) {
		hr.text[sizeof(hr.text) - 1] = '\0';
		rc = forge_err_set(err, -(hr.err ? hr.err : EIO), "container %s: %s", c->name,
				   hr.err ? hr.text : "exec: helper died");
		goto done;
	}
	pidfd = sys_pidfd_open(hr.pid, 0);
	if (pidfd < 0) {
		rc = forge_err_errno(err, errno, "exec: pidfd_open %d", hr.pid);
		kill(hr.pid, SIGKILL);
		waitpid(hr.pid, NULL, 0);
		goto done;
	}
	if (spec->tty)
		spec->tty_master(spec->tty_ctx, master);
	struct capture cap[2] = {
	    {.fd = out[0], .buf = res->out, .limit = spec->output_limit},
	    {.fd = errp[0], .buf = res->err, .limit = spec->output_limit},
	};
	out[0] = errp[0] = -1;
	rc = pump(cap, pidfd, hr.pid, spec->timeout_ms, res);
	for (int i = 0; i < 2; i++)
		if (cap[i].fd >= 0)
			close(cap[i].fd);
	res->out_len = cap[0].len;
	res->out_truncated = cap[0].truncated;
	res->err_len = cap[1].len;
	res->err_truncated = cap[1].truncated;
	if (rc < 0) {
		rc = forge_err_errno(err, -rc, "exec: wait");
		goto done;
	}
	int32_t report[2];
	if (read(ep[0], report, sizeof(report)) == (ssize_t)sizeof(report)) {
		/* Like a shell: the failure is the command's result, not ours. */
		static const char *const stage[] = {"setsid", "chdir", "confine", "exec"};
		const char *arg =
		    report[1] == EXEC_STAGE_CHDIR ? (spec->cwd ? spec->cwd : "/") : spec->argv[0];
		int len = snprintf(res->err, spec->output_limit + 1, "forge: %s \"%s\": %s\n",
				   stage[report[1] & 3], arg, strerror(report[0]));
		res->err_len = (size_t)len < spec->output_limit ? (size_t)len : spec->output_limit;
		res->exited = true;
		res->code = report[0] == ENOENT ? 127 : 126;
	}
	rc = 0;
done:
	if (null >= 0)
		close(null);
	if (pidfd >= 0)
		close(pidfd);
	if (master >= 0)
		close(master);
	close_pair(out);
	close_pair(errp);
	close_pair(ep);
	close_pair(ctl);
	if (rc < 0)
		forge_exec_result_free(res);
	return rc;
}

void forge_exec_result_free(struct forge_exec_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
	res->out_len = res->err_len = 0;
}
