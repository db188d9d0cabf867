/* SPDX-License-Identifier: Apache-2.0 */
/* The FORGE_ROOT layout (DESIGN §4), so tests can run private instances side by side. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

/* Below the root; paths_init and paths_ensure must agree on these. */
#define PATHS_ETC "etc/forge"
#define PATHS_LIB "var/lib/forge"
#define PATHS_RUN "run/forge"

/* An empty variable counts as unset, like most shells' ${VAR:-default}. */
static const char *paths_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Makes root absolute without resolving symlinks (the directory may not exist
 * yet): prefixes the cwd to a relative path, folds repeated slashes and "."
 * components, strips trailing slashes. ".." is kept as written. */
static int paths_absolute(char *out, size_t outsz, const char *root, struct forge_err *err)
{
	char cwd[FORGE_PATH_MAX], *src;
	size_t used = 0;
	const char *p;
	int rc = 0;

	if (root[0] == '/')
		cwd[0] = '\0';
	else if (!getcwd(cwd, sizeof(cwd)))
		return forge_err_errno(err, errno, "root %s: getcwd", root);
	if (asprintf(&src, "%s/%s", cwd, root) < 0)
		return forge_err_set(err, -ENOMEM, "root %s: out of memory", root);
	/* src starts with '/', so out[0] is '/' before anything is skipped. */
	for (p = src; *p; p++) {
		if (*p == '/' && used && out[used - 1] == '/')
			continue;
		if (*p == '.' && out[used - 1] == '/' && (p[1] == '/' || !p[1]))
			continue;
		if (used + 1 >= outsz) {
			/* The message would be all path: say what went wrong instead. */
			rc = forge_err_set(err, -ENAMETOOLONG,
					   "root: path too long (over %zu bytes)", outsz - 1);
			goto out;
		}
		out[used++] = *p;
	}
	while (used > 1 && out[used - 1] == '/')
		used--;
	out[used] = '\0';
out:
	free(src);
	return rc;
}

static bool paths_prefix_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > FORGE_PREFIX_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (i = 1; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= '0' && s[i] <= '9'))
			return false;
	return true;
}

static int paths_under(char out[FORGE_PATH_MAX], const char *root, const char *rel,
		       struct forge_err *err)
{
	/* No "//etc/forge" when the root is "/". */
	int n = snprintf(out, FORGE_PATH_MAX, "%s%s%s", root, strcmp(root, "/") ? "/" : "", rel);

	if (n < 0 || n >= FORGE_PATH_MAX)
		return forge_err_set(err, -ENAMETOOLONG,
				     "root: path too long for %s (over %d bytes)", rel,
				     FORGE_PATH_MAX - 1);
	return 0;
}

static int paths_fill(struct forge_paths *p, const char *root, const char *prefix,
		      struct forge_err *err)
{
	const char *from_env = NULL;
	int rc;

	if (!root) {
		root = paths_env("FORGE_ROOT");
		root = root ? root : "/";
	} else if (!*root) {
		return forge_err_set(err, -EINVAL, "root: empty path");
	}
	if (!prefix) {
		prefix = from_env = paths_env("FORGE_PREFIX");
		prefix = prefix ? prefix : "forge";
	}
	if (!paths_prefix_valid(prefix))
		return forge_err_set(err, -EINVAL,
				     "%s \"%s\": must be 1 to %d characters of a-z and 0-9, "
				     "starting with a letter",
				     from_env ? "FORGE_PREFIX" : "prefix", prefix,
				     FORGE_PREFIX_MAX);
	memcpy(p->prefix, prefix, strlen(prefix) + 1);
	rc = paths_absolute(p->root, sizeof(p->root), root, err);
	if (rc < 0)
		return rc;
	return paths_under(p->etc, p->root, PATHS_ETC, err) ?:
	       paths_under(p->lib, p->root, PATHS_LIB, err) ?:
	       paths_under(p->run, p->root, PATHS_RUN, err);
}

int forge_paths_init(struct forge_paths *p, const char *root, const char *prefix,
		     struct forge_err *err)
{
	int rc;

	memset(p, 0, sizeof(*p));
	rc = paths_fill(p, root, prefix, err);
	/* Never leave a half-filled layout that a caller could mistake for valid. */
	if (rc < 0)
		memset(p, 0, sizeof(*p));
	return rc;
}

int forge_paths_ensure(const struct forge_paths *p, struct forge_err *err)
{
	const struct {
		const char *path, *rel;
		mode_t mode;
	} dirs[] = {
	    {p->etc, PATHS_ETC, 0755},
	    {p->lib, PATHS_LIB, 0700},
	    {p->run, PATHS_RUN, 0755},
	};
	char parent[FORGE_PATH_MAX];
	int rootfd, rc = 0;
	struct stat st;
	size_t i;

	rootfd = open(p->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return forge_err_errno(err, errno, "root %s", p->root);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		/* The operator may have made one of them a symlink (lib on a bigger
		 * disk); the root is trusted, so an existing directory is accepted as is. */
		if (stat(dirs[i].path, &st) == 0 && S_ISDIR(st.st_mode))
			continue;
		/* Parents get 0755 even when the leaf is private. */
		snprintf(parent, sizeof(parent), "%s", dirs[i].rel);
		*strrchr(parent, '/') = '\0';
		rc = forge_mkdir_beneath(rootfd, parent, 0755, err);
		if (rc == 0)
			rc = forge_mkdir_beneath(rootfd, dirs[i].rel, dirs[i].mode, err);
		if (rc < 0) {
			forge_err_prefix(err, "root %s", p->root);
			break;
		}
	}
	close(rootfd);
	return rc;
}
