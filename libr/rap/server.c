/* rap_server (rap/server.h): the multi-session network server. Listeners, connections,
 * access control, limits, timeouts and TLS around many sans-IO server sessions
 * (server_session.c), all driven by one rap_loop; commands run on a worker pool (pool.c).
 *
 * A command's way: the session decodes a CMD and calls t_cmd_bounded, which makes a job and
 * answers RAP_PENDING (the session then decodes nothing more). The job waits until the
 * client has taken the replies before it and the memory its output may take fits under
 * --max-buffered (job_try_start), runs on a worker (job_run), comes back through the
 * pool's eventfd (on_jobs_done), and its output becomes the reply
 * (rap_server_session_complete). A connection that closes meanwhile cancels the job and
 * stays, closed, as a "zombie" until the job is back: only then is its ctx released. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rap/listener.h>
#include <rap/server.h>
#include <rap/tls.h>

#include "common.h"
#include "pool.h"

#define READ_CHUNK 65536
#define REFUSING_MAX 64
#define LINGER_MS 2000            /* after a failed TLS handshake, see CONN_LINGER */
#define LINGER_MAX (256u << 10)   /* bytes dropped while lingering, at most */
#define SLICE_MS 10               /* a running command's turn when others wait */
#define WORKERS_MAX 64u
#define THREADS_PER_WORKER 4u     /* commands in progress per running slot */
#define PINNED_MAX 64u            /* sessions with a thread of their own */
#define MAX_BUFFERED_DEFAULT ((size_t)256 << 20)
#define SESSION_BUFFERED_DEFAULT ((size_t)16 << 20)
#define SESSION_BUFFERED_MIN ((size_t)64 << 10)

struct network {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

/* CONN_LINGER: the TLS handshake failed and the alert is on its way; what the peer still
 * sends is read and dropped until it hangs up (or LINGER_MS), because closing with unread
 * input makes the kernel answer with a reset that can destroy the alert before the peer
 * reads it ("certificate required", "not TLS") and leave it with "connection reset". */
enum conn_state { CONN_HANDSHAKE, CONN_OPEN, CONN_DRAINING, CONN_LINGER };

struct conn;

/* One CMD on its way (see the top of the file). Written by the loop's thread until it is
 * submitted, then by the worker until the pool hands it back; the pool's lock orders the
 * two. */
struct job {
	struct rap__pool_job base;  /* first: the pool hands back this pointer */
	struct rap_server *srv;
	struct conn *conn;          /* loop's thread only */
	void *ctx;                  /* the session's context (the user's) */
	char *cmd;                  /* heap copy of the command line */
	size_t want;                /* the output the session asked for */
	size_t grant;               /* the bound it runs with, counted in srv->buffered */
	bool started;               /* submitted to the pool (or run in place) */
	bool waits_logged;
	uint64_t started_ms;        /* for the log */
	struct rap__pool_thread *thread; /* the session's own thread it was submitted to */
	struct rap_cmd_request req;
	atomic_bool cancelled;
	/* Results, from the worker. */
	int rc;
	char *out;                  /* heap, handed to the session */
	bool stopped;
	bool end_session;           /* the handler asked for it (rap_server_end_session) */
	struct rap__pool_thread *pinned; /* the handler pinned the session to this thread */
};

struct conn {
	struct rap_server *srv;
	int fd;
	char peer[64];
	enum conn_state state;
	struct rap_tls *tls;
	struct rap_server_session *session;
	struct rap_server_handler handler; /* trampolines with this conn as ctx */
	void *ctx;                          /* the user's per-session context */
	struct rap_loop_timer *timer;
	uint64_t accepted;                  /* when the connection was accepted */
	uint64_t last_activity;             /* last byte received or sent */
	uint64_t partial_since;             /* when the message now half-received began; 0: none */
	uint64_t requests_seen;             /* rap_server_session_requests at partial_since */
	uint64_t send_since;                /* when replies started waiting for the peer; 0: none */
	unsigned interest;
	bool tls_pending_listed;
	bool hangup;                        /* draining because the handler ended the session */
	const char *refusal;                /* refused client: why (answers its first request) */
	size_t lingered;                    /* CONN_LINGER: bytes dropped so far */
	struct job *job;                    /* the session's CMD on its way; NULL when none */
	struct rap__pool_thread *thread;    /* the session's own worker (rap_server_pin_session) */
	bool eof;                           /* the client shut down its sending side */
	bool zombie;                        /* closed; waits for its job to come back */
	bool mem_listed;                    /* on srv's list of sessions waiting for memory */
	size_t accounted;                   /* its part of srv->buffered */
	struct conn *prev, *next;           /* all connections (zombies: srv->zombies) */
	struct conn *pending_next;          /* TLS connections with decrypted bytes waiting */
	struct conn *mem_next;              /* waiting for memory */
};

struct rap_server {
	struct rap_loop *loop;
	struct rap_server_handler handler;
	struct rap_server_callbacks cb;
	void *user;
	const struct rap_secret *secret; /* borrowed; clients must authenticate when set */
	struct rap_listener *listener; /* NULL once shut down */
	struct conn *conns;
	size_t nconns;              /* every connection, refused ones included */
	size_t nrefusing;           /* refused ones, waiting for their first request */
	struct conn *tls_pending;   /* conns to run on the next pass */
	struct conn *tls_draining;  /* the pass being run now */
	struct network *allowed;
	size_t nallowed;
	size_t max_sessions;
	uint32_t max_payload;
	uint64_t idle_ms, request_ms, handshake_ms;
	size_t read_budget;
	uint64_t accept_warned;     /* when the last "out of descriptors" line was logged */
	struct rap_loop_timer *done_timer; /* runs on_done outside any loop over connections */
	struct rap_loop_timer *pending_timer; /* 0 ms: drains tls_pending on the next pass */
	bool shutting_down;
	struct rap_loop_timer *grace_timer;
	void (*on_done)(void *user);
	void *on_done_user;
	/* Commands. The pool starts with the first command; NULL with workers 0. */
	unsigned workers;           /* running slots; 0: commands run on the loop's thread */
	struct rap__pool *pool;
	bool pool_failed;           /* could not be made: commands run here (logged once) */
	struct conn *zombies;       /* closed conns whose job is still out */
	atomic_uint pinned;         /* sessions with their own thread */
	/* Memory: reply bytes queued plus the bounds of commands under way. */
	size_t max_buffered, session_buffered, buffered;
	struct conn *mem_head, *mem_tail;  /* sessions waiting for memory, in order */
	struct rap_loop_timer *mem_timer;  /* 0 ms: lets them try again after memory was freed */
};

static void srv_log(struct rap_server *srv, int level, const char *peer, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void drain_tls_pending(struct rap_loop *loop, struct rap_loop_timer *t, void *user);
static void mem_retry(struct rap_loop *loop, struct rap_loop_timer *t, void *user);
static void run_done(struct rap_loop *loop, struct rap_loop_timer *t, void *user);
static void grace_over(struct rap_loop *loop, struct rap_loop_timer *t, void *user);
static void on_accept(void *user, void *sock_user, int fd, const struct sockaddr_storage *ss);
static void on_accept_paused(void *user, int err, uint64_t pause_ms);

static void srv_log(struct rap_server *srv, int level, const char *peer, const char *fmt, ...)
{
	if (!srv->cb.log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	srv->cb.log(srv->user, level, peer, msg);
}

/* ---- handler trampolines: the session's ctx is the conn, so logs can name the peer -- */

static int t_open(void *c, const char *path, uint8_t perm)
{
	struct conn *conn = c;
	return conn->srv->handler.open(conn->ctx, path, perm);
}

static ssize_t t_read(void *c, uint8_t *buf, size_t len)
{
	struct conn *conn = c;
	return conn->srv->handler.read(conn->ctx, buf, len);
}

static ssize_t t_write(void *c, const uint8_t *buf, size_t len)
{
	struct conn *conn = c;
	return conn->srv->handler.write(conn->ctx, buf, len);
}

static int t_seek(void *c, int whence, uint64_t off, uint64_t *res)
{
	struct conn *conn = c;
	return conn->srv->handler.seek(conn->ctx, whence, off, res);
}

static int t_close(void *c, int32_t fd)
{
	struct conn *conn = c;
	return conn->srv->handler.close(conn->ctx, fd);
}

static ssize_t t_pread(void *c, int32_t fd, uint64_t off, uint8_t *buf, size_t len)
{
	struct conn *conn = c;
	return conn->srv->handler.pread(conn->ctx, fd, off, buf, len);
}

static ssize_t t_pwrite(void *c, int32_t fd, uint64_t off, const uint8_t *buf, size_t len)
{
	struct conn *conn = c;
	return conn->srv->handler.pwrite(conn->ctx, fd, off, buf, len);
}

static int t_stat(void *c, int32_t fd, struct rap_stat *st)
{
	struct conn *conn = c;
	return conn->srv->handler.stat(conn->ctx, fd, st);
}

static int t_cmd(void *c, const char *cmd, char **out)
{
	struct conn *conn = c;
	return conn->srv->handler.cmd(conn->ctx, cmd, out);
}

static int job_new(struct conn *c, const struct rap_cmd_request *req);

/* Every CMD becomes a job, answered later (see the top of the file). */
static int t_cmd_bounded(void *c, const struct rap_cmd_request *req, char **out, bool *stopped)
{
	(void)out;
	(void)stopped;
	return job_new(c, req);
}

static void t_log(void *c, int level, const char *msg)
{
	struct conn *conn = c;
	if (conn->srv->handler.log)
		conn->srv->handler.log(conn->ctx, level, msg);
	srv_log(conn->srv, level, conn->peer, "%s", msg);
}

/* ---- refused clients: each gets one in-protocol answer saying why, then the end ------ */

static int refuse(struct conn *c)
{
	if (c->state == CONN_OPEN) {
		c->state = CONN_DRAINING;
		c->hangup = true;
	}
	return RAP_EDENIED;
}

static int r_open(void *c, const char *path, uint8_t perm)
{
	(void)path;
	(void)perm;
	return refuse(c);
}

static ssize_t r_read(void *c, uint8_t *buf, size_t len)
{
	(void)buf;
	(void)len;
	return refuse(c);
}

static ssize_t r_write(void *c, const uint8_t *buf, size_t len)
{
	(void)buf;
	(void)len;
	return refuse(c);
}

static int r_seek(void *c, int whence, uint64_t off, uint64_t *res)
{
	(void)whence;
	(void)off;
	(void)res;
	return refuse(c);
}

static int r_close(void *c, int32_t fd)
{
	(void)fd;
	return refuse(c);
}

static int r_cmd(void *c, const char *cmd, char **out)
{
	struct conn *conn = c;
	(void)cmd;
	char text[128];
	snprintf(text, sizeof(text), "error: refused by the server: %s\n", conn->refusal);
	*out = rap__strdup(text);
	return refuse(c);
}

static void r_log(void *c, int level, const char *msg)
{
	struct conn *conn = c;
	srv_log(conn->srv, level, conn->peer, "%s", msg);
}

/* ---- creation and settings ---------------------------------------------------------- */

int rap_server_new(struct rap_loop *loop, const struct rap_server_handler *handler,
		   const struct rap_server_callbacks *cb, void *user, struct rap_server **out)
{
	if (!loop || !handler || !cb || !cb->session_open || !cb->session_close || !out)
		return RAP_EINVAL;
	struct rap_server *srv = rap__calloc(1, sizeof(*srv));
	if (!srv)
		return RAP_ENOMEM;
	srv->loop = loop;
	srv->handler = *handler;
	srv->cb = *cb;
	srv->user = user;
	srv->max_sessions = 10000;
	srv->max_payload = 1u << 20;
	srv->idle_ms = 300000;
	srv->request_ms = 30000;
	srv->handshake_ms = 10000;
	srv->read_budget = 256 * 1024;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	srv->workers = cpus < 2 ? 2 : cpus > 4 ? 4 : (unsigned)cpus;
	srv->max_buffered = MAX_BUFFERED_DEFAULT;
	srv->session_buffered = SESSION_BUFFERED_DEFAULT;
	atomic_init(&srv->pinned, 0);
	srv->pending_timer = rap_loop_timer_new(loop, drain_tls_pending, srv);
	srv->done_timer = rap_loop_timer_new(loop, run_done, srv);
	srv->grace_timer = rap_loop_timer_new(loop, grace_over, srv);
	srv->mem_timer = rap_loop_timer_new(loop, mem_retry, srv);
	static const struct rap_listener_callbacks listener_cb = { .accept = on_accept, .paused = on_accept_paused };
	if (!srv->pending_timer || !srv->done_timer || !srv->grace_timer || !srv->mem_timer ||
	    rap_listener_new(loop, &listener_cb, srv, &srv->listener) < 0) {
		rap_loop_timer_free(srv->pending_timer);
		rap_loop_timer_free(srv->done_timer);
		rap_loop_timer_free(srv->grace_timer);
		rap_loop_timer_free(srv->mem_timer);
		rap__free(srv);
		return RAP_ENOMEM;
	}
	*out = srv;
	return 0;
}

int rap_server_set_max_sessions(struct rap_server *srv, size_t n)
{
	if (n == 0)
		return RAP_EINVAL;
	srv->max_sessions = n;
	return 0;
}

int rap_server_set_max_payload(struct rap_server *srv, uint32_t bytes)
{
	if (bytes < 1 || bytes > (1u << 30))
		return RAP_EINVAL;
	srv->max_payload = bytes;
	return 0;
}

void rap_server_set_idle_timeout(struct rap_server *srv, uint64_t ms)
{
	srv->idle_ms = ms;
}

void rap_server_set_request_timeout(struct rap_server *srv, uint64_t ms)
{
	srv->request_ms = ms;
}

void rap_server_set_handshake_timeout(struct rap_server *srv, uint64_t ms)
{
	srv->handshake_ms = ms;
}

int rap_server_set_read_budget(struct rap_server *srv, size_t bytes)
{
	if (bytes < 1)
		return RAP_EINVAL;
	srv->read_budget = bytes;
	return 0;
}

int rap_server_set_secret(struct rap_server *srv, const struct rap_secret *secret)
{
	if (secret && !rap_auth_available())
		return RAP_ENOTSUP;
	srv->secret = secret;
	return 0;
}

int rap_server_set_workers(struct rap_server *srv, unsigned n)
{
	if (n > WORKERS_MAX || srv->pool || srv->pool_failed)
		return RAP_EINVAL;
	srv->workers = n;
	return 0;
}

int rap_server_set_max_buffered(struct rap_server *srv, size_t total, size_t per_session)
{
	if (per_session < SESSION_BUFFERED_MIN || per_session > total)
		return RAP_EINVAL;
	srv->max_buffered = total;
	srv->session_buffered = per_session;
	return 0;
}

size_t rap_server_buffered(const struct rap_server *srv)
{
	return srv->buffered;
}

size_t rap_server_session_count(const struct rap_server *srv)
{
	return srv->nconns - srv->nrefusing;
}

/* ---- access control ----------------------------------------------------------------- */

static int parse_network(const char *cidr, struct network *out)
{
	char addr[INET6_ADDRSTRLEN];
	if (!cidr)
		return RAP_EINVAL;
	const char *slash = strchr(cidr, '/');
	size_t alen = slash ? (size_t)(slash - cidr) : strlen(cidr);
	if (alen == 0 || alen >= sizeof(addr))
		return RAP_EINVAL;
	memcpy(addr, cidr, alen);
	addr[alen] = '\0';
	struct network net = { 0 };
	if (inet_pton(AF_INET, addr, net.addr) == 1) {
		net.family = AF_INET;
		net.prefix = 32;
	} else if (inet_pton(AF_INET6, addr, net.addr) == 1) {
		net.family = AF_INET6;
		net.prefix = 128;
	} else {
		return RAP_EINVAL;
	}
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || p < 0 || (unsigned long)p > net.prefix)
			return RAP_EINVAL;
		net.prefix = (unsigned)p;
	}
	*out = net;
	return 0;
}

int rap_server_check_network(const char *cidr)
{
	struct network net;
	return parse_network(cidr, &net);
}

int rap_server_allow_network(struct rap_server *srv, const char *cidr)
{
	struct network net;
	int rc = parse_network(cidr, &net);
	if (rc < 0)
		return rc;
	struct network *v = rap__realloc(srv->allowed, (srv->nallowed + 1) * sizeof(*v));
	if (!v)
		return RAP_ENOMEM;
	srv->allowed = v;
	srv->allowed[srv->nallowed++] = net;
	return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	size_t whole = bits / 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	unsigned rest = bits % 8;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

bool rap_server_peer_allowed(const struct rap_server *srv, const struct sockaddr_storage *ss)
{
	if (srv->nallowed == 0)
		return true;
	uint8_t v4[4], v6[16];
	bool has4 = false, has6 = false;
	if (ss->ss_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		has4 = true;
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		memcpy(v6, a, 16);
		has6 = true;
		/* An IPv4 client on a dual-stack socket is still an IPv4 client for the rules. */
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(v4, v6 + 12, 4);
			has4 = true;
		}
	}
	for (size_t i = 0; i < srv->nallowed; i++) {
		const struct network *n = &srv->allowed[i];
		if (n->family == AF_INET && has4 && prefix_match(v4, n->addr, n->prefix))
			return true;
		if (n->family == AF_INET6 && has6 && prefix_match(v6, n->addr, n->prefix))
			return true;
	}
	return false;
}

/* ---- connections -------------------------------------------------------------------- */

static void conn_io(struct rap_loop *loop, int fd, unsigned events, void *user);
static void conn_timeout(struct rap_loop *loop, struct rap_loop_timer *t, void *user);
static void conn_step(struct conn *c, unsigned events);
static void check_done(struct rap_server *srv);
static void job_cancel(struct job *j);
static void job_free(struct job *j);
static bool job_try_start(struct conn *c);
static void on_jobs_done(struct rap_loop *loop, int fd, unsigned events, void *user);

/* ---- memory: srv->buffered = the reply bytes queued + the bounds of commands under way -- */

static void mem_unlist(struct conn *c)
{
	struct rap_server *srv = c->srv;
	if (!c->mem_listed)
		return;
	struct conn *prev = NULL;
	for (struct conn *m = srv->mem_head; m; prev = m, m = m->mem_next) {
		if (m != c)
			continue;
		if (prev)
			prev->mem_next = c->mem_next;
		else
			srv->mem_head = c->mem_next;
		if (srv->mem_tail == c)
			srv->mem_tail = prev;
		break;
	}
	c->mem_next = NULL;
	c->mem_listed = false;
}

/* c waits for memory: it tries again, in order, once some is freed. */
static void mem_list(struct conn *c)
{
	struct rap_server *srv = c->srv;
	if (c->mem_listed)
		return;
	c->mem_listed = true;
	c->mem_next = NULL;
	if (srv->mem_tail)
		srv->mem_tail->mem_next = c;
	else
		srv->mem_head = c;
	srv->mem_tail = c;
}

/* Brings c's part of srv->buffered up to date; waiters get another try when it shrank. */
static void conn_account(struct conn *c)
{
	struct rap_server *srv = c->srv;
	size_t now = c->session ? rap_server_session_buffered(c->session) : 0;
	if (c->job && c->job->started)
		now += c->job->grant;
	srv->buffered = srv->buffered - c->accounted + now;
	if (now < c->accounted && srv->mem_head)
		rap_loop_timer_set(srv->mem_timer, 0);
	c->accounted = now;
}

static void mem_retry(struct rap_loop *loop, struct rap_loop_timer *t, void *user)
{
	(void)loop;
	(void)t;
	struct rap_server *srv = user;
	/* Bounded: each waiter is taken off once; one that still waits lists itself again
	 * behind the others, for the next round. */
	size_t n = 0;
	for (struct conn *m = srv->mem_head; m; m = m->mem_next)
		n++;
	while (n-- > 0 && srv->mem_head) {
		struct conn *c = srv->mem_head;
		mem_unlist(c);
		conn_step(c, 0);
	}
}

/* Room under the total for `more` bytes besides what c already counts. */
static bool mem_fits(const struct conn *c, size_t more)
{
	const struct rap_server *srv = c->srv;
	return srv->buffered <= srv->max_buffered && more <= srv->max_buffered - srv->buffered;
}

static void pending_remove(struct rap_server *srv, struct conn *c)
{
	if (!c->tls_pending_listed)
		return;
	struct conn **lists[] = { &srv->tls_pending, &srv->tls_draining };
	for (size_t i = 0; i < 2; i++) {
		for (struct conn **p = lists[i]; *p; p = &(*p)->pending_next) {
			if (*p == c) {
				*p = c->pending_next;
				c->tls_pending_listed = false;
				return;
			}
		}
	}
}

/* The end of a closed conn: its context goes (never while a worker uses it). */
static void conn_release(struct conn *c)
{
	struct rap_server *srv = c->srv;
	if (c->ctx)
		srv->cb.session_close(srv->user, c->ctx);
	if (c->thread) {
		rap__pool_unpin(srv->pool, c->thread);
		atomic_fetch_sub(&srv->pinned, 1);
	}
	rap__free(c);
}

static void conn_close(struct conn *c, int level, const char *why)
{
	struct rap_server *srv = c->srv;
	srv_log(srv, level, c->peer, "closed: %s", why);
	pending_remove(srv, c);
	mem_unlist(c);
	rap_loop_del_fd(srv->loop, c->fd);
	rap_loop_timer_free(c->timer);
	c->timer = NULL;
	if (c->tls) {
		rap_tls_shutdown(c->tls);
		rap_tls_free(c->tls);
		c->tls = NULL;
	}
	close(c->fd);
	c->fd = -1;
	rap_server_session_free(c->session);
	c->session = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	if (c->refusal)
		srv->nrefusing--;
	c->prev = NULL;
	if (c->job && c->job->started) {
		/* A worker runs its command: the answer is no longer wanted, and the context
		 * stays until the command has returned (on_jobs_done). */
		job_cancel(c->job);
		srv_log(srv, 6, c->peer, "command cancelled: %s", why);
		c->zombie = true;
		c->next = srv->zombies;
		srv->zombies = c;
		conn_account(c);
	} else {
		job_free(c->job);
		c->job = NULL;
		conn_account(c);
		conn_release(c);
	}
	check_done(srv);
}

/* The deadline that applies now: handshake; a half-sent request or replies the peer does
 * not take (both --request-timeout); otherwise idleness. */
static uint64_t conn_deadline(const struct conn *c, const char **why)
{
	const struct rap_server *srv = c->srv;
	uint64_t deadline = 0;
	*why = "idle timeout";
	if (c->state == CONN_HANDSHAKE || (c->refusal && c->state == CONN_OPEN)) {
		/* A refused client gets as long to ask as a handshake may take, not an idle
		 * session's time. */
		*why = c->refusal ? "refused client sent no request" : "TLS handshake timeout";
		return srv->handshake_ms ? c->last_activity + srv->handshake_ms : 0;
	}
	if (c->state == CONN_OPEN && !rap_server_session_authenticated(c->session) && srv->handshake_ms) {
		/* Authenticating takes a round trip or two: the handshake's time from the
		 * connection's start (TLS included), not an idle session's. */
		*why = "authentication timeout (the client did not authenticate)";
		return c->accepted + srv->handshake_ms;
	}
	/* A session with a command under way is not idle, and a command may rightly take
	 * minutes; unsent replies still run the send clock. */
	if (c->job && !c->send_since)
		return 0;
	if (c->partial_since && srv->request_ms) {
		deadline = c->partial_since + srv->request_ms;
		*why = "request timeout (message left half-sent)";
	}
	if (c->send_since && srv->request_ms && (!deadline || c->send_since + srv->request_ms < deadline)) {
		deadline = c->send_since + srv->request_ms;
		*why = "send timeout (the client does not read its replies)";
	}
	if (!deadline && !c->partial_since && !c->send_since && srv->idle_ms)
		deadline = c->last_activity + srv->idle_ms;
	return deadline;
}

static void conn_rearm(struct conn *c)
{
	uint64_t now = rap_loop_now_ms();
	const char *why;
	uint64_t deadline = conn_deadline(c, &why);
	if (deadline == 0)
		rap_loop_timer_cancel(c->timer);
	else
		rap_loop_timer_set(c->timer, deadline > now ? deadline - now : 0);
}

static void conn_timeout(struct rap_loop *loop, struct rap_loop_timer *t, void *user)
{
	(void)loop;
	(void)t;
	struct conn *c = user;
	const char *why;
	conn_deadline(c, &why);
	if (c->state == CONN_LINGER)
		conn_close(c, 7, "closed after the failed handshake");
	else if (c->state == CONN_DRAINING)
		conn_close(c, 5, c->hangup ? "peer did not take its last replies" : "shutdown grace period over");
	else
		conn_close(c, strcmp(why, "idle timeout") ? 4 : 6, why);
}

static ssize_t conn_recv(struct conn *c, void *buf, size_t len)
{
	if (c->tls)
		return rap_tls_read(c->tls, buf, len);
	ssize_t n = recv(c->fd, buf, len, 0);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return RAP_EAGAIN;
	return -errno;
}

static ssize_t conn_send(struct conn *c, const void *buf, size_t len)
{
	if (c->tls)
		return rap_tls_write(c->tls, buf, len);
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return RAP_EAGAIN;
	return (errno == EPIPE || errno == ECONNRESET) ? RAP_ECLOSED : -errno;
}

static void conn_set_interest(struct conn *c, unsigned want)
{
	if (c->interest == want)
		return;
	if (rap_loop_mod_fd(c->srv->loop, c->fd, want) == 0)
		c->interest = want;
}

/* Sends queued replies, at most the read budget's worth per call: a client that takes a
 * 16 MiB answer as fast as it comes would otherwise keep the loop to itself until the last
 * byte, and every other client would wait that long. The rest goes when the socket is
 * writable again, after the other ready connections. Returns false when the connection
 * was closed. */
static bool conn_flush(struct conn *c)
{
	const uint8_t *data;
	size_t len;
	size_t budget = c->srv->read_budget;
	/* Bounded by the budget and by what is queued: each pass sends or stops. */
	while (budget > 0 && (len = rap_server_session_output(c->session, &data)) > 0) {
		ssize_t n = conn_send(c, data, len < budget ? len : budget);
		if (n == RAP_EAGAIN || n == 0)
			break;
		if (n < 0) {
			conn_close(c, 6, n == RAP_ECLOSED ? "peer went away" : rap_strerror((int)n));
			return false;
		}
		rap_server_session_consume(c->session, (size_t)n);
		budget -= (size_t)n;
		c->last_activity = rap_loop_now_ms();
		c->send_since = c->last_activity; /* progress restarts the send clock */
	}
	if (rap_server_session_output(c->session, &data) == 0)
		c->send_since = 0;
	else if (!c->send_since)
		c->send_since = rap_loop_now_ms();
	return true;
}

/* Whether to read c now: the session takes input (no command pending, replies not piling
 * up), the client has not shut down its side, and the replies of all sessions leave room. */
static bool conn_wants_read(struct conn *c)
{
	return c->state == CONN_OPEN && !c->eof && rap_server_session_wants_input(c->session) &&
	       c->srv->buffered < c->srv->max_buffered;
}

/* Read interest only while the session takes input: a client that does not read its
 * replies stops being read, instead of growing our memory. With no interest at all a
 * reset still wakes us (epoll reports hang-ups and errors always). */
static void conn_update_interest(struct conn *c)
{
	const uint8_t *data;
	size_t queued = rap_server_session_output(c->session, &data);
	unsigned want = 0;
	if (c->tls && c->state == CONN_HANDSHAKE) {
		want = rap_tls_wants(c->tls);
	} else {
		if (conn_wants_read(c))
			want |= RAP_LOOP_READ;
		else if (c->state == CONN_OPEN && !c->eof && rap_server_session_wants_input(c->session))
			mem_list(c); /* only the total of replies holds it back */
		if (queued > 0)
			want |= RAP_LOOP_WRITE;
		/* After the client's end of stream a TLS read has nothing left to wait for:
		 * read interest would only report that end again and again. */
		if (c->tls)
			want |= rap_tls_wants(c->tls) & (c->eof ? RAP_LOOP_WRITE : ~0u);
	}
	conn_set_interest(c, want);
}

static bool conn_handshake(struct conn *c)
{
	int rc = rap_tls_handshake(c->tls);
	if (rc == RAP_EAGAIN)
		return true;
	if (rc < 0) {
		srv_log(c->srv, 4, c->peer, "TLS handshake failed: %s", rap_tls_error(c->tls));
		rap_tls_free(c->tls);
		c->tls = NULL;
		if (shutdown(c->fd, SHUT_WR) < 0) {
			conn_close(c, 7, "closed after the failed handshake");
			return false;
		}
		c->state = CONN_LINGER;
		c->lingered = 0;
		conn_set_interest(c, RAP_LOOP_READ);
		rap_loop_timer_set(c->timer, LINGER_MS);
		return false;
	}
	c->state = CONN_OPEN;
	c->last_activity = rap_loop_now_ms();
	char subject[256];
	if (rap_tls_peer_subject(c->tls, subject, sizeof(subject)) > 0)
		srv_log(c->srv, 6, c->peer, "TLS established, client certificate %s", subject);
	else
		srv_log(c->srv, 6, c->peer, "TLS established");
	return true;
}

/* Reads up to the budget and runs what arrived. Returns false when the conn is gone.
 * hangup: the socket reported a hang-up or an error while we were not reading; read
 * anyway (the session holds back what it cannot run yet) to tell a reset, which ends the
 * connection, from a shut-down sending side, after which everything received is answered. */
static bool conn_read(struct conn *c, bool hangup)
{
	struct rap_server *srv = c->srv;
	uint8_t buf[READ_CHUNK];
	size_t budget = srv->read_budget;
	/* A handler that ended the session (rap_server_end_session) stops the reading. */
	while (budget > 0 && c->state == CONN_OPEN && !c->eof && (hangup || conn_wants_read(c))) {
		size_t want = budget < sizeof(buf) ? budget : sizeof(buf);
		ssize_t n = conn_recv(c, buf, want);
		if (n == RAP_EAGAIN)
			break;
		if (n == 0) {
			/* What was received is still answered (conn_step closes once it is). */
			c->eof = true;
			srv_log(srv, 7, c->peer, "client shut down its sending side");
			break;
		}
		if (n < 0) {
			conn_close(c, 5, rap_strerror((int)n));
			return false;
		}
		budget -= (size_t)n;
		c->last_activity = rap_loop_now_ms();
		ssize_t fed = rap_server_session_feed(c->session, buf, (size_t)n);
		conn_account(c);
		if (fed < 0) {
			/* Replies to the requests before the bad bytes are still owed: one
			 * non-blocking attempt, then the peer goes. */
			const uint8_t *out;
			size_t len = rap_server_session_output(c->session, &out);
			if (len > 0)
				conn_send(c, out, len);
			char why[300];
			snprintf(why, sizeof(why), "protocol error: %s", rap_server_session_error(c->session));
			conn_close(c, 4, why);
			return false;
		}
	}
	return true;
}

/* The request clock runs while a message is half-received, from when that message began
 * (approximately: the read that completed the previous one), so a pipeline of complete
 * messages never trips it and a dribbled one cannot extend it. */
static void conn_track_partial(struct conn *c)
{
	uint64_t done = rap_server_session_requests(c->session);
	if (!rap_server_session_partial(c->session)) {
		c->partial_since = 0;
	} else if (!c->partial_since || done != c->requests_seen) {
		c->partial_since = rap_loop_now_ms();
	}
	c->requests_seen = done;
}

/* Decrypted bytes held by OpenSSL never wake epoll: list the conn and let a 0 ms timer run
 * it on the loop's next pass, after the other ready connections. Only while the session
 * takes input, or the pass would read nothing and list it again (a busy loop). */
static void conn_list_tls_pending(struct conn *c)
{
	struct rap_server *srv = c->srv;
	if (!c->tls || c->state != CONN_OPEN || c->tls_pending_listed || !rap_tls_pending(c->tls) ||
	    !conn_wants_read(c))
		return;
	c->tls_pending_listed = true;
	c->pending_next = srv->tls_pending;
	srv->tls_pending = c;
	rap_loop_timer_set(srv->pending_timer, 0);
}

/* Drops what a peer sends after a failed handshake until it hangs up. */
static void conn_linger(struct conn *c)
{
	uint8_t buf[READ_CHUNK];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0 || (c->lingered += (size_t)n) > LINGER_MAX) {
			conn_close(c, 7, "closed after the failed handshake");
			return;
		}
	}
}

static void conn_step(struct conn *c, unsigned events)
{
	if (c->state == CONN_LINGER) {
		conn_linger(c);
		return;
	}
	if (c->state == CONN_HANDSHAKE) {
		if (!conn_handshake(c))
			return;
		if (c->state == CONN_HANDSHAKE) {
			conn_update_interest(c);
			conn_rearm(c);
			return;
		}
	}
	bool hup = (events & RAP_LOOP_HUP) != 0;
	if ((events & (RAP_LOOP_READ | RAP_LOOP_HUP)) && c->state == CONN_OPEN && !c->eof) {
		if (!conn_read(c, hup))
			return;
	} else if (hup && (c->state == CONN_OPEN || c->state == CONN_DRAINING)) {
		/* Not reading (the client's stream ended, or we are draining), so no read
		 * interest, so this is no end of stream: a reset or an error, which epoll reports
		 * whatever the interest, again and again. Nothing can be sent any more. */
		conn_close(c, 6, "peer went away");
		return;
	}
	if (c->state == CONN_OPEN && rap_server_session_closing(c->session)) {
		/* The session refused the client (authentication): the refusal goes out, then
		 * the connection closes. */
		c->state = CONN_DRAINING;
		c->hangup = true;
	}
	if (!conn_flush(c))
		return;
	if (!job_try_start(c))
		return;
	/* The end of a session that will not read again: once every request received is
	 * answered and the answers are taken. */
	if ((c->state == CONN_DRAINING || c->eof) && !c->job && rap_server_session_done(c->session)) {
		if (c->state == CONN_DRAINING)
			conn_close(c, 6, c->hangup ? "session ended" : "server shutting down");
		else if (rap_server_session_partial(c->session))
			conn_close(c, 6, "client disconnected in the middle of a request");
		else
			conn_close(c, 6, "client disconnected");
		return;
	}
	conn_track_partial(c);
	conn_list_tls_pending(c);
	/* An idle session keeps no buffers: with thousands of sessions that is most of the
	 * memory (the buffers grow back with the next request). */
	if (!c->tls_pending_listed)
		rap_server_session_release(c->session);
	conn_account(c);
	conn_update_interest(c);
	conn_rearm(c);
}

static void drain_tls_pending(struct rap_loop *loop, struct rap_loop_timer *t, void *user)
{
	(void)loop;
	(void)t;
	struct rap_server *srv = user;
	/* Bounded: each conn of this pass is unlisted before it runs; one that still has bytes
	 * after its budget lists itself on tls_pending for the next pass. A conn closed by
	 * another's callback leaves tls_draining through pending_remove. */
	srv->tls_draining = srv->tls_pending;
	srv->tls_pending = NULL;
	while (srv->tls_draining) {
		struct conn *c = srv->tls_draining;
		srv->tls_draining = c->pending_next;
		c->tls_pending_listed = false;
		conn_step(c, RAP_LOOP_READ);
	}
}

static void conn_io(struct rap_loop *loop, int fd, unsigned events, void *user)
{
	(void)loop;
	(void)fd;
	conn_step(user, events);
}

/* ---- commands: jobs on the worker pool ---------------------------------------------- */

static void job_free(struct job *j)
{
	if (!j)
		return;
	rap__free(j->cmd);
	free(j->out);
	rap__free(j);
}

static void job_cancel(struct job *j)
{
	atomic_store(&j->cancelled, true);
}

/* The request's checkpoint: the worker's turn (other commands may run meanwhile), and
 * whether the answer is still wanted. */
static bool job_checkpoint(const struct rap_cmd_request *req)
{
	struct job *j = req->owner;
	rap__pool_yield();
	return atomic_load(&j->cancelled);
}

/* On a worker (or, without a pool, on the loop's thread). */
static void job_run(struct rap__pool_job *pj)
{
	struct job *j = (struct job *)pj;
	const struct rap_server_handler *h = &j->srv->handler;
	if (atomic_load(&j->cancelled)) {
		j->rc = RAP_ECLOSED;
		return;
	}
	j->stopped = false;
	if (h->cmd_bounded)
		j->rc = h->cmd_bounded(j->ctx, &j->req, &j->out, &j->stopped);
	else
		j->rc = h->cmd(j->ctx, j->cmd, &j->out);
	if (j->rc == RAP_PENDING) {
		/* Nobody would complete it: the handler runs on our worker already. */
		free(j->out);
		j->out = NULL;
		j->rc = RAP_EINVAL;
	}
}

/* The session asks for a command: a job, answered when it comes back. */
static int job_new(struct conn *c, const struct rap_cmd_request *req)
{
	struct job *j = rap__calloc(1, sizeof(*j));
	char *cmd = rap__strdup(req->cmd);
	if (!j || !cmd) {
		rap__free(j);
		rap__free(cmd);
		srv_log(c->srv, 3, c->peer, "cannot queue a command: %s", rap_strerror(RAP_ENOMEM));
		return RAP_ENOMEM;
	}
	j->base.run = job_run;
	j->srv = c->srv;
	j->conn = c;
	j->ctx = c->ctx;
	j->cmd = cmd;
	j->want = req->max_output;
	atomic_init(&j->cancelled, false);
	c->job = j;
	return RAP_PENDING;
}

/* The pool, made with the first command. Without one (workers 0, or it cannot be made)
 * commands run on the loop's thread. */
static struct rap__pool *pool_get(struct rap_server *srv)
{
	if (srv->pool || srv->pool_failed || srv->workers == 0)
		return srv->pool;
	int rc = rap__pool_new(srv->workers, srv->workers * THREADS_PER_WORKER, SLICE_MS, &srv->pool);
	if (rc == 0)
		rc = rap_loop_add_fd(srv->loop, rap__pool_fd(srv->pool), RAP_LOOP_READ, on_jobs_done, srv);
	if (rc < 0) {
		rap__pool_free(srv->pool);
		srv->pool = NULL;
		srv->pool_failed = true;
		srv_log(srv, 3, NULL, "cannot start worker threads (%s): commands run on the event loop",
			rap_strerror(rc));
	}
	return srv->pool;
}

/* Answers c's job with what it brought back. Returns false when c is gone. */
static bool job_finish(struct conn *c, struct job *j)
{
	c->job = NULL;
	if (j->pinned && !c->thread) {
		c->thread = j->pinned;
		srv_log(c->srv, 6, c->peer, "session pinned to a worker thread of its own");
	}
	if (j->end_session && c->state == CONN_OPEN && !c->refusal) {
		c->state = CONN_DRAINING;
		c->hangup = true;
	}
	c->last_activity = rap_loop_now_ms();
	char *out = j->out;
	j->out = NULL;
	srv_log(c->srv, 7, c->peer, "command answered after %" PRIu64 " ms: %zu bytes%s%s",
		c->last_activity - j->started_ms, out ? strlen(out) : 0, j->stopped ? ", stopped at its bound" : "",
		j->rc < 0 ? ", failed" : "");
	int rc = rap_server_session_complete(c->session, j->rc, out, j->stopped);
	job_free(j);
	conn_account(c);
	if (rc < 0) {
		const uint8_t *data;
		size_t len = rap_server_session_output(c->session, &data);
		if (len > 0)
			conn_send(c, data, len);
		char why[300];
		snprintf(why, sizeof(why), "protocol error: %s", rap_server_session_error(c->session));
		conn_close(c, 4, why);
		return false;
	}
	return true;
}

/* Starts c's job once the client has taken the replies before it and the command's bound
 * fits in the memory left, then answers it if it ran here. Returns false when c is gone. */
static bool job_try_start(struct conn *c)
{
	struct rap_server *srv = c->srv;
	while (c->job && !c->job->started) {
		struct job *j = c->job;
		const uint8_t *data;
		if (rap_server_session_output(c->session, &data) > 0)
			return true; /* the client reads first; the send timeout watches it */
		size_t grant = j->want < srv->session_buffered ? j->want : srv->session_buffered;
		if (grant == 0)
			grant = 1;
		if (!mem_fits(c, grant)) {
			if (!j->waits_logged) {
				srv_log(srv, 5, c->peer, "command waits for memory: %zu bytes of replies "
					"and commands under way (the limit is %zu)", srv->buffered, srv->max_buffered);
				j->waits_logged = true;
			}
			mem_list(c);
			return true;
		}
		mem_unlist(c);
		j->grant = grant;
		j->req = (struct rap_cmd_request){ j->cmd, grant, job_checkpoint, j };
		j->thread = c->thread;
		j->started = true;
		j->started_ms = rap_loop_now_ms();
		conn_account(c);
		srv_log(srv, 7, c->peer, "command started, its output bound %zu bytes", grant);
		struct rap__pool *pool = pool_get(srv);
		int rc = pool ? rap__pool_submit(pool, c->thread, &j->base) : 0;
		if (pool && rc == 0)
			return true;
		if (pool)
			srv_log(srv, 3, c->peer, "cannot hand a command to a worker (%s): it runs on the event loop",
				rap_strerror(rc));
		/* Here and now; the answer may let the session decode the next command. */
		job_run(&j->base);
		if (!job_finish(c, j))
			return false;
		if (!conn_flush(c))
			return false;
	}
	return true;
}

/* The pool's eventfd: commands came back. */
static void on_jobs_done(struct rap_loop *loop, int fd, unsigned events, void *user)
{
	(void)loop;
	(void)fd;
	(void)events;
	struct rap_server *srv = user;
	struct rap__pool_job *list = rap__pool_done(srv->pool);
	while (list) {
		struct job *j = (struct job *)list;
		list = list->next;
		struct conn *c = j->conn;
		if (c->zombie) {
			for (struct conn **pp = &srv->zombies; *pp; pp = &(*pp)->next) {
				if (*pp == c) {
					*pp = c->next;
					break;
				}
			}
			if (j->pinned && !c->thread)
				c->thread = j->pinned;
			srv_log(srv, 7, c->peer, "cancelled command returned after %" PRIu64 " ms",
				rap_loop_now_ms() - j->started_ms);
			c->job = NULL;
			conn_account(c);
			job_free(j);
			conn_release(c);
			continue;
		}
		if (job_finish(c, j))
			conn_step(c, 0);
	}
}

static void conn_accept(struct rap_server *srv, int fd, const struct sockaddr_storage *ss,
			struct rap_tls_config *tls)
{
	char peer[64];
	rap_format_sockaddr(ss, peer, sizeof(peer));
	/* A refused client is answered in-protocol (fd -1, an error text) on its first
	 * request; only a few at a time, so refusals cannot hold many descriptors. */
	const char *refusal = NULL;
	if (!rap_server_peer_allowed(srv, ss)) {
		srv_log(srv, 4, peer, "refused: address not in --allow-from");
		refusal = "address not allowed";
	} else if (srv->nconns - srv->nrefusing >= srv->max_sessions) {
		srv_log(srv, 4, peer, "refused: session limit (%zu) reached", srv->max_sessions);
		refusal = "session limit reached";
	}
	if (refusal && srv->nrefusing >= REFUSING_MAX) {
		close(fd);
		return;
	}
	struct conn *c = rap__calloc(1, sizeof(*c));
	if (!c) {
		srv_log(srv, 3, peer, "refused: out of memory");
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->refusal = refusal;
	if (refusal) {
		c->handler = (struct rap_server_handler){ .open = r_open, .read = r_read, .write = r_write,
							  .seek = r_seek, .close = r_close, .cmd = r_cmd, .log = r_log };
	} else {
		c->handler = (struct rap_server_handler){ .open = t_open, .read = t_read, .write = t_write,
							  .seek = t_seek, .close = t_close, .cmd = t_cmd, .log = t_log,
							  .cmd_bounded = t_cmd_bounded };
		/* The extension's messages only when the user's handler has them all. */
		if (srv->handler.pread && srv->handler.pwrite && srv->handler.stat) {
			c->handler.pread = t_pread;
			c->handler.pwrite = t_pwrite;
			c->handler.stat = t_stat;
		}
	}
	c->last_activity = rap_loop_now_ms();
	c->accepted = c->last_activity;
	c->state = tls ? CONN_HANDSHAKE : CONN_OPEN;
	int rc = rap_server_session_new(&c->handler, c, &c->session);
	if (rc == 0)
		rc = rap_server_session_set_max_payload(c->session, srv->max_payload);
	if (rc == 0 && srv->secret && !refusal)
		rc = rap_server_session_require_auth(c->session, srv->secret);
	if (rc == 0 && tls)
		rc = rap_tls_new(tls, fd, NULL, &c->tls);
	if (rc == 0) {
		c->timer = rap_loop_timer_new(srv->loop, conn_timeout, c);
		rc = c->timer ? 0 : RAP_ENOMEM;
	}
	if (rc == 0 && !refusal)
		rc = srv->cb.session_open(srv->user, peer, &c->ctx);
	if (rc == 0) {
		c->interest = RAP_LOOP_READ;
		rc = rap_loop_add_fd(srv->loop, fd, c->interest, conn_io, c);
	}
	if (rc < 0) {
		srv_log(srv, 3, peer, "refused: cannot set up a session: %s", rap_strerror(rc));
		if (c->ctx)
			srv->cb.session_close(srv->user, c->ctx);
		rap_loop_timer_free(c->timer);
		rap_tls_free(c->tls);
		rap_server_session_free(c->session);
		rap__free(c);
		close(fd);
		return;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	if (refusal)
		srv->nrefusing++;
	else
		srv_log(srv, 6, peer, "connected%s (%zu sessions)", tls ? " (TLS)" : "",
			srv->nconns - srv->nrefusing);
	conn_rearm(c);
	if (tls)
		conn_step(c, 0); /* start the handshake */
}

/* ---- listeners ---------------------------------------------------------------------- */

static void on_accept(void *user, void *sock_user, int fd, const struct sockaddr_storage *ss)
{
	conn_accept(user, fd, ss, sock_user);
}

static void on_accept_paused(void *user, int err, uint64_t pause_ms)
{
	struct rap_server *srv = user;
	/* One line a minute is enough while the shortage lasts. */
	uint64_t now = rap_loop_now_ms();
	if (!srv->accept_warned || now - srv->accept_warned >= 60000) {
		srv_log(srv, 4, NULL, "accept: %s; pausing accepts for %" PRIu64 " ms", strerror(-err), pause_ms);
		srv->accept_warned = now;
	}
}

int rap_server_add_listener(struct rap_server *srv, int fd, struct rap_tls_config *tls)
{
	if (fd < 0 || !srv->listener)
		return RAP_EINVAL;
	return rap_listener_add(srv->listener, fd, tls);
}

/* ---- shutdown ----------------------------------------------------------------------- */

/* The job the calling thread runs for srv, when it is one of srv's workers; NULL otherwise. */
static struct job *current_job(struct rap_server *srv)
{
	struct rap__pool_job *pj = rap__pool_current();
	if (!pj || pj->run != job_run)
		return NULL;
	struct job *j = (struct job *)pj;
	return j->srv == srv ? j : NULL;
}

void rap_server_end_session(struct rap_server *srv, void *ctx)
{
	/* From a command on a worker: the loop carries it out when the answer is back. */
	struct job *j = current_job(srv);
	if (j) {
		if (j->ctx == ctx)
			j->end_session = true;
		return;
	}
	/* Linear: called once per session at most, and sessions are few per server. */
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (c->ctx == ctx && !c->refusal && c->state == CONN_OPEN) {
			c->state = CONN_DRAINING;
			c->hangup = true;
			return;
		}
	}
}

int rap_server_pin_session(struct rap_server *srv, void *ctx)
{
	struct job *j = current_job(srv);
	if (!j || j->ctx != ctx)
		return RAP_EINVAL;
	if (j->thread || j->pinned)
		return 0; /* this is the session's own thread already */
	if (atomic_fetch_add(&srv->pinned, 1) >= PINNED_MAX) {
		atomic_fetch_sub(&srv->pinned, 1);
		return -EAGAIN;
	}
	j->pinned = rap__pool_pin_current(srv->pool);
	if (!j->pinned) {
		atomic_fetch_sub(&srv->pinned, 1);
		return RAP_EINVAL;
	}
	return 0;
}

/* on_done may free the server: it runs from a timer, never inside a loop over the
 * server's connections. */
static void check_done(struct rap_server *srv)
{
	if (srv->shutting_down && srv->nconns == 0 && srv->on_done)
		rap_loop_timer_set(srv->done_timer, 0);
}

static void run_done(struct rap_loop *loop, struct rap_loop_timer *t, void *user)
{
	(void)loop;
	(void)t;
	struct rap_server *srv = user;
	void (*done)(void *) = srv->on_done;
	srv->on_done = NULL;
	if (done && srv->nconns == 0)
		done(srv->on_done_user);
}

static void grace_over(struct rap_loop *loop, struct rap_loop_timer *t, void *user)
{
	(void)loop;
	(void)t;
	struct rap_server *srv = user;
	/* Bounded: every pass closes one connection. */
	while (srv->conns)
		conn_close(srv->conns, 5, "shutdown grace period over");
}

void rap_server_shutdown(struct rap_server *srv, uint64_t grace_ms, void (*on_done)(void *user), void *user)
{
	srv->shutting_down = true;
	srv->on_done = on_done;
	srv->on_done_user = user;
	rap_listener_free(srv->listener);
	srv->listener = NULL;
	struct conn *next;
	for (struct conn *c = srv->conns; c; c = next) {
		next = c->next;
		c->state = CONN_DRAINING;
		conn_step(c, 0);
	}
	if (srv->conns)
		rap_loop_timer_set(srv->grace_timer, grace_ms);
	check_done(srv);
}

void rap_server_free(struct rap_server *srv)
{
	if (!srv)
		return;
	srv->on_done = NULL;
	/* Commands under way are cancelled as their sessions close ... */
	while (srv->conns)
		conn_close(srv->conns, 7, "server freed");
	if (srv->pool) {
		/* ... and awaited: only then do their contexts go. */
		rap_loop_del_fd(srv->loop, rap__pool_fd(srv->pool));
		rap__pool_stop(srv->pool);
		struct rap__pool_job *list = rap__pool_done(srv->pool);
		while (list) {
			struct job *j = (struct job *)list;
			list = list->next;
			j->conn->job = NULL;
			job_free(j);
		}
	}
	while (srv->zombies) {
		struct conn *c = srv->zombies;
		srv->zombies = c->next;
		c->thread = NULL; /* the stopped pool took its threads */
		conn_release(c);
	}
	rap__pool_free(srv->pool);
	rap_listener_free(srv->listener);
	rap_loop_timer_free(srv->grace_timer);
	rap_loop_timer_free(srv->pending_timer);
	rap_loop_timer_free(srv->done_timer);
	rap_loop_timer_free(srv->mem_timer);
	rap__free(srv->allowed);
	rap__free(srv);
}
