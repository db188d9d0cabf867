/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime/seccomp.c and runtime/seccomp.profile: the profile compiles in both
 * modes, the parser names the line of every error, the libseccomp semantics
 * the compiler works around still hold, the compiled BPF decides exactly
 * what the profile says (evaluated here over many argument values), and the
 * installed filter behaves as documented in a forked child. No root needed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "runtime/internal.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#define X32_SYSCALL_BIT 0x40000000

struct fixture {
	struct forge_seccomp_prog enforce;
	struct forge_seccomp_prog log;
};

/* Two symbols, two objects for C: subtract addresses, not pointers. */
static size_t profile_len(void)
{
	return (size_t)((uintptr_t)forge_seccomp_profile_end -
			(uintptr_t)forge_seccomp_profile_start);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct forge_err err = {0};

	if (!fx)
		return -1;
	if (forge_seccomp_compile(forge_seccomp_profile_start, profile_len(), FORGE_SECCOMP_ENFORCE,
				  &fx->enforce, &err) != 0 ||
	    forge_seccomp_compile(forge_seccomp_profile_start, profile_len(), FORGE_SECCOMP_LOG,
				  &fx->log, &err) != 0) {
		print_error("compile: %s\n", err.msg);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	forge_seccomp_prog_free(&fx->enforce);
	forge_seccomp_prog_free(&fx->log);
	free(fx);
	return 0;
}

/* ------------------------------------------------------------- compile */

static void test_embedded_profile_compiles_in_both_modes(void **state)
{
	struct fixture *fx = *state;
	char hex[65];

	forge_sha256_hex(forge_seccomp_profile_start, profile_len(), hex);
	assert_true(profile_len() > 0);
	/* the assembler adds a NUL after the text */
	assert_int_equal(forge_seccomp_profile_end[0], '\0');
	assert_non_null(fx->enforce.filter);
	assert_true(fx->enforce.len > 0 && fx->enforce.len <= BPF_MAXINSNS);
	assert_true(fx->enforce.allowed > 200);
	assert_true(fx->enforce.denied > 40);
	assert_string_equal(fx->enforce.sha256, hex);

	assert_non_null(fx->log.filter);
	assert_true(fx->log.len > 0);
	assert_int_equal(fx->log.allowed, fx->enforce.allowed);
	assert_int_equal(fx->log.denied, fx->enforce.denied);
	assert_string_equal(fx->log.sha256, hex);
	assert_false(fx->log.len == fx->enforce.len &&
		     memcmp(fx->log.filter, fx->enforce.filter,
			    fx->log.len * sizeof(struct sock_filter)) == 0);
}

/* The filter linked into forged and forgectl is generated at build time; it
 * must be exactly what the profile in the tree compiles to. */
static void test_builtin_filter_matches_the_profile(void **state)
{
	struct fixture *fx = *state;
	const struct forge_seccomp_prog *fresh[FORGE_SECCOMP_COUNT] = {&fx->enforce, &fx->log};

	for (int m = 0; m < FORGE_SECCOMP_COUNT; m++) {
		const struct forge_seccomp_prog *b = &forge_seccomp_builtin[m];
		assert_int_equal(b->len, fresh[m]->len);
		assert_memory_equal(b->filter, fresh[m]->filter,
				    b->len * sizeof(struct sock_filter));
		assert_int_equal(b->allowed, fresh[m]->allowed);
		assert_int_equal(b->denied, fresh[m]->denied);
		assert_string_equal(b->sha256, fresh[m]->sha256);
	}
}

static int compile_text(const char *text, struct forge_seccomp_prog *prog, struct forge_err *err)
{
	return forge_seccomp_compile(text, strlen(text), FORGE_SECCOMP_ENFORCE, prog, err);
}

static void test_parser_errors_name_the_line(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
	    {"default ENOSYS\nallow read\nallow write fooo\n",
	     "seccomp.profile:3: unknown system call \"fooo\""},
	    {"default ENOSYS\n# comment\n\nfrobnicate read\n",
	     "seccomp.profile:4: unknown keyword \"frobnicate\""},
	    {"default ENOSYS\nallow personality arg0 =~ 4\n",
	     "seccomp.profile:2: bad condition: unknown operator \"=~\""},
	    {"default ENOSYS\nallow personality arg0 ==\n", "seccomp.profile:2: bad condition"},
	    {"default ENOSYS\nallow personality arg6 == 1\n",
	     "seccomp.profile:2: bad condition: \"arg6\" is not arg0..arg5"},
	    {"default ENOSYS\nallow personality arg0 == 1 arg0 == 2\n",
	     "seccomp.profile:2: bad condition: arg0 compared twice"},
	    {"default ENOSYS\nallow ioctl arg1 & 0xff == 0x100\n",
	     "seccomp.profile:2: bad condition: value 0x100 has bits outside mask 0xff"},
	    {"default ENOSYS\nallow personality arg0 == 0x\n",
	     "seccomp.profile:2: bad number \"0x\""},
	    {"default ENOSYS\nallow personality arg0 == 010\n",
	     "seccomp.profile:2: bad number \"010\""},
	    {"default ENOSYS\nallow personality arg0 == 18446744073709551616\n",
	     "seccomp.profile:2: bad number"},
	    {"default ENOSYS\nallow personality arg0 == -1\n", "seccomp.profile:2: bad number"},
	    {"default EFOO\n", "seccomp.profile:1: unknown errno name \"EFOO\""},
	    {"allow read\n", "seccomp.profile:1: rule before the \"default\" statement"},
	    {"# nothing\n", "seccomp.profile: no \"default\" statement"},
	    {"default ENOSYS\ndefault EPERM\n", "seccomp.profile:2: second \"default\" statement"},
	    {"default ENOSYS\nallow read write arg0 == 1\n",
	     "seccomp.profile:2: a rule with conditions names exactly one system call"},
	    {"default ENOSYS\nallow read\nallow write\nerrno EPERM read\n",
	     "seccomp.profile:4: system call \"read\" already has an unconditional rule at line 2"},
	    {"default ENOSYS\nallow ioctl arg1 == 1\nerrno EPERM ioctl arg0 == 2\n",
	     "seccomp.profile:3: rule for \"ioctl\" may match the same calls as the rule at line "
	     "2"},
	    {"default ENOSYS\nallow ioctl arg1 == 1\nallow ioctl arg1 == 1\n",
	     "seccomp.profile:3: duplicate of the rule at line 2"},
	    {"default ENOSYS\nallow ioctl\nerrno EPERM ioctl arg1 < 5\n",
	     "seccomp.profile:3: \"ioctl\" also has an unconditional rule (line 2)"},
	    {"default ENOSYS\nallow ioctl\nallow ioctl arg1 == 5\n",
	     "seccomp.profile:3: rule for \"ioctl\" has the same action"},
	};
	static const char with_nul[] = "default ENOSYS\nallow read\nallow wr\0ite\n";
	struct forge_seccomp_prog prog;
	struct forge_err err = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = compile_text(cases[i].text, &prog, &err);

		if (rc != -EINVAL || strstr(err.msg, cases[i].msg) != err.msg)
			fail_msg("case %zu: rc %d, message \"%s\", wanted \"%s\"", i, rc, err.msg,
				 cases[i].msg);
		assert_null(prog.filter);
	}
	assert_int_equal(forge_seccomp_compile(with_nul, sizeof(with_nul) - 1,
					       FORGE_SECCOMP_ENFORCE, &prog, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "seccomp.profile:3: NUL byte");
}

static void test_parser_accepts_the_documented_forms(void **state)
{
	struct forge_seccomp_prog prog;
	struct forge_err err = {0};

	(void)state;
	/* pseudo system calls of other architectures are skipped, not counted */
	assert_int_equal(compile_text("default ENOSYS\t# trailing comment\n"
				      "allow read _llseek socketcall\n"
				      "allow personality arg0 != 4 arg1 >= 0x10\n"
				      "errno EPERM personality arg0 == 4 arg1 >= 0x10\n"
				      "errno EPERM keyctl\n",
				      &prog, &err),
			 0);
	assert_int_equal(prog.allowed, 2);
	assert_int_equal(prog.denied, 2);
	forge_seccomp_prog_free(&prog);
	assert_null(prog.filter);
}

/* ------------------------------------------------------------- libseccomp */

/* The semantics runtime/seccomp.c is written around (see its header). */
static void test_libseccomp_semantics(void **state)
{
	scmp_filter_ctx ctx;
	char buf[8192] = {0};
	int fd;

	(void)state;
	ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
	assert_non_null(ctx);
	/* a second comparison of the same argument is refused */
	assert_int_equal(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 2,
					  SCMP_A0(SCMP_CMP_NE, 0), SCMP_A0(SCMP_CMP_NE, 8)),
			 -EINVAL);
	/* a rule with the default action is refused */
	assert_int_equal(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0),
			 -EACCES);
	/* an unconditional rule absorbs a conditional one with another action,
	 * and the call still reports success */
	assert_int_equal(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 0), 0);
	assert_int_equal(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
					  SCMP_A1(SCMP_CMP_EQ, TIOCSTI)),
			 0);
	fd = memfd_create("pfc", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(seccomp_export_pfc(ctx, fd), 0);
	assert_true(pread(fd, buf, sizeof(buf) - 1, 0) > 0);
	assert_non_null(strstr(buf, "if ($syscall == 16)\n    action ALLOW;"));
	assert_null(strstr(buf, "ERRNO(1)"));
	close(fd);
	seccomp_release(ctx);
}

/* ------------------------------------------------------------- BPF evaluation */

/* A classic BPF interpreter for the instructions libseccomp emits, so that
 * the compiled filter can be checked over many argument values. */
static uint32_t bpf_run(const struct forge_seccomp_prog *prog, int nr, const uint64_t args[6])
{
	struct seccomp_data d = {.nr = nr, .arch = AUDIT_ARCH_X86_64};
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
	unsigned pc = 0;

	memcpy(d.args, args, sizeof(d.args));
	while (pc < prog->len) {
		const struct sock_filter *f = &prog->filter[pc++];
		uint32_t word;

		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			assert_true(f->k + 4 <= sizeof(d) && f->k % 4 == 0);
			memcpy(&word, (const char *)&d + f->k, 4);
			a = word;
			break;
		case BPF_LD | BPF_MEM:
			a = mem[f->k];
			break;
		case BPF_ST:
			mem[f->k] = a;
			break;
		case BPF_MISC | BPF_TAX:
			x = a;
			break;
		case BPF_MISC | BPF_TXA:
			a = x;
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= f->k;
			break;
		case BPF_ALU | BPF_OR | BPF_K:
			a |= f->k;
			break;
		case BPF_JMP | BPF_JA:
			pc += f->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			pc += a > f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += a >= f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (a & f->k) ? f->jt : f->jf;
			break;
		case BPF_RET | BPF_K:
			return f->k;
		default:
			fail_msg("BPF opcode 0x%x not handled by the test interpreter", f->code);
		}
	}
	fail_msg("BPF program ran off its end");
	return 0;
}

static uint32_t bpf_run1(const struct forge_seccomp_prog *prog, int nr, unsigned argn,
			 uint64_t value)
{
	uint64_t args[6] = {0};

	args[argn] = value;
	return bpf_run(prog, nr, args);
}

#define RET_ALLOW    SECCOMP_RET_ALLOW
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | (uint32_t)(e))

static void test_bpf_decides_exactly_what_the_profile_says(void **state)
{
	const struct forge_seccomp_prog *p = &((struct fixture *)*state)->enforce;
	static const uint64_t hi[] = {0, UINT64_C(0x100000000), UINT64_C(0xffffffff00000000)};
	static const uint64_t personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
	static const uint64_t families[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET};

	(void)state;
	assert_int_equal(bpf_run1(p, __NR_getpid, 0, 0), RET_ALLOW);
	assert_int_equal(bpf_run1(p, __NR_clone3, 0, 0), RET_ERRNO(ENOSYS));
	assert_int_equal(bpf_run1(p, __NR_keyctl, 0, 0), RET_ERRNO(EPERM));
	assert_int_equal(bpf_run1(p, __NR_get_mempolicy, 0, 0), RET_ERRNO(ENOSYS));

	/* ioctl: every command but TIOCSTI/TIOCLINUX, whatever the upper half */
	for (size_t h = 0; h < sizeof(hi) / sizeof(hi[0]); h++) {
		for (uint64_t cmd = 0; cmd < 0x10000; cmd++) {
			uint32_t want =
			    cmd == TIOCSTI || cmd == TIOCLINUX ? RET_ERRNO(EPERM) : RET_ALLOW;

			if (bpf_run1(p, __NR_ioctl, 1, hi[h] | cmd) != want)
				fail_msg("ioctl 0x%llx", (unsigned long long)(hi[h] | cmd));
		}
		assert_int_equal(bpf_run1(p, __NR_ioctl, 1, hi[h] | 0x802c542a /* TCGETS2 */),
				 RET_ALLOW);
		assert_int_equal(bpf_run1(p, __NR_ioctl, 1, hi[h] | 0x80045430), RET_ALLOW);
		assert_int_equal(bpf_run1(p, __NR_ioctl, 1, hi[h] | 0xffff5412), RET_ALLOW);
	}

	/* personality: the five safe values, by their low 32 bits */
	for (size_t h = 0; h < sizeof(hi) / sizeof(hi[0]); h++) {
		for (size_t i = 0; i < sizeof(personas) / sizeof(personas[0]); i++)
			assert_int_equal(bpf_run1(p, __NR_personality, 0, hi[h] | personas[i]),
					 RET_ALLOW);
		for (uint64_t v = 0; v < 0x40000; v++) {
			if (v == 0 || v == 8 || v == 0x20000 || v == 0x20008)
				continue;
			if (bpf_run1(p, __NR_personality, 0, hi[h] | v) != RET_ERRNO(EPERM))
				fail_msg("personality 0x%llx", (unsigned long long)(hi[h] | v));
		}
		for (int bit = 0; bit < 32; bit++)
			assert_int_equal(
			    bpf_run1(p, __NR_personality, 0, hi[h] | (0xffffffffu & ~(1u << bit))),
			    RET_ERRNO(EPERM));
	}

	/* socket: five families, every other one EAFNOSUPPORT */
	for (size_t h = 0; h < sizeof(hi) / sizeof(hi[0]); h++) {
		for (uint64_t fam = 0; fam < 0x1000; fam++) {
			uint32_t want = RET_ERRNO(EAFNOSUPPORT);

			for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
				if (fam == families[i])
					want = RET_ALLOW;
			}
			if (bpf_run1(p, __NR_socket, 0, hi[h] | fam) != want)
				fail_msg("socket family 0x%llx", (unsigned long long)(hi[h] | fam));
		}
	}

	/* clone: any CLONE_NEW* bit, alone or mixed with others, is refused */
	{
		static const uint64_t ns[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS,
					      CLONE_NEWIPC, CLONE_NEWUSER,   CLONE_NEWPID,
					      CLONE_NEWNET};
		const uint64_t thread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
					CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS |
					CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

		assert_int_equal(bpf_run1(p, __NR_clone, 0, SIGCHLD), RET_ALLOW);
		assert_int_equal(bpf_run1(p, __NR_clone, 0, thread), RET_ALLOW);
		assert_int_equal(bpf_run1(p, __NR_clone, 0, UINT64_C(0xffffffff00000000) | thread),
				 RET_ALLOW);
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			assert_int_equal(bpf_run1(p, __NR_clone, 0, ns[i] | SIGCHLD),
					 RET_ERRNO(EPERM));
			assert_int_equal(bpf_run1(p, __NR_clone, 0, ns[i] | thread),
					 RET_ERRNO(EPERM));
		}
	}
}

static void test_bpf_log_mode_logs_every_denial(void **state)
{
	const struct forge_seccomp_prog *p = &((struct fixture *)*state)->log;

	assert_int_equal(bpf_run1(p, __NR_getpid, 0, 0), RET_ALLOW);
	assert_int_equal(bpf_run1(p, __NR_keyctl, 0, 0), SECCOMP_RET_LOG);
	assert_int_equal(bpf_run1(p, __NR_clone3, 0, 0), SECCOMP_RET_LOG);
	assert_int_equal(bpf_run1(p, __NR_get_mempolicy, 0, 0), SECCOMP_RET_LOG);
	assert_int_equal(bpf_run1(p, __NR_ioctl, 1, TIOCSTI), SECCOMP_RET_LOG);
	assert_int_equal(bpf_run1(p, __NR_ioctl, 1, TCGETS), RET_ALLOW);
	assert_int_equal(bpf_run1(p, __NR_personality, 0, 0x40000), SECCOMP_RET_LOG);
	assert_int_equal(bpf_run1(p, __NR_personality, 0, 0xffffffff), RET_ALLOW);
	assert_int_equal(bpf_run1(p, __NR_clone, 0, CLONE_NEWUSER), SECCOMP_RET_LOG);
	assert_int_equal(bpf_run1(p, __NR_clone, 0, SIGCHLD), RET_ALLOW);
	assert_int_equal(bpf_run1(p, __NR_socket, 0, AF_VSOCK), SECCOMP_RET_LOG);
}

/* A small profile with distinct errnos: each outcome names the rule that made it. */
static void test_bpf_otherwise_is_the_exact_complement(void **state)
{
	struct forge_seccomp_prog p;
	struct forge_err err = {0};

	(void)state;
	assert_int_equal(compile_text("default ENOSYS\n"
				      "errno EACCES ioctl arg1 & 0xff0f == 0x1203\n"
				      "errno EINVAL ioctl arg1 & 0xff0f == 0x1205\n"
				      "allow ioctl\n"
				      "allow uname arg2 == 7\n"
				      "allow uname arg2 == 0xffffffffffffffff\n"
				      "errno EPERM uname\n",
				      &p, &err),
			 0);
	for (uint64_t v = 0; v < 0x20000; v++) {
		uint32_t want = RET_ALLOW;

		if ((v & 0xff0f) == 0x1203)
			want = RET_ERRNO(EACCES);
		else if ((v & 0xff0f) == 0x1205)
			want = RET_ERRNO(EINVAL);
		if (bpf_run1(&p, __NR_ioctl, 1, v) != want)
			fail_msg("ioctl 0x%llx", (unsigned long long)v);
		want = v == 7 ? RET_ALLOW : RET_ERRNO(EPERM);
		if (bpf_run1(&p, __NR_uname, 2, v) != want)
			fail_msg("uname 0x%llx", (unsigned long long)v);
	}
	assert_int_equal(bpf_run1(&p, __NR_uname, 2, UINT64_MAX), RET_ALLOW);
	assert_int_equal(bpf_run1(&p, __NR_uname, 2, UINT64_C(0x100000007)), RET_ERRNO(EPERM));
	assert_int_equal(bpf_run1(&p, __NR_read, 0, 0), RET_ERRNO(ENOSYS));
	forge_seccomp_prog_free(&p);
}

/* ------------------------------------------------------------- in the kernel */

struct probe {
	long ret;
	int err;
};

typedef struct probe (*probe_fn)(void);

static struct probe probe_of(long ret)
{
	return (struct probe){.ret = ret, .err = ret < 0 ? errno : 0};
}

/* Runs fn in a forked child that sets no_new_privs and installs prog; the
 * result comes back through a pipe. Returns the child's wait status. */
static int run_filtered(const struct forge_seccomp_prog *prog, probe_fn fn, struct probe *out)
{
	int fds[2], status = 0;
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct probe r;
		int rc;

		close(fds[0]);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			_exit(90);
		rc = forge_seccomp_install(prog);
		if (rc != 0)
			_exit(91);
		r = fn();
		if (write(fds[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(92);
		_exit(0);
	}
	close(fds[1]);
	memset(out, 0, sizeof(*out));
	out->ret = -12345;
	if (read(fds[0], out, sizeof(*out)) != (ssize_t)sizeof(*out))
		out->ret = -12345;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static struct probe expect_result(const struct forge_seccomp_prog *prog, probe_fn fn)
{
	struct probe r;
	int status = run_filtered(prog, fn, &r);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("filtered child failed: status 0x%x", status);
	return r;
}

#define assert_errno(prog, fn, e)                                                                  \
	do {                                                                                       \
		struct probe r_ = expect_result(prog, fn);                                         \
		if (r_.ret != -1 || r_.err != (e))                                                 \
			fail_msg(#fn ": ret %ld errno %d (%s), wanted %s", r_.ret, r_.err,         \
				 strerror(r_.err), #e);                                            \
	} while (0)

#define assert_works(prog, fn)                                                                     \
	do {                                                                                       \
		struct probe r_ = expect_result(prog, fn);                                         \
		if (r_.ret < 0)                                                                    \
			fail_msg(#fn ": ret %ld errno %d (%s)", r_.ret, r_.err, strerror(r_.err)); \
	} while (0)

static struct probe do_getpid(void)
{
	return probe_of(syscall(SYS_getpid));
}

static struct probe do_clone3(void)
{
	/* with no filter: EINVAL (size 0) */
	return probe_of(syscall(SYS_clone3, NULL, 0));
}

static struct probe do_keyctl(void)
{
	return probe_of(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}

static struct probe do_bpf(void)
{
	/* with no filter: EFAULT or EINVAL */
	return probe_of(syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, NULL, 0));
}

static struct probe do_unshare_user(void)
{
	return probe_of(unshare(CLONE_NEWUSER));
}

static struct probe do_mount(void)
{
	/* with no filter: ENOENT */
	return probe_of(mount("none", "/nonexistent-forge-seccomp-test", "tmpfs", 0, NULL));
}

static struct probe do_ptrace(void)
{
	/* with no filter: ESRCH (we do not trace ourselves) */
	return probe_of(ptrace(PTRACE_PEEKUSER, getpid(), NULL, NULL));
}

static struct probe do_setns(void)
{
	/* with no filter: EBADF */
	return probe_of(setns(-1, 0));
}

static struct probe clone_and_reap(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
	int status;

	if (pid == 0)
		_exit(7);
	if (pid < 0)
		return probe_of(-1);
	if (waitpid((pid_t)pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 7)
		return (struct probe){.ret = -2, .err = 0};
	return probe_of(0);
}

static struct probe do_clone_newuser(void)
{
	return clone_and_reap(CLONE_NEWUSER | SIGCHLD);
}

static struct probe do_clone_plain(void)
{
	return clone_and_reap(SIGCHLD);
}

static struct probe do_fork(void)
{
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(7);
	if (pid < 0)
		return probe_of(-1);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
		return (struct probe){.ret = -2, .err = 0};
	return probe_of(0);
}

static void *thread_main(void *arg)
{
	return arg;
}

/* glibc tries clone3 first: this proves the ENOSYS fallback to clone works. */
static struct probe do_pthread(void)
{
	pthread_t t;
	void *res = NULL;
	int rc = pthread_create(&t, NULL, thread_main, (void *)0x5eed);

	if (rc != 0) {
		errno = rc;
		return probe_of(-1);
	}
	if (pthread_join(t, &res) != 0 || res != (void *)0x5eed)
		return (struct probe){.ret = -2, .err = 0};
	return probe_of(0);
}

static struct probe do_personality_query(void)
{
	return probe_of(personality(0xffffffff));
}

static struct probe do_personality_no_randomize(void)
{
	return probe_of(personality(ADDR_NO_RANDOMIZE));
}

static struct probe do_personality_no_randomize_high(void)
{
	/* the kernel sees only the low 32 bits: still ADDR_NO_RANDOMIZE */
	return probe_of(syscall(SYS_personality, UINT64_C(0x100000000) | ADDR_NO_RANDOMIZE));
}

/* A pty pair; returns the slave fd (the master is leaked into the child). */
static int open_pty_slave(void)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0)
		return -1;
	return open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
}

static struct probe ioctl_on_pty(unsigned long cmd, void *arg)
{
	int fd = open_pty_slave();

	if (fd < 0)
		return (struct probe){.ret = -3, .err = errno};
	return probe_of(syscall(SYS_ioctl, fd, cmd, arg));
}

static struct probe do_ioctl_tiocsti(void)
{
	char c = 'x';

	return ioctl_on_pty(TIOCSTI, &c);
}

static struct probe do_ioctl_tiocsti_high(void)
{
	char c = 'x';

	return ioctl_on_pty(0x100000000UL | TIOCSTI, &c);
}

static struct probe do_ioctl_tcgets(void)
{
	struct termios t;

	return ioctl_on_pty(TCGETS, &t);
}

static struct probe do_get_mempolicy(void)
{
	return probe_of(syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0));
}

static struct probe socket_of(int family, int type)
{
	long fd = syscall(SYS_socket, family, type | SOCK_CLOEXEC, 0);

	if (fd >= 0)
		close((int)fd);
	return probe_of(fd);
}

static struct probe do_socket_vsock(void)
{
	return socket_of(AF_VSOCK, SOCK_STREAM);
}

static struct probe do_socket_inet(void)
{
	return socket_of(AF_INET, SOCK_DGRAM);
}

static struct probe do_socket_unix(void)
{
	return socket_of(AF_UNIX, SOCK_STREAM);
}

static struct probe do_x32_getpid(void)
{
	return probe_of(syscall(X32_SYSCALL_BIT | __NR_getpid));
}

static void test_kernel_allows_the_basics(void **state)
{
	const struct forge_seccomp_prog *p = &((struct fixture *)*state)->enforce;

	assert_works(p, do_getpid);
	assert_works(p, do_fork);
	assert_works(p, do_clone_plain);
	assert_works(p, do_pthread);
	assert_works(p, do_personality_query);
	assert_works(p, do_ioctl_tcgets);
	assert_works(p, do_socket_inet);
	assert_works(p, do_socket_unix);
}

static void test_kernel_denies_with_eperm(void **state)
{
	const struct forge_seccomp_prog *p = &((struct fixture *)*state)->enforce;

	assert_errno(p, do_keyctl, EPERM);
	assert_errno(p, do_bpf, EPERM);
	assert_errno(p, do_unshare_user, EPERM);
	assert_errno(p, do_mount, EPERM);
	assert_errno(p, do_ptrace, EPERM);
	assert_errno(p, do_setns, EPERM);
	assert_errno(p, do_clone_newuser, EPERM);
	assert_errno(p, do_personality_no_randomize, EPERM);
	assert_errno(p, do_personality_no_randomize_high, EPERM);
	assert_errno(p, do_ioctl_tiocsti, EPERM);
	assert_errno(p, do_ioctl_tiocsti_high, EPERM);
	assert_errno(p, do_socket_vsock, EAFNOSUPPORT);
}

static void test_kernel_unlisted_and_clone3_get_enosys(void **state)
{
	const struct forge_seccomp_prog *p = &((struct fixture *)*state)->enforce;
	struct probe unfiltered = do_get_mempolicy();

	/* the kernel implements it: ENOSYS below comes from the filter */
	assert_false(unfiltered.ret < 0 && unfiltered.err == ENOSYS);
	assert_errno(p, do_get_mempolicy, ENOSYS);
	assert_errno(p, do_clone3, ENOSYS);
}

static void test_kernel_kills_other_abis(void **state)
{
	const struct forge_seccomp_prog *p = &((struct fixture *)*state)->enforce;
	struct probe r;
	int status = run_filtered(p, do_x32_getpid, &r);

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void test_kernel_log_mode_does_not_deny(void **state)
{
	const struct forge_seccomp_prog *p = &((struct fixture *)*state)->log;
	struct probe r = expect_result(p, do_keyctl);

	assert_false(r.ret == -1 && r.err == EPERM);
	assert_works(p, do_getpid);
	assert_works(p, do_pthread);
}

static void test_install_rejects_an_empty_program(void **state)
{
	struct forge_seccomp_prog empty = {0};

	(void)state;
	assert_int_equal(forge_seccomp_install(&empty), -EINVAL);
	assert_int_equal(forge_seccomp_install(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_embedded_profile_compiles_in_both_modes),
	    cmocka_unit_test(test_builtin_filter_matches_the_profile),
	    cmocka_unit_test(test_parser_errors_name_the_line),
	    cmocka_unit_test(test_parser_accepts_the_documented_forms),
	    cmocka_unit_test(test_libseccomp_semantics),
	    cmocka_unit_test(test_bpf_decides_exactly_what_the_profile_says),
	    cmocka_unit_test(test_bpf_log_mode_logs_every_denial),
	    cmocka_unit_test(test_bpf_otherwise_is_the_exact_complement),
	    cmocka_unit_test(test_kernel_allows_the_basics),
	    cmocka_unit_test(test_kernel_denies_with_eperm),
	    cmocka_unit_test(test_kernel_unlisted_and_clone3_get_enosys),
	    cmocka_unit_test(test_kernel_kills_other_abis),
	    cmocka_unit_test(test_kernel_log_mode_does_not_deny),
	    cmocka_unit_test(test_install_rejects_an_empty_program),
	};

	return cmocka_run_group_tests_name("seccomp", tests, setup, teardown);
}
