/* rap__hexval (libr/common/hex.c): every byte value, and negative chars. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"

static void test_every_byte(void **state)
{
	(void)state;
	static const char digits[] = "0123456789abcdef";
	for (int c = -128; c < 256; c++) {
		int want = -1;
		const char *d = c > 0 ? strchr(digits, c >= 'A' && c <= 'F' ? c + 32 : c) : NULL;
		if (d)
			want = (int)(d - digits);
		if (rap__hexval(c) != want)
			fail_msg("rap__hexval(%d) = %d, want %d", c, rap__hexval(c), want);
	}
	assert_int_equal(rap__hexval('F'), 15);
	assert_int_equal(rap__hexval('a'), 10);
	assert_int_equal(rap__hexval('g'), -1);
	assert_int_equal(rap__hexval((char)0xc1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
