/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Start-up and shutdown: bind (as root if need be), become the api user,
 * open the database and the policy, serve until SIGTERM or SIGINT.
 *
 * Order matters: everything that needs root (the listening socket, the
 * secret files, the api's own state directory) comes before the drop;
 * threads, SQLite and the policy come after, so that nothing ever runs as
 * root once a request can arrive. The api never serves as root.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/internal.h"
#include "policy/policy.h"

#define LISTEN_BACKLOG 1024
#define API_STATE_DIR  "api" /* <lib>/api, the api user's own */

static int listen_unix(const char *path, uid_t uid, gid_t gid, struct forge_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path) || path[0] != '/')
		return forge_err_set(err, -EINVAL,
				     "--listen unix:%s: an absolute path of at most "
				     "%zu bytes",
				     path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	/* A stale socket from a previous run goes; anything else stays. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return forge_err_errno(err, errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    (uid != (uid_t)-1 && chown(path, uid, gid) < 0) || listen(fd, LISTEN_BACKLOG) < 0) {
		int e = errno;
		close(fd);
		return forge_err_errno(err, e, "listen on unix:%s", path);
	}
	return fd;
}

int api_listen(const char *spec, uid_t uid, gid_t gid, struct forge_err *err)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	char host[256];
	const char *colon = strrchr(spec, ':');
	long port;
	char *end;
	int fd, one = 1;

	if (strncmp(spec, "unix:", 5) == 0)
		return listen_unix(spec + 5, uid, gid, err);
	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return forge_err_set(err, -EINVAL, "listen %s: expected HOST:PORT or unix:PATH",
				     spec);
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535)
		return forge_err_set(err, -EINVAL, "listen %s: the port must be 1..65535", spec);
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		len = sizeof(*v6);
		if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) != 1)
			return forge_err_set(err, -EINVAL, "listen %s: not an IPv6 address", spec);
	} else {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		len = sizeof(*v4);
		if (inet_pton(AF_INET, host, &v4->sin_addr) != 1)
			return forge_err_set(err, -EINVAL,
					     "listen %s: not a numeric IPv4 address ([…] for IPv6)",
					     spec);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return forge_err_errno(err, errno, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int e = errno;
		close(fd);
		return forge_err_errno(err, e, "listen on %s", spec);
	}
	return fd;
}

/* The api user, resolved; never root. */
static int lookup_user(const char *name, uid_t *uid, gid_t *gid, struct forge_err *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return forge_err_set(err, -ENOENT,
				     "api.user: no user \"%s\" (create it, or name "
				     "another with --user)",
				     name);
	if (pw.pw_uid == 0)
		return forge_err_set(err, -EPERM,
				     "api.user: %s is root; forge-api never serves "
				     "as root",
				     name);
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

static int drop_privileges(const char *user, uid_t uid, gid_t gid, struct forge_err *err)
{
	uid_t r, e, s;

	if (initgroups(user, gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return forge_err_errno(err, errno, "becoming %s", user);
	if (getresuid(&r, &e, &s) < 0 || r == 0 || e == 0 || s == 0 || setuid(0) == 0)
		return forge_err_set(err, -EPERM, "still root after becoming %s", user);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return forge_err_errno(err, errno, "no_new_privs");
	return 0;
}

/* <lib>/api, 0700, owned by the api user (made by root when started as root). */
static int state_dir(const struct api_config *c, uid_t uid, gid_t gid, struct forge_err *err)
{
	char path[FORGE_PATH_MAX + 16];
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", c->paths.lib, API_STATE_DIR);
	if (geteuid() == 0 && (rc = forge_paths_ensure(&c->paths, err)))
		return rc;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return forge_err_errno(err, errno, "%s", path);
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return forge_err_set(err, -ENOTDIR, "%s: not a directory", path);
	if (uid != (uid_t)-1 && (st.st_uid != uid || st.st_gid != gid) && chown(path, uid, gid) < 0)
		return forge_err_errno(err, errno, "chown %s", path);
	return 0;
}

static void load_policy(struct api_ctx *ctx, struct forge_policy **out)
{
	struct forge_err err = {0};

	*out = NULL;
	if (forge_policy_load(ctx->cfg->policy_dir, out, &err) == 0 && ctx->cfg->policy_pin[0] &&
	    forge_policy_check_pin(*out, ctx->cfg->policy_pin, &err) != 0) {
		forge_policy_free(*out);
		*out = NULL;
	}
	if (*out) {
		forge_log(FORGE_LOG_INFO, "policy loaded", "dir", ctx->cfg->policy_dir, "bundle",
			  forge_policy_bundle(*out), NULL);
	} else {
		snprintf(ctx->policy_error, sizeof(ctx->policy_error), "%s", err.msg);
		forge_log(FORGE_LOG_ERROR, "policy not loaded: spawn and exec are refused", "error",
			  err.msg, NULL);
	}
	ctx->policy = *out;
}

/* Everything after the privilege drop, up to the signal that ends it. */
static int serve(struct api_config *c, int listen_fd, const sigset_t *sigs, struct forge_err *err)
{
	struct api_ctx ctx = {.cfg = c};
	struct forge_policy *policy = NULL;
	struct api_http *http = NULL;
	const struct api_forged_cfg fcfg = {.paths = &c->paths,
					    .retries = c->forged_retries,
					    .breaker_failures = c->breaker_failures,
					    .breaker_cooldown_ms = c->breaker_cooldown_ms,
					    .pool_max = c->threads};
	int rc, sig = 0;

	char dir[FORGE_PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s/%s", c->paths.lib, API_STATE_DIR);
	if (access(dir, R_OK | W_OK | X_OK) < 0) {
		rc = forge_err_errno(
		    err, errno,
		    "%s is out of the api user's reach (%s must be searchable by it, "
		    "e.g. root:forge 0710)",
		    dir, c->paths.lib);
		close(listen_fd);
		goto out;
	}
	if ((rc = api_db_open(c->db_path, &ctx.db, err))) {
		close(listen_fd);
		goto out;
	}
	if (api_forged_new(&fcfg, &ctx.forged) || api_ratelimit_new(c->rl, &ctx.rl) ||
	    api_metrics_new(&ctx.metrics) ||
	    api_templates_new(c->templates_ttl_s, &ctx.templates) ||
	    api_cache_new(c->status_cache_ms, &ctx.cache) || api_authcache_new(&ctx.auth)) {
		close(listen_fd);
		rc = forge_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	load_policy(&ctx, &policy);
	if ((rc = api_http_start(&ctx, listen_fd, &http, err)))
		goto out;
	forge_log(FORGE_LOG_INFO, "forge-api serving", "listen", c->listen, "db", c->db_path, "env",
		  c->production ? "production" : "development", NULL);
	while (sigwait(sigs, &sig) == 0 && sig != SIGTERM && sig != SIGINT)
		;
	forge_log(FORGE_LOG_INFO, "forge-api stopping", "signal", strsignal(sig), NULL);
out:
	api_http_stop(http);
	forge_policy_free(policy);
	api_authcache_free(ctx.auth);
	api_cache_free(ctx.cache);
	api_templates_free(ctx.templates);
	api_metrics_free(ctx.metrics);
	api_ratelimit_free(ctx.rl);
	api_forged_free(ctx.forged);
	api_db_close(ctx.db);
	return rc;
}

int api_server_run(struct api_config *c, struct forge_err *err)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	sigset_t sigs;
	int fd, rc;

	umask(077);
	/* Blocked in every thread (they inherit the mask) and taken by sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP); /* ignored: nothing reloads */
	if ((rc = pthread_sigmask(SIG_BLOCK, &sigs, NULL)))
		return forge_err_errno(err, rc, "sigmask");
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() == 0 && (rc = lookup_user(c->user, &uid, &gid, err)))
		return rc;
	if ((rc = state_dir(c, uid, gid, err)))
		return rc;
	if ((fd = api_listen(c->listen, uid, gid, err)) < 0)
		return fd;
	if (uid != (uid_t)-1 && (rc = drop_privileges(c->user, uid, gid, err))) {
		close(fd);
		return rc;
	}
	return serve(c, fd, &sigs, err);
}
