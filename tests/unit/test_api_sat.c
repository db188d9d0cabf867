/* SPDX-License-Identifier: Apache-2.0 */
/* common/sat.c: spawn authorization tokens — round trip and every refusal. */
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

#include "common/sat.h"

static const char secret[] = "0123456789abcdef0123456789abcdef-test";
#define NOW 1800000000LL

static struct forge_sat_claims sample(void)
{
	struct forge_sat_claims c = {0};

	strcpy(c.sub, "alice@example.org");
	strcpy(c.tenant_id, "acme");
	strcpy(c.track, "netplus");
	strcpy(c.plan, "pro");
	c.retention_days = 30;
	strcpy(c.scenario_id, "3f9a0c1d2e4b");
	strcpy(c.request_id, "r-1");
	c.iat = NOW;
	c.exp = NOW + 120;
	return c;
}

static char *mint(struct forge_sat_claims *c)
{
	struct forge_err err = {0};
	char *tok = NULL;

	assert_int_equal(forge_sat_mint(c, secret, strlen(secret), &tok, &err), 0);
	return tok;
}

/* A token whose claims part is `claims` (raw JSON), MACed with the secret. */
static char *forge_token(const char *claims)
{
	char body[2048], mac64[64], *tok;
	uint8_t mac[32];

	forge_base64url_encode(body, sizeof(body), claims, strlen(claims), NULL);
	forge_hmac_sha256(mac, secret, strlen(secret), body, strlen(body));
	forge_base64url_encode(mac64, sizeof(mac64), mac, sizeof(mac), NULL);
	assert_true(asprintf(&tok, "%s.%s", body, mac64) > 0);
	return tok;
}

static void test_round_trip(void **state)
{
	struct forge_sat_claims c = sample(), got;
	struct forge_err err = {0};
	char *tok = mint(&c);

	(void)state;
	assert_int_equal(strlen(c.jti), 32); /* filled by mint */
	assert_int_equal(forge_sat_verify(tok, secret, strlen(secret), NOW + 10, &got, &err), 0);
	assert_string_equal(got.sub, "alice@example.org");
	assert_string_equal(got.tenant_id, "acme");
	assert_string_equal(got.track, "netplus");
	assert_string_equal(got.plan, "pro");
	assert_int_equal(got.retention_days, 30);
	assert_string_equal(got.scenario_id, "3f9a0c1d2e4b");
	assert_string_equal(got.request_id, "r-1");
	assert_int_equal(got.iat, NOW);
	assert_int_equal(got.exp, NOW + 120);
	assert_string_equal(got.jti, c.jti);
	/* Two mints differ in their jti. */
	struct forge_sat_claims c2 = sample();
	char *tok2 = mint(&c2);
	assert_string_not_equal(tok, tok2);
	free(tok);
	free(tok2);
}

static void test_bad_mac(void **state)
{
	struct forge_sat_claims c = sample(), got;
	struct forge_err err = {0};
	char *tok = mint(&c);
	static const char other[] = "another-secret-of-at-least-32-bytes!!";

	(void)state;
	assert_int_equal(forge_sat_verify(tok, other, strlen(other), NOW, &got, &err),
			 FORGE_SAT_BAD_MAC);
	assert_non_null(strstr(err.msg, "bad MAC"));
	assert_string_equal(got.sub, ""); /* nothing leaks out of a refused token */
	/* One changed character of the claims: still the MAC that fails. */
	tok[5] = tok[5] == 'A' ? 'B' : 'A';
	assert_int_equal(forge_sat_verify(tok, secret, strlen(secret), NOW, &got, &err),
			 FORGE_SAT_BAD_MAC);
	free(tok);
}

static void test_expired(void **state)
{
	struct forge_sat_claims c = sample(), got;
	struct forge_err err = {0};
	char *tok = mint(&c);

	(void)state;
	assert_int_equal(forge_sat_verify(tok, secret, strlen(secret), NOW + 120, &got, &err),
			 FORGE_SAT_EXPIRED);
	assert_int_equal(forge_sat_verify(tok, secret, strlen(secret), NOW + 119, &got, &err), 0);
	/* Issued further in the future than the skew allows. */
	assert_int_equal(
	    forge_sat_verify(tok, secret, strlen(secret), NOW - FORGE_SAT_SKEW - 1, &got, &err),
	    FORGE_SAT_MALFORMED);
	free(tok);
}

static void test_bounds_refused_by_mint(void **state)
{
	struct forge_err err = {0};
	char *tok = NULL;

	(void)state;
	struct forge_sat_claims c = sample();
	c.exp = c.iat + FORGE_SAT_MAX_TTL + 1;
	assert_int_equal(forge_sat_mint(&c, secret, strlen(secret), &tok, &err),
			 FORGE_SAT_MALFORMED);
	c = sample();
	c.exp = c.iat;
	assert_int_equal(forge_sat_mint(&c, secret, strlen(secret), &tok, &err),
			 FORGE_SAT_MALFORMED);
	c = sample();
	strcpy(c.scenario_id, "SHORT");
	assert_int_equal(forge_sat_mint(&c, secret, strlen(secret), &tok, &err),
			 FORGE_SAT_MALFORMED);
	assert_non_null(strstr(err.msg, "scenario_id"));
	c = sample();
	strcpy(c.track, "net plus");
	assert_int_equal(forge_sat_mint(&c, secret, strlen(secret), &tok, &err),
			 FORGE_SAT_MALFORMED);
	c = sample();
	c.retention_days = 0;
	assert_int_equal(forge_sat_mint(&c, secret, strlen(secret), &tok, &err),
			 FORGE_SAT_MALFORMED);
	c = sample();
	assert_int_equal(forge_sat_mint(&c, "short", 5, &tok, &err), -EINVAL);
	assert_null(tok);
}

static void test_malformed(void **state)
{
	struct forge_sat_claims got;
	struct forge_err err = {0};
	const char *bad[] = {"", "abc", ".abc", "abc.", "a.b.c", "!!!.###", NULL};

	(void)state;
	for (int i = 0; bad[i]; i++)
		assert_int_equal(forge_sat_verify(bad[i], secret, strlen(secret), NOW, &got, &err),
				 FORGE_SAT_MALFORMED);
	assert_int_equal(forge_sat_verify(NULL, secret, strlen(secret), NOW, &got, &err),
			 FORGE_SAT_MALFORMED);
	/* Correctly MACed but wrong claims: extra key, missing key, wrong type,
	 * duplicate key, lifetime over the bound. */
	const char *claims[] = {
	    "{\"sub\":\"a\",\"tenant_id\":\"t\",\"track\":\"netplus\",\"plan\":\"pro\","
	    "\"retention_days\":1,\"scenario_id\":\"abcdefabcdef\",\"request_id\":\"r\","
	    "\"iat\":1800000000,\"exp\":1800000100,\"jti\":\"0123456789abcdef0123456789abcdef\","
	    "\"admin\":true}",
	    "{\"sub\":\"a\",\"tenant_id\":\"t\",\"track\":\"netplus\",\"plan\":\"pro\","
	    "\"retention_days\":1,\"scenario_id\":\"abcdefabcdef\",\"request_id\":\"r\","
	    "\"iat\":1800000000,\"exp\":1800000100}",
	    "{\"sub\":\"a\",\"tenant_id\":\"t\",\"track\":\"netplus\",\"plan\":\"pro\","
	    "\"retention_days\":\"1\",\"scenario_id\":\"abcdefabcdef\",\"request_id\":\"r\","
	    "\"iat\":1800000000,\"exp\":1800000100,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
	    "{\"sub\":\"a\",\"sub\":\"b\",\"tenant_id\":\"t\",\"track\":\"netplus\",\"plan\":"
	    "\"pro\",\"retention_days\":1,\"scenario_id\":\"abcdefabcdef\",\"request_id\":\"r\","
	    "\"iat\":1800000000,\"exp\":1800000100,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
	    "{\"sub\":\"a\",\"tenant_id\":\"t\",\"track\":\"netplus\",\"plan\":\"pro\","
	    "\"retention_days\":1,\"scenario_id\":\"abcdefabcdef\",\"request_id\":\"r\","
	    "\"iat\":1800000000,\"exp\":1800000301,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
	    "[1,2,3]",
	    NULL,
	};
	for (int i = 0; claims[i]; i++) {
		char *tok = forge_token(claims[i]);
		assert_int_equal(forge_sat_verify(tok, secret, strlen(secret), NOW, &got, &err),
				 FORGE_SAT_MALFORMED);
		free(tok);
	}
	/* The same shape with valid claims passes: the cases above fail for their own reason. */
	char *ok = forge_token(
	    "{\"sub\":\"a\",\"tenant_id\":\"t\",\"track\":\"netplus\",\"plan\":\"pro\","
	    "\"retention_days\":1,\"scenario_id\":\"abcdefabcdef\",\"request_id\":\"r\","
	    "\"iat\":1800000000,\"exp\":1800000300,\"jti\":\"0123456789abcdef0123456789abcdef\"}");
	assert_int_equal(forge_sat_verify(ok, secret, strlen(secret), NOW, &got, &err), 0);
	free(ok);
}

static void test_secret_from_env(void **state)
{
	char path[] = "/tmp/forge-sat-XXXXXX";
	unsigned char *s = NULL;
	size_t len = 0;
	bool legacy = true;
	struct forge_err err = {0};
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "file-secret-0123456789abcdef012345\n", 35), 35);
	close(fd);
	unsetenv("SAT_HMAC_SECRET");
	unsetenv("SAT_HMAC_SECRET_FILE");
	unsetenv("SAT_SECRET");
	assert_int_equal(forge_sat_secret_from_env(&s, &len, &legacy, &err), -ENOENT);
	setenv("SAT_HMAC_SECRET_FILE", path, 1);
	assert_int_equal(forge_sat_secret_from_env(&s, &len, &legacy, &err), 0);
	assert_int_equal(len, 34); /* the newline is not part of it */
	assert_memory_equal(s, "file-secret-0123456789abcdef012345", 34);
	assert_false(legacy);
	forge_secret_free(s, len);
	setenv("SAT_HMAC_SECRET", "env-secret-0123456789abcdef0123456", 1);
	assert_int_equal(forge_sat_secret_from_env(&s, &len, &legacy, &err), 0);
	assert_memory_equal(s, "env-secret", 10); /* the variable wins over the file */
	forge_secret_free(s, len);
	unsetenv("SAT_HMAC_SECRET");
	unsetenv("SAT_HMAC_SECRET_FILE");
	setenv("SAT_SECRET", "legacy-secret-0123456789abcdef01234", 1);
	assert_int_equal(forge_sat_secret_from_env(&s, &len, &legacy, &err), 0);
	assert_true(legacy);
	forge_secret_free(s, len);
	setenv("SAT_SECRET", "too-short", 1);
	assert_int_equal(forge_sat_secret_from_env(&s, &len, &legacy, &err), -EINVAL);
	unsetenv("SAT_SECRET");
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip), cmocka_unit_test(test_bad_mac),
	    cmocka_unit_test(test_expired),    cmocka_unit_test(test_bounds_refused_by_mint),
	    cmocka_unit_test(test_malformed),  cmocka_unit_test(test_secret_from_env),
	};

	forge_crypto_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
