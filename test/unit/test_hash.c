/* Hashes: every algorithm on known vectors (the empty range included), streaming in pieces
 * equals hashing at once, entropy's value, "ph" and its listing per build, bytes past the
 * end of the file, a range beyond 4 GiB streamed through one chunk of memory, read errors
 * and interruption, and the refusals of a build without OpenSSL or zlib. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if RAP_TEST_HAVE_ZLIB
#include <zlib.h>
#endif

#include <rap/core.h>

#include "common.h"
#include "core_private.h"

/* ---- a test IO plugin: data of any size made up from the offset -------------------------- */

#define PERIOD 1048579u /* 1 MiB + 3: the pattern's period, not aligned with any chunk */

static struct {
	uint64_t size;
	uint64_t fail_at;
	uint64_t interrupt_at;
	struct rap_core *interrupt_core;
	size_t largest;
} gen;

static uint8_t gen_byte(uint64_t off)
{
	uint64_t i = off % PERIOD;
	return (uint8_t)(i * 2654435761u >> 13);
}

/* One period of gen's data, made once: reads copy from it. */
static uint8_t *gen_period;

static void gen_init(void)
{
	if (gen_period)
		return;
	gen_period = malloc(PERIOD);
	assert_non_null(gen_period);
	for (uint64_t i = 0; i < PERIOD; i++)
		gen_period[i] = gen_byte(i);
}

static bool gen_accepts(const char *uri)
{
	return strncmp(uri, "gen://", 6) == 0;
}

static int gen_open(struct rap_io_desc *d, const char *uri, int perm)
{
	return 0;
}

static int gen_close(struct rap_io_desc *d)
{
	return 0;
}

static ssize_t gen_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	if (len > gen.largest)
		gen.largest = len;
	if (off >= gen.fail_at)
		return -EIO;
	if (off >= gen.interrupt_at)
		rap_core_interrupt(gen.interrupt_core);
	if (off >= gen.size)
		return 0;
	if (len > gen.size - off)
		len = (size_t)(gen.size - off);
	uint8_t *b = buf;
	for (size_t k = 0; k < len;) {
		size_t i = (size_t)((off + k) % PERIOD), n = PERIOD - i < len - k ? PERIOD - i : len - k;
		memcpy(b + k, gen_period + i, n);
		k += n;
	}
	return (ssize_t)len;
}

static int gen_size(struct rap_io_desc *d, uint64_t *size)
{
	*size = gen.size;
	return 0;
}

static const struct rap_io_plugin gen_plugin = {
	.abi = RAP_IO_PLUGIN_ABI,
	.name = "gen",
	.desc = "Test plugin: data of any size made up from the offset",
	.uris = "gen://",
	.accepts = gen_accepts,
	.open = gen_open,
	.close = gen_close,
	.read = gen_read,
	.size = gen_size,
};

/* ---- helpers ------------------------------------------------------------------------------ */

static int setup(void **state)
{
	gen_init();
	memset(&gen, 0, sizeof(gen));
	gen.size = 1 << 20;
	gen.fail_at = gen.interrupt_at = UINT64_MAX;
	struct rap_core *c;
	if (rap_core_new(&c) < 0 || rap_io_register(rap_core_io(c), &gen_plugin) < 0)
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	rap_core_free(*state);
	return 0;
}

struct result {
	int rc;
	char *out;
	char *err;
};

static struct result run(struct rap_core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static struct result run(struct rap_core *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	struct result r;
	r.rc = rap_core_cmd_str(c, line, &r.out, &r.err);
	return r;
}

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

static void expect_out(struct rap_core *c, const char *line, const char *want)
{
	struct result r = run(c, "%s", line);
	if (r.rc != 0 || strcmp(r.out, want) != 0 || r.err[0])
		fail_msg("'%s': rc %d\n--- out\n%s--- want\n%s--- err\n%s", line, r.rc, r.out, want, r.err);
	result_free(&r);
}

static void expect_err(struct rap_core *c, const char *line, int rc, const char *needle)
{
	struct result r = run(c, "%s", line);
	if (r.rc != rc || !strstr(r.err, needle) || r.out[0])
		fail_msg("'%s': rc %d (want %d)\n--- out\n%s--- err\n%s--- want '%s'", line, r.rc, rc, r.out, r.err,
			 needle);
	result_free(&r);
}

/* The digest of len bytes as "ph" prints it, "" when the build lacks the algorithm. */
static void digest_of(const char *algo, const void *data, size_t len, char *text, size_t cap)
{
	struct rap__hash *h;
	const char *why;
	int rc = rap__hash_new(algo, &h, &why);
	if (rc == RAP_ENOTSUP) {
		text[0] = '\0';
		return;
	}
	assert_int_equal(rc, 0);
	rap__hash_update(h, data, len);
	struct rap__digest d;
	rap__hash_finish(h, &d);
	if (d.text[0]) {
		snprintf(text, cap, "%s", d.text);
		return;
	}
	assert_true(cap > d.len * 2);
	for (size_t i = 0; i < d.len; i++)
		sprintf(text + 2 * i, "%02x", d.bytes[i]);
}

static bool have(const char *algo)
{
	if (!strcmp(algo, "crc32"))
		return RAP_TEST_HAVE_ZLIB;
	if (!strcmp(algo, "entropy"))
		return true;
	return RAP_TEST_HAVE_OPENSSL;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_known_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *algo, *empty, *abc;
	} v[] = {
		{ "md5", "d41d8cd98f00b204e9800998ecf8427e", "900150983cd24fb0d6963f7d28e17f72" },
		{ "sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "sha512",
		  "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
		  "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" },
		{ "crc32", "00000000", "352441c2" },
		{ "entropy", "0.00000000", "1.58496250" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char text[160];
		digest_of(v[i].algo, "", 0, text, sizeof(text));
		if (!have(v[i].algo)) {
			assert_string_equal(text, "");
			continue;
		}
		assert_string_equal(text, v[i].empty);
		digest_of(v[i].algo, "abc", 3, text, sizeof(text));
		assert_string_equal(text, v[i].abc);
	}
}

static void test_entropy_values(void **state)
{
	(void)state;
	uint8_t all[256 * 4], same[1000];
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	memset(same, 0x41, sizeof(same));
	char text[64];
	digest_of("entropy", all, sizeof(all), text, sizeof(text));
	assert_string_equal(text, "8.00000000");
	digest_of("entropy", same, sizeof(same), text, sizeof(text));
	assert_string_equal(text, "0.00000000");
	digest_of("entropy", "aabb", 4, text, sizeof(text));
	assert_string_equal(text, "1.00000000");
}

static void test_streaming_equals_whole(void **state)
{
	(void)state;
	static uint8_t data[100000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = gen_byte(i * 7);
	static const char *const algos[] = { "md5", "sha1", "sha256", "sha512", "crc32", "entropy" };
	for (size_t a = 0; a < sizeof(algos) / sizeof(algos[0]); a++) {
		if (!have(algos[a]))
			continue;
		char whole[160], pieces[160];
		digest_of(algos[a], data, sizeof(data), whole, sizeof(whole));
		struct rap__hash *h;
		const char *why;
		assert_int_equal(rap__hash_new(algos[a], &h, &why), 0);
		size_t step = 1;
		for (size_t off = 0; off < sizeof(data);) {
			size_t n = sizeof(data) - off < step ? sizeof(data) - off : step;
			rap__hash_update(h, data + off, n);
			off += n;
			step = step * 3 + 1;
		}
		struct rap__digest d;
		rap__hash_finish(h, &d);
		if (d.text[0]) {
			strcpy(pieces, d.text);
		} else {
			for (size_t i = 0; i < d.len; i++)
				sprintf(pieces + 2 * i, "%02x", d.bytes[i]);
		}
		assert_string_equal(pieces, whole);
	}
	/* freeing a hash without a result */
	struct rap__hash *h;
	const char *why;
	assert_int_equal(rap__hash_new("entropy", &h, &why), 0);
	rap__hash_free(h);
	rap__hash_free(NULL);
	assert_int_equal(rap__hash_new("md4", &h, &why), RAP_EINVAL);
	assert_null(h);
}

static void test_ph_command(void **state)
{
	struct rap_core *c = *state;
	expect_err(c, "ph entropy", RAP_EBADFD, "no file is open");
	expect_err(c, "ph nosuch 16", RAP_EINVAL, "unknown hash algorithm 'nosuch' (see 'ph')");
	assert_true(rap_core_open(c, "malloc://0x20", RAP_PERM_RW) >= 0);
	expect_out(c, "wx 616263", "");
	expect_out(c, "ph entropy 3", "1.58496250\n");
	if (have("md5")) {
		expect_out(c, "ph md5 3", "900150983cd24fb0d6963f7d28e17f72\n");
		expect_out(c, "ph md5 0", "d41d8cd98f00b204e9800998ecf8427e\n");
		expect_out(c, "ph md5 1+2", "900150983cd24fb0d6963f7d28e17f72\n");
		expect_out(c, "ph   md5   3  ", "900150983cd24fb0d6963f7d28e17f72\n");
		/* the default length is the block size */
		expect_out(c, "b 3; ph md5; b 0x100", "900150983cd24fb0d6963f7d28e17f72\n");
		/* at another position, and past the end of the file where bytes read as 0xff */
		expect_out(c, "ph md5 3 @ 0x20", "8597d4e7e65352a302b63e07bc01a7da\n"); /* ff ff ff */
		expect_out(c, "wx 61 @ 0x1f; ph md5 2 @ 0x1f", "cc7bb99ae517c38d9547266ff7157071\n"); /* 61 ff */
		expect_err(c, "ph md5 0x1zz", RAP_EINVAL, "invalid length '0x1zz'");
	} else {
		expect_err(c, "ph md5 3", RAP_ENOTSUP, "md5 is not in this build (it needs OpenSSL; see 'ph')");
		expect_err(c, "ph sha256", RAP_ENOTSUP, "sha256 is not in this build (it needs OpenSSL");
	}
	/* At most 64 MiB of a range past the end of the file, and no range that wraps: the
	 * fuzzer's "ph entropy 0x614243828486" on a small file would hash 100 TB of fill. */
	expect_out(c, "ph entropy 0x4000000 @ 0x20", "0.00000000\n");
	expect_err(c, "ph entropy 0x4000001 @ 0x20", RAP_EINVAL,
	           "error: 0x4000001 bytes of the range lie past the end of the file (its size is 0x20); at most "
	           "0x4000000 may");
	expect_out(c, "ph entropy 0x4000000 @ 0x21", "0.00000000\n");
	expect_err(c, "ph entropy 0x4000001 @ 0x21", RAP_EINVAL, "error: 0x4000001 bytes of the range lie past the end");
	struct result inside = run(c, "ph entropy 0x4000010 @ 0x10"); /* 16 bytes inside, 64 MiB past */
	assert_int_equal(inside.rc, 0);
	result_free(&inside);
	expect_err(c, "ph entropy 0x614243828486", RAP_EINVAL, "(its size is 0x20)");
	expect_err(c, "ph entropy 2 @ 0xffffffffffffffff", RAP_EINVAL,
	           "error: the range 0xffffffffffffffff + 0x2 runs past the end of the address space");
	expect_out(c, "ph entropy 1 @ 0xffffffffffffffff", "0.00000000\n");
	expect_out(c, "ph entropy 0 @ 0xffffffffffffffff", "0.00000000\n");
	if (have("crc32"))
		expect_out(c, "ph crc32 3", "352441c2\n");
	else
		expect_err(c, "ph crc32 3", RAP_ENOTSUP, "crc32 is not in this build (it needs zlib; see 'ph')");
	/* The listing: what this build has, sorted. */
	char want[128] = "";
	static const char *const order[] = { "crc32", "entropy", "md5", "sha1", "sha256", "sha512" };
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (have(order[i])) {
			strcat(want, order[i]);
			strcat(want, "\n");
		}
	}
	expect_out(c, "ph", want);
	size_t n = 0;
	while (rap__hash_name_at(n))
		n++;
	assert_int_equal(n, (size_t)(1 + (have("crc32") ? 1 : 0) + (have("md5") ? 4 : 0)));
	/* help */
	struct result r = run(c, "ph?");
	assert_int_equal(r.rc, 0);
	assert_true(strncmp(r.out, "Usage: ph ", 10) == 0);
	assert_non_null(strstr(r.out, "\n| ph algo len "));
	result_free(&r);
	r = run(c, "?");
	assert_non_null(strstr(r.out, "\n| ph [algo [len]] "));
	result_free(&r);
}

/* The expected crc32 of size bytes of gen, from zlib's crc32_combine over whole periods:
 * computed without streaming anything through ph. */
#if RAP_TEST_HAVE_ZLIB
static unsigned long gen_crc32(uint64_t size)
{
	uint8_t *period = malloc(PERIOD);
	assert_non_null(period);
	/* From the formula, not from the plugin's table. */
	for (uint64_t i = 0; i < PERIOD; i++)
		period[i] = gen_byte(i);
	unsigned long one = crc32(0L, period, PERIOD), total = crc32(0L, Z_NULL, 0);
	uint64_t whole = size / PERIOD, tail = size % PERIOD;
	for (uint64_t k = 0; k < whole; k++)
		total = crc32_combine(total, one, PERIOD);
	total = crc32_combine(total, crc32(0L, period, (uInt)tail), (z_off_t)tail);
	free(period);
	return total;
}
#endif

/* Registered only with zlib (cmocka 1.1.5 reports a skipped test as "not ok" in TAP). */
#if RAP_TEST_HAVE_ZLIB
static void test_huge_range(void **state)
{
	struct rap_core *c = *state;
	/* Past 4 GiB, so no length or offset may be 32 bits wide anywhere. */
	gen.size = (UINT64_C(4) << 30) + 12345;
	assert_true(rap_core_open(c, "gen://huge", RAP_PERM_R) >= 0);
	char want[32];
	snprintf(want, sizeof(want), "%08lx\n", gen_crc32(gen.size));
	char line[64];
	snprintf(line, sizeof(line), "ph crc32 0x%" PRIx64, gen.size);
	expect_out(c, line, want);
	/* It streamed: no read asked for more than one chunk. */
	assert_true(gen.largest <= (1u << 20));
}
#endif

static void test_read_error_and_interrupt(void **state)
{
	struct rap_core *c = *state;
	gen.size = 8u << 20;
	assert_true(rap_core_open(c, "gen://x", RAP_PERM_R) >= 0);
	gen.fail_at = 3u << 20;
	expect_err(c, "ph entropy 0x800000", -EIO, "error: cannot read at 0x00300000: ");
	gen.fail_at = UINT64_MAX;
	gen.interrupt_at = 5u << 20;
	gen.interrupt_core = c;
	struct result r = run(c, "ph entropy 0x800000; ?e after");
	assert_int_equal(r.rc, -EINTR);
	assert_string_equal(r.out, "");
	assert_non_null(strstr(r.err, "error: interrupted after 0x600000 of 0x800000 bytes"));
	result_free(&r);
	gen.interrupt_at = UINT64_MAX;
	/* the same range once nothing stops it; 8 MiB of 2^23 bytes of a full-period pattern */
	r = run(c, "ph entropy 0x800000");
	assert_int_equal(r.rc, 0);
	assert_int_equal(strlen(r.out), strlen("7.99999999\n"));
	result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_entropy_values),
		cmocka_unit_test(test_streaming_equals_whole),
		cmocka_unit_test_setup_teardown(test_ph_command, setup, teardown),
#if RAP_TEST_HAVE_ZLIB
		cmocka_unit_test_setup_teardown(test_huge_range, setup, teardown),
#endif
		cmocka_unit_test_setup_teardown(test_read_error_and_interrupt, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	free(gen_period);
	return failed;
}
