/* SPDX-License-Identifier: Apache-2.0 */
/* Writing a results directory: score.json, evidence.tar.zst, manifest.json, verdict.sig. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "scoring/internal.h"

#define RESULTS_DIR_MODE  0755
#define RESULTS_FILE_MODE 0644
#define RESULTS_TEXT_MAX  256 /* template name/version, image names, versions */

/* ------------------------------------------------------------ input checks */

static bool results_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* '/'-separated components of [A-Za-z0-9._-], none empty, "." or "..". */
static bool results_artifact_name_valid(const char *s)
{
	size_t i, n, start = 0;

	n = s ? strnlen(s, FORGE_ARTIFACT_NAME_MAX + 1) : 0;
	if (n == 0 || n > FORGE_ARTIFACT_NAME_MAX)
		return false;
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '/') {
			if (!results_name_char(s[i]))
				return false;
			continue;
		}
		if (i == start || (i - start == 1 && s[start] == '.') ||
		    (i - start == 2 && s[start] == '.' && s[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

static bool results_text_valid(const char *s)
{
	size_t n = s ? strnlen(s, RESULTS_TEXT_MAX + 1) : 0;

	return n > 0 && n <= RESULTS_TEXT_MAX;
}

static int results_check_facts(const struct forge_run_facts *f, struct forge_err *err)
{
	static const char what[] = "results";
	size_t i;

	if (!f)
		return forge_err_set(err, -EINVAL, "%s: no run facts", what);
	if (!scoring_id_valid(f->tenant))
		return forge_err_set(err, -EINVAL, "%s: bad tenant \"%s\"", what,
				     f->tenant ? f->tenant : "(null)");
	if (!scoring_id_valid(f->scenario_id))
		return forge_err_set(err, -EINVAL, "%s: bad scenario id \"%s\"", what,
				     f->scenario_id ? f->scenario_id : "(null)");
	if (!scoring_id_valid(f->run_id))
		return forge_err_set(err, -EINVAL, "%s: bad run id \"%s\"", what,
				     f->run_id ? f->run_id : "(null)");
	if (!results_text_valid(f->template_name) || !results_text_valid(f->template_version))
		return forge_err_set(err, -EINVAL, "%s: template name and version required", what);
	if (!scoring_hash_valid(f->template_hash))
		return forge_err_set(err, -EINVAL, "%s: template hash is not a sha256", what);
	if (!scoring_hash_valid(f->seccomp_profile_hash))
		return forge_err_set(err, -EINVAL, "%s: seccomp profile hash is not a sha256",
				     what);
	if (!scoring_hash_valid(f->policy_bundle_hash))
		return forge_err_set(err, -EINVAL, "%s: policy bundle hash is not a sha256", what);
	if (f->forge_version && !results_text_valid(f->forge_version))
		return forge_err_set(err, -EINVAL, "%s: bad forge version", what);
	if (f->kernel_release && !results_text_valid(f->kernel_release))
		return forge_err_set(err, -EINVAL, "%s: bad kernel release", what);
	if (f->retention_days > FORGE_RETENTION_DAYS_MAX)
		return forge_err_set(err, -EINVAL, "%s: retention of %u days, more than %d", what,
				     f->retention_days, FORGE_RETENTION_DAYS_MAX);
	if (f->timestamp < 0)
		return forge_err_set(err, -EINVAL, "%s: timestamp before 1970", what);
	if (f->n_images && !f->images)
		return forge_err_set(err, -EINVAL, "%s: no image digests", what);
	for (i = 0; i < f->n_images; i++) {
		if (!results_text_valid(f->images[i].name))
			return forge_err_set(err, -EINVAL, "%s: images[%zu]: bad name", what, i);
		if (!f->images[i].digest || strncmp(f->images[i].digest, "sha256:", 7) != 0 ||
		    !scoring_hex64_valid(f->images[i].digest + 7))
			return forge_err_set(err, -EINVAL,
					     "%s: image %s: digest is not sha256:<64 hex>", what,
					     f->images[i].name);
	}
	return 0;
}

static int results_name_cmp(const void *a, const void *b)
{
	const struct forge_artifact *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static bool results_has_artifact(const struct forge_artifact *const *sorted, size_t n,
				 const char *name)
{
	struct forge_artifact key = {.name = name};
	const struct forge_artifact *kp = &key;

	return bsearch(&kp, sorted, n, sizeof(*sorted), results_name_cmp) != NULL;
}

/* Sorted pointers to the artifacts; names valid, unique, and never both a file
 * and a directory ("a" and "a/b" cannot both be extracted). */
static int results_sort_artifacts(const struct forge_score_input *in,
				  const struct forge_artifact ***out, struct forge_err *err)
{
	const struct forge_artifact **sorted;
	char prefix[FORGE_ARTIFACT_NAME_MAX + 1];
	size_t i, total = 0;
	char *slash;
	int rc = 0;

	*out = NULL;
	if (in->n_artifacts > FORGE_ARTIFACTS_MAX)
		return forge_err_set(err, -E2BIG, "results: %zu artifacts, more than %d",
				     in->n_artifacts, FORGE_ARTIFACTS_MAX);
	if (in->n_artifacts && !in->artifacts)
		return forge_err_set(err, -EINVAL, "results: no artifacts");
	sorted = calloc(in->n_artifacts + 1, sizeof(*sorted));
	if (!sorted)
		return forge_err_set(err, -ENOMEM, "results: out of memory");
	for (i = 0; i < in->n_artifacts && rc == 0; i++) {
		const struct forge_artifact *a = &in->artifacts[i];

		if (!results_artifact_name_valid(a->name))
			rc = forge_err_set(err, -EINVAL,
					   "results: artifact \"%s\": bad name (components of "
					   "[A-Za-z0-9._-], at most %d bytes)",
					   a->name ? a->name : "(null)", FORGE_ARTIFACT_NAME_MAX);
		else if ((a->len && !a->data) || a->len > FORGE_ARTIFACT_BYTES_MAX ||
			 (total += a->len) > FORGE_EVIDENCE_BYTES_MAX)
			rc = forge_err_set(err, a->len && !a->data ? -EINVAL : -EFBIG,
					   "results: artifact %s: no data or over the size limits",
					   a->name);
		sorted[i] = a;
	}
	if (rc < 0)
		goto out;
	qsort(sorted, in->n_artifacts, sizeof(*sorted), results_name_cmp);
	for (i = 0; i < in->n_artifacts && rc == 0; i++) {
		if (i && strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
			rc = forge_err_set(err, -EINVAL, "results: artifact %s given twice",
					   sorted[i]->name);
			break;
		}
		snprintf(prefix, sizeof(prefix), "%s", sorted[i]->name);
		while (rc == 0 && (slash = strrchr(prefix, '/'))) {
			*slash = '\0';
			if (results_has_artifact(sorted, in->n_artifacts, prefix))
				rc = forge_err_set(err, -EINVAL,
						   "results: artifact %s: %s is also a file",
						   sorted[i]->name, prefix);
		}
	}
out:
	if (rc < 0)
		free(sorted);
	else
		*out = sorted;
	return rc;
}

static int results_check_criteria(const struct forge_score_input *in,
				  const struct forge_artifact *const *sorted,
				  struct forge_score_value *v, struct forge_err *err)
{
	size_t i, j;

	memset(v, 0, sizeof(*v));
	if (in->n_criteria == 0 || !in->criteria)
		return forge_err_set(err, -EINVAL, "results: no criteria to score");
	if (in->n_criteria > FORGE_CRITERIA_MAX)
		return forge_err_set(err, -E2BIG, "results: %zu criteria, more than %d",
				     in->n_criteria, FORGE_CRITERIA_MAX);
	for (i = 0; i < in->n_criteria; i++) {
		const struct forge_criterion_result *c = &in->criteria[i];

		/* Criterion ids are artifact path components: the same charset. */
		if (!c->id || !*c->id || strlen(c->id) > 64 || strchr(c->id, '/') ||
		    !results_artifact_name_valid(c->id))
			return forge_err_set(err, -EINVAL, "results: criteria[%zu]: bad id \"%s\"",
					     i, c->id ? c->id : "(null)");
		for (j = 0; j < i; j++)
			if (strcmp(in->criteria[j].id, c->id) == 0)
				return forge_err_set(err, -EINVAL,
						     "results: criterion %s given twice", c->id);
		if (c->weight > FORGE_WEIGHT_MAX)
			return forge_err_set(err, -EINVAL,
					     "results: criterion %s: weight %u, more than %d",
					     c->id, c->weight, FORGE_WEIGHT_MAX);
		if (c->message && strlen(c->message) > FORGE_MESSAGE_MAX)
			return forge_err_set(err, -EINVAL,
					     "results: criterion %s: message longer than %d bytes",
					     c->id, FORGE_MESSAGE_MAX);
		if (c->n_evidence > FORGE_CRITERION_REFS_MAX || (c->n_evidence && !c->evidence))
			return forge_err_set(err, -EINVAL,
					     "results: criterion %s: bad evidence list", c->id);
		for (j = 0; j < c->n_evidence; j++)
			if (!c->evidence[j] ||
			    !results_has_artifact(sorted, in->n_artifacts, c->evidence[j]))
				return forge_err_set(err, -EINVAL,
						     "results: criterion %s: evidence \"%s\" is "
						     "not an artifact",
						     c->id,
						     c->evidence[j] ? c->evidence[j] : "(null)");
		v->den += c->weight;
		v->total++;
		if (c->passed) {
			v->num += c->weight;
			v->passed++;
		}
	}
	if (v->den == 0)
		return forge_err_set(err, -EINVAL, "results: every criterion weighs 0");
	scoring_value_format(v->num, v->den, v->value);
	return 0;
}

/* ------------------------------------------------------------ documents */

static json_t *results_template_json(const struct forge_run_facts *f)
{
	return json_pack("{s:s, s:s, s:s}", "hash", f->template_hash, "name", f->template_name,
			 "version", f->template_version);
}

static json_t *results_score_json(const struct forge_score_input *in,
				  const struct forge_score_value *v, struct forge_err *err)
{
	json_t *crit = json_array(), *refs, *c, *doc;
	size_t i, j;

	for (i = 0; crit && i < in->n_criteria; i++) {
		const struct forge_criterion_result *r = &in->criteria[i];

		refs = json_array();
		for (j = 0; refs && j < r->n_evidence; j++)
			if (json_array_append_new(refs, json_string(r->evidence[j])) < 0) {
				json_decref(refs);
				refs = NULL;
			}
		c = refs ? json_pack("{s:o, s:s, s:s, s:b, s:I}", "evidence", refs, "id", r->id,
				     "message", r->message ? r->message : "", "passed", r->passed,
				     "weight", (json_int_t)r->weight)
			 : NULL;
		/* json_pack consumed refs even when it failed. */
		if (!c || json_array_append_new(crit, c) < 0) {
			json_decref(crit);
			forge_err_set(err, -EINVAL,
				      "results: criterion %s: message is not valid UTF-8", r->id);
			return NULL;
		}
	}
	doc =
	    crit ? json_pack("{s:o, s:I, s:s, s:{s:I, s:I, s:s}, s:o, s:I, s:i}", "criteria", crit,
			     "passed", (json_int_t)v->passed, "scenario_id", in->facts->scenario_id,
			     "score", "den", (json_int_t)v->den, "num", (json_int_t)v->num, "value",
			     v->value, "template", results_template_json(in->facts), "total",
			     (json_int_t)v->total, "version", SCORING_FORMAT)
		 : NULL;
	if (!doc)
		forge_err_set(err, -ENOMEM, "results: cannot encode score.json");
	return doc;
}

static json_t *results_manifest_json(const struct forge_run_facts *f, const char *score_sha,
				     const char *evidence_sha, const char *key_id,
				     struct forge_err *err)
{
	json_t *images = json_object(), *doc = NULL;
	const char *kernel = f->kernel_release;
	char when[32];
	struct utsname u;
	size_t i;

	if (!kernel) {
		kernel = uname(&u) == 0 ? u.release : "unknown";
	}
	for (i = 0; images && i < f->n_images; i++) {
		if (json_object_get(images, f->images[i].name)) {
			forge_err_set(err, -EINVAL, "results: image %s given twice",
				      f->images[i].name);
			goto out;
		}
		if (json_object_set_new(images, f->images[i].name,
					json_string(f->images[i].digest)) < 0)
			break;
	}
	if (!images || i < f->n_images) {
		forge_err_set(err, -EINVAL, "results: image names must be UTF-8");
		goto out;
	}
	scoring_time_format(f->timestamp, -1, when);
	doc = json_pack(
	    "{s:{s:s, s:s}, s:s, s:{s:s, s:O, s:s, s:s, s:s, s:o}, s:I, s:s, s:s, "
	    "s:s, s:s, s:i}",
	    "files", SCORING_EVIDENCE, evidence_sha, SCORING_SCORE, score_sha, "key_id", key_id,
	    "reproduce", "forge_version", f->forge_version ? f->forge_version : FORGE_VERSION,
	    "images", images, "kernel_release", kernel, "policy_bundle_hash", f->policy_bundle_hash,
	    "seccomp_profile_hash", f->seccomp_profile_hash, "template", results_template_json(f),
	    "retention_days", (json_int_t)f->retention_days, "run_id", f->run_id, "scenario_id",
	    f->scenario_id, "tenant", f->tenant, "timestamp", when, "version", SCORING_FORMAT);
	if (!doc)
		forge_err_set(err, -EINVAL, "results: cannot encode manifest.json (UTF-8?)");
out:
	json_decref(images);
	return doc;
}

/* ------------------------------------------------------------ the directory */

int forge_results_dir(const struct forge_paths *p, const char *tenant, const char *scenario_id,
		      char out[FORGE_PATH_MAX], struct forge_err *err)
{
	int n;

	if (!scoring_id_valid(tenant) || !scoring_id_valid(scenario_id))
		return forge_err_set(err, -EINVAL, "results: bad tenant or scenario id");
	n = snprintf(out, FORGE_PATH_MAX, "%s/%s/%s/%s", p->lib, SCORING_RESULTS_DIR, tenant,
		     scenario_id);
	if (n < 0 || n >= FORGE_PATH_MAX)
		return forge_err_set(err, -ENAMETOOLONG, "results: path too long");
	return 0;
}

/* Opens dirfd/name, creating it (and making that durable) when missing. */
static int results_open_created(int dirfd, const char *name, const char *what,
				struct forge_err *err)
{
	int fd = scoring_open_dir(dirfd, name, false, 0, err);

	if (fd != -ENOENT)
		return fd;
	forge_err_clear(err);
	fd = scoring_open_dir(dirfd, name, true, RESULTS_DIR_MODE, err);
	if (fd >= 0 && fsync(dirfd) < 0) {
		forge_err_errno(err, errno, "results: fsync %s", what);
		close(fd);
		return -EIO;
	}
	return fd;
}

struct results_files {
	char *score, *manifest, *verdict;
	void *evidence;
	size_t score_len, manifest_len, verdict_len, evidence_len;
};

/*
 * Creates the four files in dirfd. All are written before the first fsync, so
 * that one journal commit carries them all and the later fsyncs find nothing
 * left to do: on ext4 this halves what a result costs.
 */
static int results_write_files(int dirfd, const struct results_files *f, struct forge_err *err)
{
	const struct {
		const char *name;
		const void *data;
		size_t len;
	} w[] = {
	    {SCORING_SCORE, f->score, f->score_len},
	    {SCORING_EVIDENCE, f->evidence, f->evidence_len},
	    {SCORING_MANIFEST, f->manifest, f->manifest_len},
	    {SCORING_VERDICT, f->verdict, f->verdict_len},
	};
	int fds[4] = {-1, -1, -1, -1}, rc = 0, e;
	size_t i;

	for (i = 0; i < 4 && rc == 0; i++) {
		fds[i] =
		    openat(dirfd, w[i].name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
			   RESULTS_FILE_MODE);
		e = fds[i] < 0 ? -errno : 0;
		/* The umask must not decide who may read a verdict. */
		if (e == 0)
			e = fchmod(fds[i], RESULTS_FILE_MODE) < 0
				? -errno
				: scoring_write_once(fds[i], w[i].data, w[i].len);
		if (e < 0)
			rc = forge_err_errno(err, e, "results: write %s", w[i].name);
	}
	for (i = 0; i < 4 && rc == 0; i++)
		if (fsync(fds[i]) < 0)
			rc = forge_err_errno(err, errno, "results: fsync %s", w[i].name);
	for (i = 0; i < 4; i++)
		if (fds[i] >= 0 && close(fds[i]) < 0 && rc == 0)
			rc = forge_err_errno(err, errno, "results: close %s", w[i].name);
	return rc;
}

static int results_write_dir(int tenantfd, const char *scenario, const struct results_files *f,
			     struct forge_err *err)
{
	char tmp[FORGE_SCORING_ID_MAX + 32], rnd[17];
	int fd = -1, rc;

	forge_random_hex(rnd, 16);
	snprintf(tmp, sizeof(tmp), ".%s.tmp.%s", scenario, rnd);
	if (mkdirat(tenantfd, tmp, RESULTS_DIR_MODE) < 0)
		return forge_err_errno(err, errno, "results: mkdir %s", tmp);
	fd = scoring_open_dir(tenantfd, tmp, false, 0, err);
	rc = fd < 0 ? fd : fchmod(fd, RESULTS_DIR_MODE) < 0 ? -errno : 0;
	if (rc < 0)
		goto out;
	rc = results_write_files(fd, f, err) ?: scoring_fsync_dir(fd, tmp, err);
	if (rc < 0)
		goto out;
	/* A verdict is never replaced: a second scoring of the scenario is refused. */
	if (renameat2(tenantfd, tmp, tenantfd, scenario, RENAME_NOREPLACE) < 0) {
		rc = errno == EEXIST || errno == ENOTEMPTY
			 ? forge_err_set(err, -EEXIST, "results: %s already has results", scenario)
			 : forge_err_errno(err, errno, "results: rename %s to %s", tmp, scenario);
		goto out;
	}
	tmp[0] = '\0';
	rc = scoring_fsync_dir(tenantfd, scenario, err);
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		forge_remove_tree(tenantfd, tmp, NULL);
	return rc;
}

static int results_place(const struct forge_paths *p, const struct forge_run_facts *facts,
			 const struct results_files *files, struct forge_err *err)
{
	int lib = -1, results = -1, tenant = -1, rc;

	rc = forge_paths_ensure(p, err);
	if (rc < 0)
		return rc;
	lib = scoring_open_path(p->lib, err);
	if (lib < 0)
		return lib;
	results = results_open_created(lib, SCORING_RESULTS_DIR, p->lib, err);
	rc = results;
	if (results >= 0)
		rc = tenant =
		    results_open_created(results, facts->tenant, SCORING_RESULTS_DIR, err);
	if (tenant >= 0)
		rc = results_write_dir(tenant, facts->scenario_id, files, err);
	if (tenant >= 0)
		close(tenant);
	if (results >= 0)
		close(results);
	close(lib);
	return rc;
}

static json_t *results_audit_data(const struct forge_run_facts *f,
				  const struct forge_results_out *o)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "tenant", f->tenant, "scenario_id",
			 f->scenario_id, "run_id", f->run_id, "manifest_sha256", o->manifest_sha256,
			 "key_id", o->key_id, "score", o->score.value);
}

/* Builds the four files' bytes. Builders that return NULL leave the reason in e. */
static int results_build(const struct forge_score_input *in, const struct forge_key *key,
			 struct results_files *f, struct forge_results_out *o,
			 struct forge_err *err)
{
	const struct forge_artifact **sorted = NULL;
	char score_sha[65], evidence_sha[65], sig[90];
	json_t *score = NULL, *manifest = NULL, *verdict = NULL;
	struct forge_err e = {0};
	int rc;

	rc = results_check_facts(in->facts, &e);
	if (rc == 0)
		rc = results_sort_artifacts(in, &sorted, &e);
	if (rc == 0)
		rc = results_check_criteria(in, sorted, &o->score, &e);
	if (rc < 0)
		goto out;
	score = results_score_json(in, &o->score, &e);
	f->score = score ? scoring_json_file(score, &f->score_len, &e) : NULL;
	if (!f->score)
		goto out;
	rc = scoring_evidence_build(sorted, in->n_artifacts, &f->evidence, &f->evidence_len, &e);
	if (rc < 0)
		goto out;
	forge_sha256_hex(f->score, f->score_len, score_sha);
	forge_sha256_hex(f->evidence, f->evidence_len, evidence_sha);
	manifest = results_manifest_json(in->facts, score_sha, evidence_sha, key->id, &e);
	f->manifest = manifest ? scoring_json_file(manifest, &f->manifest_len, &e) : NULL;
	if (!f->manifest)
		goto out;
	rc = scoring_sign_b64(key, f->manifest, f->manifest_len, sig, &e);
	if (rc < 0)
		goto out;
	verdict = json_pack("{s:s, s:s, s:s}", "alg", "ed25519", "key_id", key->id, "sig", sig);
	f->verdict = verdict ? scoring_json_file(verdict, &f->verdict_len, &e) : NULL;
	if (!f->verdict)
		goto out;
	forge_sha256_hex(f->manifest, f->manifest_len, o->manifest_sha256);
	memcpy(o->key_id, key->id, sizeof(o->key_id));
out:
	if (!f->verdict) {
		rc = e.code ? e.code : forge_err_set(&e, -ENOMEM, "results: out of memory");
		if (err)
			*err = e;
	}
	json_decref(verdict);
	json_decref(manifest);
	json_decref(score);
	free(sorted);
	return rc;
}

int forge_results_write(const struct forge_paths *p, const struct forge_score_input *in,
			const struct forge_key *key, struct forge_audit *audit,
			struct forge_results_out *out, struct forge_err *err)
{
	struct results_files files = {0};
	struct forge_results_out o = {0};
	struct forge_key own;
	json_t *data = NULL;
	int rc;

	if (!in || !in->facts)
		return forge_err_set(err, -EINVAL, "results: no input");
	if (!key) {
		rc = forge_key_load_active(p, FORGE_KEY_VERDICT, &own, err);
		if (rc < 0)
			return rc;
		key = &own;
	}
	rc = results_build(in, key, &files, &o, err);
	if (rc == 0)
		rc = forge_results_dir(p, in->facts->tenant, in->facts->scenario_id, o.dir, err);
	if (rc == 0)
		rc = results_place(p, in->facts, &files, err);
	if (rc == 0 && audit) {
		data = results_audit_data(in->facts, &o);
		rc = data ? forge_audit_append(audit, "scenario.score", "forged", NULL, data, NULL,
					       err)
			  : forge_err_set(err, -ENOMEM, "results: out of memory");
	}
	if (rc == 0 && out)
		*out = o;
	json_decref(data);
	free(files.score);
	free(files.evidence);
	free(files.manifest);
	free(files.verdict);
	if (key == &own)
		forge_key_wipe(&own);
	return rc;
}
