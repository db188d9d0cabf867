/* SPDX-License-Identifier: Apache-2.0 */
/* images/ref.c: image references and digests, the boundary every name crosses. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "images/images.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_ref_valid(void **state)
{
	struct forge_image_ref r;
	struct forge_err err = {0};
	(void)state;

	assert_int_equal(forge_image_ref_parse("forge/learner:latest", &r, &err), 0);
	assert_string_equal(r.name, "forge/learner");
	assert_string_equal(r.tag, "latest");
	assert_string_equal(r.digest, "");

	assert_int_equal(forge_image_ref_parse("a.b-c_d/e0:T_1.0-x", &r, &err), 0);
	assert_string_equal(r.name, "a.b-c_d/e0");
	assert_string_equal(r.tag, "T_1.0-x");

	assert_int_equal(forge_image_ref_parse("docker.io/library/busybox:1", &r, &err), 0);
	assert_string_equal(r.name, "docker.io/library/busybox");

	assert_int_equal(forge_image_ref_parse("web@sha256:" HEX64, &r, &err), 0);
	assert_string_equal(r.name, "web");
	assert_string_equal(r.tag, "");
	assert_string_equal(r.digest, "sha256:" HEX64);

	char tag128[200];
	memset(tag128, 'x', 128);
	tag128[128] = '\0';
	char ref[256];
	snprintf(ref, sizeof(ref), "n:%s", tag128);
	assert_int_equal(forge_image_ref_parse(ref, &r, &err), 0);
	assert_int_equal(strlen(r.tag), 128);
}

static void test_ref_invalid(void **state)
{
	static const struct {
		const char *ref, *why;
	} bad[] = {
	    {"", "empty"},
	    {"noTag", "expected NAME:TAG"},
	    {"name", "expected NAME:TAG"},
	    {"Upper:tag", "must start with [a-z0-9]"},
	    {"a/../b:t", "\"..\""},
	    {"a..b:t", "\"..\""},
	    {"/a:t", "must start with [a-z0-9]"},
	    {"a/:t", "ends with '/'"},
	    {"a//b:t", "must start with [a-z0-9]"},
	    {":t", "empty name"},
	    {"a:", "must be 1 to 128"},
	    {"a:.bad", "[A-Za-z0-9_]"},
	    {"a:t/x", "expected NAME:TAG"},
	    {"a b:t", "character ' '"},
	    {"localhost:5000/a:b", "character ':'"},
	    {"a@sha256:abc", "64 lowercase hex"},
	    {"a@sha256:" HEX64 "0", "64 lowercase hex"},
	    {"a@sha512:" HEX64, "64 lowercase hex"},
	    {"a@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	     "64 lowercase hex"},
	};
	struct forge_image_ref r;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct forge_err err = {0};
		int rc = forge_image_ref_parse(bad[i].ref, &r, &err);
		if (rc != -EINVAL || !strstr(err.msg, bad[i].why))
			fail_msg("ref \"%s\": rc %d, message \"%s\" (wanted \"%s\")", bad[i].ref,
				 rc, err.msg, bad[i].why);
	}
	char tag129[200];
	memset(tag129, 'x', 129);
	tag129[129] = '\0';
	char ref[256];
	snprintf(ref, sizeof(ref), "n:%s", tag129);
	assert_int_equal(forge_image_ref_parse(ref, &r, NULL), -EINVAL);
	char name[300];
	memset(name, 'a', 256);
	strcpy(name + 256, ":t");
	assert_int_equal(forge_image_ref_parse(name, &r, NULL), -EINVAL);
}

static void test_digest_valid(void **state)
{
	(void)state;
	assert_true(forge_digest_is_valid("sha256:" HEX64));
	assert_false(forge_digest_is_valid(NULL));
	assert_false(forge_digest_is_valid("sha256:"));
	assert_false(forge_digest_is_valid(HEX64));
	assert_false(forge_digest_is_valid("sha256:" HEX64 "\n"));
	assert_false(forge_digest_is_valid("sha256:../../../../etc/passwd"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ref_valid),
	    cmocka_unit_test(test_ref_invalid),
	    cmocka_unit_test(test_digest_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
