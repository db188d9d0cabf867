/* SPDX-License-Identifier: Apache-2.0 */
/* forgectl's subcommands share the global options parsed by main(). */
#ifndef FORGE_CLI_H
#define FORGE_CLI_H

#include "common/common.h"

/* Exit codes, as container tools use them (docker, podman, crun). */
#define EXIT_USAGE    2	  /* bad arguments */
#define EXIT_SETUP    125 /* Forge itself failed */
#define EXIT_NOEXEC   126 /* the command cannot be executed */
#define EXIT_NOTFOUND 127 /* the command was not found */

struct cli_globals {
	const char *root;   /* --root, or NULL */
	const char *prefix; /* --prefix, or NULL */
};

/* Prints "forgectl CMD: message" on stderr and returns code. */
int cli_fail(int code, const char *cmd, const char *fmt, ...) FORGE_PRINTF(3, 4);

int cmd_run(const struct cli_globals *g, int argc, char **argv);
/* Scenario commands through forged (cli/cmd_scenario.c). */
int cmd_spawn(const struct cli_globals *g, int argc, char **argv);
int cmd_ps(const struct cli_globals *g, int argc, char **argv);
int cmd_inspect(const struct cli_globals *g, int argc, char **argv);
int cmd_watch(const struct cli_globals *g, int argc, char **argv);
int cmd_exec(const struct cli_globals *g, int argc, char **argv);
int cmd_logs(const struct cli_globals *g, int argc, char **argv);
int cmd_destroy(const struct cli_globals *g, int argc, char **argv);
int cmd_complete(const struct cli_globals *g, int argc, char **argv);
int cmd_pause(const struct cli_globals *g, int argc, char **argv);
int cmd_image(const struct cli_globals *g, int argc, char **argv);
/* `forgectl image build SPEC` (rootfs-builder/), called by cmd_image with argv[0] "build". */
int cmd_image_build(const struct cli_globals *g, int argc, char **argv);
int cmd_template(const struct cli_globals *g, int argc, char **argv);
int cmd_policy(const struct cli_globals *g, int argc, char **argv);
/* Scoring's offline tools (cli/cmd_scoring.c). */
int cmd_verify(const struct cli_globals *g, int argc, char **argv);
int cmd_audit(const struct cli_globals *g, int argc, char **argv);
int cmd_keys(const struct cli_globals *g, int argc, char **argv);
int cmd_cleanup(const struct cli_globals *g, int argc, char **argv);
int cmd_hold(const struct cli_globals *g, int argc, char **argv);
/* forge-api's development and audit tools (cli/cmd_api.c). */
int cmd_dev_token(const struct cli_globals *g, int argc, char **argv);
int cmd_billing(const struct cli_globals *g, int argc, char **argv);

#endif /* FORGE_CLI_H */
