/* SPDX-License-Identifier: Apache-2.0 */
/* The route table, the dispatcher (auth, roles, rate limits), errors, and the service routes. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "policy/policy.h"

#define PARAM_CHARS	 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
#define READY_TIMEOUT_MS 2000

#define SPAWNERS (API_ROLE_SPAWN | API_ROLE_ORCHESTRATOR | API_ROLE_ADMIN)
#define READERS	 (SPAWNERS | API_ROLE_LEARNER | API_ROLE_SCORE_READ)
#define EXECERS	 (API_ROLE_LEARNER | API_ROLE_ORCHESTRATOR | API_ROLE_ADMIN)
#define SCORERS	 (API_ROLE_SCORE_READ | API_ROLE_ORCHESTRATOR | API_ROLE_ADMIN)
#define ANYROLE	 (READERS)

/* First match wins: literal routes before the parameterised ones they overlap. */
const struct api_route api_routes[] = {
    {API_POST, "/api/spawn", SPAWNERS, API_RL_CREATE, api_h_spawn},
    {API_POST, "/v1/spawn", SPAWNERS, API_RL_CREATE, api_h_spawn},
    {API_GET, "/v1/scenarios", READERS, API_RL_STATUS, api_h_list},
    {API_GET, "/v1/scenarios/{id}", READERS, API_RL_STATUS, api_h_get},
    {API_DELETE, "/v1/scenarios/{id}", SPAWNERS, API_RL_STATUS, api_h_destroy},
    {API_POST, "/v1/scenarios/{id}/complete", SPAWNERS | API_ROLE_LEARNER, API_RL_STATUS,
     api_h_complete},
    {API_POST, "/v1/scenarios/{id}/exec", EXECERS, API_RL_STATUS, api_h_exec},
    {API_GET, "/v1/scores/{id}", SCORERS, API_RL_SCORE, api_h_score},
    {API_GET, "/v1/scores/{id}/evidence", SCORERS, API_RL_SCORE, api_h_score_file},
    {API_GET, "/v1/scores/{id}/manifest", SCORERS, API_RL_SCORE, api_h_score_file},
    {API_GET, "/v1/scores/{id}/verdict", SCORERS, API_RL_SCORE, api_h_score_file},
    {API_GET, "/v1/templates", ANYROLE, API_RL_STATUS, api_h_templates},
    {API_GET, "/audit/keys/current", 0, API_RL_NONE, api_h_keys},
    {API_GET, "/audit/keys/{key_id}", 0, API_RL_NONE, api_h_keys},
    {API_GET, "/health", 0, API_RL_NONE, api_h_health},
    {API_GET, "/healthz", 0, API_RL_NONE, api_h_health},
    {API_GET, "/readyz", 0, API_RL_NONE, api_h_readyz},
    {API_GET, "/metrics", 0, API_RL_NONE, api_h_metrics},
};
const size_t api_n_routes = sizeof(api_routes) / sizeof(api_routes[0]);

int64_t api_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

int64_t api_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ responses */

void api_response_init(struct api_response *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

void api_response_clear(struct api_response *r)
{
	json_decref(r->body);
	free(r->text);
	if (r->fd >= 0)
		close(r->fd);
	api_response_init(r);
}

int api_fail(struct api_response *r, const struct api_request *req, int status, const char *code,
	     const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages are ASCII; an echoed fragment cut mid-character must not turn
	 * the error into invalid UTF-8 (or the 4xx into a 500). */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	json_decref(r->body);
	r->status = status;
	r->body = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", code, "message", msg,
			    "correlation_id", req->cid);
	return 0;
}

int api_fail_forged(struct api_response *r, const struct api_request *req, int rc,
		    const struct forge_proto_reply *rep)
{
	if (rc == -EAGAIN) {
		r->retry_after = 5;
		return api_fail(r, req, 503, "unavailable",
				"forged is unavailable: failing fast for a cooldown after "
				"repeated failures; retry later");
	}
	if (rc) {
		r->retry_after = 1;
		return api_fail(r, req, 503, "unavailable",
				"forged is not reachable or did not "
				"answer in time");
	}
	int status = forge_proto_http_status(rep->code);
	const char *code = forge_proto_code_name(rep->code);
	if (status >= 500 && rep->code != FORGE_E_CAPACITY && rep->code != FORGE_E_PAUSED) {
		/* forged's internals stay in forged's log, under the same correlation id. */
		api_fail(r, req, status, code, "forged could not do it (%s)", code);
	} else {
		api_fail(r, req, status, code, "%s", rep->message);
	}
	if (status == 429 || status == 503)
		r->retry_after = status == 429 ? 30 : 5;
	if (rep->code == FORGE_E_POLICY_DENIED && json_array_size(rep->details))
		json_object_set(json_object_get(r->body, "error"), "details", rep->details);
	return 0;
}

int api_call(struct api_ctx *ctx, const struct api_request *req, const char *op, json_t *args,
	     int timeout_ms, bool idempotent, struct forge_proto_reply *rep)
{
	struct forge_err err = {0};
	int rc =
	    api_forged_call(ctx->forged, op, req->cid, args, timeout_ms, idempotent, rep, &err);

	api_metrics_forged(ctx->metrics, op,
			   rc == -EAGAIN ? "circuit_open"
			   : rc		 ? "unreachable"
			   : rep->ok	 ? "ok"
					 : forge_proto_code_name(rep->code));
	if (rc)
		forge_log(FORGE_LOG_WARN, "forged call failed", "op", op, "error", err.msg, NULL);
	return rc;
}

json_t *api_body_object(const struct api_request *req, struct api_response *resp)
{
	json_error_t jerr;
	json_t *j;

	if (!req->body_len) {
		api_fail(resp, req, 400, "bad_request", "a JSON object body is required");
		return NULL;
	}
	j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j)) {
		if (j)
			api_fail(resp, req, 400, "bad_request", "the body must be a JSON object");
		else
			api_fail(resp, req, 400, "bad_request", "malformed JSON at byte %d: %s",
				 jerr.position, jerr.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ------------------------------------------------------------ dispatch */

bool api_route_match(const char *pattern, const char *path, char *param, size_t param_sz)
{
	while (*pattern && *path) {
		if (*pattern != '{') {
			if (*pattern++ != *path++)
				return false;
			continue;
		}
		size_t n = strcspn(path, "/");
		if (n == 0 || n >= param_sz || n > API_NAME_MAX || strspn(path, PARAM_CHARS) < n)
			return false;
		memcpy(param, path, n);
		param[n] = '\0';
		path += n;
		pattern = strchr(pattern, '}') + 1;
	}
	return !*pattern && !*path;
}

static void roles_text(unsigned roles, char *out, size_t outsz)
{
	static const char *const names[] = {"forge.spawn", "forge.score.read", "forge.learner",
					    "forge.orchestrator", "forge.admin"};
	size_t n = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (roles & (1u << i))
			n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%s",
					      n ? ", " : "", names[i]);
}

void api_dispatch(struct api_ctx *ctx, struct api_request *req, struct api_response *resp)
{
	struct api_identity id = {0};
	struct api_denial d;
	bool path_known = false;
	char roles[128];
	int retry;

	for (size_t i = 0; i < api_n_routes && !req->route; i++) {
		if (!api_route_match(api_routes[i].pattern, req->path, req->param,
				     sizeof(req->param)))
			continue;
		path_known = true;
		if (api_routes[i].method == req->method)
			req->route = &api_routes[i];
	}
	if (!req->route) {
		if (path_known)
			api_fail(resp, req, 405, "method_not_allowed",
				 "%s is not allowed on this route", req->method_name);
		else
			api_fail(resp, req, 404, "not_found", "no such route");
		return;
	}
	if (req->route->roles) {
		if (api_authenticate(ctx->cfg, ctx->auth, req->authorization, req->entitlement,
				     req->plan_header, api_now(), &id, &d)) {
			api_fail(resp, req, d.status, d.code, "%s", d.message);
			snprintf(resp->www_auth, sizeof(resp->www_auth), "%s", d.www_auth);
			return;
		}
		snprintf(req->tenant, sizeof(req->tenant), "%s", id.tenant);
		if (!(id.roles & req->route->roles)) {
			roles_text(req->route->roles, roles, sizeof(roles));
			api_fail(resp, req, 403, "forbidden",
				 "this route needs one of the roles %s", roles);
			snprintf(resp->www_auth, sizeof(resp->www_auth),
				 "Bearer realm=\"forge\", error=\"insufficient_scope\"");
			goto out;
		}
	}
	if (req->route->rl != API_RL_NONE &&
	    !api_ratelimit_take(ctx->rl, req->route->rl, id.tenant, api_monotonic_ms(), &retry)) {
		api_metrics_ratelimited(ctx->metrics, api_rl_class_name(req->route->rl));
		resp->retry_after = retry;
		api_fail(resp, req, 429, "rate_limited",
			 "too many %s requests for this tenant; retry in %d s",
			 api_rl_class_name(req->route->rl), retry);
		goto out;
	}
	req->route->handler(ctx, req, &id, resp);
out:
	api_identity_clear(&id);
}

/* ------------------------------------------------------------ service routes */

int api_h_health(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
		 struct api_response *resp)
{
	(void)ctx, (void)req, (void)id;
	resp->status = 200;
	resp->body = json_pack("{s:s, s:s}", "status", "ok", "version", FORGE_VERSION);
	return 0;
}

static json_t *check(bool ok, const char *error)
{
	json_t *c = json_pack("{s:b}", "ok", ok);

	if (c && !ok && error)
		json_object_set_new(c, "error", json_string(error));
	return c;
}

int api_h_readyz(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
		 struct api_response *resp)
{
	struct forge_proto_reply rep;
	struct forge_err err = {0};
	int timeout = ctx->cfg->forged_timeout_ms < READY_TIMEOUT_MS ? ctx->cfg->forged_timeout_ms
								     : READY_TIMEOUT_MS;
	int rc = api_call(ctx, req, "health", json_object(), timeout, false, &rep);
	bool forged_ok = rc == 0 && rep.ok && json_is_true(json_object_get(rep.result, "ok"));
	json_t *key = rc == 0 && rep.ok ? json_object_get(rep.result, "signing_key") : NULL;
	bool key_ok = json_is_true(key) || (json_is_string(key) && json_string_length(key) > 0);
	bool storage_ok = api_db_probe(ctx->db, api_now(), &err) == 0;
	json_t *checks = json_object();

	(void)id;
	json_object_set_new(checks, "forged",
			    check(forged_ok, rc	       ? "not reachable"
					     : !rep.ok ? rep.message
						       : "not ok"));
	json_object_set_new(checks, "storage", check(storage_ok, err.msg));
	json_object_set_new(checks, "signing_key",
			    check(key_ok, forged_ok ? "forged has no signing key"
						    : "unknown: forged not reachable"));
	json_object_set_new(checks, "policy", check(ctx->policy != NULL, ctx->policy_error));
	if (ctx->policy)
		json_object_set_new(json_object_get(checks, "policy"), "bundle",
				    json_string(forge_policy_bundle(ctx->policy)));
	bool ready = forged_ok && key_ok && storage_ok && ctx->policy;
	resp->status = ready ? 200 : 503;
	resp->body = json_pack("{s:b, s:o}", "ready", ready, "checks", checks);
	if (rc == 0)
		forge_proto_reply_clear(&rep);
	return 0;
}

int api_h_metrics(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
		  struct api_response *resp)
{
	struct forge_err err = {0};
	json_t *live = NULL;

	(void)id;
	if (api_db_live_by_track(ctx->db, api_now(), &live, &err))
		forge_log(FORGE_LOG_WARN, "metrics: live scenarios", "error", err.msg, NULL);
	resp->text = api_metrics_render(ctx->metrics, live, api_forged_breaker(ctx->forged));
	json_decref(live);
	if (!resp->text)
		return api_fail(resp, req, 500, "internal", "out of memory");
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}

int api_h_templates(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
		    struct api_response *resp)
{
	struct forge_err err = {0};
	json_t *list = NULL, *out = json_array(), *t;
	size_t i;
	int rc = api_templates_get(ctx, req->cid, &list, &err);

	if (rc) {
		json_decref(out);
		if (rc == -EPROTO)
			return api_fail(resp, req, 502, "bad_gateway", "%s", err.msg);
		return api_fail_forged(resp, req, rc, NULL);
	}
	json_array_foreach(json_object_get(list, "templates"), i, t)
	{
		const char *track = json_string_value(json_object_get(t, "track"));
		if (!track || !api_plan_has_track(id->plan, track))
			continue;
		json_array_append_new(out,
				      json_pack("{s:s, s:O*, s:O*, s:O*, s:O*, s:O*}", "track",
						track, "name", json_object_get(t, "name"),
						"version", json_object_get(t, "version"), "tier",
						json_object_get(t, "tier"), "timeout_minutes",
						json_object_get(t, "timeout_minutes"), "title",
						json_object_get(t, "title")));
	}
	json_decref(list);
	resp->status = 200;
	resp->body = json_pack("{s:s, s:o}", "plan", id->plan->name, "templates", out);
	return 0;
}

int api_h_keys(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
	       struct api_response *resp)
{
	struct forge_proto_reply rep;
	bool current = strcmp(req->route->pattern, "/audit/keys/current") == 0;
	json_t *args = json_object();
	int rc;

	(void)id;
	if (!current) {
		if (!forge_key_id_is_valid(req->param)) {
			json_decref(args);
			return api_fail(resp, req, 400, "bad_request",
					"a key id is 16 lower-case hex digits");
		}
		json_object_set_new(args, "key_id", json_string(req->param));
	}
	rc = api_call(ctx, req, "keys", args, ctx->cfg->forged_timeout_ms, true, &rep);
	if (rc || !rep.ok) {
		api_fail_forged(resp, req, rc, &rep);
	} else if (!current && !json_array_size(json_object_get(rep.result, "keys"))) {
		api_fail(resp, req, 404, "not_found", "no key %s", req->param);
	} else {
		resp->status = 200;
		resp->body = json_incref(rep.result);
	}
	if (rc == 0)
		forge_proto_reply_clear(&rep);
	return 0;
}
