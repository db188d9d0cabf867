/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netns/topology.c — the scenario network model (DESIGN §5, issue 3): strict
 * parsing from JSON, validation, automatic addressing. Pure functions, no
 * kernel calls, so all of it is unit-tested without root.
 *
 * Names of the kernel objects the builder creates (builder and recovery must
 * use exactly these; c = index in t->containers, i = index in that
 * container's ifaces, s = index in t->subnets):
 *
 *   hub netns       bind mount /run/netns/<prefix>-<scenario>  (a file name:
 *                   at most 8 + 1 + 12 = 21 bytes, no IFNAMSIZ limit)
 *   bridge          "br<s>" in the hub                   e.g. "br0", "br15"
 *   veth, hub end   "v<c>.<i>" in the hub, on bridge "br<s>" of its subnet
 *                                                        e.g. "v3.1", "v31.15"
 *   veth, container "eth<i>" in container c's netns      e.g. "eth0", "eth15"
 *
 * The hub and the container namespaces belong to one scenario, so these
 * names never meet those of another scenario or another Forge instance, and
 * they fit IFNAMSIZ by construction (asserted at compile time below). What
 * ties a link to its instance and scenario is its alias (IFLA_IFALIAS, at
 * most 255 bytes), which recovery reads back:
 *
 *   bridge          "<prefix>:<scenario>:<subnet name>"
 *   both veth ends  "<prefix>:<scenario>:<container name>:eth<i>"
 *
 * No prefix, scenario id or name can contain ':', so an alias splits
 * unambiguously. Validation therefore checks the parts the names are made of:
 * the prefix [a-z][a-z0-9]{0,7}, the scenario id [a-z0-9]{1,12}, and subnet
 * and container names [a-z][a-z0-9_-]{0,30}. The allowlist uplink's host end
 * lives in the host namespace, where these short names would collide, so it
 * is named from its address block instead (netns/uplink.c).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "netns/netns.h"

/* Decimal digits of an index (large enough for every limit in netns.h). */
#define DIGITS(n) ((n) < 10 ? 1 : (n) < 100 ? 2 : (n) < 1000 ? 3 : 100)

_Static_assert(sizeof("br") - 1 + DIGITS(FORGE_NET_MAX_SUBNETS - 1) < IFNAMSIZ,
	       "bridge names must fit IFNAMSIZ");
_Static_assert(sizeof("v.") - 1 + DIGITS(FORGE_NET_MAX_CONTAINERS - 1) +
		       DIGITS(FORGE_NET_MAX_IFACES - 1) <
		   IFNAMSIZ,
	       "hub-side veth names must fit IFNAMSIZ");
_Static_assert(sizeof("eth") - 1 + DIGITS(FORGE_NET_MAX_IFACES - 1) < IFNAMSIZ,
	       "container-side veth names must fit IFNAMSIZ");
_Static_assert(FORGE_PREFIX_MAX + 1 + FORGE_NET_SCENARIO_MAX + 1 + FORGE_NET_NAME_MAX +
		       sizeof(":eth") - 1 + DIGITS(FORGE_NET_MAX_IFACES - 1) <
		   IFALIASZ,
	       "link aliases must fit IFALIASZ");
_Static_assert(FORGE_PREFIX_MAX + 1 + FORGE_NET_SCENARIO_MAX <= NAME_MAX,
	       "hub netns names must fit a file name");

/* Every refusal here is -EINVAL. Spelt out as the value (rather than what
 * forge_err_set returns) so that static analysers see a failure fail. */
#define INVALID(err, ...) (forge_err_set((err), -EINVAL, __VA_ARGS__), -EINVAL)

#define LOWER	 "abcdefghijklmnopqrstuvwxyz"
#define DIGIT	 "0123456789"
#define JPATH_SZ 96 /* "containers[31].networks[15].subnet" and the like */

/* ------------------------------------------------------------- messages */

/* Template text ends up on terminals and in logs: quote it, cut it short and
 * replace anything but printable ASCII (and the quote itself). */
struct quoted {
	char s[48];
};

static struct quoted quote(const char *s, size_t len)
{
	const size_t room = sizeof(((struct quoted *)0)->s) - sizeof("\"...\"");
	struct quoted q;
	size_t n = 0, i;

	q.s[n++] = '"';
	for (i = 0; i < len && i < room; i++) {
		bool plain = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\';

		q.s[n++] = plain ? s[i] : '?';
	}
	if (i < len) {
		memcpy(q.s + n, "...", 3);
		n += 3;
	}
	q.s[n++] = '"';
	q.s[n] = '\0';
	return q;
}

static struct quoted quote_str(const char *s)
{
	return quote(s, strlen(s));
}

/* "a.b.c.d", or "a.b.c.d/n" when prefix_len >= 0; addr in host byte order. */
struct ipv4_text {
	char s[sizeof("255.255.255.255/2147483647")];
};

static struct ipv4_text ipv4_text(uint32_t addr, int prefix_len)
{
	struct ipv4_text t;
	int n;

	n = snprintf(t.s, sizeof(t.s), "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff,
		     (addr >> 8) & 0xff, addr & 0xff);
	if (prefix_len >= 0)
		snprintf(t.s + n, sizeof(t.s) - (size_t)n, "/%d", prefix_len);
	return t;
}

/* ------------------------------------------------------------- addresses */

static uint32_t host_order(struct in_addr a)
{
	return ntohl(a.s_addr);
}

static uint32_t netmask(unsigned prefix_len)
{
	return prefix_len ? UINT32_MAX << (32 - prefix_len) : 0;
}

static uint32_t subnet_net(const struct forge_net_subnet *s)
{
	return host_order(s->net);
}

static uint32_t subnet_broadcast(const struct forge_net_subnet *s)
{
	return subnet_net(s) | ~netmask(s->prefix_len);
}

static bool subnet_contains(const struct forge_net_subnet *s, uint32_t addr)
{
	return ((addr ^ subnet_net(s)) & netmask(s->prefix_len)) == 0;
}

/* Why addr cannot be a host address of s, or NULL when it can. */
static const char *host_problem(const struct forge_net_subnet *s, uint32_t addr)
{
	if (!subnet_contains(s, addr))
		return "is outside";
	if (addr == subnet_net(s))
		return "is the network address of";
	if (addr == subnet_broadcast(s))
		return "is the broadcast address of";
	return NULL;
}

int forge_net_parse_cidr(const char *s, bool strict, struct in_addr *net, uint8_t *prefix_len,
			 struct forge_err *err)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash, *len_text;
	struct in_addr a;
	size_t n;
	unsigned len;

	if (!s)
		return INVALID(err, "CIDR: missing");
	slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return INVALID(err, "%s: not of the form a.b.c.d/n", quote_str(s).s);
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		return INVALID(err, "%s: %s is not an IPv4 address", quote_str(s).s,
			       quote_str(addr).s);
	/* Plain decimal only: strtoul would also take a sign, spaces and "0x". */
	len_text = slash + 1;
	n = strspn(len_text, DIGIT);
	if (n == 0 || n > 2 || len_text[n] || (n == 2 && len_text[0] == '0'))
		return INVALID(err, "%s: prefix length must be a decimal 0..32", quote_str(s).s);
	len = (unsigned)(len_text[0] - '0');
	if (n == 2)
		len = len * 10 + (unsigned)(len_text[1] - '0');
	if (len > 32)
		return INVALID(err, "%s: prefix length must be a decimal 0..32", quote_str(s).s);
	if (strict && (host_order(a) & ~netmask(len)))
		return INVALID(err, "%s: host bits set (the network is %s)", quote_str(s).s,
			       ipv4_text(host_order(a) & netmask(len), (int)len).s);
	*net = a;
	*prefix_len = (uint8_t)len;
	return 0;
}

/* ------------------------------------------------------------- shared checks */

/* s (len bytes) against a maximum length, the allowed first and other
 * characters, and the pattern those stand for (for the message). s need not
 * be NUL-terminated when len > max. */
static int check_word(const char *path, const char *s, size_t len, size_t max, const char *first,
		      const char *rest, const char *pattern, struct forge_err *err)
{
	if (len > max)
		return INVALID(err, "%s: %s is longer than %zu characters", path, quote(s, len).s,
			       max);
	if (!len || !strchr(first, s[0]) || strspn(s, rest) < len)
		return INVALID(err, "%s: %s does not match %s", path, quote(s, len).s, pattern);
	return 0;
}

/* Subnet and container names end up in link aliases (see the top). */
static int check_name(const char *path, const char *s, size_t len, struct forge_err *err)
{
	return check_word(path, s, len, FORGE_NET_NAME_MAX, LOWER, LOWER DIGIT "_-",
			  "[a-z][a-z0-9_-]*", err);
}

static int check_scenario(const char *s, size_t len, struct forge_err *err)
{
	return check_word("scenario", s, len, FORGE_NET_SCENARIO_MAX, LOWER DIGIT, LOWER DIGIT,
			  "[a-z0-9]{1,12}", err);
}

static int check_count(const char *path, size_t n, size_t max, struct forge_err *err)
{
	if (n > max)
		return INVALID(err, "%s: %zu entries, at most %zu", path, n, max);
	return 0;
}

static int check_port(const char *path, long long port, struct forge_err *err)
{
	if (port < 1 || port > 65535)
		return INVALID(err, "%s: %lld is not a port (1..65535)", path, port);
	return 0;
}

/* ------------------------------------------------------------- JSON */

/* JSON paths are short by the limits in netns.h; should one ever be cut, it
 * still starts with where the offender is, and says that it was cut. */
static void path_mark_cut(char out[JPATH_SZ], int n)
{
	if (n >= JPATH_SZ)
		memcpy(out + JPATH_SZ - sizeof("..."), "...", sizeof("..."));
}

static void path_key(char out[JPATH_SZ], const char *parent, const char *key)
{
	path_mark_cut(out, snprintf(out, JPATH_SZ, "%s%s%s", parent, parent[0] ? "." : "", key));
}

static void path_index(char out[JPATH_SZ], const char *parent, size_t index)
{
	path_mark_cut(out, snprintf(out, JPATH_SZ, "%s[%zu]", parent, index));
}

static const char *json_kind_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static int wrong_type(const char *path, const char *expected, const json_t *v,
		      struct forge_err *err)
{
	return INVALID(err, "%s: expected %s, got %s", path[0] ? path : "topology", expected,
		       json_kind_name(v));
}

/* An object with no keys but those listed (NULL-terminated): a misspelt
 * key must not silently fall back to a default. */
static int check_object(const json_t *obj, const char *path, const char *const *keys,
			struct forge_err *err)
{
	const char *key;
	size_t key_len, i;
	json_t *v;

	if (!json_is_object(obj))
		return wrong_type(path, "an object", obj, err);
	/* jansson's iterator wants a non-const object; nothing is modified. */
	json_object_keylen_foreach((json_t *)obj, key, key_len, v)
	{
		for (i = 0; keys[i]; i++)
			if (strlen(keys[i]) == key_len && !memcmp(keys[i], key, key_len))
				break;
		if (!keys[i])
			return INVALID(err, "%s: unknown key %s", path[0] ? path : "topology",
				       quote(key, key_len).s);
	}
	return 0;
}

/* The member key of obj, NULL when absent (an error when required). */
static int get_member(const json_t *obj, const char *path, const char *key, bool required,
		      const json_t **out, struct forge_err *err)
{
	char at[JPATH_SZ];

	*out = json_object_get(obj, key);
	if (*out || !required)
		return 0;
	path_key(at, path, key);
	return INVALID(err, "%s: missing", at);
}

/* A string member; *out stays NULL when absent and optional. */
static int get_string(const json_t *obj, const char *path, const char *key, bool required,
		      const char **out, struct forge_err *err)
{
	char at[JPATH_SZ];
	const json_t *v;
	const char *s;
	int rc;

	*out = NULL;
	rc = get_member(obj, path, key, required, &v, err);
	if (rc || !v)
		return rc;
	path_key(at, path, key);
	s = json_string_value(v); /* NULL when v is not a string */
	if (!s)
		return wrong_type(at, "a string", v, err);
	/* C strings end at the first NUL: "10.0.0.1\u0000x" must not pass as 10.0.0.1. */
	if (strlen(s) != json_string_length(v))
		return INVALID(err, "%s: contains a NUL character", at);
	*out = s;
	return 0;
}

/* An optional boolean member; false when absent. */
static int get_bool(const json_t *obj, const char *path, const char *key, bool *out,
		    struct forge_err *err)
{
	const json_t *v = json_object_get(obj, key);
	char at[JPATH_SZ];

	*out = false;
	if (!v)
		return 0;
	path_key(at, path, key);
	if (!json_is_boolean(v))
		return wrong_type(at, "true or false", v, err);
	*out = json_is_true(v);
	return 0;
}

/* An array member of at most max entries; *out stays NULL when absent and optional. */
static int get_array(const json_t *obj, const char *path, const char *key, bool required,
		     size_t max, const json_t **out, struct forge_err *err)
{
	char at[JPATH_SZ];
	const json_t *v;
	int rc;

	*out = NULL;
	rc = get_member(obj, path, key, required, &v, err);
	if (rc || !v)
		return rc;
	path_key(at, path, key);
	if (!json_is_array(v))
		return wrong_type(at, "an array", v, err);
	rc = check_count(at, json_array_size(v), max, err);
	if (!rc)
		*out = v;
	return rc;
}

/* Parses one array entry at path into dst. */
typedef int (*parse_entry_fn)(const json_t *j, const char *path, void *dst, struct forge_err *err);

/* Parses the array member key of obj, of at most max entries, into the
 * array dst of elements of size bytes, counting them in *n. */
static int parse_list(const json_t *obj, const char *path, const char *key, bool required,
		      size_t max, parse_entry_fn parse, void *dst, size_t size, size_t *n,
		      struct forge_err *err)
{
	char at[JPATH_SZ], item[JPATH_SZ];
	const json_t *list;
	size_t i;
	int rc;

	rc = get_array(obj, path, key, required, max, &list, err);
	if (rc || !list)
		return rc;
	path_key(at, path, key);
	for (i = 0; i < json_array_size(list); i++) {
		path_index(item, at, i);
		rc = parse(json_array_get(list, i), item, (char *)dst + i * size, err);
		if (rc)
			return rc;
		(*n)++;
	}
	return 0;
}

static int get_name(const json_t *obj, const char *path, const char *key,
		    char name[FORGE_NET_NAME_MAX + 1], struct forge_err *err)
{
	char at[JPATH_SZ];
	const char *s;
	int rc;

	rc = get_string(obj, path, key, true, &s, err);
	if (rc)
		return rc;
	path_key(at, path, key);
	rc = check_name(at, s, strlen(s), err);
	if (!rc)
		memcpy(name, s, strlen(s) + 1);
	return rc;
}

/* An optional address member; *present tells whether it was there. */
static int get_ipv4(const json_t *obj, const char *path, const char *key, bool *present,
		    struct in_addr *addr, struct forge_err *err)
{
	char at[JPATH_SZ];
	const char *s;
	int rc;

	*present = false;
	rc = get_string(obj, path, key, false, &s, err);
	if (rc || !s)
		return rc;
	path_key(at, path, key);
	if (inet_pton(AF_INET, s, addr) != 1)
		return INVALID(err, "%s: %s is not an IPv4 address", at, quote_str(s).s);
	*present = true;
	return 0;
}

static int get_cidr(const json_t *obj, const char *path, const char *key, struct in_addr *net,
		    uint8_t *prefix_len, struct forge_err *err)
{
	char at[JPATH_SZ];
	const char *s;
	int rc;

	rc = get_string(obj, path, key, true, &s, err);
	if (rc)
		return rc;
	rc = forge_net_parse_cidr(s, true, net, prefix_len, err);
	if (rc) {
		path_key(at, path, key);
		forge_err_prefix(err, "%s", at);
	}
	return rc;
}

static int parse_subnet(const json_t *j, const char *path, void *dst, struct forge_err *err)
{
	static const char *const keys[] = {"name", "cidr", "uplink_gateway", NULL};
	struct forge_net_subnet *s = dst;
	int rc;

	rc = check_object(j, path, keys, err);
	if (!rc)
		rc = get_name(j, path, "name", s->name, err);
	if (!rc)
		rc = get_cidr(j, path, "cidr", &s->net, &s->prefix_len, err);
	if (!rc)
		rc = get_ipv4(j, path, "uplink_gateway", &s->has_uplink_gateway, &s->uplink_gateway,
			      err);
	return rc;
}

static int parse_iface(const json_t *j, const char *path, void *dst, struct forge_err *err)
{
	static const char *const keys[] = {"subnet", "ip", NULL};
	struct forge_net_iface *iface = dst;
	int rc;

	rc = check_object(j, path, keys, err);
	if (!rc)
		rc = get_name(j, path, "subnet", iface->subnet, err);
	if (!rc)
		rc = get_ipv4(j, path, "ip", &iface->static_addr, &iface->addr, err);
	return rc;
}

static int parse_container(const json_t *j, const char *path, void *dst, struct forge_err *err)
{
	static const char *const keys[] = {"name",	 "networks", "gateway",
					   "forwarding", "ipv6",     NULL};
	struct forge_net_container *c = dst;
	int rc;

	rc = check_object(j, path, keys, err);
	if (!rc)
		rc = get_name(j, path, "name", c->name, err);
	if (!rc)
		rc = get_ipv4(j, path, "gateway", &c->has_gateway, &c->gateway, err);
	if (!rc)
		rc = get_bool(j, path, "forwarding", &c->forwarding, err);
	if (!rc)
		rc = get_bool(j, path, "ipv6", &c->ipv6, err);
	/* No "networks": a container with loopback only. */
	if (!rc)
		rc = parse_list(j, path, "networks", false, FORGE_NET_MAX_IFACES, parse_iface,
				c->ifaces, sizeof(c->ifaces[0]), &c->n_ifaces, err);
	return rc;
}

static int parse_ports(const json_t *ports, const char *path, struct forge_net_allow *a,
		       struct forge_err *err)
{
	char item[JPATH_SZ];
	const json_t *p;
	size_t i;
	int rc;

	/* An empty list would read as "no port" to some and "every port" to others. */
	if (json_array_size(ports) == 0)
		return INVALID(err, "%s: empty (leave \"ports\" out to allow every port)", path);
	json_array_foreach(ports, i, p)
	{
		path_index(item, path, i);
		if (!json_is_integer(p))
			return wrong_type(item, "a port number", p, err);
		rc = check_port(item, json_integer_value(p), err);
		if (rc)
			return rc;
		a->ports[a->n_ports++] = (uint16_t)json_integer_value(p);
	}
	return 0;
}

static int parse_allow(const json_t *j, const char *path, void *dst, struct forge_err *err)
{
	static const char *const keys[] = {"cidr", "proto", "ports", NULL};
	struct forge_net_allow *a = dst;
	char at[JPATH_SZ];
	const json_t *ports;
	const char *proto;
	int rc;

	rc = check_object(j, path, keys, err);
	if (!rc)
		rc = get_cidr(j, path, "cidr", &a->net, &a->prefix_len, err);
	if (!rc)
		rc = get_string(j, path, "proto", true, &proto, err);
	if (rc)
		return rc;
	if (!strcmp(proto, "tcp")) {
		a->proto = IPPROTO_TCP;
	} else if (!strcmp(proto, "udp")) {
		a->proto = IPPROTO_UDP;
	} else {
		path_key(at, path, "proto");
		return INVALID(err, "%s: %s is neither \"tcp\" nor \"udp\"", at,
			       quote_str(proto).s);
	}
	/* No "ports": every port. */
	rc = get_array(j, path, "ports", false, FORGE_NET_MAX_PORTS, &ports, err);
	if (rc || !ports)
		return rc;
	path_key(at, path, "ports");
	return parse_ports(ports, at, a, err);
}

/* "egress": absent or "deny" (deny-all), or {"allowlist": [...]}. */
static int parse_egress(const json_t *root, struct forge_topology *t, struct forge_err *err)
{
	static const char *const keys[] = {"allowlist", NULL};
	const json_t *e = json_object_get(root, "egress");
	int rc;

	if (!e)
		return 0;
	if (json_is_string(e)) {
		if (json_string_length(e) == strlen("deny") &&
		    !strcmp(json_string_value(e), "deny"))
			return 0;
		return INVALID(err, "egress: %s is neither \"deny\" nor {\"allowlist\": [...]}",
			       quote(json_string_value(e), json_string_length(e)).s);
	}
	t->egress = FORGE_EGRESS_ALLOWLIST;
	rc = check_object(e, "egress", keys, err);
	if (!rc)
		rc = parse_list(e, "egress", "allowlist", true, FORGE_NET_MAX_ALLOW, parse_allow,
				t->allow, sizeof(t->allow[0]), &t->n_allow, err);
	return rc;
}

static int parse_topology(const json_t *j, struct forge_topology *t, struct forge_err *err)
{
	static const char *const keys[] = {"scenario", "egress", "subnets", "containers", NULL};
	const char *scenario;
	int rc;

	rc = check_object(j, "", keys, err);
	if (!rc)
		rc = get_string(j, "", "scenario", true, &scenario, err);
	if (!rc)
		rc = check_scenario(scenario, strlen(scenario), err);
	if (rc)
		return rc;
	memcpy(t->scenario, scenario, strlen(scenario) + 1);
	rc = parse_list(j, "", "subnets", true, FORGE_NET_MAX_SUBNETS, parse_subnet, t->subnets,
			sizeof(t->subnets[0]), &t->n_subnets, err);
	if (!rc)
		rc =
		    parse_list(j, "", "containers", true, FORGE_NET_MAX_CONTAINERS, parse_container,
			       t->containers, sizeof(t->containers[0]), &t->n_containers, err);
	if (!rc)
		rc = parse_egress(j, t, err);
	return rc;
}

int forge_topology_from_json(const json_t *j, struct forge_topology *t, struct forge_err *err)
{
	int rc;

	memset(t, 0, sizeof(*t));
	if (!j)
		return INVALID(err, "topology: missing");
	rc = parse_topology(j, t, err);
	/* Half a topology must not look usable. */
	if (rc)
		memset(t, 0, sizeof(*t));
	return rc;
}

/* ------------------------------------------------------------- validation */

/* Who holds an address of a subnet. A container attaches to a subnet at most
 * once, so a subnet has at most FORGE_NET_MAX_CONTAINERS of them, plus the
 * hub's uplink gateway. */
struct addr_holder {
	uint32_t addr;		  /* host byte order */
	uint8_t container, iface; /* container HUB: the subnet's uplink gateway */
};

#define HUB UINT8_MAX
_Static_assert(FORGE_NET_MAX_CONTAINERS < HUB, "container indexes must not reach HUB");

/* Worked out before anything in the topology changes, so that a refused
 * topology keeps the addresses it came with. */
struct plan {
	uint8_t subnet[FORGE_NET_MAX_CONTAINERS][FORGE_NET_MAX_IFACES]; /* t->subnets index */
	uint32_t addr[FORGE_NET_MAX_CONTAINERS][FORGE_NET_MAX_IFACES];	/* host byte order */
	struct {
		size_t n;
		struct addr_holder held[FORGE_NET_MAX_CONTAINERS + 1];
	} used[FORGE_NET_MAX_SUBNETS];
};

static int check_prefix(const char *prefix, struct forge_err *err)
{
	if (!prefix)
		return INVALID(err, "prefix: missing");
	return check_word("prefix", prefix, strnlen(prefix, FORGE_PREFIX_MAX + 1), FORGE_PREFIX_MAX,
			  LOWER, LOWER DIGIT, "[a-z][a-z0-9]{0,7}", err);
}

static int check_subnets(const struct forge_topology *t, struct forge_err *err)
{
	char at[JPATH_SZ];
	size_t i, j;
	int rc;

	for (i = 0; i < t->n_subnets; i++) {
		const struct forge_net_subnet *s = &t->subnets[i];
		uint32_t net = subnet_net(s);

		snprintf(at, sizeof(at), "subnets[%zu].name", i);
		rc = check_name(at, s->name, strnlen(s->name, sizeof(s->name)), err);
		if (rc)
			return rc;
		if (s->prefix_len < 8 || s->prefix_len > 30)
			return INVALID(err, "subnet \"%s\" %s: prefix length %u outside 8..30",
				       s->name, ipv4_text(net, s->prefix_len).s, s->prefix_len);
		if (net & ~netmask(s->prefix_len))
			return INVALID(err, "subnet \"%s\" %s: host bits set", s->name,
				       ipv4_text(net, s->prefix_len).s);
		for (j = 0; j < i; j++) {
			const struct forge_net_subnet *o = &t->subnets[j];
			unsigned shorter =
			    o->prefix_len < s->prefix_len ? o->prefix_len : s->prefix_len;

			if (!strcmp(o->name, s->name))
				return INVALID(err,
					       "subnet \"%s\" is defined twice (subnets[%zu] "
					       "and subnets[%zu])",
					       s->name, j, i);
			/* Also containment: compare on the shorter prefix. */
			if (((net ^ subnet_net(o)) & netmask(shorter)) == 0)
				return INVALID(err, "subnet \"%s\" %s overlaps subnet \"%s\" %s",
					       s->name, ipv4_text(net, s->prefix_len).s, o->name,
					       ipv4_text(subnet_net(o), o->prefix_len).s);
		}
	}
	return 0;
}

static int find_subnet(const struct forge_topology *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n_subnets; i++)
		if (!strcmp(t->subnets[i].name, name))
			return (int)i;
	return -1;
}

/* Resolves each interface's subnet into plan->subnet. */
static int check_ifaces(const struct forge_topology *t, size_t c, struct plan *plan,
			struct forge_err *err)
{
	const struct forge_net_container *ct = &t->containers[c];
	char at[JPATH_SZ];
	size_t i, k;
	int s, rc;

	if (ct->n_ifaces > FORGE_NET_MAX_IFACES)
		return INVALID(err, "container \"%s\": %zu interfaces, at most %d", ct->name,
			       ct->n_ifaces, FORGE_NET_MAX_IFACES);
	for (i = 0; i < ct->n_ifaces; i++) {
		const char *subnet = ct->ifaces[i].subnet;

		snprintf(at, sizeof(at), "containers[%zu].networks[%zu].subnet", c, i);
		rc = check_name(at, subnet, strnlen(subnet, sizeof(ct->ifaces[i].subnet)), err);
		if (rc)
			return rc;
		s = find_subnet(t, subnet);
		if (s < 0)
			return INVALID(err, "container \"%s\" eth%zu: unknown subnet \"%s\"",
				       ct->name, i, subnet);
		/* Two links of one container on one bridge: an ARP flux, never a lab. */
		for (k = 0; k < i; k++)
			if (plan->subnet[c][k] == s)
				return INVALID(err,
					       "container \"%s\" eth%zu: subnet \"%s\" is "
					       "already attached as eth%zu",
					       ct->name, i, subnet, k);
		plan->subnet[c][i] = (uint8_t)s;
	}
	return 0;
}

static int check_containers(const struct forge_topology *t, struct plan *plan,
			    struct forge_err *err)
{
	char at[JPATH_SZ];
	size_t c, k;
	int rc;

	for (c = 0; c < t->n_containers; c++) {
		const struct forge_net_container *ct = &t->containers[c];

		snprintf(at, sizeof(at), "containers[%zu].name", c);
		rc = check_name(at, ct->name, strnlen(ct->name, sizeof(ct->name)), err);
		if (rc)
			return rc;
		for (k = 0; k < c; k++)
			if (!strcmp(t->containers[k].name, ct->name))
				return INVALID(err,
					       "container \"%s\" is defined twice "
					       "(containers[%zu] and containers[%zu])",
					       ct->name, k, c);
		rc = check_ifaces(t, c, plan, err);
		if (rc)
			return rc;
	}
	return 0;
}

static const struct addr_holder *find_holder(const struct plan *plan, size_t s, uint32_t addr)
{
	size_t k;

	for (k = 0; k < plan->used[s].n; k++)
		if (plan->used[s].held[k].addr == addr)
			return &plan->used[s].held[k];
	return NULL;
}

static void hold(struct plan *plan, size_t c, size_t i, uint32_t addr)
{
	size_t s = plan->subnet[c][i];

	plan->used[s].held[plan->used[s].n++] = (struct addr_holder){addr, (uint8_t)c, (uint8_t)i};
	plan->addr[c][i] = addr;
}

static int place_static(const struct forge_topology *t, struct plan *plan, size_t c, size_t i,
			struct forge_err *err)
{
	const struct forge_net_container *ct = &t->containers[c];
	const struct forge_net_subnet *s = &t->subnets[plan->subnet[c][i]];
	uint32_t addr = host_order(ct->ifaces[i].addr);
	const char *problem = host_problem(s, addr);
	const struct addr_holder *h;

	if (problem)
		return INVALID(err, "container \"%s\" eth%zu: %s %s subnet \"%s\" %s", ct->name, i,
			       ipv4_text(addr, -1).s, problem, s->name,
			       ipv4_text(subnet_net(s), s->prefix_len).s);
	h = find_holder(plan, plan->subnet[c][i], addr);
	if (h && h->container == HUB)
		return INVALID(err,
			       "container \"%s\" eth%zu: %s is the uplink_gateway of subnet \"%s\"",
			       ct->name, i, ipv4_text(addr, -1).s, s->name);
	if (h)
		return INVALID(err,
			       "container \"%s\" eth%zu: %s on subnet \"%s\" is already used by "
			       "container \"%s\" eth%u",
			       ct->name, i, ipv4_text(addr, -1).s, s->name,
			       t->containers[h->container].name, h->iface);
	hold(plan, c, i, addr);
	return 0;
}

/* The lowest host address nobody holds yet. */
static int place_automatic(const struct forge_topology *t, struct plan *plan, size_t c, size_t i,
			   struct forge_err *err)
{
	const struct forge_net_subnet *s = &t->subnets[plan->subnet[c][i]];
	uint32_t last = subnet_broadcast(s) - 1, addr = subnet_net(s) + 1;

	while (addr <= last && find_holder(plan, plan->subnet[c][i], addr))
		addr++;
	if (addr > last)
		return INVALID(
		    err, "subnet \"%s\" %s: no free address left for container \"%s\" eth%zu",
		    s->name, ipv4_text(subnet_net(s), s->prefix_len).s, t->containers[c].name, i);
	hold(plan, c, i, addr);
	return 0;
}

/* Each subnet's uplink gateway, held by the hub before any container
 * address is placed: a static address on it is refused, an automatic one
 * skips it. */
static int hold_uplink_gateways(const struct forge_topology *t, struct plan *plan,
				struct forge_err *err)
{
	for (size_t s = 0; s < t->n_subnets; s++) {
		const struct forge_net_subnet *sn = &t->subnets[s];
		uint32_t gw = host_order(sn->uplink_gateway);
		const char *problem = host_problem(sn, gw);

		if (!sn->has_uplink_gateway)
			continue;
		if (t->egress != FORGE_EGRESS_ALLOWLIST)
			return INVALID(err,
				       "subnet \"%s\": uplink_gateway %s needs the allowlist "
				       "egress profile",
				       sn->name, ipv4_text(gw, -1).s);
		if (problem)
			return INVALID(err, "subnet \"%s\": uplink_gateway %s %s subnet \"%s\" %s",
				       sn->name, ipv4_text(gw, -1).s, problem, sn->name,
				       ipv4_text(subnet_net(sn), sn->prefix_len).s);
		plan->used[s].held[plan->used[s].n++] = (struct addr_holder){gw, HUB, 0};
	}
	return 0;
}

/* Two passes, containers and interfaces in order, so that the same topology
 * always gets the same addresses: every static address first, so that an
 * automatic one never takes an address that a later container asks for. */
static int place_addresses(const struct forge_topology *t, struct plan *plan, struct forge_err *err)
{
	size_t pass, c, i;
	int rc;

	for (pass = 0; pass < 2; pass++) {
		for (c = 0; c < t->n_containers; c++) {
			for (i = 0; i < t->containers[c].n_ifaces; i++) {
				bool is_static = t->containers[c].ifaces[i].static_addr;

				if (is_static != (pass == 0))
					continue;
				rc = is_static ? place_static(t, plan, c, i, err)
					       : place_automatic(t, plan, c, i, err);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

static int check_gateway(const struct forge_topology *t, const struct plan *plan, size_t c,
			 struct forge_err *err)
{
	const struct forge_net_container *ct = &t->containers[c];
	uint32_t gw = host_order(ct->gateway);
	const struct forge_net_subnet *s;
	const char *problem;
	size_t i;

	for (i = 0; i < ct->n_ifaces; i++)
		if (subnet_contains(&t->subnets[plan->subnet[c][i]], gw))
			break;
	if (i == ct->n_ifaces)
		return INVALID(err, "container \"%s\": gateway %s is on none of its subnets",
			       ct->name, ipv4_text(gw, -1).s);
	s = &t->subnets[plan->subnet[c][i]];
	problem = host_problem(s, gw);
	if (problem)
		return INVALID(err, "container \"%s\": gateway %s %s subnet \"%s\" %s", ct->name,
			       ipv4_text(gw, -1).s, problem, s->name,
			       ipv4_text(subnet_net(s), s->prefix_len).s);
	if (plan->addr[c][i] == gw)
		return INVALID(err, "container \"%s\": gateway %s is its own address (eth%zu)",
			       ct->name, ipv4_text(gw, -1).s, i);
	return 0;
}

static int check_allow(const struct forge_net_allow *a, const char *path, struct forge_err *err)
{
	char at[JPATH_SZ], item[JPATH_SZ];
	size_t i, k;
	int rc;

	if (a->prefix_len > 32)
		return INVALID(err, "%s: prefix length %u outside 0..32", path, a->prefix_len);
	if (host_order(a->net) & ~netmask(a->prefix_len))
		return INVALID(err, "%s: %s has host bits set", path,
			       ipv4_text(host_order(a->net), a->prefix_len).s);
	if (a->proto != IPPROTO_TCP && a->proto != IPPROTO_UDP)
		return INVALID(err, "%s: protocol %u is neither tcp nor udp", path, a->proto);
	path_key(at, path, "ports");
	rc = check_count(at, a->n_ports, FORGE_NET_MAX_PORTS, err);
	for (i = 0; !rc && i < a->n_ports; i++) {
		path_index(item, at, i);
		rc = check_port(item, a->ports[i], err);
		for (k = 0; !rc && k < i; k++)
			if (a->ports[k] == a->ports[i])
				rc = INVALID(err, "%s: port %u listed twice", item, a->ports[i]);
	}
	return rc;
}

static bool any_uplink_gateway(const struct forge_topology *t)
{
	for (size_t s = 0; s < t->n_subnets; s++)
		if (t->subnets[s].has_uplink_gateway)
			return true;
	return false;
}

static int check_egress(const struct forge_topology *t, struct forge_err *err)
{
	char item[JPATH_SZ];
	size_t k;
	int rc;

	if (t->egress != FORGE_EGRESS_DENY && t->egress != FORGE_EGRESS_ALLOWLIST)
		return INVALID(err, "egress: unknown profile %d", (int)t->egress);
	if (t->egress == FORGE_EGRESS_DENY && t->n_allow)
		return INVALID(err, "egress.allowlist: not empty, but egress is \"deny\" (an "
				    "allowlist needs the allowlist profile)");
	for (k = 0; k < t->n_allow; k++) {
		path_index(item, "egress.allowlist", k);
		rc = check_allow(&t->allow[k], item, err);
		if (rc)
			return rc;
	}
	if (t->egress == FORGE_EGRESS_ALLOWLIST && !any_uplink_gateway(t))
		return INVALID(err, "egress: the allowlist profile needs an uplink_gateway on at "
				    "least one subnet (nothing could reach the uplink)");
	return 0;
}

int forge_topology_validate(struct forge_topology *t, const char *prefix, struct forge_err *err)
{
	struct plan plan;
	size_t c, i;
	int rc;

	memset(&plan, 0, sizeof(plan));
	rc = check_prefix(prefix, err);
	if (!rc)
		rc = check_scenario(t->scenario, strnlen(t->scenario, sizeof(t->scenario)), err);
	/* Counts before anything indexes the arrays. */
	if (!rc)
		rc = check_count("subnets", t->n_subnets, FORGE_NET_MAX_SUBNETS, err);
	if (!rc)
		rc = check_count("containers", t->n_containers, FORGE_NET_MAX_CONTAINERS, err);
	if (!rc)
		rc = check_count("egress.allowlist", t->n_allow, FORGE_NET_MAX_ALLOW, err);
	if (!rc)
		rc = check_subnets(t, err);
	if (!rc)
		rc = check_containers(t, &plan, err);
	if (!rc)
		rc = hold_uplink_gateways(t, &plan, err);
	if (!rc)
		rc = place_addresses(t, &plan, err);
	for (c = 0; !rc && c < t->n_containers; c++)
		if (t->containers[c].has_gateway)
			rc = check_gateway(t, &plan, c, err);
	if (!rc)
		rc = check_egress(t, err);
	if (rc)
		return rc;
	for (c = 0; c < t->n_containers; c++)
		for (i = 0; i < t->containers[c].n_ifaces; i++)
			t->containers[c].ifaces[i].addr.s_addr = htonl(plan.addr[c][i]);
	return 0;
}
