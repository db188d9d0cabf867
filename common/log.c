/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON-lines logging (DESIGN §7): one object per line, written with a single
 * write(2) so lines from several processes sharing stderr do not interleave.
 * Secrets never reach the log: values under secret-looking keys are replaced,
 * at any depth of the fields.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"

#define LOG_REDACTED	 "[redacted]"
#define LOG_SERVICE_MAX	 64
#define LOG_CID_MAX	 128
#define LOG_FIELD_PREFIX "field."

static const char *const log_level_names[] = {
    [FORGE_LOG_DEBUG] = "debug",
    [FORGE_LOG_INFO] = "info",
    [FORGE_LOG_WARN] = "warn",
    [FORGE_LOG_ERROR] = "error",
};

/* Set once at start-up by main(), before any thread exists. */
static struct {
	char service[LOG_SERVICE_MAX];
	enum forge_log_level min_level;
	int fd;
} log_cfg = {"forge", FORGE_LOG_INFO, 2};

/* Per thread: a daemon serving several requests at once must not stamp one
 * request's lines with another's id. */
static _Thread_local char log_cid[LOG_CID_MAX];

void forge_log_init(const char *service, enum forge_log_level min_level, int fd)
{
	snprintf(log_cfg.service, sizeof(log_cfg.service), "%s", service ? service : "forge");
	log_cfg.min_level = min_level;
	log_cfg.fd = fd >= 0 ? fd : 2;
}

int forge_log_level_parse(const char *s, enum forge_log_level *out)
{
	size_t i;

	if (!s || !out)
		return -EINVAL;
	for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcasecmp(s, log_level_names[i]) == 0) {
			*out = (enum forge_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void forge_log_set_correlation_id(const char *cid)
{
	snprintf(log_cid, sizeof(log_cid), "%s", cid ? cid : "");
}

const char *forge_log_correlation_id(void)
{
	return log_cid[0] ? log_cid : NULL;
}

static bool log_key_is_secret(const char *key)
{
	static const char *const contains[] = {
	    "token",	  "secret",  "password", "authorization", "passphrase", "private_key",
	    "privatekey", "api_key", "apikey",	 "credential",	  "cookie",
	};
	static const char *const exact[] = {"key", "sat", "jwt"};
	size_t i;

	for (i = 0; i < sizeof(contains) / sizeof(contains[0]); i++)
		if (strcasestr(key, contains[i]))
			return true;
	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcasecmp(key, exact[i]) == 0)
			return true;
	return false;
}

/* Length of the valid UTF-8 sequence at p, 0 when invalid (the same rules as
 * jansson: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t log_utf8_seq_len(const unsigned char *p)
{
	uint32_t cp, min;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	/* Stops at the terminating NUL, which is never a continuation byte. */
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A json string for s even when s is NULL or not UTF-8 (a path or a kernel
 * message can be anything): invalid bytes become U+FFFD. NULL only on ENOMEM. */
static json_t *log_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	json_t *j;
	char *fixed, *q;
	size_t n;

	if (!s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	fixed = malloc(strlen(s) * 3 + 1);
	if (!fixed)
		return NULL;
	for (q = fixed; *p; p += n ? n : 1) {
		n = log_utf8_seq_len(p);
		if (n) {
			memcpy(q, p, n);
			q += n;
		} else {
			memcpy(q, "\xef\xbf\xbd", 3);
			q += 3;
		}
	}
	*q = '\0';
	j = json_string(fixed);
	free(fixed);
	return j;
}

static json_t *log_redacted_copy(json_t *v);

/* The value to log for key: redacted, or a copy with secrets inside redacted. */
static json_t *log_field_value(const char *key, json_t *value)
{
	return log_key_is_secret(key) ? json_string(LOG_REDACTED) : log_redacted_copy(value);
}

/* A copy of v with every value under a secret-looking key redacted. */
static json_t *log_redacted_copy(json_t *v)
{
	json_t *out;
	void *it;
	size_t i;

	if (json_is_object(v)) {
		out = json_object();
		for (it = json_object_iter(v); it; it = json_object_iter_next(v, it))
			json_object_set_new(
			    out, json_object_iter_key(it),
			    log_field_value(json_object_iter_key(it), json_object_iter_value(it)));
		return out;
	}
	if (json_is_array(v)) {
		out = json_array();
		for (i = 0; i < json_array_size(v); i++)
			json_array_append_new(out, log_redacted_copy(json_array_get(v, i)));
		return out;
	}
	return json_deep_copy(v);
}

static void log_timestamp(char *out, size_t outsz)
{
	struct timespec now;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(out, outsz, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, outsz - n, ".%03dZ", (int)(now.tv_nsec / 1000000));
}

static void log_write_line(json_t *line)
{
	size_t len, off = 0;
	char *text, *nl;
	ssize_t n;

	text = json_dumps(line, JSON_COMPACT);
	if (!text)
		return;
	len = strlen(text);
	nl = realloc(text, len + 2);
	if (!nl) {
		free(text);
		return;
	}
	text = nl;
	text[len++] = '\n';
	text[len] = '\0';
	while (off < len) {
		n = write(log_cfg.fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(text);
}

/* Fields merge after the fixed keys; a field named like one of them is kept
 * under "field.<name>" rather than overwriting it or being lost. */
static void log_add_fields(json_t *line, json_t *fields)
{
	char renamed[256];
	const char *key;
	void *it;

	for (it = json_object_iter(fields); it; it = json_object_iter_next(fields, it)) {
		key = json_object_iter_key(it);
		if (json_object_get(line, key)) {
			snprintf(renamed, sizeof(renamed), LOG_FIELD_PREFIX "%s", key);
			key = renamed;
		}
		json_object_set_new(line, key, log_field_value(key, json_object_iter_value(it)));
	}
}

static void log_emit(enum forge_log_level level, const char *msg, json_t *fields)
{
	int saved_errno = errno;
	char ts[40];
	json_t *line;

	if (level > FORGE_LOG_ERROR)
		level = FORGE_LOG_ERROR;
	line = json_object();
	if (!line)
		goto out;
	log_timestamp(ts, sizeof(ts));
	json_object_set_new(line, "ts", json_string(ts));
	json_object_set_new(line, "level", json_string(log_level_names[level]));
	json_object_set_new(line, "service", log_string(log_cfg.service));
	json_object_set_new(line, "msg", log_string(msg ? msg : ""));
	if (log_cid[0])
		json_object_set_new(line, "correlation_id", log_string(log_cid));
	if (json_is_object(fields))
		log_add_fields(line, fields);
	else if (fields)
		json_object_set_new(line, "fields", log_redacted_copy(fields));
	log_write_line(line);
	json_decref(line);
out:
	/* Logging an error must not clobber the errno the caller is about to use. */
	errno = saved_errno;
}

/* jansson rejects a key that is not UTF-8; keep the field under a repaired key
 * (redaction then applies to the repaired spelling). */
static void log_set_fixed_key(json_t *fields, const char *key, const char *value)
{
	json_t *fixed = log_string(key);

	if (json_is_string(fixed))
		json_object_set_new(fields, json_string_value(fixed), log_string(value));
	json_decref(fixed);
}

static bool log_enabled(enum forge_log_level level)
{
	return level >= log_cfg.min_level;
}

void forge_log(enum forge_log_level level, const char *msg, ...)
{
	const char *key, *value;
	json_t *fields;
	va_list ap;

	if (!log_enabled(level))
		return;
	fields = json_object();
	va_start(ap, msg);
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (!fields)
			continue;
		if (json_object_set_new(fields, key, log_string(value)) < 0)
			log_set_fixed_key(fields, key, value);
	}
	va_end(ap);
	log_emit(level, msg, fields);
	json_decref(fields);
}

void forge_log_json(enum forge_log_level level, const char *msg, const json_t *fields)
{
	if (!log_enabled(level))
		return;
	/* jansson's iterators take non-const pointers but do not modify. */
	log_emit(level, msg, (json_t *)fields);
}
