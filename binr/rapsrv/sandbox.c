/* rapsrv's sandbox: Landlock for the file system and TCP, seccomp for system calls.
 *
 * Landlock (Linux 5.13+, raw system calls, no library). Every access right the running
 * kernel knows is handled, and only these are granted:
 *   - beneath --root: reading files and listing directories; with --write also writing,
 *     truncating, creating and removing regular files (wtf creates files, and removes one it
 *     could not finish); with dbg:// also executing programs;
 *   - the directories holding the certificate, key and CA files (both the directory named
 *     and the one a symbolic link leads to): reading files, so that a SIGHUP reload reads
 *     renewed certificates even when they replaced the old files by renaming;
 *   - with --allow-shell or dbg://: the system's programs and libraries (/usr, /bin, /sbin,
 *     /lib*) to read and execute, what the dynamic linker, NSS, the resolver and TLS read
 *     in /etc (ld.so.cache, passwd, group, hosts, resolv.conf, ssl/, ...: not shadow, not
 *     other services' keys), /dev/null, /dev/zero and /dev/urandom; with a scheme that
 *     connects out (rap://, ...): the same to read only (name resolution, NSS modules,
 *     the TLS trust store);
 *   - TCP: binding is denied (the listeners are bound already) and so is connecting,
 *     unless a scheme that connects out is allowed (ABI 4+);
 *   - signals to processes outside the sandbox are denied, and so are connections to
 *     abstract unix sockets unless $NOTIFY_SOCKET is one (ABI 6+).
 *   - with dbg://: /proc to read (the debugged processes' maps and state for dm and dp);
 * Nothing else: /etc/passwd, /home, /tmp and /proc (without dbg://) are out of reach even if a bug in
 * rapsrv's own path checks (libio's openat2 RESOLVE_BENEATH) let a path through. Rules are
 * built before privileges are dropped, from descriptors opened while the files could still
 * be opened, and enforced after: landlock_restrict_self needs no privilege, only
 * no_new_privs.
 *
 * seccomp (libseccomp): an allow-list built from what the daemon was seen to do (strace -f
 * over the integration tests): glibc, the event loop (epoll, eventfd, signalfd), sockets,
 * file I/O, OpenSSL (getrandom; its files are read before the filter), sd_notify (an
 * AF_UNIX datagram), and threads (clone with CLONE_THREAD only; clone3 answers ENOSYS so
 * that glibc falls back to clone, whose flags a filter can see). With --allow-shell or
 * dbg://, process creation and what ordinary programs use are added (see below).
 *
 * A system call outside the list stops the daemon: SIGSYS, after one log line naming the
 * call. Not EPERM: a call outside the list is either an exploit at work, which must not get
 * a second try, or a gap in the list, which a clear stop with the call's name gets fixed,
 * while an EPERM somewhere deep in glibc or OpenSSL would turn into wrong behaviour that
 * nobody traces back (a reply that says failure for a write that happened). The service
 * manager restarts the daemon (Restart=on-failure).
 *
 * Children ('!' commands, debugged programs) inherit both, as the kernel wants: there is
 * no way to lift either after fork or exec. With --allow-shell or dbg:// the filter
 * therefore also allows what ordinary command-line programs use (files, pipes, process
 * control, terminals' ioctls, sockets; roughly systemd's @system-service without
 * set*id); a program that needs more (mount, ptrace, kernel modules, bpf, reboot, ...) is
 * killed by SIGSYS, which ends that command only.
 *
 * Sanitizer builds (ASan, UBSan) skip the filter, with a note in the log: their run-time
 * stops the world with ptrace for the leak check and may start a symbolizer, which no
 * daemon's allow-list should contain. Landlock stays on there, with this process's /proc
 * directory readable for the same run-time. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/landlock.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if RAPSRV_HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "sandbox.h"

/* ---- Landlock constants newer than the build machine's headers ------------------------ */

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* The ruleset attribute as of ABI 6. Older kernels accept it as long as the fields they do
 * not know are zero (the kernel reads a larger struct only when its tail is zero). */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define LL_FS_ABI1 ((1ULL << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define LL_FILE_RIGHTS (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
			LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
			LANDLOCK_ACCESS_FS_IOCTL_DEV)
#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_WRITE (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
		  LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REMOVE_FILE)

#define MAX_SYSCALL_NAMES 512
#define SYSCALL_NAME_LEN 24

struct sandbox {
	sandbox_log_fn *log;    /* borrowed */
	bool journal;
	int abi;                /* Landlock ABI, or -errno when the kernel has none */
	int ruleset;            /* Landlock ruleset fd, or -1 */
	char landlock_note[200];
#if RAPSRV_HAVE_SECCOMP
	scmp_filter_ctx filter; /* NULL when the filter is skipped */
	unsigned allowed;       /* system calls in the filter */
#endif
	char seccomp_note[200]; /* why the filter is not used, when it is not */
};

static void logf_(struct sandbox *sb, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void logf_(struct sandbox *sb, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sb->log(level, msg);
}

/* ---- Landlock ----------------------------------------------------------------------- */

static int ll_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return abi < 0 ? -errno : (int)abi;
}

static uint64_t ll_handled_fs(int abi)
{
	uint64_t fs = LL_FS_ABI1;
	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return fs;
}

/* Grants access beneath path (or to the file path). missing_ok: a path that does not exist
 * on this system (/lib32) is skipped. */
static int ll_allow(struct sandbox *sb, const char *path, uint64_t access, bool missing_ok)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		if (missing_ok && (err == -ENOENT || err == -ENOTDIR))
			return 0;
		logf_(sb, 3, "sandbox: %s: %s", path, strerror(-err));
		return err;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else {
		if (!S_ISDIR(st.st_mode))
			access &= LL_FILE_RIGHTS;
		struct landlock_path_beneath_attr pb = {
			.allowed_access = access & ll_handled_fs(sb->abi),
			.parent_fd = fd,
		};
		if (pb.allowed_access &&
		    syscall(SYS_landlock_add_rule, sb->ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
			rc = -errno;
	}
	if (rc < 0)
		logf_(sb, 3, "sandbox: Landlock rule for %s: %s", path, strerror(-rc));
	close(fd);
	return rc;
}

/* The directory of path, and the directory of what path resolves to: a renewed certificate
 * may replace the file itself or the target of a symbolic link (certbot's live/ links). */
static int ll_allow_reread(struct sandbox *sb, const char *path)
{
	char copy[PATH_MAX], real[PATH_MAX];
	if (strlen(path) >= sizeof(copy))
		return -ENAMETOOLONG;
	strcpy(copy, path);
	int rc = ll_allow(sb, dirname(copy), LANDLOCK_ACCESS_FS_READ_FILE, false);
	if (rc == 0 && realpath(path, real))
		rc = ll_allow(sb, dirname(real), LANDLOCK_ACCESS_FS_READ_FILE, false);
	return rc;
}

/* What running programs and resolving names need: programs and libraries, the parts of
 * /etc that the dynamic linker, NSS, the resolver and TLS read (not all of /etc: not
 * /etc/shadow, nor keys of other services), and a few devices. */
static int ll_allow_system(struct sandbox *sb, bool execute)
{
	static const char *const code[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
					     "/libx32" };
	static const char *const etc[] = {
		"/etc/ld.so.cache", "/etc/ld.so.preload", "/etc/nsswitch.conf", "/etc/passwd",
		"/etc/group", "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf", "/etc/gai.conf",
		"/etc/services", "/etc/protocols", "/etc/localtime", "/etc/locale.alias",
		"/etc/ssl", "/etc/alternatives",
	};
	uint64_t x = execute ? LANDLOCK_ACCESS_FS_EXECUTE : 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(code) / sizeof(code[0]); i++)
		rc = ll_allow(sb, code[i], LL_READ | x, true);
	for (size_t i = 0; rc == 0 && i < sizeof(etc) / sizeof(etc[0]); i++)
		rc = ll_allow(sb, etc[i], LL_READ, true);
	if (rc == 0 && execute) {
		rc = ll_allow(sb, "/dev/null", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE, true);
		if (rc == 0)
			rc = ll_allow(sb, "/dev/zero", LANDLOCK_ACCESS_FS_READ_FILE, true);
		if (rc == 0)
			rc = ll_allow(sb, "/dev/urandom", LANDLOCK_ACCESS_FS_READ_FILE, true);
	}
	return rc;
}

static int ll_prepare(struct sandbox *sb, const struct sandbox_spec *spec)
{
	sb->abi = ll_abi();
	if (sb->abi < 0) {
		/* ENOSYS: a kernel before 5.13; EOPNOTSUPP: built in but not enabled (lsm=). */
		snprintf(sb->landlock_note, sizeof(sb->landlock_note),
			 "Landlock is not available (%s; it needs Linux 5.13+ with landlock in lsm=, "
			 "and no outer sandbox forbidding it)", strerror(-sb->abi));
		return 0;
	}
	struct ll_ruleset_attr attr = { .handled_access_fs = ll_handled_fs(sb->abi) };
	if (sb->abi >= 4)
		attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP |
					  (spec->outgoing ? 0 : LANDLOCK_ACCESS_NET_CONNECT_TCP);
	if (sb->abi >= 6)
		attr.scoped = LANDLOCK_SCOPE_SIGNAL |
			      (spec->abstract_unix ? 0 : LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET);
	long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (fd < 0) {
		int err = -errno;
		logf_(sb, 3, "sandbox: cannot create a Landlock ruleset: %s", strerror(-err));
		return err;
	}
	sb->ruleset = (int)fd;

	uint64_t root = LL_READ;
	if (spec->write)
		root |= LL_WRITE;
	if (spec->debugger)
		root |= LANDLOCK_ACCESS_FS_EXECUTE;
	int rc = ll_allow(sb, spec->root, root, false);
	for (size_t i = 0; rc == 0 && i < spec->nreread; i++)
		rc = ll_allow_reread(sb, spec->reread[i]);
	if (rc == 0 && (spec->shell || spec->debugger || spec->outgoing))
		rc = ll_allow_system(sb, spec->shell || spec->debugger);
	/* dbg://: the debugged processes' maps and state (dm, dp) under /proc, to read. */
	if (rc == 0 && spec->debugger)
		rc = ll_allow(sb, "/proc", LL_READ, false);
#if RAPSRV_SANITIZED
	/* The sanitizers read /proc/self/maps for reports and /proc/self/task for the leak check. */
	if (rc == 0) {
		char self[32];
		snprintf(self, sizeof(self), "/proc/%d", (int)getpid());
		rc = ll_allow(sb, self, LL_READ, false);
	}
#endif
	snprintf(sb->landlock_note, sizeof(sb->landlock_note),
		 "Landlock ABI %d: files %s beneath %s%s%s%s%s", sb->abi,
		 spec->write ? "read and written" : "read-only", spec->root,
		 spec->nreread ? ", certificate directories readable" : "",
		 spec->shell || spec->debugger ? ", system programs readable and executable"
		 : spec->outgoing ? ", system files readable" : "",
		 sb->abi >= 4 ? (spec->outgoing ? ", TCP bind denied" : ", TCP bind and connect denied")
			      : "",
		 sb->abi >= 6 ? ", signals out denied" : "");
	return rc;
}

static int threads_running(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -errno;
	char line[256];
	int n = -ENOENT;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* ---- seccomp -------------------------------------------------------------------------- */

#if RAPSRV_HAVE_SECCOMP && !RAPSRV_SANITIZED

/* The daemon itself, whatever its options. */
static const char *const calls_daemon[] = {
	/* files and descriptors */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "fcntl",
	"fstat", "newfstatat", "statx", "openat", "openat2", "readlink", "readlinkat", "getcwd",
	"unlink", "unlinkat", "ftruncate", "fsync", "fdatasync",
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
	/* signals (the loop's signalfd; abort and the SIGSYS stop use tgkill) */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "signalfd4", "tgkill",
	"getpid", "gettid", "restart_syscall",
	/* the event loop */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2",
	"poll", "ppoll",
	/* sessions (socket() itself: AF_UNIX only, for sd_notify; see build_filter) */
	"accept4", "accept", "recvfrom", "recvmsg", "sendto", "sendmsg", "shutdown",
	"getsockopt", "setsockopt", "getsockname", "getpeername",
	/* glibc, OpenSSL and threads (clone itself: threads only; see build_filter) */
	"exit", "exit_group", "futex", "set_robust_list", "rseq", "getrandom", "sched_yield",
	"sched_getaffinity", "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres",
	"gettimeofday", "time", "prlimit64", "getrlimit", "sysinfo", "getuid", "geteuid",
	"getgid", "getegid",
};

/* What '!' commands and debugged programs use (they inherit the filter). */
static const char *const calls_programs[] = {
	"fork", "vfork", "execve", "execveat", "wait4", "waitid", "kill", "tkill",
	"set_tid_address", "arch_prctl", "prctl", "pipe", "pipe2", "dup", "dup2", "dup3",
	"close_range", "ioctl", "open", "creat", "stat", "lstat", "access", "faccessat",
	"faccessat2", "statfs", "fstatfs", "getdents", "getdents64", "chdir", "fchdir", "umask",
	"mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat",
	"symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat",
	"lchown", "utimensat", "utimes", "futimesat", "truncate", "fallocate", "fadvise64",
	"copy_file_range", "sendfile", "splice", "tee", "flock", "msync", "mincore",
	"getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
	"uname", "getppid", "getpgrp", "getpgid", "setpgid", "getsid", "setsid", "getgroups",
	"getresuid", "getresgid", "capget", "times", "getrusage", "getitimer", "setitimer",
	"alarm", "pause", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigpending", "select",
	"pselect6", "socket", "socketpair", "connect", "bind", "listen", "sendmmsg",
	"recvmmsg", "memfd_create", "eventfd", "timerfd_create", "timerfd_settime",
	"timerfd_gettime", "getcpu", "getpriority", "sched_getparam", "sched_getscheduler",
};

/* dbg:// on top of the programs it runs. */
static const char *const calls_debugger[] = {
	"ptrace", "process_vm_readv", "process_vm_writev",
};

/* Outgoing connections (rap://, ...): name resolution and connecting; and for raps://
 * verified against the system's trust store, OpenSSL lists its certificate directory when
 * it looks for an issuer the bundle does not hold (an untrusted server's), within what
 * Landlock lets it read. */
static const char *const calls_outgoing[] = {
	"connect", "socket", "sendmmsg", "bind", "uname", "getdents64", "getdents",
};

/* Names this architecture does not have are skipped (aarch64 has no open, fork, ...). */
static int allow_calls(struct sandbox *sb, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;
		int rc = seccomp_rule_add(sb->filter, SCMP_ACT_ALLOW, nr, 0);
		if (rc == -EEXIST)
			continue;
		if (rc < 0) {
			logf_(sb, 3, "sandbox: seccomp rule for %s: %s", names[i], strerror(-rc));
			return rc;
		}
		sb->allowed++;
	}
	return 0;
}

#if defined(__s390__) || defined(__s390x__)
#define CLONE_FLAGS_ARG 1 /* clone(stack, flags, ...) there */
#else
#define CLONE_FLAGS_ARG 0
#endif

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int build_filter(struct sandbox *sb, const struct sandbox_spec *spec)
{
	bool programs = spec->shell || spec->debugger;
	sb->filter = seccomp_init(SCMP_ACT_TRAP);
	if (!sb->filter) {
		logf_(sb, 3, "sandbox: cannot create a seccomp filter");
		return -ENOMEM;
	}
	/* Every thread, including any a library started before. Without seccomp(2) (an outer
	 * filter, as systemd's @system-service, may forbid it) the filter still covers this
	 * thread and all it starts later, which is all of them: sandbox_enter runs before
	 * any other thread exists. */
	int rc = seccomp_attr_set(sb->filter, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == -EOPNOTSUPP)
		rc = 0;
	if (rc == 0)
		rc = allow_calls(sb, calls_daemon, COUNT(calls_daemon));
	if (rc == 0 && programs)
		rc = allow_calls(sb, calls_programs, COUNT(calls_programs));
	if (rc == 0 && spec->debugger)
		rc = allow_calls(sb, calls_debugger, COUNT(calls_debugger));
	if (rc == 0 && spec->outgoing)
		rc = allow_calls(sb, calls_outgoing, COUNT(calls_outgoing));
	/* The worker pool lowers the CPU priority of a thread whose command runs long (a
	 * larger nice value, PRIO_PROCESS on its own thread id); reading it is harmless, and
	 * raising a priority takes a privilege the daemon does not keep. */
	if (rc == 0 && !programs) {
		rc = seccomp_rule_add(sb->filter, SCMP_ACT_ALLOW, SCMP_SYS(getpriority), 1,
				      SCMP_A0(SCMP_CMP_EQ, PRIO_PROCESS));
		sb->allowed++;
	}
	if (rc == 0) {
		rc = seccomp_rule_add(sb->filter, SCMP_ACT_ALLOW, SCMP_SYS(setpriority), 1,
				      SCMP_A0(SCMP_CMP_EQ, PRIO_PROCESS));
		sb->allowed++;
	}
	/* socket(): sd_notify's AF_UNIX datagram; any family when programs or outgoing
	 * connections need it (allowed above, so these rules then add nothing). */
	if (rc == 0 && !programs && !spec->outgoing) {
		rc = seccomp_rule_add(sb->filter, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				      SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
		sb->allowed++;
	}
	/* clone(): threads only (CLONE_THREAD), unless programs are started. */
	if (rc == 0 && !programs) {
		struct scmp_arg_cmp thread = { CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, CLONE_THREAD,
					       CLONE_THREAD };
		rc = seccomp_rule_add_array(sb->filter, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &thread);
		sb->allowed++;
	} else if (rc == 0) {
		rc = seccomp_rule_add(sb->filter, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0);
		sb->allowed++;
	}
	/* clone3's flags sit in memory a filter cannot read: ENOSYS makes glibc use clone. */
	if (rc == 0)
		rc = seccomp_rule_add(sb->filter, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc < 0) {
		logf_(sb, 3, "sandbox: cannot build the seccomp filter: %s", strerror(-rc));
		return rc;
	}
	snprintf(sb->seccomp_note, sizeof(sb->seccomp_note),
		 "seccomp: %u system calls allowed%s; any other stops rapsrv (SIGSYS)",
		 sb->allowed,
		 spec->shell ? ", with what '!' commands run" : spec->debugger ? ", with dbg://" : "");
	return 0;
}

/* Names for the SIGSYS line, looked up before the filter is in force: the handler may run
 * inside malloc, so it only reads this table. Lives until exit, like the filter. */
static char syscall_names[MAX_SYSCALL_NAMES][SYSCALL_NAME_LEN];
static bool sigsys_journal;

static void fill_names(void)
{
	for (int nr = 0; nr < MAX_SYSCALL_NAMES; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (name)
			snprintf(syscall_names[nr], SYSCALL_NAME_LEN, "%s", name);
		free(name);
	}
}

/* Async-signal-safe formatting for the handler. */
static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at + 1 < cap)
		buf[at++] = *s++;
	return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, long long v, int width)
{
	char tmp[24];
	int n = 0;
	bool neg = v < 0;
	unsigned long long u = neg ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u && n < (int)sizeof(tmp));
	while (n < width && n < (int)sizeof(tmp))
		tmp[n++] = '0';
	if (neg && at + 1 < cap)
		buf[at++] = '-';
	while (n > 0 && at + 1 < cap)
		buf[at++] = tmp[--n];
	return at;
}

/* rapsrv's log line format ("2026-01-31T12:00:00Z rapsrv[PID] error: ..."), from a clock
 * read and days-to-date arithmetic instead of gmtime_r, which is not async-signal-safe. */
static size_t put_stamp(char *buf, size_t at, size_t cap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long secs = ts.tv_sec, days = secs / 86400, rem = secs % 86400;
	/* civil_from_days (proleptic Gregorian), valid for the years a server runs in. */
	long long z = days + 719468, era = z / 146097, doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	long long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	long long y = yoe + era * 400 + (m <= 2);
	at = put_num(buf, at, cap, y, 4);
	at = put_str(buf, at, cap, "-");
	at = put_num(buf, at, cap, m, 2);
	at = put_str(buf, at, cap, "-");
	at = put_num(buf, at, cap, d, 2);
	at = put_str(buf, at, cap, "T");
	at = put_num(buf, at, cap, rem / 3600, 2);
	at = put_str(buf, at, cap, ":");
	at = put_num(buf, at, cap, rem / 60 % 60, 2);
	at = put_str(buf, at, cap, ":");
	at = put_num(buf, at, cap, rem % 60, 2);
	return put_str(buf, at, cap, "Z");
}

/* One line, then death by SIGSYS (SA_RESETHAND made the disposition the default again,
 * SA_NODEFER left the signal unblocked). */
static void on_sigsys(int signo, siginfo_t *si, void *uctx)
{
	(void)uctx;
	int saved = errno;
	char line[256];
	size_t at = 0;
	int nr = si->si_syscall;
	const char *name = nr >= 0 && nr < MAX_SYSCALL_NAMES && syscall_names[nr][0]
		? syscall_names[nr] : "?";
	if (sigsys_journal) {
		at = put_str(line, at, sizeof(line), "<2>");
	} else {
		at = put_stamp(line, at, sizeof(line));
		at = put_str(line, at, sizeof(line), " rapsrv[");
		at = put_num(line, at, sizeof(line), (long long)getpid(), 1);
		at = put_str(line, at, sizeof(line), "] critical: ");
	}
	at = put_str(line, at, sizeof(line), "sandbox: system call ");
	at = put_str(line, at, sizeof(line), name);
	at = put_str(line, at, sizeof(line), " (");
	at = put_num(line, at, sizeof(line), nr, 1);
	at = put_str(line, at, sizeof(line), ") is not allowed; stopping (SIGSYS)\n");
	ssize_t ignored = write(STDERR_FILENO, line, at);
	(void)ignored;
	syscall(SYS_tgkill, getpid(), gettid(), signo);
	errno = saved;
}

/* Returns 0 with the filter in force, 1 when this platform cannot load one (said in
 * seccomp_note), or a negative error. */
static int load_filter(struct sandbox *sb)
{
	fill_names();
	sigsys_journal = sb->journal;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	/* A SIGSYS left blocked would make the kernel kill without the line: unblock it. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	int rc = seccomp_load(sb->filter);
	if (rc == -EPERM || rc == -EACCES || rc == -EINVAL || rc == -ENOSYS || rc == -EOPNOTSUPP) {
		/* A kernel without seccomp filters, or an outer sandbox that forbids adding one:
		 * what the platform lacks is logged, and the daemon carries on. */
		snprintf(sb->seccomp_note, sizeof(sb->seccomp_note),
			 "the seccomp filter cannot be loaded here (%s; a kernel without "
			 "CONFIG_SECCOMP_FILTER, or an outer sandbox forbidding it): system calls "
			 "are not filtered", strerror(-rc));
		return 1;
	}
	if (rc < 0)
		logf_(sb, 3, "sandbox: cannot load the seccomp filter: %s", strerror(-rc));
	return rc;
}

#endif /* RAPSRV_HAVE_SECCOMP && !RAPSRV_SANITIZED */

static int seccomp_prepare(struct sandbox *sb, const struct sandbox_spec *spec)
{
#if !RAPSRV_HAVE_SECCOMP
	(void)spec;
	snprintf(sb->seccomp_note, sizeof(sb->seccomp_note),
		 "seccomp is not in this build (built without libseccomp): system calls are not "
		 "filtered");
	return 0;
#elif RAPSRV_SANITIZED
	(void)spec;
	snprintf(sb->seccomp_note, sizeof(sb->seccomp_note),
		 "seccomp skipped in this sanitizer build (the sanitizers' leak check and "
		 "symbolizer need system calls the filter forbids)");
	return 0;
#else
	return build_filter(sb, spec);
#endif
}

/* ---- the sandbox ---------------------------------------------------------------------- */

int sandbox_prepare(const struct sandbox_spec *spec, sandbox_log_fn *log, struct sandbox **out)
{
	*out = NULL;
	struct sandbox *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->log = log;
	sb->journal = spec->journal;
	sb->ruleset = -1;
	int rc = ll_prepare(sb, spec);
	if (rc == 0)
		rc = seccomp_prepare(sb, spec);
	if (rc < 0) {
		sandbox_free(sb);
		return rc;
	}
	*out = sb;
	return 0;
}

int sandbox_enter(struct sandbox *sb)
{
	/* (Unknown when /proc is missing: rapsrv itself starts no thread before this.) */
	int n = threads_running();
	if (n > 1) {
		logf_(sb, 3, "sandbox: %d threads already run; Landlock and a filter without "
			     "seccomp(2) would confine only this one", n);
		return -EBUSY;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int err = -errno;
		logf_(sb, 3, "sandbox: cannot set no_new_privs: %s", strerror(-err));
		return err;
	}
	if (sb->ruleset >= 0) {
		if (syscall(SYS_landlock_restrict_self, sb->ruleset, 0) < 0) {
			int err = -errno;
			logf_(sb, 3, "sandbox: cannot enforce the Landlock rules: %s", strerror(-err));
			return err;
		}
		logf_(sb, 7, "sandbox: %s", sb->landlock_note);
	} else {
		logf_(sb, 4, "sandbox: %s: files are confined by rapsrv's own path checks only",
		      sb->landlock_note);
	}
#if RAPSRV_HAVE_SECCOMP && !RAPSRV_SANITIZED
	int rc = load_filter(sb);
	if (rc < 0)
		return rc;
	logf_(sb, rc == 0 ? 7 : 4, "sandbox: %s", sb->seccomp_note);
#else
	logf_(sb, RAPSRV_SANITIZED ? 7 : 4, "sandbox: %s", sb->seccomp_note);
#endif
	return 0;
}

void sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return;
	if (sb->ruleset >= 0)
		close(sb->ruleset);
#if RAPSRV_HAVE_SECCOMP
	if (sb->filter)
		seccomp_release(sb->filter);
#endif
	free(sb);
}
