/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The netplus shape with real containers: the runtime starts learner, router
 * and target, and its pre-start hook hands each container's own network
 * namespace to forge_net_attach before anything runs in it. Root only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/capability.h>

#include <cmocka.h>

#include "netns/netns.h"
#include "runtime/runtime.h"

#define N_CT 3
enum { LEARNER, ROUTER, TARGET };

static const char *const names[N_CT] = {"learner", "router", "target"};

static struct {
	char tmp[PATH_MAX - 64];
	char netns_dir[PATH_MAX];
	char rootfs[PATH_MAX];
	char prefix[FORGE_PREFIX_MAX + 1];
	struct forge_runtime *rt;
	struct forge_topology topo;
	struct forge_net *net;
	struct forge_container *c[N_CT];
} G;

static int attach_hook(void *ctx, const struct forge_container *c, int netns_fd,
		       struct forge_err *err)
{
	(void)c;
	return forge_net_attach(G.net, ctx, netns_fd, err);
}

static void find_rootfs(void)
{
	const char *env = getenv("FORGE_TEST_ROOTFS");
	if (env && *env) {
		snprintf(G.rootfs, sizeof(G.rootfs), "%s", env);
		return;
	}
	char exe[PATH_MAX - 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0'; /* build/tests/integration */
	snprintf(G.rootfs, sizeof(G.rootfs), "%s/../../rootfs/busybox", exe);
}

static void netplus(struct forge_topology *t)
{
	static const char *const json =
	    "{\"scenario\": \"sn1\","
	    " \"subnets\": [{\"name\": \"learner_net\", \"cidr\": \"10.10.0.0/24\"},"
	    "               {\"name\": \"target_net\", \"cidr\": \"10.20.0.0/24\"}],"
	    " \"containers\": ["
	    "  {\"name\": \"learner\", \"gateway\": \"10.10.0.1\","
	    "   \"networks\": [{\"subnet\": \"learner_net\"}]},"
	    "  {\"name\": \"router\", \"forwarding\": true,"
	    "   \"networks\": [{\"subnet\": \"learner_net\", \"ip\": \"10.10.0.1\"},"
	    "                  {\"subnet\": \"target_net\", \"ip\": \"10.20.0.1\"}]},"
	    "  {\"name\": \"target\", \"gateway\": \"10.20.0.1\","
	    "   \"networks\": [{\"subnet\": \"target_net\"}]}]}";
	struct forge_err err;
	json_error_t jerr;
	json_t *j = json_loads(json, 0, &jerr);
	assert_non_null(j);
	int rc = forge_topology_from_json(j, t, &err);
	json_decref(j);
	if (rc == 0)
		rc = forge_topology_validate(t, G.prefix, &err);
	if (rc < 0)
		fail_msg("netplus topology: %s", err.msg);
}

static int group_setup(void **state)
{
	(void)state;
	struct forge_err err;
	char run_dir[PATH_MAX];

	if (geteuid() != 0) {
		fprintf(stderr, "test_scenario_net: needs root\n");
		return -1;
	}
	snprintf(G.tmp, sizeof(G.tmp), "/tmp/forge-it-scn.XXXXXX");
	if (!mkdtemp(G.tmp))
		return -1;
	snprintf(G.netns_dir, sizeof(G.netns_dir), "%s/netns", G.tmp);
	snprintf(run_dir, sizeof(run_dir), "%s/run", G.tmp);
	find_rootfs();
	forge_crypto_init();
	G.prefix[0] = 's';
	forge_random_hex(G.prefix + 1, 7);
	struct forge_runtime_config cfg = {.prefix = G.prefix, .run_dir = run_dir};
	if (forge_runtime_open(&G.rt, &cfg, &err) < 0) {
		fprintf(stderr, "test_scenario_net: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < N_CT; i++)
		forge_container_destroy(G.c[i], NULL);
	forge_net_destroy(G.net, NULL);
	forge_runtime_close(G.rt);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", G.tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void start(int i, const char *const *argv, uint64_t caps)
{
	struct forge_container_spec s;
	struct forge_err err;
	char cgroup[32];
	const char *lower[] = {G.rootfs};

	forge_container_spec_init(&s);
	snprintf(cgroup, sizeof(cgroup), "sn1/%s", names[i]);
	s.name = names[i];
	s.lowerdirs = lower;
	s.n_lowerdirs = 1;
	s.argv = argv;
	s.caps = caps;
	s.host_uid = s.host_gid = (uid_t)(300000 + 65536 * i);
	s.cgroup = cgroup;
	s.state_dir = "/nonexistent-unused";
	s.prestart = attach_hook;
	s.prestart_ctx = (void *)names[i];
	if (forge_container_start(G.rt, &s, &G.c[i], &err) < 0)
		fail_msg("start %s: %s", names[i], err.msg);
}

/* Runs sh -c cmd in container i; returns its exit code, output in out. */
static int sh(int i, const char *cmd, char *out, size_t outsz)
{
	struct forge_exec_result r;
	struct forge_err err;
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	struct forge_exec_spec e = {
	    .argv = argv, .timeout_ms = 15000, .output_limit = 4096, .stdin_fd = -1};
	if (forge_container_exec(G.c[i], &e, &r, &err) < 0)
		fail_msg("exec in %s: %s", names[i], err.msg);
	snprintf(out, outsz, "%s%s", r.out ? r.out : "", r.err ? r.err : "");
	int code = r.exited ? r.code : 128 + r.signal;
	forge_exec_result_free(&r);
	return code;
}

static void test_netplus_with_containers(void **state)
{
	(void)state;
	struct forge_err err;
	char out[8192];

	netplus(&G.topo);
	if (forge_net_create(&G.topo, G.prefix, G.netns_dir, &G.net, &err) < 0)
		fail_msg("forge_net_create: %s", err.msg);

	static const char *const sleeper[] = {"/bin/sleep", "600", NULL};
	static const char *const web[] = {
	    "/bin/sh", "-c",
	    "mkdir -p /tmp/www && echo forge-target-page > /tmp/www/index.html && "
	    "exec httpd -f -p 80 -h /tmp/www",
	    NULL};
	const uint64_t raw = 1ULL << CAP_NET_RAW, admin = 1ULL << CAP_NET_ADMIN;
	start(LEARNER, sleeper, raw | admin);
	start(ROUTER, sleeper, raw);
	start(TARGET, web, 1ULL << CAP_NET_BIND_SERVICE);

	/* The learner got its automatic address and reaches the router. */
	int rc = sh(LEARNER, "ip -4 -o addr show eth0", out, sizeof(out));
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "10.10.0.2/24"));
	rc = sh(LEARNER, "ping -c 1 -W 3 10.10.0.1", out, sizeof(out));
	if (rc != 0)
		fail_msg("learner -> router: %d %s", rc, out);

	/* Through the router to the target's web server. */
	/* httpd may not listen yet: retry (a readiness wait, not a timing check) */
	rc = sh(LEARNER,
		"for i in $(seq 50); do timeout 5 wget -q -O - http://10.20.0.2/ && exit 0; "
		"sleep 0.1; done; exit 1",
		out, sizeof(out));
	if (rc != 0 || !strstr(out, "forge-target-page"))
		fail_msg("learner -> target via router: %d %s", rc, out);

	/* The learner owns its namespace: with the default route gone the
	 * target is unreachable, and putting it back restores the path. */
	rc = sh(LEARNER, "ip route del default && ! timeout 2 wget -q -O - http://10.20.0.2/", out,
		sizeof(out));
	if (rc != 0)
		fail_msg("without a route the target must be unreachable: %d %s", rc, out);
	rc = sh(LEARNER,
		"ip route add default via 10.10.0.1 && timeout 5 wget -q -O - http://10.20.0.2/",
		out, sizeof(out));
	if (rc != 0 || !strstr(out, "forge-target-page"))
		fail_msg("route added back: %d %s", rc, out);

	/* Egress outside the scenario is dropped and counted. */
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/ns/net", (int)forge_container_pid(G.c[LEARNER]));
	int lns = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(lns >= 0);
	uint64_t before = 0, after = 0;
	assert_int_equal(forge_nft_drop_count(lns, G.prefix, &before, &err), 0);
	rc = sh(LEARNER, "timeout 2 wget -q -O - http://198.51.100.1/", out, sizeof(out));
	assert_int_not_equal(rc, 0);
	assert_int_equal(forge_nft_drop_count(lns, G.prefix, &after, &err), 0);
	close(lns);
	if (after <= before)
		fail_msg("the drop counter did not move: %llu -> %llu", (unsigned long long)before,
			 (unsigned long long)after);

	/* Teardown: containers, then the network; nothing is left. */
	for (int i = 0; i < N_CT; i++) {
		assert_int_equal(forge_container_destroy(G.c[i], &err), 0);
		G.c[i] = NULL;
	}
	assert_int_equal(forge_net_destroy(G.net, &err), 0);
	G.net = NULL;
	struct stat st;
	char hub[PATH_MAX + 32];
	snprintf(hub, sizeof(hub), "%s/%s-sn1", G.netns_dir, G.prefix);
	assert_int_equal(stat(hub, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_netplus_with_containers),
	};
	return cmocka_run_group_tests_name("scenario_net", tests, group_setup, group_teardown);
}
