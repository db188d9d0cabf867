/* SPDX-License-Identifier: Apache-2.0 */
/* policy/ internals shared by load.c (compiling), eval.c (deciding) and cases.c (tests). */
#ifndef FORGE_POLICY_INTERNAL_H
#define FORGE_POLICY_INTERNAL_H

#include <regex.h>

#include "policy/policy.h"

/* Limits (policy/README.md lists them for rule authors). */
#define POLICY_N_GATES	       4
#define POLICY_FILE_MAX	       (256 * 1024) /* bytes of one rule file */
#define POLICY_TEST_FILE_MAX   (1024 * 1024)
#define POLICY_DIR_MAX_FILES   64
#define POLICY_MAX_RULES       256 /* per gate */
#define POLICY_MAX_NAMED       64  /* named conditions per gate */
#define POLICY_MAX_DEPTH       16  /* condition nesting */
#define POLICY_MAX_KIDS	       64  /* conditions under one all/any */
#define POLICY_MAX_IN	       256 /* values of one `in` list */
#define POLICY_PATH_MAX	       255 /* bytes of an input path */
#define POLICY_PATH_MAX_DEPTH  16  /* segments of an input path */
#define POLICY_REGEX_MAX       256
#define POLICY_ID_MAX	       64 /* rule ids and condition names */
#define POLICY_MESSAGE_MAX     256
#define POLICY_MAX_PLACEHOLDER 8  /* {path} in one message */
#define POLICY_VALUE_TEXT_MAX  64 /* bytes of a value substituted into a reason */

enum policy_op {
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_IN,
	OP_CONTAINS,
	OP_MATCHES,
	OP_EXISTS,
};

enum cond_kind {
	COND_ALL,
	COND_ANY,
	COND_NOT,
	COND_USE, /* {condition: NAME}: a named condition of the same gate */
	COND_LEAF,
};

/* Strings and values are borrowed from the bundle's own copy of the files. */
struct cond {
	enum cond_kind kind;
	struct cond *kids; /* all, any: n_kids; not: 1 */
	size_t n_kids;
	const struct cond *use;
	enum policy_op op;
	const char *path;
	const char *ref;     /* the other operand is this input path… */
	const json_t *value; /* …or this constant */
	const json_t *dflt;  /* stands in for a missing path */
	regex_t *re;	     /* matches */
};

struct named_cond {
	const char *name;
	struct cond cond;
};

struct rule {
	const char *id;
	bool deny;
	const char *message; /* deny rules: the reason, with {path} placeholders */
	struct cond when;
};

struct package {
	bool loaded;
	struct named_cond *named;
	size_t n_named;
	struct rule *rules;
	size_t n_rules;
};

struct forge_policy {
	json_t *files; /* {"<gate>.yaml": doc}: what the hash covers */
	char bundle[65];
	struct package gates[POLICY_N_GATES];
};

/* Index of gate in training, spawn, quota, action; or -1. */
int policy_gate_index(const char *gate);

/* One segment of an input path: a key (not NUL-terminated) or an index. */
struct path_seg {
	const char *key;
	size_t key_len;
	size_t index;
	bool is_index;
};

/* Walks a path ("a.b[2].c"): start with {.at = path}. */
struct path_iter {
	const char *at;
	size_t n; /* segments so far */
};

/* Steps over the next segment: 1 with *seg filled, 0 at the end, -1 on a
 * syntax error (also: empty, more than POLICY_PATH_MAX_DEPTH segments). */
int policy_path_next(struct path_iter *it, struct path_seg *seg);

/* The value at path in doc, NULL when missing (JSON null counts as missing). */
const json_t *policy_path_get(const json_t *doc, const char *path);

/* The {path} placeholder starting at open ('{'): path copied out, *close at
 * its '}'. -1 when it is not one. */
int policy_placeholder(const char *open, char path[POLICY_PATH_MAX + 1], const char **close);

/* 0 when every key of obj is in allowed (NULL-terminated), else -1 with
 * *bad_key the first other one (a key with a NUL inside is never allowed). */
int policy_check_keys(const json_t *obj, const char *const *allowed, const char **bad_key);

/* The string of j when it is one without an embedded NUL, else NULL. */
const char *policy_cstr(const json_t *j);

/* Printable ASCII only (others become '?'), cut to at most max bytes with
 * "..." appended; out has room for max + 4 bytes. */
void policy_text(char *out, size_t max, const char *s, size_t len);

/* Calls fn with each regular *.yaml file of dir, in name order, parsed as
 * YAML (at most max bytes; doc is borrowed); stops at the first error. A
 * directory without one is -EINVAL "policy: <dir>: <none>". Other entries
 * (dotfiles, other names) are ignored. */
typedef int (*policy_yaml_fn)(const char *name, json_t *doc, void *arg, struct forge_err *err);
int policy_each_yaml(const char *dir, size_t max, const char *none, policy_yaml_fn fn, void *arg,
		     struct forge_err *err);

#endif /* FORGE_POLICY_INTERNAL_H */
