/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files: atomic replace, and path access confined to a directory. Container
 * rootfs trees are attacker-controlled, so every walk here goes through
 * openat2() resolve flags or O_NOFOLLOW: a planted symlink fails, it is never
 * followed to a host path.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/common.h"

/* openat2 returns EAGAIN when a concurrent rename or mount might have let a
 * resolution escape; the kernel documents retrying. */
#define FS_OPENAT2_TRIES  8
#define FS_RESOLVE_STRICT (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

void (*forge_atomic_write_hook)(void);

bool forge_name_is_component(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strnlen(s, NAME_MAX + 1);
	if (n == 0 || n > NAME_MAX || strchr(s, '/'))
		return false;
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Checks up front what the kernel would also refuse, so the message says why:
 * an empty path, an absolute one (unless allowed) or any ".." component. */
static int fs_check_rel(const char *what, const char *path, bool allow_abs, struct forge_err *err)
{
	const char *p, *end;

	if (!path || !*path)
		return forge_err_set(err, -EINVAL, "%s: empty path", what);
	if (!allow_abs && path[0] == '/')
		return forge_err_set(err, -EINVAL, "%s %s: absolute path not allowed", what, path);
	for (p = path; *p; p = end) {
		while (*p == '/')
			p++;
		end = p + strcspn(p, "/");
		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			return forge_err_set(err, -EINVAL, "%s %s: \"..\" component not allowed",
					     what, path);
	}
	return 0;
}

static int fs_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
	struct open_how how = {
	    .flags = (unsigned int)(flags | O_CLOEXEC),
	    .resolve = resolve,
	};
	long fd;
	int tries;

	/* openat2, unlike openat, rejects a mode without O_CREAT or O_TMPFILE. */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		how.mode = mode & 07777;
	for (tries = 1;; tries++) {
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if ((errno != EAGAIN && errno != EINTR) || tries == FS_OPENAT2_TRIES)
			return -errno;
	}
}

static int fs_open_confined(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve,
			    struct forge_err *err)
{
	bool beneath = resolve & RESOLVE_BENEATH;
	int fd;

	fd = fs_check_rel("open", path, !beneath, err);
	if (fd < 0)
		return fd;
	fd = fs_openat2(dirfd, path, flags, mode, resolve);
	if (fd == -EXDEV && beneath)
		return forge_err_set(err, fd, "open %s: leads outside its directory", path);
	if (fd < 0)
		return forge_err_errno(err, fd, "open %s", path);
	return fd;
}

int forge_open_beneath(int dirfd, const char *path, int flags, mode_t mode, struct forge_err *err)
{
	return fs_open_confined(dirfd, path, flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
				err);
}

int forge_open_in_root(int rootfd, const char *path, int flags, mode_t mode, uint64_t extra_resolve,
		       struct forge_err *err)
{
	return fs_open_confined(rootfd, path, flags, mode,
				RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve, err);
}

int forge_path_join(char *out, size_t outsz, const char *base, const char *rel,
		    struct forge_err *err)
{
	const char *sep;
	size_t blen;
	int n, rc;

	if (!out || outsz == 0 || !base)
		return forge_err_set(err, -EINVAL, "path join: no output buffer or base");
	out[0] = '\0';
	rc = fs_check_rel("path join", rel, false, err);
	if (rc < 0)
		return rc;
	blen = strlen(base);
	sep = blen && base[blen - 1] != '/' ? "/" : "";
	n = snprintf(out, outsz, "%s%s%s", base, sep, rel);
	if (n < 0 || (size_t)n >= outsz) {
		out[0] = '\0';
		return forge_err_set(err, -ENAMETOOLONG, "path join %s + %s: longer than %zu bytes",
				     base, rel, outsz - 1);
	}
	return 0;
}

static int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int forge_atomic_write(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		       struct forge_err *err)
{
	char tmp[NAME_MAX + 1], rnd[17];
	bool tmp_exists = false;
	int dfd, fd = -1, rc;

	if (!forge_name_is_component(name))
		return forge_err_set(err, -EINVAL, "atomic write: bad file name \"%s\"",
				     name ? name : "(null)");
	if (!data && len)
		return forge_err_set(err, -EINVAL, "atomic write %s: no data", name);
	/* A real directory fd: dirfd may be AT_FDCWD or O_PATH, which fsync refuses. */
	dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return forge_err_errno(err, errno, "atomic write %s: open directory", name);
	/* The temp name must itself fit in NAME_MAX; the random part makes it unique. */
	forge_random_hex(rnd, 16);
	snprintf(tmp, sizeof(tmp), ".%.200s.%s.tmp", name, rnd);
	fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
	if (fd < 0) {
		rc = forge_err_errno(err, errno, "atomic write %s: create %s", name, tmp);
		goto out;
	}
	tmp_exists = true;
	/* The umask must not decide the mode of a key or config file. */
	if (fchmod(fd, mode & 07777) < 0) {
		rc = forge_err_errno(err, errno, "atomic write %s: chmod", name);
		goto out;
	}
	rc = fs_write_all(fd, data, len);
	if (rc < 0) {
		forge_err_errno(err, rc, "atomic write %s: write", name);
		goto out;
	}
	if (fsync(fd) < 0) {
		rc = forge_err_errno(err, errno, "atomic write %s: fsync", name);
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc < 0) {
		rc = forge_err_errno(err, errno, "atomic write %s: close", name);
		goto out;
	}
	if (forge_atomic_write_hook)
		forge_atomic_write_hook();
	if (renameat(dfd, tmp, dfd, name) < 0) {
		rc = forge_err_errno(err, errno, "atomic write %s: rename", name);
		goto out;
	}
	tmp_exists = false;
	/* Makes the rename itself durable. */
	rc = 0;
	if (fsync(dfd) < 0)
		rc = forge_err_errno(err, errno, "atomic write %s: fsync directory", name);
out:
	if (fd >= 0)
		close(fd);
	if (tmp_exists)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return rc;
}

/* One step of mkdir -p: creates name in dirfd if missing and returns an fd for
 * it. An existing symlink is refused (ELOOP), never walked through. */
static int fs_mkdir_step(int dirfd, const char *name, mode_t mode)
{
	int fd, rc;

	if (mkdirat(dirfd, name, mode & 07777) == 0) {
		/* mkdirat applied the umask; fix the mode through an fd that is
		 * certainly the new directory, not something swapped in since. */
		fd = fs_openat2(dirfd, name, O_RDONLY | O_DIRECTORY, 0, FS_RESOLVE_STRICT);
		if (fd >= 0) {
			if (fchmod(fd, mode & 07777) == 0)
				return fd;
			rc = -errno;
			close(fd);
			return rc;
		}
		/* A mode without owner read (as non-root): keep the umask'd mode. */
		if (fd != -EACCES)
			return fd;
	} else if (errno != EEXIST) {
		return -errno;
	}
	return fs_openat2(dirfd, name, O_PATH | O_DIRECTORY, 0, FS_RESOLVE_STRICT);
}

int forge_mkdir_beneath(int dirfd, const char *rel, mode_t mode, struct forge_err *err)
{
	char name[NAME_MAX + 1];
	const char *p, *end;
	int cur = dirfd, next, rc;
	size_t n;

	rc = fs_check_rel("mkdir", rel, false, err);
	if (rc < 0)
		return rc;
	for (p = rel; *p; p = end) {
		while (*p == '/')
			p++;
		end = p + strcspn(p, "/");
		n = (size_t)(end - p);
		if (n == 0 || (n == 1 && *p == '.'))
			continue;
		if (n > NAME_MAX) {
			rc = forge_err_set(err, -ENAMETOOLONG, "mkdir %s: component too long", rel);
			break;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		next = fs_mkdir_step(cur, name, mode);
		if (next == -ELOOP) {
			rc = forge_err_set(err, next, "mkdir %.*s: is a symlink, not followed",
					   (int)(end - rel), rel);
			break;
		}
		if (next < 0) {
			rc = forge_err_errno(err, next, "mkdir %.*s", (int)(end - rel), rel);
			break;
		}
		if (cur != dirfd)
			close(cur);
		cur = next;
	}
	if (cur != dirfd)
		close(cur);
	return rc;
}

/* ------------------------------------------------------------ remove tree */

struct fs_rm {
	dev_t dev; /* of the top directory */
	struct forge_err *err;
	char path[FORGE_PATH_MAX]; /* what is being removed, for messages */
};

/* -EBUSY when the directory at fd belongs to another filesystem than the top
 * or is the root of a mount (which catches a bind mount of the same
 * filesystem too). Checked before anything in it is changed. */
static int fs_rm_check_fs(int fd, bool top, struct fs_rm *rm, mode_t *mode)
{
	struct statx stx;
	dev_t dev;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_MODE, &stx) < 0)
		return forge_err_errno(rm->err, errno, "remove %s: statx", rm->path);
	dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	if (top)
		rm->dev = dev;
	if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return forge_err_set(rm->err, -EBUSY, "remove %s: is a mount point", rm->path);
	if (dev != rm->dev)
		return forge_err_set(rm->err, -EBUSY, "remove %s: on another filesystem", rm->path);
	*mode = stx.stx_mode;
	return 0;
}

/* A readable fd for the directory at pathfd (O_PATH, already checked). */
static int fs_rm_open_dir(int pathfd, mode_t mode, struct fs_rm *rm)
{
	char proc[32];
	int fd;

	/* A non-root owner can neither read nor empty a 000 directory; it is
	 * going anyway. chmod through /proc because fchmod refuses O_PATH fds and
	 * a name could have been swapped since the check. Root needs none of it. */
	if ((mode & S_IRWXU) != S_IRWXU && geteuid() != 0) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
		(void)!chmod(proc, (mode & 07777) | S_IRWXU);
	}
	fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return forge_err_errno(rm->err, errno, "remove %s: open", rm->path);
	return fd;
}

static int fs_rm_node(int dfd, const char *name, unsigned char type, bool top, struct fs_rm *rm);

/* Removes everything in the directory open at fd (consumed). */
static int fs_rm_contents(int fd, struct fs_rm *rm)
{
	size_t len = strlen(rm->path);
	struct dirent *de;
	int rc = 0;
	DIR *d;

	d = fdopendir(fd);
	if (!d) {
		rc = forge_err_errno(rm->err, errno, "remove %s: opendir", rm->path);
		close(fd);
		return rc;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc =
				    forge_err_errno(rm->err, errno, "remove %s: readdir", rm->path);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(rm->path + len, sizeof(rm->path) - len, "/%s", de->d_name);
		rc = fs_rm_node(dirfd(d), de->d_name, de->d_type, false, rm);
		if (rc < 0)
			break;
		rm->path[len] = '\0';
	}
	closedir(d);
	return rc;
}

static int fs_rm_node(int dfd, const char *name, unsigned char type, bool top, struct fs_rm *rm)
{
	int pathfd = -ENOTDIR, fd, rc;
	mode_t mode;

	if (type == DT_DIR || type == DT_UNKNOWN) {
		pathfd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (pathfd < 0)
			pathfd = errno == ELOOP ? -ENOTDIR : -errno;
	}
	if (pathfd == -ENOENT)
		return 0;
	if (pathfd == -ENOTDIR) {
		/* Files, sockets, devices and symlinks: the link itself goes, never its target. */
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			return forge_err_errno(rm->err, errno, "remove %s", rm->path);
		return 0;
	}
	if (pathfd < 0)
		return forge_err_errno(rm->err, pathfd, "remove %s: open", rm->path);
	rc = fs_rm_check_fs(pathfd, top, rm, &mode);
	fd = rc < 0 ? rc : fs_rm_open_dir(pathfd, mode, rm);
	close(pathfd);
	if (fd < 0)
		return fd;
	rc = fs_rm_contents(fd, rm);
	if (rc < 0)
		return rc;
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return forge_err_errno(rm->err, errno, "remove %s", rm->path);
	return 0;
}

int forge_remove_tree(int dirfd, const char *name, struct forge_err *err)
{
	struct fs_rm *rm;
	int rc;

	if (!forge_name_is_component(name))
		return forge_err_set(err, -EINVAL, "remove: bad name \"%s\"",
				     name ? name : "(null)");
	/* FORGE_PATH_MAX of message buffer is too much for a thread's stack. */
	rm = calloc(1, sizeof(*rm));
	if (!rm)
		return forge_err_set(err, -ENOMEM, "remove %s: out of memory", name);
	rm->err = err;
	snprintf(rm->path, sizeof(rm->path), "%s", name);
	rc = fs_rm_node(dirfd, name, DT_UNKNOWN, true, rm);
	free(rm);
	return rc;
}

/* ------------------------------------------------------------ small files */

/* Reads all of fd (at most max bytes) into a NUL-terminated buffer. */
int forge_read_fd(int fd, const char *path, char **out, size_t *len, size_t max,
			   struct forge_err *err)
{
	size_t cap, used = 0;
	char *buf = NULL, *grown;
	struct stat st;
	int rc = 0;
	ssize_t n;

	/* Room for doubling, the overflow probe byte and the NUL. */
	if (max > SIZE_MAX / 4)
		max = SIZE_MAX / 4;
	if (fstat(fd, &st) < 0)
		return forge_err_errno(err, errno, "read %s: fstat", path);
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max)
		return forge_err_set(err, -EFBIG, "read %s: %jd bytes, more than the %zu allowed",
				     path, (intmax_t)st.st_size, max);
	/* /proc and sysfs files report size 0 or 4096: only a hint. One byte
	 * more than max is read to tell "exactly max" from "too big". */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 4096;
	cap = (cap < max ? cap : max) + 1;
	buf = malloc(cap + 1);
	if (!buf)
		return forge_err_set(err, -ENOMEM, "read %s: out of memory", path);
	for (;;) {
		if (used == cap) {
			if (cap > max) {
				rc = forge_err_set(err, -EFBIG, "read %s: more than %zu bytes",
						   path, max);
				goto out;
			}
			cap = cap * 2 < max + 1 ? cap * 2 : max + 1;
			grown = realloc(buf, cap + 1);
			if (!grown) {
				rc = forge_err_set(err, -ENOMEM, "read %s: out of memory", path);
				goto out;
			}
			buf = grown;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = forge_err_errno(err, errno, "read %s", path);
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = used;
out:
	free(buf);
	return rc;
}

int forge_read_file(int dirfd, const char *path, char **out, size_t *len, size_t max,
		    struct forge_err *err)
{
	*out = NULL;
	if (len)
		*len = 0;
	int fd = forge_open_beneath(dirfd, path, O_RDONLY | O_NOCTTY, 0, err);
	if (fd < 0)
		return fd;
	int rc = forge_read_fd(fd, path, out, len, max, err);
	close(fd);
	return rc;
}

int forge_read_knob(int dirfd, const char *path, char **out, size_t *len, size_t max,
		    struct forge_err *err)
{
	*out = NULL;
	if (len)
		*len = 0;
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return forge_err_errno(err, errno, "read %s", path);
	int rc = forge_read_fd(fd, path, out, len, max, err);
	close(fd);
	return rc;
}

int forge_write_knob(int dirfd, const char *path, const char *value, struct forge_err *err)
{
	size_t len;
	ssize_t n;
	int fd, rc = 0;

	if (!path || !value)
		return forge_err_set(err, -EINVAL, "write knob: no path or value");
	/* Knobs are never symlinks; O_NOFOLLOW keeps a planted one from redirecting us. */
	fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return forge_err_errno(err, errno, "write \"%s\" to %s", value, path);
	len = strlen(value);
	/* One write: a kernel knob parses each write(2) as one whole value. */
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		rc = forge_err_errno(err, errno, "write \"%s\" to %s", value, path);
	else if ((size_t)n != len)
		rc = forge_err_set(err, -EIO, "write \"%s\" to %s: short write (%zd of %zu bytes)",
				   value, path, n, len);
	close(fd);
	return rc;
}
