/* SPDX-License-Identifier: Apache-2.0 */
/* forgectl policy: decide a gate for an input document, run policy tests, print the bundle hash. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "policy/policy.h"

#define INPUT_MAX (1024 * 1024)

static const char usage_text[] =
    "usage: forgectl policy eval GATE INPUT [--rules DIR] [--json]\n"
    "       forgectl policy test DIR [--rules DIR]\n"
    "       forgectl policy hash [--rules DIR]\n"
    "\n"
    "  eval   decide GATE (training, spawn, quota or action) for INPUT, a JSON or YAML\n"
    "         document (- for stdin); prints the decision, every deny reason, the matched\n"
    "         rules, the decision id and the bundle hash (--json: the decision as one JSON\n"
    "         line). Exit status 0 on allow, 1 on deny.\n"
    "  test   run the test cases of DIR/*.yaml: one line per case, then a summary.\n"
    "         Exit status 0 when every case passes, 1 otherwise.\n"
    "  hash   print the sha256 of the rule bundle (what a pinned hash is compared with).\n"
    "\n"
    "The rules are read from --rules DIR; without it from <root>/etc/forge/policy when\n"
    "that directory exists, else from policy/rules under the current directory.\n"
    "Exit status 2 for bad arguments, 125 when the rules or an input cannot be used.\n";

struct policy_args {
	const char *rules; /* --rules, or NULL */
	bool json;
	char *pos[2]; /* positional arguments */
};

/* argv[0] is the subcommand; exactly npos positional arguments. */
static int parse_args(int argc, char **argv, bool json_ok, int npos, struct policy_args *a)
{
	static const struct option opts[] = {
	    {"rules", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c == 'r')
			a->rules = optarg;
		else if (c == 'j' && json_ok)
			a->json = true;
		else if (c == ':')
			return cli_fail(EXIT_USAGE, "policy", "%s: requires a value",
					argv[optind - 1]);
		else
			return cli_fail(EXIT_USAGE, "policy",
					"%s %s: unknown option (see forgectl policy --help)",
					argv[0], argv[optind - 1]);
	}
	if (argc - optind != npos)
		return cli_fail(EXIT_USAGE, "policy",
				"%s: %d argument%s expected (see forgectl policy --help)", argv[0],
				npos, npos == 1 ? "" : "s");
	for (int i = 0; i < npos; i++)
		a->pos[i] = argv[optind + i];
	return 0;
}

/* --rules, else <etc>/policy when it is a directory, else ./policy/rules. */
static int rules_dir(const struct cli_globals *g, const char *opt, char out[FORGE_PATH_MAX])
{
	struct forge_paths paths;
	struct forge_err err = {0};
	struct stat st;

	if (opt) {
		snprintf(out, FORGE_PATH_MAX, "%s", opt);
		return 0;
	}
	if (forge_paths_init(&paths, g->root, g->prefix, &err) < 0 ||
	    forge_path_join(out, FORGE_PATH_MAX, paths.etc, "policy", &err) < 0)
		return cli_fail(EXIT_SETUP, "policy", "%s", err.msg);
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	snprintf(out, FORGE_PATH_MAX, "policy/rules");
	return 0;
}

static int load_rules(const struct cli_globals *g, const char *opt, char dir[FORGE_PATH_MAX],
		      struct forge_policy **p)
{
	struct forge_err err = {0};
	int rc = rules_dir(g, opt, dir);

	if (rc)
		return rc;
	if (forge_policy_load(dir, p, &err) < 0)
		return cli_fail(EXIT_SETUP, NULL, "%s (rules from %s)", err.msg, dir);
	return 0;
}

static int load_input(const char *path, json_t **input)
{
	struct forge_err err = {0};
	bool in = strcmp(path, "-") == 0;
	int fd = in ? STDIN_FILENO : open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return cli_fail(EXIT_SETUP, "policy", "%s: %s", path, strerror(errno));
	rc = forge_yaml_load_fd(fd, in ? "<stdin>" : path, INPUT_MAX, input, &err);
	if (!in)
		close(fd);
	return rc < 0 ? cli_fail(EXIT_SETUP, "policy", "%s", err.msg) : 0;
}

static void print_list(const char *label, const json_t *list)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
	{
		printf("%s: %s\n", label, json_string_value(e));
	}
}

static int policy_eval(const struct cli_globals *g, int argc, char **argv)
{
	struct policy_args a = {0};
	struct forge_policy_decision d = {0};
	struct forge_policy *p = NULL;
	struct forge_err err = {0};
	char dir[FORGE_PATH_MAX];
	json_t *input = NULL, *dj = NULL;
	char *text = NULL;
	int rc = parse_args(argc, argv, true, 2, &a);

	if (rc)
		return rc;
	if (!forge_policy_gate_known(a.pos[0]))
		return cli_fail(EXIT_USAGE, "policy",
				"eval: unknown gate \"%s\" (training, spawn, quota or action)",
				a.pos[0]);
	if ((rc = load_rules(g, a.rules, dir, &p)) || (rc = load_input(a.pos[1], &input)))
		goto out;
	if (forge_policy_eval(p, a.pos[0], input, &d, &err) < 0) {
		rc = cli_fail(EXIT_SETUP, NULL, "%s (%s)", err.msg, a.pos[1]);
		goto out;
	}
	if (a.json) {
		if (!(dj = forge_policy_decision_json(&d)) ||
		    !(text = forge_json_canonical(dj, &err))) {
			rc = cli_fail(EXIT_SETUP, "policy", "eval: out of memory");
			goto out;
		}
		printf("%s\n", text);
	} else {
		printf("decision: %s\n", d.allow ? "allow" : "deny");
		print_list("reason", d.reasons);
		print_list("matched", d.matched);
		printf("decision id: %s\nbundle: %s\nrules: %s\n", d.id, d.bundle, dir);
	}
	rc = d.allow ? 0 : 1;
out:
	free(text);
	json_decref(dj);
	forge_policy_decision_clear(&d);
	json_decref(input);
	forge_policy_free(p);
	return rc;
}

static int policy_test(const struct cli_globals *g, int argc, char **argv)
{
	struct policy_args a = {0};
	struct forge_policy *p = NULL;
	struct forge_err err = {0};
	char dir[FORGE_PATH_MAX];
	json_t *results = NULL, *r;
	size_t i, passed = 0, failed = 0;
	int rc = parse_args(argc, argv, false, 1, &a);

	if (rc || (rc = load_rules(g, a.rules, dir, &p)))
		return rc;
	if (forge_policy_test_dir(p, a.pos[0], &results, &err) < 0) {
		rc = cli_fail(EXIT_SETUP, NULL, "%s", err.msg);
		goto out;
	}
	json_array_foreach(results, i, r)
	{
		const char *file = json_string_value(json_object_get(r, "file"));
		const char *name = json_string_value(json_object_get(r, "name"));

		if (json_is_true(json_object_get(r, "pass"))) {
			passed++;
			printf("ok   %s: %s\n", file, name);
		} else {
			failed++;
			printf("FAIL %s: %s: %s\n", file, name,
			       json_string_value(json_object_get(r, "why")));
		}
	}
	printf("policy test: %zu passed, %zu failed (rules %s, bundle %s)\n", passed, failed, dir,
	       forge_policy_bundle(p));
	rc = failed ? 1 : 0;
out:
	json_decref(results);
	forge_policy_free(p);
	return rc;
}

static int policy_hash(const struct cli_globals *g, int argc, char **argv)
{
	struct policy_args a = {0};
	struct forge_policy *p = NULL;
	char dir[FORGE_PATH_MAX];
	int rc = parse_args(argc, argv, false, 0, &a);

	if (rc || (rc = load_rules(g, a.rules, dir, &p)))
		return rc;
	printf("%s\n", forge_policy_bundle(p));
	forge_policy_free(p);
	return 0;
}

int cmd_policy(const struct cli_globals *g, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const struct cli_globals *, int, char **);
	} subs[] = {
	    {"eval", policy_eval},
	    {"test", policy_test},
	    {"hash", policy_hash},
	};

	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(g, argc - 1, argv + 1);
	return cli_fail(EXIT_USAGE, "policy", "unknown command \"%s\" (see forgectl policy --help)",
			argv[1]);
}
