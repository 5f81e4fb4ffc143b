/* Blocking RAP client over one stream.
 *
 * Requests are encoded with the codec and replies decoded with it. Bulk reads and writes
 * keep several chunk requests in flight: RAP has no request ids, but both stock and our
 * servers answer strictly in order, and one round trip per 4 KiB is what makes radare2's
 * own client slow. Every reply length is bounded before its payload is buffered, and a
 * reply that is refused is still drained, so a refusal never costs the connection. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rap/loop.h>
#include <rap/rap.h>
#include <rap/tls.h>

#include "common.h"
#include "rap_private.h"

/* Version 2: the extension messages, and authentication (asked always: granted, it says
 * the server requires it). */
#define CAPS_WANTED (CAPS_V1 | CAP_EXT | CAP_AUTH)
#define XOPEN_PATH_MAX 4095u
#define DEFAULT_MAX_REPLY (64u << 20)
#define DECODER_LIMIT_MAX (1u << 30)
/* Bulk reads and writes keep up to c->window bytes in flight, so that the pipeline covers
 * the link's bandwidth-delay product (8 MiB: 100 Mbit/s over 600 ms, 1 Gbit/s over 60 ms),
 * in at least 2 chunks and at most RING_MAX: 15 KiB (21 KiB with PREAD) of requests a
 * read sends ahead, which any peer's receive buffer takes while it is busy sending replies (a peer that stops
 * reading requests while we send them would otherwise wait on us, and we on it). Windows
 * of up to RING_STACK chunks need no allocation. */
#define WINDOW_MAX (1u << 30)
#define RING_MAX 1024u
#define RING_STACK 32u
#define REQ_BYTES 15u /* SEEK SET + READ */
#define PREQ_BYTES 21u /* PREAD */
#define RECV_SIZE (64u << 10)
/* Stock servers accept a CMD only when 0 < len < 4096 and do not drain a longer one. */
#define STOCK_CMD_MAX (RAP_PACKET_MAX - 1)

struct rap_client {
	int fd;
	int dead;               /* 0, or the error every call returns after a desync */
	rap_reverse_cmd_fn reverse_fn;
	void *reverse_user;
	uint32_t max_reply;
	size_t window;          /* bytes of a bulk read or write in flight (rap_client_set_window) */
	int connect_timeout_ms; /* connect plus TLS handshake; 0: no limit */
	int stall_ms;           /* longest wait for the peer to take or send a byte; 0: none */
	uint32_t dec_limit;     /* payload limit currently set on dec */
	bool extended;
	uint16_t caps;
	int32_t cur_fd;         /* the fd the last OPEN answered (the server's current file), or -1 */
	const struct rap_secret *secret; /* borrowed; NULL: no authentication */
	bool authenticated;     /* the handshake succeeded on this connection */
	bool answered;          /* a whole message arrived since the connection was attached */
	struct rap_decoder *dec;
	size_t msg_bytes;       /* bytes fed to dec since it was last at a message boundary */
	size_t rpos, rlen;      /* unread input is rbuf[rpos..rlen) */
	struct rap_tls *tls;    /* NULL for plain TCP */
	const struct rap__transport *xport; /* instead of fd, when not NULL (borrowed) */
	void *xport_user;
	char error[256];        /* detail of the last connection failure */
	uint8_t rbuf[RECV_SIZE];
};

static bool ext(const struct rap_client *c)
{
	return c->extended && (c->caps & CAP_EXT);
}

static uint32_t chunk_size(const struct rap_client *c)
{
	return c->extended && (c->caps & (CAP_LARGE | CAP_EXT)) ? EXT_CHUNK_MAX : RAP_PACKET_MAX;
}

/* Keeps the message of an extension error reply as the client's error detail, and returns
 * the error, in this machine's numbering. */
static int remote_error(struct rap_client *c, const struct rap_msg *m)
{
	size_t n = m->len < RAP_ERROR_TEXT_MAX ? m->len : RAP_ERROR_TEXT_MAX;
	snprintf(c->error, sizeof(c->error), "server: %.*s", (int)n, m->data ? (const char *)m->data : "");
	/* The text is the peer's: nothing unprintable goes to a terminal from it. */
	for (char *p = c->error; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	int err = rap__status_from_wire(m->status);
	return err < 0 ? err : RAP_EPROTO;
}

/* Errors after which the stream position is unknown: every later call fails the same way
 * instead of reading someone else's reply. */
static int kill_conn(struct rap_client *c, int err)
{
	if (!c->dead)
		c->dead = err;
	return err;
}

static int usable(const struct rap_client *c)
{
	if (c->fd < 0 && !c->xport)
		return RAP_EINVAL;
	return c->dead;
}

static int set_limit(struct rap_client *c, uint32_t max)
{
	if (max > c->max_reply)
		max = c->max_reply;
	if (max == c->dec_limit)
		return 0;
	int rc = rap_decoder_set_max_payload(c->dec, max);
	if (rc == 0)
		c->dec_limit = max;
	return rc;
}

/* Waits until the socket can do what the TLS layer asked for, or until deadline (a
 * rap_loop_now_ms() time; 0 waits as long as it takes): RAP_ETIMEDOUT then. */
static int tls_wait(struct rap_client *c, uint64_t deadline)
{
	unsigned w = rap_tls_wants(c->tls);
	short events = (short)((w & RAP_LOOP_READ ? POLLIN : 0) | (w & RAP_LOOP_WRITE ? POLLOUT : 0));
	struct pollfd pfd = { .fd = c->fd, .events = events ? events : POLLIN };
	int wait = -1;
	if (deadline) {
		uint64_t now = rap_loop_now_ms();
		if (now >= deadline)
			return RAP_ETIMEDOUT;
		wait = deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
	}
	if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

/* The deadline of one wait for the peer (rap_client_set_stall_timeout), 0: none. */
static uint64_t stall_deadline(const struct rap_client *c)
{
	return c->stall_ms ? rap_loop_now_ms() + (uint64_t)c->stall_ms : 0;
}

static int stalled(struct rap_client *c)
{
	snprintf(c->error, sizeof(c->error), "the server neither sent nor took a byte for %d ms", c->stall_ms);
	return RAP_ETIMEDOUT;
}

static int tls_send_all(struct rap_client *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = rap_tls_write(c->tls, p, n);
		if (w == RAP_EAGAIN) {
			int rc = tls_wait(c, stall_deadline(c));
			if (rc == RAP_ETIMEDOUT)
				return stalled(c);
			if (rc < 0)
				return rc;
			continue;
		}
		if (w < 0) {
			snprintf(c->error, sizeof(c->error), "%s", rap_tls_error(c->tls));
			return (int)w;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends on the plain socket, waiting at most the stall timeout for room each time. */
static int send_stall(struct rap_client *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == ECONNRESET || errno == EPIPE ? RAP_ECLOSED : -errno;
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		int r = poll(&pfd, 1, c->stall_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0)
			return stalled(c);
	}
	return 0;
}

static int send_bytes(struct rap_client *c, const void *p, size_t n)
{
	int rc = c->xport ? c->xport->send(c->xport_user, p, n) :
		 c->tls ? tls_send_all(c, p, n) :
		 c->stall_ms ? send_stall(c, p, n) : rap_send_all(c->fd, p, n);
	return rc < 0 ? kill_conn(c, rc) : 0;
}

/* Refills rbuf. Waits as long as it takes: CMDs can legitimately run for minutes, and a
 * socket given to us with a receive timeout or O_NONBLOCK must not turn that into an
 * error. */
static int fill(struct rap_client *c)
{
	if (c->rpos) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->xport) {
		ssize_t n = c->xport->recv(c->xport_user, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
		if (n > 0 && (size_t)n <= sizeof c->rbuf - c->rlen) {
			c->rlen += (size_t)n;
			return 0;
		}
		return kill_conn(c, n == 0 ? RAP_ECLOSED : n < 0 ? (int)n : RAP_EPROTO);
	}
	while (c->tls) {
		ssize_t n = rap_tls_read(c->tls, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
		if (n > 0) {
			c->rlen += (size_t)n;
			return 0;
		}
		if (n == 0)
			return kill_conn(c, RAP_ECLOSED);
		if (n != RAP_EAGAIN) {
			snprintf(c->error, sizeof(c->error), "%s", rap_tls_error(c->tls));
			return kill_conn(c, (int)n);
		}
		int rc = tls_wait(c, stall_deadline(c));
		if (rc == RAP_ETIMEDOUT)
			rc = stalled(c);
		if (rc < 0)
			return kill_conn(c, rc);
	}
	for (;;) {
		if (c->stall_ms) {
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
			int r = poll(&pfd, 1, c->stall_ms);
			if (r < 0 && errno != EINTR)
				return kill_conn(c, -errno);
			if (r == 0)
				return kill_conn(c, stalled(c));
			if (r < 0)
				continue;
		}
		ssize_t n = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
		if (n > 0) {
			c->rlen += (size_t)n;
			return 0;
		}
		if (n == 0)
			return kill_conn(c, RAP_ECLOSED);
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (c->stall_ms)
				continue; /* the poll above waits */
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return kill_conn(c, -errno);
			continue;
		}
		return kill_conn(c, errno == ECONNRESET ? RAP_ECLOSED : -errno);
	}
}

/* Feeds dec at most max bytes of buffered input. */
static int decode_some(struct rap_client *c, size_t max, struct rap_msg *m)
{
	size_t avail = c->rlen - c->rpos;
	if (avail > max)
		avail = max;
	if (rap_decoder_idle(c->dec))
		c->msg_bytes = 0;
	size_t used = 0;
	int rc = rap_decoder_decode(c->dec, c->rbuf + c->rpos, avail, &used, m);
	c->rpos += used;
	c->msg_bytes += used;
	return rc;
}

/* Next complete message from the server. Its payload is borrowed from the decoder until
 * the next call. A dropped message (payload over the limit) must be passed to drain(). */
static int next_msg(struct rap_client *c, struct rap_msg *m)
{
	for (;;) {
		if (c->rpos < c->rlen) {
			size_t start = c->rpos;
			int rc = decode_some(c, SIZE_MAX, m);
			if (rc == 1) {
				c->answered = true;
				return 0;
			}
			if (rc == 0 && c->rpos == c->rlen)
				goto more;
			/* A TLS record (alert 0x15 or handshake 0x16, version 3.x) where the first
			 * reply should be: plain RAP sent to a TLS port. */
			if (!c->answered && !c->tls && c->rlen - start >= 2 &&
			    (c->rbuf[start] == 0x15 || c->rbuf[start] == 0x16) && c->rbuf[start + 1] == 0x03)
				snprintf(c->error, sizeof(c->error), "the server speaks TLS: use raps://");
			return kill_conn(c, rc < 0 ? rc : RAP_EPROTO);
		}
more:;
		int rc = fill(c);
		if (rc < 0)
			return rc;
	}
}

/* Discards the payload of a dropped message. The decoder would go on decoding whatever
 * follows it in the same call, so it is given exactly the bytes that remain; what follows
 * (the next pipelined reply) stays in rbuf for next_msg. */
static int drain(struct rap_client *c, const struct rap_msg *m)
{
	size_t header = 5; /* every payload-carrying reply and the reverse CMD: op + be32 */
	size_t done = c->msg_bytes - header;
	size_t left = m->len - done;
	while (left) {
		if (c->rpos == c->rlen) {
			int rc = fill(c);
			if (rc < 0)
				return rc;
		}
		struct rap_msg ignored;
		size_t before = c->rpos;
		int rc = decode_some(c, left, &ignored);
		if (rc != 0)
			return kill_conn(c, rc < 0 ? rc : RAP_EPROTO);
		left -= c->rpos - before;
	}
	return rap_decoder_idle(c->dec) ? 0 : kill_conn(c, RAP_EPROTO);
}

/* Next message, which must carry opcode op. Anything else means client and server no
 * longer agree on which reply is which. */
static int expect(struct rap_client *c, uint8_t op, struct rap_msg *m)
{
	int rc = next_msg(c, m);
	if (rc < 0)
		return rc;
	if (m->op != op)
		return kill_conn(c, RAP_EPROTO);
	/* Of the extension's replies only PREAD's carries data that may rightly pass the
	 * limit (its caller drains it); any other over the limit (a status, an fd, a nonce, a
	 * STAT of at most 4 KiB of name, an error message of at most 1 KiB) is nonsense, and
	 * its fields were never decoded. */
	if (m->dropped && op >= (RAP_OP_XOPEN | RAP_REPLY) && op != (RAP_OP_PREAD | RAP_REPLY))
		return kill_conn(c, RAP_EPROTO);
	return 0;
}

static size_t encode_into(const struct rap_msg *m, uint8_t *out, size_t cap)
{
	ssize_t n = rap_msg_encode(m, out, cap);
	return n > 0 ? (size_t)n : 0;
}

static size_t put_seek(uint8_t *out, uint8_t whence, uint64_t off)
{
	struct rap_msg m = { .op = RAP_OP_SEEK, .whence = whence, .offset = off };
	return encode_into(&m, out, 10);
}

/* One request without a large payload, then its reply, which must carry op. */
static int exchange(struct rap_client *c, const struct rap_msg *q, uint8_t op, struct rap_msg *m)
{
	int rc = usable(c);
	if (rc < 0)
		return rc;
	uint8_t req[3 + RAP_OPEN_PATH_MAX]; /* OPEN is the largest of them */
	size_t n = encode_into(q, req, sizeof req);
	if (!n)
		return RAP_EINVAL;
	rc = send_bytes(c, req, n);
	return rc < 0 ? rc : expect(c, op, m);
}

/* ---- lifecycle --------------------------------------------------------------------- */

int rap_client_new(struct rap_client **out)
{
	if (!out)
		return RAP_EINVAL;
	*out = NULL;
	struct rap_client *c = rap__calloc(1, sizeof *c);
	if (!c)
		return RAP_ENOMEM;
	int rc = rap_decoder_new(RAP_ROLE_CLIENT, &c->dec);
	if (rc < 0) {
		rap__free(c);
		return rc;
	}
	c->fd = -1;
	c->max_reply = DEFAULT_MAX_REPLY;
	c->window = RAP_CLIENT_WINDOW_DEFAULT;
	c->connect_timeout_ms = RAP_CLIENT_CONNECT_TIMEOUT_MS;
	c->dec_limit = 0;
	rc = set_limit(c, RAP_PACKET_MAX);
	if (rc < 0) {
		rap_decoder_free(c->dec);
		rap__free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void rap_client_free(struct rap_client *c)
{
	if (!c)
		return;
	if (c->tls) {
		rap_tls_shutdown(c->tls);
		rap_tls_free(c->tls);
	}
	if (c->fd >= 0)
		close(c->fd);
	rap_decoder_free(c->dec);
	rap__free(c);
}

void rap_client_set_reverse_cmd(struct rap_client *c, rap_reverse_cmd_fn fn, void *user)
{
	if (!c)
		return;
	c->reverse_fn = fn;
	c->reverse_user = user;
}

int rap_client_set_max_reply(struct rap_client *c, uint32_t max)
{
	if (!c || max == 0 || max > DECODER_LIMIT_MAX)
		return RAP_EINVAL;
	c->max_reply = max;
	return 0;
}

int rap_client_set_window(struct rap_client *c, size_t bytes)
{
	if (!c || bytes == 0 || bytes > WINDOW_MAX)
		return RAP_EINVAL;
	c->window = bytes;
	return 0;
}

int rap_client_set_stall_timeout(struct rap_client *c, int ms)
{
	if (!c || ms < 0)
		return RAP_EINVAL;
	c->stall_ms = ms;
	return 0;
}

int rap_client_set_connect_timeout(struct rap_client *c, int ms)
{
	if (!c || ms < 0)
		return RAP_EINVAL;
	c->connect_timeout_ms = ms;
	return 0;
}

int rap_client_connect(struct rap_client *c, const char *host, const char *port)
{
	if (!c || !host || !port || c->fd >= 0 || c->xport)
		return RAP_EINVAL;
	int fd = -1;
	int rc = rap_tcp_connect(host, port, c->connect_timeout_ms, &fd);
	if (rc < 0)
		return rc;
	return rap_client_attach_fd(c, fd);
}

int rap_client_connect_tls(struct rap_client *c, const char *host, const char *port,
			   struct rap_tls_config *cfg)
{
	if (!c || !host || !port || !cfg || c->fd >= 0 || c->xport)
		return RAP_EINVAL;
	/* One deadline for the connection and the handshake: a peer that accepts and then
	 * says nothing (not a TLS server, or a stalled one) must not hang the caller. */
	uint64_t deadline = c->connect_timeout_ms ? rap_loop_now_ms() + (uint64_t)c->connect_timeout_ms : 0;
	int fd = -1;
	int rc = rap_tcp_connect(host, port, c->connect_timeout_ms, &fd);
	if (rc < 0)
		return rc;
	struct rap_tls *t = NULL;
	rc = rap_tls_new(cfg, fd, host, &t);
	if (rc < 0) {
		snprintf(c->error, sizeof(c->error), "%s", rap_tls_config_error(cfg));
		close(fd);
		return rc;
	}
	/* The handshake runs on a non-blocking socket so that the deadline holds; the
	 * connection is blocking again afterwards, as every other call expects. */
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = -errno;
		rap_tls_free(t);
		close(fd);
		return rc;
	}
	c->fd = fd;
	c->tls = t;
	while ((rc = rap_tls_handshake(t)) == RAP_EAGAIN) {
		if ((rc = tls_wait(c, deadline)) < 0)
			break;
	}
	if (rc == 0 && fcntl(fd, F_SETFL, flags) < 0)
		rc = -errno;
	if (rc < 0) {
		if (rc == RAP_ETIMEDOUT)
			snprintf(c->error, sizeof(c->error), "TLS handshake timed out after %d ms",
				 c->connect_timeout_ms);
		else
			snprintf(c->error, sizeof(c->error), "%s", rap_tls_error(t));
		rap_tls_free(t);
		c->tls = NULL;
		c->fd = -1;
		close(fd);
		return rc;
	}
	c->tls = NULL; /* attach_fd resets the connection state; the TLS layer stays */
	c->fd = -1;
	rc = rap_client_attach_fd(c, fd);
	c->tls = t;
	return rc;
}

const char *rap_client_error(const struct rap_client *c)
{
	return c ? c->error : "";
}

static void reset_conn(struct rap_client *c)
{
	c->dead = 0;
	c->extended = false;
	c->caps = 0;
	c->cur_fd = -1;
	c->authenticated = false;
	rap_decoder_set_extension(c->dec, false);
	c->answered = false;
	c->rpos = c->rlen = 0;
	rap_decoder_reset(c->dec);
}

int rap__client_attach_transport(struct rap_client *c, const struct rap__transport *t, void *user)
{
	if (!c || !t || !t->recv || !t->send || c->fd >= 0 || c->xport)
		return RAP_EINVAL;
	c->xport = t;
	c->xport_user = user;
	reset_conn(c);
	return 0;
}

int rap_client_attach_fd(struct rap_client *c, int fd)
{
	if (!c || fd < 0 || c->fd >= 0 || c->xport)
		return RAP_EINVAL;
	c->fd = fd;
	reset_conn(c);
	return 0;
}

int rap_client_fd(const struct rap_client *c)
{
	return c ? c->fd : -1;
}

bool rap_client_extended(const struct rap_client *c)
{
	return c && c->extended;
}

bool rap_client_has_extension(const struct rap_client *c)
{
	return c && ext(c);
}

bool rap_client_authenticated(const struct rap_client *c)
{
	return c && c->authenticated;
}

bool rap_client_alive(const struct rap_client *c)
{
	return c && usable(c) == 0;
}

void rap_client_set_secret(struct rap_client *c, const struct rap_secret *secret)
{
	if (c)
		c->secret = secret;
}

/* The handshake (doc/protocol.md, "Authentication"): our nonce, the server's, our proof,
 * the server's proof checked. Any failure ends the connection (the server ends it too). */
static int authenticate(struct rap_client *c)
{
	uint8_t nc[RAP_AUTH_NONCE_LEN], ns[RAP_AUTH_NONCE_LEN];
	uint8_t mine[RAP_AUTH_MAC_LEN], theirs[RAP_AUTH_MAC_LEN];
	int rc = rap__auth_nonce(nc);
	if (rc < 0) {
		snprintf(c->error, sizeof(c->error), "authentication: cannot make a nonce");
		return kill_conn(c, rc);
	}
	struct rap_msg q = { .op = RAP_OP_AUTH_HELLO, .len = RAP_AUTH_NONCE_LEN, .data = nc };
	struct rap_msg m;
	rc = exchange(c, &q, RAP_OP_AUTH_HELLO | RAP_REPLY, &m);
	if (rc < 0)
		return rc;
	if (m.status < 0) {
		rc = remote_error(c, &m);
		return kill_conn(c, rc == RAP_EAUTH ? rc : RAP_EAUTH);
	}
	memcpy(ns, m.data, RAP_AUTH_NONCE_LEN);
	rc = rap__auth_proof(c->secret, false, ns, nc, mine);
	if (rc == 0)
		rc = rap__auth_proof(c->secret, true, ns, nc, theirs);
	if (rc < 0) {
		snprintf(c->error, sizeof(c->error), "authentication: cannot compute a proof");
		goto out;
	}
	q = (struct rap_msg){ .op = RAP_OP_AUTH_PROOF, .len = RAP_AUTH_MAC_LEN, .data = mine };
	rc = exchange(c, &q, RAP_OP_AUTH_PROOF | RAP_REPLY, &m);
	if (rc < 0)
		goto out;
	if (m.status < 0) {
		remote_error(c, &m);
		snprintf(c->error, sizeof(c->error), "authentication failed: the server refused our proof (a "
			 "different secret?)");
		rc = kill_conn(c, RAP_EAUTH);
	} else if (!rap__auth_equal(m.data, theirs, RAP_AUTH_MAC_LEN)) {
		snprintf(c->error, sizeof(c->error), "authentication failed: the server could not prove it "
			 "knows the secret");
		rc = kill_conn(c, RAP_EAUTH);
	} else {
		c->authenticated = true;
	}
out:
	rap__cleanse(mine, sizeof(mine));
	rap__cleanse(theirs, sizeof(theirs));
	return rc;
}

/* ---- simple requests --------------------------------------------------------------- */

int rap_client_probe(struct rap_client *c)
{
	if (!c)
		return RAP_EINVAL;
	struct rap_msg q = { .op = RAP_OP_SEEK, .whence = RAP_SEEK_PROBE,
			     .offset = ((uint64_t)PROBE_MAGIC << 32) |
				       ((uint64_t)PROBE_VERSION << 16) | CAPS_WANTED };
	struct rap_msg m;
	int rc = exchange(c, &q, RAP_OP_SEEK | RAP_REPLY, &m);
	/* Every RAP server answers the probe (stock ones with their position); hanging up on
	 * it is what TLS servers that send no alert do with plain bytes. */
	if (rc == RAP_ECLOSED && !c->answered && !c->tls)
		snprintf(c->error, sizeof(c->error),
			 "the server closed the connection without answering (a TLS port? then use raps://)");
	if (rc < 0)
		return rc;
	/* A stock server answered its position: nothing moved, nothing to undo. */
	uint16_t version = (uint16_t)(m.offset >> 16);
	uint16_t granted = (uint16_t)m.offset;
	if ((m.offset >> 32) != PROBE_ANSWER || version < 1 || version > PROBE_VERSION ||
	    (granted & ~(version == 1 ? CAPS_V1 : CAPS_WANTED))) {
		if (c->secret) {
			snprintf(c->error, sizeof(c->error), "the server does not authenticate (a stock server): "
				 "refusing to go on without knowing it has the secret");
			return kill_conn(c, RAP_EAUTH);
		}
		return 0;
	}
	c->extended = true;
	c->caps = granted;
	rap_decoder_set_extension(c->dec, (granted & (CAP_EXT | CAP_AUTH)) != 0);
	if (granted & CAP_AUTH) {
		if (!c->secret) {
			snprintf(c->error, sizeof(c->error), "the server requires authentication: give the "
				 "shared secret (rapcli --secret-file FILE)");
			return RAP_EAUTH;
		}
		if (!c->authenticated) {
			rc = authenticate(c);
			if (rc < 0)
				return rc;
		}
	} else if (c->secret && !c->authenticated) {
		/* Nothing more goes to a server that could be anyone. */
		snprintf(c->error, sizeof(c->error), "the server does not authenticate (rapsrv without "
			 "--secret-file?): refusing to go on without knowing it has the secret");
		return kill_conn(c, RAP_EAUTH);
	}
	return 1;
}

/* XOPEN: the fd, or the server's error with its message (rap_client_error). */
static int xopen(struct rap_client *c, const char *path, uint8_t perm)
{
	size_t n = strlen(path);
	if (n > XOPEN_PATH_MAX)
		return RAP_EINVAL;
	int rc = usable(c);
	if (rc < 0)
		return rc;
	struct rap_msg q = { .op = RAP_OP_XOPEN, .perm = perm, .len = (uint32_t)n,
			     .data = (const uint8_t *)path };
	uint8_t req[6 + XOPEN_PATH_MAX];
	size_t len = encode_into(&q, req, sizeof req);
	struct rap_msg m = { 0 };
	rc = send_bytes(c, req, len);
	if (rc == 0)
		rc = expect(c, RAP_OP_XOPEN | RAP_REPLY, &m);
	if (rc < 0)
		return rc;
	if (m.status < 0)
		return remote_error(c, &m);
	if (m.value < 0)
		return kill_conn(c, RAP_EPROTO);
	c->cur_fd = m.value;
	return m.value;
}

int rap_client_open(struct rap_client *c, const char *path, uint8_t perm)
{
	if (!c || !path)
		return RAP_EINVAL;
	if (ext(c))
		return xopen(c, path, perm);
	size_t n = strlen(path) + 1;
	/* A 255-byte name makes a stock server leave its accept loop altogether. */
	if (n >= RAP_OPEN_PATH_MAX)
		return RAP_EINVAL;
	struct rap_msg q = { .op = RAP_OP_OPEN, .perm = perm, .len = (uint32_t)n,
			     .data = (const uint8_t *)path };
	struct rap_msg m;
	int rc = exchange(c, &q, RAP_OP_OPEN | RAP_REPLY, &m);
	if (rc < 0)
		return rc;
	if (m.value < 0)
		return RAP_EREMOTE;
	c->cur_fd = m.value;
	return m.value;
}

int rap_client_seek(struct rap_client *c, uint64_t off, int whence, uint64_t *pos)
{
	if (!c || (whence != RAP_SEEK_SET && whence != RAP_SEEK_CUR && whence != RAP_SEEK_END))
		return RAP_EINVAL;
	struct rap_msg q = { .op = RAP_OP_SEEK, .whence = (uint8_t)whence, .offset = off };
	struct rap_msg m;
	int rc = exchange(c, &q, RAP_OP_SEEK | RAP_REPLY, &m);
	if (rc < 0)
		return rc;
	if (pos)
		*pos = m.offset;
	return 0;
}

int rap_client_stat(struct rap_client *c, int32_t fd, struct rap_stat *st)
{
	if (!c || !st)
		return RAP_EINVAL;
	if (!ext(c))
		return usable(c) < 0 ? usable(c) : RAP_ENOTSUP;
	struct rap_msg q = { .op = RAP_OP_STAT, .value = fd };
	struct rap_msg m;
	/* Room for the longest name (and any error message). */
	int rc = set_limit(c, 10 + RAP_STAT_NAME_MAX);
	if (rc < 0)
		return rc;
	rc = exchange(c, &q, RAP_OP_STAT | RAP_REPLY, &m);
	if (rc < 0)
		return rc;
	if (m.status < 0)
		return remote_error(c, &m);
	if (rap_stat_parse(m.data, m.len, st) < 0)
		return kill_conn(c, RAP_EPROTO);
	return 0;
}

int rap_client_size(struct rap_client *c, uint64_t *size)
{
	if (!c)
		return RAP_EINVAL;
	int rc = usable(c);
	if (rc < 0)
		return rc;
	if (ext(c) && c->cur_fd >= 0) {
		/* One round trip instead of three. */
		struct rap_stat *st = rap__malloc(sizeof(*st));
		if (!st)
			return RAP_ENOMEM;
		rc = rap_client_stat(c, c->cur_fd, st);
		if (rc == 0 && size)
			*size = st->size;
		rap__free(st);
		return rc;
	}
	/* CUR and END do not move, so both go out together; SET back needs CUR's answer. */
	uint8_t req[20];
	size_t n = put_seek(req, RAP_SEEK_CUR, 0);
	n += put_seek(req + n, RAP_SEEK_END, 0);
	rc = send_bytes(c, req, n);
	if (rc < 0)
		return rc;
	struct rap_msg m;
	rc = expect(c, RAP_OP_SEEK | RAP_REPLY, &m);
	if (rc < 0)
		return rc;
	uint64_t cur = m.offset;
	rc = expect(c, RAP_OP_SEEK | RAP_REPLY, &m);
	if (rc < 0)
		return rc;
	uint64_t end = m.offset;
	rc = rap_client_seek(c, cur, RAP_SEEK_SET, NULL);
	if (rc < 0)
		return rc;
	if (size)
		*size = end;
	return 0;
}

int rap_client_close_fd(struct rap_client *c, int32_t fd)
{
	if (!c)
		return RAP_EINVAL;
	bool x = ext(c);
	struct rap_msg q = { .op = x ? RAP_OP_XCLOSE : RAP_OP_CLOSE, .value = fd };
	struct rap_msg m;
	int rc = exchange(c, &q, q.op | RAP_REPLY, &m);
	if (rc < 0)
		return rc;
	if (x ? m.status < 0 : m.value < 0)
		return x ? remote_error(c, &m) : RAP_EREMOTE;
	if (fd == c->cur_fd)
		c->cur_fd = -1;
	return 0;
}

/* ---- bulk reads and writes --------------------------------------------------------- */

/* One chunk request of a read or write pipeline. */
struct chunk {
	uint64_t off;
	size_t at;  /* position in the caller's buffer */
	size_t len;
};

/* How many chunk requests of len bytes in chunks of chunk bytes may be in flight: the
 * window's worth, at least 2, at most RING_MAX, and no more than the transfer has. */
static size_t in_flight(const struct rap_client *c, size_t chunk, size_t len)
{
	size_t n = c->window / chunk;
	if (n < 2)
		n = 2;
	if (n > RING_MAX)
		n = RING_MAX;
	size_t need = len / chunk + (len % chunk != 0);
	if (need == 0)
		need = 1; /* callers never pipeline nothing; a ring is never empty */
	return n < need ? n : need;
}

/* The ring of a pipeline of n chunks, and a buffer of req_bytes per chunk for the requests
 * that top it up: in the struct (on the caller's stack) up to RING_STACK chunks, else in
 * one allocation (heap, freed by the caller). Without memory for a large one the stack's
 * RING_STACK chunks do: a smaller window is slower, never wrong. */
struct ring {
	struct chunk stack[RING_STACK];
	uint8_t stack_req[RING_STACK * PREQ_BYTES]; /* the larger request kind */
	struct chunk *k;
	uint8_t *req;
	size_t n;
	void *heap;
};

static void ring_init(struct ring *r, size_t n, size_t req_bytes)
{
	r->k = r->stack;
	r->req = r->stack_req;
	r->heap = NULL;
	if (n > RING_STACK) {
		r->heap = rap__malloc(n * (sizeof(struct chunk) + req_bytes));
		if (r->heap) {
			r->k = r->heap;
			r->req = (uint8_t *)(r->k + n);
		} else {
			n = RING_STACK;
		}
	}
	if (n == 0)
		n = 1;
	r->n = n;
	/* Every slot is written before it is read; cleared anyway, so that no path through
	 * the pipelines can read an unset one. */
	memset(r->k, 0, n * sizeof(*r->k));
}

/* Reads the reply to chunk k's request: the SEEK's first when it is not addressed (*placed:
 * whether the server got to k's offset), then op's. */
static int chunk_reply(struct rap_client *c, bool addressed, uint8_t op, const struct chunk *k, struct rap_msg *m,
		       bool *placed)
{
	*placed = true;
	if (!addressed) {
		int rc = expect(c, RAP_OP_SEEK | RAP_REPLY, m);
		if (rc < 0)
			return rc;
		*placed = m->offset == k->off;
	}
	return expect(c, op | RAP_REPLY, m);
}

/* Reads [off, off+len) in chunks, a window's worth of requests in flight, the replies
 * collected in order: PREADs of fd on our server (addressed), else SEEK SET + READ pairs of
 * the current file. Stops asking at the first short reply (the end of the file) or error;
 * replies already in flight are still read so the stream stays in step. */
static ssize_t read_chunks(struct rap_client *c, bool addressed, int32_t fd, uint64_t off, uint8_t *dst, size_t len)
{
	/* A reply is never asked to be larger than the client accepts. */
	size_t chunk = chunk_size(c) < c->max_reply ? chunk_size(c) : c->max_reply;
	int rc = set_limit(c, (uint32_t)chunk);
	if (rc < 0)
		return rc;
	struct ring r;
	ring_init(&r, in_flight(c, chunk, len), addressed ? PREQ_BYTES : REQ_BYTES);
	size_t head = 0, inflight = 0;
	size_t asked = 0;   /* bytes requested so far */
	size_t got = 0;     /* contiguous bytes received from the start */
	bool stop = false;  /* no more requests: short reply or error */
	int err = 0;        /* first per-chunk failure; the stream is still in step */
	while (inflight || (!stop && asked < len)) {
		/* Top the window up in one send when half of it has been answered. */
		if (!stop && asked < len && inflight <= r.n / 2) {
			size_t n = 0;
			while (inflight < r.n && asked < len) {
				struct chunk *k = &r.k[(head + inflight) % r.n];
				k->off = off + asked;
				k->at = asked;
				k->len = len - asked < chunk ? len - asked : chunk;
				struct rap_msg q = { .op = RAP_OP_PREAD, .value = fd, .offset = k->off,
						     .len = (uint32_t)k->len };
				if (!addressed) {
					n += put_seek(r.req + n, RAP_SEEK_SET, k->off);
					q.op = RAP_OP_READ;
				}
				n += encode_into(&q, r.req + n, addressed ? PREQ_BYTES : REQ_BYTES - 10 /* the SEEK's */);
				asked += k->len;
				inflight++;
			}
			rc = send_bytes(c, r.req, n);
			if (rc < 0)
				goto out;
		}
		struct chunk *k = &r.k[head];
		struct rap_msg m;
		bool placed;
		rc = chunk_reply(c, addressed, addressed ? RAP_OP_PREAD : RAP_OP_READ, k, &m, &placed);
		if (rc < 0)
			goto out;
		if (m.dropped || (m.status == 0 && m.len > k->len)) {
			/* Stock clients reject this too; the peer is confused, but in sync. */
			if (m.dropped && (rc = drain(c, &m)) < 0)
				goto out;
			if (!err)
				err = RAP_EPROTO;
			stop = true;
		} else if (m.status < 0 || !placed) {
			/* What was read before it still counts, as for a short read. A server that
			 * could not seek there would answer data that belongs elsewhere. */
			if (!err && got == 0 && (!placed || k->at == 0))
				err = placed ? remote_error(c, &m) : RAP_EREMOTE;
			stop = true;
		} else if (!stop && got == k->at) {
			memcpy(dst + k->at, m.data, m.len);
			got += m.len;
			if (m.len < k->len)
				stop = true;
		}
		head = (head + 1) % r.n;
		inflight--;
	}
	rap__free(r.heap);
	return err ? err : (ssize_t)got;
out:
	rap__free(r.heap);
	return rc;
}

ssize_t rap_client_pread(struct rap_client *c, int32_t fd, uint64_t off, void *buf, size_t len)
{
	if (!c || (!buf && len) || len > SSIZE_MAX)
		return RAP_EINVAL;
	int rc = usable(c);
	if (rc < 0)
		return rc;
	if (!ext(c))
		return RAP_ENOTSUP;
	return len ? read_chunks(c, true, fd, off, buf, len) : 0;
}

ssize_t rap_client_read_at(struct rap_client *c, uint64_t off, void *buf, size_t len)
{
	if (!c || (!buf && len) || len > SSIZE_MAX)
		return RAP_EINVAL;
	int rc = usable(c);
	if (rc < 0)
		return rc;
	if (len == 0)
		return 0;
	/* Our server: addressed reads of the file last opened, no SEEK. */
	bool addressed = ext(c) && c->cur_fd >= 0;
	return read_chunks(c, addressed, addressed ? c->cur_fd : -1, off, buf, len);
}

/* Writes [off, off+len) in chunks, a window's worth ahead of the replies: PWRITEs of fd on
 * our server (addressed), else SEEK SET + WRITE pairs of the current file. A short count or
 * an error ends the write (chunks already sent are still written by the server). */
static ssize_t write_chunks(struct rap_client *c, bool addressed, int32_t fd, uint64_t off, const uint8_t *src,
			    size_t len)
{
	size_t chunk = chunk_size(c);
	int rc = set_limit(c, RAP_PACKET_MAX);
	if (rc < 0)
		return rc;
	/* One request at a time: PWRITE's 17 bytes, or SEEK's 10 and WRITE's 5, and the data. */
	uint8_t *req = rap__malloc(17 + chunk);
	if (!req)
		return RAP_ENOMEM;
	struct ring r;
	ring_init(&r, in_flight(c, chunk, len), 0);
	size_t head = 0, inflight = 0, asked = 0, done = 0;
	bool stop = false;
	int err = 0;
	ssize_t ret;
	while (inflight || (!stop && asked < len)) {
		while (!stop && inflight < r.n && asked < len) {
			struct chunk *k = &r.k[(head + inflight) % r.n];
			k->off = off + asked;
			k->at = asked;
			k->len = len - asked < chunk ? len - asked : chunk;
			struct rap_msg q = { .op = RAP_OP_PWRITE, .value = fd, .offset = k->off,
					     .len = (uint32_t)k->len, .data = src + k->at };
			size_t n = 0;
			if (!addressed) {
				n = put_seek(req, RAP_SEEK_SET, k->off);
				q.op = RAP_OP_WRITE;
			}
			n += encode_into(&q, req + n, 17 + k->len - n);
			ret = send_bytes(c, req, n);
			if (ret < 0)
				goto out;
			asked += k->len;
			inflight++;
		}
		struct chunk *k = &r.k[head];
		struct rap_msg m;
		bool placed;
		ret = chunk_reply(c, addressed, addressed ? RAP_OP_PWRITE : RAP_OP_WRITE, k, &m, &placed);
		if (ret < 0)
			goto out;
		/* What the reply says: the chunk failed, or how much of it was written. */
		bool failed = true;
		size_t wrote = k->len;
		uint32_t result = (uint32_t)m.value;
		if (addressed) {
			if (m.status < 0) {
				/* What was written before it still counts, as for a short write. */
				if (!err && done == k->at && done == 0)
					err = remote_error(c, &m);
			} else if (m.value < 0 || (size_t)m.value > k->len) {
				if (!err)
					err = RAP_EPROTO;
			} else {
				failed = false;
				wrote = (size_t)m.value;
			}
		} else if ((int32_t)result < 0 && c->extended && (c->caps & CAP_WRITE_ERRORS)) {
			/* Our server says why (a read-only server: RAP_EDENIED); only codes of ours. */
			if (!err && done == k->at)
				err = rap__is_rap_error((int32_t)result) ? (int32_t)result : RAP_EPROTO;
		} else if (!placed || result == 0) {
			/* Stock answers 0 for any failure (read-only file, nothing written). */
			if (!err && done == k->at)
				err = RAP_EREMOTE;
		} else if (c->extended && result > k->len) {
			if (!err)
				err = RAP_EPROTO;
		} else {
			/* Our server answers a byte count; stock answers 1 for any success, so only
			 * an extended peer can report a partial write. */
			failed = false;
			if (c->extended)
				wrote = result;
		}
		if (!failed && done == k->at)
			done += wrote;
		if (failed || wrote < k->len)
			stop = true;
		head = (head + 1) % r.n;
		inflight--;
	}
	ret = err ? err : (ssize_t)done;
out:
	rap__free(r.heap);
	rap__free(req);
	return ret;
}

ssize_t rap_client_pwrite(struct rap_client *c, int32_t fd, uint64_t off, const void *buf, size_t len)
{
	if (!c || (!buf && len) || len > SSIZE_MAX)
		return RAP_EINVAL;
	int rc = usable(c);
	if (rc < 0)
		return rc;
	if (!ext(c))
		return RAP_ENOTSUP;
	return len ? write_chunks(c, true, fd, off, buf, len) : 0;
}

ssize_t rap_client_write_at(struct rap_client *c, uint64_t off, const void *buf, size_t len)
{
	if (!c || (!buf && len) || len > SSIZE_MAX)
		return RAP_EINVAL;
	int rc = usable(c);
	if (rc < 0)
		return rc;
	if (len == 0)
		return 0;
	/* Our server: addressed writes of the file last opened, no SEEK. */
	bool addressed = ext(c) && c->cur_fd >= 0;
	return write_chunks(c, addressed, addressed ? c->cur_fd : -1, off, buf, len);
}

/* ---- CMD --------------------------------------------------------------------------- */

/* Answers a reverse CMD (server -> client 0x07). Every one gets an answer, refused or
 * not: the server is blocked until it arrives. */
static int answer_reverse(struct rap_client *c, const struct rap_msg *m)
{
	char *text = NULL;
	const char *answer;
	if (m->dropped) {
		int rc = drain(c, m);
		if (rc < 0)
			return rc;
		answer = "error: reverse command too long\n";
	} else if (!c->reverse_fn) {
		answer = "reverse commands are disabled on this client\n";
	} else {
		int rc = c->reverse_fn(c->reverse_user, m->data ? (const char *)m->data : "", &text);
		answer = text ? text : rc < 0 ? "error: reverse command refused\n" : "";
	}
	size_t n = strlen(answer) + 1;
	if (n > DECODER_LIMIT_MAX)
		n = DECODER_LIMIT_MAX; /* no decoder takes more; the text is cut, its NUL kept */
	int rc = RAP_ENOMEM;
	uint8_t *pkt = rap__malloc(5 + n);
	if (pkt) {
		pkt[0] = RAP_OP_CMD | RAP_REPLY;
		rap__put_be32(pkt + 1, (uint32_t)n);
		memcpy(pkt + 5, answer, n - 1);
		pkt[5 + n - 1] = 0;
		rc = send_bytes(c, pkt, 5 + n);
		rap__free(pkt);
	} else {
		/* The server waits for this answer forever otherwise. */
		kill_conn(c, rc);
	}
	free(text);
	return rc;
}

/* XCMD: the output's chunks go to fn (until it refuses one: the rest is read and dropped,
 * and its error returned); the final frame's exit status to *status. Returns 0, the
 * server's refusal (its message in c->error), or a connection error. */
static int xcmd(struct rap_client *c, const char *cmd, rap_cmd_chunk_fn fn, void *user, int *status,
		bool *refused)
{
	*refused = false;
	size_t n = strlen(cmd);
	if (n > DECODER_LIMIT_MAX)
		return RAP_ETOOBIG;
	int rc = set_limit(c, XCMD_CHUNK < c->max_reply ? XCMD_CHUNK : c->max_reply);
	if (rc < 0)
		return rc;
	uint8_t *req = rap__malloc(5 + n);
	if (!req)
		return RAP_ENOMEM;
	struct rap_msg q = { .op = RAP_OP_XCMD, .len = (uint32_t)n, .data = (const uint8_t *)cmd };
	rc = send_bytes(c, req, encode_into(&q, req, 5 + n));
	rap__free(req);
	if (rc < 0)
		return rc;
	int err = 0;
	for (;;) {
		struct rap_msg m;
		rc = next_msg(c, &m);
		if (rc < 0)
			return rc;
		if (m.op == RAP_OP_CMD) {
			if ((rc = answer_reverse(c, &m)) < 0)
				return rc;
			continue;
		}
		if (m.op == (RAP_OP_XCMD_OUT | RAP_REPLY)) {
			if (m.dropped) {
				/* A chunk over our limit: the server's chunks are 64 KiB. */
				if ((rc = drain(c, &m)) < 0)
					return rc;
				if (!err)
					err = RAP_ETOOBIG;
			} else if (!err && m.len && (rc = fn(user, (const char *)m.data, m.len)) < 0) {
				err = rc;
			}
			continue;
		}
		if (m.op != (RAP_OP_XCMD | RAP_REPLY))
			return kill_conn(c, RAP_EPROTO);
		if (m.dropped) {
			if ((rc = drain(c, &m)) < 0)
				return rc;
			return err ? err : RAP_ETOOBIG;
		}
		if (m.status < 0) {
			*refused = true;
			return remote_error(c, &m);
		}
		if (status)
			*status = m.status == (int32_t)CMD_STATUS_OK ? RAP_CMD_STATUS_OK : RAP_CMD_STATUS_FAILED;
		return err;
	}
}

/* Collects a XCMD's output, up to the client's max reply. */
struct collect {
	struct rap__buf b;
	bool over;
};

static int collect_chunk(void *user, const char *data, size_t len)
{
	struct collect *k = user;
	int rc = rap__buf_append(&k->b, data, len);
	if (rc == RAP_ETOOBIG)
		k->over = true;
	return rc;
}

int rap_client_cmd_stream(struct rap_client *c, const char *cmd, rap_cmd_chunk_fn fn, void *user, int *status)
{
	if (status)
		*status = RAP_CMD_STATUS_UNKNOWN;
	if (!c || !cmd || !fn)
		return RAP_EINVAL;
	int rc = usable(c);
	if (rc < 0)
		return rc;
	bool refused;
	if (ext(c))
		return xcmd(c, cmd, fn, user, status, &refused);
	/* A stock server answers in one piece. */
	char *out = NULL;
	size_t len = 0;
	rc = rap_client_cmd_status(c, cmd, &out, &len, status);
	if (rc == 0 && len)
		rc = fn(user, out, len);
	free(out);
	return rc;
}

int rap_client_cmd_status(struct rap_client *c, const char *cmd, char **out, size_t *outlen,
			  int *status)
{
	if (out)
		*out = NULL;
	if (outlen)
		*outlen = 0;
	if (status)
		*status = RAP_CMD_STATUS_UNKNOWN;
	if (!c || !cmd || !out)
		return RAP_EINVAL;
	int rc = usable(c);
	if (rc < 0)
		return rc;
	if (ext(c)) {
		struct collect k = { .over = false };
		rap__buf_init(&k.b, c->max_reply);
		int st = RAP_CMD_STATUS_UNKNOWN;
		bool refused;
		rc = xcmd(c, cmd, collect_chunk, &k, &st, &refused);
		if (refused) {
			/* Its message is the output, as a stock server's text would be. */
			k.b.len = 0;
			rc = rap__buf_printf(&k.b, "error: %s\n", c->error + strlen("server: "));
			st = RAP_CMD_STATUS_FAILED;
		}
		size_t len = k.b.len;
		char *text = rc < 0 ? NULL : rap__buf_steal_str(&k.b);
		rap__buf_free(&k.b);
		if (rc < 0)
			return rc;
		if (!text)
			return RAP_ENOMEM;
		*out = text;
		if (outlen)
			*outlen = len;
		if (status)
			*status = st;
		return 0;
	}
	size_t n = strlen(cmd) + 1;
	/* A stock server would parse the rest of a longer command as packets. */
	if ((!c->extended && n > STOCK_CMD_MAX) || n > DECODER_LIMIT_MAX)
		return RAP_ETOOBIG;
	rc = set_limit(c, c->max_reply);
	if (rc < 0)
		return rc;
	uint8_t *req = rap__malloc(5 + n);
	if (!req)
		return RAP_ENOMEM;
	struct rap_msg q = { .op = RAP_OP_CMD, .len = (uint32_t)n, .data = (const uint8_t *)cmd };
	rc = send_bytes(c, req, encode_into(&q, req, 5 + n));
	rap__free(req);
	if (rc < 0)
		return rc;

	struct rap_msg m;
	for (;;) {
		rc = next_msg(c, &m);
		if (rc < 0)
			return rc;
		if (m.op != RAP_OP_CMD)
			break;
		rc = answer_reverse(c, &m);
		if (rc < 0)
			return rc;
	}
	if (m.op != (RAP_OP_CMD | RAP_REPLY))
		return kill_conn(c, RAP_EPROTO);
	if (m.dropped) {
		rc = drain(c, &m);
		return rc < 0 ? rc : RAP_ETOOBIG;
	}
	/* The length counts a trailing NUL; 0 means the server sent no text at all. A server
	 * that granted CAP_CMD_STATUS puts the status after the NUL (and always sends both). */
	size_t len = m.len;
	int st = RAP_CMD_STATUS_UNKNOWN;
	if (c->extended && (c->caps & CAP_CMD_STATUS)) {
		if (len < 5 || m.data[len - 5] != 0)
			return kill_conn(c, RAP_EPROTO);
		uint32_t v = rap__get_be32(m.data + len - 4);
		st = v == CMD_STATUS_OK ? 0 : 1;
		len -= 4;
	}
	if (len && m.data[len - 1] == 0)
		len--;
	char *text = rap__malloc(len + 1);
	if (!text)
		return RAP_ENOMEM;
	if (len)
		memcpy(text, m.data, len);
	text[len] = 0;
	*out = text;
	if (outlen)
		*outlen = len;
	if (status)
		*status = st;
	return 0;
}

int rap_client_cmd(struct rap_client *c, const char *cmd, char **out, size_t *outlen)
{
	return rap_client_cmd_status(c, cmd, out, outlen, NULL);
}
