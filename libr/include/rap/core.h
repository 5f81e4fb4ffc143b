/* librap-core: the command language (radare2-compatible where it overlaps), the command
 * policy for commands that arrive from the network, and the glue that serves a core over RAP.
 * Errors follow rap.h: 0 or a count on success, RAP_E* or -errno on failure. */
#ifndef RAP_CORE_H
#define RAP_CORE_H

#include <stdio.h>

#include <rap/io.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One interpreter: an IO instance, the current file and position, the block size,
 * configuration variables, and (later) the remote-host table and servers it started. */
struct rap_core;

/* Which commands a core accepts (see doc: "Policy for commands that arrive from the
 * network"). Local use is RAP_CORE_POLICY_ALL with shell allowed. */
enum rap_core_policy {
	RAP_CORE_POLICY_NONE = 0,  /* every command refused */
	RAP_CORE_POLICY_READ = 1,  /* inspection: s b px p8 pr x / /x /w ph i o ? ?V ?e i* f* om*,
				    * e (reading; setting search.*, which only scopes searches) */
	RAP_CORE_POLICY_WRITE = 2, /* adds w* wx wz, o URI, o-FD */
	RAP_CORE_POLICY_ALL = 3,   /* everything except ! (see rap_core_set_allow_shell) */
};

/* Creates a core with its own rap_io (default policy: ALL, shell allowed, output to
 * stdout/stderr). Free with rap_core_free(). Errors: RAP_ENOMEM. */
RAP_API int rap_core_new(struct rap_core **out);
/* As rap_core_new, without what only an interactive client needs: the '=' family of
 * commands (remote hosts, background servers, the remote-command mode: they fail, saying
 * this program has none), the progress bars of long commands on a terminal, and rap://
 * files (the core's IO instance has the file, malloc:// and dbg:// plugins only). The other
 * commands are the same. For daemons (rapsrv's sessions): a program linked statically
 * that makes its cores only with this one leaves that code out. */
RAP_API int rap_core_new_lean(struct rap_core **out);
RAP_API void rap_core_free(struct rap_core *c);

/* The core's IO instance (borrowed; set its policy before opening files). */
RAP_API struct rap_io *rap_core_io(struct rap_core *c);

/* Command policy and the separate switch for "!" shell commands. */
RAP_API void rap_core_set_policy(struct rap_core *c, enum rap_core_policy level);
RAP_API void rap_core_set_allow_shell(struct rap_core *c, bool allow);

/* Lets a served core (rap_core_set_served) open character and block devices (a flash
 * partition, a disk image's device) with OPEN and "o", as io.special does for local use;
 * FIFOs and sockets never open, and the local files of "> FILE", wtf and wff stay regular
 * files. Off by default; inherited by the cores made from this one. */
RAP_API void rap_core_set_allow_devices(struct rap_core *c, bool allow);

/* Confines the local files commands read and write ("> FILE", "wtf", "wff") to the IO's
 * policy: they open through rap_io_open_local (beneath its root, when it has one), and
 * writing them needs the IO's write permission. For cores that serve clients; off by
 * default (local use), inherited by the cores a server makes from this one. */
RAP_API void rap_core_set_confined(struct rap_core *c, bool confined);

/* Marks c as a core that serves a network client, for good (there is no way to clear the
 * mark): a rapsrv session's, a core given to rap_core_rap_handler (which marks it itself),
 * the cores of servers started with =: =t =h. Such a core, whatever its policy level:
 * - refuses every command that would start a server or open a connection (=+, =N, =<,
 *   ==, =!=N, =:HOST:PORT, =r, =t, =:PORT, =&..., .:, =h, =H, =g) and network opens
 *   (o rap://...; only local files and malloc://), with a one-line reason;
 * - never raises a policy: srv.cmd and srv.shell read as at most its own level and shell
 *   switch, io.special as false, and setting them higher fails;
 * - is confined (rap_core_set_confined can no longer turn that off) and opens no FIFO,
 *   device or socket.
 * Cores made from it inherit the mark. rap_core_served tells whether c has it. */
RAP_API void rap_core_set_served(struct rap_core *c);
RAP_API bool rap_core_served(const struct rap_core *c);

/* Where rap_core_cmd prints (borrowed FILE pointers; default stdout, stderr). */
RAP_API void rap_core_set_output(struct rap_core *c, FILE *out, FILE *err);

/* Opens uri with perm and makes it the current file at position 0. Returns the fd. A local
 * path must name a regular file unless "e io.special=true" (devices then open too).
 * Errors: those of rap_io_open_ex; RAP_EDENIED for a network file in a served core;
 * -EMFILE past a served session's 64 files. */
RAP_API int rap_core_open(struct rap_core *c, const char *uri, int perm);

/* Runs one command line (with ';', '@', '~', '>' and '#'), printing to the core's output.
 * Returns 0 when every command succeeded, otherwise the first failure (RAP_E* or -errno);
 * the reason has already been printed on the error stream. */
RAP_API int rap_core_cmd(struct rap_core *c, const char *line);

/* Like rap_core_cmd but captures the output: *out and *err (either may be NULL to discard)
 * receive heap text, "" when nothing was printed. With an output cap (see
 * rap_core_set_output_max) a line whose output grows past it stops there: no further
 * command runs, a long px/p8/pr stops early, the output is cut (at a line end) so that
 * output and error text together stay below the cap, *err ends with "error: output exceeds
 * N bytes; command stopped", and the result is RAP_ETOOBIG. */
RAP_API int rap_core_cmd_str(struct rap_core *c, const char *line, char **out, char **err);

/* The cap on what rap_core_cmd_str captures (output and error text together), in bytes;
 * 0 = unlimited, which is the default of a core (local use). rap_core_cmd printing to a
 * FILE is never capped. */
RAP_API void rap_core_set_output_max(struct rap_core *c, size_t bytes);

/* The cap rap_core_rap_handler's CMD applies to a core on which rap_core_set_output_max was
 * never called: a client's default largest reply (64 MiB), so a line such as
 * "px 0x1000000;px 0x1000000;..." cannot make the server buffer gigabytes. */
#define RAP_CORE_SERVE_OUTPUT_MAX ((size_t)64 << 20)

/* Asks the command line running on c (in another thread, or the signal handler of the
 * thread running it) to stop: long prints (px, p8, pr), searches and hashes (/, /x, /w,
 * ph), wtf and wff transfers and the rest of a ';' list stop at their next piece, say so
 * on the error stream ("error: interrupted ..."), and rap_core_cmd returns -EINTR.
 * Async-signal-safe. A request that arrives between command lines is dropped when the
 * next line starts. A command running on a remote server is not
 * interrupted: its answer is awaited. */
RAP_API void rap_core_interrupt(struct rap_core *c);

/* How many servers this core runs in the background (=&:PORT, =t& PORT, =h& PORT); they
 * serve until stopped or until the core is freed. */
RAP_API size_t rap_core_background_servers(const struct rap_core *c);

/* ---- gdbserver ------------------------------------------------------------------------ */

/* One gdb connection's settings (rap_core_gdb_serve). */
struct rap_core_gdb_opts {
	int prog_fd;             /* the program (borrowed): opened with rap_io_open_local, run
				  * with execveat; the caller closes it after the call. -1: none
				  * until gdb runs one (extended mode, needs io) */
	const char *const *argv; /* borrowed, NULL-terminated, argv[0] required with prog_fd */
	struct rap_io *io;       /* borrowed, or NULL: the programs gdb's vRun may name, opened
				  * through io (its root and rules). NULL: vRun restarts the
				  * program of prog_fd only (named "" or as argv[0]) */
	int out_fd;              /* the program's stdout and stderr (borrowed); -1: /dev/null */
	int stop_fd;             /* -1, or a descriptor that turns readable when the session must
				  * end (an eventfd the server's owner writes): the program is
				  * interrupted, killed, and the call returns */
	FILE *log;               /* one line per event (borrowed), or NULL */
	const char *peer;        /* the client's address, for the log (borrowed), or NULL */
};

/* Serves one gdb (GDB Remote Serial Protocol) connection on fd (borrowed, a connected
 * stream socket; the caller closes it) until gdb kills, detaches or disconnects, or stop_fd
 * fires: starts the program under the debugger (rap/dbg.h) stopped at its first
 * instruction, answers gdb's requests, and kills the program at the end: nothing outlives
 * the connection. In extended mode (target extended-remote) gdb may run the program again,
 * or another one through io, and a kill keeps the connection. Blocks the calling thread throughout. Returns 0 once the session ended,
 * or the error that kept it from starting (the program could not be started: -EPERM where
 * ptrace is not permitted, -EACCES, -ENOEXEC, RAP_ENOTSUP without a debugger for this
 * architecture; RAP_EINVAL, RAP_ENOMEM); fd is then left unanswered. */
RAP_API int rap_core_gdb_serve(int fd, const struct rap_core_gdb_opts *o);

/* True once a "q" command ran (the caller should stop reading commands). */
RAP_API bool rap_core_quit_requested(const struct rap_core *c);

/* Current position and file. rap_core_current_fd returns -1 when no file is open. */
RAP_API uint64_t rap_core_offset(const struct rap_core *c);
RAP_API int rap_core_seek(struct rap_core *c, uint64_t off);
RAP_API int rap_core_current_fd(const struct rap_core *c);

/* Configuration variables ("e KEY=VALUE"). get returns a borrowed string or NULL.
 * Errors of set: RAP_EINVAL (unknown key or bad value). */
RAP_API const char *rap_core_config_get(const struct rap_core *c, const char *key);
RAP_API int rap_core_config_set(struct rap_core *c, const char *key, const char *value);

/* The prompt radare2 shows: "[0x00000000]> ". Writes into buf, returns its length. */
RAP_API size_t rap_core_prompt(const struct rap_core *c, char *buf, size_t cap);

/* A rap_server_handler whose ctx is a struct rap_core *: OPEN opens through the core's IO
 * (and its policy), READ/WRITE/SEEK act on the current file and position, the extension's
 * PREAD/PWRITE/STAT on any fd of the core's IO (on a borrowed IO: only its current file and
 * what it opened; STAT kinds: file, dbg a process, malloc a buffer, rap remote), CMD runs under
 * the core's command policy with its output capped (RAP_CORE_SERVE_OUTPUT_MAX unless
 * rap_core_set_output_max chose another cap, 0 included). OPEN and CMD mark the core
 * served (rap_core_set_served) before anything else. Static storage; never NULL. */
RAP_API const struct rap_server_handler *rap_core_rap_handler(void);

#ifdef __cplusplus
}
#endif

#endif
