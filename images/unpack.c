/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer unpacking: a tar (plain, gzip or zstd) into an empty directory, every
 * entry confined to it. libarchive only parses; every file is created here,
 * through openat2 and *at calls relative to the directory:
 *
 *  - entry paths: absolute paths and ".." components are refused; a path
 *    whose parent goes through a symlink is refused (RESOLVE_NO_SYMLINKS),
 *    so "link -> /etc" followed by "link/passwd" writes nothing;
 *  - symlinks may point anywhere absolute (that is inside the container's
 *    root, where they are resolved), but a relative target that climbs above
 *    the layer's root is refused; hardlinks must name a regular file of the
 *    same layer, reached without a symlink;
 *  - character and block devices and sockets are refused; FIFOs are kept in
 *    layers (refused in an archive being imported);
 *  - file modes are kept except setuid and setgid, stripped from everything
 *    but directories: containers mount their rootfs nosuid anyway, and a
 *    setuid-root file must not sit in the host's store. Owners are kept as
 *    numbers (as root; the runtime idmaps layers). Extended attributes from
 *    the archive are dropped: trusted.overlay.* must never come from an
 *    image, and file capabilities are void under nosuid;
 *  - limits (entries, bytes, expansion ratio) are checked from each header
 *    before anything is written, and on the raw stream as it is read.
 *
 * Whiteouts (layers only): layers are used one by one as overlay lower dirs
 * (shared between images, unpacked once), so OCI whiteouts become overlay's
 * own: ".wh.NAME" a 0/0 character device NAME, ".wh..wh..opq" the xattr
 * trusted.overlay.opaque=y on its directory. Both need root.
 *
 * The uncompressed stream is hashed as it is read (the layer's diff_id) and,
 * when asked, recompressed with zstd (level 3, one thread, checksum: the
 * same input gives the same bytes with the same libzstd).
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include "images/internal.h"

#define BUF_SIZE     (256 * 1024)
#define ZSTD_LEVEL   3
#define WH_PREFIX    ".wh."
#define WH_OPAQUE    ".wh..wh..opq"
#define WH_META	     ".wh..wh."
#define OPAQUE_XATTR "trusted.overlay.opaque"

struct dir_meta {
	char *rel; /* "" is the layer's root */
	size_t seq;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
	bool has_mtime;
};

struct ux {
	struct img_unpack *u;
	struct forge_err *err;
	int rc; /* the read callback's failure, reported by whoever sees libarchive fail */
	struct archive *raw, *tar;
	crypto_hash_sha256_state diff, zst;
	ZSTD_CCtx *cctx;
	unsigned char *in, *zout;
	size_t zout_cap;
	uint64_t compressed, stream, declared, entries;
	uint64_t stream_max; /* headers and padding on top of max_bytes of content */
	bool as_root;
	int parent_fd;	       /* the last parent directory opened (O_PATH), or -1 */
	char parent[PATH_MAX]; /* its path in the layer */
	char shown[256];       /* the current entry's name, printable, for messages */
	struct dir_meta *dirs;
	size_t n_dirs, cap_dirs;
};

static int fail(struct ux *x, int code, const char *fmt, ...) FORGE_PRINTF(3, 4);
static int fail(struct ux *x, int code, const char *fmt, ...)
{
	char why[FORGE_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (x->shown[0])
		return forge_err_set(x->err, code, "%s: entry %s: %s", x->u->what, x->shown, why);
	return forge_err_set(x->err, code, "%s: %s", x->u->what, why);
}

/* Keeps a printable copy of an archive name for messages (names are bytes). */
static void show(struct ux *x, const char *name)
{
	size_t i = 0;
	for (; name && name[i] && i < sizeof(x->shown) - 1; i++)
		x->shown[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
	x->shown[i] = '\0';
}

int img_compression_of(int fd, enum img_compression *out, struct forge_err *err)
{
	unsigned char m[4] = {0};
	ssize_t n = pread(fd, m, sizeof(m), 0);
	if (n < 0)
		return forge_err_errno(err, errno, "read blob header");
	if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
		*out = IMG_ZSTD;
	else if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
		*out = IMG_GZIP;
	else
		*out = IMG_PLAIN;
	return 0;
}

int img_write_all(int fd, const void *buf, size_t len, off_t off, bool at)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = at ? pwrite(fd, p, len, off) : write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Compresses in (or, with end, finishes the frame) into u->zfd. */
static int zstd_feed(struct ux *x, const void *src, size_t len, bool end)
{
	ZSTD_inBuffer in = {src, len, 0};
	size_t left;
	int rc;

	do {
		ZSTD_outBuffer out = {x->zout, x->zout_cap, 0};
		left = ZSTD_compressStream2(x->cctx, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return fail(x, -EIO, "zstd: %s", ZSTD_getErrorName(left));
		rc = img_write_all(x->u->zfd, x->zout, out.pos, 0, false);
		if (rc < 0)
			return forge_err_errno(x->err, -rc, "%s: write compressed layer",
					       x->u->what);
		crypto_hash_sha256_update(&x->zst, x->zout, out.pos);
		x->u->zst_size += out.pos;
	} while (end ? left != 0 : in.pos < in.size);
	return 0;
}

/* Checks an uncompressed byte count against the size limit (max: what it may
 * reach) and the ratio limit. */
static int check_growth(struct ux *x, uint64_t total, uint64_t max, const char *what)
{
	const struct forge_image_limits *l = x->u->lim;
	if (total > max)
		return fail(x, -EFBIG, "%s larger than %llu bytes", what, (unsigned long long)max);
	if (total > l->ratio_floor && x->compressed < total / l->max_ratio)
		return fail(x, -EFBIG,
			    "expands beyond %llux the compressed size of %llu bytes (zip bomb?)",
			    (unsigned long long)l->max_ratio, (unsigned long long)x->compressed);
	return 0;
}

/* The tar reader's input: the decompressed stream, hashed (and recompressed)
 * on the way, so every byte is seen exactly once. */
static la_ssize_t stream_read(struct archive *a, void *data, const void **buf)
{
	struct ux *x = data;
	la_ssize_t n;

	(void)a;
	if (x->rc < 0)
		return -1;
	n = archive_read_data(x->raw, x->in, BUF_SIZE);
	if (n < 0) {
		x->rc = fail(x, -EIO, "truncated or damaged archive (%s)",
			     archive_error_string(x->raw));
		return -1;
	}
	x->stream += (uint64_t)n;
	x->rc = check_growth(x, x->stream, x->stream_max, "tar stream");
	if (x->rc < 0)
		return -1;
	crypto_hash_sha256_update(&x->diff, x->in, (unsigned long long)n);
	if (n > 0 && x->u->zfd >= 0 && (x->rc = zstd_feed(x, x->in, (size_t)n, false)) < 0)
		return -1;
	*buf = x->in;
	return n;
}

/* Normalises archive path p into rel ("./" and empty components dropped, ""
 * for the root); refuses absolute paths and "..". what: "path", "hardlink target". */
static int norm_path(struct ux *x, const char *p, char rel[PATH_MAX], const char *what)
{
	const char *s, *end;
	size_t n = 0, len;

	if (!p || !*p)
		return fail(x, -EINVAL, "empty %s", what);
	if (p[0] == '/')
		return fail(x, -EINVAL, "absolute %s refused", what);
	for (s = p; *s; s = end) {
		while (*s == '/')
			s++;
		end = s + strcspn(s, "/");
		len = (size_t)(end - s);
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return fail(x, -EINVAL, "\"..\" in the %s leads outside the layer", what);
		if (len > NAME_MAX || n + len + 2 > PATH_MAX)
			return fail(x, -ENAMETOOLONG, "%s too long", what);
		if (n)
			rel[n++] = '/';
		memcpy(rel + n, s, len);
		n += len;
	}
	rel[n] = '\0';
	return 0;
}

/* Says why resolving a path of the layer failed (fd: a negative errno). */
static int resolve_fail(struct ux *x, int fd, const char *what)
{
	if (fd == -ELOOP)
		return fail(x, fd, "%s goes through a symlink", what);
	if (fd == -ENOTDIR)
		return fail(x, fd, "%s goes through a non-directory", what);
	return fail(x, fd, "open %s: %s", what, strerror(-fd));
}

/* Opens rel ("" is the root) beneath the layer without following any
 * symlink; -errno without a message. */
static int open_rel_quiet(struct ux *x, const char *rel, int flags)
{
	if (*rel)
		return forge_open_in_root(x->u->dirfd, rel, flags, 0,
					  RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV, NULL);
	int fd = openat(x->u->dirfd, ".", flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int open_rel(struct ux *x, const char *rel, int flags, const char *what)
{
	int fd = open_rel_quiet(x, rel, flags);
	return fd < 0 ? resolve_fail(x, fd, what) : fd;
}

/* The directory holding rel (made if missing, 0755): returns an fd (O_PATH
 * unless flags say otherwise; give it back with put_parent) and points *base
 * at rel's last component. The last O_PATH parent is kept: entries come
 * directory by directory, and a directory, once there, is never replaced. */
static int open_parent(struct ux *x, char *rel, int flags, const char **base)
{
	char *slash = strrchr(rel, '/');
	const char *parent = slash ? rel : "";
	int fd;

	*base = slash ? slash + 1 : rel;
	if (slash)
		*slash = '\0';
	if (flags == O_PATH && x->parent_fd >= 0 && strcmp(x->parent, parent) == 0) {
		fd = x->parent_fd;
		goto out;
	}
	fd = open_rel_quiet(x, parent, flags | O_DIRECTORY);
	if (fd == -ENOENT) {
		fd = forge_mkdir_beneath(x->u->dirfd, parent, 0755, NULL);
		if (fd == 0)
			fd = open_rel_quiet(x, parent, flags | O_DIRECTORY);
	}
	if (fd >= 0 && flags == O_PATH) {
		if (x->parent_fd >= 0)
			close(x->parent_fd);
		x->parent_fd = fd;
		snprintf(x->parent, sizeof(x->parent), "%s", parent);
	}
out:
	if (slash)
		*slash = '/';
	return fd < 0 ? resolve_fail(x, fd, "path") : fd;
}

static void put_parent(struct ux *x, int fd)
{
	if (fd != x->parent_fd)
		close(fd);
}

/* Makes room for a new name: an existing non-directory is replaced (the
 * last entry of a name wins, as with tar), a directory is not. */
static int clear_name(struct ux *x, int pfd, const char *base)
{
	struct stat st;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail(x, -errno, "stat: %s", strerror(errno));
	if (S_ISDIR(st.st_mode))
		return fail(x, -EEXIST, "would replace a directory");
	if (unlinkat(pfd, base, 0) < 0)
		return fail(x, -errno, "replace: %s", strerror(errno));
	return 0;
}

/* A creation at pfd/base failed with e: for EEXIST, makes room (clear_name)
 * and returns 0 to try once more; otherwise fails naming op. */
static int make_room(struct ux *x, int pfd, const char *base, int e, const char *op)
{
	if (e != EEXIST)
		return fail(x, -e, "%s: %s", op, strerror(e));
	return clear_name(x, pfd, base);
}

static bool owners_kept(const struct ux *x)
{
	return x->u->layer && x->as_root;
}

static int owner_of(struct ux *x, struct archive_entry *e, uid_t *uid, gid_t *gid)
{
	int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);
	if (u < 0 || u >= (int64_t)UINT32_MAX || g < 0 || g >= (int64_t)UINT32_MAX)
		return fail(x, -EINVAL, "owner %lld:%lld out of range", (long long)u, (long long)g);
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

static void mtime_of(struct archive_entry *e, struct timespec ts[2])
{
	ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
	ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
}

/* Owner, mode and mtime of a non-directory created at pfd/base (fd >= 0: it, open). */
static int set_meta(struct ux *x, struct archive_entry *e, int fd, int pfd, const char *base,
		    bool is_link)
{
	mode_t mode = archive_entry_perm(e) & 07777 & ~(mode_t)(S_ISUID | S_ISGID);
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int r;

	if (owners_kept(x)) {
		r = owner_of(x, e, &uid, &gid);
		if (r < 0)
			return r;
		r = fd >= 0 ? fchown(fd, uid, gid)
			    : fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW);
		if (r < 0)
			return fail(x, -errno, "chown: %s", strerror(errno));
	}
	if (!is_link && (fd >= 0 ? fchmod(fd, mode) : fchmodat(pfd, base, mode, 0)) < 0)
		return fail(x, -errno, "chmod: %s", strerror(errno));
	if (!archive_entry_mtime_is_set(e))
		return 0;
	mtime_of(e, ts);
	r = fd >= 0 ? futimens(fd, ts) : utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
	if (r < 0)
		return fail(x, -errno, "set mtime: %s", strerror(errno));
	return 0;
}

static int put_file(struct ux *x, struct archive_entry *e, int pfd, const char *base)
{
	int64_t size = archive_entry_size(e), end = 0, off;
	const void *buf;
	size_t len;
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd, r = 0;

	fd = openat(pfd, base, flags, 0600);
	if (fd < 0 && ((r = make_room(x, pfd, base, errno, "create")) < 0 ||
		       (fd = openat(pfd, base, flags, 0600)) < 0))
		return r < 0 ? r : fail(x, -errno, "create: %s", strerror(errno));
	for (;;) {
		r = archive_read_data_block(x->tar, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			r = x->rc < 0 ? x->rc
				      : fail(x, -EIO, "truncated or damaged archive (%s)",
					     archive_error_string(x->tar));
			goto out;
		}
		r = img_write_all(fd, buf, len, off, true);
		if (r < 0) {
			r = fail(x, r, "write: %s", strerror(-r));
			goto out;
		}
		if (off + (int64_t)len > end)
			end = off + (int64_t)len;
	}
	/* A sparse file's last hole. */
	if (end < size && ftruncate(fd, size) < 0) {
		r = fail(x, -errno, "truncate: %s", strerror(errno));
		goto out;
	}
	r = set_meta(x, e, fd, pfd, base, false);
out:
	close(fd);
	return r;
}

static int set_opaque(struct ux *x, int dfd)
{
	if (fsetxattr(dfd, OPAQUE_XATTR, "y", 1, 0) < 0)
		return fail(x, -errno, "opaque directory: set " OPAQUE_XATTR ": %s%s",
			    strerror(errno), errno == EPERM ? " (needs root)" : "");
	return 0;
}

/* A directory replacing a whiteout of the same layer hides what is below. */
static int opaque_at(struct ux *x, int pfd, const char *base)
{
	int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(x, -errno, "open: %s", strerror(errno));
	int r = set_opaque(x, fd);
	close(fd);
	return r;
}

static int put_dir(struct ux *x, struct archive_entry *e, const char *rel, int pfd,
		   const char *base)
{
	struct dir_meta *d;
	bool was_whiteout = false;
	struct stat st;

	if (*rel && mkdirat(pfd, base, 0700) < 0) {
		if (errno != EEXIST)
			return fail(x, -errno, "mkdir: %s", strerror(errno));
		if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return fail(x, -errno, "stat: %s", strerror(errno));
		if (!S_ISDIR(st.st_mode)) {
			was_whiteout = S_ISCHR(st.st_mode) && st.st_rdev == 0;
			if (unlinkat(pfd, base, 0) < 0 || mkdirat(pfd, base, 0700) < 0)
				return fail(x, -errno, "replace with a directory: %s",
					    strerror(errno));
		}
	}
	if (was_whiteout && x->u->layer) {
		int r = opaque_at(x, pfd, base);
		if (r < 0)
			return r;
	}
	/* Modes, owners and times once every entry is in: a 0555 directory
	 * must still take its children, and they would touch its mtime. */
	if (x->n_dirs == x->cap_dirs) {
		size_t cap = x->cap_dirs ? 2 * x->cap_dirs : 256;
		d = reallocarray(x->dirs, cap, sizeof(*d));
		if (!d)
			return fail(x, -ENOMEM, "out of memory");
		x->dirs = d;
		x->cap_dirs = cap;
	}
	d = &x->dirs[x->n_dirs];
	memset(d, 0, sizeof(*d));
	if (!(d->rel = strdup(rel)))
		return fail(x, -ENOMEM, "out of memory");
	x->n_dirs++;
	d->seq = x->n_dirs;
	d->mode = archive_entry_perm(e) & 07777 & ~(mode_t)S_ISUID;
	if (owners_kept(x)) {
		int r = owner_of(x, e, &d->uid, &d->gid);
		if (r < 0)
			return r;
	}
	if ((d->has_mtime = archive_entry_mtime_is_set(e))) {
		struct timespec ts[2];
		mtime_of(e, ts);
		d->mtime = ts[1];
	}
	return 0;
}

/* Whether a relative symlink target, resolved from the directory holding
 * rel, stays beneath the layer's root. */
static bool target_stays_inside(const char *rel, const char *target)
{
	long depth = 0;
	const char *s, *end;

	for (s = rel; (s = strchr(s, '/')); s++)
		depth++;
	for (s = target; *s; s = end) {
		while (*s == '/')
			s++;
		end = s + strcspn(s, "/");
		if (end - s == 2 && s[0] == '.' && s[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (end - s > 0 && !(end - s == 1 && s[0] == '.')) {
			depth++;
		}
	}
	return true;
}

static int put_symlink(struct ux *x, struct archive_entry *e, const char *rel, int pfd,
		       const char *base)
{
	const char *target = archive_entry_symlink(e);
	int r = 0;

	if (!target || !*target || strlen(target) >= PATH_MAX)
		return fail(x, -EINVAL, "symlink without a usable target");
	/* Absolute targets are the container's business; in an archive being
	 * imported nothing but relative links within it makes sense. */
	if ((target[0] == '/' && !x->u->layer) ||
	    (target[0] != '/' && !target_stays_inside(rel, target)))
		return fail(x, -EINVAL, "symlink target \"%.200s\" leads outside the layer",
			    target);
	if (symlinkat(target, pfd, base) < 0 &&
	    ((r = make_room(x, pfd, base, errno, "symlink")) < 0 ||
	     symlinkat(target, pfd, base) < 0))
		return r < 0 ? r : fail(x, -errno, "symlink: %s", strerror(errno));
	return set_meta(x, e, -1, pfd, base, true);
}

static int put_hardlink(struct ux *x, const char *link, int pfd, const char *base)
{
	char trel[PATH_MAX], proc[64];
	struct stat st;
	int tfd, r;

	if (!link[0] || link[0] == '/')
		return fail(x, -EINVAL, "hardlink target \"%.200s\" leads outside the layer", link);
	r = norm_path(x, link, trel, "hardlink target");
	if (r < 0)
		return r;
	tfd = forge_open_in_root(x->u->dirfd, trel, O_PATH | O_NOFOLLOW, 0,
				 RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV, NULL);
	if (tfd == -ENOENT)
		return fail(x, tfd, "hardlink target \"%.200s\" is not in this layer", link);
	if (tfd == -ELOOP)
		return fail(x, tfd, "hardlink target \"%.200s\" goes through a symlink", link);
	if (tfd < 0)
		return fail(x, tfd, "hardlink target \"%.200s\": %s", link, strerror(-tfd));
	if (fstat(tfd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = fail(x, -EINVAL, "hardlink target \"%.200s\" is not a regular file", link);
		goto out;
	}
	/* linkat of an fd without CAP_DAC_READ_SEARCH: through its /proc link. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tfd);
	if (linkat(AT_FDCWD, proc, pfd, base, AT_SYMLINK_FOLLOW) < 0 &&
	    ((r = make_room(x, pfd, base, errno, "hardlink")) < 0 ||
	     linkat(AT_FDCWD, proc, pfd, base, AT_SYMLINK_FOLLOW) < 0))
		r = r < 0 ? r : fail(x, -errno, "hardlink: %s", strerror(errno));
out:
	close(tfd);
	return r;
}

static int put_fifo(struct ux *x, struct archive_entry *e, int pfd, const char *base)
{
	int r = 0;
	if (mknodat(pfd, base, S_IFIFO | 0600, 0) < 0 &&
	    ((r = make_room(x, pfd, base, errno, "mkfifo")) < 0 ||
	     mknodat(pfd, base, S_IFIFO | 0600, 0) < 0))
		return r < 0 ? r : fail(x, -errno, "mkfifo: %s", strerror(errno));
	return set_meta(x, e, -1, pfd, base, false);
}

static int put_whiteout(struct ux *x, char *rel, const char *base)
{
	const char *victim = base + strlen(WH_PREFIX), *b;
	struct stat st;
	int pfd, r = 0;

	if (strcmp(base, WH_OPAQUE) == 0) {
		pfd = open_parent(x, rel, O_RDONLY, &b);
		if (pfd < 0)
			return pfd;
		r = set_opaque(x, pfd);
		put_parent(x, pfd);
		return r;
	}
	/* Other ".wh..wh." names are aufs bookkeeping, meaningless here. */
	if (strncmp(base, WH_META, strlen(WH_META)) == 0)
		return 0;
	if (!forge_name_is_component(victim))
		return fail(x, -EINVAL, "whiteout of an invalid name");
	pfd = open_parent(x, rel, O_PATH, &b);
	if (pfd < 0)
		return pfd;
	if (mknodat(pfd, victim, S_IFCHR, makedev(0, 0)) == 0)
		goto out;
	if (errno != EEXIST) {
		r = fail(x, -errno, "whiteout %s: mknod: %s%s", victim, strerror(errno),
			 errno == EPERM ? " (needs root)" : "");
		goto out;
	}
	/* The same layer has NAME: it already hides the lower one, but a
	 * directory would merge with it unless opaque. */
	if (fstatat(pfd, victim, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		r = opaque_at(x, pfd, victim);
out:
	put_parent(x, pfd);
	return r;
}

static int put_entry(struct ux *x, struct archive_entry *e)
{
	const struct forge_image_limits *l = x->u->lim;
	const char *link = archive_entry_hardlink(e), *base;
	mode_t type = archive_entry_filetype(e);
	char rel[PATH_MAX];
	int pfd, r;

	show(x, archive_entry_pathname(e));
	if (++x->entries > l->max_entries)
		return fail(x, -E2BIG, "more than %llu entries",
			    (unsigned long long)l->max_entries);
	r = norm_path(x, archive_entry_pathname(e), rel, "path");
	if (r < 0)
		return r;
	if (type == AE_IFREG && !link) {
		int64_t size = archive_entry_size(e);
		if (size < 0)
			return fail(x, -EINVAL, "negative size");
		x->declared += (uint64_t)size;
		r = check_growth(x, x->declared, l->max_bytes, "layer");
		if (r < 0)
			return r;
	}
	if (!*rel) {
		if (type != AE_IFDIR)
			return fail(x, -EINVAL, "the root is not a directory");
		return put_dir(x, e, rel, -1, rel);
	}
	base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	if (x->u->layer && strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0)
		return put_whiteout(x, rel, base);
	if (type == AE_IFCHR || type == AE_IFBLK)
		return fail(x, -EPERM, "device node (%s %u:%u) refused",
			    type == AE_IFCHR ? "character" : "block",
			    (unsigned)archive_entry_rdevmajor(e),
			    (unsigned)archive_entry_rdevminor(e));
	/* A FIFO in an archive being imported would only block whoever opens it. */
	if (!link && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK &&
	    !(type == AE_IFIFO && x->u->layer))
		return fail(x, -EPERM, "file type 0%o refused", (unsigned)type);
	pfd = open_parent(x, rel, O_PATH, &base);
	if (pfd < 0)
		return pfd;
	if (link)
		r = put_hardlink(x, link, pfd, base);
	else if (type == AE_IFREG)
		r = put_file(x, e, pfd, base);
	else if (type == AE_IFDIR)
		r = put_dir(x, e, rel, pfd, base);
	else if (type == AE_IFLNK)
		r = put_symlink(x, e, rel, pfd, base);
	else
		r = put_fifo(x, e, pfd, base);
	put_parent(x, pfd);
	return r;
}

/* Children sort after their parents ("a" < "a/b"); among equal paths, the
 * later entry last, so that it wins. */
static int dir_meta_cmp(const void *a, const void *b)
{
	const struct dir_meta *p = a, *q = b;
	int c = strcmp(q->rel, p->rel);
	if (c)
		return c;
	return p->seq < q->seq ? -1 : 1;
}

/* Deepest first, so that a directory without search permission for the
 * caller is closed only after its children are done. */
static int apply_dirs(struct ux *x)
{
	if (x->n_dirs > 1)
		qsort(x->dirs, x->n_dirs, sizeof(*x->dirs), dir_meta_cmp);
	for (size_t i = 0; i < x->n_dirs; i++) {
		struct dir_meta *d = &x->dirs[i];
		show(x, *d->rel ? d->rel : ".");
		int fd = open_rel(x, d->rel, O_RDONLY | O_DIRECTORY, "directory");
		if (fd < 0)
			return fd;
		int r = 0;
		if (owners_kept(x) && fchown(fd, d->uid, d->gid) < 0)
			r = fail(x, -errno, "chown: %s", strerror(errno));
		else if (fchmod(fd, d->mode) < 0)
			r = fail(x, -errno, "chmod: %s", strerror(errno));
		else if (d->has_mtime && futimens(fd, (struct timespec[2]){d->mtime, d->mtime}) < 0)
			r = fail(x, -errno, "set mtime: %s", strerror(errno));
		close(fd);
		if (r < 0)
			return r;
	}
	return 0;
}

static void hex_of(crypto_hash_sha256_state *st, char hex[65])
{
	unsigned char d[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_final(st, d);
	sodium_bin2hex(hex, 65, d, sizeof(d));
}

static int read_entries(struct ux *x)
{
	struct archive_entry *e;
	int r;

	x->tar = archive_read_new();
	if (!x->tar)
		return fail(x, -ENOMEM, "out of memory");
	archive_read_support_format_tar(x->tar);
	if (archive_read_open(x->tar, x, NULL, stream_read, NULL) != ARCHIVE_OK)
		return x->rc < 0 ? x->rc
				 : fail(x, -EINVAL, "not a tar archive (%s)",
					archive_error_string(x->tar));
	for (;;) {
		r = archive_read_next_header(x->tar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return x->rc < 0
				   ? x->rc
				   : fail(x, -EIO, "truncated or damaged archive after it (%s)",
					  archive_error_string(x->tar));
		r = put_entry(x, e);
		if (r < 0)
			return r;
	}
	x->shown[0] = '\0';
	return apply_dirs(x);
}

int img_unpack(int fd, struct img_unpack *u, struct forge_err *err)
{
	struct archive_entry *re;
	const void *b;
	struct stat st;
	struct ux *x;
	int rc = 0;

	x = calloc(1, sizeof(*x));
	if (!x)
		return forge_err_set(err, -ENOMEM, "%s: out of memory", u->what);
	x->u = u;
	x->err = err;
	x->parent_fd = -1;
	x->as_root = geteuid() == 0;
	u->zst_size = 0;
	crypto_hash_sha256_init(&x->diff);
	crypto_hash_sha256_init(&x->zst);
	if (fstat(fd, &st) < 0) {
		rc = forge_err_errno(err, errno, "%s: fstat", u->what);
		goto out;
	}
	x->compressed = (uint64_t)st.st_size;
	/* The stream is the files' bytes plus headers and padding: its own cap
	 * is looser, so that a layer too large is named by its entry first. */
	x->stream_max = u->lim->max_bytes > UINT64_MAX / 2 - (1u << 20)
			    ? UINT64_MAX
			    : 2 * u->lim->max_bytes + (1u << 20);
	x->in = malloc(BUF_SIZE);
	x->zout_cap = ZSTD_CStreamOutSize();
	x->zout = malloc(x->zout_cap);
	x->raw = archive_read_new();
	if (!x->in || !x->zout || !x->raw) {
		rc = fail(x, -ENOMEM, "out of memory");
		goto out;
	}
	if (u->zfd >= 0) {
		x->cctx = ZSTD_createCCtx();
		if (!x->cctx ||
		    ZSTD_isError(
			ZSTD_CCtx_setParameter(x->cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(x->cctx, ZSTD_c_checksumFlag, 1))) {
			rc = fail(x, -ENOMEM, "zstd: cannot set up the compressor");
			goto out;
		}
	}
	/* Decompression alone: the raw format hands over the bytes as they are. */
	archive_read_support_filter_gzip(x->raw);
	archive_read_support_filter_zstd(x->raw);
	archive_read_support_format_raw(x->raw);
	if (archive_read_open_fd(x->raw, fd, BUF_SIZE) != ARCHIVE_OK ||
	    archive_read_next_header(x->raw, &re) != ARCHIVE_OK) {
		rc = fail(x, -EINVAL, "empty or unreadable (%s)", archive_error_string(x->raw));
		goto out;
	}
	if (u->dirfd >= 0) {
		rc = read_entries(x);
		if (rc < 0)
			goto out;
	}
	/* What follows the tar's end is part of the diff_id too. */
	la_ssize_t n;
	while ((n = stream_read(NULL, x, &b)) > 0)
		;
	if (n < 0) {
		rc = x->rc;
		goto out;
	}
	if (u->zfd >= 0) {
		rc = zstd_feed(x, NULL, 0, true);
		if (rc < 0)
			goto out;
	}
	hex_of(&x->diff, u->diff_hex);
	hex_of(&x->zst, u->zst_hex);
out:
	if (x->parent_fd >= 0)
		close(x->parent_fd);
	if (x->tar)
		archive_read_free(x->tar);
	if (x->raw)
		archive_read_free(x->raw);
	ZSTD_freeCCtx(x->cctx);
	for (size_t i = 0; i < x->n_dirs; i++)
		free(x->dirs[i].rel);
	free(x->dirs);
	free(x->in);
	free(x->zout);
	free(x);
	return rc;
}
