/* SPDX-License-Identifier: Apache-2.0 */
/*
 * container_start_lib: start-to-exit of /bin/true through the runtime
 * library, in one process, as forged launches containers (no launcher exec,
 * no dynamic linking per container). Prints the median, p10 and p90 in ms.
 *
 *   container_start_lib ROOTFS STATE_PARENT RUNS
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/runtime.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: container_start_lib ROOTFS STATE_PARENT RUNS\n");
		return 2;
	}
	int runs = atoi(argv[3]);
	if (runs < 1 || runs > 100000)
		return 2;
	double *t = calloc((size_t)runs, sizeof(double));
	struct forge_runtime *rt;
	struct forge_err err;
	char prefix[16], state[4096], cgroup[64], hex[9];
	forge_crypto_init();
	forge_random_hex(hex, 6);
	snprintf(prefix, sizeof(prefix), "b%s", hex);
	struct forge_runtime_config cfg = {.prefix = prefix};
	if (!t || forge_runtime_open(&rt, &cfg, &err) < 0) {
		fprintf(stderr, "container_start_lib: %s\n", t ? err.msg : "out of memory");
		return 1;
	}
	const char *lower[] = {argv[1]};
	const char *cmd[] = {"/bin/true", NULL};
	for (int i = -3; i < runs; i++) {
		struct forge_container_spec s;
		struct forge_container *c;
		struct forge_exit_status st;
		forge_container_spec_init(&s);
		snprintf(state, sizeof(state), "%s/c%d", argv[2], i + 3);
		snprintf(cgroup, sizeof(cgroup), "c%d", i + 3);
		s.name = "bench";
		s.lowerdirs = lower;
		s.n_lowerdirs = 1;
		s.argv = cmd;
		s.host_uid = s.host_gid = 100000;
		s.cgroup = cgroup;
		s.state_dir = state;
		s.limits.memory_bytes = 64 << 20;
		s.limits.pids = 64;
		s.limits.cpu_quota_us = 100000;
		double t0 = now_ms();
		if (forge_container_start(rt, &s, &c, &err) < 0 ||
		    forge_container_wait(c, -1, &st, &err) < 0 ||
		    forge_container_destroy(c, &err) < 0) {
			fprintf(stderr, "container_start_lib: %s\n", err.msg);
			return 1;
		}
		if (!st.exited || st.code != 0) {
			fprintf(stderr, "container_start_lib: /bin/true failed\n");
			return 1;
		}
		if (i >= 0) /* the first three are warm-up */
			t[i] = now_ms() - t0;
	}
	forge_runtime_close(rt);
	qsort(t, (size_t)runs, sizeof(double), cmp_double);
	printf("%.3f %.3f %.3f\n", t[runs / 2], t[runs / 10], t[runs * 9 / 10]);
	free(t);
	return 0;
}
