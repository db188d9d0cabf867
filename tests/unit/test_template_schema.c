/* SPDX-License-Identifier: Apache-2.0 */
/* templates/schema.c: the JSON Schema subset, its refusals at load, every problem with its path. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "templates/template.h"

/* Test JSON is written with single quotes (no escaping in C). */
static json_t *load_json(const char *text)
{
	char *copy = strdup(text), *p;
	json_error_t jerr;
	json_t *j;

	assert_non_null(copy);
	for (p = copy; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(copy, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!j)
		fail_msg("test JSON does not load: %s: %s", jerr.text, copy);
	free(copy);
	return j;
}

static struct forge_template_schema *schema_ok(const char *text)
{
	struct forge_template_schema *s = NULL;
	struct forge_err err = {0};
	json_t *j = load_json(text);

	if (forge_template_schema_from_json(j, &s, &err))
		fail_msg("schema refused: %s", err.msg);
	json_decref(j);
	return s;
}

static void schema_refused(const char *text, const char *fragment)
{
	struct forge_template_schema *s = NULL;
	struct forge_err err = {0};
	json_t *j = load_json(text);

	assert_int_equal(forge_template_schema_from_json(j, &s, &err), -EINVAL);
	assert_null(s);
	if (!strstr(err.msg, fragment))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, fragment);
	json_decref(j);
}

/* doc against schema gives exactly the problems listed, in order, as
 * "path|check|message fragment" (NULL-terminated list). */
static void expect_problems(const struct forge_template_schema *s, const char *doc, ...)
{
	struct forge_template_problems p = {0};
	json_t *j = load_json(doc);
	const char *want;
	va_list ap;
	size_t i = 0;
	int rc;

	rc = forge_template_schema_check(s, j, &p);
	va_start(ap, doc);
	while ((want = va_arg(ap, const char *))) {
		char path[128], check[32];
		const char *bar1 = strchr(want, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;

		assert_non_null(bar2);
		snprintf(path, sizeof(path), "%.*s", (int)(bar1 - want), want);
		snprintf(check, sizeof(check), "%.*s", (int)(bar2 - bar1 - 1), bar1 + 1);
		if (i >= p.n)
			fail_msg("problem %zu (%s) not reported", i, want);
		if (strcmp(p.items[i].path, path) || strcmp(p.items[i].check, check) ||
		    !strstr(p.items[i].message, bar2 + 1))
			fail_msg("problem %zu is \"%s\" [%s] \"%s\", expected %s", i,
				 p.items[i].path, p.items[i].check, p.items[i].message, want);
		i++;
	}
	va_end(ap);
	if (i != p.n)
		fail_msg("%zu problems expected, %zu reported (next: %s: %s)", i, p.n,
			 p.items[i].path, p.items[i].message);
	assert_int_equal(rc, i ? -EINVAL : 0);
	forge_template_problems_free(&p);
	json_decref(j);
}

static void test_load_refusals(void **state)
{
	(void)state;
	schema_refused("{'type': 'object', 'patern': '^a$'}",
		       "keyword \"patern\" is not supported");
	schema_refused("{'type': 'obj'}", "schema.type: expected a type name");
	schema_refused("{'$ref': '#/$defs/missing'}", "does not name an entry of #/$defs");
	schema_refused("{'$ref': 'http://example.com/x'}", "does not name an entry");
	schema_refused("{'properties': {'a': {'$defs': {'b': {}}}}}", "$defs only at the top");
	schema_refused("{'pattern': 'a('}", "not a POSIX extended regular expression");
	schema_refused("{'format': 'email'}", "unknown format \"email\"");
	schema_refused("{'type': 'array', 'uniqueItems': true}", "uniqueItems needs maxItems");
	schema_refused("{'type': 'array', 'maxItems': 5000, 'uniqueItems': true}",
		       "uniqueItems needs maxItems of at most 1024");
	schema_refused("{'properties': {'a': 7}}",
		       "schema.properties.a: a schema must be an object");
	schema_refused("{'oneOf': []}", "non-empty array of schemas");
	schema_refused("{'oneOf': [{}, {}, {}, {}, {}, {}, {}, {}, {}]}",
		       "more than 8 alternatives");
	schema_refused("{'minItems': -1}", "non-negative integer");
	schema_refused("{'required': ['a', 3]}", "schema.required[1]: expected a string");
	schema_refused("{'additionalProperties': true}", "a schema must be an object");
	schema_refused("[]", "schema: a schema must be an object");
}

static void test_types(void **state)
{
	struct forge_template_schema *s = schema_ok(
	    "{'type': 'object', 'properties': {'i': {'type': 'integer'}, 'n': {'type': 'number'},"
	    " 'b': {'type': 'boolean'}, 's': {'type': ['string', 'null']},"
	    " 'a': {'type': 'array'}, 'o': {'type': 'object'}}}");

	(void)state;
	expect_problems(s, "{'i': 1, 'n': 1.5, 'b': false, 's': null, 'a': [], 'o': {}}", NULL);
	expect_problems(s, "{'i': 1, 'n': 2, 's': 'x'}", NULL);
	/* 1.0 is a number, not an integer: the loader keeps what the text said. */
	expect_problems(s, "{'i': 1.0, 'n': 'x', 'b': 'true', 's': 3, 'a': {}, 'o': []}",
			"i|type|expected an integer, got a number",
			"n|type|expected a number, got a string",
			"b|type|expected true or false, got a string",
			"s|type|expected a string or null, got an integer",
			"a|type|expected an array, got an object",
			"o|type|expected an object, got an array", NULL);
	expect_problems(s, "[1]", "|type|expected an object, got an array", NULL);
	forge_template_schema_free(s);
}

static void test_objects(void **state)
{
	struct forge_template_schema *s = schema_ok(
	    "{'type': 'object', 'additionalProperties': false, 'required': ['name', 'spec'],"
	    " 'properties': {'name': {'type': 'string'}, 'spec': {'type': 'object',"
	    "   'minProperties': 1, 'maxProperties': 2,"
	    "   'additionalProperties': {'type': 'integer'}},"
	    "  'env': {'type': 'object', 'propertyNames': {'title': 'a variable name',"
	    "   'pattern': '^[A-Z]+$'}}}}");

	(void)state;
	expect_problems(s, "{'name': 'a', 'spec': {'x': 1}, 'env': {'HOME': '/'}}", NULL);
	/* Every problem, each at its own path; unknown keys list the known ones. */
	expect_problems(s, "{'nmae': 'a', 'env': {'home': '/', 'a.b': 'x'}}",
			"name|required|missing", "spec|required|missing",
			"nmae|additionalProperties|unknown key (known: name, spec, env)",
			"env.home|pattern|\"home\" is not a variable name",
			"env[\"a.b\"]|pattern|\"a.b\" is not a variable name", NULL);
	expect_problems(s, "{'name': 'a', 'spec': {}}", "spec|minProperties|0 key(s), at least 1",
			NULL);
	expect_problems(s, "{'name': 'a', 'spec': {'x': 1, 'y': 'two', 'z': 3}}",
			"spec|maxProperties|3 keys, at most 2",
			"spec.y|type|expected an integer, got a string", NULL);
	forge_template_schema_free(s);
}

static void test_strings(void **state)
{
	struct forge_template_schema *s = schema_ok(
	    "{'type': 'object', 'properties': {"
	    " 'short': {'type': 'string', 'minLength': 2, 'maxLength': 3},"
	    " 'named': {'type': 'string', 'title': 'a lowercase word', 'pattern': '^[a-z]+$'},"
	    " 'raw': {'type': 'string', 'pattern': '^[0-9]+$'},"
	    " 'all': {'type': 'string', 'minLength': 1, 'pattern': '^[a-z]+$', 'format': "
	    "'ipv4'}}}");

	(void)state;
	/* Lengths count code points: "é" is one character in two bytes. */
	expect_problems(s, "{'short': '\xc3\xa9\xc3\xa9\xc3\xa9'}", NULL);
	expect_problems(s, "{'short': 'a', 'named': 'B', 'raw': '12a'}",
			"short|minLength|\"a\" is shorter than 2",
			"named|pattern|\"B\" is not a lowercase word",
			"raw|pattern|\"12a\" does not match ^[0-9]+$", NULL);
	expect_problems(s, "{'short': 'abcd'}", "short|maxLength|\"abcd\" is longer than 3", NULL);
	/* One problem per string: the first check that fails. */
	expect_problems(s, "{'all': ''}", "all|minLength|shorter than 1", NULL);
	expect_problems(s, "{'all': 'abc'}", "all|format|\"abc\" is not an IPv4 address", NULL);
	/* A NUL inside would cut the string short for C code. */
	expect_problems(s, "{'raw': '12\\u00003'}", "raw|type|contains a NUL character", NULL);
	forge_template_schema_free(s);
}

static void test_numbers_enum_const(void **state)
{
	struct forge_template_schema *s = schema_ok(
	    "{'type': 'object', 'properties': {"
	    " 'n': {'type': 'number', 'minimum': 0.5, 'maximum': 2},"
	    " 'e': {'enum': ['deny', 'allowlist']}, 'c': {'const': 'v1', 'type': 'string'}}}");

	(void)state;
	expect_problems(s, "{'n': 0.5, 'e': 'deny', 'c': 'v1'}", NULL);
	expect_problems(s, "{'n': 0.25, 'e': 'open', 'c': 'v2'}",
			"n|minimum|0.25 is below the minimum 0.5",
			"e|enum|\"open\" is not one of \"deny\", \"allowlist\"",
			"c|const|must be \"v1\", not \"v2\"", NULL);
	expect_problems(s, "{'n': 3}", "n|maximum|3 is above the maximum 2", NULL);
	/* type is checked before const: one problem, the clearer one. */
	expect_problems(s, "{'c': 1}", "c|type|expected a string, got an integer", NULL);
	forge_template_schema_free(s);
}

static void test_arrays(void **state)
{
	struct forge_template_schema *s =
	    schema_ok("{'type': 'array', 'minItems': 1, 'maxItems': 3, 'uniqueItems': true,"
		      " 'items': {'type': 'integer', 'minimum': 1}}");

	(void)state;
	expect_problems(s, "[1, 2, 3]", NULL);
	expect_problems(s, "[]", "|minItems|0 entries, at least 1", NULL);
	expect_problems(s, "[1, 0, 1, 'x']", "|maxItems|4 entries, at most 3",
			"[1]|minimum|0 is below the minimum 1",
			"[3]|type|expected an integer, got a string", NULL);
	expect_problems(s, "[2, 3, 2]", "[2]|uniqueItems|2 is already listed at [0]", NULL);
	forge_template_schema_free(s);
}

static const char one_of_schema[] =
    "{'$defs': {"
    "  'cmd': {'type': 'object', 'additionalProperties': false, 'required': ['type', 'argv'],"
    "   'properties': {'type': {'const': 'command'}, 'argv': {'type': 'array'}}},"
    "  'file': {'type': 'object', 'additionalProperties': false, 'required': ['type', 'path'],"
    "   'properties': {'type': {'const': 'file'}, 'path': {'type': 'string'}}},"
    "  'any': {'type': 'object'}},"
    " 'type': 'array', 'items': {'type': 'object', 'oneOf': ["
    "  {'$ref': '#/$defs/cmd'}, {'$ref': '#/$defs/file'}]}}";

static void test_one_of(void **state)
{
	struct forge_template_schema *s = schema_ok(one_of_schema);
	struct forge_template_schema *loose = NULL;
	json_t *j;

	(void)state;
	expect_problems(s, "[{'type': 'command', 'argv': []}, {'type': 'file', 'path': '/x'}]",
			NULL);
	/* The discriminator picks the alternative; its problems are reported. */
	expect_problems(s, "[{'type': 'file', 'path': 3, 'mode': 1}]",
			"[0].path|type|expected a string, got an integer",
			"[0].mode|additionalProperties|unknown key (known: type, path)", NULL);
	expect_problems(s, "[{'type': 'command'}]", "[0].argv|required|missing", NULL);
	/* A discriminator no alternative takes: say what it may be. */
	expect_problems(s, "[{'type': 'socket'}]",
			"[0].type|oneOf|\"socket\" is not one of \"command\", \"file\"", NULL);
	expect_problems(s, "[{'path': '/x'}]", "[0]|oneOf|fits none of the 2 alternatives", NULL);
	forge_template_schema_free(s);

	/* More than one fitting is a problem too. */
	j = load_json(one_of_schema);
	json_array_append_new(json_object_get(json_object_get(j, "items"), "oneOf"),
			      json_pack("{s:s}", "$ref", "#/$defs/any"));
	assert_int_equal(forge_template_schema_from_json(j, &loose, NULL), 0);
	json_decref(j);
	expect_problems(loose, "[{'type': 'file', 'path': '/x'}]",
			"[0]|oneOf|fits 2 of the 3 alternatives", NULL);
	forge_template_schema_free(loose);
}

/* A schema that refers to itself forever ends with a problem, not a crash. */
static void test_ref_recursion(void **state)
{
	struct forge_template_schema *s =
	    schema_ok("{'$defs': {'a': {'$ref': '#/$defs/b'}, 'b': {'$ref': '#/$defs/a'}},"
		      " '$ref': '#/$defs/a'}");
	struct forge_template_problems p = {0};
	json_t *j = json_integer(1);

	(void)state;
	assert_int_equal(forge_template_schema_check(s, j, &p), -EINVAL);
	assert_true(p.n >= 1);
	assert_string_equal(p.items[0].check, "$ref");
	assert_non_null(strstr(p.items[0].message, "recurses too deeply"));
	forge_template_problems_free(&p);
	json_decref(j);
	forge_template_schema_free(s);
}

static void test_formats(void **state)
{
	struct forge_template_schema *s =
	    schema_ok("{'type': 'object', 'properties': {"
		      " 'ip': {'type': 'string', 'format': 'ipv4'},"
		      " 'net': {'type': 'string', 'format': 'ipv4-cidr'},"
		      " 'addr': {'type': 'string', 'format': 'ipv4-interface'},"
		      " 'dst': {'type': 'string', 'format': 'route-destination'},"
		      " 'path': {'type': 'string', 'format': 'absolute-path'},"
		      " 're': {'type': 'string', 'format': 'regex'},"
		      " 'cap': {'type': 'string', 'format': 'capability'}}}");

	(void)state;
	expect_problems(
	    s,
	    "{'ip': '10.0.0.1', 'net': '10.0.0.0/8', 'addr': '10.0.0.5/24',"
	    " 'dst': 'default', 'path': '/usr/bin/x', 're': '^a+$', 'cap': 'NET_ADMIN'}",
	    NULL);
	expect_problems(s, "{'dst': '10.20.0.0/24', 'cap': 'cap_net_raw'}", NULL);
	expect_problems(
	    s,
	    "{'ip': '10.0.0.256', 'net': '10.0.0.1/8', 'addr': '10.0.0.5/4', 'dst': 'everywhere',"
	    " 'path': 'usr/bin', 're': '(', 'cap': 'NET_NOTHING'}",
	    "ip|format|\"10.0.0.256\" is not an IPv4 address", "net|format|host bits set",
	    "addr|format|prefix length 4 outside 8..32",
	    "dst|format|neither \"default\" nor a CIDR",
	    "path|format|\"usr/bin\" is not an absolute path",
	    "re|format|not a POSIX extended regular expression",
	    "cap|format|unknown capability \"NET_NOTHING\"", NULL);
	expect_problems(s, "{'path': '/a//b'}", "path|format|empty, \".\" or \"..\" component",
			NULL);
	expect_problems(s, "{'path': '/a/./b'}", "path|format|component", NULL);
	expect_problems(s, "{'path': '/a/b/..'}", "path|format|component", NULL);
	forge_template_schema_free(s);
}

/* Problems beyond the cap are counted, not kept. */
static void test_problem_cap(void **state)
{
	struct forge_template_schema *s =
	    schema_ok("{'type': 'array', 'items': {'type': 'string'}}");
	struct forge_template_problems p = {0};
	json_t *j = json_array();
	size_t i;

	(void)state;
	for (i = 0; i < FORGE_TEMPLATE_MAX_PROBLEMS + 25; i++)
		json_array_append_new(j, json_integer((json_int_t)i));
	assert_int_equal(forge_template_schema_check(s, j, &p), -EINVAL);
	assert_int_equal(p.n, FORGE_TEMPLATE_MAX_PROBLEMS);
	assert_int_equal(p.dropped, 25);
	assert_string_equal(p.items[FORGE_TEMPLATE_MAX_PROBLEMS - 1].path, "[199]");
	forge_template_problems_free(&p);
	assert_int_equal(p.n, 0);
	json_decref(j);
	forge_template_schema_free(s);
}

/* Text from the document is quoted and cut in messages: nothing raw reaches a terminal. */
static void test_messages_are_safe(void **state)
{
	struct forge_template_schema *s =
	    schema_ok("{'type': 'object', 'additionalProperties': false, 'properties': {"
		      " 'e': {'enum': ['a']}}}");
	struct forge_template_problems p = {0};
	json_t *j = json_pack("{s:s}", "e",
			      "\x1b[31mred\nline\"quote"
			      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	size_t i;

	(void)state;
	json_object_set_new(j, "\x1b]0;title\a", json_true());
	assert_int_equal(forge_template_schema_check(s, j, &p), -EINVAL);
	assert_int_equal(p.n, 2);
	for (i = 0; i < p.n; i++) {
		const char *c;

		for (c = p.items[i].message; *c; c++)
			assert_true(*c >= 0x20 && *c < 0x7f);
		for (c = p.items[i].path; *c; c++)
			assert_true(*c >= 0x20 && *c < 0x7f);
	}
	assert_non_null(strstr(p.items[0].message, "...\""));
	forge_template_problems_free(&p);
	json_decref(j);
	forge_template_schema_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_refusals),
	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_objects),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_numbers_enum_const),
	    cmocka_unit_test(test_arrays),
	    cmocka_unit_test(test_one_of),
	    cmocka_unit_test(test_ref_recursion),
	    cmocka_unit_test(test_formats),
	    cmocka_unit_test(test_problem_cap),
	    cmocka_unit_test(test_messages_are_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
