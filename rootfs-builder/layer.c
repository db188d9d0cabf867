/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rootfs-builder/layer.c — a layer as a tree in memory and its reproducible
 * tar.zst form.
 *
 * The tree is an array of entries indexed by a hash of their normalised
 * paths; file data goes to an unlinked spool file, so memory holds metadata
 * only. Nothing touches the host's file system below a path of the layer:
 * the tree is only ever written out as a tar stream.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>
#include <zstd.h>

#include "rootfs-builder/internal.h"

#define CHUNK (128u << 10)

enum ent_type { ENT_DIR, ENT_FILE, ENT_SYMLINK };

struct entry {
	char *path;   /* normalised, relative, never empty */
	char *target; /* symlinks */
	uint64_t off; /* files: data at off in the spool */
	uint64_t size;
	uint32_t ino; /* files with one ino are hard links of each other */
	mode_t mode;  /* permission bits only */
	enum ent_type type;
};

struct forge_layer {
	int spool;
	uint64_t spool_end;
	struct entry *ents;
	size_t n, cap;
	size_t *slots; /* open addressing: entry index + 1, 0 when free */
	size_t n_slots;
	uint32_t n_inos;
};

/* ------------------------------------------------------------ paths */

int bld_norm_path(const char *p, char out[FORGE_PATH_MAX], struct forge_err *err)
{
	size_t n = 0;

	for (const char *c = p; *c;) {
		size_t len = strcspn(c, "/");

		if (len == 2 && c[0] == '.' && c[1] == '.')
			return forge_err_set(err, -EINVAL, "%s: \"..\" is not allowed", p);
		if (len > 255)
			return forge_err_set(err, -ENAMETOOLONG, "%s: a component is too long", p);
		if (len && !(len == 1 && c[0] == '.')) {
			if (n + !!n + len >= FORGE_PATH_MAX)
				return forge_err_set(err, -ENAMETOOLONG, "%.64s...: path too long",
						     p);
			if (n)
				out[n++] = '/';
			memcpy(out + n, c, len);
			n += len;
		}
		c += len;
		while (*c == '/')
			c++;
	}
	out[n] = '\0';
	return (int)n;
}

void bld_utf8_begin(struct bld_utf8 *u)
{
	u->old = (locale_t)0;
	u->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (u->utf8)
		u->old = uselocale(u->utf8);
}

void bld_utf8_end(struct bld_utf8 *u)
{
	if (!u->utf8)
		return;
	uselocale(u->old);
	freelocale(u->utf8);
	u->utf8 = (locale_t)0;
}

/* ------------------------------------------------------------ the tree */

static uint64_t path_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The slot of path: holding its entry, or the free slot it would take. */
static size_t *slot_of(const struct forge_layer *l, const char *path)
{
	size_t i = (size_t)path_hash(path) & (l->n_slots - 1);

	while (l->slots[i] && strcmp(l->ents[l->slots[i] - 1].path, path) != 0)
		i = (i + 1) & (l->n_slots - 1);
	return &l->slots[i];
}

static struct entry *lookup(const struct forge_layer *l, const char *path)
{
	size_t *slot = l->n_slots ? slot_of(l, path) : NULL;

	return slot && *slot ? &l->ents[*slot - 1] : NULL;
}

static int grow(struct forge_layer *l, struct forge_err *err)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct entry *e = reallocarray(l->ents, cap, sizeof(*e));

		if (!e)
			return forge_err_set(err, -ENOMEM, "layer: out of memory");
		l->ents = e;
		l->cap = cap;
	}
	if ((l->n + 1) * 2 > l->n_slots) {
		size_t n_slots = l->n_slots ? l->n_slots * 2 : 1024;
		size_t *slots = calloc(n_slots, sizeof(*slots)), *old = l->slots;

		if (!slots)
			return forge_err_set(err, -ENOMEM, "layer: out of memory");
		l->slots = slots;
		l->n_slots = n_slots;
		for (size_t i = 0; i < l->n; i++)
			*slot_of(l, l->ents[i].path) = i + 1;
		free(old);
	}
	return 0;
}

/* Makes sure every parent of path is a directory, adding missing ones. */
static int parents(struct forge_layer *l, char *path, struct forge_err *err);

/* Inserts or replaces the entry at path (normalised, non-empty) with e,
 * whose strings it takes over (freed on failure). */
static int put(struct forge_layer *l, char *path, struct entry *e, struct forge_err *err)
{
	struct entry *old;
	int rc;

	e->path = NULL;
	rc = parents(l, path, err);
	if (rc < 0)
		goto fail;
	old = lookup(l, path);
	if (old) {
		if (old->type == ENT_DIR && e->type != ENT_DIR) {
			rc = forge_err_set(err, -EISDIR,
					   "%s: is a directory, cannot be replaced by a %s", path,
					   e->type == ENT_FILE ? "file" : "symlink");
			goto fail;
		}
		char *np = strdup(path);

		if (!np) {
			rc = forge_err_set(err, -ENOMEM, "layer: out of memory");
			goto fail;
		}
		free(old->path);
		free(old->target);
		*old = *e;
		old->path = np;
		return 0;
	}
	if (l->n >= FORGE_LAYER_MAX_ENTRIES) {
		rc = forge_err_set(err, -EFBIG, "%s: more than %u entries in the layer", path,
				   FORGE_LAYER_MAX_ENTRIES);
		goto fail;
	}
	rc = grow(l, err);
	if (rc < 0)
		goto fail;
	e->path = strdup(path);
	if (!e->path) {
		rc = forge_err_set(err, -ENOMEM, "layer: out of memory");
		goto fail;
	}
	l->ents[l->n] = *e;
	*slot_of(l, path) = ++l->n;
	return 0;
fail:
	free(e->target);
	return rc;
}

static int parents(struct forge_layer *l, char *path, struct forge_err *err)
{
	for (char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
		struct entry *p, dir = {.type = ENT_DIR, .mode = 0755};
		int rc = 0;

		*slash = '\0';
		p = lookup(l, path);
		if (!p)
			rc = put(l, path, &dir, err);
		*slash = '/';
		if (p && p->type != ENT_DIR)
			rc = forge_err_set(
			    err, -ENOTDIR, "%s: parent %.*s is a %s, not a directory", path,
			    (int)(slash - path), path, p->type == ENT_FILE ? "file" : "symlink");
		if (rc < 0)
			return rc;
	}
	return 0;
}

int forge_layer_new(const char *tmp_dir, struct forge_layer **out, struct forge_err *err)
{
	struct forge_layer *l;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return forge_err_set(err, -ENOMEM, "layer: out of memory");
	l->spool = open(tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (l->spool < 0) {
		int rc = forge_err_errno(err, errno, "layer: spool file in %s", tmp_dir);

		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void forge_layer_free(struct forge_layer *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->ents[i].path);
		free(l->ents[i].target);
	}
	free(l->ents);
	free(l->slots);
	if (l->spool >= 0)
		close(l->spool);
	free(l);
}

size_t forge_layer_count(const struct forge_layer *l)
{
	return l->n;
}

/* Normalises path into buf; the root itself is refused for all but dirs. */
static int entry_path(const char *path, char buf[FORGE_PATH_MAX], bool root_ok,
		      struct forge_err *err)
{
	int n = bld_norm_path(path, buf, err);
	const char *base;

	if (n < 0)
		return n;
	if (n == 0 && !root_ok)
		return forge_err_set(err, -EINVAL, "\"%s\": names the layer's root", path);
	/* The unpacker turns ".wh." names into whiteouts: a file of that name
	 * would delete something of a lower layer instead. */
	base = strrchr(buf, '/');
	if (n > 0 && strncmp(base ? base + 1 : buf, ".wh.", 4) == 0)
		return forge_err_set(err, -EINVAL, "%s: a \".wh.\" name is a whiteout, refused",
				     buf);
	return n;
}

int forge_layer_add_dir(struct forge_layer *l, const char *path, mode_t mode, struct forge_err *err)
{
	char p[FORGE_PATH_MAX];
	struct entry e = {.type = ENT_DIR, .mode = mode & 07777}, *old;
	int n = entry_path(path, p, true, err);

	if (n <= 0)
		return n; /* the root is the unpacker's: its mode is not the layer's */
	old = lookup(l, p);
	if (old && old->type == ENT_DIR) {
		old->mode = e.mode;
		return 0;
	}
	return put(l, p, &e, err);
}

/* Appends len bytes to the spool. */
static int spool_write(struct forge_layer *l, const void *buf, size_t len, struct forge_err *err)
{
	const char *p = buf;

	while (len) {
		ssize_t w = pwrite(l->spool, p, len, (off_t)l->spool_end);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return forge_err_errno(err, w < 0 ? errno : EIO, "layer: write spool");
		p += w;
		len -= (size_t)w;
		l->spool_end += (uint64_t)w;
	}
	return 0;
}

struct mem_reader {
	const char *p;
	size_t left;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len, struct forge_err *err)
{
	struct mem_reader *m = ctx;
	size_t n = len < m->left ? len : m->left;

	(void)err;
	memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (ssize_t)n;
}

int forge_layer_add_file(struct forge_layer *l, const char *path, mode_t mode, const void *data,
			 size_t len, struct forge_err *err)
{
	struct mem_reader m = {.p = data, .left = len};

	return forge_layer_add_file_from(l, path, mode, len, mem_read, &m, err);
}

int forge_layer_add_file_from(struct forge_layer *l, const char *path, mode_t mode, uint64_t size,
			      forge_layer_read_fn read_cb, void *ctx, struct forge_err *err)
{
	struct entry e = {.type = ENT_FILE, .mode = mode & 07777};
	char p[FORGE_PATH_MAX], *buf = NULL;
	uint64_t got = 0;
	struct entry *old;
	int rc = entry_path(path, p, false, err);

	if (rc < 0)
		return rc;
	/* Refused before any data is spooled. */
	old = lookup(l, p);
	if (old && old->type == ENT_DIR)
		return forge_err_set(err, -EISDIR,
				     "%s: is a directory, cannot be replaced by a file", p);
	if (size > FORGE_LAYER_MAX_BYTES - l->spool_end)
		return forge_err_set(err, -EFBIG, "%s: the layer would hold more than %llu bytes",
				     p, (unsigned long long)FORGE_LAYER_MAX_BYTES);
	buf = malloc(CHUNK);
	if (!buf)
		return forge_err_set(err, -ENOMEM, "layer: out of memory");
	e.off = l->spool_end;
	e.size = size;
	for (;;) {
		ssize_t n = read_cb(ctx, buf, CHUNK, err);

		if (n < 0) {
			rc = (int)n;
			goto out;
		}
		if (n == 0)
			break;
		if ((uint64_t)n > size - got) {
			rc = forge_err_set(err, -EINVAL, "%s: more data than its size of %llu", p,
					   (unsigned long long)size);
			goto out;
		}
		rc = spool_write(l, buf, (size_t)n, err);
		if (rc < 0)
			goto out;
		got += (uint64_t)n;
	}
	if (got != size) {
		rc = forge_err_set(err, -EINVAL, "%s: truncated (%llu of %llu bytes)", p,
				   (unsigned long long)got, (unsigned long long)size);
		goto out;
	}
	e.ino = l->n_inos++;
	rc = put(l, p, &e, err);
out:
	free(buf);
	return rc;
}

/* Whether the relative target, resolved from the directory holding path,
 * goes above the layer's root (the unpacker refuses such links). */
static bool climbs_out(const char *path, const char *target)
{
	long depth = 0;

	for (const char *s = path; (s = strchr(s, '/')); s++)
		depth++;
	for (const char *s = target; *s;) {
		size_t n = strcspn(s, "/");

		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (--depth < 0)
				return true;
		} else if (n && !(n == 1 && s[0] == '.')) {
			depth++;
		}
		s += n;
		while (*s == '/')
			s++;
	}
	return false;
}

int forge_layer_add_symlink(struct forge_layer *l, const char *path, const char *target,
			    struct forge_err *err)
{
	struct entry e = {.type = ENT_SYMLINK, .mode = 0777};
	char p[FORGE_PATH_MAX];
	int rc = entry_path(path, p, false, err);

	if (rc < 0)
		return rc;
	if (!*target || strlen(target) >= FORGE_PATH_MAX)
		return forge_err_set(err, -EINVAL, "%s: symlink target empty or too long", p);
	if (target[0] != '/' && climbs_out(p, target))
		return forge_err_set(
		    err, -EINVAL, "%s: symlink target \"%.200s\" climbs above the root", p, target);
	e.target = strdup(target);
	if (!e.target)
		return forge_err_set(err, -ENOMEM, "layer: out of memory");
	return put(l, p, &e, err);
}

int forge_layer_add_hardlink(struct forge_layer *l, const char *path, const char *target,
			     struct forge_err *err)
{
	char p[FORGE_PATH_MAX], t[FORGE_PATH_MAX];
	struct entry e, *te;
	int rc = entry_path(path, p, false, err);

	if (rc < 0)
		return rc;
	rc = entry_path(target, t, false, err);
	if (rc < 0) {
		forge_err_prefix(err, "%s: hard link target", p);
		return rc;
	}
	te = lookup(l, t);
	if (!te || te->type != ENT_FILE)
		return forge_err_set(err, -ENOENT,
				     "%s: hard link to %s, which is not a file of the layer", p, t);
	if (strcmp(p, t) == 0)
		return 0;
	e = *te;
	e.target = NULL;
	return put(l, p, &e, err);
}

int forge_layer_read_file(struct forge_layer *l, const char *path, char **out, size_t *len,
			  size_t max, struct forge_err *err)
{
	char p[FORGE_PATH_MAX], *buf;
	struct entry *e;
	int rc = entry_path(path, p, false, err);

	*out = NULL;
	if (rc < 0)
		return rc;
	e = lookup(l, p);
	if (!e || e->type != ENT_FILE)
		return -ENOENT;
	if (e->size > max)
		return forge_err_set(err, -EFBIG, "%s: more than %zu bytes", p, max);
	buf = malloc((size_t)e->size + 1);
	if (!buf)
		return forge_err_set(err, -ENOMEM, "layer: out of memory");
	for (size_t done = 0; done < e->size;) {
		ssize_t n =
		    pread(l->spool, buf + done, (size_t)e->size - done, (off_t)(e->off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return forge_err_errno(err, n < 0 ? errno : EIO, "%s: read spool", p);
		}
		done += (size_t)n;
	}
	buf[e->size] = '\0';
	*out = buf;
	*len = (size_t)e->size;
	return 0;
}

/* ------------------------------------------------------------ tar.zst */

/* Where libarchive's tar stream goes: hashed, compressed, hashed, written. */
struct sink {
	int fd;
	ZSTD_CCtx *zc;
	crypto_hash_sha256_state tar_sha, zst_sha;
	uint64_t tar_size, zst_size;
	char *zbuf;
	size_t zbuf_size;
	struct forge_err *err;
	int rc;
};

static int sink_out(struct sink *s, const void *buf, size_t len)
{
	const char *p = buf;

	crypto_hash_sha256_update(&s->zst_sha, buf, len);
	s->zst_size += len;
	while (len) {
		ssize_t w = write(s->fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return forge_err_errno(s->err, w < 0 ? errno : EIO, "layer: write blob");
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Feeds in to zstd (mode ZSTD_e_continue or ZSTD_e_end) and writes what comes out. */
static int sink_compress(struct sink *s, const void *buf, size_t len, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {buf, len, 0};
	size_t left;

	do {
		ZSTD_outBuffer out = {s->zbuf, s->zbuf_size, 0};
		int rc;

		left = ZSTD_compressStream2(s->zc, &out, &in, mode);
		if (ZSTD_isError(left))
			return forge_err_set(s->err, -EIO, "layer: zstd: %s",
					     ZSTD_getErrorName(left));
		rc = sink_out(s, s->zbuf, out.pos);
		if (rc < 0)
			return rc;
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

static la_ssize_t sink_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;

	(void)a;
	crypto_hash_sha256_update(&s->tar_sha, buf, len);
	s->tar_size += len;
	s->rc = sink_compress(s, buf, len, ZSTD_e_continue);
	return s->rc < 0 ? -1 : (la_ssize_t)len;
}

static int by_path(const void *a, const void *b)
{
	return strcmp((*(struct entry *const *)a)->path, (*(struct entry *const *)b)->path);
}

static int tar_fail(struct sink *s, struct archive *a, const char *path)
{
	if (s->rc < 0)
		return s->rc;
	return forge_err_set(s->err, -EIO, "layer: tar %s: %s", path ? path : "",
			     archive_error_string(a) ? archive_error_string(a) : "failed");
}

/* Copies e's data from the spool into the archive. */
static int tar_data(struct forge_layer *l, struct archive *a, struct sink *s, const struct entry *e,
		    char *buf)
{
	for (uint64_t done = 0; done < e->size;) {
		size_t want = e->size - done < CHUNK ? (size_t)(e->size - done) : CHUNK;
		ssize_t n = pread(l->spool, buf, want, (off_t)(e->off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return forge_err_errno(s->err, n < 0 ? errno : EIO, "%s: read spool",
					       e->path);
		if (archive_write_data(a, buf, (size_t)n) != n)
			return tar_fail(s, a, e->path);
		done += (uint64_t)n;
	}
	return 0;
}

static int tar_entries(struct forge_layer *l, struct archive *a, struct sink *s)
{
	struct entry **sorted = calloc(l->n + 1, sizeof(*sorted));
	const char **first = calloc(l->n_inos + 1, sizeof(*first)); /* ino -> first path */
	struct archive_entry *ae = archive_entry_new();
	char *buf = malloc(CHUNK);
	int rc = 0;

	if (!sorted || !first || !ae || !buf) {
		rc = forge_err_set(s->err, -ENOMEM, "layer: out of memory");
		goto out;
	}
	for (size_t i = 0; i < l->n; i++)
		sorted[i] = &l->ents[i];
	qsort(sorted, l->n, sizeof(*sorted), by_path);
	for (size_t i = 0; i < l->n && rc == 0; i++) {
		const struct entry *e = sorted[i];
		bool data = false;

		archive_entry_clear(ae);
		archive_entry_set_pathname(ae, e->path);
		archive_entry_set_uid(ae, 0);
		archive_entry_set_gid(ae, 0);
		archive_entry_set_mtime(ae, 0, 0);
		archive_entry_set_perm(ae, e->mode);
		switch (e->type) {
		case ENT_DIR:
			archive_entry_set_filetype(ae, AE_IFDIR);
			break;
		case ENT_SYMLINK:
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, e->target);
			break;
		case ENT_FILE:
			archive_entry_set_filetype(ae, AE_IFREG);
			if (first[e->ino]) {
				archive_entry_set_hardlink(ae, first[e->ino]);
			} else {
				first[e->ino] = e->path;
				archive_entry_set_size(ae, (la_int64_t)e->size);
				data = true;
			}
			break;
		}
		if (archive_write_header(a, ae) != ARCHIVE_OK)
			rc = tar_fail(s, a, e->path);
		else if (data)
			rc = tar_data(l, a, s, e, buf);
	}
out:
	archive_entry_free(ae);
	free(buf);
	free(first);
	free(sorted);
	return rc;
}

static void digest_hex(crypto_hash_sha256_state *st, char out[FORGE_DIGEST_MAX])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[65];

	crypto_hash_sha256_final(st, h);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, FORGE_DIGEST_MAX, "sha256:%s", hex);
}

int forge_layer_write(struct forge_layer *l, int fd, struct forge_layer_digest *d,
		      struct forge_err *err)
{
	struct sink s = {.fd = fd, .err = err};
	struct archive *a = NULL;
	struct bld_utf8 u;
	int rc;

	memset(d, 0, sizeof(*d));
	if (forge_crypto_init() < 0)
		return forge_err_set(err, -EIO, "layer: libsodium initialisation failed");
	crypto_hash_sha256_init(&s.tar_sha);
	crypto_hash_sha256_init(&s.zst_sha);
	bld_utf8_begin(&u);
	s.zc = ZSTD_createCCtx();
	s.zbuf_size = ZSTD_CStreamOutSize();
	s.zbuf = malloc(s.zbuf_size);
	a = archive_write_new();
	if (!s.zc || !s.zbuf || !a) {
		rc = forge_err_set(err, -ENOMEM, "layer: out of memory");
		goto out;
	}
	/* One thread and fixed parameters: the bytes depend on nothing else. */
	if (ZSTD_isError(
		ZSTD_CCtx_setParameter(s.zc, ZSTD_c_compressionLevel, FORGE_LAYER_ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(s.zc, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(s.zc, ZSTD_c_nbWorkers, 0))) {
		rc = forge_err_set(err, -EIO, "layer: zstd parameters refused");
		goto out;
	}
	/* pax (ustar unless a name or size needs more), no padding past the
	 * end-of-archive blocks. */
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open2(a, &s, NULL, sink_write, NULL, NULL) != ARCHIVE_OK) {
		rc = tar_fail(&s, a, NULL);
		goto out;
	}
	rc = tar_entries(l, a, &s);
	if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
		rc = tar_fail(&s, a, NULL);
	if (rc == 0)
		rc = sink_compress(&s, NULL, 0, ZSTD_e_end);
	if (rc == 0) {
		digest_hex(&s.tar_sha, d->diff_id);
		digest_hex(&s.zst_sha, d->blob);
		d->size = s.zst_size;
		d->tar_size = s.tar_size;
	}
out:
	if (a)
		archive_write_free(a);
	ZSTD_freeCCtx(s.zc);
	free(s.zbuf);
	bld_utf8_end(&u);
	return rc;
}
