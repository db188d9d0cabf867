/* SPDX-License-Identifier: Apache-2.0 */
/* netns/ private interfaces: shared between the module's own files only. */
#ifndef FORGE_NETNS_INTERNAL_H
#define FORGE_NETNS_INTERNAL_H

#include <limits.h>
#include <stdbool.h>

#include "netns/netns.h"

struct nl_sock;

/* The uplink's end in the hub (netns/uplink.c), matched by the hub's table. */
#define FORGE_NETNS_UPLINK "up0"

/* One scenario's network (netns/link.c; the uplink's part netns/uplink.c). */
struct forge_net {
	const struct forge_topology *t;
	char prefix[FORGE_PREFIX_MAX + 1];
	char path[PATH_MAX]; /* <netns_dir>/<prefix>-<scenario> */
	bool file_created;
	bool mounted;
	int hub_fd;
	struct nl_sock *hub_sock;
	int bridge_ifindex[FORGE_NET_MAX_SUBNETS];
	/* The allowlist uplink: host_fd >= 0 once forge_net_uplink started. */
	int host_fd;
	bool uplink_linked;	/* the veth pair exists: uplink below is valid */
	bool uplink_forwarding; /* the hub forwards: stopped first at teardown */
	struct forge_net_uplink_info uplink;
};

/* ------------------------------------------------ namespaces (netns/nsenter.c) */

/* Enters the network namespace ns_fd on the calling thread, saving the
 * thread's own in *own; what names the namespace in errors. */
int forge_netns_enter(int ns_fd, int *own, const char *what, struct forge_err *err);
/* Back to the saved namespace (and closes own), or abort(). */
void forge_netns_return(int own);
/* Whether two namespace fds are the same namespace. */
bool forge_netns_same(int a, int b);
/* Whether fd is the calling thread's own network namespace. */
bool forge_netns_is_own(int fd);

/* ------------------------------------------------ links (netns/link.c) */

/* The fault hook's step: -errno (with err set) when a test injects a fault. */
int forge_netns_fault(const char *step, struct forge_err *err);
/* A libnl error as -errno, err reading "netns: <what>: <libnl's message>". */
int forge_netns_nl_fail(struct forge_err *err, int nlerr, const char *fmt, ...) FORGE_PRINTF(3, 4);
/* A NETLINK_ROUTE socket bound to the namespace ns_fd. */
int forge_netns_route_sock(int ns_fd, const char *what, struct nl_sock **out,
			   struct forge_err *err);
/* Brings link `name` up and sets its alias (when given), in one request;
 * its ifindex in *ifindex (when asked). where names the place in errors. */
int forge_netns_link_up(struct nl_sock *sk, const char *name, const char *alias, const char *where,
			int *ifindex, struct forge_err *err);
/* addr/prefix_len (with its broadcast address) on link ifindex; what names
 * the address's place in errors ("eth0 in learner"). */
int forge_netns_addr_add(struct nl_sock *sk, int ifindex, struct in_addr addr, uint8_t prefix_len,
			 const char *what, struct forge_err *err);
/* The default route via gw; who names the namespace in errors. */
int forge_netns_route_default(struct nl_sock *sk, struct in_addr gw, const char *who,
			      struct forge_err *err);
/* Writes /proc/sys/net knob path of the current namespace; a missing knob is
 * fine when missing_ok (IPv6 knobs when IPv6 is being turned off). */
int forge_netns_sysctl(const char *path, const char *value, bool missing_ok, const char *who,
		       struct forge_err *err);

/* ------------------------------------------------ uplink (netns/uplink.c) */

/* The uplink's part of forge_net_destroy, before the hub goes: the hub stops
 * forwarding, the scenario's host rules go. 0 or the first failure. */
int forge_netns_uplink_teardown(struct forge_net *n, struct forge_err *err);

/* ------------------------------------------------ nftables (netns/nft.c) */

/* One scenario's uplink as the host's table sees it. */
struct forge_nft_uplink {
	const char *tag;	 /* every rule's comment: <prefix>:<scenario>:uplink */
	const char *host_ifname; /* the host end */
	struct in_addr hub_addr; /* up0's address: what the host masquerades */
};

/* The hub's table `inet <table>` (netns/nft.c describes it), replaced in one
 * batch; never in the caller's own namespace. */
int forge_nft_hub_install(int hub_fd, const char *table, const struct forge_topology *t,
			  struct forge_err *err);
/* Adds u's rules to the host's shared table `inet <table>`, made when
 * missing, replacing rules already tagged like u's, in one batch. */
int forge_nft_host_add(int host_fd, const char *table, const struct forge_nft_uplink *u,
		       const struct forge_topology *t, struct forge_err *err);
/* Deletes, in one batch, the rules of the host's table whose comment pick
 * accepts, or the table itself when no other rule would be left. No table:
 * nothing to do. */
int forge_nft_host_remove(int host_fd, const char *table, bool (*pick)(const char *tag, void *ctx),
			  void *ctx, struct forge_err *err);

#endif /* FORGE_NETNS_INTERNAL_H */
