/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rootfs-builder/deb.c — a Debian package's files into a layer, read with
 * libarchive: the .deb is an ar archive whose data.tar.{xz,zst,gz} member is
 * streamed straight into the layer's tree. No dpkg, no maintainer script.
 * The package is untrusted input: every entry is checked before it is added.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "rootfs-builder/internal.h"

#define BLOCK (64u << 10)

struct deb {
	const char *name;
	struct archive *outer, *inner;
	char *buf;		    /* the outer archive's data, handed to the inner reader */
	char entry[FORGE_PATH_MAX]; /* the inner entry being read, normalised */
};

static int deb_fail(const struct deb *d, struct archive *a, const char *what, struct forge_err *err)
{
	const char *why = archive_error_string(a);

	return forge_err_set(err, -EINVAL, "%s: %s: %s", d->name, what, why ? why : "unreadable");
}

static la_ssize_t outer_read(struct archive *a, void *ctx, const void **buf)
{
	struct deb *d = ctx;
	la_ssize_t n = archive_read_data(d->outer, d->buf, BLOCK);

	(void)a;
	if (n < 0)
		archive_set_error(d->inner, EIO, "%s", archive_error_string(d->outer));
	*buf = d->buf;
	return n;
}

static ssize_t entry_read(void *ctx, void *buf, size_t len, struct forge_err *err)
{
	struct deb *d = ctx;
	la_ssize_t n = archive_read_data(d->inner, buf, len);
	const char *why = n < 0 ? archive_error_string(d->inner) : NULL;

	if (n < 0)
		return forge_err_set(err, -EINVAL, "%s: %s", d->entry, why ? why : "unreadable");
	return n;
}

/* path is rel itself or below it. */
static bool under(const char *path, const char *rel)
{
	size_t n = strlen(rel);

	return strncmp(path, rel, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool wanted(const struct forge_deb_filter *f, const char *path)
{
	if (f && f->only && strcmp(path, f->only) != 0)
		return false;
	for (size_t i = 0; f && i < f->n_exclude; i++)
		if (under(path, f->exclude[i]))
			return false;
	return true;
}

/* A name inside the package: relative ("./x" as dpkg-deb writes them, or
 * "x"), without "..". Normalised into out; 0 for the package's root. */
static int member_path(const struct deb *d, const char *what, const char *name,
		       char out[FORGE_PATH_MAX], struct forge_err *err)
{
	struct forge_err why = {0};
	int n;

	if (!name || !*name)
		return forge_err_set(err, -EINVAL, "%s: an entry without a %s", d->name, what);
	if (name[0] == '/')
		return forge_err_set(err, -EINVAL, "%s: %s: absolute %s refused", d->name, name,
				     what);
	n = bld_norm_path(name, out, &why);
	if (n < 0)
		return forge_err_set(err, n, "%s: %s: %s refused: %s", d->name, name, what,
				     why.msg);
	return n;
}

/* Adds the inner entry ae to the layer, or refuses it. */
static int add_entry(struct forge_layer *l, struct deb *d, struct archive_entry *ae,
		     const struct forge_deb_filter *f, bool *found, struct forge_err *err)
{
	char link[FORGE_PATH_MAX];
	const char *hardlink = archive_entry_hardlink(ae);
	mode_t type = archive_entry_filetype(ae);
	int n = member_path(d, "name", archive_entry_pathname(ae), d->entry, err);

	if (n < 0)
		return n;
	if (n == 0)
		return 0; /* "./": the root is not the package's to describe */
	if (hardlink) {
		n = member_path(d, "hard link target", hardlink, link, err);
		if (n == 0)
			n = forge_err_set(err, -EINVAL, "%s: %s: hard link to the root refused",
					  d->name, d->entry);
		if (n < 0)
			return n;
	} else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
		return forge_err_set(err, -EINVAL, "%s: %s: %s refused", d->name, d->entry,
				     type == AE_IFCHR || type == AE_IFBLK ? "device node"
				     : type == AE_IFIFO			  ? "fifo"
				     : type == AE_IFSOCK		  ? "socket"
									  : "unknown entry type");
	}
	if (!wanted(f, d->entry))
		return 0;
	if (f && f->only)
		*found = true;
	if (hardlink) {
		/* A link to a file the filter dropped goes with it. */
		if (!wanted(f, link))
			return 0;
		n = forge_layer_add_hardlink(l, d->entry, link, err);
	} else if (type == AE_IFDIR) {
		n = forge_layer_add_dir(l, d->entry, 0755, err);
	} else if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(ae);

		n = target && *target
			? forge_layer_add_symlink(l, d->entry, target, err)
			: forge_err_set(err, -EINVAL, "%s: %s: empty symlink", d->name, d->entry);
	} else {
		if (!archive_entry_size_is_set(ae) || archive_entry_size(ae) < 0)
			return forge_err_set(err, -EINVAL, "%s: %s: no size", d->name, d->entry);
		n = forge_layer_add_file_from(l, d->entry,
					      archive_entry_perm(ae) & 0111 ? 0755 : 0644,
					      (uint64_t)archive_entry_size(ae), entry_read, d, err);
	}
	if (n < 0)
		forge_err_prefix(err, "%s", d->name);
	return n;
}

/* Reads the data member the outer archive is positioned on. */
static int add_data(struct forge_layer *l, struct deb *d, const struct forge_deb_filter *f,
		    struct forge_err *err)
{
	struct archive_entry *ae;
	bool found = false;
	int rc = 0, r;

	d->inner = archive_read_new();
	if (!d->inner)
		return forge_err_set(err, -ENOMEM, "%s: out of memory", d->name);
	/* Named filters only: "all" would include ones that run external programs. */
	if (archive_read_support_format_tar(d->inner) != ARCHIVE_OK ||
	    archive_read_support_filter_gzip(d->inner) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(d->inner) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(d->inner) != ARCHIVE_OK ||
	    archive_read_support_filter_none(d->inner) != ARCHIVE_OK ||
	    archive_read_open(d->inner, d, NULL, outer_read, NULL) != ARCHIVE_OK) {
		rc = deb_fail(d, d->inner, "data.tar", err);
		goto out;
	}
	while ((r = archive_read_next_header(d->inner, &ae)) == ARCHIVE_OK) {
		rc = add_entry(l, d, ae, f, &found, err);
		if (rc < 0)
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		rc = deb_fail(d, d->inner, "data.tar", err);
		goto out;
	}
	if (f && f->only && !found)
		rc = forge_err_set(err, -ENOENT, "%s: has no %s", d->name, f->only);
out:
	archive_read_free(d->inner);
	d->inner = NULL;
	return rc;
}

/* The first member is debian-binary, "2.<minor>\n". */
static int check_format(struct deb *d, struct archive_entry *ae, struct forge_err *err)
{
	char v[16] = {0};
	la_ssize_t n;

	if (strcmp(archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "", "debian-binary") !=
	    0)
		return forge_err_set(err, -EINVAL,
				     "%s: not a Debian package (no debian-binary first)", d->name);
	n = archive_read_data(d->outer, v, sizeof(v) - 1);
	if (n < 0)
		return deb_fail(d, d->outer, "debian-binary", err);
	if (n < 4 || strncmp(v, "2.", 2) != 0 || v[n - 1] != '\n')
		return forge_err_set(err, -EINVAL, "%s: unsupported package format version",
				     d->name);
	return 0;
}

int forge_layer_add_deb(struct forge_layer *l, int fd, const char *name,
			const struct forge_deb_filter *filter, struct forge_err *err)
{
	struct deb d = {.name = name};
	struct archive_entry *ae;
	struct bld_utf8 u;
	bool first = true, data = false;
	int rc = 0, r = ARCHIVE_OK;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return forge_err_errno(err, errno, "%s: seek", name);
	bld_utf8_begin(&u);
	d.buf = malloc(BLOCK);
	d.outer = archive_read_new();
	if (!d.buf || !d.outer) {
		rc = forge_err_set(err, -ENOMEM, "%s: out of memory", name);
		goto out;
	}
	if (archive_read_support_format_ar(d.outer) != ARCHIVE_OK ||
	    archive_read_open_fd(d.outer, fd, BLOCK) != ARCHIVE_OK) {
		rc = deb_fail(&d, d.outer, "ar archive", err);
		goto out;
	}
	while (!data && (r = archive_read_next_header(d.outer, &ae)) == ARCHIVE_OK) {
		const char *m = archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "";

		if (first) {
			rc = check_format(&d, ae, err);
			if (rc < 0)
				goto out;
			first = false;
		} else if (strncmp(m, "data.tar", 8) == 0) {
			rc = add_data(l, &d, filter, err);
			if (rc < 0)
				goto out;
			data = true;
		}
	}
	if (!data)
		rc = first || r == ARCHIVE_EOF
			 ? forge_err_set(err, -EINVAL, "%s: no data.tar member", name)
			 : deb_fail(&d, d.outer, "ar archive", err);
out:
	if (d.outer)
		archive_read_free(d.outer);
	free(d.buf);
	bld_utf8_end(&u);
	return rc;
}
