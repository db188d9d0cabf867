/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime — the container launcher (DESIGN §5, Containers).
 *
 * One call builds one fully isolated, rootless container: new user, mount,
 * pid, uts, ipc, cgroup and network namespaces; container uids 0..N-1 mapped
 * onto an unprivileged host range; an overlay rootfs of read-only lower dirs
 * (idmapped where the kernel allows); tmpfs /tmp, /run, /dev/shm; a minimal
 * /dev; a masked /proc; pivot_root; capabilities limited to what is granted;
 * no_new_privs; a seccomp allowlist; cgroup limits (v2, or v1 on hybrid
 * hosts). PID 1 is a small reaping init that runs the command.
 *
 * The launcher runs as root in the initial user namespace. It never follows a
 * path inside the container's rootfs while privileged: the rootfs is built as
 * a detached mount and every mount inside it is made by the container's own
 * init, inside its user namespace, through file descriptors.
 */
#ifndef FORGE_RUNTIME_H
#define FORGE_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

#define FORGE_LIMIT_NONE    UINT64_MAX /* a limit that is not set */
#define FORGE_CPU_PERIOD_US 100000
#define FORGE_MIN_HOST_ID   65536 /* container ids never map onto the host's own users */

struct forge_limits {
	uint64_t memory_bytes; /* memory.max; FORGE_LIMIT_NONE: unlimited; 0 is invalid */
	uint64_t pids;	       /* pids.max */
	uint64_t cpu_quota_us; /* cpu.max quota per cpu_period_us */
	uint64_t cpu_period_us;
};

enum forge_seccomp_mode {
	FORGE_SECCOMP_ENFORCE = 0, /* errors as the profile says */
	FORGE_SECCOMP_LOG,	   /* SECCOMP_RET_LOG instead of errors: diagnose an image */
	FORGE_SECCOMP_COUNT,
};

struct forge_container;

/* Called by forge_container_start in the launcher once the container's
 * namespaces exist (ids mapped, cgroup joined) and before anything runs in
 * them, with an fd of the container's network namespace (closed after the
 * call). The place to wire a new network namespace from outside: it stays
 * owned by the container's user namespace, so a container granted
 * CAP_NET_ADMIN can administer it. A negative return (with err filled)
 * aborts the start. */
typedef int (*forge_prestart_fn)(void *ctx, const struct forge_container *c, int netns_fd,
				 struct forge_err *err);

struct forge_container_spec {
	const char *name;	      /* [a-z0-9][a-z0-9_.-]{0,62}; used for hostname default */
	const char *const *lowerdirs; /* read-only layers, top-most first */
	size_t n_lowerdirs;
	const char *const *argv; /* NULL-terminated, argv[0] searched in the env's PATH */
	const char *const *envp; /* NULL-terminated or NULL; nothing is inherited */
	const char *cwd;	 /* inside the container; default "/" */
	const char *hostname;	 /* default: name */
	uint64_t caps;		 /* bit n = capability n granted (CAP_NET_RAW, …) */
	struct forge_limits limits;
	uid_t host_uid; /* container uid 0 maps to host_uid … */
	gid_t host_gid;
	uint32_t id_count;     /* … for id_count ids (default 65536) */
	bool writable;	       /* writable rootfs (upper dir removed at destroy) */
	int netns_fd;	       /* -1: a new, empty network namespace */
	const char *cgroup;    /* below Forge's cgroup, e.g. "scn-1/learner"; required */
	const char *state_dir; /* writable rootfs only: upper/work live here; must not exist;
				 removed at destroy */
	int stdio[3];	       /* fds for 0,1,2; -1 means /dev/null */
	int log_fd;	       /* >= 0: the command's stdout and stderr go through init into
				  this file (opened for append), which init keeps under
				  log_limit bytes; stdio[1] and stdio[2] are then unused.
				  Independent of the launcher: it outlives it. */
	uint64_t log_limit;
	uint64_t tmpfs_bytes;  /* size of /tmp, /run and /dev/shm each */
	enum forge_seccomp_mode seccomp_mode;
	bool die_with_parent;	    /* SIGKILL init when the launching process dies */
	forge_prestart_fn prestart; /* optional */
	void *prestart_ctx;
};

/* Defaults: no limits, no caps, ids 65536, netns -1, stdio -1, tmpfs 64 MiB. */
void forge_container_spec_init(struct forge_container_spec *spec);
/* Everything that can be checked before any kernel object exists. */
int forge_container_spec_validate(const struct forge_container_spec *spec, struct forge_err *err);

/* ------------------------------------------------------------- the runtime */

struct forge_runtime_config {
	const char *prefix;	 /* kernel object prefix ("forge") */
	const char *cgroup_root; /* cgroup fs mount, default "/sys/fs/cgroup" */
	const char *run_dir;	 /* Forge's run dir (holds the base layer), default "/run/forge" */
};

struct forge_runtime;

/* Detects the cgroup layout and finds Forge's own cgroup. The seccomp
 * profile is compiled once, at build time; every container loads that BPF. */
int forge_runtime_open(struct forge_runtime **out, const struct forge_runtime_config *cfg,
		       struct forge_err *err);
void forge_runtime_close(struct forge_runtime *rt);
/* "v2" or "v1" */
const char *forge_runtime_cgroup_mode(const struct forge_runtime *rt);
/* Number of syscalls the profile allows (for reports). */
unsigned forge_runtime_seccomp_allowed(const struct forge_runtime *rt);
/* sha256 hex of the embedded seccomp profile text. */
const char *forge_runtime_seccomp_sha256(const struct forge_runtime *rt);

/* ------------------------------------------------------------- containers */

struct forge_exit_status {
	bool exited;	    /* command exited: code is valid */
	int code;	    /* exit code */
	int signal;	    /* or the signal that killed it */
	uint64_t oom_kills; /* OOM kills counted in the container's cgroup */
	int exec_errno;	    /* the command could not be executed (ENOENT, EACCES, …) */
	char message[256];  /* why, when exec_errno is set: "exec \"foo\": No such file…" */
};

/* Builds and starts the container; returns once the command has been exec'd.
 * A command that cannot be executed is not a start failure: the container
 * then ends at once and forge_container_wait reports exec_errno and message.
 * On failure nothing is left behind. */
int forge_container_start(struct forge_runtime *rt, const struct forge_container_spec *spec,
			  struct forge_container **out, struct forge_err *err);
/* The same in two halves, so that a caller can start several containers at
 * once: launch returns once init has its rootfs and is setting up (nothing
 * left behind on failure); await waits until the command has been exec'd.
 * When await fails the caller destroys c. */
int forge_container_launch(struct forge_runtime *rt, const struct forge_container_spec *spec,
			   struct forge_container **out, struct forge_err *err);
int forge_container_await(struct forge_container *c, struct forge_err *err);
pid_t forge_container_pid(const struct forge_container *c); /* init, host pid */
int forge_container_pidfd(const struct forge_container *c); /* readable when init exits */
bool forge_container_idmapped(const struct forge_container *c);
/* Waits for the command to finish, up to timeout_ms (-1: forever).
 * Returns 0 with *st filled, -ETIMEDOUT, or another -errno. */
int forge_container_wait(struct forge_container *c, int timeout_ms, struct forge_exit_status *st,
			 struct forge_err *err);
/* Sends sig to the command (through init, which forwards it). */
int forge_container_signal(struct forge_container *c, int sig, struct forge_err *err);
/* SIGTERM, up to grace_ms, then SIGKILL through the pidfd; waits. */
int forge_container_stop(struct forge_container *c, int grace_ms, struct forge_exit_status *st,
			 struct forge_err *err);
/* Kills whatever still runs, waits, removes the cgroup and the state dir and
 * frees c. Works on a container in any state; c may be NULL. */
int forge_container_destroy(struct forge_container *c, struct forge_err *err);
/* Frees the handle and leaves the container running (a supervisor stopping
 * for a restart that will adopt it). c may be NULL. */
void forge_container_release(struct forge_container *c);
/* Isolation report: namespaces (inode numbers), uid/gid maps, cgroup path and
 * limits, capabilities, seccomp, rootfs. New reference. */
json_t *forge_container_report(const struct forge_container *c);

/* ------------------------------------------------------------- restart */

/* What a supervisor journals about a container to find it again after a
 * restart: the pid with its start time (so a reused pid is never mistaken for
 * it), the cgroup, and how it is confined (exec applies the same). */
struct forge_container_record {
	char name[64];
	pid_t pid;
	uint64_t start_time; /* /proc/<pid>/stat field 22, clock ticks since boot */
	char cgroup[FORGE_PATH_MAX];
	uint64_t caps;
	enum forge_seccomp_mode seccomp_mode;
	uid_t host_uid;
	gid_t host_gid;
	uint32_t id_count;
};
int forge_container_record(const struct forge_container *c, struct forge_container_record *rec,
			   struct forge_err *err);
/* Takes over a container an earlier supervisor started: opens a pidfd, then
 * checks the start time and the cgroup (-ESRCH when the process is gone or
 * is another one). exec, signal, stop and destroy work on the result; its
 * exit status is unknown (it is not our child). */
int forge_container_adopt(struct forge_runtime *rt, const struct forge_container_record *rec,
			  struct forge_container **out, struct forge_err *err);
/* Kills and removes every container cgroup under Forge's cgroup whose
 * scenario/container keep() does not claim (container NULL: the scenario's
 * own directory); appends "cgroup:<rel>" for each removed to removed. */
int forge_runtime_sweep(struct forge_runtime *rt,
			bool (*keep)(void *ctx, const char *scenario, const char *container),
			void *ctx, json_t *removed, struct forge_err *err);
/* Kills and removes every cgroup of one scenario (<prefix>/<scenario>/…):
 * what a teardown does for containers whose handle or record it lacks. */
int forge_runtime_remove_scenario(struct forge_runtime *rt, const char *scenario,
				  struct forge_err *err);
/* Field 22 of /proc/<pid>/stat. */
int forge_proc_start_time(pid_t pid, uint64_t *out, struct forge_err *err);

/* ------------------------------------------------------------- exec */

struct forge_exec_spec {
	const char *const *argv; /* NULL-terminated */
	const char *const *envp; /* NULL: a fixed minimal env (PATH, HOME) */
	const char *cwd;	 /* default "/" */
	int timeout_ms;		 /* > 0; the command's process group is killed after it */
	size_t output_limit;	 /* bytes kept per stream; the rest is read and dropped */
	int stdin_fd;		 /* -1: /dev/null */
	/* tty: a new pty of the container's own devpts is the command's stdin,
	 * stdout, stderr and controlling terminal (nothing captured; stdin_fd
	 * must be -1). Its master goes to tty_master before the command runs;
	 * the callee may use it until forge_container_exec returns. */
	bool tty;
	void (*tty_master)(void *ctx, int master);
	void *tty_ctx;
};

struct forge_exec_result {
	bool exited;
	int code;
	int signal;
	bool timed_out;
	char *out;
	size_t out_len;
	bool out_truncated; /* NUL-terminated */
	char *err;
	size_t err_len;
	bool err_truncated;
};

/* Runs a command inside a running container: joins all its namespaces and
 * its cgroup, applies the same capabilities, no_new_privs and seccomp,
 * captures bounded stdout/stderr, kills its process group at the timeout.
 * Once the command has exited, output from background children it left is
 * read for a short moment more and then the group is killed. A command that
 * cannot be run is a result (exit 127/126 with the reason on stderr). */
int forge_container_exec(struct forge_container *c, const struct forge_exec_spec *spec,
			 struct forge_exec_result *res, struct forge_err *err);
void forge_exec_result_free(struct forge_exec_result *res);

/* ------------------------------------------------------------- helpers */

/* Parses "512M", "1G", "1048576" (bytes); rejects 0 and garbage. */
int forge_parse_bytes(const char *s, uint64_t *out, struct forge_err *err);

#endif /* FORGE_RUNTIME_H */
