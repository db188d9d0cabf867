/* SPDX-License-Identifier: Apache-2.0 */
/* forgectl image build: an image from a spec, reproducibly (rootfs-builder/). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "rootfs-builder/builder.h"

static const char build_usage[] =
    "usage: forgectl [--root DIR] image build SPEC [--cache DIR] [--name NAME:TAG]\n"
    "\n"
    "Builds the image a spec describes (YAML: see rootfs-builder/builder.h and\n"
    "images/specs/) as one layer over its base, and imports it into the store.\n"
    "Debian packages come from `apt-get download` (apt-get update runs once when\n"
    "the package lists are missing) and are kept in the cache. The same spec and\n"
    "the same package files give the same digest. Prints the manifest digest as\n"
    "the last line.\n"
    "\n"
    "options:\n"
    "  --cache DIR       where .deb files are kept (default <root>/var/lib/forge/cache/debs)\n"
    "  --name NAME:TAG   store the image under this name instead of the spec's\n"
    "\n"
    "The build stages in $TMPDIR (default /tmp).\n";

int cmd_image_build(const struct cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"cache", required_argument, NULL, 'c'},
	    {"name", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct forge_build_opts o = {0};
	char digest[FORGE_DIGEST_MAX];
	struct forge_paths paths;
	struct forge_err err = {0};
	int c;

	opterr = 0;
	optind = 0;
	/* Options may follow the spec (GNU permutation): build SPEC --cache DIR. */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.cache_dir = optarg;
			break;
		case 'n':
			o.name_tag = optarg;
			break;
		case 'h':
			fputs(build_usage, stdout);
			return 0;
		case ':':
			return cli_fail(EXIT_USAGE, "image build", "%s: requires a value",
					argv[optind - 1]);
		default:
			return cli_fail(EXIT_USAGE, "image build",
					"%s: unknown option (see forgectl image build --help)",
					argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_fail(EXIT_USAGE, "image build", "%s (see forgectl image build --help)",
				optind == argc ? "missing SPEC" : "only one SPEC");
	if (forge_paths_init(&paths, g->root, g->prefix, &err) < 0)
		return cli_fail(EXIT_USAGE, "image build", "%s", err.msg);
	if (forge_build(&paths, argv[optind], &o, digest, &err) < 0)
		return cli_fail(EXIT_SETUP, "image build", "%s", err.msg);
	printf("%s\n", digest);
	return 0;
}
