/* The worker pool (libr/rap/pool.c): jobs come back through the fd, a short job runs at
 * once however many long ones hold the turns, at most `running` long jobs run at once and
 * they take turns, long jobs run at a lower priority on threads that end with them,
 * threads are capped, pinned threads run only their own jobs, stopping runs what was
 * queued. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rap/rap.h>

#include "common.h"
#include "pool.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Shared by the jobs of one test. */
struct world {
	atomic_int running;     /* long jobs past their first slices, inside run() now */
	atomic_int max_running; /* the most seen at once */
	unsigned slice_ms;      /* the pool's, for what counts as past the first slice */
	atomic_bool release;    /* long jobs end once set */
	atomic_int ran;
};

struct job {
	struct rap__pool_job base; /* first: the pool hands it back as this */
	struct world *w;
	int kind;                  /* see run_job */
	uint64_t started_ms, ended_ms;
	pthread_t thread;
	pid_t tid;  /* the kernel's thread id: unlike a pthread_t, not reused as soon as a
		     * thread ends, so threads that ran at different times compare apart */
	bool current_ok;           /* rap__pool_current() was this job inside run */
	bool sigterm_blocked;
	struct rap__pool *pool;
	struct rap__pool_thread *pinned; /* kind 3: the thread it pinned */
	atomic_int pieces;         /* pieces a long job did while counted as running */
	int nice_start, nice_end;  /* its thread's priority when it started and ended */
};

enum { JOB_QUICK, JOB_LONG_YIELDING, JOB_LONG_STUBBORN, JOB_PIN, JOB_PIN_LATE };

static void note_running(struct world *w, int delta)
{
	int now = atomic_fetch_add(&w->running, delta) + delta;
	int seen = atomic_load(&w->max_running);
	while (now > seen && !atomic_compare_exchange_weak(&w->max_running, &seen, now))
		;
}

static int thread_nice(void)
{
	return getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
}

static void run_job(struct rap__pool_job *pj)
{
	struct job *j = (struct job *)pj;
	j->nice_start = thread_nice();
	j->started_ms = now_ms();
	j->thread = pthread_self();
	j->tid = gettid();
	j->current_ok = rap__pool_current() == pj;
	sigset_t mask;
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	j->sigterm_blocked = sigismember(&mask, SIGTERM) == 1;
	switch (j->kind) {
	case JOB_LONG_YIELDING: {
		/* Busy, in pieces of about a millisecond, with a checkpoint between. Counted as
		 * running only once it surely holds a turn: after a checkpoint it entered when
		 * its first slice was surely over (the clock at entry, not at return: a thread
		 * the machine or qemu-user kept waiting may come back from a checkpoint it
		 * passed freely, inside its first slice, long after that slice). */
		uint64_t end = now_ms() + 10000;
		uint64_t counted_from = j->started_ms + 2 * j->w->slice_ms + 1;
		bool counted = false;
		while (!atomic_load(&j->w->release) && now_ms() < end) {
			if (counted)
				note_running(j->w, 1);
			uint64_t piece = now_ms() + 1;
			while (now_ms() < piece)
				;
			if (counted) {
				atomic_fetch_sub(&j->w->running, 1);
				atomic_fetch_add(&j->pieces, 1);
			}
			counted = now_ms() >= counted_from;
			rap__pool_yield();
		}
		break;
	}
	case JOB_LONG_STUBBORN: {
		uint64_t end = now_ms() + 10000;
		while (!atomic_load(&j->w->release) && now_ms() < end)
			sleep_ms(1);
		break;
	}
	case JOB_PIN:
		j->pinned = rap__pool_pin_current(j->pool);
		break;
	case JOB_PIN_LATE: {
		/* Pins only once told to, so that others can queue up behind it first. */
		uint64_t end = now_ms() + 10000;
		while (!atomic_load(&j->w->release) && now_ms() < end)
			sleep_ms(1);
		j->pinned = rap__pool_pin_current(j->pool);
		break;
	}
	default:
		break;
	}
	atomic_fetch_add(&j->w->ran, 1);
	j->nice_end = thread_nice();
	j->ended_ms = now_ms();
}

static void job_init(struct job *j, struct world *w, int kind)
{
	memset(j, 0, sizeof *j);
	j->base.run = run_job;
	j->w = w;
	j->kind = kind;
}

/* Takes finished jobs until `want` came back (5 s at most); returns how many did. */
static int collect(struct rap__pool *p, int want)
{
	int got = 0;
	uint64_t end = now_ms() + 5000;
	while (got < want && now_ms() < end) {
		struct pollfd pfd = { rap__pool_fd(p), POLLIN, 0 };
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		for (struct rap__pool_job *j = rap__pool_done(p); j; j = j->next)
			got++;
	}
	return got;
}

static void test_jobs_come_back(void **state)
{
	(void)state;
	struct rap__pool *p;
	assert_int_equal(rap__pool_new(2, 4, 10, &p), 0);
	struct world w = { 0 };
	struct job jobs[20];
	for (int i = 0; i < 20; i++) {
		job_init(&jobs[i], &w, JOB_QUICK);
		assert_int_equal(rap__pool_submit(p, NULL, &jobs[i].base), 0);
	}
	assert_int_equal(collect(p, 20), 20);
	assert_int_equal(atomic_load(&w.ran), 20);
	assert_int_equal(rap__pool_in_progress(p), 0);
	assert_true(rap__pool_threads(p) <= 4);
	for (int i = 0; i < 20; i++) {
		assert_true(jobs[i].current_ok);
		/* Signals stay with the loop's signalfd. */
		assert_true(jobs[i].sigterm_blocked);
	}
	assert_null(rap__pool_current());
	rap__pool_yield(); /* off the pool: nothing happens */
	/* Nothing more to take, and then the fd says so. */
	assert_null(rap__pool_done(p));
	struct pollfd pfd = { rap__pool_fd(p), POLLIN, 0 };
	assert_int_equal(poll(&pfd, 1, 0), 0);
	rap__pool_free(p);
}

/* With one turn, held by long jobs in turns, a quick job runs at once: it needs no turn.
 * The long ones never run two at once past their first slice. */
static void test_short_job_needs_no_turn(void **state)
{
	(void)state;
	struct rap__pool *p;
	assert_int_equal(rap__pool_new(1, 8, 5, &p), 0);
	struct world w = { .slice_ms = 5 };
	struct job longs[3], quick;
	for (int i = 0; i < 3; i++) {
		job_init(&longs[i], &w, JOB_LONG_YIELDING);
		assert_int_equal(rap__pool_submit(p, NULL, &longs[i].base), 0);
	}
	sleep_ms(50);
	job_init(&quick, &w, JOB_QUICK);
	uint64_t t0 = now_ms();
	assert_int_equal(rap__pool_submit(p, NULL, &quick.base), 0);
	uint64_t end = t0 + 5000;
	while (!quick.ended_ms && now_ms() < end)
		sleep_ms(1);
	uint64_t waited = quick.ended_ms - t0;
	print_message("# quick job done %llu ms after submission, beside 3 long ones (slice 5 ms)\n",
		      (unsigned long long)waited);
	assert_true(quick.ended_ms != 0);
	assert_true(waited < 500);
	sleep_ms(50);
	atomic_store(&w.release, true);
	assert_int_equal(collect(p, 4), 4);
	assert_int_equal(atomic_load(&w.max_running), 1);
	rap__pool_free(p);
}

/* `running` bounds the long jobs that run at once, however many are in progress. */
static void test_running_bound(void **state)
{
	(void)state;
	struct rap__pool *p;
	assert_int_equal(rap__pool_new(2, 16, 2, &p), 0);
	struct world w = { .slice_ms = 2 };
	struct job jobs[6];
	for (int i = 0; i < 6; i++) {
		job_init(&jobs[i], &w, JOB_LONG_YIELDING);
		assert_int_equal(rap__pool_submit(p, NULL, &jobs[i].base), 0);
	}
	sleep_ms(200);
	/* All six had turns (they share two), and each on a thread of its own. */
	for (int i = 0; i < 6; i++)
		assert_true(jobs[i].started_ms != 0);
	assert_int_equal(rap__pool_threads(p), 6);
	atomic_store(&w.release, true);
	assert_int_equal(collect(p, 6), 6);
	assert_true(atomic_load(&w.max_running) <= 2);
	assert_true(atomic_load(&w.max_running) >= 1);
	rap__pool_free(p);
}

/* A long job that arrives while two others take turns at the only one gets its share:
 * waiting for a first turn puts it ahead of the ones that yielded, and then it rotates
 * with them. */
static void test_late_long_job_gets_its_share(void **state)
{
	(void)state;
	struct rap__pool *p;
	assert_int_equal(rap__pool_new(1, 8, 2, &p), 0);
	struct world w = { .slice_ms = 2 };
	struct job longs[3];
	for (int i = 0; i < 2; i++) {
		job_init(&longs[i], &w, JOB_LONG_YIELDING);
		assert_int_equal(rap__pool_submit(p, NULL, &longs[i].base), 0);
	}
	sleep_ms(30); /* both have had turns and take them by turns */
	job_init(&longs[2], &w, JOB_LONG_YIELDING);
	assert_int_equal(rap__pool_submit(p, NULL, &longs[2].base), 0);
	sleep_ms(20); /* past its first slice: it takes turns too */
	int before[3];
	for (int i = 0; i < 3; i++)
		before[i] = atomic_load(&longs[i].pieces);
	/* 150 ms, longer while fewer than 24 pieces were done (a loaded machine, or qemu-user
	 * in the cross builds, can starve all three alike): shares of a few pieces say nothing.
	 * Bounded: 3 s at most. */
	int did[3], all = 0, waited = 0;
	do {
		sleep_ms(waited ? 50 : 150);
		waited += waited ? 50 : 150;
		all = 0;
		for (int i = 0; i < 3; i++) {
			did[i] = atomic_load(&longs[i].pieces) - before[i];
			all += did[i];
		}
	} while (all < 24 && waited < 3000);
	atomic_store(&w.release, true);
	assert_int_equal(collect(p, 3), 3);
	print_message("# pieces in %d ms with one turn: %d %d %d (the last arrived late)\n", waited,
		      did[0], did[1], did[2]);
	assert_int_equal(atomic_load(&w.max_running), 1); /* one turn all along */
	assert_true(all > 0);
	assert_true(did[2] * 6 >= all); /* a third is fair; a sixth is plenty for the check */
	rap__pool_free(p);
}

/* At most `threads` jobs are in progress; the rest wait in the queue. */
static void test_thread_cap(void **state)
{
	(void)state;
	struct rap__pool *p;
	assert_int_equal(rap__pool_new(2, 2, 10, &p), 0);
	struct world w = { 0 };
	struct job jobs[4];
	for (int i = 0; i < 4; i++) {
		job_init(&jobs[i], &w, JOB_LONG_STUBBORN);
		assert_int_equal(rap__pool_submit(p, NULL, &jobs[i].base), 0);
	}
	sleep_ms(100);
	assert_int_equal(rap__pool_threads(p), 2);
	assert_int_equal(rap__pool_in_progress(p), 4);
	int started = 0;
	for (int i = 0; i < 4; i++)
		started += jobs[i].started_ms != 0;
	assert_int_equal(started, 2);
	atomic_store(&w.release, true);
	assert_int_equal(collect(p, 4), 4);
	assert_int_equal(rap__pool_threads(p), 2);
	rap__pool_free(p);
}

/* A pinned thread runs the jobs submitted to it and nobody else's; unpinned beyond the
 * limit it ends. */
static void test_pinned_threads(void **state)
{
	(void)state;
	struct rap__pool *p;
	assert_int_equal(rap__pool_new(2, 2, 10, &p), 0);
	struct world w = { 0 };
	struct job pin;
	job_init(&pin, &w, JOB_PIN);
	pin.pool = p;
	assert_int_equal(rap__pool_submit(p, NULL, &pin.base), 0);
	assert_int_equal(collect(p, 1), 1);
	assert_non_null(pin.pinned);
	/* Its own jobs run on it ... */
	struct job mine[5], others[10];
	for (int i = 0; i < 5; i++) {
		job_init(&mine[i], &w, JOB_QUICK);
		assert_int_equal(rap__pool_submit(p, pin.pinned, &mine[i].base), 0);
	}
	/* ... and everybody else's elsewhere, even with every other thread busy. */
	for (int i = 0; i < 10; i++) {
		job_init(&others[i], &w, JOB_QUICK);
		assert_int_equal(rap__pool_submit(p, NULL, &others[i].base), 0);
	}
	assert_int_equal(collect(p, 15), 15);
	for (int i = 0; i < 5; i++)
		assert_true(pthread_equal(mine[i].thread, pin.thread));
	for (int i = 0; i < 10; i++)
		assert_false(pthread_equal(others[i].thread, pin.thread));
	assert_true(rap__pool_threads(p) <= 3);
	/* Outside a job, or with another pool, nothing is pinned. */
	assert_null(rap__pool_pin_current(p));
	/* Unpinned while the pool has its two threads: it ends (joined at the next submit). */
	rap__pool_unpin(p, pin.pinned);
	uint64_t end = now_ms() + 5000;
	while (rap__pool_threads(p) > 2 && now_ms() < end)
		sleep_ms(1);
	assert_int_equal(rap__pool_threads(p), 2);
	/* A thread pinned from the start does not count against the limit. */
	struct rap__pool_thread *t;
	assert_int_equal(rap__pool_pin_new(p, &t), 0);
	struct job dedicated[3];
	for (int i = 0; i < 3; i++) {
		job_init(&dedicated[i], &w, JOB_QUICK);
		assert_int_equal(rap__pool_submit(p, t, &dedicated[i].base), 0);
	}
	assert_int_equal(collect(p, 3), 3);
	for (int i = 1; i < 3; i++)
		assert_true(pthread_equal(dedicated[i].thread, dedicated[0].thread));
	for (int i = 0; i < 10; i++)
		assert_true(others[i].tid != dedicated[0].tid);
	assert_int_equal(rap__pool_threads(p), 3);
	rap__pool_free(p); /* joins the pinned thread too */
}

/* A job queued while every thread was busy still runs when the thread that would have
 * taken it is pinned instead: the pool starts another. */
static void test_pin_leaves_no_job_behind(void **state)
{
	(void)state;
	struct rap__pool *p;
	assert_int_equal(rap__pool_new(1, 1, 10, &p), 0);
	struct world w = { 0 };
	struct job pin, queued;
	job_init(&pin, &w, JOB_PIN_LATE);
	pin.pool = p;
	assert_int_equal(rap__pool_submit(p, NULL, &pin.base), 0);
	job_init(&queued, &w, JOB_QUICK);
	assert_int_equal(rap__pool_submit(p, NULL, &queued.base), 0);
	sleep_ms(50);
	assert_int_equal(queued.started_ms, 0); /* the one thread is busy */
	atomic_store(&w.release, true);
	assert_int_equal(collect(p, 2), 2);
	assert_non_null(pin.pinned);
	assert_false(pthread_equal(queued.thread, pin.thread));
	rap__pool_free(p);
}

/* A job still running at a checkpoint after its first slice drops its thread's priority
 * (the loop and short jobs go first), and that thread ends with the job: the next job runs
 * on a fresh one, at the usual priority. Short jobs are left alone. */
static void test_long_jobs_run_lower(void **state)
{
	(void)state;
	struct rap__pool *p;
	assert_int_equal(rap__pool_new(1, 4, 5, &p), 0);
	struct world w = { 0 };
	struct job quick, longer, after;
	job_init(&quick, &w, JOB_QUICK);
	assert_int_equal(rap__pool_submit(p, NULL, &quick.base), 0);
	assert_int_equal(collect(p, 1), 1);
	int base = quick.nice_start;
	assert_int_equal(quick.nice_end, base);
	job_init(&longer, &w, JOB_LONG_YIELDING);
	assert_int_equal(rap__pool_submit(p, NULL, &longer.base), 0);
	sleep_ms(50);
	atomic_store(&w.release, true);
	assert_int_equal(collect(p, 1), 1);
	assert_int_equal(longer.nice_start, base);
	assert_int_equal(longer.nice_end, base + 10 > 19 ? 19 : base + 10);
	/* Its thread (the idle one the quick job left) ended with it. */
	uint64_t end = now_ms() + 5000;
	while (rap__pool_threads(p) > 0 && now_ms() < end)
		sleep_ms(1);
	assert_int_equal(rap__pool_threads(p), 0);
	job_init(&after, &w, JOB_QUICK);
	assert_int_equal(rap__pool_submit(p, NULL, &after.base), 0);
	assert_int_equal(collect(p, 1), 1);
	assert_int_equal(after.nice_start, base);
	rap__pool_free(p);
}

/* Stopping runs every job already queued, then nothing more is accepted. */
static void test_stop_runs_queued_jobs(void **state)
{
	(void)state;
	struct rap__pool *p;
	assert_int_equal(rap__pool_new(1, 1, 10, &p), 0);
	struct world w = { 0 };
	struct job jobs[8];
	for (int i = 0; i < 8; i++) {
		job_init(&jobs[i], &w, JOB_QUICK);
		assert_int_equal(rap__pool_submit(p, NULL, &jobs[i].base), 0);
	}
	rap__pool_stop(p);
	assert_int_equal(atomic_load(&w.ran), 8);
	int n = 0;
	for (struct rap__pool_job *j = rap__pool_done(p); j; j = j->next)
		n++;
	assert_int_equal(n, 8);
	struct job late;
	job_init(&late, &w, JOB_QUICK);
	assert_int_equal(rap__pool_submit(p, NULL, &late.base), RAP_EINVAL);
	struct rap__pool_thread *t;
	assert_int_equal(rap__pool_pin_new(p, &t), RAP_EINVAL);
	rap__pool_stop(p); /* twice is fine */
	rap__pool_free(p);
	/* Free without stop, with jobs queued: they still run. */
	assert_int_equal(rap__pool_new(1, 1, 10, &p), 0);
	struct world w2 = { 0 };
	for (int i = 0; i < 8; i++) {
		job_init(&jobs[i], &w2, JOB_QUICK);
		assert_int_equal(rap__pool_submit(p, NULL, &jobs[i].base), 0);
	}
	rap__pool_free(p);
	assert_int_equal(atomic_load(&w2.ran), 8);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct rap__pool *p = (void *)1;
	assert_int_equal(rap__pool_new(0, 1, 10, &p), RAP_EINVAL);
	assert_null(p);
	assert_int_equal(rap__pool_new(2, 1, 10, &p), RAP_EINVAL);
	assert_int_equal(rap__pool_new(1, 1, 0, &p), RAP_EINVAL);
	assert_int_equal(rap__pool_new(257, 300, 10, &p), RAP_EINVAL);
	assert_int_equal(rap__pool_new(1, 1, 10, NULL), RAP_EINVAL);
	assert_int_equal(rap__pool_new(1, 1, 10, &p), 0);
	struct rap__pool_job none = { 0 };
	assert_int_equal(rap__pool_submit(p, NULL, &none), RAP_EINVAL);
	assert_int_equal(rap__pool_submit(p, NULL, NULL), RAP_EINVAL);
	assert_int_equal(rap__pool_submit(NULL, NULL, &none), RAP_EINVAL);
	assert_int_equal(rap__pool_pin_new(p, NULL), RAP_EINVAL);
	rap__pool_unpin(p, NULL);
	rap__pool_free(p);
	rap__pool_free(NULL);
	rap__pool_stop(NULL);
}

/* Out of memory: creating the pool, or its first thread (the job is then refused, not
 * lost); later threads missing only mean a longer queue. */
static void test_alloc_failure(void **state)
{
	(void)state;
	struct rap__pool *p;
	rap__alloc_fail_after(0);
	assert_int_equal(rap__pool_new(1, 2, 10, &p), RAP_ENOMEM);
	rap__alloc_fail_after(-1);
	assert_int_equal(rap__pool_new(1, 2, 10, &p), 0);
	struct world w = { 0 };
	struct job a, b;
	job_init(&a, &w, JOB_QUICK);
	rap__alloc_fail_after(0);
	assert_int_equal(rap__pool_submit(p, NULL, &a.base), RAP_ENOMEM);
	rap__alloc_fail_after(-1);
	assert_int_equal(rap__pool_in_progress(p), 0);
	job_init(&a, &w, JOB_LONG_STUBBORN);
	assert_int_equal(rap__pool_submit(p, NULL, &a.base), 0);
	job_init(&b, &w, JOB_QUICK);
	rap__alloc_fail_after(0);
	assert_int_equal(rap__pool_submit(p, NULL, &b.base), 0); /* queued behind a */
	struct rap__pool_thread *t;
	assert_int_equal(rap__pool_pin_new(p, &t), RAP_ENOMEM);
	rap__alloc_fail_after(-1);
	assert_int_equal(rap__pool_threads(p), 1);
	atomic_store(&w.release, true);
	assert_int_equal(collect(p, 2), 2);
	rap__pool_free(p);
}

/* ---- fd-leak check around every test ------------------------------------------------ */

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static int fds_before;

static int fd_setup(void **state)
{
	(void)state;
	fds_before = count_fds();
	return 0;
}

static int fd_teardown(void **state)
{
	(void)state;
	int now = count_fds();
	if (now != fds_before) {
		print_error("fd leak: %d open before the test, %d after\n", fds_before, now);
		return -1;
	}
	return 0;
}

#define FD_CHECKED(f) cmocka_unit_test_setup_teardown(f, fd_setup, fd_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FD_CHECKED(test_jobs_come_back),
		FD_CHECKED(test_short_job_needs_no_turn),
		FD_CHECKED(test_running_bound),
		FD_CHECKED(test_late_long_job_gets_its_share),
		FD_CHECKED(test_thread_cap),
		FD_CHECKED(test_pinned_threads),
		FD_CHECKED(test_pin_leaves_no_job_behind),
		FD_CHECKED(test_long_jobs_run_lower),
		FD_CHECKED(test_stop_runs_queued_jobs),
		FD_CHECKED(test_bad_arguments),
		FD_CHECKED(test_alloc_failure),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
