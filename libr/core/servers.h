/* What the files of the servers started from the prompt share (librap-core only, never
 * installed). One job per file:
 *   servers.c         the server commands ("=:PORT", "=t PORT", "=h PORT", "=&...", "=h-"),
 *                     a server's life (start, attach to a loop, stop), the foreground run
 *   servers_listen.c  binding "e rap.bind", "e tcp.bind", "e http.bind" to sockets
 *   servers_rap.c     RAP clients: their session cores and what they may open and write
 *   servers_conn.c    TCP and HTTP connections: reading, answering, keep-alive, streaming,
 *                     lingering, timeouts
 *   servers_cmd.c     the command thread of a TCP or HTTP server (one command at a time,
 *                     its output streamed, cancelled when its client goes)
 *   servers_http.c    what the HTTP server answers (its pages, and who may run commands)
 *   web/console.html  the web console's page (embed.py turns it into web_console.c)
 *   servers_gdb.c     the gdbserver (=g): its program, one session thread at a time
 *   gdb_conn.c        one gdb connection (rap_core_gdb_serve); gdb_session.h lists the rest
 *   servers_thread.c  the background thread and its request queue
 *   http.c            the HTTP/1.1 parser and responder (http.h)
 *   browser.c         opening =H's page in a browser
 *   remote_help.c     the help texts of the '=' family, these commands' included
 * Accepting is librap's (rap/listener.h), and so is the RAP server (rap/server.h). */
#ifndef RAP_CORE_SERVERS_H
#define RAP_CORE_SERVERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <rap/core.h>
#include <rap/loop.h>

#include "common.h"
#include "http.h"

#define RAP__SRV_LISTENERS_MAX 2 /* 127.0.0.1 and ::1 */

/* Output caps of a client's command line: a RAP client's default largest reply, and for
 * the one-request TCP/HTTP answers the largest print length. */
#define RAP__SRV_RAP_OUTPUT_MAX ((size_t)64 << 20)
#define RAP__SRV_TEXT_OUTPUT_MAX ((size_t)16 << 20)
/* A streamed HTTP command's output (POST /cmd?stream=1): it is sent as it comes, so only
 * the '~' filter's buffer holds it; this bounds that and the time one command takes. */
#define RAP__SRV_STREAM_OUTPUT_MAX ((size_t)64 << 20)

enum rap__srv_kind { RAP__SRV_RAP, RAP__SRV_TCP, RAP__SRV_HTTP, RAP__SRV_GDB };

/* "rap", "tcp", "http", "gdb", by kind. */
extern const char *const rap__srv_kind_name[];

struct rap_tls_config;

struct rap__srv_conn; /* servers_conn.c: one TCP or HTTP connection */
struct rap__srv_cmd;  /* servers_cmd.c: the command thread */
struct rap__gdb_srv;  /* servers_gdb.c: the gdbserver's program and session */

/* One server. */
struct rap__srv {
	enum rap__srv_kind kind;
	bool background;
	bool browser;
	int port;
	char addrs[160];  /* "127.0.0.1:4000, [::1]:4000" */
	char url[96];     /* what the "listening on" line shows first */
	bool loopback;    /* every listener is a loopback address */
	enum rap_core_policy policy;
	bool shell;
	bool once;        /* foreground rap server with rap.loop=false */
	char token[RAP__HTTP_TOKEN_LEN + 1]; /* tcp/http: what the web console's page sends */
	char *auth;       /* http: "user:password" a client must send (heap), or NULL */
	struct rap_tls_config *tls; /* http: https with this certificate (owned), or NULL */

	/* Made by the user's thread, then used only by the loop's thread. */
	int listen_fds[RAP__SRV_LISTENERS_MAX]; /* -1 once handed to rap_server or the listener */
	size_t nlisteners;
	struct rap_core *tmpl; /* rap: what each client's core is made from; tcp/http: the core */
	FILE *log;             /* foreground: one line per event; NULL in the background */

	struct rap_loop *loop;         /* borrowed while attached; NULL otherwise */
	struct rap_server *rap;        /* rap: serves the clients */
	struct rap_listener *listener; /* tcp/http: accepts the connections */
	struct rap__srv_conn *conns;   /* tcp/http: every connection (owned) */
	struct rap__srv_cmd *cmd;      /* tcp/http: the command thread (owned; NULL until needed) */
	uint64_t queued;               /* tcp/http: requests queued for it so far */
	struct rap__gdb_srv *gdb;      /* gdb: its program and session (owned) */
	bool gdb_attached;
	size_t nconns;
	bool stop_requested;   /* foreground: leave the loop */

	struct rap__srv *next; /* servers_thread.c's list of background servers */
};

/* ---- servers.c ------------------------------------------------------------------------- */

/* What s's URLs start with: its kind's name, "https" for an HTTP server with TLS. */
const char *rap__srv_scheme(const struct rap__srv *s);

/* One line on a foreground server's log (the user's error stream), after the kind;
 * nothing in the background. Control characters (a client's command) show as dots; a
 * line is cut at 1023 bytes. */
void rap__srv_logf(struct rap__srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts serving s on loop (borrowed; s uses it until rap__srv_detach), in the loop's
 * thread: its sockets go to a rap_server or a rap_listener. Errors: RAP_ENOMEM, -errno,
 * errors of rap_server_add_listener and rap_listener_add. Detach after a failure too. */
int rap__srv_attach(struct rap__srv *s, struct rap_loop *loop);

/* Undoes rap__srv_attach (also a partial one) and closes every client, in the loop's
 * thread. Nothing when s is not attached. */
void rap__srv_detach(struct rap__srv *s);

/* Detaches s, closes what it still listens on and frees it (NULL is ignored). */
void rap__srv_free(struct rap__srv *s);

/* ---- servers_listen.c ---------------------------------------------------------------- */

/* Binds the addresses bind names on port (0: the system chooses one port for all of
 * them) and fills s's sockets, port, addrs, url and loopback. On failure, returns the
 * error with a one-line description in err (errcap bytes) and s listens on nothing.
 * Errors: -errno, RAP_ERESOLVE. */
int rap__srv_listen(struct rap__srv *s, const char *bind, int port, char *err, size_t errcap);

/* Closes the sockets s still owns. */
void rap__srv_close_listeners(struct rap__srv *s);

/* ---- servers_rap.c --------------------------------------------------------------------- */

/* Serves s's sockets over RAP on s->loop: a rap_server whose every client gets its own
 * session core made from s->tmpl. Errors: as rap__srv_attach. */
int rap__srv_rap_attach(struct rap__srv *s);

/* Frees the rap_server, which closes every session and the sockets it took. */
void rap__srv_rap_detach(struct rap__srv *s);

/* ---- servers_conn.c -------------------------------------------------------------------- */

/* Accepts TCP or HTTP connections on s's sockets, on s->loop. Errors: as rap__srv_attach. */
int rap__srv_conn_attach(struct rap__srv *s);

/* Closes the sockets and every connection. */
void rap__srv_conn_detach(struct rap__srv *s);

/* Runs one command line on the server's core: its output, then whatever it reported on
 * the error stream (a refused command's one-line reason). *denied tells a policy
 * refusal. Returns heap text (rap__free) of *len bytes, or NULL without memory. On the
 * command thread. */
char *rap__srv_run_command(struct rap__srv *s, const char *cmd, size_t *len, bool *denied);

/* What the command thread has news of, on the loop's thread: stream output to take, or
 * the end of job (done, then the job is the connection's again). */
struct rap__srv_job;
void rap__srv_conn_job_news(struct rap__srv *s, struct rap__srv_job *job, bool done);

/* ---- servers_cmd.c ----------------------------------------------------------------------- */

/* A command for the command thread. The loop's thread makes it and frees it
 * (rap__srv_job_free) once done; between rap__srv_cmd_submit and the news that it is done
 * the thread uses it too. */
struct rap__srv_job {
	char *cmd;           /* heap, owned */
	bool stream;         /* output handed over as it is written (rap__srv_cmd_take), the
	                      * error text in line; otherwise the whole answer in text */
	struct rap__srv_conn *conn; /* who waits for it; NULL once nobody does (loop's thread) */
	/* Under the command thread's lock while it runs: */
	struct rap__buf out; /* stream: written and not yet taken */
	char *text;          /* otherwise: output then error text once done (heap), or NULL
	                      * without memory */
	size_t text_len;
	bool denied;         /* refused by the server's command policy */
	bool done;
	atomic_bool cancel;  /* the answer is no longer wanted: stop at the next checkpoint */
};

/* Frees a job that is not running (NULL is ignored). */
void rap__srv_job_free(struct rap__srv_job *job);

/* Starts job on s's command thread (started with the first job, on s->loop), which must
 * be idle (rap__srv_cmd_current). Errors: RAP_ENOMEM, -errno (thread, eventfd). */
int rap__srv_cmd_submit(struct rap__srv *s, struct rap__srv_job *job);

/* The job submitted and whose end is not reported yet (borrowed), or NULL when idle. */
struct rap__srv_job *rap__srv_cmd_current(const struct rap__srv *s);

/* Asks the running job to stop (its checkpoints say so, its stream takes no more). */
void rap__srv_cmd_cancel(struct rap__srv *s, struct rap__srv_job *job);

/* Moves a stream job's written text to the end of dst (at most dst's room); returns the
 * bytes moved, and *more whether some are left. Errors: RAP_ENOMEM. */
int rap__srv_cmd_take(struct rap__srv *s, struct rap__srv_job *job, struct rap__buf *dst, bool *more);

/* Cancels the running job, waits for it (as long as the command takes to notice), ends
 * the thread; a job nobody waited for any more is freed. Nothing when never started. */
void rap__srv_cmd_stop(struct rap__srv *s);

/* ---- servers_http.c -------------------------------------------------------------------- */

/* What to do with a complete request (rap__srv_http_route). */
struct rap__srv_http_action {
	char *resp;       /* an answer now (heap, rap__free), of resp_len bytes; or NULL and */
	size_t resp_len;
	char *cmd;        /* a command to run (heap, rap__free); both NULL: out of memory */
	bool stream;      /* the command's answer goes in chunks while it runs */
	bool head_only;   /* a HEAD request */
	bool keep_alive;  /* the connection stays open after the answer */
	int method;       /* for the log: 'G', 'H', 'P' */
	char what[61];    /* for the log: the command's start */
};

/* Decides what a complete request from peer (borrowed, for the log) whose body is
 * body[0..body_len) asks for: the page, an error, or a command. Logs one line unless a
 * command is to run. */
void rap__srv_http_route(struct rap__srv *s, const char *peer, const struct rap__http_req *r, const char *body,
			 size_t body_len, struct rap__srv_http_action *a);

/* The answer of a command a (from rap__srv_http_route) ran, not streamed: heap text
 * (rap__free) of *len bytes, or NULL without memory. Logs one line. */
char *rap__srv_http_cmd_answer(struct rap__srv *s, const char *peer, const struct rap__srv_http_action *a,
			       const char *text, size_t text_len, bool denied, size_t *len);

/* The status line and headers of a streamed command's answer (200, chunked): heap text
 * (rap__free) of *len bytes, or NULL without memory. Logs one line. */
char *rap__srv_http_stream_head(struct rap__srv *s, const char *peer, const struct rap__srv_http_action *a,
				size_t *len);

/* An error response (why may be NULL), logged: heap text (rap__free) of *len bytes, or
 * NULL without memory. */
char *rap__srv_http_error(struct rap__srv *s, const char *peer, int status, const char *why, size_t *len);

/* ---- web_console.c: made from web/console.html by web/embed.py at build time ------------ */

/* The web console's page: head, then a server's token (RAP__HTTP_TOKEN_LEN characters),
 * then tail. */
extern const char rap__web_page_head[];
extern const size_t rap__web_page_head_len;
extern const char rap__web_page_tail[];
extern const size_t rap__web_page_tail_len;
/* Its Content-Security-Policy: nothing but its own inline script and style (by hash) and
 * requests to its own origin. */
extern const char rap__web_page_csp[];

/* ---- servers_gdb.c --------------------------------------------------------------------- */

/* Reads "FILE [ARGS]" (args is modified) and opens FILE through c's IO: *out (owned,
 * rap__srv_gdb_free) is a gdbserver's program. Reports errors on c. Errors: RAP_EINVAL,
 * RAP_ENOMEM, errors of rap_io_open_local, -errno. */
int rap__srv_gdb_new(struct rap_core *c, char *args, struct rap__gdb_srv **out);
void rap__srv_gdb_free(struct rap__gdb_srv *g);

/* The program's path as given. */
const char *rap__srv_gdb_program(const struct rap__gdb_srv *g);

/* Accepts gdb connections on s's sockets, on s->loop. Errors: as rap__srv_attach. */
int rap__srv_gdb_attach(struct rap__srv *s);

/* Stops accepting, ends a session in progress (its program is killed) and joins it. */
void rap__srv_gdb_detach(struct rap__srv *s);

/* ---- servers_thread.c ------------------------------------------------------------------ */

/* Attaches s to the background thread of c (started with its first server) and lists it;
 * returns once the thread has done so, with the real result. On failure s is not listed
 * (the caller frees it). Errors: RAP_ENOMEM, -errno, RAP_ECLOSED (the thread is gone),
 * errors of rap__srv_attach. */
int rap__srv_bg_start(struct rap_core *c, struct rap__srv *s);

/* Stops and frees s, a listed background server of c; the thread ends with the last one.
 * Returns once s is detached, which lasts as long as the command a client of the thread
 * is running then. */
void rap__srv_bg_stop(struct rap_core *c, struct rap__srv *s);

/* c's background servers, newest first, linked by next (borrowed; NULL when none). The
 * user's thread only. */
struct rap__srv *rap__srv_bg_list(const struct rap_core *c);

#endif
