/* SPDX-License-Identifier: Apache-2.0 */
/* api/config.c: defaults, forge.conf, FORGE_* overrides, plans, production rules, secrets. */
#define _GNU_SOURCE
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

struct fix {
	char root[64];
	char etc[128];
	char conf[160];
};

static const char *const env_vars[] = {
    "FORGE_ENV",
    "FORGE_API_LISTEN",
    "FORGE_PLAN_PRO_CONCURRENT",
    "FORGE_JWT_HS256_SECRET",
    "FORGE_JWT_HS256_SECRET_FILE",
    "SAT_HMAC_SECRET",
    "SAT_HMAC_SECRET_FILE",
    "SAT_SECRET",
    "FORGE_ROOT",
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	strcpy(f->root, "/tmp/forge-apiconf-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->etc, sizeof(f->etc), "%s/etc/forge", f->root);
	snprintf(f->conf, sizeof(f->conf), "%s/forge.conf", f->etc);
	char p[160];
	snprintf(p, sizeof(p), "%s/etc", f->root);
	if (mkdir(p, 0755) || mkdir(f->etc, 0755))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[160];

	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void write_conf(struct fix *f, const char *text)
{
	FILE *fp = fopen(f->conf, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int load(struct fix *f, struct api_config *c, struct api_options *o, struct forge_err *err)
{
	struct api_options none = {0};

	if (!o)
		o = &none;
	o->root = f->root;
	return api_config_load(c, o, err);
}

static void test_defaults(void **state)
{
	struct fix *f = *state;
	struct api_config c;
	struct forge_err err = {0};

	assert_int_equal(load(f, &c, NULL, &err), 0);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_string_equal(c.user, "forge");
	assert_false(c.production);
	assert_int_equal(c.algs, API_ALG_HS256 | API_ALG_EDDSA);
	assert_non_null(strstr(c.db_path, "/var/lib/forge/api/api.db"));
	assert_string_equal(c.access_url_base, "http://127.0.0.1:8080/v1/scenarios");
	const struct api_plan *p = api_plan_find(&c, "FREE");
	assert_non_null(p);
	assert_true(api_plan_has_track(p, "netplus"));
	assert_false(api_plan_has_track(p, "ccna"));
	assert_true(api_plan_has_track(api_plan_find(&c, "enterprise"), "anything"));
	assert_null(api_plan_find(&c, "gold"));
	api_config_free(&c);
}

static void test_file_env_options(void **state)
{
	struct fix *f = *state;
	struct api_config c;
	struct forge_err err = {0};
	struct api_options o = {.listen = "unix:/run/forge/api.sock"};

	write_conf(f, "# forge.conf\n"
		      "api.listen = 0.0.0.0:9000\n"
		      "\n"
		      "jwt.issuer = https://idp.example\n"
		      "jwt.algs = EdDSA\n"
		      "plan.PRO.concurrent = 3\n"
		      "plan.gold.tracks = netplus, ccna, cissp\n"
		      "plan.gold.retention_days = 90\n"
		      "ratelimit.create.per_minute = 5\n"
		      "max_live = 100\n" /* forged's key: not ours, ignored */
		      "policy_dir = /srv/forge-policy\n");
	setenv("FORGE_PLAN_PRO_CONCURRENT", "7", 1);
	assert_int_equal(load(f, &c, &o, &err), 0);
	assert_string_equal(c.listen, "unix:/run/forge/api.sock"); /* option over file */
	assert_string_equal(c.access_url_base, "/v1/scenarios");
	assert_string_equal(c.issuer, "https://idp.example");
	assert_int_equal(c.algs, API_ALG_EDDSA);
	assert_int_equal(api_plan_find(&c, "pro")->concurrent, 7); /* env over file */
	const struct api_plan *gold = api_plan_find(&c, "GOLD");
	assert_non_null(gold);
	assert_int_equal(gold->n_tracks, 3);
	assert_int_equal(gold->retention_days, 90);
	assert_true(c.rl[API_RL_CREATE].per_minute == 5.0);
	assert_string_equal(c.policy_dir, "/srv/forge-policy");
	api_config_free(&c);
}

static void test_refusals(void **state)
{
	struct fix *f = *state;
	struct api_config c;
	struct forge_err err = {0};
	struct {
		const char *conf, *why;
	} bad[] = {
	    {"api.listen = 1\napi.lisen = x\n", "forge.conf:2: unknown key"},
	    {"forged.retrys = 1\n", "unknown key"},
	    {"api.threads = 0\n", "api.threads"},
	    {"api.threads = 4\napi.threads = 5\n", "set twice"},
	    {"jwt.algs = HS256,none\n", "jwt.algs"},
	    {"just a line\n", "key = value"},
	    {"plan.free.tracks = net plus!\n", "plan.free.tracks"},
	    {"plan.free.colour = blue\n", "unknown field"},
	    {"plan.default = gold\n", "plan.default"},
	    {"policy_pin = abc\n", "policy_pin"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_conf(f, bad[i].conf);
		assert_int_not_equal(load(f, &c, NULL, &err), 0);
		if (!strstr(err.msg, bad[i].why))
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, bad[i].why, err.msg);
		api_config_free(&c);
	}
}

static void test_production(void **state)
{
	struct fix *f = *state;
	struct api_config c;
	struct forge_err err = {0};
	struct api_options dev = {.dev = true};
	struct api_options plan_header = {.allow_plan_header = true};

	setenv("FORGE_ENV", "staging", 1);
	assert_int_equal(load(f, &c, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "FORGE_ENV"));
	api_config_free(&c);
	setenv("FORGE_ENV", "production", 1);
	assert_int_equal(load(f, &c, &dev, &err), -EPERM);
	assert_non_null(strstr(err.msg, "production"));
	api_config_free(&c);
	assert_int_equal(load(f, &c, NULL, &err), 0);
	assert_true(c.production);
	/* No secret at all: refused, and nothing generated. */
	char gen[256];
	assert_int_equal(api_config_load_secrets(&c, gen, sizeof(gen), &err), -ENOENT);
	assert_non_null(strstr(err.msg, "FORGE_JWT_HS256_SECRET"));
	api_config_free(&c);
	unsetenv("FORGE_ENV");
	assert_int_equal(load(f, &c, &plan_header, &err), -EINVAL); /* needs --dev */
	api_config_free(&c);
}

static void test_secrets(void **state)
{
	struct fix *f = *state;
	struct api_config c;
	struct forge_err err = {0};
	struct api_options dev = {.dev = true};
	char gen[512], path[192];
	struct stat st;

	/* Without --dev, a missing SAT secret is refused. */
	setenv("FORGE_JWT_HS256_SECRET", "hs-secret-0123456789abcdef0123456789", 1);
	assert_int_equal(load(f, &c, NULL, &err), 0);
	assert_int_equal(api_config_load_secrets(&c, gen, sizeof(gen), &err), -ENOENT);
	assert_non_null(strstr(err.msg, "SAT"));
	api_config_free(&c);
	/* A short secret is refused. */
	setenv("FORGE_JWT_HS256_SECRET", "short", 1);
	assert_int_equal(load(f, &c, NULL, &err), 0);
	assert_int_equal(api_config_load_secrets(&c, gen, sizeof(gen), &err), -EINVAL);
	api_config_free(&c);
	unsetenv("FORGE_JWT_HS256_SECRET");
	/* --dev generates both, 0600, and says where; a second start reads them back. */
	assert_int_equal(load(f, &c, &dev, &err), 0);
	assert_int_equal(api_config_load_secrets(&c, gen, sizeof(gen), &err), 0);
	snprintf(path, sizeof(path), "%s/api-dev-jwt.secret", f->etc);
	assert_non_null(strstr(gen, path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(c.hs_len, 64);
	assert_int_equal(c.algs, API_ALG_HS256); /* no EdDSA keys configured */
	uint8_t first[64];
	memcpy(first, c.hs_secret, 64);
	api_config_free(&c);
	assert_int_equal(load(f, &c, &dev, &err), 0);
	assert_int_equal(api_config_load_secrets(&c, gen, sizeof(gen), &err), 0);
	assert_string_equal(gen, "");
	assert_memory_equal(c.hs_secret, first, 64);
	api_config_free(&c);
	/* dev-token's loader finds the generated secret without --dev. */
	assert_int_equal(load(f, &c, NULL, &err), 0);
	assert_int_equal(api_config_load_hs_secret(&c, &err), 0);
	assert_memory_equal(c.hs_secret, first, 64);
	api_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_env_options, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_production, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
	};

	forge_log_init("test", FORGE_LOG_ERROR, 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
