/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/db.c and api/billing.c: migrations, WAL, idempotency (replay, 409s),
 * quotas counted and reserved atomically (20 threads against a limit of 3),
 * expiry, the hash-chained billing ledger and its tamper detection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/internal.h"

#define NOW 1800000000LL

struct fix {
	char dir[64];
	char path[128];
	struct api_db *db;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct forge_err err = {0};

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/forge-apidb-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/api.db", f->dir);
	if (api_db_open(f->path, &f->db, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char p[160];

	api_db_close(f->db);
	const char *sfx[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	assert_int_equal(rmdir(f->dir), 0); /* nothing else was left behind */
	free(f);
	return 0;
}

/* Quota: at most `limit` live per subject. */
static int limit_subject(void *arg, const struct api_quota_counts *q, struct api_reserve_out *out)
{
	int limit = *(int *)arg;

	if (q->live_subject < limit)
		return 0;
	out->result = API_QUOTA;
	out->retry_after = 60;
	snprintf(out->message, sizeof(out->message), "%lld live", (long long)q->live_subject);
	return 1;
}

static struct api_spawn_rec rec(const char *rid, const char *hash)
{
	struct api_spawn_rec r = {.tenant = "acme",
				  .subject = "alice",
				  .track = "netplus",
				  .plan = "pro",
				  .request_id = rid};

	snprintf(r.body_hash, sizeof(r.body_hash), "%s", hash);
	return r;
}

static void test_open_migrate_wal(void **state)
{
	struct fix *f = *state;
	struct api_db *again = NULL;
	struct forge_err err = {0};
	char wal[160];

	assert_int_equal(api_db_version(f->db), 1);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(access(wal, F_OK), 0); /* WAL mode: the -wal file exists */
	/* Reopening migrates nothing and keeps the version. */
	assert_int_equal(api_db_open(f->path, &again, &err), 0);
	assert_int_equal(api_db_version(again), 1);
	api_db_close(again);
	/* A schema from the future is refused. */
	assert_int_equal(sqlite3_exec(f->db->h, "PRAGMA user_version = 99", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(api_db_open(f->path, &again, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "newer"));
	assert_int_equal(sqlite3_exec(f->db->h, "PRAGMA user_version = 1", NULL, NULL, NULL),
			 SQLITE_OK);
}

static void test_idempotency(void **state)
{
	struct fix *f = *state;
	struct api_reserve_out out;
	struct forge_err err = {0};
	int limit = 10;
	struct api_spawn_rec r = rec("r-1", "aaaa");

	assert_int_equal(api_db_spawn_reserve(f->db, &r, NOW, 0, limit_subject, &limit, &out, &err),
			 0);
	assert_int_equal(out.result, API_RESERVED);
	assert_int_equal(strlen(r.scenario_id), 12);
	assert_int_equal(strspn(r.scenario_id, "abcdefghijklmnopqrstuvwxyz0123456789"), 12);
	/* Same id while the first is being spawned. */
	struct api_spawn_rec r2 = rec("r-1", "aaaa");
	assert_int_equal(
	    api_db_spawn_reserve(f->db, &r2, NOW, 0, limit_subject, &limit, &out, &err), 0);
	assert_int_equal(out.result, API_IN_PROGRESS);
	assert_int_equal(
	    api_db_spawn_commit(f->db, &r, "{\"scenario_id\":\"x\"}", NOW + 3600, NOW, &err), 0);
	/* Same id, same body: the first answer. */
	assert_int_equal(
	    api_db_spawn_reserve(f->db, &r2, NOW, 0, limit_subject, &limit, &out, &err), 0);
	assert_int_equal(out.result, API_REPLAY);
	assert_string_equal(out.replay, "{\"scenario_id\":\"x\"}");
	api_reserve_out_clear(&out);
	/* Same id, another body. */
	struct api_spawn_rec r3 = rec("r-1", "bbbb");
	assert_int_equal(
	    api_db_spawn_reserve(f->db, &r3, NOW, 0, limit_subject, &limit, &out, &err), 0);
	assert_int_equal(out.result, API_BODY_MISMATCH);
	/* Another tenant may use the same id. */
	struct api_spawn_rec r4 = rec("r-1", "bbbb");
	r4.tenant = "other";
	assert_int_equal(
	    api_db_spawn_reserve(f->db, &r4, NOW, 0, limit_subject, &limit, &out, &err), 0);
	assert_int_equal(out.result, API_RESERVED);
	/* A reservation a crash left behind stops blocking its id once stale. */
	struct api_spawn_rec r5 = rec("r-5", "aaaa");
	assert_int_equal(
	    api_db_spawn_reserve(f->db, &r5, NOW, 0, limit_subject, &limit, &out, &err), 0);
	assert_int_equal(
	    api_db_spawn_reserve(f->db, &r5, NOW + 10, NOW, limit_subject, &limit, &out, &err), 0);
	assert_int_equal(out.result, API_IN_PROGRESS);
	assert_int_equal(api_db_spawn_reserve(f->db, &r5, NOW + 1000, NOW + 500, limit_subject,
					      &limit, &out, &err),
			 0);
	assert_int_equal(out.result, API_RESERVED);
	/* An aborted reservation frees the id. */
	assert_int_equal(api_db_spawn_abort(f->db, r4.scenario_id, &err), 0);
	assert_int_equal(
	    api_db_spawn_reserve(f->db, &r4, NOW, 0, limit_subject, &limit, &out, &err), 0);
	assert_int_equal(out.result, API_RESERVED);
}

struct racer {
	struct api_db *db;
	int index;
	int result;
	int limit;
	char scenario[13];
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct api_reserve_out out;
	struct forge_err err = {0};
	char rid[32];

	snprintf(rid, sizeof(rid), "race-%d", r->index);
	struct api_spawn_rec s = rec(rid, "cccc");
	if (api_db_spawn_reserve(r->db, &s, NOW, 0, limit_subject, &r->limit, &out, &err))
		r->result = -1;
	else
		r->result = (int)out.result;
	memcpy(r->scenario, s.scenario_id, sizeof(r->scenario));
	api_reserve_out_clear(&out);
	return NULL;
}

static void test_quota_race(void **state)
{
	struct fix *f = *state;
	struct racer r[20];
	pthread_t t[20];
	int reserved = 0, refused = 0;

	for (int i = 0; i < 20; i++) {
		r[i] = (struct racer){.db = f->db, .index = i, .limit = 3};
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 20; i++) {
		pthread_join(t[i], NULL);
		reserved += r[i].result == API_RESERVED;
		refused += r[i].result == API_QUOTA;
	}
	assert_int_equal(reserved, 3);
	assert_int_equal(refused, 17);
}

static void test_expiry_and_end(void **state)
{
	struct fix *f = *state;
	struct api_reserve_out out;
	struct forge_err err = {0};
	int limit = 1;
	json_t *live = NULL;

	struct api_spawn_rec a = rec("a", "aaaa");
	assert_int_equal(api_db_spawn_reserve(f->db, &a, NOW, 0, limit_subject, &limit, &out, &err),
			 0);
	assert_int_equal(out.result, API_RESERVED);
	assert_int_equal(api_db_spawn_commit(f->db, &a, "{}", NOW + 100, NOW, &err), 0);
	struct api_spawn_rec b = rec("b", "aaaa");
	assert_int_equal(
	    api_db_spawn_reserve(f->db, &b, NOW + 50, 0, limit_subject, &limit, &out, &err), 0);
	assert_int_equal(out.result, API_QUOTA);
	assert_int_equal(api_db_live_by_track(f->db, NOW + 50, &live, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(live, "netplus")), 1);
	json_decref(live);
	/* Past its expiry it no longer counts. */
	assert_int_equal(
	    api_db_spawn_reserve(f->db, &b, NOW + 100, 0, limit_subject, &limit, &out, &err), 0);
	assert_int_equal(out.result, API_RESERVED);
	assert_int_equal(api_db_spawn_commit(f->db, &b, "{}", NOW + 1000, NOW + 100, &err), 0);
	/* Ended by its own tenant only. */
	assert_int_equal(api_db_scenario_end(f->db, "other", b.scenario_id, NOW + 101, &err), 0);
	assert_int_equal(api_db_live_by_track(f->db, NOW + 101, &live, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(live, "netplus")), 1);
	json_decref(live);
	assert_int_equal(api_db_scenario_end(f->db, "acme", b.scenario_id, NOW + 101, &err), 0);
	assert_int_equal(api_db_live_by_track(f->db, NOW + 101, &live, &err), 0);
	assert_null(json_object_get(live, "netplus"));
	json_decref(live);
	assert_int_equal(api_db_probe(f->db, NOW, &err), 0);
}

static void test_billing_chain(void **state)
{
	struct fix *f = *state;
	struct api_reserve_out out;
	struct forge_err err = {0};
	int limit = 100;
	long rows = 0;
	char rid[16];

	for (int i = 0; i < 5; i++) {
		snprintf(rid, sizeof(rid), "b-%d", i);
		struct api_spawn_rec r = rec(rid, "aaaa");
		assert_int_equal(
		    api_db_spawn_reserve(f->db, &r, NOW + i, 0, limit_subject, &limit, &out, &err),
		    0);
		assert_int_equal(api_db_spawn_commit(f->db, &r, "{}", NOW + 3600, NOW + i, &err),
				 0);
	}
	assert_int_equal(api_billing_verify(f->path, &rows, &err), 0);
	assert_int_equal(rows, 5);
	/* A changed field. */
	assert_int_equal(sqlite3_exec(f->db->h, "UPDATE billing SET track = 'cissp' WHERE seq = 3",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(api_billing_verify(f->path, &rows, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "row 3 was changed"));
	assert_int_equal(sqlite3_exec(f->db->h,
				      "UPDATE billing SET track = 'netplus' WHERE seq = 3", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(api_billing_verify(f->path, &rows, &err), 0);
	/* A row deleted in the middle. */
	assert_int_equal(
	    sqlite3_exec(f->db->h, "DELETE FROM billing WHERE seq = 2", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(api_billing_verify(f->path, &rows, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "row 2 is missing"));
	/* A missing database. */
	assert_int_equal(api_billing_verify("/nonexistent/api.db", &rows, &err), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_migrate_wal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quota_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_and_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_billing_chain, setup, teardown),
	};

	forge_log_init("test", FORGE_LOG_ERROR, 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
