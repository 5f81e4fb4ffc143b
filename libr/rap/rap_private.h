/* Declarations shared by the files of librap only. */
#ifndef RAP_PRIVATE_H
#define RAP_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Extension probe (doc/protocol.md, "Extension probe"). The client's SEEK offset carries
 * "RAPX" in its high 32 bits, then the protocol version and the capabilities it wants; our
 * server's answer carries "rapx", the version it speaks and the capabilities it grants. */
#define PROBE_MAGIC 0x52415058u  /* "RAPX" */
#define PROBE_ANSWER 0x72617078u /* "rapx" */
#define PROBE_VERSION 2u
#define CAP_LARGE 0x0001u        /* READ/WRITE up to EXT_CHUNK_MAX, CMD replies uncut */
#define CAP_CMD_STATUS 0x0002u   /* CMD replies end with a be32 status after the text's NUL */
#define CMD_STATUS_OK 0u         /* the command line succeeded */
#define CMD_STATUS_FAILED 1u     /* it failed or was refused; the text says why */
#define CAP_WRITE_ERRORS 0x0004u /* a failed WRITE answers a negative RAP_E* code, not 0 */
#define EXT_CHUNK_MAX (1u << 20)
/* Version 2 (a server answering version 1 grants none of these): */
#define CAP_EXT 0x0008u          /* the extension messages 0x10..0x15 (fd-addressed, errors) */
#define CAP_AUTH 0x0010u         /* asked: the client can authenticate; granted: it must */
#define CAPS_V1 (CAP_LARGE | CAP_CMD_STATUS | CAP_WRITE_ERRORS)
/* A XCMD's output travels in chunks of at most this many bytes. */
#define XCMD_CHUNK (64u << 10)

/* Error codes on the wire (doc/protocol.md, "Errors"): 0 and positive values as they are,
 * RAP_E* codes as they are, -errno in Linux's generic numbering; anything else becomes
 * RAP_EREMOTE. */
int32_t rap__status_to_wire(int err);
int rap__status_from_wire(int32_t status);

/* Authentication (auth.c). rap__auth_nonce fills a nonce from OpenSSL's generator;
 * rap__auth_proof computes HMAC-SHA256(secret, label | ns | nc), the label saying whose
 * proof it is ("rap-auth-v1 server" or "rap-auth-v1 client"); rap__auth_equal compares in
 * constant time; rap__cleanse zeroes memory the compiler may not skip. Errors:
 * RAP_ENOTSUP (no OpenSSL, or no entropy), RAP_ENOMEM. */
struct rap_secret;
int rap__auth_nonce(uint8_t nonce[32]);
int rap__auth_proof(const struct rap_secret *s, bool server, const uint8_t ns[32], const uint8_t nc[32],
		    uint8_t mac[32]);
bool rap__auth_equal(const uint8_t *a, const uint8_t *b, size_t n);
void rap__cleanse(void *p, size_t n);

/* Buffers up to this size survive rap_server_session_release. */
#define RELEASE_KEEP 1024u

struct rap_decoder;
struct rap_client;

/* A byte stream a client can talk over instead of a socket, so that a test or a fuzz
 * harness (fuzz/fuzz_client.c) drives a whole client session in memory, without a system
 * call. */
struct rap__transport {
	/* Reads up to n bytes into buf: the count (> 0), 0 at the end of the stream, or a
	 * negative error. */
	ssize_t (*recv)(void *user, void *buf, size_t n);
	/* Sends all n bytes of buf: 0, or a negative error. */
	int (*send)(void *user, const void *buf, size_t n);
};

/* Connects c to t (borrowed; t and user must outlive the connection) as
 * rap_client_attach_fd does to a socket; rap_client_fd then answers -1. Errors: RAP_EINVAL
 * (c is already connected). */
int rap__client_attach_transport(struct rap_client *c, const struct rap__transport *t, void *user);

/* True for the RAP_E* codes of rap.h (not -errno values, not 0). */
bool rap__is_rap_error(int err);

/* Frees the payload buffer (when larger than RELEASE_KEEP) of a decoder at a message boundary (it grows again with the
 * next payload): idle server sessions then hold no buffers. The last message's data is
 * invalid afterwards. */
void rap__decoder_release(struct rap_decoder *d);

#endif
