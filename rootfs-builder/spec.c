/* SPDX-License-Identifier: Apache-2.0 */
/* rootfs-builder/spec.c — strict parsing of image specs (the format is in builder.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rootfs-builder/builder.h"

#define JPATH_SZ    128
#define NAME_ID_MAX 32	   /* user and group names */
#define ID_MAX	    65535u /* a container's ids are 0..65535 */

/* The file name and where the message goes, threaded through every check. */
struct sp {
	const char *file;
	struct forge_err *err;
};

/* Spec text ends up on terminals: quote it, cut it short and replace
 * anything but printable ASCII. */
struct quoted {
	char s[64];
};

static struct quoted quote(const char *s)
{
	const size_t room = sizeof(((struct quoted *)0)->s) - sizeof("\"...\"");
	struct quoted q;
	size_t n = 0, i;

	q.s[n++] = '"';
	for (i = 0; s[i] && i < room; i++)
		q.s[n++] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
	if (s[i]) {
		memcpy(q.s + n, "...", 3);
		n += 3;
	}
	q.s[n++] = '"';
	q.s[n] = '\0';
	return q;
}

/* A key as it appears in a JSON path: as is when plain, else quoted. */
static struct quoted key_text(const char *key)
{
	struct quoted q;
	size_t n = strlen(key);

	if (n && n < sizeof(q.s) &&
	    strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/") ==
		n) {
		memcpy(q.s, key, n + 1);
		return q;
	}
	return quote(key);
}

static int FORGE_PRINTF(3, 4) bad(const struct sp *sp, const char *jpath, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return forge_err_set(sp->err, -EINVAL, "%s: %s: %s", sp->file, jpath, why);
}

/* A JSON path too long for the buffer ends in "..." (never in our specs). */
static void jpath_fit(char out[JPATH_SZ], int n)
{
	if (n < 0 || n >= JPATH_SZ)
		memcpy(out + JPATH_SZ - 4, "...", 4);
}

static void jpath_key(char out[JPATH_SZ], const char *parent, const char *key)
{
	jpath_fit(out, snprintf(out, JPATH_SZ, "%s%s%s", parent, *parent ? "." : "", key));
}

static void jpath_index(char out[JPATH_SZ], const char *parent, size_t i)
{
	jpath_fit(out, snprintf(out, JPATH_SZ, "%s[%zu]", parent, i));
}

/* Refuses keys of obj that are not in allowed (NULL-terminated). */
static int only_keys(const struct sp *sp, const json_t *obj, const char *jpath,
		     const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		size_t i;
		char p[JPATH_SZ];

		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (!allowed[i]) {
			jpath_key(p, jpath, key_text(key).s);
			return bad(sp, p, "unknown key");
		}
	}
	return 0;
}

static int want_object(const struct sp *sp, const json_t *v, const char *jpath)
{
	return json_is_object(v) ? 0 : bad(sp, jpath, "must be a mapping");
}

static int want_array(const struct sp *sp, const json_t *v, const char *jpath)
{
	return json_is_array(v) ? 0 : bad(sp, jpath, "must be a list");
}

/* A non-empty string of at most max bytes. */
static int want_string(const struct sp *sp, const json_t *v, const char *jpath, size_t max,
		       const char **out)
{
	if (!v)
		return bad(sp, jpath, "missing");
	if (!json_is_string(v))
		return bad(sp, jpath, "must be a string");
	if (json_string_length(v) == 0)
		return bad(sp, jpath, "must not be empty");
	if (json_string_length(v) > max)
		return bad(sp, jpath, "longer than %zu bytes", max);
	*out = json_string_value(v);
	return 0;
}

/* An absolute, normalised path other than "/": no "//", "." or ".."
 * components and no trailing '/'. */
static int want_path(const struct sp *sp, const json_t *v, const char *jpath, const char **out)
{
	const char *s, *c;
	int rc = want_string(sp, v, jpath, FORGE_PATH_MAX - 1, &s);

	if (rc < 0)
		return rc;
	if (s[0] != '/')
		return bad(sp, jpath, "%s: must be an absolute path", quote(s).s);
	if (strcmp(s, "/") == 0)
		return bad(sp, jpath, "\"/\": the root itself cannot be named");
	for (c = s + 1;; c = strchr(c, '/') + 1) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return bad(sp, jpath,
				   "%s: must be normalised (no empty, \".\" or \"..\" "
				   "components, no trailing '/')",
				   quote(s).s);
		if (n > 255)
			return bad(sp, jpath, "%s: a component is longer than 255 bytes",
				   quote(s).s);
		if (!c[n])
			break;
	}
	*out = s;
	return 0;
}

static int want_bool(const struct sp *sp, const json_t *v, const char *jpath, bool *out)
{
	if (!json_is_boolean(v))
		return bad(sp, jpath, "must be true or false");
	*out = json_is_true(v);
	return 0;
}

static int want_id(const struct sp *sp, const json_t *v, const char *jpath, unsigned *out)
{
	if (!v)
		return bad(sp, jpath, "missing");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)ID_MAX)
		return bad(sp, jpath, "must be an integer from 0 to %u", ID_MAX);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

/* "0644": an octal string of at most 4 digits. */
static int want_mode(const struct sp *sp, const json_t *v, const char *jpath, mode_t *out)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return bad(sp, jpath, "must be an octal string such as \"0755\" (quote it)");
	s = json_string_value(v);
	n = strlen(s);
	if (n == 0 || n > 4 || strspn(s, "01234567") != n)
		return bad(sp, jpath, "%s: must be 1 to 4 octal digits such as \"0755\"",
			   quote(s).s);
	*out = (mode_t)strtoul(s, NULL, 8);
	return 0;
}

/* Package names as Debian allows them: [a-z0-9][a-z0-9+.-]+, with an
 * optional ":arch" qualifier. They reach apt's command line: a name starting
 * with '-' would be an option. */
static bool package_name_ok(const char *s)
{
	size_t n = strcspn(s, ":");

	if (n < 2 || n > 128 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	if (strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-") != n)
		return false;
	if (!s[n])
		return true;
	return s[n + 1] && strlen(s + n + 1) <= 32 &&
	       strspn(s + n + 1, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s + n + 1);
}

/* Applets: "name" or an absolute path whose last component is the name. */
static bool applet_name_ok(const char *s)
{
	return *s && strlen(s) <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-[") ==
		   strlen(s) &&
	       strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* passwd/group names: [a-z_][a-z0-9_-]*, at most 32 bytes. */
static bool id_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= NAME_ID_MAX && ((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_') &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* A passwd/group field: no ':' and no line break. */
static int want_field(const struct sp *sp, const json_t *v, const char *jpath, bool may_be_empty,
		      const char **out)
{
	const char *s;

	if (may_be_empty && json_is_string(v) && json_string_length(v) == 0) {
		*out = "";
		return 0;
	}
	int rc = want_string(sp, v, jpath, 255, &s);
	if (rc < 0)
		return rc;
	if (strpbrk(s, ":\n\r"))
		return bad(sp, jpath, "%s: must not contain ':' or a line break", quote(s).s);
	*out = s;
	return 0;
}

/* A list of strings, each checked by ok (NULL: any non-empty string); what
 * says what they must be. Returns a calloc'd array of borrowed strings. */
static int string_list(const struct sp *sp, const json_t *v, const char *jpath,
		       bool (*ok)(const char *), const char *what, const char ***out, size_t *n)
{
	size_t i;
	json_t *e;
	int rc = want_array(sp, v, jpath);

	if (rc < 0)
		return rc;
	*n = json_array_size(v);
	*out = calloc(*n + 1, sizeof(**out));
	if (!*out)
		return forge_err_set(sp->err, -ENOMEM, "%s: out of memory", sp->file);
	json_array_foreach(v, i, e)
	{
		char p[JPATH_SZ];

		jpath_index(p, jpath, i);
		rc = want_string(sp, e, p, 255, &(*out)[i]);
		if (rc < 0)
			return rc;
		if (ok && !ok((*out)[i]))
			return bad(sp, p, "%s: not %s", quote((*out)[i]).s, what);
		for (size_t j = 0; j < i; j++)
			if (strcmp((*out)[j], (*out)[i]) == 0)
				return bad(sp, p, "%s: listed twice", quote((*out)[i]).s);
	}
	return 0;
}

/* Array of records: allocates n records of size sz. */
static int record_list(const struct sp *sp, const json_t *v, const char *jpath, size_t sz,
		       void **out, size_t *n)
{
	int rc = want_array(sp, v, jpath);

	if (rc < 0)
		return rc;
	*n = json_array_size(v);
	*out = calloc(*n + 1, sz);
	return *out ? 0 : forge_err_set(sp->err, -ENOMEM, "%s: out of memory", sp->file);
}

static int parse_applets(const struct sp *sp, const json_t *v, struct forge_build_spec *s)
{
	int rc = string_list(sp, v, "busybox", NULL, NULL, &s->applets, &s->n_applets);

	for (size_t i = 0; rc == 0 && i < s->n_applets; i++) {
		char p[JPATH_SZ];
		const char *a = s->applets[i], *base = strrchr(a, '/');

		jpath_index(p, "busybox", i);
		if (base) {
			const char *norm;
			rc = want_path(sp, json_array_get(v, i), p, &norm);
			if (rc == 0 && !applet_name_ok(base + 1))
				rc = bad(sp, p, "%s: not an applet name", quote(a).s);
		} else if (!applet_name_ok(a)) {
			rc = bad(sp, p, "%s: not an applet name", quote(a).s);
		}
	}
	return rc;
}

static int parse_packages(const struct sp *sp, const json_t *v, struct forge_build_spec *s)
{
	static const char *const keys[] = {"install", "depends", "exclude", "exclude_paths", NULL};
	json_t *e;
	int rc;

	rc = want_object(sp, v, "packages");
	if (rc == 0)
		rc = only_keys(sp, v, "packages", keys);
	if (rc == 0 && (e = json_object_get(v, "install")))
		rc = string_list(sp, e, "packages.install", package_name_ok,
				 "a Debian package name", &s->packages, &s->n_packages);
	if (rc == 0 && (e = json_object_get(v, "depends")))
		rc = want_bool(sp, e, "packages.depends", &s->depends);
	if (rc == 0 && (e = json_object_get(v, "exclude")))
		rc =
		    string_list(sp, e, "packages.exclude", package_name_ok, "a Debian package name",
				&s->exclude_packages, &s->n_exclude_packages);
	if (rc == 0 && (e = json_object_get(v, "exclude_paths"))) {
		rc = string_list(sp, e, "packages.exclude_paths", NULL, NULL, &s->exclude_paths,
				 &s->n_exclude_paths);
		for (size_t i = 0; rc == 0 && i < s->n_exclude_paths; i++) {
			char p[JPATH_SZ];

			jpath_index(p, "packages.exclude_paths", i);
			rc = want_path(sp, json_array_get(e, i), p, &s->exclude_paths[i]);
			s->exclude_paths[i]++; /* relative to the layer's root */
		}
	}
	if (rc == 0 && s->n_packages == 0 && (s->depends || s->n_exclude_packages))
		rc = bad(sp, "packages.install", "missing (depends and exclude need packages)");
	for (size_t i = 0; rc == 0 && i < s->n_exclude_packages; i++) {
		char p[JPATH_SZ];

		jpath_index(p, "packages.exclude", i);
		for (size_t j = 0; rc == 0 && j < s->n_packages; j++)
			if (strcmp(s->exclude_packages[i], s->packages[j]) == 0)
				rc = bad(sp, p, "%s: also in packages.install",
					 quote(s->exclude_packages[i]).s);
	}
	return rc;
}

static int parse_dirs(const struct sp *sp, const json_t *v, struct forge_build_spec *s)
{
	static const char *const keys[] = {"path", "mode", NULL};
	size_t i;
	json_t *e;
	int rc = record_list(sp, v, "directories", sizeof(*s->dirs), (void **)&s->dirs, &s->n_dirs);

	json_array_foreach(v, i, e)
	{
		char p[JPATH_SZ], q[JPATH_SZ];

		if (rc < 0)
			break;
		jpath_index(p, "directories", i);
		s->dirs[i].mode = 0755;
		rc = want_object(sp, e, p);
		if (rc == 0)
			rc = only_keys(sp, e, p, keys);
		jpath_key(q, p, "path");
		if (rc == 0)
			rc = want_path(sp, json_object_get(e, "path"), q, &s->dirs[i].path);
		jpath_key(q, p, "mode");
		if (rc == 0 && json_object_get(e, "mode"))
			rc = want_mode(sp, json_object_get(e, "mode"), q, &s->dirs[i].mode);
	}
	return rc;
}

static int parse_files(const struct sp *sp, const json_t *v, struct forge_build_spec *s)
{
	static const char *const keys[] = {"path", "mode", "content", NULL};
	size_t i;
	json_t *e, *c;
	int rc = record_list(sp, v, "files", sizeof(*s->files), (void **)&s->files, &s->n_files);

	json_array_foreach(v, i, e)
	{
		char p[JPATH_SZ], q[JPATH_SZ];

		if (rc < 0)
			break;
		jpath_index(p, "files", i);
		s->files[i].mode = 0644;
		rc = want_object(sp, e, p);
		if (rc == 0)
			rc = only_keys(sp, e, p, keys);
		jpath_key(q, p, "path");
		if (rc == 0)
			rc = want_path(sp, json_object_get(e, "path"), q, &s->files[i].path);
		jpath_key(q, p, "mode");
		if (rc == 0 && json_object_get(e, "mode"))
			rc = want_mode(sp, json_object_get(e, "mode"), q, &s->files[i].mode);
		jpath_key(q, p, "content");
		c = json_object_get(e, "content");
		if (rc == 0 && !json_is_string(c))
			rc = bad(sp, q, c ? "must be a string" : "missing");
		if (rc == 0) {
			s->files[i].content = json_string_value(c);
			s->files[i].len = json_string_length(c);
			if (strlen(s->files[i].content) != s->files[i].len)
				rc = bad(sp, q, "contains a NUL byte");
		}
	}
	return rc;
}

static int parse_symlinks(const struct sp *sp, const json_t *v, struct forge_build_spec *s)
{
	static const char *const keys[] = {"path", "target", NULL};
	size_t i;
	json_t *e;
	int rc = record_list(sp, v, "symlinks", sizeof(*s->symlinks), (void **)&s->symlinks,
			     &s->n_symlinks);

	json_array_foreach(v, i, e)
	{
		char p[JPATH_SZ], q[JPATH_SZ];

		if (rc < 0)
			break;
		jpath_index(p, "symlinks", i);
		rc = want_object(sp, e, p);
		if (rc == 0)
			rc = only_keys(sp, e, p, keys);
		jpath_key(q, p, "path");
		if (rc == 0)
			rc = want_path(sp, json_object_get(e, "path"), q, &s->symlinks[i].path);
		jpath_key(q, p, "target");
		if (rc == 0)
			rc = want_string(sp, json_object_get(e, "target"), q, FORGE_PATH_MAX - 1,
					 &s->symlinks[i].target);
	}
	return rc;
}

static int parse_users(const struct sp *sp, const json_t *v, struct forge_build_spec *s)
{
	static const char *const keys[] = {"name", "uid", "gid", "gecos", "home", "shell", NULL};
	size_t i;
	json_t *e;
	int rc = record_list(sp, v, "users", sizeof(*s->users), (void **)&s->users, &s->n_users);

	json_array_foreach(v, i, e)
	{
		struct forge_spec_user *u = &s->users[i];
		char p[JPATH_SZ], q[JPATH_SZ];

		if (rc < 0)
			break;
		jpath_index(p, "users", i);
		rc = want_object(sp, e, p);
		if (rc == 0)
			rc = only_keys(sp, e, p, keys);
		jpath_key(q, p, "name");
		if (rc == 0)
			rc = want_field(sp, json_object_get(e, "name"), q, false, &u->name);
		if (rc == 0 && !id_name_ok(u->name))
			rc = bad(sp, q, "%s: not a user name ([a-z_][a-z0-9_-]*, at most 32)",
				 quote(u->name).s);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp(s->users[j].name, u->name) == 0)
				rc = bad(sp, q, "%s: listed twice", quote(u->name).s);
		jpath_key(q, p, "uid");
		if (rc == 0)
			rc = want_id(sp, json_object_get(e, "uid"), q, &u->uid);
		jpath_key(q, p, "gid");
		if (rc == 0)
			rc = want_id(sp, json_object_get(e, "gid"), q, &u->gid);
		u->gecos = "";
		jpath_key(q, p, "gecos");
		if (rc == 0 && json_object_get(e, "gecos"))
			rc = want_field(sp, json_object_get(e, "gecos"), q, true, &u->gecos);
		jpath_key(q, p, "home");
		u->home = "/";
		if (rc == 0 && json_object_get(e, "home"))
			rc = want_path(sp, json_object_get(e, "home"), q, &u->home);
		if (rc == 0 && strchr(u->home, ':'))
			rc = bad(sp, q, "must not contain ':'");
		jpath_key(q, p, "shell");
		u->shell = "/bin/sh";
		if (rc == 0 && json_object_get(e, "shell"))
			rc = want_path(sp, json_object_get(e, "shell"), q, &u->shell);
		if (rc == 0 && strchr(u->shell, ':'))
			rc = bad(sp, q, "must not contain ':'");
	}
	return rc;
}

static int parse_groups(const struct sp *sp, const json_t *v, struct forge_build_spec *s)
{
	static const char *const keys[] = {"name", "gid", "members", NULL};
	size_t i;
	json_t *e, *m;
	int rc =
	    record_list(sp, v, "groups", sizeof(*s->groups), (void **)&s->groups, &s->n_groups);

	json_array_foreach(v, i, e)
	{
		struct forge_spec_group *g = &s->groups[i];
		char p[JPATH_SZ], q[JPATH_SZ];

		if (rc < 0)
			break;
		jpath_index(p, "groups", i);
		rc = want_object(sp, e, p);
		if (rc == 0)
			rc = only_keys(sp, e, p, keys);
		jpath_key(q, p, "name");
		if (rc == 0)
			rc = want_field(sp, json_object_get(e, "name"), q, false, &g->name);
		if (rc == 0 && !id_name_ok(g->name))
			rc = bad(sp, q, "%s: not a group name ([a-z_][a-z0-9_-]*, at most 32)",
				 quote(g->name).s);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp(s->groups[j].name, g->name) == 0)
				rc = bad(sp, q, "%s: listed twice", quote(g->name).s);
		jpath_key(q, p, "gid");
		if (rc == 0)
			rc = want_id(sp, json_object_get(e, "gid"), q, &g->gid);
		jpath_key(q, p, "members");
		m = json_object_get(e, "members");
		if (rc == 0 && m) {
			const char **names = NULL;
			size_t n;

			rc = string_list(sp, m, q, id_name_ok, "a user name", &names, &n);
			free(names);
			g->members = m;
		}
	}
	return rc;
}

/* An object whose values are strings; keys checked by key_ok. */
static int string_map(const struct sp *sp, const json_t *v, const char *jpath,
		      bool (*key_ok)(const char *), const char *what)
{
	const char *key;
	json_t *e;
	int rc = want_object(sp, v, jpath);

	json_object_foreach((json_t *)v, key, e)
	{
		char p[JPATH_SZ];
		const char *s;

		if (rc < 0)
			break;
		jpath_key(p, jpath, key_text(key).s);
		if (!key_ok(key))
			rc = bad(sp, p, "not %s", what);
		else if (!json_is_string(e))
			rc = bad(sp, p, "must be a string");
		else if (strlen(s = json_string_value(e)) != json_string_length(e))
			rc = bad(sp, p, "contains a NUL byte");
	}
	return rc;
}

static bool env_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 255 && !(s[0] >= '0' && s[0] <= '9') &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static bool label_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 255 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/") == n;
}

/* A non-empty list of non-empty strings (a command). */
static int command(const struct sp *sp, const json_t *v, const char *jpath)
{
	size_t i;
	json_t *e;
	int rc = want_array(sp, v, jpath);

	if (rc == 0 && json_array_size(v) == 0)
		rc = bad(sp, jpath, "must not be empty");
	json_array_foreach(v, i, e)
	{
		char p[JPATH_SZ];

		if (rc < 0)
			break;
		jpath_index(p, jpath, i);
		if (!json_is_string(e))
			rc = bad(sp, p, "must be a string");
		else if (strlen(json_string_value(e)) != json_string_length(e))
			rc = bad(sp, p, "contains a NUL byte");
	}
	return rc;
}

static int parse_config(const struct sp *sp, const json_t *v, struct forge_build_spec *s)
{
	static const char *const keys[] = {"env",  "workdir", "entrypoint", "cmd",
					   "user", "labels",  NULL};
	json_t *e;
	int rc = want_object(sp, v, "config");

	if (rc == 0)
		rc = only_keys(sp, v, "config", keys);
	if (rc == 0 && (e = json_object_get(v, "env"))) {
		rc = string_map(sp, e, "config.env", env_name_ok, "a variable name");
		s->env = e;
	}
	if (rc == 0 && (e = json_object_get(v, "labels"))) {
		rc = string_map(sp, e, "config.labels", label_name_ok,
				"a label name ([A-Za-z0-9_./-]+)");
		s->labels = e;
	}
	if (rc == 0 && (e = json_object_get(v, "entrypoint"))) {
		rc = command(sp, e, "config.entrypoint");
		s->entrypoint = e;
	}
	if (rc == 0 && (e = json_object_get(v, "cmd"))) {
		rc = command(sp, e, "config.cmd");
		s->cmd = e;
	}
	if (rc == 0 && (e = json_object_get(v, "workdir")))
		rc = json_is_string(e) && strcmp(json_string_value(e), "/") == 0
			 ? (s->workdir = "/", 0)
			 : want_path(sp, e, "config.workdir", &s->workdir);
	if (rc == 0 && (e = json_object_get(v, "user"))) {
		rc = want_string(sp, e, "config.user", 255, &s->user);
		for (const char *c = s->user; rc == 0 && *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				rc = bad(sp, "config.user", "must not contain control characters");
	}
	return rc;
}

/* The spec's own files must not collide with what users/groups generate. */
static int check_generated(const struct sp *sp, const struct forge_build_spec *s)
{
	for (size_t i = 0; i < s->n_files; i++) {
		char p[JPATH_SZ];

		jpath_index(p, "files", i);
		if (s->n_users && strcmp(s->files[i].path, "/etc/passwd") == 0)
			return bad(sp, p, "/etc/passwd is generated from users");
		if (s->n_groups && strcmp(s->files[i].path, "/etc/group") == 0)
			return bad(sp, p, "/etc/group is generated from groups");
	}
	return 0;
}

void forge_build_spec_free(struct forge_build_spec *s)
{
	if (!s)
		return;
	free(s->applets);
	free(s->packages);
	free(s->exclude_packages);
	free(s->exclude_paths);
	free(s->dirs);
	free(s->files);
	free(s->symlinks);
	free(s->users);
	free(s->groups);
	json_decref(s->doc);
	free(s);
}

int forge_build_spec_parse(json_t *doc, const char *name, struct forge_build_spec **out,
			   struct forge_err *err)
{
	static const char *const keys[] = {"name",	  "base",   "busybox",	"packages",
					   "directories", "files",  "symlinks", "users",
					   "groups",	  "config", NULL};
	struct sp sp = {.file = name ? name : "spec", .err = err};
	struct forge_image_ref ref;
	struct forge_build_spec *s;
	struct forge_err ref_err;
	json_t *e;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return forge_err_set(err, -ENOMEM, "%s: out of memory", sp.file);
	s->doc = json_incref(doc);
	rc =
	    json_is_object(doc) ? 0 : forge_err_set(err, -EINVAL, "%s: must be a mapping", sp.file);
	if (rc == 0)
		rc = only_keys(&sp, doc, "", keys);
	if (rc == 0)
		rc = want_string(&sp, json_object_get(doc, "name"), "name", 512, &s->name_tag);
	if (rc == 0 && (forge_image_ref_parse(s->name_tag, &ref, &ref_err) < 0 || !ref.tag[0]))
		rc = bad(&sp, "name", "%s: not an image name:tag", quote(s->name_tag).s);
	if (rc == 0 && (e = json_object_get(doc, "base"))) {
		rc = want_string(&sp, e, "base", 512, &s->base);
		if (rc == 0 && strcmp(s->base, "scratch") == 0)
			s->base = NULL;
		else if (rc == 0 && forge_image_ref_parse(s->base, &ref, &ref_err) < 0)
			rc = bad(&sp, "base", "%s: not \"scratch\" or an image reference",
				 quote(s->base).s);
	}
	if (rc == 0 && (e = json_object_get(doc, "busybox")))
		rc = parse_applets(&sp, e, s);
	if (rc == 0 && (e = json_object_get(doc, "packages")))
		rc = parse_packages(&sp, e, s);
	if (rc == 0 && (e = json_object_get(doc, "directories")))
		rc = parse_dirs(&sp, e, s);
	if (rc == 0 && (e = json_object_get(doc, "files")))
		rc = parse_files(&sp, e, s);
	if (rc == 0 && (e = json_object_get(doc, "symlinks")))
		rc = parse_symlinks(&sp, e, s);
	if (rc == 0 && (e = json_object_get(doc, "users")))
		rc = parse_users(&sp, e, s);
	if (rc == 0 && (e = json_object_get(doc, "groups")))
		rc = parse_groups(&sp, e, s);
	if (rc == 0 && (e = json_object_get(doc, "config")))
		rc = parse_config(&sp, e, s);
	if (rc == 0)
		rc = check_generated(&sp, s);
	if (rc < 0) {
		forge_build_spec_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int forge_build_spec_load(const char *path, struct forge_build_spec **out, struct forge_err *err)
{
	json_t *doc = NULL;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return forge_err_errno(err, errno, "spec %s", path);
	rc = forge_yaml_load_fd(fd, path, FORGE_SPEC_MAX_BYTES, &doc, err);
	close(fd);
	if (rc < 0)
		return rc;
	rc = forge_build_spec_parse(doc, path, out, err);
	json_decref(doc);
	return rc;
}
