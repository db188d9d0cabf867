/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container launcher (runtime/runtime.h) through its public API, as root,
 * against real namespaces, cgroups and mounts: what a command sees inside a
 * container and through forge_container_exec, stop/kill, the memory, pids and
 * cpu limits, spec validation, start failures, writable and read-only rootfs,
 * and joining an existing network namespace.
 *
 * After every test a teardown destroys what the test started and checks that
 * nothing is left: mounts, cgroup directories (the leaves and Forge's base),
 * state dirs, temp files, child processes and file descriptors, compared
 * with a snapshot taken before the test.
 *
 * Runs where the repo is read-only (the qemu VM): the rootfs comes from
 * FORGE_TEST_ROOTFS or <binary>/../../rootfs/busybox, all state goes to a
 * mkdtemp under $TMPDIR (default /tmp). The runtime uses a per-run kernel
 * object prefix, so its cgroup base belongs to this run alone and other
 * Forge instances on the machine do not disturb the leak checks; for the same
 * reason the binary works in a private copy of the mount namespace (any
 * mount the launcher left behind in its own namespace still shows there).
 *
 * No assertion depends on wall-clock time: time bounds only turn a hang into
 * a failure.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sys/capability.h>

#include "runtime/runtime.h"

#define MAX_CTR	   8
#define MAX_LEAVES (MAX_CTR * 3)
#define MAX_BASES  8
#define WAIT_MS	   60000 /* bounds a wait that must end: a hang fails, never blocks */
#define EXEC_MS	   30000 /* same, for exec'd commands that end by themselves */
#define OUT_LIMIT  65536

#define expect_true(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg(__VA_ARGS__);                                                     \
	} while (0)

/* ---------------------------------------------------------------- state */

static struct {
	struct forge_runtime *rt;
	char rootfs[PATH_MAX];
	char tmp[PATH_MAX - 64]; /* room for "/state-N" in a FORGE_PATH_MAX buffer */
	char self_exe[PATH_MAX];
	unsigned seq;			       /* containers made: unique names, dirs, ids */
	char bases[MAX_BASES][FORGE_PATH_MAX]; /* Forge's cgroup base dirs, learned from reports */
	int nbases;
} G;

struct snapshot {
	long mounts;
	long fds;
	char *tmp_entries;
};

/* What the running test made, for the teardown to destroy and check. */
static struct {
	struct forge_container *c[MAX_CTR];
	int nc;
	char states[MAX_CTR][FORGE_PATH_MAX];
	int nstates;
	char leaves[MAX_LEAVES][FORGE_PATH_MAX];
	int nleaves;
	int fds[8]; /* descriptors the test opened: closed by the teardown if still open */
	struct snapshot before;
} T;

/* A container spec with the storage it points to. */
struct ctr {
	struct forge_container_spec s;
	const char *lower[1];
	char name[32];
	char cgroup[32];
	char state[FORGE_PATH_MAX];
};

/* ---------------------------------------------------------------- small helpers */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool path_exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0 || errno != ENOENT;
}

static long count_lines(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long n = 0;
	int ch;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted, one per line (malloc'd). */
static char *list_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return strdup("<unreadable>");
	char *names[256] = {NULL};
	size_t n = 0, total = 1;
	struct dirent *e;
	while ((e = readdir(d)) && n < 256) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		names[n] = strdup(e->d_name);
		if (names[n])
			total += strlen(names[n++]) + 1;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	char *out = calloc(1, total);
	for (size_t i = 0; i < n; i++) {
		if (out) {
			strcat(out, names[i]);
			strcat(out, "\n");
		}
		free(names[i]);
	}
	return out;
}

/* Child processes of this process (zombies included): pids into out. */
static int list_children(pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	int n = 0;
	pid_t self = getpid();
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		char path[300], buf[1024];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		/* pid (comm) state ppid … — comm may contain anything but ends at the last ')'. */
		char *rp = strrchr(buf, ')');
		char st;
		int ppid;
		if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == self)
			out[n++] = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return n;
}

static void snapshot_take(struct snapshot *s)
{
	s->mounts = count_lines("/proc/self/mountinfo");
	s->fds = count_fds();
	s->tmp_entries = list_dir(G.tmp);
}

/* Remembers fd for the teardown; returns it. */
static int track_fd(int fd)
{
	for (size_t i = 0; fd >= 0 && i < sizeof(T.fds) / sizeof(T.fds[0]); i++)
		if (T.fds[i] < 0) {
			T.fds[i] = fd;
			break;
		}
	return fd;
}

static void close_fd(int fd)
{
	for (size_t i = 0; i < sizeof(T.fds) / sizeof(T.fds[0]); i++)
		if (T.fds[i] == fd)
			T.fds[i] = -1;
	close(fd);
}

static void pipe_tracked(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	track_fd(p[0]);
	track_fd(p[1]);
}

/* ---------------------------------------------------------------- containers */

static void track_state(const char *dir)
{
	if (T.nstates < MAX_CTR)
		snprintf(T.states[T.nstates++], FORGE_PATH_MAX, "%s", dir);
}

/* Records the container's cgroup leaves and Forge's base dirs (their
 * parents: every test cgroup is one level below the base). */
static void track_cgroups(struct forge_container *c)
{
	json_t *rep = forge_container_report(c);
	json_t *paths = json_object_get(json_object_get(rep, "cgroup"), "paths");
	size_t i;
	json_t *p;
	json_array_foreach(paths, i, p)
	{
		const char *leaf = json_string_value(p);
		if (!leaf || T.nleaves >= MAX_LEAVES)
			continue;
		snprintf(T.leaves[T.nleaves++], FORGE_PATH_MAX, "%s", leaf);
		char base[FORGE_PATH_MAX];
		snprintf(base, sizeof(base), "%s", leaf);
		char *slash = strrchr(base, '/');
		if (!slash || slash == base)
			continue;
		*slash = '\0';
		bool known = false;
		for (int b = 0; b < G.nbases; b++)
			known |= strcmp(G.bases[b], base) == 0;
		if (!known && G.nbases < MAX_BASES)
			snprintf(G.bases[G.nbases++], FORGE_PATH_MAX, "%s", base);
	}
	json_decref(rep);
}

static void ctr_init(struct ctr *k, const char *const *argv)
{
	unsigned n = ++G.seq;
	char rnd[9];

	forge_container_spec_init(&k->s);
	forge_random_hex(rnd, 8);
	snprintf(k->name, sizeof(k->name), "it%u", n);
	snprintf(k->cgroup, sizeof(k->cgroup), "it-%s", rnd);
	snprintf(k->state, sizeof(k->state), "%s/state-%u", G.tmp, n);
	k->lower[0] = G.rootfs;
	k->s.name = k->name;
	k->s.lowerdirs = k->lower;
	k->s.n_lowerdirs = 1;
	k->s.argv = argv;
	k->s.cgroup = k->cgroup;
	k->s.state_dir = k->state;
	k->s.host_uid = k->s.host_gid = 200000 + (n % 64) * 65536;
	k->s.die_with_parent = true;
	track_state(k->state);
}

static int try_start(struct ctr *k, struct forge_container **out, struct forge_err *err)
{
	forge_err_clear(err);
	*out = NULL;
	int rc = forge_container_start(G.rt, &k->s, out, err);
	if (rc == 0 && *out) {
		if (T.nc < MAX_CTR)
			T.c[T.nc++] = *out;
		track_cgroups(*out);
	}
	return rc;
}

static struct forge_container *start_ok(struct ctr *k)
{
	struct forge_err err;
	struct forge_container *c;
	int rc = try_start(k, &c, &err);
	expect_true(rc == 0 && c, "forge_container_start(%s): rc %d: %s", k->name, rc, err.msg);
	return c;
}

/* Destroys c now (the test wants to look at what destroy leaves). */
static void destroy_ok(struct forge_container *c)
{
	struct forge_err err;
	forge_err_clear(&err);
	for (int i = 0; i < T.nc; i++)
		if (T.c[i] == c)
			T.c[i] = T.c[--T.nc];
	int rc = forge_container_destroy(c, &err);
	expect_true(rc == 0, "forge_container_destroy: rc %d: %s", rc, err.msg);
}

static void wait_ok(struct forge_container *c, struct forge_exit_status *st)
{
	struct forge_err err;
	forge_err_clear(&err);
	int rc = forge_container_wait(c, WAIT_MS, st, &err);
	expect_true(rc == 0, "forge_container_wait: rc %d: %s", rc, err.msg);
}

/* The report value at a dotted path ("cgroup.cpu.nr_throttled") as an
 * integer (integers and numeric strings, as cgroup knobs are reported);
 * -1 when missing or null. */
static long long report_int(struct forge_container *c, const char *path)
{
	json_t *rep = forge_container_report(c);
	json_t *v = rep;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	long long out = -1;
	if (json_is_integer(v))
		out = (long long)json_integer_value(v);
	else if (json_is_string(v) && json_string_value(v)[0] >= '0' &&
		 json_string_value(v)[0] <= '9')
		out = strtoll(json_string_value(v), NULL, 10);
	json_decref(rep);
	return out;
}

/* The report value at a dotted path as a string (malloc'd), NULL when absent. */
static char *report_str(struct forge_container *c, const char *path)
{
	json_t *rep = forge_container_report(c);
	json_t *v = rep;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	char *out = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
	json_decref(rep);
	return out;
}

/* Reads "key N" from a flat-keyed file in a cgroup dir; -1 when absent. */
static long long cgroup_keyed(const char *dir, const char *file, const char *key)
{
	char path[FORGE_PATH_MAX + 64], line[256];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long long out = -1;
	size_t klen = strlen(key);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			out = strtoll(line + klen + 1, NULL, 10);
	fclose(f);
	return out;
}

/* ---------------------------------------------------------------- exec */

static struct forge_exec_spec exec_spec(const char *const *argv)
{
	return (struct forge_exec_spec){
	    .argv = argv, .timeout_ms = EXEC_MS, .output_limit = OUT_LIMIT, .stdin_fd = -1};
}

static void exec_ok(struct forge_container *c, const struct forge_exec_spec *es,
		    struct forge_exec_result *r)
{
	struct forge_err err;
	forge_err_clear(&err);
	int rc = forge_container_exec(c, es, r, &err);
	expect_true(rc == 0, "forge_container_exec(%s): rc %d: %s", es->argv[0], rc, err.msg);
}

static void exec_argv(struct forge_container *c, const char *const *argv,
		      struct forge_exec_result *r)
{
	struct forge_exec_spec es = exec_spec(argv);
	exec_ok(c, &es, r);
}

static void exec_sh(struct forge_container *c, const char *cmd, struct forge_exec_result *r)
{
	const char *const argv[] = {"/bin/sh", "-c", cmd, NULL};
	exec_argv(c, argv, r);
}

/* Runs cmd and requires exit 0; returns stdout (owned by r). */
static const char *exec_sh_ok(struct forge_container *c, const char *cmd,
			      struct forge_exec_result *r)
{
	exec_sh(c, cmd, r);
	expect_true(r->exited && r->code == 0 && !r->timed_out,
		    "`%s`: exited %d code %d signal %d timed_out %d; stdout \"%s\" stderr \"%s\"",
		    cmd, r->exited, r->code, r->signal, r->timed_out, r->out, r->err);
	return r->out;
}

/* Removes G.tmp/name and everything below it. */
static void remove_in_tmp(const char *name)
{
	int dfd = open(G.tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		forge_remove_tree(dfd, name, NULL);
		close(dfd);
	}
}

/* Removes what G.tmp holds beyond the names listed in keep ("a\nb\n"). */
static void clear_tmp_except(const char *keep)
{
	DIR *d = opendir(G.tmp);
	if (!d)
		return;
	char names[64][NAME_MAX + 1];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		bool kept = false;
		size_t len = strlen(e->d_name);
		for (const char *p = keep; p && *p;
		     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
			kept |= strncmp(p, e->d_name, len) == 0 && p[len] == '\n';
		if (!kept)
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		remove_in_tmp(names[i]);
}

/* rmdir a cgroup, retrying while the kernel finishes exiting its tasks. */
static void rmdir_cgroup(const char *path)
{
	for (int i = 0; i < 200; i++) {
		if (rmdir(path) == 0 || errno != EBUSY)
			return;
		sleep_ms(10);
	}
}

/* ---------------------------------------------------------------- fixtures */

static int group_setup(void **state)
{
	(void)state;
	struct forge_err err;
	char prefix[9];

	if (geteuid() != 0) {
		fprintf(stderr, "test_runtime: needs root (real namespaces and cgroups)\n");
		return -1;
	}
	ssize_t n = readlink("/proc/self/exe", G.self_exe, sizeof(G.self_exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "test_runtime: readlink /proc/self/exe: %s\n", strerror(errno));
		return -1;
	}
	G.self_exe[n] = '\0';
	char guess[PATH_MAX + 32];
	const char *want = getenv("FORGE_TEST_ROOTFS");
	if (!want || !*want) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", G.self_exe);
		*strrchr(dir, '/') = '\0';
		snprintf(guess, sizeof(guess), "%s/../../rootfs/busybox", dir);
		want = guess;
	}
	if (!realpath(want, G.rootfs)) {
		fprintf(
		    stderr,
		    "test_runtime: rootfs %s: %s (run `make rootfs` or set FORGE_TEST_ROOTFS)\n",
		    want, strerror(errno));
		return -1;
	}
	const char *tmpdir = getenv("TMPDIR");
	snprintf(G.tmp, sizeof(G.tmp), "%s/forge-it-runtime.XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(G.tmp)) {
		fprintf(stderr, "test_runtime: mkdtemp %s: %s\n", G.tmp, strerror(errno));
		G.tmp[0] = '\0';
		return -1;
	}
	/* The container's init (host uid host_uid) opens <state dir>/root
	 * itself: the state dir's parents must be searchable by it. */
	if (chmod(G.tmp, 0711) < 0) {
		fprintf(stderr, "test_runtime: chmod %s: %s\n", G.tmp, strerror(errno));
		goto fail;
	}
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "test_runtime: private mount namespace: %s\n", strerror(errno));
		goto fail;
	}
	if (forge_crypto_init() < 0) {
		fprintf(stderr, "test_runtime: libsodium initialisation failed\n");
		goto fail;
	}
	/* A prefix of this run's own: [a-z][a-z0-9]{0,7}. */
	prefix[0] = 't';
	forge_random_hex(prefix + 1, 7);
	/* The base layer goes below our temp dir too, not into the host's /run. */
	static char run_dir[PATH_MAX];
	snprintf(run_dir, sizeof(run_dir), "%s/run", G.tmp);
	struct forge_runtime_config cfg = {.prefix = prefix, .run_dir = run_dir};
	forge_err_clear(&err);
	if (forge_runtime_open(&G.rt, &cfg, &err) < 0) {
		fprintf(stderr, "test_runtime: forge_runtime_open: %s\n", err.msg);
		goto fail;
	}
	printf("# rootfs %s, state %s, cgroup %s, prefix %s\n", G.rootfs, G.tmp,
	       forge_runtime_cgroup_mode(G.rt), prefix);
	return 0;
fail:
	rmdir(G.tmp);
	G.tmp[0] = '\0';
	return -1;
}

static int group_teardown(void **state)
{
	(void)state;
	forge_runtime_close(G.rt);
	G.rt = NULL;
	if (!G.tmp[0])
		return 0;     /* the group setup failed before making it */
	remove_in_tmp("run"); /* the runtime's run dir: its base layer */
	if (rmdir(G.tmp) < 0) {
		fprintf(stderr, "LEAK: rmdir %s: %s\n", G.tmp, strerror(errno));
		clear_tmp_except("");
		rmdir(G.tmp);
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	(void)state;
	memset(&T, 0, sizeof(T));
	for (size_t i = 0; i < sizeof(T.fds) / sizeof(T.fds[0]); i++)
		T.fds[i] = -1;
	snapshot_take(&T.before);
	return 0;
}

#define leak(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "LEAK: " __VA_ARGS__);                                             \
		fputc('\n', stderr);                                                               \
		bad = true;                                                                        \
	} while (0)

/* Destroys what the test left running, then compares with the snapshot. */
static int teardown(void **state)
{
	(void)state;
	bool bad = false;
	struct forge_err err;

	for (int i = 0; i < T.nc; i++) {
		forge_err_clear(&err);
		if (forge_container_destroy(T.c[i], &err) < 0)
			leak("forge_container_destroy: %s", err.msg);
	}
	T.nc = 0;
	for (size_t i = 0; i < sizeof(T.fds) / sizeof(T.fds[0]); i++)
		if (T.fds[i] >= 0)
			close(T.fds[i]);

	/* Each leak is reported, then cleared away so that the next test
	 * starts clean and reports only its own. */
	pid_t kids[64];
	int nk = list_children(kids, 64);
	for (int i = 0; i < nk; i++) {
		char path[64], comm[64] = "?";
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)kids[i]);
		FILE *f = fopen(path, "re");
		if (f) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		leak("child process %d (%s) still exists", (int)kids[i], comm);
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	for (int i = 0; i < T.nstates; i++)
		if (path_exists(T.states[i])) {
			leak("state dir %s still exists", T.states[i]);
			remove_in_tmp(strrchr(T.states[i], '/') + 1);
		}
	for (int i = 0; i < T.nleaves; i++)
		if (path_exists(T.leaves[i])) {
			leak("cgroup %s still exists", T.leaves[i]);
			rmdir_cgroup(T.leaves[i]);
		}
	/* The prefix is this run's own: with no container left, its base goes too. */
	for (int i = 0; i < G.nbases; i++)
		if (path_exists(G.bases[i])) {
			leak("cgroup base %s still exists with no container left", G.bases[i]);
			rmdir_cgroup(G.bases[i]);
		}

	struct snapshot after;
	snapshot_take(&after);
	if (after.mounts != T.before.mounts)
		leak("mountinfo has %ld lines, %ld before the test", after.mounts, T.before.mounts);
	if (after.fds != T.before.fds)
		leak("%ld open file descriptors, %ld before the test", after.fds, T.before.fds);
	if (!after.tmp_entries || !T.before.tmp_entries ||
	    strcmp(after.tmp_entries, T.before.tmp_entries) != 0) {
		leak("%s holds [%s], held [%s] before the test", G.tmp,
		     after.tmp_entries ? after.tmp_entries : "?",
		     T.before.tmp_entries ? T.before.tmp_entries : "?");
		clear_tmp_except(T.before.tmp_entries);
	}
	free(after.tmp_entries);
	free(T.before.tmp_entries);
	T.before.tmp_entries = NULL;
	return bad ? -1 : 0;
}

/* ================================================================ exec: what it sees */

static const char *const SLEEP30[] = {"/bin/sleep", "30", NULL};

static void test_exec_sees_own_processes(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	ctr_init(&k, SLEEP30);
	struct forge_container *c = start_ok(&k);

	const char *const ps[] = {"ps", NULL};
	exec_argv(c, ps, &r);
	expect_true(r.exited && r.code == 0, "ps: code %d, stderr \"%s\"", r.code, r.err);
	bool init = false, sleeper = false, self = false;
	int lines = 0;
	char *save = NULL;
	for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int pid, off = 0;
		char user[64];
		if (sscanf(line, "%d %63s %n", &pid, user, &off) < 2 || off == 0)
			continue; /* the header */
		char *cmd = line + off;
		cmd[strcspn(cmd, "\r")] = '\0';
		for (size_t l = strlen(cmd); l && cmd[l - 1] == ' '; l--)
			cmd[l - 1] = '\0';
		lines++;
		if (pid == 1 && strcmp(cmd, "forge-init") == 0)
			init = true;
		else if (strcmp(cmd, "/bin/sleep 30") == 0)
			sleeper = true;
		else if (strcmp(cmd, "ps") == 0)
			self = true;
		else
			fail_msg("ps inside the container shows a foreign process: %d %s", pid,
				 cmd);
		expect_true(strcmp(user, "root") == 0, "process %d runs as %s, not root", pid,
			    user);
	}
	expect_true(init, "ps: no forge-init as PID 1");
	expect_true(sleeper, "ps: the container's sleep 30 is not listed");
	expect_true(self, "ps: ps itself is not listed");
	assert_int_equal(lines, 3);
	forge_exec_result_free(&r);

	const char *const cmdline[] = {"cat", "/proc/1/cmdline", NULL};
	exec_argv(c, cmdline, &r);
	expect_true(
	    r.exited && r.code == 0 && r.out_len >= 11 && memcmp(r.out, "forge-init\0", 11) == 0,
	    "/proc/1/cmdline is \"%s\" (%zu bytes), stderr \"%s\"", r.out, r.out_len, r.err);
	forge_exec_result_free(&r);
}

static void test_exec_sees_own_filesystem_and_identity(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	ctr_init(&k, SLEEP30);
	struct forge_container *c = start_ok(&k);

	const char *out = exec_sh_ok(c, "ls /", &r);
	expect_true(strstr(out, "bin\n") && strstr(out, "proc\n") && strstr(out, "tmp\n"),
		    "ls / shows \"%s\"", out);
	forge_exec_result_free(&r);
	exec_sh_ok(c, "test -x /bin/busybox", &r);
	forge_exec_result_free(&r);

	/* Host paths that certainly exist here are absent inside. */
	const char *host_paths[] = {G.tmp, G.rootfs, G.self_exe, "/work", NULL};
	for (const char **p = host_paths; *p; p++) {
		if (!path_exists(*p))
			continue;
		const char *const argv[] = {"/bin/sh", "-c", "test -e \"$1\"", "sh", *p, NULL};
		exec_argv(c, argv, &r);
		expect_true(r.exited && r.code == 1, "host path %s: `test -e` gives code %d", *p,
			    r.code);
		forge_exec_result_free(&r);
	}

	/* Image files owned by host root: container root's with idmapped
	 * layers, the overflow id (nobody) in the documented fallback. */
	const char *owner = forge_container_idmapped(c) ? "0:0\n" : "65534:65534\n";
	assert_string_equal(exec_sh_ok(c, "stat -c %u:%g /bin/busybox", &r), owner);
	forge_exec_result_free(&r);
	json_t *rep = forge_container_report(c);
	json_t *idm = json_object_get(json_object_get(rep, "rootfs"), "idmapped");
	bool idm_ok = json_is_boolean(idm) && json_is_true(idm) == forge_container_idmapped(c);
	json_decref(rep);
	assert_true(idm_ok);
	assert_string_equal(exec_sh_ok(c, "id -u; id -g", &r), "0\n0\n");
	forge_exec_result_free(&r);
	char want[64];
	snprintf(want, sizeof(want), "%s\n", k.name);
	assert_string_equal(exec_sh_ok(c, "hostname", &r), want);
	forge_exec_result_free(&r);

	/* Container root is host_uid seen from the host. */
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)forge_container_pid(c));
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	bool uid_ok = false, gid_ok = false;
	char uid_want[128], gid_want[128];
	unsigned id = (unsigned)k.s.host_uid;
	snprintf(uid_want, sizeof(uid_want), "Uid:\t%u\t%u\t%u\t%u\n", id, id, id, id);
	snprintf(gid_want, sizeof(gid_want), "Gid:\t%u\t%u\t%u\t%u\n", id, id, id, id);
	while (fgets(line, sizeof(line), f)) {
		uid_ok |= strcmp(line, uid_want) == 0;
		gid_ok |= strcmp(line, gid_want) == 0;
	}
	fclose(f);
	expect_true(uid_ok && gid_ok, "init (host pid %d) does not run as %u:%u on the host",
		    (int)forge_container_pid(c), id, id);
	char *map = report_str(c, "uid_map");
	snprintf(want, sizeof(want), "0 %u 65536", id);
	expect_true(map && strcmp(map, want) == 0, "report uid_map \"%s\", want \"%s\"",
		    map ? map : "(null)", want);
	free(map);

	/* Every namespace is the container's own. */
	static const char *const ns[] = {"user", "mnt", "pid", "uts", "ipc", "net", "cgroup"};
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		struct stat st;
		char key[32];
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
		assert_int_equal(stat(path, &st), 0);
		snprintf(key, sizeof(key), "namespaces.%s", ns[i]);
		long long ino = report_int(c, key);
		expect_true(ino > 0 && (unsigned long long)ino != (unsigned long long)st.st_ino,
			    "%s namespace: container %lld, test process %llu", ns[i], ino,
			    (unsigned long long)st.st_ino);
	}
	char *netns = report_str(c, "netns");
	expect_true(netns && strcmp(netns, "new") == 0, "report netns \"%s\"",
		    netns ? netns : "(null)");
	free(netns);
}

static void test_exec_exit_code_streams_cwd_env(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	ctr_init(&k, SLEEP30);
	struct forge_container *c = start_ok(&k);

	exec_sh(c, "echo out; echo err >&2; exit 3", &r);
	assert_true(r.exited);
	assert_false(r.timed_out);
	assert_int_equal(r.code, 3);
	assert_string_equal(r.out, "out\n");
	assert_int_equal(r.out_len, 4);
	assert_string_equal(r.err, "err\n");
	assert_int_equal(r.err_len, 4);
	assert_false(r.out_truncated);
	assert_false(r.err_truncated);
	forge_exec_result_free(&r);

	/* A command killed by a signal reports the signal, not an exit. */
	exec_sh(c, "kill -USR1 $$", &r);
	assert_false(r.exited);
	assert_int_equal(r.signal, SIGUSR1);
	forge_exec_result_free(&r);

	const char *const argv[] = {"/bin/sh", "-c", "echo \"$GREETING\"; pwd; echo \"$HOME\"",
				    NULL};
	const char *const envp[] = {"PATH=/bin:/usr/bin", "GREETING=hello there", NULL};
	struct forge_exec_spec es = exec_spec(argv);
	es.envp = envp;
	es.cwd = "/tmp";
	exec_ok(c, &es, &r);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.out, "hello there\n/tmp\n\n");
	forge_exec_result_free(&r);

	/* stdin_fd feeds the command. */
	int p[2];
	pipe_tracked(p);
	assert_int_equal(write(p[1], "from stdin\n", 11), 11);
	close_fd(p[1]);
	const char *const cat[] = {"cat", NULL};
	es = exec_spec(cat);
	es.stdin_fd = p[0];
	exec_ok(c, &es, &r);
	close_fd(p[0]);
	assert_string_equal(r.out, "from stdin\n");
	forge_exec_result_free(&r);
}

static void test_exec_output_bounded(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	ctr_init(&k, SLEEP30);
	struct forge_container *c = start_ok(&k);

	const char *const argv[] = {"head", "-c", "1000000", "/dev/zero", NULL};
	struct forge_exec_spec es = exec_spec(argv);
	es.output_limit = 4096;
	exec_ok(c, &es, &r);
	/* The rest was read and dropped: head wrote everything and exited 0. */
	expect_true(r.exited && r.code == 0, "head: exited %d code %d signal %d", r.exited, r.code,
		    r.signal);
	assert_int_equal(r.out_len, 4096);
	assert_true(r.out_truncated);
	assert_int_equal(r.err_len, 0);
	assert_false(r.err_truncated);
	forge_exec_result_free(&r);

	/* Both streams bounded independently. */
	exec_sh(c, "head -c 10000 /dev/zero >&2; echo short", &r);
	assert_string_equal(r.out, "short\n");
	assert_false(r.out_truncated);
	assert_int_equal(r.err_len, OUT_LIMIT < 10000 ? OUT_LIMIT : 10000);
	forge_exec_result_free(&r);
}

/* The ps lines of the container that contain needle. */
static int ps_count(struct forge_container *c, const char *needle)
{
	struct forge_exec_result r;
	const char *const ps[] = {"ps", "-o", "args", NULL};
	exec_argv(c, ps, &r);
	expect_true(r.exited && r.code == 0, "ps: code %d stderr \"%s\"", r.code, r.err);
	int n = 0;
	char *save = NULL;
	for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		n += strstr(line, needle) != NULL;
	forge_exec_result_free(&r);
	return n;
}

static void test_exec_timeout_kills_command(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	ctr_init(&k, SLEEP30);
	struct forge_container *c = start_ok(&k);

	const char *const argv[] = {"sleep", "100", NULL};
	struct forge_exec_spec es = exec_spec(argv);
	es.timeout_ms = 300;
	exec_ok(c, &es, &r); /* it returned */
	assert_true(r.timed_out);
	assert_false(r.exited);
	assert_int_equal(r.signal, SIGKILL);
	forge_exec_result_free(&r);
	assert_int_equal(ps_count(c, "sleep 100"), 0);

	/* The command's whole process group goes, background children too. */
	const char *const sh[] = {"/bin/sh", "-c", "sleep 101 & sleep 102", NULL};
	es = exec_spec(sh);
	es.timeout_ms = 300;
	exec_ok(c, &es, &r);
	assert_true(r.timed_out);
	forge_exec_result_free(&r);
	assert_int_equal(ps_count(c, "sleep 101"), 0);
	assert_int_equal(ps_count(c, "sleep 102"), 0);
	/* The container itself is untouched. */
	assert_int_equal(ps_count(c, "sleep 30"), 1);
}

static void test_exec_missing_command(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	ctr_init(&k, SLEEP30);
	struct forge_container *c = start_ok(&k);

	const char *const names[] = {"no-such-command-xyz", "/bin/no-such-command-xyz", NULL};
	for (const char *const *n = names; *n; n++) {
		const char *const argv[] = {*n, NULL};
		exec_argv(c, argv, &r);
		expect_true(r.exited && r.code == 127, "%s: exited %d code %d", *n, r.exited,
			    r.code);
		expect_true(strstr(r.err, *n) && strstr(r.err, "No such file or directory"),
			    "%s: stderr \"%s\"", *n, r.err);
		assert_int_equal(r.out_len, 0);
		forge_exec_result_free(&r);
	}
	/* Not executable: 126. */
	const char *const argv[] = {"/etc/passwd", NULL};
	exec_argv(c, argv, &r);
	expect_true(r.exited && r.code == 126, "/etc/passwd: exited %d code %d stderr \"%s\"",
		    r.exited, r.code, r.err);
	forge_exec_result_free(&r);
}

/* "Key:\tvalue" from the status text; "" when absent. */
static const char *status_field(const char *status, const char *key, char *buf, size_t bufsz)
{
	size_t klen = strlen(key);
	buf[0] = '\0';
	for (const char *line = status; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (len > klen + 1 && strncmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *v = line + klen + 1;
			while (*v == '\t' || *v == ' ')
				v++;
			snprintf(buf, bufsz, "%.*s", (int)(len - (size_t)(v - line)), v);
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	return buf;
}

/* What every exec'd process must show in /proc/self/status: no_new_privs,
 * a seccomp filter, and exactly the granted capabilities (hex mask). */
static void assert_confined(const char *status, const char *caps)
{
	char v[64];
	assert_string_equal(status_field(status, "NoNewPrivs", v, sizeof(v)), "1");
	assert_string_equal(status_field(status, "Seccomp", v, sizeof(v)), "2");
	assert_string_equal(status_field(status, "CapEff", v, sizeof(v)), caps);
	assert_string_equal(status_field(status, "CapPrm", v, sizeof(v)), caps);
	assert_string_equal(status_field(status, "CapBnd", v, sizeof(v)), caps);
	assert_string_equal(status_field(status, "CapAmb", v, sizeof(v)), "0000000000000000");
}

static void test_exec_confined(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	ctr_init(&k, SLEEP30);
	struct forge_container *c = start_ok(&k);

	assert_confined(exec_sh_ok(c, "cat /proc/self/status", &r), "0000000000000000");
	forge_exec_result_free(&r);

	/* Without NET_RAW no raw socket: busybox ping fails. */
	exec_sh(c, "ping -c 1 -W 1 127.0.0.1", &r);
	expect_true(r.exited && r.code != 0 && strstr(r.err, "permission denied"),
		    "ping without NET_RAW: code %d stderr \"%s\"", r.code, r.err);
	forge_exec_result_free(&r);
}

static void test_exec_granted_capability(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	ctr_init(&k, SLEEP30);
	k.s.caps = 1ULL << CAP_NET_RAW;
	struct forge_container *c = start_ok(&k);

	assert_confined(exec_sh_ok(c, "cat /proc/self/status", &r), "0000000000002000");
	forge_exec_result_free(&r);
	exec_sh_ok(c, "ping -c 1 -W 5 127.0.0.1", &r);
	forge_exec_result_free(&r);
}

static void test_exec_into_ended_container(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	struct forge_exit_status st;
	struct forge_err err;
	const char *const argv[] = {"/bin/true", NULL};
	ctr_init(&k, argv);
	struct forge_container *c = start_ok(&k);
	wait_ok(c, &st);
	assert_true(st.exited);
	assert_int_equal(st.code, 0);

	const char *const ls[] = {"ls", NULL};
	struct forge_exec_spec es = exec_spec(ls);
	forge_err_clear(&err);
	int rc = forge_container_exec(c, &es, &r, &err);
	assert_int_equal(rc, -ESRCH);
	expect_true(strstr(err.msg, "not running"), "exec into an ended container: \"%s\"",
		    err.msg);
}

/* ================================================================ the main command */

static void test_main_command_status_and_stdio(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exit_status st;
	int p[2];
	char buf[64] = "";

	pipe_tracked(p);
	const char *const argv[] = {"/bin/sh", "-c", "echo \"hello $WHO\"; exit 7", NULL};
	const char *const envp[] = {"WHO=world", NULL};
	ctr_init(&k, argv);
	k.s.envp = envp;
	k.s.stdio[1] = p[1];
	struct forge_container *c = start_ok(&k);
	close_fd(p[1]);
	wait_ok(c, &st);
	assert_true(st.exited);
	assert_int_equal(st.code, 7);
	assert_int_equal(st.exec_errno, 0);
	assert_int_equal(st.oom_kills, 0);
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close_fd(p[0]);
	assert_true(n > 0);
	assert_string_equal(buf, "hello world\n");

	const char *const killer[] = {"/bin/sh", "-c", "kill -USR1 $$", NULL};
	struct ctr k2;
	ctr_init(&k2, killer);
	c = start_ok(&k2);
	wait_ok(c, &st);
	assert_false(st.exited);
	assert_int_equal(st.signal, SIGUSR1);
}

static void test_main_command_exec_failure(void **state)
{
	(void)state;
	struct ctr k, k2;
	struct forge_exit_status st;

	const char *const nope[] = {"/nope", NULL};
	ctr_init(&k, nope);
	struct forge_container *c = start_ok(&k);
	wait_ok(c, &st);
	assert_int_equal(st.exec_errno, ENOENT);
	expect_true(strstr(st.message, "/nope"), "message \"%s\"", st.message);
	assert_true(st.exited);
	assert_int_equal(st.code, 127);

	const char *const t[] = {"/bin/true", NULL};
	ctr_init(&k2, t);
	k2.s.cwd = "/does-not-exist";
	c = start_ok(&k2);
	wait_ok(c, &st);
	assert_int_equal(st.exec_errno, ENOENT);
	expect_true(strstr(st.message, "chdir") && strstr(st.message, "/does-not-exist"),
		    "message \"%s\"", st.message);
}

/* The command's output goes through init into the log file, up to the
 * limit, counting what the file already held; the rest is dropped. */
static void test_log_through_init(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exit_status st;
	char path[PATH_MAX], buf[64] = "";
	snprintf(path, sizeof(path), "%s/ctr.log", G.tmp);
	int fd = track_fd(open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old\n", 4), 4);
	const char *const argv[] = {"/bin/sh", "-c",
				    "echo out; echo err >&2; yes | head -c 5000; exit 3", NULL};
	ctr_init(&k, argv);
	k.s.log_fd = fd;
	k.s.log_limit = 1000;
	struct forge_container *c = start_ok(&k);
	close_fd(fd);
	wait_ok(c, &st);
	assert_true(st.exited);
	assert_int_equal(st.code, 3);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	expect_true(sb.st_size == 1000, "log holds %lld bytes, not its 1000 limit",
		    (long long)sb.st_size);
	fd = track_fd(open(path, O_RDONLY | O_CLOEXEC));
	assert_true(read(fd, buf, 12) == 12);
	close_fd(fd);
	assert_string_equal(buf, "old\nout\nerr\n");
	assert_int_equal(unlink(path), 0);
}

/* ================================================================ stop */

static void test_stop_forwards_sigterm(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exit_status st, again;
	struct forge_err err;
	const char *const argv[] = {"/bin/sleep", "1000", NULL};
	ctr_init(&k, argv);
	struct forge_container *c = start_ok(&k);

	forge_err_clear(&err);
	assert_int_equal(forge_container_wait(c, 50, &st, &err), -ETIMEDOUT);
	/* A generous grace: sleep dies of the forwarded TERM long before it. */
	forge_err_clear(&err);
	int rc = forge_container_stop(c, 20000, &st, &err);
	expect_true(rc == 0, "stop: rc %d: %s", rc, err.msg);
	assert_false(st.exited);
	assert_int_equal(st.signal, SIGTERM);
	assert_int_equal(st.oom_kills, 0);

	wait_ok(c, &again);
	assert_int_equal(again.signal, SIGTERM);
	forge_err_clear(&err);
	assert_int_equal(forge_container_signal(c, SIGTERM, &err), -ESRCH);
}

/* Polls until path exists inside the container (a command's "ready"). */
static void await_file(struct forge_container *c, const char *path)
{
	struct forge_exec_result r;
	const char *const argv[] = {"/bin/sh", "-c", "test -e \"$1\"", "sh", path, NULL};
	int64_t until = now_ms() + EXEC_MS;
	for (;;) {
		exec_argv(c, argv, &r);
		bool ready = r.exited && r.code == 0;
		forge_exec_result_free(&r);
		if (ready)
			return;
		expect_true(now_ms() < until, "%s never appeared in the container", path);
		sleep_ms(20);
	}
}

static void test_signal_forwarded_to_command(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exit_status st;
	struct forge_err err;
	const char *const argv[] = {
	    "/bin/sh", "-c", "trap 'exit 5' USR1; touch /tmp/ready; sleep 1000 & wait", NULL};
	ctr_init(&k, argv);
	struct forge_container *c = start_ok(&k);
	await_file(c, "/tmp/ready");
	forge_err_clear(&err);
	int rc = forge_container_signal(c, SIGUSR1, &err);
	expect_true(rc == 0, "signal: rc %d: %s", rc, err.msg);
	wait_ok(c, &st);
	/* init passed USR1 on to the shell, whose trap decided the exit. */
	expect_true(st.exited && st.code == 5, "exited %d code %d signal %d", st.exited, st.code,
		    st.signal);
}

static void test_stop_kills_after_grace(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exit_status st;
	struct forge_err err;
	const char *const argv[] = {"/bin/sh", "-c", "trap '' TERM; touch /tmp/ready; sleep 1000",
				    NULL};
	ctr_init(&k, argv);
	struct forge_container *c = start_ok(&k);

	/* Only once the trap is in place does the test stand for anything. */
	await_file(c, "/tmp/ready");
	forge_err_clear(&err);
	int rc = forge_container_stop(c, 200, &st, &err);
	expect_true(rc == 0, "stop: rc %d: %s", rc, err.msg);
	assert_false(st.exited);
	assert_int_equal(st.signal, SIGKILL);
}

/* ================================================================ limits */

static void test_memory_limit_oom_kill(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exit_status st;
	const char *const argv[] = {
	    "/bin/sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}", NULL};
	ctr_init(&k, argv);
	k.s.limits.memory_bytes = 32ULL << 20;
	struct forge_container *c = start_ok(&k);
	assert_int_equal(report_int(c, "cgroup.memory.max"), 32LL << 20);
	wait_ok(c, &st);
	expect_true(st.oom_kills >= 1, "oom_kills %llu (exited %d code %d signal %d)",
		    (unsigned long long)st.oom_kills, st.exited, st.code, st.signal);
	assert_false(st.exited);
	assert_int_equal(st.signal, SIGKILL);
	assert_true(report_int(c, "cgroup.memory.oom_kill") >= 1);
}

static void test_cpu_quota_throttles(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exit_status st;
	struct forge_err err;
	const char *const argv[] = {"/bin/sh", "-c", "while :; do :; done", NULL};
	ctr_init(&k, argv);
	k.s.limits.cpu_quota_us = 10000;
	k.s.limits.cpu_period_us = 100000;
	struct forge_container *c = start_ok(&k);

	if (strcmp(forge_runtime_cgroup_mode(G.rt), "v2") == 0) {
		char *max = report_str(c, "cgroup.cpu.max");
		expect_true(max && strcmp(max, "10000 100000") == 0, "cpu.max \"%s\"",
			    max ? max : "(null)");
		free(max);
	} else {
		assert_int_equal(report_int(c, "cgroup.cpu.cfs_quota_us"), 10000);
		assert_int_equal(report_int(c, "cgroup.cpu.cfs_period_us"), 100000);
	}
	long long throttled = 0;
	int64_t until = now_ms() + 10000;
	while ((throttled = report_int(c, "cgroup.cpu.nr_throttled")) <= 0 && now_ms() < until)
		sleep_ms(50);
	expect_true(throttled > 0, "cgroup.cpu.nr_throttled is %lld", throttled);

	forge_err_clear(&err);
	int rc = forge_container_stop(c, 200, &st, &err);
	expect_true(rc == 0, "stop: rc %d: %s", rc, err.msg);
	assert_false(st.exited);
}

static void test_pids_limit(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	ctr_init(&k, SLEEP30);
	k.s.limits.pids = 16;
	struct forge_container *c = start_ok(&k);
	assert_int_equal(report_int(c, "cgroup.pids.max"), 16);

	/* Sleepers in sessions of their own outlive the shell (and its
	 * process group), so the cgroup stays full after the exec returns. */
	exec_sh(c, "for i in $(seq 1 50); do setsid sleep 30 >/dev/null 2>&1 & done", &r);
	expect_true(r.exited && r.code != 0 && strstr(r.err, "can't fork") &&
			strstr(r.err, "Resource temporarily unavailable"),
		    "fork bomb: exited %d code %d stderr \"%s\"", r.exited, r.code, r.err);
	forge_exec_result_free(&r);

	/* Never beyond the limit. How full it stays varies: busybox setsid
	 * forks once more when its caller leads a group, and those transient
	 * processes held slots while the shell was refused. */
	long long cur = report_int(c, "cgroup.pids.current");
	expect_true(cur >= 3 && cur <= 16, "pids.current %lld with pids.max 16", cur);
	/* The kernel counted the forks it refused. */
	json_t *rep = forge_container_report(c);
	json_t *paths = json_object_get(json_object_get(rep, "cgroup"), "paths");
	const char *dir = json_string_value(
	    json_array_get(paths, strcmp(forge_runtime_cgroup_mode(G.rt), "v2") == 0 ? 0 : 1));
	assert_non_null(dir);
	long long refused = cgroup_keyed(dir, "pids.events", "max");
	json_decref(rep);
	expect_true(refused >= 1, "pids.events max is %lld", refused);

	/* The host is fine: this process can still fork. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	cur = report_int(c, "cgroup.pids.current");
	expect_true(cur >= 3 && cur <= 16, "pids.current %lld with pids.max 16", cur);
}

/* ================================================================ rootfs */

static void test_writable_rootfs(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	char path[FORGE_PATH_MAX + 32], upper[FORGE_PATH_MAX + 32];
	ctr_init(&k, SLEEP30);
	k.s.writable = true;
	struct forge_container *c = start_ok(&k);

	assert_string_equal(exec_sh_ok(c, "echo x > /f && cat /f", &r), "x\n");
	forge_exec_result_free(&r);
	/* The write went to the container's own upper dir, not the image. */
	snprintf(path, sizeof(path), "%s/f", G.rootfs);
	assert_false(path_exists(path));
	snprintf(upper, sizeof(upper), "%s/upper/f", k.state);
	struct stat st;
	expect_true(lstat(upper, &st) == 0, "%s does not exist", upper);
	expect_true(st.st_uid == k.s.host_uid && st.st_gid == k.s.host_gid,
		    "%s is owned by %u:%u on the host, not %u:%u", upper, (unsigned)st.st_uid,
		    (unsigned)st.st_gid, (unsigned)k.s.host_uid, (unsigned)k.s.host_gid);
	char *rep_state = report_str(c, "rootfs.state_dir");
	expect_true(rep_state && strcmp(rep_state, k.state) == 0, "report state_dir \"%s\"",
		    rep_state ? rep_state : "(null)");
	free(rep_state);

	destroy_ok(c);
	assert_false(path_exists(k.state));
}

static void test_readonly_rootfs(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	ctr_init(&k, SLEEP30);
	struct forge_container *c = start_ok(&k);

	exec_sh(c, "touch /f", &r);
	expect_true(r.exited && r.code != 0 && strstr(r.err, "Read-only file system"),
		    "touch /f: code %d stderr \"%s\"", r.code, r.err);
	forge_exec_result_free(&r);
	assert_string_equal(exec_sh_ok(c, "echo y > /tmp/f && cat /tmp/f", &r), "y\n");
	forge_exec_result_free(&r);
}

/* ================================================================ network namespace */

/* Runs a host command in the calling thread's network namespace. */
static int run_host(const char *const *argv)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	int ws;
	if (waitpid(pid, &ws, 0) != pid)
		return -1;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The pre-start hook: a veth pair made from a scratch namespace of the test
 * with its peer as eth0 in the container's own new network namespace. */
struct prestart_ctx {
	int scratch; /* the scratch network namespace */
	int calls;
	bool fail;
};

static int veth_into_container(void *ctx, const struct forge_container *c, int netns_fd,
			       struct forge_err *err)
{
	struct prestart_ctx *x = ctx;
	struct stat st;
	char pid[16];
	x->calls++;
	if (fstat(netns_fd, &st) < 0)
		return forge_err_errno(err, errno, "prestart: fstat netns");
	if (x->fail)
		return forge_err_set(err, -EHOSTUNREACH, "prestart: refused on purpose");
	snprintf(pid, sizeof(pid), "%d", (int)forge_container_pid(c));
	int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (own < 0 || setns(x->scratch, CLONE_NEWNET) < 0)
		return forge_err_errno(err, errno, "prestart: enter the scratch netns");
	const char *argv[] = {"ip",   "link", "add",  "fitp0", "type", "veth",
			      "peer", "name", "eth0", "netns", pid,    NULL};
	int rc = run_host(argv);
	if (setns(own, CLONE_NEWNET) < 0)
		abort(); /* nothing else could be trusted from here on */
	close(own);
	return rc == 0 ? 0 : forge_err_set(err, -EIO, "prestart: ip link add exited %d", rc);
}

static void test_prestart_wires_own_netns(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	struct forge_container *c2 = NULL;
	struct forge_err err;
	struct prestart_ctx x = {.scratch = -1};

	int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(own >= 0);
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	x.scratch = track_fd(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
	if (setns(own, CLONE_NEWNET) < 0)
		abort();
	close(own);
	assert_true(x.scratch >= 0);

	/* The hook runs once, before the command; the container's root, granted
	 * NET_ADMIN, administers the namespace (it owns it). */
	ctr_init(&k, SLEEP30);
	k.s.caps = 1ULL << CAP_NET_ADMIN;
	k.s.prestart = veth_into_container;
	k.s.prestart_ctx = &x;
	struct forge_container *c = start_ok(&k);
	assert_int_equal(x.calls, 1);
	const char *out = exec_sh_ok(
	    c, "ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up && ip -4 -o addr show eth0",
	    &r);
	expect_true(strstr(out, "10.9.0.2/24"), "container ip addr: \"%s\"", out);
	forge_exec_result_free(&r);
	char *mode = report_str(c, "netns");
	expect_true(mode && strcmp(mode, "new") == 0, "report netns \"%s\"", mode ? mode : "");
	free(mode);

	/* A failing hook fails the start with its own message; nothing is left
	 * (the teardown's leak check). */
	x.fail = true;
	ctr_init(&k, SLEEP30);
	k.s.prestart = veth_into_container;
	k.s.prestart_ctx = &x;
	int rc = try_start(&k, &c2, &err);
	expect_true(rc == -EHOSTUNREACH && !c2 && strstr(err.msg, "refused on purpose"),
		    "failing prestart: rc %d: %s", rc, err.msg);
}

static void test_join_netns(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_exec_result r;
	struct stat st;
	int netns = -1;

	/* A network namespace held only by an fd, with a link in it made by
	 * ip(8) (set-up may use it): a veth pair, or a bridge or dummy where
	 * the kernel has no veth. */
	static const char *const links[][8] = {
	    {"ip", "link", "add", "fitv0", "type", "veth", "peer", "name"},
	    {"ip", "link", "add", "fitv0", "type", "bridge", NULL, NULL},
	    {"ip", "link", "add", "fitv0", "type", "dummy", NULL, NULL},
	};
	int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(own >= 0);
	int rc_unshare = unshare(CLONE_NEWNET);
	int e = errno;
	int ip_rc = -1;
	if (rc_unshare == 0) {
		netns = track_fd(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
		for (size_t i = 0; i < sizeof(links) / sizeof(links[0]) && ip_rc != 0; i++) {
			const char *argv[10] = {NULL};
			memcpy(argv, links[i], sizeof(links[i]));
			if (i == 0)
				argv[8] = "fitv1";
			ip_rc = run_host(argv);
		}
		if (setns(own, CLONE_NEWNET) < 0)
			abort(); /* nothing else could be trusted from here on */
	}
	close(own);
	expect_true(rc_unshare == 0, "unshare(CLONE_NEWNET): %s", strerror(e));
	assert_true(netns >= 0);
	expect_true(ip_rc == 0, "`ip link add fitv0 type veth|bridge|dummy` exited %d", ip_rc);
	assert_int_equal(fstat(netns, &st), 0);

	ctr_init(&k, SLEEP30);
	k.s.netns_fd = netns;
	struct forge_container *c = start_ok(&k);
	const char *out = exec_sh_ok(c, "cat /proc/net/dev", &r);
	expect_true(strstr(out, "fitv0:") && strstr(out, "lo:"),
		    "the container's /proc/net/dev: \"%s\"", out);
	forge_exec_result_free(&r);
	assert_int_equal(report_int(c, "namespaces.net"), (long long)st.st_ino);
	char *mode = report_str(c, "netns");
	expect_true(mode && strcmp(mode, "joined") == 0, "report netns \"%s\"",
		    mode ? mode : "(null)");
	free(mode);
	/* The test's own namespace does not have the link. */
	FILE *f = fopen("/proc/self/net/dev", "re");
	assert_non_null(f);
	char line[512];
	bool host_has = false;
	while (fgets(line, sizeof(line), f))
		host_has |= strstr(line, "fitv0:") != NULL;
	fclose(f);
	assert_false(host_has);
}

/* ================================================================ validation */

static void expect_invalid(const struct forge_container_spec *s, const char *what,
			   const char *want1, const char *want2)
{
	struct forge_err err;
	forge_err_clear(&err);
	int rc = forge_container_spec_validate(s, &err);
	expect_true(rc < 0, "%s: validated", what);
	expect_true(err.code == rc, "%s: err.code %d, rc %d", what, err.code, rc);
	expect_true(strstr(err.msg, want1) && (!want2 || strstr(err.msg, want2)),
		    "%s: message \"%s\" lacks \"%s\"%s%s", what, err.msg, want1,
		    want2 ? " or " : "", want2 ? want2 : "");
}

static void test_spec_validation(void **state)
{
	(void)state;
	struct ctr k;
	struct forge_err err;
	char missing[PATH_MAX + 32];
	ctr_init(&k, SLEEP30);
	forge_err_clear(&err);
	int rc = forge_container_spec_validate(&k.s, &err);
	expect_true(rc == 0, "the base spec does not validate: %s", err.msg);

	struct ctr b; /* each case: a fresh copy of the valid spec, one field broken */
#define CASE(stmt, what, w1, w2)                                                                   \
	do {                                                                                       \
		b = k;                                                                             \
		b.s.lowerdirs = b.lower;                                                           \
		stmt;                                                                              \
		expect_invalid(&b.s, what, w1, w2);                                                \
	} while (0)

	snprintf(missing, sizeof(missing), "%s/no-such-rootfs", G.tmp);
	CASE(b.lower[0] = missing, "missing rootfs", "No such file or directory", missing);
	CASE(b.lower[0] = G.self_exe, "rootfs is a file", "Not a directory", G.self_exe);
	CASE(b.s.n_lowerdirs = 0, "no rootfs", "no rootfs", NULL);
	CASE(b.s.limits.memory_bytes = 0, "memory 0", "memory limit", "1 MiB");
	CASE(b.s.limits.memory_bytes = (1ULL << 20) - 1, "memory < 1 MiB", "memory limit", "1 MiB");
	CASE(b.s.limits.pids = 0, "pids 0", "pids limit", NULL);
	CASE(b.s.limits.cpu_quota_us = 0, "cpu quota 0", "cpu quota", "1000us");
	CASE(b.s.limits.cpu_quota_us = 500, "cpu quota 500", "cpu quota 500us", NULL);
	CASE((b.s.limits.cpu_quota_us = 10000, b.s.limits.cpu_period_us = 10), "cpu period 10",
	     "cpu period", NULL);
	CASE(b.s.host_uid = 0, "host uid 0", "root", NULL);
	CASE(b.s.host_gid = 0, "host gid 0", "root", NULL);
	static const char *const empty_argv[] = {NULL};
	static const char *const blank_argv[] = {"", NULL};
	CASE(b.s.argv = empty_argv, "empty argv", "no command", NULL);
	CASE(b.s.argv = blank_argv, "blank argv[0]", "no command", NULL);
	CASE(b.s.argv = NULL, "NULL argv", "no command", NULL);
	CASE(b.s.cwd = "tmp", "relative cwd", "not absolute", "\"tmp\"");
	CASE(b.s.name = "Bad Name", "bad name", "container name", "\"Bad Name\"");
	CASE(b.s.name = "", "empty name", "container name", NULL);
	CASE(b.s.name = "-x", "name starting with -", "container name", NULL);
	CASE(b.s.hostname = "my host", "hostname with a space", "hostname", "\"my host\"");
	static const char *const bad_env[] = {"NOEQUALS", NULL};
	CASE(b.s.envp = bad_env, "env without =", "NOEQUALS", "KEY=VALUE");
	CASE(b.s.caps = 1ULL << 63, "capability bit 63", "capability", NULL);
	CASE(b.s.cgroup = NULL, "no cgroup", "cgroup", NULL);
	CASE(b.s.state_dir = "relative/state", "relative state dir", "state dir", "absolute");
	int file_fd = track_fd(open(G.self_exe, O_RDONLY | O_CLOEXEC));
	assert_true(file_fd >= 0);
	CASE(b.s.netns_fd = file_fd, "netns fd of a file", "not a network namespace", NULL);
	CASE((b.s.log_fd = file_fd, b.s.log_limit = 4096), "log fd read-only", "log fd",
	     "open for append");
	close_fd(file_fd);
	int pipe_fds[2];
	pipe_tracked(pipe_fds);
	CASE((b.s.log_fd = pipe_fds[1], b.s.log_limit = 4096), "log fd a pipe", "log fd",
	     "regular file");
	close_fd(pipe_fds[0]);
	close_fd(pipe_fds[1]);
	static const char *const big_env_fmt = "BIG=%0*d";
	static char big[FORGE_PATH_MAX * 64];
	snprintf(big, sizeof(big), big_env_fmt, (int)sizeof(big) - 8, 0);
	const char *const huge_env[] = {big, big, big, big, NULL};
	CASE(b.s.envp = huge_env, "environment over init's configuration limit",
	     "command line and environment", "at most");
#undef CASE

	/* start applies the same validation and leaves nothing behind (the
	 * teardown checks that no state dir, cgroup or process appeared). */
	b = k;
	b.s.lowerdirs = b.lower;
	b.lower[0] = missing;
	struct forge_container *c = NULL;
	forge_err_clear(&err);
	rc = forge_container_start(G.rt, &b.s, &c, &err);
	assert_int_equal(rc, -ENOENT);
	assert_null(c);
	expect_true(strstr(err.msg, missing) && strstr(err.msg, "No such file or directory"),
		    "start with a missing rootfs: \"%s\"", err.msg);
	assert_false(path_exists(k.state));
}

static void test_start_failure_leaves_nothing(void **state)
{
	(void)state;
	struct ctr a, b, d;
	struct forge_container *c2;
	struct forge_err err;
	struct forge_exec_result r;
	ctr_init(&a, SLEEP30);
	struct forge_container *c = start_ok(&a);

	/* A second container in the same cgroup fails after its state dir
	 * was made: that state dir goes, the first container is untouched. */
	ctr_init(&b, SLEEP30);
	b.s.cgroup = a.s.cgroup;
	int rc = try_start(&b, &c2, &err);
	expect_true(rc == -EEXIST && !c2, "duplicate cgroup: rc %d: %s", rc, err.msg);
	expect_true(strstr(err.msg, "already exists"), "duplicate cgroup: \"%s\"", err.msg);
	assert_false(path_exists(b.state));
	exec_sh_ok(c, "true", &r);
	forge_exec_result_free(&r);
	assert_int_equal(ps_count(c, "sleep 30"), 1);

	/* A writable container's state dir that already exists is refused and
	 * left alone (read-only containers have none). */
	ctr_init(&d, SLEEP30);
	d.s.writable = true;
	assert_int_equal(mkdir(d.state, 0700), 0);
	rc = try_start(&d, &c2, &err);
	int saved_exists = path_exists(d.state);
	rmdir(d.state);
	expect_true(rc == -EEXIST && !c2, "existing state dir: rc %d: %s", rc, err.msg);
	expect_true(strstr(err.msg, d.state) && strstr(err.msg, "File exists"),
		    "existing state dir: \"%s\"", err.msg);
	expect_true(saved_exists, "start removed a state dir it did not create");

	/* Destroying NULL is a no-op. */
	assert_int_equal(forge_container_destroy(NULL, NULL), 0);
}

static void test_parse_helpers(void **state)
{
	(void)state;
	struct forge_err err;
	int cap = -1;
	uint64_t v = 0;

	forge_err_clear(&err);
	assert_true(forge_cap_parse("NET_RAWW", &cap, &err) < 0);
	expect_true(strstr(err.msg, "NET_RAWW"), "cap parse message \"%s\"", err.msg);
	assert_true(forge_cap_parse("", &cap, NULL) < 0);
	assert_true(forge_cap_parse("NET RAW", &cap, NULL) < 0);
	const char *const good[] = {"NET_RAW", "net_raw", "CAP_NET_RAW", "cap_net_raw", NULL};
	for (const char *const *g = good; *g; g++) {
		cap = -1;
		assert_int_equal(forge_cap_parse(*g, &cap, NULL), 0);
		assert_int_equal(cap, CAP_NET_RAW);
	}
	assert_int_equal(forge_cap_parse("SYS_ADMIN", &cap, NULL), 0);
	assert_int_equal(cap, CAP_SYS_ADMIN);

	forge_err_clear(&err);
	assert_int_equal(forge_parse_bytes("0", &v, &err), -EINVAL);
	expect_true(strstr(err.msg, "\"0\""), "parse_bytes(\"0\") message \"%s\"", err.msg);
	forge_err_clear(&err);
	assert_int_equal(forge_parse_bytes("12Q", &v, &err), -EINVAL);
	expect_true(strstr(err.msg, "12Q"), "parse_bytes(\"12Q\") message \"%s\"", err.msg);
	assert_true(forge_parse_bytes("", &v, NULL) < 0);
	assert_true(forge_parse_bytes("-1", &v, NULL) < 0);
	assert_true(forge_parse_bytes("M", &v, NULL) < 0);
	assert_true(forge_parse_bytes("99999999999999999999", &v, NULL) < 0);
	assert_true(forge_parse_bytes("99999999999T", &v, NULL) < 0);
	assert_int_equal(forge_parse_bytes("64M", &v, NULL), 0);
	assert_int_equal(v, 64ULL << 20);
	assert_int_equal(forge_parse_bytes("1G", &v, NULL), 0);
	assert_int_equal(v, 1ULL << 30);
	assert_int_equal(forge_parse_bytes("512k", &v, NULL), 0);
	assert_int_equal(v, 512ULL << 10);
	assert_int_equal(forge_parse_bytes("1048576", &v, NULL), 0);
	assert_int_equal(v, 1048576);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_helpers),
	    cmocka_unit_test_setup_teardown(test_spec_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_sees_own_processes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_sees_own_filesystem_and_identity, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_exec_exit_code_streams_cwd_env, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_output_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_timeout_kills_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_missing_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_confined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_granted_capability, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_into_ended_container, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_main_command_status_and_stdio, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_main_command_exec_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_through_init, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_forwards_sigterm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_kills_after_grace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signal_forwarded_to_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_limit_oom_kill, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cpu_quota_throttles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pids_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writable_rootfs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readonly_rootfs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_join_netns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prestart_wires_own_netns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_failure_leaves_nothing, setup, teardown),
	};
	return cmocka_run_group_tests_name("runtime", tests, group_setup, group_teardown);
}
