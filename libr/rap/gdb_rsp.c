/* GDB Remote Serial Protocol framing (rap/gdb_rsp.h): an incremental decoder that never
 * touches a socket, an encoder into caller buffers, and the hex helpers both sides use.
 *
 * Frame: '$' payload '#' XX, XX the modulo-256 sum of the payload's bytes as sent. In the
 * payload, '}' escapes the next byte (sent XORed with 0x20) and '*' repeats the byte
 * before it N-29 times, N being the byte after the '*'. Outside frames, '+' and '-' are
 * acknowledgments and 0x03 an interrupt request. */
#include <string.h>

#include <rap/gdb_rsp.h>
#include <rap/rap.h>

#include "common.h"

#define PREALLOC 4096u    /* decoded bytes allocated up front; grows up to the limit */
#define RLE_BASE 29       /* a run-length count byte N stands for N - 29 repeats */
#define RLE_MIN_REPEATS 3 /* shorter runs cost more than they save */
#define RLE_MAX_REPEATS (126 - RLE_BASE)

enum state {
	ST_IDLE,  /* between frames */
	ST_DATA,  /* in a payload */
	ST_ESC,   /* after '}' */
	ST_RLE,   /* after '*' */
	ST_CSUM1, /* after '#' */
	ST_CSUM2, /* after the first checksum digit */
};

struct rap_gdb_decoder {
	enum state state;
	size_t max;      /* decoded payload limit */
	uint8_t *buf;    /* decoded payload + NUL; cap never exceeds max + 1 */
	size_t cap;
	size_t len;      /* decoded bytes (counted on past max, nothing stored then) */
	bool over;       /* the payload exceeded max */
	bool malformed;  /* a misplaced '}' or '*' was seen */
	uint8_t sum;     /* of the raw payload bytes */
	uint8_t last;    /* the last decoded byte (what '*' repeats) */
	bool has_last;
	int digit1;      /* first checksum digit's value, -1 when not a hex digit */
	size_t skipped;  /* ignored bytes since the last event */
};

uint8_t rap_gdb_checksum(const uint8_t *p, size_t len)
{
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)sum;
}

void rap_gdb_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
}

int rap_gdb_hex_decode(const char *in, size_t len, uint8_t *out)
{
	/* out may be in itself (decoding in place): byte i is written after digits 2i and
	 * 2i+1 were read, and never before them. */
	for (size_t i = 0; i < len; i++) {
		int hi = rap__hexval((uint8_t)in[2 * i]), lo = rap__hexval((uint8_t)in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return RAP_EPROTO;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* ---- decoder ------------------------------------------------------------------------------ */

int rap_gdb_decoder_new(size_t max, struct rap_gdb_decoder **out)
{
	if (!out)
		return RAP_EINVAL;
	*out = NULL;
	if (max < 1 || max > RAP_GDB_PACKET_LIMIT)
		return RAP_EINVAL;
	struct rap_gdb_decoder *d = rap__calloc(1, sizeof(*d));
	if (!d)
		return RAP_ENOMEM;
	d->max = max;
	d->cap = (max < PREALLOC ? max : PREALLOC) + 1;
	d->buf = rap__malloc(d->cap);
	if (!d->buf) {
		rap__free(d);
		return RAP_ENOMEM;
	}
	d->state = ST_IDLE;
	*out = d;
	return 0;
}

void rap_gdb_decoder_free(struct rap_gdb_decoder *d)
{
	if (!d)
		return;
	rap__free(d->buf);
	rap__free(d);
}

void rap_gdb_decoder_reset(struct rap_gdb_decoder *d)
{
	if (d)
		d->state = ST_IDLE;
}

static void start_frame(struct rap_gdb_decoder *d)
{
	d->state = ST_DATA;
	d->len = 0;
	d->over = false;
	d->malformed = false;
	d->sum = 0;
	d->has_last = false;
}

/* Appends n copies of b to the decoded payload. Past the limit nothing is stored and the
 * frame is marked over; a failed allocation also drops the frame as over the limit
 * (answered as too big), so memory pressure never corrupts a packet. */
static void put(struct rap_gdb_decoder *d, uint8_t b, size_t n)
{
	d->last = b;
	d->has_last = true;
	if (d->over)
		return;
	if (n > d->max - d->len) {
		d->over = true;
		return;
	}
	size_t need = d->len + n + 1;
	if (need > d->cap) {
		size_t want = d->cap * 2;
		if (want < need)
			want = need;
		if (want > d->max + 1)
			want = d->max + 1;
		uint8_t *p = rap__realloc(d->buf, want);
		if (!p) {
			d->over = true;
			return;
		}
		d->buf = p;
		d->cap = want;
	}
	memset(d->buf + d->len, b, n);
	d->len += n;
}

static void event(struct rap_gdb_decoder *d, struct rap_gdb_event *ev, enum rap_gdb_event_kind kind,
		  enum rap_gdb_bad bad)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->bad = bad;
	ev->skipped = d->skipped;
	d->skipped = 0;
}

int rap_gdb_decode(struct rap_gdb_decoder *d, const uint8_t *in, size_t len, size_t *consumed,
		   struct rap_gdb_event *ev)
{
	if (consumed)
		*consumed = 0;
	if (!d || !consumed || !ev || (!in && len))
		return RAP_EINVAL;
	for (size_t pos = 0; pos < len; pos++) {
		uint8_t c = in[pos];
		switch (d->state) {
		case ST_IDLE:
			if (c == '$') {
				start_frame(d);
				continue;
			}
			if (c == '+' || c == '-' || c == 0x03) {
				event(d, ev, c == '+' ? RAP_GDB_EV_ACK : c == '-' ? RAP_GDB_EV_NAK : RAP_GDB_EV_INTERRUPT,
				      RAP_GDB_BAD_NONE);
				*consumed = pos + 1;
				return 1;
			}
			d->skipped++;
			continue;
		case ST_DATA:
		case ST_ESC:
		case ST_RLE:
			if (c == '$') {
				/* A new frame begins inside this one: this one is refused, and the
				 * '$' read again as the start of the next. */
				d->state = ST_IDLE;
				event(d, ev, RAP_GDB_EV_BAD, RAP_GDB_BAD_FORMAT);
				*consumed = pos;
				return 1;
			}
			if (c == '#') {
				if (d->state != ST_DATA)
					d->malformed = true; /* '}' or '*' right before the end */
				d->state = ST_CSUM1;
				continue;
			}
			d->sum = (uint8_t)(d->sum + c);
			if (d->state == ST_ESC) {
				put(d, c ^ 0x20, 1);
				d->state = ST_DATA;
			} else if (d->state == ST_RLE) {
				if (c < RLE_BASE + RLE_MIN_REPEATS || c > RLE_BASE + RLE_MAX_REPEATS || !d->has_last)
					d->malformed = true;
				else
					put(d, d->last, (size_t)(c - RLE_BASE));
				d->state = ST_DATA;
			} else if (c == '}') {
				d->state = ST_ESC;
			} else if (c == '*') {
				if (!d->has_last)
					d->malformed = true;
				d->state = ST_RLE;
			} else {
				put(d, c, 1);
			}
			continue;
		case ST_CSUM1:
			d->digit1 = rap__hexval(c);
			d->state = ST_CSUM2;
			continue;
		case ST_CSUM2: {
			int lo = rap__hexval(c);
			d->state = ST_IDLE;
			*consumed = pos + 1;
			if (d->digit1 < 0 || lo < 0) {
				event(d, ev, RAP_GDB_EV_BAD, RAP_GDB_BAD_FORMAT);
				return 1;
			}
			if ((uint8_t)(d->digit1 << 4 | lo) != d->sum) {
				event(d, ev, RAP_GDB_EV_BAD, RAP_GDB_BAD_CHECKSUM);
				return 1;
			}
			if (d->malformed) {
				event(d, ev, RAP_GDB_EV_BAD, RAP_GDB_BAD_FORMAT);
				return 1;
			}
			if (d->over) {
				event(d, ev, RAP_GDB_EV_BAD, RAP_GDB_BAD_TOO_BIG);
				return 1;
			}
			event(d, ev, RAP_GDB_EV_PACKET, RAP_GDB_BAD_NONE);
			d->buf[d->len] = '\0';
			ev->data = d->buf;
			ev->len = d->len;
			return 1;
		}
		}
	}
	*consumed = len;
	return 0;
}

/* ---- encoder ------------------------------------------------------------------------------ */

size_t rap_gdb_encoded_max(size_t len)
{
	if (len > (SIZE_MAX - 4) / 2)
		return 0;
	return 2 * len + 4;
}

static bool needs_escape(uint8_t b)
{
	return b == '$' || b == '#' || b == '}' || b == '*';
}

ssize_t rap_gdb_encode(const uint8_t *payload, size_t len, bool rle, uint8_t *out, size_t cap)
{
	if ((!payload && len) || (!out && cap))
		return RAP_EINVAL;
	if (cap == 0)
		return RAP_ENOSPC;
	out[0] = '$';
	size_t o = 1;
#define EMIT(b)                               \
	do {                                  \
		if (o >= cap)                 \
			return RAP_ENOSPC;    \
		out[o++] = (uint8_t)(b);      \
	} while (0)
	for (size_t i = 0; i < len;) {
		uint8_t b = payload[i];
		if (needs_escape(b)) {
			EMIT('}');
			EMIT(b ^ 0x20);
			i++;
			continue;
		}
		size_t repeats = 0;
		if (rle) {
			while (repeats < RLE_MAX_REPEATS && i + 1 + repeats < len && payload[i + 1 + repeats] == b)
				repeats++;
			/* Counts 6 and 7 would be '#' and '$': five, and the rest next round. */
			if (repeats == 6 || repeats == 7)
				repeats = 5;
		}
		EMIT(b);
		if (repeats >= RLE_MIN_REPEATS) {
			EMIT('*');
			EMIT(repeats + RLE_BASE);
			i += 1 + repeats;
		} else {
			i++;
		}
	}
	uint8_t sum = rap_gdb_checksum(out + 1, o - 1);
	EMIT('#');
	char hex[2];
	rap_gdb_hex_encode(&sum, 1, hex);
	EMIT(hex[0]);
	EMIT(hex[1]);
#undef EMIT
	return (ssize_t)o;
}
