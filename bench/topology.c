/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/topology — build + teardown of the netplus scenario network through
 * the netns library, in one long-lived process, interleaved with a peer
 * command (bench/peers/topology.sh: the same topology with `ip` and `nft`).
 * Run by bench/topology.sh, which parses the lines this prints; see
 * bench/README.md.
 *
 *   topology [--runs N] [--warmup N] [--peer SCRIPT] [--peer-log FILE] [--peer-prefix P]
 *            [--quiet] [--scaling] [--scaling-runs N] [--alive LIST]
 *
 * One forge iteration: forge_net_new_netns ×3 (learner, router, target),
 * forge_net_create (hub bind-mounted in a private temporary directory, two
 * bridges), forge_net_attach ×3 (4 veth pairs, addresses, routes, sysctls,
 * nftables), then forge_net_destroy and close of the 3 namespace fds; timed
 * with CLOCK_MONOTONIC around all of it. With --peer, each round runs one
 * forge iteration and then the peer once (posix_spawn of SCRIPT NAME, timed
 * from spawn to reap; NAME is P-<round> (P defaults to fbench-<pid>), unique per run, so a
 * namespace being freed by the kernel is never reused).
 *
 * Output, one fact per line:
 *   sample forge <ns>             a measured forge iteration
 *   sample peer <ns>              a measured peer run
 *   sample forge_quiet <ns>       with --quiet: one more forge iteration per round,
 *                                 started once the kernel has finished freeing the
 *                                 namespaces of earlier teardowns (the count of
 *                                 network namespaces has not moved for 50 ms)
 *   scaling <alive> <ns>          a forge iteration with <alive> other scenarios up
 *   netns_free <alive> <ms>|none  time until the kernel's count of network namespaces
 *                                 (net_namespace slab objects) fell back after one more
 *                                 teardown (3 probes per point; none: not observed)
 *   netns_backlog <alive> <n>     namespaces torn down by the scaling runs but not
 *                                 yet freed by the kernel, right after the last run
 *   error <text>                  and exit status 1
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netns/netns.h"
#include "bench/bench.h"

#define PREFIX	     "fbench"
#define N_CT	     3
#define MAX_ALIVE    200
#define MAX_ALIVE_NS 8

extern char **environ;

struct scenario {
	struct forge_topology t;
	struct forge_net *net;
	int ns[N_CT];
};

static char netns_dir[64];
static unsigned long serial; /* makes every scenario id unique in this process */

static void add_subnet(struct forge_topology *t, const char *name, const char *net)
{
	struct forge_net_subnet *s = &t->subnets[t->n_subnets++];

	snprintf(s->name, sizeof(s->name), "%s", name);
	inet_pton(AF_INET, net, &s->net);
	s->prefix_len = 24;
}

static struct forge_net_container *add_ct(struct forge_topology *t, const char *name,
					  const char *gateway)
{
	struct forge_net_container *c = &t->containers[t->n_containers++];

	snprintf(c->name, sizeof(c->name), "%s", name);
	if (gateway) {
		c->has_gateway = true;
		inet_pton(AF_INET, gateway, &c->gateway);
	}
	return c;
}

static void add_iface(struct forge_net_container *c, const char *subnet, const char *addr)
{
	struct forge_net_iface *i = &c->ifaces[c->n_ifaces++];

	snprintf(i->subnet, sizeof(i->subnet), "%s", subnet);
	i->static_addr = true;
	inet_pton(AF_INET, addr, &i->addr);
}

/* netplus: learner on learner_net, router on both (forwarding), target on target_net. */
static int netplus(struct forge_topology *t)
{
	struct forge_err err = {0};

	memset(t, 0, sizeof(*t));
	snprintf(t->scenario, sizeof(t->scenario), "s%lu", serial++);
	add_subnet(t, "learner_net", "10.10.0.0");
	add_subnet(t, "target_net", "10.20.0.0");
	add_iface(add_ct(t, "learner", "10.10.0.1"), "learner_net", "10.10.0.2");
	struct forge_net_container *r = add_ct(t, "router", NULL);
	r->forwarding = true;
	add_iface(r, "learner_net", "10.10.0.1");
	add_iface(r, "target_net", "10.20.0.1");
	add_iface(add_ct(t, "target", "10.20.0.1"), "target_net", "10.20.0.2");
	if (forge_topology_validate(t, PREFIX, &err) < 0) {
		printf("error validate: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static void teardown(struct scenario *s)
{
	struct forge_err err = {0};

	if (forge_net_destroy(s->net, &err) < 0)
		printf("error destroy %s: %s\n", s->t.scenario, err.msg);
	s->net = NULL;
	for (size_t c = 0; c < N_CT; c++) {
		if (s->ns[c] >= 0)
			close(s->ns[c]);
		s->ns[c] = -1;
	}
}

/* Builds scenario s (its topology already set); on failure tears down what was made. */
static int build(struct scenario *s)
{
	struct forge_err err = {0};

	s->net = NULL;
	for (size_t c = 0; c < N_CT; c++)
		s->ns[c] = -1;
	for (size_t c = 0; c < N_CT; c++)
		if (forge_net_new_netns(&s->ns[c], &err) < 0)
			goto fail;
	if (forge_net_create(&s->t, PREFIX, netns_dir, &s->net, &err) < 0)
		goto fail;
	for (size_t c = 0; c < N_CT; c++)
		if (forge_net_attach(s->net, s->t.containers[c].name, s->ns[c], &err) < 0)
			goto fail;
	return 0;
fail:
	printf("error build %s: %s\n", s->t.scenario, err.msg);
	teardown(s);
	return -1;
}

/* One timed build + teardown; the elapsed ns, or -1. */
static long long forge_once(void)
{
	static struct scenario s; /* struct forge_topology is large: not on the stack */

	if (netplus(&s.t) < 0)
		return -1;
	long long t0 = bench_now_ns();
	if (build(&s) < 0)
		return -1;
	teardown(&s);
	return bench_now_ns() - t0;
}

/* One timed peer run: SCRIPT NAME, output to log; the elapsed ns, or -1. */
static long long peer_once(const char *script, const char *log, const char *prefix,
			   unsigned long round)
{
	char name[64];

	if (prefix)
		snprintf(name, sizeof(name), "%s-%lu", prefix, round);
	else
		snprintf(name, sizeof(name), "fbench-%ld-%lu", (long)getpid(), round);
	char *const argv[] = {(char *)script, name, NULL};
	return bench_run_timed(argv, log, true);
}

/* Network namespaces allocated in the kernel: objects of the net_namespace
 * slab cache after a shrink, which flushes the per-CPU caches (without it,
 * freed objects sit in per-CPU slabs and sheaves, still counted as in use,
 * for up to seconds). -1 when the cache cannot be read (no SLUB sysfs). */
static long netns_objs(void)
{
	int fd = open("/sys/kernel/slab/net_namespace/shrink", O_WRONLY | O_CLOEXEC);
	char buf[64];
	long n = -1;

	if (fd < 0)
		return -1;
	ssize_t w = write(fd, "1", 1);
	close(fd);
	fd = open("/sys/kernel/slab/net_namespace/objects", O_RDONLY | O_CLOEXEC);
	if (w != 1 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ssize_t r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r > 0) {
		buf[r] = '\0';
		n = strtol(buf, NULL, 10);
	}
	return n;
}

/* Waits until the slab count has not moved for 50 ms (up to 3 s): namespaces
 * torn down earlier are still being freed by the kernel for a while. */
static long settle(void)
{
	long last = netns_objs();
	long long since = bench_now_ns(), start = since;

	while (last >= 0 && bench_now_ns() - since < 50000000LL &&
	       bench_now_ns() - start < 3000000000LL) {
		usleep(1000);
		long n = netns_objs();
		if (n != last) {
			last = n;
			since = bench_now_ns();
		}
	}
	return last;
}

/* One probe: a settled count, one more build, teardown, then the time until
 * the count is back to where it was (up to 5 s). "none" when the count did
 * not show the build or did not come back (another process making or freeing
 * namespaces meanwhile can also blur it). */
static void probe_free(int alive)
{
	static struct scenario probe;
	long before = settle();

	if (before < 0 || netplus(&probe.t) < 0 || build(&probe) < 0) {
		printf("netns_free %d none\n", alive);
		return;
	}
	long during = netns_objs();
	long long t0 = bench_now_ns();
	teardown(&probe);
	for (;;) {
		long n = netns_objs();
		long long dt = bench_now_ns() - t0;
		if (during > before && n >= 0 && n <= before) {
			printf("netns_free %d %.3f\n", alive, (double)dt / 1e6);
			return;
		}
		if (during <= before || n < 0 || dt > 5000000000LL) {
			printf("netns_free %d none\n", alive);
			return;
		}
		usleep(200);
	}
}

static int scaling(const int *alive, size_t n_alive, int runs)
{
	static struct scenario others[MAX_ALIVE];
	int rc = 0;

	for (size_t a = 0; a < n_alive && rc == 0; a++) {
		int up = 0;
		long base = settle();
		for (; up < alive[a]; up++)
			if (netplus(&others[up].t) < 0 || build(&others[up]) < 0) {
				rc = -1;
				break;
			}
		for (int i = 0; i < runs && rc == 0; i++) {
			long long ns = forge_once();
			if (ns < 0)
				rc = -1;
			else
				printf("scaling %d %lld\n", alive[a], ns);
			fflush(stdout);
		}
		/* Namespaces torn down by those runs that the kernel has not freed yet
		 * (4 per scenario alive are expected: hub and 3 containers). */
		long now = netns_objs();
		if (rc == 0 && base >= 0 && now >= 0)
			printf("netns_backlog %d %ld\n", alive[a], now - base - 4L * up);
		/* How long the kernel takes to really free the namespaces of one
		 * more build + teardown: cleanup_net runs from a workqueue after
		 * forge_net_destroy and close() have returned. */
		for (int k = 0; k < 3 && rc == 0; k++)
			probe_free(alive[a]);
		for (int i = 0; i < up; i++)
			teardown(&others[i]);
		fflush(stdout);
	}
	return rc;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: topology [--runs N] [--warmup N] [--peer SCRIPT] [--peer-log FILE]\n"
		"                [--peer-prefix P]\n"
		"                [--quiet] [--scaling] [--scaling-runs N] [--alive 1,10,50]\n");
}

int main(int argc, char **argv)
{
	int runs = 30, warmup = 2, scaling_runs = 10;
	int alive[MAX_ALIVE_NS] = {1, 10, 50};
	size_t n_alive = 3;
	const char *peer = NULL, *peer_log = "/dev/null", *peer_prefix = NULL;
	bool do_scaling = false, quiet = false;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--scaling") == 0) {
			do_scaling = true;
			continue;
		}
		if (strcmp(a, "--quiet") == 0) {
			quiet = true;
			continue;
		}
		if (!v) {
			usage();
			return 2;
		}
		i++;
		if (strcmp(a, "--runs") == 0 && (runs = bench_count(v, 0, 100000)) > 0)
			continue;
		if (strcmp(a, "--warmup") == 0 && (warmup = bench_count(v, 0, 1000)) >= 0)
			continue;
		if (strcmp(a, "--scaling-runs") == 0 &&
		    (scaling_runs = bench_count(v, 0, 10000)) > 0)
			continue;
		if (strcmp(a, "--peer") == 0) {
			peer = v;
			continue;
		}
		if (strcmp(a, "--peer-prefix") == 0 && strlen(v) < 40) {
			peer_prefix = v;
			continue;
		}
		if (strcmp(a, "--peer-log") == 0) {
			peer_log = v;
			continue;
		}
		if (strcmp(a, "--alive") == 0) {
			char buf[128], *save = NULL;
			snprintf(buf, sizeof(buf), "%s", v);
			n_alive = 0;
			for (char *w = strtok_r(buf, ",", &save); w;
			     w = strtok_r(NULL, ",", &save)) {
				int n = bench_count(w, 0, MAX_ALIVE);
				if (n < 0 || n_alive == MAX_ALIVE_NS) {
					usage();
					return 2;
				}
				alive[n_alive++] = n;
			}
			continue;
		}
		usage();
		return 2;
	}
	if (geteuid() != 0) {
		printf("error needs root (network namespaces, mounts)\n");
		return 1;
	}
	snprintf(netns_dir, sizeof(netns_dir), "/run/fbench-netns-XXXXXX");
	if (!mkdtemp(netns_dir)) {
		snprintf(netns_dir, sizeof(netns_dir), "/tmp/fbench-netns-XXXXXX");
		if (!mkdtemp(netns_dir)) {
			printf("error mkdtemp: %s\n", strerror(errno));
			return 1;
		}
	}

	for (int i = 0; rc == 0 && i < warmup + runs; i++) {
		long long f = forge_once();
		long long p = 0, q = 0;
		if (f >= 0 && peer)
			p = peer_once(peer, peer_log, peer_prefix, (unsigned long)i);
		if (f >= 0 && p >= 0 && quiet) {
			settle();
			q = forge_once();
		}
		if (f < 0 || p < 0 || q < 0)
			rc = -1;
		else if (i >= warmup) {
			printf("sample forge %lld\n", f);
			if (peer)
				printf("sample peer %lld\n", p);
			if (quiet)
				printf("sample forge_quiet %lld\n", q);
		}
		fflush(stdout);
	}
	if (rc == 0 && do_scaling)
		rc = scaling(alive, n_alive, scaling_runs);

	if (rmdir(netns_dir) < 0) {
		printf("error rmdir %s: %s (left behind)\n", netns_dir, strerror(errno));
		rc = -1;
	}
	return rc < 0 ? 1 : 0;
}
