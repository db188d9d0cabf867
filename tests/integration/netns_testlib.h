/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the netns integration tests (test_netns_*.c) share: tracked file
 * descriptors, leak counts, running ip(8)/nft(8)/sh inside a namespace to set
 * up and to observe, sockets made inside a namespace, and nftables read-back
 * comparisons. Header-only (each test is one binary): include it after
 * <cmocka.h>.
 */
#ifndef FORGE_TESTS_NETNS_TESTLIB_H
#define FORGE_TESTS_NETNS_TESTLIB_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns/netns.h"

#define TL_MAX_FDS 32

#define expect_true(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg(__VA_ARGS__);                                                     \
	} while (0)

/* ---------------------------------------------------------------- fault injection */

/* forge_net_fault_hook = fail_at makes the library fail with -EIO at the
 * step named fault_step, counting the hits. */
static const char *fault_step __attribute__((unused));
static int fault_hits __attribute__((unused));

static inline int fail_at(const char *step)
{
	if (strcmp(step, fault_step) != 0)
		return 0;
	fault_hits++;
	return -EIO;
}

/* ---------------------------------------------------------------- tracked fds */

/* Namespaces and sockets of the running test, closed by its teardown. */
static int tl_fds[TL_MAX_FDS];

static inline void tl_fds_init(void)
{
	for (size_t i = 0; i < TL_MAX_FDS; i++)
		tl_fds[i] = -1;
}

static inline int track_fd(int fd)
{
	for (size_t i = 0; fd >= 0 && i < TL_MAX_FDS; i++)
		if (tl_fds[i] < 0) {
			tl_fds[i] = fd;
			return fd;
		}
	return fd;
}

static inline void close_tracked(int fd)
{
	for (size_t i = 0; i < TL_MAX_FDS; i++)
		if (tl_fds[i] == fd)
			tl_fds[i] = -1;
	close(fd);
}

static inline void close_all_tracked(void)
{
	for (size_t i = 0; i < TL_MAX_FDS; i++)
		if (tl_fds[i] >= 0)
			close_tracked(tl_fds[i]);
}

/* ---------------------------------------------------------------- leak counts */

/* Entries of a directory, "." and ".." aside; -1 when it cannot be read. */
static inline long count_entries(const char *path)
{
	DIR *d = opendir(path);
	long n = 0;

	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Lines of a file that contain needle (all lines when NULL). */
static inline long count_lines_with(const char *path, const char *needle)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	long n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !needle || strstr(line, needle);
	fclose(f);
	return n;
}

static inline ino_t netns_ino(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* The link names of the calling thread's namespace, space-separated. */
static inline void link_names(char *out, size_t outsz)
{
	struct if_nameindex *ifs = if_nameindex();
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; ifs && ifs[i].if_index; i++)
		used += (size_t)snprintf(out + used, used < outsz ? outsz - used : 0, "%s ",
					 ifs[i].if_name);
	if (ifs)
		if_freenameindex(ifs);
}

/* ---------------------------------------------------------------- processes */

/* ---------------------------------------------------------------- leak check */

/* What a netns test must find unchanged after its teardown: the process's
 * descriptors, its mounts under dir (the stand-in for /run/netns; the
 * machine is shared, others may mount elsewhere), the thread's own network
 * namespace and that namespace's links. */
struct tl_snapshot {
	long fds, mounts;
	ino_t thread_netns;
	char links[1024];
};

static inline void tl_snapshot_take(struct tl_snapshot *s, const char *dir)
{
	s->fds = count_entries("/proc/self/fd");
	s->mounts = count_lines_with("/proc/self/mountinfo", dir);
	s->thread_netns = netns_ino("/proc/thread-self/ns/net");
	link_names(s->links, sizeof(s->links));
}

/* After the test's objects are gone: dir must be empty (it is removed) and
 * nothing in the snapshot changed. Says what did and returns false. */
static inline bool tl_nothing_left(const char *dir, const struct tl_snapshot *before)
{
	struct tl_snapshot now;
	long left = count_entries(dir);
	tl_snapshot_take(&now, dir);
	rmdir(dir);
	bool same = left == 0 && now.fds == before->fds && now.mounts == before->mounts &&
		    now.thread_netns == before->thread_netns &&
		    strcmp(now.links, before->links) == 0;
	if (!same)
		print_error("left behind or changed: %ld entries in %s, fds %ld -> %ld, mounts "
			    "%ld -> %ld, thread netns %lu -> %lu, links \"%s\" -> \"%s\"\n",
			    left, dir, before->fds, now.fds, before->mounts, now.mounts,
			    (unsigned long)before->thread_netns, (unsigned long)now.thread_netns,
			    before->links, now.links);
	return same;
}

/* Runs argv inside namespace ns (the test's own when ns < 0); its stdout
 * and stderr, its exit status in *status. */
static inline char *run_in(int ns, const char *const argv[], int *status)
{
	size_t len = 0, cap = 8192;
	char *out = malloc(cap);
	int p[2];

	assert_non_null(out);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if ((ns >= 0 && setns(ns, CLONE_NEWNET) < 0) || dup2(p[1], 1) < 0 ||
		    dup2(p[1], 2) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (ssize_t n; (n = read(p[0], out + len, cap - len - 1)) > 0;) {
		len += (size_t)n;
		if (cap - len < 1024) {
			char *bigger = realloc(out, cap * 2);
			assert_non_null(bigger);
			out = bigger;
			cap *= 2;
		}
	}
	out[len] = '\0';
	close(p[0]);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return out;
}

/* A space-separated command line run in ns, which must succeed; its output. */
static inline char *cmd(int ns, const char *line)
{
	char buf[512], *save = NULL;
	const char *argv[32];
	size_t n = 0;
	int status;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *w = strtok_r(buf, " ", &save); w && n < 31; w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n] = NULL;
	char *out = run_in(ns, argv, &status);
	expect_true(status == 0, "`%s` exited %d: %s", line, status, out);
	return out;
}

/* cmd() of a formatted line, its output dropped. */
static inline FORGE_PRINTF(2, 3) void run(int ns, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	free(cmd(ns, line));
}

/* /proc/sys/net/<knob> inside namespace ns. */
static inline void set_knob(int ns, const char *knob, const char *value)
{
	char script[256];
	int status;

	snprintf(script, sizeof(script), "echo %s >/proc/sys/net/%s", value, knob);
	const char *const argv[] = {"sh", "-c", script, NULL};
	free(run_in(ns, argv, &status));
	assert_int_equal(status, 0);
}

static inline bool knob_is(int ns, const char *knob, const char *value)
{
	char script[256];
	int status;

	snprintf(script, sizeof(script), "test \"$(cat /proc/sys/net/%s)\" = %s", knob, value);
	const char *const argv[] = {"sh", "-c", script, NULL};
	free(run_in(ns, argv, &status));
	return status == 0;
}

/* ---------------------------------------------------------------- sockets */

/* An IPv4 socket created in namespace ns (a socket stays in the namespace it
 * was created in; the test thread comes straight back), tracked. */
static inline int socket_in(int ns, int type)
{
	int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(own >= 0);
	assert_int_equal(setns(ns, CLONE_NEWNET), 0);
	int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (setns(own, CLONE_NEWNET) < 0)
		abort(); /* nothing else could be trusted from here on */
	close(own);
	assert_true(s >= 0);
	return track_fd(s);
}

static inline struct sockaddr_in sin_of(const char *addr, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};

	assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
	return sa;
}

static inline int tcp_listen(int ns, uint16_t port)
{
	int s = socket_in(ns, SOCK_STREAM | SOCK_NONBLOCK);
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1;

	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(s, (struct sockaddr *)&any, sizeof(any)), 0);
	assert_int_equal(listen(s, 8), 0);
	return s;
}

/* One TCP connect from namespace ns to dst:port, bounded by ms: 0 or the
 * errno (ETIMEDOUT when nothing answered). */
static inline int tcp_connect_within(int ns, const char *dst, uint16_t port, int ms)
{
	int s = socket_in(ns, SOCK_STREAM | SOCK_NONBLOCK);
	struct sockaddr_in to = sin_of(dst, port);
	int rc = 0;

	if (connect(s, (struct sockaddr *)&to, sizeof(to)) < 0) {
		rc = errno;
		if (rc == EINPROGRESS) {
			struct pollfd pfd = {.fd = s, .events = POLLOUT};
			socklen_t len = sizeof(rc);
			if (poll(&pfd, 1, ms) != 1)
				rc = ETIMEDOUT;
			else
				assert_int_equal(getsockopt(s, SOL_SOCKET, SO_ERROR, &rc, &len), 0);
		}
	}
	close_tracked(s);
	return rc;
}

/* Accepts the connection waiting on listener s within ms; its source
 * address in from (when given). False when none came. */
static inline bool accepted_from(int s, int ms, char from[INET_ADDRSTRLEN])
{
	struct pollfd pfd = {.fd = s, .events = POLLIN};
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);

	if (from)
		from[0] = '\0';
	if (ms && poll(&pfd, 1, ms) != 1)
		return false;
	int c = accept4(s, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
	if (c < 0)
		return false;
	if (from)
		inet_ntop(AF_INET, &peer.sin_addr, from, INET_ADDRSTRLEN);
	close(c);
	return true;
}

/* ---------------------------------------------------------------- nftables */

static inline json_t *read_ok(int ns, const char *table)
{
	struct forge_err err = {0};
	json_t *j = forge_nft_read(ns, table, &err);

	expect_true(j, "forge_nft_read %s: %s", table, err.msg);
	return j;
}

static inline void expect_json_equal(json_t *got, json_t *want)
{
	if (json_equal(got, want))
		return;
	char *g = json_dumps(got, JSON_INDENT(1));
	char *w = json_dumps(want, JSON_INDENT(1));
	print_error("read back:\n%s\nexpected:\n%s\n", g, w);
	free(g);
	free(w);
	fail_msg("the table read back differs from what was asked for");
}

/* A chain as forge_nft_read returns it with all counters zero (hook and
 * policy left out when NULL: a regular chain). Each rule is its terms joined
 * by '|', and suffix (when given) one more term of every rule. */
static inline json_t *chain_json(const char *name, const char *hook, const char *policy,
				 const char *suffix, const char *const rules[])
{
	json_t *arr = json_array();

	for (size_t i = 0; rules[i]; i++) {
		json_t *terms = json_array();
		char buf[512], *save = NULL;
		snprintf(buf, sizeof(buf), "%s", rules[i]);
		for (char *w = strtok_r(buf, "|", &save); w; w = strtok_r(NULL, "|", &save))
			json_array_append_new(terms, json_string(w));
		if (suffix)
			json_array_append_new(terms, json_string(suffix));
		json_array_append_new(
		    arr, json_pack("{s:o, s:i, s:i}", "expr", terms, "packets", 0, "bytes", 0));
	}
	return json_pack("{s:s, s:s?, s:s?, s:o}", "name", name, "hook", hook, "policy", policy,
			 "rules", arr);
}

/* Every rule of table (as read back), its terms joined by spaces and its
 * counter values put back, is a line of what nft(8) lists for table
 * inet name in namespace ns. */
static inline void expect_nft_lists_same(int ns, const char *name, json_t *table)
{
	char line[128];
	size_t i, k, r;
	json_t *chain, *rule, *term;

	snprintf(line, sizeof(line), "nft list table inet %s", name);
	char *listing = cmd(ns, line);
	json_array_foreach(json_object_get(table, "chains"), i, chain)
	{
		json_array_foreach(json_object_get(chain, "rules"), r, rule)
		{
			char want[1024] = "\t\t";
			json_array_foreach(json_object_get(rule, "expr"), k, term)
			{
				const char *s = json_string_value(term);
				size_t used = strlen(want);
				if (strcmp(s, "counter") == 0)
					snprintf(
					    want + used, sizeof(want) - used,
					    "%scounter packets %lld bytes %lld", k ? " " : "",
					    json_integer_value(json_object_get(rule, "packets")),
					    json_integer_value(json_object_get(rule, "bytes")));
				else
					snprintf(want + used, sizeof(want) - used, "%s%s",
						 k ? " " : "", s);
			}
			strcat(want, "\n");
			expect_true(strstr(listing, want), "nft lists no line \"%s\" in:\n%s", want,
				    listing);
		}
	}
	free(listing);
}

#endif /* FORGE_TESTS_NETNS_TESTLIB_H */
