/* rap_listener (rap/listener.h): the accept loop every server shares. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rap/listener.h>

#include "common.h"

/* One listening socket. */
struct lsock {
	struct rap_listener *l;
	int fd;
	void *user; /* sock_user, borrowed */
	struct lsock *next;
};

struct rap_listener {
	struct rap_loop *loop;
	struct rap_listener_callbacks cb;
	void *user;
	struct lsock *socks;
	struct rap_loop_timer *pause;
	bool paused;
	/* Accept callbacks may free the listener: while they run, rap_listener_free closes the
	 * sockets and leaves the struct to the accept loop, which frees it when it ends. */
	bool dispatching;
	bool freed;
};

static void set_interest(struct rap_listener *l, unsigned events)
{
	for (struct lsock *s = l->socks; s; s = s->next)
		rap_loop_mod_fd(l->loop, s->fd, events);
}

static void resume(struct rap_loop *loop, struct rap_loop_timer *t, void *user)
{
	(void)loop;
	(void)t;
	struct rap_listener *l = user;
	l->paused = false;
	set_interest(l, RAP_LOOP_READ);
}

/* Out of descriptors or memory: stop watching the sockets for a while, since a listener
 * with a connection waiting stays readable and would turn the loop into a busy loop. */
static void pause_accepts(struct rap_listener *l, int err)
{
	l->paused = true;
	set_interest(l, 0);
	rap_loop_timer_set(l->pause, RAP_LISTENER_PAUSE_MS);
	if (l->cb.paused)
		l->cb.paused(l->user, err, RAP_LISTENER_PAUSE_MS);
}

static void sock_io(struct rap_loop *loop, int fd, unsigned events, void *user)
{
	(void)loop;
	(void)events;
	struct lsock *s = user;
	struct rap_listener *l = s->l;
	void *sock_user = s->user; /* s is gone if a callback frees l */
	l->dispatching = true;
	for (int i = 0; i < RAP_LISTENER_ACCEPTS_PER_EVENT && !l->freed; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				pause_accepts(l, -errno);
			break; /* EAGAIN, ECONNABORTED, EINTR: nothing more now */
		}
		l->cb.accept(l->user, sock_user, cfd, &ss);
	}
	l->dispatching = false;
	if (l->freed)
		rap__free(l);
}

int rap_listener_new(struct rap_loop *loop, const struct rap_listener_callbacks *cb, void *user,
		     struct rap_listener **out)
{
	if (!loop || !cb || !cb->accept || !out)
		return RAP_EINVAL;
	struct rap_listener *l = rap__calloc(1, sizeof(*l));
	if (!l)
		return RAP_ENOMEM;
	l->loop = loop;
	l->cb = *cb;
	l->user = user;
	l->pause = rap_loop_timer_new(loop, resume, l);
	if (!l->pause) {
		rap__free(l);
		return RAP_ENOMEM;
	}
	*out = l;
	return 0;
}

int rap_listener_add(struct rap_listener *l, int fd, void *sock_user)
{
	if (fd < 0)
		return RAP_EINVAL;
	struct lsock *s = rap__calloc(1, sizeof(*s));
	if (!s)
		return RAP_ENOMEM;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rap__free(s);
		return -errno;
	}
	s->l = l;
	s->fd = fd;
	s->user = sock_user;
	int rc = rap_loop_add_fd(l->loop, fd, l->paused ? 0 : RAP_LOOP_READ, sock_io, s);
	if (rc < 0) {
		rap__free(s);
		return rc;
	}
	s->next = l->socks;
	l->socks = s;
	return 0;
}

void rap_listener_free(struct rap_listener *l)
{
	if (!l || l->freed)
		return;
	while (l->socks) {
		struct lsock *s = l->socks;
		l->socks = s->next;
		rap_loop_del_fd(l->loop, s->fd);
		close(s->fd);
		rap__free(s);
	}
	rap_loop_timer_free(l->pause);
	l->pause = NULL;
	l->freed = true;
	if (!l->dispatching)
		rap__free(l);
}
