/* One gdb connection (rap_core_gdb_serve, core.h): the socket's I/O around the protocol
 * engine (gdb_session.c), with the program started under the debugger (rap/dbg.h).
 *
 * Threading. The calling thread reads requests, answers them and runs the program. While
 * the program runs (continue or step, which may take forever), a watcher thread reads the
 * socket: an interrupt byte (0x03) from gdb, the end of the connection or the stop
 * descriptor interrupts the program (rap_dbg_interrupt, which works from any thread). What
 * else the watcher read goes back to the engine once the program stopped. The watcher
 * repeats the interrupt every INTERRUPT_RETRY_MS until the run ends, since the backend
 * forgets an interrupt that arrives before the run began. Nothing else is shared. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/dbg.h>
#include <rap/gdb_rsp.h>

#include "common.h"
#include "gdb_session.h"

#define PACKET_MAX RAP_GDB_PACKET_DEFAULT
#define READ_CHUNK 16384
#define IN_MAX (4u * PACKET_MAX + READ_CHUNK) /* received, not yet decoded */
#define OUT_MAX (8u * PACKET_MAX)             /* one request's answer, framed */
#define SEND_TIMEOUT_MS 30000                 /* without progress while answering */
#define INTERRUPT_RETRY_MS 50

struct conn {
	int fd;
	const struct rap_core_gdb_opts *o;
	struct rap_dbg *dbg;
	struct rap__gdb_session *s;
	struct rap__buf in, out;
	bool closed;  /* the peer went away, or stop_fd fired */
};

static void logf_conn(const struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logf_conn(const struct conn *c, const char *fmt, ...)
{
	FILE *log = c->o->log;
	if (!log)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(log, "gdb: %s ", c->o->peer ? c->o->peer : "client");
	vfprintf(log, fmt, ap);
	fputc('\n', log);
	fflush(log);
	va_end(ap);
}

/* ---- programs: the launcher of extended mode ------------------------------------------- */

static int start_program(struct conn *c, int prog_fd, const char *const *argv, struct rap_dbg **out)
{
	struct rap_dbg_start_opts so = { .out_fd = c->o->out_fd, .envp = NULL };
	int rc = rap_dbg_start(prog_fd, argv, &so, out);
	if (rc < 0) {
		const char *why = rc == -EPERM ? rap_dbg_ptrace_denied_reason() : NULL;
		logf_conn(c, "cannot start %s: %s%s%s", argv[0], rap_strerror(rc), why ? ": " : "", why ? why : "");
		return rc;
	}
	logf_conn(c, "debugging %s (pid %d)", argv[0], (int)rap_dbg_pid(*out));
	return 0;
}

/* vRun: "" is the default program (with the default arguments when gdb gives none);
 * another name is opened through io, or must be the default program's without one. */
static int launch(void *user, const char *const *argv, void **t)
{
	struct conn *c = user;
	const struct rap_core_gdb_opts *o = c->o;
	const char *use[RAP_GDB_RUN_ARGS_MAX + 2];
	size_t n = 0;
	int fd = -1;
	bool own = false;
	if (!argv[0][0] || (!o->io && o->argv && !strcmp(argv[0], o->argv[0]))) {
		if (o->prog_fd < 0) {
			logf_conn(c, "run: no default program (name one: set remote exec-file PATH)");
			return RAP_EINVAL;
		}
		fd = o->prog_fd;
		use[n++] = o->argv[0];
		for (size_t i = 1; argv[1] ? argv[i] != NULL : o->argv[i] != NULL; i++)
			use[n++] = argv[1] ? argv[i] : o->argv[i];
	} else if (o->io) {
		fd = rap_io_open_local(o->io, argv[0], O_RDONLY);
		if (fd < 0) {
			logf_conn(c, "run: %s: %s", argv[0], rap_strerror(fd));
			return fd;
		}
		own = true;
		for (size_t i = 0; argv[i]; i++)
			use[n++] = argv[i];
	} else {
		logf_conn(c, "run: %s refused: this server debugs %s only", argv[0], o->argv ? o->argv[0] : "nothing");
		return RAP_EDENIED;
	}
	use[n] = NULL;
	struct rap_dbg *d;
	int rc = start_program(c, fd, use, &d);
	if (own)
		close(fd);
	if (rc < 0)
		return rc;
	c->dbg = d;
	*t = d;
	return 0;
}

static void release(void *user, void *t)
{
	struct conn *c = user;
	logf_conn(c, "pid %d killed", (int)rap_dbg_pid(t));
	rap_dbg_free(t);
	if (c->dbg == t)
		c->dbg = NULL;
}

static bool stop_fired(int stop_fd)
{
	if (stop_fd < 0)
		return false;
	struct pollfd p = { .fd = stop_fd, .events = POLLIN };
	return poll(&p, 1, 0) > 0;
}

/* Sends out's bytes; false once the connection is unusable (closed is set). */
static bool flush_out(struct conn *c)
{
	size_t off = 0;
	while (off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p[2] = { { .fd = c->fd, .events = POLLOUT }, { .fd = c->o->stop_fd, .events = POLLIN } };
			/* poll ignores the stop entry when stop_fd is -1 */
			int r = poll(p, 2, SEND_TIMEOUT_MS);
			if (r < 0 && errno == EINTR)
				continue;
			if (r > 0 && !(p[1].revents & POLLIN))
				continue;
			logf_conn(c, "%s", r == 0 ? "stopped reading: dropped" : "dropped");
		}
		c->closed = true;
		c->out.len = 0;
		return false;
	}
	c->out.len = 0;
	return true;
}

/* ---- the watcher ------------------------------------------------------------------------- */

struct watcher {
	struct conn *c;
	int done_fd;         /* eventfd: the run is over */
	uint8_t buf[READ_CHUNK];
	size_t len;          /* bytes read meanwhile, for the engine */
	bool interrupt;      /* 0x03, end of connection or stop: keep interrupting */
	bool closed;
};

static void *watch(void *arg)
{
	struct watcher *w = arg;
	struct conn *c = w->c;
	/* Bounded by done_fd, which the runner writes once the program stopped. */
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = w->done_fd, .events = POLLIN },
			{ .fd = c->o->stop_fd, .events = POLLIN },
			{ .fd = w->closed || w->len == sizeof(w->buf) ? -1 : c->fd, .events = POLLIN },
		};
		int r = poll(p, 3, w->interrupt ? INTERRUPT_RETRY_MS : -1);
		if (r < 0 && errno != EINTR)
			w->interrupt = true;
		if (p[0].revents & POLLIN)
			break;
		if (p[1].revents & POLLIN) {
			w->closed = true;
			w->interrupt = true;
		}
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(c->fd, w->buf + w->len, sizeof(w->buf) - w->len, MSG_DONTWAIT);
			if (n > 0) {
				if (memchr(w->buf + w->len, 0x03, (size_t)n))
					w->interrupt = true;
				w->len += (size_t)n;
			} else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
				w->closed = true;
				w->interrupt = true;
			}
		}
		if (w->interrupt)
			rap_dbg_interrupt(c->dbg);
	}
	return NULL;
}

/* Runs the pending continue or step with a watcher; its stop reply goes to out, and what
 * gdb sent meanwhile to in. Without a watcher thread (no memory, no thread) the run goes
 * on unwatched. */
static int run(struct conn *c)
{
	struct watcher *w = rap__calloc(1, sizeof(*w));
	pthread_t th;
	bool watching = false;
	if (w) {
		w->c = c;
		w->done_fd = eventfd(0, EFD_CLOEXEC);
		if (w->done_fd >= 0) {
			/* Signals stay with the threads that expect them. */
			sigset_t all, old;
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			watching = pthread_create(&th, NULL, watch, w) == 0;
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
	}
	if (!watching)
		logf_conn(c, "cannot watch for interrupts while the program runs");
	int rc = rap__gdb_session_resume(c->s, &c->out);
	if (watching) {
		uint64_t one = 1;
		ssize_t n = write(w->done_fd, &one, sizeof(one));
		(void)n;
		pthread_join(th, NULL);
		if (w->closed)
			c->closed = true;
		if (rc == 0 && w->len)
			rc = rap__buf_append(&c->in, w->buf, w->len);
	}
	if (w) {
		if (w->done_fd >= 0)
			close(w->done_fd);
		rap__free(w);
	}
	return rc;
}

/* ---- the connection ---------------------------------------------------------------------- */

/* Reads what gdb sent into in; false once the connection ends. */
static bool read_more(struct conn *c)
{
	uint8_t chunk[READ_CHUNK];
	/* Bounded by the peer: each round reads, or ends the connection. */
	for (;;) {
		struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN }, { .fd = c->o->stop_fd, .events = POLLIN } };
		int r = poll(p, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (p[1].revents & POLLIN))
			return false;
		ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0)
			return false;
		if (rap__buf_append(&c->in, chunk, (size_t)n) < 0) {
			logf_conn(c, "sends faster than it reads: dropped");
			return false;
		}
		return true;
	}
}

static void serve(struct conn *c)
{
	/* Bounded by the connection: every round consumes input or reads more. */
	while (!c->closed) {
		if (!c->in.len) {
			if (!read_more(c))
				break;
			continue;
		}
		size_t used = 0;
		int rc = rap__gdb_session_input(c->s, c->in.data, c->in.len, &used, &c->out);
		rap__buf_consume(&c->in, used);
		if (rc == RAP__GDB_RESUME && flush_out(c))
			rc = run(c);
		if (rc < 0) {
			logf_conn(c, "%s: dropped", rap_strerror(rc));
			break;
		}
		if (!flush_out(c))
			break;
		if (rc == RAP__GDB_CLOSE) {
			logf_conn(c, "killed or detached the program");
			break;
		}
	}
}

int rap_core_gdb_serve(int fd, const struct rap_core_gdb_opts *o)
{
	if (fd < 0 || !o || (o->prog_fd < 0 && !o->io) || (o->prog_fd >= 0 && (!o->argv || !o->argv[0])))
		return RAP_EINVAL;
	struct conn c = { .fd = fd, .o = o };
	rap__buf_init(&c.in, IN_MAX);
	rap__buf_init(&c.out, OUT_MAX);
	int rc = o->prog_fd >= 0 ? start_program(&c, o->prog_fd, o->argv, &c.dbg) : 0;
	if (rc < 0)
		return rc;
	if (!c.dbg)
		logf_conn(&c, "connected; no program until gdb runs one (extended-remote)");
	rc = rap__gdb_session_new(&rap__gdb_dbg_ops, c.dbg, PACKET_MAX, &c.s);
	if (rc < 0) {
		rap_dbg_free(c.dbg);
		return rc;
	}
	struct rap__gdb_launcher l = { launch, release, &c };
	rap__gdb_session_set_launcher(c.s, &l);
	if (!stop_fired(o->stop_fd))
		serve(&c);
	size_t packets, bad;
	rap__gdb_session_stats(c.s, &packets, &bad);
	if (c.dbg)
		logf_conn(&c, "session over (%zu requests, %zu bad packets); pid %d killed", packets, bad,
			  (int)rap_dbg_pid(c.dbg));
	else
		logf_conn(&c, "session over (%zu requests, %zu bad packets)", packets, bad);
	rap__gdb_session_free(c.s);
	rap_dbg_free(c.dbg); /* kills and reaps it */
	shutdown(fd, SHUT_WR); /* the client sees the end now, whenever the caller closes fd */
	rap__buf_free(&c.in);
	rap__buf_free(&c.out);
	return 0;
}
