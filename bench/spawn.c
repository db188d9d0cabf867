/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/spawn — spawn-to-running and destroy of a template through forged's
 * socket, timed by a client that speaks the wire protocol directly
 * (common/proto.h), interleaved with a peer script building the same lab
 * (bench/peers/lab.sh: ip, nft and runc); then density: many scenarios alive
 * at once. Run by bench/spawn.sh, which starts forged and parses the lines
 * this prints; see bench/README.md.
 *
 *   spawn --root DIR --prefix P [--template NAME] [--runs N] [--warmup N]
 *         [--peer SCRIPT] [--peer-prefix NAME] [--peer-log FILE]
 *         [--density N] [--pid FORGED_PID] [--settle-ms N]
 *         [--also-root DIR --also-prefix P [--also-pid PID]]
 *   spawn --fsync-probe DIR [--runs N]
 *
 * One forge round: op "spawn" {"template": NAME}, timed from just before the
 * request is sent to the reply (forged replies once every container runs),
 * then op "destroy" {"scenario_id"} timed the same way, on one connection
 * kept for the whole run, as forge-api keeps one. forged's own time inside
 * scenario_spawn comes from its metrics (forged_spawn_seconds_sum), read
 * around each spawn outside the timed window. One peer round: SCRIPT prepare
 * NAME (not timed), SCRIPT up NAME and SCRIPT down NAME (each timed from
 * posix_spawn to reap), SCRIPT clean NAME (not timed); NAME is P-<round>
 * (P defaults to fbench-<pid>). With --also-root, every round also runs a
 * forge round on a second forged (series alt_*), e.g. one whose root is on
 * another file system. The order of the runners rotates from round to round.
 * --settle-ms N leaves forged idle for N ms before each spawn, so that the
 * kernel has finished freeing the namespaces of the last teardown (it does
 * that after destroy returns, under the RTNL lock a new namespace needs).
 *
 * Output, one fact per line:
 *   sample <series> <ns>            one measurement of a series (below)
 *   stat <series> <n> <median> <p10> <p90> <min> <max>   at the end, in ms (nearest-rank
 *                                   percentiles; the median of an even count is the
 *                                   mean of the two middle values)
 *   rss <live> <VmRSS kB> <VmHWM kB>   forged's memory with <live> scenarios (--pid)
 *   memavailable <live> <kB>        the host's MemAvailable with <live> scenarios
 *   density running <n>             scenarios "list" reports running at the peak
 *   density destroy_all <ns>        all of them destroyed, one after the other
 *   error <text>                    and exit status 1
 * Series: forge_spawn (request to reply), forge_destroy, forge_total (the two
 * of one round), forge_internal (forged's own time in scenario_spawn); with
 * --pid, what forged's main thread did during each spawn and destroy, from
 * /proc/<pid>/schedstat and stat: forge_{spawn,destroy}_cpu (time on a CPU),
 * forge_{spawn,destroy}_runq (time runnable but waiting for a CPU: the
 * machine's load), forge_{spawn,destroy}_blocked (the rest of the request:
 * asleep on disk syncs, on container processes setting up or dying) and
 * forge_{spawn,destroy}_faults (page faults, a count);
 * peer_up, peer_down, peer_total; density_spawn (every density spawn, in
 * order), density_first and density_last (the first and last 10 of them),
 * density_destroy; with --fsync-probe: fsync_file (fsync of a small new
 * file), fsync_dir (of its directory after the rename, as forge_atomic_write
 * does), fsync_append (fdatasync after an append, as the audit log does).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/proto.h"
#include "bench/bench.h"

#define CALL_TIMEOUT_MS 120000
#define MAX_DENSITY	1000
#define ID_MAX		64 /* a scenario id (forged makes 12 hex digits) */

extern char **environ;

/* The series of one forged instance (forge_*, or alt_* for --also-root),
 * then the others. */
enum forge_series {
	F_SPAWN,
	F_DESTROY,
	F_TOTAL,
	F_INTERNAL,
	F_SPAWN_CPU, /* then _RUNQ, _BLOCKED, _FAULTS in this order */
	F_SPAWN_RUNQ,
	F_SPAWN_BLOCKED,
	F_SPAWN_FAULTS,
	F_DESTROY_CPU,
	F_DESTROY_RUNQ,
	F_DESTROY_BLOCKED,
	F_DESTROY_FAULTS,
	N_F,
};

static const char *const forge_series_name[N_F] = {
    "spawn",	   "destroy",	   "total",	      "internal",
    "spawn_cpu",   "spawn_runq",   "spawn_blocked",   "spawn_faults",
    "destroy_cpu", "destroy_runq", "destroy_blocked", "destroy_faults",
};

enum series_id {
	FORGE0 = 0, /* + enum forge_series */
	ALT0 = N_F, /* + enum forge_series */
	PEER_UP = 2 * N_F,
	PEER_DOWN,
	PEER_TOTAL,
	DENSITY_SPAWN,
	DENSITY_FIRST,
	DENSITY_LAST,
	DENSITY_DESTROY,
	FSYNC_FILE,
	FSYNC_DIR,
	FSYNC_APPEND,
	N_SERIES,
};

static const char *const other_series_name[N_SERIES - PEER_UP] = {
    "peer_up",	    "peer_down",       "peer_total", "density_spawn", "density_first",
    "density_last", "density_destroy", "fsync_file", "fsync_dir",     "fsync_append",
};

static const char *series_name(int id, char buf[64])
{
	if (id >= PEER_UP)
		return other_series_name[id - PEER_UP];
	snprintf(buf, 64, "%s_%s", id < ALT0 ? "forge" : "alt", forge_series_name[id % N_F]);
	return buf;
}

static struct series {
	long long *v;
	size_t n, cap;
} series[N_SERIES];

/* Records one sample (and prints it, so a run that fails half-way still
 * leaves its figures); on ENOMEM the sample is only printed. */
static void sample(int id, long long ns)
{
	struct series *s = &series[id];
	char buf[64];

	printf("sample %s %lld\n", series_name(id, buf), ns);
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		long long *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = ns;
}

/* Nearest rank: the smallest sample with at least p of them at or below it. */
static long long pct(const long long *v, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n + 0.999999);

	return v[k < 1 ? 0 : (k > n ? n - 1 : k - 1)];
}

static void print_stats(void)
{
	for (int i = 0; i < N_SERIES; i++) {
		struct series *s = &series[i];
		if (s->n == 0)
			continue;
		qsort(s->v, s->n, sizeof(*s->v), bench_cmp_ll);
		double med = s->n % 2 ? (double)s->v[s->n / 2]
				      : ((double)s->v[s->n / 2 - 1] + (double)s->v[s->n / 2]) / 2;
		/* ns series print in ms; counts as they are */
		bool count =
		    i < PEER_UP && (i % N_F == F_SPAWN_FAULTS || i % N_F == F_DESTROY_FAULTS);
		double d = count ? 1 : 1e6;
		char buf[64];
		printf("stat %s %zu %.3f %.3f %.3f %.3f %.3f\n", series_name(i, buf), s->n, med / d,
		       (double)pct(s->v, s->n, 0.10) / d, (double)pct(s->v, s->n, 0.90) / d,
		       (double)s->v[0] / d, (double)s->v[s->n - 1] / d);
	}
}

/* One forged instance and how its samples are filed. */
struct bench {
	int fd; /* connection to forged */
	const char *tpl;
	pid_t forged;  /* 0: unknown (no thread figures, no rss) */
	int series;    /* FORGE0 or ALT0 */
	int settle_ms; /* idle time before each spawn */
};

static unsigned long serial; /* correlation ids: fbench-spawn-<n> */

/* One round trip; on an error reply prints it and returns -1. rep is
 * filled on success and must be cleared by the caller. */
static int call(struct bench *b, const char *op, json_t *args, struct forge_proto_reply *rep,
		long long *elapsed)
{
	struct forge_err err = {0};
	char cid[48];

	snprintf(cid, sizeof(cid), "fbench-spawn-%lu", serial++);
	long long t0 = bench_now_ns();
	int rc = forge_proto_call(b->fd, op, cid, args, CALL_TIMEOUT_MS, rep, &err);
	long long t1 = bench_now_ns();
	if (elapsed)
		*elapsed = t1 - t0;
	if (rc < 0) {
		printf("error %s: %s\n", op, err.msg);
		return -1;
	}
	if (!rep->ok) {
		printf("error %s: %s: %s\n", op, forge_proto_code_name(rep->code), rep->message);
		forge_proto_reply_clear(rep);
		return -1;
	}
	return 0;
}

/* Spawns one scenario; its id in id[], the elapsed ns in *ns. */
static int spawn_one(struct bench *b, char id[ID_MAX + 1], long long *ns)
{
	struct forge_proto_reply rep;

	if (call(b, "spawn", json_pack("{s:s}", "template", b->tpl), &rep, ns) < 0)
		return -1;
	const char *sid = json_string_value(json_object_get(rep.result, "scenario_id"));
	const char *state = json_string_value(json_object_get(rep.result, "state"));
	int rc = 0;
	if (!sid || strlen(sid) > ID_MAX || !state || strcmp(state, "running") != 0) {
		printf("error spawn: reply without a running scenario\n");
		rc = -1;
	} else {
		snprintf(id, ID_MAX + 1, "%s", sid);
	}
	forge_proto_reply_clear(&rep);
	return rc;
}

static int destroy_one(struct bench *b, const char *id, long long *ns)
{
	struct forge_proto_reply rep;

	if (call(b, "destroy", json_pack("{s:s}", "scenario_id", id), &rep, ns) < 0)
		return -1;
	forge_proto_reply_clear(&rep);
	return 0;
}

/* forged_spawn_seconds_sum from the metrics op, in ns; -1 on failure. */
static long long spawn_seconds_sum(struct bench *b)
{
	struct forge_proto_reply rep;
	long long ns = -1;

	if (call(b, "metrics", NULL, &rep, NULL) < 0)
		return -1;
	const char *text = json_string_value(json_object_get(rep.result, "text"));
	const char *p = text ? strstr(text, "\nforged_spawn_seconds_sum ") : NULL;
	if (p)
		ns = (long long)(strtod(p + strlen("\nforged_spawn_seconds_sum "), NULL) * 1e9);
	else
		printf("error metrics: no forged_spawn_seconds_sum\n");
	forge_proto_reply_clear(&rep);
	return ns;
}

/* Scenarios in state "running" according to the list op; -1 on failure. */
static long running_count(struct bench *b)
{
	struct forge_proto_reply rep;
	size_t i;
	json_t *s;
	long n = 0;

	if (call(b, "list", NULL, &rep, NULL) < 0)
		return -1;
	json_array_foreach(json_object_get(rep.result, "scenarios"), i, s)
	{
		const char *st = json_string_value(json_object_get(s, "state"));
		n += st && strcmp(st, "running") == 0;
	}
	forge_proto_reply_clear(&rep);
	return n;
}

/* The host's MemAvailable (kB): what all the scenarios' processes, their
 * namespaces and forged take together (other processes move it too). */
static void print_meminfo(long live)
{
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "MemAvailable:", 13) == 0)
			printf("memavailable %ld %ld\n", live, strtol(line + 13, NULL, 10));
	if (f)
		fclose(f);
}

/* forged's VmRSS and VmHWM (kB) from /proc/<pid>/status. */
static void print_rss(pid_t pid, long live)
{
	char path[64], line[256];
	long rss = -1, hwm = -1;

	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f) {
		printf("error %s: %s\n", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			rss = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			hwm = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	printf("rss %ld %ld %ld\n", live, rss, hwm);
}

/* Runs SCRIPT STEP NAME with its output appended to log; the elapsed ns
 * (posix_spawn to reap), or -1 when it could not run or did not exit 0. */
static long long peer_step(const char *script, const char *step, const char *name, const char *log)
{
	char *const argv[] = {(char *)script, (char *)step, (char *)name, NULL};
	return bench_run_timed(argv, log, false);
}

/* What the kernel counts for forged's main thread. */
struct task_use {
	long long cpu, runq; /* ns on a CPU, ns runnable but waiting for one */
	long long faults;    /* minor + major page faults */
};

static int task_use(pid_t pid, struct task_use *u)
{
	char path[64], buf[1024];
	unsigned long long cpu, runq, minflt, majflt;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	ok = fscanf(f, "%llu %llu", &cpu, &runq) == 2;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!ok || !(f = fopen(path, "re")))
		return -1;
	/* fields after the command name, which ends at the last ')' */
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	char *p = ok ? strrchr(buf, ')') : NULL;
	if (!p ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %llu", &minflt, &majflt) != 2)
		return -1;
	*u = (struct task_use){(long long)cpu, (long long)runq, (long long)(minflt + majflt)};
	return 0;
}

/* Samples what forged's thread did since a, in a request of wall ns: on a
 * CPU, waiting for one, and neither (blocked: disk syncs, children). */
static void sample_use(pid_t pid, const struct task_use *a, long long wall, int cpu)
{
	struct task_use b;

	if (pid <= 0 || task_use(pid, &b) < 0)
		return;
	sample(cpu, b.cpu - a->cpu);
	sample(cpu + 1, b.runq - a->runq);
	sample(cpu + 2, wall - (b.cpu - a->cpu) - (b.runq - a->runq));
	sample(cpu + 3, b.faults - a->faults);
}

/* One forge round: spawn, destroy; samples printed when measured. */
static int forge_round(struct bench *b, bool measured)
{
	char id[ID_MAX + 1];
	long long spawn_ns, destroy_ns;
	struct task_use u0 = {0}, u1 = {0};
	bool use = measured && b->forged > 0;

	if (b->settle_ms > 0)
		usleep((useconds_t)b->settle_ms * 1000);
	long long before = spawn_seconds_sum(b);
	if (use && task_use(b->forged, &u0) < 0)
		use = false;
	if (before < 0 || spawn_one(b, id, &spawn_ns) < 0)
		return -1;
	if (use)
		sample_use(b->forged, &u0, spawn_ns, b->series + F_SPAWN_CPU);
	long long after = spawn_seconds_sum(b);
	if (use && task_use(b->forged, &u1) < 0)
		use = false;
	if (destroy_one(b, id, &destroy_ns) < 0 || after < 0)
		return -1;
	if (use)
		sample_use(b->forged, &u1, destroy_ns, b->series + F_DESTROY_CPU);
	if (measured) {
		sample(b->series + F_SPAWN, spawn_ns);
		sample(b->series + F_DESTROY, destroy_ns);
		sample(b->series + F_TOTAL, spawn_ns + destroy_ns);
		sample(b->series + F_INTERNAL, after - before);
	}
	return 0;
}

/* One peer round: prepare, up, down, clean; samples printed when measured. */
static int peer_round(const char *script, const char *prefix, const char *log, int round,
		      bool measured)
{
	char name[64];

	snprintf(name, sizeof(name), "%s-%d", prefix, round);
	if (peer_step(script, "prepare", name, log) < 0)
		return -1;
	long long up = peer_step(script, "up", name, log);
	long long down = up < 0 ? -1 : peer_step(script, "down", name, log);
	if (up < 0 && peer_step(script, "down", name, log) < 0)
		printf("error peer: lab %s may be left behind\n", name);
	if (up < 0 || down < 0)
		return -1;
	if (peer_step(script, "clean", name, log) < 0)
		return -1;
	if (measured) {
		sample(PEER_UP, up);
		sample(PEER_DOWN, down);
		sample(PEER_TOTAL, up + down);
	}
	return 0;
}

/* n scenarios alive at once: each spawn timed, forged's memory at 0, 1 and
 * n alive, then every one destroyed, newest first (timed one by one and in
 * total). */
static int density(struct bench *b, int n)
{
	static char ids[MAX_DENSITY][ID_MAX + 1];
	int up = 0, rc = 0;
	long long ns;

	print_rss(b->forged, 0);
	print_meminfo(0);
	for (; up < n; up++) {
		if (spawn_one(b, ids[up], &ns) < 0) {
			rc = -1;
			break;
		}
		sample(DENSITY_SPAWN, ns);
		if (up < 10)
			sample(DENSITY_FIRST, ns);
		if (up >= n - 10)
			sample(DENSITY_LAST, ns);
		if (up == 0)
			print_rss(b->forged, 1);
		fflush(stdout);
	}
	if (rc == 0) {
		print_rss(b->forged, up);
		print_meminfo(up);
		long running = running_count(b);
		printf("density running %ld\n", running);
		if (running != up) {
			printf("error density: %d spawned, %ld running\n", up, running);
			rc = -1;
		}
	}
	long long t0 = bench_now_ns();
	for (int i = up - 1; i >= 0; i--) {
		if (destroy_one(b, ids[i], &ns) < 0) {
			rc = -1;
			continue;
		}
		sample(DENSITY_DESTROY, ns);
	}
	printf("density destroy_all %lld\n", bench_now_ns() - t0);
	print_rss(b->forged, 0);
	return rc;
}

/* The writes forged's journal, pins and audit log make, timed on dir's
 * file system: fsync of a small new file, fsync of the directory after
 * renaming it into place (forge_atomic_write), fdatasync of an append. */
static int fsync_probe(const char *dir, int runs)
{
	char buf[512];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		printf("error open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	memset(buf, 'x', sizeof(buf));
	int afd = openat(dfd, "append.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int rc = afd < 0 ? -1 : 0;
	for (int i = 0; rc == 0 && i < runs; i++) {
		int fd = openat(dfd, "probe.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			rc = -1;
			if (fd >= 0)
				close(fd);
			break;
		}
		long long t0 = bench_now_ns();
		rc = fsync(fd);
		long long t1 = bench_now_ns();
		close(fd);
		if (rc == 0)
			rc = renameat(dfd, "probe.tmp", dfd, "probe");
		long long t2 = bench_now_ns();
		if (rc == 0)
			rc = fsync(dfd);
		long long t3 = bench_now_ns();
		if (rc == 0 && write(afd, buf, 300) != 300)
			rc = -1;
		long long t4 = bench_now_ns();
		if (rc == 0)
			rc = fdatasync(afd);
		long long t5 = bench_now_ns();
		if (rc == 0) {
			sample(FSYNC_FILE, t1 - t0);
			sample(FSYNC_DIR, t3 - t2);
			sample(FSYNC_APPEND, t5 - t4);
		}
	}
	if (rc < 0)
		printf("error fsync probe in %s: %s\n", dir, strerror(errno));
	if (afd >= 0)
		close(afd);
	unlinkat(dfd, "probe.tmp", 0);
	unlinkat(dfd, "probe", 0);
	unlinkat(dfd, "append.log", 0);
	close(dfd);
	return rc;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: spawn --root DIR --prefix P [--template NAME] [--runs N] [--warmup N]\n"
		"             [--peer SCRIPT] [--peer-prefix NAME] [--peer-log FILE]\n"
		"             [--density N] [--pid FORGED_PID] [--settle-ms N]\n"
		"             [--also-root DIR --also-prefix P [--also-pid PID]]\n"
		"       spawn --fsync-probe DIR [--runs N]\n");
}

/* Connects b to the forged of root/prefix. */
static int connect_to(struct bench *b, const char *root, const char *prefix)
{
	struct forge_paths paths;
	struct forge_err err = {0};

	if (forge_paths_init(&paths, root, prefix, &err) < 0 ||
	    (b->fd = forge_proto_connect(&paths, &err)) < 0) {
		printf("error connect to forged of %s: %s\n", root, err.msg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = {.fd = -1, .tpl = "netplus", .series = FORGE0};
	struct bench alt = {.fd = -1, .tpl = "netplus", .series = ALT0};
	const char *root = NULL, *prefix = NULL, *alt_root = NULL, *alt_prefix = NULL;
	const char *peer = NULL, *peer_log = "/dev/null", *probe = NULL;
	char peer_prefix[48];
	int runs = 20, warmup = 2, dens = 0, rc = 0;

	snprintf(peer_prefix, sizeof(peer_prefix), "fbench-%ld", (long)getpid());
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		i++;
		if (strcmp(a, "--runs") == 0 && (runs = bench_count(v, 1, 100000)) > 0)
			continue;
		if (strcmp(a, "--warmup") == 0 && (warmup = bench_count(v, 0, 1000)) >= 0)
			continue;
		if (strcmp(a, "--density") == 0 && (dens = bench_count(v, 0, MAX_DENSITY)) >= 0)
			continue;
		if (strcmp(a, "--pid") == 0 && (b.forged = bench_count(v, 1, 1 << 30)) > 0)
			continue;
		if (strcmp(a, "--also-pid") == 0 && (alt.forged = bench_count(v, 1, 1 << 30)) > 0)
			continue;
		if (strcmp(a, "--settle-ms") == 0 &&
		    (b.settle_ms = bench_count(v, 0, 10000)) >= 0) {
			alt.settle_ms = b.settle_ms;
			continue;
		}
		if (strcmp(a, "--root") == 0)
			root = v;
		else if (strcmp(a, "--prefix") == 0)
			prefix = v;
		else if (strcmp(a, "--also-root") == 0)
			alt_root = v;
		else if (strcmp(a, "--also-prefix") == 0)
			alt_prefix = v;
		else if (strcmp(a, "--template") == 0)
			b.tpl = alt.tpl = v;
		else if (strcmp(a, "--peer") == 0)
			peer = v;
		else if (strcmp(a, "--peer-log") == 0)
			peer_log = v;
		else if (strcmp(a, "--fsync-probe") == 0)
			probe = v;
		else if (strcmp(a, "--peer-prefix") == 0 && strlen(v) < 40)
			snprintf(peer_prefix, sizeof(peer_prefix), "%s", v);
		else {
			usage();
			return 2;
		}
	}
	if (probe) {
		rc = fsync_probe(probe, runs);
		print_stats();
		return rc < 0 ? 1 : 0;
	}
	if (!root || !prefix || !alt_root != !alt_prefix) {
		usage();
		return 2;
	}
	if (connect_to(&b, root, prefix) < 0 ||
	    (alt_root && connect_to(&alt, alt_root, alt_prefix) < 0))
		rc = -1;

	/* Each round runs every runner once; the order rotates, so none always
	 * inherits another's clean-up (the kernel frees namespaces late). */
	int n_runners = 1 + !!peer + !!alt_root;
	for (int i = 0; rc == 0 && i < warmup + runs; i++) {
		bool measured = i >= warmup;
		for (int k = 0; rc == 0 && k < n_runners; k++) {
			int who = (i + k) % n_runners;
			if (who == 0)
				rc = forge_round(&b, measured);
			else if (who == 1 && peer)
				rc = peer_round(peer, peer_prefix, peer_log, i, measured);
			else
				rc = forge_round(&alt, measured);
		}
		fflush(stdout);
	}
	if (rc == 0 && dens > 0)
		rc = density(&b, dens);
	if (b.fd >= 0)
		close(b.fd);
	if (alt.fd >= 0)
		close(alt.fd);
	print_stats();
	return rc < 0 ? 1 : 0;
}
