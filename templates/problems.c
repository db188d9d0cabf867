/* SPDX-License-Identifier: Apache-2.0 */
/* templates/problems.c — document paths, the problem list and safe message text. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "templates/internal.h"

/* ------------------------------------------------------------- paths */

/* A path that no longer fits keeps its start (where the offender is) and says it was cut. */
static void path_append(struct tpl_path *p, const char *fmt, ...) FORGE_PRINTF(2, 3);
static void path_append(struct tpl_path *p, const char *fmt, ...)
{
	size_t room = sizeof(p->s) - p->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p->s + p->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= room) {
		memcpy(p->s + sizeof(p->s) - sizeof("..."), "...", sizeof("..."));
		p->len = sizeof(p->s) - 1;
		return;
	}
	p->len += (size_t)n;
}

static bool is_identifier(const char *key)
{
	static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$";
	size_t len = strlen(key);

	return len > 0 && len <= 64 && strchr(first, key[0]) &&
	       strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$0123456789-") ==
		   len;
}

void tpl_pathf(char out[TPL_PATH_MAX], const char *fmt, ...)
{
	struct tpl_path p = {.len = 0};
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p.s, sizeof(p.s), fmt, ap);
	va_end(ap);
	if (n < 0)
		p.s[0] = '\0';
	else if ((size_t)n >= sizeof(p.s))
		memcpy(p.s + sizeof(p.s) - sizeof("..."), "...", sizeof("..."));
	memcpy(out, p.s, sizeof(p.s));
}

size_t tpl_path_key(struct tpl_path *p, const char *key)
{
	size_t old = p->len;

	if (!is_identifier(key))
		path_append(p, "[%s]", tpl_quote(key).s);
	else
		path_append(p, "%s%s", p->len ? "." : "", key);
	return old;
}

size_t tpl_path_index(struct tpl_path *p, size_t index)
{
	size_t old = p->len;

	path_append(p, "[%zu]", index);
	return old;
}

void tpl_path_restore(struct tpl_path *p, size_t len)
{
	p->len = len;
	p->s[len] = '\0';
}

/* ------------------------------------------------------------- problems */

void forge_template_problems_free(struct forge_template_problems *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->items[i].path);
		free(p->items[i].message);
	}
	free(p->items);
	memset(p, 0, sizeof(*p));
}

void tpl_vproblem(struct forge_template_problems *p, const char *check, const char *path,
		  const char *fmt, va_list ap)
{
	struct forge_template_problem item = {.check = check};
	int n;

	if (p->n >= FORGE_TEMPLATE_MAX_PROBLEMS) {
		p->dropped++;
		return;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct forge_template_problem *grown = reallocarray(p->items, cap, sizeof(*grown));

		if (!grown) {
			p->oom = true;
			return;
		}
		p->items = grown;
		p->cap = cap;
	}
	n = vasprintf(&item.message, fmt, ap);
	item.path = strdup(path);
	if (n < 0 || !item.path) {
		if (n >= 0)
			free(item.message);
		free(item.path);
		p->oom = true;
		return;
	}
	p->items[p->n++] = item;
}

void tpl_problem(struct forge_template_problems *p, const char *check, const char *path,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tpl_vproblem(p, check, path, fmt, ap);
	va_end(ap);
}

bool tpl_problem_at(const struct forge_template_problems *p, const char *path)
{
	size_t len = strlen(path), i;

	for (i = 0; i < p->n; i++) {
		const char *q = p->items[i].path;

		if (!strncmp(q, path, len) && (!q[len] || q[len] == '.' || q[len] == '['))
			return true;
	}
	return false;
}

void tpl_problems_move(struct forge_template_problems *to, struct forge_template_problems *from)
{
	size_t i;

	for (i = 0; i < from->n; i++) {
		struct forge_template_problem *it = &from->items[i];

		tpl_problem(to, it->check, it->path, "%s", it->message);
	}
	to->dropped += from->dropped;
	to->oom |= from->oom;
	forge_template_problems_free(from);
}

/* ------------------------------------------------------------- messages */

static struct tpl_quoted quote_n(const char *s, size_t len, bool quotes)
{
	const size_t room = sizeof(((struct tpl_quoted *)0)->s) - sizeof("\"...\"");
	struct tpl_quoted q;
	size_t n = 0, i;

	if (quotes)
		q.s[n++] = '"';
	for (i = 0; i < len && i < room; i++) {
		bool plain =
		    s[i] >= 0x20 && s[i] < 0x7f && (!quotes || (s[i] != '"' && s[i] != '\\'));

		q.s[n++] = plain ? s[i] : '?';
	}
	if (i < len) {
		memcpy(q.s + n, "...", 3);
		n += 3;
	}
	if (quotes)
		q.s[n++] = '"';
	q.s[n] = '\0';
	return q;
}

struct tpl_quoted tpl_quote(const char *s)
{
	return quote_n(s, strlen(s), true);
}

struct tpl_quoted tpl_render(const json_t *v)
{
	struct tpl_quoted q;
	char *text;

	if (json_is_string(v))
		return quote_n(json_string_value(v), json_string_length(v), true);
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text) {
		snprintf(q.s, sizeof(q.s), "%s", tpl_kind(v));
		return q;
	}
	q = quote_n(text, strlen(text), false);
	free(text);
	return q;
}

const char *tpl_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* ------------------------------------------------------------- values */

const char *tpl_str(const json_t *v)
{
	const char *s = json_string_value(v);

	/* C strings end at the first NUL: "10.0.0.1\u0000x" must not pass as 10.0.0.1. */
	if (!s || strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

const char *tpl_get_str(const json_t *obj, const char *key)
{
	return tpl_str(json_object_get(obj, key));
}
