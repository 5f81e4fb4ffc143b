/* The one formatter of view records: each kind's line, as radare2 prints it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core_private.h"

static char *format(const struct rap__record *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	rap__record_print(f, r);
	fclose(f);
	return text;
}

static void expect(const struct rap__record *r, const char *want)
{
	char *got = format(r);
	assert_string_equal(got, want);
	free(got);
}

static void test_hits(void **state)
{
	(void)state;
	static const uint8_t bytes[] = { 0x7c, 0x72, 0x00, 0xff };
	struct rap__record r = {
		.kind = RAP__RECORD_TEXT_HIT, .addr = 0x2231, .len = 8, .search = 0, .index = 0,
		.text = "00002220|rap2!@00002230|rap2!@00002240",
	};
	expect(&r, "0x00002231 hit0_0 \"00002220|rap2!@00002230|rap2!@00002240\"\n");
	/* addresses wider than 8 digits, large numbers */
	r.addr = 0x123456789abull;
	r.search = 12;
	r.index = 4096;
	r.text = "";
	expect(&r, "0x123456789ab hit12_4096 \"\"\n");
	struct rap__record b = {
		.kind = RAP__RECORD_BYTES_HIT, .addr = 9, .len = 4, .search = 1, .index = 28,
		.bytes = bytes, .nbytes = sizeof(bytes),
	};
	expect(&b, "0x00000009 hit1_28 7c7200ff\n");
}

static void test_digests_and_names(void **state)
{
	(void)state;
	static const uint8_t crc[] = { 0xfa, 0x1a, 0x31, 0x40 };
	struct rap__record d = { .kind = RAP__RECORD_DIGEST, .addr = 0, .len = 64, .bytes = crc, .nbytes = 4 };
	expect(&d, "fa1a3140\n");
	/* a value rather than bytes: its text */
	d.text = "3.27984818";
	expect(&d, "3.27984818\n");
	struct rap__record n = { .kind = RAP__RECORD_NAME, .text = "sha256" };
	expect(&n, "sha256\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hits),
		cmocka_unit_test(test_digests_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
