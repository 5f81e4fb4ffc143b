/* Many RAP sessions on one rap_loop: listeners, per-connection sessions, limits, timeouts,
 * per-event read budgets, back-pressure, graceful shutdown, and (when built with OpenSSL)
 * TLS. Each connection gets its own handler context from session_open, so clients never
 * share files or positions. Errors follow rap.h. */
#ifndef RAP_SERVER_H
#define RAP_SERVER_H

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
 * handshake timeout 10 s, read budget 256 KiB per event. A session whose replies pile up
 * is not read until the client takes them; the request timeout also bounds that wait.
 * Errors: RAP_EINVAL, RAP_ENOMEM. */
RAP_API int rap_server_new(struct rap_loop *loop, const struct rap_server_handler *handler,
			   const struct rap_server_callbacks *cb, void *user, struct rap_server **out);

/* Closes every connection (session_close is called for each) and listener. */
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

/* Accepts clients only from these networks ("10.0.0.0/8", "::1/128", "192.0.2.7").
 * Without any entry every address is accepted. Errors: RAP_EINVAL (unparsable). */
RAP_API int rap_server_allow_network(struct rap_server *srv, const char *cidr);

/* Whether rap_server_allow_network would accept cidr: 0, or RAP_EINVAL. */
RAP_API int rap_server_check_network(const char *cidr);

/* Stops accepting, finishes queued replies, then closes every session; sessions still
 * open after grace_ms are closed anyway. on_done (may be NULL) runs once no session is
 * left. */
RAP_API void rap_server_shutdown(struct rap_server *srv, uint64_t grace_ms,
				 void (*on_done)(void *user), void *user);

/* Ends the session whose context is ctx (as given by session_open) once the replies
 * already queued are sent: no more requests are read from it, and session_close follows.
 * Meant for a handler callback (e.g. a client's quit command); the reply being built is
 * still delivered. Unknown or already ending sessions are ignored. */
RAP_API void rap_server_end_session(struct rap_server *srv, void *ctx);

/* Sessions currently open. */
RAP_API size_t rap_server_session_count(const struct rap_server *srv);

#ifdef __cplusplus
}
#endif

#endif
