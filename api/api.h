/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forge-api — the unprivileged REST service (DESIGN §1, issue 7): bearer JWT
 * authentication, tenants, plans and entitlements, spawn authorization
 * tokens, quotas, rate limits, idempotency, health and metrics, in front of
 * forged. The contract is api/openapi.yaml; the guide is docs/api.md.
 *
 * This header is what forge-api's main() and forgectl (dev-token, billing)
 * use. The modules of api/ share api/internal.h.
 *
 * Configuration: <etc>/forge.conf, "key = value" lines ('#' comments), shared
 * with forged: dotted keys (api., jwt., entitlement., plan., ratelimit.,
 * forged., sat.) are the api's, and an unknown one is an error naming its
 * line; plain keys are forged's, of which the api reads policy_dir and
 * policy_pin. Each key is overridable by the environment as FORGE_<KEY>
 * (upper case, '.' -> '_': api.listen -> FORGE_API_LISTEN); FORGE_ENV comes
 * from the environment only. docs/api.md lists the keys.
 */
#ifndef FORGE_API_H
#define FORGE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define API_NAME_MAX	 64
#define API_MAX_PLANS	 8
#define API_MAX_TRACKS	 32
#define API_MAX_KEYS	 16 /* Ed25519 public keys per key file */
#define API_KID_MAX	 64
#define API_CLAIM_ID_MAX 128 /* sub, tenant_id */

/* Bits of api_config.algs. */
#define API_ALG_HS256 1u
#define API_ALG_EDDSA 2u

/* Rate-limit classes (per tenant token buckets). */
enum api_rl_class {
	API_RL_NONE = -1,
	API_RL_CREATE = 0, /* POST spawn */
	API_RL_STATUS,	   /* scenario reads, complete, destroy, exec */
	API_RL_SCORE,	   /* scores and their files */
	API_RL_N,
};

struct api_plan {
	char name[API_NAME_MAX + 1]; /* lower case: free, pro, enterprise, … */
	bool all_tracks;	     /* tracks = * */
	char tracks[API_MAX_TRACKS][API_NAME_MAX + 1];
	size_t n_tracks;
	int concurrent;	       /* live scenarios per subject */
	int tenant_concurrent; /* live scenarios per tenant */
	int spawns_per_hour;   /* per tenant */
	int spawns_per_minute; /* per tenant (the quota gate's rate) */
	int retention_days;    /* of results, passed to forged */
};

struct api_pubkey {
	char kid[API_KID_MAX + 1];
	uint8_t pk[32];
};

struct api_bucket {
	double per_minute; /* refill */
	double burst;	   /* capacity */
};

struct api_config {
	struct forge_paths paths;
	bool production;	/* env / FORGE_ENV = production */
	bool dev;		/* --dev: may generate missing secrets under <etc> */
	bool allow_plan_header; /* --allow-plan-header: X-Plan honoured (dev only) */
	char listen[FORGE_PATH_MAX];
	char user[64]; /* the user to become when started as root */
	char access_url_base[512];
	char db_path[FORGE_PATH_MAX]; /* <lib>/api/api.db */
	int threads, max_connections, conn_timeout_s, max_spawns_in_flight;
	size_t max_body, max_header;
	int host_cap;	     /* live scenarios on the host, the quota gate's host_cap */
	int status_cache_ms; /* how long a scenario view is served from cache; 0: off */

	/* JWT: HS256 secret and/or Ed25519 public keys; allowlist of algs. */
	unsigned algs;
	char hs_secret_file[FORGE_PATH_MAX];
	uint8_t *hs_secret;
	size_t hs_len;
	char eddsa_keys_file[FORGE_PATH_MAX];
	struct api_pubkey ed[API_MAX_KEYS];
	size_t n_ed;
	char issuer[256], audience[256];
	int skew_s, max_lifetime_s;

	/* Entitlement tokens (EdDSA JWTs from the billing side). */
	char ent_keys_file[FORGE_PATH_MAX];
	struct api_pubkey ent[API_MAX_KEYS];
	size_t n_ent;

	/* Spawn authorization tokens. */
	uint8_t *sat_secret;
	size_t sat_len;
	int sat_ttl_s;

	struct api_plan plans[API_MAX_PLANS];
	size_t n_plans;
	char default_plan[API_NAME_MAX + 1];

	struct api_bucket rl[API_RL_N];

	int forged_timeout_ms, forged_slow_timeout_ms, forged_retries;
	int breaker_failures, breaker_cooldown_ms;
	int templates_ttl_s;

	char policy_dir[FORGE_PATH_MAX];
	char policy_pin[65];
};

/* What the command line may set (NULL / false: keep the configuration's). */
struct api_options {
	const char *root;
	const char *listen;
	const char *user;
	bool dev;
	bool allow_plan_header;
};

/* Defaults, then <etc>/forge.conf, then FORGE_* variables, then o. Validates
 * everything (the message names the key and, for the file, the line);
 * production refuses the dev options. Reads no secret. */
int api_config_load(struct api_config *c, const struct api_options *o, struct forge_err *err);
/* The JWT secret (FORGE_JWT_HS256_SECRET, FORGE_JWT_HS256_SECRET_FILE or
 * jwt.hs256_secret_file), the Ed25519 key files and the SAT secret
 * (SAT_HMAC_SECRET or SAT_HMAC_SECRET_FILE, as forged reads it). Refuses to go on without a way to
 * verify tokens or without a SAT secret; with c->dev (never in production)
 * missing secrets are generated under <etc> (api-dev-jwt.secret,
 * sat-dev.secret, mode 0600) and *generated lists their paths ("" when none). */
int api_config_load_secrets(struct api_config *c, char *generated, size_t generated_sz,
			    struct forge_err *err);
/* Only the HS256 secret, for minting development tokens: like
 * api_config_load_secrets but also reads <etc>/api-dev-jwt.secret. */
int api_config_load_hs_secret(struct api_config *c, struct forge_err *err);
void api_config_free(struct api_config *c);
/* The plan named name (case-insensitive), or NULL. */
const struct api_plan *api_plan_find(const struct api_config *c, const char *name);

/* Binds, drops to c->user when root, opens the database, loads the policy and
 * serves until SIGTERM or SIGINT. Logs to stderr. */
int api_server_run(struct api_config *c, struct forge_err *err);

/* A compact JWS: alg "HS256" (key = the secret) or "EdDSA" (key = a 64-byte
 * libsodium secret key); kid is optional. *out is malloc'd. For forgectl
 * dev-token and the tests. */
int api_jwt_encode(const char *alg, const char *kid, const json_t *claims, const void *key,
		   size_t keylen, char **out, struct forge_err *err);

/* Walks the billing ledger of the database at path (read-only): every row's
 * hash must be the hash of its fields and of the previous row's hash.
 * Returns 0 with *rows counted, -EBADMSG naming the first bad row. */
int api_billing_verify(const char *db_path, long *rows, struct forge_err *err);

#endif /* FORGE_API_H */
