/* SPDX-License-Identifier: Apache-2.0 */
/*
 * templates/semantic.c — layer 2: what a schema cannot say. References
 * (subnets, containers), duplicates, labels, budgets, and addressing. The
 * addressing is netns' own forge_topology_validate run on a growing topology
 * (subnets one at a time, then containers network by network), so every
 * problem is found, not only the first, and each lands on the part of the
 * template whose addition made netns refuse.
 *
 * doc may have failed layer 1: a value of the wrong shape is skipped here,
 * layer 1 has reported it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netns/netns.h"
#include "templates/internal.h"

/* Validation only needs a well-formed id and prefix; nothing is created. */
#define CHECK_SCENARIO "validate"
#define CHECK_PREFIX   "forge"

struct sem {
	const json_t *doc, *limits, *network, *subnets, *containers, *criteria;
	struct forge_template_problems *p;
	bool egress_allowlist;
};

static void problem(struct sem *s, const char *path, const char *fmt, ...) FORGE_PRINTF(3, 4);
/* One problem per value: where layer 1 found one, this layer adds nothing. */
static void problem(struct sem *s, const char *path, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	for (i = 0; i < s->p->n; i++)
		if (!strcmp(s->p->items[i].path, path))
			return;

	va_start(ap, fmt);
	tpl_vproblem(s->p, "semantic", path, fmt, ap);
	va_end(ap);
}

static const json_t *array_or_null(const json_t *v)
{
	return json_is_array(v) ? v : NULL;
}

/* ------------------------------------------------------------- lookups */

static const json_t *container_named(const struct sem *s, const char *name)
{
	const json_t *c;
	size_t i;

	json_array_foreach(s->containers, i, c)
	{
		const char *n = tpl_get_str(c, "name");

		if (n && !strcmp(n, name))
			return c;
	}
	return NULL;
}

/* The first subnet called name whose CIDR parses. */
static bool subnet_named(const struct sem *s, const char *name, uint32_t *net, uint32_t *mask)
{
	const json_t *sub;
	struct in_addr a;
	uint8_t len;
	size_t i;

	json_array_foreach(s->subnets, i, sub)
	{
		const char *n = tpl_get_str(sub, "name"), *cidr = tpl_get_str(sub, "cidr");

		if (!n || !cidr || strcmp(n, name) ||
		    forge_net_parse_cidr(cidr, true, &a, &len, NULL))
			continue;
		*net = ntohl(a.s_addr);
		*mask = len ? UINT32_MAX << (32 - len) : 0;
		return true;
	}
	return false;
}

/* Whether addr (host order) is inside one of the subnets container c is attached to
 * (any subnet of the scenario when c is NULL). */
static bool on_subnets_of(const struct sem *s, const json_t *c, uint32_t addr)
{
	const json_t *list = c ? json_object_get(c, "networks") : s->subnets, *e;
	uint32_t net, mask;
	size_t i;

	json_array_foreach(list, i, e)
	{
		const char *name = tpl_get_str(e, c ? "subnet" : "name");

		if (name && subnet_named(s, name, &net, &mask) && ((addr ^ net) & mask) == 0)
			return true;
	}
	return false;
}

static bool parse_ipv4(const char *text, uint32_t *addr)
{
	struct in_addr a;

	if (!text || inet_pton(AF_INET, text, &a) != 1)
		return false;
	*addr = ntohl(a.s_addr);
	return true;
}

/* ------------------------------------------------------------- metadata, names */

static void check_labels(struct sem *s)
{
	static const char *const kinds[] = {"class", "tier"};
	const json_t *labels = json_object_get(json_object_get(s->doc, "metadata"), "labels"), *l;
	char path[TPL_PATH_MAX];
	size_t k, i;

	if (!json_is_array(labels))
		return;
	for (k = 0; k < 2; k++) {
		size_t klen = strlen(kinds[k]), first = SIZE_MAX;

		json_array_foreach(labels, i, l)
		{
			const char *text = tpl_str(l);

			tpl_pathf(path, "metadata.labels[%zu]", i);
			/* A label layer 1 refused (malformed, repeated) is not counted. */
			if (!text || strncmp(text, kinds[k], klen) || text[klen] != ':' ||
			    tpl_problem_at(s->p, path))
				continue;
			if (first == SIZE_MAX) {
				first = i;
				continue;
			}
			problem(s, path,
				"a second \"%s:\" label (the first is metadata.labels[%zu])",
				kinds[k], first);
		}
		if (first == SIZE_MAX)
			problem(s, "metadata.labels", "no \"%s:<%s>\" label", kinds[k],
				k == 0 ? "track" : "level");
	}
}

/* Flags in dup[0..dup_n) the entries of list whose key repeats an earlier one. */
static void check_unique(struct sem *s, const json_t *list, const char *list_path, const char *key,
			 bool *dup, size_t dup_n)
{
	char path[TPL_PATH_MAX];
	const json_t *e;
	size_t i, k;

	json_array_foreach(list, i, e)
	{
		const char *name = tpl_get_str(e, key);

		for (k = 0; name && k < i; k++) {
			const char *other = tpl_get_str(json_array_get(list, k), key);

			if (!other || strcmp(other, name))
				continue;
			tpl_pathf(path, "%s[%zu].%s", list_path, i, key);
			problem(s, path, "%s is already the %s of %s[%zu]", tpl_quote(name).s, key,
				list_path, k);
			if (i < dup_n)
				dup[i] = true;
			break;
		}
	}
}

/* ------------------------------------------------------------- containers */

static void check_learner_access(struct sem *s)
{
	const json_t *c;
	size_t i;

	if (!json_array_size(s->containers))
		return;
	json_array_foreach(s->containers, i, c)
	{
		if (json_is_true(json_object_get(c, "learner_access")))
			return;
	}
	problem(s, "spec.assets.containers", "no container has learner_access: true");
}

/* attacker_max_exploits is the budget of the containers with role attacker. */
static void check_attackers(struct sem *s)
{
	const json_t *max = json_object_get(s->limits, "attacker_max_exploits"), *c;
	char path[TPL_PATH_MAX];
	size_t i, attackers = 0;

	json_array_foreach(s->containers, i, c)
	{
		const char *role = tpl_get_str(c, "role");

		if (!role || strcmp(role, "attacker"))
			continue;
		attackers++;
		if (json_is_integer(max) && json_integer_value(max) == 0) {
			tpl_pathf(path, "spec.assets.containers[%zu].role", i);
			problem(s, path,
				"\"attacker\", but spec.limits.attacker_max_exploits is 0");
		}
	}
	if (json_is_integer(max) && json_integer_value(max) > 0 && !attackers)
		problem(s, "spec.limits.attacker_max_exploits",
			"%lld exploit attempts, but no container has role \"attacker\"",
			json_integer_value(max));
}

/* A container's own limits live inside the scenario's. */
static void check_container_limits(struct sem *s)
{
	static const char *const keys[] = {"cpu", "memory_mb", "pids"};
	char path[TPL_PATH_MAX];
	const json_t *c;
	size_t i, k;

	json_array_foreach(s->containers, i, c)
	{
		const json_t *own = json_object_get(c, "limits");

		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			const json_t *mine = json_object_get(own, keys[k]);
			const json_t *total = json_object_get(s->limits, keys[k]);

			if (!json_is_number(mine) || !json_is_number(total) ||
			    json_number_value(mine) <= json_number_value(total))
				continue;
			tpl_pathf(path, "spec.assets.containers[%zu].limits.%s", i, keys[k]);
			problem(s, path, "%s exceeds the scenario's spec.limits.%s %s",
				tpl_render(mine).s, keys[k], tpl_render(total).s);
		}
	}
}

static void check_egress(struct sem *s)
{
	const char *egress = tpl_get_str(s->network, "egress");
	const json_t *allow = json_object_get(s->network, "allowlist"), *sub;
	char path[TPL_PATH_MAX];
	size_t i;

	if (!egress)
		return;
	if (s->egress_allowlist && !allow)
		problem(s, "spec.network.allowlist", "missing: egress is \"allowlist\"");
	if (s->egress_allowlist)
		return;
	if (allow)
		problem(s, "spec.network.allowlist",
			"only allowed with egress: allowlist (egress is %s)", tpl_quote(egress).s);
	json_array_foreach(s->subnets, i, sub)
	{
		if (!json_object_get(sub, "uplink_gateway"))
			continue;
		tpl_pathf(path, "spec.network.subnets[%zu].uplink_gateway", i);
		problem(s, path, "only allowed with egress: allowlist (egress is %s)",
			tpl_quote(egress).s);
	}
}

/* ------------------------------------------------------------- topology */

struct topo_trial {
	struct sem *s;
	struct forge_topology *t;
	bool deny_only; /* until the allowlist profile is known to be accepted */
	bool subnets[FORGE_NET_MAX_SUBNETS];
	bool uplinks[FORGE_NET_MAX_SUBNETS];
	bool allow[FORGE_NET_MAX_ALLOW];
	bool containers[FORGE_NET_MAX_CONTAINERS];
	uint32_t networks[FORGE_NET_MAX_CONTAINERS];
	bool gateways[FORGE_NET_MAX_CONTAINERS];
	struct forge_err err;
};

/* Whether netns accepts the selected part; its refusal is in trial->err. */
static int try_topology(struct topo_trial *tr)
{
	const struct tpl_topo_select sel = {
	    .subnets = tr->subnets,
	    .uplinks = tr->uplinks,
	    .n_subnets = FORGE_NET_MAX_SUBNETS,
	    .deny_only = tr->deny_only,
	    .allow = tr->allow,
	    .n_allow = FORGE_NET_MAX_ALLOW,
	    .containers = tr->containers,
	    .n_containers = FORGE_NET_MAX_CONTAINERS,
	    .networks = tr->networks,
	    .gateways = tr->gateways,
	};
	json_t *j = tpl_topology_build(tr->s->doc, CHECK_SCENARIO, &sel);
	int rc;

	forge_err_clear(&tr->err);
	if (!j) {
		tr->s->p->oom = true;
		return -ENOMEM;
	}
	rc = forge_topology_from_json(j, tr->t, &tr->err);
	if (!rc)
		rc = forge_topology_validate(tr->t, CHECK_PREFIX, &tr->err);
	json_decref(j);
	return rc;
}

/* netns names the container ("container \"x\" eth1: …", "container \"x\": …");
 * the path already does. */
static const char *strip_container(const char *msg, const char *name)
{
	char head[FORGE_NET_NAME_MAX + 16];
	size_t n = (size_t)snprintf(head, sizeof(head), "container \"%s\"", name);
	const char *rest;

	if (n >= sizeof(head) || strncmp(msg, head, n))
		return msg;
	rest = msg + n;
	if (!strncmp(rest, " eth", 4))
		rest += 4 + strspn(rest + 4, "0123456789");
	return !strncmp(rest, ": ", 2) ? rest + 2 : msg;
}

static void topo_problem(struct topo_trial *tr, const char *path, const char *msg)
{
	if (tr->err.code == -ENOMEM)
		tr->s->p->oom = true;
	else
		tpl_problem(tr->s->p, "topology", path, "%s", msg);
}

/* Whether layer 1 found nothing at list_path[i] or below it. */
static bool clean(const struct sem *s, const char *list_path, size_t i)
{
	char path[TPL_PATH_MAX];

	tpl_pathf(path, "%s[%zu]", list_path, i);
	return !tpl_problem_at(s->p, path);
}

static void trial_subnets(struct topo_trial *tr, const bool *dup)
{
	char path[TPL_PATH_MAX];
	size_t i;

	for (i = 0; i < json_array_size(tr->s->subnets) && i < FORGE_NET_MAX_SUBNETS; i++) {
		if (dup[i] || !clean(tr->s, "spec.network.subnets", i))
			continue;
		tr->subnets[i] = true;
		if (try_topology(tr) == 0)
			continue;
		tr->subnets[i] = false;
		tpl_pathf(path, "spec.network.subnets[%zu]", i);
		topo_problem(tr, path, tr->err.msg);
	}
}

/* netns says "egress.allowlist[<its index>]<.rest>: why"; the template's index differs
 * when earlier entries were left out. */
static void allow_problem(struct topo_trial *tr, size_t k, size_t pos)
{
	char head[48], path[TPL_PATH_MAX];
	const char *msg = tr->err.msg, *rest;
	size_t n = (size_t)snprintf(head, sizeof(head), "egress.allowlist[%zu]", pos);
	size_t sub;

	tpl_pathf(path, "spec.network.allowlist[%zu]", k);
	if (!strncmp(msg, head, n)) {
		rest = msg + n;
		sub = strcspn(rest, ":");
		if (rest[sub] == ':' && rest[sub + 1] == ' ') {
			tpl_pathf(path, "spec.network.allowlist[%zu]%.*s", k, (int)sub, rest);
			msg = rest + sub + 2;
		}
	}
	topo_problem(tr, path, msg);
}

/* The allowlist profile needs an uplink gateway on some subnet, and an uplink
 * gateway needs the profile: each gateway is tried with the profile on. */
static void trial_egress(struct topo_trial *tr)
{
	char path[TPL_PATH_MAX];
	bool any = false;
	size_t i;

	if (!tr->s->egress_allowlist)
		return;
	tr->deny_only = false;
	for (i = 0; i < json_array_size(tr->s->subnets) && i < FORGE_NET_MAX_SUBNETS; i++) {
		tpl_pathf(path, "spec.network.subnets[%zu].uplink_gateway", i);
		if (!tr->subnets[i] ||
		    !tpl_get_str(json_array_get(tr->s->subnets, i), "uplink_gateway") ||
		    tpl_problem_at(tr->s->p, path))
			continue;
		tr->uplinks[i] = true;
		if (try_topology(tr) == 0) {
			any = true;
			continue;
		}
		tr->uplinks[i] = false;
		topo_problem(tr, path, tr->err.msg);
	}
	if (any || try_topology(tr) == 0)
		return;
	topo_problem(tr, "spec.network.subnets", tr->err.msg);
	/* The rest is still checked, as if egress were deny. */
	tr->deny_only = true;
}

static void trial_allowlist(struct topo_trial *tr)
{
	const json_t *list = json_object_get(tr->s->network, "allowlist");
	size_t k, pos = 0;

	if (tr->deny_only)
		return;
	for (k = 0; k < json_array_size(list) && k < FORGE_NET_MAX_ALLOW; k++) {
		if (!clean(tr->s, "spec.network.allowlist", k))
			continue;
		tr->allow[k] = true;
		if (try_topology(tr) == 0) {
			pos++;
			continue;
		}
		tr->allow[k] = false;
		allow_problem(tr, k, pos);
	}
}

/* A subnet that is defined but was left out (malformed or refused) has its
 * own problem: attaching to it is not one more. */
static bool subnet_left_out(const struct topo_trial *tr, const char *name)
{
	const json_t *sub;
	size_t i;

	json_array_foreach(tr->s->subnets, i, sub)
	{
		const char *n = tpl_get_str(sub, "name");

		if (n && !strcmp(n, name) && (i >= FORGE_NET_MAX_SUBNETS || !tr->subnets[i]))
			return true;
	}
	return false;
}

static void trial_container(struct topo_trial *tr, size_t c)
{
	const json_t *ct = json_array_get(tr->s->containers, c), *net;
	const char *name = tpl_get_str(ct, "name"), *subnet;
	char path[TPL_PATH_MAX];
	size_t j;

	tr->containers[c] = true;
	if (try_topology(tr)) {
		tr->containers[c] = false;
		tpl_pathf(path, "spec.assets.containers[%zu]", c);
		topo_problem(tr, path, strip_container(tr->err.msg, name));
		return;
	}
	json_array_foreach(json_object_get(ct, "networks"), j, net)
	{
		tpl_pathf(path, "spec.assets.containers[%zu].networks", c);
		subnet = tpl_get_str(net, "subnet");
		if (j >= FORGE_NET_MAX_IFACES || !subnet || subnet_left_out(tr, subnet) ||
		    !clean(tr->s, path, j))
			continue;
		tr->networks[c] |= UINT32_C(1) << j;
		if (try_topology(tr) == 0)
			continue;
		tr->networks[c] &= ~(UINT32_C(1) << j);
		tpl_pathf(path, "spec.assets.containers[%zu].networks[%zu]", c, j);
		topo_problem(tr, path, strip_container(tr->err.msg, name));
	}
	tpl_pathf(path, "spec.assets.containers[%zu].gateway", c);
	if (!tpl_get_str(ct, "gateway") || tpl_problem_at(tr->s->p, path))
		return;
	tr->gateways[c] = true;
	if (try_topology(tr) == 0)
		return;
	tr->gateways[c] = false;
	topo_problem(tr, path, strip_container(tr->err.msg, name));
}

static void check_topology(struct sem *s, const bool *dup_subnets, const bool *dup_containers)
{
	struct topo_trial *tr = calloc(1, sizeof(*tr));
	char path[TPL_PATH_MAX];
	size_t c;

	if (!tr || !(tr->t = malloc(sizeof(*tr->t)))) {
		free(tr);
		s->p->oom = true;
		return;
	}
	tr->s = s;
	tr->deny_only = true;
	trial_subnets(tr, dup_subnets);
	trial_egress(tr);
	trial_allowlist(tr);
	for (c = 0; c < json_array_size(s->containers) && c < FORGE_NET_MAX_CONTAINERS; c++) {
		tpl_pathf(path, "spec.assets.containers[%zu].name", c);
		if (dup_containers[c] || !tpl_get_str(json_array_get(s->containers, c), "name") ||
		    tpl_problem_at(s->p, path))
			continue;
		trial_container(tr, c);
	}
	free(tr->t);
	free(tr);
}

/* ------------------------------------------------------------- evidence */

/* Paths a container's processes (the learner's, too) can write. */
static const char *writable_dir(const char *path)
{
	static const char *const dirs[] = {"/tmp", "/run", "/dev", "/proc", "/sys", "/var/tmp"};
	size_t i, n;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		n = strlen(dirs[i]);
		if (!strncmp(path, dirs[i], n) && (path[n] == '/' || !path[n]))
			return dirs[i];
	}
	return NULL;
}

/* Evidence must run the image's own binaries: an absolute path, never a PATH
 * lookup, never a directory the container can write. */
static void check_command(struct sem *s, const json_t *ev, const char *at)
{
	const char *argv0 = tpl_str(json_array_get(json_object_get(ev, "command"), 0)), *dir;
	char path[TPL_PATH_MAX], msg[FORGE_ERR_MSG_MAX];

	if (!argv0)
		return;
	tpl_pathf(path, "%s.command[0]", at);
	if (!tpl_format_check("absolute-path", argv0, msg, sizeof(msg)))
		problem(s, path, "%s (evidence never looks a command up in PATH)", msg);
	else if ((dir = writable_dir(argv0)))
		problem(s, path, "%s is under %s, which the container can write",
			tpl_quote(argv0).s, dir);
}

static void check_file(struct sem *s, const json_t *ev, const char *at)
{
	const json_t *expect = json_object_get(ev, "expect");
	char path[TPL_PATH_MAX];

	if (!json_is_false(json_object_get(expect, "exists")) || json_object_size(expect) < 2)
		return;
	tpl_pathf(path, "%s.expect", at);
	problem(s, path, "exists: false contradicts the other expectations");
}

static void check_probe(struct sem *s, const json_t *ev, const char *at)
{
	const char *ip = tpl_get_str(json_object_get(ev, "to"), "ip");
	char path[TPL_PATH_MAX];
	uint32_t addr;

	/* Deny-all egress: nothing outside the scenario's subnets can answer. */
	if (s->egress_allowlist || !parse_ipv4(ip, &addr) || on_subnets_of(s, NULL, addr))
		return;
	tpl_pathf(path, "%s.to.ip", at);
	problem(s, path, "%s is on none of the scenario's subnets", ip);
}

/* "eth<N>" must be one of the container's interfaces; "lo" always is. */
static void check_interface(struct sem *s, const json_t *c, const char *name, const char *path)
{
	size_t n = json_array_size(json_object_get(c, "networks"));

	if (!name || strncmp(name, "eth", 3) || strspn(name + 3, "0123456789") != strlen(name + 3))
		return;
	if (strtoul(name + 3, NULL, 10) >= n)
		problem(s, path, "%s: the container has %zu interface(s), eth0..eth%zu", name, n,
			n ? n - 1 : 0);
}

static void check_address_on(struct sem *s, const json_t *c, const char *text, bool cidr,
			     const char *path, const char *what)
{
	struct in_addr a;
	uint32_t addr;
	uint8_t len;

	if (!text)
		return;
	if (cidr) {
		if (forge_net_parse_cidr(text, false, &a, &len, NULL))
			return;
		addr = ntohl(a.s_addr);
	} else if (!parse_ipv4(text, &addr)) {
		return;
	}
	if (!on_subnets_of(s, c, addr))
		problem(s, path, "%s %s is on none of the container's subnets", what, text);
}

static void check_state(struct sem *s, const json_t *ev, const json_t *c, const char *at)
{
	const json_t *expect = json_object_get(ev, "expect");
	const json_t *route = json_object_get(expect, "route");
	char path[TPL_PATH_MAX];

	if (!c)
		return;
	tpl_pathf(path, "%s.expect.route.via", at);
	check_address_on(s, c, tpl_get_str(route, "via"), false, path, "gateway");
	tpl_pathf(path, "%s.expect.route.dev", at);
	check_interface(s, c, tpl_get_str(route, "dev"), path);
	tpl_pathf(path, "%s.expect.interface_up", at);
	check_interface(s, c, tpl_get_str(expect, "interface_up"), path);
	tpl_pathf(path, "%s.expect.address", at);
	check_address_on(s, c, tpl_get_str(expect, "address"), true, path, "address");
}

unsigned tpl_evidence_default_timeout(const char *type)
{
	if (!strcmp(type, "command"))
		return FORGE_EVIDENCE_TIMEOUT_COMMAND;
	if (!strcmp(type, "file"))
		return FORGE_EVIDENCE_TIMEOUT_FILE;
	if (!strcmp(type, "network"))
		return FORGE_EVIDENCE_TIMEOUT_NETWORK;
	return FORGE_EVIDENCE_TIMEOUT_STATE;
}

/* Returns the item's timeout in seconds (0 when its type is not known). */
static unsigned check_evidence(struct sem *s, const json_t *ev, const char *at)
{
	const char *type = tpl_get_str(ev, "type"), *who_key, *who;
	const json_t *timeout = json_object_get(ev, "timeout_seconds"), *c = NULL;
	char path[TPL_PATH_MAX];

	if (!type)
		return 0;
	who_key = strcmp(type, "network") ? "container" : "from";
	who = tpl_get_str(ev, who_key);
	if (who && !(c = container_named(s, who))) {
		tpl_pathf(path, "%s.%s", at, who_key);
		problem(s, path, "unknown container %s", tpl_quote(who).s);
	}
	if (!strcmp(type, "command"))
		check_command(s, ev, at);
	else if (!strcmp(type, "file"))
		check_file(s, ev, at);
	else if (!strcmp(type, "network"))
		check_probe(s, ev, at);
	else if (!strcmp(type, "state"))
		check_state(s, ev, c, at);
	else
		return 0;
	if (json_is_integer(timeout) && json_integer_value(timeout) > 0 &&
	    json_integer_value(timeout) <= 300)
		return (unsigned)json_integer_value(timeout);
	return tpl_evidence_default_timeout(type);
}

static void check_criteria(struct sem *s)
{
	char at[TPL_PATH_MAX];
	const json_t *cr, *ev;
	unsigned long total = 0;
	size_t i, j;

	check_unique(s, s->criteria, "spec.successCriteria", "id", NULL, 0);
	json_array_foreach(s->criteria, i, cr)
	{
		json_array_foreach(array_or_null(json_object_get(cr, "evidence")), j, ev)
		{
			tpl_pathf(at, "spec.successCriteria[%zu].evidence[%zu]", i, j);
			total += check_evidence(s, ev, at);
		}
	}
	if (total > FORGE_TEMPLATE_SCORING_BUDGET_S)
		problem(s, "spec.successCriteria",
			"evidence timeouts add up to %lu s, at most %d (scoring must stay bounded)",
			total, FORGE_TEMPLATE_SCORING_BUDGET_S);
}

/* ------------------------------------------------------------- all */

void tpl_semantic_check(const json_t *doc, struct forge_template_problems *p)
{
	const json_t *spec = json_object_get(doc, "spec");
	bool dup_subnets[FORGE_NET_MAX_SUBNETS] = {0};
	bool dup_containers[FORGE_NET_MAX_CONTAINERS] = {0};
	struct sem s = {.doc = doc, .p = p};
	const char *egress;

	s.limits = json_object_get(spec, "limits");
	s.network = json_object_get(spec, "network");
	s.subnets = array_or_null(json_object_get(s.network, "subnets"));
	s.containers =
	    array_or_null(json_object_get(json_object_get(spec, "assets"), "containers"));
	s.criteria = array_or_null(json_object_get(spec, "successCriteria"));
	egress = tpl_get_str(s.network, "egress");
	s.egress_allowlist = egress && !strcmp(egress, "allowlist");

	check_labels(&s);
	/* Lists longer than netns' limits were refused by layer 1; the topology
	 * trials look at the entries within them. */
	check_unique(&s, s.subnets, "spec.network.subnets", "name", dup_subnets,
		     FORGE_NET_MAX_SUBNETS);
	check_unique(&s, s.containers, "spec.assets.containers", "name", dup_containers,
		     FORGE_NET_MAX_CONTAINERS);
	check_learner_access(&s);
	check_attackers(&s);
	check_container_limits(&s);
	check_egress(&s);
	check_topology(&s, dup_subnets, dup_containers);
	check_criteria(&s);
}
