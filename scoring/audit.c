/* SPDX-License-Identifier: Apache-2.0 */
/* The audit log: hash-chained, Ed25519-signed JSON lines with a signed head (see scoring.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scoring/internal.h"

#define AUDIT_LOG      "audit.log"
#define AUDIT_HEAD     "audit.head"
#define AUDIT_LINE_MAX (1u << 20)
#define AUDIT_HEAD_MAX 4096
#define AUDIT_TYPE_MAX 64
#define AUDIT_WHY_MAX  256
/* The members of a line, sorted as the canonical form has them. */
static const char *const audit_fields[] = {
    "actor", "correlation_id", "data", "hash", "key_id", "prev_hash", "seq", "sig", "ts", "type",
};

struct forge_audit {
	struct forge_paths paths;
	int dirfd; /* <lib>/audit */
	int logfd; /* audit.log, O_APPEND */
	struct forge_key key;
};

/* The chain's state as the head (or an adopted line after it) gives it. */
struct audit_state {
	bool head_present;
	bool adopted;  /* the line after the head was taken over (crash recovery) */
	uint64_t seq;  /* last event; 0 for an empty log */
	char hash[65]; /* its hash; zeros for an empty log */
	uint64_t size; /* log length after it */
	char key_id[FORGE_KEY_ID_LEN + 1];
	char sig[90];
};

/* ------------------------------------------------------------ one line */

static int audit_hex_digest(const char *hex, uint8_t out[32])
{
	size_t n;

	if (!scoring_hex64_valid(hex))
		return -EINVAL;
	for (n = 0; n < 32; n++) {
		unsigned v;

		if (sscanf(hex + 2 * n, "%2x", &v) != 1)
			return -EINVAL;
		out[n] = (uint8_t)v;
	}
	return 0;
}

static bool audit_type_valid(const char *s)
{
	size_t i, n = s ? strnlen(s, AUDIT_TYPE_MAX + 1) : 0;

	if (n == 0 || n > AUDIT_TYPE_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '.'))
			return false;
	return true;
}

/* sha256 of the canonical event without "hash" and "sig". */
static int audit_event_hash(const json_t *ev, char hex[65], struct forge_err *err)
{
	json_t *core = json_copy((json_t *)ev);
	int rc;

	if (!core)
		return forge_err_set(err, -ENOMEM, "audit: out of memory");
	json_object_del(core, "hash");
	json_object_del(core, "sig");
	rc = forge_json_canonical_sha256(core, hex, err);
	json_decref(core);
	return rc;
}

/*
 * Checks one complete line (without its newline) as event number seq after
 * prev_hash. On failure returns -EBADMSG (-ENOKEY for an unknown key) with
 * why; on success fills hash.
 */
static int audit_check_line(const char *line, size_t len, uint64_t seq, const char *prev_hash,
			    const struct forge_keyset *ks, char hash[65], char why[AUDIT_WHY_MAX])
{
	const char *h, *prev, *kid, *sig;
	const struct forge_pubkey *pk;
	struct forge_err e = {0};
	uint8_t digest[32];
	json_error_t jerr;
	char *canon = NULL, mine[65];
	json_t *ev, *v;
	int rc = -EBADMSG;
	size_t i;

	ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(ev)) {
		snprintf(why, AUDIT_WHY_MAX, "not a JSON object (%s)",
			 ev ? "other type" : jerr.text);
		goto out;
	}
	if (json_object_size(ev) != sizeof(audit_fields) / sizeof(audit_fields[0])) {
		snprintf(why, AUDIT_WHY_MAX, "has %zu members, an event has %zu",
			 json_object_size(ev), sizeof(audit_fields) / sizeof(audit_fields[0]));
		goto out;
	}
	for (i = 0; i < sizeof(audit_fields) / sizeof(audit_fields[0]); i++)
		if (!json_object_get(ev, audit_fields[i])) {
			snprintf(why, AUDIT_WHY_MAX, "no \"%s\"", audit_fields[i]);
			goto out;
		}
	v = json_object_get(ev, "seq");
	h = json_string_value(json_object_get(ev, "hash"));
	prev = json_string_value(json_object_get(ev, "prev_hash"));
	kid = json_string_value(json_object_get(ev, "key_id"));
	sig = json_string_value(json_object_get(ev, "sig"));
	if (!json_is_integer(v) || !h || !prev || !kid || !sig ||
	    !json_is_object(json_object_get(ev, "data")) ||
	    !json_is_string(json_object_get(ev, "ts")) ||
	    !json_is_string(json_object_get(ev, "type")) ||
	    !json_is_string(json_object_get(ev, "actor"))) {
		snprintf(why, AUDIT_WHY_MAX, "a member has the wrong type");
		goto out;
	}
	/* Byte-exact: an edit that keeps the meaning still shows. */
	canon = forge_json_canonical(ev, NULL);
	if (!canon || strlen(canon) != len || memcmp(canon, line, len) != 0) {
		snprintf(why, AUDIT_WHY_MAX, "not in canonical form (the line was edited)");
		goto out;
	}
	if ((uint64_t)json_integer_value(v) != seq) {
		snprintf(why, AUDIT_WHY_MAX,
			 "seq %" JSON_INTEGER_FORMAT " where %" PRIu64
			 " was expected (a line was deleted, inserted or reordered)",
			 json_integer_value(v), seq);
		goto out;
	}
	if (strcmp(prev, prev_hash) != 0) {
		snprintf(why, AUDIT_WHY_MAX,
			 "prev_hash is not the hash of the line before (a line was deleted, "
			 "inserted or reordered)");
		goto out;
	}
	if (audit_event_hash(ev, mine, &e) < 0 || strcmp(mine, h) != 0) {
		snprintf(why, AUDIT_WHY_MAX,
			 "hash does not match the content (the line was modified)");
		goto out;
	}
	pk = forge_keyset_find(ks, kid);
	if (!pk) {
		snprintf(why, AUDIT_WHY_MAX, "unknown audit key id %s", kid);
		rc = -ENOKEY;
		goto out;
	}
	audit_hex_digest(h, digest);
	if (scoring_verify_b64(pk->pk, sig, digest, sizeof(digest), "sig", &e) < 0) {
		snprintf(why, AUDIT_WHY_MAX, "bad signature (key id %s)", kid);
		goto out;
	}
	memcpy(hash, h, 65);
	rc = 0;
out:
	free(canon);
	json_decref(ev);
	return rc;
}

/* ------------------------------------------------------------ the head */

static json_t *audit_head_core(const struct audit_state *st)
{
	return json_pack("{s:s, s:s, s:I, s:I}", "hash", st->hash, "key_id", st->key_id, "seq",
			 (json_int_t)st->seq, "size", (json_int_t)st->size);
}

/* Reads audit.head; absent means an empty chain. The signature is checked
 * only when ks is given (appends trust their own file; verify does not). */
static int audit_read_head(int dirfd, const struct forge_keyset *ks, struct audit_state *st,
			   struct forge_err *err)
{
	const char *hash, *kid, *sig;
	const struct forge_pubkey *pk;
	json_t *doc = NULL, *core = NULL, *seq, *size;
	char *buf = NULL, *canon = NULL;
	size_t len;
	int rc;

	memset(st, 0, sizeof(*st));
	memcpy(st->hash, SCORING_ZERO_HASH, sizeof(st->hash));
	rc = forge_read_file(dirfd, AUDIT_HEAD, &buf, &len, AUDIT_HEAD_MAX, err);
	if (rc == -ENOENT) {
		forge_err_clear(err);
		return 0;
	}
	if (rc < 0)
		return rc;
	doc = scoring_json_parse(buf, len, AUDIT_HEAD, err);
	rc = -EBADMSG;
	if (!doc)
		goto out;
	seq = json_object_get(doc, "seq");
	size = json_object_get(doc, "size");
	hash = json_string_value(json_object_get(doc, "hash"));
	kid = json_string_value(json_object_get(doc, "key_id"));
	sig = json_string_value(json_object_get(doc, "sig"));
	if (json_object_size(doc) != 5 || !json_is_integer(seq) || json_integer_value(seq) < 1 ||
	    !json_is_integer(size) || json_integer_value(size) < 1 || !scoring_hex64_valid(hash) ||
	    !forge_key_id_is_valid(kid) || !sig || strlen(sig) >= sizeof(st->sig)) {
		forge_err_set(err, rc, "%s: not a valid head", AUDIT_HEAD);
		goto out;
	}
	st->head_present = true;
	st->seq = (uint64_t)json_integer_value(seq);
	st->size = (uint64_t)json_integer_value(size);
	memcpy(st->hash, hash, 65);
	memcpy(st->key_id, kid, FORGE_KEY_ID_LEN + 1);
	snprintf(st->sig, sizeof(st->sig), "%s", sig);
	rc = 0;
	if (!ks)
		goto out;
	pk = forge_keyset_find(ks, kid);
	if (!pk) {
		rc = forge_err_set(err, -ENOKEY, "%s: unknown audit key id %s", AUDIT_HEAD, kid);
		goto out;
	}
	core = audit_head_core(st);
	canon = core ? forge_json_canonical(core, err) : NULL;
	rc = canon ? scoring_verify_b64(pk->pk, sig, canon, strlen(canon), AUDIT_HEAD, err)
		   : -ENOMEM;
out:
	free(canon);
	json_decref(core);
	json_decref(doc);
	free(buf);
	return rc;
}

static int audit_write_head(struct forge_audit *a, struct audit_state *st, struct forge_err *err)
{
	json_t *core;
	char *canon = NULL, *text = NULL;
	size_t len;
	int rc = -ENOMEM;

	memcpy(st->key_id, a->key.id, sizeof(st->key_id));
	core = audit_head_core(st);
	canon = core ? forge_json_canonical(core, err) : NULL;
	if (!canon)
		goto out;
	rc = scoring_sign_b64(&a->key, canon, strlen(canon), st->sig, err);
	if (rc < 0)
		goto out;
	rc = json_object_set_new(core, "sig", json_string(st->sig)) < 0 ? -ENOMEM : 0;
	text = rc == 0 ? scoring_json_file(core, &len, err) : NULL;
	rc = text ? forge_atomic_write(a->dirfd, AUDIT_HEAD, text, len, 0600, err) : -ENOMEM;
out:
	if (rc == -ENOMEM && err && !err->code)
		forge_err_set(err, rc, "audit: out of memory");
	free(text);
	free(canon);
	json_decref(core);
	return rc;
}

/* ------------------------------------------------------------ state under the lock */

/* Audit public keys from <etc>/keys (what verify and adoption check against). */
static int audit_load_keys(const struct forge_paths *p, struct forge_keyset *ks,
			   struct forge_err *err)
{
	char dir[FORGE_PATH_MAX];
	int rc;

	rc = forge_path_join(dir, sizeof(dir), p->etc, SCORING_KEYS_DIR, err);
	return rc < 0 ? rc : forge_keyset_load_dir(dir, FORGE_KEY_AUDIT, ks, err);
}

/* The bytes after the head's size, at most one line and its newline. */
static int audit_read_extra(int logfd, uint64_t from, uint64_t size, char **out, size_t *len,
			    struct forge_err *err)
{
	size_t n = (size_t)(size - from);
	ssize_t got;
	char *buf;

	*out = NULL;
	if (size - from > AUDIT_LINE_MAX + 1)
		return forge_err_set(err, -EBADMSG,
				     "%s: %" PRIu64 " bytes after what its signed head covers: "
				     "run forgectl audit verify",
				     AUDIT_LOG, size - from);
	buf = malloc(n + 1);
	if (!buf)
		return forge_err_set(err, -ENOMEM, "audit: out of memory");
	got = pread(logfd, buf, n, (off_t)from);
	if (got != (ssize_t)n) {
		free(buf);
		return forge_err_errno(err, got < 0 ? errno : EIO, "%s: read", AUDIT_LOG);
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/*
 * Where the next event goes. The head is trusted as written; bytes after it
 * are either the one line a crash kept the head from covering (checked and
 * adopted) or a torn line (-EUCLEAN), and anything else stops appends.
 * torn (may be NULL) receives the torn bytes, for repair.
 */
static int audit_state_locked(struct forge_audit *a, struct audit_state *st, char **torn,
			      size_t *torn_len, struct forge_err *err)
{
	struct forge_keyset ks = {0};
	char why[AUDIT_WHY_MAX], hash[65], *extra = NULL, *nl;
	struct stat sb;
	size_t len = 0;
	int rc;

	if (torn)
		*torn = NULL;
	rc = audit_read_head(a->dirfd, NULL, st, err);
	if (rc < 0)
		return rc;
	if (fstat(a->logfd, &sb) < 0)
		return forge_err_errno(err, errno, "%s: fstat", AUDIT_LOG);
	if ((uint64_t)sb.st_size < st->size)
		return forge_err_set(err, -EBADMSG,
				     "%s: %jd bytes, shorter than the %" PRIu64
				     " its signed head covers (truncated): run forgectl audit "
				     "verify",
				     AUDIT_LOG, (intmax_t)sb.st_size, st->size);
	if ((uint64_t)sb.st_size == st->size)
		return 0;
	rc = audit_read_extra(a->logfd, st->size, (uint64_t)sb.st_size, &extra, &len, err);
	if (rc < 0)
		return rc;
	nl = memchr(extra, '\n', len);
	if (!nl) {
		rc = forge_err_set(err, -EUCLEAN,
				   "%s: torn final line at byte %" PRIu64
				   " (%zu bytes without a newline, a crash during an append): "
				   "appends stop until `forgectl audit repair`",
				   AUDIT_LOG, st->size, len);
		if (torn) {
			*torn = extra;
			*torn_len = len;
			extra = NULL;
		}
		goto out;
	}
	rc = audit_load_keys(&a->paths, &ks, err);
	if (rc < 0)
		goto out;
	if (nl != extra + len - 1 ||
	    audit_check_line(extra, len - 1, st->seq + 1, st->hash, &ks, hash, why) < 0) {
		rc = forge_err_set(err, -EBADMSG,
				   "%s: the %zu bytes after %s are not the one event a crash "
				   "can leave there: run forgectl audit verify",
				   AUDIT_LOG, len,
				   st->head_present ? "its signed head" : "the start");
		goto out;
	}
	st->seq++;
	memcpy(st->hash, hash, sizeof(hash));
	st->size = (uint64_t)sb.st_size;
	st->adopted = true;
out:
	forge_keyset_free(&ks);
	free(extra);
	return rc;
}

static int audit_lock(struct forge_audit *a, struct forge_err *err)
{
	while (flock(a->logfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return forge_err_errno(err, errno, "%s: lock", AUDIT_LOG);
	return 0;
}

static void audit_unlock(struct forge_audit *a)
{
	flock(a->logfd, LOCK_UN);
}

/* ------------------------------------------------------------ append */

static char *audit_build_line(struct forge_audit *a, const struct audit_state *st, const char *type,
			      const char *actor, const char *cid, const json_t *data, char hash[65],
			      size_t *len, struct forge_err *err)
{
	char ts[32], sig[90];
	struct timespec now;
	uint8_t digest[32];
	json_t *ev;
	char *line = NULL;

	clock_gettime(CLOCK_REALTIME, &now);
	scoring_time_format((int64_t)now.tv_sec, (int)(now.tv_nsec / 1000000), ts);
	ev =
	    json_pack("{s:I, s:s, s:s, s:s, s:s?, s:O, s:s, s:s}", "seq", (json_int_t)(st->seq + 1),
		      "ts", ts, "type", type, "actor", actor, "correlation_id", cid, "data", data,
		      "prev_hash", st->hash, "key_id", a->key.id);
	if (!ev) {
		forge_err_set(err, -EINVAL, "audit %s: cannot encode the event (invalid UTF-8?)",
			      type);
		return NULL;
	}
	if (audit_event_hash(ev, hash, err) < 0)
		goto out;
	audit_hex_digest(hash, digest);
	if (scoring_sign_b64(&a->key, digest, sizeof(digest), sig, err) < 0)
		goto out;
	if (json_object_set_new(ev, "hash", json_string(hash)) < 0 ||
	    json_object_set_new(ev, "sig", json_string(sig)) < 0) {
		forge_err_set(err, -ENOMEM, "audit: out of memory");
		goto out;
	}
	line = scoring_json_file(ev, len, err);
	if (line && *len > AUDIT_LINE_MAX) {
		forge_err_set(err, -E2BIG, "audit %s: event of %zu bytes, more than %u", type, *len,
			      AUDIT_LINE_MAX);
		free(line);
		line = NULL;
	}
out:
	json_decref(ev);
	return line;
}

/* Appends with the lock held and st the current state; updates st. */
static int audit_append_locked(struct forge_audit *a, struct audit_state *st, const char *type,
			       const char *actor, const char *cid, const json_t *data,
			       struct forge_err *err)
{
	struct forge_key fresh;
	char hash[65], *line;
	size_t len;
	int rc;

	/* A rotation by another process takes effect at the next event. */
	rc = forge_key_load_active(&a->paths, FORGE_KEY_AUDIT, &fresh, err);
	if (rc < 0)
		return rc;
	forge_key_wipe(&a->key);
	a->key = fresh;
	forge_key_wipe(&fresh);
	line = audit_build_line(a, st, type, actor, cid, data, hash, &len, err);
	if (!line)
		return err && err->code ? err->code : -ENOMEM;
	rc = scoring_write_once(a->logfd, line, len);
	if (rc == 0 && fdatasync(a->logfd) < 0)
		rc = -errno;
	free(line);
	if (rc < 0) {
		/* Take a partial line back, so that a full disk does not turn into a torn log. */
		if (ftruncate(a->logfd, (off_t)st->size) == 0)
			fdatasync(a->logfd);
		return forge_err_errno(err, rc, "%s: append %s", AUDIT_LOG, type);
	}
	st->seq++;
	st->size += len;
	memcpy(st->hash, hash, sizeof(hash));
	st->head_present = true;
	return audit_write_head(a, st, err);
}

static int audit_open_in(const struct forge_paths *p, bool check, struct forge_audit **out,
			 struct forge_err *err)
{
	struct forge_audit *a;
	struct audit_state st;
	int rc;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return forge_err_set(err, -ENOMEM, "audit: out of memory");
	a->paths = *p;
	a->logfd = -1;
	a->dirfd = scoring_open_lib_dir(p, SCORING_AUDIT_DIR, true, err);
	if (a->dirfd < 0) {
		rc = a->dirfd;
		goto fail;
	}
	rc = forge_key_load_active(p, FORGE_KEY_AUDIT, &a->key, err);
	if (rc < 0)
		goto fail;
	a->logfd =
	    openat(a->dirfd, AUDIT_LOG, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (a->logfd < 0) {
		rc = forge_err_errno(err, errno, "%s/%s/%s", p->lib, SCORING_AUDIT_DIR, AUDIT_LOG);
		goto fail;
	}
	if (check) {
		rc = audit_lock(a, err);
		if (rc < 0)
			goto fail;
		rc = audit_state_locked(a, &st, NULL, NULL, err);
		audit_unlock(a);
		if (rc < 0)
			goto fail;
	}
	*out = a;
	return 0;
fail:
	forge_audit_close(a);
	return rc;
}

int forge_audit_open(const struct forge_paths *p, struct forge_audit **out, struct forge_err *err)
{
	return audit_open_in(p, true, out, err);
}

void forge_audit_close(struct forge_audit *a)
{
	if (!a)
		return;
	if (a->logfd >= 0)
		close(a->logfd);
	if (a->dirfd >= 0)
		close(a->dirfd);
	forge_key_wipe(&a->key);
	free(a);
}

int forge_audit_append(struct forge_audit *a, const char *type, const char *actor,
		       const char *correlation_id, const json_t *data, uint64_t *seq_out,
		       struct forge_err *err)
{
	struct audit_state st;
	json_t *empty = NULL;
	int rc;

	if (!a)
		return forge_err_set(err, -EINVAL, "audit: no log");
	if (!audit_type_valid(type))
		return forge_err_set(err, -EINVAL, "audit: bad event type \"%s\"",
				     type ? type : "(null)");
	if (!actor || !*actor)
		return forge_err_set(err, -EINVAL, "audit %s: no actor", type);
	if (data && !json_is_object(data))
		return forge_err_set(err, -EINVAL, "audit %s: data is not an object", type);
	if (!data)
		data = empty = json_object();
	if (!correlation_id)
		correlation_id = forge_log_correlation_id();
	rc = audit_lock(a, err);
	if (rc < 0)
		goto out;
	rc = audit_state_locked(a, &st, NULL, NULL, err);
	if (rc == 0)
		rc = audit_append_locked(a, &st, type, actor, correlation_id, data, err);
	audit_unlock(a);
	if (rc == 0 && seq_out)
		*seq_out = st.seq;
out:
	json_decref(empty);
	return rc;
}

int forge_audit_record(const struct forge_paths *p, const char *type, const char *actor,
		       const char *correlation_id, const json_t *data, struct forge_err *err)
{
	struct forge_audit *a;
	int rc;

	rc = forge_audit_open(p, &a, err);
	if (rc < 0)
		return rc;
	rc = forge_audit_append(a, type, actor, correlation_id, data, NULL, err);
	forge_audit_close(a);
	return rc;
}

/* ------------------------------------------------------------ repair */

static int audit_save_torn(struct forge_audit *a, uint64_t offset, const char *bytes, size_t len,
			   struct forge_audit_repair *out, struct forge_err *err)
{
	snprintf(out->saved_as, sizeof(out->saved_as), "torn-%" PRIu64 ".bin", offset);
	forge_sha256_hex(bytes, len, out->removed_sha256);
	out->offset = offset;
	out->removed = len;
	return scoring_write_new(a->dirfd, out->saved_as, bytes, len, 0600, err)
		   ?: scoring_fsync_dir(a->dirfd, SCORING_AUDIT_DIR, err);
}

int forge_audit_repair(const struct forge_paths *p, const char *actor,
		       struct forge_audit_repair *out, struct forge_err *err)
{
	struct forge_audit *a = NULL;
	struct audit_state st;
	char *torn = NULL;
	size_t torn_len = 0;
	json_t *data = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = audit_open_in(p, false, &a, err);
	if (rc < 0)
		return rc;
	rc = audit_lock(a, err);
	if (rc < 0)
		goto out;
	rc = audit_state_locked(a, &st, &torn, &torn_len, err);
	if (rc == 0) {
		/* Nothing torn; an adopted line gets its head now. */
		if (st.adopted)
			rc = audit_write_head(a, &st, err);
		goto unlock;
	}
	if (rc != -EUCLEAN)
		goto unlock;
	forge_err_clear(err);
	rc = audit_save_torn(a, st.size, torn, torn_len, out, err);
	if (rc < 0)
		goto unlock;
	if (ftruncate(a->logfd, (off_t)st.size) < 0 || fdatasync(a->logfd) < 0) {
		rc = forge_err_errno(err, errno, "%s: truncate", AUDIT_LOG);
		goto unlock;
	}
	data = json_pack("{s:I, s:I, s:s, s:s}", "offset", (json_int_t)out->offset, "removed_bytes",
			 (json_int_t)out->removed, "removed_sha256", out->removed_sha256,
			 "saved_as", out->saved_as);
	rc = data ? audit_append_locked(a, &st, "audit.repair", actor, NULL, data, err)
		  : forge_err_set(err, -ENOMEM, "audit: out of memory");
unlock:
	audit_unlock(a);
out:
	json_decref(data);
	free(torn);
	forge_audit_close(a);
	return rc;
}

/* ------------------------------------------------------------ verify */

static int audit_fail(struct forge_audit_report *rep, uint64_t line, int code,
		      struct forge_err *err, const char *why)
{
	rep->bad_line = line;
	return forge_err_set(err, code, "%s line %" PRIu64 ": %s", AUDIT_LOG, line, why);
}

/* The head against the lines read: equal, or one line behind after a crash. */
static int audit_verify_head(const struct audit_state *head, uint64_t lines, bool torn,
			     const char *last, const char *before_last, uint64_t end,
			     uint64_t before_end, struct forge_audit_report *rep,
			     struct forge_err *err)
{
	char why[AUDIT_WHY_MAX];

	rep->head_seq = head->seq;
	if (head->head_present && head->seq > lines) {
		snprintf(why, sizeof(why),
			 "missing: the signed head records %" PRIu64
			 " events but the log ends after %" PRIu64 " (the tail was truncated)",
			 head->seq, lines);
		return audit_fail(rep, lines + 1, -EBADMSG, err, why);
	}
	if (torn)
		return audit_fail(rep, lines + 1, -EUCLEAN, err,
				  "torn final line without a newline (a crash during an append); "
				  "repair with forgectl audit repair");
	if (!head->head_present) {
		if (lines <= 1) {
			rep->head_lags = lines == 1;
			return 0;
		}
		return forge_err_set(err, -EBADMSG,
				     "%s is missing but %s has %" PRIu64 " lines (a head lags "
				     "at most one line)",
				     AUDIT_HEAD, AUDIT_LOG, lines);
	}
	if (head->seq == lines && strcmp(head->hash, last) == 0 && head->size == end)
		return 0;
	if (head->seq + 1 == lines && strcmp(head->hash, before_last) == 0 &&
	    head->size == before_end) {
		rep->head_lags = true;
		return 0;
	}
	if (head->seq + 1 < lines)
		return audit_fail(rep, head->seq + 2, -EBADMSG, err,
				  "beyond what the signed head covers (appended without the "
				  "audit key?)");
	snprintf(why, sizeof(why), "%s does not match it (seq %" PRIu64 ", size %" PRIu64 ")",
		 AUDIT_HEAD, head->seq, head->size);
	return audit_fail(rep, head->seq, -EBADMSG, err, why);
}

static int audit_verify_lines(FILE *f, const struct forge_keyset *ks,
			      const struct audit_state *head, struct forge_audit_report *rep,
			      struct forge_err *err)
{
	char prev[65] = SCORING_ZERO_HASH, before[65] = SCORING_ZERO_HASH, hash[65],
	     why[AUDIT_WHY_MAX];
	uint64_t end = 0, before_end = 0;
	bool torn = false;
	char *line;
	size_t n;
	int rc = 0;

	/* Bounded: a planted multi-gigabyte line costs one buffer, not the memory. */
	line = malloc(AUDIT_LINE_MAX + 2);
	if (!line)
		return forge_err_set(err, -ENOMEM, "audit: out of memory");
	while (fgets(line, AUDIT_LINE_MAX + 2, f)) {
		/* What fgets consumed, counting any NUL bytes inside the line. */
		n = (size_t)((uint64_t)ftello(f) - end);
		if (line[n - 1] != '\n') {
			if (n > AUDIT_LINE_MAX) {
				rc = audit_fail(rep, rep->lines + 1, -EBADMSG, err,
						"longer than any event");
				goto out;
			}
			torn = true;
			break;
		}
		rc = audit_check_line(line, n - 1, rep->lines + 1, prev, ks, hash, why);
		if (rc < 0) {
			rc = audit_fail(rep, rep->lines + 1, rc, err, why);
			goto out;
		}
		rep->lines++;
		memcpy(before, prev, sizeof(before));
		memcpy(prev, hash, sizeof(prev));
		memcpy(rep->last_hash, hash, sizeof(hash));
		before_end = end;
		end += n;
	}
	if (ferror(f)) {
		rc = forge_err_errno(err, errno, "%s: read", AUDIT_LOG);
		goto out;
	}
	rc = audit_verify_head(head, rep->lines, torn, prev, before, end, before_end, rep, err);
out:
	free(line);
	return rc;
}

int forge_audit_verify(const struct forge_paths *p, const struct forge_keyset *keys,
		       struct forge_audit_report *rep, struct forge_err *err)
{
	struct forge_keyset own = {0};
	struct audit_state head;
	int dirfd, fd = -1, rc;
	FILE *f = NULL;

	memset(rep, 0, sizeof(*rep));
	dirfd = scoring_open_lib_dir(p, SCORING_AUDIT_DIR, false, err);
	if (dirfd == -ENOENT) {
		/* Nothing was ever audited. */
		forge_err_clear(err);
		return 0;
	}
	if (dirfd < 0)
		return dirfd;
	if (!keys) {
		rc = audit_load_keys(p, &own, err);
		if (rc < 0)
			goto out;
		keys = &own;
	}
	fd = openat(dirfd, AUDIT_LOG, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		rc = forge_err_errno(err, errno, "%s", AUDIT_LOG);
		goto out;
	}
	/* A shared lock: no append runs between reading the lines and the head. */
	if (fd >= 0)
		while (flock(fd, LOCK_SH) < 0 && errno == EINTR)
			;
	rc = audit_read_head(dirfd, keys, &head, err);
	if (rc < 0)
		goto out;
	if (fd < 0) {
		rc = head.head_present ? audit_fail(rep, 1, -EBADMSG, err,
						    "missing: the log is gone but its head is not")
				       : 0;
		goto out;
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = forge_err_errno(err, errno, "%s", AUDIT_LOG);
		goto out;
	}
	fd = -1;
	rc = audit_verify_lines(f, keys, &head, rep, err);
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	close(dirfd);
	forge_keyset_free(&own);
	return rc;
}
