/* Fuzz target for the codec. Input layout:
 *   byte 0      limit selector (low 2 bits: default, 1, 16, 4096 payload bytes), bit 2 the
 *               extension's messages decoded (rap_decoder_set_extension)
 *   bytes 1..8  chunk sizes (each + 1), used in turn to split the stream
 *   the rest    the stream, decoded once by a server and once by a client decoder
 * Checks: any split gives the messages of the one-piece decode; every payload is
 * NUL-terminated; limits hold; every complete message re-encodes to its exact bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

#include "fuzz.h"

#define HEADER 9

struct seen {
	struct rap_msg m; /* data pointer cleared: only the hash below is kept */
	uint64_t hash;
	size_t end;
};

struct outcome {
	struct seen *v;
	size_t n, cap;
	int last_rc;   /* 0 (all consumed) or a negative error */
	size_t stop;   /* offset where decoding stopped */
	bool idle;
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static bool payload_op(uint8_t op)
{
	return op == 0x01 || op == 0x03 || op == 0x82 || op == 0x06 || op == 0x86 || op == 0x07 ||
	       op == 0x87;
}

static bool ext_op(uint8_t op)
{
	return (op >= 0x10 && op <= 0x17) || (op >= 0x90 && op <= 0x98);
}

static void check_msg(const struct rap_msg *m, uint32_t limit, const uint8_t *s, size_t end)
{
	if (m->dropped) {
		CHECK(m->data == NULL);
		CHECK(m->len > limit);
		return;
	}
	if (ext_op(m->op)) {
		/* Fields filled from the body; the variable part within the limit (a PREAD's
		 * count is a number, not a payload), NUL after any data. */
		if (m->op != 0x11)
			CHECK(m->len <= limit);
		if (m->data)
			CHECK(m->data[m->len] == '\0');
		if (m->op >= 0x90 && m->status > 0)
			CHECK(m->op == 0x95);
		if (m->op == 0x98)
			CHECK(m->status == 0);
	} else if (payload_op(m->op)) {
		CHECK(m->data != NULL);
		CHECK(m->len <= limit);
		CHECK(m->data[m->len] == '\0');
	} else {
		CHECK(m->data == NULL);
	}
	size_t n = rap_msg_encoded_size(m);
	if (m->op == 0x01 && m->len >= RAP_OPEN_PATH_MAX) {
		CHECK(n == 0); /* decodable, but never sent by us */
		return;
	}
	CHECK(n > 0 && n <= end);
	uint8_t *buf = malloc(n);
	CHECK(buf != NULL);
	CHECK(rap_msg_encode(m, buf, n) == (ssize_t)n);
	CHECK(memcmp(buf, s + end - n, n) == 0);
	if (n > 1)
		CHECK(rap_msg_encode(m, buf, n - 1) == RAP_ENOSPC);
	free(buf);
}

static void run(enum rap_role role, uint32_t limit, bool ext, const uint8_t *sizes, const uint8_t *s,
		size_t len, struct outcome *out)
{
	struct rap_decoder *d = NULL;
	CHECK(rap_decoder_new(role, &d) == 0);
	rap_decoder_set_extension(d, ext);
	if (limit)
		CHECK(rap_decoder_set_max_payload(d, limit) == 0);
	else
		limit = role == RAP_ROLE_SERVER ? RAP_PACKET_MAX : 64u << 20;
	memset(out, 0, sizeof(*out));
	size_t pos = 0, k = 0;
	while (pos < len) {
		size_t chunk = sizes ? (size_t)sizes[k++ % 8] + 1 : len - pos;
		if (chunk > len - pos)
			chunk = len - pos;
		size_t cpos = 0;
		int rc;
		for (;;) {
			struct rap_msg m;
			size_t used;
			rc = rap_decoder_decode(d, s + pos + cpos, chunk - cpos, &used, &m);
			CHECK(used <= chunk - cpos);
			cpos += used;
			if (rc != 1)
				break;
			/* Every message consumes at least one byte. */
			CHECK(out->n < len + 1);
			check_msg(&m, limit, s, pos + cpos);
			if (out->n == out->cap) {
				/* Grown as messages come: sized for the input, most inputs would
				 * ask for a large block and pay for fresh pages every time. */
				out->cap = out->cap ? out->cap * 2 : 32;
				out->v = realloc(out->v, out->cap * sizeof(*out->v));
				CHECK(out->v != NULL);
			}
			struct seen *e = &out->v[out->n++];
			e->m = m;
			e->hash = m.data ? fnv1a(m.data, (size_t)m.len + 1) : 0;
			e->m.data = NULL;
			e->end = pos + cpos;
		}
		if (rc < 0) {
			CHECK(rc == RAP_EPROTO);
			out->last_rc = rc;
			out->stop = pos + cpos;
			out->idle = rap_decoder_idle(d);
			rap_decoder_free(d);
			return;
		}
		CHECK(cpos == chunk);
		pos += chunk;
	}
	out->stop = pos;
	out->idle = rap_decoder_idle(d);
	rap_decoder_free(d);
}

static void same(const struct outcome *a, const struct outcome *b)
{
	CHECK(a->n == b->n);
	CHECK(a->last_rc == b->last_rc);
	CHECK(a->stop == b->stop);
	CHECK(a->idle == b->idle);
	for (size_t i = 0; i < a->n; i++) {
		const struct seen *x = &a->v[i], *y = &b->v[i];
		CHECK(x->end == y->end && x->hash == y->hash);
		/* Field by field: struct padding is not part of the result. */
		CHECK(x->m.op == y->m.op && x->m.perm == y->m.perm && x->m.whence == y->m.whence);
		CHECK(x->m.dropped == y->m.dropped && x->m.value == y->m.value);
		CHECK(x->m.len == y->m.len && x->m.offset == y->m.offset && x->m.status == y->m.status);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t limits[4] = { 0, 1, 16, 4096 };
	if (size < HEADER)
		return 0;
	uint32_t limit = limits[data[0] & 3];
	bool ext = data[0] & 4;
	const uint8_t *sizes = data + 1;
	const uint8_t *s = data + HEADER;
	size_t len = size - HEADER;
	for (int r = 0; r < 2; r++) {
		enum rap_role role = r ? RAP_ROLE_CLIENT : RAP_ROLE_SERVER;
		struct outcome whole, split;
		run(role, limit, ext, NULL, s, len, &whole);
		run(role, limit, ext, sizes, s, len, &split);
		same(&whole, &split);
		free(whole.v);
		free(split.v);
	}
	return 0;
}
