/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container cgroups below Forge's own cgroup: v2 (one unified hierarchy) on
 * lab hosts, v1 (memory, pids and cpu hierarchies) on hybrid hosts like the
 * development machines. Detected at run time; both paths are real.
 *
 * Layout: <mount>/<own cgroup>/<prefix>/<rel>, where <own cgroup> is the one
 * the calling process runs in (per /proc/self/cgroup). Nothing outside that
 * subtree is ever written, except that on v2 the controllers must be enabled
 * in <own>/cgroup.subtree_control to delegate them to <prefix>.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "runtime/internal.h"

static const char *const v1_ctl_name[FORGE_CG_NCTL] = {"memory", "pids", "cpu"};

/* True when the comma-separated list contains the exact token. */
static bool list_has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);
	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && strncmp(p, tok, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Copies the next line of *text into line (truncated lines are skipped by
 * the callers' parsing), advancing *text; false at the end. */
static bool next_line(const char **text, char *line, size_t size)
{
	if (!**text)
		return false;
	const char *nl = strchrnul(*text, '\n');
	size_t len = (size_t)(nl - *text);
	if (len >= size)
		len = 0; /* longer than any line we look for */
	memcpy(line, *text, len);
	line[len] = '\0';
	*text = *nl ? nl + 1 : nl;
	return true;
}

/* Our cgroup path for a v1 controller ("memory") or v2 (ctl NULL), from the
 * text of /proc/self/cgroup. */
static int own_cgroup(const char *text, const char *ctl, char *out, size_t outsz,
		      struct forge_err *err)
{
	char line[FORGE_PATH_MAX + 64];
	int rc = -ENOENT;
	while (next_line(&text, line, sizeof(line))) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = *c2 = '\0';
		bool match =
		    ctl ? list_has_token(c1 + 1, ctl) : (strcmp(line, "0") == 0 && c1[1] == '\0');
		if (!match)
			continue;
		if ((size_t)snprintf(out, outsz, "%s", c2 + 1) >= outsz)
			rc = -ENAMETOOLONG;
		else
			rc = 0;
		break;
	}
	if (rc == -ENOENT)
		return forge_err_set(err, rc, "cgroup: no %s entry in /proc/self/cgroup",
				     ctl ? ctl : "unified");
	if (rc < 0)
		return forge_err_set(err, rc, "cgroup: own cgroup path too long");
	return 0;
}

/* The mount point of the v1 hierarchy carrying ctl, from the text of
 * /proc/self/mountinfo. */
static int v1_mount_point(const char *text, const char *ctl, char *out, size_t outsz,
			  struct forge_err *err)
{
	char line[2 * FORGE_PATH_MAX + 1536];
	int rc = -ENOENT;
	while (next_line(&text, line, sizeof(line))) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype src superopts */
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		char fstype[32], src[256], super[1024];
		if (sscanf(sep + 3, "%31s %255s %1023s", fstype, src, super) != 3)
			continue;
		if (strcmp(fstype, "cgroup") != 0 || !list_has_token(super, ctl))
			continue;
		char root[FORGE_PATH_MAX], mp[FORGE_PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mp) != 2)
			continue;
		if (strcmp(root, "/") != 0)
			continue; /* a bind of a sub-tree: not the hierarchy's root */
		if ((size_t)snprintf(out, outsz, "%s", mp) >= outsz)
			rc = -ENAMETOOLONG;
		else
			rc = 0;
		break;
	}
	if (rc < 0)
		return forge_err_set(err, rc, "cgroup: no v1 hierarchy with the %s controller",
				     ctl);
	return 0;
}

static int join_base(char *out, const char *mount, const char *own, const char *prefix,
		     struct forge_err *err)
{
	const char *sep_own = (strcmp(own, "/") == 0) ? "" : own;
	if ((size_t)snprintf(out, FORGE_PATH_MAX, "%s%s/%s", mount, sep_own, prefix) >=
	    FORGE_PATH_MAX)
		return forge_err_set(err, -ENAMETOOLONG, "cgroup: base path too long");
	return 0;
}

int forge_cgroup_layout_detect(struct forge_cgroup_layout *layout, const char *mount_root,
			       const char *prefix, struct forge_err *err)
{
	struct statfs sfs;
	char own[FORGE_PATH_MAX], *cgroups = NULL, *mounts = NULL;
	int rc;

	memset(layout, 0, sizeof(*layout));
	if (statfs(mount_root, &sfs) < 0)
		return forge_err_errno(err, errno, "cgroup: statfs %s", mount_root);
	layout->v2 = (sfs.f_type == CGROUP2_SUPER_MAGIC);
	/* Each file is read once, whatever the number of hierarchies. */
	rc = forge_read_knob(AT_FDCWD, "/proc/self/cgroup", &cgroups, NULL, 1 << 16, err);
	if (rc < 0)
		return rc;
	if (layout->v2) {
		rc = own_cgroup(cgroups, NULL, own, sizeof(own), err);
		if (rc == 0)
			rc = join_base(layout->base[0], mount_root, own, prefix, err);
		goto out;
	}
	rc = forge_read_knob(AT_FDCWD, "/proc/self/mountinfo", &mounts, NULL, 1 << 22, err);
	for (int i = 0; i < FORGE_CG_NCTL && rc == 0; i++) {
		char mp[FORGE_PATH_MAX];
		rc = v1_mount_point(mounts, v1_ctl_name[i], mp, sizeof(mp), err);
		if (rc == 0)
			rc = own_cgroup(cgroups, v1_ctl_name[i], own, sizeof(own), err);
		if (rc == 0)
			rc = join_base(layout->base[i], mp, own, prefix, err);
	}
out:
	free(cgroups);
	free(mounts);
	return rc;
}

static int nctl(const struct forge_cgroup_layout *layout)
{
	return layout->v2 ? 1 : FORGE_CG_NCTL;
}

/* v2: delegate memory, pids and cpu to the children of dir. */
static int v2_enable_controllers(const char *dir, struct forge_err *err)
{
	char knob[FORGE_PATH_MAX + 32];
	snprintf(knob, sizeof(knob), "%s/cgroup.subtree_control", dir);
	int fd = open(knob, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return forge_err_errno(err, errno, "cgroup: open %s", knob);
	static const char want[] = "+memory +pids +cpu";
	ssize_t n = write(fd, want, sizeof(want) - 1);
	int saved = errno;
	close(fd);
	if (n < 0) {
		if (saved == EBUSY)
			return forge_err_set(
			    err, -EBUSY,
			    "cgroup: cannot enable controllers in %s: it has processes "
			    "of its own (run forged in a delegated cgroup, e.g. systemd "
			    "Delegate=yes)",
			    dir);
		return forge_err_errno(err, saved, "cgroup: write \"%s\" to %s", want, knob);
	}
	return 0;
}

/* mkdir one level; *created says whether it is new. */
static int mkdir_level(const char *path, bool *created, struct forge_err *err)
{
	*created = false;
	if (mkdir(path, 0755) == 0) {
		*created = true;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return forge_err_errno(err, errno, "cgroup: mkdir %s", path);
}

/* rmdir path, retrying briefly on EBUSY: the tasks of a just-killed pid
 * namespace can take a moment to leave the cgroup. */
static int rmdir_retry(const char *path, int attempts)
{
	for (int i = 0;; i++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || i + 1 >= attempts)
			return -errno;
		struct timespec ts = {0, 1000000}; /* 1 ms */
		nanosleep(&ts, NULL);
	}
}

/* Removes the empty directories from leaf up to and including base. */
static void rmdir_parents(const char *base, const char *leaf)
{
	char p[FORGE_PATH_MAX];
	snprintf(p, sizeof(p), "%s", leaf);
	size_t baselen = strlen(base);
	for (;;) {
		char *slash = strrchr(p, '/');
		if (!slash || (size_t)(slash - p) < baselen)
			return;
		*slash = '\0';
		if (rmdir(p) < 0)
			return; /* not empty (another container) or gone */
	}
}

static int write_knob_at(const char *dir, const char *name, const char *value,
			 struct forge_err *err)
{
	char path[FORGE_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return forge_write_knob(AT_FDCWD, path, value, err);
}

static int write_limits(const struct forge_cgroup *cg, const struct forge_limits *l,
			struct forge_err *err)
{
	char v[64];
	int rc = 0;
	bool v2 = cg->layout->v2;
	const char *mem = cg->path[v2 ? 0 : FORGE_CG_MEMORY];
	const char *pids = cg->path[v2 ? 0 : FORGE_CG_PIDS];

	if (l->memory_bytes != FORGE_LIMIT_NONE) {
		snprintf(v, sizeof(v), "%" PRIu64, l->memory_bytes);
		rc = write_knob_at(mem, v2 ? "memory.max" : "memory.limit_in_bytes", v, err);
		if (rc < 0)
			return rc;
		/* No swap beyond the limit: v2 swap.max 0, v1 memsw = limit. Both
		 * knobs are absent when the kernel does no swap accounting. */
		char knob[FORGE_PATH_MAX + 64];
		snprintf(knob, sizeof(knob), "%s/%s", mem,
			 v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes");
		if (access(knob, F_OK) == 0) {
			rc = forge_write_knob(AT_FDCWD, knob, v2 ? "0" : v, err);
			if (rc < 0)
				return rc;
		}
	}
	if (l->pids != FORGE_LIMIT_NONE) {
		snprintf(v, sizeof(v), "%" PRIu64, l->pids);
		rc = write_knob_at(pids, "pids.max", v, err);
		if (rc < 0)
			return rc;
	}
	return forge_cgroup_set_cpu(cg, l->cpu_quota_us, l->cpu_period_us, err);
}

int forge_cgroup_set_cpu(const struct forge_cgroup *cg, uint64_t quota_us, uint64_t period_us,
			 struct forge_err *err)
{
	char v[64];
	int rc = 0;
	bool v2 = cg->layout->v2;
	const char *cpu = cg->path[v2 ? 0 : FORGE_CG_CPU];

	if (quota_us == FORGE_LIMIT_NONE)
		return 0;
	uint64_t period = period_us ? period_us : FORGE_CPU_PERIOD_US;
	if (v2) {
		snprintf(v, sizeof(v), "%" PRIu64 " %" PRIu64, quota_us, period);
		rc = write_knob_at(cpu, "cpu.max", v, err);
	} else {
		snprintf(v, sizeof(v), "%" PRIu64, period);
		rc = write_knob_at(cpu, "cpu.cfs_period_us", v, err);
		if (rc == 0) {
			snprintf(v, sizeof(v), "%" PRIu64, quota_us);
			rc = write_knob_at(cpu, "cpu.cfs_quota_us", v, err);
		}
	}
	return rc;
}

/* Creates base/rel for one hierarchy, level by level. On v2 every level
 * but the leaf delegates the controllers to its children. */
static int create_tree(const char *base, const char *rel, bool v2, char *leaf,
		       struct forge_err *err)
{
	char path[FORGE_PATH_MAX];
	bool created;
	int rc;

	if (v2) {
		/* The parent of base is our own cgroup: delegate into base. */
		char own[FORGE_PATH_MAX];
		snprintf(own, sizeof(own), "%s", base);
		*strrchr(own, '/') = '\0';
		rc = v2_enable_controllers(own, err);
		if (rc < 0)
			return rc;
	}
	rc = mkdir_level(base, &created, err);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s", base);
	const char *p = rel;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (v2) {
			rc = v2_enable_controllers(path, err);
			if (rc < 0)
				return rc;
		}
		size_t cur = strlen(path);
		if (cur + 1 + len >= sizeof(path))
			return forge_err_set(err, -ENAMETOOLONG, "cgroup: path too long");
		path[cur] = '/';
		memcpy(path + cur + 1, p, len);
		path[cur + 1 + len] = '\0';
		rc = mkdir_level(path, &created, err);
		if (rc == 0 && !slash && !created)
			rc = forge_err_set(err, -EEXIST, "cgroup: %s already exists", path);
		if (rc < 0) {
			/* Drop the empty levels this call made on the way down. */
			if (created)
				rmdir(path);
			rmdir_parents(base, path);
			return rc;
		}
		p = slash ? slash + 1 : p + len;
	}
	snprintf(leaf, FORGE_PATH_MAX, "%s", path);
	return 0;
}

static bool rel_is_valid(const char *rel)
{
	if (!rel || !*rel || rel[0] == '/' || strlen(rel) > 512)
		return false;
	char buf[513];
	snprintf(buf, sizeof(buf), "%s", rel);
	char *save = NULL;
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save))
		if (!forge_name_is_component(c))
			return false;
	return rel[strlen(rel) - 1] != '/' && !strstr(rel, "//");
}

/* cg describes <base>/<rel> in layout, nothing on disk yet. */
static int cgroup_init(const struct forge_cgroup_layout *layout, const char *rel,
		       struct forge_cgroup *cg, struct forge_err *err)
{
	memset(cg, 0, sizeof(*cg));
	cg->layout = layout;
	if (!rel_is_valid(rel))
		return forge_err_set(err, -EINVAL, "cgroup: invalid cgroup name \"%s\"",
				     rel ? rel : "");
	snprintf(cg->rel, sizeof(cg->rel), "%s", rel);
	return 0;
}

int forge_cgroup_create(const struct forge_cgroup_layout *layout, const char *rel,
			const struct forge_limits *limits, struct forge_cgroup *cg,
			struct forge_err *err)
{
	int rc = cgroup_init(layout, rel, cg, err);
	if (rc < 0)
		return rc;

	for (int i = 0; i < nctl(layout); i++) {
		/* A concurrent remover may delete an empty parent between our
		 * mkdirs (ENOENT): start that hierarchy over. */
		for (int attempt = 0;; attempt++) {
			rc = create_tree(layout->base[i], rel, layout->v2, cg->path[i], err);
			if (rc != -ENOENT || attempt >= 3)
				break;
		}
		if (rc < 0)
			goto fail;
	}
	rc = write_limits(cg, limits, err);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	forge_cgroup_remove(cg, NULL);
	return rc;
}

int forge_cgroup_attach(const struct forge_cgroup *cg, pid_t pid, struct forge_err *err)
{
	char v[32];
	snprintf(v, sizeof(v), "%d", (int)pid);
	for (int i = 0; i < nctl(cg->layout); i++) {
		if (!cg->path[i][0])
			continue;
		int rc = write_knob_at(cg->path[i], "cgroup.procs", v, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Reads "key value" from a flat-keyed file (memory.events, cpu.stat, …). */
static int read_keyed(const char *dir, const char *file, const char *key, uint64_t *out)
{
	char path[FORGE_PATH_MAX + 64], *buf = NULL;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int rc = forge_read_knob(AT_FDCWD, path, &buf, &len, 65536, NULL);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	size_t klen = strlen(key);
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			*out = strtoull(line + klen + 1, NULL, 10);
			rc = 0;
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(buf);
	return rc;
}

int forge_cgroup_oom_kills(const struct forge_cgroup *cg, uint64_t *out)
{
	*out = 0;
	if (!cg->path[0][0])
		return -ENOENT;
	if (cg->layout->v2)
		return read_keyed(cg->path[0], "memory.events", "oom_kill", out);
	return read_keyed(cg->path[FORGE_CG_MEMORY], "memory.oom_control", "oom_kill", out);
}

/* The first line of a knob as a JSON string (or null when absent). */
static json_t *knob_json(const char *dir, const char *name)
{
	char path[FORGE_PATH_MAX + 64], *buf = NULL;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (forge_read_knob(AT_FDCWD, path, &buf, &len, 4096, NULL) < 0)
		return json_null();
	buf[strcspn(buf, "\n")] = '\0';
	json_t *v = json_string(buf);
	free(buf);
	return v ? v : json_null();
}

static json_t *keyed_json(const char *dir, const char *file, const char *key)
{
	uint64_t v;
	if (read_keyed(dir, file, key, &v) < 0)
		return json_null();
	return json_integer((json_int_t)v);
}

json_t *forge_cgroup_report(const struct forge_cgroup *cg)
{
	bool v2 = cg->layout->v2;
	const char *mem = cg->path[v2 ? 0 : FORGE_CG_MEMORY];
	const char *pids = cg->path[v2 ? 0 : FORGE_CG_PIDS];
	const char *cpu = cg->path[v2 ? 0 : FORGE_CG_CPU];
	json_t *paths = json_array();
	for (int i = 0; i < nctl(cg->layout); i++)
		json_array_append_new(paths, json_string(cg->path[i]));

	json_t *memory = json_pack(
	    "{s:o, s:o, s:o}", "max", knob_json(mem, v2 ? "memory.max" : "memory.limit_in_bytes"),
	    "current", knob_json(mem, v2 ? "memory.current" : "memory.usage_in_bytes"), "oom_kill",
	    v2 ? keyed_json(mem, "memory.events", "oom_kill")
	       : keyed_json(mem, "memory.oom_control", "oom_kill"));
	json_t *pidj = json_pack("{s:o, s:o}", "max", knob_json(pids, "pids.max"), "current",
				 knob_json(pids, "pids.current"));
	json_t *cpuj;
	if (v2)
		cpuj = json_pack("{s:o, s:o, s:o}", "max", knob_json(cpu, "cpu.max"),
				 "nr_throttled", keyed_json(cpu, "cpu.stat", "nr_throttled"),
				 "throttled_usec", keyed_json(cpu, "cpu.stat", "throttled_usec"));
	else
		cpuj = json_pack("{s:o, s:o, s:o, s:o}", "cfs_quota_us",
				 knob_json(cpu, "cpu.cfs_quota_us"), "cfs_period_us",
				 knob_json(cpu, "cpu.cfs_period_us"), "nr_throttled",
				 keyed_json(cpu, "cpu.stat", "nr_throttled"), "throttled_time_ns",
				 keyed_json(cpu, "cpu.stat", "throttled_time"));
	return json_pack("{s:s, s:o, s:o, s:o, s:o}", "mode", v2 ? "v2" : "v1", "paths", paths,
			 "memory", memory, "pids", pidj, "cpu", cpuj);
}

int forge_cgroup_remove(struct forge_cgroup *cg, struct forge_err *err)
{
	int rc = 0;
	if (!cg->layout)
		return 0;
	for (int i = 0; i < FORGE_CG_NCTL; i++) {
		if (!cg->path[i][0])
			continue;
		int r = rmdir_retry(cg->path[i], 2000);
		if (r < 0 && rc == 0)
			rc = forge_err_errno(err, -r, "cgroup: rmdir %s", cg->path[i]);
		if (r == 0) {
			rmdir_parents(cg->layout->base[i], cg->path[i]);
			cg->path[i][0] = '\0';
		}
	}
	return rc;
}

int forge_cgroup_open(const struct forge_cgroup_layout *layout, const char *rel,
		      struct forge_cgroup *cg, struct forge_err *err)
{
	int rc = cgroup_init(layout, rel, cg, err);
	if (rc < 0)
		return rc;
	for (int i = 0; i < nctl(layout); i++) {
		struct stat st;
		snprintf(cg->path[i], sizeof(cg->path[i]), "%s/%s", layout->base[i], rel);
		if (lstat(cg->path[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			cg->path[i][0] = '\0';
			continue; /* a half-created or half-removed cgroup: take what exists */
		}
	}
	return 0;
}

int forge_cgroup_kill_all(const struct forge_cgroup *cg)
{
	int killed = 0;
	for (int i = 0; i < nctl(cg->layout); i++) {
		char path[FORGE_PATH_MAX + 32], *buf = NULL;
		size_t len;
		if (!cg->path[i][0])
			continue;
		if (cg->layout->v2) {
			/* cgroup.kill (5.14+) kills the whole subtree atomically. */
			snprintf(path, sizeof(path), "%s/cgroup.kill", cg->path[i]);
			if (forge_write_knob(AT_FDCWD, path, "1", NULL) == 0)
				return 1;
		}
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg->path[i]);
		if (forge_read_knob(AT_FDCWD, path, &buf, &len, 1 << 20, NULL) < 0)
			continue;
		for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *end;
			long pid = strtol(line, &end, 10);
			if (*end == '\0' && pid > 1 && kill((pid_t)pid, SIGKILL) == 0)
				killed++;
		}
		free(buf);
	}
	return killed;
}
