/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nftables egress table (netns/netns.h: forge_nft_install, forge_nft_read,
 * forge_nft_drop_count) as root against the real kernel: what is read back
 * through netlink equals what was asked for and what nft(8) itself lists;
 * re-installing replaces the table in one transaction; the allowlist profile
 * adds its rules; real packets are dropped, counted and let through where
 * they should; bad arguments are refused with a message naming them.
 *
 * Every test works in network namespaces it creates and holds by fd only
 * (never named, never the test's own); ip(8) and nft(8) run inside them for
 * set-up and observation only. After every test a teardown closes them and
 * checks that nothing is left and nothing else changed: file descriptors,
 * mounts, `ip netns list`, the host's `nft list tables`, and the network
 * namespace of the test thread itself (the library enters a container's
 * namespace and must always come back).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "netns/netns.h"
#include "tests/integration/netns_testlib.h"

#define TABLE "forge_test"
#define DENY  "counter|limit rate 10/second|log prefix \"FORGE_EGRESS_DENY \"|drop"
#define CT_OK "meta nfproto ipv4|ct state established,related|accept"

/* ---------------------------------------------------------------- state */

struct snapshot {
	long fds;
	long mounts;
	ino_t thread_netns;
	char *netns_list;  /* `ip netns list` */
	char *host_tables; /* `nft list tables` in the test's own namespace */
};

static struct {
	struct snapshot before;
} T;

static void snapshot_take(struct snapshot *s)
{
	s->fds = count_entries("/proc/self/fd");
	s->mounts = count_lines_with("/proc/self/mountinfo", NULL);
	s->thread_netns = netns_ino("/proc/thread-self/ns/net");
	s->netns_list = cmd(-1, "ip netns list");
	s->host_tables = cmd(-1, "nft list tables");
}

static void snapshot_free(struct snapshot *s)
{
	free(s->netns_list);
	free(s->host_tables);
	s->netns_list = s->host_tables = NULL;
}

static int setup(void **state)
{
	(void)state;
	tl_fds_init();
	snapshot_take(&T.before);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct snapshot now;

	close_all_tracked();
	snapshot_take(&now);
	bool same = now.fds == T.before.fds && now.mounts == T.before.mounts &&
		    now.thread_netns == T.before.thread_netns &&
		    strcmp(now.netns_list, T.before.netns_list) == 0 &&
		    strcmp(now.host_tables, T.before.host_tables) == 0;
	if (!same)
		print_error("left behind or changed: fds %ld -> %ld, mounts %ld -> %ld, thread "
			    "netns %lu -> %lu, ip netns list \"%s\" -> \"%s\", host nft tables "
			    "\"%s\" -> \"%s\"\n",
			    T.before.fds, now.fds, T.before.mounts, now.mounts,
			    (unsigned long)T.before.thread_netns, (unsigned long)now.thread_netns,
			    T.before.netns_list, now.netns_list, T.before.host_tables,
			    now.host_tables);
	snapshot_free(&now);
	snapshot_free(&T.before);
	return same ? 0 : -1;
}

/* ---------------------------------------------------------------- namespaces */

/* A fresh network namespace held by an fd only, with lo up. */
static int new_netns(void)
{
	int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(own >= 0);
	int rc = unshare(CLONE_NEWNET);
	int e = errno;
	int ns = rc == 0 ? open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
	int up = -1;
	if (rc == 0) {
		/* IPv6 off before any link comes up: a veth going up would send
		 * router solicitations and MLD reports, which the deny-all output
		 * chain counts as drops the traffic test did not make. */
		static const char *const v6[] = {"/proc/sys/net/ipv6/conf/all/disable_ipv6",
						 "/proc/sys/net/ipv6/conf/default/disable_ipv6"};
		for (size_t k = 0; k < 2 && access(v6[0], F_OK) == 0; k++) {
			int fd = open(v6[k], O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "1", 1) != 1)
				abort(); /* a namespace half set up is no test bed */
			close(fd);
		}
		struct ifreq ifr = {.ifr_name = "lo"};
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
			ifr.ifr_flags |= IFF_UP;
			up = ioctl(s, SIOCSIFFLAGS, &ifr);
		}
		if (s >= 0)
			close(s);
		if (setns(own, CLONE_NEWNET) < 0)
			abort(); /* nothing else could be trusted from here on */
	}
	close(own);
	expect_true(rc == 0, "unshare(CLONE_NEWNET): %s", strerror(e));
	assert_true(ns >= 0);
	expect_true(up == 0, "bringing lo up in the new namespace failed");
	return track_fd(ns);
}

/* One UDP datagram from namespace ns (from src when given); 0 or the errno. */
static int udp_send(int ns, const char *src, const char *dst, uint16_t port)
{
	int s = socket_in(ns, SOCK_DGRAM);
	struct sockaddr_in to = sin_of(dst, port);

	if (src) {
		struct sockaddr_in from = sin_of(src, 0);
		assert_int_equal(bind(s, (struct sockaddr *)&from, sizeof(from)), 0);
	}
	int rc = sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)) == 1 ? 0 : errno;
	close_tracked(s);
	return rc;
}

/* Whether a datagram is waiting on s within a short while. */
static bool udp_arrived(int s)
{
	struct pollfd pfd = {.fd = s, .events = POLLIN};
	char buf[16];

	if (poll(&pfd, 1, 2000) != 1)
		return false;
	return recv(s, buf, sizeof(buf), MSG_DONTWAIT) == 1;
}

static int udp_listen(int ns, uint16_t port)
{
	int s = socket_in(ns, SOCK_DGRAM);
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(port)};

	assert_int_equal(bind(s, (struct sockaddr *)&any, sizeof(any)), 0);
	return s;
}

/* ---------------------------------------------------------------- topologies */

static void add_subnet(struct forge_topology *t, const char *name, const char *net, uint8_t len)
{
	struct forge_net_subnet *s = &t->subnets[t->n_subnets++];

	snprintf(s->name, sizeof(s->name), "%s", name);
	assert_int_equal(inet_pton(AF_INET, net, &s->net), 1);
	s->prefix_len = len;
}

static void add_allow(struct forge_topology *t, const char *net, uint8_t len, uint8_t proto,
		      const uint16_t *ports, size_t n_ports)
{
	struct forge_net_allow *a = &t->allow[t->n_allow++];

	assert_int_equal(inet_pton(AF_INET, net, &a->net), 1);
	a->prefix_len = len;
	a->proto = proto;
	if (n_ports)
		memcpy(a->ports, ports, n_ports * sizeof(*ports));
	a->n_ports = n_ports;
}

/* learner_net 10.10.0.0/24 and target_net 10.20.0.0/24, egress deny. */
static void two_subnets(struct forge_topology *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->scenario, sizeof(t->scenario), "nfttest");
	add_subnet(t, "learner_net", "10.10.0.0", 24);
	add_subnet(t, "target_net", "10.20.0.0", 24);
}

/* ---------------------------------------------------------------- expectations */

/* A base chain of the container table (hook as its name, policy drop). */
static json_t *chain_of(const char *name, const char *const rules[])
{
	return chain_json(name, name, "drop", NULL, rules);
}

static json_t *table_of(const char *const input[], const char *const forward[],
			const char *const output[])
{
	return json_pack("{s:s, s:s, s:[o,o,o]}", "table", TABLE, "family", "inet", "chains",
			 chain_of("input", input), chain_of("forward", forward),
			 chain_of("output", output));
}

static const char *const input_two[] = {
    "iifname \"lo\"|accept",	    CT_OK, "ip saddr 10.10.0.0/24|accept",
    "ip saddr 10.20.0.0/24|accept", DENY,  NULL,
};
static const char *const forward_two[] = {
    CT_OK,
    "ip saddr 10.10.0.0/24|ip daddr 10.10.0.0/24|accept",
    "ip saddr 10.10.0.0/24|ip daddr 10.20.0.0/24|accept",
    "ip saddr 10.20.0.0/24|ip daddr 10.10.0.0/24|accept",
    "ip saddr 10.20.0.0/24|ip daddr 10.20.0.0/24|accept",
    DENY,
    NULL,
};
static const char *const output_two[] = {
    "oifname \"lo\"|accept",	    CT_OK, "ip daddr 10.10.0.0/24|accept",
    "ip daddr 10.20.0.0/24|accept", DENY,  NULL,
};

static void install_ok(int ns, const char *table, const struct forge_topology *t)
{
	struct forge_err err = {0};
	int rc = forge_nft_install(ns, table, t, &err);

	expect_true(rc == 0, "forge_nft_install %s: %d %s", table, rc, err.msg);
}

/* The table read back is the one of these chains (counters all zero), and
 * nft(8) lists the same rules. */
static void expect_reads_back(int ns, const char *const input[], const char *const forward[],
			      const char *const output[])
{
	json_t *got = read_ok(ns, TABLE);
	json_t *want = table_of(input, forward, output);

	expect_json_equal(got, want);
	expect_nft_lists_same(ns, TABLE, got);
	json_decref(got);
	json_decref(want);
}

/* packets counted by the last rule of chain (input, forward, output). */
static long long deny_packets(json_t *table, const char *chain)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(table, "chains"), i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "name")), chain) == 0) {
			json_t *rules = json_object_get(c, "rules");
			json_t *last = json_array_get(rules, json_array_size(rules) - 1);
			return json_integer_value(json_object_get(last, "packets"));
		}
	}
	fail_msg("no chain %s", chain);
	return -1;
}

static uint64_t drop_count_ok(int ns)
{
	struct forge_err err = {0};
	uint64_t n = UINT64_MAX;
	int rc = forge_nft_drop_count(ns, TABLE, &n, &err);

	expect_true(rc == 0, "forge_nft_drop_count: %d %s", rc, err.msg);
	return n;
}

/* ---------------------------------------------------------------- tests */

static void test_install_reads_back(void **state)
{
	(void)state;
	struct forge_topology t;
	int ns = new_netns();

	two_subnets(&t);
	install_ok(ns, TABLE, &t);
	assert_int_equal(netns_ino("/proc/thread-self/ns/net"), T.before.thread_netns);

	expect_reads_back(ns, input_two, forward_two, output_two);
	assert_int_equal(drop_count_ok(ns), 0);

	/* Chain types and priorities are not in the JSON: nft shows them. */
	char *listing = cmd(ns, "nft list table inet " TABLE);
	const char *p = listing;
	for (int i = 0; i < 3; i++) {
		p = strstr(p, "type filter hook ");
		expect_true(p && strstr(p, "priority filter; policy drop;"),
			    "chain %d is not filter/priority 0/policy drop:\n%s", i, listing);
		p++;
	}
	free(listing);
}

static void test_reinstall_replaces(void **state)
{
	(void)state;
	static const char *const input_one[] = {"iifname \"lo\"|accept", CT_OK,
						"ip saddr 10.30.0.0/16|accept", DENY, NULL};
	static const char *const forward_one[] = {
	    CT_OK, "ip saddr 10.30.0.0/16|ip daddr 10.30.0.0/16|accept", DENY, NULL};
	static const char *const output_one[] = {"oifname \"lo\"|accept", CT_OK,
						 "ip daddr 10.30.0.0/16|accept", DENY, NULL};
	struct forge_topology one, two;
	int ns = new_netns();

	memset(&one, 0, sizeof(one));
	add_subnet(&one, "only", "10.30.0.0", 16);
	two_subnets(&two);

	/* A second table that re-installing must leave alone. */
	install_ok(ns, "other", &one);
	json_t *other = read_ok(ns, "other");

	install_ok(ns, TABLE, &one);
	expect_reads_back(ns, input_one, forward_one, output_one);

	/* Replaced, not appended to: exactly the second topology's rules. */
	for (int round = 0; round < 2; round++) {
		install_ok(ns, TABLE, &two);
		expect_reads_back(ns, input_two, forward_two, output_two);
	}
	char *listing = cmd(ns, "nft list tables");
	expect_true(strcmp(listing, "table inet other\ntable inet " TABLE "\n") == 0,
		    "tables after re-installing: \"%s\"", listing);
	free(listing);
	json_t *got = read_ok(ns, "other");
	expect_json_equal(got, other);
	json_decref(got);
	json_decref(other);
}

static void test_allowlist_rules(void **state)
{
	(void)state;
	static const uint16_t web[] = {80, 443}, dns[] = {53};
	static const char *const output_allow[] = {
	    "oifname \"lo\"|accept",
	    CT_OK,
	    "ip daddr 10.10.0.0/24|accept",
	    "ip daddr 10.20.0.0/24|accept",
	    "ip daddr 192.0.2.0/24|tcp dport 80|accept",
	    "ip daddr 192.0.2.0/24|tcp dport 443|accept",
	    "ip daddr 198.51.100.7|meta l4proto udp|accept",
	    "meta nfproto ipv4|tcp dport 53|accept",
	    DENY,
	    NULL,
	};
	struct forge_topology t;
	int ns = new_netns();

	two_subnets(&t);
	add_allow(&t, "192.0.2.0", 24, IPPROTO_TCP, web, 2);
	add_allow(&t, "198.51.100.7", 32, IPPROTO_UDP, NULL, 0);
	add_allow(&t, "0.0.0.0", 0, IPPROTO_TCP, dns, 1);

	/* Entries without the allowlist profile add nothing. */
	install_ok(ns, TABLE, &t);
	expect_reads_back(ns, input_two, forward_two, output_two);

	t.egress = FORGE_EGRESS_ALLOWLIST;
	install_ok(ns, TABLE, &t);
	expect_reads_back(ns, input_two, forward_two, output_allow);
}

/* The most a topology may ask for: 16 subnets (256 forward rules) and 16
 * allowlist entries of 16 ports, well over 500 messages in one batch. */
static void test_largest_topology(void **state)
{
	(void)state;
	uint16_t ports[FORGE_NET_MAX_PORTS];
	struct forge_topology t;
	int ns = new_netns();

	memset(&t, 0, sizeof(t));
	t.egress = FORGE_EGRESS_ALLOWLIST;
	for (int i = 0; i < FORGE_NET_MAX_SUBNETS; i++) {
		char net[32];
		snprintf(net, sizeof(net), "10.%d.0.0", 100 + i);
		add_subnet(&t, "s", net, 16);
	}
	for (int i = 0; i < FORGE_NET_MAX_PORTS; i++)
		ports[i] = (uint16_t)(1000 + i);
	for (int i = 0; i < FORGE_NET_MAX_ALLOW; i++) {
		char net[32];
		snprintf(net, sizeof(net), "192.0.%d.0", i);
		add_allow(&t, net, 24, i % 2 ? IPPROTO_UDP : IPPROTO_TCP, ports,
			  FORGE_NET_MAX_PORTS);
	}
	install_ok(ns, TABLE, &t);
	install_ok(ns, TABLE, &t);
	json_t *got = read_ok(ns, TABLE);
	json_t *chains = json_object_get(got, "chains");
	size_t n = FORGE_NET_MAX_SUBNETS;
	assert_int_equal(json_array_size(json_object_get(json_array_get(chains, 0), "rules")),
			 2 + n + 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(chains, 1), "rules")),
			 1 + n * n + 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(chains, 2), "rules")),
			 2 + n + FORGE_NET_MAX_ALLOW * FORGE_NET_MAX_PORTS + 1);
	json_t *rule = json_array_get(json_object_get(json_array_get(chains, 2), "rules"),
				      2 + n + FORGE_NET_MAX_ALLOW * FORGE_NET_MAX_PORTS - 1);
	json_t *want = json_pack("[s,s,s]", "ip daddr 192.0.15.0/24", "udp dport 1015", "accept");
	expect_json_equal(json_object_get(rule, "expr"), want);
	json_decref(want);
	json_decref(got);
}

/*
 * Real packets. The container namespace has eth0 10.10.0.2/24 with a default
 * route via 10.10.0.1, the other end of a veth pair in a second namespace
 * (no nftables there) that holds 10.10.0.1/24 and, on lo, 198.51.100.1 and
 * 10.99.0.1: it plays the gateway, a host outside the scenario, and a source
 * outside the scenario's subnets.
 */
static void test_traffic(void **state)
{
	(void)state;
	static const uint16_t discard[] = {9};
	struct forge_topology t;
	int ns = new_netns();
	int peer = new_netns();

	run(ns, "ip link add name eth0 type veth peer name gw0 netns /proc/%d/fd/%d", (int)getpid(),
	    peer);
	run(ns, "ip addr add 10.10.0.2/24 dev eth0");
	run(ns, "ip link set eth0 up");
	run(ns, "ip route add default via 10.10.0.1");
	run(peer, "ip addr add 10.10.0.1/24 dev gw0");
	run(peer, "ip link set gw0 up");
	run(peer, "ip addr add 198.51.100.1/32 dev lo");
	run(peer, "ip addr add 10.99.0.1/32 dev lo");

	two_subnets(&t);
	install_ok(ns, TABLE, &t);
	int at_gw = udp_listen(peer, 9);
	int at_ctr = udp_listen(ns, 7);

	/* Out of the scenario: refused at once (nftables drop on output is EPERM
	 * to the sender), counted by the output chain's last rule. */
	assert_int_equal(udp_send(ns, NULL, "198.51.100.1", 9), EPERM);
	json_t *j = read_ok(ns, TABLE);
	assert_int_equal(deny_packets(j, "output"), 1);
	assert_int_equal(deny_packets(j, "input"), 0);
	assert_int_equal(deny_packets(j, "forward"), 0);
	assert_int_equal(drop_count_ok(ns), 1);
	json_decref(j);
	expect_true(!udp_arrived(at_gw), "a dropped datagram arrived");

	/* A TCP connect out: the SYN is dropped (connect itself only sees it
	 * as in progress) and counted. */
	int s = socket_in(ns, SOCK_STREAM | SOCK_NONBLOCK);
	struct sockaddr_in to = sin_of("198.51.100.1", 80);
	assert_int_equal(connect(s, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_int_equal(errno, EINPROGRESS);
	close_tracked(s);
	uint64_t after_syn = drop_count_ok(ns);
	expect_true(after_syn >= 2, "drop count after a SYN: %llu", (unsigned long long)after_syn);

	/* Inside the scenario, and on loopback: let through, not counted. */
	assert_int_equal(udp_send(ns, NULL, "10.10.0.1", 9), 0);
	expect_true(udp_arrived(at_gw), "a datagram to the gateway's subnet address was lost");
	assert_int_equal(udp_send(ns, NULL, "10.10.0.3", 9), 0);
	assert_int_equal(udp_send(ns, NULL, "127.0.0.1", 7), 0);
	expect_true(udp_arrived(at_ctr), "a datagram on loopback was lost");
	assert_int_equal(drop_count_ok(ns), after_syn);

	/* In from a subnet address is accepted; from outside, dropped by input. */
	assert_int_equal(udp_send(peer, "10.10.0.1", "10.10.0.2", 7), 0);
	expect_true(udp_arrived(at_ctr), "a datagram from the scenario's subnet was lost");
	assert_int_equal(udp_send(peer, "10.99.0.1", "10.10.0.2", 7), 0);
	expect_true(!udp_arrived(at_ctr), "a datagram from outside the subnets arrived");
	j = read_ok(ns, TABLE);
	assert_int_equal(deny_packets(j, "input"), 1);
	uint64_t sum = (uint64_t)(deny_packets(j, "input") + deny_packets(j, "forward") +
				  deny_packets(j, "output"));
	assert_int_equal(drop_count_ok(ns), sum);
	expect_nft_lists_same(ns, TABLE, j);
	json_decref(j);

	/* The allowlist profile lets exactly its destination and port out;
	 * re-installing starts the counters again. */
	t.egress = FORGE_EGRESS_ALLOWLIST;
	add_allow(&t, "198.51.100.1", 32, IPPROTO_UDP, discard, 1);
	install_ok(ns, TABLE, &t);
	assert_int_equal(drop_count_ok(ns), 0);
	assert_int_equal(udp_send(ns, NULL, "198.51.100.1", 9), 0);
	expect_true(udp_arrived(at_gw), "an allowlisted datagram was lost");
	assert_int_equal(udp_send(ns, NULL, "198.51.100.1", 10), EPERM);
	assert_int_equal(drop_count_ok(ns), 1);
}

static void expect_refused(int rc, const struct forge_err *err, const char *what,
			   const char *needle)
{
	expect_true(rc < 0 && err->code == rc, "%s: rc %d, err code %d", what, rc, err->code);
	expect_true(strstr(err->msg, needle), "%s: message \"%s\" lacks \"%s\"", what, err->msg,
		    needle);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct forge_topology t;
	struct forge_err err;
	uint64_t n = 0;
	char name[64];
	int ns = new_netns();
	int file = track_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
	int mntns = track_fd(open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));

	two_subnets(&t);
	struct {
		int fd;
		const char *table;
		const char *needle;
	} cases[] = {
	    {file, TABLE, "is not a network namespace"},
	    {mntns, TABLE, "is not a network namespace"},
	    {-1, TABLE, "fd -1 is not a network namespace"},
	    {ns, "", "empty table name"},
	    {ns, NULL, "empty table name"},
	    {ns, "has space", "\"has space\" is not a letter"},
	    {ns, "9lives", "\"9lives\" is not a letter"},
	    {ns, "abcdefghijklmnopqrstuvwxyz0123456", "longer than 32"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[96];
		snprintf(what, sizeof(what), "case %zu (fd %d, table %s)", i, cases[i].fd,
			 cases[i].table ? cases[i].table : "NULL");
		forge_err_clear(&err);
		expect_refused(forge_nft_install(cases[i].fd, cases[i].table, &t, &err), &err, what,
			       cases[i].needle);
		forge_err_clear(&err);
		expect_true(!forge_nft_read(cases[i].fd, cases[i].table, &err), "%s: read", what);
		expect_refused(err.code, &err, what, cases[i].needle);
		forge_err_clear(&err);
		expect_refused(forge_nft_drop_count(cases[i].fd, cases[i].table, &n, &err), &err,
			       what, cases[i].needle);
	}
	snprintf(name, sizeof(name), "%.32s", "abcdefghijklmnopqrstuvwxyz0123456");
	install_ok(ns, name, &t); /* 32 characters is fine */

	/* Topologies the ruleset cannot be built from. */
	forge_err_clear(&err);
	expect_refused(forge_nft_install(ns, TABLE, NULL, &err), &err, "NULL topology",
		       "no topology");
	t.subnets[1].prefix_len = 0;
	forge_err_clear(&err);
	expect_refused(forge_nft_install(ns, TABLE, &t, &err), &err, "/0 subnet",
		       "subnet target_net: prefix /0");
	two_subnets(&t);
	t.n_subnets = FORGE_NET_MAX_SUBNETS + 1;
	forge_err_clear(&err);
	expect_refused(forge_nft_install(ns, TABLE, &t, &err), &err, "17 subnets", "17 subnets");
	two_subnets(&t);
	t.egress = FORGE_EGRESS_ALLOWLIST;
	add_allow(&t, "192.0.2.0", 24, IPPROTO_ICMP, NULL, 0);
	forge_err_clear(&err);
	expect_refused(forge_nft_install(ns, TABLE, &t, &err), &err, "icmp allow entry",
		       "allowlist entry 0");

	/* Nothing was installed by the refusals; reading a missing table names it. */
	forge_err_clear(&err);
	expect_true(!forge_nft_read(ns, TABLE, &err), "read of a missing table");
	expect_refused(err.code, &err, "missing table", "no table inet " TABLE);
	assert_int_equal(err.code, -ENOENT);
	forge_err_clear(&err);
	expect_refused(forge_nft_drop_count(ns, TABLE, &n, &err), &err, "missing table count",
		       "no table inet " TABLE);
}

/* The caller's own namespace is refused: tried from a child that has a
 * namespace of its own, so a failure here could never touch the host. */
static void test_refuses_own_namespace(void **state)
{
	(void)state;
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct forge_topology t;
		struct forge_err err = {0};
		if (unshare(CLONE_NEWNET) < 0)
			_exit(2);
		int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		two_subnets(&t);
		int rc = forge_nft_install(own, TABLE, &t, &err);
		dprintf(p[1], "%d %s", rc, err.msg);
		_exit(0);
	}
	close(p[1]);
	char msg[FORGE_ERR_MSG_MAX + 32] = "";
	ssize_t n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	msg[n > 0 ? n : 0] = '\0';
	expect_true(WIFEXITED(ws) && atoi(msg) == -EINVAL, "own namespace not refused: \"%s\"",
		    msg);
	expect_true(strstr(msg, "the caller's own network namespace"), "message \"%s\"", msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_install_reads_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reinstall_replaces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_allowlist_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_largest_topology, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_traffic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_own_namespace, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_netns_nft: needs root (network namespaces, nftables)\n");
		return 1;
	}
	return cmocka_run_group_tests_name("netns_nft", tests, NULL, NULL);
}
