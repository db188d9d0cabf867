/* SPDX-License-Identifier: Apache-2.0 */
/* forged's configuration: forge.conf (key = value), the environment on top, checked. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sat.h"
#include "runtime/forged.h"

static const char *const keys[] = {
    "max_live",	   "api_user",	  "forge_group", "templates_dir",
    "policy_dir",  "policy_pin",  "netns_dir",	 "cgroup_root",
};

static int set_key(struct forged_config *cfg, const char *key, const char *val,
		   const char *where, struct forge_err *err)
{
	if (strchr(key, '.'))
		return 0; /* dotted keys are forge-api's (api.listen, jwt.…) */
	if (strcmp(key, "max_live") == 0) {
		char *end;
		unsigned long v = strtoul(val, &end, 10);
		if (*end || v < 1 || v > 4096)
			return forge_err_set(err, -EINVAL, "%s: max_live must be 1..4096, got \"%s\"",
					     where, val);
		cfg->max_live = (unsigned)v;
	} else if (strcmp(key, "api_user") == 0) {
		struct passwd *pw = getpwnam(val);
		if (!pw)
			return forge_err_set(err, -EINVAL, "%s: api_user: no user \"%s\"", where, val);
		cfg->api_uid = pw->pw_uid;
		cfg->api_gid = pw->pw_gid;
	} else if (strcmp(key, "forge_group") == 0) {
		struct group *gr = getgrnam(val);
		if (!gr)
			return forge_err_set(err, -EINVAL, "%s: forge_group: no group \"%s\"", where,
					     val);
		cfg->forge_gid = gr->gr_gid;
	} else if (strcmp(key, "policy_pin") == 0) {
		if (strlen(val) != 64 || strspn(val, "0123456789abcdef") != 64)
			return forge_err_set(err, -EINVAL,
					     "%s: policy_pin must be 64 lowercase hex digits", where);
		memcpy(cfg->policy_pin, val, 65);
	} else {
		char *dst = strcmp(key, "templates_dir") == 0 ? cfg->templates_dir
			    : strcmp(key, "policy_dir") == 0  ? cfg->policy_dir
			    : strcmp(key, "netns_dir") == 0   ? cfg->netns_dir
			    : strcmp(key, "cgroup_root") == 0 ? cfg->cgroup_root
							      : NULL;
		if (!dst)
			return forge_err_set(err, -EINVAL, "%s: unknown key \"%s\"", where, key);
		if (val[0] != '/' || strlen(val) >= FORGE_PATH_MAX || strstr(val, "/../") ||
		    (strlen(val) >= 3 && strcmp(val + strlen(val) - 3, "/..") == 0))
			return forge_err_set(err, -EINVAL, "%s: %s must be an absolute path", where,
					     key);
		memcpy(dst, val, strlen(val) + 1);
	}
	return 0;
}

/* One forge.conf pair: forged's own keys (forge_conf_parse_file's callback). */
static int conf_pair(void *ctx, const char *key, const char *val, const char *where,
		     struct forge_err *err)
{
	return set_key(ctx, key, val, where, err);
}

int forged_config_load(const struct forge_paths *p, const char *file, struct forged_config *cfg,
		       struct forge_err *err)
{
	char path[FORGE_PATH_MAX + 16];
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	const char *env = getenv("FORGE_ENV");
	cfg->dev = !env || strcmp(env, "production") != 0;
	cfg->max_live = 128;
	cfg->api_uid = (uid_t)-1;
	cfg->api_gid = (gid_t)-1;
	cfg->forge_gid = (gid_t)-1;
	struct group *gr = getgrnam("forge");
	if (gr)
		cfg->forge_gid = gr->gr_gid;
	struct passwd *pw = getpwnam("forge");
	if (pw) {
		cfg->api_uid = pw->pw_uid;
		cfg->api_gid = pw->pw_gid;
	}
	if ((rc = forge_path_join(cfg->templates_dir, sizeof(cfg->templates_dir), p->etc,
				  "templates", err)) ||
	    (rc = forge_path_join(cfg->policy_dir, sizeof(cfg->policy_dir), p->etc, "policy", err)))
		return rc;
	snprintf(cfg->netns_dir, sizeof(cfg->netns_dir), "/run/netns");
	snprintf(cfg->cgroup_root, sizeof(cfg->cgroup_root), "/sys/fs/cgroup");

	if (!file) {
		snprintf(path, sizeof(path), "%s/forge.conf", p->etc);
		file = path;
	}
	if ((rc = forge_conf_parse_file(file, file != path, conf_pair, cfg, err)))
		return rc;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "FORGE_%s", keys[i]);
		for (char *c = name; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		const char *v = getenv(name);
		if (v && (rc = set_key(cfg, keys[i], v, name, err)))
			return rc;
	}
	bool legacy = false;
	rc = forge_sat_secret_from_env(&cfg->sat_secret, &cfg->sat_secret_len, &legacy, err);
	if (rc == -ENOENT) {
		if (!cfg->dev)
			return forge_err_set(err, -EINVAL,
					     "production: SAT_HMAC_SECRET (or SAT_HMAC_SECRET_FILE) "
					     "is required");
		rc = 0; /* dev: only local root can spawn */
	} else if (rc) {
		return rc;
	} else if (legacy) {
		forge_log(FORGE_LOG_WARN, "SAT_SECRET is deprecated: use SAT_HMAC_SECRET", NULL);
	}
	return rc;
}
