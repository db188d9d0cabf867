/* SPDX-License-Identifier: Apache-2.0 */
/* policy/eval.c: every op and combinator, types, missing paths, reasons and decisions. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

/* A bundle of one gate from its rule file's YAML text. */
static struct forge_policy *bundle(const char *gate, const char *yaml)
{
	struct forge_err err = {0};
	struct forge_policy *p = NULL;
	char name[32];
	json_t *doc = NULL;

	if (forge_yaml_parse(yaml, strlen(yaml), "t.yaml", &doc, &err))
		fail_msg("rule text: %s", err.msg);
	snprintf(name, sizeof(name), "%s.yaml", gate);
	json_t *files = json_pack("{s:o}", name, doc);
	if (forge_policy_from_json(files, &p, &err))
		fail_msg("load: %s", err.msg);
	json_decref(files);
	return p;
}

static json_t *input_of(const char *json)
{
	json_error_t jerr;
	json_t *in = json_loads(json, JSON_ALLOW_NUL, &jerr);

	if (!in)
		fail_msg("input %s: %s", json, jerr.text);
	return in;
}

/* Whether cond (flow YAML) holds for input (JSON), through one allow rule. */
static bool holds(const char *cond, const char *input)
{
	struct forge_policy_decision d;
	struct forge_err err = {0};
	char text[2048];

	snprintf(text, sizeof(text),
		 "package: training\n"
		 "conditions:\n"
		 "  is-admin: {path: roles, op: contains, value: admin}\n"
		 "rules:\n"
		 "  - id: r\n"
		 "    effect: allow\n"
		 "    when: %s\n",
		 cond);
	struct forge_policy *p = bundle("training", text);
	json_t *in = input_of(input);
	if (forge_policy_eval(p, "training", in, &d, &err))
		fail_msg("eval: %s", err.msg);
	bool allow = d.allow;
	forge_policy_decision_clear(&d);
	json_decref(in);
	forge_policy_free(p);
	return allow;
}

#define HOLDS(c, i)	assert_true(holds((c), (i)))
#define NOT_HOLDS(c, i) assert_false(holds((c), (i)))

static void test_eq_ne(void **state)
{
	(void)state;
	HOLDS("{path: a, op: eq, value: x}", "{\"a\":\"x\"}");
	NOT_HOLDS("{path: a, op: eq, value: x}", "{\"a\":\"X\"}");
	HOLDS("{path: a, op: eq, value: 1}", "{\"a\":1}");
	HOLDS("{path: a, op: eq, value: 1}", "{\"a\":1.0}"); /* one number, two spellings */
	HOLDS("{path: a, op: eq, value: 0.5}", "{\"a\":0.5}");
	HOLDS("{path: a, op: eq, value: true}", "{\"a\":true}");
	NOT_HOLDS("{path: a, op: eq, value: true}", "{\"a\":\"true\"}");
	NOT_HOLDS("{path: a, op: eq, value: 1}", "{\"a\":\"1\"}");
	/* The whole string counts, past an embedded NUL too. */
	NOT_HOLDS("{path: a, op: eq, value: ab}", "{\"a\":\"ab\\u0000c\"}");
	HOLDS("{path: a, op: ne, value: x}", "{\"a\":\"y\"}");
	NOT_HOLDS("{path: a, op: ne, value: x}", "{\"a\":\"x\"}");
	/* A value of another type is not equal… */
	HOLDS("{path: a, op: ne, value: 1}", "{\"a\":\"1\"}");
	/* …but a missing one is neither equal nor unequal. */
	NOT_HOLDS("{path: a, op: eq, value: x}", "{}");
	NOT_HOLDS("{path: a, op: ne, value: x}", "{}");
	NOT_HOLDS("{path: a, op: ne, value: x}", "{\"a\":null}");
}

static void test_ordering(void **state)
{
	(void)state;
	HOLDS("{path: n, op: lt, value: 5}", "{\"n\":4}");
	NOT_HOLDS("{path: n, op: lt, value: 5}", "{\"n\":5}");
	HOLDS("{path: n, op: le, value: 5}", "{\"n\":5}");
	NOT_HOLDS("{path: n, op: le, value: 5}", "{\"n\":6}");
	HOLDS("{path: n, op: gt, value: 5}", "{\"n\":6}");
	NOT_HOLDS("{path: n, op: gt, value: 5}", "{\"n\":5}");
	HOLDS("{path: n, op: ge, value: 5}", "{\"n\":5}");
	NOT_HOLDS("{path: n, op: ge, value: 5}", "{\"n\":4}");
	HOLDS("{path: n, op: lt, value: 0.5}", "{\"n\":0.25}");
	HOLDS("{path: n, op: gt, value: 0}", "{\"n\":0.1}");
	HOLDS("{path: n, op: ge, value: -2}", "{\"n\":-2}");
	HOLDS("{path: n, op: lt, value: 9223372036854775807}", "{\"n\":9223372036854775806}");
	/* Type mismatch: false, never an error… */
	NOT_HOLDS("{path: n, op: lt, value: 5}", "{\"n\":\"4\"}");
	NOT_HOLDS("{path: n, op: ge, value: 5}", "{\"n\":\"9\"}");
	NOT_HOLDS("{path: n, op: le, value: 5}", "{\"n\":true}");
	NOT_HOLDS("{path: n, op: gt, value: 5}", "{\"n\":[9]}");
	NOT_HOLDS("{path: n, op: lt, value: 5}", "{}");
	/* …so its negation is true (policy/README.md: write deny rules with the
	 * op that means the bad case, not "not" of the good one). */
	HOLDS("{not: {path: n, op: lt, value: 5}}", "{\"n\":\"4\"}");
}

static void test_in_contains(void **state)
{
	(void)state;
	HOLDS("{path: t, op: in, value: [netplus, ccna]}", "{\"t\":\"ccna\"}");
	NOT_HOLDS("{path: t, op: in, value: [netplus, ccna]}", "{\"t\":\"cissp\"}");
	NOT_HOLDS("{path: t, op: in, value: [netplus, ccna]}", "{\"t\":[\"ccna\"]}");
	HOLDS("{path: n, op: in, value: [1, 2]}", "{\"n\":2.0}");
	NOT_HOLDS("{path: n, op: in, value: [1, 2]}", "{\"n\":\"2\"}");
	NOT_HOLDS("{path: t, op: in, value: [a]}", "{}");
	HOLDS("{path: roles, op: contains, value: admin}", "{\"roles\":[\"x\",\"admin\"]}");
	NOT_HOLDS("{path: roles, op: contains, value: admin}", "{\"roles\":[\"administrator\"]}");
	NOT_HOLDS("{path: roles, op: contains, value: admin}", "{\"roles\":[]}");
	/* Lists only: no substring test on a string. */
	NOT_HOLDS("{path: roles, op: contains, value: admin}", "{\"roles\":\"admin\"}");
	NOT_HOLDS("{path: roles, op: contains, value: admin}", "{\"roles\":\"not-admin\"}");
	NOT_HOLDS("{path: roles, op: contains, value: admin}", "{\"roles\":{\"admin\":1}}");
	HOLDS("{path: ports, op: contains, value: 80}", "{\"ports\":[443,80.0]}");
	NOT_HOLDS("{path: roles, op: contains, value: admin}", "{}");
}

static void test_matches(void **state)
{
	(void)state;
	/* Anchored only as written. */
	HOLDS("{path: s, op: matches, value: \"ab\"}", "{\"s\":\"xaby\"}");
	HOLDS("{path: s, op: matches, value: \"^ab\"}", "{\"s\":\"abc\"}");
	NOT_HOLDS("{path: s, op: matches, value: \"^ab\"}", "{\"s\":\"xab\"}");
	HOLDS("{path: s, op: matches, value: \"^[a-z]+(-[0-9]+)?$\"}", "{\"s\":\"net-12\"}");
	NOT_HOLDS("{path: s, op: matches, value: \"^[a-z]+(-[0-9]+)?$\"}", "{\"s\":\"net-12x\"}");
	NOT_HOLDS("{path: s, op: matches, value: \".\"}", "{\"s\":\"\"}");
	NOT_HOLDS("{path: s, op: matches, value: \"1\"}", "{\"s\":1}");
	NOT_HOLDS("{path: s, op: matches, value: \"a\"}", "{\"s\":[\"a\"]}");
	NOT_HOLDS("{path: s, op: matches, value: \"a\"}", "{}");
	/* regexec would stop at the NUL: such a string never matches. */
	NOT_HOLDS("{path: s, op: matches, value: \"^ok$\"}", "{\"s\":\"ok\\u0000evil\"}");
	NOT_HOLDS("{path: s, op: matches, value: \"ok\"}", "{\"s\":\"ok\\u0000\"}");
}

static void test_exists_and_default(void **state)
{
	(void)state;
	HOLDS("{path: a.b, op: exists}", "{\"a\":{\"b\":0}}");
	HOLDS("{path: a.b, op: exists}", "{\"a\":{\"b\":false}}");
	NOT_HOLDS("{path: a.b, op: exists}", "{\"a\":{}}");
	NOT_HOLDS("{path: a.b, op: exists}", "{\"a\":{\"b\":null}}"); /* null is missing */
	HOLDS("{not: {path: a.b, op: exists}}", "{\"a\":1}");
	/* default stands in for a missing (or null) value, and only then. */
	HOLDS("{path: n, op: le, value: 0, default: 0}", "{}");
	HOLDS("{path: n, op: le, value: 0, default: 0}", "{\"n\":null}");
	NOT_HOLDS("{path: n, op: le, value: 0, default: 0}", "{\"n\":3}");
	NOT_HOLDS("{path: n, op: le, value: 0, default: 0}", "{\"n\":\"0\"}");
	HOLDS("{path: e, op: eq, value: deny, default: deny}", "{}");
	NOT_HOLDS("{path: e, op: eq, value: deny}", "{}");
}

static void test_ref(void **state)
{
	(void)state;
	HOLDS("{path: used, op: lt, ref: cap}", "{\"used\":1,\"cap\":2}");
	NOT_HOLDS("{path: used, op: lt, ref: cap}", "{\"used\":2,\"cap\":2}");
	HOLDS("{path: used, op: ge, ref: limits.cap}", "{\"used\":2.5,\"limits\":{\"cap\":2}}");
	NOT_HOLDS("{path: used, op: lt, ref: cap}", "{\"used\":1}");
	NOT_HOLDS("{path: used, op: lt, ref: cap}", "{\"used\":1,\"cap\":\"2\"}");
	HOLDS("{path: a, op: eq, ref: b}", "{\"a\":[1,{\"x\":2}],\"b\":[1,{\"x\":2}]}");
	HOLDS("{path: t, op: in, ref: allowed}", "{\"t\":\"x\",\"allowed\":[\"y\",\"x\"]}");
	NOT_HOLDS("{path: t, op: in, ref: allowed}", "{\"t\":\"x\",\"allowed\":\"x\"}");
	HOLDS("{path: roles, op: contains, ref: need}", "{\"roles\":[\"a\",\"b\"],\"need\":\"b\"}");
	/* default applies to path, never to ref. */
	HOLDS("{path: used, op: lt, ref: cap, default: 0}", "{\"cap\":1}");
	NOT_HOLDS("{path: used, op: lt, ref: cap, default: 0}", "{}");
}

static void test_paths(void **state)
{
	(void)state;
	const char *doc = "{\"spec\":{\"assets\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\","
			  "\"networks\":[[\"n0\"]]}]}},\"argv\":[\"sh\",\"-c\"],\"my-key_2\":1}";
	HOLDS("{path: \"spec.assets.containers[1].name\", op: eq, value: b}", doc);
	HOLDS("{path: \"spec.assets.containers[1].networks[0][0]\", op: eq, value: n0}", doc);
	HOLDS("{path: \"argv[0]\", op: eq, value: sh}", doc);
	HOLDS("{path: \"argv[1]\", op: eq, value: -c}", doc);
	HOLDS("{path: my-key_2, op: eq, value: 1}", doc);
	NOT_HOLDS("{path: \"argv[2]\", op: exists}", doc);
	NOT_HOLDS("{path: \"argv[999999]\", op: exists}", doc);
	NOT_HOLDS("{path: \"spec[0]\", op: exists}", doc);   /* index into an object */
	NOT_HOLDS("{path: argv.sh, op: exists}", doc);	     /* key into a list */
	NOT_HOLDS("{path: \"argv[0].x\", op: exists}", doc); /* key into a string */
	NOT_HOLDS("{path: spec.nothing.deeper, op: exists}", doc);
}

static void test_combinators(void **state)
{
	(void)state;
	const char *in = "{\"a\":1,\"b\":2,\"roles\":[\"admin\"]}";
	HOLDS("{all: [{path: a, op: eq, value: 1}, {path: b, op: eq, value: 2}]}", in);
	NOT_HOLDS("{all: [{path: a, op: eq, value: 1}, {path: b, op: eq, value: 3}]}", in);
	HOLDS("{any: [{path: a, op: eq, value: 9}, {path: b, op: eq, value: 2}]}", in);
	NOT_HOLDS("{any: [{path: a, op: eq, value: 9}, {path: b, op: eq, value: 9}]}", in);
	HOLDS("{not: {path: a, op: eq, value: 9}}", in);
	NOT_HOLDS("{not: {not: {path: a, op: eq, value: 9}}}", in);
	HOLDS("{all: [{any: [{path: a, op: eq, value: 9}, {not: {path: c, op: exists}}]},"
	      " {path: b, op: gt, value: 1}]}",
	      in);
	HOLDS("{condition: is-admin}", in);
	NOT_HOLDS("{condition: is-admin}", "{\"roles\":[]}");
	HOLDS("{all: [{condition: is-admin}, {not: {path: z, op: exists}}]}", in);
	HOLDS("{not: {condition: is-admin}}", "{}");
}

/* ------------------------------------------------------------- decisions */

static const char gate_rules[] = "package: spawn\n"
				 "rules:\n"
				 "  - id: allow-a\n"
				 "    effect: allow\n"
				 "    when: {path: a, op: eq, value: 1}\n"
				 "  - id: allow-b\n"
				 "    effect: allow\n"
				 "    when: {path: b, op: eq, value: 1}\n"
				 "  - id: deny-c\n"
				 "    effect: deny\n"
				 "    when: {path: c, op: gt, value: 0}\n"
				 "    message: \"c is {c}\"\n"
				 "  - id: deny-d\n"
				 "    effect: deny\n"
				 "    when: {path: d, op: exists}\n"
				 "    message: \"d is {d}, e is {e}\"\n";

static struct forge_policy_decision decide(struct forge_policy *p, const char *gate,
					   const char *input)
{
	struct forge_policy_decision d;
	struct forge_err err = {0};
	json_t *in = input_of(input);

	if (forge_policy_eval(p, gate, in, &d, &err))
		fail_msg("eval: %s", err.msg);
	json_decref(in);
	return d;
}

static void expect_strings(const json_t *got, const char *want)
{
	char *text = json_dumps(got, JSON_COMPACT);

	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
}

static void test_decisions(void **state)
{
	(void)state;
	struct forge_policy *p = bundle("spawn", gate_rules);
	struct forge_policy_decision d;

	d = decide(p, "spawn", "{\"a\":1,\"b\":1}");
	assert_true(d.allow);
	expect_strings(d.reasons, "[]");
	expect_strings(d.matched, "[\"allow-a\",\"allow-b\"]");
	assert_string_equal(d.gate, "spawn");
	assert_string_equal(d.bundle, forge_policy_bundle(p));
	assert_int_equal(strlen(d.id), FORGE_POLICY_ID_LEN);
	assert_int_equal(strspn(d.id, "0123456789abcdef"), FORGE_POLICY_ID_LEN);
	char first_id[FORGE_POLICY_ID_LEN + 1];
	memcpy(first_id, d.id, sizeof(first_id));
	forge_policy_decision_clear(&d);

	/* A deny rule wins over a matching allow rule, and says why. */
	d = decide(p, "spawn", "{\"a\":1,\"c\":3}");
	assert_false(d.allow);
	expect_strings(d.reasons, "[\"c is 3\"]");
	expect_strings(d.matched, "[\"allow-a\",\"deny-c\"]");
	assert_string_not_equal(d.id, first_id);
	forge_policy_decision_clear(&d);

	/* Every deny reason, in rule order. */
	d = decide(p, "spawn", "{\"c\":1,\"d\":\"x\",\"e\":[1,2]}");
	assert_false(d.allow);
	expect_strings(d.reasons, "[\"c is 1\",\"d is x, e is [1,2]\"]");
	forge_policy_decision_clear(&d);

	/* Default deny, with one reason naming the gate. */
	d = decide(p, "spawn", "{\"a\":2}");
	assert_false(d.allow);
	expect_strings(d.reasons, "[\"spawn: no allow rule matched\"]");
	expect_strings(d.matched, "[]");
	forge_policy_decision_clear(&d);

	/* A gate whose file the bundle lacks denies everything. */
	d = decide(p, "quota", "{\"a\":1}");
	assert_false(d.allow);
	expect_strings(d.reasons, "[\"quota: no rules for this gate\"]");
	forge_policy_decision_clear(&d);

	forge_policy_free(p);
}

static void test_eval_errors(void **state)
{
	(void)state;
	struct forge_policy *p = bundle("spawn", gate_rules);
	struct forge_policy_decision d;
	struct forge_err err = {0};
	json_t *arr = json_array();

	assert_int_equal(forge_policy_eval(p, "admin", arr, &d, &err), -EINVAL);
	assert_string_equal(err.msg, "policy: unknown gate \"admin\"");
	assert_null(d.reasons);
	assert_int_equal(forge_policy_eval(p, "\x1b[2J", arr, &d, &err), -EINVAL);
	assert_string_equal(err.msg, "policy: unknown gate \"?[2J\"");
	assert_int_equal(forge_policy_eval(p, NULL, arr, &d, &err), -EINVAL);
	assert_int_equal(forge_policy_eval(p, "spawn", arr, &d, &err), -EINVAL);
	assert_string_equal(err.msg, "policy: spawn: the input is not a JSON object");
	assert_int_equal(forge_policy_eval(p, "spawn", NULL, &d, &err), -EINVAL);
	assert_false(forge_policy_gate_known("admin"));
	assert_true(forge_policy_gate_known("action"));
	json_decref(arr);
	forge_policy_free(p);
}

static void test_reason_values(void **state)
{
	(void)state;
	struct forge_policy *p =
	    bundle("action", "package: action\n"
			     "rules:\n"
			     "  - id: deny-all\n"
			     "    effect: deny\n"
			     "    when: {path: x, op: exists}\n"
			     "    message: \"s={s} n={n} r={r} b={b} o={o} m={m} i={argv[1]} "
			     "l={long}\"\n");
	char long_value[300], input[1024];
	memset(long_value, 'v', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	snprintf(input, sizeof(input),
		 "{\"x\":1,\"s\":\"a\\u001b[31m\\n\\u00e9\",\"n\":-7,\"r\":0.5,\"b\":false,"
		 "\"o\":{\"k\":\"v\"},\"argv\":[\"sh\",\"-c\"],\"long\":\"%s\"}",
		 long_value);
	struct forge_policy_decision d = decide(p, "action", input);
	const char *got = json_string_value(json_array_get(d.reasons, 0));
	assert_non_null(got);
	/* Control bytes and non-ASCII become '?'; long values are cut at 64 bytes. */
	char want[512];
	snprintf(want, sizeof(want),
		 "s=a?[31m??? n=-7 r=0.5 b=false o={\"k\":\"v\"} m=(missing) i=-c l=%.64s...",
		 long_value);
	assert_string_equal(got, want);
	forge_policy_decision_clear(&d);
	forge_policy_free(p);
}

static void test_decision_json(void **state)
{
	(void)state;
	struct forge_policy *p = bundle("spawn", gate_rules);
	struct forge_policy_decision d = decide(p, "spawn", "{\"b\":1,\"c\":2}");
	json_t *j = forge_policy_decision_json(&d);

	assert_non_null(j);
	assert_int_equal(json_object_size(j), 6);
	assert_string_equal(json_string_value(json_object_get(j, "decision_id")), d.id);
	assert_string_equal(json_string_value(json_object_get(j, "gate")), "spawn");
	assert_true(json_is_false(json_object_get(j, "allow")));
	assert_true(json_equal(json_object_get(j, "reasons"), d.reasons));
	assert_true(json_equal(json_object_get(j, "matched"), d.matched));
	assert_string_equal(json_string_value(json_object_get(j, "bundle")),
			    forge_policy_bundle(p));
	/* A copy: the decision can go while the log line is still being built. */
	forge_policy_decision_clear(&d);
	expect_strings(json_object_get(j, "reasons"), "[\"c is 2\"]");
	json_decref(j);
	forge_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_eq_ne),
	    cmocka_unit_test(test_ordering),
	    cmocka_unit_test(test_in_contains),
	    cmocka_unit_test(test_matches),
	    cmocka_unit_test(test_exists_and_default),
	    cmocka_unit_test(test_ref),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_combinators),
	    cmocka_unit_test(test_decisions),
	    cmocka_unit_test(test_eval_errors),
	    cmocka_unit_test(test_reason_values),
	    cmocka_unit_test(test_decision_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
