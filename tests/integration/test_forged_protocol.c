/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forged against hostile clients: malformed JSON, wrong types, unknown ops,
 * oversized datagrams, a peer uid that is not allowed, template names with
 * "/" or "..", an image not in the store. Each gets its protocol error code
 * (or, for the peer, a closed connection), and forged keeps serving others.
 * Runs the real build/forged on a private root, as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/proto.h"
#include "common/sat.h"

#define SECRET "test-secret-0123456789abcdef0123456789abcdef"

static struct {
	char root[64];
	char tpl[128];
	struct forge_paths paths;
	pid_t forged;
} G;

static int run(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int group_setup(void **state)
{
	(void)state;
	char cmd[1024], prefix[16];
	struct forge_err err = {0};

	snprintf(G.root, sizeof(G.root), "/tmp/forge-proto.XXXXXX");
	if (!mkdtemp(G.root) || chmod(G.root, 0755) < 0) /* the peer test connects as nobody */
		return -1;
	snprintf(G.tpl, sizeof(G.tpl), "%s/tpl", G.root);
	/* the shipped templates, plus one naming an image that is not in the store */
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/netns %s && cp templates/*.yaml templates/schema.json %s/ && "
		 "sed -e 's/name: netplus/name: noimage/' -e 's|forge/learner:1|forge/nosuch:1|' "
		 "templates/netplus.yaml > %s/noimage.yaml",
		 G.root, G.tpl, G.tpl, G.tpl);
	if (run(cmd) != 0)
		return -1;
	snprintf(prefix, sizeof(prefix), "p%05d", (int)(getpid() % 100000));
	if (forge_paths_init(&G.paths, G.root, prefix, &err) < 0)
		return -1;
	G.forged = fork();
	if (G.forged == 0) {
		char netns[128];
		snprintf(netns, sizeof(netns), "%s/netns", G.root);
		setenv("FORGE_TEMPLATES_DIR", G.tpl, 1);
		char policy[FORGE_PATH_MAX];
		if (!getcwd(policy, sizeof(policy) - 16))
			_exit(126);
		strcat(policy, "/policy/rules");
		setenv("FORGE_POLICY_DIR", policy, 1);
		setenv("FORGE_NETNS_DIR", netns, 1);
		setenv("SAT_HMAC_SECRET", SECRET, 1);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execl("build/forged", "forged", "--root", G.root, "--prefix", prefix, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		int fd = forge_proto_connect(&G.paths, &err);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(25000);
	}
	return -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[256];
	if (G.forged > 0) {
		kill(G.forged, SIGTERM);
		waitpid(G.forged, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system %s", G.root);
	return run(cmd) == 0 ? 0 : -1;
}

static int connect_ok(void)
{
	struct forge_err err = {0};
	int fd = forge_proto_connect(&G.paths, &err);
	if (fd < 0)
		fail_msg("connect: %s", err.msg);
	return fd;
}

/* Sends raw bytes, returns the reply's error code (or -1 for ok). */
static int raw_call(int fd, const void *buf, size_t len, char *msg, size_t msgsz)
{
	struct forge_err err = {0};
	struct forge_proto_reply rep;
	char *in = malloc(FORGE_PROTO_MAX + 1);
	assert_non_null(in);
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
	ssize_t n = forge_proto_recv(fd, in, 10000, &err);
	if (n < 0)
		fail_msg("no reply: %s", err.msg);
	assert_int_equal(forge_proto_parse_reply(in, (size_t)n, &rep, &err), 0);
	free(in);
	int code = rep.ok ? -1 : (int)rep.code;
	if (msg)
		snprintf(msg, msgsz, "%s", rep.message);
	forge_proto_reply_clear(&rep);
	return code;
}

/* forged still answers a health check on a fresh connection. */
static void expect_serving(void)
{
	struct forge_err err = {0};
	struct forge_proto_reply rep;
	int fd = connect_ok();
	assert_int_equal(forge_proto_call(fd, "health", NULL, NULL, 10000, &rep, &err), 0);
	assert_true(rep.ok);
	forge_proto_reply_clear(&rep);
	close(fd);
}

static void expect_code(const char *text, enum forge_proto_code want, const char *want_msg)
{
	char msg[FORGE_ERR_MSG_MAX];
	int fd = connect_ok();
	int code = raw_call(fd, text, strlen(text), msg, sizeof(msg));
	close(fd);
	if (code != (int)want || (want_msg && !strstr(msg, want_msg)))
		fail_msg("%s: got %s \"%s\", want %s (%s)", text,
			 code < 0 ? "ok" : forge_proto_code_name((enum forge_proto_code)code), msg,
			 forge_proto_code_name(want), want_msg ? want_msg : "");
	expect_serving();
}

static void test_malformed_and_wrong_types(void **state)
{
	(void)state;
	expect_code("{not json", FORGE_E_BAD_REQUEST, "malformed JSON");
	expect_code("[1,2]", FORGE_E_BAD_REQUEST, "must be a JSON object");
	expect_code("{\"v\":2,\"id\":1,\"op\":\"health\"}", FORGE_E_BAD_REQUEST, "\"v\" must be 1");
	expect_code("{\"v\":1,\"id\":\"x\",\"op\":\"health\"}", FORGE_E_BAD_REQUEST, "\"id\"");
	expect_code("{\"v\":1,\"id\":1,\"op\":7}", FORGE_E_BAD_REQUEST, "\"op\"");
	expect_code("{\"v\":1,\"id\":1,\"op\":\"get\",\"args\":[]}", FORGE_E_BAD_REQUEST,
		    "\"args\" must be an object");
	expect_code("{\"v\":1,\"id\":1,\"op\":\"get\",\"args\":{\"scenario_id\":5}}",
		    FORGE_E_BAD_REQUEST, "args.scenario_id");
	expect_code("{\"v\":1,\"id\":1,\"op\":\"health\",\"extra\":1}", FORGE_E_BAD_REQUEST,
		    "unknown key");
	expect_code("{\"v\":1,\"id\":1,\"op\":\"reboot\"}", FORGE_E_UNKNOWN_OP, "reboot");
}

static void test_oversized_datagram(void **state)
{
	(void)state;
	size_t len = FORGE_PROTO_MAX + 1;
	char *big = malloc(len), msg[FORGE_ERR_MSG_MAX];
	assert_non_null(big);
	memset(big, ' ', len);
	int fd = connect_ok();
	/* a send buffer the datagram fits in (root may exceed net.core.wmem_max) */
	int sz = (int)len * 2;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	assert_int_equal(raw_call(fd, big, len, msg, sizeof(msg)), FORGE_E_TOO_LARGE);
	close(fd);
	free(big);
	expect_serving();
}

static void test_template_names_confined(void **state)
{
	(void)state;
	expect_code("{\"v\":1,\"id\":1,\"op\":\"spawn\",\"args\":{\"template\":\"../netplus\"}}",
		    FORGE_E_BAD_REQUEST, "template");
	expect_code("{\"v\":1,\"id\":1,\"op\":\"spawn\",\"args\":{\"template\":\"a/b\"}}",
		    FORGE_E_BAD_REQUEST, "template");
	expect_code("{\"v\":1,\"id\":1,\"op\":\"spawn\",\"args\":{\"template\":\"nosuch\"}}",
		    FORGE_E_NOT_FOUND, NULL);
	expect_code("{\"v\":1,\"id\":1,\"op\":\"spawn\",\"args\":{\"template\":\"noimage\"}}",
		    FORGE_E_NOT_FOUND, "forge/nosuch:1");
}

static void test_peer_not_allowed(void **state)
{
	(void)state;
	/* The socket's mode (0660) already keeps others out; open it up so that
	 * the SO_PEERCRED check itself is what refuses the peer. */
	char sock[FORGE_PATH_MAX + 32];
	snprintf(sock, sizeof(sock), "%s/%s", G.paths.run, FORGE_PROTO_SOCKET);
	assert_int_equal(chmod(sock, 0666), 0);
	pid_t child = fork();
	if (child == 0) {
		/* nobody: neither root, the api's uid nor the forge group */
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		struct forge_err err = {0};
		int fd = forge_proto_connect(&G.paths, &err);
		if (fd < 0)
			_exit(3);
		char buf[64];
		send(fd, "{\"v\":1,\"id\":1,\"op\":\"health\"}", 28, MSG_NOSIGNAL);
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		_exit(n <= 0 ? 0 : 1); /* closed without an answer */
	}
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_int_equal(chmod(sock, 0660), 0);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 3)
		fail_msg("nobody could not even connect (directory modes)");
	assert_int_equal(WEXITSTATUS(st), 0);
	expect_serving();
}

/* A spawn with a token, as forge-api sends it; the answer's code. */
static int spawn_with(const struct forge_sat_claims *c, const char *secret, const char *tenant)
{
	struct forge_sat_claims copy = *c;
	struct forge_err err = {0};
	struct forge_proto_reply rep;
	char *tok = NULL;
	assert_int_equal(forge_sat_mint(&copy, secret, strlen(secret), &tok, &err), 0);
	json_t *args = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "template", c->track,
				 "tenant_id", tenant, "subject", c->sub, "plan", c->plan,
				 "request_id", c->request_id, "sat", tok, "retention_days",
				 c->retention_days);
	free(tok);
	int fd = connect_ok();
	assert_int_equal(forge_proto_call(fd, "spawn", NULL, args, 10000, &rep, &err), 0);
	close(fd);
	int code = rep.ok ? -1 : (int)rep.code;
	forge_proto_reply_clear(&rep);
	return code;
}

static void claims(struct forge_sat_claims *c, const char *jti, int64_t iat)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->sub, "alice");
	strcpy(c->tenant_id, "t1");
	strcpy(c->track, "noimage"); /* verified, then refused at the missing image */
	strcpy(c->plan, "pro");
	c->retention_days = 30;
	strcpy(c->scenario_id, "abcdef012345");
	strcpy(c->request_id, "r-1");
	c->iat = iat;
	c->exp = iat + 120;
	snprintf(c->jti, sizeof(c->jti), "%s", jti);
}

/* forged re-checks the spawn authorization token itself: the MAC, the
 * expiry, the binding to the spawn's arguments, and replays. */
static void test_spawn_tokens(void **state)
{
	(void)state;
	struct forge_sat_claims c;
	int64_t now = (int64_t)time(NULL);

	claims(&c, "0123456789abcdef0123456789abcdef", now);
	assert_int_equal(spawn_with(&c, "another-secret-0123456789abcdef0123456789", "t1"),
			 FORGE_E_UNAUTHORIZED);
	claims(&c, "1123456789abcdef0123456789abcdef", now - 400);
	assert_int_equal(spawn_with(&c, SECRET, "t1"), FORGE_E_TOKEN_EXPIRED);
	claims(&c, "2123456789abcdef0123456789abcdef", now);
	assert_int_equal(spawn_with(&c, SECRET, "t2"), FORGE_E_FORBIDDEN); /* minted for t1 */
	claims(&c, "3123456789abcdef0123456789abcdef", now);
	assert_int_equal(spawn_with(&c, SECRET, "t1"), FORGE_E_NOT_FOUND); /* accepted */
	assert_int_equal(spawn_with(&c, SECRET, "t1"), FORGE_E_TOKEN_REPLAYED);
	expect_serving();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_malformed_and_wrong_types),
	    cmocka_unit_test(test_oversized_datagram),
	    cmocka_unit_test(test_template_names_confined),
	    cmocka_unit_test(test_peer_not_allowed),
	    cmocka_unit_test(test_spawn_tokens),
	};
	if (geteuid() != 0) {
		fprintf(stderr, "test_forged_protocol: needs root\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
