/* Sans-IO RAP server session: bytes in, handler calls, reply bytes out.
 *
 * The stock server trusts every length it reads and dies or desyncs on the first odd packet;
 * this session validates each header before its body (the codec does that), drains what it
 * refuses, and answers every complete request in order, so one client can neither stall nor
 * confuse the process serving it. See doc/protocol.md for the deviations and the probe. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rap/rap.h>

#include "common.h"
#include "rap_private.h"

/* Even extended clients refuse CMD replies over their max reply (64 MiB by default), so an
 * uncut reply is still bounded here; stock clients are bounded by stock_reply_max. */
#define EXT_CMD_REPLY_MAX (64u << 20)

/* Requests are decoded only while fewer than HIGH_WATER reply bytes wait to be sent; the
 * rest of the input is held back. That bounds what a pipelining (or hostile) client can
 * make us queue to one reply beyond this mark. */
#define HIGH_WATER (256u << 10)
#define OUT_MAX (HIGH_WATER + EXT_CMD_REPLY_MAX + 64u)
/* An emptied reply queue holding more than this gives its memory back, so one big CMD
 * reply does not pin it for the rest of the session. */
#define OUT_KEEP (2u << 20)
/* Held-back input beyond this means the caller keeps feeding without draining replies. */
#define PENDING_MAX (8u << 20)
/* A bounded CMD for a client without the extension may print this much more than the reply
 * carries, so that a command stopped at its bound is always longer than the cut (and gets
 * the note) even after its own one-line explanation is appended and cut at a line end. */
#define STOCK_STOP_MARGIN 256u
/* CMD replies longer than this take over the handler's buffer instead of being copied. */
#define ADOPT_MIN (64u << 10)

#define SERVE_READ_SIZE (64u << 10)
/* XCMD: the most output a bounded handler is asked for. The session frames any amount in
 * chunks as the queue drains; what bounds it is the handler (rap_server: its per-command
 * bound, rapsrv --max-session-buffered). */
#define XCMD_OUTPUT_MAX_64 ((uint64_t)1 << 40)
/* 1 TiB, or all a 32-bit size_t can count (1 << 40 does not fit it). */
#define XCMD_OUTPUT_MAX ((size_t)(XCMD_OUTPUT_MAX_64 < SIZE_MAX ? XCMD_OUTPUT_MAX_64 : SIZE_MAX))
/* XOPEN paths: longer ones are refused (no file system takes them). */
#define XOPEN_PATH_MAX 4095u

enum auth_state {
	AUTH_NONE,     /* no authentication required */
	AUTH_WANTED,   /* required, no handshake yet */
	AUTH_CHALLENGED, /* the client's nonce came, ours went out */
	AUTH_DONE,     /* the client proved it has the secret */
};

struct rap_server_session {
	const struct rap_server_handler *h;
	void *ctx;
	struct rap_decoder *dec;
	uint32_t max_payload;     /* WRITE/CMD payload limit for stock sessions */
	uint32_t stock_reply_max; /* 0 = no cut */
	bool extended;            /* the client sent a valid probe */
	uint16_t caps;            /* granted capabilities */
	struct rap__buf out;      /* queued replies; out.data[out_off..out.len) not yet sent */
	size_t out_off;
	struct rap__buf pending;  /* input not decoded yet because output is above HIGH_WATER */
	int failed;               /* 0, or the error feed() keeps returning */
	bool cmd_pending;         /* a CMD handler answered RAP_PENDING */
	bool xcmd_pending;        /* ... for a XCMD: its answer goes out in chunks */
	bool in_handler;          /* a handler callback is running (complete() refuses) */
	uint64_t requests;        /* complete messages decoded so far */
	/* A XCMD's output being framed into chunks as the queue drains: stream[stream_off..
	 * stream_len) is still to go, then the final frame with stream_status. */
	bool streaming;
	char *stream;             /* heap (the handler's), NULL for no output */
	size_t stream_len, stream_off;
	int32_t stream_status;
	/* Authentication (rap_server_session_require_auth). */
	const struct rap_secret *secret; /* borrowed; NULL: none required */
	enum auth_state auth;
	uint8_t ns[RAP_AUTH_NONCE_LEN], nc[RAP_AUTH_NONCE_LEN]; /* this handshake's nonces */
	bool closing;             /* ends once the queued replies are sent; no more input */
	char reason[160];
};

static void slog(struct rap_server_session *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void slog(struct rap_server_session *s, int level, const char *fmt, ...)
{
	if (!s->h->log)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	s->h->log(s->ctx, level, line);
}

static void fail(struct rap_server_session *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct rap_server_session *s, int err, const char *fmt, ...)
{
	if (s->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof s->reason, fmt, ap);
	va_end(ap);
	s->failed = err;
	slog(s, 3, "dropping client: %s", s->reason);
}

static bool large(const struct rap_server_session *s)
{
	return s->extended && (s->caps & CAP_LARGE);
}

static bool ext(const struct rap_server_session *s)
{
	return s->extended && (s->caps & CAP_EXT);
}

static uint32_t decoder_limit(const struct rap_server_session *s)
{
	if ((large(s) || ext(s)) && s->max_payload < EXT_CHUNK_MAX)
		return EXT_CHUNK_MAX;
	return s->max_payload;
}

/* Ends the session once the replies queued so far are sent: nothing more is decoded and
 * the input held back is forgotten. */
static void end_session(struct rap_server_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void end_session(struct rap_server_session *s, const char *fmt, ...)
{
	if (s->closing)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof s->reason, fmt, ap);
	va_end(ap);
	s->closing = true;
	slog(s, 4, "%s", s->reason);
}

/* ---- reply queue ------------------------------------------------------------------- */

static size_t out_queued(const struct rap_server_session *s)
{
	return s->out.len - s->out_off;
}

/* Room for n more reply bytes at out.data + out.len. Sent bytes are squeezed out first;
 * appends only happen below HIGH_WATER, so the move stays small. */
static int out_reserve(struct rap_server_session *s, size_t n)
{
	if (s->out_off) {
		memmove(s->out.data, s->out.data + s->out_off, out_queued(s));
		s->out.len -= s->out_off;
		s->out_off = 0;
	}
	int rc = rap__buf_reserve(&s->out, n);
	if (rc < 0)
		fail(s, rc, "cannot queue a %zu-byte reply: %s", n, rap_strerror(rc));
	return rc;
}

static void reply_u32(struct rap_server_session *s, uint8_t op, uint32_t v)
{
	if (out_reserve(s, 5) < 0)
		return;
	uint8_t *p = s->out.data + s->out.len;
	p[0] = op;
	rap__put_be32(p + 1, v);
	s->out.len += 5;
}

static void reply_u64(struct rap_server_session *s, uint8_t op, uint64_t v)
{
	if (out_reserve(s, 9) < 0)
		return;
	uint8_t *p = s->out.data + s->out.len;
	p[0] = op;
	rap__put_be64(p + 1, v);
	s->out.len += 9;
}

/* op len text NUL, len counting the NUL. */
static void reply_text(struct rap_server_session *s, uint8_t op, const char *text, size_t n)
{
	if (out_reserve(s, 5 + n + 1) < 0)
		return;
	uint8_t *p = s->out.data + s->out.len;
	p[0] = op;
	rap__put_be32(p + 1, (uint32_t)(n + 1));
	memcpy(p + 5, text, n);
	p[5 + n] = 0;
	s->out.len += 5 + n + 1;
}

/* An extension reply with status 0 and body[0..n) after it. */
static void reply_ext(struct rap_server_session *s, uint8_t op, const void *body, size_t n)
{
	if (out_reserve(s, 9 + n) < 0)
		return;
	uint8_t *p = s->out.data + s->out.len;
	p[0] = op;
	rap__put_be32(p + 1, (uint32_t)(4 + n));
	rap__put_be32(p + 5, 0);
	if (n)
		memcpy(p + 9, body, n);
	s->out.len += 9 + n;
}

static void reply_ext_u32(struct rap_server_session *s, uint8_t op, uint32_t v)
{
	uint8_t b[4];
	rap__put_be32(b, v);
	reply_ext(s, op, b, 4);
}

static void reply_ext_error(struct rap_server_session *s, uint8_t op, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* An extension reply saying err, with a message: what fmt says, ": ", the error's text. */
static void reply_ext_error(struct rap_server_session *s, uint8_t op, int err, const char *fmt, ...)
{
	char msg[RAP_ERROR_TEXT_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
	n = snprintf(msg + len, sizeof msg - len, "%s%s", len ? ": " : "", rap_strerror(err));
	len += n < 0 ? 0 : (size_t)n < sizeof msg - len ? (size_t)n : sizeof msg - len - 1;
	if (out_reserve(s, 9 + len) < 0)
		return;
	uint8_t *p = s->out.data + s->out.len;
	p[0] = op;
	rap__put_be32(p + 1, (uint32_t)(4 + len));
	rap__put_be32(p + 5, (uint32_t)rap__status_to_wire(err < 0 ? err : RAP_EREMOTE));
	memcpy(p + 9, msg, len);
	s->out.len += 9 + len;
}

/* The payload limit of a CMD reply to this client: what it accepts (0: no cut). */
static uint32_t cmd_reply_max(const struct rap_server_session *s)
{
	return large(s) ? EXT_CMD_REPLY_MAX : s->stock_reply_max;
}

static bool cmd_with_status(const struct rap_server_session *s)
{
	return s->extended && (s->caps & CAP_CMD_STATUS);
}

/* The longest text a CMD reply to this client carries uncut (its NUL and status aside). */
static size_t cmd_text_max(const struct rap_server_session *s)
{
	uint32_t max = cmd_reply_max(s);
	if (max == 0)
		max = EXT_CMD_REPLY_MAX;
	if (cmd_with_status(s) && max > 5)
		max -= 4;
	return max - 1;
}

/* Makes text (heap) the reply queue's buffer, sized for a reply of reply_len bytes whose
 * text (its first keep bytes) starts behind the 5-byte header, with the q bytes already
 * queued in front: a long output is moved within its own allocation, never copied whole.
 * Returns where the reply starts, or NULL (text freed, session failed). */
static uint8_t *out_adopt(struct rap_server_session *s, char *text, size_t keep, size_t reply_len)
{
	size_t q = out_queued(s);
	if (reply_len > s->out.max - q) {
		free(text);
		fail(s, RAP_ETOOBIG, "cannot queue a %zu-byte reply: %s", reply_len, rap_strerror(RAP_ETOOBIG));
		return NULL;
	}
	uint8_t *p = rap__realloc(text, q + reply_len);
	if (!p) {
		free(text);
		fail(s, RAP_ENOMEM, "cannot queue a %zu-byte reply: %s", reply_len, rap_strerror(RAP_ENOMEM));
		return NULL;
	}
	memmove(p + q + 5, p, keep);
	if (q)
		memcpy(p, s->out.data + s->out_off, q);
	rap__buf_free(&s->out);
	s->out.data = p;
	s->out.len = q + 5 + keep;
	s->out.cap = q + reply_len;
	s->out_off = 0;
	return p + q;
}

/* A CMD reply of at most max payload bytes: the text, its NUL and, for a client granted
 * CAP_CMD_STATUS, the be32 status. Longer output is cut on a UTF-8 character boundary and
 * ends with a note saying how much is missing, so the reader knows the text is incomplete
 * instead of silently getting a prefix; when the handler stopped the command at its bound
 * (stopped), the total is unknown and the note says the command was stopped. Takes text
 * (heap or NULL; freed here). */
static void reply_cmd(struct rap_server_session *s, char *text, uint32_t status, bool stopped)
{
	size_t n = text ? strlen(text) : 0;
	uint32_t max = cmd_reply_max(s);
	bool with_status = cmd_with_status(s);
	if (with_status && max > 5)
		max -= 4;
	char note[128];
	int nl = 0;
	size_t keep = n;
	if (max != 0 && n + 1 > max) {
		/* Sized with the largest possible count first: the real count has no more digits. */
		if (stopped)
			nl = snprintf(note, sizeof note, "\n[rap: output truncated at %zu bytes; the command was stopped there]\n", n);
		else
			nl = snprintf(note, sizeof note, "\n[rap: output truncated, %zu of %zu bytes not shown]\n", n, n);
		if (nl > 0 && (size_t)nl + 1 < max) {
			keep = max - 1 - (size_t)nl;
			while (keep > 0 && ((unsigned char)text[keep] & 0xc0) == 0x80)
				keep--;
			if (stopped)
				nl = snprintf(note, sizeof note, "\n[rap: output truncated at %zu bytes; the command was stopped there]\n",
					      keep);
			else
				nl = snprintf(note, sizeof note, "\n[rap: output truncated, %zu of %zu bytes not shown]\n",
					      n - keep, n);
		} else {
			keep = max - 1;
			nl = 0;
		}
		if (stopped)
			slog(s, 5, "CMD output stopped after %zu bytes for a client without the extension", keep);
		else
			slog(s, 5, "CMD output of %zu bytes cut to %zu for a client without the extension", n, keep);
	}
	size_t total = keep + (size_t)nl;
	size_t payload = total + 1 + (with_status ? 4 : 0);
	uint8_t *p;
	if (payload >= ADOPT_MIN) {
		p = out_adopt(s, text, keep, 5 + payload);
		if (!p)
			return;
	} else {
		if (out_reserve(s, 5 + payload) < 0) {
			free(text);
			return;
		}
		p = s->out.data + s->out.len;
		if (keep)
			memcpy(p + 5, text, keep);
		free(text);
		s->out.len += 5 + keep;
	}
	p[0] = RAP_OP_CMD | RAP_REPLY;
	rap__put_be32(p + 1, (uint32_t)payload);
	memcpy(p + 5 + keep, note, (size_t)nl);
	p[5 + total] = 0;
	if (with_status)
		rap__put_be32(p + 5 + total + 1, status);
	s->out.len += payload - keep;
}

/* A CMD reply with a text of ours (a refusal): copied, since it is small. */
static void reply_cmd_text(struct rap_server_session *s, const char *text, uint32_t status)
{
	char *copy = rap__strdup(text);
	if (!copy) {
		fail(s, RAP_ENOMEM, "cannot queue a reply: %s", rap_strerror(RAP_ENOMEM));
		return;
	}
	reply_cmd(s, copy, status, false);
}

/* ---- requests ---------------------------------------------------------------------- */

static void do_open(struct rap_server_session *s, const struct rap_msg *m)
{
	if (m->dropped) {
		slog(s, 4, "OPEN path of %u bytes over the payload limit: refused", m->len);
		reply_u32(s, RAP_OP_OPEN | RAP_REPLY, UINT32_MAX);
		return;
	}
	const char *path = m->data ? (const char *)m->data : "";
	int fd = s->h->open(s->ctx, path, m->perm);
	if (fd < 0) {
		/* Stock servers hang up here; stock clients handle -1 just as well. */
		slog(s, 6, "OPEN '%s' (perm %u) failed: %s", path, m->perm, rap_strerror(fd));
		fd = -1;
	}
	reply_u32(s, RAP_OP_OPEN | RAP_REPLY, (uint32_t)fd);
}

static void do_read(struct rap_server_session *s, const struct rap_msg *m)
{
	uint32_t limit = large(s) ? EXT_CHUNK_MAX : RAP_PACKET_MAX;
	size_t n = m->len < limit ? m->len : limit;
	if (out_reserve(s, 5 + n) < 0)
		return;
	uint8_t *p = s->out.data + s->out.len;
	ssize_t got = n ? s->h->read(s->ctx, p + 5, n) : 0;
	if (got < 0) {
		slog(s, 7, "READ of %zu bytes failed: %s", n, rap_strerror((int)got));
		got = 0;
	} else if ((size_t)got > n) {
		slog(s, 3, "handler read returned %zd for %zu bytes; answering %zu", got, n, n);
		got = (ssize_t)n;
	}
	p[0] = RAP_OP_READ | RAP_REPLY;
	rap__put_be32(p + 1, (uint32_t)got);
	s->out.len += 5 + (size_t)got;
}

static void do_write(struct rap_server_session *s, const struct rap_msg *m)
{
	/* Stock clients know only 0 for a failure; a client granted CAP_WRITE_ERRORS is told
	 * which: a RAP_E* code (a stable number of ours, unlike errno values, which differ
	 * between architectures; those become RAP_EREMOTE). */
	bool codes = s->extended && (s->caps & CAP_WRITE_ERRORS);
	if (m->dropped) {
		slog(s, 4, "WRITE of %u bytes over the %u-byte limit: drained and refused", m->len,
		     decoder_limit(s));
		reply_u32(s, RAP_OP_WRITE | RAP_REPLY, codes ? (uint32_t)(int32_t)RAP_ETOOBIG : 0);
		return;
	}
	ssize_t put = m->len ? s->h->write(s->ctx, m->data, m->len) : 0;
	if (put < 0) {
		slog(s, 7, "WRITE of %u bytes failed: %s", m->len, rap_strerror((int)put));
		put = !codes ? 0 : rap__is_rap_error((int)put) ? put : RAP_EREMOTE;
	} else if ((size_t)put > m->len) {
		put = (ssize_t)m->len;
	}
	reply_u32(s, RAP_OP_WRITE | RAP_REPLY, (uint32_t)(int32_t)put);
}

static void do_probe(struct rap_server_session *s, uint64_t offset)
{
	uint16_t version = (uint16_t)(offset >> 16);
	uint16_t want = (uint16_t)offset;
	/* Answering a version above the client's would make it take us for a stock peer
	 * while this session already counts as extended. */
	uint16_t speak = version && version < PROBE_VERSION ? version : PROBE_VERSION;
	/* Version 1 knows bits 0-2; the extension messages need the handler's fd-addressed
	 * callbacks; authentication is granted exactly when it is required. */
	uint16_t supported = CAPS_V1;
	if (speak >= 2) {
		if (s->h->pread && s->h->pwrite && s->h->stat)
			supported |= CAP_EXT;
		if (s->secret)
			supported |= CAP_AUTH;
	}
	s->extended = true;
	s->caps = want & supported;
	rap_decoder_set_extension(s->dec, (s->caps & (CAP_EXT | CAP_AUTH)) != 0);
	int rc = rap_decoder_set_max_payload(s->dec, decoder_limit(s));
	if (rc < 0) {
		fail(s, rc, "cannot raise the payload limit: %s", rap_strerror(rc));
		return;
	}
	slog(s, 6, "extension probe: client version %u caps 0x%04x, granted 0x%04x", version, want,
	     s->caps);
	if (s->auth == AUTH_WANTED && !(s->caps & CAP_AUTH))
		slog(s, 5, "client cannot authenticate (probe version %u, caps 0x%04x): its requests will be "
			   "refused", version, want);
	reply_u64(s, RAP_OP_SEEK | RAP_REPLY,
		  ((uint64_t)PROBE_ANSWER << 32) | ((uint64_t)speak << 16) | s->caps);
}

static void do_seek(struct rap_server_session *s, const struct rap_msg *m)
{
	uint64_t pos = 0;
	int rc;
	bool query = false;
	switch (m->whence) {
	case RAP_SEEK_SET:
		rc = s->h->seek(s->ctx, RAP_SEEK_SET, m->offset, &pos);
		break;
	case RAP_SEEK_END:
		rc = s->h->seek(s->ctx, RAP_SEEK_END, 0, &pos);
		break;
	case RAP_SEEK_PROBE:
		if ((m->offset >> 32) == PROBE_MAGIC) {
			do_probe(s, m->offset);
			return;
		}
		/* Without the magic it is just an unknown whence, as on stock. */
		/* fall through */
	default:
		/* Stock servers answer the position for CUR and for any unknown whence, ignoring
		 * the offset; clients rely on it (the probe does too). */
		query = true;
		rc = s->h->seek(s->ctx, RAP_SEEK_CUR, 0, &pos);
		break;
	}
	if (rc < 0) {
		slog(s, 7, "SEEK whence %u offset 0x%llx failed: %s", m->whence,
		     (unsigned long long)m->offset, rap_strerror(rc));
		if (query || s->h->seek(s->ctx, RAP_SEEK_CUR, 0, &pos) < 0)
			pos = 0;
	}
	reply_u64(s, RAP_OP_SEEK | RAP_REPLY, pos);
}

static void do_close(struct rap_server_session *s, const struct rap_msg *m)
{
	int rc = s->h->close(s->ctx, m->value);
	if (rc < 0)
		slog(s, 7, "CLOSE of fd %d refused: %s", (int)m->value, rap_strerror(rc));
	reply_u32(s, RAP_OP_CLOSE | RAP_REPLY, rc < 0 ? UINT32_MAX : 0);
}

/* Queues the answer of a CMD that ran: rc and out as the handler's. */
static void finish_cmd(struct rap_server_session *s, int rc, char *out, bool stopped)
{
	uint32_t status = rc < 0 ? CMD_STATUS_FAILED : CMD_STATUS_OK;
	if (rc < 0 && !out) {
		char text[128];
		snprintf(text, sizeof text, "error: command refused: %s\n", rap_strerror(rc));
		reply_cmd_text(s, text, status);
		return;
	}
	/* A NULL result is empty output: stock clients reject a 0 length, not an empty text. */
	reply_cmd(s, out, status, stopped);
}

static void do_cmd(struct rap_server_session *s, const struct rap_msg *m)
{
	if (m->dropped) {
		char text[128];
		snprintf(text, sizeof text, "error: command too long (%u bytes, limit %u)\n", m->len,
			 decoder_limit(s));
		slog(s, 4, "CMD of %u bytes over the %u-byte limit: drained and refused", m->len,
		     decoder_limit(s));
		reply_cmd_text(s, text, CMD_STATUS_FAILED);
		return;
	}
	if (m->len == 0) {
		/* What stock answers; stock clients never send it (they count the NUL). */
		reply_u32(s, RAP_OP_CMD | RAP_REPLY, 0);
		return;
	}
	char *out = NULL;
	bool stopped = false;
	int rc;
	s->in_handler = true;
	if (s->h->cmd_bounded) {
		/* A client without the extension is asked for a little more than it takes, so
		 * that a command stopped at the bound is cut with the note. */
		size_t max = cmd_text_max(s);
		if (!large(s) && s->stock_reply_max)
			max += STOCK_STOP_MARGIN;
		struct rap_cmd_request req = { (const char *)m->data, max, NULL, NULL };
		rc = s->h->cmd_bounded(s->ctx, &req, &out, &stopped);
	} else {
		rc = s->h->cmd(s->ctx, (const char *)m->data, &out);
	}
	s->in_handler = false;
	if (rc == RAP_PENDING) {
		/* The answer comes with rap_server_session_complete; nothing is decoded until
		 * then. An output handed along with it would be lost, so it is not expected. */
		free(out);
		s->cmd_pending = true;
		return;
	}
	finish_cmd(s, rc, out, stopped);
}

/* ---- the extension's messages ------------------------------------------------------- */

static void do_xopen(struct rap_server_session *s, const struct rap_msg *m)
{
	uint8_t op = RAP_OP_XOPEN | RAP_REPLY;
	if (m->dropped) {
		slog(s, 4, "XOPEN of %u bytes over the payload limit: refused", m->len);
		reply_ext_error(s, op, RAP_ETOOBIG, "path of %u bytes", m->len - 1);
		return;
	}
	const char *path = (const char *)m->data;
	if (m->len > XOPEN_PATH_MAX) {
		reply_ext_error(s, op, -ENAMETOOLONG, "path of %u bytes (at most %u)", m->len, XOPEN_PATH_MAX);
		return;
	}
	if (memchr(path, 0, m->len)) {
		reply_ext_error(s, op, RAP_EINVAL, "path holds a NUL byte");
		return;
	}
	int fd = s->h->open(s->ctx, path, m->perm);
	if (fd < 0) {
		slog(s, 6, "XOPEN '%s' (perm %u) failed: %s", path, m->perm, rap_strerror(fd));
		reply_ext_error(s, op, fd, "cannot open '%s'", path);
		return;
	}
	reply_ext_u32(s, op, (uint32_t)fd);
}

static void do_pread(struct rap_server_session *s, const struct rap_msg *m)
{
	uint8_t op = RAP_OP_PREAD | RAP_REPLY;
	uint32_t limit = decoder_limit(s);
	if (m->len > limit) {
		reply_ext_error(s, op, RAP_ETOOBIG, "PREAD of %u bytes (at most %u)", m->len, limit);
		return;
	}
	size_t n = m->len;
	if (out_reserve(s, 9 + n) < 0)
		return;
	uint8_t *p = s->out.data + s->out.len;
	ssize_t got = n ? s->h->pread(s->ctx, m->value, m->offset, p + 9, n) : 0;
	if (got < 0) {
		slog(s, 7, "PREAD of %zu bytes at fd %d offset 0x%llx failed: %s", n, (int)m->value,
		     (unsigned long long)m->offset, rap_strerror((int)got));
		reply_ext_error(s, op, (int)got, "cannot read fd %d at 0x%llx", (int)m->value,
				(unsigned long long)m->offset);
		return;
	}
	if ((size_t)got > n) {
		slog(s, 3, "handler pread returned %zd for %zu bytes; answering %zu", got, n, n);
		got = (ssize_t)n;
	}
	p[0] = op;
	rap__put_be32(p + 1, (uint32_t)(4 + (size_t)got));
	rap__put_be32(p + 5, 0);
	s->out.len += 9 + (size_t)got;
}

static void do_pwrite(struct rap_server_session *s, const struct rap_msg *m)
{
	uint8_t op = RAP_OP_PWRITE | RAP_REPLY;
	if (m->dropped) {
		slog(s, 4, "PWRITE of %u bytes over the %u-byte limit: drained and refused", m->len - 12,
		     decoder_limit(s));
		reply_ext_error(s, op, RAP_ETOOBIG, "PWRITE of %u bytes (at most %u)", m->len - 12, decoder_limit(s));
		return;
	}
	ssize_t put = m->len ? s->h->pwrite(s->ctx, m->value, m->offset, m->data, m->len) : 0;
	if (put < 0) {
		slog(s, 7, "PWRITE of %u bytes at fd %d failed: %s", m->len, (int)m->value, rap_strerror((int)put));
		reply_ext_error(s, op, (int)put, "cannot write fd %d at 0x%llx", (int)m->value,
				(unsigned long long)m->offset);
		return;
	}
	if ((size_t)put > m->len)
		put = (ssize_t)m->len;
	reply_ext_u32(s, op, (uint32_t)put);
}

static void do_stat(struct rap_server_session *s, const struct rap_msg *m)
{
	uint8_t op = RAP_OP_STAT | RAP_REPLY;
	/* 4 KiB of name: off the stack of a small thread. */
	struct rap_stat *st = rap__calloc(1, sizeof(*st));
	if (!st) {
		reply_ext_error(s, op, RAP_ENOMEM, "cannot describe fd %d", (int)m->value);
		return;
	}
	int rc = s->h->stat(s->ctx, m->value, st);
	if (rc < 0) {
		reply_ext_error(s, op, rc, "cannot describe fd %d", (int)m->value);
	} else {
		st->name[RAP_STAT_NAME_MAX] = '\0';
		uint8_t body[10 + RAP_STAT_NAME_MAX];
		ssize_t n = rap_stat_format(st, body, sizeof body);
		if (n < 0)
			reply_ext_error(s, op, (int)n, "cannot describe fd %d", (int)m->value);
		else
			reply_ext(s, op, body, (size_t)n);
	}
	rap__free(st);
}

static void do_xclose(struct rap_server_session *s, const struct rap_msg *m)
{
	uint8_t op = RAP_OP_XCLOSE | RAP_REPLY;
	int rc = s->h->close(s->ctx, m->value);
	if (rc < 0) {
		slog(s, 7, "XCLOSE of fd %d refused: %s", (int)m->value, rap_strerror(rc));
		reply_ext_error(s, op, rc, "cannot close fd %d", (int)m->value);
		return;
	}
	reply_ext(s, op, NULL, 0);
}

/* Frames what is left of a XCMD's output into chunks while the queue is below HIGH_WATER,
 * then the final frame with the exit status. */
static void pump_stream(struct rap_server_session *s)
{
	while (s->streaming && !s->failed && out_queued(s) < HIGH_WATER) {
		size_t left = s->stream_len - s->stream_off;
		if (left == 0) {
			if (out_reserve(s, 9) < 0)
				return;
			uint8_t *p = s->out.data + s->out.len;
			p[0] = RAP_OP_XCMD | RAP_REPLY;
			rap__put_be32(p + 1, 4);
			rap__put_be32(p + 5, (uint32_t)s->stream_status);
			s->out.len += 9;
			free(s->stream);
			s->stream = NULL;
			s->streaming = false;
			return;
		}
		size_t n = left < XCMD_CHUNK ? left : XCMD_CHUNK;
		reply_ext(s, RAP_OP_XCMD_OUT | RAP_REPLY, s->stream + s->stream_off, n);
		s->stream_off += n;
	}
}

/* Queues the answer of a XCMD that ran: its output in chunks, then its exit status (0
 * succeeded, 1 failed: the output says why); a refusal without output is an error status
 * with a message. Takes out. */
static void finish_xcmd(struct rap_server_session *s, int rc, char *out)
{
	if (rc < 0 && !out) {
		reply_ext_error(s, RAP_OP_XCMD | RAP_REPLY, rc, "command refused");
		return;
	}
	s->streaming = true;
	s->stream = out;
	s->stream_len = out ? strlen(out) : 0;
	s->stream_off = 0;
	s->stream_status = rc < 0 ? (int32_t)CMD_STATUS_FAILED : (int32_t)CMD_STATUS_OK;
	pump_stream(s);
}

static void do_xcmd(struct rap_server_session *s, const struct rap_msg *m)
{
	uint8_t op = RAP_OP_XCMD | RAP_REPLY;
	if (m->dropped) {
		slog(s, 4, "XCMD of %u bytes over the %u-byte limit: drained and refused", m->len, decoder_limit(s));
		reply_ext_error(s, op, RAP_ETOOBIG, "command of %u bytes (at most %u)", m->len, decoder_limit(s));
		return;
	}
	if (m->len == 0 || memchr(m->data, 0, m->len)) {
		reply_ext_error(s, op, RAP_EINVAL, m->len ? "command holds a NUL byte" : "empty command");
		return;
	}
	char *out = NULL;
	bool stopped = false;
	int rc;
	s->in_handler = true;
	if (s->h->cmd_bounded) {
		struct rap_cmd_request req = { (const char *)m->data, XCMD_OUTPUT_MAX, NULL, NULL };
		rc = s->h->cmd_bounded(s->ctx, &req, &out, &stopped);
	} else {
		rc = s->h->cmd(s->ctx, (const char *)m->data, &out);
	}
	s->in_handler = false;
	if (rc == RAP_PENDING) {
		free(out);
		s->cmd_pending = true;
		s->xcmd_pending = true;
		return;
	}
	finish_xcmd(s, rc, out);
}

/* ---- authentication ---------------------------------------------------------------- */

static void do_auth_hello(struct rap_server_session *s, const struct rap_msg *m)
{
	uint8_t op = RAP_OP_AUTH_HELLO | RAP_REPLY;
	if (!s->secret) {
		reply_ext_error(s, op, RAP_ENOTSUP, "this server does not authenticate (no rapsrv --secret-file)");
		return;
	}
	if (s->auth != AUTH_WANTED) {
		reply_ext_error(s, op, RAP_EAUTH, "one handshake per connection");
		end_session(s, "authentication: a second handshake on the connection; closing");
		return;
	}
	memcpy(s->nc, m->data, RAP_AUTH_NONCE_LEN);
	int rc = rap__auth_nonce(s->ns);
	if (rc < 0) {
		reply_ext_error(s, op, rc, "cannot make a nonce");
		end_session(s, "authentication: cannot make a nonce: %s", rap_strerror(rc));
		return;
	}
	s->auth = AUTH_CHALLENGED;
	reply_ext(s, op, s->ns, RAP_AUTH_NONCE_LEN);
}

static void do_auth_proof(struct rap_server_session *s, const struct rap_msg *m)
{
	uint8_t op = RAP_OP_AUTH_PROOF | RAP_REPLY;
	if (!s->secret) {
		reply_ext_error(s, op, RAP_ENOTSUP, "this server does not authenticate (no rapsrv --secret-file)");
		return;
	}
	if (s->auth != AUTH_CHALLENGED) {
		reply_ext_error(s, op, RAP_EAUTH, s->auth == AUTH_DONE ? "already authenticated" : "no challenge");
		end_session(s, "authentication: a proof %s; closing",
			    s->auth == AUTH_DONE ? "after the client authenticated" : "without a challenge");
		return;
	}
	uint8_t want[RAP_AUTH_MAC_LEN], mine[RAP_AUTH_MAC_LEN];
	int rc = rap__auth_proof(s->secret, false, s->ns, s->nc, want);
	bool ok = rc == 0 && rap__auth_equal(m->data, want, RAP_AUTH_MAC_LEN);
	if (ok)
		rc = rap__auth_proof(s->secret, true, s->ns, s->nc, mine);
	rap__cleanse(want, sizeof want);
	rap__cleanse(s->ns, sizeof s->ns);
	rap__cleanse(s->nc, sizeof s->nc);
	if (rc < 0) {
		reply_ext_error(s, op, rc, "cannot check the proof");
		end_session(s, "authentication: cannot compute a proof: %s", rap_strerror(rc));
	} else if (!ok) {
		/* One attempt per connection: a guesser pays a connection per guess. */
		s->auth = AUTH_WANTED;
		reply_ext_error(s, op, RAP_EAUTH, "wrong proof");
		end_session(s, "authentication failed: wrong secret, or a replayed handshake; closing");
	} else {
		s->auth = AUTH_DONE;
		slog(s, 6, "client authenticated");
		reply_ext(s, op, mine, RAP_AUTH_MAC_LEN);
	}
	rap__cleanse(mine, sizeof mine);
}

static const char *op_name(uint8_t op)
{
	switch (op) {
	case RAP_OP_OPEN: return "OPEN";
	case RAP_OP_READ: return "READ";
	case RAP_OP_WRITE: return "WRITE";
	case RAP_OP_SEEK: return "SEEK";
	case RAP_OP_CLOSE: return "CLOSE";
	case RAP_OP_SYSTEM: return "SYSTEM";
	case RAP_OP_CMD: return "CMD";
	case RAP_OP_XOPEN: return "XOPEN";
	case RAP_OP_PREAD: return "PREAD";
	case RAP_OP_PWRITE: return "PWRITE";
	case RAP_OP_STAT: return "STAT";
	case RAP_OP_XCLOSE: return "XCLOSE";
	case RAP_OP_XCMD: return "XCMD";
	default: return "request";
	}
}

/* A request before authentication: the refusal stock clients understand (the extension's
 * messages get their error status), then the end of the session. */
static void refuse_unauthenticated(struct rap_server_session *s, const struct rap_msg *m)
{
	static const char text[] = "error: authentication required: this server needs a shared secret "
				   "(rapcli --secret-file FILE)\n";
	switch (m->op) {
	case RAP_OP_OPEN:
	case RAP_OP_CLOSE:
		reply_u32(s, m->op | RAP_REPLY, UINT32_MAX);
		break;
	case RAP_OP_READ:
		reply_u32(s, RAP_OP_READ | RAP_REPLY, 0);
		break;
	case RAP_OP_WRITE:
		/* RAP_EDENIED is a code every write-errors client knows. */
		reply_u32(s, RAP_OP_WRITE | RAP_REPLY,
			  s->extended && (s->caps & CAP_WRITE_ERRORS) ? (uint32_t)(int32_t)RAP_EDENIED : 0);
		break;
	case RAP_OP_SEEK:
		reply_u64(s, RAP_OP_SEEK | RAP_REPLY, 0);
		break;
	case RAP_OP_SYSTEM:
		reply_text(s, RAP_OP_SYSTEM | RAP_REPLY, text, sizeof text - 1);
		break;
	case RAP_OP_CMD:
		if (m->len == 0 && !m->dropped)
			reply_u32(s, RAP_OP_CMD | RAP_REPLY, 0);
		else
			reply_cmd_text(s, text, CMD_STATUS_FAILED);
		break;
	default:
		reply_ext_error(s, m->op | RAP_REPLY, RAP_EAUTH, "authentication required");
		break;
	}
	end_session(s, "authentication required: %s refused (%s); closing", op_name(m->op),
		    !s->extended ? "a stock client?" : !(s->caps & CAP_AUTH) ? "the client cannot authenticate"
										: "the client did not authenticate");
}

static void do_system(struct rap_server_session *s)
{
	static const char text[] = "SYSTEM (0x06) is retired; use CMD (0x07)\n";
	slog(s, 5, "retired SYSTEM (0x06) request answered with an error text");
	reply_text(s, RAP_OP_SYSTEM | RAP_REPLY, text, sizeof text - 1);
}

/* The requests a client may send before it authenticates: the probe and the handshake. */
static bool before_auth(const struct rap_msg *m)
{
	if (m->op == RAP_OP_SEEK)
		return m->whence == RAP_SEEK_PROBE && (m->offset >> 32) == PROBE_MAGIC;
	return m->op == RAP_OP_AUTH_HELLO || m->op == RAP_OP_AUTH_PROOF;
}

static void handle(struct rap_server_session *s, const struct rap_msg *m)
{
	s->requests++;
	if (m->op == (RAP_OP_CMD | RAP_REPLY)) {
		fail(s, RAP_EPROTO, "unexpected CMD reply (0x87): no reverse command is pending");
		return;
	}
	if (s->auth != AUTH_NONE && s->auth != AUTH_DONE && !before_auth(m)) {
		refuse_unauthenticated(s, m);
		return;
	}
	/* The decoder takes them after a probe that granted the extension or authentication;
	 * only the handshake may come without the extension itself. */
	if (m->op >= RAP_OP_XOPEN && m->op <= RAP_OP_XCMD && !ext(s)) {
		fail(s, RAP_EPROTO, "extension message 0x%02x without the capability", m->op);
		return;
	}
	switch (m->op) {
	case RAP_OP_XOPEN:
		do_xopen(s, m);
		return;
	case RAP_OP_PREAD:
		do_pread(s, m);
		return;
	case RAP_OP_PWRITE:
		do_pwrite(s, m);
		return;
	case RAP_OP_STAT:
		do_stat(s, m);
		return;
	case RAP_OP_XCLOSE:
		do_xclose(s, m);
		return;
	case RAP_OP_XCMD:
		do_xcmd(s, m);
		return;
	case RAP_OP_AUTH_HELLO:
		do_auth_hello(s, m);
		return;
	case RAP_OP_AUTH_PROOF:
		do_auth_proof(s, m);
		return;
	default:
		break;
	}
	switch (m->op) {
	case RAP_OP_OPEN:
		do_open(s, m);
		break;
	case RAP_OP_READ:
		do_read(s, m);
		break;
	case RAP_OP_WRITE:
		do_write(s, m);
		break;
	case RAP_OP_SEEK:
		do_seek(s, m);
		break;
	case RAP_OP_CLOSE:
		do_close(s, m);
		break;
	case RAP_OP_SYSTEM:
		do_system(s);
		break;
	case RAP_OP_CMD:
		do_cmd(s, m);
		break;
	default:
		fail(s, RAP_EPROTO, "unexpected opcode 0x%02x", m->op);
		break;
	}
}

/* Decodes and runs requests from in[0..len) until the input ends, the session fails or the
 * reply queue reaches HIGH_WATER. Returns the bytes used. */
static size_t run(struct rap_server_session *s, const uint8_t *in, size_t len)
{
	size_t off = 0;
	while (off < len && !s->failed && !s->cmd_pending && !s->streaming && !s->closing &&
	       out_queued(s) < HIGH_WATER) {
		struct rap_msg m;
		size_t used = 0;
		int rc = rap_decoder_decode(s->dec, in + off, len - off, &used, &m);
		off += used;
		if (rc == RAP_EPROTO) {
			fail(s, rc, "%s", rap_decoder_error(s->dec));
			break;
		}
		if (rc < 0) {
			fail(s, rc, "cannot decode a request: %s", rap_strerror(rc));
			break;
		}
		if (rc == 0)
			break;
		handle(s, &m);
	}
	return off;
}

static void run_pending(struct rap_server_session *s)
{
	pump_stream(s);
	if (!s->pending.len || s->failed || s->cmd_pending || s->streaming || s->closing ||
	    out_queued(s) >= HIGH_WATER)
		return;
	size_t used = run(s, s->pending.data, s->pending.len);
	if (s->closing)
		rap__buf_free(&s->pending); /* never to be answered */
	else
		rap__buf_consume(&s->pending, used);
}

/* ---- public API -------------------------------------------------------------------- */

int rap_server_session_new(const struct rap_server_handler *handler, void *ctx,
			   struct rap_server_session **out)
{
	if (!out)
		return RAP_EINVAL;
	*out = NULL;
	if (!handler || !handler->open || !handler->read || !handler->write || !handler->seek ||
	    !handler->close || !handler->cmd)
		return RAP_EINVAL;
	struct rap_server_session *s = rap__calloc(1, sizeof *s);
	if (!s)
		return RAP_ENOMEM;
	int rc = rap_decoder_new(RAP_ROLE_SERVER, &s->dec);
	if (rc < 0) {
		rap__free(s);
		return rc;
	}
	s->h = handler;
	s->ctx = ctx;
	s->max_payload = RAP_PACKET_MAX;
	s->stock_reply_max = RAP_STOCK_CMD_REPLY_MAX;
	rc = rap_decoder_set_max_payload(s->dec, s->max_payload);
	if (rc < 0) {
		rap_decoder_free(s->dec);
		rap__free(s);
		return rc;
	}
	rap__buf_init(&s->out, OUT_MAX);
	rap__buf_init(&s->pending, PENDING_MAX);
	*out = s;
	return 0;
}

void rap_server_session_free(struct rap_server_session *s)
{
	if (!s)
		return;
	rap_decoder_free(s->dec);
	rap__buf_free(&s->out);
	rap__buf_free(&s->pending);
	free(s->stream);
	rap__cleanse(s->ns, sizeof s->ns);
	rap__cleanse(s->nc, sizeof s->nc);
	rap__free(s);
}

int rap_server_session_set_max_payload(struct rap_server_session *s, uint32_t max)
{
	if (!s || max == 0)
		return RAP_EINVAL;
	uint32_t old = s->max_payload;
	s->max_payload = max;
	int rc = rap_decoder_set_max_payload(s->dec, decoder_limit(s));
	if (rc < 0)
		s->max_payload = old;
	return rc;
}

void rap_server_session_set_stock_reply_max(struct rap_server_session *s, uint32_t max)
{
	if (s)
		s->stock_reply_max = max;
}

ssize_t rap_server_session_feed(struct rap_server_session *s, const uint8_t *in, size_t len)
{
	if (!s || (!in && len))
		return RAP_EINVAL;
	if (s->failed)
		return s->failed;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (s->closing)
		return (ssize_t)len; /* nothing more is answered */
	size_t used = 0;
	if (!s->pending.len)
		used = run(s, in, len);
	if (used < len && !s->failed && !s->closing) {
		/* Requests wait until the replies before them are taken. */
		int rc = rap__buf_append(&s->pending, in + used, len - used);
		if (rc == RAP_ETOOBIG)
			fail(s, RAP_EPROTO, "client sends requests without reading the replies "
					    "(%zu bytes held back)", s->pending.len);
		else if (rc < 0)
			fail(s, rc, "cannot hold back input: %s", rap_strerror(rc));
		run_pending(s);
	}
	return s->failed ? s->failed : (ssize_t)len;
}

size_t rap_server_session_output(struct rap_server_session *s, const uint8_t **data)
{
	if (!s) {
		if (data)
			*data = NULL;
		return 0;
	}
	if (data)
		*data = s->out.data ? s->out.data + s->out_off : NULL;
	return out_queued(s);
}

void rap_server_session_consume(struct rap_server_session *s, size_t n)
{
	if (!s)
		return;
	size_t q = out_queued(s);
	s->out_off += n < q ? n : q;
	if (s->out_off == s->out.len) {
		s->out.len = s->out_off = 0;
		if (s->out.cap > OUT_KEEP)
			rap__buf_free(&s->out);
	}
	run_pending(s);
}

bool rap_server_session_wants_input(const struct rap_server_session *s)
{
	return s && !s->failed && !s->cmd_pending && !s->streaming && !s->closing && s->pending.len == 0 &&
	       out_queued(s) < HIGH_WATER;
}

int rap_server_session_require_auth(struct rap_server_session *s, const struct rap_secret *secret)
{
	if (!s || !secret)
		return RAP_EINVAL;
	if (!rap_auth_available())
		return RAP_ENOTSUP;
	s->secret = secret;
	if (s->auth == AUTH_NONE)
		s->auth = AUTH_WANTED;
	return 0;
}

bool rap_server_session_authenticated(const struct rap_server_session *s)
{
	return s && (s->auth == AUTH_NONE || s->auth == AUTH_DONE);
}

bool rap_server_session_closing(const struct rap_server_session *s)
{
	return s && s->closing;
}

size_t rap_server_session_buffered(const struct rap_server_session *s)
{
	if (!s)
		return 0;
	return out_queued(s) + (s->streaming ? s->stream_len - s->stream_off : 0);
}

int rap_server_session_complete(struct rap_server_session *s, int rc, char *out, bool stopped)
{
	if (!s || !s->cmd_pending || s->in_handler) {
		free(out);
		return RAP_EINVAL;
	}
	s->cmd_pending = false;
	if (rc == RAP_PENDING)
		rc = RAP_EINVAL; /* a completion is a result */
	if (s->xcmd_pending) {
		s->xcmd_pending = false;
		finish_xcmd(s, rc, out);
	} else {
		finish_cmd(s, rc, out, stopped);
	}
	run_pending(s);
	return s->failed;
}

bool rap_server_session_pending(const struct rap_server_session *s)
{
	return s && s->cmd_pending;
}

bool rap_server_session_done(const struct rap_server_session *s)
{
	return s && !s->cmd_pending && !s->streaming && (s->pending.len == 0 || s->failed) && out_queued(s) == 0;
}

bool rap_server_session_partial(const struct rap_server_session *s)
{
	return s && s->pending.len == 0 && !rap_decoder_idle(s->dec);
}

uint64_t rap_server_session_requests(const struct rap_server_session *s)
{
	return s ? s->requests : 0;
}

bool rap_server_session_release(struct rap_server_session *s)
{
	if (!s || s->cmd_pending || s->streaming || out_queued(s) > 0 || s->pending.len > 0 ||
	    !rap_decoder_idle(s->dec))
		return false;
	s->out.len = s->out_off = 0;
	/* Small buffers stay: freeing them would cost an allocation per request. */
	if (s->out.cap > RELEASE_KEEP)
		rap__buf_free(&s->out);
	rap__buf_free(&s->pending);
	rap__decoder_release(s->dec);
	return true;
}

/* True while a request is partly received or requests wait behind unsent replies: the
 * client owes us bytes, or we owe it the time to read. */
bool rap_server_session_busy(const struct rap_server_session *s)
{
	return s && (!rap_decoder_idle(s->dec) || s->pending.len > 0);
}

const char *rap_server_session_error(const struct rap_server_session *s)
{
	if (!s || !s->failed)
		return "no error";
	return s->reason;
}

/* Sends everything queued, including replies produced by held-back requests as the queue
 * drains. */
static int flush(struct rap_server_session *s, int fd)
{
	const uint8_t *p;
	size_t n;
	while ((n = rap_server_session_output(s, &p)) > 0) {
		int rc = rap_send_all(fd, p, n);
		if (rc < 0)
			return rc;
		rap_server_session_consume(s, n);
	}
	return 0;
}

int rap_server_session_serve_fd(struct rap_server_session *s, int fd)
{
	if (!s || fd < 0)
		return RAP_EINVAL;
	uint8_t *buf = rap__malloc(SERVE_READ_SIZE);
	if (!buf)
		return RAP_ENOMEM;
	int rc = 0;
	for (;;) {
		rc = flush(s, fd);
		if (rc == RAP_ECLOSED) {
			/* Hanging up without reading every reply is still just hanging up. */
			slog(s, 6, "client hung up with replies unsent");
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		if (s->failed) {
			rc = s->failed;
			break;
		}
		if (s->closing) {
			rc = RAP_EAUTH;
			break;
		}
		ssize_t got = read(fd, buf, SERVE_READ_SIZE);
		if (got == 0) {
			if (!rap_decoder_idle(s->dec) || s->pending.len)
				slog(s, 6, "client hung up in the middle of a request");
			rc = 0;
			break;
		}
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		ssize_t fed = rap_server_session_feed(s, buf, (size_t)got);
		if (fed < 0) {
			/* Replies to the requests before the bad one still go out. */
			(void)flush(s, fd);
			rc = (int)fed;
			break;
		}
		if (s->cmd_pending) {
			/* Nobody here will complete it, and the client waits for its answer. */
			(void)flush(s, fd);
			slog(s, 3, "a CMD handler answered RAP_PENDING to a session served by "
				   "rap_server_session_serve_fd; dropping the client");
			rc = RAP_EINVAL;
			break;
		}
	}
	rap__free(buf);
	return rc;
}
