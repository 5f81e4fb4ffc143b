/* The connections of the TCP command server ("=t PORT") and the HTTP server ("=h PORT").
 * A TCP connection carries one command line (or an HTTP request, which the TCP server
 * takes too) and gets one answer. An HTTP connection carries requests one after the other
 * (HTTP/1.1 keep-alive; a pipelined request waits for the answer before it): each is
 * answered whole, or, for a streamed command, with a chunked body sent as the command
 * writes it. After the last answer the server half-closes and reads what the peer still
 * sends for a while, so that closing does not reset the connection under the answer.
 * Every phase has a deadline; the reads are bounded per event and in total.
 *
 * Commands run on the server's command thread (servers_cmd.c), one at a time, in the
 * order their requests were complete; meanwhile the loop serves the other connections.
 * A client that goes away while its command runs (a reset, a failed send, or an HTTP
 * client's end of its connection: the web console's stop) cancels it.
 *
 * At most MAX_CONNS connections at once. One more does not wait nor get refused: the
 * connection that matters least makes room for it, so that connections that never send a
 * request (64 idle ones, reconnecting every 10 s) cannot keep a real request out. That is
 * one already answered (lingering, or idle between two requests) before one still waiting
 * for its request, one waiting for the command thread next, and one being answered last;
 * among equals, the one idle longest. */
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
#include <rap/tls.h>

#include "common.h"
#include "core_private.h"
#include "servers.h"

#define LINE_MAX_BYTES (64u << 10)   /* one TCP command line */
#define READ_CHUNK 16384
#define MAX_CONNS 64                 /* per TCP/HTTP server, at once */
#define REQUEST_TIMEOUT_MS 10000     /* from accept (or the last answer) to a complete request */
#define WRITE_TIMEOUT_MS 30000       /* without any progress while answering */
#define LINGER_MS 2000               /* reading what the peer still sends after the answer */
#define LINGER_MAX (1u << 20)
#define STREAM_PENDING ((size_t)256 << 10) /* a stream's unsent bytes before it takes more */
#define JOB_OUT_MAX (RAP__SRV_STREAM_OUTPUT_MAX + ((size_t)1 << 20))

/* One TCP or HTTP connection. */
enum conn_state {
	ST_READ,   /* reading a request */
	ST_QUEUED, /* its command waits for the command thread */
	ST_RUN,    /* its command runs (a stream: its answer is being sent meanwhile) */
	ST_WRITE,  /* sending a whole answer */
	ST_LINGER, /* answered for good: reading what the peer still sends */
};

struct rap__srv_conn {
	struct rap__srv *srv;
	int fd;
	struct rap_tls *tls; /* https (e http.cert): every byte goes through it; else NULL */
	char peer[64];
	enum conn_state state;
	bool http;
	bool continue_sent;
	bool answered;    /* one answer went out already (idle between requests) */
	bool eof;         /* the peer sent its end (it may still read) */
	bool close_after; /* no further request once this answer is out */
	bool deferred;    /* its timer takes the next request from the loop (see answered) */
	struct rap__buf in;
	struct rap__buf out;
	size_t out_off;
	/* ST_QUEUED and ST_RUN: */
	struct rap__srv_http_action act; /* the HTTP request's (act.cmd for a TCP line) */
	struct rap__srv_job *job;        /* submitted (owned, see conn_free) */
	uint64_t seq;                    /* order of queueing */
	bool stream_done;                /* a stream's command is done: its job is the loop's */
	bool stream_more;                /* a stream's text is left to take */
	size_t lingered;
	uint64_t active_ms; /* when it last made progress: accepted, bytes in, bytes out */
	struct rap_loop_timer *timer;
	struct rap__srv_conn *prev, *next;
};

static void start_next(struct rap__srv *s);
static void process(struct rap__srv_conn *cn, bool eof);
static void conn_read(struct rap__srv_conn *cn);

static void action_clear(struct rap__srv_http_action *a)
{
	rap__free(a->resp);
	rap__free(a->cmd);
	memset(a, 0, sizeof(*a));
}

static void conn_free(struct rap__srv_conn *cn)
{
	struct rap__srv *s = cn->srv;
	if (cn->job) {
		if (rap__srv_cmd_current(s) == cn->job) {
			/* Still the command thread's: it stops, and its end frees it. */
			cn->job->conn = NULL;
			rap__srv_cmd_cancel(s, cn->job);
		} else {
			rap__srv_job_free(cn->job);
		}
	}
	rap_loop_del_fd(s->loop, cn->fd);
	rap_tls_free(cn->tls);
	close(cn->fd);
	rap_loop_timer_free(cn->timer);
	rap__buf_free(&cn->in);
	rap__buf_free(&cn->out);
	action_clear(&cn->act);
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

static void conn_set_timer(struct rap__srv_conn *cn, uint64_t ms)
{
	rap_loop_timer_set(cn->timer, ms);
}

/* recv and send, through TLS on an https server: the same results as the system calls
 * (errno EAGAIN when the connection must wait, -1 with another errno once it failed). */
static ssize_t io_recv(struct rap__srv_conn *cn, void *buf, size_t len)
{
	if (!cn->tls)
		return recv(cn->fd, buf, len, 0);
	ssize_t n = rap_tls_read(cn->tls, buf, len);
	if (n >= 0)
		return n;
	errno = n == RAP_EAGAIN ? EAGAIN : ECONNRESET;
	return -1;
}

static ssize_t io_send(struct rap__srv_conn *cn, const void *buf, size_t len)
{
	if (!cn->tls)
		return send(cn->fd, buf, len, MSG_NOSIGNAL);
	ssize_t n = rap_tls_write(cn->tls, buf, len);
	if (n >= 0)
		return n;
	errno = n == RAP_EAGAIN ? EAGAIN : EPIPE;
	return -1;
}

static size_t pending(const struct rap__srv_conn *cn)
{
	return cn->out.len - cn->out_off;
}

static size_t in_room(const struct rap__srv_conn *cn)
{
	return cn->http ? RAP__HTTP_HEAD_MAX + RAP__HTTP_BODY_MAX : LINE_MAX_BYTES;
}

/* What the connection waits for, by state. */
static void conn_watch(struct rap__srv_conn *cn)
{
	unsigned ev = 0;
	switch (cn->state) {
	case ST_READ:
	case ST_LINGER:
		ev = RAP_LOOP_READ;
		break;
	case ST_QUEUED:
	case ST_RUN:
		/* Reading on notices a client that goes away (and keeps a pipelined request);
		 * a full buffer stops it, a client gone is seen as a failed send then. */
		ev = cn->eof || cn->in.len >= in_room(cn) ? 0 : RAP_LOOP_READ;
		/* A stream with text left to take pumps again once the socket takes more. */
		if (pending(cn) || cn->stream_more)
			ev |= RAP_LOOP_WRITE;
		break;
	case ST_WRITE:
		ev = RAP_LOOP_WRITE;
		break;
	}
	/* A TLS read may have to send, a write to receive first. */
	if (cn->tls)
		ev |= rap_tls_wants(cn->tls);
	rap_loop_mod_fd(cn->srv->loop, cn->fd, ev);
}


/* The whole answer is out: the next request, or the end. */
static void answered(struct rap__srv_conn *cn)
{
	cn->out.len = 0;
	cn->out_off = 0;
	cn->answered = true;
	/* A client that sent its end after pipelined requests still gets their answers. */
	if (!cn->close_after && (!cn->eof || cn->in.len)) {
		cn->state = ST_READ;
		cn->continue_sent = false;
		conn_watch(cn);
		/* A pipelined request (or one TLS decrypted already, which no event will tell)
		 * is taken from the loop, at once: answering it here could recurse as deep as
		 * the requests a client piles up. */
		cn->deferred = cn->in.len || (cn->tls && rap_tls_pending(cn->tls));
		conn_set_timer(cn, cn->deferred ? 0 : REQUEST_TIMEOUT_MS);
		return;
	}
	/* Half-close and read what the peer still sends (an unread request body), so that
	 * closing does not reset the connection under the answer. */
	if (cn->tls)
		(void)rap_tls_shutdown(cn->tls); /* close_notify when it fits; the close follows anyway */
	shutdown(cn->fd, SHUT_WR);
	cn->state = ST_LINGER;
	conn_watch(cn);
	conn_set_timer(cn, LINGER_MS);
}

/* Sends what it can of the output; false once the connection is freed. */
static bool conn_send(struct rap__srv_conn *cn)
{
	bool progress = false;
	while (pending(cn)) {
		ssize_t n = io_send(cn, cn->out.data + cn->out_off, pending(cn));
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
	if (!pending(cn)) {
		cn->out.len = 0;
		cn->out_off = 0;
	}
	if (progress || !pending(cn))
		conn_set_timer(cn, WRITE_TIMEOUT_MS);
	return true;
}

/* Takes text (heap, NULL: out of memory) as the whole answer and starts sending it. */
static void conn_answer(struct rap__srv_conn *cn, char *text, size_t len)
{
	if (!text) {
		conn_free(cn);
		return;
	}
	cn->out.len = 0;
	cn->out_off = 0;
	int rc = rap__buf_append(&cn->out, text, len);
	rap__free(text);
	if (rc < 0) {
		conn_free(cn);
		return;
	}
	cn->state = ST_WRITE;
	conn_watch(cn);
	conn_set_timer(cn, WRITE_TIMEOUT_MS);
	if (!conn_send(cn))
		return;
	if (!pending(cn))
		answered(cn);
}

static void http_error(struct rap__srv_conn *cn, int status, const char *why)
{
	size_t len = 0;
	char *r = rap__srv_http_error(cn->srv, cn->peer, status, why, &len);
	cn->close_after = true;
	conn_answer(cn, r, len);
}

/* ---- commands -------------------------------------------------------------------------- */

/* Queues the connection's command (cn->act.cmd) for the command thread. */
static void conn_queue(struct rap__srv_conn *cn)
{
	struct rap__srv *s = cn->srv;
	cn->state = ST_QUEUED;
	cn->seq = ++s->queued;
	rap_loop_timer_cancel(cn->timer);
	conn_watch(cn);
	start_next(s);
}

/* A stream whose command is done and whose text is all taken: the last chunk. */
static void stream_finish(struct rap__srv_conn *cn)
{
	struct rap__srv_job *j = cn->job;
	if (rap__buf_append(&cn->out, RAP__HTTP_LAST_CHUNK, sizeof(RAP__HTTP_LAST_CHUNK) - 1) < 0) {
		conn_free(cn);
		return;
	}
	cn->job = NULL;
	rap__srv_job_free(j);
	cn->stream_done = false;
	cn->close_after = !cn->act.keep_alive;
	action_clear(&cn->act);
	cn->state = ST_WRITE;
	conn_watch(cn);
	if (conn_send(cn) && !pending(cn))
		answered(cn);
}

/* Frames what the command wrote since the last time as one chunk (when the client has
 * taken enough of the previous ones), sends, and ends the stream once the command is done
 * and everything is taken. False once the connection is freed or answered. */
static bool stream_pump(struct rap__srv_conn *cn)
{
	struct rap__srv_job *j = cn->job;
	if (pending(cn) < STREAM_PENDING) {
		if (cn->out_off == cn->out.len) {
			cn->out.len = 0;
			cn->out_off = 0;
		} else if (cn->out_off > cn->out.len / 2) {
			rap__buf_consume(&cn->out, cn->out_off);
			cn->out_off = 0;
		}
		struct rap__buf part;
		rap__buf_init(&part, STREAM_PENDING);
		int n = rap__srv_cmd_take(cn->srv, j, &part, &cn->stream_more);
		bool ok = n >= 0;
		if (n > 0) {
			char size[24];
			size_t sl = rap__http_chunk_size(size, (size_t)n);
			ok = rap__buf_append(&cn->out, size, sl) == 0 &&
			     rap__buf_append(&cn->out, part.data, (size_t)n) == 0 &&
			     rap__buf_append(&cn->out, "\r\n", 2) == 0;
		}
		rap__buf_free(&part);
		if (!ok) {
			conn_free(cn);
			return false;
		}
	}
	if (cn->stream_done && !cn->stream_more) {
		stream_finish(cn);
		return false;
	}
	if (!conn_send(cn))
		return false;
	conn_watch(cn);
	return true;
}

/* The command thread's news of cn's job (see servers_cmd.c), on the loop's thread. */
static void job_news(struct rap__srv_conn *cn, bool done)
{
	struct rap__srv_job *j = cn->job;
	if (j->stream) {
		/* News means text to take, or the end: only a take tells there is none left. */
		cn->stream_done = done;
		cn->stream_more = true;
		stream_pump(cn);
		return;
	}
	if (!done)
		return;
	cn->job = NULL;
	struct rap__srv *s = cn->srv;
	char *text = j->text;
	size_t len = j->text_len;
	j->text = NULL;
	bool denied = j->denied;
	rap__srv_job_free(j);
	if (!text) {
		conn_free(cn);
		return;
	}
	if (!cn->http) {
		/* radare2 answers an empty output with one newline, so a client that reads
		 * until the close still sees an answer. */
		if (len == 0) {
			rap__free(text);
			text = rap__strdup("\n");
			len = 1;
		}
		cn->close_after = true;
		conn_answer(cn, text, len);
		return;
	}
	size_t rlen = 0;
	char *resp = rap__srv_http_cmd_answer(s, cn->peer, &cn->act, text, len, denied, &rlen);
	rap__free(text);
	cn->close_after = !cn->act.keep_alive;
	action_clear(&cn->act);
	conn_answer(cn, resp, rlen);
}

void rap__srv_conn_job_news(struct rap__srv *s, struct rap__srv_job *job, bool done)
{
	struct rap__srv_conn *cn = job->conn;
	if (!cn) {
		/* Nobody waits for it any more. */
		if (done) {
			rap__srv_job_free(job);
			start_next(s);
		}
		return;
	}
	job_news(cn, done);
	if (done)
		start_next(s);
}

/* Submits the oldest queued command when the command thread is idle. */
static void start_next(struct rap__srv *s)
{
	if (rap__srv_cmd_current(s))
		return;
	/* Each pass starts one job or fails one connection (bounded by the connections). */
	for (;;) {
		struct rap__srv_conn *next = NULL;
		for (struct rap__srv_conn *cn = s->conns; cn; cn = cn->next)
			if (cn->state == ST_QUEUED && (!next || cn->seq < next->seq))
				next = cn;
		if (!next)
			return;
		struct rap__srv_job *j = rap__calloc(1, sizeof(*j));
		if (!j) {
			conn_free(next);
			continue;
		}
		j->cmd = next->act.cmd;
		next->act.cmd = NULL;
		j->stream = next->act.stream;
		j->conn = next;
		rap__buf_init(&j->out, JOB_OUT_MAX);
		next->job = j;
		next->state = ST_RUN;
		if (j->stream) {
			size_t len = 0;
			char *head = rap__srv_http_stream_head(s, next->peer, &next->act, &len);
			if (!head || rap__buf_append(&next->out, head, len) < 0) {
				rap__free(head);
				conn_free(next);
				continue;
			}
			rap__free(head);
		} else if (next->http) {
			/* The log line comes with the answer. */
		} else {
			rap__srv_logf(s, "%s %.60s", next->peer, j->cmd);
		}
		int rc = rap__srv_cmd_submit(s, j);
		if (rc < 0) {
			rap__srv_logf(s, "%s cannot run the command: %s", next->peer, rap_strerror(rc));
			conn_free(next);
			continue;
		}
		if (j->stream && conn_send(next))
			conn_watch(next);
		return;
	}
}

/* ---- requests ------------------------------------------------------------------------- */

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
			cn->close_after = true;
			conn_answer(cn, msg, msg ? strlen(msg) : 0);
		}
		return;
	}
	size_t llen = nl ? (size_t)(nl - buf) : len;
	if (llen && buf[llen - 1] == '\r')
		llen--;
	cn->close_after = true;
	if (memchr(buf, '\0', llen)) {
		char *msg = rap__strdup("error: NUL byte in the command\n");
		conn_answer(cn, msg, msg ? strlen(msg) : 0);
		return;
	}
	cn->act.cmd = rap__strndup(buf, llen);
	if (!cn->act.cmd) {
		conn_free(cn);
		return;
	}
	cn->in.len = 0;
	conn_queue(cn);
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
			ssize_t n = io_send(cn, cont, sizeof(cont) - 1);
			(void)n;
		}
	} else if (st != 0) {
		http_error(cn, st, NULL);
	} else {
		size_t body_len = r.has_length ? r.length : 0;
		rap__srv_http_route(cn->srv, cn->peer, &r, buf + r.head_len, body_len, &cn->act);
		/* The request is consumed: what follows is the next one. */
		rap__buf_consume(&cn->in, r.head_len + body_len);
		if (cn->act.resp) {
			char *resp = cn->act.resp;
			size_t rlen = cn->act.resp_len;
			cn->act.resp = NULL;
			cn->close_after = !cn->act.keep_alive;
			action_clear(&cn->act);
			conn_answer(cn, resp, rlen);
		} else if (cn->act.cmd) {
			conn_queue(cn);
		} else {
			conn_free(cn);
		}
	}
	rap__http_req_clear(&r);
}

/* Decides what the bytes received so far ask for; answers when they are complete. */
static void process(struct rap__srv_conn *cn, bool eof)
{
	cn->deferred = false;
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
		ssize_t n = io_recv(cn, junk, sizeof(junk));
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
	size_t room = in_room(cn);
	if (cn->in.len >= room) {
		if (cn->state == ST_READ)
			process(cn, false);
		else
			conn_watch(cn);
		return;
	}
	size_t want = room - cn->in.len < READ_CHUNK ? room - cn->in.len : READ_CHUNK;
	if (rap__buf_reserve(&cn->in, want + 1) < 0) {
		conn_free(cn);
		return;
	}
	ssize_t n = io_recv(cn, cn->in.data + cn->in.len, want);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_free(cn); /* a reset: a command of its own stops */
		return;
	}
	cn->in.len += (size_t)n;
	/* What TLS decrypted beyond want is off the socket already: no event would tell.
	 * Bounded by one TLS record (16 KiB). */
	while (n > 0 && cn->tls && rap_tls_pending(cn->tls) && cn->in.len < room) {
		want = room - cn->in.len < READ_CHUNK ? room - cn->in.len : READ_CHUNK;
		if (rap__buf_reserve(&cn->in, want + 1) < 0) {
			conn_free(cn);
			return;
		}
		ssize_t k = io_recv(cn, cn->in.data + cn->in.len, want);
		if (k <= 0)
			break;
		cn->in.len += (size_t)k;
	}
	if (n > 0)
		cn->active_ms = rap_loop_now_ms();
	if (cn->state != ST_READ) {
		if (n == 0) {
			cn->eof = true;
			/* An HTTP client that ends a connection it wanted kept (or a stream's)
			 * gave up (the web console's stop, curl's --max-time): its command
			 * stops. Otherwise the end may only end the request (HTTP/1.0 or
			 * "Connection: close" through nc -N, a TCP line): it gets its answer. */
			bool kept = cn->act.stream || cn->act.keep_alive;
			if (cn->http && kept && (cn->state == ST_RUN || cn->state == ST_QUEUED)) {
				rap__srv_logf(cn->srv, "%s went away%s", cn->peer,
					      cn->state == ST_RUN ? ": command cancelled" : "");
				conn_free(cn);
				return;
			}
		}
		conn_watch(cn);
		return;
	}
	if (n == 0)
		cn->eof = true;
	if (n == 0 && cn->in.len == 0) {
		conn_free(cn); /* between two requests: the client is done */
		return;
	}
	process(cn, n == 0);
}

static void conn_io(struct rap_loop *loop, int fd, unsigned events, void *user)
{
	struct rap__srv_conn *cn = user;
	if (cn->state == ST_WRITE) {
		if (events & (RAP_LOOP_WRITE | RAP_LOOP_HUP)) {
			if (conn_send(cn) && !pending(cn))
				answered(cn);
		}
		return;
	}
	if ((cn->state == ST_QUEUED || cn->state == ST_RUN) && (events & RAP_LOOP_HUP) &&
	    (cn->eof || cn->in.len >= in_room(cn))) {
		/* Not reading, yet told of a hang-up: a reset, or both ends closed. */
		rap__srv_logf(cn->srv, "%s went away%s", cn->peer, cn->state == ST_RUN ? ": command cancelled" : "");
		conn_free(cn);
		return;
	}
	if (cn->state == ST_RUN && (events & RAP_LOOP_WRITE) && cn->job && cn->job->stream) {
		if (!stream_pump(cn))
			return;
	}
	if (events & (RAP_LOOP_READ | RAP_LOOP_HUP))
		conn_read(cn);
}

static void conn_timeout(struct rap_loop *loop, struct rap_loop_timer *t, void *user)
{
	struct rap__srv_conn *cn = user;
	if (cn->deferred && cn->state == ST_READ) {
		cn->deferred = false;
		conn_set_timer(cn, REQUEST_TIMEOUT_MS);
		if (cn->in.len)
			process(cn, cn->eof);
		else
			conn_read(cn);
		return;
	}
	if (cn->state == ST_READ && cn->http && cn->in.len > 0) {
		http_error(cn, 408, "the request did not arrive in time");
		return;
	}
	if (cn->state == ST_READ && !cn->answered)
		rap__srv_logf(cn->srv, "%s closed: request timeout", cn->peer);
	else if (cn->state == ST_WRITE || (cn->state == ST_RUN && pending(cn)))
		rap__srv_logf(cn->srv, "%s closed: the client stopped reading", cn->peer);
	else if (cn->state == ST_RUN || cn->state == ST_QUEUED)
		return; /* a command takes its time */
	conn_free(cn);
}

/* How much a connection matters, for eviction: less is evicted first. */
static int conn_rank(const struct rap__srv_conn *cn)
{
	switch (cn->state) {
	case ST_LINGER: return 0; /* answered */
	case ST_READ: return cn->answered && cn->in.len == 0 ? 0 : 1; /* idle after an answer; no request yet */
	case ST_QUEUED: return 2; /* waiting for the command thread */
	case ST_RUN:
	case ST_WRITE: return 3;  /* being answered */
	}
	return 3;
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
	static const char *const what[] = { "answered", "idle", "queued", "not reading its answer" };
	rap__srv_logf(s, "%s closed: %d connections at once, it was the oldest %s one", victim->peer, MAX_CONNS,
		      what[conn_rank(victim)]);
	conn_free(victim);
	start_next(s);
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
	cn->http = s->kind == RAP__SRV_HTTP; /* a TCP server's connection tells with its first line */
	snprintf(cn->peer, sizeof(cn->peer), "%s", peer);
	rap__buf_init(&cn->in, RAP__HTTP_HEAD_MAX + RAP__HTTP_BODY_MAX + 1);
	rap__buf_init(&cn->out, SIZE_MAX);
	cn->timer = rap_loop_timer_new(s->loop, conn_timeout, cn);
	/* https: the handshake runs with the first read, under the request's deadline. */
	if (!cn->timer || (s->tls && rap_tls_new(s->tls, fd, NULL, &cn->tls) < 0) ||
	    rap_loop_add_fd(s->loop, fd, RAP_LOOP_READ, conn_io, cn) < 0) {
		rap_tls_free(cn->tls);
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
	/* The running command stops first; the connections free their jobs then. */
	rap__srv_cmd_stop(s);
	while (s->conns)
		conn_free(s->conns);
}
