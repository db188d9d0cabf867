/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/ internals shared by its files and its unit tests. One concern per
 * file: config.c (forge.conf, environment, secrets), jwt.c (JWS verify and
 * encode), auth.c (identity, roles, plan), db.c (SQLite: migrations,
 * idempotency, quotas), billing.c (hash-chained ledger), ratelimit.c (token
 * buckets), forged.c (socket client, retries, circuit breaker), templates.c
 * (the track list, cached), metrics.c (Prometheus text), routes*.c (the
 * routes), http.c (libmicrohttpd), server.c (bind, privileges, run).
 */
#ifndef FORGE_API_INTERNAL_H
#define FORGE_API_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/api.h"
#include "common/common.h"
#include "common/proto.h"

struct forge_policy;

/* --------------------------------------------------------------- time */

int64_t api_now(void);		/* unix seconds (CLOCK_REALTIME) */
int64_t api_monotonic_ms(void); /* CLOCK_MONOTONIC */

/* --------------------------------------------------------------- JWT (jwt.c) */

#define API_JWT_MAX 8192 /* bytes of a token */

/* Why a token was refused; message is safe to show the caller (it never
 * repeats the token). */
struct api_jwt_keys {
	unsigned algs; /* API_ALG_* allowed */
	const uint8_t *hs_secret;
	size_t hs_len;
	const struct api_pubkey *ed;
	size_t n_ed;
	const char *issuer;   /* NULL or "": not checked */
	const char *audience; /* NULL or "": not checked */
	int skew_s;
	int max_lifetime_s; /* exp - iat at most; 0: unbounded */
};

/* Verifies a compact JWS at time now: the alg is on the allowlist and has
 * key material (HS256 only with the secret, EdDSA only with the public keys:
 * no confusion), the signature, then exp (required), nbf, iat (required)
 * within skew, iss, aud. *claims is the payload object. -EACCES with a
 * message on any refusal, -ENOMEM. */
int api_jwt_verify(const struct api_jwt_keys *k, const char *token, int64_t now, json_t **claims,
		   struct forge_err *err);

/* Reads an Ed25519 public key file: lines "<kid> <key>", the key as 64 hex
 * digits or 43 base64url characters; '#' comments. */
int api_pubkeys_load(const char *path, struct api_pubkey *keys, size_t *n, struct forge_err *err);

/* --------------------------------------------------------------- identity (auth.c) */

#define API_ROLE_SPAWN	      (1u << 0) /* forge.spawn */
#define API_ROLE_SCORE_READ   (1u << 1) /* forge.score.read */
#define API_ROLE_LEARNER      (1u << 2) /* forge.learner */
#define API_ROLE_ORCHESTRATOR (1u << 3) /* forge.orchestrator */
#define API_ROLE_ADMIN	      (1u << 4) /* forge.admin */

struct api_identity {
	char sub[API_CLAIM_ID_MAX + 1];
	char tenant[API_CLAIM_ID_MAX + 1];
	unsigned roles;	    /* API_ROLE_* */
	json_t *role_names; /* every role string of the token (for the policy input) */
	const struct api_plan *plan;
	char plan_source[16]; /* "entitlement", "claim", "header", "default" */
};

/* A refusal: status (401 or 403), code, message; www_auth for 401. */
struct api_denial {
	int status;
	const char *code;
	char message[256];
	char www_auth[320];
};

struct api_authcache;

/* Authenticates the Authorization header and resolves the plan: a valid
 * entitlement token (X-Entitlement) for the same tenant, else the token's
 * plan claim, else X-Plan when the dev flag allows it, else the default
 * plan. Returns 0, or -EACCES with *d filled. */
int api_authenticate(const struct api_config *c, struct api_authcache *cache,
		     const char *authorization, const char *entitlement, const char *plan_header,
		     int64_t now, struct api_identity *id, struct api_denial *d);
/* Verified bearer tokens, by SHA-256, until they expire (at most 5 min);
 * api_authenticate with a NULL cache verifies every time. */
int api_authcache_new(struct api_authcache **out);
void api_authcache_free(struct api_authcache *a);
void api_identity_clear(struct api_identity *id);
bool api_plan_has_track(const struct api_plan *p, const char *track);
/* "forge.spawn" -> API_ROLE_SPAWN; 0 when not a Forge role. */
unsigned api_role_bit(const char *name);

/* --------------------------------------------------------------- database (db.c) */

struct api_db {
	sqlite3 *h;
	pthread_mutex_t lock; /* one connection, serialized; writes BEGIN IMMEDIATE */
};

int api_db_open(const char *path, struct api_db **out, struct forge_err *err);
void api_db_close(struct api_db *db);
/* The schema version (PRAGMA user_version) after migrations. */
int api_db_version(struct api_db *db);

struct api_spawn_rec {
	const char *tenant, *subject, *track, *plan, *request_id;
	char body_hash[65];
	char scenario_id[13]; /* chosen by reserve */
};

enum api_reserve_result {
	API_RESERVED = 0,  /* a new row; scenario_id filled */
	API_REPLAY,	   /* same tenant + request id + body: *replay is the 201 body */
	API_BODY_MISMATCH, /* same request id, another body: 409 */
	API_IN_PROGRESS,   /* same request id, still being spawned: 409 */
	API_QUOTA,	   /* the quota check said no (message, retry_after, reasons) */
};

struct api_reserve_out {
	enum api_reserve_result result;
	char *replay; /* API_REPLAY: malloc'd JSON text */
	char message[256];
	json_t *reasons; /* API_QUOTA: the quota gate's reasons, or NULL */
	int retry_after; /* API_QUOTA: seconds */
};

/* Counted inside the reservation's transaction. Live = reserved, or active
 * and not yet expired. */
struct api_quota_counts {
	int64_t live_total, live_tenant, live_subject;
	int64_t spawns_last_minute, spawns_last_hour;
	int64_t oldest_last_minute, oldest_last_hour; /* created_at, 0 when none */
};

/* Decides on the counts: 0 to go on, 1 refused (out filled: API_QUOTA). */
typedef int (*api_quota_fn)(void *arg, const struct api_quota_counts *q,
			    struct api_reserve_out *out);

/* In one transaction (BEGIN IMMEDIATE, so parallel spawns serialize): drop
 * reservations made before stale_before (a crash between reserve and commit),
 * the idempotency lookup, the counts, quota(), then a 'reserved' row with a
 * fresh scenario id. */
int api_db_spawn_reserve(struct api_db *db, struct api_spawn_rec *r, int64_t now,
			 int64_t stale_before, api_quota_fn quota, void *arg,
			 struct api_reserve_out *out, struct forge_err *err);
void api_reserve_out_clear(struct api_reserve_out *o);
/* The spawn went through: the row becomes active with its response, and the
 * billing event is appended, in one transaction. */
int api_db_spawn_commit(struct api_db *db, const struct api_spawn_rec *r, const char *response,
			int64_t expires_at, int64_t now, struct forge_err *err);
/* The spawn failed: the reservation goes. */
int api_db_spawn_abort(struct api_db *db, const char *scenario_id, struct forge_err *err);
/* The scenario ended (completed, destroyed, failed): it stops counting. */
int api_db_scenario_end(struct api_db *db, const char *tenant, const char *scenario_id, int64_t now,
			struct forge_err *err);
/* {"<track>": n} of live scenarios. */
int api_db_live_by_track(struct api_db *db, int64_t now, json_t **out, struct forge_err *err);
/* A write in a transaction (readyz: storage writable). */
int api_db_probe(struct api_db *db, int64_t now, struct forge_err *err);

/* --------------------------------------------------------------- billing (billing.c) */

#define API_BILLING_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* Appends one event; the caller holds the transaction. */
int api_billing_append(sqlite3 *h, const struct api_spawn_rec *r, int64_t ts,
		       struct forge_err *err);
/* The ledger check on an open handle (api_billing_verify opens read-only). */
int api_billing_check(sqlite3 *h, long *rows, struct forge_err *err);

/* --------------------------------------------------------------- rate limits (ratelimit.c) */

#define API_RL_SLOTS 4096

struct api_ratelimit;
int api_ratelimit_new(const struct api_bucket cfg[API_RL_N], struct api_ratelimit **out);
void api_ratelimit_free(struct api_ratelimit *rl);
/* Takes one token of tenant's bucket of class at now_ms: true when allowed;
 * otherwise *retry_after is the seconds until a token is there (>= 1). */
bool api_ratelimit_take(struct api_ratelimit *rl, enum api_rl_class cls, const char *tenant,
			int64_t now_ms, int *retry_after);
const char *api_rl_class_name(enum api_rl_class cls);

/* --------------------------------------------------------------- forged (forged.c) */

enum api_breaker_state { API_BREAKER_CLOSED = 0, API_BREAKER_OPEN, API_BREAKER_HALF_OPEN };

struct api_forged;
struct api_forged_cfg {
	const struct forge_paths *paths;
	int retries;	      /* extra attempts, idempotent ops only */
	int breaker_failures; /* consecutive failures that open the circuit */
	int breaker_cooldown_ms;
	int pool_max; /* idle connections kept */
};
int api_forged_new(const struct api_forged_cfg *cfg, struct api_forged **out);
void api_forged_free(struct api_forged *f);
/* One op. Returns 0 when forged answered (rep->ok or an error reply), or a
 * negative errno when it could not be reached or did not answer in time
 * (-EAGAIN when the circuit is open: failing fast). Only idempotent ops are
 * retried, with jittered exponential backoff, after a transport failure.
 * args is stolen. */
int api_forged_call(struct api_forged *f, const char *op, const char *cid, json_t *args,
		    int timeout_ms, bool idempotent, struct forge_proto_reply *rep,
		    struct forge_err *err);
enum api_breaker_state api_forged_breaker(struct api_forged *f);
const char *api_breaker_name(enum api_breaker_state s);

/* --------------------------------------------------------------- metrics (metrics.c) */

struct api_metrics;
int api_metrics_new(struct api_metrics **out);
void api_metrics_free(struct api_metrics *m);
void api_metrics_http(struct api_metrics *m, const char *route, const char *method, int code,
		      double seconds);
void api_metrics_spawn(struct api_metrics *m, const char *track, int code, double seconds);
void api_metrics_policy(struct api_metrics *m, const char *gate, bool allow);
void api_metrics_ratelimited(struct api_metrics *m, const char *cls);
void api_metrics_forged(struct api_metrics *m, const char *op, const char *result);
/* The exposition text: counters and histograms, then the gauges given here
 * (live scenarios by track, the breaker). malloc'd. */
char *api_metrics_render(struct api_metrics *m, const json_t *live_by_track,
			 enum api_breaker_state breaker);

/* --------------------------------------------------------------- status cache (cache.c) */

struct api_cache;
int api_cache_new(int ttl_ms, struct api_cache **out); /* ttl_ms 0: always a miss */
void api_cache_free(struct api_cache *c);
/* A new reference to the view of scenario id cached for tenant, or NULL. */
json_t *api_cache_get(struct api_cache *c, const char *id, const char *tenant, int64_t now_ms);
void api_cache_put(struct api_cache *c, const char *id, const char *tenant, json_t *view,
		   int64_t now_ms);
void api_cache_drop(struct api_cache *c, const char *id);

/* --------------------------------------------------------------- templates (templates.c) */

struct api_templates;
int api_templates_new(int ttl_s, struct api_templates **out);
void api_templates_free(struct api_templates *t);

/* --------------------------------------------------------------- the service */

struct api_ctx {
	const struct api_config *cfg;
	struct api_db *db;
	struct api_forged *forged;
	struct api_ratelimit *rl;
	struct api_metrics *metrics;
	struct api_templates *templates;
	struct api_cache *cache;
	struct api_authcache *auth;
	const struct forge_policy *policy;    /* NULL: not loaded (spawn and exec refused) */
	char policy_error[FORGE_ERR_MSG_MAX]; /* why not */
	atomic_int spawns_in_flight;
};

/* The track list from forged ({"templates": [...]}), cached for ttl_s;
 * a new reference, or NULL with rc as api_forged_call. */
int api_templates_get(struct api_ctx *ctx, const char *cid, json_t **out, struct forge_err *err);
/* The template object of track from that list (borrowed from list), or NULL. */
const json_t *api_templates_track(const json_t *list, const char *track);

enum api_method { API_GET = 0, API_POST, API_DELETE, API_OTHER };

struct api_request {
	enum api_method method;
	const char *method_name;
	const char *path;
	/* headers (NULL when absent) */
	const char *authorization, *request_id, *entitlement, *plan_header;
	const char *body;
	size_t body_len;
	char cid[FORGE_PROTO_CID_MAX + 1];
	/* filled by the dispatcher */
	const struct api_route *route;
	char param[API_NAME_MAX + 1]; /* {id} or {key_id} */
	char tenant[API_CLAIM_ID_MAX + 1];
};

struct api_response {
	int status;
	json_t *body;		  /* JSON, or NULL */
	char *text;		  /* text/plain body (metrics), malloc'd */
	const char *content_type; /* for text or fd */
	int fd;			  /* a file to stream, -1 */
	uint64_t size;
	char filename[128];
	int retry_after;
	char www_auth[320];
	bool replay;
};

typedef int (*api_handler)(struct api_ctx *ctx, struct api_request *req,
			   const struct api_identity *id, struct api_response *resp);

struct api_route {
	enum api_method method;
	const char *pattern; /* "/v1/scenarios/{id}": also the metrics and log label */
	unsigned roles;	     /* any of these; 0: no authentication */
	enum api_rl_class rl;
	api_handler handler;
};

extern const struct api_route api_routes[];
extern const size_t api_n_routes;

void api_response_init(struct api_response *r);
void api_response_clear(struct api_response *r);
/* {"error":{"code","message","correlation_id"}} with status; returns 0 so
 * handlers can `return api_fail(...)`. */
int api_fail(struct api_response *r, const struct api_request *req, int status, const char *code,
	     const char *fmt, ...) FORGE_PRINTF(5, 6);
/* The error for a forged reply (mapped by forge_proto_http_status) or a
 * transport failure rc (503). */
int api_fail_forged(struct api_response *r, const struct api_request *req, int rc,
		    const struct forge_proto_reply *rep);
/* Routes req: 404/405, authentication and roles, rate limit, then the
 * handler. Always fills resp. */
void api_dispatch(struct api_ctx *ctx, struct api_request *req, struct api_response *resp);
/* True when a matches pattern, copying the {param} segment into param. */
bool api_route_match(const char *pattern, const char *path, char *param, size_t param_sz);

/* The request body as a JSON object (duplicate keys refused), or NULL with
 * resp failed (400). */
json_t *api_body_object(const struct api_request *req, struct api_response *resp);
/* A forged call with this request's correlation id, counted in metrics. */
int api_call(struct api_ctx *ctx, const struct api_request *req, const char *op, json_t *args,
	     int timeout_ms, bool idempotent, struct forge_proto_reply *rep);

/* Handlers (routes_*.c). */
int api_h_spawn(struct api_ctx *, struct api_request *, const struct api_identity *,
		struct api_response *);
int api_h_list(struct api_ctx *, struct api_request *, const struct api_identity *,
	       struct api_response *);
int api_h_get(struct api_ctx *, struct api_request *, const struct api_identity *,
	      struct api_response *);
int api_h_complete(struct api_ctx *, struct api_request *, const struct api_identity *,
		   struct api_response *);
int api_h_destroy(struct api_ctx *, struct api_request *, const struct api_identity *,
		  struct api_response *);
int api_h_exec(struct api_ctx *, struct api_request *, const struct api_identity *,
	       struct api_response *);
int api_h_score(struct api_ctx *, struct api_request *, const struct api_identity *,
		struct api_response *);
int api_h_score_file(struct api_ctx *, struct api_request *, const struct api_identity *,
		     struct api_response *);
int api_h_templates(struct api_ctx *, struct api_request *, const struct api_identity *,
		    struct api_response *);
int api_h_keys(struct api_ctx *, struct api_request *, const struct api_identity *,
	       struct api_response *);
int api_h_health(struct api_ctx *, struct api_request *, const struct api_identity *,
		 struct api_response *);
int api_h_readyz(struct api_ctx *, struct api_request *, const struct api_identity *,
		 struct api_response *);
int api_h_metrics(struct api_ctx *, struct api_request *, const struct api_identity *,
		  struct api_response *);

/* --------------------------------------------------------------- HTTP (http.c) */

struct api_http;
/* Serves ctx on the listening socket fd (taken) with libmicrohttpd. */
int api_http_start(struct api_ctx *ctx, int listen_fd, struct api_http **out,
		   struct forge_err *err);
void api_http_stop(struct api_http *h);

/* --------------------------------------------------------------- server.c */

/* "HOST:PORT" (numeric IPv4, [IPv6]) or "unix:PATH": a bound, listening,
 * CLOEXEC socket. A unix socket is made 0660 and, when uid != -1, owned by
 * uid:gid. */
int api_listen(const char *spec, uid_t uid, gid_t gid, struct forge_err *err);

#endif /* FORGE_API_INTERNAL_H */
