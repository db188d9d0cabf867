/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/fs.c: atomic writes (including a crash between write and rename) and
 * confined path access against planted symlinks. Each test gets its own temp
 * directory. The mount-point test needs root and skips without it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"

#define NOBODY 65534

/* cmocka's asserts longjmp into the test runner, which in a forked child
 * would go on running tests there: children report through their exit code. */
static bool in_child;

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			if (in_child)                                                              \
				_exit(99);                                                         \
			fail_msg("%s:%d: %s", __FILE__, __LINE__, #x);                             \
		}                                                                                  \
	} while (0)

struct tmp {
	char path[64];
	int fd;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->path, sizeof(t->path), "/tmp/forge-test-fs-XXXXXX");
	t->fd = mkdtemp(t->path) ? open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (t->fd < 0) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown_tmp(void **state)
{
	struct tmp *t = *state;

	close(t->fd);
	nftw(t->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

static void put(int dirfd, const char *path, const char *content)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0);
	CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	close(fd);
}

/* The whole content of a file below dirfd, in a static buffer. */
static const char *get(int dirfd, const char *path)
{
	static char buf[4096];
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	CHECK(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	CHECK(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static bool exists(int dirfd, const char *path)
{
	struct stat st;

	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int count_entries(int dirfd, const char *prefix)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void test_name_is_component(void **state)
{
	char name[300];

	(void)state;
	assert_true(forge_name_is_component("config.json"));
	assert_true(forge_name_is_component("...x"));
	assert_false(forge_name_is_component(NULL));
	assert_false(forge_name_is_component(""));
	assert_false(forge_name_is_component("."));
	assert_false(forge_name_is_component(".."));
	assert_false(forge_name_is_component("a/b"));
	assert_false(forge_name_is_component("/a"));
	memset(name, 'n', 255);
	name[255] = '\0';
	assert_true(forge_name_is_component(name));
	name[255] = 'n';
	name[256] = '\0';
	assert_false(forge_name_is_component(name));
}

static void test_path_join(void **state)
{
	struct forge_err err = {0};
	char out[32];

	(void)state;
	assert_int_equal(forge_path_join(out, sizeof(out), "/run/forge", "s1/c1", &err), 0);
	assert_string_equal(out, "/run/forge/s1/c1");
	assert_int_equal(forge_path_join(out, sizeof(out), "/run/", "x", &err), 0);
	assert_string_equal(out, "/run/x");
	assert_int_equal(forge_path_join(out, sizeof(out), "/", "etc", &err), 0);
	assert_string_equal(out, "/etc");
	assert_int_equal(forge_path_join(out, sizeof(out), "/r", "/etc", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "/etc"));
	assert_int_equal(forge_path_join(out, sizeof(out), "/r", "..", &err), -EINVAL);
	assert_int_equal(forge_path_join(out, sizeof(out), "/r", "a/../../b", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "a/../../b"));
	assert_int_equal(forge_path_join(out, sizeof(out), "/r", "a/..", &err), -EINVAL);
	assert_int_equal(forge_path_join(out, sizeof(out), "/r", "", &err), -EINVAL);
	assert_int_equal(forge_path_join(out, sizeof(out), "/r", NULL, &err), -EINVAL);
	assert_int_equal(forge_path_join(out, sizeof(out), NULL, "x", &err), -EINVAL);
	/* "..." and "..x" are ordinary names. */
	assert_int_equal(forge_path_join(out, sizeof(out), "/r", ".../..x", &err), 0);
	assert_int_equal(
	    forge_path_join(out, sizeof(out), "/a-long-base-directory", "and-a-long-name", &err),
	    -ENAMETOOLONG);
	assert_string_equal(out, "");
	/* Exactly filling the buffer (31 characters + NUL) still fits. */
	assert_int_equal(
	    forge_path_join(out, sizeof(out), "/0123456789", "0123456789012345678", &err), 0);
}

static void test_atomic_write_replaces(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	struct stat st;
	mode_t old_umask;

	put(t->fd, "conf", "old content that is longer");
	old_umask = umask(077);
	assert_int_equal(forge_atomic_write(t->fd, "conf", "new", 3, 0644, &err), 0);
	umask(old_umask);
	assert_string_equal(get(t->fd, "conf"), "new");
	/* The mode asked for, not the one the umask would give. */
	assert_int_equal(fstatat(t->fd, "conf", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* Nothing but the file itself is left in the directory. */
	assert_int_equal(count_entries(t->fd, ""), 3);
	assert_int_equal(count_entries(t->fd, ".conf"), 0);
	/* Empty content is a valid file. */
	assert_int_equal(forge_atomic_write(t->fd, "empty", NULL, 0, 0600, &err), 0);
	assert_string_equal(get(t->fd, "empty"), "");
}

static void test_atomic_write_through_o_path_fd(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	int pfd = open(t->path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	assert_true(pfd >= 0);
	assert_int_equal(forge_atomic_write(pfd, "k", "v", 1, 0600, &err), 0);
	assert_string_equal(get(t->fd, "k"), "v");
	close(pfd);
}

static void test_atomic_write_bad_cases(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};

	assert_int_equal(forge_atomic_write(t->fd, "a/b", "x", 1, 0644, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "a/b"));
	assert_int_equal(forge_atomic_write(t->fd, "..", "x", 1, 0644, &err), -EINVAL);
	assert_int_equal(forge_atomic_write(t->fd, "", "x", 1, 0644, &err), -EINVAL);
	/* A failing rename (over a directory) cleans its temp file up. */
	assert_int_equal(mkdirat(t->fd, "dir", 0755), 0);
	assert_true(forge_atomic_write(t->fd, "dir", "x", 1, 0644, &err) < 0);
	assert_non_null(strstr(err.msg, "dir"));
	assert_int_equal(count_entries(t->fd, ".dir"), 0);
}

static void crash_hook(void)
{
	_exit(0);
}

static void test_atomic_write_crash_keeps_old(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	char tmpname[300] = "";
	int status, fd;
	struct dirent *de;
	pid_t pid;
	DIR *d;

	put(t->fd, "state.json", "{\"old\":true}");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		forge_atomic_write_hook = crash_hook;
		forge_atomic_write(t->fd, "state.json", "{\"new\":true}", 12, 0644, NULL);
		_exit(1); /* the hook did not run */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(get(t->fd, "state.json"), "{\"old\":true}");
	/* The crash left the complete new content in the temp file (it was written
	 * and fsync'd before the hook), under the documented temp name. */
	fd = openat(t->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fdopendir(fd);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strncmp(de->d_name, ".state.json.", 12) == 0)
			snprintf(tmpname, sizeof(tmpname), "%s", de->d_name);
	closedir(d);
	assert_int_equal(strlen(tmpname), strlen(".state.json.") + 16 + strlen(".tmp"));
	assert_string_equal(tmpname + strlen(tmpname) - 4, ".tmp");
	assert_string_equal(get(t->fd, tmpname), "{\"new\":true}");
	/* The next write, without a crash, succeeds over the leftover. */
	assert_int_equal(forge_atomic_write(t->fd, "state.json", "{\"new\":true}", 12, 0644, &err),
			 0);
	assert_string_equal(get(t->fd, "state.json"), "{\"new\":true}");
}

static void test_open_beneath_rejects_escapes(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	const char *bad[] = {"../x", "/etc/passwd", "a/../../x", "a/..", ".."};
	size_t i;

	assert_int_equal(mkdirat(t->fd, "a", 0755), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		forge_err_clear(&err);
		assert_int_equal(forge_open_beneath(t->fd, bad[i], O_RDONLY, 0, &err), -EINVAL);
		assert_int_equal(err.code, -EINVAL);
		assert_non_null(strstr(err.msg, bad[i]));
	}
	assert_int_equal(forge_open_beneath(t->fd, "", O_RDONLY, 0, &err), -EINVAL);
	assert_int_equal(forge_open_beneath(t->fd, NULL, O_RDONLY, 0, &err), -EINVAL);
}

static void test_open_beneath_refuses_symlinks_out(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	char buf[16];
	int fd;

	assert_int_equal(symlinkat("/etc", t->fd, "etc"), 0);
	assert_int_equal(symlinkat("/etc/passwd", t->fd, "abs"), 0);
	assert_int_equal(symlinkat("../../../../etc/passwd", t->fd, "up"), 0);
	assert_int_equal(forge_open_beneath(t->fd, "etc/passwd", O_RDONLY, 0, &err), -EXDEV);
	assert_non_null(strstr(err.msg, "etc/passwd"));
	assert_int_equal(forge_open_beneath(t->fd, "abs", O_RDONLY, 0, &err), -EXDEV);
	assert_non_null(strstr(err.msg, "abs"));
	assert_int_equal(forge_open_beneath(t->fd, "up", O_RDONLY, 0, &err), -EXDEV);
	/* A symlink that stays inside is fine. */
	assert_int_equal(mkdirat(t->fd, "sub", 0755), 0);
	put(t->fd, "sub/file", "inside");
	assert_int_equal(symlinkat("sub/file", t->fd, "in"), 0);
	fd = forge_open_beneath(t->fd, "in", O_RDONLY, 0, &err);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

static void test_open_beneath_refuses_magic_links(void **state)
{
	struct forge_err err = {0};
	int procfd, fd;

	(void)state;
	procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(procfd >= 0);
	/* "self" is an ordinary symlink and stays beneath /proc ... */
	fd = forge_open_beneath(procfd, "self/status", O_RDONLY, 0, &err);
	assert_true(fd >= 0);
	close(fd);
	/* ... but fd/N is a magic link that could jump anywhere. */
	assert_int_equal(forge_open_beneath(procfd, "self/fd/0", O_RDONLY, 0, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "self/fd/0"));
	close(procfd);
}

static void test_open_beneath_create_and_missing(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	struct stat st;
	int fd;

	fd = forge_open_beneath(t->fd, "new", O_WRONLY | O_CREAT | O_EXCL, 0600, &err);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	close(fd);
	assert_int_equal(forge_open_beneath(t->fd, "missing/file", O_RDONLY, 0, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing/file"));
}

static void test_open_in_root_resolves_inside(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	char buf[32] = "";
	int fd;

	assert_int_equal(mkdirat(t->fd, "etc", 0755), 0);
	put(t->fd, "etc/passwd", "container passwd");
	assert_int_equal(symlinkat("/etc/passwd", t->fd, "link"), 0);
	/* The absolute symlink lands in the root's /etc, not the host's. */
	fd = forge_open_in_root(t->fd, "link", O_RDONLY, 0, 0, &err);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 16);
	assert_string_equal(buf, "container passwd");
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	/* Absolute paths are relative to the root here. */
	fd = forge_open_in_root(t->fd, "/etc/passwd", O_RDONLY, 0, 0, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(forge_open_in_root(t->fd, "../etc/passwd", O_RDONLY, 0, 0, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "../etc/passwd"));
	/* Extra resolve flags are passed on. */
	assert_int_equal(forge_open_in_root(t->fd, "link", O_RDONLY, 0, RESOLVE_NO_SYMLINKS, &err),
			 -ELOOP);
}

static void test_mkdir_beneath(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	struct stat st;
	mode_t old_umask;

	old_umask = umask(077);
	assert_int_equal(forge_mkdir_beneath(t->fd, "a/b//c/", 0750, &err), 0);
	umask(old_umask);
	assert_int_equal(fstatat(t->fd, "a/b/c", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(fstatat(t->fd, "a", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	/* Existing directories are fine and keep their mode. */
	assert_int_equal(fchmodat(t->fd, "a", 0711, 0), 0);
	assert_int_equal(forge_mkdir_beneath(t->fd, "a/b/c/d", 0700, &err), 0);
	assert_int_equal(fstatat(t->fd, "a", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0711);
	assert_true(exists(t->fd, "a/b/c/d"));
	assert_int_equal(forge_mkdir_beneath(t->fd, "../x", 0755, &err), -EINVAL);
	assert_int_equal(forge_mkdir_beneath(t->fd, "/x", 0755, &err), -EINVAL);
	put(t->fd, "file", "");
	assert_int_equal(forge_mkdir_beneath(t->fd, "file/x", 0755, &err), -ENOTDIR);
	assert_non_null(strstr(err.msg, "file"));
}

static void test_mkdir_beneath_refuses_symlink(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	int out;

	assert_int_equal(mkdirat(t->fd, "outside", 0755), 0);
	assert_int_equal(mkdirat(t->fd, "root", 0755), 0);
	out = openat(t->fd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(out >= 0);
	/* Absolute and relative links, to a directory that exists. */
	assert_int_equal(symlinkat(t->path, out, "abs"), 0);
	assert_int_equal(symlinkat("../outside", out, "rel"), 0);
	assert_int_equal(forge_mkdir_beneath(out, "abs/outside/x", 0755, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "abs"));
	assert_int_equal(forge_mkdir_beneath(out, "rel/x", 0755, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "symlink"));
	assert_int_equal(forge_mkdir_beneath(out, "rel", 0755, &err), -ELOOP);
	assert_false(exists(t->fd, "outside/x"));
	close(out);
}

/* A tree with nested directories, a 000 directory and symlinks pointing
 * outside it (to a file and to a directory). */
static void make_tree(int dirfd, const char *outside_dir)
{
	char target[128];

	CHECK(mkdirat(dirfd, "tree", 0755) == 0);
	CHECK(mkdirat(dirfd, "tree/a", 0755) == 0);
	CHECK(mkdirat(dirfd, "tree/a/b", 0755) == 0);
	put(dirfd, "tree/a/b/file", "x");
	put(dirfd, "tree/top", "y");
	snprintf(target, sizeof(target), "%s/target", outside_dir);
	CHECK(symlinkat(target, dirfd, "tree/a/to-file") == 0);
	CHECK(symlinkat(outside_dir, dirfd, "tree/a/b/to-dir") == 0);
	CHECK(symlinkat("../../../target", dirfd, "tree/a/b/rel") == 0);
	CHECK(mkdirat(dirfd, "tree/locked", 0755) == 0);
	CHECK(mkdirat(dirfd, "tree/locked/inner", 0755) == 0);
	put(dirfd, "tree/locked/inner/f", "z");
	CHECK(fchmodat(dirfd, "tree/locked/inner", 0, 0) == 0);
	CHECK(fchmodat(dirfd, "tree/locked", 0500, 0) == 0);
}

static void test_remove_tree_keeps_symlink_targets(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};

	put(t->fd, "target", "precious");
	make_tree(t->fd, t->path);
	assert_int_equal(forge_remove_tree(t->fd, "tree", &err), 0);
	assert_false(exists(t->fd, "tree"));
	assert_true(exists(t->fd, "target"));
	assert_string_equal(get(t->fd, "target"), "precious");
	/* Missing is not an error. */
	assert_int_equal(forge_remove_tree(t->fd, "tree", &err), 0);
	/* A symlink at the top is removed, its target directory is not. */
	assert_int_equal(mkdirat(t->fd, "keep", 0755), 0);
	put(t->fd, "keep/f", "k");
	assert_int_equal(symlinkat("keep", t->fd, "link"), 0);
	assert_int_equal(forge_remove_tree(t->fd, "link", &err), 0);
	assert_false(exists(t->fd, "link"));
	assert_true(exists(t->fd, "keep/f"));
	/* A plain file at the top is removed. */
	assert_int_equal(forge_remove_tree(t->fd, "target", &err), 0);
	assert_false(exists(t->fd, "target"));
	assert_int_equal(forge_remove_tree(t->fd, "keep/f", &err), -EINVAL);
	assert_int_equal(forge_remove_tree(t->fd, "..", &err), -EINVAL);
}

/* As an unprivileged owner, a 000 directory cannot be read without a chmod. */
static void test_remove_tree_unprivileged(void **state)
{
	struct tmp *t = *state;
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		test_remove_tree_keeps_symlink_targets(state);
		return;
	}
	assert_int_equal(fchown(t->fd, NOBODY, NOBODY), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct forge_err err = {0};

		in_child = true;
		if (setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(10);
		put(t->fd, "target", "precious");
		make_tree(t->fd, t->path);
		if (forge_remove_tree(t->fd, "tree", &err) < 0) {
			fprintf(stderr, "remove_tree as nobody: %s\n", err.msg);
			_exit(11);
		}
		_exit(exists(t->fd, "tree") ? 12 : !exists(t->fd, "target") ? 13 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Runs in a private mount namespace so nothing leaks on failure. */
static int remove_tree_mount_child(struct tmp *t)
{
	struct forge_err err = {0};
	char mnt[128], src[128];
	int subfd;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 20;
	/* An fd opened before unshare walks the old namespace's mounts. */
	close(t->fd);
	t->fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(t->fd >= 0);
	CHECK(mkdirat(t->fd, "tree", 0755) == 0);
	CHECK(mkdirat(t->fd, "tree/sub", 0755) == 0);
	CHECK(mkdirat(t->fd, "tree/sub/mnt", 0755) == 0);
	snprintf(mnt, sizeof(mnt), "%s/tree/sub/mnt", t->path);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0)
		return 21;
	put(t->fd, "tree/sub/mnt/data", "on tmpfs");
	if (forge_remove_tree(t->fd, "tree", &err) != -EBUSY || !strstr(err.msg, "tree/sub/mnt"))
		return 22;
	if (!exists(t->fd, "tree/sub/mnt/data"))
		return 23;
	if (umount(mnt) < 0)
		return 24;
	/* A bind mount of the same filesystem has the same st_dev: still refused. */
	CHECK(mkdirat(t->fd, "elsewhere", 0755) == 0);
	put(t->fd, "elsewhere/data", "bound");
	snprintf(src, sizeof(src), "%s/elsewhere", t->path);
	if (mount(src, mnt, NULL, MS_BIND, NULL) < 0)
		return 25;
	if (forge_remove_tree(t->fd, "tree", &err) != -EBUSY)
		return 26;
	if (!exists(t->fd, "elsewhere/data"))
		return 27;
	/* The mount point itself as the top is refused too. */
	subfd = openat(t->fd, "tree/sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (subfd < 0 || forge_remove_tree(subfd, "mnt", &err) != -EBUSY)
		return 28;
	close(subfd);
	if (umount(mnt) < 0)
		return 29;
	return forge_remove_tree(t->fd, "tree", &err) == 0 && !exists(t->fd, "tree") ? 0 : 30;
}

static void test_remove_tree_refuses_mount_points(void **state)
{
	struct tmp *t = *state;
	int status;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		in_child = true;
		_exit(remove_tree_mount_child(t));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 20)
		skip(); /* no mount namespace here (nested container) */
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_read_file(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	char *out = (char *)1;
	int procfd;
	size_t len = 99;

	put(t->fd, "small", "hello");
	assert_int_equal(forge_read_file(t->fd, "small", &out, &len, 5, &err), 0);
	assert_string_equal(out, "hello");
	assert_int_equal(len, 5);
	free(out);
	assert_int_equal(forge_read_file(t->fd, "small", &out, &len, 4, &err), -EFBIG);
	assert_null(out);
	assert_non_null(strstr(err.msg, "small"));
	assert_int_equal(forge_read_file(t->fd, "/etc/hostname", &out, NULL, 100, &err), -EINVAL);
	assert_int_equal(forge_read_file(t->fd, "nope", &out, NULL, 100, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "nope"));
	/* procfs reports size 0: the bound must hold while reading. */
	procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(procfd >= 0);
	assert_int_equal(forge_read_file(procfd, "self/status", &out, &len, 16, &err), -EFBIG);
	assert_int_equal(forge_read_file(procfd, "self/status", &out, &len, 1 << 20, &err), 0);
	assert_int_equal(strlen(out), len);
	assert_non_null(strstr(out, "Pid:"));
	free(out);
	close(procfd);
}

static void test_write_knob(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};

	put(t->fd, "pids.max", "max");
	assert_int_equal(forge_write_knob(t->fd, "pids.max", "64", &err), 0);
	assert_string_equal(get(t->fd, "pids.max"), "64x");
	assert_int_equal(forge_write_knob(t->fd, "memory.max", "1G", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "memory.max"));
	assert_non_null(strstr(err.msg, "1G"));
	assert_int_equal(symlinkat("pids.max", t->fd, "planted"), 0);
	assert_int_equal(forge_write_knob(t->fd, "planted", "1", &err), -ELOOP);
	assert_int_equal(forge_write_knob(t->fd, "pids.max", NULL, &err), -EINVAL);
}

#define TMP_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_tmp, teardown_tmp)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_is_component),
	    cmocka_unit_test(test_path_join),
	    TMP_TEST(test_atomic_write_replaces),
	    TMP_TEST(test_atomic_write_through_o_path_fd),
	    TMP_TEST(test_atomic_write_bad_cases),
	    TMP_TEST(test_atomic_write_crash_keeps_old),
	    TMP_TEST(test_open_beneath_rejects_escapes),
	    TMP_TEST(test_open_beneath_refuses_symlinks_out),
	    cmocka_unit_test(test_open_beneath_refuses_magic_links),
	    TMP_TEST(test_open_beneath_create_and_missing),
	    TMP_TEST(test_open_in_root_resolves_inside),
	    TMP_TEST(test_mkdir_beneath),
	    TMP_TEST(test_mkdir_beneath_refuses_symlink),
	    TMP_TEST(test_remove_tree_keeps_symlink_targets),
	    TMP_TEST(test_remove_tree_unprivileged),
	    TMP_TEST(test_remove_tree_refuses_mount_points),
	    TMP_TEST(test_read_file),
	    TMP_TEST(test_write_knob),
	};

	return cmocka_run_group_tests_name("common_fs", tests, NULL, NULL);
}
