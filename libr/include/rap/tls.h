/* TLS for RAP streams (raps://), on OpenSSL 3.
 *
 * The same calls serve a blocking client and a non-blocking server under an epoll reactor.
 * A session wraps a connected stream socket that the caller keeps owning; all I/O goes
 * through the session until rap_tls_free().
 *
 * SIGPIPE: sessions send with MSG_NOSIGNAL (a socket BIO of our own replaces OpenSSL's,
 * which uses write()), so writing to a peer that has gone away returns RAP_ECLOSED and never
 * raises SIGPIPE, whatever the process's signal dispositions are. The library changes no
 * signal disposition.
 *
 * Threads: a config may be shared by sessions in several threads as long as it is not
 * modified (setters, reload) at the same time. A session belongs to one thread at a time.
 *
 * Builds without OpenSSL provide the same functions; they return RAP_ENOTSUP (or false, 0
 * and a fixed text where the return type is not an error code: rap_tls_config_error() and
 * rap_tls_error() then say "TLS is not available in this build (rap was built without
 * OpenSSL)"). rap_tls_available() tells the two builds apart.
 *
 * Errors follow rap.h. */
#ifndef RAP_TLS_H
#define RAP_TLS_H

#include <rap/rap.h>

#ifdef __cplusplus
extern "C" {
#endif

/* True when this librap was built with TLS (OpenSSL); false when every call below returns
 * RAP_ENOTSUP. */
RAP_API bool rap_tls_available(void);

/* ---- configuration ------------------------------------------------------------------- */

/* Settings shared by many sessions: role, certificate, trust. Every setter validates at
 * once (files are read and checked when set, not at the first connection), and a failed
 * setter leaves the config as it was; rap_tls_config_error() says why it failed.
 * Certificates and keys are PEM; keys must not be encrypted (nothing ever prompts).
 *
 * Defaults: TLS 1.2 or later. A client verifies the server against the system trust
 * store and the peer name given to rap_tls_new(). A server asks for no client
 * certificate. */
struct rap_tls_config;

/* Creates a client (server false) or server configuration; free it with
 * rap_tls_config_free(). Errors: RAP_EINVAL, RAP_ENOMEM, RAP_ENOTSUP (no OpenSSL). */
RAP_API int rap_tls_config_new(bool server, struct rap_tls_config **out);

/* Frees cfg. Sessions made from it stay valid: each holds its own reference to the
 * OpenSSL context it started with. NULL is allowed. */
RAP_API void rap_tls_config_free(struct rap_tls_config *cfg);

/* Our certificate: chain_file holds the leaf then any intermediates; key_file the private
 * key, or NULL when the key is in chain_file too (as stock radare2's raps://:PORT//x.pem).
 * Required for a server; for a client it is the certificate presented for mutual TLS.
 * Both names are borrowed (copied), and remembered for rap_tls_config_reload().
 * Errors: RAP_EINVAL, RAP_ENOMEM, RAP_ETLS (unreadable file, bad PEM, key does not match). */
RAP_API int rap_tls_config_set_cert(struct rap_tls_config *cfg, const char *chain_file,
				    const char *key_file);

/* Trust anchors (PEM, one or more CA certificates; borrowed, copied, remembered).
 * Client: verify servers against ca_file instead of the system store. Server: require
 * every client to present a certificate issued by ca_file (mutual TLS). NULL restores the
 * default (system store / no client certificates).
 * Errors: RAP_EINVAL, RAP_ENOMEM, RAP_ETLS (unreadable file, no certificate in it). */
RAP_API int rap_tls_config_set_ca(struct rap_tls_config *cfg, const char *ca_file);

/* Client only: insecure true accepts any server certificate and skips the name check
 * (stock radare2 clients never verify). Only when the user asked for it.
 * Errors: RAP_EINVAL (server config), RAP_ENOMEM. */
RAP_API int rap_tls_config_set_insecure(struct rap_tls_config *cfg, bool insecure);

/* Reads the remembered files again (e.g. on SIGHUP, after a certificate renewal) into a
 * new OpenSSL context used by sessions created from now on; established sessions keep the
 * one they started with. On failure the previous context stays in use.
 * Errors: RAP_EINVAL, RAP_ENOMEM, RAP_ETLS (see rap_tls_config_error()). */
RAP_API int rap_tls_config_reload(struct rap_tls_config *cfg);

/* Why the last failing call on cfg (a setter, reload, or rap_tls_new) failed, e.g.
 * "cannot load private key from /etc/rap/key.pem: no start line". "" if none. Owned by
 * cfg, valid until the next call on it; never NULL. */
RAP_API const char *rap_tls_config_error(const struct rap_tls_config *cfg);

/* ---- sessions ------------------------------------------------------------------------ */

/* One TLS connection over a stream socket. */
struct rap_tls;

/* Starts a session on fd, a connected stream socket that stays owned by the caller: close
 * it after rap_tls_free(), never before. Blocking or non-blocking as the fd is.
 * peer_name (client only, borrowed, copied): the host name or IP literal ("[::1]" and
 * "::1" both work) the server certificate must match; it is also sent as SNI when it is a
 * DNS name. Required unless the config is insecure. Ignored for a server (may be NULL).
 * cfg is borrowed; the session keeps a reference to cfg's current OpenSSL context, so cfg
 * may be reloaded or freed while the session lives. *out is freed with rap_tls_free().
 * Errors: RAP_EINVAL (bad arguments, server config without certificate, client without
 * peer_name; see rap_tls_config_error()), RAP_ENOMEM, RAP_ETLS, RAP_ENOTSUP. */
RAP_API int rap_tls_new(struct rap_tls_config *cfg, int fd, const char *peer_name,
			struct rap_tls **out);

/* Frees the session without sending anything (see rap_tls_shutdown) and without closing
 * the fd. NULL is allowed. */
RAP_API void rap_tls_free(struct rap_tls *t);

/* Runs the handshake, including certificate and name verification. On a blocking fd it
 * returns only when done or failed. Returns 0 when the handshake is complete (again 0 on
 * later calls), RAP_EAGAIN when it must be called again once the fd is ready for
 * rap_tls_wants(), RAP_ETLS when it failed (rap_tls_error() says why, e.g. "certificate
 * verify failed: hostname mismatch"), RAP_ECLOSED when the peer closed the connection
 * before it completed, or -errno. Calling read or write first runs the handshake too.
 * With TLS 1.3 a server that rejects our client certificate is seen by the client only at
 * its first read (RAP_ETLS, "tlsv13 alert certificate required" or similar). */
RAP_API int rap_tls_handshake(struct rap_tls *t);

/* Reads up to len decrypted bytes into buf. Returns n > 0; 0 when the peer closed the
 * connection (a clean close_notify, or a close or reset without one, which a
 * length-prefixed protocol detects itself; rap_tls_error() tells them apart); RAP_EAGAIN
 * (retry when the fd is ready for rap_tls_wants(); on a blocking fd only after an
 * SO_RCVTIMEO timeout); RAP_ETLS; -errno. After a read, check rap_tls_pending().
 * Interrupted system calls are restarted, never reported. */
RAP_API ssize_t rap_tls_read(struct rap_tls *t, void *buf, size_t len);

/* Encrypts and sends from buf. Returns the bytes taken, which may be fewer than len
 * (partial writes: advance and call again); RAP_EAGAIN (nothing taken: retry with the same
 * bytes, at least as many of them, once the fd is ready for rap_tls_wants(); the buffer
 * may have moved); RAP_ECLOSED (the peer has gone away: never SIGPIPE); RAP_ETLS; -errno.
 * len 0 returns 0. */
RAP_API ssize_t rap_tls_write(struct rap_tls *t, const void *buf, size_t len);

/* RAP_LOOP_READ and/or RAP_LOOP_WRITE: what the operations that last returned RAP_EAGAIN
 * (handshake or read; write or shutdown) wait for. Either direction can be needed by
 * either operation (a read may have to send, a write may have to receive first), so when
 * the fd is ready in any of these directions, retry every operation that returned
 * RAP_EAGAIN. 0 when nothing waits. */
RAP_API unsigned rap_tls_wants(const struct rap_tls *t);

/* True when decrypted bytes are waiting inside the session. They are already off the
 * socket, so epoll will not report them: call rap_tls_read() again without waiting. */
RAP_API bool rap_tls_pending(const struct rap_tls *t);

/* Sends close_notify once, without waiting for the peer's. Returns 0 when it was sent,
 * or when there is nothing to send (handshake not finished, already sent, session failed,
 * peer gone); RAP_EAGAIN (call again when the fd is ready for rap_tls_wants()); RAP_ETLS;
 * -errno. After it, only rap_tls_read() (to see the peer's close) and rap_tls_free(). */
RAP_API int rap_tls_shutdown(struct rap_tls *t);

/* Why the last call failed or read 0, e.g. "certificate verify failed: unable to get local
 * issuer certificate", "peer closed the connection without close_notify". "" if nothing
 * failed. Owned by t, valid until the next call on t; never NULL. */
RAP_API const char *rap_tls_error(const struct rap_tls *t);

/* The peer certificate's subject, RFC 2253 ("CN=client,O=example"), control characters
 * escaped so that it is safe to log. Returns its length, 0 (and "") when the peer sent no
 * certificate (a server without mutual TLS), RAP_ENOSPC (buf truncated, NUL-terminated
 * when cap > 0), RAP_EINVAL, RAP_ENOMEM, RAP_ENOTSUP. */
RAP_API ssize_t rap_tls_peer_subject(const struct rap_tls *t, char *buf, size_t cap);

/* Size of the text written by rap_tls_peer_fingerprint(), NUL included. */
#define RAP_TLS_FINGERPRINT_LEN 96

/* SHA-256 of the peer certificate as upper-case hex pairs separated by colons, as
 * `openssl x509 -fingerprint -sha256` prints it (without its "sha256 Fingerprint=").
 * Returns the length (95), 0 (and "") without a peer certificate, RAP_ENOSPC when cap is
 * below RAP_TLS_FINGERPRINT_LEN, RAP_EINVAL, RAP_ENOTSUP. */
RAP_API ssize_t rap_tls_peer_fingerprint(const struct rap_tls *t, char *buf, size_t cap);

/* The negotiated protocol ("TLSv1.3", "TLSv1.2") once the handshake is done, else "".
 * Static string. */
RAP_API const char *rap_tls_protocol(const struct rap_tls *t);

#ifdef __cplusplus
}
#endif

#endif
