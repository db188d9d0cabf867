/* SPDX-License-Identifier: Apache-2.0 */
/* The forged wire protocol: framing, validation, the shared error codes. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/proto.h"

static const struct {
	const char *name;
	int http;
} codes[FORGE_E_COUNT] = {
    [FORGE_E_BAD_REQUEST] = {"bad_request", 400},
    [FORGE_E_UNKNOWN_OP] = {"unknown_op", 400},
    [FORGE_E_TOO_LARGE] = {"too_large", 413},
    [FORGE_E_UNAUTHORIZED] = {"unauthorized", 401},
    [FORGE_E_FORBIDDEN] = {"forbidden", 403},
    [FORGE_E_TOKEN_EXPIRED] = {"token_expired", 403},
    [FORGE_E_TOKEN_REPLAYED] = {"token_replayed", 403},
    [FORGE_E_POLICY_DENIED] = {"policy_denied", 403},
    [FORGE_E_NOT_FOUND] = {"not_found", 404},
    [FORGE_E_CONFLICT] = {"conflict", 409},
    [FORGE_E_QUOTA] = {"quota_exceeded", 429},
    [FORGE_E_CAPACITY] = {"capacity", 503},
    [FORGE_E_PAUSED] = {"paused", 503},
    [FORGE_E_TIMEOUT] = {"timeout", 504},
    [FORGE_E_UNAVAILABLE] = {"unavailable", 503},
    [FORGE_E_INTERNAL] = {"internal", 500},
};

const char *forge_proto_code_name(enum forge_proto_code code)
{
	return (unsigned)code < FORGE_E_COUNT ? codes[code].name : NULL;
}

int forge_proto_code_parse(const char *name)
{
	for (int i = 0; name && i < FORGE_E_COUNT; i++)
		if (strcmp(codes[i].name, name) == 0)
			return i;
	return -1;
}

int forge_proto_http_status(enum forge_proto_code code)
{
	return (unsigned)code < FORGE_E_COUNT ? codes[code].http : 500;
}

static bool chars_in(const char *s, size_t min, size_t max, const char *extra, bool upper)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (upper && c >= 'A' && c <= 'Z') || (c && strchr(extra, c))))
			return false;
	}
	return true;
}

/* A JSON integer usable as a request id: 0..2^53 (exact in every JSON reader). */
static bool get_id(const json_t *v, uint64_t *id)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)1 << 53)
		return false;
	*id = (uint64_t)json_integer_value(v);
	return true;
}

static json_t *load_object(const char *buf, size_t len, struct forge_err *err)
{
	json_error_t jerr;

	if (len > FORGE_PROTO_MAX) {
		forge_err_set(err, -EMSGSIZE, "message of %zu bytes is over the %d byte limit", len,
			      FORGE_PROTO_MAX);
		return NULL;
	}
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		forge_err_set(err, -EINVAL, "malformed JSON at byte %d: %s", jerr.position,
			      jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		forge_err_set(err, -EINVAL, "a message must be a JSON object");
		return NULL;
	}
	json_t *v = json_object_get(j, "v");
	if (!json_is_integer(v) || json_integer_value(v) != FORGE_PROTO_VERSION) {
		json_decref(j);
		forge_err_set(err, -EINVAL, "\"v\" must be %d", FORGE_PROTO_VERSION);
		return NULL;
	}
	return j;
}

int forge_proto_parse_request(const char *buf, size_t len, struct forge_proto_request *req,
			      struct forge_err *err)
{
	memset(req, 0, sizeof(*req));
	json_t *j = load_object(buf, len, err);
	if (!j)
		return err->code;
	const char *key;
	json_t *v;
	int rc = 0;
	json_object_foreach(j, key, v)
	{
		if (strcmp(key, "v") == 0)
			continue;
		if (strcmp(key, "id") == 0) {
			if (!get_id(v, &req->id))
				rc = forge_err_set(err, -EINVAL,
						   "\"id\" must be an integer from 0 to 2^53");
		} else if (strcmp(key, "op") == 0) {
			if (!json_is_string(v) ||
			    !chars_in(json_string_value(v), 1, FORGE_PROTO_OP_MAX, "_", false))
				rc = forge_err_set(err, -EINVAL,
						   "\"op\" must match [a-z0-9_]{1,%d}",
						   FORGE_PROTO_OP_MAX);
			else
				strcpy(req->op, json_string_value(v));
		} else if (strcmp(key, "correlation_id") == 0) {
			if (!json_is_string(v) || !chars_in(json_string_value(v), 1,
							    FORGE_PROTO_CID_MAX, "._:-", true))
				rc = forge_err_set(err, -EINVAL,
						   "\"correlation_id\" must match "
						   "[A-Za-z0-9._:-]{1,%d}",
						   FORGE_PROTO_CID_MAX);
			else
				strcpy(req->correlation_id, json_string_value(v));
		} else if (strcmp(key, "args") == 0) {
			if (!json_is_object(v))
				rc = forge_err_set(err, -EINVAL, "\"args\" must be an object");
			else
				req->args = json_incref(v);
		} else {
			rc = forge_err_set(err, -EINVAL, "unknown key \"%.64s\"", key);
		}
		if (rc)
			break;
	}
	if (rc == 0 && !json_object_get(j, "id"))
		rc = forge_err_set(err, -EINVAL, "\"id\" is missing");
	if (rc == 0 && !req->op[0])
		rc = forge_err_set(err, -EINVAL, "\"op\" is missing");
	if (rc == 0 && !req->args && !(req->args = json_object()))
		rc = forge_err_set(err, -ENOMEM, "out of memory");
	json_decref(j);
	if (rc) {
		json_decref(req->args);
		req->args = NULL;
	}
	return rc;
}

json_t *forge_proto_request_new(uint64_t id, const char *op, const char *correlation_id,
				json_t *args)
{
	json_t *j = json_pack("{s:i, s:I, s:s, s:o}", "v", FORGE_PROTO_VERSION, "id",
			      (json_int_t)id, "op", op, "args", args ? args : json_object());
	if (j && correlation_id && correlation_id[0])
		json_object_set_new(j, "correlation_id", json_string(correlation_id));
	return j;
}

json_t *forge_proto_reply_ok(uint64_t id, json_t *result)
{
	return json_pack("{s:i, s:I, s:b, s:o}", "v", FORGE_PROTO_VERSION, "id", (json_int_t)id,
			 "ok", 1, "result", result ? result : json_object());
}

json_t *forge_proto_reply_error(uint64_t id, enum forge_proto_code code, const char *message,
				json_t *details)
{
	const char *name = forge_proto_code_name(code);
	return json_pack("{s:i, s:I, s:b, s:{s:s, s:s, s:o}}", "v", FORGE_PROTO_VERSION, "id",
			 (json_int_t)id, "ok", 0, "error", "code", name ? name : "internal",
			 "message", message ? message : "", "details",
			 details ? details : json_array());
}

json_t *forge_proto_event(uint64_t id, json_t *event)
{
	return json_pack("{s:i, s:I, s:o}", "v", FORGE_PROTO_VERSION, "id", (json_int_t)id,
			 "event", event);
}

void forge_proto_reply_clear(struct forge_proto_reply *rep)
{
	json_decref(rep->result);
	json_decref(rep->details);
	json_decref(rep->event);
	memset(rep, 0, sizeof(*rep));
}

int forge_proto_parse_reply(const char *buf, size_t len, struct forge_proto_reply *rep,
			    struct forge_err *err)
{
	memset(rep, 0, sizeof(*rep));
	json_t *j = load_object(buf, len, err);
	if (!j)
		return err->code;
	int rc = 0;
	json_t *ok = json_object_get(j, "ok"), *e = json_object_get(j, "error");
	json_t *ev = json_object_get(j, "event");
	if (!get_id(json_object_get(j, "id"), &rep->id)) {
		rc = forge_err_set(err, -EINVAL, "reply without a valid \"id\"");
	} else if (ev) {
		rep->event = json_incref(ev);
	} else if (json_is_true(ok)) {
		json_t *res = json_object_get(j, "result");
		if (!json_is_object(res))
			rc = forge_err_set(err, -EINVAL, "reply \"result\" must be an object");
		else
			rep->result = json_incref(res);
		rep->ok = true;
	} else if (json_is_false(ok) && json_is_object(e)) {
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		int c = forge_proto_code_parse(code);
		rep->code = c < 0 ? FORGE_E_INTERNAL : (enum forge_proto_code)c;
		snprintf(rep->message, sizeof(rep->message), "%s", msg ? msg : "");
		json_t *d = json_object_get(e, "details");
		rep->details = json_is_array(d) ? json_incref(d) : json_array();
	} else {
		rc = forge_err_set(err, -EINVAL, "reply is neither ok, error nor event");
	}
	json_decref(j);
	if (rc)
		forge_proto_reply_clear(rep);
	return rc;
}

int forge_proto_send(int fd, const json_t *msg, struct forge_err *err)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	if (!s)
		return forge_err_set(err, -ENOMEM, "out of memory");
	size_t len = strlen(s);
	int rc = 0;
	if (len > FORGE_PROTO_MAX)
		rc = forge_err_set(err, -EMSGSIZE, "message of %zu bytes is over the limit", len);
	else if (send(fd, s, len, MSG_NOSIGNAL) != (ssize_t)len)
		rc = forge_err_errno(err, errno, "send");
	free(s);
	return rc;
}

ssize_t forge_proto_recv(int fd, char *buf, int timeout_ms, struct forge_err *err)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return forge_err_errno(err, errno, "poll");
	if (n == 0)
		return forge_err_set(err, -ETIMEDOUT, "no answer within %d ms", timeout_ms);
	ssize_t len = recv(fd, buf, FORGE_PROTO_MAX + 1, MSG_TRUNC);
	if (len < 0)
		return forge_err_errno(err, errno, "recv");
	if (len == 0)
		return forge_err_set(err, -ECONNRESET, "the peer closed the connection");
	if (len > FORGE_PROTO_MAX)
		return forge_err_set(err, -EMSGSIZE, "a datagram of %zd bytes is over the limit",
				     len);
	buf[len] = '\0';
	return len;
}

int forge_proto_connect(const struct forge_paths *paths, struct forge_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", paths->run, FORGE_PROTO_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return forge_err_set(err, -ENAMETOOLONG, "socket path %s/%s is too long",
				     paths->run, FORGE_PROTO_SOCKET);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return forge_err_errno(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return forge_err_errno(err, e, "connect to forged at %s (is forged running?)",
				       sa.sun_path);
	}
	return fd;
}

int forge_proto_call(int fd, const char *op, const char *correlation_id, json_t *args,
		     int timeout_ms, struct forge_proto_reply *rep, struct forge_err *err)
{
	static uint64_t next_id;
	/* forge-api calls this from several HTTP threads at once */
	uint64_t id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	json_t *req = forge_proto_request_new(id, op, correlation_id, args);
	int rc;

	memset(rep, 0, sizeof(*rep));
	if (!req)
		return forge_err_set(err, -ENOMEM, "out of memory");
	rc = forge_proto_send(fd, req, err);
	json_decref(req);
	if (rc)
		return rc;
	/* one receive buffer per thread, kept: a 1 MiB malloc per call showed
	 * up in forge-api's profile */
	static _Thread_local char *buf;
	if (!buf && !(buf = malloc(FORGE_PROTO_MAX + 1)))
		return forge_err_set(err, -ENOMEM, "out of memory");
	for (;;) {
		ssize_t len = forge_proto_recv(fd, buf, timeout_ms, err);
		if (len < 0) {
			rc = (int)len;
			break;
		}
		if ((rc = forge_proto_parse_reply(buf, (size_t)len, rep, err)))
			break;
		if (!rep->event && rep->id == id)
			break;
		forge_proto_reply_clear(rep);
	}
	return rc;
}
