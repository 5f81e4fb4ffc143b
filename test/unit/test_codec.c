/* The codec against every recorded radare2 stream, under every split of the input, plus
 * the edges the recordings do not reach. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

#include "common.h"
#include "rap_private.h"
#include "transcript.h"

/* Which transcript stream a failing check belongs to; cmocka only knows the line. */
static char ctx[256];

#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c)) {                                                        \
			print_error("%s: check failed: %s\n", ctx, #c);           \
			fail();                                                    \
		}                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                             \
	do {                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);               \
		if (a_ != b_) {                                                    \
			print_error("%s: %s is %lld, expected %lld\n", ctx, #a, a_, b_); \
			fail();                                                    \
		}                                                                  \
	} while (0)

/* ---- decoding a whole stream under a chosen split ---------------------------------- */

enum end_kind {
	END_COMPLETE, /* all input consumed, decoder idle */
	END_PARTIAL,  /* all input consumed, a message (or a drain) unfinished */
	END_EPROTO,   /* rejected at a byte */
};

struct rec {
	struct rap_msg m; /* m.data replaced by the copy below */
	uint8_t *data;    /* heap copy of the payload and the NUL after it */
	size_t end;       /* stream offset just past the message (past the header if dropped) */
};

struct run {
	struct rec *v;
	size_t n, cap;
	enum end_kind end;
	size_t at; /* EPROTO: offending offset; otherwise end of the last message */
};

static void run_free(struct run *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].data);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static void run_add(struct run *r, const struct rap_msg *m, size_t end)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		assert_non_null(r->v);
	}
	struct rec *e = &r->v[r->n++];
	e->m = *m;
	e->end = end;
	e->data = NULL;
	if (m->data) {
		/* The promise that data is NUL-terminated is part of the contract. */
		CHECK(m->data[m->len] == '\0');
		e->data = malloc((size_t)m->len + 1);
		assert_non_null(e->data);
		memcpy(e->data, m->data, (size_t)m->len + 1);
	}
	e->m.data = e->data;
}

/* Chunk sizes: 0 = whole input, 1 = byte by byte, otherwise random 1..max. */
struct splitter {
	size_t max;
	uint64_t rng;
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static size_t next_chunk(struct splitter *sp, size_t left)
{
	size_t n = sp->max == 0 ? left : 1 + (size_t)(xorshift(&sp->rng) % sp->max);
	return n < left ? n : left;
}

/* Whether decode_stream's decoders take the extension's messages. */
static bool stream_ext;

static void decode_stream(enum rap_role role, uint32_t max, const uint8_t *s, size_t len,
			  struct splitter *sp, struct run *out)
{
	struct rap_decoder *d = NULL;
	memset(out, 0, sizeof(*out));
	assert_int_equal(rap_decoder_new(role, &d), 0);
	rap_decoder_set_extension(d, stream_ext);
	if (max)
		assert_int_equal(rap_decoder_set_max_payload(d, max), 0);
	size_t pos = 0;
	while (pos < len) {
		size_t chunk = next_chunk(sp, len - pos);
		size_t cpos = 0;
		for (;;) {
			struct rap_msg m;
			size_t used = 12345;
			int rc = rap_decoder_decode(d, s + pos + cpos, chunk - cpos, &used, &m);
			CHECK(used <= chunk - cpos);
			cpos += used;
			if (rc == 1) {
				run_add(out, &m, pos + cpos);
				continue;
			}
			if (rc == 0) {
				CHECK_EQ(cpos, chunk);
				break;
			}
			CHECK_EQ(rc, RAP_EPROTO);
			/* Refused until reset, without consuming anything more. */
			rc = rap_decoder_decode(d, s + pos + cpos, chunk - cpos, &used, &m);
			CHECK_EQ(rc, RAP_EPROTO);
			CHECK_EQ(used, 0);
			out->end = END_EPROTO;
			out->at = pos + cpos;
			rap_decoder_free(d);
			return;
		}
		pos += chunk;
	}
	out->end = rap_decoder_idle(d) ? END_COMPLETE : END_PARTIAL;
	out->at = out->n ? out->v[out->n - 1].end : 0;
	rap_decoder_free(d);
}

static void check_same_run(const struct run *a, const struct run *b)
{
	CHECK_EQ(b->n, a->n);
	CHECK_EQ(b->end, a->end);
	CHECK_EQ(b->at, a->at);
	for (size_t i = 0; i < a->n; i++) {
		const struct rap_msg *x = &a->v[i].m, *y = &b->v[i].m;
		CHECK_EQ(y->op, x->op);
		CHECK_EQ(y->perm, x->perm);
		CHECK_EQ(y->whence, x->whence);
		CHECK_EQ(y->dropped, x->dropped);
		CHECK_EQ(y->value, x->value);
		CHECK_EQ(y->status, x->status);
		CHECK_EQ(y->len, x->len);
		CHECK(y->offset == x->offset);
		CHECK_EQ(b->v[i].end, a->v[i].end);
		CHECK((x->data == NULL) == (y->data == NULL));
		if (x->data)
			CHECK(memcmp(x->data, y->data, (size_t)x->len + 1) == 0);
	}
}

/* Re-encodes the messages before the first dropped one; they must reproduce the stream
 * byte for byte. Returns how many bytes were reproduced. */
static size_t check_round_trip(const struct run *r, const uint8_t *s, size_t len)
{
	size_t pos = 0;
	for (size_t i = 0; i < r->n && !r->v[i].m.dropped; i++) {
		const struct rap_msg *m = &r->v[i].m;
		size_t n = rap_msg_encoded_size(m);
		CHECK(n > 0);
		CHECK(pos + n <= len);
		uint8_t *buf = malloc(n);
		assert_non_null(buf);
		CHECK_EQ(rap_msg_encode(m, buf, n), (long long)n);
		CHECK(memcmp(buf, s + pos, n) == 0);
		free(buf);
		pos += n;
		CHECK_EQ(pos, r->v[i].end);
	}
	return pos;
}

/* ---- what each recording must decode to -------------------------------------------- */

struct dir_expect {
	unsigned nmsgs;
	enum end_kind end;
	size_t at;            /* EPROTO offset, or for END_PARTIAL where the unfinished tail starts */
	uint32_t dropped_len; /* non-zero: the last message is dropped with this declared length */
};

struct conn_expect {
	int id;
	struct dir_expect c2s; /* client bytes, decoded by a server */
	struct dir_expect s2c; /* server bytes, decoded by a client */
};

struct file_expect {
	const char *name;
	size_t nconns;
	struct conn_expect conns[3];
};

#define OK(n) { (n), END_COMPLETE, 0, 0 }
#define EPROTO_AT(n, at) { (n), END_EPROTO, (at), 0 }
#define PARTIAL(n, at) { (n), END_PARTIAL, (at), 0 }
#define DRAINING(n, at, dl) { (n), END_PARTIAL, (at), (dl) }
#define PLAIN(c, s) 1, { { 1, OK(c), OK(s) } }

/* Every file of the interop folder must be listed: a new recording has to be looked at
 * and given an expectation, not silently pass a blanket rule. Decoders use the defaults
 * (server payload limit 4096, client 64 MiB). */
static const struct file_expect expectations[] = {
	/* 0x42 follows the OPEN: rejected at that byte; the next client is ordinary. */
	{ "bad-opcode-42.txt", 2,
	  { { 1, EPROTO_AT(1, 26), OK(1) }, { 2, OK(2), OK(2) } } },
	{ "bulk-pattern.txt", PLAIN(54, 54) },
	{ "bulk-search-pattern.txt", PLAIN(30, 30) },
	{ "close-o-minus.txt", PLAIN(15, 15) },
	{ "close-quit.txt", PLAIN(12, 12) },
	{ "close-raw.txt", 3,
	  { { 1, OK(4), OK(4) }, { 2, OK(3), OK(3) }, { 3, OK(1), OK(1) } } },
	/* The 17991-byte CMD reply is over the stock client's 16 KiB but well within ours. */
	{ "cmd-big-reply.txt", PLAIN(17, 17) },
	/* The last CMD declares 9 bytes and sends 8 before the client hangs up: five
	 * messages, then a 13-byte unfinished tail. The server still answered all five
	 * (the fifth after the hang-up), plus the OPEN. */
	{ "cmd-edge-raw.txt", 1, { { 1, PARTIAL(5, 64), OK(6) } } },
	/* CMD len 4096 is within a 4096 payload limit, so a framing decoder takes the
	 * payload as payload (stock mis-parses it as packets); refusing len >= 4096 is the
	 * server session's business, not the codec's. */
	{ "cmd-len4096-raw.txt", 2, { { 1, OK(2), OK(2) }, { 2, OK(1), OK(1) } } },
	/* Reverse CMD: 0x07 in the server stream, 0x87 in the client stream. */
	{ "cmd-reverse.txt", PLAIN(14, 14) },
	{ "cmd.txt", PLAIN(17, 17) },
	/* The 9-byte SEEK borrows the next READ's opcode as its last offset byte, exactly as
	 * the stock server did; the READ length's first byte 0x00 is then no opcode. */
	{ "desync-short-seek-raw.txt", 1, { { 1, EPROTO_AT(10, 106), OK(10) } } },
	/* Command outputs only (debugger, '=' family, disassembly): no wire bytes. */
	{ "debug-session.txt", 0, { { 0 } } },
	{ "disasm.txt", 0, { { 0 } } },
	{ "eq-commands.txt", 0, { { 0 } } },
	{ "eq-rap-plus.txt", PLAIN(3, 3) },
	/* 'G' is no RAP opcode: rejected at the very first byte. */
	{ "http-get-emulation-256.txt", 1, { { 1, EPROTO_AT(0, 0), OK(0) } } },
	{ "http-get-emulation.txt", 2,
	  { { 1, EPROTO_AT(0, 0), OK(0) }, { 2, OK(1), OK(1) } } },
	/* OPEN with n = 0 is well-formed (an empty path); the server hung up unanswered. */
	{ "open-len0.txt", 2, { { 1, OK(1), OK(0) }, { 2, OK(2), OK(2) } } },
	{ "open-missing.txt", 1, { { 1, OK(1), OK(0) } } },
	{ "open-ro-n.txt", PLAIN(21, 21) },
	{ "open-ro.txt", PLAIN(712, 712) },
	{ "open-rw.txt", PLAIN(24, 24) },
	{ "read-10000.txt", PLAIN(21, 21) },
	{ "read-100000.txt", PLAIN(21, 21) },
	{ "read-before-open-raw.txt", PLAIN(2, 2) },
	/* READ carries no payload: len 0xffffffff is a valid frame and a server decision;
	 * the stock server exited without answering it. */
	{ "read-ffffffff.txt", 1, { { 1, OK(2), OK(1) } } },
	{ "read-sizes-raw.txt", PLAIN(5, 5) },
	{ "search-hash.txt", 0, { { 0 } } },
	{ "second-client.txt", 2, { { 1, OK(3), OK(3) }, { 2, OK(2), OK(2) } } },
	{ "seek-raw.txt", PLAIN(13, 13) },
	{ "seek.txt", PLAIN(57, 57) },
	{ "small-ops-pattern.txt", PLAIN(102, 102) },
	/* WRITE len 4097 is over the limit: reported dropped from its header alone, then the
	 * decoder waits to drain 4097 bytes that never came. */
	{ "write-edge-raw.txt", 2,
	  { { 1, OK(4), OK(4) }, { 2, DRAINING(6, 68, 4097), OK(5) } } },
	/* WRITE len 0x5a5a5a5a: dropped, and the 19 bytes the client sent afterwards are
	 * swallowed by the drain, as the declared length says they must be. */
	{ "write-hugelen-raw.txt", 1, { { 1, DRAINING(3, 44, 0x5a5a5a5a), OK(2) } } },
	{ "write.txt", PLAIN(33, 33) },
};

static const struct file_expect *find_expectation(const char *name)
{
	for (size_t i = 0; i < sizeof(expectations) / sizeof(expectations[0]); i++)
		if (strcmp(expectations[i].name, name) == 0)
			return &expectations[i];
	return NULL;
}

static void check_expectation(const struct run *r, const struct dir_expect *e)
{
	CHECK_EQ(r->n, e->nmsgs);
	CHECK_EQ(r->end, e->end);
	if (e->end != END_COMPLETE)
		CHECK_EQ(r->at, e->at);
	size_t dropped = 0;
	for (size_t i = 0; i < r->n; i++)
		dropped += r->v[i].m.dropped;
	CHECK_EQ(dropped, e->dropped_len ? 1 : 0);
	if (e->dropped_len) {
		const struct rap_msg *m = &r->v[r->n - 1].m;
		CHECK(m->dropped);
		CHECK(m->data == NULL);
		CHECK_EQ(m->len, e->dropped_len);
	}
}

/* Decodes one direction whole, byte by byte and under seeded random splits, checks the
 * runs agree, meet the expectation, and re-encode to the original bytes. */
static void check_direction(const char *name, int conn, const char *dir, enum rap_role role,
			    const uint8_t *s, size_t len, const struct dir_expect *e)
{
	static const size_t maxes[] = { 2, 3, 7, 16, 100, 1500, 5000 };
	struct run whole, other;
	struct splitter sp = { 0, 0 };

	snprintf(ctx, sizeof(ctx), "%s conn %d %s whole", name, conn, dir);
	decode_stream(role, 0, s, len, &sp, &whole);
	check_expectation(&whole, e);

	snprintf(ctx, sizeof(ctx), "%s conn %d %s byte-by-byte", name, conn, dir);
	sp.max = 1;
	decode_stream(role, 0, s, len, &sp, &other);
	check_same_run(&whole, &other);
	run_free(&other);

	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		for (uint64_t seed = 1; seed <= 3; seed++) {
			snprintf(ctx, sizeof(ctx), "%s conn %d %s split max %zu seed %llu", name,
				 conn, dir, maxes[i], (unsigned long long)seed);
			sp.max = maxes[i];
			sp.rng = 0x9e3779b97f4a7c15ull * (seed + 17 * i) + len;
			decode_stream(role, 0, s, len, &sp, &other);
			check_same_run(&whole, &other);
			run_free(&other);
		}
	}

	snprintf(ctx, sizeof(ctx), "%s conn %d %s re-encode", name, conn, dir);
	size_t reproduced = check_round_trip(&whole, s, len);
	if (e->end == END_COMPLETE && !e->dropped_len)
		CHECK_EQ(reproduced, len);
	else if (e->end == END_EPROTO)
		CHECK_EQ(reproduced, e->at);
	run_free(&whole);
}

static void test_transcripts(void **state)
{
	(void)state;
	char **names = NULL;
	int n = transcript_names(&names);
	snprintf(ctx, sizeof(ctx), "transcript dir %s", transcript_dir());
	CHECK(n > 0);
	size_t listed = 0;
	for (int i = 0; i < n; i++) {
		const struct file_expect *fe = find_expectation(names[i]);
		snprintf(ctx, sizeof(ctx), "%s has no entry in the expectation table", names[i]);
		CHECK(fe != NULL);
		listed++;
		struct transcript t;
		snprintf(ctx, sizeof(ctx), "%s cannot be loaded", names[i]);
		CHECK_EQ(transcript_load(names[i], &t), 0);
		snprintf(ctx, sizeof(ctx), "%s connections", names[i]);
		CHECK_EQ(t.nconns, fe->nconns);
		for (size_t c = 0; c < fe->nconns; c++) {
			const struct conn_expect *ce = &fe->conns[c];
			const struct transcript_conn *tc = transcript_conn(&t, ce->id);
			snprintf(ctx, sizeof(ctx), "%s conn %d missing", names[i], ce->id);
			CHECK(tc != NULL);
			check_direction(names[i], ce->id, "client->server", RAP_ROLE_SERVER,
					tc->client, tc->client_len, &ce->c2s);
			check_direction(names[i], ce->id, "server->client", RAP_ROLE_CLIENT,
					tc->server, tc->server_len, &ce->s2c);
		}
		transcript_free(&t);
	}
	/* A stale entry means a recording vanished: the table should say so too. */
	snprintf(ctx, sizeof(ctx), "expectation table lists files that do not exist");
	CHECK_EQ(listed, sizeof(expectations) / sizeof(expectations[0]));
	transcript_names_free(names, n);
}

/* The mis-parse the stock server made is the one a strict framer makes too. */
static void test_transcript_desync_detail(void **state)
{
	(void)state;
	struct transcript t;
	snprintf(ctx, sizeof(ctx), "desync-short-seek-raw.txt");
	CHECK_EQ(transcript_load("desync-short-seek-raw.txt", &t), 0);
	const struct transcript_conn *tc = transcript_conn(&t, 1);
	CHECK(tc != NULL);
	struct splitter sp = { 0, 0 };
	struct run r;
	decode_stream(RAP_ROLE_SERVER, 0, tc->client, tc->client_len, &sp, &r);
	CHECK_EQ(r.n, 10);
	const struct rap_msg *m = &r.v[9].m;
	CHECK_EQ(m->op, RAP_OP_SEEK);
	CHECK_EQ(m->whence, 0);
	CHECK(m->offset == 0x1fff802);
	CHECK_EQ(tc->client[r.at], 0x00);
	run_free(&r);
	transcript_free(&t);
}

/* With a limit below 4096, the stock-crashing CMD is dropped and the stream stays in
 * sync: the drain swallows exactly the payload and nothing else. */
static void test_transcript_cmd4096_limited(void **state)
{
	(void)state;
	struct transcript t;
	snprintf(ctx, sizeof(ctx), "cmd-len4096-raw.txt limit 4095");
	CHECK_EQ(transcript_load("cmd-len4096-raw.txt", &t), 0);
	const struct transcript_conn *tc = transcript_conn(&t, 1);
	CHECK(tc != NULL);
	struct splitter sp = { 0, 0 };
	struct run whole, other;
	decode_stream(RAP_ROLE_SERVER, 4095, tc->client, tc->client_len, &sp, &whole);
	CHECK_EQ(whole.n, 2);
	CHECK_EQ(whole.end, END_COMPLETE);
	CHECK(whole.v[1].m.dropped);
	CHECK_EQ(whole.v[1].m.op, RAP_OP_CMD);
	CHECK_EQ(whole.v[1].m.len, 4096);
	sp.max = 1;
	decode_stream(RAP_ROLE_SERVER, 4095, tc->client, tc->client_len, &sp, &other);
	check_same_run(&whole, &other);
	run_free(&other);
	run_free(&whole);
	transcript_free(&t);
}

/* ---- targeted tests ---------------------------------------------------------------- */

static size_t put(uint8_t *out, const struct rap_msg *m)
{
	ssize_t n = rap_msg_encode(m, out, 1 << 16);
	assert_true(n > 0);
	return (size_t)n;
}

static void test_oversized_dropped_and_drained(void **state)
{
	(void)state;
	static uint8_t stream[16384];
	static uint8_t big[5000];
	memset(big, 'A', sizeof(big));
	size_t len = 0;
	struct rap_msg w = { .op = RAP_OP_WRITE, .len = sizeof(big), .data = big };
	struct rap_msg r = { .op = RAP_OP_READ, .len = 16 };
	struct rap_msg c = { .op = RAP_OP_CMD, .len = 4, .data = (const uint8_t *)"?V\0" };
	/* A payload whose bytes look like opcodes proves the drain is not parsing them. */
	struct rap_msg w2 = { .op = RAP_OP_WRITE, .len = 4097, .data = big };
	len += put(stream + len, &w);
	len += put(stream + len, &r);
	len += put(stream + len, &c);
	memset(big, RAP_OP_READ, sizeof(big));
	len += put(stream + len, &w2);
	len += put(stream + len, &r);

	static const size_t maxes[] = { 0, 1, 3, 1000, 6000 };
	struct run whole;
	struct splitter sp = { 0, 0 };
	snprintf(ctx, sizeof(ctx), "oversized whole");
	decode_stream(RAP_ROLE_SERVER, 0, stream, len, &sp, &whole);
	CHECK_EQ(whole.n, 5);
	CHECK_EQ(whole.end, END_COMPLETE);
	CHECK(whole.v[0].m.dropped);
	CHECK_EQ(whole.v[0].m.op, RAP_OP_WRITE);
	CHECK_EQ(whole.v[0].m.len, 5000);
	CHECK(whole.v[0].m.data == NULL);
	CHECK_EQ(whole.v[0].end, 5); /* reported from the header, before the payload */
	CHECK_EQ(whole.v[1].m.op, RAP_OP_READ);
	CHECK_EQ(whole.v[1].m.len, 16);
	CHECK_EQ(whole.v[2].m.op, RAP_OP_CMD);
	CHECK(memcmp(whole.v[2].m.data, "?V", 3) == 0);
	CHECK(whole.v[3].m.dropped);
	CHECK_EQ(whole.v[3].m.len, 4097);
	CHECK_EQ(whole.v[4].m.op, RAP_OP_READ);
	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		struct run other;
		sp.max = maxes[i];
		sp.rng = 99 + i;
		snprintf(ctx, sizeof(ctx), "oversized split %zu", maxes[i]);
		decode_stream(RAP_ROLE_SERVER, 0, stream, len, &sp, &other);
		check_same_run(&whole, &other);
		run_free(&other);
	}
	run_free(&whole);

	/* While draining, the decoder is mid-message. */
	struct rap_decoder *d;
	struct rap_msg m;
	size_t used;
	assert_int_equal(rap_decoder_new(RAP_ROLE_SERVER, &d), 0);
	assert_int_equal(rap_decoder_decode(d, stream, 5, &used, &m), 1);
	assert_true(m.dropped);
	assert_false(rap_decoder_idle(d));
	assert_int_equal(rap_decoder_decode(d, stream + 5, 4999, &used, &m), 0);
	assert_int_equal(used, 4999);
	assert_false(rap_decoder_idle(d));
	assert_int_equal(rap_decoder_decode(d, stream + 5004, 1, &used, &m), 0);
	assert_true(rap_decoder_idle(d));
	rap_decoder_free(d);
}

static void test_client_limit(void **state)
{
	(void)state;
	static uint8_t data[100];
	uint8_t stream[512];
	size_t len = 0;
	struct rap_msg big = { .op = RAP_OP_READ | RAP_REPLY, .len = 100, .data = data };
	struct rap_msg fit = { .op = RAP_OP_READ | RAP_REPLY, .len = 16, .data = data };
	struct rap_msg seek = { .op = RAP_OP_SEEK | RAP_REPLY, .offset = 0x1234 };
	len += put(stream + len, &big);
	len += put(stream + len, &fit);
	len += put(stream + len, &seek);
	struct splitter sp = { 0, 0 };
	struct run r;
	snprintf(ctx, sizeof(ctx), "client limit 16");
	decode_stream(RAP_ROLE_CLIENT, 16, stream, len, &sp, &r);
	CHECK_EQ(r.n, 3);
	CHECK(r.v[0].m.dropped);
	CHECK(!r.v[1].m.dropped);
	CHECK_EQ(r.v[1].m.len, 16);
	CHECK(r.v[2].m.offset == 0x1234);
	CHECK_EQ(r.end, END_COMPLETE);
	run_free(&r);
}

static void test_open_empty_path(void **state)
{
	(void)state;
	static const uint8_t in[] = { 0x01, 0x05, 0x00 };
	struct rap_decoder *d;
	struct rap_msg m;
	size_t used;
	assert_int_equal(rap_decoder_new(RAP_ROLE_SERVER, &d), 0);
	assert_int_equal(rap_decoder_decode(d, in, sizeof(in), &used, &m), 1);
	assert_int_equal(used, 3);
	assert_int_equal(m.op, RAP_OP_OPEN);
	assert_int_equal(m.perm, 5);
	assert_int_equal(m.len, 0);
	assert_non_null(m.data);
	assert_string_equal((const char *)m.data, "");
	uint8_t out[8];
	assert_int_equal(rap_msg_encode(&m, out, sizeof(out)), 3);
	assert_memory_equal(out, in, 3);
	rap_decoder_free(d);
}

static void test_open_path_limits(void **state)
{
	(void)state;
	uint8_t path[256];
	uint8_t out[300];
	memset(path, 'p', sizeof(path));
	path[253] = '\0';
	struct rap_msg m = { .op = RAP_OP_OPEN, .perm = 7, .len = 254, .data = path };
	assert_int_equal(rap_msg_encoded_size(&m), 257);
	assert_int_equal(rap_msg_encode(&m, out, sizeof(out)), 257);
	assert_int_equal(out[2], 254);

	struct rap_decoder *d;
	struct rap_msg got;
	size_t used;
	assert_int_equal(rap_decoder_new(RAP_ROLE_SERVER, &d), 0);
	assert_int_equal(rap_decoder_decode(d, out, 257, &used, &got), 1);
	assert_int_equal(got.len, 254);
	assert_int_equal(got.perm, 7);
	assert_memory_equal(got.data, path, 254);

	/* 255 bytes is what the stock client refuses to send: we do not send it either,
	 * but a peer that does still gets decoded. */
	m.len = 255;
	assert_int_equal(rap_msg_encoded_size(&m), 0);
	assert_int_equal(rap_msg_encode(&m, out, sizeof(out)), RAP_EINVAL);
	out[0] = RAP_OP_OPEN;
	out[1] = 4;
	out[2] = 255;
	memset(out + 3, 'q', 255);
	assert_int_equal(rap_decoder_decode(d, out, 258, &used, &got), 1);
	assert_int_equal(used, 258);
	assert_int_equal(got.len, 255);
	assert_int_equal(got.data[255], 0);
	rap_decoder_free(d);
}

/* One vector per opcode and direction: exact bytes, and back through the decoder. */
static void test_encode_decode_all(void **state)
{
	(void)state;
	static const uint8_t text[] = "?V";
	struct vec {
		struct rap_msg m;
		enum rap_role decoder;
		size_t size;
		const char *hex;
	} vecs[] = {
		{ { .op = 0x01, .perm = 5, .len = 3, .data = text }, RAP_ROLE_SERVER, 6, "010503" "3f5600" },
		{ { .op = 0x81, .value = -1 }, RAP_ROLE_CLIENT, 5, "81ffffffff" },
		{ { .op = 0x81, .value = 4 }, RAP_ROLE_CLIENT, 5, "8100000004" },
		{ { .op = 0x02, .len = 0xffffffff }, RAP_ROLE_SERVER, 5, "02ffffffff" },
		{ { .op = 0x82, .len = 2, .data = text }, RAP_ROLE_CLIENT, 7, "82000000023f56" },
		{ { .op = 0x03, .len = 0, .data = NULL }, RAP_ROLE_SERVER, 5, "0300000000" },
		{ { .op = 0x83, .value = 1 }, RAP_ROLE_CLIENT, 5, "8300000001" },
		{ { .op = 0x04, .whence = 0xff, .offset = 0x5241505801020304ull }, RAP_ROLE_SERVER, 10,
		  "04ff5241505801020304" },
		{ { .op = 0x84, .offset = UINT64_MAX }, RAP_ROLE_CLIENT, 9, "84ffffffffffffffff" },
		{ { .op = 0x05, .value = 1000 }, RAP_ROLE_SERVER, 5, "05000003e8" },
		{ { .op = 0x85, .value = INT32_MIN }, RAP_ROLE_CLIENT, 5, "8580000000" },
		{ { .op = 0x06, .len = 3, .data = text }, RAP_ROLE_SERVER, 8, "06000000033f5600" },
		{ { .op = 0x86, .len = 0, .data = NULL }, RAP_ROLE_CLIENT, 5, "8600000000" },
		{ { .op = 0x07, .len = 3, .data = text }, RAP_ROLE_SERVER, 8, "07000000033f5600" },
		{ { .op = 0x07, .len = 3, .data = text }, RAP_ROLE_CLIENT, 8, "07000000033f5600" },
		{ { .op = 0x87, .len = 1, .data = (const uint8_t *)"" }, RAP_ROLE_CLIENT, 6, "870000000100" },
		{ { .op = 0x87, .len = 0 }, RAP_ROLE_SERVER, 5, "8700000000" },
	};
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		uint8_t want[32], out[32];
		size_t wn = strlen(v->hex) / 2;
		for (size_t k = 0; k < wn; k++) {
			unsigned b;
			sscanf(v->hex + 2 * k, "%2x", &b);
			want[k] = (uint8_t)b;
		}
		snprintf(ctx, sizeof(ctx), "vector %zu op 0x%02x", i, v->m.op);
		CHECK_EQ(wn, v->size);
		CHECK_EQ(rap_msg_encoded_size(&v->m), v->size);
		CHECK_EQ(rap_msg_encode(&v->m, out, sizeof(out)), (long long)v->size);
		CHECK(memcmp(out, want, wn) == 0);
		/* Every cap below the size is refused, without writing past it. */
		for (size_t cap = 0; cap < v->size; cap++)
			CHECK_EQ(rap_msg_encode(&v->m, out, cap), RAP_ENOSPC);

		struct rap_decoder *d;
		struct rap_msg m;
		size_t used;
		assert_int_equal(rap_decoder_new(v->decoder, &d), 0);
		CHECK_EQ(rap_decoder_decode(d, want, wn, &used, &m), 1);
		CHECK_EQ(used, wn);
		CHECK_EQ(m.op, v->m.op);
		CHECK_EQ(m.perm, v->m.perm);
		CHECK_EQ(m.whence, v->m.whence);
		CHECK_EQ(m.value, v->m.value);
		CHECK_EQ(m.len, v->m.len);
		CHECK(m.offset == v->m.offset);
		CHECK(!m.dropped);
		if (v->m.data)
			CHECK(memcmp(m.data, v->m.data, v->m.len) == 0);
		else if (v->m.op == RAP_OP_READ)
			CHECK(m.data == NULL); /* a length asked, not a payload */
		CHECK(rap_decoder_idle(d));
		rap_decoder_free(d);
	}
}

static void test_encode_errors(void **state)
{
	(void)state;
	uint8_t out[64];
	static const uint8_t bad_ops[] = { 0x00, 0x08, 0x42, 0x47, 0x80, 0x88, 0xff };
	for (size_t i = 0; i < sizeof(bad_ops); i++) {
		struct rap_msg m = { .op = bad_ops[i] };
		assert_int_equal(rap_msg_encoded_size(&m), 0);
		assert_int_equal(rap_msg_encode(&m, out, sizeof(out)), RAP_EINVAL);
	}
	/* A payload length without a payload. */
	struct rap_msg nodata = { .op = RAP_OP_WRITE, .len = 4 };
	assert_int_equal(rap_msg_encoded_size(&nodata), 0);
	assert_int_equal(rap_msg_encode(&nodata, out, sizeof(out)), RAP_EINVAL);
	nodata.op = RAP_OP_OPEN;
	assert_int_equal(rap_msg_encode(&nodata, out, sizeof(out)), RAP_EINVAL);
	assert_int_equal(rap_msg_encoded_size(NULL), 0);
	assert_int_equal(rap_msg_encode(NULL, out, sizeof(out)), RAP_EINVAL);
	struct rap_msg ok = { .op = RAP_OP_READ, .len = 1 };
	assert_int_equal(rap_msg_encode(&ok, NULL, 0), RAP_ENOSPC);
	assert_int_equal(rap_msg_encode(&ok, NULL, 5), RAP_EINVAL);
	/* Fields the opcode does not use are ignored. */
	struct rap_msg noisy = { .op = RAP_OP_READ | RAP_REPLY, .len = 0, .value = 7, .offset = 9,
				 .dropped = true, .perm = 3 };
	assert_int_equal(rap_msg_encode(&noisy, out, sizeof(out)), 5);
	assert_memory_equal(out, "\x82\0\0\0\0", 5);
}

static void test_role_mismatch(void **state)
{
	(void)state;
	struct rap_decoder *srv, *cli;
	struct rap_msg m;
	size_t used = 99;
	assert_int_equal(rap_decoder_new(RAP_ROLE_SERVER, &srv), 0);
	assert_int_equal(rap_decoder_new(RAP_ROLE_CLIENT, &cli), 0);
	static const uint8_t reply[] = { 0x81, 0, 0, 0, 4 };
	assert_int_equal(rap_decoder_decode(srv, reply, sizeof(reply), &used, &m), RAP_EPROTO);
	assert_int_equal(used, 0);
	static const uint8_t req[] = { 0x02, 0, 0, 0, 4 };
	assert_int_equal(rap_decoder_decode(cli, req, sizeof(req), &used, &m), RAP_EPROTO);
	assert_int_equal(used, 0);
	rap_decoder_reset(srv);
	rap_decoder_reset(cli);
	/* Each side accepts only its own set; nothing outside 0x01..0x07 / 0x81..0x87. */
	for (unsigned op = 0; op < 256; op++) {
		uint8_t b = (uint8_t)op;
		bool srv_ok = (op >= 1 && op <= 7) || op == 0x87;
		bool cli_ok = (op >= 0x81 && op <= 0x87) || op == 0x07;
		int rc = rap_decoder_decode(srv, &b, 1, &used, &m);
		assert_int_equal(rc, srv_ok ? 0 : RAP_EPROTO);
		assert_int_equal(used, srv_ok ? 1 : 0);
		rc = rap_decoder_decode(cli, &b, 1, &used, &m);
		assert_int_equal(rc, cli_ok ? 0 : RAP_EPROTO);
		assert_int_equal(used, cli_ok ? 1 : 0);
		rap_decoder_reset(srv);
		rap_decoder_reset(cli);
	}
	/* A rejection after good messages in the same buffer: those come out first. */
	static const uint8_t mixed[] = { 0x02, 0, 0, 0, 1, 0x42, 0x02 };
	assert_int_equal(rap_decoder_decode(srv, mixed, sizeof(mixed), &used, &m), 1);
	assert_int_equal(used, 5);
	assert_int_equal(rap_decoder_decode(srv, mixed + 5, 2, &used, &m), RAP_EPROTO);
	assert_int_equal(used, 0);
	assert_true(rap_decoder_idle(srv));
	rap_decoder_free(srv);
	rap_decoder_free(cli);
}

static void test_reset_and_idle(void **state)
{
	(void)state;
	struct rap_decoder *d;
	struct rap_msg m;
	size_t used;
	static const uint8_t cmd[] = { 0x07, 0, 0, 0, 3, '?', 'V', 0 };
	assert_int_equal(rap_decoder_new(RAP_ROLE_SERVER, &d), 0);
	assert_true(rap_decoder_idle(d));
	/* "Need more" is 0 with everything consumed, distinct from an error. */
	assert_int_equal(rap_decoder_decode(d, cmd, 3, &used, &m), 0);
	assert_int_equal(used, 3);
	assert_false(rap_decoder_idle(d));
	/* An empty feed mid-header or mid-payload is just "need more". */
	assert_int_equal(rap_decoder_decode(d, NULL, 0, &used, &m), 0);
	assert_int_equal(rap_decoder_decode(d, cmd + 3, 3, &used, &m), 0);
	assert_int_equal(rap_decoder_decode(d, NULL, 0, &used, &m), 0);
	assert_false(rap_decoder_idle(d));
	rap_decoder_reset(d);
	assert_true(rap_decoder_idle(d));
	assert_int_equal(rap_decoder_decode(d, cmd, sizeof(cmd), &used, &m), 1);
	assert_int_equal(used, sizeof(cmd));
	assert_int_equal(m.len, 3);
	assert_string_equal((const char *)m.data, "?V");
	assert_true(rap_decoder_idle(d));
	/* Nothing in, nothing out. */
	assert_int_equal(rap_decoder_decode(d, NULL, 0, &used, &m), 0);
	assert_int_equal(used, 0);

	uint8_t bad = 0x99;
	assert_int_equal(rap_decoder_decode(d, &bad, 1, &used, &m), RAP_EPROTO);
	assert_int_equal(rap_decoder_decode(d, cmd, sizeof(cmd), &used, &m), RAP_EPROTO);
	assert_int_equal(used, 0);
	rap_decoder_reset(d);
	assert_int_equal(rap_decoder_decode(d, cmd, sizeof(cmd), &used, &m), 1);

	/* Reset in the middle of a drain forgets the rest of the oversized payload. */
	static const uint8_t huge[] = { 0x03, 0x7f, 0xff, 0xff, 0xff, 'x', 'x' };
	assert_int_equal(rap_decoder_decode(d, huge, sizeof(huge), &used, &m), 1);
	assert_true(m.dropped);
	assert_int_equal(rap_decoder_decode(d, huge + used, sizeof(huge) - used, &used, &m), 0);
	assert_false(rap_decoder_idle(d));
	rap_decoder_reset(d);
	assert_int_equal(rap_decoder_decode(d, cmd, sizeof(cmd), &used, &m), 1);
	assert_string_equal((const char *)m.data, "?V");
	rap_decoder_reset(NULL);
	rap_decoder_free(d);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct rap_decoder *d = (struct rap_decoder *)&d;
	assert_int_equal(rap_decoder_new((enum rap_role)7, &d), RAP_EINVAL);
	assert_null(d);
	assert_int_equal(rap_decoder_new(RAP_ROLE_SERVER, NULL), RAP_EINVAL);
	assert_int_equal(rap_decoder_new(RAP_ROLE_SERVER, &d), 0);
	assert_int_equal(rap_decoder_set_max_payload(d, 0), RAP_EINVAL);
	assert_int_equal(rap_decoder_set_max_payload(d, (1u << 30) + 1), RAP_EINVAL);
	assert_int_equal(rap_decoder_set_max_payload(NULL, 10), RAP_EINVAL);
	assert_int_equal(rap_decoder_set_max_payload(d, 1u << 30), 0);
	assert_int_equal(rap_decoder_set_max_payload(d, 1), 0);
	struct rap_msg m;
	size_t used = 5;
	uint8_t b = 2;
	assert_int_equal(rap_decoder_decode(d, &b, 1, NULL, &m), RAP_EINVAL);
	assert_int_equal(rap_decoder_decode(d, &b, 1, &used, NULL), RAP_EINVAL);
	assert_int_equal(used, 0);
	assert_int_equal(rap_decoder_decode(d, NULL, 1, &used, &m), RAP_EINVAL);
	assert_int_equal(rap_decoder_decode(NULL, &b, 1, &used, &m), RAP_EINVAL);
	/* Limit 1: one payload byte fits, two are dropped. */
	static const uint8_t two[] = { 0x07, 0, 0, 0, 1, 'a', 0x07, 0, 0, 0, 2, 'a', 'b' };
	assert_int_equal(rap_decoder_decode(d, two, sizeof(two), &used, &m), 1);
	assert_false(m.dropped);
	assert_int_equal(rap_decoder_decode(d, two + 6, 7, &used, &m), 1);
	assert_true(m.dropped);
	rap_decoder_free(d);
	rap_decoder_free(NULL);
}

static void test_alloc_failure(void **state)
{
	(void)state;
	struct rap_decoder *d = NULL;
	for (long n = 0; n < 2; n++) {
		rap__alloc_fail_after(n);
		assert_int_equal(rap_decoder_new(RAP_ROLE_CLIENT, &d), RAP_ENOMEM);
		assert_null(d);
	}
	rap__alloc_fail_after(-1);

	/* A client payload larger than the preallocated buffer needs memory while decoding:
	 * failing it keeps the state, and the same call succeeds once memory is back. */
	assert_int_equal(rap_decoder_new(RAP_ROLE_CLIENT, &d), 0);
	size_t len = 5 + 10000;
	uint8_t *in = malloc(len);
	assert_non_null(in);
	memset(in, 'z', len);
	in[0] = RAP_OP_READ | RAP_REPLY;
	rap__put_be32(in + 1, 10000);
	struct rap_msg m;
	size_t used;
	rap__alloc_fail_after(0);
	assert_int_equal(rap_decoder_decode(d, in, len, &used, &m), RAP_ENOMEM);
	assert_int_equal(used, 5);
	assert_false(rap_decoder_idle(d));
	rap__alloc_fail_after(-1);
	assert_int_equal(rap_decoder_decode(d, in + 5, len - 5, &used, &m), 1);
	assert_int_equal(used, len - 5);
	assert_int_equal(m.len, 10000);
	assert_int_equal(m.data[9999], 'z');
	assert_int_equal(m.data[10000], 0);
	/* Back to small payloads after a big one still works (the buffer may shrink). */
	static const uint8_t small[] = { 0x87, 0, 0, 0, 2, 'k', 0 };
	assert_int_equal(rap_decoder_decode(d, small, sizeof(small), &used, &m), 1);
	assert_string_equal((const char *)m.data, "k");
	free(in);
	rap_decoder_free(d);
}

/* A payload buffer grows only as far as the limit, and a big one is given back. */
static void test_large_payloads(void **state)
{
	(void)state;
	struct rap_decoder *d;
	assert_int_equal(rap_decoder_new(RAP_ROLE_CLIENT, &d), 0);
	size_t big = 3u << 20;
	uint8_t *in = malloc(5 + big);
	assert_non_null(in);
	for (size_t i = 0; i < big; i++)
		in[5 + i] = (uint8_t)(i * 7);
	in[0] = RAP_OP_CMD | RAP_REPLY;
	rap__put_be32(in + 1, (uint32_t)big);
	struct rap_msg m;
	size_t used, pos = 0;
	int rc = 0;
	/* Fed in odd-sized pieces, as a socket would deliver it. */
	while (pos < 5 + big) {
		size_t n = 5 + big - pos < 65521 ? 5 + big - pos : 65521;
		rc = rap_decoder_decode(d, in + pos, n, &used, &m);
		pos += used;
		if (rc == 1)
			break;
		assert_int_equal(rc, 0);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(m.len, big);
	assert_memory_equal(m.data, in + 5, big);
	assert_int_equal(m.data[big], 0);
	static const uint8_t small[] = { 0x82, 0, 0, 0, 1, 'k' };
	assert_int_equal(rap_decoder_decode(d, small, sizeof(small), &used, &m), 1);
	assert_int_equal(m.data[0], 'k');
	assert_int_equal(rap_decoder_set_max_payload(d, 8), 0);
	assert_int_equal(rap_decoder_decode(d, in, 5 + big, &used, &m), 1);
	assert_true(m.dropped);
	free(in);
	rap_decoder_free(d);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(rap_strerror(RAP_EPROTO), "malformed or unexpected message from the peer");
	assert_string_equal(rap_strerror(0), "success");
	assert_non_null(rap_strerror(-ECONNREFUSED));
	assert_string_equal(rap_strerror(-ECONNREFUSED), strerror(ECONNREFUSED));
	for (int e = -1017; e <= -1000; e++)
		assert_non_null(rap_strerror(e));
	assert_string_equal(rap_strerror(12345), "unknown error");
	assert_string_equal(rap_strerror(-99999), "unknown error");
	assert_string_equal(rap_strerror(-4000), "unknown error");
	assert_string_equal(rap_version(), RAP_VERSION_STRING);
}

/* ---- the extension's messages -------------------------------------------------------- */

static size_t from_hex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = hex; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		unsigned b;
		assert_int_equal(sscanf(p, "%2x", &b), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)b;
		p += 2;
	}
	return n;
}

static const uint8_t nonce32[32] = "0123456789abcdef0123456789ABCDEF";

/* Every extension message, encoded and decoded, and where each side refuses it. */
static void test_ext_encode_decode(void **state)
{
	(void)state;
	static const uint8_t path[] = "/bin/ls";
	static const uint8_t stat_body[] = "\0\0\0\0\0\0\x10\0\x05\x01/x";
	struct vec {
		struct rap_msg m;
		enum rap_role decoder;
		const char *hex;
	} vecs[] = {
		{ { .op = 0x10, .perm = 5, .len = 7, .data = path }, RAP_ROLE_SERVER, "10 00000008 05 2f62696e2f6c73" },
		{ { .op = 0x10, .perm = 7, .len = 0, .data = NULL }, RAP_ROLE_SERVER, "10 00000001 07" },
		{ { .op = 0x11, .value = 3, .offset = 0x1122334455667788ull, .len = 1u << 20 }, RAP_ROLE_SERVER,
		  "11 00000010 00000003 1122334455667788 00100000" },
		{ { .op = 0x12, .value = -1, .offset = 16, .len = 3, .data = path }, RAP_ROLE_SERVER,
		  "12 0000000f ffffffff 0000000000000010 2f6269" },
		{ { .op = 0x12, .value = 4, .offset = 0, .len = 0, .data = NULL }, RAP_ROLE_SERVER,
		  "12 0000000c 00000004 0000000000000000" },
		{ { .op = 0x13, .value = 3 }, RAP_ROLE_SERVER, "13 00000004 00000003" },
		{ { .op = 0x14, .value = INT32_MIN }, RAP_ROLE_SERVER, "14 00000004 80000000" },
		{ { .op = 0x15, .len = 2, .data = (const uint8_t *)"?V" }, RAP_ROLE_SERVER, "15 00000002 3f56" },
		{ { .op = 0x15, .len = 0, .data = NULL }, RAP_ROLE_SERVER, "15 00000000" },
		{ { .op = 0x16, .len = 32, .data = nonce32 }, RAP_ROLE_SERVER,
		  "16 00000020 3031323334353637383961626364656630313233343536373839414243444546" },
		{ { .op = 0x17, .len = 32, .data = nonce32 }, RAP_ROLE_SERVER,
		  "17 00000020 3031323334353637383961626364656630313233343536373839414243444546" },
		{ { .op = 0x90, .status = 0, .value = 3 }, RAP_ROLE_CLIENT, "90 00000008 00000000 00000003" },
		{ { .op = 0x90, .status = -2, .len = 4, .data = (const uint8_t *)"gone" }, RAP_ROLE_CLIENT,
		  "90 00000008 fffffffe 676f6e65" },
		{ { .op = 0x91, .status = 0, .len = 2, .data = (const uint8_t *)"ab" }, RAP_ROLE_CLIENT,
		  "91 00000006 00000000 6162" },
		{ { .op = 0x91, .status = 0, .len = 0, .data = NULL }, RAP_ROLE_CLIENT, "91 00000004 00000000" },
		{ { .op = 0x91, .status = RAP_EBADFD, .len = 0, .data = NULL }, RAP_ROLE_CLIENT,
		  "91 00000004 fffffc09" },
		{ { .op = 0x92, .status = 0, .value = 4096 }, RAP_ROLE_CLIENT, "92 00000008 00000000 00001000" },
		{ { .op = 0x93, .status = 0, .len = 12, .data = stat_body }, RAP_ROLE_CLIENT,
		  "93 00000010 00000000 0000000000001000 05 01 2f78" },
		{ { .op = 0x94, .status = 0 }, RAP_ROLE_CLIENT, "94 00000004 00000000" },
		{ { .op = 0x95, .status = 1 }, RAP_ROLE_CLIENT, "95 00000004 00000001" },
		{ { .op = 0x95, .status = RAP_EDENIED, .len = 2, .data = (const uint8_t *)"no" }, RAP_ROLE_CLIENT,
		  "95 00000006 fffffc0c 6e6f" },
		{ { .op = 0x96, .status = 0, .len = 32, .data = nonce32 }, RAP_ROLE_CLIENT,
		  "96 00000024 00000000 3031323334353637383961626364656630313233343536373839414243444546" },
		{ { .op = 0x97, .status = RAP_EAUTH, .len = 0, .data = NULL }, RAP_ROLE_CLIENT, "97 00000004 fffffc07" },
		{ { .op = 0x98, .status = 0, .len = 3, .data = (const uint8_t *)"hi\n" }, RAP_ROLE_CLIENT,
		  "98 00000007 00000000 68690a" },
	};
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		uint8_t want[128], out[128];
		size_t wn = from_hex(v->hex, want, sizeof(want));
		snprintf(ctx, sizeof(ctx), "extension vector %zu op 0x%02x", i, v->m.op);
		CHECK_EQ(rap_msg_encoded_size(&v->m), wn);
		CHECK_EQ(rap_msg_encode(&v->m, out, sizeof(out)), (long long)wn);
		CHECK(memcmp(out, want, wn) == 0);
		for (size_t cap = 0; cap < wn; cap++)
			CHECK_EQ(rap_msg_encode(&v->m, out, cap), RAP_ENOSPC);

		struct rap_decoder *d;
		struct rap_msg m;
		size_t used;
		assert_int_equal(rap_decoder_new(v->decoder, &d), 0);
		/* Off by default: the opcode is unknown, as to a stock peer. */
		CHECK_EQ(rap_decoder_decode(d, want, wn, &used, &m), RAP_EPROTO);
		CHECK_EQ(used, 0);
		char expect[64];
		snprintf(expect, sizeof(expect), "unknown opcode 0x%02x", v->m.op);
		CHECK(strcmp(rap_decoder_error(d), expect) == 0);
		rap_decoder_reset(d);
		CHECK(strcmp(rap_decoder_error(d), "") == 0);
		rap_decoder_set_extension(d, true);
		CHECK_EQ(rap_decoder_decode(d, want, wn, &used, &m), 1);
		CHECK_EQ(used, wn);
		CHECK_EQ(m.op, v->m.op);
		CHECK_EQ(m.perm, v->m.perm);
		CHECK_EQ(m.value, v->m.value);
		CHECK_EQ(m.status, v->m.status);
		CHECK_EQ(m.len, v->m.len);
		CHECK(m.offset == v->m.offset);
		CHECK(!m.dropped);
		if (v->m.data && v->m.len) {
			CHECK(memcmp(m.data, v->m.data, v->m.len) == 0);
			CHECK(m.data[m.len] == 0);
		}
		CHECK(rap_decoder_idle(d));
		/* The other role never takes it. */
		rap_decoder_free(d);
		assert_int_equal(rap_decoder_new(v->decoder == RAP_ROLE_SERVER ? RAP_ROLE_CLIENT : RAP_ROLE_SERVER, &d), 0);
		rap_decoder_set_extension(d, true);
		CHECK_EQ(rap_decoder_decode(d, want, wn, &used, &m), RAP_EPROTO);
		rap_decoder_free(d);
	}
	/* Each side's extension set, and nothing else beyond the stock opcodes. */
	struct rap_decoder *srv, *cli;
	assert_int_equal(rap_decoder_new(RAP_ROLE_SERVER, &srv), 0);
	assert_int_equal(rap_decoder_new(RAP_ROLE_CLIENT, &cli), 0);
	rap_decoder_set_extension(srv, true);
	rap_decoder_set_extension(cli, true);
	for (unsigned op = 0; op < 256; op++) {
		uint8_t b = (uint8_t)op;
		struct rap_msg m;
		size_t used;
		bool srv_ok = (op >= 1 && op <= 7) || op == 0x87 || (op >= 0x10 && op <= 0x17);
		bool cli_ok = (op >= 0x81 && op <= 0x87) || op == 0x07 || (op >= 0x90 && op <= 0x98);
		assert_int_equal(rap_decoder_decode(srv, &b, 1, &used, &m), srv_ok ? 0 : RAP_EPROTO);
		assert_int_equal(rap_decoder_decode(cli, &b, 1, &used, &m), cli_ok ? 0 : RAP_EPROTO);
		rap_decoder_reset(srv);
		rap_decoder_reset(cli);
	}
	rap_decoder_free(srv);
	rap_decoder_free(cli);
}

/* Decodes hex with the extension on; returns what rap_decoder_decode returned last and
 * leaves the decoder's reason in why. */
static int ext_decode_hex(enum rap_role role, uint32_t max, const char *hex, struct rap_msg *m, char *why,
			  size_t whycap)
{
	uint8_t in[256];
	size_t n = from_hex(hex, in, sizeof(in)), used = 0;
	struct rap_decoder *d;
	assert_int_equal(rap_decoder_new(role, &d), 0);
	if (max)
		assert_int_equal(rap_decoder_set_max_payload(d, max), 0);
	rap_decoder_set_extension(d, true);
	int rc = rap_decoder_decode(d, in, n, &used, m);
	snprintf(why, whycap, "%s", rap_decoder_error(d));
	static uint8_t copy[256];
	if (rc == 1 && m->data) {
		/* The decoder's buffer goes with it. */
		assert_true(m->len < sizeof(copy));
		memcpy(copy, m->data, (size_t)m->len + 1);
		m->data = copy;
	}
	if (rc == RAP_EPROTO) {
		size_t again = 7;
		assert_int_equal(rap_decoder_decode(d, in + used, n - used, &again, m), RAP_EPROTO);
		assert_int_equal(again, 0);
	}
	rap_decoder_free(d);
	return rc;
}

static void test_ext_malformed(void **state)
{
	(void)state;
	struct bad {
		enum rap_role role;
		const char *hex;
		const char *why;
	} bads[] = {
		{ RAP_ROLE_SERVER, "11 0000000f 00000003 0000000000000000 000010", "0x11 with a 15-byte body (16 expected)" },
		{ RAP_ROLE_SERVER, "11 00000011", "0x11 with a 17-byte body (16 expected)" },
		{ RAP_ROLE_SERVER, "12 0000000b", "0x12 with a 11-byte body (12 at least)" },
		{ RAP_ROLE_SERVER, "10 00000000", "0x10 with a 0-byte body (1 at least)" },
		{ RAP_ROLE_SERVER, "13 00000005", "0x13 with a 5-byte body (4 expected)" },
		{ RAP_ROLE_SERVER, "14 00000000", "0x14 with a 0-byte body (4 expected)" },
		{ RAP_ROLE_SERVER, "16 0000001f", "0x16 with a 31-byte body (32 expected)" },
		{ RAP_ROLE_SERVER, "17 ffffffff", "0x17 with a 4294967295-byte body (32 expected)" },
		{ RAP_ROLE_CLIENT, "91 00000003", "0x91 with a 3-byte body (4 at least)" },
		{ RAP_ROLE_CLIENT, "90 00000005 00000000 00", "0x90 with a 5-byte body (8 expected)" },
		{ RAP_ROLE_CLIENT, "90 00000004 00000000", "0x90 with a 4-byte body (8 expected)" },
		{ RAP_ROLE_CLIENT, "90 00000008 00000001 00000003", "0x90 with a positive status (1)" },
		{ RAP_ROLE_CLIENT, "92 00000009 00000000 0000000100", "0x92 with a 9-byte body (8 expected)" },
		{ RAP_ROLE_CLIENT, "93 0000000d 00000000 0000000000000001 05", "0x93 with a 13-byte body (14 at least)" },
		{ RAP_ROLE_CLIENT, "94 00000005 00000000 00", "0x94 with a 5-byte body (4 expected)" },
		{ RAP_ROLE_CLIENT, "95 00000005 00000001 0a", "0x95 with a 5-byte body (4 expected)" },
		{ RAP_ROLE_CLIENT, "96 00000005 00000000 00", "0x96 with a 5-byte body (36 expected)" },
		{ RAP_ROLE_CLIENT, "98 00000005 ffffffff 00", "0x98 (output) with an error status (-1)" },
		{ RAP_ROLE_CLIENT, "98 00000005 00000002 00", "0x98 with a positive status (2)" },
		{ RAP_ROLE_CLIENT, "99 00000004 00000000", "unknown opcode 0x99" },
		{ RAP_ROLE_SERVER, "18 00000000", "unknown opcode 0x18" },
	};
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct rap_msg m;
		char why[128];
		snprintf(ctx, sizeof(ctx), "malformed %zu: %s", i, bads[i].hex);
		CHECK_EQ(ext_decode_hex(bads[i].role, 0, bads[i].hex, &m, why, sizeof(why)), RAP_EPROTO);
		if (strcmp(why, bads[i].why) != 0)
			print_error("%s: reason '%s', expected '%s'\n", ctx, why, bads[i].why);
		CHECK(strcmp(why, bads[i].why) == 0);
	}
	/* Errors carry any message; a 0x95 error may be empty. */
	struct rap_msg m;
	char why[128];
	assert_int_equal(ext_decode_hex(RAP_ROLE_CLIENT, 0, "95 00000004 fffffc0c", &m, why, sizeof(why)), 1);
	assert_int_equal(m.status, RAP_EDENIED);
	assert_int_equal(m.len, 0);
	assert_int_equal(ext_decode_hex(RAP_ROLE_CLIENT, 0, "93 00000007 fffffffe 6e6f21", &m, why, sizeof(why)), 1);
	assert_int_equal(m.status, -2);
	assert_memory_equal(m.data, "no!", 4);

	/* What the encoder refuses: shapes a decoder would refuse. */
	uint8_t out[64];
	struct rap_msg enc[] = {
		{ .op = 0x16, .len = 31, .data = nonce32 },
		{ .op = 0x16, .len = 32, .data = NULL },
		{ .op = 0x97, .status = 0, .len = 33, .data = nonce32 },
		{ .op = 0x90, .status = 1 },
		{ .op = 0x98, .status = -1, .len = 0 },
		{ .op = 0x98, .status = 1, .len = 0 },
		{ .op = 0x93, .status = 0, .len = 9, .data = nonce32 },
		{ .op = 0x12, .len = 4, .data = NULL },
		{ .op = 0x10, .len = 4, .data = NULL },
		{ .op = 0x15, .len = 4, .data = NULL },
		{ .op = 0x91, .status = 0, .len = 4, .data = NULL },
		{ .op = 0x95, .status = -5, .len = 4, .data = NULL },
		{ .op = 0x18 },
		{ .op = 0x19 },
		{ .op = 0x99, .status = 0 },
		{ .op = 0x0f },
		{ .op = 0x8f },
	};
	for (size_t i = 0; i < sizeof(enc) / sizeof(enc[0]); i++) {
		snprintf(ctx, sizeof(ctx), "encoder refusal %zu op 0x%02x", i, enc[i].op);
		CHECK_EQ(rap_msg_encoded_size(&enc[i]), 0);
		CHECK_EQ(rap_msg_encode(&enc[i], out, sizeof(out)), RAP_EINVAL);
	}
	/* A body length past 32 bits is refused, not wrapped. */
	struct rap_msg huge = { .op = 0x12, .len = UINT32_MAX, .data = nonce32 };
	assert_int_equal(rap_msg_encoded_size(&huge), 0);
}

/* The payload limit counts the variable part only; beyond it a message is dropped whole
 * and drained, and the stream stays in step. */
static void test_ext_limits(void **state)
{
	(void)state;
	struct rap_msg m;
	char why[128];
	/* PWRITE of 4 data bytes under a limit of 4: accepted; 5 dropped. */
	assert_int_equal(ext_decode_hex(RAP_ROLE_SERVER, 4, "12 00000010 00000003 0000000000000000 61626364", &m, why,
					sizeof(why)),
			 1);
	assert_false(m.dropped);
	assert_int_equal(m.len, 4);
	assert_memory_equal(m.data, "abcd", 5);
	/* PREAD, STAT, AUTH: fixed bodies, whatever the limit. */
	assert_int_equal(ext_decode_hex(RAP_ROLE_SERVER, 1, "11 00000010 00000003 0000000000000000 ffffffff", &m, why,
					sizeof(why)),
			 1);
	assert_false(m.dropped);
	assert_int_equal(m.len, UINT32_MAX);
	assert_null(m.data);

	uint8_t in[128];
	size_t n = from_hex("12 00000011 00000003 0000000000000000 6162636465 13 00000004 00000007", in, sizeof(in));
	struct rap_decoder *d;
	size_t used;
	assert_int_equal(rap_decoder_new(RAP_ROLE_SERVER, &d), 0);
	assert_int_equal(rap_decoder_set_max_payload(d, 4), 0);
	rap_decoder_set_extension(d, true);
	assert_int_equal(rap_decoder_decode(d, in, n, &used, &m), 1);
	assert_true(m.dropped);
	assert_int_equal(m.op, 0x12);
	assert_int_equal(m.len, 17); /* the declared body */
	assert_null(m.data);
	assert_int_equal(used, 5);
	assert_int_equal(rap_decoder_decode(d, in + used, n - used, &used, &m), 1);
	assert_int_equal(m.op, 0x13);
	assert_int_equal(m.value, 7);
	assert_true(rap_decoder_idle(d));
	rap_decoder_free(d);

	/* A client: a reply's data over the limit is dropped. */
	n = from_hex("98 00000009 00000000 6162636465 95 00000004 00000000", in, sizeof(in));
	assert_int_equal(rap_decoder_new(RAP_ROLE_CLIENT, &d), 0);
	assert_int_equal(rap_decoder_set_max_payload(d, 4), 0);
	rap_decoder_set_extension(d, true);
	assert_int_equal(rap_decoder_decode(d, in, n, &used, &m), 1);
	assert_true(m.dropped);
	assert_int_equal(m.len, 9);
	assert_int_equal(m.status, 0);
	assert_int_equal(rap_decoder_decode(d, in + used, n - used, &used, &m), 1);
	assert_int_equal(m.op, 0x95);
	assert_int_equal(m.status, 0);
	rap_decoder_free(d);
}

/* A stream of every extension message, in any split, decodes the same and re-encodes to
 * the same bytes. */
static void test_ext_splits(void **state)
{
	(void)state;
	static const char *const streams[2] = {
		"10 00000008 05 2f62696e2f6c73 11 00000010 00000003 0000000000001000 00001000 "
		"04 ff 524150580002001f 12 00000010 00000003 0000000000000010 61626364 13 00000004 00000003 "
		"14 00000004 00000003 15 00000002 3f56 02 00000010 "
		"16 00000020 3031323334353637383961626364656630313233343536373839414243444546 "
		"17 00000020 3031323334353637383961626364656630313233343536373839414243444546",
		"90 00000008 00000000 00000003 91 00000006 00000000 6162 84 7261707800020018 "
		"92 00000008 00000000 00000004 93 00000010 00000000 0000000000001000 05 01 2f78 "
		"94 00000004 00000000 98 00000007 00000000 68690a 98 00000004 00000000 95 00000004 00000001 "
		"82 00000002 6162 96 00000024 00000000 3031323334353637383961626364656630313233343536373839414243444546 "
		"97 0000000a fffffc07 6661696c6564",
	};
	static const unsigned counts[2] = { 10, 12 };
	stream_ext = true;
	for (int dir = 0; dir < 2; dir++) {
		uint8_t in[512];
		size_t n = from_hex(streams[dir], in, sizeof(in));
		enum rap_role role = dir == 0 ? RAP_ROLE_SERVER : RAP_ROLE_CLIENT;
		struct run whole, other;
		struct splitter sp = { 0, 0 };
		snprintf(ctx, sizeof(ctx), "extension stream %d whole", dir);
		decode_stream(role, 0, in, n, &sp, &whole);
		CHECK_EQ(whole.end, END_COMPLETE);
		CHECK_EQ(whole.n, counts[dir]);
		CHECK_EQ(check_round_trip(&whole, in, n), n);
		for (size_t max = 1; max <= 9; max += 4) {
			for (uint64_t seed = 1; seed <= 4; seed++) {
				snprintf(ctx, sizeof(ctx), "extension stream %d max %zu seed %llu", dir, max,
					 (unsigned long long)seed);
				sp.max = max;
				sp.rng = 0x9e3779b97f4a7c15ull * seed + max;
				decode_stream(role, 0, in, n, &sp, &other);
				check_same_run(&whole, &other);
				run_free(&other);
			}
		}
		run_free(&whole);
	}
	stream_ext = false;
}

static void test_stat_body(void **state)
{
	(void)state;
	struct rap_stat st = { .size = 0x0102030405060708ull, .perm = 6, .kind = RAP_KIND_BUFFER };
	snprintf(st.name, sizeof(st.name), "malloc://4096");
	uint8_t out[RAP_STAT_NAME_MAX + 16];
	ssize_t n = rap_stat_format(&st, out, sizeof(out));
	assert_int_equal(n, 10 + 13);
	assert_memory_equal(out, "\x01\x02\x03\x04\x05\x06\x07\x08\x06\x03malloc://4096", 23);
	assert_int_equal(rap_stat_format(&st, out, 22), RAP_ENOSPC);
	assert_int_equal(rap_stat_format(NULL, out, 22), RAP_EINVAL);
	struct rap_stat back;
	memset(&back, 0x55, sizeof(back));
	assert_int_equal(rap_stat_parse(out, (size_t)n, &back), 0);
	assert_true(back.size == st.size);
	assert_int_equal(back.perm, 6);
	assert_int_equal(back.kind, RAP_KIND_BUFFER);
	assert_string_equal(back.name, "malloc://4096");
	/* An empty name; no name at all is too short; a NUL in the name; too long. */
	assert_int_equal(rap_stat_parse(out, 10, &back), 0);
	assert_string_equal(back.name, "");
	assert_int_equal(rap_stat_parse(out, 9, &back), RAP_EPROTO);
	out[12] = 0;
	assert_int_equal(rap_stat_parse(out, (size_t)n, &back), RAP_EPROTO);
	memset(out + 10, 'a', RAP_STAT_NAME_MAX + 1);
	assert_int_equal(rap_stat_parse(out, 10 + RAP_STAT_NAME_MAX, &back), 0);
	assert_int_equal(strlen(back.name), RAP_STAT_NAME_MAX);
	assert_int_equal(rap_stat_parse(out, 11 + RAP_STAT_NAME_MAX, &back), RAP_EPROTO);
	assert_int_equal(rap_stat_parse(NULL, 10, &back), RAP_EINVAL);
	assert_int_equal(rap_stat_parse(out, 10, NULL), RAP_EINVAL);
}

/* errno values travel in one numbering whatever the architecture. */
static void test_wire_status(void **state)
{
	(void)state;
	assert_int_equal(rap__status_to_wire(0), 0);
	assert_int_equal(rap__status_to_wire(1), 1);
	assert_int_equal(rap__status_to_wire(-ENOENT), -2);
	assert_int_equal(rap__status_to_wire(-EACCES), -13);
	assert_int_equal(rap__status_to_wire(-ENAMETOOLONG), -36);
	assert_int_equal(rap__status_to_wire(-ELOOP), -40);
	assert_int_equal(rap__status_to_wire(-EOPNOTSUPP), -95);
	assert_int_equal(rap__status_to_wire(RAP_EDENIED), RAP_EDENIED);
	assert_int_equal(rap__status_to_wire(RAP_EAUTH), -1017);
	assert_int_equal(rap__status_to_wire(-ENOLCK), RAP_EREMOTE); /* not in the table */
	assert_int_equal(rap__status_to_wire(-99999), RAP_EREMOTE);
	assert_int_equal(rap__status_to_wire(INT_MIN), RAP_EREMOTE); /* no negation overflows */
	assert_int_equal(rap__status_from_wire(0), 0);
	assert_int_equal(rap__status_from_wire(1), 1);
	assert_int_equal(rap__status_from_wire(-2), -ENOENT);
	assert_int_equal(rap__status_from_wire(-36), -ENAMETOOLONG);
	assert_int_equal(rap__status_from_wire(-122), -EDQUOT);
	assert_int_equal(rap__status_from_wire(RAP_EBADFD), RAP_EBADFD);
	assert_int_equal(rap__status_from_wire(-37), RAP_EREMOTE);
	assert_int_equal(rap__status_from_wire(-1018), RAP_EREMOTE);
	assert_int_equal(rap__status_from_wire(INT32_MIN), RAP_EREMOTE);
	for (int e = 1; e < 134; e++)
		if (rap__status_to_wire(-e) != RAP_EREMOTE)
			assert_int_equal(rap__status_from_wire(rap__status_to_wire(-e)), -e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transcripts),
		cmocka_unit_test(test_transcript_desync_detail),
		cmocka_unit_test(test_transcript_cmd4096_limited),
		cmocka_unit_test(test_oversized_dropped_and_drained),
		cmocka_unit_test(test_client_limit),
		cmocka_unit_test(test_open_empty_path),
		cmocka_unit_test(test_open_path_limits),
		cmocka_unit_test(test_encode_decode_all),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_role_mismatch),
		cmocka_unit_test(test_reset_and_idle),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_alloc_failure),
		cmocka_unit_test(test_large_payloads),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_ext_encode_decode),
		cmocka_unit_test(test_ext_malformed),
		cmocka_unit_test(test_ext_limits),
		cmocka_unit_test(test_ext_splits),
		cmocka_unit_test(test_stat_body),
		cmocka_unit_test(test_wire_status),
	};
	return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
