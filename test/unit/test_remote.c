/* The '=' family (remote.c) against peers that live in this test: rap servers built from
 * rap_server_session and a core, a tcp command server and sink, a udp receiver and a small
 * http responder, all on 127.0.0.1 (or ::1) and ports the system picks. */
#include <dirent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"

#define SAMPLE_SIZE 131072
#define WAIT_MS 20000 /* any single wait of this test */
#define RX_MAX (1u << 20)

/* ---- peers ------------------------------------------------------------------------------ */

enum peer_kind { PEER_RAP, PEER_TCP_ECHO, PEER_TCP_SINK, PEER_HTTP };

struct peer {
	enum peer_kind kind;
	int lfd;
	int port;
	int stop[2];
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	int cur;          /* connection being served, -1 when none */
	int done;         /* connections served to the end */
	char tag[16];     /* rap: value of http.port in the serving core, to tell peers apart */
	bool drop_first;  /* tcp: hang up on the first connection without reading it */
	/* tcp and http: what each connection sent (NUL-terminated, binary-safe via lens) */
	char *msgs[16];
	size_t lens[16];
	int nmsgs;
	/* http: canned replies, used in order; the last one repeats */
	const char *replies[8];
	size_t reply_lens[8];
	int nreplies;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads until EOF, until stop_at appears (when not NULL), or until the deadline. */
static size_t read_some(int fd, char *buf, size_t cap, const char *stop_at)
{
	size_t len = 0;
	int64_t end = now_ms() + WAIT_MS;
	while (len + 1 < cap) {
		int64_t left = end - now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (stop_at && memmem(buf, len, stop_at, strlen(stop_at)))
			break;
	}
	buf[len] = '\0';
	return len;
}

static void record(struct peer *p, const char *data, size_t len)
{
	pthread_mutex_lock(&p->mu);
	if (p->nmsgs < 16) {
		p->msgs[p->nmsgs] = malloc(len + 1);
		memcpy(p->msgs[p->nmsgs], data, len);
		p->msgs[p->nmsgs][len] = '\0';
		p->lens[p->nmsgs++] = len;
	}
	pthread_mutex_unlock(&p->mu);
}

static void serve_rap(struct peer *p, int fd)
{
	struct rap_core *core;
	struct rap_server_session *s;
	if (rap_core_new(&core) < 0)
		return;
	rap_core_config_set(core, "http.port", p->tag);
	if (rap_server_session_new(rap_core_rap_handler(), core, &s) == 0) {
		rap_server_session_serve_fd(s, fd);
		rap_server_session_free(s);
	}
	rap_core_free(core);
}

static void serve_tcp(struct peer *p, int fd)
{
	pthread_mutex_lock(&p->mu);
	bool drop = p->drop_first;
	p->drop_first = false;
	pthread_mutex_unlock(&p->mu);
	if (drop)
		return;
	char *buf = malloc(RX_MAX);
	size_t n = read_some(fd, buf, RX_MAX, NULL);
	record(p, buf, n);
	if (p->kind == PEER_TCP_ECHO) {
		/* No newline at the end: the client must end the line itself. */
		char reply[512];
		int k = snprintf(reply, sizeof(reply), "answer to [%.*s]", (int)(n && buf[n - 1] == '\n' ? n - 1 : n), buf);
		/* The client may be gone (a failed allocation): EPIPE, not SIGPIPE. */
		if (send(fd, reply, (size_t)k, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
			perror("send");
	}
	free(buf);
}

static void serve_http(struct peer *p, int fd)
{
	char buf[4096];
	size_t n = read_some(fd, buf, sizeof(buf), "\r\n\r\n");
	record(p, buf, n);
	pthread_mutex_lock(&p->mu);
	int i = p->nmsgs - 1 < p->nreplies - 1 ? p->nmsgs - 1 : p->nreplies - 1;
	const char *reply = p->replies[i];
	size_t len = p->reply_lens[i] ? p->reply_lens[i] : strlen(reply);
	pthread_mutex_unlock(&p->mu);
	if (send(fd, reply, len, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
		perror("send");
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	for (;;) {
		struct pollfd pfd[2] = { { .fd = p->lfd, .events = POLLIN }, { .fd = p->stop[0], .events = POLLIN } };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (pfd[1].revents)
			return NULL;
		int fd = accept(p->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&p->mu);
		bool stopping = p->stopping;
		p->cur = fd;
		pthread_mutex_unlock(&p->mu);
		if (!stopping) {
			if (p->kind == PEER_RAP)
				serve_rap(p, fd);
			else if (p->kind == PEER_HTTP)
				serve_http(p, fd);
			else
				serve_tcp(p, fd);
		}
		/* Closed before it counts as done: a waiting test may rely on the hang-up. */
		pthread_mutex_lock(&p->mu);
		p->cur = -1;
		close(fd);
		p->done++;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

static struct peer *peer_start(enum peer_kind kind, const char *host, const char *tag)
{
	struct peer *p = calloc(1, sizeof(*p));
	p->kind = kind;
	p->cur = -1;
	snprintf(p->tag, sizeof(p->tag), "%s", tag ? tag : "1");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (rap_tcp_listen(host, "0", 16, &p->lfd) < 0) {
		free(p);
		return NULL;
	}
	p->port = rap_tcp_local_port(p->lfd);
	assert_int_equal(pipe(p->stop), 0);
	assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
	return p;
}

static void peer_reply(struct peer *p, const char *reply, size_t len)
{
	p->replies[p->nreplies] = reply;
	p->reply_lens[p->nreplies++] = len;
}

/* Waits until count connections were served to their end. */
static bool peer_wait_done(struct peer *p, int count)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&p->mu);
	int rc = 0;
	while (p->done < count && rc == 0)
		rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
	bool ok = p->done >= count;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

/* Stops accepting and hangs up on the current connection: the peer is gone. */
static void peer_kill(struct peer *p)
{
	if (p->lfd < 0)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	if (p->cur >= 0)
		shutdown(p->cur, SHUT_RDWR);
	pthread_mutex_unlock(&p->mu);
	assert_int_equal(write(p->stop[1], "x", 1), 1);
	pthread_join(p->thread, NULL);
	close(p->lfd);
	close(p->stop[0]);
	close(p->stop[1]);
	p->lfd = -1;
}

static void peer_free(struct peer *p)
{
	if (!p)
		return;
	peer_kill(p);
	for (int i = 0; i < p->nmsgs; i++)
		free(p->msgs[i]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

/* ---- fixture ---------------------------------------------------------------------------- */

struct fixture {
	struct rap_core *c;
	char path[64];
	int fds_before;
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	fx->fds_before = count_fds();
	strcpy(fx->path, "/tmp/rap-test-remote-XXXXXX");
	int fd = mkstemp(fx->path);
	if (fd < 0)
		return -1;
	for (size_t o = 0; o < SAMPLE_SIZE; o += 16) {
		char rec[17];
		snprintf(rec, sizeof(rec), "@%08zx|rap2!\n", o);
		if (write(fd, rec, 16) != 16)
			return -1;
	}
	close(fd);
	if (rap_core_new(&fx->c) < 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	rap_core_free(fx->c);
	unlink(fx->path);
	/* Every socket of the host table and of the peers is closed again. */
	assert_int_equal(count_fds(), fx->fds_before);
	free(fx);
	return 0;
}

struct res {
	int rc;
	char *out;
	char *err;
};

static struct res run(struct rap_core *c, const char *line)
{
	struct res r;
	r.rc = rap_core_cmd_str(c, line, &r.out, &r.err);
	assert_non_null(r.out);
	assert_non_null(r.err);
	return r;
}

static void res_free(struct res *r)
{
	free(r->out);
	free(r->err);
}

static void expect_out(struct rap_core *c, const char *line, const char *want)
{
	struct res r = run(c, line);
	if (r.rc != 0 || strcmp(r.out, want) != 0)
		fail_msg("'%s': rc %d\nout: [%s]\nwant: [%s]\nerr: [%s]", line, r.rc, r.out, want, r.err);
	res_free(&r);
}

static void expect_fail(struct rap_core *c, const char *line, const char *needle)
{
	struct res r = run(c, line);
	if (r.rc >= 0 || !strstr(r.err, needle))
		fail_msg("'%s': rc %d, err [%s], want [%s]", line, r.rc, r.err, needle);
	res_free(&r);
}

/* Runs line, which must succeed; returns its stderr (caller frees). */
static char *ok_err(struct rap_core *c, const char *line)
{
	struct res r = run(c, line);
	if (r.rc != 0)
		fail_msg("'%s': rc %d, err [%s]", line, r.rc, r.err);
	free(r.out);
	return r.err;
}

static void add_ok(struct rap_core *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	free(ok_err(c, line));
}

static char *prompt(struct rap_core *c)
{
	static char buf[64];
	rap_core_prompt(c, buf, sizeof(buf));
	return buf;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_help(void **state)
{
	struct fixture *fx = *state;
	struct res r = run(fx->c, "=?");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "| =+ URI           add a host: [rap|raps|tcp|udp|http://]host:port[/path]\n"));
	assert_non_null(strstr(r.out, "| =t port cmd"));
	/* It fits an 80-column terminal, as every help page does. */
	for (const char *line = r.out; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (len > 80)
			fail_msg("=? line of %zu columns: %.*s", len, (int)len, line);
		line += len + (nl != NULL);
	}
	assert_non_null(strstr(r.out, "| =!=[N]"));
	assert_non_null(strstr(r.out, "remote-command mode on"));
	assert_non_null(strstr(r.out, "remote-command mode off"));
	assert_non_null(strstr(r.out, "| =t port"));
	assert_non_null(strstr(r.out, "| =h [port]"));
	/* radare2 lists sessions that do not work here; ours does not. The gdbserver works. */
	assert_non_null(strstr(r.out, "| =g port file"));
	assert_null(strstr(r.out, "=l"));
	/* the enable line must not say "disable" (radare2 swaps them) */
	const char *on = strstr(r.out, "| =!=[N]");
	assert_null(memmem(on, (size_t)(strchr(on, '\n') - on), "off", 3));
	res_free(&r);
	static const char *const sub[] = { "=+?", "==?", "=-?", "=<?", "=!=?", "!=!?" };
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		r = run(fx->c, sub[i]);
		assert_int_equal(r.rc, 0);
		assert_true(strncmp(r.out, "Usage: ", 7) == 0);
		assert_string_equal(r.err, "");
		res_free(&r);
	}
	/* the '?' of server commands belongs to servers.c, not to an error of ours */
	r = run(fx->c, "=h?");
	assert_null(strstr(r.err, "unknown command"));
	res_free(&r);
}

static void test_empty_table(void **state)
{
	struct fixture *fx = *state;
	expect_out(fx->c, "=", "");
	expect_out(fx->c, "=j", "[]\n");
	expect_fail(fx->c, "=0 px 16", "unknown host 0");
	/* radare2 crashes on this one */
	expect_fail(fx->c, "=0", "usage: =0 cmd");
	expect_fail(fx->c, "=0   ", "usage: =0 cmd");
	expect_fail(fx->c, "= px", "no remote host");
	expect_fail(fx->c, "=-3", "unknown host 3");
	expect_fail(fx->c, "=-x", "usage: =-[N]");
	expect_fail(fx->c, "==", "no remote host");
	expect_fail(fx->c, "==7", "unknown host 7");
	expect_fail(fx->c, "=999 px", "unknown host");
	expect_fail(fx->c, "=px", "unknown command '=px'");
	expect_fail(fx->c, "=0x10", "unknown command '=0x10'");
	expect_fail(fx->c, "=<", "no remote host");
	expect_fail(fx->c, "=!=3", "unknown host 3");
	expect_fail(fx->c, "=!=", "the current file runs no commands");
	expect_fail(fx->c, "=+", "usage: =+");
	expect_fail(fx->c, "=+ nohostport", "invalid address 'nohostport'");
	expect_fail(fx->c, "=+ ftp://127.0.0.1:21", "unsupported protocol 'ftp'");
	expect_fail(fx->c, "=+ rap://:9999", "has no host");
	expect_fail(fx->c, "=+ rap://[::1:9999", "invalid address");
	expect_fail(fx->c, "=:127.0.0.1:1", "usage: =:HOST:PORT CMD");
	expect_fail(fx->c, "=:tcp://127.0.0.1:1 px", "invalid rap address");
	expect_out(fx->c, "=-", "");
	expect_out(fx->c, "!=!", "");
}

static void test_connect_refused(void **state)
{
	struct fixture *fx = *state;
	/* a port that was just free: nothing listens there */
	int lfd;
	assert_int_equal(rap_tcp_listen("127.0.0.1", "0", 1, &lfd), 0);
	int port = rap_tcp_local_port(lfd);
	close(lfd);
	char line[128];
	const char *schemes[] = { "rap", "tcp", "http" };
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "=+ %s://127.0.0.1:%d//x", schemes[i], port);
		char want[96];
		snprintf(want, sizeof(want), "Cannot connect to '127.0.0.1' (%d): Connection refused", port);
		expect_fail(fx->c, line, want);
	}
	snprintf(line, sizeof(line), "=:127.0.0.1:%d ?e x", port);
	expect_fail(fx->c, line, "Connection refused");
	/* failures add nothing */
	expect_out(fx->c, "=", "");
}

static void test_rap_hosts(void **state)
{
	struct fixture *fx = *state;
	struct peer *a = peer_start(PEER_RAP, "127.0.0.1", "1111");
	struct peer *b = peer_start(PEER_RAP, "127.0.0.1", "2222");
	char line[256], want[512];

	snprintf(line, sizeof(line), "=+ rap://127.0.0.1:%d/%s", a->port, fx->path);
	char *err = ok_err(fx->c, line);
	snprintf(want, sizeof(want), "Connected to: 127.0.0.1 at port %d\nwaiting... ok\n", a->port);
	assert_string_equal(err, want);
	free(err);
	/* no scheme: rap; no path: a command-only host; "=+ =+" is forgiven */
	add_ok(fx->c, "=+ =+ 127.0.0.1:%d", b->port);

	snprintf(want, sizeof(want), "0 - rap://127.0.0.1:%d/%s\n1 - rap://127.0.0.1:%d\n", a->port, fx->path, b->port);
	expect_out(fx->c, "=", want);
	snprintf(want, sizeof(want),
		 "[{\"fd\":0,\"protocol\":\"rap\",\"host\":\"127.0.0.1\",\"port\":%d,\"file\":\"%s\",\"uri\":\"rap://127.0.0.1:%d/%s\",\"alive\":true},"
		 "{\"fd\":1,\"protocol\":\"rap\",\"host\":\"127.0.0.1\",\"port\":%d,\"file\":\"\",\"uri\":\"rap://127.0.0.1:%d\",\"alive\":true}]\n",
		 a->port, fx->path, a->port, fx->path, b->port, b->port);
	expect_out(fx->c, "=j", want);

	/* the OPENed file is current on the server; '@' and ';' inside travel whole */
	expect_out(fx->c, "=0 p8 4 @ 0x10", "40303030\n");
	expect_out(fx->c, "=0 e http.port", "1111\n");
	expect_out(fx->c, "=1 e http.port", "2222\n");
	/* "= CMD": the last host used */
	expect_out(fx->c, "= e http.port", "2222\n");
	expect_out(fx->c, "=0 ?e zero", "zero\n");
	expect_out(fx->c, "= e http.port", "1111\n");
	/* a command-only host has no file */
	struct res r = run(fx->c, "=1 px 4");
	assert_non_null(strstr(r.out, "no file is open"));
	res_free(&r);

	/* numbers stay while hosts live; the lowest free one is reused */
	expect_out(fx->c, "=-0", "");
	snprintf(want, sizeof(want), "1 - rap://127.0.0.1:%d\n", b->port);
	expect_out(fx->c, "=", want);
	add_ok(fx->c, "=+ rap://127.0.0.1:%d", a->port);
	snprintf(want, sizeof(want), "0 - rap://127.0.0.1:%d\n1 - rap://127.0.0.1:%d\n", a->port, b->port);
	expect_out(fx->c, "=", want);
	/* the newest host is the default one */
	expect_out(fx->c, "= e http.port", "1111\n");
	expect_out(fx->c, "=-", "");
	expect_out(fx->c, "=", "");
	/* a server that refuses the OPEN adds nothing */
	snprintf(line, sizeof(line), "=+ rap://127.0.0.1:%d//nonexistent/file", a->port);
	expect_fail(fx->c, line, "cannot open the remote file '/nonexistent/file'");
	expect_out(fx->c, "=", "");
	peer_free(a);
	peer_free(b);
}

static void test_rap_large_output(void **state)
{
	struct fixture *fx = *state;
	struct peer *a = peer_start(PEER_RAP, "127.0.0.1", "1");
	add_ok(fx->c, "=+ rap://127.0.0.1:%d/%s", a->port, fx->path);
	/* the same file here, to compare with */
	assert_true(rap_core_open(fx->c, fx->path, RAP_PERM_R) >= 0);
	struct res local = run(fx->c, "px 100000 @ 0x100");
	struct res remote = run(fx->c, "=0 px 100000 @ 0x100");
	assert_int_equal(remote.rc, 0);
	assert_true(strlen(local.out) > 65536 * 4);
	assert_string_equal(remote.out, local.out);
	res_free(&local);
	res_free(&remote);
	peer_free(a);
}

static void test_dead_host(void **state)
{
	struct fixture *fx = *state;
	struct peer *a = peer_start(PEER_RAP, "127.0.0.1", "1");
	struct peer *b = peer_start(PEER_RAP, "127.0.0.1", "2");
	struct peer *c = peer_start(PEER_RAP, "127.0.0.1", "3");
	add_ok(fx->c, "=+ 127.0.0.1:%d", a->port);
	add_ok(fx->c, "=+ 127.0.0.1:%d", b->port);
	expect_out(fx->c, "=0 ?e alive", "alive\n");
	peer_kill(a);
	expect_fail(fx->c, "=0 ?e x", "host 0 (rap://127.0.0.1:");
	expect_fail(fx->c, "=0 ?e x", "is gone (connection closed by the peer); '=-0' removes it");
	char want[256];
	snprintf(want, sizeof(want), "0 - rap://127.0.0.1:%d (dead: connection closed by the peer)\n1 - rap://127.0.0.1:%d\n",
		 a->port, b->port);
	expect_out(fx->c, "=", want);
	/* the other host is untouched, and a dead one keeps its number */
	expect_out(fx->c, "=1 ?e still", "still\n");
	add_ok(fx->c, "=+ 127.0.0.1:%d", c->port);
	expect_out(fx->c, "=2 ?e two", "two\n");
	expect_out(fx->c, "=-0", "");
	snprintf(want, sizeof(want), "1 - rap://127.0.0.1:%d\n2 - rap://127.0.0.1:%d\n", b->port, c->port);
	expect_out(fx->c, "=", want);
	/* a host that was never there is refused at once and adds nothing */
	snprintf(want, sizeof(want), "=+ 127.0.0.1:%d", a->port);
	expect_fail(fx->c, want, "Connection refused");
	expect_out(fx->c, "=-", "");
	peer_free(a);
	peer_free(b);
	peer_free(c);
}

static void test_tcp_host(void **state)
{
	struct fixture *fx = *state;
	struct peer *p = peer_start(PEER_TCP_ECHO, "127.0.0.1", NULL);
	char line[128];
	snprintf(line, sizeof(line), "=+ tcp://127.0.0.1:%d", p->port);
	char *err = ok_err(fx->c, line);
	assert_non_null(strstr(err, "waiting... ok\n"));
	free(err);
	expect_out(fx->c, "=0 ?e hello", "answer to [?e hello]\n");
	expect_out(fx->c, "= px 16 @ 0x10", "answer to [px 16 @ 0x10]\n");
	assert_true(peer_wait_done(p, 2));
	/* one connection per command, each carrying exactly the line */
	assert_int_equal(p->nmsgs, 2);
	assert_string_equal(p->msgs[0], "?e hello\n");
	assert_string_equal(p->msgs[1], "px 16 @ 0x10\n");
	/* a session with a tcp host: a connection per line as well */
	expect_out(fx->c, "==0", "");
	expect_out(fx->c, "?e in session", "answer to [?e in session]\n");
	expect_out(fx->c, "q", "");
	peer_kill(p);
	expect_fail(fx->c, "=0 ?e x", "is gone: Connection refused");
	peer_free(p);

	/* A peer that dropped the connection "=+" kept: the command takes a new one. */
	p = peer_start(PEER_TCP_ECHO, "127.0.0.1", NULL);
	pthread_mutex_lock(&p->mu);
	p->drop_first = true;
	pthread_mutex_unlock(&p->mu);
	expect_out(fx->c, "=-", "");
	snprintf(line, sizeof(line), "=+ tcp://127.0.0.1:%d", p->port);
	free(ok_err(fx->c, line));
	assert_true(peer_wait_done(p, 1));
	expect_out(fx->c, "=0 ?e fresh", "answer to [?e fresh]\n");
	peer_free(p);
}

static void test_push_tcp(void **state)
{
	struct fixture *fx = *state;
	struct peer *sink = peer_start(PEER_TCP_SINK, "127.0.0.1", NULL);
	struct peer *rap = peer_start(PEER_RAP, "127.0.0.1", "1");
	assert_true(rap_core_open(fx->c, "malloc://64", RAP_PERM_RW) >= 0);
	expect_out(fx->c, "wx 41420043", "");
	add_ok(fx->c, "=+ tcp://127.0.0.1:%d", sink->port);
	struct res a = run(fx->c, "px 32");
	struct res b = run(fx->c, "p8 4");
	expect_out(fx->c, "=<0 px 32", "");
	expect_out(fx->c, "=< p8 4", "");
	/* raw bytes, NUL included */
	expect_out(fx->c, "=<  pr 4", "");
	expect_out(fx->c, "=-0", "");
	assert_true(peer_wait_done(sink, 1));
	assert_int_equal(sink->nmsgs, 1);
	size_t la = strlen(a.out), lb = strlen(b.out);
	assert_int_equal(sink->lens[0], la + lb + 4);
	assert_memory_equal(sink->msgs[0], a.out, la);
	assert_memory_equal(sink->msgs[0] + la, b.out, lb);
	assert_memory_equal(sink->msgs[0] + la + lb, "AB\0C", 4);
	res_free(&a);
	res_free(&b);

	add_ok(fx->c, "=+ 127.0.0.1:%d", rap->port);
	expect_fail(fx->c, "=< px 4", "=< needs a tcp or udp connection (host 0 is rap)");
	expect_fail(fx->c, "=<0", "usage: =<[N] cmd");
	peer_free(sink);
	peer_free(rap);
}

static void test_udp_host(void **state)
{
	struct fixture *fx = *state;
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(u, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	assert_int_equal(getsockname(u, (struct sockaddr *)&sa, &sl), 0);
	assert_true(rap_core_open(fx->c, fx->path, RAP_PERM_R) >= 0);
	char line[128];
	snprintf(line, sizeof(line), "=+ udp://127.0.0.1:%d", ntohs(sa.sin_port));
	char *err = ok_err(fx->c, line);
	assert_non_null(strstr(err, "waiting... ok\n"));
	free(err);
	expect_out(fx->c, "=0 ?e over udp", "");
	expect_out(fx->c, "=<0 px 32", "");
	struct res local = run(fx->c, "px 32");
	char buf[4096];
	struct pollfd pfd = { .fd = u, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	ssize_t n = recv(u, buf, sizeof(buf), 0);
	assert_int_equal(n, 12);
	assert_memory_equal(buf, "?e over udp\n", 12);
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	n = recv(u, buf, sizeof(buf), 0);
	assert_int_equal((size_t)n, strlen(local.out));
	assert_memory_equal(buf, local.out, (size_t)n);
	res_free(&local);
	/* Nobody listens any more: the port-unreachable answer to one datagram makes a later
	 * send fail, and the host is then marked gone like any other. */
	close(u);
	bool gone = false;
	for (int i = 0; i < 3 && !gone; i++) {
		struct res r = run(fx->c, "=0 ?e anyone");
		gone = r.rc < 0 && strstr(r.err, "is gone: Connection refused");
		res_free(&r);
	}
	assert_true(gone);
	expect_fail(fx->c, "=0 ?e x", "is gone (Connection refused)");
}

static void test_http_host(void **state)
{
	struct fixture *fx = *state;
	struct peer *p = peer_start(PEER_HTTP, "127.0.0.1", NULL);
	static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				      "5\r\nhello\r\n7;ext=1\r\n chunks\r\n0\r\n\r\n";
	/* radare2's server ends one header line with LF only */
	peer_reply(p, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0);
	peer_reply(p, "HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nlength and junk", 0);
	peer_reply(p, chunked, 0);
	peer_reply(p, "HTTP/1.0 200 OK\r\n\r\nuntil close\n", 0);
	peer_reply(p, "HTTP/1.1 403 Forbidden\r\nContent-Length: 24\r\n\r\ncommand refused: policy\n", 0);
	peer_reply(p, "SSH-2.0-OpenSSH\r\n", 0);
	add_ok(fx->c, "=+ http://127.0.0.1:%d/cmd/", p->port);
	expect_out(fx->c, "=0 px 16 @ 0x10", "length\n");
	expect_out(fx->c, "= ?e a/b", "hello chunks\n");
	expect_out(fx->c, "=0 x", "until close\n");
	expect_fail(fx->c, "=0 x", "answered 'HTTP/1.1 403 Forbidden': command refused: policy");
	expect_fail(fx->c, "=0 x", "the reply is not HTTP");
	assert_true(peer_wait_done(p, 6));
	char want[128];
	assert_true(strncmp(p->msgs[0], "GET /cmd/ HTTP/1.1\r\n", 20) == 0);
	snprintf(want, sizeof(want), "\r\nHost: 127.0.0.1:%d\r\n", p->port);
	assert_non_null(strstr(p->msgs[0], want));
	assert_true(strncmp(p->msgs[1], "GET /cmd/px%2016%20%40%200x10 HTTP/1.1\r\n", 40) == 0);
	assert_true(strncmp(p->msgs[2], "GET /cmd/%3Fe%20a%2Fb HTTP/1.1\r\n", 32) == 0);
	/* the host is still there: errors of the server are not deaths */
	snprintf(want, sizeof(want), "0 - http://127.0.0.1:%d/cmd/\n", p->port);
	expect_out(fx->c, "=", want);
	expect_fail(fx->c, "=<0 px", "=< needs a tcp or udp connection (host 0 is http)");
	peer_kill(p);
	expect_fail(fx->c, "=0 x", "host 0 (http://127.0.0.1:");
	peer_free(p);

	/* without a path the requests go to /cmd/ */
	p = peer_start(PEER_HTTP, "127.0.0.1", NULL);
	peer_reply(p, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0);
	char *err = ok_err(fx->c, "=-");
	free(err);
	char line[64];
	snprintf(line, sizeof(line), "=+ http://127.0.0.1:%d", p->port);
	err = ok_err(fx->c, line);
	/* any HTTP answer shows a server is there; the refusal is worth a warning */
	assert_non_null(strstr(err, "warning: GET /cmd/ answered 'HTTP/1.1 404 Not Found'"));
	free(err);
	peer_free(p);
}

static void test_session(void **state)
{
	struct fixture *fx = *state;
	struct peer *a = peer_start(PEER_RAP, "127.0.0.1", "1111");
	struct peer *b = peer_start(PEER_RAP, "127.0.0.1", "2222");
	add_ok(fx->c, "=+ 127.0.0.1:%d", a->port);
	add_ok(fx->c, "=+ rap://127.0.0.1:%d/%s", b->port, fx->path);
	assert_string_equal(prompt(fx->c), "[0x00000000]> ");
	expect_out(fx->c, "==0", "");
	assert_string_equal(prompt(fx->c), "fd:0> ");
	expect_out(fx->c, "e http.port", "1111\n");
	expect_out(fx->c, "", "");
	/* everything goes there, '=' lines too (its table is empty) */
	expect_out(fx->c, "=", "");
	expect_out(fx->c, "  q  ", "");
	assert_string_equal(prompt(fx->c), "[0x00000000]> ");
	expect_out(fx->c, "e http.port", "9090\n");
	expect_out(fx->c, "==", "");
	assert_string_equal(prompt(fx->c), "fd:0> ");
	expect_out(fx->c, "q", "");
	expect_out(fx->c, "== 1", "");
	expect_out(fx->c, "p8 4 @ 0x20", "40303030\n");
	/* the host dies: lines fail (and never run here) until 'q' */
	peer_kill(b);
	expect_fail(fx->c, "?e x", "host 1 (rap://127.0.0.1:");
	expect_fail(fx->c, "?e x", "is gone");
	expect_out(fx->c, "q", "");
	expect_fail(fx->c, "==1", "is gone");
	assert_string_equal(prompt(fx->c), "[0x00000000]> ");
	peer_free(a);
	peer_free(b);
}

static void test_remote_command_mode(void **state)
{
	struct fixture *fx = *state;
	struct peer *a = peer_start(PEER_RAP, "127.0.0.1", "1111");
	struct peer *io = peer_start(PEER_RAP, "127.0.0.1", "3333");
	add_ok(fx->c, "=+ rap://127.0.0.1:%d/%s", a->port, fx->path);
	expect_out(fx->c, "=!=0", "");
	/* the prompt shows the remote position */
	assert_string_equal(prompt(fx->c), "[=!0x00000000]> ");
	expect_out(fx->c, "s 0x20", "");
	assert_string_equal(prompt(fx->c), "[=!0x00000020]> ");
	assert_int_equal(rap_core_offset(fx->c), 0);
	expect_out(fx->c, "e http.port", "1111\n");
	expect_out(fx->c, "p8 4", "40303030\n");
	/* '=' and '!=' lines run here */
	char want[256];
	snprintf(want, sizeof(want), "0 - rap://127.0.0.1:%d/%s\n", a->port, fx->path);
	expect_out(fx->c, "=", want);
	expect_out(fx->c, "  !=!", "");
	assert_string_equal(prompt(fx->c), "[0x00000000]> ");
	expect_out(fx->c, "e http.port", "9090\n");
	/* a line starting with q leaves too */
	expect_out(fx->c, "=!= 0", "");
	expect_out(fx->c, "quit", "");
	expect_out(fx->c, "e http.port", "9090\n");
	/* removing the host ends the mode: its number may go to another host */
	expect_out(fx->c, "=!=0", "");
	struct res r = run(fx->c, "=-0");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.err, "remote-command mode off"));
	res_free(&r);
	expect_out(fx->c, "e http.port", "9090\n");

	/* without a number: through the current file's IO plugin */
	char uri[128];
	snprintf(uri, sizeof(uri), "rap://127.0.0.1:%d/%s", io->port, fx->path);
	assert_true(rap_core_open(fx->c, uri, RAP_PERM_R) >= 0);
	expect_out(fx->c, "=!=", "");
	expect_out(fx->c, "e http.port", "3333\n");
	expect_out(fx->c, "s 0x40", "");
	assert_string_equal(prompt(fx->c), "[=!0x00000040]> ");
	expect_out(fx->c, "!=!", "");
	assert_string_equal(prompt(fx->c), "[0x00000000]> ");
	peer_free(a);
	peer_free(io);
}

static void test_one_shot(void **state)
{
	struct fixture *fx = *state;
	struct peer *a = peer_start(PEER_RAP, "127.0.0.1", "1111");
	char line[256];
	snprintf(line, sizeof(line), "=:127.0.0.1:%d e http.port", a->port);
	expect_out(fx->c, line, "1111\n");
	snprintf(line, sizeof(line), "=:rap://127.0.0.1:%d/%s p8 4", a->port, fx->path);
	expect_out(fx->c, line, "40303030\n");
	/* nothing is left behind */
	expect_out(fx->c, "=", "");
	assert_true(peer_wait_done(a, 2));
	peer_free(a);
}

static void test_ipv6(void **state)
{
	struct fixture *fx = *state;
	struct peer *a = peer_start(PEER_RAP, "::1", "6666");
	if (!a)
		skip(); /* no IPv6 loopback here */
	char line[256], want[256];
	snprintf(line, sizeof(line), "=+ rap://[::1]:%d/%s", a->port, fx->path);
	char *err = ok_err(fx->c, line);
	snprintf(want, sizeof(want), "Connected to: ::1 at port %d\nwaiting... ok\n", a->port);
	assert_string_equal(err, want);
	free(err);
	snprintf(want, sizeof(want), "0 - rap://[::1]:%d/%s\n", a->port, fx->path);
	expect_out(fx->c, "=", want);
	expect_out(fx->c, "=0 p8 4 @ 0x30", "40303030\n");
	expect_out(fx->c, "=-", "");
	snprintf(line, sizeof(line), "=:[::1]:%d e http.port", a->port);
	expect_out(fx->c, line, "6666\n");
	peer_free(a);
}

static void test_push_runs_locally_in_remote_mode(void **state)
{
	struct fixture *fx = *state;
	struct peer *sink = peer_start(PEER_TCP_SINK, "127.0.0.1", NULL);
	add_ok(fx->c, "=+ tcp://127.0.0.1:%d", sink->port);
	expect_out(fx->c, "=!=0", "");
	/* "=<" runs here even though every other line would go to host 0 */
	expect_out(fx->c, "=< e http.port", "");
	expect_out(fx->c, "!=!", "");
	expect_out(fx->c, "=-", "");
	assert_true(peer_wait_done(sink, 1));
	assert_string_equal(sink->msgs[0], "9090\n");
	peer_free(sink);
}

static void test_allocation_failures(void **state)
{
	struct fixture *fx = *state;
	struct peer *a = peer_start(PEER_RAP, "127.0.0.1", "1");
	struct peer *t = peer_start(PEER_TCP_ECHO, "127.0.0.1", NULL);
	char add_rap[128], add_tcp[128];
	snprintf(add_rap, sizeof(add_rap), "=+ 127.0.0.1:%d", a->port);
	snprintf(add_tcp, sizeof(add_tcp), "=+ tcp://127.0.0.1:%d", t->port);
	const char *const lines[] = { add_rap, "=0 ?e x", "=", "=j", add_tcp, "=1 ?e y", "=-" };
	FILE *devnull = fopen("/dev/null", "w");
	rap_core_set_output(fx->c, devnull, devnull);
	for (long n = 0; n < 40; n++) {
		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			/* The peers allocate too (same process): only the client's part is
			 * counted down, by failing just around its own call. */
			rap__alloc_fail_after(n);
			int rc = rap_core_cmd(fx->c, lines[i]);
			rap__alloc_fail_after(-1);
			(void)rc;
		}
		/* The peers serve one connection at a time: the next "=+" needs these gone. */
		rap_core_cmd(fx->c, "=-");
	}
	rap_core_set_output(fx->c, NULL, NULL);
	fclose(devnull);
	expect_out(fx->c, "=", "");
	add_ok(fx->c, "%s", add_rap);
	expect_out(fx->c, "=0 ?e fine", "fine\n");
	expect_out(fx->c, "=-", "");
	peer_free(a);
	peer_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rap_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rap_large_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_command_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_shot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push_runs_locally_in_remote_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocation_failures, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
