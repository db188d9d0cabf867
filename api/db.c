/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forge-api's state in SQLite (WAL): versioned migrations, scenarios with
 * their idempotency keys, quotas counted and reserved in one transaction.
 *
 * One connection serialized by a mutex: the api's writes are few (spawns,
 * ends) and short, and BEGIN IMMEDIATE still serializes against any other
 * process (forgectl) holding the database. WAL lets readers run alongside.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/internal.h"

#define DB_BUSY_MS 5000
#define LIVE                                                                                       \
	"(state = 'reserved' OR (state = 'active' AND (expires_at IS NULL OR expires_at > ?1)))"

/* Each entry moves the schema from version i to i + 1; never edit one that
 * has shipped, add the next. */
static const char *const migrations[] = {
    /* 1: scenarios (idempotency, quotas), billing ledger, meta */
    "CREATE TABLE scenarios ("
    " scenario_id TEXT PRIMARY KEY,"
    " tenant TEXT NOT NULL, subject TEXT NOT NULL, track TEXT NOT NULL, plan TEXT NOT NULL,"
    " request_id TEXT NOT NULL, body_hash TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('reserved', 'active', 'ended')),"
    " response TEXT, created_at INTEGER NOT NULL, expires_at INTEGER, ended_at INTEGER,"
    " UNIQUE (tenant, request_id));"
    "CREATE INDEX scenarios_tenant_created ON scenarios (tenant, created_at);"
    "CREATE INDEX scenarios_state ON scenarios (state, tenant, subject);"
    "CREATE TABLE billing ("
    " seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
    " tenant TEXT NOT NULL, subject TEXT NOT NULL, plan TEXT NOT NULL, track TEXT NOT NULL,"
    " scenario_id TEXT NOT NULL, request_id TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);",
};

static int db_fail(struct api_db *db, struct forge_err *err, const char *what)
{
	int code = sqlite3_extended_errcode(db->h);

	return forge_err_set(err,
			     code == SQLITE_NOMEM  ? -ENOMEM
			     : code == SQLITE_BUSY ? -EBUSY
						   : -EIO,
			     "api.db: %s: %s", what, sqlite3_errmsg(db->h));
}

static int db_exec(struct api_db *db, const char *sql, struct forge_err *err)
{
	return sqlite3_exec(db->h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(db, err, sql);
}

/* Prepares sql and binds the text (s) and integer (i) arguments given by fmt
 * to ?1, ?2, … in order. */
static sqlite3_stmt *db_prepv(struct api_db *db, struct forge_err *err, const char *sql,
			      const char *fmt, va_list ap)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);

	for (int i = 0; rc == SQLITE_OK && fmt[i]; i++)
		rc = fmt[i] == 's' ? sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1,
						       SQLITE_TRANSIENT)
				   : sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
	if (rc != SQLITE_OK) {
		db_fail(db, err, sql);
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

static sqlite3_stmt *db_prep(struct api_db *db, struct forge_err *err, const char *sql,
			     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sqlite3_stmt *st = db_prepv(db, err, sql, fmt, ap);
	va_end(ap);
	return st;
}

/* Runs a statement that returns no row (or whose rows do not matter). */
static int db_run(struct api_db *db, sqlite3_stmt *st, struct forge_err *err)
{
	int rc;

	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	rc = rc == SQLITE_DONE ? 0 : db_fail(db, err, sqlite3_sql(st));
	sqlite3_finalize(st);
	return rc;
}

/* The first column of the only row, as an integer (0 when NULL). */
static int db_count(struct api_db *db, sqlite3_stmt *st, int64_t *out, int64_t *second,
		    struct forge_err *err)
{
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		if (second)
			*second = sqlite3_column_int64(st, 1);
		rc = 0;
	} else {
		rc = db_fail(db, err, sqlite3_sql(st));
	}
	sqlite3_finalize(st);
	return rc;
}

static int migrate(struct api_db *db, struct forge_err *err)
{
	const int target = (int)(sizeof(migrations) / sizeof(migrations[0]));
	int version = api_db_version(db), rc = 0;
	char sql[64];

	if (version < 0)
		return db_fail(db, err, "PRAGMA user_version");
	if (version > target)
		return forge_err_set(err, -EPROTO,
				     "api.db: schema version %d is newer than this forge-api (%d)",
				     version, target);
	for (; version < target && rc == 0; version++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		if ((rc = db_exec(db, "BEGIN IMMEDIATE", err)))
			break;
		if ((rc = db_exec(db, migrations[version], err)) || (rc = db_exec(db, sql, err)) ||
		    (rc = db_exec(db, "COMMIT", err)))
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	}
	if (rc)
		forge_err_prefix(err, "migration to version %d", version + 1);
	return rc;
}

int api_db_open(const char *path, struct api_db **out, struct forge_err *err)
{
	struct api_db *db = calloc(1, sizeof(*db));
	sqlite3_stmt *st = NULL;
	int rc;

	*out = NULL;
	if (!db)
		return forge_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&db->lock, NULL);
	if (sqlite3_open_v2(path, &db->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				SQLITE_OPEN_NOFOLLOW,
			    NULL) != SQLITE_OK) {
		rc = forge_err_set(err, -EIO, "api.db %s: %s", path,
				   db->h ? sqlite3_errmsg(db->h) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db->h, DB_BUSY_MS);
	/* WAL is a property of the file: check that it took. */
	if (sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		rc = forge_err_set(err, -EIO, "api.db %s: cannot switch to WAL: %s", path,
				   sqlite3_errmsg(db->h));
		goto fail;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = db_exec(db, "PRAGMA synchronous = FULL", err)) ||
	    (rc = db_exec(db, "PRAGMA foreign_keys = ON", err)) || (rc = migrate(db, err)))
		goto fail;
	*out = db;
	return 0;
fail:
	sqlite3_finalize(st);
	api_db_close(db);
	return rc;
}

void api_db_close(struct api_db *db)
{
	if (!db)
		return;
	sqlite3_close(db->h);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

int api_db_version(struct api_db *db)
{
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* [a-z0-9]{12}, uniformly. */
static void new_scenario_id(char id[13])
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";

	for (int i = 0; i < 12; i++)
		id[i] = set[randombytes_uniform(sizeof(set) - 1)];
	id[12] = '\0';
}

/* The idempotency key: 0 when new, 1 when out is decided (replay or 409). */
static int lookup_request(struct api_db *db, const struct api_spawn_rec *r,
			  struct api_reserve_out *out, struct forge_err *err)
{
	sqlite3_stmt *st = db_prep(db, err,
				   "SELECT body_hash, state, response FROM scenarios "
				   "WHERE tenant = ?1 AND request_id = ?2",
				   "ss", r->tenant, r->request_id);
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = 0;
	} else if (rc != SQLITE_ROW) {
		rc = db_fail(db, err, "idempotency lookup");
	} else if (strcmp((const char *)sqlite3_column_text(st, 0), r->body_hash) != 0) {
		out->result = API_BODY_MISMATCH;
		rc = 1;
	} else if (strcmp((const char *)sqlite3_column_text(st, 1), "reserved") == 0 ||
		   !sqlite3_column_text(st, 2)) {
		out->result = API_IN_PROGRESS;
		rc = 1;
	} else {
		out->result = API_REPLAY;
		out->replay = strdup((const char *)sqlite3_column_text(st, 2));
		rc = out->replay ? 1 : forge_err_set(err, -ENOMEM, "out of memory");
	}
	sqlite3_finalize(st);
	return rc;
}

static int count_quota(struct api_db *db, const struct api_spawn_rec *r, int64_t now,
		       struct api_quota_counts *q, struct forge_err *err)
{
	int rc;

	memset(q, 0, sizeof(*q));
	if ((rc = db_count(db,
			   db_prep(db, err, "SELECT count(*) FROM scenarios WHERE " LIVE, "i", now),
			   &q->live_total, NULL, err)) ||
	    (rc = db_count(db,
			   db_prep(db, err,
				   "SELECT count(*) FROM scenarios WHERE tenant = ?2 AND " LIVE,
				   "is", now, r->tenant),
			   &q->live_tenant, NULL, err)) ||
	    (rc = db_count(db,
			   db_prep(db, err,
				   "SELECT count(*) FROM scenarios WHERE tenant = ?2 AND "
				   "subject = ?3 AND " LIVE,
				   "iss", now, r->tenant, r->subject),
			   &q->live_subject, NULL, err)) ||
	    (rc = db_count(db,
			   db_prep(db, err,
				   "SELECT count(*), min(created_at) FROM scenarios "
				   "WHERE tenant = ?2 AND created_at > ?1",
				   "is", now - 60, r->tenant),
			   &q->spawns_last_minute, &q->oldest_last_minute, err)) ||
	    (rc = db_count(db,
			   db_prep(db, err,
				   "SELECT count(*), min(created_at) FROM scenarios "
				   "WHERE tenant = ?2 AND created_at > ?1",
				   "is", now - 3600, r->tenant),
			   &q->spawns_last_hour, &q->oldest_last_hour, err)))
		return rc;
	return 0;
}

int api_db_spawn_reserve(struct api_db *db, struct api_spawn_rec *r, int64_t now,
			 int64_t stale_before, api_quota_fn quota, void *arg,
			 struct api_reserve_out *out, struct forge_err *err)
{
	struct api_quota_counts q;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&db->lock);
	if ((rc = db_exec(db, "BEGIN IMMEDIATE", err)))
		goto unlock;
	/* A reservation older than any spawn can take was left by a crash. */
	st = db_prep(db, err, "DELETE FROM scenarios WHERE state = 'reserved' AND created_at < ?1",
		     "i", stale_before);
	if ((rc = db_run(db, st, err)) || (rc = lookup_request(db, r, out, err)) ||
	    (rc = count_quota(db, r, now, &q, err)) || (rc = quota(arg, &q, out)))
		goto rollback;
	for (int tries = 0; tries < 3; tries++) {
		new_scenario_id(r->scenario_id);
		rc = db_run(db,
			    db_prep(db, err,
				    "INSERT INTO scenarios (scenario_id, tenant, subject, track, "
				    "plan, request_id, body_hash, state, created_at) VALUES "
				    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'reserved', ?8)",
				    "sssssssi", r->scenario_id, r->tenant, r->subject, r->track,
				    r->plan, r->request_id, r->body_hash, now),
			    err);
		/* A clash of 62 random bits is the only constraint left to hit. */
		if (rc == 0 || sqlite3_extended_errcode(db->h) != SQLITE_CONSTRAINT_PRIMARYKEY)
			break;
	}
	if (rc == 0 && (rc = db_exec(db, "COMMIT", err)) == 0) {
		out->result = API_RESERVED;
		goto unlock;
	}
rollback:
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	if (rc > 0) /* decided: a replay, a conflict or a quota */
		rc = 0;
	else
		api_reserve_out_clear(out);
unlock:
	pthread_mutex_unlock(&db->lock);
	return rc;
}

void api_reserve_out_clear(struct api_reserve_out *o)
{
	free(o->replay);
	json_decref(o->reasons);
	memset(o, 0, sizeof(*o));
}

int api_db_spawn_commit(struct api_db *db, const struct api_spawn_rec *r, const char *response,
			int64_t expires_at, int64_t now, struct forge_err *err)
{
	int rc;

	pthread_mutex_lock(&db->lock);
	if ((rc = db_exec(db, "BEGIN IMMEDIATE", err)))
		goto unlock;
	if ((rc = db_run(db,
			 db_prep(db, err,
				 "UPDATE scenarios SET state = 'active', response = ?2, "
				 "expires_at = ?3 WHERE scenario_id = ?1 AND state = 'reserved'",
				 "ssi", r->scenario_id, response, expires_at),
			 err)) ||
	    (sqlite3_changes(db->h) != 1 &&
	     (rc =
		  forge_err_set(err, -ENOENT, "api.db: reservation %s is gone", r->scenario_id))) ||
	    (rc = api_billing_append(db->h, r, now, err)) || (rc = db_exec(db, "COMMIT", err)))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
unlock:
	pthread_mutex_unlock(&db->lock);
	return rc;
}

/* One statement on its own, under the lock. */
static int db_write(struct api_db *db, struct forge_err *err, const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;

	pthread_mutex_lock(&db->lock);
	va_start(ap, fmt);
	rc = db_run(db, db_prepv(db, err, sql, fmt, ap), err);
	va_end(ap);
	pthread_mutex_unlock(&db->lock);
	return rc;
}

int api_db_spawn_abort(struct api_db *db, const char *scenario_id, struct forge_err *err)
{
	return db_write(db, err,
			"DELETE FROM scenarios WHERE scenario_id = ?1 AND state = 'reserved'", "s",
			scenario_id);
}

int api_db_scenario_end(struct api_db *db, const char *tenant, const char *scenario_id, int64_t now,
			struct forge_err *err)
{
	return db_write(db, err,
			"UPDATE scenarios SET state = 'ended', ended_at = ?3 "
			"WHERE scenario_id = ?1 AND tenant = ?2 AND state = 'active'",
			"ssi", scenario_id, tenant, now);
}

int api_db_live_by_track(struct api_db *db, int64_t now, json_t **out, struct forge_err *err)
{
	sqlite3_stmt *st;
	int rc = 0, step;

	*out = json_object();
	if (!*out)
		return forge_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_lock(&db->lock);
	st = db_prep(db, err, "SELECT track, count(*) FROM scenarios WHERE " LIVE " GROUP BY track",
		     "i", now);
	if (!st)
		rc = -EIO;
	while (st && (step = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(*out, (const char *)sqlite3_column_text(st, 0),
				    json_integer(sqlite3_column_int64(st, 1)));
	if (st && step != SQLITE_DONE)
		rc = db_fail(db, err, "live scenarios by track");
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int api_db_probe(struct api_db *db, int64_t now, struct forge_err *err)
{
	return db_write(db, err, "INSERT OR REPLACE INTO meta (k, v) VALUES ('probe', ?1)", "i",
			now);
}
