/* SPDX-License-Identifier: Apache-2.0 */
/* Scenario journals: what a scenario owns, persisted before each kernel object exists. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/forged.h"

#define JOURNAL_MAX (256 * 1024)

static const char *const state_names[SC_NSTATES] = {
    "pending", "creating", "running", "scoring", "completed", "failed", "timeout", "destroyed",
};

const char *scenario_state_name(enum scenario_state s)
{
	return (unsigned)s < SC_NSTATES ? state_names[s] : "unknown";
}

int scenario_state_parse(const char *name)
{
	for (int i = 0; name && i < SC_NSTATES; i++)
		if (strcmp(state_names[i], name) == 0)
			return i;
	return -1;
}

static void rfc3339(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int scenarios_dir(const struct forge_paths *p, int *fd, struct forge_err *err)
{
	int lib = open(p->lib, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (lib < 0)
		return forge_err_errno(err, errno, "open %s", p->lib);
	int rc = forge_mkdir_beneath(lib, "scenarios", 0700, err);
	if (rc == 0) {
		*fd = forge_open_beneath(lib, "scenarios", O_PATH | O_DIRECTORY, 0, err);
		rc = *fd < 0 ? *fd : 0;
	}
	close(lib);
	return rc;
}

static json_t *container_json(const struct scenario_container *c, bool journal)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:b, s:O}", "name", c->name, "image",
			      c->image_ref, "image_digest", c->image_digest, "learner_access",
			      c->learner_access, "attacker", c->attacker, "addresses",
			      c->addresses ? c->addresses : json_array());
	if (!j)
		return NULL;
	if (journal && c->have_record) {
		const struct forge_container_record *r = &c->rec;
		json_object_set_new(
		    j, "record",
		    json_pack("{s:I, s:I, s:s, s:I, s:i, s:I, s:I, s:I}", "pid", (json_int_t)r->pid,
			      "start_time", (json_int_t)r->start_time, "cgroup", r->cgroup, "caps",
			      (json_int_t)r->caps, "seccomp_mode", (int)r->seccomp_mode, "host_uid",
			      (json_int_t)r->host_uid, "host_gid", (json_int_t)r->host_gid,
			      "id_count", (json_int_t)r->id_count));
	}
	if (!journal)
		json_object_set_new(j, "state", json_string(c->c ? "running" : "stopped"));
	return j;
}

static json_t *scenario_doc(const struct scenario *s, bool journal)
{
	char created[32], expires[32];
	rfc3339(s->created_at, created);
	rfc3339(s->expires_at, expires);
	json_t *ctrs = json_array();
	for (size_t i = 0; i < s->n_ctr; i++)
		json_array_append_new(ctrs, container_json(&s->ctr[i], journal));
	json_t *j = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:o, s:i}",
	    "scenario_id", s->id, "tenant_id", s->tenant, "subject", s->subject, "track", s->track,
	    "plan", s->plan, "request_id", s->request_id, "state", scenario_state_name(s->state),
	    "created_at", created, "expires_at", expires, "template", "name", s->tpl_name,
	    "version", s->tpl_version, "hash", s->tpl_hash, "containers", ctrs, "retention_days",
	    s->retention_days);
	if (!j)
		return NULL;
	if (s->score)
		json_object_set(j, "score", s->score);
	if (s->results_dir[0])
		json_object_set_new(j, "results_dir", json_string(s->results_dir));
	if (journal) {
		json_object_set_new(j, "slot", json_integer(s->slot));
		json_object_set_new(j, "max_exploits", json_integer(s->max_exploits));
		json_object_set_new(j, "exploits", json_integer(s->exploits));
		json_object_set_new(j, "created_unix", json_integer((json_int_t)s->created_at));
		json_object_set_new(j, "expires_unix", json_integer((json_int_t)s->expires_at));
		if (s->hub_made)
			json_object_set_new(j, "hub", json_string(s->hub_path));
	} else {
		char net[FORGE_PATH_MAX];
		const char *base = strrchr(s->hub_path, '/');
		snprintf(net, sizeof(net), "%s", base ? base + 1 : "");
		json_object_set_new(j, "network_id", json_string(net));
	}
	return j;
}

json_t *scenario_json(const struct scenario *s)
{
	return scenario_doc(s, false);
}

int journal_write(const struct forge_paths *p, const struct scenario *s, struct forge_err *err)
{
	int dir = -1, sdir = -1, rc;
	char *text = NULL;
	json_t *j = scenario_doc(s, true);

	if (!j)
		return forge_err_set(err, -ENOMEM, "journal %s: out of memory", s->id);
	if ((rc = scenarios_dir(p, &dir, err)))
		goto out;
	if ((rc = forge_mkdir_beneath(dir, s->id, 0700, err)))
		goto out;
	sdir = forge_open_beneath(dir, s->id, O_PATH | O_DIRECTORY, 0, err);
	if (sdir < 0) {
		rc = sdir;
		goto out;
	}
	text = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1));
	if (!text) {
		rc = forge_err_set(err, -ENOMEM, "journal %s: out of memory", s->id);
		goto out;
	}
	rc = forge_atomic_write(sdir, "journal.json", text, strlen(text), 0600, err);
out:
	free(text);
	json_decref(j);
	if (sdir >= 0)
		close(sdir);
	if (dir >= 0)
		close(dir);
	if (rc)
		forge_err_prefix(err, "journal %s", s->id);
	return rc;
}

static int get_str(json_t *j, const char *key, char *out, size_t size, struct forge_err *err)
{
	const char *v = json_string_value(json_object_get(j, key));
	if (!v || strlen(v) >= size)
		return forge_err_set(err, -EINVAL, "\"%s\" missing or too long", key);
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static int record_from_json(json_t *r, struct forge_container_record *rec, struct forge_err *err)
{
	json_int_t pid, start, caps, uid, gid, count;
	int mode;
	const char *cg;
	if (json_unpack(r, "{s:I, s:I, s:s, s:I, s:i, s:I, s:I, s:I}", "pid", &pid, "start_time",
			&start, "cgroup", &cg, "caps", &caps, "seccomp_mode", &mode, "host_uid", &uid,
			"host_gid", &gid, "id_count", &count) < 0 ||
	    pid <= 1 || strlen(cg) >= sizeof(rec->cgroup))
		return forge_err_set(err, -EINVAL, "bad container record");
	rec->pid = (pid_t)pid;
	rec->start_time = (uint64_t)start;
	snprintf(rec->cgroup, sizeof(rec->cgroup), "%s", cg);
	rec->caps = (uint64_t)caps;
	rec->seccomp_mode = (enum forge_seccomp_mode)mode;
	rec->host_uid = (uid_t)uid;
	rec->host_gid = (gid_t)gid;
	rec->id_count = (uint32_t)count;
	return 0;
}

int journal_read(const struct forge_paths *p, const char *id, struct scenario **out,
		 struct forge_err *err)
{
	int dir = -1, rc;
	char path[FORGE_PATH_MAX], *text = NULL;
	json_t *j = NULL;
	struct scenario *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return forge_err_set(err, -ENOMEM, "journal %s: out of memory", id);
	s->timer_fd = -1;
	if (!forge_name_is_component(id) || strlen(id) > FORGED_SCENARIO_ID_LEN) {
		rc = forge_err_set(err, -EINVAL, "journal: bad scenario id \"%s\"", id);
		goto out;
	}
	if ((rc = scenarios_dir(p, &dir, err)))
		goto out;
	snprintf(path, sizeof(path), "%s/journal.json", id);
	if ((rc = forge_read_file(dir, path, &text, NULL, JOURNAL_MAX, err)))
		goto out;
	json_error_t jerr;
	j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		rc = forge_err_set(err, -EINVAL, "malformed JSON: %s", jerr.text);
		goto out;
	}
	snprintf(s->id, sizeof(s->id), "%s", id);
	int st = scenario_state_parse(json_string_value(json_object_get(j, "state")));
	json_t *tpl = json_object_get(j, "template");
	if ((rc = get_str(j, "tenant_id", s->tenant, sizeof(s->tenant), err)) ||
	    (rc = get_str(j, "subject", s->subject, sizeof(s->subject), err)) ||
	    (rc = get_str(j, "track", s->track, sizeof(s->track), err)) ||
	    (rc = get_str(j, "plan", s->plan, sizeof(s->plan), err)) ||
	    (rc = get_str(j, "request_id", s->request_id, sizeof(s->request_id), err)) ||
	    (rc = get_str(tpl, "name", s->tpl_name, sizeof(s->tpl_name), err)) ||
	    (rc = get_str(tpl, "version", s->tpl_version, sizeof(s->tpl_version), err)) ||
	    (rc = get_str(tpl, "hash", s->tpl_hash, sizeof(s->tpl_hash), err)))
		goto out;
	if (st < 0) {
		rc = forge_err_set(err, -EINVAL, "unknown state");
		goto out;
	}
	s->state = (enum scenario_state)st;
	s->slot = (int)json_integer_value(json_object_get(j, "slot"));
	s->max_exploits = (unsigned)json_integer_value(json_object_get(j, "max_exploits"));
	s->exploits = (unsigned)json_integer_value(json_object_get(j, "exploits"));
	s->retention_days = (int)json_integer_value(json_object_get(j, "retention_days"));
	s->created_at = (time_t)json_integer_value(json_object_get(j, "created_unix"));
	s->expires_at = (time_t)json_integer_value(json_object_get(j, "expires_unix"));
	const char *hub = json_string_value(json_object_get(j, "hub"));
	if (hub) {
		s->hub_made = true;
		snprintf(s->hub_path, sizeof(s->hub_path), "%s", hub);
	}
	json_t *score = json_object_get(j, "score");
	if (json_is_object(score))
		s->score = json_incref(score);
	const char *rd = json_string_value(json_object_get(j, "results_dir"));
	if (rd)
		snprintf(s->results_dir, sizeof(s->results_dir), "%s", rd);
	json_t *ctrs = json_object_get(j, "containers"), *c;
	size_t i;
	if (!json_is_array(ctrs) || json_array_size(ctrs) > FORGED_MAX_CONTAINERS) {
		rc = forge_err_set(err, -EINVAL, "bad \"containers\"");
		goto out;
	}
	if (!(s->ctr = scenario_containers_new(json_array_size(ctrs)))) {
		rc = forge_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	s->n_ctr = json_array_size(ctrs);
	json_array_foreach(ctrs, i, c)
	{
		struct scenario_container *sc = &s->ctr[i];
		if ((rc = get_str(c, "name", sc->name, sizeof(sc->name), err)) ||
		    (rc = get_str(c, "image", sc->image_ref, sizeof(sc->image_ref), err)) ||
		    (rc = get_str(c, "image_digest", sc->image_digest, sizeof(sc->image_digest),
				  err)))
			goto out;
		sc->learner_access = json_is_true(json_object_get(c, "learner_access"));
		sc->attacker = json_is_true(json_object_get(c, "attacker"));
		json_t *addrs = json_object_get(c, "addresses");
		sc->addresses = json_is_array(addrs) ? json_incref(addrs) : json_array();
		json_t *r = json_object_get(c, "record");
		if (r) {
			if ((rc = record_from_json(r, &sc->rec, err)))
				goto out;
			snprintf(sc->rec.name, sizeof(sc->rec.name), "%s", sc->name);
			sc->have_record = true;
		}
	}
out:
	if (rc) {
		forge_err_prefix(err, "journal %s", id);
		scenario_free(s);
		s = NULL;
	}
	*out = s;
	json_decref(j);
	free(text);
	if (dir >= 0)
		close(dir);
	return rc;
}

int journal_remove(const struct forge_paths *p, const char *id, struct forge_err *err)
{
	int dir = -1, rc = scenarios_dir(p, &dir, err);
	if (rc)
		return rc;
	rc = forge_remove_tree(dir, id, err);
	close(dir);
	return rc;
}

struct scenario_container *scenario_containers_new(size_t n)
{
	struct scenario_container *c = calloc(n ? n : 1, sizeof(*c));
	return c;
}

void scenario_free(struct scenario *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_ctr; i++) {
		json_decref(s->ctr[i].addresses);
	}
	json_decref(s->score);
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	free(s->ctr);
	free(s);
}
