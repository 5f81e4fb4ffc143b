/* The RAP wire codec: an incremental decoder that never touches a socket, and an encoder
 * into caller buffers. Layouts are listed next to struct rap_msg in rap.h. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <rap/rap.h>

#include "common.h"
#include "rap_private.h"

#define DECODER_LIMIT_MAX (1u << 30)
#define CLIENT_DEFAULT_MAX (64u << 20)
/* Buffer allocated up front: stock peers never exceed it, so a default server decoder
 * never allocates while decoding. */
#define PREALLOC_PAYLOAD RAP_PACKET_MAX
/* A buffer grown past this for one big payload is given back once payloads are small
 * again, so one 64 MiB reply does not pin 64 MiB for the connection's lifetime. */
#define SHRINK_ABOVE (1u << 20)

enum dec_state {
	DEC_OPCODE,  /* at a message boundary */
	DEC_HEADER,  /* collecting the fixed part after the opcode */
	DEC_PAYLOAD, /* buffering a payload within the limit */
	DEC_DRAIN,   /* discarding a payload over the limit */
	DEC_FAILED,  /* malformed input seen; only reset leaves this state */
};

struct rap_decoder {
	enum rap_role role;
	enum dec_state state;
	uint32_t max_payload;
	bool ext;            /* extension messages are decoded (rap_decoder_set_extension) */
	uint8_t hdr[9];      /* largest fixed part: SEEK request, whence + be64 */
	uint8_t hdr_need;
	uint8_t hdr_have;
	uint32_t have;       /* payload bytes buffered */
	uint32_t drain;      /* payload bytes still to discard */
	struct rap_msg cur;  /* the message being decoded; cur.len is the declared length */
	uint8_t *buf;        /* payload + NUL; cap never exceeds max_payload + EXT_FIXED_MAX + 1 */
	size_t cap;
	char why[96];        /* what the last RAP_EPROTO was about */
};

/* The largest fixed part of an extension message's body (PREAD: fd, offset, count), which
 * the payload limit does not count. */
#define EXT_FIXED_MAX 16u

static bool ext_request(uint8_t op)
{
	return op >= RAP_OP_XOPEN && op <= RAP_OP_AUTH_PROOF;
}

static bool ext_reply(uint8_t op)
{
	return op >= (RAP_OP_XOPEN | RAP_REPLY) && op <= (RAP_OP_XCMD_OUT | RAP_REPLY);
}

/* Length of the fixed part that follows the opcode, or 0 when the role never receives it.
 * Keeping the accept list here, in one place, is what makes a role mismatch RAP_EPROTO. */
static uint8_t header_size(const struct rap_decoder *d, uint8_t op)
{
	enum rap_role role = d->role;
	/* Every extension message is op n:be32 body[n]. */
	if (d->ext && (role == RAP_ROLE_SERVER ? ext_request(op) : ext_reply(op)))
		return 4;
	if (role == RAP_ROLE_SERVER) {
		switch (op) {
		case RAP_OP_OPEN: return 2;
		case RAP_OP_SEEK: return 9;
		case RAP_OP_READ:
		case RAP_OP_WRITE:
		case RAP_OP_CLOSE:
		case RAP_OP_SYSTEM:
		case RAP_OP_CMD:
		case RAP_OP_CMD | RAP_REPLY: return 4;
		default: return 0;
		}
	}
	switch (op) {
	case RAP_OP_SEEK | RAP_REPLY: return 8;
	case RAP_OP_OPEN | RAP_REPLY:
	case RAP_OP_READ | RAP_REPLY:
	case RAP_OP_WRITE | RAP_REPLY:
	case RAP_OP_CLOSE | RAP_REPLY:
	case RAP_OP_SYSTEM | RAP_REPLY:
	case RAP_OP_CMD | RAP_REPLY:
	case RAP_OP_CMD: return 4;
	default: return 0;
	}
}

static bool has_payload(uint8_t op)
{
	if (ext_request(op) || ext_reply(op))
		return true;
	switch (op) {
	case RAP_OP_OPEN:
	case RAP_OP_WRITE:
	case RAP_OP_READ | RAP_REPLY:
	case RAP_OP_SYSTEM:
	case RAP_OP_SYSTEM | RAP_REPLY:
	case RAP_OP_CMD:
	case RAP_OP_CMD | RAP_REPLY: return true;
	default: return false;
	}
}

/* Two's complement reading of a be32 without relying on implementation-defined casts. */
static int32_t to_int32(uint32_t v)
{
	return v <= INT32_MAX ? (int32_t)v : -(int32_t)(~v) - 1;
}

static void parse_header(struct rap_decoder *d)
{
	const uint8_t *h = d->hdr;
	struct rap_msg *m = &d->cur;
	switch (m->op) {
	case RAP_OP_OPEN:
		m->perm = h[0];
		m->len = h[1];
		break;
	case RAP_OP_SEEK:
		m->whence = h[0];
		m->offset = rap__get_be64(h + 1);
		break;
	case RAP_OP_SEEK | RAP_REPLY:
		m->offset = rap__get_be64(h);
		break;
	case RAP_OP_OPEN | RAP_REPLY:
	case RAP_OP_CLOSE:
	case RAP_OP_WRITE | RAP_REPLY:
	case RAP_OP_CLOSE | RAP_REPLY:
		m->value = to_int32(rap__get_be32(h));
		break;
	default: /* READ request (bytes asked), extension bodies, length-prefixed payloads */
		m->len = rap__get_be32(h);
		break;
	}
}

static int proto_error(struct rap_decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fails the decoder with a reason (rap_decoder_error). */
static int proto_error(struct rap_decoder *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof d->why, fmt, ap);
	va_end(ap);
	d->state = DEC_FAILED;
	return RAP_EPROTO;
}

/* Checks an extension message's body length against its opcode. *fixed receives the part
 * of the body the payload limit does not count (fd, offset, count, status, nonce). */
static int ext_check_length(struct rap_decoder *d, uint32_t *fixed)
{
	uint32_t n = d->cur.len;
	uint32_t need;
	bool exact = true;
	switch (d->cur.op) {
	case RAP_OP_XOPEN: need = 1; exact = false; break;
	case RAP_OP_PREAD: need = 16; break;
	case RAP_OP_PWRITE: need = 12; exact = false; break;
	case RAP_OP_STAT:
	case RAP_OP_XCLOSE: need = 4; break;
	case RAP_OP_XCMD: need = 0; exact = false; break;
	case RAP_OP_AUTH_HELLO:
	case RAP_OP_AUTH_PROOF: need = RAP_AUTH_NONCE_LEN; break;
	default: need = 4; exact = false; break; /* replies: the status at least */
	}
	*fixed = need;
	if (exact && n != need)
		return proto_error(d, "0x%02x with a %u-byte body (%u expected)", d->cur.op, n, need);
	if (n < need)
		return proto_error(d, "0x%02x with a %u-byte body (%u at least)", d->cur.op, n, need);
	return 0;
}

/* Fills the fields of a complete extension message from its body (buf[0..n), NUL after). */
static int ext_parse(struct rap_decoder *d)
{
	struct rap_msg *m = &d->cur;
	const uint8_t *b = d->buf;
	uint32_t n = m->len;
	m->data = NULL;
	m->len = 0;
	switch (m->op) {
	case RAP_OP_XOPEN:
		m->perm = b[0];
		m->data = b + 1;
		m->len = n - 1;
		return 0;
	case RAP_OP_PREAD:
		m->value = to_int32(rap__get_be32(b));
		m->offset = rap__get_be64(b + 4);
		m->len = rap__get_be32(b + 12);
		return 0;
	case RAP_OP_PWRITE:
		m->value = to_int32(rap__get_be32(b));
		m->offset = rap__get_be64(b + 4);
		m->data = b + 12;
		m->len = n - 12;
		return 0;
	case RAP_OP_STAT:
	case RAP_OP_XCLOSE:
		m->value = to_int32(rap__get_be32(b));
		return 0;
	case RAP_OP_XCMD:
	case RAP_OP_AUTH_HELLO:
	case RAP_OP_AUTH_PROOF:
		m->data = b;
		m->len = n;
		return 0;
	default:
		break;
	}
	/* A reply: the status, then what it carries. */
	m->status = to_int32(rap__get_be32(b));
	const uint8_t *rest = b + 4;
	uint32_t rn = n - 4;
	uint8_t op = (uint8_t)(m->op & ~RAP_REPLY);
	if (m->status < 0) {
		if (op == RAP_OP_XCMD_OUT)
			return proto_error(d, "0x%02x (output) with an error status (%d)", m->op, (int)m->status);
		m->data = rest;
		m->len = rn;
		return 0;
	}
	if (m->status > 0 && op != RAP_OP_XCMD)
		return proto_error(d, "0x%02x with a positive status (%d)", m->op, (int)m->status);
	uint32_t want;
	switch (op) {
	case RAP_OP_XOPEN:
	case RAP_OP_PWRITE:
		want = 4;
		if (rn == want)
			m->value = to_int32(rap__get_be32(rest));
		break;
	case RAP_OP_XCLOSE:
	case RAP_OP_XCMD:
		want = 0;
		break;
	case RAP_OP_AUTH_HELLO:
	case RAP_OP_AUTH_PROOF:
		want = RAP_AUTH_NONCE_LEN;
		if (rn == want) {
			m->data = rest;
			m->len = rn;
		}
		break;
	case RAP_OP_STAT:
		if (rn < 10)
			return proto_error(d, "0x%02x with a %u-byte body (14 at least)", m->op, n);
		/* fall through */
	default: /* PREAD, STAT, XCMD_OUT: data of any length */
		m->data = rest;
		m->len = rn;
		return 0;
	}
	if (rn != want)
		return proto_error(d, "0x%02x with a %u-byte body (%u expected)", m->op, n, 4 + want);
	return 0;
}

static size_t prealloc_size(uint32_t max)
{
	return (size_t)(max < PREALLOC_PAYLOAD ? max : PREALLOC_PAYLOAD) + 1;
}

/* Makes room for upto payload bytes and a NUL. The buffer grows with the bytes that
 * actually arrive, not with the declared length, so a peer announcing a large payload
 * and sending nothing holds no memory; it never grows past the message (whose length
 * was checked against the limit), hence never past the hard cap. */
static int reserve_payload(struct rap_decoder *d, size_t upto)
{
	size_t need = upto + 1;
	size_t full = (size_t)d->cur.len + 1;
	if (d->have == 0 && d->cap > SHRINK_ABOVE) {
		size_t floor = prealloc_size(d->max_payload);
		size_t want = full > floor ? full : floor;
		if (want <= d->cap / 4) {
			uint8_t *p = rap__realloc(d->buf, want);
			if (p) {
				d->buf = p;
				d->cap = want;
			}
		}
	}
	if (need <= d->cap)
		return 0;
	size_t want = d->cap * 2;
	if (want > full)
		want = full;
	if (want < need)
		want = need;
	uint8_t *p = rap__realloc(d->buf, want);
	if (!p)
		return RAP_ENOMEM;
	d->buf = p;
	d->cap = want;
	return 0;
}

int rap_decoder_new(enum rap_role role, struct rap_decoder **out)
{
	if (!out)
		return RAP_EINVAL;
	*out = NULL;
	if (role != RAP_ROLE_SERVER && role != RAP_ROLE_CLIENT)
		return RAP_EINVAL;
	struct rap_decoder *d = rap__calloc(1, sizeof(*d));
	if (!d)
		return RAP_ENOMEM;
	d->role = role;
	d->state = DEC_OPCODE;
	d->max_payload = role == RAP_ROLE_SERVER ? RAP_PACKET_MAX : CLIENT_DEFAULT_MAX;
	d->cap = prealloc_size(d->max_payload);
	d->buf = rap__malloc(d->cap);
	if (!d->buf) {
		rap__free(d);
		return RAP_ENOMEM;
	}
	*out = d;
	return 0;
}

void rap_decoder_free(struct rap_decoder *d)
{
	if (!d)
		return;
	rap__free(d->buf);
	rap__free(d);
}

int rap_decoder_set_max_payload(struct rap_decoder *d, uint32_t max)
{
	if (!d || max < 1 || max > DECODER_LIMIT_MAX)
		return RAP_EINVAL;
	d->max_payload = max;
	/* A payload being buffered was accepted under the old limit and keeps its buffer;
	 * otherwise the hard cap applies to the memory already held as well. */
	if (d->state != DEC_PAYLOAD && d->cap > (size_t)max + 1) {
		uint8_t *p = rap__realloc(d->buf, (size_t)max + 1);
		if (p) {
			d->buf = p;
			d->cap = (size_t)max + 1;
		}
	}
	return 0;
}

void rap__decoder_release(struct rap_decoder *d)
{
	/* Small buffers stay: freeing them would cost an allocation per request. */
	if (!d || d->state != DEC_OPCODE || d->cap <= RELEASE_KEEP)
		return;
	rap__free(d->buf);
	d->buf = NULL;
	d->cap = 0;
}

bool rap_decoder_idle(const struct rap_decoder *d)
{
	return !d || d->state == DEC_OPCODE || d->state == DEC_FAILED;
}

void rap_decoder_set_extension(struct rap_decoder *d, bool on)
{
	if (d)
		d->ext = on;
}

const char *rap_decoder_error(const struct rap_decoder *d)
{
	return d ? d->why : "";
}

void rap_decoder_reset(struct rap_decoder *d)
{
	if (!d)
		return;
	d->why[0] = '\0';
	d->state = DEC_OPCODE;
	d->hdr_have = 0;
	d->have = 0;
	d->drain = 0;
	memset(&d->cur, 0, sizeof(d->cur));
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

int rap_decoder_decode(struct rap_decoder *d, const uint8_t *in, size_t len, size_t *consumed,
		       struct rap_msg *msg)
{
	if (consumed)
		*consumed = 0;
	if (!d || !consumed || !msg || (!in && len))
		return RAP_EINVAL;
	if (d->state == DEC_FAILED)
		return RAP_EPROTO;

	size_t pos = 0;
	for (;;) {
		switch (d->state) {
		case DEC_OPCODE: {
			if (pos == len)
				goto need_more;
			uint8_t op = in[pos];
			uint8_t hs = header_size(d, op);
			if (!hs) {
				*consumed = pos;
				return proto_error(d, "unknown opcode 0x%02x", op);
			}
			pos++;
			memset(&d->cur, 0, sizeof(d->cur));
			d->cur.op = op;
			d->hdr_need = hs;
			d->hdr_have = 0;
			d->state = DEC_HEADER;
			break;
		}
		case DEC_HEADER: {
			if (pos == len) /* also when in is NULL (len is 0 then) */
				goto need_more;
			size_t n = min_size(len - pos, (size_t)(d->hdr_need - d->hdr_have));
			memcpy(d->hdr + d->hdr_have, in + pos, n);
			d->hdr_have = (uint8_t)(d->hdr_have + n);
			pos += n;
			if (d->hdr_have < d->hdr_need)
				goto need_more;
			parse_header(d);
			if (!has_payload(d->cur.op)) {
				d->state = DEC_OPCODE;
				*msg = d->cur;
				*consumed = pos;
				return 1;
			}
			uint32_t fixed = 0;
			if (ext_request(d->cur.op) || ext_reply(d->cur.op)) {
				int rc = ext_check_length(d, &fixed);
				if (rc < 0) {
					*consumed = pos;
					return rc;
				}
			}
			/* The declared length is judged before a single payload byte is
			 * buffered: an oversized message costs nothing but the drain. */
			if (d->cur.len - fixed > d->max_payload) {
				d->drain = d->cur.len;
				d->state = DEC_DRAIN;
				d->cur.dropped = true;
				*msg = d->cur;
				*consumed = pos;
				return 1;
			}
			d->have = 0;
			d->state = DEC_PAYLOAD;
			break;
		}
		case DEC_PAYLOAD: {
			size_t n = min_size(len - pos, (size_t)(d->cur.len - d->have));
			int rc = reserve_payload(d, (size_t)d->have + n);
			if (rc < 0) {
				/* State is kept: calling again retries the allocation. */
				*consumed = pos;
				return rc;
			}
			if (n)
				memcpy(d->buf + d->have, in + pos, n);
			d->have += (uint32_t)n;
			pos += n;
			if (d->have < d->cur.len)
				goto need_more;
			d->buf[d->cur.len] = '\0';
			d->cur.data = d->buf;
			d->state = DEC_OPCODE;
			*consumed = pos;
			if ((ext_request(d->cur.op) || ext_reply(d->cur.op)) && (rc = ext_parse(d)) < 0)
				return rc;
			*msg = d->cur;
			return 1;
		}
		case DEC_DRAIN: {
			size_t n = min_size(len - pos, d->drain);
			d->drain -= (uint32_t)n;
			pos += n;
			if (d->drain)
				goto need_more;
			d->state = DEC_OPCODE;
			break;
		}
		case DEC_FAILED:
		default:
			return RAP_EPROTO;
		}
	}
need_more:
	*consumed = pos;
	return 0;
}

/* ---- encoder ---------------------------------------------------------------------- */

static bool payload_given(const struct rap_msg *m)
{
	return m->len == 0 || m->data != NULL;
}

/* The body length n of an extension message, or false when *m cannot be encoded. */
static bool ext_body_size(const struct rap_msg *m, uint64_t *n)
{
	bool given = payload_given(m);
	switch (m->op) {
	case RAP_OP_XOPEN: *n = 1 + (uint64_t)m->len; return given;
	case RAP_OP_PREAD: *n = 16; return true;
	case RAP_OP_PWRITE: *n = 12 + (uint64_t)m->len; return given;
	case RAP_OP_STAT:
	case RAP_OP_XCLOSE: *n = 4; return true;
	case RAP_OP_XCMD: *n = m->len; return given;
	case RAP_OP_AUTH_HELLO:
	case RAP_OP_AUTH_PROOF: *n = RAP_AUTH_NONCE_LEN; return m->len == RAP_AUTH_NONCE_LEN && m->data;
	default:
		break;
	}
	if (!ext_reply(m->op))
		return false;
	uint8_t op = (uint8_t)(m->op & ~RAP_REPLY);
	if (m->status < 0) {
		*n = 4 + (uint64_t)m->len; /* the message */
		return given && op != RAP_OP_XCMD_OUT;
	}
	if (m->status > 0 && op != RAP_OP_XCMD)
		return false;
	switch (op) {
	case RAP_OP_XOPEN:
	case RAP_OP_PWRITE: *n = 8; return true;
	case RAP_OP_XCLOSE:
	case RAP_OP_XCMD: *n = 4; return true;
	case RAP_OP_AUTH_HELLO:
	case RAP_OP_AUTH_PROOF: *n = 4 + RAP_AUTH_NONCE_LEN; return m->len == RAP_AUTH_NONCE_LEN && m->data;
	case RAP_OP_STAT: *n = 4 + (uint64_t)m->len; return given && m->len >= 10;
	default: *n = 4 + (uint64_t)m->len; return given; /* PREAD, XCMD_OUT */
	}
}

size_t rap_msg_encoded_size(const struct rap_msg *m)
{
	if (!m)
		return 0;
	if (ext_request(m->op) || ext_reply(m->op)) {
		uint64_t n;
		if (!ext_body_size(m, &n) || n > UINT32_MAX || n > SIZE_MAX - 5)
			return 0;
		return 5 + (size_t)n;
	}
	switch (m->op) {
	case RAP_OP_OPEN:
		/* The stock client refuses such paths, so no stock server expects them. */
		if (m->len >= RAP_OPEN_PATH_MAX || !payload_given(m))
			return 0;
		return 3 + (size_t)m->len;
	case RAP_OP_READ:
	case RAP_OP_CLOSE:
	case RAP_OP_OPEN | RAP_REPLY:
	case RAP_OP_WRITE | RAP_REPLY:
	case RAP_OP_CLOSE | RAP_REPLY:
		return 5;
	case RAP_OP_SEEK:
		return 10;
	case RAP_OP_SEEK | RAP_REPLY:
		return 9;
	case RAP_OP_WRITE:
	case RAP_OP_READ | RAP_REPLY:
	case RAP_OP_SYSTEM:
	case RAP_OP_SYSTEM | RAP_REPLY:
	case RAP_OP_CMD:
	case RAP_OP_CMD | RAP_REPLY:
		if (!payload_given(m))
			return 0;
#if SIZE_MAX <= UINT32_MAX
		if (m->len > SIZE_MAX - 5)
			return 0;
#endif
		return 5 + (size_t)m->len;
	default:
		return 0;
	}
}

/* Writes an extension message of n bytes (rap_msg_encoded_size vetted it). */
static void ext_encode(const struct rap_msg *m, uint8_t *out, size_t n)
{
	uint8_t *b = out + 5;
	rap__put_be32(out + 1, (uint32_t)(n - 5));
	const uint8_t *data = m->data;
	size_t dlen = m->len;
	switch (m->op) {
	case RAP_OP_XOPEN:
		*b++ = m->perm;
		break;
	case RAP_OP_PREAD:
		rap__put_be32(b, (uint32_t)m->value);
		rap__put_be64(b + 4, m->offset);
		rap__put_be32(b + 12, m->len);
		dlen = 0;
		break;
	case RAP_OP_PWRITE:
		rap__put_be32(b, (uint32_t)m->value);
		rap__put_be64(b + 4, m->offset);
		b += 12;
		break;
	case RAP_OP_STAT:
	case RAP_OP_XCLOSE:
		rap__put_be32(b, (uint32_t)m->value);
		dlen = 0;
		break;
	case RAP_OP_XCMD:
	case RAP_OP_AUTH_HELLO:
	case RAP_OP_AUTH_PROOF:
		break;
	default: { /* a reply */
		uint8_t op = (uint8_t)(m->op & ~RAP_REPLY);
		rap__put_be32(b, (uint32_t)m->status);
		b += 4;
		if (m->status < 0)
			break;
		if (op == RAP_OP_XOPEN || op == RAP_OP_PWRITE) {
			rap__put_be32(b, (uint32_t)m->value);
			dlen = 0;
		} else if (op == RAP_OP_XCLOSE || op == RAP_OP_XCMD) {
			dlen = 0;
		}
		break;
	}
	}
	if (dlen)
		memcpy(b, data, dlen);
}

ssize_t rap_msg_encode(const struct rap_msg *m, uint8_t *out, size_t cap)
{
	size_t n = rap_msg_encoded_size(m);
	if (!n || n > SSIZE_MAX)
		return RAP_EINVAL;
	if (cap < n)
		return RAP_ENOSPC;
	if (!out)
		return RAP_EINVAL;
	out[0] = m->op;
	if (ext_request(m->op) || ext_reply(m->op)) {
		ext_encode(m, out, n);
		return (ssize_t)n;
	}
	switch (m->op) {
	case RAP_OP_OPEN:
		out[1] = m->perm;
		out[2] = (uint8_t)m->len;
		if (m->len)
			memcpy(out + 3, m->data, m->len);
		break;
	case RAP_OP_READ:
		rap__put_be32(out + 1, m->len);
		break;
	case RAP_OP_CLOSE:
	case RAP_OP_OPEN | RAP_REPLY:
	case RAP_OP_WRITE | RAP_REPLY:
	case RAP_OP_CLOSE | RAP_REPLY:
		rap__put_be32(out + 1, (uint32_t)m->value);
		break;
	case RAP_OP_SEEK:
		out[1] = m->whence;
		rap__put_be64(out + 2, m->offset);
		break;
	case RAP_OP_SEEK | RAP_REPLY:
		rap__put_be64(out + 1, m->offset);
		break;
	default: /* length-prefixed payloads; rap_msg_encoded_size vetted the opcode */
		rap__put_be32(out + 1, m->len);
		if (m->len)
			memcpy(out + 5, m->data, m->len);
		break;
	}
	return (ssize_t)n;
}

/* ---- STAT bodies ------------------------------------------------------------------ */

ssize_t rap_stat_format(const struct rap_stat *st, uint8_t *out, size_t cap)
{
	if (!st || (!out && cap))
		return RAP_EINVAL;
	size_t nl = strnlen(st->name, RAP_STAT_NAME_MAX);
	if (cap < 10 + nl)
		return RAP_ENOSPC;
	rap__put_be64(out, st->size);
	out[8] = st->perm;
	out[9] = st->kind;
	memcpy(out + 10, st->name, nl);
	return (ssize_t)(10 + nl);
}

int rap_stat_parse(const uint8_t *body, size_t len, struct rap_stat *st)
{
	if (!st || (!body && len))
		return RAP_EINVAL;
	if (len < 10 || len - 10 > RAP_STAT_NAME_MAX || memchr(body + 10, 0, len - 10))
		return RAP_EPROTO;
	st->size = rap__get_be64(body);
	st->perm = body[8];
	st->kind = body[9];
	memcpy(st->name, body + 10, len - 10);
	st->name[len - 10] = '\0';
	return 0;
}
