/* SPDX-License-Identifier: Apache-2.0 */
/* images/ private interfaces: shared between the module's own files only. */
#ifndef FORGE_IMAGES_INTERNAL_H
#define FORGE_IMAGES_INTERNAL_H

#include <sodium.h>

#include "images/images.h"

#define IMG_JSON_MAX	 (4u << 20) /* a manifest, config or index */
#define IMG_MAX_LAYERS	 128
#define MT_OCI_MANIFEST	 "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX	 "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG	 "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER_ZST "application/vnd.oci.image.layer.v1.tar+zstd"

/* The open store: fds of its directories (see images.h for the layout). */
struct img_store {
	int dir, blobs, layers, refs, tmp, lock;
	char path[FORGE_PATH_MAX]; /* <lib>/images */
};

/* Opens the store; with create, makes it (0700) first. Without create a
 * missing store is -ENOENT. */
int img_store_open(const struct forge_paths *paths, bool create, struct img_store *s,
		   struct forge_err *err);
void img_store_close(struct img_store *s);
/* flock(LOCK_EX) on the store's lock file: held while committed state changes. */
int img_store_lock(struct img_store *s, struct forge_err *err);
void img_store_unlock(struct img_store *s);

/* index.json as {"name:tag": "sha256:…"} (a new object, empty when missing). */
int img_index_load(struct img_store *s, json_t **out, struct forge_err *err);
int img_index_save(struct img_store *s, const json_t *images, struct forge_err *err);

/* Reads a regular file of at most IMG_JSON_MAX bytes beneath dirfd (NUL-terminated). */
int img_read_small(int dirfd, const char *path, char **buf, size_t *len, struct forge_err *err);
/* Reads a JSON blob (img_read_small) from dirfd/path, checks that its sha256
 * is want_hex (when not NULL) and parses it into an object. what names it in
 * errors. */
int img_json_blob(int dirfd, const char *path, const char *want_hex, const char *what, json_t **out,
		  struct forge_err *err);

/* ------------------------------------------------------------ unpack */

struct img_unpack {
	const struct forge_image_limits *lim;
	const char *what;  /* "layer sha256:…", "archive x.tar": prefix of every message */
	bool layer;	   /* an image layer: whiteouts to overlay form, owners kept (as root) */
	int dirfd;	   /* empty directory to unpack into; -1: only read the stream */
	int zfd;	   /* -1, or where the stream goes recompressed with zstd */
	char diff_hex[65]; /* out: sha256 of the uncompressed stream */
	char zst_hex[65];  /* out: sha256 of what went to zfd */
	uint64_t zst_size; /* out: bytes written to zfd */
};

enum img_compression { IMG_PLAIN, IMG_GZIP, IMG_ZSTD };

/* Writes all of buf to fd (at offset off with pwrite when at); 0 or -errno. */
int img_write_all(int fd, const void *buf, size_t len, off_t off, bool at);
/* What the first bytes of fd (read with pread, offset 0) say. */
int img_compression_of(int fd, enum img_compression *out, struct forge_err *err);

/* Unpacks the tar (plain, gzip or zstd) read from fd into u->dirfd, every
 * entry confined to it; see unpack.c for the rules. On failure the caller
 * removes u->dirfd's tree. */
int img_unpack(int fd, struct img_unpack *u, struct forge_err *err);

#endif /* FORGE_IMAGES_INTERNAL_H */
