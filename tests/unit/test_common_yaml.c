/* SPDX-License-Identifier: Apache-2.0 */
/* common/yaml.c: YAML documents as JSON, and the inputs it refuses. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"

/* Parses text and compares its canonical JSON with want. */
static void expect_json(const char *text, const char *want)
{
	struct forge_err err = {0};
	json_t *j = NULL;

	int rc = forge_yaml_parse(text, strlen(text), "t.yaml", &j, &err);
	if (rc)
		fail_msg("parse failed: %s", err.msg);
	char *got = forge_json_canonical(j, &err);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	json_decref(j);
}

static void expect_refused(const char *text, size_t len, const char *want)
{
	struct forge_err err = {0};
	json_t *j = (json_t *)&err; /* must come back NULL */

	assert_int_equal(forge_yaml_parse(text, len, "t.yaml", &j, &err), -EINVAL);
	assert_null(j);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" does not say \"%s\"", err.msg, want);
}

static void test_types_follow_the_core_schema(void **state)
{
	(void)state;
	expect_json("a: 1\nb: -2.5\nc: true\nd: ~\ne: hello world\nf: \"1\"\ng: '~'\nh: 1e3\n"
		    "i: 10.10.0.0/24\nj: yes\nk:\n",
		    "{\"a\":1,\"b\":-2.5,\"c\":true,\"d\":null,\"e\":\"hello world\",\"f\":\"1\","
		    "\"g\":\"~\",\"h\":1000.0,\"i\":\"10.10.0.0/24\",\"j\":\"yes\",\"k\":null}");
	expect_json("- [1, two]\n- {x: {y: [a]}}\n- |\n  line one\n  line two\n",
		    "[[1,\"two\"],{\"x\":{\"y\":[\"a\"]}},\"line one\\nline two\\n\"]");
	/* JSON is YAML. */
	expect_json("{\"spec\": {\"weight\": 2, \"ok\": false}}", "{\"spec\":{\"ok\":false,\"weight\":2}}");
	expect_json("---\nname: x\n...\n", "{\"name\":\"x\"}");
}

static void test_refusals_name_line_and_column(void **state)
{
	(void)state;
	const char dup[] = "a: 1\nb: 2\na: 3\n";
	expect_refused(dup, strlen(dup), "t.yaml:3:1: duplicate key: a");
	const char alias[] = "base: &b {x: 1}\nother: *b\n";
	expect_refused(alias, strlen(alias), "t.yaml:1:7: anchors and aliases are not accepted");
	const char docs[] = "a: 1\n---\nb: 2\n";
	expect_refused(docs, strlen(docs), "t.yaml:2:1: more than one YAML document");
	const char key[] = "? [1, 2]\n: x\n";
	expect_refused(key, strlen(key), "a mapping key must be a scalar");
	const char intkey[] = "1: x\n";
	expect_refused(intkey, strlen(intkey), "t.yaml:1:1: a mapping key must be a string");
	const char bad[] = "a: [1, 2\n";
	expect_refused(bad, strlen(bad), "t.yaml:");
	const char big[] = "n: 99999999999999999999999\n";
	expect_refused(big, strlen(big), "integer out of range: 99999999999999999999999");
	expect_refused("", 0, "t.yaml: empty document");
	const char nul[] = "a: \"x\\0y\"\n";
	expect_refused(nul, strlen(nul), "a NUL byte inside a scalar");
}

static void test_depth_is_bounded(void **state)
{
	(void)state;
	char deep[400];
	size_t n = 0;
	for (int i = 0; i < 100; i++)
		deep[n++] = '[';
	for (int i = 0; i < 100; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	expect_refused(deep, n, "nested too deeply");
}

static void test_load_fd_and_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/forge-yaml.XXXXXX";
	struct forge_err err = {0};
	json_t *j = NULL;

	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	int fd = openat(dfd, "x.yaml", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "k: [v]\n", 7), 7);
	close(fd);
	assert_int_equal(forge_yaml_load_file(dfd, "x.yaml", 4096, &j, &err), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "k"), 0)), "v");
	json_decref(j);
	/* Bounded: a file over the limit is refused, not truncated. */
	assert_true(forge_yaml_load_file(dfd, "x.yaml", 4, &j, &err) < 0);
	assert_null(j);
	assert_int_equal(forge_yaml_load_file(dfd, "../x.yaml", 4096, &j, &err) < 0, 1);
	fd = openat(dfd, "x.yaml", O_RDONLY | O_CLOEXEC);
	assert_int_equal(forge_yaml_load_fd(fd, "x.yaml", 4096, &j, &err), 0);
	assert_true(json_is_object(j));
	json_decref(j);
	close(fd);
	assert_int_equal(unlinkat(dfd, "x.yaml", 0), 0);
	close(dfd);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_types_follow_the_core_schema),
	    cmocka_unit_test(test_refusals_name_line_and_column),
	    cmocka_unit_test(test_depth_is_bounded),
	    cmocka_unit_test(test_load_fd_and_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
