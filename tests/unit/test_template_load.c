/* SPDX-License-Identifier: Apache-2.0 */
/*
 * templates/: the shipped tracks validate, their identity is pinned and
 * survives reformatting, their model is what the scorer and the supervisor
 * read, their topology passes netns, and every bad fixture yields exactly the
 * problems it announces in its "# expect: PATH: FRAGMENT" lines.
 *
 * Runs from the repository root (as `make unit` does): it reads templates/
 * and tests/fixtures/templates/.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "netns/netns.h"
#include "templates/template.h"

#define TEMPLATES_DIR "templates"
#define FIXTURES_DIR  "tests/fixtures/templates"

struct env {
	struct forge_template_schema *schema;
	int templates, fixtures; /* directory fds */
};

static int teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	forge_template_schema_free(e->schema);
	if (e->templates >= 0)
		close(e->templates);
	if (e->fixtures >= 0)
		close(e->fixtures);
	free(e);
	*state = NULL;
	return 0;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct forge_err err = {0};

	*state = e;
	if (!e)
		return -1;
	e->templates = open(TEMPLATES_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	e->fixtures = open(FIXTURES_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->templates < 0 || e->fixtures < 0) {
		fprintf(stderr, "run from the repository root (%s, %s)\n", TEMPLATES_DIR,
			FIXTURES_DIR);
		teardown(state);
		return -1;
	}
	if (forge_template_schema_load(e->templates, FORGE_TEMPLATE_SCHEMA_FILE, &e->schema,
				       &err)) {
		fprintf(stderr, "schema: %s\n", err.msg);
		teardown(state);
		return -1;
	}
	return 0;
}

static struct forge_template *load_ok(const struct env *e, int dirfd, const char *path)
{
	struct forge_template_problems p = {0};
	struct forge_template *t = NULL;
	struct forge_err err = {0};

	if (forge_template_load_file(e->schema, dirfd, path, &t, &p, &err)) {
		size_t i;

		for (i = 0; i < p.n; i++)
			fprintf(stderr, "%s: %s: %s\n", path, p.items[i].path, p.items[i].message);
		fail_msg("%s refused: %s", path, err.msg);
	}
	assert_int_equal(p.n, 0);
	assert_non_null(t);
	return t;
}

static void assert_ip(struct in_addr a, const char *expect)
{
	char text[INET_ADDRSTRLEN];

	assert_non_null(inet_ntop(AF_INET, &a, text, sizeof(text)));
	assert_string_equal(text, expect);
}

/* ------------------------------------------------------------- the tracks */

/* A shipped template is immutable once admitted: changing one means a new
 * version, and a new pin here. */
static const struct track {
	const char *file, *name, *version, *sha256, *track, *tier;
	uint32_t timeout_minutes, exploits;
	size_t containers, criteria;
} tracks[] = {
    {"netplus.yaml", "netplus", "1.0.0",
     "671949fd286aaf44a182710999a6de1904f31ded377918a78e2427656c3cf2e6", "netplus", "foundation",
     60, 0, 3, 2},
    {"ccna.yaml", "ccna", "1.0.0",
     "eaf5eec5e6cb37ed62701a5f4bd172dc8eea955e689ce0684c31e13b26abbb93", "ccna", "associate", 60, 0,
     3, 3},
    {"cissp.yaml", "cissp", "1.0.0",
     "76b2c15efb54bddf00c2b8e05fa6712a16368faee0bcbd2e98d58bd229b407cb", "cissp", "professional",
     90, 5, 3, 2},
};

static void test_tracks_valid_and_pinned(void **state)
{
	const struct env *e = *state;
	size_t i;

	for (i = 0; i < sizeof(tracks) / sizeof(tracks[0]); i++) {
		const struct track *k = &tracks[i];
		struct forge_template *t = load_ok(e, e->templates, k->file);
		char hex[65];

		assert_string_equal(t->name, k->name);
		assert_string_equal(t->version, k->version);
		assert_string_equal(t->sha256, k->sha256);
		assert_string_equal(t->track, k->track);
		assert_string_equal(t->tier, k->tier);
		assert_int_equal(t->limits.timeout_minutes, k->timeout_minutes);
		assert_int_equal(t->limits.attacker_max_exploits, k->exploits);
		assert_int_equal(t->egress, FORGE_TPL_EGRESS_DENY);
		assert_int_equal(t->n_containers, k->containers);
		assert_int_equal(t->n_criteria, k->criteria);
		/* The identity is the canonical form's hash. */
		assert_int_equal(forge_json_canonical_sha256(t->doc, hex, NULL), 0);
		assert_string_equal(hex, t->sha256);
		forge_template_free(t);
	}
}

static void test_hash_is_stable(void **state)
{
	const struct env *e = *state;
	struct forge_template *a = load_ok(e, e->templates, "netplus.yaml");
	struct forge_template *b = load_ok(e, e->templates, "netplus.yaml");
	struct forge_template *c = load_ok(e, e->fixtures, "netplus.reformatted.yaml");
	struct forge_template *d = NULL;
	struct forge_err err = {0};
	json_t *changed;
	char *json;

	(void)state;
	assert_string_equal(a->sha256, b->sha256);
	/* Same content written differently (key order, styles, quoting, comments). */
	assert_string_equal(a->sha256, c->sha256);
	/* JSON is accepted too, and is the same content. */
	json = json_dumps(a->doc, JSON_INDENT(3) | JSON_PRESERVE_ORDER);
	assert_non_null(json);
	assert_int_equal(
	    forge_template_parse(e->schema, json, strlen(json), "netplus.json", &d, NULL, &err), 0);
	assert_string_equal(d->sha256, a->sha256);
	free(json);
	forge_template_free(d);
	/* One changed character is another template. */
	changed = json_deep_copy(a->doc);
	json_object_set_new(json_object_get(changed, "metadata"), "title",
			    json_string("Routing fundamentals!"));
	assert_int_equal(forge_template_from_json(e->schema, changed, "x", &d, NULL, &err), 0);
	assert_string_not_equal(d->sha256, a->sha256);
	/* The template holds its own copy: the caller's document may change. */
	json_object_set_new(json_object_get(changed, "metadata"), "title", json_string("other"));
	assert_string_equal(d->title, "Routing fundamentals!");
	json_decref(changed);
	forge_template_free(d);
	forge_template_free(a);
	forge_template_free(b);
	forge_template_free(c);
}

static void test_netplus_model(void **state)
{
	const struct env *e = *state;
	struct forge_template *t = load_ok(e, e->templates, "netplus.yaml");
	const struct forge_tpl_container *learner, *router, *target;
	const struct forge_tpl_evidence *ev;

	assert_string_equal(t->title, "Routing fundamentals");
	assert_int_equal(t->n_subnets, 2);
	assert_string_equal(t->subnets[1].name, "target_net");
	assert_string_equal(t->subnets[1].cidr, "10.20.0.0/24");
	assert_true(t->limits.total.cpu == 0.5);
	assert_int_equal(t->limits.total.memory_mb, 256);
	assert_int_equal(t->limits.total.pids, 128);
	assert_int_equal(t->total_weight, 3);

	learner = forge_template_container(t, "learner_vm");
	router = forge_template_container(t, "router");
	target = forge_template_container(t, "target_server");
	assert_non_null(learner);
	assert_non_null(router);
	assert_non_null(target);
	assert_null(forge_template_container(t, "nobody"));
	assert_string_equal(learner->image, "forge/learner:1");
	assert_int_equal(learner->role, FORGE_ROLE_LEARNER);
	assert_true(learner->read_only);
	assert_true(learner->learner_access);
	assert_false(learner->forwarding);
	assert_false(learner->has_gateway); /* the exercise: no route to target_net */
	assert_int_equal(learner->n_networks, 1);
	assert_string_equal(learner->networks[0].subnet, "learner_net");
	assert_true(learner->networks[0].has_ip);
	assert_ip(learner->networks[0].ip, "10.10.0.10");
	assert_int_equal(learner->caps,
			 (UINT64_C(1) << CAP_NET_ADMIN) | (UINT64_C(1) << CAP_NET_RAW));
	assert_int_equal(learner->argc, 3);
	assert_string_equal(learner->argv[0], "/bin/sh");
	assert_null(learner->argv[3]);
	assert_int_equal(learner->n_env, 0);
	assert_non_null(learner->env);
	assert_null(learner->env[0]);
	assert_true(learner->limits.cpu == 0.25);
	assert_int_equal(learner->limits.memory_mb, 64);

	assert_true(router->forwarding);
	assert_int_equal(router->n_networks, 2);
	assert_ip(router->networks[1].ip, "10.20.0.1");
	assert_int_equal(router->caps, 0);

	assert_true(target->has_gateway);
	assert_ip(target->gateway, "10.20.0.1");
	assert_null(target->argv); /* the image's own command */
	assert_int_equal(target->caps, UINT64_C(1) << CAP_NET_BIND_SERVICE);

	assert_string_equal(t->criteria[0].id, "route_to_target_net");
	assert_int_equal(t->criteria[0].weight, 1);
	assert_int_equal(t->criteria[0].n_evidence, 1);
	ev = &t->criteria[0].evidence[0];
	assert_int_equal(ev->type, FORGE_EVIDENCE_STATE);
	assert_string_equal(ev->container, "learner_vm");
	assert_int_equal(ev->timeout_seconds, FORGE_EVIDENCE_TIMEOUT_STATE);
	assert_int_equal(ev->u.state.kind, FORGE_STATE_ROUTE);
	assert_false(ev->u.state.route.is_default);
	assert_ip(ev->u.state.route.dst, "10.20.0.0");
	assert_int_equal(ev->u.state.route.dst_len, 24);
	assert_true(ev->u.state.route.has_via);
	assert_ip(ev->u.state.route.via, "10.10.0.1");
	assert_null(ev->u.state.route.dev);

	assert_int_equal(t->criteria[1].weight, 2);
	assert_int_equal(t->criteria[1].n_evidence, 2);
	ev = &t->criteria[1].evidence[0];
	assert_int_equal(ev->type, FORGE_EVIDENCE_NETWORK);
	assert_string_equal(ev->container, "learner_vm");
	assert_int_equal(ev->timeout_seconds, 3);
	assert_ip(ev->u.network.ip, "10.20.0.10");
	assert_int_equal(ev->u.network.port, 80);
	assert_int_equal(ev->u.network.proto, IPPROTO_TCP);
	assert_true(ev->u.network.expect_open);
	ev = &t->criteria[1].evidence[1];
	assert_int_equal(ev->type, FORGE_EVIDENCE_COMMAND);
	assert_int_equal(ev->timeout_seconds, 5);
	assert_int_equal(ev->max_output_bytes, 65536);
	assert_int_equal(ev->u.command.argc, 6);
	assert_string_equal(ev->u.command.argv[0], "/bin/busybox");
	assert_string_equal(ev->u.command.argv[5], "http://10.20.0.10/");
	assert_null(ev->u.command.argv[6]);
	assert_true(ev->u.command.has_exit_code);
	assert_int_equal(ev->u.command.exit_code, 0);
	assert_string_equal(ev->u.command.out.contains, "FORGE-WEB-OK");
	assert_null(ev->u.command.out.equals);
	assert_null(ev->u.command.out.matches);
	assert_null(ev->u.command.err.contains);
	forge_template_free(t);
}

static void test_ccna_cissp_model(void **state)
{
	const struct env *e = *state;
	struct forge_template *t = load_ok(e, e->templates, "ccna.yaml");
	const struct forge_tpl_container *c;
	const struct forge_tpl_evidence *ev;

	c = forge_template_container(t, "learner_vm");
	assert_true(c->has_gateway);
	assert_ip(c->gateway, "10.40.0.254"); /* the misconfiguration */
	ev = &t->criteria[0].evidence[0];
	assert_int_equal(ev->u.state.kind, FORGE_STATE_ADDRESS);
	assert_ip(ev->u.state.address.addr, "10.40.0.25");
	assert_int_equal(ev->u.state.address.prefix_len, 24);
	ev = &t->criteria[1].evidence[0];
	assert_int_equal(ev->u.state.kind, FORGE_STATE_ROUTE);
	assert_true(ev->u.state.route.is_default);
	assert_int_equal(ev->u.state.route.dst_len, 0);
	assert_ip(ev->u.state.route.via, "10.40.0.1");
	forge_template_free(t);

	t = load_ok(e, e->templates, "cissp.yaml");
	c = forge_template_container(t, "attacker");
	assert_int_equal(c->role, FORGE_ROLE_ATTACKER);
	assert_false(c->learner_access);
	c = forge_template_container(t, "target_server");
	assert_true(c->learner_access);
	assert_true(c->read_only);
	assert_int_equal(c->n_env, 1);
	assert_string_equal(c->env[0], "WEB_ROOT=/tmp/www");
	assert_null(c->env[1]);
	ev = &t->criteria[0].evidence[0];
	assert_int_equal(ev->type, FORGE_EVIDENCE_NETWORK);
	assert_string_equal(ev->container, "attacker");
	assert_int_equal(ev->u.network.port, 4444);
	assert_false(ev->u.network.expect_open);
	ev = &t->criteria[1].evidence[0];
	assert_int_equal(ev->type, FORGE_EVIDENCE_FILE);
	assert_string_equal(ev->u.file.path, "/tmp/www/secret.txt");
	assert_true(ev->u.file.has_exists);
	assert_false(ev->u.file.exists);
	assert_false(ev->u.file.has_mode);
	assert_null(ev->u.file.contains);
	assert_null(ev->u.file.sha256);
	assert_int_equal(ev->timeout_seconds, FORGE_EVIDENCE_TIMEOUT_FILE);
	assert_int_equal(ev->max_output_bytes, FORGE_EVIDENCE_OUTPUT_DEFAULT);
	forge_template_free(t);
}

/* What the document leaves out takes the documented defaults; environment
 * entries come sorted by key whatever the file's order. */
static void test_defaults_and_env_order(void **state)
{
	const struct env *e = *state;
	struct forge_template *base = load_ok(e, e->templates, "netplus.yaml"), *t = NULL;
	json_t *doc = json_deep_copy(base->doc), *router, *file_ev;
	const struct forge_tpl_container *c;
	const struct forge_tpl_evidence *ev;
	struct forge_err err = {0};

	router = json_array_get(
	    json_object_get(json_object_get(json_object_get(doc, "spec"), "assets"), "containers"),
	    1);
	json_object_del(router, "read_only");
	json_object_del(router, "limits");
	json_object_set_new(
	    router, "environment",
	    json_pack("{s:s, s:s, s:s, s:s}", "B", "2", "A_B", "x", "A", "1", "A1", "y"));
	file_ev = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "type", "file", "container", "router",
			    "path", "/etc/hostname", "expect", "mode", "0640", "sha256",
			    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	json_array_append_new(
	    json_object_get(
		json_array_get(json_object_get(json_object_get(doc, "spec"), "successCriteria"), 0),
		"evidence"),
	    file_ev);
	if (forge_template_from_json(e->schema, doc, "defaults", &t, NULL, &err))
		fail_msg("%s", err.msg);
	c = forge_template_container(t, "router");
	assert_true(c->read_only);
	assert_false(c->learner_access);
	assert_int_equal(c->role, FORGE_ROLE_ROUTER);
	assert_true(c->limits.cpu == 0.5); /* the scenario's */
	assert_int_equal(c->limits.memory_mb, 256);
	assert_int_equal(c->limits.pids, 128);
	assert_int_equal(c->n_env, 4);
	assert_string_equal(c->env[0], "A=1");
	assert_string_equal(c->env[1], "A1=y");
	assert_string_equal(c->env[2], "A_B=x");
	assert_string_equal(c->env[3], "B=2");
	assert_null(c->env[4]);
	ev = &t->criteria[0].evidence[1];
	assert_int_equal(ev->type, FORGE_EVIDENCE_FILE);
	assert_true(ev->u.file.has_mode);
	assert_int_equal(ev->u.file.mode, 0640);
	assert_false(ev->u.file.has_exists);
	assert_string_equal(ev->u.file.sha256,
			    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_int_equal(ev->timeout_seconds, FORGE_EVIDENCE_TIMEOUT_FILE);
	forge_template_free(t);
	json_decref(doc);
	forge_template_free(base);
}

/* The supervisor's input to netns: accepted as it is. */
static void test_topology_json(void **state)
{
	const struct env *e = *state;
	struct forge_topology *topo = malloc(sizeof(*topo));
	struct forge_err err = {0};
	size_t i;

	assert_non_null(topo);
	for (i = 0; i < sizeof(tracks) / sizeof(tracks[0]); i++) {
		struct forge_template *t = load_ok(e, e->templates, tracks[i].file);
		json_t *j = NULL;

		assert_int_equal(forge_template_topology_json(t, "ab12cd34", &j, &err), 0);
		if (forge_topology_from_json(j, topo, &err) ||
		    forge_topology_validate(topo, "forge", &err))
			fail_msg("%s: %s", tracks[i].file, err.msg);
		assert_string_equal(topo->scenario, "ab12cd34");
		assert_int_equal(topo->egress, FORGE_EGRESS_DENY);
		assert_int_equal(topo->n_subnets, t->n_subnets);
		assert_int_equal(topo->n_containers, t->n_containers);
		if (!strcmp(t->name, "netplus")) {
			assert_string_equal(topo->containers[0].name, "learner_vm");
			assert_false(topo->containers[0].has_gateway);
			assert_true(topo->containers[1].forwarding);
			assert_int_equal(topo->containers[1].n_ifaces, 2);
			assert_ip(topo->containers[1].ifaces[1].addr, "10.20.0.1");
			assert_true(topo->containers[2].has_gateway);
			assert_ip(topo->containers[2].gateway, "10.20.0.1");
		}
		json_decref(j);
		forge_template_free(t);
	}
	free(topo);
}

/* The allowlist profile: an allowlist, an uplink gateway, all of it handed to netns. */
static void test_allowlist_profile(void **state)
{
	const struct env *e = *state;
	struct forge_template *base = load_ok(e, e->templates, "netplus.yaml"), *t = NULL;
	struct forge_topology *topo = malloc(sizeof(*topo));
	struct forge_template_problems p = {0};
	json_t *doc = json_deep_copy(base->doc), *network, *learner, *j = NULL;
	struct forge_err err = {0};

	assert_non_null(topo);
	network = json_object_get(json_object_get(doc, "spec"), "network");
	json_object_set_new(network, "egress", json_string("allowlist"));
	json_object_set_new(
	    network, "allowlist",
	    json_pack("[{s:s, s:s, s:[i]}]", "cidr", "192.0.2.0/24", "proto", "tcp", "ports", 443));
	json_object_set_new(json_array_get(json_object_get(network, "subnets"), 0),
			    "uplink_gateway", json_string("10.10.0.254"));
	if (forge_template_from_json(e->schema, doc, "allow", &t, NULL, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(t->egress, FORGE_TPL_EGRESS_ALLOWLIST);
	assert_string_equal(t->subnets[0].uplink_gateway, "10.10.0.254");
	assert_null(t->subnets[1].uplink_gateway);
	assert_int_equal(forge_template_topology_json(t, "ab12cd34", &j, &err), 0);
	if (forge_topology_from_json(j, topo, &err) || forge_topology_validate(topo, "forge", &err))
		fail_msg("%s", err.msg);
	assert_int_equal(topo->egress, FORGE_EGRESS_ALLOWLIST);
	assert_int_equal(topo->n_allow, 1);
	assert_int_equal(topo->allow[0].ports[0], 443);
	json_decref(j);
	forge_template_free(t);

	/* A container may not take the uplink gateway's address. */
	learner = json_array_get(
	    json_object_get(json_object_get(json_object_get(doc, "spec"), "assets"), "containers"),
	    0);
	json_object_set_new(json_array_get(json_object_get(learner, "networks"), 0), "ip",
			    json_string("10.10.0.254"));
	assert_int_equal(forge_template_from_json(e->schema, doc, "allow", &t, &p, &err), -EINVAL);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.items[0].path, "spec.assets.containers[0].networks[0]");
	assert_non_null(strstr(p.items[0].message, "is the uplink_gateway of subnet"));
	forge_template_problems_free(&p);
	json_decref(doc);
	free(topo);
	forge_template_free(base);
}

/* ------------------------------------------------------------- bad fixtures */

struct expectation {
	char path[256];
	char fragment[256];
	bool seen;
};

/* "# expect: PATH: FRAGMENT" lines (PATH empty for the document itself). */
static size_t read_expectations(int dirfd, const char *name, struct expectation *x, size_t max)
{
	static const char tag[] = "# expect: ";
	char *text = NULL, *line, *save = NULL, *sep;
	size_t n = 0;

	assert_int_equal(forge_read_file(dirfd, name, &text, NULL, 1 << 20, NULL), 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, tag, sizeof(tag) - 1))
			continue;
		line += sizeof(tag) - 1;
		sep = line[0] == ':' ? line : strstr(line, ": ");
		if (!sep)
			fail_msg("%s: expectation without \": \": %s", name, line);
		assert_true(n < max);
		snprintf(x[n].path, sizeof(x[n].path), "%.*s", (int)(sep - line), line);
		snprintf(x[n].fragment, sizeof(x[n].fragment), "%s",
			 sep + (sep[0] == ':' && sep[1] == ' ' ? 2 : 1));
		x[n].seen = false;
		n++;
	}
	free(text);
	return n;
}

static void check_fixture(const struct env *e, const char *name)
{
	struct forge_template_problems p = {0};
	struct expectation x[32];
	struct forge_template *t = NULL;
	struct forge_err err = {0};
	size_t n = read_expectations(e->fixtures, name, x, 32), i, k;
	int rc;

	if (n == 0)
		fail_msg("%s: no \"# expect:\" line", name);
	rc = forge_template_load_file(e->schema, e->fixtures, name, &t, &p, &err);
	assert_int_equal(rc, -EINVAL);
	assert_null(t);
	assert_int_equal(p.dropped, 0);
	/* Every reported problem is expected, and every expected one reported. */
	for (i = 0; i < p.n; i++) {
		for (k = 0; k < n; k++)
			if (!x[k].seen && !strcmp(p.items[i].path, x[k].path) &&
			    strstr(p.items[i].message, x[k].fragment))
				break;
		if (k == n)
			fail_msg("%s: unexpected problem \"%s: %s\"", name, p.items[i].path,
				 p.items[i].message);
		x[k].seen = true;
	}
	for (k = 0; k < n; k++)
		if (!x[k].seen)
			fail_msg("%s: expected problem not reported: \"%s: %s\"", name, x[k].path,
				 x[k].fragment);
	forge_template_problems_free(&p);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_bad_fixture(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return !strncmp(d->d_name, "bad-", 4) && n > 9 && !strcmp(d->d_name + n - 5, ".yaml");
}

static void test_bad_fixtures(void **state)
{
	const struct env *e = *state;
	struct dirent **list = NULL;
	int n, i;

	n = scandir(FIXTURES_DIR, &list, is_bad_fixture, by_name);
	assert_true(n >= 12); /* the fixtures did not silently go missing */
	for (i = 0; i < n; i++) {
		check_fixture(e, list[i]->d_name);
		free(list[i]);
	}
	free(list);
}

/* Without a problem list, *err still names the count and the first problem. */
static void test_err_names_first_problem(void **state)
{
	const struct env *e = *state;
	struct forge_template *t = NULL;
	struct forge_err err = {0};

	assert_int_equal(forge_template_load_file(e->schema, e->fixtures, "bad-unknown-subnet.yaml",
						  &t, NULL, &err),
			 -EINVAL);
	assert_string_equal(err.msg,
			    "bad-unknown-subnet.yaml: 1 problem, the first: "
			    "spec.assets.containers[1].networks[0]: unknown subnet \"dmz\"");
	assert_int_equal(
	    forge_template_load_file(e->schema, e->fixtures, "bad-multi.yaml", &t, NULL, &err),
	    -EINVAL);
	assert_non_null(
	    strstr(err.msg, "bad-multi.yaml: 13 problems, the first: metadata.version"));
}

/* Lists beyond netns' limits are refused by the schema; the semantic checks
 * that index by position look at no more than the limits either. */
static void test_oversized_lists(void **state)
{
	const struct env *e = *state;
	struct forge_template *base = load_ok(e, e->templates, "netplus.yaml"), *t = NULL;
	struct forge_template_problems p = {0};
	json_t *doc = json_deep_copy(base->doc), *spec = json_object_get(doc, "spec");
	json_t *containers = json_object_get(json_object_get(spec, "assets"), "containers");
	json_t *subnets = json_object_get(json_object_get(spec, "network"), "subnets");
	struct forge_err err = {0};
	bool saw_containers = false, saw_subnets = false;
	size_t i;

	for (i = 3; i < 40; i++) {
		json_t *c = json_deep_copy(json_array_get(containers, 2));
		char name[32];

		snprintf(name, sizeof(name), "extra_%zu", i);
		json_object_set_new(c, "name", json_string(name));
		json_object_del(c, "networks");
		json_object_set_new(c, "networks", json_pack("[{s:s}]", "subnet", "target_net"));
		json_array_append_new(containers, c);
	}
	for (i = 2; i < 20; i++) {
		char name[32], cidr[32];

		snprintf(name, sizeof(name), "net_%zu", i);
		snprintf(cidr, sizeof(cidr), "10.%zu.0.0/16", 100 + i);
		json_array_append_new(subnets, json_pack("{s:s, s:s}", "name", name, "cidr", cidr));
	}
	assert_int_equal(forge_template_from_json(e->schema, doc, "big", &t, &p, &err), -EINVAL);
	assert_null(t);
	for (i = 0; i < p.n; i++) {
		saw_containers |= !strcmp(p.items[i].path, "spec.assets.containers") &&
				  !strcmp(p.items[i].check, "maxItems");
		saw_subnets |= !strcmp(p.items[i].path, "spec.network.subnets") &&
			       !strcmp(p.items[i].check, "maxItems");
	}
	assert_true(saw_containers);
	assert_true(saw_subnets);
	forge_template_problems_free(&p);
	json_decref(doc);
	forge_template_free(base);
}

/* Templates are read beneath the template directory only. */
static void test_load_is_confined(void **state)
{
	const struct env *e = *state;
	struct forge_template_problems p = {0};
	struct forge_template *t = NULL;
	struct forge_err err = {0};
	int fd;

	assert_true(forge_template_load_file(e->schema, e->fixtures,
					     "../../../templates/netplus.yaml", &t, &p, &err) < 0);
	assert_null(t);
	assert_int_equal(p.n, 0); /* not a template problem: nothing was read */
	assert_int_equal(
	    forge_template_load_file(e->schema, e->templates, "missing.yaml", &t, &p, &err),
	    -ENOENT);
	/* From an fd, as forgectl reads a file named on its command line. */
	fd = openat(e->templates, "cissp.yaml", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(forge_template_load_fd(e->schema, fd, "cissp.yaml", &t, &p, &err), 0);
	assert_string_equal(t->name, "cissp");
	forge_template_free(t);
	close(fd);
	/* No schema, no document: refused, not a crash. */
	assert_int_equal(forge_template_from_json(NULL, NULL, "x", &t, &p, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tracks_valid_and_pinned), cmocka_unit_test(test_hash_is_stable),
	    cmocka_unit_test(test_netplus_model),	    cmocka_unit_test(test_ccna_cissp_model),
	    cmocka_unit_test(test_defaults_and_env_order),  cmocka_unit_test(test_topology_json),
	    cmocka_unit_test(test_allowlist_profile),	    cmocka_unit_test(test_bad_fixtures),
	    cmocka_unit_test(test_err_names_first_problem), cmocka_unit_test(test_oversized_lists),
	    cmocka_unit_test(test_load_is_confined),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
