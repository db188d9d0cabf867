/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scenario links (netns/netns.h: forge_net_create, forge_net_attach,
 * forge_net_new_netns, forge_net_destroy) as root against the real kernel, on
 * the netplus shape: learner on learner_net 10.10.0.0/24, router on both,
 * target on target_net 10.20.0.0/24. Reachability is one bounded TCP connect
 * from a socket made inside a container namespace; links and addresses are
 * read back through libnl (no `ip` parsing); ip(8) only changes things
 * (routes, a link down) as a learner would.
 *
 * The hub is bind-mounted in a temporary directory, never /run/netns. After
 * every test a teardown checks that nothing is left and nothing else
 * changed: the temporary netns directory is empty, file descriptors, mounts
 * below it, the link names of the test's own namespace, and the network namespace of
 * the test thread (the library enters namespaces and must always come back).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "netns/netns.h"
#include "tests/integration/netns_testlib.h"

#define PREFIX "ftest"
#define PORT   7777

enum { LEARNER, ROUTER, TARGET, N_CT };

/* ---------------------------------------------------------------- state */


static struct {
	struct tl_snapshot before;
	char dir[64]; /* stands in for /run/netns */
	struct forge_net *nets[2];
} T;

static int setup(void **state)
{
	(void)state;
	tl_fds_init();
	T.nets[0] = T.nets[1] = NULL;
	forge_net_fault_hook = NULL;
	snprintf(T.dir, sizeof(T.dir), "/tmp/forge-netns-XXXXXX");
	if (!mkdtemp(T.dir))
		return -1;
	tl_snapshot_take(&T.before, T.dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	forge_net_fault_hook = NULL;
	for (size_t i = 0; i < 2; i++)
		forge_net_destroy(T.nets[i], NULL);
	close_all_tracked();
	return tl_nothing_left(T.dir, &T.before) ? 0 : -1;
}

/* ---------------------------------------------------------------- helpers */

/* Set-up through ip(8) inside ns, as a learner would. */
static void ip(int ns, const char *cmdline)
{
	run(ns, "ip %s", cmdline);
}

static void set_forwarding(int ns, bool on)
{
	set_knob(ns, "ipv4/ip_forward", on ? "1" : "0");
}

/* One TCP connect from namespace ns to dst, bounded by 2 s: 0 or the errno. */
static int tcp_connect(int ns, const char *dst)
{
	return tcp_connect_within(ns, dst, PORT, 2000);
}

static bool accepted(int s)
{
	return accepted_from(s, 0, NULL);
}

static void expect_reach(int from, int listener, const char *dst)
{
	int rc = tcp_connect(from, dst);

	expect_true(rc == 0, "connect to %s failed: %s", dst, strerror(rc));
	expect_true(accepted_from(listener, 1000, NULL),
		    "the connection to %s did not arrive where expected", dst);
}

static void expect_no_reach(int from, const char *dst)
{
	int rc = tcp_connect(from, dst);

	expect_true(rc != 0, "connect to %s succeeded where it must not", dst);
}

/* ---------------------------------------------------------------- topologies */

static void add_subnet(struct forge_topology *t, const char *name, const char *net)
{
	struct forge_net_subnet *s = &t->subnets[t->n_subnets++];

	snprintf(s->name, sizeof(s->name), "%s", name);
	assert_int_equal(inet_pton(AF_INET, net, &s->net), 1);
	s->prefix_len = 24;
}

static struct forge_net_container *add_ct(struct forge_topology *t, const char *name,
					  const char *gateway)
{
	struct forge_net_container *c = &t->containers[t->n_containers++];

	snprintf(c->name, sizeof(c->name), "%s", name);
	if (gateway) {
		c->has_gateway = true;
		assert_int_equal(inet_pton(AF_INET, gateway, &c->gateway), 1);
	}
	return c;
}

static void add_iface(struct forge_net_container *c, const char *subnet, const char *addr)
{
	struct forge_net_iface *i = &c->ifaces[c->n_ifaces++];

	snprintf(i->subnet, sizeof(i->subnet), "%s", subnet);
	i->static_addr = true;
	assert_int_equal(inet_pton(AF_INET, addr, &i->addr), 1);
}

/* The netplus shape; the learner's gateway only when asked. */
static void netplus(struct forge_topology *t, const char *scenario, bool learner_gateway)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->scenario, sizeof(t->scenario), "%s", scenario);
	add_subnet(t, "learner_net", "10.10.0.0");
	add_subnet(t, "target_net", "10.20.0.0");
	add_iface(add_ct(t, "learner", learner_gateway ? "10.10.0.1" : NULL), "learner_net",
		  "10.10.0.2");
	struct forge_net_container *r = add_ct(t, "router", NULL);
	r->forwarding = true;
	add_iface(r, "learner_net", "10.10.0.1");
	add_iface(r, "target_net", "10.20.0.1");
	add_iface(add_ct(t, "target", "10.20.0.1"), "target_net", "10.20.0.2");
	struct forge_err err = {0};
	int rc = forge_topology_validate(t, PREFIX, &err);
	expect_true(rc == 0, "validate: %s", err.msg);
}

static int new_netns(void)
{
	struct forge_err err = {0};
	int fd = -1;
	int rc = forge_net_new_netns(&fd, &err);

	expect_true(rc == 0 && fd >= 0, "forge_net_new_netns: %s", err.msg);
	return track_fd(fd);
}

/* Hub, three container namespaces, everything attached. */
static struct forge_net *build(const struct forge_topology *t, int ns[N_CT], size_t slot)
{
	struct forge_err err = {0};
	int rc = forge_net_create(t, PREFIX, T.dir, &T.nets[slot], &err);

	expect_true(rc == 0, "forge_net_create: %s", err.msg);
	for (size_t c = 0; c < N_CT; c++) {
		ns[c] = new_netns();
		rc = forge_net_attach(T.nets[slot], t->containers[c].name, ns[c], &err);
		expect_true(rc == 0, "forge_net_attach %s: %s", t->containers[c].name, err.msg);
	}
	return T.nets[slot];
}

static void destroy(size_t slot)
{
	struct forge_err err = {0};
	int rc = forge_net_destroy(T.nets[slot], &err);

	T.nets[slot] = NULL;
	expect_true(rc == 0, "forge_net_destroy: %s", err.msg);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---------------------------------------------------------------- tests */

static void test_netplus_reachability(void **state)
{
	(void)state;
	struct forge_topology t;
	int ns[N_CT];
	struct timespec t0;

	netplus(&t, "reach", true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	build(&t, ns, 0);
	double built = ms_since(&t0);
	int lr = tcp_listen(ns[ROUTER], PORT), lt = tcp_listen(ns[TARGET], PORT);

	expect_reach(ns[LEARNER], lr, "10.10.0.1");
	expect_reach(ns[LEARNER], lt, "10.20.0.2"); /* through the router */
	set_forwarding(ns[ROUTER], false);
	expect_no_reach(ns[LEARNER], "10.20.0.2");
	set_forwarding(ns[ROUTER], true);
	expect_reach(ns[LEARNER], lt, "10.20.0.2");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	destroy(0);
	print_message("netplus: build %.1f ms, destroy %.1f ms\n", built, ms_since(&t0));
}

static void test_learner_adds_route(void **state)
{
	(void)state;
	struct forge_topology t;
	int ns[N_CT];

	netplus(&t, "noroute", false);
	build(&t, ns, 0);
	int lr = tcp_listen(ns[ROUTER], PORT), lt = tcp_listen(ns[TARGET], PORT);
	expect_reach(ns[LEARNER], lr, "10.10.0.1");
	int rc = tcp_connect(ns[LEARNER], "10.20.0.2");
	expect_true(rc == ENETUNREACH, "without a route: %s, not unreachable", strerror(rc));
	ip(ns[LEARNER], "route add default via 10.10.0.1");
	expect_reach(ns[LEARNER], lt, "10.20.0.2");
	destroy(0);
}

/* Reads the links of namespace ns through libnl. */
static struct nl_cache *links_of(int ns, struct nl_sock **sk, struct nl_cache **addrs)
{
	int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(own >= 0);
	assert_int_equal(setns(ns, CLONE_NEWNET), 0);
	*sk = nl_socket_alloc();
	int rc = *sk ? nl_connect(*sk, NETLINK_ROUTE) : -1;
	if (setns(own, CLONE_NEWNET) < 0)
		abort();
	close(own);
	assert_int_equal(rc, 0);
	struct nl_cache *cache = NULL;
	assert_int_equal(rtnl_link_alloc_cache(*sk, AF_UNSPEC, &cache), 0);
	if (addrs)
		assert_int_equal(rtnl_addr_alloc_cache(*sk, addrs), 0);
	return cache;
}

static struct rtnl_link *expect_link(struct nl_cache *cache, const char *name, const char *alias,
				     int master)
{
	struct rtnl_link *l = rtnl_link_get_by_name(cache, name);

	expect_true(l, "no link %s", name);
	const char *got = rtnl_link_get_ifalias(l);
	expect_true(!alias || (got && strcmp(got, alias) == 0), "%s: alias \"%s\", expected \"%s\"",
		    name, got ? got : "", alias ? alias : "");
	expect_true(rtnl_link_get_flags(l) & IFF_UP, "%s is not up", name);
	if (master)
		expect_true(rtnl_link_get_master(l) == master, "%s: master %d, expected %d", name,
			    rtnl_link_get_master(l), master);
	return l;
}

static void expect_addr(struct nl_cache *addrs, int ifindex, const char *want)
{
	char buf[64];
	bool found = false;

	for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET)
			continue;
		nl_addr2str(rtnl_addr_get_local(a), buf, sizeof(buf));
		found |= strcmp(buf, want) == 0;
	}
	expect_true(found, "address %s not found on ifindex %d", want, ifindex);
}

static void test_links_read_back(void **state)
{
	(void)state;
	struct forge_topology t;
	int ns[N_CT];
	struct nl_sock *sk;
	struct nl_cache *addrs;

	netplus(&t, "links", true);
	struct forge_net *n = build(&t, ns, 0);

	/* The file auditors enter is the hub itself. */
	char path[128];
	struct stat file, hubst;
	snprintf(path, sizeof(path), "%s/" PREFIX "-links", T.dir);
	assert_int_equal(stat(path, &file), 0);
	assert_int_equal(fstat(forge_net_hub_fd(n), &hubst), 0);
	expect_true(file.st_ino == hubst.st_ino && file.st_dev == hubst.st_dev,
		    "%s is not the hub namespace", path);

	struct nl_cache *hub = links_of(forge_net_hub_fd(n), &sk, NULL);
	struct rtnl_link *br0 = expect_link(hub, "br0", PREFIX ":links:learner_net", 0);
	struct rtnl_link *br1 = expect_link(hub, "br1", PREFIX ":links:target_net", 0);
	int b0 = rtnl_link_get_ifindex(br0), b1 = rtnl_link_get_ifindex(br1);
	rtnl_link_put(expect_link(hub, "v0.0", PREFIX ":links:learner:eth0", b0));
	rtnl_link_put(expect_link(hub, "v1.0", PREFIX ":links:router:eth0", b0));
	rtnl_link_put(expect_link(hub, "v1.1", PREFIX ":links:router:eth1", b1));
	rtnl_link_put(expect_link(hub, "v2.0", PREFIX ":links:target:eth0", b1));
	expect_true(nl_cache_nitems(hub) == 7, "hub has %d links, expected lo, 2 bridges, 4 veth",
		    nl_cache_nitems(hub));
	rtnl_link_put(br0);
	rtnl_link_put(br1);
	nl_cache_free(hub);
	nl_socket_free(sk);

	struct nl_cache *rl = links_of(ns[ROUTER], &sk, &addrs);
	struct rtnl_link *e0 = expect_link(rl, "eth0", PREFIX ":links:router:eth0", 0);
	struct rtnl_link *e1 = expect_link(rl, "eth1", PREFIX ":links:router:eth1", 0);
	expect_true(rtnl_link_get_mtu(e0) == 1500, "eth0 mtu %u", rtnl_link_get_mtu(e0));
	expect_addr(addrs, rtnl_link_get_ifindex(e0), "10.10.0.1/24");
	expect_addr(addrs, rtnl_link_get_ifindex(e1), "10.20.0.1/24");
	rtnl_link_put(expect_link(rl, "lo", NULL, 0));
	rtnl_link_put(e0);
	rtnl_link_put(e1);
	nl_cache_free(addrs);
	nl_cache_free(rl);
	nl_socket_free(sk);

	expect_true(knob_is(ns[ROUTER], "ipv4/ip_forward", "1"), "router does not forward");
	expect_true(knob_is(ns[LEARNER], "ipv4/ip_forward", "0"), "learner forwards");
	if (access("/proc/sys/net/ipv6", F_OK) == 0)
		for (size_t c = 0; c < N_CT; c++)
			expect_true(knob_is(ns[c], "ipv6/conf/all/disable_ipv6", "1") &&
					knob_is(ns[c], "ipv6/conf/default/disable_ipv6", "1") &&
					knob_is(ns[c], "ipv6/conf/eth0/disable_ipv6", "1") &&
					knob_is(ns[c], "ipv6/conf/all/accept_ra", "0") &&
					knob_is(ns[c], "ipv6/conf/eth0/accept_ra", "0"),
				    "IPv6 not off in %s", t.containers[c].name);
	expect_true(knob_is(forge_net_hub_fd(n), "ipv4/ip_forward", "0"), "the hub forwards");
	expect_true(knob_is(forge_net_hub_fd(n), "ipv6/conf/all/disable_ipv6", "1") &&
			knob_is(forge_net_hub_fd(n), "ipv6/conf/br0/disable_ipv6", "1"),
		    "IPv6 not off in the hub");

	struct nl_cache *ll = links_of(ns[LEARNER], &sk, &addrs);
	struct rtnl_link *le = expect_link(ll, "eth0", PREFIX ":links:learner:eth0", 0);
	expect_addr(addrs, rtnl_link_get_ifindex(le), "10.10.0.2/24");
	rtnl_link_put(le);
	nl_cache_free(addrs);
	nl_cache_free(ll);
	nl_socket_free(sk);
	destroy(0);
}

static void test_nothing_reaches_host(void **state)
{
	(void)state;
	struct forge_topology t;
	int ns[N_CT];
	struct ifaddrs *ifa = NULL;
	char addrs[32][INET_ADDRSTRLEN];
	size_t n_addrs = 0;

	assert_int_equal(getifaddrs(&ifa), 0);
	for (struct ifaddrs *i = ifa; i && n_addrs < 32; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    !(i->ifa_flags & IFF_LOOPBACK))
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr,
				  addrs[n_addrs++], INET_ADDRSTRLEN);
	freeifaddrs(ifa);
	if (n_addrs == 0) /* a host without IPv4: an address outside the scenario */
		snprintf(addrs[n_addrs++], INET_ADDRSTRLEN, "192.0.2.1");

	netplus(&t, "host", true);
	build(&t, ns, 0);
	struct forge_err err = {0};
	uint64_t before = 0, after = 0;
	assert_int_equal(forge_nft_drop_count(ns[LEARNER], PREFIX, &before, &err), 0);
	for (size_t i = 0; i < n_addrs; i++)
		expect_no_reach(ns[LEARNER], addrs[i]);
	assert_int_equal(forge_nft_drop_count(ns[LEARNER], PREFIX, &after, &err), 0);
	expect_true(after >= before + n_addrs, "drop counter %llu -> %llu for %zu addresses",
		    (unsigned long long)before, (unsigned long long)after, n_addrs);
	destroy(0);
}

static void test_identical_scenarios_apart(void **state)
{
	(void)state;
	struct forge_topology a, b;
	int na[N_CT], nb[N_CT];

	netplus(&a, "sidea", true);
	netplus(&b, "sideb", true);
	build(&a, na, 0);
	build(&b, nb, 1);
	int la = tcp_listen(na[ROUTER], PORT), lb = tcp_listen(nb[ROUTER], PORT);

	expect_reach(na[LEARNER], la, "10.10.0.1");
	expect_true(!accepted(lb), "scenario B's router got scenario A's connection");
	expect_reach(nb[LEARNER], lb, "10.10.0.1");
	expect_true(!accepted(la), "scenario A's router got scenario B's connection");
	ip(na[ROUTER], "link set eth0 down");
	expect_no_reach(na[LEARNER], "10.10.0.1");
	expect_reach(nb[LEARNER], lb, "10.10.0.1");
	destroy(1);
	destroy(0);
}

static void test_fault_injection(void **state)
{
	(void)state;
	static const char *const steps[] = {"hub",  "bind",  "bridge", "lo", "veth",
					    "addr", "route", "sysctl", "nft"};
	struct forge_topology t;

	netplus(&t, "fault", true);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct forge_err err = {0};
		char want[64];
		int rc = 0;

		fault_step = steps[k];
		fault_hits = 0;
		forge_net_fault_hook = fail_at;
		rc = forge_net_create(&t, PREFIX, T.dir, &T.nets[0], &err);
		for (size_t c = 0; rc == 0 && c < N_CT; c++)
			rc = forge_net_attach(T.nets[0], t.containers[c].name, new_netns(), &err);
		forge_net_fault_hook = NULL;
		snprintf(want, sizeof(want), "fault injected at %s", steps[k]);
		expect_true(rc == -EIO && fault_hits == 1 && strstr(err.msg, want),
			    "step %s: rc %d, hits %d, \"%s\"", steps[k], rc, fault_hits, err.msg);
		if (strcmp(steps[k], "hub") == 0 || strcmp(steps[k], "bind") == 0 ||
		    strcmp(steps[k], "bridge") == 0)
			expect_true(!T.nets[0], "a failed create handed out a network");
		destroy(0);
		expect_true(count_entries(T.dir) == 0, "step %s: %s not empty", steps[k], T.dir);
		close_all_tracked();
	}
}

static void test_refusals(void **state)
{
	(void)state;
	struct forge_topology t, bad;
	struct forge_err err = {0};
	struct forge_net *other = NULL;
	int ns[N_CT];

	netplus(&t, "refuse", true);
	bad = t;
	snprintf(bad.containers[2].name, sizeof(bad.containers[2].name), "learner");
	int rc = forge_net_create(&bad, PREFIX, T.dir, &other, &err);
	expect_true(rc == -EINVAL && !other && strstr(err.msg, "learner"),
		    "duplicate container: %d \"%s\"", rc, err.msg);
	expect_true(count_entries(T.dir) == 0, "a refused create left something in %s", T.dir);

	bad = t;
	bad.containers[0].ifaces[0].static_addr = false;
	bad.containers[0].ifaces[0].addr.s_addr = 0;
	rc = forge_net_create(&bad, PREFIX, T.dir, &other, &err);
	expect_true(rc == -EINVAL && !other && strstr(err.msg, "not validated"),
		    "unvalidated topology: %d \"%s\"", rc, err.msg);
	expect_true(count_entries(T.dir) == 0, "a refused create left something in %s", T.dir);

	struct forge_net *n = build(&t, ns, 0);
	rc = forge_net_create(&t, PREFIX, T.dir, &other, &err);
	expect_true(rc == -EEXIST && !other && strstr(err.msg, "already exists"),
		    "same scenario twice: %d \"%s\"", rc, err.msg);

	struct nl_sock *sk;
	struct nl_cache *hub = links_of(forge_net_hub_fd(n), &sk, NULL);
	int links = nl_cache_nitems(hub);
	nl_cache_free(hub);
	nl_socket_free(sk);
	int spare = new_netns();
	rc = forge_net_attach(n, "nosuch", spare, &err);
	expect_true(rc == -ENOENT && strstr(err.msg, "nosuch"), "unknown container: %d \"%s\"", rc,
		    err.msg);
	int own = track_fd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
	rc = forge_net_attach(n, "learner", own, &err);
	expect_true(rc == -EINVAL && strstr(err.msg, "own"), "own namespace: %d \"%s\"", rc,
		    err.msg);
	rc = forge_net_attach(n, "learner", forge_net_hub_fd(n), &err);
	expect_true(rc == -EINVAL, "hub namespace: %d \"%s\"", rc, err.msg);
	rc = forge_net_attach(n, "learner", ns[LEARNER], &err);
	expect_true(rc == -EEXIST, "attached twice: %d \"%s\"", rc, err.msg);
	hub = links_of(forge_net_hub_fd(n), &sk, NULL);
	expect_true(nl_cache_nitems(hub) == links, "the hub changed: %d -> %d links", links,
		    nl_cache_nitems(hub));
	nl_cache_free(hub);
	nl_socket_free(sk);
	destroy(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_netplus_reachability, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_learner_adds_route, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_links_read_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_reaches_host, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identical_scenarios_apart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fault_injection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_netns_link: needs root (network namespaces, mounts)\n");
		return 1;
	}
	return cmocka_run_group_tests_name("netns_link", tests, NULL, NULL);
}
