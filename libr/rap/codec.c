/* The RAP wire codec: an incremental decoder that never touches a socket, and an encoder
 * into caller buffers. Layouts are listed next to struct rap_msg in rap.h. */
#include <limits.h>
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
	uint8_t hdr[9];      /* largest fixed part: SEEK request, whence + be64 */
	uint8_t hdr_need;
	uint8_t hdr_have;
	uint32_t have;       /* payload bytes buffered */
	uint32_t drain;      /* payload bytes still to discard */
	struct rap_msg cur;  /* the message being decoded; cur.len is the declared length */
	uint8_t *buf;        /* payload + NUL; cap never exceeds max_payload + 1 */
	size_t cap;
};

/* Length of the fixed part that follows the opcode, or 0 when the role never receives it.
 * Keeping the accept list here, in one place, is what makes a role mismatch RAP_EPROTO. */
static uint8_t header_size(enum rap_role role, uint8_t op)
{
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
	default: /* READ request (bytes asked) and every length-prefixed payload */
		m->len = rap__get_be32(h);
		break;
	}
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

void rap_decoder_reset(struct rap_decoder *d)
{
	if (!d)
		return;
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
			uint8_t hs = header_size(d->role, op);
			if (!hs) {
				d->state = DEC_FAILED;
				*consumed = pos;
				return RAP_EPROTO;
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
			/* The declared length is judged before a single payload byte is
			 * buffered: an oversized message costs nothing but the drain. */
			if (d->cur.len > d->max_payload) {
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
			*msg = d->cur;
			*consumed = pos;
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

size_t rap_msg_encoded_size(const struct rap_msg *m)
{
	if (!m)
		return 0;
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
