/* SPDX-License-Identifier: Apache-2.0 */
/* rootfs-builder/ private interfaces: shared between the module's own files only. */
#ifndef FORGE_ROOTFS_BUILDER_INTERNAL_H
#define FORGE_ROOTFS_BUILDER_INTERNAL_H

#include <limits.h>
#include <locale.h>

#include "rootfs-builder/builder.h"

/* Normalises p ("/a//b/./c", "./a/b/c" and "a/b/c/" are all "a/b/c") into
 * out; ".." is refused. Returns the length, 0 for the root itself. */
int bld_norm_path(const char *p, char out[FORGE_PATH_MAX], struct forge_err *err);

/* libarchive converts names between the pax headers' UTF-8 and the current
 * locale's charset, which in a program that never calls setlocale is ASCII:
 * a name like "grüße" would be refused. Names in Debian packages and in
 * layers are UTF-8, so the thread uses C.UTF-8 while it reads or writes
 * archives. Returns what bld_utf8_end restores (0 when it changed nothing). */
struct bld_utf8 {
	locale_t utf8, old;
};
void bld_utf8_begin(struct bld_utf8 *u);
void bld_utf8_end(struct bld_utf8 *u);

/* ------------------------------------------------------------ apt */

struct bld_apt {
	bool updated; /* apt-get update has run (it runs at most once per build) */
};

/* A package file in the cache, checked against apt's lists. */
struct bld_deb {
	char package[160];
	char file[NAME_MAX + 1]; /* the cache's file name, as apt-get download names it */
	uint64_t size;
	char sha256[65];
	int fd; /* open on the checked file */
};

/* The sorted names of the packages the spec installs (its list, with their
 * dependencies when it asks for them). cwd: where apt runs. */
int bld_apt_packages(struct bld_apt *apt, const struct forge_build_spec *s, const char *cwd,
		     json_t **out, struct forge_err *err);
/* Opens one checked file per name (array of strings), downloading what the
 * cache lacks. cwd must be an empty directory (apt skips files present there). */
int bld_apt_fetch(struct bld_apt *apt, const char *cache, const char *cwd, const json_t *names,
		  struct bld_deb **out, size_t *n_out, struct forge_err *err);
void bld_debs_free(struct bld_deb *d, size_t n);

#endif /* FORGE_ROOTFS_BUILDER_INTERNAL_H */
