/* SPDX-License-Identifier: Apache-2.0 */
/* Scenario lifecycle: spawn from a template (journaled step by step) and the one teardown. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "images/images.h"
#include "netns/netns.h"
#include "policy/policy.h"
#include "runtime/forged.h"
#include "runtime/internal.h"
#include "templates/template.h"

void forged_crash_point(const char *step)
{
#ifdef FORGE_FAULT_INJECTION
	const char *at = getenv("FORGED_CRASH_AT");
	if (at && strcmp(at, step) == 0) {
		forge_log(FORGE_LOG_WARN, "fault injection: crashing", "step", step, NULL);
		kill(getpid(), SIGKILL);
	}
#else
	(void)step;
#endif
}

/* snprintf that refuses to truncate a path. */
static int path_fmt(char *out, size_t size, struct forge_err *err, const char *fmt, ...)
    FORGE_PRINTF(4, 5);
static int path_fmt(char *out, size_t size, struct forge_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return forge_err_set(err, -ENAMETOOLONG, "path too long: %.64s…", out);
	return 0;
}

struct scenario *scenario_find(struct forged *d, const char *id)
{
	for (struct scenario *s = d->scenarios; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

int scenario_set_state(struct forged *d, struct scenario *s, enum scenario_state st,
		       struct forge_err *err)
{
	enum scenario_state from = s->state;
	s->state = st;
	int rc = journal_write(&d->paths, s, err);
	forge_log(FORGE_LOG_INFO, "scenario transition", "scenario_id", s->id, "from",
		  scenario_state_name(from), "to", scenario_state_name(st), NULL);
	forged_event(d, s, scenario_state_name(from));
	return rc;
}

size_t forged_live(const struct forged *d)
{
	size_t n = 0;
	for (const struct scenario *s = d->scenarios; s; s = s->next)
		n += s->state == SC_CREATING || s->state == SC_RUNNING || s->state == SC_SCORING;
	return n;
}

static bool slot_taken(struct forged *d, int slot)
{
	for (struct scenario *s = d->scenarios; s; s = s->next)
		if (s->slot == slot)
			return true;
	return false;
}

/* ------------------------------------------------------------ admission */

static uint64_t mem_available_mb(void)
{
	char *buf = NULL;
	size_t len;
	uint64_t kb = 0;
	if (forge_read_knob(AT_FDCWD, "/proc/meminfo", &buf, &len, 1 << 16, NULL) < 0)
		return UINT64_MAX;
	const char *p = strstr(buf, "MemAvailable:");
	if (p)
		kb = strtoull(p + strlen("MemAvailable:"), NULL, 10);
	free(buf);
	return p ? kb / 1024 : UINT64_MAX;
}

/* Refuses, before anything is built, what the host cannot take now. */
static int admit(struct forged *d, const struct forge_template *t, struct forge_err *err)
{
	if (forged_live(d) >= d->cfg.max_live)
		return forge_err_set(err, -EBUSY,
				     "host cap reached: %zu live scenarios (max_live = %u)",
				     forged_live(d), d->cfg.max_live);
	for (size_t i = 0; i < d->n_paused; i++)
		if (strcmp(d->paused[i], t->track) == 0)
			return forge_err_set(err, -EAGAIN, "track %s is paused by an operator",
					     t->track);
	uint64_t need = 0;
	for (size_t i = 0; i < t->n_containers; i++) {
		const struct forge_tpl_container *c = &t->containers[i];
		need += c->limits.memory_mb ? c->limits.memory_mb : t->limits.total.memory_mb;
	}
	uint64_t avail = mem_available_mb();
	if (need > avail)
		return forge_err_set(err, -ENOMEM,
				     "host memory short: the scenario's limits need %llu MiB, "
				     "%llu MiB available",
				     (unsigned long long)need, (unsigned long long)avail);
	char *buf = NULL;
	size_t len;
	if (forge_read_knob(AT_FDCWD, "/proc/sys/user/max_net_namespaces", &buf, &len, 64,
			    NULL) == 0) {
		unsigned long max = strtoul(buf, NULL, 10);
		free(buf);
		/* each live scenario holds a hub plus one namespace per container */
		unsigned long used = 0;
		for (struct scenario *s = d->scenarios; s; s = s->next)
			if (s->state == SC_CREATING || s->state == SC_RUNNING)
				used += 1 + s->n_ctr;
		if (used + 1 + t->n_containers > max)
			return forge_err_set(err, -ENOSPC,
					     "the kernel's network namespace limit "
					     "(user.max_net_namespaces = %lu) cannot take %zu more",
					     max, 1 + t->n_containers);
	}
	return 0;
}

/* ------------------------------------------------------------ containers */

struct attach_ctx {
	struct forge_net *net;
	const char *name;
};

static int attach_hook(void *ctx, const struct forge_container *c, int netns_fd,
		       struct forge_err *err)
{
	(void)c;
	struct attach_ctx *a = ctx;
	return forge_net_attach(a->net, a->name, netns_fd, err);
}

static uint64_t cpu_quota(double cpus)
{
	return cpus > 0 ? (uint64_t)(cpus * FORGE_CPU_PERIOD_US) : FORGE_LIMIT_NONE;
}

/* envp: the image's, then the template's (which wins on the same key). */
static char **merge_env(char **image_env, char **tpl_env)
{
	size_t n = 0, k = 0;
	for (char **e = image_env; e && *e; e++)
		n++;
	for (char **e = tpl_env; e && *e; e++)
		n++;
	char **out = calloc(n + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (char **e = image_env; e && *e; e++) {
		size_t klen = strcspn(*e, "=") + 1;
		bool overridden = false;
		for (char **t = tpl_env; t && *t && !overridden; t++)
			overridden = strncmp(*t, *e, klen) == 0;
		if (!overridden)
			out[k++] = *e;
	}
	for (char **e = tpl_env; e && *e; e++)
		out[k++] = *e;
	return out;
}

/* Pins (or unpins) the images of the scenario's containers, in one call. */
static int pin_images(struct forged *d, struct scenario *s, bool pin, struct forge_err *err)
{
	const char *digests[FORGED_MAX_CONTAINERS];
	size_t n = 0;
	for (size_t i = 0; i < s->n_ctr && n < FORGED_MAX_CONTAINERS; i++)
		if (s->ctr[i].image_digest[0])
			digests[n++] = s->ctr[i].image_digest;
	return pin ? forge_image_pin_all(&d->paths, digests, n, s->id, err)
		   : forge_image_unpin_all(&d->paths, digests, n, s->id, err);
}

/* The container's log file, opened for append: its init writes the
 * command's output there (bounded), so the log goes on across forged
 * restarts. Returns the fd. */
static int log_open(struct forged *d, struct scenario *s, struct scenario_container *sc,
		    struct forge_err *err)
{
	char rel[FORGE_PATH_MAX];
	int lib = open(d->paths.lib, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (lib < 0)
		return forge_err_errno(err, errno, "open %s", d->paths.lib);
	snprintf(rel, sizeof(rel), "scenarios/%s/logs", s->id);
	int rc = forge_mkdir_beneath(lib, rel, 0700, err);
	if (rc == 0) {
		snprintf(rel, sizeof(rel), "scenarios/%s/logs/%s.log", s->id, sc->name);
		rc = forge_open_beneath(lib, rel, O_WRONLY | O_CREAT | O_APPEND, 0600, err);
	}
	close(lib);
	return rc;
}

/* Launches container i (its init sets up while the next one launches);
 * forge_container_await and the record follow in scenario_spawn. */
static int launch_container(struct forged *d, struct scenario *s, struct forge_net *net,
			    const struct forge_template *t, size_t i, const struct forge_image *img,
			    struct forge_err *err)
{
	const struct forge_tpl_container *tc = &t->containers[i];
	struct scenario_container *sc = &s->ctr[i];
	struct forge_container_spec spec;
	char cgroup[FORGE_PATH_MAX], state_dir[FORGE_PATH_MAX];
	char **envp = NULL;
	const char **argv = NULL;
	int rc = 0;

	forge_container_spec_init(&spec);
	spec.name = tc->name;
	spec.lowerdirs = img->lowerdirs;
	spec.n_lowerdirs = img->n_layers;
	if (tc->argv) {
		spec.argv = tc->argv;
	} else {
		size_t n = 0, k = 0;
		for (char **a = img->config.entrypoint; a && *a; a++)
			n++;
		for (char **a = img->config.cmd; a && *a; a++)
			n++;
		argv = calloc(n + 1, sizeof(*argv));
		if (!argv) {
			rc = forge_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		for (char **a = img->config.entrypoint; a && *a; a++)
			argv[k++] = *a;
		for (char **a = img->config.cmd; a && *a; a++)
			argv[k++] = *a;
		if (k == 0) {
			rc = forge_err_set(err, -EINVAL,
					   "container %s: neither the template nor image %s "
					   "gives a command",
					   tc->name, tc->image);
			goto out;
		}
		spec.argv = argv;
	}
	envp = merge_env(img->config.env, tc->env);
	if (!envp) {
		rc = forge_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	spec.envp = (const char *const *)envp;
	spec.cwd = img->config.working_dir;
	spec.caps = tc->caps;
	uint32_t mem = tc->limits.memory_mb ? tc->limits.memory_mb : t->limits.total.memory_mb;
	uint32_t pids = tc->limits.pids ? tc->limits.pids : t->limits.total.pids;
	double cpu = tc->limits.cpu > 0 ? tc->limits.cpu : t->limits.total.cpu;
	spec.limits.memory_bytes = mem ? (uint64_t)mem << 20 : FORGE_LIMIT_NONE;
	spec.limits.pids = pids ? pids : FORGE_LIMIT_NONE;
	spec.limits.cpu_quota_us = cpu_quota(cpu);
	spec.limits.cpu_period_us = FORGE_CPU_PERIOD_US;
	spec.host_uid = (uid_t)(FORGED_UID_BASE + (uint32_t)s->slot * FORGED_UID_SPAN);
	spec.host_gid = (gid_t)spec.host_uid;
	spec.id_count = FORGED_UID_SPAN;
	snprintf(cgroup, sizeof(cgroup), "%s/%s", s->id, tc->name);
	spec.cgroup = cgroup;
	/* only a writable container makes it (its overlay upper dir) */
	spec.writable = !tc->read_only;
	if ((rc = path_fmt(state_dir, sizeof(state_dir), err, "%s/scenarios/%s/rw-%s",
			   d->paths.lib, s->id, tc->name)))
		goto out;
	spec.state_dir = state_dir;
	spec.log_fd = log_open(d, s, sc, err);
	if (spec.log_fd < 0) {
		rc = spec.log_fd;
		goto out;
	}
	spec.log_limit = FORGED_LOG_LIMIT;
	struct attach_ctx actx = {.net = net, .name = tc->name};
	spec.prestart = attach_hook;
	spec.prestart_ctx = &actx;
	rc = forge_container_launch(d->rt, &spec, &sc->c, err);
	close(spec.log_fd);
out:
	if (rc)
		forge_err_prefix(err, "container %s", tc->name);
	free(argv);
	free(envp);
	return rc;
}

static void images_free(struct forge_image **imgs, size_t n)
{
	for (size_t i = 0; imgs && i < n; i++)
		forge_image_free(imgs[i]);
	free(imgs);
}

/* ------------------------------------------------------------ spawn */

static void addresses_from(struct scenario *s, const struct forge_topology *topo)
{
	for (size_t i = 0; i < topo->n_containers && i < s->n_ctr; i++) {
		const struct forge_net_container *nc = &topo->containers[i];
		json_t *a = json_array();
		for (size_t k = 0; k < nc->n_ifaces; k++) {
			uint8_t len = 0;
			for (size_t n = 0; n < topo->n_subnets; n++)
				if (strcmp(topo->subnets[n].name, nc->ifaces[k].subnet) == 0)
					len = topo->subnets[n].prefix_len;
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &nc->ifaces[k].addr, ip, sizeof(ip));
			json_array_append_new(a, json_sprintf("%s/%u", ip, len));
		}
		json_decref(s->ctr[i].addresses);
		s->ctr[i].addresses = a;
	}
}

int forged_template(struct forged *d, const char *name, struct forge_template **t,
		    enum forge_proto_code *code, struct forge_err *err)
{
	char file[80];
	*code = FORGE_E_BAD_REQUEST;
	/* Only plain names of the template directory: never a path. */
	if (!name || !name[0] || strlen(name) > 32 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(name))
		return forge_err_set(err, -EINVAL,
				     "template name must match [a-z0-9-]{1,32}, got \"%.40s\"",
				     name ? name : "");
	snprintf(file, sizeof(file), "%s.yaml", name);
	struct stat st;
	if (fstatat(d->templates_fd, file, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		*code = errno == ENOENT ? FORGE_E_NOT_FOUND : FORGE_E_INTERNAL;
		return forge_err_errno(err, errno, "template %s", name);
	}
	/* A cached parse is reused only while the file is the same file with
	 * the same size and mtime; anything else is parsed (and hashed) again. */
	struct forged_tpl *slot = &d->tpl_cache[0];
	for (size_t i = 0; i < sizeof(d->tpl_cache) / sizeof(d->tpl_cache[0]); i++) {
		struct forged_tpl *c = &d->tpl_cache[i];
		if (c->t && strcmp(c->name, name) == 0) {
			if (c->dev == st.st_dev && c->ino == st.st_ino && c->size == st.st_size &&
			    c->mtime.tv_sec == st.st_mtim.tv_sec &&
			    c->mtime.tv_nsec == st.st_mtim.tv_nsec) {
				*t = c->t;
				return 0;
			}
			slot = c;
			break;
		}
		if (!c->t)
			slot = c;
	}
	struct forge_template *fresh = NULL;
	int rc = forge_template_load_file(d->schema, d->templates_fd, file, &fresh, NULL, err);
	if (rc) {
		*code = rc == -ENOENT ? FORGE_E_NOT_FOUND : FORGE_E_INTERNAL;
		return rc;
	}
	forge_template_free(slot->t);
	*slot = (struct forged_tpl){.dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
				    .mtime = st.st_mtim, .t = fresh};
	snprintf(slot->name, sizeof(slot->name), "%s", name);
	*t = fresh;
	return 0;
}

/* Templates are immutable once admitted: <lib>/templates-admitted/<name>@<version>
 * holds the hash the first spawn ran, and a different hash under the same
 * name and version is refused. */
static int admit_template_hash(struct forged *d, const struct forge_template *t,
			       struct forge_err *err)
{
	char file[128], *seen = NULL;
	int lib = open(d->paths.lib, O_PATH | O_DIRECTORY | O_CLOEXEC), dir = -1, rc;
	if (lib < 0)
		return forge_err_errno(err, errno, "open %s", d->paths.lib);
	rc = forge_mkdir_beneath(lib, "templates-admitted", 0700, err);
	if (rc == 0)
		dir = forge_open_beneath(lib, "templates-admitted", O_PATH | O_DIRECTORY, 0, err);
	close(lib);
	if (dir < 0)
		return rc ? rc : dir;
	snprintf(file, sizeof(file), "%s@%s", t->name, t->version);
	if (!forge_name_is_component(file)) {
		close(dir);
		return forge_err_set(err, -EINVAL, "template version \"%s\" is not a plain name",
				     t->version);
	}
	rc = forge_read_file(dir, file, &seen, NULL, 128, NULL);
	if (rc == 0) {
		seen[strcspn(seen, "\n")] = '\0';
		rc = strcmp(seen, t->sha256) == 0
			 ? 0
			 : forge_err_set(err, -EPERM,
					 "template %s version %s changed since it was admitted "
					 "(sha256 %.16s…, admitted %.16s…): give it a new version",
					 t->name, t->version, t->sha256, seen);
	} else {
		char line[66];
		snprintf(line, sizeof(line), "%s\n", t->sha256);
		rc = forge_atomic_write(dir, file, line, strlen(line), 0600, err);
	}
	free(seen);
	close(dir);
	return rc;
}

static int gate_training(struct forged *d, const struct forge_template *t,
			 enum forge_proto_code *code, json_t **details, struct forge_err *err)
{
	struct forge_policy_decision dec;
	int rc = forge_policy_eval(d->policy, "training", t->doc, &dec, err);
	if (rc) {
		*code = FORGE_E_INTERNAL;
		return rc;
	}
	json_t *dj = forge_policy_decision_json(&dec);
	forge_log_json(dec.allow ? FORGE_LOG_INFO : FORGE_LOG_WARN, "policy decision", dj);
	json_decref(dj);
	if (!dec.allow) {
		*code = FORGE_E_POLICY_DENIED;
		*details = json_incref(dec.reasons);
		rc = forge_err_set(err, -EPERM, "training gate denied template %s: %s", t->name,
				   json_string_value(json_array_get(dec.reasons, 0)));
	}
	forge_policy_decision_clear(&dec);
	return rc;
}

int scenario_spawn(struct forged *d, const struct spawn_args *a, struct scenario **out,
		   enum forge_proto_code *code, json_t **details, struct forge_err *err)
{
	struct forge_template *t = NULL;
	struct forge_topology topo;
	struct scenario *s = NULL;
	struct forge_image **imgs = NULL;
	json_t *tj = NULL;
	int rc;

	*out = NULL;
	*details = NULL;
	if ((rc = forged_template(d, a->template_name, &t, code, err)))
		return rc;
	if ((rc = gate_training(d, t, code, details, err)))
		goto fail_early;
	if ((rc = admit_template_hash(d, t, err))) {
		*code = rc == -EPERM ? FORGE_E_CONFLICT : FORGE_E_INTERNAL;
		goto fail_early;
	}
	if ((rc = admit(d, t, err))) {
		*code = rc == -EAGAIN ? FORGE_E_PAUSED : FORGE_E_CAPACITY;
		goto fail_early;
	}
	if (t->n_containers > FORGED_MAX_CONTAINERS) {
		*code = FORGE_E_BAD_REQUEST;
		rc = forge_err_set(err, -E2BIG, "template has more than %d containers",
				   FORGED_MAX_CONTAINERS);
		goto fail_early;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		*code = FORGE_E_INTERNAL;
		rc = forge_err_set(err, -ENOMEM, "out of memory");
		goto fail_early;
	}
	s->timer_fd = -1;
	if (a->scenario_id)
		snprintf(s->id, sizeof(s->id), "%s", a->scenario_id);
	else
		forge_random_hex(s->id, FORGED_SCENARIO_ID_LEN);
	snprintf(s->tenant, sizeof(s->tenant), "%s", a->tenant);
	snprintf(s->subject, sizeof(s->subject), "%s", a->subject);
	snprintf(s->plan, sizeof(s->plan), "%s", a->plan);
	snprintf(s->request_id, sizeof(s->request_id), "%s", a->request_id);
	snprintf(s->track, sizeof(s->track), "%s", t->track);
	snprintf(s->tpl_name, sizeof(s->tpl_name), "%s", t->name);
	snprintf(s->tpl_version, sizeof(s->tpl_version), "%s", t->version);
	memcpy(s->tpl_hash, t->sha256, sizeof(s->tpl_hash));
	s->retention_days = a->retention_days;
	s->max_exploits = t->limits.attacker_max_exploits;
	s->created_at = time(NULL);
	s->expires_at = s->created_at + (time_t)t->limits.timeout_minutes * 60;
	for (s->slot = 0; slot_taken(d, s->slot); s->slot++)
		;
	if (!(s->ctr = scenario_containers_new(t->n_containers))) {
		*code = FORGE_E_INTERNAL;
		rc = forge_err_set(err, -ENOMEM, "out of memory");
		goto fail_early;
	}
	s->n_ctr = t->n_containers;
	for (size_t i = 0; i < s->n_ctr; i++) {
		struct scenario_container *sc = &s->ctr[i];
		snprintf(sc->name, sizeof(sc->name), "%s", t->containers[i].name);
		snprintf(sc->image_ref, sizeof(sc->image_ref), "%s", t->containers[i].image);
		sc->learner_access = t->containers[i].learner_access;
		sc->attacker = t->containers[i].role == FORGE_ROLE_ATTACKER;
		sc->addresses = json_array();
	}
	/* Everything that can be refused is checked before the first object. */
	if ((rc = forge_template_topology_json(t, s->id, &tj, err)) ||
	    (rc = forge_topology_from_json(tj, &topo, err)) ||
	    (rc = forge_topology_validate(&topo, d->paths.prefix, err))) {
		*code = FORGE_E_BAD_REQUEST;
		goto fail_early;
	}
	addresses_from(s, &topo);
	/* resolved once: the digest journaled is the one the containers run */
	if (!(imgs = calloc(s->n_ctr, sizeof(*imgs)))) {
		*code = FORGE_E_INTERNAL;
		rc = forge_err_set(err, -ENOMEM, "out of memory");
		goto fail_early;
	}
	for (size_t i = 0; i < s->n_ctr; i++) {
		if ((rc = forge_image_resolve(&d->paths, s->ctr[i].image_ref, &imgs[i], err))) {
			*code = FORGE_E_NOT_FOUND;
			forge_err_prefix(err, "container %s", s->ctr[i].name);
			goto fail_early;
		}
		snprintf(s->ctr[i].image_digest, sizeof(s->ctr[i].image_digest), "%s",
			 imgs[i]->digest);
	}

	/* From here every step is journaled before the object it creates. */
	*code = FORGE_E_INTERNAL;
	s->state = SC_CREATING;
	s->next = d->scenarios;
	d->scenarios = s;
	/* One journal entry covers every object of the build: the hub by its
	 * path, pins by the images, cgroups and processes by the scenario's
	 * cgroup directory. A crash before "running" is journaled is undone by
	 * the teardown, which finds each of them by name. */
	if ((rc = path_fmt(s->hub_path, sizeof(s->hub_path), err, "%s/%s-%s", d->cfg.netns_dir,
			   d->paths.prefix, s->id)))
		goto fail;
	s->hub_made = true;
	if ((rc = journal_write(&d->paths, s, err)))
		goto fail;
	forged_event(d, s, scenario_state_name(SC_PENDING));
	forged_crash_point("journal");
	if ((rc = pin_images(d, s, true, err)))
		goto fail;
	forged_crash_point("pin");
	if ((rc = forge_net_create(&topo, d->paths.prefix, d->cfg.netns_dir, &s->net, err)))
		goto fail;
	/* nothing for deny-all topologies; the allowlist profile's uplink otherwise */
	if ((rc = forge_net_uplink(s->net, d->own_netns_fd, err)))
		goto fail;
	forged_crash_point("network");
	/* The scenario's own cgroup holds its containers' and caps them all
	 * together (memory and pids; each container has its own cpu quota). */
	struct forge_cgroup whole;
	struct forge_limits total = {.memory_bytes = (uint64_t)t->limits.total.memory_mb << 20,
				     .pids = t->limits.total.pids,
				     .cpu_quota_us = FORGE_LIMIT_NONE,
				     .cpu_period_us = FORGE_CPU_PERIOD_US};
	if (!total.memory_bytes)
		total.memory_bytes = FORGE_LIMIT_NONE;
	if (!total.pids)
		total.pids = FORGE_LIMIT_NONE;
	if ((rc = forge_cgroup_create(&d->rt->cg, s->id, &total, &whole, err)))
		goto fail;
	/* All inits set up at once; then each is awaited and recorded. */
	for (size_t i = 0; i < s->n_ctr; i++)
		if ((rc = launch_container(d, s, s->net, t, i, imgs[i], err)))
			goto fail;
	for (size_t i = 0; i < s->n_ctr; i++) {
		struct scenario_container *sc = &s->ctr[i];
		if ((rc = forge_container_await(sc->c, err)) ||
		    (rc = forge_container_record(sc->c, &sc->rec, err))) {
			forge_err_prefix(err, "container %s", sc->name);
			goto fail;
		}
		sc->have_record = true;
		forged_crash_point("container");
	}
	if ((rc = scenario_set_state(d, s, SC_RUNNING, err)))
		goto fail;
	forged_crash_point("running");
	json_decref(tj);
	images_free(imgs, s->n_ctr);
	*out = s;
	return 0;

fail:
	{
		struct forge_err terr = {0};
		images_free(imgs, s->n_ctr);
		if (scenario_teardown(d, s, &terr) < 0)
			forge_log(FORGE_LOG_ERROR, "teardown after a failed spawn failed", "error",
				  terr.msg, NULL);
	}
	json_decref(tj);
	return rc;
fail_early:
	json_decref(tj);
	images_free(imgs, s ? s->n_ctr : 0);
	scenario_free(s);
	return rc;
}

/* ------------------------------------------------------------ teardown */

int scenario_release(struct forged *d, struct scenario *s, struct forge_err *err)
{
	int rc = 0;
	struct forge_err e = {0};

	forged_crash_point("teardown");
	forged_unwatch_scenario(d, s);
	for (size_t i = 0; i < s->n_ctr; i++) {
		struct scenario_container *sc = &s->ctr[i];
		if (!sc->c && sc->have_record && forge_container_adopt(d->rt, &sc->rec, &sc->c, &e) < 0)
			sc->c = NULL; /* gone already; the sweep below gets any leftover */
		if (sc->c && forge_container_destroy(sc->c, &e) < 0 && rc == 0)
			rc = forge_err_set(err, e.code, "%s", e.msg);
		sc->c = NULL;
	}
	/* Cgroups of this scenario the journal may not know (a crash between
	 * a container's start and its journal entry). */
	if (forge_runtime_remove_scenario(d->rt, s->id, &e) < 0 && rc == 0)
		rc = forge_err_set(err, e.code, "%s", e.msg);
	forged_crash_point("teardown-containers");
	if (s->net) {
		if (forge_net_destroy(s->net, &e) < 0 && rc == 0)
			rc = forge_err_set(err, e.code, "%s", e.msg);
		s->net = NULL;
	} else if (s->hub_made) {
		/* Adopted from an earlier forged: its uplink (allowlist profile
		 * only) is found by tag. */
		if (forge_net_uplink_remove(d->own_netns_fd, d->paths.prefix, s->id, &e) < 0 &&
		    rc == 0)
			rc = forge_err_set(err, e.code, "%s", e.msg);
		if (umount2(s->hub_path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT &&
		    rc == 0)
			rc = forge_err_errno(err, errno, "unmount %s", s->hub_path);
		if (unlink(s->hub_path) < 0 && errno != ENOENT && rc == 0)
			rc = forge_err_errno(err, errno, "unlink %s", s->hub_path);
	}
	forged_crash_point("teardown-network");
	s->hub_made = false;
	pin_images(d, s, false, NULL);
	for (size_t i = 0; i < s->n_ctr; i++)
		s->ctr[i].have_record = false;
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	s->timer_fd = -1;
	return rc;
}

int scenario_teardown(struct forged *d, struct scenario *s, struct forge_err *err)
{
	int rc = scenario_release(d, s, err);
	if (rc == 0) {
		const char *from = scenario_state_name(s->state);
		s->state = SC_DESTROYED;
		forged_event(d, s, from);
		rc = journal_remove(&d->paths, s->id, err);
	}
	struct scenario **pp = &d->scenarios;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	forge_log(rc ? FORGE_LOG_ERROR : FORGE_LOG_INFO, "scenario torn down", "scenario_id",
		  s->id, "error", rc ? err->msg : "", NULL);
	scenario_free(s);
	return rc;
}
