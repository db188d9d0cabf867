/* SPDX-License-Identifier: Apache-2.0 */
/* common/log.c: JSON lines, redaction, level filter, correlation ids. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"

struct log_pipe {
	int rd, wr;
	char buf[65536];
};

static int setup_pipe(void **state)
{
	struct log_pipe *lp = calloc(1, sizeof(*lp));
	int fds[2];

	if (!lp || pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(lp);
		return -1;
	}
	lp->rd = fds[0];
	lp->wr = fds[1];
	forge_log_init("forged", FORGE_LOG_INFO, lp->wr);
	forge_log_set_correlation_id(NULL);
	*state = lp;
	return 0;
}

static int teardown_pipe(void **state)
{
	struct log_pipe *lp = *state;

	forge_log_init("forge", FORGE_LOG_INFO, 2);
	close(lp->rd);
	close(lp->wr);
	free(lp);
	return 0;
}

/* Everything written so far (possibly nothing). */
static const char *drain(struct log_pipe *lp)
{
	ssize_t n = read(lp->rd, lp->buf, sizeof(lp->buf) - 1);

	lp->buf[n > 0 ? n : 0] = '\0';
	return lp->buf;
}

/* Exactly one line, parsed; the caller decrefs. */
static json_t *one_line(struct log_pipe *lp)
{
	const char *text = drain(lp);
	size_t len = strlen(text);
	json_error_t jerr;
	json_t *obj;

	assert_true(len > 0);
	assert_int_equal(text[len - 1], '\n');
	assert_null(memchr(text, '\n', len - 1));
	obj = json_loads(text, 0, &jerr);
	if (!obj)
		fail_msg("not JSON (%s): %s", jerr.text, text);
	assert_true(json_is_object(obj));
	return obj;
}

static const char *str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("key %s missing or not a string", key);
	return json_string_value(v);
}

/* Exactly one line is waiting, and key has value in it. */
static void expect_line(struct log_pipe *lp, const char *key, const char *value)
{
	json_t *obj = one_line(lp);

	assert_string_equal(str(obj, key), value);
	json_decref(obj);
}

static void test_line_has_expected_keys(void **state)
{
	struct log_pipe *lp = *state;
	const char *ts, *first;
	json_t *obj;
	int y, mo, d, h, mi, s, ms;
	char z;

	forge_log(FORGE_LOG_INFO, "container started", "container", "c1", "pid", "42", NULL);
	obj = one_line(lp);
	ts = str(obj, "ts");
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(
	    sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z), 8);
	assert_int_equal(z, 'Z');
	assert_true(y >= 2024 && mo >= 1 && mo <= 12 && ms >= 0 && ms <= 999);
	assert_string_equal(str(obj, "level"), "info");
	assert_string_equal(str(obj, "service"), "forged");
	assert_string_equal(str(obj, "msg"), "container started");
	assert_string_equal(str(obj, "container"), "c1");
	assert_string_equal(str(obj, "pid"), "42");
	assert_null(json_object_get(obj, "correlation_id"));
	/* ts comes first so lines sort and grep by time. */
	first = json_object_iter_key(json_object_iter(obj));
	assert_string_equal(first, "ts");
	json_decref(obj);
}

static void test_correlation_id(void **state)
{
	struct log_pipe *lp = *state;
	json_t *obj;

	forge_log_set_correlation_id("req-7f3a");
	assert_string_equal(forge_log_correlation_id(), "req-7f3a");
	forge_log(FORGE_LOG_WARN, "slow", NULL);
	obj = one_line(lp);
	assert_string_equal(str(obj, "correlation_id"), "req-7f3a");
	assert_string_equal(str(obj, "level"), "warn");
	json_decref(obj);
	forge_log_set_correlation_id(NULL);
	assert_null(forge_log_correlation_id());
	forge_log(FORGE_LOG_WARN, "slow", NULL);
	obj = one_line(lp);
	assert_null(json_object_get(obj, "correlation_id"));
	json_decref(obj);
}

static void test_redaction(void **state)
{
	struct log_pipe *lp = *state;
	json_t *obj;

	forge_log(FORGE_LOG_ERROR, "auth", "token", "t0psecret", "Authorization", "Bearer abc",
		  "db_password", "hunter2", "KEY", "k", "sat", "s", "jwt", "j",
		  "signing_private_key", "pk", "client_secret", "cs", "passphrase", "pp", "keyring",
		  "visible", "user", "alice", NULL);
	obj = one_line(lp);
	assert_string_equal(str(obj, "token"), "[redacted]");
	assert_string_equal(str(obj, "Authorization"), "[redacted]");
	assert_string_equal(str(obj, "db_password"), "[redacted]");
	assert_string_equal(str(obj, "KEY"), "[redacted]");
	assert_string_equal(str(obj, "sat"), "[redacted]");
	assert_string_equal(str(obj, "jwt"), "[redacted]");
	assert_string_equal(str(obj, "signing_private_key"), "[redacted]");
	assert_string_equal(str(obj, "client_secret"), "[redacted]");
	assert_string_equal(str(obj, "passphrase"), "[redacted]");
	/* "key" only as the whole name: keyring is not a secret. */
	assert_string_equal(str(obj, "keyring"), "visible");
	assert_string_equal(str(obj, "user"), "alice");
	assert_null(strstr(lp->buf, "t0psecret"));
	assert_null(strstr(lp->buf, "hunter2"));
	json_decref(obj);
}

static void test_json_fields_redacted_at_depth(void **state)
{
	struct log_pipe *lp = *state;
	json_t *fields, *obj, *nested;
	const char *token;

	fields = json_pack("{s:s, s:{s:s, s:[{s:s}]}, s:i}", "scenario", "lab1", "auth", "user",
			   "bob", "list", "api_token", "deep-secret-value", "count", 3);
	forge_log_json(FORGE_LOG_INFO, "nested", fields);
	obj = one_line(lp);
	assert_string_equal(str(obj, "scenario"), "lab1");
	assert_int_equal(json_integer_value(json_object_get(obj, "count")), 3);
	nested = json_object_get(obj, "auth");
	assert_string_equal(str(nested, "user"), "bob");
	nested = json_array_get(json_object_get(nested, "list"), 0);
	assert_string_equal(str(nested, "api_token"), "[redacted]");
	assert_null(strstr(lp->buf, "deep-secret-value"));
	/* The caller's object is borrowed, not modified. */
	assert_int_equal(
	    json_unpack(fields, "{s:{s:[{s:s}]}}", "auth", "list", "api_token", &token), 0);
	assert_string_equal(token, "deep-secret-value");
	json_decref(obj);
	json_decref(fields);
	forge_log_json(FORGE_LOG_INFO, "no fields", NULL);
	expect_line(lp, "msg", "no fields");
}

static void test_level_filter(void **state)
{
	struct log_pipe *lp = *state;

	forge_log_init("forged", FORGE_LOG_WARN, lp->wr);
	forge_log(FORGE_LOG_INFO, "dropped", NULL);
	forge_log(FORGE_LOG_DEBUG, "dropped", NULL);
	forge_log_json(FORGE_LOG_INFO, "dropped", NULL);
	assert_string_equal(drain(lp), "");
	forge_log(FORGE_LOG_ERROR, "kept", NULL);
	expect_line(lp, "level", "error");
	forge_log_init("forged", FORGE_LOG_DEBUG, lp->wr);
	forge_log(FORGE_LOG_DEBUG, "now kept", NULL);
	expect_line(lp, "level", "debug");
}

static void test_hostile_strings(void **state)
{
	struct log_pipe *lp = *state;
	json_t *obj;

	errno = EXDEV;
	forge_log(FORGE_LOG_INFO, NULL, "value", NULL, "path", "bad\xff\xfe utf8", "msg",
		  "line1\nline2", NULL);
	/* Logging must not clobber the errno a caller is about to report. */
	assert_int_equal(errno, EXDEV);
	obj = one_line(lp);
	assert_string_equal(str(obj, "msg"), "");
	assert_true(json_is_null(json_object_get(obj, "value")));
	assert_string_equal(str(obj, "path"), "bad\xef\xbf\xbd\xef\xbf\xbd utf8");
	/* A field named like a fixed key does not overwrite it. */
	assert_string_equal(str(obj, "field.msg"), "line1\nline2");
	json_decref(obj);
}

static void test_level_parse(void **state)
{
	enum forge_log_level lvl = FORGE_LOG_ERROR;

	(void)state;
	assert_int_equal(forge_log_level_parse("debug", &lvl), 0);
	assert_int_equal(lvl, FORGE_LOG_DEBUG);
	assert_int_equal(forge_log_level_parse("WARN", &lvl), 0);
	assert_int_equal(lvl, FORGE_LOG_WARN);
	assert_int_equal(forge_log_level_parse("error", &lvl), 0);
	assert_int_equal(lvl, FORGE_LOG_ERROR);
	assert_int_equal(forge_log_level_parse("verbose", &lvl), -EINVAL);
	assert_int_equal(forge_log_level_parse(NULL, &lvl), -EINVAL);
	assert_int_equal(lvl, FORGE_LOG_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_line_has_expected_keys, setup_pipe, teardown_pipe),
	    cmocka_unit_test_setup_teardown(test_correlation_id, setup_pipe, teardown_pipe),
	    cmocka_unit_test_setup_teardown(test_redaction, setup_pipe, teardown_pipe),
	    cmocka_unit_test_setup_teardown(test_json_fields_redacted_at_depth, setup_pipe,
					    teardown_pipe),
	    cmocka_unit_test_setup_teardown(test_level_filter, setup_pipe, teardown_pipe),
	    cmocka_unit_test_setup_teardown(test_hostile_strings, setup_pipe, teardown_pipe),
	    cmocka_unit_test(test_level_parse),
	};

	return cmocka_run_group_tests_name("common_log", tests, NULL, NULL);
}
