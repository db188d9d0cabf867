/* SPDX-License-Identifier: Apache-2.0 */
/*
 * templates — the scenario template DSL (DESIGN §5, issue 5): loading a
 * template (YAML, or JSON), checking it in two layers that collect every
 * problem with its path, its identity (name, version, sha256 of the canonical
 * form), the parsed model the supervisor and the scorer read, and the network
 * topology it declares in the form netns/ accepts.
 *
 * Layer 1 is templates/schema.json, a JSON Schema (draft 2020-12 subset, see
 * templates/README.md) checked by a small validator here; layer 2 is the
 * semantic checks a schema cannot say (references, duplicates, addressing —
 * the addressing through netns' own forge_topology_validate). A problem reads
 * "spec.assets.containers[1].networks[0]: unknown subnet \"dmz\"".
 *
 * Conventions as in common.h: 0 or -errno, *err names what failed, nothing
 * prints. A template that is not valid is -EINVAL with every problem in
 * *problems (when given) and the first one in *err.
 */
#ifndef FORGE_TEMPLATE_H
#define FORGE_TEMPLATE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

#define FORGE_TEMPLATE_API_VERSION  "frostgate.forge/v1"
#define FORGE_TEMPLATE_KIND	    "ScenarioTemplate"
#define FORGE_TEMPLATE_SCHEMA_FILE  "schema.json"
#define FORGE_TEMPLATE_MAX_BYTES    (256 * 1024) /* a template file */
#define FORGE_TEMPLATE_MAX_PROBLEMS 200		 /* kept; more are only counted */
/* Sum of every evidence item's timeout: scoring a template stays bounded. */
#define FORGE_TEMPLATE_SCORING_BUDGET_S 600

/* ------------------------------------------------------------- problems */

struct forge_template_problem {
	char *path;	   /* "spec.limits.cpu"; "" for the document as a whole */
	char *message;	   /* "expected a number, got a string" */
	const char *check; /* what found it: a schema keyword ("required", "pattern", …),
			      "semantic", "topology" or "load" */
};

struct forge_template_problems {
	struct forge_template_problem *items; /* in the order found */
	size_t n, cap;
	size_t dropped; /* found beyond FORGE_TEMPLATE_MAX_PROBLEMS, not kept */
	bool oom;	/* an allocation failed while recording one */
};

/* Frees the items and zeroes *p (which may then be reused). */
void forge_template_problems_free(struct forge_template_problems *p);

/* ------------------------------------------------------------- schema */

struct forge_template_schema;

/* Loads and checks a schema (JSON) beneath dirfd: only the keywords this
 * validator implements are accepted (a misspelt keyword must not silently
 * weaken the checks), every $ref resolves, every pattern compiles, every
 * format is known. Normally dirfd is the template directory and path
 * FORGE_TEMPLATE_SCHEMA_FILE. */
int forge_template_schema_load(int dirfd, const char *path, struct forge_template_schema **out,
			       struct forge_err *err);
/* The same from an open file (one an operator names); name is for messages. */
int forge_template_schema_load_fd(int fd, const char *name, struct forge_template_schema **out,
				  struct forge_err *err);
/* The same from a JSON value (borrowed; the schema keeps its own copy). */
int forge_template_schema_from_json(const json_t *schema, struct forge_template_schema **out,
				    struct forge_err *err);
void forge_template_schema_free(struct forge_template_schema *s);

/* Layer 1 alone: appends every problem of doc against the schema to *p.
 * Returns 0 when doc is valid, -EINVAL when not, -ENOMEM. */
int forge_template_schema_check(const struct forge_template_schema *s, const json_t *doc,
				struct forge_template_problems *p);

/* ------------------------------------------------------------- the model */

/* Strings (const char *) point into t->doc and live as long as the template. */

struct forge_tpl_resources {
	double cpu;	    /* CPUs (0.5 = half a CPU) */
	uint32_t memory_mb; /* MiB */
	uint32_t pids;
};

struct forge_tpl_limits {
	struct forge_tpl_resources total; /* the whole scenario (its parent cgroup) */
	uint32_t attacker_max_exploits;
	uint32_t timeout_minutes;
};

enum forge_tpl_role {
	FORGE_ROLE_NONE = 0, /* not given */
	FORGE_ROLE_LEARNER,
	FORGE_ROLE_ROUTER,
	FORGE_ROLE_TARGET,
	FORGE_ROLE_ATTACKER, /* its exploit attempts count against attacker_max_exploits */
	FORGE_ROLE_SERVICE,
};

struct forge_tpl_network {
	const char *subnet;
	bool has_ip; /* else the address is automatic (netns assigns it) */
	struct in_addr ip;
};

struct forge_tpl_container {
	const char *name;  /* [a-z][a-z0-9_]{0,30} */
	const char *image; /* "name:tag" or "name@sha256:<64 hex>" */
	enum forge_tpl_role role;
	bool read_only;	     /* default true */
	bool learner_access; /* the learner may exec into it; default false */
	bool forwarding;     /* IPv4 forwarding (routers); default false */
	char **env;	     /* NULL-terminated "KEY=value", keys sorted; never NULL */
	size_t n_env;
	struct forge_tpl_network *networks; /* eth0, eth1, … in this order */
	size_t n_networks;
	bool has_gateway;
	struct in_addr gateway;
	uint64_t caps;	   /* capability bounding set, bit = capability number */
	const char **argv; /* NULL-terminated, or NULL: the image's own command */
	size_t argc;
	struct forge_tpl_resources limits; /* its own, else the scenario's */
};

enum forge_evidence_type {
	FORGE_EVIDENCE_COMMAND = 0,
	FORGE_EVIDENCE_FILE,
	FORGE_EVIDENCE_NETWORK,
	FORGE_EVIDENCE_STATE,
};

/* Default timeout_seconds per type (command, file, network, state) and output bound. */
#define FORGE_EVIDENCE_TIMEOUT_COMMAND 10
#define FORGE_EVIDENCE_TIMEOUT_FILE    5
#define FORGE_EVIDENCE_TIMEOUT_NETWORK 3
#define FORGE_EVIDENCE_TIMEOUT_STATE   5
#define FORGE_EVIDENCE_OUTPUT_DEFAULT  (64 * 1024)

/* Expectations on one output stream; NULL members are not checked. */
struct forge_tpl_text_expect {
	const char *contains; /* substring */
	const char *equals;   /* the whole stream, byte for byte */
	const char *matches;  /* POSIX extended regex (regcomp REG_EXTENDED), unanchored */
};

struct forge_tpl_command {
	const char **argv; /* NULL-terminated; argv[0] absolute, never looked up in PATH */
	size_t argc;
	bool has_exit_code;
	int exit_code; /* 0..255 */
	struct forge_tpl_text_expect out, err;
};

struct forge_tpl_file {
	const char *path; /* absolute, inside the container */
	bool has_exists;
	bool exists;
	const char *contains;
	bool has_mode;
	mode_t mode;	    /* permission bits, e.g. 0644 */
	const char *sha256; /* 64 lowercase hex of the content, or NULL */
};

struct forge_tpl_probe {
	struct in_addr ip;
	uint16_t port;
	uint8_t proto;	  /* IPPROTO_TCP */
	bool expect_open; /* open: a connection is accepted within the timeout;
			     closed: it is not (refused, unreachable or timed out) */
};

enum forge_state_kind {
	FORGE_STATE_RUNNING = 0, /* running: true | false */
	FORGE_STATE_EXITED,	 /* exited: {code: N} */
	FORGE_STATE_ROUTE,	 /* route: {dst: CIDR | default, via: IP?, dev: ethN?} */
	FORGE_STATE_INTERFACE_UP,
	FORGE_STATE_ADDRESS, /* address: "10.10.0.25/24" configured on some interface */
};

struct forge_tpl_state {
	enum forge_state_kind kind;
	bool running;  /* RUNNING */
	int exit_code; /* EXITED */
	struct {       /* ROUTE */
		bool is_default;
		struct in_addr dst; /* 0.0.0.0/0 when is_default */
		uint8_t dst_len;
		bool has_via;
		struct in_addr via;
		const char *dev; /* or NULL */
	} route;
	const char *interface; /* INTERFACE_UP: "eth0", "lo" */
	struct {	       /* ADDRESS */
		struct in_addr addr;
		uint8_t prefix_len;
	} address;
};

struct forge_tpl_evidence {
	enum forge_evidence_type type;
	/* command, file, state: the container it looks at; network: the
	 * container whose network namespace the probe connects from. */
	const char *container;
	uint32_t timeout_seconds;  /* 1..300; the per-type default when not given */
	uint32_t max_output_bytes; /* per captured stream or file read; 1..1 MiB */
	union {
		struct forge_tpl_command command;
		struct forge_tpl_file file;
		struct forge_tpl_probe network;
		struct forge_tpl_state state;
	} u;
};

struct forge_tpl_criterion {
	const char *id; /* [a-z][a-z0-9_]{0,62}, unique */
	const char *description;
	uint32_t weight;		     /* >= 1 */
	struct forge_tpl_evidence *evidence; /* all must pass */
	size_t n_evidence;
};

struct forge_tpl_subnet {
	const char *name;
	const char *cidr;	    /* as written, e.g. "10.10.0.0/24" */
	const char *uplink_gateway; /* egress allowlist only: the hub's address here, or NULL */
};

enum forge_tpl_egress {
	FORGE_TPL_EGRESS_DENY = 0,
	FORGE_TPL_EGRESS_ALLOWLIST, /* spec.network.allowlist in t->doc */
};

struct forge_template {
	json_t *doc;	 /* the document as loaded, owned: the policy gate's input. Never modify. */
	char sha256[65]; /* of forge_json_canonical(doc) */
	const char *name; /* metadata.name, [a-z][a-z0-9-]{0,31} */
	const char *version;
	const char *title;
	const char *description;
	const char *track; /* from the class:<track> label */
	const char *tier;  /* from the tier:<level> label */
	struct forge_tpl_limits limits;
	enum forge_tpl_egress egress;
	struct forge_tpl_subnet *subnets;
	size_t n_subnets;
	struct forge_tpl_container *containers;
	size_t n_containers;
	struct forge_tpl_criterion *criteria; /* in template order: scoring order */
	size_t n_criteria;
	uint32_t total_weight;
};

/*
 * Checks doc (borrowed; the template keeps its own copy) in both layers and,
 * when valid, builds *out. name is for messages ("netplus.yaml"). -EINVAL
 * when invalid: every problem appended to *problems (may be NULL), the first
 * in *err. -ENOMEM and the like for failures that are not the template's.
 */
int forge_template_from_json(const struct forge_template_schema *s, const json_t *doc,
			     const char *name, struct forge_template **out,
			     struct forge_template_problems *problems, struct forge_err *err);
/* YAML (or JSON) text; a syntax error is one problem with check "load" and
 * path "", its message naming the line and column. */
int forge_template_parse(const struct forge_template_schema *s, const char *buf, size_t len,
			 const char *name, struct forge_template **out,
			 struct forge_template_problems *problems, struct forge_err *err);
/* Reads fd to its end (at most FORGE_TEMPLATE_MAX_BYTES) and parses it. */
int forge_template_load_fd(const struct forge_template_schema *s, int fd, const char *name,
			   struct forge_template **out, struct forge_template_problems *problems,
			   struct forge_err *err);
/* path confined beneath dirfd (the template directory). */
int forge_template_load_file(const struct forge_template_schema *s, int dirfd, const char *path,
			     struct forge_template **out, struct forge_template_problems *problems,
			     struct forge_err *err);
void forge_template_free(struct forge_template *t);

/* The container called name, or NULL. */
const struct forge_tpl_container *forge_template_container(const struct forge_template *t,
							   const char *name);

/*
 * The scenario's network in the JSON form forge_topology_from_json accepts
 * (netns/netns.h): {"scenario", "egress", "subnets", "containers": [{"name",
 * "forwarding", "gateway", "networks": [{"subnet", "ip"}]}]}, containers in
 * template order. A valid template's topology passes forge_topology_validate
 * for any valid scenario id and prefix. New reference in *out.
 */
int forge_template_topology_json(const struct forge_template *t, const char *scenario_id,
				 json_t **out, struct forge_err *err);

#endif /* FORGE_TEMPLATE_H */
