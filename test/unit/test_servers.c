/* Servers started from the prompt (servers*.c): the RAP server in the background with real
 * rap_client sessions, the TCP command server, the HTTP server (status codes, headers,
 * limits), the server policy, foreground servers stopped with SIGINT, the help forms,
 * and librap-io used from several threads at once. Every server listens on loopback and
 * an OS-chosen port; every read has a timeout. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/core.h>
#include <rap/io.h>
#include <rap/rap.h>

#include "common.h"
#include "core_private.h"
#include "servers.h"

#define SAMPLE_SIZE 4096
#define IO_TIMEOUT_S 10

static uint8_t sample[SAMPLE_SIZE];

struct fixture {
	struct rap_core *c;
	char path[64];
	int fd; /* the user's file in c */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	for (size_t o = 0; o < SAMPLE_SIZE; o += 16) {
		char rec[17];
		snprintf(rec, sizeof(rec), "@%08zx|rap2!\n", o);
		memcpy(sample + o, rec, 16);
	}
	strcpy(fx->path, "/tmp/rap-test-servers-XXXXXX");
	int fd = mkstemp(fx->path);
	if (fd < 0 || write(fd, sample, sizeof(sample)) != (ssize_t)sizeof(sample))
		return -1;
	close(fd);
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

/* ---- helpers -------------------------------------------------------------------------- */

/* Runs a server command (what remote.c hands over) with the output captured. */
static int srv_cmd(struct rap_core *c, const char *text, char **out, char **err)
{
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, elen = 0;
	FILE *of = open_memstream(&obuf, &olen), *ef = open_memstream(&ebuf, &elen);
	FILE *so = c->out, *se = c->err;
	c->out = of;
	c->err = ef;
	char *copy = strdup(text);
	int rc = rap__core_cmd_server(c, copy);
	free(copy);
	c->out = so;
	c->err = se;
	fclose(of);
	fclose(ef);
	if (out)
		*out = obuf;
	else
		free(obuf);
	if (err)
		*err = ebuf;
	else
		free(ebuf);
	return rc;
}

/* Starts a server with text and returns the port of its "listening on SCHEME://127..."
 * line. */
static int start(struct rap_core *c, const char *text, const char *scheme)
{
	char *out = NULL, *err = NULL;
	int rc = srv_cmd(c, text, &out, &err);
	if (rc != 0)
		fail_msg("'%s' failed (%d): %s", text, rc, err);
	char needle[64];
	snprintf(needle, sizeof(needle), "listening on %s://127.0.0.1:", scheme);
	const char *p = strstr(out, needle);
	assert_non_null(p);
	int port = atoi(p + strlen(needle));
	assert_true(port > 0 && port < 65536);
	/* Both loopback families, one port. */
	char v6[96];
	snprintf(v6, sizeof(v6), "listening on %s://[::1]:%d", scheme, port);
	assert_non_null(strstr(out, v6));
	free(out);
	free(err);
	return port;
}

static char *cmd(struct rap_core *c, const char *line)
{
	char *out = NULL;
	assert_int_equal(rap_core_cmd_str(c, line, &out, NULL), 0);
	return out;
}

static int connect_to(const char *host, int port)
{
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	int fd;
	assert_int_equal(rap_tcp_connect(host, p, IO_TIMEOUT_S * 1000, &fd), 0);
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Reads until the peer closes (bounded by the socket timeout). */
static char *read_all(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
		ssize_t r = recv(fd, buf + n, cap - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			fail_msg("no close within %d s", IO_TIMEOUT_S);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* One connection: send req (then half-close when asked), read the whole answer. */
static char *exchange(const char *host, int port, const char *req, size_t len, bool shut)
{
	int fd = connect_to(host, port);
	assert_int_equal(rap_send_all(fd, req, len), 0);
	if (shut)
		shutdown(fd, SHUT_WR);
	char *r = read_all(fd, NULL);
	close(fd);
	return r;
}

/* One request on a connection of its own: "Connection: close" goes in after the request
 * line (HTTP/1.1 keeps a connection open otherwise), so the answer ends with the close. */
static char *http(int port, const char *req)
{
	const char *eol = strchr(req, '\n');
	if (!eol || strstr(req, "HTTP/1.0") || strstr(req, "Connection:"))
		return exchange("127.0.0.1", port, req, strlen(req), false);
	size_t len = strlen(req), at = (size_t)(eol + 1 - req);
	char *full = malloc(len + 32);
	memcpy(full, req, at);
	memcpy(full + at, "Connection: close\r\n", 19);
	memcpy(full + at + 19, req + at, len - at + 1);
	char *r = exchange("127.0.0.1", port, full, len + 19, false);
	free(full);
	return r;
}

static int status_of(const char *resp)
{
	int st = 0;
	if (sscanf(resp, "HTTP/1.1 %d ", &st) != 1)
		fail_msg("not an HTTP/1.1 response: %.80s", resp);
	return st;
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");
	assert_non_null(b);
	return b + 4;
}

/* The token the web console's page of the server on port carries. */
static void page_token(int port, char token[65])
{
	char *r = http(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	static const char meta[] = "<meta name=\"rap-token\" content=\"";
	const char *p = strstr(r, meta);
	assert_non_null(p);
	snprintf(token, 65, "%.64s", p + sizeof(meta) - 1);
	assert_int_equal(strspn(token, "0123456789abcdef"), 64);
	free(r);
}

/* Polls cond for up to 10 s: for effects the server thread makes after a client left. */
#define WAIT_FOR(cond)                                                   \
	do {                                                             \
		for (int w_ = 0; w_ < 1000 && !(cond); w_++)             \
			usleep(10000);                                   \
		assert_true(cond);                                       \
	} while (0)

/* What "=" shows about the servers. */
static char *listing(struct rap_core *c)
{
	char *out = NULL;
	size_t len;
	FILE *so = c->out;
	c->out = open_memstream(&out, &len);
	rap__core_servers_list(c);
	fclose(c->out);
	c->out = so;
	return out;
}

static void assert_no_servers(struct rap_core *c)
{
	char *l = listing(c);
	assert_string_equal(l, "");
	free(l);
}

static size_t open_files(struct rap_core *c)
{
	return rap_io_fds(rap_core_io(c), NULL, 0);
}

static const char *hexdump16(uint64_t off)
{
	static char buf[256];
	char rec[17];
	snprintf(rec, sizeof(rec), "@%08" PRIx64 "|rap2!\n", off);
	snprintf(buf, sizeof(buf),
		 "- offset -   0 1  2 3  4 5  6 7  8 9  A B  C D  E F  0123456789ABCDEF\n"
		 "0x%08" PRIx64 "  ",
		 off);
	size_t n = strlen(buf);
	for (int i = 0; i < 16; i += 2)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%02x%02x%s", (uint8_t)rec[i], (uint8_t)rec[i + 1],
				      i < 14 ? " " : "");
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "  ");
	for (int i = 0; i < 16; i++)
		buf[n++] = rec[i] >= 0x20 && rec[i] < 0x7f ? rec[i] : '.';
	buf[n++] = '\n';
	buf[n] = '\0';
	return buf;
}

/* ---- help and parsing ----------------------------------------------------------------- */

static void test_help_never_starts(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *text, *usage;
	} cases[] = {
		{ "=h?", "Usage: =[hH][&-] [port]" }, { "=H?", "Usage: =[hH][&-] [port]" },
		{ "=&?", "Usage: =&[:rt-] [port]" },  { "=t?", "Usage: =t port" },
		{ ".:?", "Usage: =t port" },          { "=:?", "Usage: =:port" },
		{ "=r?", "Usage: =:port" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		assert_int_equal(srv_cmd(fx->c, cases[i].text, &out, NULL), 0);
		assert_non_null(strstr(out, cases[i].usage));
		free(out);
	}
	char *out = NULL;
	assert_int_equal(srv_cmd(fx->c, "=&?", &out, NULL), 0);
	/* The stop commands are documented where the background servers are. */
	assert_non_null(strstr(out, "| =&-port"));
	assert_non_null(strstr(out, "| =h-"));
	assert_non_null(strstr(out, "| =t-"));
	assert_non_null(strstr(out, "srv.cmd"));
	free(out);
	assert_no_servers(fx->c);
}

static void test_bad_arguments(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *text, *err;
		int rc;
	} cases[] = {
		{ "=:", "missing port", RAP_EINVAL },
		{ "=t", "missing port", RAP_EINVAL },
		{ "=:65536", "invalid port '65536'", RAP_EINVAL },
		{ "=&:-1", "invalid port '-1'", RAP_EINVAL },
		{ "=t 0x10", "invalid port '0x10'", RAP_EINVAL },
		/* With a command after the address: a query, here of nobody. */
		{ "=t 1 2", "Cannot connect to 'localhost' (1)", -ECONNREFUSED },
		{ "=t 127.0.0.1:1 px", "Cannot connect to '127.0.0.1' (1)", -ECONNREFUSED },
		{ "=t 127.0.0.1:99999 px", "invalid tcp address '127.0.0.1:99999'", RAP_EURI },
		{ "=t 127.0.0.1:1", "usage: =t [HOST:]PORT CMD runs CMD there", RAP_EINVAL },
		{ "=&:1 2", "too many arguments", RAP_EINVAL },
		{ "=g 1", "usage: =g PORT FILE [ARGS]", RAP_EINVAL },
		{ "=g&", "usage: =g& PORT FILE [ARGS]", RAP_EINVAL },
		{ "=g x /bin/ls", "invalid port 'x'", RAP_EINVAL },
		{ "=g& 0 /nonexistent/program", "/nonexistent/program: ", -ENOENT },
		{ "=r 127.0.0.1:9999", "usage: =r [HOST:]PORT CMD runs CMD there; =r PORT serves on PORT", RAP_EINVAL },
		{ "=r 127.0.0.1:1 ?V", "Cannot connect to '127.0.0.1' (1)", -ECONNREFUSED },
		{ "=&-77", "no background server on port 77", RAP_EINVAL },
		{ "=&-x", "usage: =&-[port]", RAP_EINVAL },
		{ "=zz", "unknown server command", RAP_ENOTSUP },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *err = NULL;
		assert_int_equal(srv_cmd(fx->c, cases[i].text, NULL, &err), cases[i].rc);
		if (!strstr(err, cases[i].err))
			fail_msg("'%s': expected '%s' in '%s'", cases[i].text, cases[i].err, err);
		free(err);
	}
	/* Nothing to stop is not an error. */
	assert_int_equal(srv_cmd(fx->c, "=&-", NULL, NULL), 0);
	assert_int_equal(srv_cmd(fx->c, "=h-", NULL, NULL), 0);
}

static void test_port_in_use(void **state)
{
	struct fixture *fx = *state;
	int port = start(fx->c, "=&:0", "rap");
	char text[32], *err = NULL;
	snprintf(text, sizeof(text), "=&t %d", port);
	assert_true(srv_cmd(fx->c, text, NULL, &err) < 0);
	assert_non_null(strstr(err, "cannot listen on 127.0.0.1:"));
	free(err);
	/* The failed start left the running server alone. */
	char *out = listing(fx->c);
	char want[96];
	snprintf(want, sizeof(want), "rap server on 127.0.0.1:%d, [::1]:%d (background, srv.cmd=read)\n", port, port);
	assert_string_equal(out, want);
	free(out);
}

/* ---- the RAP server -------------------------------------------------------------------- */

static struct rap_client *rap_connect(int port)
{
	struct rap_client *cl;
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	assert_int_equal(rap_client_new(&cl), 0);
	assert_int_equal(rap_client_connect(cl, "127.0.0.1", p), 0);
	return cl;
}

static void test_rap_background_sessions(void **state)
{
	struct fixture *fx = *state;
	free(cmd(fx->c, "s 0x20; b 0x40"));
	int port = start(fx->c, "=&:0", "rap");
	size_t files_before = open_files(fx->c);

	/* Two clients at once, each with its own position. */
	struct rap_client *a = rap_connect(port), *b = rap_connect(port);
	char *out = NULL;
	/* A command-only session starts on the user's file and position. */
	assert_int_equal(rap_client_cmd(a, "s", &out, NULL), 0);
	assert_string_equal(out, "0x20\n");
	free(out);
	assert_int_equal(rap_client_cmd(a, "s 0x100; px 16", &out, NULL), 0);
	assert_string_equal(out, hexdump16(0x100));
	free(out);
	/* Below "write" only what the user has open can be opened (the same real path). */
	assert_int_equal(rap_client_open(b, "malloc://64", RAP_PERM_R), RAP_EREMOTE);
	assert_int_equal(rap_client_open(b, "/etc/passwd", RAP_PERM_R), RAP_EREMOTE);
	char alias[96];
	snprintf(alias, sizeof(alias), "/tmp/./%s", strrchr(fx->path, '/') + 1);
	int fd = rap_client_open(b, alias, RAP_PERM_RW);
	assert_true(fd >= 0);
	/* ...and read-only: the write bit was dropped. */
	assert_int_equal(rap_io_fd_perm(rap_core_io(fx->c), fd) & RAP_PERM_W, 0);
	assert_int_not_equal(fd, fx->fd);
	uint8_t buf[32];
	assert_int_equal(rap_client_read_at(b, 0x200, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, sample + 0x200, sizeof(buf));
	assert_int_equal(rap_client_cmd(b, "s", &out, NULL), 0);
	assert_string_equal(out, "0x200\n"); /* READ does not move */
	free(out);
	assert_int_equal(rap_client_cmd(a, "s", &out, NULL), 0);
	assert_string_equal(out, "0x100\n");
	free(out);
	assert_int_equal(open_files(fx->c), files_before + 1);

	/* The user's prompt works meanwhile, and its position never moved. */
	out = cmd(fx->c, "s; b; p8 4");
	assert_string_equal(out, "0x20\n0x40\n40303030\n");
	free(out);

	/* The user's file is not the client's to close; its own is. */
	assert_int_equal(rap_client_close_fd(b, fx->fd), RAP_EREMOTE);
	assert_true(rap_io_fd_perm(rap_core_io(fx->c), fx->fd) >= 0);
	/* Read policy: no writes, not even to the user's read-write file. */
	assert_int_equal(rap_client_write_at(a, 0, "XY", 2), RAP_EREMOTE);
	assert_int_equal(rap_client_cmd(a, "wx 4142", &out, NULL), 0);
	assert_non_null(strstr(out, "refused by the server's command policy (read)"));
	free(out);
	assert_int_equal(rap_client_cmd(a, "=&-", &out, NULL), 0);
	assert_non_null(strstr(out, "refused"));
	free(out);

	/* A client's q ends its own session only. */
	assert_int_equal(rap_client_cmd(b, "q", &out, NULL), 0);
	free(out);
	out = NULL;
	assert_true(rap_client_cmd(b, "s", &out, NULL) < 0);
	free(out);
	rap_client_free(b);
	/* ...and what it opened is closed with it. */
	WAIT_FOR(open_files(fx->c) == files_before);
	assert_int_equal(rap_client_cmd(a, "?e still here", &out, NULL), 0);
	assert_string_equal(out, "still here\n");
	free(out);
	rap_client_free(a);

	/* Stop by port; a new client is refused afterwards. */
	char text[32];
	snprintf(text, sizeof(text), "=&-%d", port);
	assert_int_equal(srv_cmd(fx->c, text, NULL, NULL), 0);
	assert_no_servers(fx->c);
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	struct rap_client *late;
	assert_int_equal(rap_client_new(&late), 0);
	assert_int_equal(rap_client_connect(late, "127.0.0.1", p), -ECONNREFUSED);
	rap_client_free(late);
}

static void test_rap_write_policy(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(rap_core_config_set(fx->c, "srv.cmd", "write"), 0);
	int port = start(fx->c, "=&r 0", "rap");
	struct rap_client *a = rap_connect(port);
	/* "write" may open other files too. */
	struct rap_client *o = rap_connect(port);
	assert_true(rap_client_open(o, "malloc://64", RAP_PERM_RW) >= 0);
	assert_int_equal(rap_client_write_at(o, 0, "ab", 2), 2);
	rap_client_free(o);
	/* The session starts on the user's read-write file: WRITE goes through. */
	assert_int_equal(rap_client_write_at(a, 0x10, "WXYZ", 4), 4);
	char *out = NULL;
	assert_int_equal(rap_client_cmd(a, "p8 4 @ 0x10; wx 41 @ 0x14; p8 1 @ 0x14", &out, NULL), 0);
	assert_string_equal(out, "5758595a\n41\n");
	free(out);
	/* The shell stays refused unless srv.shell is on. */
	assert_int_equal(rap_client_cmd(a, "!echo hi", &out, NULL), 0);
	assert_non_null(strstr(out, "shell commands are disabled"));
	free(out);
	rap_client_free(a);
	out = cmd(fx->c, "p8 5 @ 0x10");
	assert_string_equal(out, "5758595a41\n");
	free(out);
}

static void test_rap_policy_none(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(rap_core_config_set(fx->c, "srv.cmd", "none"), 0);
	int port = start(fx->c, "=&:0", "rap");
	struct rap_client *a = rap_connect(port);
	char *out = NULL;
	assert_int_equal(rap_client_cmd(a, "?V", &out, NULL), 0);
	assert_non_null(strstr(out, "refused by the server's command policy (none)"));
	free(out);
	rap_client_free(a);
}

/* ---- the TCP command server ------------------------------------------------------------ */

static void test_tcp_server(void **state)
{
	struct fixture *fx = *state;
	int port = start(fx->c, "=t& 0", "tcp");
	char *r = exchange("127.0.0.1", port, "px 16\n", 6, false);
	assert_string_equal(r, hexdump16(0));
	free(r);
	/* IPv6, CRLF and no half-close: the newline ends the command. */
	r = exchange("::1", port, "p8 4 @ 0x10\r\n", 13, false);
	assert_string_equal(r, "40303030\n");
	free(r);
	/* EOF without a newline ends it too. */
	r = exchange("127.0.0.1", port, "?e eof", 6, true);
	assert_string_equal(r, "eof\n");
	free(r);
	/* Empty output answers one newline, as radare2 does. */
	r = exchange("127.0.0.1", port, "s 0x100\n", 8, false);
	assert_string_equal(r, "\n");
	free(r);
	/* One core for the server: the position persists between connections, and is not
	 * the user's. */
	r = exchange("127.0.0.1", port, "s\n", 2, false);
	assert_string_equal(r, "0x100\n");
	free(r);
	char *o = cmd(fx->c, "s");
	assert_string_equal(o, "0x0\n");
	free(o);
	/* A refusal answers its reason; q stops nothing. */
	r = exchange("127.0.0.1", port, "wx 41\n", 6, false);
	assert_string_equal(r, "error: command 'wx' refused by the server's command policy (read)\n");
	free(r);
	r = exchange("127.0.0.1", port, "q!\n", 3, false);
	assert_string_equal(r, "\n");
	free(r);
	/* curl's request is answered as HTTP. */
	r = http(port, "GET /cmd/p8%204 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_string_equal(body_of(r), "40303030\n");
	free(r);
	/* An endless line is cut off with an error, and the server goes on. */
	size_t big = (64u << 10) + 100;
	char *line = malloc(big);
	memset(line, 'A', big);
	int fd = connect_to("127.0.0.1", port);
	/* The server may close before taking all of it. */
	(void)rap_send_all(fd, line, big);
	r = read_all(fd, NULL);
	close(fd);
	assert_non_null(strstr(r, "command line too long"));
	free(r);
	free(line);
	r = exchange("127.0.0.1", port, "?e ok\n", 6, false);
	assert_string_equal(r, "ok\n");
	free(r);
	assert_int_equal(srv_cmd(fx->c, "=t-", NULL, NULL), 0);
	assert_no_servers(fx->c);
}

/* A client that connects and sends half a line, or nothing, holds nobody else up. */
static void test_tcp_stalled_client(void **state)
{
	struct fixture *fx = *state;
	int port = start(fx->c, "=&t 0", "tcp");
	int idle = connect_to("127.0.0.1", port);
	int half = connect_to("::1", port);
	assert_int_equal(rap_send_all(half, "px", 2), 0);
	char *r = exchange("127.0.0.1", port, "?e served\n", 10, false);
	assert_string_equal(r, "served\n");
	free(r);
	close(idle);
	close(half);
}

/* ---- the HTTP server ------------------------------------------------------------------- */

static void test_http_server(void **state)
{
	struct fixture *fx = *state;
	int port = start(fx->c, "=h& 0", "http");
	char *r = http(port, "GET /cmd/px%2016 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	char want[512];
	snprintf(want, sizeof(want),
		 "HTTP/1.1 200 OK\r\n"
		 "Content-Type: text/plain; charset=utf-8\r\n"
		 "Content-Length: %zu\r\n"
		 "Cache-Control: no-store\r\n"
		 "X-Content-Type-Options: nosniff\r\n"
		 "Connection: close\r\n"
		 "\r\n%s",
		 strlen(hexdump16(0)), hexdump16(0));
	assert_string_equal(r, want);
	free(r);
	/* Every header line ends with CRLF. */
	r = http(port, "GET /cmd/?V HTTP/1.0\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	for (const char *p = r; p < body_of(r); p++)
		if (*p == '\n')
			assert_int_equal(p[-1], '\r');
	assert_non_null(strstr(body_of(r), "rap "));
	free(r);
	/* POST: the body is the command; the position persists for later requests. */
	r = http(port, "POST /cmd HTTP/1.1\r\nHost: localhost\r\nContent-Length: 18\r\n\r\ns 0x30\np8 4 @ 0x40");
	assert_int_equal(status_of(r), 200);
	assert_string_equal(body_of(r), "40303030\n");
	free(r);
	r = http(port, "GET /cmd/s HTTP/1.1\r\nHost: [::1]:1\r\n\r\n");
	assert_string_equal(body_of(r), "0x30\n");
	free(r);
	char *o = cmd(fx->c, "s");
	assert_string_equal(o, "0x0\n");
	free(o);
	/* HEAD: the headers of a GET, no body. */
	r = http(port, "HEAD /cmd/p8%204 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_non_null(strstr(r, "Content-Length: 9\r\n"));
	assert_string_equal(body_of(r), "");
	free(r);
	/* The web console's page at /, with the server's token, kept from other origins. */
	r = http(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_true(strncmp(body_of(r), "<!DOCTYPE html>", 15) == 0);
	const char *meta = strstr(body_of(r), "<meta name=\"rap-token\" content=\"");
	assert_non_null(meta);
	meta += strlen("<meta name=\"rap-token\" content=\"");
	assert_int_equal(strspn(meta, "0123456789abcdef"), 64);
	assert_int_equal(meta[64], '"');
	static const char *const page_headers[] = {
		"\r\nContent-Type: text/html; charset=utf-8\r\n", "\r\nCache-Control: no-store\r\n",
		"\r\nX-Content-Type-Options: nosniff\r\n", "\r\nX-Frame-Options: DENY\r\n",
		"\r\nReferrer-Policy: no-referrer\r\n", "\r\nContent-Security-Policy: default-src 'none'; script-src 'sha256-",
		"frame-ancestors 'none'\r\n",
	};
	for (size_t i = 0; i < sizeof(page_headers) / sizeof(page_headers[0]); i++)
		if (!strstr(r, page_headers[i]))
			fail_msg("the page lacks %s", page_headers[i]);
	assert_null(strstr(r, "Access-Control-"));
	assert_true(strlen(body_of(r)) <= 50 * 1024);
	free(r);
	/* Expect: 100-continue gets its interim answer before the body is sent. */
	int fd = connect_to("127.0.0.1", port);
	const char *head = "POST /cmd/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 7\r\n\r\n";
	assert_int_equal(rap_send_all(fd, head, strlen(head)), 0);
	char cont[64] = "";
	ssize_t n = recv(fd, cont, sizeof(cont) - 1, 0);
	assert_true(n > 0);
	assert_string_equal(cont, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(rap_send_all(fd, "?e post", 7), 0);
	r = read_all(fd, NULL);
	close(fd);
	assert_int_equal(status_of(r), 200);
	assert_string_equal(body_of(r), "post\n");
	free(r);
	assert_int_equal(srv_cmd(fx->c, "=h-", NULL, NULL), 0);
	assert_no_servers(fx->c);
}

static void test_http_errors(void **state)
{
	struct fixture *fx = *state;
	int port = start(fx->c, "=h& 0", "http");
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		{ "GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404 },
		{ "DELETE /cmd/px HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405 },
		{ "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", 405 },
		{ "GET /cmd/px%2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400 },
		{ "GET /cmd/px%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400 },
		{ "GET /cmd/px HTTP/1.1\r\n\r\n", 400 },                   /* no Host */
		{ "GET /cmd/px HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 505 },
		{ "GET\r\n\r\n", 400 },
		{ "G@T /cmd/px HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400 },
		{ "GET /cmd/px HTTP/1.1\r\nHost: 127.0.0.1\r\n folded\r\n\r\n", 400 },
		{ "GET /cmd/px HTTP/1.1\r\nHost: 127.0.0.1\r\nbroken header\r\n\r\n", 400 },
		{ "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400 },
		{ "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\n\r\n", 413 },
		{ "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501 },
		{ "GET /cmd/px HTTP/1.1\r\nHost: evil.example\r\n\r\n", 403 },
		{ "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\nContent-Length: 2\r\n\r\npx", 403 },
		{ "GET /cmd/wx%2041 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 403 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = http(port, cases[i].req);
		if (status_of(r) != cases[i].status)
			fail_msg("%.40s: %d instead of %d", cases[i].req, status_of(r), cases[i].status);
		assert_non_null(strstr(r, "Connection: close\r\n"));
		if (cases[i].status == 405)
			assert_non_null(strstr(r, "Allow: GET, HEAD, POST\r\n"));
		free(r);
	}
	/* A refused HEAD is answered with the headers alone (RFC 9110 9.3.2). */
	static const char *const heads[] = {
		"HEAD /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"HEAD /cmd/px HTTP/1.1\r\nHost: evil.example\r\n\r\n",
		"HEAD /cmd/px HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: cross-site\r\n\r\n",
		"HEAD /cmd/px%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"HEAD /cmd/wx%2041 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		char *r = http(port, heads[i]);
		int st = status_of(r);
		assert_true(st >= 400);
		if (strcmp(body_of(r), "") != 0)
			fail_msg("%.40s: %d with a body: %s", heads[i], st, body_of(r));
		free(r);
	}
	/* The policy refusal carries the core's reason. */
	char *r = http(port, "GET /cmd/wx%2041 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_string_equal(body_of(r), "error: command 'wx' refused by the server's command policy (read)\n");
	free(r);
	/* Oversized heads: the request line, then the header block. */
	size_t big = (64u << 10) + 10;
	char *req = malloc(big + 64);
	memcpy(req, "GET /cmd/", 9);
	memset(req + 9, 'a', big);
	int fd = connect_to("127.0.0.1", port);
	(void)rap_send_all(fd, req, big);
	r = read_all(fd, NULL);
	close(fd);
	assert_int_equal(status_of(r), 414);
	free(r);
	int hl = snprintf(req, 64, "GET /cmd/s HTTP/1.1\r\nHost: 127.0.0.1\r\nX: ");
	memset(req + hl, 'b', big);
	fd = connect_to("127.0.0.1", port);
	(void)rap_send_all(fd, req, big);
	r = read_all(fd, NULL);
	close(fd);
	assert_int_equal(status_of(r), 431);
	free(r);
	free(req);
	/* The server is still there after all of that. */
	r = http(port, "GET /cmd/p8%202 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_string_equal(body_of(r), "4030\n");
	free(r);
}

static void test_http_write_policy_and_shell(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(rap_core_config_set(fx->c, "srv.cmd", "all"), 0);
	assert_int_equal(rap_core_config_set(fx->c, "srv.shell", "true"), 0);
	int port = start(fx->c, "=h& 0", "http");
	/* Policies are read at start: changing them later does not widen a running server. */
	assert_int_equal(rap_core_config_set(fx->c, "srv.cmd", "read"), 0);
	char *r = http(port, "GET /cmd/wx%204142%20@%200x8;%20p8%202%20@%200x8 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_string_equal(body_of(r), "4142\n");
	free(r);
	r = http(port, "GET /cmd/!echo%20from-shell HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_string_equal(body_of(r), "from-shell\n");
	free(r);
	/* Servers cannot be started from a served session, even under "all". */
	r = http(port, "GET /cmd/=t%200 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_non_null(strstr(body_of(r), "error"));
	free(r);
	char *l = listing(fx->c);
	assert_non_null(strstr(l, "(background, srv.cmd=all, srv.shell=true)"));
	free(l);
}

/* Cross-site request forgery: what a web page can make a browser send never runs a
 * command; curl, scripts and X-Rap requests do. */
static void test_http_refuses_browsers(void **state)
{
	struct fixture *fx = *state;
	int port = start(fx->c, "=h& 0", "http");
	static const struct {
		const char *headers;
		int status;
	} cases[] = {
		/* <img src="http://127.0.0.1:PORT/cmd/s 0x99"> on a modern browser */
		{ "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\r\nSec-Fetch-Site: cross-site\r\n"
		  "Sec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: image\r\nReferer: http://evil.example/\r\n", 403 },
		{ "Sec-Fetch-Site: cross-site\r\n", 403 },
		{ "Sec-Fetch-Site: same-site\r\nX-Rap: 1\r\n", 403 },
		{ "Origin: null\r\n", 403 },
		{ "Origin: null\r\nX-Rap: 1\r\n", 403 },
		{ "Origin: http://evil.example\r\nX-Rap: 1\r\n", 403 },
		/* an older browser: no Sec-Fetch-*, but its User-Agent */
		{ "User-Agent: Mozilla/5.0\r\n", 403 },
		{ "User-Agent: Mozilla/4.0 (compatible)\r\nAccept: */*\r\n", 403 },
		{ "Referer: http://evil.example/page\r\n", 403 },
		{ "Sec-Fetch-Mode: navigate\r\n", 403 },
		/* a page on another loopback port: same rule (X-Rap would need a preflight) */
		{ "Origin: http://localhost:3000\r\n", 403 },
		{ "Origin: null\r\nOrigin: http://127.0.0.1\r\n", 400 },
		{ "Sec-Fetch-Site: none\r\nSec-Fetch-Site: cross-site\r\nX-Rap: 1\r\n", 400 },
	};
	static const char *const targets[] = { "GET /cmd/s%200x99", "HEAD /cmd/s%200x99" };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t k = 0; k < 2; k++) {
			char req[512];
			snprintf(req, sizeof(req), "%s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", targets[k], cases[i].headers);
			char *r = http(port, req);
			if (status_of(r) != cases[i].status)
				fail_msg("%s: %d instead of %d", req, status_of(r), cases[i].status);
			free(r);
		}
		/* a form POST (text/plain body) the same */
		char req[512];
		snprintf(req, sizeof(req),
			 "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n%sContent-Length: 6\r\n\r\ns 0x99",
			 cases[i].headers);
		char *r = http(port, req);
		if (status_of(r) != cases[i].status)
			fail_msg("%s: %d instead of %d", req, status_of(r), cases[i].status);
		free(r);
	}
	/* None of them ran: the server's position never became 0x99. */
	char *r = http(port, "GET /cmd/s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8.5.0\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_string_equal(body_of(r), "0x0\n");
	free(r);
	/* The reason says what to do. */
	r = http(port, "GET /cmd/s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0\r\n\r\n");
	assert_non_null(strstr(body_of(r), "X-Rap"));
	free(r);

	/* What a browser sends from the web console's page: its token is needed, X-Rap alone
	 * is not enough where Origin or Sec-Fetch-Site show a browser. */
	char token[65];
	page_token(port, token);
	static const char *const browser_x_rap[] = {
		"X-Rap: yes\r\nOrigin: http://127.0.0.1:8000\r\n", /* a loopback page's fetch, after a preflight */
		"User-Agent: Mozilla/5.0\r\nSec-Fetch-Site: same-origin\r\nOrigin: http://127.0.0.1\r\nX-Rap: 1\r\n",
		"User-Agent: Mozilla/5.0\r\nSec-Fetch-Site: none\r\nX-Rap: 1\r\n",
	};
	for (size_t i = 0; i < sizeof(browser_x_rap) / sizeof(browser_x_rap[0]); i++) {
		char req[512];
		snprintf(req, sizeof(req), "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: 6\r\n\r\ns 0x99",
			 browser_x_rap[i]);
		r = http(port, req);
		if (status_of(r) != 403)
			fail_msg("%s: %d instead of 403", req, status_of(r));
		assert_non_null(strstr(body_of(r), "X-Rap-Token"));
		free(r);
		/* A wrong token is no better. */
		snprintf(req, sizeof(req),
			 "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\n%sX-Rap-Token: %.63s0\r\nContent-Length: 6\r\n\r\ns 0x99",
			 browser_x_rap[i], token[63] == '0' ? "1" : token);
		r = http(port, req);
		assert_int_equal(status_of(r), 403);
		free(r);
	}
	r = http(port, "GET /cmd/s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_string_equal(body_of(r), "0x0\n");
	free(r);

	char with_token[3][256];
	snprintf(with_token[0], sizeof(with_token[0]),
		 "User-Agent: Mozilla/5.0\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\n"
		 "Origin: http://127.0.0.1\r\nX-Rap-Token: %s\r\n", token);
	snprintf(with_token[1], sizeof(with_token[1]), "User-Agent: Mozilla/5.0\r\nSec-Fetch-Site: none\r\nX-Rap-Token: %s\r\n",
		 token);
	snprintf(with_token[2], sizeof(with_token[2]), "X-Rap-Token: %s\r\n", token);
	const char *const allowed[] = {
		"",                                            /* no User-Agent: nc, scripts */
		"User-Agent: curl/8.5.0\r\nAccept: */*\r\n",   /* curl */
		"User-Agent: Wget/1.21\r\n",
		"User-Agent: Python-urllib/3.12\r\n",
		"User-Agent: Mozilla/5.0\r\nX-Rap: 1\r\n",    /* a script that looks like a browser */
		"Sec-Fetch-Mode: cors\r\nUser-Agent: node\r\nX-Rap: 1\r\n", /* node's fetch */
		with_token[0],                                 /* the web console's page */
		with_token[1],
		with_token[2],
	};
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		char req[512];
		snprintf(req, sizeof(req), "GET /cmd/p8%%202 HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", allowed[i]);
		r = http(port, req);
		if (status_of(r) != 200)
			fail_msg("%s: %d instead of 200", req, status_of(r));
		assert_string_equal(body_of(r), "4030\n");
		free(r);
		snprintf(req, sizeof(req), "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: 4\r\n\r\np8 2",
			 allowed[i]);
		r = http(port, req);
		if (status_of(r) != 200)
			fail_msg("%s: %d instead of 200", req, status_of(r));
		assert_string_equal(body_of(r), "4030\n");
		free(r);
	}
	/* The page at / still opens in a browser (=H), but not from another site. */
	r = http(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0\r\nSec-Fetch-Site: none\r\n"
		       "Sec-Fetch-Mode: navigate\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_non_null(strstr(body_of(r), "X-Rap"));
	free(r);
	r = http(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: cross-site\r\n\r\n");
	assert_int_equal(status_of(r), 403);
	free(r);
	/* The TCP server's HTTP requests follow the same rules. */
	int tport = start(fx->c, "=t& 0", "tcp");
	r = http(tport, "GET /cmd/p8%202 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0\r\n\r\n");
	assert_int_equal(status_of(r), 403);
	free(r);
	r = http(tport, "GET /cmd/p8%202 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8.5.0\r\n\r\n");
	assert_int_equal(status_of(r), 200);
	assert_string_equal(body_of(r), "4030\n");
	free(r);
	/* The help says all of it. */
	char *out = NULL;
	assert_int_equal(srv_cmd(fx->c, "=h?", &out, NULL), 0);
	assert_non_null(strstr(out, "X-Rap"));
	assert_non_null(strstr(out, "Sec-Fetch-Site"));
	assert_non_null(strstr(out, "Mozilla/"));
	free(out);
}

/* Reads one HTTP response from fd (by its Content-Length, or its chunks decoded) into a
 * heap string: the head as sent, then the body; *chunked tells which. */
static char *read_response_ex(int fd, bool *chunked, bool head_only)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	char *end = NULL;
	/* Bounded by the socket's timeout per read. */
	while (!(end = n ? strstr(buf, "\r\n\r\n") : NULL)) {
		ssize_t r = recv(fd, buf + n, 1, 0);
		if (r <= 0)
			fail_msg("the response's head did not come (%zd)", r);
		n += (size_t)r;
		buf[n] = '\0';
		assert_true(n < cap);
	}
	size_t head = (size_t)(end + 4 - buf);
	*chunked = strstr(buf, "\r\nTransfer-Encoding: chunked\r\n") != NULL;
	if (head_only)
		return buf;
	if (!*chunked) {
		const char *cl = strstr(buf, "\r\nContent-Length: ");
		assert_non_null(cl);
		size_t want = head + strtoul(cl + 18, NULL, 10);
		if (want > cap) {
			cap = want;
			buf = realloc(buf, cap + 1);
		}
		while (n < want) {
			ssize_t r = recv(fd, buf + n, want - n, 0);
			if (r <= 0)
				fail_msg("the body did not come");
			n += (size_t)r;
		}
		buf[n] = '\0';
		return buf;
	}
	/* Chunks: "SIZE\r\n" DATA "\r\n", until the zero-sized one. */
	for (;;) {
		char line[32];
		size_t ll = 0;
		while (ll < sizeof(line) - 1) {
			ssize_t r = recv(fd, line + ll, 1, 0);
			if (r <= 0)
				fail_msg("a chunk did not come");
			if (line[ll++] == '\n')
				break;
		}
		line[ll] = '\0';
		size_t size = strtoul(line, NULL, 16);
		if (n + size + 2 > cap) {
			cap = (n + size + 2) * 2;
			buf = realloc(buf, cap + 1);
		}
		size_t want = n + size + 2;
		while (n < want) {
			ssize_t r = recv(fd, buf + n, want - n, 0);
			if (r <= 0)
				fail_msg("a chunk's data did not come");
			n += (size_t)r;
		}
		assert_memory_equal(buf + n - 2, "\r\n", 2);
		n -= 2;
		buf[n] = '\0';
		if (size == 0)
			return buf;
	}
}

static char *read_response(int fd, bool *chunked)
{
	return read_response_ex(fd, chunked, false);
}

/* HTTP/1.1 keeps the connection for the next request, pipelined ones too; HTTP/1.0 and
 * "Connection: close" end it; errors end it. */
static void test_http_keep_alive(void **state)
{
	struct fixture *fx = *state;
	int port = start(fx->c, "=h& 0", "http");
	int fd = connect_to("127.0.0.1", port);
	bool chunked;
	for (int i = 0; i < 3; i++) {
		const char *req = "GET /cmd/p8%202 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
		assert_int_equal(rap_send_all(fd, req, strlen(req)), 0);
		char *r = read_response(fd, &chunked);
		assert_int_equal(status_of(r), 200);
		assert_non_null(strstr(r, "\r\nConnection: keep-alive\r\n"));
		assert_string_equal(body_of(r), "4030\n");
		free(r);
	}
	/* HEAD and the page on the same connection; a POST's body is not the next request. */
	const char *more = "HEAD /cmd/p8%204 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
			   "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 18\r\n\r\nGET / HTTP/1.1\r\n\r\n"
			   "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
			   "GET /cmd/?e%20last HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	assert_int_equal(rap_send_all(fd, more, strlen(more)), 0);
	char *r = read_response_ex(fd, &chunked, true);
	assert_non_null(strstr(r, "Content-Length: 9\r\n"));
	assert_string_equal(body_of(r), "");
	free(r);
	r = read_response(fd, &chunked);
	assert_int_equal(status_of(r), 200);
	assert_non_null(strstr(body_of(r), "unknown command 'GET'"));
	free(r);
	r = read_response(fd, &chunked);
	assert_non_null(strstr(r, "text/html"));
	free(r);
	/* The last one asked for the end: answered, then closed. */
	size_t len;
	r = read_all(fd, &len);
	close(fd);
	assert_non_null(strstr(r, "\r\nConnection: close\r\n"));
	assert_string_equal(body_of(r), "last\n");
	free(r);
	/* Thousands pipelined at once: each answered, in order, without the server going
	 * deeper for each (it takes the next one from its loop). */
	enum { PIPELINED = 3000 };
	static const char head_req[] = "HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	static const char last_req[] = "GET /cmd/?e%20end HTTP/1.1\r\nHost: ::1\r\nConnection: close\r\n\r\n";
	size_t plen = PIPELINED * (sizeof(head_req) - 1) + sizeof(last_req) - 1;
	char *pipe_text = malloc(plen + 1);
	for (int i = 0; i < PIPELINED; i++)
		memcpy(pipe_text + (size_t)i * (sizeof(head_req) - 1), head_req, sizeof(head_req) - 1);
	memcpy(pipe_text + PIPELINED * (sizeof(head_req) - 1), last_req, sizeof(last_req));
	fd = connect_to("127.0.0.1", port);
	assert_int_equal(rap_send_all(fd, pipe_text, plen), 0);
	free(pipe_text);
	size_t total = 0;
	r = read_all(fd, &total);
	close(fd);
	int answers = 0;
	for (const char *p = r; (p = strstr(p, "HTTP/1.1 200 OK\r\n")) != NULL; p++)
		answers++;
	assert_int_equal(answers, PIPELINED + 1);
	assert_int_equal(strcmp(r + total - 4, "end\n"), 0);
	free(r);
	/* HTTP/1.0 closes unless asked; with keep-alive it stays. */
	fd = connect_to("::1", port);
	const char *h10 = "GET /cmd/p8%201 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	assert_int_equal(rap_send_all(fd, h10, strlen(h10)), 0);
	r = read_response(fd, &chunked);
	assert_non_null(strstr(r, "\r\nConnection: keep-alive\r\n"));
	free(r);
	h10 = "GET /cmd/p8%201 HTTP/1.0\r\n\r\n";
	assert_int_equal(rap_send_all(fd, h10, strlen(h10)), 0);
	r = read_all(fd, NULL);
	close(fd);
	assert_non_null(strstr(r, "\r\nConnection: close\r\n"));
	assert_string_equal(body_of(r), "40\n");
	free(r);
	/* An error ends the connection, whatever was pipelined after it. */
	fd = connect_to("127.0.0.1", port);
	const char *bad = "GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /cmd/p8%201 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	assert_int_equal(rap_send_all(fd, bad, strlen(bad)), 0);
	r = read_all(fd, NULL);
	close(fd);
	assert_int_equal(status_of(r), 404);
	assert_null(strstr(body_of(r), "HTTP/1.1"));
	free(r);
	/* A client that sends its end after a request that does not keep the connection
	 * (HTTP/1.0, "Connection: close": nc -N) still gets its answer. */
	const char *h10s = "GET /cmd/p8%202 HTTP/1.0\r\n\r\n";
	r = exchange("127.0.0.1", port, h10s, strlen(h10s), true);
	assert_string_equal(body_of(r), "4030\n");
	free(r);
	const char *closing = "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 4\r\n\r\np8 3";
	r = exchange("127.0.0.1", port, closing, strlen(closing), true);
	assert_string_equal(body_of(r), "403030\n");
	free(r);
}

/* POST /cmd?stream=1: the same text as POST /cmd, in chunks as the command writes it. */
static void test_http_stream(void **state)
{
	struct fixture *fx = *state;
	int port = start(fx->c, "=h& 0", "http");
	int fd = connect_to("127.0.0.1", port);
	bool chunked;
	const char *plain = "POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 13\r\n\r\npx 0x1000 @ 0";
	assert_int_equal(rap_send_all(fd, plain, strlen(plain)), 0);
	char *whole = read_response(fd, &chunked);
	assert_false(chunked);
	assert_true(strlen(body_of(whole)) > 256 * 67);
	const char *req = "POST /cmd?stream=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 13\r\n\r\npx 0x1000 @ 0";
	assert_int_equal(rap_send_all(fd, req, strlen(req)), 0);
	char *r = read_response(fd, &chunked);
	assert_true(chunked);
	assert_int_equal(status_of(r), 200);
	assert_null(strstr(r, "Content-Length"));
	assert_string_equal(body_of(r), body_of(whole));
	free(r);
	free(whole);
	/* A refusal and an error come in the stream, in the order they are written. */
	req = "POST /cmd?stream=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 21\r\n\r\np8 2; wx 41; ?e after";
	assert_int_equal(rap_send_all(fd, req, strlen(req)), 0);
	r = read_response(fd, &chunked);
	assert_string_equal(body_of(r), "4030\nerror: command 'wx' refused by the server's command policy (read)\nafter\n");
	free(r);
	/* Nothing at all: the last chunk alone. */
	req = "POST /cmd?stream=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 4\r\n\r\ns 16";
	assert_int_equal(rap_send_all(fd, req, strlen(req)), 0);
	size_t len;
	r = read_all(fd, &len);
	close(fd);
	assert_true(len > 5 && !strcmp(r + len - 5, "0\r\n\r\n"));
	assert_string_equal(body_of(r), "0\r\n\r\n");
	free(r);
	/* An HTTP/1.0 client knows no chunks (RFC 9112 6.1): its answer comes whole. */
	r = http(port, "POST /cmd?stream=1 HTTP/1.0\r\nContent-Length: 8\r\n\r\n?e hello");
	assert_int_equal(status_of(r), 200);
	assert_null(strstr(r, "Transfer-Encoding"));
	assert_string_equal(body_of(r), "hello\n");
	free(r);
	/* Streaming is for POST. */
	r = http(port, "GET /cmd?stream=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_int_equal(status_of(r), 405);
	free(r);
	/* The position the stream set stays for the next command. */
	r = http(port, "GET /cmd/s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_string_equal(body_of(r), "0x10\n");
	free(r);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends req on a new connection, waits ms, then closes it (a client giving up). */
static void give_up(int port, const char *req, int ms)
{
	int fd = connect_to("127.0.0.1", port);
	assert_int_equal(rap_send_all(fd, req, strlen(req)), 0);
	usleep((useconds_t)ms * 1000);
	close(fd);
}

/* A client that gives up cancels its command: the next one is answered at once, not after
 * a search over 64 GiB (minutes). */
static void test_http_cancel(void **state)
{
	struct fixture *fx = *state;
	char big[64] = "/tmp/rap-test-servers-big-XXXXXX";
	int bfd = mkstemp(big);
	assert_true(bfd >= 0);
	assert_int_equal(ftruncate(bfd, (off_t)64 << 30), 0);
	close(bfd);
	assert_true(rap_core_open(fx->c, big, RAP_PERM_R) >= 0);
	assert_int_equal(rap_core_config_set(fx->c, "search.in", "file"), 0);
	int port = start(fx->c, "=h& 0", "http");
	static const char *const gone[] = {
		/* the web console's stop: the stream's connection ends */
		"POST /cmd?stream=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 7\r\n\r\n/x 0102",
		/* curl --max-time: a kept connection ends before the answer */
		"GET /cmd/%2Fx%200102 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
	};
	for (size_t i = 0; i < 2; i++) {
		give_up(port, gone[i], 300);
		double t0 = now_s();
		char *r = http(port, "GET /cmd/p8%202%20@%200x20 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
		double took = now_s() - t0;
		assert_string_equal(body_of(r), "0000\n");
		free(r);
		if (took > 5)
			fail_msg("case %zu: the next command waited %.1f s", i, took);
	}
	/* One queued behind a running command runs once that one is cancelled. */
	int runner = connect_to("127.0.0.1", port);
	assert_int_equal(rap_send_all(runner, gone[0], strlen(gone[0])), 0);
	usleep(200 * 1000);
	int queued = connect_to("127.0.0.1", port);
	const char *q = "GET /cmd/?e%20queued HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	assert_int_equal(rap_send_all(queued, q, strlen(q)), 0);
	usleep(200 * 1000);
	close(runner);
	double t0 = now_s();
	char *r = read_all(queued, NULL);
	close(queued);
	assert_string_equal(body_of(r), "queued\n");
	free(r);
	assert_true(now_s() - t0 < 5);
	assert_int_equal(srv_cmd(fx->c, "=h-", NULL, NULL), 0);
	unlink(big);
}

/* Writes text to a new file of mode mode; returns its path (static). */
static const char *auth_file(const char *text, mode_t mode)
{
	static char path[64];
	strcpy(path, "/tmp/rap-test-auth-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* e http.auth: Basic credentials from a file of the user's, for every request. */
static void test_http_auth(void **state)
{
	struct fixture *fx = *state;
	/* Files that cannot hold credentials stop the server from starting, saying why. */
	static const struct {
		const char *text;
		mode_t mode;
		const char *why;
	} bad[] = {
		{ "alice:s3cr3t\n", 0644, "accessible by group or others (mode 0644): chmod 600 it" },
		{ "alice:s3cr3t\n", 0604, "accessible by group or others" },
		{ "no colon\n", 0600, "must hold one line user:password" },
		{ ":nouser\n", 0600, "must hold one line user:password" },
		{ "", 0600, "must hold one line user:password" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *path = auth_file(bad[i].text, bad[i].mode);
		assert_int_equal(rap_core_config_set(fx->c, "http.auth", path), 0);
		char *err = NULL;
		assert_true(srv_cmd(fx->c, "=h& 0", NULL, &err) < 0);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: %s", i, err);
		free(err);
		unlink(path);
	}
	assert_int_equal(rap_core_config_set(fx->c, "http.auth", "/nonexistent/auth"), 0);
	char *err = NULL;
	assert_true(srv_cmd(fx->c, "=h& 0", NULL, &err) < 0);
	assert_non_null(strstr(err, "http.auth file /nonexistent/auth"));
	free(err);
	assert_no_servers(fx->c);

	const char *path = auth_file("alice:s3cr3t\r\n", 0600);
	assert_int_equal(rap_core_config_set(fx->c, "http.auth", path), 0);
	int port = start(fx->c, "=h& 0", "http");
	unlink(path); /* read at the start */
	static const struct {
		const char *auth;
		int status;
	} cases[] = {
		{ "", 401 },
		{ "Authorization: Basic YWxpY2U6czNjcjN1\r\n", 401 }, /* alice:s3cr3u */
		{ "Authorization: Basic Ym9iOnMzY3IzdA==\r\n", 401 },  /* bob:s3cr3t */
		{ "Authorization: Basic YWxpY2U6czNjcjN0\r\n", 200 },  /* alice:s3cr3t */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int k = 0; k < 2; k++) {
			char req[256];
			snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", k ? "/" : "/cmd/p8%202",
				 cases[i].auth);
			char *r = http(port, req);
			if (status_of(r) != cases[i].status)
				fail_msg("%s: %d instead of %d", req, status_of(r), cases[i].status);
			if (cases[i].status == 401)
				assert_non_null(strstr(r, "\r\nWWW-Authenticate: Basic realm=\"rap\""));
			else if (!k)
				assert_string_equal(body_of(r), "4030\n");
			free(r);
		}
	}
	assert_int_equal(srv_cmd(fx->c, "=h-", NULL, NULL), 0);
}

/* e http.cert: read when the server starts, so a bad one stops it, saying why (and a build
 * without OpenSSL says it has no https). The https itself: it-eq_servers, with curl. */
static void test_http_cert_errors(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(rap_core_config_set(fx->c, "http.cert", "/nonexistent/cert.pem"), 0);
	char *err = NULL;
	assert_true(srv_cmd(fx->c, "=h& 0", NULL, &err) < 0);
#if RAP_TEST_HAVE_OPENSSL
	assert_non_null(strstr(err, "error: http.cert: "));
	assert_non_null(strstr(err, "/nonexistent/cert.pem"));
#else
	assert_non_null(strstr(err, "https (e http.cert) needs a build with OpenSSL"));
#endif
	free(err);
	/* Not a certificate at all. */
	assert_int_equal(rap_core_config_set(fx->c, "http.cert", fx->path), 0);
	assert_true(srv_cmd(fx->c, "=h& 0", NULL, &err) < 0);
	assert_non_null(strstr(err, "http"));
	free(err);
	assert_no_servers(fx->c);
	/* The TCP server has no https: the variable is the HTTP server's. */
	int port = start(fx->c, "=t& 0", "tcp");
	char *r = exchange("127.0.0.1", port, "?e plain\n", 9, false);
	assert_string_equal(r, "plain\n");
	free(r);
}

/* What a server bound beyond loopback answers (sans-IO: the routing alone): a Host that is
 * a name could be a rebound one, so only addresses pass unless credentials are asked. */
static void test_http_route_public(void **state)
{
	(void)state;
	struct rap__srv s;
	memset(&s, 0, sizeof(s));
	s.kind = RAP__SRV_HTTP;
	s.loopback = false;
	memset(s.token, 'a', RAP__HTTP_TOKEN_LEN);
	static const struct {
		const char *host;
		bool auth;
		int status;
	} cases[] = {
		{ "192.0.2.10:9090", false, 200 }, { "[2001:db8::1]:9090", false, 200 }, { "localhost:9090", false, 200 },
		{ "rebind.example:9090", false, 403 }, { "firmware-lab", false, 403 },
		{ "rebind.example:9090", true, 200 }, { "192.0.2.10", true, 200 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s.auth = cases[i].auth ? "u:p" : NULL;
		char req[256];
		snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n%s\r\n", cases[i].host,
			 cases[i].auth ? "Authorization: Basic dTpw\r\n" : "");
		struct rap__http_req r;
		assert_int_equal(rap__http_parse(req, strlen(req), &r), 0);
		struct rap__srv_http_action a;
		rap__srv_http_route(&s, "peer", &r, "", 0, &a);
		rap__http_req_clear(&r);
		assert_non_null(a.resp);
		int st = status_of(a.resp);
		if (st != cases[i].status)
			fail_msg("case %zu (%s): %d", i, cases[i].host, st);
		if (st == 403)
			assert_non_null(strstr(a.resp, "Host is a name"));
		rap__free(a.resp);
		rap__free(a.cmd);
	}
}

/* The console's own page on a server beyond loopback: its fetch carries the server's own
 * origin (the Host it was loaded from), which is not another host, so its commands run;
 * another origin's are still refused. */
static void test_http_route_public_console(void **state)
{
	(void)state;
	struct rap__srv s;
	memset(&s, 0, sizeof(s));
	s.kind = RAP__SRV_HTTP;
	s.loopback = false;
	memset(s.token, 'a', RAP__HTTP_TOKEN_LEN);
	static const struct {
		const char *host, *origin;
		bool auth;
		int status; /* 0: the command runs */
	} cases[] = {
		{ "192.0.2.10:9090", "http://192.0.2.10:9090", false, 0 },
		{ "[2001:db8::1]:9090", "http://[2001:db8::1]:9090", false, 0 },
		{ "lab.example:8443", "https://lab.example:8443", true, 0 },
		{ "LAB.example", "https://lab.EXAMPLE", true, 0 },
		/* Another origin, or one that only looks like this one's. */
		{ "192.0.2.10:9090", "http://192.0.2.10:9091", false, 403 },
		{ "192.0.2.10:9090", "http://192.0.2.10", false, 403 },
		{ "192.0.2.10:9090", "192.0.2.10:9090", false, 403 },
		{ "lab.example:8443", "https://evil.example:8443", true, 403 },
		{ "lab.example:8443", "https://lab.example:8443.evil.example", true, 403 },
		{ "null", "null", true, 403 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s.auth = cases[i].auth ? "u:p" : NULL;
		char req[512];
		snprintf(req, sizeof(req),
			 "POST /cmd HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nSec-Fetch-Site: same-origin\r\n"
			 "User-Agent: Mozilla/5.0\r\nX-Rap-Token: %.64s\r\n%sContent-Length: 2\r\n\r\npx",
			 cases[i].host, cases[i].origin, s.token, cases[i].auth ? "Authorization: Basic dTpw\r\n" : "");
		struct rap__http_req r;
		assert_int_equal(rap__http_parse(req, strlen(req), &r), 0);
		struct rap__srv_http_action a;
		rap__srv_http_route(&s, "peer", &r, req + r.head_len, 2, &a);
		rap__http_req_clear(&r);
		int st = a.resp ? status_of(a.resp) : 0;
		if (st != cases[i].status)
			fail_msg("case %zu (%s from %s): %d %s", i, cases[i].host, cases[i].origin, st, a.resp ? a.resp : "");
		if (st == 0)
			assert_string_equal(a.cmd, "px");
		rap__free(a.resp);
		rap__free(a.cmd);
	}
}

/* A foreground server's log shows a command's start as text: a control character (a
 * newline that would forge a log line, an escape sequence for the terminal) is a dot. */
static void test_http_log_is_text(void **state)
{
	(void)state;
	struct rap__srv s;
	memset(&s, 0, sizeof(s));
	s.kind = RAP__SRV_HTTP;
	s.loopback = true;
	char *log = NULL;
	size_t log_len = 0;
	s.log = open_memstream(&log, &log_len);
	assert_non_null(s.log);
	static const char *const reqs[] = {
		/* one literal: the break only ends the \x7f escape */
		("POST /cmd HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 20\r\n\r\n?e a\n\x1b[2J\r\x7f"
		 "127.0.0.1"),
		"POST /cmd?stream=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n?e b\n\x1b]0;x",
		"GET /cmd/%3Fe%20c%0A%1B%5B2J HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct rap__http_req r;
		assert_int_equal(rap__http_parse(reqs[i], strlen(reqs[i]), &r), 0);
		struct rap__srv_http_action a;
		rap__srv_http_route(&s, "peer", &r, reqs[i] + r.head_len, r.length, &a);
		rap__http_req_clear(&r);
		assert_null(a.resp);
		assert_non_null(a.cmd);
		if (!a.stream) {
			size_t len = 0;
			char *resp = rap__srv_http_cmd_answer(&s, "peer", &a, "", 0, false, &len);
			assert_non_null(resp);
			rap__free(resp);
		}
		rap__free(a.cmd);
	}
	fclose(s.log);
	assert_string_equal(log, "http: peer POST ?e a..[2J..127.0.0.1 200\n"
				 "http: peer POST /cmd?stream=1 ?e b..]0;x\n"
				 "http: peer GET ?e c..[2J 200\n");
	free(log);
}

/* Every server's log line is text, the TCP server's commands too (servers_conn.c logs
 * them as they start); long lines are cut. */
static void test_log_is_text(void **state)
{
	(void)state;
	struct rap__srv s;
	memset(&s, 0, sizeof(s));
	s.kind = RAP__SRV_TCP;
	char *log = NULL;
	size_t log_len = 0;
	s.log = open_memstream(&log, &log_len);
	assert_non_null(s.log);
	rap__srv_logf(&s, "%s %.60s", "peer", "?e a\n\x1b[2J\r\x7f?e b");
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rap__srv_logf(&s, "%s", big);
	fclose(s.log);
	char want[64 + 1024];
	snprintf(want, sizeof(want), "tcp: peer ?e a..[2J..?e b\ntcp: %.1023s\n", big);
	assert_string_equal(log, want);
	free(log);
}

/* ---- output caps ------------------------------------------------------------------------ */

static const char *tail_of(const char *s, size_t n)
{
	size_t len = strlen(s);
	return len > n ? s + len - n : s;
}

/* A command line that asks for gigabytes of output stops at the server's cap: 16 MiB for
 * TCP and HTTP, 64 MiB (a client's default largest reply) for RAP. */
static void test_output_caps(void **state)
{
	struct fixture *fx = *state;
	/* Tens of MiB of hexdump: minutes under valgrind, whose run adds nothing to what
	 * this measures (time, memory; the sanitizer builds run it). Not skip(): cmocka 1.1.5
	 * reports it as "not ok", which meson counts as a failure. */
	if (getenv("RAP_TEST_VALGRIND")) {
		print_message("# not run under valgrind\n");
		return;
	}
	char line[6000] = "";
	for (int i = 0; i < 300; i++)
		strcat(line, "px%200x1000000;");
	int hport = start(fx->c, "=h& 0", "http");
	char req[8192];
	snprintf(req, sizeof(req), "GET /cmd/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", line);
	char *r = http(hport, req);
	assert_int_equal(status_of(r), 200);
	static const char msg16[] = "error: output exceeds 16777216 bytes; command stopped\n";
	assert_string_equal(tail_of(body_of(r), sizeof(msg16) - 1), msg16);
	assert_true(strlen(body_of(r)) < (16u << 20));
	free(r);
	/* The server goes on. */
	r = http(hport, "GET /cmd/p8%202 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	assert_string_equal(body_of(r), "4030\n");
	free(r);

	int tport = start(fx->c, "=t& 0", "tcp");
	for (char *p = line; (p = strstr(p, "%20")) != NULL;)
		memmove(p + 1, p + 3, strlen(p + 3) + 1), *p = ' ';
	strcat(line, "\n");
	r = exchange("127.0.0.1", tport, line, strlen(line), false);
	assert_string_equal(tail_of(r, sizeof(msg16) - 1), msg16);
	assert_true(strlen(r) < (16u << 20));
	free(r);

	int rport = start(fx->c, "=&:0", "rap");
	struct rap_client *a = rap_connect(rport);
	/* An extended client takes replies up to 64 MiB (stock ones get theirs cut). */
	assert_int_equal(rap_client_probe(a), 1);
	char *out = NULL;
	size_t outlen = 0;
	line[strlen(line) - 1] = '\0';
	assert_int_equal(rap_client_cmd(a, line, &out, &outlen), 0);
	/* The bound is what a reply of 64 MiB carries: the text, its NUL and the status. */
	static const char msg64[] = "error: output exceeds 67108859 bytes; command stopped\n";
	assert_string_equal(tail_of(out, sizeof(msg64) - 1), msg64);
	assert_true(outlen < (64u << 20));
	free(out);
	assert_int_equal(rap_client_cmd(a, "p8 2", &out, NULL), 0);
	assert_string_equal(out, "4030\n");
	free(out);
	rap_client_free(a);
	/* The user's own prompt is not capped. */
	out = cmd(fx->c, "px 0x20000");
	assert_true(strlen(out) > 0x20000 * 4);
	free(out);
}

/* ---- what a client may close (o-, o--, CLOSE) -------------------------------------------- */

static void test_clients_close_only_their_files(void **state)
{
	struct fixture *fx = *state;
	struct rap_io *io = rap_core_io(fx->c);
	assert_int_equal(rap_core_config_set(fx->c, "srv.cmd", "write"), 0);
	int port = start(fx->c, "=&:0", "rap");
	size_t files_before = open_files(fx->c);
	struct rap_client *a = rap_connect(port), *b = rap_connect(port);
	int bfd = rap_client_open(b, "malloc://64", RAP_PERM_R);
	assert_true(bfd >= 0);

	char line[64], *out = NULL;
	/* Neither the user's file nor another client's, by number or with o--. */
	snprintf(line, sizeof(line), "o-%d", fx->fd);
	assert_int_equal(rap_client_cmd(a, line, &out, NULL), 0);
	assert_non_null(strstr(out, "only files this session opened"));
	free(out);
	snprintf(line, sizeof(line), "o- %d", bfd);
	assert_int_equal(rap_client_cmd(a, line, &out, NULL), 0);
	assert_non_null(strstr(out, "only files this session opened"));
	free(out);
	assert_int_equal(rap_client_cmd(a, "o--; o-*", &out, NULL), 0);
	free(out);
	assert_true(rap_io_fd_perm(io, fx->fd) >= 0);
	assert_true(rap_io_fd_perm(io, bfd) >= 0);
	assert_int_equal(rap_client_close_fd(a, bfd), RAP_EREMOTE);
	assert_true(rap_io_fd_perm(io, bfd) >= 0);

	/* Its own files it closes: by o-, by CLOSE (also those "o" opened), with o--. */
	assert_int_equal(rap_client_cmd(a, "o malloc://8; o malloc://8; o malloc://8; o malloc://8", &out, NULL), 0);
	free(out);
	assert_int_equal(open_files(fx->c), files_before + 5);
	int mine[4], n = 0;
	int fds[64];
	size_t nf = rap_io_fds(io, fds, 64);
	for (size_t i = 0; i < nf; i++)
		if (fds[i] != fx->fd && fds[i] != bfd)
			mine[n++] = fds[i];
	assert_int_equal(n, 4);
	snprintf(line, sizeof(line), "o-%d", mine[0]);
	assert_int_equal(rap_client_cmd(a, line, &out, NULL), 0);
	assert_null(strstr(out, "error"));
	free(out);
	assert_true(rap_io_fd_perm(io, mine[0]) < 0);
	assert_int_equal(rap_client_close_fd(a, mine[1]), 0);
	assert_true(rap_io_fd_perm(io, mine[1]) < 0);
	assert_int_equal(rap_client_cmd(a, "o--", &out, NULL), 0);
	free(out);
	assert_true(rap_io_fd_perm(io, mine[2]) < 0 && rap_io_fd_perm(io, mine[3]) < 0);
	assert_int_equal(open_files(fx->c), files_before + 1);
	/* What "o" opened goes when the client goes, like what OPEN opened. */
	assert_int_equal(rap_client_cmd(a, "o malloc://8", &out, NULL), 0);
	free(out);
	assert_int_equal(open_files(fx->c), files_before + 2);
	rap_client_free(a);
	WAIT_FOR(open_files(fx->c) == files_before + 1);
	rap_client_free(b);
	WAIT_FOR(open_files(fx->c) == files_before);

	/* The TCP server's core the same. */
	int tport = start(fx->c, "=&t 0", "tcp");
	char *r = exchange("127.0.0.1", tport, "o--\n", 4, false);
	assert_string_equal(r, "\n");
	free(r);
	snprintf(line, sizeof(line), "o-%d\n", fx->fd);
	r = exchange("127.0.0.1", tport, line, strlen(line), false);
	assert_non_null(strstr(r, "only files this session opened"));
	free(r);
	assert_true(rap_io_fd_perm(io, fx->fd) >= 0);
	r = exchange("127.0.0.1", tport, "o malloc://8\n", 13, false);
	free(r);
	assert_int_equal(open_files(fx->c), files_before + 1);
	r = exchange("127.0.0.1", tport, "o--\n", 4, false);
	free(r);
	assert_int_equal(open_files(fx->c), files_before);
	assert_true(rap_io_fd_perm(io, fx->fd) >= 0);
	/* The user's own prompt still closes anything. */
	r = exchange("127.0.0.1", tport, "o malloc://8\n", 13, false);
	free(r);
	assert_int_equal(open_files(fx->c), files_before + 1);
	free(cmd(fx->c, "o--"));
	assert_int_equal(open_files(fx->c), 0);
}

/* Below "write" an OPEN of the user's file opens the user's URI, not the client's path, so
 * that swapping a symlink between the check and the open gets nothing else. */
static void test_rap_open_uses_user_uri(void **state)
{
	struct fixture *fx = *state;
	struct rap_io *io = rap_core_io(fx->c);
	int port = start(fx->c, "=&:0", "rap");
	char link[64];
	strcpy(link, "/tmp/rap-test-servers-link-XXXXXX");
	int tfd = mkstemp(link);
	assert_true(tfd >= 0);
	close(tfd);
	unlink(link);
	assert_int_equal(symlink(fx->path, link), 0);
	char alias[96];
	snprintf(alias, sizeof(alias), "/tmp/./%s", strrchr(fx->path, '/') + 1);
	const char *names[] = { alias, link, fx->path };
	struct rap_client *a = rap_connect(port);
	for (size_t i = 0; i < 3; i++) {
		int fd = rap_client_open(a, names[i], RAP_PERM_R);
		assert_true(fd >= 0);
		assert_string_equal(rap_io_fd_uri(io, fd), fx->path);
		uint8_t buf[16];
		assert_int_equal(rap_client_read_at(a, 0x30, buf, sizeof(buf)), (ssize_t)sizeof(buf));
		assert_memory_equal(buf, sample + 0x30, sizeof(buf));
		assert_int_equal(rap_client_close_fd(a, fd), 0);
	}
	/* The link now points elsewhere: no longer the user's file, so refused. */
	unlink(link);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	assert_int_equal(rap_client_open(a, link, RAP_PERM_R), RAP_EREMOTE);
	rap_client_free(a);
	unlink(link);
}

/* The user may open a rap:// file served by their own background server; its clients
 * make no outgoing connections, not even to a URI the user has open, so no client can
 * make the servers' thread wait on itself. */
static void test_served_clients_open_no_network_files(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(rap_core_cmd(fx->c, "e srv.cmd=write"), 0);
	int port = start(fx->c, "=&:0", "rap");
	char uri[4200];
	snprintf(uri, sizeof(uri), "rap://127.0.0.1:%d/%s", port, fx->path);
	int self = rap_core_open(fx->c, uri, RAP_PERM_R);
	assert_true(self >= 0);
	char *out = cmd(fx->c, "s 0x30; p8 4");
	assert_string_equal(out, "40303030\n");
	free(out);

	struct rap_client *a = rap_connect(port);
	assert_int_equal(rap_client_open(a, uri, RAP_PERM_R), RAP_EREMOTE);
	char line[4300];
	snprintf(line, sizeof(line), "o %s", uri);
	assert_int_equal(rap_client_cmd(a, line, &out, NULL), 0);
	assert_non_null(strstr(out, "cannot open"));
	free(out);
	/* Still serving, the user's side too. */
	assert_true(rap_client_open(a, fx->path, RAP_PERM_R) >= 0);
	uint8_t buf[4];
	assert_int_equal(rap_client_read_at(a, 0x30, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, sample + 0x30, 4);
	out = cmd(fx->c, "p8 4 @ 0x40");
	assert_string_equal(out, "40303030\n");
	free(out);
	rap_client_free(a);
	assert_int_equal(rap_io_close(rap_core_io(fx->c), self), 0);
}

/* ---- foreground ------------------------------------------------------------------------ */

struct fg {
	struct rap_core *c;
	const char *text;
	int pipefd[2];
	int rc;
	bool sigint_blocked_after;
};

static void *fg_main(void *arg)
{
	struct fg *f = arg;
	FILE *w = fdopen(f->pipefd[1], "w");
	FILE *so = f->c->out, *se = f->c->err;
	char *ebuf = NULL;
	size_t elen;
	FILE *ef = open_memstream(&ebuf, &elen);
	f->c->out = w;
	f->c->err = ef;
	char *copy = strdup(f->text);
	f->rc = rap__core_cmd_server(f->c, copy);
	free(copy);
	sigset_t cur;
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	f->sigint_blocked_after = sigismember(&cur, SIGINT);
	f->c->out = so;
	f->c->err = se;
	fclose(w);
	fclose(ef);
	free(ebuf);
	return NULL;
}

static void run_foreground(struct fixture *fx, const char *text, const char *scheme, const char *req,
			   const char *want)
{
	struct fg f = { .c = fx->c, .text = text };
	assert_int_equal(pipe(f.pipefd), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fg_main, &f), 0);
	FILE *rd = fdopen(f.pipefd[0], "r");
	char line[256];
	/* The first line comes once the server runs (its SIGINT is blocked by then). */
	assert_non_null(fgets(line, sizeof(line), rd));
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "listening on %s://127.0.0.1:", scheme);
	assert_memory_equal(line, prefix, strlen(prefix));
	int port = atoi(line + strlen(prefix));
	char *r = exchange("127.0.0.1", port, req, strlen(req), false);
	if (!strstr(r, want))
		fail_msg("'%s' not in '%s'", want, r);
	free(r);
	assert_int_equal(pthread_kill(t, SIGINT), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	fclose(rd);
	assert_int_equal(f.rc, 0);
	/* Stopped: nothing listens any more. */
	char p[16];
	snprintf(p, sizeof(p), "%d", port);
	int fd;
	assert_int_equal(rap_tcp_connect("127.0.0.1", p, 1000, &fd), -ECONNREFUSED);
	/* The server's thread has its signal mask back. */
	assert_false(f.sigint_blocked_after);
}

static void test_foreground_sigint(void **state)
{
	struct fixture *fx = *state;
	run_foreground(fx, "=t 0", "tcp", "p8 2\n", "4030\n");
	run_foreground(fx, ".:0", "tcp", "?e dot\n", "dot\n");
	run_foreground(fx, "=h 0", "http", "GET /cmd/p8%201 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", "\r\n\r\n40\n");
	static const uint8_t cmd_pkt[] = { 0x07, 0, 0, 0, 5, 'p', '8', ' ', '3', 0 };
	/* The RAP reply: 87, length 8 with the NUL, "403030\n" and the NUL (the literal's). */
	static const char reply[] = "\x87\x00\x00\x00\x08" "403030\n";
	int before = (int)open_files(fx->c);
	/* A raw stock-client CMD; the server closes nothing, so stop reading after the reply. */
	struct fg g = { .c = fx->c, .text = "=r 0" };
	assert_int_equal(pipe(g.pipefd), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fg_main, &g), 0);
	FILE *rd = fdopen(g.pipefd[0], "r");
	char line[256];
	assert_non_null(fgets(line, sizeof(line), rd));
	int port = atoi(strrchr(line, ':') + 1);
	int fd = connect_to("::1", port);
	assert_int_equal(rap_send_all(fd, cmd_pkt, sizeof(cmd_pkt)), 0);
	char got[sizeof(reply)];
	size_t n = 0;
	while (n < sizeof(got)) {
		ssize_t k = recv(fd, got + n, sizeof(got) - n, 0);
		assert_true(k > 0);
		n += (size_t)k;
	}
	assert_memory_equal(got, reply, sizeof(got));
	assert_int_equal(pthread_kill(t, SIGINT), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* The session was closed by the stop. */
	char rest[8];
	assert_int_equal(recv(fd, rest, sizeof(rest), 0), 0);
	close(fd);
	fclose(rd);
	assert_int_equal(g.rc, 0);
	assert_int_equal((int)open_files(fx->c), before);
}

/* rap.loop=false: a foreground RAP server stops by itself after its first client. */
static void test_foreground_rap_once(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(rap_core_config_set(fx->c, "rap.loop", "false"), 0);
	struct fg g = { .c = fx->c, .text = "=:0" };
	assert_int_equal(pipe(g.pipefd), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fg_main, &g), 0);
	FILE *rd = fdopen(g.pipefd[0], "r");
	char line[256];
	assert_non_null(fgets(line, sizeof(line), rd));
	int port = atoi(strrchr(line, ':') + 1);
	struct rap_client *a = rap_connect(port);
	char *out = NULL;
	assert_int_equal(rap_client_cmd(a, "p8 1", &out, NULL), 0);
	assert_string_equal(out, "40\n");
	free(out);
	rap_client_free(a);
	assert_int_equal(pthread_join(t, NULL), 0);
	fclose(rd);
	assert_int_equal(g.rc, 0);
}

/* ---- threads --------------------------------------------------------------------------- */

struct hammer {
	const char *path;
	int port;
	int rounds;
	int ok;
};

static void *rap_hammer(void *arg)
{
	struct hammer *h = arg;
	struct rap_client *cl;
	char p[16];
	snprintf(p, sizeof(p), "%d", h->port);
	if (rap_client_new(&cl) < 0 || rap_client_connect(cl, "127.0.0.1", p) < 0)
		return NULL;
	for (int i = 0; i < h->rounds; i++) {
		uint64_t off = (uint64_t)((i * 48) % (SAMPLE_SIZE - 32)) & ~(uint64_t)15;
		uint8_t buf[32];
		if (rap_client_read_at(cl, off, buf, sizeof(buf)) == (ssize_t)sizeof(buf) &&
		    memcmp(buf, sample + off, sizeof(buf)) == 0)
			h->ok++;
	}
	rap_client_free(cl);
	return NULL;
}

/* Clients that open a file and leave: the server closes their files while the user's
 * thread may be listing them. */
static void *rap_opener(void *arg)
{
	struct hammer *h = arg;
	char p[16];
	snprintf(p, sizeof(p), "%d", h->port);
	for (int i = 0; i < h->rounds; i++) {
		struct rap_client *cl;
		if (rap_client_new(&cl) < 0)
			return NULL;
		if (rap_client_connect(cl, "127.0.0.1", p) == 0 && rap_client_open(cl, h->path, RAP_PERM_R) >= 0)
			h->ok++;
		rap_client_free(cl);
	}
	return NULL;
}

/* Several clients read while the user's thread seeks, opens, closes and lists files on
 * the same IO instance: every byte stays right and the user's position stays the user's. */
static void test_concurrent_clients_and_prompt(void **state)
{
	struct fixture *fx = *state;
	int port = start(fx->c, "=&:0", "rap");
	int hport = start(fx->c, "=h& 0", "http");
	enum { N = 5 };
	struct hammer h[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		h[i] = (struct hammer){ .path = fx->path, .port = port, .rounds = i ? 200 : 50 };
		assert_int_equal(pthread_create(&t[i], NULL, i ? rap_hammer : rap_opener, &h[i]), 0);
	}
	for (int i = 0; i < 100; i++) {
		char line[128];
		int fd = rap_core_open(fx->c, "malloc://64", RAP_PERM_RW);
		assert_true(fd >= 0);
		assert_int_equal(rap_io_close(rap_core_io(fx->c), fd), 0);
		rap__core_forget_fd(fx->c, fd);
		fx->c->fd = fx->fd;
		snprintf(line, sizeof(line), "s 0x%x; p8 1", i * 16);
		char *out = cmd(fx->c, line);
		assert_string_equal(out, "40\n");
		free(out);
		out = cmd(fx->c, "o");
		assert_non_null(strstr(out, fx->path));
		free(out);
		if (i % 20 == 0) {
			char *r = http(hport, "GET /cmd/p8%201 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
			assert_string_equal(body_of(r), "40\n");
			free(r);
		}
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(h[i].ok, h[i].rounds);
	}
	char *out = cmd(fx->c, "s");
	assert_string_equal(out, "0x630\n");
	free(out);
	WAIT_FOR(open_files(fx->c) == 1);
}

struct io_worker {
	struct rap_io *io;
	int fd;
	int errors;
};

static void *io_worker_main(void *arg)
{
	struct io_worker *w = arg;
	for (int i = 0; i < 2000; i++) {
		uint8_t buf[16];
		if (rap_io_read_at(w->io, w->fd, (uint64_t)(i % 256) * 16, buf, 16) != 16 ||
		    memcmp(buf, sample + (i % 256) * 16, 16) != 0)
			w->errors++;
		int fd = rap_io_open(w->io, "malloc://32", RAP_PERM_RW);
		if (fd < 0 || rap_io_write_at(w->io, fd, 0, "x", 1) != 1 || rap_io_close(w->io, fd) != 0)
			w->errors++;
		uint64_t size;
		if (rap_io_size(w->io, w->fd, &size) != 0 || size != SAMPLE_SIZE)
			w->errors++;
	}
	return NULL;
}

/* librap-io's lock: opens, closes and reads from several threads on one instance. */
static void test_io_shared_between_threads(void **state)
{
	struct fixture *fx = *state;
	enum { N = 4 };
	struct io_worker w[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		w[i] = (struct io_worker){ .io = rap_core_io(fx->c), .fd = fx->fd };
		assert_int_equal(pthread_create(&t[i], NULL, io_worker_main, &w[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].errors, 0);
	}
	assert_int_equal(open_files(fx->c), 1);
}

/* Freeing a core stops its background servers and their thread, with clients still
 * connected. */
static void test_free_with_running_servers(void **state)
{
	struct fixture *fx = *state;
	int port = start(fx->c, "=&:0", "rap");
	(void)start(fx->c, "=h& 0", "http");
	(void)start(fx->c, "=t& 0", "tcp");
	struct rap_client *a = rap_connect(port);
	int stalled = connect_to("127.0.0.1", port);
	char *out = NULL;
	assert_int_equal(rap_client_cmd(a, "p8 1", &out, NULL), 0);
	free(out);
	rap_core_free(fx->c);
	fx->c = NULL;
	out = NULL;
	assert_true(rap_client_cmd(a, "p8 1", &out, NULL) < 0);
	free(out);
	rap_client_free(a);
	close(stalled);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		T(test_help_never_starts),
		T(test_bad_arguments),
		T(test_port_in_use),
		T(test_rap_background_sessions),
		T(test_rap_write_policy),
		T(test_rap_policy_none),
		T(test_tcp_server),
		T(test_tcp_stalled_client),
		T(test_http_server),
		T(test_http_errors),
		T(test_http_write_policy_and_shell),
		T(test_http_refuses_browsers),
		T(test_http_keep_alive),
		T(test_http_stream),
		T(test_http_cancel),
		T(test_http_auth),
		T(test_http_route_public),
		T(test_http_route_public_console),
		T(test_http_log_is_text),
		T(test_log_is_text),
		T(test_http_cert_errors),
		T(test_output_caps),
		T(test_clients_close_only_their_files),
		T(test_rap_open_uses_user_uri),
		T(test_served_clients_open_no_network_files),
		T(test_foreground_sigint),
		T(test_foreground_rap_once),
		T(test_concurrent_clients_and_prompt),
		T(test_io_shared_between_threads),
		T(test_free_with_running_servers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
