/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A short-lived cache of scenario views for GET /v1/scenarios/{id}: portals
 * poll status, and forged (one thread, the trusted base) should not pay for
 * every poll. An entry lives api.status_cache_ms (1 s by default, 0 turns the
 * cache off), is served only to the tenant it was fetched for, and goes as
 * soon as the api itself completes or destroys the scenario.
 *
 * A fixed direct-mapped table: a colliding id replaces the older entry. The
 * views are never modified once stored (jansson's reference counts are
 * atomic), so readers share them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

#define CACHE_SLOTS 1024

struct cache_entry {
	char id[13];
	char tenant[API_CLAIM_ID_MAX + 1];
	int64_t until_ms;
	json_t *view;
};

struct api_cache {
	pthread_mutex_t lock;
	int ttl_ms;
	struct cache_entry slots[CACHE_SLOTS];
};

int api_cache_new(int ttl_ms, struct api_cache **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	pthread_mutex_init(&(*out)->lock, NULL);
	(*out)->ttl_ms = ttl_ms;
	return 0;
}

void api_cache_free(struct api_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		json_decref(c->slots[i].view);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct cache_entry *slot(struct api_cache *c, const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return &c->slots[h % CACHE_SLOTS];
}

json_t *api_cache_get(struct api_cache *c, const char *id, const char *tenant, int64_t now_ms)
{
	json_t *v = NULL;

	if (!c->ttl_ms)
		return NULL;
	pthread_mutex_lock(&c->lock);
	struct cache_entry *e = slot(c, id);
	if (e->view && now_ms < e->until_ms && strcmp(e->id, id) == 0 &&
	    strcmp(e->tenant, tenant) == 0)
		v = json_incref(e->view);
	pthread_mutex_unlock(&c->lock);
	return v;
}

void api_cache_put(struct api_cache *c, const char *id, const char *tenant, json_t *view,
		   int64_t now_ms)
{
	json_t *old;

	if (!c->ttl_ms || strlen(id) >= sizeof(c->slots[0].id) ||
	    strlen(tenant) >= sizeof(c->slots[0].tenant))
		return;
	pthread_mutex_lock(&c->lock);
	struct cache_entry *e = slot(c, id);
	old = e->view;
	strcpy(e->id, id);
	strcpy(e->tenant, tenant);
	e->until_ms = now_ms + c->ttl_ms;
	e->view = json_incref(view);
	pthread_mutex_unlock(&c->lock);
	json_decref(old);
}

void api_cache_drop(struct api_cache *c, const char *id)
{
	json_t *old = NULL;

	pthread_mutex_lock(&c->lock);
	struct cache_entry *e = slot(c, id);
	if (e->view && strcmp(e->id, id) == 0) {
		old = e->view;
		e->view = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	json_decref(old);
}
