/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forge-probe — a tiny static helper that the CLI-level tests copy into a
 * container (as an extra read-only layer) to exercise what busybox cannot:
 * raw system calls the seccomp profile must deny, raw sockets, setuid exec and
 * a chroot escape. Each result is printed as NAME=OK or NAME=<ERRNO NAME>, one
 * per line, so shell tests can assert on exact outcomes.
 *
 * Built by tests/lib/testlib.sh with `cc -static`; not part of any product binary.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOSYS: return "ENOSYS";
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	case EBADF: return "EBADF";
	case EFAULT: return "EFAULT";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case ENOKEY: return "ENOKEY";
	case EEXIST: return "EEXIST";
	case EBUSY: return "EBUSY";
	case ENOTDIR: return "ENOTDIR";
	case EROFS: return "EROFS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENODEV: return "ENODEV";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	default: return "OTHER";
	}
}

static void result(const char *name, long rc)
{
	if (rc >= 0)
		printf("%s=OK\n", name);
	else
		printf("%s=%s\n", name, errno_name(errno));
	fflush(stdout);
}

/* A raw clone with flags: the child exits at once; returns like a syscall. */
static long raw_clone(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

static long try_syscall(const char *name)
{
	errno = 0;
	if (!strcmp(name, "keyctl"))
		return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
	if (!strcmp(name, "add_key"))
		return syscall(SYS_add_key, "user", "forge-probe", "x", 1,
			       KEY_SPEC_SESSION_KEYRING);
	if (!strcmp(name, "request_key"))
		return syscall(SYS_request_key, "user", "forge-probe", NULL, 0);
	if (!strcmp(name, "bpf")) {
		union bpf_attr attr;
		memset(&attr, 0, sizeof(attr));
		attr.map_type = BPF_MAP_TYPE_ARRAY;
		attr.key_size = 4;
		attr.value_size = 4;
		attr.max_entries = 1;
		return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	}
	if (!strcmp(name, "mount"))
		return mount("forge-probe", "/tmp", "tmpfs", 0, NULL);
	if (!strcmp(name, "umount2"))
		return umount2("/tmp", MNT_DETACH);
	if (!strcmp(name, "pivot_root"))
		return syscall(SYS_pivot_root, "/tmp", "/tmp");
	if (!strcmp(name, "unshare_user"))
		return unshare(CLONE_NEWUSER);
	if (!strcmp(name, "unshare_mnt"))
		return unshare(CLONE_NEWNS);
	if (!strcmp(name, "unshare_net"))
		return unshare(CLONE_NEWNET);
	if (!strcmp(name, "setns")) {
		int fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
		long rc = setns(fd, 0);
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return rc;
	}
	if (!strcmp(name, "clone_newuser"))
		return raw_clone(CLONE_NEWUSER);
	if (!strcmp(name, "clone_newns"))
		return raw_clone(CLONE_NEWNS);
	if (!strcmp(name, "clone_plain"))
		return raw_clone(0);
	if (!strcmp(name, "clone3"))
		return syscall(SYS_clone3, NULL, 0);
	if (!strcmp(name, "ptrace"))
		/* Unconfined this is ESRCH (the parent is not our tracee). */
		return ptrace(PTRACE_PEEKDATA, getppid(), NULL, NULL);
	if (!strcmp(name, "userfaultfd"))
		return syscall(SYS_userfaultfd, 0);
	if (!strcmp(name, "perf_event_open")) {
		struct perf_event_attr pe;
		memset(&pe, 0, sizeof(pe));
		pe.size = sizeof(pe);
		pe.type = PERF_TYPE_SOFTWARE;
		pe.config = PERF_COUNT_SW_CPU_CLOCK;
		return syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
	}
	if (!strcmp(name, "init_module"))
		return syscall(SYS_init_module, NULL, 0, "");
	if (!strcmp(name, "finit_module"))
		return syscall(SYS_finit_module, -1, "", 0);
	if (!strcmp(name, "delete_module"))
		return syscall(SYS_delete_module, "forge_probe_nonexistent", 0);
	if (!strcmp(name, "kexec_load"))
		return syscall(SYS_kexec_load, 0, 0, NULL, 0);
	if (!strcmp(name, "open_by_handle_at"))
		return syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0);
	if (!strcmp(name, "reboot"))
		/* Bad magic: unconfined this is EINVAL, never a reboot. */
		return syscall(SYS_reboot, 0, 0, LINUX_REBOOT_CMD_CAD_OFF, NULL);
	if (!strcmp(name, "acct"))
		return acct(NULL);
	if (!strcmp(name, "swapon"))
		return swapon("/forge-probe-nonexistent", 0);
	if (!strcmp(name, "quotactl"))
		return syscall(SYS_quotactl, 0, NULL, 0, NULL);
	if (!strcmp(name, "clock_settime")) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		return clock_settime(CLOCK_REALTIME, &ts);
	}
	if (!strcmp(name, "personality_query"))
		return personality(0xffffffff);
	if (!strcmp(name, "getpid"))
		return getpid();
	errno = EINVAL;
	fprintf(stderr, "forge-probe: unknown syscall probe %s\n", name);
	exit(2);
}

static void print_status(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/status", "r");

	printf("uid=%d euid=%d gid=%d egid=%d\n", (int)getuid(), (int)geteuid(), (int)getgid(),
	       (int)getegid());
	if (!f) {
		perror("forge-probe: /proc/self/status");
		return;
	}
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) ||
		    !strncmp(line, "Seccomp:", 8))
			fputs(line, stdout);
	fclose(f);
	fflush(stdout);
}

/* Drops to uid/gid 1000 (needs CAP_SETUID/CAP_SETGID) and execs path. */
static int setuid_exec(const char *path)
{
	char *args[] = {(char *)path, (char *)"status", NULL};

	if (setgroups(0, NULL) && errno != EPERM)
		perror("forge-probe: setgroups");
	if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000)) {
		perror("forge-probe: setresuid 1000");
		return 1;
	}
	execv(path, args);
	perror("forge-probe: execv");
	return 127;
}

/* The classic chroot(2) escape: chroot into a subdirectory while keeping a
 * directory fd outside it, walk up, chroot("."). Prints whether `host_path`
 * (a file that exists only on the host) became reachable. */
static int chroot_escape(const char *host_path)
{
	int outside;

	mkdir("/tmp/forge-jail", 0755);
	outside = open("/", O_RDONLY | O_DIRECTORY);
	if (outside < 0) {
		perror("forge-probe: open /");
		return 1;
	}
	if (chroot("/tmp/forge-jail")) {
		result("chroot", -1);
		return 0;
	}
	result("chroot", 0);
	if (fchdir(outside)) {
		perror("forge-probe: fchdir");
		return 1;
	}
	for (int i = 0; i < 256; i++)
		if (chdir(".."))
			break;
	result("chroot_dot", chroot("."));
	printf("host_path_visible=%s\n", access(host_path, F_OK) == 0 ? "yes" : "no");
	printf("busybox_visible=%s\n", access("/bin/busybox", F_OK) == 0 ? "yes" : "no");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "syscall")) {
		for (int i = 2; i < argc; i++)
			result(argv[i], try_syscall(argv[i]));
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "rawsock")) {
		int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
		result("rawsock", fd);
		return fd >= 0 ? 0 : 1;
	}
	if (argc == 2 && !strcmp(argv[1], "status")) {
		print_status();
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "setuid-exec"))
		return setuid_exec(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "chroot-escape"))
		return chroot_escape(argv[2]);
	fprintf(stderr,
		"usage: forge-probe syscall NAME... | rawsock | status | setuid-exec PATH | "
		"chroot-escape HOST_PATH\n");
	return 2;
}
