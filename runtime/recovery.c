/* SPDX-License-Identifier: Apache-2.0 */
/* Start-up recovery: re-adopt journaled scenarios, then sweep what no journal owns. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "images/images.h"
#include "netns/netns.h"
#include "runtime/forged.h"

/* A journaled scenario whose containers all still run is adopted as it was;
 * one caught half-built, half-torn-down or with a container gone is torn
 * down by the one teardown path. */
static int recover_one(struct forged *d, const char *id, json_t *removed)
{
	struct forge_err err = {0};
	struct scenario *s = NULL;
	int rc = journal_read(&d->paths, id, &s, &err);

	if (rc) {
		/* A torn or foreign journal: its objects are found by the sweep. */
		forge_log(FORGE_LOG_WARN, "unreadable journal, removing it", "scenario_id", id,
			  "error", err.msg, NULL);
		journal_remove(&d->paths, id, NULL);
		json_array_append_new(removed, json_sprintf("journal:%s", id));
		return 0;
	}
	s->next = d->scenarios;
	d->scenarios = s;
	bool whole = s->state == SC_RUNNING || s->state == SC_SCORING;
	for (size_t i = 0; whole && i < s->n_ctr; i++) {
		struct scenario_container *sc = &s->ctr[i];
		if (!sc->have_record || forge_container_adopt(d->rt, &sc->rec, &sc->c, &err) < 0) {
			forge_log(FORGE_LOG_WARN, "container not adoptable", "scenario_id", id,
				  "container", sc->name, "error", sc->have_record ? err.msg : "no record",
				  NULL);
			whole = false;
		}
	}
	if (whole) {
		forge_log(FORGE_LOG_INFO, "scenario re-adopted", "scenario_id", id, "state",
			  scenario_state_name(s->state), NULL);
		return 0;
	}
	json_array_append_new(removed, json_sprintf("scenario:%s", id));
	rc = scenario_teardown(d, s, &err);
	if (rc)
		forge_log(FORGE_LOG_ERROR, "recovery teardown failed", "scenario_id", id, "error",
			  err.msg, NULL);
	return rc;
}

#define FORGED_MAX_LIVE_SWEEP 4096

static bool keep_journaled(void *ctx, const char *scenario, const char *container)
{
	struct forged *d = ctx;
	struct scenario *s = scenario_find(d, scenario);
	if (!s || !container)
		return s != NULL;
	for (size_t i = 0; i < s->n_ctr; i++)
		if (strcmp(s->ctr[i].name, container) == 0)
			return true;
	return false;
}

/* Hub namespaces <netns_dir>/<prefix>-<id> that no live scenario owns. */
static int sweep_hubs(struct forged *d, json_t *removed)
{
	char want[FORGE_PREFIX_MAX + 2];
	int rc = 0;
	DIR *dir = opendir(d->cfg.netns_dir);

	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	snprintf(want, sizeof(want), "%s-", d->paths.prefix);
	struct dirent *e;
	while ((e = readdir(dir))) {
		const char *id = e->d_name + strlen(want);
		if (strncmp(e->d_name, want, strlen(want)) != 0 ||
		    strlen(id) != FORGED_SCENARIO_ID_LEN || scenario_find(d, id))
			continue;
		char path[FORGE_PATH_MAX + 256];
		snprintf(path, sizeof(path), "%s/%s", d->cfg.netns_dir, e->d_name);
		if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
			rc = -errno;
		if (unlink(path) < 0)
			rc = -errno;
		json_array_append_new(removed, json_sprintf("netns:%s", path));
	}
	closedir(dir);
	return rc;
}

int forged_recover(struct forged *d, json_t *removed, struct forge_err *err)
{
	char dir[FORGE_PATH_MAX + 16];
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/scenarios", d->paths.lib);
	DIR *sd = opendir(dir);
	if (sd) {
		struct dirent *e;
		while ((e = readdir(sd)))
			if (e->d_name[0] != '.' && recover_one(d, e->d_name, removed) < 0)
				rc = -EIO;
		closedir(sd);
	}
	struct forge_err e = {0};
	if (forge_runtime_sweep(d->rt, keep_journaled, d, removed, &e) < 0) {
		forge_log(FORGE_LOG_ERROR, "cgroup sweep failed", "error", e.msg, NULL);
		rc = -EIO;
	}
	if (sweep_hubs(d, removed) < 0)
		rc = -EIO;
	const char *live[FORGED_MAX_LIVE_SWEEP];
	size_t n_live = 0;
	for (struct scenario *s = d->scenarios; s && n_live < FORGED_MAX_LIVE_SWEEP; s = s->next)
		live[n_live++] = s->id;
	if (forge_net_uplink_sweep(d->own_netns_fd, d->paths.prefix, live, n_live, &e) < 0) {
		forge_log(FORGE_LOG_ERROR, "uplink sweep failed", "error", e.msg, NULL);
		rc = -EIO;
	}
	/* Pins of scenarios that no longer exist. */
	json_t *images = NULL;
	if (forge_image_list(&d->paths, &images, NULL) == 0) {
		size_t i;
		json_t *img;
		json_array_foreach(images, i, img)
		{
			json_t *info = NULL;
			const char *digest = json_string_value(json_object_get(img, "digest"));
			const char *name = json_string_value(json_object_get(img, "name"));
			const char *tag = json_string_value(json_object_get(img, "tag"));
			char ref[FORGE_IMAGE_NAME_MAX + FORGE_IMAGE_TAG_MAX + 2];
			if (!digest || !name || !tag)
				continue;
			snprintf(ref, sizeof(ref), "%s:%s", name, tag);
			if (forge_image_inspect(&d->paths, ref, &info, NULL) < 0)
				continue;
			size_t k;
			json_t *pin;
			json_array_foreach(json_object_get(info, "pins"), k, pin)
			{
				const char *id = json_string_value(pin);
				if (id && !scenario_find(d, id)) {
					forge_image_unpin(&d->paths, digest, id, NULL);
					json_array_append_new(removed, json_sprintf("pin:%s", id));
				}
			}
			json_decref(info);
		}
		json_decref(images);
	}
	if (rc)
		return forge_err_set(err, rc, "recovery left something behind (see the log)");
	return 0;
}
