/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Import of an OCI image layout (a directory, or a tar of one) or a `docker
 * save` tarball into the store.
 *
 * Everything is staged in a private directory of the store (tmp/imp-*,
 * flock'd so that gc leaves it alone): an archive is unpacked there with the
 * same confinement as a layer; blobs from a directory are copied there while
 * hashed, so what is verified is what is used. A blob's digest is checked
 * before it is used; a layer whose compressed digest is not known (docker's
 * legacy layer.tar) is checked against the config's diff_id, as is every
 * layer, while it is unpacked into staging. Only then, under the store lock,
 * blobs are linked and layer directories renamed into place, and the index
 * is rewritten: a failed import commits nothing, and two imports of the same
 * content end with one copy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "images/internal.h"

#define COPY_BUF (1u << 20)

struct layer_in {
	char *src;	 /* path in the source */
	char want[65];	 /* the blob's sha256, "" when unknown (docker legacy) */
	json_int_t size; /* -1 when unknown */
};

struct layer_out {
	int fd;	      /* the stored (zstd) blob, staged */
	char hex[65]; /* its sha256 */
	uint64_t size;
	char dir[32]; /* unpacked into stage/dir; "" when the store has it already */
};

struct imp {
	const struct forge_image_limits *lim;
	struct img_store s;
	int stage; /* tmp/<stage_name>, flock'd */
	char stage_name[32];
	int src;	    /* the layout or docker dir */
	bool src_private;   /* src is our own unpacked copy of an archive */
	const char *source; /* as given, for messages */
	bool named;	    /* --name given: name_tag and tag are it */
	char name_tag[FORGE_IMAGE_NAME_MAX + FORGE_IMAGE_TAG_MAX + 2];
	char tag[FORGE_IMAGE_TAG_MAX + 1];
	json_t *config;
	size_t n;
	struct layer_in *in;
	struct layer_out *out;
};

void forge_image_limits_default(struct forge_image_limits *lim)
{
	lim->max_entries = 1000000;
	lim->max_bytes = 16ull << 30;
	lim->max_ratio = 200;
	lim->ratio_floor = 64ull << 20;
}

/* ------------------------------------------------------------ staging */

static int stage_create(struct imp *im, struct forge_err *err)
{
	char rnd[17];
	int rc;

	/* Made and locked under the store lock, so gc never sees it unlocked. */
	rc = img_store_lock(&im->s, err);
	if (rc < 0)
		return rc;
	forge_random_hex(rnd, 16);
	snprintf(im->stage_name, sizeof(im->stage_name), "imp-%s", rnd);
	if (mkdirat(im->s.tmp, im->stage_name, 0700) < 0) {
		rc = forge_err_errno(err, errno, "import: mkdir %s/tmp/%s", im->s.path,
				     im->stage_name);
		im->stage_name[0] = '\0';
	} else {
		im->stage = openat(im->s.tmp, im->stage_name,
				   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (im->stage < 0 || flock(im->stage, LOCK_EX | LOCK_NB) < 0)
			rc = forge_err_errno(err, errno, "import: lock staging %s", im->stage_name);
	}
	img_store_unlock(&im->s);
	return rc;
}

/* A new empty directory in staging, open. */
static int stage_dir(struct imp *im, const char *name, struct forge_err *err)
{
	if (mkdirat(im->stage, name, 0700) < 0)
		return forge_err_errno(err, errno, "import: mkdir staging %s", name);
	int fd = openat(im->stage, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return forge_err_errno(err, errno, "import: open staging %s", name);
	return fd;
}

static int stage_file(struct imp *im, const char *name, struct forge_err *err)
{
	int fd = openat(im->stage, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return forge_err_errno(err, errno, "import: create staging %s", name);
	return fd;
}

/* An archive (OCI layout tar or docker save, possibly compressed) unpacked
 * into stage/in, confined like a layer; becomes the source. */
static int unpack_archive(struct imp *im, int fd, struct forge_err *err)
{
	char what[FORGE_PATH_MAX + 16];
	struct img_unpack u = {.lim = im->lim, .what = what, .zfd = -1};
	int rc;

	snprintf(what, sizeof(what), "archive %s", im->source);
	u.dirfd = stage_dir(im, "in", err);
	if (u.dirfd < 0)
		return u.dirfd;
	rc = img_unpack(fd, &u, err);
	if (rc < 0) {
		close(u.dirfd);
		return rc;
	}
	im->src = u.dirfd;
	im->src_private = true;
	return 0;
}

/* ------------------------------------------------------------ reading the source */

static const char *str_at(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A descriptor's sha256 hex (into hex) and size; what names it in errors. */
static int descriptor(const json_t *d, const char *what, char hex[65], json_int_t *size,
		      struct forge_err *err)
{
	const char *digest = str_at(d, "digest");
	json_t *sz = json_object_get(d, "size");

	if (!json_is_object(d))
		return forge_err_set(err, -EINVAL, "%s: not a descriptor object", what);
	if (!forge_digest_is_valid(digest))
		return forge_err_set(err, -EINVAL, "%s: digest \"%s\" is not sha256:<64 hex>", what,
				     digest ? digest : "");
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return forge_err_set(err, -EINVAL, "%s: no valid size", what);
	memcpy(hex, digest + 7, 65);
	*size = json_integer_value(sz);
	return 0;
}

/* blobs/sha256/<hex> of the layout, verified. */
static int layout_json(struct imp *im, const char *hex, const char *what, json_t **out,
		       struct forge_err *err)
{
	char path[80];
	snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
	return img_json_blob(im->src, path, hex, what, out, err);
}

/* "name:tag" from an annotation or RepoTags entry, when it is one. */
static bool take_name(struct imp *im, const char *s)
{
	struct forge_image_ref r;
	if (!s || forge_image_ref_parse(s, &r, NULL) < 0 || !r.tag[0])
		return false;
	snprintf(im->name_tag, sizeof(im->name_tag), "%s", s);
	return true;
}

static const char *go_arch(void)
{
	static struct utsname u;
	if (uname(&u) < 0)
		return "";
	if (strcmp(u.machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(u.machine, "aarch64") == 0)
		return "arm64";
	return u.machine;
}

/* Whether index entry d is the one wanted: at the top, the one whose ref
 * annotation names the --name given; in a nested index, this host's platform. */
static bool wanted(const struct imp *im, const json_t *d, int depth)
{
	const json_t *a = json_object_get(d, "annotations"), *p = json_object_get(d, "platform");
	const char *ref = str_at(a, "org.opencontainers.image.ref.name");

	if (depth > 0)
		return !p || (strcmp(str_at(p, "os") ?: "", "linux") == 0 &&
			      strcmp(str_at(p, "architecture") ?: "", go_arch()) == 0);
	if (!im->named)
		return false;
	return (ref && (strcmp(ref, im->tag) == 0 || strcmp(ref, im->name_tag) == 0)) ||
	       strcmp(str_at(a, "io.containerd.image.name") ?: "", im->name_tag) == 0;
}

/* The manifest chosen from an index (the wanted one, else the only one),
 * read and verified; a nested index is followed once. */
static int choose_manifest(struct imp *im, json_t *index, int depth, json_t **manifest,
			   struct forge_err *err)
{
	json_t *list = json_object_get(index, "manifests"), *d, *pick = NULL, *nested = NULL;
	size_t i, n = json_array_size(list), hits = 0;
	const char *mt;
	char hex[65];
	json_int_t size;
	int rc;

	if (!json_is_array(list) || n == 0)
		return forge_err_set(err, -EINVAL, "%s: index lists no manifests", im->source);
	json_array_foreach(list, i, d)
	{
		if (wanted(im, d, depth) && hits++ == 0)
			pick = d;
	}
	if (!pick && n == 1)
		pick = json_array_get(list, 0);
	if (!pick && depth > 0)
		return forge_err_set(err, -EINVAL,
				     "%s: no manifest for linux/%s in the image index", im->source,
				     go_arch());
	/* Several platform variants match: the first is as good as any. */
	if (!pick || (depth == 0 && hits > 1))
		return forge_err_set(err, -EINVAL,
				     "%s: index.json lists %zu images; pass --name NAME:TAG "
				     "matching one's ref.name annotation",
				     im->source, n);
	if (depth == 0 && !im->named) {
		const json_t *a = json_object_get(pick, "annotations");
		const char *ref = str_at(a, "org.opencontainers.image.ref.name");
		if (!take_name(im, str_at(a, "io.containerd.image.name")) && !take_name(im, ref))
			return forge_err_set(err, -EINVAL,
					     "%s: the image names no NAME:TAG (ref.name \"%s\"); "
					     "pass --name NAME:TAG",
					     im->source, ref ?: "");
	}
	rc = descriptor(pick, "index.json manifests[]", hex, &size, err);
	if (rc < 0)
		return rc;
	mt = str_at(pick, "mediaType") ?: "";
	if (strcmp(mt, MT_OCI_INDEX) != 0 &&
	    strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") != 0)
		return layout_json(im, hex, "manifest", manifest, err);
	if (depth > 0)
		return forge_err_set(err, -EINVAL, "%s: image indexes nested too deep", im->source);
	rc = layout_json(im, hex, "image index", &nested, err);
	if (rc == 0)
		rc = choose_manifest(im, nested, 1, manifest, err);
	json_decref(nested);
	return rc;
}

/* im->in for the layers array of what ("manifest", "manifest.json"). */
static int alloc_layers(struct imp *im, const json_t *layers, const char *what,
			struct forge_err *err)
{
	im->n = json_array_size(layers);
	if (im->n == 0 || im->n > IMG_MAX_LAYERS)
		return forge_err_set(err, -EINVAL, "%s: %s has %zu layers (1 to %d)", im->source,
				     what, im->n, IMG_MAX_LAYERS);
	im->in = calloc(im->n, sizeof(*im->in));
	if (!im->in)
		return forge_err_set(err, -ENOMEM, "import: out of memory");
	return 0;
}

/* Plain, gzip or zstd tar layers (foreign, non-distributable and encrypted
 * ones are not); the compression itself is read from the bytes. */
static bool layer_media_ok(const char *mt)
{
	static const char *const ok[] = {
	    "application/vnd.oci.image.layer.v1.tar",
	    "application/vnd.oci.image.layer.v1.tar+gzip",
	    "application/vnd.oci.image.layer.v1.tar+zstd",
	    "application/vnd.docker.image.rootfs.diff.tar",
	    "application/vnd.docker.image.rootfs.diff.tar.gzip",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(mt, ok[i]) == 0)
			return true;
	return false;
}

static int read_oci(struct imp *im, struct forge_err *err)
{
	json_t *layout = NULL, *index = NULL, *m = NULL, *l;
	char hex[65];
	json_int_t size;
	size_t i;
	int rc;

	rc = img_json_blob(im->src, "oci-layout", NULL, "oci-layout", &layout, err);
	if (rc == 0 && strcmp(str_at(layout, "imageLayoutVersion") ?: "", "1.0.0") != 0)
		rc = forge_err_set(err, -EINVAL, "%s: oci-layout: imageLayoutVersion is not 1.0.0",
				   im->source);
	if (rc < 0 ||
	    (rc = img_json_blob(im->src, "index.json", NULL, "index.json", &index, err)) < 0 ||
	    (rc = choose_manifest(im, index, 0, &m, err)) < 0)
		goto out;
	const char *mt = str_at(m, "mediaType");
	if (mt && strcmp(mt, MT_OCI_MANIFEST) != 0 &&
	    strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json") != 0) {
		rc = forge_err_set(err, -EINVAL, "%s: manifest media type %s not supported",
				   im->source, mt);
		goto out;
	}
	if ((rc = descriptor(json_object_get(m, "config"), "manifest config", hex, &size, err)) <
		0 ||
	    (rc = layout_json(im, hex, "config", &im->config, err)) < 0)
		goto out;
	json_t *layers = json_object_get(m, "layers");
	if ((rc = alloc_layers(im, layers, "manifest", err)) < 0)
		goto out;
	json_array_foreach(layers, i, l)
	{
		char what[48];
		const char *lmt = str_at(l, "mediaType") ?: "";
		snprintf(what, sizeof(what), "manifest layers[%zu]", i);
		if ((rc = descriptor(l, what, im->in[i].want, &im->in[i].size, err)) < 0)
			goto out;
		if (!layer_media_ok(lmt)) {
			rc = forge_err_set(err, -EINVAL,
					   "%s: layer %s: media type \"%s\" not supported",
					   im->source, str_at(l, "digest"), lmt);
			goto out;
		}
		if (asprintf(&im->in[i].src, "blobs/sha256/%s", im->in[i].want) < 0) {
			im->in[i].src = NULL;
			rc = forge_err_set(err, -ENOMEM, "import: out of memory");
			goto out;
		}
	}
out:
	json_decref(layout);
	json_decref(index);
	json_decref(m);
	return rc;
}

/* The sha256 a docker save path names: "blobs/sha256/<hex>" or "<hex>.json". */
static void hex_in_path(const char *p, char hex[65])
{
	char d[FORGE_DIGEST_MAX];
	hex[0] = '\0';
	if (strncmp(p, "blobs/sha256/", 13) == 0)
		snprintf(d, sizeof(d), "sha256:%s", p + 13);
	else if (strlen(p) == 69 && strcmp(p + 64, ".json") == 0)
		snprintf(d, sizeof(d), "sha256:%.64s", p);
	else
		return;
	if (forge_digest_is_valid(d))
		memcpy(hex, d + 7, 65);
}

static int read_docker(struct imp *im, struct forge_err *err)
{
	json_t *list = NULL, *e, *pick = NULL, *tags, *t, *layers, *l;
	json_error_t jerr;
	char *buf = NULL, hex[65];
	size_t i, k, len;
	int rc;

	rc = img_read_small(im->src, "manifest.json", &buf, &len, err);
	if (rc < 0)
		return rc;
	list = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!json_is_array(list) || json_array_size(list) == 0) {
		rc = forge_err_set(err, -EINVAL, "%s: manifest.json is not a non-empty array",
				   im->source);
		goto out;
	}
	for (i = 0; im->named && !pick && i < json_array_size(list); i++) {
		e = json_array_get(list, i);
		json_array_foreach(json_object_get(e, "RepoTags"), k, t)
		{
			if (strcmp(json_string_value(t) ?: "", im->name_tag) == 0)
				pick = e;
		}
	}
	if (!pick && json_array_size(list) == 1)
		pick = json_array_get(list, 0);
	if (!pick) {
		rc = forge_err_set(err, -EINVAL,
				   "%s: manifest.json lists %zu images; pass --name NAME:TAG "
				   "matching one's RepoTags",
				   im->source, json_array_size(list));
		goto out;
	}
	tags = json_object_get(pick, "RepoTags");
	if (!im->named && !take_name(im, json_string_value(json_array_get(tags, 0)))) {
		rc = forge_err_set(err, -EINVAL,
				   "%s: the image has no usable RepoTags; pass --name "
				   "NAME:TAG",
				   im->source);
		goto out;
	}
	const char *cfg = str_at(pick, "Config");
	if (!cfg) {
		rc = forge_err_set(err, -EINVAL, "%s: manifest.json: no Config", im->source);
		goto out;
	}
	hex_in_path(cfg, hex);
	rc = img_json_blob(im->src, cfg, hex[0] ? hex : NULL, "config", &im->config, err);
	if (rc < 0)
		goto out;
	layers = json_object_get(pick, "Layers");
	if ((rc = alloc_layers(im, layers, "manifest.json", err)) < 0)
		goto out;
	json_array_foreach(layers, i, l)
	{
		if (!json_is_string(l) || !(im->in[i].src = strdup(json_string_value(l)))) {
			rc = forge_err_set(err, -EINVAL,
					   "%s: manifest.json: Layers[%zu] is not a path",
					   im->source, i);
			goto out;
		}
		hex_in_path(im->in[i].src, im->in[i].want);
		im->in[i].size = -1;
	}
out:
	json_decref(list);
	return rc;
}

/* rootfs.diff_ids of the config: one valid digest per layer. */
static int check_config(struct imp *im, struct forge_err *err)
{
	json_t *rootfs = json_object_get(im->config, "rootfs");
	json_t *ids = json_object_get(rootfs, "diff_ids");

	if (strcmp(str_at(rootfs, "type") ?: "", "layers") != 0 || !json_is_array(ids))
		return forge_err_set(err, -EINVAL,
				     "%s: config: rootfs is not {type: layers, "
				     "diff_ids: [...]}",
				     im->source);
	if (json_array_size(ids) != im->n)
		return forge_err_set(err, -EINVAL, "%s: config: %zu rootfs.diff_ids for %zu layers",
				     im->source, json_array_size(ids), im->n);
	for (size_t i = 0; i < im->n; i++)
		if (!forge_digest_is_valid(json_string_value(json_array_get(ids, i))))
			return forge_err_set(err, -EINVAL,
					     "%s: config: rootfs.diff_ids[%zu] is not "
					     "a sha256 digest",
					     im->source, i);
	return 0;
}

/* ------------------------------------------------------------ layers */

/* Copies fd into a new staging file, hashing; returns the copy open. */
static int copy_hashed(struct imp *im, int fd, const char *name, char hex[65], uint64_t *size,
		       struct forge_err *err)
{
	crypto_hash_sha256_state st;
	unsigned char d[crypto_hash_sha256_BYTES];
	unsigned char *buf = malloc(COPY_BUF);
	int out = -1, rc = 0;
	ssize_t n;

	*size = 0;
	if (!buf)
		return forge_err_set(err, -ENOMEM, "import: out of memory");
	out = stage_file(im, name, err);
	if (out < 0) {
		free(buf);
		return out;
	}
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, COPY_BUF)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = forge_err_errno(err, errno, "import: read %s", name);
			break;
		}
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
		*size += (uint64_t)n;
		rc = img_write_all(out, buf, (size_t)n, 0, false);
		if (rc < 0) {
			forge_err_errno(err, -rc, "import: write %s", name);
			break;
		}
	}
	free(buf);
	crypto_hash_sha256_final(&st, d);
	sodium_bin2hex(hex, 65, d, sizeof(d));
	if (rc == 0 && lseek(out, 0, SEEK_SET) < 0)
		rc = forge_err_errno(err, errno, "import: rewind %s", name);
	if (rc < 0) {
		close(out);
		return rc;
	}
	return out;
}

/* The layer's blob as a private, verified fd: a copy from a directory the
 * caller gave, or the file of our own unpacked archive. *hex gets its
 * sha256 when known ("" for a docker legacy layer, checked by diff_id). */
static int stage_blob(struct imp *im, size_t i, char hex[65], struct forge_err *err)
{
	const struct layer_in *in = &im->in[i];
	char name[32], got[65] = "";
	uint64_t size;
	struct stat st;
	int fd, rc = 0;

	fd = forge_open_beneath(im->src, in->src, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, err);
	if (fd < 0) {
		forge_err_prefix(err, "%s: layer", im->source);
		return fd;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return forge_err_set(err, -EINVAL, "%s: layer %s is not a regular file", im->source,
				     in->src);
	}
	size = (uint64_t)st.st_size;
	/* Before copying: a blob larger than any layer may be is not worth the disk. */
	if (size > im->lim->max_bytes) {
		close(fd);
		return forge_err_set(err, -EFBIG, "%s: layer %s: %llu bytes, more than %llu",
				     im->source, in->src, (unsigned long long)size,
				     (unsigned long long)im->lim->max_bytes);
	}
	if (!im->src_private) {
		snprintf(name, sizeof(name), "blob-%zu", i);
		int copy = copy_hashed(im, fd, name, got, &size, err);
		close(fd);
		if (copy < 0)
			return copy;
		fd = copy;
	} else if (in->want[0]) {
		rc = forge_sha256_fd_hex(fd, got, err);
		if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
			rc = forge_err_errno(err, errno, "%s: rewind %s", im->source, in->src);
	}
	if (rc == 0 && in->want[0] && strcmp(got, in->want) != 0)
		rc = forge_err_set(err, -EBADMSG,
				   "%s: layer sha256:%s: digest mismatch (content is sha256:%s)",
				   im->source, in->want, got);
	if (rc == 0 && in->size >= 0 && (uint64_t)in->size != size)
		rc = forge_err_set(
		    err, -EBADMSG, "%s: layer sha256:%s: %llu bytes, the descriptor says %lld",
		    im->source, in->want, (unsigned long long)size, (long long)in->size);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	memcpy(hex, in->want, 65);
	return fd;
}

/* Unpacks layer i into staging (or, when the store has it unpacked already,
 * only re-reads it for its diff_id) and stages its zstd blob. */
static int import_layer(struct imp *im, size_t i, struct forge_err *err)
{
	struct layer_out *o = &im->out[i];
	const char *diff_id = json_string_value(
	    json_array_get(json_object_get(json_object_get(im->config, "rootfs"), "diff_ids"), i));
	char what[96], hex[65], zname[32];
	struct img_unpack u = {.lim = im->lim, .what = what, .layer = true, .dirfd = -1, .zfd = -1};
	enum img_compression comp;
	struct stat st;
	int blob, rc;

	snprintf(what, sizeof(what), "layer %zu (%.40s)", i, im->in[i].src);
	blob = stage_blob(im, i, hex, err);
	if (blob < 0)
		return blob;
	rc = img_compression_of(blob, &comp, err);
	if (rc < 0)
		goto out;
	if (comp == IMG_ZSTD && !hex[0]) {
		rc = forge_sha256_fd_hex(blob, hex, err);
		if (rc == 0 && lseek(blob, 0, SEEK_SET) < 0)
			rc = forge_err_errno(err, errno, "%s: rewind", what);
		if (rc < 0)
			goto out;
	}
	if (comp != IMG_ZSTD) {
		snprintf(zname, sizeof(zname), "zst-%zu", i);
		u.zfd = stage_file(im, zname, err);
		if (u.zfd < 0) {
			rc = u.zfd;
			goto out;
		}
	}
	/* A zstd blob the store already holds unpacked is only re-read. */
	if (comp != IMG_ZSTD || fstatat(im->s.layers, hex, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		snprintf(o->dir, sizeof(o->dir), "layer-%zu", i);
		u.dirfd = stage_dir(im, o->dir, err);
		if (u.dirfd < 0 || fchmod(u.dirfd, 0755) < 0) {
			rc =
			    u.dirfd < 0 ? u.dirfd : forge_err_errno(err, errno, "chmod %s", o->dir);
			goto out;
		}
	}
	rc = img_unpack(blob, &u, err);
	if (rc < 0)
		goto out;
	if (strcmp(diff_id + 7, u.diff_hex) != 0) {
		rc = forge_err_set(err, -EBADMSG,
				   "%s: layer %zu: diff_id mismatch (uncompressed content is "
				   "sha256:%s, config says %s)",
				   im->source, i, u.diff_hex, diff_id);
		goto out;
	}
	if (comp == IMG_ZSTD) {
		o->fd = blob;
		blob = -1;
		memcpy(o->hex, hex, 65);
		if (fstat(o->fd, &st) < 0) {
			rc = forge_err_errno(err, errno, "%s: stat", what);
			goto out;
		}
		o->size = (uint64_t)st.st_size;
	} else {
		o->fd = u.zfd;
		u.zfd = -1;
		memcpy(o->hex, u.zst_hex, 65);
		o->size = u.zst_size;
	}
out:
	if (blob >= 0)
		close(blob);
	if (u.zfd >= 0)
		close(u.zfd);
	if (u.dirfd >= 0)
		close(u.dirfd);
	return rc;
}

/* ------------------------------------------------------------ commit */

/* blobs/<hex> from data, unless present. */
static int put_json_blob(struct imp *im, const char *text, char hex[65], struct forge_err *err)
{
	struct stat st;
	forge_sha256_hex(text, strlen(text), hex);
	if (fstatat(im->s.blobs, hex, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	return forge_atomic_write(im->s.blobs, hex, text, strlen(text), 0600, err);
}

static int commit(struct imp *im, const char *manifest, const char *config,
		  char digest[FORGE_DIGEST_MAX], struct forge_err *err)
{
	char proc[64], hex[65];
	json_t *index = NULL;
	struct stat st;
	int rc;

	/* Everything staged reaches the disk before any of it is named. */
	if (syncfs(im->stage) < 0)
		return forge_err_errno(err, errno, "import: syncfs");
	rc = img_store_lock(&im->s, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < im->n; i++) {
		struct layer_out *o = &im->out[i];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
		if (linkat(AT_FDCWD, proc, im->s.blobs, o->hex, AT_SYMLINK_FOLLOW) < 0 &&
		    errno != EEXIST) {
			rc = forge_err_errno(err, errno, "import: store blob %s", o->hex);
			goto out;
		}
		if (!o->dir[0] || fstatat(im->s.layers, o->hex, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (renameat(im->stage, o->dir, im->s.layers, o->hex) < 0) {
			rc = forge_err_errno(err, errno, "import: store layer %s", o->hex);
			goto out;
		}
	}
	if ((rc = put_json_blob(im, config, hex, err)) < 0 ||
	    (rc = put_json_blob(im, manifest, hex, err)) < 0)
		goto out;
	if (fsync(im->s.blobs) < 0 || fsync(im->s.layers) < 0) {
		rc = forge_err_errno(err, errno, "import: fsync %s", im->s.path);
		goto out;
	}
	snprintf(digest, FORGE_DIGEST_MAX, "sha256:%s", hex);
	if ((rc = img_index_load(&im->s, &index, err)) < 0 ||
	    json_object_set_new(index, im->name_tag, json_string(digest)) < 0 ||
	    (rc = img_index_save(&im->s, index, err)) < 0)
		rc = rc < 0 ? rc : forge_err_set(err, -ENOMEM, "import: out of memory");
out:
	json_decref(index);
	img_store_unlock(&im->s);
	return rc;
}

/* The stored manifest: the config and zstd layers as staged. */
static int build_manifest(struct imp *im, char **manifest, char **config, struct forge_err *err)
{
	json_t *layers = json_array(), *m = NULL;
	char cfg_hex[65];
	int rc = 0;

	*manifest = NULL;
	*config = forge_json_canonical(im->config, err);
	if (!*config || !layers) {
		json_decref(layers);
		return *config ? forge_err_set(err, -ENOMEM, "import: out of memory") : err->code;
	}
	forge_sha256_hex(*config, strlen(*config), cfg_hex);
	for (size_t i = 0; i < im->n; i++)
		json_array_append_new(layers,
				      json_pack("{s:s,s:s+,s:I}", "mediaType", MT_OCI_LAYER_ZST,
						"digest", "sha256:", im->out[i].hex, "size",
						(json_int_t)im->out[i].size));
	m = json_pack("{s:i,s:s,s:{s:s,s:s+,s:I},s:o}", "schemaVersion", 2, "mediaType",
		      MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest",
		      "sha256:", cfg_hex, "size", (json_int_t)strlen(*config), "layers", layers);
	*manifest = m ? forge_json_canonical(m, err) : NULL;
	if (!*manifest)
		rc = m ? err->code : forge_err_set(err, -ENOMEM, "import: out of memory");
	json_decref(m);
	return rc;
}

/* ------------------------------------------------------------ entry point */

int forge_image_import_limits(const struct forge_paths *paths, const char *path,
			      const char *name_tag, const struct forge_image_limits *lim,
			      char digest[FORGE_DIGEST_MAX], struct forge_err *err)
{
	struct imp im = {.lim = lim, .stage = -1, .src = -1, .source = path};
	struct forge_image_ref ref;
	char *manifest = NULL, *config = NULL;
	struct stat st;
	int fd = -1, rc;

	struct forge_err local;
	if (!err)
		err = &local;
	digest[0] = '\0';
	if (!lim || !lim->max_entries || !lim->max_bytes || !lim->max_ratio)
		return forge_err_set(err, -EINVAL, "import: limits must be positive");
	if (name_tag) {
		rc = forge_image_ref_parse(name_tag, &ref, err);
		if (rc == 0 && !ref.tag[0])
			rc = forge_err_set(err, -EINVAL, "import --name %s: expected NAME:TAG",
					   name_tag);
		if (rc < 0)
			return rc;
		snprintf(im.name_tag, sizeof(im.name_tag), "%s", name_tag);
		snprintf(im.tag, sizeof(im.tag), "%s", ref.tag);
		im.named = true;
	}
	if (forge_crypto_init() < 0)
		return forge_err_set(err, -EIO, "import: libsodium initialisation failed");
	rc = img_store_open(paths, true, &im.s, err);
	if (rc < 0)
		return rc;
	if ((rc = stage_create(&im, err)) < 0)
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = forge_err_errno(err, errno, "import %s", path);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		im.src = fd;
		fd = -1;
	} else if (!S_ISREG(st.st_mode)) {
		rc = forge_err_set(err, -EINVAL, "import %s: not a directory or an archive", path);
		goto out;
	} else if ((rc = unpack_archive(&im, fd, err)) < 0) {
		goto out;
	}
	if (faccessat(im.src, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		rc = read_docker(&im, err);
	else if (faccessat(im.src, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		rc = read_oci(&im, err);
	else
		rc =
		    forge_err_set(err, -EINVAL,
				  "import %s: neither an OCI layout (index.json) nor a docker save "
				  "archive (manifest.json)",
				  path);
	if (rc < 0 || (rc = check_config(&im, err)) < 0)
		goto out;
	im.out = calloc(im.n, sizeof(*im.out));
	if (!im.out) {
		rc = forge_err_set(err, -ENOMEM, "import: out of memory");
		goto out;
	}
	for (size_t i = 0; i < im.n; i++)
		im.out[i].fd = -1;
	for (size_t i = 0; i < im.n; i++)
		if ((rc = import_layer(&im, i, err)) < 0)
			goto out;
	if ((rc = build_manifest(&im, &manifest, &config, err)) < 0)
		goto out;
	rc = commit(&im, manifest, config, digest, err);
out:
	if (fd >= 0)
		close(fd);
	if (im.src >= 0)
		close(im.src);
	for (size_t i = 0; im.out && i < im.n; i++)
		if (im.out[i].fd >= 0)
			close(im.out[i].fd);
	for (size_t i = 0; im.in && i < im.n; i++)
		free(im.in[i].src);
	free(im.in);
	free(im.out);
	free(manifest);
	free(config);
	json_decref(im.config);
	if (im.stage_name[0]) {
		struct forge_err rm_err;
		forge_remove_tree(im.s.tmp, im.stage_name, &rm_err);
	}
	if (im.stage >= 0)
		close(im.stage);
	img_store_close(&im.s);
	if (rc < 0)
		digest[0] = '\0';
	return rc;
}

int forge_image_import(const struct forge_paths *paths, const char *path, const char *name_tag,
		       char digest[FORGE_DIGEST_MAX], struct forge_err *err)
{
	struct forge_image_limits lim;
	forge_image_limits_default(&lim);
	return forge_image_import_limits(paths, path, name_tag, &lim, digest, err);
}
