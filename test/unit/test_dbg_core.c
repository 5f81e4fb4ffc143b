/* libcore's debugger commands on a dbg:// file, against radare2's own output
 * (test/vectors/r2/debug-session.txt) where it is deterministic. The debuggee is the
 * transcript's hello.c, built as it was (test/debuggee). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include <rap/core.h>
#include <rap/dbg.h>
#include <rap/io.h>

#include "dbg_hello_syms.h"
#include "dbg_spin_syms.h"
#include "debug.h"

/* ---- helpers ------------------------------------------------------------------------ */

struct run {
	int rc;
	char *out;
	char *err;
};

static struct run run(struct rap_core *c, const char *line)
{
	struct run r = { 0 };
	r.rc = rap_core_cmd_str(c, line, &r.out, &r.err);
	if (!r.out)
		r.out = strdup("");
	if (!r.err)
		r.err = strdup("");
	return r;
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* Runs line and checks its exact output (rc 0, nothing on the error stream unless
 * err_ok). */
static void expect_out(struct rap_core *c, const char *line, const char *want)
{
	struct run r = run(c, line);
	if (r.rc != 0 || strcmp(r.out, want) != 0)
		print_error("%s: rc %d\n--- out\n%s--- want\n%s--- err\n%s", line, r.rc, r.out, want, r.err);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, want);
	run_free(&r);
}

/* Runs line, expects it to fail with rc and an error naming reason. */
static void expect_fail(struct rap_core *c, const char *line, int rc, const char *reason)
{
	struct run r = run(c, line);
	if (r.rc != rc || !strstr(r.err, reason))
		print_error("%s: rc %d (want %d)\n--- err\n%s", line, r.rc, rc, r.err);
	assert_int_equal(r.rc, rc);
	assert_non_null(strstr(r.err, reason));
	run_free(&r);
}

/* The output block of "$ <cmd>" in debug-session.txt (heap). */
static char *vector_block(const char *cmd)
{
	const char *dir = getenv("RAP_INTEROP_DIR");
	assert_non_null(dir);
	char path[4096];
	snprintf(path, sizeof(path), "%s/debug-session.txt", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	char head[512];
	snprintf(head, sizeof(head), "\n$ %s\n", cmd);
	const char *p = strstr(text, head);
	assert_non_null(p);
	p += strlen(head);
	const char *end = strstr(p, "\n\n$ ");
	if (!end)
		end = p + strlen(p) - 1;
	while (end > p && *end == '\n' && end[-1] == '\n')
		end--; /* the file's last block: one newline */
	return strndup(p, (size_t)(end - p) + 1);
}

static struct rap_core *core_on_hello(void)
{
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	rap_core_set_policy(c, RAP_CORE_POLICY_ALL);
	rap_io_set_dbg_output(rap_core_io(c), -1);
	assert_true(rap_core_open(c, "dbg://" RAP_TEST_DEBUGGEE, RAP_PERM_RW) >= 3);
	return c;
}

static pid_t core_pid(struct rap_core *c)
{
	return rap_dbg_pid(rap_io_dbg(rap_core_io(c), rap_core_current_fd(c)));
}

/* ---- tests -------------------------------------------------------------------------- */

/* dr at the first instruction: radare2's 19 registers in its order and layout; the values
 * the transcript shows that do not depend on ASLR are the same. */
static void test_dr(void **state)
{
	(void)state;
	struct rap_core *c = core_on_hello();
	char *want = vector_block("r2 -q -e scr.color=0 -d -c dr -c dr rip -c dr?rip hello");
	struct run r = run(c, "dr");
	assert_int_equal(r.rc, 0);
	/* line by line: the name part is always equal; the value too except rsp and rip */
	char *wl = want, *ol = r.out;
	for (int i = 0; i < 19; i++) {
		char *wn = strchr(wl, '\n'), *on = strchr(ol, '\n');
		assert_non_null(wn);
		assert_non_null(on);
		*wn = *on = '\0';
		if (strncmp(wl, "rsp", 3) && strncmp(wl, "rip", 3))
			assert_string_equal(ol, wl);
		else
			assert_memory_equal(ol, wl, 8); /* "rsp = 0x" */
		wl = wn + 1;
		ol = on + 1;
	}
	assert_string_equal(ol, "");
	run_free(&r);
	free(want);
	/* dr rip: as dr shows it; the position is there (radare2 -d starts at the PC) */
	uint64_t rip;
	assert_int_equal(rap_dbg_reg_get(rap_io_dbg(rap_core_io(c), rap_core_current_fd(c)), "rip", &rip), 0);
	char line[64];
	snprintf(line, sizeof(line), "0x%08" PRIx64 "\n", rip);
	expect_out(c, "dr rip", line);
	expect_out(c, "dr?rip", line);
	expect_out(c, "s", line);
	/* set, in any spelling of a number, and read back (also by the gdb name) */
	expect_out(c, "dr rax=0x10; dr rax", "0x00000010\n");
	expect_out(c, "dr rbx = 7 + rax; dr rbx", "0x00000017\n");
	expect_out(c, "dr eflags", "0x00000202\n");
	r = run(c, "drj");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "{\"rax\":16,\"rbx\":23,"));
	assert_non_null(strstr(r.out, ",\"orax\":59}\n"));
	run_free(&r);
	expect_fail(c, "dr nosuch", RAP_EINVAL, "unknown register 'nosuch'");
	expect_fail(c, "dr xmm0", RAP_EINVAL, "unknown register 'xmm0'");
	expect_fail(c, "dr rax=zzz", RAP_EINVAL, "invalid address or number 'zzz'");
	rap_core_free(c);
}

static void test_drp_and_help(void **state)
{
	(void)state;
	struct rap_core *c = core_on_hello();
	char *want = vector_block("r2 -q -e scr.color=0 -d -c drp hello");
	expect_out(c, "drp", want);
	free(want);
	static const char *const helps[][2] = {
		{ "ds?", "r2 -q -e scr.color=0 -c ds? --" },
		{ "dc?", "r2 -q -e scr.color=0 -c dc? --" },
		{ "db?", "r2 -q -e scr.color=0 -c db? --" },
	};
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		want = vector_block(helps[i][1]);
		expect_out(c, helps[i][0], want);
		free(want);
	}
	/* rap's own pages, in radare2's layout: the descriptions in one column per page. */
	static const char page_d[] =
		"Usage: d   Debugger commands (on a dbg:// file)\n"
		"| db[?]                   breakpoints\n"
		"| dbt                     backtrace (frame pointers)\n"
		"| dc[?]                   continue execution\n"
		"| dk [sig]                send a signal to the process (default 9, SIGKILL)\n"
		"| dm                      list the memory maps\n"
		"| dp                      show the process\n"
		"| dr[?]                   registers\n"
		"| ds[?]                   step\n";
	static const char page_dr[] =
		"Usage: dr   Registers commands\n"
		"| dr                      show the general purpose registers\n"
		"| dr <register>           show the value of a register\n"
		"| dr <register>=<val>     set the value of a register\n"
		"| dr?<register>           show the value of a register, unpadded\n"
		"| drj                     show the general purpose registers in JSON\n"
		"| drp                     show the register profile roles\n";
	expect_out(c, "d?", page_d);
	expect_out(c, "dr?", page_dr);
	expect_out(c, "dm?",
		"Usage: dm   Memory maps commands\n"
		"| dm                      list the memory maps of the process (* marks the PC's)\n");
	expect_out(c, "dk?",
		"Usage: dk   Signal commands\n"
		"| dk                      send SIGKILL to the process\n"
		"| dk <signal>             send <signal> (a number) to the process\n");
	expect_out(c, "dp?",
		"Usage: dp   Process commands\n"
		"| dp                      show the debugged process\n");
	/* A family's subcommands share its page; other d commands get d?'s. */
	expect_out(c, "drj?", page_dr);
	expect_out(c, "dx?", page_d);
	expect_fail(c, "dsb", RAP_ENOTSUP, "'dsb': not supported by rap's debugger");
	expect_fail(c, "dc 1234", RAP_ENOTSUP, "not supported");
	rap_core_free(c);
}

/* The transcript's third session, with the addresses of the -no-pie program. */
static void test_session(void **state)
{
	(void)state;
	struct rap_core *c = core_on_hello();
	pid_t pid = core_pid(c);
	char line[512];
	snprintf(line, sizeof(line), "db 0x%x", DEBUGGEE_ADD);
	expect_out(c, line, "");
	struct run r = run(c, "db");
	/* the breakpoint list line: radare2's, with the address as the name (no symbols) */
	snprintf(line, sizeof(line), "0x%08x - 0x%08x 1 --x sw break enabled valid name=\"0x%x\" module=\"", DEBUGGEE_ADD,
		 DEBUGGEE_ADD + 1, DEBUGGEE_ADD);
	assert_memory_equal(r.out, line, strlen(line));
	assert_non_null(strstr(r.out, "_dbg_hello\"\n"));
	run_free(&r);
	snprintf(line, sizeof(line), "db 0x%x", DEBUGGEE_ADD);
	expect_fail(c, line, RAP_EINVAL, "exists already");
	expect_fail(c, "db 0", -14 /* -EFAULT */, "unmapped");
	expect_out(c, "dc", "");
	/* add: push rbp (1 byte), mov rbp, rsp (3 bytes) */
	snprintf(line, sizeof(line), "0x%08x\n", DEBUGGEE_ADD);
	expect_out(c, "dr rip", line);
	expect_out(c, "ds", "");
	snprintf(line, sizeof(line), "0x%08x\n", DEBUGGEE_ADD + 1);
	expect_out(c, "dr rip", line);
	expect_out(c, "dso", "");
	snprintf(line, sizeof(line), "0x%08x\n", DEBUGGEE_ADD + 4);
	expect_out(c, "dr rip", line);
	/* dm: the program's lines as radare2 prints them, without its flag comments */
	r = run(c, "dm~dbg_hello");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "0x0000000000400000 - 0x0000000000401000 - usr     4K s r-- /"));
	assert_non_null(strstr(r.out, "0x0000000000401000 - 0x0000000000402000 * usr     4K s r-x /"));
	assert_non_null(strstr(r.out, "0x0000000000404000 - 0x0000000000405000 - usr     4K s rw- /"));
	run_free(&r);
	/* memory: exactly the transcript's (register names and numbers as addresses) */
	char *want = vector_block("r2 -q -e scr.color=0 -d -c dp -c db sym.add -c db -c dc -c dr rip -c ds -c dr rip "
				  "-c dso -c dr rip -c dm~hello -c px 16 @ obj.counter -c wx 99 @ obj.counter -c px 4 "
				  "@ obj.counter -c db-* -c dc -c dp hello");
	const char *px = strstr(want, "- offset -");
	assert_non_null(px);
	char expect[512];
	size_t two = (size_t)(strstr(strstr(px, "\n") + 1, "\n") + 1 - px);
	snprintf(expect, sizeof(expect), "%.*s", (int)two, px);
	expect_out(c, "px 16 @ 0x404018", expect);
	expect_out(c, "wx 99 @ 0x404018", "");
	const char *second = px + two;
	size_t two2 = (size_t)(strstr(strstr(second, "\n") + 1, "\n") + 1 - second);
	snprintf(expect, sizeof(expect), "%.*s", (int)two2, second);
	expect_out(c, "px 4 @ 0x404018", expect);
	free(want);
	/* a backtrace through the frame pointers: add's frame, then main's */
	r = run(c, "dbt");
	assert_int_equal(r.rc, 0);
	snprintf(line, sizeof(line), "0  0x%-16x sp: 0x", DEBUGGEE_ADD + 4);
	assert_memory_equal(r.out, line, strlen(line));
	const char *f1 = strstr(r.out, "\n1  0x");
	assert_non_null(f1);
	uint64_t ret = strtoull(f1 + 6, NULL, 16);
	assert_true(ret > DEBUGGEE_MAIN && ret < DEBUGGEE_MAIN + 0x60);
	run_free(&r);
	expect_fail(c, "db-0x1234", RAP_EINVAL, "no breakpoint at 0x1234");
	expect_out(c, "db-*; db", "");
	/* long glued addresses, and the spaced form */
	expect_fail(c, "db-0x00007f0000001000", RAP_EINVAL, "no breakpoint at 0x7f0000001000");
	snprintf(line, sizeof(line), "db 0x%08x; db -0x%016x; db", DEBUGGEE_MAIN, DEBUGGEE_MAIN);
	expect_out(c, line, "");
	snprintf(line, sizeof(line), "(%d) Process exited with status=0x0\n", (int)pid);
	expect_out(c, "dc", line);
	expect_fail(c, "dr", RAP_EBADFD, "has ended");
	expect_fail(c, "dp", RAP_EBADFD, "has ended");
	expect_out(c, "drp~PC", "=PC\trip\n");
	rap_core_free(c);
}

/* A debugged process read through the cache (not the default for dbg://, which costs no
 * round trip, but what a remote process gets): volatile, so every command reads it afresh,
 * and a dc drops what was read before it even within a command. */
static void test_cached_process(void **state)
{
	(void)state;
	struct rap_core *c = core_on_hello();
	struct rap_io *io = rap_core_io(c);
	int fd = rap_core_current_fd(c);
	assert_int_equal(rap_io_cache_get(io, fd), RAP_IO_CACHE_VOLATILE);
	assert_int_equal(rap_io_cache_set(io, fd, RAP_IO_CACHE_ON | RAP_IO_CACHE_VOLATILE), RAP_IO_CACHE_VOLATILE);
	char line[64];
	snprintf(line, sizeof(line), "db 0x%x; dc; dc; p8 4 @ 0x%x", DEBUGGEE_ADD, DEBUGGEE_COUNTER);
	/* add(counter, 0) and add(counter, 1): the counter is still as it started. */
	expect_out(c, line, "34120000\n");
	uint8_t b[4];
	assert_int_equal(rap_io_read_at(io, fd, DEBUGGEE_COUNTER, b, 4), 4);
	assert_memory_equal(b, "\x34\x12\0\0", 4);
	struct rap_io_cache_stats st;
	assert_int_equal(rap_io_cache_stats(io, fd, &st), 0);
	uint64_t requests = st.requests;
	assert_int_equal(rap_io_read_at(io, fd, DEBUGGEE_COUNTER, b, 4), 4);
	assert_int_equal(rap_io_cache_stats(io, fd, &st), 0);
	assert_int_equal(st.requests, requests); /* held */
	/* The process runs on to the third call: counter = 0x1234 + 0 + 1. */
	assert_int_equal(rap__core_cmd_debug(c, "d", (char[]){ "dc" }), 0);
	assert_int_equal(rap_io_read_at(io, fd, DEBUGGEE_COUNTER, b, 4), 4);
	assert_memory_equal(b, "\x35\x12\0\0", 4);
	/* Written through the descriptor: the next read sees it. */
	assert_int_equal(rap_io_write_at(io, fd, DEBUGGEE_COUNTER, "\x78\x56", 2), 2);
	assert_int_equal(rap_io_read_at(io, fd, DEBUGGEE_COUNTER, b, 4), 4);
	assert_memory_equal(b, "\x78\x56\0\0", 4);
	rap_core_free(c);
}

static void test_addresses_and_reads(void **state)
{
	(void)state;
	struct rap_core *c = core_on_hello();
	/* an unmapped range shows 0xff, as radare2 shows it */
	expect_out(c, "p8 4 @ 0", "ffffffff\n");
	expect_out(c, "p8 4 @ 0x404018", "34120000\n");
	char line[128], want[64];
	snprintf(line, sizeof(line), "dcu 0x%x; dr rip", DEBUGGEE_ADD);
	snprintf(want, sizeof(want), "0x%08x\n", DEBUGGEE_ADD);
	expect_out(c, line, want);
	expect_out(c, "?v rdi", "0x1234\n"); /* add(counter, 0) */
	snprintf(want, sizeof(want), "0x%x\n", DEBUGGEE_ADD + 1);
	expect_out(c, "?v rip + 1", want);
	snprintf(want, sizeof(want), "0x%x\n", DEBUGGEE_ADD);
	expect_out(c, "s rip; s", want);
	struct run r;
	if (RAP_TEST_HAVE_CAPSTONE) {
		r = run(c, "pi 1 @ rip");
		assert_int_equal(r.rc, 0);
		assert_string_equal(r.out, "push rbp\n");
		run_free(&r);
	}
	r = run(c, "px 8 @ rsp");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "- offset -"));
	run_free(&r);
	/* =! on a dbg:// file runs the debugger's commands */
	snprintf(want, sizeof(want), "0x%08x\n", DEBUGGEE_ADD);
	expect_out(c, "=!dr rip", want);
	/* dp: the process, as radare2 shows it */
	r = run(c, "dp");

	snprintf(line, sizeof(line), " * %d ppid:%d uid:%u s ", (int)core_pid(c), (int)getpid(), (unsigned)getuid());
	assert_memory_equal(r.out, line, strlen(line));
	assert_non_null(strstr(r.err, "INFO: Selected:"));
	run_free(&r);
	expect_fail(c, "ds 9999999", RAP_EINVAL, "at most 1000000 steps");
	expect_fail(c, "dk 99", RAP_EINVAL, "invalid signal 99");
	/* a signal: radare2's line on the error stream; delivered by the next dc */
	expect_out(c, "dk 15", "");
	r = run(c, "dc");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "");
	snprintf(line, sizeof(line), "[+] SIGNAL 15 errno=0 addr=0x");
	assert_memory_equal(r.err, line, strlen(line));
	snprintf(line, sizeof(line), " code=0 si_pid=%d ret=0\n", (int)getpid());
	assert_non_null(strstr(r.err, line));
	run_free(&r);
	snprintf(line, sizeof(line), "(%d) Process killed by signal 15 (TERM)\n", (int)core_pid(c));
	expect_out(c, "dc", line);
	rap_core_free(c);
}

/* pd at the PC: radare2's flag line above it, then the listing; when this machine's loader
 * is the transcript's (the same bytes at its entry), exactly the transcript's text with the
 * addresses moved by the difference of the two (ASLR). */
static void test_pd_at_pc(void **state)
{
	(void)state;
	if (!RAP_TEST_HAVE_CAPSTONE) {
		print_message("# no disassembler in this build: pd at the PC not checked\n");
		return;
	}
	struct rap_core *c = core_on_hello();
	char *want = vector_block("r2 -q -e scr.color=0 -d -c db main -c dc -c pd 4 @ rip -c pi 4 @ rip -c dbt -c dk 9 -c dp hello");
	struct run r = run(c, "pd 4 @ rip");
	assert_int_equal(r.rc, 0);
	assert_memory_equal(r.out, "            ;-- rip:\n            0x", 35);
	struct run bytes = run(c, "p8 15 @ rip");
	if (!strcmp(bytes.out, "4889e7e8f80b00004989c4488b1424\n")) {
		uint64_t rip;
		assert_int_equal(rap_dbg_reg_get(rap_io_dbg(rap_core_io(c), rap_core_current_fd(c)), "rip", &rip), 0);
		/* the transcript's block with every 0x7f... address moved */
		char moved[4096];
		size_t n = 0;
		const uint64_t old_rip = 0x7f5df2ac2b70u;
		for (const char *p = want; *p && n + 32 < sizeof(moved);) {
			if (!strncmp(p, "0x7f", 4)) {
				char *end;
				uint64_t v = strtoull(p, &end, 16);
				n += (size_t)snprintf(moved + n, sizeof(moved) - n, "0x%" PRIx64, v - old_rip + rip);
				p = end;
			} else {
				moved[n++] = *p++;
			}
		}
		moved[n] = '\0';
		/* pd's 5 lines, then pi's 4 */
		const char *cut = moved;
		for (int i = 0; i < 5; i++)
			cut = strchr(cut, '\n') + 1;
		assert_memory_equal(r.out, moved, (size_t)(cut - moved));
		assert_int_equal(strlen(r.out), (size_t)(cut - moved));
		struct run pi = run(c, "pi 4 @ rip");
		assert_memory_equal(pi.out, cut, strlen(pi.out));
		run_free(&pi);
	} else {
		print_message("# this loader is not the transcript's: the pd layout only\n");
	}
	run_free(&bytes);
	run_free(&r);
	free(want);
	rap_core_free(c);
}

/* dso steps over a call (add() runs, the PC is after the call); a breakpoint inside the
 * call stops it there instead. */
static void test_dso_over_call(void **state)
{
	(void)state;
	if (!RAP_TEST_HAVE_CAPSTONE) {
		print_message("# no disassembler in this build: dso steps into calls\n");
		return;
	}
	struct rap_core *c = core_on_hello();
	char line[64];
	snprintf(line, sizeof(line), "dcu 0x%x", DEBUGGEE_MAIN);
	expect_out(c, line, "");
	/* step to main's call of add (bounded) */
	uint64_t call_pc = 0;
	for (int i = 0; i < 40 && !call_pc; i++) {
		struct run r = run(c, "pi 1");
		snprintf(line, sizeof(line), "call 0x%x\n", DEBUGGEE_ADD);
		if (!strcmp(r.out, line))
			call_pc = rap_core_offset(c);
		else
			expect_out(c, "ds", "");
		run_free(&r);
	}
	assert_true(call_pc != 0);
	snprintf(line, sizeof(line), "0x%08" PRIx64 "\n", call_pc + 5);
	expect_out(c, "dso; dr rip", line);
	expect_out(c, "dr rax", "0x00001234\n"); /* add(0x1234, 0) ran */
	/* the next call, with a breakpoint in add: dso stops there */
	snprintf(line, sizeof(line), "dcu 0x%" PRIx64, call_pc);
	expect_out(c, line, "");
	snprintf(line, sizeof(line), "db 0x%x", DEBUGGEE_ADD);
	expect_out(c, line, "");
	snprintf(line, sizeof(line), "0x%08x\n", DEBUGGEE_ADD);
	expect_out(c, "dso 3; dr rip", line);
	rap_core_free(c);
}

struct dc_thread {
	struct rap_core *c;
	struct run r;
};

static void *dc_main(void *arg)
{
	struct dc_thread *t = arg;
	t->r = run(t->c, "dc");
	return NULL;
}

/* Ctrl-C (rap_core_interrupt, as rapcli's signal handler calls it) stops a running dc; the
 * process lives on and can be continued again. */
static void test_dc_interrupted(void **state)
{
	(void)state;
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	rap_core_set_policy(c, RAP_CORE_POLICY_ALL);
	rap_io_set_dbg_output(rap_core_io(c), -1);
	assert_true(rap_core_open(c, "dbg://" RAP_TEST_SPIN, RAP_PERM_RW) >= 3);
	pid_t pid = core_pid(c);
	/* In main first: an interrupt during the dynamic loader's start (a busy machine may
	 * not run the program for the first few milliseconds) would stop it outside its loop. */
	char line[64];
	snprintf(line, sizeof(line), "dcu 0x%x", DEBUGGEE_SPIN_MAIN);
	expect_out(c, line, "");
	struct dc_thread t = { .c = c };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, dc_main, &t), 0);
	/* interrupt until the dc returns (bounded): the first may come before it runs */
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	bool joined = false;
	for (int i = 0; i < 1000 && !joined; i++) {
		nanosleep(&ts, NULL);
		rap_core_interrupt(c);
		joined = pthread_tryjoin_np(th, NULL) == 0;
	}
	assert_true(joined);
	assert_non_null(strstr(t.r.err, "INFO: interrupted at 0x"));
	run_free(&t.r);
	assert_int_equal(kill(pid, 0), 0);
	struct run r = run(c, "dr rip");
	assert_memory_equal(r.out, "0x00401", 7); /* in the program's loop */
	run_free(&r);
	rap_core_free(c);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

/* Debugger commands need the write level and a dbg:// file; their help needs neither. */
static void test_policy(void **state)
{
	(void)state;
	struct rap_core *c = core_on_hello();
	rap_core_set_policy(c, RAP_CORE_POLICY_READ);
	expect_fail(c, "dr", RAP_EDENIED, "refused");
	expect_fail(c, "ds", RAP_EDENIED, "refused");
	struct run r = run(c, "ds?");
	assert_int_equal(r.rc, 0);
	run_free(&r);
	rap_core_set_policy(c, RAP_CORE_POLICY_WRITE);
	expect_out(c, "dr rax", "0x00000000\n");
	rap_core_free(c);

	assert_int_equal(rap_core_new(&c), 0);
	rap_core_set_policy(c, RAP_CORE_POLICY_ALL);
	expect_fail(c, "dr", RAP_EBADFD, "not a dbg:// file");
	assert_true(rap_core_open(c, "malloc://16", RAP_PERM_RW) >= 3);
	expect_fail(c, "ds", RAP_EBADFD, "not a dbg:// file");
	expect_fail(c, "?v rip", RAP_EINVAL, "");
	rap_core_free(c);
}

/* A served core (a rapsrv session): 'o dbg://' only where the operator allowed the scheme,
 * and the program beneath the root. */
static void test_served_open(void **state)
{
	(void)state;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", RAP_TEST_DEBUGGEE);
	*strrchr(dir, '/') = '\0';
	for (int allowed = 0; allowed < 2; allowed++) {
		struct rap_core *c;
		assert_int_equal(rap_core_new(&c), 0);
		struct rap_io *io = rap_core_io(c);
		rap_io_set_dbg_output(io, -1);
		assert_int_equal(rap_io_set_root(io, dir), 0);
		assert_int_equal(rap_io_set_allowed_plugins(io, allowed ? "file,dbg" : "file"), 0);
		rap_core_set_policy(c, RAP_CORE_POLICY_WRITE);
		rap_core_set_served(c);
		if (!allowed) {
			expect_fail(c, "o dbg://dbg_hello", RAP_EDENIED, "cannot open 'dbg://dbg_hello'");
		} else {
			expect_out(c, "o dbg://dbg_hello; dr orax", "0x0000003b\n");
			expect_fail(c, "o dbg:///bin/true", RAP_EDENIED, "cannot open");
		}
		rap_core_free(c);
	}
}

int main(void)
{
	/* Where tracing is not permitted (Yama, a container without CAP_SYS_PTRACE, a seccomp
	 * policy) or not implemented (qemu-user, which runs the cross builds' tests), skip,
	 * saying why: a probe start tells what the configuration does not. Every test here
	 * debugs a process and compares with radare2's x86-64 session. */
	const char *why = rap_dbg_ptrace_denied_reason();
#if !defined(__x86_64__)
	if (!why)
		why = "the debugger commands are compared with radare2's x86-64 session";
#endif
	if (!why) {
		int fd = open(RAP_TEST_DEBUGGEE, O_RDONLY | O_CLOEXEC);
		const char *argv[] = { RAP_TEST_DEBUGGEE, NULL };
		struct rap_dbg *probe = NULL;
		int rc = fd >= 0 ? rap_dbg_start(fd, argv, NULL, &probe) : 0;
		if (fd >= 0)
			close(fd);
		rap_dbg_free(probe);
		if (rc == -EPERM)
			why = "ptrace is not permitted here (no CAP_SYS_PTRACE, or a seccomp policy or container forbids it)";
		else if (rc == -ENOSYS)
			why = "ptrace is not implemented here (qemu-user emulates none: compile-tested only)";
	}
	if (why) {
		printf("1..0 # SKIP dbg_core (every test): %s\n", why);
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dr),
		cmocka_unit_test(test_drp_and_help),
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_cached_process),
		cmocka_unit_test(test_addresses_and_reads),
		cmocka_unit_test(test_pd_at_pc),
		cmocka_unit_test(test_dso_over_call),
		cmocka_unit_test(test_dc_interrupted),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_served_open),
	};
	return cmocka_run_group_tests_name("dbg_core", tests, NULL, NULL);
}
