/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/scoring — what scoring costs forged for one netplus result, against
 * the same work done with tar --zstd + sha256sum + openssl in the same run.
 * Run by bench/scoring.sh (which makes the scratch directory and the peer's
 * Ed25519 PEM key); see the script's header for what is compared.
 *
 *   scoring --dir SCRATCH --peer-key KEY.pem [--runs N] [--warmup N]
 *
 * Each round, interleaved:
 *   forge        forge_results_write() of a fresh scenario: load the active verdict
 *                key, score.json, evidence.tar.zst (ustar + zstd), both sha256,
 *                manifest.json, Ed25519 signature, four files written and fsync'd
 *                in a temp directory, renamed into place, parent fsync'd
 *   forge+audit  the same plus the "scenario.score" audit event (line + head,
 *                fsync'd), as forged runs it; printed for scale, not in the ratio
 *   peer         tar --zstd (reproducible flags) of the same artifacts, sha256sum of
 *                score.json and the archive into a manifest, openssl pkeyutl -sign
 *                -rawin of the manifest; three processes spawned in sequence,
 *                timed from the first spawn to the last reap
 *
 * Prints the table and the RESULT line itself; exit status 1 (with "error …")
 * when forge or the peer cannot do the work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scoring/scoring.h"
#include "bench/bench.h"

#define MAX_RUNS 10000
/* The bench's own fixed time: the results' manifests never see the clock. */
#define BENCH_TIME 1767225600

extern char **environ;

/* ------------------------------------------------------------ the netplus result */

/* What forged collects for netplus (templates/netplus.yaml): a netlink state
 * snapshot of learner_vm, a TCP probe to the target, and the wget of the page. */
struct netplus {
	char state[4096], probe[512], page[2048];
	struct forge_artifact art[5];
	const char *refs0[1], *refs1[4];
	struct forge_criterion_result crit[2];
	struct forge_image_digest images[3];
	struct forge_run_facts facts;
	struct forge_score_input in;
};

#define SHA_IMG "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SHA_HEX "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"

static void netplus_fill(struct netplus *n)
{
	size_t used = 0, i;

	used += (size_t)snprintf(
	    n->state, sizeof(n->state),
	    "{\"addresses\":[{\"address\":\"127.0.0.1\",\"interface\":\"lo\",\"prefix_len\":8},"
	    "{\"address\":\"10.10.0.10\",\"interface\":\"eth0\",\"prefix_len\":24}],"
	    "\"collected_by\":\"forged over netlink\",\"container\":\"learner_vm\",\"links\":["
	    "{\"mtu\":65536,\"name\":\"lo\",\"up\":true},{\"mac\":\"02:42:0a:0a:00:0a\",\"mtu\":"
	    "1500,\"name\":\"eth0\",\"up\":true}],\"routes\":[");
	for (i = 0; i < 12 && used < sizeof(n->state) - 200; i++)
		used += (size_t)snprintf(n->state + used, sizeof(n->state) - used,
					 "%s{\"dev\":\"eth0\",\"dst\":\"10.%zu.0.0/24\",\"proto\":"
					 "\"static\",\"table\":254,\"via\":\"10.10.0.1\"}",
					 i ? "," : "", 20 + i);
	snprintf(n->state + used, sizeof(n->state) - used, "]}");
	snprintf(n->probe, sizeof(n->probe),
		 "{\"collected_by\":\"forged connect() in the container's netns\",\"error\":\"\","
		 "\"from\":\"learner_vm\",\"ip\":\"10.20.0.10\",\"open\":true,\"port\":80,"
		 "\"proto\":\"tcp\"}");
	used = (size_t)snprintf(n->page, sizeof(n->page),
				"<!doctype html>\n<html><head><title>target</title></head><body>\n"
				"<h1>FORGE-WEB-OK</h1>\n");
	for (i = 0; used < sizeof(n->page) - 80; i++)
		used += (size_t)snprintf(n->page + used, sizeof(n->page) - used,
					 "<p>line %zu of the training target's page</p>\n", i);
	snprintf(n->page + used, sizeof(n->page) - used, "</body></html>\n");
	n->art[0] = (struct forge_artifact){"criteria/route_to_target_net/0/state.json", n->state,
					    strlen(n->state)};
	n->art[1] = (struct forge_artifact){"criteria/target_web_reachable/0/probe.json", n->probe,
					    strlen(n->probe)};
	n->art[2] = (struct forge_artifact){"criteria/target_web_reachable/1/stdout", n->page,
					    strlen(n->page)};
	n->art[3] = (struct forge_artifact){"criteria/target_web_reachable/1/stderr", "", 0};
	n->art[4] = (struct forge_artifact){"criteria/target_web_reachable/1/exit_code", "0\n", 2};
	n->refs0[0] = n->art[0].name;
	for (i = 0; i < 4; i++)
		n->refs1[i] = n->art[i + 1].name;
	n->crit[0] =
	    (struct forge_criterion_result){"route_to_target_net", true, 1, n->refs0, 1, "passed"};
	n->crit[1] =
	    (struct forge_criterion_result){"target_web_reachable", true, 2, n->refs1, 4, "passed"};
	n->images[0] = (struct forge_image_digest){"learner_vm", SHA_IMG};
	n->images[1] = (struct forge_image_digest){"router", SHA_IMG};
	n->images[2] = (struct forge_image_digest){"target_server", SHA_IMG};
	n->facts = (struct forge_run_facts){
	    .tenant = "bench",
	    .run_id = "0123456789abcdef0123456789abcdef",
	    .template_name = "netplus",
	    .template_version = "1",
	    .template_hash = SHA_HEX,
	    .images = n->images,
	    .n_images = 3,
	    .seccomp_profile_hash = SHA_HEX,
	    .policy_bundle_hash = SHA_HEX,
	    .retention_days = 30,
	    .timestamp = BENCH_TIME,
	};
	n->in = (struct forge_score_input){&n->facts, n->crit, 2, n->art, 5};
}

/* ------------------------------------------------------------ forge */

static long long forge_once(const struct forge_paths *p, struct netplus *n, const char *scenario,
			    struct forge_audit *audit)
{
	struct forge_err err = {0};
	long long t0, t1;

	n->facts.scenario_id = scenario;
	t0 = bench_now_ns();
	if (forge_results_write(p, &n->in, NULL, audit, NULL, &err) < 0) {
		printf("error forge %s: %s\n", scenario, err.msg);
		return -1;
	}
	t1 = bench_now_ns();
	return t1 - t0;
}

/* ------------------------------------------------------------ peer */

/* Spawns argv (stdout to out_path when given, else /dev/null) and reaps it; 0 on exit 0. */
static int peer_run(char *const argv[], const char *out_path, const char *log)
{
	posix_spawn_file_actions_t fa;
	int status, rc;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		printf("error peer: spawn %s: %s\n", argv[0], strerror(rc));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("error peer: %s failed (status 0x%x), see %s\n", argv[0], status, log);
		return -1;
	}
	return 0;
}

static long long peer_once(const char *dir, const char *key, unsigned long round)
{
	char out[FORGE_PATH_MAX], in[FORGE_PATH_MAX], tarball[FORGE_PATH_MAX + 32],
	    score[FORGE_PATH_MAX + 32], manifest[FORGE_PATH_MAX + 32], sig[FORGE_PATH_MAX + 32],
	    log[FORGE_PATH_MAX + 32];
	long long t0, t1;

	snprintf(in, sizeof(in), "%.2000s/peer-in", dir);
	snprintf(out, sizeof(out), "%.2000s/peer-out/%lu", dir, round);
	snprintf(tarball, sizeof(tarball), "%.2048s/evidence.tar.zst", out);
	snprintf(score, sizeof(score), "%.2048s/score.json", in);
	snprintf(manifest, sizeof(manifest), "%.2048s/manifest", out);
	snprintf(sig, sizeof(sig), "%.2048s/verdict.sig", out);
	snprintf(log, sizeof(log), "%.2000s/peer.log", dir);
	if (mkdir(out, 0755) < 0) {
		printf("error peer: mkdir %s: %s\n", out, strerror(errno));
		return -1;
	}
	char *const tar_argv[] = {"tar",
				  "--zstd",
				  "--sort=name",
				  "--format=ustar",
				  "--owner=0",
				  "--group=0",
				  "--numeric-owner",
				  "--mtime=@0",
				  "--mode=u=rw,go=r",
				  "-C",
				  in,
				  "-cf",
				  tarball,
				  "criteria",
				  NULL};
	char *const sum_argv[] = {"sha256sum", score, tarball, NULL};
	char *const sign_argv[] = {"openssl", "pkeyutl", "-sign", "-inkey", (char *)key, "-rawin",
				   "-in",     manifest,	 "-out",  sig,	    NULL};
	t0 = bench_now_ns();
	if (peer_run(tar_argv, NULL, log) < 0 || peer_run(sum_argv, manifest, log) < 0 ||
	    peer_run(sign_argv, NULL, log) < 0)
		return -1;
	t1 = bench_now_ns();
	return t1 - t0;
}

/* The peer's input: the same artifacts as files, and forge's score.json. */
static int peer_prepare(const char *dir, const struct forge_paths *p, const struct netplus *n)
{
	char path[FORGE_PATH_MAX + 64], src[FORGE_PATH_MAX + 64], *slash, *buf = NULL;
	struct forge_err err = {0};
	int fd, rc = 0;
	size_t i, len;

	for (i = 0; i < 5 && rc == 0; i++) {
		snprintf(path, sizeof(path), "%.2000s/peer-in/%s", dir, n->art[i].name);
		for (slash = strchr(path + strlen(dir) + 1, '/'); slash;
		     slash = strchr(slash + 1, '/')) {
			*slash = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				rc = -errno;
			*slash = '/';
		}
		fd = rc < 0 ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, n->art[i].data, n->art[i].len) != (ssize_t)n->art[i].len)
			rc = -EIO;
		if (fd >= 0)
			close(fd);
	}
	snprintf(src, sizeof(src), "%.2000s/results/bench/probe/score.json", p->lib);
	snprintf(path, sizeof(path), "%.2000s/peer-in/score.json", dir);
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (rc == 0 && (fd < 0 || forge_read_fd(fd, src, &buf, &len, 1 << 20, &err) < 0))
		rc = -EIO;
	if (fd >= 0)
		close(fd);
	fd = rc < 0 ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		rc = -EIO;
	if (fd >= 0)
		close(fd);
	free(buf);
	snprintf(path, sizeof(path), "%.2000s/peer-out", dir);
	if (rc == 0 && mkdir(path, 0755) < 0)
		rc = -errno;
	if (rc < 0)
		printf("error peer: cannot prepare its input in %s\n", dir);
	return rc;
}

/* ------------------------------------------------------------ statistics */

/* median (mean of the middle two for an even count), p10, p90 (nearest rank), min; ms. */
static void stats(long long *v, int n, double out[4])
{
	int k10 = (n + 9) / 10, k90 = (9 * n + 9) / 10;

	qsort(v, (size_t)n, sizeof(*v), bench_cmp_ll);
	out[0] = (n % 2 ? (double)v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0) / 1e6;
	out[1] = (double)v[(k10 < 1 ? 1 : k10) - 1] / 1e6;
	out[2] = (double)v[(k90 > n ? n : k90) - 1] / 1e6;
	out[3] = (double)v[0] / 1e6;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: scoring --dir SCRATCH --peer-key KEY.pem [--runs N] [--warmup N]\n");
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *key = NULL;
	int runs = 30, warmup = 3, i, rc = 0;
	long long *fs, *fa, *ps, f, a, pe;
	struct forge_err err = {0};
	struct forge_verify_result vr;
	struct forge_audit *audit = NULL;
	struct forge_keyset ks = {0};
	char root[FORGE_PATH_MAX], kdir[FORGE_PATH_MAX + 16], rdir[FORGE_PATH_MAX], name[32];
	static struct netplus n;
	struct forge_paths p;
	double s[3][4];

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--dir") == 0)
			dir = argv[i + 1];
		else if (strcmp(argv[i], "--peer-key") == 0)
			key = argv[i + 1];
		else if (strcmp(argv[i], "--runs") == 0 &&
			 (runs = bench_count(argv[i + 1], 0, MAX_RUNS)) > 0)
			continue;
		else if (strcmp(argv[i], "--warmup") == 0 &&
			 (warmup = bench_count(argv[i + 1], 0, 1000)) >= 0)
			continue;
		else
			break;
	}
	if (i != argc || !dir || !key || runs <= 0 || warmup < 0) {
		usage();
		return 2;
	}
	snprintf(root, sizeof(root), "%.2000s/root", dir);
	if (mkdir(root, 0755) < 0) {
		printf("error setup: mkdir %s: %s\n", root, strerror(errno));
		return 1;
	}
	if (forge_paths_init(&p, root, "fbench", &err) < 0 ||
	    forge_keys_ensure(&p, true, &err) < 0 || forge_audit_open(&p, &audit, &err) < 0) {
		printf("error setup: %s\n", err.msg);
		return 1;
	}
	netplus_fill(&n);
	/* One result checked end to end before anything is timed. */
	snprintf(kdir, sizeof(kdir), "%.2000s/keys", p.etc);
	if (forge_once(&p, &n, "probe", NULL) < 0 ||
	    forge_keyset_load_dir(kdir, FORGE_KEY_VERDICT, &ks, &err) < 0 ||
	    forge_results_dir(&p, "bench", "probe", rdir, &err) < 0 ||
	    forge_results_verify(rdir, &ks, &vr, &err) < 0) {
		printf("error probe: %s\n", err.msg);
		forge_audit_close(audit);
		return 1;
	}
	forge_keyset_free(&ks);
	if (peer_prepare(dir, &p, &n) < 0 || peer_once(dir, key, 999999) < 0) {
		forge_audit_close(audit);
		return 1;
	}
	fs = calloc((size_t)runs, sizeof(*fs));
	fa = calloc((size_t)runs, sizeof(*fa));
	ps = calloc((size_t)runs, sizeof(*ps));
	if (!fs || !fa || !ps) {
		printf("error out of memory\n");
		rc = 1;
		goto out;
	}
	printf("scoring: netplus result: %zu artifacts, %zu bytes of evidence; score %s\n",
	       sizeof(n.art) / sizeof(n.art[0]),
	       n.art[0].len + n.art[1].len + n.art[2].len + n.art[3].len + n.art[4].len,
	       vr.score.value);
	printf("scoring: %d warm-up + %d measured rounds, interleaved (forge, forge+audit, peer)\n",
	       warmup, runs);
	fflush(stdout);
	for (i = 0; i < warmup + runs; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		f = forge_once(&p, &n, name, NULL);
		snprintf(name, sizeof(name), "a%d", i);
		a = f < 0 ? -1 : forge_once(&p, &n, name, audit);
		pe = a < 0 ? -1 : peer_once(dir, key, (unsigned long)i);
		if (pe < 0) {
			rc = 1;
			goto out;
		}
		if (i >= warmup) {
			fs[i - warmup] = f;
			fa[i - warmup] = a;
			ps[i - warmup] = pe;
		}
	}
	stats(fs, runs, s[0]);
	stats(fa, runs, s[1]);
	stats(ps, runs, s[2]);
	printf("\n%-12s %10s %10s %10s %10s\n", "runner", "median_ms", "p10_ms", "p90_ms",
	       "min_ms");
	printf("%-12s %10.3f %10.3f %10.3f %10.3f\n", "forge", s[0][0], s[0][1], s[0][2], s[0][3]);
	printf("%-12s %10.3f %10.3f %10.3f %10.3f\n", "forge+audit", s[1][0], s[1][1], s[1][2],
	       s[1][3]);
	printf("%-12s %10.3f %10.3f %10.3f %10.3f\n", "peer", s[2][0], s[2][1], s[2][2], s[2][3]);
	printf("\nscoring: peer/forge = %.2fx (target: forge median <= 20 ms)\n",
	       s[0][0] > 0 ? s[2][0] / s[0][0] : 0.0);
	printf("RESULT name=scoring forge_ms=%.3f peer=tar+sha256sum+openssl peer_ms=%.3f "
	       "ratio=%.2f\n",
	       s[0][0], s[2][0], s[0][0] > 0 ? s[2][0] / s[0][0] : 0.0);
out:
	forge_audit_close(audit);
	free(fs);
	free(fa);
	free(ps);
	return rc;
}
