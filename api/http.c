/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP through libmicrohttpd: a pool of threads, each with its own epoll
 * loop over many connections. Connections are read without blocking, so a
 * slow client never holds a thread; it holds a connection slot, which the
 * idle timeout takes back. Handlers block only on bounded work (SQLite, one
 * forged round trip with a timeout), and slow spawns are capped below the
 * pool size so that reads, health and metrics always find a thread.
 *
 * Limits: the header block must fit the per-connection memory
 * (api.max_header_bytes; MHD answers 431 itself), a body over
 * api.max_body_bytes is 413 (refused from Content-Length before it is read,
 * or cut off while reading a chunked one), a body that is not
 * application/json is 415.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/internal.h"

#define CID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"

struct api_http {
	struct MHD_Daemon *d;
	struct api_ctx *ctx;
};

/* One per HTTP request, from its first header to the completion callback. */
struct conn_req {
	struct timespec t0;
	char cid[FORGE_PROTO_CID_MAX + 1];
	char method[16];
	char tenant[API_CLAIM_ID_MAX + 1];
	const char *route; /* pattern, for logs and metrics */
	char *body;
	size_t len;
	bool too_large, answered;
	int status;
};

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static bool json_content_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	return ct && strncasecmp(ct, want, n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static enum api_method method_of(const char *m)
{
	return strcmp(m, "GET") == 0	  ? API_GET
	       : strcmp(m, "POST") == 0	  ? API_POST
	       : strcmp(m, "DELETE") == 0 ? API_DELETE
					  : API_OTHER;
}

static enum MHD_Result add(struct MHD_Response *r, const char *name, const char *value)
{
	return value && *value ? MHD_add_response_header(r, name, value) : MHD_YES;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct conn_req *cr,
				     struct api_response *resp)
{
	struct MHD_Response *r = NULL;
	char retry[16] = "", disp[192] = "";
	const char *ctype = "application/json";
	char *text;

	if (resp->fd >= 0) {
		r = MHD_create_response_from_fd64(resp->size, resp->fd);
		if (r)
			resp->fd = -1; /* MHD closes it */
		ctype = resp->content_type;
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", resp->filename);
	} else if (resp->text) {
		r = MHD_create_response_from_buffer(strlen(resp->text), resp->text,
						    MHD_RESPMEM_MUST_FREE);
		if (r)
			resp->text = NULL;
		ctype = resp->content_type;
	} else if (resp->body && (text = json_dumps(resp->body, JSON_COMPACT))) {
		r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
		if (!r)
			free(text);
	}
	if (!r) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of "
					  "memory\",\"correlation_id\":\"\"}}";
		r = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
						    MHD_RESPMEM_PERSISTENT);
		resp->status = 500;
		if (!r)
			return MHD_NO;
	}
	if (resp->retry_after > 0)
		snprintf(retry, sizeof(retry), "%d", resp->retry_after);
	add(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	add(r, "X-Request-ID", cr->cid);
	add(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	add(r, "X-Content-Type-Options", "nosniff");
	add(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	add(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, resp->www_auth);
	add(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	add(r, "Idempotent-Replay", resp->replay ? "true" : NULL);
	cr->status = resp->status;
	cr->answered = true;
	enum MHD_Result ok = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ok;
}

/* An error before the body was read (413, 415): MHD then closes the connection. */
static enum MHD_Result refuse(struct MHD_Connection *conn, struct conn_req *cr, int status,
			      const char *code, const char *fmt, ...)
{
	struct api_request req = {0};
	struct api_response resp;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(req.cid, sizeof(req.cid), "%s", cr->cid);
	api_response_init(&resp);
	api_fail(&resp, &req, status, code, "%s", msg);
	enum MHD_Result ok = send_response(conn, cr, &resp);
	api_response_clear(&resp);
	return ok;
}

/* The route pattern of url, for the log and metrics of requests refused
 * before dispatch (413, 415); "unmatched" when none. */
static const char *route_label(const char *url)
{
	char param[API_NAME_MAX + 1];

	for (size_t i = 0; i < api_n_routes; i++)
		if (api_route_match(api_routes[i].pattern, url, param, sizeof(param)))
			return api_routes[i].pattern;
	return "unmatched";
}

/* Generated correlation ids: "api-<random per run>-<counter>", unique without a
 * syscall per request (an id names a request in the logs; it is no secret). */
static char cid_run[17];
static atomic_ullong cid_counter;
static pthread_once_t cid_once = PTHREAD_ONCE_INIT;

static void cid_init(void)
{
	forge_random_hex(cid_run, 16);
}

static void next_cid(char *out, size_t outsz)
{
	pthread_once(&cid_once, cid_init);
	snprintf(out, outsz, "api-%s-%llx", cid_run,
		 (unsigned long long)atomic_fetch_add(&cid_counter, 1));
}

static struct conn_req *conn_req_new(struct MHD_Connection *conn, const char *url,
				     const char *method)
{
	struct conn_req *cr = calloc(1, sizeof(*cr));
	const char *rid = header(conn, "X-Request-ID");
	size_t n = rid ? strlen(rid) : 0;

	if (!cr)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &cr->t0);
	/* The caller's id when it is one we can pass on safely, else ours. */
	if (n && n <= FORGE_PROTO_CID_MAX && strspn(rid, CID_CHARS) == n) {
		memcpy(cr->cid, rid, n + 1);
	} else {
		next_cid(cr->cid, sizeof(cr->cid));
	}
	snprintf(cr->method, sizeof(cr->method), "%s", method);
	cr->route = route_label(url);
	return cr;
}

static enum MHD_Result first_call(struct api_http *h, struct MHD_Connection *conn,
				  struct conn_req *cr)
{
	const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = header(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;

	if (len > h->ctx->cfg->max_body)
		return refuse(conn, cr, 413, "too_large", "the body is over %zu bytes",
			      h->ctx->cfg->max_body);
	if ((len > 0 || te) && !json_content_type(header(conn, MHD_HTTP_HEADER_CONTENT_TYPE)))
		return refuse(conn, cr, 415, "unsupported_media_type",
			      "the body must be application/json");
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api_http *h = cls;
	struct conn_req *cr = *con_cls;
	struct api_response resp;
	struct api_request req = {0};

	(void)version;
	if (!cr) {
		if (!(cr = *con_cls = conn_req_new(conn, url, method)))
			return MHD_NO;
		return first_call(h, conn, cr);
	}
	if (cr->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		char *grown;
		*upload_size = 0;
		if (cr->too_large || cr->len + n > h->ctx->cfg->max_body ||
		    !(grown = realloc(cr->body, cr->len + n))) {
			cr->too_large = true;
			return MHD_YES;
		}
		memcpy(grown + cr->len, upload, n);
		cr->body = grown;
		cr->len += n;
		return MHD_YES;
	}
	if (cr->too_large)
		return refuse(conn, cr, 413, "too_large", "the body is over %zu bytes",
			      h->ctx->cfg->max_body);
	forge_log_set_correlation_id(cr->cid);
	req.method = method_of(method);
	req.method_name = cr->method;
	req.path = url;
	req.authorization = header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
	req.request_id = header(conn, "X-Request-ID");
	req.entitlement = header(conn, "X-Entitlement");
	req.plan_header = header(conn, "X-Plan");
	req.body = cr->body;
	req.body_len = cr->len;
	snprintf(req.cid, sizeof(req.cid), "%s", cr->cid);
	api_response_init(&resp);
	api_dispatch(h->ctx, &req, &resp);
	snprintf(cr->tenant, sizeof(cr->tenant), "%s", req.tenant);
	enum MHD_Result ok = send_response(conn, cr, &resp);
	api_response_clear(&resp);
	forge_log_set_correlation_id(NULL);
	return ok;
}

/* One JSON line per request, and its metrics. Never a header value: the
 * Authorization header is not even looked at here. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct api_http *h = cls;
	struct conn_req *cr = *con_cls;
	struct timespec t1;
	char ms[32];

	(void)conn;
	if (!cr)
		return;
	*con_cls = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s =
	    (double)(t1.tv_sec - cr->t0.tv_sec) + (double)(t1.tv_nsec - cr->t0.tv_nsec) / 1e9;
	if (cr->answered) {
		api_metrics_http(h->ctx->metrics, cr->route, cr->method, cr->status, s);
		snprintf(ms, sizeof(ms), "%.3f", s * 1000.0);
		json_t *f =
		    json_pack("{s:s, s:s, s:i, s:s, s:s, s:b}", "method", cr->method, "route",
			      cr->route, "status", cr->status, "duration_ms", ms, "tenant",
			      cr->tenant, "completed", why == MHD_REQUEST_TERMINATED_COMPLETED_OK);
		forge_log_set_correlation_id(cr->cid);
		forge_log_json(FORGE_LOG_INFO, "request", f);
		forge_log_set_correlation_id(NULL);
		json_decref(f);
	}
	free(cr->body);
	free(cr);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	forge_log(FORGE_LOG_WARN, "libmicrohttpd", "detail", msg, NULL);
}

int api_http_start(struct api_ctx *ctx, int listen_fd, struct api_http **out, struct forge_err *err)
{
	const struct api_config *c = ctx->cfg;
	struct api_http *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h) {
		close(listen_fd);
		return forge_err_set(err, -ENOMEM, "out of memory");
	}
	h->ctx = ctx;
	/* The logger first, so that MHD's own option parsing logs through it. */
	h->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
	    listen_fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->conn_timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, c->max_header, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, h, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
	if (!h->d) {
		close(listen_fd);
		free(h);
		return forge_err_set(err, -EIO, "libmicrohttpd: the daemon did not start");
	}
	*out = h;
	return 0;
}

void api_http_stop(struct api_http *h)
{
	if (!h)
		return;
	/* MHD_stop_daemon closes the listening socket it was given. */
	MHD_stop_daemon(h->d);
	free(h);
}
