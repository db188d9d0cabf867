/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/ private interfaces: shared between the runtime's own files only. */
#ifndef FORGE_RUNTIME_INTERNAL_H
#define FORGE_RUNTIME_INTERNAL_H

#include <linux/filter.h>

#include "runtime/runtime.h"

/* ------------------------------------------------------------- seccomp */

/* The profile compiler (runtime/seccomp.c, libforge-seccomp.a): used by the
 * generator and the tests, not linked into forged or forgectl. */

/* runtime/seccomp.profile, embedded verbatim by runtime/seccomp_profile.S. */
extern const char forge_seccomp_profile_start[];
extern const char forge_seccomp_profile_end[];

struct forge_seccomp_prog {
	struct sock_filter *filter; /* malloc'd BPF */
	unsigned short len;	    /* instructions */
	unsigned allowed;	    /* syscalls the profile allows (any condition) */
	unsigned denied;	    /* syscalls with an explicit errno rule */
	char sha256[65];	    /* of the profile text */
};

/* The profile compiled at build time (build/gen/seccomp_bpf.c, written by
 * runtime/gen/seccomp-gen.c): what containers load. */
extern const struct forge_seccomp_prog forge_seccomp_builtin[FORGE_SECCOMP_COUNT];

/* Parses profile text (the format is documented at the top of
 * runtime/seccomp.profile) and compiles it with libseccomp for the native
 * architecture. Every error names the line: "seccomp.profile:42: unknown
 * syscall \"fooo\"". In FORGE_SECCOMP_LOG mode every non-allow action
 * becomes SCMP_ACT_LOG. */
int forge_seccomp_compile(const char *text, size_t len, enum forge_seccomp_mode mode,
			  struct forge_seccomp_prog *out, struct forge_err *err);
void forge_seccomp_prog_free(struct forge_seccomp_prog *prog);
/* Loads the compiled filter into the calling thread (no_new_privs must be set).
 * Only raw syscalls: safe in a freshly cloned child. Returns 0 or -errno. */
int forge_seccomp_install(const struct forge_seccomp_prog *prog);

/* ------------------------------------------------------------- cgroups */

enum forge_cgroup_ctl { FORGE_CG_MEMORY = 0, FORGE_CG_PIDS, FORGE_CG_CPU, FORGE_CG_NCTL };

struct forge_cgroup_layout {
	bool v2;
	/* v2: one directory; v1: one per controller. Absolute paths of the
	 * directory under which Forge creates everything: <mount>/<own>/<prefix>. */
	char base[FORGE_CG_NCTL][FORGE_PATH_MAX];
};

struct forge_cgroup {
	const struct forge_cgroup_layout *layout;
	char rel[FORGE_PATH_MAX];		  /* below base */
	char path[FORGE_CG_NCTL][FORGE_PATH_MAX]; /* absolute leaf dirs (v2: [0] only) */
};

int forge_cgroup_layout_detect(struct forge_cgroup_layout *layout, const char *mount_root,
			       const char *prefix, struct forge_err *err);
/* mkdir -p <base>/<rel> (enabling controllers on the way down on v2) and
 * writes the limits. On failure removes what it created. */
int forge_cgroup_create(const struct forge_cgroup_layout *layout, const char *rel,
			const struct forge_limits *limits, struct forge_cgroup *cg,
			struct forge_err *err);
int forge_cgroup_attach(const struct forge_cgroup *cg, pid_t pid, struct forge_err *err);
/* The cpu quota alone (FORGE_LIMIT_NONE: nothing written). */
int forge_cgroup_set_cpu(const struct forge_cgroup *cg, uint64_t quota_us, uint64_t period_us,
			 struct forge_err *err);
int forge_cgroup_oom_kills(const struct forge_cgroup *cg, uint64_t *out);
/* Limits and counters as JSON (memory max/current/oom_kill, pids max/current,
 * cpu quota/period/nr_throttled/throttled_usec). New reference. */
json_t *forge_cgroup_report(const struct forge_cgroup *cg);
/* Describes an existing cgroup (made by an earlier forged) without creating
 * anything; controllers whose directory is gone are left empty. */
int forge_cgroup_open(const struct forge_cgroup_layout *layout, const char *rel,
		      struct forge_cgroup *cg, struct forge_err *err);
/* SIGKILLs every process in cg (v2: cgroup.kill). Returns how many were
 * signalled (1 for cgroup.kill). */
int forge_cgroup_kill_all(const struct forge_cgroup *cg);
/* rmdir the leaf (retrying briefly while the kernel finishes exiting tasks),
 * then its now-empty parents up to and including base. */
int forge_cgroup_remove(struct forge_cgroup *cg, struct forge_err *err);

/* ------------------------------------------------------------- runtime */

struct forge_runtime {
	char prefix[FORGE_PREFIX_MAX + 1];
	char base_dir[FORGE_PATH_MAX]; /* the mount-point layer, <run_dir>/rootfs-base */
	struct forge_cgroup_layout cg;
	int init_fd; /* forge-init in a sealed memfd */
};

/* The built-in filter for mode. */
int forge_runtime_seccomp(struct forge_runtime *rt, enum forge_seccomp_mode mode,
			  const struct forge_seccomp_prog **out, struct forge_err *err);

struct forge_container {
	struct forge_runtime *rt;
	char name[64];
	pid_t pid; /* init, host pid */
	int pidfd;
	int sock; /* launcher end of the sync socket */
	struct forge_cgroup cg;
	char state_dir[FORGE_PATH_MAX];
	bool state_made;
	uint64_t caps;
	enum forge_seccomp_mode seccomp_mode;
	bool writable, idmapped, new_netns;
	uid_t host_uid;
	gid_t host_gid;
	uint32_t id_count;
	char **lowerdirs;
	size_t n_lowerdirs;
	char **envp; /* the command's environment, defaults filled in */
	char **argv; /* copies: init overwrites the launcher's argv area */
	char *cwd, *hostname;
	bool reaped, have_status;
	bool adopted; /* started by an earlier supervisor: not our child */
	struct forge_exit_status st;
};

/* Capabilities, no_new_privs and seccomp, in that order: what init and every
 * exec'd process apply to themselves last, before running container code.
 * Returns 0 or -errno (and a step name in *what). */
int forge_confine_self(uint64_t caps, const struct forge_seccomp_prog *prog, const char **what);
/* Moves fds[i] to descriptor i for i < n (those >= first_cloexec get
 * O_CLOEXEC) and closes every descriptor >= n. For freshly forked children. */
int forge_fds_arrange(const int *fds, int n, int first_cloexec);
/* The PATH a container gets when its environment has none. */
#define FORGE_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Every signal back to its default disposition and unblocked: for freshly
 * forked children of a launcher that may ignore, handle or block some. */
void forge_reset_signals(void);
/* execve argv[0], searched in the PATH of envp; returns the errno that
 * explains the failure (it only returns on failure). */
int forge_exec_search(const char *const *argv, char *const *envp);

/* ------------------------------------------------------------- launch protocol */

/* launcher ⇄ init, one fixed-size message per SOCK_SEQPACKET datagram. */
enum sync_type {
	MSG_GO = 1,	 /* launcher → init, carries the rootfs fd */
	MSG_READY,	 /* init → launcher: the command runs */
	MSG_EXEC_FAILED, /* init → launcher: the command could not be exec'd */
	MSG_ERROR,	 /* init → launcher: setup failed */
	MSG_EXIT,	 /* init → launcher: the command's wait status */
	MSG_START,	 /* launcher → init: the network is wired, run the command */
};

struct sync_msg {
	uint32_t type;
	int32_t err;	 /* positive errno for EXEC_FAILED / ERROR */
	int32_t wstatus; /* for EXIT */
	char text[244];
};

/* One datagram of len bytes, with descriptor fd attached (fd < 0: none).
 * Returns the bytes sent or -errno. */
ssize_t forge_send_fd(int sock, const void *buf, size_t len, int fd);
/* One datagram into buf; *fd (may be NULL) gets a passed descriptor or -1,
 * any other is closed. Returns its length, 0 at EOF, -EPROTO when it or its
 * descriptors were truncated, or -errno. */
ssize_t forge_recv_fd(int sock, void *buf, size_t len, int *fd, int flags);
int forge_sync_send(int sock, uint32_t type, int e, int wstatus, int fd, const char *fmt, ...)
    FORGE_PRINTF(6, 7);
/* Receives one message; *fd gets a passed descriptor or -1. 0 at EOF. */
ssize_t forge_sync_recv(int sock, struct sync_msg *m, int *fd, int flags);

/* launcher → init, the first datagram init reads after its exec: everything
 * it needs, in one SOCK_SEQPACKET message:
 *   struct init_config, then strings_len bytes of NUL-terminated strings
 *   (cwd, hostname, n_argv argv strings, n_envp envp strings), then
 *   n_filter BPF instructions (struct sock_filter).
 * init starts with stdio on 0-2, the sync socket on 3, the base layer's
 * directory (O_PATH, opened in its mount namespace) on 4 and the log file
 * on 5 (INIT_LOG; otherwise a spare descriptor); it is already the
 * container's root (ids 0 in its user namespace). */
#define FORGE_INIT_MAGIC      0x31494746u /* "FGI1" */
#define FORGE_INIT_CONFIG_MAX (192u << 10)
/* argv, environment, cwd and hostname together (the rest is the header and
 * the BPF program, at most BPF_MAXINSNS instructions). */
#define FORGE_INIT_STRINGS_MAX (FORGE_INIT_CONFIG_MAX - (BPF_MAXINSNS * 8u) - 1024u)
enum {
	INIT_NEW_NETNS = 1u << 0,	/* bring lo up: the netns is init's own */
	INIT_DIE_WITH_PARENT = 1u << 1, /* SIGKILL init when the launcher dies */
	INIT_LOG = 1u << 2,		/* stdout+stderr through init into the log (fd 5) */
};
struct init_config {
	uint32_t magic;
	uint32_t flags;
	uint64_t caps;
	uint64_t tmpfs_bytes;
	uint64_t log_limit; /* bytes the log file may hold (INIT_LOG) */
	uint32_t id_count;
	uint32_t n_argv, n_envp;
	uint32_t n_filter;
	uint32_t strings_len;
	uint32_t pad;
};
/* The static forge-init program, embedded by runtime/init_image.S. */
extern const unsigned char forge_init_image[];
extern const unsigned char forge_init_image_end[];

/* ------------------------------------------------------------- syscalls */

#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mount.h>
#include <linux/sched.h>

static inline int sys_open_tree(int dfd, const char *path, unsigned flags)
{
	return (int)syscall(SYS_open_tree, dfd, path, flags);
}
static inline int sys_move_mount(int fdfd, const char *fpath, int tdfd, const char *tpath,
				 unsigned flags)
{
	return (int)syscall(SYS_move_mount, fdfd, fpath, tdfd, tpath, flags);
}
static inline int sys_fsopen(const char *fs, unsigned flags)
{
	return (int)syscall(SYS_fsopen, fs, flags);
}
static inline int sys_fsconfig(int fd, unsigned cmd, const char *key, const void *val, int aux)
{
	return (int)syscall(SYS_fsconfig, fd, cmd, key, val, aux);
}
static inline int sys_fsmount(int fd, unsigned flags, unsigned attrs)
{
	return (int)syscall(SYS_fsmount, fd, flags, attrs);
}
static inline int sys_mount_setattr(int dfd, const char *path, unsigned flags,
				    struct mount_attr *attr)
{
	return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof(*attr));
}
static inline int sys_pidfd_open(pid_t pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}
static inline int sys_pidfd_send_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}
static inline int sys_pivot_root(const char *new_root, const char *put_old)
{
	return (int)syscall(SYS_pivot_root, new_root, put_old);
}

#endif /* FORGE_RUNTIME_INTERNAL_H */
