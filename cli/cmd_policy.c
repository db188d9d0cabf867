/* SPDX-License-Identifier: Apache-2.0 */
/* PLACEHOLDER — being written; replaced before this lands. */
#define _GNU_SOURCE
#include "cli/cli.h"

int cmd_policy(const struct cli_globals *g, int argc, char **argv)
{
	(void)g;
	(void)argc;
	(void)argv;
	return cli_fail(EXIT_SETUP, "policy", "not built yet");
}
