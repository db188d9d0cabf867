/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rootfs-builder — builds an image from a spec, reproducibly (DESIGN §2,
 * issue 4): the same spec and the same Debian package files give the same
 * manifest digest, byte for byte.
 *
 * A build makes ONE layer on top of its base (scratch or an image of the
 * store): Debian packages fetched with `apt-get download` into a cache and
 * extracted with libarchive (no dpkg, no chroot, no maintainer scripts),
 * busybox applets from busybox-static, then the spec's directories, files,
 * symlinks and /etc/passwd and /etc/group entries. The layer is held as a
 * tree in memory (file data spooled to an unlinked temp file), written as a
 * tar with sorted entries, owner 0:0, mtime 0 and normalised modes, and
 * compressed with libzstd at FORGE_LAYER_ZSTD_LEVEL on one thread. Config and
 * manifest are canonical JSON with a fixed `created`; the OCI layout they form
 * is imported with forge_image_import().
 *
 * Spec (YAML or JSON; unknown keys and wrong types are refused naming the key):
 *
 *   name: forge/web:1                # required, "name:tag"
 *   base: scratch                    # or an image of the store ("name:tag", "name@sha256:…")
 *   busybox: [sh, ls, /usr/bin/env]  # applets: "x" links /bin/x, "/dir/x" links there
 *   packages:
 *     install: [nmap, netcat-openbsd]
 *     depends: true                  # add Depends/Pre-Depends recursively (default false)
 *     exclude: [gcc-12-base]         # never installed, their dependencies not followed
 *     exclude_paths: [/usr/share/doc] # dropped from every package (a path and below it)
 *   directories: [{path: /www, mode: "0755"}]
 *   files: [{path: /www/index.html, mode: "0644", content: "…"}]
 *   symlinks: [{path: /usr/bin/vi, target: /bin/busybox}]
 *   users: [{name: root, uid: 0, gid: 0, home: /root, shell: /bin/sh, gecos: root}]
 *   groups: [{name: root, gid: 0, members: [root]}]
 *   config:
 *     env: {PATH: /usr/sbin:/usr/bin:/sbin:/bin}
 *     workdir: /
 *     entrypoint: [/bin/sh, -c]
 *     cmd: [httpd, -f, -p, "80", -h, /www]
 *     user: "0:0"
 *     labels: {org.example.role: web}
 *
 * Modes are octal strings ("0644": a plain 0644 would be the decimal integer
 * 644 in YAML); directories default to 0755, files to 0644. Paths are
 * absolute and normalised (no "//", ".", ".." or trailing "/"). users and
 * groups write /etc/passwd and /etc/group: the lines a package or the base
 * image has are kept, the spec's added (or replacing those of the same name).
 * With a base image, its config is the starting point: env entries replace
 * those of the same name, labels are merged, an entrypoint drops the base's
 * cmd. Busybox's own sh prefers its applets to PATH (Debian builds it so):
 * an image whose shell must run a package's `nc` uses another /bin/sh.
 */
#ifndef FORGE_ROOTFS_BUILDER_H
#define FORGE_ROOTFS_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"
#include "images/images.h"

#define FORGE_SPEC_MAX_BYTES	(1u << 20) /* a spec file */
#define FORGE_LAYER_ZSTD_LEVEL	9	   /* fixed: the level is part of the digest */
#define FORGE_LAYER_MAX_ENTRIES 1000000u
#define FORGE_LAYER_MAX_BYTES	(16ull << 30) /* file data in one layer */
#define FORGE_BUILD_CREATED	"1970-01-01T00:00:00Z"

/* ------------------------------------------------------------------ spec */

struct forge_spec_dir {
	const char *path; /* absolute, normalised */
	mode_t mode;
};

struct forge_spec_file {
	const char *path;
	mode_t mode;
	const char *content;
	size_t len;
};

struct forge_spec_symlink {
	const char *path;
	const char *target;
};

struct forge_spec_user {
	const char *name, *gecos, *home, *shell;
	unsigned uid, gid;
};

struct forge_spec_group {
	const char *name;
	unsigned gid;
	const json_t *members; /* array of user names */
};

/* Every string borrows from doc, which the spec holds a reference to. */
struct forge_build_spec {
	json_t *doc;
	const char *name_tag;
	const char *base; /* NULL for scratch */
	const char **applets;
	size_t n_applets;
	const char **packages;
	size_t n_packages;
	bool depends;
	const char **exclude_packages;
	size_t n_exclude_packages;
	const char **exclude_paths; /* relative (leading '/' dropped) */
	size_t n_exclude_paths;
	struct forge_spec_dir *dirs;
	size_t n_dirs;
	struct forge_spec_file *files;
	size_t n_files;
	struct forge_spec_symlink *symlinks;
	size_t n_symlinks;
	struct forge_spec_user *users;
	size_t n_users;
	struct forge_spec_group *groups;
	size_t n_groups;
	/* config, validated, NULL when absent */
	const json_t *env;	  /* object of strings */
	const json_t *entrypoint; /* array of strings */
	const json_t *cmd;	  /* array of strings */
	const json_t *labels;	  /* object of strings */
	const char *workdir;
	const char *user;
};

/* Validates doc (a reference is taken) as a spec; name (the file name) starts
 * every message, followed by the JSON path of what is wrong. */
int forge_build_spec_parse(json_t *doc, const char *name, struct forge_build_spec **out,
			   struct forge_err *err);
/* Reads path (at most FORGE_SPEC_MAX_BYTES, YAML or JSON) and parses it. */
int forge_build_spec_load(const char *path, struct forge_build_spec **out, struct forge_err *err);
void forge_build_spec_free(struct forge_build_spec *spec);

/* ------------------------------------------------------------------ layer */

/* A layer being assembled: a tree of directories, regular files, symlinks and
 * hard links. Paths may be given absolute or relative ("./x", "/x", "x" are
 * one path); ".." is refused, and so is a path whose parent is not a
 * directory of the tree (nothing is ever written through a symlink). Missing
 * parents are added as 0755 directories. Adding an existing path replaces it,
 * except that a directory is never replaced by something else; adding an
 * existing directory sets its mode. */
struct forge_layer;

/* File data is spooled to an unlinked file in tmp_dir. */
int forge_layer_new(const char *tmp_dir, struct forge_layer **out, struct forge_err *err);
void forge_layer_free(struct forge_layer *l);
size_t forge_layer_count(const struct forge_layer *l);

int forge_layer_add_dir(struct forge_layer *l, const char *path, mode_t mode,
			struct forge_err *err);
int forge_layer_add_file(struct forge_layer *l, const char *path, mode_t mode, const void *data,
			 size_t len, struct forge_err *err);
/* A regular file of size bytes read with read_cb (which returns the bytes it
 * read, 0 at the end, or a -errno having filled err). */
typedef ssize_t (*forge_layer_read_fn)(void *ctx, void *buf, size_t len, struct forge_err *err);
int forge_layer_add_file_from(struct forge_layer *l, const char *path, mode_t mode, uint64_t size,
			      forge_layer_read_fn read_cb, void *ctx, struct forge_err *err);
/* target is stored as given (resolved inside the container's root at run time). */
int forge_layer_add_symlink(struct forge_layer *l, const char *path, const char *target,
			    struct forge_err *err);
/* target: a regular file already in the layer (relative to the layer's root). */
int forge_layer_add_hardlink(struct forge_layer *l, const char *path, const char *target,
			     struct forge_err *err);
/* The content of the regular file at path (malloc'd, NUL-terminated), or
 * -ENOENT when there is none. At most max bytes. */
int forge_layer_read_file(struct forge_layer *l, const char *path, char **out, size_t *len,
			  size_t max, struct forge_err *err);

struct forge_layer_digest {
	char blob[FORGE_DIGEST_MAX];	/* sha256 of the tar.zst */
	char diff_id[FORGE_DIGEST_MAX]; /* sha256 of the tar */
	uint64_t size;			/* bytes of the tar.zst */
	uint64_t tar_size;
};

/* Writes the layer as tar.zst to fd: entries sorted bytewise by path, owner
 * 0:0 with no names, mtime 0, hard links to the first path of their file. */
int forge_layer_write(struct forge_layer *l, int fd, struct forge_layer_digest *d,
		      struct forge_err *err);

/* What of a package goes into the layer. */
struct forge_deb_filter {
	const char *const *exclude; /* relative paths: each drops itself and what is below */
	size_t n_exclude;
	const char *only; /* when set, only this relative path is taken (it must exist) */
};

/* Adds the data.tar.{xz,zst,gz} of the .deb open at fd (name is for
 * messages). Refused, naming the entry: absolute or ".." names, hard links
 * outside the package's own files, device nodes, fifos and sockets, and what
 * the tree's rules refuse (a path through a symlink, ".wh." names, relative
 * symlinks climbing above the root). Modes are normalised (directories 0755,
 * files 0755 when executable else 0644: setuid/setgid bits are dropped);
 * owners and times are not kept. A refused package may have added some of its
 * entries already: the build that called this discards the layer. */
int forge_layer_add_deb(struct forge_layer *l, int fd, const char *name,
			const struct forge_deb_filter *filter, struct forge_err *err);

/* ------------------------------------------------------------------ apt */

/* From the output of `apt-cache depends --recurse …` for roots: the sorted
 * closure of roots under Depends and PreDepends, one alternative per "a | b"
 * group (the first one, unless another is already chosen), virtual packages
 * by their first provider; excluded names satisfy whatever group names them
 * and are never followed. Returns a new JSON array of strings. */
int forge_apt_depends_closure(const char *text, const char *const *roots, size_t n_roots,
			      const char *const *exclude, size_t n_exclude, json_t **out,
			      struct forge_err *err);

/* ------------------------------------------------------------------ build */

struct forge_build_opts {
	const char *cache_dir; /* .deb cache; NULL: <paths.lib>/cache/debs */
	const char *tmp_dir;   /* where the build stages; NULL: $TMPDIR or /tmp */
	const char *name_tag;  /* overrides the spec's name */
};

/* Builds the spec at spec_path and imports it into the store of paths;
 * digest receives the manifest digest ("sha256:…"). */
int forge_build(const struct forge_paths *paths, const char *spec_path,
		const struct forge_build_opts *opts, char digest[FORGE_DIGEST_MAX],
		struct forge_err *err);

#endif /* FORGE_ROOTFS_BUILDER_H */
