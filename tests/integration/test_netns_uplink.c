/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The allowlist egress uplink (netns/netns.h: forge_net_uplink,
 * forge_net_uplink_get, forge_net_uplink_sweep, forge_net_uplink_remove) as root against the real
 * kernel. The real host namespace is never touched: every test makes a fake
 * host namespace (ext0 203.0.113.1/24, IPv4 forwarding on, a route to
 * 198.51.100.0/24) and behind it an "internet" namespace (wan0
 * 203.0.113.2/24, servers on 198.51.100.7 and .8), both held by fd only, and
 * hands the fake host to forge_net_uplink. ip(8) and nft(8) run inside them
 * to set up and to observe; the library itself runs no process.
 *
 * After every test the teardown checks that the fake host is exactly as it
 * was (`ip -j link`, `ip -j addr`, `ip -j route`, `nft -j list ruleset`
 * inside it; the uplink's host end goes with the hub namespace, which the
 * kernel frees asynchronously, so its links are awaited for a while), and
 * that the test process leaked nothing: file descriptors, mounts below and
 * entries in the netns directory, the thread's own network namespace and its
 * links.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "netns/netns.h"
#include "tests/integration/netns_testlib.h"

#define PREFIX	   "ftest"
#define HOST_TABLE PREFIX "_up"
#define PORT	   7777
#define SERVER	   "198.51.100.7" /* allowlisted, port PORT only */
#define OTHER	   "198.51.100.8" /* never allowlisted */
#define HOST_EXT   "203.0.113.1"  /* the fake host's own address: allowlisted by CIDR */
#define INET_WAN   "203.0.113.2"  /* the internet namespace's: allowlisted by CIDR */
#define GATEWAY	   "10.10.0.254"  /* the hub on learner_net */
#define DENY	   "counter|limit rate 10/second|log prefix \"FORGE_EGRESS_DENY \"|drop"
#define CT_OK	   "meta nfproto ipv4|ct state established,related|accept"

/* ---------------------------------------------------------------- state */


static struct {
	struct tl_snapshot before;
	char *host_before; /* the fake host's state after set-up */
	char dir[64];	   /* stands in for /run/netns */
	int host, inet;	   /* the fake host and the internet behind it */
	struct forge_net *nets[2];
	struct forge_topology topo[2];
} T;

/* ---------------------------------------------------------------- the fake host */

/* What must come back after a teardown: the fake host's links, addresses,
 * routes and nftables ruleset. */
static char *host_state(void)
{
	static const char *const what[] = {"ip -j link show", "ip -j addr show", "ip -j route show",
					   "nft -j list ruleset"};
	size_t len = 0;
	char *all = NULL;

	for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
		char *out = cmd(T.host, what[i]);
		char *grown = realloc(all, len + strlen(what[i]) + strlen(out) + 3);
		assert_non_null(grown);
		all = grown;
		len += (size_t)sprintf(all + len, "%s\n%s\n", what[i], out);
		free(out);
	}
	return all;
}

/* The fake host as before, looking again every 20 ms (500 looks at most)
 * while the kernel frees hub namespaces: the uplink's host end goes with them. */
static bool host_back_to_before(char **now)
{
	for (int i = 0; i < 500; i++) {
		*now = host_state();
		if (strcmp(*now, T.host_before) == 0)
			return true;
		free(*now);
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	*now = host_state();
	return false;
}

/* ---------------------------------------------------------------- namespaces */

/* A new namespace held by fd only: IPv6 off before any link, lo up. */
static int new_netns(void)
{
	struct forge_err err = {0};
	int fd = -1;

	expect_true(forge_net_new_netns(&fd, &err) == 0, "new netns: %s", err.msg);
	track_fd(fd);
	run(fd, "ip link set lo up");
	return fd;
}

static int setup(void **state)
{
	(void)state;
	memset(&T, 0, sizeof(T));
	tl_fds_init();
	forge_net_fault_hook = NULL;
	snprintf(T.dir, sizeof(T.dir), "/tmp/forge-uplink-XXXXXX");
	if (!mkdtemp(T.dir))
		return -1;
	tl_snapshot_take(&T.before, T.dir);
	T.host = new_netns();
	T.inet = new_netns();
	run(T.host, "ip link add ext0 type veth peer name wan0 netns /proc/%d/fd/%d", (int)getpid(),
	    T.inet);
	run(T.host, "ip addr add " HOST_EXT "/24 dev ext0");
	run(T.host, "ip link set ext0 up");
	run(T.host, "ip route add 198.51.100.0/24 via " INET_WAN);
	run(T.inet, "ip addr add " INET_WAN "/24 dev wan0");
	run(T.inet, "ip link set wan0 up");
	run(T.inet, "ip addr add " SERVER "/32 dev lo");
	run(T.inet, "ip addr add " OTHER "/32 dev lo");
	set_knob(T.host, "ipv4/ip_forward", "1");
	T.host_before = host_state();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *host_now = NULL;

	forge_net_fault_hook = NULL;
	for (size_t i = 0; i < 2; i++)
		forge_net_destroy(T.nets[i], NULL);
	bool host_same = host_back_to_before(&host_now);
	if (!host_same)
		print_error("the fake host changed:\n--- before\n%s\n--- after\n%s\n",
			    T.host_before, host_now);
	free(host_now);
	free(T.host_before);
	close_all_tracked();
	bool same = tl_nothing_left(T.dir, &T.before);
	return same && host_same ? 0 : -1;
}

/* ---------------------------------------------------------------- sockets */

/* A connect that must succeed: 2 s is plenty. */
static int tcp_connect(int ns, const char *dst, uint16_t port)
{
	return tcp_connect_within(ns, dst, port, 2000);
}

/* A connect that must fail: dropped SYNs are retried, never answered, so a
 * short bound only shortens the wait (the drop counters say who dropped). */
static bool tcp_refused(int ns, const char *dst, uint16_t port)
{
	return tcp_connect_within(ns, dst, port, 300) == ETIMEDOUT;
}

/* dst:PORT reached from ns, the server on listener seeing the source want. */
static void expect_reach(int ns, int listener, const char *dst, const char *want)
{
	char from[INET_ADDRSTRLEN];
	int rc = tcp_connect(ns, dst, PORT);

	expect_true(rc == 0, "connect to %s:%d failed: %s", dst, PORT, strerror(rc));
	accepted_from(listener, 1000, from);
	expect_true(strcmp(from, want) == 0,
		    "the server at %s saw the connection from \"%s\", not %s", dst, from, want);
}

/* ---------------------------------------------------------------- topologies */

/* One subnet, learner_net 10.10.0.0/24 with the hub at GATEWAY, a learner
 * (10.10.0.2, default route via the hub) and a bystander without a route;
 * allowlist SERVER:PORT and 203.0.113.0/24:PORT, or egress deny. */
static struct forge_topology *lab(size_t slot, const char *scenario, bool allowlist)
{
	static const char *const fmt =
	    "{'scenario': '%s',"
	    " 'subnets': [{'name': 'learner_net', 'cidr': '10.10.0.0/24'%s}],"
	    " 'containers': [{'name': 'learner', 'gateway': '%s',"
	    "                 'networks': [{'subnet': 'learner_net', 'ip': '10.10.0.2'}]},"
	    "                {'name': 'bystander', 'networks': [{'subnet': 'learner_net'}]}]%s}";
	char text[1024], gw[64];
	struct forge_err err = {0};
	json_error_t jerr;

	snprintf(gw, sizeof(gw), ", 'uplink_gateway': '%s'", GATEWAY);
	snprintf(text, sizeof(text), fmt, scenario, allowlist ? gw : "",
		 allowlist ? GATEWAY : "10.10.0.1",
		 allowlist ? ", 'egress': {'allowlist': ["
			     "{'cidr': '" SERVER "/32', 'proto': 'tcp', 'ports': [7777]},"
			     "{'cidr': '203.0.113.0/24', 'proto': 'tcp', 'ports': [7777]}]}"
			   : "");
	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	json_t *j = json_loads(text, 0, &jerr);
	expect_true(j, "test JSON: %s", jerr.text);
	struct forge_topology *t = &T.topo[slot];
	int rc = forge_topology_from_json(j, t, &err);
	json_decref(j);
	expect_true(rc == 0, "topology: %s", err.msg);
	rc = forge_topology_validate(t, PREFIX, &err);
	expect_true(rc == 0, "validate: %s", err.msg);
	return t;
}

/* The hub and its uplink (when asked), without containers. */
static struct forge_net *create(size_t slot, const struct forge_topology *t, bool uplink)
{
	struct forge_err err = {0};
	int rc = forge_net_create(t, PREFIX, T.dir, &T.nets[slot], &err);

	expect_true(rc == 0, "forge_net_create: %s", err.msg);
	if (uplink) {
		rc = forge_net_uplink(T.nets[slot], T.host, &err);
		expect_true(rc == 0, "forge_net_uplink: %d %s", rc, err.msg);
	}
	return T.nets[slot];
}

/* Hub, uplink, and the containers attached; their namespaces in ns[]. */
static struct forge_net *build(size_t slot, const struct forge_topology *t, int ns[2])
{
	struct forge_net *n = create(slot, t, true);
	struct forge_err err = {0};

	for (size_t c = 0; c < t->n_containers; c++) {
		ns[c] = new_netns();
		int rc = forge_net_attach(n, t->containers[c].name, ns[c], &err);
		expect_true(rc == 0, "attach %s: %s", t->containers[c].name, err.msg);
	}
	return n;
}

static void destroy(size_t slot)
{
	struct forge_err err = {0};
	int rc = forge_net_destroy(T.nets[slot], &err);

	T.nets[slot] = NULL;
	expect_true(rc == 0, "forge_net_destroy: %s", err.msg);
}

/* Whether the fake host has a link of that name (looked up from inside). */
static bool host_link_exists(const char *name)
{
	int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(own >= 0);
	assert_int_equal(setns(T.host, CLONE_NEWNET), 0);
	unsigned index = if_nametoindex(name);
	if (setns(own, CLONE_NEWNET) < 0)
		abort();
	close(own);
	return index != 0;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static struct forge_net_uplink_info info_of(const struct forge_net *n)
{
	struct forge_net_uplink_info u;

	assert_int_equal(forge_net_uplink_get(n, &u), 0);
	return u;
}

static const char *text_of(struct in_addr a, char buf[INET_ADDRSTRLEN])
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* ---------------------------------------------------------------- rulesets */

/* Packets counted by the DENY rules of chain (all chains when NULL) of a table. */
static long long denied(int ns, const char *table, const char *chain)
{
	json_t *j = read_ok(ns, table);
	long long sum = 0;
	size_t i, r;
	json_t *c, *rule;

	json_array_foreach(json_object_get(j, "chains"), i, c)
	{
		if (chain && strcmp(json_string_value(json_object_get(c, "name")), chain) != 0)
			continue;
		json_array_foreach(json_object_get(c, "rules"), r, rule)
		{
			json_t *expr = json_object_get(rule, "expr");
			char all[1024] = "";
			size_t k;
			json_t *term;
			json_array_foreach(expr, k, term)
			{
				strncat(all, json_string_value(term),
					sizeof(all) - strlen(all) - 2);
				strcat(all, "|");
			}
			if (strstr(all, DENY "|"))
				sum += json_integer_value(json_object_get(rule, "packets"));
		}
	}
	json_decref(j);
	return sum;
}

/* The fake host's link aliased <prefix>:<scenario>:uplink: whether it exists. */
static bool host_has_uplink_of(const char *scenario)
{
	char want[96];

	snprintf(want, sizeof(want), "\"ifalias\":\"" PREFIX ":%s:uplink\"", scenario);
	char *links = cmd(T.host, "ip -j -d link show");
	bool found = strstr(links, want) != NULL;
	free(links);
	return found;
}

/* ---------------------------------------------------------------- tests */

/* The allowlist reaches out, masqueraded twice: the server sees the fake
 * host's address. Anything else is refused, the host itself included. */
static void test_allowlist_reaches_out(void **state)
{
	(void)state;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], line[160];
	int ns[2];
	struct forge_net *n = build(0, lab(0, "up1", true), ns);
	struct forge_net_uplink_info u = info_of(n);
	int server = tcp_listen(T.inet, PORT), on_host = tcp_listen(T.host, PORT);

	expect_true(strncmp(u.host_ifname, PREFIX "-u", strlen(PREFIX "-u")) == 0 &&
			strlen(u.host_ifname) == strlen(PREFIX "-u") + 4,
		    "host end \"%s\"", u.host_ifname);
	uint32_t h = ntohl(u.host_addr.s_addr);
	expect_true(u.prefix_len == 30 && (h & 0xffff0000) == 0xa9fe0000 && (h & 3) == 1 &&
			ntohl(u.hub_addr.s_addr) == h + 1,
		    "uplink %s/%u, hub %s", text_of(u.host_addr, a), u.prefix_len,
		    text_of(u.hub_addr, b));
	expect_true(host_has_uplink_of("up1"), "no host link aliased " PREFIX ":up1:uplink");

	expect_reach(ns[0], server, SERVER, HOST_EXT);
	expect_reach(ns[0], server, INET_WAN, HOST_EXT);

	/* Refused by the container's own table (the SYN dropped on output: the
	 * connect times out), counted there and not by the hub. */
	uint64_t before = 0, after = 0;
	struct forge_err err = {0};
	long long hub_before = denied(forge_net_hub_fd(n), PREFIX, NULL);
	assert_int_equal(forge_nft_drop_count(ns[0], PREFIX, &before, &err), 0);
	expect_true(tcp_refused(ns[0], SERVER, PORT + 1), "a port off the allowlist");
	expect_true(tcp_refused(ns[0], OTHER, PORT), "an address off the allowlist");
	assert_int_equal(forge_nft_drop_count(ns[0], PREFIX, &after, &err), 0);
	expect_true(after >= before + 2, "container drops %llu -> %llu", (unsigned long long)before,
		    (unsigned long long)after);
	expect_true(denied(forge_net_hub_fd(n), PREFIX, NULL) == hub_before,
		    "the hub saw what the container dropped");

	/* The host's own address is inside an allowlisted CIDR: container and hub
	 * let it through, the host's input chain drops it. */
	long long host_in = denied(T.host, HOST_TABLE, "input");
	expect_true(tcp_refused(ns[0], HOST_EXT, PORT), "the host itself reached");
	expect_true(!accepted_from(on_host, 100, a),
		    "the host's own listener got a connection from %s", a);
	expect_true(denied(T.host, HOST_TABLE, "input") > host_in, "host input drops did not rise");

	/* Where things are: the hub's address on the bridge and up0, its route. */
	char *addrs = cmd(forge_net_hub_fd(n), "ip -o -4 addr show");
	snprintf(line, sizeof(line), "up0    inet %s/30", text_of(u.hub_addr, a));
	expect_true(strstr(addrs, "br0    inet " GATEWAY "/24") && strstr(addrs, line),
		    "hub addresses:\n%s", addrs);
	free(addrs);
	char *routes = cmd(forge_net_hub_fd(n), "ip -4 route show default");
	snprintf(line, sizeof(line), "default via %s dev up0", text_of(u.host_addr, a));
	expect_true(strstr(routes, line), "hub default route: %s", routes);
	free(routes);
	expect_true(knob_is(forge_net_hub_fd(n), "ipv4/ip_forward", "1"),
		    "the hub does not forward");
	expect_true(knob_is(forge_net_hub_fd(n), "ipv4/conf/all/send_redirects", "0"),
		    "the hub sends redirects");
	expect_true(knob_is(T.host, "ipv4/ip_forward", "1"), "the host's ip_forward changed");
	snprintf(line, sizeof(line), "ipv6/conf/%s/disable_ipv6", u.host_ifname);
	expect_true(knob_is(T.host, line, "1"), "IPv6 is on on the host end");
	destroy(0);
}

/* Exactly the asked-for rules, read back through libnftnl and listed alike by nft(8). */
static void test_rules_read_back(void **state)
{
	(void)state;
	char tag[64], x[48], masq[64], a[INET_ADDRSTRLEN];
	struct forge_net *n = create(0, lab(0, "rules", true), true);
	struct forge_net_uplink_info u = info_of(n);

	static const char *const hub_input[] = {"iifname \"lo\"|accept", CT_OK,
						"iifname \"br*\"|accept", DENY, NULL};
	static const char *const hub_forward[] = {
	    CT_OK, "iifname \"br*\"|oifname \"up0\"|ip saddr 10.10.0.0/24|jump egress", DENY, NULL};
	static const char *const hub_egress[] = {"ip daddr " SERVER "|tcp dport 7777|accept",
						 "ip daddr 203.0.113.0/24|tcp dport 7777|accept",
						 DENY, NULL};
	static const char *const hub_post[] = {"oifname \"up0\"|masquerade", NULL};
	json_t *want =
	    json_pack("{s:s, s:s, s:[o,o,o,o]}", "table", PREFIX, "family", "inet", "chains",
		      chain_json("input", "input", "drop", NULL, hub_input),
		      chain_json("forward", "forward", "drop", NULL, hub_forward),
		      chain_json("egress", NULL, NULL, NULL, hub_egress),
		      chain_json("postrouting", "postrouting", "accept", NULL, hub_post));
	json_t *got = read_ok(forge_net_hub_fd(n), PREFIX);
	expect_json_equal(got, want);
	expect_nft_lists_same(forge_net_hub_fd(n), PREFIX, got);
	json_decref(got);
	json_decref(want);

	snprintf(tag, sizeof(tag), "comment \"" PREFIX ":rules:uplink\"");
	snprintf(x, sizeof(x), "\"%s\"", u.host_ifname);
	snprintf(masq, sizeof(masq), "ip saddr %s|masquerade", text_of(u.hub_addr, a));
	char r[6][160];
	snprintf(r[0], sizeof(r[0]), "iifname %s|" CT_OK, x);
	snprintf(r[1], sizeof(r[1]), "iifname %s|ip daddr " SERVER "|tcp dport 7777|accept", x);
	snprintf(r[2], sizeof(r[2]), "iifname %s|ip daddr 203.0.113.0/24|tcp dport 7777|accept", x);
	snprintf(r[3], sizeof(r[3]), "iifname %s|" DENY, x);
	snprintf(r[4], sizeof(r[4]), "oifname %s|" CT_OK, x);
	snprintf(r[5], sizeof(r[5]), "oifname %s|" DENY, x);
	const char *const host_forward[] = {r[0], r[1], r[2], r[3], r[4], r[5], NULL};
	const char *const host_input[] = {r[3], NULL};
	const char *const host_post[] = {masq, NULL};
	want = json_pack("{s:s, s:s, s:[o,o,o]}", "table", HOST_TABLE, "family", "inet", "chains",
			 chain_json("input", "input", "accept", tag, host_input),
			 chain_json("forward", "forward", "accept", tag, host_forward),
			 chain_json("postrouting", "postrouting", "accept", tag, host_post));
	got = read_ok(T.host, HOST_TABLE);
	expect_json_equal(got, want);
	expect_nft_lists_same(T.host, HOST_TABLE, got);
	json_decref(got);
	json_decref(want);

	/* Chain types and priorities are not in the JSON: nft shows them. */
	char *listing = cmd(T.host, "nft list table inet " HOST_TABLE);
	expect_true(
	    strstr(listing, "type filter hook forward priority filter; policy accept;") &&
		strstr(listing, "type filter hook input priority filter; policy accept;") &&
		strstr(listing, "type nat hook postrouting priority srcnat; policy accept;"),
	    "host chains:\n%s", listing);
	free(listing);
	destroy(0);
}

/* Each layer holds on its own: without the container's table the hub drops,
 * without the hub's the host drops; nothing new comes in from outside. */
static void test_defence_in_depth(void **state)
{
	(void)state;
	char a[INET_ADDRSTRLEN];
	int ns[2];
	struct forge_net *n = build(0, lab(0, "layers", true), ns);
	int hub = forge_net_hub_fd(n), server = tcp_listen(T.inet, PORT);
	struct forge_net_uplink_info u = info_of(n);

	run(ns[0], "nft delete table inet " PREFIX); /* as a container with CAP_NET_ADMIN could */
	long long hub_before = denied(hub, PREFIX, "egress");
	expect_true(tcp_refused(ns[0], SERVER, PORT + 1), "hub let a port through");
	expect_true(tcp_refused(ns[0], OTHER, PORT), "hub let an address through");
	expect_true(denied(hub, PREFIX, "egress") >= hub_before + 2,
		    "hub egress drops did not rise");
	expect_reach(ns[0], server, SERVER, HOST_EXT);

	/* Nothing new from the host or the internet into the hub. */
	long long hub_in = denied(hub, PREFIX, "input");
	expect_true(tcp_refused(T.host, text_of(u.hub_addr, a), PORT), "host to hub");
	expect_true(denied(hub, PREFIX, "input") > hub_in, "hub input drops did not rise");
	run(T.inet, "ip route add 169.254.0.0/16 via " HOST_EXT);
	long long host_out = denied(T.host, HOST_TABLE, "forward");
	expect_true(tcp_refused(T.inet, text_of(u.hub_addr, a), PORT), "internet to hub");
	expect_true(denied(T.host, HOST_TABLE, "forward") > host_out,
		    "host forward drops toward the uplink did not rise");

	run(hub, "nft delete table inet " PREFIX);
	long long host_fwd = denied(T.host, HOST_TABLE, "forward");
	expect_true(tcp_refused(ns[0], SERVER, PORT + 1), "host let a port through");
	expect_true(denied(T.host, HOST_TABLE, "forward") > host_fwd,
		    "host forward drops did not rise");
	destroy(0);
}

/* Deny-only topologies get no uplink at all. */
static void test_deny_makes_no_uplink(void **state)
{
	(void)state;
	struct forge_err err = {0};
	struct forge_net_uplink_info u;
	struct forge_net *n = create(0, lab(0, "deny", false), false);

	assert_int_equal(forge_net_uplink(n, T.host, &err), 0);
	assert_int_equal(forge_net_uplink_get(n, &u), -ENOENT);
	expect_true(!host_has_uplink_of("deny"), "a deny topology made an uplink");
	char *now = host_state();
	expect_true(strcmp(now, T.host_before) == 0, "a deny topology changed the host:\n%s", now);
	free(now);
	char *links = cmd(forge_net_hub_fd(n), "ip -o link show");
	expect_true(!strstr(links, "up0"), "the hub has an uplink:\n%s", links);
	free(links);
	expect_true(knob_is(forge_net_hub_fd(n), "ipv4/ip_forward", "0"), "the hub forwards");
	destroy(0);
}

/* A host that does not forward is refused, named, and left as it was. */
static void test_host_not_forwarding(void **state)
{
	(void)state;
	struct forge_err err = {0};
	struct forge_net_uplink_info u;
	struct forge_net *n = create(0, lab(0, "nofwd", true), false);

	set_knob(T.host, "ipv4/ip_forward", "0");
	int rc = forge_net_uplink(n, T.host, &err);
	expect_true(rc == -ENETUNREACH && strstr(err.msg, "allowlist egress needs "
							  "net.ipv4.ip_forward=1 in the host "
							  "namespace"),
		    "refusal: %d \"%s\"", rc, err.msg);
	assert_int_equal(forge_net_uplink_get(n, &u), -ENOENT);
	expect_true(knob_is(T.host, "ipv4/ip_forward", "0"), "Forge changed the host's knob");
	set_knob(T.host, "ipv4/ip_forward", "1");
	char *now = host_state();
	expect_true(strcmp(now, T.host_before) == 0, "a refused uplink changed the host:\n%s", now);
	free(now);

	/* Nothing was held back: once the host forwards, the same call works. */
	rc = forge_net_uplink(n, T.host, &err);
	expect_true(rc == 0, "after the knob: %d %s", rc, err.msg);
	destroy(0);
}

/* Two scenarios with the same subnets share the host's table; each takes
 * its own rules away. */
static void test_two_scenarios(void **state)
{
	(void)state;
	int na[2], nb[2];
	struct forge_net *a = build(0, lab(0, "twoa", true), na);
	struct forge_net *b = build(1, lab(1, "twob", true), nb);
	struct forge_net_uplink_info ua = info_of(a), ub = info_of(b);
	int server = tcp_listen(T.inet, PORT);

	expect_true(strcmp(ua.host_ifname, ub.host_ifname) != 0 &&
			ua.host_addr.s_addr != ub.host_addr.s_addr,
		    "both uplinks on %s", ua.host_ifname);
	expect_reach(na[0], server, SERVER, HOST_EXT);
	expect_reach(nb[0], server, SERVER, HOST_EXT);
	char *listing = cmd(T.host, "nft list table inet " HOST_TABLE);
	expect_true(strstr(listing, PREFIX ":twoa:uplink") &&
			strstr(listing, PREFIX ":twob:uplink"),
		    "host table:\n%s", listing);
	free(listing);

	destroy(0);
	expect_reach(nb[0], server, SERVER, HOST_EXT);
	listing = cmd(T.host, "nft list table inet " HOST_TABLE);
	expect_true(!strstr(listing, PREFIX ":twoa:uplink") &&
			strstr(listing, PREFIX ":twob:uplink"),
		    "host table after the first teardown:\n%s", listing);
	free(listing);
	destroy(1);
	listing = cmd(T.host, "nft list tables");
	expect_true(!strstr(listing, HOST_TABLE), "the host table outlived its last scenario");
	free(listing);
}

/* The same host state gives the same block; a block in use is skipped. */
static void test_block_choice(void **state)
{
	(void)state;
	char a[INET_ADDRSTRLEN], line[128];
	const struct forge_topology *t = lab(0, "blocks", true);
	struct forge_net_uplink_info first = info_of(create(0, t, true));
	char *now = NULL;

	uint32_t third = (ntohl(first.host_addr.s_addr) >> 8) & 0xff;
	expect_true(third != 0 && third != 169 && third != 170 && third != 255, "reserved block %s",
		    text_of(first.host_addr, a));
	destroy(0);
	expect_true(host_back_to_before(&now), "the host end did not go");
	free(now);

	/* Timed for the record only: the uplink, its teardown, and how long the
	 * kernel takes to free the hub and with it the host end. */
	struct timespec t0, t1, t2, t3;
	struct forge_err err = {0};
	assert_int_equal(forge_net_create(t, PREFIX, T.dir, &T.nets[0], &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(forge_net_uplink(T.nets[0], T.host, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct forge_net_uplink_info again = info_of(T.nets[0]);
	expect_true(memcmp(&again, &first, sizeof(first)) == 0, "%s then %s", first.host_ifname,
		    again.host_ifname);
	destroy(0);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	for (int i = 0; i < 10000 && host_link_exists(again.host_ifname); i++) {
		struct timespec ts = {0, 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t3);
	expect_true(host_back_to_before(&now), "the host end did not go");
	free(now);
	print_message("uplink: made in %.1f ms, torn down in %.1f ms (with the hub), host end gone "
		      "%.1f ms later\n",
		      ms_between(&t0, &t1), ms_between(&t1, &t2), ms_between(&t2, &t3));

	/* The block's second address on a link of the host's own. */
	struct in_addr taken = {.s_addr = htonl(ntohl(first.host_addr.s_addr) + 1)};
	run(T.host, "ip link add blocker type veth peer name blocker1");
	snprintf(line, sizeof(line), "ip addr add %s/32 dev blocker", text_of(taken, a));
	free(cmd(T.host, line));
	struct forge_net_uplink_info other = info_of(create(0, t, true));
	expect_true(other.host_addr.s_addr != first.host_addr.s_addr &&
			strcmp(other.host_ifname, first.host_ifname) != 0,
		    "the block in use was taken again: %s", other.host_ifname);
	destroy(0);
	run(T.host, "ip link del blocker");
}

static void test_fault_injection(void **state)
{
	(void)state;
	static const char *const steps[] = {"uplink",	     "uplink-veth", "uplink-host",
					    "uplink-hub",    "uplink-nft",  "uplink-host-nft",
					    "uplink-forward"};
	const struct forge_topology *t = lab(0, "fault", true);

	/* Another scenario's rules in the host table must survive every step. */
	create(1, lab(1, "keep", true), true);
	char *keep_rules = cmd(T.host, "nft list table inet " HOST_TABLE);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct forge_err err = {0};
		char want[64];

		fault_step = steps[k];
		fault_hits = 0;
		forge_net_fault_hook = fail_at;
		int rc = forge_net_create(t, PREFIX, T.dir, &T.nets[0], &err);
		if (rc == 0)
			rc = forge_net_uplink(T.nets[0], T.host, &err);
		forge_net_fault_hook = NULL;
		snprintf(want, sizeof(want), "fault injected at %s", steps[k]);
		expect_true(rc == -EIO && fault_hits == 1 && strstr(err.msg, want),
			    "step %s: rc %d, hits %d, \"%s\"", steps[k], rc, fault_hits, err.msg);
		destroy(0);
		expect_true(count_entries(T.dir) == 1, "step %s: hub left in %s", steps[k], T.dir);
		for (int i = 0; i < 500 && host_has_uplink_of("fault"); i++) {
			struct timespec ts = {0, 20 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		expect_true(!host_has_uplink_of("fault"), "step %s: host end left", steps[k]);
		char *rules = cmd(T.host, "nft list table inet " HOST_TABLE);
		expect_true(strcmp(rules, keep_rules) == 0, "step %s: host table now:\n%s",
			    steps[k], rules);
		free(rules);
	}
	free(keep_rules);
	destroy(1);
}

/* What a crashed forged left is found by alias and comment and swept; a
 * live scenario is kept. */
/* After a sweep or a removal: scenario gone's host end and host rules are
 * gone, scenario "live"'s are still there. */
static void expect_only_live_uplink(const char *gone, const char *after)
{
	char tag[64];
	snprintf(tag, sizeof(tag), PREFIX ":%s:uplink", gone);
	expect_true(!host_has_uplink_of(gone), "%s's host end survived %s", gone, after);
	expect_true(host_has_uplink_of("live"), "%s took the live uplink", after);
	char *listing = cmd(T.host, "nft list table inet " HOST_TABLE);
	expect_true(!strstr(listing, tag) && strstr(listing, PREFIX ":live:uplink"),
		    "host table after %s:\n%s", after, listing);
	free(listing);
}

/* The "crash": a child builds the scenario with its uplink and exits without
 * a teardown. Its hub stays alive through the bind mount it leaves in T.dir. */
static void crash_build(const struct forge_topology *t)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct forge_net *n = NULL;
		struct forge_err err = {0};
		if (forge_net_create(t, PREFIX, T.dir, &n, &err) < 0 ||
		    forge_net_uplink(n, T.host, &err) < 0)
			_exit(1);
		_exit(0);
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

static void test_sweep(void **state)
{
	(void)state;
	char hub_path[128];
	const struct forge_topology *orphan = lab(1, "orph", true);
	int ns[2];

	crash_build(orphan);
	snprintf(hub_path, sizeof(hub_path), "%s/" PREFIX "-orph", T.dir);
	expect_true(host_has_uplink_of("orph"), "the orphan's host end is not there");

	build(0, lab(0, "live", true), ns);
	int server = tcp_listen(T.inet, PORT);
	const char *const live[] = {"live"};
	struct forge_err err = {0};
	int rc = forge_net_uplink_sweep(T.host, PREFIX, live, 1, &err);
	expect_true(rc == 0, "sweep: %d %s", rc, err.msg);
	expect_only_live_uplink("orph", "the sweep");
	expect_reach(ns[0], server, SERVER, HOST_EXT);

	/* Another instance's prefix is not this one's to sweep. */
	rc = forge_net_uplink_sweep(T.host, "ftes", NULL, 0, &err);
	expect_true(rc == 0 && host_has_uplink_of("live"), "sweep of prefix ftes: %d %s", rc,
		    err.msg);
	rc = forge_net_uplink_sweep(T.host, "Bad!", NULL, 0, &err);
	expect_true(rc == -EINVAL, "bad prefix: %d", rc);

	/* The orphan's hub goes the way a recovery would remove it. */
	assert_int_equal(umount2(hub_path, MNT_DETACH), 0);
	assert_int_equal(unlink(hub_path), 0);
	destroy(0);

	/* With everything gone, a sweep finds nothing and changes nothing. */
	char *now = NULL;
	expect_true(host_back_to_before(&now), "not back before the last sweep");
	free(now);
	rc = forge_net_uplink_sweep(T.host, PREFIX, NULL, 0, &err);
	expect_true(rc == 0, "sweep of nothing: %d %s", rc, err.msg);
}

/* A teardown after a restart (no forge_net any more): the one scenario's
 * uplink goes by tag, the others' stay. */
static void test_remove_one(void **state)
{
	(void)state;
	char hub_path[128];
	const struct forge_topology *gone = lab(1, "gone", true);
	crash_build(gone);
	snprintf(hub_path, sizeof(hub_path), "%s/" PREFIX "-gone", T.dir);
	int ns[2];
	build(0, lab(0, "live", true), ns);
	expect_true(host_has_uplink_of("gone") && host_has_uplink_of("live"),
		    "both host ends should be there");

	struct forge_err err = {0};
	int rc = forge_net_uplink_remove(T.host, PREFIX, "gone", &err);
	expect_true(rc == 0, "remove: %d %s", rc, err.msg);
	expect_only_live_uplink("gone", "the removal");
	rc = forge_net_uplink_remove(T.host, PREFIX, "gone", &err);
	expect_true(rc == 0, "removing it again: %d %s", rc, err.msg);
	rc = forge_net_uplink_remove(T.host, PREFIX, "", &err);
	expect_true(rc == -EINVAL, "an empty scenario id: %d", rc);

	assert_int_equal(umount2(hub_path, MNT_DETACH), 0);
	assert_int_equal(unlink(hub_path), 0);
	destroy(0);
}

static void test_refusals(void **state)
{
	(void)state;
	struct forge_err err = {0};
	struct forge_net *n = create(0, lab(0, "refuse", true), false);
	int file = track_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));

	int rc = forge_net_uplink(NULL, T.host, &err);
	expect_true(rc == -EINVAL, "no network: %d", rc);
	rc = forge_net_uplink(n, file, &err);
	expect_true(rc == -EINVAL && strstr(err.msg, "is not a network namespace"),
		    "a file: %d \"%s\"", rc, err.msg);
	rc = forge_net_uplink(n, forge_net_hub_fd(n), &err);
	expect_true(rc == -EINVAL && strstr(err.msg, "the hub's own namespace"),
		    "the hub: %d \"%s\"", rc, err.msg);
	rc = forge_net_uplink(n, T.host, &err);
	expect_true(rc == 0, "uplink: %d %s", rc, err.msg);
	rc = forge_net_uplink(n, T.host, &err);
	expect_true(rc == -EEXIST && strstr(err.msg, "already"), "twice: %d \"%s\"", rc, err.msg);
	rc = forge_net_uplink_sweep(file, PREFIX, NULL, 0, &err);
	expect_true(rc == -EINVAL, "sweep of a file: %d", rc);
	destroy(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_allowlist_reaches_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rules_read_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_defence_in_depth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deny_makes_no_uplink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_not_forwarding, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_scenarios, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_block_choice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fault_injection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_netns_uplink: needs root (network namespaces, mounts)\n");
		return 1;
	}
	return cmocka_run_group_tests_name("netns_uplink", tests, NULL, NULL);
}
