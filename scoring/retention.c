/* SPDX-License-Identifier: Apache-2.0 */
/* Retention: investigation holds and the deletion of results past their retention. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scoring/internal.h"

#define DAY_SECS 86400
/* A temp directory this old belongs to a write that crashed, not to one running now. */
#define CLEANUP_STALE_TMP_SECS 3600

/* The holds directory, locked: hold, unhold and cleanup exclude each other. */
static int holds_open_locked(const struct forge_paths *p, struct forge_err *err)
{
	int fd = scoring_open_lib_dir(p, SCORING_HOLDS_DIR, true, err);

	if (fd < 0)
		return fd;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int rc = forge_err_errno(err, errno, "%s: lock", SCORING_HOLDS_DIR);

			close(fd);
			return rc;
		}
	}
	return fd;
}

static bool holds_has(int holdsfd, const char *scenario_id)
{
	struct stat st;

	return fstatat(holdsfd, scenario_id, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool forge_hold_exists(const struct forge_paths *p, const char *scenario_id)
{
	bool held;
	int fd;

	if (!scoring_id_valid(scenario_id))
		return false;
	fd = scoring_open_lib_dir(p, SCORING_HOLDS_DIR, false, NULL);
	if (fd < 0)
		return false;
	held = holds_has(fd, scenario_id);
	close(fd);
	return held;
}

static int holds_place(int fd, const char *scenario_id, const char *actor, struct forge_err *err)
{
	char ts[32], *text = NULL;
	json_t *rec;
	size_t len;
	int rc;

	scoring_time_format((int64_t)time(NULL), -1, ts);
	rec = json_pack("{s:s, s:s, s:s}", "actor", actor, "scenario_id", scenario_id, "since", ts);
	text = rec ? scoring_json_file(rec, &len, err) : NULL;
	rc = text ? forge_atomic_write(fd, scenario_id, text, len, 0600, err)
		  : forge_err_set(err, -EINVAL, "hold %s: cannot encode (actor not UTF-8?)",
				  scenario_id);
	free(text);
	json_decref(rec);
	return rc;
}

/*
 * A hold is placed before it is audited (and taken back when the event cannot
 * be written); a release is audited before the hold goes. Either way a failure
 * leaves the scenario protected.
 */
int forge_hold_set(const struct forge_paths *p, const char *scenario_id, bool hold,
		   const char *actor, struct forge_err *err)
{
	json_t *data;
	int fd, rc;

	if (!scoring_id_valid(scenario_id))
		return forge_err_set(err, -EINVAL, "hold: bad scenario id \"%s\"",
				     scenario_id ? scenario_id : "(null)");
	if (!actor || !*actor)
		return forge_err_set(err, -EINVAL, "hold %s: no actor", scenario_id);
	fd = holds_open_locked(p, err);
	if (fd < 0)
		return fd;
	if (hold == holds_has(fd, scenario_id)) {
		rc = forge_err_set(err, hold ? -EEXIST : -ENOENT, "%s is %s", scenario_id,
				   hold ? "already held" : "not held");
		goto out;
	}
	data = json_pack("{s:s}", "scenario_id", scenario_id);
	if (hold) {
		rc = holds_place(fd, scenario_id, actor, err);
		if (rc == 0)
			rc = scoring_audit_event(p, "results.hold", actor, data, err);
		else
			json_decref(data);
		if (rc < 0 && holds_has(fd, scenario_id))
			unlinkat(fd, scenario_id, 0);
		goto out;
	}
	rc = scoring_audit_event(p, "results.unhold", actor, data, err);
	if (rc == 0 && unlinkat(fd, scenario_id, 0) < 0)
		rc = forge_err_errno(err, errno, "unhold %s", scenario_id);
	if (rc == 0)
		rc = scoring_fsync_dir(fd, SCORING_HOLDS_DIR, err);
out:
	close(fd);
	return rc;
}

/* ------------------------------------------------------------ cleanup */

struct cleanup_run {
	const struct forge_paths *p;
	const struct forge_cleanup_opts *o;
	struct forge_cleanup_stats *stats;
	struct forge_audit *audit; /* NULL in a dry run */
	int holdsfd;
};

static void cleanup_report(struct cleanup_run *r, struct forge_cleanup_entry *e)
{
	size_t *const count[] = {
	    [FORGE_CLEANUP_DELETED] = &r->stats->deleted,
	    [FORGE_CLEANUP_WOULD_DELETE] = &r->stats->deleted,
	    [FORGE_CLEANUP_HELD] = &r->stats->held,
	    [FORGE_CLEANUP_KEPT] = &r->stats->kept,
	    [FORGE_CLEANUP_SKIPPED] = &r->stats->skipped,
	    [FORGE_CLEANUP_INCOMPLETE] = &r->stats->incomplete,
	};

	(*count[e->action])++;
	if (r->o->report)
		r->o->report(e, r->o->arg);
}

/* Renames name aside (".<name>.del.<random>") and removes it: a crash half-way
 * leaves a directory the next cleanup finishes, never a partial result. */
static int cleanup_remove(int tenantfd, const char *name, struct forge_err *err)
{
	char aside[FORGE_SCORING_ID_MAX + 32], rnd[17];
	int rc;

	forge_random_hex(rnd, 16);
	snprintf(aside, sizeof(aside), ".%.64s.del.%s", name, rnd);
	if (renameat(tenantfd, name, tenantfd, aside) < 0)
		return forge_err_errno(err, errno, "cleanup: rename %s", name);
	rc = scoring_fsync_dir(tenantfd, name, err);
	return rc < 0 ? rc : forge_remove_tree(tenantfd, aside, err);
}

/* ".<id>.tmp.<rnd>" (a write in progress or crashed) or ".<id>.del.<rnd>". */
static int cleanup_dot_dir(struct cleanup_run *r, int tenantfd, const char *tenant,
			   const char *name, struct forge_err *err)
{
	struct forge_cleanup_entry e = {.tenant = tenant, .scenario_id = name};
	struct stat st;

	if (fstatat(tenantfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (!strstr(name, ".del.") &&
	    !(strstr(name, ".tmp.") && r->o->now - st.st_mtime > CLEANUP_STALE_TMP_SECS))
		return 0;
	e.action = FORGE_CLEANUP_INCOMPLETE;
	cleanup_report(r, &e);
	return r->o->dry_run ? 0 : forge_remove_tree(tenantfd, name, err);
}

/* Timestamp and retention from the manifest; why says what is wrong. */
static int cleanup_read_manifest(int tenantfd, const char *name, int64_t *ts, unsigned *days,
				 char sha[65], char *why, size_t whysz)
{
	struct forge_err e = {0};
	char path[FORGE_SCORING_ID_MAX + 32];
	json_t *m = NULL, *ret;
	char *buf = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%.64s/%s", name, SCORING_MANIFEST);
	rc = forge_read_file(tenantfd, path, &buf, &len, SCORING_JSON_MAX, &e);
	if (rc == 0) {
		m = scoring_json_parse(buf, len, SCORING_MANIFEST, &e);
		rc = m ? 0 : -EBADMSG;
	}
	if (rc == 0) {
		ret = json_object_get(m, "retention_days");
		if (scoring_time_parse(json_string_value(json_object_get(m, "timestamp")), ts) <
			0 ||
		    !json_is_integer(ret) || json_integer_value(ret) < 0 ||
		    json_integer_value(ret) > FORGE_RETENTION_DAYS_MAX)
			rc = forge_err_set(&e, -EBADMSG,
					   "manifest.json: no valid timestamp or retention_days");
		else
			*days = (unsigned)json_integer_value(ret);
	}
	if (rc == 0)
		forge_sha256_hex(buf, len, sha);
	else
		snprintf(why, whysz, "%s", e.msg);
	json_decref(m);
	free(buf);
	return rc;
}

static int cleanup_result(struct cleanup_run *r, int tenantfd, const char *tenant, const char *name,
			  struct forge_err *err)
{
	struct forge_cleanup_entry e = {.tenant = tenant, .scenario_id = name};
	char why[FORGE_ERR_MSG_MAX], sha[65];
	int64_t ts = 0, age;
	json_t *data;
	int rc;

	if (cleanup_read_manifest(tenantfd, name, &ts, &e.retention_days, sha, why, sizeof(why)) <
	    0) {
		e.action = FORGE_CLEANUP_SKIPPED;
		e.why = why;
		cleanup_report(r, &e);
		return 0;
	}
	age = r->o->now - ts;
	e.age_days = age / DAY_SECS;
	if (age <= (int64_t)r->o->older_than_days * DAY_SECS ||
	    age <= (int64_t)e.retention_days * DAY_SECS)
		e.action = FORGE_CLEANUP_KEPT;
	else if (holds_has(r->holdsfd, name))
		e.action = FORGE_CLEANUP_HELD;
	else
		e.action = r->o->dry_run ? FORGE_CLEANUP_WOULD_DELETE : FORGE_CLEANUP_DELETED;
	if (e.action != FORGE_CLEANUP_DELETED) {
		cleanup_report(r, &e);
		return 0;
	}
	/* Audited before it goes: the log never misses a deletion that happened. */
	data = json_pack("{s:s, s:s, s:s, s:I, s:I}", "tenant", tenant, "scenario_id", name,
			 "manifest_sha256", sha, "age_days", (json_int_t)e.age_days,
			 "retention_days", (json_int_t)e.retention_days);
	rc = data ? forge_audit_append(r->audit, "results.delete", r->o->actor, NULL, data, NULL,
				       err)
		  : forge_err_set(err, -ENOMEM, "cleanup: out of memory");
	json_decref(data);
	if (rc == 0)
		rc = cleanup_remove(tenantfd, name, err);
	if (rc == 0)
		cleanup_report(r, &e);
	return rc;
}

static int cleanup_tenant(struct cleanup_run *r, int resultsfd, const char *tenant,
			  struct forge_err *err)
{
	struct dirent *de;
	int fd, rc = 0;
	DIR *d;

	fd = scoring_open_dir(resultsfd, tenant, false, 0, err);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		rc = forge_err_errno(err, errno, "cleanup: %s", tenant);
		close(fd);
		return rc;
	}
	while (rc == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_name[0] == '.')
			rc = cleanup_dot_dir(r, dirfd(d), tenant, de->d_name, err);
		else if (scoring_id_valid(de->d_name))
			rc = cleanup_result(r, dirfd(d), tenant, de->d_name, err);
	}
	closedir(d);
	return rc;
}

static int cleanup_walk(struct cleanup_run *r, struct forge_err *err)
{
	struct dirent *de;
	int fd, rc = 0;
	DIR *d;

	fd = scoring_open_lib_dir(r->p, SCORING_RESULTS_DIR, false, err);
	if (fd == -ENOENT) {
		forge_err_clear(err);
		return 0;
	}
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		rc = forge_err_errno(err, errno, "cleanup: %s", SCORING_RESULTS_DIR);
		close(fd);
		return rc;
	}
	while (rc == 0 && (de = readdir(d)))
		if (scoring_id_valid(de->d_name) &&
		    (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN))
			rc = cleanup_tenant(r, dirfd(d), de->d_name, err);
	closedir(d);
	return rc;
}

int forge_results_cleanup(const struct forge_paths *p, const struct forge_cleanup_opts *o,
			  struct forge_cleanup_stats *stats, struct forge_err *err)
{
	struct cleanup_run r = {.p = p, .o = o, .stats = stats, .holdsfd = -1};
	struct forge_err summary_err = {0};
	json_t *data;
	int rc;

	memset(stats, 0, sizeof(*stats));
	if (!o->actor || !*o->actor)
		return forge_err_set(err, -EINVAL, "cleanup: no actor");
	if (!o->dry_run) {
		rc = forge_audit_open(p, &r.audit, err);
		if (rc < 0)
			return rc;
	}
	r.holdsfd = holds_open_locked(p, err);
	if (r.holdsfd < 0) {
		rc = r.holdsfd;
		goto out;
	}
	rc = cleanup_walk(&r, err);
	if (o->dry_run)
		goto out;
	/* The summary also records a run that stopped on an error. */
	data =
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s?}", "older_than_days",
		      (json_int_t)o->older_than_days, "deleted", (json_int_t)stats->deleted, "held",
		      (json_int_t)stats->held, "kept", (json_int_t)stats->kept, "skipped",
		      (json_int_t)stats->skipped, "incomplete", (json_int_t)stats->incomplete,
		      "error", rc < 0 ? (err ? err->msg : "failed") : NULL);
	if (forge_audit_append(r.audit, "results.cleanup", o->actor, NULL, data, NULL,
			       &summary_err) < 0 &&
	    rc == 0) {
		rc = summary_err.code;
		if (err)
			*err = summary_err;
	}
	json_decref(data);
out:
	if (r.holdsfd >= 0)
		close(r.holdsfd);
	forge_audit_close(r.audit);
	return rc;
}
