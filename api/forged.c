/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forged client: a small pool of SOCK_SEQPACKET connections, bounded
 * waits, retries with jittered exponential backoff for idempotent ops only,
 * and a circuit breaker. After breaker_failures consecutive transport
 * failures the circuit opens and calls fail at once for breaker_cooldown_ms;
 * then one probe call goes through (half open), and its outcome closes or
 * reopens the circuit. An error reply is an answer, so it counts as success,
 * except "unavailable" (forged shutting down).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "api/internal.h"

#define POOL_MAX      64
#define RETRY_BASE_MS 50

struct api_forged {
	struct api_forged_cfg cfg;
	pthread_mutex_t lock;
	int idle[POOL_MAX];
	int n_idle;
	enum api_breaker_state state;
	int failures;
	int64_t open_until;
	bool probing;
};

const char *api_breaker_name(enum api_breaker_state s)
{
	return s == API_BREAKER_OPEN ? "open" : s == API_BREAKER_HALF_OPEN ? "half_open" : "closed";
}

int api_forged_new(const struct api_forged_cfg *cfg, struct api_forged **out)
{
	struct api_forged *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->cfg = *cfg;
	if (f->cfg.pool_max > POOL_MAX || f->cfg.pool_max < 0)
		f->cfg.pool_max = POOL_MAX;
	pthread_mutex_init(&f->lock, NULL);
	*out = f;
	return 0;
}

void api_forged_free(struct api_forged *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->n_idle; i++)
		close(f->idle[i]);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* An idle connection from the pool, or a new one (*pooled tells which). */
static int conn_get(struct api_forged *f, bool *pooled, struct forge_err *err)
{
	int fd = -1;

	pthread_mutex_lock(&f->lock);
	if (f->n_idle > 0)
		fd = f->idle[--f->n_idle];
	pthread_mutex_unlock(&f->lock);
	*pooled = fd >= 0;
	return fd >= 0 ? fd : forge_proto_connect(f->cfg.paths, err);
}

static void conn_put(struct api_forged *f, int fd)
{
	pthread_mutex_lock(&f->lock);
	if (f->n_idle < f->cfg.pool_max) {
		f->idle[f->n_idle++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&f->lock);
	if (fd >= 0)
		close(fd);
}

static bool breaker_allow(struct api_forged *f)
{
	int64_t now = api_monotonic_ms();
	bool ok = true;

	pthread_mutex_lock(&f->lock);
	if (f->state == API_BREAKER_OPEN && now >= f->open_until)
		f->state = API_BREAKER_HALF_OPEN;
	if (f->state == API_BREAKER_OPEN || (f->state == API_BREAKER_HALF_OPEN && f->probing))
		ok = false;
	else if (f->state == API_BREAKER_HALF_OPEN)
		f->probing = true;
	pthread_mutex_unlock(&f->lock);
	return ok;
}

static void breaker_record(struct api_forged *f, bool ok)
{
	pthread_mutex_lock(&f->lock);
	if (ok) {
		f->failures = 0;
		f->state = API_BREAKER_CLOSED;
	} else if (++f->failures >= f->cfg.breaker_failures || f->state == API_BREAKER_HALF_OPEN) {
		char n[16];
		snprintf(n, sizeof(n), "%d", f->failures);
		if (f->state != API_BREAKER_OPEN)
			forge_log(FORGE_LOG_WARN, "forged circuit opened", "failures", n, NULL);
		f->state = API_BREAKER_OPEN;
		f->open_until = api_monotonic_ms() + f->cfg.breaker_cooldown_ms;
	}
	f->probing = false;
	pthread_mutex_unlock(&f->lock);
}

enum api_breaker_state api_forged_breaker(struct api_forged *f)
{
	pthread_mutex_lock(&f->lock);
	enum api_breaker_state s = f->state;
	pthread_mutex_unlock(&f->lock);
	return s;
}

/* RETRY_BASE_MS * 2^attempt, times a random factor in [0.5, 1.5). */
static void backoff(int attempt)
{
	int64_t ms = (int64_t)RETRY_BASE_MS << attempt;
	ms = ms / 2 + (int64_t)randombytes_uniform((uint32_t)ms);
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int api_forged_call(struct api_forged *f, const char *op, const char *cid, json_t *args,
		    int timeout_ms, bool idempotent, struct forge_proto_reply *rep,
		    struct forge_err *err)
{
	int attempts = idempotent ? 1 + f->cfg.retries : 1, rc = -EAGAIN;

	memset(rep, 0, sizeof(*rep));
	for (int a = 0; a < attempts; a++) {
		if (a > 0)
			backoff(a - 1);
		if (!breaker_allow(f)) {
			rc = forge_err_set(err, -EAGAIN,
					   "forged is unavailable (circuit open after repeated "
					   "failures)");
			break;
		}
		bool pooled;
		int fd = conn_get(f, &pooled, err);
		rc = fd < 0
			 ? fd
			 : forge_proto_call(fd, op, cid, json_incref(args), timeout_ms, rep, err);
		if (rc == -EPIPE && pooled) {
			/* forged closed this idle connection (it restarted): the request
			 * was never delivered, so a fresh connection is safe for any op. */
			close(fd);
			fd = forge_proto_connect(f->cfg.paths, err);
			rc = fd < 0 ? fd
				    : forge_proto_call(fd, op, cid, json_incref(args), timeout_ms,
						       rep, err);
		}
		if (rc == 0) {
			breaker_record(f, rep->ok || rep->code != FORGE_E_UNAVAILABLE);
			conn_put(f, fd);
			break;
		}
		if (fd >= 0)
			close(fd);
		breaker_record(f, false);
	}
	json_decref(args);
	return rc;
}
