/* SPDX-License-Identifier: Apache-2.0 */
/*
 * templates/template.c — loading a template: YAML/JSON to a document, both
 * check layers, identity (sha256 of the canonical form), and the model the
 * supervisor and the scorer read. The model is built only from a document
 * both layers accepted, so building trusts the shapes and ranges schema.json
 * guarantees (and still refuses, rather than misreads, anything else).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netns/netns.h"
#include "runtime/runtime.h"
#include "templates/internal.h"

#define INVALID(err, ...) (forge_err_set((err), -EINVAL, __VA_ARGS__), -EINVAL)

/* ------------------------------------------------------------- building */

struct build {
	struct forge_template *t;
	struct forge_err *err;
};

static int no_memory(struct build *b)
{
	return forge_err_set(b->err, -ENOMEM, "template %s: out of memory",
			     b->t->name ? b->t->name : "");
}

static void *alloc_array(struct build *b, size_t n, size_t size, int *rc)
{
	/* One spare element: an empty list is a valid pointer, and argv/env lists end in NULL. */
	void *p = calloc(n + 1, size);

	if (!p)
		*rc = no_memory(b);
	return p;
}

static const char *str_at(const json_t *obj, const char *key)
{
	return tpl_get_str(obj, key);
}

static uint32_t u32_at(const json_t *obj, const char *key, uint32_t dflt)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (uint32_t)json_integer_value(v) : dflt;
}

static bool bool_at(const json_t *obj, const char *key, bool dflt)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int ipv4_at(struct build *b, const json_t *obj, const char *key, bool *has,
		   struct in_addr *addr)
{
	const char *s = str_at(obj, key);

	*has = s != NULL;
	if (s && inet_pton(AF_INET, s, addr) != 1)
		return INVALID(b->err, "%s: %s is not an IPv4 address", key, tpl_quote(s).s);
	return 0;
}

static int argv_from(struct build *b, const json_t *list, const char ***argv, size_t *argc)
{
	const json_t *v;
	size_t i;
	int rc = 0;

	*argc = json_array_size(list);
	*argv = alloc_array(b, *argc, sizeof(char *), &rc);
	if (rc)
		return rc;
	json_array_foreach(list, i, v)
	{
		if (!((*argv)[i] = tpl_str(v)))
			return INVALID(b->err, "command[%zu]: expected a string", i);
	}
	return 0;
}

static void resources_from(const json_t *obj, const struct forge_tpl_resources *dflt,
			   struct forge_tpl_resources *r)
{
	const json_t *cpu = json_object_get(obj, "cpu");

	r->cpu = json_is_number(cpu) ? json_number_value(cpu) : dflt->cpu;
	r->memory_mb = u32_at(obj, "memory_mb", dflt->memory_mb);
	r->pids = u32_at(obj, "pids", dflt->pids);
}

static int env_key_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
	int c = memcmp(x, y, nx < ny ? nx : ny);

	return c ? c : (nx > ny) - (nx < ny);
}

/* "KEY=value" entries sorted by key, so the same template gives the same
 * environment whatever the key order in the file. */
static int env_from(struct build *b, const json_t *obj, struct forge_tpl_container *c)
{
	const char *key;
	json_t *v;
	int rc = 0;

	c->env = alloc_array(b, json_object_size(obj), sizeof(char *), &rc);
	if (rc)
		return rc;
	json_object_foreach((json_t *)obj, key, v)
	{
		if (!tpl_str(v))
			return INVALID(b->err, "environment.%s: expected a string", key);
		if (asprintf(&c->env[c->n_env], "%s=%s", key, json_string_value(v)) < 0) {
			c->env[c->n_env] = NULL;
			return no_memory(b);
		}
		c->n_env++;
	}
	qsort(c->env, c->n_env, sizeof(char *), env_key_cmp);
	return 0;
}

static enum forge_tpl_role role_from(const char *s)
{
	static const char *const names[] = {"",	      "learner",  "router",
					    "target", "attacker", "service"};
	size_t i;

	for (i = 1; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i]))
			return (enum forge_tpl_role)i;
	return FORGE_ROLE_NONE;
}

static int container_from(struct build *b, const json_t *j, struct forge_tpl_container *c)
{
	const json_t *nets = json_object_get(j, "networks"),
		     *caps = json_object_get(j, "capabilities");
	const json_t *cmd = json_object_get(j, "command"), *v;
	struct forge_tpl_network *n;
	size_t i;
	int rc = 0, cap;

	c->name = str_at(j, "name");
	c->image = str_at(j, "image");
	c->role = role_from(str_at(j, "role"));
	c->read_only = bool_at(j, "read_only", true);
	c->learner_access = bool_at(j, "learner_access", false);
	c->forwarding = bool_at(j, "forwarding", false);
	resources_from(json_object_get(j, "limits"), &b->t->limits.total, &c->limits);
	rc = env_from(b, json_object_get(j, "environment"), c);
	if (rc)
		return rc;
	c->networks = alloc_array(b, json_array_size(nets), sizeof(*c->networks), &rc);
	if (rc)
		return rc;
	json_array_foreach(nets, i, v)
	{
		n = &c->networks[c->n_networks++];
		n->subnet = str_at(v, "subnet");
		if ((rc = ipv4_at(b, v, "ip", &n->has_ip, &n->ip)))
			return rc;
	}
	if ((rc = ipv4_at(b, j, "gateway", &c->has_gateway, &c->gateway)))
		return rc;
	json_array_foreach(caps, i, v)
	{
		if ((rc = forge_cap_parse(tpl_str(v), &cap, b->err)))
			return rc;
		c->caps |= UINT64_C(1) << cap;
	}
	if (cmd)
		rc = argv_from(b, cmd, &c->argv, &c->argc);
	return rc;
}

static void text_expect_from(const json_t *expect, const char *stream,
			     struct forge_tpl_text_expect *x)
{
	char key[32];

	snprintf(key, sizeof(key), "%s_contains", stream);
	x->contains = str_at(expect, key);
	snprintf(key, sizeof(key), "%s_equals", stream);
	x->equals = str_at(expect, key);
	snprintf(key, sizeof(key), "%s_matches", stream);
	x->matches = str_at(expect, key);
}

static int command_from(struct build *b, const json_t *j, struct forge_tpl_command *c)
{
	const json_t *expect = json_object_get(j, "expect");
	const json_t *code = json_object_get(expect, "exit_code");

	c->has_exit_code = json_is_integer(code);
	c->exit_code = (int)json_integer_value(code);
	text_expect_from(expect, "stdout", &c->out);
	text_expect_from(expect, "stderr", &c->err);
	return argv_from(b, json_object_get(j, "command"), &c->argv, &c->argc);
}

static void file_from(const json_t *j, struct forge_tpl_file *f)
{
	const json_t *expect = json_object_get(j, "expect");
	const char *mode = str_at(expect, "mode");

	f->path = str_at(j, "path");
	f->has_exists = json_is_boolean(json_object_get(expect, "exists"));
	f->exists = bool_at(expect, "exists", true);
	f->contains = str_at(expect, "contains");
	f->has_mode = mode != NULL;
	f->mode = mode ? (mode_t)strtoul(mode, NULL, 8) : 0;
	f->sha256 = str_at(expect, "sha256");
}

static int probe_from(struct build *b, const json_t *j, struct forge_tpl_probe *p)
{
	const json_t *to = json_object_get(j, "to");
	const char *expect = str_at(j, "expect");
	bool has;

	p->port = (uint16_t)u32_at(to, "port", 0);
	p->proto = IPPROTO_TCP; /* the only protocol the schema allows */
	p->expect_open = expect && !strcmp(expect, "open");
	return ipv4_at(b, to, "ip", &has, &p->ip);
}

static int state_from(struct build *b, const json_t *j, struct forge_tpl_state *st)
{
	const json_t *expect = json_object_get(j, "expect"), *v;
	int rc = 0;

	if ((v = json_object_get(expect, "running"))) {
		st->kind = FORGE_STATE_RUNNING;
		st->running = json_is_true(v);
	} else if ((v = json_object_get(expect, "exited"))) {
		st->kind = FORGE_STATE_EXITED;
		st->exit_code = (int)u32_at(v, "code", 0);
	} else if ((v = json_object_get(expect, "route"))) {
		st->kind = FORGE_STATE_ROUTE;
		rc = tpl_parse_route_dst(str_at(v, "dst"), &st->route.is_default, &st->route.dst,
					 &st->route.dst_len, b->err);
		if (!rc)
			rc = ipv4_at(b, v, "via", &st->route.has_via, &st->route.via);
		st->route.dev = str_at(v, "dev");
	} else if ((v = json_object_get(expect, "interface_up"))) {
		st->kind = FORGE_STATE_INTERFACE_UP;
		st->interface = tpl_str(v);
	} else if ((v = json_object_get(expect, "address"))) {
		st->kind = FORGE_STATE_ADDRESS;
		rc = forge_net_parse_cidr(tpl_str(v), false, &st->address.addr,
					  &st->address.prefix_len, b->err);
	} else {
		rc = INVALID(b->err, "state: no expectation");
	}
	return rc;
}

static int evidence_from(struct build *b, const json_t *j, struct forge_tpl_evidence *e)
{
	const char *type = str_at(j, "type");
	int rc = 0;

	e->max_output_bytes = u32_at(j, "max_output_bytes", FORGE_EVIDENCE_OUTPUT_DEFAULT);
	if (!type)
		return INVALID(b->err, "evidence: no type");
	if (!strcmp(type, "command")) {
		e->type = FORGE_EVIDENCE_COMMAND;
		rc = command_from(b, j, &e->u.command);
	} else if (!strcmp(type, "file")) {
		e->type = FORGE_EVIDENCE_FILE;
		file_from(j, &e->u.file);
	} else if (!strcmp(type, "network")) {
		e->type = FORGE_EVIDENCE_NETWORK;
		rc = probe_from(b, j, &e->u.network);
	} else if (!strcmp(type, "state")) {
		e->type = FORGE_EVIDENCE_STATE;
		rc = state_from(b, j, &e->u.state);
	} else {
		return INVALID(b->err, "evidence: unknown type %s", tpl_quote(type).s);
	}
	e->container = str_at(j, e->type == FORGE_EVIDENCE_NETWORK ? "from" : "container");
	e->timeout_seconds = u32_at(j, "timeout_seconds", tpl_evidence_default_timeout(type));
	return rc;
}

static int criterion_from(struct build *b, const json_t *j, struct forge_tpl_criterion *c)
{
	const json_t *list = json_object_get(j, "evidence"), *v;
	size_t i;
	int rc = 0;

	c->id = str_at(j, "id");
	c->description = str_at(j, "description");
	c->weight = u32_at(j, "weight", 0);
	b->t->total_weight += c->weight;
	c->evidence = alloc_array(b, json_array_size(list), sizeof(*c->evidence), &rc);
	json_array_foreach(list, i, v)
	{
		if (rc)
			break;
		rc = evidence_from(b, v, &c->evidence[c->n_evidence++]);
	}
	return rc;
}

static void labels_from(struct forge_template *t, const json_t *labels)
{
	const json_t *l;
	size_t i;

	json_array_foreach(labels, i, l)
	{
		const char *s = tpl_str(l);

		if (s && !strncmp(s, "class:", 6))
			t->track = s + 6;
		else if (s && !strncmp(s, "tier:", 5))
			t->tier = s + 5;
	}
}

static int build_model(struct build *b)
{
	struct forge_template *t = b->t;
	const json_t *meta = json_object_get(t->doc, "metadata");
	const json_t *spec = json_object_get(t->doc, "spec");
	const json_t *limits = json_object_get(spec, "limits");
	const json_t *network = json_object_get(spec, "network");
	const json_t *subnets = json_object_get(network, "subnets");
	const json_t *containers = json_object_get(json_object_get(spec, "assets"), "containers");
	const json_t *criteria = json_object_get(spec, "successCriteria");
	const char *egress = str_at(network, "egress");
	const json_t *v;
	size_t i;
	int rc = 0;

	t->name = str_at(meta, "name");
	t->version = str_at(meta, "version");
	t->title = str_at(meta, "title");
	t->description = str_at(meta, "description");
	labels_from(t, json_object_get(meta, "labels"));
	resources_from(limits, &t->limits.total, &t->limits.total);
	t->limits.attacker_max_exploits = u32_at(limits, "attacker_max_exploits", 0);
	t->limits.timeout_minutes = u32_at(limits, "timeout_minutes", 0);
	t->egress = egress && !strcmp(egress, "allowlist") ? FORGE_TPL_EGRESS_ALLOWLIST
							   : FORGE_TPL_EGRESS_DENY;
	t->subnets = alloc_array(b, json_array_size(subnets), sizeof(*t->subnets), &rc);
	if (rc)
		return rc;
	json_array_foreach(subnets, i, v)
	{
		struct forge_tpl_subnet *sn = &t->subnets[t->n_subnets++];

		sn->name = str_at(v, "name");
		sn->cidr = str_at(v, "cidr");
		sn->uplink_gateway = str_at(v, "uplink_gateway");
	}
	t->containers = alloc_array(b, json_array_size(containers), sizeof(*t->containers), &rc);
	json_array_foreach(containers, i, v)
	{
		if (rc)
			return rc;
		rc = container_from(b, v, &t->containers[t->n_containers++]);
		if (rc)
			forge_err_prefix(b->err, "spec.assets.containers[%zu]", i);
	}
	if (rc)
		return rc;
	t->criteria = alloc_array(b, json_array_size(criteria), sizeof(*t->criteria), &rc);
	json_array_foreach(criteria, i, v)
	{
		if (rc)
			return rc;
		rc = criterion_from(b, v, &t->criteria[t->n_criteria++]);
		if (rc)
			forge_err_prefix(b->err, "spec.successCriteria[%zu]", i);
	}
	return rc;
}

/* ------------------------------------------------------------- loading */

static int build(const json_t *doc, const char *name, struct forge_template **out,
		 struct forge_err *err)
{
	struct forge_template *t = calloc(1, sizeof(*t));
	struct build b = {.t = t, .err = err};
	int rc;

	if (!t || !(t->doc = json_deep_copy(doc))) {
		free(t);
		return forge_err_set(err, -ENOMEM, "%s: out of memory", name);
	}
	rc = forge_json_canonical_sha256(t->doc, t->sha256, err);
	if (!rc)
		rc = build_model(&b);
	if (rc) {
		forge_err_prefix(err, "%s", name);
		forge_template_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int forge_template_from_json(const struct forge_template_schema *s, const json_t *doc,
			     const char *name, struct forge_template **out,
			     struct forge_template_problems *problems, struct forge_err *err)
{
	struct forge_template_problems local = {0}, *p = problems ? problems : &local;
	size_t before = p->n, dropped = p->dropped, found;
	int rc;

	*out = NULL;
	name = name ? name : "template";
	if (!s || !doc) {
		rc = INVALID(err, "%s: no schema or no document", name);
		goto out;
	}
	/* Both layers always run: a template is shown all its problems at once. */
	if (forge_template_schema_check(s, doc, p) != -ENOMEM)
		tpl_semantic_check(doc, p);
	found = p->n - before + p->dropped - dropped;
	if (p->oom) {
		rc = forge_err_set(err, -ENOMEM, "%s: out of memory while checking", name);
	} else if (found) {
		const struct forge_template_problem *first =
		    p->n > before ? &p->items[before] : NULL;

		rc = INVALID(err, "%s: %zu problem%s, the first: %s%s%s", name, found,
			     found == 1 ? "" : "s", first ? first->path : "",
			     first && first->path[0] ? ": " : "", first ? first->message : "");
	} else {
		rc = build(doc, name, out, err);
	}
out:
	forge_template_problems_free(&local);
	return rc;
}

int forge_template_parse(const struct forge_template_schema *s, const char *buf, size_t len,
			 const char *name, struct forge_template **out,
			 struct forge_template_problems *problems, struct forge_err *err)
{
	struct forge_err e = {0};
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	name = name ? name : "template";
	rc = forge_yaml_parse(buf, len, name, &doc, &e);
	if (rc) {
		if (problems && rc == -EINVAL)
			tpl_problem(problems, "load", "", "%s", e.msg);
		return forge_err_set(err, rc, "%s", e.msg);
	}
	rc = forge_template_from_json(s, doc, name, out, problems, err);
	json_decref(doc);
	return rc;
}

int forge_template_load_fd(const struct forge_template_schema *s, int fd, const char *name,
			   struct forge_template **out, struct forge_template_problems *problems,
			   struct forge_err *err)
{
	char *buf = NULL;
	size_t len;
	int rc;

	*out = NULL;
	rc = forge_read_fd(fd, name, &buf, &len, FORGE_TEMPLATE_MAX_BYTES, err);
	if (rc >= 0)
		rc = forge_template_parse(s, buf, len, name, out, problems, err);
	free(buf);
	return rc;
}

int forge_template_load_file(const struct forge_template_schema *s, int dirfd, const char *path,
			     struct forge_template **out, struct forge_template_problems *problems,
			     struct forge_err *err)
{
	int fd, rc;

	*out = NULL;
	fd = forge_open_beneath(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0, err);
	if (fd < 0)
		return fd;
	rc = forge_template_load_fd(s, fd, path, out, problems, err);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------- the model */

void forge_template_free(struct forge_template *t)
{
	size_t i, k;

	if (!t)
		return;
	for (i = 0; i < t->n_containers; i++) {
		struct forge_tpl_container *c = &t->containers[i];

		for (k = 0; k < c->n_env; k++)
			free(c->env[k]);
		free(c->env);
		free(c->networks);
		free(c->argv);
	}
	for (i = 0; i < t->n_criteria; i++) {
		struct forge_tpl_criterion *c = &t->criteria[i];

		for (k = 0; k < c->n_evidence; k++)
			if (c->evidence[k].type == FORGE_EVIDENCE_COMMAND)
				free(c->evidence[k].u.command.argv);
		free(c->evidence);
	}
	free(t->containers);
	free(t->criteria);
	free(t->subnets);
	json_decref(t->doc);
	free(t);
}

const struct forge_tpl_container *forge_template_container(const struct forge_template *t,
							   const char *name)
{
	size_t i;

	for (i = 0; t && name && i < t->n_containers; i++)
		if (!strcmp(t->containers[i].name, name))
			return &t->containers[i];
	return NULL;
}
