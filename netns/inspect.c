/* SPDX-License-Identifier: Apache-2.0 */
/* A namespace's links, addresses and routes read over netlink: evidence no program inside can fake. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <string.h>

#include "netns/internal.h"

static json_t *links_json(struct nl_cache *links)
{
	json_t *out = json_array();
	for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		unsigned flags = rtnl_link_get_flags(l);
		json_array_append_new(
		    out, json_pack("{s:s, s:i, s:b, s:b, s:i}", "name", rtnl_link_get_name(l),
				   "index", rtnl_link_get_ifindex(l), "up", (flags & IFF_UP) != 0,
				   "lower_up", (flags & IFF_LOWER_UP) != 0, "mtu",
				   (int)rtnl_link_get_mtu(l)));
	}
	return out;
}

static const char *ifname(struct nl_cache *links, int index, char buf[IFNAMSIZ])
{
	if (!rtnl_link_i2name(links, index, buf, IFNAMSIZ))
		snprintf(buf, IFNAMSIZ, "if%d", index);
	return buf;
}

static json_t *addrs_json(struct nl_cache *addrs, struct nl_cache *links)
{
	json_t *out = json_array();
	for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);
		char ip[INET6_ADDRSTRLEN], dev[IFNAMSIZ];
		if (!local || rtnl_addr_get_family(a) != AF_INET ||
		    !inet_ntop(AF_INET, nl_addr_get_binary_addr(local), ip, sizeof(ip)))
			continue;
		json_array_append_new(
		    out, json_pack("{s:s, s:i, s:s}", "address", ip, "prefix_len",
				   rtnl_addr_get_prefixlen(a), "dev",
				   ifname(links, rtnl_addr_get_ifindex(a), dev)));
	}
	return out;
}

static json_t *routes_json(struct nl_cache *routes, struct nl_cache *links)
{
	json_t *out = json_array();
	for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *r = (struct rtnl_route *)o;
		/* the main table's IPv4 routes: what the namespace routes by */
		if (rtnl_route_get_family(r) != AF_INET || rtnl_route_get_table(r) != RT_TABLE_MAIN)
			continue;
		struct nl_addr *dst = rtnl_route_get_dst(r);
		char d[INET_ADDRSTRLEN] = "0.0.0.0", gw[INET_ADDRSTRLEN] = "", dev[IFNAMSIZ] = "";
		unsigned len = dst ? nl_addr_get_prefixlen(dst) : 0;
		if (dst && nl_addr_get_len(dst) == 4)
			inet_ntop(AF_INET, nl_addr_get_binary_addr(dst), d, sizeof(d));
		if (rtnl_route_get_nnexthops(r) > 0) {
			struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, 0);
			struct nl_addr *g = rtnl_route_nh_get_gateway(nh);
			if (g && nl_addr_get_len(g) == 4)
				inet_ntop(AF_INET, nl_addr_get_binary_addr(g), gw, sizeof(gw));
			ifname(links, rtnl_route_nh_get_ifindex(nh), dev);
		}
		json_array_append_new(out, json_pack("{s:s, s:i, s:s, s:s}", "dst", d, "dst_len",
						     (int)len, "via", gw, "dev", dev));
	}
	return out;
}

int forge_net_inspect(int netns_fd, json_t **out, struct forge_err *err)
{
	struct nl_sock *sk = NULL;
	struct nl_cache *links = NULL, *addrs = NULL, *routes = NULL;
	int own, rc;

	*out = NULL;
	if ((rc = forge_netns_enter(netns_fd, &own, "inspected namespace", err)))
		return rc;
	sk = nl_socket_alloc();
	if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0) {
		rc = forge_err_set(err, -EIO, "netns: inspect: netlink socket");
		goto out;
	}
	if (rtnl_link_alloc_cache(sk, AF_UNSPEC, &links) < 0 ||
	    rtnl_addr_alloc_cache(sk, &addrs) < 0 ||
	    rtnl_route_alloc_cache(sk, AF_INET, 0, &routes) < 0) {
		rc = forge_err_set(err, -EIO, "netns: inspect: netlink dump failed");
		goto out;
	}
	*out = json_pack("{s:o, s:o, s:o}", "links", links_json(links), "addresses",
			 addrs_json(addrs, links), "routes", routes_json(routes, links));
	if (!*out)
		rc = forge_err_set(err, -ENOMEM, "netns: inspect: out of memory");
out:
	nl_cache_free(routes);
	nl_cache_free(addrs);
	nl_cache_free(links);
	nl_socket_free(sk);
	forge_netns_return(own);
	return rc;
}
