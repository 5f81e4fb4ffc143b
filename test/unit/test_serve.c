/* rap_core_rap_handler(): what each RAP request does to a core, called directly and through
 * a server session fed with wire bytes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"
#include "transcript.h"

#define SAMPLE_SIZE 4096

static uint8_t sample[SAMPLE_SIZE];

struct fixture {
	struct rap_core *c;
	const struct rap_server_handler *h;
	char path[64];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	for (size_t o = 0; o < SAMPLE_SIZE; o += 16) {
		char rec[17];
		snprintf(rec, sizeof(rec), "@%08zx|rap2!\n", o);
		memcpy(sample + o, rec, 16);
	}
	strcpy(fx->path, "/tmp/rap-test-serve-XXXXXX");
	int fd = mkstemp(fx->path);
	if (fd < 0 || write(fd, sample, sizeof(sample)) != (ssize_t)sizeof(sample))
		return -1;
	close(fd);
	if (rap_core_new(&fx->c) < 0)
		return -1;
	fx->h = rap_core_rap_handler();
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

static uint64_t seek(struct fixture *fx, int whence, uint64_t off)
{
	uint64_t r = 0xdeadbeef;
	assert_int_equal(fx->h->seek(fx->c, whence, off, &r), 0);
	return r;
}

static void test_handler_is_complete(void **state)
{
	const struct rap_server_handler *h = rap_core_rap_handler();
	assert_non_null(h);
	assert_ptr_equal(h, rap_core_rap_handler());
	assert_non_null(h->open);
	assert_non_null(h->read);
	assert_non_null(h->write);
	assert_non_null(h->seek);
	assert_non_null(h->close);
	assert_non_null(h->cmd);
	assert_non_null(h->cmd_bounded);
	assert_non_null(h->pread);
	assert_non_null(h->pwrite);
	assert_non_null(h->stat);
}

/* The extension's fd-addressed callbacks: any file of the core, whatever is current, and
 * the position untouched; STAT says what each one is. */
static void test_addressed(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[64];
	assert_int_equal(fx->h->pread(fx->c, 3, 0, buf, 4), RAP_EBADFD); /* nothing open */
	int a = fx->h->open(fx->c, fx->path, RAP_PERM_RW);
	int b = fx->h->open(fx->c, "malloc://32", RAP_PERM_RW);
	assert_true(a >= 3 && b > a);
	assert_int_equal(rap_core_current_fd(fx->c), b);
	seek(fx, RAP_SEEK_SET, 5);
	/* The file that is not current, at any offset. */
	assert_int_equal(fx->h->pread(fx->c, a, 0x230, buf, 16), 16);
	assert_memory_equal(buf, "@00000230|rap2!\n", 16);
	assert_int_equal(fx->h->pread(fx->c, a, SAMPLE_SIZE - 4, buf, 64), 4);
	assert_int_equal(fx->h->pread(fx->c, a, SAMPLE_SIZE, buf, 64), 0);
	assert_int_equal(fx->h->pread(fx->c, a, UINT64_MAX, buf, 64), 0);
	assert_int_equal(fx->h->pwrite(fx->c, b, 30, (const uint8_t *)"xyz", 3), 2);
	assert_int_equal(fx->h->pread(fx->c, b, 28, buf, 8), 4);
	assert_memory_equal(buf, "\0\0xy", 4);
	assert_int_equal(fx->h->pwrite(fx->c, a, 0, (const uint8_t *)"W", 1), 1);
	assert_int_equal(fx->h->pread(fx->c, a, 0, buf, 2), 2);
	assert_memory_equal(buf, "W0", 2);
	assert_int_equal(seek(fx, RAP_SEEK_CUR, 0), 5);
	assert_int_equal(rap_core_current_fd(fx->c), b);
	/* Unknown and negative fds, the process's own ones. */
	assert_int_equal(fx->h->pread(fx->c, 0, 0, buf, 4), RAP_EBADFD);
	assert_int_equal(fx->h->pread(fx->c, -1, 0, buf, 4), RAP_EBADFD);
	assert_int_equal(fx->h->pwrite(fx->c, b + 100, 0, buf, 4), RAP_EBADFD);
	/* STAT. */
	struct rap_stat st;
	memset(&st, 0, sizeof(st));
	assert_int_equal(fx->h->stat(fx->c, a, &st), 0);
	assert_int_equal(st.size, SAMPLE_SIZE);
	assert_int_equal(st.perm, RAP_PERM_RW);
	assert_int_equal(st.kind, RAP_KIND_FILE);
	assert_string_equal(st.name, fx->path);
	memset(&st, 0, sizeof(st));
	assert_int_equal(fx->h->stat(fx->c, b, &st), 0);
	assert_int_equal(st.size, 32);
	assert_int_equal(st.kind, RAP_KIND_BUFFER);
	assert_string_equal(st.name, "malloc://32");
	assert_int_equal(fx->h->stat(fx->c, b + 1, &st), RAP_EBADFD);
	/* A read-only file refuses writes. */
	int r = fx->h->open(fx->c, fx->path, RAP_PERM_R);
	memset(&st, 0, sizeof(st));
	assert_int_equal(fx->h->stat(fx->c, r, &st), 0);
	assert_int_equal(st.perm & RAP_PERM_W, 0);
	assert_int_equal(fx->h->pwrite(fx->c, r, 0, (const uint8_t *)"X", 1), RAP_EDENIED);

	/* A core on a borrowed IO (a server started from the prompt) addresses only its own
	 * files and its current one, never the user's others. */
	struct rap_core *sess;
	assert_int_equal(rap__core_new_shared(fx->c, &sess), 0);
	assert_int_equal(rap_core_current_fd(sess), r);
	assert_int_equal(fx->h->pread(sess, r, 0, buf, 1), 1);
	assert_int_equal(fx->h->pread(sess, a, 0, buf, 1), RAP_EBADFD);
	assert_int_equal(fx->h->stat(sess, b, &st), RAP_EBADFD);
	int own = fx->h->open(sess, "malloc://8", RAP_PERM_RW);
	assert_true(own > r);
	assert_int_equal(fx->h->pwrite(sess, own, 0, (const uint8_t *)"ok", 2), 2);
	assert_int_equal(fx->h->pread(sess, own, 0, buf, 8), 8);
	assert_memory_equal(buf, "ok", 2);
	rap_core_free(sess);
}

static void test_open(void **state)
{
	struct fixture *fx = *state;
	int fd = fx->h->open(fx->c, fx->path, RAP_PERM_R | RAP_PERM_X);
	assert_true(fd >= 3);
	assert_int_equal(rap_core_current_fd(fx->c), fd);
	assert_int_equal(seek(fx, RAP_SEEK_CUR, 0), 0);
	/* a second open becomes current, again at position 0 */
	seek(fx, RAP_SEEK_SET, 0x40);
	int fd2 = fx->h->open(fx->c, fx->path, RAP_PERM_R);
	assert_true(fd2 > fd);
	assert_int_equal(rap_core_current_fd(fx->c), fd2);
	assert_int_equal(seek(fx, RAP_SEEK_CUR, 0), 0);
	/* failures are negative and leave the current file alone */
	assert_true(fx->h->open(fx->c, "/nonexistent/file", RAP_PERM_R) < 0);
	assert_true(fx->h->open(fx->c, "", RAP_PERM_R) < 0);
	assert_int_equal(rap_core_current_fd(fx->c), fd2);
}

static void test_open_follows_io_policy(void **state)
{
	struct fixture *fx = *state;
	rap_io_set_allow_write(rap_core_io(fx->c), false);
	int fd = fx->h->open(fx->c, fx->path, RAP_PERM_RWX);
	assert_true(fd >= 0);
	assert_int_equal(rap_io_fd_perm(rap_core_io(fx->c), fd) & RAP_PERM_W, 0);
	assert_true(fx->h->write(fx->c, (const uint8_t *)"X", 1) < 0);
	uint8_t b;
	assert_int_equal(fx->h->read(fx->c, &b, 1), 1);
	assert_int_equal(b, '@');
}

static void test_read_does_not_move(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[64];
	assert_true(fx->h->read(fx->c, buf, 4) < 0); /* no file yet */
	assert_true(fx->h->open(fx->c, fx->path, RAP_PERM_R) >= 0);
	assert_int_equal(fx->h->read(fx->c, buf, 16), 16);
	assert_memory_equal(buf, sample, 16);
	assert_int_equal(fx->h->read(fx->c, buf, 16), 16);
	assert_memory_equal(buf, sample, 16);
	assert_int_equal(seek(fx, RAP_SEEK_SET, 0x1230 % SAMPLE_SIZE), 0x230);
	assert_int_equal(fx->h->read(fx->c, buf, 16), 16);
	assert_memory_equal(buf, "@00000230|rap2!\n", 16);
	assert_int_equal(seek(fx, RAP_SEEK_CUR, 0), 0x230);
	/* short at the end, nothing past it */
	seek(fx, RAP_SEEK_SET, SAMPLE_SIZE - 8);
	assert_int_equal(fx->h->read(fx->c, buf, 64), 8);
	assert_memory_equal(buf, sample + SAMPLE_SIZE - 8, 8);
	seek(fx, RAP_SEEK_SET, 0x30000);
	assert_int_equal(fx->h->read(fx->c, buf, 64), 0);
	seek(fx, RAP_SEEK_SET, UINT64_MAX);
	assert_int_equal(fx->h->read(fx->c, buf, 64), 0);
	assert_int_equal(fx->h->read(fx->c, buf, 0), 0);
}

static void test_write_does_not_move(void **state)
{
	struct fixture *fx = *state;
	assert_true(fx->h->write(fx->c, (const uint8_t *)"A", 1) < 0); /* no file yet */
	assert_true(fx->h->open(fx->c, fx->path, RAP_PERM_RWX) >= 0);
	seek(fx, RAP_SEEK_SET, 0x10);
	assert_int_equal(fx->h->write(fx->c, (const uint8_t *)"ABCD", 4), 4);
	assert_int_equal(seek(fx, RAP_SEEK_CUR, 0), 0x10);
	uint8_t buf[8];
	assert_int_equal(fx->h->read(fx->c, buf, 8), 8);
	assert_memory_equal(buf, "ABCD0001", 8);
	/* read-only open: refused, file unchanged */
	assert_true(fx->h->open(fx->c, fx->path, RAP_PERM_R | RAP_PERM_X) >= 0);
	assert_true(fx->h->write(fx->c, (const uint8_t *)"Z", 1) < 0);
	int fd = open(fx->path, O_RDONLY);
	assert_int_equal(pread(fd, buf, 1, 0), 1);
	close(fd);
	assert_int_equal(buf[0], '@');
}

static void test_seek_semantics(void **state)
{
	struct fixture *fx = *state;
	uint64_t r;
	assert_true(fx->h->seek(fx->c, RAP_SEEK_END, 0, &r) < 0); /* no file: no size */
	assert_true(fx->h->open(fx->c, fx->path, RAP_PERM_R) >= 0);
	assert_int_equal(seek(fx, RAP_SEEK_SET, 0x100), 0x100);
	assert_int_equal(seek(fx, RAP_SEEK_CUR, 0x999), 0x100);
	assert_int_equal(seek(fx, RAP_SEEK_END, 0x999), SAMPLE_SIZE);
	assert_int_equal(seek(fx, RAP_SEEK_CUR, 0), 0x100); /* END does not move */
	assert_int_equal(seek(fx, 7, 0x5), 0x100);         /* unknown whence: like CUR */
	assert_int_equal(seek(fx, RAP_SEEK_SET, 0x30000), 0x30000);
	assert_int_equal(seek(fx, RAP_SEEK_SET, UINT64_MAX), UINT64_MAX);
	assert_int_equal(rap_core_offset(fx->c), UINT64_MAX);
}

static void test_close(void **state)
{
	struct fixture *fx = *state;
	/* nothing of ours: the process' own descriptors are never touched */
	assert_true(fx->h->close(fx->c, 0) < 0);
	assert_true(fx->h->close(fx->c, 1) < 0);
	assert_true(fx->h->close(fx->c, 2) < 0);
	assert_true(fx->h->close(fx->c, -1) < 0);
	assert_true(fcntl(0, F_GETFD) >= 0 && fcntl(1, F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0);
	int a = fx->h->open(fx->c, fx->path, RAP_PERM_R);
	int b = fx->h->open(fx->c, "malloc://8", RAP_PERM_R);
	int cfd = fx->h->open(fx->c, fx->path, RAP_PERM_R);
	assert_true(a >= 3 && b > a && cfd > b);
	assert_true(fx->h->close(fx->c, cfd + 1000) < 0);
	/* closing a file that is not current leaves the current one */
	assert_int_equal(fx->h->close(fx->c, b), 0);
	assert_int_equal(rap_core_current_fd(fx->c), cfd);
	assert_true(fx->h->close(fx->c, b) < 0); /* already closed */
	/* closing the current one: the highest remaining becomes current */
	seek(fx, RAP_SEEK_SET, 0x20);
	assert_int_equal(fx->h->close(fx->c, cfd), 0);
	assert_int_equal(rap_core_current_fd(fx->c), a);
	uint8_t buf[4];
	assert_int_equal(fx->h->read(fx->c, buf, 4), 4);
	assert_memory_equal(buf, "@000", 4);
	assert_int_equal(fx->h->close(fx->c, a), 0);
	assert_int_equal(rap_core_current_fd(fx->c), -1);
	assert_true(fx->h->read(fx->c, buf, 4) < 0);

	/* another core's descriptors are out of reach even when the numbers coincide */
	struct rap_core *other;
	assert_int_equal(rap_core_new(&other), 0);
	int ofd = fx->h->open(other, fx->path, RAP_PERM_R);
	assert_true(ofd >= 3);
	int mine = fx->h->open(fx->c, fx->path, RAP_PERM_R);
	assert_int_equal(fx->h->close(fx->c, mine), 0);
	assert_true(fx->h->close(fx->c, ofd) < 0);
	assert_int_equal(fx->h->read(other, buf, 4), 4);
	rap_core_free(other);
}

static void test_cmd(void **state)
{
	struct fixture *fx = *state;
	char *out = (char *)1;
	/* empty command (radare2 clients send one after opening): no output */
	assert_int_equal(fx->h->cmd(fx->c, "", &out), 0);
	assert_null(out);
	assert_int_equal(fx->h->cmd(fx->c, "?V", &out), 0);
	assert_string_equal(out, "rap " RAP_VERSION_STRING "\n");
	free(out);
	assert_true(fx->h->open(fx->c, fx->path, RAP_PERM_R | RAP_PERM_X) >= 0);
	assert_int_equal(fx->h->cmd(fx->c, "px 16 @ 0x20", &out), 0);
	assert_string_equal(out, "- offset -  2021 2223 2425 2627 2829 2A2B 2C2D 2E2F  0123456789ABCDEF\n"
				 "0x00000020  4030 3030 3030 3032 307c 7261 7032 210a  @00000020|rap2!.\n");
	free(out);
	/* commands and the SEEK request share one position */
	assert_int_equal(fx->h->cmd(fx->c, "s 0x40", &out), 0);
	assert_null(out);
	assert_int_equal(seek(fx, RAP_SEEK_CUR, 0), 0x40);
	seek(fx, RAP_SEEK_SET, 0x10);
	assert_int_equal(fx->h->cmd(fx->c, "p8 4", &out), 0);
	assert_string_equal(out, "40303030\n");
	free(out);
	/* failures answer with the error text */
	assert_true(fx->h->cmd(fx->c, "nosuch", &out) < 0);
	assert_string_equal(out, "error: unknown command 'nosuch' (see '?')\n");
	free(out);
	/* the reverse direction of rap_core_cmd_str: output first, then the reason */
	assert_true(fx->h->cmd(fx->c, "p8 1; wx 41", &out) < 0);
	assert_true(strncmp(out, "40\nerror: cannot write: '", 24) == 0);
	free(out);
}

static void test_cmd_under_policy(void **state)
{
	struct fixture *fx = *state;
	char *out = NULL;
	rap_core_set_policy(fx->c, RAP_CORE_POLICY_READ);
	rap_core_set_allow_shell(fx->c, false);
	assert_true(fx->h->open(fx->c, fx->path, RAP_PERM_RWX) >= 0);
	assert_int_equal(fx->h->cmd(fx->c, "wx 41", &out), RAP_EDENIED);
	assert_string_equal(out, "error: command 'wx' refused by the server's command policy (read)\n");
	free(out);
	assert_int_equal(fx->h->cmd(fx->c, "p8 1; wx 41", &out), RAP_EDENIED);
	assert_string_equal(out, "40\nerror: command 'wx' refused by the server's command policy (read)\n");
	free(out);
	assert_int_equal(fx->h->cmd(fx->c, "!id", &out), RAP_EDENIED);
	assert_string_equal(out, "error: command '!' refused by the server's command policy (shell commands are disabled)\n");
	free(out);
	assert_int_equal(fx->h->cmd(fx->c, "?e x > /tmp/rap-test-serve-never", &out), RAP_EDENIED);
	assert_non_null(strstr(out, "refused"));
	free(out);
	assert_int_equal(access("/tmp/rap-test-serve-never", F_OK), -1);
	rap_core_set_policy(fx->c, RAP_CORE_POLICY_NONE);
	assert_int_equal(fx->h->cmd(fx->c, "?V", &out), RAP_EDENIED);
	assert_string_equal(out, "error: command '?V' refused by the server's command policy (none)\n");
	free(out);
	/* protocol WRITE is not a command: the IO's permission decides */
	assert_int_equal(fx->h->write(fx->c, (const uint8_t *)"W", 1), 1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long maxrss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* The reviewer's line: 300 maximal px in one CMD (under 4095 bytes) would have the server
 * buffer some 20 GB. Through the handler a core without a cap of its own gets the default
 * one: the line stops at 64 MiB of output, quickly, with the reason last. */
static void test_cmd_output_cap(void **state)
{
	struct fixture *fx = *state;
	/* Tens of MiB of hexdump: minutes under valgrind, whose run adds nothing to what
	 * this measures (time, memory; the sanitizer builds run it). Not skip(): cmocka 1.1.5
	 * reports it as "not ok", which meson counts as a failure. */
	if (getenv("RAP_TEST_VALGRIND")) {
		print_message("# not run under valgrind\n");
		return;
	}
	assert_true(fx->h->open(fx->c, fx->path, RAP_PERM_R) >= 0);
	char line[4096] = "";
	for (int i = 0; i < 300; i++)
		strcat(line, "px 0x1000000;");
	assert_true(strlen(line) < 4095);
	long rss0 = maxrss_kib();
	double t0 = now_s();
	char *out = NULL;
	assert_int_equal(fx->h->cmd(fx->c, line, &out), RAP_ETOOBIG);
	double took = now_s() - t0;
	long rss = maxrss_kib() - rss0;
	assert_non_null(out);
	size_t n = strlen(out);
	static const char msg[] = "error: output exceeds 67108864 bytes; command stopped\n";
	assert_true(n > sizeof(msg) && !strcmp(out + n - (sizeof(msg) - 1), msg));
	/* below a client's 64 MiB reply limit (with its NUL), so the reason reaches it */
	assert_true(n + 1 <= RAP_CORE_SERVE_OUTPUT_MAX);
	assert_true(n > RAP_CORE_SERVE_OUTPUT_MAX - (1u << 20));
	assert_true(strncmp(out, "- offset -", 10) == 0);
	free(out);
	if (took > 30)
		fail_msg("the capped line took %.1f s", took);
	/* A few copies of 64 MiB at most (sanitizers keep freed blocks a while), far from
	 * the gigabytes of an uncapped line. */
	if (rss > (1536L << 10))
		fail_msg("max RSS grew by %ld MiB", rss >> 10);
	/* The default applied to that CMD only: local use stays unlimited. */
	char *o = NULL;
	assert_int_equal(rap_core_cmd_str(fx->c, "px 0x20000", &o, NULL), 0);
	assert_true(strlen(o) > 0x20000 * 4);
	free(o);

	/* A cap the caller chose is the one the handler applies. */
	rap_core_set_output_max(fx->c, 1000);
	assert_int_equal(fx->h->cmd(fx->c, "px 0x1000; ?e never", &out), RAP_ETOOBIG);
	assert_true(strlen(out) < 1000);
	assert_null(strstr(out, "never"));
	assert_non_null(strstr(out, "error: output exceeds 1000 bytes; command stopped\n"));
	free(out);
	/* ...including 0, unlimited. */
	rap_core_set_output_max(fx->c, 0);
	assert_int_equal(fx->h->cmd(fx->c, "px 0x20000", &out), 0);
	assert_true(strlen(out) > 0x20000 * 4);
	free(out);
}

/* A request's checkpoint: counts its calls, and cancels from the n-th on (0: never). */
struct probe {
	struct rap_cmd_request req;
	int calls;
	int cancel_at;
};

static bool probe_checkpoint(const struct rap_cmd_request *req)
{
	struct probe *p = req->owner;
	p->calls++;
	return p->cancel_at && p->calls >= p->cancel_at;
}

/* cmd_bounded: the output stops at the request's bound, which a long print approaches in
 * shrinking pieces; the checkpoint is called between pieces and cancels; a smaller cap of
 * the caller's wins. */
static void test_cmd_bounded(void **state)
{
	struct fixture *fx = *state;
	assert_true(fx->h->open(fx->c, fx->path, RAP_PERM_R) >= 0);
	struct probe pr = { { "px 0x1000000", 20000, probe_checkpoint, NULL }, 0, 0 };
	pr.req.owner = &pr;
	char *out = NULL;
	bool stopped = false;
	double t0 = now_s();
	assert_int_equal(fx->h->cmd_bounded(fx->c, &pr.req, &out, &stopped), RAP_ETOOBIG);
	assert_true(stopped);
	size_t n = strlen(out);
	static const char msg[] = "error: output exceeds 20000 bytes; command stopped\n";
	assert_true(n < 20000 && n > 20000 - 200);
	assert_string_equal(out + n - (sizeof(msg) - 1), msg);
	assert_true(strncmp(out, "- offset -", 10) == 0);
	free(out);
	/* It stopped there: not after printing 16 MiB of data (seconds) and cutting. */
	assert_true(now_s() - t0 < 2.0);
	assert_true(pr.calls >= 2);
	/* Within the bound: the whole output, not stopped. */
	pr.req.cmd = "p8 16";
	stopped = true;
	assert_int_equal(fx->h->cmd_bounded(fx->c, &pr.req, &out, &stopped), 0);
	assert_false(stopped);
	assert_int_equal(strlen(out), 33);
	free(out);
	/* Cancelled at the third checkpoint: interrupted there, and said so. */
	pr = (struct probe){ { "px 0x100000", 64u << 20, probe_checkpoint, NULL }, 0, 3 };
	pr.req.owner = &pr;
	assert_int_equal(fx->h->cmd_bounded(fx->c, &pr.req, &out, &stopped), -EINTR);
	assert_false(stopped);
	assert_non_null(strstr(out, "error: interrupted after 0x"));
	assert_true(strlen(out) < (1u << 20));
	free(out);
	/* The request's cancellation ended with the call: the next line runs. */
	pr.req.checkpoint = NULL;
	pr.req.cmd = "?e still";
	assert_int_equal(fx->h->cmd_bounded(fx->c, &pr.req, &out, &stopped), 0);
	assert_string_equal(out, "still\n");
	free(out);
	/* The caller's own smaller cap applies; a larger one does not widen the request's. */
	rap_core_set_output_max(fx->c, 1000);
	pr.req.cmd = "px 0x1000";
	assert_int_equal(fx->h->cmd_bounded(fx->c, &pr.req, &out, &stopped), RAP_ETOOBIG);
	assert_true(stopped);
	assert_non_null(strstr(out, "error: output exceeds 1000 bytes; command stopped\n"));
	free(out);
	rap_core_set_output_max(fx->c, 1u << 30);
	pr.req.max_output = 3000;
	assert_int_equal(fx->h->cmd_bounded(fx->c, &pr.req, &out, &stopped), RAP_ETOOBIG);
	assert_true(strlen(out) < 3000);
	free(out);
	/* No output at all is NULL, as with cmd. */
	pr.req.cmd = "s 0";
	assert_int_equal(fx->h->cmd_bounded(fx->c, &pr.req, &out, &stopped), 0);
	assert_null(out);
}

/* ---- through a real server session -------------------------------------------------- */

/* Splits a server->client byte stream into replies (each reply's opcode decides its size). */
static size_t reply_len(const uint8_t *p, size_t avail)
{
	if (avail < 5)
		return 0;
	switch (p[0]) {
	case 0x81: case 0x83: case 0x85: return 5;
	case 0x84: return avail >= 9 ? 9 : 0;
	case 0x82: case 0x87: return 5 + rap__get_be32(p + 1);
	default: return 0;
	}
}

static size_t feed(struct rap_server_session *s, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	assert_int_equal(rap_server_session_feed(s, in, len), (ssize_t)len);
	const uint8_t *data;
	size_t n = rap_server_session_output(s, &data);
	assert_true(n <= cap);
	memcpy(out, data, n);
	rap_server_session_consume(s, n);
	return n;
}

static void test_session_matches_radare2(void **state)
{
	struct fixture *fx = *state;
	struct transcript t;
	if (transcript_load("cmd.txt", &t) < 0)
		fail_msg("cannot load cmd.txt from %s", transcript_dir());
	const struct transcript_conn *conn = transcript_conn(&t, 1);
	assert_non_null(conn);
	/* radare2's reply to "px 16": the 0x87 whose text starts with the hexdump header */
	const uint8_t *want = NULL;
	size_t wantlen = 0;
	for (size_t i = 0; i < conn->server_len;) {
		size_t n = reply_len(conn->server + i, conn->server_len - i);
		assert_true(n > 0);
		if (conn->server[i] == 0x87 && n > 15 && !memcmp(conn->server + i + 5, "- offset -", 10)) {
			want = conn->server + i;
			wantlen = n;
		}
		i += n;
	}
	assert_non_null(want);

	struct rap_server_session *s;
	assert_int_equal(rap_server_session_new(fx->h, fx->c, &s), 0);
	uint8_t req[300], out[8192];
	size_t plen = strlen(fx->path) + 1;
	req[0] = 0x01;
	req[1] = 5;
	req[2] = (uint8_t)plen;
	memcpy(req + 3, fx->path, plen);
	size_t n = feed(s, req, 3 + plen, out, sizeof(out));
	assert_int_equal(n, 5);
	assert_int_equal(out[0], 0x81);
	assert_int_equal((int32_t)rap__get_be32(out + 1), rap_core_current_fd(fx->c));

	static const uint8_t cmd[] = { 0x07, 0, 0, 0, 6, 'p', 'x', ' ', '1', '6', 0 };
	n = feed(s, cmd, sizeof(cmd), out, sizeof(out));
	assert_int_equal(n, wantlen);
	assert_memory_equal(out, want, wantlen);

	/* stock SEEK/READ: the data of the file at the new position */
	static const uint8_t sk[] = { 0x04, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x30 };
	n = feed(s, sk, sizeof(sk), out, sizeof(out));
	assert_int_equal(n, 9);
	assert_int_equal(rap__get_be64(out + 1), 0x230);
	static const uint8_t rd[] = { 0x02, 0, 0, 0, 16 };
	n = feed(s, rd, sizeof(rd), out, sizeof(out));
	assert_int_equal(n, 21);
	assert_memory_equal(out + 5, "@00000230|rap2!\n", 16);

	rap_server_session_free(s);
	transcript_free(&t);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handler_is_complete),
		T(test_open),
		T(test_open_follows_io_policy),
		T(test_read_does_not_move),
		T(test_write_does_not_move),
		T(test_seek_semantics),
		T(test_close),
		T(test_cmd),
		T(test_cmd_under_policy),
		T(test_cmd_output_cap),
		T(test_cmd_bounded),
		T(test_session_matches_radare2),
		T(test_addressed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
