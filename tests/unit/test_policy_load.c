/* SPDX-License-Identifier: Apache-2.0 */
/* policy/load.c and cases.c: strict loading, bundle hash, pin, rule directories, test cases. */
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

#include "policy/policy.h"

/* ------------------------------------------------------------- helpers */

static json_t *yaml(const char *text)
{
	struct forge_err err = {0};
	json_t *doc = NULL;

	if (forge_yaml_parse(text, strlen(text), "t.yaml", &doc, &err))
		fail_msg("yaml: %s", err.msg);
	return doc;
}

/* Loading {"training.yaml": text} must fail with a message containing want. */
static void expect_refused(const char *text, const char *want)
{
	struct forge_err err = {0};
	struct forge_policy *p = (struct forge_policy *)&err; /* must come back NULL */
	json_t *files = json_pack("{s:o}", "training.yaml", yaml(text));

	assert_int_equal(forge_policy_from_json(files, &p, &err), -EINVAL);
	assert_null(p);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" does not say \"%s\"", err.msg, want);
	json_decref(files);
}

#define HEAD "package: training\n"
/* One rule around a condition. */
#define RULE(cond) HEAD "rules:\n  - {id: r, effect: allow, when: " cond "}\n"

static void test_load_errors_name_file_and_path(void **state)
{
	(void)state;
	/* The file, the JSON path with the rule id, the offender. */
	expect_refused(
	    HEAD "rules:\n"
		 "  - {id: ok, effect: allow, when: {path: a, op: exists}}\n"
		 "  - id: deny-egress\n"
		 "    effect: allow\n"
		 "    when: {all: [{path: a, op: exists}, {path: b, op: equals, value: 1}]}\n",
	    "policy: training.yaml: rules[1](deny-egress).when.all[1].op: unknown op "
	    "\"equals\"");
	expect_refused(HEAD "rulez: []\n", "policy: training.yaml: unknown key \"rulez\"");
	expect_refused("rules: []\n", "policy: training.yaml: package: missing");
	expect_refused(
	    "package: spawn\nrules: [{id: r, effect: allow, when: {path: a, op: exists}}]\n",
	    "training.yaml: package: \"spawn\" does not match the file name");
	expect_refused(HEAD "rules: []\n",
		       "training.yaml: rules: a list of 1 to 256 rules expected");
	expect_refused(HEAD "rules: {id: r}\n", "rules: a list of 1 to 256 rules expected");
	expect_refused("[1]\n", "policy: training.yaml: a rule file (a mapping) expected");
	expect_refused(HEAD "rules: [7]\n", "training.yaml: rules[0]: a rule (a mapping) expected");
}

static void test_rule_errors(void **state)
{
	(void)state;
	expect_refused(HEAD "rules:\n  - {effect: allow, when: {path: a, op: exists}}\n",
		       "rules[0].id: missing");
	expect_refused(HEAD
		       "rules:\n  - {id: \"Bad Id\", effect: allow, when: {path: a, op: exists}}\n",
		       "rules[0].id: \"Bad Id\" is not an id");
	expect_refused(HEAD "rules:\n  - {id: -x, effect: allow, when: {path: a, op: exists}}\n",
		       "is not an id");
	expect_refused(HEAD "rules:\n  - {id: 7, effect: allow, when: {path: a, op: exists}}\n",
		       "rules[0].id: a string of 1 to 64 bytes expected");
	expect_refused(HEAD "rules:\n"
			    "  - {id: r, effect: allow, when: {path: a, op: exists}}\n"
			    "  - {id: r, effect: deny, when: {path: a, op: exists}, message: m}\n",
		       "rules[1].id: duplicate rule id \"r\" (first in training.yaml)");
	expect_refused(HEAD "rules:\n  - {id: r, effect: permit, when: {path: a, op: exists}}\n",
		       "rules[0](r).effect: \"permit\" is neither allow nor deny");
	expect_refused(HEAD "rules:\n  - {id: r, when: {path: a, op: exists}}\n",
		       "rules[0](r).effect: missing");
	expect_refused(HEAD "rules:\n  - {id: r, effect: deny, when: {path: a, op: exists}}\n",
		       "rules[0](r).message: missing (a deny rule gives its reason)");
	expect_refused(
	    HEAD "rules:\n  - {id: r, effect: allow, message: m, when: {path: a, op: exists}}\n",
	    "rules[0](r).message: an allow rule has no message");
	expect_refused(HEAD "rules:\n  - {id: r, effect: allow}\n", "rules[0](r).when: missing");
	expect_refused(HEAD "rules:\n  - {id: r, effect: allow, if: {path: a, op: exists}}\n",
		       "rules[0]: unknown key \"if\"");
	expect_refused(HEAD "rules:\n  - {id: r, effect: allow, when: [{path: a, op: exists}]}\n",
		       "rules[0](r).when: a condition (a mapping) expected");
	expect_refused(
	    HEAD
	    "rules:\n  - {id: r, effect: allow, description: 3, when: {path: a, op: exists}}\n",
	    "rules[0](r).description: a string");
}

static void test_condition_errors(void **state)
{
	(void)state;
	expect_refused(RULE("{path: a, op: eq}"), "when: eq needs exactly one of value and ref");
	expect_refused(RULE("{path: a, op: eq, value: 1, ref: b}"),
		       "eq needs exactly one of value and ref");
	expect_refused(RULE("{path: a, op: exists, value: true}"),
		       "when: exists takes no value, ref or default");
	expect_refused(RULE("{path: a, op: exists, default: 1}"), "exists takes no value");
	expect_refused(RULE("{path: a, value: 1}"), "when.op: missing");
	expect_refused(RULE("{op: eq, value: 1}"), "when.path: missing");
	expect_refused(RULE("{path: a, op: eq, value: 1, why: x}"), "when: unknown key \"why\"");
	expect_refused(RULE("{path: a, op: EQ, value: 1}"), "when.op: unknown op \"EQ\"");
	/* Wrong types for the op. */
	expect_refused(RULE("{path: a, op: lt, value: \"5\"}"), "when.value: a number expected");
	expect_refused(RULE("{path: a, op: ge, value: [1]}"), "when.value: a number expected");
	expect_refused(RULE("{path: a, op: eq, value: [1]}"),
		       "when.value: a string, number or boolean expected");
	expect_refused(RULE("{path: a, op: eq, value: null}"), "a string, number or boolean");
	expect_refused(RULE("{path: a, op: contains, value: {k: v}}"),
		       "a string, number or boolean");
	expect_refused(RULE("{path: a, op: in, value: x}"), "when.value: a list of 1 to 256");
	expect_refused(RULE("{path: a, op: in, value: []}"), "a list of 1 to 256");
	expect_refused(RULE("{path: a, op: in, value: [a, [b]]}"),
		       "when.value: [1]: a string, number or boolean expected");
	expect_refused(RULE("{path: a, op: matches, value: 5}"),
		       "when.value: a regular expression of at most 256 bytes expected");
	expect_refused(RULE("{path: a, op: matches, value: \"a(b\"}"),
		       "when.value: bad regular expression \"a(b\"");
	expect_refused(RULE("{path: a, op: matches, value: \"[z-a]\"}"), "bad regular expression");
	expect_refused(RULE("{path: a, op: matches, ref: b}"),
		       "when.ref: matches needs a constant regular expression");
	expect_refused(RULE("{path: a, op: eq, value: 1, default: [0]}"),
		       "when.default: a string, number or boolean expected");
	expect_refused(RULE("{path: 5, op: exists}"), "when.path: a string of 1 to 255 bytes");
	expect_refused(RULE("{path: a, op: 5}"), "when.op: a string");
	/* Combinators. */
	expect_refused(RULE("{all: []}"), "when.all: a list of 1 to 64 conditions expected");
	expect_refused(RULE("{any: {path: a, op: exists}}"), "when.any: a list of 1 to 64");
	expect_refused(RULE("{all: [{path: a, op: exists}], path: b}"),
		       "when: unknown key \"path\"");
	expect_refused(RULE("{all: [{path: a, op: exists}], any: [{path: a, op: exists}]}"),
		       "when: unknown key \"any\"");
	expect_refused(RULE("{not: [{path: a, op: exists}]}"),
		       "when.not: a condition (a mapping) expected");
	expect_refused(RULE("{any: [{path: a, op: exists}, 3]}"),
		       "when.any[1]: a condition (a mapping) expected");
	expect_refused(RULE("{condition: nowhere}"),
		       "when.condition: unknown condition \"nowhere\"");
	expect_refused(RULE("{condition: [x]}"), "unknown condition \"(not a string)\"");
	expect_refused(RULE("{}"), "when.path: missing");
}

static void test_path_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "a..b",  ".a",
	    "a.",    "[0]",
	    "a[]",   "a[x]",
	    "a[0]b", "a[1234567]",
	    "a b",   "a.b$",
	    "a[0",   "a/b",
	    "",	     "p1.p2.p3.p4.p5.p6.p7.p8.p9.p10.p11.p12.p13.p14.p15.p16.p17", /* 17 segments */
	};
	char text[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), RULE("{path: \"%s\", op: exists}"), bad[i]);
		expect_refused(text, "when.path:");
		snprintf(text, sizeof(text), RULE("{path: a, op: lt, ref: \"%s\"}"), bad[i]);
		expect_refused(text, "when.ref:");
	}
	expect_refused(RULE("{path: \"a..b\", op: exists}"), "when.path: \"a..b\" is not a path");
	/* 16 segments and 6-digit indexes are fine. */
	struct forge_err err = {0};
	struct forge_policy *p = NULL;
	json_t *files = json_pack(
	    "{s:o}", "training.yaml",
	    yaml(RULE("{path: \"p1.p2.p3.p4.p5.p6.p7.p8.p9.p10.p11.p12.p13.p14.p15[999999]\", "
		      "op: exists}")));
	assert_int_equal(forge_policy_from_json(files, &p, &err), 0);
	forge_policy_free(p);
	json_decref(files);
}

static void test_message_errors(void **state)
{
	(void)state;
	char text[1024], msg[400];

#define DENY(m)                                                                                    \
	HEAD "rules:\n  - {id: d, effect: deny, when: {path: a, op: exists}, message: \"" m "\"}"  \
	     "\n"
	expect_refused(DENY("a {b"), "rules[0](d).message: a placeholder is not {path}");
	expect_refused(DENY("a {b c}"), "a placeholder is not {path}");
	expect_refused(DENY("a {}"), "a placeholder is not {path}");
	expect_refused(DENY("a } b"), "rules[0](d).message: '}' outside a {path} placeholder");
	expect_refused(DENY("{a}{b}{c}{d}{e}{f}{g}{h}{i}"), "message: more than 8 placeholders");
	memset(msg, 'm', 257);
	msg[257] = '\0';
	snprintf(text, sizeof(text), DENY("%s"), msg);
	expect_refused(text, "rules[0](d).message: a string of 1 to 256 bytes expected");
	expect_refused(DENY(""), "message: a string of 1 to 256 bytes expected");
#undef DENY
}

static void test_named_condition_errors(void **state)
{
	(void)state;
	expect_refused(
	    HEAD "conditions:\n"
		 "  a: {path: x, op: exists}\n"
		 "  b: {condition: a}\n"
		 "rules: [{id: r, effect: allow, when: {condition: b}}]\n",
	    "training.yaml: conditions.b.condition: a named condition cannot use another");
	expect_refused(HEAD "conditions:\n"
			    "  Big: {path: x, op: exists}\n"
			    "rules: [{id: r, effect: allow, when: {condition: Big}}]\n",
		       "conditions: \"Big\" is not a name");
	expect_refused(HEAD "conditions:\n"
			    "  a: {path: x, op: gt, value: y}\n"
			    "rules: [{id: r, effect: allow, when: {condition: a}}]\n",
		       "training.yaml: conditions.a.value: a number expected");
	expect_refused(
	    HEAD "conditions: [a]\nrules: [{id: r, effect: allow, when: {path: a, op: exists}}]\n",
	    "training.yaml: conditions: a mapping of at most 64 named conditions");
}

static void test_bounds(void **state)
{
	(void)state;
	char *text = malloc(64 * 1024);
	size_t n;

	assert_non_null(text);
	/* 17 nested nots. */
	n = (size_t)sprintf(text, HEAD "rules:\n  - {id: r, effect: allow, when: ");
	for (int i = 0; i < 16; i++)
		n += (size_t)sprintf(text + n, "{not: ");
	n += (size_t)sprintf(text + n, "{path: a, op: exists}");
	for (int i = 0; i < 16; i++)
		n += (size_t)sprintf(text + n, "}");
	sprintf(text + n, "}\n");
	expect_refused(text, "conditions nested deeper than 16");
	/* 65 conditions under one any. */
	n = (size_t)sprintf(text, HEAD "rules:\n  - {id: r, effect: allow, when: {any: [");
	for (int i = 0; i < 65; i++)
		n += (size_t)sprintf(text + n, "%s{path: a, op: exists}", i ? ", " : "");
	sprintf(text + n, "]}}\n");
	expect_refused(text, "when.any: a list of 1 to 64 conditions expected");
	/* 257 rules. */
	n = (size_t)sprintf(text, HEAD "rules:\n");
	for (int i = 0; i < 257; i++)
		n += (size_t)sprintf(
		    text + n, "  - {id: r%d, effect: allow, when: {path: a, op: exists}}\n", i);
	expect_refused(text, "rules: a list of 1 to 256 rules expected");
	/* 257 values in an in list; a 257-byte regex. */
	n = (size_t)sprintf(text, HEAD
			    "rules:\n  - {id: r, effect: allow, when: {path: a, op: in, value: [");
	for (int i = 0; i < 257; i++)
		n += (size_t)sprintf(text + n, "%s%d", i ? "," : "", i);
	sprintf(text + n, "]}}\n");
	expect_refused(text, "when.value: a list of 1 to 256 values expected");
	n = (size_t)sprintf(
	    text, HEAD "rules:\n  - {id: r, effect: allow, when: {path: a, op: matches, value: \"");
	memset(text + n, 'a', 257);
	sprintf(text + n + 257, "\"}}\n");
	expect_refused(text, "a regular expression of at most 256 bytes expected");
	free(text);
}

static void test_file_names(void **state)
{
	(void)state;
	struct forge_err err = {0};
	struct forge_policy *p = NULL;
	json_t *files = json_pack("{s:o}", "admin.yaml", yaml(RULE("{path: a, op: exists}")));

	assert_int_equal(forge_policy_from_json(files, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "policy: admin.yaml: not a rule file name (training.yaml, "
				     "spawn.yaml, quota.yaml or action.yaml)");
	json_decref(files);
	files = json_object();
	assert_int_equal(forge_policy_from_json(files, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "policy: no rule files");
	assert_int_equal(forge_policy_from_json(NULL, &p, &err), -EINVAL);
	/* Rule ids are unique across the bundle. */
	json_object_set_new(files, "training.yaml", yaml(RULE("{path: a, op: exists}")));
	json_object_set_new(
	    files, "quota.yaml",
	    yaml("package: quota\nrules: [{id: r, effect: allow, when: {path: a, op: exists}}]\n"));
	assert_int_equal(forge_policy_from_json(files, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "policy: quota.yaml: rules[0].id: duplicate rule id \"r\" "
				     "(first in training.yaml)");
	assert_null(p);
	json_decref(files);
}

/* ------------------------------------------------------------- bundle hash, pin */

static const char training_rules[] =
    "# comment\n"
    "package: training\n"
    "rules:\n"
    "  - id: allow-cissp\n"
    "    effect: allow\n"
    "    when: {path: spec.limits.attacker_max_exploits, op: le, value: 5, default: 0}\n";

static const char spawn_rules[] =
    "package: spawn\n"
    "rules: [{id: s, effect: allow, when: {path: roles, op: contains, value: forge.spawn}}]\n";

static struct forge_policy *from_texts(const char *training, const char *spawn, bool reversed)
{
	struct forge_err err = {0};
	struct forge_policy *p = NULL;
	json_t *files = reversed ? json_pack("{s:o, s:o}", "spawn.yaml", yaml(spawn),
					     "training.yaml", yaml(training))
				 : json_pack("{s:o, s:o}", "training.yaml", yaml(training),
					     "spawn.yaml", yaml(spawn));
	if (forge_policy_from_json(files, &p, &err))
		fail_msg("load: %s", err.msg);
	json_decref(files);
	return p;
}

static void test_bundle_hash(void **state)
{
	(void)state;
	struct forge_policy *a = from_texts(training_rules, spawn_rules, false);
	struct forge_policy *b = from_texts(training_rules, spawn_rules, true);
	char want[65];
	struct forge_err err = {0};

	/* The sha256 of the canonical {"<file>": doc}, whatever the order… */
	json_t *files = json_pack("{s:o, s:o}", "training.yaml", yaml(training_rules), "spawn.yaml",
				  yaml(spawn_rules));
	assert_int_equal(forge_json_canonical_sha256(files, want, &err), 0);
	assert_string_equal(forge_policy_bundle(a), want);
	assert_string_equal(forge_policy_bundle(b), want);
	json_decref(files);
	forge_policy_free(b);

	/* …and whatever the comments or layout. */
	char relaid[sizeof(training_rules) + 64];
	snprintf(relaid, sizeof(relaid), "%s",
		 "package: training   # the gate\n"
		 "rules:\n"
		 "- id: allow-cissp\n"
		 "  effect: allow\n"
		 "  when:\n"
		 "    path: spec.limits.attacker_max_exploits\n"
		 "    op: le\n"
		 "    value: 5\n"
		 "    default: 0\n");
	b = from_texts(relaid, spawn_rules, false);
	assert_string_equal(forge_policy_bundle(b), forge_policy_bundle(a));
	forge_policy_free(b);

	/* One byte of meaning changed: another hash. */
	char changed[sizeof(training_rules)];
	memcpy(changed, training_rules, sizeof(changed));
	*strstr(changed, "value: 5") = 'V';
	memcpy(strstr(changed, "Value: 5"), "value: 6", 8);
	b = from_texts(changed, spawn_rules, false);
	assert_string_not_equal(forge_policy_bundle(b), forge_policy_bundle(a));
	forge_policy_free(b);
	/* The file name counts too. */
	json_t *one = json_pack("{s:o}", "training.yaml", yaml(training_rules));
	json_t *renamed =
	    json_pack("{s:o}", "action.yaml",
		      yaml("package: action\n"
			   "rules:\n"
			   "  - id: allow-cissp\n"
			   "    effect: allow\n"
			   "    when: {path: spec.limits.attacker_max_exploits, op: le, "
			   "value: 5, default: 0}\n"));
	struct forge_policy *c = NULL, *d = NULL;
	assert_int_equal(forge_policy_from_json(one, &c, &err), 0);
	assert_int_equal(forge_policy_from_json(renamed, &d, &err), 0);
	assert_string_not_equal(forge_policy_bundle(c), forge_policy_bundle(d));
	forge_policy_free(c);
	forge_policy_free(d);
	json_decref(one);
	json_decref(renamed);
	forge_policy_free(a);
}

static void test_pin(void **state)
{
	(void)state;
	struct forge_policy *p = from_texts(training_rules, spawn_rules, false);
	struct forge_err err = {0};
	char pin[65], msg[FORGE_ERR_MSG_MAX];

	snprintf(pin, sizeof(pin), "%s", forge_policy_bundle(p));
	assert_int_equal(forge_policy_check_pin(p, pin, &err), 0);
	pin[10] = pin[10] == '0' ? '1' : '0';
	assert_int_equal(forge_policy_check_pin(p, pin, &err), -EPERM);
	snprintf(msg, sizeof(msg), "policy: rule bundle sha256 %s does not match the pinned %s",
		 forge_policy_bundle(p), pin);
	assert_string_equal(err.msg, msg);
	const char *bad[] = {NULL,
			     "",
			     "abc",
			     "sha256:0000",
			     "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
			     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(forge_policy_check_pin(p, bad[i], &err), -EINVAL);
		assert_string_equal(
		    err.msg, "policy: the pinned bundle hash is not 64 lowercase hex digits");
	}
	forge_policy_free(p);
}

/* ------------------------------------------------------------- directories */

struct tmp {
	char dir[64];
};

static int setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/forge-policy-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown_tmp(void **state)
{
	struct tmp *t = *state;
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd < 0 ? -1 : forge_remove_tree(fd, t->dir + strlen("/tmp/"), NULL);

	if (fd >= 0)
		close(fd);
	free(t);
	return rc;
}

static void put(const struct tmp *t, const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void expect_dir_refused(const struct tmp *t, const char *want)
{
	struct forge_err err = {0};
	struct forge_policy *p = NULL;

	assert_true(forge_policy_load(t->dir, &p, &err) < 0);
	assert_null(p);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" does not say \"%s\"", err.msg, want);
}

static void test_load_dir(void **state)
{
	struct tmp *t = *state;
	struct forge_err err = {0};
	struct forge_policy *p = NULL, *q = NULL;
	char path[256];

	expect_dir_refused(t, "no rule files (<gate>.yaml)");
	put(t, "training.yaml", training_rules);
	put(t, "spawn.yaml", spawn_rules);
	put(t, "README.md", "not a rule file\n"); /* ignored */
	put(t, ".hidden.yaml", "{{{\n");	  /* ignored */
	assert_int_equal(forge_policy_load(t->dir, &p, &err), 0);
	q = from_texts(training_rules, spawn_rules, true);
	assert_string_equal(forge_policy_bundle(p), forge_policy_bundle(q));
	forge_policy_free(q);

	/* The same files give the same hash; one byte changed, another. */
	assert_int_equal(forge_policy_load(t->dir, &q, &err), 0);
	assert_string_equal(forge_policy_bundle(p), forge_policy_bundle(q));
	forge_policy_free(q);
	put(t, "spawn.yaml",
	    "package: spawn\n"
	    "rules: [{id: s, effect: allow, when: {path: roles, op: contains, value: "
	    "forge.spawm}}]\n");
	assert_int_equal(forge_policy_load(t->dir, &q, &err), 0);
	assert_string_not_equal(forge_policy_bundle(p), forge_policy_bundle(q));
	forge_policy_free(q);
	forge_policy_free(p);

	put(t, "spawn.yaml", "package: spawn\nrules:\n  - id: s\n    effect: allow\n  when: x\n");
	expect_dir_refused(t, "policy: spawn.yaml:");
	put(t, "spawn.yaml",
	    "package: spawn\nrules: [{id: s, effect: allow, when: {path: a, op: is}}]\n");
	expect_dir_refused(t, "policy: spawn.yaml: rules[0](s).when.op: unknown op \"is\"");
	put(t, "spawn.yaml", spawn_rules);
	put(t, "admin.yaml", spawn_rules);
	expect_dir_refused(t, "policy: admin.yaml: not a rule file name");
	snprintf(path, sizeof(path), "%s/admin.yaml", t->dir);
	assert_int_equal(unlink(path), 0);
	/* A FIFO must be refused, not read (which would hang). */
	snprintf(path, sizeof(path), "%s/quota.yaml", t->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_dir_refused(t, "policy: quota.yaml: not a regular file");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	expect_dir_refused(t, "policy: quota.yaml: not a regular file");
	assert_int_equal(rmdir(path), 0);
	/* Too big. */
	char *big = malloc(300 * 1024);
	assert_non_null(big);
	memset(big, '#', 300 * 1024 - 1);
	big[300 * 1024 - 1] = '\0';
	put(t, "quota.yaml", big);
	free(big);
	expect_dir_refused(t, "quota.yaml");
	assert_int_equal(unlink(path), 0);

	assert_int_equal(forge_policy_load("/nonexistent/forge-policy", &p, &err), -ENOENT);
	assert_string_equal(err.msg,
			    "policy: /nonexistent/forge-policy: No such file or directory");
}

/* ------------------------------------------------------------- test cases */

static json_t *run_cases(const struct tmp *t, struct forge_policy *p, int want_rc,
			 const char *want_msg)
{
	struct forge_err err = {0};
	json_t *results = NULL;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/cases", t->dir);
	assert_int_equal(forge_policy_test_dir(p, dir, &results, &err), want_rc);
	if (want_msg && !strstr(err.msg, want_msg))
		fail_msg("message \"%s\" does not say \"%s\"", err.msg, want_msg);
	return results;
}

static void test_cases(void **state)
{
	struct tmp *t = *state;
	struct forge_policy *p = from_texts(training_rules, spawn_rules, false);
	json_t *r;
	char path[128];

	snprintf(path, sizeof(path), "%s/cases", t->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	json_decref(run_cases(t, p, -EINVAL, "/cases: no test files (*.yaml)"));
	put(t, "cases/a.yaml",
	    "description: cases\n"
	    "cases:\n"
	    "  - name: five is fine\n"
	    "    gate: training\n"
	    "    input: {spec: {limits: {attacker_max_exploits: 5}}}\n"
	    "    decision: allow\n"
	    "    reasons: []\n"
	    "    matched: [allow-cissp]\n"
	    "  - name: wrong decision\n"
	    "    gate: training\n"
	    "    input: {spec: {limits: {attacker_max_exploits: 6}}}\n"
	    "    decision: allow\n"
	    "  - name: wrong reasons and matched\n"
	    "    gate: training\n"
	    "    input: {spec: {limits: {attacker_max_exploits: 6}}}\n"
	    "    decision: deny\n"
	    "    reasons: [too many]\n"
	    "    matched: [x]\n");
	put(t, "cases/b.yaml",
	    "cases:\n"
	    "  - {name: no role, gate: spawn, input: {roles: []}, decision: deny,\n"
	    "     reasons: [\"spawn: no allow rule matched\"]}\n");
	r = run_cases(t, p, 0, NULL);
	assert_int_equal(json_array_size(r), 4);
	char *text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    text, "[{\"file\":\"a.yaml\",\"name\":\"five is fine\",\"pass\":true,\"why\":\"\"},"
		  "{\"file\":\"a.yaml\",\"name\":\"wrong decision\",\"pass\":false,"
		  "\"why\":\"decision: expected allow, got deny\"},"
		  "{\"file\":\"a.yaml\",\"name\":\"wrong reasons and matched\",\"pass\":false,"
		  "\"why\":\"reasons: expected [\\\"too many\\\"], got "
		  "[\\\"training: no allow rule matched\\\"]; matched: expected [\\\"x\\\"], got "
		  "[]\"},"
		  "{\"file\":\"b.yaml\",\"name\":\"no role\",\"pass\":true,\"why\":\"\"}]");
	free(text);
	json_decref(r);

	/* Malformed files are errors, and no case of them runs. */
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"[]\n", "policy test: c.yaml: a mapping expected"},
	    {"tests: []\n", "policy test: c.yaml: unknown key \"tests\""},
	    {"cases: []\n", "policy test: c.yaml: cases: a list of 1 to 1024 expected"},
	    {"cases: [{name: x, gate: training, input: {}, decision: allow, expect: allow}]\n",
	     "c.yaml: cases[0]: unknown key \"expect\""},
	    {"cases: [{gate: training, input: {}, decision: allow}]\n",
	     "c.yaml: cases[0].name: a string expected"},
	    {"cases: [{name: x, gate: admin, input: {}, decision: allow}]\n",
	     "c.yaml: cases[0].gate: training, spawn, quota or action expected"},
	    {"cases: [{name: x, gate: spawn, input: [1], decision: allow}]\n",
	     "c.yaml: cases[0].input: a mapping expected"},
	    {"cases: [{name: x, gate: spawn, input: {}, decision: maybe}]\n",
	     "c.yaml: cases[0].decision: allow or deny expected"},
	    {"cases: [{name: x, gate: spawn, input: {}, decision: deny, reasons: x}]\n",
	     "c.yaml: cases[0].reasons: a list of strings expected"},
	    {"cases: [{name: x, gate: spawn, input: {}, decision: deny, matched: [1]}]\n",
	     "c.yaml: cases[0].matched: a list of rule ids expected"},
	    {"cases: [{name: x, gate: spawn, input: {}, decision: deny}, 5]\n",
	     "c.yaml: cases[1]: a mapping expected"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(t, "cases/c.yaml", bad[i].text);
		assert_null(run_cases(t, p, -EINVAL, bad[i].want));
	}
	forge_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_errors_name_file_and_path),
	    cmocka_unit_test(test_rule_errors),
	    cmocka_unit_test(test_condition_errors),
	    cmocka_unit_test(test_path_errors),
	    cmocka_unit_test(test_message_errors),
	    cmocka_unit_test(test_named_condition_errors),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_file_names),
	    cmocka_unit_test(test_bundle_hash),
	    cmocka_unit_test(test_pin),
	    cmocka_unit_test_setup_teardown(test_load_dir, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_cases, setup_tmp, teardown_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
