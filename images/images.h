/* SPDX-License-Identifier: Apache-2.0 */
/*
 * images — the content-addressed image store, layer unpacking and OCI/Docker
 * import (DESIGN §2, issue 4).
 *
 * Store layout, below <paths.lib>/images (0700, root's):
 *   blobs/sha256/<hex>          layers as tar.zst; configs and manifests as canonical JSON
 *   index.json                  {"images":{"name:tag":"sha256:<manifest hex>"}} (atomic write)
 *   layers/<hex>/               unpacked layer of blob <hex>, used as an overlay lower dir
 *                               as it is: whiteouts are overlay whiteouts (char 0/0) and
 *                               opaque directories carry trusted.overlay.opaque=y
 *   refs/<manifest hex>/<id>    pins: a live scenario <id> uses that image
 *   tmp/                        private staging of imports in progress
 *   lock                        flock'd for every change of what is committed
 *
 * Every import stages in tmp/ and commits with renames under the lock, so a
 * failed or concurrent import never leaves a partial blob, layer or index.
 */
#ifndef FORGE_IMAGES_H
#define FORGE_IMAGES_H

#include <stdint.h>

#include "common/common.h"

#define FORGE_DIGEST_MAX     72	 /* "sha256:" + 64 hex + NUL */
#define FORGE_IMAGE_NAME_MAX 255 /* components [a-z0-9][a-z0-9._-]* joined by '/' */
#define FORGE_IMAGE_TAG_MAX  128 /* [A-Za-z0-9_][A-Za-z0-9._-]{0,127} */

/* ------------------------------------------------------------- references */

struct forge_image_ref {
	char name[FORGE_IMAGE_NAME_MAX + 1];
	char tag[FORGE_IMAGE_TAG_MAX + 1]; /* "" when the ref is by digest */
	char digest[FORGE_DIGEST_MAX];	   /* "" when the ref is by tag */
};

/* Parses "name:tag" or "name@sha256:<64 lowercase hex>". Names are components
 * [a-z0-9][a-z0-9._-]* separated by single '/', with no ".." anywhere. */
int forge_image_ref_parse(const char *ref, struct forge_image_ref *out, struct forge_err *err);
/* "sha256:" followed by exactly 64 lowercase hex digits. */
bool forge_digest_is_valid(const char *digest);

/* ------------------------------------------------------------- import */

/* Limits on one layer (and on an archive being imported), checked while
 * unpacking; a layer beyond any of them is refused naming the entry. */
struct forge_image_limits {
	uint64_t max_entries; /* archive entries */
	uint64_t max_bytes;   /* uncompressed bytes (file sizes as declared, and the tar stream) */
	uint64_t max_ratio;   /* uncompressed / compressed size … */
	uint64_t ratio_floor; /* … checked only past this many uncompressed bytes */
};

/* 1,000,000 entries, 16 GiB, ratio 200 past 64 MiB. */
void forge_image_limits_default(struct forge_image_limits *lim);

/* Imports an OCI image layout directory, an OCI archive (tar of a layout) or a `docker save`
 * tarball at path into the store of paths; name_tag ("name:tag", may be NULL to use the
 * archive's own ref annotation / RepoTags) is set in the index. Writes the stored manifest
 * digest ("sha256:<hex>") to digest. Layers compressed with zstd are stored byte-identical
 * (so the same input gives the same digest); gzip / uncompressed layers are recompressed
 * to zstd deterministically and the manifest rewritten accordingly. */
int forge_image_import(const struct forge_paths *paths, const char *path, const char *name_tag,
		       char digest[FORGE_DIGEST_MAX], struct forge_err *err);
/* Same, with explicit limits (forge_image_import uses the defaults). */
int forge_image_import_limits(const struct forge_paths *paths, const char *path,
			      const char *name_tag, const struct forge_image_limits *lim,
			      char digest[FORGE_DIGEST_MAX], struct forge_err *err);

/* ------------------------------------------------------------- resolve */

/* What the image's config says about running it (OCI config "config"). */
struct forge_image_config {
	char **env;	   /* NULL-terminated "KEY=VALUE" list (never NULL) */
	char **entrypoint; /* NULL-terminated, or NULL when unset */
	char **cmd;	   /* NULL-terminated, or NULL when unset */
	char *working_dir; /* absolute, or NULL */
	char *user;	   /* or NULL */
	json_t *labels;	   /* object of strings (never NULL) */
};

struct forge_image {
	char digest[FORGE_DIGEST_MAX]; /* the manifest's */
	char config_digest[FORGE_DIGEST_MAX];
	size_t n_layers;
	char **layer_digests;	/* stored (tar.zst) blobs, manifest order: bottom-most first */
	const char **lowerdirs; /* absolute unpacked dirs, top-most first (runtime order) */
	struct forge_image_config config;
};

/* ref is "name:tag" (looked up in the index) or "name@sha256:<hex>" (a manifest
 * present in the store). Checks that every layer is unpacked. */
int forge_image_resolve(const struct forge_paths *paths, const char *ref, struct forge_image **out,
			struct forge_err *err);
void forge_image_free(struct forge_image *img);

/* Absolute path of a stored blob (for a builder reusing a base image's layers). */
int forge_image_blob_path(const struct forge_paths *paths, const char *digest,
			  char out[FORGE_PATH_MAX], struct forge_err *err);

/* ------------------------------------------------------------- management */

/* [{"name":"n","tag":"t","digest":"sha256:…","size":bytes,"layers":n}, …] sorted by
 * name:tag; size counts the stored blobs. An empty or missing store gives []. */
int forge_image_list(const struct forge_paths *paths, json_t **out, struct forge_err *err);
/* {"ref","digest","tags":[…],"pins":[…],"size","manifest":{…},"config":{…},
 *  "layers":[{"digest","size","dir"}…]} */
int forge_image_inspect(const struct forge_paths *paths, const char *ref, json_t **out,
			struct forge_err *err);
/* Untags: "name:tag" removes that tag, "name@sha256:…" every tag of that name
 * naming the digest. Refused (-EBUSY) while the image is pinned. Blobs and
 * layers stay until forge_image_gc. */
int forge_image_remove(const struct forge_paths *paths, const char *ref, struct forge_err *err);
/* Removes blobs and layers no tag and no pin reaches, and abandoned staging.
 * *freed (may be NULL) gets a new array of what was removed ("blob sha256:…",
 * "layer sha256:…", "tmp NAME") and *bytes (may be NULL) the bytes freed. */
int forge_image_gc(const struct forge_paths *paths, json_t **freed, uint64_t *bytes,
		   struct forge_err *err);

/* Pins the image whose manifest is digest for scenario_id (a path component),
 * so that rm refuses it and gc keeps it; idempotent. Unpinning a pin that does
 * not exist is not an error. */
int forge_image_pin(const struct forge_paths *paths, const char *digest, const char *scenario_id,
		    struct forge_err *err);
int forge_image_unpin(const struct forge_paths *paths, const char *digest, const char *scenario_id,
		      struct forge_err *err);
/* The same for several images at once, under one lock (a scenario's). A pin
 * is not synced to disk: it matters only while its scenario lives. */
int forge_image_pin_all(const struct forge_paths *paths, const char *const *digests, size_t n,
			const char *scenario_id, struct forge_err *err);
int forge_image_unpin_all(const struct forge_paths *paths, const char *const *digests, size_t n,
			  const char *scenario_id, struct forge_err *err);

#endif /* FORGE_IMAGES_H */
