/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-tenant token buckets, one per rate-limit class, in a fixed table: memory
 * stays bounded whatever the number of tenants. A full neighbourhood evicts
 * its least recently used bucket (which then starts full again: a tenant can
 * only gain by pushing its own bucket out with other tenants' valid tokens).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

#define RL_PROBE 16

struct rl_slot {
	bool used;
	int cls;
	char tenant[API_CLAIM_ID_MAX + 1];
	double tokens;
	int64_t last_ms;
};

struct api_ratelimit {
	pthread_mutex_t lock;
	struct api_bucket cfg[API_RL_N];
	struct rl_slot slots[API_RL_SLOTS];
};

const char *api_rl_class_name(enum api_rl_class cls)
{
	static const char *const names[API_RL_N] = {"create", "status", "score"};

	return cls >= 0 && cls < API_RL_N ? names[cls] : "none";
}

int api_ratelimit_new(const struct api_bucket cfg[API_RL_N], struct api_ratelimit **out)
{
	struct api_ratelimit *rl = calloc(1, sizeof(*rl));

	*out = NULL;
	if (!rl)
		return -ENOMEM;
	pthread_mutex_init(&rl->lock, NULL);
	memcpy(rl->cfg, cfg, sizeof(rl->cfg));
	*out = rl;
	return 0;
}

void api_ratelimit_free(struct api_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* FNV-1a of the class and the tenant. */
static size_t rl_hash(int cls, const char *tenant)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)cls;

	for (; *tenant; tenant++)
		h = (h ^ (unsigned char)*tenant) * 1099511628211ull;
	return (size_t)(h % API_RL_SLOTS);
}

static struct rl_slot *rl_slot(struct api_ratelimit *rl, int cls, const char *tenant,
			       int64_t now_ms)
{
	size_t h = rl_hash(cls, tenant);
	struct rl_slot *victim = NULL;

	for (size_t i = 0; i < RL_PROBE; i++) {
		struct rl_slot *s = &rl->slots[(h + i) % API_RL_SLOTS];
		if (s->used && s->cls == cls && strcmp(s->tenant, tenant) == 0)
			return s;
		/* Prefer a free slot, else the least recently used. */
		if (!victim || (victim->used && (!s->used || s->last_ms < victim->last_ms)))
			victim = s;
	}
	victim->used = true;
	victim->cls = cls;
	snprintf(victim->tenant, sizeof(victim->tenant), "%s", tenant);
	victim->tokens = rl->cfg[cls].burst;
	victim->last_ms = now_ms;
	return victim;
}

bool api_ratelimit_take(struct api_ratelimit *rl, enum api_rl_class cls, const char *tenant,
			int64_t now_ms, int *retry_after)
{
	const struct api_bucket *b = &rl->cfg[cls];
	double per_ms = b->per_minute / 60000.0;
	bool ok;

	*retry_after = 0;
	pthread_mutex_lock(&rl->lock);
	struct rl_slot *s = rl_slot(rl, cls, tenant, now_ms);
	if (now_ms > s->last_ms) {
		s->tokens += (double)(now_ms - s->last_ms) * per_ms;
		if (s->tokens > b->burst)
			s->tokens = b->burst;
		s->last_ms = now_ms;
	}
	ok = s->tokens >= 1.0;
	if (ok) {
		s->tokens -= 1.0;
	} else {
		/* Whole seconds until one token is back, rounded up. */
		double wait_s = (1.0 - s->tokens) / per_ms / 1000.0;
		*retry_after = (int)wait_s + ((double)(int)wait_s < wait_s);
		if (*retry_after < 1)
			*retry_after = 1;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
