/* rap_server (libr/rap/server.c) with a fake handler, over loopback TCP, its loop on a
 * thread of the test: commands run on workers while the loop serves others, one at a time
 * per session and in order; a client that resets cancels its command and its context goes
 * only after it; a client that shuts down its sending side gets every reply; a client that
 * does not read gets no further command run; the memory bounds; a session pinned to a
 * thread of its own; quit from a worker; shutdown and free with commands under way. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rap/loop.h>
#include <rap/rap.h>
#include <rap/server.h>

#include "common.h"

#define WAIT_MS 10000 /* any wait of the test, at most */

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

/* ---- the world: a server on a loop thread ---------------------------------------------- */

/* One client session of the fake handler. */
struct sess {
	int id;
	uint64_t pos;
	atomic_int in_cmd;       /* CMD callbacks inside now (must stay 0 or 1) */
	atomic_bool returned;    /* the last CMD callback returned */
};

enum control { CTL_NONE, CTL_SHUTDOWN, CTL_SHUTDOWN_SHORT };

struct world {
	struct rap_loop *loop;
	struct rap_server *srv;
	pthread_t thread;
	pthread_t loop_thread;
	int port;
	atomic_bool quit;
	atomic_int control;       /* a request for the loop's thread */
	atomic_bool shutdown_done;
	/* What the handler saw. */
	atomic_int opened, closed;
	atomic_int cmds;          /* CMD callbacks started */
	atomic_int cancelled;     /* ... that saw their checkpoint say stop */
	atomic_int started_block; /* "block" commands inside their loop */
	atomic_bool release;      /* ends "block" commands */
	atomic_int violations;    /* two CMDs at once in a session, ctx used after close, ... */
	atomic_int closed_early;  /* session_close while a CMD of it still ran */
	pthread_mutex_t log_mu;
	char log[8192];
};

static struct world *W; /* for the handler, which only gets its session */

static void w_log(void *user, int level, const char *peer, const char *msg)
{
	(void)level;
	/* Debug lines too: some tests wait for them. */
	(void)peer;
	struct world *w = user;
	pthread_mutex_lock(&w->log_mu);
	size_t n = strlen(w->log);
	if (n + strlen(msg) + 2 < sizeof w->log)
		snprintf(w->log + n, sizeof w->log - n, "%s\n", msg);
	pthread_mutex_unlock(&w->log_mu);
}

static bool logged(struct world *w, const char *what)
{
	pthread_mutex_lock(&w->log_mu);
	bool yes = strstr(w->log, what) != NULL;
	pthread_mutex_unlock(&w->log_mu);
	return yes;
}

static bool wait_logged(struct world *w, const char *what)
{
	uint64_t end = now_ms() + WAIT_MS;
	while (!logged(w, what) && now_ms() < end)
		sleep_ms(5);
	return logged(w, what);
}

static int s_open(void *user, const char *peer, void **ctx)
{
	(void)peer;
	struct world *w = user;
	struct sess *s = calloc(1, sizeof *s);
	if (!s)
		return RAP_ENOMEM;
	s->id = atomic_fetch_add(&w->opened, 1);
	*ctx = s;
	return 0;
}

static void s_close(void *user, void *ctx)
{
	struct world *w = user;
	struct sess *s = ctx;
	if (atomic_load(&s->in_cmd) != 0)
		atomic_fetch_add(&w->closed_early, 1);
	atomic_fetch_add(&w->closed, 1);
	free(s);
}

static int h_open(void *ctx, const char *path, uint8_t perm)
{
	(void)ctx;
	(void)path;
	(void)perm;
	return 3;
}

/* Bytes whose value is their offset's low byte. */
static ssize_t h_read(void *ctx, uint8_t *buf, size_t len)
{
	struct sess *s = ctx;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(s->pos + i);
	return (ssize_t)len;
}

static ssize_t h_write(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	return (ssize_t)len;
}

static int h_seek(void *ctx, int whence, uint64_t off, uint64_t *res)
{
	struct sess *s = ctx;
	if (whence == RAP_SEEK_SET)
		s->pos = off;
	*res = whence == RAP_SEEK_END ? 1u << 20 : s->pos;
	return 0;
}

static int h_close(void *ctx, int32_t fd)
{
	(void)ctx;
	(void)fd;
	return 0;
}

static char *text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *text(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return strdup(buf);
}

/* Calls the checkpoint every millisecond for ms (0: until released); true when cancelled. */
static bool busy(const struct rap_cmd_request *req, unsigned ms, bool until_released)
{
	uint64_t end = now_ms() + (until_released ? WAIT_MS : ms);
	while (now_ms() < end) {
		if (until_released && atomic_load(&W->release))
			return false;
		uint64_t piece = now_ms() + 1;
		while (now_ms() < piece)
			;
		if (req->checkpoint && req->checkpoint(req)) {
			atomic_fetch_add(&W->cancelled, 1);
			return true;
		}
	}
	return false;
}

/* The commands: "tid" (the thread, as a number), "onloop" (1 when on the loop's thread),
 * "echo X", "spin MS", "block" (until released or cancelled), "max" (the bound), "big N"
 * (N bytes, stopped at the bound), "pin", "quit". */
static int h_cmd_bounded(void *ctx, const struct rap_cmd_request *req, char **out, bool *stopped)
{
	struct sess *s = ctx;
	struct world *w = W;
	if (atomic_fetch_add(&s->in_cmd, 1) != 0)
		atomic_fetch_add(&w->violations, 1);
	atomic_store(&s->returned, false);
	atomic_fetch_add(&w->cmds, 1);
	const char *c = req->cmd;
	int rc = 0;
	unsigned long n;
	if (!strcmp(c, "tid")) {
		*out = text("%lu", (unsigned long)pthread_self());
	} else if (!strcmp(c, "onloop")) {
		*out = text("%d", pthread_equal(pthread_self(), w->loop_thread) ? 1 : 0);
	} else if (!strncmp(c, "echo ", 5)) {
		*out = strdup(c + 5);
	} else if (sscanf(c, "spin %lu", &n) == 1) {
		rc = busy(req, (unsigned)n, false) ? -EINTR : 0;
		*out = text("spun %lu", n);
	} else if (!strcmp(c, "block")) {
		atomic_fetch_add(&w->started_block, 1);
		rc = busy(req, 0, true) ? -EINTR : 0;
		*out = strdup("unblocked");
	} else if (!strcmp(c, "max")) {
		*out = text("%zu", req->max_output);
	} else if (sscanf(c, "big %lu", &n) == 1) {
		if (n > req->max_output) {
			n = req->max_output;
			*stopped = true;
		}
		*out = malloc(n + 1);
		if (*out) {
			memset(*out, 'b', n);
			(*out)[n] = 0;
		}
	} else if (!strcmp(c, "pin")) {
		*out = text("%d %lu", rap_server_pin_session(w->srv, s), (unsigned long)pthread_self());
	} else if (!strcmp(c, "quit")) {
		rap_server_end_session(w->srv, s);
		*out = strdup("bye");
	} else {
		rc = RAP_ENOTSUP;
	}
	atomic_store(&s->returned, true);
	atomic_fetch_sub(&s->in_cmd, 1);
	return rc;
}

static int h_cmd(void *ctx, const char *cmd, char **out)
{
	struct rap_cmd_request req = { cmd, 1u << 20, NULL, NULL };
	bool stopped = false;
	return h_cmd_bounded(ctx, &req, out, &stopped);
}

static const struct rap_server_handler fake_handler = {
	.open = h_open, .read = h_read, .write = h_write, .seek = h_seek, .close = h_close,
	.cmd = h_cmd, .cmd_bounded = h_cmd_bounded,
};

static void on_shutdown_done(void *user)
{
	struct world *w = user;
	atomic_store(&w->shutdown_done, true);
}

static void *loop_main(void *arg)
{
	struct world *w = arg;
	while (!atomic_load(&w->quit)) {
		int ctl = atomic_exchange(&w->control, CTL_NONE);
		if (ctl == CTL_SHUTDOWN || ctl == CTL_SHUTDOWN_SHORT)
			rap_server_shutdown(w->srv, ctl == CTL_SHUTDOWN ? WAIT_MS : 200, on_shutdown_done, w);
		rap_loop_run_once(w->loop, 20);
	}
	return NULL;
}

/* A server with `workers` (-1: the default) on a loop thread. */
static void world_start(struct world *w, int workers, size_t total, size_t per_session)
{
	memset(w, 0, sizeof *w);
	W = w;
	pthread_mutex_init(&w->log_mu, NULL);
	assert_int_equal(rap_loop_new(&w->loop), 0);
	static const struct rap_server_callbacks cb = { s_open, s_close, w_log };
	assert_int_equal(rap_server_new(w->loop, &fake_handler, &cb, w, &w->srv), 0);
	if (workers >= 0)
		assert_int_equal(rap_server_set_workers(w->srv, (unsigned)workers), 0);
	if (total)
		assert_int_equal(rap_server_set_max_buffered(w->srv, total, per_session), 0);
	int fd;
	assert_int_equal(rap_tcp_listen("127.0.0.1", "0", 64, &fd), 0);
	w->port = rap_tcp_local_port(fd);
	assert_int_equal(rap_server_add_listener(w->srv, fd, NULL), 0);
	assert_int_equal(pthread_create(&w->thread, NULL, loop_main, w), 0);
	w->loop_thread = w->thread;
}

/* Stops the loop thread, then frees the server: commands still under way are cancelled
 * and awaited. */
static void world_stop(struct world *w)
{
	if (getenv("TEST_SERVER_LOG"))
		print_message("%s", w->log);
	atomic_store(&w->quit, true);
	rap_loop_wake(w->loop);
	pthread_join(w->thread, NULL);
	rap_server_free(w->srv);
	rap_loop_free(w->loop);
	assert_int_equal(atomic_load(&w->violations), 0);
	assert_int_equal(atomic_load(&w->closed_early), 0);
	assert_int_equal(atomic_load(&w->opened), atomic_load(&w->closed));
	pthread_mutex_destroy(&w->log_mu);
	W = NULL;
}

/* ---- a raw client -------------------------------------------------------------------- */

static int client(struct world *w)
{
	char port[16];
	snprintf(port, sizeof port, "%d", w->port);
	int fd;
	assert_int_equal(rap_tcp_connect("127.0.0.1", port, WAIT_MS, &fd), 0);
	struct timeval tv = { WAIT_MS / 1000, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static size_t put_cmd(uint8_t *p, const char *cmd)
{
	size_t n = strlen(cmd) + 1;
	p[0] = RAP_OP_CMD;
	rap__put_be32(p + 1, (uint32_t)n);
	memcpy(p + 5, cmd, n);
	return 5 + n;
}

static size_t put_seek(uint8_t *p, uint8_t whence, uint64_t off)
{
	p[0] = RAP_OP_SEEK;
	p[1] = whence;
	rap__put_be64(p + 2, off);
	return 10;
}

static size_t put_read(uint8_t *p, uint32_t n)
{
	p[0] = RAP_OP_READ;
	rap__put_be32(p + 1, n);
	return 5;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
	assert_int_equal(rap_send_all(fd, p, n), 0);
}

static void send_cmd(int fd, const char *cmd)
{
	uint8_t req[512];
	send_all(fd, req, put_cmd(req, cmd));
}

/* Reads exactly n bytes; false at EOF or timeout. */
static bool recv_exact(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* One reply: its opcode, and its payload (heap, NUL-terminated; NULL for fixed-size
 * replies, whose value goes to *value). False at EOF or timeout. */
static bool recv_reply(int fd, uint8_t *op, char **payload, uint64_t *value, size_t *len)
{
	uint8_t h[9];
	*payload = NULL;
	if (!recv_exact(fd, h, 1))
		return false;
	*op = h[0];
	if (h[0] == (RAP_OP_SEEK | RAP_REPLY)) {
		if (!recv_exact(fd, h + 1, 8))
			return false;
		*value = rap__get_be64(h + 1);
		return true;
	}
	if (!recv_exact(fd, h + 1, 4))
		return false;
	uint32_t v = rap__get_be32(h + 1);
	if (h[0] == (RAP_OP_OPEN | RAP_REPLY) || h[0] == (RAP_OP_WRITE | RAP_REPLY) ||
	    h[0] == (RAP_OP_CLOSE | RAP_REPLY)) {
		*value = v;
		return true;
	}
	char *p = malloc((size_t)v + 1);
	assert_non_null(p);
	if (!recv_exact(fd, p, v)) {
		free(p);
		return false;
	}
	p[v] = 0;
	*payload = p;
	if (len)
		*len = v;
	return true;
}

/* The text of the next reply, which must be a CMD reply (heap). */
static char *recv_cmd(int fd)
{
	uint8_t op;
	char *p;
	uint64_t v;
	size_t len;
	assert_true(recv_reply(fd, &op, &p, &v, &len));
	assert_int_equal(op, RAP_OP_CMD | RAP_REPLY);
	return p;
}

static char *ask(int fd, const char *cmd)
{
	send_cmd(fd, cmd);
	return recv_cmd(fd);
}

/* The extension probe, with large messages and the command status. */
static void probe(int fd)
{
	uint8_t req[16];
	size_t n = put_seek(req, 0xff, (uint64_t)0x52415058u << 32 | 1u << 16 | 3u);
	send_all(fd, req, n);
	uint8_t op;
	char *p;
	uint64_t v;
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_int_equal(v >> 32, 0x72617078u);
}

/* True when the server closes fd (EOF or reset) within WAIT_MS. */
static bool closed_by_server(int fd)
{
	uint8_t b[4096];
	uint64_t end = now_ms() + WAIT_MS;
	while (now_ms() < end) {
		ssize_t r = recv(fd, b, sizeof b, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

static bool wait_for(atomic_int *v, int want)
{
	uint64_t end = now_ms() + WAIT_MS;
	while (atomic_load(v) < want && now_ms() < end)
		sleep_ms(1);
	return atomic_load(v) >= want;
}

/* ---- tests --------------------------------------------------------------------------- */

/* Commands run on a worker thread, not on the loop's; with 0 workers on the loop's. */
static void test_cmd_runs_on_a_worker(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int fd = client(&w);
	char *t = ask(fd, "onloop");
	assert_string_equal(t, "0");
	free(t);
	t = ask(fd, "echo hello");
	assert_string_equal(t, "hello");
	free(t);
	close(fd);
	world_stop(&w);

	world_start(&w, 0, 0, 0);
	fd = client(&w);
	t = ask(fd, "onloop");
	assert_string_equal(t, "1");
	free(t);
	close(fd);
	world_stop(&w);
}

/* While one session's command runs, other sessions are served: their reads at once, their
 * commands on another worker. */
static void test_loop_serves_others_meanwhile(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int a = client(&w), b = client(&w);
	send_cmd(a, "block");
	assert_true(wait_for(&w.started_block, 1));
	uint64_t t0 = now_ms();
	uint8_t req[64];
	size_t n = put_seek(req, 0, 0x40);
	n += put_read(req + n, 4);
	send_all(b, req, n);
	uint8_t op;
	char *p;
	uint64_t v;
	assert_true(recv_reply(b, &op, &p, &v, NULL));
	assert_int_equal(v, 0x40);
	assert_true(recv_reply(b, &op, &p, &v, NULL));
	assert_memory_equal(p, "\x40\x41\x42\x43", 4);
	free(p);
	char *t = ask(b, "echo meanwhile");
	assert_string_equal(t, "meanwhile");
	free(t);
	assert_true(now_ms() - t0 < 2000);
	atomic_store(&w.release, true);
	t = recv_cmd(a);
	assert_string_equal(t, "unblocked");
	free(t);
	close(a);
	close(b);
	world_stop(&w);
}

/* Requests behind a command wait for it; replies keep request order; a session never has
 * two commands running. */
static void test_order_and_one_at_a_time(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 4, 0, 0);
	int fd = client(&w);
	uint8_t req[256];
	size_t n = put_cmd(req, "spin 50");
	n += put_seek(req + n, 0, 0x10);
	n += put_cmd(req + n, "spin 20");
	n += put_read(req + n, 2);
	n += put_cmd(req + n, "echo last");
	send_all(fd, req, n);
	uint8_t op;
	char *p;
	uint64_t v;
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_string_equal(p, "spun 50");
	free(p);
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_int_equal(op, 0x84);
	assert_int_equal(v, 0x10);
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_string_equal(p, "spun 20");
	free(p);
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_memory_equal(p, "\x10\x11", 2);
	free(p);
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_string_equal(p, "last");
	free(p);
	close(fd);
	world_stop(&w); /* checks: never two commands of a session at once */
}

/* A client that resets its connection cancels its command at the next checkpoint, and its
 * context is released only after the command returned. */
static void test_reset_cancels_the_command(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int fd = client(&w);
	send_cmd(fd, "block");
	assert_true(wait_for(&w.started_block, 1));
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd); /* a reset */
	assert_true(wait_for(&w.cancelled, 1));
	assert_true(wait_for(&w.closed, 1));
	assert_true(wait_logged(&w, "command cancelled"));
	world_stop(&w); /* checks: session_close never came while the command ran */
}

/* A client that sends its requests and shuts down its sending side in the same breath
 * gets every reply, a command's included, then the end of the stream. */
static void test_half_closed_client_gets_its_replies(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int fd = client(&w);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one);
	uint8_t req[256];
	size_t n = 0;
	req[n++] = RAP_OP_OPEN;
	req[n++] = RAP_PERM_R;
	req[n++] = 2;
	memcpy(req + n, "x", 2);
	n += 2;
	n += put_cmd(req + n, "spin 30");
	n += put_seek(req + n, 0, 0x20);
	n += put_read(req + n, 3);
	n += put_cmd(req + n, "echo after");
	send_all(fd, req, n);
	/* With the data corked, the FIN leaves with it: one read sees both. */
	shutdown(fd, SHUT_WR);
	uint8_t op;
	char *p;
	uint64_t v;
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_int_equal(op, 0x81);
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_string_equal(p, "spun 30");
	free(p);
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_int_equal(v, 0x20);
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_memory_equal(p, "\x20\x21\x22", 3);
	free(p);
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	assert_string_equal(p, "after");
	free(p);
	assert_true(closed_by_server(fd));
	close(fd);
	assert_true(wait_for(&w.closed, 1));
	assert_true(wait_logged(&w, "closed: client disconnected"));
	world_stop(&w);
}

/* A half-closed client whose command runs, and which then resets: the reset is noticed
 * (though the server no longer reads), the command cancelled, the connection closed. */
static void test_reset_after_half_close(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int fd = client(&w);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one);
	send_cmd(fd, "block");
	shutdown(fd, SHUT_WR);
	assert_true(wait_for(&w.started_block, 1));
	assert_true(wait_logged(&w, "client shut down its sending side"));
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	uint64_t t0 = now_ms();
	close(fd);
	assert_true(wait_for(&w.cancelled, 1));
	assert_true(wait_for(&w.closed, 1));
	assert_true(now_ms() - t0 < 2000);
	assert_true(logged(&w, "closed: peer went away"));
	world_stop(&w);
}

/* A client that does not take its replies gets no further command run until it does. */
static void test_unread_replies_hold_the_next_command(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int fd = client(&w);
	probe(fd);
	uint8_t req[128];
	/* Far more than the kernel's buffers take while nobody reads (some 4 MB here). */
	size_t n = put_cmd(req, "big 12000000");
	n += put_cmd(req + n, "echo next");
	send_all(fd, req, n);
	assert_true(wait_for(&w.cmds, 1));
	sleep_ms(300);
	assert_int_equal(atomic_load(&w.cmds), 1); /* "echo next" waits for the reader */
	char *t = recv_cmd(fd);
	assert_int_equal(strlen(t), 12000000);
	free(t);
	t = recv_cmd(fd);
	assert_string_equal(t, "next");
	free(t);
	assert_int_equal(atomic_load(&w.cmds), 2);
	close(fd);
	world_stop(&w);
}

/* A command's bound: what its client takes, at most the per-session bound. Commands under
 * way count with their bounds: past the total, a command waits until memory is freed. */
static void test_memory_bounds(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 4, (5u << 20) / 2, 1u << 20);
	int stock = client(&w), ext = client(&w);
	char *t = ask(stock, "max");
	assert_string_equal(t, "16639"); /* 16 KiB less the NUL, and the stop margin */
	free(t);
	probe(ext);
	t = ask(ext, "max");
	assert_string_equal(t, "1048576");
	free(t);
	/* Over the bound: stopped there. */
	t = ask(ext, "big 5000000");
	assert_int_equal(strlen(t), 1u << 20);
	free(t);
	/* Two commands under way hold 1 MiB each of the 2.5 ... */
	int busy_fd[2];
	for (int i = 0; i < 2; i++) {
		busy_fd[i] = client(&w);
		probe(busy_fd[i]);
		send_cmd(busy_fd[i], "block");
	}
	assert_true(wait_for(&w.started_block, 2));
	/* ... so a third does not fit: it waits, and says so. A client without the extension
	 * needs only its 16 KiB: it runs. */
	send_cmd(ext, "echo waited");
	assert_true(wait_logged(&w, "command waits for memory"));
	t = ask(stock, "echo small");
	assert_string_equal(t, "small");
	free(t);
	int before = atomic_load(&w.cmds);
	sleep_ms(100);
	assert_int_equal(atomic_load(&w.cmds), before);
	/* The blocked ones end: the waiting command runs. */
	atomic_store(&w.release, true);
	t = recv_cmd(ext);
	assert_string_equal(t, "waited");
	free(t);
	for (int i = 0; i < 2; i++) {
		free(recv_cmd(busy_fd[i]));
		close(busy_fd[i]);
	}
	close(stock);
	close(ext);
	world_stop(&w);
}

/* A session pinned to its thread runs every later command there, and nobody else's does. */
static void test_pinned_session(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int a = client(&w), b = client(&w);
	char *t = ask(a, "pin");
	int rc;
	unsigned long tid;
	assert_int_equal(sscanf(t, "%d %lu", &rc, &tid), 2);
	assert_int_equal(rc, 0);
	free(t);
	for (int i = 0; i < 5; i++) {
		t = ask(a, "tid");
		assert_int_equal(strtoul(t, NULL, 10), tid);
		free(t);
		/* Another session's commands, some at the same time, run elsewhere. */
		send_cmd(b, "spin 5");
		t = ask(a, "tid");
		assert_int_equal(strtoul(t, NULL, 10), tid);
		free(t);
		free(recv_cmd(b));
		t = ask(b, "tid");
		assert_true(strtoul(t, NULL, 10) != tid);
		free(t);
	}
	t = ask(a, "pin");
	assert_int_equal(sscanf(t, "%d %lu", &rc, &tid), 2);
	assert_int_equal(rc, 0); /* already its own */
	free(t);
	assert_true(wait_logged(&w, "pinned to a worker thread of its own"));
	/* Only from a command of that session, on a worker. */
	assert_int_equal(rap_server_pin_session(w.srv, NULL), RAP_EINVAL);
	close(a);
	close(b);
	world_stop(&w);
}

/* A command's handler may end its own session from its worker: the answer goes out, then
 * the connection closes. */
static void test_quit_from_a_worker(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int fd = client(&w);
	char *t = ask(fd, "quit");
	assert_string_equal(t, "bye");
	free(t);
	assert_true(closed_by_server(fd));
	close(fd);
	assert_true(wait_for(&w.closed, 1));
	world_stop(&w);
}

/* Shutdown finishes a command under way; past the grace period it cancels it. */
static void test_shutdown_with_a_command(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int fd = client(&w);
	send_cmd(fd, "spin 200");
	assert_true(wait_for(&w.cmds, 1));
	atomic_store(&w.control, CTL_SHUTDOWN);
	char *t = recv_cmd(fd);
	assert_string_equal(t, "spun 200");
	free(t);
	assert_true(closed_by_server(fd));
	close(fd);
	uint64_t end = now_ms() + WAIT_MS;
	while (!atomic_load(&w.shutdown_done) && now_ms() < end)
		sleep_ms(5);
	assert_true(atomic_load(&w.shutdown_done));
	world_stop(&w);

	world_start(&w, 2, 0, 0);
	fd = client(&w);
	send_cmd(fd, "block");
	assert_true(wait_for(&w.started_block, 1));
	atomic_store(&w.control, CTL_SHUTDOWN_SHORT);
	assert_true(closed_by_server(fd));
	close(fd);
	assert_true(wait_for(&w.cancelled, 1));
	assert_true(wait_for(&w.closed, 1));
	world_stop(&w);
}

/* Freeing the server with a command running cancels it and waits for it. */
static void test_free_with_a_running_command(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int fd = client(&w);
	send_cmd(fd, "block");
	assert_true(wait_for(&w.started_block, 1));
	uint64_t t0 = now_ms();
	world_stop(&w);
	assert_true(now_ms() - t0 < 5000);
	assert_int_equal(atomic_load(&w.cancelled), 1);
	close(fd);
}

/* Without worker threads (none can be started: no descriptor is left for the pool's
 * eventfd) commands run on the loop's thread, and the log says so. */
static void test_no_workers_left(void **state)
{
	(void)state;
	struct world w;
	world_start(&w, 2, 0, 0);
	int fd = client(&w);
	uint8_t req[64];
	size_t n = put_seek(req, 0, 1);
	send_all(fd, req, n); /* the server's side of the connection is accepted now */
	uint8_t op;
	char *p;
	uint64_t v;
	assert_true(recv_reply(fd, &op, &p, &v, NULL));
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	int probe_fd = dup(0);
	assert_true(probe_fd >= 0);
	close(probe_fd);
	low = old;
	low.rlim_cur = (rlim_t)probe_fd;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	char *t = ask(fd, "onloop");
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_string_equal(t, "1");
	free(t);
	assert_true(logged(&w, "cannot start worker threads"));
	t = ask(fd, "onloop");
	assert_string_equal(t, "1");
	free(t);
	assert_int_equal(rap_server_set_workers(w.srv, 3), RAP_EINVAL);
	close(fd);
	world_stop(&w);
}

static void test_settings(void **state)
{
	(void)state;
	struct rap_loop *loop;
	assert_int_equal(rap_loop_new(&loop), 0);
	struct rap_server *srv;
	static const struct rap_server_callbacks cb = { s_open, s_close, NULL };
	assert_int_equal(rap_server_new(loop, &fake_handler, &cb, NULL, &srv), 0);
	assert_int_equal(rap_server_set_workers(srv, 65), RAP_EINVAL);
	assert_int_equal(rap_server_set_workers(srv, 64), 0);
	assert_int_equal(rap_server_set_workers(srv, 0), 0);
	assert_int_equal(rap_server_set_max_buffered(srv, 1u << 20, (64u << 10) - 1), RAP_EINVAL);
	assert_int_equal(rap_server_set_max_buffered(srv, 1u << 20, 2u << 20), RAP_EINVAL);
	assert_int_equal(rap_server_set_max_buffered(srv, 1u << 20, 64u << 10), 0);
	assert_int_equal(rap_server_buffered(srv), 0);
	rap_server_free(srv);
	rap_loop_free(loop);
}

static struct sockaddr_storage v4(const char *a)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	in->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, &in->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *a)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;
	in->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, a, &in->sin6_addr), 1);
	return ss;
}

/* --allow-from as the server and the program's other listeners (rapsrv's gdbserver) see it. */
static void test_allowed_networks(void **state)
{
	(void)state;
	struct rap_loop *loop;
	assert_int_equal(rap_loop_new(&loop), 0);
	struct rap_server *srv;
	static const struct rap_server_callbacks cb = { s_open, s_close, NULL };
	assert_int_equal(rap_server_new(loop, &fake_handler, &cb, NULL, &srv), 0);
	struct sockaddr_storage a = v4("192.0.2.7"), b = v4("198.51.100.1"), c = v6("2001:db8::1");
	struct sockaddr_storage mapped = v6("::ffff:192.0.2.200"), local6 = v6("::1");
	/* No network given: everyone. */
	assert_true(rap_server_peer_allowed(srv, &a));
	assert_true(rap_server_peer_allowed(srv, &c));
	for (size_t i = 0; i < 6; i++) {
		const char *bad = (const char *[]){ "", "/8", "192.0.2.0/33", "::1/129", "host/8", "10.0.0.0/x" }[i];
		assert_int_equal(rap_server_check_network(bad), RAP_EINVAL);
		assert_int_equal(rap_server_allow_network(srv, bad), RAP_EINVAL);
	}
	assert_true(rap_server_peer_allowed(srv, &b));
	assert_int_equal(rap_server_allow_network(srv, "192.0.2.0/25"), 0);
	assert_int_equal(rap_server_allow_network(srv, "::1"), 0);
	assert_true(rap_server_peer_allowed(srv, &a));
	assert_false(rap_server_peer_allowed(srv, &b));
	assert_false(rap_server_peer_allowed(srv, &c));
	assert_false(rap_server_peer_allowed(srv, &mapped)); /* .200 is past the /25 */
	assert_true(rap_server_peer_allowed(srv, &local6));
	mapped = v6("::ffff:192.0.2.100"); /* an IPv4 client on a dual-stack socket */
	assert_true(rap_server_peer_allowed(srv, &mapped));
	rap_server_free(srv);
	rap_loop_free(loop);
}

/* ---- fd-leak check around every test ------------------------------------------------ */

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static int fds_before;

static int fd_setup(void **state)
{
	(void)state;
	fds_before = count_fds();
	return 0;
}

static int fd_teardown(void **state)
{
	(void)state;
	int now = count_fds();
	if (now != fds_before) {
		print_error("fd leak: %d open before the test, %d after\n", fds_before, now);
		return -1;
	}
	return 0;
}

#define FD_CHECKED(f) cmocka_unit_test_setup_teardown(f, fd_setup, fd_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FD_CHECKED(test_cmd_runs_on_a_worker),
		FD_CHECKED(test_loop_serves_others_meanwhile),
		FD_CHECKED(test_order_and_one_at_a_time),
		FD_CHECKED(test_reset_cancels_the_command),
		FD_CHECKED(test_half_closed_client_gets_its_replies),
		FD_CHECKED(test_reset_after_half_close),
		FD_CHECKED(test_unread_replies_hold_the_next_command),
		FD_CHECKED(test_memory_bounds),
		FD_CHECKED(test_pinned_session),
		FD_CHECKED(test_quit_from_a_worker),
		FD_CHECKED(test_shutdown_with_a_command),
		FD_CHECKED(test_free_with_a_running_command),
		FD_CHECKED(test_no_workers_left),
		FD_CHECKED(test_settings),
		FD_CHECKED(test_allowed_networks),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
