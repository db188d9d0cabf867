/* SPDX-License-Identifier: Apache-2.0 */
/*
 * images/: import of OCI layouts, OCI archives and docker save tarballs, the
 * index, pins, rm and gc, and the hostile corpus: every archive below is built
 * here with libarchive, imported, and must be refused with its own message,
 * leaving nothing in the store and nothing outside it (a sentinel directory
 * next to the store is checked after each). No root needed (whiteouts, which
 * need it, are tested by tests/integration/images.test.sh).
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cmocka.h>

#include "common/common.h"
#include "images/images.h"

/* ------------------------------------------------------------ fixtures */

struct t {
	char dir[64];		  /* the test's temp dir */
	char layout[128];	  /* <dir>/layout: the OCI layout being imported */
	char sentinel[128];	  /* <dir>/sentinel: must never change */
	struct forge_paths paths; /* --root <dir>/root */
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void path_in(char out[128], const struct t *t, const char *rel)
{
	snprintf(out, 128, "%s/%s", t->dir, rel);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	char p[FORGE_PATH_MAX];
	struct forge_err err = {0};

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/forge-test-images.XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	path_in(t->layout, t, "layout");
	path_in(t->sentinel, t, "sentinel");
	path_in(p, t, "root");
	if (mkdir(t->sentinel, 0755) < 0 || mkdir(p, 0755) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/secret", t->sentinel);
	FILE *f = fopen(p, "w");
	if (!f || fputs("sentinel\n", f) < 0 || fclose(f) != 0)
		return -1;
	path_in(p, t, "root");
	if (forge_paths_init(&t->paths, p, "ftest", &err) < 0)
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

/* ------------------------------------------------------------ building archives */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static la_ssize_t buf_write(struct archive *a, void *data, const void *src, size_t n)
{
	struct buf *b = data;
	(void)a;
	if (b->len + n > b->cap) {
		size_t cap = (b->len + n) * 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
	return (la_ssize_t)n;
}

enum kind { F, D, L, H, C, Z, R, P };

struct entry {
	enum kind kind;
	const char *path;
	const char *data; /* file content; symlink or hardlink target */
	mode_t mode;
	size_t size; /* Z: that many zero bytes, R: that many incompressible ones */
};

/* A pax tar of entries, in memory. */
static struct buf tar_of(const struct entry *e, size_t n)
{
	struct buf b = {0};
	struct archive *a = archive_write_new();
	assert_non_null(a);
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open(a, &b, NULL, buf_write, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_mtime(ae, 1700000000, 0);
		archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0644);
		size_t size = 0;
		switch (e[i].kind) {
		case F:
			archive_entry_set_filetype(ae, AE_IFREG);
			size = strlen(e[i].data);
			break;
		case Z:
		case R:
			archive_entry_set_filetype(ae, AE_IFREG);
			size = e[i].size;
			break;
		case D:
			archive_entry_set_filetype(ae, AE_IFDIR);
			archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0755);
			break;
		case L:
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, e[i].data);
			break;
		case H:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, e[i].data);
			break;
		case C:
			archive_entry_set_filetype(ae, AE_IFCHR);
			archive_entry_set_rdevmajor(ae, 1);
			archive_entry_set_rdevminor(ae, 3);
			break;
		case P:
			archive_entry_set_filetype(ae, AE_IFIFO);
			break;
		}
		archive_entry_set_size(ae, (la_int64_t)size);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (e[i].kind == F)
			assert_int_equal(archive_write_data(a, e[i].data, size), (la_ssize_t)size);
		if (e[i].kind == Z || e[i].kind == R) {
			static unsigned char chunk[65536];
			uint32_t x = 2463534242u;
			for (size_t done = 0; done < size; done += sizeof(chunk)) {
				for (size_t k = 0; k < sizeof(chunk); k++) {
					x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift */
					chunk[k] = e[i].kind == R ? (unsigned char)x : 0;
				}
				archive_write_data(a, chunk,
						   size - done < sizeof(chunk) ? size - done
									       : sizeof(chunk));
			}
		}
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return b;
}

static struct buf zstd_of(const struct buf *in)
{
	struct buf b = {.cap = ZSTD_compressBound(in->len)};
	b.p = malloc(b.cap);
	assert_non_null(b.p);
	b.len = ZSTD_compress(b.p, b.cap, in->p, in->len, 3);
	assert_false(ZSTD_isError(b.len));
	return b;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char p[FORGE_PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Writes blob into <layout>/blobs/sha256/<its hex>; hex gets the digest hex. */
static void put_blob(const struct t *t, const void *data, size_t len, char hex[65])
{
	char dir[FORGE_PATH_MAX];
	forge_sha256_hex(data, len, hex);
	snprintf(dir, sizeof(dir), "%s/blobs/sha256", t->layout);
	write_file(dir, hex, data, len);
}

enum corrupt { OK, WRONG_DIGEST, TRUNCATED, WRONG_DIFF_ID };

/* An OCI layout at t->layout of one image with the given layers (each a tar,
 * stored zstd-compressed unless plain), index ref annotation ref. */
static void make_layout(const struct t *t, const struct buf *tars, size_t n, bool plain,
			const char *ref, enum corrupt how)
{
	char p[FORGE_PATH_MAX], hex[65], cfg_hex[65], man_hex[65], diff[65];
	json_t *diff_ids = json_array(), *layers = json_array();

	nftw(t->layout, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(p, sizeof(p), "%s/blobs/sha256", t->layout);
	assert_int_equal(mkdir(t->layout, 0755), 0);
	snprintf(p, sizeof(p), "%s/blobs", t->layout);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/blobs/sha256", t->layout);
	assert_int_equal(mkdir(p, 0755), 0);
	for (size_t i = 0; i < n; i++) {
		struct buf blob = plain ? tars[i] : zstd_of(&tars[i]);
		size_t len = how == TRUNCATED ? blob.len / 2 : blob.len;
		forge_sha256_hex(tars[i].p, tars[i].len, diff);
		if (how == WRONG_DIFF_ID)
			diff[0] = diff[0] == 'a' ? 'b' : 'a';
		json_array_append_new(diff_ids, json_sprintf("sha256:%s", diff));
		put_blob(t, blob.p, len, hex);
		if (how == WRONG_DIGEST) { /* content that is not what the descriptor names */
			blob.p[len - 1] ^= 0x55;
			snprintf(p, sizeof(p), "%s/blobs/sha256", t->layout);
			write_file(p, hex, blob.p, len);
		}
		json_array_append_new(
		    layers, json_pack("{s:s,s:s+,s:I}", "mediaType",
				      plain ? "application/vnd.oci.image.layer.v1.tar"
					    : "application/vnd.oci.image.layer.v1.tar+zstd",
				      "digest", "sha256:", hex, "size", (json_int_t)len));
		if (!plain)
			free(blob.p);
	}
	json_t *cfg = json_pack(
	    "{s:s,s:s,s:{s:[s,s],s:[s],s:s,s:{s:s}},s:{s:s,s:o}}", "architecture", "amd64", "os",
	    "linux", "config", "Env", "PATH=/bin", "GREETING=hello", "Cmd", "/bin/sh", "WorkingDir",
	    "/srv", "Labels", "lab", "unit", "rootfs", "type", "layers", "diff_ids", diff_ids);
	char *s = json_dumps(cfg, JSON_COMPACT);
	put_blob(t, s, strlen(s), cfg_hex);
	json_t *man =
	    json_pack("{s:i,s:s,s:{s:s,s:s+,s:I},s:o}", "schemaVersion", 2, "mediaType",
		      "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
		      "application/vnd.oci.image.config.v1+json", "digest", "sha256:", cfg_hex,
		      "size", (json_int_t)strlen(s), "layers", layers);
	free(s);
	s = json_dumps(man, JSON_COMPACT);
	put_blob(t, s, strlen(s), man_hex);
	json_t *index = json_pack(
	    "{s:i,s:[{s:s,s:s+,s:I,s:{s:s}}]}", "schemaVersion", 2, "manifests", "mediaType",
	    "application/vnd.oci.image.manifest.v1+json", "digest", "sha256:", man_hex, "size",
	    (json_int_t)strlen(s), "annotations", "org.opencontainers.image.ref.name", ref);
	free(s);
	s = json_dumps(index, JSON_COMPACT);
	write_file(t->layout, "index.json", s, strlen(s));
	free(s);
	write_file(t->layout, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	json_decref(cfg);
	json_decref(man);
	json_decref(index);
}

static void layout_of(const struct t *t, const struct entry *e, size_t n, const char *ref,
		      enum corrupt how)
{
	struct buf tar = tar_of(e, n);
	make_layout(t, &tar, 1, false, ref, how);
	free(tar.p);
}

/* Number of entries in <store>/<sub> (-1 when it does not exist). */
static int count_in(const struct t *t, const char *sub)
{
	char p[FORGE_PATH_MAX];
	struct dirent *de;
	int n = 0;
	if (snprintf(p, sizeof(p), "%s/images/%s", t->paths.lib, sub) >= (int)sizeof(p))
		return -1;
	DIR *d = opendir(p);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* The sentinel holds exactly its "secret", unchanged and not linked elsewhere. */
static void assert_sentinel_intact(const struct t *t)
{
	char p[FORGE_PATH_MAX], buf[64] = "";
	struct stat st;
	snprintf(p, sizeof(p), "%s/secret", t->sentinel);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_size, 9);
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "sentinel\n");
	DIR *d = opendir(t->sentinel);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		n++;
	closedir(d);
	assert_int_equal(n, 3);
}

static int import(const struct t *t, const char *path, const char *name, char digest[72],
		  struct forge_err *err)
{
	return forge_image_import(&t->paths, path, name, digest, err);
}

/* ------------------------------------------------------------ round trip */

static const struct entry good[] = {
    {D, "./", NULL, 0755, 0},
    {D, "etc", NULL, 0755, 0},
    {F, "etc/hostname", "forge\n", 0644, 0},
    {H, "etc/hostname2", "etc/hostname", 0, 0},
    {F, "bin/su", "#!/bin/sh\n", 04755, 0}, /* parent made implicitly */
    {L, "bin/sh", "/bin/busybox", 0777, 0},
    {L, "etc/rel", "../bin/su", 0777, 0},
    {D, "srv", NULL, 02775, 0},
    {P, "srv/fifo", NULL, 0600, 0},
    {F, "./srv//x", "x", 0600, 0},
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_import_roundtrip(void **state)
{
	struct t *t = *state;
	struct forge_err err = {0};
	struct forge_image *img = NULL;
	char digest[72], again[72], p[FORGE_PATH_MAX + 64], link[64];
	struct stat st, st2;
	json_t *list;

	layout_of(t, good, N(good), "unit/good:1", OK);
	if (import(t, t->layout, NULL, digest, &err) < 0)
		fail_msg("import: %s", err.msg);
	assert_true(forge_digest_is_valid(digest));
	/* The same input gives the same digest (zstd layers stored as they are). */
	assert_int_equal(import(t, t->layout, "unit/other:2", again, &err), 0);
	assert_string_equal(digest, again);

	assert_int_equal(forge_image_list(&t->paths, &list, &err), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
			    "unit/good");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "tag")),
			    "1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "name")),
			    "unit/other");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "digest")),
			    digest);
	json_decref(list);

	if (forge_image_resolve(&t->paths, "unit/good:1", &img, &err) < 0)
		fail_msg("resolve: %s", err.msg);
	assert_string_equal(img->digest, digest);
	assert_int_equal(img->n_layers, 1);
	assert_non_null(strstr(img->lowerdirs[0], "/images/layers/"));
	assert_string_equal(img->config.env[0], "PATH=/bin");
	assert_string_equal(img->config.env[1], "GREETING=hello");
	assert_null(img->config.env[2]);
	assert_string_equal(img->config.cmd[0], "/bin/sh");
	assert_null(img->config.entrypoint);
	assert_string_equal(img->config.working_dir, "/srv");
	assert_string_equal(json_string_value(json_object_get(img->config.labels, "lab")), "unit");

	/* What landed: contents, modes (setuid stripped), links. */
	snprintf(p, sizeof(p), "%s/etc/hostname", img->lowerdirs[0]);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_size, 6);
	assert_int_equal(st.st_mtime, 1700000000);
	snprintf(p, sizeof(p), "%s/etc/hostname2", img->lowerdirs[0]);
	assert_int_equal(stat(p, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	snprintf(p, sizeof(p), "%s/bin/su", img->lowerdirs[0]);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	snprintf(p, sizeof(p), "%s/bin/sh", img->lowerdirs[0]);
	assert_int_equal(readlink(p, link, sizeof(link)), 12);
	assert_memory_equal(link, "/bin/busybox", 12);
	snprintf(p, sizeof(p), "%s/srv", img->lowerdirs[0]);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 02775);
	snprintf(p, sizeof(p), "%s/srv/fifo", img->lowerdirs[0]);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	snprintf(p, sizeof(p), "%s/srv/x", img->lowerdirs[0]);
	assert_int_equal(stat(p, &st), 0);
	forge_image_free(img);

	/* By digest too, and inspect agrees. */
	snprintf(p, sizeof(p), "unit/good@%s", digest);
	assert_int_equal(forge_image_resolve(&t->paths, p, &img, &err), 0);
	forge_image_free(img);
	json_t *ins;
	assert_int_equal(forge_image_inspect(&t->paths, "unit/good:1", &ins, &err), 0);
	assert_string_equal(json_string_value(json_object_get(ins, "digest")), digest);
	assert_int_equal(json_array_size(json_object_get(ins, "tags")), 2);
	assert_string_equal(
	    json_string_value(json_object_get(
		json_object_get(json_object_get(ins, "config"), "config"), "WorkingDir")),
	    "/srv");
	json_decref(ins);
	assert_int_equal(count_in(t, "tmp"), 0);
	assert_sentinel_intact(t);
}

/* A plain tar layer is recompressed to zstd, the same way every time. */
static void test_import_plain_layer_deterministic(void **state)
{
	struct t *t = *state;
	struct forge_err err = {0};
	char d1[72], d2[72];
	json_t *ins;

	struct buf tar = tar_of(good, N(good));
	make_layout(t, &tar, 1, true, "plain", OK);
	if (import(t, t->layout, "unit/plain:1", d1, &err) < 0)
		fail_msg("import: %s", err.msg);
	nftw(t->paths.lib, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	assert_int_equal(import(t, t->layout, "unit/plain:1", d2, &err), 0);
	assert_string_equal(d1, d2);
	assert_int_equal(forge_image_inspect(&t->paths, "unit/plain:1", &ins, &err), 0);
	json_t *l = json_array_get(json_object_get(json_object_get(ins, "manifest"), "layers"), 0);
	assert_string_equal(json_string_value(json_object_get(l, "mediaType")),
			    "application/vnd.oci.image.layer.v1.tar+zstd");
	json_decref(ins);
	free(tar.p);
}

/* Without --name, a ref that is only a tag (as umoci writes) is refused. */
static void test_import_needs_a_name(void **state)
{
	struct t *t = *state;
	struct forge_err err = {0};
	char d[72];

	layout_of(t, good, N(good), "latest", OK);
	assert_int_equal(import(t, t->layout, NULL, d, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "pass --name"));
	assert_int_equal(import(t, t->layout, "Bad:Name", d, &err), -EINVAL);
	assert_int_equal(import(t, t->layout, "unit/named:latest", d, &err), 0);
}

/* ------------------------------------------------------------ index, pins, rm, gc */

static void test_pins_rm_gc(void **state)
{
	struct t *t = *state;
	struct forge_err err = {0};
	char d1[72], d2[72];
	json_t *freed;
	uint64_t bytes;

	layout_of(t, good, N(good), "x", OK);
	assert_int_equal(import(t, t->layout, "unit/a:1", d1, &err), 0);
	assert_int_equal(import(t, t->layout, "unit/a:2", d1, &err), 0);
	static const struct entry other[] = {{F, "only", "other\n", 0644, 0}};
	layout_of(t, other, 1, "x", OK);
	assert_int_equal(import(t, t->layout, "unit/b:1", d2, &err), 0);
	assert_int_equal(count_in(t, "layers"), 2);
	assert_int_equal(count_in(t, "blobs/sha256"), 6);

	/* Nothing unreferenced yet. */
	assert_int_equal(forge_image_gc(&t->paths, &freed, &bytes, &err), 0);
	assert_int_equal(json_array_size(freed), 0);
	json_decref(freed);

	/* A pinned image cannot be removed, and gc keeps it even untagged. */
	assert_int_equal(forge_image_pin(&t->paths, d2, "scn-42", &err), 0);
	assert_int_equal(forge_image_pin(&t->paths, d2, "scn-42", &err), 0);
	assert_int_equal(forge_image_remove(&t->paths, "unit/b:1", &err), -EBUSY);
	assert_non_null(strstr(err.msg, "in use by scenario scn-42"));
	assert_int_equal(forge_image_pin(&t->paths, d2, "../x", &err), -EINVAL);
	char unknown[72] = "sha256:";
	memset(unknown + 7, 'e', 64);
	unknown[71] = '\0';
	assert_int_equal(forge_image_pin(&t->paths, unknown, "scn-1", &err), -ENOENT);

	/* rm by tag keeps the other tag of the same image. */
	assert_int_equal(forge_image_remove(&t->paths, "unit/a:1", &err), 0);
	assert_int_equal(forge_image_remove(&t->paths, "unit/a:1", &err), -ENOENT);
	assert_int_equal(forge_image_gc(&t->paths, &freed, &bytes, &err), 0);
	assert_int_equal(json_array_size(freed), 0);
	json_decref(freed);

	/* rm by digest removes the name's tags naming it; gc then frees it. */
	char ref[128];
	snprintf(ref, sizeof(ref), "unit/a@%s", d1);
	assert_int_equal(forge_image_remove(&t->paths, ref, &err), 0);
	assert_int_equal(forge_image_gc(&t->paths, &freed, &bytes, &err), 0);
	assert_int_equal(json_array_size(freed), 4); /* manifest, config, layer blob, layer dir */
	assert_true(bytes > 0);
	json_decref(freed);
	assert_int_equal(count_in(t, "layers"), 1);

	/* Unpinned, the untagged image goes too. */
	assert_int_equal(forge_image_unpin(&t->paths, d2, "scn-42", &err), 0);
	assert_int_equal(forge_image_unpin(&t->paths, d2, "scn-42", &err), 0);
	assert_int_equal(forge_image_remove(&t->paths, "unit/b:1", &err), 0);
	assert_int_equal(forge_image_gc(&t->paths, &freed, NULL, &err), 0);
	assert_int_equal(json_array_size(freed), 4);
	json_decref(freed);
	assert_int_equal(count_in(t, "layers"), 0);
	assert_int_equal(count_in(t, "blobs/sha256"), 0);
	assert_int_equal(count_in(t, "refs"), 0);
	json_t *list;
	assert_int_equal(forge_image_list(&t->paths, &list, &err), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

/* gc removes staging an importer left behind, never a live one (flock'd). */
static void test_gc_staging(void **state)
{
	struct t *t = *state;
	struct forge_err err = {0};
	char p[FORGE_PATH_MAX + 64], d[72];
	json_t *freed;

	layout_of(t, good, N(good), "x", OK);
	assert_int_equal(import(t, t->layout, "unit/a:1", d, &err), 0);
	snprintf(p, sizeof(p), "%s/images/tmp/imp-dead", t->paths.lib);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/images/tmp/imp-live", t->paths.lib);
	assert_int_equal(mkdir(p, 0700), 0);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(forge_image_gc(&t->paths, &freed, NULL, &err), 0);
	assert_int_equal(json_array_size(freed), 1);
	assert_string_equal(json_string_value(json_array_get(freed, 0)), "tmp imp-dead");
	json_decref(freed);
	close(fd);
	assert_int_equal(count_in(t, "tmp"), 1);
}

/* ------------------------------------------------------------ docker save, OCI archive */

/* A tar file at path of in-memory members (name, data). */
static void write_tar_file(const char *path, const char *const *names, const struct buf *data,
			   size_t n)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)data[i].len);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, data[i].p, data[i].len),
				 (la_ssize_t)data[i].len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void test_import_docker_save(void **state)
{
	struct t *t = *state;
	struct forge_err err = {0};
	struct forge_image *img;
	char tarpath[FORGE_PATH_MAX], diff[65], cfg_hex[65], cfg_name[80], d[72];

	struct buf layer = tar_of(good, N(good));
	forge_sha256_hex(layer.p, layer.len, diff);
	char *cfg = NULL;
	assert_true(
	    asprintf(&cfg,
		     "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":"
		     "[\"/bin/sh\",\"-c\"],\"Cmd\":[\"echo hi\"]},\"rootfs\":{\"type\":"
		     "\"layers\",\"diff_ids\":[\"sha256:%s\"]}}",
		     diff) > 0);
	forge_sha256_hex(cfg, strlen(cfg), cfg_hex);
	snprintf(cfg_name, sizeof(cfg_name), "%s.json", cfg_hex);
	char *manifest = NULL;
	assert_true(asprintf(&manifest,
			     "[{\"Config\":\"%s\",\"RepoTags\":[\"unit/docker:1\"],\"Layers\":["
			     "\"0123abcd/layer.tar\"]}]",
			     cfg_name) > 0);
	const char *names[] = {"manifest.json", cfg_name, "0123abcd/layer.tar"};
	struct buf data[] = {{(unsigned char *)manifest, strlen(manifest), 0},
			     {(unsigned char *)cfg, strlen(cfg), 0},
			     layer};
	path_in(tarpath, t, "docker.tar");
	write_tar_file(tarpath, names, data, 3);
	if (import(t, tarpath, NULL, d, &err) < 0)
		fail_msg("docker save import: %s", err.msg);
	assert_int_equal(forge_image_resolve(&t->paths, "unit/docker:1", &img, &err), 0);
	assert_string_equal(img->config.entrypoint[1], "-c");
	assert_string_equal(img->config.cmd[0], "echo hi");
	forge_image_free(img);
	assert_int_equal(count_in(t, "tmp"), 0);

	/* A config whose name is its digest must match it. */
	cfg[1] = ' ';
	write_tar_file(tarpath, names, data, 3);
	assert_int_equal(import(t, tarpath, NULL, d, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "config: digest mismatch"));
	free(cfg);
	free(manifest);
	free(layer.p);
}

static void read_whole(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(forge_read_fd(fd, path, (char **)&b->p, &b->len, 1 << 20, NULL), 0);
	close(fd);
}

/* An OCI layout as a tar (like `skopeo copy oci-archive:`), named by its ref annotation. */
static void test_import_oci_archive(void **state)
{
	struct t *t = *state;
	struct forge_err err = {0};
	char tarpath[FORGE_PATH_MAX], d[72], d2[72];
	const char *names[8];
	struct buf data[8];
	size_t n = 0;

	layout_of(t, good, N(good), "unit/arch:2", OK);
	assert_int_equal(import(t, t->layout, NULL, d, &err), 0);
	/* The layout's files, read back into members of one archive. */
	const char *files[] = {"oci-layout", "index.json"};
	for (size_t i = 0; i < 2; i++) {
		char p[FORGE_PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", t->layout, files[i]);
		names[n] = files[i];
		read_whole(p, &data[n]);
		n++;
	}
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/blobs/sha256", t->layout);
	DIR *dp = opendir(dir);
	struct dirent *de;
	static char blob_names[6][80];
	while ((de = readdir(dp)))
		if (de->d_name[0] != '.') {
			char p[256];
			snprintf(blob_names[n - 2], sizeof(blob_names[0]), "blobs/sha256/%.64s",
				 de->d_name);
			snprintf(p, sizeof(p), "%s/%.64s", dir, de->d_name);
			read_whole(p, &data[n]);
			names[n] = blob_names[n - 2];
			n++;
		}
	closedir(dp);
	path_in(tarpath, t, "oci.tar");
	write_tar_file(tarpath, names, data, n);
	if (import(t, tarpath, NULL, d2, &err) < 0)
		fail_msg("oci archive import: %s", err.msg);
	assert_string_equal(d, d2);
	json_t *list;
	assert_int_equal(forge_image_list(&t->paths, &list, &err), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
			    "unit/arch");
	json_decref(list);
	for (size_t i = 0; i < n; i++)
		free(data[i].p);
}

/* ------------------------------------------------------------ the hostile corpus */

struct hostile {
	const char *name;
	struct entry e[4];
	size_t n;
	enum corrupt how;
	struct forge_image_limits lim; /* zero: the defaults */
	const char *want;	       /* the refusal names this */
};

static void test_hostile_corpus(void **state)
{
	struct t *t = *state;
	char abs_target[FORGE_PATH_MAX], abs_file[FORGE_PATH_MAX], up[FORGE_PATH_MAX];

	snprintf(abs_target, sizeof(abs_target), "%s", t->sentinel);
	snprintf(abs_file, sizeof(abs_file), "%s/pwned", t->sentinel);
	snprintf(up, sizeof(up), "../../../../../../../../../../..%s/secret", t->sentinel);
	const struct hostile corpus[] = {
	    {"path traversal",
	     {{F, "../../../../../../../../../../../tmp/pwned", "x", 0644, 0}},
	     1,
	     OK,
	     {0},
	     "entry ../../../../../../../../../../../tmp/pwned: \"..\" in the path"},
	    {"traversal in the middle",
	     {{D, "a", NULL, 0755, 0}, {F, "a/../../pwned", "x", 0644, 0}},
	     2,
	     OK,
	     {0},
	     "\"..\" in the path leads outside the layer"},
	    {"absolute path", {{F, abs_file, "x", 0644, 0}}, 1, OK, {0}, "absolute path refused"},
	    {"symlink, then a file through it",
	     {{L, "evil", abs_target, 0777, 0}, {F, "evil/pwned", "x", 0644, 0}},
	     2,
	     OK,
	     {0},
	     "entry evil/pwned: path goes through a symlink"},
	    {"relative symlink climbing out",
	     {{D, "d", NULL, 0755, 0}, {L, "d/up", "../../../../sentinel", 0777, 0}},
	     2,
	     OK,
	     {0},
	     "symlink target \"../../../../sentinel\" leads outside the layer"},
	    {"hardlink escape",
	     {{H, "hl", up, 0, 0}},
	     1,
	     OK,
	     {0},
	     "entry hl: \"..\" in the hardlink target"},
	    {"hardlink to an absolute path",
	     {{H, "hl", abs_file, 0, 0}},
	     1,
	     OK,
	     {0},
	     "leads outside the layer"},
	    {"hardlink through a symlink",
	     {{L, "evil", abs_target, 0777, 0}, {H, "hl", "evil/secret", 0, 0}},
	     2,
	     OK,
	     {0},
	     "hardlink target \"evil/secret\" goes through a symlink"},
	    {"device node",
	     {{C, "dev/null", NULL, 0666, 0}},
	     1,
	     OK,
	     {0},
	     "entry dev/null: device node (character 1:3) refused"},
	    {"zip bomb (expansion ratio)",
	     {{Z, "zeros", NULL, 0644, 8u << 20}},
	     1,
	     OK,
	     {1000, 1ull << 40, 20, 1u << 20},
	     "entry zeros: expands beyond 20x"},
	    {"too large",
	     {{Z, "big", NULL, 0644, 4096}},
	     1,
	     OK,
	     {1000, 2048, 1000, 1u << 30},
	     "entry big: layer larger than 2048 bytes"},
	    {"too many entries",
	     {{F, "a", "1", 0644, 0}, {F, "b", "2", 0644, 0}, {F, "c", "3", 0644, 0}},
	     3,
	     OK,
	     {2, 1ull << 30, 100, 1u << 30},
	     "entry c: more than 2 entries"},
	    {"truncated archive",
	     {{R, "data", NULL, 0644, 1u << 20}, {F, "after", "x", 0644, 0}},
	     2,
	     TRUNCATED,
	     {0},
	     "truncated or damaged archive"},
	    {"wrong digest",
	     {{F, "f", "content", 0644, 0}},
	     1,
	     WRONG_DIGEST,
	     {0},
	     "digest mismatch (content is sha256:"},
	    {"wrong diff_id",
	     {{F, "f", "content", 0644, 0}},
	     1,
	     WRONG_DIFF_ID,
	     {0},
	     "diff_id mismatch"},
	};

	for (size_t i = 0; i < N(corpus); i++) {
		const struct hostile *h = &corpus[i];
		struct forge_image_limits lim;
		struct forge_err err = {0};
		char d[72];

		forge_image_limits_default(&lim);
		if (h->lim.max_entries)
			lim = h->lim;
		layout_of(t, h->e, h->n, "x", h->how);
		int rc = forge_image_import_limits(&t->paths, t->layout, "unit/hostile:1", &lim, d,
						   &err);
		if (rc >= 0 || !strstr(err.msg, h->want))
			fail_msg("%s: rc %d, message \"%s\" (wanted \"%s\")", h->name, rc, err.msg,
				 h->want);
		assert_string_equal(d, "");
		/* Nothing committed, nothing staged, nothing outside. */
		assert_int_equal(count_in(t, "blobs/sha256"), 0);
		assert_int_equal(count_in(t, "layers"), 0);
		assert_int_equal(count_in(t, "tmp"), 0);
		char p[FORGE_PATH_MAX + 32];
		snprintf(p, sizeof(p), "%s/images/index.json", t->paths.lib);
		assert_int_equal(access(p, F_OK), -1);
		assert_int_equal(access("/tmp/pwned", F_OK), -1);
		assert_sentinel_intact(t);
	}
}

/* A hostile outer archive (the tar an OCI layout or docker save comes in) is
 * confined the same way. */
static void test_hostile_outer_archive(void **state)
{
	struct t *t = *state;
	struct forge_err err = {0};
	char tarpath[FORGE_PATH_MAX], d[72];
	static const struct entry outer[] = {
	    {L, "blobs", "/etc", 0777, 0},
	    {F, "index.json", "{}", 0644, 0},
	};

	struct buf tar = tar_of(outer, N(outer));
	path_in(tarpath, t, "outer.tar");
	write_file(t->dir, "outer.tar", tar.p, tar.len);
	free(tar.p);
	assert_int_equal(import(t, tarpath, "unit/o:1", d, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "entry blobs: symlink target \"/etc\" leads outside"));
	assert_int_equal(count_in(t, "tmp"), 0);

	/* A FIFO where index.json should be would hang whoever reads it. */
	static const struct entry fifo[] = {{P, "index.json", NULL, 0644, 0}};
	tar = tar_of(fifo, N(fifo));
	write_file(t->dir, "outer.tar", tar.p, tar.len);
	free(tar.p);
	assert_int_equal(import(t, tarpath, "unit/o:1", d, &err), -EPERM);
	assert_non_null(strstr(err.msg, "entry index.json: file type"));
	/* Nor does one in a layout directory. */
	layout_of(t, good, N(good), "x", OK);
	char p[FORGE_PATH_MAX];
	snprintf(p, sizeof(p), "%s/index.json", t->layout);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(import(t, t->layout, "unit/o:1", d, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "index.json: not a regular file"));
	assert_int_equal(count_in(t, "tmp"), 0);
	assert_sentinel_intact(t);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_import_roundtrip),
	    T(test_import_plain_layer_deterministic),
	    T(test_import_needs_a_name),
	    T(test_pins_rm_gc),
	    T(test_gc_staging),
	    T(test_import_docker_save),
	    T(test_import_oci_archive),
	    T(test_hostile_corpus),
	    T(test_hostile_outer_archive),
	};
	if (forge_crypto_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
