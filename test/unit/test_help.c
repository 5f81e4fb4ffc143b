/* Help pages as rap__help_print lays them out (help.c): "COMMAND\tWHAT" lines in one column,
 * computed or the page's own, and lines without a tab as they are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core_private.h"

static void expect_page(const char *page, int column, const char *want)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	assert_non_null(out);
	rap__help_print(out, page, column);
	assert_int_equal(fclose(out), 0);
	if (strcmp(text, want))
		fail_msg("column %d:\n--- got\n%s--- want\n%s", column, text, want);
	free(text);
}

/* No column given: two blanks past the widest command; lines without a tab are left alone
 * and do not count. */
static void test_computed_column(void **state)
{
	(void)state;
	expect_page("Usage: x [n]   an example page that is wider than its lines\n"
		    "x\tthe first\n"
		    "x [n]\tthe second\n"
		    "title of its own\n"
		    "xyz -a\tthe third: a tab\tstays in the text\n",
		    0,
		    "Usage: x [n]   an example page that is wider than its lines\n"
		    "| x       the first\n"
		    "| x [n]   the second\n"
		    "title of its own\n"
		    "| xyz -a  the third: a tab\tstays in the text\n");
}

/* A page's own column (radare2's pages have theirs); a wider command keeps two blanks. */
static void test_given_column(void **state)
{
	(void)state;
	expect_page("Usage: ds  Step commands\nds\tstep one instruction\nds <num>\tstep <num> instructions\n", 18,
		    "Usage: ds  Step commands\n"
		    "| ds                step one instruction\n"
		    "| ds <num>          step <num> instructions\n");
	expect_page("a-long-command\tx\nb\ty\n", 4, "| a-long-command  x\n| b   y\n");
}

/* Empty descriptions, empty lines, a page without lines. */
static void test_edges(void **state)
{
	(void)state;
	expect_page("", 0, "");
	expect_page("\n\n", 0, "\n\n");
	expect_page("q\t\n", 0, "| q  \n");
	expect_page("only text\n", 0, "only text\n");
	/* A last line without its newline still prints whole. */
	expect_page("a\tb\nc\td", 0, "| a  b\n| c  d\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_computed_column),
		cmocka_unit_test(test_given_column),
		cmocka_unit_test(test_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
