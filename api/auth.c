/* SPDX-License-Identifier: Apache-2.0 */
/* Who is calling: bearer token, required claims, roles, and the plan that applies. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"

#define ID_CHARS  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-"
#define MAX_ROLES 32
#define REALM	  "Bearer realm=\"forge\""

static const struct {
	const char *name;
	unsigned bit;
} roles[] = {
    {"forge.spawn", API_ROLE_SPAWN},
    {"forge.score.read", API_ROLE_SCORE_READ},
    {"forge.learner", API_ROLE_LEARNER},
    {"forge.orchestrator", API_ROLE_ORCHESTRATOR},
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
static int unauthorized(struct api_denial *d, const char *error, const char *what,
			const char *why)
{
	d->status = 401;
	d->code = "unauthorized";
	snprintf(d->message, sizeof(d->message), "%s%s%s", what, *what ? ": " : "", why);
	if (error)
		snprintf(d->www_auth, sizeof(d->www_auth),
			 REALM ", error=\"%s\", error_description=\"%s\"", error, d->message);
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
	const struct api_jwt_keys k = {.algs = API_ALG_EDDSA,
				       .ed = c->ent,
				       .n_ed = c->n_ent,
				       .skew_s = c->skew_s};
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

static int resolve_plan(const struct api_config *c, const json_t *claims, const char *entitlement,
			const char *plan_header, int64_t now, struct api_identity *id,
			struct api_denial *d)
{
	const json_t *claim = json_object_get(claims, "plan");

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

int api_authenticate(const struct api_config *c, const char *authorization,
		     const char *entitlement, const char *plan_header, int64_t now,
		     struct api_identity *id, struct api_denial *d)
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
	int rc;

	memset(id, 0, sizeof(*id));
	memset(d, 0, sizeof(*d));
	if (!authorization || !*authorization)
		return unauthorized(d, NULL, "", "a bearer token is required");
	if (strncasecmp(authorization, "Bearer ", 7) != 0 || !authorization[7])
		return unauthorized(d, "invalid_request", "", "the Authorization scheme must be Bearer");
	if (api_jwt_verify(&k, authorization + 7, now, &claims, &err))
		return unauthorized(d, "invalid_token", "", err.msg);
	if (!claim_id(claims, "sub", id->sub, sizeof(id->sub)))
		rc = unauthorized(d, "invalid_token", "", "claim sub is missing or malformed");
	else if (!claim_id(claims, "tenant_id", id->tenant, sizeof(id->tenant)))
		rc = unauthorized(d, "invalid_token", "", "claim tenant_id is missing or malformed");
	else if (!claim_roles(claims, id))
		rc = unauthorized(d, "invalid_token", "",
				  "claim roles must be an array of at most 32 strings");
	else
		rc = resolve_plan(c, claims, entitlement, plan_header, now, id, d);
	json_decref(claims);
	if (rc)
		api_identity_clear(id);
	return rc;
}

void api_identity_clear(struct api_identity *id)
{
	json_decref(id->role_names);
	memset(id, 0, sizeof(*id));
}
