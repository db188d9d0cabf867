/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forgectl run: one container in the foreground, like `crun run` or `bwrap`,
 * over the same launcher forged uses. stdio passes through; signals sent to
 * forgectl reach the command; the exit status is the command's (128+N for
 * signal N).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "images/images.h"
#include "runtime/runtime.h"

#define MAX_LAYERS 32
#define MAX_ENV	   256
#define UID_BLOCK  65536u

static const char run_usage[] =
    "usage: forgectl run --rootfs DIR [--rootfs DIR]... [OPTIONS] -- CMD [ARG...]\n"
    "       forgectl run --image REF [--rootfs DIR]... [OPTIONS] [-- CMD [ARG...]]\n"
    "\n"
    "  --rootfs DIR     read-only layer (repeat: the first is the top-most)\n"
    "  --image REF      the layers of a store image (NAME:TAG or NAME@sha256:HEX), below\n"
    "                   any --rootfs; its Env, WorkingDir and Entrypoint+Cmd are the\n"
    "                   defaults of --env, --cwd and CMD (a CMD given replaces both)\n"
    "  --rw             writable rootfs (a per-container upper dir, removed afterwards)\n"
    "  --memory BYTES   memory limit (suffix K, M, G)\n"
    "  --pids N         maximum number of processes\n"
    "  --cpus F         cpu quota in cpus (0.5 = half a cpu)\n"
    "  --cap NAME       grant a capability (NET_RAW, …); none by default\n"
    "  --hostname H     hostname (default: the container name)\n"
    "  --env K=V        environment entry (nothing is inherited)\n"
    "  --cwd DIR        working directory inside (default /)\n"
    "  --name NAME      container name (default run-<random>)\n"
    "  --uid-base N     host uid/gid for container root (default: a random unused block)\n"
    "  --seccomp-log    log instead of refusing syscalls the profile forbids\n"
    "  --report         print the isolation report as one JSON line on stderr\n";

struct run_opts {
	const char *layers[MAX_LAYERS];
	size_t n_layers;
	const char *image;
	const char *env[MAX_ENV + 1];
	size_t n_env;
	bool report;
	const char *name;
	struct forge_container_spec spec;
};

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_cpus(const char *s, uint64_t *quota_us)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !(v > 0) || v > 1024)
		return -EINVAL;
	*quota_us = (uint64_t)(v * FORGE_CPU_PERIOD_US + 0.5);
	return 0;
}

static int usage_error(const char *opt, const char *fmt, ...) FORGE_PRINTF(2, 3);

static int usage_error(const char *opt, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "forgectl run: %s: ", opt);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* Returns -1 when parsed, else the exit code. */
static int parse_run(int argc, char **argv, struct run_opts *o)
{
	enum {
		O_ROOTFS = 256,
		O_RW,
		O_MEMORY,
		O_PIDS,
		O_CPUS,
		O_CAP,
		O_HOSTNAME,
		O_ENV,
		O_CWD,
		O_NAME,
		O_UIDBASE,
		O_SECLOG,
		O_REPORT,
		O_IMAGE
	};
	static const struct option opts[] = {
	    {"rootfs", required_argument, NULL, O_ROOTFS},
	    {"rw", no_argument, NULL, O_RW},
	    {"memory", required_argument, NULL, O_MEMORY},
	    {"pids", required_argument, NULL, O_PIDS},
	    {"cpus", required_argument, NULL, O_CPUS},
	    {"cap", required_argument, NULL, O_CAP},
	    {"hostname", required_argument, NULL, O_HOSTNAME},
	    {"env", required_argument, NULL, O_ENV},
	    {"cwd", required_argument, NULL, O_CWD},
	    {"name", required_argument, NULL, O_NAME},
	    {"uid-base", required_argument, NULL, O_UIDBASE},
	    {"seccomp-log", no_argument, NULL, O_SECLOG},
	    {"report", no_argument, NULL, O_REPORT},
	    {"image", required_argument, NULL, O_IMAGE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct forge_container_spec *s = &o->spec;
	struct forge_err err;
	uint64_t v;
	int c, cap;

	opterr = 0; /* our own messages, naming the option */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case ':':
			return usage_error(argv[optind - 1], "%s", "requires a value");
		case '?':
			return usage_error(argv[optind - 1], "%s",
					   "unknown option (see forgectl run --help)");
		case O_ROOTFS:
			if (o->n_layers == MAX_LAYERS)
				return usage_error("--rootfs", "at most %s layers", "32");
			o->layers[o->n_layers++] = optarg;
			break;
		case O_RW:
			s->writable = true;
			break;
		case O_MEMORY:
			if (forge_parse_bytes(optarg, &s->limits.memory_bytes, &err) < 0)
				return usage_error("--memory", "%s", err.msg);
			break;
		case O_PIDS:
			if (parse_u64(optarg, &s->limits.pids) < 0 || s->limits.pids == 0)
				return usage_error("--pids", "\"%s\" is not a positive number",
						   optarg);
			break;
		case O_CPUS:
			if (parse_cpus(optarg, &s->limits.cpu_quota_us) < 0)
				return usage_error(
				    "--cpus", "\"%s\" is not a positive number of cpus", optarg);
			break;
		case O_CAP:
			if (forge_cap_parse(optarg, &cap, &err) < 0)
				return usage_error("--cap", "%s", err.msg);
			s->caps |= 1ULL << cap;
			break;
		case O_HOSTNAME:
			s->hostname = optarg;
			break;
		case O_ENV:
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return usage_error("--env", "\"%s\" is not KEY=VALUE", optarg);
			if (o->n_env == MAX_ENV)
				return usage_error("--env", "at most %s entries", "256");
			o->env[o->n_env++] = optarg;
			break;
		case O_CWD:
			s->cwd = optarg;
			break;
		case O_NAME:
			o->name = optarg;
			break;
		case O_UIDBASE:
			if (parse_u64(optarg, &v) < 0 || v < UID_BLOCK ||
			    v > UINT32_MAX - UID_BLOCK)
				return usage_error(
				    "--uid-base",
				    "\"%s\" must be a host uid from 65536 to %u (lower "
				    "ids belong to the host's own users)",
				    optarg, UINT32_MAX - UID_BLOCK);
			s->host_uid = (uid_t)v;
			s->host_gid = (gid_t)v;
			break;
		case O_SECLOG:
			s->seccomp_mode = FORGE_SECCOMP_LOG;
			break;
		case O_REPORT:
			o->report = true;
			break;
		case O_IMAGE:
			o->image = optarg;
			break;
		case 'h':
			fputs(run_usage, stdout);
			return 0;
		default:
			fputs(run_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (o->n_layers == 0 && !o->image)
		return usage_error("--rootfs", "%s", "a rootfs directory or --image is required");
	if (optind >= argc && !o->image)
		return usage_error("CMD", "%s",
				   "no command given (forgectl run ... -- CMD [ARG...])");
	s->argv = optind < argc ? (const char *const *)argv + optind : NULL;
	s->lowerdirs = o->layers;
	s->n_lowerdirs = o->n_layers;
	o->env[o->n_env] = NULL;
	s->envp = o->env;
	return -1;
}

static void print_report(const struct forge_container *c)
{
	json_t *r = forge_container_report(c);
	json_t *wrap = json_pack("{s:o}", "report", r);
	char *s = wrap ? json_dumps(wrap, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (s) {
		fprintf(stderr, "%s\n", s);
		fflush(stderr);
	}
	free(s);
	json_decref(wrap);
}

/* Forwards signals to the container until its init exits. */
static int supervise(struct forge_container *c, int sfd, struct forge_exit_status *st,
		     struct forge_err *err)
{
	for (;;) {
		struct pollfd pf[2] = {{.fd = forge_container_pidfd(c), .events = POLLIN},
				       {.fd = sfd, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return forge_err_errno(err, errno, "poll");
		}
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				forge_container_signal(c, (int)si.ssi_signo, NULL);
		}
		if (pf[0].revents & POLLIN)
			return forge_container_wait(c, 0, st, err);
	}
}

static int exit_code(const struct forge_container_spec *s, const struct forge_exit_status *st,
		     const char *name)
{
	if (st->exec_errno) {
		fprintf(stderr, "forgectl run: %s\n", st->message);
		return st->exec_errno == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC;
	}
	if (st->oom_kills > 0 && (st->signal == SIGKILL || !st->exited)) {
		fprintf(stderr,
			"forgectl run: container %s: out of memory: killed by the OOM killer "
			"(memory limit %" PRIu64 " bytes, oom_kill=%" PRIu64 ")\n",
			name, s->limits.memory_bytes, st->oom_kills);
	}
	if (st->exited)
		return st->code;
	return 128 + st->signal;
}

/* What --image adds to the spec, owned here. */
struct image_defaults {
	struct forge_image *img;
	const char **layers, **env, **argv;
};

static void image_defaults_free(struct image_defaults *ix)
{
	forge_image_free(ix->img);
	free(ix->layers);
	free(ix->env);
	free(ix->argv);
}

/* An --env entry for the key of image env entry e. */
static bool env_overridden(const struct run_opts *o, const char *e)
{
	size_t klen = (size_t)(strchr(e, '=') - e) + 1;
	for (size_t i = 0; i < o->n_env; i++)
		if (strncmp(o->env[i], e, klen) == 0)
			return true;
	return false;
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

/* --image: its layers below the --rootfs ones; its Env under --env, its
 * WorkingDir and Entrypoint+Cmd where --cwd and CMD are not given. Returns
 * -1 when applied, else the exit code. */
static int apply_image(const struct forge_paths *p, struct run_opts *o, struct image_defaults *ix)
{
	struct forge_container_spec *s = &o->spec;
	struct forge_err err = {0};
	struct forge_image *img;
	size_t n = 0;

	if (forge_image_resolve(p, o->image, &ix->img, &err) < 0)
		return cli_fail(err.code == -ENOENT || err.code == -EINVAL ? EXIT_USAGE
									   : EXIT_SETUP,
				"run", "--image: %s", err.msg);
	img = ix->img;
	if (o->n_layers + img->n_layers > MAX_LAYERS)
		return usage_error("--image", "%zu layers and %zu --rootfs: at most %d in all",
				   img->n_layers, o->n_layers, MAX_LAYERS);
	size_t n_env = strv_len(img->config.env), n_ep = strv_len(img->config.entrypoint),
	       n_cmd = strv_len(img->config.cmd);
	ix->layers = calloc(o->n_layers + img->n_layers, sizeof(char *));
	ix->env = calloc(n_env + o->n_env + 1, sizeof(char *));
	ix->argv = calloc(n_ep + n_cmd + 1, sizeof(char *));
	if (!ix->layers || !ix->env || !ix->argv)
		return cli_fail(EXIT_SETUP, "run", "out of memory");
	memcpy(ix->layers, o->layers, o->n_layers * sizeof(char *));
	memcpy(ix->layers + o->n_layers, img->lowerdirs, img->n_layers * sizeof(char *));
	s->lowerdirs = ix->layers;
	s->n_lowerdirs = o->n_layers + img->n_layers;
	for (size_t i = 0; i < n_env; i++)
		if (!env_overridden(o, img->config.env[i]))
			ix->env[n++] = img->config.env[i];
	memcpy(ix->env + n, o->env, o->n_env * sizeof(char *));
	s->envp = ix->env;
	if (!s->cwd)
		s->cwd = img->config.working_dir;
	if (!s->argv) {
		memcpy(ix->argv, img->config.entrypoint, n_ep * sizeof(char *));
		memcpy(ix->argv + n_ep, img->config.cmd, n_cmd * sizeof(char *));
		if (n_ep + n_cmd == 0)
			return usage_error("CMD", "image %s has no Entrypoint or Cmd: give -- CMD",
					   o->image);
		s->argv = ix->argv;
	}
	return -1;
}

/* Starts the container o describes, forwards signals, waits; the exit code. */
static int run_spec(const struct forge_paths *p, struct run_opts *o)
{
	struct forge_err err = {0};
	struct forge_runtime *rt = NULL;
	struct forge_container *c = NULL;
	struct forge_exit_status st = {0};
	char id[16], name[64], cgroup[80], state[FORGE_PATH_MAX + 80], dir[FORGE_PATH_MAX + 16];
	int rc;

	forge_random_hex(id, 8);
	snprintf(name, sizeof(name), "%s", o->name ? o->name : "");
	if (!o->name)
		snprintf(name, sizeof(name), "run-%s", id);
	snprintf(cgroup, sizeof(cgroup), "run-%s", id);
	snprintf(dir, sizeof(dir), "%s/containers", p->run);
	snprintf(state, sizeof(state), "%s/run-%s", dir, id);
	if (o->spec.host_uid == 0) {
		/* A random 64Ki block above the usual subuid ranges, so two
		 * concurrent runs do not share host ids. */
		uint32_t r;
		char hex[9];
		forge_random_hex(hex, 8);
		r = (uint32_t)strtoul(hex, NULL, 16);
		o->spec.host_uid = o->spec.host_gid =
		    (uid_t)(2 * UID_BLOCK + (r % 4000) * UID_BLOCK);
	}
	o->spec.name = name;
	o->spec.cgroup = cgroup;
	o->spec.state_dir = state;
	o->spec.stdio[0] = 0;
	o->spec.stdio[1] = 1;
	o->spec.stdio[2] = 2;
	o->spec.die_with_parent = true;

	/* A missing or wrong rootfs is a set-up failure (125); every other
	 * spec error comes from a bad option value (2). */
	if (forge_container_spec_validate(&o->spec, &err) < 0)
		return cli_fail(err.code == -ENOENT || err.code == -ENOTDIR || err.code == -EACCES
				    ? EXIT_SETUP
				    : EXIT_USAGE,
				"run", "%s", err.msg);
	if (forge_paths_ensure(p, &err) < 0)
		return cli_fail(EXIT_SETUP, "run", "%s", err.msg);
	int runfd = open(p->run, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (runfd < 0)
		return cli_fail(EXIT_SETUP, "run", "open %s: %s", p->run, strerror(errno));
	rc = forge_mkdir_beneath(runfd, "containers", 0755, &err);
	close(runfd);
	if (rc < 0)
		return cli_fail(EXIT_SETUP, "run", "%s", err.msg);

	struct forge_runtime_config cfg = {.prefix = p->prefix, .run_dir = p->run};
	if (forge_runtime_open(&rt, &cfg, &err) < 0)
		return cli_fail(EXIT_SETUP, "run", "%s", err.msg);

	/* Signals are read from a signalfd and forwarded; block them before the
	 * container exists so none is lost. */
	sigset_t fwd;
	sigemptyset(&fwd);
	int fwd_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
	for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++)
		sigaddset(&fwd, fwd_sigs[i]);
	sigprocmask(SIG_BLOCK, &fwd, NULL);
	int sfd = signalfd(-1, &fwd, SFD_CLOEXEC);
	if (sfd < 0) {
		rc = cli_fail(EXIT_SETUP, "run", "signalfd: %s", strerror(errno));
		goto out;
	}

	if (forge_container_start(rt, &o->spec, &c, &err) < 0) {
		rc = cli_fail(EXIT_SETUP, "run", "%s", err.msg);
		goto out;
	}
	if (o->report)
		print_report(c);
	if (supervise(c, sfd, &st, &err) < 0) {
		rc = cli_fail(EXIT_SETUP, "run", "%s", err.msg);
		goto out;
	}
	rc = exit_code(&o->spec, &st, name);
out:
	if (c && forge_container_destroy(c, &err) < 0) {
		cli_fail(EXIT_SETUP, "run", "teardown: %s", err.msg);
		if (rc == 0)
			rc = EXIT_SETUP;
	}
	if (sfd >= 0)
		close(sfd);
	forge_runtime_close(rt);
	return rc;
}

int cmd_run(const struct cli_globals *g, int argc, char **argv)
{
	static struct run_opts o; /* large; zeroed once */
	struct image_defaults ix = {0};
	struct forge_paths paths;
	struct forge_err err = {0};
	int rc;

	memset(&o, 0, sizeof(o));
	forge_container_spec_init(&o.spec);
	rc = parse_run(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (forge_crypto_init() < 0)
		return cli_fail(EXIT_SETUP, "run", "libsodium initialisation failed");
	if (forge_paths_init(&paths, g->root, g->prefix, &err) < 0)
		return cli_fail(EXIT_USAGE, "run", "%s", err.msg);
	rc = o.image ? apply_image(&paths, &o, &ix) : -1;
	if (rc < 0)
		rc = run_spec(&paths, &o);
	image_defaults_free(&ix);
	return rc;
}
