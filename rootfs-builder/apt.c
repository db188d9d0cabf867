/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rootfs-builder/apt.c — Debian packages through apt's own tools: which
 * packages (`apt-cache depends`), which files with which SHA-256
 * (`apt-get download --print-uris`, from apt's signed lists), and the files
 * themselves (`apt-get download` into a private directory, checked, renamed
 * into the cache). A cached file is used only when its SHA-256 is the one
 * apt's lists give, so a stale or damaged cache never reaches a layer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rootfs-builder/internal.h"

#define APT_OUT_MAX (32u << 20) /* what one apt command may print */

/* ------------------------------------------------------------ running apt */

/* Reads the memfd fd from its start (at most APT_OUT_MAX bytes). */
static int read_memfd(int fd, const char *what, char **out, struct forge_err *err)
{
	size_t len;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return forge_err_errno(err, errno, "%s: output", what);
	return forge_read_fd(fd, what, out, &len, APT_OUT_MAX, err);
}

/* The last non-empty line of text that starts with "E: ", else the last
 * line: what apt says went wrong. */
static void apt_reason(const char *text, char *out, size_t outsz)
{
	const char *pick = NULL, *last = NULL;

	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");

		if (n) {
			last = p;
			if (strncmp(p, "E: ", 3) == 0)
				pick = p;
		}
		p += n + (p[n] == '\n');
	}
	pick = pick ? pick : last;
	if (!pick) {
		snprintf(out, outsz, "no output");
		return;
	}
	snprintf(out, outsz, "%.*s", (int)strcspn(pick, "\n"), pick);
}

/* Runs argv (apt-get or apt-cache, found in PATH) in cwd with stdin from
 * /dev/null; stdout and stderr are captured. Returns the exit status (0..255)
 * or -errno. */
static int run(char *const argv[], const char *cwd, char **out, char **errout,
	       struct forge_err *err)
{
	int ofd = -1, efd = -1, status, rc;
	pid_t pid;

	*out = *errout = NULL;
	ofd = memfd_create("apt-stdout", MFD_CLOEXEC);
	efd = memfd_create("apt-stderr", MFD_CLOEXEC);
	if (ofd < 0 || efd < 0) {
		rc = forge_err_errno(err, errno, "%s: memfd", argv[0]);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rc = forge_err_errno(err, errno, "%s: fork", argv[0]);
		goto out;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null < 0 || dup2(null, 0) < 0 || dup2(ofd, 1) < 0 || dup2(efd, 2) < 0 ||
		    chdir(cwd) < 0)
			_exit(127);
		/* apt's messages are parsed: no translation. */
		setenv("LC_ALL", "C", 1);
		setenv("DEBIAN_FRONTEND", "noninteractive", 1);
		execvp(argv[0], argv);
		dprintf(2, "E: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			rc = forge_err_errno(err, errno, "%s: wait", argv[0]);
			goto out;
		}
	}
	rc = read_memfd(ofd, argv[0], out, err);
	if (rc == 0)
		rc = read_memfd(efd, argv[0], errout, err);
	if (rc == 0)
		rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (rc < 0) {
		free(*out);
		free(*errout);
		*out = *errout = NULL;
	}
out:
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	return rc;
}

/* "apt-get download pkg1 pkg2…": argv without its options, for messages. */
static void describe(char *const argv[], char *out, size_t outsz)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; argv[i] && used < outsz; i++) {
		int n;

		if (argv[i][0] == '-')
			continue;
		if (used + strlen(argv[i]) + 5 > outsz) {
			snprintf(out + used, outsz - used, " ...");
			break;
		}
		n = snprintf(out + used, outsz - used, "%s%s", used ? " " : "", argv[i]);
		used += (size_t)n;
	}
}

/* Runs an apt command; when it fails and apt-get update has not run yet,
 * runs that once and tries again (a fresh machine has no package lists).
 * On success *out holds stdout. */
static int run_apt(struct bld_apt *apt, char *const argv[], const char *cwd, char **out,
		   struct forge_err *err)
{
	char *const update[] = {"apt-get", "-q", "update", NULL};
	char why[256], what[160], *errout = NULL, *junk = NULL, *junk_err = NULL;
	int rc;

	describe(argv, what, sizeof(what));
	for (;;) {
		rc = run(argv, cwd, out, &errout, err);
		if (rc <= 0)
			break;
		apt_reason(errout && *errout ? errout : *out, why, sizeof(why));
		free(*out);
		*out = NULL;
		if (apt->updated) {
			rc = forge_err_set(err, -EIO, "%s failed (exit %d): %s", what, rc, why);
			break;
		}
		apt->updated = true;
		free(errout);
		errout = NULL;
		rc = run(update, "/", &junk, &junk_err, err);
		if (rc > 0) {
			apt_reason(junk_err && *junk_err ? junk_err : junk, why, sizeof(why));
			rc = forge_err_set(err, -EIO,
					   "%s failed and so did apt-get update (exit %d): %s",
					   what, rc, why);
		}
		free(junk);
		free(junk_err);
		if (rc < 0)
			break;
	}
	free(errout);
	return rc;
}

/* argv = prefix..., names..., NULL (names borrowed). */
static char **make_argv(const char *const *prefix, size_t n_prefix, const json_t *names,
			struct forge_err *err)
{
	size_t n = json_array_size(names), i;
	char **argv = calloc(n_prefix + n + 1, sizeof(*argv));

	if (!argv) {
		forge_err_set(err, -ENOMEM, "apt: out of memory");
		return NULL;
	}
	for (i = 0; i < n_prefix; i++)
		argv[i] = (char *)prefix[i];
	for (i = 0; i < n; i++)
		argv[n_prefix + i] = (char *)json_string_value(json_array_get(names, i));
	return argv;
}

/* ------------------------------------------------------------ depends */

/* The name in "<virtual>" or "pkg:any" form, as a package name. */
static void clean_name(const char *s, size_t n, char *out, size_t outsz, bool *virtual_pkg)
{
	*virtual_pkg = n >= 2 && s[0] == '<' && s[n - 1] == '>';
	if (*virtual_pkg) {
		s++;
		n -= 2;
	}
	if (n > 4 && memcmp(s + n - 4, ":any", 4) == 0)
		n -= 4;
	snprintf(out, outsz, "%.*s", (int)n, s);
}

/* Parses apt-cache depends output into {pkg: [[alt, …], …]} where alt is
 * {"name": n, "virtual": bool, "providers": [p, …]}. */
static int parse_depends(const char *text, json_t **out, struct forge_err *err)
{
	json_t *pkgs = json_object(), *groups = NULL, *group = NULL, *alt = NULL;
	size_t lineno = 0;
	int rc = 0;

	if (!pkgs)
		return forge_err_set(err, -ENOMEM, "apt-cache depends: out of memory");
	for (const char *p = text; *p && rc == 0;) {
		size_t n = strcspn(p, "\n");
		char name[256];
		bool virt;

		lineno++;
		if (n == 0) {
			/* blank line */
		} else if (p[0] != ' ') {
			clean_name(p, n, name, sizeof(name), &virt);
			groups = json_object_get(pkgs, name);
			if (!groups) {
				groups = json_array();
				json_object_set_new(pkgs, name, groups);
			}
			group = alt = NULL;
		} else if (n > 4 && strncmp(p, "    ", 4) == 0) {
			if (alt && json_is_true(json_object_get(alt, "virtual"))) {
				clean_name(p + 4, n - 4, name, sizeof(name), &virt);
				json_array_append_new(json_object_get(alt, "providers"),
						      json_string(name));
			}
		} else if (n > 2 && (p[1] == ' ' || p[1] == '|')) {
			const char *colon = memchr(p, ':', n);
			bool or_next = p[1] == '|';
			size_t tl = colon ? (size_t)(colon - p - 2) : 0;

			alt = NULL;
			if (!groups || !colon || colon + 2 > p + n) {
				rc = forge_err_set(
				    err, -EINVAL,
				    "apt-cache depends: line %zu: unexpected \"%.*s\"", lineno,
				    (int)(n < 80 ? n : 80), p);
				break;
			}
			if ((tl == 7 && strncmp(p + 2, "Depends", 7) == 0) ||
			    (tl == 10 && strncmp(p + 2, "PreDepends", 10) == 0)) {
				clean_name(colon + 2, (size_t)(p + n - colon - 2), name,
					   sizeof(name), &virt);
				if (!group) {
					group = json_array();
					json_array_append_new(groups, group);
				}
				alt = json_pack("{s:s, s:b, s:[]}", "name", name, "virtual", virt,
						"providers");
				json_array_append_new(group, alt);
				if (!or_next)
					group = NULL;
			} else {
				group = NULL; /* another kind of relation */
			}
		}
		p += n + (p[n] == '\n');
	}
	if (rc < 0) {
		json_decref(pkgs);
		return rc;
	}
	*out = pkgs;
	return 0;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* True when a package of alt (itself or a provider) is chosen or excluded. */
static bool alt_satisfied(const json_t *alt, const json_t *chosen, const char *const *exclude,
			  size_t n_exclude)
{
	const char *name = json_string_value(json_object_get(alt, "name"));
	size_t i;
	json_t *p;

	if (in_list(name, exclude, n_exclude) ||
	    (!json_is_true(json_object_get(alt, "virtual")) && json_object_get(chosen, name)))
		return true;
	json_array_foreach(json_object_get(alt, "providers"), i,
			   p) if (json_object_get(chosen, json_string_value(p)) ||
				  in_list(json_string_value(p), exclude, n_exclude)) return true;
	return false;
}

/* The package that satisfies group: the first real alternative, or the
 * first provider of the first virtual one that has providers. */
static const char *alt_pick(const json_t *group)
{
	size_t i;
	json_t *alt;

	json_array_foreach(group, i, alt)
	{
		if (!json_is_true(json_object_get(alt, "virtual")))
			return json_string_value(json_object_get(alt, "name"));
		if (json_array_size(json_object_get(alt, "providers")))
			return json_string_value(
			    json_array_get(json_object_get(alt, "providers"), 0));
	}
	return NULL;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* A new array of the keys of set, sorted. */
static json_t *sorted_keys(const json_t *set)
{
	json_t *arr = json_array(), **v;
	const char *key;
	json_t *val;
	size_t n = 0;

	v = calloc(json_object_size(set) + 1, sizeof(*v));
	if (!arr || !v) {
		json_decref(arr);
		free(v);
		return NULL;
	}
	json_object_foreach((json_t *)set, key, val) v[n++] = json_string(key);
	qsort(v, n, sizeof(*v), by_string);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
	return arr;
}

int forge_apt_depends_closure(const char *text, const char *const *roots, size_t n_roots,
			      const char *const *exclude, size_t n_exclude, json_t **out,
			      struct forge_err *err)
{
	json_t *pkgs = NULL, *chosen = json_object(), *queue = json_array();
	int rc;

	*out = NULL;
	if (!chosen || !queue) {
		rc = forge_err_set(err, -ENOMEM, "apt-cache depends: out of memory");
		goto out;
	}
	rc = parse_depends(text, &pkgs, err);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n_roots; i++) {
		if (in_list(roots[i], exclude, n_exclude) || json_object_get(chosen, roots[i]))
			continue;
		json_object_set_new(chosen, roots[i], json_true());
		json_array_append_new(queue, json_string(roots[i]));
	}
	for (size_t q = 0; q < json_array_size(queue); q++) {
		const char *pkg = json_string_value(json_array_get(queue, q));
		size_t g;
		json_t *group;

		json_array_foreach(json_object_get(pkgs, pkg), g, group)
		{
			size_t a;
			json_t *alt;
			const char *pick;
			bool done = false;

			json_array_foreach(group, a, alt) done =
			    done || alt_satisfied(alt, chosen, exclude, n_exclude);
			if (done)
				continue;
			pick = alt_pick(group);
			if (!pick) {
				rc = forge_err_set(err, -ENOENT,
						   "%s: no package provides its dependency %s", pkg,
						   json_string_value(json_object_get(
						       json_array_get(group, 0), "name")));
				goto out;
			}
			json_object_set_new(chosen, pick, json_true());
			json_array_append_new(queue, json_string(pick));
		}
	}
	*out = sorted_keys(chosen);
	if (!*out)
		rc = forge_err_set(err, -ENOMEM, "apt-cache depends: out of memory");
out:
	json_decref(pkgs);
	json_decref(chosen);
	json_decref(queue);
	return rc;
}

int bld_apt_packages(struct bld_apt *apt, const struct forge_build_spec *s, const char *cwd,
		     json_t **out, struct forge_err *err)
{
	static const char *const prefix[] = {
	    "apt-cache",      "depends",     "--recurse",     "--no-recommends", "--no-suggests",
	    "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances",
	};
	const size_t n_prefix = sizeof(prefix) / sizeof(prefix[0]);
	json_t *roots = json_array(), *set = json_object();
	char **argv = NULL, *text = NULL;
	int rc = 0;

	*out = NULL;
	if (!roots || !set) {
		rc = forge_err_set(err, -ENOMEM, "apt: out of memory");
		goto out;
	}
	for (size_t i = 0; i < s->n_packages; i++) {
		json_array_append_new(roots, json_string(s->packages[i]));
		json_object_set_new(set, s->packages[i], json_true());
	}
	if (!s->depends) {
		*out = sorted_keys(set);
		if (!*out)
			rc = forge_err_set(err, -ENOMEM, "apt: out of memory");
		goto out;
	}
	argv = make_argv(prefix, n_prefix, roots, err);
	rc = argv ? run_apt(apt, argv, cwd, &text, err) : -ENOMEM;
	if (rc == 0)
		rc =
		    forge_apt_depends_closure(text, s->packages, s->n_packages, s->exclude_packages,
					      s->n_exclude_packages, out, err);
out:
	free(text);
	free(argv);
	json_decref(roots);
	json_decref(set);
	return rc;
}

/* ------------------------------------------------------------ fetching */

/* One line of --print-uris: 'URL' FILE SIZE SHA256:HEX */
static int parse_uri_line(const char *line, size_t n, struct bld_deb *d, struct forge_err *err)
{
	char buf[1024], *save = NULL, *url, *file, *size, *sum, *end;

	if (n >= sizeof(buf))
		return forge_err_set(err, -EINVAL, "apt-get --print-uris: line too long");
	memcpy(buf, line, n);
	buf[n] = '\0';
	url = strtok_r(buf, " ", &save);
	file = strtok_r(NULL, " ", &save);
	size = strtok_r(NULL, " ", &save);
	sum = strtok_r(NULL, " ", &save);
	if (!url || !file || !size || !sum || strtok_r(NULL, " ", &save))
		return forge_err_set(err, -EINVAL, "apt-get --print-uris: unexpected line %.*s",
				     (int)(n < 120 ? n : 120), line);
	if (!forge_name_is_component(file) || file[0] == '.' || !strchr(file, '_') ||
	    strlen(file) < 5 || strcmp(file + strlen(file) - 4, ".deb") != 0 ||
	    strlen(file) >= sizeof(d->file))
		return forge_err_set(err, -EINVAL, "apt-get --print-uris: bad file name %.80s",
				     file);
	if (strncmp(sum, "SHA256:", 7) != 0 || strlen(sum + 7) != 64 ||
	    strspn(sum + 7, "0123456789abcdef") != 64)
		return forge_err_set(err, -EINVAL, "apt-get --print-uris: %s: no SHA256 sum", file);
	errno = 0;
	d->size = strtoull(size, &end, 10);
	if (errno || *end || end == size)
		return forge_err_set(err, -EINVAL, "apt-get --print-uris: %s: bad size", file);
	snprintf(d->file, sizeof(d->file), "%s", file);
	snprintf(d->package, sizeof(d->package), "%.*s", (int)strcspn(file, "_"), file);
	memcpy(d->sha256, sum + 7, 65);
	return 0;
}

/* Opens dirfd/d->file and checks it against apt's SHA-256; returns the fd,
 * -ENOENT when missing, -EBADMSG when different. */
static int open_checked(int dirfd, const struct bld_deb *d, struct forge_err *err)
{
	char hex[65];
	int fd, rc;

	fd = openat(dirfd, d->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : forge_err_errno(err, errno, "%s", d->file);
	rc = forge_sha256_fd_hex(fd, hex, err);
	if (rc == 0 && strcmp(hex, d->sha256) != 0)
		rc = forge_err_set(err, -EBADMSG, "%s: SHA-256 %s, apt's lists say %s", d->file,
				   hex, d->sha256);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Downloads the debs of d[] that have no fd into the cache dir cache_fd
 * (path cache for apt's cwd) through a private directory. */
static int download(struct bld_apt *apt, const char *cache, int cache_fd, struct bld_deb *d,
		    size_t n, struct forge_err *err)
{
	static const char *const prefix[] = {"apt-get", "-q", "download"};
	char dir[FORGE_PATH_MAX], *text = NULL, **argv = NULL;
	json_t *names = json_array();
	int dl_fd = -1, rc;

	if (!names)
		return forge_err_set(err, -ENOMEM, "apt: out of memory");
	for (size_t i = 0; i < n; i++)
		if (d[i].fd < 0)
			json_array_append_new(names, json_string(d[i].package));
	if ((size_t)snprintf(dir, sizeof(dir), "%s/.download.XXXXXX", cache) >= sizeof(dir)) {
		json_decref(names);
		return forge_err_set(err, -ENAMETOOLONG, "cache %s: path too long", cache);
	}
	if (!mkdtemp(dir)) {
		rc = forge_err_errno(err, errno, "cache %s: temp dir", cache);
		json_decref(names);
		return rc;
	}
	argv = make_argv(prefix, 3, names, err);
	rc = argv ? run_apt(apt, argv, dir, &text, err) : -ENOMEM;
	if (rc == 0) {
		dl_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dl_fd < 0)
			rc = forge_err_errno(err, errno, "%s", dir);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (d[i].fd >= 0)
			continue;
		rc = open_checked(dl_fd, &d[i], err);
		if (rc == -ENOENT)
			rc = forge_err_set(err, -ENOENT, "apt-get download did not write %s",
					   d[i].file);
		if (rc < 0)
			break;
		d[i].fd = rc;
		rc = 0;
		if (renameat(dl_fd, d[i].file, cache_fd, d[i].file) < 0)
			rc = forge_err_errno(err, errno, "cache %s: %s", cache, d[i].file);
	}
	if (dl_fd >= 0)
		close(dl_fd);
	/* Whatever apt left beside the files taken (nothing, normally). */
	forge_remove_tree(cache_fd, strrchr(dir, '/') + 1, NULL);
	free(argv);
	free(text);
	json_decref(names);
	return rc;
}

/* The print-uris lines of text, one per package of names. */
static int parse_uris(const char *text, const json_t *names, struct bld_deb **out, size_t *n_out,
		      struct forge_err *err)
{
	size_t n = 0, cap = json_array_size(names), i;
	struct bld_deb *d = calloc(cap + 1, sizeof(*d));
	json_t *name;
	int rc = 0;

	if (!d)
		return forge_err_set(err, -ENOMEM, "apt: out of memory");
	for (const char *p = text; *p && rc == 0;) {
		size_t len = strcspn(p, "\n");

		if (len && p[0] == '\'') {
			if (n == cap)
				rc = forge_err_set(
				    err, -EINVAL, "apt-get --print-uris: more files than packages");
			else if ((rc = parse_uri_line(p, len, &d[n], err)) == 0)
				d[n++].fd = -1;
		}
		p += len + (p[len] == '\n');
	}
	/* Every package asked for, exactly once ("pkg:arch" is pkg's file). */
	json_array_foreach(names, i, name)
	{
		const char *want = json_string_value(name);
		size_t wl = strcspn(want, ":"), hits = 0;

		for (size_t k = 0; k < n; k++)
			hits += strlen(d[k].package) == wl && strncmp(d[k].package, want, wl) == 0;
		if (rc == 0 && hits != 1)
			rc = forge_err_set(err, -ENOENT, "apt-get download --print-uris: %s for %s",
					   hits ? "several files" : "no file", want);
	}
	if (rc < 0) {
		free(d);
		return rc;
	}
	*out = d;
	*n_out = n;
	return 0;
}

/* The cache directory, made (mode 0755, parents too) when missing. */
static int open_cache(const char *cache, struct forge_err *err)
{
	int fd = open(cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC), base, rc;

	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : forge_err_errno(err, errno, "cache %s", cache);
	base = cache[0] == '/' ? open("/", O_PATH | O_DIRECTORY | O_CLOEXEC) : AT_FDCWD;
	if (base == -1)
		return forge_err_errno(err, errno, "open /");
	rc = forge_mkdir_beneath(base, cache[0] == '/' ? cache + 1 : cache, 0755, err);
	if (base >= 0)
		close(base);
	if (rc < 0) {
		forge_err_prefix(err, "cache");
		return rc;
	}
	fd = open(cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd >= 0 ? fd : forge_err_errno(err, errno, "cache %s", cache);
}

int bld_apt_fetch(struct bld_apt *apt, const char *cache, const char *cwd, const json_t *names,
		  struct bld_deb **out, size_t *n_out, struct forge_err *err)
{
	static const char *const prefix[] = {"apt-get", "-q", "download", "--print-uris"};
	char **argv = NULL, *text = NULL;
	struct bld_deb *d = NULL;
	size_t n = 0, missing = 0;
	int cache_fd, rc;

	*out = NULL;
	*n_out = 0;
	cache_fd = open_cache(cache, err);
	if (cache_fd < 0)
		return cache_fd;
	argv = make_argv(prefix, sizeof(prefix) / sizeof(prefix[0]), names, err);
	rc = argv ? run_apt(apt, argv, cwd, &text, err) : -ENOMEM;
	if (rc == 0)
		rc = parse_uris(text, names, &d, &n, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		int fd = open_checked(cache_fd, &d[i], err);

		if (fd == -ENOENT || fd == -EBADMSG)
			missing++; /* a damaged cached file is replaced by the download */
		else if (fd < 0)
			rc = fd;
		else
			d[i].fd = fd;
	}
	if (rc == 0 && missing)
		rc = download(apt, cache, cache_fd, d, n, err);
	if (rc < 0) {
		bld_debs_free(d, n);
	} else {
		*out = d;
		*n_out = n;
	}
	free(argv);
	free(text);
	close(cache_fd);
	return rc;
}

void bld_debs_free(struct bld_deb *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++)
		if (d[i].fd >= 0)
			close(d[i].fd);
	free(d);
}
