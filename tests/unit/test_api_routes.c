/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/routes.c and api/metrics.c: route matching, the route table against
 * api/openapi.yaml (both ways), the dispatcher's refusals (404, 405, 401 with
 * its challenge, 403 for a missing role, 429 with Retry-After, 503 without
 * forged), the error shape, and the Prometheus text.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/internal.h"

static const char hs_secret[] = "routes-test-secret-0123456789abcdef";

struct fix {
	char root[64];
	struct api_config cfg;
	struct api_ctx ctx;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct api_options o = {0};
	struct forge_err err = {0};
	char dbdir[128];

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/forge-apiroutes-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	o.root = f->root;
	if (api_config_load(&f->cfg, &o, &err))
		return -1;
	f->cfg.hs_secret = (uint8_t *)strdup(hs_secret);
	f->cfg.hs_len = strlen(hs_secret);
	f->cfg.rl[API_RL_STATUS] = (struct api_bucket){1, 2}; /* 2, then one a minute */
	f->cfg.forged_retries = 0;
	snprintf(dbdir, sizeof(dbdir), "%s/db", f->root);
	snprintf(f->cfg.db_path, sizeof(f->cfg.db_path), "%s/api.db", dbdir);
	const struct api_forged_cfg fc = {.paths = &f->cfg.paths,
					  .retries = 0,
					  .breaker_failures = 100,
					  .breaker_cooldown_ms = 1000,
					  .pool_max = 2};
	f->ctx.cfg = &f->cfg;
	if (mkdir(dbdir, 0700) || api_db_open(f->cfg.db_path, &f->ctx.db, &err) ||
	    api_forged_new(&fc, &f->ctx.forged) || api_ratelimit_new(f->cfg.rl, &f->ctx.rl) ||
	    api_metrics_new(&f->ctx.metrics) || api_templates_new(0, &f->ctx.templates) ||
	    api_cache_new(0, &f->ctx.cache))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];

	api_cache_free(f->ctx.cache);
	api_templates_free(f->ctx.templates);
	api_metrics_free(f->ctx.metrics);
	api_ratelimit_free(f->ctx.rl);
	api_forged_free(f->ctx.forged);
	api_db_close(f->ctx.db);
	api_config_free(&f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static char *token(const char *roles_csv)
{
	json_t *roles = json_array(), *c;
	char *copy = strdup(roles_csv), *save = NULL, *tok = NULL, *hdr = NULL;
	int64_t now = api_now();

	for (char *r = strtok_r(copy, ",", &save); r; r = strtok_r(NULL, ",", &save))
		json_array_append_new(roles, json_string(r));
	c = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I}", "iss", "forge", "aud", "forge-api",
		      "sub", "alice", "tenant_id", "acme", "roles", roles, "iat", (json_int_t)now,
		      "exp", (json_int_t)(now + 600));
	assert_int_equal(api_jwt_encode("HS256", NULL, c, hs_secret, strlen(hs_secret), &tok, NULL),
			 0);
	assert_true(asprintf(&hdr, "Bearer %s", tok) > 0);
	free(tok);
	free(copy);
	json_decref(c);
	return hdr;
}

/* Dispatches and returns the status; resp is left for the caller to read and clear. */
static int call(struct fix *f, enum api_method m, const char *path, const char *authz,
		struct api_response *resp)
{
	struct api_request req = {.method = m,
				  .method_name = m == API_GET	 ? "GET"
						 : m == API_POST ? "POST"
								 : "PUT",
				  .path = path,
				  .authorization = authz};

	strcpy(req.cid, "test-cid");
	api_response_init(resp);
	api_dispatch(&f->ctx, &req, resp);
	return resp->status;
}

static const char *error_code(const struct api_response *r)
{
	return json_string_value(json_object_get(json_object_get(r->body, "error"), "code"));
}

static void test_route_match(void **state)
{
	char p[API_NAME_MAX + 1];

	(void)state;
	assert_true(api_route_match("/v1/scenarios", "/v1/scenarios", p, sizeof(p)));
	assert_false(api_route_match("/v1/scenarios", "/v1/scenarios/", p, sizeof(p)));
	assert_true(
	    api_route_match("/v1/scenarios/{id}", "/v1/scenarios/abc123def456", p, sizeof(p)));
	assert_string_equal(p, "abc123def456");
	assert_false(api_route_match("/v1/scenarios/{id}", "/v1/scenarios/", p, sizeof(p)));
	assert_false(api_route_match("/v1/scenarios/{id}", "/v1/scenarios/a/b", p, sizeof(p)));
	assert_false(api_route_match("/v1/scenarios/{id}", "/v1/scenarios/a%2fb", p, sizeof(p)));
	assert_true(
	    api_route_match("/v1/scores/{id}/verdict", "/v1/scores/x/verdict", p, sizeof(p)));
	assert_false(
	    api_route_match("/v1/scores/{id}/verdict", "/v1/scores/x/verdicts", p, sizeof(p)));
	char longer[100];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	char path[128];
	snprintf(path, sizeof(path), "/v1/scenarios/%s", longer);
	assert_false(api_route_match("/v1/scenarios/{id}", path, p, sizeof(p)));
}

static json_t *load_openapi(void)
{
	const char *candidates[] = {"api/openapi.yaml", "../api/openapi.yaml",
				    "../../api/openapi.yaml"};
	struct forge_err err = {0};
	json_t *doc = NULL;

	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]) && !doc; i++) {
		int fd = open(candidates[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (forge_yaml_load_fd(fd, candidates[i], 1 << 20, &doc, &err))
			fail_msg("%s", err.msg);
		close(fd);
	}
	if (!doc)
		fail_msg("api/openapi.yaml not found (run from the repository root)");
	return doc;
}

static void test_openapi_matches_routes(void **state)
{
	static const char *const methods[] = {"get", "post", "delete"};
	json_t *doc = load_openapi(), *paths = json_object_get(doc, "paths"), *item;
	const char *path, *key;
	json_t *v;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
	/* Every route served is documented… */
	for (size_t i = 0; i < api_n_routes; i++) {
		const struct api_route *r = &api_routes[i];
		json_t *op =
		    json_object_get(json_object_get(paths, r->pattern), methods[r->method]);
		if (!op)
			fail_msg("route %s %s is not in api/openapi.yaml", methods[r->method],
				 r->pattern);
		/* …with its security: none for the open routes, bearer for the rest. */
		json_t *sec = json_object_get(op, "security");
		bool open_route = sec && json_array_size(sec) == 0;
		if (open_route != (r->roles == 0))
			fail_msg("%s %s: security in openapi.yaml does not match the route",
				 methods[r->method], r->pattern);
	}
	/* …and every documented operation is served. */
	json_object_foreach(paths, path, item)
	{
		json_object_foreach(item, key, v)
		{
			if (strcmp(key, "parameters") == 0)
				continue;
			bool found = false;
			for (size_t i = 0; i < api_n_routes && !found; i++)
				found = strcmp(api_routes[i].pattern, path) == 0 &&
					strcmp(methods[api_routes[i].method], key) == 0;
			if (!found)
				fail_msg("openapi.yaml documents %s %s, which is not served", key,
					 path);
		}
	}
	json_decref(doc);
}

static void test_dispatch_refusals(void **state)
{
	struct fix *f = *state;
	struct api_response r;
	char *spawner = token("forge.spawn"), *learner = token("forge.learner");

	assert_int_equal(call(f, API_GET, "/nope", NULL, &r), 404);
	assert_string_equal(error_code(&r), "not_found");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r.body, "error"), "correlation_id")),
	    "test-cid");
	api_response_clear(&r);
	assert_int_equal(call(f, API_OTHER, "/v1/scenarios", NULL, &r), 405);
	api_response_clear(&r);
	assert_int_equal(call(f, API_GET, "/v1/scenarios", NULL, &r), 401);
	assert_string_equal(r.www_auth, "Bearer realm=\"forge\"");
	api_response_clear(&r);
	assert_int_equal(call(f, API_GET, "/v1/scenarios", "Bearer e30.e30.e30", &r), 401);
	assert_non_null(strstr(r.www_auth, "invalid_token"));
	api_response_clear(&r);
	/* A learner may not destroy, a spawner may not exec or read scores. */
	assert_int_equal(call(f, API_POST, "/v1/scenarios/abcdefabcdef/exec", spawner, &r), 403);
	assert_string_equal(error_code(&r), "forbidden");
	assert_non_null(strstr(r.www_auth, "insufficient_scope"));
	api_response_clear(&r);
	assert_int_equal(call(f, API_GET, "/v1/scores/abcdefabcdef", spawner, &r), 403);
	api_response_clear(&r);
	/* No forged: 503 with Retry-After (and the rate limit spends a token). */
	assert_int_equal(call(f, API_GET, "/v1/scenarios", learner, &r), 503);
	assert_string_equal(error_code(&r), "unavailable");
	assert_true(r.retry_after > 0);
	api_response_clear(&r);
	/* A bad scenario id never reaches forged. */
	assert_int_equal(call(f, API_GET, "/v1/scenarios/NOT-AN-ID", learner, &r), 400);
	api_response_clear(&r);
	/* The status bucket (2) is empty now. */
	assert_int_equal(call(f, API_GET, "/v1/scenarios", learner, &r), 429);
	assert_string_equal(error_code(&r), "rate_limited");
	assert_true(r.retry_after >= 1);
	api_response_clear(&r);
	/* Service routes need nothing. */
	assert_int_equal(call(f, API_GET, "/healthz", NULL, &r), 200);
	api_response_clear(&r);
	assert_int_equal(call(f, API_GET, "/readyz", NULL, &r), 503);
	json_t *checks = json_object_get(r.body, "checks");
	assert_false(json_is_true(json_object_get(json_object_get(checks, "forged"), "ok")));
	assert_true(json_is_true(json_object_get(json_object_get(checks, "storage"), "ok")));
	assert_false(json_is_true(json_object_get(json_object_get(checks, "policy"), "ok")));
	assert_non_null(json_object_get(checks, "signing_key"));
	api_response_clear(&r);
	free(spawner);
	free(learner);
}

static void test_metrics_text(void **state)
{
	struct fix *f = *state;
	struct api_response r;
	json_t *live = json_pack("{s:i}", "netplus", 2);

	api_metrics_http(f->ctx.metrics, "/v1/scenarios/{id}", "GET", 200, 0.002);
	api_metrics_http(f->ctx.metrics, "/v1/scenarios/{id}", "GET", 200, 0.2);
	api_metrics_spawn(f->ctx.metrics, "netplus", 201, 1.5);
	api_metrics_policy(f->ctx.metrics, "spawn", false);
	api_metrics_ratelimited(f->ctx.metrics, "create");
	char *text = api_metrics_render(f->ctx.metrics, live, API_BREAKER_OPEN);
	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE forge_api_http_requests_total counter\n"));
	assert_non_null(strstr(text, "forge_api_http_requests_total{route=\"/v1/scenarios/"
				     "{id}\",method=\"GET\",code=\"200\"} "
				     "2\n"));
	assert_non_null(strstr(text, "forge_api_http_request_duration_seconds_bucket{route=\"/v1/"
				     "scenarios/{id}\",le=\"0.0025\"} 1\n"));
	assert_non_null(strstr(text, "forge_api_http_request_duration_seconds_bucket{route=\"/v1/"
				     "scenarios/{id}\",le=\"+Inf\"} 2\n"));
	assert_non_null(
	    strstr(text, "forge_api_spawn_requests_total{track=\"netplus\",status=\"201\"} 1\n"));
	assert_non_null(
	    strstr(text, "forge_api_policy_decisions_total{gate=\"spawn\",result=\"deny\"} 1\n"));
	assert_non_null(strstr(text, "forge_api_rate_limited_total{class=\"create\"} 1\n"));
	assert_non_null(strstr(text, "forge_api_active_scenarios{track=\"netplus\"} 2\n"));
	assert_non_null(strstr(text, "forge_api_forged_circuit_state 1\n"));
	/* Every line is a comment or "name{labels} value". */
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		if (*line != '#')
			assert_true(isdigit((unsigned char)nl[-1]));
	}
	free(text);
	json_decref(live);
	/* The route serves the same text. */
	assert_int_equal(call(f, API_GET, "/metrics", NULL, &r), 200);
	assert_non_null(strstr(r.content_type, "text/plain"));
	assert_non_null(strstr(r.text, "forge_api_rate_limited_total"));
	api_response_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_match),
	    cmocka_unit_test(test_openapi_matches_routes),
	    cmocka_unit_test_setup_teardown(test_dispatch_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_text, setup, teardown),
	};

	forge_log_init("test", FORGE_LOG_ERROR, 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
