/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container seccomp filter: parses runtime/seccomp.profile (its format is
 * documented at the top of that file), compiles it once with libseccomp into
 * classic BPF, and installs that BPF with a raw seccomp(2) in each container.
 *
 * libseccomp semantics this relies on (checked by tests/unit/test_seccomp.c):
 * - an unconditional rule on a system call silently absorbs every
 *   conditional rule of that call, in either order and whatever the actions,
 *   so "allow ioctl" next to "errno EPERM ioctl arg1 == TIOCSTI" would allow
 *   TIOCSTI. The profile's unconditional-plus-conditional form is therefore
 *   compiled into the exact complement of the conditional values instead;
 * - which of two overlapping conditional rules with different actions wins
 *   is an internal ordering detail, so the parser rejects any such pair that
 *   it cannot prove disjoint;
 * - one rule may compare an argument only once (-EINVAL otherwise);
 * - a rule whose action equals the default is refused (-EACCES): it is
 *   redundant and skipped (clone3's ENOSYS, every deny in log mode).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "runtime/internal.h"

#define PROFILE	      "seccomp.profile"
#define MAX_ARGS      6
#define NAME_MAX_LEN  64
#define MASK_ALL_BITS UINT64_MAX

struct sc_cond {
	unsigned arg;
	enum scmp_compare op;
	uint64_t mask; /* MASKED_EQ only; MASK_ALL_BITS for EQ */
	uint64_t value;
};

struct sc_rule {
	unsigned line;
	int nr; /* native system call number */
	char name[NAME_MAX_LEN];
	bool allow;
	int errnum; /* when !allow */
	unsigned ncond;
	struct sc_cond cond[MAX_ARGS];
};

struct sc_profile {
	bool has_default;
	int default_errno;
	struct sc_rule *rules;
	size_t n, cap;
};

static const struct {
	const char *name;
	int value;
} errno_names[] = {
    {"EPERM", EPERM},
    {"ENOENT", ENOENT},
    {"EACCES", EACCES},
    {"EINVAL", EINVAL},
    {"ENOTTY", ENOTTY},
    {"ENOSYS", ENOSYS},
    {"EOPNOTSUPP", EOPNOTSUPP},
    {"EPROTONOSUPPORT", EPROTONOSUPPORT},
    {"EAFNOSUPPORT", EAFNOSUPPORT},
};

/* ------------------------------------------------------------- parsing */

static int parse_errno(const char *tok, unsigned line, int *out, struct forge_err *err)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++) {
		if (strcmp(tok, errno_names[i].name) == 0) {
			*out = errno_names[i].value;
			return 0;
		}
	}
	return forge_err_set(err, -EINVAL, PROFILE ":%u: unknown errno name \"%s\"", line, tok);
}

/* Decimal or 0x-hex, the whole token, no sign, no octal, no overflow. */
static int parse_number(const char *tok, unsigned line, uint64_t *out, struct forge_err *err)
{
	const char *digits = tok;
	int base = 10;
	char *end;

	if (tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X')) {
		digits = tok + 2;
		base = 16;
	} else if (tok[0] == '0' && tok[1] != '\0') {
		goto bad;
	}
	if (*digits == '\0')
		goto bad;
	for (const char *c = digits; *c; c++) {
		if (base == 16 ? !strchr("0123456789abcdefABCDEF", *c) : (*c < '0' || *c > '9'))
			goto bad;
	}
	errno = 0;
	*out = strtoull(digits, &end, base);
	if (errno != 0 || *end != '\0')
		goto bad;
	return 0;
bad:
	return forge_err_set(err, -EINVAL, PROFILE ":%u: bad number \"%s\"", line, tok);
}

static bool is_arg_token(const char *tok)
{
	return strncmp(tok, "arg", 3) == 0;
}

/* argN OP VALUE | argN & MASK == VALUE, starting at tok[*i]. */
static int parse_cond(char **tok, size_t ntok, size_t *i, unsigned line, struct sc_rule *r,
		      struct forge_err *err)
{
	static const struct {
		const char *op;
		enum scmp_compare cmp;
	} ops[] = {
	    {"==", SCMP_CMP_EQ}, {"!=", SCMP_CMP_NE}, {"<", SCMP_CMP_LT},
	    {"<=", SCMP_CMP_LE}, {">", SCMP_CMP_GT},  {">=", SCMP_CMP_GE},
	};
	const char *argtok = tok[*i];
	struct sc_cond c = {.mask = MASK_ALL_BITS};
	size_t k;
	int rc;

	if (argtok[3] < '0' || argtok[3] >= '0' + MAX_ARGS || argtok[4] != '\0')
		return forge_err_set(err, -EINVAL,
				     PROFILE ":%u: bad condition: \"%s\" is not arg0..arg5", line,
				     argtok);
	c.arg = (unsigned)(argtok[3] - '0');
	for (unsigned j = 0; j < r->ncond; j++) {
		if (r->cond[j].arg == c.arg)
			return forge_err_set(err, -EINVAL,
					     PROFILE
					     ":%u: bad condition: %s compared twice in one rule "
					     "(libseccomp cannot express it)",
					     line, argtok);
	}
	if (*i + 2 >= ntok)
		goto incomplete;
	if (strcmp(tok[*i + 1], "&") == 0) {
		if (*i + 4 >= ntok || strcmp(tok[*i + 3], "==") != 0)
			goto incomplete;
		rc = parse_number(tok[*i + 2], line, &c.mask, err);
		if (rc < 0)
			return rc;
		rc = parse_number(tok[*i + 4], line, &c.value, err);
		if (rc < 0)
			return rc;
		if (c.mask == 0)
			return forge_err_set(err, -EINVAL, PROFILE ":%u: bad condition: zero mask",
					     line);
		if (c.value & ~c.mask)
			return forge_err_set(err, -EINVAL,
					     PROFILE ":%u: bad condition: value 0x%" PRIx64
						     " has bits outside mask 0x%" PRIx64
						     " and can never match",
					     line, c.value, c.mask);
		c.op = SCMP_CMP_MASKED_EQ;
		*i += 5;
	} else {
		for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
			if (strcmp(tok[*i + 1], ops[k].op) == 0)
				break;
		}
		if (k == sizeof(ops) / sizeof(ops[0]))
			return forge_err_set(err, -EINVAL,
					     PROFILE ":%u: bad condition: unknown operator \"%s\"",
					     line, tok[*i + 1]);
		rc = parse_number(tok[*i + 2], line, &c.value, err);
		if (rc < 0)
			return rc;
		c.op = ops[k].cmp;
		*i += 3;
	}
	r->cond[r->ncond++] = c;
	return 0;
incomplete:
	return forge_err_set(err, -EINVAL,
			     PROFILE ":%u: bad condition after %s: expected \"%s OP VALUE\" or "
				     "\"%s & MASK == VALUE\"",
			     line, argtok, argtok, argtok);
}

static int push_rule(struct sc_profile *p, const struct sc_rule *r, struct forge_err *err)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct sc_rule *grown = realloc(p->rules, cap * sizeof(*grown));

		if (!grown)
			return forge_err_set(err, -ENOMEM, PROFILE ": out of memory");
		p->rules = grown;
		p->cap = cap;
	}
	p->rules[p->n++] = *r;
	return 0;
}

/* A rule statement: tok[0] is "allow" or "errno". */
static int parse_rule(struct sc_profile *p, char **tok, size_t ntok, unsigned line,
		      struct forge_err *err)
{
	struct sc_rule proto = {.line = line, .allow = strcmp(tok[0], "allow") == 0};
	size_t first = 1, names_end, i;
	int rc;

	if (!p->has_default)
		return forge_err_set(err, -EINVAL,
				     PROFILE ":%u: rule before the \"default\" statement", line);
	if (!proto.allow) {
		if (ntok < 2)
			return forge_err_set(err, -EINVAL, PROFILE ":%u: errno needs an errno name",
					     line);
		rc = parse_errno(tok[1], line, &proto.errnum, err);
		if (rc < 0)
			return rc;
		first = 2;
	}
	for (names_end = first; names_end < ntok && !is_arg_token(tok[names_end]); names_end++)
		;
	if (names_end == first)
		return forge_err_set(err, -EINVAL, PROFILE ":%u: %s names no system call", line,
				     tok[0]);
	if (names_end < ntok && names_end - first > 1)
		return forge_err_set(err, -EINVAL,
				     PROFILE ":%u: a rule with conditions names exactly one "
					     "system call",
				     line);
	for (i = names_end; i < ntok;) {
		if (!is_arg_token(tok[i]))
			return forge_err_set(err, -EINVAL,
					     PROFILE ":%u: bad condition: unexpected \"%s\"", line,
					     tok[i]);
		rc = parse_cond(tok, ntok, &i, line, &proto, err);
		if (rc < 0)
			return rc;
	}
	for (i = first; i < names_end; i++) {
		struct sc_rule r = proto;
		int nr = seccomp_syscall_resolve_name(tok[i]);

		if (nr == __NR_SCMP_ERROR || strlen(tok[i]) >= sizeof(r.name))
			return forge_err_set(
			    err, -EINVAL, PROFILE ":%u: unknown system call \"%s\"", line, tok[i]);
		if (nr < 0)
			continue; /* exists only on other architectures */
		r.nr = nr;
		snprintf(r.name, sizeof(r.name), "%s", tok[i]);
		rc = push_rule(p, &r, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_line(struct sc_profile *p, char *s, unsigned line, struct forge_err *err)
{
	char *tok[512];
	size_t ntok = 0;
	char *hash = strchr(s, '#');
	char *save = NULL;

	if (hash)
		*hash = '\0';
	for (char *t = strtok_r(s, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (ntok == sizeof(tok) / sizeof(tok[0]))
			return forge_err_set(err, -EINVAL,
					     PROFILE ":%u: too many words on one line", line);
		tok[ntok++] = t;
	}
	if (ntok == 0)
		return 0;
	if (strcmp(tok[0], "default") == 0) {
		if (ntok != 2)
			return forge_err_set(err, -EINVAL,
					     PROFILE ":%u: expected \"default ERRNO\"", line);
		if (p->has_default)
			return forge_err_set(err, -EINVAL,
					     PROFILE ":%u: second \"default\" statement", line);
		p->has_default = true;
		return parse_errno(tok[1], line, &p->default_errno, err);
	}
	if (strcmp(tok[0], "allow") == 0 || strcmp(tok[0], "errno") == 0)
		return parse_rule(p, tok, ntok, line, err);
	return forge_err_set(err, -EINVAL, PROFILE ":%u: unknown keyword \"%s\"", line, tok[0]);
}

static int parse_profile(const char *text, size_t len, struct sc_profile *p, struct forge_err *err)
{
	unsigned line = 0;
	size_t pos = 0;
	char *buf = NULL;
	int rc = 0;

	while (pos < len && rc == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - pos;

		line++;
		if (memchr(text + pos, '\0', n))
			return forge_err_set(err, -EINVAL, PROFILE ":%u: NUL byte", line);
		buf = malloc(n + 1);
		if (!buf)
			return forge_err_set(err, -ENOMEM, PROFILE ": out of memory");
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		rc = parse_line(p, buf, line, err);
		free(buf);
		pos = end + 1;
	}
	if (rc == 0 && !p->has_default)
		rc = forge_err_set(err, -EINVAL, PROFILE ": no \"default\" statement");
	return rc;
}

/* ------------------------------------------------------------- checking */

static bool same_action(const struct sc_rule *a, const struct sc_rule *b)
{
	return a->allow == b->allow && (a->allow || a->errnum == b->errnum);
}

static const struct sc_cond *cond_on(const struct sc_rule *r, unsigned arg)
{
	for (unsigned i = 0; i < r->ncond; i++) {
		if (r->cond[i].arg == arg)
			return &r->cond[i];
	}
	return NULL;
}

static bool is_equality(const struct sc_cond *c)
{
	return c->op == SCMP_CMP_EQ || c->op == SCMP_CMP_MASKED_EQ;
}

/* True when no call can match both: some argument is pinned by both to
 * values that differ on a bit both masks look at, or is required to equal a
 * value by one and to differ from it by the other. */
static bool provably_disjoint(const struct sc_rule *a, const struct sc_rule *b)
{
	for (unsigned i = 0; i < a->ncond; i++) {
		const struct sc_cond *x = &a->cond[i];
		const struct sc_cond *y = cond_on(b, x->arg);

		if (!y)
			continue;
		if (is_equality(x) && is_equality(y) &&
		    (x->mask & y->mask & (x->value ^ y->value)) != 0)
			return true;
		if (x->value == y->value && ((x->op == SCMP_CMP_EQ && y->op == SCMP_CMP_NE) ||
					     (x->op == SCMP_CMP_NE && y->op == SCMP_CMP_EQ)))
			return true;
	}
	return false;
}

static bool same_conditions(const struct sc_rule *a, const struct sc_rule *b)
{
	if (a->ncond != b->ncond)
		return false;
	for (unsigned i = 0; i < a->ncond; i++) {
		const struct sc_cond *x = &a->cond[i];
		const struct sc_cond *y = cond_on(b, x->arg);

		if (!y || x->op != y->op || x->mask != y->mask || x->value != y->value)
			return false;
	}
	return true;
}

static int cmp_rule_nr(const void *pa, const void *pb)
{
	const struct sc_rule *a = *(const struct sc_rule *const *)pa;
	const struct sc_rule *b = *(const struct sc_rule *const *)pb;

	if (a->nr != b->nr)
		return a->nr < b->nr ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

/* The rules of one system call, rules[0..n), sorted by line. */
static int check_syscall(struct sc_rule *const *rules, size_t n, struct forge_err *err)
{
	const struct sc_rule *otherwise = NULL, *first_cond = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct sc_rule *r = rules[i];

		if (r->ncond == 0) {
			if (otherwise)
				return forge_err_set(err, -EINVAL,
						     PROFILE
						     ":%u: system call \"%s\" already has an "
						     "unconditional rule at line %u",
						     r->line, r->name, otherwise->line);
			otherwise = r;
			continue;
		}
		if (!first_cond)
			first_cond = r;
		for (size_t j = 0; j < i; j++) {
			const struct sc_rule *q = rules[j];

			if (q->ncond == 0)
				continue;
			if (same_action(q, r) && same_conditions(q, r))
				return forge_err_set(
				    err, -EINVAL, PROFILE ":%u: duplicate of the rule at line %u",
				    r->line, q->line);
			if (!same_action(q, r) && !provably_disjoint(q, r))
				return forge_err_set(err, -EINVAL,
						     PROFILE
						     ":%u: rule for \"%s\" may match the same "
						     "calls as the rule at line %u, with a "
						     "different action",
						     r->line, r->name, q->line);
		}
	}
	if (!otherwise || !first_cond)
		return 0;
	/* The otherwise form: every conditional rule pins one argument. */
	for (size_t i = 0; i < n; i++) {
		const struct sc_rule *r = rules[i];

		if (r == otherwise)
			continue;
		if (r->ncond != 1 || !is_equality(&r->cond[0]) ||
		    r->cond[0].arg != first_cond->cond[0].arg ||
		    r->cond[0].mask != first_cond->cond[0].mask)
			return forge_err_set(
			    err, -EINVAL,
			    PROFILE ":%u: \"%s\" also has an unconditional rule (line "
				    "%u): its conditional rules must each be one "
				    "\"arg%u%s == VALUE\"",
			    r->line, r->name, otherwise->line, first_cond->cond[0].arg,
			    first_cond->cond[0].op == SCMP_CMP_MASKED_EQ ? " & MASK" : "");
		if (same_action(r, otherwise))
			return forge_err_set(err, -EINVAL,
					     PROFILE
					     ":%u: rule for \"%s\" has the same action as its "
					     "unconditional rule at line %u",
					     r->line, r->name, otherwise->line);
	}
	return 0;
}

/* ------------------------------------------------------------- compiling */

struct sc_build {
	scmp_filter_ctx ctx;
	enum forge_seccomp_mode mode;
	uint32_t def;
};

static uint32_t rule_action(const struct sc_build *b, const struct sc_rule *r)
{
	if (r->allow)
		return SCMP_ACT_ALLOW;
	return b->mode == FORGE_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_ERRNO((uint32_t)r->errnum);
}

static int add_rule(struct sc_build *b, uint32_t action, const struct sc_rule *r, unsigned ncmp,
		    const struct scmp_arg_cmp *cmp, struct forge_err *err)
{
	int rc;

	if (action == b->def)
		return 0; /* redundant, and libseccomp refuses it */
	rc = seccomp_rule_add_exact_array(b->ctx, action, r->nr, ncmp, cmp);
	if (rc < 0)
		return forge_err_errno(err, -rc,
				       PROFILE ":%u: libseccomp refused the rule for \"%s\"",
				       r->line, r->name);
	return 0;
}

/*
 * Adds rules matching exactly the argument values v with (v & mask) not in
 * vals[0..n): masked equalities ("cubes") that fix the bits decided so far
 * (fixed_mask/fixed_val) plus one more. At each step it prefers a bit on which
 * all remaining values agree (one cube for the other side), else splits on
 * the highest undecided bit. vals is reordered in place.
 */
static int add_complement(struct sc_build *b, uint32_t action, const struct sc_rule *r,
			  unsigned arg, uint64_t mask, uint64_t *vals, size_t n,
			  uint64_t fixed_mask, uint64_t fixed_val, struct forge_err *err)
{
	uint64_t undecided = mask & ~fixed_mask, bit = 0;
	size_t ones = 0;
	int rc;

	if (n == 0) {
		struct scmp_arg_cmp cmp = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, fixed_mask, fixed_val);

		return add_rule(b, action, r, 1, &cmp, err);
	}
	if (undecided == 0)
		return 0; /* exactly one of the excluded values */
	for (int i = 63; i >= 0 && !bit; i--) {
		uint64_t cand = UINT64_C(1) << i;
		size_t set = 0;

		if (!(undecided & cand))
			continue;
		for (size_t k = 0; k < n; k++)
			set += (vals[k] & cand) != 0;
		if (set == 0 || set == n)
			bit = cand;
	}
	if (!bit)
		bit = UINT64_C(1) << (63 - __builtin_clzll(undecided));
	/* partition: values with the bit set first */
	for (size_t k = 0; k < n; k++) {
		if (vals[k] & bit) {
			uint64_t t = vals[ones];

			vals[ones++] = vals[k];
			vals[k] = t;
		}
	}
	rc = add_complement(b, action, r, arg, mask, vals, ones, fixed_mask | bit, fixed_val | bit,
			    err);
	if (rc < 0)
		return rc;
	return add_complement(b, action, r, arg, mask, vals + ones, n - ones, fixed_mask | bit,
			      fixed_val, err);
}

static int compile_syscall(struct sc_build *b, struct sc_rule *const *rules, size_t n,
			   struct forge_err *err)
{
	const struct sc_rule *otherwise = NULL, *cond = NULL;
	uint64_t *vals;
	size_t nvals = 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct sc_rule *r = rules[i];
		struct scmp_arg_cmp cmp[MAX_ARGS];

		if (r->ncond == 0) {
			otherwise = r;
			continue;
		}
		cond = r;
		for (unsigned k = 0; k < r->ncond; k++) {
			const struct sc_cond *c = &r->cond[k];

			cmp[k] = c->op == SCMP_CMP_MASKED_EQ
				     ? SCMP_CMP(c->arg, c->op, c->mask, c->value)
				     : SCMP_CMP(c->arg, c->op, c->value);
		}
		rc = add_rule(b, rule_action(b, r), r, r->ncond, cmp, err);
	}
	if (rc < 0 || !otherwise)
		return rc;
	if (!cond)
		return add_rule(b, rule_action(b, otherwise), otherwise, 0, NULL, err);
	if (rule_action(b, otherwise) == b->def)
		return 0;
	/* check_syscall made every conditional rule one equality on one
	 * argument under one mask: the otherwise is the complement. */
	vals = calloc(n, sizeof(*vals));
	if (!vals)
		return forge_err_set(err, -ENOMEM, PROFILE ": out of memory");
	for (size_t i = 0; i < n; i++) {
		if (rules[i] != otherwise)
			vals[nvals++] = rules[i]->cond[0].value;
	}
	rc = add_complement(b, rule_action(b, otherwise), otherwise, cond->cond[0].arg,
			    cond->cond[0].mask, vals, nvals, 0, 0, err);
	free(vals);
	return rc;
}

/* libseccomp 2.5 can only export to a file descriptor: a memfd, read back. */
static int export_bpf(scmp_filter_ctx ctx, struct forge_seccomp_prog *out, struct forge_err *err)
{
	struct stat st;
	size_t size, done = 0;
	int fd, rc;

	fd = memfd_create("forge-seccomp-bpf", MFD_CLOEXEC);
	if (fd < 0)
		return forge_err_errno(err, errno, PROFILE ": memfd_create");
	rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0) {
		forge_err_errno(err, -rc, PROFILE ": exporting the BPF");
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = forge_err_errno(err, errno, PROFILE ": fstat of the exported BPF");
		goto out;
	}
	size = (size_t)st.st_size;
	if (size == 0 || size % sizeof(struct sock_filter) != 0 ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		rc = forge_err_set(err, -E2BIG,
				   PROFILE ": compiled filter has a bad size (%zu bytes)", size);
		goto out;
	}
	out->filter = malloc(size);
	if (!out->filter) {
		rc = forge_err_set(err, -ENOMEM, PROFILE ": out of memory");
		goto out;
	}
	while (done < size) {
		ssize_t got = pread(fd, (char *)out->filter + done, size - done, (off_t)done);

		if (got <= 0) {
			rc = got < 0 ? forge_err_errno(err, errno, PROFILE ": reading the BPF back")
				     : forge_err_set(err, -EIO, PROFILE ": short read of the BPF");
			free(out->filter);
			out->filter = NULL;
			goto out;
		}
		done += (size_t)got;
	}
	out->len = (unsigned short)(size / sizeof(struct sock_filter));
	rc = 0;
out:
	close(fd);
	return rc;
}

static int build_filter(const struct sc_profile *p, struct sc_rule **sorted,
			enum forge_seccomp_mode mode, struct forge_seccomp_prog *out,
			struct forge_err *err)
{
	struct sc_build b = {.mode = mode};
	int rc;

	b.def =
	    mode == FORGE_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_ERRNO((uint32_t)p->default_errno);
	b.ctx = seccomp_init(b.def);
	if (!b.ctx)
		return forge_err_set(err, -EINVAL,
				     PROFILE ": seccomp_init failed (default action not supported "
					     "by this kernel, or out of memory)");
	/* Other ABIs (i386 int 0x80, x32) are not in the filter: kill. */
	rc = seccomp_attr_set(b.ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc < 0) {
		forge_err_errno(err, -rc, PROFILE ": kill-process action for other ABIs");
		goto out;
	}
	/* A binary search over system call numbers instead of a linear scan. */
	rc = seccomp_attr_set(b.ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc < 0) {
		forge_err_errno(err, -rc, PROFILE ": binary-tree optimisation");
		goto out;
	}
	for (size_t i = 0, j; i < p->n; i = j) {
		for (j = i + 1; j < p->n && sorted[j]->nr == sorted[i]->nr; j++)
			;
		rc = compile_syscall(&b, sorted + i, j - i, err);
		if (rc < 0)
			goto out;
		for (size_t k = i; k < j; k++) {
			if (sorted[k]->allow) {
				out->allowed++;
				break;
			}
		}
		for (size_t k = i; k < j; k++) {
			if (!sorted[k]->allow) {
				out->denied++;
				break;
			}
		}
	}
	rc = export_bpf(b.ctx, out, err);
out:
	seccomp_release(b.ctx);
	return rc;
}

int forge_seccomp_compile(const char *text, size_t len, enum forge_seccomp_mode mode,
			  struct forge_seccomp_prog *out, struct forge_err *err)
{
	struct sc_profile p = {0};
	struct sc_rule **sorted = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (mode != FORGE_SECCOMP_ENFORCE && mode != FORGE_SECCOMP_LOG)
		return forge_err_set(err, -EINVAL, PROFILE ": unknown seccomp mode %d", (int)mode);
	rc = forge_crypto_init();
	if (rc < 0)
		return forge_err_set(err, rc, PROFILE ": libsodium initialisation failed");
	rc = parse_profile(text, len, &p, err);
	if (rc < 0)
		goto out;
	sorted = calloc(p.n ? p.n : 1, sizeof(*sorted));
	if (!sorted) {
		rc = forge_err_set(err, -ENOMEM, PROFILE ": out of memory");
		goto out;
	}
	for (size_t i = 0; i < p.n; i++)
		sorted[i] = &p.rules[i];
	qsort(sorted, p.n, sizeof(*sorted), cmp_rule_nr);
	for (size_t i = 0, j; i < p.n; i = j) {
		for (j = i + 1; j < p.n && sorted[j]->nr == sorted[i]->nr; j++)
			;
		rc = check_syscall(sorted + i, j - i, err);
		if (rc < 0)
			goto out;
	}
	rc = build_filter(&p, sorted, mode, out, err);
	if (rc < 0)
		goto out;
	forge_sha256_hex(text, len, out->sha256);
out:
	if (rc < 0)
		forge_seccomp_prog_free(out);
	free(sorted);
	free(p.rules);
	return rc;
}

void forge_seccomp_prog_free(struct forge_seccomp_prog *prog)
{
	if (!prog)
		return;
	free(prog->filter);
	memset(prog, 0, sizeof(*prog));
}
