/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition (version 0.0.4) of forge-api's counters and
 * histograms. Label values come from closed sets (route patterns, methods,
 * status codes, known tracks, gates, classes, ops), so the series stay few;
 * a fixed table still bounds them, and what does not fit is counted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

#define MX_SERIES  1024
#define MX_INDEX   2048 /* open addressing, a power of two above MX_SERIES */
#define MX_BUCKETS 16
#define MX_LABELS  192

enum mx_family {
	MX_HTTP_REQ = 0,
	MX_HTTP_DUR,
	MX_SPAWN_REQ,
	MX_SPAWN_DUR,
	MX_POLICY,
	MX_RATELIMIT,
	MX_FORGED,
	MX_NFAMILIES,
};

static const double http_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				      0.1,    0.25,  0.5,    1,	    2.5,  5,	 10};
static const double spawn_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

static const struct {
	const char *name, *help;
	const double *buckets; /* NULL: a counter */
	int n_buckets;
} families[MX_NFAMILIES] = {
    [MX_HTTP_REQ] = {"forge_api_http_requests_total", "HTTP requests by route, method and status"},
    [MX_HTTP_DUR] = {"forge_api_http_request_duration_seconds", "HTTP request latency by route",
		     http_buckets, sizeof(http_buckets) / sizeof(http_buckets[0])},
    [MX_SPAWN_REQ] = {"forge_api_spawn_requests_total", "Spawn requests by track and status"},
    [MX_SPAWN_DUR] = {"forge_api_spawn_duration_seconds", "Spawn latency by track", spawn_buckets,
		      sizeof(spawn_buckets) / sizeof(spawn_buckets[0])},
    [MX_POLICY] = {"forge_api_policy_decisions_total", "Policy decisions by gate and result"},
    [MX_RATELIMIT] = {"forge_api_rate_limited_total", "Requests refused by a rate limit, by class"},
    [MX_FORGED] = {"forge_api_forged_calls_total", "Calls to forged by op and result"},
};

struct mx_series {
	int family;
	char labels[MX_LABELS];
	uint64_t count;
	double sum;
	uint64_t buckets[MX_BUCKETS];
};

struct api_metrics {
	pthread_mutex_t lock;
	struct mx_series series[MX_SERIES];
	size_t n;
	int index[MX_INDEX]; /* 1 + position in series, 0 free */
	uint64_t dropped;
};

int api_metrics_new(struct api_metrics **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	pthread_mutex_init(&(*out)->lock, NULL);
	return 0;
}

void api_metrics_free(struct api_metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Label values are from closed sets, but quote them properly all the same. */
static void label(char *out, size_t outsz, size_t *used, const char *name, const char *value)
{
	size_t n = *used;

	n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%s=\"", n ? "," : "", name);
	for (; *value && n + 3 < outsz; value++) {
		if (*value == '"' || *value == '\\' || *value == '\n')
			out[n++] = '\\';
		out[n++] = *value == '\n' ? 'n' : *value;
	}
	if (n + 2 < outsz) {
		out[n++] = '"';
		out[n] = '\0';
	}
	*used = n;
}

static void observe(struct api_metrics *m, int family, const char *labels, double value)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)family;
	struct mx_series *s = NULL;

	for (const char *p = labels; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < MX_INDEX; i++) {
		int *slot = &m->index[(h + i) & (MX_INDEX - 1)];
		if (*slot && m->series[*slot - 1].family == family &&
		    strcmp(m->series[*slot - 1].labels, labels) == 0) {
			s = &m->series[*slot - 1];
			break;
		}
		if (!*slot) {
			if (m->n == MX_SERIES)
				break;
			s = &m->series[m->n++];
			*slot = (int)m->n;
			s->family = family;
			snprintf(s->labels, sizeof(s->labels), "%s", labels);
			break;
		}
	}
	if (!s) {
		m->dropped++;
	} else {
		s->count++;
		s->sum += value;
		for (int b = 0; b < families[family].n_buckets; b++)
			if (value <= families[family].buckets[b])
				s->buckets[b]++;
	}
	pthread_mutex_unlock(&m->lock);
}

/* A counter labelled {k1, k2, k3} and a histogram of the same event labelled {k1}. */
static void count_and_time(struct api_metrics *m, int counter, int histogram, const char *k1,
			   const char *v1, const char *k2, const char *v2, const char *k3,
			   const char *v3, double seconds)
{
	char l[MX_LABELS];
	size_t n = 0;

	label(l, sizeof(l), &n, k1, v1);
	size_t first = n;
	label(l, sizeof(l), &n, k2, v2);
	if (k3)
		label(l, sizeof(l), &n, k3, v3);
	observe(m, counter, l, 0);
	l[first] = '\0';
	observe(m, histogram, l, seconds);
}

void api_metrics_http(struct api_metrics *m, const char *route, const char *method, int code,
		      double seconds)
{
	char c[12];

	snprintf(c, sizeof(c), "%d", code);
	count_and_time(m, MX_HTTP_REQ, MX_HTTP_DUR, "route", route, "method", method, "code", c,
		       seconds);
}

void api_metrics_spawn(struct api_metrics *m, const char *track, int code, double seconds)
{
	char c[12];

	snprintf(c, sizeof(c), "%d", code);
	count_and_time(m, MX_SPAWN_REQ, MX_SPAWN_DUR, "track", track, "status", c, NULL, NULL,
		       seconds);
}

static void count2(struct api_metrics *m, int family, const char *k1, const char *v1,
		   const char *k2, const char *v2)
{
	char l[MX_LABELS];
	size_t n = 0;

	label(l, sizeof(l), &n, k1, v1);
	if (k2)
		label(l, sizeof(l), &n, k2, v2);
	observe(m, family, l, 0);
}

void api_metrics_policy(struct api_metrics *m, const char *gate, bool allow)
{
	count2(m, MX_POLICY, "gate", gate, "result", allow ? "allow" : "deny");
}

void api_metrics_ratelimited(struct api_metrics *m, const char *cls)
{
	count2(m, MX_RATELIMIT, "class", cls, NULL, NULL);
}

void api_metrics_forged(struct api_metrics *m, const char *op, const char *result)
{
	count2(m, MX_FORGED, "op", op, "result", result);
}

static void render_series(FILE *f, int family, const struct mx_series *s)
{
	const char *name = families[family].name, *sep = s->labels[0] ? "," : "";

	if (!families[family].buckets) {
		fprintf(f, "%s{%s} %llu\n", name, s->labels, (unsigned long long)s->count);
		return;
	}
	for (int b = 0; b < families[family].n_buckets; b++)
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, s->labels, sep,
			families[family].buckets[b], (unsigned long long)s->buckets[b]);
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, s->labels, sep,
		(unsigned long long)s->count);
	fprintf(f, "%s_sum{%s} %.6f\n", name, s->labels, s->sum);
	fprintf(f, "%s_count{%s} %llu\n", name, s->labels, (unsigned long long)s->count);
}

char *api_metrics_render(struct api_metrics *m, const json_t *live_by_track,
			 enum api_breaker_state breaker)
{
	char *text = NULL, l[MX_LABELS];
	size_t len = 0;
	const char *track;
	json_t *v;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	pthread_mutex_lock(&m->lock);
	for (int fam = 0; fam < MX_NFAMILIES; fam++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", families[fam].name, families[fam].help,
			families[fam].name, families[fam].buckets ? "histogram" : "counter");
		for (size_t i = 0; i < m->n; i++)
			if (m->series[i].family == fam)
				render_series(f, fam, &m->series[i]);
	}
	fprintf(f,
		"# HELP forge_api_metrics_dropped_total Observations without room for their "
		"series\n# TYPE forge_api_metrics_dropped_total counter\n"
		"forge_api_metrics_dropped_total %llu\n",
		(unsigned long long)m->dropped);
	pthread_mutex_unlock(&m->lock);
	fputs("# HELP forge_api_active_scenarios Live scenarios by track\n"
	      "# TYPE forge_api_active_scenarios gauge\n",
	      f);
	json_object_foreach((json_t *)live_by_track, track, v)
	{
		size_t n = 0;
		label(l, sizeof(l), &n, "track", track);
		fprintf(f, "forge_api_active_scenarios{%s} %lld\n", l,
			(long long)json_integer_value(v));
	}
	fputs("# HELP forge_api_forged_circuit_state Circuit breaker towards forged "
	      "(0 closed, 1 open, 2 half open)\n# TYPE forge_api_forged_circuit_state gauge\n",
	      f);
	fprintf(f, "forge_api_forged_circuit_state %d\n", (int)breaker);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
