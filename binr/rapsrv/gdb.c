/* rapsrv's gdbserver (gdb.h). Accepting is on the daemon's loop, through a rap_listener
 * (bounded accepts, pauses when out of descriptors); each connection from an allowed
 * network, up to max_sessions at once, gets a thread that opens the program beneath the
 * root and serves gdb on it until the connection ends (rap_core_gdb_serve kills the
 * program then). Stopping writes one eventfd every session watches.
 *
 * Threading. The loop's thread owns the list of sessions; a session thread only sets its
 * done flag (under lock) and writes nothing else. Finished threads are joined on the next
 * accept and at the end. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/listener.h>
#include <rap/rap.h>

#include "gdb.h"

#define LOG_WARN 4
#define LOG_NOTICE 5
#define LOG_INFO 6

struct session {
	struct rapsrv_gdb *g;
	int fd;
	char peer[64];
	pthread_t thread;
	bool done; /* under g->lock */
	struct session *next;
};

struct rapsrv_gdb {
	struct rapsrv_gdb_config cfg;
	struct rap_listener *listener;
	int stop_fd;             /* eventfd: every session ends when it is written */
	pthread_mutex_t lock;    /* the done flags */
	struct session *sessions;
	size_t nsessions;
	FILE *log;               /* lines of the sessions, to cfg.log */
};

/* ---- logging ------------------------------------------------------------------------------ */

/* The sessions write lines to a FILE (rap_core_gdb_serve's log): each goes to cfg.log. */
static ssize_t log_write(void *cookie, const char *buf, size_t size)
{
	struct rapsrv_gdb *g = cookie;
	char line[512];
	size_t n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
	memcpy(line, buf, n);
	while (n && line[n - 1] == '\n')
		n--;
	line[n] = '\0';
	if (n)
		g->cfg.log(LOG_INFO, NULL, line);
	return (ssize_t)size;
}

/* ---- sessions ----------------------------------------------------------------------------- */

static void *session_main(void *arg)
{
	struct session *s = arg;
	struct rapsrv_gdb *g = s->g;
	/* Without a program, gdb names one (extended-remote: set remote exec-file, run). */
	int prog = g->cfg.program ? rap_io_open_local(g->cfg.root, g->cfg.program, O_RDONLY) : -1;
	if (prog < 0 && g->cfg.program) {
		char msg[512];
		snprintf(msg, sizeof(msg), "gdb: cannot open %s: %s", g->cfg.program, rap_strerror(prog));
		g->cfg.log(LOG_WARN, s->peer, msg);
	} else {
		const char *argv[] = { g->cfg.program, NULL };
		struct rap_core_gdb_opts o = {
			.prog_fd = prog,
			.argv = g->cfg.program ? argv : NULL,
			.io = g->cfg.root,
			.out_fd = g->cfg.out_fd,
			.stop_fd = g->stop_fd,
			.log = g->log,
			.peer = s->peer,
		};
		(void)rap_core_gdb_serve(s->fd, &o); /* it logs why it could not start */
		if (prog >= 0)
			close(prog);
	}
	shutdown(s->fd, SHUT_RDWR);
	pthread_mutex_lock(&g->lock);
	s->done = true;
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* Joins finished sessions (all of them, waiting, when wait is set). */
static void reap(struct rapsrv_gdb *g, bool wait)
{
	for (struct session **p = &g->sessions; *p;) {
		struct session *s = *p;
		pthread_mutex_lock(&g->lock);
		bool done = s->done;
		pthread_mutex_unlock(&g->lock);
		if (!done && !wait) {
			p = &s->next;
			continue;
		}
		pthread_join(s->thread, NULL);
		close(s->fd);
		*p = s->next;
		g->nsessions--;
		free(s);
	}
}

static void on_accept(void *user, void *sock_user, int fd, const struct sockaddr_storage *peer)
{
	(void)sock_user;
	struct rapsrv_gdb *g = user;
	char addr[64];
	rap_format_sockaddr(peer, addr, sizeof(addr));
	if (!rap_server_peer_allowed(g->cfg.server, peer)) {
		g->cfg.log(LOG_NOTICE, addr, "gdb: refused: not in --allow-from");
		close(fd);
		return;
	}
	reap(g, false);
	if (g->nsessions >= g->cfg.max_sessions) {
		g->cfg.log(LOG_WARN, addr, "gdb: refused: --max-sessions reached");
		close(fd);
		return;
	}
	struct session *s = calloc(1, sizeof(*s));
	if (!s) {
		g->cfg.log(LOG_WARN, addr, "gdb: refused: out of memory");
		close(fd);
		return;
	}
	s->g = g;
	s->fd = fd;
	snprintf(s->peer, sizeof(s->peer), "%s", addr);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&s->thread, NULL, session_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		g->cfg.log(LOG_WARN, addr, "gdb: refused: cannot start a thread");
		close(fd);
		free(s);
		return;
	}
	s->next = g->sessions;
	g->sessions = s;
	g->nsessions++;
}

int rapsrv_gdb_start(struct rap_loop *loop, const int *fds, size_t n, const struct rapsrv_gdb_config *cfg,
		     struct rapsrv_gdb **out)
{
	*out = NULL;
	struct rapsrv_gdb *g = calloc(1, sizeof(*g));
	int rc = g ? 0 : RAP_ENOMEM;
	size_t added = 0;
	if (rc == 0) {
		g->cfg = *cfg;
		g->stop_fd = -1;
		pthread_mutex_init(&g->lock, NULL);
		g->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (g->stop_fd < 0)
			rc = -errno;
	}
	if (rc == 0) {
		cookie_io_functions_t io = { .write = log_write };
		g->log = fopencookie(g, "w", io);
		if (!g->log)
			rc = RAP_ENOMEM;
		else
			setvbuf(g->log, NULL, _IOLBF, 0);
	}
	struct rap_listener_callbacks cb = { .accept = on_accept };
	if (rc == 0)
		rc = rap_listener_new(loop, &cb, g, &g->listener);
	for (; rc == 0 && added < n; added++)
		rc = rap_listener_add(g->listener, fds[added], NULL);
	if (rc < 0) {
		/* the socket that failed and the ones after it are still ours */
		for (size_t i = added ? added - 1 : 0; i < n; i++)
			close(fds[i]);
		rapsrv_gdb_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void rapsrv_gdb_stop(struct rapsrv_gdb *g)
{
	if (!g)
		return;
	rap_listener_free(g->listener);
	g->listener = NULL;
	uint64_t one = 1;
	ssize_t n = write(g->stop_fd, &one, sizeof(one));
	(void)n;
}

void rapsrv_gdb_free(struct rapsrv_gdb *g)
{
	if (!g)
		return;
	rapsrv_gdb_stop(g);
	reap(g, true);
	if (g->log)
		fclose(g->log);
	if (g->stop_fd >= 0)
		close(g->stop_fd);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
