/* rapsrv's gdbserver (--gdb): listeners whose every connection debugs the --gdb-program,
 * beneath --root, in a session thread of its own (rap_core_gdb_serve). */
#ifndef RAPSRV_GDB_H
#define RAPSRV_GDB_H

#include <stdbool.h>
#include <stddef.h>

#include <rap/io.h>
#include <rap/loop.h>
#include <rap/server.h>

struct rapsrv_gdb;

struct rapsrv_gdb_config {
	const char *program;           /* path beneath the root (borrowed), or NULL: gdb names
					* the program (extended-remote) */
	struct rap_io *root;           /* opens the program, confined (borrowed) */
	/* The daemon's RAP server (borrowed), whose --allow-from networks gdb's clients must
	 * be in too (rap_server_peer_allowed). */
	const struct rap_server *server;
	size_t max_sessions;           /* gdb sessions at once */
	int out_fd;                    /* the programs' output (borrowed), -1: discarded */
	/* One log line (level as syslog's); peer may be NULL. */
	void (*log)(int level, const char *peer, const char *msg);
};

/* Serves gdb on the listening sockets fds[0..n) (owned from now on, also on failure) on
 * loop (borrowed; its thread accepts). cfg is copied (its pointers stay borrowed). *out
 * is freed with rapsrv_gdb_free. Errors: RAP_ENOMEM, RAP_EINVAL, -errno. */
int rapsrv_gdb_start(struct rap_loop *loop, const int *fds, size_t n, const struct rapsrv_gdb_config *cfg,
		     struct rapsrv_gdb **out);

/* Stops accepting and ends every session (their programs are killed); returns at once.
 * The loop's thread only. */
void rapsrv_gdb_stop(struct rapsrv_gdb *g);

/* Stops, waits for every session thread, closes everything. NULL is ignored. */
void rapsrv_gdb_free(struct rapsrv_gdb *g);

#endif
