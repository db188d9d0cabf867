/* SPDX-License-Identifier: Apache-2.0 */
/* api/ratelimit.c: token buckets per tenant and class, refill, Retry-After, bounded memory. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/internal.h"

static const struct api_bucket cfg[API_RL_N] = {
    [API_RL_CREATE] = {6, 3},	 /* one token every 10 s, 3 at once */
    [API_RL_STATUS] = {600, 10}, /* one every 100 ms */
    [API_RL_SCORE] = {1, 1},	 /* one a minute */
};

static void test_burst_refill_retry_after(void **state)
{
	struct api_ratelimit *rl = NULL;
	int retry = -1;

	(void)state;
	assert_int_equal(api_ratelimit_new(cfg, &rl), 0);
	for (int i = 0; i < 3; i++)
		assert_true(api_ratelimit_take(rl, API_RL_CREATE, "acme", 1000, &retry));
	assert_false(api_ratelimit_take(rl, API_RL_CREATE, "acme", 1000, &retry));
	assert_int_equal(retry, 10);
	/* 4 s later: still 6 s to wait. */
	assert_false(api_ratelimit_take(rl, API_RL_CREATE, "acme", 5000, &retry));
	assert_int_equal(retry, 6);
	/* 10 s after the first refusal: one token. */
	assert_true(api_ratelimit_take(rl, API_RL_CREATE, "acme", 11000, &retry));
	assert_false(api_ratelimit_take(rl, API_RL_CREATE, "acme", 11000, &retry));
	/* Other tenants and other classes have buckets of their own. */
	assert_true(api_ratelimit_take(rl, API_RL_CREATE, "other", 11000, &retry));
	assert_true(api_ratelimit_take(rl, API_RL_STATUS, "acme", 11000, &retry));
	/* Sub-second waits are reported as one second. */
	assert_true(api_ratelimit_take(rl, API_RL_SCORE, "acme", 0, &retry));
	assert_false(api_ratelimit_take(rl, API_RL_SCORE, "acme", 59500, &retry));
	assert_int_equal(retry, 1);
	/* A bucket never holds more than its burst. */
	for (int i = 0; i < 10; i++)
		assert_true(api_ratelimit_take(rl, API_RL_STATUS, "acme", 10000000, &retry));
	assert_false(api_ratelimit_take(rl, API_RL_STATUS, "acme", 10000000, &retry));
	api_ratelimit_free(rl);
}

static void test_many_tenants_bounded(void **state)
{
	struct api_ratelimit *rl = NULL;
	char tenant[32];
	int retry;

	(void)state;
	assert_int_equal(api_ratelimit_new(cfg, &rl), 0);
	/* Far more tenants than slots: every one still gets its burst (evicted
	 * buckets come back full), and memory stays the fixed table. */
	for (int i = 0; i < 4 * API_RL_SLOTS; i++) {
		snprintf(tenant, sizeof(tenant), "t%d", i);
		assert_true(api_ratelimit_take(rl, API_RL_SCORE, tenant, i, &retry));
	}
	/* A tenant touched just now is still limited. */
	assert_false(api_ratelimit_take(rl, API_RL_SCORE, tenant, 4 * API_RL_SLOTS, &retry));
	api_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_refill_retry_after),
	    cmocka_unit_test(test_many_tenants_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
