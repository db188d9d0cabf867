/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scenario routes: spawn (plan, policy, quota, idempotency, SAT), list, get,
 * complete, destroy, exec. Every forged op carries the caller's tenant_id,
 * and every scenario forged returns is checked against it again before it
 * reaches a body.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "common/sat.h"
#include "policy/policy.h"

#define ID_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-"
#define TRACK_CHARS	"abcdefghijklmnopqrstuvwxyz0123456789_-"
#define SCEN_CHARS	"abcdefghijklmnopqrstuvwxyz0123456789"
#define CTR_CHARS	"abcdefghijklmnopqrstuvwxyz0123456789_-"
#define METADATA_MAX	4096  /* bytes of canonical metadata */
#define ARGV_MAX	64    /* exec arguments */
#define ARGV_BYTES	16384 /* all of them together */
#define EXEC_OUT_MAX	65536 /* bytes of stdout, of stderr */
#define EXEC_DEFAULT_MS 10000
#define EXEC_MAX_MS	60000

static bool str_ok(const char *s, size_t min, size_t max, const char *chars)
{
	size_t n = s ? strlen(s) : 0;

	return s && n >= min && n <= max && strspn(s, chars) == n;
}

static bool scenario_param(const struct api_request *req, struct api_response *resp)
{
	if (str_ok(req->param, 12, 12, SCEN_CHARS))
		return true;
	api_fail(resp, req, 400, "bad_request", "a scenario id is [a-z0-9]{12}");
	return false;
}

static json_t *scenario_args(const struct api_request *req, const struct api_identity *id)
{
	return json_pack("{s:s, s:s}", "scenario_id", req->param, "tenant_id", id->tenant);
}

/* What a caller sees of a scenario: its own tenant's only (NULL otherwise). */
static json_t *scenario_view(const json_t *s, const char *tenant)
{
	static const char *const keys[] = {"scenario_id", "tenant_id", "subject",    "track",
					   "request_id",  "state",     "created_at", "expires_at",
					   "network_id",  "template",  "containers", "score"};
	const char *owner = json_string_value(json_object_get(s, "tenant_id"));
	json_t *v = json_object();

	if (!json_is_object(s) || !owner || strcmp(owner, tenant) != 0 || !v) {
		json_decref(v);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_get(s, keys[i]))
			json_object_set(v, keys[i], json_object_get(s, keys[i]));
	return v;
}

static int other_tenant(const struct api_request *req, struct api_response *resp)
{
	forge_log(FORGE_LOG_ERROR, "forged answered with another tenant's scenario", "route",
		  req->route->pattern, NULL);
	return api_fail(resp, req, 403, "forbidden", "scenario %s is not yours", req->param);
}

static bool state_is_final(const char *state)
{
	static const char *const final[] = {"completed", "failed", "timeout", "destroyed"};

	for (size_t i = 0; state && i < sizeof(final) / sizeof(final[0]); i++)
		if (strcmp(state, final[i]) == 0)
			return true;
	return false;
}

static void mark_ended(struct api_ctx *ctx, const struct api_identity *id, const char *scenario)
{
	struct forge_err err = {0};

	if (api_db_scenario_end(ctx->db, id->tenant, scenario, api_now(), &err))
		forge_log(FORGE_LOG_ERROR, "api.db: scenario end not recorded", "scenario_id",
			  scenario, "error", err.msg, NULL);
}

/* RFC 3339 UTC ("2026-11-23T11:00:00Z") to unix seconds; 0 when unreadable. */
static int64_t parse_utc(const char *s)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	if (!end)
		return 0;
	if (*end == '.')
		end += 1 + strspn(end + 1, "0123456789");
	return strcmp(end, "Z") == 0 ? (int64_t)timegm(&tm) : 0;
}

static void format_utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------ spawn */

struct spawn {
	struct api_ctx *ctx;
	const struct api_identity *id;
	struct api_spawn_rec rec;
	char request_id[API_CLAIM_ID_MAX + 1];
	const char *track;
	json_t *metadata;
	int64_t now;
	bool known_track; /* forged offers it: safe as a metrics label */
};

/* The body: {"track", "request_id"?, "metadata"?}; the request id may come
 * from X-Request-ID instead. */
static int spawn_parse(struct spawn *sp, const struct api_request *req, json_t *body,
		       struct api_response *resp)
{
	const char *key, *rid = json_string_value(json_object_get(body, "request_id"));
	json_t *v;
	char *canon;

	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "track") && strcmp(key, "request_id") && strcmp(key, "metadata"))
			return api_fail(resp, req, 400, "bad_request",
					"unknown key \"%.64s\" (track, request_id, metadata)", key),
			       -EINVAL;
	}
	sp->track = json_string_value(json_object_get(body, "track"));
	if (!str_ok(sp->track, 1, API_NAME_MAX, TRACK_CHARS))
		return api_fail(resp, req, 400, "bad_request", "track: [a-z0-9_-]{1,64} required"),
		       -EINVAL;
	if (json_object_get(body, "request_id") && !rid)
		return api_fail(resp, req, 400, "bad_request", "request_id must be a string"),
		       -EINVAL;
	if (rid && req->request_id && strcmp(rid, req->request_id) != 0)
		return api_fail(resp, req, 400, "bad_request",
				"request_id and X-Request-ID differ"),
		       -EINVAL;
	if (!rid)
		rid = req->request_id;
	if (rid && !str_ok(rid, 1, API_CLAIM_ID_MAX, ID_CHARS))
		return api_fail(resp, req, 400, "bad_request",
				"request_id: [A-Za-z0-9._:@-]{1,128}"),
		       -EINVAL;
	if (rid)
		snprintf(sp->request_id, sizeof(sp->request_id), "%s", rid);
	else /* no key given: this spawn cannot be replayed */
		snprintf(sp->request_id, sizeof(sp->request_id), "%s", req->cid);
	v = json_object_get(body, "metadata");
	if (v && !json_is_object(v))
		return api_fail(resp, req, 400, "bad_request", "metadata must be an object"),
		       -EINVAL;
	sp->metadata = v ? json_incref(v) : json_object();
	/* The idempotency key covers what the spawn does, not where the id came from. */
	json_t *what = json_pack("{s:s, s:O}", "track", sp->track, "metadata", sp->metadata);
	canon = what ? forge_json_canonical(what, NULL) : NULL;
	json_decref(what);
	if (!canon)
		return api_fail(resp, req, 500, "internal", "out of memory"), -ENOMEM;
	size_t n = strlen(canon);
	forge_sha256_hex(canon, n, sp->rec.body_hash);
	free(canon);
	if (n > METADATA_MAX + 128)
		return api_fail(resp, req, 400, "bad_request", "metadata over %d bytes",
				METADATA_MAX),
		       -EINVAL;
	return 0;
}

static int spawn_gate(struct spawn *sp, const struct api_request *req, struct api_response *resp)
{
	struct forge_policy_decision d = {0};
	struct forge_err err = {0};
	json_t *in = json_pack("{s:s, s:s, s:O, s:s, s:s}", "subject", sp->id->sub, "tenant_id",
			       sp->id->tenant, "roles", sp->id->role_names, "plan",
			       sp->id->plan->name, "track", sp->track);
	int rc = in ? forge_policy_eval(sp->ctx->policy, "spawn", in, &d, &err) : -ENOMEM;

	json_decref(in);
	if (rc) {
		forge_log(FORGE_LOG_ERROR, "spawn gate", "error", err.msg, NULL);
		return api_fail(resp, req, 500, "internal", "the spawn gate failed"), rc;
	}
	api_metrics_policy(sp->ctx->metrics, "spawn", d.allow);
	json_t *dj = forge_policy_decision_json(&d);
	forge_log_json(FORGE_LOG_INFO, "policy decision", dj);
	json_decref(dj);
	if (!d.allow) {
		api_fail(resp, req, 403, "policy_denied", "%s",
			 json_string_value(json_array_get(d.reasons, 0))
			     ? json_string_value(json_array_get(d.reasons, 0))
			     : "the spawn gate denied it");
		json_object_set(json_object_get(resp->body, "error"), "details", d.reasons);
		rc = -EPERM;
	}
	forge_policy_decision_clear(&d);
	return rc;
}

static int quota_refuse(struct api_reserve_out *out, int retry_after, const char *fmt, ...)
    FORGE_PRINTF(3, 4);
static int quota_refuse(struct api_reserve_out *out, int retry_after, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
	out->result = API_QUOTA;
	out->retry_after = retry_after < 1 ? 1 : retry_after;
	return 1;
}

/* Runs inside the reservation's transaction: the counts cannot move under it. */
static int spawn_quota(void *arg, const struct api_quota_counts *q, struct api_reserve_out *out)
{
	struct spawn *sp = arg;
	const struct api_plan *p = sp->id->plan;
	struct forge_policy_decision d = {0};
	struct forge_err err = {0};

	if (q->live_subject >= p->concurrent)
		return quota_refuse(
		    out, 60, "subject %s has %lld live scenarios; plan %s allows %d", sp->id->sub,
		    (long long)q->live_subject, p->name, p->concurrent);
	if (q->spawns_last_hour >= p->spawns_per_hour)
		return quota_refuse(out, (int)(q->oldest_last_hour + 3600 - sp->now),
				    "tenant %s spawned %lld scenarios in the last hour; plan %s "
				    "allows %d",
				    sp->id->tenant, (long long)q->spawns_last_hour, p->name,
				    p->spawns_per_hour);
	json_t *in = json_pack(
	    "{s:s, s:s, s:I, s:i, s:I, s:i, s:I, s:i}", "tenant_id", sp->id->tenant, "plan",
	    p->name, "live_total", (json_int_t)q->live_total, "host_cap", sp->ctx->cfg->host_cap,
	    "live_tenant", (json_int_t)q->live_tenant, "plan_max_concurrent", p->tenant_concurrent,
	    "spawns_last_minute", (json_int_t)q->spawns_last_minute, "plan_rate_per_minute",
	    p->spawns_per_minute);
	int rc = in ? forge_policy_eval(sp->ctx->policy, "quota", in, &d, &err) : -ENOMEM;
	json_decref(in);
	if (rc)
		return quota_refuse(out, 5, "the quota gate failed: %s", err.msg);
	api_metrics_policy(sp->ctx->metrics, "quota", d.allow);
	if (!d.allow) {
		const char *why = json_string_value(json_array_get(d.reasons, 0));
		quota_refuse(out,
			     q->spawns_last_minute >= p->spawns_per_minute
				 ? (int)(q->oldest_last_minute + 60 - sp->now)
				 : 30,
			     "%s", why ? why : "the quota gate denied it");
		out->reasons = json_incref(d.reasons);
	}
	forge_policy_decision_clear(&d);
	return !out->result ? 0 : 1;
}

/* Best effort: forged answers not_found when the spawn never happened. */
static void spawn_undo(struct spawn *sp, const struct api_request *req)
{
	struct forge_proto_reply rep;
	json_t *args = json_pack("{s:s, s:s}", "scenario_id", sp->rec.scenario_id, "tenant_id",
				 sp->id->tenant);

	if (api_call(sp->ctx, req, "destroy", args, sp->ctx->cfg->forged_slow_timeout_ms, false,
		     &rep) == 0)
		forge_proto_reply_clear(&rep);
}

/* The reservation is made: mint the SAT and ask forged. */
static int spawn_forged(struct spawn *sp, const struct api_request *req, const json_t *tpl,
			struct api_response *resp)
{
	const struct api_config *c = sp->ctx->cfg;
	struct forge_sat_claims claims = {0};
	struct forge_proto_reply rep;
	struct forge_err err = {0};
	char *sat = NULL, expires[32], url[768];
	int rc;

	snprintf(claims.sub, sizeof(claims.sub), "%s", sp->id->sub);
	snprintf(claims.tenant_id, sizeof(claims.tenant_id), "%s", sp->id->tenant);
	snprintf(claims.track, sizeof(claims.track), "%s", sp->track);
	snprintf(claims.plan, sizeof(claims.plan), "%s", sp->id->plan->name);
	snprintf(claims.scenario_id, sizeof(claims.scenario_id), "%s", sp->rec.scenario_id);
	snprintf(claims.request_id, sizeof(claims.request_id), "%s", sp->request_id);
	claims.retention_days = sp->id->plan->retention_days;
	claims.iat = sp->now;
	claims.exp = sp->now + c->sat_ttl_s;
	if ((rc = forge_sat_mint(&claims, c->sat_secret, c->sat_len, &sat, &err))) {
		forge_log(FORGE_LOG_ERROR, "SAT mint", "error", err.msg, NULL);
		return api_fail(resp, req, 500, "internal", "could not mint the spawn token"), rc;
	}
	/* The scenario id travels in the SAT only: forged takes it from there. */
	json_t *args = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:O}", "template", sp->track,
				 "tenant_id", sp->id->tenant, "subject", sp->id->sub, "plan",
				 sp->id->plan->name, "request_id", sp->request_id, "sat", sat,
				 "retention_days", claims.retention_days, "metadata", sp->metadata);
	forge_memzero(sat, strlen(sat));
	free(sat);
	rc = api_call(sp->ctx, req, "spawn", args, c->forged_slow_timeout_ms, false, &rep);
	if (rc == -ETIMEDOUT || rc == -ECONNRESET) {
		/* forged may have it (or be building it): it must not live on unbilled. */
		forge_log(FORGE_LOG_WARN, "spawn outcome unknown; destroying", "scenario_id",
			  sp->rec.scenario_id, NULL);
		spawn_undo(sp, req);
	}
	if (rc || !rep.ok) {
		api_fail_forged(resp, req, rc, &rep);
		if (rc == 0)
			forge_proto_reply_clear(&rep);
		return -EIO;
	}
	const char *got = json_string_value(json_object_get(rep.result, "scenario_id"));
	int64_t exp = parse_utc(json_string_value(json_object_get(rep.result, "expires_at")));
	if (!got || strcmp(got, sp->rec.scenario_id) != 0) {
		forge_proto_reply_clear(&rep);
		forge_log(FORGE_LOG_ERROR, "forged spawned under another scenario id",
			  "scenario_id", sp->rec.scenario_id, NULL);
		return api_fail(resp, req, 502, "bad_gateway",
				"forged answered for another scenario"),
		       -EPROTO;
	}
	forge_proto_reply_clear(&rep);
	if (!exp) /* forged did not say: the template's timeout, else a day */
		exp = sp->now +
		      (json_integer_value(json_object_get(tpl, "timeout_minutes")) > 0
			   ? json_integer_value(json_object_get(tpl, "timeout_minutes")) * 60
			   : 86400);
	format_utc(exp, expires);
	snprintf(url, sizeof(url), "%s/%s", c->access_url_base, sp->rec.scenario_id);
	resp->body = json_pack("{s:s, s:s, s:s, s:s}", "request_id", sp->request_id, "scenario_id",
			       sp->rec.scenario_id, "access_url", url, "expires_at", expires);
	char *text = resp->body ? json_dumps(resp->body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	rc = text ? api_db_spawn_commit(sp->ctx->db, &sp->rec, text, exp, sp->now, &err) : -ENOMEM;
	free(text);
	if (rc) {
		/* A scenario that is neither counted nor billed must not live on. */
		forge_log(FORGE_LOG_ERROR, "spawn not recorded; destroying it", "scenario_id",
			  sp->rec.scenario_id, "error", err.msg, NULL);
		spawn_undo(sp, req);
		json_decref(resp->body);
		resp->body = NULL;
		return api_fail(resp, req, 500, "internal", "the spawn could not be recorded"), rc;
	}
	resp->status = 201;
	return 0;
}

/* After parsing: track known, plan, policy, then the reservation. */
static int spawn_run(struct spawn *sp, struct api_request *req, struct api_response *resp)
{
	struct api_ctx *ctx = sp->ctx;
	struct api_reserve_out out = {0};
	struct forge_err err = {0};
	json_t *list = NULL;
	int rc;

	if (!ctx->policy)
		return api_fail(resp, req, 503, "unavailable", "the policy is not loaded: %s",
				ctx->policy_error);
	if ((rc = api_templates_get(ctx, req->cid, &list, &err)))
		return rc == -EPROTO ? api_fail(resp, req, 502, "bad_gateway", "%s", err.msg)
				     : api_fail_forged(resp, req, rc, NULL);
	const json_t *tpl = api_templates_track(list, sp->track);
	sp->known_track = tpl != NULL;
	if (!tpl) {
		rc = api_fail(resp, req, 404, "not_found", "no track %s", sp->track);
		goto out;
	}
	if (!api_plan_has_track(sp->id->plan, sp->track)) {
		rc = api_fail(resp, req, 403, "forbidden", "plan %s does not include track %s",
			      sp->id->plan->name, sp->track);
		goto out;
	}
	if (spawn_gate(sp, req, resp))
		goto out;
	sp->rec.tenant = sp->id->tenant;
	sp->rec.subject = sp->id->sub;
	sp->rec.track = sp->track;
	sp->rec.plan = sp->id->plan->name;
	sp->rec.request_id = sp->request_id;
	int64_t stale = sp->now - ctx->cfg->forged_slow_timeout_ms / 1000 - 60;
	if (api_db_spawn_reserve(ctx->db, &sp->rec, sp->now, stale, spawn_quota, sp, &out, &err)) {
		forge_log(FORGE_LOG_ERROR, "spawn reservation", "error", err.msg, NULL);
		rc = api_fail(resp, req, 500, "internal", "storage failed");
		goto out;
	}
	switch (out.result) {
	case API_REPLAY:
		resp->status = 201;
		resp->replay = true;
		resp->body = json_loads(out.replay, 0, NULL);
		break;
	case API_BODY_MISMATCH:
		api_fail(resp, req, 409, "conflict",
			 "request_id %s was already used with another body", sp->request_id);
		break;
	case API_IN_PROGRESS:
		api_fail(resp, req, 409, "conflict", "request_id %s is being spawned",
			 sp->request_id);
		break;
	case API_QUOTA:
		api_fail(resp, req, 429, "quota_exceeded", "%s", out.message);
		resp->retry_after = out.retry_after;
		if (out.reasons)
			json_object_set(json_object_get(resp->body, "error"), "details",
					out.reasons);
		break;
	case API_RESERVED:
		/* Slow forged spawns may hold only some of the HTTP threads. */
		if (atomic_fetch_add(&ctx->spawns_in_flight, 1) >= ctx->cfg->max_spawns_in_flight) {
			resp->retry_after = 1;
			api_fail(resp, req, 503, "unavailable", "too many spawns in flight");
		} else {
			spawn_forged(sp, req, tpl, resp);
		}
		atomic_fetch_sub(&ctx->spawns_in_flight, 1);
		if (resp->status != 201 && api_db_spawn_abort(ctx->db, sp->rec.scenario_id, &err))
			forge_log(FORGE_LOG_ERROR, "reservation not released", "scenario_id",
				  sp->rec.scenario_id, "error", err.msg, NULL);
		break;
	}
out:
	api_reserve_out_clear(&out);
	json_decref(list);
	return rc;
}

int api_h_spawn(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
		struct api_response *resp)
{
	struct spawn sp = {.ctx = ctx, .id = id, .now = api_now()};
	int64_t t0 = api_monotonic_ms();
	json_t *body = api_body_object(req, resp);
	const char *track = "unknown";

	if (body && spawn_parse(&sp, req, body, resp) == 0) {
		spawn_run(&sp, req, resp);
		/* Only tracks forged offers become label values. */
		if (sp.known_track)
			track = sp.track;
	}
	api_metrics_spawn(ctx->metrics, track, resp->status,
			  (double)(api_monotonic_ms() - t0) / 1000.0);
	json_decref(sp.metadata);
	json_decref(body);
	return 0;
}

/* ------------------------------------------------------------ reads, ends */

int api_h_list(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
	       struct api_response *resp)
{
	struct forge_proto_reply rep;
	json_t *out = json_array(), *s;
	size_t i;
	int rc = api_call(ctx, req, "list", json_pack("{s:s}", "tenant_id", id->tenant),
			  ctx->cfg->forged_timeout_ms, true, &rep);

	if (rc || !rep.ok) {
		json_decref(out);
		api_fail_forged(resp, req, rc, &rep);
		goto out;
	}
	json_array_foreach(json_object_get(rep.result, "scenarios"), i, s)
	{
		json_t *v = scenario_view(s, id->tenant);
		if (v)
			json_array_append_new(out, v);
		else
			forge_log(FORGE_LOG_ERROR, "forged listed another tenant's scenario", NULL);
	}
	resp->status = 200;
	resp->body = json_pack("{s:o}", "scenarios", out);
out:
	if (rc == 0)
		forge_proto_reply_clear(&rep);
	return 0;
}

/* forged's view of one of the caller's scenarios, or NULL with resp failed. */
static json_t *scenario_get(struct api_ctx *ctx, struct api_request *req,
			    const struct api_identity *id, struct api_response *resp)
{
	struct forge_proto_reply rep;
	json_t *v = NULL;
	int rc;

	if (!scenario_param(req, resp))
		return NULL;
	rc = api_call(ctx, req, "get", scenario_args(req, id), ctx->cfg->forged_timeout_ms, true,
		      &rep);
	if (rc || !rep.ok)
		api_fail_forged(resp, req, rc, &rep);
	else if (!(v = scenario_view(rep.result, id->tenant)))
		other_tenant(req, resp);
	if (rc == 0)
		forge_proto_reply_clear(&rep);
	return v;
}

int api_h_get(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
	      struct api_response *resp)
{
	int64_t now_ms = api_monotonic_ms();
	json_t *v;

	if (!scenario_param(req, resp))
		return 0;
	v = api_cache_get(ctx->cache, req->param, id->tenant, now_ms);
	if (!v) {
		if (!(v = scenario_get(ctx, req, id, resp)))
			return 0;
		if (state_is_final(json_string_value(json_object_get(v, "state"))))
			mark_ended(ctx, id, req->param);
		api_cache_put(ctx->cache, req->param, id->tenant, v, now_ms);
	}
	resp->status = 200;
	resp->body = v;
	return 0;
}

/* complete and destroy: forged's slow ops that end a scenario. */
static int scenario_end(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
			struct api_response *resp, const char *op)
{
	struct forge_proto_reply rep;
	int rc;

	if (!scenario_param(req, resp))
		return 0;
	rc = api_call(ctx, req, op, scenario_args(req, id), ctx->cfg->forged_slow_timeout_ms, false,
		      &rep);
	api_cache_drop(ctx->cache, req->param);
	if (rc || !rep.ok) {
		api_fail_forged(resp, req, rc, &rep);
	} else {
		mark_ended(ctx, id, req->param);
		resp->status = 200;
		/* results_dir is a host path: it stays out of the answer. */
		resp->body = json_pack("{s:s, s:O*, s:O*}", "scenario_id", req->param, "state",
				       json_object_get(rep.result, "state"), "score",
				       json_object_get(rep.result, "score"));
	}
	if (rc == 0)
		forge_proto_reply_clear(&rep);
	return 0;
}

int api_h_complete(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
		   struct api_response *resp)
{
	return scenario_end(ctx, req, id, resp, "complete");
}

int api_h_destroy(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
		  struct api_response *resp)
{
	return scenario_end(ctx, req, id, resp, "destroy");
}

/* ------------------------------------------------------------ exec */

struct exec_req {
	const char *container;
	json_t *argv; /* borrowed from the body */
	int timeout_ms;
};

static int exec_parse(const struct api_request *req, const json_t *body, struct exec_req *x,
		      struct api_response *resp)
{
	json_t *v, *t = json_object_get(body, "timeout_ms");
	const char *key;
	size_t i, total = 0;

	json_object_foreach((json_t *)body, key, v)
	{
		if (strcmp(key, "container") && strcmp(key, "argv") && strcmp(key, "timeout_ms"))
			return api_fail(resp, req, 400, "bad_request",
					"unknown key \"%.64s\" (container, argv, timeout_ms)", key),
			       -EINVAL;
	}
	x->container = json_string_value(json_object_get(body, "container"));
	if (!str_ok(x->container, 1, API_NAME_MAX, CTR_CHARS))
		return api_fail(resp, req, 400, "bad_request",
				"container: [a-z0-9_-]{1,64} required"),
		       -EINVAL;
	x->argv = json_object_get(body, "argv");
	if (!json_is_array(x->argv) || !json_array_size(x->argv) ||
	    json_array_size(x->argv) > ARGV_MAX)
		return api_fail(resp, req, 400, "bad_request", "argv: an array of 1 to %d strings",
				ARGV_MAX),
		       -EINVAL;
	json_array_foreach(x->argv, i, v)
	{
		if (!json_is_string(v) || memchr(json_string_value(v), 0, json_string_length(v)))
			return api_fail(resp, req, 400, "bad_request",
					"argv[%zu]: a string without NUL", i),
			       -EINVAL;
		total += json_string_length(v) + 1;
	}
	if (total > ARGV_BYTES)
		return api_fail(resp, req, 400, "bad_request", "argv: over %d bytes", ARGV_BYTES),
		       -EINVAL;
	x->timeout_ms = EXEC_DEFAULT_MS;
	if (t && (!json_is_integer(t) || json_integer_value(t) < 1 ||
		  json_integer_value(t) > EXEC_MAX_MS))
		return api_fail(resp, req, 400, "bad_request", "timeout_ms: 1..%d", EXEC_MAX_MS),
		       -EINVAL;
	if (t)
		x->timeout_ms = (int)json_integer_value(t);
	return 0;
}

static const json_t *find_container(const json_t *scenario, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(scenario, "containers"), i, c)
	{
		const char *n = json_string_value(json_object_get(c, "name"));
		if (n && strcmp(n, name) == 0)
			return c;
	}
	return NULL;
}

static int exec_gate(struct api_ctx *ctx, const struct api_request *req,
		     const struct api_identity *id, const json_t *scenario,
		     const struct exec_req *x, bool learner_access, struct api_response *resp)
{
	struct forge_policy_decision d = {0};
	struct forge_err err = {0};
	json_t *in = json_pack("{s:O*, s:s, s:b, s:O, s:O, s:s, s:s}", "track",
			       json_object_get(scenario, "track"), "container", x->container,
			       "learner_access", learner_access, "argv", x->argv, "roles",
			       id->role_names, "tenant_id", id->tenant, "subject", id->sub);
	int rc = in ? forge_policy_eval(ctx->policy, "action", in, &d, &err) : -ENOMEM;

	json_decref(in);
	if (rc) {
		forge_log(FORGE_LOG_ERROR, "action gate", "error", err.msg, NULL);
		return api_fail(resp, req, 500, "internal", "the action gate failed"), rc;
	}
	api_metrics_policy(ctx->metrics, "action", d.allow);
	if (!d.allow) {
		const char *why = json_string_value(json_array_get(d.reasons, 0));
		api_fail(resp, req, 403, "policy_denied", "%s",
			 why ? why : "the action gate denied it");
		json_object_set(json_object_get(resp->body, "error"), "details", d.reasons);
		rc = -EPERM;
	}
	forge_policy_decision_clear(&d);
	return rc;
}

/* forged bounds the outputs; so does the api, whatever forged sends. */
static json_t *exec_view(const json_t *r)
{
	bool truncated = json_is_true(json_object_get(r, "truncated"));
	const char *names[] = {"stdout", "stderr"};
	json_t *out = json_pack("{s:O*, s:O*}", "exit_code", json_object_get(r, "exit_code"),
				"timed_out", json_object_get(r, "timed_out"));

	for (int i = 0; out && i < 2; i++) {
		const char *s = json_string_value(json_object_get(r, names[i]));
		size_t n = s ? strlen(s) : 0;
		if (n > EXEC_OUT_MAX) {
			/* Cut on a UTF-8 sequence boundary, so the string stays valid. */
			for (n = EXEC_OUT_MAX; n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; n--)
				;
			truncated = true;
		}
		json_object_set_new(out, names[i], json_stringn(s ? s : "", n));
	}
	if (out)
		json_object_set_new(out, "truncated", json_boolean(truncated));
	return out;
}

int api_h_exec(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
	       struct api_response *resp)
{
	struct forge_proto_reply rep;
	struct exec_req x;
	json_t *body = NULL, *scenario = NULL;
	int rc;

	if (!scenario_param(req, resp) || !(body = api_body_object(req, resp)) ||
	    exec_parse(req, body, &x, resp))
		goto out;
	if (!ctx->policy) {
		api_fail(resp, req, 503, "unavailable", "the policy is not loaded: %s",
			 ctx->policy_error);
		goto out;
	}
	if (!(scenario = scenario_get(ctx, req, id, resp)))
		goto out;
	const json_t *c = find_container(scenario, x.container);
	bool learner = json_is_true(json_object_get(c, "learner_access"));
	if (!c) {
		api_fail(resp, req, 404, "not_found", "scenario %s has no container %s", req->param,
			 x.container);
		goto out;
	}
	if (!learner && !(id->roles & API_ROLE_ADMIN)) {
		api_fail(resp, req, 403, "forbidden", "container %s is not open to learners",
			 x.container);
		goto out;
	}
	if (exec_gate(ctx, req, id, scenario, &x, learner, resp))
		goto out;
	json_t *args = json_pack("{s:s, s:s, s:s, s:O, s:i, s:{s:s, s:O}}", "scenario_id",
				 req->param, "tenant_id", id->tenant, "container", x.container,
				 "argv", x.argv, "timeout_ms", x.timeout_ms, "actor", "subject",
				 id->sub, "roles", id->role_names);
	rc = api_call(ctx, req, "exec", args, x.timeout_ms + ctx->cfg->forged_timeout_ms, false,
		      &rep);
	if (rc || !rep.ok) {
		api_fail_forged(resp, req, rc, &rep);
	} else {
		resp->status = 200;
		resp->body = exec_view(rep.result);
	}
	if (rc == 0)
		forge_proto_reply_clear(&rep);
out:
	json_decref(scenario);
	json_decref(body);
	return 0;
}
