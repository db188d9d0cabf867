/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nftables egress table of a container namespace (DESIGN §5, Network),
 * and the two tables of the allowlist uplink (one in the hub, one shared in
 * the host namespace): built as one netlink batch with libnftnl, sent and
 * acknowledged with libmnl, and read back from the kernel into a normalised
 * JSON form.
 *
 * Ruleset (family inet; every chain type filter, priority 0, policy drop):
 *   input:   iifname "lo" accept; meta nfproto ipv4 ct state established,related accept;
 *            ip saddr SUBNET accept (each subnet); DENY
 *   forward: meta nfproto ipv4 ct state established,related accept;
 *            ip saddr S ip daddr D accept (each pair of subnets); DENY
 *   output:  oifname "lo" accept; meta nfproto ipv4 ct state established,related accept;
 *            ip daddr SUBNET accept (each subnet);
 *            allowlist profile only: ip daddr CIDR tcp|udp dport PORT accept (one rule per
 *            port; "meta l4proto tcp|udp" when the entry has no ports); DENY
 *   DENY = counter limit rate 10/second log prefix "FORGE_EGRESS_DENY " drop
 *          (burst 5 packets: nft's default, which nft and the read-back leave unsaid;
 *          over the limit the rule stops before its drop and the policy drops)
 * Only IPv4 gets past the subnet and conntrack rules: IPv6 is accepted on loopback only.
 * Pairs of subnets and ports are spelled out rule by rule rather than as
 * anonymous sets, so the read-back shows every match in full.
 *
 * The hub's table (allowlist profile, netns/uplink.c), replaced like the above:
 *   input   (filter, policy drop):  iifname "lo" accept; CT; iifname "br*" accept; DENY
 *   forward (filter, policy drop):  CT; iifname "br*" oifname "up0" ip saddr SUBNET
 *                                   jump egress (each subnet); DENY
 *   egress  (regular chain):        the allowlist rules as in output above; DENY
 *   postrouting (nat, srcnat 100, policy accept): oifname "up0" masquerade
 * (CT = meta nfproto ipv4 ct state established,related accept): nothing new
 * comes in from the uplink, nothing goes between bridges, and the host sees
 * every scenario behind the hub's one uplink address.
 *
 * The host's table inet <prefix>_up is shared by every scenario with an
 * uplink; its base chains have policy accept (the host's own traffic is not
 * Forge's to filter) and each scenario adds its rules, all tagged with the
 * comment <prefix>:<scenario>:uplink, X being its host end, H the hub's address:
 *   forward: iifname X CT; iifname X + each allowlist rule accept; iifname X DENY;
 *            oifname X CT; oifname X DENY
 *   input:   iifname X DENY                       (the host itself is never reachable)
 *   postrouting (nat, srcnat 100): ip saddr H masquerade   (iifname is unknown there)
 * A scenario's rules are removed by handle, found by their tag (nothing to
 * remember, so recovery can sweep them), and the table goes with the last of them.
 *
 * Read-back: each rule's expressions become terms in nft's own words, so that
 * the terms joined by spaces are what `nft list` prints for that rule (counter
 * values aside, which are reported as the rule's packets and bytes). A
 * protocol check that only guards the next match ("meta nfproto ipv4" before
 * "ip saddr") is folded into it the way nft does; a payload match without its
 * guard is shown raw ("@nh,96,32 …"), so a missing guard stays visible.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/nsfs.h>

#include "netns/internal.h"

#define TABLE_NAME_MAX	 32
#define DENY_LOG_PREFIX	 "FORGE_EGRESS_DENY "
#define DENY_RATE	 10 /* logged drops per second ... */
#define DENY_BURST	 5  /* ... after a first burst of this many */
#define BATCH_PAGE	 (64 * 1024)
#define BATCH_OVERRUN	 (16 * 1024) /* room for the one message that crosses a page end */
#define MSG_MAX		 4096	     /* one message built here, with room to spare */
#define RECV_BUF	 32768	     /* the largest netlink dump part the kernel sends */
#define ANSWER_TIMEOUT_S 5	     /* the kernel answers synchronously; this only bounds a bug */
#define TERM_MAX	 160
#define IP_SADDR	 offsetof(struct iphdr, saddr)
#define IP_DADDR	 offsetof(struct iphdr, daddr)

#define NAT_PRIO 100 /* srcnat, NF_IP_PRI_NAT_SRC */

struct chain_def {
	const char *name;
	const char *type; /* "filter", "nat"; NULL: a regular chain, only jumped to */
	uint32_t hook;
	int32_t prio;
	uint32_t policy;
};

/* A container's table. */
static const struct chain_def chain_defs[] = {
    {"input", "filter", NF_INET_LOCAL_IN, 0, NF_DROP},
    {"forward", "filter", NF_INET_FORWARD, 0, NF_DROP},
    {"output", "filter", NF_INET_LOCAL_OUT, 0, NF_DROP},
};

#define N_CHAINS (sizeof(chain_defs) / sizeof(chain_defs[0]))

static const struct chain_def hub_chains[] = {
    {"input", "filter", NF_INET_LOCAL_IN, 0, NF_DROP},
    {"forward", "filter", NF_INET_FORWARD, 0, NF_DROP},
    {"egress", NULL, 0, 0, 0},
    {"postrouting", "nat", NF_INET_POST_ROUTING, NAT_PRIO, NF_ACCEPT},
};

static const struct chain_def host_chains[] = {
    {"input", "filter", NF_INET_LOCAL_IN, 0, NF_ACCEPT},
    {"forward", "filter", NF_INET_FORWARD, 0, NF_ACCEPT},
    {"postrouting", "nat", NF_INET_POST_ROUTING, NAT_PRIO, NF_ACCEPT},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- arguments */

static int check_table_name(const char *table, struct forge_err *err)
{
	if (!table || !table[0])
		return forge_err_set(err, -EINVAL, "nft: empty table name");
	size_t len = strnlen(table, TABLE_NAME_MAX + 1);
	if (len > TABLE_NAME_MAX)
		return forge_err_set(err, -ENAMETOOLONG, "nft: table name \"%.*s…\" longer than %d",
				     TABLE_NAME_MAX, table, TABLE_NAME_MAX);
	/* What nft(8) accepts as a bare identifier, so auditors can name the table. */
	bool ok = (table[0] >= 'a' && table[0] <= 'z') || (table[0] >= 'A' && table[0] <= 'Z');
	for (size_t i = 1; ok && i < len; i++)
		ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
			    table[i]) != NULL;
	if (!ok)
		return forge_err_set(err, -EINVAL,
				     "nft: table name \"%s\" is not a letter followed by letters, "
				     "digits, '_' or '-'",
				     table);
	return 0;
}

static int check_topology(const struct forge_topology *t, struct forge_err *err)
{
	if (!t)
		return forge_err_set(err, -EINVAL, "nft: no topology");
	if (t->n_subnets > FORGE_NET_MAX_SUBNETS)
		return forge_err_set(err, -EINVAL, "nft: %zu subnets, at most %d", t->n_subnets,
				     FORGE_NET_MAX_SUBNETS);
	/* A /0 subnet would turn the deny-all into accept-all. */
	for (size_t i = 0; i < t->n_subnets; i++)
		if (t->subnets[i].prefix_len < 1 || t->subnets[i].prefix_len > 32)
			return forge_err_set(err, -EINVAL, "nft: subnet %s: prefix /%u",
					     t->subnets[i].name, t->subnets[i].prefix_len);
	if (t->egress != FORGE_EGRESS_ALLOWLIST)
		return 0;
	if (t->n_allow > FORGE_NET_MAX_ALLOW)
		return forge_err_set(err, -EINVAL, "nft: %zu allowlist entries, at most %d",
				     t->n_allow, FORGE_NET_MAX_ALLOW);
	for (size_t i = 0; i < t->n_allow; i++) {
		const struct forge_net_allow *a = &t->allow[i];
		if (a->prefix_len > 32 || a->n_ports > FORGE_NET_MAX_PORTS ||
		    (a->proto != IPPROTO_TCP && a->proto != IPPROTO_UDP))
			return forge_err_set(
			    err, -EINVAL,
			    "nft: allowlist entry %zu: prefix /%u, protocol %u, "
			    "%zu ports (want /0../32, tcp or udp, at most %d ports)",
			    i, a->prefix_len, a->proto, a->n_ports, FORGE_NET_MAX_PORTS);
	}
	return 0;
}

/* ---------------------------------------------------------------- netlink socket */

struct nft_conn {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

static void conn_close(struct nft_conn *c)
{
	if (c->nl)
		mnl_socket_close(c->nl);
	c->nl = NULL;
}

/*
 * Opens a NETLINK_NETFILTER socket inside the namespace netns_fd: the thread
 * enters the namespace only for socket(2) — a netlink socket stays bound to
 * the namespace it was created in — and comes straight back. refuse_own
 * refuses the caller's own namespace (a deny-all table there would cut the
 * host off).
 */
static int conn_open(struct nft_conn *c, int netns_fd, bool refuse_own, struct forge_err *err)
{
	c->nl = NULL;
	if (netns_fd < 0 || ioctl(netns_fd, NS_GET_NSTYPE) != CLONE_NEWNET)
		return forge_err_set(err, -EINVAL, "nft: fd %d is not a network namespace",
				     netns_fd);
	if (refuse_own && forge_netns_is_own(netns_fd))
		return forge_err_set(err, -EINVAL,
				     "nft: fd %d is the caller's own network namespace, not a "
				     "container's",
				     netns_fd);
	char what[48];
	snprintf(what, sizeof(what), "network namespace fd %d", netns_fd);
	int own, rc = forge_netns_enter(netns_fd, &own, what, err);
	if (rc < 0)
		return rc;
	c->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	int e = errno;
	forge_netns_return(own);
	if (!c->nl)
		return forge_err_errno(err, e, "nft: netfilter netlink socket");

	struct timeval tv = {.tv_sec = ANSWER_TIMEOUT_S};
	if (mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		e = errno;
		conn_close(c);
		return forge_err_errno(err, e, "nft: bind netfilter netlink socket");
	}
	c->portid = mnl_socket_get_portid(c->nl);
	c->seq = (uint32_t)time(NULL);
	return 0;
}

/* Receives answers until cb_run says stop; returns 0 or -errno (errno from the
 * callback or from the kernel's error message). */
static int conn_receive(struct nft_conn *c, int (*cb_run)(const void *buf, size_t len, void *data),
			void *data)
{
	char buf[RECV_BUF];

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(c->nl, buf, sizeof(buf));
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		int rc = cb_run(buf, (size_t)n, data);
		if (rc < 0)
			return errno ? -errno : -EIO;
		if (rc == MNL_CB_STOP)
			return 0;
	}
}

/* ---------------------------------------------------------------- batch */

/* What a message of the batch did, to name it when the kernel refuses it. */
struct msg_label {
	const char *what;  /* "add table", "delete table", "add chain", "add rule" */
	const char *chain; /* NULL for table messages */
	unsigned rule;	   /* 1-based within its chain, 0 for others */
};

struct batch {
	struct nftnl_batch *nb;
	const char *table;
	const char *tag;    /* every rule's comment, when set */
	uint32_t seq_begin; /* the BATCH_BEGIN message; objects follow it */
	uint32_t seq;	    /* next sequence number */
	struct msg_label *labels;
	size_t n_msgs, cap;
	struct nftnl_rule *rule; /* being built */
	const char *rule_chain;
	unsigned rule_no;
	int rc; /* first failure while building (-ENOMEM): everything after is skipped */
};

_Static_assert(MSG_MAX <= BATCH_OVERRUN, "a message must fit in the page overrun");

/* Where the next message goes, zeroed: libmnl 1.0.4 leaves attribute padding
 * as it finds it, and the pages come from malloc. */
static char *batch_buf(struct batch *b)
{
	char *buf = nftnl_batch_buffer(b->nb);

	memset(buf, 0, MSG_MAX);
	return buf;
}

static int batch_init(struct batch *b, const char *table, uint32_t seq)
{
	*b = (struct batch){.table = table, .seq_begin = seq, .seq = seq};
	b->nb = nftnl_batch_alloc(BATCH_PAGE, BATCH_OVERRUN);
	if (!b->nb)
		return -ENOMEM;
	nftnl_batch_begin(batch_buf(b), b->seq++);
	return nftnl_batch_update(b->nb) < 0 ? -ENOMEM : 0;
}

static void batch_free(struct batch *b)
{
	if (b->rule)
		nftnl_rule_free(b->rule);
	if (b->nb)
		nftnl_batch_free(b->nb);
	free(b->labels);
}

/* Starts the next object message (flags | NLM_F_ACK: every one is acknowledged). */
static struct nlmsghdr *batch_msg(struct batch *b, uint16_t type, uint16_t flags,
				  struct msg_label label)
{
	if (b->rc)
		return NULL;
	if (b->n_msgs == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct msg_label *l = realloc(b->labels, cap * sizeof(*l));
		if (!l) {
			b->rc = -ENOMEM;
			return NULL;
		}
		b->labels = l;
		b->cap = cap;
	}
	b->labels[b->n_msgs++] = label;
	return nftnl_nlmsg_build_hdr(batch_buf(b), type, NFPROTO_INET, flags | NLM_F_ACK, b->seq++);
}

static void batch_next(struct batch *b)
{
	if (!b->rc && nftnl_batch_update(b->nb) < 0)
		b->rc = -ENOMEM;
}

static void batch_table(struct batch *b, uint16_t type, uint16_t flags, const char *what)
{
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t || nftnl_table_set_str(t, NFTNL_TABLE_NAME, b->table) < 0) {
		b->rc = b->rc ? b->rc : -ENOMEM;
	} else {
		struct nlmsghdr *nlh = batch_msg(b, type, flags, (struct msg_label){what, NULL, 0});
		if (nlh)
			nftnl_table_nlmsg_build_payload(nlh, t);
		batch_next(b);
	}
	if (t)
		nftnl_table_free(t);
}

/* Adds the chain; an existing chain of the same definition stays as it is. */
static void batch_chain(struct batch *b, const struct chain_def *def)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, b->table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, def->name) < 0 ||
	    (def->type && nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, def->type) < 0)) {
		b->rc = b->rc ? b->rc : -ENOMEM;
	} else {
		if (def->type) {
			nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, def->hook);
			nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, def->prio);
			nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, def->policy);
		}
		struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE,
						 (struct msg_label){"add chain", def->name, 0});
		if (nlh)
			nftnl_chain_nlmsg_build_payload(nlh, c);
		batch_next(b);
	}
	if (c)
		nftnl_chain_free(c);
}

static void batch_chains(struct batch *b, const struct chain_def *defs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		batch_chain(b, &defs[i]);
}

/* Deletes the rule of chain with that handle (found by a dump). */
static void batch_delete_rule(struct batch *b, const char *chain, uint64_t handle)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r || nftnl_rule_set_str(r, NFTNL_RULE_TABLE, b->table) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0) {
		b->rc = b->rc ? b->rc : -ENOMEM;
	} else {
		nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, handle);
		struct nlmsghdr *nlh =
		    batch_msg(b, NFT_MSG_DELRULE, 0, (struct msg_label){"delete rule", chain, 0});
		if (nlh)
			nftnl_rule_nlmsg_build_payload(nlh, r);
		batch_next(b);
	}
	if (r)
		nftnl_rule_free(r);
}

/* The rule's comment, as nft(8) stores it. */
static int rule_tag(struct nftnl_rule *r, const char *tag)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	int rc = -ENOMEM;

	if (ud && nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, tag) &&
	    nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
				nftnl_udata_buf_len(ud)) == 0)
		rc = 0;
	nftnl_udata_buf_free(ud);
	return rc;
}

static void rule_begin(struct batch *b, const char *chain)
{
	if (b->rule_chain != chain)
		b->rule_no = 0;
	b->rule_chain = chain;
	b->rule_no++;
	if (b->rc)
		return;
	b->rule = nftnl_rule_alloc();
	if (!b->rule || nftnl_rule_set_str(b->rule, NFTNL_RULE_TABLE, b->table) < 0 ||
	    nftnl_rule_set_str(b->rule, NFTNL_RULE_CHAIN, chain) < 0 ||
	    (b->tag && rule_tag(b->rule, b->tag) < 0))
		b->rc = -ENOMEM;
}

/* Appends an expression to the rule being built; NULL once building failed. */
static struct nftnl_expr *rule_expr(struct batch *b, const char *name)
{
	if (b->rc || !b->rule)
		return NULL;
	struct nftnl_expr *e = nftnl_expr_alloc(name);
	if (!e) {
		b->rc = -ENOMEM;
		return NULL;
	}
	nftnl_rule_add_expr(b->rule, e);
	return e;
}

/* Appends the rule being built (its last expression added) to the batch. */
static void rule_emit(struct batch *b)
{
	if (!b->rc && b->rule) {
		struct nlmsghdr *nlh =
		    batch_msg(b, NFT_MSG_NEWRULE, NLM_F_APPEND | NLM_F_CREATE,
			      (struct msg_label){"add rule", b->rule_chain, b->rule_no});
		if (nlh)
			nftnl_rule_nlmsg_build_payload(nlh, b->rule);
		batch_next(b);
	}
	if (b->rule)
		nftnl_rule_free(b->rule);
	b->rule = NULL;
}

/* Ends the rule with a verdict; jump and goto name their chain. */
static void rule_end_chain(struct batch *b, uint32_t verdict, const char *chain)
{
	struct nftnl_expr *e = rule_expr(b, "immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, verdict);
		if (chain && nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain) < 0)
			b->rc = -ENOMEM;
	}
	rule_emit(b);
}

static void rule_end(struct batch *b, uint32_t verdict)
{
	rule_end_chain(b, verdict, NULL);
}

/* ------------------------------------------------ matches (all through register 1) */

static void load_meta(struct batch *b, uint32_t key)
{
	struct nftnl_expr *e = rule_expr(b, "meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	}
}

static void load_payload(struct batch *b, uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e = rule_expr(b, "payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	}
}

static void mask_reg(struct batch *b, const void *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *e = rule_expr(b, "bitwise");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	}
}

static void cmp_reg(struct batch *b, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = rule_expr(b, "cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
}

/* iifname/oifname equal to name or, with wildcard, starting with it ("br*"). */
static void match_ifname_as(struct batch *b, uint32_t key, const char *name, bool wildcard)
{
	char data[IFNAMSIZ] = {0};

	strncpy(data, name, sizeof(data) - 1);
	load_meta(b, key);
	cmp_reg(b, NFT_CMP_EQ, data, wildcard ? (uint32_t)strlen(data) : sizeof(data));
}

static void match_ifname(struct batch *b, uint32_t key, const char *name)
{
	match_ifname_as(b, key, name, false);
}

static void match_meta_u8(struct batch *b, uint32_t key, uint8_t value)
{
	load_meta(b, key);
	cmp_reg(b, NFT_CMP_EQ, &value, sizeof(value));
}

/* ip saddr/daddr (offset 12/16 of the IPv4 header) inside net/prefix_len;
 * the caller has matched meta nfproto ipv4. /0 matches everything: no test. */
static void match_ipv4(struct batch *b, uint32_t offset, struct in_addr net, uint8_t prefix_len)
{
	if (prefix_len == 0)
		return;
	uint32_t mask = htonl(prefix_len >= 32 ? UINT32_MAX : ~(UINT32_MAX >> prefix_len));
	uint32_t value = net.s_addr & mask;
	load_payload(b, NFT_PAYLOAD_NETWORK_HEADER, offset, sizeof(value));
	if (prefix_len < 32)
		mask_reg(b, &mask, sizeof(mask));
	cmp_reg(b, NFT_CMP_EQ, &value, sizeof(value));
}

/* CT: an IPv4 packet of a flow already accepted (or an ICMP error about one);
 * with key and ifname, only on that interface. */
static void rule_established_on(struct batch *b, const char *chain, uint32_t key,
				const char *ifname)
{
	uint32_t mask = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
	uint32_t zero = 0;

	rule_begin(b, chain);
	if (ifname)
		match_ifname(b, key, ifname);
	match_meta_u8(b, NFT_META_NFPROTO, NFPROTO_IPV4);
	struct nftnl_expr *e = rule_expr(b, "ct");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	}
	mask_reg(b, &mask, sizeof(mask));
	cmp_reg(b, NFT_CMP_NEQ, &zero, sizeof(zero));
	rule_end(b, NF_ACCEPT);
}

static void rule_established(struct batch *b, const char *chain)
{
	rule_established_on(b, chain, 0, NULL);
}

static void rule_loopback(struct batch *b, const char *chain, uint32_t key)
{
	rule_begin(b, chain);
	match_ifname(b, key, "lo");
	rule_end(b, NF_ACCEPT);
}

/* DENY, the last rule of every chain: counted, logged under a rate limit,
 * dropped; with key and ifname, only on that interface. */
static void rule_deny_on(struct batch *b, const char *chain, uint32_t key, const char *ifname)
{
	struct nftnl_expr *e;

	rule_begin(b, chain);
	if (ifname)
		match_ifname(b, key, ifname);
	rule_expr(b, "counter");
	if ((e = rule_expr(b, "limit"))) {
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, DENY_RATE);
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, DENY_BURST);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	}
	if ((e = rule_expr(b, "log")) &&
	    nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, DENY_LOG_PREFIX) < 0)
		b->rc = -ENOMEM;
	rule_end(b, NF_DROP);
}

static void rule_deny(struct batch *b, const char *chain)
{
	rule_deny_on(b, chain, 0, NULL);
}

/* One accept rule for port p of allowlist entry a (p unused when a has no
 * ports); with iif, only from that interface. */
static void rule_allow(struct batch *b, const char *chain, const char *iif,
		       const struct forge_net_allow *a, size_t p)
{
	rule_begin(b, chain);
	if (iif)
		match_ifname(b, NFT_META_IIFNAME, iif);
	match_meta_u8(b, NFT_META_NFPROTO, NFPROTO_IPV4);
	match_ipv4(b, IP_DADDR, a->net, a->prefix_len);
	match_meta_u8(b, NFT_META_L4PROTO, a->proto);
	if (a->n_ports) {
		uint16_t port = htons(a->ports[p]);
		/* Destination port: bytes 2..3 of both the TCP and the UDP header. */
		load_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, sizeof(port));
		cmp_reg(b, NFT_CMP_EQ, &port, sizeof(port));
	}
	rule_end(b, NF_ACCEPT);
}

/* The allowlist, one rule per port ("meta l4proto" alone for an entry
 * without ports); nothing unless the topology has the allowlist profile. */
static void rules_allowlist(struct batch *b, const char *chain, const char *iif,
			    const struct forge_topology *t)
{
	if (t->egress != FORGE_EGRESS_ALLOWLIST)
		return;
	for (size_t i = 0; i < t->n_allow; i++) {
		size_t n_rules = t->allow[i].n_ports ? t->allow[i].n_ports : 1;
		for (size_t p = 0; p < n_rules; p++)
			rule_allow(b, chain, iif, &t->allow[i], p);
	}
}

static void rule_subnets(struct batch *b, const char *chain, const struct forge_net_subnet *src,
			 const struct forge_net_subnet *dst)
{
	rule_begin(b, chain);
	match_meta_u8(b, NFT_META_NFPROTO, NFPROTO_IPV4);
	if (src)
		match_ipv4(b, IP_SADDR, src->net, src->prefix_len);
	if (dst)
		match_ipv4(b, IP_DADDR, dst->net, dst->prefix_len);
	rule_end(b, NF_ACCEPT);
}

/* The table is added (a no-op when it exists), deleted and added again, so
 * the batch replaces an old table or creates a new one — deleting a table
 * that is not there would fail the whole batch. */
static void batch_replace_table(struct batch *b)
{
	batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add table");
	batch_table(b, NFT_MSG_DELTABLE, 0, "delete table");
	batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add table");
}

/* A container's table, replaced. */
static void build_container(struct batch *b, const void *arg)
{
	const struct forge_topology *t = arg;
	const struct forge_net_subnet *sn = t->subnets;

	batch_replace_table(b);
	batch_chains(b, chain_defs, N_CHAINS);

	rule_loopback(b, "input", NFT_META_IIFNAME);
	rule_established(b, "input");
	for (size_t i = 0; i < t->n_subnets; i++)
		rule_subnets(b, "input", &sn[i], NULL);
	rule_deny(b, "input");

	rule_established(b, "forward");
	for (size_t i = 0; i < t->n_subnets; i++)
		for (size_t j = 0; j < t->n_subnets; j++)
			rule_subnets(b, "forward", &sn[i], &sn[j]);
	rule_deny(b, "forward");

	rule_loopback(b, "output", NFT_META_OIFNAME);
	rule_established(b, "output");
	for (size_t i = 0; i < t->n_subnets; i++)
		rule_subnets(b, "output", NULL, &sn[i]);
	rules_allowlist(b, "output", NULL, t);
	rule_deny(b, "output");
}

/* The hub's table, replaced. The hub holds lo, the bridges br<s>, the hub
 * ends of container veths (bridge ports: their packets reach nftables as
 * the bridge's) and up0. */
static void build_hub(struct batch *b, const void *arg)
{
	const struct forge_topology *t = arg;

	batch_replace_table(b);
	batch_chains(b, hub_chains, COUNT(hub_chains));

	rule_loopback(b, "input", NFT_META_IIFNAME);
	rule_established(b, "input");
	rule_begin(b, "input");
	match_ifname_as(b, NFT_META_IIFNAME, "br", true);
	rule_end(b, NF_ACCEPT);
	rule_deny(b, "input");

	rule_established(b, "forward");
	for (size_t i = 0; i < t->n_subnets; i++) {
		rule_begin(b, "forward");
		match_ifname_as(b, NFT_META_IIFNAME, "br", true);
		match_ifname(b, NFT_META_OIFNAME, FORGE_NETNS_UPLINK);
		match_meta_u8(b, NFT_META_NFPROTO, NFPROTO_IPV4);
		match_ipv4(b, IP_SADDR, t->subnets[i].net, t->subnets[i].prefix_len);
		rule_end_chain(b, (uint32_t)NFT_JUMP, "egress");
	}
	rule_deny(b, "forward");

	rules_allowlist(b, "egress", NULL, t);
	rule_deny(b, "egress");

	rule_begin(b, "postrouting");
	match_ifname(b, NFT_META_OIFNAME, FORGE_NETNS_UPLINK);
	rule_expr(b, "masq");
	rule_emit(b);
}

struct picked {
	char chain[NFT_CHAIN_MAXNAMELEN];
	uint64_t handle;
};

/* Rules of a table picked by their comment (a dump), to delete them. */
struct rule_pick {
	bool (*pick)(const char *tag, void *ctx);
	void *ctx;
	struct picked *v;
	size_t n, cap;
	size_t others; /* rules not picked */
};

struct host_add {
	const struct forge_nft_uplink *u;
	const struct forge_topology *t;
	const struct rule_pick *stale; /* the scenario's own rules already there */
};

/* One scenario's rules added to the host's shared table (made when missing). */
static void build_host_add(struct batch *b, const void *arg)
{
	const struct host_add *h = arg;
	const char *x = h->u->host_ifname;

	batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add table");
	batch_chains(b, host_chains, COUNT(host_chains));
	for (size_t i = 0; i < h->stale->n; i++)
		batch_delete_rule(b, h->stale->v[i].chain, h->stale->v[i].handle);

	b->tag = h->u->tag;
	rule_established_on(b, "forward", NFT_META_IIFNAME, x);
	rules_allowlist(b, "forward", x, h->t);
	rule_deny_on(b, "forward", NFT_META_IIFNAME, x);
	rule_established_on(b, "forward", NFT_META_OIFNAME, x);
	rule_deny_on(b, "forward", NFT_META_OIFNAME, x);
	rule_deny_on(b, "input", NFT_META_IIFNAME, x);
	rule_begin(b, "postrouting");
	match_meta_u8(b, NFT_META_NFPROTO, NFPROTO_IPV4);
	match_ipv4(b, IP_SADDR, h->u->hub_addr, 32);
	rule_expr(b, "masq");
	rule_emit(b);
}

/* The picked rules deleted, or the whole table with the last of them. */
static void build_host_remove(struct batch *b, const void *arg)
{
	const struct rule_pick *p = arg;

	if (p->others == 0)
		batch_table(b, NFT_MSG_DELTABLE, 0, "delete table");
	else
		for (size_t i = 0; i < p->n; i++)
			batch_delete_rule(b, p->v[i].chain, p->v[i].handle);
}

struct ack_state {
	uint32_t portid;
	size_t acked, expected;
	bool refused;
	uint32_t refused_seq;
};

static int ack_error_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ack_state *a = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e->error) {
		a->refused = true;
		a->refused_seq = nlh->nlmsg_seq;
		errno = -e->error;
		return MNL_CB_ERROR;
	}
	a->acked++;
	return MNL_CB_OK;
}

static int run_acks(const void *buf, size_t len, void *data)
{
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = ack_error_cb};
	struct ack_state *a = data;

	int rc = mnl_cb_run2(buf, len, 0, a->portid, NULL, a, ctl, MNL_ARRAY_SIZE(ctl));
	if (rc < 0)
		return rc;
	return a->acked >= a->expected ? MNL_CB_STOP : MNL_CB_OK;
}

/* Names the message the kernel refused: "add rule 3 of chain forward". */
static void describe_msg(const struct batch *b, uint32_t seq, char *out, size_t outsz)
{
	if (seq == b->seq_begin) {
		snprintf(out, outsz, "commit");
	} else if (seq > b->seq_begin && seq - b->seq_begin <= b->n_msgs) {
		const struct msg_label *l = &b->labels[seq - b->seq_begin - 1];
		if (l->rule)
			snprintf(out, outsz, "%s %u of chain %s", l->what, l->rule, l->chain);
		else if (l->chain)
			snprintf(out, outsz, "%s %s", l->what, l->chain);
		else
			snprintf(out, outsz, "%s", l->what);
	} else {
		snprintf(out, outsz, "batch");
	}
}

/* Sends the batch in one sendmsg (one skb: one transaction) and checks an
 * acknowledgement for every message. */
static int batch_send(struct nft_conn *c, struct batch *b, struct forge_err *err)
{
	int fd = mnl_socket_get_fd(c->nl);
	int n_iov = nftnl_batch_iovec_len(b->nb);
	struct iovec *iov = calloc((size_t)n_iov, sizeof(*iov));
	size_t len = 0;

	if (!iov)
		return forge_err_errno(err, ENOMEM, "nft: table inet %s: batch", b->table);
	nftnl_batch_iovec(b->nb, iov, (uint32_t)n_iov);
	for (int i = 0; i < n_iov; i++)
		len += iov[i].iov_len;

	/* Both buffers must hold a whole batch: the kernel refuses a larger
	 * message outright, and drops acks that do not fit (ENOBUFS). */
	int snd = (int)len + 4096;
	int rcv = (int)b->n_msgs * 1024 + 65536;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0) {
		int e = errno;
		free(iov);
		return forge_err_errno(err, e, "nft: table inet %s: socket buffers for %zu bytes",
				       b->table, len);
	}
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	struct msghdr msg = {.msg_name = &kernel,
			     .msg_namelen = sizeof(kernel),
			     .msg_iov = iov,
			     .msg_iovlen = (size_t)n_iov};
	ssize_t sent = sendmsg(fd, &msg, 0);
	int e = errno;
	free(iov);
	if (sent < 0)
		return forge_err_errno(err, e, "nft: table inet %s: send batch of %zu bytes",
				       b->table, len);

	struct ack_state acks = {.portid = c->portid, .expected = b->n_msgs};
	errno = 0;
	int rc = conn_receive(c, run_acks, &acks);
	if (rc == 0)
		return 0;
	if (!acks.refused)
		return forge_err_errno(err, rc,
				       "nft: table inet %s: %zu of %zu messages acknowledged",
				       b->table, acks.acked, acks.expected);
	char what[96];
	describe_msg(b, acks.refused_seq, what, sizeof(what));
	return forge_err_errno(err, rc, "nft: table inet %s: kernel refused %s", b->table, what);
}

/* Builds one batch with build(b, arg) and commits it in the namespace
 * netns_fd (refuse_own: never in the caller's own). */
static int table_commit(int netns_fd, const char *table, bool refuse_own,
			void (*build)(struct batch *b, const void *arg), const void *arg,
			struct forge_err *err)
{
	struct nft_conn c = {0};
	struct batch b;
	int rc = conn_open(&c, netns_fd, refuse_own, err);

	if (rc)
		return rc;
	rc = batch_init(&b, table, c.seq);
	if (rc == 0) {
		build(&b, arg);
		if (!b.rc) {
			nftnl_batch_end(batch_buf(&b), b.seq++);
			batch_next(&b);
		}
		rc = b.rc;
	}
	if (rc)
		forge_err_errno(err, rc, "nft: table inet %s: building the batch", table);
	else
		rc = batch_send(&c, &b, err);
	batch_free(&b);
	conn_close(&c);
	return rc;
}

/* A table of t's, replaced in one batch; never in the caller's namespace. */
static int install_replacing(int netns_fd, const char *table, const struct forge_topology *t,
			     void (*build)(struct batch *b, const void *arg), struct forge_err *err)
{
	int rc = check_table_name(table, err);

	if (rc == 0)
		rc = check_topology(t, err);
	if (rc == 0)
		rc = table_commit(netns_fd, table, true, build, t, err);
	return rc;
}

int forge_nft_install(int netns_fd, const char *table, const struct forge_topology *t,
		      struct forge_err *err)
{
	return install_replacing(netns_fd, table, t, build_container, err);
}

int forge_nft_hub_install(int hub_fd, const char *table, const struct forge_topology *t,
			  struct forge_err *err)
{
	return install_replacing(hub_fd, table, t, build_hub, err);
}

/* ---------------------------------------------------------------- read-back */

struct sym {
	uint32_t value;
	const char *name;
};

#define SYM_NAME(table, v) sym_name(table, sizeof(table) / sizeof(table[0]), v)

static const char *sym_name(const struct sym *syms, size_t n, uint32_t value)
{
	for (size_t i = 0; i < n; i++)
		if (syms[i].value == value)
			return syms[i].name;
	return NULL;
}

static const struct sym hook_syms[] = {
    {NF_INET_PRE_ROUTING, "prerouting"},   {NF_INET_LOCAL_IN, "input"},
    {NF_INET_FORWARD, "forward"},	   {NF_INET_LOCAL_OUT, "output"},
    {NF_INET_POST_ROUTING, "postrouting"}, {NF_INET_INGRESS, "ingress"},
};
static const struct sym verdict_syms[] = {
    {NF_ACCEPT, "accept"},
    {NF_DROP, "drop"},
    {(uint32_t)NFT_CONTINUE, "continue"},
    {(uint32_t)NFT_BREAK, "break"},
    {(uint32_t)NFT_JUMP, "jump"},
    {(uint32_t)NFT_GOTO, "goto"},
    {(uint32_t)NFT_RETURN, "return"},
};
static const struct sym nfproto_syms[] = {{NFPROTO_IPV4, "ipv4"}, {NFPROTO_IPV6, "ipv6"}};
static const struct sym l4proto_syms[] = {
    {IPPROTO_TCP, "tcp"},
    {IPPROTO_UDP, "udp"},
    {IPPROTO_ICMP, "icmp"},
    {IPPROTO_ICMPV6, "icmpv6"},
};
static const struct sym ct_state_syms[] = {
    {NF_CT_STATE_INVALID_BIT, "invalid"},
    {NF_CT_STATE_BIT(IP_CT_ESTABLISHED), "established"},
    {NF_CT_STATE_BIT(IP_CT_RELATED), "related"},
    {NF_CT_STATE_BIT(IP_CT_NEW), "new"},
    {NF_CT_STATE_UNTRACKED_BIT, "untracked"},
};
static const struct sym payload_base_syms[] = {
    {NFT_PAYLOAD_LL_HEADER, "ll"},
    {NFT_PAYLOAD_NETWORK_HEADER, "nh"},
    {NFT_PAYLOAD_TRANSPORT_HEADER, "th"},
};
static const struct sym limit_unit_syms[] = {
    {1, "second"}, {60, "minute"}, {3600, "hour"}, {86400, "day"}, {604800, "week"},
};
static const struct sym cmp_op_syms[] = {
    {NFT_CMP_EQ, ""},	  {NFT_CMP_NEQ, "!= "}, {NFT_CMP_LT, "< "},
    {NFT_CMP_LTE, "<= "}, {NFT_CMP_GT, "> "},	{NFT_CMP_GTE, ">= "},
};

enum load_kind { LOAD_NONE, LOAD_META, LOAD_PAYLOAD, LOAD_CT };
enum value_fmt { FMT_HEX, FMT_IFNAME, FMT_NFPROTO, FMT_L4PROTO, FMT_IPV4, FMT_PORT, FMT_CTSTATE };
enum field_dep { DEP_NONE, DEP_IPV4, DEP_L4 }; /* what must be matched first */

/* The registers loads nft's own words know; anything else is shown raw. */
static const struct field {
	enum load_kind kind;
	uint32_t key;	      /* meta or ct key, payload base */
	uint32_t offset, len; /* payload only */
	const char *name;     /* DEP_L4: after "tcp"/"udp"/"th" */
	enum field_dep dep;
	enum value_fmt fmt;
} fields[] = {
    {LOAD_META, NFT_META_IIFNAME, 0, 0, "iifname", DEP_NONE, FMT_IFNAME},
    {LOAD_META, NFT_META_OIFNAME, 0, 0, "oifname", DEP_NONE, FMT_IFNAME},
    {LOAD_META, NFT_META_NFPROTO, 0, 0, "meta nfproto", DEP_NONE, FMT_NFPROTO},
    {LOAD_META, NFT_META_L4PROTO, 0, 0, "meta l4proto", DEP_NONE, FMT_L4PROTO},
    {LOAD_CT, NFT_CT_STATE, 0, 0, "ct state", DEP_NONE, FMT_CTSTATE},
    {LOAD_PAYLOAD, NFT_PAYLOAD_NETWORK_HEADER, IP_SADDR, 4, "ip saddr", DEP_IPV4, FMT_IPV4},
    {LOAD_PAYLOAD, NFT_PAYLOAD_NETWORK_HEADER, IP_DADDR, 4, "ip daddr", DEP_IPV4, FMT_IPV4},
    {LOAD_PAYLOAD, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, "sport", DEP_L4, FMT_PORT},
    {LOAD_PAYLOAD, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, "dport", DEP_L4, FMT_PORT},
};

/* One rule being decoded. A single loaded register is modelled: what the
 * rules built here use; a compare on another register is shown raw. */
struct rule_view {
	json_t *terms;
	enum load_kind kind; /* what the register holds */
	uint32_t reg, key, offset, len;
	bool masked;
	uint8_t mask[16];
	uint8_t nfproto, l4proto; /* established by earlier "==" compares */
	uint64_t packets, bytes;
	bool oom;
};

static FORGE_PRINTF(2, 3) void term_add(struct rule_view *v, const char *fmt, ...)
{
	char buf[TERM_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (json_array_append_new(v->terms, json_string(buf)) < 0)
		v->oom = true;
}

/* Drops the last term when it is exactly dep: a guard the next term implies. */
static void term_fold(struct rule_view *v, const char *dep)
{
	size_t n = json_array_size(v->terms);
	const char *last = n ? json_string_value(json_array_get(v->terms, n - 1)) : NULL;

	if (last && strcmp(last, dep) == 0)
		json_array_remove(v->terms, n - 1);
}

static void hex(char *out, size_t outsz, const uint8_t *d, uint32_t len)
{
	size_t used = (size_t)snprintf(out, outsz, "0x");

	for (uint32_t i = 0; i < len && used + 3 <= outsz; i++)
		used += (size_t)snprintf(out + used, outsz - used, "%02x", d[i]);
}

static void sym_or_number(char *out, size_t outsz, const char *name, uint32_t value)
{
	if (name)
		snprintf(out, outsz, "%s", name);
	else
		snprintf(out, outsz, "%" PRIu32, value);
}

/* Names of the bits set in bits, comma-separated; false when some bit has none. */
static bool ct_state_names(char *out, size_t outsz, uint32_t bits)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(ct_state_syms) / sizeof(ct_state_syms[0]); i++) {
		if (!(bits & ct_state_syms[i].value))
			continue;
		used += (size_t)snprintf(out + used, outsz - used, "%s%s", used ? "," : "",
					 ct_state_syms[i].name);
		bits &= ~ct_state_syms[i].value;
		if (used >= outsz)
			return false;
	}
	return bits == 0 && used > 0;
}

/* Prefix length of a contiguous network mask, -1 otherwise. */
static int mask_prefix(const uint8_t *mask)
{
	uint32_t m;

	memcpy(&m, mask, sizeof(m));
	m = ntohl(m);
	int n = __builtin_popcount(m);
	return n && m == ~(UINT32_MAX >> n) ? n : (m == 0 ? 0 : -1);
}

/* The value of a compare in field's format; *op is cleared where the value
 * itself says it (ct state bits tested for non-zero). False: show it raw. */
static bool format_value(const struct rule_view *v, enum value_fmt fmt, const uint8_t *d,
			 uint32_t len, const char **op, char *out, size_t outsz)
{
	char addr[INET_ADDRSTRLEN];
	uint32_t u32 = 0;

	if (len == sizeof(u32))
		memcpy(&u32, d, sizeof(u32));
	if (v->masked && fmt != FMT_IPV4 && fmt != FMT_CTSTATE)
		return false;
	switch (fmt) {
	case FMT_IFNAME:
		if (memchr(d, '\0', len))
			snprintf(out, outsz, "\"%s\"", (const char *)d);
		else
			snprintf(out, outsz, "\"%.*s*\"", (int)len, (const char *)d);
		return true;
	case FMT_NFPROTO:
	case FMT_L4PROTO:
		if (len != 1)
			return false;
		sym_or_number(out, outsz,
			      fmt == FMT_NFPROTO ? SYM_NAME(nfproto_syms, d[0])
						 : SYM_NAME(l4proto_syms, d[0]),
			      d[0]);
		return true;
	case FMT_PORT:
		if (len != 2)
			return false;
		snprintf(out, outsz, "%u", (unsigned)d[0] << 8 | d[1]);
		return true;
	case FMT_IPV4: {
		int prefix = v->masked ? mask_prefix(v->mask) : 32;
		if (len != 4 || prefix < 0 || !inet_ntop(AF_INET, d, addr, sizeof(addr)))
			return false;
		if (prefix == 32)
			snprintf(out, outsz, "%s", addr);
		else
			snprintf(out, outsz, "%s/%d", addr, prefix);
		return true;
	}
	case FMT_CTSTATE:
		if (len != sizeof(u32))
			return false;
		if (v->masked && u32 == 0 && strcmp(*op, "!= ") == 0) {
			*op = "";
			memcpy(&u32, v->mask, sizeof(u32));
			return ct_state_names(out, outsz, u32);
		}
		return !v->masked && ct_state_names(out, outsz, u32);
	case FMT_HEX:
		break;
	}
	return false;
}

static const struct field *loaded_field(const struct rule_view *v)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *f = &fields[i];
		if (f->kind == v->kind && f->key == v->key &&
		    (f->kind != LOAD_PAYLOAD || (f->offset == v->offset && f->len == v->len)))
			return f;
	}
	return NULL;
}

/* The register's name in nft's words, folding a guard term it implies. */
static void field_name(struct rule_view *v, const struct field *f, char *out, size_t outsz)
{
	const char *l4 = SYM_NAME(l4proto_syms, v->l4proto);
	char dep[48];

	if (f && f->dep == DEP_IPV4 && v->nfproto == NFPROTO_IPV4) {
		term_fold(v, "meta nfproto ipv4");
		snprintf(out, outsz, "%s", f->name);
	} else if (f && f->dep == DEP_L4) {
		snprintf(dep, sizeof(dep), "meta l4proto %s", l4 ? l4 : "");
		if (l4)
			term_fold(v, dep);
		snprintf(out, outsz, "%s %s", l4 ? l4 : "th", f->name);
	} else if (f && f->dep == DEP_NONE) {
		snprintf(out, outsz, "%s", f->name);
	} else if (v->kind == LOAD_PAYLOAD) {
		const char *base = SYM_NAME(payload_base_syms, v->key);
		snprintf(out, outsz, "@%s,%" PRIu32 ",%" PRIu32, base ? base : "?", v->offset * 8,
			 v->len * 8);
	} else {
		snprintf(out, outsz, "%s %" PRIu32, v->kind == LOAD_META ? "meta" : "ct", v->key);
	}
}

static void decode_load(struct rule_view *v, const struct nftnl_expr *e, enum load_kind kind)
{
	static const struct {
		uint16_t dreg, key, offset, len;
	} attrs[] = {
	    [LOAD_META] = {NFTNL_EXPR_META_DREG, NFTNL_EXPR_META_KEY, 0, 0},
	    [LOAD_CT] = {NFTNL_EXPR_CT_DREG, NFTNL_EXPR_CT_KEY, 0, 0},
	    [LOAD_PAYLOAD] = {NFTNL_EXPR_PAYLOAD_DREG, NFTNL_EXPR_PAYLOAD_BASE,
			      NFTNL_EXPR_PAYLOAD_OFFSET, NFTNL_EXPR_PAYLOAD_LEN},
	};
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	v->kind = LOAD_NONE;
	v->masked = false;
	if (!nftnl_expr_is_set(e, attrs[kind].dreg)) {
		term_add(v, "%s set", name); /* a statement writing packet or meta data */
		return;
	}
	v->kind = kind;
	v->reg = nftnl_expr_get_u32(e, attrs[kind].dreg);
	v->key = nftnl_expr_get_u32(e, attrs[kind].key);
	v->offset = attrs[kind].offset ? nftnl_expr_get_u32(e, attrs[kind].offset) : 0;
	v->len = attrs[kind].len ? nftnl_expr_get_u32(e, attrs[kind].len) : 0;
}

static void decode_bitwise(struct rule_view *v, const struct nftnl_expr *e)
{
	static const uint8_t zero[sizeof(v->mask)];
	uint32_t mlen = 0, xlen = 0;
	const void *mask = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &mlen);
	const void *xor_data = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_XOR, &xlen);
	bool and_only = (!nftnl_expr_is_set(e, NFTNL_EXPR_BITWISE_OP) ||
			 nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_OP) == NFT_BITWISE_BOOL) &&
			mask && xor_data && mlen == xlen && mlen <= sizeof(v->mask) &&
			memcmp(xor_data, zero, xlen) == 0;

	if (v->kind == LOAD_NONE || !and_only ||
	    nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_SREG) != v->reg ||
	    nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_DREG) != v->reg) {
		v->kind = LOAD_NONE;
		term_add(v, "bitwise");
		return;
	}
	memcpy(v->mask, mask, mlen);
	v->masked = true;
}

static void decode_cmp(struct rule_view *v, const struct nftnl_expr *e)
{
	uint32_t len = 0;
	const uint8_t *d = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	uint32_t op_code = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
	const char *op = SYM_NAME(cmp_op_syms, op_code);
	char name[64], value[TERM_MAX / 2];

	if (!d || !op || v->kind == LOAD_NONE ||
	    nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG) != v->reg) {
		term_add(v, "cmp");
		v->kind = LOAD_NONE;
		return;
	}
	const struct field *f = loaded_field(v);
	field_name(v, f, name, sizeof(name));
	if (f && format_value(v, f->fmt, d, len, &op, value, sizeof(value))) {
		term_add(v, "%s %s%s", name, op, value);
	} else {
		char mask[40] = "";
		if (v->masked) {
			strcpy(mask, "& ");
			hex(mask + 2, sizeof(mask) - 2, v->mask, len);
			strcat(mask, " ");
		}
		hex(value, sizeof(value), d, len);
		term_add(v, "%s %s%s%s", name, mask, op, value);
	}
	if (f && op_code == NFT_CMP_EQ && !v->masked && len == 1) {
		if (f->fmt == FMT_NFPROTO)
			v->nfproto = d[0];
		else if (f->fmt == FMT_L4PROTO)
			v->l4proto = d[0];
	}
	v->kind = LOAD_NONE;
	v->masked = false;
}

static void decode_counter(struct rule_view *v, const struct nftnl_expr *e)
{
	v->packets += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
	v->bytes += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
	term_add(v, "counter");
}

static void decode_limit(struct rule_view *v, const struct nftnl_expr *e)
{
	uint64_t unit = nftnl_expr_get_u64(e, NFTNL_EXPR_LIMIT_UNIT);
	const char *unit_name = SYM_NAME(limit_unit_syms, (uint32_t)unit);
	bool bytes = nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_TYPE) == NFT_LIMIT_PKT_BYTES;
	bool over = nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_FLAGS) & NFT_LIMIT_F_INV;
	uint32_t burst = nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_BURST);
	char burst_text[40] = "";

	/* nft leaves out its default burst of 5 packets. */
	if (burst && (bytes || burst != 5))
		snprintf(burst_text, sizeof(burst_text), " burst %" PRIu32 " %s", burst,
			 bytes ? "bytes" : "packets");
	term_add(v, "limit rate %s%" PRIu64 "%s/%s%s", over ? "over " : "",
		 nftnl_expr_get_u64(e, NFTNL_EXPR_LIMIT_RATE), bytes ? " bytes" : "",
		 unit_name ? unit_name : "?", burst_text);
}

static void decode_log(struct rule_view *v, const struct nftnl_expr *e)
{
	char group[24] = "";

	if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_GROUP))
		snprintf(group, sizeof(group), " group %u",
			 nftnl_expr_get_u16(e, NFTNL_EXPR_LOG_GROUP));
	if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_PREFIX))
		term_add(v, "log prefix \"%s\"%s", nftnl_expr_get_str(e, NFTNL_EXPR_LOG_PREFIX),
			 group);
	else
		term_add(v, "log%s", group);
}

static void decode_masq(struct rule_view *v, const struct nftnl_expr *e)
{
	uint32_t flags = nftnl_expr_is_set(e, NFTNL_EXPR_MASQ_FLAGS)
			     ? nftnl_expr_get_u32(e, NFTNL_EXPR_MASQ_FLAGS)
			     : 0;

	v->kind = LOAD_NONE;
	if (flags || nftnl_expr_is_set(e, NFTNL_EXPR_MASQ_REG_PROTO_MIN))
		term_add(v, "masquerade flags 0x%" PRIx32 " (or ports)", flags);
	else
		term_add(v, "masquerade");
}

static void decode_immediate(struct rule_view *v, const struct nftnl_expr *e)
{
	const char *name = NULL;

	if (nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT))
		name = SYM_NAME(verdict_syms, nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT));
	if (!name)
		term_add(v, "immediate");
	else if (nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
		term_add(v, "%s %s", name, nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN));
	else
		term_add(v, "%s", name);
}

/* Loads (meta, ct, payload) go through decode_load; the rest have their own. */
static const struct expr_decoder {
	const char *name;
	enum load_kind load;
	void (*decode)(struct rule_view *v, const struct nftnl_expr *e);
} expr_decoders[] = {
    {"meta", LOAD_META, NULL},
    {"ct", LOAD_CT, NULL},
    {"payload", LOAD_PAYLOAD, NULL},
    {"bitwise", LOAD_NONE, decode_bitwise},
    {"cmp", LOAD_NONE, decode_cmp},
    {"counter", LOAD_NONE, decode_counter},
    {"limit", LOAD_NONE, decode_limit},
    {"log", LOAD_NONE, decode_log},
    {"masq", LOAD_NONE, decode_masq}, /* nft's "masquerade" */
    {"immediate", LOAD_NONE, decode_immediate},
};

static int decode_expr(struct nftnl_expr *e, void *data)
{
	struct rule_view *v = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	for (size_t i = 0; i < sizeof(expr_decoders) / sizeof(expr_decoders[0]); i++) {
		const struct expr_decoder *d = &expr_decoders[i];
		if (strcmp(name, d->name) != 0)
			continue;
		if (d->decode)
			d->decode(v, e);
		else
			decode_load(v, e, d->load);
		return 0;
	}
	v->kind = LOAD_NONE; /* an expression not modelled here: named, never hidden */
	term_add(v, "%s", name);
	return 0;
}

/* ---------------------------------------------------------------- dumps */

struct read_ctx {
	const char *table;
	json_t *chains;		/* array, in the kernel's order */
	struct rule_pick *pick; /* or rules picked by their comment */
	uint32_t portid, seq;
	int (*parse)(struct read_ctx *r, const struct nlmsghdr *nlh);
	int (*rule)(struct read_ctx *r, struct nftnl_rule *nr); /* for parse_rule */
};

static json_t *chain_find(json_t *chains, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(chains, i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
			return c;
	}
	return NULL;
}

static int parse_table(struct read_ctx *r, const struct nlmsghdr *nlh)
{
	(void)r;
	(void)nlh;
	return MNL_CB_OK; /* the answer alone says the table exists */
}

static int parse_chain(struct read_ctx *r, const struct nlmsghdr *nlh)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	int rc = MNL_CB_ERROR;

	errno = ENOMEM;
	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0) {
		errno = EBADMSG;
		goto out;
	}
	rc = MNL_CB_OK;
	if (strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), r->table) != 0)
		goto out;
	const char *hook = NULL, *policy = NULL;
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM))
		hook = SYM_NAME(hook_syms, nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM));
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY))
		policy = SYM_NAME(verdict_syms, nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY));
	json_t *j =
	    json_pack("{s:s, s:s?, s:s?, s:[]}", "name", nftnl_chain_get_str(c, NFTNL_CHAIN_NAME),
		      "hook", hook, "policy", policy, "rules");
	if (!j || json_array_append_new(r->chains, j) < 0) {
		errno = ENOMEM;
		rc = MNL_CB_ERROR;
	}
out:
	nftnl_chain_free(c);
	return rc;
}

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	const char **comment = data;
	const char *value = nftnl_udata_get(attr);
	uint8_t len = nftnl_udata_len(attr);

	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT && len && value[len - 1] == '\0')
		*comment = value;
	return MNL_CB_OK;
}

/* The rule's comment (nft's "comment" user data), NULL when it has none. */
static const char *rule_comment(const struct nftnl_rule *nr)
{
	uint32_t len = 0;
	const void *data = nftnl_rule_get_data(nr, NFTNL_RULE_USERDATA, &len);
	const char *comment = NULL;

	if (data && nftnl_udata_parse(data, len, comment_cb, &comment) < 0)
		comment = NULL;
	return comment;
}

/* A rule of a dump: parsed, and handed to r->rule when it is of r's table. */
static int parse_rule(struct read_ctx *r, const struct nlmsghdr *nlh)
{
	struct nftnl_rule *nr = nftnl_rule_alloc();
	int rc = MNL_CB_ERROR;

	errno = ENOMEM;
	if (!nr)
		return rc;
	if (nftnl_rule_nlmsg_parse(nlh, nr) < 0)
		errno = EBADMSG;
	else if (strcmp(nftnl_rule_get_str(nr, NFTNL_RULE_TABLE), r->table) != 0)
		rc = MNL_CB_OK;
	else
		rc = r->rule(r, nr);
	nftnl_rule_free(nr);
	return rc;
}

/* The rule in its chain's JSON, as nft's terms. */
static int rule_json(struct read_ctx *r, struct nftnl_rule *nr)
{
	struct rule_view v = {.terms = json_array()};
	json_t *chain = chain_find(r->chains, nftnl_rule_get_str(nr, NFTNL_RULE_CHAIN));
	int rc = MNL_CB_ERROR;

	errno = EAGAIN; /* a chain added between the two dumps */
	if (!chain)
		goto out;
	errno = ENOMEM;
	if (!v.terms)
		goto out;
	nftnl_expr_foreach(nr, decode_expr, &v);
	const char *tag = rule_comment(nr);
	if (tag)
		term_add(&v, "comment \"%s\"", tag);
	if (v.oom)
		goto out;
	json_t *j = json_pack("{s:O, s:I, s:I}", "expr", v.terms, "packets", (json_int_t)v.packets,
			      "bytes", (json_int_t)v.bytes);
	if (j && json_array_append_new(json_object_get(chain, "rules"), j) == 0)
		rc = MNL_CB_OK;
out:
	json_decref(v.terms);
	return rc;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct read_ctx *r = data;

	return r->parse(r, nlh);
}

static int run_dump(const void *buf, size_t len, void *data)
{
	struct read_ctx *r = data;

	return mnl_cb_run(buf, len, r->seq, r->portid, dump_cb, r);
}

/* One request (a dump, or a get acknowledged) whose answers go through parse. */
static int request(struct nft_conn *c, struct read_ctx *r, uint16_t type, uint16_t flags,
		   int (*parse)(struct read_ctx *, const struct nlmsghdr *), const char *what,
		   struct forge_err *err)
{
	char buf[1024] = {0}; /* one small request */
	struct nlmsghdr *nlh;

	r->seq = c->seq++;
	r->portid = c->portid;
	r->parse = parse;
	nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, flags, r->seq);
	/* Table, chain and rule requests all name the table in the same attribute. */
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, r->table);
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return forge_err_errno(err, errno, "nft: table inet %s: send %s request", r->table,
				       what);
	errno = 0;
	int rc = conn_receive(c, run_dump, r);
	if (rc == -ENOENT && type == NFT_MSG_GETTABLE)
		return forge_err_set(err, rc, "nft: no table inet %s in that network namespace",
				     r->table);
	if (rc)
		return forge_err_errno(err, rc, "nft: table inet %s: %s", r->table, what);
	return 0;
}

static int read_table(struct nft_conn *c, struct read_ctx *r, struct forge_err *err)
{
	int rc = request(c, r, NFT_MSG_GETTABLE, NLM_F_ACK, parse_table, "get table", err);

	if (rc == 0)
		rc = request(c, r, NFT_MSG_GETCHAIN, NLM_F_DUMP, parse_chain, "list chains", err);
	if (rc == 0)
		rc = request(c, r, NFT_MSG_GETRULE, NLM_F_DUMP, parse_rule, "list rules", err);
	return rc;
}

json_t *forge_nft_read(int netns_fd, const char *table, struct forge_err *err)
{
	struct read_ctx r = {.table = table, .rule = rule_json};
	struct nft_conn c = {0};
	int rc = -EINTR;

	if (check_table_name(table, err))
		return NULL;
	/* The kernel flags a dump the ruleset changed under (EINTR): read again,
	 * on a fresh socket (the rest of the old dump is still queued on it). */
	for (int attempt = 0; attempt < 3 && rc == -EINTR; attempt++) {
		json_decref(r.chains);
		r.chains = json_array();
		if (!r.chains) {
			rc = forge_err_errno(err, ENOMEM, "nft: table inet %s", table);
			break;
		}
		rc = conn_open(&c, netns_fd, false, err);
		if (rc == 0)
			rc = read_table(&c, &r, err);
		conn_close(&c);
	}
	json_t *j = NULL;
	if (rc == 0) {
		j = json_pack("{s:s, s:s, s:O}", "table", table, "family", "inet", "chains",
			      r.chains);
		if (!j)
			forge_err_errno(err, ENOMEM, "nft: table inet %s", table);
	}
	json_decref(r.chains);
	return j;
}

int forge_nft_drop_count(int netns_fd, const char *table, uint64_t *packets, struct forge_err *err)
{
	struct forge_err own_err;
	struct forge_err *e = err ? err : &own_err;
	json_t *j = forge_nft_read(netns_fd, table, e);
	uint64_t sum = 0;
	int rc = 0;

	if (!j)
		return e->code;
	for (size_t i = 0; i < N_CHAINS && rc == 0; i++) {
		json_t *rules = json_object_get(
		    chain_find(json_object_get(j, "chains"), chain_defs[i].name), "rules");
		json_t *last = json_array_get(rules, json_array_size(rules) - 1);
		json_t *expr = json_object_get(last, "expr");
		const char *verdict =
		    json_string_value(json_array_get(expr, json_array_size(expr) - 1));
		const char *first = json_string_value(json_array_get(expr, 0));
		if (!verdict || strcmp(verdict, "drop") != 0 || !first ||
		    strcmp(first, "counter") != 0)
			rc = forge_err_set(err, -EPROTO,
					   "nft: table inet %s: chain %s does not end with a "
					   "counted drop rule",
					   table, chain_defs[i].name);
		else
			sum += (uint64_t)json_integer_value(json_object_get(last, "packets"));
	}
	json_decref(j);
	if (rc == 0)
		*packets = sum;
	return rc;
}

/* ---------------------------------------------------------------- the host's uplink table */

/* The rule's chain and handle kept when its comment is picked. */
static int rule_pick(struct read_ctx *r, struct nftnl_rule *nr)
{
	struct rule_pick *p = r->pick;
	const char *tag = rule_comment(nr);

	if (!tag || !p->pick(tag, p->ctx)) {
		p->others++;
		return MNL_CB_OK;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 32;
		struct picked *v = realloc(p->v, cap * sizeof(*v));
		errno = ENOMEM;
		if (!v)
			return MNL_CB_ERROR;
		p->v = v;
		p->cap = cap;
	}
	snprintf(p->v[p->n].chain, sizeof(p->v[p->n].chain), "%s",
		 nftnl_rule_get_str(nr, NFTNL_RULE_CHAIN));
	p->v[p->n++].handle = nftnl_rule_get_u64(nr, NFTNL_RULE_HANDLE);
	return MNL_CB_OK;
}

/* Dumps table in netns_fd into p; *exists false (and p empty) when there is
 * no such table. A dump the ruleset changed under is read again. */
static int pick_rules(int netns_fd, const char *table, struct rule_pick *p, bool *exists,
		      struct forge_err *err)
{
	struct read_ctx r = {.table = table, .pick = p, .rule = rule_pick};
	struct nft_conn c = {0};
	int rc = -EINTR;

	*exists = true;
	for (int attempt = 0; attempt < 3 && rc == -EINTR; attempt++) {
		p->n = p->others = 0;
		struct forge_err get_err;
		rc = conn_open(&c, netns_fd, false, err);
		if (rc == 0)
			rc = request(&c, &r, NFT_MSG_GETTABLE, NLM_F_ACK, parse_table, "get table",
				     &get_err);
		if (rc == -ENOENT) {
			*exists = false;
			rc = 0;
		} else if (rc < 0 && rc != -EINTR) {
			*err = get_err;
		} else if (rc == 0) {
			rc = request(&c, &r, NFT_MSG_GETRULE, NLM_F_DUMP, parse_rule, "list rules",
				     err);
		}
		conn_close(&c);
	}
	return rc;
}

static bool pick_tag(const char *tag, void *ctx)
{
	return strcmp(tag, ctx) == 0;
}

int forge_nft_host_add(int host_fd, const char *table, const struct forge_nft_uplink *u,
		       const struct forge_topology *t, struct forge_err *err)
{
	struct rule_pick stale = {.pick = pick_tag, .ctx = (void *)u->tag};
	struct host_add h = {.u = u, .t = t, .stale = &stale};
	bool exists;
	int rc = check_table_name(table, err);

	if (rc == 0)
		rc = check_topology(t, err);
	if (rc == 0)
		rc = pick_rules(host_fd, table, &stale, &exists, err);
	if (rc == 0)
		rc = table_commit(host_fd, table, false, build_host_add, &h, err);
	free(stale.v);
	return rc;
}

int forge_nft_host_remove(int host_fd, const char *table, bool (*pick)(const char *tag, void *ctx),
			  void *ctx, struct forge_err *err)
{
	struct rule_pick p = {.pick = pick, .ctx = ctx};
	bool exists;
	int rc = check_table_name(table, err);

	if (rc == 0)
		rc = pick_rules(host_fd, table, &p, &exists, err);
	/* Nothing to delete, or another scenario's rules keep the table. */
	if (rc == 0 && exists && (p.n || !p.others))
		rc = table_commit(host_fd, table, false, build_host_remove, &p, err);
	free(p.v);
	return rc;
}
