/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netns/link.c — a scenario's links (DESIGN §5, issue 3) through libnl-route-3:
 * the hub namespace with one bridge per subnet, per container interface a
 * veth pair whose two ends are created directly in their final namespaces,
 * addresses, the default route, the per-namespace sysctls and the nftables
 * table (forge_nft_install). Names and aliases follow netns/topology.c.
 *
 * Namespaces are entered only for socket(2) and the /proc/sys/net writes,
 * and left at once (netns/nsenter.c).
 *
 * The hub is made with unshare(CLONE_NEWNET) on the calling thread, held by
 * an fd, and bind-mounted on <netns_dir>/<prefix>-<scenario> for auditors
 * (`ip netns exec`). Unlike iproute2, netns_dir itself is not made a shared
 * mount point bound on itself: only the file is bound, which is enough for
 * `ip netns exec` and for unmounting in the namespace that mounted it.
 *
 * Teardown detaches the bind mount, unlinks the file and closes the fd: the
 * namespace (its bridges, the hub ends and with them the container ends of
 * every veth, and the uplink's host end) goes with its last reference,
 * destroyed asynchronously by the kernel. A name is never reused while
 * that happens: the file is unlinked at once and create refuses an existing
 * file, so a new hub of the same name is always a new namespace.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "netns/internal.h"

#define VETH_MTU 1500

int (*forge_net_fault_hook)(const char *step);

/* ---------------------------------------------------------------- helpers */

int forge_netns_fault(const char *step, struct forge_err *err)
{
	int rc = forge_net_fault_hook ? forge_net_fault_hook(step) : 0;

	if (rc < 0)
		return forge_err_set(err, rc, "netns: fault injected at %s", step);
	return 0;
}

/* libnl answers with its own codes; callers of this module expect -errno. */
static int errno_of_nl(int nlerr)
{
	static const struct {
		int nle, errnum;
	} map[] = {
	    {NLE_EXIST, EEXIST}, {NLE_NOMEM, ENOMEM},
	    {NLE_PERM, EPERM},	 {NLE_NOACCESS, EACCES},
	    {NLE_INVAL, EINVAL}, {NLE_RANGE, ERANGE},
	    {NLE_BUSY, EBUSY},	 {NLE_OPNOTSUPP, EOPNOTSUPP},
	    {NLE_NODEV, ENODEV}, {NLE_OBJ_NOTFOUND, ENOENT},
	    {NLE_AGAIN, EAGAIN}, {NLE_AF_NOSUPPORT, EAFNOSUPPORT},
	};
	int e = nlerr < 0 ? -nlerr : nlerr;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].nle == e)
			return -map[i].errnum;
	return -EIO;
}

int forge_netns_nl_fail(struct forge_err *err, int nlerr, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return forge_err_set(err, errno_of_nl(nlerr), "netns: %s: %s", what, nl_geterror(nlerr));
}

int forge_netns_route_sock(int ns_fd, const char *what, struct nl_sock **out, struct forge_err *err)
{
	int own, rc = forge_netns_enter(ns_fd, &own, what, err);

	*out = NULL;
	if (rc)
		return rc;
	struct nl_sock *sk = nl_socket_alloc();
	int nlrc = sk ? nl_connect(sk, NETLINK_ROUTE) : -NLE_NOMEM;
	forge_netns_return(own);
	if (nlrc < 0) {
		nl_socket_free(sk);
		return forge_netns_nl_fail(err, nlrc, "route netlink socket in %s", what);
	}
	*out = sk;
	return 0;
}

/* The alias needs this request even for a link just created: the kernel
 * ignores IFLA_IFALIAS in a request that creates a link. */
int forge_netns_link_up(struct nl_sock *sk, const char *name, const char *alias, const char *where,
			int *ifindex, struct forge_err *err)
{
	struct rtnl_link *orig = NULL, *change = rtnl_link_alloc();
	int rc = change ? rtnl_link_get_kernel(sk, 0, name, &orig) : -NLE_NOMEM;

	if (rc == 0) {
		rtnl_link_set_flags(change, IFF_UP);
		if (alias)
			rtnl_link_set_ifalias(change, alias);
		rc = rtnl_link_change(sk, orig, change, 0);
		if (ifindex)
			*ifindex = rtnl_link_get_ifindex(orig);
	}
	rtnl_link_put(change);
	rtnl_link_put(orig);
	return rc < 0 ? forge_netns_nl_fail(err, rc, "%s %s", where, name) : 0;
}

/* ---------------------------------------------------------------- hub */

static int hub_unshare(int *hub_fd, struct forge_err *err)
{
	int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (own < 0)
		return forge_err_errno(err, errno, "netns: open /proc/thread-self/ns/net");
	if (unshare(CLONE_NEWNET) < 0) {
		int e = errno;
		close(own);
		return forge_err_errno(err, e, "netns: unshare(CLONE_NEWNET)");
	}
	*hub_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int e = errno;
	/* No IPv6 in the hub: its bridges and veth ends would otherwise get
	 * link-local addresses. "default" covers every link made from here on. */
	int rc = 0;
	if (*hub_fd >= 0) {
		rc = forge_netns_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1", true,
					"the hub", err);
		if (rc == 0)
			rc = forge_netns_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1",
						true, "the hub", err);
	}
	forge_netns_return(own);
	if (*hub_fd < 0)
		return forge_err_errno(err, e, "netns: open the new namespace");
	if (rc < 0) {
		close(*hub_fd);
		*hub_fd = -1;
	}
	return rc;
}

static int hub_bind(struct forge_net *n, const char *netns_dir, struct forge_err *err)
{
	char src[64];

	if (mkdir(netns_dir, 0755) < 0 && errno != EEXIST)
		return forge_err_errno(err, errno, "netns: mkdir %s", netns_dir);
	int fd = open(n->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0) {
		if (errno == EEXIST)
			return forge_err_set(err, -EEXIST,
					     "netns: %s already exists (scenario running or not "
					     "yet cleaned up)",
					     n->path);
		return forge_err_errno(err, errno, "netns: create %s", n->path);
	}
	close(fd);
	n->file_created = true;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", n->hub_fd);
	if (mount(src, n->path, "none", MS_BIND, NULL) < 0)
		return forge_err_errno(err, errno, "netns: bind the hub on %s", n->path);
	n->mounted = true;
	return 0;
}

static int hub_bridges(struct forge_net *n, struct forge_err *err)
{
	const struct forge_topology *t = n->t;

	for (size_t s = 0; s < t->n_subnets; s++) {
		char name[IFNAMSIZ], alias[IFALIASZ];
		int rc = forge_netns_fault("bridge", err);
		if (rc)
			return rc;
		snprintf(name, sizeof(name), "br%u", (unsigned char)s);
		snprintf(alias, sizeof(alias), "%s:%s:%s", n->prefix, t->scenario,
			 t->subnets[s].name);
		struct rtnl_link *br = rtnl_link_bridge_alloc();
		if (!br)
			return forge_err_set(err, -ENOMEM, "netns: bridge %s: out of memory", name);
		rtnl_link_set_name(br, name);
		rtnl_link_set_flags(br, IFF_UP);
		rc = rtnl_link_add(n->hub_sock, br, NLM_F_CREATE | NLM_F_EXCL);
		rtnl_link_put(br);
		if (rc < 0)
			return forge_netns_nl_fail(err, rc, "bridge %s", name);
		rc = forge_netns_link_up(n->hub_sock, name, alias, "hub bridge",
					 &n->bridge_ifindex[s], err);
		if (rc)
			return rc;
	}
	return 0;
}

int forge_net_create(const struct forge_topology *t, const char *prefix, const char *netns_dir,
		     struct forge_net **out, struct forge_err *err)
{
	int rc;

	*out = NULL;
	if (!t || !prefix || !netns_dir)
		return forge_err_set(err, -EINVAL, "netns: create: missing argument");
	/* Validation on a copy: refuses before any kernel object exists, and
	 * leaves the caller's topology as it is. */
	struct forge_topology *copy = malloc(sizeof(*copy));
	if (!copy)
		return forge_err_set(err, -ENOMEM, "netns: create: out of memory");
	memcpy(copy, t, sizeof(*copy));
	rc = forge_topology_validate(copy, prefix, err);
	bool validated = rc == 0 && memcmp(copy, t, sizeof(*copy)) == 0;
	free(copy);
	if (rc)
		return rc;
	if (!validated) /* validation would assign addresses t lacks */
		return forge_err_set(err, -EINVAL,
				     "netns: scenario %s: topology not validated (automatic "
				     "addresses missing)",
				     t->scenario);

	struct forge_net *n = calloc(1, sizeof(*n));
	if (!n)
		return forge_err_set(err, -ENOMEM, "netns: create: out of memory");
	n->t = t;
	n->hub_fd = -1;
	n->host_fd = -1;
	snprintf(n->prefix, sizeof(n->prefix), "%s", prefix);
	if ((size_t)snprintf(n->path, sizeof(n->path), "%s/%s-%s", netns_dir, prefix,
			     t->scenario) >= sizeof(n->path)) {
		free(n);
		return forge_err_set(err, -ENAMETOOLONG, "netns: %s: path too long", netns_dir);
	}

	if ((rc = forge_netns_fault("hub", err)) || (rc = hub_unshare(&n->hub_fd, err)) ||
	    (rc = forge_netns_fault("bind", err)) || (rc = hub_bind(n, netns_dir, err)) ||
	    (rc = forge_netns_route_sock(n->hub_fd, "the hub", &n->hub_sock, err)) ||
	    (rc = forge_netns_fault("lo", err)) ||
	    (rc = forge_netns_link_up(n->hub_sock, "lo", NULL, "hub", NULL, err)) ||
	    (rc = hub_bridges(n, err))) {
		forge_net_destroy(n, NULL);
		return rc;
	}
	*out = n;
	return 0;
}

int forge_net_hub_fd(const struct forge_net *n)
{
	return n ? n->hub_fd : -1;
}

/* ---------------------------------------------------------------- attach */

struct attach {
	struct forge_net *n;
	const struct forge_net_container *c;
	size_t ci;
	int ns_fd;
	struct nl_sock *sk; /* in the container's namespace */
};

static int subnet_index(const struct forge_topology *t, const char *name)
{
	for (size_t s = 0; s < t->n_subnets; s++)
		if (strcmp(t->subnets[s].name, name) == 0)
			return (int)s;
	return -1;
}

/* One RTM_NEWLINK on the hub socket: the hub end v<c>.<i> on its bridge and
 * up, the container end eth<i> created directly in the container's namespace.
 * The container end cannot be brought up in the same request: the kernel
 * registers it first and opening a veth without its peer yet fails
 * (ENOTCONN), so it comes up later on the container's socket. */
static int attach_veth(struct attach *a, size_t i, int bridge_ifindex, struct forge_err *err)
{
	char hub_name[IFNAMSIZ], name[IFNAMSIZ], alias[IFALIASZ];
	struct rtnl_link *veth = rtnl_link_veth_alloc();
	struct rtnl_link *peer = veth ? rtnl_link_veth_get_peer(veth) : NULL;

	snprintf(hub_name, sizeof(hub_name), "v%u.%u", (unsigned char)a->ci, (unsigned char)i);
	snprintf(name, sizeof(name), "eth%u", (unsigned char)i);
	snprintf(alias, sizeof(alias), "%s:%s:%s:eth%zu", a->n->prefix, a->n->t->scenario,
		 a->c->name, i);
	if (!peer) {
		rtnl_link_put(veth);
		return forge_err_set(err, -ENOMEM, "netns: veth %s: out of memory", hub_name);
	}
	rtnl_link_set_name(veth, hub_name);
	rtnl_link_set_mtu(veth, VETH_MTU);
	rtnl_link_set_master(veth, bridge_ifindex);
	rtnl_link_set_flags(veth, IFF_UP);
	rtnl_link_set_name(peer, name);
	rtnl_link_set_mtu(peer, VETH_MTU);
	rtnl_link_set_ns_fd(peer, a->ns_fd);
	int rc = rtnl_link_add(a->n->hub_sock, veth, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(peer);
	rtnl_link_put(veth);
	if (rc < 0)
		return forge_netns_nl_fail(err, rc, "veth %s (%s in %s)", hub_name, name,
					   a->c->name);
	return forge_netns_link_up(a->n->hub_sock, hub_name, alias, "hub veth", NULL, err);
}

int forge_netns_addr_add(struct nl_sock *sk, int ifindex, struct in_addr addr, uint8_t prefix_len,
			 const char *what, struct forge_err *err)
{
	char text[INET_ADDRSTRLEN];
	uint32_t mask = prefix_len ? htonl(~0u << (32 - prefix_len)) : 0;
	struct in_addr bcast = {.s_addr = (addr.s_addr & mask) | ~mask};
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = nl_addr_build(AF_INET, &addr, 4);
	struct nl_addr *brd = nl_addr_build(AF_INET, &bcast, 4);
	int rc = a && local && brd ? 0 : -NLE_NOMEM;

	inet_ntop(AF_INET, &addr, text, sizeof(text));
	if (rc == 0) {
		nl_addr_set_prefixlen(local, prefix_len);
		rtnl_addr_set_ifindex(a, ifindex);
		rtnl_addr_set_family(a, AF_INET);
		rc = rtnl_addr_set_local(a, local);
	}
	if (rc == 0)
		rc = rtnl_addr_set_broadcast(a, brd);
	if (rc == 0)
		rc = rtnl_addr_add(sk, a, NLM_F_EXCL);
	nl_addr_put(local);
	nl_addr_put(brd);
	rtnl_addr_put(a);
	return rc < 0 ? forge_netns_nl_fail(err, rc, "address %s/%u on %s", text, prefix_len, what)
		      : 0;
}

int forge_netns_route_default(struct nl_sock *sk, struct in_addr gateway, const char *who,
			      struct forge_err *err)
{
	char text[INET_ADDRSTRLEN];
	struct in_addr any = {0};
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = nl_addr_build(AF_INET, &any, 4);
	struct nl_addr *gw = nl_addr_build(AF_INET, &gateway, 4);
	int rc = r && nh && dst && gw ? 0 : -NLE_NOMEM;

	inet_ntop(AF_INET, &gateway, text, sizeof(text));
	if (rc == 0) {
		nl_addr_set_prefixlen(dst, 0);
		rtnl_route_set_family(r, AF_INET);
		rtnl_route_set_table(r, RT_TABLE_MAIN);
		rtnl_route_set_protocol(r, RTPROT_STATIC);
		rtnl_route_set_scope(r, RT_SCOPE_UNIVERSE);
		rtnl_route_set_type(r, RTN_UNICAST);
		rc = rtnl_route_set_dst(r, dst);
	}
	if (rc == 0) {
		rtnl_route_nh_set_gateway(nh, gw);
		rtnl_route_add_nexthop(r, nh); /* r owns nh from here */
		nh = NULL;
		rc = rtnl_route_add(sk, r, NLM_F_EXCL);
	}
	if (nh)
		rtnl_route_nh_free(nh);
	nl_addr_put(dst);
	nl_addr_put(gw);
	rtnl_route_put(r);
	return rc < 0 ? forge_netns_nl_fail(err, rc, "default route via %s in %s", text, who) : 0;
}

/* A missing IPv6 knob (IPv6 off in the kernel) is fine when IPv6 is being
 * turned off. */
int forge_netns_sysctl(const char *path, const char *value, bool missing_ok, const char *who,
		       struct forge_err *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0) {
		if (missing_ok && errno == ENOENT)
			return 0;
		return forge_err_errno(err, errno, "netns: %s in %s", path, who);
	}
	size_t len = strlen(value);
	ssize_t w = write(fd, value, len);
	int e = errno;
	close(fd);
	if (w != (ssize_t)len)
		return forge_err_errno(err, w < 0 ? e : EIO, "netns: write %s in %s", path, who);
	return 0;
}

static int attach_sysctls(struct attach *a, struct forge_err *err)
{
	const struct forge_net_container *c = a->c;
	const char *v6off = c->ipv6 ? "0" : "1";
	char path[96];
	int own, rc = forge_netns_enter(a->ns_fd, &own, c->name, err);

	if (rc)
		return rc;
	rc = forge_netns_sysctl("/proc/sys/net/ipv4/ip_forward", c->forwarding ? "1" : "0", false,
				c->name, err);
	static const char *const confs[] = {"all", "default"};
	for (size_t k = 0; rc == 0 && k < 2; k++) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", confs[k]);
		rc = forge_netns_sysctl(path, v6off, !c->ipv6, c->name, err);
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", confs[k]);
		if (rc == 0)
			rc = forge_netns_sysctl(path, "0", !c->ipv6, c->name, err);
	}
	/* all/accept_ra does not reach interfaces that already exist. */
	for (size_t i = 0; rc == 0 && i < c->n_ifaces; i++) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/eth%zu/accept_ra", i);
		rc = forge_netns_sysctl(path, "0", !c->ipv6, c->name, err);
	}
	forge_netns_return(own);
	return rc;
}

int forge_net_attach(struct forge_net *n, const char *name, int netns_fd, struct forge_err *err)
{
	struct attach a = {.n = n, .ns_fd = netns_fd};
	int rc;

	if (!n || !name || !n->hub_sock)
		return forge_err_set(err, -EINVAL, "netns: attach: no network or name");
	for (size_t ci = 0; ci < n->t->n_containers && !a.c; ci++)
		if (strcmp(n->t->containers[ci].name, name) == 0) {
			a.c = &n->t->containers[ci];
			a.ci = ci;
		}
	if (!a.c)
		return forge_err_set(err, -ENOENT,
				     "netns: attach: no container \"%.*s\" in scenario %s",
				     FORGE_NET_NAME_MAX, name, n->t->scenario);
	if (forge_netns_same(netns_fd, n->hub_fd) || forge_netns_is_own(netns_fd))
		return forge_err_set(err, -EINVAL,
				     "netns: attach %s: fd %d is the hub's or the caller's own "
				     "network namespace, not a container's",
				     name, netns_fd);

	for (size_t i = 0; i < a.c->n_ifaces; i++) {
		int s = subnet_index(n->t, a.c->ifaces[i].subnet);
		if (s < 0)
			return forge_err_set(err, -EINVAL, "netns: attach %s: unknown subnet %s",
					     name, a.c->ifaces[i].subnet);
		if ((rc = forge_netns_fault("veth", err)) ||
		    (rc = attach_veth(&a, i, n->bridge_ifindex[s], err)))
			return rc;
	}
	/* IPv6 goes off before any link comes up, so a container never sends a
	 * router solicitation, DAD probe or MLD report at all. */
	if ((rc = forge_netns_fault("sysctl", err)) || (rc = attach_sysctls(&a, err)))
		return rc;
	if ((rc = forge_netns_route_sock(netns_fd, a.c->name, &a.sk, err)))
		return rc;
	if ((rc = forge_netns_fault("lo", err)) ||
	    (rc = forge_netns_link_up(a.sk, "lo", NULL, a.c->name, NULL, err)))
		goto out;
	for (size_t i = 0; i < a.c->n_ifaces; i++) {
		int s = subnet_index(n->t, a.c->ifaces[i].subnet);
		char eth[IFNAMSIZ], alias[IFALIASZ];
		char where[IFNAMSIZ + FORGE_NET_NAME_MAX + 8];
		int ifindex = 0;
		snprintf(eth, sizeof(eth), "eth%u", (unsigned char)i);
		snprintf(where, sizeof(where), "%s in %s", eth, a.c->name);
		snprintf(alias, sizeof(alias), "%s:%s:%s:eth%zu", n->prefix, n->t->scenario,
			 a.c->name, i);
		if ((rc = forge_netns_link_up(a.sk, eth, alias, a.c->name, &ifindex, err)) ||
		    (rc = forge_netns_fault("addr", err)) ||
		    (rc = forge_netns_addr_add(a.sk, ifindex, a.c->ifaces[i].addr,
					       n->t->subnets[s].prefix_len, where, err)))
			goto out;
	}
	if (a.c->has_gateway &&
	    ((rc = forge_netns_fault("route", err)) ||
	     (rc = forge_netns_route_default(a.sk, a.c->gateway, a.c->name, err))))
		goto out;
	if ((rc = forge_netns_fault("nft", err)))
		goto out;
	rc = forge_nft_install(netns_fd, n->prefix, n->t, err);
out:
	nl_socket_free(a.sk);
	return rc;
}

/* ---------------------------------------------------------------- namespaces */

int forge_net_new_netns(int *fd, struct forge_err *err)
{
	*fd = -1;
	return hub_unshare(fd, err);
}

int forge_net_destroy(struct forge_net *n, struct forge_err *err)
{
	int rc = 0;

	if (!n)
		return 0;
	/* The uplink first: the hub stops forwarding before the host's rules
	 * for it go, and the pair goes with the hub. */
	rc = forge_netns_uplink_teardown(n, err);
	nl_socket_free(n->hub_sock);
	if (n->mounted && umount2(n->path, MNT_DETACH) < 0 && rc == 0)
		rc = forge_err_errno(err, errno, "netns: unmount %s", n->path);
	if (n->file_created && unlink(n->path) < 0 && rc == 0)
		rc = forge_err_errno(err, errno, "netns: unlink %s", n->path);
	if (n->hub_fd >= 0)
		close(n->hub_fd);
	free(n);
	return rc;
}
