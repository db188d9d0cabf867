/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The billing ledger: one row per accepted spawn, each carrying
 * hash = sha256(prev_hash "\n" canonical JSON of the row's fields), the first
 * chained to 64 zeros. Changing, inserting or deleting a row in the middle
 * breaks the chain from there on. Cutting rows off the end does not: the
 * last hash must be kept elsewhere (logged at each append) to catch that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"

#define ROW_FIELDS "seq, ts, tenant, subject, plan, track, scenario_id, request_id"

static int row_hash(int64_t seq, int64_t ts, const char *tenant, const char *subject,
		    const char *plan, const char *track, const char *scenario_id,
		    const char *request_id, const char *prev, char hash[65], struct forge_err *err)
{
	json_t *j =
	    json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "seq", (json_int_t)seq, "ts",
		      (json_int_t)ts, "tenant", tenant, "subject", subject, "plan", plan, "track",
		      track, "scenario_id", scenario_id, "request_id", request_id);
	char *text = j ? forge_json_canonical(j, err) : NULL, *msg = NULL;
	int rc = 0;

	if (!text || asprintf(&msg, "%s\n%s", prev, text) < 0) {
		msg = NULL;
		rc = forge_err_set(err, -ENOMEM, "billing: out of memory");
	} else {
		forge_sha256_hex(msg, strlen(msg), hash);
	}
	free(msg);
	free(text);
	json_decref(j);
	return rc;
}

static int sql_fail(sqlite3 *h, struct forge_err *err, const char *what)
{
	return forge_err_set(err, -EIO, "billing: %s: %s", what, sqlite3_errmsg(h));
}

int api_billing_append(sqlite3 *h, const struct api_spawn_rec *r, int64_t ts, struct forge_err *err)
{
	char prev[65] = API_BILLING_GENESIS, hash[65];
	sqlite3_stmt *st = NULL;
	int64_t seq = 1;
	int rc;

	if (sqlite3_prepare_v2(h, "SELECT seq, hash FROM billing ORDER BY seq DESC LIMIT 1", -1,
			       &st, NULL) != SQLITE_OK)
		return sql_fail(h, err, "last row");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0) + 1;
		snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(st, 1));
	} else if (rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		return sql_fail(h, err, "last row");
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = row_hash(seq, ts, r->tenant, r->subject, r->plan, r->track, r->scenario_id,
			   r->request_id, prev, hash, err)))
		return rc;
	if (sqlite3_prepare_v2(h,
			       "INSERT INTO billing (" ROW_FIELDS ", prev_hash, hash) VALUES "
			       "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
			       -1, &st, NULL) != SQLITE_OK)
		return sql_fail(h, err, "append");
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, ts);
	const char *text[] = {r->tenant,      r->subject,    r->plan, r->track,
			      r->scenario_id, r->request_id, prev,    hash};
	for (int i = 0; i < 8; i++)
		sqlite3_bind_text(st, i + 3, text[i], -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_fail(h, err, "append");
	sqlite3_finalize(st);
	if (rc == 0)
		forge_log(FORGE_LOG_INFO, "billing event", "scenario_id", r->scenario_id,
			  "ledger_hash", hash, NULL);
	return rc;
}

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v ? (const char *)v : "";
}

int api_billing_check(sqlite3 *h, long *rows, struct forge_err *err)
{
	char prev[65] = API_BILLING_GENESIS, hash[65];
	sqlite3_stmt *st = NULL;
	int64_t want = 1;
	int rc = 0, step = SQLITE_DONE;

	*rows = 0;
	if (sqlite3_prepare_v2(h,
			       "SELECT " ROW_FIELDS ", prev_hash, hash FROM billing ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK)
		return sql_fail(h, err, "read");
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);
		if (seq != want) {
			rc = forge_err_set(err, -EBADMSG,
					   "billing: row %lld is missing (found %lld)",
					   (long long)want, (long long)seq);
			break;
		}
		if (strcmp(col(st, 8), prev) != 0) {
			rc =
			    forge_err_set(err, -EBADMSG,
					  "billing: row %lld: prev_hash does not chain to row %lld",
					  (long long)seq, (long long)seq - 1);
			break;
		}
		if ((rc =
			 row_hash(seq, sqlite3_column_int64(st, 1), col(st, 2), col(st, 3),
				  col(st, 4), col(st, 5), col(st, 6), col(st, 7), prev, hash, err)))
			break;
		if (strcmp(hash, col(st, 9)) != 0) {
			rc = forge_err_set(err, -EBADMSG,
					   "billing: row %lld was changed (its hash does not match "
					   "its fields)",
					   (long long)seq);
			break;
		}
		memcpy(prev, hash, sizeof(prev));
		want++;
		(*rows)++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = sql_fail(h, err, "read");
	sqlite3_finalize(st);
	return rc;
}

int api_billing_verify(const char *db_path, long *rows, struct forge_err *err)
{
	sqlite3 *h = NULL;
	int rc;

	*rows = 0;
	if (sqlite3_open_v2(db_path, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) !=
	    SQLITE_OK) {
		rc = forge_err_set(err, -EIO, "api.db %s: %s", db_path,
				   h ? sqlite3_errmsg(h) : "out of memory");
		sqlite3_close(h);
		return rc;
	}
	sqlite3_busy_timeout(h, 5000);
	/* One read transaction: a consistent snapshot while forge-api appends. */
	if (sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		rc = sql_fail(h, err, "begin");
	else
		rc = api_billing_check(h, rows, err);
	sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(h);
	return rc;
}
