/* Servers started from the prompt: "=:PORT" (RAP), ".:PORT"/"=t PORT" (one command line
 * per connection) and "=h PORT" (HTTP), in the foreground or in the background.
 *
 * Threading. A foreground server runs a rap_loop in the calling thread until SIGINT (read
 * from a signalfd, the previous signal mask restored afterwards). Background servers of a
 * core all run on one more thread with its own rap_loop, started with the first of them
 * and joined when the last stops or the core is freed. The user's thread talks to it only
 * through a request queue (mutex, condition variable, eventfd) and waits for each request
 * to be carried out, so a start reports its real errors and a stop is complete when the
 * command returns. Nothing else is shared between the two threads except the core's
 * rap_io, which has its own lock: every server works on cores made with
 * rap__core_new_shared, which see the user's open files but keep their own current file,
 * position and block size, so no client ever moves the user's position.
 *
 * Policy. Commands from any of these servers run under "e srv.cmd" and "e srv.shell", read
 * when the server starts. Below "write" the RAP server lets a client OPEN only files the
 * user has open, read-only (opening the user's URI, not the client's path), and refuses
 * WRITE; at any level a client may CLOSE (or "o-", "o--") only what it opened, and those
 * files close when it goes, and opens no rap:// or raps:// file (rap_core_open). Opens also pass the IO instance's own policy (root, schemes,
 * write access), which the user's files share. A client's command line stops once its
 * output passes 64 MiB (RAP) or 16 MiB (TCP, HTTP). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/listener.h>
#include <rap/loop.h>
#include <rap/server.h>

#include "common.h"
#include "core_private.h"
#include "http.h"

#define MAX_LISTENERS 2          /* 127.0.0.1 and ::1 */
#define BIND_RETRIES 16          /* port 0 on two addresses: the second may be taken */

#define LINE_MAX_BYTES (64u << 10)   /* one TCP command line */
#define READ_CHUNK 16384
#define MAX_CONNS 64                 /* per TCP/HTTP server, at once */
#define REQUEST_TIMEOUT_MS 10000     /* from accept to a complete request */
#define WRITE_TIMEOUT_MS 30000       /* without any progress while answering */
#define LINGER_MS 2000               /* reading what the peer still sends after the answer */
#define LINGER_MAX (1u << 20)

#define RAP_MAX_SESSIONS 256
/* Output caps of a client's command line: a RAP client's default largest reply, and for
 * the one-request TCP/HTTP answers the largest print length. */
#define RAP_OUTPUT_MAX ((size_t)64 << 20)
#define TEXT_OUTPUT_MAX ((size_t)16 << 20)

enum srv_kind { KIND_RAP, KIND_TCP, KIND_HTTP };

static const char *const kind_name[] = { "rap", "tcp", "http" };

/* One TCP or HTTP connection. */
enum conn_state { ST_READ, ST_WRITE, ST_LINGER };

struct conn {
	struct srv *srv;
	int fd;
	char peer[64];
	enum conn_state state;
	bool http;
	bool continue_sent;
	struct rap__buf in;
	char *out;
	size_t out_len, out_off;
	size_t lingered;
	struct rap_loop_timer *timer;
	struct conn *prev, *next;
};

/* One RAP client. Its core tracks the files it opened (rap__core_owns). */
struct rap_sess {
	struct srv *srv;
	struct rap_core *core;
};

struct srv {
	enum srv_kind kind;
	bool background;
	bool browser;
	int port;
	char addrs[160];  /* "127.0.0.1:4000, [::1]:4000" */
	char url[96];     /* what the "listening on" line shows first */
	bool loopback;    /* every listener is a loopback address */
	enum rap_core_policy policy;
	bool shell;
	bool once;        /* foreground rap server with rap.loop=false */

	/* Made by the user's thread, then used only by the loop's thread. */
	int listen_fds[MAX_LISTENERS]; /* -1 once handed to rap_server or the listener */
	size_t nlisteners;
	struct rap_core *tmpl; /* rap: what each client's core is made from; tcp/http: the core */
	FILE *log;             /* foreground: one line per event; NULL in the background */

	struct rap_loop *loop;
	struct rap_server *rap;
	struct rap_listener *listener; /* tcp/http: accepts the connections */
	struct conn *conns;
	size_t nconns;
	bool stop_requested;   /* foreground: leave the loop */

	struct srv *next;
};

enum req_op { REQ_ADD, REQ_STOP, REQ_EXIT };

struct request {
	enum req_op op;
	struct srv *srv;
	int result;
	bool done;
	struct request *next;
};

struct rap__servers {
	struct srv *list; /* background servers, newest first; the user's thread only */
	bool thread_running;
	pthread_t thread;
	struct rap_loop *loop;
	int wake_fd;
	pthread_mutex_t lock; /* queue and done flags */
	pthread_cond_t cond;
	struct request *queue;
	bool failed; /* the loop thread is gone: requests are refused (under lock) */
	bool exit;   /* loop thread only */
};

/* ---- small helpers -------------------------------------------------------------------- */

/* Decimal 0..65535 and nothing else. */
static int parse_port(const char *s)
{
	if (!*s || strlen(s) > 5)
		return -1;
	long v = 0;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v <= 65535 ? (int)v : -1;
}

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static void srv_logf(struct srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void srv_logf(struct srv *s, const char *fmt, ...)
{
	if (!s->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(s->log, "%s: ", kind_name[s->kind]);
	vfprintf(s->log, fmt, ap);
	fputc('\n', s->log);
	fflush(s->log);
	va_end(ap);
}

/* ---- listening -------------------------------------------------------------------------- */

static void close_listeners(struct srv *s)
{
	for (size_t i = 0; i < s->nlisteners; i++) {
		if (s->listen_fds[i] >= 0)
			close(s->listen_fds[i]);
		s->listen_fds[i] = -1;
	}
	s->nlisteners = 0;
}

/* IPv6 missing from the machine (no ::1, or no IPv6 at all) is not an error for a
 * loopback server: it serves IPv4 alone then. */
static bool ipv6_unavailable(int rc)
{
	return rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT || rc == RAP_ERESOLVE;
}

/* Binds the addresses bind names on port: "localhost" (and "local", "loopback", "")
 * means 127.0.0.1 and ::1 on one port, "public" (and "*", "any") every interface of both
 * families, anything else one address or host name. */
static int srv_listen(struct srv *s, const char *bind, int port, char *err, size_t errcap)
{
	const char *hosts[MAX_LISTENERS] = { bind, NULL };
	size_t nhosts = 1;
	bool v6_optional = false;
	if (!*bind || !strcmp(bind, "localhost") || !strcmp(bind, "local") || !strcmp(bind, "loopback")) {
		hosts[0] = "127.0.0.1";
		hosts[1] = "::1";
		nhosts = 2;
		v6_optional = true;
	} else if (!strcmp(bind, "public") || !strcmp(bind, "*") || !strcmp(bind, "any")) {
		hosts[0] = "::"; /* rap_tcp_listen makes "::" serve IPv4 too */
	}
	int rc = 0;
	for (int attempt = 0; attempt < BIND_RETRIES; attempt++) {
		char portstr[16];
		snprintf(portstr, sizeof(portstr), "%d", port);
		rc = 0;
		for (size_t i = 0; i < nhosts && rc == 0; i++) {
			int fd;
			rc = rap_tcp_listen(hosts[i], portstr, 0, &fd);
			if (rc < 0 && i > 0 && v6_optional && ipv6_unavailable(rc)) {
				rc = 0;
				break;
			}
			if (rc < 0 && i == 0 && !strcmp(hosts[0], "::") && ipv6_unavailable(rc)) {
				hosts[0] = "0.0.0.0";
				rc = rap_tcp_listen(hosts[0], portstr, 0, &fd);
			}
			if (rc < 0) {
				snprintf(err, errcap, "cannot listen on %s%s%s:%s: %s", strchr(hosts[i], ':') ? "[" : "",
					 hosts[i], strchr(hosts[i], ':') ? "]" : "", portstr, rap_strerror(rc));
				break;
			}
			s->listen_fds[s->nlisteners++] = fd;
			if (i == 0) {
				int p = rap_tcp_local_port(fd);
				if (p < 0) {
					rc = p;
					snprintf(err, errcap, "cannot read the port: %s", rap_strerror(rc));
					break;
				}
				snprintf(portstr, sizeof(portstr), "%d", p);
			}
		}
		if (rc == 0)
			break;
		close_listeners(s);
		/* Only a system-chosen port that the second address already uses is worth
		 * another try (with another port). */
		if (!(port == 0 && rc == -EADDRINUSE))
			return rc;
	}
	if (rc < 0)
		return rc;
	s->addrs[0] = '\0';
	s->loopback = true;
	for (size_t i = 0; i < s->nlisteners; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char a[80];
		if (getsockname(s->listen_fds[i], (struct sockaddr *)&ss, &sl) < 0) {
			rc = -errno;
			snprintf(err, errcap, "cannot read the address: %s", rap_strerror(rc));
			close_listeners(s);
			return rc;
		}
		rap_format_sockaddr(&ss, a, sizeof(a));
		s->loopback = s->loopback && addr_is_loopback(&ss);
		size_t used = strlen(s->addrs);
		snprintf(s->addrs + used, sizeof(s->addrs) - used, "%s%s", i ? ", " : "", a);
		if (i == 0) {
			s->port = rap_tcp_local_port(s->listen_fds[i]);
			snprintf(s->url, sizeof(s->url), "%s://%s%s", kind_name[s->kind], a, s->kind == KIND_HTTP ? "/" : "");
		}
	}
	return 0;
}

/* ---- RAP sessions ------------------------------------------------------------------------ */

/* A local file's real path, for plain paths and file:// URIs; false for other schemes. */
static bool local_realpath(const char *uri, char *out)
{
	if (!strncmp(uri, "file://", 7))
		uri += 7;
	else if (strstr(uri, "://"))
		return false;
	return realpath(uri, out) != NULL;
}

/* Below "write" a client opens only what the user has open ("serve the open files"),
 * by the same URI or, for local files, the same real path; opening anything else is
 * what "o URI" does, a write-level command. Returns a heap copy of the user's URI for
 * path, which is what gets opened (never the client's string, which a symlink swap could
 * point elsewhere between this check and the open), or NULL. */
static char *user_uri_for(struct rap_sess *rs, const char *path)
{
	struct rap_io *io = rs->core->io;
	char want[PATH_MAX], have[PATH_MAX];
	bool local = local_realpath(path, want);
	int fds[64];
	size_t n = rap_io_fds(io, fds, 64);
	for (size_t i = 0; i < n && i < 64; i++) {
		const char *uri = rap_io_fd_uri(io, fds[i]);
		if (!uri || rap__core_owns(rs->core, fds[i]))
			continue;
		if (!strcmp(uri, path) || (local && local_realpath(uri, have) && !strcmp(want, have)))
			return rap__strdup(uri);
	}
	return NULL;
}

static int h_open(void *ctx, const char *path, uint8_t perm)
{
	struct rap_sess *rs = ctx;
	char *uri = NULL;
	if (rs->srv->policy < RAP_CORE_POLICY_WRITE) {
		uri = user_uri_for(rs, path);
		if (!uri)
			return RAP_EDENIED;
		/* Below "write" a client only reads: a write open degrades to read-only, as
		 * the IO policy does when writes are off. */
		perm &= (uint8_t)~RAP_PERM_W;
	}
	/* The core tracks what it opens (at most RAP__CORE_OWNED_MAX files): those the
	 * client may close, and they close when it goes. */
	int fd = rap_core_rap_handler()->open(rs->core, uri ? uri : path, perm);
	rap__free(uri);
	return fd;
}

static ssize_t h_read(void *ctx, uint8_t *buf, size_t len)
{
	struct rap_sess *rs = ctx;
	return rap_core_rap_handler()->read(rs->core, buf, len);
}

static ssize_t h_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct rap_sess *rs = ctx;
	/* The client may be positioned on one of the user's files opened read-write. */
	if (rs->srv->policy < RAP_CORE_POLICY_WRITE)
		return RAP_EDENIED;
	return rap_core_rap_handler()->write(rs->core, buf, len);
}

static int h_seek(void *ctx, int whence, uint64_t off, uint64_t *result)
{
	struct rap_sess *rs = ctx;
	return rap_core_rap_handler()->seek(rs->core, whence, off, result);
}

static int h_close(void *ctx, int32_t fd)
{
	struct rap_sess *rs = ctx;
	/* The user's files are shared, not the client's to close: the session's core (on
	 * the borrowed IO) closes only what it opened. */
	return rap_core_rap_handler()->close(rs->core, fd);
}

static int h_cmd(void *ctx, const char *cmd, char **out)
{
	struct rap_sess *rs = ctx;
	int rc = rap_core_rap_handler()->cmd(rs->core, cmd, out);
	if (rs->core->quit) {
		/* A client's q leaves its own session, never the server: the answer still goes
		 * out, then the connection closes. */
		rs->core->quit = false;
		rap_server_end_session(rs->srv->rap, rs);
	}
	return rc;
}

static const struct rap_server_handler sess_handler = {
	.open = h_open,
	.read = h_read,
	.write = h_write,
	.seek = h_seek,
	.close = h_close,
	.cmd = h_cmd,
	.log = NULL,
};

/* A new core on the shared IO for one RAP client. */
static int make_session_core(struct srv *s, struct rap_core **out)
{
	int rc = rap__core_new_shared(s->tmpl, out);
	if (rc < 0)
		return rc;
	struct rap_core *c = *out;
	/* The user may have closed the file the server started on. */
	if (c->fd >= 0 && rap_io_fd_perm(c->io, c->fd) < 0)
		rap__core_forget_fd(c, c->fd);
	rap_core_set_policy(c, s->policy);
	rap_core_set_allow_shell(c, s->shell);
	rap_core_set_output_max(c, RAP_OUTPUT_MAX);
	return 0;
}

static int sess_open(void *user, const char *peer, void **ctx)
{
	struct srv *s = user;
	struct rap_sess *rs = rap__calloc(1, sizeof(*rs));
	if (!rs)
		return RAP_ENOMEM;
	rs->srv = s;
	int rc = make_session_core(s, &rs->core);
	if (rc < 0) {
		rap__free(rs);
		return rc;
	}
	*ctx = rs;
	return 0;
}

static void sess_close(void *user, void *ctx)
{
	struct srv *s = user;
	struct rap_sess *rs = ctx;
	/* What the client opened goes with its core; the user's files stay. */
	rap_core_free(rs->core);
	rap__free(rs);
	if (s->once)
		s->stop_requested = true;
}

static void sess_log(void *user, int level, const char *peer, const char *msg)
{
	struct srv *s = user;
	if (level <= 6)
		srv_logf(s, "%s%s%s", peer ? peer : "", peer ? " " : "", msg);
}

/* ---- TCP and HTTP connections ------------------------------------------------------------ */

static void conn_free(struct conn *cn)
{
	struct srv *s = cn->srv;
	rap_loop_del_fd(s->loop, cn->fd);
	close(cn->fd);
	rap_loop_timer_free(cn->timer);
	rap__buf_free(&cn->in);
	rap__free(cn->out);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		s->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	s->nconns--;
	rap__free(cn);
}

/* Runs one command line on the server's core: its output, then whatever it reported on
 * the error stream (a refused command's one-line reason). *denied tells a policy
 * refusal. Returns heap text or NULL without memory. */
static char *run_command(struct srv *s, const char *cmd, size_t *len, bool *denied)
{
	struct rap_core *c = s->tmpl;
	char *o = NULL, *e = NULL;
	if (c->fd >= 0 && rap_io_fd_perm(c->io, c->fd) < 0)
		rap__core_forget_fd(c, c->fd); /* the user closed it */
	int rc = rap_core_cmd_str(c, cmd, &o, &e);
	/* A client's q ends nothing but its own request, which ends anyway. */
	c->quit = false;
	*denied = rc == RAP_EDENIED;
	size_t lo = o ? strlen(o) : 0, le = e ? strlen(e) : 0;
	char *text = rap__malloc(lo + le + 1);
	if (text) {
		if (lo)
			memcpy(text, o, lo);
		if (le)
			memcpy(text + lo, e, le);
		text[lo + le] = '\0';
		*len = lo + le;
	}
	free(o);
	free(e);
	return text;
}

static void conn_io(struct rap_loop *loop, int fd, unsigned events, void *user);

static void conn_set_timer(struct conn *cn, uint64_t ms)
{
	rap_loop_timer_set(cn->timer, ms);
}

/* Sends what it can of the answer; true while the connection lives. */
static bool conn_send(struct conn *cn)
{
	bool progress = false;
	while (cn->out_off < cn->out_len) {
		ssize_t n = send(cn->fd, cn->out + cn->out_off, cn->out_len - cn->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			cn->out_off += (size_t)n;
			progress = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_free(cn); /* the peer went away: nothing more to tell it */
		return false;
	}
	if (cn->out_off < cn->out_len) {
		if (progress)
			conn_set_timer(cn, WRITE_TIMEOUT_MS);
		return true;
	}
	/* Answered. Half-close and read what the peer still sends (an unread request body),
	 * so that closing does not reset the connection under the answer. */
	shutdown(cn->fd, SHUT_WR);
	cn->state = ST_LINGER;
	rap_loop_mod_fd(cn->srv->loop, cn->fd, RAP_LOOP_READ);
	conn_set_timer(cn, LINGER_MS);
	return true;
}

/* Takes text (heap) as the whole answer and starts sending it. */
static void conn_answer(struct conn *cn, char *text, size_t len)
{
	if (!text) {
		conn_free(cn);
		return;
	}
	rap__buf_free(&cn->in);
	cn->out = text;
	cn->out_len = len;
	cn->out_off = 0;
	cn->state = ST_WRITE;
	rap_loop_mod_fd(cn->srv->loop, cn->fd, RAP_LOOP_WRITE);
	conn_set_timer(cn, WRITE_TIMEOUT_MS);
	conn_send(cn);
}

static void http_error(struct conn *cn, int status, const char *why)
{
	size_t len = 0;
	srv_logf(cn->srv, "%s %d %s", cn->peer, status, why ? why : rap__http_status_text(status));
	char *r = rap__http_error_response(status, why, &len);
	conn_answer(cn, r, len);
}

static const char home_page[] =
	"rap HTTP server\n"
	"\n"
	"GET  /cmd/<url-encoded command>   runs the command, answers its output as text\n"
	"POST /cmd                         runs the request body as the command\n"
	"\n"
	"example: curl http://127.0.0.1:9090/cmd/px%2032\n"
	"\n"
	"Web browsers are refused at /cmd (so that no web page can run commands here):\n"
	"use curl or a script, or send the header 'X-Rap: 1'.\n";

static void http_handle(struct conn *cn, struct rap__http_req *r, const char *body, size_t body_len)
{
	struct srv *s = cn->srv;
	bool get = !strcmp(r->method, "GET"), head = !strcmp(r->method, "HEAD"), post = !strcmp(r->method, "POST");
	if (!get && !head && !post) {
		http_error(cn, 405, NULL);
		return;
	}
	/* On a loopback server only loopback names may appear: a page elsewhere cannot reach
	 * it through DNS rebinding, nor post commands to it from another origin. */
	if (s->loopback && r->has_host && !rap__http_host_is_loopback(r->host)) {
		http_error(cn, 403, "Host is not a loopback name");
		return;
	}
	const char *why = rap__http_origin_refusal(r);
	if (why) {
		http_error(cn, 403, why);
		return;
	}
	const char *t = r->target;
	bool is_cmd = !strcmp(t, "/cmd") || !strncmp(t, "/cmd/", 5);
	if (is_cmd && (why = rap__http_csrf_refusal(r)) != NULL) {
		http_error(cn, 403, why);
		return;
	}
	if (!strcmp(t, "/") && !post) {
		size_t len = 0;
		srv_logf(s, "%s %s / 200", cn->peer, r->method);
		char *resp = rap__http_response(200, home_page, sizeof(home_page) - 1, head, &len);
		conn_answer(cn, resp, len);
		return;
	}
	if (!is_cmd) {
		http_error(cn, strcmp(t, "/") ? 404 : 405, NULL);
		return;
	}
	char *cmd;
	if (post && body_len) {
		if (memchr(body, '\0', body_len)) {
			http_error(cn, 400, "NUL byte in the command");
			return;
		}
		cmd = rap__strndup(body, body_len);
	} else {
		cmd = rap__strdup(t[4] ? t + 5 : "");
		if (cmd && rap__http_url_decode(cmd) < 0) {
			rap__free(cmd);
			http_error(cn, 400, "invalid percent-encoding");
			return;
		}
	}
	if (!cmd) {
		http_error(cn, 500, "out of memory");
		return;
	}
	size_t out_len = 0;
	bool denied = false;
	char *out = run_command(s, cmd, &out_len, &denied);
	rap__free(cmd);
	if (!out) {
		http_error(cn, 500, "out of memory");
		return;
	}
	int status = denied ? 403 : 200;
	srv_logf(s, "%s %s %.60s %d", cn->peer, r->method, t, status);
	size_t len = 0;
	char *resp = rap__http_response(status, out, out_len, head, &len);
	rap__free(out);
	conn_answer(cn, resp, len);
}

/* Decides what the bytes received so far ask for; answers when they are complete. */
static void conn_process(struct conn *cn, bool eof)
{
	struct srv *s = cn->srv;
	const char *buf = (const char *)cn->in.data;
	size_t len = cn->in.len;
	if (s->kind == KIND_TCP && !cn->http) {
		if (rap__http_looks_like_request(buf, len)) {
			cn->http = true;
		} else {
			const char *nl = memchr(buf, '\n', len);
			if (!nl && !eof) {
				if (len >= LINE_MAX_BYTES) {
					srv_logf(s, "%s command line too long", cn->peer);
					char *msg = rap__strdup("error: command line too long (at most 65535 bytes)\n");
					conn_answer(cn, msg, msg ? strlen(msg) : 0);
				}
				return;
			}
			size_t llen = nl ? (size_t)(nl - buf) : len;
			if (llen && buf[llen - 1] == '\r')
				llen--;
			if (memchr(buf, '\0', llen)) {
				char *msg = rap__strdup("error: NUL byte in the command\n");
				conn_answer(cn, msg, msg ? strlen(msg) : 0);
				return;
			}
			char *cmd = rap__strndup(buf, llen);
			if (!cmd) {
				conn_free(cn);
				return;
			}
			size_t out_len = 0;
			bool denied;
			srv_logf(s, "%s %.60s", cn->peer, cmd);
			char *out = run_command(s, cmd, &out_len, &denied);
			rap__free(cmd);
			/* radare2 answers an empty output with one newline, so a client that reads
			 * until the close still sees an answer. */
			if (out && out_len == 0) {
				rap__free(out);
				out = rap__strdup("\n");
				out_len = 1;
			}
			conn_answer(cn, out, out_len);
			return;
		}
	}
	struct rap__http_req r;
	int st = rap__http_parse(buf, len, &r);
	if (st == RAP_EAGAIN) {
		if (eof) {
			conn_free(cn);
		} else if (rap__http_continue_due(&r, len) && !cn->continue_sent) {
			static const char cont[] = RAP__HTTP_CONTINUE;
			cn->continue_sent = true;
			/* Tiny and sent once into an empty socket buffer: a short write only
			 * means the client waits its own Expect timeout. */
			ssize_t n = send(cn->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL);
			(void)n;
		}
	} else if (st != 0) {
		http_error(cn, st, NULL);
	} else {
		http_handle(cn, &r, buf + r.head_len, r.has_length ? r.length : 0);
	}
	rap__http_req_clear(&r);
}

static void conn_read(struct conn *cn)
{
	if (cn->state == ST_LINGER) {
		char junk[READ_CHUNK];
		ssize_t n = recv(cn->fd, junk, sizeof(junk), 0);
		if (n > 0) {
			cn->lingered += (size_t)n;
			if (cn->lingered < LINGER_MAX)
				return;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			return;
		}
		conn_free(cn);
		return;
	}
	/* One chunk per event, so one fast client cannot hold the loop. */
	size_t room = (cn->http || cn->srv->kind == KIND_HTTP) ? RAP__HTTP_HEAD_MAX + RAP__HTTP_BODY_MAX : LINE_MAX_BYTES;
	if (cn->in.len >= room) {
		conn_process(cn, false);
		return;
	}
	size_t want = room - cn->in.len < READ_CHUNK ? room - cn->in.len : READ_CHUNK;
	if (rap__buf_reserve(&cn->in, want + 1) < 0) {
		conn_free(cn);
		return;
	}
	ssize_t n = recv(cn->fd, cn->in.data + cn->in.len, want, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_free(cn);
		return;
	}
	cn->in.len += (size_t)n;
	conn_process(cn, n == 0);
}

static void conn_io(struct rap_loop *loop, int fd, unsigned events, void *user)
{
	struct conn *cn = user;
	if (cn->state == ST_WRITE) {
		if (events & (RAP_LOOP_WRITE | RAP_LOOP_HUP))
			conn_send(cn);
		return;
	}
	conn_read(cn);
}

static void conn_timeout(struct rap_loop *loop, struct rap_loop_timer *t, void *user)
{
	struct conn *cn = user;
	if (cn->state == ST_READ && (cn->http || cn->srv->kind == KIND_HTTP) && cn->in.len > 0) {
		http_error(cn, 408, "the request did not arrive in time");
		return;
	}
	if (cn->state == ST_READ)
		srv_logf(cn->srv, "%s closed: request timeout", cn->peer);
	else if (cn->state == ST_WRITE)
		srv_logf(cn->srv, "%s closed: the client stopped reading", cn->peer);
	conn_free(cn);
}

static void conn_accept(struct srv *s, int fd, const struct sockaddr_storage *ss)
{
	char peer[64];
	rap_format_sockaddr(ss, peer, sizeof(peer));
	if (s->nconns >= MAX_CONNS) {
		srv_logf(s, "%s refused: %d connections already", peer, MAX_CONNS);
		close(fd);
		return;
	}
	struct conn *cn = rap__calloc(1, sizeof(*cn));
	if (!cn) {
		close(fd);
		return;
	}
	cn->srv = s;
	cn->fd = fd;
	snprintf(cn->peer, sizeof(cn->peer), "%s", peer);
	rap__buf_init(&cn->in, RAP__HTTP_HEAD_MAX + RAP__HTTP_BODY_MAX + 1);
	cn->timer = rap_loop_timer_new(s->loop, conn_timeout, cn);
	if (!cn->timer || rap_loop_add_fd(s->loop, fd, RAP_LOOP_READ, conn_io, cn) < 0) {
		rap_loop_timer_free(cn->timer);
		rap__free(cn);
		close(fd);
		return;
	}
	cn->next = s->conns;
	if (s->conns)
		s->conns->prev = cn;
	s->conns = cn;
	s->nconns++;
	conn_set_timer(cn, REQUEST_TIMEOUT_MS);
}

static void on_accept(void *user, void *sock_user, int fd, const struct sockaddr_storage *ss)
{
	(void)sock_user;
	conn_accept(user, fd, ss);
}

/* ---- attaching a server to a loop (in the loop's thread) ------------------------------- */

static int srv_attach(struct srv *s, struct rap_loop *loop)
{
	s->loop = loop;
	if (s->kind == KIND_RAP) {
		static const struct rap_server_callbacks cb = {
			.session_open = sess_open,
			.session_close = sess_close,
			.log = sess_log,
		};
		int rc = rap_server_new(loop, &sess_handler, &cb, s, &s->rap);
		if (rc < 0)
			return rc;
		rap_server_set_max_sessions(s->rap, s->once ? 1 : RAP_MAX_SESSIONS);
		for (size_t i = 0; i < s->nlisteners; i++) {
			rc = rap_server_add_listener(s->rap, s->listen_fds[i], NULL);
			if (rc < 0)
				return rc;
			s->listen_fds[i] = -1; /* the rap_server's now */
		}
		return 0;
	}
	static const struct rap_listener_callbacks cb = { .accept = on_accept };
	int rc = rap_listener_new(loop, &cb, s, &s->listener);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < s->nlisteners; i++) {
		rc = rap_listener_add(s->listener, s->listen_fds[i], NULL);
		if (rc < 0)
			return rc;
		s->listen_fds[i] = -1; /* the listener's now */
	}
	return 0;
}

/* Undoes srv_attach (also a partial one) and closes every client. */
static void srv_detach(struct srv *s)
{
	if (!s->loop)
		return;
	if (s->rap) {
		rap_server_free(s->rap); /* closes the sessions and the listeners it took */
		s->rap = NULL;
	}
	rap_listener_free(s->listener); /* closes the sockets it took */
	s->listener = NULL;
	while (s->conns)
		conn_free(s->conns);
	s->loop = NULL;
}

static void srv_free(struct srv *s)
{
	if (!s)
		return;
	srv_detach(s);
	close_listeners(s);
	rap_core_free(s->tmpl);
	rap__free(s);
}

/* ---- the background thread ------------------------------------------------------------- */

static void handle_requests(struct rap_loop *loop, int fd, unsigned events, void *user)
{
	struct rap__servers *sv = user;
	uint64_t v;
	ssize_t n = read(sv->wake_fd, &v, sizeof(v));
	(void)n;
	pthread_mutex_lock(&sv->lock);
	struct request *q = sv->queue;
	sv->queue = NULL;
	pthread_mutex_unlock(&sv->lock);
	/* Requests were queued newest first; carry them out in order. */
	struct request *ordered = NULL;
	while (q) {
		struct request *next = q->next;
		q->next = ordered;
		ordered = q;
		q = next;
	}
	for (struct request *r = ordered; r; r = r->next) {
		switch (r->op) {
		case REQ_ADD:
			r->result = srv_attach(r->srv, loop);
			if (r->result < 0)
				srv_detach(r->srv);
			break;
		case REQ_STOP:
			srv_detach(r->srv);
			r->result = 0;
			break;
		case REQ_EXIT:
			sv->exit = true;
			r->result = 0;
			break;
		}
	}
	pthread_mutex_lock(&sv->lock);
	for (struct request *r = ordered, *next; r; r = next) {
		next = r->next; /* r belongs to its waiter as soon as done is set */
		r->done = true;
	}
	pthread_cond_broadcast(&sv->cond);
	pthread_mutex_unlock(&sv->lock);
}

static void *servers_main(void *arg)
{
	struct rap__servers *sv = arg;
	/* Bounded by the EXIT request, the only way out but a broken epoll. */
	while (!sv->exit) {
		int rc = rap_loop_run_once(sv->loop, -1);
		if (rc < 0 && rc != -EINTR)
			break;
	}
	if (sv->exit)
		return NULL;
	/* Nobody would ever answer the user's thread again: say so to whoever waits and
	 * to every later request. */
	pthread_mutex_lock(&sv->lock);
	sv->failed = true;
	for (struct request *r = sv->queue, *next; r; r = next) {
		next = r->next; /* r belongs to its waiter as soon as done is set */
		r->result = RAP_ECLOSED;
		r->done = true;
	}
	sv->queue = NULL;
	pthread_cond_broadcast(&sv->cond);
	pthread_mutex_unlock(&sv->lock);
	return NULL;
}

/* Queues r for the loop thread and waits until it has been carried out. The wait lasts
 * as long as the command a client is running at that moment. */
static int submit(struct rap__servers *sv, struct request *r)
{
	r->done = false;
	pthread_mutex_lock(&sv->lock);
	if (sv->failed) {
		pthread_mutex_unlock(&sv->lock);
		return RAP_ECLOSED;
	}
	r->next = sv->queue;
	sv->queue = r;
	pthread_mutex_unlock(&sv->lock);
	uint64_t one = 1;
	ssize_t n = write(sv->wake_fd, &one, sizeof(one));
	(void)n;
	pthread_mutex_lock(&sv->lock);
	while (!r->done)
		pthread_cond_wait(&sv->cond, &sv->lock);
	pthread_mutex_unlock(&sv->lock);
	return r->result;
}

static struct rap__servers *servers_get(struct rap_core *c)
{
	if (c->servers)
		return c->servers;
	struct rap__servers *sv = rap__calloc(1, sizeof(*sv));
	if (!sv)
		return NULL;
	sv->wake_fd = -1;
	if (pthread_mutex_init(&sv->lock, NULL) != 0) {
		rap__free(sv);
		return NULL;
	}
	if (pthread_cond_init(&sv->cond, NULL) != 0) {
		pthread_mutex_destroy(&sv->lock);
		rap__free(sv);
		return NULL;
	}
	c->servers = sv;
	return sv;
}

static int thread_start(struct rap__servers *sv)
{
	if (sv->thread_running)
		return 0;
	int rc = rap_loop_new(&sv->loop);
	if (rc < 0)
		return rc;
	sv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sv->wake_fd < 0)
		rc = -errno;
	if (rc == 0)
		rc = rap_loop_add_fd(sv->loop, sv->wake_fd, RAP_LOOP_READ, handle_requests, sv);
	if (rc == 0) {
		/* Signals belong to the user's thread (Ctrl-C at the prompt, a foreground
		 * server's SIGINT): the thread starts with every signal blocked. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		sv->exit = false;
		rc = -pthread_create(&sv->thread, NULL, servers_main, sv);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (rc < 0) {
		rap_loop_free(sv->loop);
		sv->loop = NULL;
		if (sv->wake_fd >= 0)
			close(sv->wake_fd);
		sv->wake_fd = -1;
		return rc;
	}
	sv->thread_running = true;
	return 0;
}

static void thread_stop(struct rap__servers *sv)
{
	if (!sv->thread_running)
		return;
	struct request r = { .op = REQ_EXIT };
	submit(sv, &r);
	pthread_join(sv->thread, NULL);
	sv->thread_running = false;
	sv->failed = false;
	rap_loop_free(sv->loop);
	sv->loop = NULL;
	close(sv->wake_fd);
	sv->wake_fd = -1;
}

static void bg_stop(struct rap__servers *sv, struct srv *s)
{
	struct request r = { .op = REQ_STOP, .srv = s };
	submit(sv, &r);
	for (struct srv **p = &sv->list; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	srv_free(s);
	/* No background server left: no thread either. */
	if (!sv->list)
		thread_stop(sv);
}

void rap__core_servers_free(struct rap_core *c)
{
	struct rap__servers *sv = c->servers;
	if (!sv)
		return;
	while (sv->list)
		bg_stop(sv, sv->list);
	thread_stop(sv);
	pthread_cond_destroy(&sv->cond);
	pthread_mutex_destroy(&sv->lock);
	rap__free(sv);
	c->servers = NULL;
}

void rap__core_servers_list(struct rap_core *c)
{
	if (!c->servers)
		return;
	/* Oldest first, like the host table. */
	size_t n = 0;
	for (struct srv *s = c->servers->list; s; s = s->next)
		n++;
	for (size_t i = n; i-- > 0;) {
		struct srv *s = c->servers->list;
		for (size_t k = 0; k < i; k++)
			s = s->next;
		static const char *const policy[] = { "none", "read", "write", "all" };
		fprintf(c->out, "%s server on %s (background, srv.cmd=%s%s)\n", kind_name[s->kind], s->addrs,
			policy[s->policy], s->shell ? ", srv.shell=true" : "");
	}
}

/* ---- foreground ------------------------------------------------------------------------ */

static bool open_browser(const char *url);

/* Once the server runs: its addresses (tests and scripts read the real port from the
 * first line), and the browser for =H. */
static void announce(struct rap_core *c, struct srv *s)
{
	char addrs[sizeof(s->addrs)];
	snprintf(addrs, sizeof(addrs), "%s", s->addrs);
	char *save = NULL;
	for (char *a = strtok_r(addrs, ", ", &save); a; a = strtok_r(NULL, ", ", &save))
		fprintf(c->out, "listening on %s://%s%s\n", kind_name[s->kind], a, s->kind == KIND_HTTP ? "/" : "");
	if (s->browser && !open_browser(s->url))
		fprintf(c->out, "open %s in a web browser\n", s->url);
	fflush(c->out);
}

static void on_sigint(struct rap_loop *loop, int signo, void *user)
{
	struct srv *s = user;
	s->stop_requested = true;
}

static int run_foreground(struct rap_core *c, struct srv *s)
{
	sigset_t old, intset;
	pthread_sigmask(SIG_SETMASK, NULL, &old);
	sigemptyset(&intset);
	sigaddset(&intset, SIGINT);
	struct rap_loop *loop;
	int rc = rap_loop_new(&loop);
	if (rc < 0)
		return rc;
	rc = rap_loop_add_signal(loop, SIGINT, on_sigint, s);
	if (rc == 0)
		rc = srv_attach(s, loop);
	if (rc == 0) {
		announce(c, s);
		fputs("press Ctrl-C to stop the server\n", c->err);
		fflush(c->err);
		/* Bounded by SIGINT (or, for rap.loop=false, the first client's end). */
		while (!s->stop_requested) {
			int n = rap_loop_run_once(loop, -1);
			if (n < 0 && n != -EINTR) {
				rc = n;
				break;
			}
		}
	}
	srv_detach(s);
	/* A second Ctrl-C that arrived after the first was read must not reach the
	 * default action once the mask is restored. */
	struct timespec zero = { 0, 0 };
	for (int i = 0; i < 8 && sigtimedwait(&intset, NULL, &zero) == SIGINT; i++)
		;
	rap_loop_free(loop);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		fprintf(c->err, "%s server stopped\n", kind_name[s->kind]);
	return rc;
}

/* ---- browser (=H) ------------------------------------------------------------------------ */

/* $BROWSER (run by the shell, so it may carry arguments) or xdg-open from $PATH. Returns
 * false when neither exists; then the caller prints the URL. The browser runs detached
 * (a grandchild), so nothing waits for it and no zombie is left. */
static bool open_browser(const char *url)
{
	const char *browser = getenv("BROWSER");
	char xdg[4096] = "";
	if (!browser || !*browser) {
		const char *path = getenv("PATH");
		if (!path)
			return false;
		for (const char *p = path; *p;) {
			size_t n = strcspn(p, ":");
			if (n && n + sizeof("/xdg-open") < sizeof(xdg)) {
				snprintf(xdg, sizeof(xdg), "%.*s/xdg-open", (int)n, p);
				if (access(xdg, X_OK) == 0)
					break;
			}
			xdg[0] = '\0';
			p += n;
			if (*p == ':')
				p++;
		}
		if (!xdg[0])
			return false;
	}
	/* Built before fork: the children only make async-signal-safe calls. */
	char *argv_sh[] = { "sh", "-c", "exec $BROWSER \"$1\"", "sh", (char *)url, NULL };
	char *argv_xdg[] = { xdg, (char *)url, NULL };
	char **argv = xdg[0] ? argv_xdg : argv_sh;
	const char *prog = xdg[0] ? xdg : "/bin/sh";
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		pid_t grandchild = fork();
		if (grandchild != 0)
			_exit(grandchild < 0 ? 127 : 0);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		setsid();
		execve(prog, argv, environ);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- help -------------------------------------------------------------------------------- */

struct help_line {
	const char *cmd;
	const char *desc;
};

static void print_notes(struct rap_core *c, const char *const *notes)
{
	for (const char *const *n = notes; n && *n; n++)
		fprintf(c->out, "%s\n", *n);
}

static void print_help(struct rap_core *c, const char *usage, const struct help_line *lines, const char *const *notes)
{
	int width = 0;
	for (const struct help_line *l = lines; l->cmd; l++)
		if ((int)strlen(l->cmd) > width)
			width = (int)strlen(l->cmd);
	fprintf(c->out, "%s\n", usage);
	for (const struct help_line *l = lines; l->cmd; l++)
		fprintf(c->out, "| %-*s  %s\n", width, l->cmd, l->desc);
	print_notes(c, notes);
}

static const char *const policy_notes[] = {
	"Clients share the open files but have their own position, so yours never moves.",
	"Their commands run under 'e srv.cmd' (none, read, write, all; default read) and",
	"'e srv.shell' (default false), read when the server starts; a refused command",
	"answers its one-line reason.",
	NULL,
};

static void help_rap(struct rap_core *c)
{
	static const struct help_line lines[] = {
		{ "=:port", "serve the open files over RAP on port (0: any free port); Ctrl-C stops" },
		{ "=r port", "same as =:port" },
		{ "=&:port", "the same in the background (=&r port too); =&-port stops it" },
		{ "=:host:port cmd", "run cmd on a remote rap server once" },
		{ "=", "list connections and running servers" },
		{ NULL, NULL },
	};
	static const char *const notes[] = {
		"Listens on 'e rap.bind' (localhost: 127.0.0.1 and ::1; public: every interface).",
		"A client's q ends its own session; it never stops the server. With",
		"'e rap.loop=false' a foreground server stops after its first client.",
		"Below 'e srv.cmd=write' a client may OPEN only the files you have open, read-only.",
		"A client may CLOSE only the files it opened; they close when it leaves.",
		NULL,
	};
	print_help(c, "Usage: =:port   serve the open files over RAP", lines, notes);
	print_notes(c, policy_notes);
}

static void help_bg(struct rap_core *c)
{
	static const struct help_line lines[] = {
		{ "=&:port", "serve the open files over RAP in the background (0: any free port)" },
		{ "=&r port", "same as =&:port" },
		{ "=&t port", "TCP command server in the background (also =t& port)" },
		{ "=h& [port]", "HTTP server in the background (also =H& to open a browser)" },
		{ "=&-", "stop every background server" },
		{ "=&-port", "stop the background server on port" },
		{ "=t-", "stop the background TCP command servers" },
		{ "=h-", "stop the background HTTP servers" },
		{ "=", "list connections and running servers" },
		{ NULL, NULL },
	};
	print_help(c, "Usage: =&[:rt-] [port]   servers in the background; the prompt stays usable", lines, NULL);
	print_notes(c, policy_notes);
}

static void help_tcp(struct rap_core *c)
{
	static const struct help_line lines[] = {
		{ "=t port", "TCP command server on port (0: any free port); Ctrl-C stops" },
		{ ".:port", "same as =t port" },
		{ "=t& port", "the same in the background (=&t port too)" },
		{ "=t-", "stop the background TCP command servers (=&-port: one of them)" },
		{ NULL, NULL },
	};
	static const char *const notes[] = {
		"Each connection sends one command line and gets its output (a newline when",
		"empty), then the server closes it: echo px | nc ::1 port. An HTTP request",
		"works too, under the rules of =h against browsers (=h?):",
		"curl -g 'http://[::1]:port/cmd/px'. One core serves every connection, so 's'",
		"persists between them. Listens on 'e tcp.bind' (localhost: 127.0.0.1 and ::1;",
		"public: every interface).",
		NULL,
	};
	print_help(c, "Usage: =t port   TCP command server", lines, notes);
	print_notes(c, policy_notes);
}

static void help_http(struct rap_core *c)
{
	static const struct help_line lines[] = {
		{ "=h [port]", "HTTP server on port (default: e http.port; 0: any free port); Ctrl-C stops" },
		{ "=h& [port]", "the same in the background" },
		{ "=h-", "stop the background HTTP servers" },
		{ "=H [port]", "like =h, and open it in $BROWSER or xdg-open" },
		{ "=H& [port]", "like =h&, and open it in $BROWSER or xdg-open" },
		{ NULL, NULL },
	};
	static const char *const notes[] = {
		"GET /cmd/<url-encoded command> and POST /cmd (the body is the command) answer",
		"the output as text/plain; a refused command answers 403 with its reason.",
		"So that no web page can run commands here, a request with a non-loopback or",
		"'null' Origin, or a Sec-Fetch-Site other than same-origin or none, answers 403,",
		"and so does a browser's request to /cmd (any Sec-Fetch-*, Origin or Referer",
		"header, or a User-Agent starting with Mozilla/) without an 'X-Rap' header. curl",
		"and scripts work as they are (curl http://127.0.0.1:9090/cmd/px); other clients",
		"add the header (curl -H 'X-Rap: 1' ...), which pages cannot send cross-site.",
		"Listens on 'e http.bind' (localhost: 127.0.0.1 and ::1; public: every interface).",
		NULL,
	};
	print_help(c, "Usage: =[hH][&-] [port]   HTTP server", lines, notes);
	print_notes(c, policy_notes);
}

/* ---- commands ----------------------------------------------------------------------------- */

static int start_server(struct rap_core *c, enum srv_kind kind, bool background, bool browser, const char *portarg)
{
	int port;
	if (!portarg || !*portarg) {
		const char *def = kind == KIND_HTTP ? rap_core_config_get(c, "http.port") : NULL;
		if (!def) {
			rap__core_errorf(c, "missing port (see '=%s?')", kind == KIND_TCP ? "t" : ":");
			return RAP_EINVAL;
		}
		portarg = def;
	}
	port = parse_port(portarg);
	if (port < 0) {
		rap__core_errorf(c, "invalid port '%s' (0 .. 65535; 0 lets the system choose)", portarg);
		return RAP_EINVAL;
	}
	struct srv *s = rap__calloc(1, sizeof(*s));
	if (!s) {
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	s->kind = kind;
	s->background = background;
	s->browser = browser;
	s->policy = RAP_CORE_POLICY_READ;
	s->shell = false;
	(void)rap__core_policy_parse(rap_core_config_get(c, "srv.cmd"), &s->policy);
	const char *sh = rap_core_config_get(c, "srv.shell");
	s->shell = sh && !strcmp(sh, "true");
	const char *loop = rap_core_config_get(c, "rap.loop");
	s->once = kind == KIND_RAP && !background && loop && !strcmp(loop, "false");
	s->log = background ? NULL : c->err;
	int rc = rap__core_new_shared(c, &s->tmpl);
	if (rc == 0) {
		rap_core_set_policy(s->tmpl, s->policy);
		rap_core_set_allow_shell(s->tmpl, s->shell);
		/* Clients' local files (> FILE, wtf, wff) follow the IO's policy. */
		rap_core_set_confined(s->tmpl, true);
		/* RAP sessions' cores are made from tmpl and keep its cap. */
		rap_core_set_output_max(s->tmpl, kind == KIND_RAP ? RAP_OUTPUT_MAX : TEXT_OUTPUT_MAX);
	} else {
		rap__core_errorf(c, "out of memory");
		srv_free(s);
		return rc;
	}
	const char *var = kind == KIND_RAP ? "rap.bind" : kind == KIND_TCP ? "tcp.bind" : "http.bind";
	const char *bind = rap_core_config_get(c, var);
	char err[300];
	rc = srv_listen(s, bind ? bind : "localhost", port, err, sizeof(err));
	if (rc < 0) {
		rap__core_errorf(c, "%s", err);
		srv_free(s);
		return rc;
	}
	if (!background) {
		rc = run_foreground(c, s);
		if (rc < 0)
			rap__core_errorf(c, "%s server: %s", kind_name[kind], rap_strerror(rc));
		srv_free(s);
		return rc;
	}
	struct rap__servers *sv = servers_get(c);
	rc = sv ? thread_start(sv) : RAP_ENOMEM;
	if (rc == 0) {
		struct request r = { .op = REQ_ADD, .srv = s };
		rc = submit(sv, &r);
	}
	if (rc < 0) {
		rap__core_errorf(c, "cannot start the %s server: %s", kind_name[kind], rap_strerror(rc));
		srv_free(s);
		if (sv && !sv->list)
			thread_stop(sv);
		return rc;
	}
	s->next = sv->list;
	sv->list = s;
	announce(c, s);
	return 0;
}

/* Stops background servers: of one kind (kind >= 0), on one port (port >= 0), or all. */
static int stop_servers(struct rap_core *c, int kind, int port)
{
	struct rap__servers *sv = c->servers;
	size_t stopped = 0;
	/* Each pass removes one server or ends the loop. */
	while (sv && sv->list) {
		struct srv *s = sv->list;
		while (s && !((kind < 0 || (int)s->kind == kind) && (port < 0 || s->port == port)))
			s = s->next;
		if (!s)
			break;
		bg_stop(sv, s);
		stopped++;
	}
	if (!stopped && port >= 0) {
		rap__core_errorf(c, "no background server on port %d (see '=')", port);
		return RAP_EINVAL;
	}
	return 0;
}

/* The port argument after a command word: "=t 4000", "=t4000" and "=t  4000" alike.
 * Returns NULL when there is more than one word. */
static const char *port_word(char *rest)
{
	rest = rap__core_trim(rest);
	return strpbrk(rest, " \t") ? NULL : rest;
}

int rap__core_cmd_server(struct rap_core *c, char *text)
{
	char *t = rap__core_trim(text);
	/* Help first: "=h?" must never start a server (radare2 issue 9526). */
	size_t tl = strlen(t);
	if (tl && t[tl - 1] == '?') {
		if (!strncmp(t, "=g", 2))
			fprintf(c->out, "Usage: =g port file   gdbserver (not available in this version)\n");
		else if (!strncmp(t, "=&", 2))
			help_bg(c);
		else if (!strncmp(t, "=h", 2) || !strncmp(t, "=H", 2))
			help_http(c);
		else if (!strncmp(t, "=t", 2) || !strncmp(t, ".:", 2))
			help_tcp(c);
		else
			help_rap(c);
		return 0;
	}
	if (c->io_borrowed) {
		/* A served session's core: a foreground server would block every client of
		 * this server, and a background one would outlive the session's files. */
		rap__core_errorf(c, "servers cannot be started or stopped from a served session");
		return RAP_EDENIED;
	}
	const char *port;
	enum srv_kind kind;
	bool bg = false, browser = false;
	if (!strncmp(t, "=g", 2)) {
		rap__core_errorf(c, "the gdbserver (=g) is not available in this version");
		return RAP_ENOTSUP;
	}
	if (!strncmp(t, "=&-", 3)) {
		const char *p = port_word(t + 3);
		if (!p || (*p && parse_port(p) < 0)) {
			rap__core_errorf(c, "usage: =&-[port]");
			return RAP_EINVAL;
		}
		return stop_servers(c, -1, *p ? parse_port(p) : -1);
	}
	if (!strcmp(t, "=h-") || !strcmp(t, "=h--") || !strcmp(t, "=H-"))
		return stop_servers(c, KIND_HTTP, -1);
	if (!strcmp(t, "=t-"))
		return stop_servers(c, KIND_TCP, -1);
	if (!strncmp(t, "=&:", 3) || !strncmp(t, "=&r", 3)) {
		kind = KIND_RAP;
		bg = true;
		port = port_word(t + 3);
	} else if (!strncmp(t, "=&t", 3) || !strncmp(t, "=t&", 3)) {
		kind = KIND_TCP;
		bg = true;
		port = port_word(t + 3);
	} else if (!strncmp(t, "=h&", 3) || !strncmp(t, "=H&", 3)) {
		kind = KIND_HTTP;
		bg = true;
		browser = t[1] == 'H';
		port = port_word(t + 3);
	} else if (!strncmp(t, "=:", 2) || !strncmp(t, "=r", 2)) {
		kind = KIND_RAP;
		port = port_word(t + 2);
		if (port && strchr(port, ':')) {
			rap__core_errorf(c, "'%s': give a port to serve on ('=r HOST:PORT' reverse shells are not supported)", t);
			return RAP_EINVAL;
		}
	} else if (!strncmp(t, "=t", 2) || !strncmp(t, ".:", 2)) {
		kind = KIND_TCP;
		port = port_word(t + 2);
		if (!port || strchr(t + 2, ':')) {
			rap__core_errorf(c, "'=t HOST:PORT CMD' queries are not supported: use '=+ tcp://HOST:PORT', "
					    "then '=N CMD'");
			return RAP_EINVAL;
		}
	} else if (!strncmp(t, "=h", 2) || !strncmp(t, "=H", 2)) {
		kind = KIND_HTTP;
		browser = t[1] == 'H';
		port = port_word(t + 2);
	} else {
		rap__core_errorf(c, "unknown server command '%s' (see '=&?')", t);
		return RAP_ENOTSUP;
	}
	if (!port) {
		rap__core_errorf(c, "too many arguments in '%s' (see '%.2s?')", t, t);
		return RAP_EINVAL;
	}
	return start_server(c, kind, bg, browser, port);
}
