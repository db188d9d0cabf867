/* SPDX-License-Identifier: Apache-2.0 */
/* forged's protocol ops (docs/protocol.md): argument checks, tenancy, then the lifecycle. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/sat.h"
#include "netns/netns.h"
#include "policy/policy.h"
#include "scoring/scoring.h"
#include "runtime/forged.h"
#include "templates/template.h"

#define EXEC_TIMEOUT_MAX_MS 60000
#define EXEC_OUTPUT_MAX	    (64 * 1024)

struct op_ctx {
	struct forged *d;
	struct client *c;
	const struct forge_proto_request *req;
	bool local;
};

static void reply_ok(struct op_ctx *o, json_t *result)
{
	forged_reply(o->d, o->c, forge_proto_reply_ok(o->req->id, result));
}

static void reply_err(struct op_ctx *o, enum forge_proto_code code, json_t *details,
		      const char *fmt, ...) FORGE_PRINTF(4, 5);
static void reply_err(struct op_ctx *o, enum forge_proto_code code, json_t *details,
		      const char *fmt, ...)
{
	char msg[FORGE_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	forge_log(code == FORGE_E_INTERNAL ? FORGE_LOG_ERROR : FORGE_LOG_INFO, "op refused", "op",
		  o->req->op, "code", forge_proto_code_name(code), "error", msg, NULL);
	forged_reply(o->d, o->c, forge_proto_reply_error(o->req->id, code, msg, details));
}

/* The audit log first, then the action is acknowledged. data is stolen. */
static void audit(struct op_ctx *o, const char *type, json_t *data)
{
	struct forge_err err = {0};
	if (forge_audit_record(&o->d->paths, type, o->local ? "local-root" : "forge-api", NULL,
			       data, &err) < 0)
		forge_log(FORGE_LOG_ERROR, "audit append failed", "type", type, "error", err.msg,
			  NULL);
	json_decref(data);
}

/* ------------------------------------------------------------ arguments */

/* A string argument of at most max bytes from a safe alphabet, or NULL (with
 * a reply sent) when it is missing or wrong; optional ones may be absent. */
static const char *arg_str(struct op_ctx *o, const char *key, size_t max, bool required,
			   bool *bad)
{
	json_t *v = json_object_get(o->req->args, key);
	if (!v && !required)
		return NULL;
	const char *s = json_string_value(v);
	bool ok = s && s[0] && strlen(s) <= max;
	for (const char *p = s; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		     (*p >= '0' && *p <= '9') || strchr("._:@-", *p);
	if (!ok) {
		*bad = true;
		reply_err(o, FORGE_E_BAD_REQUEST, NULL,
			  "args.%s must be a string of 1..%zu characters [A-Za-z0-9._:@-]", key,
			  max);
		return NULL;
	}
	return s;
}

/* The scenario named by args.scenario_id, checked against the caller's
 * tenant; NULL with the reply sent otherwise. */
static struct scenario *arg_scenario(struct op_ctx *o)
{
	bool bad = false;
	const char *id = arg_str(o, "scenario_id", FORGED_SCENARIO_ID_LEN, true, &bad);
	if (bad)
		return NULL;
	const char *tenant = arg_str(o, "tenant_id", 128, !o->local, &bad);
	if (bad)
		return NULL;
	struct scenario *s = scenario_find(o->d, id);
	if (!s) {
		reply_err(o, FORGE_E_NOT_FOUND, NULL, "no scenario %s", id);
		return NULL;
	}
	if (tenant && strcmp(tenant, s->tenant) != 0) {
		/* says nothing about the scenario: not even that it exists elsewhere */
		reply_err(o, FORGE_E_FORBIDDEN, NULL, "scenario %s is not the caller's tenant's",
			  id);
		return NULL;
	}
	return s;
}

/* args.container of s, running; NULL with the reply sent otherwise. */
static struct scenario_container *arg_running_container(struct op_ctx *o, struct scenario *s)
{
	bool bad = false;
	const char *name = arg_str(o, "container", 63, true, &bad);
	if (bad)
		return NULL;
	for (size_t k = 0; k < s->n_ctr; k++) {
		struct scenario_container *sc = &s->ctr[k];
		if (strcmp(sc->name, name) != 0)
			continue;
		if (s->state != SC_RUNNING || !sc->c || sc->exited || !sc->have_record) {
			reply_err(o, FORGE_E_CONFLICT, NULL, "container %s is not running (%s)",
				  name, scenario_state_name(s->state));
			return NULL;
		}
		return sc;
	}
	reply_err(o, FORGE_E_NOT_FOUND, NULL, "scenario %s has no container %s", s->id, name);
	return NULL;
}

/* args.argv: 1..256 strings without NUL bytes; NULL with the reply sent otherwise. */
static json_t *arg_argv(struct op_ctx *o)
{
	json_t *argv = json_object_get(o->req->args, "argv"), *v;
	size_t i;
	if (!json_is_array(argv) || json_array_size(argv) == 0 || json_array_size(argv) > 256) {
		reply_err(o, FORGE_E_BAD_REQUEST, NULL, "args.argv must be an array of 1..256 strings");
		return NULL;
	}
	json_array_foreach(argv, i, v) if (!json_is_string(v) ||
					   strlen(json_string_value(v)) != json_string_length(v))
	{
		reply_err(o, FORGE_E_BAD_REQUEST, NULL, "args.argv[%zu] must be a string", i);
		return NULL;
	}
	return argv;
}

/* What an exec names: the scenario, its argv and the running container;
 * NULL with the reply sent otherwise. */
static struct scenario_container *arg_exec_target(struct op_ctx *o, struct scenario **s,
						  json_t **argv)
{
	*s = arg_scenario(o);
	*argv = *s ? arg_argv(o) : NULL;
	return *argv ? arg_running_container(o, *s) : NULL;
}

/* ------------------------------------------------------------ spawn */

/* The jti store: one file per token id under <lib>/sat-jti holding its
 * expiry, kept until then, so a token is good for exactly one spawn. */
static int jti_claim(struct forged *d, const struct forge_sat_claims *cl, struct forge_err *err)
{
	int lib = open(d->paths.lib, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (lib < 0)
		return forge_err_errno(err, errno, "open %s", d->paths.lib);
	int rc = forge_mkdir_beneath(lib, "sat-jti", 0700, err);
	int dir = rc ? -1 : forge_open_beneath(lib, "sat-jti", O_RDONLY | O_DIRECTORY, 0, err);
	close(lib);
	if (dir < 0)
		return rc ? rc : dir;
	/* expired entries go first: the store stays as small as the live tokens */
	DIR *ls = fdopendir(dup(dir));
	time_t now = time(NULL);
	for (struct dirent *e; ls && (e = readdir(ls));) {
		char *buf = NULL;
		if (e->d_name[0] == '.' || forge_read_file(dir, e->d_name, &buf, NULL, 32, NULL) < 0)
			continue;
		if (strtoll(buf, NULL, 10) < now)
			unlinkat(dir, e->d_name, 0);
		free(buf);
	}
	if (ls)
		closedir(ls);
	int fd = openat(dir, cl->jti, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = errno == EEXIST ? -EALREADY : forge_err_errno(err, errno, "jti store");
		if (rc == -EALREADY)
			forge_err_set(err, rc, "token %s was used before", cl->jti);
	} else {
		dprintf(fd, "%lld\n", (long long)cl->exp);
		rc = fsync(fd) < 0 ? forge_err_errno(err, errno, "jti store") : 0;
		close(fd);
	}
	close(dir);
	return rc;
}

static bool sat_binds(const struct forge_sat_claims *cl, const struct spawn_args *a)
{
	return strcmp(cl->sub, a->subject) == 0 && strcmp(cl->tenant_id, a->tenant) == 0 &&
	       strcmp(cl->track, a->template_name) == 0 && strcmp(cl->plan, a->plan) == 0 &&
	       strcmp(cl->request_id, a->request_id) == 0 &&
	       cl->retention_days == a->retention_days;
}

static void op_spawn(struct op_ctx *o)
{
	struct forged *d = o->d;
	struct spawn_args a = {.local = o->local};
	bool bad = false;
	struct forge_err err = {0};

	a.template_name = arg_str(o, "template", 32, true, &bad);
	if (!bad)
		a.tenant = arg_str(o, "tenant_id", 128, !o->local, &bad);
	if (!bad)
		a.subject = arg_str(o, "subject", 128, !o->local, &bad);
	if (!bad)
		a.plan = arg_str(o, "plan", 64, !o->local, &bad);
	if (!bad)
		a.request_id = arg_str(o, "request_id", 128, !o->local, &bad);
	const char *sat = bad ? NULL : arg_str(o, "sat", FORGE_SAT_MAX, !o->local, &bad);
	if (bad)
		return;
	json_t *rd = json_object_get(o->req->args, "retention_days");
	if (rd && (!json_is_integer(rd) || json_integer_value(rd) < 1 ||
		   json_integer_value(rd) > 3650))
		return reply_err(o, FORGE_E_BAD_REQUEST, NULL,
				 "args.retention_days must be an integer 1..3650");
	a.retention_days = rd ? (int)json_integer_value(rd) : 30;
	if (!a.tenant)
		a.tenant = "local";
	if (!a.subject)
		a.subject = "root";
	if (!a.plan)
		a.plan = "local";
	char rid[33];
	if (!a.request_id) {
		forge_random_hex(rid, 32);
		a.request_id = rid;
	}
	/* Idempotent: the same request of the same tenant is the same scenario. */
	for (struct scenario *s = d->scenarios; s; s = s->next)
		if (strcmp(s->tenant, a.tenant) == 0 && strcmp(s->request_id, a.request_id) == 0) {
			if (strcmp(s->tpl_name, a.template_name) != 0)
				return reply_err(o, FORGE_E_CONFLICT, NULL,
						 "request_id %s was used for another template",
						 a.request_id);
			return reply_ok(o, scenario_json(s));
		}
	if (sat) {
		struct forge_sat_claims cl;
		if (!d->cfg.sat_secret)
			return reply_err(o, FORGE_E_UNAUTHORIZED, NULL,
					 "forged has no SAT_HMAC_SECRET: tokens cannot be checked");
		int rc = forge_sat_verify(sat, d->cfg.sat_secret, d->cfg.sat_secret_len,
					  (int64_t)time(NULL), &cl, &err);
		forge_log(rc ? FORGE_LOG_WARN : FORGE_LOG_INFO, "spawn token checked", "result",
			  rc ? err.msg : "ok", "tenant_id", a.tenant, NULL);
		if (rc == FORGE_SAT_EXPIRED)
			return reply_err(o, FORGE_E_TOKEN_EXPIRED, NULL, "%s", err.msg);
		if (rc == FORGE_SAT_BAD_MAC)
			return reply_err(o, FORGE_E_UNAUTHORIZED, NULL, "%s", err.msg);
		if (rc)
			return reply_err(o, FORGE_E_BAD_REQUEST, NULL, "%s", err.msg);
		if (!sat_binds(&cl, &a))
			return reply_err(o, FORGE_E_FORBIDDEN, NULL,
					 "the spawn token was minted for another spawn");
		if (scenario_find(d, cl.scenario_id))
			return reply_err(o, FORGE_E_CONFLICT, NULL, "scenario %s exists",
					 cl.scenario_id);
		rc = jti_claim(d, &cl, &err);
		if (rc == -EALREADY)
			return reply_err(o, FORGE_E_TOKEN_REPLAYED, NULL, "%s", err.msg);
		if (rc)
			return reply_err(o, FORGE_E_INTERNAL, NULL, "%s", err.msg);
		static char id[FORGED_SCENARIO_ID_LEN + 1];
		memcpy(id, cl.scenario_id, sizeof(id));
		a.scenario_id = id;
	}

	struct scenario *s = NULL;
	enum forge_proto_code code;
	json_t *details = NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = scenario_spawn(d, &a, &s, &code, &details, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		if (code == FORGE_E_POLICY_DENIED)
			d->spawns_denied++;
		else
			d->spawns_failed++;
		return reply_err(o, code, details, "%s", err.msg);
	}
	d->spawns_ok++;
	d->spawn_ms_sum += (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (forged_watch_scenario(d, s, &err) < 0)
		forge_log(FORGE_LOG_ERROR, "watching a new scenario failed", "scenario_id", s->id,
			  "error", err.msg, NULL);
	forge_log(FORGE_LOG_INFO, "scenario spawned", "scenario_id", s->id, "tenant_id", s->tenant,
		  "template", s->tpl_name, "actor", o->local ? "local-root" : s->subject, NULL);
	audit(o, "scenario.spawn",
	      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "scenario_id", s->id, "tenant_id",
			s->tenant, "subject", s->subject, "template", s->tpl_name, "template_hash",
			s->tpl_hash, "sat", sat ? "verified" : "local root, no token"));
	reply_ok(o, scenario_json(s));
}

/* ------------------------------------------------------------ exec */

struct exec_job {
	struct forge_container *c;
	char **argv;
	int timeout_ms;
};

/* Output as a JSON string: bytes that are not UTF-8 become U+FFFD. */
static json_t *text_json(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	if (j)
		return j;
	char *clean = malloc(len * 3 + 1);
	size_t k = 0;
	if (!clean)
		return json_string("");
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x80 && ch != 0) {
			clean[k++] = (char)ch;
		} else {
			clean[k++] = (char)0xef;
			clean[k++] = (char)0xbf;
			clean[k++] = (char)0xbd;
		}
	}
	j = json_stringn(clean, k);
	free(clean);
	return j ? j : json_string("");
}

static json_t *exec_in_worker(void *ctx)
{
	struct exec_job *job = ctx;
	struct forge_exec_spec spec = {.argv = (const char *const *)job->argv,
				       .timeout_ms = job->timeout_ms,
				       .output_limit = EXEC_OUTPUT_MAX,
				       .stdin_fd = -1};
	struct forge_exec_result res = {0};
	struct forge_err err = {0};
	if (forge_container_exec(job->c, &spec, &res, &err) < 0)
		return json_pack("{s:i, s:s}", "error_code", FORGE_E_INTERNAL, "error", err.msg);
	json_t *j = json_pack("{s:i, s:i, s:o, s:o, s:b, s:b}", "exit_code",
			      res.exited ? res.code : 128 + res.signal, "signal", res.signal,
			      "stdout", text_json(res.out, res.out_len), "stderr",
			      text_json(res.err, res.err_len), "truncated",
			      res.out_truncated || res.err_truncated, "timed_out", res.timed_out);
	forge_exec_result_free(&res);
	return j;
}

static void op_exec(struct op_ctx *o)
{
	struct forge_err err = {0};
	struct scenario *s;
	json_t *argv;
	struct scenario_container *sc = arg_exec_target(o, &s, &argv);
	if (!sc)
		return;
	const char *name = sc->name;
	json_t *tmo = json_object_get(o->req->args, "timeout_ms"), *v;
	size_t i;
	if (tmo && (!json_is_integer(tmo) || json_integer_value(tmo) < 1 ||
		    json_integer_value(tmo) > EXEC_TIMEOUT_MAX_MS))
		return reply_err(o, FORGE_E_BAD_REQUEST, NULL,
				 "args.timeout_ms must be an integer 1..%d", EXEC_TIMEOUT_MAX_MS);
	if (!o->local) {
		/* forged decides itself what may run where: the action gate */
		json_t *actor = json_object_get(o->req->args, "actor");
		json_t *roles = json_object_get(actor, "roles");
		json_t *in = json_pack("{s:s, s:s, s:b, s:O, s:O}", "track", s->track, "container",
				       name, "learner_access", sc->learner_access, "argv", argv,
				       "roles", json_is_array(roles) ? roles : json_array());
		struct forge_policy_decision dec;
		int rc = forge_policy_eval(o->d->policy, "action", in, &dec, &err);
		json_decref(in);
		if (rc)
			return reply_err(o, FORGE_E_INTERNAL, NULL, "%s", err.msg);
		json_t *dj = forge_policy_decision_json(&dec);
		forge_log_json(FORGE_LOG_INFO, "policy decision", dj);
		json_decref(dj);
		if (!dec.allow) {
			json_t *reasons = json_incref(dec.reasons);
			forge_policy_decision_clear(&dec);
			return reply_err(o, FORGE_E_POLICY_DENIED, reasons,
					 "exec into %s refused by the action gate", name);
		}
		forge_policy_decision_clear(&dec);
	}
	if (sc->attacker) {
		/* every exec into an attacker container is an exploit attempt */
		if (s->exploits >= s->max_exploits)
			return reply_err(o, FORGE_E_POLICY_DENIED,
					 json_pack("[s]", "attacker exploit budget used up"),
					 "attacker_max_exploits %u reached in scenario %s",
					 s->max_exploits, s->id);
		s->exploits++;
		struct forge_err jerr = {0};
		if (journal_write(&o->d->paths, s, &jerr) < 0)
			return reply_err(o, FORGE_E_INTERNAL, NULL, "%s", jerr.msg);
	}
	/* The worker is a copy of this process: the job lives in its memory. */
	struct exec_job job = {.c = sc->c,
			       .timeout_ms = tmo ? (int)json_integer_value(tmo) : 10000};
	job.argv = calloc(json_array_size(argv) + 1, sizeof(char *));
	if (!job.argv)
		return reply_err(o, FORGE_E_INTERNAL, NULL, "out of memory");
	json_array_foreach(argv, i, v) job.argv[i] = (char *)json_string_value(v);
	forge_log(FORGE_LOG_INFO, "exec", "scenario_id", s->id, "container", name, "argv0",
		  job.argv[0], "actor", o->local ? "local-root" : "api", NULL);
	json_t *who = json_object_get(json_object_get(o->req->args, "actor"), "subject");
	audit(o, "scenario.exec",
	      json_pack("{s:s, s:s, s:s, s:O, s:s}", "scenario_id", s->id, "tenant_id", s->tenant,
			"container", name, "argv", argv, "subject",
			json_is_string(who) ? json_string_value(who) : "")); 
	o->d->execs++;
	if (forged_worker_start(o->d, o->c, o->req->id, exec_in_worker, &job, NULL, NULL, &err) <
	    0)
		reply_err(o, FORGE_E_INTERNAL, NULL, "%s", err.msg);
	free(job.argv);
}

/* ------------------------------------------------------------ the rest */

static void op_get(struct op_ctx *o)
{
	struct scenario *s = arg_scenario(o);
	if (s)
		reply_ok(o, scenario_json(s));
}

static void op_list(struct op_ctx *o)
{
	bool bad = false;
	const char *tenant = arg_str(o, "tenant_id", 128, !o->local, &bad);
	if (bad)
		return;
	json_t *list = json_array();
	for (struct scenario *s = o->d->scenarios; s; s = s->next)
		if (!tenant || strcmp(tenant, s->tenant) == 0)
			json_array_append_new(list, scenario_json(s));
	reply_ok(o, json_pack("{s:o}", "scenarios", list));
}

static void op_destroy(struct op_ctx *o)
{
	struct forge_err err = {0};
	struct scenario *s = arg_scenario(o);
	if (!s)
		return;
	char id[FORGED_SCENARIO_ID_LEN + 1];
	memcpy(id, s->id, sizeof(id));
	if (s->state == SC_SCORING)
		return reply_err(o, FORGE_E_CONFLICT, NULL, "scenario %s is being scored", id);
	o->d->destroys++;
	audit(o, "scenario.destroy", json_pack("{s:s, s:s}", "scenario_id", id, "tenant_id",
					       s->tenant));
	if (scenario_teardown(o->d, s, &err) < 0)
		return reply_err(o, FORGE_E_INTERNAL, NULL, "%s", err.msg);
	reply_ok(o, json_pack("{s:s, s:s}", "scenario_id", id, "state", "destroyed"));
}

static void op_complete(struct op_ctx *o)
{
	struct forge_err err = {0};
	struct scenario *s = arg_scenario(o);
	if (!s)
		return;
	if (s->state != SC_RUNNING)
		return reply_err(o, FORGE_E_CONFLICT, NULL, "scenario %s is %s, not running", s->id,
				 scenario_state_name(s->state));
	if (forged_finish(o->d, s, SC_COMPLETED, o->c, o->req->id, &err) < 0)
		return reply_err(o, FORGE_E_INTERNAL, NULL, "%s", err.msg);
	/* the reply comes from the scoring worker */
}

static void op_pause(struct op_ctx *o, bool pause)
{
	struct forged *d = o->d;
	bool bad = false;
	if (!o->local)
		return reply_err(o, FORGE_E_FORBIDDEN, NULL, "pause and resume are for operators");
	const char *track = arg_str(o, "track", 32, true, &bad);
	if (bad)
		return;
	size_t i = 0;
	while (i < d->n_paused && strcmp(d->paused[i], track) != 0)
		i++;
	if (pause && i == d->n_paused) {
		if (d->n_paused == sizeof(d->paused) / sizeof(d->paused[0]))
			return reply_err(o, FORGE_E_CAPACITY, NULL, "too many paused tracks");
		snprintf(d->paused[d->n_paused++], sizeof(d->paused[0]), "%s", track);
	} else if (!pause && i < d->n_paused) {
		memmove(d->paused[i], d->paused[i + 1], (d->n_paused - i - 1) * sizeof(d->paused[0]));
		d->n_paused--;
	}
	forge_log(FORGE_LOG_WARN, pause ? "track paused" : "track resumed", "track", track, NULL);
	audit(o, pause ? "track.pause" : "track.resume", json_pack("{s:s}", "track", track));
	reply_ok(o, json_pack("{s:s, s:b}", "track", track, "paused", pause));
}

static void op_templates(struct op_ctx *o)
{
	json_t *list = json_array();
	/* templates_fd is O_PATH: listing needs a readable descriptor */
	int lfd = openat(o->d->templates_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = lfd < 0 ? NULL : fdopendir(lfd);
	for (struct dirent *e; dir && (e = readdir(dir));) {
		size_t n = strlen(e->d_name);
		struct forge_template *t = NULL;
		enum forge_proto_code code;
		char name[40];
		if (n < 6 || n - 5 >= sizeof(name) || strcmp(e->d_name + n - 5, ".yaml") != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 5), e->d_name);
		if (forged_template(o->d, name, &t, &code, NULL) < 0)
			continue;
		json_array_append_new(
		    list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "name", t->name,
				    "version", t->version, "hash", t->sha256, "track", t->track,
				    "tier", t->tier, "timeout_minutes", (int)t->limits.timeout_minutes,
				    "title", t->title ? t->title : ""));
	}
	if (dir)
		closedir(dir);
	reply_ok(o, json_pack("{s:o}", "templates", list));
}

static bool signing_key_ok(struct forged *d)
{
	struct forge_key k;
	if (forge_key_load_active(&d->paths, FORGE_KEY_VERDICT, &k, NULL) < 0)
		return false;
	forge_key_wipe(&k);
	return true;
}

static void op_health(struct op_ctx *o)
{
	json_t *paused = json_array();
	for (size_t i = 0; i < o->d->n_paused; i++)
		json_array_append_new(paused, json_string(o->d->paused[i]));
	reply_ok(o, json_pack("{s:b, s:s, s:I, s:o, s:b, s:s, s:s}", "ok", 1, "version",
			      FORGE_VERSION, "live", (json_int_t)forged_live(o->d), "paused", paused,
			      "signing_key", signing_key_ok(o->d), "policy_bundle", forge_policy_bundle(o->d->policy),
			      "cgroup", forge_runtime_cgroup_mode(o->d->rt)));
}

static void op_metrics(struct op_ctx *o)
{
	struct forged *d = o->d;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return reply_err(o, FORGE_E_INTERNAL, NULL, "out of memory");
	fprintf(f, "# TYPE forged_spawns_total counter\n");
	fprintf(f, "forged_spawns_total{result=\"ok\"} %llu\n", (unsigned long long)d->spawns_ok);
	fprintf(f, "forged_spawns_total{result=\"failed\"} %llu\n",
		(unsigned long long)d->spawns_failed);
	fprintf(f, "forged_spawns_total{result=\"denied\"} %llu\n",
		(unsigned long long)d->spawns_denied);
	fprintf(f, "# TYPE forged_spawn_seconds_sum counter\nforged_spawn_seconds_sum %.6f\n",
		d->spawn_ms_sum / 1e3);
	fprintf(f, "# TYPE forged_execs_total counter\nforged_execs_total %llu\n",
		(unsigned long long)d->execs);
	fprintf(f, "# TYPE forged_destroys_total counter\nforged_destroys_total %llu\n",
		(unsigned long long)d->destroys);
	fprintf(f, "# TYPE forged_live_scenarios gauge\nforged_live_scenarios %zu\n",
		forged_live(d));
	fclose(f);
	reply_ok(o, json_pack("{s:s%}", "text", text, len));
	free(text);
}

/* The container's mounts as its init sees them: [{"target","fstype","options"}]. */
static json_t *mounts_of(pid_t pid)
{
	char path[64], *buf = NULL;
	json_t *out = json_array();
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	if (forge_read_knob(AT_FDCWD, path, &buf, NULL, 1 << 20, NULL) < 0)
		return out;
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		/* id parent maj:min root target opts [optional…] - fstype source superopts */
		char *f[6] = {0}, *save2 = NULL, *sep = strstr(l, " - ");
		int n = 0;
		for (char *w = strtok_r(l, " ", &save2); w && n < 6; w = strtok_r(NULL, " ", &save2))
			f[n++] = w;
		if (n < 6 || !sep)
			continue;
		char fstype[64] = "", source[256] = "", super[512] = "";
		sscanf(sep + 3, "%63s %255s %511s", fstype, source, super);
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "target", f[4],
						     "fstype", fstype, "options", f[5],
						     "super_options", super));
	}
	free(buf);
	return out;
}

/* The auditor's view of a scenario (local root only): per container its
 * isolation report (namespaces, id maps, capabilities, seccomp, cgroup
 * limits, rootfs), its nftables ruleset with counters and its links,
 * addresses and routes, all read from the kernel, not from the journal. */
static void op_inspect(struct op_ctx *o)
{
	if (!o->local)
		return reply_err(o, FORGE_E_FORBIDDEN, NULL, "inspect is for local operators");
	struct scenario *s = arg_scenario(o);
	if (!s)
		return;
	json_t *ctrs = json_array();
	for (size_t i = 0; i < s->n_ctr; i++) {
		struct scenario_container *sc = &s->ctr[i];
		json_t *c = json_pack("{s:s, s:s, s:s}", "name", sc->name, "image", sc->image_ref,
				      "image_digest", sc->image_digest);
		if (sc->c && !sc->exited) {
			char path[64];
			struct forge_err err = {0};
			json_object_set_new(c, "isolation", forge_container_report(sc->c));
			snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)forge_container_pid(sc->c));
			int ns = open(path, O_RDONLY | O_CLOEXEC);
			json_t *rules = ns < 0 ? NULL : forge_nft_read(ns, o->d->paths.prefix, &err);
			json_t *net = NULL;
			if (ns >= 0)
				forge_net_inspect(ns, &net, &err);
			if (ns >= 0)
				close(ns);
			json_object_set_new(c, "nftables", rules ? rules : json_null());
			json_object_set_new(c, "mounts", mounts_of(forge_container_pid(sc->c)));
			json_object_set_new(c, "network", net ? net : json_null());
		}
		json_object_set_new(c, "state",
				    json_string(sc->c ? (sc->exited ? "exited" : "running") : "stopped"));
		json_array_append_new(ctrs, c);
	}
	json_t *res = scenario_json(s);
	json_object_set_new(res, "containers", ctrs);
	json_object_set_new(res, "hub", json_string(s->hub_made ? s->hub_path : ""));
	reply_ok(o, res);
}

/* Interactive exec (forgectl exec -t, local root only): forged audits it and
 * hands out the container's record, with which forgectl joins the container
 * itself (same namespaces, cgroup, capabilities, no_new_privs and seccomp as
 * every exec) and relays a pty; a terminal cannot cross the socket. */
static void op_attach(struct op_ctx *o)
{
	if (!o->local)
		return reply_err(o, FORGE_E_FORBIDDEN, NULL, "interactive exec is for local operators");
	struct scenario *s;
	json_t *argv;
	struct scenario_container *sc = arg_exec_target(o, &s, &argv);
	if (!sc)
		return;
	const char *name = sc->name;
	audit(o, "scenario.exec",
	      json_pack("{s:s, s:s, s:s, s:O, s:b}", "scenario_id", s->id, "tenant_id", s->tenant,
			"container", name, "argv", argv, "tty", 1));
	const struct forge_container_record *r = &sc->rec;
	reply_ok(o, json_pack("{s:s, s:I, s:I, s:s, s:I, s:i, s:I, s:I, s:I}", "name", r->name,
			      "pid", (json_int_t)r->pid, "start_time", (json_int_t)r->start_time,
			      "cgroup", r->cgroup, "caps", (json_int_t)r->caps, "seccomp_mode",
			      (int)r->seccomp_mode, "host_uid", (json_int_t)r->host_uid, "host_gid",
			      (json_int_t)r->host_gid, "id_count", (json_int_t)r->id_count));
}

static void op_keys(struct op_ctx *o)
{
	struct forge_err err = {0};
	bool bad = false;
	const char *kid = arg_str(o, "key_id", FORGE_KEY_ID_LEN, false, &bad);
	if (bad)
		return;
	json_t *set = forge_keys_published(&o->d->paths, &err);
	if (!set)
		return reply_err(o, FORGE_E_INTERNAL, NULL, "%s", err.msg);
	if (kid) {
		json_t *keys = json_object_get(set, "keys"), *k, *found = NULL;
		size_t i;
		json_array_foreach(keys, i, k) if (strcmp(json_string_value(json_object_get(k, "key_id")),
						      kid) == 0) found = k;
		if (!found) {
			json_decref(set);
			return reply_err(o, FORGE_E_NOT_FOUND, NULL, "no key %s", kid);
		}
		json_t *one = json_pack("{s:[O]}", "keys", found);
		json_decref(set);
		set = one;
	}
	reply_ok(o, set);
}

static void op_score(struct op_ctx *o)
{
	struct forge_err err = {0};
	struct scenario *s = arg_scenario(o);
	if (!s)
		return;
	if (!s->results_dir[0])
		return reply_err(o, FORGE_E_NOT_FOUND, NULL, "scenario %s has no score yet (%s)",
				 s->id, scenario_state_name(s->state));
	int dir = open(s->results_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char *text = NULL;
	json_t *score = NULL;
	if (dir >= 0 && forge_read_file(dir, "score.json", &text, NULL, 1 << 20, &err) == 0)
		score = json_loads(text, 0, NULL);
	free(text);
	if (dir >= 0)
		close(dir);
	if (!score)
		return reply_err(o, FORGE_E_INTERNAL, NULL, "score of %s unreadable: %s", s->id,
				 err.msg);
	const char *rd = s->results_dir;
	reply_ok(o, json_pack("{s:o, s:{s:o, s:o, s:o}, s:s}", "score", score, "files",
			      "evidence", json_sprintf("%s/evidence.tar.zst", rd), "manifest",
			      json_sprintf("%s/manifest.json", rd), "verdict",
			      json_sprintf("%s/verdict.sig", rd), "results_dir", rd));
}

void forged_dispatch(struct forged *d, struct client *c, const struct forge_proto_request *req)
{
	struct op_ctx o = {.d = d, .c = c, .req = req, .local = forged_client_local(c)};
	static const struct {
		const char *op;
		void (*fn)(struct op_ctx *);
	} ops[] = {
	    {"spawn", op_spawn},	 {"get", op_get},	    {"list", op_list},
	    {"exec", op_exec},		 {"destroy", op_destroy},   {"complete", op_complete},
	    {"templates", op_templates}, {"health", op_health},	    {"metrics", op_metrics},
	    {"keys", op_keys},		 {"score", op_score},	    {"inspect", op_inspect},
	    {"attach", op_attach},
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(req->op, ops[i].op) == 0)
			return ops[i].fn(&o);
	if (strcmp(req->op, "pause") == 0 || strcmp(req->op, "resume") == 0)
		return op_pause(&o, strcmp(req->op, "pause") == 0);
	if (strcmp(req->op, "watch") == 0) {
		forged_client_watch(c, req->id);
		return reply_ok(&o, json_object());
	}
	reply_err(&o, FORGE_E_UNKNOWN_OP, NULL, "unknown op \"%s\"", req->op);
}

/* forge-api streams results to their tenant: the results tree is readable by
 * the forge group (or, without one, by forge-api's user's group), never by
 * others: root:<group> 0750 directories and 0640 files. */
static void share_results(struct forged *d, const char *dir)
{
	gid_t gid = d->cfg.forge_gid != (gid_t)-1 ? d->cfg.forge_gid : d->cfg.api_gid;
	char path[FORGE_PATH_MAX + 16];
	if (gid == (gid_t)-1)
		return;
	snprintf(path, sizeof(path), "%s/results", d->paths.lib);
	size_t base = strlen(path);
	/* <lib>/results, <lib>/results/<tenant>, <lib>/results/<tenant>/<id> */
	for (const char *p = dir + base; p; p = strchr(p + 1, '/')) {
		snprintf(path, sizeof(path), "%.*s", (int)(p - dir), dir);
		if (chown(path, 0, gid) < 0 || chmod(path, 0750) < 0)
			return;
	}
	if (chown(dir, 0, gid) < 0 || chmod(dir, 0750) < 0)
		return;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *ls = dfd < 0 ? NULL : fdopendir(dfd);
	for (struct dirent *e; ls && (e = readdir(ls));)
		if (e->d_type == DT_REG && (fchownat(dfd, e->d_name, 0, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
					    fchmodat(dfd, e->d_name, 0640, 0) < 0))
			forge_log(FORGE_LOG_WARN, "results not shared with forge-api", "file",
				  e->d_name, "error", strerror(errno), NULL);
	if (ls)
		closedir(ls);
}

static void finish_done(struct forged *d, void *ctx, json_t *res)
{
	struct scenario *s = ctx;
	struct forge_err err = {0};
	enum scenario_state final = s->state == SC_SCORING ? s->final : SC_FAILED;
	const char *dir = json_string_value(json_object_get(res, "results_dir"));
	if (dir) {
		json_decref(s->score);
		s->score = json_incref(json_object_get(res, "score"));
		snprintf(s->results_dir, sizeof(s->results_dir), "%s", dir);
		share_results(d, dir);
	} else {
		final = SC_FAILED;
		forge_log(FORGE_LOG_ERROR, "scoring failed", "scenario_id", s->id, "error",
			  res ? json_string_value(json_object_get(res, "error")) : "no result",
			  NULL);
	}
	if (scenario_release(d, s, &err) < 0 || scenario_set_state(d, s, final, &err) < 0)
		forge_log(FORGE_LOG_ERROR, "finishing a scenario failed", "scenario_id", s->id,
			  "error", err.msg, NULL);
	if (res) {
		json_object_set_new(res, "scenario_id", json_string(s->id));
		json_object_set_new(res, "state", json_string(scenario_state_name(s->state)));
	}
}

int forged_finish(struct forged *d, struct scenario *s, enum scenario_state final,
		  struct client *c, uint64_t id, struct forge_err *err)
{
	int rc = scenario_set_state(d, s, SC_SCORING, err);
	s->final = final;
	if (rc == 0)
		rc = forged_evaluate_start(d, s, c, id, finish_done, err);
	if (rc < 0) {
		struct forge_err e2 = {0};
		scenario_release(d, s, &e2);
		scenario_set_state(d, s, SC_FAILED, &e2);
	}
	return rc;
}
