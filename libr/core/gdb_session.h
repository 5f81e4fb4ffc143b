/* One gdb connection's protocol engine (librap-core only, never installed): bytes from gdb
 * in, bytes for gdb out, requests carried out on a target through a table of operations
 * (rap/dbg.h's functions in the server, a fake machine in the unit tests). It never
 * touches a socket and never blocks but in the target's own calls: the one that runs the
 * target (continue, step) is handed back to the caller (RAP__GDB_RESUME), which watches
 * the connection for gdb's interrupt meanwhile. Files:
 *   gdb_session.c   this engine
 *   gdb_signal.c    host signal numbers <-> GDB's
 *   gdb_target.c    the operations over rap/dbg.h
 *   servers_gdb.c   =g: listening, one connection at a time, the interrupt watcher */
#ifndef RAP_CORE_GDB_SESSION_H
#define RAP_CORE_GDB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rap/dbg.h>

#include "common.h"

/* What the engine asks of a target; t is the target's own pointer. Shapes and errors are
 * rap/dbg.h's functions of the same names. */
struct rap__gdb_target_ops {
	const struct rap_dbg_arch *(*arch)(void *t);
	ssize_t (*read)(void *t, uint64_t addr, void *buf, size_t len);
	ssize_t (*write)(void *t, uint64_t addr, const void *buf, size_t len);
	ssize_t (*regs_get)(void *t, void *buf, size_t cap);
	int (*regs_set)(void *t, const void *buf, size_t len);
	int (*step)(void *t, struct rap_dbg_stop *stop);
	int (*cont)(void *t, int sig, struct rap_dbg_stop *stop);
	void (*interrupt)(void *t); /* any thread */
	int (*kill)(void *t, int sig);
	int (*bp_add)(void *t, uint64_t addr);
	int (*bp_del)(void *t, uint64_t addr);
	pid_t (*pid)(void *t);
	bool (*started)(void *t);
	bool (*exited)(void *t);
	void (*last_stop)(void *t, struct rap_dbg_stop *stop);
};

/* Starts programs for extended mode (gdb's '!' and vRun): launch starts argv (argv[0] the
 * file gdb named, "" for the default one) and gives its target in *t, or fails with an
 * error (the old target was released before); release ends a target (kills the program).
 * user is passed to both. */
struct rap__gdb_launcher {
	int (*launch)(void *user, const char *const *argv, void **t);
	void (*release)(void *user, void *t);
	void *user;
};

/* rap/dbg.h's functions as such a table (gdb_target.c); t is a struct rap_dbg. */
extern const struct rap__gdb_target_ops rap__gdb_dbg_ops;

/* ---- gdb_signal.c --------------------------------------------------------------------- */

/* The GDB number of host signal sig (GDB_SIGNAL_UNKNOWN, 143, for one it has no name for). */
int rap__gdb_signal_from_host(int sig);
/* The host signal of GDB number g, or 0 when this host has none. */
int rap__gdb_signal_to_host(int g);

/* ---- gdb_session.c -------------------------------------------------------------------- */

/* rap__gdb_session_input's results besides 0 and errors. */
#define RAP__GDB_RESUME 1 /* a continue or step is pending: call rap__gdb_session_resume */
#define RAP__GDB_CLOSE 2  /* gdb killed or detached: send the output, then close */

struct rap__gdb_session;

/* A session on target t (borrowed; ops static) accepting packets of up to packet_max bytes
 * (advertised as PacketSize). t may be NULL (no program yet) only with a launcher, set
 * next. *out owned by the caller (rap__gdb_session_free). Errors: RAP_EINVAL, RAP_ENOMEM. */
int rap__gdb_session_new(const struct rap__gdb_target_ops *ops, void *t, size_t packet_max,
			 struct rap__gdb_session **out);

/* Allows extended mode: vRun starts programs through l (copied; NULL: none, the default).
 * The session's targets then belong to the launcher: each is released when vRun replaces
 * it; the last one is the caller's (rap__gdb_session_target). */
void rap__gdb_session_set_launcher(struct rap__gdb_session *s, const struct rap__gdb_launcher *l);

/* The current target (NULL: none). */
void *rap__gdb_session_target(const struct rap__gdb_session *s);
void rap__gdb_session_free(struct rap__gdb_session *s);

/* Consumes in[0..len) up to the end of the request that needs the caller (*consumed says
 * how far), appending every byte to send to out (acks, replies). Returns 0 (all consumed),
 * RAP__GDB_RESUME, RAP__GDB_CLOSE, or RAP_ENOMEM / RAP_ETOOBIG (out is full). */
int rap__gdb_session_input(struct rap__gdb_session *s, const uint8_t *in, size_t len, size_t *consumed,
			   struct rap__buf *out);

/* Runs the pending continue or step on the target (blocking until it stops) and appends
 * the stop reply to out. Errors: RAP_ENOMEM, RAP_ETOOBIG; a failing target is reported to
 * gdb as an error reply or an exit, not here. */
int rap__gdb_session_resume(struct rap__gdb_session *s, struct rap__buf *out);

/* Whether the target runs (between RAP__GDB_RESUME and the end of rap__gdb_session_resume). */
bool rap__gdb_session_running(const struct rap__gdb_session *s);

/* Requests answered and bad packets seen, for the log. */
void rap__gdb_session_stats(const struct rap__gdb_session *s, size_t *packets, size_t *bad);

#endif
