/* librap: the RAP wire codec, URIs, TCP transport, client and server sessions.
 *
 * Error convention (shared by librap, librap-io and librap-core): functions return 0 or a
 * count on success and a negative value on failure, either one of the RAP_E* codes below or
 * -errno for a failed system call. rap_strerror() describes both.
 *
 * Ownership is stated at each declaration. "Borrowed" pointers stay owned by the caller;
 * strings a function hands out as "heap" are allocated with malloc() and released by the
 * caller with free(). */
#ifndef RAP_RAP_H
#define RAP_RAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rap/export.h>
#include <rap/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------------------- */

enum rap_error {
	RAP_OK = 0,
	RAP_EINVAL = -1001,    /* invalid argument */
	RAP_ENOMEM = -1002,    /* out of memory */
	RAP_EAGAIN = -1003,    /* not ready yet: more input needed, or the call would block */
	RAP_EPROTO = -1004,    /* malformed or unexpected message from the peer */
	RAP_ETOOBIG = -1005,   /* a length exceeds the configured limit */
	RAP_ECLOSED = -1006,   /* the peer closed the connection */
	RAP_ENOSPC = -1007,    /* the caller's buffer is too small */
	RAP_ENOTSUP = -1008,   /* not supported by this build, plugin or peer */
	RAP_EURI = -1009,      /* the URI cannot be parsed */
	RAP_ERESOLVE = -1010,  /* the host name cannot be resolved */
	RAP_EREMOTE = -1011,   /* the peer answered with a failure (fd -1, write result 0) */
	RAP_EDENIED = -1012,   /* refused by policy (root, write access, command level, scheme) */
	RAP_ETIMEDOUT = -1013, /* a deadline passed */
	RAP_ETLS = -1014,      /* TLS handshake or verification failed */
	RAP_EBADFD = -1015,    /* no such descriptor / no file is open */
	RAP_ENOTREG = -1016,   /* not a regular file: a FIFO, device or socket, refused unless asked */
	RAP_EAUTH = -1017,     /* authentication required, or it failed (either side's proof) */
};

/* Describes a RAP_E* code or a -errno value. Returns a static string; never NULL. */
RAP_API const char *rap_strerror(int err);

/* Version of the library at run time, e.g. "0.1.0" (static string). */
RAP_API const char *rap_version(void);

/* ---- the wire protocol -------------------------------------------------------------- */

enum rap_op {
	RAP_OP_OPEN = 0x01,
	RAP_OP_READ = 0x02,
	RAP_OP_WRITE = 0x03,
	RAP_OP_SEEK = 0x04,
	RAP_OP_CLOSE = 0x05,
	RAP_OP_SYSTEM = 0x06, /* retired by radare2; decoded and encoded for completeness */
	RAP_OP_CMD = 0x07,
	/* The extension's messages (doc/protocol.md, "Extension messages"): sent only after a
	 * probe granted them, so never to or by a stock peer. Decoders take them only once
	 * rap_decoder_set_extension() allows it. */
	RAP_OP_XOPEN = 0x10,      /* OPEN answering an fd or an error */
	RAP_OP_PREAD = 0x11,      /* READ at an fd and offset */
	RAP_OP_PWRITE = 0x12,     /* WRITE at an fd and offset */
	RAP_OP_STAT = 0x13,       /* size, permissions, kind and name of an fd */
	RAP_OP_XCLOSE = 0x14,     /* CLOSE answering an error */
	RAP_OP_XCMD = 0x15,       /* CMD answered with output chunks and an exit status */
	RAP_OP_AUTH_HELLO = 0x16, /* authentication: the client's nonce, the server's */
	RAP_OP_AUTH_PROOF = 0x17, /* authentication: the client's proof, the server's */
	RAP_OP_XCMD_OUT = 0x18,   /* replies only (0x98): a chunk of a XCMD's output */
};

#define RAP_REPLY 0x80               /* reply opcode = request opcode | RAP_REPLY */
#define RAP_PACKET_MAX 4096          /* stock READ/WRITE chunk and CMD request limit */
#define RAP_STOCK_CMD_REPLY_MAX 16384 /* stock clients reject longer CMD replies (NUL included) */
#define RAP_OPEN_PATH_MAX 255        /* OPEN's length byte counts the path and its NUL */

/* SEEK whence values. Stock servers treat any other value like CUR. */
enum rap_whence {
	RAP_SEEK_SET = 0,
	RAP_SEEK_CUR = 1,
	RAP_SEEK_END = 2,   /* answers the size, does not move */
	RAP_SEEK_PROBE = 0xff, /* our extension probe, see doc/protocol.md */
};

/* Permission bits of the OPEN flags byte (radare's R=4, W=2, X=1). */
enum rap_perm {
	RAP_PERM_X = 1,
	RAP_PERM_W = 2,
	RAP_PERM_R = 4,
	RAP_PERM_RW = 6,
	RAP_PERM_RWX = 7,
};

/* Authentication (RAP_OP_AUTH_*): nonce and proof sizes. */
#define RAP_AUTH_NONCE_LEN 32
#define RAP_AUTH_MAC_LEN 32
/* The longest error message an extension reply carries (longer ones are cut). */
#define RAP_ERROR_TEXT_MAX 1024

/* One decoded or to-be-encoded message. Fields that the opcode does not use are ignored
 * by the encoder and zero after decoding.
 *
 *   op      layout on the wire                    fields
 *   0x01    01 perm n:u8 path[n]                  perm, len (= n), data (path incl. NUL)
 *   0x81    81 fd:be32                            value (fd, -1 = failure)
 *   0x02    02 len:be32                           len (bytes asked)
 *   0x82    82 len:be32 data[len]                 len, data
 *   0x03    03 len:be32 data[len]                 len, data
 *   0x83    83 result:be32                        value
 *   0x04    04 whence:u8 offset:be64              whence, offset
 *   0x84    84 offset:be64                        offset
 *   0x05    05 fd:be32                            value (fd)
 *   0x85    85 result:be32                        value
 *   0x06/86 op len:be32 text[len]                 len, data
 *   0x07/87 op len:be32 text[len]                 len, data (text counts its NUL; len 0 = none)
 *
 * Extension messages: op n:be32 body[n], n the body's length. In replies the body starts
 * with status:be32: 0 (or, for 0x95 only, an exit status > 0) and the fields below, or a
 * negative error code (RAP_E*, or -errno in the portable numbering of doc/protocol.md)
 * followed by a message text (len, data; no NUL on the wire).
 *   0x10    perm:u8 path[n-1]                     perm, len (= n-1), data (path)
 *   0x11    fd:be32 off:be64 count:be32 (n = 16)  value (fd), offset, len (= count)
 *   0x12    fd:be32 off:be64 data[n-12]           value, offset, len (= n-12), data
 *   0x13    fd:be32 (n = 4)                       value
 *   0x14    fd:be32 (n = 4)                       value
 *   0x15    cmd[n] (no NUL)                       len, data
 *   0x16/17 bytes[32] (n = 32)                    len, data (nonce / proof)
 *   0x90    status fd:be32                        status, value (fd)
 *   0x91    status data[n-4]                      status, len, data
 *   0x92    status written:be32                   status, value
 *   0x93    status size:be64 perm:u8 kind:u8 name status, len, data (rap_stat_parse)
 *   0x94    status                                status
 *   0x95    status (>= 0: the exit status)        status
 *   0x96/97 status bytes[32]                      status, len, data (nonce / proof)
 *   0x98    status (0) output[n-4]                status, len, data
 * A dropped extension message has len = n, the declared body length, and no other field.
 */
struct rap_msg {
	uint8_t op;          /* opcode byte as on the wire (RAP_REPLY set for replies) */
	uint8_t perm;        /* OPEN request: permission mask */
	uint8_t whence;      /* SEEK request */
	bool dropped;        /* decoder only: payload was over the limit and is being discarded;
	                      * data is NULL, len is the declared length */
	int32_t value;       /* OPEN reply fd, CLOSE request fd, WRITE/CLOSE reply result */
	uint32_t len;        /* READ request: bytes asked; otherwise the payload length */
	int32_t status;      /* extension replies: 0, an exit status (0x95) or an error code */
	uint64_t offset;     /* SEEK request offset, SEEK reply position, extension offsets */
	const uint8_t *data; /* payload, borrowed. After decoding it points into the decoder's
	                      * buffer, is followed by a NUL byte, and stays valid until the next
	                      * call on that decoder. */
};

/* Which direction a decoder reads. A server decodes requests (0x01..0x07) and the 0x87
 * answers to reverse commands; a client decodes replies (0x81..0x87) and reverse 0x07. */
enum rap_role {
	RAP_ROLE_SERVER = 0,
	RAP_ROLE_CLIENT = 1,
};

/* Incremental, sans-IO decoder: feed it any split of the input and it yields the same
 * messages. It never reads a socket and never allocates more than its payload limit. */
struct rap_decoder;

/* Creates a decoder; *out is freed with rap_decoder_free(). Default payload limit:
 * RAP_PACKET_MAX for servers, 64 MiB for clients.
 * Errors: RAP_EINVAL, RAP_ENOMEM. */
RAP_API int rap_decoder_new(enum rap_role role, struct rap_decoder **out);
RAP_API void rap_decoder_free(struct rap_decoder *d);

/* Largest payload the decoder buffers (1 .. 1 GiB). A longer payload is reported with
 * msg.dropped and then discarded as it arrives, so the stream stays in sync.
 * Errors: RAP_EINVAL. */
RAP_API int rap_decoder_set_max_payload(struct rap_decoder *d, uint32_t max);

/* Decodes from in[0..len). *consumed receives how many bytes were used (always set).
 * Returns 1 when *msg holds a complete message (its data valid until the next call),
 * 0 when all the input was consumed and more is needed, RAP_EPROTO when the input is
 * malformed (unknown opcode or one the role never receives; the first offending byte is
 * not consumed and the decoder refuses further input until rap_decoder_reset()). */
RAP_API int rap_decoder_decode(struct rap_decoder *d, const uint8_t *in, size_t len,
			       size_t *consumed, struct rap_msg *msg);

/* True when no partial message is buffered (a message boundary). */
RAP_API bool rap_decoder_idle(const struct rap_decoder *d);

/* Forgets any partial message and a previous RAP_EPROTO. */
RAP_API void rap_decoder_reset(struct rap_decoder *d);

/* Whether the extension's messages (0x10..0x17 for a server, 0x90..0x98 for a client) are
 * decoded; off by default, so that a stock peer's stream is judged as stock servers and
 * clients judge it. For the extension messages the payload limit applies to the variable
 * part (the path, the data, the command, the reply's data), and a message whose length
 * cannot be right for its opcode, or a reply whose fields are not, is RAP_EPROTO (its
 * bytes are consumed). */
RAP_API void rap_decoder_set_extension(struct rap_decoder *d, bool on);

/* What a RAP_EPROTO was about ("unknown opcode 0x42", "0x11 with a 5-byte body (16
 * expected)"); "" when there was none. Static or decoder-owned, valid until the next call. */
RAP_API const char *rap_decoder_error(const struct rap_decoder *d);

/* Bytes rap_msg_encode() needs for *m, or 0 if *m cannot be encoded (unknown opcode,
 * OPEN path of RAP_OPEN_PATH_MAX bytes or more). */
RAP_API size_t rap_msg_encoded_size(const struct rap_msg *m);

/* Encodes *m into out[0..cap). Returns the number of bytes written, RAP_ENOSPC when cap is
 * too small, RAP_EINVAL when *m cannot be encoded. OPEN, CMD and SYSTEM payloads are sent
 * exactly as given: include the NUL in data/len as stock peers do. */
RAP_API ssize_t rap_msg_encode(const struct rap_msg *m, uint8_t *out, size_t cap);

/* What a STAT reply (0x93) describes. */
enum rap_file_kind {
	RAP_KIND_OTHER = 0,
	RAP_KIND_FILE = 1,    /* a file (file://, plain paths; devices the server allows too) */
	RAP_KIND_PROCESS = 2, /* a debugged process's memory (dbg://) */
	RAP_KIND_BUFFER = 3,  /* a scratch buffer in the server's memory (malloc://) */
	RAP_KIND_REMOTE = 4,  /* a file of another RAP server (rap://) */
};

#define RAP_STAT_NAME_MAX 4096 /* name bytes a STAT carries, at most */
#define RAP_SIZE_UNKNOWN UINT64_MAX /* STAT size of what has no end (a process) */

struct rap_stat {
	uint64_t size;   /* bytes, or RAP_SIZE_UNKNOWN */
	uint8_t perm;    /* how the fd is open: RAP_PERM_R, _W, _X bits */
	uint8_t kind;    /* enum rap_file_kind */
	char name[RAP_STAT_NAME_MAX + 1]; /* the URI or path it was opened with, NUL-terminated */
};

/* The body of a successful STAT reply (after the status): size:be64 perm:u8 kind:u8 name.
 * rap_stat_format writes it into out[0..cap) (a name longer than RAP_STAT_NAME_MAX is cut)
 * and returns its length, or RAP_ENOSPC; rap_stat_parse reads one, RAP_EPROTO when it is
 * shorter than 10 bytes, its name longer than RAP_STAT_NAME_MAX or holds a NUL byte. */
RAP_API ssize_t rap_stat_format(const struct rap_stat *st, uint8_t *out, size_t cap);
RAP_API int rap_stat_parse(const uint8_t *body, size_t len, struct rap_stat *st);

/* ---- authentication -------------------------------------------------------------------- */

/* A shared secret for the extension's authentication (doc/protocol.md, "Authentication"):
 * HMAC-SHA256 proofs over nonces of both peers, so the secret never crosses the wire. Its
 * bytes are zeroed when it is freed. Needs OpenSSL: rap_auth_available() is false in a build
 * without it, where every function below fails with RAP_ENOTSUP. A secret may be shared by
 * any number of clients and server sessions in any threads; it is never modified. */
struct rap_secret;

#define RAP_SECRET_MIN 16   /* bytes; shorter secrets are refused (a recorded handshake
                             * lets an eavesdropper guess offline) */
#define RAP_SECRET_MAX 4096

/* True when this librap was built with OpenSSL (authentication works). */
RAP_API bool rap_auth_available(void);

/* A secret from len bytes (copied). Errors: RAP_EINVAL (fewer than RAP_SECRET_MIN or more
 * than RAP_SECRET_MAX bytes), RAP_ENOMEM, RAP_ENOTSUP. */
RAP_API int rap_secret_new(const void *bytes, size_t len, struct rap_secret **out);

/* Reads a secret from the file at path: a regular file owned by this user (or root), that
 * neither group nor others may read or write (mode 0600 or 0400), of RAP_SECRET_MIN to
 * RAP_SECRET_MAX bytes once one trailing newline ("\n" or "\r\n") is dropped. why (may be
 * NULL) receives the reason of a failure, naming the file and never its contents, e.g.
 * "secret file /etc/rap/secret is readable by group or others (mode 0644): chmod 600 it".
 * Errors: RAP_EDENIED (permissions, owner), RAP_ENOTREG, RAP_EINVAL (size), -errno,
 * RAP_ENOMEM, RAP_ENOTSUP. */
RAP_API int rap_secret_load(const char *path, struct rap_secret **out, char *why, size_t whycap);

/* Zeroes and frees the secret. NULL is allowed. */
RAP_API void rap_secret_free(struct rap_secret *s);

/* ---- URIs ---------------------------------------------------------------------------- */

/* A parsed rap://, raps:// (or, for the '=' family, tcp/udp/http) URI. A value type:
 * no heap memory, copy it freely.
 *   rap://host:9999//bin/ls     host "host", port "9999", path "/bin/ls"
 *   rap://host:9999/bin/ls      path "bin/ls"
 *   rap://[::1]:9999/dbg:///x   host "::1", path "dbg:///x"
 *   rap://host:9999/  or no /   has_path false: a command-only session
 *   rap://:9999                 listen true (empty host) */
struct rap_uri {
	char scheme[16];  /* lower-case, without "://" */
	char host[256];   /* without brackets */
	char port[32];
	char path[4096];
	bool has_path;
	bool listen;
	bool tls;         /* scheme is raps */
};

/* Parses text into *out. default_scheme (may be NULL) is used when text has no "scheme://"
 * prefix. Errors: RAP_EURI (no port, bad brackets, over-long parts), RAP_EINVAL. */
RAP_API int rap_uri_parse(const char *text, const char *default_scheme, struct rap_uri *out);

/* Formats *u back to text ("rap://[::1]:9999//bin/ls"). Returns the length, or
 * RAP_ENOSPC (out is still NUL-terminated when cap > 0). */
RAP_API ssize_t rap_uri_format(const struct rap_uri *u, char *out, size_t cap);

/* ---- TCP ----------------------------------------------------------------------------- */

/* Connects a blocking TCP stream (IPv4 or IPv6, TCP_NODELAY, CLOEXEC) to host:port.
 * timeout_ms <= 0 means the system default. *fd_out is owned by the caller (close()).
 * Errors: RAP_ERESOLVE, RAP_ETIMEDOUT, -errno (e.g. -ECONNREFUSED). */
RAP_API int rap_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd_out);

/* Listens on host:port; host NULL or "" means loopback ("127.0.0.1"); port "0" lets the
 * system choose (see rap_tcp_local_port). IPv6 literals without brackets. *fd_out is owned
 * by the caller. Errors: RAP_ERESOLVE, -errno (e.g. -EADDRINUSE). */
RAP_API int rap_tcp_listen(const char *host, const char *port, int backlog, int *fd_out);

/* The local port a socket is bound to, or -errno. */
RAP_API int rap_tcp_local_port(int fd);

/* Formats a socket address as "127.0.0.1:4000" or "[::1]:4000" ("local" for other
 * families) into out (NUL-terminated when cap > 0). sa is a struct sockaddr_storage,
 * sockaddr_in or sockaddr_in6. Returns the length snprintf would write. */
RAP_API int rap_format_sockaddr(const void *sa, char *out, size_t cap);

/* Writes all of buf without raising SIGPIPE (MSG_NOSIGNAL), retrying on EINTR and short
 * writes. Returns 0, RAP_ECLOSED, or -errno. */
RAP_API int rap_send_all(int fd, const void *buf, size_t len);

/* ---- client session ------------------------------------------------------------------ */

/* A blocking RAP client over one connection. Works with stock radare2/rizin servers and,
 * after rap_client_probe() succeeds, with our server's larger messages. */
struct rap_client;

/* Called for a reverse CMD (server asks the client to run cmd while a CMD is pending).
 * Return 0 and set *out to heap text (the client frees it), or negative to refuse. */
typedef int (*rap_reverse_cmd_fn)(void *user, const char *cmd, char **out);

/* Creates an unconnected client; free with rap_client_free(). Errors: RAP_ENOMEM. */
RAP_API int rap_client_new(struct rap_client **out);

/* Closes the connection (if any) and frees the client. NULL is allowed. */
RAP_API void rap_client_free(struct rap_client *c);

/* Enables reverse commands: fn runs them. NULL (the default) refuses them: the client
 * answers with an error text and never runs anything. */
RAP_API void rap_client_set_reverse_cmd(struct rap_client *c, rap_reverse_cmd_fn fn, void *user);

/* Largest reply payload accepted (default 64 MiB); longer replies are drained and the call
 * fails with RAP_ETOOBIG while the connection stays usable. Errors: RAP_EINVAL. */
RAP_API int rap_client_set_max_reply(struct rap_client *c, uint32_t max);

/* How many bytes of one bulk read or write may be in flight at once (default
 * RAP_CLIENT_WINDOW_DEFAULT): in chunks of what the peer accepts (4 KiB, or 1 MiB after a
 * granted probe), at least 2 and at most 1024 of them. A read or write runs at the link's
 * rate only when this covers the link's bandwidth-delay product (100 Mbit/s over 20 ms:
 * 250 KB); stock radare2 servers and ours take the pipelined requests. Errors: RAP_EINVAL
 * (0 or over 1 GiB). */
#define RAP_CLIENT_WINDOW_DEFAULT ((size_t)8 << 20)
RAP_API int rap_client_set_window(struct rap_client *c, size_t bytes);

/* How long rap_client_connect and rap_client_connect_tls may take (the TCP connection
 * and the TLS handshake together), in milliseconds; 0 waits as long as the system does.
 * Requests after that have no deadline: a remote command may rightly run for minutes.
 * Errors: RAP_EINVAL. */
#define RAP_CLIENT_CONNECT_TIMEOUT_MS 30000
RAP_API int rap_client_set_connect_timeout(struct rap_client *c, int ms);

/* The longest the client waits for the server to send or take a byte while a call is under
 * way (ms; 0, the default: as long as it takes, since a remote command may run for minutes).
 * When it passes, the connection is closed and the call fails with RAP_ETIMEDOUT and a
 * message. May be changed between calls (e.g. off around a long command). Errors:
 * RAP_EINVAL. */
RAP_API int rap_client_set_stall_timeout(struct rap_client *c, int ms);

/* Connects to host:port. Errors: as rap_tcp_connect (RAP_ETIMEDOUT when the connect
 * timeout passes), RAP_EINVAL if already connected. */
RAP_API int rap_client_connect(struct rap_client *c, const char *host, const char *port);

struct rap_tls_config;

/* Connects to host:port over TLS with cfg (borrowed; see rap/tls.h): the certificate and
 * host name are verified unless cfg is insecure. Errors: as rap_client_connect, RAP_ETLS
 * (rap_client_error() says why, e.g. "certificate verify failed: hostname mismatch"). */
RAP_API int rap_client_connect_tls(struct rap_client *c, const char *host, const char *port,
				   struct rap_tls_config *cfg);

/* Detail of the last connection or TLS failure ("" when none). Borrowed, valid until the
 * next call on c. */
RAP_API const char *rap_client_error(const struct rap_client *c);

/* Uses an already connected stream (a socketpair in tests). Takes ownership of fd.
 * Errors: RAP_EINVAL. */
RAP_API int rap_client_attach_fd(struct rap_client *c, int fd);

/* The socket, or -1 when not connected. Borrowed. */
RAP_API int rap_client_fd(const struct rap_client *c);

/* The shared secret the client authenticates with (borrowed; must outlive the connection;
 * NULL: none). Set it before rap_client_probe. With a secret the client insists on a server
 * that proves it knows it too: rap_client_probe fails with RAP_EAUTH against one that does
 * not authenticate (a stock server, rapsrv without --secret-file). */
RAP_API void rap_client_set_secret(struct rap_client *c, const struct rap_secret *secret);

/* Sends the extension probe (SEEK whence 0xff with a magic offset). Returns 1 when the peer
 * is our server (larger messages, and with version 2 the extension's messages, from then
 * on), 0 for a stock peer (which answers its position and changes nothing). When the
 * server requires authentication, the handshake follows at once. Errors: connection
 * errors, RAP_EPROTO, RAP_EAUTH (the server requires a secret and none is set, the proofs
 * failed, or a secret is set and the server does not authenticate: rap_client_error says
 * which; after failed proofs, and with a secret, the connection is unusable: every later
 * call returns RAP_EAUTH). */
RAP_API int rap_client_probe(struct rap_client *c);

/* True after a successful probe. */
RAP_API bool rap_client_extended(const struct rap_client *c);

/* True when the probe granted the extension's messages: OPEN, reads, writes, size, CLOSE
 * and CMD then use them (fd-addressed, errors with a message, streamed command output). */
RAP_API bool rap_client_has_extension(const struct rap_client *c);

/* True once the connection's handshake succeeded (both sides proved the secret). */
RAP_API bool rap_client_authenticated(const struct rap_client *c);

/* True while the client is connected and in step with the server (no call has failed in a
 * way that loses the stream). After a failed call it tells a refusal by the server, which
 * leaves the connection usable, from a broken connection. */
RAP_API bool rap_client_alive(const struct rap_client *c);

/* OPENs path with a permission mask. Returns the remote fd (>= 0), which becomes the file
 * rap_client_read_at, _write_at and _size act on. With the extension (XOPEN) a path may have
 * up to 4095 bytes and a failure says why: the server's error code (RAP_E*, -errno) and
 * its message in rap_client_error(). Errors: RAP_EREMOTE (a server without the extension
 * answered -1), RAP_EINVAL (path >= 255 bytes without the extension), RAP_ECLOSED (stock
 * servers hang up on a failed open), RAP_EPROTO, -errno. */
RAP_API int rap_client_open(struct rap_client *c, const char *path, uint8_t perm);

/* With the extension: len bytes at off of the remote fd (any of the session's files, in
 * any order; no SEEK), a window's worth of chunks in flight; fewer at end of file.
 * rap_client_pwrite writes, returning the bytes written (fewer when the server wrote
 * fewer). Errors: RAP_ENOTSUP (no extension), the server's error (message in
 * rap_client_error) when nothing was transferred, RAP_EPROTO, connection errors. */
RAP_API ssize_t rap_client_pread(struct rap_client *c, int32_t fd, uint64_t off, void *buf, size_t len);
RAP_API ssize_t rap_client_pwrite(struct rap_client *c, int32_t fd, uint64_t off, const void *buf,
				  size_t len);

/* With the extension: size, permissions, kind and name of the remote fd in one request.
 * Errors: RAP_ENOTSUP (no extension), the server's error, RAP_EPROTO. */
RAP_API int rap_client_stat(struct rap_client *c, int32_t fd, struct rap_stat *st);

/* Reads len bytes at offset off of the current remote file: SEEK SET then READ, in chunks
 * the peer accepts, a window's worth in flight (rap_client_set_window; with the extension:
 * PREAD of the fd the last OPEN answered). Returns the bytes read (fewer at end of file on
 * our server; stock servers pad with 0xff). Errors: RAP_EPROTO, RAP_ECLOSED, -errno, the
 * server's error. */
RAP_API ssize_t rap_client_read_at(struct rap_client *c, uint64_t off, void *buf, size_t len);

/* Writes len bytes at offset off, in chunks. Returns len, or RAP_EREMOTE when the server
 * answered 0 (e.g. read-only), or a connection error. */
RAP_API ssize_t rap_client_write_at(struct rap_client *c, uint64_t off, const void *buf, size_t len);

/* SEEK with stock semantics; *pos (may be NULL) receives the reply. */
RAP_API int rap_client_seek(struct rap_client *c, uint64_t off, int whence, uint64_t *pos);

/* Size of the current remote file: SEEK CUR 0, SEEK END 0, SEEK SET back, as radare2 does. */
RAP_API int rap_client_size(struct rap_client *c, uint64_t *size);

/* CLOSE of a remote fd. Returns 0, or RAP_EREMOTE when the server answered -1 (with the
 * extension: the server's error and message). */
RAP_API int rap_client_close_fd(struct rap_client *c, int32_t fd);

/* Runs cmd on the server. *out receives the heap output without the trailing NUL (""
 * when the server sent none), *outlen (may be NULL) its length. No timeout.
 * Errors: RAP_ETOOBIG (reply over the limit, drained), RAP_EPROTO, RAP_ECLOSED, -errno. */
RAP_API int rap_client_cmd(struct rap_client *c, const char *cmd, char **out, size_t *outlen);

/* A chunk of a command's output for rap_client_cmd_stream (data borrowed for the call).
 * Return 0, or negative to take no more: the rest is read and dropped, and the call
 * returns that value. */
typedef int (*rap_cmd_chunk_fn)(void *user, const char *data, size_t len);

/* Runs cmd on the server and hands its output to fn as it arrives: with the extension in
 * chunks of at most 64 KiB, however long the output (no limit here but fn's); from a
 * stock server in one piece. *status (may be NULL) as for rap_client_cmd_status. Returns 0
 * when the command ran (whether it succeeded is *status), the server's refusal (RAP_E*,
 * message in rap_client_error), fn's error, or a connection error. */
RAP_API int rap_client_cmd_stream(struct rap_client *c, const char *cmd, rap_cmd_chunk_fn fn, void *user,
				  int *status);

/* What rap_client_cmd_status stores in *status. */
enum rap_cmd_status {
	RAP_CMD_STATUS_UNKNOWN = -1, /* the server reports no status (a stock server) */
	RAP_CMD_STATUS_OK = 0,       /* the command line succeeded on the server */
	RAP_CMD_STATUS_FAILED = 1,   /* it failed or was refused there; the output says why */
};

/* rap_client_cmd, and *status (may be NULL) receives how the command ended on the server
 * (enum rap_cmd_status). Our server reports it after a successful probe; the call itself
 * still returns 0 when the command ran and failed. Errors as rap_client_cmd. */
RAP_API int rap_client_cmd_status(struct rap_client *c, const char *cmd, char **out,
				  size_t *outlen, int *status);

/* ---- server session ------------------------------------------------------------------ */

/* What a bounded CMD handler is asked (rap_server_handler.cmd_bounded). Borrowed for the
 * call; a handler that answers RAP_PENDING copies what it needs. */
struct rap_cmd_request {
	const char *cmd;   /* the command line, NUL-terminated */
	size_t max_output; /* the most output wanted: a command whose output would pass it is
	                    * stopped there (its text at most this long) and reported stopped */
	/* May be NULL. A long command calls it between pieces of its work (from the thread
	 * running it, as often as it likes): it may wait there while other commands take their
	 * turn (rap_server shares a few running slots among its worker threads), and it
	 * returns true once the answer is no longer wanted (the client went away, the server
	 * is stopping), when the command should stop. */
	bool (*checkpoint)(const struct rap_cmd_request *req);
	void *owner;       /* the caller's, for checkpoint(); handlers leave it alone */
};

/* A CMD callback (cmd or cmd_bounded) may return RAP_PENDING instead of a result: the
 * answer comes later, through rap_server_session_complete(). Until then the session
 * decodes nothing more, so replies stay in request order. */
#define RAP_PENDING 1

/* What a server session calls for each decoded request; ctx is the pointer given to
 * rap_server_session_new. Every callback is required except log and cmd_bounded. Return
 * values are what goes on the wire after the mapping documented with each entry. */
struct rap_server_handler {
	/* OPEN: returns the new fd (>= 0, becomes current) or negative (answered as -1). */
	int (*open)(void *ctx, const char *path, uint8_t perm);
	/* READ at the current position of the current file, without moving. Returns bytes
	 * read (fewer than len only at end of file) or negative (answered as 0 bytes). */
	ssize_t (*read)(void *ctx, uint8_t *buf, size_t len);
	/* WRITE at the current position, without moving. Returns bytes written or negative
	 * (answered as 0, which stock clients read as failure). */
	ssize_t (*write)(void *ctx, const uint8_t *buf, size_t len);
	/* SEEK. whence is SET (move to offset), CUR (report the position, offset ignored) or
	 * END (report the size without moving). *result receives the answer; on a negative
	 * return the session answers the current position (stock never signals errors). */
	int (*seek)(void *ctx, int whence, uint64_t offset, uint64_t *result);
	/* CLOSE of one of this session's fds: 0 or negative (answered as -1). */
	int (*close)(void *ctx, int32_t fd);
	/* CMD (and the retired SYSTEM). Set *out to heap text (freed by the session with
	 * free()), NULL for no output. A refusal returns negative with an explanation in *out.
	 * RAP_PENDING: the answer follows with rap_server_session_complete (*out unused). */
	int (*cmd)(void *ctx, const char *cmd, char **out);
	/* Optional: one line per protocol event worth logging (level as syslog: 3 err .. 7
	 * debug). msg is borrowed for the duration of the call. */
	void (*log)(void *ctx, int level, const char *msg);
	/* Optional; used for CMD instead of cmd when set. As cmd, with req->max_output bounding
	 * the output: a command that would print more is stopped there and *stopped set (false
	 * otherwise); its own explanation may end the text. The session asks a client without
	 * the extension for a little more than the 16 KiB it takes, so that a stop shows as a cut
	 * with a note, and never makes it wait for the rest of a long output. */
	int (*cmd_bounded)(void *ctx, const struct rap_cmd_request *req, char **out, bool *stopped);
	/* Optional, all three or none: the extension's fd-addressed messages. Without them the
	 * probe does not grant the extension messages. fd is the client's number: the handler
	 * answers RAP_EBADFD for one that is not this session's. pread: bytes read at off
	 * (fewer only at end of file) or negative; pwrite: bytes written or negative; stat:
	 * fills *st (zeroed before the call) or returns negative. Errors travel to the client
	 * as they are (RAP_E*, -errno), with a message. */
	ssize_t (*pread)(void *ctx, int32_t fd, uint64_t off, uint8_t *buf, size_t len);
	ssize_t (*pwrite)(void *ctx, int32_t fd, uint64_t off, const uint8_t *buf, size_t len);
	int (*stat)(void *ctx, int32_t fd, struct rap_stat *st);
};

/* Sans-IO server session: feed it bytes, it calls the handler and queues replies. */
struct rap_server_session;

/* handler and ctx are borrowed and must outlive the session. Errors: RAP_ENOMEM, RAP_EINVAL. */
RAP_API int rap_server_session_new(const struct rap_server_handler *handler, void *ctx,
				   struct rap_server_session **out);
RAP_API void rap_server_session_free(struct rap_server_session *s);

/* Largest WRITE/CMD payload accepted (default RAP_PACKET_MAX for stock clients; extended
 * clients may send up to this value too). Larger ones are drained and refused. */
RAP_API int rap_server_session_set_max_payload(struct rap_server_session *s, uint32_t max);

/* Requires the client to authenticate with secret (borrowed; must outlive s) before
 * anything but the probe: every other request, stock ones included, gets a stock-shaped
 * refusal (OPEN -1, an empty READ, WRITE 0, an error text for CMD, an error status for the
 * extension's messages), then the session ends (rap_server_session_closing) and the reason
 * is logged. So does a failed or second handshake. Errors: RAP_EINVAL, RAP_ENOTSUP (a build
 * without OpenSSL). */
RAP_API int rap_server_session_require_auth(struct rap_server_session *s, const struct rap_secret *secret);

/* True when the session needs no authentication, or the client has authenticated. */
RAP_API bool rap_server_session_authenticated(const struct rap_server_session *s);

/* True once the session wants the connection closed after its queued replies are sent (an
 * authentication refused or failed); it takes no more input. */
RAP_API bool rap_server_session_closing(const struct rap_server_session *s);

/* Reply bytes the session holds: those queued, and the rest of a XCMD output still to be
 * framed into chunks as the queue drains. */
RAP_API size_t rap_server_session_buffered(const struct rap_server_session *s);

/* Largest CMD reply sent to a client that did not probe (stock clients reject more than
 * RAP_STOCK_CMD_REPLY_MAX bytes and then lose sync); longer output is cut with a note.
 * 0 disables the cut. Default RAP_STOCK_CMD_REPLY_MAX. */
RAP_API void rap_server_session_set_stock_reply_max(struct rap_server_session *s, uint32_t max);

/* Decodes in[0..len) and runs every complete request. Returns len (all consumed) or
 * RAP_EPROTO when the peer must be dropped (unknown opcode); the reason is available from
 * rap_server_session_error(). Replies queue until taken with rap_server_session_output. */
RAP_API ssize_t rap_server_session_feed(struct rap_server_session *s, const uint8_t *in, size_t len);

/* Answers the CMD a handler answered RAP_PENDING: rc and out as cmd's result (out is heap
 * text or NULL, and the session takes it whatever happens), stopped as cmd_bounded's. Then
 * decodes and runs the requests held back behind it (which may make another CMD pending).
 * Call it from the thread that feeds s, never from inside a handler callback of s.
 * Returns 0, RAP_EINVAL when no command is pending, or the protocol error that a held-back
 * request caused (then drop the peer, as after rap_server_session_feed). */
RAP_API int rap_server_session_complete(struct rap_server_session *s, int rc, char *out, bool stopped);

/* True while a CMD answered RAP_PENDING waits for rap_server_session_complete. */
RAP_API bool rap_server_session_pending(const struct rap_server_session *s);

/* True when every complete request received so far is answered and its reply taken:
 * nothing queued, no command pending, no input held back. (A partly received request does
 * not count: it cannot be answered.) */
RAP_API bool rap_server_session_done(const struct rap_server_session *s);

/* Queued reply bytes: *data (borrowed, valid until the next call on s) and the count. */
RAP_API size_t rap_server_session_output(struct rap_server_session *s, const uint8_t **data);

/* Marks n queued bytes as sent. */
RAP_API void rap_server_session_consume(struct rap_server_session *s, size_t n);

/* Frees the session's buffers when nothing is queued or half-received (they grow again
 * with the next request), so thousands of idle sessions cost little memory. Returns true
 * when it released them. */
RAP_API bool rap_server_session_release(struct rap_server_session *s);

/* True while the session takes more input now: false while replies pile up (the caller
 * should stop reading the socket until it has sent some), while a command is pending, or
 * after a protocol error. */
RAP_API bool rap_server_session_wants_input(const struct rap_server_session *s);

/* True while the peer has sent part of a message and owes the rest (input held back
 * because of unsent replies does not count: that wait is ours). */
RAP_API bool rap_server_session_partial(const struct rap_server_session *s);

/* Complete requests decoded so far: lets a caller's request timer restart whenever one
 * completes, so long pipelines are not mistaken for a stalled message. */
RAP_API uint64_t rap_server_session_requests(const struct rap_server_session *s);

/* True while a request is partly received or requests wait behind unsent replies: the
 * caller's request timeout should run. */
RAP_API bool rap_server_session_busy(const struct rap_server_session *s);

/* Human-readable reason of the last RAP_EPROTO (static or session-owned string). */
RAP_API const char *rap_server_session_error(const struct rap_server_session *s);

/* Serves a connected blocking socket until the peer hangs up or misbehaves, running every
 * request in this thread: a handler that answers RAP_PENDING fails the session with
 * RAP_EINVAL. A peer that only shuts down its sending side still gets every reply. Returns
 * 0 on a clean hang-up, RAP_EPROTO for a dropped peer, -errno for socket errors. Does not
 * close fd. */
RAP_API int rap_server_session_serve_fd(struct rap_server_session *s, int fd);

#ifdef __cplusplus
}
#endif

#endif
