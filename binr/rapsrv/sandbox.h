/* rapsrv's confinement of itself, applied once it has bound its listeners, loaded its
 * certificates and dropped privileges: Landlock limits the file system (and TCP) to what
 * serving needs, and a seccomp filter limits the system calls to those the daemon makes.
 * Where the kernel or the build lacks one of them, that one is logged once and skipped:
 * the daemon still runs, confined by its own path checks.
 * Errors follow rap.h: 0 on success, -errno on failure. */
#ifndef RAPSRV_SANDBOX_H
#define RAPSRV_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* What the daemon must still be able to do once confined. Pointers are borrowed for the
 * duration of sandbox_prepare only. */
struct sandbox_spec {
	const char *root;          /* --root: files are read beneath it */
	bool write;                /* --write: and created, written, truncated, removed */
	const char *const *reread; /* certificate, key and CA files, read again on SIGHUP */
	size_t nreread;
	bool shell;                /* --allow-shell: '!' runs /bin/sh and other programs */
	bool debugger;             /* dbg in --allow-scheme: ptrace, and programs beneath root */
	bool outgoing;             /* a scheme that connects out (rap, raps, tcp, ...) */
	bool abstract_unix;        /* $NOTIFY_SOCKET is in the abstract namespace ('@') */
	bool journal;              /* stderr is the journal: the SIGSYS line says <2>, no stamp */
};

/* Receives one line (no newline) at a syslog level: 3 error, 4 warning, 5 notice, 6 info,
 * 7 debug. */
typedef void sandbox_log_fn(int level, const char *msg);

struct sandbox;

/* Before privileges are dropped: opens the directories and files the rules name (so a root
 * or certificate only root can open still gets its rule) and builds the Landlock rules and
 * the seccomp filter. Nothing is enforced yet. log is kept (borrowed) for sandbox_enter.
 * *out is heap, released with sandbox_free. Errors: -ENOMEM, -errno of a path in spec that
 * cannot be opened, of a Landlock rule or of building the filter. A kernel without Landlock
 * is not an error: it is logged, and sandbox_enter applies the filter alone. */
int sandbox_prepare(const struct sandbox_spec *spec, sandbox_log_fn *log, struct sandbox **out);

/* After privileges are dropped, while the process has one thread (Landlock confines the
 * calling thread and the threads it starts later, not threads already running): sets
 * no_new_privs, restricts the process with Landlock, then loads the seccomp filter (for
 * every thread). Irreversible. Logs what is in force. Errors: -EBUSY (more than one
 * thread), -errno of prctl, landlock_restrict_self or seccomp. */
int sandbox_enter(struct sandbox *sb);

/* Releases what sandbox_prepare built; what sandbox_enter enforced stays in force. */
void sandbox_free(struct sandbox *sb);

#endif
