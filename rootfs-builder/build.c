/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rootfs-builder/build.c — one build: spec → packages → layer → OCI image
 * layout in a private temp dir → forge_image_import().
 *
 * What goes into the layer, in this order (a later source replaces a file of
 * an earlier one): the packages (sorted by name), busybox and its applet
 * links, the spec's directories, files and symlinks, then /etc/passwd and
 * /etc/group (the base image's entries kept, the spec's added or replacing
 * those of the same name). Config and manifest are canonical JSON without
 * any time or host-dependent value, so the digest depends only on the spec,
 * the package files and the base image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "rootfs-builder/internal.h"

#if defined(__x86_64__)
#define OCI_ARCH "amd64"
#elif defined(__aarch64__)
#define OCI_ARCH "arm64"
#else
#error "rootfs-builder: give this architecture's OCI (Debian) name"
#endif

#define MT_MANIFEST   "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG     "application/vnd.oci.image.config.v1+json"
#define MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define BUSYBOX_DEB   "busybox-static"
#define ACCOUNTS_MAX  (1u << 20) /* a base image's /etc/passwd or /etc/group */
#define JSON_MAX      (4u << 20) /* a base image's config or manifest */

struct build {
	const struct forge_paths *paths;
	const struct forge_build_spec *spec;
	const char *name_tag;
	struct forge_image *base; /* NULL for scratch */
	json_t *base_config, *base_manifest;
	char tmp[FORGE_PATH_MAX]; /* the build's private directory */
	int tmp_fd, blobs_fd;
	struct forge_layer *layer;
	struct bld_deb *debs;
	size_t n_debs;
	json_t *installed; /* sorted package names */
	struct forge_layer_digest ld;
};

/* ------------------------------------------------------------ base image */

/* A JSON blob of the store, by digest. */
static int store_json(const struct build *b, const char *digest, json_t **out,
		      struct forge_err *err)
{
	char path[FORGE_PATH_MAX], *buf = NULL;
	json_error_t jerr;
	size_t len;
	int fd, rc;

	*out = NULL;
	rc = forge_image_blob_path(b->paths, digest, path, err);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return forge_err_errno(err, errno, "base %s: blob %s", b->spec->base, digest);
	rc = forge_read_fd(fd, path, &buf, &len, JSON_MAX, err);
	close(fd);
	if (rc < 0)
		return rc;
	*out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return forge_err_set(err, -EINVAL, "base %s: blob %s: not a JSON object: %s",
				     b->spec->base, digest, jerr.text);
	}
	return 0;
}

static int load_base(struct build *b, struct forge_err *err)
{
	int rc = forge_image_resolve(b->paths, b->spec->base, &b->base, err);

	if (rc < 0) {
		forge_err_prefix(err, "base");
		return rc;
	}
	rc = store_json(b, b->base->config_digest, &b->base_config, err);
	if (rc == 0)
		rc = store_json(b, b->base->digest, &b->base_manifest, err);
	if (rc == 0 && (!json_is_array(json_object_get(b->base_manifest, "layers")) ||
			!json_is_object(json_object_get(b->base_config, "rootfs"))))
		rc = forge_err_set(err, -EINVAL, "base %s: manifest or config without layers",
				   b->spec->base);
	return rc;
}

/* Whether layer directory fd hides the lower layers' dir (a whiteout or
 * anything but a directory in its place, or an opaque directory). */
static bool hides(int fd, const char *dir)
{
	struct stat st;
	char opq = 0;
	int dfd;

	if (fstatat(fd, dir, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno != ENOENT;
	if (!S_ISDIR(st.st_mode))
		return true;
	dfd = openat(fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return true;
	if (fgetxattr(dfd, "trusted.overlay.opaque", &opq, 1) != 1)
		opq = 0;
	close(dfd);
	return opq == 'y';
}

/* The base image's file dir/name (*out NULL when it has none): from the
 * top-most layer that has it, unless a higher one hides it. */
static int base_file(const struct build *b, const char *dir, const char *name, char **out,
		     struct forge_err *err)
{
	char rel[FORGE_PATH_MAX];
	size_t len;
	int rc = 0;

	*out = NULL;
	snprintf(rel, sizeof(rel), "%s/%s", dir, name);
	for (size_t i = 0; b->base && i < b->base->n_layers; i++) {
		int fd = open(b->base->lowerdirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		struct stat st;
		bool stop = true;

		if (fd < 0)
			return forge_err_errno(err, errno, "base layer %s", b->base->lowerdirs[i]);
		if (fstatat(fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISREG(st.st_mode))
				rc = forge_read_file(fd, rel, out, &len, ACCOUNTS_MAX, err);
		} else {
			stop = errno != ENOENT || hides(fd, dir);
		}
		close(fd);
		if (stop)
			break;
	}
	return rc;
}

/* ------------------------------------------------------------ the layer */

static int add_packages(struct build *b, struct forge_err *err)
{
	const struct forge_deb_filter filter = {
	    .exclude = b->spec->exclude_paths,
	    .n_exclude = b->spec->n_exclude_paths,
	};
	size_t i;
	json_t *name;

	json_array_foreach(b->installed, i, name)
	{
		size_t wl = strcspn(json_string_value(name), ":");

		for (size_t k = 0; k < b->n_debs; k++) {
			if (strlen(b->debs[k].package) != wl ||
			    strncmp(b->debs[k].package, json_string_value(name), wl) != 0)
				continue;
			int rc = forge_layer_add_deb(b->layer, b->debs[k].fd, b->debs[k].file,
						     &filter, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int add_busybox(struct build *b, struct forge_err *err)
{
	const struct forge_deb_filter only = {.only = "bin/busybox"};
	const struct bld_deb *d = NULL;
	int rc;

	if (!b->spec->n_applets)
		return 0;
	for (size_t k = 0; k < b->n_debs; k++)
		if (strcmp(b->debs[k].package, BUSYBOX_DEB) == 0)
			d = &b->debs[k];
	if (!d)
		return forge_err_set(err, -ENOENT, "busybox: %s was not fetched", BUSYBOX_DEB);
	rc = forge_layer_add_deb(b->layer, d->fd, d->file, &only, err);
	for (size_t i = 0; rc == 0 && i < b->spec->n_applets; i++) {
		const char *a = b->spec->applets[i];
		char path[FORGE_PATH_MAX];

		snprintf(path, sizeof(path), "%s%s", a[0] == '/' ? "" : "/bin/", a);
		if (strcmp(path, "/bin/busybox") != 0)
			rc = forge_layer_add_symlink(b->layer, path, "/bin/busybox", err);
		if (rc < 0)
			forge_err_prefix(err, "busybox[%zu]", i);
	}
	return rc;
}

static int add_spec_entries(struct build *b, struct forge_err *err)
{
	const struct forge_build_spec *s = b->spec;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < s->n_dirs; i++)
		if ((rc = forge_layer_add_dir(b->layer, s->dirs[i].path, s->dirs[i].mode, err)) < 0)
			forge_err_prefix(err, "directories[%zu]", i);
	for (size_t i = 0; rc == 0 && i < s->n_files; i++)
		if ((rc = forge_layer_add_file(b->layer, s->files[i].path, s->files[i].mode,
					       s->files[i].content, s->files[i].len, err)) < 0)
			forge_err_prefix(err, "files[%zu]", i);
	for (size_t i = 0; rc == 0 && i < s->n_symlinks; i++)
		if ((rc = forge_layer_add_symlink(b->layer, s->symlinks[i].path,
						  s->symlinks[i].target, err)) < 0)
			forge_err_prefix(err, "symlinks[%zu]", i);
	return rc;
}

/* Writes to f the lines of old whose first field is not in names. */
static void keep_lines(const char *old, const char *const *names, size_t n, FILE *f)
{
	for (const char *p = old ? old : ""; *p;) {
		size_t ll = strcspn(p, "\n"), nl = strcspn(p, ":\n");
		bool replaced = false;

		for (size_t i = 0; i < n && !replaced; i++)
			replaced = strlen(names[i]) == nl && strncmp(names[i], p, nl) == 0;
		if (ll && !replaced)
			fprintf(f, "%.*s\n", (int)ll, p);
		p += ll + (p[ll] == '\n');
	}
}

/* /etc/passwd (users) or /etc/group (groups): the base's lines, then the spec's. */
static int add_accounts_file(struct build *b, bool passwd, struct forge_err *err)
{
	const struct forge_build_spec *s = b->spec;
	size_t n = passwd ? s->n_users : s->n_groups, len = 0;
	const char *rel = passwd ? "etc/passwd" : "etc/group", *name = rel + 4;
	const char **names = calloc(n + 1, sizeof(*names));
	char *old = NULL, *text = NULL;
	FILE *f = NULL;
	int rc;

	if (!names)
		return forge_err_set(err, -ENOMEM, "%s: out of memory", rel);
	for (size_t i = 0; i < n; i++)
		names[i] = passwd ? s->users[i].name : s->groups[i].name;
	/* A package's or the base's file: the spec adds to it. */
	rc = forge_layer_read_file(b->layer, rel, &old, &len, ACCOUNTS_MAX, err);
	if (rc == -ENOENT)
		rc = base_file(b, "etc", name, &old, err);
	if (rc < 0)
		goto out;
	f = open_memstream(&text, &len);
	if (!f) {
		rc = forge_err_errno(err, errno, "%s", rel);
		goto out;
	}
	keep_lines(old, names, n, f);
	for (size_t i = 0; i < n; i++) {
		if (passwd) {
			const struct forge_spec_user *u = &s->users[i];

			fprintf(f, "%s:x:%u:%u:%s:%s:%s\n", u->name, u->uid, u->gid, u->gecos,
				u->home, u->shell);
		} else {
			const struct forge_spec_group *g = &s->groups[i];
			size_t k;
			json_t *m;

			fprintf(f, "%s:x:%u:", g->name, g->gid);
			json_array_foreach(g->members, k, m)
			    fprintf(f, "%s%s", k ? "," : "", json_string_value(m));
			fputc('\n', f);
		}
	}
	if (fclose(f) != 0) {
		f = NULL;
		rc = forge_err_errno(err, errno, "%s", rel);
		goto out;
	}
	f = NULL;
	rc = forge_layer_add_file(b->layer, rel, 0644, text, len, err);
out:
	if (f)
		fclose(f);
	free(text);
	free(old);
	free(names);
	return rc;
}

static int build_layer(struct build *b, struct forge_err *err)
{
	int rc = forge_layer_new(b->tmp, &b->layer, err);

	if (rc == 0)
		rc = add_packages(b, err);
	if (rc == 0)
		rc = add_busybox(b, err);
	if (rc == 0)
		rc = add_spec_entries(b, err);
	if (rc == 0 && b->spec->n_users)
		rc = add_accounts_file(b, true, err);
	if (rc == 0 && b->spec->n_groups)
		rc = add_accounts_file(b, false, err);
	return rc;
}

/* ------------------------------------------------------------ OCI layout */

/* Writes value as canonical JSON into blobs/sha256; fills its descriptor. */
static int write_json_blob(struct build *b, const json_t *value, const char *media_type,
			   json_t **desc, struct forge_err *err)
{
	char hex[65], digest[FORGE_DIGEST_MAX];
	char *text = forge_json_canonical(value, err);
	int rc;

	if (!text)
		return -EINVAL;
	forge_sha256_hex(text, strlen(text), hex);
	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	rc = forge_atomic_write(b->blobs_fd, hex, text, strlen(text), 0644, err);
	if (rc == 0) {
		*desc = json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest,
				  "size", (json_int_t)strlen(text));
		if (!*desc)
			rc = forge_err_set(err, -ENOMEM, "layout: out of memory");
	}
	free(text);
	return rc;
}

static int write_layer_blob(struct build *b, struct forge_err *err)
{
	int fd, rc;

	fd = openat(b->blobs_fd, "layer.tmp", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return forge_err_errno(err, errno, "layout: layer blob");
	rc = forge_layer_write(b->layer, fd, &b->ld, err);
	if (close(fd) < 0 && rc == 0)
		rc = forge_err_errno(err, errno, "layout: layer blob");
	if (rc == 0 && renameat(b->blobs_fd, "layer.tmp", b->blobs_fd, b->ld.blob + 7) < 0)
		rc = forge_err_errno(err, errno, "layout: layer blob");
	return rc;
}

/* The base's layer blobs, linked (or copied) from the store into the layout. */
static int copy_base_blobs(struct build *b, struct forge_err *err)
{
	char *buf = NULL;
	int rc = 0;

	for (size_t i = 0; b->base && i < b->base->n_layers && rc == 0; i++) {
		const char *digest = b->base->layer_digests[i];
		char src[FORGE_PATH_MAX];
		int in = -1, out = -1;

		rc = forge_image_blob_path(b->paths, digest, src, err);
		if (rc < 0)
			break;
		if (linkat(AT_FDCWD, src, b->blobs_fd, digest + 7, 0) == 0 || errno == EEXIST)
			continue;
		if (!buf && !(buf = malloc(1u << 17))) {
			rc = forge_err_set(err, -ENOMEM, "layout: out of memory");
			break;
		}
		in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		out =
		    openat(b->blobs_fd, digest + 7, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (in < 0 || out < 0)
			rc = forge_err_errno(err, errno, "layout: base blob %s", digest);
		for (ssize_t n; rc == 0 && (n = read(in, buf, 1u << 17)) != 0;) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 || write(out, buf, (size_t)n) != n)
				rc = forge_err_errno(err, n < 0 ? errno : EIO,
						     "layout: base blob %s", digest);
		}
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
	}
	free(buf);
	return rc;
}

/* Base Env with the spec's variables replacing those of the same name, new
 * ones appended in the spec's order. */
static json_t *merged_env(const json_t *base_env, const json_t *spec_env)
{
	json_t *env = json_array(), *v;
	const char *key;
	size_t i;

	json_array_foreach(base_env, i, v)
	{
		const char *kv = json_string_value(v);
		size_t kl;

		if (!kv)
			continue;
		kl = strcspn(kv, "=");
		json_object_foreach((json_t *)spec_env, key,
				    v) if (strlen(key) == kl && strncmp(key, kv, kl) == 0) break;
		if (!key)
			json_array_append_new(env, json_string(kv));
	}
	json_object_foreach((json_t *)spec_env, key, v)
	{
		char *kv;

		if (asprintf(&kv, "%s=%s", key, json_string_value(v)) < 0) {
			json_decref(env);
			return NULL;
		}
		json_array_append_new(env, json_string(kv));
		free(kv);
	}
	return env;
}

/* The "config" member: the base's, with what the spec says over it. */
static json_t *run_config(const struct build *b)
{
	const struct forge_build_spec *s = b->spec;
	json_t *base = json_object_get(b->base_config, "config");
	json_t *c = json_is_object(base) ? json_deep_copy(base) : json_object();
	json_t *env, *labels;

	if (!c)
		return NULL;
	env = merged_env(json_object_get(c, "Env"), s->env);
	if (!env || (json_array_size(env) ? json_object_set_new(c, "Env", env)
					  : (json_decref(env), json_object_del(c, "Env"), 0)) < 0)
		goto fail;
	if (s->entrypoint) {
		json_object_set_new(c, "Entrypoint", json_deep_copy(s->entrypoint));
		json_object_del(c, "Cmd"); /* a new entrypoint does not take the old arguments */
	}
	if (s->cmd)
		json_object_set_new(c, "Cmd", json_deep_copy(s->cmd));
	if (s->workdir)
		json_object_set_new(c, "WorkingDir", json_string(s->workdir));
	if (s->user)
		json_object_set_new(c, "User", json_string(s->user));
	if (s->labels) {
		labels = json_object_get(c, "Labels");
		if (!json_is_object(labels)) {
			labels = json_object();
			json_object_set_new(c, "Labels", labels);
		}
		json_object_update(labels, (json_t *)s->labels);
	}
	return c;
fail:
	json_decref(c);
	return NULL;
}

/* "created_by" and a comment naming every package file: the provenance. */
static json_t *history_entry(const struct build *b)
{
	char *comment = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&comment, &len);
	json_t *h;

	if (!f)
		return NULL;
	fputs("packages:", f);
	for (size_t i = 0; i < b->n_debs; i++)
		fprintf(f, " %s", b->debs[i].file);
	if (fclose(f) != 0) {
		free(comment);
		return NULL;
	}
	h = json_pack("{s:s, s:s, s:s}", "created", FORGE_BUILD_CREATED, "created_by",
		      "forgectl image build", "comment", b->n_debs ? comment : "packages: none");
	free(comment);
	return h;
}

/* config (the base's, with this layer's diff_id, history and run config). */
static json_t *image_config(const struct build *b)
{
	json_t *config = b->base_config ? json_deep_copy(b->base_config) : json_object();
	json_t *run = run_config(b), *diff_ids, *history;

	if (!config || !run)
		goto fail;
	json_object_set_new(config, "config", run);
	run = NULL;
	json_object_set_new(config, "created", json_string(FORGE_BUILD_CREATED));
	json_object_set_new(config, "architecture", json_string(OCI_ARCH));
	json_object_set_new(config, "os", json_string("linux"));
	diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	diff_ids = json_is_array(diff_ids) ? json_incref(diff_ids) : json_array();
	if (!diff_ids || json_array_append_new(diff_ids, json_string(b->ld.diff_id)) < 0 ||
	    json_object_set_new(config, "rootfs",
				json_pack("{s:s, s:o}", "type", "layers", "diff_ids", diff_ids)) <
		0)
		goto fail;
	history = json_object_get(config, "history");
	if (!json_is_array(history)) {
		history = json_array();
		if (json_object_set_new(config, "history", history) < 0)
			goto fail;
	}
	if (json_array_append_new(history, history_entry(b)) < 0)
		goto fail;
	return config;
fail:
	json_decref(run);
	json_decref(config);
	return NULL;
}

/* blobs/, index.json and oci-layout of the layout in oci_fd. */
static int write_layout(struct build *b, int oci_fd, struct forge_err *err)
{
	static const char oci_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	json_t *config = image_config(b), *manifest = NULL, *index = NULL, *layers;
	json_t *cdesc = NULL, *mdesc = NULL;
	char *text = NULL;
	int rc;

	if (!config) {
		rc = forge_err_set(err, -ENOMEM, "layout: config: out of memory");
		goto out;
	}
	rc = write_json_blob(b, config, MT_CONFIG, &cdesc, err);
	if (rc < 0)
		goto out;
	layers = b->base_manifest ? json_deep_copy(json_object_get(b->base_manifest, "layers"))
				  : json_array();
	if (layers)
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
							MT_LAYER_ZSTD, "digest", b->ld.blob, "size",
							(json_int_t)b->ld.size));
	manifest = json_pack("{s:i, s:s, s:O, s:o*}", "schemaVersion", 2, "mediaType", MT_MANIFEST,
			     "config", cdesc, "layers", layers);
	rc = manifest ? write_json_blob(b, manifest, MT_MANIFEST, &mdesc, err)
		      : forge_err_set(err, -ENOMEM, "layout: manifest: out of memory");
	if (rc < 0)
		goto out;
	json_object_set_new(mdesc, "annotations",
			    json_pack("{s:s}", "org.opencontainers.image.ref.name", b->name_tag));
	index = json_pack("{s:i, s:[O]}", "schemaVersion", 2, "manifests", mdesc);
	text = index ? forge_json_canonical(index, err) : NULL;
	rc = text ? forge_atomic_write(oci_fd, "index.json", text, strlen(text), 0644, err)
		  : forge_err_set(err, -ENOMEM, "layout: index: out of memory");
	if (rc == 0)
		rc = forge_atomic_write(oci_fd, "oci-layout", oci_layout, sizeof(oci_layout) - 1,
					0644, err);
out:
	free(text);
	json_decref(config);
	json_decref(manifest);
	json_decref(index);
	json_decref(cdesc);
	json_decref(mdesc);
	return rc;
}

/* ------------------------------------------------------------ the build */

/* <tmp_dir>/forge-build.XXXXXX holding apt/ (an empty cwd for apt, which
 * skips files present there) and oci/blobs/sha256/. */
static int make_tmp(struct build *b, const char *tmp_dir, int *parent_fd, struct forge_err *err)
{
	int rc;

	if ((size_t)snprintf(b->tmp, sizeof(b->tmp), "%s/forge-build.XXXXXX", tmp_dir) >=
	    sizeof(b->tmp))
		return forge_err_set(err, -ENAMETOOLONG, "build: %s: path too long", tmp_dir);
	*parent_fd = open(tmp_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*parent_fd < 0)
		return forge_err_errno(err, errno, "build: temp dir %s", tmp_dir);
	if (!mkdtemp(b->tmp)) {
		rc = forge_err_errno(err, errno, "build: temp dir in %s", tmp_dir);
		b->tmp[0] = '\0';
		return rc;
	}
	b->tmp_fd = open(b->tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (b->tmp_fd < 0)
		return forge_err_errno(err, errno, "build: %s", b->tmp);
	rc = forge_mkdir_beneath(b->tmp_fd, "apt", 0700, err);
	if (rc == 0)
		rc = forge_mkdir_beneath(b->tmp_fd, "oci/blobs/sha256", 0755, err);
	if (rc < 0)
		return rc;
	b->blobs_fd = openat(b->tmp_fd, "oci/blobs/sha256", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (b->blobs_fd < 0)
		return forge_err_errno(err, errno, "build: %s/oci/blobs/sha256", b->tmp);
	return 0;
}

static int by_package(const void *a, const void *b)
{
	return strcmp(((const struct bld_deb *)a)->package, ((const struct bld_deb *)b)->package);
}

/* The packages to install and the files to fetch (busybox-static too when
 * the spec has applets). */
static int fetch_packages(struct build *b, const char *cache, struct forge_err *err)
{
	struct bld_apt apt = {0};
	char cwd[FORGE_PATH_MAX];
	json_t *fetch = NULL, *v;
	bool have_busybox = false;
	size_t i;
	int rc = 0;

	snprintf(cwd, sizeof(cwd), "%s/apt", b->tmp);
	if (b->spec->n_packages)
		rc = bld_apt_packages(&apt, b->spec, cwd, &b->installed, err);
	else if (!(b->installed = json_array()))
		rc = forge_err_set(err, -ENOMEM, "build: out of memory");
	if (rc < 0)
		return rc;
	fetch = json_copy(b->installed);
	if (!fetch)
		return forge_err_set(err, -ENOMEM, "build: out of memory");
	json_array_foreach(fetch, i, v) have_busybox =
	    have_busybox || strcmp(json_string_value(v), BUSYBOX_DEB) == 0;
	if (b->spec->n_applets && !have_busybox)
		json_array_append_new(fetch, json_string(BUSYBOX_DEB));
	if (json_array_size(fetch))
		rc = bld_apt_fetch(&apt, cache, cwd, fetch, &b->debs, &b->n_debs, err);
	if (rc == 0)
		qsort(b->debs, b->n_debs, sizeof(*b->debs), by_package);
	json_decref(fetch);
	return rc;
}

int forge_build(const struct forge_paths *paths, const char *spec_path,
		const struct forge_build_opts *opts, char digest[FORGE_DIGEST_MAX],
		struct forge_err *err)
{
	struct build b = {.paths = paths, .tmp_fd = -1, .blobs_fd = -1};
	struct forge_build_spec *spec = NULL;
	struct forge_image_ref ref;
	char cache[FORGE_PATH_MAX], oci[FORGE_PATH_MAX];
	const char *tmp_dir = opts && opts->tmp_dir ? opts->tmp_dir : getenv("TMPDIR");
	int parent_fd = -1, oci_fd = -1, rc;

	digest[0] = '\0';
	rc = forge_build_spec_load(spec_path, &spec, err);
	if (rc < 0)
		return rc;
	b.spec = spec;
	b.name_tag = opts && opts->name_tag ? opts->name_tag : spec->name_tag;
	if (forge_image_ref_parse(b.name_tag, &ref, err) < 0 || !ref.tag[0]) {
		rc = forge_err_set(err, -EINVAL, "build: \"%s\" is not an image name:tag",
				   b.name_tag);
		goto out;
	}
	if (opts && opts->cache_dir)
		snprintf(cache, sizeof(cache), "%s", opts->cache_dir);
	else if ((size_t)snprintf(cache, sizeof(cache), "%s/cache/debs", paths->lib) >=
		 sizeof(cache)) {
		rc = forge_err_set(err, -ENAMETOOLONG, "build: %s: path too long", paths->lib);
		goto out;
	}
	rc = forge_paths_ensure(paths, err);
	if (rc == 0)
		rc = make_tmp(&b, tmp_dir && *tmp_dir ? tmp_dir : "/tmp", &parent_fd, err);
	if (rc == 0 && spec->base)
		rc = load_base(&b, err);
	if (rc == 0)
		rc = fetch_packages(&b, cache, err);
	if (rc == 0)
		rc = build_layer(&b, err);
	if (rc == 0)
		rc = write_layer_blob(&b, err);
	if (rc == 0)
		rc = copy_base_blobs(&b, err);
	if (rc == 0) {
		oci_fd = openat(b.tmp_fd, "oci", O_PATH | O_DIRECTORY | O_CLOEXEC);
		rc = oci_fd < 0 ? forge_err_errno(err, errno, "build: %s/oci", b.tmp)
				: write_layout(&b, oci_fd, err);
	}
	if (rc == 0) {
		snprintf(oci, sizeof(oci), "%s/oci", b.tmp);
		rc = forge_image_import(paths, oci, b.name_tag, digest, err);
	}
	if (rc == 0)
		forge_log(FORGE_LOG_INFO, "image built", "image", b.name_tag, "digest", digest,
			  "layer", b.ld.blob, NULL);
out:
	if (oci_fd >= 0)
		close(oci_fd);
	if (b.blobs_fd >= 0)
		close(b.blobs_fd);
	if (b.tmp_fd >= 0)
		close(b.tmp_fd);
	if (b.tmp[0])
		forge_remove_tree(parent_fd, strrchr(b.tmp, '/') + 1, NULL);
	if (parent_fd >= 0)
		close(parent_fd);
	forge_layer_free(b.layer);
	bld_debs_free(b.debs, b.n_debs);
	json_decref(b.installed);
	json_decref(b.base_config);
	json_decref(b.base_manifest);
	forge_image_free(b.base);
	forge_build_spec_free(spec);
	return rc;
}
