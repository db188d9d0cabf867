/* SPDX-License-Identifier: Apache-2.0 */
/* templates/ internals shared by the schema validator, the semantic checks and the loader. */
#ifndef FORGE_TEMPLATES_INTERNAL_H
#define FORGE_TEMPLATES_INTERNAL_H

#include <stdarg.h>

#include "templates/template.h"

/* ------------------------------------------------------------- paths */

#define TPL_PATH_MAX 256

/* A document path being walked: push a key or an index, restore to go back up. */
struct tpl_path {
	char s[TPL_PATH_MAX];
	size_t len;
};

/* Appends ".key" (or "key" at the top; ["key"] when key is not a plain
 * identifier) and returns the length to restore. */
size_t tpl_path_key(struct tpl_path *p, const char *key);
/* Appends "[index]" and returns the length to restore. */
size_t tpl_path_index(struct tpl_path *p, size_t index);
void tpl_path_restore(struct tpl_path *p, size_t len);
/* A whole path from a format; one that does not fit is cut and ends in "...". */
void tpl_pathf(char out[TPL_PATH_MAX], const char *fmt, ...) FORGE_PRINTF(2, 3);

/* ------------------------------------------------------------- problems */

/* Records a problem (allocation failures set p->oom; beyond the cap only counted). */
void tpl_problem(struct forge_template_problems *p, const char *check, const char *path,
		 const char *fmt, ...) FORGE_PRINTF(4, 5);
void tpl_vproblem(struct forge_template_problems *p, const char *check, const char *path,
		  const char *fmt, va_list ap) FORGE_PRINTF(4, 0);
/* Whether some problem is recorded at path or below it. */
bool tpl_problem_at(const struct forge_template_problems *p, const char *path);
/* Moves every problem of from to the end of to (from is left empty). */
void tpl_problems_move(struct forge_template_problems *to, struct forge_template_problems *from);

/* ------------------------------------------------------------- messages */

/* Text from a template ends up on terminals and in logs: quoted, cut short,
 * anything but printable ASCII replaced. */
struct tpl_quoted {
	char s[72];
};
struct tpl_quoted tpl_quote(const char *s);
/* A JSON value for a message: strings quoted as above, the rest as compact JSON, cut short. */
struct tpl_quoted tpl_render(const json_t *v);
/* "an object", "a string", … */
const char *tpl_kind(const json_t *v);

/* ------------------------------------------------------------- values */

/* v as a C string when it is a JSON string without a NUL inside, else NULL. */
const char *tpl_str(const json_t *v);
/* The string member key of obj, or NULL (absent, not a string, obj not an object). */
const char *tpl_get_str(const json_t *obj, const char *key);

/* Checks s against a format the schema may name ("ipv4", "ipv4-cidr", …).
 * Returns true when it conforms; else false with why in msg (an unknown
 * format never conforms; schemas naming one are refused at load). */
bool tpl_format_check(const char *format, const char *s, char *msg, size_t msgsz);
bool tpl_format_known(const char *format);

/* The timeout of an evidence item of type ("command", …) that gives none. */
unsigned tpl_evidence_default_timeout(const char *type);

/* "default" or an IPv4 CIDR (host bits zero): the destination of a route. */
int tpl_parse_route_dst(const char *s, bool *is_default, struct in_addr *net, uint8_t *len,
			struct forge_err *err);

/* ------------------------------------------------------------- layers */

/* Layer 2: every semantic problem of doc (which may have failed layer 1:
 * values of the wrong shape are skipped here, layer 1 reported them). */
void tpl_semantic_check(const json_t *doc, struct forge_template_problems *p);

/* Which parts of the template the topology includes (all of them for a valid
 * template; the semantic checks grow it one part at a time). A NULL mask
 * means everything; a mask covers the first n entries of its list, later
 * entries are left out. */
struct tpl_topo_select {
	const bool *subnets; /* [index in spec.network.subnets] */
	const bool *uplinks; /* [same index]: the subnet's uplink_gateway */
	size_t n_subnets;    /* covered by both masks */
	bool deny_only;	     /* egress "deny" whatever the template says, no uplink_gateway */
	const bool *allow;   /* [index in spec.network.allowlist] */
	size_t n_allow;
	const bool *containers; /* [index in spec.assets.containers] */
	size_t n_containers;
	const uint32_t *networks; /* [container]: bit j = networks[j] */
	const bool *gateways;	  /* [container] */
};

/* The netns topology JSON of doc restricted to sel; entries whose values are
 * not of the right shape are left out. NULL on allocation failure. */
json_t *tpl_topology_build(const json_t *doc, const char *scenario,
			   const struct tpl_topo_select *sel);

#endif /* FORGE_TEMPLATES_INTERNAL_H */
