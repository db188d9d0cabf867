/* SPDX-License-Identifier: Apache-2.0 */
/* forged's loop: the socket, peers, fds of running scenarios, exec workers, signals. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/forged.h"

enum watch_kind { W_LISTEN, W_SIGNAL, W_CLIENT, W_WORKER, W_EXIT, W_TIMER };

struct forged_watch {
	enum watch_kind kind;
	int fd;
	struct scenario *s;
	size_t i; /* container index */
	void *ptr;
};

static struct forged_watch *watch_add(struct forged *d, enum watch_kind kind, int fd,
				      struct scenario *s, size_t i, void *ptr)
{
	struct forged_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	*w = (struct forged_watch){.kind = kind, .fd = fd, .s = s, .i = i, .ptr = ptr};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(w);
		return NULL;
	}
	return w;
}

static void watch_del(struct forged *d, struct forged_watch **w)
{
	if (!*w)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, (*w)->fd, NULL);
	free(*w);
	*w = NULL;
}

/* ------------------------------------------------------------ scenarios */

int forged_watch_scenario(struct forged *d, struct scenario *s, struct forge_err *err)
{
	for (size_t i = 0; i < s->n_ctr; i++) {
		struct scenario_container *sc = &s->ctr[i];
		if (sc->c && !sc->w_exit &&
		    !(sc->w_exit = watch_add(d, W_EXIT, forge_container_pidfd(sc->c), s, i, NULL)))
			return forge_err_errno(err, errno, "epoll: container %s", sc->name);
	}
	if (s->timer_fd < 0 && s->state == SC_RUNNING) {
		s->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
		struct itimerspec its = {.it_value.tv_sec = s->expires_at};
		if (s->timer_fd < 0 ||
		    timerfd_settime(s->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0 ||
		    !(s->w_timer = watch_add(d, W_TIMER, s->timer_fd, s, 0, NULL)))
			return forge_err_errno(err, errno, "timer of scenario %s", s->id);
	}
	return 0;
}

void forged_unwatch_scenario(struct forged *d, struct scenario *s)
{
	for (size_t i = 0; i < s->n_ctr; i++)
		watch_del(d, &s->ctr[i].w_exit);
	watch_del(d, &s->w_timer);
}

static void container_exited(struct forged *d, struct scenario *s, size_t i)
{
	struct scenario_container *sc = &s->ctr[i];
	struct forge_err err = {0};
	watch_del(d, &sc->w_exit);
	if (sc->c && forge_container_wait(sc->c, 0, &sc->st, &err) == 0) {
		sc->exited = true;
		char code[16], sig[16];
		snprintf(code, sizeof(code), "%d", sc->st.code);
		snprintf(sig, sizeof(sig), "%d", sc->st.signal);
		forge_log(FORGE_LOG_INFO, "container exited", "scenario_id", s->id, "container",
			  sc->name, "code", code, "signal", sig, "why", sc->st.message, NULL);
	}
}

static void scenario_expired(struct forged *d, struct scenario *s)
{
	struct forge_err err = {0};
	watch_del(d, &s->w_timer);
	forge_log(FORGE_LOG_INFO, "scenario timed out", "scenario_id", s->id, NULL);
	if (forged_finish(d, s, SC_TIMEOUT, NULL, 0, &err) < 0)
		forge_log(FORGE_LOG_ERROR, "finishing a timed-out scenario failed", "scenario_id",
			  s->id, "error", err.msg, NULL);
}

/* ------------------------------------------------------------ clients */

struct client {
	int fd;
	struct forged_watch *w;
	uid_t uid;
	bool local; /* root: may spawn without a token, acts on any tenant */
	bool watching;
	uint64_t watch_id;
	struct client *next;
};

static void client_close(struct forged *d, struct client *c)
{
	for (struct worker *w = d->workers; w; w = w->next)
		if (w->client == c)
			w->client = NULL; /* its answer has no one to go to */
	struct client **pp = &d->clients;
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	watch_del(d, &c->w);
	close(c->fd);
	free(c);
}

int forged_reply(struct forged *d, struct client *c, json_t *msg)
{
	struct forge_err err = {0};
	int rc = -EPIPE;
	if (c && msg) {
		/* never block on a client: a full queue drops the client */
		rc = forge_proto_send(c->fd, msg, &err);
		if (rc < 0)
			forge_log(FORGE_LOG_WARN, "dropping a client that does not read", "error",
				  err.msg, NULL);
	}
	json_decref(msg);
	if (rc < 0 && c)
		client_close(d, c);
	return rc;
}

void forged_event(struct forged *d, const struct scenario *s, const char *from)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		if (!c->watching)
			continue;
		forged_reply(d, c,
			     forge_proto_event(c->watch_id,
					       json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type",
							 "transition", "scenario_id", s->id,
							 "tenant_id", s->tenant, "from", from, "to",
							 scenario_state_name(s->state), "ts", ts)));
	}
}

static bool peer_allowed(struct forged *d, const struct ucred *cr)
{
	if (cr->uid == 0)
		return true;
	if (d->cfg.api_uid != (uid_t)-1 && cr->uid == d->cfg.api_uid)
		return true;
	if (d->cfg.forge_gid != (gid_t)-1 && cr->gid == d->cfg.forge_gid)
		return true;
	return false;
}

static void accept_client(struct forged *d)
{
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || !peer_allowed(d, &cr)) {
		char uid[16];
		snprintf(uid, sizeof(uid), "%d", (int)cr.uid);
		forge_log(FORGE_LOG_WARN, "refused a peer", "uid", uid, NULL);
		close(fd);
		return;
	}
	/* A datagram may be up to FORGE_PROTO_MAX: the default send buffer of a
	 * unix socket (about 200 KiB) would refuse a large exec or inspect reply. */
	int sndbuf = 2 * FORGE_PROTO_MAX;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	struct client *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->uid = cr.uid;
	c->local = cr.uid == 0;
	if (!(c->w = watch_add(d, W_CLIENT, fd, NULL, 0, c))) {
		close(fd);
		free(c);
		return;
	}
	c->next = d->clients;
	d->clients = c;
}

static void client_readable(struct forged *d, struct client *c, char *buf)
{
	struct forge_err err = {0};
	ssize_t len = recv(c->fd, buf, FORGE_PROTO_MAX + 1, MSG_TRUNC | MSG_DONTWAIT);
	if (len < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (len <= 0) {
		client_close(d, c);
		return;
	}
	if (len > FORGE_PROTO_MAX) {
		forged_reply(d, c,
			     forge_proto_reply_error(0, FORGE_E_TOO_LARGE,
						     "message over the 1 MiB limit", NULL));
		return;
	}
	struct forge_proto_request req;
	if (forge_proto_parse_request(buf, (size_t)len, &req, &err) < 0) {
		forged_reply(d, c, forge_proto_reply_error(0, FORGE_E_BAD_REQUEST, err.msg, NULL));
		return;
	}
	forge_log_set_correlation_id(req.correlation_id[0] ? req.correlation_id : NULL);
	forged_dispatch(d, c, &req);
	forge_log_set_correlation_id(NULL);
	json_decref(req.args);
}

void forged_client_watch(struct client *c, uint64_t id)
{
	c->watching = true;
	c->watch_id = id;
}

bool forged_client_local(const struct client *c)
{
	return c->local;
}

/* ------------------------------------------------------------ workers */

int forged_worker_start(struct forged *d, struct client *c, uint64_t id,
			json_t *(*fn)(void *ctx), void *ctx,
			void (*done)(struct forged *d, void *ctx, json_t *res), void *done_ctx,
			struct forge_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return forge_err_errno(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return forge_err_errno(err, errno, "fork");
	}
	if (pid == 0) {
		close(p[0]);
		json_t *res = fn(ctx);
		char *text = res ? json_dumps(res, JSON_COMPACT) : NULL;
		size_t n = text ? strlen(text) : 0, off = 0;
		while (off < n) {
			ssize_t w = write(p[1], text + off, n - off);
			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(text ? 0 : 1);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	struct worker *w = calloc(1, sizeof(*w));
	if (!w || !(w->w = watch_add(d, W_WORKER, p[0], NULL, 0, w))) {
		free(w);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(p[0]);
		return forge_err_set(err, -ENOMEM, "worker: out of memory");
	}
	w->pid = pid;
	w->fd = p[0];
	w->client = c;
	w->id = id;
	w->done = done;
	w->done_ctx = done_ctx;
	w->next = d->workers;
	d->workers = w;
	return 0;
}

static void worker_readable(struct forged *d, struct worker *w)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n < 0)
			return; /* EAGAIN */
		if (n == 0)
			break;
		if (w->len + (size_t)n > FORGE_PROTO_MAX) {
			w->overflow = true;
			continue;
		}
		char *nb = realloc(w->buf, w->len + (size_t)n + 1);
		if (!nb) {
			w->overflow = true;
			continue;
		}
		w->buf = nb;
		memcpy(w->buf + w->len, buf, (size_t)n);
		w->len += (size_t)n;
	}
	/* EOF: the worker is done. */
	int status = 0;
	waitpid(w->pid, &status, 0);
	json_t *res = NULL;
	if (!w->overflow && w->buf) {
		w->buf[w->len] = '\0';
		res = json_loads(w->buf, 0, NULL);
	}
	if (w->done)
		w->done(d, w->done_ctx, res);
	if (w->client)
		forged_reply(d, w->client,
			     res && json_is_object(res) && json_object_get(res, "error_code")
				 ? forge_proto_reply_error(
				       w->id,
				       (enum forge_proto_code)json_integer_value(
					   json_object_get(res, "error_code")),
				       json_string_value(json_object_get(res, "error")), NULL)
			     : res ? forge_proto_reply_ok(w->id, json_incref(res))
				   : forge_proto_reply_error(w->id, FORGE_E_INTERNAL,
							     "the worker failed", NULL));
	json_decref(res);
	struct worker **pp = &d->workers;
	while (*pp && *pp != w)
		pp = &(*pp)->next;
	if (*pp)
		*pp = w->next;
	watch_del(d, &w->w);
	close(w->fd);
	free(w->buf);
	free(w);
}

/* ------------------------------------------------------------ the loop */

static int listen_socket(struct forged *d, struct forge_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", d->paths.run,
		     FORGE_PROTO_SOCKET) >= (int)sizeof(sa.sun_path))
		return forge_err_set(err, -ENAMETOOLONG, "socket path too long");
	/* A socket file nobody listens on is a leftover of a crash; one that
	 * answers is another forged of this root. */
	int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		return forge_err_set(err, -EADDRINUSE, "another forged serves %s", sa.sun_path);
	}
	if (probe >= 0)
		close(probe);
	unlink(sa.sun_path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return forge_err_errno(err, errno, "socket");
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		rc = forge_err_errno(err, errno, "listen on %s", sa.sun_path);
		close(fd);
		return rc;
	}
	/* 0660 root:forge; without a forge group, owned by forge-api's user */
	if ((d->cfg.forge_gid != (gid_t)-1 && chown(sa.sun_path, 0, d->cfg.forge_gid) < 0) ||
	    (d->cfg.forge_gid == (gid_t)-1 && d->cfg.api_uid != (uid_t)-1 &&
	     chown(sa.sun_path, d->cfg.api_uid, 0) < 0)) {
		rc = forge_err_errno(err, errno, "chown %s", sa.sun_path);
		close(fd);
		return rc;
	}
	d->listen_fd = fd;
	return 0;
}

int forged_run(struct forged *d, struct forge_err *err)
{
	sigset_t mask;
	int rc;
	char *buf = malloc(FORGE_PROTO_MAX + 1);

	if (!buf)
		return forge_err_set(err, -ENOMEM, "out of memory");
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->epfd < 0 || d->sigfd < 0) {
		free(buf);
		return forge_err_errno(err, errno, "epoll/signalfd");
	}
	if ((rc = listen_socket(d, err))) {
		free(buf);
		return rc;
	}
	struct forged_watch *wl = watch_add(d, W_LISTEN, d->listen_fd, NULL, 0, NULL);
	struct forged_watch *ws = watch_add(d, W_SIGNAL, d->sigfd, NULL, 0, NULL);
	for (struct scenario *s = d->scenarios; s; s = s->next)
		if (forged_watch_scenario(d, s, err) < 0)
			forge_log(FORGE_LOG_ERROR, "watching an adopted scenario failed",
				  "scenario_id", s->id, "error", err->msg, NULL);
	forge_log(FORGE_LOG_INFO, "forged serving", "socket", d->paths.run, NULL);
	while (!d->stopping) {
		struct epoll_event evs[32];
		int n = epoll_wait(d->epfd, evs, 32, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = forge_err_errno(err, errno, "epoll_wait");
			break;
		}
		for (int k = 0; k < n && !d->stopping; k++) {
			struct forged_watch *w = evs[k].data.ptr;
			switch (w->kind) {
			case W_LISTEN:
				accept_client(d);
				break;
			case W_SIGNAL: {
				struct signalfd_siginfo si;
				if (read(d->sigfd, &si, sizeof(si)) == sizeof(si) &&
				    si.ssi_signo != SIGHUP)
					d->stopping = true;
				break;
			}
			case W_CLIENT:
				client_readable(d, w->ptr, buf);
				break;
			case W_WORKER:
				worker_readable(d, w->ptr);
				break;
			case W_EXIT:
				container_exited(d, w->s, w->i);
				break;
			case W_TIMER:
				scenario_expired(d, w->s);
				break;
			}
			/* a handler may have freed watches of later events */
			if (w->kind == W_CLIENT || w->kind == W_WORKER || w->kind == W_TIMER ||
			    w->kind == W_EXIT)
				break;
		}
	}
	forge_log(FORGE_LOG_INFO, "forged stopping; scenarios keep running for the next start",
		  NULL);
	while (d->clients)
		client_close(d, d->clients);
	for (struct worker *w; (w = d->workers);) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
		d->workers = w->next;
		watch_del(d, &w->w);
		close(w->fd);
		free(w->buf);
		free(w);
	}
	for (struct scenario *s = d->scenarios; s; s = s->next)
		forged_unwatch_scenario(d, s);
	watch_del(d, &wl);
	watch_del(d, &ws);
	char path[FORGE_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", d->paths.run, FORGE_PROTO_SOCKET);
	unlink(path);
	close(d->listen_fd);
	close(d->sigfd);
	close(d->epfd);
	free(buf);
	return rc;
}
