/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy — the policy engine (DESIGN §1, issue 5): YAML rule files, one
 * package per gate, evaluated against a JSON input document. Default deny.
 * The rule language and each gate's input document are in policy/README.md.
 *
 * Gates: "training" (template admission), "spawn" (tenant, roles, plan,
 * track), "quota" (concurrency, rates), "action" (what may be exec'd into
 * which container).
 *
 * A bundle is the set of rule files of one directory, each named
 * <gate>.yaml. Its hash is the sha256 of the canonical JSON of
 * {"<file name>": <parsed file>, …}: the same rule files always give the same
 * hash, whatever their comments or layout. A loaded bundle is immutable and
 * may be shared.
 */
#ifndef FORGE_POLICY_H
#define FORGE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/common.h"

#define FORGE_POLICY_ID_LEN   32 /* hex digits of a decision id */
#define FORGE_POLICY_GATE_MAX 15

struct forge_policy;

struct forge_policy_decision {
	char id[FORGE_POLICY_ID_LEN + 1]; /* random, fresh for every decision */
	char gate[FORGE_POLICY_GATE_MAX + 1];
	char bundle[65]; /* sha256 of the bundle that decided */
	bool allow;
	json_t *reasons; /* array of strings: every deny reason, in rule order */
	json_t *matched; /* array of strings: ids of the rules that matched, in rule order */
};

/* True for "training", "spawn", "quota" and "action". */
bool forge_policy_gate_known(const char *gate);

/*
 * Loads every *.yaml file of dir (other entries are ignored; each must be a
 * regular file named <gate>.yaml) and compiles it strictly: an unknown key
 * or op, a wrong type, a bad regex, a rule without id, a duplicate rule id,
 * a size over the limits of policy/README.md are -EINVAL, naming the file
 * and the JSON path of the offender ("policy: training.yaml:
 * rules[2](deny-egress).when.all[1].op: unknown op \"equals\""). A
 * directory without rule files is an error too.
 */
int forge_policy_load(const char *dir, struct forge_policy **out, struct forge_err *err);

/* The same from documents already parsed: files is {"<gate>.yaml": doc, …}
 * (copied; the caller keeps its reference). */
int forge_policy_from_json(const json_t *files, struct forge_policy **out, struct forge_err *err);

void forge_policy_free(struct forge_policy *p);

/* sha256 (64 lowercase hex digits) of the bundle. */
const char *forge_policy_bundle(const struct forge_policy *p);

/* 0 when pin (64 lowercase hex digits, as configured by the operator) is the
 * bundle's hash (compared in constant time); -EINVAL for a malformed pin,
 * -EPERM on a mismatch, with both hashes in the message. */
int forge_policy_check_pin(const struct forge_policy *p, const char *pin, struct forge_err *err);

/*
 * Decides gate for input (a JSON object). Every rule of the gate is
 * evaluated: the decision allows when at least one allow rule matched and no
 * deny rule did. Each matching deny rule adds its message (with {path}
 * placeholders filled from input) to reasons; when nothing allowed and no
 * deny rule gave a reason, one default reason names the gate. Fills *d
 * (release with forge_policy_decision_clear). An unknown gate or an input
 * that is not an object is -EINVAL; only -ENOMEM otherwise.
 */
int forge_policy_eval(const struct forge_policy *p, const char *gate, const json_t *input,
		      struct forge_policy_decision *d, struct forge_err *err);

void forge_policy_decision_clear(struct forge_policy_decision *d);

/* {"decision_id","gate","allow","reasons":[…],"matched":[…],"bundle"}, for
 * the log and the audit log; NULL when out of memory. */
json_t *forge_policy_decision_json(const struct forge_policy_decision *d);

/*
 * Runs the test cases of every *.yaml file of dir (format in
 * policy/README.md) against p. *results is an array of
 * {"file","name","pass":bool,"why"} in file-name then case order ("why" says
 * what differed; empty when the case passed). A malformed test file is
 * -EINVAL naming the file and case, and no results.
 */
int forge_policy_test_dir(const struct forge_policy *p, const char *dir, json_t **results,
			  struct forge_err *err);

#endif /* FORGE_POLICY_H */
