/* SPDX-License-Identifier: Apache-2.0 */
/* netns/topology.c: strict JSON parsing, validation, automatic addresses, CIDR parsing. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "netns/netns.h"

/* Test JSON is written with single quotes (no escaping in C); parse() turns
 * them into double quotes. */
static int parse(const char *text, struct forge_topology *t, struct forge_err *err)
{
	char *copy = strdup(text), *p;
	json_error_t jerr;
	json_t *j;
	int rc;

	assert_non_null(copy);
	for (p = copy; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(copy, JSON_ALLOW_NUL, &jerr);
	if (!j)
		fail_msg("test JSON does not load: %s: %s", jerr.text, copy);
	free(copy);
	rc = forge_topology_from_json(j, t, err);
	json_decref(j);
	return rc;
}

static void parse_ok(const char *text, struct forge_topology *t)
{
	struct forge_err err = {0};

	if (parse(text, t, &err))
		fail_msg("parse failed: %s", err.msg);
}

static void validate_ok(struct forge_topology *t)
{
	struct forge_err err = {0};

	if (forge_topology_validate(t, "forge", &err))
		fail_msg("validate failed: %s", err.msg);
}

static void assert_addr(struct in_addr a, const char *expect)
{
	char text[INET_ADDRSTRLEN];

	assert_non_null(inet_ntop(AF_INET, &a, text, sizeof(text)));
	assert_string_equal(text, expect);
}

/* Every message checked below is asserted with its code and a fragment. */
static void assert_err(int rc, const struct forge_err *err, const char *fragment)
{
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(err->code, -EINVAL);
	if (!strstr(err->msg, fragment))
		fail_msg("message \"%s\" lacks \"%s\"", err->msg, fragment);
}

/* Validation with the default prefix refuses t with a message containing fragment. */
static void assert_invalid(struct forge_topology *t, const char *fragment)
{
	struct forge_err err = {0};

	assert_err(forge_topology_validate(t, "forge", &err), &err, fragment);
}

/* t becomes good with one change, which validation must refuse with fragment. */
#define ASSERT_REFUSED(t, good, change, fragment)                                                  \
	do {                                                                                       \
		(t) = (good);                                                                      \
		change;                                                                            \
		assert_invalid(&(t), fragment);                                                    \
	} while (0)

/* Learner listed before the router: the router's static .1 must still be
 * reserved before the learner's automatic address is chosen. */
static const char *const netplus =
    "{'scenario': 'ab12cd34',"
    " 'subnets': [{'name': 'learner_net', 'cidr': '10.10.0.0/24'},"
    "             {'name': 'target_net', 'cidr': '10.20.0.0/24'}],"
    " 'containers': ["
    "  {'name': 'learner', 'gateway': '10.10.0.1', 'networks': [{'subnet': 'learner_net'}]},"
    "  {'name': 'router', 'forwarding': true, 'ipv6': false,"
    "   'networks': [{'subnet': 'learner_net', 'ip': '10.10.0.1'},"
    "                {'subnet': 'target_net', 'ip': '10.20.0.1'}]},"
    "  {'name': 'target', 'gateway': '10.20.0.1', 'networks': [{'subnet': 'target_net'}]}]}";

static void test_netplus(void **state)
{
	struct forge_topology t;
	const struct forge_net_container *learner = &t.containers[0], *router = &t.containers[1],
					 *target = &t.containers[2];

	(void)state;
	parse_ok(netplus, &t);
	assert_string_equal(t.scenario, "ab12cd34");
	assert_int_equal(t.egress, FORGE_EGRESS_DENY); /* "egress" absent */
	assert_int_equal(t.n_allow, 0);
	assert_int_equal(t.n_subnets, 2);
	assert_string_equal(t.subnets[0].name, "learner_net");
	assert_addr(t.subnets[0].net, "10.10.0.0");
	assert_int_equal(t.subnets[0].prefix_len, 24);
	assert_string_equal(t.subnets[1].name, "target_net");
	assert_addr(t.subnets[1].net, "10.20.0.0");
	assert_int_equal(t.n_containers, 3);
	assert_string_equal(learner->name, "learner");
	assert_true(learner->has_gateway);
	assert_false(learner->forwarding);
	assert_int_equal(learner->n_ifaces, 1);
	assert_false(learner->ifaces[0].static_addr);
	assert_string_equal(router->name, "router");
	assert_true(router->forwarding);
	assert_false(router->ipv6);
	assert_false(router->has_gateway);
	assert_int_equal(router->n_ifaces, 2);
	assert_true(router->ifaces[0].static_addr);
	assert_string_equal(router->ifaces[1].subnet, "target_net");

	validate_ok(&t);
	assert_addr(learner->ifaces[0].addr, "10.10.0.2");
	assert_addr(learner->gateway, "10.10.0.1");
	assert_addr(router->ifaces[0].addr, "10.10.0.1");
	assert_addr(router->ifaces[1].addr, "10.20.0.1");
	assert_addr(target->ifaces[0].addr, "10.20.0.2");
	assert_addr(target->gateway, "10.20.0.1");
	assert_false(learner->ifaces[0].static_addr); /* still automatic after validation */
}

static void test_deterministic(void **state)
{
	struct forge_topology a, b;

	(void)state;
	parse_ok(netplus, &a);
	validate_ok(&a);
	b = a;
	validate_ok(&b);
	assert_memory_equal(&a, &b, sizeof(a));
	parse_ok(netplus, &b);
	validate_ok(&b);
	assert_memory_equal(&a, &b, sizeof(a));
}

/* Automatic addresses fill the gaps the static ones leave, lowest first,
 * containers in order, then interfaces in order. */
static void test_automatic_fills_gaps(void **state)
{
	struct forge_topology t;

	(void)state;
	parse_ok("{'scenario': 's1', 'subnets': [{'name': 'a', 'cidr': '192.168.7.0/29'},"
		 " {'name': 'b', 'cidr': '172.16.0.0/16'}],"
		 " 'containers': [{'name': 'c1', 'networks': [{'subnet': 'a'}, {'subnet': 'b'}]},"
		 "  {'name': 'c2', 'networks': [{'subnet': 'a', 'ip': '192.168.7.1'}]},"
		 "  {'name': 'c3', 'networks': [{'subnet': 'a'}]},"
		 "  {'name': 'c4', 'networks': [{'subnet': 'b'}, {'subnet': 'a', 'ip': "
		 "'192.168.7.3'}]},"
		 "  {'name': 'c5', 'networks': [{'subnet': 'a'}]}]}",
		 &t);
	validate_ok(&t);
	assert_addr(t.containers[0].ifaces[0].addr, "192.168.7.2");
	assert_addr(t.containers[0].ifaces[1].addr, "172.16.0.1");
	assert_addr(t.containers[1].ifaces[0].addr, "192.168.7.1");
	assert_addr(t.containers[2].ifaces[0].addr, "192.168.7.4");
	assert_addr(t.containers[3].ifaces[0].addr, "172.16.0.2");
	assert_addr(t.containers[3].ifaces[1].addr, "192.168.7.3");
	assert_addr(t.containers[4].ifaces[0].addr, "192.168.7.5");
}

static void test_allowlist(void **state)
{
	struct forge_topology t;

	(void)state;
	parse_ok("{'scenario': 'x9', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24',"
		 "                             'uplink_gateway': '10.0.0.254'}],"
		 " 'containers': [{'name': 'solo'}],"
		 " 'egress': {'allowlist': [{'cidr': '192.0.2.0/24', 'proto': 'tcp',"
		 "                           'ports': [80, 443]},"
		 "                          {'cidr': '198.51.100.7/32', 'proto': 'udp'}]}}",
		 &t);
	assert_true(t.subnets[0].has_uplink_gateway);
	assert_addr(t.subnets[0].uplink_gateway, "10.0.0.254");
	assert_int_equal(t.egress, FORGE_EGRESS_ALLOWLIST);
	assert_int_equal(t.n_allow, 2);
	assert_addr(t.allow[0].net, "192.0.2.0");
	assert_int_equal(t.allow[0].prefix_len, 24);
	assert_int_equal(t.allow[0].proto, IPPROTO_TCP);
	assert_int_equal(t.allow[0].n_ports, 2);
	assert_int_equal(t.allow[0].ports[0], 80);
	assert_int_equal(t.allow[0].ports[1], 443);
	assert_int_equal(t.allow[1].proto, IPPROTO_UDP);
	assert_int_equal(t.allow[1].n_ports, 0); /* every port */
	assert_int_equal(t.containers[0].n_ifaces, 0);
	validate_ok(&t);

	parse_ok("{'scenario': 'x9', 'subnets': [], 'containers': [], 'egress': 'deny'}", &t);
	assert_int_equal(t.egress, FORGE_EGRESS_DENY);
	validate_ok(&t);
}

/* The hub's address on a subnet: automatic addresses go around it, and the
 * learner may use it as its gateway. */
static void test_uplink_gateway(void **state)
{
	struct forge_topology t;

	(void)state;
	parse_ok("{'scenario': 'up', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/29',"
		 "                             'uplink_gateway': '10.0.0.2'},"
		 "                            {'name': 'b', 'cidr': '10.1.0.0/24'}],"
		 " 'containers': [{'name': 'c1', 'networks': [{'subnet': 'a'}]},"
		 "  {'name': 'c2', 'gateway': '10.0.0.2', 'networks': [{'subnet': 'a'}]},"
		 "  {'name': 'c3', 'networks': [{'subnet': 'b'}]}],"
		 " 'egress': {'allowlist': [{'cidr': '192.0.2.0/24', 'proto': 'tcp'}]}}",
		 &t);
	assert_false(t.subnets[1].has_uplink_gateway);
	validate_ok(&t);
	assert_addr(t.containers[0].ifaces[0].addr, "10.0.0.1");
	assert_addr(t.containers[1].ifaces[0].addr, "10.0.0.3");
	assert_addr(t.containers[1].gateway, "10.0.0.2");
	assert_addr(t.containers[2].ifaces[0].addr, "10.1.0.1");
}

struct bad_case {
	const char *json;
	const char *fragment;
};

#define BASE_SUBNETS "'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24'}]"
#define UPLINK_ALLOW "'egress': {'allowlist': [{'cidr': '192.0.2.0/24', 'proto': 'tcp'}]}"
#define ALLOW(entry)                                                                               \
	"{'scenario': 's', 'subnets': [], 'containers': [], "                                      \
	"'egress': {'allowlist': [" entry "]}}"

/* Shapes from_json refuses, each naming its JSON path. */
static const struct bad_case bad_json[] = {
    {"[]", "topology: expected an object, got an array"},
    {"{'scenario': 's', 'subnets': [], 'containers': [], 'extra': 1}",
     "topology: unknown key \"extra\""},
    {"{'subnets': [], 'containers': []}", "scenario: missing"},
    {"{'scenario': 5, 'subnets': [], 'containers': []}",
     "scenario: expected a string, got an integer"},
    {"{'scenario': 'AB', 'subnets': [], 'containers': []}",
     "scenario: \"AB\" does not match [a-z0-9]{1,12}"},
    {"{'scenario': 'abcdefghijklm', 'subnets': [], 'containers': []}",
     "scenario: \"abcdefghijklm\" is longer than 12 characters"},
    {"{'scenario': '', 'subnets': [], 'containers': []}", "scenario: \"\" does not match"},
    {"{'scenario': 's', 'containers': []}", "subnets: missing"},
    {"{'scenario': 's', 'subnets': []}", "containers: missing"},
    {"{'scenario': 's', 'subnets': {}, 'containers': []}",
     "subnets: expected an array, got an object"},
    {"{'scenario': 's', 'subnets': ['a'], 'containers': []}",
     "subnets[0]: expected an object, got a string"},
    {"{'scenario': 's', 'subnets': [{'name': 'a'}], 'containers': []}", "subnets[0].cidr: missing"},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24', 'mtu': 1500}],"
     " 'containers': []}",
     "subnets[0]: unknown key \"mtu\""},
    {"{'scenario': 's', 'subnets': [{'name': 'Learner', 'cidr': '10.0.0.0/24'}],"
     " 'containers': []}",
     "subnets[0].name: \"Learner\" does not match [a-z][a-z0-9_-]*"},
    {"{'scenario': 's', 'subnets': [{'name': '1net', 'cidr': '10.0.0.0/24'}],"
     " 'containers': []}",
     "subnets[0].name: \"1net\" does not match"},
    {"{'scenario': 's', 'subnets': [{'name': 'a.b', 'cidr': '10.0.0.0/24'}],"
     " 'containers': []}",
     "subnets[0].name: \"a.b\" does not match"},
    {"{'scenario': 's', 'subnets': [{'name': '', 'cidr': '10.0.0.0/24'}], 'containers': []}",
     "subnets[0].name: \"\" does not match"},
    {"{'scenario': 's', 'subnets': [{'name': 'abcdefghijklmnopqrstuvwxyz012345',"
     " 'cidr': '10.0.0.0/24'}], 'containers': []}",
     "subnets[0].name: \"abcdefghijklmnopqrstuvwxyz012345\" is longer than 31 characters"},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.10.0.5/24'}],"
     " 'containers': []}",
     "subnets[0].cidr: \"10.10.0.5/24\": host bits set (the network is 10.10.0.0/24)"},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.10.0.0'}], 'containers': []}",
     "subnets[0].cidr: \"10.10.0.0\": not of the form a.b.c.d/n"},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24\\u0000x'}],"
     " 'containers': []}",
     "subnets[0].cidr: contains a NUL character"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'networks': []}]}",
     "containers[0].name: missing"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'image': 'x'}]}",
     "containers[0]: unknown key \"image\""},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'forwarding': 'yes'}]}",
     "containers[0].forwarding: expected true or false, got a string"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'ipv6': 1}]}",
     "containers[0].ipv6: expected true or false, got an integer"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'gateway': null}]}",
     "containers[0].gateway: expected a string, got null"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'gateway': '10.0.0'}]}",
     "containers[0].gateway: \"10.0.0\" is not an IPv4 address"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'networks': 'a'}]}",
     "containers[0].networks: expected an array, got a string"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'b'},"
     " {'name': 'c', 'networks': [{'subnet': 'a', 'ip': '10.10.0.300'}]}]}",
     "containers[1].networks[0].ip: \"10.10.0.300\" is not an IPv4 address"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'b'},"
     " {'name': 'c', 'networks': [{'subnet': 'a', 'mask': 24}]}]}",
     "containers[1].networks[0]: unknown key \"mask\""},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'b'},"
     " {'name': 'c', 'networks': [{'ip': '10.0.0.1'}]}]}",
     "containers[1].networks[0].subnet: missing"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c',"
     " 'networks': [{'subnet': 'a', 'ip': '10.0.0.1/24'}]}]}",
     "containers[0].networks[0].ip: \"10.0.0.1/24\" is not an IPv4 address"},
    {"{'scenario': 's', 'subnets': [], 'containers': [], 'egress': 'open'}",
     "egress: \"open\" is neither \"deny\" nor {\"allowlist\": [...]}"},
    {"{'scenario': 's', 'subnets': [], 'containers': [], 'egress': true}",
     "egress: expected an object, got a boolean"},
    {"{'scenario': 's', 'subnets': [], 'containers': [], 'egress': {'allowlist': [],"
     " 'uplink': 'eth0'}}",
     "egress: unknown key \"uplink\""},
    {"{'scenario': 's', 'subnets': [], 'containers': [], 'egress': {}}",
     "egress.allowlist: missing"},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'icmp'}"),
     "egress.allowlist[0].proto: \"icmp\" is neither \"tcp\" nor \"udp\""},
    {ALLOW("{'cidr': '192.0.2.0/24'}"), "egress.allowlist[0].proto: missing"},
    {ALLOW("{'cidr': '192.0.2.1/24', 'proto': 'tcp'}"),
     "egress.allowlist[0].cidr: \"192.0.2.1/24\": host bits set (the network is "
     "192.0.2.0/24)"},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'tcp', 'ports': [80, 0]}"),
     "egress.allowlist[0].ports[1]: 0 is not a port (1..65535)"},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'tcp', 'ports': [65536]}"),
     "egress.allowlist[0].ports[0]: 65536 is not a port (1..65535)"},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'tcp', 'ports': [-1]}"),
     "egress.allowlist[0].ports[0]: -1 is not a port (1..65535)"},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'udp', 'ports': ['53']}"),
     "egress.allowlist[0].ports[0]: expected a port number, got a string"},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'udp', 'ports': [53.0]}"),
     "egress.allowlist[0].ports[0]: expected a port number, got a real number"},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'udp', 'ports': []}"),
     "egress.allowlist[0].ports: empty (leave \"ports\" out to allow every port)"},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'tcp', 'ports': "
	   "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}"),
     "egress.allowlist[0].ports: 17 entries, at most 16"},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'tcp', 'port': 22}"),
     "egress.allowlist[0]: unknown key \"port\""},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24',"
     " 'uplink_gateway': '10.0.0'}], 'containers': []}",
     "subnets[0].uplink_gateway: \"10.0.0\" is not an IPv4 address"},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24',"
     " 'uplink_gateway': ['10.0.0.1']}], 'containers': []}",
     "subnets[0].uplink_gateway: expected a string, got an array"},
};

static void test_json_errors(void **state)
{
	struct forge_topology t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
		struct forge_err err = {0};
		int rc = parse(bad_json[i].json, &t, &err);

		if (rc != -EINVAL || !strstr(err.msg, bad_json[i].fragment))
			fail_msg("case %zu: rc %d, message \"%s\", expected \"%s\"", i, rc, err.msg,
				 bad_json[i].fragment);
		/* A refused topology is left empty, not half-filled. */
		assert_int_equal(t.n_subnets + t.n_containers + t.n_allow, 0);
		assert_string_equal(t.scenario, "");
	}
}

static void append(json_t *array, json_t *value)
{
	assert_non_null(value);
	assert_int_equal(json_array_append_new(array, value), 0);
}

/* A topology of n_subnets subnets s<k> (10.<k>.0.0/24) and n_containers
 * containers c<k>, each attached to the first n_ifaces subnets. */
static json_t *generated(size_t n_subnets, size_t n_containers, size_t n_ifaces)
{
	json_t *subnets = json_array(), *containers = json_array();
	char name[32], cidr[48];
	size_t k, i;

	for (k = 0; k < n_subnets; k++) {
		snprintf(name, sizeof(name), "s%zu", k);
		snprintf(cidr, sizeof(cidr), "10.%zu.0.0/24", k);
		append(subnets, json_pack("{s:s, s:s}", "name", name, "cidr", cidr));
	}
	for (k = 0; k < n_containers; k++) {
		json_t *networks = json_array();

		for (i = 0; i < n_ifaces; i++) {
			snprintf(name, sizeof(name), "s%zu", i);
			append(networks, json_pack("{s:s}", "subnet", name));
		}
		snprintf(name, sizeof(name), "c%zu", k);
		append(containers, json_pack("{s:s, s:o}", "name", name, "networks", networks));
	}
	return json_pack("{s:s, s:o, s:o}", "scenario", "lim", "subnets", subnets, "containers",
			 containers);
}

static int from_generated(size_t n_subnets, size_t n_containers, size_t n_ifaces,
			  struct forge_topology *t, struct forge_err *err)
{
	json_t *j = generated(n_subnets, n_containers, n_ifaces);
	int rc;

	assert_non_null(j);
	rc = forge_topology_from_json(j, t, err);
	json_decref(j);
	return rc;
}

static void test_limits_json(void **state)
{
	struct forge_err err = {0};
	struct forge_topology t;

	(void)state;
	/* At the limits everything fits, and the addresses run up. */
	assert_int_equal(from_generated(16, 32, 16, &t, &err), 0);
	validate_ok(&t);
	assert_int_equal(t.containers[31].n_ifaces, 16);
	assert_addr(t.containers[0].ifaces[0].addr, "10.0.0.1");
	assert_addr(t.containers[31].ifaces[15].addr, "10.15.0.32");
	assert_addr(t.containers[12].ifaces[7].addr, "10.7.0.13");

	assert_err(from_generated(17, 1, 1, &t, &err), &err, "subnets: 17 entries, at most 16");
	assert_err(from_generated(1, 33, 1, &t, &err), &err, "containers: 33 entries, at most 32");
	assert_err(from_generated(16, 2, 17, &t, &err), &err,
		   "containers[0].networks: 17 entries, at most 16");
}

/* Validation must stand on its own: a topology may be built without JSON. */
static void test_limits_struct(void **state)
{
	struct forge_topology t, good;

	(void)state;
	parse_ok(netplus, &good);
	ASSERT_REFUSED(t, good, t.n_subnets = FORGE_NET_MAX_SUBNETS + 1,
		       "subnets: 17 entries, at most 16");
	ASSERT_REFUSED(t, good, t.n_containers = FORGE_NET_MAX_CONTAINERS + 1,
		       "containers: 33 entries, at most 32");
	ASSERT_REFUSED(t, good, t.containers[1].n_ifaces = FORGE_NET_MAX_IFACES + 1,
		       "container \"router\": 17 interfaces, at most 16");
	ASSERT_REFUSED(t, good,
		       (t.egress = FORGE_EGRESS_ALLOWLIST, t.n_allow = FORGE_NET_MAX_ALLOW + 1),
		       "egress.allowlist: 17 entries, at most 16");
}

/* Shapes from_json accepts and validation refuses. */
static const struct bad_case bad_topology[] = {
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24'},"
     " {'name': 'a', 'cidr': '10.1.0.0/24'}], 'containers': []}",
     "subnet \"a\" is defined twice (subnets[0] and subnets[1])"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c'}, {'name': 'd'},"
     " {'name': 'c'}]}",
     "container \"c\" is defined twice (containers[0] and containers[2])"},
    {"{'scenario': 's', 'subnets': [{'name': 'big', 'cidr': '10.0.0.0/8'},"
     " {'name': 'small', 'cidr': '10.10.0.0/24'}], 'containers': []}",
     "subnet \"small\" 10.10.0.0/24 overlaps subnet \"big\" 10.0.0.0/8"},
    {"{'scenario': 's', 'subnets': [{'name': 'small', 'cidr': '10.10.0.0/24'},"
     " {'name': 'big', 'cidr': '10.0.0.0/8'}], 'containers': []}",
     "subnet \"big\" 10.0.0.0/8 overlaps subnet \"small\" 10.10.0.0/24"},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24'},"
     " {'name': 'b', 'cidr': '10.0.0.0/24'}], 'containers': []}",
     "subnet \"b\" 10.0.0.0/24 overlaps subnet \"a\" 10.0.0.0/24"},
    {"{'scenario': 's', 'subnets': [{'name': 'p2p', 'cidr': '10.0.0.0/31'}],"
     " 'containers': []}",
     "subnet \"p2p\" 10.0.0.0/31: prefix length 31 outside 8..30"},
    {"{'scenario': 's', 'subnets': [{'name': 'host', 'cidr': '10.0.0.1/32'}],"
     " 'containers': []}",
     "subnet \"host\" 10.0.0.1/32: prefix length 32 outside 8..30"},
    {"{'scenario': 's', 'subnets': [{'name': 'huge', 'cidr': '10.0.0.0/7'}],"
     " 'containers': []}",
     "subnet \"huge\" 10.0.0.0/7: prefix length 7 outside 8..30"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c',"
     " 'networks': [{'subnet': 'nope'}]}]}",
     "container \"c\" eth0: unknown subnet \"nope\""},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c',"
     " 'networks': [{'subnet': 'a'}, {'subnet': 'a', 'ip': '10.0.0.9'}]}]}",
     "container \"c\" eth1: subnet \"a\" is already attached as eth0"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c',"
     " 'networks': [{'subnet': 'a', 'ip': '10.0.1.5'}]}]}",
     "container \"c\" eth0: 10.0.1.5 is outside subnet \"a\" 10.0.0.0/24"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c',"
     " 'networks': [{'subnet': 'a', 'ip': '10.0.0.0'}]}]}",
     "container \"c\" eth0: 10.0.0.0 is the network address of subnet \"a\" 10.0.0.0/24"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c',"
     " 'networks': [{'subnet': 'a', 'ip': '10.0.0.255'}]}]}",
     "container \"c\" eth0: 10.0.0.255 is the broadcast address of subnet \"a\" "
     "10.0.0.0/24"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': ["
     " {'name': 'c', 'networks': [{'subnet': 'a', 'ip': '10.0.0.7'}]},"
     " {'name': 'd', 'networks': [{'subnet': 'a'}]},"
     " {'name': 'e', 'networks': [{'subnet': 'a', 'ip': '10.0.0.7'}]}]}",
     "container \"e\" eth0: 10.0.0.7 on subnet \"a\" is already used by container \"c\" eth0"},
    {"{'scenario': 's', 'subnets': [{'name': 'tiny', 'cidr': '10.9.9.0/30'}],"
     " 'containers': [{'name': 'c1', 'networks': [{'subnet': 'tiny'}]},"
     " {'name': 'c2', 'networks': [{'subnet': 'tiny'}]},"
     " {'name': 'c3', 'networks': [{'subnet': 'tiny'}]}]}",
     "subnet \"tiny\" 10.9.9.0/30: no free address left for container \"c3\" eth0"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'gateway': '10.1.0.1',"
     " 'networks': [{'subnet': 'a'}]}]}",
     "container \"c\": gateway 10.1.0.1 is on none of its subnets"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'gateway': '10.0.0.1'}]}",
     "container \"c\": gateway 10.0.0.1 is on none of its subnets"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'gateway': '10.0.0.1',"
     " 'networks': [{'subnet': 'a'}]}]}",
     "container \"c\": gateway 10.0.0.1 is its own address (eth0)"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'gateway': '10.0.0.0',"
     " 'networks': [{'subnet': 'a'}]}]}",
     "container \"c\": gateway 10.0.0.0 is the network address of subnet \"a\" 10.0.0.0/24"},
    {"{'scenario': 's', " BASE_SUBNETS ", 'containers': [{'name': 'c', 'gateway': "
     "'10.0.0.255', 'networks': [{'subnet': 'a'}]}]}",
     "container \"c\": gateway 10.0.0.255 is the broadcast address of subnet \"a\""},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'tcp', 'ports': [80, 443, 80]}"),
     "egress.allowlist[0].ports[2]: port 80 listed twice"},
    {ALLOW("{'cidr': '192.0.2.0/24', 'proto': 'tcp', 'ports': [443]}"),
     "egress: the allowlist profile needs an uplink_gateway on at least one subnet"},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24',"
     " 'uplink_gateway': '10.0.0.1'}], 'containers': []}",
     "subnet \"a\": uplink_gateway 10.0.0.1 needs the allowlist egress profile"},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24',"
     " 'uplink_gateway': '10.0.1.1'}], 'containers': [], " UPLINK_ALLOW "}",
     "subnet \"a\": uplink_gateway 10.0.1.1 is outside subnet \"a\" 10.0.0.0/24"},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24',"
     " 'uplink_gateway': '10.0.0.255'}], 'containers': [], " UPLINK_ALLOW "}",
     "subnet \"a\": uplink_gateway 10.0.0.255 is the broadcast address of subnet \"a\""},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24',"
     " 'uplink_gateway': '10.0.0.0'}], 'containers': [], " UPLINK_ALLOW "}",
     "subnet \"a\": uplink_gateway 10.0.0.0 is the network address of subnet \"a\""},
    {"{'scenario': 's', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24',"
     " 'uplink_gateway': '10.0.0.9'}], 'containers': [{'name': 'c',"
     " 'networks': [{'subnet': 'a', 'ip': '10.0.0.9'}]}], " UPLINK_ALLOW "}",
     "container \"c\" eth0: 10.0.0.9 is the uplink_gateway of subnet \"a\""},
    {"{'scenario': 's', 'subnets': [{'name': 'tiny', 'cidr': '10.9.9.0/30',"
     " 'uplink_gateway': '10.9.9.1'}], 'containers': [{'name': 'c1',"
     " 'networks': [{'subnet': 'tiny'}]}, {'name': 'c2', 'networks': [{'subnet': 'tiny'}]}],"
     " " UPLINK_ALLOW "}",
     "subnet \"tiny\" 10.9.9.0/30: no free address left for container \"c2\" eth0"},
};

static void test_validate_errors(void **state)
{
	struct forge_topology t;
	size_t i, c;

	(void)state;
	for (i = 0; i < sizeof(bad_topology) / sizeof(bad_topology[0]); i++) {
		struct forge_err err = {0};
		int rc;

		parse_ok(bad_topology[i].json, &t);
		rc = forge_topology_validate(&t, "forge", &err);
		if (rc != -EINVAL || !strstr(err.msg, bad_topology[i].fragment))
			fail_msg("case %zu: rc %d, message \"%s\", expected \"%s\"", i, rc, err.msg,
				 bad_topology[i].fragment);
		/* A refused topology keeps the automatic addresses it came with (none). */
		for (c = 0; c < t.n_containers; c++)
			if (t.containers[c].n_ifaces && !t.containers[c].ifaces[0].static_addr)
				assert_int_equal(t.containers[c].ifaces[0].addr.s_addr, 0);
	}
}

/* A /30 holds two hosts: two containers fit, a third does not. */
static void test_exhaustion(void **state)
{
	struct forge_topology t;

	(void)state;
	parse_ok("{'scenario': 's', 'subnets': [{'name': 'tiny', 'cidr': '10.9.9.0/30'}],"
		 " 'containers': [{'name': 'c1', 'networks': [{'subnet': 'tiny'}]},"
		 " {'name': 'c2', 'networks': [{'subnet': 'tiny'}]}]}",
		 &t);
	validate_ok(&t);
	assert_addr(t.containers[0].ifaces[0].addr, "10.9.9.1");
	assert_addr(t.containers[1].ifaces[0].addr, "10.9.9.2");
}

static void test_prefix(void **state)
{
	static const struct {
		const char *prefix, *fragment;
	} bad[] = {
	    {"Forge", "prefix: \"Forge\" does not match [a-z][a-z0-9]{0,7}"},
	    {"", "prefix: \"\" does not match"},
	    {"1forge", "prefix: \"1forge\" does not match"},
	    {"for-ge", "prefix: \"for-ge\" does not match"},
	    {"forge1234", "prefix: \"forge1234\" is longer than 8 characters"},
	    {NULL, "prefix: missing"},
	};
	struct forge_topology t;
	size_t i;

	(void)state;
	parse_ok(netplus, &t);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct forge_err err = {0};

		assert_err(forge_topology_validate(&t, bad[i].prefix, &err), &err, bad[i].fragment);
	}
	assert_int_equal(forge_topology_validate(&t, "f2345678", NULL), 0);
	assert_int_equal(forge_topology_validate(&t, "a", NULL), 0);
}

/* What only a hand-built topology can get wrong. */
static void test_struct_errors(void **state)
{
	struct forge_topology t, good;

	(void)state;
	parse_ok(netplus, &good);
	ASSERT_REFUSED(t, good, strcpy(t.scenario, "AB"),
		       "scenario: \"AB\" does not match [a-z0-9]{1,12}");
	/* No terminating NUL in the struct: the message reads no further. */
	ASSERT_REFUSED(t, good, memset(t.scenario, 'a', sizeof(t.scenario)),
		       "scenario: \"aaaaaaaaaaaaa\" is longer than 12 characters");
	ASSERT_REFUSED(t, good, t.scenario[0] = '\0', "scenario: \"\" does not match");
	ASSERT_REFUSED(t, good, strcpy(t.subnets[1].name, "Target"),
		       "subnets[1].name: \"Target\" does not match");
	ASSERT_REFUSED(t, good, memset(t.containers[2].name, 'x', sizeof(t.containers[2].name)),
		       "containers[2].name: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\" is longer than 31 "
		       "characters");
	ASSERT_REFUSED(t, good, strcpy(t.containers[1].ifaces[1].subnet, "target net"),
		       "containers[1].networks[1].subnet: \"target net\" does not match");
	ASSERT_REFUSED(t, good, t.subnets[0].net.s_addr = htonl(0x0a0a0001),
		       "subnet \"learner_net\" 10.10.0.1/24: host bits set");
	ASSERT_REFUSED(t, good, t.subnets[0].prefix_len = 200,
		       "subnet \"learner_net\" 10.10.0.0/200: prefix length 200 outside 8..30");
	ASSERT_REFUSED(t, good, t.egress = (enum forge_net_egress)7, "egress: unknown profile 7");
}

static void test_allowlist_struct_errors(void **state)
{
	struct forge_topology t, good;

	(void)state;
	parse_ok("{'scenario': 'x9', 'subnets': [{'name': 'a', 'cidr': '10.0.0.0/24',"
		 " 'uplink_gateway': '10.0.0.1'}], 'containers': [], 'egress': {'allowlist':"
		 " [{'cidr': '192.0.2.0/24', 'proto': 'tcp', 'ports': [80, 443]}]}}",
		 &good);
	validate_ok(&good);

	ASSERT_REFUSED(t, good,
		       (t.egress = FORGE_EGRESS_DENY, t.subnets[0].has_uplink_gateway = false),
		       "egress.allowlist: not empty, but egress is \"deny\"");
	ASSERT_REFUSED(t, good, (t.egress = FORGE_EGRESS_DENY, t.n_allow = 0),
		       "subnet \"a\": uplink_gateway 10.0.0.1 needs the allowlist egress profile");
	ASSERT_REFUSED(t, good, t.allow[0].ports[1] = 0,
		       "egress.allowlist[0].ports[1]: 0 is not a port (1..65535)");
	ASSERT_REFUSED(t, good, t.allow[0].n_ports = FORGE_NET_MAX_PORTS + 1,
		       "egress.allowlist[0].ports: 17 entries, at most 16");
	ASSERT_REFUSED(t, good, t.allow[0].proto = IPPROTO_ICMP,
		       "egress.allowlist[0]: protocol 1 is neither tcp nor udp");
	ASSERT_REFUSED(t, good, t.allow[0].net.s_addr = htonl(0xc0000201),
		       "egress.allowlist[0]: 192.0.2.1/24 has host bits set");
	ASSERT_REFUSED(t, good, t.allow[0].prefix_len = 33,
		       "egress.allowlist[0]: prefix length 33 outside 0..32");
	ASSERT_REFUSED(t, good, t.subnets[0].has_uplink_gateway = false,
		       "egress: the allowlist profile needs an uplink_gateway");
	ASSERT_REFUSED(t, good, t.subnets[0].uplink_gateway.s_addr = htonl(0x0a000100),
		       "subnet \"a\": uplink_gateway 10.0.1.0 is outside subnet \"a\"");
}

static void test_parse_cidr(void **state)
{
	static const char *const bad[] = {
	    "10.0.0.0",
	    "10.0.0.0/",
	    "/8",
	    "10.0.0.0/+8",
	    "10.0.0.0/-1",
	    "10.0.0.0/ 8",
	    "10.0.0.0/08",
	    "10.0.0.0/33",
	    "10.0.0.0/8 ",
	    " 10.0.0.0/8",
	    "10.0.0/8",
	    "010.0.0.0/8",
	    "10.0.0.0/8/8",
	    "1.2.3.4.5/8",
	    "::1/128",
	    "",
	    "10.0.0.0/0x8",
	    "10.0.0.0/100",
	    "256.0.0.0/8",
	    "10.0.0.0/3a",
	    "1234567890123456789/8",
	};
	struct forge_err err = {0};
	struct in_addr net;
	uint8_t len;
	size_t i;

	(void)state;
	assert_int_equal(forge_net_parse_cidr("10.0.0.0/8", true, &net, &len, &err), 0);
	assert_addr(net, "10.0.0.0");
	assert_int_equal(len, 8);
	assert_int_equal(forge_net_parse_cidr("0.0.0.0/0", true, &net, &len, &err), 0);
	assert_int_equal(len, 0);
	assert_int_equal(forge_net_parse_cidr("255.255.255.255/32", true, &net, &len, &err), 0);
	assert_addr(net, "255.255.255.255");
	assert_int_equal(len, 32);
	/* Not strict: the address comes back as written (an interface address). */
	assert_int_equal(forge_net_parse_cidr("10.1.2.3/16", false, &net, &len, &err), 0);
	assert_addr(net, "10.1.2.3");
	assert_int_equal(len, 16);
	assert_err(forge_net_parse_cidr("10.1.2.3/16", true, &net, &len, &err), &err,
		   "\"10.1.2.3/16\": host bits set (the network is 10.1.0.0/16)");
	assert_err(forge_net_parse_cidr("1.2.3.4/0", true, &net, &len, &err), &err,
		   "(the network is 0.0.0.0/0)");
	assert_err(forge_net_parse_cidr("10.0.0.0/33", false, &net, &len, &err), &err,
		   "\"10.0.0.0/33\": prefix length must be a decimal 0..32");
	assert_err(forge_net_parse_cidr("10.0.0.256/24", false, &net, &len, &err), &err,
		   "\"10.0.0.256/24\": \"10.0.0.256\" is not an IPv4 address");
	assert_err(forge_net_parse_cidr(NULL, false, &net, &len, &err), &err, "CIDR: missing");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		net.s_addr = 0x5a5a5a5a;
		if (forge_net_parse_cidr(bad[i], false, &net, &len, &err) != -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(net.s_addr, 0x5a5a5a5a); /* untouched on failure */
		assert_non_null(strstr(err.msg, "\""));
	}
}

/* Offending text is quoted, cut short and stripped of control characters. */
static void test_messages_are_safe(void **state)
{
	struct forge_err err = {0};
	struct forge_topology t;

	(void)state;
	assert_err(parse("{'scenario': 's', 'subnets': [{'name': 'a\\u001b[2Jb', 'cidr': "
			 "'10.0.0.0/24'}], 'containers': []}",
			 &t, &err),
		   &err, "subnets[0].name: \"a?[2Jb\" does not match");
	assert_err(
	    parse("{'scenario': 's', 'subnets': [], 'containers': [], 'egress': '"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "'}",
		  &t, &err),
	    &err, "egress: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" is neither");
	assert_err(forge_topology_from_json(NULL, &t, &err), &err, "topology: missing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_netplus),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_automatic_fills_gaps),
	    cmocka_unit_test(test_allowlist),
	    cmocka_unit_test(test_uplink_gateway),
	    cmocka_unit_test(test_json_errors),
	    cmocka_unit_test(test_limits_json),
	    cmocka_unit_test(test_limits_struct),
	    cmocka_unit_test(test_validate_errors),
	    cmocka_unit_test(test_exhaustion),
	    cmocka_unit_test(test_prefix),
	    cmocka_unit_test(test_struct_errors),
	    cmocka_unit_test(test_allowlist_struct_errors),
	    cmocka_unit_test(test_parse_cidr),
	    cmocka_unit_test(test_messages_are_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
