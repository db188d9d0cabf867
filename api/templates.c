/* SPDX-License-Identifier: Apache-2.0 */
/* The tracks forged offers (op "templates"), cached for a few seconds. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

struct api_templates {
	pthread_mutex_t lock;
	int ttl_ms;
	json_t *list; /* {"templates": [...]} as forged sent it */
	int64_t fetched_ms;
};

int api_templates_new(int ttl_s, struct api_templates **out)
{
	struct api_templates *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->ttl_ms = ttl_s * 1000;
	*out = t;
	return 0;
}

void api_templates_free(struct api_templates *t)
{
	if (!t)
		return;
	json_decref(t->list);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int api_templates_get(struct api_ctx *ctx, const char *cid, json_t **out, struct forge_err *err)
{
	struct api_templates *t = ctx->templates;
	struct forge_proto_reply rep;
	int64_t now = api_monotonic_ms();
	int rc;

	*out = NULL;
	pthread_mutex_lock(&t->lock);
	if (t->list && now - t->fetched_ms < t->ttl_ms)
		*out = json_incref(t->list);
	pthread_mutex_unlock(&t->lock);
	if (*out)
		return 0;
	rc = api_forged_call(ctx->forged, "templates", cid, json_object(),
			     ctx->cfg->forged_timeout_ms, true, &rep, err);
	api_metrics_forged(ctx->metrics, "templates", rc ? "unreachable" : rep.ok ? "ok" : "error");
	if (rc)
		return rc;
	if (!rep.ok || !json_is_array(json_object_get(rep.result, "templates"))) {
		rc = forge_err_set(err, -EPROTO, "forged: templates: %s",
				   rep.ok ? "no templates array" : rep.message);
		forge_proto_reply_clear(&rep);
		return rc;
	}
	pthread_mutex_lock(&t->lock);
	json_decref(t->list);
	t->list = json_incref(rep.result);
	t->fetched_ms = now;
	pthread_mutex_unlock(&t->lock);
	*out = json_incref(rep.result);
	forge_proto_reply_clear(&rep);
	return 0;
}

const json_t *api_templates_track(const json_t *list, const char *track)
{
	json_t *arr = json_object_get(list, "templates"), *t;
	size_t i;

	json_array_foreach(arr, i, t)
	{
		const char *name = json_string_value(json_object_get(t, "track"));
		if (!name)
			name = json_string_value(json_object_get(t, "name"));
		if (name && strcmp(name, track) == 0)
			return t;
	}
	return NULL;
}
