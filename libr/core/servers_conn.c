/* The connections of the TCP command server ("=t PORT") and the HTTP server ("=h PORT"):
 * each carries one request (a command line, or an HTTP request, which the TCP server
 * takes too) and gets one answer, then the server half-closes it and reads what the peer
 * still sends for a while, so that closing does not reset the connection under the
 * answer. Every phase has a deadline; the reads are bounded per event and in total. One
 * core (the server's) runs every command.
 *
 * At most MAX_CONNS connections at once. One more does not wait nor get refused: the
 * connection that matters least makes room for it, so that connections that never send a
 * request (64 idle ones, reconnecting every 10 s) cannot keep a real request out. That is
 * one already answered (lingering) before one still waiting for its request, and one still
 * being answered (a reader that stopped reading) last; among equals, the one idle longest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/io.h>
#include <rap/listener.h>
#include <rap/loop.h>

#include "common.h"
#include "core_private.h"
#include "servers.h"

#define LINE_MAX_BYTES (64u << 10)   /* one TCP command line */
#define READ_CHUNK 16384
#define MAX_CONNS 64                 /* per TCP/HTTP server, at once */
#define REQUEST_TIMEOUT_MS 10000     /* from accept to a complete request */
#define WRITE_TIMEOUT_MS 30000       /* without any progress while answering */
#define LINGER_MS 2000               /* reading what the peer still sends after the answer */
#define LINGER_MAX (1u << 20)

/* One TCP or HTTP connection. */
enum conn_state { ST_READ, ST_WRITE, ST_LINGER };

struct rap__srv_conn {
	struct rap__srv *srv;
	int fd;
	char peer[64];
	enum conn_state state;
	bool http;
	bool continue_sent;
	struct rap__buf in;
	char *out;
	size_t out_len, out_off;
	size_t lingered;
	uint64_t active_ms; /* when it last made progress: accepted, bytes in, bytes out */
	struct rap_loop_timer *timer;
	struct rap__srv_conn *prev, *next;
};

static void conn_free(struct rap__srv_conn *cn)
{
	struct rap__srv *s = cn->srv;
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

char *rap__srv_run_command(struct rap__srv *s, const char *cmd, size_t *len, bool *denied)
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

static void conn_set_timer(struct rap__srv_conn *cn, uint64_t ms)
{
	rap_loop_timer_set(cn->timer, ms);
}

/* Sends what it can of the answer; true while the connection lives. */
static bool conn_send(struct rap__srv_conn *cn)
{
	bool progress = false;
	while (cn->out_off < cn->out_len) {
		ssize_t n = send(cn->fd, cn->out + cn->out_off, cn->out_len - cn->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			cn->out_off += (size_t)n;
			progress = true;
			cn->active_ms = rap_loop_now_ms();
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
static void conn_answer(struct rap__srv_conn *cn, char *text, size_t len)
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

static void http_error(struct rap__srv_conn *cn, int status, const char *why)
{
	size_t len = 0;
	char *r = rap__srv_http_error(cn->srv, cn->peer, status, why, &len);
	conn_answer(cn, r, len);
}

/* A TCP command connection: one command line, answered with its output. */
static void tcp_process(struct rap__srv_conn *cn, bool eof)
{
	struct rap__srv *s = cn->srv;
	const char *buf = (const char *)cn->in.data;
	size_t len = cn->in.len;
	const char *nl = memchr(buf, '\n', len);
	if (!nl && !eof) {
		if (len >= LINE_MAX_BYTES) {
			rap__srv_logf(s, "%s command line too long", cn->peer);
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
	rap__srv_logf(s, "%s %.60s", cn->peer, cmd);
	char *out = rap__srv_run_command(s, cmd, &out_len, &denied);
	rap__free(cmd);
	/* radare2 answers an empty output with one newline, so a client that reads
	 * until the close still sees an answer. */
	if (out && out_len == 0) {
		rap__free(out);
		out = rap__strdup("\n");
		out_len = 1;
	}
	conn_answer(cn, out, out_len);
}

/* An HTTP request: answered once it is complete (servers_http.c decides what). */
static void http_process(struct rap__srv_conn *cn, bool eof)
{
	const char *buf = (const char *)cn->in.data;
	size_t len = cn->in.len;
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
		size_t rlen = 0;
		char *resp = rap__srv_http_answer(cn->srv, cn->peer, &r, buf + r.head_len, r.has_length ? r.length : 0,
						  &rlen);
		conn_answer(cn, resp, rlen);
	}
	rap__http_req_clear(&r);
}

/* Decides what the bytes received so far ask for; answers when they are complete. */
static void conn_process(struct rap__srv_conn *cn, bool eof)
{
	if (cn->srv->kind == RAP__SRV_TCP && !cn->http) {
		if (!rap__http_looks_like_request((const char *)cn->in.data, cn->in.len)) {
			tcp_process(cn, eof);
			return;
		}
		cn->http = true;
	}
	http_process(cn, eof);
}

static void conn_read(struct rap__srv_conn *cn)
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
	size_t room =
		(cn->http || cn->srv->kind == RAP__SRV_HTTP) ? RAP__HTTP_HEAD_MAX + RAP__HTTP_BODY_MAX : LINE_MAX_BYTES;
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
	if (n > 0)
		cn->active_ms = rap_loop_now_ms();
	conn_process(cn, n == 0);
}

static void conn_io(struct rap_loop *loop, int fd, unsigned events, void *user)
{
	struct rap__srv_conn *cn = user;
	if (cn->state == ST_WRITE) {
		if (events & (RAP_LOOP_WRITE | RAP_LOOP_HUP))
			conn_send(cn);
		return;
	}
	conn_read(cn);
}

static void conn_timeout(struct rap_loop *loop, struct rap_loop_timer *t, void *user)
{
	struct rap__srv_conn *cn = user;
	if (cn->state == ST_READ && (cn->http || cn->srv->kind == RAP__SRV_HTTP) && cn->in.len > 0) {
		http_error(cn, 408, "the request did not arrive in time");
		return;
	}
	if (cn->state == ST_READ)
		rap__srv_logf(cn->srv, "%s closed: request timeout", cn->peer);
	else if (cn->state == ST_WRITE)
		rap__srv_logf(cn->srv, "%s closed: the client stopped reading", cn->peer);
	conn_free(cn);
}

/* How much a connection matters, for eviction: less is evicted first. */
static int conn_rank(const struct rap__srv_conn *cn)
{
	switch (cn->state) {
	case ST_LINGER: return 0; /* answered */
	case ST_READ: return 1;   /* no complete request yet */
	case ST_WRITE: return 2;  /* being answered */
	}
	return 2;
}

/* Closes the connection that matters least (see the top of the file). */
static void evict_one(struct rap__srv *s)
{
	struct rap__srv_conn *victim = NULL;
	for (struct rap__srv_conn *cn = s->conns; cn; cn = cn->next) {
		if (!victim || conn_rank(cn) < conn_rank(victim) ||
		    (conn_rank(cn) == conn_rank(victim) && cn->active_ms <= victim->active_ms))
			victim = cn;
	}
	if (!victim)
		return;
	static const char *const what[] = { "answered", "idle", "not reading its answer" };
	rap__srv_logf(s, "%s closed: %d connections at once, it was the oldest %s one", victim->peer, MAX_CONNS,
		      what[conn_rank(victim)]);
	conn_free(victim);
}

static void conn_accept(struct rap__srv *s, int fd, const struct sockaddr_storage *ss)
{
	char peer[64];
	rap_format_sockaddr(ss, peer, sizeof(peer));
	if (s->nconns >= MAX_CONNS)
		evict_one(s);
	struct rap__srv_conn *cn = rap__calloc(1, sizeof(*cn));
	if (!cn) {
		close(fd);
		return;
	}
	cn->srv = s;
	cn->fd = fd;
	cn->active_ms = rap_loop_now_ms();
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

int rap__srv_conn_attach(struct rap__srv *s)
{
	static const struct rap_listener_callbacks cb = { .accept = on_accept };
	int rc = rap_listener_new(s->loop, &cb, s, &s->listener);
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

void rap__srv_conn_detach(struct rap__srv *s)
{
	rap_listener_free(s->listener); /* closes the sockets it took */
	s->listener = NULL;
	while (s->conns)
		conn_free(s->conns);
}
