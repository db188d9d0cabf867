/* SPDX-License-Identifier: Apache-2.0 */
/* forge-api's development and audit tools: dev-token and billing verify. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "cli/cli.h"

#define DEV_TOKEN_TTL 3600
#define ROLES_MAX     32

static const char dev_token_usage[] =
    "usage: forgectl [--root DIR] dev-token --tenant T --sub S --roles R1,R2 [--plan P] "
    "[--ttl S]\n"
    "Mints a bearer token for forge-api with the configured HS256 secret\n"
    "(FORGE_JWT_HS256_SECRET, FORGE_JWT_HS256_SECRET_FILE, jwt.hs256_secret_file, or the\n"
    "one forge-api --dev generated). Refused when FORGE_ENV=production.\n";

static bool production_env(void)
{
	const char *e = getenv("FORGE_ENV");

	return e && strcmp(e, "production") == 0;
}

/* "a,b,c" into a JSON array of the non-empty items. */
static json_t *split_roles(const char *s)
{
	json_t *a = json_array();
	char *copy = strdup(s), *save = NULL;

	if (!a || !copy) {
		json_decref(a);
		free(copy);
		return NULL;
	}
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(t));
	free(copy);
	return a;
}

int cmd_dev_token(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"tenant", required_argument, NULL, 't'},
	    {"sub", required_argument, NULL, 's'},
	    {"roles", required_argument, NULL, 'r'},
	    {"plan", required_argument, NULL, 'p'},
	    {"ttl", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *tenant = NULL, *sub = NULL, *roles = NULL, *plan = NULL;
	struct api_options o = {.root = g->root};
	struct api_config cfg;
	struct forge_err err = {0};
	long ttl = DEV_TOKEN_TTL;
	json_t *claims = NULL, *role_list = NULL;
	char *token = NULL, *end, jti[33];
	int c, rc = EXIT_SETUP;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			tenant = optarg;
			break;
		case 's':
			sub = optarg;
			break;
		case 'r':
			roles = optarg;
			break;
		case 'p':
			plan = optarg;
			break;
		case 'T':
			ttl = strtol(optarg, &end, 10);
			if (*end || ttl < 1)
				return cli_fail(EXIT_USAGE, argv[0],
						"--ttl: a positive number of seconds");
			break;
		case 'h':
			fputs(dev_token_usage, stdout);
			return 0;
		default:
			fputs(dev_token_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (!tenant || !sub || !roles || optind != argc) {
		fputs(dev_token_usage, stderr);
		return EXIT_USAGE;
	}
	if (production_env())
		return cli_fail(EXIT_USAGE, argv[0], "refused: FORGE_ENV=production");
	if (api_config_load(&cfg, &o, &err)) {
		cli_fail(EXIT_SETUP, argv[0], "%s", err.msg);
		goto out;
	}
	if (cfg.production) {
		rc = cli_fail(EXIT_USAGE, argv[0], "refused: env = production in forge.conf");
		goto out;
	}
	if (ttl > cfg.max_lifetime_s) {
		rc = cli_fail(EXIT_USAGE, argv[0], "--ttl: at most jwt.max_lifetime_s (%d)",
			      cfg.max_lifetime_s);
		goto out;
	}
	if (plan && !api_plan_find(&cfg, plan)) {
		rc = cli_fail(EXIT_USAGE, argv[0], "--plan: no plan \"%s\" in the configuration",
			      plan);
		goto out;
	}
	if (api_config_load_hs_secret(&cfg, &err)) {
		cli_fail(EXIT_SETUP, argv[0], "%s", err.msg);
		goto out;
	}
	time_t now = time(NULL);
	forge_random_hex(jti, 32);
	role_list = split_roles(roles);
	claims = role_list ? json_pack("{s:s, s:s, s:s, s:s, s:O, s:I, s:I, s:s}", "iss",
				       cfg.issuer, "aud", cfg.audience, "sub", sub, "tenant_id",
				       tenant, "roles", role_list, "iat", (json_int_t)now, "exp",
				       (json_int_t)(now + ttl), "jti", jti)
			   : NULL;
	if (claims && plan)
		json_object_set_new(claims, "plan", json_string(plan));
	if (!claims) {
		cli_fail(EXIT_SETUP, argv[0], "out of memory");
		goto out;
	}
	if (api_jwt_encode("HS256", NULL, claims, cfg.hs_secret, cfg.hs_len, &token, &err)) {
		cli_fail(EXIT_SETUP, argv[0], "%s", err.msg);
		goto out;
	}
	puts(token);
	rc = 0;
out:
	free(token);
	json_decref(claims);
	json_decref(role_list);
	api_config_free(&cfg);
	return rc;
}

int cmd_billing(const struct cli_globals *g, int argc, char **argv)
{
	struct api_options o = {.root = g->root};
	struct api_config cfg;
	struct forge_err err = {0};
	long rows = 0;
	int rc;

	if (argc != 2 || strcmp(argv[1], "verify") != 0) {
		fputs("usage: forgectl [--root DIR] billing verify\n"
		      "Checks the hash chain of forge-api's billing ledger (<lib>/api/api.db).\n",
		      argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : EXIT_USAGE;
	}
	if (api_config_load(&cfg, &o, &err))
		return cli_fail(EXIT_SETUP, argv[0], "%s", err.msg);
	rc = api_billing_verify(cfg.db_path, &rows, &err);
	api_config_free(&cfg);
	if (rc)
		return cli_fail(1, argv[0], "%s", err.msg);
	printf("billing: %ld events, hash chain intact\n", rows);
	return 0;
}
