/*
 * timeit — run one command and print its wall time, for bench/container_start.sh.
 *
 *   timeit LOGFILE COMMAND [ARG...]
 *
 * The command's stdin is /dev/null and its stdout and stderr go to LOGFILE (truncated),
 * so a failing run can be shown afterwards. timeit prints one line on its stdout:
 *
 *   <elapsed_ns> <status>
 *
 * where elapsed_ns is CLOCK_MONOTONIC from just before posix_spawn to just after waitpid
 * returns, and status is the exit code, or 128+signal if the command was killed. The
 * timed window holds only the spawn (vfork-style clone + execve of the command), the
 * command itself, and the reap: no shell, and the log file is opened before the clock
 * starts. timeit itself exits 0 when it measured (whatever the command's status), 2 on
 * usage or spawn errors.
 *
 * Built by bench/container_start.sh: cc -O2 -o build/bench/timeit bench/timeit.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	long long t0, t1;
	pid_t pid;
	int status, rc, logfd, nullfd;

	if (argc < 3) {
		fprintf(stderr, "usage: timeit LOGFILE COMMAND [ARG...]\n");
		return 2;
	}
	logfd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (logfd < 0 || nullfd < 0) {
		fprintf(stderr, "timeit: open %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, nullfd, 0);
	posix_spawn_file_actions_adddup2(&fa, logfd, 1);
	posix_spawn_file_actions_adddup2(&fa, logfd, 2);

	t0 = now_ns();
	rc = posix_spawnp(&pid, argv[2], &fa, NULL, argv + 2, environ);
	if (rc != 0) {
		fprintf(stderr, "timeit: spawn %s: %s\n", argv[2], strerror(rc));
		return 2;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "timeit: waitpid: %s\n", strerror(errno));
			return 2;
		}
	}
	t1 = now_ns();

	if (WIFEXITED(status))
		rc = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		rc = 128 + WTERMSIG(status);
	else
		rc = 255;
	printf("%lld %d\n", t1 - t0, rc);
	return 0;
}
