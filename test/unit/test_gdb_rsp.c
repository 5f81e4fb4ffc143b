/* The GDB RSP framing: decoder events under every split of the input, checksums, escapes,
 * run-length encoding both ways, bad frames, the size limit, allocation failures. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rap/gdb_rsp.h>
#include <rap/rap.h>

#include "common.h"

#define MAX_EVENTS 64

struct ev {
	enum rap_gdb_event_kind kind;
	enum rap_gdb_bad bad;
	size_t skipped;
	uint8_t data[512];
	size_t len;
};

/* Decodes in[0..len) in chunks of `chunk` bytes (0: one piece); returns the events. */
static size_t decode_all(size_t max, const uint8_t *in, size_t len, size_t chunk, struct ev *out)
{
	struct rap_gdb_decoder *d;
	assert_int_equal(rap_gdb_decoder_new(max, &d), 0);
	size_t n = 0, pos = 0;
	/* Bounded: every round consumes a byte or ends a chunk. */
	while (pos < len) {
		size_t take = chunk && len - pos > chunk ? chunk : len - pos;
		size_t off = 0;
		while (off < take) {
			size_t used;
			struct rap_gdb_event e;
			int rc = rap_gdb_decode(d, in + pos + off, take - off, &used, &e);
			assert_true(rc >= 0);
			assert_true(rc == 1 || used == take - off);
			off += used;
			if (rc == 1) {
				assert_true(n < MAX_EVENTS);
				out[n].kind = e.kind;
				out[n].bad = e.bad;
				out[n].skipped = e.skipped;
				out[n].len = e.len;
				if (e.kind == RAP_GDB_EV_PACKET) {
					assert_non_null(e.data);
					assert_true(e.len < sizeof(out[n].data));
					assert_int_equal(e.data[e.len], 0);
					memcpy(out[n].data, e.data, e.len);
				} else {
					assert_null(e.data);
				}
				n++;
			}
		}
		pos += take;
	}
	rap_gdb_decoder_free(d);
	return n;
}

/* The same events whatever the split. */
static size_t decode_checked(size_t max, const char *s, size_t len, struct ev *out)
{
	size_t n = decode_all(max, (const uint8_t *)s, len, 0, out);
	for (size_t chunk = 1; chunk <= 7; chunk++) {
		struct ev other[MAX_EVENTS];
		size_t m = decode_all(max, (const uint8_t *)s, len, chunk, other);
		assert_int_equal(m, n);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(other[i].kind, out[i].kind);
			assert_int_equal(other[i].bad, out[i].bad);
			assert_int_equal(other[i].len, out[i].len);
			assert_memory_equal(other[i].data, out[i].data, out[i].len);
		}
	}
	return n;
}

#define DECODE(max, lit, out) decode_checked(max, lit, sizeof(lit) - 1, out)

static void test_checksum(void **state)
{
	(void)state;
	assert_int_equal(rap_gdb_checksum((const uint8_t *)"", 0), 0);
	/* "OK": 0x4f + 0x4b = 0x9a */
	assert_int_equal(rap_gdb_checksum((const uint8_t *)"OK", 2), 0x9a);
	uint8_t ff[4] = { 0xff, 0xff, 0xff, 0xff };
	assert_int_equal(rap_gdb_checksum(ff, 4), 0xfc);
}

static void test_packets_and_acks(void **state)
{
	(void)state;
	struct ev e[MAX_EVENTS];
	size_t n = DECODE(64, "+$qSupported:multiprocess+#c6-\x03$g#67$#00", e);
	assert_int_equal(n, 6);
	assert_int_equal(e[0].kind, RAP_GDB_EV_ACK);
	assert_int_equal(e[1].kind, RAP_GDB_EV_PACKET);
	assert_int_equal(e[1].len, 24);
	assert_memory_equal(e[1].data, "qSupported:multiprocess+", 24);
	assert_int_equal(e[2].kind, RAP_GDB_EV_NAK);
	assert_int_equal(e[3].kind, RAP_GDB_EV_INTERRUPT);
	assert_int_equal(e[4].kind, RAP_GDB_EV_PACKET);
	assert_int_equal(e[4].len, 1);
	assert_int_equal(e[4].data[0], 'g');
	assert_int_equal(e[5].kind, RAP_GDB_EV_PACKET); /* the empty packet */
	assert_int_equal(e[5].len, 0);
}

static void test_uppercase_checksum_and_noise(void **state)
{
	(void)state;
	struct ev e[MAX_EVENTS];
	/* "OK" sums to 9a: upper case digits are read too; noise between frames skipped */
	size_t n = DECODE(64, "xy\n$OK#9Azz$OK#9a", e);
	assert_int_equal(n, 2);
	assert_int_equal(e[0].kind, RAP_GDB_EV_PACKET);
	assert_int_equal(e[0].skipped, 3);
	assert_int_equal(e[1].skipped, 2);
}

static void test_bad_checksum(void **state)
{
	(void)state;
	struct ev e[MAX_EVENTS];
	size_t n = DECODE(64, "$g#68$g#67", e);
	assert_int_equal(n, 2);
	assert_int_equal(e[0].kind, RAP_GDB_EV_BAD);
	assert_int_equal(e[0].bad, RAP_GDB_BAD_CHECKSUM);
	assert_int_equal(e[1].kind, RAP_GDB_EV_PACKET); /* the stream goes on */
	n = DECODE(64, "$g#6x$g#g7", e);
	assert_int_equal(n, 2);
	assert_int_equal(e[0].bad, RAP_GDB_BAD_FORMAT);
	assert_int_equal(e[1].bad, RAP_GDB_BAD_FORMAT);
}

static void test_escapes(void **state)
{
	(void)state;
	/* X packet data 23 24 7d 2a escaped: }\x03 }\x04 }] }\x0a */
	const char raw[] = "X0,4:}\x03}\x04}]}\x0a";
	uint8_t frame[64];
	frame[0] = '$';
	size_t rl = sizeof(raw) - 1;
	memcpy(frame + 1, raw, rl);
	uint8_t sum = rap_gdb_checksum((const uint8_t *)raw, rl);
	snprintf((char *)frame + 1 + rl, 4, "#%02x", sum);
	struct ev e[MAX_EVENTS];
	size_t n = decode_checked(64, (const char *)frame, 1 + rl + 3, e);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].kind, RAP_GDB_EV_PACKET);
	assert_int_equal(e[0].len, 9);
	assert_memory_equal(e[0].data, "X0,4:#$}*", 9);
	/* '}' right before '#' is malformed, and so is an escape cut by '$' */
	n = DECODE(64, "$a}#de$a}$g#67", e);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].bad, RAP_GDB_BAD_FORMAT);
	assert_int_equal(e[1].bad, RAP_GDB_BAD_FORMAT); /* the frame cut by '$' */
	assert_int_equal(e[2].kind, RAP_GDB_EV_PACKET);
}

static void test_rle_decode(void **state)
{
	(void)state;
	struct ev e[MAX_EVENTS];
	/* "0* " is '0' and 3 more: "0000"; sum of '0','*',' ' = 0x30+0x2a+0x20 = 0x7a */
	size_t n = DECODE(64, "$0* #7a", e);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].kind, RAP_GDB_EV_PACKET);
	assert_int_equal(e[0].len, 4);
	assert_memory_equal(e[0].data, "0000", 4);
	/* '*' first, a count below 3 repeats, a count above 126 */
	n = DECODE(64, "$* #4a$0*\x1f#79$0*\x7f#d9", e);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(e[i].kind, RAP_GDB_EV_BAD);
		assert_int_equal(e[i].bad, RAP_GDB_BAD_FORMAT);
	}
}

static void test_too_big(void **state)
{
	(void)state;
	struct ev e[MAX_EVENTS];
	/* limit 4: "abcd" fits, "abcde" does not; "0*}" expands to 97 bytes */
	size_t n = DECODE(4, "$abcd#8a$abcde#ef$0*~#d8$ok#da", e);
	assert_int_equal(n, 4);
	assert_int_equal(e[0].kind, RAP_GDB_EV_PACKET);
	assert_int_equal(e[1].bad, RAP_GDB_BAD_TOO_BIG);
	assert_int_equal(e[2].bad, RAP_GDB_BAD_TOO_BIG);
	assert_int_equal(e[3].kind, RAP_GDB_EV_PACKET);
	/* an oversized packet's checksum still counts */
	n = DECODE(4, "$abcde#00", e);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].bad, RAP_GDB_BAD_CHECKSUM);
}

static void test_endless_frame_bounded(void **state)
{
	(void)state;
	struct rap_gdb_decoder *d;
	assert_int_equal(rap_gdb_decoder_new(16, &d), 0);
	uint8_t junk[4096];
	memset(junk, 'a', sizeof(junk));
	size_t used;
	struct rap_gdb_event e;
	assert_int_equal(rap_gdb_decode(d, (const uint8_t *)"$", 1, &used, &e), 0);
	for (int i = 0; i < 256; i++) {
		assert_int_equal(rap_gdb_decode(d, junk, sizeof(junk), &used, &e), 0);
		assert_int_equal(used, sizeof(junk));
	}
	rap_gdb_decoder_reset(d);
	assert_int_equal(rap_gdb_decode(d, (const uint8_t *)"$OK#9a", 6, &used, &e), 1);
	assert_int_equal(e.kind, RAP_GDB_EV_PACKET);
	rap_gdb_decoder_free(d);
}

/* Encodes, then decodes: the payload comes back whatever it holds. */
static void roundtrip(const uint8_t *p, size_t len, bool rle)
{
	size_t cap = rap_gdb_encoded_max(len);
	uint8_t *frame = malloc(cap);
	assert_non_null(frame);
	ssize_t n = rap_gdb_encode(p, len, rle, frame, cap);
	assert_true(n > 0);
	for (ssize_t i = 1; i < n - 3; i++) /* no bare '$' or '#' inside */
		assert_true(frame[i] != '$' && frame[i] != '#');
	struct rap_gdb_decoder *d;
	assert_int_equal(rap_gdb_decoder_new(len ? len : 1, &d), 0);
	size_t used;
	struct rap_gdb_event e;
	assert_int_equal(rap_gdb_decode(d, frame, (size_t)n, &used, &e), 1);
	assert_int_equal(used, (size_t)n);
	assert_int_equal(e.kind, RAP_GDB_EV_PACKET);
	assert_int_equal(e.len, len);
	if (len)
		assert_memory_equal(e.data, p, len);
	rap_gdb_decoder_free(d);
	free(frame);
}

static void test_encode(void **state)
{
	(void)state;
	uint8_t out[64];
	assert_int_equal(rap_gdb_encode((const uint8_t *)"OK", 2, false, out, sizeof(out)), 6);
	assert_memory_equal(out, "$OK#9a", 6);
	assert_int_equal(rap_gdb_encode(NULL, 0, true, out, sizeof(out)), 4);
	assert_memory_equal(out, "$#00", 4);
	assert_int_equal(rap_gdb_encode((const uint8_t *)"a#b", 3, false, out, sizeof(out)), 8);
	assert_memory_equal(out, "$a}\x03" "b#", 6);
	/* runs: 4 equal bytes become "0* "; 7 repeats (count '$') become 5 + 2 literal */
	assert_int_equal(rap_gdb_encode((const uint8_t *)"0000", 4, true, out, sizeof(out)), 7);
	assert_memory_equal(out, "$0* #7a", 7);
	ssize_t n = rap_gdb_encode((const uint8_t *)"00000000", 8, true, out, sizeof(out));
	assert_true(n > 0);
	assert_memory_equal(out, "$0*\"00#", 7);
	n = rap_gdb_encode((const uint8_t *)"0000000", 7, true, out, sizeof(out));
	assert_memory_equal(out, "$0*\"0#", 6);
	/* escaped bytes are never run-length encoded */
	n = rap_gdb_encode((const uint8_t *)"****", 4, true, out, sizeof(out));
	assert_int_equal(n, 12);
	assert_memory_equal(out, "$}\n}\n}\n}\n#", 10);
	/* no room */
	assert_int_equal(rap_gdb_encode((const uint8_t *)"OK", 2, false, out, 5), RAP_ENOSPC);
	assert_int_equal(rap_gdb_encode((const uint8_t *)"OK", 2, false, out, 0), RAP_ENOSPC);
	assert_int_equal(rap_gdb_encode(NULL, 2, false, out, sizeof(out)), RAP_EINVAL);
	assert_int_equal(rap_gdb_encode((const uint8_t *)"OK", 2, false, NULL, 8), RAP_EINVAL);
	assert_int_equal(rap_gdb_encoded_max(SIZE_MAX), 0);
	assert_int_equal(rap_gdb_encoded_max(10), 24);
}

static void test_roundtrips(void **state)
{
	(void)state;
	uint8_t all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	roundtrip(all, sizeof(all), false);
	roundtrip(all, sizeof(all), true);
	uint8_t runs[400];
	srand(7);
	for (int round = 0; round < 200; round++) {
		size_t len = (size_t)(rand() % (int)sizeof(runs));
		for (size_t i = 0; i < len;) {
			uint8_t b = "0a$#}*f\x03"[rand() % 8];
			size_t r = (size_t)(rand() % 120);
			for (size_t k = 0; k < r && i < len; k++)
				runs[i++] = b;
		}
		roundtrip(runs, len, round % 2);
	}
}

static void test_hex(void **state)
{
	(void)state;
	char hex[8];
	rap_gdb_hex_encode((const uint8_t *)"\x00\xab\xff\x10", 4, hex);
	assert_memory_equal(hex, "00abff10", 8);
	uint8_t out[4];
	assert_int_equal(rap_gdb_hex_decode("00ABff10", 4, out), 0);
	assert_memory_equal(out, "\x00\xab\xff\x10", 4);
	assert_int_equal(rap_gdb_hex_decode("0g", 1, out), RAP_EPROTO);
	assert_int_equal(rap_gdb_hex_decode(" 1", 1, out), RAP_EPROTO);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct rap_gdb_decoder *d = (void *)1;
	assert_int_equal(rap_gdb_decoder_new(0, &d), RAP_EINVAL);
	assert_null(d);
	assert_int_equal(rap_gdb_decoder_new(RAP_GDB_PACKET_LIMIT + 1, &d), RAP_EINVAL);
	assert_int_equal(rap_gdb_decoder_new(16, NULL), RAP_EINVAL);
	assert_int_equal(rap_gdb_decoder_new(16, &d), 0);
	size_t used = 99;
	struct rap_gdb_event e;
	assert_int_equal(rap_gdb_decode(NULL, (const uint8_t *)"+", 1, &used, &e), RAP_EINVAL);
	assert_int_equal(used, 0);
	assert_int_equal(rap_gdb_decode(d, NULL, 1, &used, &e), RAP_EINVAL);
	assert_int_equal(rap_gdb_decode(d, (const uint8_t *)"+", 1, NULL, &e), RAP_EINVAL);
	assert_int_equal(rap_gdb_decode(d, (const uint8_t *)"+", 1, &used, NULL), RAP_EINVAL);
	assert_int_equal(rap_gdb_decode(d, NULL, 0, &used, &e), 0);
	rap_gdb_decoder_free(d);
	rap_gdb_decoder_free(NULL);
	rap_gdb_decoder_reset(NULL);
}

static void test_alloc_failure(void **state)
{
	(void)state;
	struct rap_gdb_decoder *d = NULL;
	for (long n = 0; n < 2; n++) {
		rap__alloc_fail_nth(n);
		assert_int_equal(rap_gdb_decoder_new(16, &d), RAP_ENOMEM);
		assert_null(d);
	}
	rap__alloc_fail_nth(-1);
	/* growing past the first buffer fails: the packet is refused as too big, the next
	 * one decodes */
	assert_int_equal(rap_gdb_decoder_new(8192, &d), 0);
	static uint8_t frame[8200];
	memset(frame, 'a', sizeof(frame));
	frame[0] = '$';
	size_t plen = 5000;
	uint8_t sum = rap_gdb_checksum(frame + 1, plen);
	snprintf((char *)frame + 1 + plen, 4, "#%02x", sum);
	rap__alloc_fail_nth(0);
	size_t used;
	struct rap_gdb_event e;
	assert_int_equal(rap_gdb_decode(d, frame, plen + 4, &used, &e), 1);
	rap__alloc_fail_nth(-1);
	assert_int_equal(e.kind, RAP_GDB_EV_BAD);
	assert_int_equal(e.bad, RAP_GDB_BAD_TOO_BIG);
	assert_int_equal(rap_gdb_decode(d, frame, plen + 4, &used, &e), 1);
	assert_int_equal(e.kind, RAP_GDB_EV_PACKET);
	assert_int_equal(e.len, plen);
	rap_gdb_decoder_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_packets_and_acks),
		cmocka_unit_test(test_uppercase_checksum_and_noise),
		cmocka_unit_test(test_bad_checksum),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_rle_decode),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_endless_frame_bounded),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_roundtrips),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_alloc_failure),
	};
	return cmocka_run_group_tests_name("gdb_rsp", tests, NULL, NULL);
}
