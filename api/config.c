/* SPDX-License-Identifier: Apache-2.0 */
/* forge-api's configuration: defaults, forge.conf, FORGE_* variables, secrets. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/internal.h"
#include "common/sat.h"

#define CONF_FILE      "forge.conf"
#define CONF_KEY_MAX   96
#define DEV_JWT_SECRET "api-dev-jwt.secret"
#define DEV_SAT_SECRET "sat-dev.secret"
#define PLAN_CHARS     "abcdefghijklmnopqrstuvwxyz0123456789_-"

enum conf_type { T_STR, T_INT, T_SIZE, T_ALGS, T_RATE };

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;	    /* into struct api_config */
	size_t size;	    /* T_STR: buffer size */
	long long min, max; /* T_INT, T_SIZE, T_RATE */
};

#define STR(n, f)                                                                                  \
	{                                                                                          \
		n, T_STR, offsetof(struct api_config, f), sizeof(((struct api_config *)0)->f), 0,  \
		    0                                                                              \
	}
#define INT(n, f, lo, hi)                                                                          \
	{                                                                                          \
		n, T_INT, offsetof(struct api_config, f), 0, lo, hi                                \
	}
#define SIZE(n, f, lo, hi)                                                                         \
	{                                                                                          \
		n, T_SIZE, offsetof(struct api_config, f), 0, lo, hi                               \
	}
#define RATE(n, f, lo, hi)                                                                         \
	{                                                                                          \
		n, T_RATE, offsetof(struct api_config, f), 0, lo, hi                               \
	}

static const struct conf_key conf_keys[] = {
    STR("api.listen", listen),
    STR("api.user", user),
    STR("api.access_url_base", access_url_base),
    INT("api.threads", threads, 1, 256),
    INT("api.max_connections", max_connections, 1, 65536),
    INT("api.connection_timeout_s", conn_timeout_s, 1, 3600),
    INT("api.max_spawns_in_flight", max_spawns_in_flight, 1, 256),
    SIZE("api.max_body_bytes", max_body, 1024, 1024 * 1024),
    SIZE("api.max_header_bytes", max_header, 4096, 1024 * 1024),
    INT("api.host_cap", host_cap, 1, 1000000),
    INT("api.templates_ttl_s", templates_ttl_s, 0, 3600),
    INT("api.status_cache_ms", status_cache_ms, 0, 10000),
    {"jwt.algs", T_ALGS, 0, 0, 0, 0},
    STR("jwt.hs256_secret_file", hs_secret_file),
    STR("jwt.eddsa_keys_file", eddsa_keys_file),
    STR("jwt.issuer", issuer),
    STR("jwt.audience", audience),
    INT("jwt.skew_s", skew_s, 0, 300),
    INT("jwt.max_lifetime_s", max_lifetime_s, 60, 30 * 86400),
    STR("entitlement.keys_file", ent_keys_file),
    INT("sat.ttl_s", sat_ttl_s, 10, FORGE_SAT_MAX_TTL),
    INT("forged.timeout_ms", forged_timeout_ms, 100, 600000),
    INT("forged.slow_timeout_ms", forged_slow_timeout_ms, 1000, 3600000),
    INT("forged.retries", forged_retries, 0, 5),
    INT("forged.breaker_failures", breaker_failures, 1, 1000),
    INT("forged.breaker_cooldown_ms", breaker_cooldown_ms, 100, 600000),
    STR("policy_dir", policy_dir), /* forged's keys, same meaning */
    STR("policy_pin", policy_pin),
    STR("plan.default", default_plan),
    RATE("ratelimit.create.per_minute", rl[API_RL_CREATE].per_minute, 1, 1000000000),
    RATE("ratelimit.create.burst", rl[API_RL_CREATE].burst, 1, 1000000000),
    RATE("ratelimit.status.per_minute", rl[API_RL_STATUS].per_minute, 1, 1000000000),
    RATE("ratelimit.status.burst", rl[API_RL_STATUS].burst, 1, 1000000000),
    RATE("ratelimit.score.per_minute", rl[API_RL_SCORE].per_minute, 1, 1000000000),
    RATE("ratelimit.score.burst", rl[API_RL_SCORE].burst, 1, 1000000000),
};

static const char *const plan_fields[] = {
    "tracks",	       "concurrent",	    "tenant_concurrent",
    "spawns_per_hour", "spawns_per_minute", "retention_days"};

static const struct api_plan default_plans[] = {
    {"free", false, {"netplus"}, 1, 1, 3, 10, 2, 7},
    {"pro", false, {"netplus", "ccna"}, 2, 3, 20, 100, 10, 30},
    {"enterprise", true, {{0}}, 0, 10, 200, 1000, 60, 365},
};

static void config_defaults(struct api_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8080");
	snprintf(c->user, sizeof(c->user), "forge");
	c->threads = 8;
	c->max_connections = 1024;
	c->conn_timeout_s = 15;
	c->max_spawns_in_flight = 4;
	c->max_body = 64 * 1024;
	c->max_header = 32 * 1024;
	c->host_cap = 1000;
	c->templates_ttl_s = 30;
	c->status_cache_ms = 1000;
	c->algs = API_ALG_HS256 | API_ALG_EDDSA;
	snprintf(c->issuer, sizeof(c->issuer), "forge");
	snprintf(c->audience, sizeof(c->audience), "forge-api");
	c->skew_s = 60;
	c->max_lifetime_s = 86400;
	c->sat_ttl_s = 120;
	c->forged_timeout_ms = 5000;
	c->forged_slow_timeout_ms = 120000;
	c->forged_retries = 2;
	c->breaker_failures = 5;
	c->breaker_cooldown_ms = 5000;
	memcpy(c->plans, default_plans, sizeof(default_plans));
	c->n_plans = sizeof(default_plans) / sizeof(default_plans[0]);
	snprintf(c->default_plan, sizeof(c->default_plan), "free");
	c->rl[API_RL_CREATE] = (struct api_bucket){60, 20};
	c->rl[API_RL_STATUS] = (struct api_bucket){1200, 200};
	c->rl[API_RL_SCORE] = (struct api_bucket){300, 60};
}

/* ------------------------------------------------------------ values */

static int parse_ll(const char *v, long long min, long long max, long long *out)
{
	char *end;

	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

static int parse_algs(const char *v, unsigned *out)
{
	char buf[128], *save = NULL;
	unsigned algs = 0;

	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, v);
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (strcmp(t, "HS256") == 0)
			algs |= API_ALG_HS256;
		else if (strcmp(t, "EdDSA") == 0)
			algs |= API_ALG_EDDSA;
		else
			return -EINVAL; /* "none" and everything else */
	}
	if (!algs)
		return -EINVAL;
	*out = algs;
	return 0;
}

static int set_key(struct api_config *c, const struct conf_key *k, const char *v, const char *where,
		   struct forge_err *err)
{
	char *p = (char *)c + k->off;
	long long n;

	switch (k->type) {
	case T_STR:
		if (strlen(v) >= k->size)
			return forge_err_set(err, -EINVAL, "%s: %s: longer than %zu bytes", where,
					     k->name, k->size - 1);
		strcpy(p, v);
		return 0;
	case T_INT:
	case T_SIZE:
	case T_RATE:
		if (parse_ll(v, k->min, k->max, &n))
			return forge_err_set(err, -EINVAL,
					     "%s: %s: \"%.64s\" is not an integer in %lld..%lld",
					     where, k->name, v, k->min, k->max);
		if (k->type == T_INT)
			*(int *)p = (int)n;
		else if (k->type == T_SIZE)
			*(size_t *)p = (size_t)n;
		else
			*(double *)p = (double)n;
		return 0;
	case T_ALGS:
		if (parse_algs(v, &c->algs))
			return forge_err_set(err, -EINVAL,
					     "%s: jwt.algs: \"%.64s\": a list of HS256 and EdDSA "
					     "(none and other algorithms are never accepted)",
					     where, v);
		return 0;
	}
	return -EINVAL;
}

static struct api_plan *plan_get(struct api_config *c, const char *name, bool create)
{
	for (size_t i = 0; i < c->n_plans; i++)
		if (strcmp(c->plans[i].name, name) == 0)
			return &c->plans[i];
	if (!create || c->n_plans == API_MAX_PLANS)
		return NULL;
	/* A new plan starts as the first default plan, so that every field is sane. */
	struct api_plan *p = &c->plans[c->n_plans++];
	*p = default_plans[0];
	snprintf(p->name, sizeof(p->name), "%s", name);
	return p;
}

static int set_tracks(struct api_plan *p, const char *v)
{
	char buf[API_MAX_TRACKS * (API_NAME_MAX + 2)], *save = NULL;

	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, v);
	p->n_tracks = 0;
	p->all_tracks = strcmp(v, "*") == 0;
	if (p->all_tracks)
		return 0;
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (p->n_tracks == API_MAX_TRACKS || strlen(t) > API_NAME_MAX ||
		    strspn(t, PLAN_CHARS) != strlen(t))
			return -EINVAL;
		strcpy(p->tracks[p->n_tracks++], t);
	}
	return 0;
}

static int set_plan_field(struct api_plan *p, const char *field, const char *v, const char *where,
			  struct forge_err *err)
{
	int *ints[] = {&p->concurrent, &p->tenant_concurrent, &p->spawns_per_hour,
		       &p->spawns_per_minute, &p->retention_days};
	long long n;

	if (strcmp(field, "tracks") == 0) {
		if (set_tracks(p, v))
			return forge_err_set(err, -EINVAL,
					     "%s: plan.%s.tracks: \"*\" or up to %d track names "
					     "[a-z0-9_-], comma separated",
					     where, p->name, API_MAX_TRACKS);
		return 0;
	}
	for (size_t i = 1; i < sizeof(plan_fields) / sizeof(plan_fields[0]); i++) {
		if (strcmp(field, plan_fields[i]) != 0)
			continue;
		if (parse_ll(v, 0, i == 5 ? 3650 : 1000000, &n))
			return forge_err_set(err, -EINVAL,
					     "%s: plan.%s.%s: \"%.64s\" is out of range", where,
					     p->name, field, v);
		if (i == 5 && n < 1)
			return forge_err_set(err, -EINVAL, "%s: plan.%s.retention_days: at least 1",
					     where, p->name);
		*ints[i - 1] = (int)n;
		return 0;
	}
	return forge_err_set(err, -EINVAL,
			     "%s: plan.%s.%s: unknown field (tracks, concurrent, "
			     "tenant_concurrent, spawns_per_hour, spawns_per_minute, "
			     "retention_days)",
			     where, p->name, field);
}

/* "plan.<name>.<field>"; plan names are case-insensitive and kept lower case. */
static int set_plan_key(struct api_config *c, const char *key, const char *v, const char *where,
			struct forge_err *err)
{
	char name[API_NAME_MAX + 1];
	const char *dot = strchr(key + 5, '.');
	size_t n = dot ? (size_t)(dot - (key + 5)) : 0;

	if (!dot || n == 0 || n > API_NAME_MAX)
		return forge_err_set(err, -EINVAL, "%s: %s: expected plan.<name>.<field>", where,
				     key);
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)key[5 + i]);
	name[n] = '\0';
	if (strspn(name, PLAN_CHARS) != n)
		return forge_err_set(err, -EINVAL, "%s: %s: a plan name is [a-z0-9_-]", where, key);
	struct api_plan *p = plan_get(c, name, true);
	if (!p)
		return forge_err_set(err, -E2BIG, "%s: %s: more than %d plans", where, key,
				     API_MAX_PLANS);
	return set_plan_field(p, dot + 1, v, where, err);
}

static const struct conf_key *key_find(const char *key)
{
	for (size_t i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++)
		if (strcmp(conf_keys[i].name, key) == 0)
			return &conf_keys[i];
	return NULL;
}

static int set_any(struct api_config *c, const char *key, const char *v, const char *where,
		   struct forge_err *err)
{
	const struct conf_key *k = key_find(key);

	if (k)
		return set_key(c, k, v, where, err);
	if (strncmp(key, "plan.", 5) == 0)
		return set_plan_key(c, key, v, where, err);
	/* Dotted keys are the api's (a typo is an error), plain ones forged's. */
	if (strchr(key, '.'))
		return forge_err_set(err, -EINVAL, "%s: unknown key \"%.96s\"", where, key);
	return 0;
}

/* ------------------------------------------------------------ sources */

/* Keys already set from forge.conf: a key set twice is refused. */
struct conf_seen {
	struct api_config *c;
	char keys[128][CONF_KEY_MAX];
	size_t n;
};

/* One forge.conf pair (forge_conf_parse_file's callback). */
static int conf_pair(void *ctx, const char *key, const char *val, const char *where,
		     struct forge_err *err)
{
	struct conf_seen *seen = ctx;
	if (!*key || strlen(key) >= CONF_KEY_MAX)
		return forge_err_set(err, -EINVAL, "%s: bad key", where);
	for (size_t i = 0; i < seen->n; i++)
		if (strcmp(seen->keys[i], key) == 0)
			return forge_err_set(err, -EINVAL, "%s: %s is set twice", where, key);
	if (seen->n < sizeof(seen->keys) / sizeof(seen->keys[0]))
		strcpy(seen->keys[seen->n++], key);
	return set_any(seen->c, key, val, where, err);
}

static int load_file(struct api_config *c, struct forge_err *err)
{
	char path[FORGE_PATH_MAX + 16];
	struct conf_seen *seen = calloc(1, sizeof(*seen));
	if (!seen)
		return forge_err_set(err, -ENOMEM, "config: out of memory");
	seen->c = c;
	snprintf(path, sizeof(path), "%s/%s", c->paths.etc, CONF_FILE);
	int rc = forge_conf_parse_file(path, false, conf_pair, seen, err);
	free(seen);
	return rc;
}

/* FORGE_<KEY>: upper case, '.' -> '_'. */
static const char *env_for(const char *key, char *name, size_t namesz)
{
	size_t n = (size_t)snprintf(name, namesz, "FORGE_%s", key);
	for (size_t i = 0; i < n && i < namesz; i++)
		name[i] = name[i] == '.' ? '_' : (char)toupper((unsigned char)name[i]);
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static int load_env(struct api_config *c, struct forge_err *err)
{
	char name[CONF_KEY_MAX + 8], key[CONF_KEY_MAX];
	const char *v;
	int rc;

	for (size_t i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++)
		if ((v = env_for(conf_keys[i].name, name, sizeof(name))) &&
		    (rc = set_key(c, &conf_keys[i], v, name, err)))
			return rc;
	for (size_t p = 0; p < c->n_plans; p++)
		for (size_t f = 0; f < sizeof(plan_fields) / sizeof(plan_fields[0]); f++) {
			snprintf(key, sizeof(key), "plan.%s.%s", c->plans[p].name, plan_fields[f]);
			if ((v = env_for(key, name, sizeof(name))) &&
			    (rc = set_plan_field(&c->plans[p], plan_fields[f], v, name, err)))
				return rc;
		}
	return 0;
}

static int check(struct api_config *c, struct forge_err *err)
{
	for (char *s = c->default_plan; *s; s++)
		*s = (char)tolower((unsigned char)*s);
	if (!api_plan_find(c, c->default_plan))
		return forge_err_set(err, -EINVAL, "plan.default: no plan named \"%s\"",
				     c->default_plan);
	if (c->production && (c->dev || c->allow_plan_header))
		return forge_err_set(err, -EPERM,
				     "FORGE_ENV=production refuses the development options "
				     "(--dev, --allow-plan-header)");
	if (c->allow_plan_header && !c->dev)
		return forge_err_set(err, -EINVAL, "--allow-plan-header needs --dev");
	if (c->policy_pin[0] &&
	    (strlen(c->policy_pin) != 64 || strspn(c->policy_pin, "0123456789abcdef") != 64))
		return forge_err_set(err, -EINVAL, "policy_pin: 64 lower-case hex digits");
	if (!c->user[0])
		return forge_err_set(err, -EINVAL, "api.user: empty");
	return 0;
}

int api_config_load(struct api_config *c, const struct api_options *o, struct forge_err *err)
{
	int rc;

	config_defaults(c);
	/* The environment only, as forged reads it. */
	const char *env = getenv("FORGE_ENV");
	if (env && *env && strcmp(env, "production") && strcmp(env, "development") &&
	    strcmp(env, "test"))
		return forge_err_set(err, -EINVAL,
				     "FORGE_ENV: \"%.64s\" is not production, development or test",
				     env);
	c->production = env && strcmp(env, "production") == 0;
	if ((rc = forge_paths_init(&c->paths, o->root, NULL, err)))
		return rc;
	if (snprintf(c->policy_dir, sizeof(c->policy_dir), "%s/policy", c->paths.etc) >=
	    (int)sizeof(c->policy_dir))
		return forge_err_set(err, -ENAMETOOLONG, "%s/policy: too long", c->paths.etc);
	if ((rc = load_file(c, err)) || (rc = load_env(c, err)))
		return rc;
	if (o->listen && (rc = set_key(c, key_find("api.listen"), o->listen, "--listen", err)))
		return rc;
	if (o->user && (rc = set_key(c, key_find("api.user"), o->user, "--user", err)))
		return rc;
	c->dev = o->dev;
	c->allow_plan_header = o->allow_plan_header;
	if (snprintf(c->db_path, sizeof(c->db_path), "%s/api/api.db", c->paths.lib) >=
	    (int)sizeof(c->db_path))
		return forge_err_set(err, -ENAMETOOLONG, "%s/api/api.db: too long", c->paths.lib);
	bool tcp = strncmp(c->listen, "unix:", 5) != 0;
	if (!c->access_url_base[0] &&
	    snprintf(c->access_url_base, sizeof(c->access_url_base), "%s%s/v1/scenarios",
		     tcp ? "http://" : "", tcp ? c->listen : "") >= (int)sizeof(c->access_url_base))
		return forge_err_set(err, -ENAMETOOLONG,
				     "api.listen: too long to make "
				     "api.access_url_base from; set it");
	return check(c, err);
}

/* ------------------------------------------------------------ secrets */

/* <etc>/name, generated (64 hex characters, 0600) when missing and asked to. */
static int dev_secret(struct api_config *c, const char *name, bool generate, uint8_t **secret,
		      size_t *len, char *generated, size_t generated_sz, struct forge_err *err)
{
	char path[FORGE_PATH_MAX + 32], hex[65];
	int rc, etc;

	snprintf(path, sizeof(path), "%s/%s", c->paths.etc, name);
	if (access(path, F_OK) == 0 || !generate)
		return forge_secret_read_file(path, name, secret, len, err);
	if ((rc = forge_paths_ensure(&c->paths, err)))
		return rc;
	etc = open(c->paths.etc, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (etc < 0)
		return forge_err_errno(err, errno, "%s", c->paths.etc);
	forge_random_hex(hex, 64);
	rc = forge_atomic_write(etc, name, hex, 64, 0600, err);
	forge_memzero(hex, sizeof(hex));
	close(etc);
	if (rc)
		return rc;
	if (generated && generated_sz) {
		size_t used = strlen(generated);
		snprintf(generated + used, generated_sz - used, "%s%s", used ? " " : "", path);
	}
	return forge_secret_read_file(path, name, secret, len, err);
}

static int hs_secret(struct api_config *c, bool dev_file, bool generate, char *generated,
		     size_t generated_sz, struct forge_err *err)
{
	const char *v = getenv("FORGE_JWT_HS256_SECRET");
	char path[FORGE_PATH_MAX + 32];

	if (v && *v) {
		if (strlen(v) < FORGE_SAT_SECRET_MIN)
			return forge_err_set(err, -EINVAL,
					     "FORGE_JWT_HS256_SECRET: at least %d bytes",
					     FORGE_SAT_SECRET_MIN);
		if (!(c->hs_secret = (uint8_t *)strdup(v)))
			return forge_err_set(err, -ENOMEM, "out of memory");
		c->hs_len = strlen(v);
		return 0;
	}
	if (c->hs_secret_file[0]) {
		return forge_secret_read_file(c->hs_secret_file, "jwt.hs256_secret_file",
					      &c->hs_secret, &c->hs_len, err);
	}
	snprintf(path, sizeof(path), "%s/%s", c->paths.etc, DEV_JWT_SECRET);
	if (!dev_file || (!generate && access(path, F_OK) != 0))
		return -ENOENT;
	return dev_secret(c, DEV_JWT_SECRET, generate, &c->hs_secret, &c->hs_len, generated,
			  generated_sz, err);
}

int api_config_load_hs_secret(struct api_config *c, struct forge_err *err)
{
	int rc = hs_secret(c, !c->production, false, NULL, 0, err);

	if (rc == -ENOENT)
		return forge_err_set(err, -ENOENT,
				     "no HS256 secret: set FORGE_JWT_HS256_SECRET, "
				     "FORGE_JWT_HS256_SECRET_FILE or jwt.hs256_secret_file");
	return rc;
}

static int sat_secret(struct api_config *c, char *generated, size_t generated_sz,
		      struct forge_err *err)
{
	bool legacy = false;
	int rc = forge_sat_secret_from_env(&c->sat_secret, &c->sat_len, &legacy, err);

	if (rc == 0 && legacy)
		forge_log(FORGE_LOG_WARN, "SAT_SECRET is deprecated: use SAT_HMAC_SECRET", NULL);
	if (rc != -ENOENT)
		return rc;
	if (!c->dev)
		return forge_err_set(err, -ENOENT,
				     "no SAT secret: set SAT_HMAC_SECRET or SAT_HMAC_SECRET_FILE "
				     "(forged must use the same one)");
	return dev_secret(c, DEV_SAT_SECRET, true, &c->sat_secret, &c->sat_len, generated,
			  generated_sz, err);
}

int api_config_load_secrets(struct api_config *c, char *generated, size_t generated_sz,
			    struct forge_err *err)
{
	int rc;

	if (generated && generated_sz)
		generated[0] = '\0';
	rc = hs_secret(c, c->dev, c->dev && (c->algs & API_ALG_HS256) && !c->eddsa_keys_file[0],
		       generated, generated_sz, err);
	if (rc == -ENOENT)
		c->algs &= ~API_ALG_HS256;
	else if (rc)
		return rc;
	if (c->eddsa_keys_file[0] &&
	    (rc = api_pubkeys_load(c->eddsa_keys_file, c->ed, &c->n_ed, err)))
		return rc;
	if (!c->n_ed)
		c->algs &= ~API_ALG_EDDSA;
	if (!c->algs)
		return forge_err_set(err, -ENOENT,
				     "no way to verify bearer tokens: set FORGE_JWT_HS256_SECRET "
				     "(or FORGE_JWT_HS256_SECRET_FILE, jwt.hs256_secret_file) or "
				     "jwt.eddsa_keys_file%s",
				     c->production ? "" : ", or start with --dev");
	if (c->ent_keys_file[0] &&
	    (rc = api_pubkeys_load(c->ent_keys_file, c->ent, &c->n_ent, err)))
		return rc;
	return sat_secret(c, generated, generated_sz, err);
}

void api_config_free(struct api_config *c)
{
	forge_secret_free(c->hs_secret, c->hs_len);
	forge_secret_free(c->sat_secret, c->sat_len);
	c->hs_secret = c->sat_secret = NULL;
	c->hs_len = c->sat_len = 0;
}

const struct api_plan *api_plan_find(const struct api_config *c, const char *name)
{
	char lower[API_NAME_MAX + 1];
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > API_NAME_MAX)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	for (size_t i = 0; i < c->n_plans; i++)
		if (strcmp(c->plans[i].name, lower) == 0)
			return &c->plans[i];
	return NULL;
}

bool api_plan_has_track(const struct api_plan *p, const char *track)
{
	if (p->all_tracks)
		return true;
	for (size_t i = 0; i < p->n_tracks; i++)
		if (strcmp(p->tracks[i], track) == 0)
			return true;
	return false;
}
