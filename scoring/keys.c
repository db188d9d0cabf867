/* SPDX-License-Identifier: Apache-2.0 */
/* The verdict and audit Ed25519 key pairs: files, permissions, rotation, published key sets. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scoring/internal.h"

#define KEYS_ACTIVE   "active"
#define KEYS_FILE_MAX 4096
#define KEYS_SET_MAX  (1u << 20)
#define KEYS_MAX      1024 /* keys of one purpose: rotation is rare */
#define KEYS_PUB_B64  43   /* base64url of 32 bytes */

static const char *const key_purposes[] = {
    [FORGE_KEY_VERDICT] = "verdict",
    [FORGE_KEY_AUDIT] = "audit",
};

const char *forge_key_purpose_name(enum forge_key_purpose purpose)
{
	return purpose == FORGE_KEY_AUDIT ? key_purposes[FORGE_KEY_AUDIT]
					  : key_purposes[FORGE_KEY_VERDICT];
}

int forge_key_purpose_parse(const char *s, enum forge_key_purpose *out)
{
	if (s && strcmp(s, "verdict") == 0)
		*out = FORGE_KEY_VERDICT;
	else if (s && strcmp(s, "audit") == 0)
		*out = FORGE_KEY_AUDIT;
	else
		return -EINVAL;
	return 0;
}

void forge_key_wipe(struct forge_key *key)
{
	if (key)
		forge_memzero(key, sizeof(*key));
}

/*
 * Owned by us and closed to others as mask says: 077 for a secret key, 022 for
 * the directories and the active pointer, which decide what Forge signs with.
 */
static int keys_check(int fd, const char *what, mode_t mask, struct forge_err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return forge_err_errno(err, errno, "keys: %s: fstat", what);
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return forge_err_set(err, -EPERM, "keys: %s: not a regular file", what);
	if (st.st_uid != geteuid())
		return forge_err_set(err, -EPERM, "keys: %s: owned by uid %u, not by uid %u", what,
				     (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & mask & 077)
		return forge_err_set(
		    err, -EPERM,
		    mask == 077 ? "keys: %s: mode %04o, a secret key must be 0600 (chmod 600)"
				: "keys: %s: mode %04o is writable by group or others",
		    what, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* <etc>/keys/<purpose>, checked; created (0755: the public halves are public) when asked. */
static int keys_open_purpose(const struct forge_paths *p, enum forge_key_purpose purpose,
			     bool create, struct forge_err *err)
{
	const char *name = forge_key_purpose_name(purpose);
	int etc = -1, keys = -1, fd = -1, rc;
	char what[FORGE_PATH_MAX + 32];

	if (create) {
		rc = forge_paths_ensure(p, err);
		if (rc < 0)
			return rc;
	}
	etc = scoring_open_path(p->etc, err);
	if (etc < 0)
		return etc;
	keys = scoring_open_dir(etc, SCORING_KEYS_DIR, create, 0755, err);
	if (keys < 0) {
		rc = keys;
		forge_err_prefix(err, "keys: %s", p->etc);
		goto out;
	}
	snprintf(what, sizeof(what), "%s/%s", p->etc, SCORING_KEYS_DIR);
	rc = keys_check(keys, what, 022, err);
	if (rc < 0)
		goto out;
	fd = scoring_open_dir(keys, name, create, 0755, err);
	if (fd < 0) {
		rc = fd;
		forge_err_prefix(err, "keys: %s/%s", p->etc, SCORING_KEYS_DIR);
		goto out;
	}
	snprintf(what, sizeof(what), "%s/%s/%s", p->etc, SCORING_KEYS_DIR, name);
	rc = keys_check(fd, what, 022, err);
out:
	if (rc < 0 && fd >= 0)
		close(fd);
	if (keys >= 0)
		close(keys);
	close(etc);
	return rc < 0 ? rc : fd;
}

/* Reads a small file beneath dirfd without following a symlink; trailing
 * newline dropped. mask as for keys_check; 0 for public files, which anyone's
 * copy may hold. */
static int keys_read_small(int dirfd, const char *name, char **out, size_t *len, mode_t mask,
			   struct forge_err *err)
{
	int fd, rc;

	*out = NULL;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return forge_err_errno(err, errno, "keys: %s", name);
	rc = mask ? keys_check(fd, name, mask, err) : 0;
	if (rc == 0)
		rc = forge_read_fd(fd, name, out, len, KEYS_FILE_MAX, err);
	close(fd);
	if (rc < 0)
		return rc;
	if (*len && (*out)[*len - 1] == '\n')
		(*out)[--*len] = '\0';
	return 0;
}

/* own: Forge's own key directory (checked), not an auditor's copy. */
static int keys_read_active_id(int dirfd, bool own, char id[FORGE_KEY_ID_LEN + 1],
			       struct forge_err *err)
{
	size_t len;
	char *buf;
	int rc;

	rc = keys_read_small(dirfd, KEYS_ACTIVE, &buf, &len, own ? 022 : 0, err);
	if (rc < 0)
		return rc;
	if (!forge_key_id_is_valid(buf))
		rc = forge_err_set(err, -EINVAL, "keys: %s: not a key id", KEYS_ACTIVE);
	else
		memcpy(id, buf, FORGE_KEY_ID_LEN + 1);
	free(buf);
	return rc;
}

static int keys_read_secret(int dirfd, enum forge_key_purpose purpose, const char *id,
			    struct forge_key *out, struct forge_err *err)
{
	uint8_t seed[FORGE_ED25519_SEED_BYTES];
	char name[FORGE_KEY_ID_LEN + 8];
	size_t len = 0, n;
	char *buf = NULL;
	int rc;

	snprintf(name, sizeof(name), "%s.key", id);
	rc = keys_read_small(dirfd, name, &buf, &len, 077, err);
	if (rc < 0)
		goto out;
	rc = forge_base64url_decode(seed, sizeof(seed), &n, buf, len, name, err);
	if (rc == 0 && n != sizeof(seed))
		rc = forge_err_set(err, -EINVAL, "keys: %s: not a 32-byte seed", name);
	if (rc < 0)
		goto out;
	out->purpose = purpose;
	rc = forge_ed25519_keypair(out->pk, out->sk, seed);
	if (rc < 0) {
		forge_err_set(err, rc, "keys: %s: cannot derive the key pair", name);
		goto out;
	}
	forge_key_id(out->pk, out->id);
	if (strcmp(out->id, id) != 0)
		rc = forge_err_set(err, -EINVAL, "keys: %s: holds the key of id %s", name, out->id);
out:
	if (buf) {
		forge_memzero(buf, len);
		free(buf);
	}
	forge_memzero(seed, sizeof(seed));
	if (rc < 0)
		forge_key_wipe(out);
	return rc;
}

int forge_key_load_active(const struct forge_paths *p, enum forge_key_purpose purpose,
			  struct forge_key *out, struct forge_err *err)
{
	char id[FORGE_KEY_ID_LEN + 1];
	int dfd, rc;

	memset(out, 0, sizeof(*out));
	dfd = rc = keys_open_purpose(p, purpose, false, err);
	if (rc >= 0)
		rc = keys_read_active_id(dfd, true, id, err);
	if (rc >= 0)
		rc = keys_read_secret(dfd, purpose, id, out, err);
	if (rc < 0)
		forge_err_prefix(err, "%s key", forge_key_purpose_name(purpose));
	if (dfd >= 0)
		close(dfd);
	return rc < 0 ? rc : 0;
}

static json_t *keys_pub_record(enum forge_key_purpose purpose, const char *id,
			       const uint8_t pk[FORGE_ED25519_PUBLIC_BYTES], int64_t created)
{
	char b64[KEYS_PUB_B64 + 1], when[32];

	forge_base64url_encode(b64, sizeof(b64), pk, FORGE_ED25519_PUBLIC_BYTES, NULL);
	scoring_time_format(created, -1, when);
	/* A bare key given on the command line has no creation time. */
	return json_pack("{s:s, s:s?, s:s, s:s, s:s}", "alg", "ed25519", "created",
			 created ? when : NULL, "key_id", id, "public_key", b64, "purpose",
			 forge_key_purpose_name(purpose));
}

/* A new pair in dirfd: <id>.key (0600), <id>.pub; not active yet. */
static int keys_create(int dirfd, enum forge_key_purpose purpose, struct forge_key *key,
		       struct forge_err *err)
{
	char name[FORGE_KEY_ID_LEN + 8], b64[KEYS_PUB_B64 + 1];
	json_t *rec = NULL;
	char *text = NULL;
	size_t len;
	int rc;

	memset(key, 0, sizeof(*key));
	key->purpose = purpose;
	rc = forge_ed25519_keypair(key->pk, key->sk, NULL);
	if (rc < 0)
		return forge_err_set(err, rc, "keys: cannot generate a key pair");
	forge_key_id(key->pk, key->id);
	/* sk = seed || pk: the file holds the seed only. */
	forge_base64url_encode(b64, sizeof(b64), key->sk, FORGE_ED25519_SEED_BYTES, NULL);
	b64[KEYS_PUB_B64] = '\n';
	snprintf(name, sizeof(name), "%s.key", key->id);
	rc = forge_atomic_write(dirfd, name, b64, sizeof(b64), 0600, err);
	forge_memzero(b64, sizeof(b64));
	if (rc < 0)
		goto out;
	rec = keys_pub_record(purpose, key->id, key->pk, (int64_t)time(NULL));
	text = rec ? scoring_json_file(rec, &len, err) : NULL;
	if (!text) {
		rc = forge_err_set(err, -ENOMEM, "keys: %s.pub: cannot encode", key->id);
		unlinkat(dirfd, name, 0);
		goto out;
	}
	snprintf(name, sizeof(name), "%s.pub", key->id);
	rc = forge_atomic_write(dirfd, name, text, len, 0644, err);
	if (rc < 0) {
		snprintf(name, sizeof(name), "%s.key", key->id);
		unlinkat(dirfd, name, 0);
	}
out:
	free(text);
	json_decref(rec);
	if (rc < 0)
		forge_key_wipe(key);
	return rc;
}

static int keys_set_active(int dirfd, const char *id, struct forge_err *err)
{
	char line[FORGE_KEY_ID_LEN + 2];

	snprintf(line, sizeof(line), "%s\n", id);
	return forge_atomic_write(dirfd, KEYS_ACTIVE, line, FORGE_KEY_ID_LEN + 1, 0644, err);
}

static void keys_discard(int dirfd, const char *id)
{
	char name[FORGE_KEY_ID_LEN + 8];

	snprintf(name, sizeof(name), "%s.key", id);
	unlinkat(dirfd, name, 0);
	snprintf(name, sizeof(name), "%s.pub", id);
	unlinkat(dirfd, name, 0);
}

static json_t *keys_event_data(enum forge_key_purpose purpose, const struct forge_key *key,
			       const char *previous)
{
	char b64[KEYS_PUB_B64 + 1];

	forge_base64url_encode(b64, sizeof(b64), key->pk, sizeof(key->pk), NULL);
	return json_pack("{s:s, s:s, s:s, s:s?}", "purpose", forge_key_purpose_name(purpose),
			 "key_id", key->id, "public_key", b64, "previous_key_id", previous);
}

/*
 * The rotation is audited with the audit key in force before it, so the old
 * key vouches for the new one; only the very first audit key signs its own
 * creation. An event that cannot be written undoes the rotation.
 */
static int keys_rotate_in(const struct forge_paths *p, enum forge_key_purpose purpose,
			  const char *type, const char *actor, char new_id[FORGE_KEY_ID_LEN + 1],
			  struct forge_err *err)
{
	char old[FORGE_KEY_ID_LEN + 1] = "";
	struct forge_key key;
	bool flip_first;
	int dfd, rc;

	dfd = keys_open_purpose(p, purpose, true, err);
	if (dfd < 0)
		return dfd;
	rc = keys_read_active_id(dfd, true, old, err);
	if (rc == -ENOENT) {
		forge_err_clear(err);
		old[0] = '\0';
	} else if (rc < 0) {
		goto out;
	}
	rc = keys_create(dfd, purpose, &key, err);
	if (rc < 0)
		goto out;
	flip_first = purpose == FORGE_KEY_AUDIT && !old[0];
	if (flip_first) {
		rc = keys_set_active(dfd, key.id, err);
		if (rc < 0) {
			keys_discard(dfd, key.id);
			goto wipe;
		}
	}
	rc = scoring_audit_event(p, type, actor,
				 keys_event_data(purpose, &key, old[0] ? old : NULL), err);
	if (rc < 0)
		forge_err_prefix(err, "the rotation cannot be audited");
	else if (!flip_first)
		rc = keys_set_active(dfd, key.id, err);
	if (rc < 0) {
		/* Never leave an unaudited key in force, nor a pointer to a removed one. */
		if (flip_first)
			unlinkat(dfd, KEYS_ACTIVE, 0);
		keys_discard(dfd, key.id);
		goto wipe;
	}
	if (new_id)
		memcpy(new_id, key.id, sizeof(key.id));
wipe:
	forge_key_wipe(&key);
out:
	if (rc < 0)
		forge_err_prefix(err, "%s key", forge_key_purpose_name(purpose));
	close(dfd);
	return rc;
}

int forge_keys_rotate(const struct forge_paths *p, enum forge_key_purpose purpose,
		      const char *actor, char new_id[FORGE_KEY_ID_LEN + 1], struct forge_err *err)
{
	return keys_rotate_in(p, purpose, "keys.rotate", actor, new_id, err);
}

/* 1 when purpose has an active key that loads, 0 when it has none yet (no
 * directory or no pointer); a pointer to a missing or bad key file is damage,
 * never a reason to make a new one. */
static int keys_have_active(const struct forge_paths *p, enum forge_key_purpose purpose,
			    struct forge_err *err)
{
	char id[FORGE_KEY_ID_LEN + 1];
	struct forge_key key;
	int dfd, rc;

	dfd = keys_open_purpose(p, purpose, false, err);
	if (dfd == -ENOENT) {
		forge_err_clear(err);
		return 0;
	}
	if (dfd < 0)
		return dfd;
	rc = keys_read_active_id(dfd, true, id, err);
	if (rc == -ENOENT) {
		forge_err_clear(err);
		rc = 0;
	} else if (rc == 0) {
		rc = keys_read_secret(dfd, purpose, id, &key, err);
		forge_key_wipe(&key);
		rc = rc < 0 ? rc : 1;
	}
	if (rc < 0)
		forge_err_prefix(err, "%s key", forge_key_purpose_name(purpose));
	close(dfd);
	return rc;
}

int forge_keys_ensure(const struct forge_paths *p, bool dev_mode, struct forge_err *err)
{
	/* The audit key first: the verdict key's creation is then audited with it. */
	static const enum forge_key_purpose order[] = {FORGE_KEY_AUDIT, FORGE_KEY_VERDICT};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		rc = keys_have_active(p, order[i], err);
		if (rc < 0)
			return rc;
		if (rc == 1)
			continue;
		if (!dev_mode)
			return forge_err_set(err, -ENOKEY,
					     "keys: no active %s key in %s/%s/%s; production "
					     "never creates one by itself: run `forgectl keys "
					     "rotate %s` (audit first, then verdict)",
					     forge_key_purpose_name(order[i]), p->etc,
					     SCORING_KEYS_DIR, forge_key_purpose_name(order[i]),
					     forge_key_purpose_name(order[i]));
		rc = keys_rotate_in(p, order[i], "keys.create", "forge (dev mode)", NULL, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------ public key sets */

static int keyset_add(struct forge_keyset *ks, const struct forge_pubkey *k, struct forge_err *err)
{
	struct forge_pubkey *grown;

	if (forge_keyset_find(ks, k->id))
		return 0;
	if (ks->n >= KEYS_MAX)
		return forge_err_set(err, -E2BIG, "keys: more than %d keys", KEYS_MAX);
	grown = realloc(ks->keys, (ks->n + 1) * sizeof(*grown));
	if (!grown)
		return forge_err_set(err, -ENOMEM, "keys: out of memory");
	ks->keys = grown;
	ks->keys[ks->n++] = *k;
	return 0;
}

static int keyset_decode_pk(const char *b64, uint8_t pk[FORGE_ED25519_PUBLIC_BYTES],
			    const char *what, struct forge_err *err)
{
	size_t n;
	int rc;

	rc =
	    forge_base64url_decode(pk, FORGE_ED25519_PUBLIC_BYTES, &n, b64, strlen(b64), what, err);
	if (rc == 0 && n != FORGE_ED25519_PUBLIC_BYTES)
		rc = forge_err_set(err, -EINVAL, "%s: not a 32-byte public key", what);
	return rc;
}

/*
 * One public key record. A record of another purpose is skipped (*skip);
 * records without a purpose (a hand-made file) are taken as the one asked for.
 * The id must be the one the key itself gives: a record cannot claim another
 * key's id.
 */
static int keyset_parse_record(const json_t *rec, enum forge_key_purpose want, const char *what,
			       struct forge_pubkey *out, bool *skip, struct forge_err *err)
{
	const char *alg, *id, *pk, *purpose, *created;
	enum forge_key_purpose pur = want;
	json_t *active;

	*skip = false;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(rec))
		return forge_err_set(err, -EINVAL, "%s: not a JSON object", what);
	alg = json_string_value(json_object_get(rec, "alg"));
	id = json_string_value(json_object_get(rec, "key_id"));
	pk = json_string_value(json_object_get(rec, "public_key"));
	purpose = json_string_value(json_object_get(rec, "purpose"));
	created = json_string_value(json_object_get(rec, "created"));
	active = json_object_get(rec, "active");
	if (!alg || strcmp(alg, "ed25519") != 0)
		return forge_err_set(err, -EINVAL, "%s: \"alg\" must be \"ed25519\"", what);
	if (!pk)
		return forge_err_set(err, -EINVAL, "%s: no \"public_key\"", what);
	if (purpose && forge_key_purpose_parse(purpose, &pur) < 0)
		return forge_err_set(err, -EINVAL, "%s: unknown purpose \"%s\"", what, purpose);
	if (pur != want) {
		*skip = true;
		return 0;
	}
	if (keyset_decode_pk(pk, out->pk, what, err) < 0)
		return -EINVAL;
	out->purpose = pur;
	forge_key_id(out->pk, out->id);
	if (id && strcmp(id, out->id) != 0)
		return forge_err_set(err, -EINVAL,
				     "%s: key_id %s does not match its public key (which is %s)",
				     what, id, out->id);
	if (created && scoring_time_parse(created, &out->created) < 0)
		return forge_err_set(err, -EINVAL, "%s: \"created\" is not RFC 3339 UTC", what);
	out->active = json_is_true(active);
	return 0;
}

static int keyset_cmp(const void *a, const void *b)
{
	const struct forge_pubkey *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int keyset_read_pub(int dfd, const char *name, enum forge_key_purpose purpose,
			   struct forge_keyset *ks, struct forge_err *err)
{
	struct forge_pubkey k;
	json_t *rec = NULL;
	char *buf = NULL;
	size_t len;
	bool skip;
	int rc;

	rc = keys_read_small(dfd, name, &buf, &len, 0, err);
	if (rc < 0)
		return rc;
	rec = scoring_json_parse(buf, len, name, err);
	rc = rec ? keyset_parse_record(rec, purpose, name, &k, &skip, err) : -EINVAL;
	/* The file name is the id: a renamed copy must not answer for another id. */
	if (rc == 0 && !skip &&
	    (strlen(name) != FORGE_KEY_ID_LEN + 4 || strncmp(name, k.id, FORGE_KEY_ID_LEN) != 0))
		rc = forge_err_set(err, -EINVAL, "keys: %s holds the key of id %s", name, k.id);
	if (rc == 0 && !skip)
		rc = keyset_add(ks, &k, err);
	json_decref(rec);
	free(buf);
	return rc;
}

int forge_keyset_load_dir(const char *dir, enum forge_key_purpose purpose, struct forge_keyset *out,
			  struct forge_err *err)
{
	char active[FORGE_KEY_ID_LEN + 1] = "";
	int top, dfd, rc = 0;
	struct dirent *de;
	size_t i, n;
	DIR *d;

	memset(out, 0, sizeof(*out));
	top = scoring_open_path(dir, err);
	if (top < 0)
		return top;
	dfd = openat(top, forge_key_purpose_name(purpose),
		     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		dfd = dup(top);
	close(top);
	if (dfd < 0)
		return forge_err_errno(err, errno, "keys %s", dir);
	if (keys_read_active_id(dfd, false, active, NULL) < 0)
		active[0] = '\0';
	d = fdopendir(dfd);
	if (!d) {
		rc = forge_err_errno(err, errno, "keys %s", dir);
		close(dfd);
		return rc;
	}
	while ((de = readdir(d))) {
		n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".pub") != 0)
			continue;
		rc = keyset_read_pub(dirfd(d), de->d_name, purpose, out, err);
		if (rc < 0) {
			forge_err_prefix(err, "keys %s", dir);
			break;
		}
	}
	closedir(d);
	if (rc < 0) {
		forge_keyset_free(out);
		return rc;
	}
	for (i = 0; i < out->n; i++)
		out->keys[i].active = strcmp(out->keys[i].id, active) == 0;
	if (out->n)
		qsort(out->keys, out->n, sizeof(*out->keys), keyset_cmp);
	return 0;
}

static int keyset_from_json(const json_t *doc, enum forge_key_purpose purpose, const char *path,
			    struct forge_keyset *out, struct forge_err *err)
{
	const json_t *keys = json_object_get(doc, "keys");
	struct forge_pubkey k;
	char what[FORGE_PATH_MAX + 32];
	size_t i;
	bool skip;
	int rc;

	if (!keys) {
		rc = keyset_parse_record(doc, purpose, path, &k, &skip, err);
		return rc < 0 || skip ? rc : keyset_add(out, &k, err);
	}
	if (!json_is_array(keys))
		return forge_err_set(err, -EINVAL, "%s: \"keys\" is not an array", path);
	for (i = 0; i < json_array_size(keys); i++) {
		snprintf(what, sizeof(what), "%s: keys[%zu]", path, i);
		rc = keyset_parse_record(json_array_get(keys, i), purpose, what, &k, &skip, err);
		if (rc == 0 && !skip)
			rc = keyset_add(out, &k, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int forge_keyset_load_file(const char *path, enum forge_key_purpose purpose,
			   struct forge_keyset *out, struct forge_err *err)
{
	struct forge_pubkey k = {0};
	json_t *doc = NULL;
	char *buf = NULL, *s;
	size_t len;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return forge_err_errno(err, errno, "public key %s", path);
	rc = forge_read_fd(fd, path, &buf, &len, KEYS_SET_MAX, err);
	close(fd);
	if (rc < 0)
		return rc;
	for (s = buf; *s == ' ' || *s == '\n' || *s == '\t' || *s == '\r'; s++)
		;
	while (len > (size_t)(s - buf) && strchr(" \n\t\r", buf[len - 1]))
		buf[--len] = '\0';
	if (*s == '{') {
		doc = scoring_json_parse(s, len - (size_t)(s - buf), path, err);
		rc = doc ? keyset_from_json(doc, purpose, path, out, err) : -EINVAL;
	} else {
		rc = keyset_decode_pk(s, k.pk, path, err);
		if (rc == 0) {
			k.purpose = purpose;
			k.active = true;
			forge_key_id(k.pk, k.id);
			rc = keyset_add(out, &k, err);
		}
	}
	if (rc == 0 && out->n == 0)
		rc = forge_err_set(err, -ENOKEY, "%s: no %s public key in it", path,
				   forge_key_purpose_name(purpose));
	json_decref(doc);
	free(buf);
	if (rc < 0)
		forge_keyset_free(out);
	return rc;
}

const struct forge_pubkey *forge_keyset_find(const struct forge_keyset *ks, const char *key_id)
{
	size_t i;

	for (i = 0; ks && key_id && i < ks->n; i++)
		if (strcmp(ks->keys[i].id, key_id) == 0)
			return &ks->keys[i];
	return NULL;
}

void forge_keyset_free(struct forge_keyset *ks)
{
	if (!ks)
		return;
	free(ks->keys);
	ks->keys = NULL;
	ks->n = 0;
}

static int keyset_append_json(json_t *arr, const struct forge_keyset *ks, struct forge_err *err)
{
	json_t *rec;
	size_t i;

	for (i = 0; i < ks->n; i++) {
		rec = keys_pub_record(ks->keys[i].purpose, ks->keys[i].id, ks->keys[i].pk,
				      ks->keys[i].created);
		if (!rec ||
		    json_object_set_new(rec, "active", json_boolean(ks->keys[i].active)) < 0 ||
		    json_array_append_new(arr, rec) < 0)
			return forge_err_set(err, -ENOMEM, "keys: out of memory");
	}
	return 0;
}

json_t *forge_keyset_json(const struct forge_keyset *ks, struct forge_err *err)
{
	json_t *arr = json_array();

	if (!arr || keyset_append_json(arr, ks, err) < 0) {
		json_decref(arr);
		forge_err_set(err, -ENOMEM, "keys: out of memory");
		return NULL;
	}
	return json_pack("{s:o}", "keys", arr);
}

json_t *forge_keys_published(const struct forge_paths *p, struct forge_err *err)
{
	static const enum forge_key_purpose all[] = {FORGE_KEY_VERDICT, FORGE_KEY_AUDIT};
	char dir[FORGE_PATH_MAX];
	struct forge_keyset ks;
	json_t *arr = json_array();
	size_t i;
	int rc = 0;

	if (!arr)
		return NULL;
	if (forge_path_join(dir, sizeof(dir), p->etc, SCORING_KEYS_DIR, err) < 0)
		goto fail;
	for (i = 0; i < sizeof(all) / sizeof(all[0]) && rc == 0; i++) {
		rc = forge_keyset_load_dir(dir, all[i], &ks, err);
		/* No keys directory yet: an empty set, not an error. */
		if (rc == -ENOENT) {
			forge_err_clear(err);
			rc = 0;
		} else if (rc == 0)
			rc = keyset_append_json(arr, &ks, err);
		forge_keyset_free(&ks);
	}
	if (rc < 0)
		goto fail;
	return json_pack("{s:o}", "keys", arr);
fail:
	json_decref(arr);
	return NULL;
}
