/* SPDX-License-Identifier: Apache-2.0 */
/* evidence.tar.zst: a reproducible ustar (libarchive) in one zstd frame (libzstd), and its check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <zstd.h>

#include "scoring/internal.h"

/* GNU tar's default record size: the archive is padded to a multiple of it. */
#define EVIDENCE_RECORD 10240
#define EVIDENCE_MODE	0644

struct evidence_buf {
	char *data;
	size_t len, cap;
	int oom;
};

static la_ssize_t evidence_write_cb(struct archive *a, void *arg, const void *buf, size_t n)
{
	struct evidence_buf *b = arg;
	size_t cap;
	char *grown;

	if (b->len + n > b->cap) {
		cap = b->cap ? b->cap : 65536;
		while (cap < b->len + n)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (!grown) {
			b->oom = 1;
			archive_set_error(a, ENOMEM, "out of memory");
			return -1;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, buf, n);
	b->len += n;
	return (la_ssize_t)n;
}

/* The uncompressed tar: ustar headers fixed by nothing but name and size. */
static int evidence_tar(const struct forge_artifact *const *sorted, size_t n,
			struct evidence_buf *b, struct forge_err *err)
{
	struct archive_entry *e = NULL;
	struct archive *a;
	int rc = 0;
	size_t i;

	a = archive_write_new();
	e = archive_entry_new();
	if (!a || !e) {
		rc = forge_err_set(err, -ENOMEM, "evidence: out of memory");
		goto out;
	}
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, EVIDENCE_RECORD) != ARCHIVE_OK ||
	    archive_write_open(a, b, NULL, evidence_write_cb, NULL) != ARCHIVE_OK) {
		rc = forge_err_set(err, -EIO, "evidence: %s", archive_error_string(a));
		goto out;
	}
	for (i = 0; i < n; i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, sorted[i]->name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, EVIDENCE_MODE);
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		archive_entry_set_mtime(e, 0, 0);
		archive_entry_set_size(e, (la_int64_t)sorted[i]->len);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    (sorted[i]->len && archive_write_data(a, sorted[i]->data, sorted[i]->len) !=
					   (la_ssize_t)sorted[i]->len)) {
			rc = forge_err_set(err, b->oom ? -ENOMEM : -EIO, "evidence: %s: %s",
					   sorted[i]->name, archive_error_string(a));
			goto out;
		}
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		rc = forge_err_set(err, b->oom ? -ENOMEM : -EIO, "evidence: %s",
				   archive_error_string(a));
out:
	archive_entry_free(e);
	archive_write_free(a);
	return rc;
}

int scoring_evidence_build(const struct forge_artifact *const *sorted, size_t n, void **out,
			   size_t *outlen, struct forge_err *err)
{
	struct evidence_buf tar = {0};
	ZSTD_CCtx *cctx = NULL;
	void *zst = NULL;
	size_t bound, z;
	int rc;

	*out = NULL;
	rc = evidence_tar(sorted, n, &tar, err);
	if (rc < 0)
		goto out;
	cctx = ZSTD_createCCtx();
	bound = ZSTD_compressBound(tar.len);
	zst = malloc(bound);
	if (!cctx || !zst) {
		rc = forge_err_set(err, -ENOMEM, "evidence: out of memory");
		goto out;
	}
	/* Every parameter that shapes the frame, set explicitly: one frame,
	 * no worker threads, its size and checksum recorded. */
	if (ZSTD_isError(
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, FORGE_EVIDENCE_ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1))) {
		rc = forge_err_set(err, -EIO, "evidence: zstd parameters refused");
		goto out;
	}
	z = ZSTD_compress2(cctx, zst, bound, tar.data, tar.len);
	if (ZSTD_isError(z)) {
		rc = forge_err_set(err, -EIO, "evidence: zstd: %s", ZSTD_getErrorName(z));
		goto out;
	}
	*out = zst;
	*outlen = z;
	zst = NULL;
out:
	free(zst);
	ZSTD_freeCCtx(cctx);
	free(tar.data);
	return rc;
}

/* ------------------------------------------------------------ reading back */

void scoring_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

static int evidence_unzstd(const void *zst, size_t len, void **out, size_t *outlen,
			   struct forge_err *err)
{
	unsigned long long size = ZSTD_getFrameContentSize(zst, len);
	size_t got, frame;
	void *buf;

	*out = NULL;
	if (size == ZSTD_CONTENTSIZE_ERROR)
		return forge_err_set(err, -EBADMSG, "%s: not a zstd frame", SCORING_EVIDENCE);
	/* Forge always records the size; without it the bound cannot be checked first. */
	if (size == ZSTD_CONTENTSIZE_UNKNOWN)
		return forge_err_set(err, -EBADMSG, "%s: zstd frame without a content size",
				     SCORING_EVIDENCE);
	if (size > FORGE_EVIDENCE_BYTES_MAX + (FORGE_ARTIFACTS_MAX + 1) * 1024ull + EVIDENCE_RECORD)
		return forge_err_set(err, -EFBIG, "%s: %llu bytes uncompressed, too large",
				     SCORING_EVIDENCE, size);
	frame = ZSTD_findFrameCompressedSize(zst, len);
	if (ZSTD_isError(frame) || frame != len)
		return forge_err_set(err, -EBADMSG, "%s: not exactly one zstd frame",
				     SCORING_EVIDENCE);
	buf = malloc(size ? size : 1);
	if (!buf)
		return forge_err_set(err, -ENOMEM, "%s: out of memory", SCORING_EVIDENCE);
	got = ZSTD_decompress(buf, size, zst, len);
	if (ZSTD_isError(got) || got != size) {
		free(buf);
		return forge_err_set(err, -EBADMSG, "%s: zstd: %s", SCORING_EVIDENCE,
				     ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
	}
	*out = buf;
	*outlen = got;
	return 0;
}

/* An entry as Forge writes them, and nothing else. */
static int evidence_check_entry(struct archive_entry *e, const char *prev, struct forge_err *err)
{
	const char *name = archive_entry_pathname(e);

	if (!name || !*name)
		return forge_err_set(err, -EBADMSG, "%s: an entry without a name",
				     SCORING_EVIDENCE);
	if (archive_entry_filetype(e) != AE_IFREG)
		return forge_err_set(err, -EBADMSG, "%s: %s: not a regular file", SCORING_EVIDENCE,
				     name);
	if ((archive_entry_mode(e) & 07777) != EVIDENCE_MODE || archive_entry_uid(e) != 0 ||
	    archive_entry_gid(e) != 0 || archive_entry_mtime(e) != 0)
		return forge_err_set(err, -EBADMSG,
				     "%s: %s: mode, owner or mtime is not the fixed 0644 0:0 0",
				     SCORING_EVIDENCE, name);
	if (prev && strcmp(prev, name) >= 0)
		return forge_err_set(err, -EBADMSG, "%s: %s: entries not sorted or repeated",
				     SCORING_EVIDENCE, name);
	return 0;
}

static int evidence_names_push(char ***names, size_t *n, const char *name, struct forge_err *err)
{
	char **grown;

	if (*n >= FORGE_ARTIFACTS_MAX)
		return forge_err_set(err, -E2BIG, "%s: more than %d entries", SCORING_EVIDENCE,
				     FORGE_ARTIFACTS_MAX);
	grown = realloc(*names, (*n + 1) * sizeof(**names));
	if (!grown)
		return forge_err_set(err, -ENOMEM, "%s: out of memory", SCORING_EVIDENCE);
	*names = grown;
	grown[*n] = strdup(name);
	if (!grown[*n])
		return forge_err_set(err, -ENOMEM, "%s: out of memory", SCORING_EVIDENCE);
	(*n)++;
	return 0;
}

int scoring_evidence_list(const void *zst, size_t len, char ***names, size_t *n,
			  struct forge_err *err)
{
	struct archive_entry *e;
	struct archive *a = NULL;
	void *tar = NULL;
	size_t tarlen = 0;
	int rc, r;

	*names = NULL;
	*n = 0;
	rc = evidence_unzstd(zst, len, &tar, &tarlen, err);
	if (rc < 0)
		return rc;
	a = archive_read_new();
	if (!a) {
		rc = forge_err_set(err, -ENOMEM, "%s: out of memory", SCORING_EVIDENCE);
		goto out;
	}
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, tar, tarlen) != ARCHIVE_OK) {
		rc = forge_err_set(err, -EBADMSG, "%s: %s", SCORING_EVIDENCE,
				   archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		rc = evidence_check_entry(e, *n ? (*names)[*n - 1] : NULL, err);
		if (rc == 0)
			rc = evidence_names_push(names, n, archive_entry_pathname(e), err);
		if (rc < 0)
			goto out;
	}
	if (r != ARCHIVE_EOF)
		rc = forge_err_set(err, -EBADMSG, "%s: %s", SCORING_EVIDENCE,
				   archive_error_string(a));
	else if (archive_format(a) != ARCHIVE_FORMAT_TAR_USTAR && *n)
		rc =
		    forge_err_set(err, -EBADMSG, "%s: not a plain ustar archive", SCORING_EVIDENCE);
out:
	archive_read_free(a);
	free(tar);
	if (rc < 0) {
		scoring_names_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return rc;
}
