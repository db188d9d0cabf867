/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rootfs-builder/layer.c and deb.c: the tar writer is deterministic (same tree, any order
 * of insertion, same bytes; entries sorted; owner 0:0, mtime 0, no names), the tree's
 * rules hold, and .deb extraction takes what a package holds and refuses what a hostile
 * package tries (each .deb is built here with libarchive).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <sodium.h>

#include "rootfs-builder/builder.h"

static char tmp_dir[] = "/tmp/test-builder-layer.XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmp_dir);
}

static struct forge_layer *new_layer(void)
{
	struct forge_layer *l = NULL;
	struct forge_err err = {0};

	if (forge_layer_new(tmp_dir, &l, &err) < 0)
		fail_msg("forge_layer_new: %s", err.msg);
	return l;
}

#define OK(call)                                                                                   \
	do {                                                                                       \
		struct forge_err e_ = {0};                                                         \
		if ((call) < 0)                                                                    \
			fail_msg("%s: %s", #call, e_.msg);                                         \
	} while (0)
#define E (&e_)

/* Expects call to fail with code and a message containing want. */
#define REFUSED(call, code, want)                                                                  \
	do {                                                                                       \
		struct forge_err e_ = {0};                                                         \
		int rc_ = (call);                                                                  \
		if (rc_ != (code) || !strstr(e_.msg, (want)))                                      \
			fail_msg("%s: got %d \"%s\", want %d \"%s\"", #call, rc_, e_.msg, (code),  \
				 (want));                                                          \
	} while (0)

/* The layer written to a memfd: its bytes and digests. */
struct blob {
	char *data;
	size_t len;
	struct forge_layer_digest d;
};

static void write_blob(struct forge_layer *l, struct blob *b)
{
	struct forge_err err = {0};
	int fd = memfd_create("layer", MFD_CLOEXEC);
	struct stat st;

	assert_true(fd >= 0);
	if (forge_layer_write(l, fd, &b->d, &err) < 0)
		fail_msg("forge_layer_write: %s", err.msg);
	assert_int_equal(fstat(fd, &st), 0);
	b->len = (size_t)st.st_size;
	b->data = malloc(b->len + 1);
	assert_non_null(b->data);
	assert_int_equal(pread(fd, b->data, b->len, 0), (ssize_t)b->len);
	close(fd);
	assert_int_equal(b->d.size, b->len);
}

/* One entry of a written layer, as a reader sees it. */
struct seen {
	char path[256], link[256], hardlink[256], data[64];
	mode_t type, perm;
	int64_t uid, gid, mtime, size;
	bool uname, gname;
};

/* Reads a tar.zst blob back; returns the entry count. Checks the diff_id. */
static size_t read_blob(const struct blob *b, struct seen *out, size_t max)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	size_t n = 0;
	int r;

	assert_non_null(a);
	assert_int_equal(archive_read_support_filter_zstd(a), ARCHIVE_OK);
	assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
	assert_int_equal(archive_read_open_memory(a, b->data, b->len), ARCHIVE_OK);
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		struct seen *s = &out[n++];

		assert_true(n <= max);
		memset(s, 0, sizeof(*s));
		snprintf(s->path, sizeof(s->path), "%s", archive_entry_pathname(ae));
		snprintf(s->link, sizeof(s->link), "%s",
			 archive_entry_symlink(ae) ? archive_entry_symlink(ae) : "");
		snprintf(s->hardlink, sizeof(s->hardlink), "%s",
			 archive_entry_hardlink(ae) ? archive_entry_hardlink(ae) : "");
		s->type = archive_entry_filetype(ae);
		s->perm = archive_entry_perm(ae);
		s->uid = archive_entry_uid(ae);
		s->gid = archive_entry_gid(ae);
		s->mtime = archive_entry_mtime(ae);
		s->size = archive_entry_size(ae);
		s->uname = archive_entry_uname(ae) && *archive_entry_uname(ae);
		s->gname = archive_entry_gname(ae) && *archive_entry_gname(ae);
		la_ssize_t got = archive_read_data(a, s->data, sizeof(s->data) - 1);
		assert_true(got >= 0);
	}
	assert_int_equal(r, ARCHIVE_EOF);
	archive_read_free(a);
	return n;
}

static const struct seen *find(const struct seen *s, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].path, path) == 0)
			return &s[i];
	fail_msg("%s: not in the layer", path);
	return NULL;
}

/* ------------------------------------------------------------ the tar writer */

/* The same tree, built in two different orders (and with a replaced file). */
static void fill_a(struct forge_layer *l)
{
	OK(forge_layer_add_dir(l, "/etc", 0755, E));
	OK(forge_layer_add_file(l, "/etc/passwd", 0644, "root:x:0:0::/root:/bin/sh\n", 26, E));
	OK(forge_layer_add_file(l, "bin/busybox", 0755, "BUSYBOX", 7, E));
	OK(forge_layer_add_symlink(l, "/bin/sh", "/bin/busybox", E));
	OK(forge_layer_add_hardlink(l, "./bin/bb", "/bin/busybox", E));
	OK(forge_layer_add_dir(l, "/var/tmp", 01777, E));
	OK(forge_layer_add_file(l, "/a-b", 0600, "dash", 4, E));
	OK(forge_layer_add_file(l, "/a/b", 0640, "slash", 5, E));
}

static void fill_b(struct forge_layer *l)
{
	OK(forge_layer_add_file(l, "/a/b", 0640, "slash", 5, E));
	OK(forge_layer_add_dir(l, "/var/tmp", 01777, E));
	OK(forge_layer_add_file(l, "/bin/bb", 0755, "old content", 11, E)); /* replaced below */
	OK(forge_layer_add_file(l, "/bin/busybox", 0755, "BUSYBOX", 7, E));
	OK(forge_layer_add_hardlink(l, "/bin/bb", "bin/busybox", E));
	OK(forge_layer_add_file(l, "/a-b", 0600, "dash", 4, E));
	OK(forge_layer_add_symlink(l, "/bin/sh", "/bin/busybox", E));
	OK(forge_layer_add_file(l, "/etc/passwd", 0644, "root:x:0:0::/root:/bin/sh\n", 26, E));
}

static void test_same_tree_same_bytes(void **state)
{
	struct forge_layer *a = new_layer(), *b = new_layer();
	struct blob x, y, z;

	(void)state;
	fill_a(a);
	fill_b(b);
	assert_int_equal(forge_layer_count(a), forge_layer_count(b));
	write_blob(a, &x);
	write_blob(b, &y);
	write_blob(a, &z); /* writing twice gives the same, too */
	assert_int_equal(x.len, y.len);
	assert_memory_equal(x.data, y.data, x.len);
	assert_int_equal(x.len, z.len);
	assert_memory_equal(x.data, z.data, x.len);
	assert_string_equal(x.d.blob, y.d.blob);
	assert_string_equal(x.d.diff_id, y.d.diff_id);

	/* The blob digest is the sha256 of the bytes written. */
	char hex[65], want[80];
	forge_sha256_hex(x.data, x.len, hex);
	snprintf(want, sizeof(want), "sha256:%s", hex);
	assert_string_equal(x.d.blob, want);

	/* A different mode is a different layer. */
	free(z.data);
	OK(forge_layer_add_dir(b, "/var/tmp", 0755, E));
	write_blob(b, &z);
	assert_string_not_equal(x.d.blob, z.d.blob);
	free(x.data);
	free(y.data);
	free(z.data);
	forge_layer_free(a);
	forge_layer_free(b);
}

static void test_entries_sorted_and_normalised(void **state)
{
	struct forge_layer *l = new_layer();
	struct seen s[32];
	struct blob x;
	size_t n;

	(void)state;
	fill_a(l);
	write_blob(l, &x);
	n = read_blob(&x, s, 32);
	/* Sorted bytewise by path ("a" < "a-b" < "a/b": '-' is 0x2d, '/' 0x2f), so a
	 * directory always comes before what it holds. */
	const char *order[] = {"a/",	 "a-b",	 "a/b",	       "bin/", "bin/bb",  "bin/busybox",
			       "bin/sh", "etc/", "etc/passwd", "var/", "var/tmp/"};
	assert_int_equal(n, sizeof(order) / sizeof(order[0]));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(s[i].path, order[i]);
		assert_int_equal(s[i].uid, 0);
		assert_int_equal(s[i].gid, 0);
		assert_int_equal(s[i].mtime, 0);
		assert_false(s[i].uname);
		assert_false(s[i].gname);
	}
	assert_int_equal(find(s, n, "a/")->perm, 0755); /* an implicit parent */
	assert_int_equal(find(s, n, "var/tmp/")->perm, 01777);
	assert_int_equal(find(s, n, "a/b")->perm, 0640);
	assert_string_equal(find(s, n, "a/b")->data, "slash");
	assert_int_equal(find(s, n, "bin/sh")->type, AE_IFLNK);
	assert_string_equal(find(s, n, "bin/sh")->link, "/bin/busybox");
	/* Hard links point at the first path of their file in the archive's order. */
	assert_string_equal(find(s, n, "bin/bb")->data, "BUSYBOX");
	assert_string_equal(find(s, n, "bin/busybox")->hardlink, "bin/bb");

	/* Long names and non-ASCII names survive (pax), still deterministically. */
	char longname[300];
	memset(longname, 'x', sizeof(longname));
	memcpy(longname, "/opt/", 5);
	longname[200] = '\0';
	OK(forge_layer_add_file(l, longname, 0644, "L", 1, E));
	OK(forge_layer_add_file(l, "/etc/grüße", 0644, "U", 1, E));
	struct blob y, z;
	write_blob(l, &y);
	write_blob(l, &z);
	assert_int_equal(y.len, z.len);
	assert_memory_equal(y.data, z.data, y.len);
	n = read_blob(&y, s, 32);
	assert_string_equal(find(s, n, longname + 1)->data, "L");
	assert_string_equal(find(s, n, "etc/grüße")->data, "U");
	free(x.data);
	free(y.data);
	free(z.data);
	forge_layer_free(l);
}

static void test_tree_rules(void **state)
{
	struct forge_layer *l = new_layer();
	char *buf = NULL;
	size_t len;

	(void)state;
	REFUSED(forge_layer_add_file(l, "/a/../etc/shadow", 0644, "x", 1, E), -EINVAL,
		"\"..\" is not allowed");
	REFUSED(forge_layer_add_file(l, "/", 0644, "x", 1, E), -EINVAL, "names the layer's root");
	OK(forge_layer_add_dir(l, "/", 0700, E)); /* the root: not the layer's to set */
	assert_int_equal(forge_layer_count(l), 0);

	/* Nothing is written through a symlink or a file. */
	OK(forge_layer_add_symlink(l, "/a", "/etc", E));
	REFUSED(forge_layer_add_file(l, "/a/passwd", 0644, "x", 1, E), -ENOTDIR,
		"a/passwd: parent a is a symlink, not a directory");
	OK(forge_layer_add_file(l, "/f", 0644, "x", 1, E));
	REFUSED(forge_layer_add_dir(l, "/f/d", 0755, E), -ENOTDIR, "parent f is a file");

	/* A directory stays one; a file or symlink may become a directory. */
	OK(forge_layer_add_dir(l, "/d", 0755, E));
	OK(forge_layer_add_file(l, "/d/x", 0644, "x", 1, E));
	REFUSED(forge_layer_add_file(l, "/d", 0644, "x", 1, E), -EISDIR, "d: is a directory");
	REFUSED(forge_layer_add_symlink(l, "/d", "x", E), -EISDIR, "d: is a directory");
	OK(forge_layer_add_dir(l, "/a", 0755, E));
	OK(forge_layer_add_file(l, "/a/passwd", 0644, "x", 1, E));

	/* Whiteout names would delete lower layers' files when unpacked. */
	REFUSED(forge_layer_add_file(l, "/etc/.wh.passwd", 0644, "x", 1, E), -EINVAL,
		"etc/.wh.passwd: a \".wh.\" name is a whiteout");
	REFUSED(forge_layer_add_dir(l, "/.wh..wh..opq", 0755, E), -EINVAL, "whiteout");

	/* Relative symlinks stay below the root (the unpacker refuses others). */
	REFUSED(forge_layer_add_symlink(l, "/usr/lib/x", "../../../etc/shadow", E), -EINVAL,
		"usr/lib/x: symlink target \"../../../etc/shadow\" climbs above the root");
	OK(forge_layer_add_symlink(l, "/usr/lib/y", "../../etc/shadow", E));
	OK(forge_layer_add_symlink(l, "/usr/lib/z", "/../../etc/shadow",
				   E)); /* absolute: in-root */
	REFUSED(forge_layer_add_symlink(l, "/usr/lib/e", "", E), -EINVAL, "empty");

	/* Hard links name a file of the layer. */
	REFUSED(forge_layer_add_hardlink(l, "/h", "/nope", E), -ENOENT,
		"h: hard link to nope, which is not a file of the layer");
	REFUSED(forge_layer_add_hardlink(l, "/h", "/d", E), -ENOENT, "not a file of the layer");
	REFUSED(forge_layer_add_hardlink(l, "/h", "../f", E), -EINVAL, "\"..\" is not allowed");

	/* Reading back what a file holds. */
	assert_int_equal(forge_layer_read_file(l, "/f", &buf, &len, 16, NULL), 0);
	assert_int_equal(len, 1);
	assert_string_equal(buf, "x");
	free(buf);
	assert_int_equal(forge_layer_read_file(l, "/missing", &buf, &len, 16, NULL), -ENOENT);
	assert_int_equal(forge_layer_read_file(l, "/d", &buf, &len, 16, NULL), -ENOENT);
	forge_layer_free(l);
}

/* A reader that gives fewer (or more) bytes than the size announced. */
static ssize_t short_read(void *ctx, void *buf, size_t len, struct forge_err *err)
{
	size_t *left = ctx;
	size_t n = len < *left ? len : *left;

	(void)err;
	memset(buf, 'z', n);
	*left -= n;
	return (ssize_t)n;
}

static void test_file_sizes_are_exact(void **state)
{
	struct forge_layer *l = new_layer();
	size_t left = 10;

	(void)state;
	REFUSED(forge_layer_add_file_from(l, "/short", 0644, 20, short_read, &left, E), -EINVAL,
		"short: truncated (10 of 20 bytes)");
	left = 30;
	REFUSED(forge_layer_add_file_from(l, "/long", 0644, 20, short_read, &left, E), -EINVAL,
		"long: more data than its size of 20");
	assert_int_equal(forge_layer_count(l), 0);
	forge_layer_free(l);
}

/* ------------------------------------------------------------ .deb files */

struct tent {
	const char *path;
	mode_t type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFIFO; 0: hard link */
	mode_t perm;
	const char *data; /* file content, or the (hard) link target */
};

/* A tar of entries compressed with filter (archive_write_add_filter_by_name). */
static char *make_tar(const struct tent *t, size_t n, const char *filter, size_t *len)
{
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();

	assert_non_null(buf);
	assert_int_equal(archive_write_set_format_gnutar(a), ARCHIVE_OK);
	if (filter)
		assert_int_equal(archive_write_add_filter_by_name(a, filter), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		archive_entry_clear(ae);
		archive_entry_set_pathname(ae, t[i].path);
		archive_entry_set_perm(ae, t[i].perm);
		archive_entry_set_mtime(ae, 1700000000, 0);
		archive_entry_set_uid(ae, 1000);
		if (t[i].type == 0) {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, t[i].data);
		} else {
			archive_entry_set_filetype(ae, t[i].type);
		}
		if (t[i].type == AE_IFLNK)
			archive_entry_set_symlink(ae, t[i].data);
		if (t[i].type == AE_IFCHR)
			archive_entry_set_rdev(ae, makedev(1, 3));
		if (t[i].type == AE_IFREG)
			archive_entry_set_size(ae, (la_int64_t)strlen(t[i].data));
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (t[i].type == AE_IFREG)
			assert_int_equal(archive_write_data(a, t[i].data, strlen(t[i].data)),
					 (la_ssize_t)strlen(t[i].data));
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(ae);
	return buf;
}

struct member {
	const char *name;
	const char *data;
	size_t len;
};

/* An ar archive of members in a memfd. */
static int make_ar(const struct member *m, size_t n)
{
	int fd = memfd_create("deb", MFD_CLOEXEC);
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();

	assert_true(fd >= 0);
	assert_int_equal(archive_write_set_format_ar_svr4(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		archive_entry_clear(ae);
		archive_entry_set_pathname(ae, m[i].name);
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_size(ae, (la_int64_t)m[i].len);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, m[i].data, m[i].len), (la_ssize_t)m[i].len);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(ae);
	return fd;
}

/* A .deb whose data.tar.<ext> (compressed with filter) holds t. */
static int make_deb(const struct tent *t, size_t n, const char *ext, const char *filter)
{
	static const struct tent control[] = {{"./control", AE_IFREG, 0644, "Package: x\n"}};
	size_t clen, dlen;
	char *ctl = make_tar(control, 1, "gzip", &clen);
	char *data = make_tar(t, n, filter, &dlen);
	char name[32];

	snprintf(name, sizeof(name), "data.tar%s", ext);
	const struct member m[] = {
	    {"debian-binary", "2.0\n", 4},
	    {"control.tar.gz", ctl, clen},
	    {name, data, dlen},
	};
	int fd = make_ar(m, 3);
	free(ctl);
	free(data);
	return fd;
}

static const struct tent good_pkg[] = {
    {"./", AE_IFDIR, 0755, NULL},
    {"./usr/", AE_IFDIR, 0700, NULL},
    {"./usr/bin/", AE_IFDIR, 0755, NULL},
    {"./usr/bin/tool", AE_IFREG, 04755, "#!/bin/sh\necho tool\n"},
    {"./usr/bin/tool2", 0, 0, "./usr/bin/tool"},
    {"./usr/bin/t3", AE_IFLNK, 0777, "tool"},
    {"./etc/", AE_IFDIR, 0755, NULL},
    {"./etc/tool.conf", AE_IFREG, 0600, "secret=no\n"},
    {"./usr/share/doc/tool/", AE_IFDIR, 0755, NULL},
    {"./usr/share/doc/tool/README", AE_IFREG, 0644, "read me\n"},
    {"./usr/share/doc/tool/link", 0, 0, "./usr/share/doc/tool/README"},
    {"./usr/share/docs", AE_IFREG, 0644, "not excluded\n"},
};

static void test_deb_extraction(void **state)
{
	const char *const exclude[] = {"usr/share/doc"};
	const struct forge_deb_filter filter = {.exclude = exclude, .n_exclude = 1};
	const struct {
		const char *ext, *filter;
	} kinds[] = {{".xz", "xz"}, {".gz", "gzip"}, {".zst", "zstd"}, {"", NULL}};
	const size_t n_good = sizeof(good_pkg) / sizeof(good_pkg[0]);
	struct seen s[32];
	struct blob first = {0};

	(void)state;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct forge_layer *l = new_layer();
		int fd = make_deb(good_pkg, n_good, kinds[k].ext, kinds[k].filter);
		struct blob x;
		size_t n;

		OK(forge_layer_add_deb(l, fd, "tool_1_amd64.deb", &filter, E));
		close(fd);
		write_blob(l, &x);
		n = read_blob(&x, s, 32);
		/* Modes normalised, setuid dropped, owners and times gone. */
		assert_int_equal(find(s, n, "usr/")->perm, 0755);
		assert_int_equal(find(s, n, "usr/bin/tool")->perm, 0755);
		assert_int_equal(find(s, n, "etc/tool.conf")->perm, 0644);
		assert_int_equal(find(s, n, "etc/tool.conf")->uid, 0);
		assert_int_equal(find(s, n, "etc/tool.conf")->mtime, 0);
		assert_string_equal(find(s, n, "usr/bin/t3")->link, "tool");
		assert_string_equal(find(s, n, "usr/bin/tool2")->hardlink, "usr/bin/tool");
		assert_string_equal(find(s, n, "usr/share/docs")->data, "not excluded\n");
		for (size_t i = 0; i < n; i++)
			assert_null(strstr(s[i].path, "usr/share/doc/"));
		/* The compression of data.tar changes nothing in the layer. */
		if (k == 0) {
			first = x;
		} else {
			assert_int_equal(first.len, x.len);
			assert_memory_equal(first.data, x.data, x.len);
			free(x.data);
		}
		forge_layer_free(l);
	}
	free(first.data);

	/* only: one path, with its parents. */
	struct forge_layer *l = new_layer();
	int fd = make_deb(good_pkg, n_good, ".xz", "xz");
	const struct forge_deb_filter only = {.only = "usr/bin/tool"};
	const struct forge_deb_filter missing = {.only = "bin/busybox"};
	struct blob x;
	OK(forge_layer_add_deb(l, fd, "tool.deb", &only, E));
	write_blob(l, &x);
	assert_int_equal(read_blob(&x, s, 32), 3); /* usr/, usr/bin/, usr/bin/tool */
	free(x.data);
	REFUSED(forge_layer_add_deb(l, fd, "tool.deb", &missing, E), -ENOENT,
		"tool.deb: has no bin/busybox");
	close(fd);
	forge_layer_free(l);
}

/* A package holding t (plus a harmless first entry) is refused with want. */
static void expect_hostile(const struct tent *t, size_t n, const char *want)
{
	struct tent all[8] = {{"./", AE_IFDIR, 0755, NULL}};
	struct forge_layer *l = new_layer();
	struct forge_err err = {0};
	int fd;

	assert_true(n < 8);
	memcpy(all + 1, t, n * sizeof(*t));
	fd = make_deb(all, n + 1, ".xz", "xz");
	assert_int_equal(forge_layer_add_deb(l, fd, "evil.deb", NULL, &err) < 0, 1);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" does not say \"%s\"", err.msg, want);
	close(fd);
	forge_layer_free(l);
}

static void test_hostile_debs(void **state)
{
	(void)state;
	const struct tent dotdot[] = {{"./../../etc/cron.d/x", AE_IFREG, 0644, "x"}};
	expect_hostile(dotdot, 1, "evil.deb: ./../../etc/cron.d/x: name refused");
	const struct tent absolute[] = {{"/etc/cron.d/x", AE_IFREG, 0644, "x"}};
	expect_hostile(absolute, 1, "evil.deb: /etc/cron.d/x: absolute name refused");
	const struct tent hl_out[] = {{"./x", 0, 0, "../../etc/shadow"}};
	expect_hostile(hl_out, 1, "evil.deb: ../../etc/shadow: hard link target refused");
	const struct tent hl_abs[] = {{"./x", 0, 0, "/etc/shadow"}};
	expect_hostile(hl_abs, 1, "evil.deb: /etc/shadow: absolute hard link target refused");
	const struct tent hl_missing[] = {{"./x", 0, 0, "./etc/shadow"}};
	expect_hostile(hl_missing, 1, "evil.deb: x: hard link to etc/shadow, which is not a file");
	const struct tent dev[] = {{"./dev/mem", AE_IFCHR, 0600, NULL}};
	expect_hostile(dev, 1, "evil.deb: dev/mem: device node refused");
	const struct tent fifo[] = {{"./run/fifo", AE_IFIFO, 0600, NULL}};
	expect_hostile(fifo, 1, "evil.deb: run/fifo: fifo refused");
	const struct tent through[] = {
	    {"./lib", AE_IFLNK, 0777, "/etc"},
	    {"./lib/passwd", AE_IFREG, 0644, "evil::0:0::/:/bin/sh\n"},
	};
	expect_hostile(through, 2, "evil.deb: lib/passwd: parent lib is a symlink");
	const struct tent wh[] = {{"./etc/.wh.passwd", AE_IFREG, 0644, ""}};
	expect_hostile(wh, 1, "evil.deb: etc/.wh.passwd: a \".wh.\" name is a whiteout");
	const struct tent climb[] = {{"./usr/x", AE_IFLNK, 0777, "../../../../etc/shadow"}};
	expect_hostile(climb, 1, "evil.deb: usr/x: symlink target");
}

static void test_not_debs(void **state)
{
	struct forge_layer *l = new_layer();
	const struct tent t[] = {{"./x", AE_IFREG, 0644, "x"}};
	size_t len;
	char *tar = make_tar(t, 1, "xz", &len);

	(void)state;
	const struct member no_data[] = {{"debian-binary", "2.0\n", 4}, {"control.tar.gz", "", 0}};
	const struct member v3[] = {{"debian-binary", "3.0\n", 4}, {"data.tar.xz", tar, len}};
	const struct member first[] = {{"data.tar.xz", tar, len}};
	const struct member cut[] = {{"debian-binary", "2.0\n", 4}, {"data.tar.xz", tar, len / 2}};
	int fd;

	fd = make_ar(no_data, 2);
	REFUSED(forge_layer_add_deb(l, fd, "a.deb", NULL, E), -EINVAL, "a.deb: no data.tar member");
	close(fd);
	fd = make_ar(v3, 2);
	REFUSED(forge_layer_add_deb(l, fd, "b.deb", NULL, E), -EINVAL,
		"b.deb: unsupported package format version");
	close(fd);
	fd = make_ar(first, 1);
	REFUSED(forge_layer_add_deb(l, fd, "c.deb", NULL, E), -EINVAL,
		"c.deb: not a Debian package (no debian-binary first)");
	close(fd);
	fd = make_ar(cut, 2);
	REFUSED(forge_layer_add_deb(l, fd, "d.deb", NULL, E), -EINVAL, "d.deb: ");
	close(fd);
	/* A plain tar is not an ar archive. */
	fd = memfd_create("tar", MFD_CLOEXEC);
	assert_int_equal(write(fd, tar, len), (ssize_t)len);
	REFUSED(forge_layer_add_deb(l, fd, "e.deb", NULL, E), -EINVAL, "e.deb: ");
	close(fd);
	free(tar);
	forge_layer_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_tree_same_bytes),
	    cmocka_unit_test(test_entries_sorted_and_normalised),
	    cmocka_unit_test(test_tree_rules),
	    cmocka_unit_test(test_file_sizes_are_exact),
	    cmocka_unit_test(test_deb_extraction),
	    cmocka_unit_test(test_hostile_debs),
	    cmocka_unit_test(test_not_debs),
	};
	if (sodium_init() < 0)
		return 1;
	/* The reader here converts pax names like the builder does: as UTF-8. */
	setlocale(LC_CTYPE, "C.UTF-8");
	return cmocka_run_group_tests(tests, setup, teardown);
}
