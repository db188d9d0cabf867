/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/jwt.c and api/auth.c: bearer tokens (HS256, EdDSA, and every way to get
 * one wrong), required claims, roles, plan resolution, entitlement tokens,
 * public key files.
 */
#define _GNU_SOURCE
#include <errno.h>
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

static const char hs_secret[] = "test-hs256-secret-0123456789abcdef";

struct fix {
	char dir[64];
	struct api_config cfg;
	uint8_t ed_pk[32], ed_sk[64];	/* the bearer EdDSA key, kid "k1" */
	uint8_t ent_pk[32], ent_sk[64]; /* the billing side's key */
	uint8_t other_pk[32], other_sk[64];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct api_options o = {0};
	struct forge_err err = {0};

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/forge-jwt-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	o.root = f->dir;
	if (api_config_load(&f->cfg, &o, &err))
		return -1;
	f->cfg.hs_secret = (uint8_t *)strdup(hs_secret);
	f->cfg.hs_len = strlen(hs_secret);
	forge_ed25519_keypair(f->ed_pk, f->ed_sk, NULL);
	forge_ed25519_keypair(f->ent_pk, f->ent_sk, NULL);
	forge_ed25519_keypair(f->other_pk, f->other_sk, NULL);
	strcpy(f->cfg.ed[0].kid, "k1");
	memcpy(f->cfg.ed[0].pk, f->ed_pk, 32);
	f->cfg.n_ed = 1;
	strcpy(f->cfg.ent[0].kid, "billing");
	memcpy(f->cfg.ent[0].pk, f->ent_pk, 32);
	f->cfg.n_ent = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	api_config_free(&f->cfg);
	rmdir(f->dir);
	free(f);
	return 0;
}

static json_t *claims(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:[s, s], s:I, s:I}", "iss", "forge", "aud",
			 "forge-api", "sub", "alice", "tenant_id", "acme", "roles", "forge.spawn",
			 "forge.learner", "iat", (json_int_t)NOW, "exp", (json_int_t)(NOW + 600));
}

static char *hs(const json_t *c)
{
	char *tok = NULL;

	assert_int_equal(api_jwt_encode("HS256", NULL, c, hs_secret, strlen(hs_secret), &tok, NULL),
			 0);
	return tok;
}

static char *ed(const json_t *c, const char *kid, const uint8_t sk[64])
{
	char *tok = NULL;

	assert_int_equal(api_jwt_encode("EdDSA", kid, c, sk, 64, &tok, NULL), 0);
	return tok;
}

/* A token with a hand-written header and signature bytes. */
static char *raw(const char *header, const json_t *c, const void *sig, size_t sig_len)
{
	char h[512], p[2048], s[128], *payload = json_dumps(c, JSON_COMPACT), *tok;

	forge_base64url_encode(h, sizeof(h), header, strlen(header), NULL);
	forge_base64url_encode(p, sizeof(p), payload, strlen(payload), NULL);
	forge_base64url_encode(s, sizeof(s), sig, sig_len, NULL);
	free(payload);
	assert_true(asprintf(&tok, "%s.%s.%s", h, p, s) > 0);
	return tok;
}

/* Authenticates "Bearer tok" (tok freed) and returns the status (0 = ok). */
static int auth(struct fix *f, char *tok, const char *ent, const char *xplan,
		struct api_identity *id, struct api_denial *d)
{
	char *hdr = NULL;

	assert_true(asprintf(&hdr, "Bearer %s", tok) > 0);
	free(tok);
	int rc = api_authenticate(&f->cfg, NULL, hdr, ent, xplan, NOW, id, d);
	free(hdr);
	return rc ? d->status : 0;
}

static void expect_401(struct fix *f, char *tok, const char *why)
{
	struct api_identity id;
	struct api_denial d;

	assert_int_equal(auth(f, tok, NULL, NULL, &id, &d), 401);
	assert_string_equal(d.code, "unauthorized");
	if (why && !strstr(d.message, why))
		fail_msg("expected \"%s\" in \"%s\"", why, d.message);
	assert_non_null(strstr(d.www_auth, "Bearer realm=\"forge\""));
	assert_string_equal(id.tenant, ""); /* nothing of a refused token stays */
}

static void test_hs256_and_eddsa(void **state)
{
	struct fix *f = *state;
	struct api_identity id;
	struct api_denial d;
	json_t *c = claims();

	assert_int_equal(auth(f, hs(c), NULL, NULL, &id, &d), 0);
	assert_string_equal(id.sub, "alice");
	assert_string_equal(id.tenant, "acme");
	assert_int_equal(id.roles, API_ROLE_SPAWN | API_ROLE_LEARNER);
	assert_string_equal(id.plan->name, "free");
	assert_string_equal(id.plan_source, "default");
	api_identity_clear(&id);
	assert_int_equal(auth(f, ed(c, "k1", f->ed_sk), NULL, NULL, &id, &d), 0);
	api_identity_clear(&id);
	assert_int_equal(auth(f, ed(c, NULL, f->ed_sk), NULL, NULL, &id, &d), 0);
	api_identity_clear(&id);
	expect_401(f, ed(c, "k2", f->ed_sk), "bad signature");
	expect_401(f, ed(c, "k1", f->other_sk), "bad signature");
	json_decref(c);
}

static void test_alg_none_and_confusion(void **state)
{
	struct fix *f = *state;
	json_t *c = claims();
	uint8_t mac[32];

	expect_401(f, raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", c, "", 0), "not accepted");
	expect_401(f, raw("{\"alg\":\"NONE\"}", c, "", 0), "not accepted");
	expect_401(f, raw("{\"alg\":\"RS256\"}", c, "x", 1), "not accepted");
	expect_401(f, raw("{\"typ\":\"JWT\"}", c, "x", 1), "no alg");
	/* HS256 keyed with the EdDSA public key: the classic confusion. */
	char *tok = NULL;
	assert_int_equal(api_jwt_encode("HS256", "k1", c, f->ed_pk, 32, &tok, NULL), 0);
	expect_401(f, tok, "bad signature");
	/* With HS256 off, an HS256 token is refused before any key is tried. */
	f->cfg.algs = API_ALG_EDDSA;
	expect_401(f, hs(c), "not accepted");
	f->cfg.algs = API_ALG_HS256;
	expect_401(f, ed(c, "k1", f->ed_sk), "not accepted");
	f->cfg.algs = API_ALG_HS256 | API_ALG_EDDSA;
	/* Headers that would pick their own key or need extensions. */
	forge_hmac_sha256(mac, hs_secret, strlen(hs_secret), "x", 1);
	expect_401(f, raw("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", c, mac, 32), "unsupported");
	expect_401(f, raw("{\"alg\":\"EdDSA\",\"jwk\":{}}", c, mac, 32), "unsupported");
	json_decref(c);
}

static void test_times_iss_aud(void **state)
{
	struct fix *f = *state;
	struct api_identity id;
	struct api_denial d;
	json_t *c = claims();

	json_object_set_new(c, "exp", json_integer(NOW - f->cfg.skew_s - 1));
	expect_401(f, hs(c), "expired");
	json_object_set_new(c, "exp", json_integer(NOW - f->cfg.skew_s + 1)); /* within skew */
	assert_int_equal(auth(f, hs(c), NULL, NULL, &id, &d), 0);
	api_identity_clear(&id);
	json_object_set_new(c, "exp", json_integer(NOW + 600));
	json_object_set_new(c, "nbf", json_integer(NOW + f->cfg.skew_s + 1));
	expect_401(f, hs(c), "not valid yet");
	json_object_del(c, "nbf");
	json_object_set_new(c, "iat", json_integer(NOW + f->cfg.skew_s + 1));
	json_object_set_new(c, "exp", json_integer(NOW + f->cfg.skew_s + 60));
	expect_401(f, hs(c), "issued in the future");
	json_object_set_new(c, "iat", json_integer(NOW - f->cfg.max_lifetime_s));
	json_object_set_new(c, "exp", json_integer(NOW + 10));
	expect_401(f, hs(c), "lives longer");
	json_object_set_new(c, "iat", json_integer(NOW));
	json_object_del(c, "exp");
	expect_401(f, hs(c), "no exp");
	json_object_set_new(c, "exp", json_integer(NOW + 600));
	json_object_del(c, "iat");
	expect_401(f, hs(c), "no iat");
	json_object_set_new(c, "iat", json_string("now"));
	expect_401(f, hs(c), "numbers");
	json_object_set_new(c, "iat", json_integer(NOW));
	json_object_set_new(c, "iss", json_string("evil"));
	expect_401(f, hs(c), "issuer");
	json_object_set_new(c, "iss", json_string("forge"));
	json_object_set_new(c, "aud", json_string("other"));
	expect_401(f, hs(c), "audience");
	json_object_set_new(c, "aud", json_pack("[s, s]", "other", "forge-api"));
	assert_int_equal(auth(f, hs(c), NULL, NULL, &id, &d), 0);
	api_identity_clear(&id);
	json_decref(c);
}

static void test_claims_required(void **state)
{
	struct fix *f = *state;
	json_t *c = claims();

	json_object_del(c, "sub");
	expect_401(f, hs(c), "sub");
	json_object_set_new(c, "sub", json_string("alice smith")); /* a space is not allowed */
	expect_401(f, hs(c), "sub");
	json_object_set_new(c, "sub", json_string("alice"));
	json_object_del(c, "tenant_id");
	expect_401(f, hs(c), "tenant_id");
	json_object_set_new(c, "tenant_id", json_integer(7));
	expect_401(f, hs(c), "tenant_id");
	json_object_set_new(c, "tenant_id", json_string("acme"));
	json_object_set_new(c, "roles", json_string("forge.spawn"));
	expect_401(f, hs(c), "roles");
	json_object_set_new(c, "roles", json_pack("[i]", 1));
	expect_401(f, hs(c), "roles");
	json_decref(c);
}

static void test_malformed_and_tampered(void **state)
{
	struct fix *f = *state;
	struct api_identity id;
	struct api_denial d;
	const char *bad[] = {"abc", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.", ""};
	json_t *c = claims();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_401(f, strdup(bad[i]), NULL);
	/* Tampered payload: the signature no longer matches. */
	char *tok = hs(c);
	size_t at = strcspn(tok, ".") + 3;
	tok[at] = tok[at] == 'A' ? 'B' : 'A';
	expect_401(f, tok, NULL);
	/* Oversized. */
	char *big = malloc(API_JWT_MAX + 16);
	memset(big, 'A', API_JWT_MAX + 15);
	big[API_JWT_MAX + 15] = '\0';
	big[10] = big[20] = '.';
	expect_401(f, big, "malformed");
	/* No header, another scheme. */
	assert_int_equal(api_authenticate(&f->cfg, NULL, NULL, NULL, NULL, NOW, &id, &d), -EACCES);
	assert_int_equal(d.status, 401);
	assert_string_equal(d.www_auth, "Bearer realm=\"forge\"");
	assert_int_equal(
	    api_authenticate(&f->cfg, NULL, "Basic YWxpY2U6cHc=", NULL, NULL, NOW, &id, &d),
	    -EACCES);
	assert_non_null(strstr(d.www_auth, "invalid_request"));
	json_decref(c);
}

static void test_plans(void **state)
{
	struct fix *f = *state;
	struct api_identity id;
	struct api_denial d;
	json_t *c = claims();

	json_object_set_new(c, "plan", json_string("PRO"));
	assert_int_equal(auth(f, hs(c), NULL, "enterprise", &id, &d), 0);
	assert_string_equal(id.plan->name, "pro");
	assert_string_equal(id.plan_source, "claim");
	api_identity_clear(&id);
	json_object_set_new(c, "plan", json_string("gold"));
	assert_int_equal(auth(f, hs(c), NULL, NULL, &id, &d), 403);
	json_object_del(c, "plan");
	/* X-Plan: ignored unless the dev flag allows it, and never in production. */
	assert_int_equal(auth(f, hs(c), NULL, "enterprise", &id, &d), 0);
	assert_string_equal(id.plan->name, "free");
	api_identity_clear(&id);
	f->cfg.dev = f->cfg.allow_plan_header = true;
	assert_int_equal(auth(f, hs(c), NULL, "enterprise", &id, &d), 0);
	assert_string_equal(id.plan->name, "enterprise");
	assert_string_equal(id.plan_source, "header");
	api_identity_clear(&id);
	f->cfg.production = true;
	assert_int_equal(auth(f, hs(c), NULL, "enterprise", &id, &d), 0);
	assert_string_equal(id.plan->name, "free");
	api_identity_clear(&id);
	f->cfg.production = f->cfg.dev = f->cfg.allow_plan_header = false;
	json_decref(c);
}

static void test_entitlement(void **state)
{
	struct fix *f = *state;
	struct api_identity id;
	struct api_denial d;
	json_t *c = claims();
	json_t *e = json_pack("{s:s, s:s, s:I, s:I}", "tenant_id", "acme", "plan", "enterprise",
			      "iat", (json_int_t)NOW, "exp", (json_int_t)(NOW + 3600));
	char *ent = ed(e, "billing", f->ent_sk);

	json_object_set_new(c, "plan", json_string("free")); /* the entitlement wins */
	assert_int_equal(auth(f, hs(c), ent, NULL, &id, &d), 0);
	assert_string_equal(id.plan->name, "enterprise");
	assert_string_equal(id.plan_source, "entitlement");
	api_identity_clear(&id);
	free(ent);
	/* Another tenant's entitlement, a forged one, an HS256 one, none configured. */
	json_object_set_new(e, "tenant_id", json_string("other"));
	ent = ed(e, "billing", f->ent_sk);
	assert_int_equal(auth(f, hs(c), ent, NULL, &id, &d), 401);
	assert_non_null(strstr(d.message, "another tenant"));
	free(ent);
	json_object_set_new(e, "tenant_id", json_string("acme"));
	ent = ed(e, "billing", f->other_sk);
	assert_int_equal(auth(f, hs(c), ent, NULL, &id, &d), 401);
	free(ent);
	ent = hs(e);
	assert_int_equal(auth(f, hs(c), ent, NULL, &id, &d), 401);
	free(ent);
	ent = ed(e, "billing", f->ent_sk);
	f->cfg.n_ent = 0;
	assert_int_equal(auth(f, hs(c), ent, NULL, &id, &d), 401);
	f->cfg.n_ent = 1;
	free(ent);
	json_decref(e);
	json_decref(c);
}

static void test_verified_token_cache(void **state)
{
	struct fix *f = *state;
	struct api_authcache *cache = NULL;
	struct api_identity id;
	struct api_denial d;
	json_t *c = claims();
	char *tok = hs(c), *hdr = NULL;

	assert_int_equal(api_authcache_new(&cache), 0);
	json_object_set_new(c, "plan", json_string("pro"));
	char *pro = hs(c), *pro_hdr = NULL;
	assert_true(asprintf(&hdr, "Bearer %s", tok) > 0);
	assert_true(asprintf(&pro_hdr, "Bearer %s", pro) > 0);
	for (int i = 0; i < 2; i++) { /* a miss, then a hit: the same identity */
		assert_int_equal(api_authenticate(&f->cfg, cache, hdr, NULL, NULL, NOW, &id, &d),
				 0);
		assert_string_equal(id.tenant, "acme");
		assert_int_equal(id.roles, API_ROLE_SPAWN | API_ROLE_LEARNER);
		assert_int_equal(json_array_size(id.role_names), 2);
		assert_string_equal(id.plan->name, "free");
		api_identity_clear(&id);
		assert_int_equal(
		    api_authenticate(&f->cfg, cache, pro_hdr, NULL, NULL, NOW, &id, &d), 0);
		assert_string_equal(id.plan->name, "pro"); /* the plan claim comes back too */
		api_identity_clear(&id);
	}
	/* Expiry still applies to a cached token. */
	assert_int_equal(api_authenticate(&f->cfg, cache, hdr, NULL, NULL,
					  NOW + 600 + f->cfg.skew_s + 1, &id, &d),
			 -EACCES);
	assert_non_null(strstr(d.message, "expired"));
	/* A token differing in one byte of its signature is verified, and refused. */
	hdr[strlen(hdr) - 2] = hdr[strlen(hdr) - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(api_authenticate(&f->cfg, cache, hdr, NULL, NULL, NOW, &id, &d), -EACCES);
	free(hdr);
	free(pro_hdr);
	free(tok);
	free(pro);
	json_decref(c);
	api_authcache_free(cache);
}

static void test_pubkeys_file(void **state)
{
	struct fix *f = *state;
	struct api_pubkey keys[API_MAX_KEYS];
	struct forge_err err = {0};
	char path[128], hex[65], b64[64];
	size_t n = 0;
	FILE *fp;

	(void)f;
	snprintf(path, sizeof(path), "%s/keys", f->dir);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", f->ed_pk[i]);
	forge_base64url_encode(b64, sizeof(b64), f->ent_pk, 32, NULL);
	fp = fopen(path, "w");
	fprintf(fp, "# bearer keys\n\nk1 %s\n  billing\t%s\n", hex, b64);
	fclose(fp);
	assert_int_equal(api_pubkeys_load(path, keys, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(keys[1].kid, "billing");
	assert_memory_equal(keys[0].pk, f->ed_pk, 32);
	assert_memory_equal(keys[1].pk, f->ent_pk, 32);
	fp = fopen(path, "w");
	fprintf(fp, "k1 %s\nk2 abc\n", hex);
	fclose(fp);
	assert_int_equal(api_pubkeys_load(path, keys, &n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, ":2:"));
	assert_int_equal(n, 0);
	fp = fopen(path, "w");
	fprintf(fp, "k1 %s\nk1 %s\n", hex, b64);
	fclose(fp);
	assert_int_equal(api_pubkeys_load(path, keys, &n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "twice"));
	fp = fopen(path, "w");
	fprintf(fp, "# nothing\n");
	fclose(fp);
	assert_int_equal(api_pubkeys_load(path, keys, &n, &err), -EINVAL);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hs256_and_eddsa, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alg_none_and_confusion, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_times_iss_aud, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claims_required, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_and_tampered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plans, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_entitlement, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verified_token_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pubkeys_file, setup, teardown),
	};

	forge_crypto_init();
	forge_log_init("test", FORGE_LOG_ERROR, 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
