/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scores and their files. forged says where a scenario's files are (op
 * "score", which checks the tenant); the api opens them itself, confined
 * beneath <lib>/results (openat2, no "..", no escaping symlink), and streams
 * them. A path forged gives outside that directory is refused, not followed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/internal.h"

#define RESULTS_DIR "results"

static const struct {
	const char *name, *content_type, *file;
} score_files[] = {
    {"evidence", "application/zstd", "evidence.tar.zst"},
    {"manifest", "application/json", "manifest.json"},
    {"verdict", "application/octet-stream", "verdict.sig"},
};

/* forged's "score" result for the caller's scenario, or rc / resp failed. */
static int score_call(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
		      struct forge_proto_reply *rep, struct api_response *resp)
{
	size_t n = strlen(req->param);
	int rc;

	if (n != 12 || strspn(req->param, "abcdefghijklmnopqrstuvwxyz0123456789") != n)
		return api_fail(resp, req, 400, "bad_request", "a scenario id is [a-z0-9]{12}"),
		       -EINVAL;
	rc = api_call(ctx, req, "score",
		      json_pack("{s:s, s:s}", "scenario_id", req->param, "tenant_id", id->tenant),
		      ctx->cfg->forged_timeout_ms, true, rep);
	if (rc || !rep->ok) {
		api_fail_forged(resp, req, rc, rep);
		if (rc == 0)
			forge_proto_reply_clear(rep);
		return -EIO;
	}
	return 0;
}

int api_h_score(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
		struct api_response *resp)
{
	struct forge_proto_reply rep;
	char url[3][128];

	if (score_call(ctx, req, id, &rep, resp))
		return 0;
	for (int i = 0; i < 3; i++)
		snprintf(url[i], sizeof(url[i]), "/v1/scores/%s/%s", req->param,
			 score_files[i].name);
	resp->status = 200;
	resp->body =
	    json_pack("{s:s, s:O*, s:{s:s, s:s, s:s}}", "scenario_id", req->param, "score",
		      json_object_get(rep.result, "score"), "artifacts", score_files[0].name,
		      url[0], score_files[1].name, url[1], score_files[2].name, url[2]);
	forge_proto_reply_clear(&rep);
	return 0;
}

/* Opens path (absolute, from forged) if it lies beneath <lib>/results. */
static int open_result(const struct api_config *c, const char *path, struct forge_err *err)
{
	char base[FORGE_PATH_MAX + 16];
	size_t n = (size_t)snprintf(base, sizeof(base), "%s/%s/", c->paths.lib, RESULTS_DIR);

	if (!path || strncmp(path, base, n) != 0 || !path[n])
		return forge_err_set(err, -EXDEV, "%s is not beneath %s", path ? path : "(none)",
				     base);
	base[n - 1] = '\0';
	int dir = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return forge_err_errno(err, errno, "%s", base);
	int fd = forge_open_beneath(dir, path + n, O_RDONLY | O_NOCTTY | O_NOFOLLOW, 0, err);
	close(dir);
	return fd;
}

int api_h_score_file(struct api_ctx *ctx, struct api_request *req, const struct api_identity *id,
		     struct api_response *resp)
{
	const char *which = strrchr(req->route->pattern, '/') + 1;
	struct forge_proto_reply rep;
	struct forge_err err = {0};
	struct stat st;
	size_t i;

	for (i = 0; i < 3 && strcmp(score_files[i].name, which) != 0; i++)
		;
	if (i == 3 || score_call(ctx, req, id, &rep, resp))
		return i == 3 ? api_fail(resp, req, 500, "internal", "no such score file") : 0;
	const char *path =
	    json_string_value(json_object_get(json_object_get(rep.result, "files"), which));
	int fd = open_result(ctx->cfg, path, &err);
	forge_proto_reply_clear(&rep);
	if (fd < 0) {
		forge_log(FORGE_LOG_ERROR, "score file", "file", which, "error", err.msg, NULL);
		return fd == -ENOENT
			   ? api_fail(resp, req, 404, "not_found", "no %s yet", which)
			   : api_fail(resp, req, 500, "internal", "the %s is not readable", which);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return api_fail(resp, req, 500, "internal", "the %s is not a regular file", which);
	}
	resp->status = 200;
	resp->fd = fd;
	resp->size = (uint64_t)st.st_size;
	resp->content_type = score_files[i].content_type;
	snprintf(resp->filename, sizeof(resp->filename), "%s-%s", req->param, score_files[i].file);
	return 0;
}
