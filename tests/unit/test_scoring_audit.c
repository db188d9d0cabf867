/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scoring/audit.c: the hash-chained signed log. Every tamper case (modified,
 * deleted, inserted, reordered line, truncated tail) is named with the first
 * bad line; a crash's torn line and lagging head are told apart from tampering;
 * concurrent appenders keep one chain.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_scoring_fixture.h"

#define EVENTS	  5
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define MAXL	  64

struct log {
	char *line[MAXL]; /* each with its newline */
	size_t n;
};

static void log_path(const struct fx *f, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%.1024s/audit/%s", f->p.lib, name);
}

static void append(struct fx *f, const char *actor)
{
	struct forge_err err = {0};
	json_t *data = json_pack("{s:s}", "what", actor);

	if (forge_audit_record(&f->p, "test.event", actor, "cid-1", data, &err) < 0)
		fail_msg("append: %s", err.msg);
	json_decref(data);
}

/* Keys created by the fixture (2 events) and EVENTS more. */
static int setup_log(void **state)
{
	char actor[24];
	struct fx *f;

	if (fx_setup(state) < 0)
		return -1;
	f = *state;
	for (int i = 0; i < EVENTS; i++) {
		snprintf(actor, sizeof(actor), "actor-%d", i + 3);
		append(f, actor);
	}
	return 0;
}

static void log_read(const struct fx *f, struct log *l)
{
	char path[FORGE_PATH_MAX + 32], *buf, *p, *nl;
	size_t len;

	log_path(f, "audit.log", path, sizeof(path));
	buf = fx_slurp(path, &len);
	assert_non_null(buf);
	l->n = 0;
	for (p = buf; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_true(l->n < MAXL);
		l->line[l->n++] = strndup(p, (size_t)(nl - p + 1));
	}
	free(buf);
}

static void log_write(const struct fx *f, struct log *l)
{
	char path[FORGE_PATH_MAX + 32];
	FILE *out;

	log_path(f, "audit.log", path, sizeof(path));
	out = fopen(path, "w");
	assert_non_null(out);
	for (size_t i = 0; i < l->n; i++) {
		fputs(l->line[i], out);
		free(l->line[i]);
	}
	fclose(out);
	l->n = 0;
}

static int verify(struct fx *f, struct forge_audit_report *rep, struct forge_err *err)
{
	forge_err_clear(err);
	return forge_audit_verify(&f->p, NULL, rep, err);
}

static void expect_bad(struct fx *f, uint64_t line, const char *why)
{
	struct forge_audit_report rep;
	struct forge_err err;
	char where[32];

	assert_true(verify(f, &rep, &err) < 0);
	snprintf(where, sizeof(where), "audit.log line %" PRIu64 ":", line);
	if (rep.bad_line != line || !strstr(err.msg, where) || !strstr(err.msg, why))
		fail_msg("got line %" PRIu64 " \"%s\"; want line %" PRIu64 " \"%s\"", rep.bad_line,
			 err.msg, line, why);
}

static void test_intact_log_verifies(void **state)
{
	struct fx *f = *state;
	struct forge_audit_report rep;
	struct forge_err err;
	struct log l;

	if (verify(f, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.lines, EVENTS + 2);
	assert_int_equal(rep.head_seq, EVENTS + 2);
	assert_false(rep.head_lags);
	assert_int_equal(rep.bad_line, 0);
	log_read(f, &l);
	/* keys.create for the two dev keys, then ours with its correlation id. */
	assert_non_null(strstr(l.line[0], "\"type\":\"keys.create\""));
	assert_non_null(strstr(l.line[0], "\"prev_hash\":\"" ZERO_HASH "\""));
	assert_non_null(strstr(l.line[2], "\"correlation_id\":\"cid-1\""));
	assert_non_null(strstr(l.line[2], "\"seq\":3"));
	log_write(f, &l);
}

static void test_modified_line(void **state)
{
	struct fx *f = *state;
	struct log l;
	char *a;

	log_read(f, &l);
	a = strstr(l.line[3], "actor-4");
	assert_non_null(a);
	a[6] = 'X';
	log_write(f, &l);
	expect_bad(f, 4, "hash does not match the content (the line was modified)");
}

/* An edit that only changes the spelling, not the meaning, still shows. */
static void test_reformatted_line(void **state)
{
	struct fx *f = *state;
	struct log l;
	char *b, *out;

	log_read(f, &l);
	b = strchr(l.line[2], ',');
	assert_true(asprintf(&out, "%.*s, %s", (int)(b - l.line[2]), l.line[2], b + 1) > 0);
	free(l.line[2]);
	l.line[2] = out;
	log_write(f, &l);
	expect_bad(f, 3, "not in canonical form");
}

/* A modified line whose hash the attacker recomputed: the signature fails. */
static void test_rehashed_line(void **state)
{
	struct fx *f = *state;
	struct forge_err err = {0};
	json_t *ev, *core;
	char hash[65], *text;
	struct log l;

	log_read(f, &l);
	ev = json_loads(l.line[4], 0, NULL);
	assert_non_null(ev);
	json_object_set_new(json_object_get(ev, "data"), "what", json_string("forged"));
	core = json_copy(ev);
	json_object_del(core, "hash");
	json_object_del(core, "sig");
	assert_int_equal(forge_json_canonical_sha256(core, hash, &err), 0);
	json_object_set_new(ev, "hash", json_string(hash));
	text = forge_json_canonical(ev, &err);
	free(l.line[4]);
	assert_true(asprintf(&l.line[4], "%s\n", text) > 0);
	free(text);
	json_decref(core);
	json_decref(ev);
	log_write(f, &l);
	expect_bad(f, 5, "bad signature");
}

static void test_deleted_line(void **state)
{
	struct fx *f = *state;
	struct log l;

	log_read(f, &l);
	free(l.line[2]);
	memmove(&l.line[2], &l.line[3], (l.n - 3) * sizeof(l.line[0]));
	l.n--;
	log_write(f, &l);
	expect_bad(f, 3, "seq 4 where 3 was expected");
}

static void test_inserted_line(void **state)
{
	struct fx *f = *state;
	struct log l;

	log_read(f, &l);
	memmove(&l.line[4], &l.line[3], (l.n - 3) * sizeof(l.line[0]));
	l.line[3] = strdup(l.line[2]);
	l.n++;
	log_write(f, &l);
	expect_bad(f, 4, "seq 3 where 4 was expected");
}

static void test_reordered_lines(void **state)
{
	struct fx *f = *state;
	struct log l;
	char *t;

	log_read(f, &l);
	t = l.line[4];
	l.line[4] = l.line[5];
	l.line[5] = t;
	log_write(f, &l);
	expect_bad(f, 5, "a line was deleted, inserted or reordered");
}

static void test_truncated_tail(void **state)
{
	struct fx *f = *state;
	struct log l;

	log_read(f, &l);
	free(l.line[--l.n]);
	free(l.line[--l.n]);
	log_write(f, &l);
	expect_bad(f, EVENTS + 1, "the tail was truncated");
}

/* Cut inside the last line: the head covers it, so it is truncation, not a crash. */
static void test_truncated_mid_line(void **state)
{
	struct fx *f = *state;
	char path[FORGE_PATH_MAX + 32];
	struct stat st;

	log_path(f, "audit.log", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 20), 0);
	expect_bad(f, EVENTS + 2, "the tail was truncated");
}

/* A NUL byte inside a line, and a line longer than any event can be. */
static void test_garbage_lines(void **state)
{
	struct fx *f = *state;
	char path[FORGE_PATH_MAX + 32];
	size_t len, big = (1u << 20) + 10;
	char *buf, *huge;
	FILE *out;

	log_path(f, "audit.log", path, sizeof(path));
	buf = fx_slurp(path, &len);
	assert_non_null(buf);
	*strstr(buf, "actor-3") = '\0';
	assert_int_equal(fx_spit(path, buf, len), 0);
	expect_bad(f, 3, "not a JSON object");
	*(buf + strlen(buf)) = 'a';
	assert_int_equal(fx_spit(path, buf, len), 0);
	free(buf);

	huge = malloc(big);
	assert_non_null(huge);
	memset(huge, 'x', big - 1);
	huge[big - 1] = '\n';
	out = fopen(path, "a");
	assert_non_null(out);
	assert_int_equal(fwrite(huge, 1, big, out), big);
	fclose(out);
	free(huge);
	expect_bad(f, EVENTS + 3, "longer than any event");
}

static void test_unknown_key(void **state)
{
	struct fx *f = *state;
	struct forge_keyset none = {0};
	struct forge_audit_report rep;
	struct forge_err err = {0};

	assert_int_equal(forge_audit_verify(&f->p, &none, &rep, &err), -ENOKEY);
	assert_non_null(strstr(err.msg, "unknown audit key id"));
}

/* A crash mid-write: the torn bytes stop appends until repaired, and the
 * repair is itself audited. */
static void test_torn_line_and_repair(void **state)
{
	struct fx *f = *state;
	struct forge_audit_report rep;
	struct forge_audit_repair rr;
	struct forge_audit *a = NULL;
	struct forge_err err = {0};
	char path[FORGE_PATH_MAX + 32];
	static const char torn[] = "{\"actor\":\"half";
	FILE *out;

	log_path(f, "audit.log", path, sizeof(path));
	out = fopen(path, "a");
	assert_non_null(out);
	fputs(torn, out);
	fclose(out);
	expect_bad(f, EVENTS + 3, "torn final line");
	assert_int_equal(forge_audit_open(&f->p, &a, &err), -EUCLEAN);
	assert_null(a);
	assert_non_null(strstr(err.msg, "forgectl audit repair"));
	assert_int_equal(forge_audit_record(&f->p, "test.event", "x", NULL, NULL, &err), -EUCLEAN);

	assert_int_equal(forge_audit_repair(&f->p, "operator", &rr, &err), 0);
	assert_int_equal(rr.removed, strlen(torn));
	log_path(f, rr.saved_as, path, sizeof(path));
	{
		size_t len;
		char *saved = fx_slurp(path, &len);

		assert_non_null(saved);
		assert_int_equal(len, strlen(torn));
		assert_memory_equal(saved, torn, len);
		free(saved);
	}
	if (verify(f, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.lines, EVENTS + 3);
	append(f, "after-repair");
	assert_int_equal(verify(f, &rep, &err), 0);
	assert_int_equal(rep.lines, EVENTS + 4);
	/* Nothing else to repair. */
	assert_int_equal(forge_audit_repair(&f->p, "operator", &rr, &err), 0);
	assert_int_equal(rr.removed, 0);
}

/* Repair refuses what a crash cannot leave: a tampered tail. */
static void test_repair_refuses_tampering(void **state)
{
	struct fx *f = *state;
	struct forge_audit_repair rr;
	struct forge_err err = {0};
	struct log l;

	log_read(f, &l);
	free(l.line[--l.n]);
	log_write(f, &l);
	assert_true(forge_audit_repair(&f->p, "operator", &rr, &err) < 0);
	assert_non_null(strstr(err.msg, "truncated"));
}

/* A crash after the line but before the head: verify accepts the lag, the next
 * append adopts the line. */
static void test_head_one_line_behind(void **state)
{
	struct fx *f = *state;
	struct forge_audit_report rep;
	struct forge_err err = {0};
	char path[FORGE_PATH_MAX + 32];
	size_t len;
	char *head;

	log_path(f, "audit.head", path, sizeof(path));
	head = fx_slurp(path, &len);
	assert_non_null(head);
	append(f, "lagging");
	assert_int_equal(fx_spit(path, head, len), 0);
	free(head);
	assert_int_equal(verify(f, &rep, &err), 0);
	assert_true(rep.head_lags);
	assert_int_equal(rep.lines, EVENTS + 3);
	append(f, "adopts");
	assert_int_equal(verify(f, &rep, &err), 0);
	assert_false(rep.head_lags);
	assert_int_equal(rep.head_seq, EVENTS + 4);
}

static void test_head_removed(void **state)
{
	struct fx *f = *state;
	struct forge_audit_report rep;
	struct forge_err err = {0};
	char path[FORGE_PATH_MAX + 32];

	log_path(f, "audit.head", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_true(verify(f, &rep, &err) < 0);
	assert_non_null(strstr(err.msg, "audit.head is missing"));
	assert_true(forge_audit_record(&f->p, "test.event", "x", NULL, NULL, &err) < 0);
}

/* Several processes appending at once keep one unbroken chain. */
static void test_concurrent_appenders(void **state)
{
	enum { PROCS = 4, EACH = 20 };
	struct fx *f = *state;
	struct forge_audit_report rep;
	struct forge_err err = {0};
	pid_t pids[PROCS];
	int status;

	for (int i = 0; i < PROCS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct forge_audit *a;

			if (forge_audit_open(&f->p, &a, &err) < 0)
				_exit(1);
			for (int j = 0; j < EACH; j++)
				if (forge_audit_append(a, "test.concurrent", "child", NULL, NULL,
						       NULL, &err) < 0)
					_exit(2);
			forge_audit_close(a);
			_exit(0);
		}
	}
	for (int i = 0; i < PROCS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	if (verify(f, &rep, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rep.lines, EVENTS + 2 + PROCS * EACH);
}

/* Events after an audit key rotation are signed by the new key; all verify. */
static void test_rotation_mid_log(void **state)
{
	struct fx *f = *state;
	struct forge_audit_report rep;
	struct forge_err err = {0};
	char id[17];
	struct log l;

	assert_int_equal(forge_keys_rotate(&f->p, FORGE_KEY_AUDIT, "operator", id, &err), 0);
	append(f, "after-rotation");
	assert_int_equal(verify(f, &rep, &err), 0);
	log_read(f, &l);
	assert_non_null(strstr(l.line[l.n - 1], id));
	/* The rotation itself is signed by the old key and names the new one. */
	{
		json_t *ev = json_loads(l.line[l.n - 2], 0, NULL);

		assert_non_null(ev);
		assert_string_equal(json_string_value(json_object_get(ev, "type")), "keys.rotate");
		assert_string_not_equal(json_string_value(json_object_get(ev, "key_id")), id);
		assert_string_equal(
		    json_string_value(json_object_get(json_object_get(ev, "data"), "key_id")), id);
		json_decref(ev);
	}
	log_write(f, &l);
}

static void test_bad_events_refused(void **state)
{
	struct fx *f = *state;
	struct forge_audit *a;
	struct forge_err err = {0};
	json_t *arr = json_array();

	assert_int_equal(forge_audit_open(&f->p, &a, &err), 0);
	assert_int_equal(forge_audit_append(a, "Bad Type", "x", NULL, NULL, NULL, &err), -EINVAL);
	assert_int_equal(forge_audit_append(a, "ok.type", "", NULL, NULL, NULL, &err), -EINVAL);
	assert_int_equal(forge_audit_append(a, "ok.type", "x", NULL, arr, NULL, &err), -EINVAL);
	assert_int_equal(forge_audit_append(a, "ok.type", "x", "bad\xff", NULL, NULL, &err),
			 -EINVAL);
	forge_audit_close(a);
	json_decref(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_intact_log_verifies, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_modified_line, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_reformatted_line, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rehashed_line, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_deleted_line, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_inserted_line, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_reordered_lines, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_tail, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_mid_line, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_lines, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_key, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_torn_line_and_repair, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_repair_refuses_tampering, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_head_one_line_behind, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_head_removed, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_appenders, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_mid_log, setup_log, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_events_refused, setup_log, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
