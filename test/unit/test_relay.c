/* The caching relay (rap/relay.h, libr/io/relay.c, p/io_upstream.c) driven through
 * rap_relay_handler() directly, against an upstream that is a rap_server on a loop thread
 * of the test serving a rap_core per session, its handler wrapped to count what reaches
 * it: rap_relay_new's refusals; many small reads costing few upstream reads; SEEK END
 * asked once; write-through; command forwarding (output, status, the bound); which files'
 * blocks survive a command; a lost upstream and the reconnection; a stock-protocol
 * upstream (no extension: the file opened last only, reads cut at its size although the
 * upstream pads with 0xff as stock radare2 does); authentication upstream; two sessions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/io.h>
#include <rap/loop.h>
#include <rap/rap.h>
#include <rap/relay.h>
#include <rap/server.h>

#define WAIT_MS 10000 /* any wait of the test, at most */

#define RO_SIZE 1300000u /* ro.bin: several blocks, not a multiple of one */
#define RW_SIZE 200000u  /* rw.bin */
#define SECRET "relay-test-secret-0123456789"
#define WRONG "not-the-secret-but-long-enough"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The transcripts' sample records: every 16 bytes name their own offset. */
static uint8_t sample_at(uint64_t off)
{
	char rec[17];
	snprintf(rec, sizeof(rec), "@%08llx|rap2!\n", (unsigned long long)(off & ~(uint64_t)15));
	return (uint8_t)rec[off & 15];
}

static bool is_sample(const uint8_t *b, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != sample_at(off + i))
			return false;
	return true;
}

/* ---- the files: a fresh directory per test ----------------------------------------------- */

static char dir[PATH_MAX];
static char ro_path[PATH_MAX + 16], rw_path[PATH_MAX + 16];

static void write_sample(const char *path, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	uint8_t *b = malloc(size);
	assert_non_null(b);
	for (size_t i = 0; i < size; i++)
		b[i] = sample_at(i);
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	free(b);
	close(fd);
}

/* n bytes of the file at path from off, as the disk has them. */
static void disk_read(const char *path, uint64_t off, uint8_t *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static off_t disk_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* ---- the upstream: a rap_server of rap_cores on a loop thread ------------------------------ */

/* What reached the upstream's handler (all upstreams of a test together). */
static struct {
	atomic_ulong opens, reads, preads, writes, pwrites, stats, seeks, cmds, closes;
} up_count;

struct upstream {
	struct rap_loop *loop;
	struct rap_server *srv;
	pthread_t thread;
	atomic_bool quit;
	char port[16];
	bool stock; /* no extension messages, and reads padded with 0xff as stock servers do */
	atomic_int opened, closed; /* sessions */
	pthread_mutex_t log_mu;
	char log[16384];
};

static const struct rap_server_handler *core_h(void)
{
	return rap_core_rap_handler();
}

static int c_open(void *ctx, const char *path, uint8_t perm)
{
	atomic_fetch_add(&up_count.opens, 1);
	return core_h()->open(ctx, path, perm);
}

static ssize_t c_read(void *ctx, uint8_t *buf, size_t len)
{
	atomic_fetch_add(&up_count.reads, 1);
	return core_h()->read(ctx, buf, len);
}

/* A stock radare2 server answers every byte asked, 0xff past the end of the file. */
static ssize_t c_read_padded(void *ctx, uint8_t *buf, size_t len)
{
	ssize_t n = c_read(ctx, buf, len);
	if (n < 0)
		n = 0;
	memset(buf + n, 0xff, len - (size_t)n);
	return (ssize_t)len;
}

static ssize_t c_write(void *ctx, const uint8_t *buf, size_t len)
{
	atomic_fetch_add(&up_count.writes, 1);
	return core_h()->write(ctx, buf, len);
}

static int c_seek(void *ctx, int whence, uint64_t off, uint64_t *res)
{
	atomic_fetch_add(&up_count.seeks, 1);
	return core_h()->seek(ctx, whence, off, res);
}

static int c_close(void *ctx, int32_t fd)
{
	atomic_fetch_add(&up_count.closes, 1);
	return core_h()->close(ctx, fd);
}

static int c_cmd(void *ctx, const char *cmd, char **out)
{
	atomic_fetch_add(&up_count.cmds, 1);
	return core_h()->cmd(ctx, cmd, out);
}

static int c_cmd_bounded(void *ctx, const struct rap_cmd_request *req, char **out, bool *stopped)
{
	atomic_fetch_add(&up_count.cmds, 1);
	return core_h()->cmd_bounded(ctx, req, out, stopped);
}

static ssize_t c_pread(void *ctx, int32_t fd, uint64_t off, uint8_t *buf, size_t len)
{
	atomic_fetch_add(&up_count.preads, 1);
	return core_h()->pread(ctx, fd, off, buf, len);
}

static ssize_t c_pwrite(void *ctx, int32_t fd, uint64_t off, const uint8_t *buf, size_t len)
{
	atomic_fetch_add(&up_count.pwrites, 1);
	return core_h()->pwrite(ctx, fd, off, buf, len);
}

static int c_stat(void *ctx, int32_t fd, struct rap_stat *st)
{
	atomic_fetch_add(&up_count.stats, 1);
	return core_h()->stat(ctx, fd, st);
}

static int up_session_open(void *user, const char *peer, void **ctx)
{
	(void)peer;
	struct upstream *u = user;
	struct rap_core *c = NULL;
	int rc = rap_core_new(&c);
	if (rc < 0)
		return rc;
	rap_core_set_policy(c, RAP_CORE_POLICY_ALL);
	rap_core_set_allow_shell(c, false);
	atomic_fetch_add(&u->opened, 1);
	*ctx = c;
	return 0;
}

static void up_session_close(void *user, void *ctx)
{
	struct upstream *u = user;
	rap_core_free(ctx);
	atomic_fetch_add(&u->closed, 1);
}

static void up_log(void *user, int level, const char *peer, const char *msg)
{
	(void)level;
	(void)peer;
	struct upstream *u = user;
	pthread_mutex_lock(&u->log_mu);
	size_t n = strlen(u->log);
	if (n + strlen(msg) + 2 < sizeof(u->log))
		snprintf(u->log + n, sizeof(u->log) - n, "%s\n", msg);
	pthread_mutex_unlock(&u->log_mu);
}

static bool up_logged(struct upstream *u, const char *what)
{
	uint64_t end = now_ms() + WAIT_MS;
	for (;;) {
		pthread_mutex_lock(&u->log_mu);
		bool yes = strstr(u->log, what) != NULL;
		pthread_mutex_unlock(&u->log_mu);
		if (yes || now_ms() >= end)
			return yes;
		sleep_ms(5);
	}
}

static void *up_main(void *arg)
{
	struct upstream *u = arg;
	while (!atomic_load(&u->quit))
		rap_loop_run_once(u->loop, 20);
	return NULL;
}

/* An upstream on port (NULL: one the OS picks), requiring secret when not NULL. */
static uint64_t up_idle_ms; /* the next upstream's idle timeout; 0: the default */

static void up_start(struct upstream *u, const char *port, bool stock, const struct rap_secret *secret)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->log_mu, NULL);
	u->stock = stock;
	struct rap_server_handler h = {
		.open = c_open, .read = stock ? c_read_padded : c_read, .write = c_write, .seek = c_seek,
		.close = c_close, .cmd = c_cmd, .cmd_bounded = c_cmd_bounded,
		.pread = stock ? NULL : c_pread, .pwrite = stock ? NULL : c_pwrite, .stat = stock ? NULL : c_stat,
	};
	static const struct rap_server_callbacks cb = { up_session_open, up_session_close, up_log };
	assert_int_equal(rap_loop_new(&u->loop), 0);
	assert_int_equal(rap_server_new(u->loop, &h, &cb, u, &u->srv), 0);
	if (secret)
		assert_int_equal(rap_server_set_secret(u->srv, secret), 0);
	if (up_idle_ms)
		rap_server_set_idle_timeout(u->srv, up_idle_ms);
	int fd;
	assert_int_equal(rap_tcp_listen("127.0.0.1", port ? port : "0", 16, &fd), 0);
	snprintf(u->port, sizeof(u->port), "%d", rap_tcp_local_port(fd));
	assert_int_equal(rap_server_add_listener(u->srv, fd, NULL), 0);
	assert_int_equal(pthread_create(&u->thread, NULL, up_main, u), 0);
}

/* Stops the loop and frees the server: every connection to it closes. */
static void up_stop(struct upstream *u)
{
	if (getenv("TEST_RELAY_LOG"))
		print_message("upstream log:\n%s", u->log);
	atomic_store(&u->quit, true);
	rap_loop_wake(u->loop);
	assert_int_equal(pthread_join(u->thread, NULL), 0);
	rap_server_free(u->srv);
	rap_loop_free(u->loop);
	assert_int_equal(atomic_load(&u->opened), atomic_load(&u->closed));
	pthread_mutex_destroy(&u->log_mu);
}

/* ---- the relay ------------------------------------------------------------------------- */

static pthread_mutex_t relay_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char relay_log_text[16384];

static void relay_log(void *user, int level, const char *msg)
{
	(void)user;
	(void)level;
	pthread_mutex_lock(&relay_log_mu);
	size_t n = strlen(relay_log_text);
	if (n + strlen(msg) + 2 < sizeof(relay_log_text))
		snprintf(relay_log_text + n, sizeof(relay_log_text) - n, "%s\n", msg);
	pthread_mutex_unlock(&relay_log_mu);
}

static bool relay_logged(const char *what)
{
	pthread_mutex_lock(&relay_log_mu);
	bool yes = strstr(relay_log_text, what) != NULL;
	pthread_mutex_unlock(&relay_log_mu);
	return yes;
}

static struct rap_relay *relay_for(const struct upstream *u, const struct rap_secret *secret)
{
	char uri[64];
	snprintf(uri, sizeof(uri), "rap://127.0.0.1:%s/", u->port);
	struct rap_relay_config cfg = {
		.uri = uri, .secret = secret, .connect_timeout_ms = WAIT_MS, .log = relay_log,
	};
	struct rap_relay *r = NULL;
	char why[256];
	assert_int_equal(rap_relay_new(&cfg, &r, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	return r;
}

static struct rap_relay_session *session_of(const struct rap_relay *r)
{
	struct rap_relay_session *s = NULL;
	assert_int_equal(rap_relay_session_new(r, &s), 0);
	assert_non_null(s);
	return s;
}

static struct rap_relay_stats stats(const struct rap_relay_session *s)
{
	struct rap_relay_stats st;
	rap_relay_session_stats(s, &st);
	return st;
}

static const struct rap_server_handler *H;

/* The client's SEEK SET then READ, as stock clients do. */
static ssize_t read_at(struct rap_relay_session *s, uint64_t off, uint8_t *buf, size_t len)
{
	uint64_t pos = UINT64_MAX;
	assert_int_equal(H->seek(s, RAP_SEEK_SET, off, &pos), 0);
	assert_int_equal(pos, off);
	return H->read(s, buf, len);
}

static ssize_t write_at(struct rap_relay_session *s, uint64_t off, const void *buf, size_t len)
{
	uint64_t pos = UINT64_MAX;
	assert_int_equal(H->seek(s, RAP_SEEK_SET, off, &pos), 0);
	return H->write(s, buf, len);
}

static uint64_t seek_end(struct rap_relay_session *s)
{
	uint64_t size = 0;
	assert_int_equal(H->seek(s, RAP_SEEK_END, 0, &size), 0);
	return size;
}

/* Runs cmd through the handler's cmd; returns its result, *out the text (heap, or NULL). */
static int cmd(struct rap_relay_session *s, const char *line, char **out)
{
	*out = NULL;
	return H->cmd(s, line, out);
}

/* ---- fixtures: files, counts and the fd-leak check --------------------------------------- */

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static int fds_before;

static int setup(void **state)
{
	(void)state;
	H = rap_relay_handler();
	const char *base = getenv("TMPDIR");
	char tmpl[PATH_MAX];
	snprintf(tmpl, sizeof(tmpl), "%s/rap-relay-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpl) || !realpath(tmpl, dir))
		return -1;
	snprintf(ro_path, sizeof(ro_path), "%s/ro.bin", dir);
	snprintf(rw_path, sizeof(rw_path), "%s/rw.bin", dir);
	write_sample(ro_path, RO_SIZE);
	write_sample(rw_path, RW_SIZE);
	memset(&up_count, 0, sizeof(up_count));
	relay_log_text[0] = '\0';
	fds_before = count_fds();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(ro_path);
	unlink(rw_path);
	rmdir(dir);
	int now = count_fds();
	if (now != fds_before) {
		print_error("fd leak: %d open before the test, %d after\n", fds_before, now);
		return -1;
	}
	return 0;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void expect_refused(const char *uri, int code, const char *why_part)
{
	struct rap_relay_config cfg = { .uri = uri };
	struct rap_relay *r = (struct rap_relay *)&cfg;
	char why[256] = "stale";
	int rc = rap_relay_new(&cfg, &r, why, sizeof(why));
	if (rc != code || r != NULL || !strstr(why, why_part))
		fail_msg("%s: %d (%s), expected %d with '%s'", uri, rc, why, code, why_part);
}

static void test_new_refusals(void **state)
{
	(void)state;
	expect_refused("rap://127.0.0.1:9999/etc/passwd", RAP_EINVAL, "takes no path");
	expect_refused("rap://127.0.0.1:9999//", RAP_EINVAL, "takes no path");
	expect_refused("http://127.0.0.1:9999/", RAP_EURI, "must be a rap:// or raps:// URI");
	expect_refused("file:///etc/passwd", RAP_EURI, "");
	expect_refused("rap://:9999/", RAP_EURI, "needs a host");
	expect_refused("127.0.0.1:9999", RAP_EURI, "not a rap:// or raps:// URI");
	expect_refused("rap://127.0.0.1/", RAP_EURI, "not a rap:// or raps:// URI");
	expect_refused("rap://[::1/", RAP_EURI, "not a rap:// or raps:// URI");
	struct rap_relay *r = NULL;
	assert_int_equal(rap_relay_new(NULL, &r, NULL, 0), RAP_EINVAL);
	struct rap_relay_config cfg = { .uri = NULL };
	assert_int_equal(rap_relay_new(&cfg, &r, NULL, 0), RAP_EINVAL);
	cfg.uri = "rap://127.0.0.1:9999/";
	assert_int_equal(rap_relay_new(&cfg, NULL, NULL, 0), RAP_EINVAL);
	/* Accepted: with or without the slash, IPv6, raps:// where TLS is built in; why says
	 * nothing then, and may be NULL. */
	const char *good[] = { "rap://127.0.0.1:9999/", "rap://127.0.0.1:9999", "RAP://localhost:1/",
			       "rap://[::1]:9999/" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char why[64] = "stale";
		cfg.uri = good[i];
		assert_int_equal(rap_relay_new(&cfg, &r, why, sizeof(why)), 0);
		assert_string_equal(why, "");
		rap_relay_free(r);
		r = NULL;
	}
	cfg.uri = "raps://127.0.0.1:9999/";
	int rc = rap_relay_new(&cfg, &r, NULL, 0);
	assert_int_equal(rc, RAP_TEST_HAVE_OPENSSL ? 0 : RAP_ENOTSUP);
	/* A session connects nothing until it needs the upstream (port 9999 may be anyone's:
	 * nothing is sent to it). */
	if (r) {
		struct rap_relay_session *s = session_of(r);
		struct rap_relay_stats st = stats(s);
		assert_int_equal(st.connects, 0);
		assert_false(st.extension);
		uint8_t b[4];
		assert_int_equal(H->read(s, b, 4), RAP_EBADFD);
		uint64_t size;
		assert_int_equal(H->seek(s, RAP_SEEK_END, 0, &size), RAP_EBADFD);
		rap_relay_session_free(s);
	}
	rap_relay_free(r);
	struct rap_relay_session *s = (struct rap_relay_session *)&cfg;
	assert_int_equal(rap_relay_session_new(NULL, &s), RAP_EINVAL);
	rap_relay_free(NULL);
	rap_relay_session_free(NULL);
	struct rap_relay_stats st;
	memset(&st, 0xa5, sizeof(st));
	rap_relay_session_stats(NULL, &st);
	assert_int_equal(st.connects, 0);
	assert_int_equal(st.reads, 0);
	rap_relay_session_stats(NULL, NULL);
}

/* A stock client's pattern: thousands of tiny reads, each after a SEEK; a few dozen
 * requests upstream, every byte right, the end of the file where it is. */
static void test_reads_through_the_cache(void **state)
{
	(void)state;
	struct upstream u;
	up_start(&u, NULL, false, NULL);
	struct rap_relay *r = relay_for(&u, NULL);
	struct rap_relay_session *s = session_of(r);
	int fd = H->open(s, ro_path, RAP_PERM_R | RAP_PERM_X);
	assert_true(fd >= 0);
	struct rap_relay_stats st = stats(s);
	assert_int_equal(st.connects, 1);
	assert_true(st.extension);
	assert_int_equal(st.reads, 0);
	uint8_t b[64];
	const unsigned n = 20000;
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = (uint64_t)i * 61;
		size_t len = 1 + i % 48;
		assert_int_equal(read_at(s, off, b, len), (ssize_t)len);
		if (!is_sample(b, off, len))
			fail_msg("wrong bytes at 0x%llx", (unsigned long long)off);
	}
	st = stats(s);
	if (getenv("TEST_RELAY_LOG"))
		print_message("%llu upstream reads, %llu hits, %lu PREADs\n", (unsigned long long)st.reads,
			      (unsigned long long)st.hits, atomic_load(&up_count.preads));
	/* At worst one request per block read (no read-ahead at all); 20000 reads. */
	const uint64_t most = RO_SIZE / RAP_IO_CACHE_BLOCK + 4;
	if (st.reads > most || atomic_load(&up_count.preads) > most)
		fail_msg("%llu upstream reads (%lu PREADs) for %u client reads", (unsigned long long)st.reads,
			 atomic_load(&up_count.preads), n);
	/* Every read but the first of each block is a hit (the prefetch may answer a miss). */
	assert_true(st.hits >= n - most);
	assert_true(st.read_bytes >= (uint64_t)(n - 1) * 61);
	assert_int_equal(atomic_load(&up_count.reads), 0); /* the extension: no stock READ */
	/* The end of the file: short, then nothing, with no request more than needed. */
	assert_int_equal(read_at(s, RO_SIZE - 5, b, 64), 5);
	assert_true(is_sample(b, RO_SIZE - 5, 5));
	assert_int_equal(read_at(s, RO_SIZE, b, 64), 0);
	assert_int_equal(read_at(s, RO_SIZE + 4096, b, 64), 0);
	/* The extension's reads by fd, on the same blocks. */
	uint64_t before = stats(s).reads;
	assert_int_equal(H->pread(s, fd, 1000, b, 32), 32);
	assert_true(is_sample(b, 1000, 32));
	assert_int_equal(stats(s).reads, before);
	assert_int_equal(H->pread(s, fd + 100, 0, b, 4), RAP_EBADFD);
	assert_int_equal(H->pread(s, -1, 0, b, 4), RAP_EBADFD);
	/* STAT: the client's path, the upstream's size, a remote file. */
	struct rap_stat *sb = calloc(1, sizeof(*sb));
	assert_non_null(sb);
	assert_int_equal(H->stat(s, fd, sb), 0);
	assert_int_equal(sb->size, RO_SIZE);
	assert_string_equal(sb->name, ro_path);
	assert_int_equal(sb->kind, RAP_KIND_REMOTE);
	assert_int_equal(sb->perm & RAP_PERM_W, 0);
	assert_int_equal(H->stat(s, fd + 100, sb), RAP_EBADFD);
	free(sb);
	/* CLOSE: the upstream is told; the fd is gone here, and what its cache answered
	 * still counts. */
	st = stats(s);
	assert_int_equal(H->close(s, fd), 0);
	assert_int_equal(H->read(s, b, 4), RAP_EBADFD);
	assert_true(H->close(s, fd) < 0);
	struct rap_relay_stats after = stats(s);
	assert_int_equal(after.hits, st.hits);
	assert_int_equal(after.reads, st.reads);
	assert_int_equal(after.connects, 1);
	rap_relay_session_free(s);
	rap_relay_free(r);
	up_stop(&u);
	assert_int_equal(atomic_load(&up_count.closes), 1);
}

/* SEEK END answers the size: asked upstream once, then known until a write. */
static void test_seek_end_asked_once(void **state)
{
	(void)state;
	struct upstream u;
	up_start(&u, NULL, false, NULL);
	struct rap_relay *r = relay_for(&u, NULL);
	struct rap_relay_session *s = session_of(r);
	assert_true(H->open(s, rw_path, RAP_PERM_RW) >= 0);
	assert_int_equal(seek_end(s), RW_SIZE);
	unsigned long asked = atomic_load(&up_count.stats) + atomic_load(&up_count.seeks);
	assert_true(asked >= 1);
	for (int i = 0; i < 50; i++)
		assert_int_equal(seek_end(s), RW_SIZE);
	assert_int_equal(atomic_load(&up_count.stats) + atomic_load(&up_count.seeks), asked);
	assert_int_equal(stats(s).reads, 0);
	/* SEEK END does not move; SEEK CUR reports where the client is. */
	uint64_t pos = 1;
	assert_int_equal(H->seek(s, RAP_SEEK_SET, 0x1234, &pos), 0);
	assert_int_equal(seek_end(s), RW_SIZE);
	assert_int_equal(H->seek(s, RAP_SEEK_CUR, 0, &pos), 0);
	assert_int_equal(pos, 0x1234);
	/* A write past the end grows it: the next SEEK END says so. */
	assert_int_equal(write_at(s, RW_SIZE, "tail", 4), 4);
	assert_int_equal(seek_end(s), RW_SIZE + 4);
	assert_int_equal(disk_size(rw_path), RW_SIZE + 4);
	rap_relay_session_free(s);
	rap_relay_free(r);
	up_stop(&u);
}

/* Writes go through at once and later reads see them; a read-only file refuses them. */
static void test_write_through(void **state)
{
	(void)state;
	struct upstream u;
	up_start(&u, NULL, false, NULL);
	struct rap_relay *r = relay_for(&u, NULL);
	struct rap_relay_session *s = session_of(r);
	int fd = H->open(s, rw_path, RAP_PERM_RW);
	assert_true(fd >= 0);
	uint8_t b[64];
	/* Cached first, so that a stale block would show. */
	assert_int_equal(read_at(s, 96, b, 16), 16);
	assert_true(is_sample(b, 96, 16));
	uint64_t reads = stats(s).reads;
	assert_int_equal(read_at(s, 200, b, 16), 16);
	assert_int_equal(stats(s).reads, reads);

	assert_int_equal(write_at(s, 100, "HELLO", 5), 5);
	assert_int_equal(stats(s).writes, 1);
	assert_int_equal(atomic_load(&up_count.pwrites), 1);
	uint8_t d[16];
	disk_read(rw_path, 96, d, 16);
	assert_memory_equal(d + 4, "HELLO", 5);
	assert_true(is_sample(d, 96, 4));
	assert_int_equal(read_at(s, 96, b, 16), 16);
	assert_memory_equal(b, d, 16);
	/* By fd, across a block boundary. */
	assert_int_equal(H->pwrite(s, fd, 65530, (const uint8_t *)"0123456789ab", 12), 12);
	disk_read(rw_path, 65530, d, 12);
	assert_memory_equal(d, "0123456789ab", 12);
	assert_int_equal(H->pread(s, fd, 65528, b, 16), 16);
	assert_true(is_sample(b, 65528, 2));
	assert_memory_equal(b + 2, "0123456789ab", 12);
	assert_int_equal(H->pwrite(s, fd + 100, 0, (const uint8_t *)"x", 1), RAP_EBADFD);

	/* A file opened read-only: the write fails, the disk keeps its bytes. */
	int ro = H->open(s, ro_path, RAP_PERM_R);
	assert_true(ro >= 0 && ro != fd);
	assert_true(write_at(s, 0, "XXXX", 4) < 0);
	assert_true(H->pwrite(s, ro, 0, (const uint8_t *)"XXXX", 4) < 0);
	disk_read(ro_path, 0, d, 16);
	assert_true(is_sample(d, 0, 16));
	assert_int_equal(read_at(s, 0, b, 16), 16);
	assert_true(is_sample(b, 0, 16));
	/* No file: nothing to write to. */
	assert_int_equal(H->close(s, ro), 0);
	assert_int_equal(H->write(s, (const uint8_t *)"x", 1), RAP_EBADFD);
	rap_relay_session_free(s);
	rap_relay_free(r);
	up_stop(&u);
}

static void test_commands(void **state)
{
	(void)state;
	struct upstream u;
	up_start(&u, NULL, false, NULL);
	struct rap_relay *r = relay_for(&u, NULL);
	struct rap_relay_session *s = session_of(r);
	char *out = NULL;
	/* The first command connects. */
	assert_int_equal(cmd(s, "?e hello relay", &out), 0);
	assert_string_equal(out, "hello relay\n");
	free(out);
	assert_int_equal(stats(s).connects, 1);
	assert_int_equal(stats(s).cmds, 1);
	/* Commands act on the upstream session's files: the one the relay opened is current
	 * there too. */
	assert_true(H->open(s, ro_path, RAP_PERM_R) >= 0);
	assert_int_equal(cmd(s, "p8 8 @ 0x10", &out), 0);
	assert_string_equal(out, "4030303030303031\n");
	free(out);
	/* A failing command: negative, with the upstream's text. */
	int rc = cmd(s, "nosuchcmd", &out);
	assert_true(rc < 0);
	assert_non_null(out);
	assert_non_null(strstr(out, "unknown command 'nosuchcmd'"));
	free(out);
	/* Output past the bound stops there. */
	struct rap_cmd_request req = { .cmd = "px 0x4000", .max_output = 1000 };
	bool stopped = false;
	rc = H->cmd_bounded(s, &req, &out, &stopped);
	assert_true(rc >= 0);
	assert_true(stopped);
	assert_non_null(out);
	assert_true(strlen(out) <= 1000);
	assert_true(strlen(out) > 500);
	assert_memory_equal(out, "- offset -", 10);
	free(out);
	/* Under it, whole and not stopped; the session still in step after the stop. */
	req.cmd = "p8 4";
	stopped = true;
	assert_int_equal(H->cmd_bounded(s, &req, &out, &stopped), 0);
	assert_false(stopped);
	assert_string_equal(out, "40303030\n");
	free(out);
	req.cmd = "nosuchcmd";
	assert_true(H->cmd_bounded(s, &req, &out, &stopped) < 0);
	assert_non_null(strstr(out, "unknown command"));
	free(out);
	/* radare2's io init sends empty CMDs: answered with nothing, as stock does, and not
	 * sent upstream (whose extension refuses an empty command). */
	unsigned long upstream_cmds = atomic_load(&up_count.cmds);
	rc = cmd(s, "", &out);
	if (rc != 0 || (out && out[0]))
		fail_msg("an empty command: %d, '%s'", rc, out ? out : "(null)");
	free(out);
	assert_int_equal(atomic_load(&up_count.cmds), upstream_cmds);
	assert_int_equal(stats(s).cmds, 6);
	assert_int_equal(stats(s).connects, 1);
	rap_relay_session_free(s);
	rap_relay_free(r);
	up_stop(&u);
}

/* After a command upstream, a read-only file's blocks stay; a writable one's are dropped
 * (the command may have written it, and here it does). */
static void test_cache_validity_across_commands(void **state)
{
	(void)state;
	struct upstream u;
	up_start(&u, NULL, false, NULL);
	struct rap_relay *r = relay_for(&u, NULL);
	struct rap_relay_session *s = session_of(r);
	int ro = H->open(s, ro_path, RAP_PERM_R | RAP_PERM_X);
	int rw = H->open(s, rw_path, RAP_PERM_RW);
	assert_true(ro >= 0 && rw >= 0);
	uint8_t b[16];
	assert_int_equal(H->pread(s, ro, 0x20, b, 16), 16);
	assert_int_equal(H->pread(s, rw, 0x20, b, 16), 16);
	assert_true(is_sample(b, 0x20, 16));
	uint64_t reads = stats(s).reads;
	/* Cached: no request for either. */
	assert_int_equal(H->pread(s, ro, 0x40, b, 16), 16);
	assert_int_equal(H->pread(s, rw, 0x40, b, 16), 16);
	assert_int_equal(stats(s).reads, reads);
	/* The upstream session's current file is rw.bin (opened last): the command writes it. */
	char *out = NULL;
	assert_int_equal(cmd(s, "wx 41424344 @ 0x20", &out), 0);
	free(out);
	uint8_t d[4];
	disk_read(rw_path, 0x20, d, 4);
	assert_memory_equal(d, "ABCD", 4);
	assert_int_equal(H->pread(s, ro, 0x20, b, 16), 16);
	assert_true(is_sample(b, 0x20, 16));
	assert_int_equal(stats(s).reads, reads);
	assert_int_equal(H->pread(s, rw, 0x20, b, 16), 16);
	assert_memory_equal(b, "ABCD", 4);
	assert_int_equal(stats(s).reads, reads + 1);
	/* A bounded command too. */
	struct rap_cmd_request req = { .cmd = "wx 45464748 @ 0x20", .max_output = 4096 };
	bool stopped;
	assert_int_equal(H->cmd_bounded(s, &req, &out, &stopped), 0);
	free(out);
	assert_int_equal(H->pread(s, ro, 0x20, b, 16), 16);
	assert_int_equal(stats(s).reads, reads + 1);
	assert_int_equal(H->pread(s, rw, 0x20, b, 16), 16);
	assert_memory_equal(b, "EFGH", 4);
	assert_int_equal(stats(s).reads, reads + 2);
	rap_relay_session_free(s);
	rap_relay_free(r);
	up_stop(&u);
}

/* The upstream goes away: reads that need it fail, commands say why, and the next OPEN
 * connects again (the old file is gone with the old connection). */
static void test_lost_upstream_and_reconnect(void **state)
{
	(void)state;
	struct upstream u;
	up_start(&u, NULL, false, NULL);
	char port[16];
	snprintf(port, sizeof(port), "%s", u.port);
	struct rap_relay *r = relay_for(&u, NULL);
	struct rap_relay_session *s = session_of(r);
	int fd = H->open(s, ro_path, RAP_PERM_R);
	assert_true(fd >= 0);
	uint8_t b[16];
	assert_int_equal(read_at(s, 0, b, 16), 16);
	up_stop(&u);

	/* Past the cached block: upstream needed, and lost. */
	assert_true(read_at(s, 1000000, b, 16) < 0);
	assert_true(relay_logged("connection lost"));
	assert_true(H->pread(s, fd, 1100000, b, 16) < 0);
	/* A command finds no upstream to connect to, and says so. */
	char *out = NULL;
	assert_true(cmd(s, "?e hi", &out) < 0);
	assert_non_null(out);
	char want[64];
	snprintf(want, sizeof(want), "error: upstream rap://127.0.0.1:%s/", port);
	assert_non_null(strstr(out, want));
	free(out);
	assert_true(H->open(s, rw_path, RAP_PERM_R) < 0);
	assert_int_equal(stats(s).connects, 1);

	/* Back, on the same port. */
	up_start(&u, port, false, NULL);
	int fd2 = H->open(s, rw_path, RAP_PERM_R);
	assert_true(fd2 >= 0);
	assert_int_equal(stats(s).connects, 2);
	assert_true(stats(s).extension);
	assert_int_equal(read_at(s, 100000, b, 16), 16);
	assert_true(is_sample(b, 100000, 16));
	assert_int_equal(seek_end(s), RW_SIZE);
	/* The old file is opened again on the new connection, its blocks still cached. */
	unsigned long opens = atomic_load(&up_count.opens);
	assert_int_equal(H->pread(s, fd, 1200000, b, 16), 16);
	assert_true(is_sample(b, 1200000, 16));
	assert_int_equal(atomic_load(&up_count.opens), opens + 1);
	struct rap_stat *sb = calloc(1, sizeof(*sb));
	assert_non_null(sb);
	assert_int_equal(H->stat(s, fd, sb), 0);
	assert_int_equal(sb->size, RO_SIZE);
	free(sb);
	uint64_t reads = stats(s).reads;
	assert_int_equal(H->pread(s, fd, 0, b, 16), 16);
	assert_true(is_sample(b, 0, 16));
	assert_int_equal(stats(s).reads, reads);
	assert_int_equal(stats(s).connects, 2);
	assert_int_equal(cmd(s, "?e back", &out), 0);
	assert_string_equal(out, "back\n");
	free(out);
	rap_relay_session_free(s);
	rap_relay_free(r);
	up_stop(&u);
}

/* An upstream without the extension (a stock radare2 server, emulated by ours without the
 * fd-addressed callbacks and with stock's 0xff padding): the file opened last works, cut
 * at its size; an older one answers RAP_ENOTSUP. */
static void test_stock_upstream(void **state)
{
	(void)state;
	struct upstream u;
	up_start(&u, NULL, true, NULL);
	struct rap_relay *r = relay_for(&u, NULL);
	struct rap_relay_session *s = session_of(r);
	int ro = H->open(s, ro_path, RAP_PERM_R | RAP_PERM_X);
	assert_true(ro >= 0);
	struct rap_relay_stats st = stats(s);
	assert_int_equal(st.connects, 1);
	assert_false(st.extension);
	uint8_t b[64];
	for (unsigned i = 0; i < 2000; i++) {
		uint64_t off = (uint64_t)i * 37;
		assert_int_equal(read_at(s, off, b, 16), 16);
		if (!is_sample(b, off, 16))
			fail_msg("wrong bytes at 0x%llx", (unsigned long long)off);
	}
	assert_true(stats(s).reads <= 4);
	assert_int_equal(atomic_load(&up_count.preads), 0);
	assert_true(atomic_load(&up_count.reads) >= 1);
	/* The end: the padding never shows. */
	assert_int_equal(seek_end(s), RO_SIZE);
	assert_int_equal(read_at(s, RO_SIZE - 3, b, 64), 3);
	assert_true(is_sample(b, RO_SIZE - 3, 3));
	assert_int_equal(read_at(s, RO_SIZE, b, 64), 0);
	assert_int_equal(H->pread(s, ro, RO_SIZE - 10, b, 64), 10);
	/* A second file: the upstream's current one from now on. */
	int rw = H->open(s, rw_path, RAP_PERM_RW);
	assert_true(rw >= 0);
	assert_int_equal(seek_end(s), RW_SIZE);
	assert_int_equal(read_at(s, RW_SIZE - 8, b, 64), 8);
	assert_true(is_sample(b, RW_SIZE - 8, 8));
	/* The older file's uncached bytes cannot be had any more. */
	assert_int_equal(H->pread(s, ro, 700000, b, 16), RAP_ENOTSUP);
	/* Writes through the current file grow it, and the cut follows. */
	assert_int_equal(write_at(s, RW_SIZE, "grow", 4), 4);
	assert_int_equal(disk_size(rw_path), RW_SIZE + 4);
	assert_int_equal(seek_end(s), RW_SIZE + 4);
	assert_int_equal(read_at(s, RW_SIZE - 4, b, 64), 8);
	assert_true(is_sample(b, RW_SIZE - 4, 4));
	assert_memory_equal(b + 4, "grow", 4);
	/* Commands: the output, without a status (a stock upstream reports none). */
	char *out = NULL;
	assert_int_equal(cmd(s, "?e stock", &out), 0);
	assert_string_equal(out, "stock\n");
	free(out);
	/* Closing is not told to a stock upstream (it would close(2) that number itself). */
	assert_int_equal(H->close(s, rw), 0);
	assert_int_equal(atomic_load(&up_count.closes), 0);
	rap_relay_session_free(s);
	rap_relay_free(r);
	up_stop(&u);
}

/* An upstream that requires the secret: the relay with it is served; without it, or with
 * another, the OPEN fails and both sides say why. */
static void test_authentication(void **state)
{
	(void)state;
	/* Without OpenSSL there are no secrets: the refusal is what there is to check (not
	 * skip(): cmocka 1.1.5 reports it as "not ok", which meson counts as a failure). */
	if (!rap_auth_available()) {
		struct rap_secret *none = NULL;
		assert_int_equal(rap_secret_new(SECRET, strlen(SECRET), &none), RAP_ENOTSUP);
		assert_null(none);
		return;
	}
	struct rap_secret *good = NULL, *wrong = NULL;
	assert_int_equal(rap_secret_new(SECRET, strlen(SECRET), &good), 0);
	assert_int_equal(rap_secret_new(WRONG, strlen(WRONG), &wrong), 0);
	struct upstream u;
	up_start(&u, NULL, false, good);

	struct rap_relay *r = relay_for(&u, good);
	struct rap_relay_session *s = session_of(r);
	int fd = H->open(s, ro_path, RAP_PERM_R);
	assert_true(fd >= 0);
	uint8_t b[16];
	assert_int_equal(read_at(s, 0x100, b, 16), 16);
	assert_true(is_sample(b, 0x100, 16));
	assert_true(stats(s).extension);
	assert_true(relay_logged("authenticated"));
	assert_true(up_logged(&u, "authenticated"));
	rap_relay_session_free(s);
	rap_relay_free(r);

	/* No secret. */
	r = relay_for(&u, NULL);
	s = session_of(r);
	assert_true(H->open(s, ro_path, RAP_PERM_R) < 0);
	assert_int_equal(stats(s).connects, 0);
	assert_true(relay_logged("authentication"));
	char *out = NULL;
	assert_true(cmd(s, "?e hi", &out) < 0);
	assert_non_null(out);
	assert_non_null(strstr(out, "error: upstream"));
	assert_null(strstr(out, "hi\n"));
	free(out);
	rap_relay_session_free(s);
	rap_relay_free(r);

	/* The wrong one. */
	r = relay_for(&u, wrong);
	s = session_of(r);
	assert_true(H->open(s, ro_path, RAP_PERM_R) < 0);
	assert_int_equal(stats(s).connects, 0);
	assert_true(up_logged(&u, "authentication failed"));
	rap_relay_session_free(s);
	rap_relay_free(r);
	up_stop(&u);

	/* A secret, and an upstream that cannot prove it knows it: refused. */
	up_start(&u, NULL, false, NULL);
	r = relay_for(&u, good);
	s = session_of(r);
	assert_true(H->open(s, ro_path, RAP_PERM_R) < 0);
	assert_int_equal(stats(s).connects, 0);
	rap_relay_session_free(s);
	rap_relay_free(r);
	up_stop(&u);
	/* The secret never reaches a log line. */
	assert_false(relay_logged(SECRET));
	assert_false(relay_logged(WRONG));
	rap_secret_free(good);
	rap_secret_free(wrong);
}

/* Two sessions of one relay: positions, files and caches of their own. */
static void test_sessions_are_separate(void **state)
{
	(void)state;
	struct upstream u;
	up_start(&u, NULL, false, NULL);
	struct rap_relay *r = relay_for(&u, NULL);
	struct rap_relay_session *a = session_of(r), *b = session_of(r);
	int fa = H->open(a, ro_path, RAP_PERM_R);
	int fb = H->open(b, rw_path, RAP_PERM_R);
	assert_true(fa >= 0 && fb >= 0);
	uint64_t pos;
	assert_int_equal(H->seek(a, RAP_SEEK_SET, 0x100, &pos), 0);
	assert_int_equal(H->seek(b, RAP_SEEK_SET, 0x2000, &pos), 0);
	assert_int_equal(H->seek(a, RAP_SEEK_CUR, 0, &pos), 0);
	assert_int_equal(pos, 0x100);
	assert_int_equal(H->seek(b, RAP_SEEK_CUR, 0, &pos), 0);
	assert_int_equal(pos, 0x2000);
	assert_int_equal(seek_end(a), RO_SIZE);
	assert_int_equal(seek_end(b), RW_SIZE);
	uint8_t x[16];
	assert_int_equal(H->read(a, x, 16), 16);
	assert_true(is_sample(x, 0x100, 16));
	assert_int_equal(H->read(b, x, 16), 16);
	assert_true(is_sample(x, 0x2000, 16));
	assert_int_equal(stats(a).connects, 1);
	assert_int_equal(stats(b).connects, 1);
	assert_int_equal(stats(a).reads, 1);
	assert_int_equal(stats(b).reads, 1);
	assert_int_equal(atomic_load(&u.opened), 2);
	/* Closing one leaves the other's file alone. */
	assert_int_equal(H->close(a, fa), 0);
	assert_int_equal(H->read(b, x, 16), 16);
	rap_relay_session_free(a);
	rap_relay_session_free(b);
	rap_relay_free(r);
	up_stop(&u);
}

/* Sequential reads: once a stream is seen, the session's thread reads ahead of the client
 * (few upstream reads for many blocks, the answers from the prefetch), the data stays
 * right, a write ahead of the reader drops what the prefetch held, and a stock upstream's
 * stream is prefetched too, cut at its size. */
static void sequential_file(char *path, size_t cap, size_t size)
{
	snprintf(path, cap, "%s/seq.bin", dir);
	write_sample(path, size);
}

static void read_stream(struct rap_relay_session *s, uint64_t from, uint64_t to, const char *path)
{
	uint8_t b[4096], d[4096];
	for (uint64_t off = from; off < to; off += sizeof(b)) {
		size_t len = to - off < sizeof(b) ? (size_t)(to - off) : sizeof(b);
		assert_int_equal(read_at(s, off, b, len), (ssize_t)len);
		disk_read(path, off, d, len);
		if (memcmp(b, d, len) != 0)
			fail_msg("wrong bytes near 0x%llx", (unsigned long long)off);
	}
}

static void test_prefetch(void **state)
{
	(void)state;
	const size_t size = 6u << 20;
	char path[PATH_MAX + 16];
	sequential_file(path, sizeof(path), size);
	for (int stock = 0; stock < 2; stock++) {
		struct upstream u;
		up_start(&u, NULL, stock, NULL);
		struct rap_relay *r = relay_for(&u, NULL);
		struct rap_relay_session *s = session_of(r);
		int fd = H->open(s, path, RAP_PERM_RW);
		assert_true(fd >= 0);
		read_stream(s, 0, 1u << 20, path);
		/* Ahead of the reader, where a prefetch may hold the old bytes. */
		uint64_t at = (1u << 20) + 300000;
		assert_int_equal(write_at(s, at, "WXYZ", 4), 4);
		read_stream(s, 1u << 20, size, path);
		uint8_t b[8];
		assert_int_equal(read_at(s, at - 2, b, 8), 8);
		assert_memory_equal(b + 2, "WXYZ", 4);
		/* The end: short, then nothing (a stock upstream's padding never shows). */
		assert_int_equal(read_at(s, size - 3, b, 8), 3);
		assert_int_equal(read_at(s, size, b, 8), 0);
		struct rap_relay_stats st = stats(s);
		if (getenv("TEST_RELAY_LOG"))
			print_message("%s: %llu upstream reads (%llu prefetches, %llu answered from them) for %zu "
				      "blocks\n", stock ? "stock" : "extension", (unsigned long long)st.reads,
				      (unsigned long long)st.prefetches, (unsigned long long)st.prefetch_hits,
				      size / RAP_IO_CACHE_BLOCK);
		assert_true(st.prefetches >= 2);
		assert_true(st.prefetch_hits >= 2);
		/* 96 blocks; the window grows from 256 KiB: far fewer requests than blocks. */
		assert_true(st.reads < size / RAP_IO_CACHE_BLOCK / 3);
		assert_int_equal(st.read_bytes >= size, true);
		/* A new stream right before the end: the session goes with a fetch perhaps under
		 * way, which it waits for. */
		read_stream(s, 0, 2u << 20, path);
		rap_relay_session_free(s);
		rap_relay_free(r);
		up_stop(&u);
		write_sample(path, size);
	}
}

/* An upstream that drops the idle connection (its --idle-timeout): the next request finds
 * out before it is sent, connects again, opens the file again and is answered; a read-only
 * file's blocks stayed cached. */
static void test_idle_upstream_drop(void **state)
{
	(void)state;
	struct upstream u;
	up_idle_ms = 200;
	up_start(&u, NULL, false, NULL);
	up_idle_ms = 0;
	struct rap_relay *r = relay_for(&u, NULL);
	struct rap_relay_session *s = session_of(r);
	int fd = H->open(s, ro_path, RAP_PERM_R);
	assert_true(fd >= 0);
	uint8_t b[16];
	assert_int_equal(read_at(s, 0, b, 16), 16);
	uint64_t deadline = now_ms() + WAIT_MS;
	while (atomic_load(&u.closed) < 1 && now_ms() < deadline)
		sleep_ms(10);
	assert_int_equal(atomic_load(&u.closed), 1);
	unsigned long opens = atomic_load(&up_count.opens);
	assert_int_equal(read_at(s, 700000, b, 16), 16);
	assert_true(is_sample(b, 700000, 16));
	assert_int_equal(stats(s).connects, 2);
	assert_int_equal(atomic_load(&up_count.opens), opens + 1);
	assert_true(relay_logged("perhaps for being idle"));
	char *out = NULL;
	assert_int_equal(cmd(s, "?e again", &out), 0);
	assert_string_equal(out, "again\n");
	free(out);
	rap_relay_session_free(s);
	rap_relay_free(r);
	up_stop(&u);
}

/* An upstream that takes the connection and never answers: the request fails after the
 * relay's timeout, instead of holding the server's loop (and every client) for good. */
static void test_silent_upstream(void **state)
{
	(void)state;
	int lfd;
	assert_int_equal(rap_tcp_listen("127.0.0.1", "0", 16, &lfd), 0);
	char uri[64];
	snprintf(uri, sizeof(uri), "rap://127.0.0.1:%d/", rap_tcp_local_port(lfd));
	struct rap_relay_config cfg = { .uri = uri, .timeout_ms = 300, .log = relay_log };
	struct rap_relay *r = NULL;
	char why[256];
	assert_int_equal(rap_relay_new(&cfg, &r, why, sizeof(why)), 0);
	struct rap_relay_session *s = session_of(r);
	uint64_t t0 = now_ms();
	/* The kernel completes the connection (the backlog); nobody ever answers the probe. */
	assert_int_equal(H->open(s, "/x", RAP_PERM_R), RAP_ETIMEDOUT);
	uint64_t took = now_ms() - t0;
	assert_true(took >= 250 && took < 5000);
	assert_true(relay_logged("neither sent nor took a byte for 300 ms"));
	char *out = NULL;
	assert_int_equal(cmd(s, "?e x", &out), RAP_ETIMEDOUT);
	assert_non_null(strstr(out, "300 ms"));
	free(out);
	rap_relay_session_free(s);
	rap_relay_free(r);
	close(lfd);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_new_refusals),
		T(test_reads_through_the_cache),
		T(test_seek_end_asked_once),
		T(test_write_through),
		T(test_commands),
		T(test_cache_validity_across_commands),
		T(test_lost_upstream_and_reconnect),
		T(test_stock_upstream),
		T(test_authentication),
		T(test_sessions_are_separate),
		T(test_prefetch),
		T(test_idle_upstream_drop),
		T(test_silent_upstream),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
