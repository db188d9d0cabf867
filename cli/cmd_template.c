/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forgectl template: check scenario templates offline (no daemon) against the
 * schema and the semantic checks forged applies, and show a template's
 * identity and canonical form.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "templates/template.h"

#define EXIT_INVALID 1 /* a template is not valid */

static const char template_usage[] =
    "usage: forgectl template validate [--schema FILE] FILE...\n"
    "       forgectl template show [--schema FILE] FILE\n"
    "\n"
    "  validate   check each FILE (YAML or JSON; - is stdin) and print every problem as\n"
    "             \"FILE: PATH: MESSAGE\", or \"FILE: valid: name=N version=V sha256=H\";\n"
    "             exit 1 when any FILE is not valid\n"
    "  show       print name, version and sha256, then the canonical JSON on one line\n"
    "             (the sha256 is that line's)\n"
    "\n"
    "  --schema FILE  the template schema (default: <root>/etc/forge/templates/schema.json)\n";

/* The default schema: the one forged's template directory holds. */
static int load_schema(const struct cli_globals *g, const char *cmd, const char *path,
		       struct forge_template_schema **out)
{
	struct forge_err err = {0};
	struct forge_paths p;
	char dflt[FORGE_PATH_MAX];
	int fd, rc;

	if (!path) {
		if (forge_paths_init(&p, g->root, g->prefix, &err) < 0)
			return cli_fail(EXIT_USAGE, cmd, "%s", err.msg);
		if (snprintf(dflt, sizeof(dflt), "%s/templates/%s", p.etc,
			     FORGE_TEMPLATE_SCHEMA_FILE) >= (int)sizeof(dflt))
			return cli_fail(EXIT_USAGE, cmd, "%s: path too long", p.etc);
		path = dflt;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cli_fail(EXIT_SETUP, cmd, "schema %s: %m (give one with --schema FILE)",
				path);
	rc = forge_template_schema_load_fd(fd, path, out, &err);
	close(fd);
	if (rc < 0)
		return cli_fail(EXIT_SETUP, cmd, "%s", err.msg);
	return 0;
}

static void print_problems(FILE *to, const char *file, const struct forge_template_problems *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct forge_template_problem *q = &p->items[i];

		fprintf(to, "%s: %s%s%s\n", file, q->path, q->path[0] ? ": " : "", q->message);
	}
	if (p->dropped)
		fprintf(to, "%s: … and %zu more problems\n", file, p->dropped);
}

/* Loads file (or stdin for "-"); 0, EXIT_INVALID with the problems printed to
 * `to`, or another exit code for a file that cannot be read. */
static int load_template(const struct forge_template_schema *s, const char *cmd, const char *file,
			 FILE *to, struct forge_template **out)
{
	struct forge_template_problems p = {0};
	struct forge_err err = {0};
	bool is_stdin = !strcmp(file, "-");
	int fd = is_stdin ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int rc;

	*out = NULL;
	if (fd < 0) {
		fprintf(to, "%s: cannot open: %m\n", file);
		return EXIT_INVALID;
	}
	rc = forge_template_load_fd(s, fd, is_stdin ? "<stdin>" : file, out, &p, &err);
	if (!is_stdin)
		close(fd);
	if (rc == 0)
		return 0;
	if (p.n || p.dropped)
		print_problems(to, file, &p);
	else
		fprintf(to, "%s: %s\n", file, err.msg);
	forge_template_problems_free(&p);
	return rc == -ENOMEM ? cli_fail(EXIT_SETUP, cmd, "%s", err.msg) : EXIT_INVALID;
}

static int validate(const struct forge_template_schema *s, int argc, char **argv)
{
	struct forge_template *t;
	int i, rc, status = 0;

	for (i = 0; i < argc; i++) {
		rc = load_template(s, "template validate", argv[i], stdout, &t);
		if (rc) {
			status = status ? status : rc;
			continue;
		}
		printf("%s: valid: name=%s version=%s sha256=%s\n", argv[i], t->name, t->version,
		       t->sha256);
		forge_template_free(t);
	}
	return status;
}

static int show(const struct forge_template_schema *s, const char *file)
{
	struct forge_err err = {0};
	struct forge_template *t;
	char *canonical;
	int rc;

	rc = load_template(s, "template show", file, stderr, &t);
	if (rc)
		return rc;
	canonical = forge_json_canonical(t->doc, &err);
	if (canonical) {
		printf("name: %s\nversion: %s\nsha256: %s\n%s\n", t->name, t->version, t->sha256,
		       canonical);
		free(canonical);
	} else {
		rc = cli_fail(EXIT_SETUP, "template show", "%s", err.msg);
	}
	forge_template_free(t);
	return rc;
}

int cmd_template(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"schema", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct forge_template_schema *schema = NULL;
	const char *schema_path = NULL, *sub;
	int c, rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(template_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "validate") && strcmp(sub, "show"))
		return cli_fail(EXIT_USAGE, "template", "unknown subcommand \"%s\" (see --help)",
				sub);
	argc--;
	argv++;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			schema_path = optarg;
			break;
		case 'h':
			fputs(template_usage, stdout);
			return 0;
		case ':':
			return cli_fail(EXIT_USAGE, "template", "%s: requires a value",
					argv[optind - 1]);
		default:
			return cli_fail(EXIT_USAGE, "template", "%s: unknown option (see --help)",
					argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_fail(EXIT_USAGE, "template", "%s: no FILE given", sub);
	if (!strcmp(sub, "show") && argc - optind != 1)
		return cli_fail(EXIT_USAGE, "template", "show: exactly one FILE");
	rc = load_schema(g, "template", schema_path, &schema);
	if (rc)
		return rc;
	if (!strcmp(sub, "show"))
		rc = show(schema, argv[optind]);
	else
		rc = validate(schema, argc - optind, argv + optind);
	forge_template_schema_free(schema);
	return rc;
}
