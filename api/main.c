/* SPDX-License-Identifier: Apache-2.0 */
/* forge-api: the unprivileged REST service (api/api.h, docs/api.md). */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"

int main(int argc, char **argv)
{
	static const char usage[] =
	    "usage: forge-api [--root DIR] [--listen HOST:PORT | --listen unix:PATH]\n"
	    "                 [--user NAME] [--log-level LEVEL] [--dev [--allow-plan-header]]\n"
	    "\n"
	    "  --root DIR           Forge's root (default $FORGE_ROOT or /)\n"
	    "  --listen ADDR        numeric HOST:PORT ([::1]:8080 for IPv6) or unix:PATH\n"
	    "                       (default api.listen, 127.0.0.1:8080)\n"
	    "  --user NAME          the user to become when started as root (default forge)\n"
	    "  --log-level LEVEL    debug, info, warn or error (default info)\n"
	    "  --dev                development: generate missing secrets under <root>/etc/forge\n"
	    "  --allow-plan-header  development: honour X-Plan (needs --dev)\n"
	    "Both development options are refused when FORGE_ENV=production.\n";
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"listen", required_argument, NULL, 'l'},
	    {"user", required_argument, NULL, 'u'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"dev", no_argument, NULL, 'd'},
	    {"allow-plan-header", no_argument, NULL, 'p'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct api_options o = {0};
	struct api_config cfg;
	struct forge_err err = {0};
	enum forge_log_level level = FORGE_LOG_INFO;
	char generated[2 * FORGE_PATH_MAX];
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.root = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'L':
			if (forge_log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "forge-api: --log-level: unknown level \"%s\"\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			o.dev = true;
			break;
		case 'p':
			o.allow_plan_header = true;
			break;
		case 'V':
			printf("forge-api %s\n", FORGE_VERSION);
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
		fprintf(stderr, "forge-api: unexpected argument \"%s\"\n%s", argv[optind], usage);
		return 2;
	}
	forge_log_init("forge-api", level, 2);
	if (forge_crypto_init() < 0) {
		forge_log(FORGE_LOG_ERROR, "libsodium did not initialise", NULL);
		return 1;
	}
	if ((rc = api_config_load(&cfg, &o, &err)) == 0 &&
	    (rc = api_config_load_secrets(&cfg, generated, sizeof(generated), &err)) == 0) {
		if (generated[0])
			forge_log(FORGE_LOG_WARN, "development secrets generated", "files",
				  generated, NULL);
		rc = api_server_run(&cfg, &err);
	}
	api_config_free(&cfg);
	if (rc) {
		forge_log(FORGE_LOG_ERROR, "forge-api", "error", err.msg, NULL);
		return 1;
	}
	return 0;
}
