/* The background servers of a core ("=&:PORT", "=t& PORT", "=h& PORT") and their thread.
 *
 * Threading. Background servers of a core all run on one more thread with its own
 * rap_loop, started with the first of them and joined when the last stops or the core is
 * freed. The user's thread talks to it only through a request queue (mutex, condition
 * variable, eventfd) and waits for each request to be carried out, so a start reports its
 * real errors and a stop is complete when the command returns. Nothing else is shared
 * between the two threads except the core's rap_io, which has its own lock (see
 * servers.c). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/loop.h>

#include "common.h"
#include "core_private.h"
#include "servers.h"

enum req_op { REQ_ADD, REQ_STOP, REQ_EXIT };

struct request {
	enum req_op op;
	struct rap__srv *srv;
	int result;
	bool done;
	struct request *next;
};

struct rap__servers {
	struct rap__srv *list; /* background servers, newest first; the user's thread only */
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
			r->result = rap__srv_attach(r->srv, loop);
			if (r->result < 0)
				rap__srv_detach(r->srv);
			break;
		case REQ_STOP:
			rap__srv_detach(r->srv);
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

int rap__srv_bg_start(struct rap_core *c, struct rap__srv *s)
{
	struct rap__servers *sv = servers_get(c);
	int rc = sv ? thread_start(sv) : RAP_ENOMEM;
	if (rc == 0) {
		struct request r = { .op = REQ_ADD, .srv = s };
		rc = submit(sv, &r);
	}
	if (rc < 0) {
		/* No background server left: no thread either. */
		if (sv && !sv->list)
			thread_stop(sv);
		return rc;
	}
	s->next = sv->list;
	sv->list = s;
	return 0;
}

void rap__srv_bg_stop(struct rap_core *c, struct rap__srv *s)
{
	struct rap__servers *sv = c->servers;
	struct request r = { .op = REQ_STOP, .srv = s };
	submit(sv, &r);
	for (struct rap__srv **p = &sv->list; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	rap__srv_free(s);
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
		rap__srv_bg_stop(c, sv->list);
	thread_stop(sv);
	pthread_cond_destroy(&sv->cond);
	pthread_mutex_destroy(&sv->lock);
	rap__free(sv);
	c->servers = NULL;
}

struct rap__srv *rap__srv_bg_list(const struct rap_core *c)
{
	return c->servers ? c->servers->list : NULL;
}
