/* SPDX-License-Identifier: Apache-2.0 */
/* forgectl image: ls, inspect, rm, gc, import over the image store; build is the builder's. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "images/images.h"

static const char image_usage[] =
    "usage: forgectl [--root DIR] image COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  ls                        list images (NAME:TAG, digest, size, layers)\n"
    "  inspect REF               the image's manifest, config, layers and pins as JSON\n"
    "  rm REF                    untag (refused while a scenario uses the image)\n"
    "  gc                        remove blobs and layers nothing references\n"
    "  import PATH [--name N:T]  import an OCI layout (dir or tar) or a docker save tarball\n"
    "  build SPEC                build an image from a spec (forgectl image build --help)\n"
    "\n"
    "REF is NAME:TAG or NAME@sha256:HEX.\n";

static const char *const sub_usage[][2] = {
    {"ls", "usage: forgectl image ls\n\nLists the store's images: NAME:TAG, manifest digest, "
	   "size of the stored blobs, number of layers.\n"},
    {"inspect", "usage: forgectl image inspect REF\n\nPrints the image as one JSON object: "
		"ref, digest, tags, pins, size, manifest, config, layers (digest, size, dir).\n"},
    {"rm", "usage: forgectl image rm REF\n\nRemoves the tag NAME:TAG, or every tag of NAME "
	   "naming NAME@sha256:HEX. Refused while a scenario has the image pinned. Blobs and "
	   "layers stay until `forgectl image gc`.\n"},
    {"gc", "usage: forgectl image gc\n\nRemoves blobs and unpacked layers that no tag and no "
	   "pin reaches, and staging left by interrupted imports; prints each.\n"},
    {"import", "usage: forgectl image import PATH [--name NAME:TAG]\n\nImports an OCI image "
	       "layout directory, an OCI archive (tar of a layout) or a `docker save` tarball "
	       "(gzip, zstd or plain layers). Without --name, the archive's own ref annotation "
	       "or RepoTags names it. Prints the manifest digest as the last line.\n"},
};

/* Handles --help (0), rejects options (EXIT_USAGE); -1 to go on with optind set. */
static int sub_opts(const char *name, int argc, char **argv, const char **name_tag)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"name", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	const char *help = "";
	int c;

	for (size_t i = 0; i < sizeof(sub_usage) / sizeof(sub_usage[0]); i++)
		if (strcmp(sub_usage[i][0], name) == 0)
			help = sub_usage[i][1];
	opterr = 0;
	optind = 0;
	/* Options may follow the operand (GNU permutation): import PATH --name N:T. */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return 0;
		}
		if (c == 'n' && name_tag) {
			*name_tag = optarg;
			continue;
		}
		if (c == ':')
			return cli_fail(EXIT_USAGE, "image", "%s %s: requires a value", name,
					argv[optind - 1]);
		return cli_fail(EXIT_USAGE, "image",
				"%s: unknown option %s (see forgectl image %s "
				"--help)",
				name, argv[optind - 1], name);
	}
	return -1;
}

/* Exactly want positional arguments after the options. */
static int positional(const char *name, int argc, int want, const char *what)
{
	if (argc - optind == want)
		return -1;
	return cli_fail(EXIT_USAGE, "image", "%s: %s (see forgectl image %s --help)", name,
			want ? what : "takes no arguments", name);
}

static int print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!s)
		return cli_fail(EXIT_SETUP, "image", "out of memory");
	puts(s);
	free(s);
	return 0;
}

static int image_ls(const struct forge_paths *p)
{
	struct forge_err err = {0};
	json_t *list, *e;
	size_t i;

	if (forge_image_list(p, &list, &err) < 0)
		return cli_fail(EXIT_SETUP, "image ls", "%s", err.msg);
	printf("%-40s %-71s %12s %s\n", "NAME:TAG", "DIGEST", "SIZE", "LAYERS");
	json_array_foreach(list, i, e)
	{
		char ref[FORGE_IMAGE_NAME_MAX + FORGE_IMAGE_TAG_MAX + 2];
		snprintf(ref, sizeof(ref), "%s:%s", json_string_value(json_object_get(e, "name")),
			 json_string_value(json_object_get(e, "tag")));
		printf("%-40s %-71s %12" JSON_INTEGER_FORMAT " %" JSON_INTEGER_FORMAT "\n", ref,
		       json_string_value(json_object_get(e, "digest")),
		       json_integer_value(json_object_get(e, "size")),
		       json_integer_value(json_object_get(e, "layers")));
	}
	json_decref(list);
	return 0;
}

static int image_gc(const struct forge_paths *p)
{
	struct forge_err err = {0};
	json_t *freed, *v;
	uint64_t bytes;
	size_t i;

	if (forge_image_gc(p, &freed, &bytes, &err) < 0)
		return cli_fail(EXIT_SETUP, "image gc", "%s", err.msg);
	json_array_foreach(freed, i, v) printf("removed %s\n", json_string_value(v));
	printf("freed %zu items, %" PRIu64 " bytes of blobs\n", json_array_size(freed), bytes);
	json_decref(freed);
	return 0;
}

int cmd_image(const struct cli_globals *g, int argc, char **argv)
{
	struct forge_paths paths;
	struct forge_err err = {0};
	const char *name_tag = NULL, *sub;
	char digest[FORGE_DIGEST_MAX];
	json_t *out;
	int rc;

	if (argc < 2) {
		fputs(image_usage, stderr);
		return EXIT_USAGE;
	}
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
		fputs(image_usage, stdout);
		return 0;
	}
	if (strcmp(sub, "build") == 0) {
		optind = 0;
		return cmd_image_build(g, argc - 1, argv + 1);
	}
	bool known = false;
	for (size_t i = 0; i < sizeof(sub_usage) / sizeof(sub_usage[0]); i++)
		known |= strcmp(sub_usage[i][0], sub) == 0;
	if (!known)
		return cli_fail(EXIT_USAGE, "image",
				"unknown command \"%s\" (see forgectl image "
				"--help)",
				sub);
	rc = sub_opts(sub, argc - 1, argv + 1, strcmp(sub, "import") == 0 ? &name_tag : NULL);
	if (rc >= 0)
		return rc;
	argc--;
	argv++;
	if (forge_crypto_init() < 0)
		return cli_fail(EXIT_SETUP, "image", "libsodium initialisation failed");
	if (forge_paths_init(&paths, g->root, g->prefix, &err) < 0)
		return cli_fail(EXIT_USAGE, "image", "%s", err.msg);

	if (strcmp(sub, "ls") == 0)
		return (rc = positional(sub, argc, 0, "")) >= 0 ? rc : image_ls(&paths);
	if (strcmp(sub, "gc") == 0)
		return (rc = positional(sub, argc, 0, "")) >= 0 ? rc : image_gc(&paths);
	if (strcmp(sub, "import") == 0) {
		struct forge_image_ref ref;
		if ((rc = positional(sub, argc, 1, "expects one PATH")) >= 0)
			return rc;
		if (name_tag && (forge_image_ref_parse(name_tag, &ref, &err) < 0 || !ref.tag[0]))
			return cli_fail(EXIT_USAGE, "image import", "--name %s: %s", name_tag,
					err.msg[0] ? err.msg : "expected NAME:TAG");
		if (forge_image_import(&paths, argv[optind], name_tag, digest, &err) < 0)
			return cli_fail(EXIT_SETUP, "image import", "%s", err.msg);
		printf("%s\n", digest);
		return 0;
	}
	if ((rc = positional(sub, argc, 1, "expects one REF (NAME:TAG or NAME@sha256:HEX)")) >= 0)
		return rc;
	if (strcmp(sub, "inspect") == 0) {
		if (forge_image_inspect(&paths, argv[optind], &out, &err) < 0)
			return cli_fail(err.code == -ENOENT || err.code == -EINVAL ? EXIT_USAGE
										   : EXIT_SETUP,
					"image inspect", "%s", err.msg);
		rc = print_json(out);
		json_decref(out);
		return rc;
	}
	if (forge_image_remove(&paths, argv[optind], &err) < 0)
		return cli_fail(err.code == -ENOENT || err.code == -EINVAL ? EXIT_USAGE
									   : EXIT_SETUP,
				"image rm", "%s", err.msg);
	printf("untagged %s\n", argv[optind]);
	return 0;
}
