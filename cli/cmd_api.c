/* SPDX-License-Identifier: Apache-2.0 */
/* PLACEHOLDER — being written; replaced before this lands. */
#define _GNU_SOURCE
#include "cli/cli.h"

int cmd_dev_token(const struct cli_globals *g, int argc, char **argv)
{
	(void)g;
	(void)argc;
	return cli_fail(EXIT_SETUP, argv[0], "not built yet");
}

int cmd_billing(const struct cli_globals *g, int argc, char **argv)
{
	(void)g;
	(void)argc;
	return cli_fail(EXIT_SETUP, argv[0], "not built yet");
}
