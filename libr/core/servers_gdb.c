/* The gdbserver of the prompt ("=g PORT FILE [ARGS]", "=g& ..."): its program, opened once
 * when the command runs, is started under the debugger for each gdb that connects, one
 * connection at a time (another one is refused while a session lasts), and killed when
 * that connection ends (rap_core_gdb_serve, gdb_conn.c).
 *
 * Threading. Accepting is on the server's loop (the calling thread in the foreground, the
 * background servers' thread otherwise); each session runs on a thread of its own, since it
 * blocks while the program runs. The loop's thread starts, and at detach stops (stop_fd)
 * and joins, that thread; the lock guards only the finished flag the session thread sets
 * when it is done. A session's connection is closed when its thread is reaped. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/dbg.h>
#include <rap/io.h>
#include <rap/loop.h>

#include "common.h"
#include "core_private.h"
#include "servers.h"

#define ARGS_MAX 64

struct rap__gdb_srv {
	int prog_fd;     /* the program (owned) */
	char **argv;     /* heap, NULL-terminated, heap strings */
	int out_fd;      /* the program's output (borrowed: the prompt's error stream), or -1 */
	int stop_fd;     /* eventfd (owned): written at detach */

	pthread_mutex_t lock;
	bool finished;   /* under lock: the session thread is done */
	bool running;    /* loop thread: a session thread exists (joinable) */
	pthread_t thread;
	int conn_fd;     /* the session's connection (the session thread closes it) */
	char peer[64];
	FILE *log;       /* borrowed: the server's log, or NULL */
};

static void free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		rap__free(*a);
	rap__free(argv);
}

void rap__srv_gdb_free(struct rap__gdb_srv *g)
{
	if (!g)
		return;
	if (g->prog_fd >= 0)
		close(g->prog_fd);
	if (g->stop_fd >= 0)
		close(g->stop_fd);
	free_argv(g->argv);
	pthread_mutex_destroy(&g->lock);
	rap__free(g);
}

int rap__srv_gdb_new(struct rap_core *c, char *args, struct rap__gdb_srv **out)
{
	*out = NULL;
	char *save = NULL, *words[ARGS_MAX + 1];
	size_t n = 0;
	for (char *w = strtok_r(args, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == ARGS_MAX) {
			rap__core_errorf(c, "too many arguments for the program (at most %d)", ARGS_MAX - 1);
			return RAP_EINVAL;
		}
		words[n++] = w;
	}
	if (!n) {
		rap__core_errorf(c, "usage: =g PORT FILE [ARGS] (see '=g?')");
		return RAP_EINVAL;
	}
	struct rap__gdb_srv *g = rap__calloc(1, sizeof(*g));
	if (!g) {
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	g->prog_fd = g->stop_fd = g->conn_fd = -1;
	if (pthread_mutex_init(&g->lock, NULL) != 0) {
		rap__free(g);
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	int rc = 0;
	g->argv = rap__calloc(n + 1, sizeof(char *));
	for (size_t i = 0; g->argv && i < n; i++)
		if (!(g->argv[i] = rap__strdup(words[i])))
			rc = RAP_ENOMEM;
	if (!g->argv || rc < 0) {
		rap__srv_gdb_free(g);
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	g->prog_fd = rap_io_open_local(c->io, words[0], O_RDONLY);
	if (g->prog_fd < 0) {
		rc = g->prog_fd;
		rap__core_errorf(c, "%s: %s", words[0], rap_strerror(rc));
		rap__srv_gdb_free(g);
		return rc;
	}
	const char *why = rap_dbg_ptrace_denied_reason();
	if (why)
		fprintf(c->err, "warning: %s\n", why);
	g->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->stop_fd < 0) {
		rc = -errno;
		rap__core_errorf(c, "cannot start the gdb server: %s", rap_strerror(rc));
		rap__srv_gdb_free(g);
		return rc;
	}
	g->out_fd = c->err ? fileno(c->err) : -1;
	*out = g;
	return 0;
}

const char *rap__srv_gdb_program(const struct rap__gdb_srv *g)
{
	return g->argv[0];
}

static void *session_main(void *arg)
{
	struct rap__gdb_srv *g = arg;
	struct rap_core_gdb_opts o = {
		.prog_fd = g->prog_fd,
		.argv = (const char *const *)g->argv,
		.out_fd = g->out_fd,
		.stop_fd = g->stop_fd,
		.log = g->log,
		.peer = g->peer,
	};
	(void)rap_core_gdb_serve(g->conn_fd, &o); /* it logs why it could not start */
	/* conn_fd stays open until the loop's thread reaps this thread: it tells from it
	 * whether the client is still there. */
	pthread_mutex_lock(&g->lock);
	g->finished = true;
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* Joins the session thread once it is done; true when there is none left. */
static bool reap(struct rap__gdb_srv *g, bool wait)
{
	if (!g->running)
		return true;
	pthread_mutex_lock(&g->lock);
	bool done = g->finished;
	pthread_mutex_unlock(&g->lock);
	if (!done && !wait)
		return false;
	pthread_join(g->thread, NULL);
	close(g->conn_fd);
	g->conn_fd = -1;
	g->running = false;
	g->finished = false;
	return true;
}

/* Whether the session's client has gone (its session is ending: the program is being
 * killed and reaped, which takes moments). */
static bool client_gone(const struct rap__gdb_srv *g)
{
	struct pollfd p = { .fd = g->conn_fd, .events = POLLRDHUP };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void on_accept(struct rap_loop *loop, int fd, unsigned events, void *user)
{
	struct rap__srv *s = user;
	struct rap__gdb_srv *g = s->gdb;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (cfd < 0)
		return; /* gone before we took it, or out of descriptors: the next one may work */
	char peer[64];
	rap_format_sockaddr(&ss, peer, sizeof(peer));
	/* One session at a time; a session whose client left is waited for, so that a gdb
	 * that reconnects at once is not refused. */
	if (!reap(g, false) && !(client_gone(g) && reap(g, true))) {
		rap__srv_logf(s, "%s refused: a gdb session is in progress", peer);
		close(cfd);
		return;
	}
	g->conn_fd = cfd;
	snprintf(g->peer, sizeof(g->peer), "%s", peer);
	g->log = s->log;
	/* The session thread takes no signal: they belong to the user's thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&g->thread, NULL, session_main, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		rap__srv_logf(s, "%s refused: cannot start a thread: %s", peer, strerror(rc));
		close(cfd);
		return;
	}
	g->running = true;
}

int rap__srv_gdb_attach(struct rap__srv *s)
{
	for (size_t i = 0; i < s->nlisteners; i++) {
		int rc = rap_loop_add_fd(s->loop, s->listen_fds[i], RAP_LOOP_READ, on_accept, s);
		if (rc < 0) {
			for (size_t k = 0; k < i; k++)
				rap_loop_del_fd(s->loop, s->listen_fds[k]);
			return rc;
		}
	}
	s->gdb_attached = true;
	return 0;
}

void rap__srv_gdb_detach(struct rap__srv *s)
{
	struct rap__gdb_srv *g = s->gdb;
	if (!g || !s->gdb_attached)
		return;
	for (size_t i = 0; i < s->nlisteners; i++)
		if (s->listen_fds[i] >= 0)
			rap_loop_del_fd(s->loop, s->listen_fds[i]);
	s->gdb_attached = false;
	if (g->running) {
		uint64_t one = 1;
		ssize_t n = write(g->stop_fd, &one, sizeof(one));
		(void)n;
		reap(g, true);
		uint64_t v;
		n = read(g->stop_fd, &v, sizeof(v));
		(void)n;
	}
}
