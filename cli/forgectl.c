/* SPDX-License-Identifier: Apache-2.0 */
/* forgectl: the operator's command-line tool. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage_text[] =
    "usage: forgectl [--root DIR] [--prefix NAME] [--log-level LEVEL] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  run        run one isolated container in the foreground (see forgectl run --help)\n"
    "  spawn      spawn a scenario from a template (prints its id)\n"
    "  ps         list scenarios\n"
    "  inspect    a scenario's isolation, read from the kernel (for auditors)\n"
    "  watch      print lifecycle events as JSON lines\n"
    "  exec       run a command in a scenario's container\n"
    "  logs       print a container's output log\n"
    "  complete   end a scenario's work and score it (prints the results directory)\n"
    "  destroy    tear a scenario down\n"
    "  pause      refuse new spawns of a track (resume lifts it)\n"
    "  image      build, import, list, inspect and remove images (forgectl image --help)\n"
    "  template   validate scenario templates (forgectl template --help)\n"
    "  policy     evaluate policy gates and run policy tests (forgectl policy --help)\n"
    "  verify     check a results directory's hashes and signature offline\n"
    "  audit      verify the hash-chained, signed audit log (forgectl audit verify)\n"
    "  keys       list and rotate the verdict and audit signing keys\n"
    "  cleanup    delete results past their retention (forgectl cleanup results --help)\n"
    "  hold       keep a scenario's results from cleanup (unhold releases)\n"
    "  dev-token  mint a development bearer token for forge-api (refused in production)\n"
    "  billing    verify forge-api's hash-chained billing ledger (forgectl billing verify)\n"
    "\n"
    "options:\n"
    "  --root DIR         Forge's root (default $FORGE_ROOT or /)\n"
    "  --prefix NAME      kernel object prefix (default $FORGE_PREFIX or forge)\n"
    "  --log-level LEVEL  debug, info, warn or error (default warn)\n"
    "  --version          print the version\n";

int cli_fail(int code, const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "forgectl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_globals g = {0};
	enum forge_log_level level = FORGE_LOG_WARN;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case ':':
			return cli_fail(EXIT_USAGE, NULL, "%s: requires a value", argv[optind - 1]);
		case '?':
			return cli_fail(EXIT_USAGE, NULL,
					"%s: unknown option (see forgectl --help)",
					argv[optind - 1]);
		case 'r':
			g.root = optarg;
			break;
		case 'p':
			g.prefix = optarg;
			break;
		case 'l':
			if (forge_log_level_parse(optarg, &level) < 0)
				return cli_fail(EXIT_USAGE, NULL,
						"--log-level: unknown level \"%s\"", optarg);
			break;
		case 'V':
			printf("forgectl %s\n", FORGE_VERSION);
			return 0;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	forge_log_init("forgectl", level, 2);
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0; /* reset getopt for the subcommand (0 also re-reads GNU flags) */
	static const struct {
		const char *name;
		int (*fn)(const struct cli_globals *, int, char **);
	} commands[] = {
	    {"run", cmd_run},
	    {"spawn", cmd_spawn},
	    {"ps", cmd_ps},
	    {"inspect", cmd_inspect},
	    {"watch", cmd_watch},
	    {"exec", cmd_exec},
	    {"logs", cmd_logs},
	    {"destroy", cmd_destroy},
	    {"complete", cmd_complete},
	    {"pause", cmd_pause},
	    {"resume", cmd_pause},
	    {"image", cmd_image},
	    {"template", cmd_template},
	    {"policy", cmd_policy},
	    {"verify", cmd_verify},
	    {"audit", cmd_audit},
	    {"keys", cmd_keys},
	    {"cleanup", cmd_cleanup},
	    {"hold", cmd_hold},
	    {"unhold", cmd_hold},
	    {"dev-token", cmd_dev_token},
	    {"billing", cmd_billing},
	};
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].fn(&g, sub_argc, sub_argv);
	return cli_fail(EXIT_USAGE, NULL, "unknown command \"%s\" (see forgectl --help)", cmd);
}
