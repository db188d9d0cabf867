/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy/cases.c — policy test cases (`forgectl policy test DIR`): YAML files
 * of inputs with the decision, and optionally the reasons and matched rules,
 * that the bundle must give. A malformed case is an error, never a pass.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

#define CASES_MAX 1024 /* per file */
#define WHY_MAX	  1024

static bool string_list(const json_t *j)
{
	size_t i;
	json_t *e;

	if (!json_is_array(j))
		return false;
	json_array_foreach(j, i, e)
	{
		if (!policy_cstr(e))
			return false;
	}
	return true;
}

/* Checks the shape of cases[i] of file before anything runs. */
static int case_check(const json_t *tc, const char *file, size_t i, struct forge_err *err)
{
	static const char *const keys[] = {"name",     "description", "gate",	 "input",
					   "decision", "reasons",     "matched", NULL};
	const char *key, *decision = policy_cstr(json_object_get(tc, "decision"));
	const json_t *v;

	if (!json_is_object(tc))
		return forge_err_set(err, -EINVAL,
				     "policy test: %s: cases[%zu]: a mapping expected", file, i);
	if (policy_check_keys(tc, keys, &key) < 0)
		return forge_err_set(err, -EINVAL,
				     "policy test: %s: cases[%zu]: unknown key \"%.64s\"", file, i,
				     key);
	if (!policy_cstr(json_object_get(tc, "name")))
		key = "name: a string expected";
	else if (!forge_policy_gate_known(policy_cstr(json_object_get(tc, "gate"))))
		key = "gate: training, spawn, quota or action expected";
	else if (!json_is_object(json_object_get(tc, "input")))
		key = "input: a mapping expected";
	else if (!decision || (strcmp(decision, "allow") != 0 && strcmp(decision, "deny") != 0))
		key = "decision: allow or deny expected";
	else if ((v = json_object_get(tc, "reasons")) && !string_list(v))
		key = "reasons: a list of strings expected";
	else if ((v = json_object_get(tc, "matched")) && !string_list(v))
		key = "matched: a list of rule ids expected";
	else
		return 0;
	return forge_err_set(err, -EINVAL, "policy test: %s: cases[%zu].%s", file, i, key);
}

/* Appends "what: expected X, got Y; " to why when the lists differ. */
static void compare_list(char *why, const char *what, const json_t *want, const json_t *got)
{
	char *w, *g;
	size_t n = strlen(why);

	if (!want || json_equal(want, got))
		return;
	w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
	g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
	snprintf(why + n, WHY_MAX - n, "%s%s: expected %s, got %s", n ? "; " : "", what,
		 w ? w : "?", g ? g : "?");
	free(w);
	free(g);
}

static int case_run(const struct forge_policy *p, const json_t *tc, const char *file,
		    json_t *results, struct forge_err *err)
{
	struct forge_policy_decision d;
	const char *want = json_string_value(json_object_get(tc, "decision"));
	char why[WHY_MAX] = "";
	int rc;

	rc = forge_policy_eval(p, json_string_value(json_object_get(tc, "gate")),
			       json_object_get(tc, "input"), &d, err);
	if (rc)
		return rc;
	if (strcmp(want, d.allow ? "allow" : "deny") != 0)
		snprintf(why, sizeof(why), "decision: expected %s, got %s", want,
			 d.allow ? "allow" : "deny");
	compare_list(why, "reasons", json_object_get(tc, "reasons"), d.reasons);
	compare_list(why, "matched", json_object_get(tc, "matched"), d.matched);
	forge_policy_decision_clear(&d);
	if (json_array_append_new(results, json_pack("{s:s, s:O, s:b, s:s}", "file", file, "name",
						     json_object_get(tc, "name"), "pass",
						     why[0] == '\0', "why", why)) < 0)
		return forge_err_set(err, -ENOMEM, "policy test: out of memory");
	return 0;
}

static int file_run(const struct forge_policy *p, const json_t *doc, const char *file,
		    json_t *results, struct forge_err *err)
{
	static const char *const keys[] = {"description", "cases", NULL};
	const json_t *cases = json_object_get(doc, "cases");
	size_t i, n = json_array_size(cases);
	const char *key;
	int rc = 0;

	if (!json_is_object(doc))
		return forge_err_set(err, -EINVAL, "policy test: %s: a mapping expected", file);
	if (policy_check_keys(doc, keys, &key) < 0)
		return forge_err_set(err, -EINVAL, "policy test: %s: unknown key \"%.64s\"", file,
				     key);
	if (!json_is_array(cases) || n == 0 || n > CASES_MAX)
		return forge_err_set(err, -EINVAL,
				     "policy test: %s: cases: a list of 1 to %d expected", file,
				     CASES_MAX);
	/* All cases are checked before any runs: a typo never half-passes a file. */
	for (i = 0; i < n && rc == 0; i++)
		rc = case_check(json_array_get(cases, i), file, i, err);
	for (i = 0; i < n && rc == 0; i++)
		rc = case_run(p, json_array_get(cases, i), file, results, err);
	return rc;
}

struct test_run {
	const struct forge_policy *p;
	json_t *results;
};

static int test_file(const char *name, json_t *doc, void *arg, struct forge_err *err)
{
	struct test_run *run = arg;

	return file_run(run->p, doc, name, run->results, err);
}

int forge_policy_test_dir(const struct forge_policy *p, const char *dir, json_t **results,
			  struct forge_err *err)
{
	struct test_run run = {.p = p, .results = json_array()};
	int rc;

	*results = NULL;
	if (!run.results)
		return forge_err_set(err, -ENOMEM, "policy test: out of memory");
	rc = policy_each_yaml(dir, POLICY_TEST_FILE_MAX, "no test files (*.yaml)", test_file, &run,
			      err);
	if (rc == 0)
		*results = run.results;
	else
		json_decref(run.results);
	return rc;
}
