/* The jump arrows: levels handed out over the ends of the jumps, and the ten cells drawn for
 * each line, checked against the drawings of disasm.txt and cases derived from the rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rap/rap.h>

#include "common.h"
#include "disasm.h"

/* The drawing with ASCII stand-ins, to keep the expectations readable: ',' ┌, '`' └,
 * '|' │, ':' ╎, '-' ─. */
static void ascii(const char *utf8, char *out, size_t cap)
{
	static const struct {
		const char *u;
		char a;
	} map[] = { { "\xe2\x94\x8c", ',' }, { "\xe2\x94\x94", '`' }, { "\xe2\x94\x82", '|' },
		    { "\xe2\x95\x8e", ':' }, { "\xe2\x94\x80", '-' } };
	size_t n = 0;
	for (const char *p = utf8; *p && n + 1 < cap;) {
		bool done = false;
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]) && !done; i++) {
			if (!strncmp(p, map[i].u, 3)) {
				out[n++] = map[i].a;
				p += 3;
				done = true;
			}
		}
		if (!done)
			out[n++] = *p++;
	}
	out[n] = '\0';
}

static void expect_row(const struct rap__reflines *r, uint64_t addr, const char *want)
{
	char buf[128], got[64];
	size_t n = rap__reflines_render(r, addr, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	ascii(buf, got, sizeof(got));
	if (strcmp(got, want))
		fail_msg("at 0x%llx: '%s', want '%s'", (unsigned long long)addr, got, want);
}

static struct rap__reflines *make(const uint64_t (*jumps)[2], size_t n)
{
	struct rap__reflines *r;
	assert_int_equal(rap__reflines_new(&r), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(rap__reflines_add(r, jumps[i][0], jumps[i][1]), 0);
	rap__reflines_layout(r);
	return r;
}

/* The x86-64 listing of disasm.txt (pd 24 @ 0x100 of rand1.bin). */
static void test_disasm_txt_x86(void **state)
{
	static const uint64_t jumps[][2] = {
		{ 0x104, 0x157 }, { 0x126, 0xe1 }, { 0x12f, 0xf8 }, { 0x137, 0xe4 }, { 0x13b, 0x1ad },
	};
	struct rap__reflines *r = make(jumps, 5);
	/* disasm.txt's rows without their two leading blanks (the function column) */
	expect_row(r, 0x100, "    :::   ");
	expect_row(r, 0x104, "   ,----< ");
	expect_row(r, 0x106, "   |:::   ");
	expect_row(r, 0x126, "   |::`-< ");
	expect_row(r, 0x129, "   |::    ");
	expect_row(r, 0x12f, "   |`---< ");
	expect_row(r, 0x131, "   | :    ");
	expect_row(r, 0x137, "   | `--< ");
	expect_row(r, 0x139, "   |      ");
	expect_row(r, 0x13b, "   |  ,-< ");
	expect_row(r, 0x13d, "   |  |   ");
	expect_row(r, 0x151, "   |  |   ");
	rap__reflines_free(r);
}

/* The AArch64 listing of disasm.txt: one jump to an address above the listing's. */
static void test_disasm_txt_arm64(void **state)
{
	static const uint64_t jumps[][2] = { { 0x144, 0xffffffffffff81e4 } };
	struct rap__reflines *r = make(jumps, 1);
	expect_row(r, 0x140, "          ");
	expect_row(r, 0x144, "      ,-< ");
	expect_row(r, 0x15c, "      |   ");
	rap__reflines_free(r);
}

static void test_shapes(void **state)
{
	/* none */
	struct rap__reflines *r = make(NULL, 0);
	expect_row(r, 0, "          ");
	rap__reflines_free(r);
	/* down: corner, run, target */
	static const uint64_t down[][2] = { { 0, 3 } };
	r = make(down, 1);
	expect_row(r, 0, "      ,-< ");
	expect_row(r, 2, "      |   ");
	expect_row(r, 3, "      `-> ");
	expect_row(r, 4, "          ");
	rap__reflines_free(r);
	/* up: the target first, dashed */
	static const uint64_t up[][2] = { { 8, 2 } };
	r = make(up, 1);
	expect_row(r, 2, "      ,-> ");
	expect_row(r, 5, "      :   ");
	expect_row(r, 8, "      `-< ");
	rap__reflines_free(r);
	/* two jumps to one target; a jump to itself is drawn blank */
	static const uint64_t two[][2] = { { 5, 0xc }, { 7, 0xc }, { 0xa, 6 } };
	r = make(two, 3);
	expect_row(r, 5, "      ,-< ");
	expect_row(r, 7, "    ,---< ");
	expect_row(r, 9, "    |:|   ");
	expect_row(r, 0xa, "    |`--< ");
	expect_row(r, 0xc, "    `-`-> ");
	rap__reflines_free(r);
	static const uint64_t self[][2] = { { 4, 4 } };
	r = make(self, 1);
	expect_row(r, 4, "       -> ");
	rap__reflines_free(r);
	/* jumps that do not overlap share level 1 */
	static const uint64_t apart[][2] = { { 0, 2 }, { 4, 6 } };
	r = make(apart, 2);
	expect_row(r, 0, "      ,-< ");
	expect_row(r, 4, "      ,-< ");
	rap__reflines_free(r);
}

/* More levels than seven cells: the leftmost are cut, as radare2 cuts them. */
static void test_many(void **state)
{
	uint64_t jumps[100][2];
	for (size_t i = 0; i < 100; i++) {
		jumps[i][0] = i;
		jumps[i][1] = 1000 + i;
	}
	struct rap__reflines *r = make((const uint64_t(*)[2])jumps, 100);
	/* at 99, the 100th jump starts at level 100; all others pass */
	char buf[256];
	rap__reflines_render(r, 99, buf, sizeof(buf));
	char got[64];
	ascii(buf, got, sizeof(got));
	assert_string_equal(got, "--------< ");
	rap__reflines_render(r, 500, buf, sizeof(buf));
	ascii(buf, got, sizeof(got));
	assert_string_equal(got, "|||||||   ");
	/* a small buffer is never overrun, and always terminated */
	char small[8];
	size_t n = rap__reflines_render(r, 500, small, sizeof(small));
	assert_true(n >= 10);
	assert_true(strlen(small) < sizeof(small));
	rap__reflines_free(r);
}

static void test_allocation_failures(void **state)
{
	struct rap__reflines *r;
	rap__alloc_fail_after(0);
	assert_int_equal(rap__reflines_new(&r), RAP_ENOMEM);
	rap__alloc_fail_after(-1);
	assert_int_equal(rap__reflines_new(&r), 0);
	rap__alloc_fail_after(0);
	assert_int_equal(rap__reflines_add(r, 0, 4), RAP_ENOMEM);
	rap__alloc_fail_after(-1);
	assert_int_equal(rap__reflines_add(r, 0, 4), 0);
	assert_int_equal(rap__reflines_add(r, 2, 6), 0);
	/* without memory to lay out, every jump takes level 1: a drawing all the same */
	rap__alloc_fail_after(0);
	rap__reflines_layout(r);
	rap__alloc_fail_after(-1);
	expect_row(r, 0, "      ,-< ");
	expect_row(r, 2, "     |,-< ");
	rap__reflines_free(r);
	rap__reflines_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disasm_txt_x86),
		cmocka_unit_test(test_disasm_txt_arm64),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_allocation_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
