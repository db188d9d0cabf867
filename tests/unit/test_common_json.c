/* SPDX-License-Identifier: Apache-2.0 */
/* common/json.c: the canonical form that gets hashed and signed. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!v)
		fail_msg("bad test JSON (%s): %s", jerr.text, text);
	return v;
}

static void assert_canonical(const char *input, const char *expected)
{
	struct forge_err err = {0};
	json_t *v = parse(input);
	char *out = forge_json_canonical(v, &err);

	assert_non_null(out);
	assert_string_equal(out, expected);
	free(out);
	json_decref(v);
}

static void test_sorts_nested_keys_without_whitespace(void **state)
{
	(void)state;
	assert_canonical("{ \"b\" : 1,\n \"a\" : { \"z\": [ 3, { \"y\": null, \"x\": true } ], "
			 "\"m\": \"s p a c e\" } }",
			 "{\"a\":{\"m\":\"s p a c e\",\"z\":[3,{\"x\":true,\"y\":null}]},\"b\":1}");
	/* Scalars at the top level are valid canonical JSON too. */
	assert_canonical("42", "42");
	assert_canonical("\"x\"", "\"x\"");
}

static void test_sort_is_bytewise(void **state)
{
	(void)state;
	/* Uppercase before lowercase, a prefix before its extensions, and UTF-8
	 * (bytes >= 0x80) after ASCII, kept unescaped. */
	assert_canonical("{\"\xc3\xa9\":1,\"z\":2,\"Z\":3,\"ab\":4,\"a\":5,\"_\":6}",
			 "{\"Z\":3,\"_\":6,\"a\":5,\"ab\":4,\"z\":2,\"\xc3\xa9\":1}");
}

static void test_embedded_nul_key_sorts_after_prefix(void **state)
{
	struct forge_err err = {0};
	json_t *v = json_object();
	char *out;

	(void)state;
	json_object_setn_new(v, "a\0b", 3, json_integer(1));
	json_object_set_new(v, "a", json_integer(2));
	json_object_set_new(v, "a\x01", json_integer(3));
	out = forge_json_canonical(v, &err);
	assert_non_null(out);
	assert_string_equal(out, "{\"a\":2,\"a\\u0000b\":1,\"a\\u0001\":3}");
	free(out);
	json_decref(v);
}

static void test_same_hash_for_any_key_order(void **state)
{
	struct forge_err err = {0};
	json_t *one = parse("{\"name\":\"lab\",\"spec\":{\"cpus\":2,\"mem\":[1,2]},\"v\":1}");
	json_t *two = parse("{\"v\":1,\"spec\":{\"mem\":[1,2],\"cpus\":2},\"name\":\"lab\"}");
	json_t *other = parse("{\"v\":1,\"spec\":{\"mem\":[2,1],\"cpus\":2},\"name\":\"lab\"}");
	char h1[65], h2[65], h3[65], direct[65];
	const char *canon = "{\"name\":\"lab\",\"spec\":{\"cpus\":2,\"mem\":[1,2]},\"v\":1}";

	(void)state;
	assert_int_equal(forge_json_canonical_sha256(one, h1, &err), 0);
	assert_int_equal(forge_json_canonical_sha256(two, h2, &err), 0);
	assert_int_equal(forge_json_canonical_sha256(other, h3, &err), 0);
	assert_string_equal(h1, h2);
	/* Array order is meaningful. */
	assert_string_not_equal(h1, h3);
	forge_sha256_hex(canon, strlen(canon), direct);
	assert_string_equal(h1, direct);
	json_decref(one);
	json_decref(two);
	json_decref(other);
}

static void test_null_value_is_an_error(void **state)
{
	struct forge_err err = {0};
	char hex[65];

	(void)state;
	assert_null(forge_json_canonical(NULL, &err));
	assert_int_equal(err.code, -EINVAL);
	assert_int_equal(forge_json_canonical_sha256(NULL, hex, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sorts_nested_keys_without_whitespace),
	    cmocka_unit_test(test_sort_is_bytewise),
	    cmocka_unit_test(test_embedded_nul_key_sorts_after_prefix),
	    cmocka_unit_test(test_same_hash_for_any_key_order),
	    cmocka_unit_test(test_null_value_is_an_error),
	};

	return cmocka_run_group_tests_name("common_json", tests, NULL, NULL);
}
