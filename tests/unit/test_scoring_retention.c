/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scoring/retention.c: holds, and cleanup by age and retention — dry run
 * changes nothing, holds are never touched, every deletion is audited.
 */
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

#include "test_scoring_fixture.h"

#define DAY 86400
#define NOW (FX_TIME + 100 * DAY)

struct seen {
	char line[16][96];
	size_t n;
};

static void record(const struct forge_cleanup_entry *e, void *arg)
{
	static const char *const names[] = {"deleted", "would",	  "held",
					    "kept",    "skipped", "incomplete"};
	struct seen *s = arg;

	if (s->n < 16)
		snprintf(s->line[s->n++], sizeof(s->line[0]), "%s %s/%s", names[e->action],
			 e->tenant, e->scenario_id);
}

static bool saw(const struct seen *s, const char *line)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->line[i], line) == 0)
			return true;
	return false;
}

static void write_aged(struct fx *f, const char *scenario, int age_days, unsigned retention)
{
	struct forge_err err = {0};
	struct sample s;

	fx_sample(&s, "acme", scenario);
	s.facts.timestamp = NOW - (int64_t)age_days * DAY;
	s.facts.retention_days = retention;
	if (forge_results_write(&f->p, &s.in, NULL, NULL, NULL, &err) < 0)
		fail_msg("write %s: %s", scenario, err.msg);
}

static bool exists(const struct fx *f, const char *scenario)
{
	char dir[FORGE_PATH_MAX];

	fx_result_dir(f, "acme", scenario, dir, sizeof(dir));
	return access(dir, F_OK) == 0;
}

static size_t audit_lines(const struct fx *f)
{
	struct forge_audit_report rep;
	struct forge_err err = {0};

	if (forge_audit_verify(&f->p, NULL, &rep, &err) < 0)
		fail_msg("audit: %s", err.msg);
	return (size_t)rep.lines;
}

/* old: 40 days, retention 30; young: 5/30; long: 40/90; held: 40/30 with a hold. */
static int setup_results(void **state)
{
	struct forge_err err = {0};
	struct fx *f;

	if (fx_setup(state) < 0)
		return -1;
	f = *state;
	write_aged(f, "old", 40, 30);
	write_aged(f, "young", 5, 30);
	write_aged(f, "long", 40, 90);
	write_aged(f, "held", 40, 30);
	return forge_hold_set(&f->p, "held", true, "investigator", &err);
}

static int run(struct fx *f, unsigned older, bool dry, struct seen *s,
	       struct forge_cleanup_stats *st)
{
	struct forge_cleanup_opts o = {
	    .older_than_days = older,
	    .dry_run = dry,
	    .now = NOW,
	    .actor = "tester",
	    .report = record,
	    .arg = s,
	};
	struct forge_err err = {0};
	int rc;

	memset(s, 0, sizeof(*s));
	rc = forge_results_cleanup(&f->p, &o, st, &err);
	if (rc < 0)
		fail_msg("cleanup: %s", err.msg);
	return rc;
}

static void test_dry_run_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct forge_cleanup_stats st;
	struct seen s;
	size_t before = audit_lines(f);

	run(f, 0, true, &s, &st);
	assert_true(saw(&s, "would acme/old"));
	assert_true(saw(&s, "held acme/held"));
	assert_true(saw(&s, "kept acme/young"));
	assert_true(saw(&s, "kept acme/long"));
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.held, 1);
	assert_int_equal(st.kept, 2);
	assert_true(exists(f, "old"));
	assert_int_equal(audit_lines(f), before);
}

static void test_cleanup_deletes_and_audits(void **state)
{
	struct fx *f = *state;
	char path[FORGE_PATH_MAX + 32], *log;
	struct forge_cleanup_stats st;
	struct seen s;
	size_t before = audit_lines(f), len;

	run(f, 0, false, &s, &st);
	assert_true(saw(&s, "deleted acme/old"));
	assert_false(exists(f, "old"));
	assert_true(exists(f, "held"));
	assert_true(exists(f, "young"));
	assert_true(exists(f, "long"));
	/* One results.delete, one results.cleanup summary. */
	assert_int_equal(audit_lines(f), before + 2);
	snprintf(path, sizeof(path), "%.1024s/audit/audit.log", f->p.lib);
	log = fx_slurp(path, &len);
	assert_non_null(strstr(log, "\"type\":\"results.delete\""));
	assert_non_null(strstr(log, "\"scenario_id\":\"old\""));
	assert_non_null(strstr(log, "\"type\":\"results.cleanup\""));
	assert_non_null(strstr(log, "\"type\":\"results.hold\""));
	free(log);

	/* Released, the held one goes at the next run. */
	{
		struct forge_err err = {0};

		assert_int_equal(forge_hold_set(&f->p, "held", false, "investigator", &err), 0);
	}
	run(f, 0, false, &s, &st);
	assert_true(saw(&s, "deleted acme/held"));
	assert_false(exists(f, "held"));
}

/* --older-than is a floor on top of each result's own retention. */
static void test_older_than_floor(void **state)
{
	struct fx *f = *state;
	struct forge_cleanup_stats st;
	struct seen s;

	run(f, 50, false, &s, &st);
	assert_int_equal(st.deleted, 0);
	assert_true(exists(f, "old"));
	run(f, 39, false, &s, &st);
	assert_true(saw(&s, "deleted acme/old"));
	assert_false(exists(f, "old"));
}

static void test_hold_rules(void **state)
{
	struct fx *f = *state;
	struct forge_err err = {0};

	assert_true(forge_hold_exists(&f->p, "held"));
	assert_false(forge_hold_exists(&f->p, "old"));
	assert_int_equal(forge_hold_set(&f->p, "held", true, "x", &err), -EEXIST);
	assert_int_equal(forge_hold_set(&f->p, "old", false, "x", &err), -ENOENT);
	assert_int_equal(forge_hold_set(&f->p, "../old", true, "x", &err), -EINVAL);
	assert_int_equal(forge_hold_set(&f->p, "old", true, "", &err), -EINVAL);
	/* A hold can precede the results it protects. */
	assert_int_equal(forge_hold_set(&f->p, "future", true, "x", &err), 0);
	assert_true(forge_hold_exists(&f->p, "future"));
}

/* Never delete what cannot be dated; finish interrupted writes and deletes. */
static void test_unreadable_and_incomplete(void **state)
{
	struct fx *f = *state;
	char dir[FORGE_PATH_MAX], path[FORGE_PATH_MAX + 64];
	struct forge_cleanup_stats st;
	struct timespec old[2] = {{NOW - 2 * 3600, 0}, {NOW - 2 * 3600, 0}};
	struct timespec fresh[2] = {{NOW - 60, 0}, {NOW - 60, 0}};
	struct seen s;

	fx_result_dir(f, "acme", "old", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%.1024s/manifest.json", dir);
	assert_int_equal(fx_spit(path, "{", 1), 0);
	snprintf(path, sizeof(path), "%.1024s/results/acme/.x.tmp.0123", f->p.lib);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	snprintf(path, sizeof(path), "%.1024s/results/acme/.y.tmp.4567", f->p.lib);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(utimensat(AT_FDCWD, path, fresh, 0), 0);
	snprintf(path, sizeof(path), "%.1024s/results/acme/.z.del.89ab", f->p.lib);
	assert_int_equal(mkdir(path, 0755), 0);

	run(f, 0, false, &s, &st);
	assert_true(saw(&s, "skipped acme/old"));
	assert_true(exists(f, "old"));
	assert_true(saw(&s, "incomplete acme/.x.tmp.0123"));
	assert_true(saw(&s, "incomplete acme/.z.del.89ab"));
	assert_int_equal(st.incomplete, 2);
	assert_false(exists(f, ".x.tmp.0123"));
	assert_false(exists(f, ".z.del.89ab"));
	/* Fresh: a write in progress right now. */
	assert_true(exists(f, ".y.tmp.4567"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_dry_run_changes_nothing, setup_results,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cleanup_deletes_and_audits, setup_results,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_older_than_floor, setup_results, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_hold_rules, setup_results, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_and_incomplete, setup_results,
					    fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
