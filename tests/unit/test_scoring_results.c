/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scoring/results.c + verify.c: the four result files, byte-identical for the
 * same outcome, and offline verification naming exactly what is wrong.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "test_scoring_fixture.h"

static const char *const files[] = {"score.json", "evidence.tar.zst", "manifest.json",
				    "verdict.sig"};

static void write_sample(struct fx *f, const char *tenant, const char *scenario,
			 struct forge_results_out *out)
{
	struct forge_err err = {0};
	struct sample s;

	fx_sample(&s, tenant, scenario);
	if (forge_results_write(&f->p, &s.in, NULL, NULL, out, &err) < 0)
		fail_msg("write: %s", err.msg);
}

/* Verifies dir against the root's own verdict keys; returns rc, message in err. */
static int verify_dir(struct fx *f, const char *dir, struct forge_verify_result *res,
		      struct forge_err *err)
{
	struct forge_keyset ks;
	int rc;

	assert_int_equal(fx_keyset(f, FORGE_KEY_VERDICT, &ks), 0);
	rc = forge_results_verify(dir, &ks, res, err);
	forge_keyset_free(&ks);
	return rc;
}

static void test_write_and_verify(void **state)
{
	struct fx *f = *state;
	struct forge_results_out out;
	struct forge_verify_result res;
	struct forge_err err = {0};
	char dir[FORGE_PATH_MAX], path[FORGE_PATH_MAX + 32];
	struct stat st;
	size_t len;
	char *text;

	write_sample(f, "acme", "sc1", &out);
	fx_result_dir(f, "acme", "sc1", dir, sizeof(dir));
	assert_string_equal(out.dir, dir);
	assert_string_equal(out.score.value, "0.666667");
	assert_int_equal(out.score.num, 4);
	assert_int_equal(out.score.den, 6);
	assert_int_equal(out.score.passed, 2);
	assert_int_equal(out.score.total, 3);
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%.1024s/%s", dir, files[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0644);
	}
	if (verify_dir(f, dir, &res, &err) < 0)
		fail_msg("verify: %s", err.msg);
	assert_string_equal(res.key_id, out.key_id);
	assert_string_equal(res.score.value, "0.666667");
	assert_string_equal(res.tenant, "acme");
	assert_string_equal(res.scenario_id, "sc1");
	assert_string_equal(res.run_id, "run-1");

	/* No clock in score.json; the exact canonical document. */
	snprintf(path, sizeof(path), "%.1024s/score.json", dir);
	text = fx_slurp(path, &len);
	assert_non_null(text);
	assert_string_equal(
	    text,
	    "{\"criteria\":[{\"evidence\":[\"criteria/route/0/stdout\",\"criteria/route/0/"
	    "exit_code\"],\"id\":\"route\",\"message\":\"default route via the "
	    "router\",\"passed\":true,\"weight\":1},{\"evidence\":[\"criteria/web/0/exit_code\","
	    "\"network/target_server-80.json\"],\"id\":\"web\",\"message\":\"target web server "
	    "unreachable: exit "
	    "7\",\"passed\":false,\"weight\":2},{\"evidence\":[\"criteria/fw/0/stdout\",\"state/"
	    "router.json\"],\"id\":\"fw\",\"message\":\"ok\",\"passed\":true,\"weight\":3}],"
	    "\"passed\":2,\"scenario_id\":\"sc1\",\"score\":{\"den\":6,\"num\":4,\"value\":\"0."
	    "666667\"},\"template\":{\"hash\":\"" FX_SHA_C
	    "\",\"name\":\"netplus\",\"version\":\"1.0.0\"},\"total\":3,\"version\":1}\n");
	free(text);

	/* The manifest: hashes of both files and what reproduces the run. */
	snprintf(path, sizeof(path), "%.1024s/manifest.json", dir);
	text = fx_slurp(path, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"timestamp\":\"2026-01-01T00:00:00Z\""));
	assert_non_null(strstr(text, "\"retention_days\":30"));
	assert_non_null(strstr(text, "\"images\":{\"learner_vm\":\"" FX_SHA_A "\""));
	assert_non_null(strstr(text, "\"kernel_release\":\"6.1.0-test\""));
	assert_non_null(strstr(text, "\"tenant\":\"acme\""));
	free(text);
}

static void read_all(const char *dir, char *bytes[4], size_t len[4])
{
	char path[FORGE_PATH_MAX + 32];

	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%.1024s/%s", dir, files[i]);
		bytes[i] = fx_slurp(path, &len[i]);
		assert_non_null(bytes[i]);
	}
}

/* Same outcome, artifacts handed over in another order: the same bytes, all four files. */
static void test_byte_identical(void **state)
{
	struct fx *f = *state;
	struct forge_err err = {0};
	char dir[FORGE_PATH_MAX], moved[FORGE_PATH_MAX + 8];
	char *a[4], *b[4];
	size_t la[4], lb[4];
	struct sample s;

	write_sample(f, "acme", "same", NULL);
	fx_result_dir(f, "acme", "same", dir, sizeof(dir));
	snprintf(moved, sizeof(moved), "%.1024s.first", dir);
	assert_int_equal(rename(dir, moved), 0);
	fx_sample(&s, "acme", "same");
	for (size_t i = 0; i < 4; i++) {
		struct forge_artifact t = s.art[i];

		s.art[i] = s.art[7 - i];
		s.art[7 - i] = t;
	}
	if (forge_results_write(&f->p, &s.in, NULL, NULL, NULL, &err) < 0)
		fail_msg("write: %s", err.msg);
	read_all(moved, a, la);
	read_all(dir, b, lb);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(la[i], lb[i]);
		assert_memory_equal(a[i], b[i], la[i]);
		free(a[i]);
		free(b[i]);
	}
	fx_rm_rf(moved);
}

/* What evidence.tar.zst holds: sorted ustar entries with fixed metadata. */
static void test_evidence_is_reproducible_tar(void **state)
{
	static const char *const want[] = {
	    "criteria/fw/0/stdout",    "criteria/route/0/exit_code",
	    "criteria/route/0/stdout", "criteria/web/0/exit_code",
	    "criteria/web/0/stdout",   "network/target_server-80.json",
	    "state/learner_vm.json",   "state/router.json",
	};
	struct fx *f = *state;
	char dir[FORGE_PATH_MAX], path[FORGE_PATH_MAX + 32];
	struct archive_entry *e;
	struct archive *a;
	size_t n = 0;

	write_sample(f, "acme", "tar", NULL);
	fx_result_dir(f, "acme", "tar", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%.1024s/evidence.tar.zst", dir);
	a = archive_read_new();
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, path, 16384), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		assert_true(n < 8);
		assert_string_equal(archive_entry_pathname(e), want[n]);
		assert_int_equal(archive_entry_filetype(e), AE_IFREG);
		assert_int_equal(archive_entry_perm(e), 0644);
		assert_int_equal(archive_entry_uid(e), 0);
		assert_int_equal(archive_entry_gid(e), 0);
		assert_int_equal(archive_entry_mtime(e), 0);
		n++;
	}
	assert_int_equal(n, 8);
	assert_int_equal(archive_format(a), ARCHIVE_FORMAT_TAR_USTAR);
	archive_read_free(a);
}

struct flip_case {
	const char *file;
	long offset;
	const char *message;
};

static void test_flipped_byte_each_file(void **state)
{
	static const struct flip_case cases[] = {
	    {"score.json", 20, "score.json: sha256 mismatch"},
	    {"evidence.tar.zst", 40, "evidence.tar.zst: sha256 mismatch"},
	    {"evidence.tar.zst", -3, "evidence.tar.zst: sha256 mismatch"},
	    {"manifest.json", 30, "manifest.json: bad signature"},
	    {"manifest.json", -2, "manifest.json: bad signature"},
	};
	struct fx *f = *state;
	struct forge_verify_result res;
	char dir[FORGE_PATH_MAX], path[FORGE_PATH_MAX + 32], scen[16];
	struct forge_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(scen, sizeof(scen), "flip%zu", i);
		write_sample(f, "acme", scen, NULL);
		fx_result_dir(f, "acme", scen, dir, sizeof(dir));
		snprintf(path, sizeof(path), "%.1024s/%s", dir, cases[i].file);
		assert_int_equal(fx_flip(path, cases[i].offset), 0);
		forge_err_clear(&err);
		assert_int_equal(verify_dir(f, dir, &res, &err), -EBADMSG);
		if (!strstr(err.msg, cases[i].message))
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].file, err.msg,
				 cases[i].message);
	}
}

/* Replaces verdict.sig's "sig" (and optionally its key_id). */
static void rewrite_verdict(const char *dir, const char *key_id, const char *sig)
{
	char path[FORGE_PATH_MAX + 32], text[256];

	snprintf(path, sizeof(path), "%.1024s/verdict.sig", dir);
	snprintf(text, sizeof(text), "{\"alg\":\"ed25519\",\"key_id\":\"%s\",\"sig\":\"%s\"}\n",
		 key_id, sig);
	assert_int_equal(fx_spit(path, text, strlen(text)), 0);
}

static void test_signature_cases(void **state)
{
	struct fx *f = *state;
	struct forge_results_out out;
	struct forge_verify_result res;
	uint8_t pk[32], sk[64], sig[64];
	char dir[FORGE_PATH_MAX], path[FORGE_PATH_MAX + 32], id[17], b64[90], *m, *v;
	struct forge_err err = {0};
	size_t mlen, vlen;

	write_sample(f, "acme", "sig", &out);
	fx_result_dir(f, "acme", "sig", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%.1024s/manifest.json", dir);
	m = fx_slurp(path, &mlen);
	snprintf(path, sizeof(path), "%.1024s/verdict.sig", dir);
	v = fx_slurp(path, &vlen);
	assert_non_null(m);
	assert_non_null(v);

	/* A byte of the signature itself. */
	char *s = strstr(v, "\"sig\":\"") + 7 + 10;
	*s = *s == 'A' ? 'B' : 'A';
	assert_int_equal(fx_spit(path, v, vlen), 0);
	assert_int_equal(verify_dir(f, dir, &res, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "manifest.json: bad signature"));

	/* Signed by another key, under that key's id: not a published key. */
	assert_int_equal(forge_ed25519_keypair(pk, sk, NULL), 0);
	forge_key_id(pk, id);
	forge_ed25519_sign(sig, m, mlen, sk);
	assert_int_equal(forge_base64url_encode(b64, sizeof(b64), sig, 64, &err), 0);
	rewrite_verdict(dir, id, b64);
	assert_int_equal(verify_dir(f, dir, &res, &err), -ENOKEY);
	assert_non_null(strstr(err.msg, "unknown key id"));
	assert_non_null(strstr(err.msg, id));

	/* Another key's signature claiming the real key's id. */
	rewrite_verdict(dir, out.key_id, b64);
	assert_int_equal(verify_dir(f, dir, &res, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "manifest.json: bad signature"));

	/* That other key given with --pubkey: it verifies the signature, but the
	 * manifest names the real key. */
	rewrite_verdict(dir, id, b64);
	{
		struct forge_keyset other;
		char keyfile[FORGE_PATH_MAX + 32], pkb64[64];

		assert_int_equal(forge_base64url_encode(pkb64, sizeof(pkb64), pk, 32, &err), 0);
		snprintf(keyfile, sizeof(keyfile), "%.1024s/other.pub", f->root);
		assert_int_equal(fx_spit(keyfile, pkb64, strlen(pkb64)), 0);
		assert_int_equal(forge_keyset_load_file(keyfile, FORGE_KEY_VERDICT, &other, &err),
				 0);
		assert_int_equal(forge_results_verify(dir, &other, &res, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "manifest.json: key_id"));
		forge_keyset_free(&other);
	}
	free(m);
	free(v);
}

static void test_missing_and_extra_files(void **state)
{
	struct fx *f = *state;
	struct forge_verify_result res;
	struct forge_err err = {0};
	char dir[FORGE_PATH_MAX], path[FORGE_PATH_MAX + 32], target[FORGE_PATH_MAX + 32];

	write_sample(f, "acme", "files", NULL);
	fx_result_dir(f, "acme", "files", dir, sizeof(dir));

	snprintf(path, sizeof(path), "%.1024s/notes.txt", dir);
	assert_int_equal(fx_spit(path, "x", 1), 0);
	assert_int_equal(verify_dir(f, dir, &res, &err), -ENOTEMPTY);
	assert_non_null(strstr(err.msg, "extra file: notes.txt"));
	unlink(path);

	snprintf(path, sizeof(path), "%.1024s/verdict.sig", dir);
	snprintf(target, sizeof(target), "%.1024s/verdict.sig.bak", f->root);
	assert_int_equal(rename(path, target), 0);
	assert_int_equal(verify_dir(f, dir, &res, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing file: verdict.sig"));

	/* A symlink to a good copy is not the file. */
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(verify_dir(f, dir, &res, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "verdict.sig: not a regular file"));
	unlink(path);
	assert_int_equal(rename(target, path), 0);
	assert_int_equal(verify_dir(f, dir, &res, &err), 0);
}

static void test_rotation_keeps_old_verdicts(void **state)
{
	struct fx *f = *state;
	struct forge_results_out before, after;
	struct forge_verify_result res;
	struct forge_err err = {0};
	char dir[FORGE_PATH_MAX], id[17];
	struct forge_keyset ks;

	write_sample(f, "acme", "old", &before);
	assert_int_equal(forge_keys_rotate(&f->p, FORGE_KEY_VERDICT, "test", id, &err), 0);
	assert_string_not_equal(id, before.key_id);
	write_sample(f, "acme", "new", &after);
	assert_string_equal(after.key_id, id);

	fx_result_dir(f, "acme", "old", dir, sizeof(dir));
	if (verify_dir(f, dir, &res, &err) < 0)
		fail_msg("old verdict after rotation: %s", err.msg);
	assert_string_equal(res.key_id, before.key_id);
	fx_result_dir(f, "acme", "new", dir, sizeof(dir));
	assert_int_equal(verify_dir(f, dir, &res, &err), 0);
	assert_string_equal(res.key_id, id);

	assert_int_equal(fx_keyset(f, FORGE_KEY_VERDICT, &ks), 0);
	assert_int_equal(ks.n, 2);
	assert_false(forge_keyset_find(&ks, before.key_id)->active);
	assert_true(forge_keyset_find(&ks, id)->active);
	forge_keyset_free(&ks);
}

/* Only the new key given: the old verdict names a key that is not there. */
static void test_unknown_key_after_swap(void **state)
{
	struct fx *f = *state;
	struct forge_keyset ks = {0};
	struct forge_verify_result res;
	struct forge_err err = {0};
	char dir[FORGE_PATH_MAX];

	write_sample(f, "acme", "nokey", NULL);
	fx_result_dir(f, "acme", "nokey", dir, sizeof(dir));
	assert_int_equal(forge_results_verify(dir, &ks, &res, &err), -ENOKEY);
	assert_non_null(strstr(err.msg, "unknown key id"));
}

static void expect_write_error(struct fx *f, struct sample *s, int code, const char *msg)
{
	struct forge_err err = {0};
	int rc = forge_results_write(&f->p, &s->in, NULL, NULL, NULL, &err);

	if (rc != code || !strstr(err.msg, msg))
		fail_msg("got %d \"%s\", want %d \"%s\"", rc, err.msg, code, msg);
}

/* One bad input per case, applied to an otherwise good sample. */
static void mutate(struct sample *s, int i)
{
	switch (i) {
	case 0:
		s->facts.tenant = "../etc";
		break;
	case 1:
		s->facts.scenario_id = ".hidden";
		break;
	case 2:
		s->art[2].name = "criteria/../x";
		break;
	case 3:
		s->art[2].name = "state/router.json";
		break;
	case 4:
		s->art[2].name = "state";
		break;
	case 5:
		s->refs1[1] = "network/nothing.json";
		break;
	case 6:
		s->crit[0].weight = s->crit[1].weight = s->crit[2].weight = 0;
		break;
	case 7:
		s->crit[2].id = "route";
		break;
	case 8:
		s->crit[1].message = "bad \xff utf-8";
		break;
	case 9:
		s->images[1].digest = "sha256:short";
		break;
	default:
		s->facts.retention_days = FORGE_RETENTION_DAYS_MAX + 1;
	}
}

static void test_input_checked(void **state)
{
	static const char *const want[] = {
	    "bad tenant",
	    "bad scenario id",
	    "bad name",
	    "given twice",
	    "state is also a file",
	    "evidence \"network/nothing.json\" is not an artifact",
	    "weighs 0",
	    "criterion route given twice",
	    "not valid UTF-8",
	    "image router",
	    "retention",
	};
	struct fx *f = *state;
	struct sample s;
	char name[16];

	for (int i = 0; i < (int)(sizeof(want) / sizeof(want[0])); i++) {
		snprintf(name, sizeof(name), "in%d", i);
		fx_sample(&s, "acme", name);
		mutate(&s, i);
		expect_write_error(f, &s, -EINVAL, want[i]);
	}
}

/* A verdict is written once: the second is refused and leaves no temp dir. */
static void test_no_overwrite(void **state)
{
	struct fx *f = *state;
	struct sample s;
	char tenant[FORGE_PATH_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	write_sample(f, "acme", "once", NULL);
	fx_sample(&s, "acme", "once");
	s.crit[1].passed = true;
	expect_write_error(f, &s, -EEXIST, "once already has results");
	snprintf(tenant, sizeof(tenant), "%.1024s/results/acme", f->p.lib);
	d = opendir(tenant);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	assert_int_equal(n, 1);
}

static void test_score_audited(void **state)
{
	struct fx *f = *state;
	struct forge_audit *a;
	struct forge_audit_report rep;
	struct forge_err err = {0};
	struct forge_results_out out;
	char path[FORGE_PATH_MAX + 32], *log;
	size_t len;
	struct sample s;

	assert_int_equal(forge_audit_open(&f->p, &a, &err), 0);
	fx_sample(&s, "acme", "aud");
	assert_int_equal(forge_results_write(&f->p, &s.in, NULL, a, &out, &err), 0);
	forge_audit_close(a);
	assert_int_equal(forge_audit_verify(&f->p, NULL, &rep, &err), 0);
	snprintf(path, sizeof(path), "%.1024s/audit/audit.log", f->p.lib);
	log = fx_slurp(path, &len);
	assert_non_null(log);
	assert_non_null(strstr(log, "\"type\":\"scenario.score\""));
	assert_non_null(strstr(log, out.manifest_sha256));
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_and_verify, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_byte_identical, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_evidence_is_reproducible_tar, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_flipped_byte_each_file, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_signature_cases, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_and_extra_files, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_keeps_old_verdicts, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_key_after_swap, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_input_checked, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_no_overwrite, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_score_audited, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
