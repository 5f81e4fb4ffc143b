/* The progress bar of long commands: silent unless the error stream is a terminal, redrawn
 * at most ten times a second, delayed when asked, erased on request, and ended with a
 * final line or (after a failure) only a newline. */
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/core.h>

#include "core_private.h"

struct fixture {
	struct rap_core *c;
	int master;
	FILE *err; /* the terminal side the bar writes to */
	FILE *out;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx || rap_core_new(&fx->c) < 0)
		return -1;
	int slave;
	if (openpty(&fx->master, &slave, NULL, NULL, NULL) < 0) {
		fx->master = -1;
	} else {
		fx->err = fdopen(slave, "w");
		fx->out = fopen("/dev/null", "w");
		if (!fx->err || !fx->out)
			return -1;
		rap_core_set_output(fx->c, fx->out, fx->err);
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	rap_core_free(fx->c);
	if (fx->err)
		fclose(fx->err);
	if (fx->out)
		fclose(fx->out);
	if (fx->master >= 0)
		close(fx->master);
	free(fx);
	return 0;
}

static void need_pty(struct fixture *fx)
{
	if (fx->master < 0)
		skip();
}

/* What the terminal received so far (nothing: ""). */
static char *drain(int master)
{
	size_t cap = 1 << 14, len = 0;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	for (;;) {
		struct pollfd pfd = { .fd = master, .events = POLLIN };
		if (poll(&pfd, 1, 50) <= 0)
			break;
		ssize_t n = read(master, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == cap)
			break;
	}
	buf[len] = '\0';
	return buf;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void test_silent_when_not_a_terminal(void **state)
{
	struct fixture *fx = *state;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	assert_non_null(mem);
	rap_core_set_output(fx->c, mem, mem);
	struct rap__progress p;
	rap__progress_start(&p, fx->c, 100, true, 0);
	sleep_ms(120);
	rap__progress_update(&p, 50);
	rap__progress_clear(&p);
	rap__progress_end(&p, 100, true);
	fclose(mem);
	assert_int_equal(len, 0);
	free(text);
}

static void test_redraw_and_final_line(void **state)
{
	struct fixture *fx = *state;
	need_pty(fx);
	struct rap__progress p;
	rap__progress_start(&p, fx->c, 4u << 20, true, 0);
	/* Too early for a redraw. */
	rap__progress_update(&p, 1u << 20);
	char *text = drain(fx->master);
	assert_string_equal(text, "");
	free(text);
	sleep_ms(120);
	rap__progress_update(&p, 1u << 20);
	text = drain(fx->master);
	assert_non_null(strstr(text, "\r1.0 MiB / 4.0 MiB   25%"));
	assert_non_null(strstr(text, "ETA"));
	free(text);
	rap__progress_end(&p, 4u << 20, true);
	text = drain(fx->master);
	assert_non_null(strstr(text, "4.0 MiB / 4.0 MiB  100%"));
	assert_non_null(strstr(text, "in 0:00"));
	assert_non_null(strstr(text, "\r\n"));
	free(text);
}

static void test_delay(void **state)
{
	struct fixture *fx = *state;
	need_pty(fx);
	struct rap__progress p;
	rap__progress_start(&p, fx->c, 1000, true, 1000000000LL);
	sleep_ms(300);
	rap__progress_update(&p, 10);
	char *text = drain(fx->master);
	assert_string_equal(text, "");
	free(text);
	sleep_ms(800);
	rap__progress_update(&p, 20);
	text = drain(fx->master);
	assert_non_null(strstr(text, "\r20 B / 1000 B    2%"));
	free(text);
	/* Clearing blanks the line and leaves the cursor at its start. */
	rap__progress_clear(&p);
	text = drain(fx->master);
	size_t n = strlen(text);
	assert_true(n > 2 && text[0] == '\r' && text[n - 1] == '\r');
	assert_int_equal(strspn(text + 1, " "), n - 2);
	free(text);
	/* A failure after a cleared bar: nothing more to end. */
	rap__progress_end(&p, 20, false);
	text = drain(fx->master);
	assert_string_equal(text, "");
	free(text);
}

static void test_unknown_total_and_failure(void **state)
{
	struct fixture *fx = *state;
	need_pty(fx);
	struct rap__progress p;
	rap__progress_start(&p, fx->c, 0, false, 0);
	sleep_ms(120);
	rap__progress_update(&p, 3000);
	char *text = drain(fx->master);
	assert_non_null(strstr(text, "\r2.9 KiB  "));
	assert_null(strstr(text, "%"));
	assert_null(strstr(text, "ETA"));
	free(text);
	/* After a failure only the newline, so the error starts on a line of its own. */
	rap__progress_end(&p, 3000, false);
	text = drain(fx->master);
	assert_string_equal(text, "\r\n");
	free(text);
}

/* A lean core (a daemon's session) draws no bar, even on a terminal; a full core's bar
 * above shows the terminal works. */
static void test_lean_core_silent(void **state)
{
	struct fixture *fx = *state;
	need_pty(fx);
	struct rap_core *lean;
	assert_int_equal(rap_core_new_lean(&lean), 0);
	rap_core_set_output(lean, fx->out, fx->err);
	struct rap__progress p;
	rap__progress_start(&p, lean, 4u << 20, true, 0);
	sleep_ms(120);
	rap__progress_update(&p, 1u << 20);
	rap__progress_clear(&p);
	rap__progress_end(&p, 4u << 20, true);
	char *text = drain(fx->master);
	assert_string_equal(text, "");
	free(text);
	rap_core_free(lean);
	/* The same on the fixture's full core draws. */
	rap__progress_start(&p, fx->c, 4u << 20, true, 0);
	rap__progress_end(&p, 4u << 20, true);
	text = drain(fx->master);
	assert_non_null(strstr(text, "100%"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_silent_when_not_a_terminal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redraw_and_final_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_total_and_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lean_core_silent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
