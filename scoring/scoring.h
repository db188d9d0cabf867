/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scoring — what makes a score trustworthy after the fact (DESIGN §5, Scoring):
 * the results directory (score.json, evidence.tar.zst, manifest.json,
 * verdict.sig), the verdict and audit signing keys, the hash-chained signed
 * audit log, offline verification, and retention with investigation holds.
 * Evaluating criteria inside containers is not here: forged collects the
 * results and hands them to forge_results_write().
 *
 * Layout under FORGE_ROOT:
 *   etc/forge/keys/{verdict,audit}/<key_id>.key  seed, base64url, 0600, owned by us
 *   etc/forge/keys/{verdict,audit}/<key_id>.pub  {"alg","created","key_id","public_key","purpose"}
 *   etc/forge/keys/{verdict,audit}/active        the key id that signs now
 *   var/lib/forge/results/<tenant>/<scenario_id>/ the four result files, nothing else
 *   var/lib/forge/audit/audit.log, audit.head     the log and its signed head
 *   var/lib/forge/holds/<scenario_id>             investigation holds (outside results/)
 *
 * key_id = the first 16 hex characters of sha256(public key) (forge_key_id).
 */
#ifndef FORGE_SCORING_H
#define FORGE_SCORING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* Tenant, scenario and run ids: [A-Za-z0-9_-][A-Za-z0-9._-]{0,63}. */
#define FORGE_SCORING_ID_MAX 64
/* Artifact names: '/'-separated components of [A-Za-z0-9._-] (no "." or ".."),
 * at most 100 bytes so that every name fits a plain ustar header. */
#define FORGE_ARTIFACT_NAME_MAX	 100
#define FORGE_ARTIFACTS_MAX	 4096
#define FORGE_ARTIFACT_BYTES_MAX (64u << 20)
#define FORGE_EVIDENCE_BYTES_MAX (256u << 20) /* all artifacts together, uncompressed */
#define FORGE_CRITERIA_MAX	 256
#define FORGE_CRITERION_REFS_MAX 64
#define FORGE_MESSAGE_MAX	 4096
#define FORGE_WEIGHT_MAX	 1000000
#define FORGE_RETENTION_DAYS_MAX 36500
/* score.json's "value": the exact fraction num/den rounded half up to this
 * many decimals, as a string ("0.666667"), so its bytes never depend on how a
 * platform prints a double. */
#define FORGE_SCORE_DECIMALS  6
#define FORGE_SCORE_VALUE_MAX 24

/* ------------------------------------------------------------------ keys */

enum forge_key_purpose {
	FORGE_KEY_VERDICT = 0, /* signs manifest.json (forged) */
	FORGE_KEY_AUDIT = 1,   /* signs audit log events and the head */
};

/* "verdict" / "audit". */
const char *forge_key_purpose_name(enum forge_key_purpose purpose);
int forge_key_purpose_parse(const char *s, enum forge_key_purpose *out);

/* A secret key loaded for signing. forge_key_wipe() when done. */
struct forge_key {
	enum forge_key_purpose purpose;
	char id[FORGE_KEY_ID_LEN + 1];
	uint8_t pk[FORGE_ED25519_PUBLIC_BYTES];
	uint8_t sk[FORGE_ED25519_SECRET_BYTES];
};

struct forge_pubkey {
	enum forge_key_purpose purpose;
	char id[FORGE_KEY_ID_LEN + 1];
	uint8_t pk[FORGE_ED25519_PUBLIC_BYTES];
	bool active;
	int64_t created; /* unix seconds; 0 when the source did not say */
};

/* Public keys, sorted by creation time then id. */
struct forge_keyset {
	struct forge_pubkey *keys;
	size_t n;
};

/*
 * At start-up: makes sure both key pairs exist and load. In dev mode a missing
 * pair is created (0600 secret, audited as "keys.create"); otherwise a missing
 * key is an error that says how to create one (`forgectl keys rotate PURPOSE`).
 * Refuses key files or key directories with loose permissions or another owner.
 */
int forge_keys_ensure(const struct forge_paths *p, bool dev_mode, struct forge_err *err);
/* Loads the active secret key of purpose, checking owner and mode of the
 * directories and the file, and that the key matches its id. */
int forge_key_load_active(const struct forge_paths *p, enum forge_key_purpose purpose,
			  struct forge_key *out, struct forge_err *err);
void forge_key_wipe(struct forge_key *key);
/*
 * Makes a new key pair of purpose and makes it active (also the way to create
 * the first one in production: audit first, then verdict). Older keys stay:
 * their public halves remain in the key set so earlier verdicts and log lines
 * keep verifying. The "keys.rotate" event (by actor) is signed with the audit
 * key in force before the rotation, so the old key vouches for the new one
 * (only the very first audit key signs its own creation); when the event
 * cannot be written the rotation is undone and refused.
 */
int forge_keys_rotate(const struct forge_paths *p, enum forge_key_purpose purpose,
		      const char *actor, char new_id[FORGE_KEY_ID_LEN + 1], struct forge_err *err);
/*
 * Public keys of purpose from a keys directory: DIR/<purpose>/ when it exists
 * (the layout of etc/forge/keys), else DIR itself (a flat copy of .pub
 * files). DIR/<purpose>/active, when present, marks the active key.
 */
int forge_keyset_load_dir(const char *dir, enum forge_key_purpose purpose, struct forge_keyset *out,
			  struct forge_err *err);
/* Public keys of purpose from one file: a key set ({"keys":[…]}, as
 * forge_keyset_json prints), one .pub record, or a bare base64url key. */
int forge_keyset_load_file(const char *path, enum forge_key_purpose purpose,
			   struct forge_keyset *out, struct forge_err *err);
const struct forge_pubkey *forge_keyset_find(const struct forge_keyset *ks, const char *key_id);
void forge_keyset_free(struct forge_keyset *ks);
/* {"keys":[{"key_id","alg":"ed25519","public_key","purpose","active","created"}…]}
 * (created as RFC 3339 UTC); what GET /audit/keys/… publishes. */
json_t *forge_keyset_json(const struct forge_keyset *ks, struct forge_err *err);
/* Both purposes from <etc>/keys, as one key set document (empty before any key exists). */
json_t *forge_keys_published(const struct forge_paths *p, struct forge_err *err);

/* ------------------------------------------------------------------ audit log */

/*
 * <lib>/audit/audit.log holds one canonical JSON object per line:
 *   {"actor","correlation_id","data","hash","key_id","prev_hash","seq","sig","ts","type"}
 * seq counts from 1; prev_hash is the previous line's hash (64 zeros for the
 * first); hash = sha256 of the canonical event without "hash" and "sig"; sig =
 * Ed25519 (audit key key_id) of the 32 hash bytes, base64url. audit.head
 * (atomic write) = {"hash","key_id","seq","sig","size"}, sig over the canonical
 * head without "sig", size = the log's length after line seq.
 *
 * Appends hold an exclusive flock on audit.log, so forged and forgectl can
 * append at the same time. Each append writes and fdatasyncs the line, then
 * the head. A crash between the two leaves the head one line behind: the next
 * append adopts that line after checking it, and verify accepts it.
 *
 * A torn final line (a crash during the write: bytes after the head's size
 * and no newline) stops all appends with -EUCLEAN until an operator runs
 * forge_audit_repair (`forgectl audit repair`), which moves the torn bytes to
 * audit/torn-<offset>.bin, truncates, and records an "audit.repair" event.
 * Nothing is ever repaired silently.
 */
struct forge_audit;

/* Opens (creating on first use) the log and loads the active audit key;
 * refuses a log in the torn or inconsistent states described above. */
int forge_audit_open(const struct forge_paths *p, struct forge_audit **out, struct forge_err *err);
/*
 * Appends one event; returns once it is on disk. type: [a-z0-9_.]{1,64};
 * actor: who did it (non-empty); correlation_id: NULL takes the logger's
 * (forge_log_correlation_id), still NULL gives JSON null; data: an object
 * (borrowed; NULL is {}). *seq_out (may be NULL) gets the event's seq.
 */
int forge_audit_append(struct forge_audit *a, const char *type, const char *actor,
		       const char *correlation_id, const json_t *data, uint64_t *seq_out,
		       struct forge_err *err);
void forge_audit_close(struct forge_audit *a);
/* open + append + close. */
int forge_audit_record(const struct forge_paths *p, const char *type, const char *actor,
		       const char *correlation_id, const json_t *data, struct forge_err *err);

struct forge_audit_report {
	uint64_t lines;	    /* complete lines read */
	uint64_t head_seq;  /* 0 without a head */
	bool head_lags;	    /* the head is one line behind (crash between the writes) */
	uint64_t bad_line;  /* first bad line (1-based), 0 when the log verifies */
	char last_hash[65]; /* hash of the last good line ("" when none) */
};

/*
 * Checks every line (canonical form, seq, prev_hash, hash, key id known,
 * signature) and the head (signature, seq, hash, size). Keys: the audit keys
 * of keys (NULL: <etc>/keys). Returns 0 when intact; otherwise -EBADMSG (or
 * -ENOKEY for an unknown key id), rep->bad_line set and err naming
 * "audit.log line N: why". Truncation of the tail names the first missing line.
 */
int forge_audit_verify(const struct forge_paths *p, const struct forge_keyset *keys,
		       struct forge_audit_report *rep, struct forge_err *err);

struct forge_audit_repair {
	uint64_t offset;   /* where the torn bytes started */
	uint64_t removed;  /* how many were moved aside; 0: nothing to repair */
	char saved_as[64]; /* file name under <lib>/audit/ */
	char removed_sha256[65];
};

/* Repairs a torn final line (and only that) as described above. */
int forge_audit_repair(const struct forge_paths *p, const char *actor,
		       struct forge_audit_repair *out, struct forge_err *err);

/* ------------------------------------------------------------------ results */

struct forge_image_digest {
	const char *name;   /* container or image name */
	const char *digest; /* "sha256:<64 hex>" */
};

/* What is needed to reproduce the run, and where the result belongs. */
struct forge_run_facts {
	const char *tenant;
	const char *scenario_id;
	const char *run_id;
	const char *template_name;
	const char *template_version;
	const char *template_hash; /* "<64 hex>" or "sha256:<64 hex>", as for the two below */
	const struct forge_image_digest *images;
	size_t n_images;
	const char *seccomp_profile_hash;
	const char *policy_bundle_hash;
	const char *forge_version;  /* NULL: FORGE_VERSION */
	const char *kernel_release; /* NULL: uname -r */
	unsigned retention_days;    /* 0..FORGE_RETENTION_DAYS_MAX */
	int64_t timestamp;	    /* unix seconds; manifest.json's only clock */
};

/* One artifact of evidence.tar.zst, e.g. "criteria/<id>/<n>/stdout",
 * "criteria/<id>/<n>/exit_code", "network/<probe>.json", "state/<x>.json". */
struct forge_artifact {
	const char *name;
	const void *data;
	size_t len;
};

/* One success criterion's outcome, in the template's order. */
struct forge_criterion_result {
	const char *id; /* [A-Za-z0-9._-]{1,64}, unique */
	bool passed;
	uint32_t weight;	     /* 0..FORGE_WEIGHT_MAX; the sum must be > 0 */
	const char *const *evidence; /* artifact names; each must be in the bundle */
	size_t n_evidence;
	const char *message; /* UTF-8, may be NULL ("") */
};

struct forge_score_input {
	const struct forge_run_facts *facts;
	const struct forge_criterion_result *criteria;
	size_t n_criteria;
	const struct forge_artifact *artifacts; /* any order; bundled sorted by name */
	size_t n_artifacts;
};

struct forge_score_value {
	uint64_t num;			   /* sum of the weights of passed criteria */
	uint64_t den;			   /* sum of all weights */
	uint32_t passed;		   /* criteria passed */
	uint32_t total;			   /* criteria */
	char value[FORGE_SCORE_VALUE_MAX]; /* num/den, FORGE_SCORE_DECIMALS decimals */
};

struct forge_results_out {
	char dir[FORGE_PATH_MAX];
	char manifest_sha256[65];
	char key_id[FORGE_KEY_ID_LEN + 1];
	struct forge_score_value score;
};

/*
 * Writes <lib>/results/<tenant>/<scenario_id>/ atomically: the four files go
 * into a temp directory beside it (each fsync'd), which is renamed into place
 * (never over an existing result: -EEXIST), and the parent is fsync'd.
 *
 * score.json (canonical JSON, no clock in it):
 *   {"criteria":[{"evidence":[…],"id","message","passed","weight"}…],
 *    "passed","scenario_id","score":{"den","num","value"},
 *    "template":{"hash","name","version"},"total","version":1}
 * evidence.tar.zst: ustar, entries sorted bytewise by name, regular files only,
 *   0644, uid/gid 0 without names, mtime 0, padded to 10240 bytes; one zstd
 *   frame at level FORGE_EVIDENCE_ZSTD_LEVEL, single-threaded, with checksum
 *   and content size. The same outcome gives the same bytes for both files.
 * manifest.json (canonical JSON):
 *   {"files":{"evidence.tar.zst","score.json"},"key_id","reproduce":{
 *    "forge_version","images":{…},"kernel_release","policy_bundle_hash",
 *    "seccomp_profile_hash","template":{"hash","name","version"}},
 *    "retention_days","run_id","scenario_id","tenant","timestamp","version":1}
 * verdict.sig: {"alg":"ed25519","key_id","sig"}: sig over manifest.json's bytes.
 * Each JSON file is its canonical form followed by one newline.
 *
 * key: the verdict key (NULL: the active one is loaded). audit: when non-NULL
 * a "scenario.score" event (tenant, scenario, run, manifest sha256, key id,
 * score) is appended before returning. out may be NULL.
 */
#define FORGE_EVIDENCE_ZSTD_LEVEL 9
int forge_results_write(const struct forge_paths *p, const struct forge_score_input *in,
			const struct forge_key *key, struct forge_audit *audit,
			struct forge_results_out *out, struct forge_err *err);
/* <lib>/results/<tenant>/<scenario_id>, ids checked. */
int forge_results_dir(const struct forge_paths *p, const char *tenant, const char *scenario_id,
		      char out[FORGE_PATH_MAX], struct forge_err *err);

struct forge_verify_result {
	char key_id[FORGE_KEY_ID_LEN + 1];
	char tenant[FORGE_SCORING_ID_MAX + 1];
	char scenario_id[FORGE_SCORING_ID_MAX + 1];
	char run_id[FORGE_SCORING_ID_MAX + 1];
	struct forge_score_value score;
};

/*
 * Offline verification of a results directory against public verdict keys:
 * exactly the four files (else "missing file X" / "extra file X"), the
 * signature of manifest.json by a known key ("unknown key id X", "bad
 * signature"), each file's sha256 against the manifest ("score.json: sha256
 * mismatch"), and the contents: score.json consistent with itself and the
 * manifest, evidence.tar.zst a reproducible bundle holding every evidence
 * reference. Returns 0, or a negative errno with err naming what failed.
 */
int forge_results_verify(const char *dir, const struct forge_keyset *keys,
			 struct forge_verify_result *res, struct forge_err *err);

/* ------------------------------------------------------------------ retention */

/* Creates (hold) or removes (!hold) <lib>/holds/<scenario_id> and audits it
 * ("results.hold" / "results.unhold"). Holding twice or releasing a scenario
 * that has no hold is -EEXIST / -ENOENT. */
int forge_hold_set(const struct forge_paths *p, const char *scenario_id, bool hold,
		   const char *actor, struct forge_err *err);
bool forge_hold_exists(const struct forge_paths *p, const char *scenario_id);

enum forge_cleanup_action {
	FORGE_CLEANUP_DELETED,	    /* removed (audited as "results.delete") */
	FORGE_CLEANUP_WOULD_DELETE, /* dry run */
	FORGE_CLEANUP_HELD,	    /* past retention, but held */
	FORGE_CLEANUP_KEPT,	    /* within its retention or younger than older_than_days */
	FORGE_CLEANUP_SKIPPED,	    /* no readable manifest: never deleted blindly */
	FORGE_CLEANUP_INCOMPLETE,   /* a stale temp directory of a crashed write, removed */
};

struct forge_cleanup_entry {
	const char *tenant;
	const char *scenario_id; /* the directory name */
	enum forge_cleanup_action action;
	int64_t age_days; /* whole days since the manifest timestamp */
	unsigned retention_days;
	const char *why; /* for SKIPPED: what is wrong */
};

struct forge_cleanup_opts {
	unsigned older_than_days; /* only results at least this old */
	bool dry_run;		  /* report only: nothing removed, nothing audited */
	int64_t now;		  /* unix seconds (tests fix it) */
	const char *actor;
	void (*report)(const struct forge_cleanup_entry *e, void *arg); /* may be NULL */
	void *arg;
};

struct forge_cleanup_stats {
	size_t deleted, held, kept, skipped, incomplete;
};

/*
 * Deletes results older than both older_than_days and their own
 * retention_days (age from the manifest timestamp), except held ones. Each
 * deletion is audited before the directory goes (renamed aside first, so a
 * crash never leaves a half-deleted result that looks complete), then one
 * "results.cleanup" summary. Holds are locked for the whole run.
 */
int forge_results_cleanup(const struct forge_paths *p, const struct forge_cleanup_opts *o,
			  struct forge_cleanup_stats *stats, struct forge_err *err);

#endif /* FORGE_SCORING_H */
