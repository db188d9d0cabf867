/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire protocol between forged and its clients (forge-api, forgectl),
 * DESIGN §6: one JSON object per SOCK_SEQPACKET datagram of at most 1 MiB.
 *
 *   request  {"v":1,"id":7,"op":"spawn","correlation_id":"…","args":{…}}
 *   reply    {"v":1,"id":7,"ok":true,"result":{…}}
 *            {"v":1,"id":7,"ok":false,"error":{"code":"policy_denied",
 *                                              "message":"…","details":[…]}}
 *   event    {"v":1,"id":7,"event":{…}}   (after a "watch" request, until the
 *                                         client closes the connection)
 *
 * The error codes are a closed list shared by both sides; forge-api maps them
 * to HTTP statuses with forge_proto_http_status, in one table.
 */
#ifndef FORGE_PROTO_H
#define FORGE_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

#define FORGE_PROTO_VERSION  1
#define FORGE_PROTO_MAX      (1024 * 1024) /* bytes per datagram */
#define FORGE_PROTO_OP_MAX   32
#define FORGE_PROTO_CID_MAX  64
#define FORGE_PROTO_SOCKET   "forged.sock" /* in <paths.run> */

enum forge_proto_code {
	FORGE_E_BAD_REQUEST = 0, /* malformed JSON, wrong types, bad arguments */
	FORGE_E_UNKNOWN_OP,	 /* an op forged does not have */
	FORGE_E_TOO_LARGE,	 /* a datagram over FORGE_PROTO_MAX */
	FORGE_E_UNAUTHORIZED,	 /* no or bad credentials (peer, token signature) */
	FORGE_E_FORBIDDEN,	 /* authenticated, but not allowed (tenant, role) */
	FORGE_E_TOKEN_EXPIRED,	 /* spawn authorization token past its expiry */
	FORGE_E_TOKEN_REPLAYED,	 /* a token jti seen before */
	FORGE_E_POLICY_DENIED,	 /* a policy gate said no; details carry the reasons */
	FORGE_E_NOT_FOUND,	 /* no such scenario, template, image, container */
	FORGE_E_CONFLICT,	 /* wrong state for the op; idempotency mismatch */
	FORGE_E_QUOTA,		 /* a quota or rate limit */
	FORGE_E_CAPACITY,	 /* the host cannot take it now (live cap, memory, netns) */
	FORGE_E_PAUSED,		 /* the track is paused by an operator */
	FORGE_E_TIMEOUT,	 /* an operation ran out of time */
	FORGE_E_UNAVAILABLE,	 /* forged not reachable or shutting down */
	FORGE_E_INTERNAL,	 /* anything else; the log has the detail */
	FORGE_E_COUNT,
};

/* "bad_request", … ; NULL out of range. */
const char *forge_proto_code_name(enum forge_proto_code code);
/* Inverse; -1 when name is not on the list. */
int forge_proto_code_parse(const char *name);
/* The HTTP status forge-api answers with (400, 401, 403, 404, 409, 413, 429,
 * 500, 503, 504). */
int forge_proto_http_status(enum forge_proto_code code);

struct forge_proto_request {
	uint64_t id;
	char op[FORGE_PROTO_OP_MAX + 1];
	char correlation_id[FORGE_PROTO_CID_MAX + 1]; /* "" when absent */
	json_t *args;				      /* an object, owned; {} when absent */
};

/* Parses and checks one request datagram: an object with exactly the keys
 * above, v == 1, id an integer in 0..2^53, op [a-z_]{1,32}, correlation_id
 * [A-Za-z0-9._:-]{1,64}, args an object. Errors say which key is wrong.
 * On success req->args must be released with json_decref. */
int forge_proto_parse_request(const char *buf, size_t len, struct forge_proto_request *req,
			      struct forge_err *err);

/* Builders; each returns a new reference (never NULL but on ENOMEM). */
json_t *forge_proto_request_new(uint64_t id, const char *op, const char *correlation_id,
				json_t *args /* stolen; NULL means {} */);
json_t *forge_proto_reply_ok(uint64_t id, json_t *result /* stolen; NULL means {} */);
json_t *forge_proto_reply_error(uint64_t id, enum forge_proto_code code, const char *message,
				json_t *details /* stolen; NULL means [] */);
json_t *forge_proto_event(uint64_t id, json_t *event /* stolen */);

/* A reply as a client sees it. */
struct forge_proto_reply {
	uint64_t id;
	bool ok;
	json_t *result;			     /* ok: owned object */
	enum forge_proto_code code;	     /* !ok */
	char message[FORGE_ERR_MSG_MAX];     /* !ok */
	json_t *details;		     /* !ok: owned array */
	json_t *event;			     /* an event datagram: owned, ok/result unset */
};
int forge_proto_parse_reply(const char *buf, size_t len, struct forge_proto_reply *rep,
			    struct forge_err *err);
void forge_proto_reply_clear(struct forge_proto_reply *rep);

/* Sends one JSON value as one datagram (MSG_NOSIGNAL; -EMSGSIZE over the bound). */
int forge_proto_send(int fd, const json_t *msg, struct forge_err *err);
/* Receives one datagram into buf (FORGE_PROTO_MAX + 1 bytes); a truncated
 * datagram is -EMSGSIZE, a closed peer -ECONNRESET, no datagram within
 * timeout_ms (-1: wait) -ETIMEDOUT. Returns the length. */
ssize_t forge_proto_recv(int fd, char *buf, int timeout_ms, struct forge_err *err);

/* Client side: connects to <run>/forged.sock (SOCK_SEQPACKET, CLOEXEC). */
int forge_proto_connect(const struct forge_paths *paths, struct forge_err *err);
/* One round trip on a connected socket: sends the request, waits for the
 * reply with the same id (events in between are skipped). */
int forge_proto_call(int fd, const char *op, const char *correlation_id, json_t *args /* stolen */,
		     int timeout_ms, struct forge_proto_reply *rep, struct forge_err *err);

#endif /* FORGE_PROTO_H */
