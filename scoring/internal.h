/* SPDX-License-Identifier: Apache-2.0 */
/* scoring's private helpers, shared by its .c files only (not part of scoring.h). */
#ifndef FORGE_SCORING_INTERNAL_H
#define FORGE_SCORING_INTERNAL_H

#include <sys/stat.h>

#include "scoring/scoring.h"

#define SCORING_RESULTS_DIR "results"
#define SCORING_HOLDS_DIR   "holds"
#define SCORING_AUDIT_DIR   "audit"
#define SCORING_KEYS_DIR    "keys"
#define SCORING_ZERO_HASH   "0000000000000000000000000000000000000000000000000000000000000000"

/* The four files of a results directory, in the order verify reports them. */
#define SCORING_SCORE	 "score.json"
#define SCORING_EVIDENCE "evidence.tar.zst"
#define SCORING_MANIFEST "manifest.json"
#define SCORING_VERDICT	 "verdict.sig"
/* manifest.json and verdict.sig are small; score.json is bounded by the criteria limits. */
#define SCORING_JSON_MAX (4u << 20)
#define SCORING_FORMAT	 1

/* "2026-01-27T12:34:56Z", or with milliseconds "…56.789Z" when ms >= 0. */
void scoring_time_format(int64_t secs, int ms, char out[32]);
/* Parses exactly the first form; -EINVAL otherwise. */
int scoring_time_parse(const char *s, int64_t *out);

/* Tenant, scenario and run ids (FORGE_SCORING_ID_MAX). */
bool scoring_id_valid(const char *s);
/* "<64 lowercase hex>" or "sha256:<64 lowercase hex>". */
bool scoring_hash_valid(const char *s);
/* 64 lowercase hex. */
bool scoring_hex64_valid(const char *s);

/* Opens name (one component) beneath dirfd as a directory, without following
 * a symlink; creates it with mode first when create is set. */
int scoring_open_dir(int dirfd, const char *name, bool create, mode_t mode, struct forge_err *err);
/* Opens path (absolute, trusted: a FORGE_ROOT directory) as a directory. */
int scoring_open_path(const char *path, struct forge_err *err);
/* Opens <lib>/<name>, creating it 0700 when create is set. */
int scoring_open_lib_dir(const struct forge_paths *p, const char *name, bool create,
			 struct forge_err *err);
/* Creates dirfd/name (must not exist), writes data, fsyncs. */
int scoring_write_new(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		      struct forge_err *err);
/* One write(2) of all of data to a regular file; a short write is -ENOSPC. */
int scoring_write_once(int fd, const void *data, size_t len);
int scoring_fsync_dir(int dirfd, const char *what, struct forge_err *err);

/* Canonical JSON of v followed by one newline, as every result file is written. */
char *scoring_json_file(const json_t *v, size_t *len, struct forge_err *err);
/* Parses a JSON document that must be an object (duplicate keys refused). */
json_t *scoring_json_parse(const char *buf, size_t len, const char *what, struct forge_err *err);
/* String member key of obj, or NULL with err naming "what: key". */
const char *scoring_json_str(const json_t *obj, const char *key, const char *what,
			     struct forge_err *err);

/* The score value as score.json spells it: num/den rounded half up. */
void scoring_value_format(uint64_t num, uint64_t den, char out[FORGE_SCORE_VALUE_MAX]);

/* Ed25519 signature of msg as base64url, and its check against one key. */
int scoring_sign_b64(const struct forge_key *key, const void *msg, size_t len, char out[90],
		     struct forge_err *err);
/* 0 when sig_b64 is pk's signature of msg; -EBADMSG otherwise (what names the thing). */
int scoring_verify_b64(const uint8_t pk[FORGE_ED25519_PUBLIC_BYTES], const char *sig_b64,
		       const void *msg, size_t len, const char *what, struct forge_err *err);

/* A JSON object of the actor's event, e.g. for holds and cleanup. */
int scoring_audit_event(const struct forge_paths *p, const char *type, const char *actor,
			json_t *data_stolen, struct forge_err *err);

/* Unzstd + list of a bundle, for verify: sorted, unique, every entry a 0644
 * regular file owned by 0:0 with mtime 0. names (malloc'd array of malloc'd
 * strings) may be NULL. */
int scoring_evidence_list(const void *zst, size_t len, char ***names, size_t *n,
			  struct forge_err *err);
void scoring_names_free(char **names, size_t n);
/* The bundle bytes for sorted, checked artifacts. */
int scoring_evidence_build(const struct forge_artifact *const *sorted, size_t n, void **out,
			   size_t *outlen, struct forge_err *err);

#endif /* FORGE_SCORING_INTERNAL_H */
