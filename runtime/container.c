/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container launcher: the launcher (root, initial namespaces) and the
 * container's init (its clone, inside the new namespaces) talk over a
 * SOCK_SEQPACKET pair:
 *
 *   launcher                               clone (new user/mnt/pid/uts/ipc/net ns)
 *   state dir, cgroup, clone(CLONE_VM) ───▶  waits on a pipe
 *   uid/gid maps, cgroup attach, release ─▶  opens the base layer, becomes the
 *                                          container's root, execs forge-init
 *   CONFIG (argv, env, caps, seccomp) ──▶  init reads it, waits for GO
 *   rootfs: idmapped lower layers + overlay, a detached mount
 *   GO + rootfs fd (SCM_RIGHTS) ───────▶   attach rootfs, /proc (masked), /dev,
 *   network prestart hook (meanwhile)      cgroup ns, /tmp, /run, pivot_root, hostname,
 *                                          caps, no_new_privs, seccomp; waits
 *   START ─────────────────────────────▶   fork+exec the command
 *                               ◀───────   READY | EXEC_FAILED | ERROR
 *                               ◀───────   EXIT (the command's wait status)
 *
 * The clone shares the launcher's memory (on a stack of its own, making raw
 * system calls only) until it execs forge-init, a small static program
 * embedded in the runtime (runtime/init.c). So a launch copies no page
 * tables and leaves the launcher no copy-on-write faults to take, and the
 * container's PID 1 holds nothing of the launcher's memory (keys, secrets).
 *
 * The launcher never resolves a path inside the rootfs. init resolves mount
 * targets only with openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV) relative
 * to the rootfs mount, whose mount-point directories come from Forge's own
 * upper layer, so an image whose /dev or /proc is a symlink cannot redirect
 * a mount anywhere.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <net/if.h>
#include <linux/nsfs.h>
#include <linux/openat2.h>

#include <sys/capability.h>

#include "runtime/internal.h"

#define START_TIMEOUT_MS 10000
#define MIN_MEMORY_BYTES (1ULL << 20)
#define MIN_TMPFS_BYTES	 (1ULL << 20)
#define MIN_CPU_QUOTA_US 1000

/* The mount points the base layer provides over whatever the image has. */
static const char *const base_dirs[] = {"proc", "dev", "tmp", "run", "sys", NULL};

/* ================================================================= spec */

void forge_container_spec_init(struct forge_container_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->limits.memory_bytes = FORGE_LIMIT_NONE;
	spec->limits.pids = FORGE_LIMIT_NONE;
	spec->limits.cpu_quota_us = FORGE_LIMIT_NONE;
	spec->limits.cpu_period_us = FORGE_CPU_PERIOD_US;
	spec->id_count = 65536;
	spec->netns_fd = -1;
	spec->stdio[0] = spec->stdio[1] = spec->stdio[2] = -1;
	spec->log_fd = -1;
	spec->tmpfs_bytes = 64ULL << 20;
	spec->seccomp_mode = FORGE_SECCOMP_ENFORCE;
}

static bool name_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			  (i > 0 && (ch == '-' || ch == '_' || ch == '.'));
		if (!ok)
			return false;
	}
	return true;
}

static bool hostname_is_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

static int validate_limits(const struct forge_limits *l, struct forge_err *err)
{
	if (l->memory_bytes != FORGE_LIMIT_NONE && l->memory_bytes < MIN_MEMORY_BYTES)
		return forge_err_set(err, -EINVAL,
				     "spec: memory limit %" PRIu64
				     " bytes is below the minimum of 1 MiB",
				     l->memory_bytes);
	if (l->pids == 0)
		return forge_err_set(err, -EINVAL, "spec: pids limit must be at least 1");
	if (l->cpu_quota_us != FORGE_LIMIT_NONE) {
		if (l->cpu_quota_us < MIN_CPU_QUOTA_US)
			return forge_err_set(err, -EINVAL,
					     "spec: cpu quota %" PRIu64
					     "us is below the kernel's minimum of 1000us",
					     l->cpu_quota_us);
		if (l->cpu_period_us < 1000 || l->cpu_period_us > 1000000)
			return forge_err_set(
			    err, -EINVAL, "spec: cpu period %" PRIu64 "us is outside 1000..1000000",
			    l->cpu_period_us);
	}
	return 0;
}

int forge_container_spec_validate(const struct forge_container_spec *spec, struct forge_err *err)
{
	struct stat st;
	int rc;

	if (!name_is_valid(spec->name))
		return forge_err_set(
		    err, -EINVAL,
		    "spec: container name \"%s\" must match [a-z0-9][a-z0-9_.-]{0,62}",
		    spec->name ? spec->name : "");
	if (spec->n_lowerdirs == 0 || !spec->lowerdirs)
		return forge_err_set(err, -EINVAL, "spec: no rootfs given");
	if (spec->n_lowerdirs > 32)
		return forge_err_set(err, -E2BIG, "spec: %zu rootfs layers (at most 32)",
				     spec->n_lowerdirs);
	for (size_t i = 0; i < spec->n_lowerdirs; i++) {
		const char *d = spec->lowerdirs[i];
		if (!d || !*d)
			return forge_err_set(err, -EINVAL, "spec: empty rootfs path");
		if (stat(d, &st) < 0)
			return forge_err_errno(err, errno, "rootfs %s", d);
		if (!S_ISDIR(st.st_mode))
			return forge_err_errno(err, ENOTDIR, "rootfs %s", d);
	}
	if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
		return forge_err_set(err, -EINVAL, "spec: no command given");
	for (const char *const *e = spec->envp; e && *e; e++)
		if (!strchr(*e, '=') || **e == '=')
			return forge_err_set(err, -EINVAL,
					     "spec: environment entry \"%s\" is not KEY=VALUE", *e);
	if (spec->cwd && spec->cwd[0] != '/')
		return forge_err_set(err, -EINVAL, "spec: working dir \"%s\" is not absolute",
				     spec->cwd);
	size_t strings = (spec->cwd ? strlen(spec->cwd) : 1) + 1 +
			 strlen(spec->hostname ? spec->hostname : spec->name) + 1 +
			 sizeof("PATH=" FORGE_DEFAULT_PATH) + sizeof("HOME=/root");
	for (const char *const *a = spec->argv; *a; a++)
		strings += strlen(*a) + 1;
	for (const char *const *e = spec->envp; e && *e; e++)
		strings += strlen(*e) + 1;
	if (strings > FORGE_INIT_STRINGS_MAX)
		return forge_err_set(err, -E2BIG,
				     "spec: command line and environment take %zu bytes (at most %u)",
				     strings, FORGE_INIT_STRINGS_MAX);
	if (spec->hostname && !hostname_is_valid(spec->hostname))
		return forge_err_set(err, -EINVAL, "spec: invalid hostname \"%s\"", spec->hostname);
	unsigned last = (unsigned)cap_max_bits() - 1;
	if (last < 63 && (spec->caps >> (last + 1)) != 0)
		return forge_err_set(err, -EINVAL,
				     "spec: capability bit beyond the kernel's last (%u)", last);
	rc = validate_limits(&spec->limits, err);
	if (rc < 0)
		return rc;
	if (spec->host_uid == 0 || spec->host_gid == 0)
		return forge_err_set(err, -EPERM,
				     "spec: the host uid/gid range must not include root (0)");
	if (spec->host_uid < FORGE_MIN_HOST_ID || spec->host_gid < FORGE_MIN_HOST_ID)
		return forge_err_set(
		    err, -EPERM,
		    "spec: host uid/gid %u/%u is below %u: those ids belong to the "
		    "host's own users",
		    spec->host_uid, spec->host_gid, FORGE_MIN_HOST_ID);
	if (spec->id_count == 0 || (uint64_t)spec->host_uid + spec->id_count > UINT32_MAX ||
	    (uint64_t)spec->host_gid + spec->id_count > UINT32_MAX)
		return forge_err_set(err, -ERANGE, "spec: host id range %u+%u is invalid",
				     spec->host_uid, spec->id_count);
	if (!spec->cgroup || !*spec->cgroup)
		return forge_err_set(err, -EINVAL, "spec: no cgroup name given");
	if (!spec->state_dir || spec->state_dir[0] != '/')
		return forge_err_set(err, -EINVAL, "spec: state dir must be an absolute path");
	if (spec->tmpfs_bytes < MIN_TMPFS_BYTES)
		return forge_err_set(err, -EINVAL, "spec: tmpfs size below 1 MiB");
	if (spec->seccomp_mode < 0 || spec->seccomp_mode >= FORGE_SECCOMP_COUNT)
		return forge_err_set(err, -EINVAL, "spec: unknown seccomp mode");
	if (spec->log_fd >= 0) {
		int fl = fcntl(spec->log_fd, F_GETFL);
		if (fl < 0 || fstat(spec->log_fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (fl & O_ACCMODE) == O_RDONLY || !(fl & O_APPEND))
			return forge_err_set(err, -EINVAL,
					     "spec: log fd %d is not a regular file open for append",
					     spec->log_fd);
		if (spec->log_limit == 0)
			return forge_err_set(err, -EINVAL, "spec: log limit must be positive");
	}
	if (spec->netns_fd >= 0) {
		int type = ioctl(spec->netns_fd, NS_GET_NSTYPE);
		if (type != CLONE_NEWNET)
			return forge_err_set(err, -EINVAL,
					     "spec: netns fd %d is not a network namespace",
					     spec->netns_fd);
	}
	return 0;
}

/* ================================================================= runtime */

static int ensure_base_layer(struct forge_runtime *rt, const char *run_dir, struct forge_err *err);

/* forge-init, from the image linked into this binary, in a sealed memfd:
 * nothing on disk to find or to swap, and nothing a container could write
 * through /proc/1/exe. */
static int load_init(struct forge_runtime *rt, struct forge_err *err)
{
	size_t len = (size_t)(forge_init_image_end - forge_init_image);
	int fd = memfd_create("forge-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return forge_err_errno(err, errno, "runtime: memfd for forge-init");
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, forge_init_image + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			return forge_err_errno(err, e, "runtime: write forge-init");
		}
		off += (size_t)n;
	}
	/* Execute-only: the container's root cannot read it, so the kernel
	 * makes init's memory belong to the initial user namespace and not
	 * dumpable from the exec on (would_dump()): the container cannot open
	 * /proc/1/fd, environ or mem, nor ptrace init even with CAP_SYS_PTRACE. */
	if (fchmod(fd, 0111) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
		int e = errno;
		close(fd);
		return forge_err_errno(err, e, "runtime: seal forge-init");
	}
	rt->init_fd = fd;
	return 0;
}

int forge_runtime_open(struct forge_runtime **out, const struct forge_runtime_config *cfg,
		       struct forge_err *err)
{
	const char *prefix = cfg && cfg->prefix ? cfg->prefix : "forge";
	const char *cgroot = cfg && cfg->cgroup_root ? cfg->cgroup_root : "/sys/fs/cgroup";
	int rc;

	if (strlen(prefix) > FORGE_PREFIX_MAX || !forge_name_is_component(prefix))
		return forge_err_set(err, -EINVAL, "runtime: invalid prefix \"%s\"", prefix);
	if (forge_crypto_init() < 0)
		return forge_err_set(err, -EIO, "runtime: libsodium initialisation failed");
	struct forge_runtime *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return forge_err_set(err, -ENOMEM, "runtime: out of memory");
	snprintf(rt->prefix, sizeof(rt->prefix), "%s", prefix);
	rt->init_fd = -1;
	rc = forge_cgroup_layout_detect(&rt->cg, cgroot, prefix, err);
	if (rc == 0)
		rc = load_init(rt, err);
	if (rc == 0)
		rc = ensure_base_layer(rt, cfg && cfg->run_dir ? cfg->run_dir : "/run/forge", err);
	if (rc < 0) {
		forge_runtime_close(rt);
		return rc;
	}
	*out = rt;
	return 0;
}

void forge_runtime_close(struct forge_runtime *rt)
{
	if (!rt)
		return;
	if (rt->init_fd >= 0)
		close(rt->init_fd);
	free(rt);
}

int forge_runtime_seccomp(struct forge_runtime *rt, enum forge_seccomp_mode mode,
			  const struct forge_seccomp_prog **out, struct forge_err *err)
{
	(void)rt;
	if (mode < 0 || mode >= FORGE_SECCOMP_COUNT)
		return forge_err_set(err, -EINVAL, "seccomp: unknown mode %d", (int)mode);
	*out = &forge_seccomp_builtin[mode];
	return 0;
}

const char *forge_runtime_cgroup_mode(const struct forge_runtime *rt)
{
	return rt->cg.v2 ? "v2" : "v1";
}

unsigned forge_runtime_seccomp_allowed(const struct forge_runtime *rt)
{
	(void)rt;
	return forge_seccomp_builtin[FORGE_SECCOMP_ENFORCE].allowed;
}

const char *forge_runtime_seccomp_sha256(const struct forge_runtime *rt)
{
	(void)rt;
	return forge_seccomp_builtin[FORGE_SECCOMP_ENFORCE].sha256;
}

/* ================================================================= launcher side */

static int write_id_maps(pid_t pid, const struct forge_container *c, struct forge_err *err)
{
	char path[64], line[64];

	/* A launcher without CAP_SETGID in its own namespace must deny
	 * setgroups before it may write gid_map; root keeps it allowed so the
	 * container's own tools (su, login) can manage groups. */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
		int rc = forge_write_knob(AT_FDCWD, path, "deny", err);
		if (rc < 0)
			return rc;
	}
	snprintf(line, sizeof(line), "0 %u %u\n", c->host_uid, c->id_count);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	int rc = forge_write_knob(AT_FDCWD, path, line, err);
	if (rc < 0)
		return rc;
	snprintf(line, sizeof(line), "0 %u %u\n", c->host_gid, c->id_count);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	return forge_write_knob(AT_FDCWD, path, line, err);
}

/* A writable container's state dir: upper/ (owned by container root) and
 * work/ (overlay's). Read-only containers need none. */
static int make_state_dir(struct forge_container *c, struct forge_err *err)
{
	char p[FORGE_PATH_MAX + 32];
	if (mkdir(c->state_dir, 0711) < 0)
		return forge_err_errno(err, errno, "state dir %s", c->state_dir);
	c->state_made = true;
	snprintf(p, sizeof(p), "%s/upper", c->state_dir);
	if (mkdir(p, 0755) < 0 || chown(p, c->host_uid, c->host_gid) < 0)
		return forge_err_errno(err, errno, "state dir %s", p);
	snprintf(p, sizeof(p), "%s/work", c->state_dir);
	if (mkdir(p, 0700) < 0)
		return forge_err_errno(err, errno, "state dir %s", p);
	return 0;
}

/* True when dir is a root-owned directory nobody else can write. */
static bool root_only_dir(int dirfd, const char *name)
{
	struct stat st;
	int flags = AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH);
	return fstatat(dirfd, name, &st, flags) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
	       (st.st_mode & 022) == 0;
}

/* The base layer: one root-owned, read-only-by-convention directory per
 * Forge instance holding the mount points (proc, dev, tmp, run, sys). It is
 * the top lower layer of every rootfs, so an image's /proc or /dev that is a
 * symlink (or missing) is shadowed by a real directory, and a read-only
 * container needs no directory of its own at all (on a disk mounted with
 * "discard" each rmdir costs up to a third of a millisecond). Made once,
 * atomically. */
static int ensure_base_layer(struct forge_runtime *rt, const char *run_dir, struct forge_err *err)
{
	char tmp[FORGE_PATH_MAX + 32];
	int rc = 0;

	if (run_dir[0] != '/')
		return forge_err_set(err, -EINVAL, "runtime: run dir \"%s\" is not absolute",
				     run_dir);
	if ((size_t)snprintf(rt->base_dir, sizeof(rt->base_dir), "%s/rootfs-base", run_dir) >=
	    sizeof(rt->base_dir))
		return forge_err_set(err, -ENAMETOOLONG, "runtime: run dir path too long");
	/* mkdir -p run_dir: on a fresh host /run/forge does not exist yet. */
	for (char *slash = strchr(rt->base_dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(rt->base_dir, 0755) < 0 && errno != EEXIST)
			rc = forge_err_errno(err, errno, "runtime: create %s", rt->base_dir);
		*slash = '/';
		if (rc < 0)
			return rc;
	}
	if (access(rt->base_dir, F_OK) != 0) {
		snprintf(tmp, sizeof(tmp), "%s/.rootfs-base.XXXXXX", run_dir);
		if (!mkdtemp(tmp))
			return forge_err_errno(err, errno, "runtime: create %s", tmp);
		for (const char *const *d = base_dirs; *d && rc == 0; d++) {
			char p[FORGE_PATH_MAX + 48];
			snprintf(p, sizeof(p), "%s/%s", tmp, *d);
			if (mkdir(p, 0755) < 0 || chmod(p, 0755) < 0)
				rc = forge_err_errno(err, errno, "runtime: create %s", p);
		}
		if (rc == 0 && (chmod(tmp, 0755) < 0 || rename(tmp, rt->base_dir) < 0)) {
			/* Another launcher may have won the race: fine. */
			if (errno != EEXIST && errno != ENOTEMPTY)
				rc =
				    forge_err_errno(err, errno, "runtime: create %s", rt->base_dir);
		}
		if (access(tmp, F_OK) == 0) {
			int pfd = open(run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (pfd >= 0) {
				forge_remove_tree(pfd, strrchr(tmp, '/') + 1, NULL);
				close(pfd);
			}
		}
		if (rc < 0)
			return rc;
	}
	int fd = open(rt->base_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	bool ok = fd >= 0 && root_only_dir(fd, "");
	for (const char *const *d = base_dirs; ok && *d; d++)
		ok = root_only_dir(fd, *d);
	if (fd >= 0)
		close(fd);
	if (!ok)
		return forge_err_set(
		    err, -EPERM,
		    "runtime: %s is not a root-owned directory holding only root-owned "
		    "proc, dev, tmp, run and sys directories; remove it",
		    rt->base_dir);
	return 0;
}

/* Appends the overlay's own complaint (the fs context log) to err. */
static void fs_log_into(int fs, struct forge_err *err)
{
	char buf[256];
	ssize_t n;
	while ((n = read(fs, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (err) {
			size_t used = strlen(err->msg);
			snprintf(err->msg + used, sizeof(err->msg) - used, " (%s)", buf);
		}
	}
}

/* Overlay's lower layers: the base layer on top, then the image's. */
struct layers {
	size_t n;
	const char *dir[33];
	int fd[33];
	bool cloned[33]; /* a detached (idmapped) clone, not an O_PATH of the dir */
};

static void close_layers(struct layers *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->fd[i] >= 0) {
			close(l->fd[i]);
			l->fd[i] = -1;
		}
}

static bool idmap_unsupported(int e)
{
	return e == EINVAL || e == EPERM || e == EOPNOTSUPP || e == ENOSYS;
}

/* Each layer as an idmapped detached clone where its filesystem allows it,
 * else (or when idmap is false) as an O_PATH descriptor of the directory. */
static int open_layers(struct layers *l, int usfd, bool idmap, struct forge_err *err)
{
	for (size_t i = 0; i < l->n; i++) {
		l->cloned[i] = false;
		if (idmap) {
			int t =
			    sys_open_tree(AT_FDCWD, l->dir[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
			if (t < 0)
				return forge_err_errno(err, errno, "rootfs %s: clone", l->dir[i]);
			struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP,
						  .userns_fd = (uint64_t)usfd};
			if (sys_mount_setattr(t, "", AT_EMPTY_PATH, &attr) == 0) {
				l->fd[i] = t;
				l->cloned[i] = true;
				continue;
			}
			int e = errno;
			close(t);
			if (!idmap_unsupported(e))
				return forge_err_errno(err, e, "rootfs %s: idmap", l->dir[i]);
		}
		l->fd[i] = open(l->dir[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (l->fd[i] < 0)
			return forge_err_errno(err, errno, "rootfs %s: open", l->dir[i]);
	}
	return 0;
}

/* fsopen/fsconfig/fsmount of the overlay over fds (top-most first), with
 * upper/work for a writable container. Returns the mount fd. */
static int mount_overlay(struct forge_container *c, const struct layers *l, const int *fds,
			 struct forge_err *err)
{
	char lower[33 * 24 + 1] = "";
	for (size_t i = 0; i < l->n; i++) {
		size_t used = strlen(lower);
		snprintf(lower + used, sizeof(lower) - used, "%s/proc/self/fd/%d", i ? ":" : "",
			 fds[i]);
	}
	char upper[FORGE_PATH_MAX + 16], work[FORGE_PATH_MAX + 16];
	snprintf(upper, sizeof(upper), "%s/upper", c->state_dir);
	snprintf(work, sizeof(work), "%s/work", c->state_dir);
	int fs = sys_fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return forge_err_errno(err, errno, "rootfs: fsopen overlay");
	int m = -1;
	if (sys_fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", lower, 0) < 0 ||
	    (c->writable && (sys_fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
			     sys_fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0)) ||
	    sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		m = forge_err_errno(err, errno, "rootfs: overlay of %s", c->lowerdirs[0]);
		fs_log_into(fs, err);
	} else {
		unsigned attrs =
		    MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | (c->writable ? 0 : MOUNT_ATTR_RDONLY);
		m = sys_fsmount(fs, FSMOUNT_CLOEXEC, attrs);
		if (m < 0)
			m = forge_err_errno(err, errno, "rootfs: fsmount");
	}
	close(fs);
	return m;
}

/* For kernels whose overlayfs refuses detached layers ("failed to clone
 * lowerpath" before about 6.5): do the overlay mount from inside the
 * container's own mount namespace — a private copy nobody uses yet, so the
 * host's mount table never sees anything — with each idmapped clone
 * attached on top of its own directory there, then detach the clones and
 * come back. */
static int mount_overlay_attached(struct forge_container *c, const struct layers *l,
				  struct forge_err *err)
{
	char p[64];
	int own, cwd, cns, fds[33] = {0}, n_open = 0, m = 0;

	own = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(p, sizeof(p), "/proc/%d/ns/mnt", (int)c->pid);
	cns = open(p, O_RDONLY | O_CLOEXEC);
	if (own < 0 || cwd < 0 || cns < 0)
		m = forge_err_errno(err, errno, "rootfs: open mount namespaces");
	else if (setns(cns, CLONE_NEWNS) < 0)
		m = forge_err_errno(err, errno, "rootfs: enter the container's mount namespace");
	if (m < 0)
		goto out_fds;
	for (size_t i = 0; i < l->n && m == 0; i++) {
		if (l->cloned[i] && sys_move_mount(l->fd[i], "", AT_FDCWD, l->dir[i],
						   MOVE_MOUNT_F_EMPTY_PATH) < 0) {
			m = forge_err_errno(err, errno, "rootfs: attach layer %s", l->dir[i]);
			break;
		}
		fds[n_open] = open(l->dir[i], O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fds[n_open] < 0)
			m = forge_err_errno(err, errno, "rootfs: open %s", l->dir[i]);
		else
			n_open++;
		if (m < 0 && l->cloned[i])
			umount2(l->dir[i], MNT_DETACH);
	}
	if (m == 0)
		m = mount_overlay(c, l, fds, err);
	for (int i = 0; i < n_open; i++) {
		close(fds[i]);
		if (l->cloned[i])
			umount2(l->dir[i], MNT_DETACH);
	}
	/* Back home; failing would leave the launcher in a container's mount
	 * namespace, where nothing it does afterwards is safe. */
	if (setns(own, CLONE_NEWNS) < 0 || fchdir(cwd) < 0)
		abort();
out_fds:
	if (own >= 0)
		close(own);
	if (cwd >= 0)
		close(cwd);
	if (cns >= 0)
		close(cns);
	return m;
}

/* The rootfs as a detached overlay mount; returns its fd.
 *
 * Layers are idmapped where their filesystem has idmapped mounts; where it
 * does not, the fallback uses the directory as it is: files owned by host
 * root then show up as nobody inside (readable, not writable). The report's
 * "idmapped" says whether every image layer is idmapped. */
static int build_rootfs(struct forge_container *c, struct forge_err *err)
{
	struct layers l = {.n = c->n_lowerdirs + 1};
	char path[64];
	int m;

	l.dir[0] = c->rt->base_dir;
	for (size_t i = 0; i < c->n_lowerdirs; i++)
		l.dir[i + 1] = c->lowerdirs[i];
	for (size_t i = 0; i < l.n; i++)
		l.fd[i] = -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)c->pid);
	int usfd = open(path, O_RDONLY | O_CLOEXEC);
	if (usfd < 0)
		return forge_err_errno(err, errno, "rootfs: open %s", path);
	m = open_layers(&l, usfd, true, err);
	if (m == 0) {
		m = mount_overlay(c, &l, l.fd, err);
		if (m == -EINVAL) {
			forge_err_clear(err);
			m = mount_overlay_attached(c, &l, err);
		}
	}
	c->idmapped = true;
	for (size_t i = 1; i < l.n; i++)
		c->idmapped &= l.cloned[i];
	if (m == -EINVAL) {
		/* Last resort: no idmapped layer at all. */
		close_layers(&l);
		forge_err_clear(err);
		c->idmapped = false;
		m = open_layers(&l, usfd, false, err);
		if (m == 0)
			m = mount_overlay(c, &l, l.fd, err);
	}
	close_layers(&l);
	close(usfd);
	return m;
}

static char **build_env(const char *const *envp)
{
	size_t n = 0;
	bool has_path = false, has_home = false;
	for (const char *const *e = envp; e && *e; e++, n++) {
		has_path |= strncmp(*e, "PATH=", 5) == 0;
		has_home |= strncmp(*e, "HOME=", 5) == 0;
	}
	char **out = calloc(n + 3, sizeof(char *));
	if (!out)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!(out[k++] = strdup(envp[i])))
			goto fail;
	if (!has_path && !(out[k++] = strdup("PATH=" FORGE_DEFAULT_PATH)))
		goto fail;
	if (!has_home && !(out[k++] = strdup("HOME=/root")))
		goto fail;
	return out;
fail:
	for (size_t i = 0; i < k; i++)
		free(out[i]);
	free(out);
	return NULL;
}

static void free_strv(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static char **dup_strv(const char *const *v)
{
	size_t n = 0;
	while (v[n])
		n++;
	char **out = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; out && i < n; i++)
		if (!(out[i] = strdup(v[i]))) {
			free_strv(out);
			return NULL;
		}
	return out;
}

/* Waits for init's answer to GO: READY, EXEC_FAILED or ERROR. */
static int await_start(struct forge_container *c, struct forge_err *err)
{
	struct pollfd pf[2] = {{.fd = c->sock, .events = POLLIN},
			       {.fd = c->pidfd, .events = POLLIN}};
	int r;
	do
		r = poll(pf, 2, START_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return forge_err_set(err, -ETIMEDOUT,
				     "container %s: init did not start within %d ms", c->name,
				     START_TIMEOUT_MS);
	struct sync_msg m;
	ssize_t n = forge_sync_recv(c->sock, &m, NULL, MSG_DONTWAIT);
	if (n <= 0)
		return forge_err_set(err, -ECHILD, "container %s: init died during setup", c->name);
	switch (m.type) {
	case MSG_READY:
		return 0;
	case MSG_EXEC_FAILED:
		c->st.exec_errno = m.err;
		snprintf(c->st.message, sizeof(c->st.message), "%s", m.text);
		return 0;
	case MSG_ERROR:
		return forge_err_set(err, -(m.err ? m.err : EIO), "container %s: %s", c->name,
				     m.text);
	default:
		return forge_err_set(err, -EPROTO, "container %s: unexpected message %u from init",
				     c->name, m.type);
	}
}

static int run_prestart(struct forge_container *c, const struct forge_container_spec *spec,
			struct forge_err *err)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/ns/net", (int)c->pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return forge_err_errno(err, errno, "container %s: open %s", c->name, p);
	int rc = spec->prestart(spec->prestart_ctx, c, fd, err);
	close(fd);
	if (rc < 0 && err && !err->msg[0])
		forge_err_set(err, rc, "container %s: prestart hook failed", c->name);
	return rc < 0 ? rc : 0;
}

static int copy_spec(struct forge_container *c, struct forge_runtime *rt,
		     const struct forge_container_spec *spec)
{
	c->rt = rt;
	c->pidfd = c->sock = -1;
	snprintf(c->name, sizeof(c->name), "%s", spec->name);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", spec->state_dir);
	c->caps = spec->caps;
	c->seccomp_mode = spec->seccomp_mode;
	c->writable = spec->writable;
	c->new_netns = spec->netns_fd < 0;
	c->host_uid = spec->host_uid;
	c->host_gid = spec->host_gid;
	c->id_count = spec->id_count;
	c->envp = build_env(spec->envp);
	c->lowerdirs = calloc(spec->n_lowerdirs + 1, sizeof(char *));
	c->cwd = strdup(spec->cwd ? spec->cwd : "/");
	c->hostname = strdup(spec->hostname ? spec->hostname : spec->name);
	c->argv = dup_strv(spec->argv);
	if (!c->envp || !c->lowerdirs || !c->cwd || !c->hostname || !c->argv)
		return -ENOMEM;
	/* Absolute and symlink-free: the layers are opened again by path,
	 * from another mount namespace, on kernels that need it. */
	for (size_t i = 0; i < spec->n_lowerdirs; i++)
		if (!(c->lowerdirs[i] = realpath(spec->lowerdirs[i], NULL)))
			return -errno;
	c->n_lowerdirs = spec->n_lowerdirs;
	return 0;
}

/* The configuration forge-init reads first (struct init_config in
 * runtime/internal.h), built before anything exists so that a spec too large
 * for it fails cleanly. */
static int build_config(const struct forge_container *c, const struct forge_container_spec *spec,
			const struct forge_seccomp_prog *prog, char **out, size_t *out_len,
			struct forge_err *err)
{
	size_t strings = strlen(c->cwd) + strlen(c->hostname) + 2;
	uint32_t n_argv = 0, n_envp = 0;
	for (char **a = c->argv; *a; a++, n_argv++)
		strings += strlen(*a) + 1;
	for (char **e = c->envp; *e; e++, n_envp++)
		strings += strlen(*e) + 1;
	size_t filter = (size_t)prog->len * sizeof(struct sock_filter);
	size_t total = sizeof(struct init_config) + strings + filter;
	if (total > FORGE_INIT_CONFIG_MAX) /* spec validation keeps this from happening */
		return forge_err_set(err, -E2BIG,
				     "container %s: command line and environment take %zu bytes "
				     "(at most %u)",
				     c->name, strings, FORGE_INIT_STRINGS_MAX);
	char *buf = malloc(total);
	if (!buf)
		return forge_err_set(err, -ENOMEM, "container: out of memory");
	struct init_config cfg = {
	    .magic = FORGE_INIT_MAGIC,
	    .flags = (c->new_netns ? INIT_NEW_NETNS : 0) |
		     (spec->die_with_parent ? INIT_DIE_WITH_PARENT : 0) |
		     (spec->log_fd >= 0 ? INIT_LOG : 0),
	    .caps = c->caps,
	    .tmpfs_bytes = spec->tmpfs_bytes,
	    .log_limit = spec->log_limit,
	    .id_count = c->id_count,
	    .n_argv = n_argv,
	    .n_envp = n_envp,
	    .n_filter = prog->len,
	    .strings_len = (uint32_t)strings,
	};
	memcpy(buf, &cfg, sizeof(cfg));
	char *p = buf + sizeof(cfg);
	const char *head[] = {c->cwd, c->hostname};
	for (size_t i = 0; i < 2; i++)
		p = stpcpy(p, head[i]) + 1;
	for (char **a = c->argv; *a; a++)
		p = stpcpy(p, *a) + 1;
	for (char **e = c->envp; *e; e++)
		p = stpcpy(p, *e) + 1;
	memcpy(p, prog->filter, filter);
	*out = buf;
	*out_len = total;
	return 0;
}

/* A system call that touches no libc state (no errno, no cancellation, no
 * set*id broadcast to the launcher's threads): the only kind the clone may
 * make, since it runs in the launcher's memory alongside the launcher's
 * threads until its exec. Returns the kernel's value (-errno on failure). */
static inline long raw_syscall(long n, long a, long b, long c, long d, long e)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
	return x0;
#else
#error "raw_syscall: add this architecture's system call convention"
#endif
}

/* What the clone needs until its exec; it shares the launcher's memory, so
 * this lives until the launcher has seen the exec (or the clone's death). */
struct launch_child {
	int fds[8]; /* stdin, stdout, stderr, sync socket, -, log, forge-init, exec pipe */
	int go_fd;	      /* read end: one byte once the id maps are written */
	const char *base_dir; /* opened in the clone's own mount namespace */
	const char *failed;   /* the step that failed, or NULL */
	int err;	      /* its errno */
};

enum { FD_SYNC = 3, FD_BASE = 4, FD_LOG = 5, FD_INIT = 6, FD_EXECPIPE = 7, FD_COUNT = 8 };

#define LAUNCH_STACK (64u << 10)

static int child_failed(struct launch_child *lc, const char *step, long rc)
{
	lc->failed = step;
	lc->err = (int)-rc;
	raw_syscall(SYS_exit_group, 125, 0, 0, 0, 0);
	return 125;
}

/* The clone, on its own stack: waits for its id maps, opens the base layer
 * while it still has the launcher's ids, becomes the container's root (so
 * that the exec keeps its capabilities in the new user namespace), lays out
 * its descriptors and execs forge-init. Raw system calls only. */
static int launch_child_main(void *arg)
{
	struct launch_child *lc = arg;
	static char *const argv[] = {"forge-init", NULL};
	static char *const envp[] = {NULL};
	char b;
	long rc = raw_syscall(SYS_read, lc->go_fd, (long)&b, 1, 0, 0);
	if (rc != 1)
		return child_failed(lc, "wait for the id maps", rc < 0 ? rc : -EPIPE);
	rc = raw_syscall(SYS_openat, AT_FDCWD, (long)lc->base_dir,
			 O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0);
	if (rc < 0)
		return child_failed(lc, "open the base layer", rc);
	lc->fds[FD_BASE] = (int)rc;
	if ((rc = raw_syscall(SYS_setresgid, 0, 0, 0, 0, 0)) < 0 ||
	    (rc = raw_syscall(SYS_setgroups, 0, 0, 0, 0, 0)) < 0 ||
	    (rc = raw_syscall(SYS_setresuid, 0, 0, 0, 0, 0)) < 0)
		return child_failed(lc, "become container root", rc);
	/* fds[i] to descriptor i: copies above them all first, so that no dup
	 * overwrites a source; 0-5 survive the exec, 6 and 7 do not. */
	int tmp[FD_COUNT];
	for (int i = 0; i < FD_COUNT; i++) {
		rc = raw_syscall(SYS_fcntl, lc->fds[i], F_DUPFD_CLOEXEC, 100, 0, 0);
		if (rc < 0)
			return child_failed(lc, "arrange descriptors", rc);
		tmp[i] = (int)rc;
	}
	for (int i = 0; i < FD_COUNT; i++)
		if ((rc = raw_syscall(SYS_dup3, tmp[i], i, i >= FD_INIT ? O_CLOEXEC : 0, 0, 0)) < 0)
			return child_failed(lc, "arrange descriptors", rc);
	raw_syscall(SYS_close_range, FD_COUNT, ~0U, 0, 0, 0);
	rc = raw_syscall(SYS_execveat, FD_INIT, (long)"", (long)argv, (long)envp, AT_EMPTY_PATH);
	return child_failed(lc, "exec forge-init", rc);
}

/* A clone in flight: its stack and the pipe that closes at its exec. */
struct launch {
	struct launch_child lc;
	void *stack;
	int go_fd, done_fd;
};

/* Waits until the clone has exec'd or died (the exec pipe's write end
 * closes either way), then frees its stack. Returns 0 after an exec. */
static int launch_finish(struct launch *l, const char *name, struct forge_err *err)
{
	if (l->done_fd >= 0) {
		char b;
		while (read(l->done_fd, &b, 1) < 0 && errno == EINTR)
			;
		close(l->done_fd);
		l->done_fd = -1;
	}
	if (l->go_fd >= 0) {
		close(l->go_fd);
		l->go_fd = -1;
	}
	if (l->stack) {
		munmap(l->stack, LAUNCH_STACK);
		l->stack = NULL;
	}
	if (l->lc.failed)
		return forge_err_errno(err, l->lc.err, "container %s: %s", name, l->lc.failed);
	return 0;
}

/* Clones into the new namespaces (joining spec->netns_fd instead of a new
 * network namespace by entering it around the clone). The clone shares our
 * memory but not our descriptors; it execs forge-init once the caller has
 * written its id maps and released it through l->go_fd. */
static pid_t clone_container(struct forge_container *c, const struct forge_container_spec *spec,
			     int sock, struct launch *l, struct forge_err *err)
{
	int own_net = -1, null = -1, go[2] = {-1, -1}, done[2] = {-1, -1};
	pid_t pid = -1;
	int flags = CLONE_VM | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
		    CLONE_NEWIPC | CLONE_PIDFD | SIGCHLD;
	if (spec->netns_fd < 0)
		flags |= CLONE_NEWNET;
	struct launch_child *lc = &l->lc;
	*lc = (struct launch_child){
	    .fds = {spec->stdio[0], spec->stdio[1], spec->stdio[2], sock, -1, spec->log_fd,
		    c->rt->init_fd, -1},
	    .base_dir = c->rt->base_dir,
	};
	if (spec->log_fd >= 0)
		lc->fds[1] = lc->fds[2] = -1; /* init gives the command its pipe */
	for (int i = 0; i < FD_COUNT; i++)
		if (lc->fds[i] < 0 && i != FD_BASE && i != FD_EXECPIPE) {
			if (null < 0 && (null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
				pid = forge_err_errno(err, errno, "container %s: /dev/null", c->name);
				goto out;
			}
			lc->fds[i] = null;
		}
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0) {
		pid = forge_err_errno(err, errno, "container %s: pipe", c->name);
		goto out;
	}
	lc->go_fd = go[0];
	lc->fds[FD_EXECPIPE] = done[1];
	l->stack = mmap(NULL, LAUNCH_STACK, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (l->stack == MAP_FAILED) {
		l->stack = NULL;
		pid = forge_err_errno(err, errno, "container %s: clone stack", c->name);
		goto out;
	}
	if (spec->netns_fd >= 0) {
		own_net = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (own_net < 0 || setns(spec->netns_fd, CLONE_NEWNET) < 0) {
			pid = forge_err_errno(err, errno, "container %s: enter netns", c->name);
			goto out;
		}
	}
	/* No signal handler may run in the clone: it shares our memory. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(launch_child_main, (char *)l->stack + LAUNCH_STACK, flags, lc, &c->pidfd);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (own_net >= 0) {
		/* Back to our own network namespace; failing here would leave
		 * the launcher in a container's namespace: nothing is safe then. */
		if (setns(own_net, CLONE_NEWNET) < 0)
			abort();
	}
	if (pid < 0) {
		pid = forge_err_errno(err, e, "container %s: clone", c->name);
		goto out;
	}
	c->pid = pid;
	l->go_fd = go[1];
	l->done_fd = done[0];
	go[1] = done[0] = -1;
out:;
	const int spare[] = {own_net, null, go[0], go[1], done[0], done[1]};
	for (size_t n = 0; n < sizeof(spare) / sizeof(spare[0]); n++)
		if (spare[n] >= 0)
			close(spare[n]);
	if (pid < 0 && l->stack) {
		munmap(l->stack, LAUNCH_STACK);
		l->stack = NULL;
	}
	return pid;
}

/* Releases the clone to exec forge-init (its id maps are written). */
static int launch_release(struct launch *l, struct forge_container *c, struct forge_err *err)
{
	ssize_t n;
	do
		n = write(l->go_fd, "g", 1);
	while (n < 0 && errno == EINTR);
	close(l->go_fd);
	l->go_fd = -1;
	return n == 1 ? 0 : forge_err_errno(err, n < 0 ? errno : EIO,
					    "container %s: release the clone", c->name);
}

int forge_container_start(struct forge_runtime *rt, const struct forge_container_spec *spec,
			  struct forge_container **out, struct forge_err *err)
{
	int rc = forge_container_launch(rt, spec, out, err);
	if (rc == 0 && (rc = forge_container_await(*out, err)) < 0) {
		forge_container_destroy(*out, NULL);
		*out = NULL;
	}
	return rc;
}

int forge_container_await(struct forge_container *c, struct forge_err *err)
{
	return await_start(c, err);
}

int forge_container_launch(struct forge_runtime *rt, const struct forge_container_spec *spec,
			   struct forge_container **out, struct forge_err *err)
{
	int sp[2] = {-1, -1}, rootfd = -1, rc;
	const struct forge_seccomp_prog *prog = NULL;
	char *config = NULL;
	size_t config_len = 0;
	struct launch l = {.go_fd = -1, .done_fd = -1};

	*out = NULL;
	rc = forge_container_spec_validate(spec, err);
	if (rc < 0)
		return rc;
	rc = forge_runtime_seccomp(rt, spec->seccomp_mode, &prog, err);
	if (rc < 0)
		return rc;
	struct forge_container *c = calloc(1, sizeof(*c));
	if (!c)
		return forge_err_set(err, -ENOMEM, "container: out of memory");
	if (copy_spec(c, rt, spec) < 0) {
		rc = forge_err_set(err, -ENOMEM, "container: out of memory");
		goto fail;
	}
	if (c->writable) {
		rc = make_state_dir(c, err);
		if (rc < 0)
			goto fail;
	}
	/* The cpu quota waits for START: init's own set-up is Forge's work and
	 * must not be throttled by the container's share (a 0.1-cpu container
	 * would take tens of ms to start). Memory and pids hold from the start. */
	struct forge_limits setup_limits = spec->limits;
	setup_limits.cpu_quota_us = FORGE_LIMIT_NONE;
	rc = forge_cgroup_create(&rt->cg, spec->cgroup, &setup_limits, &c->cg, err);
	if (rc < 0)
		goto fail;
	rc = build_config(c, spec, prog, &config, &config_len, err);
	if (rc < 0)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		rc = forge_err_errno(err, errno, "container %s: socketpair", c->name);
		goto fail;
	}
	int sndbuf = (int)FORGE_INIT_CONFIG_MAX * 2;
	(void)setsockopt(sp[0], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	pid_t pid = clone_container(c, spec, sp[1], &l, err);
	close(sp[1]);
	sp[1] = -1;
	c->sock = sp[0];
	sp[0] = -1;
	if (pid < 0) {
		rc = pid;
		goto fail;
	}
	rc = write_id_maps(pid, c, err);
	if (rc == 0)
		rc = forge_cgroup_attach(&c->cg, pid, err);
	if (rc == 0)
		rc = launch_release(&l, c, err);
	if (rc < 0)
		goto fail;
	ssize_t sent;
	do
		sent = send(c->sock, config, config_len, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent != (ssize_t)config_len) {
		rc = forge_err_errno(err, sent < 0 ? errno : EMSGSIZE,
				     "container %s: send configuration to init", c->name);
		goto fail;
	}
	free(config);
	config = NULL;
	rootfd = build_rootfs(c, err);
	if (rootfd < 0) {
		rc = rootfd;
		goto fail;
	}
	/* init reads it after its exec (the socket holds it meanwhile) */
	rc = forge_sync_send(c->sock, MSG_GO, 0, 0, rootfd, NULL);
	close(rootfd);
	rootfd = -1;
	if (rc < 0) {
		rc = forge_err_errno(err, -rc, "container %s: send rootfs to init", c->name);
		goto fail;
	}
	/* init builds its mounts meanwhile */
	if (spec->prestart && (rc = run_prestart(c, spec, err)) < 0)
		goto fail;
	/* The clone has exec'd long since (or failed: then we stop here). */
	if ((rc = launch_finish(&l, c->name, err)) < 0)
		goto fail;
	rc = forge_cgroup_set_cpu(&c->cg, spec->limits.cpu_quota_us, spec->limits.cpu_period_us,
				  err);
	if (rc < 0)
		goto fail;
	rc = forge_sync_send(c->sock, MSG_START, 0, 0, -1, NULL);
	if (rc < 0) {
		rc = forge_err_errno(err, -rc, "container %s: start init", c->name);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	free(config);
	if (rootfd >= 0)
		close(rootfd);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	/* The clone is killed and reaped before its stack goes; when it failed
	 * on its own before its exec, its reason is the one to give. */
	if (l.go_fd >= 0) {
		close(l.go_fd);
		l.go_fd = -1;
	}
	char name[sizeof(c->name)];
	snprintf(name, sizeof(name), "%s", c->name);
	forge_container_destroy(c, NULL);
	struct forge_err clone_err = {0};
	if (launch_finish(&l, name, &clone_err) < 0) {
		rc = clone_err.code;
		if (err)
			*err = clone_err;
	}
	return rc;
}

pid_t forge_container_pid(const struct forge_container *c)
{
	return c->pid;
}

int forge_container_pidfd(const struct forge_container *c)
{
	return c->pidfd;
}

bool forge_container_idmapped(const struct forge_container *c)
{
	return c->idmapped;
}

/* Reaps init and fills c->st from init's EXIT message (or init's own death). */
static int collect(struct forge_container *c, struct forge_err *err)
{
	struct sync_msg m;
	bool got_exit = false;
	while (c->sock >= 0 && forge_sync_recv(c->sock, &m, NULL, MSG_DONTWAIT) > 0) {
		if (m.type == MSG_EXIT) {
			got_exit = true;
			c->st.exited = WIFEXITED(m.wstatus);
			c->st.code = c->st.exited ? WEXITSTATUS(m.wstatus) : 0;
			c->st.signal = WIFSIGNALED(m.wstatus) ? WTERMSIG(m.wstatus) : 0;
		}
	}
	siginfo_t si = {0};
	if (c->adopted) {
		/* Not our child (its launcher was a supervisor that restarted):
		 * the pidfd says it ended, the exit status went to its reaper. */
		c->reaped = true;
		snprintf(c->st.message, sizeof(c->st.message),
			 "exit status unknown: adopted after a supervisor restart");
		forge_cgroup_oom_kills(&c->cg, &c->st.oom_kills);
		c->have_status = true;
		return 0;
	}
	if (waitid((idtype_t)P_PIDFD, (id_t)c->pidfd, &si, WEXITED) < 0)
		return forge_err_errno(err, errno, "container %s: wait for init", c->name);
	c->reaped = true;
	if (!got_exit && !c->st.exec_errno) {
		/* init itself was killed (stop, OOM) before the command finished. */
		c->st.exited = si.si_code == CLD_EXITED;
		c->st.code = c->st.exited ? si.si_status : 0;
		c->st.signal = c->st.exited ? 0 : si.si_status;
	}
	if (c->st.exec_errno) {
		c->st.exited = true;
		c->st.code = c->st.exec_errno == ENOENT ? 127 : 126;
	}
	forge_cgroup_oom_kills(&c->cg, &c->st.oom_kills);
	c->have_status = true;
	return 0;
}

int forge_container_wait(struct forge_container *c, int timeout_ms, struct forge_exit_status *st,
			 struct forge_err *err)
{
	if (!c->have_status) {
		struct pollfd pf = {.fd = c->pidfd, .events = POLLIN};
		int r;
		do
			r = poll(&pf, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return forge_err_errno(err, errno, "container %s: poll", c->name);
		if (r == 0)
			return -ETIMEDOUT;
		int rc = collect(c, err);
		if (rc < 0)
			return rc;
	}
	if (st)
		*st = c->st;
	return 0;
}

int forge_container_signal(struct forge_container *c, int sig, struct forge_err *err)
{
	if (c->reaped)
		return forge_err_set(err, -ESRCH, "container %s: not running", c->name);
	if (sys_pidfd_send_signal(c->pidfd, sig) < 0 && errno != ESRCH)
		return forge_err_errno(err, errno, "container %s: signal %d", c->name, sig);
	return 0;
}

int forge_container_stop(struct forge_container *c, int grace_ms, struct forge_exit_status *st,
			 struct forge_err *err)
{
	if (!c->have_status) {
		int rc = forge_container_signal(c, SIGTERM, err);
		if (rc < 0 && rc != -ESRCH)
			return rc;
		rc = forge_container_wait(c, grace_ms, st, err);
		if (rc != -ETIMEDOUT)
			return rc;
		if (sys_pidfd_send_signal(c->pidfd, SIGKILL) < 0 && errno != ESRCH)
			return forge_err_errno(err, errno, "container %s: SIGKILL", c->name);
	}
	return forge_container_wait(c, -1, st, err);
}

static void container_free(struct forge_container *c)
{
	free_strv(c->lowerdirs);
	free_strv(c->envp);
	free_strv(c->argv);
	free(c->cwd);
	free(c->hostname);
	free(c);
}

int forge_container_destroy(struct forge_container *c, struct forge_err *err)
{
	int rc = 0;
	if (!c)
		return 0;
	if (c->pidfd >= 0 && !c->reaped) {
		sys_pidfd_send_signal(c->pidfd, SIGKILL);
		siginfo_t si;
		struct pollfd pf = {.fd = c->pidfd, .events = POLLIN};
		if (c->adopted)
			c->reaped = poll(&pf, 1, 2000) == 1; /* not ours to reap */
		else if (waitid((idtype_t)P_PIDFD, (id_t)c->pidfd, &si, WEXITED) == 0)
			c->reaped = true;
	}
	if (c->sock >= 0)
		close(c->sock);
	if (c->pidfd >= 0)
		close(c->pidfd);
	int r = forge_cgroup_remove(&c->cg, err);
	if (r < 0)
		rc = r;
	if (c->state_made) {
		char parent[FORGE_PATH_MAX], base[FORGE_PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", c->state_dir);
		char *slash = strrchr(parent, '/');
		snprintf(base, sizeof(base), "%s", slash + 1);
		slash[slash == parent ? 1 : 0] = '\0'; /* "/x" -> "/", "/a/x" -> "/a" */
		int pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
		r = pfd < 0 ? forge_err_errno(err, errno, "open %s", parent)
			    : forge_remove_tree(pfd, base, rc ? NULL : err);
		if (pfd >= 0)
			close(pfd);
		if (r < 0 && rc == 0)
			rc = r;
	}
	container_free(c);
	return rc;
}

void forge_container_release(struct forge_container *c)
{
	if (!c)
		return;
	if (c->sock >= 0)
		close(c->sock);
	if (c->pidfd >= 0)
		close(c->pidfd);
	container_free(c);
}

/* ================================================================= report */

static json_t *ns_inodes(pid_t pid)
{
	static const char *const names[] = {"user", "mnt", "pid", "uts", "ipc", "net", "cgroup"};
	json_t *o = json_object();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[64];
		struct stat st;
		snprintf(p, sizeof(p), "/proc/%d/ns/%s", (int)pid, names[i]);
		json_object_set_new(o, names[i],
				    stat(p, &st) == 0 ? json_integer((json_int_t)st.st_ino)
						      : json_null());
	}
	return o;
}

static json_t *proc_text(pid_t pid, const char *file)
{
	char p[64], *buf = NULL;
	size_t len;
	snprintf(p, sizeof(p), "/proc/%d/%s", (int)pid, file);
	if (forge_read_knob(AT_FDCWD, p, &buf, &len, 4096, NULL) < 0)
		return json_null();
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	/* Collapse the kernel's column padding: "0     100000      65536". */
	char *w = buf;
	for (char *r = buf; *r; r++)
		if (*r != ' ' || (w > buf && w[-1] != ' '))
			*w++ = (*r == '\n') ? ',' : *r;
	*w = '\0';
	json_t *v = json_string(buf);
	free(buf);
	return v;
}

json_t *forge_container_report(const struct forge_container *c)
{
	json_t *caps = json_array();
	for (int cap = 0; cap < 64; cap++) {
		if (!(c->caps & (1ULL << cap)))
			continue;
		char *name = cap_to_name(cap);
		if (name) {
			for (char *p = name; *p; p++)
				*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
			json_array_append_new(caps, json_string(name));
			cap_free(name);
		}
	}
	json_t *lower = json_array();
	for (size_t i = 0; i < c->n_lowerdirs; i++)
		json_array_append_new(lower, json_string(c->lowerdirs[i]));
	const struct forge_seccomp_prog *p = &forge_seccomp_builtin[c->seccomp_mode];
	return json_pack(
	    "{s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:{s:s, s:i, s:i, s:s}, s:b, "
	    "s:{s:o, s:b, s:b, s:s}, s:s}",
	    "name", c->name, "pid", (json_int_t)c->pid, "namespaces", ns_inodes(c->pid), "uid_map",
	    proc_text(c->pid, "uid_map"), "gid_map", proc_text(c->pid, "gid_map"), "cgroup",
	    forge_cgroup_report(&c->cg), "capabilities", caps, "seccomp", "mode",
	    c->seccomp_mode == FORGE_SECCOMP_LOG ? "log" : "enforce", "allowed",
	    (json_int_t)p->allowed, "denied", (json_int_t)p->denied, "profile_sha256", p->sha256,
	    "no_new_privs", 1, "rootfs", "lowerdirs", lower, "writable", c->writable, "idmapped",
	    c->idmapped, "state_dir", c->state_made ? c->state_dir : "", "netns",
	    c->new_netns ? "new" : "joined");
}
