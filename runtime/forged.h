/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forged's private interfaces (runtime/daemon.c, scenario.c, journal.c,
 * recovery.c): the supervisor that owns every kernel object (DESIGN §1, §5).
 * One thread, one epoll loop; nothing a container controls ever blocks it.
 */
#ifndef FORGE_FORGED_H
#define FORGE_FORGED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "common/common.h"
#include "common/proto.h"
#include "runtime/runtime.h"

#define FORGED_SCENARIO_ID_LEN 12 /* [a-z0-9]{12}: netns names, link aliases */
#define FORGED_MAX_CONTAINERS  32
#define FORGED_LOG_LIMIT       (1024 * 1024) /* bytes kept per container log */
#define FORGED_UID_BASE	       200000	     /* host uid/gid of scenario slot 0 */
#define FORGED_UID_SPAN	       65536	     /* ids per scenario */

enum scenario_state {
	SC_PENDING = 0,
	SC_CREATING,
	SC_RUNNING,
	SC_SCORING,
	SC_COMPLETED,
	SC_FAILED,
	SC_TIMEOUT,
	SC_DESTROYED,
	SC_NSTATES,
};
const char *scenario_state_name(enum scenario_state s);
int scenario_state_parse(const char *name);

struct scenario_container {
	char name[64];
	char image_ref[512];   /* as the template names it */
	char image_digest[80]; /* the manifest digest it ran */
	bool learner_access;
	bool attacker; /* its execs count against the scenario's exploit budget */
	bool have_record;
	struct forge_container_record rec;
	struct forge_container *c; /* NULL when not started or gone */
	json_t *addresses;	   /* ["10.10.0.10/24", ...] */
	bool exited;		   /* its command ended */
	struct forge_exit_status st;
	struct forged_watch *w_exit; /* epoll registration (daemon.c) */
};

struct scenario {
	char id[FORGED_SCENARIO_ID_LEN + 1];
	char tenant[65], subject[129], track[33], plan[33], request_id[129];
	char tpl_name[64], tpl_version[32], tpl_hash[65];
	int retention_days;
	unsigned max_exploits, exploits; /* attacker_max_exploits, and used so far */
	enum scenario_state state;
	enum scenario_state final; /* while scoring: completed or timeout */
	time_t created_at, expires_at;
	int slot; /* host id range: FORGED_UID_BASE + slot * FORGED_UID_SPAN */
	bool hub_made;
	char hub_path[FORGE_PATH_MAX];
	struct forge_net *net; /* NULL after a restart: destroy by path */
	struct scenario_container *ctr; /* n_ctr of them (the template's), allocated */
	size_t n_ctr;
	json_t *score; /* {"value","passed","total"} once scored */
	char results_dir[FORGE_PATH_MAX];
	int timer_fd; /* the scenario's deadline, -1 */
	struct forged_watch *w_timer;
	struct scenario *next;
};

/* ---------------------------------------------------------------- the daemon */

struct forge_template_schema;
struct forge_policy;
struct client;
struct worker;
struct forged_watch;

struct forged_config {
	bool dev;		   /* FORGE_ENV is not "production" */
	unsigned max_live;	   /* host cap on live scenarios */
	uid_t api_uid;		   /* forge-api's uid, may connect (-1: none) */
	gid_t api_gid;		   /* its primary group */
	gid_t forge_gid;	   /* members may connect (-1: none) */
	char templates_dir[FORGE_PATH_MAX];
	char policy_dir[FORGE_PATH_MAX];
	char policy_pin[65];	   /* "" when not pinned */
	char netns_dir[FORGE_PATH_MAX];
	char cgroup_root[FORGE_PATH_MAX];
	unsigned char *sat_secret; /* NULL: only local root may spawn */
	size_t sat_secret_len;
};

/* Loads <etc>/forge.conf (or file), then the environment on top (FORGE_<KEY>),
 * then checks it: production refuses dev-only settings and missing secrets. */
int forged_config_load(const struct forge_paths *p, const char *file, struct forged_config *cfg,
		       struct forge_err *err);

/* Parsed templates, reused while the file's identity and mtime stay the same. */
struct forged_tpl {
	char name[33];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct forge_template *t;
};

struct forged {
	struct forge_paths paths;
	struct forged_tpl tpl_cache[16];
	struct forged_config cfg;
	struct forge_runtime *rt;
	struct forge_template_schema *schema;
	struct forge_policy *policy;
	int templates_fd;
	int own_netns_fd; /* forged's own network namespace: the host side of uplinks */
	struct scenario *scenarios;
	char paused[16][33];
	size_t n_paused;
	int epfd, sigfd, listen_fd;
	struct client *clients;
	struct worker *workers;
	bool stopping;
	/* counters for the metrics op */
	uint64_t spawns_ok, spawns_failed, spawns_denied, execs, destroys;
	double spawn_ms_sum;
};

struct spawn_args {
	const char *template_name;
	const char *tenant, *subject, *plan, *request_id, *scenario_id; /* id may be NULL */
	int retention_days;
	bool local; /* local root: no token */
};

/* Builds the scenario: template, policy, admission, images, network,
 * containers, journaled at every step. On failure everything made is torn
 * down, *code says which protocol error it is and *details (an array, or
 * NULL) carries a policy denial's reasons. */
int scenario_spawn(struct forged *d, const struct spawn_args *a, struct scenario **out,
		   enum forge_proto_code *code, json_t **details, struct forge_err *err);
/* Releases every kernel object s owns (containers, cgroups, network, image
 * pins), whatever state its build reached; s and its journal stay (a
 * completed scenario keeps its score until destroyed). */
int scenario_release(struct forged *d, struct scenario *s, struct forge_err *err);
/* scenario_release, then removes the journal and frees s (after unlinking it
 * from d->scenarios when it is there). */
int scenario_teardown(struct forged *d, struct scenario *s, struct forge_err *err);
struct scenario *scenario_find(struct forged *d, const char *id);
/* The template <name>.yaml of the template directory (name [a-z0-9-]{1,32},
 * never a path), parsed once and reused while the file stays the same; the
 * template is the cache's (not to be freed). *code: the protocol error. */
int forged_template(struct forged *d, const char *name, struct forge_template **t,
		    enum forge_proto_code *code, struct forge_err *err);
/* Scenarios that hold kernel objects (creating, running, scoring). */
size_t forged_live(const struct forged *d);
int scenario_set_state(struct forged *d, struct scenario *s, enum scenario_state st,
		       struct forge_err *err);
/* Re-adopts journaled scenarios and removes every object of this prefix that
 * no journal owns; reports what it did into removed. */
int forged_recover(struct forged *d, json_t *removed, struct forge_err *err);

/* Registers a running scenario's fds with the loop (container exits, output
 * pipes, the deadline timer); unregisters them. */
int forged_watch_scenario(struct forged *d, struct scenario *s, struct forge_err *err);
void forged_unwatch_scenario(struct forged *d, struct scenario *s);
/* Tells watchers (and the log) that s moved from state `from` to s->state. */
void forged_event(struct forged *d, const struct scenario *s, const char *from);

/* ---------------------------------------------------------------- the loop */

/* An exec or scoring job in a forked child, so that nothing a container does
 * (sleeping, flooding output) ever blocks the loop. The child's result is
 * JSON written to a pipe; {"error_code": N, "error": "..."} makes an error
 * reply. done (may be NULL) runs in the loop when the job ends, before the
 * reply is sent, and may add to the result. */
struct worker {
	pid_t pid;
	int fd;
	struct forged_watch *w;
	struct client *client; /* NULL once that client left */
	uint64_t id;
	char *buf;
	size_t len;
	bool overflow;
	void (*done)(struct forged *d, void *ctx, json_t *res);
	void *done_ctx;
	struct worker *next;
};
int forged_worker_start(struct forged *d, struct client *c, uint64_t id,
			json_t *(*fn)(void *ctx), void *ctx,
			void (*done)(struct forged *d, void *ctx, json_t *res), void *done_ctx,
			struct forge_err *err);
/* Scores s in a worker (runtime/evaluate.c): the template re-read and its
 * hash checked, every criterion's evidence collected, the results written and
 * signed; done gets the worker's result ({"results_dir","score",…} or
 * {"error_code","error"}) before c (may be NULL) gets it as the reply. */
int forged_evaluate_start(struct forged *d, struct scenario *s, struct client *c, uint64_t id,
			  void (*done)(struct forged *, void *, json_t *), struct forge_err *err);
int forged_run(struct forged *d, struct forge_err *err);
/* Sends msg (stolen) to c without blocking; a client that does not read is
 * dropped. */
int forged_reply(struct forged *d, struct client *c, json_t *msg);
void forged_client_watch(struct client *c, uint64_t id);
bool forged_client_local(const struct client *c);
/* runtime/ops.c: one handler per protocol op. */
void forged_dispatch(struct forged *d, struct client *c, const struct forge_proto_request *req);
/* Ends a running scenario's work (complete from c, or its deadline with c
 * NULL): state scoring, the evaluation in a worker, then its kernel objects
 * released and state `final` (failed when scoring failed). */
int forged_finish(struct forged *d, struct scenario *s, enum scenario_state final,
		  struct client *c, uint64_t id, struct forge_err *err);

/* Test-only crash switch: with FORGE_FAULT_INJECTION compiled in and
 * FORGED_CRASH_AT=<step> in the environment, forged SIGKILLs itself when it
 * reaches that step. */
void forged_crash_point(const char *step);

/* ---------------------------------------------------------------- journal */

/* <lib>/scenarios/<id>/journal.json, written atomically with fsync before the
 * next kernel object is created. */
int journal_write(const struct forge_paths *p, const struct scenario *s, struct forge_err *err);
/* Reads one journal into a fresh scenario (containers not adopted yet). */
int journal_read(const struct forge_paths *p, const char *id, struct scenario **out,
		 struct forge_err *err);
/* Removes the scenario's directory (journal and logs). */
int journal_remove(const struct forge_paths *p, const char *id, struct forge_err *err);
/* The scenario as the protocol shows it (docs/protocol.md). */
json_t *scenario_json(const struct scenario *s);
/* n containers with no fd open; NULL when out of memory. */
struct scenario_container *scenario_containers_new(size_t n);
void scenario_free(struct scenario *s);

#endif /* FORGE_FORGED_H */
