/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy/eval.c — deciding a gate for an input document. The rules were
 * checked at load (load.c), so nothing here can fail but memory. A condition
 * on a missing path, or on a value of the wrong type, is false, never an
 * error (policy/README.md, "Missing values and types").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

void policy_text(char *out, size_t max, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (i < len) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

const json_t *policy_path_get(const json_t *doc, const char *path)
{
	struct path_iter it = {.at = path};
	struct path_seg seg;
	int rc = 0;

	while (doc && (rc = policy_path_next(&it, &seg)) > 0)
		doc = seg.is_index ? json_array_get(doc, seg.index)
				   : json_object_getn(doc, seg.key, seg.key_len);
	if (rc < 0 || json_is_null(doc))
		return NULL;
	return doc;
}

/* ------------------------------------------------------------- conditions */

/* Both are numbers: integers compare exactly, otherwise as doubles. */
static int number_cmp(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);
		return (x > y) - (x < y);
	}
	double x = json_number_value(a), y = json_number_value(b);
	return (x > y) - (x < y);
}

/* JSON equality, except that 1 and 1.0 are the same number. */
static bool same(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return number_cmp(a, b) == 0;
	return json_equal(a, b);
}

static bool has_element(const json_t *array, const json_t *v)
{
	size_t i;
	json_t *e;

	json_array_foreach(array, i, e)
	{
		if (same(e, v))
			return true;
	}
	return false;
}

static bool leaf_true(const struct cond *c, const json_t *input)
{
	const json_t *v = policy_path_get(input, c->path), *w;
	bool numbers;

	if (c->op == OP_EXISTS)
		return v != NULL;
	if (!v)
		v = c->dflt;
	w = c->ref ? policy_path_get(input, c->ref) : c->value;
	if (!v || !w)
		return false;
	numbers = json_is_number(v) && json_is_number(w);
	switch (c->op) {
	case OP_EQ:
		return same(v, w);
	case OP_NE:
		return !same(v, w);
	case OP_LT:
		return numbers && number_cmp(v, w) < 0;
	case OP_LE:
		return numbers && number_cmp(v, w) <= 0;
	case OP_GT:
		return numbers && number_cmp(v, w) > 0;
	case OP_GE:
		return numbers && number_cmp(v, w) >= 0;
	case OP_IN:
		return json_is_array(w) && has_element(w, v);
	case OP_CONTAINS:
		/* Lists only: a substring test would let a role string such as
		 * "not-forge.admin" pass for forge.admin (use matches for text). */
		return json_is_array(v) && has_element(v, w);
	case OP_MATCHES:
		/* regexec stops at a NUL: a string holding one never matches. */
		return policy_cstr(v) && regexec(c->re, json_string_value(v), 0, NULL, 0) == 0;
	case OP_EXISTS:
		break;
	}
	return false;
}

/* Recursion is bounded by POLICY_MAX_DEPTH, twice at most (a rule, then a
 * named condition, which cannot use another). */
static bool cond_true(const struct cond *c, const json_t *input)
{
	size_t i;

	switch (c->kind) {
	case COND_ALL:
		for (i = 0; i < c->n_kids; i++)
			if (!cond_true(&c->kids[i], input))
				return false;
		return true;
	case COND_ANY:
		for (i = 0; i < c->n_kids; i++)
			if (cond_true(&c->kids[i], input))
				return true;
		return false;
	case COND_NOT:
		return !cond_true(&c->kids[0], input);
	case COND_USE:
		return cond_true(c->use, input);
	case COND_LEAF:
		return leaf_true(c, input);
	}
	return false;
}

/* ------------------------------------------------------------- reasons */

/* Input values end up on terminals and in logs: printable ASCII, cut short. */
static void value_text(const json_t *v, char out[POLICY_VALUE_TEXT_MAX + 4])
{
	char *dump;

	if (!v) {
		snprintf(out, POLICY_VALUE_TEXT_MAX + 4, "(missing)");
		return;
	}
	if (json_is_string(v)) {
		policy_text(out, POLICY_VALUE_TEXT_MAX, json_string_value(v),
			    json_string_length(v));
		return;
	}
	dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	policy_text(out, POLICY_VALUE_TEXT_MAX, dump ? dump : "?", dump ? strlen(dump) : 1);
	free(dump);
}

/* The message with each {path} replaced by the input's value there. */
static json_t *reason(const char *message, const json_t *input)
{
	char text[POLICY_MESSAGE_MAX + POLICY_MAX_PLACEHOLDER * (POLICY_VALUE_TEXT_MAX + 4) + 1];
	char path[POLICY_PATH_MAX + 1], value[POLICY_VALUE_TEXT_MAX + 4];
	const char *close;
	size_t n = 0, len;

	for (const char *s = message; *s && n + 1 < sizeof(text); s++) {
		if (*s != '{' || policy_placeholder(s, path, &close) < 0) {
			text[n++] = *s;
			continue;
		}
		value_text(policy_path_get(input, path), value);
		len = strlen(value);
		if (len >= sizeof(text) - n)
			break;
		memcpy(text + n, value, len);
		n += len;
		s = close;
	}
	text[n] = '\0';
	return json_string(text);
}

/* ------------------------------------------------------------- decisions */

void forge_policy_decision_clear(struct forge_policy_decision *d)
{
	json_decref(d->reasons);
	json_decref(d->matched);
	memset(d, 0, sizeof(*d));
}

int forge_policy_eval(const struct forge_policy *p, const char *gate, const json_t *input,
		      struct forge_policy_decision *d, struct forge_err *err)
{
	int g = policy_gate_index(gate);
	bool allowed = false, denied = false;
	const struct package *pkg;
	char shown[FORGE_POLICY_GATE_MAX + 4];

	memset(d, 0, sizeof(*d));
	if (g < 0) {
		policy_text(shown, FORGE_POLICY_GATE_MAX, gate ? gate : "",
			    gate ? strlen(gate) : 0);
		return forge_err_set(err, -EINVAL, "policy: unknown gate \"%s\"", shown);
	}
	if (!json_is_object(input))
		return forge_err_set(err, -EINVAL, "policy: %s: the input is not a JSON object",
				     gate);
	pkg = &p->gates[g];
	d->reasons = json_array();
	d->matched = json_array();
	if (!d->reasons || !d->matched)
		goto nomem;
	for (size_t i = 0; i < pkg->n_rules; i++) {
		const struct rule *r = &pkg->rules[i];

		if (!cond_true(&r->when, input))
			continue;
		if (json_array_append_new(d->matched, json_string(r->id)) < 0)
			goto nomem;
		if (r->deny && json_array_append_new(d->reasons, reason(r->message, input)) < 0)
			goto nomem;
		allowed |= !r->deny;
		denied |= r->deny;
	}
	if (!allowed && !denied &&
	    json_array_append_new(
		d->reasons,
		json_sprintf("%s: %s", gate,
			     pkg->loaded ? "no allow rule matched" : "no rules for this gate")) < 0)
		goto nomem;
	d->allow = allowed && !denied;
	snprintf(d->gate, sizeof(d->gate), "%s", gate);
	memcpy(d->bundle, p->bundle, sizeof(d->bundle));
	forge_random_hex(d->id, FORGE_POLICY_ID_LEN);
	return 0;
nomem:
	forge_policy_decision_clear(d);
	return forge_err_set(err, -ENOMEM, "policy: %s: out of memory", gate);
}

json_t *forge_policy_decision_json(const struct forge_policy_decision *d)
{
	return json_pack("{s:s, s:s, s:b, s:o, s:o, s:s}", "decision_id", d->id, "gate", d->gate,
			 "allow", d->allow, "reasons", json_deep_copy(d->reasons), "matched",
			 json_deep_copy(d->matched), "bundle", d->bundle);
}
