/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scoring/keys.c: dev-mode creation vs production refusal, permission and
 * owner checks, rotation keeping old public keys, and the published key set.
 * The wrong-owner case needs root (to chown) and skips without it.
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

#include "test_scoring_fixture.h"

#define NOBODY 65534

static int setup_empty(void **state)
{
	*state = fx_new(false);
	return *state ? 0 : -1;
}

static void active_id(const struct fx *f, const char *purpose, char id[17])
{
	char path[FORGE_PATH_MAX + 32];
	size_t len;
	char *buf;

	snprintf(path, sizeof(path), "%.1024s/keys/%s/active", f->p.etc, purpose);
	buf = fx_slurp(path, &len);
	assert_non_null(buf);
	assert_int_equal(len, 17);
	memcpy(id, buf, 16);
	id[16] = '\0';
	free(buf);
}

static void key_path(const struct fx *f, const char *purpose, const char *id, const char *ext,
		     char *out, size_t n)
{
	snprintf(out, n, "%.1024s/keys/%s/%s.%s", f->p.etc, purpose, id, ext);
}

static void test_production_refuses_without_keys(void **state)
{
	struct fx *f = *state;
	struct forge_err err = {0};
	struct forge_key k;

	assert_int_equal(forge_keys_ensure(&f->p, false, &err), -ENOKEY);
	assert_non_null(strstr(err.msg, "no active audit key"));
	assert_non_null(strstr(err.msg, "forgectl keys rotate audit"));
	assert_int_equal(forge_key_load_active(&f->p, FORGE_KEY_VERDICT, &k, &err), -ENOENT);
}

static void test_dev_creates_once(void **state)
{
	struct fx *f = *state;
	struct forge_err err = {0};
	char v1[17], a1[17], v2[17], a2[17], path[FORGE_PATH_MAX + 64];
	struct forge_key k;
	struct stat st;

	assert_int_equal(forge_keys_ensure(&f->p, true, &err), 0);
	active_id(f, "verdict", v1);
	active_id(f, "audit", a1);
	assert_string_not_equal(v1, a1);
	key_path(f, "verdict", v1, "key", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	key_path(f, "verdict", v1, "pub", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	/* A second start (even in production) reuses them. */
	assert_int_equal(forge_keys_ensure(&f->p, false, &err), 0);
	assert_int_equal(forge_keys_ensure(&f->p, true, &err), 0);
	active_id(f, "verdict", v2);
	active_id(f, "audit", a2);
	assert_string_equal(v1, v2);
	assert_string_equal(a1, a2);
	assert_int_equal(forge_key_load_active(&f->p, FORGE_KEY_VERDICT, &k, &err), 0);
	assert_string_equal(k.id, v1);
	forge_key_wipe(&k);
}

static void expect_load_refused(struct fx *f, const char *what)
{
	struct forge_err err = {0};
	struct forge_key k;

	assert_int_equal(forge_key_load_active(&f->p, FORGE_KEY_VERDICT, &k, &err), -EPERM);
	if (!strstr(err.msg, what))
		fail_msg("got \"%s\", want \"%s\"", err.msg, what);
	assert_int_equal(forge_keys_ensure(&f->p, true, &err), -EPERM);
}

static void test_loose_permissions_refused(void **state)
{
	struct fx *f = *state;
	struct forge_err err = {0};
	char id[17], path[FORGE_PATH_MAX + 64], dir[FORGE_PATH_MAX + 32];
	struct forge_key k;

	active_id(f, "verdict", id);
	key_path(f, "verdict", id, "key", path, sizeof(path));
	assert_int_equal(chmod(path, 0640), 0);
	expect_load_refused(f, "mode 0640, a secret key must be 0600");
	assert_int_equal(chmod(path, 0604), 0);
	expect_load_refused(f, "mode 0604");
	assert_int_equal(chmod(path, 0600), 0);

	/* The pointer decides which key signs: nobody else may write it. */
	snprintf(dir, sizeof(dir), "%.1024s/keys/verdict/active", f->p.etc);
	assert_int_equal(chmod(dir, 0646), 0);
	expect_load_refused(f, "active: mode 0646 is writable by group or others");
	assert_int_equal(chmod(dir, 0644), 0);

	snprintf(dir, sizeof(dir), "%.1024s/keys/verdict", f->p.etc);
	assert_int_equal(chmod(dir, 0777), 0);
	expect_load_refused(f, "writable by group or others");
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(dir, sizeof(dir), "%.1024s/keys", f->p.etc);
	assert_int_equal(chmod(dir, 0775), 0);
	expect_load_refused(f, "/etc/forge/keys: mode 0775 is writable by group or others");
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(forge_key_load_active(&f->p, FORGE_KEY_VERDICT, &k, &err), 0);
	forge_key_wipe(&k);
}

static void test_wrong_owner_refused(void **state)
{
	struct fx *f = *state;
	char id[17], path[FORGE_PATH_MAX + 64];

	if (geteuid() != 0)
		skip();
	active_id(f, "verdict", id);
	key_path(f, "verdict", id, "key", path, sizeof(path));
	assert_int_equal(chown(path, NOBODY, NOBODY), 0);
	expect_load_refused(f, "owned by uid 65534");
}

/* A key file is never followed through a symlink, and must hold its own key. */
static void test_swapped_key_files_refused(void **state)
{
	struct fx *f = *state;
	struct forge_err err = {0};
	char vid[17], aid[17], vpath[FORGE_PATH_MAX + 64], apath[FORGE_PATH_MAX + 64];
	struct forge_key k;
	size_t len;
	char *akey;

	active_id(f, "verdict", vid);
	active_id(f, "audit", aid);
	key_path(f, "verdict", vid, "key", vpath, sizeof(vpath));
	key_path(f, "audit", aid, "key", apath, sizeof(apath));
	akey = fx_slurp(apath, &len);
	assert_non_null(akey);
	assert_int_equal(fx_spit(vpath, akey, len), 0);
	free(akey);
	assert_int_equal(forge_key_load_active(&f->p, FORGE_KEY_VERDICT, &k, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "holds the key of id"));

	assert_int_equal(unlink(vpath), 0);
	assert_int_equal(symlink(apath, vpath), 0);
	assert_true(forge_key_load_active(&f->p, FORGE_KEY_VERDICT, &k, &err) < 0);
	/* Dangling or damaged: never replaced by a fresh key, even in dev mode. */
	assert_true(forge_keys_ensure(&f->p, true, &err) < 0);
	assert_int_equal(unlink(vpath), 0);
	assert_true(forge_keys_ensure(&f->p, true, &err) < 0);
	assert_non_null(strstr(err.msg, "verdict key"));
}

static void test_rotation_and_key_set(void **state)
{
	struct fx *f = *state;
	struct forge_err err = {0};
	char old[17], new_id[17], path[FORGE_PATH_MAX + 64];
	struct forge_keyset ks;
	json_t *set, *k;
	size_t i, verdicts = 0, actives = 0;

	active_id(f, "verdict", old);
	assert_int_equal(forge_keys_rotate(&f->p, FORGE_KEY_VERDICT, "operator", new_id, &err), 0);
	assert_string_not_equal(old, new_id);
	/* The old secret stays too: a rotation never destroys key material by itself. */
	key_path(f, "verdict", old, "key", path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0);

	assert_int_equal(fx_keyset(f, FORGE_KEY_VERDICT, &ks), 0);
	assert_int_equal(ks.n, 2);
	assert_non_null(forge_keyset_find(&ks, old));
	assert_true(forge_keyset_find(&ks, new_id)->active);
	assert_null(forge_keyset_find(&ks, "0000000000000000"));
	forge_keyset_free(&ks);

	set = forge_keys_published(&f->p, &err);
	assert_non_null(set);
	json_array_foreach(json_object_get(set, "keys"), i, k)
	{
		assert_string_equal(json_string_value(json_object_get(k, "alg")), "ed25519");
		assert_int_equal(strlen(json_string_value(json_object_get(k, "public_key"))), 43);
		assert_non_null(json_string_value(json_object_get(k, "created")));
		if (strcmp(json_string_value(json_object_get(k, "purpose")), "verdict") == 0)
			verdicts++;
		actives += json_is_true(json_object_get(k, "active"));
	}
	assert_int_equal(json_array_size(json_object_get(set, "keys")), 3);
	assert_int_equal(verdicts, 2);
	assert_int_equal(actives, 2);
	json_decref(set);
}

/* What --pubkey accepts: a key set, a .pub record, a bare key; a lying record is refused. */
static void test_keyset_from_files(void **state)
{
	struct fx *f = *state;
	struct forge_err err = {0};
	char id[17], path[FORGE_PATH_MAX + 64], file[FORGE_PATH_MAX + 32], *text, *pub;
	struct forge_keyset ks, all;
	json_t *doc;
	size_t len;

	active_id(f, "verdict", id);
	key_path(f, "verdict", id, "pub", path, sizeof(path));
	assert_int_equal(forge_keyset_load_file(path, FORGE_KEY_VERDICT, &ks, &err), 0);
	assert_int_equal(ks.n, 1);
	assert_string_equal(ks.keys[0].id, id);
	forge_keyset_free(&ks);
	/* The same record as an audit key set: nothing in it. */
	assert_int_equal(forge_keyset_load_file(path, FORGE_KEY_AUDIT, &ks, &err), -ENOKEY);

	/* Bare base64url. */
	pub = fx_slurp(path, &len);
	doc = json_loads(pub, 0, NULL);
	snprintf(file, sizeof(file), "%.1024s/bare.key", f->root);
	text = (char *)json_string_value(json_object_get(doc, "public_key"));
	assert_int_equal(fx_spit(file, text, strlen(text)), 0);
	assert_int_equal(forge_keyset_load_file(file, FORGE_KEY_VERDICT, &ks, &err), 0);
	assert_string_equal(ks.keys[0].id, id);
	forge_keyset_free(&ks);

	/* A record claiming another id. */
	json_object_set_new(doc, "key_id", json_string("0123456789abcdef"));
	text = json_dumps(doc, 0);
	assert_int_equal(fx_spit(file, text, strlen(text)), 0);
	assert_int_equal(forge_keyset_load_file(file, FORGE_KEY_VERDICT, &ks, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "does not match its public key"));
	free(text);
	json_decref(doc);
	free(pub);

	/* The published set, both purposes, filtered by the one asked for. */
	doc = forge_keys_published(&f->p, &err);
	text = json_dumps(doc, 0);
	assert_int_equal(fx_spit(file, text, strlen(text)), 0);
	assert_int_equal(forge_keyset_load_file(file, FORGE_KEY_AUDIT, &all, &err), 0);
	assert_int_equal(all.n, 1);
	assert_string_not_equal(all.keys[0].id, id);
	forge_keyset_free(&all);
	free(text);
	json_decref(doc);
}

/* A flat directory of .pub files (an auditor's copy) works as --keys. */
static void test_keyset_flat_dir(void **state)
{
	struct fx *f = *state;
	struct forge_err err = {0};
	char id[17], src[FORGE_PATH_MAX + 64], dir[FORGE_PATH_MAX + 32], dst[FORGE_PATH_MAX + 64];
	struct forge_keyset ks;
	size_t len;
	char *pub;

	active_id(f, "verdict", id);
	key_path(f, "verdict", id, "pub", src, sizeof(src));
	snprintf(dir, sizeof(dir), "%.1024s/copy", f->root);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(dst, sizeof(dst), "%.1024s/%s.pub", dir, id);
	pub = fx_slurp(src, &len);
	assert_int_equal(fx_spit(dst, pub, len), 0);
	assert_int_equal(forge_keyset_load_dir(dir, FORGE_KEY_VERDICT, &ks, &err), 0);
	assert_int_equal(ks.n, 1);
	forge_keyset_free(&ks);
	/* Renamed to another id: refused. */
	snprintf(dst, sizeof(dst), "%.1024s/0123456789abcdef.pub", dir);
	assert_int_equal(fx_spit(dst, pub, len), 0);
	assert_int_equal(forge_keyset_load_dir(dir, FORGE_KEY_VERDICT, &ks, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "holds the key of id"));
	free(pub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_production_refuses_without_keys, setup_empty,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_dev_creates_once, setup_empty, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_loose_permissions_refused, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_owner_refused, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_swapped_key_files_refused, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_and_key_set, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_keyset_from_files, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_keyset_flat_dir, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
