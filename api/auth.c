/* SPDX-License-Identifier: Apache-2.0 */
/* Who is calling: bearer token, required claims, roles, and the plan that applies. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#include <sodium.h>

#include "api/internal.h"

#define ID_CHARS  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-"
#define MAX_ROLES 32
#define REALM	  "Bearer realm=\"forge\""

static const struct {
	const char *name;
	unsigned bit;
} roles[] = {
    {"forge.spawn", API_ROLE_SPAWN},	 {"forge.score.read", API_ROLE_SCORE_READ},
    {"forge.learner", API_ROLE_LEARNER}, {"forge.orchestrator", API_ROLE_ORCHESTRATOR},
    {"forge.admin", API_ROLE_ADMIN},
};

unsigned api_role_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i].name, name) == 0)
			return roles[i].bit;
	return 0;
}

/* 401 with the RFC 6750 challenge; the description is the refusal, never the token. */
static int unauthorized(struct api_denial *d, const char *error, const char *what, const char *why)
{
	char desc[sizeof(d->message)];

	d->status = 401;
	d->code = "unauthorized";
	snprintf(d->message, sizeof(d->message), "%s%s%s", what, *what ? ": " : "", why);
	/* A quoted-string of RFC 6750: printable ASCII without '"' or '\\'. */
	for (size_t i = 0; (desc[i] = d->message[i]); i++)
		if ((unsigned char)desc[i] < 0x20 || (unsigned char)desc[i] >= 0x7f ||
		    desc[i] == '"' || desc[i] == '\\')
			desc[i] = '\'';
	if (error)
		snprintf(d->www_auth, sizeof(d->www_auth),
			 REALM ", error=\"%s\", error_description=\"%s\"", error, desc);
	else
		snprintf(d->www_auth, sizeof(d->www_auth), REALM);
	return -EACCES;
}

static bool claim_id(const json_t *claims, const char *name, char *out, size_t outsz)
{
	const char *v = json_string_value(json_object_get(claims, name));
	size_t n = v ? strlen(v) : 0;

	if (n == 0 || n >= outsz || strspn(v, ID_CHARS) != n)
		return false;
	memcpy(out, v, n + 1);
	return true;
}

static bool claim_roles(const json_t *claims, struct api_identity *id)
{
	json_t *r = json_object_get(claims, "roles"), *v;
	size_t i;

	if (!json_is_array(r) || json_array_size(r) > MAX_ROLES)
		return false;
	json_array_foreach(r, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) > API_NAME_MAX)
			return false;
		id->roles |= api_role_bit(json_string_value(v));
	}
	id->role_names = json_incref(r);
	return true;
}

/* The billing side's signed word on the tenant's plan. */
static int entitlement_plan(const struct api_config *c, const char *token, int64_t now,
			    struct api_identity *id, struct api_denial *d)
{
	const struct api_jwt_keys k = {
	    .algs = API_ALG_EDDSA, .ed = c->ent, .n_ed = c->n_ent, .skew_s = c->skew_s};
	struct forge_err err = {0};
	char tenant[API_CLAIM_ID_MAX + 1];
	json_t *claims = NULL;

	if (!c->n_ent)
		return unauthorized(d, "invalid_token", "entitlement",
				    "entitlement tokens are not configured here");
	if (api_jwt_verify(&k, token, now, &claims, &err))
		return unauthorized(d, "invalid_token", "entitlement", err.msg);
	const struct api_plan *p =
	    api_plan_find(c, json_string_value(json_object_get(claims, "plan")));
	bool same = claim_id(claims, "tenant_id", tenant, sizeof(tenant)) &&
		    strcmp(tenant, id->tenant) == 0;
	json_decref(claims);
	if (!same)
		return unauthorized(d, "invalid_token", "entitlement", "issued for another tenant");
	if (!p)
		return unauthorized(d, "invalid_token", "entitlement", "no plan known here");
	id->plan = p;
	snprintf(id->plan_source, sizeof(id->plan_source), "entitlement");
	return 0;
}

static int resolve_plan(const struct api_config *c, const json_t *claim, const char *entitlement,
			const char *plan_header, int64_t now, struct api_identity *id,
			struct api_denial *d)
{
	if (entitlement)
		return entitlement_plan(c, entitlement, now, id, d);
	if (claim) {
		id->plan = api_plan_find(c, json_string_value(claim));
		snprintf(id->plan_source, sizeof(id->plan_source), "claim");
	} else if (plan_header && c->allow_plan_header && !c->production) {
		id->plan = api_plan_find(c, plan_header);
		snprintf(id->plan_source, sizeof(id->plan_source), "header");
	} else {
		id->plan = api_plan_find(c, c->default_plan);
		snprintf(id->plan_source, sizeof(id->plan_source), "default");
	}
	if (!id->plan) {
		d->status = 403;
		d->code = "forbidden";
		snprintf(d->message, sizeof(d->message), "the %s names no plan known here",
			 id->plan_source);
		return -EACCES;
	}
	return 0;
}

/* ------------------------------------------------------------ verified tokens */

/* A portal sends the same token many times: what its verification gave is
 * kept, keyed by the token's SHA-256 (compared in constant time), until the
 * token expires (exp + skew, as the verification itself allows) and at most
 * AUTH_CACHE_MAX_S. Only tokens that passed every check get in. */
#define AUTH_CACHE_SLOTS 1024
#define AUTH_CACHE_MAX_S 300

struct auth_entry {
	uint8_t key[32];
	int64_t until; /* unix seconds; 0: free */
	char sub[API_CLAIM_ID_MAX + 1], tenant[API_CLAIM_ID_MAX + 1];
	unsigned roles;
	json_t *role_names, *plan_claim;
};

struct api_authcache {
	pthread_mutex_t lock;
	struct auth_entry slots[AUTH_CACHE_SLOTS];
};

int api_authcache_new(struct api_authcache **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	pthread_mutex_init(&(*out)->lock, NULL);
	return 0;
}

static void entry_clear(struct auth_entry *e)
{
	json_decref(e->role_names);
	json_decref(e->plan_claim);
	memset(e, 0, sizeof(*e));
}

void api_authcache_free(struct api_authcache *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < AUTH_CACHE_SLOTS; i++)
		entry_clear(&a->slots[i]);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static struct auth_entry *auth_slot(struct api_authcache *a, const uint8_t key[32])
{
	size_t i;

	memcpy(&i, key, sizeof(i));
	return &a->slots[i % AUTH_CACHE_SLOTS];
}

static bool cache_get(struct api_authcache *a, const uint8_t key[32], int64_t now,
		      struct api_identity *id, json_t **plan_claim)
{
	bool hit = false;

	pthread_mutex_lock(&a->lock);
	struct auth_entry *e = auth_slot(a, key);
	if (e->until && now <= e->until && forge_consttime_eq(e->key, key, 32)) {
		memcpy(id->sub, e->sub, sizeof(id->sub));
		memcpy(id->tenant, e->tenant, sizeof(id->tenant));
		id->roles = e->roles;
		id->role_names = json_incref(e->role_names);
		*plan_claim = json_incref(e->plan_claim);
		hit = true;
	}
	pthread_mutex_unlock(&a->lock);
	return hit;
}

static void cache_put(struct api_authcache *a, const uint8_t key[32], int64_t until,
		      const struct api_identity *id, json_t *plan_claim)
{
	struct auth_entry old;

	pthread_mutex_lock(&a->lock);
	struct auth_entry *e = auth_slot(a, key);
	old = *e;
	memcpy(e->key, key, 32);
	e->until = until;
	memcpy(e->sub, id->sub, sizeof(e->sub));
	memcpy(e->tenant, id->tenant, sizeof(e->tenant));
	e->roles = id->roles;
	e->role_names = json_incref(id->role_names);
	e->plan_claim = json_incref(plan_claim);
	pthread_mutex_unlock(&a->lock);
	entry_clear(&old);
}

/* The token's identity: from the cache, or verified and then cached. */
static int bearer(const struct api_config *c, struct api_authcache *cache, const char *token,
		  int64_t now, struct api_identity *id, json_t **plan_claim, struct api_denial *d)
{
	const struct api_jwt_keys k = {.algs = c->algs,
				       .hs_secret = c->hs_secret,
				       .hs_len = c->hs_len,
				       .ed = c->ed,
				       .n_ed = c->n_ed,
				       .issuer = c->issuer,
				       .audience = c->audience,
				       .skew_s = c->skew_s,
				       .max_lifetime_s = c->max_lifetime_s};
	struct forge_err err = {0};
	json_t *claims = NULL;
	uint8_t key[32] = {0};
	int rc = 0;

	*plan_claim = NULL;
	if (cache) {
		crypto_hash_sha256(key, (const unsigned char *)token, strlen(token));
		if (cache_get(cache, key, now, id, plan_claim))
			return 0;
	}
	if (api_jwt_verify(&k, token, now, &claims, &err))
		return unauthorized(d, "invalid_token", "", err.msg);
	if (!claim_id(claims, "sub", id->sub, sizeof(id->sub)))
		rc = unauthorized(d, "invalid_token", "", "claim sub is missing or malformed");
	else if (!claim_id(claims, "tenant_id", id->tenant, sizeof(id->tenant)))
		rc =
		    unauthorized(d, "invalid_token", "", "claim tenant_id is missing or malformed");
	else if (!claim_roles(claims, id))
		rc = unauthorized(d, "invalid_token", "",
				  "claim roles must be an array of at most 32 strings");
	if (rc == 0) {
		*plan_claim = json_incref(json_object_get(claims, "plan"));
		json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
		int64_t until = exp + c->skew_s;
		if (cache && json_is_integer(json_object_get(claims, "exp")))
			cache_put(cache, key,
				  until < now + AUTH_CACHE_MAX_S ? until : now + AUTH_CACHE_MAX_S,
				  id, *plan_claim);
	}
	json_decref(claims);
	return rc;
}

int api_authenticate(const struct api_config *c, struct api_authcache *cache,
		     const char *authorization, const char *entitlement, const char *plan_header,
		     int64_t now, struct api_identity *id, struct api_denial *d)
{
	json_t *plan_claim = NULL;
	int rc;

	memset(id, 0, sizeof(*id));
	memset(d, 0, sizeof(*d));
	if (!authorization || !*authorization)
		return unauthorized(d, NULL, "", "a bearer token is required");
	if (strncasecmp(authorization, "Bearer ", 7) != 0 || !authorization[7])
		return unauthorized(d, "invalid_request", "",
				    "the Authorization scheme must be Bearer");
	rc = bearer(c, cache, authorization + 7, now, id, &plan_claim, d);
	if (rc == 0)
		rc = resolve_plan(c, plan_claim, entitlement, plan_header, now, id, d);
	json_decref(plan_claim);
	if (rc)
		api_identity_clear(id);
	return rc;
}

void api_identity_clear(struct api_identity *id)
{
	json_decref(id->role_names);
	memset(id, 0, sizeof(*id));
}
