/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forge-init, the container's side of the launch: a small static program the
 * launcher execs (from a sealed memfd, runtime/init_image.S) right after its
 * clone into the new namespaces, which becomes the container's PID 1. It
 * holds nothing of the launcher's memory. It finishes the rootfs from inside
 * the new user and mount namespaces (only through file descriptors: every mount target is
 * opened with openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV) relative to a
 * mount it already holds), pivots into it, confines itself (capabilities,
 * no_new_privs, seccomp) and then runs as a small reaping init for the
 * command. See container.c for the launcher's side and the protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <net/if.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>

#include "runtime/internal.h"

/* Masked /proc entries (runc's defaults): files get /dev/null bound over
 * them, directories an empty read-only tmpfs. */
static const char *const proc_masked[] = {
    "acpi",	   "asound", "kcore",	      "keys", "latency_stats", "timer_list", "timer_stats",
    "sched_debug", "scsi",   "sysrq-trigger", NULL,
};
/* Read-only /proc entries. */
static const char *const proc_readonly[] = {"bus", "fs", "irq", "sys", NULL};
/* Host device nodes bound into the container's /dev (mknod is not possible
 * in a user namespace). */
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};
/* ================================================================= init side */

static int child_sock = -1;

static void child_fail(int e, const char *fmt, ...) FORGE_PRINTF(2, 3) __attribute__((noreturn));

/* Reports a setup failure to the launcher and ends init. */
static void child_fail(int e, const char *fmt, ...)
{
	char text[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	forge_sync_send(child_sock, MSG_ERROR, e, 0, -1, "%s: %s", text, strerror(e));
	_exit(125);
}

/* Opens name (one component) directly under dirfd, refusing symlinks and
 * mount crossings: the only way init looks up a mount target. */
static int open_target(int dirfd, const char *name, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(O_PATH | O_CLOEXEC | O_NOFOLLOW | flags),
	    .resolve =
		RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
}

/* New filesystem from fsopen/fsconfig/fsmount, attached on dirfd/name.
 * opts are "key=value" strings or bare flags. Returns the mount's fd. */
static int mount_new_fs(int dirfd, const char *name, const char *fstype, const char *const *opts,
			unsigned attrs)
{
	int fs = sys_fsopen(fstype, FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	for (const char *const *o = opts; o && *o; o++) {
		char key[64];
		const char *eq = strchr(*o, '=');
		int r;
		if (eq) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - *o), *o);
			r = sys_fsconfig(fs, FSCONFIG_SET_STRING, key, eq + 1, 0);
		} else {
			r = sys_fsconfig(fs, FSCONFIG_SET_FLAG, *o, NULL, 0);
		}
		if (r < 0) {
			int e = errno;
			close(fs);
			return -e;
		}
	}
	int m = -1, target = -1, rc = 0;
	if (sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
	    (m = sys_fsmount(fs, FSMOUNT_CLOEXEC, attrs)) < 0 ||
	    (target = open_target(dirfd, name, O_DIRECTORY)) < 0 ||
	    sys_move_mount(m, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
		0)
		rc = -errno;
	close(fs);
	if (target >= 0)
		close(target);
	if (rc < 0) {
		if (m >= 0)
			close(m);
		return rc;
	}
	return m;
}

/* Binds a clone of the host's src over dirfd/name (a file or directory). */
static int bind_host(const char *src, int dirfd, const char *name)
{
	int t = sys_open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (t < 0)
		return -errno;
	int target = open_target(dirfd, name, 0);
	int rc = 0;
	if (target < 0 || sys_move_mount(t, "", target, "",
					 MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		rc = -errno;
	if (target >= 0)
		close(target);
	close(t);
	return rc;
}

static void setup_proc(int rootfd)
{
	static const char *const no_opts[] = {NULL};
	int proc = mount_new_fs(rootfd, "proc", "proc", no_opts,
				MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (proc < 0)
		child_fail(-proc, "mount /proc");
	for (const char *const *p = proc_masked; *p; p++) {
		struct stat st;
		if (fstatat(proc, *p, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* not on this kernel */
		int rc;
		if (S_ISDIR(st.st_mode)) {
			static const char *const ro_opts[] = {"size=4096", "nr_inodes=2", NULL};
			rc = mount_new_fs(proc, *p, "tmpfs", ro_opts,
					  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					      MOUNT_ATTR_NOEXEC);
			if (rc >= 0)
				close(rc);
		} else {
			rc = bind_host("/dev/null", proc, *p);
		}
		if (rc < 0)
			child_fail(-rc, "mask /proc/%s", *p);
	}
	for (const char *const *p = proc_readonly; *p; p++) {
		int t = sys_open_tree(proc, *p, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (t < 0) {
			if (errno == ENOENT)
				continue;
			child_fail(errno, "clone /proc/%s", *p);
		}
		struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
						      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
		int target = open_target(proc, *p, 0);
		if (target < 0 || sys_mount_setattr(t, "", AT_EMPTY_PATH, &attr) < 0 ||
		    sys_move_mount(t, "", target, "",
				   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			child_fail(errno, "read-only /proc/%s", *p);
		close(target);
		close(t);
	}
	close(proc);
}

static void setup_dev(int rootfd, uint32_t id_count, uint64_t tmpfs_bytes)
{
	static const char *const dev_opts[] = {"mode=0755", "size=65536", "nr_inodes=64", NULL};
	int dev = mount_new_fs(rootfd, "dev", "tmpfs", dev_opts,
			       MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (dev < 0)
		child_fail(-dev, "mount /dev");
	for (const char *const *d = dev_nodes; *d; d++) {
		char src[32];
		snprintf(src, sizeof(src), "/dev/%s", *d);
		if (access(src, F_OK) < 0 && strcmp(*d, "tty") == 0)
			continue; /* a host without /dev/tty: the container goes without */
		int f = openat(dev, *d, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (f < 0)
			child_fail(errno, "create /dev/%s", *d);
		close(f);
		int rc = bind_host(src, dev, *d);
		if (rc < 0)
			child_fail(-rc, "bind /dev/%s", *d);
	}
	if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0)
		child_fail(errno, "mkdir in /dev");
	/* gid 5 is tty in Debian-style images; only when it is mapped. */
	const char *pts_opts[] = {"newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL};
	if (id_count <= 5)
		pts_opts[3] = NULL;
	int m = mount_new_fs(dev, "pts", "devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
	if (m < 0)
		child_fail(-m, "mount /dev/pts");
	close(m);
	char size[48];
	snprintf(size, sizeof(size), "size=%" PRIu64, tmpfs_bytes);
	const char *shm_opts[] = {"mode=1777", size, NULL};
	m = mount_new_fs(dev, "shm", "tmpfs", shm_opts,
			 MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (m < 0)
		child_fail(-m, "mount /dev/shm");
	close(m);
	static const char *const links[][2] = {
	    {"ptmx", "pts/ptmx"},	   {"fd", "/proc/self/fd"},
	    {"stdin", "/proc/self/fd/0"},  {"stdout", "/proc/self/fd/1"},
	    {"stderr", "/proc/self/fd/2"},
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlinkat(links[i][1], dev, links[i][0]) < 0)
			child_fail(errno, "symlink /dev/%s", links[i][0]);
	/* Nothing may be created in /dev later (the binds and the pts/shm mounts
	 * keep their own flags). */
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
	if (sys_mount_setattr(dev, "", AT_EMPTY_PATH, &ro) < 0)
		child_fail(errno, "read-only /dev");
	close(dev);
}

static void setup_tmpfs(int rootfd, const char *name, const char *mode, uint64_t bytes)
{
	char m[16], size[48];
	snprintf(m, sizeof(m), "mode=%s", mode);
	snprintf(size, sizeof(size), "size=%" PRIu64, bytes);
	const char *opts[] = {m, size, NULL};
	int fd = mount_new_fs(rootfd, name, "tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (fd < 0)
		child_fail(-fd, "mount /%s", name);
	close(fd);
}

/* A new network namespace starts with lo down; containers expect it up. */
static int loopback_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	int rc = 0;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		rc = -errno;
	else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			rc = -errno;
	}
	close(s);
	return rc;
}

enum { FD_SYNC_SOCK = 3, FD_BASE_DIR = 4, FD_LOG = 5 }; /* as the launch leaves them */

/* What the launcher sent (struct init_config), unpacked. */
struct init {
	const struct init_config *cfg;
	const char *cwd, *hostname;
	char **argv, **envp;
	struct forge_seccomp_prog prog;
};

/* Splits n NUL-terminated strings off [*p, end) into v (NULL-terminated). */
static bool take_strings(const char **p, const char *end, char **v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const char *nul = memchr(*p, '\0', (size_t)(end - *p));
		if (!nul)
			return false;
		v[i] = (char *)*p;
		*p = nul + 1;
	}
	v[n] = NULL;
	return true;
}

/* Reads and checks the launcher's first message. The launcher is trusted
 * (root, our parent), but a short or inconsistent message still ends init
 * with a clear report instead of reading past it. */
static void read_config(struct init *in)
{
	char *buf = malloc(FORGE_INIT_CONFIG_MAX);
	if (!buf)
		_exit(125);
	ssize_t n;
	do
		n = recv(child_sock, buf, FORGE_INIT_CONFIG_MAX, MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		_exit(125); /* the launcher gave up on us */
	const struct init_config *cfg = (const struct init_config *)buf;
	if ((size_t)n > FORGE_INIT_CONFIG_MAX || (size_t)n < sizeof(*cfg) ||
	    cfg->magic != FORGE_INIT_MAGIC)
		child_fail(EPROTO, "init: bad configuration message (%zd bytes)", n);
	size_t strings = cfg->strings_len, filter = (size_t)cfg->n_filter * sizeof(struct sock_filter);
	if (cfg->n_argv == 0 || cfg->n_argv > 65536 || cfg->n_envp > 65536 || cfg->n_filter == 0 ||
	    cfg->n_filter > 65535 || sizeof(*cfg) + strings + filter != (size_t)n)
		child_fail(EPROTO, "init: inconsistent configuration message");
	in->cfg = cfg;
	in->argv = calloc((size_t)cfg->n_argv + 1, sizeof(char *));
	in->envp = calloc((size_t)cfg->n_envp + 1, sizeof(char *));
	if (!in->argv || !in->envp)
		child_fail(ENOMEM, "init: configuration");
	const char *p = buf + sizeof(*cfg), *end = p + strings;
	char *head[3];
	if (!take_strings(&p, end, head, 2) || !take_strings(&p, end, in->argv, cfg->n_argv) ||
	    !take_strings(&p, end, in->envp, cfg->n_envp) || p != end)
		child_fail(EPROTO, "init: configuration strings do not match their counts");
	in->cwd = head[0];
	in->hostname = head[1];
	/* The filter follows the strings unaligned: copy it. */
	in->prog.len = (unsigned short)cfg->n_filter;
	in->prog.filter = malloc(filter);
	if (!in->prog.filter)
		child_fail(ENOMEM, "init: configuration");
	memcpy(in->prog.filter, end, filter);
}

/* The container's log: the command's stdout and stderr come through a pipe
 * that init copies into the log file the launcher opened (descriptor
 * FD_LOG), up to the limit; the rest is read and dropped. init does it, not
 * the launcher, so that the log outlives a restart of forged and a flood is
 * paid for by the container's own cgroup. */
struct log {
	int pipe; /* read end, non-blocking; -1 when closed or not logging */
	uint64_t written, limit;
};

static void log_drain(struct log *lg)
{
	char buf[16384];
	while (lg->pipe >= 0) {
		ssize_t n = read(lg->pipe, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return; /* EAGAIN: drained for now */
		if (n == 0) {
			close(lg->pipe);
			lg->pipe = -1;
			return;
		}
		uint64_t room = lg->written < lg->limit ? lg->limit - lg->written : 0;
		size_t keep = (uint64_t)n < room ? (size_t)n : (size_t)room;
		for (size_t off = 0; off < keep;) {
			ssize_t w = write(FD_LOG, buf + off, keep - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				lg->limit = lg->written; /* the log file failed: stop writing */
				break;
			}
			off += (size_t)w;
			lg->written += (uint64_t)w;
		}
	}
}

/* The command process: init's fork. Reports an exec failure through ep. */
static void __attribute__((noreturn)) run_command(const struct init *in, int ep, int logw)
{
	forge_reset_signals(); /* init blocked them all for its signalfd */
	close(child_sock);
	int32_t report[2] = {0, 0}; /* errno, and 1 when it was the exec that failed */
	if (logw >= 0 && (dup2(logw, 1) < 0 || dup2(logw, 2) < 0)) {
		report[0] = errno;
	} else if (setsid() < 0 || chdir(in->cwd) < 0) {
		report[0] = errno;
	} else {
		report[1] = 1;
		report[0] = forge_exec_search((const char *const *)in->argv, in->envp);
	}
	(void)!write(ep, report, sizeof(report));
	_exit(127);
}

/* PID 1: starts the command, forwards signals, reaps orphans, copies the
 * command's output to the log and reports the command's wait status; its
 * exit ends the pid namespace. */
static void __attribute__((noreturn)) run_init(const struct init *in)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC);
	int ep[2], lp[2] = {-1, -1};
	struct log lg = {.pipe = -1, .limit = in->cfg->log_limit};
	if (sfd < 0 || pipe2(ep, O_CLOEXEC) < 0)
		child_fail(errno, "init: signalfd/pipe");
	if (in->cfg->flags & INIT_LOG) {
		struct stat st;
		if (pipe2(lp, O_CLOEXEC) < 0 || fstat(FD_LOG, &st) < 0)
			child_fail(errno, "init: log");
		lg.pipe = lp[0];
		lg.written = (uint64_t)st.st_size; /* the bound covers the whole file */
		fcntl(lg.pipe, F_SETFL, O_NONBLOCK);
	}
	pid_t cmd = fork();
	if (cmd < 0)
		child_fail(errno, "init: fork");
	if (cmd == 0)
		run_command(in, ep[1], lp[1]);
	close(ep[1]);
	if (lp[1] >= 0)
		close(lp[1]);
	int32_t report[2];
	ssize_t n = read(ep[0], report, sizeof(report));
	close(ep[0]);
	if (n == (ssize_t)sizeof(report)) {
		const char *what = report[1] ? "exec" : "chdir";
		const char *arg = report[1] ? in->argv[0] : in->cwd;
		forge_sync_send(child_sock, MSG_EXEC_FAILED, report[0], 0, -1, "%s \"%s\": %s",
				what, arg, strerror(report[0]));
		waitpid(cmd, NULL, 0);
		_exit(report[0] == ENOENT ? 127 : 126);
	}
	forge_sync_send(child_sock, MSG_READY, 0, 0, -1, NULL);

	for (;;) {
		struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN},
				       {.fd = lg.pipe, .events = POLLIN}};
		if (poll(pf, lg.pipe >= 0 ? 2 : 1, -1) < 0)
			continue;
		if (pf[1].revents)
			log_drain(&lg);
		if (!(pf[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			kill(cmd, (int)si.ssi_signo);
			continue;
		}
		int ws;
		pid_t p;
		while ((p = waitpid(-1, &ws, WNOHANG)) > 0) {
			if (p != cmd)
				continue; /* an orphan: reaped, nothing to report */
			log_drain(&lg); /* what the command printed last */
			forge_sync_send(child_sock, MSG_EXIT, 0, ws, -1, NULL);
			_exit(WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws));
		}
	}
}

/* forge-init: exec'd by the launcher right after its clone into the new
 * namespaces, with the sync socket on descriptor 3 and stdio on 0-2. */
int main(void)
{
	struct init in = {0};
	struct sync_msg m;
	int rootfd, rc;

	/* First: no one in the container's user namespace may inspect or
	 * ptrace init while it still holds the namespaces' full capabilities. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NAME, "forge-init", 0, 0, 0);
	child_sock = FD_SYNC_SOCK;
	if (fcntl(child_sock, F_SETFD, FD_CLOEXEC) < 0 || fcntl(FD_BASE_DIR, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(FD_LOG, F_SETFD, FD_CLOEXEC) < 0)
		_exit(125);
	forge_reset_signals();
	read_config(&in);
	const struct init_config *cfg = in.cfg;
	if (!(cfg->flags & INIT_LOG))
		close(FD_LOG);

	ssize_t n = forge_sync_recv(child_sock, &m, &rootfd, 0);
	if (n <= 0 || m.type != MSG_GO || rootfd < 0)
		_exit(125); /* the launcher gave up on us */

	/* After the id change (the launch made it, before exec: it clears the
	 * parent-death signal); then make sure the launcher did not die before
	 * it was set: its end of the socket would be closed. (getppid() cannot
	 * tell: the launcher is outside our pid namespace, so it reads 0.) */
	if (cfg->flags & INIT_DIE_WITH_PARENT) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		struct pollfd pf = {.fd = child_sock, .events = POLLRDHUP};
		if (poll(&pf, 1, 0) != 0)
			_exit(125);
	}
	/* The launcher moved us into the container's cgroup before GO: the
	 * cgroup namespace's root is that cgroup. */
	if (unshare(CLONE_NEWCGROUP) < 0)
		child_fail(errno, "cgroup namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(errno, "make mounts private");
	/* The rootfs goes on top of the base layer's directory: it exists, it is
	 * Forge's own (not the container's), and in this mount namespace nobody
	 * else sees it. The launch opened it here, in this mount namespace, while
	 * it still had the launcher's ids (its parents may be private). */
	if (sys_move_mount(rootfd, "", FD_BASE_DIR, "",
			   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		child_fail(errno, "attach rootfs");
	close(FD_BASE_DIR);

	/* /proc first: the kernel lets a user namespace mount procfs only while
	 * a fully visible procfs exists in its mount namespace (the host's, until
	 * pivot_root detaches it). */
	setup_proc(rootfd);
	setup_dev(rootfd, cfg->id_count, cfg->tmpfs_bytes);
	setup_tmpfs(rootfd, "tmp", "1777", cfg->tmpfs_bytes);
	setup_tmpfs(rootfd, "run", "0755", cfg->tmpfs_bytes);

	if (fchdir(rootfd) < 0 || sys_pivot_root(".", ".") < 0)
		child_fail(errno, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		child_fail(errno, "detach the old root");
	if (chdir("/") < 0)
		child_fail(errno, "chdir /");
	close(rootfd);

	if ((cfg->flags & INIT_NEW_NETNS) && (rc = loopback_up()) < 0)
		child_fail(-rc, "bring lo up");
	if (sethostname(in.hostname, strlen(in.hostname)) < 0)
		child_fail(errno, "sethostname");

	const char *what = "";
	rc = forge_confine_self(cfg->caps, &in.prog, &what);
	if (rc < 0)
		child_fail(-rc, "%s", what);
	/* The launcher wires the network while we set up; the command waits. */
	n = forge_sync_recv(child_sock, &m, NULL, 0);
	if (n <= 0 || m.type != MSG_START)
		_exit(125); /* the launcher gave up on us */
	run_init(&in);
}
