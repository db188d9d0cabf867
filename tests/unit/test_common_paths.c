/* SPDX-License-Identifier: Apache-2.0 */
/* common/paths.c: the FORGE_ROOT layout and the kernel object prefix. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"

static int clear_env(void **state)
{
	(void)state;
	unsetenv("FORGE_ROOT");
	unsetenv("FORGE_PREFIX");
	return 0;
}

static void test_default_root(void **state)
{
	struct forge_err err = {0};
	struct forge_paths p;

	(void)state;
	assert_int_equal(forge_paths_init(&p, NULL, NULL, &err), 0);
	assert_string_equal(p.root, "/");
	assert_string_equal(p.etc, "/etc/forge");
	assert_string_equal(p.lib, "/var/lib/forge");
	assert_string_equal(p.run, "/run/forge");
	assert_string_equal(p.prefix, "forge");
	assert_int_equal(forge_paths_init(&p, "/", "f2", &err), 0);
	assert_string_equal(p.etc, "/etc/forge");
	assert_string_equal(p.prefix, "f2");
}

static void test_root_is_normalised(void **state)
{
	struct forge_err err = {0};
	struct forge_paths p;

	(void)state;
	assert_int_equal(forge_paths_init(&p, "/tmp/x/", NULL, &err), 0);
	assert_string_equal(p.root, "/tmp/x");
	assert_string_equal(p.etc, "/tmp/x/etc/forge");
	assert_string_equal(p.lib, "/tmp/x/var/lib/forge");
	assert_string_equal(p.run, "/tmp/x/run/forge");
	assert_int_equal(forge_paths_init(&p, "//a//./b///", NULL, &err), 0);
	assert_string_equal(p.root, "/a/b");
	/* Only "." goes; ".." is not resolved lexically (symlinks), and dot-names stay. */
	assert_int_equal(forge_paths_init(&p, "/a/./.b/../c/.", NULL, &err), 0);
	assert_string_equal(p.root, "/a/.b/../c");
	assert_int_equal(forge_paths_init(&p, "///", NULL, &err), 0);
	assert_string_equal(p.root, "/");
	assert_string_equal(p.run, "/run/forge");
}

static void test_relative_root_uses_cwd(void **state)
{
	struct forge_err err = {0};
	char cwd[FORGE_PATH_MAX], expect[FORGE_PATH_MAX + 32];
	struct forge_paths p;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(forge_paths_init(&p, "./inst/a/", NULL, &err), 0);
	snprintf(expect, sizeof(expect), "%s/inst/a", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(p.root, expect);
	snprintf(expect, sizeof(expect), "%s/inst/a/etc/forge", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(p.etc, expect);
}

static void test_environment(void **state)
{
	struct forge_err err = {0};
	struct forge_paths p;

	(void)state;
	setenv("FORGE_ROOT", "/srv/forge1", 1);
	setenv("FORGE_PREFIX", "lab2", 1);
	assert_int_equal(forge_paths_init(&p, NULL, NULL, &err), 0);
	assert_string_equal(p.root, "/srv/forge1");
	assert_string_equal(p.prefix, "lab2");
	/* Arguments win over the environment. */
	assert_int_equal(forge_paths_init(&p, "/other", "arg", &err), 0);
	assert_string_equal(p.root, "/other");
	assert_string_equal(p.prefix, "arg");
	setenv("FORGE_PREFIX", "Bad", 1);
	assert_int_equal(forge_paths_init(&p, NULL, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "FORGE_PREFIX"));
	assert_non_null(strstr(err.msg, "Bad"));
	/* Empty variables count as unset. */
	setenv("FORGE_ROOT", "", 1);
	setenv("FORGE_PREFIX", "", 1);
	assert_int_equal(forge_paths_init(&p, NULL, NULL, &err), 0);
	assert_string_equal(p.root, "/");
	assert_string_equal(p.prefix, "forge");
	clear_env(state);
}

static void test_bad_prefix(void **state)
{
	const char *bad[] = {"Forge!", "abcdefghi", "1abc", "", "a-b", "a b", "\xc3\xa9"};
	struct forge_err err = {0};
	struct forge_paths p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		forge_err_clear(&err);
		assert_int_equal(forge_paths_init(&p, "/r", bad[i], &err), -EINVAL);
		assert_non_null(strstr(err.msg, "prefix"));
		assert_non_null(strstr(err.msg, bad[i]));
		/* Nothing half-filled is left behind. */
		assert_string_equal(p.root, "");
		assert_string_equal(p.prefix, "");
	}
	assert_int_equal(forge_paths_init(&p, "/r", "abcdefgh", &err), 0);
	assert_int_equal(forge_paths_init(&p, "/r", "a1", &err), 0);
	assert_int_equal(forge_paths_init(&p, "", NULL, &err), -EINVAL);
}

static void test_overlong_root(void **state)
{
	static char root[FORGE_PATH_MAX + 10];
	struct forge_err err = {0};
	struct forge_paths p;

	(void)state;
	root[0] = '/';
	memset(root + 1, 'r', sizeof(root) - 2);
	assert_int_equal(forge_paths_init(&p, root, NULL, &err), -ENAMETOOLONG);
	/* Fits as a root, but not with /var/lib/forge appended. */
	root[FORGE_PATH_MAX - 5] = '\0';
	assert_int_equal(forge_paths_init(&p, root, NULL, &err), -ENAMETOOLONG);
	assert_non_null(strstr(err.msg, "too long"));
}

static void assert_mode(const char *root, const char *rel, mode_t mode)
{
	char path[FORGE_PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
}

static void test_ensure_creates_layout(void **state)
{
	char tmpl[] = "/tmp/forge-test-paths-XXXXXX", missing[64];
	struct forge_err err = {0};
	struct forge_paths p;
	mode_t old_umask;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(forge_paths_init(&p, tmpl, NULL, &err), 0);
	old_umask = umask(077);
	assert_int_equal(forge_paths_ensure(&p, &err), 0);
	umask(old_umask);
	assert_mode(tmpl, "etc", 0755);
	assert_mode(tmpl, "etc/forge", 0755);
	assert_mode(tmpl, "var/lib", 0755);
	assert_mode(tmpl, "var/lib/forge", 0700);
	assert_mode(tmpl, "run/forge", 0755);
	/* Idempotent. */
	assert_int_equal(forge_paths_ensure(&p, &err), 0);
	/* A missing root is an error that names it. */
	snprintf(missing, sizeof(missing), "%s/missing", tmpl);
	assert_int_equal(forge_paths_init(&p, missing, NULL, &err), 0);
	assert_int_equal(forge_paths_ensure(&p, &err), -ENOENT);
	assert_non_null(strstr(err.msg, missing));
	fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(forge_remove_tree(fd, tmpl + strlen("/tmp/"), &err), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_root),
	    cmocka_unit_test(test_root_is_normalised),
	    cmocka_unit_test(test_relative_root_uses_cwd),
	    cmocka_unit_test(test_environment),
	    cmocka_unit_test(test_bad_prefix),
	    cmocka_unit_test(test_overlong_root),
	    cmocka_unit_test(test_ensure_creates_layout),
	};

	return cmocka_run_group_tests_name("common_paths", tests, clear_env, NULL);
}
