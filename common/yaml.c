/* SPDX-License-Identifier: Apache-2.0 */
/* YAML to JSON (jansson) for templates, policy rules and specs: one document, no aliases. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/common.h"

#define YAML_MAX_DEPTH 64

struct loader {
	yaml_parser_t parser;
	const char *name;
	struct forge_err *err;
};

/* "<name>:<line>:<col>: why[detail]" */
static int fail_at(struct loader *l, const yaml_mark_t *m, const char *why, const char *detail)
{
	return forge_err_set(l->err, -EINVAL, "%s:%zu:%zu: %s%s", l->name, m->line + 1,
			     m->column + 1, why, detail ? detail : "");
}

static int next_event(struct loader *l, yaml_event_t *ev)
{
	if (yaml_parser_parse(&l->parser, ev))
		return 0;
	const char *problem = l->parser.problem ? l->parser.problem : "malformed YAML";
	if (l->parser.context)
		return forge_err_set(l->err, -EINVAL, "%s:%zu:%zu: %s %s", l->name,
				     l->parser.problem_mark.line + 1,
				     l->parser.problem_mark.column + 1, problem, l->parser.context);
	return fail_at(l, &l->parser.problem_mark, problem, NULL);
}

static bool matches(const char *s, const char *pattern)
{
	regex_t re;
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	bool ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

/* The YAML 1.2 core schema for plain scalars; anything quoted is a string. */
static json_t *scalar_value(struct loader *l, const yaml_event_t *ev, int *rc)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	*rc = 0;
	if (strlen(s) != len) {
		*rc = fail_at(l, &ev->start_mark, "a NUL byte inside a scalar", NULL);
		return NULL;
	}
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(s, len);
	if (matches(s, "^(null|Null|NULL|~)?$"))
		return json_null();
	if (matches(s, "^(true|True|TRUE)$"))
		return json_true();
	if (matches(s, "^(false|False|FALSE)$"))
		return json_false();
	if (matches(s, "^[-+]?[0-9]+$")) {
		errno = 0;
		long long v = strtoll(s, NULL, 10);
		if (errno == ERANGE) {
			*rc = fail_at(l, &ev->start_mark, "integer out of range: ", s);
			return NULL;
		}
		return json_integer(v);
	}
	if (matches(s, "^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$")) {
		double d = strtod(s, NULL);
		if (!isfinite(d)) {
			*rc = fail_at(l, &ev->start_mark, "number out of range: ", s);
			return NULL;
		}
		return json_real(d);
	}
	return json_stringn(s, len);
}

static int load_node(struct loader *l, yaml_event_t *ev, int depth, json_t **out);

static int load_children(struct loader *l, json_t *into, yaml_event_type_t end, int depth)
{
	for (;;) {
		yaml_event_t ev;
		json_t *key = NULL, *val = NULL;
		int rc = next_event(l, &ev);
		if (rc)
			return rc;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (json_is_array(into)) {
			rc = load_node(l, &ev, depth + 1, &val);
			if (rc == 0 && json_array_append_new(into, val) < 0)
				rc = forge_err_set(l->err, -ENOMEM, "%s: out of memory", l->name);
			if (rc)
				return rc;
			continue;
		}
		/* Mapping keys: plain or quoted strings only, each once. */
		yaml_mark_t at = ev.start_mark;
		if (ev.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&ev);
			return fail_at(l, &at, "a mapping key must be a scalar", NULL);
		}
		rc = load_node(l, &ev, depth + 1, &key);
		if (rc)
			return rc;
		if (!json_is_string(key)) {
			/* `1: x` or `true: x`: JSON keys are strings, so say it. */
			json_decref(key);
			return fail_at(l, &at, "a mapping key must be a string (quote it)", NULL);
		}
		const char *k = json_string_value(key);
		if (json_object_get(into, k))
			rc = fail_at(l, &at, "duplicate key: ", k);
		if (rc == 0)
			rc = next_event(l, &ev);
		if (rc == 0)
			rc = load_node(l, &ev, depth + 1, &val);
		if (rc == 0 && json_object_set_new(into, k, val) < 0)
			rc = forge_err_set(l->err, -ENOMEM, "%s: out of memory", l->name);
		json_decref(key);
		if (rc)
			return rc;
	}
}

/* Consumes ev (and the events of the node it starts). */
static int load_node(struct loader *l, yaml_event_t *ev, int depth, json_t **out)
{
	yaml_mark_t at = ev->start_mark;
	yaml_event_type_t type = ev->type;
	int rc = 0;

	*out = NULL;
	if (depth > YAML_MAX_DEPTH) {
		yaml_event_delete(ev);
		return fail_at(l, &at, "nested too deeply", NULL);
	}
	/* Anchors and aliases would let a small file expand exponentially. */
	const yaml_char_t *anchor = type == YAML_SCALAR_EVENT		? ev->data.scalar.anchor
				    : type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
				    : type == YAML_MAPPING_START_EVENT	? ev->data.mapping_start.anchor
									: NULL;
	if (type == YAML_ALIAS_EVENT || anchor) {
		yaml_event_delete(ev);
		return fail_at(l, &at, "anchors and aliases are not accepted", NULL);
	}
	switch (type) {
	case YAML_SCALAR_EVENT:
		*out = scalar_value(l, ev, &rc);
		if (!*out && rc == 0)
			rc = forge_err_set(l->err, -ENOMEM, "%s: out of memory", l->name);
		break;
	case YAML_SEQUENCE_START_EVENT:
		*out = json_array();
		rc = load_children(l, *out, YAML_SEQUENCE_END_EVENT, depth);
		break;
	case YAML_MAPPING_START_EVENT:
		*out = json_object();
		rc = load_children(l, *out, YAML_MAPPING_END_EVENT, depth);
		break;
	default:
		rc = fail_at(l, &at, "unexpected YAML event", NULL);
	}
	yaml_event_delete(ev);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int forge_yaml_parse(const char *buf, size_t len, const char *name, json_t **out,
		     struct forge_err *err)
{
	struct loader l = {.name = name ? name : "<yaml>", .err = err};
	yaml_event_t ev;
	int rc, docs = 0;

	*out = NULL;
	if (!yaml_parser_initialize(&l.parser))
		return forge_err_set(err, -ENOMEM, "%s: out of memory", l.name);
	yaml_parser_set_input_string(&l.parser, (const unsigned char *)buf, len);
	for (;;) {
		if ((rc = next_event(&l, &ev)))
			break;
		yaml_event_type_t type = ev.type;
		yaml_mark_t at = ev.start_mark;
		if (type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (type == YAML_STREAM_START_EVENT || type == YAML_DOCUMENT_END_EVENT) {
			yaml_event_delete(&ev);
			continue;
		}
		if (type == YAML_DOCUMENT_START_EVENT) {
			yaml_event_delete(&ev);
			if (++docs > 1) {
				rc = fail_at(&l, &at, "more than one YAML document", NULL);
				break;
			}
			continue;
		}
		if ((rc = load_node(&l, &ev, 0, out)))
			break;
	}
	yaml_parser_delete(&l.parser);
	if (rc == 0 && !*out)
		rc = forge_err_set(err, -EINVAL, "%s: empty document", l.name);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

static int parse_owned(char *buf, size_t len, const char *name, json_t **out,
		       struct forge_err *err)
{
	int rc = forge_yaml_parse(buf, len, name, out, err);
	free(buf);
	return rc;
}

int forge_yaml_load_fd(int fd, const char *name, size_t max, json_t **out,
		       struct forge_err *err)
{
	char *buf = NULL;
	size_t len = 0;

	*out = NULL;
	int rc = forge_read_fd(fd, name, &buf, &len, max, err);
	return rc ? rc : parse_owned(buf, len, name, out, err);
}

int forge_yaml_load_file(int dirfd, const char *path, size_t max, json_t **out,
			 struct forge_err *err)
{
	char *buf = NULL;
	size_t len = 0;

	*out = NULL;
	int rc = forge_read_file(dirfd, path, &buf, &len, max, err);
	return rc ? rc : parse_owned(buf, len, path, out, err);
}
