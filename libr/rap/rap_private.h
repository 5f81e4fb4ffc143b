/* Declarations shared by the files of librap only. */
#ifndef RAP_PRIVATE_H
#define RAP_PRIVATE_H

#include <stdbool.h>

/* Extension probe (doc/protocol.md, "Extension probe"). The client's SEEK offset carries
 * "RAPX" in its high 32 bits, then the protocol version and the capabilities it wants; our
 * server's answer carries "rapx", the version it speaks and the capabilities it grants. */
#define PROBE_MAGIC 0x52415058u  /* "RAPX" */
#define PROBE_ANSWER 0x72617078u /* "rapx" */
#define PROBE_VERSION 1u
#define CAP_LARGE 0x0001u        /* READ/WRITE up to EXT_CHUNK_MAX, CMD replies uncut */
#define CAP_CMD_STATUS 0x0002u   /* CMD replies end with a be32 status after the text's NUL */
#define CMD_STATUS_OK 0u         /* the command line succeeded */
#define CMD_STATUS_FAILED 1u     /* it failed or was refused; the text says why */
#define CAP_WRITE_ERRORS 0x0004u /* a failed WRITE answers a negative RAP_E* code, not 0 */
#define EXT_CHUNK_MAX (1u << 20)

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
