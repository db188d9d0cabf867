/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the test_scoring_*.c suites: a private FORGE_ROOT under /tmp with
 * dev keys, a netplus-like scored outcome, and file helpers. Not a test itself
 * (the Makefile builds test_*.c only).
 */
#ifndef FORGE_TEST_SCORING_FIXTURE_H
#define FORGE_TEST_SCORING_FIXTURE_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scoring/scoring.h"

/* 2026-01-01T00:00:00Z: results carry a given clock, never the test's. */
#define FX_TIME 1767225600

struct fx {
	char root[64];
	struct forge_paths p;
};

static inline int fx_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static inline void fx_rm_rf(const char *path)
{
	nftw(path, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh root; with_keys makes the dev key pairs. */
static inline struct fx *fx_new(bool with_keys)
{
	struct forge_err err = {0};
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	snprintf(f->root, sizeof(f->root), "/tmp/forge-test-scoring-XXXXXX");
	if (!mkdtemp(f->root) || forge_paths_init(&f->p, f->root, "ft", &err) < 0 ||
	    (with_keys && forge_keys_ensure(&f->p, true, &err) < 0)) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		if (f->root[0])
			fx_rm_rf(f->root);
		free(f);
		return NULL;
	}
	return f;
}

static inline void fx_free(struct fx *f)
{
	if (!f)
		return;
	fx_rm_rf(f->root);
	free(f);
}

static inline int fx_setup(void **state)
{
	*state = fx_new(true);
	return *state ? 0 : -1;
}

static inline int fx_teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* A netplus-sized outcome: three criteria (weights 1, 2, 3; the second failed),
 * command outputs with exit codes, a network probe and state snapshots. */
struct sample {
	struct forge_run_facts facts;
	struct forge_image_digest images[3];
	struct forge_criterion_result crit[3];
	struct forge_artifact art[8];
	const char *refs0[2], *refs1[2], *refs2[2];
	struct forge_score_input in;
};

#define FX_SHA_A "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define FX_SHA_B "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define FX_SHA_C "3333333333333333333333333333333333333333333333333333333333333333"

static inline void fx_set_art(struct forge_artifact *a, const char *name, const char *text)
{
	a->name = name;
	a->data = text;
	a->len = strlen(text);
}

static inline void fx_sample(struct sample *s, const char *tenant, const char *scenario)
{
	memset(s, 0, sizeof(*s));
	s->images[0] = (struct forge_image_digest){"learner_vm", FX_SHA_A};
	s->images[1] = (struct forge_image_digest){"router", FX_SHA_B};
	s->images[2] = (struct forge_image_digest){"target_server", FX_SHA_A};
	s->facts = (struct forge_run_facts){
	    .tenant = tenant,
	    .scenario_id = scenario,
	    .run_id = "run-1",
	    .template_name = "netplus",
	    .template_version = "1.0.0",
	    .template_hash = FX_SHA_C,
	    .images = s->images,
	    .n_images = 3,
	    .seccomp_profile_hash = FX_SHA_C,
	    .policy_bundle_hash = FX_SHA_B,
	    .forge_version = "0.1.0",
	    .kernel_release = "6.1.0-test",
	    .retention_days = 30,
	    .timestamp = FX_TIME,
	};
	fx_set_art(&s->art[0], "criteria/route/0/stdout", "default via 10.0.1.1 dev eth0\n");
	fx_set_art(&s->art[1], "criteria/route/0/exit_code", "0\n");
	fx_set_art(&s->art[2], "criteria/web/0/stdout", "");
	fx_set_art(&s->art[3], "criteria/web/0/exit_code", "7\n");
	fx_set_art(&s->art[4], "network/target_server-80.json",
		   "{\"from\":\"learner_vm\",\"to\":\"10.0.2.10:80\",\"result\":\"closed\"}");
	fx_set_art(&s->art[5], "state/router.json", "{\"forwarding\":true,\"running\":true}");
	fx_set_art(&s->art[6], "state/learner_vm.json", "{\"routes\":[\"default via 10.0.1.1\"]}");
	fx_set_art(&s->art[7], "criteria/fw/0/stdout", "table inet forge { }\n");
	s->refs0[0] = "criteria/route/0/stdout";
	s->refs0[1] = "criteria/route/0/exit_code";
	s->refs1[0] = "criteria/web/0/exit_code";
	s->refs1[1] = "network/target_server-80.json";
	s->refs2[0] = "criteria/fw/0/stdout";
	s->refs2[1] = "state/router.json";
	s->crit[0] = (struct forge_criterion_result){
	    "route", true, 1, s->refs0, 2, "default route via the router"};
	s->crit[1] = (struct forge_criterion_result){
	    "web", false, 2, s->refs1, 2, "target web server unreachable: exit 7"};
	s->crit[2] = (struct forge_criterion_result){"fw", true, 3, s->refs2, 2, "ok"};
	s->in = (struct forge_score_input){&s->facts, s->crit, 3, s->art, 8};
}

/* root-relative path of a results directory. */
static inline void fx_result_dir(const struct fx *f, const char *tenant, const char *scenario,
				 char *out, size_t n)
{
	snprintf(out, n, "%.1024s/results/%.64s/%.64s", f->p.lib, tenant, scenario);
}

static inline void fx_keys_dir(const struct fx *f, char *out, size_t n)
{
	snprintf(out, n, "%.1024s/keys", f->p.etc);
}

/* Whole file into a malloc'd buffer (NULL when missing). */
static inline char *fx_slurp(const char *path, size_t *len)
{
	struct forge_err err = {0};
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (forge_read_fd(fd, path, &buf, len, 1u << 28, &err) < 0)
		buf = NULL;
	close(fd);
	return buf;
}

static inline int fx_spit(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, data, len) == (ssize_t)len;
	close(fd);
	return ok ? 0 : -1;
}

/* Flips one bit of path at offset (negative: from the end). */
static inline int fx_flip(const char *path, long offset)
{
	size_t len;
	char *buf = fx_slurp(path, &len);
	int rc;

	if (!buf)
		return -1;
	if (offset < 0)
		offset += (long)len;
	buf[offset] ^= 0x01;
	rc = fx_spit(path, buf, len);
	free(buf);
	return rc;
}

/* The verdict key set of the fixture's root. */
static inline int fx_keyset(const struct fx *f, enum forge_key_purpose purpose,
			    struct forge_keyset *ks)
{
	struct forge_err err = {0};
	char dir[FORGE_PATH_MAX];

	fx_keys_dir(f, dir, sizeof(dir));
	return forge_keyset_load_dir(dir, purpose, ks, &err);
}

#endif /* FORGE_TEST_SCORING_FIXTURE_H */
