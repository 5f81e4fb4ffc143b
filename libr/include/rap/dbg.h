/* librap-io: the debugging backend. One struct rap_dbg is one traced process (Linux,
 * ptrace), started stopped at its first instruction or attached to.
 *
 * Used by the dbg:// IO plugin, by libcore's d* commands and by the GDB remote server.
 * Errors follow rap.h: 0 or a count on success, RAP_E* or -errno on failure. Where ptrace
 * is not permitted (no CAP_SYS_PTRACE in a container, kernel.yama.ptrace_scope), start and
 * attach fail with -EPERM and rap_dbg_ptrace_denied_reason() says why in one sentence.
 *
 * Threads: every function may be called from any thread. Each rap_dbg owns one tracer
 * thread that performs every ptrace and waitpid call (ptrace requests are only accepted from
 * the thread that attached); calls hand it their request and wait for the answer. Requests
 * are served one at a time, except rap_dbg_interrupt and rap_dbg_free, which work while a
 * rap_dbg_cont is waiting for the process to stop.
 *
 * Lifetime: a started process never outlives its rap_dbg (rap_dbg_free kills and reaps it;
 * it also dies with SIGKILL when the tracer thread ends, PR_SET_PDEATHSIG); an attached one
 * is detached, breakpoints removed, and left running. */
#ifndef RAP_DBG_H
#define RAP_DBG_H

#include <rap/rap.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rap_dbg;

/* ---- architecture ------------------------------------------------------------------- */

/* What a register is for (radare2's drp roles); RAP_DBG_ROLE_NONE for the rest. */
enum rap_dbg_role {
	RAP_DBG_ROLE_NONE = 0,
	RAP_DBG_ROLE_PC, /* =PC */
	RAP_DBG_ROLE_SP, /* =SP */
	RAP_DBG_ROLE_BP, /* =BP */
	RAP_DBG_ROLE_R0, /* =R0, return value */
	RAP_DBG_ROLE_A0, /* =A0 .. =A5: arguments (A0 + n) */
	RAP_DBG_ROLE_A1,
	RAP_DBG_ROLE_A2,
	RAP_DBG_ROLE_A3,
	RAP_DBG_ROLE_A4,
	RAP_DBG_ROLE_A5,
	RAP_DBG_ROLE_SN, /* =SN, system call number */
};

/* One register. Names are radare2's (x86-64: rax ... rip, rflags, orax). */
struct rap_dbg_reg {
	const char *name;
	unsigned bits;           /* 8 .. 128; values wider than 64 bits only in the gdb file */
	int gdb_num;             /* position in the gdb register file, -1 when not in it */
	const char *gdb_name;    /* name in target.xml (may differ: eflags for rflags) */
	const char *gdb_type;    /* target.xml type: "int64", "code_ptr", "i387_ext", ... */
	bool in_dr;              /* listed by plain "dr" (radare2's gpr dump) */
	enum rap_dbg_role role;
};

/* An architecture's table. Static; never freed. */
struct rap_dbg_arch {
	const char *name;             /* "x86_64", "aarch64", "arm" */
	const char *gdb_arch;         /* target.xml <architecture>: "i386:x86-64" */
	const struct rap_dbg_reg *regs; /* radare2's dr order */
	size_t nregs;
	size_t gdb_regs_size;         /* bytes of the gdb register file (g packet, raw) */
	const char *target_xml;       /* full target.xml for qXfer:features:read */
	const char *profile_note;     /* last line of drp ("# no profile defined for x86-64") */
	unsigned pc_bits;             /* 64 or 32: width addresses are printed with */
};

/* The architecture this build debugs (the host's), or NULL where debugging is not built. */
RAP_API const struct rap_dbg_arch *rap_dbg_host_arch(void);
/* The table of d's process. Borrowed, static. */
RAP_API const struct rap_dbg_arch *rap_dbg_arch(const struct rap_dbg *d);
/* The register called name in arch (radare2's name, or its gdb name), or NULL. */
RAP_API const struct rap_dbg_reg *rap_dbg_arch_reg(const struct rap_dbg_arch *arch, const char *name);
/* The register of arch with this role, or NULL. */
RAP_API const struct rap_dbg_reg *rap_dbg_arch_role(const struct rap_dbg_arch *arch, enum rap_dbg_role role);

/* ---- starting, attaching, ending ---------------------------------------------------- */

struct rap_dbg_start_opts {
	/* The program's stdout and stderr (duplicated in the child; borrowed). -1: /dev/null.
	 * stdin is always /dev/null (or, where that cannot be opened, an empty pipe). */
	int out_fd;
	/* The program's environment (borrowed, NULL-terminated). NULL: a minimal one
	 * (PATH=/usr/bin:/bin and nothing else). */
	const char *const *envp;
};

/* Whether this kernel lets us trace, checked without tracing anything (Yama's
 * ptrace_scope, the capability set). NULL when it seems allowed, else one sentence, static:
 * "ptrace is not permitted: kernel.yama.ptrace_scope is 3 (no process may be traced)". */
RAP_API const char *rap_dbg_ptrace_denied_reason(void);

/* Starts the program open at prog_fd (borrowed, the caller closes it after the call; open it
 * confined with rap_io_open_local: it is executed with execveat(AT_EMPTY_PATH), so no path
 * is resolved again) with argv (borrowed, NULL-terminated, argv[0] required) and opts (NULL:
 * defaults). The process is stopped at its first instruction (the dynamic loader's entry
 * for a dynamic program). *out owned by the caller (rap_dbg_free).
 * Errors: RAP_EINVAL, RAP_ENOMEM, RAP_ENOTSUP (not built for this architecture), -EPERM
 * (ptrace not permitted), -EACCES/-ENOEXEC (exec failed: the child's errno), -errno. */
RAP_API int rap_dbg_start(int prog_fd, const char *const *argv, const struct rap_dbg_start_opts *opts,
                          struct rap_dbg **out);

/* Attaches to the running process pid and stops it. *out owned by the caller.
 * Errors: RAP_EINVAL (pid <= 0 or ourselves), -ESRCH (no such process), -EPERM (not
 * permitted), RAP_ENOMEM, RAP_ENOTSUP, -errno. */
RAP_API int rap_dbg_attach(pid_t pid, struct rap_dbg **out);

/* Ends d: a started process is killed and reaped; an attached one has its breakpoints
 * removed and is detached (left running). Interrupts a rap_dbg_cont in progress in another
 * thread, which then returns RAP_ECLOSED; the caller must make sure no other call on d
 * starts after rap_dbg_free begins. NULL is a no-op. */
RAP_API void rap_dbg_free(struct rap_dbg *d);

/* The traced process's id (still valid after it exited: the id it had). */
RAP_API pid_t rap_dbg_pid(const struct rap_dbg *d);
/* Whether the process was started by us (true) or attached to (false). */
RAP_API bool rap_dbg_started(const struct rap_dbg *d);
/* Whether the process is gone (exited or killed); then only rap_dbg_free, rap_dbg_pid and
 * rap_dbg_last_stop mean anything, and the rest fail with -ESRCH. */
RAP_API bool rap_dbg_exited(const struct rap_dbg *d);

/* ---- memory ------------------------------------------------------------------------- */

/* Reads len bytes at addr of the process's memory into buf. Reads across page boundaries;
 * stops at the first unmapped byte: returns how many bytes were read (0 when addr itself is
 * unmapped), never fails for an unmapped range. Software breakpoints are invisible: their
 * bytes read as the original ones. Errors: -ESRCH (process gone), RAP_EINVAL. */
RAP_API ssize_t rap_dbg_read(struct rap_dbg *d, uint64_t addr, void *buf, size_t len);
/* Writes len bytes at addr; short at the first unwritable byte, like rap_dbg_read. Writing
 * over a breakpoint updates the saved original byte and keeps the breakpoint.
 * Errors: -ESRCH, RAP_EINVAL. */
RAP_API ssize_t rap_dbg_write(struct rap_dbg *d, uint64_t addr, const void *buf, size_t len);

/* ---- registers ---------------------------------------------------------------------- */

/* Reads/writes the register called name (see rap_dbg_arch_reg; at most 64 bits wide).
 * After a software breakpoint hit, the PC already reads as the breakpoint's address.
 * Errors: RAP_EINVAL (unknown name or a register wider than 64 bits), -ESRCH, -errno. */
RAP_API int rap_dbg_reg_get(struct rap_dbg *d, const char *name, uint64_t *val);
RAP_API int rap_dbg_reg_set(struct rap_dbg *d, const char *name, uint64_t val);

/* The whole register file in the gdb order and layout of the architecture (target byte
 * order, arch->gdb_regs_size bytes): the g packet's payload, raw. buf holds cap bytes.
 * Returns the size. Errors: RAP_ENOSPC (cap too small), -ESRCH, -errno. */
RAP_API ssize_t rap_dbg_regs_gdb_get(struct rap_dbg *d, void *buf, size_t cap);
/* Writes the whole register file from buf (len must be arch->gdb_regs_size).
 * Errors: RAP_EINVAL (wrong length), -ESRCH, -errno. */
RAP_API int rap_dbg_regs_gdb_set(struct rap_dbg *d, const void *buf, size_t len);

/* ---- running ------------------------------------------------------------------------ */

enum rap_dbg_stop_kind {
	RAP_DBG_STOP_STEP,        /* a single step completed */
	RAP_DBG_STOP_BREAKPOINT,  /* a software breakpoint hit; pc is its address */
	RAP_DBG_STOP_SIGNAL,      /* a signal arrived (signo); it is delivered on the next run */
	RAP_DBG_STOP_INTERRUPTED, /* rap_dbg_interrupt stopped it (signo SIGINT, not delivered) */
	RAP_DBG_STOP_EXITED,      /* exited: status is the exit status (0..255) */
	RAP_DBG_STOP_KILLED,      /* killed by signal signo */
};

struct rap_dbg_stop {
	enum rap_dbg_stop_kind kind;
	int signo;    /* SIGNAL, KILLED, INTERRUPTED (SIGINT); SIGTRAP for STEP/BREAKPOINT */
	int status;   /* EXITED: exit status */
	uint64_t pc;  /* where it stopped (0 once gone) */
	/* SIGNAL: the signal's siginfo (PTRACE_GETSIGINFO; zero when unavailable). */
	int sig_errno, sig_code, sig_pid; /* si_errno, si_code, si_pid (when the sender set it) */
	uint64_t sig_addr;                /* si_addr */
};

/* Executes one instruction. A pending signal (from the last stop) is delivered. Stepping
 * from a breakpoint's address executes the original instruction and re-inserts the
 * breakpoint. Errors: -ESRCH (process gone), RAP_ENOTSUP (32-bit ARM: the kernel does not
 * single-step; also rap_dbg_cont from a breakpoint's address there), -errno. */
RAP_API int rap_dbg_step(struct rap_dbg *d, struct rap_dbg_stop *stop);
/* Continues until a breakpoint, a signal, rap_dbg_interrupt or the end of the process. sig
 * > 0 is delivered on resuming instead of the pending one, 0 delivers the pending one, -1
 * discards it. Errors: -ESRCH, RAP_ECLOSED (rap_dbg_free ended it), -errno. */
RAP_API int rap_dbg_cont(struct rap_dbg *d, int sig, struct rap_dbg_stop *stop);
/* Stops a running rap_dbg_cont (which returns RAP_DBG_STOP_INTERRUPTED; the process got a
 * SIGSTOP, which is not delivered). From any thread, at any time, but not from a signal
 * handler (it takes a mutex): a handler sets a flag that a thread acts on. A no-op when
 * nothing runs: an interrupt that arrives while no cont is in progress is not remembered. */
RAP_API void rap_dbg_interrupt(struct rap_dbg *d);
/* Sends sig to the process (kill(2)); it is seen by the next step or cont. SIGKILL ends it:
 * the next cont reports KILLED. Errors: RAP_EINVAL, -ESRCH. */
RAP_API int rap_dbg_kill(struct rap_dbg *d, int sig);
/* The last stop reported (or the initial stop after start/attach: kind SIGNAL, signo
 * SIGTRAP or SIGSTOP, which is not delivered). */
RAP_API void rap_dbg_last_stop(const struct rap_dbg *d, struct rap_dbg_stop *stop);

/* ---- breakpoints -------------------------------------------------------------------- */

/* Inserts a software breakpoint at addr. Errors: RAP_EINVAL (already one there), -EFAULT
 * (addr not writable/mapped), RAP_ENOSPC (at most 256), -ESRCH. */
RAP_API int rap_dbg_bp_add(struct rap_dbg *d, uint64_t addr);
/* Removes it, restoring the original bytes. Errors: RAP_EINVAL (none there), -ESRCH. */
RAP_API int rap_dbg_bp_del(struct rap_dbg *d, uint64_t addr);
/* Breakpoint addresses in ascending order: writes up to cap, returns how many there are. */
RAP_API size_t rap_dbg_bp_list(struct rap_dbg *d, uint64_t *addrs, size_t cap);

/* ---- through libio ------------------------------------------------------------------ */

struct rap_io;

/* The process behind io's descriptor fd when it is a dbg:// file, else NULL. Borrowed:
 * valid while fd is open (closing it frees the process; a rap_dbg_cont in progress then
 * returns RAP_ECLOSED and its caller must not touch the pointer again). */
RAP_API struct rap_dbg *rap_io_dbg(struct rap_io *io, int fd);

/* ---- maps --------------------------------------------------------------------------- */

struct rap_dbg_map {
	uint64_t start, end; /* [start, end) */
	char perm[5];        /* "r-xp" as in /proc/PID/maps */
	uint64_t offset;     /* file offset */
	char *name;          /* heap; "" for anonymous maps, "[stack]" ... */
};

/* The process's memory maps (/proc/PID/maps). *out heap array of *n entries, released with
 * rap_dbg_maps_free. Errors: RAP_ENOMEM, -ESRCH, -errno. */
RAP_API int rap_dbg_maps(struct rap_dbg *d, struct rap_dbg_map **out, size_t *n);
RAP_API void rap_dbg_maps_free(struct rap_dbg_map *maps, size_t n);

#ifdef __cplusplus
}
#endif

#endif
