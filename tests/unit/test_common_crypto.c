/* SPDX-License-Identifier: Apache-2.0 */
/* common/crypto.c: libsodium wrappers. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"

#define SHA256_ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_init_is_idempotent(void **state)
{
	(void)state;
	assert_int_equal(forge_crypto_init(), 0);
	assert_int_equal(forge_crypto_init(), 0);
}

static void test_sha256_known_vectors(void **state)
{
	char hex[65];

	(void)state;
	forge_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, SHA256_ABC);
	forge_sha256_hex("", 0, hex);
	assert_string_equal(hex, SHA256_EMPTY);
}

static void test_sha256_fd_from_current_offset(void **state)
{
	struct forge_err err = {0};
	char hex[65], expect[65];
	static char big[100000];
	int fd;

	(void)state;
	fd = memfd_create("sha", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(forge_sha256_fd_hex(fd, hex, &err), 0);
	assert_string_equal(hex, SHA256_ABC);
	/* From the current offset, not from the start. */
	assert_int_equal(lseek(fd, 1, SEEK_SET), 1);
	assert_int_equal(forge_sha256_fd_hex(fd, hex, &err), 0);
	forge_sha256_hex("bc", 2, expect);
	assert_string_equal(hex, expect);
	/* Larger than one read chunk. */
	memset(big, 'x', sizeof(big));
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(forge_sha256_fd_hex(fd, hex, &err), 0);
	forge_sha256_hex(big, sizeof(big), expect);
	assert_string_equal(hex, expect);
	close(fd);
	/* A bad fd is an error with a message. */
	assert_int_equal(forge_sha256_fd_hex(fd, hex, &err), -EBADF);
	assert_non_null(strstr(err.msg, "sha256"));
}

static void test_random_hex(void **state)
{
	char a[101], b[101];
	size_t n, i;

	(void)state;
	for (n = 0; n <= 100; n += 33) {
		memset(a, 'Q', sizeof(a));
		forge_random_hex(a, n);
		assert_int_equal(strlen(a), n);
		for (i = 0; i < n; i++)
			assert_non_null(strchr("0123456789abcdef", a[i]));
	}
	forge_random_hex(a, 32);
	forge_random_hex(b, 32);
	assert_string_not_equal(a, b);
}

static void test_consttime_eq(void **state)
{
	(void)state;
	assert_true(forge_consttime_eq("secret", "secret", 6));
	assert_false(forge_consttime_eq("secret", "secreT", 6));
	assert_true(forge_consttime_eq("a", "b", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_is_idempotent),
	    cmocka_unit_test(test_sha256_known_vectors),
	    cmocka_unit_test(test_sha256_fd_from_current_offset),
	    cmocka_unit_test(test_random_hex),
	    cmocka_unit_test(test_consttime_eq),
	};

	return cmocka_run_group_tests_name("common_crypto", tests, NULL, NULL);
}
