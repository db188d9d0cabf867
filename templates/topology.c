/* SPDX-License-Identifier: Apache-2.0 */
/*
 * templates/topology.c — a template's network in the JSON form netns'
 * forge_topology_from_json takes. The same builder serves the supervisor
 * (everything of a valid template) and the semantic checks (a growing
 * selection of a template that may be invalid, skipping values of the wrong
 * shape, which the schema layer reports).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "templates/internal.h"

static bool selected(const bool *mask, size_t n, size_t i)
{
	return !mask || (i < n && mask[i]);
}

/* Sets key to a new value; false (with the value released) on allocation failure. */
static bool put(json_t *obj, const char *key, json_t *value)
{
	return value && json_object_set_new(obj, key, value) == 0;
}

static bool append(json_t *arr, json_t *value)
{
	return value && json_array_append_new(arr, value) == 0;
}

static bool is_ipv4_text(const char *s)
{
	struct in_addr a;

	return s && inet_pton(AF_INET, s, &a) == 1;
}

/* The per-entry builders return json_null() for an entry left out, NULL when out of memory. */
typedef json_t *(*entry_fn)(const json_t *item, size_t i, const struct tpl_topo_select *sel);

static json_t *subnet_entry(const json_t *subnet, size_t i, const struct tpl_topo_select *sel)
{
	const char *name = tpl_get_str(subnet, "name"), *cidr = tpl_get_str(subnet, "cidr");
	const char *uplink = tpl_get_str(subnet, "uplink_gateway");
	json_t *e;

	if (!name || !cidr)
		return json_null();
	e = json_pack("{s:s, s:s}", "name", name, "cidr", cidr);
	if (e && !sel->deny_only && selected(sel->uplinks, sel->n_subnets, i) &&
	    is_ipv4_text(uplink) && !put(e, "uplink_gateway", json_string(uplink))) {
		json_decref(e);
		return NULL;
	}
	return e;
}

static json_t *network_entry(const json_t *net)
{
	const char *subnet = tpl_get_str(net, "subnet"), *ip = tpl_get_str(net, "ip");
	json_t *e;

	if (!subnet)
		return json_null();
	e = json_pack("{s:s}", "subnet", subnet);
	if (e && is_ipv4_text(ip) && !put(e, "ip", json_string(ip))) {
		json_decref(e);
		return NULL;
	}
	return e;
}

static json_t *container_entry(const json_t *c, size_t ci, const struct tpl_topo_select *sel)
{
	const json_t *nets = json_object_get(c, "networks"),
		     *fwd = json_object_get(c, "forwarding");
	const char *name = tpl_get_str(c, "name"), *gw = tpl_get_str(c, "gateway");
	json_t *e, *list, *n;
	const json_t *net;
	size_t j;

	if (!name)
		return json_null();
	e = json_pack("{s:s, s:b, s:[]}", "name", name, "forwarding", json_is_true(fwd),
		      "networks");
	if (!e)
		return NULL;
	list = json_object_get(e, "networks");
	json_array_foreach(nets, j, net)
	{
		if (sel->networks && (j >= 32 || !(sel->networks[ci] & (UINT32_C(1) << j))))
			continue;
		n = network_entry(net);
		if (json_is_null(n))
			continue;
		if (!append(list, n))
			goto fail;
	}
	if (selected(sel->gateways, sel->n_containers, ci) && is_ipv4_text(gw) &&
	    !put(e, "gateway", json_string(gw)))
		goto fail;
	return e;
fail:
	json_decref(e);
	return NULL;
}

/* Appends the entries of the selected, well-formed members of src to dst. */
static bool add_entries(json_t *dst, const json_t *src, const bool *mask, size_t n,
			const struct tpl_topo_select *sel, entry_fn entry)
{
	const json_t *item;
	json_t *e;
	size_t i;

	json_array_foreach(src, i, item)
	{
		if (!selected(mask, n, i))
			continue;
		e = entry(item, i, sel);
		if (json_is_null(e))
			continue;
		if (!append(dst, e))
			return false;
	}
	return true;
}

static json_t *allow_entry(const json_t *a, size_t index, const struct tpl_topo_select *sel)
{
	const char *cidr = tpl_get_str(a, "cidr"), *proto = tpl_get_str(a, "proto");
	const json_t *ports = json_object_get(a, "ports"), *p;
	json_t *e;
	size_t i;

	(void)index; /* every selected entry is built alike */
	(void)sel;
	if (!cidr || !proto)
		return json_null();
	e = json_pack("{s:s, s:s}", "cidr", cidr, "proto", proto);
	if (!e || !json_is_array(ports))
		return e;
	json_array_foreach(ports, i, p)
	{
		if (!json_is_integer(p)) {
			json_decref(e);
			return json_null();
		}
	}
	if (!put(e, "ports", json_deep_copy(ports))) {
		json_decref(e);
		return NULL;
	}
	return e;
}

json_t *tpl_topology_build(const json_t *doc, const char *scenario,
			   const struct tpl_topo_select *sel)
{
	const json_t *spec = json_object_get(doc, "spec");
	const json_t *network = json_object_get(spec, "network");
	const json_t *containers = json_object_get(json_object_get(spec, "assets"), "containers");
	const char *egress = tpl_get_str(network, "egress");
	json_t *topo, *list, *e, *allow;
	const json_t *c;
	size_t i;

	topo = json_pack("{s:s, s:[], s:[]}", "scenario", scenario, "subnets", "containers");
	if (!topo)
		return NULL;
	if (!add_entries(json_object_get(topo, "subnets"), json_object_get(network, "subnets"),
			 sel->subnets, sel->n_subnets, sel, subnet_entry))
		goto fail;
	list = json_object_get(topo, "containers");
	json_array_foreach(containers, i, c)
	{
		if (!selected(sel->containers, sel->n_containers, i))
			continue;
		e = container_entry(c, i, sel);
		if (json_is_null(e))
			continue;
		if (!append(list, e))
			goto fail;
	}
	if (!sel->deny_only && egress && !strcmp(egress, "allowlist")) {
		allow = json_array();
		if (!put(topo, "egress", json_pack("{s:o}", "allowlist", allow)))
			goto fail;
		if (!add_entries(allow, json_object_get(network, "allowlist"), sel->allow,
				 sel->n_allow, sel, allow_entry))
			goto fail;
	} else if (!put(topo, "egress", json_string("deny"))) {
		goto fail;
	}
	return topo;
fail:
	json_decref(topo);
	return NULL;
}

int forge_template_topology_json(const struct forge_template *t, const char *scenario_id,
				 json_t **out, struct forge_err *err)
{
	static const struct tpl_topo_select all = {0};

	*out = NULL;
	if (!t || !scenario_id)
		return forge_err_set(err, -EINVAL, "template topology: no template or scenario id");
	*out = tpl_topology_build(t->doc, scenario_id, &all);
	if (!*out)
		return forge_err_set(err, -ENOMEM, "template %s: topology: out of memory", t->name);
	return 0;
}
