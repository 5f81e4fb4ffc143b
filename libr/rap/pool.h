/* The worker pool behind rap_server (pool.c): threads that run jobs off the event loop;
 * long jobs a few at a time, in turns. Internal to librap. Errors follow rap.h. */
#ifndef RAP_POOL_H
#define RAP_POOL_H

#include <stdbool.h>
#include <stdint.h>

/* A unit of work, embedded in the caller's own structure (which stays the caller's). From
 * rap__pool_submit until rap__pool_done hands it back the pool links it (next); the caller
 * must not free it or submit it again meanwhile. */
struct rap__pool_job {
	void (*run)(struct rap__pool_job *job); /* on a worker thread */
	struct rap__pool_job *next;             /* pool-owned while submitted */
};

struct rap__pool;

/* A worker thread pinned to one user (a session that must run every job on the thread
 * that started something, e.g. ptrace requests on the thread that attached). Owned by the
 * pool; valid until rap__pool_unpin. */
struct rap__pool_thread;

/* Creates a pool: at most `threads` jobs are in progress at once, each on a thread of its
 * own (threads start when first needed; threads >= running). A job runs its first slice_ms
 * at once; one still running at rap__pool_yield after that is a long one, and at most
 * `running` long jobs run at any moment (1 .. 256): it waits for a turn there, and gives
 * its turn up at a later rap__pool_yield after slice_ms with it while another waits: jobs
 * waiting for their first turn go first, then those that yielded, each kind in order.
 * *out is freed with rap__pool_free. Errors: RAP_EINVAL, RAP_ENOMEM, -errno (eventfd). */
int rap__pool_new(unsigned running, unsigned threads, unsigned slice_ms, struct rap__pool **out);

/* Runs every job submitted so far to its end, stops the threads and frees the pool; jobs
 * finished and not yet taken with rap__pool_done are lost, so take them first (after
 * rap__pool_stop). NULL is ignored. */
void rap__pool_free(struct rap__pool *p);

/* Runs every job submitted so far to its end and joins the threads; after it
 * rap__pool_done returns the last finished jobs and nothing can be submitted. */
void rap__pool_stop(struct rap__pool *p);

/* Readable (an eventfd) while finished jobs wait for rap__pool_done. Borrowed. */
int rap__pool_fd(const struct rap__pool *p);

/* Takes the finished jobs, oldest first, linked through next (NULL when none), and resets
 * the fd's readiness. For the thread that submits. */
struct rap__pool_job *rap__pool_done(struct rap__pool *p);

/* Queues job, for a thread of the pool or, with a non-NULL thread, that pinned thread only.
 * Errors: RAP_EINVAL (stopped, or no job->run), -errno when the pool has no thread and
 * cannot start one (the job is not queued). */
int rap__pool_submit(struct rap__pool *p, struct rap__pool_thread *thread, struct rap__pool_job *job);

/* The job running on the calling thread, or NULL on any thread that is not a worker. */
struct rap__pool_job *rap__pool_current(void);

/* From a running job: pins the calling worker thread. After this job it runs only the jobs
 * submitted to it, until rap__pool_unpin. Returns the thread, or NULL when the caller is not
 * a worker of p. */
struct rap__pool_thread *rap__pool_pin_current(struct rap__pool *p);

/* From the submitting thread: starts a new thread pinned from the start (it does not count
 * against `threads`). Errors: RAP_ENOMEM, -errno. */
int rap__pool_pin_new(struct rap__pool *p, struct rap__pool_thread **out);

/* Releases a pinned thread once its queued jobs are done: it serves the pool again, or
 * ends when the pool already has its `threads`. */
void rap__pool_unpin(struct rap__pool *p, struct rap__pool_thread *t);

/* A checkpoint for the running job. After its first slice a job takes a turn here (waiting
 * for one when all are held), and its thread runs at a lower CPU priority from then on
 * (nice + 10), so that the event loop and short jobs get the CPUs first; that thread ends
 * with the job (a pinned one keeps its priority and stays). With a turn, when it has had
 * its slice and another job waits, it waits for its next turn. Cheap (no lock) otherwise;
 * a no-op off the pool. */
void rap__pool_yield(void);

/* Threads started and not ended, pinned ones included (for tests and logs). */
unsigned rap__pool_threads(struct rap__pool *p);

/* Jobs submitted and not yet handed back by rap__pool_done. */
unsigned rap__pool_in_progress(struct rap__pool *p);

#endif
