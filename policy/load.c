/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy/load.c — rule files: listing, strict compilation, the bundle hash
 * and its pin. Everything a rule file can get wrong is refused here, at load,
 * with the file and JSON path of the offender, so that evaluation (eval.c)
 * never meets a malformed rule.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/internal.h"

static const char *const policy_gates[POLICY_N_GATES] = {"training", "spawn", "quota", "action"};

static const char *const op_names[] = {
    [OP_EQ] = "eq",	      [OP_NE] = "ne",	      [OP_LT] = "lt", [OP_LE] = "le",
    [OP_GT] = "gt",	      [OP_GE] = "ge",	      [OP_IN] = "in", [OP_CONTAINS] = "contains",
    [OP_MATCHES] = "matches", [OP_EXISTS] = "exists",
};

int policy_gate_index(const char *gate)
{
	for (int i = 0; gate && i < POLICY_N_GATES; i++)
		if (strcmp(gate, policy_gates[i]) == 0)
			return i;
	return -1;
}

bool forge_policy_gate_known(const char *gate)
{
	return policy_gate_index(gate) >= 0;
}

const char *policy_cstr(const json_t *j)
{
	if (!json_is_string(j) || strlen(json_string_value(j)) != json_string_length(j))
		return NULL;
	return json_string_value(j);
}

int policy_check_keys(const json_t *obj, const char *const *allowed, const char **bad_key)
{
	const char *key;
	size_t key_len, i;
	json_t *v;

	json_object_keylen_foreach((json_t *)obj, key, key_len, v)
	{
		for (i = 0; allowed[i] && strcmp(allowed[i], key) != 0; i++)
			;
		if (!allowed[i] || strlen(key) != key_len) {
			*bad_key = key;
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- paths */

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

int policy_path_next(struct path_iter *it, struct path_seg *seg)
{
	const char *s = it->at;
	size_t i = 0;

	if (*s == '\0')
		return it->n ? 0 : -1;
	if (it->n == POLICY_PATH_MAX_DEPTH)
		return -1;
	memset(seg, 0, sizeof(*seg));
	if (*s == '[') {
		/* Inputs are objects, so a path starts with a key. */
		if (it->n == 0)
			return -1;
		for (i = 1; s[i] >= '0' && s[i] <= '9'; i++) {
			if (i > 6)
				return -1;
			seg->index = seg->index * 10 + (size_t)(s[i] - '0');
		}
		if (i == 1 || s[i] != ']')
			return -1;
		seg->is_index = true;
		it->at = s + i + 1;
	} else {
		if (it->n > 0 && *s++ != '.')
			return -1;
		while (key_char(s[i]))
			i++;
		if (i == 0)
			return -1;
		seg->key = s;
		seg->key_len = i;
		it->at = s + i;
	}
	it->n++;
	return 1;
}

static bool path_valid(const char *path)
{
	struct path_iter it = {.at = path};
	struct path_seg seg;
	int rc;

	if (strlen(path) > POLICY_PATH_MAX)
		return false;
	while ((rc = policy_path_next(&it, &seg)) > 0)
		;
	return rc == 0;
}

int policy_placeholder(const char *open, char path[POLICY_PATH_MAX + 1], const char **close)
{
	const char *end = strchr(open + 1, '}');
	size_t len;

	if (!end)
		return -1;
	len = (size_t)(end - open - 1);
	if (len > POLICY_PATH_MAX)
		return -1;
	memcpy(path, open + 1, len);
	path[len] = '\0';
	*close = end;
	return path_valid(path) ? 0 : -1;
}

/* ------------------------------------------------------------- compiling */

struct loader {
	const char *file;
	char at[384]; /* JSON path inside the file, for messages */
	size_t at_len;
	const struct package *pkg; /* its named conditions, once compiled */
	bool in_named;		   /* compiling a named condition: no {condition} inside */
	json_t *ids;		   /* rule id → file, across the bundle */
	struct forge_err *err;
};

/* Appends a segment to the JSON path ('.' before a key); returns the old length. */
static size_t push(struct loader *l, const char *fmt, ...) FORGE_PRINTF(2, 3);
static size_t push(struct loader *l, const char *fmt, ...)
{
	size_t old = l->at_len, room = sizeof(l->at) - old;
	va_list ap;
	int n = 0;

	if (old > 0 && fmt[0] != '[' && fmt[0] != '(')
		n = snprintf(l->at + old, room, ".");
	va_start(ap, fmt);
	n += vsnprintf(l->at + old + n, room - (size_t)n, fmt, ap);
	va_end(ap);
	l->at_len = old + ((size_t)n < room ? (size_t)n : room - 1);
	return old;
}

static void pop(struct loader *l, size_t old)
{
	l->at_len = old;
	l->at[old] = '\0';
}

/* "policy: <file>: <path>[.key]: why"; always -EINVAL. */
static int bad(struct loader *l, const char *key, const char *fmt, ...) FORGE_PRINTF(3, 4);
static int bad(struct loader *l, const char *key, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	forge_err_set(l->err, -EINVAL, "policy: %s: %s%s%s%s%s", l->file, l->at,
		      l->at_len && key ? "." : "", key ? key : "", l->at_len || key ? ": " : "",
		      why);
	return -EINVAL;
}

/* Printable and cut short: file text inside messages. */
struct shown {
	char s[POLICY_ID_MAX + 4];
};

static struct shown shown(const char *s)
{
	struct shown q = {{0}};

	policy_text(q.s, POLICY_ID_MAX, s, strlen(s));
	return q;
}

static int check_keys(struct loader *l, const json_t *obj, const char *const *allowed)
{
	const char *key;

	if (policy_check_keys(obj, allowed, &key) < 0)
		return bad(l, NULL, "unknown key \"%s\"", shown(key).s);
	return 0;
}

/* obj[key]: a string of 1..max bytes; NULL when absent and not required. */
static int field_str(struct loader *l, const json_t *obj, const char *key, bool required,
		     size_t max, const char **out)
{
	const json_t *v = json_object_get(obj, key);
	const char *s = policy_cstr(v);

	*out = NULL;
	if (!v)
		return required ? bad(l, key, "missing") : 0;
	if (!s || !*s || strlen(s) > max)
		return bad(l, key, "a string of 1 to %zu bytes expected", max);
	*out = s;
	return 0;
}

static int field_path(struct loader *l, const json_t *obj, const char *key, bool required,
		      const char **out)
{
	int rc = field_str(l, obj, key, required, POLICY_PATH_MAX, out);

	if (rc == 0 && *out && !path_valid(*out))
		return bad(l, key, "\"%s\" is not a path (key, then .key or [index], at most %d)",
			   shown(*out).s, POLICY_PATH_MAX_DEPTH);
	return rc;
}

/* Rule ids and condition names: [a-z0-9][a-z0-9._-]{0,63}. */
static bool id_valid(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-");

	return n > 0 && n <= POLICY_ID_MAX && s[n] == '\0' && s[0] != '.' && s[0] != '_' &&
	       s[0] != '-';
}

static int field_id(struct loader *l, const json_t *obj, const char *key, const char **out)
{
	int rc = field_str(l, obj, key, true, POLICY_ID_MAX, out);

	if (rc == 0 && !id_valid(*out))
		return bad(l, key, "\"%s\" is not an id ([a-z0-9][a-z0-9._-]{0,63})",
			   shown(*out).s);
	return rc;
}

static bool scalar(const json_t *v)
{
	return policy_cstr(v) || json_is_number(v) || json_is_boolean(v);
}

static int compile_regex(struct loader *l, struct cond *c)
{
	const char *re = policy_cstr(c->value);
	char why[128];
	int rc;

	if (!re || strlen(re) > POLICY_REGEX_MAX)
		return bad(l, "value", "a regular expression of at most %d bytes expected",
			   POLICY_REGEX_MAX);
	c->re = malloc(sizeof(*c->re));
	if (!c->re)
		return forge_err_set(l->err, -ENOMEM, "policy: %s: out of memory", l->file);
	rc = regcomp(c->re, re, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, c->re, why, sizeof(why));
		free(c->re);
		c->re = NULL;
		return bad(l, "value", "bad regular expression \"%s\": %s", shown(re).s, why);
	}
	return 0;
}

/* The constant operand's type follows from the op. */
static int check_value(struct loader *l, struct cond *c)
{
	size_t i, n;

	switch (c->op) {
	case OP_EQ:
	case OP_NE:
	case OP_CONTAINS:
		if (!scalar(c->value))
			return bad(l, "value", "a string, number or boolean expected");
		return 0;
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE:
		if (!json_is_number(c->value))
			return bad(l, "value", "a number expected");
		return 0;
	case OP_IN:
		n = json_array_size(c->value);
		if (!json_is_array(c->value) || n == 0 || n > POLICY_MAX_IN)
			return bad(l, "value", "a list of 1 to %d values expected", POLICY_MAX_IN);
		for (i = 0; i < n; i++)
			if (!scalar(json_array_get(c->value, i)))
				return bad(l, "value",
					   "[%zu]: a string, number or boolean expected", i);
		return 0;
	case OP_MATCHES:
		return compile_regex(l, c);
	case OP_EXISTS:
		break;
	}
	return 0;
}

static int compile_leaf(struct loader *l, struct cond *c, const json_t *j)
{
	static const char *const keys[] = {"path", "op", "value", "ref", "default", NULL};
	const char *op;
	size_t i;
	int rc;

	c->kind = COND_LEAF;
	if ((rc = check_keys(l, j, keys)) || (rc = field_path(l, j, "path", true, &c->path)) ||
	    (rc = field_str(l, j, "op", true, 16, &op)) ||
	    (rc = field_path(l, j, "ref", false, &c->ref)))
		return rc;
	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (strcmp(op, op_names[i]) == 0)
			break;
	if (i == sizeof(op_names) / sizeof(op_names[0]))
		return bad(l, "op", "unknown op \"%s\"", shown(op).s);
	c->op = (enum policy_op)i;
	c->value = json_object_get(j, "value");
	c->dflt = json_object_get(j, "default");
	if (c->op == OP_EXISTS) {
		if (c->value || c->ref || c->dflt)
			return bad(l, NULL, "exists takes no value, ref or default");
		return 0;
	}
	if ((c->value != NULL) == (c->ref != NULL))
		return bad(l, NULL, "%s needs exactly one of value and ref", op);
	if (c->ref && c->op == OP_MATCHES)
		return bad(l, "ref", "matches needs a constant regular expression as value");
	if (c->dflt && !scalar(c->dflt))
		return bad(l, "default", "a string, number or boolean expected");
	return c->value ? check_value(l, c) : 0;
}

static int compile_cond(struct loader *l, struct cond *c, const json_t *j, int depth);

static int compile_kids(struct loader *l, struct cond *c, const json_t *list, int depth)
{
	size_t i, n = json_array_size(list);
	int rc = 0;

	if (!json_is_array(list) || n == 0 || n > POLICY_MAX_KIDS)
		return bad(l, NULL, "a list of 1 to %d conditions expected", POLICY_MAX_KIDS);
	c->kids = calloc(n, sizeof(*c->kids));
	if (!c->kids)
		return forge_err_set(l->err, -ENOMEM, "policy: %s: out of memory", l->file);
	c->n_kids = n;
	for (i = 0; i < n && rc == 0; i++) {
		size_t old = push(l, "[%zu]", i);
		rc = compile_cond(l, &c->kids[i], json_array_get(list, i), depth + 1);
		if (rc == 0)
			pop(l, old);
	}
	return rc;
}

static int compile_use(struct loader *l, struct cond *c, const json_t *name)
{
	const char *s = policy_cstr(name);

	c->kind = COND_USE;
	if (l->in_named)
		return bad(l, NULL, "a named condition cannot use another");
	for (size_t i = 0; s && i < l->pkg->n_named; i++)
		if (strcmp(l->pkg->named[i].name, s) == 0) {
			c->use = &l->pkg->named[i].cond;
			return 0;
		}
	return bad(l, NULL, "unknown condition \"%s\"", s ? shown(s).s : "(not a string)");
}

/* On failure the message names the offender and l->at is left pointing at it;
 * whatever was allocated hangs off c, for the caller to free. */
static int compile_cond(struct loader *l, struct cond *c, const json_t *j, int depth)
{
	static const char *const forms[] = {"all", "any", "not", "condition"};
	const json_t *v = NULL;
	size_t k;
	int rc;

	if (!json_is_object(j))
		return bad(l, NULL, "a condition (a mapping) expected");
	if (depth > POLICY_MAX_DEPTH)
		return bad(l, NULL, "conditions nested deeper than %d", POLICY_MAX_DEPTH);
	for (k = 0; k < sizeof(forms) / sizeof(forms[0]); k++)
		if ((v = json_object_get(j, forms[k])))
			break;
	if (k == sizeof(forms) / sizeof(forms[0]))
		return compile_leaf(l, c, j);
	const char *const only[] = {forms[k], NULL};
	if ((rc = check_keys(l, j, only)))
		return rc;
	size_t old = push(l, "%s", forms[k]);
	switch (k) {
	case 0:
	case 1:
		c->kind = k == 0 ? COND_ALL : COND_ANY;
		rc = compile_kids(l, c, v, depth);
		break;
	case 2:
		c->kind = COND_NOT;
		c->kids = calloc(1, sizeof(*c->kids));
		if (!c->kids)
			return forge_err_set(l->err, -ENOMEM, "policy: %s: out of memory", l->file);
		c->n_kids = 1;
		rc = compile_cond(l, c->kids, v, depth + 1);
		break;
	default:
		rc = compile_use(l, c, v);
	}
	if (rc == 0)
		pop(l, old);
	return rc;
}

static int check_message(struct loader *l, const char *m)
{
	char path[POLICY_PATH_MAX + 1];
	const char *close;
	int n = 0;

	for (const char *s = m; *s; s++) {
		if (*s == '}')
			return bad(l, "message", "'}' outside a {path} placeholder");
		if (*s != '{')
			continue;
		if (policy_placeholder(s, path, &close) < 0)
			return bad(l, "message", "a placeholder is not {path}");
		if (++n > POLICY_MAX_PLACEHOLDER)
			return bad(l, "message", "more than %d placeholders",
				   POLICY_MAX_PLACEHOLDER);
		s = close;
	}
	return 0;
}

static int compile_rule(struct loader *l, struct rule *r, const json_t *j)
{
	static const char *const keys[] = {"id", "description", "effect", "when", "message", NULL};
	const char *effect, *desc;
	const json_t *seen;
	int rc;

	if (!json_is_object(j))
		return bad(l, NULL, "a rule (a mapping) expected");
	if ((rc = check_keys(l, j, keys)) || (rc = field_id(l, j, "id", &r->id)))
		return rc;
	if ((seen = json_object_get(l->ids, r->id)))
		return bad(l, "id", "duplicate rule id \"%s\" (first in %s)", r->id,
			   json_string_value(seen));
	if (json_object_set_new(l->ids, r->id, json_string(l->file)) < 0)
		return forge_err_set(l->err, -ENOMEM, "policy: %s: out of memory", l->file);
	push(l, "(%s)", r->id);
	if ((rc = field_str(l, j, "description", false, 1024, &desc)) ||
	    (rc = field_str(l, j, "effect", true, 8, &effect)) ||
	    (rc = field_str(l, j, "message", false, POLICY_MESSAGE_MAX, &r->message)))
		return rc;
	if (strcmp(effect, "allow") != 0 && strcmp(effect, "deny") != 0)
		return bad(l, "effect", "\"%s\" is neither allow nor deny", shown(effect).s);
	r->deny = strcmp(effect, "deny") == 0;
	if (r->deny && !r->message)
		return bad(l, "message", "missing (a deny rule gives its reason)");
	if (!r->deny && r->message)
		return bad(l, "message", "an allow rule has no message");
	if (r->message && (rc = check_message(l, r->message)))
		return rc;
	if (!json_object_get(j, "when"))
		return bad(l, "when", "missing");
	push(l, "when");
	return compile_cond(l, &r->when, json_object_get(j, "when"), 1);
}

static int compile_named(struct loader *l, struct package *pkg, const json_t *conds)
{
	const char *name;
	json_t *v;
	int rc;

	if (!json_is_object(conds) || json_object_size(conds) > POLICY_MAX_NAMED)
		return bad(l, "conditions", "a mapping of at most %d named conditions expected",
			   POLICY_MAX_NAMED);
	/* + 1: an empty mapping must not look like a failed calloc(0). */
	pkg->named = calloc(json_object_size(conds) + 1, sizeof(*pkg->named));
	if (!pkg->named)
		return forge_err_set(l->err, -ENOMEM, "policy: %s: out of memory", l->file);
	l->in_named = true;
	json_object_foreach((json_t *)conds, name, v)
	{
		struct named_cond *nc = &pkg->named[pkg->n_named++];
		size_t old = push(l, "conditions");

		nc->name = name;
		if (!id_valid(name))
			return bad(l, NULL, "\"%s\" is not a name ([a-z0-9][a-z0-9._-]{0,63})",
				   shown(name).s);
		push(l, "%s", name);
		if ((rc = compile_cond(l, &nc->cond, v, 1)))
			return rc;
		pop(l, old);
	}
	l->in_named = false;
	return 0;
}

static int compile_file(struct loader *l, struct package *pkg, const char *gate, const json_t *doc)
{
	static const char *const keys[] = {"package", "description", "conditions", "rules", NULL};
	const json_t *rules = json_object_get(doc, "rules");
	const char *name, *desc;
	size_t i, n = json_array_size(rules);
	int rc;

	if (!json_is_object(doc))
		return bad(l, NULL, "a rule file (a mapping) expected");
	if ((rc = check_keys(l, doc, keys)) ||
	    (rc = field_str(l, doc, "package", true, FORGE_POLICY_GATE_MAX, &name)) ||
	    (rc = field_str(l, doc, "description", false, 4096, &desc)))
		return rc;
	if (strcmp(name, gate) != 0)
		return bad(l, "package", "\"%s\" does not match the file name", shown(name).s);
	l->pkg = pkg;
	if (json_object_get(doc, "conditions") &&
	    (rc = compile_named(l, pkg, json_object_get(doc, "conditions"))))
		return rc;
	if (!json_is_array(rules) || n == 0 || n > POLICY_MAX_RULES)
		return bad(l, "rules", "a list of 1 to %d rules expected", POLICY_MAX_RULES);
	pkg->rules = calloc(n, sizeof(*pkg->rules));
	if (!pkg->rules)
		return forge_err_set(l->err, -ENOMEM, "policy: %s: out of memory", l->file);
	pkg->n_rules = n;
	for (i = 0; i < n; i++) {
		size_t old = push(l, "rules[%zu]", i);
		if ((rc = compile_rule(l, &pkg->rules[i], json_array_get(rules, i))))
			return rc;
		pop(l, old);
	}
	pkg->loaded = true;
	return 0;
}

/* ------------------------------------------------------------- bundles */

static void cond_free(struct cond *c)
{
	for (size_t i = 0; i < c->n_kids; i++)
		cond_free(&c->kids[i]);
	free(c->kids);
	if (c->re) {
		regfree(c->re);
		free(c->re);
	}
}

void forge_policy_free(struct forge_policy *p)
{
	if (!p)
		return;
	for (int g = 0; g < POLICY_N_GATES; g++) {
		struct package *pkg = &p->gates[g];
		for (size_t i = 0; i < pkg->n_named; i++)
			cond_free(&pkg->named[i].cond);
		for (size_t i = 0; i < pkg->n_rules; i++)
			cond_free(&pkg->rules[i].when);
		free(pkg->named);
		free(pkg->rules);
	}
	json_decref(p->files);
	free(p);
}

int forge_policy_from_json(const json_t *files, struct forge_policy **out, struct forge_err *err)
{
	static const char *const file_names[] = {"training.yaml", "spawn.yaml", "quota.yaml",
						 "action.yaml", NULL};
	_Static_assert(sizeof(file_names) / sizeof(file_names[0]) == POLICY_N_GATES + 1,
		       "one rule file per gate, in policy_gates order");
	struct loader l = {.err = err};
	struct forge_policy *p = NULL;
	const char *name;
	json_t *doc;
	int rc = -ENOMEM;

	*out = NULL;
	if (!json_is_object(files) || json_object_size(files) == 0)
		return forge_err_set(err, -EINVAL, "policy: no rule files");
	if (policy_check_keys(files, file_names, &name) < 0)
		return forge_err_set(err, -EINVAL,
				     "policy: %s: not a rule file name (training.yaml, spawn.yaml, "
				     "quota.yaml or action.yaml)",
				     shown(name).s);
	p = calloc(1, sizeof(*p));
	l.ids = json_object();
	if (!p || !l.ids || !(p->files = json_deep_copy(files))) {
		forge_err_set(err, -ENOMEM, "policy: out of memory");
		goto out;
	}
	if ((rc = forge_json_canonical_sha256(p->files, p->bundle, err)))
		goto out;
	/* A fixed order, so that the first error reported is always the same. */
	for (int g = 0; g < POLICY_N_GATES; g++) {
		if (!(doc = json_object_get(p->files, file_names[g])))
			continue;
		l.file = file_names[g];
		pop(&l, 0);
		if ((rc = compile_file(&l, &p->gates[g], policy_gates[g], doc)))
			goto out;
	}
	*out = p;
	p = NULL;
out:
	json_decref(l.ids);
	forge_policy_free(p);
	return rc;
}

const char *forge_policy_bundle(const struct forge_policy *p)
{
	return p->bundle;
}

int forge_policy_check_pin(const struct forge_policy *p, const char *pin, struct forge_err *err)
{
	if (!pin || strlen(pin) != 64 || strspn(pin, "0123456789abcdef") != 64)
		return forge_err_set(
		    err, -EINVAL, "policy: the pinned bundle hash is not 64 lowercase hex digits");
	if (!forge_consttime_eq(p->bundle, pin, 64))
		return forge_err_set(err, -EPERM,
				     "policy: rule bundle sha256 %s does not match the pinned %s",
				     p->bundle, pin);
	return 0;
}

/* ------------------------------------------------------------- files */

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

/* The regular *.yaml files of dirfd (named dir in messages), sorted, as a
 * NULL-terminated array. */
static int list_yaml(int dirfd, const char *dir, char ***names, struct forge_err *err)
{
	struct dirent *de;
	DIR *d = NULL;
	size_t n = 0;
	int fd, rc = 0;

	*names = NULL;
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		rc = forge_err_errno(err, errno, "policy: %s", dir);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*names = calloc(POLICY_DIR_MAX_FILES + 1, sizeof(**names));
	if (!*names) {
		rc = forge_err_set(err, -ENOMEM, "policy: %s: out of memory", dir);
		goto out;
	}
	for (errno = 0; (de = readdir(d)); errno = 0) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		if (n == POLICY_DIR_MAX_FILES) {
			rc = forge_err_set(err, -E2BIG, "policy: %s: more than %d *.yaml files",
					   dir, POLICY_DIR_MAX_FILES);
			goto out;
		}
		if (!((*names)[n++] = strdup(de->d_name))) {
			rc = forge_err_set(err, -ENOMEM, "policy: %s: out of memory", dir);
			goto out;
		}
	}
	if (errno) {
		rc = forge_err_errno(err, errno, "policy: %s: readdir", dir);
		goto out;
	}
	qsort(*names, n, sizeof(**names), names_cmp);
out:
	closedir(d);
	if (rc) {
		names_free(*names);
		*names = NULL;
	}
	return rc;
}

/* dirfd/name as YAML: a regular file of at most max bytes. */
static int load_yaml(int dirfd, const char *name, size_t max, json_t **out, struct forge_err *err)
{
	struct stat st;
	int rc, fd;

	*out = NULL;
	/* O_NONBLOCK: a FIFO named *.yaml must not hang the loader before fstat refuses it. */
	fd = forge_open_beneath(dirfd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, err);
	if (fd < 0) {
		forge_err_prefix(err, "policy");
		return fd;
	}
	if (fstat(fd, &st) < 0)
		rc = forge_err_errno(err, errno, "policy: %s", name);
	else if (!S_ISREG(st.st_mode))
		rc = forge_err_set(err, -EINVAL, "policy: %s: not a regular file", name);
	else if ((rc = forge_yaml_load_fd(fd, name, max, out, err)))
		forge_err_prefix(err, "policy");
	close(fd);
	return rc;
}

int policy_each_yaml(const char *dir, size_t max, const char *none, policy_yaml_fn fn, void *arg,
		     struct forge_err *err)
{
	char **names = NULL;
	json_t *doc;
	int dirfd, rc;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return forge_err_errno(err, errno, "policy: %s", dir);
	if ((rc = list_yaml(dirfd, dir, &names, err)))
		goto out;
	if (!names[0])
		rc = forge_err_set(err, -EINVAL, "policy: %s: %s", dir, none);
	for (size_t i = 0; names[i] && rc == 0; i++) {
		if ((rc = load_yaml(dirfd, names[i], max, &doc, err)) == 0)
			rc = fn(names[i], doc, arg, err);
		json_decref(doc);
	}
out:
	close(dirfd);
	names_free(names);
	return rc;
}

static int add_file(const char *name, json_t *doc, void *files, struct forge_err *err)
{
	if (json_object_set(files, name, doc) < 0)
		return forge_err_set(err, -ENOMEM, "policy: out of memory");
	return 0;
}

int forge_policy_load(const char *dir, struct forge_policy **out, struct forge_err *err)
{
	json_t *files = json_object();
	int rc;

	*out = NULL;
	if (!files)
		return forge_err_set(err, -ENOMEM, "policy: out of memory");
	rc = policy_each_yaml(dir, POLICY_FILE_MAX, "no rule files (<gate>.yaml)", add_file, files,
			      err);
	if (rc == 0)
		rc = forge_policy_from_json(files, out, err);
	json_decref(files);
	return rc;
}
