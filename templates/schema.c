/* SPDX-License-Identifier: Apache-2.0 */
/*
 * templates/schema.c — a JSON Schema validator for the subset of draft 2020-12
 * that templates/schema.json uses, collecting every problem with its path.
 *
 * Keywords: type, enum, const, properties, required, additionalProperties
 * (false or a schema), propertyNames, minProperties, maxProperties, items,
 * minItems, maxItems, uniqueItems, minLength, maxLength (code points),
 * pattern (POSIX extended, as regcomp takes it: write it anchored), format
 * (asserted, see formats.c), minimum, maximum, oneOf, $ref to "#/$defs/NAME",
 * and the annotations $schema, $id, $comment, title, description, default,
 * examples. A schema using anything else is refused when it is loaded.
 * "integer" means a JSON integer: 1.0 is a number, not an integer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "templates/internal.h"

#define SCHEMA_MAX_BYTES (1024 * 1024)
#define SCHEMA_MAX_DEPTH 48   /* nesting of schema objects in the file */
#define REF_MAX_DEPTH	 256  /* nested validations, $ref chains included */
#define UNIQUE_MAX	 1024 /* uniqueItems compares pairs: bounded by maxItems */
#define ONE_OF_MAX	 8    /* alternatives of a oneOf, each checked on its own */
#define MSG_MAX		 384

struct forge_template_schema {
	json_t *root;
};

/* ------------------------------------------------------------- loading */

enum kw_kind {
	KW_ANNOTATION,	/* anything */
	KW_TEXT,	/* a string (title: used in messages) */
	KW_SCHEMA,	/* a schema */
	KW_SCHEMA_MAP,	/* an object of schemas */
	KW_SCHEMA_LIST, /* a non-empty array of schemas */
	KW_ADDITIONAL,	/* false or a schema */
	KW_COUNT,	/* a non-negative integer */
	KW_NUMBER,
	KW_BOOL,
	KW_KEYS, /* an array of strings */
	KW_TYPE,
	KW_ENUM, /* a non-empty array */
	KW_PATTERN,
	KW_FORMAT,
	KW_REF,
};

static const struct {
	const char *name;
	enum kw_kind kind;
} keywords[] = {
    {"$schema", KW_ANNOTATION},
    {"$id", KW_ANNOTATION},
    {"$comment", KW_ANNOTATION},
    {"title", KW_TEXT},
    {"description", KW_ANNOTATION},
    {"default", KW_ANNOTATION},
    {"examples", KW_ANNOTATION},
    {"$defs", KW_SCHEMA_MAP},
    {"$ref", KW_REF},
    {"type", KW_TYPE},
    {"enum", KW_ENUM},
    {"const", KW_ANNOTATION},
    {"properties", KW_SCHEMA_MAP},
    {"required", KW_KEYS},
    {"additionalProperties", KW_ADDITIONAL},
    {"propertyNames", KW_SCHEMA},
    {"minProperties", KW_COUNT},
    {"maxProperties", KW_COUNT},
    {"items", KW_SCHEMA},
    {"minItems", KW_COUNT},
    {"maxItems", KW_COUNT},
    {"uniqueItems", KW_BOOL},
    {"minLength", KW_COUNT},
    {"maxLength", KW_COUNT},
    {"pattern", KW_PATTERN},
    {"format", KW_FORMAT},
    {"minimum", KW_NUMBER},
    {"maximum", KW_NUMBER},
    {"oneOf", KW_SCHEMA_LIST},
};

static const char *const type_names[] = {"object", "array",   "string", "integer",
					 "number", "boolean", "null"};

static bool is_type_name(const json_t *v)
{
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (json_is_string(v) && !strcmp(json_string_value(v), type_names[i]))
			return true;
	return false;
}

struct meta {
	const json_t *root;
	struct forge_err *err;
};

static int meta_schema(struct meta *m, const json_t *node, const char *where, int depth);

/* The $defs entry a "#/$defs/NAME" reference names, or NULL. */
static const json_t *ref_target(const json_t *root, const json_t *ref)
{
	const char *s = json_string_value(ref);
	static const char prefix[] = "#/$defs/";

	if (!s || strncmp(s, prefix, sizeof(prefix) - 1))
		return NULL;
	return json_object_get(json_object_get(root, "$defs"), s + sizeof(prefix) - 1);
}

#define BAD(m, ...) (forge_err_set((m)->err, -EINVAL, __VA_ARGS__), -EINVAL)

static int meta_children(struct meta *m, const json_t *v, const char *where, const char *kw,
			 bool list, int depth)
{
	char at[TPL_PATH_MAX];
	const char *key;
	json_t *child;
	size_t i;
	int rc = 0;

	if (list) {
		if (!json_is_array(v) || json_array_size(v) == 0)
			return BAD(m, "%s.%s: expected a non-empty array of schemas", where, kw);
		json_array_foreach(v, i, child)
		{
			snprintf(at, sizeof(at), "%s.%s[%zu]", where, kw, i);
			if ((rc = meta_schema(m, child, at, depth + 1)))
				return rc;
		}
		return 0;
	}
	if (!json_is_object(v))
		return BAD(m, "%s.%s: expected an object of schemas", where, kw);
	json_object_foreach((json_t *)v, key, child)
	{
		snprintf(at, sizeof(at), "%s.%s.%s", where, kw, key);
		if ((rc = meta_schema(m, child, at, depth + 1)))
			return rc;
	}
	return 0;
}

static int meta_keyword(struct meta *m, const json_t *node, const char *kw, enum kw_kind kind,
			const json_t *v, const char *where, int depth)
{
	char at[TPL_PATH_MAX];
	const json_t *item;
	regex_t re;
	size_t i;

	switch (kind) {
	case KW_ANNOTATION:
		return 0;
	case KW_TEXT:
		return json_is_string(v) ? 0 : BAD(m, "%s.%s: expected a string", where, kw);
	case KW_SCHEMA:
		snprintf(at, sizeof(at), "%s.%s", where, kw);
		return meta_schema(m, v, at, depth + 1);
	case KW_SCHEMA_MAP:
		if (!strcmp(kw, "$defs") && node != m->root)
			return BAD(m, "%s: $defs only at the top (references are #/$defs/NAME)",
				   where);
		return meta_children(m, v, where, kw, false, depth);
	case KW_SCHEMA_LIST:
		if (json_array_size(v) > ONE_OF_MAX)
			return BAD(m, "%s.%s: more than %d alternatives", where, kw, ONE_OF_MAX);
		return meta_children(m, v, where, kw, true, depth);
	case KW_ADDITIONAL:
		if (json_is_false(v))
			return 0;
		snprintf(at, sizeof(at), "%s.%s", where, kw);
		return meta_schema(m, v, at, depth + 1);
	case KW_COUNT:
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return BAD(m, "%s.%s: expected a non-negative integer", where, kw);
		return 0;
	case KW_NUMBER:
		return json_is_number(v) ? 0 : BAD(m, "%s.%s: expected a number", where, kw);
	case KW_BOOL:
		if (!json_is_boolean(v))
			return BAD(m, "%s.%s: expected true or false", where, kw);
		if (!strcmp(kw, "uniqueItems") && json_is_true(v)) {
			const json_t *max = json_object_get(node, "maxItems");

			if (!json_is_integer(max) || json_integer_value(max) > UNIQUE_MAX)
				return BAD(m, "%s: uniqueItems needs maxItems of at most %d", where,
					   UNIQUE_MAX);
		}
		return 0;
	case KW_KEYS:
		if (!json_is_array(v))
			return BAD(m, "%s.%s: expected an array of strings", where, kw);
		json_array_foreach(v, i, item)
		{
			if (!tpl_str(item))
				return BAD(m, "%s.%s[%zu]: expected a string", where, kw, i);
		}
		return 0;
	case KW_TYPE:
		if (is_type_name(v))
			return 0;
		if (!json_is_array(v) || json_array_size(v) == 0)
			return BAD(m, "%s.type: expected a type name or a list of them", where);
		json_array_foreach(v, i, item)
		{
			if (!is_type_name(item))
				return BAD(m, "%s.type[%zu]: not a type name", where, i);
		}
		return 0;
	case KW_ENUM:
		if (!json_is_array(v) || json_array_size(v) == 0)
			return BAD(m, "%s.enum: expected a non-empty array", where);
		return 0;
	case KW_PATTERN:
		if (!tpl_str(v) || regcomp(&re, json_string_value(v), REG_EXTENDED | REG_NOSUB))
			return BAD(m, "%s.pattern: not a POSIX extended regular expression", where);
		regfree(&re);
		return 0;
	case KW_FORMAT:
		if (!tpl_str(v) || !tpl_format_known(json_string_value(v)))
			return BAD(m, "%s.format: unknown format %s", where, tpl_render(v).s);
		return 0;
	case KW_REF:
		if (!ref_target(m->root, v))
			return BAD(m, "%s.$ref: %s does not name an entry of #/$defs", where,
				   tpl_render(v).s);
		return 0;
	}
	return BAD(m, "%s.%s: unhandled keyword", where, kw);
}

static int meta_schema(struct meta *m, const json_t *node, const char *where, int depth)
{
	const char *kw;
	json_t *v;
	size_t i;
	int rc;

	if (depth > SCHEMA_MAX_DEPTH)
		return BAD(m, "%s: nested too deeply", where);
	if (!json_is_object(node))
		return BAD(m, "%s: a schema must be an object", where);
	json_object_foreach((json_t *)node, kw, v)
	{
		for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
			if (!strcmp(keywords[i].name, kw))
				break;
		if (i == sizeof(keywords) / sizeof(keywords[0]))
			return BAD(m, "%s: keyword %s is not supported", where, tpl_quote(kw).s);
		rc = meta_keyword(m, node, kw, keywords[i].kind, v, where, depth);
		if (rc)
			return rc;
	}
	return 0;
}

int forge_template_schema_from_json(const json_t *schema, struct forge_template_schema **out,
				    struct forge_err *err)
{
	struct meta m = {.err = err};
	struct forge_template_schema *s;
	int rc;

	*out = NULL;
	if (!schema)
		return forge_err_set(err, -EINVAL, "schema: missing");
	s = calloc(1, sizeof(*s));
	if (!s || !(s->root = json_deep_copy(schema))) {
		free(s);
		return forge_err_set(err, -ENOMEM, "schema: out of memory");
	}
	m.root = s->root;
	rc = meta_schema(&m, s->root, "schema", 0);
	if (rc) {
		forge_template_schema_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int forge_template_schema_load_fd(int fd, const char *name, struct forge_template_schema **out,
				  struct forge_err *err)
{
	json_error_t jerr;
	json_t *j = NULL;
	char *text = NULL;
	size_t len;
	int rc;

	*out = NULL;
	rc = forge_read_fd(fd, name, &text, &len, SCHEMA_MAX_BYTES, err);
	if (rc < 0)
		goto out;
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		rc = forge_err_set(err, -EINVAL, "%s:%d:%d: %s", name, jerr.line, jerr.column,
				   jerr.text);
		goto out;
	}
	rc = forge_template_schema_from_json(j, out, err);
	if (rc)
		forge_err_prefix(err, "%s", name);
out:
	json_decref(j);
	free(text);
	return rc;
}

int forge_template_schema_load(int dirfd, const char *path, struct forge_template_schema **out,
			       struct forge_err *err)
{
	int fd, rc;

	*out = NULL;
	fd = forge_open_beneath(dirfd, path, O_RDONLY | O_CLOEXEC, 0, err);
	if (fd < 0)
		return fd;
	rc = forge_template_schema_load_fd(fd, path, out, err);
	close(fd);
	return rc;
}

void forge_template_schema_free(struct forge_template_schema *s)
{
	if (!s)
		return;
	json_decref(s->root);
	free(s);
}

/* ------------------------------------------------------------- validation */

struct vctx {
	const json_t *root;
	struct forge_template_problems *p;
	struct tpl_path path;
	unsigned depth;
};

static void validate(struct vctx *v, const json_t *schema, const json_t *inst);

static void problem(struct vctx *v, const char *check, const char *fmt, ...) FORGE_PRINTF(3, 4);
static void problem(struct vctx *v, const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tpl_vproblem(v->p, check, v->path.s, fmt, ap);
	va_end(ap);
}

static const char *type_phrase(const char *t)
{
	static const struct {
		const char *type, *phrase;
	} phrases[] = {
	    {"object", "an object"},   {"array", "an array"},  {"string", "a string"},
	    {"integer", "an integer"}, {"number", "a number"}, {"boolean", "true or false"},
	    {"null", "null"},
	};
	size_t i;

	for (i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (!strcmp(phrases[i].type, t))
			return phrases[i].phrase;
	return t;
}

static bool type_is(const char *t, const json_t *inst)
{
	if (!strcmp(t, "object"))
		return json_is_object(inst);
	if (!strcmp(t, "array"))
		return json_is_array(inst);
	if (!strcmp(t, "string"))
		return json_is_string(inst);
	if (!strcmp(t, "integer"))
		return json_is_integer(inst);
	if (!strcmp(t, "number"))
		return json_is_number(inst);
	if (!strcmp(t, "boolean"))
		return json_is_boolean(inst);
	return json_is_null(inst);
}

static bool check_type(struct vctx *v, const json_t *type, const json_t *inst)
{
	char want[128] = "";
	const json_t *t;
	size_t i, n = 0;

	if (json_is_string(type)) {
		if (type_is(json_string_value(type), inst))
			return true;
		problem(v, "type", "expected %s, got %s", type_phrase(json_string_value(type)),
			tpl_kind(inst));
		return false;
	}
	json_array_foreach(type, i, t)
	{
		if (type_is(json_string_value(t), inst))
			return true;
		/* Seven type names fit: no truncation to handle. */
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%s%s", i ? " or " : "",
				      type_phrase(json_string_value(t)));
	}
	problem(v, "type", "expected %s, got %s", want, tpl_kind(inst));
	return false;
}

/* A comma-separated list for a message, cut with ", ..." when it no longer fits. */
struct list {
	char s[192];
	size_t n;
	bool full;
};

static void list_add(struct list *l, const char *item)
{
	static const char cut[] = ", ...";
	int w;

	if (l->full)
		return;
	w = snprintf(l->s + l->n, sizeof(l->s) - l->n, "%s%s", l->n ? ", " : "", item);
	if (w < 0 || (size_t)w >= sizeof(l->s) - l->n) {
		memcpy(l->s + sizeof(l->s) - sizeof(cut), cut, sizeof(cut));
		l->full = true;
		return;
	}
	l->n += (size_t)w;
}

static bool check_enum(struct vctx *v, const json_t *values, const json_t *inst)
{
	struct list l = {0};
	const json_t *e;
	size_t i;

	json_array_foreach(values, i, e)
	{
		if (json_equal((json_t *)e, (json_t *)inst))
			return true;
	}
	json_array_foreach(values, i, e)
	{
		list_add(&l, tpl_render(e).s);
	}
	problem(v, "enum", "%s is not one of %s", tpl_render(inst).s, l.s);
	return false;
}

static size_t code_points(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* The noun a failed pattern names: the schema's title when it has one. */
static void pattern_problem(struct vctx *v, const json_t *schema, const json_t *inst)
{
	const char *title = tpl_get_str(schema, "title");

	if (title)
		problem(v, "pattern", "%s is not %s", tpl_render(inst).s, title);
	else
		problem(v, "pattern", "%s does not match %s", tpl_render(inst).s,
			json_string_value(json_object_get(schema, "pattern")));
}

/* One problem per string at most: its checks go from coarse to fine. */
static void check_string(struct vctx *v, const json_t *schema, const json_t *inst)
{
	const json_t *min = json_object_get(schema, "minLength");
	const json_t *max = json_object_get(schema, "maxLength");
	const char *pattern = tpl_get_str(schema, "pattern");
	const char *format = tpl_get_str(schema, "format");
	const char *s = tpl_str(inst);
	char msg[MSG_MAX];
	regex_t re;
	size_t n;
	int rc;

	if (!s) {
		problem(v, "type", "contains a NUL character");
		return;
	}
	n = code_points(s, strlen(s));
	if (min && n < (size_t)json_integer_value(min)) {
		problem(v, "minLength", "%s is shorter than %lld character(s)", tpl_quote(s).s,
			json_integer_value(min));
		return;
	}
	if (max && n > (size_t)json_integer_value(max)) {
		problem(v, "maxLength", "%s is longer than %lld characters", tpl_quote(s).s,
			json_integer_value(max));
		return;
	}
	if (pattern) {
		/* Compiled when the schema was loaded; compiled again here so
		 * that a schema stays a plain JSON value. */
		if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB)) {
			v->p->oom = true;
			return;
		}
		rc = regexec(&re, s, 0, NULL, 0);
		regfree(&re);
		if (rc) {
			pattern_problem(v, schema, inst);
			return;
		}
	}
	if (format && !tpl_format_check(format, s, msg, sizeof(msg)))
		problem(v, "format", "%s", msg);
}

static void check_number(struct vctx *v, const json_t *schema, const json_t *inst)
{
	const json_t *min = json_object_get(schema, "minimum");
	const json_t *max = json_object_get(schema, "maximum");
	double x = json_number_value(inst);

	if (min && x < json_number_value(min))
		problem(v, "minimum", "%s is below the minimum %s", tpl_render(inst).s,
			tpl_render(min).s);
	if (max && x > json_number_value(max))
		problem(v, "maximum", "%s is above the maximum %s", tpl_render(inst).s,
			tpl_render(max).s);
}

static void unknown_key(struct vctx *v, const json_t *props)
{
	struct list l = {0};
	const char *key;
	json_t *sub;

	json_object_foreach((json_t *)props, key, sub)
	{
		list_add(&l, key);
	}
	if (l.n)
		problem(v, "additionalProperties", "unknown key (known: %s)", l.s);
	else
		problem(v, "additionalProperties", "unknown key");
}

static void check_object(struct vctx *v, const json_t *schema, const json_t *inst)
{
	const json_t *props = json_object_get(schema, "properties");
	const json_t *extra = json_object_get(schema, "additionalProperties");
	const json_t *names = json_object_get(schema, "propertyNames");
	const json_t *min = json_object_get(schema, "minProperties");
	const json_t *max = json_object_get(schema, "maxProperties");
	const json_t *required = json_object_get(schema, "required"), *r;
	size_t n = json_object_size(inst), i, back;
	const char *key;
	json_t *val, *name;

	if (min && n < (size_t)json_integer_value(min))
		problem(v, "minProperties", "%zu key(s), at least %lld", n,
			json_integer_value(min));
	if (max && n > (size_t)json_integer_value(max))
		problem(v, "maxProperties", "%zu keys, at most %lld", n, json_integer_value(max));
	json_array_foreach(required, i, r)
	{
		if (json_object_get(inst, json_string_value(r)))
			continue;
		back = tpl_path_key(&v->path, json_string_value(r));
		problem(v, "required", "missing");
		tpl_path_restore(&v->path, back);
	}
	json_object_foreach((json_t *)inst, key, val)
	{
		const json_t *sub = json_object_get(props, key);

		back = tpl_path_key(&v->path, key);
		if (names) {
			name = json_string(key);
			if (name)
				validate(v, names, name);
			else
				v->p->oom = true;
			json_decref(name);
		}
		if (sub)
			validate(v, sub, val);
		else if (json_is_false(extra))
			unknown_key(v, props);
		else if (extra)
			validate(v, extra, val);
		tpl_path_restore(&v->path, back);
	}
}

static void check_array(struct vctx *v, const json_t *schema, const json_t *inst)
{
	const json_t *items = json_object_get(schema, "items");
	const json_t *min = json_object_get(schema, "minItems");
	const json_t *max = json_object_get(schema, "maxItems");
	size_t n = json_array_size(inst), i, k, back;
	bool too_many = false;
	const json_t *item;

	if (min && n < (size_t)json_integer_value(min))
		problem(v, "minItems", "%zu entr%s, at least %lld", n, n == 1 ? "y" : "ies",
			json_integer_value(min));
	if (max && n > (size_t)json_integer_value(max)) {
		problem(v, "maxItems", "%zu entries, at most %lld", n, json_integer_value(max));
		too_many = true;
	}
	json_array_foreach(inst, i, item)
	{
		back = tpl_path_index(&v->path, i);
		if (items)
			validate(v, items, item);
		/* Quadratic, so only within maxItems (which loading made sure is set). */
		if (!too_many && json_is_true(json_object_get(schema, "uniqueItems"))) {
			for (k = 0; k < i; k++)
				if (json_equal((json_t *)item, json_array_get(inst, k))) {
					problem(v, "uniqueItems", "%s is already listed at [%zu]",
						tpl_render(item).s, k);
					break;
				}
		}
		tpl_path_restore(&v->path, back);
	}
}

/*
 * oneOf. When no alternative fits, the alternatives a discriminator rules
 * out — a const on a direct member (evidence "type: file"), or the type of
 * the value itself — are not what the author meant; if exactly one
 * is left, its problems are the useful ones. If all were ruled out by the
 * same member, that member is the problem.
 */
static bool ruled_out(const struct forge_template_problems *bp, const char *path, char *member,
		      size_t member_sz)
{
	size_t len = strlen(path), i;

	for (i = 0; i < bp->n; i++) {
		const struct forge_template_problem *q = &bp->items[i];
		const char *rest = q->path + len;

		if (strncmp(q->path, path, len))
			continue;
		if (!strcmp(q->check, "type") && !*rest)
			return true;
		if (!strcmp(q->check, "const") && ((*rest == '.' && !strpbrk(rest + 1, ".[")) ||
						   (!len && !strpbrk(rest, ".[")))) {
			snprintf(member, member_sz, "%s", q->path);
			return true;
		}
	}
	return false;
}

/* Every alternative refused the value of the same member: list what it may be. */
static void discriminator_problem(struct vctx *v, const json_t *alts, const json_t *inst,
				  const char *member_path)
{
	const char *key = member_path + strlen(v->path.s) + (v->path.len ? 1 : 0);
	struct list l = {0};
	const json_t *alt, *c;
	size_t i;

	json_array_foreach(alts, i, alt)
	{
		if (json_object_get(alt, "$ref"))
			alt = ref_target(v->root, json_object_get(alt, "$ref"));
		c = json_object_get(json_object_get(json_object_get(alt, "properties"), key),
				    "const");
		if (c)
			list_add(&l, tpl_render(c).s);
	}
	if (l.n)
		tpl_problem(v->p, "oneOf", member_path, "%s is not one of %s",
			    tpl_render(json_object_get(inst, key)).s, l.s);
	else
		tpl_problem(v->p, "oneOf", member_path, "fits none of the %zu alternatives",
			    json_array_size(alts));
}

static void check_one_of(struct vctx *v, const json_t *alts, const json_t *inst)
{
	struct forge_template_problems *outer = v->p, branch[ONE_OF_MAX] = {0};
	char member[TPL_PATH_MAX], first_member[TPL_PATH_MAX] = "";
	size_t n = json_array_size(alts), i, matched = 0, left = 0, pick = 0;
	bool same_member = true;

	for (i = 0; i < n; i++) {
		v->p = &branch[i];
		validate(v, json_array_get(alts, i), inst);
		v->p = outer;
		if (branch[i].oom)
			outer->oom = true;
		if (branch[i].n == 0 && !branch[i].dropped) {
			matched++;
			continue;
		}
		member[0] = '\0';
		if (!ruled_out(&branch[i], v->path.s, member, sizeof(member))) {
			left++;
			pick = i;
		} else if (!member[0] || (first_member[0] && strcmp(member, first_member))) {
			same_member = false;
		} else {
			snprintf(first_member, sizeof(first_member), "%s", member);
		}
	}
	if (matched > 1)
		problem(v, "oneOf", "fits %zu of the %zu alternatives, exactly one must fit",
			matched, n);
	else if (matched == 0 && left == 1)
		tpl_problems_move(outer, &branch[pick]);
	else if (matched == 0 && left == 0 && same_member && first_member[0])
		discriminator_problem(v, alts, inst, first_member);
	else if (matched == 0)
		problem(v, "oneOf", "fits none of the %zu alternatives", n);
	for (i = 0; i < n; i++)
		forge_template_problems_free(&branch[i]);
}

static void validate(struct vctx *v, const json_t *schema, const json_t *inst)
{
	const json_t *ref = json_object_get(schema, "$ref");
	const json_t *type = json_object_get(schema, "type");
	const json_t *cst = json_object_get(schema, "const");
	const json_t *values = json_object_get(schema, "enum");
	const json_t *alts = json_object_get(schema, "oneOf");

	if (++v->depth > REF_MAX_DEPTH) {
		problem(v, "$ref", "the schema recurses too deeply here");
		goto out;
	}
	if (ref)
		validate(v, ref_target(v->root, ref), inst);
	if (type && !check_type(v, type, inst))
		goto out;
	if (cst && !json_equal((json_t *)cst, (json_t *)inst)) {
		problem(v, "const", "must be %s, not %s", tpl_render(cst).s, tpl_render(inst).s);
		goto out;
	}
	if (values && !check_enum(v, values, inst))
		goto out;
	if (json_is_object(inst))
		check_object(v, schema, inst);
	else if (json_is_array(inst))
		check_array(v, schema, inst);
	else if (json_is_string(inst))
		check_string(v, schema, inst);
	else if (json_is_number(inst))
		check_number(v, schema, inst);
	if (alts)
		check_one_of(v, alts, inst);
out:
	v->depth--;
}

int forge_template_schema_check(const struct forge_template_schema *s, const json_t *doc,
				struct forge_template_problems *p)
{
	struct vctx v = {.root = s->root, .p = p};
	size_t before = p->n + p->dropped;

	validate(&v, s->root, doc);
	if (p->oom)
		return -ENOMEM;
	return p->n + p->dropped > before ? -EINVAL : 0;
}
