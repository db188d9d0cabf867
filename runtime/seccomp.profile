# Forge container seccomp profile (x86_64).
#
# This file is the policy. It is embedded verbatim into forged (see
# runtime/seccomp_profile.S), compiled once with libseccomp by
# runtime/seccomp.c, and its sha256 is reported with every container.
#
# ---------------------------------------------------------------- format
#
# One statement per line. '#' starts a comment that runs to the end of the
# line; blank lines are ignored. Tokens are separated by spaces or tabs.
#
#   default ERRNO
#       Exactly once, before any rule. What every system call gets that no
#       rule below matches. ERRNO is a name: EPERM, ENOSYS, EAFNOSUPPORT, ...
#
#   allow NAME [NAME ...]
#   errno ERRNO NAME [NAME ...]
#       Unconditional rules: the listed system calls are allowed, or fail
#       with ERRNO without running.
#
#   allow NAME COND [COND ...]
#   errno ERRNO NAME COND [COND ...]
#       A conditional rule: one system call, then conditions that must all
#       hold (AND). Several rules for one system call are alternatives (OR).
#       COND is one of
#           argN == VALUE      argN != VALUE
#           argN < VALUE       argN <= VALUE
#           argN > VALUE       argN >= VALUE
#           argN & MASK == VALUE
#       with N in 0..5 and numbers written in decimal or 0x-hex. The kernel
#       passes every argument as 64 bits; a C "int" or "unsigned int"
#       argument is truncated to 32 bits by the kernel, so compare those
#       with "argN & 0xffffffff == VALUE" or the upper half of the register
#       becomes a way around the rule. One rule compares an argument once.
#
#   An unconditional rule plus conditional rules for the same system call:
#       the unconditional rule is the "otherwise" for that call. It applies
#       to exactly the calls that no conditional rule of that call matches.
#       Its conditional rules must then each be one "argN == VALUE" or one
#       "argN & MASK == VALUE" on the same argument with the same mask, with
#       different values and an action different from the otherwise; the
#       compiler turns the otherwise into the exact complement of their
#       values (a few masked comparisons per excluded value). This is needed
#       because libseccomp lets an unconditional rule silently swallow every
#       conditional rule of the same system call, whatever their actions.
#
# Strictness: an unknown keyword, errno name or system call name, a bad
# number or condition, a system call with two unconditional rules, two
# conditional rules of different actions that may match the same call, or an
# exact duplicate is an error naming the line ("seccomp.profile:LINE: ...").
# Names libseccomp knows only on other architectures (it resolves them to
# negative pseudo numbers, e.g. _llseek, socketcall) are skipped silently;
# names libseccomp does not know at all are errors. System calls newer than
# the installed libseccomp (libseccomp 2.5.4 does not know lsm_set_self_attr,
# lsm_get_self_attr, lsm_list_modules, mseal, statmount, listmount, ...) cannot
# be named here: they get the default, ENOSYS, which denies them.
#
# Architecture: the filter covers the native ABI (x86_64) only. A system call
# made through another ABI (int 0x80 i386 calls, x32 calls) kills the process
# (SECCOMP_RET_KILL_PROCESS), in both modes: nothing in a lab image needs it
# and a second ABI would be a second, unreviewed attack surface.
#
# Log mode (FORGE_SECCOMP_LOG, to diagnose a lab image that breaks): every
# action that is not "allow", the default included, becomes SECCOMP_RET_LOG:
# the call runs and the kernel logs it. Log mode enforces nothing.
#
# ---------------------------------------------------------------- policy
#
# Mirrors what Docker's and Podman's default profiles allow an unprivileged
# container, minus what a lab container must never do. Unlisted calls fail
# with ENOSYS ("not implemented"), so libc and programs fall back as they do
# on an older kernel; the explicit deny list fails with EPERM so a program
# reports "Operation not permitted" instead of hunting for a fallback.

default ENOSYS

# ------------------------------------------------ file I/O and descriptors
allow read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2
allow open openat openat2 creat close close_range lseek
allow dup dup2 dup3 fcntl flock pipe pipe2
allow sendfile splice tee vmsplice copy_file_range
allow fsync fdatasync sync syncfs sync_file_range fallocate fadvise64 readahead
allow truncate ftruncate

# ------------------------------------------------ file system metadata
allow stat fstat lstat newfstatat statx statfs fstatfs
allow access faccessat faccessat2
allow getcwd chdir fchdir getdents getdents64 readlink readlinkat
allow mkdir mkdirat rmdir rename renameat renameat2
allow link linkat symlink symlinkat unlink unlinkat
# Device nodes cannot be created inside a user namespace; fifos and sockets can.
allow mknod mknodat
allow chmod fchmod fchmodat fchmodat2 umask
allow chown fchown lchown fchownat
allow utime utimes futimesat utimensat
allow getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr
allow setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr
allow inotify_init inotify_init1 inotify_add_watch inotify_rm_watch
# Needs CAP_SYS_CHROOT; confined to the container's own mount namespace.
allow chroot

# ------------------------------------------------ memory
allow brk mmap munmap mremap mprotect msync madvise mincore remap_file_pages
allow mlock mlock2 munlock mlockall munlockall
allow membarrier memfd_create memfd_secret
allow pkey_alloc pkey_free pkey_mprotect map_shadow_stack

# ------------------------------------------------ processes and threads
allow fork vfork execve execveat exit exit_group wait4 waitid
allow set_tid_address set_robust_list get_robust_list rseq
allow arch_prctl set_thread_area get_thread_area
allow futex futex_waitv
allow prctl capget capset
allow getpid getppid gettid getpgid setpgid getpgrp getsid setsid
allow getuid geteuid getgid getegid getresuid getresgid getgroups
allow setuid setgid setreuid setregid setresuid setresgid setfsuid setfsgid setgroups
allow getrlimit setrlimit prlimit64 getrusage getpriority setpriority
allow sched_yield sched_getaffinity sched_setaffinity sched_getparam sched_setparam
allow sched_getscheduler sched_setscheduler sched_get_priority_max sched_get_priority_min
allow sched_rr_get_interval sched_getattr sched_setattr
allow ioprio_get ioprio_set
allow pidfd_open pidfd_send_signal process_mrelease
allow getcpu getrandom uname sysinfo times
# Seccomp and Landlock only ever restrict the caller further.
allow seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self

# clone: threads and fork, but no new namespace from inside. CLONE_NEWNS
# 0x20000, NEWCGROUP 0x02000000, NEWUTS 0x04000000, NEWIPC 0x08000000,
# NEWUSER 0x10000000, NEWPID 0x20000000, NEWNET 0x40000000 (CLONE_NEWTIME
# exists only for clone3 and unshare, both refused below). The kernel reads
# only the low 32 bits of the flags.
allow clone arg0 & 0x7e020000 == 0
errno EPERM clone

# clone3 passes its flags in memory, where seccomp cannot look, so it cannot
# be filtered: ENOSYS makes glibc fall back to clone, which can be (EPERM
# here breaks glibc's pthread_create and posix_spawn).
errno ENOSYS clone3

# personality: only the values Docker allows: PER_LINUX 0x0, PER_LINUX32 0x8,
# UNAME26 0x20000, PER_LINUX32|UNAME26 0x20008 and the 0xffffffff query.
# Anything else (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...) weakens the
# address space of the caller and its children. The argument is an unsigned
# int: compare the low 32 bits.
allow personality arg0 & 0xffffffff == 0x0
allow personality arg0 & 0xffffffff == 0x8
allow personality arg0 & 0xffffffff == 0x20000
allow personality arg0 & 0xffffffff == 0x20008
allow personality arg0 & 0xffffffff == 0xffffffff
errno EPERM personality

# ------------------------------------------------ signals
allow rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigsuspend
allow rt_sigtimedwait rt_sigqueueinfo rt_tgsigqueueinfo sigaltstack
allow kill tkill tgkill pause restart_syscall signalfd signalfd4

# ------------------------------------------------ time and timers
allow clock_gettime clock_getres clock_nanosleep nanosleep gettimeofday time
allow alarm getitimer setitimer
allow timer_create timer_settime timer_gettime timer_getoverrun timer_delete
allow timerfd_create timerfd_settime timerfd_gettime
# Read-only here: changing the clock through them needs CAP_SYS_TIME in the
# initial user namespace, which no container has, and glibc implements
# adjtimex() and ntp_gettime() with clock_adjtime, so refusing it would only
# break time-status queries (chronyc, ntptime).
allow adjtimex clock_adjtime

# ------------------------------------------------ polling and events
allow select pselect6 poll ppoll
allow epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
allow eventfd eventfd2

# ------------------------------------------------ sockets
# AF_PACKET and raw IP sockets are allowed here; CAP_NET_RAW gates them.
allow socketpair bind listen accept accept4 connect shutdown
allow getsockname getpeername getsockopt setsockopt
allow sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg

# socket: only the families a Linux userland uses: AF_UNIX 1, AF_INET 2,
# AF_INET6 10, AF_NETLINK 16, AF_PACKET 17. Every other family is either not
# network-namespaced (AF_VSOCK reaches the host and its VMs past the
# scenario's deny-all egress) or rarely audited kernel code that a socket()
# call can autoload as a module (AF_ALG, RDS, TIPC, X.25, ...). The answer
# is what a kernel without that family says. Docker dropped this filter only
# because 32-bit socketcall bypassed it; here non-native ABIs are killed.
allow socket arg0 & 0xffffffff == 1
allow socket arg0 & 0xffffffff == 2
allow socket arg0 & 0xffffffff == 10
allow socket arg0 & 0xffffffff == 16
allow socket arg0 & 0xffffffff == 17
errno EAFNOSUPPORT socket

# ------------------------------------------------ IPC (namespaced)
allow shmget shmat shmctl shmdt semget semop semtimedop semctl
allow msgget msgsnd msgrcv msgctl
allow mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr

# ------------------------------------------------ asynchronous I/O
allow io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents

# ------------------------------------------------ terminals
# ioctl: everything but terminal input injection. The command is an
# unsigned int for the kernel: compare the low 32 bits (with a 64-bit
# comparison, 0x100005412 would slip past and still be TIOCSTI).
errno EPERM ioctl arg1 & 0xffffffff == 0x5412    # TIOCSTI: type into another session's terminal
errno EPERM ioctl arg1 & 0xffffffff == 0x541c    # TIOCLINUX: console selection paste, same effect
allow ioctl

# UTS is namespaced; needs CAP_SYS_ADMIN in the container's user namespace.
allow sethostname setdomainname

# ---------------------------------------------------------------- denied: EPERM
# Each rule's comment says why. Most would fail anyway for lack of a
# capability in the initial user namespace; refusing them here keeps the
# kernel code behind them out of a container's reach.

# the kernel keyring is not fully namespaced: host and other users' keys; CVE history
errno EPERM keyctl add_key request_key
# eBPF verifier and maps: a recurring source of kernel exploits
errno EPERM bpf
# stalls kernel page faults at will: exploit timing primitive
errno EPERM userfaultfd
# exposes host kernel and hardware events; long CVE history
errno EPERM perf_event_open
# large, fast-moving attack surface; bypasses seccomp per operation
errno EPERM io_uring_setup io_uring_enter io_uring_register
# load a new kernel
errno EPERM kexec_load kexec_file_load
# load or unload kernel code
errno EPERM init_module finit_module delete_module
# obsolete module interfaces
errno EPERM create_module get_kernel_syms query_module
# open any inode by handle, past mount confinement (the "shocker" escape)
errno EPERM open_by_handle_at
# half of the same handle interface; leaks inode handles
errno EPERM name_to_handle_at
# rearranging mounts from inside undoes the runtime's confinement
errno EPERM mount umount2 pivot_root
# the fd-based mount API, same reason
errno EPERM move_mount open_tree fsopen fsconfig fsmount fspick mount_setattr
# no new or foreign namespaces from inside
errno EPERM unshare setns
# inspect and modify other processes; seccomp bypass on old kernels
errno EPERM ptrace
# read/write another process's memory
errno EPERM process_vm_readv process_vm_writev
# tells whether other processes share kernel objects: an information leak
errno EPERM kcmp
# steals descriptors from another process
errno EPERM pidfd_getfd
# acts on another process's memory
errno EPERM process_madvise
# the clock is not namespaced: would change the host's time
errno EPERM clock_settime settimeofday
# host memory configuration
errno EPERM swapon swapoff
# host power state
errno EPERM reboot
# process accounting writes a host-wide file
errno EPERM acct
# host file system quotas
errno EPERM quotactl quotactl_fd
# profiling interface; leaks kernel paths
errno EPERM lookup_dcookie
# removed NFS server control
errno EPERM nfsservctl
# raw hardware I/O port access
errno EPERM iopl ioperm
# kernel log: host information and kernel addresses
errno EPERM syslog
# hangs up the current terminal
errno EPERM vhangup
# obsolete a.out loader with a CVE history
errno EPERM uselib
# obsolete host information interfaces
errno EPERM ustat sysfs _sysctl
# watch the whole mount or file system, host paths included
errno EPERM fanotify_init
