/* wtf and wff: whole files, lengths given, omitted or computed, reads past the end, refusals,
 * failures in the middle of a copy (and what happens to the local file), and the progress bar
 * (absent unless the error stream is a terminal, drawn on a pseudo-terminal). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"

/* Not a multiple of the 1 MiB transfer piece, so the last piece is a short one. */
#define BIG_SIZE (3u * 1024u * 1024u + 12345u)

struct fixture {
	struct rap_core *c;
	char dir[64];
	char src[128]; /* BIG_SIZE bytes of pattern */
	char out[128]; /* a name in dir that does not exist yet */
	uint8_t *data;
	int nfds; /* open descriptors before the test, to catch leaks */
};

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off * 2654435761u) >> 13);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Whole contents of path (heap, free()); NULL when it does not exist. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct stat st;
	assert_int_equal(fstat(fileno(f), &st), 0);
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	assert_int_equal(*len, (size_t)st.st_size);
	fclose(f);
	return buf;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* ---- a test IO plugin: pattern data, with failures, delays and short reads on demand --- */

static struct {
	uint64_t size;
	uint64_t fail_at;   /* reads at or beyond this offset fail with -EIO (UINT64_MAX: never) */
	size_t max_per_call;
	long delay_ms;
	bool size_unknown;
	uint64_t interrupt_at;   /* a read at or beyond this offset interrupts interrupt_core */
	struct rap_core *interrupt_core;
} flaky;

static void flaky_reset(uint64_t size)
{
	flaky.size = size;
	flaky.fail_at = UINT64_MAX;
	flaky.max_per_call = SIZE_MAX;
	flaky.delay_ms = 0;
	flaky.size_unknown = false;
	flaky.interrupt_at = UINT64_MAX;
	flaky.interrupt_core = NULL;
}

static bool flaky_accepts(const char *uri)
{
	return strncmp(uri, "flaky://", 8) == 0;
}

static int flaky_open(struct rap_io_desc *d, const char *uri, int perm)
{
	(void)d;
	(void)uri;
	(void)perm;
	return 0;
}

static int flaky_close(struct rap_io_desc *d)
{
	(void)d;
	return 0;
}

static ssize_t flaky_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	(void)d;
	if (flaky.delay_ms) {
		struct timespec ts = { flaky.delay_ms / 1000, (flaky.delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (flaky.fail_at != UINT64_MAX && off >= flaky.fail_at)
		return -EIO;
	/* As a Ctrl-C would, while the command runs. */
	if (off >= flaky.interrupt_at)
		rap_core_interrupt(flaky.interrupt_core);
	uint64_t end = flaky.size < flaky.fail_at ? flaky.size : flaky.fail_at;
	if (off >= end)
		return 0;
	if (len > end - off)
		len = (size_t)(end - off);
	if (len > flaky.max_per_call)
		len = flaky.max_per_call;
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = pattern(off + i);
	return (ssize_t)len;
}

static int flaky_size(struct rap_io_desc *d, uint64_t *size)
{
	(void)d;
	if (flaky.size_unknown)
		return RAP_ENOTSUP;
	*size = flaky.size;
	return 0;
}

static const struct rap_io_plugin flaky_plugin = {
	.abi = RAP_IO_PLUGIN_ABI,
	.name = "flaky",
	.desc = "Test plugin that fails, stalls and reads short on demand",
	.uris = "flaky://",
	.accepts = flaky_accepts,
	.open = flaky_open,
	.close = flaky_close,
	.read = flaky_read,
	.size = flaky_size,
};

/* A write-only sink that interrupts its core once sink_interrupt_at bytes have arrived. */
static struct {
	uint64_t received;
	uint64_t interrupt_at;
	struct rap_core *core;
} sink;

static bool sink_accepts(const char *uri)
{
	return strncmp(uri, "sink://", 7) == 0;
}

static ssize_t sink_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	(void)d;
	(void)off;
	(void)buf;
	(void)len;
	return 0;
}

static ssize_t sink_write(struct rap_io_desc *d, uint64_t off, const void *buf, size_t len)
{
	(void)d;
	(void)off;
	(void)buf;
	sink.received += len;
	if (sink.received >= sink.interrupt_at)
		rap_core_interrupt(sink.core);
	return (ssize_t)len;
}

static const struct rap_io_plugin sink_plugin = {
	.abi = RAP_IO_PLUGIN_ABI,
	.name = "sink",
	.desc = "Test plugin that takes writes and interrupts its core",
	.uris = "sink://",
	.accepts = sink_accepts,
	.open = flaky_open,
	.close = flaky_close,
	.read = sink_read,
	.write = sink_write,
};

/* ---- fixture and helpers ------------------------------------------------------------- */

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	fx->nfds = count_fds();
	/* The mode of created files is checked, and it depends on the umask. */
	umask(022);
	strcpy(fx->dir, "/tmp/rap-test-transfer-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->src, sizeof(fx->src), "%s/src.bin", fx->dir);
	snprintf(fx->out, sizeof(fx->out), "%s/out.bin", fx->dir);
	fx->data = malloc(BIG_SIZE);
	if (!fx->data)
		return -1;
	for (size_t i = 0; i < BIG_SIZE; i++)
		fx->data[i] = pattern(i);
	write_file(fx->src, fx->data, BIG_SIZE);
	if (rap_core_new(&fx->c) < 0)
		return -1;
	if (rap_io_register(rap_core_io(fx->c), &flaky_plugin) < 0 ||
	    rap_io_register(rap_core_io(fx->c), &sink_plugin) < 0)
		return -1;
	flaky_reset(BIG_SIZE);
	*state = fx;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	rap_core_free(fx->c);
	int leaked = count_fds() - fx->nfds;
	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(fx->data);
	free(fx);
	if (leaked)
		fprintf(stderr, "%d descriptor(s) leaked\n", leaked);
	return leaked ? -1 : 0;
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
	assert_non_null(r.out);
	assert_non_null(r.err);
	return r;
}

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* Expects success with exactly want on the error stream and nothing on stdout. */
static void expect_ok(struct result *r, const char *want_err)
{
	if (r->rc != 0 || r->out[0] || strcmp(r->err, want_err) != 0)
		fail_msg("rc %d\n--- out\n%s--- err\n%s--- want err\n%s", r->rc, r->out, r->err, want_err);
	result_free(r);
}

/* Expects failure rc, an error stream whose lines all start with "error: ", and needle. */
static void expect_fail(struct result *r, int rc, const char *needle)
{
	if (r->rc != rc || !strstr(r->err, needle))
		fail_msg("rc %d (want %d)\n--- err\n%s--- want substring '%s'", r->rc, rc, r->err, needle);
	for (const char *p = r->err; *p; p = strchr(p, '\n') + 1) {
		assert_true(strncmp(p, "error: ", 7) == 0);
		assert_non_null(strchr(p, '\n'));
	}
	assert_null(strchr(r->err, '\r'));
	result_free(r);
}

static void expect_file(const char *path, const uint8_t *want, size_t len)
{
	size_t n = 0;
	uint8_t *got = slurp(path, &n);
	if (!got)
		fail_msg("'%s' does not exist", path);
	assert_int_equal(n, len);
	assert_memory_equal(got, want, len);
	free(got);
}

static void open_src(struct fixture *fx, int perm)
{
	assert_true(rap_core_open(fx->c, fx->src, perm) >= 0);
}


static char *dumped(size_t n)
{
	static char buf[64];
	snprintf(buf, sizeof(buf), "dumped 0x%zx bytes\n", n);
	return buf;
}

static char *wrote(size_t n)
{
	static char buf[64];
	snprintf(buf, sizeof(buf), "wrote 0x%zx bytes\n", n);
	return buf;
}

/* ---- wtf ----------------------------------------------------------------------------- */

static void test_wtf_whole_file(void **state)
{
	struct fixture *fx = *state;
	open_src(fx, RAP_PERM_R);
	struct result r = run(fx->c, "wtf %s", fx->out);
	expect_ok(&r, dumped(BIG_SIZE));
	expect_file(fx->out, fx->data, BIG_SIZE);
	struct stat st;
	assert_int_equal(stat(fx->out, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
}

static void test_wtf_from_position(void **state)
{
	struct fixture *fx = *state;
	open_src(fx, RAP_PERM_R);
	/* '@' moves the position for this command only. */
	struct result r = run(fx->c, "wtf %s @ 0x100001", fx->out);
	expect_ok(&r, dumped(BIG_SIZE - 0x100001));
	expect_file(fx->out, fx->data + 0x100001, BIG_SIZE - 0x100001);
	assert_int_equal(rap_core_offset(fx->c), 0);

	r = run(fx->c, "s 0x20; wtf %s", fx->out);
	expect_ok(&r, dumped(BIG_SIZE - 0x20));
	expect_file(fx->out, fx->data + 0x20, BIG_SIZE - 0x20);
	assert_int_equal(rap_core_offset(fx->c), 0x20);
}

static void test_wtf_length(void **state)
{
	struct fixture *fx = *state;
	open_src(fx, RAP_PERM_R);
	struct result r = run(fx->c, "s 0x10; wtf %s 0x100", fx->out);
	expect_ok(&r, dumped(0x100));
	expect_file(fx->out, fx->data + 0x10, 0x100);

	/* An existing, longer file is truncated to the new contents. */
	r = run(fx->c, "wtf %s 16", fx->out);
	expect_ok(&r, dumped(16));
	expect_file(fx->out, fx->data + 0x10, 16);

	/* Expressions, with blanks: the rest of the line is the length. */
	r = run(fx->c, "wtf %s 0x1000 + 16 - $$", fx->out);
	expect_ok(&r, dumped(0x1000));
	expect_file(fx->out, fx->data + 0x10, 0x1000);
	r = run(fx->c, "wtf %s $s-$$", fx->out);
	expect_ok(&r, dumped(BIG_SIZE - 0x10));
	expect_file(fx->out, fx->data + 0x10, BIG_SIZE - 0x10);
	/* More than one piece, not a whole number of pieces. */
	r = run(fx->c, "wtf %s 0x200003", fx->out);
	expect_ok(&r, dumped(0x200003));
	expect_file(fx->out, fx->data + 0x10, 0x200003);
}

static void test_wtf_zero_length(void **state)
{
	struct fixture *fx = *state;
	open_src(fx, RAP_PERM_R);
	write_file(fx->out, "old", 3);
	struct result r = run(fx->c, "wtf %s 0", fx->out);
	expect_ok(&r, dumped(0));
	expect_file(fx->out, (const uint8_t *)"", 0);
	/* At the very end, the default length is zero: an empty copy, not an error. */
	r = run(fx->c, "wtf %s @ $s", fx->out);
	expect_ok(&r, dumped(0));
	expect_file(fx->out, (const uint8_t *)"", 0);
}

static void test_wtf_past_end(void **state)
{
	struct fixture *fx = *state;
	open_src(fx, RAP_PERM_R);
	/* N is clamped to the end of the data: no 0xff fill is invented in the copy. */
	struct result r = run(fx->c, "wtf %s 0x40 @ $s-0x10", fx->out);
	expect_ok(&r, dumped(0x10));
	expect_file(fx->out, fx->data + BIG_SIZE - 0x10, 0x10);
	/* "-1" is the largest length there is: everything to the end. */
	r = run(fx->c, "wtf %s -1 @ 0x300000", fx->out);
	expect_ok(&r, dumped(BIG_SIZE - 0x300000));
	expect_file(fx->out, fx->data + 0x300000, BIG_SIZE - 0x300000);

	/* A position past the end has nothing to copy: say so, create nothing. */
	unlink(fx->out);
	r = run(fx->c, "wtf %s @ $s+1", fx->out);
	expect_fail(&r, RAP_EINVAL, "is past the end of");
	r = run(fx->c, "wtf %s 0x40 @ $s+0x1000", fx->out);
	expect_fail(&r, RAP_EINVAL, "is past the end of");
	r = run(fx->c, "wtf %s 2 @ 0xffffffffffffffff", fx->out);
	expect_fail(&r, RAP_EINVAL, "is past the end of");
	assert_false(exists(fx->out));
}

static void test_wtf_malloc(void **state)
{
	struct fixture *fx = *state;
	assert_true(rap_core_open(fx->c, "malloc://0x180000", RAP_PERM_RW) >= 0);
	struct result r = run(fx->c, "wx 41424344 @ 0x10; wx 55 @ 0x17ffff; wtf %s", fx->out);
	expect_ok(&r, dumped(0x180000));
	uint8_t *want = calloc(1, 0x180000);
	assert_non_null(want);
	memcpy(want + 0x10, "ABCD", 4);
	want[0x17ffff] = 0x55;
	expect_file(fx->out, want, 0x180000);
	free(want);
}

static void test_wtf_short_reads(void **state)
{
	struct fixture *fx = *state;
	/* A plugin answering a few bytes at a time (as a stream would) still fills every
	 * piece, and the copy matches. */
	flaky_reset(BIG_SIZE);
	flaky.max_per_call = 4093;
	assert_true(rap_core_open(fx->c, "flaky://x", RAP_PERM_R) >= 0);
	struct result r = run(fx->c, "wtf %s 0x180000", fx->out);
	expect_ok(&r, dumped(0x180000));
	expect_file(fx->out, fx->data, 0x180000);
}

static void test_wtf_unknown_size(void **state)
{
	struct fixture *fx = *state;
	flaky_reset(0x5000);
	flaky.size_unknown = true;
	assert_true(rap_core_open(fx->c, "flaky://x", RAP_PERM_R) >= 0);
	struct result r = run(fx->c, "wtf %s", fx->out);
	expect_fail(&r, RAP_ENOTSUP, "give the length");
	assert_false(exists(fx->out));
	/* N is an upper bound: the copy stops where the data ends. */
	r = run(fx->c, "wtf %s 0x100", fx->out);
	expect_ok(&r, dumped(0x100));
	expect_file(fx->out, fx->data, 0x100);
	r = run(fx->c, "wtf %s 0x5010", fx->out);
	expect_ok(&r, dumped(0x5000));
	expect_file(fx->out, fx->data, 0x5000);
	r = run(fx->c, "wtf %s -1 @ 0x10", fx->out);
	expect_ok(&r, dumped(0x4ff0));
	expect_file(fx->out, fx->data + 0x10, 0x4ff0);
	/* Past the end of such data: an empty copy. */
	r = run(fx->c, "wtf %s 0x10 @ 0x6000", fx->out);
	expect_ok(&r, dumped(0));
	expect_file(fx->out, (const uint8_t *)"", 0);
	r = run(fx->c, "wtf %s 0x10 @ 0xffffffffffffffff", fx->out);
	expect_ok(&r, dumped(0));
}

static void test_wtf_bad_arguments(void **state)
{
	struct fixture *fx = *state;
	struct result r = run(fx->c, "wtf");
	expect_fail(&r, RAP_EINVAL, "usage: wtf LOCALFILE [N]");
	r = run(fx->c, "wtf %s", fx->out);
	expect_fail(&r, RAP_EBADFD, "no file is open");
	assert_false(exists(fx->out));

	open_src(fx, RAP_PERM_R);
	r = run(fx->c, "wtf %s zz", fx->out);
	expect_fail(&r, RAP_EINVAL, "invalid length 'zz'");
	r = run(fx->c, "wtf %s 12abc", fx->out);
	expect_fail(&r, RAP_EINVAL, "invalid length");
	r = run(fx->c, "wtf %s $q", fx->out);
	expect_fail(&r, RAP_EINVAL, "invalid length");
	assert_false(exists(fx->out));
	/* Help instead of a copy. */
	r = run(fx->c, "wtf ?");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "Usage: wtf LOCALFILE [N]"));
	result_free(&r);
	r = run(fx->c, "wff ?");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "Usage: wff LOCALFILE"));
	result_free(&r);
}

static void test_wtf_quoted_name(void **state)
{
	struct fixture *fx = *state;
	open_src(fx, RAP_PERM_R);
	char path[160];
	snprintf(path, sizeof(path), "%s/a b;c.bin", fx->dir);
	struct result r = run(fx->c, "wtf \"%s\" 0x20", path);
	expect_ok(&r, dumped(0x20));
	expect_file(path, fx->data, 0x20);
	r = run(fx->c, "wff '%s' @ 0x1000", path);
	assert_int_equal(r.rc, RAP_EDENIED); /* opened read-only; the name itself parsed */
	result_free(&r);
}

static void test_wtf_unwritable(void **state)
{
	struct fixture *fx = *state;
	open_src(fx, RAP_PERM_R);
	struct result r = run(fx->c, "wtf %s/no/such/dir/x", fx->dir);
	expect_fail(&r, -ENOENT, "cannot open");
	r = run(fx->c, "wtf %s", fx->dir);
	expect_fail(&r, -EISDIR, "cannot open");
	/* The file being read is not truncated under the copy. */
	r = run(fx->c, "wtf %s", fx->src);
	expect_fail(&r, RAP_EINVAL, "is the file being read");
	expect_file(fx->src, fx->data, BIG_SIZE);
	/* A device is refused unless asked for; then a full one reports the write failure and
	 * how far it got, and /dev/full, not a regular file, is left alone. */
	if (access("/dev/full", W_OK) == 0) {
		r = run(fx->c, "wtf /dev/full 0x10");
		expect_fail(&r, RAP_ENOTREG, "'/dev/full' for writing: not a regular file (a FIFO, device or socket; "
					     "'e io.special=true' opens them)");
		r = run(fx->c, "e io.special=true; wtf /dev/full 0x10");
		expect_fail(&r, -ENOSPC, "after 0x0 of 0x10 bytes");
	}
}

static void test_wtf_read_error_midway(void **state)
{
	struct fixture *fx = *state;
	flaky_reset(BIG_SIZE);
	flaky.fail_at = 0x180000;
	assert_true(rap_core_open(fx->c, "flaky://x", RAP_PERM_R) >= 0);
	/* A new file: removed, since a partial copy would look complete. */
	struct result r = run(fx->c, "wtf %s", fx->out);
	assert_non_null(strstr(r.err, "removed the incomplete"));
	expect_fail(&r, -EIO, "cannot read at 0x00180000 after 0x180000 of 0x303039 bytes");
	assert_false(exists(fx->out));

	/* An existing file: once truncated it is removed too. */
	write_file(fx->out, "old contents", 12);
	r = run(fx->c, "wtf %s", fx->out);
	assert_non_null(strstr(r.err, "removed the incomplete"));
	expect_fail(&r, -EIO, "after 0x180000 of");
	assert_false(exists(fx->out));

	/* A failure before any data arrived leaves an existing file untouched ... */
	write_file(fx->out, "old contents", 12);
	flaky.fail_at = 0;
	r = run(fx->c, "wtf %s", fx->out);
	assert_non_null(strstr(r.err, "was left unchanged"));
	expect_fail(&r, -EIO, "cannot read at 0x00000000 after 0x0 of");
	expect_file(fx->out, (const uint8_t *)"old contents", 12);
	/* ... and leaves no empty file behind when there was none. */
	unlink(fx->out);
	r = run(fx->c, "wtf %s", fx->out);
	assert_null(strstr(r.err, "unchanged"));
	expect_fail(&r, -EIO, "after 0x0 of");
	assert_false(exists(fx->out));

	/* Through a symlink the target stays, holding what was copied, as the message says. */
	char target[160];
	snprintf(target, sizeof(target), "%s/target.bin", fx->dir);
	write_file(target, "x", 1);
	assert_int_equal(symlink(target, fx->out), 0);
	flaky.fail_at = 0x100000;
	r = run(fx->c, "wtf %s", fx->out);
	expect_fail(&r, -EIO, "is incomplete: it holds 0x100000 of 0x303039 bytes");
	expect_file(target, fx->data, 0x100000);
	assert_true(exists(fx->out));
}

/* ---- interruption (Ctrl-C in rapcli) ------------------------------------------------------ */

static void test_interrupted_commands(void **state)
{
	struct fixture *fx = *state;
	assert_true(rap_core_open(fx->c, "flaky://x", RAP_PERM_R) >= 0);
	flaky.interrupt_core = fx->c;

	/* wtf stops between pieces, says how far it got, and removes what it created. */
	flaky.interrupt_at = 2u << 20;
	struct result r = run(fx->c, "wtf %s", fx->out);
	assert_int_equal(r.rc, -EINTR);
	char want[512];
	snprintf(want, sizeof(want), "error: interrupted after 0x300000 of 0x303039 bytes\n"
		 "error: removed the incomplete '%s'\n", fx->out);
	assert_string_equal(r.err, want);
	assert_string_equal(r.out, "");
	assert_false(exists(fx->out));
	result_free(&r);

	/* A long px stops after the piece being printed: whole rows, then the reason. */
	flaky.interrupt_at = 0x20000;
	r = run(fx->c, "px 0x100000");
	assert_int_equal(r.rc, -EINTR);
	assert_string_equal(r.err, "error: interrupted after 0x30000 of 0x100000 bytes\n");
	size_t rows = 0;
	for (const char *q = r.out; (q = strchr(q, '\n')) != NULL; q++)
		rows++;
	assert_int_equal(rows, 1 + 0x30000 / 16); /* the header and every row of 3 pieces */
	result_free(&r);
	r = run(fx->c, "p8 0x100000");
	assert_int_equal(r.rc, -EINTR);
	assert_int_equal(strlen(r.out), 2 * 0x30000 + 1);
	assert_int_equal(r.out[2 * 0x30000], '\n');
	result_free(&r);

	/* A list stops after the command that was running, and says why. */
	r = run(fx->c, "p8 1 @ 0x20000; p8 1; p8 1");
	assert_int_equal(r.rc, -EINTR);
	assert_int_equal(strlen(r.out), 3);
	assert_string_equal(r.err, "error: interrupted\n");
	result_free(&r);

	/* A request from before the line started is dropped: the line runs. */
	flaky.interrupt_at = UINT64_MAX;
	rap_core_interrupt(fx->c);
	r = run(fx->c, "p8 2; p8 2");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	result_free(&r);

	/* wff stops between pieces too and says how much was written. */
	assert_true(rap_core_open(fx->c, "sink://x", RAP_PERM_RW) >= 0);
	sink.received = 0;
	sink.interrupt_at = 1u << 20;
	sink.core = fx->c;
	r = run(fx->c, "wff %s", fx->src);
	assert_int_equal(r.rc, -EINTR);
	snprintf(want, sizeof(want), "error: interrupted after writing 0x100000 bytes of '%s'\n", fx->src);
	assert_string_equal(r.err, want);
	assert_int_equal(sink.received, 1u << 20);
	result_free(&r);
}

/* ---- wff ----------------------------------------------------------------------------- */

static void test_wff_whole_file(void **state)
{
	struct fixture *fx = *state;
	assert_true(rap_core_open(fx->c, "malloc://0x400000", RAP_PERM_RW) >= 0);
	struct result r = run(fx->c, "s 0x100; wff %s", fx->src);
	expect_ok(&r, wrote(BIG_SIZE));
	assert_int_equal(rap_core_offset(fx->c), 0x100);
	uint8_t *got = malloc(BIG_SIZE + 0x200);
	assert_non_null(got);
	assert_int_equal(rap__core_read(fx->c, 0, got, BIG_SIZE + 0x200), 0);
	for (size_t i = 0; i < 0x100; i++)
		assert_int_equal(got[i], 0);
	assert_memory_equal(got + 0x100, fx->data, BIG_SIZE);
	for (size_t i = 0x100 + BIG_SIZE; i < BIG_SIZE + 0x200; i++)
		assert_int_equal(got[i], 0);
	free(got);
}

static void test_wff_length_and_file(void **state)
{
	struct fixture *fx = *state;
	/* Into a real file: at most N bytes of the local file, and an empty one. */
	char dst[160];
	snprintf(dst, sizeof(dst), "%s/dst.bin", fx->dir);
	write_file(dst, fx->data + 100, 0x3000);
	assert_true(rap_core_open(fx->c, dst, RAP_PERM_RW) >= 0);
	struct result r = run(fx->c, "wff %s 0x10 @ 0x20", fx->src);
	expect_ok(&r, wrote(0x10));
	uint8_t want[0x3000];
	memcpy(want, fx->data + 100, sizeof(want));
	memcpy(want + 0x20, fx->data, 0x10);
	expect_file(dst, want, sizeof(want));

	char empty[160];
	snprintf(empty, sizeof(empty), "%s/empty.bin", fx->dir);
	write_file(empty, "", 0);
	r = run(fx->c, "wff %s", empty);
	expect_ok(&r, wrote(0));
	expect_file(dst, want, sizeof(want));

	/* Past the end, a local file grows. */
	r = run(fx->c, "wff %s @ 0x3000", fx->src);
	expect_ok(&r, wrote(BIG_SIZE));
	size_t n;
	uint8_t *got = slurp(dst, &n);
	assert_int_equal(n, 0x3000 + BIG_SIZE);
	assert_memory_equal(got + 0x3000, fx->data, BIG_SIZE);
	free(got);
}

static void test_wff_refusals(void **state)
{
	struct fixture *fx = *state;
	struct result r = run(fx->c, "wff");
	expect_fail(&r, RAP_EINVAL, "usage: wff LOCALFILE");
	r = run(fx->c, "wff %s", fx->src);
	expect_fail(&r, RAP_EBADFD, "no file is open");

	/* Read-only: refused before anything is read, and nothing changes. */
	char dst[160];
	snprintf(dst, sizeof(dst), "%s/dst.bin", fx->dir);
	write_file(dst, "original", 8);
	assert_true(rap_core_open(fx->c, dst, RAP_PERM_R) >= 0);
	r = run(fx->c, "wff %s", fx->src);
	expect_fail(&r, RAP_EDENIED, "is open read-only");
	expect_file(dst, (const uint8_t *)"original", 8);
	/* A read-only plugin is refused the same way. */
	assert_true(rap_core_open(fx->c, "flaky://x", RAP_PERM_RW) >= 0);
	r = run(fx->c, "wff %s", fx->src);
	expect_fail(&r, RAP_EDENIED, "is open read-only");

	assert_true(rap_core_open(fx->c, "malloc://0x100", RAP_PERM_RW) >= 0);
	r = run(fx->c, "wff %s/missing.bin", fx->dir);
	expect_fail(&r, -ENOENT, "cannot open");
	r = run(fx->c, "wff %s", fx->dir);
	expect_fail(&r, -EISDIR, "cannot open");
	r = run(fx->c, "wff %s zz", fx->src);
	expect_fail(&r, RAP_EINVAL, "invalid length");
}

static void test_wff_past_fixed_end(void **state)
{
	struct fixture *fx = *state;
	/* malloc:// cannot grow: the copy stops at its end and says how much was written. */
	assert_true(rap_core_open(fx->c, "malloc://0x1000", RAP_PERM_RW) >= 0);
	struct result r = run(fx->c, "wff %s @ 0xf00", fx->src);
	expect_fail(&r, RAP_ENOSPC, "cannot grow past 0x00001000: wrote 0x100 bytes of");
	uint8_t got[0x100];
	assert_int_equal(rap__core_read(fx->c, 0xf00, got, sizeof(got)), 0);
	assert_memory_equal(got, fx->data, sizeof(got));
	r = run(fx->c, "wff %s @ 0x1000", fx->src);
	expect_fail(&r, RAP_ENOSPC, "wrote 0x0 bytes of");
	/* And never wraps around the address space onto the start of the file. */
	r = run(fx->c, "wff %s @ 0xfffffffffffffff0", fx->src);
	assert_true(r.rc < 0);
	result_free(&r);
	assert_int_equal(rap__core_read(fx->c, 0, got, 16), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(got[i], 0);
}

static void test_wff_policy_write_off(void **state)
{
	struct fixture *fx = *state;
	/* Writes turned off in the IO layer after the open still refuse cleanly. */
	assert_true(rap_core_open(fx->c, "malloc://0x1000", RAP_PERM_RW) >= 0);
	rap_io_set_allow_write(rap_core_io(fx->c), false);
	struct result r = run(fx->c, "wff %s", fx->src);
	expect_fail(&r, RAP_EDENIED, "read-only");
}

static void test_out_of_memory(void **state)
{
	struct fixture *fx = *state;
	open_src(fx, RAP_PERM_R);
	char dst[160];
	snprintf(dst, sizeof(dst), "%s/dst.bin", fx->dir);
	write_file(dst, "", 0);
	bool saw_enomem = false;
	/* Whichever allocation fails, the command fails cleanly and leaves no partial file. */
	for (long n = 0; n < 8; n++) {
		unlink(fx->out);
		rap__alloc_fail_after(n);
		struct result r = run(fx->c, "wtf %s", fx->out);
		rap__alloc_fail_after(-1);
		if (r.rc == 0) {
			expect_file(fx->out, fx->data, BIG_SIZE);
		} else {
			assert_int_equal(r.rc, RAP_ENOMEM);
			assert_false(exists(fx->out));
			saw_enomem = true;
		}
		result_free(&r);
	}
	assert_true(saw_enomem);
	assert_true(rap_core_open(fx->c, dst, RAP_PERM_RW) >= 0);
	saw_enomem = false;
	for (long n = 0; n < 8; n++) {
		rap__alloc_fail_after(n);
		struct result r = run(fx->c, "wff %s", fx->src);
		rap__alloc_fail_after(-1);
		if (r.rc == 0) {
			expect_file(dst, fx->data, BIG_SIZE);
		} else {
			assert_int_equal(r.rc, RAP_ENOMEM);
			saw_enomem = true;
		}
		result_free(&r);
	}
	assert_true(saw_enomem);
}

/* ---- progress ------------------------------------------------------------------------ */

static void test_no_progress_when_captured(void **state)
{
	struct fixture *fx = *state;
	open_src(fx, RAP_PERM_R);
	struct result r = run(fx->c, "wtf %s", fx->out);
	assert_null(strchr(r.err, '\r'));
	expect_ok(&r, dumped(BIG_SIZE));

	/* A regular file as the error stream: not a terminal either. */
	char errpath[160];
	snprintf(errpath, sizeof(errpath), "%s/err.txt", fx->dir);
	FILE *ef = fopen(errpath, "w+");
	assert_non_null(ef);
	FILE *devnull = fopen("/dev/null", "w");
	assert_non_null(devnull);
	rap_core_set_output(fx->c, devnull, ef);
	assert_int_equal(rap_core_cmd(fx->c, "e io.special=true; wtf /dev/null"), 0);
	assert_int_equal(rap_core_cmd(fx->c, "wff /dev/null"), RAP_EDENIED);
	rap_core_set_output(fx->c, NULL, NULL);
	fclose(ef);
	fclose(devnull);
	size_t n;
	char *text = (char *)slurp(errpath, &n);
	text[n] = '\0';
	assert_null(strchr(text, '\r'));
	assert_non_null(strstr(text, dumped(BIG_SIZE)));
	free(text);
}

/* Everything the terminal side received so far (bounded wait for the first bytes). */
static char *drain_pty(int master)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	for (int i = 0; i < 1000; i++) {
		struct pollfd pfd = { .fd = master, .events = POLLIN };
		if (poll(&pfd, 1, len ? 0 : 2000) <= 0)
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

static int count_char(const char *s, char ch)
{
	int n = 0;
	for (; *s; s++)
		n += *s == ch;
	return n;
}

struct pty {
	int master;
	FILE *err;
	FILE *out;
};

static void pty_attach(struct rap_core *c, struct pty *p)
{
	int slave;
	if (openpty(&p->master, &slave, NULL, NULL, NULL) < 0)
		skip();
	p->err = fdopen(slave, "w");
	assert_non_null(p->err);
	p->out = fopen("/dev/null", "w");
	assert_non_null(p->out);
	rap_core_set_output(c, p->out, p->err);
}

static void pty_detach(struct rap_core *c, struct pty *p)
{
	rap_core_set_output(c, NULL, NULL);
	fclose(p->err);
	fclose(p->out);
	close(p->master);
}

static void test_progress_on_terminal(void **state)
{
	struct fixture *fx = *state;
	struct pty p;
	pty_attach(fx->c, &p);
	open_src(fx, RAP_PERM_R);
	char line[256];
	snprintf(line, sizeof(line), "wtf %s", fx->out);
	assert_int_equal(rap_core_cmd(fx->c, line), 0);
	char *text = drain_pty(p.master);
	/* The bar is redrawn in place, ends complete on its own line, then the summary. */
	assert_true(text[0] == '\r');
	assert_non_null(strstr(text, "3.0 MiB / 3.0 MiB  100%"));
	assert_non_null(strstr(text, "/s  in 0:00"));
	char want[80];
	snprintf(want, sizeof(want), "\r\ndumped 0x%x bytes\r\n", BIG_SIZE);
	assert_non_null(strstr(text, want));
	free(text);
	expect_file(fx->out, fx->data, BIG_SIZE);

	assert_true(rap_core_open(fx->c, "malloc://0x400000", RAP_PERM_RW) >= 0);
	snprintf(line, sizeof(line), "wff %s", fx->src);
	assert_int_equal(rap_core_cmd(fx->c, line), 0);
	text = drain_pty(p.master);
	assert_non_null(strstr(text, "100%"));
	snprintf(want, sizeof(want), "\r\nwrote 0x%x bytes\r\n", BIG_SIZE);
	assert_non_null(strstr(text, want));
	free(text);

	/* A size-less local file (a FIFO would do; /dev/zero is simpler): bytes and rate only. */
	assert_int_equal(rap_core_cmd(fx->c, "e io.special=true; wff /dev/zero 0x200000"), 0);
	text = drain_pty(p.master);
	assert_non_null(strstr(text, "\r2.0 MiB  "));
	assert_non_null(strstr(text, "/s  in 0:00"));
	assert_null(strstr(text, "%"));
	assert_null(strstr(text, "ETA"));
	free(text);
	pty_detach(fx->c, &p);
}

static void test_progress_then_error(void **state)
{
	struct fixture *fx = *state;
	struct pty p;
	pty_attach(fx->c, &p);
	/* Slow enough that the bar is drawn before the failure. */
	flaky_reset(BIG_SIZE);
	flaky.fail_at = 0x180000;
	flaky.delay_ms = 150;
	assert_true(rap_core_open(fx->c, "flaky://x", RAP_PERM_R) >= 0);
	char line[256];
	snprintf(line, sizeof(line), "wtf %s", fx->out);
	assert_int_equal(rap_core_cmd(fx->c, line), -EIO);
	char *text = drain_pty(p.master);
	assert_non_null(strstr(text, "1.0 MiB / 3.0 MiB   33%"));
	/* The error starts on a line of its own, not after the bar. */
	char *e = strstr(text, "error: cannot read at 0x00180000 after 0x180000 of 0x303039 bytes");
	assert_non_null(e);
	assert_true(e > text && e[-1] == '\n');
	assert_null(strstr(text, "100%"));
	free(text);
	assert_false(exists(fx->out));
	pty_detach(fx->c, &p);
}

static void test_progress_throttled(void **state)
{
	struct fixture *fx = *state;
	struct pty p;
	pty_attach(fx->c, &p);
	/* 64 pieces that each take a few milliseconds: far more updates than redraws. */
	flaky_reset(64u << 20);
	assert_true(rap_core_open(fx->c, "flaky://x", RAP_PERM_R) >= 0);
	struct timespec t0, t1;
	assert_int_equal(rap_core_cmd(fx->c, "e io.special=true"), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(rap_core_cmd(fx->c, "wtf /dev/null"), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	char *text = drain_pty(p.master);
	int redraws = count_char(text, '\r') - 2; /* the pty turns each '\n' into "\r\n" */
	if (redraws < 1 || redraws > ms / 100 + 2)
		fail_msg("%d redraws in %ld ms\n%s", redraws, ms, text);
	assert_non_null(strstr(text, "64.0 MiB / 64.0 MiB  100%"));
	free(text);
	pty_detach(fx->c, &p);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_wtf_whole_file),
		T(test_wtf_from_position),
		T(test_wtf_length),
		T(test_wtf_zero_length),
		T(test_wtf_past_end),
		T(test_wtf_malloc),
		T(test_wtf_short_reads),
		T(test_wtf_unknown_size),
		T(test_wtf_bad_arguments),
		T(test_wtf_quoted_name),
		T(test_wtf_unwritable),
		T(test_wtf_read_error_midway),
		T(test_wff_whole_file),
		T(test_wff_length_and_file),
		T(test_wff_refusals),
		T(test_wff_past_fixed_end),
		T(test_wff_policy_write_off),
		T(test_out_of_memory),
		T(test_interrupted_commands),
		T(test_no_progress_when_captured),
		T(test_progress_on_terminal),
		T(test_progress_then_error),
		T(test_progress_throttled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
