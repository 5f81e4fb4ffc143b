/* A caching relay: a rap_server_handler that serves each client session from a far RAP
 * server (the upstream) over one connection of its own, through libio's read cache.
 *
 * A stock radare2 client opening a binary asks for a few bytes at a time, one round trip
 * each; across a slow link that takes minutes. Next to the client, the relay answers those
 * requests from the cache over loopback and asks the upstream for aligned blocks, with
 * read-ahead that grows with sequential access: a few dozen round trips upstream instead of
 * thousands. Every client path P is the upstream's P (no translation, no local file is ever
 * opened); writes go through to the upstream at once (and drop the written range from the
 * cache); commands go upstream unchanged and their output comes back.
 *
 * Each session connects when it first needs the upstream (its first OPEN or CMD), with TLS
 * for raps:// and the shared secret when one is configured, and speaks the extension
 * upstream when the upstream grants it (reads and writes by fd and offset, sizes in one
 * request, command output of any size) and the stock protocol otherwise (one file at a
 * time: reads and writes act on the file opened last). Sessions share nothing but the
 * configuration: two clients never see each other's positions, files or cache.
 *
 * Validity of the cache (see rap/io.h): a file the upstream opened read-only stays cached
 * for the session; a writable one stays coherent through write-through and is dropped after
 * every command (a command upstream may write it); a debugged process (a path starting with
 * "dbg://") is dropped before and after every command and on every write.
 *
 * Prefetch: once a client reads a file sequentially (a miss of the cache starting where the
 * previous one ended), a thread of the session reads the next range from the upstream while
 * the client consumes this one from the cache, so the link carries data all the time; the
 * range grows with the cache's read-ahead. Anything else on the connection waits for a
 * prefetch under way to finish; writes, commands and closes drop what it holds.
 *
 * Lost connections: an upstream that closed the session's connection (its idle timeout, a
 * restart) is noticed before the next request, and the session connects again and opens
 * its files again (same path and permissions; a read-only file's blocks stay cached). A
 * connection that breaks under a request fails that request.
 *
 * Threads: the handler's OPEN, READ, WRITE, SEEK, CLOSE and the extension's messages wait
 * for the upstream on the calling thread (the server's loop thread): a miss of one session
 * delays the others' requests by the upstream's round trip, and a silent upstream by at
 * most the timeout (timeout_ms). CMD runs on the server's workers like any command. */
#ifndef RAP_RELAY_H
#define RAP_RELAY_H

#include <rap/rap.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RAP_RELAY_TIMEOUT_DEFAULT 30000

struct rap_tls_config;
struct rap_relay;
struct rap_relay_session;

struct rap_relay_config {
	/* rap://HOST:PORT/ or raps://HOST:PORT/ (a path is refused: client paths are used
	 * as they are). Copied. */
	const char *uri;
	/* raps:// settings (borrowed, must outlive the relay): CA, client certificate.
	 * NULL: verify the upstream against the system's trust store and its host name. */
	struct rap_tls_config *tls;
	/* The secret to authenticate upstream with (borrowed, must outlive the relay); NULL:
	 * none, and an upstream that requires one refuses the session. */
	const struct rap_secret *secret;
	/* Each session's cache bound in bytes (0: RAP_IO_CACHE_MAX_DEFAULT). */
	size_t cache_max;
	/* Connect timeout in milliseconds (0: the client's default). */
	int connect_timeout_ms;
	/* The longest a request other than a command waits for the upstream to send or take
	 * a byte (ms; 0: RAP_RELAY_TIMEOUT_DEFAULT); then the connection is dropped and the
	 * request fails. Commands may run as long as they take (on the server's workers). */
	int timeout_ms;
	/* Optional: one line per upstream event (connections, refusals), level as syslog.
	 * Never given the secret. */
	void (*log)(void *user, int level, const char *msg);
	void *log_user;
};

/* Validates cfg (the URI's form; nothing is connected yet) and keeps a copy. why (cap
 * bytes, may be NULL) receives the reason of a refusal. Errors: RAP_EURI, RAP_EINVAL (a
 * path in the URI), RAP_ENOTSUP (raps:// in a build without TLS), RAP_ENOMEM. */
RAP_API int rap_relay_new(const struct rap_relay_config *cfg, struct rap_relay **out, char *why, size_t cap);
/* After every session made from r is freed. NULL is fine. */
RAP_API void rap_relay_free(struct rap_relay *r);

/* A session's context for rap_relay_handler (r borrowed; must outlive it). Nothing is
 * connected until the first OPEN or CMD. Errors: RAP_ENOMEM. */
RAP_API int rap_relay_session_new(const struct rap_relay *r, struct rap_relay_session **out);
/* Closes the upstream connection and every file. NULL is fine. */
RAP_API void rap_relay_session_free(struct rap_relay_session *s);

/* What a session asked of the upstream, and what its cache answered. */
struct rap_relay_stats {
	uint64_t connects;   /* upstream connections made */
	uint64_t reads;      /* reads asked upstream (each one pipelined request) */
	uint64_t read_bytes; /* bytes those reads returned */
	uint64_t writes;     /* writes sent upstream */
	uint64_t cmds;       /* commands forwarded */
	uint64_t prefetches; /* reads asked ahead on the session's thread (counted in reads) */
	uint64_t prefetch_hits; /* cache misses answered (in part) by a prefetch */
	uint64_t hits;       /* client reads answered from the cache alone */
	bool extension;      /* the upstream granted the extension */
};
RAP_API void rap_relay_session_stats(const struct rap_relay_session *s, struct rap_relay_stats *out);

/* The handler whose ctx is a struct rap_relay_session *. Static storage; never NULL. */
RAP_API const struct rap_server_handler *rap_relay_handler(void);

#ifdef __cplusplus
}
#endif

#endif
