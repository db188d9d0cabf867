/* SPDX-License-Identifier: Apache-2.0 */
/* forgectl's scenario commands: talk to forged over its socket (docs/protocol.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/proto.h"
#include "runtime/runtime.h"

#define CALL_TIMEOUT_MS 120000

/* One round trip; prints the error and returns its exit code, or 0 with
 * *result set (owned by the caller). */
static int call(const struct cli_globals *g, const char *cmd, const char *op, json_t *args,
		json_t **result)
{
	struct forge_paths paths;
	struct forge_err err = {0};
	struct forge_proto_reply rep;

	*result = NULL;
	if (forge_paths_init(&paths, g->root, g->prefix, &err) < 0) {
		json_decref(args);
		return cli_fail(EXIT_USAGE, cmd, "%s", err.msg);
	}
	int fd = forge_proto_connect(&paths, &err);
	if (fd < 0) {
		json_decref(args);
		return cli_fail(EXIT_SETUP, cmd, "%s", err.msg);
	}
	char cid[17];
	forge_random_hex(cid, 16);
	int rc = forge_proto_call(fd, op, cid, args, CALL_TIMEOUT_MS, &rep, &err);
	close(fd);
	if (rc < 0)
		return cli_fail(EXIT_SETUP, cmd, "%s", err.msg);
	if (!rep.ok) {
		cli_fail(1, cmd, "%s: %s", forge_proto_code_name(rep.code), rep.message);
		size_t i;
		json_t *v;
		json_array_foreach(rep.details, i, v) if (json_is_string(v))
		    fprintf(stderr, "  - %s\n", json_string_value(v));
		forge_proto_reply_clear(&rep);
		return 1;
	}
	*result = json_incref(rep.result);
	forge_proto_reply_clear(&rep);
	return 0;
}

static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (s)
		puts(s);
	free(s);
}

/* Parses [--json] and N positional arguments. */
static int simple_args(int argc, char **argv, int n, bool *json, const char *usage)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	int c;
	*json = false;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'j') {
			*json = true;
		} else if (c == 'h') {
			printf("usage: forgectl %s\n", usage);
			return -1;
		} else {
			return cli_fail(EXIT_USAGE, argv[0], "usage: forgectl %s", usage);
		}
	}
	if (argc - optind != n)
		return cli_fail(EXIT_USAGE, argv[0], "usage: forgectl %s", usage);
	return 0;
}

int cmd_spawn(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
					     {"request-id", required_argument, NULL, 'r'},
					     {"json", no_argument, NULL, 'j'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	static const char usage[] =
	    "spawn TEMPLATE [--tenant T] [--request-id ID] [--json]";
	const char *tenant = NULL, *rid = NULL;
	bool json = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 't')
			tenant = optarg;
		else if (c == 'r')
			rid = optarg;
		else if (c == 'j')
			json = true;
		else if (c == 'h')
			return printf("usage: forgectl %s\n", usage) < 0;
		else
			return cli_fail(EXIT_USAGE, "spawn", "usage: forgectl %s", usage);
	}
	if (argc - optind != 1)
		return cli_fail(EXIT_USAGE, "spawn", "usage: forgectl %s", usage);
	json_t *args = json_pack("{s:s}", "template", argv[optind]), *res;
	if (tenant)
		json_object_set_new(args, "tenant_id", json_string(tenant));
	if (rid)
		json_object_set_new(args, "request_id", json_string(rid));
	int rc = call(g, "spawn", "spawn", args, &res);
	if (rc)
		return rc;
	if (json)
		print_json(res);
	else
		puts(json_string_value(json_object_get(res, "scenario_id")));
	json_decref(res);
	return 0;
}

int cmd_ps(const struct cli_globals *g, int argc, char **argv)
{
	bool json;
	int rc = simple_args(argc, argv, 0, &json, "ps [--json]");
	json_t *res;
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = call(g, "ps", "list", json_object(), &res)))
		return rc;
	json_t *list = json_object_get(res, "scenarios"), *s;
	size_t i;
	if (json) {
		print_json(list);
	} else {
		printf("%-12s  %-10s  %-10s  %-12s  %-20s  %s\n", "SCENARIO", "STATE", "TEMPLATE",
		       "TENANT", "CREATED", "CONTAINERS");
		json_array_foreach(list, i, s)
		{
			printf("%-12s  %-10s  %-10s  %-12s  %-20s  ",
			       json_string_value(json_object_get(s, "scenario_id")),
			       json_string_value(json_object_get(s, "state")),
			       json_string_value(
				   json_object_get(json_object_get(s, "template"), "name")),
			       json_string_value(json_object_get(s, "tenant_id")),
			       json_string_value(json_object_get(s, "created_at")));
			size_t k;
			json_t *ct;
			json_array_foreach(json_object_get(s, "containers"), k, ct)
			    printf("%s%s", k ? "," : "",
				   json_string_value(json_object_get(ct, "name")));
			putchar('\n');
		}
	}
	json_decref(res);
	return 0;
}

/* One scenario id argument, one op, and the scenario printed back. */
static int scenario_op(const struct cli_globals *g, int argc, char **argv, const char *op)
{
	bool json;
	char usage[64];
	snprintf(usage, sizeof(usage), "%s SCENARIO [--json]", argv[0]);
	int rc = simple_args(argc, argv, 1, &json, usage);
	json_t *res;
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = call(g, argv[0], op, json_pack("{s:s}", "scenario_id", argv[optind]), &res)))
		return rc;
	if (json) {
		print_json(res);
	} else if (strcmp(op, "complete") == 0) {
		const char *dir = json_string_value(json_object_get(res, "results_dir"));
		puts(dir ? dir : json_string_value(json_object_get(res, "state")));
	} else {
		puts(json_string_value(json_object_get(res, "state")));
	}
	json_decref(res);
	return 0;
}

int cmd_destroy(const struct cli_globals *g, int argc, char **argv)
{
	return scenario_op(g, argc, argv, "destroy");
}

int cmd_complete(const struct cli_globals *g, int argc, char **argv)
{
	return scenario_op(g, argc, argv, "complete");
}

int cmd_pause(const struct cli_globals *g, int argc, char **argv)
{
	bool json;
	char usage[64];
	snprintf(usage, sizeof(usage), "%s TRACK", argv[0]);
	int rc = simple_args(argc, argv, 1, &json, usage);
	json_t *res;
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = call(g, argv[0], argv[0], json_pack("{s:s}", "track", argv[optind]), &res)))
		return rc;
	printf("%s %s\n", argv[optind],
	       json_is_true(json_object_get(res, "paused")) ? "paused" : "resumed");
	json_decref(res);
	return 0;
}

static int exec_tty(const struct cli_globals *g, const char *id, const char *name,
		    json_t *cmd);

int cmd_exec(const struct cli_globals *g, int argc, char **argv)
{
	static const char usage[] =
	    "exec [-t] [--timeout MS] SCENARIO CONTAINER -- CMD [ARG...]\n"
	    "  -t, --tty     an interactive terminal (local root; no timeout)";
	static const struct option opts[] = {{"timeout", required_argument, NULL, 'T'},
					     {"tty", no_argument, NULL, 't'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	long timeout = 10000;
	bool tty = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+ht", opts, NULL)) != -1) {
		char *end;
		if (c == 't') {
			tty = true;
		} else if (c == 'T') {
			timeout = strtol(optarg, &end, 10);
			if (*end || timeout < 1 || timeout > 60000)
				return cli_fail(EXIT_USAGE, "exec", "--timeout: 1..60000 ms");
		} else if (c == 'h') {
			printf("usage: forgectl %s\n", usage);
			return 0;
		} else {
			return cli_fail(EXIT_USAGE, "exec", "usage: forgectl %s", usage);
		}
	}
	if (argc - optind < 3)
		return cli_fail(EXIT_USAGE, "exec", "usage: forgectl %s", usage);
	int first = optind + 2;
	if (strcmp(argv[first], "--") == 0)
		first++;
	if (first >= argc)
		return cli_fail(EXIT_USAGE, "exec", "no command given");
	json_t *cmd = json_array(), *res;
	for (int i = first; i < argc; i++)
		json_array_append_new(cmd, json_string(argv[i]));
	if (tty)
		return exec_tty(g, argv[optind], argv[optind + 1], cmd);
	int rc = call(g, "exec", "exec",
		      json_pack("{s:s, s:s, s:o, s:i}", "scenario_id", argv[optind], "container",
				argv[optind + 1], "argv", cmd, "timeout_ms", (int)timeout),
		      &res);
	if (rc)
		return rc;
	fputs(json_string_value(json_object_get(res, "stdout")), stdout);
	fputs(json_string_value(json_object_get(res, "stderr")), stderr);
	if (json_is_true(json_object_get(res, "timed_out")))
		fprintf(stderr, "forgectl exec: timed out after %ld ms\n", timeout);
	if (json_is_true(json_object_get(res, "truncated")))
		fprintf(stderr, "forgectl exec: output truncated\n");
	rc = (int)json_integer_value(json_object_get(res, "exit_code"));
	json_decref(res);
	return rc;
}

int cmd_logs(const struct cli_globals *g, int argc, char **argv)
{
	bool json;
	struct forge_paths paths;
	struct forge_err err = {0};
	int rc = simple_args(argc, argv, 2, &json, "logs SCENARIO CONTAINER");
	if (rc)
		return rc < 0 ? 0 : rc;
	const char *id = argv[optind], *name = argv[optind + 1];
	if (!forge_name_is_component(id) || !forge_name_is_component(name))
		return cli_fail(EXIT_USAGE, "logs", "bad scenario or container name");
	if (forge_paths_init(&paths, g->root, g->prefix, &err) < 0)
		return cli_fail(EXIT_USAGE, "logs", "%s", err.msg);
	int lib = open(paths.lib, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char rel[600];
	snprintf(rel, sizeof(rel), "scenarios/%s/logs/%s.log", id, name);
	int fd = lib < 0 ? -errno : forge_open_beneath(lib, rel, O_RDONLY, 0, &err);
	if (lib >= 0)
		close(lib);
	if (fd < 0)
		return cli_fail(1, "logs", "no log for %s in scenario %s", name, id);
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
	close(fd);
	return 0;
}

static const char *js(const json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	return s ? s : "-";
}

/* A JSON value as text: strings bare, the rest compact JSON. */
static void put_value(const json_t *v)
{
	if (json_is_string(v)) {
		fputs(json_string_value(v), stdout);
		return;
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	fputs(s ? s : "-", stdout);
	free(s);
}

static void print_isolation(const json_t *iso)
{
	const char *k;
	json_t *v, *cg = json_object_get(iso, "cgroup"), *sc = json_object_get(iso, "seccomp");
	json_t *rootfs = json_object_get(iso, "rootfs");
	printf("    namespaces:");
	json_object_foreach(json_object_get(iso, "namespaces"), k, v)
	{
		printf(" %s:", k);
		put_value(v);
	}
	printf("\n    uid map: %s\n", js(iso, "uid_map"));
	printf("    gid map: %s\n", js(iso, "gid_map"));
	printf("    capabilities:");
	size_t i;
	json_array_foreach(json_object_get(iso, "capabilities"), i, v) printf(" %s",
									   json_string_value(v));
	printf("%s  (everything else dropped; no_new_privs %s)\n",
	       json_array_size(json_object_get(iso, "capabilities")) ? "" : " none",
	       json_is_true(json_object_get(iso, "no_new_privs")) ? "on" : "off");
	printf("    seccomp: %s, %lld syscalls allowed, %lld with an errno rule, profile sha256 "
	       "%.16s…\n",
	       js(sc, "mode"), (long long)json_integer_value(json_object_get(sc, "allowed")),
	       (long long)json_integer_value(json_object_get(sc, "denied")),
	       js(sc, "profile_sha256"));
	printf("    cgroup (%s): memory max ", js(cg, "mode"));
	put_value(json_object_get(json_object_get(cg, "memory"), "max"));
	printf(", pids max ");
	put_value(json_object_get(json_object_get(cg, "pids"), "max"));
	printf(", cpu ");
	json_t *cpu = json_object_get(cg, "cpu");
	put_value(json_object_get(cpu, "max") ? json_object_get(cpu, "max")
					      : json_object_get(cpu, "cfs_quota_us"));
	printf("\n    rootfs: %s overlay of %zu layer(s), idmapped %s\n",
	       json_is_true(json_object_get(rootfs, "writable")) ? "writable" : "read-only",
	       json_array_size(json_object_get(rootfs, "lowerdirs")),
	       json_is_true(json_object_get(rootfs, "idmapped")) ? "yes" : "no");
}

static void print_container(const json_t *c)
{
	size_t i, k;
	json_t *v, *ch, *r;
	printf("  container %s  %s  %s\n", js(c, "name"), js(c, "state"), js(c, "image"));
	if (json_object_get(c, "isolation"))
		print_isolation(json_object_get(c, "isolation"));
	printf("    mounts:\n");
	json_array_foreach(json_object_get(c, "mounts"), i, v)
	    printf("      %-16s %-8s %s\n", js(v, "target"), js(v, "fstype"), js(v, "options"));
	json_t *nft = json_object_get(c, "nftables");
	printf("    nftables table %s %s:\n", js(nft, "family"), js(nft, "table"));
	json_array_foreach(json_object_get(nft, "chains"), i, ch)
	{
		printf("      chain %s (hook %s, policy %s)\n", js(ch, "name"), js(ch, "hook"),
		       js(ch, "policy"));
		json_array_foreach(json_object_get(ch, "rules"), k, r)
		{
			printf("        ");
			size_t e;
			json_t *term;
			json_array_foreach(json_object_get(r, "expr"), e, term) printf(
			    "%s%s", e ? " " : "", json_string_value(term));
			printf("  [packets %lld]\n",
			       (long long)json_integer_value(json_object_get(r, "packets")));
		}
	}
	json_t *net = json_object_get(c, "network");
	printf("    links:");
	json_array_foreach(json_object_get(net, "links"), i, v)
	    printf(" %s(%s)", js(v, "name"), json_is_true(json_object_get(v, "up")) ? "up" : "down");
	printf("\n    addresses:");
	json_array_foreach(json_object_get(net, "addresses"), i, v) printf(
	    " %s/%lld@%s", js(v, "address"),
	    (long long)json_integer_value(json_object_get(v, "prefix_len")), js(v, "dev"));
	printf("\n    routes:");
	json_array_foreach(json_object_get(net, "routes"), i, v)
	{
		printf(" %s/%lld", js(v, "dst"),
		       (long long)json_integer_value(json_object_get(v, "dst_len")));
		if (*js(v, "via") && strcmp(js(v, "via"), "-") != 0)
			printf(" via %s", js(v, "via"));
		printf(" dev %s;", js(v, "dev"));
	}
	putchar('\n');
}

int cmd_inspect(const struct cli_globals *g, int argc, char **argv)
{
	bool json;
	int rc = simple_args(argc, argv, 1, &json, "inspect SCENARIO [--json]");
	json_t *res;
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = call(g, "inspect", "inspect", json_pack("{s:s}", "scenario_id", argv[optind]),
		       &res)))
		return rc;
	if (json) {
		print_json(res);
	} else {
		json_t *t = json_object_get(res, "template"), *c;
		size_t i;
		printf("scenario %s  %s  template %s %s (sha256 %.16s…)\n", js(res, "scenario_id"),
		       js(res, "state"), js(t, "name"), js(t, "version"), js(t, "hash"));
		printf("  tenant %s  created %s  expires %s\n  hub network namespace %s\n",
		       js(res, "tenant_id"), js(res, "created_at"), js(res, "expires_at"),
		       js(res, "hub"));
		json_array_foreach(json_object_get(res, "containers"), i, c) print_container(c);
	}
	json_decref(res);
	return 0;
}

/* Prints forged's lifecycle events as JSON lines until interrupted, or after
 * --count N events (scripts and tests). */
int cmd_watch(const struct cli_globals *g, int argc, char **argv)
{
	static const char usage[] = "watch [--count N]";
	static const struct option opts[] = {{"count", required_argument, NULL, 'n'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct forge_paths paths;
	struct forge_err err = {0};
	struct forge_proto_reply rep;
	long count = -1;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		char *end;
		if (c == 'n') {
			count = strtol(optarg, &end, 10);
			if (*end || count < 1)
				return cli_fail(EXIT_USAGE, "watch", "--count: a positive number");
		} else if (c == 'h') {
			printf("usage: forgectl %s\n", usage);
			return 0;
		} else {
			return cli_fail(EXIT_USAGE, "watch", "usage: forgectl %s", usage);
		}
	}
	if (optind != argc)
		return cli_fail(EXIT_USAGE, "watch", "usage: forgectl %s", usage);
	if (forge_paths_init(&paths, g->root, g->prefix, &err) < 0)
		return cli_fail(EXIT_USAGE, "watch", "%s", err.msg);
	int fd = forge_proto_connect(&paths, &err);
	if (fd < 0)
		return cli_fail(EXIT_SETUP, "watch", "%s", err.msg);
	if (forge_proto_call(fd, "watch", NULL, NULL, CALL_TIMEOUT_MS, &rep, &err) < 0 || !rep.ok) {
		close(fd);
		forge_proto_reply_clear(&rep);
		return cli_fail(EXIT_SETUP, "watch", "%s", err.msg[0] ? err.msg : "refused");
	}
	forge_proto_reply_clear(&rep);
	char *buf = malloc(FORGE_PROTO_MAX + 1);
	int rc = buf ? 0 : cli_fail(EXIT_SETUP, "watch", "out of memory");
	while (rc == 0 && count != 0) {
		ssize_t n = forge_proto_recv(fd, buf, -1, &err);
		if (n < 0) {
			rc = cli_fail(EXIT_SETUP, "watch", "%s", err.msg);
			break;
		}
		if (forge_proto_parse_reply(buf, (size_t)n, &rep, &err) < 0 || !rep.event) {
			forge_proto_reply_clear(&rep);
			continue;
		}
		char *line = json_dumps(rep.event, JSON_COMPACT | JSON_SORT_KEYS);
		if (line)
			printf("%s\n", line);
		fflush(stdout);
		free(line);
		forge_proto_reply_clear(&rep);
		if (count > 0)
			count--;
	}
	free(buf);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------ exec -t */

static struct termios saved_tio;
static bool tio_saved;

static void restore_terminal(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

/* Copies the terminal to the pty master and back until either side ends. */
static void __attribute__((noreturn)) relay(int master)
{
	struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
			      {.fd = master, .events = POLLIN}};
	char buf[4096];
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			_exit(0);
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0)
				_exit(0);
			int to = i == 0 ? master : STDOUT_FILENO;
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(to, buf + off, (size_t)(n - off));
				if (w <= 0)
					_exit(0);
				off += w;
			}
		}
	}
}

/* The pty is ready (its master is the container's): the operator's terminal
 * goes raw, with the pty at its size, and a relay process copies between them. */
static void start_relay(void *ctx, int master)
{
	pid_t *relay_pid = ctx;
	struct winsize ws;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		struct termios raw = saved_tio;
		cfmakeraw(&raw);
		tio_saved = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	*relay_pid = fork();
	if (*relay_pid == 0)
		relay(master);
}

/* forgectl exec -t: forged audits the exec and gives the container's record;
 * forgectl adopts the container and runs the command on a new pty of the
 * container's own devpts (never the operator's own terminal, nor any host
 * pty: a terminal handed into a container could be used to inject input
 * into the host shell), relaying it. */
static int exec_tty(const struct cli_globals *g, const char *id, const char *name,
		    json_t *cmd)
{
	struct forge_paths paths;
	struct forge_err err = {0};
	struct forge_runtime *rt = NULL;
	struct forge_container *c = NULL;
	json_t *rec_j;
	int rc = call(g, "exec", "attach",
		      json_pack("{s:s, s:s, s:O}", "scenario_id", id, "container", name, "argv",
				cmd),
		      &rec_j);
	if (rc) {
		json_decref(cmd);
		return rc;
	}
	struct forge_container_record rec = {0};
	json_int_t pid, start, caps, uid, gid, count;
	int mode;
	const char *cg;
	if (json_unpack(rec_j, "{s:I, s:I, s:s, s:I, s:i, s:I, s:I, s:I}", "pid", &pid,
			"start_time", &start, "cgroup", &cg, "caps", &caps, "seccomp_mode", &mode,
			"host_uid", &uid, "host_gid", &gid, "id_count", &count) < 0) {
		json_decref(rec_j);
		json_decref(cmd);
		return cli_fail(EXIT_SETUP, "exec", "forged sent a bad record");
	}
	snprintf(rec.name, sizeof(rec.name), "%s", name);
	snprintf(rec.cgroup, sizeof(rec.cgroup), "%s", cg);
	rec.pid = (pid_t)pid;
	rec.start_time = (uint64_t)start;
	rec.caps = (uint64_t)caps;
	rec.seccomp_mode = (enum forge_seccomp_mode)mode;
	rec.host_uid = (uid_t)uid;
	rec.host_gid = (gid_t)gid;
	rec.id_count = (uint32_t)count;
	json_decref(rec_j);

	const char **argv = calloc(json_array_size(cmd) + 1, sizeof(*argv));
	pid_t relay_pid = -1;
	if (!argv) {
		rc = cli_fail(EXIT_SETUP, "exec", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(cmd); i++)
		argv[i] = json_string_value(json_array_get(cmd, i));
	struct forge_runtime_config cfg = {0};
	if (forge_paths_init(&paths, g->root, g->prefix, &err) < 0 ||
	    (cfg.prefix = paths.prefix, cfg.run_dir = paths.run,
	     forge_runtime_open(&rt, &cfg, &err) < 0) ||
	    forge_container_adopt(rt, &rec, &c, &err) < 0) {
		rc = cli_fail(EXIT_SETUP, "exec", "%s", err.msg);
		goto out;
	}
	struct forge_exec_spec spec = {.argv = argv,
				       .timeout_ms = 24 * 3600 * 1000,
				       .output_limit = 1,
				       .stdin_fd = -1,
				       .tty = true,
				       .tty_master = start_relay,
				       .tty_ctx = &relay_pid};
	struct forge_exec_result res = {0};
	rc = forge_container_exec(c, &spec, &res, &err);
	restore_terminal();
	if (rc < 0) {
		rc = cli_fail(EXIT_SETUP, "exec", "%s", err.msg);
	} else {
		rc = res.exited ? res.code : 128 + res.signal;
		forge_exec_result_free(&res);
	}
out:
	if (relay_pid > 0) {
		kill(relay_pid, SIGKILL);
		waitpid(relay_pid, NULL, 0);
	}
	forge_container_release(c);
	forge_runtime_close(rt);
	free(argv);
	json_decref(cmd);
	return rc;
}
