/* The command language: syntax, every command, errors, the policy levels and quitting. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"

#define SAMPLE_SIZE 4096

static uint8_t sample[SAMPLE_SIZE];

struct fixture {
	struct rap_core *c;
	char path[64];
	int fd;
};

static void make_sample(void)
{
	for (size_t o = 0; o < SAMPLE_SIZE; o += 16) {
		char rec[17];
		snprintf(rec, sizeof(rec), "@%08zx|rap2!\n", o);
		memcpy(sample + o, rec, 16);
	}
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static size_t read_file(const char *path, void *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* A core with the sample opened read-write (fd kept in the fixture). */
static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	make_sample();
	strcpy(fx->path, "/tmp/rap-test-core-XXXXXX");
	int fd = mkstemp(fx->path);
	if (fd < 0)
		return -1;
	close(fd);
	write_file(fx->path, sample, sizeof(sample));
	if (rap_core_new(&fx->c) < 0)
		return -1;
	fx->fd = rap_core_open(fx->c, fx->path, RAP_PERM_RW);
	if (fx->fd < 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	rap_core_free(fx->c);
	unlink(fx->path);
	free(fx);
	return 0;
}

struct result {
	int rc;
	char *out;
	char *err;
};

static struct result run(struct rap_core *c, const char *line)
{
	struct result r;
	r.rc = rap_core_cmd_str(c, line, &r.out, &r.err);
	assert_non_null(r.out);
	assert_non_null(r.err);
	return r;
}

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* Runs line, expects success, no error text and exactly want on stdout. */
static void expect_out(struct rap_core *c, const char *line, const char *want)
{
	struct result r = run(c, line);
	if (r.rc != 0 || strcmp(r.out, want) != 0 || r.err[0])
		fail_msg("'%s': rc %d\n--- out\n%s--- want\n%s--- err\n%s", line, r.rc, r.out, want, r.err);
	result_free(&r);
}

/* Runs line, expects failure rc with a single error line containing needle. */
static void expect_err(struct rap_core *c, const char *line, int rc, const char *needle)
{
	struct result r = run(c, line);
	if (r.rc != rc || !strstr(r.err, needle))
		fail_msg("'%s': rc %d (want %d)\n--- err\n%s--- want substring '%s'", line, r.rc, rc, r.err, needle);
	assert_true(strncmp(r.err, "error: ", 7) == 0);
	result_free(&r);
}

static size_t open_count(struct rap_io *io)
{
	return rap_io_fds(io, NULL, 0);
}

/* ---- syntax -------------------------------------------------------------------------- */

static void test_separators_and_comments(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "?e a; ?e b;?e c", "a\nb\nc\n");
	expect_out(c, "?e a\n?e b\r\n\n", "a\nb\n");
	expect_out(c, "", "");
	expect_out(c, "   ;  ; \n", "");
	expect_out(c, "# a comment; ?e not run", "");
	expect_out(c, "?e a # trailing comment; ?e hidden\n?e next line", "a\nnext line\n");
	expect_out(c, "  # indented comment", "");
	/* '#' glued to a word is not a comment */
	expect_out(c, "?e issue#42", "issue#42\n");
}

static void test_quotes(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "?e \"a;b\"", "a;b\n");
	expect_out(c, "?e 'x @ y ~ z > w'", "x @ y ~ z > w\n");
	/* radare2's quoted command: no special characters inside */
	expect_out(c, "\"?e x;y@z\"", "x;y@z\n");
	expect_out(c, "\"?e x;y\" ~x", "x;y\n");
	/* an unmatched quote is an ordinary character */
	expect_out(c, "?e don't", "don't\n");
}

static void test_numbers(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "s 0x100+16; s", "0x110\n");
	expect_out(c, "s 10-2; s", "0x8\n");
	expect_out(c, "s 0x10 + 0x20 - 1; s", "0x2f\n");
	expect_out(c, "s $$+4; s", "0x33\n");
	expect_out(c, "?v $s", "0x1000\n");
	expect_out(c, "?v $b+1", "0x101\n");
	expect_out(c, "?v 0xffffffffffffffff", "0xffffffffffffffff\n");
	expect_out(c, "?v 0-1", "0xffffffffffffffff\n");
	expect_out(c, "?v 18446744073709551615", "0xffffffffffffffff\n");
	expect_err(c, "s 0x10000000000000000", RAP_EINVAL, "invalid address");
	expect_err(c, "s 18446744073709551616", RAP_EINVAL, "invalid address");
	expect_err(c, "s foo", RAP_EINVAL, "invalid address 'foo'");
	expect_err(c, "s 12abc", RAP_EINVAL, "invalid address");
	expect_err(c, "s 0x", RAP_EINVAL, "invalid address");
	expect_err(c, "s 1+", RAP_EINVAL, "invalid address");
	expect_err(c, "px zz", RAP_EINVAL, "invalid length 'zz'");
	expect_out(c, "s", "0x33\n");
}

static void test_temporary_seek(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "s 0x40", "");
	expect_out(c, "p8 4 @ 0x10", "40303030\n");
	expect_out(c, "p8 4 @0x10", "40303030\n");
	expect_out(c, "p8 4@0x10", "40303030\n");
	expect_out(c, "s", "0x40\n");
	/* even a command that seeks is undone */
	expect_out(c, "s 0x99 @ 0x10; s", "0x40\n");
	/* ADDR!LEN also sets the block size for that command */
	expect_out(c, "p8 @ 0x20!3", "403030\n");
	expect_out(c, "b", "0x100\n");
	expect_err(c, "p8 4 @ nowhere", RAP_EINVAL, "invalid address 'nowhere'");
	expect_err(c, "p8 4 @", RAP_EINVAL, "'@' needs an address");
	expect_err(c, "p8 4 @@ s:0x10", RAP_ENOTSUP, "'@@'");
	expect_err(c, "p8 4 @ 1 @ 2", RAP_EINVAL, "only one '@'");
	expect_err(c, "@ 0x10", RAP_EINVAL, "missing command");
	expect_out(c, "s", "0x40\n");
}

static void test_filters(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "px 64~0020", "0x00000020  4030 3030 3030 3032 307c 7261 7032 210a  @00000020|rap2!.\n");
	expect_out(c, "px 48 ~!rap2", "- offset -   0 1  2 3  4 5  6 7  8 9  A B  C D  E F  0123456789ABCDEF\n");
	expect_out(c, "px 64~rap~!0x00000010~!0x00000030", "0x00000000  4030 3030 3030 3030 307c 7261 7032 210a  @00000000|rap2!.\n"
							  "0x00000020  4030 3030 3030 3032 307c 7261 7032 210a  @00000020|rap2!.\n");
	expect_out(c, "px 64 @ 0x100 ~0110", "0x00000110  4030 3030 3030 3131 307c 7261 7032 210a  @00000110|rap2!.\n");
	expect_out(c, "e~port", "http.port = 9090\n");
	expect_out(c, "?e nothing~zzz", "");
}

static void test_redirect(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	char path[] = "/tmp/rap-test-core-out-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char line[256], buf[256];
	snprintf(line, sizeof(line), "p8 4 > %s", path);
	expect_out(c, line, "");
	size_t n = read_file(path, buf, sizeof(buf));
	assert_int_equal(n, 9);
	assert_memory_equal(buf, "40303030\n", 9);
	snprintf(line, sizeof(line), "?e more >> %s", path);
	expect_out(c, line, "");
	snprintf(line, sizeof(line), "px 64 ~0x00000030 >%s", path);
	expect_out(c, line, "");
	n = read_file(path, buf, sizeof(buf));
	buf[n] = '\0';
	assert_string_equal(buf, "0x00000030  4030 3030 3030 3033 307c 7261 7032 210a  @00000030|rap2!.\n");
	unlink(path);
	expect_err(c, "?e x > /nonexistent-dir/x", -2, "cannot open '/nonexistent-dir/x'");
	expect_err(c, "?e x >", RAP_EINVAL, "needs a file name");
}

static void test_unknown_and_errors(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	struct result r = run(c, "nosuchcommand arg; ?e still runs; wat");
	assert_int_equal(r.rc, RAP_ENOTSUP);
	assert_string_equal(r.out, "still runs\n");
	assert_string_equal(r.err, "error: unknown command 'nosuchcommand' (see '?')\n"
				   "error: unknown command 'wat' (see '?')\n");
	result_free(&r);
	/* the first failure is the one returned */
	r = run(c, "s bad; nosuch");
	assert_int_equal(r.rc, RAP_EINVAL);
	result_free(&r);
	expect_err(c, "=x", RAP_ENOTSUP, "'= x'");
	expect_err(c, "p", RAP_ENOTSUP, "unknown command 'p'");
	expect_err(c, "pxyz", RAP_ENOTSUP, "'pxyz'");
	/* hostile input never crashes */
	static const char *const junk[] = {
		"@", "~", ">", ";;;", "\"", "'", "\"\"", "@@@", "~!", "s ~", "px @ ~", "px -", "wx",
		"o -", "o-", "e =", "e ==", "?v", "b 0", "s+", "s-", "!", ":", "=!", "x@0x10!0",
		"px 0xffffffffffffffff", "px -0x8000000000000000", "wz", "w", "o \"", "i extra",
	};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		r = run(c, junk[i]);
		result_free(&r);
	}
}

/* ---- commands -------------------------------------------------------------------------- */

static void test_seek_commands(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "s", "0x0\n");
	expect_out(c, "s 0x1230; s", "0x1230\n");
	expect_out(c, "s+ 0x10; s", "0x1240\n");
	expect_out(c, "s- 0x40; s", "0x1200\n");
	expect_out(c, "s+16; s", "0x1210\n");
	expect_out(c, "s-0x10; s", "0x1200\n");
	expect_out(c, "s++; s", "0x1300\n");
	expect_out(c, "s--; s--; s", "0x1100\n");
	expect_out(c, "s 0x30000; s", "0x30000\n");
	assert_int_equal(rap_core_offset(c), 0x30000);
	assert_int_equal(rap_core_seek(c, 0x42), 0);
	expect_out(c, "s", "0x42\n");
	expect_err(c, "s+", RAP_EINVAL, "missing argument for 's+'");
	expect_out(c, "s?", "Usage: s[+-] [addr]   print or change the position\n"
			    "| s       print the current position\n"
			    "| s addr  seek to addr (0x hex, decimal, $$ $s $b, + and -)\n"
			    "| s+ n    seek n bytes forward\n"
			    "| s- n    seek n bytes backward\n"
			    "| s++     seek one block forward\n"
			    "| s--     seek one block backward\n");
}

static void test_block_command(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "b", "0x100\n");
	expect_out(c, "b 16; b", "0x10\n");
	expect_out(c, "p8", "4030303030303030307c72617032210a\n");
	expect_out(c, "b 0x100", "");
	expect_err(c, "b 0", RAP_EINVAL, "out of range");
	expect_err(c, "b 0x1000001", RAP_EINVAL, "out of range");
	expect_err(c, "px 0x1000001", RAP_ETOOBIG, "larger than the maximum");
	expect_out(c, "b", "0x100\n");
}

static void test_print_commands(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "px 16", "- offset -   0 1  2 3  4 5  6 7  8 9  A B  C D  E F  0123456789ABCDEF\n"
			       "0x00000000  4030 3030 3030 3030 307c 7261 7032 210a  @00000000|rap2!.\n");
	expect_out(c, "x 2 @ 0x1001", "- offset -   1 2  3 4  5 6  7 8  9 A  B C  D E  F10  123456789ABCDEF0\n"
				      "0x00001001  ffff                                     ..\n");
	expect_out(c, "px16", "- offset -   0 1  2 3  4 5  6 7  8 9  A B  C D  E F  0123456789ABCDEF\n"
			      "0x00000000  4030 3030 3030 3030 307c 7261 7032 210a  @00000000|rap2!.\n");
	expect_out(c, "p8 4 @ 0x10", "40303030\n");
	expect_out(c, "p8 2 @ 0xfff", "0aff\n");
	expect_out(c, "pr 16 @ 0x20", "@00000020|rap2!\n");
	expect_out(c, "pr 3 @ 0xfff", "\n\xff\xff");
	expect_out(c, "p8 4 @ 0xfffffffffffffffe", "ffffffff\n");
	expect_out(c, "px?", "Usage: p[x8r] [len]   print bytes\n"
			     "| px [len]  hexdump of len bytes (default: the block size; -len: before)\n"
			     "| x [len]   alias of px\n"
			     "| p8 [len]  bytes as one hex string\n"
			     "| pr [len]  raw bytes\n");
}

static void test_write_commands(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c = fx->c;
	uint8_t buf[SAMPLE_SIZE + 64];
	expect_out(c, "wx 41424344", "");
	expect_out(c, "wx 45 46 @ 4", "");
	expect_out(c, "s 0x10; w hi\\n\\x21; wz end @ 0x20", "");
	expect_out(c, "w \"quoted text\" @ 0x30", "");
	size_t n = read_file(fx->path, buf, sizeof(buf));
	assert_int_equal(n, SAMPLE_SIZE);
	assert_memory_equal(buf, "ABCDEF", 6);
	assert_memory_equal(buf + 6, sample + 6, 10);
	assert_memory_equal(buf + 0x10, "hi\n!", 4);
	assert_memory_equal(buf + 0x14, sample + 0x14, 12);
	assert_memory_equal(buf + 0x20, "end\0", 4);
	assert_memory_equal(buf + 0x30, "quoted text", 11);
	/* writes do not move the position */
	expect_out(c, "s", "0x10\n");
	expect_err(c, "wx 4", RAP_EINVAL, "invalid hex string");
	expect_err(c, "wx 41zz", RAP_EINVAL, "invalid hex string '41zz'");
	expect_err(c, "wx", RAP_EINVAL, "missing argument for 'wx'");
	expect_err(c, "w", RAP_EINVAL, "missing argument for 'w'");
	/* a file opened read-only refuses with a clear reason and stays unchanged */
	expect_out(c, "o--", "");
	char line[128];
	snprintf(line, sizeof(line), "o %s", fx->path);
	expect_out(c, line, "");
	expect_err(c, "wx 00", RAP_EDENIED, "is open read-only");
	expect_err(c, "wz x", RAP_EDENIED, "is open read-only");
	n = read_file(fx->path, buf, sizeof(buf));
	assert_memory_equal(buf, "ABCD", 4);
	expect_out(c, "o--", "");
	expect_err(c, "wx 00", RAP_EBADFD, "no file is open");
	expect_err(c, "px", RAP_EBADFD, "no file is open");
}

static void test_open_commands(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c = fx->c;
	char want[512], line[256];
	snprintf(want, sizeof(want), "%2d * rw- 0x00001000 %s\n", fx->fd, fx->path);
	expect_out(c, "o", want);
	expect_out(c, "s 0x20", "");
	expect_out(c, "o malloc://32 rw", "");
	int fd2 = rap_core_current_fd(c);
	assert_true(fd2 > fx->fd);
	expect_out(c, "s", "0x0\n");
	expect_out(c, "p8 4", "00000000\n");
	snprintf(line, sizeof(line), "o+ %s", fx->path);
	expect_out(c, line, "");
	int fd3 = rap_core_current_fd(c);
	snprintf(line, sizeof(line), "o %s r", fx->path);
	expect_out(c, line, "");
	int fd4 = rap_core_current_fd(c);
	snprintf(want, sizeof(want),
		 "%2d - rw- 0x00001000 %s\n%2d - rw- 0x00000020 malloc://32\n%2d - rwx 0x00001000 %s\n%2d * r-- 0x00001000 %s\n",
		 fx->fd, fx->path, fd2, fd3, fx->path, fd4, fx->path);
	expect_out(c, "o", want);
	/* closing the current file makes the highest remaining one current */
	snprintf(line, sizeof(line), "o-%d", fd4);
	expect_out(c, line, "");
	assert_int_equal(rap_core_current_fd(c), fd3);
	snprintf(line, sizeof(line), "o- %d", fx->fd);
	expect_out(c, line, "");
	assert_int_equal(rap_core_current_fd(c), fd3);
	expect_err(c, "o-999", RAP_EBADFD, "cannot close fd 999");
	expect_err(c, "o /nonexistent/file", -2, "cannot open '/nonexistent/file'");
	expect_err(c, "o malloc://1 q", RAP_EINVAL, "invalid permissions 'q'");
	expect_err(c, "o a b c", RAP_EINVAL, "usage: o URI [perm]");
	expect_out(c, "o-*", "");
	assert_int_equal(rap_core_current_fd(c), -1);
	expect_out(c, "o", "");
	/* quoted arguments; the block reads past the 8 bytes as 0xff */
	char p8[600] = "";
	for (int i = 0; i < 256; i++)
		strcat(p8, i < 8 ? "00" : "ff");
	strcat(p8, "\n");
	expect_out(c, "o \"malloc://8\" 'rw'; p8", p8);
}

static void test_info_command(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c = fx->c;
	char want[512];
	snprintf(want, sizeof(want),
		 "fd       %d\nfile     %s\nsize     0x1000\nhumansz  4K\nmode     rw-\nformat   null\niorw     true\nblock    0x100\n",
		 fx->fd, fx->path);
	expect_out(c, "i", want);
	expect_out(c, "i*; f*; om*", "");
	expect_out(c, "o malloc://1536; b 4", "");
	snprintf(want, sizeof(want),
		 "fd       %d\nfile     malloc://1536\nsize     0x600\nhumansz  1.5K\nmode     r-x\nformat   null\niorw     false\nblock    0x4\n",
		 rap_core_current_fd(c));
	expect_out(c, "i", want);
	expect_out(c, "o--", "");
	expect_err(c, "i", RAP_EBADFD, "no file is open");
	expect_out(c, "i*", "");
}

static void test_eval_command(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "e", "asm.arch = x86\nasm.bits = 64\nasm.comments = true\nasm.lines = true\ncfg.bigendian = false\n"
			   "http.auth = \nhttp.bind = localhost\nhttp.cert = \nhttp.key = \nhttp.port = 9090\n"
			   "io.cache.size = 67108864\nio.special = false\nrap.bind = localhost\nrap.loop = true\nscr.color = 0\n"
			   "search.from = 0xffffffffffffffff\nsearch.in = io.maps\nsearch.maxhits = 0\n"
			   "search.to = 0xffffffffffffffff\n"
			   "srv.cmd = read\nsrv.shell = false\ntcp.bind = localhost\n");
	expect_out(c, "e rap.loop", "true\n");
	expect_out(c, "e rap.loop=0; e rap.loop", "false\n");
	expect_out(c, "e rap.loop = true; e rap.loop", "true\n");
	expect_out(c, "e http.bind=::1; e http.bind", "::1\n");
	expect_out(c, "e http.port=8080; e http.port", "8080\n");
	expect_out(c, "e scr.color=0", "");
	expect_out(c, "e scr.color=false; e scr.color", "0\n");
	expect_err(c, "e scr.color=1", RAP_EINVAL, "invalid value '1' for 'scr.color'");
	expect_err(c, "e http.port=0", RAP_EINVAL, "invalid value '0'");
	expect_err(c, "e http.port=70000", RAP_EINVAL, "invalid value");
	expect_err(c, "e http.port=-1", RAP_EINVAL, "invalid value");
	expect_err(c, "e rap.loop=maybe", RAP_EINVAL, "invalid value");
	expect_err(c, "e tcp.bind=", RAP_EINVAL, "invalid value");
	expect_err(c, "e no.such", RAP_EINVAL, "unknown variable 'no.such'");
	expect_err(c, "e no.such=1", RAP_EINVAL, "unknown variable 'no.such'");
	assert_string_equal(rap_core_config_get(c, "http.port"), "8080");
	assert_null(rap_core_config_get(c, "nope"));
	assert_int_equal(rap_core_config_set(c, "tcp.bind", "0.0.0.0"), 0);
	assert_string_equal(rap_core_config_get(c, "tcp.bind"), "0.0.0.0");
	assert_int_equal(rap_core_config_set(c, "nope", "1"), RAP_EINVAL);
	assert_int_equal(rap_core_config_set(c, "rap.loop", "yes"), RAP_EINVAL);
}

static void test_misc_commands(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "?V", "rap " RAP_VERSION_STRING "\n");
	expect_out(c, "?e hello   world", "hello   world\n");
	expect_out(c, "?e", "\n");
	struct result r = run(c, "?");
	assert_int_equal(r.rc, 0);
	assert_true(strncmp(r.out, "Usage: ", 7) == 0);
	for (const char *w = "\n| s\n| b\n| px\n| p8\n| pr\n| w\n| o\n| i\n| e\n| !\n| =!\n| ?V\n| q\n"; *w;) {
		char word[16];
		size_t n = strcspn(w + 1, "\n");
		snprintf(word, sizeof(word), "%.*s", (int)n + 1, w);
		assert_non_null(strstr(r.out, word));
		w += n + 1;
	}
	result_free(&r);
	/* every family has a help page */
	static const char *const families[] = { "?", "??", "s?", "s+?", "b?", "px?", "x?", "p8?", "pr?", "p?",
						 "pd?", "pi?", "pD?",
						 "w?", "wx?", "wz?", "wtf?", "wff?", "o?", "o-?", "i?", "e?", "q?",
						 "!?", "=?", "=+?", "=-?", "=<?", "==?", "=!=?", "=!?", "=:?",
						 "=&?", "=t?", "=h?", "=H?", "=g?",
						 "/?", "/x?", "/w?", "ph?" };
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		r = run(c, families[i]);
		assert_int_equal(r.rc, 0);
		assert_true(strncmp(r.out, "Usage: ", 7) == 0);
		assert_string_equal(r.err, "");
		/* Every page fits an 80-column terminal. */
		for (const char *line = r.out; *line;) {
			const char *nl = strchr(line, '\n');
			size_t len = nl ? (size_t)(nl - line) : strlen(line);
			if (len > 80)
				fail_msg("'%s' has a line of %zu columns: %.*s", families[i], len, (int)len, line);
			line += len + (nl != NULL);
		}
		result_free(&r);
	}
	/* "?" leads to the '=' family. */
	r = run(c, "?");
	assert_non_null(strstr(r.out, "| =?"));
	result_free(&r);
	/* =! and : go through the IO plugin: a plain file has none, and radare2 prints nothing */
	expect_out(c, "=!?V; :?V; =! px", "");
}

static void test_shell(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	expect_out(c, "!echo hello", "hello\n");
	expect_out(c, "! printf 'a;b'", "a;b");
	struct result r = run(c, "!echo out; !echo err >&2");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "out\n");
	assert_string_equal(r.err, "err\n");
	result_free(&r);
	/* the shell sees its own special characters */
	expect_out(c, "!echo a~b | tr a z", "z~b\n");
	expect_out(c, "\"!echo x; echo y\"", "x\ny\n");
	/* a failing command is not a command-language error */
	expect_out(c, "!exit 3", "");
	/* no descriptor of ours leaks into the shell */
	r = run(c, "!ls /proc/self/fd");
	assert_string_equal(r.out, "0\n1\n2\n3\n");
	result_free(&r);
	expect_err(c, "!", RAP_EINVAL, "missing argument for '!'");
	rap_core_set_allow_shell(c, false);
	expect_err(c, "!echo no", RAP_EDENIED, "refused by the server's command policy (shell commands are disabled)");
	expect_err(c, "\"!echo no\"", RAP_EDENIED, "refused");
}

static void test_quit(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	assert_false(rap_core_quit_requested(c));
	expect_out(c, "?e a; q; ?e b", "a\n");
	assert_true(rap_core_quit_requested(c));
	/* a quit core runs nothing more */
	expect_out(c, "?e c", "");
}

/* ---- policy ------------------------------------------------------------------------------ */

static void expect_refused(struct rap_core *c, const char *line, const char *word, const char *level)
{
	char needle[256];
	snprintf(needle, sizeof(needle), "command '%s' refused by the server's command policy (%s)", word, level);
	struct result r = run(c, line);
	if (r.rc != RAP_EDENIED || !strstr(r.err, needle))
		fail_msg("'%s': rc %d\n--- err\n%s--- want '%s'", line, r.rc, r.err, needle);
	result_free(&r);
}

static void test_policy_none(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	rap_core_set_policy(c, RAP_CORE_POLICY_NONE);
	expect_refused(c, "?V", "?V", "none");
	expect_refused(c, "px 16", "px", "none");
	expect_refused(c, "s 0x10", "s", "none");
	expect_refused(c, "!id", "!", "none");
	expect_refused(c, "nosuch", "nosuch", "none");
	expect_out(c, "", "");
	expect_out(c, "# only a comment", "");
	/* out-of-range levels fall back to none rather than widening */
	rap_core_set_policy(c, (enum rap_core_policy)42);
	expect_refused(c, "?V", "?V", "none");
}

static void test_policy_read(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c = fx->c;
	rap_core_set_policy(c, RAP_CORE_POLICY_READ);
	rap_core_set_allow_shell(c, false);
	/* everything the spec lists for read */
	struct result r = run(c, "s 0x10; s+ 1; s- 1; s; b 0x10; b; px 4; x 4; p8 4; pr 4; i; o; ?; ?V; ?e x; e; e rap.loop; i*; f*; om*; s?; b 0x100");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	result_free(&r);
	expect_refused(c, "wx 41", "wx", "read");
	expect_refused(c, "w a", "w", "read");
	expect_refused(c, "wz a", "wz", "read");
	expect_refused(c, "o malloc://4", "o", "read");
	expect_refused(c, "o+ malloc://4", "o+", "read");
	char line[64];
	snprintf(line, sizeof(line), "o-%d", fx->fd);
	expect_refused(c, line, "o-", "read");
	expect_refused(c, "o--", "o--", "read");
	expect_refused(c, "e rap.loop=false", "e", "read");
	expect_refused(c, "=!?V", "=!", "read");
	expect_refused(c, ":?V", "=!", "read");
	expect_err(c, "!id", RAP_EDENIED, "refused by the server's command policy (shell commands are disabled)");
	/* nothing sneaks through ';', '@', '~', '>', quotes, glued arguments or newlines */
	r = run(c, "p8 1; wx 41; p8 1");
	assert_int_equal(r.rc, RAP_EDENIED);
	assert_string_equal(r.out, "40\n40\n");
	assert_string_equal(r.err, "error: command 'wx' refused by the server's command policy (read)\n");
	result_free(&r);
	expect_refused(c, "wx 41 @ 0", "wx", "read");
	expect_refused(c, "wx 41 ~x", "wx", "read");
	expect_refused(c, "\"wx 41\"", "wx", "read");
	expect_refused(c, "?e x\nwx 41", "wx", "read");
	expect_refused(c, "o-3", "o-", "read");
	expect_err(c, "p8 1 > /tmp/rap-test-core-never", RAP_EDENIED,
		   "output redirection to '/tmp/rap-test-core-never' refused by the server's command policy (read)");
	assert_int_equal(access("/tmp/rap-test-core-never", F_OK), -1);
	expect_err(c, "p8 1 >> /tmp/rap-test-core-never", RAP_EDENIED, "refused");
	assert_int_equal(access("/tmp/rap-test-core-never", F_OK), -1);
	expect_out(c, "?e a@0x10", "a\n"); /* '@' is a temporary seek, nothing more */
	uint8_t buf[8];
	read_file(fx->path, buf, sizeof(buf));
	assert_memory_equal(buf, sample, sizeof(buf));
	assert_int_equal(rap_core_current_fd(c), fx->fd);
	assert_string_equal(rap_core_config_get(c, "rap.loop"), "true");
}

static void test_policy_write_and_all(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c = fx->c;
	rap_core_set_policy(c, RAP_CORE_POLICY_WRITE);
	rap_core_set_allow_shell(c, false);
	expect_out(c, "wx 41; w B @ 1; wz C @ 2; o malloc://4; o--", "");
	char line[128];
	snprintf(line, sizeof(line), "o %s rw", fx->path);
	expect_out(c, line, "");
	expect_refused(c, "e rap.loop=false", "e", "write");
	expect_refused(c, "=!?V", "=!", "write");
	expect_err(c, "p8 1 > /tmp/rap-test-core-never", RAP_EDENIED, "(write)");
	expect_err(c, "!id", RAP_EDENIED, "shell commands are disabled");
	rap_core_set_policy(c, RAP_CORE_POLICY_ALL);
	expect_out(c, "e rap.loop=false; =!?V", "");
	expect_err(c, "!id", RAP_EDENIED, "shell commands are disabled");
	/* the shell switch works at every level but none */
	rap_core_set_allow_shell(c, true);
	rap_core_set_policy(c, RAP_CORE_POLICY_READ);
	expect_out(c, "!echo ok", "ok\n");
	uint8_t buf[4];
	read_file(fx->path, buf, sizeof(buf));
	assert_memory_equal(buf, "ABC\0", 4);
}

/* ---- API ------------------------------------------------------------------------------------- */

static void test_api(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c = fx->c;
	char prompt[32];
	assert_int_equal(rap_core_prompt(c, prompt, sizeof(prompt)), 14);
	assert_string_equal(prompt, "[0x00000000]> ");
	rap_core_seek(c, 0x123456789a);
	assert_int_equal(rap_core_prompt(c, prompt, sizeof(prompt)), 16);
	assert_string_equal(prompt, "[0x123456789a]> ");
	assert_int_equal(rap_core_prompt(c, prompt, 5), 4);
	assert_string_equal(prompt, "[0x1");
	assert_int_equal(rap_core_current_fd(c), fx->fd);
	assert_non_null(rap_core_io(c));
	assert_non_null(rap_core_rap_handler());

	/* output goes where rap_core_set_output says */
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, elen = 0;
	FILE *of = open_memstream(&obuf, &olen), *ef = open_memstream(&ebuf, &elen);
	rap_core_set_output(c, of, ef);
	assert_int_equal(rap_core_cmd(c, "?e to out; nope"), RAP_ENOTSUP);
	rap_core_set_output(c, NULL, NULL);
	fclose(of);
	fclose(ef);
	assert_string_equal(obuf, "to out\n");
	assert_string_equal(ebuf, "error: unknown command 'nope' (see '?')\n");
	free(obuf);
	free(ebuf);

	/* either capture may be dropped */
	assert_int_equal(rap_core_cmd_str(c, "?e x; nope", NULL, NULL), RAP_ENOTSUP);
	char *out;
	assert_int_equal(rap_core_cmd_str(c, "nope", &out, NULL), RAP_ENOTSUP);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(rap_core_cmd(c, NULL), RAP_EINVAL);
}

/* ---- output cap (rap_core_set_output_max) ---------------------------------------------- */

static const char cap_msg_4096[] = "error: output exceeds 4096 bytes; command stopped\n";

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && !strcmp(s + n - t, tail);
}

static void test_output_cap(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c = fx->c;
	/* Local use: no cap by default. */
	struct result r = run(c, "px 0x20000");
	assert_int_equal(r.rc, 0);
	assert_true(strlen(r.out) > 0x20000 * 4);
	assert_string_equal(r.err, "");
	result_free(&r);

	/* Past the cap nothing more runs: neither "?e after" nor "s 0x10". */
	rap_core_set_output_max(c, 4096);
	r = run(c, "px 0x100; px 0x100000; ?e after; s 0x10");
	assert_int_equal(r.rc, RAP_ETOOBIG);
	assert_string_equal(r.err, cap_msg_4096);
	assert_true(strlen(r.out) + strlen(r.err) < 4096);
	assert_true(strncmp(r.out, "- offset -", 10) == 0);
	assert_null(strstr(r.out, "after"));
	assert_int_equal(rap_core_offset(c), 0);
	/* the output is cut at a line end */
	assert_true(r.out[strlen(r.out) - 1] == '\n');
	result_free(&r);

	/* The line of the review: hundreds of maximal px in one line. */
	char line[4096] = "";
	for (int i = 0; i < 300; i++)
		strcat(line, "px 0x1000000;");
	r = run(c, line);
	assert_int_equal(r.rc, RAP_ETOOBIG);
	assert_string_equal(r.err, cap_msg_4096);
	result_free(&r);

	/* Whatever failed before, the cap is the result, and the earlier reasons stay. */
	r = run(c, "nope; px 0x100000");
	assert_int_equal(r.rc, RAP_ETOOBIG);
	assert_true(strncmp(r.err, "error: unknown command 'nope'", 29) == 0);
	assert_true(ends_with(r.err, cap_msg_4096));
	result_free(&r);

	/* Error text counts too. */
	char errs[4000] = "";
	for (int i = 0; i < 300; i++)
		strcat(errs, "nope;");
	r = run(c, errs);
	assert_int_equal(r.rc, RAP_ETOOBIG);
	assert_true(strlen(r.out) + strlen(r.err) < 4096);
	assert_true(ends_with(r.err, cap_msg_4096));
	result_free(&r);

	/* A '~' filter's buffer counts although nothing passes the filter. */
	r = run(c, "px 0x1000000~no such text");
	assert_int_equal(r.rc, RAP_ETOOBIG);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, cap_msg_4096);
	result_free(&r);

	/* A shell command that never stops printing is cut off (SIGPIPE) instead of filling
	 * memory. */
	r = run(c, "!yes");
	assert_int_equal(r.rc, RAP_ETOOBIG);
	assert_true(strncmp(r.out, "y\ny\n", 4) == 0);
	assert_string_equal(r.err, cap_msg_4096);
	result_free(&r);

	/* Below the cap everything is as before, and the core goes on after a stop. */
	expect_out(c, "p8 4 @ 0x10", "40303030\n");
	/* rap_core_cmd printing to a FILE is never capped. */
	char *obuf = NULL;
	size_t olen = 0;
	FILE *of = open_memstream(&obuf, &olen);
	rap_core_set_output(c, of, NULL);
	assert_int_equal(rap_core_cmd(c, "px 0x2000"), 0);
	rap_core_set_output(c, NULL, NULL);
	fclose(of);
	assert_true(olen > 0x2000 * 4);
	free(obuf);

	/* 0: unlimited again. */
	rap_core_set_output_max(c, 0);
	r = run(c, "px 0x2000");
	assert_int_equal(r.rc, 0);
	assert_true(strlen(r.out) > 0x2000 * 4);
	result_free(&r);
}

/* One maximal px stops within a piece of the cap instead of printing all of its ~70 MiB. */
static void test_output_cap_stops_print(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *c = fx->c;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	FILE *so = c->out;
	c->out = mem;
	c->cap_out = mem;
	c->output_max = 100;
	c->output_over = false;
	assert_int_equal(rap__print_cmd(c, 'x', 0, RAP__CORE_BLOCK_MAX), RAP_ETOOBIG);
	assert_int_equal(rap__print_cmd(c, '8', 0, RAP__CORE_BLOCK_MAX), RAP_ETOOBIG);
	assert_int_equal(rap__print_cmd(c, 'r', 0, RAP__CORE_BLOCK_MAX), RAP_ETOOBIG);
	c->out = so;
	c->cap_out = NULL;
	c->output_max = 0;
	c->output_over = false;
	fclose(mem);
	/* one 64 KiB piece of hexdump is about 300 KB */
	assert_true(len < (512u << 10));
	free(buf);
}

/* ---- a served session's core (shared IO) ------------------------------------------------ */

static void test_shared_core_closes_only_its_own(void **state)
{
	struct fixture *fx = *state;
	struct rap_core *user = fx->c, *s;
	struct rap_io *io = rap_core_io(user);
	assert_int_equal(rap__core_new_shared(user, &s), 0);
	rap_core_set_policy(s, RAP_CORE_POLICY_WRITE);
	char line[64];

	/* The user's file is not the session's to close, by number or with o--. */
	snprintf(line, sizeof(line), "o-%d", fx->fd);
	expect_err(s, line, RAP_EDENIED, "only files this session opened");
	snprintf(line, sizeof(line), "o- %d", fx->fd);
	expect_err(s, line, RAP_EDENIED, "only files this session opened");
	expect_out(s, "o--", "");
	expect_out(s, "o-*", "");
	assert_true(rap_io_fd_perm(io, fx->fd) >= 0);
	assert_int_equal(rap__core_close(s, fx->fd), RAP_EDENIED);
	assert_true(rap_io_fd_perm(io, fx->fd) >= 0);
	/* ...nor is another session's. */
	struct rap_core *other;
	assert_int_equal(rap__core_new_shared(user, &other), 0);
	rap_core_set_policy(other, RAP_CORE_POLICY_WRITE);
	expect_out(other, "o malloc://16", "");
	int ofd = rap_core_current_fd(other);
	snprintf(line, sizeof(line), "o-%d", ofd);
	expect_err(s, line, RAP_EDENIED, "only files this session opened");
	expect_out(s, "o--", "");
	assert_true(rap_io_fd_perm(io, ofd) >= 0);

	/* Its own it closes: one by number, the rest with o--. */
	expect_out(s, "o malloc://8", "");
	int a = rap_core_current_fd(s);
	expect_out(s, "o malloc://8; o malloc://8", "");
	int b = rap_core_current_fd(s);
	assert_true(rap__core_owns(s, a) && rap__core_owns(s, b));
	assert_false(rap__core_owns(s, fx->fd));
	snprintf(line, sizeof(line), "o-%d", a);
	expect_out(s, line, "");
	assert_true(rap_io_fd_perm(io, a) < 0);
	expect_out(s, "o--", "");
	assert_true(rap_io_fd_perm(io, b) < 0);
	assert_int_equal(open_count(io), 2); /* the user's and the other session's */

	/* A number the user's side closed and reused is no longer the session's. */
	expect_out(s, "o malloc://8", "");
	int n = rap_core_current_fd(s);
	snprintf(line, sizeof(line), "o-%d", n);
	expect_out(user, line, "");
	expect_out(user, "o malloc://4", "");
	assert_int_equal(rap_core_current_fd(user), n);
	snprintf(line, sizeof(line), "o-%d", n);
	expect_err(s, line, RAP_EDENIED, "only files this session opened");
	assert_true(rap_io_fd_perm(io, n) >= 0);

	/* At most RAP__CORE_OWNED_MAX files at once. */
	for (int i = 0; i < RAP__CORE_OWNED_MAX; i++)
		assert_true(rap_core_open(s, "malloc://1", RAP_PERM_R) >= 0);
	assert_int_equal(rap_core_open(s, "malloc://1", RAP_PERM_R), -EMFILE);
	expect_err(s, "o malloc://1", -EMFILE, "cannot open 'malloc://1'");

	/* What a session opened closes with it. */
	rap_core_free(s);
	assert_int_equal(open_count(io), 3);
	rap_core_free(other);
	assert_int_equal(open_count(io), 2);
	assert_true(rap_io_fd_perm(io, fx->fd) >= 0);
	assert_true(rap_io_fd_perm(io, n) >= 0);
}

/* ---- listing descriptors that other threads close --------------------------------------- */

/* A plugin whose size blocks while the gate is shut, so a test can hold "o" in the middle
 * of printing one file's line. */
static struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool shut, waiting;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false };

static bool gate_accepts(const char *uri)
{
	return strncmp(uri, "gate://", 7) == 0;
}

static int gate_open(struct rap_io_desc *d, const char *uri, int perm)
{
	return 0;
}

static int gate_close(struct rap_io_desc *d)
{
	return 0;
}

static ssize_t gate_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	return 0;
}

static int gate_size(struct rap_io_desc *d, uint64_t *size)
{
	pthread_mutex_lock(&gate.mu);
	gate.waiting = true;
	pthread_cond_broadcast(&gate.cv);
	while (gate.shut)
		pthread_cond_wait(&gate.cv, &gate.mu);
	gate.waiting = false;
	pthread_mutex_unlock(&gate.mu);
	*size = 0;
	return 0;
}

static const struct rap_io_plugin gate_plugin = {
	.abi = RAP_IO_PLUGIN_ABI, .name = "gate", .desc = "blocks in size", .uris = "gate://",
	.author = "test", .license = "MIT", .accepts = gate_accepts, .open = gate_open,
	.close = gate_close, .read = gate_read, .size = gate_size,
};

struct listing {
	struct rap_core *c;
	struct result r;
};

static void *list_main(void *arg)
{
	struct listing *l = arg;
	l->r.rc = rap_core_cmd_str(l->c, "o", &l->r.out, &l->r.err);
	return NULL;
}

struct closing {
	struct rap_io *io;
	int fd;
};

static void *close_main(void *arg)
{
	struct closing *k = arg;
	rap_io_close(k->io, k->fd);
	return NULL;
}

/* "o" prints each file's URI after asking its size. If meanwhile another thread (a served
 * session, the user's prompt) closes that file and enough others after it, the URI must
 * still be the listing's own copy: rap_io_fd_uri's string is gone by then (ThreadSanitizer
 * caught list_files printing freed memory in test_servers). */
static void test_list_while_others_close(void **state)
{
	struct fixture *fx = *state;
	struct rap_io *io = rap_core_io(fx->c);
	assert_int_equal(rap_io_register(io, &gate_plugin), 0);
	enum { OTHERS = 40 };
	int g = rap_core_open(fx->c, "gate://held-open-while-listed", RAP_PERM_R);
	assert_true(g > fx->fd);
	int others[OTHERS];
	for (int i = 0; i < OTHERS; i++)
		assert_true((others[i] = rap_io_open(io, "malloc://8", RAP_PERM_R)) > g);

	pthread_mutex_lock(&gate.mu);
	gate.shut = true;
	pthread_mutex_unlock(&gate.mu);
	struct listing l = { .c = fx->c };
	pthread_t lt, ct;
	assert_int_equal(pthread_create(&lt, NULL, list_main, &l), 0);
	pthread_mutex_lock(&gate.mu);
	while (!gate.waiting)
		pthread_cond_wait(&gate.cv, &gate.mu);
	pthread_mutex_unlock(&gate.mu);

	/* The listing waits in gate's size. Close gate (that close waits for the size call,
	 * but takes the number out of the table at once), then every other file. */
	struct closing k = { io, g };
	assert_int_equal(pthread_create(&ct, NULL, close_main, &k), 0);
	while (rap_io_fd_perm(io, g) >= 0)
		usleep(1000);
	for (int i = 0; i < OTHERS; i++)
		assert_int_equal(rap_io_close(io, others[i]), 0);

	pthread_mutex_lock(&gate.mu);
	gate.shut = false;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
	pthread_join(lt, NULL);
	pthread_join(ct, NULL);
	assert_int_equal(l.r.rc, 0);
	assert_string_equal(l.r.err, "");
	/* Its line (the number, then whatever the closed file reports) ends with the URI. */
	char head[16];
	snprintf(head, sizeof(head), "%2d ", g);
	const char *line = strstr(l.r.out, head);
	const char *end = line ? strchr(line, '\n') : NULL;
	static const char uri[] = " gate://held-open-while-listed";
	if (!end || (size_t)(end - line) < sizeof(uri) - 1 ||
	    memcmp(end - (sizeof(uri) - 1), uri, sizeof(uri) - 1) != 0)
		fail_msg("--- out\n%s--- want the line of %d to end with '%s'", l.r.out, g, uri);
	result_free(&l.r);
}

static void test_allocation_failures(void **state)
{
	struct fixture *fx = *state;
	/* Every allocation failing in turn: errors, never crashes or leaks. */
	for (long n = 0; n < 40; n++) {
		rap__alloc_fail_after(n);
		char *out = NULL, *err = NULL;
		(void)rap_core_cmd_str(fx->c, "px 32; p8 4 @ 0x10; i; o; e; wx 41 @ 0x100; ?e x~x", &out, &err);
		rap__alloc_fail_after(-1);
		free(out);
		free(err);
	}
	for (long n = 0; n < 20; n++) {
		struct rap_core *c = NULL;
		rap__alloc_fail_after(n);
		int rc = rap_core_new(&c);
		rap__alloc_fail_after(-1);
		if (rc == 0)
			rap_core_free(c);
		else
			assert_null(c);
	}
}

/* ---- the os_gate test seam ------------------------------------------------------------ */

static struct {
	enum rap__core_os op;
	char what[128];
} gate_seen[8];
static size_t gate_count;

/* Refuses everything with an error no real attempt here would give (a loopback connect to
 * port 1 is refused, a /tmp file opens, a shell runs): seeing it proves the gate stopped
 * the operation before the system did anything. */
static int refusing_gate(enum rap__core_os op, const char *what)
{
	if (gate_count < sizeof(gate_seen) / sizeof(gate_seen[0])) {
		gate_seen[gate_count].op = op;
		snprintf(gate_seen[gate_count].what, sizeof(gate_seen[0].what), "%s", what);
	}
	gate_count++;
	return -EPERM;
}

static void expect_gate(size_t i, enum rap__core_os op, const char *what)
{
	assert_true(i < gate_count);
	assert_int_equal(gate_seen[i].op, op);
	assert_string_equal(gate_seen[i].what, what);
}

static void test_os_gate(void **state)
{
	struct rap_core *c = ((struct fixture *)*state)->c;
	char path[64], redirect[96], wtf[96];
	snprintf(path, sizeof(path), "/tmp/rap-test-gate-%ld", (long)getpid());
	snprintf(redirect, sizeof(redirect), "?e x > %s", path);
	snprintf(wtf, sizeof(wtf), "wtf %s 4", path);
	unlink(path);
	gate_count = 0;
	c->os_gate = refusing_gate;

	expect_err(c, "!echo hi", -EPERM, "cannot run a shell: Operation not permitted");
	expect_err(c, redirect, -EPERM, "Operation not permitted");
	expect_err(c, wtf, -EPERM, "Operation not permitted");
	assert_int_equal(access(path, F_OK), -1);
	expect_err(c, "=+ rap://127.0.0.1:1//x", -EPERM, "Cannot connect to '127.0.0.1' (1): Operation not permitted");
	expect_out(c, "=", "");
	expect_err(c, "=t 1 ?V", -EPERM, "Operation not permitted");
	expect_err(c, "=&:0", -EPERM, "cannot listen on port 0: Operation not permitted");
	assert_int_equal(rap_core_background_servers(c), 0);
	assert_int_equal(gate_count, 6);
	expect_gate(0, RAP__CORE_OS_SHELL, "echo hi");
	expect_gate(1, RAP__CORE_OS_FILE, path);
	expect_gate(2, RAP__CORE_OS_FILE, path);
	expect_gate(3, RAP__CORE_OS_CONNECT, "rap://127.0.0.1:1//x");
	expect_gate(4, RAP__CORE_OS_CONNECT, "localhost:1");
	expect_gate(5, RAP__CORE_OS_LISTEN, "localhost");

	/* A served session's core asks the same gate. */
	struct rap_core *shared = NULL;
	assert_int_equal(rap__core_new_shared(c, &shared), 0);
	assert_ptr_equal(shared->os_gate, refusing_gate);
	rap_core_free(shared);

	/* Without a gate the operation is real again. */
	c->os_gate = NULL;
	expect_out(c, "!echo hi", "hi\n");
	assert_int_equal(gate_count, 6);
}

/* The table keeps command words in 4 bytes: each has 1 to 3 characters and its NUL (C would
 * take a 4-character word there without one). */
static void test_command_words(void **state)
{
	(void)state;
	size_t n = 0;
	for (const char *w; (w = rap__core_command_name(n)) != NULL; n++) {
		assert_non_null(memchr(w, '\0', 4));
		assert_true(w[0] != '\0');
	}
	assert_true(n >= 30);
	assert_null(rap__core_command_name(n + 1));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* A lean core (rapsrv's sessions) has every command but the '=' family, which says so, and
 * no rap:// files (its IO has file, malloc and dbg); the full one has both. */
static void test_lean_core(void **state)
{
	(void)state;
	struct rap_core *c;
	assert_int_equal(rap_core_new_lean(&c), 0);
	assert_int_equal(rap_core_open(c, "malloc://64", RAP_PERM_RW), 3);
	expect_out(c, "wx 4142; p8 2", "4142\n");
	expect_out(c, "?v 1+2", "0x3\n");
	for (size_t i = 0; i < 3; i++) {
		const char *line = (const char *[]){ "=", "=?", "=!=" }[i];
		expect_err(c, line, RAP_ENOTSUP, "this program has no '=' commands (remote hosts, servers)");
	}
	char prompt[64];
	assert_true(rap_core_prompt(c, prompt, sizeof(prompt)) > 0);
	assert_string_equal(prompt, "[0x00000000]> ");
	struct rap_io *io = rap_core_io(c);
	assert_null(rap_io_plugin_for(io, "rap://127.0.0.1:1//x"));
	assert_null(rap_io_plugin_for(io, "raps://127.0.0.1:1//x"));
	const struct rap_io_plugin *p = rap_io_plugin_for(io, "dbg:///bin/true");
	assert_non_null(p);
	assert_string_equal(p->name, "dbg");
	p = rap_io_plugin_for(io, "malloc://8");
	assert_non_null(p);
	assert_string_equal(p->name, "malloc");
	assert_int_equal(rap_core_open(c, "rap://127.0.0.1:1//x", RAP_PERM_R), RAP_ENOTSUP);
	rap_core_free(c);
	assert_int_equal(rap_core_new(&c), 0);
	p = rap_io_plugin_for(rap_core_io(c), "rap://127.0.0.1:1//x");
	assert_non_null(p);
	assert_string_equal(p->name, "rap");
	struct result r = run(c, "=?");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "=+"));
	result_free(&r);
	rap_core_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_lean_core),
		cmocka_unit_test(test_command_words),
		T(test_separators_and_comments),
		T(test_quotes),
		T(test_numbers),
		T(test_temporary_seek),
		T(test_filters),
		T(test_redirect),
		T(test_unknown_and_errors),
		T(test_seek_commands),
		T(test_block_command),
		T(test_print_commands),
		T(test_write_commands),
		T(test_open_commands),
		T(test_info_command),
		T(test_eval_command),
		T(test_misc_commands),
		T(test_shell),
		T(test_quit),
		T(test_policy_none),
		T(test_policy_read),
		T(test_policy_write_and_all),
		T(test_api),
		T(test_output_cap),
		T(test_output_cap_stops_print),
		T(test_shared_core_closes_only_its_own),
		T(test_list_while_others_close),
		T(test_allocation_failures),
		T(test_os_gate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
