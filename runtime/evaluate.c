/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Success criteria, evaluated by forged's own code from outside the
 * containers (DESIGN §5, Scoring). Runs in a forked worker: nothing here
 * can stall the loop, and every item is bounded in time and output.
 *
 * What the learner cannot forge: state evidence is read over netlink in the
 * container's network namespace; network probes connect from a process of
 * ours that joined only that namespace; files are read through the
 * container's mount namespace without following a symlink out of it;
 * commands run only binaries whose bytes equal the image's, with a fixed
 * environment (never the learner's PATH or a writable directory).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "images/images.h"
#include "netns/netns.h"
#include "policy/policy.h"
#include "runtime/forged.h"
#include "scoring/scoring.h"
#include "templates/template.h"

static const char *const fixed_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/",
					"LANG=C", NULL};

/* Everything collected, owned here until forge_results_write copies it. */
struct collected {
	struct forge_artifact *art;
	size_t n_art, cap;
	char **names; /* per artifact, owned */
	void **data;
};

static const char *add_artifact(struct collected *c, const char *name, const void *data,
				size_t len)
{
	if (c->n_art == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct forge_artifact *a = realloc(c->art, cap * sizeof(*a));
		char **n = realloc(c->names, cap * sizeof(*n));
		void **d = realloc(c->data, cap * sizeof(*d));
		if (a)
			c->art = a;
		if (n)
			c->names = n;
		if (d)
			c->data = d;
		if (!a || !n || !d)
			return NULL;
		c->cap = cap;
	}
	char *nm = strdup(name);
	void *copy = malloc(len ? len : 1);
	if (!nm || !copy) {
		free(nm);
		free(copy);
		return NULL;
	}
	memcpy(copy, data, len);
	c->names[c->n_art] = nm;
	c->data[c->n_art] = copy;
	c->art[c->n_art] = (struct forge_artifact){.name = nm, .data = copy, .len = len};
	c->n_art++;
	return nm;
}

static const char *add_json_artifact(struct collected *c, const char *name, json_t *j)
{
	char *text = forge_json_canonical(j, NULL);
	json_decref(j);
	const char *r = text ? add_artifact(c, name, text, strlen(text)) : NULL;
	free(text);
	return r;
}

/* "<base>/<leaf>"; a name that does not fit is left empty, and the bundle
 * refuses an empty name. */
static void art_name(char *out, size_t size, const char *base, const char *leaf)
{
	if (snprintf(out, size, "%s/%s", base, leaf) >= (int)size)
		out[0] = '\0';
}

static void say(char *why, size_t size, const char *fmt, ...) FORGE_PRINTF(3, 4);
static void say(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
}

static bool text_ok(const struct forge_tpl_text_expect *e, const char *s, size_t len,
		    const char *stream, char *why, size_t whysz)
{
	if (e->equals && (strlen(e->equals) != len || memcmp(e->equals, s, len) != 0)) {
		snprintf(why, whysz, "%s does not equal the expected text", stream);
		return false;
	}
	if (e->contains && !memmem(s, len, e->contains, strlen(e->contains))) {
		snprintf(why, whysz, "%s does not contain \"%.80s\"", stream, e->contains);
		return false;
	}
	if (e->matches) {
		regex_t re;
		bool ok = regcomp(&re, e->matches, REG_EXTENDED | REG_NOSUB) == 0;
		char *z = ok ? strndup(s, len) : NULL;
		ok = z && regexec(&re, z, 0, NULL, 0) == 0;
		free(z);
		regfree(&re);
		if (!ok) {
			snprintf(why, whysz, "%s does not match /%.80s/", stream, e->matches);
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------ in a namespace */

/* Runs fn in a child that joined only the namespace ns_type of pid; its
 * answer (at most len bytes) comes back through a pipe, and the child is
 * killed at the deadline. Returns the bytes read or -errno. */
static ssize_t in_namespace(pid_t pid, const char *ns, int ns_type, unsigned timeout_s,
			    ssize_t (*fn)(void *ctx, char *out, size_t len), void *ctx, char *out,
			    size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return -errno;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(nsfd);
		return -errno;
	}
	pid_t child = fork();
	if (child == 0) {
		close(p[0]);
		if (setns(nsfd, ns_type) < 0)
			_exit(2);
		ssize_t n = fn(ctx, out, len);
		if (n > 0 && write(p[1], out, (size_t)n) != n)
			_exit(3);
		_exit(n >= 0 ? 0 : 1);
	}
	close(nsfd);
	close(p[1]);
	if (child < 0) {
		close(p[0]);
		return -EAGAIN;
	}
	size_t got = 0;
	struct pollfd pf = {.fd = p[0], .events = POLLIN};
	time_t deadline = time(NULL) + timeout_s + 1;
	while (got < len && poll(&pf, 1, 250) >= 0) {
		if (pf.revents) {
			ssize_t n = read(p[0], out + got, len - got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (time(NULL) > deadline) {
			kill(child, SIGKILL);
			break;
		}
	}
	close(p[0]);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return (ssize_t)got;
}

struct file_probe {
	const char *path;
	size_t max;
};

/* Answer: a JSON header line, then up to max bytes of content. */
static ssize_t read_file_probe(void *ctx, char *out, size_t len)
{
	struct file_probe *f = ctx;
	/* after setns(CLONE_NEWNS) "/" is the container's root */
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = root < 0 ? -1 : (int)syscall(SYS_openat2, root, f->path, &how, sizeof(how));
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return snprintf(out, len, "{\"exists\":%s}\n", fd < 0 ? "false" : "true");
	int h = snprintf(out, len, "{\"exists\":true,\"mode\":%u,\"size\":%lld}\n",
			 (unsigned)(st.st_mode & 07777), (long long)st.st_size);
	size_t off = (size_t)h, max = f->max + (size_t)h < len ? f->max + (size_t)h : len;
	ssize_t n;
	while (off < max && (n = read(fd, out + off, max - off)) > 0)
		off += (size_t)n;
	return (ssize_t)off;
}

struct net_probe {
	struct in_addr ip;
	uint16_t port;
	unsigned timeout_s;
};

static ssize_t connect_probe(void *ctx, char *out, size_t len)
{
	struct net_probe *np = ctx;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(np->port),
				 .sin_addr = np->ip};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int e = 0;
	if (s < 0)
		e = errno;
	else if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		if (e == EINPROGRESS) {
			struct pollfd pf = {.fd = s, .events = POLLOUT};
			int r = poll(&pf, 1, (int)np->timeout_s * 1000);
			socklen_t el = sizeof(e);
			if (r == 0)
				e = ETIMEDOUT;
			else if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
				e = errno;
		}
	}
	if (s >= 0)
		close(s);
	return snprintf(out, len, "{\"open\":%s,\"error\":\"%s\"}", e ? "false" : "true",
			e ? strerror(e) : "");
}

/* ------------------------------------------------------------ items */

struct eval_ctx {
	struct forged *d;
	struct scenario *s;
	const struct forge_template *t;
	struct collected col;
};

static struct scenario_container *find_ctr(struct scenario *s, const char *name)
{
	for (size_t i = 0; i < s->n_ctr; i++)
		if (strcmp(s->ctr[i].name, name) == 0)
			return &s->ctr[i];
	return NULL;
}

static ssize_t hash_probe(void *ctx, char *out, size_t len)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd = root < 0 ? -1 : (int)syscall(SYS_openat2, root, (const char *)ctx, &how, sizeof(how));
	char hex[65];
	if (fd < 0 || len < 64 || forge_sha256_fd_hex(fd, hex, NULL) < 0)
		return -1;
	memcpy(out, hex, 64);
	return 64;
}

/* The binary must be the image's own: the same bytes in the container as in
 * the image's layers (the first layer that has it, top-most first). */
static bool binary_is_image_s(struct eval_ctx *e, struct scenario_container *sc,
			      const char *path, char *why, size_t whysz)
{
	struct forge_image *img = NULL;
	char ref[600], want[65] = "", got[65] = "";
	const char *colon = strrchr(sc->image_ref, ':'), *at = strchr(sc->image_ref, '@');
	size_t name_len = at ? (size_t)(at - sc->image_ref)
		     : colon ? (size_t)(colon - sc->image_ref)
			     : strlen(sc->image_ref);
	snprintf(ref, sizeof(ref), "%.*s@%s", (int)name_len, sc->image_ref, sc->image_digest);
	if (forge_image_resolve(&e->d->paths, ref, &img, NULL) == 0) {
		for (size_t i = 0; i < img->n_layers && !want[0]; i++) {
			int dir = open(img->lowerdirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
			int fd = dir < 0 ? -1 : forge_open_in_root(dir, path, O_RDONLY, 0, 0, NULL);
			if (fd >= 0 && forge_sha256_fd_hex(fd, want, NULL) < 0)
				want[0] = '\0';
			if (fd >= 0)
				close(fd);
			if (dir >= 0)
				close(dir);
		}
		forge_image_free(img);
	}
	if (!want[0]) {
		snprintf(why, whysz, "%s is not a file of image %s", path, sc->image_ref);
		return false;
	}
	ssize_t n = in_namespace(forge_container_pid(sc->c), "mnt", CLONE_NEWNS, 10, hash_probe,
				 (void *)path, got, 64);
	got[n == 64 ? 64 : 0] = '\0';
	if (strcmp(want, got) != 0) {
		say(why, whysz, "%s in the container is not the image's binary", path);
		return false;
	}
	return true;
}

static bool eval_command(struct eval_ctx *e, const struct forge_tpl_evidence *ev,
			 struct scenario_container *sc, const char *base, char *why, size_t whysz)
{
	const struct forge_tpl_command *cmd = &ev->u.command;
	char name[FORGE_ARTIFACT_NAME_MAX + 1];
	if (!binary_is_image_s(e, sc, cmd->argv[0], why, whysz))
		return false;
	struct forge_exec_spec spec = {.argv = cmd->argv,
				       .envp = fixed_env,
				       .cwd = "/",
				       .timeout_ms = (int)ev->timeout_seconds * 1000,
				       .output_limit = ev->max_output_bytes,
				       .stdin_fd = -1};
	struct forge_exec_result res = {0};
	struct forge_err err = {0};
	if (forge_container_exec(sc->c, &spec, &res, &err) < 0) {
		say(why, whysz, "exec failed: %s", err.msg);
		return false;
	}
	int code = res.exited ? res.code : 128 + res.signal;
	char codes[16];
	snprintf(codes, sizeof(codes), "%d\n", code);
	art_name(name, sizeof(name), base, "stdout");
	add_artifact(&e->col, name, res.out, res.out_len);
	art_name(name, sizeof(name), base, "stderr");
	add_artifact(&e->col, name, res.err, res.err_len);
	art_name(name, sizeof(name), base, "exit_code");
	add_artifact(&e->col, name, codes, strlen(codes));
	bool ok = true;
	if (res.timed_out) {
		snprintf(why, whysz, "timed out after %u s", ev->timeout_seconds);
		ok = false;
	} else if (cmd->has_exit_code && code != cmd->exit_code) {
		snprintf(why, whysz, "exit code %d, expected %d", code, cmd->exit_code);
		ok = false;
	} else {
		ok = text_ok(&cmd->out, res.out, res.out_len, "stdout", why, whysz) &&
		     text_ok(&cmd->err, res.err, res.err_len, "stderr", why, whysz);
	}
	forge_exec_result_free(&res);
	return ok;
}

static bool eval_file(struct eval_ctx *e, const struct forge_tpl_evidence *ev,
		      struct scenario_container *sc, const char *base, char *why, size_t whysz)
{
	const struct forge_tpl_file *f = &ev->u.file;
	struct file_probe fp = {.path = f->path, .max = ev->max_output_bytes};
	size_t cap = ev->max_output_bytes + 256;
	char *buf = malloc(cap), name[FORGE_ARTIFACT_NAME_MAX + 1];
	if (!buf) {
		snprintf(why, whysz, "out of memory");
		return false;
	}
	ssize_t n = in_namespace(forge_container_pid(sc->c), "mnt", CLONE_NEWNS,
				 ev->timeout_seconds, read_file_probe, &fp, buf, cap);
	char *nl = n > 0 ? memchr(buf, '\n', (size_t)n) : NULL;
	json_t *hdr = nl ? json_loadb(buf, (size_t)(nl - buf), 0, NULL) : NULL;
	bool ok = hdr != NULL;
	if (!ok) {
		snprintf(why, whysz, "%s could not be read", f->path);
	} else {
		bool exists = json_is_true(json_object_get(hdr, "exists"));
		const char *content = nl + 1;
		size_t clen = (size_t)(buf + n - content);
		char sha[65];
		forge_sha256_hex(content, clen, sha);
		if (exists)
			json_object_set_new(hdr, "sha256", json_string(sha));
		json_object_set_new(hdr, "path", json_string(f->path));
		art_name(name, sizeof(name), base, "file.json");
		add_json_artifact(&e->col, name, json_incref(hdr));
		if (exists) {
			art_name(name, sizeof(name), base, "content");
			add_artifact(&e->col, name, content, clen);
		}
		unsigned mode = (unsigned)json_integer_value(json_object_get(hdr, "mode"));
		bool want_exists = f->has_exists ? f->exists : true;
		if (exists != want_exists) {
			snprintf(why, whysz, "%s %s", f->path, exists ? "exists" : "does not exist");
			ok = false;
		} else if (exists && f->has_mode && mode != (unsigned)f->mode) {
			snprintf(why, whysz, "%s has mode %04o, expected %04o", f->path, mode,
				 (unsigned)f->mode);
			ok = false;
		} else if (exists && f->contains && !memmem(content, clen, f->contains,
							     strlen(f->contains))) {
			snprintf(why, whysz, "%s does not contain \"%.80s\"", f->path, f->contains);
			ok = false;
		} else if (exists && f->sha256 && strcmp(f->sha256, sha) != 0) {
			snprintf(why, whysz, "%s has another sha256", f->path);
			ok = false;
		}
	}
	json_decref(hdr);
	free(buf);
	return ok;
}

static bool eval_network(struct eval_ctx *e, const struct forge_tpl_evidence *ev,
			 struct scenario_container *sc, const char *base, char *why, size_t whysz)
{
	const struct forge_tpl_probe *p = &ev->u.network;
	struct net_probe np = {.ip = p->ip, .port = p->port, .timeout_s = ev->timeout_seconds};
	char buf[256], ip[INET_ADDRSTRLEN], name[FORGE_ARTIFACT_NAME_MAX + 1];
	inet_ntop(AF_INET, &p->ip, ip, sizeof(ip));
	ssize_t n = in_namespace(forge_container_pid(sc->c), "net", CLONE_NEWNET,
				 ev->timeout_seconds, connect_probe, &np, buf, sizeof(buf) - 1);
	json_t *r = n > 0 ? json_loadb(buf, (size_t)n, 0, NULL) : NULL;
	bool open_ = json_is_true(json_object_get(r, "open"));
	json_t *art = json_pack("{s:s, s:s, s:i, s:s, s:b, s:s, s:s}", "from", sc->name, "ip", ip,
				"port", (int)p->port, "proto", "tcp", "open", open_, "error",
				r ? json_string_value(json_object_get(r, "error")) : "probe failed",
				"collected_by", "forged connect() in the container's netns");
	json_decref(r);
	art_name(name, sizeof(name), base, "probe.json");
	add_json_artifact(&e->col, name, art);
	if (open_ != p->expect_open) {
		snprintf(why, whysz, "%s:%u is %s from %s, expected %s", ip, p->port,
			 open_ ? "open" : "closed", sc->name, p->expect_open ? "open" : "closed");
		return false;
	}
	return true;
}

static bool has_route(json_t *routes, const struct forge_tpl_state *st)
{
	char dst[INET_ADDRSTRLEN], via[INET_ADDRSTRLEN] = "";
	inet_ntop(AF_INET, &st->route.dst, dst, sizeof(dst));
	if (st->route.has_via)
		inet_ntop(AF_INET, &st->route.via, via, sizeof(via));
	size_t i;
	json_t *r;
	json_array_foreach(routes, i, r)
	{
		const char *d = json_string_value(json_object_get(r, "dst"));
		int len = (int)json_integer_value(json_object_get(r, "dst_len"));
		const char *v = json_string_value(json_object_get(r, "via"));
		const char *dev = json_string_value(json_object_get(r, "dev"));
		if (d && strcmp(d, dst) == 0 && len == st->route.dst_len &&
		    (!st->route.has_via || (v && strcmp(v, via) == 0)) &&
		    (!st->route.dev || (dev && strcmp(dev, st->route.dev) == 0)))
			return true;
	}
	return false;
}

static bool eval_state(struct eval_ctx *e, const struct forge_tpl_evidence *ev,
		       struct scenario_container *sc, const char *base, char *why, size_t whysz)
{
	const struct forge_tpl_state *st = &ev->u.state;
	char name[FORGE_ARTIFACT_NAME_MAX + 1];
	json_t *snap = NULL;
	bool running = sc->c && !sc->exited, ok = false;

	if (st->kind == FORGE_STATE_RUNNING || st->kind == FORGE_STATE_EXITED) {
		snap = json_pack("{s:s, s:b, s:b, s:i, s:s}", "container", sc->name, "running",
				 running, "exited", sc->exited, "exit_code", sc->st.code,
				 "collected_by", "forged's own process records");
		ok = st->kind == FORGE_STATE_RUNNING
			 ? running == st->running
			 : sc->exited && sc->st.exited && sc->st.code == st->exit_code;
		if (!ok)
			snprintf(why, whysz, "%s is %s", sc->name,
				 running ? "running" : sc->exited ? "exited" : "not started");
	} else if (running) {
		char path[64];
		struct forge_err err = {0};
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)forge_container_pid(sc->c));
		int ns = open(path, O_RDONLY | O_CLOEXEC);
		if (ns < 0 || forge_net_inspect(ns, &snap, &err) < 0) {
			say(why, whysz, "reading %s's network state failed: %s", sc->name,
				 ns < 0 ? strerror(errno) : err.msg);
		} else if (st->kind == FORGE_STATE_ROUTE) {
			ok = has_route(json_object_get(snap, "routes"), st);
			if (!ok)
				snprintf(why, whysz, "%s has no such route", sc->name);
		} else if (st->kind == FORGE_STATE_INTERFACE_UP) {
			size_t i;
			json_t *l;
			json_array_foreach(json_object_get(snap, "links"), i, l) if (
			    strcmp(json_string_value(json_object_get(l, "name")), st->interface) == 0)
			    ok = json_is_true(json_object_get(l, "up"));
			if (!ok)
				snprintf(why, whysz, "%s: %s is not up", sc->name, st->interface);
		} else {
			char want[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &st->address.addr, want, sizeof(want));
			size_t i;
			json_t *a;
			json_array_foreach(json_object_get(snap, "addresses"), i, a) if (
			    strcmp(json_string_value(json_object_get(a, "address")), want) == 0 &&
			    json_integer_value(json_object_get(a, "prefix_len")) == st->address.prefix_len)
			    ok = true;
			if (!ok)
				snprintf(why, whysz, "%s has no address %s/%u", sc->name, want,
					 st->address.prefix_len);
		}
		if (ns >= 0)
			close(ns);
		if (snap)
			json_object_set_new(snap, "collected_by", json_string("forged over netlink"));
	} else {
		snprintf(why, whysz, "%s is not running", sc->name);
	}
	if (snap) {
		art_name(name, sizeof(name), base, "state.json");
		add_json_artifact(&e->col, name, snap);
	}
	return ok;
}

/* ------------------------------------------------------------ the run */

static json_t *evaluate(struct eval_ctx *e)
{
	const struct forge_template *t = e->t;
	struct forge_criterion_result *res = calloc(t->n_criteria, sizeof(*res));
	char **msgs = calloc(t->n_criteria, sizeof(*msgs));
	const char ***refs = calloc(t->n_criteria, sizeof(*refs));
	struct forge_err err = {0};
	json_t *out = NULL;

	if (!res || !msgs || !refs)
		goto oom;
	for (size_t ci = 0; ci < t->n_criteria; ci++) {
		const struct forge_tpl_criterion *cr = &t->criteria[ci];
		bool passed = true;
		char why[512] = "";
		refs[ci] = calloc(cr->n_evidence * 4 + 1, sizeof(char *));
		size_t nref = 0;
		for (size_t k = 0; k < cr->n_evidence; k++) {
			const struct forge_tpl_evidence *ev = &cr->evidence[k];
			struct scenario_container *sc = find_ctr(e->s, ev->container);
			char base[FORGE_ARTIFACT_NAME_MAX + 1], w[512] = "";
			size_t before = e->col.n_art;
			snprintf(base, sizeof(base), "criteria/%s/%zu", cr->id, k);
			bool ok;
			if (!sc || (!sc->c && ev->type != FORGE_EVIDENCE_STATE)) {
				snprintf(w, sizeof(w), "container %s is not running", ev->container);
				ok = false;
			} else if (ev->type == FORGE_EVIDENCE_COMMAND) {
				ok = eval_command(e, ev, sc, base, w, sizeof(w));
			} else if (ev->type == FORGE_EVIDENCE_FILE) {
				ok = eval_file(e, ev, sc, base, w, sizeof(w));
			} else if (ev->type == FORGE_EVIDENCE_NETWORK) {
				ok = eval_network(e, ev, sc, base, w, sizeof(w));
			} else {
				ok = eval_state(e, ev, sc, base, w, sizeof(w));
			}
			for (size_t a = before; a < e->col.n_art && refs[ci]; a++)
				if (nref < cr->n_evidence * 4)
					refs[ci][nref++] = e->col.names[a];
			if (!ok && passed) {
				passed = false;
				snprintf(why, sizeof(why), "%s", w);
			}
		}
		msgs[ci] = strdup(passed ? "passed" : why);
		res[ci] = (struct forge_criterion_result){.id = cr->id,
							  .passed = passed,
							  .weight = cr->weight,
							  .evidence = refs[ci],
							  .n_evidence = nref,
							  .message = msgs[ci]};
	}
	struct forge_image_digest *imgs = calloc(e->s->n_ctr, sizeof(*imgs));
	if (!imgs)
		goto oom;
	for (size_t i = 0; i < e->s->n_ctr; i++)
		imgs[i] = (struct forge_image_digest){.name = e->s->ctr[i].name,
						      .digest = e->s->ctr[i].image_digest};
	char run_id[33];
	forge_random_hex(run_id, 32);
	struct forge_run_facts facts = {
	    .tenant = e->s->tenant,
	    .scenario_id = e->s->id,
	    .run_id = run_id,
	    .template_name = e->s->tpl_name,
	    .template_version = e->s->tpl_version,
	    .template_hash = e->s->tpl_hash,
	    .images = imgs,
	    .n_images = e->s->n_ctr,
	    .seccomp_profile_hash = forge_runtime_seccomp_sha256(e->d->rt),
	    .policy_bundle_hash = forge_policy_bundle(e->d->policy),
	    .retention_days = (unsigned)e->s->retention_days,
	    .timestamp = (int64_t)time(NULL),
	};
	struct forge_score_input in = {.facts = &facts,
				       .criteria = res,
				       .n_criteria = t->n_criteria,
				       .artifacts = e->col.art,
				       .n_artifacts = e->col.n_art};
	struct forge_results_out ro;
	struct forge_audit *audit = NULL;
	if (forge_audit_open(&e->d->paths, &audit, &err) < 0 ||
	    forge_results_write(&e->d->paths, &in, NULL, audit, &ro, &err) < 0) {
		out = json_pack("{s:i, s:s}", "error_code", FORGE_E_INTERNAL, "error", err.msg);
	} else {
		out = json_pack("{s:s, s:s, s:s, s:{s:s, s:I, s:I, s:i, s:i}}", "results_dir",
				ro.dir, "manifest_sha256", ro.manifest_sha256, "key_id", ro.key_id,
				"score", "value", ro.score.value, "num", (json_int_t)ro.score.num,
				"den", (json_int_t)ro.score.den, "passed", (int)ro.score.passed,
				"total", (int)ro.score.total);
	}
	forge_audit_close(audit);
	free(imgs);
	goto done;
oom:
	out = json_pack("{s:i, s:s}", "error_code", FORGE_E_INTERNAL, "error", "out of memory");
done:
	/* the worker exits right after: its memory goes with it */
	return out;
}

struct eval_job {
	struct forged *d;
	struct scenario *s;
	struct forge_template *t;
};

static json_t *evaluate_in_worker(void *ctx)
{
	struct eval_job *job = ctx;
	struct eval_ctx e = {.d = job->d, .s = job->s, .t = job->t};
	return evaluate(&e);
}

int forged_evaluate_start(struct forged *d, struct scenario *s, struct client *c, uint64_t id,
			  void (*done)(struct forged *, void *, json_t *), struct forge_err *err)
{
	struct forge_template *t = NULL;
	enum forge_proto_code code;
	int rc = forged_template(d, s->tpl_name, &t, &code, err);
	if (rc)
		return rc;
	if (strcmp(t->sha256, s->tpl_hash) != 0)
		return forge_err_set(err, -ESTALE,
				     "template %s changed since scenario %s was spawned (hash %.12s, "
				     "scenario ran %.12s)",
				     s->tpl_name, s->id, t->sha256, s->tpl_hash);
	struct eval_job job = {.d = d, .s = s, .t = t};
	return forged_worker_start(d, c, id, evaluate_in_worker, &job, done, s, err);
}
