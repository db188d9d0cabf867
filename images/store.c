/* SPDX-License-Identifier: Apache-2.0 */
/* The image store: opening and locking it, the index, pins, resolve, list, inspect, rm, gc. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/internal.h"

#define INDEX_FILE "index.json"

/* ------------------------------------------------------------ opening */

static int open_dir_at(int dirfd, const char *name, bool create, const char *base,
		       struct forge_err *err)
{
	if (create && mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return forge_err_errno(err, errno, "image store: mkdir %s/%s", base, name);
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return forge_err_errno(err, errno, "image store: open %s/%s", base, name);
	return fd;
}

int img_store_open(const struct forge_paths *paths, bool create, struct img_store *s,
		   struct forge_err *err)
{
	int lib = -1, rc, blobs_top = -1;

	memset(s, 0, sizeof(*s));
	s->dir = s->blobs = s->layers = s->refs = s->tmp = s->lock = -1;
	if (snprintf(s->path, sizeof(s->path), "%s/images", paths->lib) >= (int)sizeof(s->path))
		return forge_err_set(err, -ENAMETOOLONG, "image store: path too long");
	if (create && (rc = forge_paths_ensure(paths, err)) < 0)
		return rc;
	lib = open(paths->lib, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (lib < 0)
		return forge_err_errno(err, errno, "image store: open %s", paths->lib);
	rc = s->dir = open_dir_at(lib, "images", create, paths->lib, err);
	close(lib);
	if (rc < 0)
		goto fail;
	/* Layers hold whatever owners and modes images carry: nobody but root
	 * may reach them from the host. */
	if (create && fchmod(s->dir, 0700) < 0) {
		rc = forge_err_errno(err, errno, "image store: chmod %s", s->path);
		goto fail;
	}
	if ((rc = blobs_top = open_dir_at(s->dir, "blobs", create, s->path, err)) < 0 ||
	    (rc = s->blobs = open_dir_at(blobs_top, "sha256", create, s->path, err)) < 0 ||
	    (rc = s->layers = open_dir_at(s->dir, "layers", create, s->path, err)) < 0 ||
	    (rc = s->refs = open_dir_at(s->dir, "refs", create, s->path, err)) < 0 ||
	    (rc = s->tmp = open_dir_at(s->dir, "tmp", create, s->path, err)) < 0)
		goto fail;
	close(blobs_top);
	s->lock = openat(s->dir, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->lock < 0) {
		rc = forge_err_errno(err, errno, "image store: open %s/lock", s->path);
		goto fail;
	}
	return 0;
fail:
	if (blobs_top >= 0)
		close(blobs_top);
	img_store_close(s);
	return rc;
}

void img_store_close(struct img_store *s)
{
	int *fds[] = {&s->dir, &s->blobs, &s->layers, &s->refs, &s->tmp, &s->lock};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

int img_store_lock(struct img_store *s, struct forge_err *err)
{
	while (flock(s->lock, LOCK_EX) < 0)
		if (errno != EINTR)
			return forge_err_errno(err, errno, "image store: lock %s/lock", s->path);
	return 0;
}

void img_store_unlock(struct img_store *s)
{
	flock(s->lock, LOCK_UN);
}

/* ------------------------------------------------------------ index */

int img_index_load(struct img_store *s, json_t **out, struct forge_err *err)
{
	json_t *root = NULL, *images, *v;
	json_error_t jerr;
	const char *k;
	char *buf = NULL;
	size_t len;
	int rc;

	*out = NULL;
	rc = img_read_small(s->dir, INDEX_FILE, &buf, &len, err);
	if (rc == -ENOENT) {
		forge_err_clear(err);
		*out = json_object();
		return *out ? 0 : forge_err_set(err, -ENOMEM, "image index: out of memory");
	}
	if (rc < 0)
		return rc;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	images = json_object_get(root, "images");
	if (!json_is_object(images)) {
		rc = forge_err_set(err, -EINVAL,
				   "image index %s/" INDEX_FILE ": no \"images\" object", s->path);
		goto out;
	}
	json_object_foreach(images, k, v)
	{
		struct forge_image_ref ref;
		if (forge_image_ref_parse(k, &ref, NULL) < 0 || !ref.tag[0] ||
		    !forge_digest_is_valid(json_string_value(v))) {
			rc = forge_err_set(err, -EINVAL,
					   "image index %s/" INDEX_FILE ": bad entry \"%s\"",
					   s->path, k);
			goto out;
		}
	}
	*out = json_incref(images);
out:
	json_decref(root);
	return rc;
}

int img_index_save(struct img_store *s, const json_t *images, struct forge_err *err)
{
	json_t *root = json_pack("{s:O}", "images", images);
	char *text = root ? forge_json_canonical(root, NULL) : NULL;
	int rc;

	if (!text)
		rc = forge_err_set(err, -ENOMEM, "image index: cannot serialise");
	else
		rc = forge_atomic_write(s->dir, INDEX_FILE, text, strlen(text), 0600, err);
	free(text);
	json_decref(root);
	return rc;
}

/* ------------------------------------------------------------ blobs */

int img_read_small(int dirfd, const char *path, char **buf, size_t *len, struct forge_err *err)
{
	struct stat st;
	int fd, rc;

	/* O_NONBLOCK: a FIFO planted in a layout must not hang the import. */
	fd = forge_open_beneath(dirfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, err);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		rc = forge_err_set(err, -EINVAL, "%s: not a regular file", path);
	else
		rc = forge_read_fd(fd, path, buf, len, IMG_JSON_MAX, err);
	close(fd);
	return rc;
}

int img_json_blob(int dirfd, const char *path, const char *want_hex, const char *what, json_t **out,
		  struct forge_err *err)
{
	char *buf = NULL, hex[65];
	json_error_t jerr;
	size_t len;
	int rc;

	*out = NULL;
	rc = img_read_small(dirfd, path, &buf, &len, err);
	if (rc < 0) {
		forge_err_prefix(err, "%s", what);
		return rc;
	}
	if (want_hex) {
		forge_sha256_hex(buf, len, hex);
		if (!forge_consttime_eq(hex, want_hex, 64)) {
			rc = forge_err_set(err, -EBADMSG,
					   "%s: digest mismatch (content is sha256:%s, expected "
					   "sha256:%s)",
					   what, hex, want_hex);
			goto out;
		}
	}
	*out = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(*out)) {
		rc = forge_err_set(err, -EINVAL, "%s: not a JSON object (%s at line %d)", what,
				   *out ? "not an object" : jerr.text, jerr.line);
		json_decref(*out);
		*out = NULL;
	}
out:
	free(buf);
	return rc;
}

/* A stored manifest (by digest), checked. */
static int load_manifest(struct img_store *s, const char *digest, json_t **out,
			 struct forge_err *err)
{
	char what[FORGE_DIGEST_MAX + 16];
	json_t *m, *layers, *cfg, *l;
	size_t i;
	int rc;

	snprintf(what, sizeof(what), "manifest %s", digest);
	rc = img_json_blob(s->blobs, digest + 7, digest + 7, what, &m, err);
	if (rc == -ENOENT)
		return forge_err_set(err, rc, "image %s is not in the store", digest);
	if (rc < 0)
		return rc;
	cfg = json_object_get(m, "config");
	layers = json_object_get(m, "layers");
	if (!forge_digest_is_valid(json_string_value(json_object_get(cfg, "digest"))) ||
	    !json_is_array(layers) || json_array_size(layers) == 0 ||
	    json_array_size(layers) > IMG_MAX_LAYERS) {
		rc = forge_err_set(err, -EINVAL, "%s: damaged (config or layers)", what);
		goto fail;
	}
	json_array_foreach(layers, i, l) if (!forge_digest_is_valid(
						 json_string_value(json_object_get(l, "digest"))))
	{
		rc = forge_err_set(err, -EINVAL, "%s: layers[%zu]: bad digest", what, i);
		goto fail;
	}
	*out = m;
	return 0;
fail:
	json_decref(m);
	return rc;
}

static const char *layer_digest(const json_t *manifest, size_t i)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(manifest, "layers"), i), "digest"));
}

static const char *config_digest(const json_t *manifest)
{
	return json_string_value(json_object_get(json_object_get(manifest, "config"), "digest"));
}

int forge_image_blob_path(const struct forge_paths *paths, const char *digest,
			  char out[FORGE_PATH_MAX], struct forge_err *err)
{
	if (!forge_digest_is_valid(digest))
		return forge_err_set(err, -EINVAL, "blob digest \"%s\" is not sha256:<64 hex>",
				     digest ? digest : "");
	if (snprintf(out, FORGE_PATH_MAX, "%s/images/blobs/sha256/%s", paths->lib, digest + 7) >=
	    FORGE_PATH_MAX)
		return forge_err_set(err, -ENAMETOOLONG, "blob %s: path too long", digest);
	return 0;
}

/* ------------------------------------------------------------ refs */

/* Parses ref into r and opens the store; a missing store has no image. */
static int open_for_ref(const struct forge_paths *paths, const char *ref, struct forge_image_ref *r,
			struct img_store *s, struct forge_err *err)
{
	int rc = forge_image_ref_parse(ref, r, err);
	if (rc == 0)
		rc = img_store_open(paths, false, s, err);
	if (rc == -ENOENT)
		rc = forge_err_set(err, rc, "image %s: not found", ref);
	return rc;
}

/* ref (parsed in r) -> manifest digest, from the index or (by digest) from the blobs. */
static int lookup(struct img_store *s, const char *ref, const struct forge_image_ref *r,
		  char digest[FORGE_DIGEST_MAX], struct forge_err *err)
{
	json_t *index;
	int rc;

	if (r->digest[0]) {
		struct stat st;
		if (fstatat(s->blobs, r->digest + 7, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return forge_err_errno(err, errno, "image %s", ref);
		memcpy(digest, r->digest, FORGE_DIGEST_MAX);
		return 0;
	}
	rc = img_index_load(s, &index, err);
	if (rc < 0)
		return rc;
	const char *d = json_string_value(json_object_get(index, ref));
	if (d)
		snprintf(digest, FORGE_DIGEST_MAX, "%s", d);
	else
		rc = forge_err_set(err, -ENOENT, "image %s: not found", ref);
	json_decref(index);
	return rc;
}

/* The scenario ids pinning digest, as a new array. */
static int pins_of(struct img_store *s, const char *digest, json_t **out, struct forge_err *err)
{
	struct dirent *de;
	DIR *d;
	int fd;

	*out = json_array();
	if (!*out)
		return forge_err_set(err, -ENOMEM, "pins: out of memory");
	fd = openat(s->refs, digest + 7, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : forge_err_errno(err, errno, "pins of %s", digest);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return forge_err_errno(err, errno, "pins of %s", digest);
	}
	while ((de = readdir(d)))
		if (forge_name_is_component(de->d_name) && de->d_name[0] != '.')
			json_array_append_new(*out, json_string(de->d_name));
	closedir(d);
	return 0;
}

static int check_scenario_id(const char *digest, const char *id, struct forge_err *err)
{
	if (!forge_digest_is_valid(digest))
		return forge_err_set(err, -EINVAL, "pin: \"%s\" is not a sha256 digest",
				     digest ? digest : "");
	if (!forge_name_is_component(id) || id[0] == '.')
		return forge_err_set(err, -EINVAL, "pin: bad scenario id \"%s\"", id ? id : "");
	return 0;
}

/* A pin is an empty file, refs/<digest>/<scenario>: no contents to tear, so
 * it is made in place, and it is not synced. It only matters while its
 * scenario lives, and no scenario outlives the machine: after a power loss
 * a pin that did not reach the disk protects nothing that still runs, and
 * one that did is removed by forged's recovery with its scenario. */
int forge_image_pin_all(const struct forge_paths *paths, const char *const *digests, size_t n,
			const char *scenario_id, struct forge_err *err)
{
	struct img_store s;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = check_scenario_id(digests[i], scenario_id, err);
	if (rc < 0 || (rc = img_store_open(paths, true, &s, err)) < 0)
		return rc;
	rc = img_store_lock(&s, err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *digest = digests[i];
		json_t *m = NULL;
		if ((rc = load_manifest(&s, digest, &m, err)) < 0)
			break;
		json_decref(m);
		if (mkdirat(s.refs, digest + 7, 0700) < 0 && errno != EEXIST) {
			rc = forge_err_errno(err, errno, "pin %s", digest);
			break;
		}
		int dfd = openat(s.refs, digest + 7, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int f = dfd < 0 ? -1
				: openat(dfd, scenario_id,
					 O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (f < 0)
			rc = forge_err_errno(err, errno, "pin %s", digest);
		else
			close(f);
		if (dfd >= 0)
			close(dfd);
	}
	img_store_close(&s);
	return rc;
}

int forge_image_pin(const struct forge_paths *paths, const char *digest, const char *scenario_id,
		    struct forge_err *err)
{
	return forge_image_pin_all(paths, &digest, 1, scenario_id, err);
}

int forge_image_unpin_all(const struct forge_paths *paths, const char *const *digests, size_t n,
			  const char *scenario_id, struct forge_err *err)
{
	struct img_store s;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = check_scenario_id(digests[i], scenario_id, err);
	if (rc < 0 || (rc = img_store_open(paths, false, &s, err)) < 0)
		return rc == -ENOENT ? (forge_err_clear(err), 0) : rc;
	rc = img_store_lock(&s, err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *digest = digests[i];
		int dfd = openat(s.refs, digest + 7, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			continue;
		if (unlinkat(dfd, scenario_id, 0) < 0 && errno != ENOENT)
			rc = forge_err_errno(err, errno, "unpin %s %s", digest, scenario_id);
		close(dfd);
		/* The last pin takes its directory along. */
		if (rc == 0)
			unlinkat(s.refs, digest + 7, AT_REMOVEDIR);
	}
	img_store_close(&s);
	return rc;
}

int forge_image_unpin(const struct forge_paths *paths, const char *digest, const char *scenario_id,
		      struct forge_err *err)
{
	return forge_image_unpin_all(paths, &digest, 1, scenario_id, err);
}

/* ------------------------------------------------------------ resolve */

static char **strv_of(const json_t *a, const char *what, struct forge_err *err, int *rc)
{
	size_t i, n = json_array_size(a);
	json_t *v;
	char **out;

	*rc = 0;
	if (json_is_null(a) || !a)
		return NULL;
	if (!json_is_array(a)) {
		*rc = forge_err_set(err, -EINVAL, "image config: %s is not an array", what);
		return NULL;
	}
	out = calloc(n + 1, sizeof(*out));
	if (!out) {
		*rc = forge_err_set(err, -ENOMEM, "image config: out of memory");
		return NULL;
	}
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) || !(out[i] = strdup(json_string_value(v)))) {
			*rc = forge_err_set(err, -EINVAL, "image config: %s[%zu] is not a string",
					    what, i);
			for (size_t k = 0; k < i; k++)
				free(out[k]);
			free(out);
			return NULL;
		}
	}
	return out;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int opt_string(const json_t *o, const char *key, char **out, struct forge_err *err)
{
	const json_t *v = json_object_get(o, key);
	*out = NULL;
	if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
		return 0;
	if (!json_is_string(v))
		return forge_err_set(err, -EINVAL, "image config: config.%s is not a string", key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : forge_err_set(err, -ENOMEM, "image config: out of memory");
}

static int parse_run_config(const json_t *config, struct forge_image_config *c,
			    struct forge_err *err)
{
	const json_t *cc = json_object_get(config, "config"), *labels, *v;
	const char *k;
	int rc;

	if (cc && !json_is_object(cc) && !json_is_null(cc))
		return forge_err_set(err, -EINVAL, "image config: config is not an object");
	c->env = strv_of(json_object_get(cc, "Env"), "config.Env", err, &rc);
	if (rc < 0)
		return rc;
	if (!c->env && !(c->env = calloc(1, sizeof(char *))))
		return forge_err_set(err, -ENOMEM, "image config: out of memory");
	for (size_t i = 0; c->env[i]; i++)
		if (!strchr(c->env[i], '=') || c->env[i][0] == '=')
			return forge_err_set(err, -EINVAL,
					     "image config: config.Env[%zu] is not KEY=VALUE", i);
	c->entrypoint = strv_of(json_object_get(cc, "Entrypoint"), "config.Entrypoint", err, &rc);
	if (rc < 0)
		return rc;
	c->cmd = strv_of(json_object_get(cc, "Cmd"), "config.Cmd", err, &rc);
	if (rc < 0 || (rc = opt_string(cc, "WorkingDir", &c->working_dir, err)) < 0 ||
	    (rc = opt_string(cc, "User", &c->user, err)) < 0)
		return rc;
	if (c->working_dir && c->working_dir[0] != '/')
		return forge_err_set(err, -EINVAL,
				     "image config: config.WorkingDir \"%s\" is not absolute",
				     c->working_dir);
	labels = json_object_get(cc, "Labels");
	c->labels = json_object();
	if (!c->labels)
		return forge_err_set(err, -ENOMEM, "image config: out of memory");
	if (labels && !json_is_null(labels) && !json_is_object(labels))
		return forge_err_set(err, -EINVAL, "image config: config.Labels is not an object");
	json_object_foreach((json_t *)labels, k, v)
	{
		if (!json_is_string(v))
			return forge_err_set(err, -EINVAL,
					     "image config: config.Labels.%s is not a string", k);
		json_object_set(c->labels, k, (json_t *)v);
	}
	return 0;
}

void forge_image_free(struct forge_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->n_layers; i++) {
		free(img->layer_digests ? img->layer_digests[i] : NULL);
		free(img->lowerdirs ? (char *)img->lowerdirs[i] : NULL);
	}
	free(img->layer_digests);
	free(img->lowerdirs);
	strv_free(img->config.env);
	strv_free(img->config.entrypoint);
	strv_free(img->config.cmd);
	free(img->config.working_dir);
	free(img->config.user);
	json_decref(img->config.labels);
	free(img);
}

int forge_image_resolve(const struct forge_paths *paths, const char *ref, struct forge_image **out,
			struct forge_err *err)
{
	struct forge_image_ref r;
	struct forge_image *img = NULL;
	struct img_store s;
	json_t *m = NULL, *config = NULL;
	char what[FORGE_DIGEST_MAX + 16];
	int rc;

	*out = NULL;
	rc = open_for_ref(paths, ref, &r, &s, err);
	if (rc < 0)
		return rc;
	img = calloc(1, sizeof(*img));
	if (!img) {
		rc = forge_err_set(err, -ENOMEM, "image %s: out of memory", ref);
		goto out;
	}
	if ((rc = lookup(&s, ref, &r, img->digest, err)) < 0 ||
	    (rc = load_manifest(&s, img->digest, &m, err)) < 0)
		goto out;
	snprintf(img->config_digest, sizeof(img->config_digest), "%s", config_digest(m));
	snprintf(what, sizeof(what), "config %s", img->config_digest);
	rc = img_json_blob(s.blobs, img->config_digest + 7, img->config_digest + 7, what, &config,
			   err);
	if (rc < 0 || (rc = parse_run_config(config, &img->config, err)) < 0)
		goto out;
	size_t n = json_array_size(json_object_get(m, "layers"));
	img->layer_digests = calloc(n, sizeof(char *));
	img->lowerdirs = calloc(n, sizeof(char *));
	if (!img->layer_digests || !img->lowerdirs) {
		rc = forge_err_set(err, -ENOMEM, "image %s: out of memory", ref);
		goto out;
	}
	img->n_layers = n;
	for (size_t i = 0; i < n; i++) {
		const char *d = layer_digest(m, i);
		struct stat st;
		char *dir = NULL;
		if (fstatat(s.layers, d + 7, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode)) {
			rc = forge_err_set(err, -ENOENT, "image %s: layer %s is not unpacked", ref,
					   d);
			goto out;
		}
		img->layer_digests[i] = strdup(d);
		if (asprintf(&dir, "%s/layers/%s", s.path, d + 7) < 0)
			dir = NULL;
		img->lowerdirs[n - 1 - i] = dir;
		if (!img->layer_digests[i] || !dir) {
			rc = forge_err_set(err, -ENOMEM, "image %s: out of memory", ref);
			goto out;
		}
	}
	*out = img;
	img = NULL;
out:
	forge_image_free(img);
	json_decref(m);
	json_decref(config);
	img_store_close(&s);
	return rc;
}

/* ------------------------------------------------------------ list, inspect */

/* Sum of the sizes the manifest gives, plus the manifest's own. */
static json_int_t image_size(struct img_store *s, const char *digest, const json_t *m)
{
	json_int_t size = json_integer_value(json_object_get(json_object_get(m, "config"), "size"));
	struct stat st;
	size_t i;
	json_t *l;

	json_array_foreach(json_object_get(m, "layers"), i, l) size +=
	    json_integer_value(json_object_get(l, "size"));
	if (fstatat(s->blobs, digest + 7, &st, 0) == 0)
		size += st.st_size;
	return size;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int forge_image_list(const struct forge_paths *paths, json_t **out, struct forge_err *err)
{
	const char **keys = NULL, *k;
	json_t *index = NULL, *v, *m;
	struct img_store s;
	size_t n = 0;
	int rc;

	*out = json_array();
	if (!*out)
		return forge_err_set(err, -ENOMEM, "image list: out of memory");
	rc = img_store_open(paths, false, &s, err);
	if (rc == -ENOENT) {
		forge_err_clear(err);
		return 0;
	}
	if (rc < 0 || (rc = img_index_load(&s, &index, err)) < 0)
		goto out;
	keys = calloc(json_object_size(index) + 1, sizeof(*keys));
	if (!keys) {
		rc = forge_err_set(err, -ENOMEM, "image list: out of memory");
		goto out;
	}
	json_object_foreach(index, k, v) keys[n++] = k;
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (size_t i = 0; i < n; i++) {
		const char *digest = json_string_value(json_object_get(index, keys[i]));
		const char *colon = strrchr(keys[i], ':');
		rc = load_manifest(&s, digest, &m, err);
		if (rc < 0)
			goto out;
		json_array_append_new(
		    *out,
		    json_pack("{s:s%,s:s,s:s,s:I,s:I}", "name", keys[i], (size_t)(colon - keys[i]),
			      "tag", colon + 1, "digest", digest, "size", image_size(&s, digest, m),
			      "layers", (json_int_t)json_array_size(json_object_get(m, "layers"))));
		json_decref(m);
	}
out:
	free(keys);
	json_decref(index);
	img_store_close(&s);
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int forge_image_inspect(const struct forge_paths *paths, const char *ref, json_t **out,
			struct forge_err *err)
{
	json_t *index = NULL, *m = NULL, *config = NULL, *tags = NULL, *pins = NULL, *layers, *l,
	       *v;
	struct forge_image_ref r;
	char digest[FORGE_DIGEST_MAX], what[FORGE_DIGEST_MAX + 16];
	struct img_store s;
	const char *k;
	size_t i;
	int rc;

	*out = NULL;
	rc = open_for_ref(paths, ref, &r, &s, err);
	if (rc < 0)
		return rc;
	if ((rc = lookup(&s, ref, &r, digest, err)) < 0 ||
	    (rc = load_manifest(&s, digest, &m, err)) < 0 ||
	    (rc = img_index_load(&s, &index, err)) < 0 ||
	    (rc = pins_of(&s, digest, &pins, err)) < 0)
		goto out;
	snprintf(what, sizeof(what), "config %s", config_digest(m));
	rc = img_json_blob(s.blobs, config_digest(m) + 7, config_digest(m) + 7, what, &config, err);
	if (rc < 0)
		goto out;
	tags = json_array();
	layers = json_array();
	json_object_foreach(index, k, v) if (strcmp(json_string_value(v), digest) == 0)
	    json_array_append_new(tags, json_string(k));
	json_array_foreach(json_object_get(m, "layers"), i, l)
	{
		const char *d = json_string_value(json_object_get(l, "digest"));
		json_array_append_new(layers, json_pack("{s:s,s:O,s:s++}", "digest", d, "size",
							json_object_get(l, "size"), "dir", s.path,
							"/layers/", d + 7));
	}
	*out = json_pack("{s:s,s:s,s:O,s:O,s:I,s:O,s:O,s:o}", "ref", ref, "digest", digest, "tags",
			 tags, "pins", pins, "size", image_size(&s, digest, m), "manifest", m,
			 "config", config, "layers", layers);
	if (!*out)
		rc = forge_err_set(err, -ENOMEM, "inspect %s: out of memory", ref);
out:
	json_decref(tags);
	json_decref(pins);
	json_decref(index);
	json_decref(m);
	json_decref(config);
	img_store_close(&s);
	return rc;
}

/* ------------------------------------------------------------ rm, gc */

/* -EBUSY naming the scenarios when digest is pinned. */
static int refuse_pinned(struct img_store *s, const char *ref, const char *digest,
			 struct forge_err *err)
{
	json_t *pins;
	int rc = pins_of(s, digest, &pins, err);
	if (rc == 0 && json_array_size(pins) > 0)
		rc = forge_err_set(err, -EBUSY, "image %s (%s) is in use by scenario %s%s", ref,
				   digest, json_string_value(json_array_get(pins, 0)),
				   json_array_size(pins) > 1 ? " and others" : "");
	json_decref(pins);
	return rc;
}

int forge_image_remove(const struct forge_paths *paths, const char *ref, struct forge_err *err)
{
	struct forge_image_ref r;
	char digest[FORGE_DIGEST_MAX];
	struct img_store s;
	json_t *index = NULL, *v;
	const char *k;
	void *tmp;
	size_t removed = 0;
	int rc;

	rc = open_for_ref(paths, ref, &r, &s, err);
	if (rc < 0)
		return rc;
	if ((rc = img_store_lock(&s, err)) < 0 || (rc = lookup(&s, ref, &r, digest, err)) < 0 ||
	    (rc = refuse_pinned(&s, ref, digest, err)) < 0 ||
	    (rc = img_index_load(&s, &index, err)) < 0)
		goto out;
	size_t nlen = strlen(r.name);
	json_object_foreach_safe(index, tmp, k, v)
	{
		bool same_name = strncmp(k, r.name, nlen) == 0 && k[nlen] == ':';
		if (r.tag[0] ? strcmp(k, ref) == 0
			     : same_name && strcmp(json_string_value(v), digest) == 0) {
			json_object_del(index, k);
			removed++;
		}
	}
	if (removed == 0)
		rc = forge_err_set(err, -ENOENT, "image %s: no tag of %s names it", ref, r.name);
	else
		rc = img_index_save(&s, index, err);
out:
	json_decref(index);
	img_store_close(&s);
	return rc;
}

/* Marks what manifest digest reaches (itself, its config, its layers). */
static int mark(struct img_store *s, const char *digest, json_t *keep, struct forge_err *err)
{
	json_t *m;
	int rc = load_manifest(s, digest, &m, err);
	if (rc < 0)
		return rc;
	json_object_set_new(keep, digest + 7, json_true());
	json_object_set_new(keep, config_digest(m) + 7, json_true());
	for (size_t i = 0; i < json_array_size(json_object_get(m, "layers")); i++)
		json_object_set_new(keep, layer_digest(m, i) + 7, json_true());
	json_decref(m);
	return 0;
}

/* Every entry of dirfd (a directory of the store) not in keep goes, as
 * "<kind> sha256:<name>" in freed; is_tree: entries are layer trees. */
static int sweep(struct img_store *s, int dirfd, const char *kind, const json_t *keep,
		 json_t *freed, uint64_t *bytes, struct forge_err *err)
{
	struct dirent *de;
	struct stat st;
	int fd = dup(dirfd), rc = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return forge_err_errno(err, errno, "gc: %s: open %s", s->path, kind);
	}
	rewinddir(d);
	while ((de = readdir(d)) && rc == 0) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || json_object_get(keep, n))
			continue;
		if (strcmp(kind, "blob") == 0) {
			if (fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
				*bytes += (uint64_t)st.st_size;
			if (unlinkat(dirfd, n, 0) < 0)
				rc = forge_err_errno(err, errno, "gc: remove blob %s", n);
		} else {
			rc = forge_remove_tree(dirfd, n, err);
		}
		if (rc == 0)
			json_array_append_new(
			    freed,
			    json_sprintf("%s %s%s", kind, strcmp(kind, "tmp") ? "sha256:" : "", n));
	}
	closedir(d);
	return rc;
}

/* Staging dirs whose importer is gone (its flock released) are garbage. */
static int keep_live_staging(struct img_store *s, json_t *keep, struct forge_err *err)
{
	struct dirent *de;
	int fd = dup(s->tmp);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return forge_err_errno(err, errno, "gc: open %s/tmp", s->path);
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		int sfd =
		    openat(s->tmp, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0 || de->d_name[0] == '.')
			goto next;
		if (flock(sfd, LOCK_EX | LOCK_NB) < 0)
			json_object_set_new(keep, de->d_name, json_true());
	next:
		if (sfd >= 0)
			close(sfd);
	}
	closedir(d);
	return 0;
}

int forge_image_gc(const struct forge_paths *paths, json_t **freed, uint64_t *bytes,
		   struct forge_err *err)
{
	json_t *index = NULL, *keep = json_object(), *live = json_object(), *list = json_array();
	uint64_t nbytes = 0;
	struct img_store s;
	struct dirent *de;
	const char *k;
	json_t *v;
	DIR *d = NULL;
	int rc, fd;

	if (freed)
		*freed = NULL;
	if (bytes)
		*bytes = 0;
	if (!keep || !live || !list) {
		rc = forge_err_set(err, -ENOMEM, "gc: out of memory");
		goto out_mem;
	}
	rc = img_store_open(paths, false, &s, err);
	if (rc == -ENOENT) {
		forge_err_clear(err);
		rc = 0;
		goto done;
	}
	if (rc < 0)
		goto out_mem;
	if ((rc = img_store_lock(&s, err)) < 0 || (rc = img_index_load(&s, &index, err)) < 0)
		goto out;
	json_object_foreach(index, k,
			    v) if ((rc = mark(&s, json_string_value(v), keep, err)) < 0) goto out;
	/* Pinned images are kept whether tagged or not; empty pin dirs go. */
	fd = dup(s.refs);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		rc = forge_err_errno(err, errno, "gc: open %s/refs", s.path);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while ((de = readdir(d))) {
		char digest[FORGE_DIGEST_MAX];
		json_t *pins;
		snprintf(digest, sizeof(digest), "sha256:%.64s", de->d_name);
		if (strlen(de->d_name) != 64 || !forge_digest_is_valid(digest))
			continue;
		if ((rc = pins_of(&s, digest, &pins, err)) < 0)
			goto out;
		size_t n = json_array_size(pins);
		json_decref(pins);
		if (n == 0)
			unlinkat(s.refs, de->d_name, AT_REMOVEDIR);
		else if ((rc = mark(&s, digest, keep, err)) < 0)
			goto out;
	}
	if ((rc = keep_live_staging(&s, live, err)) < 0 ||
	    (rc = sweep(&s, s.blobs, "blob", keep, list, &nbytes, err)) < 0 ||
	    (rc = sweep(&s, s.layers, "layer", keep, list, &nbytes, err)) < 0 ||
	    (rc = sweep(&s, s.tmp, "tmp", live, list, &nbytes, err)) < 0)
		goto out;
out:
	if (d)
		closedir(d);
	img_store_close(&s);
done:
	if (rc == 0 && freed) {
		*freed = list;
		list = NULL;
	}
	if (rc == 0 && bytes)
		*bytes = nbytes;
out_mem:
	json_decref(index);
	json_decref(keep);
	json_decref(live);
	json_decref(list);
	return rc;
}
