/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/api_forged_stub — a stand-in for forged in bench/api.sh: one thread,
 * one poll loop, SOCK_SEQPACKET, the wire protocol of docs/protocol.md, one
 * scenario. It answers "health", "templates" and "get" (checking the tenant,
 * as forged does) with what forged would send, so that the benchmark times
 * forge-api's own work plus one real socket round trip per request.
 *
 *   api_forged_stub SOCKET TENANT SCENARIO_ID
 *
 * Runs until SIGTERM or SIGINT; the socket is made 0666 and removed at exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/proto.h"

#define MAX_CONN 512

static json_t *scenario(const char *tenant, const char *id)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s},"
			 " s:[{s:s, s:s, s:b, s:[s]}, {s:s, s:s, s:b, s:[s]}]}",
			 "scenario_id", id, "tenant_id", tenant, "subject", "bench", "track",
			 "netplus", "request_id", "bench-1", "state", "running", "created_at",
			 "2026-11-23T10:00:00Z", "expires_at", "2026-11-23T11:00:00Z", "network_id",
			 "forge-bench", "template", "name", "netplus", "version", "1.0.0", "hash",
			 "0000000000000000000000000000000000000000000000000000000000000000",
			 "containers", "name", "learner_vm", "state", "running", "learner_access",
			 1, "addresses", "10.10.0.10/24", "name", "target", "state", "running",
			 "learner_access", 0, "addresses", "10.10.0.20/24");
}

static json_t *answer(const struct forge_proto_request *r, const char *tenant, const char *id)
{
	const char *t = json_string_value(json_object_get(r->args, "tenant_id"));
	const char *s = json_string_value(json_object_get(r->args, "scenario_id"));

	if (strcmp(r->op, "health") == 0)
		return forge_proto_reply_ok(r->id, json_pack("{s:b, s:s, s:i, s:[], s:s}", "ok", 1,
							     "version", "stub", "live", 1, "paused",
							     "signing_key", "0123456789abcdef"));
	if (strcmp(r->op, "templates") == 0)
		return forge_proto_reply_ok(
		    r->id, json_pack("{s:[{s:s, s:s, s:s, s:i}]}", "templates", "name", "netplus",
				     "track", "netplus", "tier", "1", "timeout_minutes", 60));
	if (strcmp(r->op, "get") != 0)
		return forge_proto_reply_error(r->id, FORGE_E_UNKNOWN_OP, "the stub has no such op",
					       NULL);
	if (!s || strcmp(s, id) != 0)
		return forge_proto_reply_error(r->id, FORGE_E_NOT_FOUND, "no such scenario", NULL);
	if (!t || strcmp(t, tenant) != 0)
		return forge_proto_reply_error(r->id, FORGE_E_FORBIDDEN, "not your scenario", NULL);
	return forge_proto_reply_ok(r->id, scenario(tenant, id));
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct pollfd p[MAX_CONN + 2];
	struct forge_proto_request req;
	struct forge_err err = {0};
	sigset_t sigs;
	int n = 2;
	char *buf = malloc(FORGE_PROTO_MAX + 1);

	if (argc != 4 || strlen(argv[1]) >= sizeof(sa.sun_path) || !buf) {
		fprintf(stderr, "usage: api_forged_stub SOCKET TENANT SCENARIO_ID\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	p[0] = (struct pollfd){.fd = signalfd(-1, &sigs, SFD_CLOEXEC), .events = POLLIN};
	p[1] = (struct pollfd){.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0),
			       .events = POLLIN};
	unlink(sa.sun_path);
	if (p[0].fd < 0 || p[1].fd < 0 || bind(p[1].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, 0666) < 0 || listen(p[1].fd, 128) < 0) {
		perror("api_forged_stub: listen");
		return 1;
	}
	while (poll(p, (nfds_t)n, -1) >= 0 && !p[0].revents) {
		if (p[1].revents & POLLIN) {
			int c = accept4(p[1].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0 && n < MAX_CONN + 2)
				p[n++] = (struct pollfd){.fd = c, .events = POLLIN};
			else if (c >= 0)
				close(c);
		}
		for (int i = 2; i < n; i++) {
			ssize_t len = p[i].revents ? forge_proto_recv(p[i].fd, buf, 0, &err) : 0;
			if (!p[i].revents)
				continue;
			if (len > 0 &&
			    forge_proto_parse_request(buf, (size_t)len, &req, &err) == 0) {
				json_t *reply = answer(&req, argv[2], argv[3]);
				forge_proto_send(p[i].fd, reply, &err);
				json_decref(reply);
				json_decref(req.args);
				continue;
			}
			close(p[i].fd);
			p[i--] = p[--n];
		}
	}
	unlink(sa.sun_path);
	free(buf);
	return 0;
}
