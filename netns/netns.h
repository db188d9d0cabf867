/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netns — scenario networks (DESIGN §5, Network): the topology model and its
 * validation, and the nftables egress ruleset of every container namespace.
 * Everything goes through netlink (libnftnl + libmnl here); no `ip`, `nft` or
 * `sysctl` process is ever run.
 *
 * Links (libnl-route-3): a hub namespace per scenario holding one bridge per
 * subnet, and per container veth pairs whose ends are created directly in
 * their final namespaces; torn down by deleting namespaces, never veth by veth.
 * Only a topology with the allowlist egress profile gets an uplink from its
 * hub to the host, filtered on both sides (forge_net_uplink).
 */
#ifndef FORGE_NETNS_H
#define FORGE_NETNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define FORGE_NET_NAME_MAX	 31 /* subnet and container names */
#define FORGE_NET_MAX_SUBNETS	 16
#define FORGE_NET_MAX_CONTAINERS 32
#define FORGE_NET_MAX_IFACES	 16 /* per container */
#define FORGE_NET_MAX_ALLOW	 16
#define FORGE_NET_MAX_PORTS	 16
#define FORGE_NET_SCENARIO_MAX	 12 /* [a-z0-9]{1,12}: in netns file names and link aliases */

/* ------------------------------------------------------------- topology */

struct forge_net_subnet {
	char name[FORGE_NET_NAME_MAX + 1];
	struct in_addr net; /* network address, host bits zero */
	uint8_t prefix_len; /* 8..30 */
	/* Allowlist profile only: the hub's own address on this subnet's bridge,
	 * the gateway through which containers reach the uplink. */
	bool has_uplink_gateway;
	struct in_addr uplink_gateway;
};

struct forge_net_iface {
	char subnet[FORGE_NET_NAME_MAX + 1];
	bool static_addr;    /* addr given by the template; else assigned by validation */
	struct in_addr addr; /* filled in by forge_topology_validate when automatic */
};

struct forge_net_container {
	char name[FORGE_NET_NAME_MAX + 1];
	struct forge_net_iface ifaces[FORGE_NET_MAX_IFACES]; /* eth0, eth1, … in this order */
	size_t n_ifaces;
	bool has_gateway;
	struct in_addr gateway; /* must be inside one of the container's subnets */
	bool forwarding;	/* IPv4 forwarding on (routers) */
	bool ipv6;		/* IPv6 stays off unless asked */
};

/* One allowlist entry of the explicit egress profile: destination CIDR and ports. */
struct forge_net_allow {
	struct in_addr net;
	uint8_t prefix_len; /* 0..32 */
	uint8_t proto;	    /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t ports[FORGE_NET_MAX_PORTS];
	size_t n_ports; /* 0: every port */
};

enum forge_net_egress {
	FORGE_EGRESS_DENY = 0,	/* the default and what every shipped template uses */
	FORGE_EGRESS_ALLOWLIST, /* an uplink with its own allowlist, only when asked */
};

struct forge_topology {
	char scenario[FORGE_NET_SCENARIO_MAX + 1];
	struct forge_net_subnet subnets[FORGE_NET_MAX_SUBNETS];
	size_t n_subnets;
	struct forge_net_container containers[FORGE_NET_MAX_CONTAINERS];
	size_t n_containers;
	enum forge_net_egress egress;
	struct forge_net_allow allow[FORGE_NET_MAX_ALLOW];
	size_t n_allow;
};

/*
 * Parses the JSON form (what the template parser will hand over):
 *   {"scenario": "ab12cd34",
 *    "egress": "deny" | {"allowlist": [{"cidr": "192.0.2.0/24", "proto": "tcp",
 *                                       "ports": [80, 443]}]},
 *    "subnets": [{"name": "learner_net", "cidr": "10.10.0.0/24",
 *                 "uplink_gateway": "10.10.0.254"}, …],
 *    "containers": [{"name": "router", "forwarding": true, "ipv6": false,
 *                    "gateway": "10.10.0.1",
 *                    "networks": [{"subnet": "learner_net", "ip": "10.10.0.1"},
 *                                 {"subnet": "target_net"}]}, …]}
 * Unknown keys and wrong types are errors naming their JSON path
 * ("containers[1].networks[0].ip: \"10.10.0.300\" is not an IPv4 address").
 * scenario, subnets and containers are required. On failure *t is zeroed.
 */
int forge_topology_from_json(const json_t *j, struct forge_topology *t, struct forge_err *err);

/*
 * Checks everything that can be checked before a kernel object exists, and
 * assigns automatic addresses (the lowest free host address of the subnet,
 * deterministic: containers in order). Refuses, each with a message naming
 * the offender: a bad scenario id; duplicate subnet or container names;
 * overlapping subnets; a subnet prefix outside 8..30; an interface on an
 * unknown subnet or twice on one subnet; an address outside its subnet, the
 * network or broadcast address, or used twice; a subnet with no free address
 * left; a gateway not on one of the container's subnets (or that is its own
 * address, a network or a broadcast address); more than FORGE_NET_MAX_IFACES
 * interfaces; a prefix not matching [a-z][a-z0-9]{0,7}; an allowlist without
 * the allowlist egress profile, or with bad or repeated ports; an
 * uplink_gateway without the allowlist profile, that is not a host address
 * of its subnet or that a container's interface uses; the allowlist profile
 * without any uplink_gateway (nothing could reach the uplink). Automatic
 * addresses never take an uplink_gateway. Every error is -EINVAL and leaves
 * *t unchanged; automatic addresses are recomputed on every call, so
 * validating twice is harmless.
 *
 * Names the builder uses (all fit IFNAMSIZ by construction, checked by
 * static asserts in topology.c): hub netns /run/netns/<prefix>-<scenario>;
 * in the hub, bridge br<subnet index> and veth end v<container>.<iface>;
 * in a container, eth<iface> in interface order. Link aliases carry
 * <prefix>:<scenario>:<subnet> (bridges) and <prefix>:<scenario>:<container>:eth<i>
 * (veth ends), so recovery finds a scenario's links without a state file.
 * The uplink (allowlist profile only): "up0" in the hub, and in the host
 * namespace <prefix>-u<4 hex digits> aliased <prefix>:<scenario>:uplink.
 */
int forge_topology_validate(struct forge_topology *t, const char *prefix, struct forge_err *err);

/* "10.10.0.0/24"-style parsing with host bits zero required when strict. */
int forge_net_parse_cidr(const char *s, bool strict, struct in_addr *net, uint8_t *prefix_len,
			 struct forge_err *err);

/* ------------------------------------------------------------- nftables */

/*
 * Installs, as one atomic netlink batch, the table `inet <table>` in the
 * network namespace netns_fd (the calling thread enters it and comes back):
 *   chain input   (filter, hook input, policy drop):   lo, established/related,
 *                  and sources inside the scenario's subnets accepted;
 *   chain forward (filter, hook forward, policy drop): established/related, and
 *                  traffic whose source and destination are both scenario subnets;
 *   chain output  (filter, hook output, policy drop):  lo, established/related,
 *                  destinations inside the scenario's subnets, and (allowlist
 *                  profile only) each allowlist entry;
 * every chain ending with a counter + log (prefix "FORGE_EGRESS_DENY ", rate
 * limited) + drop rule so that drops are counted and logged. A table of that
 * name already there is replaced in the same batch (its counters restart at
 * 0). table: 1..32 characters, a letter then letters, digits, '_' or '-'.
 * Refuses the caller's own network namespace (a deny-all there would cut the
 * host off) and a /0 subnet (it would make deny-all allow-all).
 *
 * Logging: the kernel logs from a non-initial network namespace only when
 * the host-wide net.netfilter.nf_log_all_netns is 1; otherwise the log rule
 * is inert and only the counters record drops. Which of the two forged
 * chooses (setting the knob, or NFLOG to a listener) is the builder's part.
 */
int forge_nft_install(int netns_fd, const char *table, const struct forge_topology *t,
		      struct forge_err *err);

/*
 * Reads the table back through libnftnl (not by parsing `nft` output) as
 * JSON: {"table": NAME, "family": "inet", "chains": [{"name", "hook",
 * "policy", "rules": [{"expr": [...], "packets": N, "bytes": N}]}]}, with a
 * normalised description of each rule's expressions that tests compare with
 * what was asked for. New reference, NULL with err set.
 */
json_t *forge_nft_read(int netns_fd, const char *table, struct forge_err *err);

/* Packets dropped so far by the final drop rules of the output, forward and
 * input chains (sum of their counters). */
int forge_nft_drop_count(int netns_fd, const char *table, uint64_t *packets, struct forge_err *err);

/* ------------------------------------------------------------- links */

struct forge_net; /* one scenario's network, being built or built */

/* Test hook, NULL in production: called with the name of each build step
 * before it runs ("hub", "bridge", "veth", "addr", "route", "sysctl", "nft",
 * …); a negative return aborts the build there, as a failure would. */
extern int (*forge_net_fault_hook)(const char *step);

/*
 * Creates the scenario's hub: a new network namespace bind-mounted at
 * <netns_dir>/<prefix>-<scenario> (netns_dir is normally /run/netns, so
 * auditors can `ip netns exec` into it), lo up, and one bridge per subnet
 * (br<s>, up, aliased <prefix>:<scenario>:<subnet>). The hub has no link to
 * the host (forge_net_uplink adds one for the allowlist profile). t must
 * have passed forge_topology_validate and stays owned by the caller (it must
 * outlive *out). Refuses an existing name: a namespace being torn down is
 * never reused. On failure nothing is left.
 */
int forge_net_create(const struct forge_topology *t, const char *prefix, const char *netns_dir,
		     struct forge_net **out, struct forge_err *err);

/*
 * Wires the topology's container `name` whose network namespace is netns_fd
 * (normally the container's own, from the runtime's pre-start hook): per
 * interface a veth pair created in one request with each end directly in its
 * final namespace (hub end v<c>.<i> enslaved to the subnet's bridge, container
 * end eth<i>, both aliased <prefix>:<scenario>:<name>:eth<i>, MTU 1500, up),
 * the addresses, lo up, the default route via the gateway, the namespace's
 * sysctls (IPv4 forwarding only for routers; IPv6 disabled unless asked; no
 * router advertisements accepted) and the nftables table `inet <prefix>`
 * (forge_nft_install). On failure what this call made is left for
 * forge_net_destroy, which removes it with the rest.
 */
int forge_net_attach(struct forge_net *n, const char *name, int netns_fd, struct forge_err *err);

/* A new, empty network namespace held by *fd (lo down), for a container
 * namespace when no container runtime is involved (tests, the benchmark). */
int forge_net_new_netns(int *fd, struct forge_err *err);

/* The hub namespace's fd (valid until destroy). */
int forge_net_hub_fd(const struct forge_net *n);

/* ------------------------------------------------------------- uplink */

/*
 * The allowlist egress profile's uplink from the hub to the host namespace
 * host_netns_fd (forged's own; tests pass a namespace of their own). Does
 * nothing for a deny-only topology: no link, no rule, 0. Otherwise, in this
 * order (each a fault-hook step):
 *   "uplink"         refuses unless the host forwards IPv4 (Forge never
 *                    changes net.ipv4.ip_forward of the host), then picks a
 *                    free /30 in 169.254.0.0/16: the first block from a start
 *                    derived from prefix and scenario that holds no address
 *                    of the host, meets no more specific host route, no
 *                    scenario subnet, and whose link name is free; skipping
 *                    the RFC 3927 reserved first and last /24 and
 *                    169.254.169.0/23 (cloud metadata services). The same
 *                    host state always gives the same block;
 *   "uplink-veth"    one veth pair in one request, each end created in its
 *                    final namespace: "up0" in the hub, <prefix>-u<block> in
 *                    the host;
 *   "uplink-host"    the host end: IPv6 off, the first address of the block,
 *                    alias <prefix>:<scenario>:uplink, up;
 *   "uplink-hub"     up0: the second address, up; each subnet's
 *                    uplink_gateway on its bridge; the hub's default route
 *                    via the host end;
 *   "uplink-nft"     the hub's table inet <prefix> (one batch): forward
 *                    policy drop, established/related accepted, new flows
 *                    only from the bridges, from the scenario's subnets, out
 *                    up0, to the allowlist (chain egress); nothing new in
 *                    from up0 (input and forward); drops counted and logged
 *                    "FORGE_EGRESS_DENY "; what leaves by up0 masqueraded;
 *   "uplink-host-nft" the scenario's rules in the host's shared table
 *                    inet <prefix>_up (one batch, every rule tagged with the
 *                    comment <prefix>:<scenario>:uplink; chains of policy
 *                    accept, so the host's other traffic is untouched): from
 *                    the host end only the allowlist and established flows
 *                    are forwarded, to it only established flows, nothing
 *                    reaches the host itself; drops counted and logged; the
 *                    hub's address masqueraded when it leaves the host;
 *   "uplink-forward" last, once both sides filter: the hub forwards IPv4
 *                    (ICMP redirects off).
 * Refuses a second call and the hub's own namespace. On failure what this
 * call made is left for forge_net_destroy, which first stops the hub
 * forwarding, then removes the scenario's host rules (and the host table
 * with the last of them), then the hub: the veth pair goes with the hub
 * namespace, asynchronously (the host end disappears shortly after destroy
 * returns; a link name is never reused while it exists).
 *
 * The host must forward between the host end and its way out: a host
 * firewall whose forward policy is drop must accept <prefix>-u* interfaces.
 */
int forge_net_uplink(struct forge_net *n, int host_netns_fd, struct forge_err *err);

struct forge_net_uplink_info {
	char host_ifname[16];	  /* in the host namespace (IFNAMSIZ) */
	struct in_addr host_addr; /* on host_ifname: the hub's gateway */
	struct in_addr hub_addr;  /* on up0: the source the host sees */
	uint8_t prefix_len;	  /* 30 */
};

/* The uplink's names and addresses once its link exists; -ENOENT before. */
int forge_net_uplink_get(const struct forge_net *n, struct forge_net_uplink_info *out);

/*
 * Orphan sweep of the host namespace host_netns_fd for instance prefix:
 * deletes every host end aliased <prefix>:<scenario>:uplink and every rule
 * of table inet <prefix>_up tagged with such a scenario, unless the scenario
 * is one of live[0..n_live) (the table goes with its last rule). Needs no
 * state file: what a crash left is found by alias and comment.
 */
int forge_net_uplink_sweep(int host_netns_fd, const char *prefix, const char *const live[],
			   size_t n_live, struct forge_err *err);
/* The same for one scenario: its host end and host rules, found by tag (what
 * a teardown needs when the scenario's forge_net is gone with an earlier
 * forged). Nothing to remove is not an error. */
int forge_net_uplink_remove(int host_netns_fd, const char *prefix, const char *scenario,
			    struct forge_err *err);

/*
 * Removes the scenario's network: the uplink's host rules (forge_net_uplink),
 * the hub's bind mount and file (the hub namespace, its bridges and the hub
 * ends of every veth go with it; the container ends and the uplink's host end
 * go with their pairs) and frees n. Works on a network whose build stopped at
 * any step; n may be NULL.
 */
int forge_net_destroy(struct forge_net *n, struct forge_err *err);

/* ------------------------------------------------------------- inspection */

/*
 * Reads the network namespace netns_fd over netlink (the calling thread
 * enters it and comes back): {"links": [{"name","index","up","lower_up",
 * "mtu"}], "addresses": [{"address","prefix_len","dev"}] (IPv4),
 * "routes": [{"dst","dst_len","via","dev"}] (IPv4, main table)}. Evidence
 * collected from outside: no program in the namespace can make it lie.
 */
int forge_net_inspect(int netns_fd, json_t **out, struct forge_err *err);

#endif /* FORGE_NETNS_H */
