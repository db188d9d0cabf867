/* SPDX-License-Identifier: Apache-2.0 */
/* Offline verification of a results directory: files, signature, hashes, contents. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scoring/internal.h"

#define VERIFY_SIG_MAX 4096
/* Compressed evidence can be no larger than zstd's bound of the largest tar. */
#define VERIFY_EVIDENCE_MAX                                                                        \
	(FORGE_EVIDENCE_BYTES_MAX + (FORGE_EVIDENCE_BYTES_MAX >> 7) + (8u << 20))

static const char *const verify_files[] = {SCORING_SCORE, SCORING_EVIDENCE, SCORING_MANIFEST,
					   SCORING_VERDICT};
#define VERIFY_NFILES (sizeof(verify_files) / sizeof(verify_files[0]))

struct verify_ctx {
	int dirfd;
	char *bytes[VERIFY_NFILES];
	size_t len[VERIFY_NFILES];
	json_t *verdict, *manifest, *score;
};

/* Exactly the four files, each a regular file (a symlink is "not a regular file"). */
static int verify_listing(int dirfd, struct forge_err *err)
{
	bool seen[VERIFY_NFILES] = {false};
	struct dirent *de;
	struct stat st;
	int fd, rc = 0;
	size_t i;
	DIR *d;

	fd = dup(dirfd);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		rc = forge_err_errno(err, errno, "list directory");
		if (fd >= 0)
			close(fd);
		return rc;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		for (i = 0; i < VERIFY_NFILES; i++)
			if (strcmp(de->d_name, verify_files[i]) == 0)
				break;
		if (i == VERIFY_NFILES) {
			rc = forge_err_set(err, -ENOTEMPTY, "extra file: %s", de->d_name);
			goto out;
		}
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode)) {
			rc = forge_err_set(err, -EBADMSG, "%s: not a regular file", de->d_name);
			goto out;
		}
		seen[i] = true;
	}
	for (i = 0; i < VERIFY_NFILES; i++)
		if (!seen[i]) {
			rc = forge_err_set(err, -ENOENT, "missing file: %s", verify_files[i]);
			goto out;
		}
out:
	closedir(d);
	return rc;
}

static int verify_read(struct verify_ctx *c, size_t i, size_t max, struct forge_err *err)
{
	int fd, rc;

	fd = openat(c->dirfd, verify_files[i], O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return forge_err_errno(err, errno, "%s", verify_files[i]);
	rc = forge_read_fd(fd, verify_files[i], &c->bytes[i], &c->len[i], max, err);
	close(fd);
	return rc;
}

/* verdict.sig names the key; the manifest must carry its signature by that key. */
static int verify_signature(struct verify_ctx *c, const struct forge_keyset *keys,
			    struct forge_verify_result *res, struct forge_err *err)
{
	const struct forge_pubkey *pk;
	const char *alg, *kid, *sig;

	c->verdict = scoring_json_parse(c->bytes[3], c->len[3], SCORING_VERDICT, err);
	if (!c->verdict)
		return -EBADMSG;
	alg = scoring_json_str(c->verdict, "alg", SCORING_VERDICT, err);
	kid = alg ? scoring_json_str(c->verdict, "key_id", SCORING_VERDICT, err) : NULL;
	sig = kid ? scoring_json_str(c->verdict, "sig", SCORING_VERDICT, err) : NULL;
	if (!sig)
		return -EBADMSG;
	if (strcmp(alg, "ed25519") != 0)
		return forge_err_set(err, -EBADMSG, "%s: unsupported alg \"%s\"", SCORING_VERDICT,
				     alg);
	if (!forge_key_id_is_valid(kid))
		return forge_err_set(err, -EBADMSG, "%s: malformed key id", SCORING_VERDICT);
	pk = forge_keyset_find(keys, kid);
	if (!pk)
		return forge_err_set(err, -ENOKEY,
				     "unknown key id %s (not among %zu verdict key%s)", kid,
				     keys ? keys->n : 0, keys && keys->n == 1 ? "" : "s");
	snprintf(res->key_id, sizeof(res->key_id), "%s", kid);
	return scoring_verify_b64(pk->pk, sig, c->bytes[2], c->len[2], SCORING_MANIFEST, err);
}

/* Every file the manifest lists, with the hash it gives. */
static int verify_hashes(struct verify_ctx *c, const char *kid, struct forge_err *err)
{
	const json_t *files;
	const char *want, *mkid;
	char have[65];
	size_t i;
	int rc;

	c->manifest = scoring_json_parse(c->bytes[2], c->len[2], SCORING_MANIFEST, err);
	if (!c->manifest)
		return -EBADMSG;
	if (json_integer_value(json_object_get(c->manifest, "version")) != SCORING_FORMAT)
		return forge_err_set(err, -EBADMSG, "%s: unknown version", SCORING_MANIFEST);
	mkid = scoring_json_str(c->manifest, "key_id", SCORING_MANIFEST, err);
	if (!mkid)
		return -EBADMSG;
	if (strcmp(mkid, kid) != 0)
		return forge_err_set(err, -EBADMSG, "%s: key_id %s, but %s is by key %s",
				     SCORING_MANIFEST, mkid, SCORING_VERDICT, kid);
	files = json_object_get(c->manifest, "files");
	if (!json_is_object(files) || json_object_size(files) != 2)
		return forge_err_set(err, -EBADMSG, "%s: \"files\" must list %s and %s",
				     SCORING_MANIFEST, SCORING_SCORE, SCORING_EVIDENCE);
	for (i = 0; i < 2; i++) {
		want = json_string_value(json_object_get(files, verify_files[i]));
		if (!want)
			return forge_err_set(err, -EBADMSG, "%s: no hash for %s", SCORING_MANIFEST,
					     verify_files[i]);
		rc = verify_read(c, i, i == 0 ? SCORING_JSON_MAX : VERIFY_EVIDENCE_MAX, err);
		if (rc < 0)
			return rc;
		forge_sha256_hex(c->bytes[i], c->len[i], have);
		if (strcmp(have, want) != 0)
			return forge_err_set(err, -EBADMSG,
					     "%s: sha256 mismatch (manifest.json says %.16s…, the "
					     "file hashes to %.16s…)",
					     verify_files[i], want, have);
	}
	return 0;
}

static int verify_uint(const json_t *obj, const char *key, uint64_t *out, struct forge_err *err)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return forge_err_set(err, -EBADMSG, "%s: \"%s\" missing or not a count",
				     SCORING_SCORE, key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int verify_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The counts and the value must follow from the criteria; the scenario and
 * template must be those of the manifest. */
static int verify_score(struct verify_ctx *c, char **names, size_t n_names,
			struct forge_verify_result *res, struct forge_err *err)
{
	const json_t *crit, *cr, *refs, *score, *mscen, *mtpl;
	struct forge_score_value *v = &res->score;
	uint64_t num, den, passed, total, w;
	size_t i, j;

	c->score = scoring_json_parse(c->bytes[0], c->len[0], SCORING_SCORE, err);
	if (!c->score)
		return -EBADMSG;
	crit = json_object_get(c->score, "criteria");
	score = json_object_get(c->score, "score");
	if (!json_is_array(crit) || !json_is_object(score))
		return forge_err_set(err, -EBADMSG, "%s: no criteria or score", SCORING_SCORE);
	if (verify_uint(c->score, "passed", &passed, err) < 0 ||
	    verify_uint(c->score, "total", &total, err) < 0 ||
	    verify_uint(score, "num", &num, err) < 0 || verify_uint(score, "den", &den, err) < 0)
		return -EBADMSG;
	memset(v, 0, sizeof(*v));
	json_array_foreach(crit, i, cr)
	{
		refs = json_object_get(cr, "evidence");
		if (verify_uint(cr, "weight", &w, err) < 0 ||
		    !json_is_boolean(json_object_get(cr, "passed")) || !json_is_array(refs))
			return forge_err_set(err, -EBADMSG, "%s: criteria[%zu] is malformed",
					     SCORING_SCORE, i);
		v->den += w;
		v->total++;
		if (json_is_true(json_object_get(cr, "passed"))) {
			v->num += w;
			v->passed++;
		}
		for (j = 0; j < json_array_size(refs); j++) {
			const char *ref = json_string_value(json_array_get(refs, j));

			/* names are sorted: scoring_evidence_list refuses them otherwise. */
			if (!ref || !bsearch(&ref, names, n_names, sizeof(*names), verify_name_cmp))
				return forge_err_set(err, -EBADMSG,
						     "%s: criteria[%zu] cites evidence \"%s\" "
						     "that %s does not hold",
						     SCORING_SCORE, i, ref ? ref : "?",
						     SCORING_EVIDENCE);
		}
	}
	scoring_value_format(v->num, v->den, v->value);
	if (v->num != num || v->den != den || v->passed != passed || v->total != total ||
	    !json_is_string(json_object_get(score, "value")) ||
	    strcmp(json_string_value(json_object_get(score, "value")), v->value) != 0)
		return forge_err_set(
		    err, -EBADMSG, "%s: the totals do not follow from the criteria", SCORING_SCORE);
	mscen = json_object_get(c->manifest, "scenario_id");
	mtpl = json_object_get(json_object_get(c->manifest, "reproduce"), "template");
	if (!json_equal(mscen, json_object_get(c->score, "scenario_id")) ||
	    !json_equal(mtpl, json_object_get(c->score, "template")))
		return forge_err_set(err, -EBADMSG, "%s: scenario or template differ from %s's",
				     SCORING_SCORE, SCORING_MANIFEST);
	return 0;
}

static int verify_ids(const json_t *manifest, struct forge_verify_result *res,
		      struct forge_err *err)
{
	static const char *const keys[] = {"tenant", "scenario_id", "run_id"};
	char *dst[] = {res->tenant, res->scenario_id, res->run_id};
	const char *s;
	size_t i;

	for (i = 0; i < 3; i++) {
		s = scoring_json_str(manifest, keys[i], SCORING_MANIFEST, err);
		if (!s)
			return -EBADMSG;
		if (!scoring_id_valid(s))
			return forge_err_set(err, -EBADMSG, "%s: bad %s", SCORING_MANIFEST,
					     keys[i]);
		snprintf(dst[i], FORGE_SCORING_ID_MAX + 1, "%s", s);
	}
	return 0;
}

int forge_results_verify(const char *dir, const struct forge_keyset *keys,
			 struct forge_verify_result *res, struct forge_err *err)
{
	struct verify_ctx c = {.dirfd = -1};
	char **names = NULL;
	size_t n_names = 0, i;
	int rc;

	memset(res, 0, sizeof(*res));
	c.dirfd = scoring_open_path(dir, err);
	if (c.dirfd < 0)
		return c.dirfd;
	rc = verify_listing(c.dirfd, err);
	if (rc == 0)
		rc = verify_read(&c, 3, VERIFY_SIG_MAX, err);
	if (rc == 0)
		rc = verify_read(&c, 2, SCORING_JSON_MAX, err);
	if (rc == 0)
		rc = verify_signature(&c, keys, res, err);
	if (rc == 0)
		rc = verify_hashes(&c, res->key_id, err);
	if (rc == 0)
		rc = verify_ids(c.manifest, res, err);
	if (rc == 0)
		rc = scoring_evidence_list(c.bytes[1], c.len[1], &names, &n_names, err);
	if (rc == 0)
		rc = verify_score(&c, names, n_names, res, err);
	scoring_names_free(names, n_names);
	for (i = 0; i < VERIFY_NFILES; i++)
		free(c.bytes[i]);
	json_decref(c.verdict);
	json_decref(c.manifest);
	json_decref(c.score);
	close(c.dirfd);
	return rc;
}
