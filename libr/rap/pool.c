/* The worker pool behind rap_server (pool.h): jobs run off the event loop, each on a
 * thread of its own; long ones a few at a time, in turns.
 *
 * Why a thread per job in progress rather than one per CPU: a command is plain C code that
 * cannot be suspended halfway except by blocking its thread. With as many threads as CPUs,
 * four long commands would hold all of them and a short one would wait seconds behind
 * them. So each job in progress has its own thread. A job runs its first slice at once,
 * without a turn: most commands are short and are done by then, and none of them waits
 * behind a long one. A job still running at a checkpoint (rap__pool_yield) after its first
 * slice is a long one: its thread drops to a lower CPU priority, so that the event loop and
 * short jobs get the CPUs first, and it takes one of `running` turns, waiting in line when
 * they are all held. A long job that reaches a checkpoint after a slice with its turn,
 * while another waits, gives the turn to the next one: jobs waiting for their first turn
 * first, then the ones that yielded, in order. (Turns taken only at checkpoints mean that a
 * starved long job, at its low priority, can hold one a while; but no short job ever waits
 * for it.)
 *
 * Threading. One mutex guards the pool; each thread has a condition variable of its own
 * (its turn, its pinned jobs) and unpinned idle threads share `work`. The thread that
 * submits (the event loop) is never blocked for long: submit only queues and, at most,
 * starts a thread or joins one that has already ended. Finished jobs come back through an
 * eventfd the loop watches. Worker threads block every signal: the loop takes them from a
 * signalfd, which only works while no thread leaves them unblocked. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rap/rap.h>

#include "common.h"
#include "pool.h"

#define RUNNING_MAX 256u
/* How much lower a long job's thread runs (nice), see rap__pool_yield. */
#define LONG_JOB_NICE 10

struct rap__pool_thread {
	struct rap__pool *pool;
	pthread_t id;
	pthread_cond_t wake;        /* a turn granted, a job for the pinned thread, stopping */
	struct rap__pool_job *job;  /* the job it runs now; written under the lock */
	struct rap__pool_job *own_head, *own_tail; /* queued for this thread only */
	bool pinned;
	bool granted;               /* a turn was handed to it while it waited in line */
	bool ended;                 /* its function returned: join and free it */
	bool demoted;               /* runs at a lower priority since its job ran long */
	bool has_turn;              /* its job, a long one, holds a turn; this thread only */
	uint64_t turn_start;        /* ns; this thread only */
	uint64_t job_start;         /* ns; this thread only */
	struct rap__pool_thread *line_next; /* in a line for a turn */
	struct rap__pool_thread *next;      /* every thread of the pool */
};

struct rap__pool {
	pthread_mutex_t mu;         /* everything below but `waiting` and the constants */
	pthread_cond_t work;        /* idle unpinned threads */
	struct rap__pool_job *head, *tail; /* queued for any unpinned thread */
	unsigned queued;
	struct rap__pool_thread *threads;
	unsigned nthreads;          /* started and not ended */
	unsigned nfree;             /* the unpinned ones among them */
	unsigned idle;              /* unpinned ones waiting for work */
	unsigned max_free;          /* `threads` of rap__pool_new */
	unsigned turns;             /* free turns */
	struct rap__pool_thread *fresh_head, *fresh_tail;     /* waiting for a first turn */
	struct rap__pool_thread *yielded_head, *yielded_tail; /* waiting for a next one */
	atomic_uint waiting;        /* threads in either line; read without the lock */
	uint64_t slice_ns;
	struct rap__pool_job *done_head, *done_tail;
	unsigned in_progress;       /* submitted, not yet taken back */
	int efd;
	bool stopping;
	bool stopped;
};

/* The worker the calling thread is, or NULL. */
static _Thread_local struct rap__pool_thread *self;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- turns (the lock is held) ------------------------------------------------------ */

static void line_append(struct rap__pool_thread **head, struct rap__pool_thread **tail,
			struct rap__pool_thread *t)
{
	t->line_next = NULL;
	if (*tail)
		(*tail)->line_next = t;
	else
		*head = t;
	*tail = t;
}

static struct rap__pool_thread *line_pop(struct rap__pool_thread **head, struct rap__pool_thread **tail)
{
	struct rap__pool_thread *t = *head;
	if (t) {
		*head = t->line_next;
		if (!*head)
			*tail = NULL;
	}
	return t;
}

/* Takes a turn for t: a free one when nobody is in line, else it waits in its line. */
static void turn_take(struct rap__pool *p, struct rap__pool_thread *t, bool yielded)
{
	if (p->turns > 0 && !p->fresh_head && !p->yielded_head) {
		p->turns--;
	} else {
		t->granted = false;
		if (yielded)
			line_append(&p->yielded_head, &p->yielded_tail, t);
		else
			line_append(&p->fresh_head, &p->fresh_tail, t);
		atomic_fetch_add(&p->waiting, 1);
		while (!t->granted)
			pthread_cond_wait(&t->wake, &p->mu);
	}
	t->turn_start = now_ns();
}

/* Hands a turn to the first in line (a fresh job before a yielded one), or frees it. */
static void turn_give(struct rap__pool *p)
{
	struct rap__pool_thread *t = line_pop(&p->fresh_head, &p->fresh_tail);
	if (!t)
		t = line_pop(&p->yielded_head, &p->yielded_tail);
	if (!t) {
		p->turns++;
		return;
	}
	atomic_fetch_sub(&p->waiting, 1);
	t->granted = true;
	pthread_cond_signal(&t->wake);
}

/* ---- threads ------------------------------------------------------------------------ */

static struct rap__pool_job *take_job(struct rap__pool *p, struct rap__pool_thread *t)
{
	struct rap__pool_job *j = t->own_head;
	if (j) {
		t->own_head = j->next;
		if (!t->own_head)
			t->own_tail = NULL;
		return j;
	}
	if (t->pinned || !(j = p->head))
		return NULL;
	p->head = j->next;
	if (!p->head)
		p->tail = NULL;
	p->queued--;
	return j;
}

static int start_thread(struct rap__pool *p, bool pinned, struct rap__pool_thread **out);

static void *thread_main(void *arg)
{
	struct rap__pool_thread *t = arg;
	struct rap__pool *p = t->pool;
	self = t;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct rap__pool_job *j = take_job(p, t);
		if (j) {
			/* Its first slice needs no turn (see the top of the file). */
			t->job = j;
			t->has_turn = false;
			t->job_start = now_ns();
			pthread_mutex_unlock(&p->mu);
			j->run(j);
			pthread_mutex_lock(&p->mu);
			t->job = NULL;
			if (t->has_turn)
				turn_give(p);
			j->next = NULL;
			if (p->done_tail)
				p->done_tail->next = j;
			else
				p->done_head = j;
			p->done_tail = j;
			uint64_t one = 1;
			/* EAGAIN: the counter is already non-zero, which is all the loop needs. */
			ssize_t n = write(p->efd, &one, sizeof one);
			(void)n;
			/* A demoted thread cannot raise its priority again (that takes privileges):
			 * it ends, and the next job gets a fresh thread. */
			if (t->demoted && !t->pinned) {
				if (p->queued > p->idle && !p->stopping)
					(void)start_thread(p, false, NULL);
				break;
			}
			continue;
		}
		/* Nothing to run: stop with the pool, or end when unpinned beyond the limit. */
		if (p->stopping || (!t->pinned && p->nfree > p->max_free))
			break;
		if (t->pinned) {
			pthread_cond_wait(&t->wake, &p->mu);
		} else {
			p->idle++;
			pthread_cond_wait(&p->work, &p->mu);
			p->idle--;
		}
	}
	t->ended = true;
	p->nthreads--;
	if (!t->pinned)
		p->nfree--;
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Starts a thread (the lock is held). */
static int start_thread(struct rap__pool *p, bool pinned, struct rap__pool_thread **out)
{
	struct rap__pool_thread *t = rap__calloc(1, sizeof *t);
	if (!t)
		return RAP_ENOMEM;
	t->pool = p;
	t->pinned = pinned;
	int rc = pthread_cond_init(&t->wake, NULL);
	if (rc != 0) {
		rap__free(t);
		return -rc;
	}
	/* Asynchronous signals go to the loop's thread; the ones a thread's own fault raises
	 * stay deliverable here, so their handlers run (a blocked SIGSYS or SIGSEGV makes the
	 * kernel kill the process without them: no last log line from the sandbox). */
	sigset_t all, old;
	sigfillset(&all);
	static const int faults[] = { SIGSYS, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP };
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigdelset(&all, faults[i]);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t->id, NULL, thread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&t->wake);
		rap__free(t);
		return -rc;
	}
	t->next = p->threads;
	p->threads = t;
	p->nthreads++;
	if (!pinned)
		p->nfree++;
	if (out)
		*out = t;
	return 0;
}

/* Joins and frees the threads that ended (the lock is held; they no longer need it). */
static void reap(struct rap__pool *p)
{
	for (struct rap__pool_thread **pp = &p->threads; *pp;) {
		struct rap__pool_thread *t = *pp;
		if (!t->ended) {
			pp = &t->next;
			continue;
		}
		*pp = t->next;
		pthread_join(t->id, NULL);
		pthread_cond_destroy(&t->wake);
		rap__free(t);
	}
}

/* ---- public (internal) API ----------------------------------------------------------- */

int rap__pool_new(unsigned running, unsigned threads, unsigned slice_ms, struct rap__pool **out)
{
	if (!out)
		return RAP_EINVAL;
	*out = NULL;
	if (running == 0 || running > RUNNING_MAX || threads < running || slice_ms == 0)
		return RAP_EINVAL;
	struct rap__pool *p = rap__calloc(1, sizeof *p);
	if (!p)
		return RAP_ENOMEM;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0) {
		int err = -errno;
		rap__free(p);
		return err;
	}
	int rc = pthread_mutex_init(&p->mu, NULL);
	if (rc == 0 && (rc = pthread_cond_init(&p->work, NULL)) != 0)
		pthread_mutex_destroy(&p->mu);
	if (rc != 0) {
		close(p->efd);
		rap__free(p);
		return -rc;
	}
	p->max_free = threads;
	p->turns = running;
	p->slice_ns = (uint64_t)slice_ms * 1000000u;
	atomic_init(&p->waiting, 0);
	*out = p;
	return 0;
}

void rap__pool_stop(struct rap__pool *p)
{
	if (!p || p->stopped)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	for (struct rap__pool_thread *t = p->threads; t; t = t->next)
		pthread_cond_signal(&t->wake);
	struct rap__pool_thread *list = p->threads;
	p->threads = NULL;
	pthread_mutex_unlock(&p->mu);
	/* Every thread runs what it can take, then ends; none is added once stopping. */
	while (list) {
		struct rap__pool_thread *t = list;
		list = t->next;
		pthread_join(t->id, NULL);
		pthread_cond_destroy(&t->wake);
		rap__free(t);
	}
	p->stopped = true;
}

void rap__pool_free(struct rap__pool *p)
{
	if (!p)
		return;
	rap__pool_stop(p);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	close(p->efd);
	rap__free(p);
}

int rap__pool_fd(const struct rap__pool *p)
{
	return p->efd;
}

struct rap__pool_job *rap__pool_done(struct rap__pool *p)
{
	uint64_t v;
	ssize_t n = read(p->efd, &v, sizeof v);
	(void)n;
	pthread_mutex_lock(&p->mu);
	struct rap__pool_job *list = p->done_head;
	p->done_head = p->done_tail = NULL;
	for (struct rap__pool_job *j = list; j; j = j->next)
		p->in_progress--;
	pthread_mutex_unlock(&p->mu);
	return list;
}

int rap__pool_submit(struct rap__pool *p, struct rap__pool_thread *thread, struct rap__pool_job *job)
{
	if (!p || !job || !job->run)
		return RAP_EINVAL;
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		return RAP_EINVAL;
	}
	reap(p);
	job->next = NULL;
	if (thread) {
		if (thread->own_tail)
			thread->own_tail->next = job;
		else
			thread->own_head = job;
		thread->own_tail = job;
		pthread_cond_signal(&thread->wake);
	} else {
		/* A thread per job in progress: start one unless an idle one will take it. */
		if (p->queued + 1 > p->idle && p->nfree < p->max_free) {
			int rc = start_thread(p, false, NULL);
			if (rc < 0 && p->nfree == 0) {
				pthread_mutex_unlock(&p->mu);
				return rc;
			}
		}
		if (p->tail)
			p->tail->next = job;
		else
			p->head = job;
		p->tail = job;
		p->queued++;
		pthread_cond_signal(&p->work);
	}
	p->in_progress++;
	pthread_mutex_unlock(&p->mu);
	return 0;
}

struct rap__pool_job *rap__pool_current(void)
{
	return self ? self->job : NULL;
}

struct rap__pool_thread *rap__pool_pin_current(struct rap__pool *p)
{
	struct rap__pool_thread *t = self;
	if (!p || !t || t->pool != p || !t->job)
		return NULL;
	pthread_mutex_lock(&p->mu);
	if (!t->pinned) {
		t->pinned = true;
		p->nfree--;
		/* Jobs queued for a free thread may have counted on this one: another takes its
		 * place. Should that fail, the next submit tries again. */
		if (p->queued > p->idle && p->nfree < p->max_free && !p->stopping)
			(void)start_thread(p, false, NULL);
	}
	pthread_mutex_unlock(&p->mu);
	return t;
}

int rap__pool_pin_new(struct rap__pool *p, struct rap__pool_thread **out)
{
	if (!p || !out)
		return RAP_EINVAL;
	pthread_mutex_lock(&p->mu);
	int rc = p->stopping ? RAP_EINVAL : 0;
	if (rc == 0) {
		reap(p);
		rc = start_thread(p, true, out);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void rap__pool_unpin(struct rap__pool *p, struct rap__pool_thread *t)
{
	if (!p || !t)
		return;
	pthread_mutex_lock(&p->mu);
	if (t->pinned) {
		t->pinned = false;
		p->nfree++;
		/* It finishes its own queue first (take_job), then serves the pool or ends. */
		pthread_cond_signal(&t->wake);
	}
	pthread_mutex_unlock(&p->mu);
}

void rap__pool_yield(void)
{
	struct rap__pool_thread *t = self;
	if (!t || !t->job)
		return;
	struct rap__pool *p = t->pool;
	if (!t->has_turn) {
		if (now_ns() - t->job_start < p->slice_ns)
			return;
		/* A long job: its thread gives way to the event loop and to short jobs whenever
		 * the CPUs are short (turns share the running slots among long jobs, not the CPUs
		 * with everything else). Best effort: a refusal leaves the priority as it was. A
		 * pinned thread keeps its priority for its session. */
		if (!t->demoted && !t->pinned) {
			pid_t tid = (pid_t)syscall(SYS_gettid);
			errno = 0;
			int nice = getpriority(PRIO_PROCESS, (id_t)tid);
			if (errno == 0)
				(void)setpriority(PRIO_PROCESS, (id_t)tid, nice + LONG_JOB_NICE);
			t->demoted = true;
		}
		pthread_mutex_lock(&p->mu);
		turn_take(p, t, false);
		t->has_turn = true;
		pthread_mutex_unlock(&p->mu);
		return;
	}
	if (atomic_load_explicit(&p->waiting, memory_order_relaxed) == 0)
		return;
	if (now_ns() - t->turn_start < p->slice_ns)
		return;
	pthread_mutex_lock(&p->mu);
	if (p->fresh_head || p->yielded_head) {
		turn_give(p);
		turn_take(p, t, true);
	}
	pthread_mutex_unlock(&p->mu);
}

unsigned rap__pool_threads(struct rap__pool *p)
{
	pthread_mutex_lock(&p->mu);
	unsigned n = p->nthreads;
	pthread_mutex_unlock(&p->mu);
	return n;
}

unsigned rap__pool_in_progress(struct rap__pool *p)
{
	pthread_mutex_lock(&p->mu);
	unsigned n = p->in_progress;
	pthread_mutex_unlock(&p->mu);
	return n;
}
