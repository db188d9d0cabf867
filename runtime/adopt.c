/* SPDX-License-Identifier: Apache-2.0 */
/* Containers across a supervisor restart: records for the journal, adoption, orphan sweep. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/internal.h"

int forge_proc_start_time(pid_t pid, uint64_t *out, struct forge_err *err)
{
	char path[64], *buf = NULL;
	size_t len;

	*out = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int rc = forge_read_knob(AT_FDCWD, path, &buf, &len, 4096, err);
	if (rc)
		return rc;
	/* comm may hold spaces and parentheses: fields start after the last ')'. */
	char *p = strrchr(buf, ')');
	int field = 2;
	for (; p && *p && field < 22; p++)
		if (*p == ' ')
			field++;
	char *end = NULL;
	unsigned long long v = p ? strtoull(p, &end, 10) : 0;
	free(buf);
	if (!p || end == p)
		return forge_err_set(err, -EINVAL, "%s: no start time field", path);
	*out = v;
	return 0;
}

int forge_container_record(const struct forge_container *c, struct forge_container_record *rec,
			   struct forge_err *err)
{
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->name, sizeof(rec->name), "%s", c->name);
	snprintf(rec->cgroup, sizeof(rec->cgroup), "%s", c->cg.rel);
	rec->pid = c->pid;
	rec->caps = c->caps;
	rec->seccomp_mode = c->seccomp_mode;
	rec->host_uid = c->host_uid;
	rec->host_gid = c->host_gid;
	rec->id_count = c->id_count;
	return forge_proc_start_time(c->pid, &rec->start_time, err);
}

/* The pid's cgroup (any hierarchy) must end with "/<prefix>/<rel>". */
static bool pid_in_cgroup(pid_t pid, const char *prefix, const char *rel)
{
	char path[64], *buf = NULL, want[FORGE_PATH_MAX + 64];
	size_t len;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	snprintf(want, sizeof(want), "/%s/%s", prefix, rel);
	if (forge_read_knob(AT_FDCWD, path, &buf, &len, 1 << 16, NULL) < 0)
		return false;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line && !found;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line), w = strlen(want);
		found = n >= w && strcmp(line + n - w, want) == 0;
	}
	free(buf);
	return found;
}

int forge_container_adopt(struct forge_runtime *rt, const struct forge_container_record *rec,
			  struct forge_container **out, struct forge_err *err)
{
	uint64_t start = 0;
	int rc;

	*out = NULL;
	if (rec->pid <= 1)
		return forge_err_set(err, -EINVAL, "adopt %s: bad pid %d", rec->name, (int)rec->pid);
	if ((unsigned)rec->seccomp_mode >= FORGE_SECCOMP_COUNT)
		return forge_err_set(err, -EINVAL, "adopt %s: bad seccomp mode", rec->name);
	struct forge_container *c = calloc(1, sizeof(*c));
	if (!c)
		return forge_err_set(err, -ENOMEM, "adopt %s: out of memory", rec->name);
	c->rt = rt;
	c->sock = -1;
	c->pid = rec->pid;
	c->caps = rec->caps;
	c->seccomp_mode = rec->seccomp_mode;
	c->host_uid = rec->host_uid;
	c->host_gid = rec->host_gid;
	c->id_count = rec->id_count;
	snprintf(c->name, sizeof(c->name), "%s", rec->name);
	/* The pidfd first, then the checks: a pid reused after the pidfd was
	 * opened cannot fool them, since they would then see the new process. */
	c->pidfd = sys_pidfd_open(rec->pid, 0);
	if (c->pidfd < 0) {
		rc = forge_err_errno(err, errno, "adopt %s: pid %d", rec->name, (int)rec->pid);
		goto fail;
	}
	if ((rc = forge_proc_start_time(rec->pid, &start, err)))
		goto fail;
	if (start != rec->start_time) {
		rc = forge_err_set(err, -ESRCH,
				   "adopt %s: pid %d is another process now (start time %" PRIu64
				   ", journal says %" PRIu64 ")",
				   rec->name, (int)rec->pid, start, rec->start_time);
		goto fail;
	}
	if (!pid_in_cgroup(rec->pid, rt->prefix, rec->cgroup)) {
		rc = forge_err_set(err, -ESRCH, "adopt %s: pid %d is not in cgroup %s", rec->name,
				   (int)rec->pid, rec->cgroup);
		goto fail;
	}
	if ((rc = forge_cgroup_open(&rt->cg, rec->cgroup, &c->cg, err)))
		goto fail;
	c->adopted = true;
	*out = c;
	return 0;
fail:
	if (c->pidfd >= 0)
		close(c->pidfd);
	free(c);
	return rc;
}

/* Kills and removes the cgroup rel (a scenario's container) that no journal owns. */
static int sweep_one(struct forge_runtime *rt, const char *rel, json_t *removed,
		     struct forge_err *err)
{
	struct forge_cgroup cg;
	int rc = forge_cgroup_open(&rt->cg, rel, &cg, err);
	if (rc)
		return rc;
	forge_cgroup_kill_all(&cg);
	rc = forge_cgroup_remove(&cg, err);
	if (rc == 0 && removed)
		json_array_append_new(removed, json_sprintf("cgroup:%s", rel));
	return rc;
}

/* Sweeps the scenario directory <base i>/<scenario>: every container
 * cgroup keep() does not claim, then the directory itself when nothing in it
 * is kept. */
static int sweep_scenario(struct forge_runtime *rt, int i, const char *scenario,
			  bool (*keep)(void *ctx, const char *scenario, const char *container),
			  void *ctx, json_t *removed, struct forge_err *err)
{
	char sdir[FORGE_PATH_MAX + 300];
	int rc = 0;

	snprintf(sdir, sizeof(sdir), "%s/%s", rt->cg.base[i], scenario);
	DIR *sd = opendir(sdir);
	if (!sd)
		return 0;
	struct dirent *c;
	bool empty = true;
	while ((c = readdir(sd))) {
		if (c->d_type != DT_DIR || c->d_name[0] == '.')
			continue;
		if (keep(ctx, scenario, c->d_name)) {
			empty = false;
			continue;
		}
		char rel[FORGE_PATH_MAX];
		snprintf(rel, sizeof(rel), "%s/%s", scenario, c->d_name);
		int r = sweep_one(rt, rel, removed, err);
		if (r && rc == 0)
			rc = r;
	}
	closedir(sd);
	/* A scenario directory with no container left (a crash between the two
	 * mkdirs): rmdir is enough, it holds no process. */
	if (empty && !keep(ctx, scenario, NULL) && rmdir(sdir) == 0 && removed)
		json_array_append_new(removed, json_sprintf("cgroup:%s", scenario));
	return rc;
}

int forge_runtime_sweep(struct forge_runtime *rt,
			bool (*keep)(void *ctx, const char *scenario, const char *container),
			void *ctx, json_t *removed, struct forge_err *err)
{
	int rc = 0;
	int n = rt->cg.v2 ? 1 : FORGE_CG_NCTL;

	for (int i = 0; i < n; i++) {
		DIR *top = opendir(rt->cg.base[i]);
		if (!top)
			continue; /* nothing of ours in this hierarchy */
		struct dirent *s;
		while ((s = readdir(top))) {
			if (s->d_type != DT_DIR || !forge_name_is_component(s->d_name) ||
			    s->d_name[0] == '.')
				continue;
			int r = sweep_scenario(rt, i, s->d_name, keep, ctx, removed, err);
			if (r && rc == 0)
				rc = r;
		}
		closedir(top);
	}
	return rc;
}

static bool keep_nothing(void *ctx, const char *scenario, const char *container)
{
	(void)ctx;
	(void)scenario;
	(void)container;
	return false;
}

int forge_runtime_remove_scenario(struct forge_runtime *rt, const char *scenario,
				  struct forge_err *err)
{
	int rc = 0;
	if (!forge_name_is_component(scenario))
		return forge_err_set(err, -EINVAL, "cgroup: bad scenario name \"%s\"", scenario);
	for (int i = 0; i < (rt->cg.v2 ? 1 : FORGE_CG_NCTL); i++) {
		int r = sweep_scenario(rt, i, scenario, keep_nothing, NULL, NULL, err);
		if (r && rc == 0)
			rc = r;
	}
	return rc;
}
