/* SPDX-License-Identifier: Apache-2.0 */
/* common/err.c: struct forge_err formatting. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"

static void test_set_formats_and_returns_code(void **state)
{
	struct forge_err err = {0};

	(void)state;
	assert_int_equal(forge_err_set(&err, -EEXIST, "netns: veth %s", "v-learner-0"), -EEXIST);
	assert_int_equal(err.code, -EEXIST);
	assert_string_equal(err.msg, "netns: veth v-learner-0");
	forge_err_clear(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
}

static void test_errno_appends_strerror(void **state)
{
	struct forge_err err = {0};

	(void)state;
	assert_int_equal(forge_err_errno(&err, EEXIST, "netns: veth %s", "v-learner-0"), -EEXIST);
	assert_int_equal(err.code, -EEXIST);
	assert_string_equal(err.msg, "netns: veth v-learner-0: File exists");
	/* A negative errno is accepted the same way. */
	assert_int_equal(forge_err_errno(&err, -ENOENT, "open %s", "x"), -ENOENT);
	assert_string_equal(err.msg, "open x: No such file or directory");
	/* A lost errno (0) must still report failure. */
	assert_int_equal(forge_err_errno(&err, 0, "lost"), -EIO);
	assert_int_equal(err.code, -EIO);
}

static void test_null_err_still_returns_code(void **state)
{
	(void)state;
	assert_int_equal(forge_err_set(NULL, -EINVAL, "x %d", 1), -EINVAL);
	assert_int_equal(forge_err_errno(NULL, EPERM, "x"), -EPERM);
	forge_err_prefix(NULL, "nothing");
	forge_err_clear(NULL);
}

static void test_prefix_adds_context(void **state)
{
	struct forge_err err = {0};

	(void)state;
	forge_err_errno(&err, ENOENT, "open %s", "config");
	forge_err_prefix(&err, "scenario %s", "lab1");
	assert_string_equal(err.msg, "scenario lab1: open config: No such file or directory");
	assert_int_equal(err.code, -ENOENT);
}

static void test_long_messages_truncate_safely(void **state)
{
	char big[2 * FORGE_ERR_MSG_MAX];
	struct forge_err err = {0};

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	forge_err_errno(&err, EACCES, "%s", big);
	assert_int_equal(strlen(err.msg), FORGE_ERR_MSG_MAX - 1);
	forge_err_prefix(&err, "%s", "ctx");
	assert_int_equal(strlen(err.msg), FORGE_ERR_MSG_MAX - 1);
	assert_memory_equal(err.msg, "ctx: aaa", 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_formats_and_returns_code),
	    cmocka_unit_test(test_errno_appends_strerror),
	    cmocka_unit_test(test_null_err_still_returns_code),
	    cmocka_unit_test(test_prefix_adds_context),
	    cmocka_unit_test(test_long_messages_truncate_safely),
	};

	return cmocka_run_group_tests_name("common_err", tests, NULL, NULL);
}
