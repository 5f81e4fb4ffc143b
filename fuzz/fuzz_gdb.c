/* Fuzz target for the GDB RSP codec (rap/gdb_rsp.h). Input layout:
 *   byte 0      limit selector (low 2 bits: 16, 64, 512, default payload bytes)
 *   bytes 1..4  chunk sizes (each + 1), used in turn to split the stream
 *   the rest    the stream, decoded in one piece and again split
 * Checks: any split gives the events of the one-piece decode; packets respect the limit
 * and are NUL-terminated; every packet parses into a request whose fields hold their
 * promises; every packet re-encodes (with and without run-length encoding) into a frame
 * that decodes to the same bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rap/gdb_rsp.h>
#include <rap/rap.h>

#include "fuzz.h"

#define HEADER 5
#define MAXMEM 2048u

struct seen {
	enum rap_gdb_event_kind kind;
	enum rap_gdb_bad bad;
	size_t len;
	uint64_t hash;
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void check_req(const uint8_t *pkt, size_t len)
{
	uint8_t *copy = malloc(len + 1);
	CHECK(copy);
	memcpy(copy, pkt, len);
	copy[len] = '\0';
	struct rap_gdb_req r;
	CHECK(rap_gdb_req_parse(copy, len, MAXMEM, &r) == 0);
	switch (r.kind) {
	case RAP_GDB_REQ_MALFORMED:
		CHECK(r.why != NULL);
		break;
	case RAP_GDB_REQ_READ_MEM:
		CHECK(r.len <= MAXMEM);
		CHECK(r.len == 0 || r.addr <= UINT64_MAX - (r.len - 1));
		break;
	case RAP_GDB_REQ_WRITE_MEM:
	case RAP_GDB_REQ_WRITE_REGS:
	case RAP_GDB_REQ_WRITE_REG:
		CHECK(r.data != NULL);
		CHECK(r.data >= copy && r.data + r.len <= copy + len);
		break;
	case RAP_GDB_REQ_XFER_FEATURES:
		CHECK(r.annex && *r.annex);
		CHECK((const uint8_t *)r.annex >= copy && (const uint8_t *)r.annex < copy + len);
		break;
	case RAP_GDB_REQ_CONTINUE:
	case RAP_GDB_REQ_STEP:
		CHECK(r.signo >= 0 && r.signo <= 255);
		break;
	case RAP_GDB_REQ_INSERT_BP:
	case RAP_GDB_REQ_REMOVE_BP:
		CHECK(r.bptype <= 4);
		break;
	default:
		break;
	}
	free(copy);
}

static void check_reencode(const uint8_t *pkt, size_t len, size_t limit)
{
	size_t cap = rap_gdb_encoded_max(len);
	uint8_t *frame = malloc(cap);
	CHECK(frame);
	for (int rle = 0; rle < 2; rle++) {
		ssize_t n = rap_gdb_encode(pkt, len, rle, frame, cap);
		CHECK(n > 0 && (size_t)n <= cap);
		struct rap_gdb_decoder *d;
		CHECK(rap_gdb_decoder_new(limit, &d) == 0);
		size_t used;
		struct rap_gdb_event ev;
		CHECK(rap_gdb_decode(d, frame, (size_t)n, &used, &ev) == 1);
		CHECK(used == (size_t)n);
		CHECK(ev.kind == RAP_GDB_EV_PACKET && ev.len == len);
		CHECK(len == 0 || !memcmp(ev.data, pkt, len));
		rap_gdb_decoder_free(d);
	}
	free(frame);
}

/* Decodes s[0..len) split by chunks (NULL: one piece) into v (n entries at most). */
static size_t run(const uint8_t *s, size_t len, size_t limit, const uint8_t *chunks, struct seen *v, size_t cap,
		  bool deep)
{
	struct rap_gdb_decoder *d;
	CHECK(rap_gdb_decoder_new(limit, &d) == 0);
	size_t pos = 0, n = 0, ci = 0;
	while (pos < len) {
		size_t take = chunks ? (size_t)chunks[ci++ % 4] + 1 : len - pos;
		if (take > len - pos)
			take = len - pos;
		size_t off = 0;
		while (off < take) {
			size_t used;
			struct rap_gdb_event ev;
			int rc = rap_gdb_decode(d, s + pos + off, take - off, &used, &ev);
			CHECK(rc == 0 || rc == 1);
			CHECK(used <= take - off);
			CHECK(rc == 1 || used == take - off);
			off += used;
			if (rc == 0)
				break;
			CHECK(n < cap);
			v[n].kind = ev.kind;
			v[n].bad = ev.bad;
			v[n].len = ev.len;
			v[n].hash = 0;
			if (ev.kind == RAP_GDB_EV_PACKET) {
				CHECK(ev.len <= limit);
				CHECK(ev.data && ev.data[ev.len] == 0);
				v[n].hash = fnv1a(ev.data, ev.len);
				if (deep) {
					check_req(ev.data, ev.len);
					check_reencode(ev.data, ev.len, limit);
				}
			} else {
				CHECK(ev.data == NULL && ev.len == 0);
				CHECK((ev.kind == RAP_GDB_EV_BAD) == (ev.bad != RAP_GDB_BAD_NONE));
			}
			n++;
		}
		pos += take;
	}
	rap_gdb_decoder_free(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HEADER)
		return 0;
	static const size_t limits[4] = { 16, 64, 512, RAP_GDB_PACKET_DEFAULT };
	size_t limit = limits[data[0] & 3];
	const uint8_t *s = data + HEADER;
	size_t len = size - HEADER;
	/* at most one event per input byte */
	size_t cap = len + 1;
	struct seen *a = calloc(cap, sizeof(*a)), *b = calloc(cap, sizeof(*b));
	CHECK(a && b);
	size_t na = run(s, len, limit, NULL, a, cap, true);
	size_t nb = run(s, len, limit, data + 1, b, cap, false);
	CHECK(na == nb);
	for (size_t i = 0; i < na; i++) {
		CHECK(a[i].kind == b[i].kind && a[i].bad == b[i].bad && a[i].len == b[i].len);
		CHECK(a[i].hash == b[i].hash);
	}
	free(a);
	free(b);
	return 0;
}
