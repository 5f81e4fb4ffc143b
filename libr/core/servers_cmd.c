/* The command thread of a TCP or HTTP server started from the prompt: the server's core
 * runs one command at a time there, so that the loop goes on meanwhile (sending a streamed
 * command's output as it comes, noticing a client that went away, Ctrl-C, the other
 * servers of the background thread).
 *
 * Threading. The loop's thread submits a job, takes a streamed job's output and learns of
 * its end; the command thread runs it on s->tmpl, which nothing else uses while a job runs
 * (between jobs, only the loop's thread reads the server). They share the job under lock,
 * and the command thread tells the loop through an eventfd it watches: once when a
 * stream's buffer stops being empty, once when the job is done. A stream's writer waits
 * while STREAM_HIGH bytes are not taken yet (a client that reads slowly slows the command
 * down instead of filling memory), until it is taken or cancelled. A cancelled job's
 * checkpoints (rap__core_interrupted) say so, and its stream takes no more. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rap/core.h>
#include <rap/io.h>
#include <rap/loop.h>

#include "common.h"
#include "core_private.h"
#include "servers.h"

#define STREAM_HIGH ((size_t)256 << 10) /* a stream's text not yet taken, before it waits */

struct rap__srv_cmd {
	struct rap__srv *srv;
	pthread_t thread;
	int event_fd;             /* the command thread -> the loop: news of the job */
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* a job to run, room in a stream, the end */
	struct rap__srv_job *job; /* submitted, its end not yet reported (under lock) */
	bool quit;                /* under lock */
};

void rap__srv_job_free(struct rap__srv_job *job)
{
	if (!job)
		return;
	rap__free(job->cmd);
	rap__free(job->text);
	rap__buf_free(&job->out);
	rap__free(job);
}

static void notify(struct rap__srv_cmd *q)
{
	uint64_t one = 1;
	/* EAGAIN: a wake-up is pending already, which is all we need. */
	ssize_t n = write(q->event_fd, &one, sizeof(one));
	(void)n;
}

static bool job_cancelled(const struct rap_cmd_request *req)
{
	struct rap__srv_job *j = req->owner;
	return atomic_load(&j->cancel);
}

struct sink {
	struct rap__srv_cmd *q;
	struct rap__srv_job *job;
};

/* A streamed job's text, on the command thread: waits while the loop has not taken enough. */
static int stream_sink(void *user, const char *data, size_t len)
{
	struct sink *k = user;
	struct rap__srv_cmd *q = k->q;
	struct rap__srv_job *j = k->job;
	pthread_mutex_lock(&q->lock);
	/* Bounded by the loop taking the text or cancelling the job (a client that stops
	 * reading is closed after its write timeout, which cancels). */
	while (j->out.len >= STREAM_HIGH && !atomic_load(&j->cancel) && !q->quit)
		pthread_cond_wait(&q->cond, &q->lock);
	int rc = -1;
	bool was_empty = j->out.len == 0;
	if (!atomic_load(&j->cancel) && !q->quit)
		rc = rap__buf_append(&j->out, data, len);
	pthread_mutex_unlock(&q->lock);
	if (rc == 0 && was_empty)
		notify(q);
	return rc;
}

static void run_job(struct rap__srv_cmd *q, struct rap__srv_job *j)
{
	struct rap__srv *s = q->srv;
	struct rap_core *c = s->tmpl;
	struct rap_cmd_request req = { .cmd = j->cmd, .checkpoint = job_cancelled, .owner = j };
	c->cancel_req = &req;
	if (j->stream) {
		if (c->fd >= 0 && rap_io_fd_perm(c->io, c->fd) < 0)
			rap__core_forget_fd(c, c->fd); /* the user closed it */
		size_t saved = c->output_max;
		c->output_max = RAP__SRV_STREAM_OUTPUT_MAX;
		struct sink k = { q, j };
		int rc = rap__core_cmd_stream(c, j->cmd, stream_sink, &k, NULL);
		c->output_max = saved;
		c->quit = false; /* a client's q ends nothing but its own request */
		pthread_mutex_lock(&q->lock);
		j->denied = rc == RAP_EDENIED;
		if (rc == RAP_ENOMEM && j->out.len == 0)
			(void)rap__buf_append(&j->out, "error: out of memory\n", 21);
	} else {
		size_t len = 0;
		bool denied = false;
		char *text = rap__srv_run_command(s, j->cmd, &len, &denied);
		pthread_mutex_lock(&q->lock);
		j->text = text;
		j->text_len = len;
		j->denied = denied;
	}
	c->cancel_req = NULL;
	j->done = true;
	pthread_mutex_unlock(&q->lock);
	notify(q);
}

static void *cmd_main(void *arg)
{
	struct rap__srv_cmd *q = arg;
	pthread_mutex_lock(&q->lock);
	/* Bounded by quit, which rap__srv_cmd_stop sets. */
	for (;;) {
		struct rap__srv_job *j = q->job;
		if (q->quit)
			break;
		if (!j || j->done) {
			pthread_cond_wait(&q->cond, &q->lock);
			continue;
		}
		pthread_mutex_unlock(&q->lock);
		run_job(q, j);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* The eventfd, on the loop's thread: reports the job's news to the connections. */
static void on_event(struct rap_loop *loop, int fd, unsigned events, void *user)
{
	struct rap__srv_cmd *q = user;
	uint64_t v;
	ssize_t n = read(q->event_fd, &v, sizeof(v));
	(void)n;
	pthread_mutex_lock(&q->lock);
	struct rap__srv_job *j = q->job;
	bool done = j && j->done;
	if (done)
		q->job = NULL;
	pthread_mutex_unlock(&q->lock);
	if (j)
		rap__srv_conn_job_news(q->srv, j, done);
}

static int cmd_start(struct rap__srv *s)
{
	struct rap__srv_cmd *q = rap__calloc(1, sizeof(*q));
	if (!q)
		return RAP_ENOMEM;
	q->srv = s;
	q->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int rc = q->event_fd < 0 ? -errno : 0;
	if (rc == 0 && pthread_mutex_init(&q->lock, NULL) != 0)
		rc = RAP_ENOMEM;
	if (rc < 0) {
		if (q->event_fd >= 0)
			close(q->event_fd);
		rap__free(q);
		return rc;
	}
	if (pthread_cond_init(&q->cond, NULL) != 0)
		rc = RAP_ENOMEM;
	if (rc == 0)
		rc = rap_loop_add_fd(s->loop, q->event_fd, RAP_LOOP_READ, on_event, q);
	if (rc == 0) {
		/* Signals belong to the user's thread (Ctrl-C at the prompt, a foreground
		 * server's SIGINT): the thread starts with every signal blocked. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = -pthread_create(&q->thread, NULL, cmd_main, q);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc < 0)
			rap_loop_del_fd(s->loop, q->event_fd);
	}
	if (rc < 0) {
		pthread_cond_destroy(&q->cond);
		pthread_mutex_destroy(&q->lock);
		close(q->event_fd);
		rap__free(q);
		return rc;
	}
	s->cmd = q;
	return 0;
}

int rap__srv_cmd_submit(struct rap__srv *s, struct rap__srv_job *job)
{
	if (!s->cmd) {
		int rc = cmd_start(s);
		if (rc < 0)
			return rc;
	}
	struct rap__srv_cmd *q = s->cmd;
	job->done = false;
	atomic_store(&job->cancel, false);
	pthread_mutex_lock(&q->lock);
	q->job = job;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

struct rap__srv_job *rap__srv_cmd_current(const struct rap__srv *s)
{
	struct rap__srv_cmd *q = s->cmd;
	if (!q)
		return NULL;
	pthread_mutex_lock(&q->lock);
	struct rap__srv_job *j = q->job;
	pthread_mutex_unlock(&q->lock);
	return j;
}

void rap__srv_cmd_cancel(struct rap__srv *s, struct rap__srv_job *job)
{
	struct rap__srv_cmd *q = s->cmd;
	atomic_store(&job->cancel, true);
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

int rap__srv_cmd_take(struct rap__srv *s, struct rap__srv_job *job, struct rap__buf *dst, bool *more)
{
	struct rap__srv_cmd *q = s->cmd;
	if (!q) {
		/* Stopped: whatever the job holds is the loop's alone. */
		*more = false;
		return 0;
	}
	pthread_mutex_lock(&q->lock);
	size_t n = job->out.len, room = dst->max - dst->len;
	if (n > room)
		n = room;
	int rc = n ? rap__buf_append(dst, job->out.data, n) : 0;
	if (rc == 0) {
		rap__buf_consume(&job->out, n);
		rc = (int)n;
	}
	*more = job->out.len != 0;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void rap__srv_cmd_stop(struct rap__srv *s)
{
	struct rap__srv_cmd *q = s->cmd;
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->quit = true;
	if (q->job)
		atomic_store(&q->job->cancel, true);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	rap_loop_del_fd(s->loop, q->event_fd);
	close(q->event_fd);
	/* Its end was never reported: the connection still waiting frees it with itself. */
	if (q->job && !q->job->conn)
		rap__srv_job_free(q->job);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	rap__free(q);
	s->cmd = NULL;
}
