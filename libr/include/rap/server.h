/* Many RAP sessions on one rap_loop: listeners, per-connection sessions, limits, timeouts,
 * per-event read budgets, back-pressure, graceful shutdown, and (when built with OpenSSL)
 * TLS. Each connection gets its own handler context from session_open, so clients never
 * share files or positions. Errors follow rap.h.
 *
 * Threads. The loop's thread decodes, encodes and moves bytes; it calls every handler
 * callback except CMD's. A CMD (cmd_bounded, or cmd) runs on a worker thread, one at a time
 * per session: the session decodes nothing more until it is answered, so a handler's ctx
 * is only ever used by one thread at a time, and replies keep request order. Workers take
 * turns (see rap_server_set_workers) at the request's checkpoint. A client that goes away
 * (a reset, a failed send) cancels its command: the checkpoint says so, and ctx is released
 * (session_close) only after the command returned. A client that only shuts down its
 * sending side gets the answers to everything it sent, then the connection closes. */
#ifndef RAP_SERVER_H
#define RAP_SERVER_H

#include <sys/socket.h>

#include <rap/loop.h>
#include <rap/rap.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rap_server;
struct rap_tls_config;

struct rap_server_callbacks {
	/* A connection was accepted and passed the access checks: create the context the
	 * handler will receive (e.g. a fresh core). Return 0 with *ctx set, or negative to
	 * refuse (the connection is closed and the refusal logged). peer ("127.0.0.1:4000",
	 * "[::1]:4000") is borrowed for the call. */
	int (*session_open)(void *user, const char *peer, void **ctx);
	/* The connection ended: release ctx. */
	void (*session_close)(void *user, void *ctx);
	/* Optional: one line per event. level as syslog (3 err .. 7 debug); peer may be NULL. */
	void (*log)(void *user, int level, const char *peer, const char *msg);
};

/* Creates a server on loop (borrowed; must outlive it). handler and cb are copied.
 * Defaults: 10000 sessions, payload 1 MiB, idle timeout 300 s, request timeout 30 s,
 * handshake timeout 10 s, read budget 256 KiB per event (also what one event sends to one
 * connection, so a client taking a long reply does not keep the others waiting). A
 * session whose replies pile up is not read until the client takes them; the request
 * timeout also bounds that wait.
 * Errors: RAP_EINVAL, RAP_ENOMEM. */
RAP_API int rap_server_new(struct rap_loop *loop, const struct rap_server_handler *handler,
			   const struct rap_server_callbacks *cb, void *user, struct rap_server **out);

/* Closes every connection and listener, cancels the commands under way and waits for them
 * to return (session_close is called for each session after its command). */
RAP_API void rap_server_free(struct rap_server *srv);

/* Serves a listening socket (ownership taken on success; made non-blocking), accepting
 * as rap/listener.h describes. tls (borrowed, may be NULL for plain RAP) must outlive the
 * server. Errors: RAP_EINVAL (also after rap_server_shutdown), RAP_ENOMEM, -errno. */
RAP_API int rap_server_add_listener(struct rap_server *srv, int fd, struct rap_tls_config *tls);

/* Limits. 0 disables a timeout. Errors: RAP_EINVAL. */
RAP_API int rap_server_set_max_sessions(struct rap_server *srv, size_t n);
RAP_API int rap_server_set_max_payload(struct rap_server *srv, uint32_t bytes);
RAP_API void rap_server_set_idle_timeout(struct rap_server *srv, uint64_t ms);
RAP_API void rap_server_set_request_timeout(struct rap_server *srv, uint64_t ms);
RAP_API void rap_server_set_handshake_timeout(struct rap_server *srv, uint64_t ms);
RAP_API int rap_server_set_read_budget(struct rap_server *srv, size_t bytes);

/* Requires every client accepted from now on to authenticate with secret (borrowed; must
 * outlive the server; NULL: no authentication): see rap_server_session_require_auth. A
 * client that has not authenticated within the handshake timeout of its connection is
 * dropped. Errors: RAP_ENOTSUP (a build without OpenSSL). */
RAP_API int rap_server_set_secret(struct rap_server *srv, const struct rap_secret *secret);

/* Accepts clients only from these networks ("10.0.0.0/8", "::1/128", "192.0.2.7").
 * Without any entry every address is accepted. Errors: RAP_EINVAL (unparsable). */
RAP_API int rap_server_allow_network(struct rap_server *srv, const char *cidr);

/* Whether rap_server_allow_network would accept cidr: 0, or RAP_EINVAL. */
RAP_API int rap_server_check_network(const char *cidr);

/* Whether a client from peer is in the networks given to rap_server_allow_network (true
 * when none were), as the server decides for its own clients: for other listeners of the
 * program that take the same list (rapsrv's gdbserver). The loop's thread, or once the
 * list is complete. */
RAP_API bool rap_server_peer_allowed(const struct rap_server *srv, const struct sockaddr_storage *peer);

/* Stops accepting, finishes the commands under way and the queued replies, then closes
 * every session; sessions still open after grace_ms are closed anyway (their commands are
 * cancelled). on_done (may be NULL) runs once no session is left. */
RAP_API void rap_server_shutdown(struct rap_server *srv, uint64_t grace_ms,
				 void (*on_done)(void *user), void *user);

/* Ends the session whose context is ctx (as given by session_open) once the replies
 * already queued are sent: no more requests are read from it, and session_close follows.
 * Meant for a handler callback (e.g. a client's quit command), including a CMD handler on
 * its worker thread for its own session; the reply being built is still delivered.
 * Unknown or already ending sessions are ignored. */
RAP_API void rap_server_end_session(struct rap_server *srv, void *ctx);

/* Commands run on worker threads, up to 4n in progress at once, each on a thread of its own
 * (started when needed); further ones wait for one to finish. A command runs its first
 * 10 ms at once (short commands never wait behind long ones); one still running at its
 * request's checkpoint after that runs at a lower CPU priority from then on, and at most
 * n such long commands run at once (default: the CPUs, at least 2 and at most 4), taking
 * turns of 10 ms at their checkpoints. 0 runs commands on the loop's thread, as servers did
 * before: then one slow command delays every client. Set it before the first command.
 * Errors: RAP_EINVAL (over 64, or once a command has run). */
RAP_API int rap_server_set_workers(struct rap_server *srv, unsigned n);

/* Bounds the reply bytes waiting to be sent, counting the output a running command may
 * still produce. total: all sessions together (default 256 MiB); when a command's bound
 * does not fit, it waits (in order) until clients take replies or are dropped (see the
 * request timeout), and when the replies queued reach total, requests wait unread.
 * per_session: the most output one command may produce (default 16 MiB; a client without
 * the extension is only ever asked for what it takes, 16 KiB): past it the command stops,
 * and its text ends saying so. A session runs its next command only once the client took
 * the replies before it. Errors: RAP_EINVAL (per_session under 64 KiB or over total). */
RAP_API int rap_server_set_max_buffered(struct rap_server *srv, size_t total, size_t per_session);

/* For a CMD handler running on a worker for the session ctx: makes the calling worker
 * thread that session's own. Every later command of the session runs on this thread, and
 * no other session's does, until the session ends (ptrace requests must come from the
 * thread that attached). The pool starts other threads in its place. Returns 0 (also when
 * already pinned), RAP_EINVAL when not called from ctx's command on a worker of srv,
 * -EAGAIN when 64 sessions are pinned already. */
RAP_API int rap_server_pin_session(struct rap_server *srv, void *ctx);

/* Reply bytes counted against the total of rap_server_set_max_buffered right now. */
RAP_API size_t rap_server_buffered(const struct rap_server *srv);

/* Sessions currently open. */
RAP_API size_t rap_server_session_count(const struct rap_server *srv);

#ifdef __cplusplus
}
#endif

#endif
