/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the benchmark programs share (each benchmark source is one binary): the
 * clock, sample ordering, argument parsing and the timed run of a peer
 * script. Header-only, so that every benchmark stays a single source file.
 */
#ifndef FORGE_BENCH_H
#define FORGE_BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static inline long long bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* qsort order for samples. */
static inline int bench_cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* A whole decimal number in [min, max], or -1. */
static inline int bench_count(const char *s, int min, int max)
{
	char *end;
	long v = strtol(s, &end, 10);

	return (*s && !*end && v >= min && v <= max) ? (int)v : -1;
}

/* Runs argv[0] (a path) with stdin from /dev/null and stdout and stderr to
 * log (appended, or truncated first), timed from posix_spawn to waitpid.
 * Returns the nanoseconds, or -1 after printing an "error peer …" line. */
static inline long long bench_run_timed(char *const argv[], const char *log, bool truncate)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = 0, rc;

	int logfd =
	    open(log, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0600);
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (logfd < 0 || nullfd < 0) {
		printf("error open %s: %s\n", log, strerror(errno));
		if (logfd >= 0)
			close(logfd);
		if (nullfd >= 0)
			close(nullfd);
		return -1;
	}
	dprintf(logfd, "---");
	for (char *const *a = argv + 1; *a; a++)
		dprintf(logfd, " %s", *a);
	dprintf(logfd, "\n");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, nullfd, 0);
	posix_spawn_file_actions_adddup2(&fa, logfd, 1);
	posix_spawn_file_actions_adddup2(&fa, logfd, 2);
	long long t0 = bench_now_ns();
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	while (rc == 0 && waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			rc = errno;
			break;
		}
	long long t1 = bench_now_ns();
	posix_spawn_file_actions_destroy(&fa);
	close(logfd);
	close(nullfd);
	if (rc != 0) {
		printf("error peer %s: %s\n", argv[0], strerror(rc));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("error peer");
		for (char *const *a = argv; *a; a++)
			printf(" %s", *a);
		printf(" failed (status 0x%x), log in %s\n", status, log);
		return -1;
	}
	return t1 - t0;
}

#endif /* FORGE_BENCH_H */
