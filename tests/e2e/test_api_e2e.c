/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forge-api end to end, over HTTP, against the real forge-api binary on a
 * private FORGE_ROOT and a FAKE forged implemented here: a SOCK_SEQPACKET
 * server in a thread of this process speaking docs/protocol.md. The fake
 * stands in for the other process (it checks the SATs the api mints, keeps
 * scenarios per tenant, answers forbidden across tenants) so that what is
 * tested is the api's own behaviour: the auth matrix, plans, the quota race,
 * rate limits, idempotency, limits, retries, the circuit breaker with 503
 * and recovery, score streaming and its confinement, metrics, readyz, logs.
 *
 * The api runs as root with --user nobody when the test is root (so the
 * privilege drop is exercised), as the caller otherwise. The flow against
 * the real forged belongs to the real-daemon suite.
 *
 * Environment: FORGE_API (the binary; default <this binary>/../../forge-api).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "common/proto.h"
#include "common/sat.h"

#define HS_SECRET   "e2e-hs256-secret-0123456789abcdef0123"
#define SAT_SECRET  "e2e-sat-secret-0123456789abcdef012345"
#define KEY_ID	    "0123456789abcdef"
#define MAX_CLIENTS 256
#define MAX_SCEN    128

/* ================================================================ fake forged */

struct scen {
	char id[13], tenant[129], subject[129], track[65], state[16];
	bool evil; /* its score files point outside the results directory */
};

static struct {
	char sock[256], results[256];
	pthread_t thread;
	int listen_fd, stop_fd;
	bool running;
	pthread_mutex_t lock; /* scenarios and jtis, read by the tests too */
	struct scen scen[MAX_SCEN];
	int n_scen;
	char jtis[MAX_SCEN][33];
	int n_jtis;
	atomic_int drop_next;	      /* close the next N connections that send a request */
	atomic_int leak_other_tenant; /* "list" also returns another tenant's scenario */
	atomic_int seen_spawn, seen_get, seen_health, sat_bad;
} fake;

static json_t *scen_json(const struct scen *s)
{
	char now[32], exp[32];
	time_t t0 = time(NULL), t1 = t0 + 3600;
	struct tm tm;

	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t0, &tm));
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t1, &tm));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s},"
			 " s:[{s:s, s:s, s:b, s:[s]}, {s:s, s:s, s:b, s:[s]}]}",
			 "scenario_id", s->id, "tenant_id", s->tenant, "subject", s->subject,
			 "track", s->track, "request_id", "r", "state", s->state, "created_at", now,
			 "expires_at", exp, "network_id", "forge-net", "template", "name", s->track,
			 "version", "1.0.0", "hash", "h", "containers", "name", "learner", "state",
			 "running", "learner_access", 1, "addresses", "10.10.0.10/24", "name",
			 "target", "state", "running", "learner_access", 0, "addresses",
			 "10.10.0.20/24");
}

static struct scen *scen_find(const char *id)
{
	for (int i = 0; id && i < fake.n_scen; i++)
		if (strcmp(fake.scen[i].id, id) == 0)
			return &fake.scen[i];
	return NULL;
}

static json_t *error(uint64_t id, enum forge_proto_code code, const char *msg)
{
	return forge_proto_reply_error(id, code, msg, NULL);
}

/* Checks the SAT the api minted against the spawn's own args, as forged does. */
static json_t *fake_spawn(uint64_t id, const json_t *a)
{
	struct forge_sat_claims c;
	struct forge_err err = {0};
	const char *track = json_string_value(json_object_get(a, "template"));
	int rc = forge_sat_verify(json_string_value(json_object_get(a, "sat")), SAT_SECRET,
				  strlen(SAT_SECRET), time(NULL), &c, &err);

	atomic_fetch_add(&fake.seen_spawn, 1);
	if (rc) {
		atomic_fetch_add(&fake.sat_bad, 1);
		return error(id,
			     rc == FORGE_SAT_EXPIRED ? FORGE_E_TOKEN_EXPIRED : FORGE_E_UNAUTHORIZED,
			     err.msg);
	}
	const char *must[][2] = {{"tenant_id", c.tenant_id},
				 {"subject", c.sub},
				 {"plan", c.plan},
				 {"template", c.track},
				 {"request_id", c.request_id}};
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		const char *v = json_string_value(json_object_get(a, must[i][0]));
		if (!v || strcmp(v, must[i][1]) != 0) {
			atomic_fetch_add(&fake.sat_bad, 1);
			return error(id, FORGE_E_FORBIDDEN, "SAT does not match the spawn");
		}
	}
	if (json_integer_value(json_object_get(a, "retention_days")) != c.retention_days) {
		atomic_fetch_add(&fake.sat_bad, 1);
		return error(id, FORGE_E_FORBIDDEN, "SAT retention does not match");
	}
	for (int i = 0; i < fake.n_jtis; i++)
		if (strcmp(fake.jtis[i], c.jti) == 0)
			return error(id, FORGE_E_TOKEN_REPLAYED, "SAT replayed");
	if (strcmp(track, "netplus") && strcmp(track, "ccna") && strcmp(track, "cissp"))
		return error(id, FORGE_E_NOT_FOUND, "no such template");
	if (fake.n_scen == MAX_SCEN || fake.n_jtis == MAX_SCEN)
		return error(id, FORGE_E_CAPACITY, "fake is full");
	strcpy(fake.jtis[fake.n_jtis++], c.jti);
	struct scen *s = &fake.scen[fake.n_scen++];
	memset(s, 0, sizeof(*s));
	strcpy(s->id, c.scenario_id);
	strcpy(s->tenant, c.tenant_id);
	strcpy(s->subject, c.sub);
	strcpy(s->track, c.track);
	strcpy(s->state, "running");
	s->evil = strcmp(c.sub, "evil") == 0;
	return forge_proto_reply_ok(id, scen_json(s));
}

static void write_result(const char *dir, const char *name, const char *text)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
		chmod(p, 0644);
	}
}

static json_t *fake_files(const struct scen *s)
{
	char e[512], m[512], v[512];

	snprintf(e, sizeof(e), "%s/%s/evidence.tar.zst", fake.results, s->id);
	snprintf(m, sizeof(m), "%s/%s/manifest.json", fake.results, s->id);
	snprintf(v, sizeof(v), "%s/%s/verdict.sig", fake.results, s->id);
	if (s->evil) {
		snprintf(m, sizeof(m), "%s/%s/../../../../../../etc/passwd", fake.results, s->id);
		snprintf(v, sizeof(v), "/etc/passwd");
	}
	return json_pack("{s:s, s:s, s:s}", "evidence", e, "manifest", m, "verdict", v);
}

static json_t *fake_op(const struct forge_proto_request *r)
{
	const json_t *a = r->args;
	const char *tenant = json_string_value(json_object_get(a, "tenant_id"));
	struct scen *s = scen_find(json_string_value(json_object_get(a, "scenario_id")));
	char dir[512];

	if (strcmp(r->op, "health") == 0) {
		atomic_fetch_add(&fake.seen_health, 1);
		return forge_proto_reply_ok(r->id, json_pack("{s:b, s:s, s:i, s:[], s:s, s:s}",
							     "ok", 1, "version", "fake", "live",
							     fake.n_scen, "paused", "signing_key",
							     KEY_ID, "policy_bundle", "x"));
	}
	if (strcmp(r->op, "templates") == 0)
		return forge_proto_reply_ok(
		    r->id,
		    json_pack("{s:[{s:s, s:s, s:s, s:s, s:i, s:s}, {s:s, s:s, s:s, s:s, s:i, "
			      "s:s}, {s:s, s:s, s:s, s:s, s:i, s:s}]}",
			      "templates", "name", "netplus", "version", "1.0.0", "track",
			      "netplus", "tier", "1", "timeout_minutes", 60, "title", "Net+",
			      "name", "ccna", "version", "1.0.0", "track", "ccna", "tier", "2",
			      "timeout_minutes", 90, "title", "CCNA", "name", "cissp", "version",
			      "1.0.0", "track", "cissp", "tier", "3", "timeout_minutes", 120,
			      "title", "CISSP"));
	if (strcmp(r->op, "keys") == 0) {
		const char *kid = json_string_value(json_object_get(a, "key_id"));
		json_t *keys = json_array();
		if (!kid || strcmp(kid, KEY_ID) == 0)
			json_array_append_new(
			    keys, json_pack("{s:s, s:s}", "key_id", KEY_ID, "purpose", "verdict"));
		return forge_proto_reply_ok(r->id, json_pack("{s:o}", "keys", keys));
	}
	if (strcmp(r->op, "spawn") == 0)
		return fake_spawn(r->id, a);
	if (strcmp(r->op, "list") == 0) {
		json_t *out = json_array();
		for (int i = 0; i < fake.n_scen; i++)
			if (!tenant || strcmp(fake.scen[i].tenant, tenant) == 0 ||
			    atomic_load(&fake.leak_other_tenant))
				json_array_append_new(out, scen_json(&fake.scen[i]));
		return forge_proto_reply_ok(r->id, json_pack("{s:o}", "scenarios", out));
	}
	if (strcmp(r->op, "get") == 0)
		atomic_fetch_add(&fake.seen_get, 1);
	if (!s)
		return error(r->id, FORGE_E_NOT_FOUND, "no such scenario");
	if (!tenant || strcmp(tenant, s->tenant) != 0)
		return error(r->id, FORGE_E_FORBIDDEN, "not your scenario");
	if (strcmp(r->op, "get") == 0)
		return forge_proto_reply_ok(r->id, scen_json(s));
	if (strcmp(r->op, "exec") == 0) {
		json_t *argv = json_object_get(a, "argv");
		char *text = json_dumps(argv, JSON_COMPACT);
		json_t *out = json_pack("{s:i, s:s, s:s, s:b, s:b}", "exit_code", 0, "stdout", text,
					"stderr", "", "truncated", 0, "timed_out", 0);
		free(text);
		return forge_proto_reply_ok(r->id, out);
	}
	if (strcmp(r->op, "complete") == 0) {
		strcpy(s->state, "completed");
		snprintf(dir, sizeof(dir), "%s/%s", fake.results, s->id);
		mkdir(dir, 0755);
		write_result(dir, "evidence.tar.zst", "EVIDENCE-BYTES");
		write_result(dir, "manifest.json", "{\"scenario_id\":\"x\"}");
		write_result(dir, "verdict.sig", "SIGNATURE");
		return forge_proto_reply_ok(
		    r->id, json_pack("{s:s, s:{s:s, s:i, s:i}, s:s}", "state", "completed", "score",
				     "value", "1", "passed", 2, "total", 2, "results_dir", dir));
	}
	if (strcmp(r->op, "score") == 0) {
		if (strcmp(s->state, "completed") != 0)
			return error(r->id, FORGE_E_CONFLICT, "not scored yet");
		return forge_proto_reply_ok(r->id, json_pack("{s:{s:s, s:i, s:i}, s:o}", "score",
							     "value", "1", "passed", 2, "total", 2,
							     "files", fake_files(s)));
	}
	if (strcmp(r->op, "destroy") == 0) {
		strcpy(s->state, "destroyed");
		return forge_proto_reply_ok(r->id, json_pack("{s:s}", "state", "destroyed"));
	}
	return error(r->id, FORGE_E_UNKNOWN_OP, "no such op");
}

/* One datagram from client fd: false when the connection is done. */
static bool fake_serve(int fd, char *buf)
{
	struct forge_proto_request req;
	struct forge_err err = {0};
	ssize_t n = forge_proto_recv(fd, buf, 0, &err);
	json_t *reply;

	if (n <= 0)
		return false;
	int drop = atomic_load(&fake.drop_next);
	if (drop > 0 && atomic_compare_exchange_strong(&fake.drop_next, &drop, drop - 1)) {
		/* Count what was dropped, then die on this client mid-flight. */
		if (forge_proto_parse_request(buf, (size_t)n, &req, &err) == 0) {
			if (strcmp(req.op, "spawn") == 0)
				atomic_fetch_add(&fake.seen_spawn, 1);
			else if (strcmp(req.op, "get") == 0)
				atomic_fetch_add(&fake.seen_get, 1);
			json_decref(req.args);
		}
		return false;
	}
	if (forge_proto_parse_request(buf, (size_t)n, &req, &err))
		reply = error(0, FORGE_E_BAD_REQUEST, err.msg);
	else {
		pthread_mutex_lock(&fake.lock);
		reply = fake_op(&req);
		pthread_mutex_unlock(&fake.lock);
		json_decref(req.args);
	}
	forge_proto_send(fd, reply, NULL);
	json_decref(reply);
	return true;
}

static void *fake_loop(void *arg)
{
	struct pollfd p[MAX_CLIENTS + 2];
	char *buf = malloc(FORGE_PROTO_MAX + 1);
	int n = 2;

	(void)arg;
	p[0] = (struct pollfd){.fd = fake.stop_fd, .events = POLLIN};
	p[1] = (struct pollfd){.fd = fake.listen_fd, .events = POLLIN};
	while (buf && poll(p, (nfds_t)n, -1) >= 0 && !p[0].revents) {
		if (p[1].revents & POLLIN) {
			int c = accept4(fake.listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0 && n < MAX_CLIENTS + 2)
				p[n++] = (struct pollfd){.fd = c, .events = POLLIN};
			else if (c >= 0)
				close(c);
		}
		for (int i = 2; i < n; i++) {
			if (!p[i].revents || fake_serve(p[i].fd, buf))
				continue;
			close(p[i].fd);
			p[i--] = p[--n];
		}
	}
	for (int i = 2; i < n; i++)
		close(p[i].fd);
	free(buf);
	return NULL;
}

static void fake_start(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	strcpy(sa.sun_path, fake.sock);
	unlink(fake.sock);
	fake.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fake.listen_fd >= 0);
	assert_int_equal(bind(fake.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(chmod(fake.sock, 0666), 0); /* the api runs as nobody */
	assert_int_equal(listen(fake.listen_fd, 64), 0);
	fake.stop_fd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(pthread_create(&fake.thread, NULL, fake_loop, NULL), 0);
	fake.running = true;
}

/* forged "killed": every connection and the socket gone. */
static void fake_stop(void)
{
	if (!fake.running)
		return;
	uint64_t one = 1;
	assert_int_equal(write(fake.stop_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(fake.thread, NULL);
	close(fake.stop_fd);
	close(fake.listen_fd);
	unlink(fake.sock);
	fake.running = false;
}

/* ================================================================ HTTP client */

struct http {
	int status;
	char head[8192];
	char *body;
	size_t len;
	json_t *json;
};

static struct {
	char root[64], api_bin[PATH_MAX], log[128], conf[128], db[192];
	int port;
	pid_t api;
	uint8_t ed_pk[32], ed_sk[64], ent_pk[32], ent_sk[64];
	char tokens[64][1024]; /* every token sent, to look for in the log */
	int n_tokens;
} env;

static void http_clear(struct http *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* The value of response header name (case-insensitive), or "". */
static const char *hdr(const struct http *r, const char *name, char *out, size_t outsz)
{
	size_t n = strlen(name);

	out[0] = '\0';
	for (const char *l = strstr(r->head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, name, n) == 0 && l[2 + n] == ':') {
			const char *v = l + 3 + n;
			v += strspn(v, " ");
			snprintf(out, outsz, "%.*s", (int)strcspn(v, "\r"), v);
			break;
		}
	}
	return out;
}

/* Sends raw (a whole request) and reads the answer to the end. */
static int http_raw(const char *raw, size_t raw_len, struct http *r)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)env.port)};
	size_t cap = 1 << 16, used = 0;
	char *buf = malloc(cap);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(r, 0, sizeof(*r));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || !buf || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (size_t off = 0; off < raw_len;) {
		ssize_t w = send(fd, raw + off, raw_len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server may answer (413) before taking everything */
		off += (size_t)w;
	}
	for (;;) {
		if (used + 4096 > cap)
			buf = realloc(buf, cap *= 2);
		ssize_t n = recv(fd, buf + used, cap - used - 1, 0);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	if (!end || sscanf(buf, "HTTP/1.1 %d", &r->status) != 1) {
		free(buf);
		return -1;
	}
	snprintf(r->head, sizeof(r->head), "%.*s", (int)(end - buf + 2), buf);
	r->len = used - (size_t)(end + 4 - buf);
	r->body = malloc(r->len + 1);
	memcpy(r->body, end + 4, r->len);
	r->body[r->len] = '\0';
	r->json = json_loadb(r->body, r->len, 0, NULL);
	free(buf);
	return r->status;
}

static void remember(const char *token)
{
	if (token && env.n_tokens < 64)
		snprintf(env.tokens[env.n_tokens++], sizeof(env.tokens[0]), "%s", token);
}

/* method path, with an optional bearer token, extra header lines and a JSON body. */
static int http(const char *method, const char *path, const char *token, const char *extra,
		const char *body, struct http *r)
{
	char auth[1100] = "", length[96] = "", *req = NULL;

	remember(token);
	if (token)
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
	if (body)
		snprintf(length, sizeof(length),
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body));
	int n =
	    asprintf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s\r\n%s",
		     method, path, auth, extra ? extra : "", length, body ? body : "");
	if (n < 0)
		return -1;
	int rc = http_raw(req, (size_t)n, r);
	free(req);
	return rc;
}

static const char *jstr(const struct http *r, const char *path)
{
	const json_t *v = r->json;
	char key[64];

	for (const char *p = path; v && *p;) {
		size_t n = strcspn(p, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		v = json_object_get(v, key);
		p += n + (p[n] == '.');
	}
	return json_string_value(v);
}

/* ================================================================ tokens */

static char *token_full(const char *alg, const char *tenant, const char *sub, const char *roles,
			const char *plan, json_int_t iat_off, json_int_t exp_off, const char *aud)
{
	json_t *r = json_array(), *c;
	char *copy = strdup(roles), *save = NULL, *tok = NULL;
	json_int_t now = time(NULL);

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(r, json_string(t));
	free(copy);
	c = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I}", "iss", "forge", "aud", aud, "sub", sub,
		      "tenant_id", tenant, "roles", r, "iat", now + iat_off, "exp", now + exp_off);
	if (plan)
		json_object_set_new(c, "plan", json_string(plan));
	if (strcmp(alg, "HS256") == 0)
		api_jwt_encode("HS256", NULL, c, HS_SECRET, strlen(HS_SECRET), &tok, NULL);
	else
		api_jwt_encode("EdDSA", "k1", c, env.ed_sk, 64, &tok, NULL);
	json_decref(c);
	return tok;
}

static char *token(const char *tenant, const char *sub, const char *roles, const char *plan)
{
	return token_full("HS256", tenant, sub, roles, plan, 0, 600, "forge-api");
}

#define ALL_ROLES "forge.spawn,forge.learner,forge.score.read"

/* ================================================================ the api process */

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void copy_policy(const char *dst)
{
	char cmd[PATH_MAX * 2];
	const char *src =
	    getenv("FORGE_POLICY_RULES") ? getenv("FORGE_POLICY_RULES") : "policy/rules";

	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s' && chmod -R a+rX '%s'", src, dst, dst);
	assert_int_equal(system(cmd), 0);
}

static void api_start(void)
{
	char listen[64], user_arg[32] = "--user=nobody";

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", env.port);
	env.api = fork();
	assert_true(env.api >= 0);
	if (env.api == 0) {
		int fd = open(env.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		dup2(fd, 2);
		dup2(fd, 1);
		setenv("FORGE_JWT_HS256_SECRET", HS_SECRET, 1);
		setenv("SAT_HMAC_SECRET", SAT_SECRET, 1);
		setenv("FORGE_ENV", "test", 1);
		unsetenv("FORGE_ROOT");
		if (geteuid() == 0)
			execl(env.api_bin, "forge-api", "--root", env.root, "--listen", listen,
			      user_arg, (char *)NULL);
		else
			execl(env.api_bin, "forge-api", "--root", env.root, "--listen", listen,
			      (char *)NULL);
		_exit(127);
	}
	/* Ready when /healthz answers (bounded: 200 × 25 ms). */
	struct http r;
	for (int i = 0; i < 200; i++) {
		if (http("GET", "/healthz", NULL, NULL, NULL, &r) == 200) {
			http_clear(&r);
			return;
		}
		http_clear(&r);
		if (waitpid(env.api, NULL, WNOHANG) == env.api)
			fail_msg("forge-api exited at start; see %s", env.log);
		usleep(25000);
	}
	fail_msg("forge-api did not come up; see %s", env.log);
}

static int group_setup(void **state)
{
	char path[256], hex[65], line[256];
	const char *bin = getenv("FORGE_API");
	ssize_t n;

	(void)state;
	forge_crypto_init();
	pthread_mutex_init(&fake.lock, NULL);
	strcpy(env.root, "/tmp/forge-e2e-api-XXXXXX");
	if (!mkdtemp(env.root))
		return -1;
	if (bin) {
		snprintf(env.api_bin, sizeof(env.api_bin), "%s", bin);
	} else {
		char self[PATH_MAX] = "";
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[n > 0 ? n : 0] = '\0';
		*strrchr(self, '/') = '\0';
		snprintf(env.api_bin, sizeof(env.api_bin), "%s/../../forge-api", self);
	}
	/* The api user must reach what it reads after the drop (the layout the
	 * packaging makes: lib traversable by the forge group). */
	const struct {
		const char *rel;
		mode_t mode;
	} dirs[] = {{"", 0755},
		    {"etc", 0755},
		    {"etc/forge", 0755},
		    {"var", 0755},
		    {"var/lib", 0755},
		    {"var/lib/forge", 0711},
		    {"var/lib/forge/results", 0755},
		    {"run", 0755},
		    {"run/forge", 0755}};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", env.root, dirs[i].rel);
		if (mkdir(path, dirs[i].mode) < 0 && errno != EEXIST)
			return -1;
		chmod(path, dirs[i].mode);
	}
	snprintf(fake.sock, sizeof(fake.sock), "%s/run/forge/forged.sock", env.root);
	snprintf(fake.results, sizeof(fake.results), "%s/var/lib/forge/results", env.root);
	snprintf(env.log, sizeof(env.log), "%s/api.log", env.root);
	snprintf(env.db, sizeof(env.db), "%s/var/lib/forge/api/api.db", env.root);
	snprintf(path, sizeof(path), "%s/etc/forge/policy", env.root);
	copy_policy(path);
	forge_ed25519_keypair(env.ed_pk, env.ed_sk, NULL);
	forge_ed25519_keypair(env.ent_pk, env.ent_sk, NULL);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", env.ed_pk[i]);
	snprintf(path, sizeof(path), "%s/etc/forge/jwt-eddsa.pub", env.root);
	snprintf(line, sizeof(line), "k1 %s\n", hex);
	write_file(path, line, 0600); /* read as root, before the drop */
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", env.ent_pk[i]);
	snprintf(path, sizeof(path), "%s/etc/forge/entitlement.pub", env.root);
	snprintf(line, sizeof(line), "billing %s\n", hex);
	write_file(path, line, 0600);
	snprintf(env.conf, sizeof(env.conf), "%s/etc/forge/forge.conf", env.root);
	char conf[2048];
	snprintf(conf, sizeof(conf),
		 "jwt.eddsa_keys_file = %s/etc/forge/jwt-eddsa.pub\n"
		 "entitlement.keys_file = %s/etc/forge/entitlement.pub\n"
		 "api.max_body_bytes = 2048\n"
		 "api.max_header_bytes = 8192\n"
		 "api.threads = 4\n"
		 "api.max_spawns_in_flight = 4\n"
		 "ratelimit.status.per_minute = 1\n"
		 "ratelimit.status.burst = 15\n"
		 "ratelimit.create.burst = 40\n"
		 "forged.timeout_ms = 2000\n"
		 "forged.retries = 2\n"
		 "forged.breaker_failures = 3\n"
		 "forged.breaker_cooldown_ms = 300\n"
		 "max_live = 10\n",
		 env.root, env.root);
	write_file(env.conf, conf, 0644);
	env.port = free_port();
	fake_start();
	api_start();
	return 0;
}

static int group_teardown(void **state)
{
	int status = -1;
	char cmd[128];

	(void)state;
	if (env.api > 0) {
		kill(env.api, SIGTERM);
		waitpid(env.api, &status, 0);
	}
	fake_stop();
	/* A clean exit on SIGTERM. */
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (getenv("FORGE_E2E_KEEP")) {
		fprintf(stderr, "kept %s\n", env.root);
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env.root);
	return system(cmd) == 0 ? 0 : -1;
}

/* ================================================================ the cases */

static char *spawn_ok(const char *tok, const char *track, const char *rid, char id[13])
{
	struct http r;
	char body[256];

	snprintf(body, sizeof(body), "{\"track\":\"%s\",\"request_id\":\"%s\"}", track, rid);
	assert_int_equal(http("POST", "/v1/spawn", tok, NULL, body, &r), 201);
	snprintf(id, 13, "%s", jstr(&r, "scenario_id"));
	char *url = strdup(jstr(&r, "access_url"));
	http_clear(&r);
	return url;
}

static void test_health_readyz(void **state)
{
	struct http r;
	char v[128];

	(void)state;
	assert_int_equal(http("GET", "/healthz", NULL, "X-Request-ID: my-id.1\r\n", NULL, &r), 200);
	assert_string_equal(hdr(&r, "X-Request-ID", v, sizeof(v)), "my-id.1");
	http_clear(&r);
	/* An id we cannot pass on is replaced. */
	assert_int_equal(http("GET", "/health", NULL, "X-Request-ID: bad id!\r\n", NULL, &r), 200);
	assert_int_equal(strncmp(hdr(&r, "X-Request-ID", v, sizeof(v)), "api-", 4), 0);
	http_clear(&r);
	assert_int_equal(http("GET", "/readyz", NULL, NULL, NULL, &r), 200);
	assert_true(json_is_true(json_object_get(r.json, "ready")));
	const char *checks[] = {"forged", "storage", "signing_key", "policy"};
	for (int i = 0; i < 4; i++)
		assert_true(json_is_true(json_object_get(
		    json_object_get(json_object_get(r.json, "checks"), checks[i]), "ok")));
	http_clear(&r);
	assert_int_equal(http("GET", "/audit/keys/current", NULL, NULL, NULL, &r), 200);
	http_clear(&r);
	assert_int_equal(http("GET", "/audit/keys/" KEY_ID, NULL, NULL, NULL, &r), 200);
	http_clear(&r);
	assert_int_equal(http("GET", "/audit/keys/fedcba9876543210", NULL, NULL, NULL, &r), 404);
	http_clear(&r);
	assert_int_equal(http("GET", "/audit/keys/nothex", NULL, NULL, NULL, &r), 400);
	http_clear(&r);
}

static void test_auth_matrix(void **state)
{
	struct http r;
	char v[512], id[13];
	const char *t = "t-auth";
	char *good = token(t, "alice", ALL_ROLES, "pro");

	(void)state;
	free(spawn_ok(good, "netplus", "auth-1", id));
	char path[64];
	snprintf(path, sizeof(path), "/v1/scenarios/%s", id);

	/* status, then what must be in the error or WWW-Authenticate */
	char *expired = token_full("HS256", t, "alice", ALL_ROLES, NULL, -7200, -3600, "forge-api");
	char *future = token_full("HS256", t, "alice", ALL_ROLES, NULL, 3600, 4000, "forge-api");
	char *wrong_aud = token_full("HS256", t, "alice", ALL_ROLES, NULL, 0, 600, "other-api");
	char *ed_ok = token_full("EdDSA", t, "alice", ALL_ROLES, NULL, 0, 600, "forge-api");
	char *badsig = strdup(good);
	badsig[strlen(badsig) - 2] = badsig[strlen(badsig) - 2] == 'A' ? 'B' : 'A';
	/* alg none: the good token's payload with an unsigned header. */
	char none[1024];
	snprintf(none, sizeof(none), "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0%s", strchr(good, '.'));
	*strrchr(none, '.') = '\0';
	strcat(none, ".");
	/* HS256 signed with the EdDSA public key as its secret. */
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:I, s:I}", "iss", "forge", "aud",
			      "forge-api", "sub", "alice", "tenant_id", t, "roles", "forge.spawn",
			      "iat", (json_int_t)time(NULL), "exp", (json_int_t)time(NULL) + 600);
	char *confused = NULL;
	api_jwt_encode("HS256", "k1", c, env.ed_pk, 32, &confused, NULL);
	json_decref(c);
	char *no_role = token(t, "alice", "forge.viewer", NULL);
	char *other = token("t-auth-other", "mallory", ALL_ROLES, "pro");

	const struct {
		const char *name, *tok;
		int status;
		const char *why;
	} cases[] = {
	    {"HS256", good, 200, NULL}, /* first: the view is cached when the others ask */
	    {"no token", NULL, 401, "bearer token is required"},
	    {"malformed", "not-a-jwt", 401, "malformed"},
	    {"bad signature", badsig, 401, "bad signature"},
	    {"alg none", none, 401, "not accepted"},
	    {"HS/EdDSA confusion", confused, 401, "bad signature"},
	    {"expired", expired, 401, "expired"},
	    {"not yet valid", future, 401, "future"},
	    {"wrong audience", wrong_aud, 401, "audience"},
	    {"missing role", no_role, 403, "roles"},
	    {"other tenant", other, 403, "not your"},
	    {"EdDSA", ed_ok, 200, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		http("GET", path, cases[i].tok, NULL, NULL, &r);
		if (r.status != cases[i].status)
			fail_msg("%s: status %d, want %d (%s)", cases[i].name, r.status,
				 cases[i].status, r.body);
		if (cases[i].status == 401 && strncmp(hdr(&r, "WWW-Authenticate", v, sizeof(v)),
						      "Bearer realm=\"forge\"", 20))
			fail_msg("%s: no WWW-Authenticate challenge", cases[i].name);
		if (cases[i].why && !strstr(jstr(&r, "error.message"), cases[i].why))
			fail_msg("%s: \"%s\" not in \"%s\"", cases[i].name, cases[i].why,
				 jstr(&r, "error.message"));
		if (cases[i].status == 200)
			assert_string_equal(jstr(&r, "tenant_id"), t);
		/* Nothing of the scenario in a refusal. */
		if (cases[i].status != 200)
			assert_null(strstr(r.body, "10.10.0.10"));
		http_clear(&r);
	}
	/* The other tenant's list does not show it either. */
	assert_int_equal(http("GET", "/v1/scenarios", other, NULL, NULL, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "scenarios")), 0);
	http_clear(&r);
	char *toks[] = {good, expired, future, wrong_aud, ed_ok, badsig, confused, no_role, other};
	for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++)
		free(toks[i]);
}

static void test_flow(void **state)
{
	struct http r;
	char id[13], path[128], v[256];
	char *tok = token("t-flow", "alice", ALL_ROLES, "pro");

	(void)state;
	char *url = spawn_ok(tok, "ccna", "flow-1", id);
	assert_int_equal(strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789"), 12);
	assert_non_null(strstr(url, id));
	free(url);
	snprintf(path, sizeof(path), "/v1/scenarios/%s", id);
	assert_int_equal(http("GET", path, tok, NULL, NULL, &r), 200);
	assert_string_equal(jstr(&r, "state"), "running");
	assert_non_null(json_object_get(r.json, "containers"));
	assert_non_null(jstr(&r, "network_id"));
	http_clear(&r);
	assert_int_equal(http("GET", "/v1/scenarios", tok, NULL, NULL, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "scenarios")), 1);
	http_clear(&r);
	/* exec: the learner container and an allowed tool only */
	snprintf(path, sizeof(path), "/v1/scenarios/%s/exec", id);
	assert_int_equal(http("POST", path, tok, NULL,
			      "{\"container\":\"learner\",\"argv\":[\"ip\",\"addr\"]}", &r),
			 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "exit_code")), 0);
	assert_non_null(strstr(jstr(&r, "stdout"), "addr"));
	http_clear(&r);
	assert_int_equal(http("POST", path, tok, NULL,
			      "{\"container\":\"target\",\"argv\":[\"ip\",\"addr\"]}", &r),
			 403);
	http_clear(&r);
	assert_int_equal(http("POST", path, tok, NULL,
			      "{\"container\":\"learner\",\"argv\":[\"rm\",\"-rf\",\"/\"]}", &r),
			 403);
	assert_string_equal(jstr(&r, "error.code"), "policy_denied");
	http_clear(&r);
	assert_int_equal(
	    http("POST", path, tok, NULL, "{\"container\":\"nope\",\"argv\":[\"ip\"]}", &r), 404);
	http_clear(&r);
	/* scores before completion: forged's conflict, mapped */
	snprintf(path, sizeof(path), "/v1/scores/%s", id);
	assert_int_equal(http("GET", path, tok, NULL, NULL, &r), 409);
	http_clear(&r);
	snprintf(path, sizeof(path), "/v1/scenarios/%s/complete", id);
	assert_int_equal(http("POST", path, tok, NULL, NULL, &r), 200);
	assert_string_equal(jstr(&r, "state"), "completed");
	assert_string_equal(jstr(&r, "score.value"), "1");
	assert_null(json_object_get(r.json, "results_dir")); /* no host path */
	http_clear(&r);
	snprintf(path, sizeof(path), "/v1/scores/%s", id);
	assert_int_equal(http("GET", path, tok, NULL, NULL, &r), 200);
	assert_non_null(strstr(jstr(&r, "artifacts.verdict"), "/verdict"));
	http_clear(&r);
	const char *files[][3] = {{"evidence", "EVIDENCE-BYTES", "application/zstd"},
				  {"manifest", "{\"scenario_id\":\"x\"}", "application/json"},
				  {"verdict", "SIGNATURE", "application/octet-stream"}};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/v1/scores/%s/%s", id, files[i][0]);
		assert_int_equal(http("GET", path, tok, NULL, NULL, &r), 200);
		assert_string_equal(r.body, files[i][1]);
		assert_string_equal(hdr(&r, "Content-Type", v, sizeof(v)), files[i][2]);
		assert_non_null(strstr(hdr(&r, "Content-Disposition", v, sizeof(v)), "attachment"));
		http_clear(&r);
	}
	snprintf(path, sizeof(path), "/v1/scenarios/%s", id);
	assert_int_equal(http("DELETE", path, tok, NULL, NULL, &r), 200);
	assert_string_equal(jstr(&r, "state"), "destroyed");
	http_clear(&r);
	free(tok);
}

static void test_score_confinement(void **state)
{
	struct http r;
	char id[13], path[128];
	char *tok = token("t-evil", "evil", ALL_ROLES, "pro");

	(void)state;
	free(spawn_ok(tok, "netplus", "evil-1", id));
	snprintf(path, sizeof(path), "/v1/scenarios/%s/complete", id);
	assert_int_equal(http("POST", path, tok, NULL, NULL, &r), 200);
	http_clear(&r);
	/* forged points outside <lib>/results: refused, nothing streamed. */
	const char *which[] = {"manifest", "verdict"};
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/v1/scores/%s/%s", id, which[i]);
		assert_int_equal(http("GET", path, tok, NULL, NULL, &r), 500);
		assert_null(strstr(r.body, "root:"));
		http_clear(&r);
	}
	snprintf(path, sizeof(path), "/v1/scores/%s/evidence", id); /* the honest one */
	assert_int_equal(http("GET", path, tok, NULL, NULL, &r), 200);
	http_clear(&r);
	free(tok);
}

static void test_plans(void **state)
{
	struct http r;
	char id[13];
	char *free_tok = token("t-plan", "bob", ALL_ROLES, NULL); /* default plan: free */
	char *pro = token("t-plan", "carol", ALL_ROLES, "pro");
	char *learner = token("t-plan", "dave", "forge.learner", "pro");

	(void)state;
	assert_int_equal(http("POST", "/v1/spawn", free_tok, NULL, "{\"track\":\"ccna\"}", &r),
			 403);
	assert_non_null(strstr(jstr(&r, "error.message"), "free"));
	http_clear(&r);
	/* X-Plan is not honoured without the dev flag. */
	assert_int_equal(http("POST", "/v1/spawn", free_tok, "X-Plan: enterprise\r\n",
			      "{\"track\":\"ccna\"}", &r),
			 403);
	http_clear(&r);
	assert_int_equal(http("POST", "/v1/spawn", free_tok, NULL, "{\"track\":\"nope\"}", &r),
			 404);
	http_clear(&r);
	assert_int_equal(http("POST", "/api/spawn", pro, NULL, "{\"track\":\"cissp\"}", &r), 403);
	http_clear(&r);
	assert_int_equal(http("POST", "/v1/spawn", learner, NULL, "{\"track\":\"netplus\"}", &r),
			 403);
	http_clear(&r);
	free(spawn_ok(pro, "ccna", "plan-1", id));
	/* An entitlement from the billing side lifts the plan. */
	json_t *e = json_pack("{s:s, s:s, s:I, s:I}", "tenant_id", "t-plan", "plan", "enterprise",
			      "iat", (json_int_t)time(NULL), "exp", (json_int_t)time(NULL) + 600);
	char *ent = NULL, ent_hdr[1024];
	api_jwt_encode("EdDSA", "billing", e, env.ent_sk, 64, &ent, NULL);
	snprintf(ent_hdr, sizeof(ent_hdr), "X-Entitlement: %s\r\n", ent);
	remember(ent);
	assert_int_equal(http("POST", "/api/spawn", free_tok, ent_hdr, "{\"track\":\"cissp\"}", &r),
			 201);
	http_clear(&r);
	assert_int_equal(http("GET", "/v1/templates", free_tok, ent_hdr, NULL, &r), 200);
	assert_string_equal(jstr(&r, "plan"), "enterprise");
	assert_int_equal(json_array_size(json_object_get(r.json, "templates")), 3);
	http_clear(&r);
	assert_int_equal(http("GET", "/v1/templates", free_tok, NULL, NULL, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "templates")), 1);
	http_clear(&r);
	free(ent);
	json_decref(e);
	free(free_tok);
	free(pro);
	free(learner);
}

struct racer {
	pthread_barrier_t *go;
	const char *tok;
	int index, status;
	char retry[16];
};

static void *race(void *arg)
{
	struct racer *x = arg;
	struct http r;
	char body[128];

	snprintf(body, sizeof(body), "{\"track\":\"netplus\",\"request_id\":\"race-%d\"}",
		 x->index);
	pthread_barrier_wait(x->go);
	x->status = http("POST", "/v1/spawn", x->tok, NULL, body, &r);
	hdr(&r, "Retry-After", x->retry, sizeof(x->retry));
	http_clear(&r);
	return NULL;
}

static void test_quota_race(void **state)
{
	struct racer x[20];
	pthread_t t[20];
	pthread_barrier_t go;
	char *tok = token("t-quota", "alice", ALL_ROLES, "pro"); /* pro: 3 live per subject */
	int spawns_before = atomic_load(&fake.seen_spawn), created = 0, refused = 0;

	(void)state;
	pthread_barrier_init(&go, NULL, 20);
	for (int i = 0; i < 20; i++) {
		x[i] = (struct racer){.go = &go, .tok = tok, .index = i};
		assert_int_equal(pthread_create(&t[i], NULL, race, &x[i]), 0);
	}
	for (int i = 0; i < 20; i++) {
		pthread_join(t[i], NULL);
		created += x[i].status == 201;
		if (x[i].status == 429) {
			refused++;
			assert_true(atoi(x[i].retry) >= 1);
		}
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(created, 3);
	assert_int_equal(refused, 17);
	assert_int_equal(atomic_load(&fake.seen_spawn) - spawns_before, 3);
	free(tok);
}

static void test_idempotency(void **state)
{
	struct http r;
	char id[13], v[64];
	char *tok = token("t-idem", "alice", ALL_ROLES, "pro");
	int before;

	(void)state;
	free(spawn_ok(tok, "netplus", "idem-1", id));
	before = atomic_load(&fake.seen_spawn);
	assert_int_equal(http("POST", "/v1/spawn", tok, NULL,
			      "{\"request_id\":\"idem-1\",\"track\":\"netplus\"}", &r),
			 201);
	assert_string_equal(jstr(&r, "scenario_id"), id);
	assert_string_equal(hdr(&r, "Idempotent-Replay", v, sizeof(v)), "true");
	http_clear(&r);
	assert_int_equal(atomic_load(&fake.seen_spawn), before); /* forged not asked again */
	assert_int_equal(http("POST", "/v1/spawn", tok, NULL,
			      "{\"track\":\"ccna\",\"request_id\":\"idem-1\"}", &r),
			 409);
	assert_string_equal(jstr(&r, "error.code"), "conflict");
	http_clear(&r);
	/* The key may come as X-Request-ID; it is the correlation id too. */
	assert_int_equal(http("POST", "/v1/spawn", tok, "X-Request-ID: idem-hdr\r\n",
			      "{\"track\":\"netplus\"}", &r),
			 201);
	assert_string_equal(jstr(&r, "request_id"), "idem-hdr");
	assert_string_equal(hdr(&r, "X-Request-ID", v, sizeof(v)), "idem-hdr");
	http_clear(&r);
	assert_int_equal(http("POST", "/v1/spawn", tok, "X-Request-ID: idem-hdr\r\n",
			      "{\"track\":\"netplus\"}", &r),
			 201);
	assert_string_equal(hdr(&r, "Idempotent-Replay", v, sizeof(v)), "true");
	http_clear(&r);
	free(tok);
}

static void test_rate_limit(void **state)
{
	struct http r;
	char v[16];
	char *tok = token("t-rate", "alice", ALL_ROLES, "pro");
	int ok = 0;

	(void)state;
	/* status: a burst of 15, then one a minute. */
	while (http("GET", "/v1/scenarios", tok, NULL, NULL, &r) == 200 && ok < 100) {
		ok++;
		http_clear(&r);
	}
	assert_int_equal(ok, 15);
	assert_int_equal(r.status, 429);
	assert_string_equal(jstr(&r, "error.code"), "rate_limited");
	assert_true(atoi(hdr(&r, "Retry-After", v, sizeof(v))) >= 1);
	http_clear(&r);
	/* Another tenant is not affected. */
	char *other = token("t-rate-2", "alice", ALL_ROLES, "pro");
	assert_int_equal(http("GET", "/v1/scenarios", other, NULL, NULL, &r), 200);
	http_clear(&r);
	free(other);
	free(tok);
}

static void test_limits(void **state)
{
	struct http r;
	char *tok = token("t-limits", "alice", ALL_ROLES, "pro");
	char big[4096], req[8192], hdrs[16384];

	(void)state;
	memset(big, 'a', sizeof(big));
	snprintf(req, sizeof(req), "{\"track\":\"netplus\",\"metadata\":{\"x\":\"%.3000s\"}}", big);
	assert_int_equal(http("POST", "/v1/spawn", tok, NULL, req, &r), 413);
	assert_string_equal(jstr(&r, "error.code"), "too_large");
	http_clear(&r);
	/* Chunked: no Content-Length to refuse early; cut off while reading. */
	char *hdr_tok = NULL;
	assert_true(asprintf(&hdr_tok,
			     "POST /v1/spawn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n%x\r\n%.3000s\r\n0\r\n\r\n",
			     tok, 3000, big) > 0);
	assert_int_equal(http_raw(hdr_tok, strlen(hdr_tok), &r), 413);
	http_clear(&r);
	free(hdr_tok);
	/* No body: no content type needed, and the missing body is the error. */
	assert_int_equal(http("POST", "/v1/spawn", tok, "Content-Type: text/plain\r\n", NULL, &r),
			 400);
	assert_non_null(strstr(jstr(&r, "error.message"), "body is required"));
	http_clear(&r);
	char *plain = NULL;
	assert_true(asprintf(&plain,
			     "POST /v1/spawn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			     "Authorization: Bearer %s\r\nContent-Type: text/plain\r\n"
			     "Content-Length: 2\r\n\r\n{}",
			     tok) > 0);
	assert_int_equal(http_raw(plain, strlen(plain), &r), 415);
	assert_string_equal(jstr(&r, "error.code"), "unsupported_media_type");
	http_clear(&r);
	free(plain);
	assert_int_equal(http("POST", "/v1/spawn", tok, NULL, "{\"track\":", &r), 400);
	assert_non_null(strstr(jstr(&r, "error.message"), "malformed JSON"));
	http_clear(&r);
	assert_int_equal(http("POST", "/v1/spawn", tok, NULL, "[1]", &r), 400);
	http_clear(&r);
	assert_int_equal(
	    http("POST", "/v1/spawn", tok, NULL, "{\"track\":\"netplus\",\"x\":1}", &r), 400);
	http_clear(&r);
	assert_int_equal(
	    http("POST", "/v1/spawn", tok, NULL, "{\"track\":\"netplus\",\"track\":\"ccna\"}", &r),
	    400);
	http_clear(&r);
	assert_int_equal(http("POST", "/v1/spawn", tok, NULL, "{\"track\":\"Net Plus\"}", &r), 400);
	http_clear(&r);
	/* An unknown key echoed in the error, cut in the middle of a character. */
	snprintf(req, sizeof(req), "{\"track\":\"netplus\",\"%.63s\xc3\xa9\":1}", big);
	assert_int_equal(http("POST", "/v1/spawn", tok, NULL, req, &r), 400);
	assert_non_null(strstr(jstr(&r, "error.message"), "unknown key"));
	http_clear(&r);
	/* A header block over api.max_header_bytes: refused by the server itself. */
	snprintf(hdrs, sizeof(hdrs), "X-Padding: %.10000s\r\n", "");
	memset(hdrs + 11, 'p', 10000);
	strcpy(hdrs + 11 + 10000, "\r\n");
	assert_true(http("GET", "/healthz", NULL, hdrs, NULL, &r) >= 400);
	http_clear(&r);
	free(tok);
}

/* Polls GET path until want (bounded), returns the last status. */
static int poll_status(const char *path, const char *tok, int want)
{
	struct http r;
	int st = -1;

	for (int i = 0; i < 200 && st != want; i++) {
		st = http("GET", path, tok, NULL, NULL, &r);
		http_clear(&r);
		if (st != want)
			usleep(25000);
	}
	return st;
}

static void test_forged_down_and_back(void **state)
{
	struct http r;
	char id[13], path[64], rid[32];
	char *tok = token("t-down", "alice", ALL_ROLES, "pro");
	int gets, spawns;

	(void)state;
	free(spawn_ok(tok, "netplus", "down-1", id));
	snprintf(path, sizeof(path), "/v1/scenarios/%s", id);
	/* An idempotent read survives two dropped connections: 3 attempts. */
	gets = atomic_load(&fake.seen_get);
	atomic_store(&fake.drop_next, 2);
	assert_int_equal(http("GET", path, tok, NULL, NULL, &r), 200);
	http_clear(&r);
	assert_int_equal(atomic_load(&fake.seen_get) - gets, 3);
	/* A spawn is never retried: one attempt, 503, and its reservation is released. */
	spawns = atomic_load(&fake.seen_spawn);
	atomic_store(&fake.drop_next, 1);
	assert_int_equal(http("POST", "/v1/spawn", tok, NULL,
			      "{\"track\":\"netplus\",\"request_id\":\"down-2\"}", &r),
			 503);
	assert_string_equal(jstr(&r, "error.code"), "unavailable");
	http_clear(&r);
	assert_int_equal(atomic_load(&fake.seen_spawn) - spawns, 1);
	/* forged killed: 503 with a clear error, then the circuit opens (fail fast).
	 * The list is never cached, so it shows it at once. */
	fake_stop();
	assert_int_equal(http("GET", "/v1/scenarios", tok, NULL, NULL, &r), 503);
	assert_non_null(strstr(jstr(&r, "error.message"), "forged"));
	http_clear(&r);
	assert_int_equal(http("GET", "/readyz", NULL, NULL, NULL, &r), 503);
	assert_false(json_is_true(
	    json_object_get(json_object_get(json_object_get(r.json, "checks"), "forged"), "ok")));
	http_clear(&r);
	assert_int_equal(http("GET", "/metrics", NULL, NULL, NULL, &r), 200);
	assert_non_null(strstr(r.body, "forge_api_forged_circuit_state 1"));
	http_clear(&r);
	assert_int_equal(http("GET", "/v1/scenarios", tok, NULL, NULL, &r), 503);
	assert_non_null(strstr(jstr(&r, "error.message"), "failing fast"));
	http_clear(&r);
	/* forged back: the api recovers by itself once the cooldown is over. */
	fake_start();
	assert_int_equal(poll_status("/readyz", NULL, 200), 200);
	assert_int_equal(http("GET", "/v1/scenarios", tok, NULL, NULL, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "scenarios")), 1);
	http_clear(&r);
	/* The released reservation: the same request id spawns now. */
	snprintf(rid, sizeof(rid), "down-2");
	char id2[13];
	free(spawn_ok(tok, "netplus", rid, id2));
	free(tok);
}

static void test_status_cache(void **state)
{
	struct http r;
	char id[13], path[64];
	char *tok = token("t-cache", "alice", ALL_ROLES, "pro");
	char *other = token("t-cache-2", "mallory", ALL_ROLES, "pro");
	int gets;

	(void)state;
	free(spawn_ok(tok, "netplus", "cache-1", id));
	snprintf(path, sizeof(path), "/v1/scenarios/%s", id);
	gets = atomic_load(&fake.seen_get);
	assert_int_equal(http("GET", path, tok, NULL, NULL, &r), 200);
	http_clear(&r);
	assert_int_equal(http("GET", path, tok, NULL, NULL, &r), 200);
	http_clear(&r);
	assert_int_equal(atomic_load(&fake.seen_get) - gets, 1); /* polls absorbed */
	/* Cached for its tenant only: another one still asks forged, and is refused. */
	assert_int_equal(http("GET", path, other, NULL, NULL, &r), 403);
	http_clear(&r);
	assert_int_equal(atomic_load(&fake.seen_get) - gets, 2);
	/* What the api changes itself is seen at once. */
	snprintf(path, sizeof(path), "/v1/scenarios/%s/complete", id);
	assert_int_equal(http("POST", path, tok, NULL, NULL, &r), 200);
	http_clear(&r);
	snprintf(path, sizeof(path), "/v1/scenarios/%s", id);
	assert_int_equal(http("GET", path, tok, NULL, NULL, &r), 200);
	assert_string_equal(jstr(&r, "state"), "completed");
	http_clear(&r);
	free(other);
	free(tok);
}

/* forgectl's api tools against this root: skipped when the forgectl next to
 * forge-api is not built with them. */
static void test_forgectl(void **state)
{
	char cmd[PATH_MAX * 2], out[2048] = "", ctl[PATH_MAX];
	struct http r;
	FILE *p;
	int st;

	(void)state;
	snprintf(ctl, sizeof(ctl), "%s", env.api_bin);
	snprintf(strrchr(ctl, '/') + 1, sizeof(ctl) - (size_t)(strrchr(ctl, '/') + 1 - ctl),
		 "forgectl");
	snprintf(cmd, sizeof(cmd),
		 "FORGE_JWT_HS256_SECRET='%s' '%s' --root '%s' dev-token --tenant t-ctl --sub ann "
		 "--roles forge.spawn,forge.learner --plan pro --ttl 600 2>&1",
		 HS_SECRET, ctl, env.root);
	if (access(ctl, X_OK) != 0 || !(p = popen(cmd, "r")))
		skip();
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	if (strstr(out, "not built yet"))
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(http("GET", "/v1/templates", out, NULL, NULL, &r), 200);
	assert_string_equal(jstr(&r, "plan"), "pro");
	http_clear(&r);
	/* Refused in production, whatever else is set. */
	snprintf(cmd, sizeof(cmd),
		 "FORGE_ENV=production FORGE_JWT_HS256_SECRET='%s' '%s' --root '%s' dev-token "
		 "--tenant t --sub s --roles forge.spawn >/dev/null 2>&1",
		 HS_SECRET, ctl, env.root);
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);
	/* The ledger forge-api wrote checks out. */
	snprintf(cmd, sizeof(cmd), "'%s' --root '%s' billing verify 2>&1", ctl, env.root);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(WEXITSTATUS(pclose(p)), 0);
	assert_non_null(strstr(out, "hash chain intact"));
}

static void test_leak_defense(void **state)
{
	struct http r;
	char *tok = token("t-leak", "alice", ALL_ROLES, "pro");

	(void)state;
	/* Even when forged lists other tenants' scenarios, none reaches the body. */
	atomic_store(&fake.leak_other_tenant, 1);
	assert_int_equal(http("GET", "/v1/scenarios", tok, NULL, NULL, &r), 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "scenarios")), 0);
	http_clear(&r);
	atomic_store(&fake.leak_other_tenant, 0);
	free(tok);
}

static void test_metrics_billing_logs(void **state)
{
	struct http r;
	struct forge_err err = {0};
	long rows = 0;
	char *log = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(http("GET", "/metrics", NULL, NULL, NULL, &r), 200);
	const char *want[] = {
	    "forge_api_spawn_requests_total{track=\"netplus\",status=\"201\"}",
	    "forge_api_spawn_requests_total{track=\"netplus\",status=\"429\"} 17",
	    "forge_api_spawn_requests_total{track=\"ccna\",status=\"403\"}",
	    "forge_api_spawn_duration_seconds_bucket{track=\"netplus\",le=\"+Inf\"}",
	    "forge_api_rate_limited_total{class=\"status\"}",
	    "forge_api_policy_decisions_total{gate=\"spawn\",result=\"allow\"}",
	    "forge_api_policy_decisions_total{gate=\"action\",result=\"deny\"}",
	    "forge_api_policy_decisions_total{gate=\"quota\",result=\"allow\"}",
	    "forge_api_http_requests_total{route=\"/v1/scenarios/"
	    "{id}\",method=\"GET\",code=\"401\"}",
	    "forge_api_http_request_duration_seconds_count{route=\"/v1/spawn\"}",
	    "forge_api_active_scenarios{track=\"netplus\"}",
	    "forge_api_forged_circuit_state 0",
	    "forge_api_forged_calls_total{op=\"list\",result=\"circuit_open\"}",
	    "forge_api_forged_calls_total{op=\"spawn\",result=\"unreachable\"}",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(r.body, want[i]))
			fail_msg("metrics lack %s", want[i]);
	/* No unknown track ever becomes a label. */
	assert_null(strstr(r.body, "track=\"nope\""));
	http_clear(&r);
	/* Every accepted spawn was billed, and the chain holds. */
	assert_int_equal(api_billing_verify(env.db, &rows, &err), 0);
	assert_int_equal(atomic_load(&fake.sat_bad), 0); /* every SAT the api minted was good */
	assert_int_equal(rows, atomic_load(&fake.seen_spawn) - 1 /* the dropped one */);
	/* The log: one JSON line each, with a correlation id, never a token. */
	int fd = open(env.log, O_RDONLY | O_CLOEXEC);
	assert_int_equal(forge_read_fd(fd, env.log, &log, &len, 64 << 20, &err), 0);
	close(fd);
	for (int i = 0; i < env.n_tokens; i++) {
		const char *sig = strrchr(env.tokens[i], '.');
		if (strstr(log, env.tokens[i]) || (sig && strlen(sig) > 8 && strstr(log, sig)))
			fail_msg("token %d is in the log", i);
	}
	assert_null(strstr(log, HS_SECRET));
	assert_null(strstr(log, SAT_SECRET));
	int requests = 0;
	for (char *line = log, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		json_t *j = json_loads(line, 0, NULL);
		if (!j)
			fail_msg("not a JSON line: %.200s", line);
		if (strcmp(json_string_value(json_object_get(j, "msg")), "request") == 0) {
			requests++;
			assert_non_null(json_string_value(json_object_get(j, "correlation_id")));
			assert_non_null(json_object_get(j, "status"));
			assert_non_null(json_object_get(j, "route"));
		}
		json_decref(j);
	}
	assert_true(requests > 50);
	free(log);
	/* The api runs unprivileged. */
	if (geteuid() == 0) {
		char p[64], *st = NULL;
		snprintf(p, sizeof(p), "/proc/%d/status", (int)env.api);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		assert_int_equal(forge_read_fd(fd, p, &st, &len, 1 << 16, &err), 0);
		close(fd);
		assert_non_null(strstr(st, "Uid:\t65534\t65534\t65534\t65534"));
		assert_non_null(strstr(st, "NoNewPrivs:\t1"));
		free(st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health_readyz), cmocka_unit_test(test_auth_matrix),
	    cmocka_unit_test(test_flow),	  cmocka_unit_test(test_score_confinement),
	    cmocka_unit_test(test_plans),	  cmocka_unit_test(test_quota_race),
	    cmocka_unit_test(test_idempotency),	  cmocka_unit_test(test_rate_limit),
	    cmocka_unit_test(test_limits),	  cmocka_unit_test(test_forged_down_and_back),
	    cmocka_unit_test(test_status_cache),  cmocka_unit_test(test_forgectl),
	    cmocka_unit_test(test_leak_defense),  cmocka_unit_test(test_metrics_billing_logs),
	};

	signal(SIGPIPE, SIG_IGN);
	forge_log_init("test", FORGE_LOG_ERROR, 2);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
