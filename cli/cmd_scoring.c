/* SPDX-License-Identifier: Apache-2.0 */
/* forgectl verify, audit, keys, cleanup, hold/unhold: scoring's offline tools (no daemon). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "scoring/scoring.h"

/* A verification that ran and found something wrong. */
#define EXIT_BAD 1

static const char verify_usage[] =
    "usage: forgectl verify DIR [--keys DIR | --pubkey FILE]\n"
    "\n"
    "Checks a results directory offline: exactly score.json, evidence.tar.zst,\n"
    "manifest.json and verdict.sig; the manifest's Ed25519 signature by a known verdict\n"
    "key; every file's sha256; the score against its criteria and the evidence bundle.\n"
    "Prints \"OK key_id=… score=…\" or names what failed.\n"
    "\n"
    "  --keys DIR     public verdict keys: DIR/verdict/*.pub, or DIR/*.pub\n"
    "                 (default <root>/etc/forge/keys)\n"
    "  --pubkey FILE  one key file: a .pub record, a key set ({\"keys\":[…]}) or a bare\n"
    "                 base64url public key\n"
    "\n"
    "Exit status 0 when it verifies, 1 when it does not, 2 for bad arguments.\n";

static const char audit_usage[] =
    "usage: forgectl audit verify [--keys DIR]\n"
    "       forgectl audit repair\n"
    "\n"
    "  verify  checks every line of <root>/var/lib/forge/audit/audit.log (canonical form,\n"
    "          seq, prev_hash, hash, signature by a known audit key) and the signed head;\n"
    "          names the first bad line. Exit status 0 when intact, 1 otherwise.\n"
    "  repair  after a crash left a torn final line (appends stop then): moves the torn\n"
    "          bytes to audit/torn-<offset>.bin, truncates, and records audit.repair.\n"
    "          Refuses anything that is not a torn final line.\n";

static const char keys_usage[] =
    "usage: forgectl keys list [--json]\n"
    "       forgectl keys rotate verdict|audit\n"
    "\n"
    "  list    the published key set: every public key, active or retired\n"
    "  rotate  makes a new active key (the first one too); old public keys stay so\n"
    "          earlier verdicts and log lines keep verifying. Audited.\n";

static const char cleanup_usage[] =
    "usage: forgectl cleanup results --older-than DAYS [--dry-run]\n"
    "\n"
    "Deletes results older than DAYS and past their own retention (retention_days and\n"
    "timestamp of their manifest), except held ones (forgectl hold). Every deletion is\n"
    "audited. --dry-run prints what would be deleted and changes nothing.\n";

static const char hold_usage[] =
    "usage: forgectl hold SCENARIO\n"
    "       forgectl unhold SCENARIO\n"
    "\n"
    "An investigation hold keeps a scenario's results from cleanup until released.\n";

/* Who did it, for the audit log. */
static void cli_actor(char *out, size_t n)
{
	snprintf(out, n, "forgectl uid=%u", (unsigned)getuid());
}

static int cli_paths(const struct cli_globals *g, const char *cmd, struct forge_paths *p)
{
	struct forge_err err = {0};

	if (forge_paths_init(p, g->root, g->prefix, &err) < 0)
		return cli_fail(EXIT_USAGE, cmd, "%s", err.msg);
	return 0;
}

static bool cli_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return true;
		}
	return false;
}

/* A command with subcommands ("audit verify", "keys rotate"): each gets argv
 * from the subcommand's name on. */
struct cli_sub {
	const char *name;
	int (*fn)(const struct forge_paths *p, int argc, char **argv);
};

static int cli_dispatch(const struct cli_globals *g, const char *cmd, const char *usage,
			const struct cli_sub *subs, int argc, char **argv)
{
	struct forge_paths p;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	rc = cli_paths(g, cmd, &p);
	if (rc)
		return rc;
	for (; subs->name; subs++)
		if (strcmp(argv[1], subs->name) == 0)
			return subs->fn(&p, argc - 1, argv + 1);
	return cli_fail(EXIT_USAGE, cmd, "unknown subcommand \"%s\" (see forgectl %s --help)",
			argv[1], cmd);
}

/* --keys DIR or --pubkey FILE (at most one, and --pubkey only where pubkey_ok). */
struct key_opts {
	const char *keys_dir;
	const char *pubkey;
};

static int cli_parse_keys(const char *cmd, int argc, char **argv, bool pubkey_ok,
			  struct key_opts *k)
{
	static const struct option opts[] = {
	    {"keys", required_argument, NULL, 'k'},
	    {"pubkey", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c == 'k')
			k->keys_dir = optarg;
		else if (c == 'p' && pubkey_ok)
			k->pubkey = optarg;
		else if (c == ':')
			return cli_fail(EXIT_USAGE, cmd, "%s: requires a value", argv[optind - 1]);
		else
			return cli_fail(EXIT_USAGE, cmd,
					"%s: unknown option (see forgectl %s --help)",
					argv[optind - 1], cmd);
	}
	if (k->keys_dir && k->pubkey)
		return cli_fail(EXIT_USAGE, cmd, "--keys and --pubkey exclude each other");
	return 0;
}

static int cli_load_keys(const struct forge_paths *p, const struct key_opts *k,
			 enum forge_key_purpose purpose, struct forge_keyset *ks,
			 struct forge_err *err)
{
	char dir[FORGE_PATH_MAX];

	if (k->pubkey)
		return forge_keyset_load_file(k->pubkey, purpose, ks, err);
	if (!k->keys_dir && forge_path_join(dir, sizeof(dir), p->etc, "keys", err) < 0)
		return -ENAMETOOLONG;
	return forge_keyset_load_dir(k->keys_dir ? k->keys_dir : dir, purpose, ks, err);
}

/* ------------------------------------------------------------ verify */

int cmd_verify(const struct cli_globals *g, int argc, char **argv)
{
	struct forge_err err = {0};
	struct forge_verify_result res;
	struct forge_keyset ks = {0};
	struct key_opts k = {0};
	struct forge_paths p;
	int rc;

	if (cli_help(argc, argv, verify_usage))
		return 0;
	rc = cli_paths(g, "verify", &p) ?: cli_parse_keys("verify", argc, argv, true, &k);
	if (rc)
		return rc;
	if (argc - optind != 1)
		return cli_fail(EXIT_USAGE, "verify",
				"one results directory expected (see "
				"forgectl verify --help)");
	if (cli_load_keys(&p, &k, FORGE_KEY_VERDICT, &ks, &err) < 0)
		return cli_fail(EXIT_BAD, "verify", "verdict keys: %s", err.msg);
	rc = forge_results_verify(argv[optind], &ks, &res, &err);
	forge_keyset_free(&ks);
	if (rc < 0)
		return cli_fail(EXIT_BAD, "verify", "%s: %s", argv[optind], err.msg);
	printf("OK key_id=%s score=%s num=%" PRIu64 " den=%" PRIu64
	       " passed=%u total=%u tenant=%s scenario=%s run=%s\n",
	       res.key_id, res.score.value, res.score.num, res.score.den, res.score.passed,
	       res.score.total, res.tenant, res.scenario_id, res.run_id);
	return 0;
}

/* ------------------------------------------------------------ audit */

static int audit_verify_cmd(const struct forge_paths *p, int argc, char **argv)
{
	struct forge_audit_report rep;
	struct forge_keyset ks = {0};
	struct forge_err err = {0};
	struct key_opts k = {0};
	int rc;

	optind = 0;
	rc = cli_parse_keys("audit verify", argc, argv, false, &k);
	if (rc)
		return rc;
	if (argc != optind)
		return cli_fail(EXIT_USAGE, "audit verify", "no arguments expected");
	if (cli_load_keys(p, &k, FORGE_KEY_AUDIT, &ks, &err) < 0 && err.code != -ENOENT)
		return cli_fail(EXIT_BAD, "audit verify", "audit keys: %s", err.msg);
	rc = forge_audit_verify(p, &ks, &rep, &err);
	forge_keyset_free(&ks);
	if (rc < 0)
		return cli_fail(EXIT_BAD, "audit verify", "%s", err.msg);
	printf("OK events=%" PRIu64 " head=%" PRIu64 "%s last_hash=%s\n", rep.lines, rep.head_seq,
	       rep.head_lags ? " (one line behind: a crash between the writes)" : "",
	       rep.last_hash[0] ? rep.last_hash : "none");
	return 0;
}

static int audit_repair_cmd(const struct forge_paths *p, int argc, char **argv)
{
	struct forge_audit_repair rep;
	struct forge_err err = {0};
	char actor[64];

	(void)argv;
	if (argc != 1)
		return cli_fail(EXIT_USAGE, "audit repair", "no arguments expected");
	cli_actor(actor, sizeof(actor));
	if (forge_audit_repair(p, actor, &rep, &err) < 0)
		return cli_fail(EXIT_SETUP, "audit repair", "%s", err.msg);
	if (rep.removed == 0)
		printf("nothing to repair\n");
	else
		printf("removed %" PRIu64 " torn bytes at offset %" PRIu64
		       " (sha256 %s), saved as audit/%s\n",
		       rep.removed, rep.offset, rep.removed_sha256, rep.saved_as);
	return 0;
}

int cmd_audit(const struct cli_globals *g, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
	    {"verify", audit_verify_cmd},
	    {"repair", audit_repair_cmd},
	    {NULL, NULL},
	};

	return cli_dispatch(g, "audit", audit_usage, subs, argc, argv);
}

/* ------------------------------------------------------------ keys */

static int keys_list_cmd(const struct forge_paths *p, int argc, char **argv)
{
	struct forge_err err = {0};
	bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
	json_t *set, *k;
	size_t i;

	if (argc > 2 || (argc == 2 && !json))
		return cli_fail(EXIT_USAGE, "keys list", "only --json is accepted");
	set = forge_keys_published(p, &err);
	if (!set)
		return cli_fail(EXIT_SETUP, "keys list", "%s", err.msg);
	if (json) {
		char *text = json_dumps(set, JSON_COMPACT | JSON_SORT_KEYS);

		if (text)
			printf("%s\n", text);
		free(text);
	} else {
		printf("%-8s %-16s %-6s %-20s %s\n", "PURPOSE", "KEY_ID", "ACTIVE", "CREATED",
		       "PUBLIC_KEY");
		json_array_foreach(json_object_get(set, "keys"), i, k)
		{
			const char *created = json_string_value(json_object_get(k, "created"));

			printf("%-8s %-16s %-6s %-20s %s\n",
			       json_string_value(json_object_get(k, "purpose")),
			       json_string_value(json_object_get(k, "key_id")),
			       json_is_true(json_object_get(k, "active")) ? "yes" : "no",
			       created ? created : "-",
			       json_string_value(json_object_get(k, "public_key")));
		}
	}
	json_decref(set);
	return 0;
}

static int keys_rotate_cmd(const struct forge_paths *p, int argc, char **argv)
{
	char id[FORGE_KEY_ID_LEN + 1], actor[64];
	enum forge_key_purpose purpose;
	struct forge_err err = {0};

	if (argc != 2 || forge_key_purpose_parse(argv[1], &purpose) < 0)
		return cli_fail(EXIT_USAGE, "keys rotate", "verdict or audit expected");
	cli_actor(actor, sizeof(actor));
	if (forge_keys_rotate(p, purpose, actor, id, &err) < 0)
		return cli_fail(EXIT_SETUP, "keys rotate", "%s", err.msg);
	printf("%s key_id=%s\n", argv[1], id);
	return 0;
}

int cmd_keys(const struct cli_globals *g, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
	    {"list", keys_list_cmd},
	    {"rotate", keys_rotate_cmd},
	    {NULL, NULL},
	};

	return cli_dispatch(g, "keys", keys_usage, subs, argc, argv);
}

/* ------------------------------------------------------------ cleanup */

static void cleanup_print(const struct forge_cleanup_entry *e, void *arg)
{
	static const char *const what[] = {
	    [FORGE_CLEANUP_DELETED] = "deleted", [FORGE_CLEANUP_WOULD_DELETE] = "would delete",
	    [FORGE_CLEANUP_HELD] = "held",	 [FORGE_CLEANUP_KEPT] = "kept",
	    [FORGE_CLEANUP_SKIPPED] = "skipped", [FORGE_CLEANUP_INCOMPLETE] = "incomplete",
	};
	bool dry = *(const bool *)arg;

	if (e->action == FORGE_CLEANUP_KEPT)
		return;
	if (e->action == FORGE_CLEANUP_SKIPPED)
		printf("skipped %s/%s: %s\n", e->tenant, e->scenario_id, e->why);
	else if (e->action == FORGE_CLEANUP_INCOMPLETE)
		printf("%s %s/%s (left by an interrupted write or delete)\n",
		       dry ? "would remove" : "removed", e->tenant, e->scenario_id);
	else
		printf("%s %s/%s (age %" PRId64 " days, retention %u)\n", what[e->action],
		       e->tenant, e->scenario_id, e->age_days, e->retention_days);
}

int cmd_cleanup(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"older-than", required_argument, NULL, 'o'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	struct forge_cleanup_opts o = {0};
	struct forge_cleanup_stats st;
	struct forge_err err = {0};
	bool have_days = false;
	char actor[64], *end;
	struct forge_paths p;
	unsigned long days;
	int c, rc;

	if (cli_help(argc, argv, cleanup_usage))
		return 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			errno = 0;
			days = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' ||
			    days > FORGE_RETENTION_DAYS_MAX)
				return cli_fail(
				    EXIT_USAGE, "cleanup",
				    "--older-than: \"%s\" is not a number of days (0..%d)", optarg,
				    FORGE_RETENTION_DAYS_MAX);
			o.older_than_days = (unsigned)days;
			have_days = true;
			break;
		case 'n':
			o.dry_run = true;
			break;
		case ':':
			return cli_fail(EXIT_USAGE, "cleanup", "%s: requires a value",
					argv[optind - 1]);
		default:
			return cli_fail(EXIT_USAGE, "cleanup", "%s: unknown option",
					argv[optind - 1]);
		}
	}
	if (argc - optind != 1 || strcmp(argv[optind], "results") != 0)
		return cli_fail(EXIT_USAGE, "cleanup",
				"usage: forgectl cleanup results "
				"--older-than DAYS [--dry-run]");
	if (!have_days)
		return cli_fail(EXIT_USAGE, "cleanup", "--older-than DAYS is required");
	rc = cli_paths(g, "cleanup", &p);
	if (rc)
		return rc;
	cli_actor(actor, sizeof(actor));
	o.now = (int64_t)time(NULL);
	o.actor = actor;
	o.report = cleanup_print;
	o.arg = &o.dry_run;
	if (forge_results_cleanup(&p, &o, &st, &err) < 0)
		return cli_fail(EXIT_SETUP, "cleanup", "%s", err.msg);
	printf("%s %zu, held %zu, kept %zu, skipped %zu, incomplete %zu\n",
	       o.dry_run ? "would delete" : "deleted", st.deleted, st.held, st.kept, st.skipped,
	       st.incomplete);
	return 0;
}

/* ------------------------------------------------------------ hold */

int cmd_hold(const struct cli_globals *g, int argc, char **argv)
{
	bool hold = strcmp(argv[0], "hold") == 0;
	struct forge_err err = {0};
	struct forge_paths p;
	char actor[64];
	int rc;

	if (cli_help(argc, argv, hold_usage))
		return 0;
	if (argc != 2)
		return cli_fail(EXIT_USAGE, argv[0], "one scenario id expected");
	rc = cli_paths(g, argv[0], &p);
	if (rc)
		return rc;
	cli_actor(actor, sizeof(actor));
	rc = forge_hold_set(&p, argv[1], hold, actor, &err);
	if (rc < 0)
		return cli_fail(rc == -EINVAL			 ? EXIT_USAGE
				: rc == -EEXIST || rc == -ENOENT ? EXIT_BAD
								 : EXIT_SETUP,
				argv[0], "%s", err.msg);
	printf("%s %s\n", hold ? "held" : "released", argv[1]);
	return 0;
}
