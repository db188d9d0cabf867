/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netns/uplink.c — the allowlist egress profile's uplink (DESIGN §5, issue 3):
 * a veth pair from the hub ("up0") to the host namespace, a /30 of
 * 169.254.0.0/16 on it, the hub's gateway addresses on the bridges and its
 * default route, an nftables allowlist on both sides, masquerade on both
 * sides, and last the hub's IPv4 forwarding. netns/netns.h has the steps.
 *
 * Why both sides masquerade: scenarios reuse the same subnets, so the host
 * must never see them (the hub hides each scenario behind its own uplink
 * address), and 169.254.0.0/16 does not leave a host (the host hides the
 * uplink addresses behind its own).
 *
 * The host's configuration stays the host's: its net.ipv4.ip_forward is read,
 * never written, and Forge's host objects are only its own named ones — the
 * host end <prefix>-u<block> (the separator '-' cannot occur in a prefix, so
 * two instances' names never meet) and the rules tagged <prefix>:<scenario>:
 * uplink in table inet <prefix>_up. Both carry the scenario id, so recovery
 * finds them without a state file (forge_net_uplink_sweep).
 *
 * The hub forwards only once both rule sets are in place, and stops first at
 * teardown: a half-built uplink, or one whose host rules are gone while the
 * kernel is still freeing the hub, carries nothing.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "netns/internal.h"

#define UPLINK_MTU     1500
#define UPLINK_PREFIX  30
#define LINK_LOCAL     0xa9fe0000u /* 169.254.0.0/16, host byte order */
#define N_BLOCKS       (1u << (UPLINK_PREFIX - 16))
#define TAG_SUFFIX     ":uplink"
#define HOST_TABLE_MAX (FORGE_PREFIX_MAX + sizeof("_up"))
#define UPLINK_TAG_MAX (FORGE_PREFIX_MAX + 1 + FORGE_NET_SCENARIO_MAX + sizeof(TAG_SUFFIX))
#define FORWARD_KNOB   "/proc/sys/net/ipv4/ip_forward"

_Static_assert(FORGE_PREFIX_MAX + sizeof("-u") - 1 + 4 < IFNAMSIZ,
	       "host end names must fit IFNAMSIZ");
_Static_assert(sizeof(((struct forge_net_uplink_info *)0)->host_ifname) == IFNAMSIZ,
	       "forge_net_uplink_info.host_ifname must be IFNAMSIZ");
_Static_assert(N_BLOCKS - 1 <= 0xffff, "a block index must fit 4 hex digits");

/* ---------------------------------------------------------------- names */

static void host_table(char out[HOST_TABLE_MAX], const char *prefix)
{
	snprintf(out, HOST_TABLE_MAX, "%s_up", prefix);
}

static void uplink_tag(char out[UPLINK_TAG_MAX], const char *prefix, const char *scenario)
{
	snprintf(out, UPLINK_TAG_MAX, "%s:%s" TAG_SUFFIX, prefix, scenario);
}

static void host_ifname(char out[IFNAMSIZ], const char *prefix, uint32_t block)
{
	snprintf(out, IFNAMSIZ, "%s-u%04x", prefix, block);
}

/* ---------------------------------------------------------------- the host */

static int check_netns_fd(int fd, const char *what, struct forge_err *err)
{
	if (fd < 0 || ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET)
		return forge_err_set(err, -EINVAL, "netns: %s: fd %d is not a network namespace",
				     what, fd);
	return 0;
}

/* Forge never turns the host into a router: it only checks that it is one. */
static int host_forwards(int host_fd, struct forge_err *err)
{
	char *value = NULL;
	int own, rc = forge_netns_enter(host_fd, &own, "the host namespace", err);

	if (rc)
		return rc;
	rc = forge_read_knob(AT_FDCWD, FORWARD_KNOB, &value, NULL, 16, err);
	forge_netns_return(own);
	if (rc == 0 && strcmp(value, "1\n") != 0 && strcmp(value, "1") != 0)
		rc = forge_err_set(err, -ENETUNREACH,
				   "netns: allowlist egress needs net.ipv4.ip_forward=1 in the "
				   "host namespace (it is %.*s; Forge does not change it)",
				   (int)strcspn(value, "\n"), value);
	free(value);
	return rc;
}

/* What the host already uses, read once for the probe. */
struct host_view {
	struct nl_cache *links, *addrs, *routes;
};

static void host_view_free(struct host_view *h)
{
	nl_cache_free(h->links);
	nl_cache_free(h->addrs);
	nl_cache_free(h->routes);
}

static int host_view_read(struct nl_sock *sk, struct host_view *h, struct forge_err *err)
{
	int rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &h->links);

	if (rc == 0)
		rc = rtnl_addr_alloc_cache(sk, &h->addrs);
	if (rc == 0)
		rc = rtnl_route_alloc_cache(sk, AF_INET, 0, &h->routes);
	if (rc < 0)
		return forge_netns_nl_fail(err, rc, "reading the host's links, addresses, routes");
	return 0;
}

static uint32_t v4_of(struct nl_addr *a)
{
	uint32_t v = 0;

	if (a && nl_addr_get_family(a) == AF_INET && nl_addr_get_len(a) == sizeof(v))
		memcpy(&v, nl_addr_get_binary_addr(a), sizeof(v));
	return ntohl(v);
}

static bool overlaps(uint32_t a, unsigned a_len, uint32_t b, unsigned b_len)
{
	unsigned shorter = a_len < b_len ? a_len : b_len;

	return shorter == 0 || ((a ^ b) >> (32 - shorter)) == 0;
}

/* The RFC 3927 reserved first and last /24, and 169.254.169.0/23 where cloud
 * metadata services live (169.254.169.254, 169.254.170.2). */
static bool block_reserved(uint32_t block)
{
	uint32_t third = block >> 6;

	return third == 0 || third == 169 || third == 170 || third == 255;
}

static bool block_free(const struct forge_topology *t, struct host_view *h, uint32_t base,
		       const char *name)
{
	for (size_t s = 0; s < t->n_subnets; s++)
		if (overlaps(base, UPLINK_PREFIX, ntohl(t->subnets[s].net.s_addr),
			     t->subnets[s].prefix_len))
			return false;
	for (struct nl_object *o = nl_cache_get_first(h->addrs); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		if (rtnl_addr_get_family(a) == AF_INET &&
		    overlaps(base, UPLINK_PREFIX, v4_of(rtnl_addr_get_local(a)), 32))
			return false;
	}
	/* A less specific route (the link-local /16, a default route) is fine:
	 * the block's own route is more specific. */
	for (struct nl_object *o = nl_cache_get_first(h->routes); o; o = nl_cache_get_next(o)) {
		struct nl_addr *dst = rtnl_route_get_dst((struct rtnl_route *)o);
		unsigned len = dst ? nl_addr_get_prefixlen(dst) : 0;
		if (len > 16 && overlaps(base, UPLINK_PREFIX, v4_of(dst), len))
			return false;
	}
	struct rtnl_link *l = rtnl_link_get_by_name(h->links, name);
	bool taken = l != NULL;
	rtnl_link_put(l);
	return !taken;
}

/* The first free block from a start derived from prefix and scenario, so
 * that a scenario gets the same block on the same host state. */
static int uplink_probe(struct forge_net *n, struct nl_sock *sk, struct forge_err *err)
{
	struct host_view h = {0};
	char seed[UPLINK_TAG_MAX], hex[65];
	int rc = host_view_read(sk, &h, err);

	if (rc)
		goto out;
	snprintf(seed, sizeof(seed), "%s:%s", n->prefix, n->t->scenario);
	forge_sha256_hex(seed, strlen(seed), hex);
	hex[8] = '\0';
	uint32_t start = (uint32_t)strtoul(hex, NULL, 16) % N_BLOCKS;
	rc = -EADDRNOTAVAIL;
	for (uint32_t i = 0; i < N_BLOCKS && rc; i++) {
		uint32_t block = (start + i) % N_BLOCKS, base = LINK_LOCAL | block << 2;
		char name[IFNAMSIZ];

		host_ifname(name, n->prefix, block);
		if (block_reserved(block) || !block_free(n->t, &h, base, name))
			continue;
		memcpy(n->uplink.host_ifname, name, sizeof(name));
		n->uplink.host_addr.s_addr = htonl(base + 1);
		n->uplink.hub_addr.s_addr = htonl(base + 2);
		n->uplink.prefix_len = UPLINK_PREFIX;
		rc = 0;
	}
	if (rc)
		forge_err_set(
		    err, rc,
		    "netns: scenario %s: no free /%d left in 169.254.0.0/16 for the uplink",
		    n->t->scenario, UPLINK_PREFIX);
out:
	host_view_free(&h);
	return rc;
}

/* ---------------------------------------------------------------- links */

/* One RTM_NEWLINK on the hub's socket: up0 in the hub, the host end created
 * directly in the host namespace (both down: see attach_veth in link.c). */
static int uplink_veth(struct forge_net *n, struct forge_err *err)
{
	struct rtnl_link *veth = rtnl_link_veth_alloc();
	struct rtnl_link *peer = veth ? rtnl_link_veth_get_peer(veth) : NULL;
	int rc = -NLE_NOMEM;

	if (peer) {
		rtnl_link_set_name(veth, FORGE_NETNS_UPLINK);
		rtnl_link_set_mtu(veth, UPLINK_MTU);
		rtnl_link_set_name(peer, n->uplink.host_ifname);
		rtnl_link_set_mtu(peer, UPLINK_MTU);
		rtnl_link_set_ns_fd(peer, n->host_fd);
		rc = rtnl_link_add(n->hub_sock, veth, NLM_F_CREATE | NLM_F_EXCL);
	}
	rtnl_link_put(peer);
	rtnl_link_put(veth);
	if (rc < 0)
		return forge_netns_nl_fail(err, rc, "uplink veth %s (%s in the host namespace)",
					   FORGE_NETNS_UPLINK, n->uplink.host_ifname);
	n->uplink_linked = true;
	return 0;
}

/* The host end: IPv6 off before it comes up (no link-local address, no
 * router solicitation), aliased for recovery, up, addressed. */
static int uplink_host_end(struct forge_net *n, struct nl_sock *sk, struct forge_err *err)
{
	char knob[96], alias[UPLINK_TAG_MAX], where[IFNAMSIZ + 24];
	int ifindex = 0, own, rc = forge_netns_enter(n->host_fd, &own, "the host namespace", err);

	if (rc)
		return rc;
	snprintf(knob, sizeof(knob), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 n->uplink.host_ifname);
	rc = forge_netns_sysctl(knob, "1", true, "the host namespace", err);
	forge_netns_return(own);
	uplink_tag(alias, n->prefix, n->t->scenario);
	snprintf(where, sizeof(where), "%s in the host namespace", n->uplink.host_ifname);
	if (rc == 0)
		rc = forge_netns_link_up(sk, n->uplink.host_ifname, alias, "host", &ifindex, err);
	if (rc == 0)
		rc = forge_netns_addr_add(sk, ifindex, n->uplink.host_addr, UPLINK_PREFIX, where,
					  err);
	return rc;
}

/* up0 up and addressed, each subnet's uplink gateway on its bridge, and the
 * hub's default route via the host end. */
static int uplink_hub_end(struct forge_net *n, struct forge_err *err)
{
	const struct forge_topology *t = n->t;
	int ifindex = 0;
	int rc = forge_netns_link_up(n->hub_sock, FORGE_NETNS_UPLINK, NULL, "hub", &ifindex, err);

	if (rc == 0)
		rc = forge_netns_addr_add(n->hub_sock, ifindex, n->uplink.hub_addr, UPLINK_PREFIX,
					  FORGE_NETNS_UPLINK " in the hub", err);
	for (size_t s = 0; rc == 0 && s < t->n_subnets; s++) {
		char where[IFNAMSIZ + 16];
		if (!t->subnets[s].has_uplink_gateway)
			continue;
		snprintf(where, sizeof(where), "br%zu in the hub", s);
		rc = forge_netns_addr_add(n->hub_sock, n->bridge_ifindex[s],
					  t->subnets[s].uplink_gateway, t->subnets[s].prefix_len,
					  where, err);
	}
	if (rc == 0)
		rc = forge_netns_route_default(n->hub_sock, n->uplink.host_addr, "the hub", err);
	return rc;
}

static int uplink_host_rules(struct forge_net *n, struct forge_err *err)
{
	char table[HOST_TABLE_MAX], tag[UPLINK_TAG_MAX];
	struct forge_nft_uplink u = {
	    .tag = tag, .host_ifname = n->uplink.host_ifname, .hub_addr = n->uplink.hub_addr};

	host_table(table, n->prefix);
	uplink_tag(tag, n->prefix, n->t->scenario);
	return forge_nft_host_add(n->host_fd, table, &u, n->t, err);
}

/* No ICMP redirects from device dev of the hub (the current namespace). */
static int hub_no_redirects(const char *dev, struct forge_err *err)
{
	char knob[80];

	snprintf(knob, sizeof(knob), "/proc/sys/net/ipv4/conf/%s/send_redirects", dev);
	return forge_netns_sysctl(knob, "0", false, "the hub", err);
}

/* The hub's IPv4 forwarding on (or off), in the hub. On: no ICMP redirects,
 * which a hub routing between hosts of one subnet would otherwise send
 * (a device sends them when either its own or the "all" knob says so). */
static int hub_forwarding(struct forge_net *n, bool on, struct forge_err *err)
{
	int own, rc = forge_netns_enter(n->hub_fd, &own, "the hub", err);

	if (rc)
		return rc;
	if (on) {
		rc = hub_no_redirects("all", err);
		if (rc == 0)
			rc = hub_no_redirects(FORGE_NETNS_UPLINK, err);
		for (size_t s = 0; rc == 0 && s < n->t->n_subnets; s++) {
			char bridge[IFNAMSIZ];
			snprintf(bridge, sizeof(bridge), "br%u", (unsigned char)s);
			rc = hub_no_redirects(bridge, err);
		}
	}
	if (rc == 0)
		rc = forge_netns_sysctl(FORWARD_KNOB, on ? "1" : "0", false, "the hub", err);
	forge_netns_return(own);
	return rc;
}

int forge_net_uplink(struct forge_net *n, int host_netns_fd, struct forge_err *err)
{
	struct nl_sock *sk = NULL;
	int rc;

	if (!n || !n->hub_sock)
		return forge_err_set(err, -EINVAL, "netns: uplink: no network");
	if (n->t->egress != FORGE_EGRESS_ALLOWLIST)
		return 0;
	if (n->host_fd >= 0)
		return forge_err_set(err, -EEXIST, "netns: scenario %s: uplink already made",
				     n->t->scenario);
	if ((rc = check_netns_fd(host_netns_fd, "uplink", err)))
		return rc;
	if (forge_netns_same(host_netns_fd, n->hub_fd))
		return forge_err_set(err, -EINVAL,
				     "netns: uplink: fd %d is the hub's own namespace, not the "
				     "host's",
				     host_netns_fd);
	if ((rc = forge_netns_fault("uplink", err)) || (rc = host_forwards(host_netns_fd, err)))
		return rc;
	n->host_fd = fcntl(host_netns_fd, F_DUPFD_CLOEXEC, 3);
	if (n->host_fd < 0)
		return forge_err_errno(err, errno, "netns: uplink: dup of fd %d", host_netns_fd);

	if ((rc = forge_netns_route_sock(n->host_fd, "the host namespace", &sk, err)) ||
	    (rc = uplink_probe(n, sk, err)) || (rc = forge_netns_fault("uplink-veth", err)) ||
	    (rc = uplink_veth(n, err)) || (rc = forge_netns_fault("uplink-host", err)) ||
	    (rc = uplink_host_end(n, sk, err)) || (rc = forge_netns_fault("uplink-hub", err)) ||
	    (rc = uplink_hub_end(n, err)) || (rc = forge_netns_fault("uplink-nft", err)) ||
	    (rc = forge_nft_hub_install(n->hub_fd, n->prefix, n->t, err)) ||
	    (rc = forge_netns_fault("uplink-host-nft", err)) || (rc = uplink_host_rules(n, err)) ||
	    (rc = forge_netns_fault("uplink-forward", err)))
		goto out;
	/* Set before the write: a write that fails half-way is undone all the same. */
	n->uplink_forwarding = true;
	rc = hub_forwarding(n, true, err);
out:
	nl_socket_free(sk);
	return rc;
}

int forge_net_uplink_get(const struct forge_net *n, struct forge_net_uplink_info *out)
{
	if (!n || !n->uplink_linked)
		return -ENOENT;
	*out = n->uplink;
	return 0;
}

/* ---------------------------------------------------------------- teardown */

static bool tag_is(const char *tag, void *want)
{
	return strcmp(tag, want) == 0;
}

int forge_netns_uplink_teardown(struct forge_net *n, struct forge_err *err)
{
	char table[HOST_TABLE_MAX], tag[UPLINK_TAG_MAX];
	int rc = 0, rc2;

	if (n->host_fd < 0)
		return 0;
	if (n->uplink_forwarding)
		rc = hub_forwarding(n, false, err);
	n->uplink_forwarding = false;
	host_table(table, n->prefix);
	uplink_tag(tag, n->prefix, n->t->scenario);
	rc2 = forge_nft_host_remove(n->host_fd, table, tag_is, tag, rc ? NULL : err);
	close(n->host_fd);
	n->host_fd = -1;
	return rc ? rc : rc2;
}

/* ---------------------------------------------------------------- orphan sweep */

struct sweep {
	const char *prefix;
	const char *const *live;
	size_t n_live;
};

/* Whether tag is "<prefix>:<scenario>:uplink" of a scenario not live. */
static bool orphan(const char *tag, void *ctx)
{
	const struct sweep *sw = ctx;
	size_t plen = strlen(sw->prefix);

	if (strncmp(tag, sw->prefix, plen) != 0 || tag[plen] != ':')
		return false;
	const char *scenario = tag + plen + 1;
	size_t len = strspn(scenario, "abcdefghijklmnopqrstuvwxyz0123456789");
	if (len == 0 || len > FORGE_NET_SCENARIO_MAX || strcmp(scenario + len, TAG_SUFFIX) != 0)
		return false;
	for (size_t i = 0; i < sw->n_live; i++)
		if (sw->live[i] && strlen(sw->live[i]) == len &&
		    strncmp(sw->live[i], scenario, len) == 0)
			return false;
	return true;
}

/* Deletes the host links whose alias match() accepts. */
static int sweep_links(int host_fd, bool (*match)(const char *, void *), void *ctx,
		       struct forge_err *err)
{
	struct nl_sock *sk = NULL;
	struct nl_cache *links = NULL;
	int rc = forge_netns_route_sock(host_fd, "the host namespace", &sk, err);

	if (rc)
		return rc;
	int nlrc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
	if (nlrc < 0)
		rc = forge_netns_nl_fail(err, nlrc, "reading the host's links");
	for (struct nl_object *o = nl_cache_get_first(links); o && rc == 0;
	     o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *alias = rtnl_link_get_ifalias(l);
		if (!alias || !match(alias, ctx))
			continue;
		/* Gone already (its hub freed meanwhile) is what was wanted. */
		nlrc = rtnl_link_delete(sk, l);
		if (nlrc < 0 && nlrc != -NLE_NODEV && nlrc != -NLE_OBJ_NOTFOUND)
			rc = forge_netns_nl_fail(err, nlrc, "delete orphan uplink %s",
						 rtnl_link_get_name(l));
	}
	nl_cache_free(links);
	nl_socket_free(sk);
	return rc;
}

int forge_net_uplink_sweep(int host_netns_fd, const char *prefix, const char *const live[],
			   size_t n_live, struct forge_err *err)
{
	struct sweep sw = {.prefix = prefix, .live = live, .n_live = n_live};
	char table[HOST_TABLE_MAX];
	int rc = check_netns_fd(host_netns_fd, "uplink sweep", err);

	if (rc)
		return rc;
	/* [a-z][a-z0-9]{0,7}, as forge_paths_init wants it. */
	if (!prefix || prefix[0] < 'a' || prefix[0] > 'z' || strlen(prefix) > FORGE_PREFIX_MAX ||
	    prefix[strspn(prefix, "abcdefghijklmnopqrstuvwxyz0123456789")] != '\0' ||
	    (n_live && !live))
		return forge_err_set(err, -EINVAL, "netns: uplink sweep: bad prefix or live list");
	host_table(table, prefix);
	rc = sweep_links(host_netns_fd, orphan, &sw, err);
	if (rc == 0)
		rc = forge_nft_host_remove(host_netns_fd, table, orphan, &sw, err);
	return rc;
}

int forge_net_uplink_remove(int host_netns_fd, const char *prefix, const char *scenario,
			    struct forge_err *err)
{
	char table[HOST_TABLE_MAX], tag[UPLINK_TAG_MAX];
	int rc = check_netns_fd(host_netns_fd, "uplink removal", err);

	if (rc)
		return rc;
	if (!prefix || !*prefix || strlen(prefix) > FORGE_PREFIX_MAX || !scenario || !*scenario ||
	    strlen(scenario) > FORGE_NET_SCENARIO_MAX)
		return forge_err_set(err, -EINVAL, "netns: uplink removal: bad prefix or scenario");
	host_table(table, prefix);
	uplink_tag(tag, prefix, scenario);
	rc = sweep_links(host_netns_fd, tag_is, tag, err);
	if (rc == 0)
		rc = forge_nft_host_remove(host_netns_fd, table, tag_is, tag, err);
	return rc;
}
