/* SPDX-License-Identifier: Apache-2.0 */
/* scoring's shared helpers: ids, times, confined directories, durable writes, JSON. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scoring/internal.h"

void scoring_time_format(int64_t secs, int ms, char out[32])
{
	time_t t = (time_t)secs;
	struct tm tm;
	size_t n;

	if (!gmtime_r(&t, &tm)) {
		snprintf(out, 32, "1970-01-01T00:00:00Z");
		return;
	}
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	if (ms >= 0)
		snprintf(out + n, 32 - n, ".%03dZ", ms % 1000);
	else
		snprintf(out + n, 32 - n, "Z");
}

int scoring_time_parse(const char *s, int64_t *out)
{
	char again[32];
	struct tm tm;
	const char *end;
	time_t t;

	if (!s || strlen(s) != 20)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -EINVAL;
	t = timegm(&tm);
	/* strptime accepts out-of-range fields and timegm normalises them: only
	 * the one spelling scoring_time_format would produce is valid. */
	scoring_time_format((int64_t)t, -1, again);
	if (strcmp(again, s) != 0)
		return -EINVAL;
	*out = (int64_t)t;
	return 0;
}

static bool scoring_id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

bool scoring_id_valid(const char *s)
{
	size_t i, n;

	if (!s)
		return false;
	n = strnlen(s, FORGE_SCORING_ID_MAX + 1);
	/* No leading dot: results/<tenant>/.<x> are the temp directories. */
	if (n == 0 || n > FORGE_SCORING_ID_MAX || s[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!scoring_id_char(s[i]))
			return false;
	return true;
}

bool scoring_hex64_valid(const char *s)
{
	size_t i;

	if (!s || strlen(s) != 64)
		return false;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool scoring_hash_valid(const char *s)
{
	if (s && strncmp(s, "sha256:", 7) == 0)
		s += 7;
	return scoring_hex64_valid(s);
}

int scoring_open_dir(int dirfd, const char *name, bool create, mode_t mode, struct forge_err *err)
{
	int fd;

	if (!forge_name_is_component(name))
		return forge_err_set(err, -EINVAL, "bad directory name \"%s\"",
				     name ? name : "(null)");
	if (create && mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return forge_err_errno(err, errno, "mkdir %s", name);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return forge_err_errno(err, errno, "open directory %s", name);
	return fd;
}

int scoring_open_path(const char *path, struct forge_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return forge_err_errno(err, errno, "open directory %s", path);
	return fd;
}

int scoring_open_lib_dir(const struct forge_paths *p, const char *name, bool create,
			 struct forge_err *err)
{
	int lib, fd;

	if (create) {
		fd = forge_paths_ensure(p, err);
		if (fd < 0)
			return fd;
	}
	lib = scoring_open_path(p->lib, err);
	if (lib < 0)
		return lib;
	fd = scoring_open_dir(lib, name, create, 0700, err);
	if (fd < 0)
		forge_err_prefix(err, "%s", p->lib);
	close(lib);
	return fd;
}

int scoring_write_once(int fd, const void *data, size_t len)
{
	ssize_t n;

	do
		n = write(fd, data, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* A regular file takes a whole write unless the disk is full. */
	return (size_t)n == len ? 0 : -ENOSPC;
}

int scoring_write_new(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		      struct forge_err *err)
{
	int fd, rc;

	fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return forge_err_errno(err, errno, "create %s", name);
	/* The umask must not decide what other users may read. */
	rc = fchmod(fd, mode) < 0 ? -errno : scoring_write_once(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		return forge_err_errno(err, rc, "write %s", name);
	return 0;
}

int scoring_fsync_dir(int dirfd, const char *what, struct forge_err *err)
{
	if (fsync(dirfd) < 0)
		return forge_err_errno(err, errno, "fsync %s", what);
	return 0;
}

char *scoring_json_file(const json_t *v, size_t *len, struct forge_err *err)
{
	char *text = forge_json_canonical(v, err), *grown;
	size_t n;

	if (!text)
		return NULL;
	n = strlen(text);
	grown = realloc(text, n + 2);
	if (!grown) {
		free(text);
		forge_err_set(err, -ENOMEM, "json: out of memory");
		return NULL;
	}
	grown[n] = '\n';
	grown[n + 1] = '\0';
	*len = n + 1;
	return grown;
}

json_t *scoring_json_parse(const char *buf, size_t len, const char *what, struct forge_err *err)
{
	json_error_t jerr;
	json_t *v;

	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		forge_err_set(err, -EBADMSG, "%s: not valid JSON (line %d: %s)", what, jerr.line,
			      jerr.text);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		forge_err_set(err, -EBADMSG, "%s: not a JSON object", what);
		return NULL;
	}
	return v;
}

const char *scoring_json_str(const json_t *obj, const char *key, const char *what,
			     struct forge_err *err)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (!s)
		forge_err_set(err, -EBADMSG, "%s: \"%s\" missing or not a string", what, key);
	return s;
}

void scoring_value_format(uint64_t num, uint64_t den, char out[FORGE_SCORE_VALUE_MAX])
{
	uint64_t scale = 1, scaled;
	int i;

	for (i = 0; i < FORGE_SCORE_DECIMALS; i++)
		scale *= 10;
	if (den == 0) {
		snprintf(out, FORGE_SCORE_VALUE_MAX, "0.%0*d", FORGE_SCORE_DECIMALS, 0);
		return;
	}
	/* Half up in integers: floor((2·num·scale + den) / 2·den). The weight
	 * limits keep 2·num·scale far below 2^64. */
	scaled = (2 * num * scale + den) / (2 * den);
	snprintf(out, FORGE_SCORE_VALUE_MAX, "%llu.%0*llu", (unsigned long long)(scaled / scale),
		 FORGE_SCORE_DECIMALS, (unsigned long long)(scaled % scale));
}

int scoring_sign_b64(const struct forge_key *key, const void *msg, size_t len, char out[90],
		     struct forge_err *err)
{
	uint8_t sig[FORGE_ED25519_SIG_BYTES];

	forge_ed25519_sign(sig, msg, len, key->sk);
	return forge_base64url_encode(out, 90, sig, sizeof(sig), err);
}

int scoring_verify_b64(const uint8_t pk[FORGE_ED25519_PUBLIC_BYTES], const char *sig_b64,
		       const void *msg, size_t len, const char *what, struct forge_err *err)
{
	uint8_t sig[FORGE_ED25519_SIG_BYTES];
	size_t n;
	int rc;

	rc = forge_base64url_decode(sig, sizeof(sig), &n, sig_b64, sig_b64 ? strlen(sig_b64) : 0,
				    what, err);
	if (rc < 0 || n != sizeof(sig))
		return forge_err_set(err, -EBADMSG, "%s: bad signature (not 64 bytes of base64url)",
				     what);
	if (!forge_ed25519_verify(sig, msg, len, pk))
		return forge_err_set(err, -EBADMSG, "%s: bad signature", what);
	return 0;
}

int scoring_audit_event(const struct forge_paths *p, const char *type, const char *actor,
			json_t *data_stolen, struct forge_err *err)
{
	int rc;

	if (!data_stolen)
		return forge_err_set(err, -ENOMEM, "audit %s: out of memory", type);
	rc = forge_audit_record(p, type, actor, NULL, data_stolen, err);
	json_decref(data_stolen);
	return rc;
}
