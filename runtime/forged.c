/* SPDX-License-Identifier: Apache-2.0 */
/* forged: the privileged supervisor. main() only: options, set-up, recovery, the loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sat.h"
#include "policy/policy.h"
#include "scoring/scoring.h"
#include "runtime/forged.h"
#include "templates/template.h"

static const char usage[] =
    "usage: forged [--root DIR] [--prefix NAME] [--config FILE] [--log-level LEVEL]\n"
    "\n"
    "The Forge supervisor: serves <root>/run/forge/forged.sock (docs/protocol.md).\n"
    "Configuration: <root>/etc/forge/forge.conf (key = value; FORGE_<KEY> in the\n"
    "environment overrides), SAT_HMAC_SECRET or SAT_HMAC_SECRET_FILE for spawn tokens.\n";

static int fail(const char *what, const struct forge_err *err)
{
	forge_log(FORGE_LOG_ERROR, what, "error", err->msg, NULL);
	fprintf(stderr, "forged: %s: %s\n", what, err->msg);
	return 1;
}

/* A live scenario holds about a dozen descriptors (per container its pidfd
 * and launch socket; the scenario's timer, hub and netlink sockets): the soft
 * limit goes up to the hard one, and a limit that cannot hold max_live
 * typical scenarios is said at start rather than found as EMFILE later. */
static void raise_nofile(unsigned max_live)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t need = (rlim_t)max_live * 12 + 256;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		char have[32], want[32], live[16];
		snprintf(have, sizeof(have), "%llu", (unsigned long long)rl.rlim_cur);
		snprintf(want, sizeof(want), "%llu", (unsigned long long)need);
		snprintf(live, sizeof(live), "%u", max_live);
		forge_log(FORGE_LOG_WARN,
			  "the open-files limit is below what max_live scenarios need; raise "
			  "LimitNOFILE (ulimit -n) or lower max_live",
			  "limit", have, "needed", want, "max_live", live, NULL);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},	 {"prefix", required_argument, NULL, 'p'},
	    {"config", required_argument, NULL, 'c'},	 {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},	 {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *root = NULL, *prefix = NULL, *config = NULL;
	enum forge_log_level level = FORGE_LOG_INFO;
	struct forge_err err = {0};
	struct forged d = {
	    .templates_fd = -1, .own_netns_fd = -1, .listen_fd = -1, .epfd = -1, .sigfd = -1};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			root = optarg;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'l':
			if (forge_log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "forged: --log-level: unknown level \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'V':
			printf("forged %s\n", FORGE_VERSION);
			return 0;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	forge_log_init("forged", level, 2);
	if (geteuid() != 0) {
		fprintf(stderr, "forged: must run as root (it owns namespaces, cgroups, nftables)\n");
		return 1;
	}
	if (forge_paths_init(&d.paths, root, prefix, &err) < 0 ||
	    forge_paths_ensure(&d.paths, &err) < 0)
		return fail("paths", &err);
	if (forged_config_load(&d.paths, config, &d.cfg, &err) < 0)
		return fail("configuration", &err);
	raise_nofile(d.cfg.max_live);
	/* others may pass through <lib> (to forge-api's own directory and the
	 * results it serves), never list it; every subdirectory has its own mode */
	if (chmod(d.paths.lib, 0711) < 0) {
		forge_err_errno(&err, errno, "chmod %s", d.paths.lib);
		return fail("paths", &err);
	}
	d.own_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (d.own_netns_fd < 0) {
		forge_err_errno(&err, errno, "open /proc/self/ns/net");
		return fail("network namespace", &err);
	}
	struct forge_runtime_config rc = {.prefix = d.paths.prefix,
					  .cgroup_root = d.cfg.cgroup_root,
					  .run_dir = d.paths.run};
	if (forge_runtime_open(&d.rt, &rc, &err) < 0)
		return fail("runtime", &err);
	if (forge_keys_ensure(&d.paths, d.cfg.dev, &err) < 0)
		return fail("signing keys", &err);
	if (forge_policy_load(d.cfg.policy_dir, &d.policy, &err) < 0)
		return fail("policy", &err);
	forge_log(FORGE_LOG_INFO, "policy bundle loaded", "bundle", forge_policy_bundle(d.policy),
		  "dir", d.cfg.policy_dir, NULL);
	if (d.cfg.policy_pin[0] && forge_policy_check_pin(d.policy, d.cfg.policy_pin, &err) < 0)
		return fail("policy pin", &err);
	d.templates_fd = open(d.cfg.templates_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (d.templates_fd < 0) {
		forge_err_errno(&err, errno, "templates dir %s", d.cfg.templates_dir);
		return fail("templates", &err);
	}
	if (forge_template_schema_load(d.templates_fd, FORGE_TEMPLATE_SCHEMA_FILE, &d.schema,
				       &err) < 0)
		return fail("template schema", &err);
	json_t *removed = json_array();
	int r = forged_recover(&d, removed, &err);
	json_t *fields = json_pack("{s:o, s:I}", "removed", removed, "adopted",
				   (json_int_t)forged_live(&d));
	forge_log_json(r ? FORGE_LOG_ERROR : FORGE_LOG_INFO, "recovery done", fields);
	json_decref(fields);
	r = forged_run(&d, &err);
	if (r < 0)
		fail("loop", &err);
	while (d.scenarios) {
		struct scenario *s = d.scenarios;
		d.scenarios = s->next;
		for (size_t i = 0; i < s->n_ctr; i++)
			if (s->ctr[i].c)
				forge_container_release(s->ctr[i].c);
		s->net = NULL; /* the hub stays: the next start re-adopts the scenario */
		scenario_free(s);
	}
	for (size_t i = 0; i < sizeof(d.tpl_cache) / sizeof(d.tpl_cache[0]); i++)
		forge_template_free(d.tpl_cache[i].t);
	forge_template_schema_free(d.schema);
	forge_policy_free(d.policy);
	forge_runtime_close(d.rt);
	forge_secret_free(d.cfg.sat_secret, d.cfg.sat_secret_len);
	close(d.templates_fd);
	close(d.own_netns_fd);
	return r < 0 ? 1 : 0;
}
