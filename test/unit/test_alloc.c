/* The allocation hook (libr/common/alloc.c) and the walks that use it: for every N, the N-th
 * allocation of an operation fails (then also every later one, or only that one), and the
 * operation must end in a clean error, with its object still usable or freed cleanly, no
 * descriptor leaked (checked here) and no memory leaked (LeakSanitizer, valgrind). A walk
 * ends at the first N the operation completes without reaching. Covered: the codec, the
 * server session (with a test handler and with librap-core's), the client session, the
 * multi-session rap_server on its event loop, librap-io's file, malloc and rap plugins, and
 * the command interpreter running a representative set of commands.
 *
 * Peers that run in other threads (the client's server, the rap:// server) use
 * rap__alloc_fail_here_only, so only the thread under test ever sees a failure and every
 * walk is deterministic. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/io.h>
#include <rap/loop.h>
#include <rap/rap.h>
#include <rap/server.h>

#include "common.h"
#include "core_private.h"

#define WALK_MAX 20000   /* more allocations than any walked operation makes */
#define STORE_SIZE 20000 /* bytes of the test handler's file */
#define WAIT_MS 10000    /* bound on every wait for a peer */

/* ---- the walk ------------------------------------------------------------------------- */

enum mode { STICKY, ONCE };

static const char *const mode_text[] = {
	[STICKY] = "the N-th and every later allocation failing",
	[ONCE] = "only the N-th allocation failing",
};

static void arm(enum mode m, long n)
{
	if (m == ONCE)
		rap__alloc_fail_nth(n);
	else
		rap__alloc_fail_after(n);
}

/* Turns the failures off; returns whether the armed code ran into one. */
static bool disarm(void)
{
	bool hit = rap__alloc_failures() > 0;
	rap__alloc_fail_after(-1);
	return hit;
}

/* One run of an operation with arm(m, n) around it, checked; returns whether it ran into
 * the failure. */
typedef bool (*step_fn)(enum mode m, long n);

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* The descriptors open once a peer thread has closed its end of a connection the step
 * closed (it may lag behind a little): count_fds() as soon as it is want, or after
 * WAIT_MS. */
static int settled_fds(int want)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int n = count_fds();
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (n == want || (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > WAIT_MS)
			return n;
		poll(NULL, 0, 1);
	}
}

/* Runs step for N = 0, 1, ... in both modes until a run completes untouched. */
static void walk(const char *what, step_fn step)
{
	int fds = count_fds();
	for (int m = STICKY; m <= ONCE; m++) {
		long n = 0;
		bool hit;
		do {
			hit = step((enum mode)m, n);
			int now = settled_fds(fds);
			if (now != fds)
				fail_msg("%s, N %ld, %s: %d descriptors open, %d before", what, n,
					 mode_text[m], now, fds);
			n += hit;
			assert_true(n < WALK_MAX);
		} while (hit);
		/* A walk that never failed anything would test nothing. */
		assert_true(n > 0);
		print_message("# %s: %ld allocations, %s\n", what, n, mode_text[m]);
	}
}

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put_msg(struct bytes *b, const struct rap_msg *m)
{
	uint8_t tmp[8192];
	ssize_t n = rap_msg_encode(m, tmp, sizeof tmp);
	assert_true(n > 0);
	bytes_add(b, tmp, (size_t)n);
}

static uint8_t pattern[8192];

static void make_pattern(void)
{
	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (uint8_t)(i * 131 + 7);
}

/* ---- the hook itself ------------------------------------------------------------------- */

static void test_hook(void **state)
{
	(void)state;
	/* After n successes: sticky fails all later ones, once only the next. */
	rap__alloc_fail_after(2);
	void *a = rap__malloc(1), *b = rap__calloc(1, 1), *c = rap__malloc(1), *d = rap__strdup("x");
	assert_non_null(a);
	assert_non_null(b);
	assert_null(c);
	assert_null(d);
	assert_int_equal(rap__alloc_failures(), 2);
	rap__alloc_fail_nth(1);
	void *e = rap__malloc(1), *f = rap__realloc(NULL, 1), *g = rap__malloc(1);
	assert_non_null(e);
	assert_null(f);
	assert_non_null(g);
	assert_int_equal(rap__alloc_failures(), 1);
	rap__alloc_fail_after(-1);
	assert_int_equal(rap__alloc_failures(), 0);
	void *h = rap__malloc(1);
	assert_non_null(h);
	rap__free(a);
	rap__free(b);
	rap__free(e);
	rap__free(g);
	rap__free(h);
}

struct hammer {
	long failed;
	bool here_only;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	for (int i = 0; i < 10000; i++) {
		void *p = rap__malloc(16);
		if (!p)
			h->failed++;
		rap__free(p);
	}
	return NULL;
}

/* Every thread's allocations count exactly once (the countdown is atomic), unless the hook
 * is told to count only its own thread's. */
static void test_hook_threads(void **state)
{
	(void)state;
	enum { T = 4 };
	struct hammer h[T];
	pthread_t th[T];
	for (int scoped = 0; scoped <= 1; scoped++) {
		rap__alloc_fail_here_only(scoped);
		rap__alloc_fail_after(15000);
		memset(h, 0, sizeof h);
		for (int i = 0; i < T; i++)
			assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
		long failed = 0;
		for (int i = 0; i < T; i++) {
			pthread_join(th[i], NULL);
			failed += h[i].failed;
		}
		long counted = rap__alloc_failures();
		rap__alloc_fail_after(-1);
		rap__alloc_fail_here_only(false);
		assert_int_equal(failed, counted);
		assert_int_equal(failed, scoped ? 0 : T * 10000 - 15000);
	}
}

/* ---- codec ---------------------------------------------------------------------------- */

static struct bytes codec_requests, codec_replies;
static size_t codec_nrequests, codec_nreplies;

static void codec_streams(void)
{
	if (codec_requests.n)
		return;
	make_pattern();
	static const char path[] = "/a/file";
	struct rap_msg q[] = {
		{ .op = RAP_OP_OPEN, .perm = RAP_PERM_RW, .len = sizeof path, .data = (const uint8_t *)path },
		{ .op = RAP_OP_SEEK, .whence = RAP_SEEK_SET, .offset = 0x1234 },
		{ .op = RAP_OP_READ, .len = 4096 },
		{ .op = RAP_OP_WRITE, .len = 3000, .data = pattern },
		{ .op = RAP_OP_CMD, .len = 6, .data = (const uint8_t *)"px 16" },
		{ .op = RAP_OP_SYSTEM, .len = 3, .data = (const uint8_t *)"ls" },
		{ .op = RAP_OP_CLOSE, .value = 3 },
		{ .op = RAP_OP_WRITE, .len = 70, .data = pattern + 100 },
	};
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
		put_msg(&codec_requests, &q[i]);
	codec_nrequests = sizeof q / sizeof q[0];
	struct rap_msg r[] = {
		{ .op = RAP_OP_OPEN | RAP_REPLY, .value = 3 },
		{ .op = RAP_OP_SEEK | RAP_REPLY, .offset = 0x1234 },
		{ .op = RAP_OP_READ | RAP_REPLY, .len = 4096, .data = pattern },
		{ .op = RAP_OP_WRITE | RAP_REPLY, .value = 3000 },
		{ .op = RAP_OP_CMD | RAP_REPLY, .len = 5000, .data = pattern + 7 },
		{ .op = RAP_OP_CMD, .len = 3, .data = (const uint8_t *)"?e" },
		{ .op = RAP_OP_CLOSE | RAP_REPLY, .value = 0 },
	};
	for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
		put_msg(&codec_replies, &r[i]);
	codec_nreplies = sizeof r / sizeof r[0];
}

/* Decodes in (in 7-byte pieces) and checks that re-encoding every message gives the input
 * back. An allocation failure is retried with memory back, as the decoder promises that
 * its state survives it. Returns 0 or the error rap_decoder_new failed with. */
static int decode_all(enum rap_role role, const struct bytes *in, size_t nmsgs, bool *hit)
{
	struct rap_decoder *d = NULL;
	int rc = rap_decoder_new(role, &d);
	if (rc < 0) {
		assert_null(d);
		return rc;
	}
	struct bytes again = { 0 };
	size_t pos = 0, got = 0;
	while (pos < in->n) {
		size_t piece = in->n - pos < 7 ? in->n - pos : 7, used = 0;
		struct rap_msg m;
		rc = rap_decoder_decode(d, in->p + pos, piece, &used, &m);
		pos += used;
		if (rc == 1) {
			put_msg(&again, &m);
			got++;
		} else if (rc == RAP_ENOMEM) {
			*hit = disarm() || *hit;
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(used, piece);
		}
	}
	assert_true(rap_decoder_idle(d));
	assert_int_equal(got, nmsgs);
	assert_int_equal(again.n, in->n);
	assert_memory_equal(again.p, in->p, in->n);
	free(again.p);
	rap_decoder_free(d);
	return 0;
}

static bool step_codec(enum mode m, long n)
{
	bool hit = false;
	arm(m, n);
	int rc = decode_all(RAP_ROLE_SERVER, &codec_requests, codec_nrequests, &hit);
	if (rc == 0)
		rc = decode_all(RAP_ROLE_CLIENT, &codec_replies, codec_nreplies, &hit);
	hit = disarm() || hit;
	if (rc < 0)
		assert_int_equal(rc, RAP_ENOMEM);
	return hit;
}

static void test_codec(void **state)
{
	(void)state;
	codec_streams();
	walk("codec", step_codec);
}

/* ---- a handler over one in-memory file (plain malloc: never fails) ----------------------- */

struct store {
	uint8_t data[STORE_SIZE];
	uint64_t pos;
	bool open;
};

static void store_init(struct store *st)
{
	memset(st, 0, sizeof *st);
	for (size_t i = 0; i < STORE_SIZE; i++)
		st->data[i] = (uint8_t)(i ^ (i >> 8));
}

static int st_open(void *ctx, const char *path, uint8_t perm)
{
	struct store *st = ctx;
	if (strcmp(path, "/store") != 0)
		return -ENOENT;
	st->open = true;
	st->pos = 0;
	return 3;
}

static ssize_t st_read(void *ctx, uint8_t *buf, size_t len)
{
	struct store *st = ctx;
	if (!st->open)
		return RAP_EBADFD;
	size_t n = st->pos >= STORE_SIZE ? 0 : STORE_SIZE - st->pos;
	n = n < len ? n : len;
	memcpy(buf, st->data + st->pos, n);
	return (ssize_t)n;
}

static ssize_t st_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct store *st = ctx;
	if (!st->open)
		return RAP_EBADFD;
	size_t n = st->pos >= STORE_SIZE ? 0 : STORE_SIZE - st->pos;
	n = n < len ? n : len;
	memcpy(st->data + st->pos, buf, n);
	return (ssize_t)n;
}

static int st_seek(void *ctx, int whence, uint64_t offset, uint64_t *result)
{
	struct store *st = ctx;
	if (whence == RAP_SEEK_SET)
		st->pos = offset;
	*result = whence == RAP_SEEK_END ? STORE_SIZE : st->pos;
	return 0;
}

static int st_close(void *ctx, int32_t fd)
{
	struct store *st = ctx;
	if (fd != 3 || !st->open)
		return RAP_EBADFD;
	st->open = false;
	return 0;
}

/* "big" answers 30000 bytes (more than a stock client takes: cut with a note), anything
 * else "ran <cmd>". */
static int st_cmd(void *ctx, const char *cmd, char **out)
{
	(void)ctx;
	if (!strcmp(cmd, "big")) {
		*out = malloc(30001);
		assert_non_null(*out);
		memset(*out, 'b', 30000);
		(*out)[30000] = '\0';
		return 0;
	}
	size_t n = strlen(cmd) + 6;
	*out = malloc(n);
	assert_non_null(*out);
	snprintf(*out, n, "ran %s\n", cmd);
	return 0;
}

static const struct rap_server_handler store_handler = {
	.open = st_open, .read = st_read, .write = st_write, .seek = st_seek,
	.close = st_close, .cmd = st_cmd,
};

/* What a stock client sends, then the probe and what an extended one sends. */
static struct bytes session_requests;

static void session_stream(void)
{
	if (session_requests.n)
		return;
	make_pattern();
	static const char path[] = "/store";
	struct bytes *b = &session_requests;
	struct rap_msg q[] = {
		{ .op = RAP_OP_OPEN, .perm = RAP_PERM_RW, .len = sizeof path, .data = (const uint8_t *)path },
		{ .op = RAP_OP_SEEK, .whence = RAP_SEEK_SET, .offset = 100 },
		{ .op = RAP_OP_READ, .len = 4096 },
		{ .op = RAP_OP_WRITE, .len = 4096, .data = pattern },
		{ .op = RAP_OP_SEEK, .whence = RAP_SEEK_END },
		{ .op = RAP_OP_CMD, .len = 6, .data = (const uint8_t *)"hello" },
		{ .op = RAP_OP_CMD, .len = 4, .data = (const uint8_t *)"big" },
		{ .op = RAP_OP_SYSTEM, .len = 3, .data = (const uint8_t *)"ls" },
		/* The probe: "RAPX", version 1, capabilities large|cmd status|write errors. */
		{ .op = RAP_OP_SEEK, .whence = RAP_SEEK_PROBE, .offset = 0x5241505800010007ull },
		{ .op = RAP_OP_WRITE, .len = 8000, .data = pattern },
		{ .op = RAP_OP_READ, .len = 10000 },
		{ .op = RAP_OP_CMD, .len = 4, .data = (const uint8_t *)"big" },
		{ .op = RAP_OP_CLOSE, .value = 3 },
		{ .op = RAP_OP_CLOSE, .value = 3 },
	};
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
		put_msg(b, &q[i]);
}

/* Feeds reqs in 333-byte pieces and collects every reply. Returns 0 or the first error. */
static ssize_t session_run(struct rap_server_session *s, const struct bytes *reqs, struct bytes *out)
{
	for (size_t pos = 0; pos < reqs->n;) {
		size_t piece = reqs->n - pos < 333 ? reqs->n - pos : 333;
		ssize_t rc = rap_server_session_feed(s, reqs->p + pos, piece);
		const uint8_t *p;
		size_t k;
		while ((k = rap_server_session_output(s, &p)) > 0) {
			bytes_add(out, p, k);
			rap_server_session_consume(s, k);
		}
		if (rc < 0)
			return rc;
		assert_int_equal(rc, piece);
		pos += piece;
	}
	return 0;
}

/* The replies of a run without failures, for comparison. */
static struct bytes session_expected;

/* A session whose feed failed keeps failing the same way, and what it answered before is
 * the start of the full answer (expected; NULL when earlier answers may differ). */
static void check_failed_session(struct rap_server_session *s, ssize_t rc, const struct bytes *out,
				 const struct bytes *expected)
{
	assert_int_equal(rc, RAP_ENOMEM);
	if (!strstr(rap_server_session_error(s), "memory"))
		fail_msg("reason: %s", rap_server_session_error(s));
	assert_int_equal(rap_server_session_feed(s, (const uint8_t *)"\x05", 1), RAP_ENOMEM);
	assert_false(rap_server_session_wants_input(s));
	if (!expected)
		return;
	assert_true(out->n <= expected->n);
	if (out->n)
		assert_memory_equal(out->p, expected->p, out->n);
}

static bool step_session(enum mode m, long n)
{
	struct store *st = malloc(sizeof *st);
	assert_non_null(st);
	store_init(st);
	struct bytes out = { 0 };
	struct rap_server_session *s = NULL;
	ssize_t rc;
	arm(m, n);
	rc = rap_server_session_new(&store_handler, st, &s);
	if (rc == 0)
		rc = session_run(s, &session_requests, &out);
	bool hit = disarm();
	if (!s) {
		assert_int_equal(rc, RAP_ENOMEM);
	} else if (rc < 0) {
		check_failed_session(s, rc, &out, &session_expected);
	} else {
		assert_int_equal(out.n, session_expected.n);
		assert_memory_equal(out.p, session_expected.p, out.n);
		/* Idle again: the buffers can go and come back. */
		assert_true(rap_server_session_release(s));
	}
	rap_server_session_free(s);
	free(out.p);
	free(st);
	return hit;
}

/* The requests and, from a run without failures, their replies. */
static void session_reference(void)
{
	session_stream();
	if (session_expected.n)
		return;
	struct store *st = malloc(sizeof *st);
	assert_non_null(st);
	store_init(st);
	struct rap_server_session *s;
	assert_int_equal(rap_server_session_new(&store_handler, st, &s), 0);
	assert_int_equal(session_run(s, &session_requests, &session_expected), 0);
	rap_server_session_free(s);
	free(st);
	assert_true(session_expected.n > 30000);
}

static void test_server_session(void **state)
{
	(void)state;
	session_reference();
	walk("server session", step_session);
}

/* ---- the server session over librap-core's handler (serve.c) ------------------------------ */

static char core_file[64];
static struct bytes serve_requests, serve_expected;

static void make_core_file(void)
{
	make_pattern();
	strcpy(core_file, "/tmp/rap-test-alloc-XXXXXX");
	int fd = mkstemp(core_file);
	assert_true(fd >= 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(write(fd, pattern, sizeof pattern), sizeof pattern);
	close(fd);
}

static void serve_stream(void)
{
	struct bytes *b = &serve_requests;
	b->n = 0;
	struct rap_msg open = { .op = RAP_OP_OPEN, .perm = RAP_PERM_R, .len = (uint32_t)strlen(core_file) + 1,
				.data = (const uint8_t *)core_file };
	put_msg(b, &open);
	struct rap_msg q[] = {
		{ .op = RAP_OP_SEEK, .whence = RAP_SEEK_SET, .offset = 0x100 },
		{ .op = RAP_OP_READ, .len = 4096 },
		{ .op = RAP_OP_SEEK, .whence = RAP_SEEK_END },
		{ .op = RAP_OP_CMD, .len = 9, .data = (const uint8_t *)"px 32 @ 8" },
		{ .op = RAP_OP_CMD, .len = 2, .data = (const uint8_t *)"i" },
		{ .op = RAP_OP_CMD, .len = 2, .data = (const uint8_t *)"o" },
		{ .op = RAP_OP_SEEK, .whence = RAP_SEEK_PROBE, .offset = 0x5241505800010007ull },
		{ .op = RAP_OP_READ, .len = 9000 },
		{ .op = RAP_OP_CMD, .len = 8, .data = (const uint8_t *)"p8 8; s" },
		{ .op = RAP_OP_CMD, .len = 5, .data = (const uint8_t *)"nope" },
		{ .op = RAP_OP_CLOSE, .value = 3 },
	};
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
		put_msg(b, &q[i]);
}

/* A session as rapsrv runs it: its own core (policy read) behind librap-core's handler. */
static int serve_new(struct rap_core **core, struct rap_server_session **s)
{
	*s = NULL;
	int rc = rap_core_new(core);
	if (rc < 0)
		return rc;
	rap_core_set_policy(*core, RAP_CORE_POLICY_READ);
	return rap_server_session_new(rap_core_rap_handler(), *core, s);
}

static bool step_serve(enum mode m, long n)
{
	struct rap_core *core = NULL;
	struct rap_server_session *s = NULL;
	struct bytes out = { 0 };
	arm(m, n);
	ssize_t rc = serve_new(&core, &s);
	if (rc == 0)
		rc = session_run(s, &serve_requests, &out);
	bool hit = disarm();
	if (!core) {
		assert_int_equal(rc, RAP_ENOMEM);
	} else if (!s) {
		assert_int_equal(rc, RAP_ENOMEM);
	} else if (rc < 0) {
		/* Requests before may have been answered as failed (below). */
		check_failed_session(s, rc, &out, NULL);
	} else if (out.n != serve_expected.n || memcmp(out.p, serve_expected.p, out.n) != 0) {
		/* A request that ran out of memory inside the core is answered as failed (an
		 * OPEN with -1, a READ with 0 bytes, a CMD with its error) and the session goes
		 * on. What each such answer says is test_serve.c's business; here the replies
		 * may differ only when a failure was hit. */
		assert_true(hit);
	}
	rap_server_session_free(s);
	rap_core_free(core);
	free(out.p);
	return hit;
}

static void test_serve(void **state)
{
	(void)state;
	make_core_file();
	serve_stream();
	struct rap_core *core;
	struct rap_server_session *s;
	assert_int_equal(serve_new(&core, &s), 0);
	assert_int_equal(session_run(s, &serve_requests, &serve_expected), 0);
	rap_server_session_free(s);
	rap_core_free(core);
	walk("server session over a core", step_serve);
	unlink(core_file);
	free(serve_expected.p);
	free(serve_requests.p);
	memset(&serve_expected, 0, sizeof serve_expected);
	memset(&serve_requests, 0, sizeof serve_requests);
}

/* ---- a RAP server thread for the clients (its allocations never fail) -------------------- */

struct peer {
	int lfd;           /* listening socket, or -1 for the socketpair peer */
	int fd;            /* the socketpair end served */
	int stop[2];
	pthread_t th;
	struct store st;
};

static void serve_one(struct peer *p, int fd)
{
	struct rap_server_session *s;
	assert_int_equal(rap_server_session_new(&store_handler, &p->st, &s), 0);
	(void)rap_server_session_serve_fd(s, fd);
	rap_server_session_free(s);
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	if (p->lfd < 0) {
		serve_one(p, p->fd);
		return NULL;
	}
	for (;;) {
		struct pollfd pfd[2] = { { .fd = p->lfd, .events = POLLIN }, { .fd = p->stop[0], .events = POLLIN } };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		int fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_one(p, fd);
		close(fd);
	}
}

/* A peer on a listening socket (for rap:// URIs); its port is returned. */
static int peer_listen(struct peer *p)
{
	store_init(&p->st);
	assert_int_equal(rap_tcp_listen("127.0.0.1", "0", 8, &p->lfd), 0);
	assert_int_equal(pipe2(p->stop, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);
	return rap_tcp_local_port(p->lfd);
}

static void peer_stop(struct peer *p)
{
	assert_int_equal(write(p->stop[1], "x", 1), 1);
	pthread_join(p->th, NULL);
	close(p->lfd);
	close(p->stop[0]);
	close(p->stop[1]);
}

/* ---- client session ----------------------------------------------------------------------- */

/* Runs what rap:// and '=' do with a client; returns 0 or the first error. */
static int client_ops(struct rap_client *c, struct store *expect)
{
	int rc = rap_client_probe(c);
	if (rc < 0)
		return rc;
	assert_true(rap_client_extended(c));
	rc = rap_client_open(c, "/store", RAP_PERM_RW);
	if (rc < 0)
		return rc;
	static uint8_t buf[STORE_SIZE];
	ssize_t r = rap_client_read_at(c, 50, buf, 12000);
	if (r < 0)
		return (int)r;
	assert_int_equal(r, 12000);
	assert_memory_equal(buf, expect->data + 50, 12000);
	r = rap_client_write_at(c, 1000, pattern, sizeof pattern);
	if (r < 0)
		return (int)r;
	assert_int_equal(r, sizeof pattern);
	memcpy(expect->data + 1000, pattern, sizeof pattern);
	char *out = NULL;
	size_t outlen = 0;
	rc = rap_client_cmd(c, "hello", &out, &outlen);
	if (rc < 0)
		return rc;
	assert_string_equal(out, "ran hello\n");
	free(out);
	rc = rap_client_cmd(c, "big", &out, &outlen);
	if (rc < 0)
		return rc;
	assert_int_equal(outlen, 30000);
	free(out);
	uint64_t size = 0, pos = 0;
	rc = rap_client_size(c, &size);
	if (rc < 0)
		return rc;
	assert_int_equal(size, STORE_SIZE);
	rc = rap_client_seek(c, 77, RAP_SEEK_SET, &pos);
	if (rc < 0)
		return rc;
	assert_int_equal(pos, 77);
	return rap_client_close_fd(c, 3);
}

static bool step_client(enum mode m, long n)
{
	struct peer *p = calloc(1, sizeof *p);
	assert_non_null(p);
	store_init(&p->st);
	struct store expect = p->st;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->lfd = -1;
	p->fd = sv[1];
	assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);

	struct rap_client *c = NULL;
	arm(m, n);
	int rc = rap_client_new(&c);
	if (rc == 0) {
		assert_int_equal(rap_client_attach_fd(c, sv[0]), 0);
		rc = client_ops(c, &expect);
	}
	bool hit = disarm();
	if (!c) {
		assert_int_equal(rc, RAP_ENOMEM);
		close(sv[0]);
	} else if (rc < 0) {
		/* The reply in flight is lost: the client refuses every later call the same way
		 * instead of reading someone else's reply. */
		assert_int_equal(rc, RAP_ENOMEM);
		char *out = NULL;
		rc = rap_client_cmd(c, "hello", &out, NULL);
		if (rc == 0)
			assert_string_equal(out, "ran hello\n"); /* the failure lost nothing */
		else
			assert_int_equal(rc, RAP_ENOMEM);
		free(out);
	} else {
		assert_memory_equal(p->st.data, expect.data, STORE_SIZE);
	}
	rap_client_free(c); /* closes sv[0]: the peer sees the hang-up */
	pthread_join(p->th, NULL);
	close(sv[1]);
	free(p);
	return hit;
}

static void test_client(void **state)
{
	(void)state;
	make_pattern();
	rap__alloc_fail_here_only(true);
	walk("client session", step_client);
	rap__alloc_fail_here_only(false);
}

/* ---- rap_server on an event loop ---------------------------------------------------------- */

struct srv_user {
	int opened, closed;
};

static int srv_session_open(void *user, const char *peer, void **ctx)
{
	struct srv_user *u = user;
	struct store *st = malloc(sizeof *st);
	if (!st)
		return RAP_ENOMEM;
	store_init(st);
	*ctx = st;
	u->opened++;
	return 0;
}

static void srv_session_close(void *user, void *ctx)
{
	struct srv_user *u = user;
	free(ctx);
	u->closed++;
}

static const struct rap_server_callbacks srv_callbacks = {
	.session_open = srv_session_open,
	.session_close = srv_session_close,
};


/* The replies in b as spans, up to max (a cut-off last one is left out). Framed here,
 * without the codec: the allocation hook may be armed while replies arrive. */
static size_t reply_spans(const struct bytes *b, size_t *start, size_t *len, bool *cmd, size_t max)
{
	size_t n = 0, pos = 0;
	while (pos < b->n && n < max) {
		uint8_t op = b->p[pos];
		size_t size;
		if (op == (RAP_OP_SEEK | RAP_REPLY))
			size = 9;
		else if (op == (RAP_OP_OPEN | RAP_REPLY) || op == (RAP_OP_WRITE | RAP_REPLY) ||
			 op == (RAP_OP_CLOSE | RAP_REPLY))
			size = 5;
		else if (b->n - pos >= 5)
			size = 5 + (size_t)rap__get_be32(b->p + pos + 1);
		else
			break;
		if (b->n - pos < size)
			break;
		start[n] = pos;
		len[n] = size;
		cmd[n] = op == (RAP_OP_CMD | RAP_REPLY);
		n++;
		pos += size;
	}
	return n;
}

static size_t replies_in(const struct bytes *b)
{
	enum { MAX = 64 };
	size_t st[MAX], ln[MAX];
	bool cmd[MAX];
	return reply_spans(b, st, ln, cmd, MAX);
}

/* got answers as exp does, reply for reply, except that a command may have answered that
 * it ran out of memory; it may end early (the server dropped the connection), but only
 * after whole replies and never with a byte more. True when every reply is there. */
static bool replies_match(const struct bytes *got, const struct bytes *exp)
{
	enum { MAX = 64 };
	size_t gs[MAX], gl[MAX], es[MAX], el[MAX];
	bool gc[MAX], ec[MAX];
	size_t gn = reply_spans(got, gs, gl, gc, MAX), en = reply_spans(exp, es, el, ec, MAX);
	assert_true(gn <= en);
	size_t end = 0;
	for (size_t i = 0; i < gn; i++) {
		end = gs[i] + gl[i];
		if (gl[i] == el[i] && !memcmp(got->p + gs[i], exp->p + es[i], gl[i]))
			continue;
		assert_true(gc[i] && ec[i]);
		if (!memmem(got->p + gs[i], gl[i], "out of memory", 13))
			fail_msg("reply %zu differs and is no 'out of memory': %.*s", i, (int)gl[i], got->p + gs[i]);
	}
	/* Nothing but whole replies, or the start of the next one. */
	if (gn < en && got->n > end) {
		assert_true(got->n - end < el[gn]);
		assert_memory_equal(got->p + end, exp->p + es[gn], got->n - end);
	}
	return gn == en && got->n == end;
}

/* Sends the server session's requests on a fresh connection and runs the loop until the
 * replies are in (as many as the session answers) or the server hung up. */
static void srv_exchange(struct rap_loop *loop, int port, struct bytes *got)
{
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	int fd;
	assert_int_equal(rap_tcp_connect("127.0.0.1", ps, WAIT_MS, &fd), 0);
	assert_int_equal(rap_send_all(fd, session_requests.p, session_requests.n), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	uint64_t end = rap_loop_now_ms() + WAIT_MS;
	for (;;) {
		uint8_t buf[65536];
		ssize_t k = read(fd, buf, sizeof buf);
		if (k > 0) {
			bytes_add(got, buf, (size_t)k);
			continue;
		}
		if (k == 0 || (k < 0 && errno != EAGAIN) || replies_in(got) >= replies_in(&session_expected))
			break;
		assert_true(rap_loop_now_ms() < end);
		assert_true(rap_loop_run_once(loop, 20) >= 0);
	}
	close(fd);
}

/* Makes the loop, the server and its listener. Returns 0 or the first error. */
static int srv_new(struct srv_user *u, struct rap_loop **loop, struct rap_server **srv, int *port)
{
	*loop = NULL;
	*srv = NULL;
	int rc = rap_loop_new(loop);
	if (rc < 0)
		return rc;
	rc = rap_server_new(*loop, &store_handler, &srv_callbacks, u, srv);
	if (rc < 0)
		return rc;
	int lfd;
	assert_int_equal(rap_tcp_listen("127.0.0.1", "0", 8, &lfd), 0);
	*port = rap_tcp_local_port(lfd);
	rc = rap_server_add_listener(*srv, lfd, NULL);
	if (rc < 0)
		close(lfd);
	return rc;
}

/* Lets the server notice hang-ups until every session it opened is closed. */
static void srv_settle(struct rap_loop *loop, struct rap_server *srv, struct srv_user *u)
{
	uint64_t end = rap_loop_now_ms() + WAIT_MS;
	while (rap_server_session_count(srv) > 0) {
		assert_true(rap_loop_now_ms() < end);
		assert_true(rap_loop_run_once(loop, 20) >= 0);
	}
	assert_int_equal(u->opened, u->closed);
}

static bool step_server(enum mode m, long n)
{
	struct srv_user u = { 0 };
	struct rap_loop *loop;
	struct rap_server *srv;
	struct bytes got = { 0 };
	int port = 0;
	arm(m, n);
	int rc = srv_new(&u, &loop, &srv, &port);
	if (rc == 0)
		srv_exchange(loop, port, &got);
	bool hit = disarm();
	if (rc < 0) {
		assert_int_equal(rc, RAP_ENOMEM);
	} else {
		/* Out of memory, the server drops the connection (or never serves it), or a
		 * command answers that it ran out; what came before is right, and the next
		 * client is served in full. */
		if (!replies_match(&got, &session_expected)) {
			assert_true(hit);
			srv_settle(loop, srv, &u);
			got.n = 0;
			srv_exchange(loop, port, &got);
			assert_int_equal(got.n, session_expected.n);
			assert_memory_equal(got.p, session_expected.p, got.n);
		}
		srv_settle(loop, srv, &u);
	}
	rap_server_free(srv);
	rap_loop_free(loop);
	assert_int_equal(u.opened, u.closed);
	free(got.p);
	return hit;
}

static void test_rap_server(void **state)
{
	(void)state;
	session_reference();
	/* Without failures: exactly what the sans-IO session answers. */
	struct srv_user u = { 0 };
	struct rap_loop *loop;
	struct rap_server *srv;
	int port;
	struct bytes got = { 0 };
	assert_int_equal(srv_new(&u, &loop, &srv, &port), 0);
	srv_exchange(loop, port, &got);
	assert_int_equal(got.n, session_expected.n);
	assert_memory_equal(got.p, session_expected.p, got.n);
	srv_settle(loop, srv, &u);
	rap_server_free(srv);
	rap_loop_free(loop);
	free(got.p);
	walk("rap_server", step_server);
}

/* ---- librap-io ------------------------------------------------------------------------------- */

static char io_dir[64];
static int io_port;

/* Opens, reads and writes through each plugin, closing each file; returns 0 or the first
 * error. */
static int io_ops(struct rap_io *io, int fds[3])
{
	int rc = rap_io_set_root(io, io_dir);
	if (rc < 0)
		return rc;
	rc = rap_io_set_allowed_plugins(io, "file,malloc,rap");
	if (rc < 0)
		return rc;
	char uri[128];
	snprintf(uri, sizeof uri, "rap://127.0.0.1:%d//store", io_port);
	const char *const uris[3] = { "f", "malloc://4096", uri };
	uint8_t buf[6000];
	for (int i = 0; i < 3; i++) {
		rc = fds[i] = rap_io_open(io, uris[i], RAP_PERM_RW);
		if (rc < 0)
			return rc;
		ssize_t k = rap_io_write_at(io, fds[i], 10, pattern, 3000);
		if (k < 0)
			return (int)k;
		assert_int_equal(k, 3000);
		k = rap_io_read_at(io, fds[i], 10, buf, 3000);
		if (k < 0)
			return (int)k;
		assert_int_equal(k, 3000);
		assert_memory_equal(buf, pattern, 3000);
		uint64_t size;
		rc = rap_io_size(io, fds[i], &size);
		if (rc < 0)
			return rc;
	}
	char *out = NULL;
	rc = rap_io_system(io, fds[2], "hello", &out);
	if (rc < 0)
		return rc;
	assert_string_equal(out, "ran hello\n");
	free(out);
	for (int i = 0; i < 3; i++) {
		rc = rap_io_close(io, fds[i]);
		fds[i] = -1;
		if (rc < 0)
			return rc;
	}
	return 0;
}

static bool step_io(enum mode m, long n)
{
	struct rap_io *io = NULL;
	int fds[3] = { -1, -1, -1 };
	arm(m, n);
	int rc = rap_io_new(&io);
	if (rc == 0)
		rc = io_ops(io, fds);
	bool hit = disarm();
	if (rc < 0)
		assert_int_equal(rc, RAP_ENOMEM);
	if (!io) {
		assert_int_equal(rc, RAP_ENOMEM);
		return hit;
	}
	/* What is still open works with memory back; a failed open left no entry. */
	size_t open = 0;
	for (int i = 0; i < 3; i++) {
		if (fds[i] < 0)
			continue;
		uint8_t b[4];
		ssize_t k = rap_io_read_at(io, fds[i], 10, b, 4);
		/* A rap:// client that lost a reply refuses further use (RAP_ENOMEM again). */
		assert_true(k == 4 || (i == 2 && k == RAP_ENOMEM));
		open++;
	}
	assert_int_equal(rap_io_fds(io, NULL, 0), open);
	rap_io_free(io);
	return hit;
}

static void test_io(void **state)
{
	(void)state;
	make_pattern();
	strcpy(io_dir, "/tmp/rap-test-alloc-io-XXXXXX");
	assert_non_null(mkdtemp(io_dir));
	char path[128];
	snprintf(path, sizeof path, "%s/f", io_dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, pattern, sizeof pattern), sizeof pattern);
	close(fd);
	struct peer p = { 0 };
	io_port = peer_listen(&p);
	rap__alloc_fail_here_only(true);
	walk("librap-io", step_io);
	rap__alloc_fail_here_only(false);
	peer_stop(&p);
	unlink(path);
	rmdir(io_dir);
}

/* ---- the command interpreter ----------------------------------------------------------------- */

/* A representative line of each kind, each run on a fresh core with the file open:
 * printing, seeking, block size, writing, files, information, variables, expressions,
 * filters, help, the '=' family and an unknown command. */
static char remote_open[96], remote_host[96]; /* need the peer's port */

static const char *const core_lines[] = {
	"px 64",
	"p8 16 @ 0x10",
	"pr 8 @ 0x20",
	"x 32",
	"s 0x40; s+ 8; s- 4; s",
	"b 128; px; b",
	"px 32~0x",
	"wx 41424344 @ 0x100",
	"w hello @ 0x110",
	"wz world @ 0x120",
	"p8 32 @ 0x100",
	"o malloc://512 rw; wx ff; p8 4; o; o-4; o",
	"o",
	"i",
	"e",
	"e scr.color; e http.port=9999; e http.port",
	"?e one two",
	"?v 0x10+0x20",
	"?",
	"=?",
	"=",
	remote_open,
	remote_host,
	"=&:0; =h& 0; =t& 0; =; =&-",
	"s 0; p8 2; s",
	"nosuchcommand",
};

static struct {
	int rc;
	char *out, *err;
} core_expected[sizeof core_lines / sizeof core_lines[0]];

static size_t core_line; /* the line step_core_line runs */

/* The file as every run starts: the lines write to it. */
static void core_file_reset(void)
{
	int fd = open(core_file, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, pattern, sizeof pattern, 0), sizeof pattern);
	close(fd);
}

static int core_new(struct rap_core **c)
{
	int rc = rap_core_new(c);
	if (rc < 0)
		return rc;
	rc = rap_core_open(*c, core_file, RAP_PERM_RW);
	return rc < 0 ? rc : 0;
}

static bool step_core_new(enum mode m, long n)
{
	struct rap_core *c = NULL;
	arm(m, n);
	int rc = core_new(&c);
	bool hit = disarm();
	if (rc < 0) {
		assert_int_equal(rc, RAP_ENOMEM);
		/* A core that was made but could not open the file is as usable as any. */
		if (c)
			assert_int_equal(rap_core_cmd_str(c, "?e ok", NULL, NULL), 0);
	}
	rap_core_free(c);
	return hit;
}

/* One line on a fresh core. A line that ran into the failure either still did exactly
 * what it does with enough memory (a fallback took over), or fails with an error message;
 * one that did not run into it does exactly what it does with enough memory. */
static bool step_core_line(enum mode m, long n)
{
	core_file_reset();
	struct rap_core *c;
	assert_int_equal(core_new(&c), 0);
	char *out = NULL, *err = NULL;
	arm(m, n);
	int rc = rap_core_cmd_str(c, core_lines[core_line], &out, &err);
	bool hit = disarm();
	if (rc == RAP_ENOMEM && !out) {
		/* The capture itself (its streams) failed: nothing ran. */
		assert_null(err);
	} else {
		assert_non_null(out);
		assert_non_null(err);
		bool as_without = rc == core_expected[core_line].rc &&
				  !strcmp(out, core_expected[core_line].out) &&
				  !strcmp(err, core_expected[core_line].err);
		/* Servers listen on ports the system picks: their lines differ in the numbers. */
		if (!strncmp(core_lines[core_line], "=&:0", 4))
			as_without = rc == core_expected[core_line].rc && !strstr(err, "error");
		if (!as_without && (!hit || rc >= 0 || !strstr(err, "error: ")))
			fail_msg("'%s', N %ld, %s: rc %d\n--- out\n%s--- err\n%s", core_lines[core_line], n,
				 mode_text[m], rc, out, err);
	}
	free(out);
	free(err);
	/* With memory back the core is fully usable (on the file: a failed line may have left
	 * another one current). */
	rap__core_set_current(c, 3);
	out = NULL;
	assert_int_equal(rap_core_cmd_str(c, "s 0; b 0x100; p8 4 @ 0x200", &out, NULL), 0);
	char want[16];
	snprintf(want, sizeof want, "%02x%02x%02x%02x\n", pattern[0x200], pattern[0x201], pattern[0x202],
		 pattern[0x203]);
	assert_string_equal(out, want);
	free(out);
	rap_core_free(c);
	return hit;
}

static void test_core(void **state)
{
	(void)state;
	make_core_file();
	struct peer p = { 0 };
	int port = peer_listen(&p);
	snprintf(remote_open, sizeof remote_open, "o rap://127.0.0.1:%d//store; px 16; o; o-4", port);
	snprintf(remote_host, sizeof remote_host, "=+ rap://127.0.0.1:%d//store; =0 hello; =; =-", port);
	rap__alloc_fail_here_only(true);
	walk("rap_core_new and an open", step_core_new);
	size_t nlines = sizeof core_lines / sizeof core_lines[0];
	for (size_t i = 0; i < nlines; i++) {
		core_file_reset();
		struct rap_core *c;
		assert_int_equal(core_new(&c), 0);
		core_expected[i].rc = rap_core_cmd_str(c, core_lines[i], &core_expected[i].out,
						       &core_expected[i].err);
		rap_core_free(c);
		/* Every line but the last is meant to work. */
		if ((core_expected[i].rc < 0) != (i + 1 == nlines))
			fail_msg("'%s': rc %d, %s", core_lines[i], core_expected[i].rc, core_expected[i].err);
	}
	for (core_line = 0; core_line < nlines; core_line++) {
		char what[96];
		snprintf(what, sizeof what, "command line '%s'", core_lines[core_line]);
		walk(what, step_core_line);
	}
	rap__alloc_fail_here_only(false);
	peer_stop(&p);
	for (size_t i = 0; i < nlines; i++) {
		free(core_expected[i].out);
		free(core_expected[i].err);
	}
	unlink(core_file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hook),
		cmocka_unit_test(test_hook_threads),
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_server_session),
		cmocka_unit_test(test_serve),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_rap_server),
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_core),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
