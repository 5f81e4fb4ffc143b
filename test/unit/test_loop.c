#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/loop.h>

#include "common.h"

struct pipe_probe {
	int calls;
	unsigned last_events;
	struct rap_loop *loop;
	int remove_fd; /* removed from inside the callback when >= 0 */
};

static void on_fd(struct rap_loop *loop, int fd, unsigned events, void *user)
{
	struct pipe_probe *p = user;
	p->calls++;
	p->last_events = events;
	char buf[64];
	if (events & RAP_LOOP_READ) {
		ssize_t n = read(fd, buf, sizeof(buf));
		(void)n;
	}
	if (p->remove_fd >= 0)
		rap_loop_del_fd(loop, p->remove_fd);
}

static void test_fd_readable(void **state)
{
	(void)state;
	struct rap_loop *loop;
	assert_int_equal(rap_loop_new(&loop), 0);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct pipe_probe p = { .remove_fd = -1 };
	assert_int_equal(rap_loop_add_fd(loop, fds[0], RAP_LOOP_READ, on_fd, &p), 0);
	assert_int_equal(rap_loop_add_fd(loop, fds[0], RAP_LOOP_READ, on_fd, &p), RAP_EINVAL);
	assert_int_equal(rap_loop_run_once(loop, 0), 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(rap_loop_run_once(loop, 1000), 1);
	assert_int_equal(p.calls, 1);
	assert_true(p.last_events & RAP_LOOP_READ);
	/* Writable interest on the write end. */
	struct pipe_probe w = { .remove_fd = -1 };
	assert_int_equal(rap_loop_add_fd(loop, fds[1], 0, on_fd, &w), 0);
	assert_int_equal(rap_loop_run_once(loop, 0), 0);
	assert_int_equal(rap_loop_mod_fd(loop, fds[1], RAP_LOOP_WRITE), 0);
	assert_int_equal(rap_loop_run_once(loop, 0), 1);
	assert_true(w.last_events & RAP_LOOP_WRITE);
	assert_int_equal(rap_loop_del_fd(loop, fds[1]), 0);
	assert_int_equal(rap_loop_del_fd(loop, fds[1]), RAP_EINVAL);
	/* Hang-up is reported. */
	close(fds[1]);
	assert_int_equal(rap_loop_run_once(loop, 1000), 1);
	assert_true(p.last_events & RAP_LOOP_HUP);
	rap_loop_del_fd(loop, fds[0]);
	close(fds[0]);
	rap_loop_free(loop);
}

static void test_removed_in_same_batch_not_called(void **state)
{
	(void)state;
	struct rap_loop *loop;
	assert_int_equal(rap_loop_new(&loop), 0);
	int a[2], b[2];
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	struct pipe_probe pa = { .remove_fd = b[0] }, pb = { .remove_fd = a[0] };
	assert_int_equal(rap_loop_add_fd(loop, a[0], RAP_LOOP_READ, on_fd, &pa), 0);
	assert_int_equal(rap_loop_add_fd(loop, b[0], RAP_LOOP_READ, on_fd, &pb), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	/* Both are ready in one batch; whichever runs first removes the other. */
	assert_int_equal(rap_loop_run_once(loop, 1000), 1);
	assert_int_equal(pa.calls + pb.calls, 1);
	rap_loop_free(loop);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

struct timer_log {
	int order[8];
	int n;
};

static struct timer_log tlog;

static void on_timer(struct rap_loop *loop, struct rap_loop_timer *t, void *user)
{
	(void)loop;
	(void)t;
	tlog.order[tlog.n++] = (int)(intptr_t)user;
}

static void test_timers_fire_in_deadline_order(void **state)
{
	(void)state;
	memset(&tlog, 0, sizeof(tlog));
	struct rap_loop *loop;
	assert_int_equal(rap_loop_new(&loop), 0);
	struct rap_loop_timer *t[5];
	/* Tens of milliseconds apart: arming them all must take less than the gaps (5 ms
	 * was not enough under valgrind on a busy machine, and timer 1 rightly went first). */
	uint64_t delays[5] = { 400, 100, 300, 200, 500 };
	/* Before the timers are armed: each deadline is then at least start + its delay. */
	uint64_t start = rap_loop_now_ms();
	for (int i = 0; i < 5; i++) {
		t[i] = rap_loop_timer_new(loop, on_timer, (void *)(intptr_t)i);
		assert_non_null(t[i]);
		assert_int_equal(rap_loop_timer_set(t[i], delays[i]), 0);
	}
	rap_loop_timer_cancel(t[2]);                      /* 300 ms: cancelled */
	assert_int_equal(rap_loop_timer_set(t[4], 50), 0); /* 500 -> 50 ms: re-armed earlier */
	for (int i = 0; i < 50 && tlog.n < 4; i++)
		assert_true(rap_loop_run_once(loop, -1) >= 0);
	assert_int_equal(tlog.n, 4);
	int want[4] = { 4, 1, 3, 0 };
	assert_memory_equal(tlog.order, want, sizeof(want));
	assert_true(rap_loop_now_ms() - start >= 400);
	rap_loop_timer_free(t[0]);
	rap_loop_free(loop); /* frees the remaining timers */
}

static int signals_seen;

static void on_signal(struct rap_loop *loop, int signo, void *user)
{
	(void)user;
	assert_int_equal(signo, SIGUSR1);
	signals_seen++;
	rap_loop_stop(loop);
}

static void test_signal_as_event(void **state)
{
	(void)state;
	struct rap_loop *loop;
	assert_int_equal(rap_loop_new(&loop), 0);
	assert_int_equal(rap_loop_add_signal(loop, SIGUSR1, on_signal, NULL), 0);
	assert_int_equal(rap_loop_add_signal(loop, 0, on_signal, NULL), RAP_EINVAL);
	raise(SIGUSR1); /* blocked now, so it waits for the loop */
	assert_int_equal(rap_loop_run(loop), 0);
	assert_int_equal(signals_seen, 1);
	rap_loop_free(loop);
}

static int hooks;

static void on_hook(struct rap_loop *loop, void *user)
{
	(void)loop;
	(void)user;
	hooks++;
}

static void *waker(void *arg)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	rap_loop_wake(arg);
	return NULL;
}

static void test_before_sleep_wake_and_nesting(void **state)
{
	(void)state;
	struct rap_loop *loop;
	assert_int_equal(rap_loop_new(&loop), 0);
	rap_loop_set_before_sleep(loop, on_hook, NULL);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, waker, loop), 0);
	/* Without the wake-up this would wait forever: a bounded outer epoll proves nesting. */
	int outer = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	assert_int_equal(epoll_ctl(outer, EPOLL_CTL_ADD, rap_loop_fd(loop), &ev), 0);
	struct epoll_event got;
	assert_int_equal(epoll_wait(outer, &got, 1, 5000), 1);
	assert_int_equal(rap_loop_run_once(loop, 0), 0);
	assert_int_equal(hooks, 1);
	pthread_join(th, NULL);
	close(outer);
	rap_loop_free(loop);
}

static void test_allocation_failures(void **state)
{
	(void)state;
	for (long n = 0; n < 4; n++) {
		struct rap_loop *loop = NULL;
		rap__alloc_fail_after(n);
		int rc = rap_loop_new(&loop);
		if (rc == 0) {
			struct rap_loop_timer *t = rap_loop_timer_new(loop, on_timer, NULL);
			if (t)
				rap_loop_timer_set(t, 1000);
			rap_loop_free(loop);
		} else {
			assert_int_equal(rc, RAP_ENOMEM);
		}
		rap__alloc_fail_after(-1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_readable),
		cmocka_unit_test(test_removed_in_same_batch_not_called),
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_signal_as_event),
		cmocka_unit_test(test_before_sleep_wake_and_nesting),
		cmocka_unit_test(test_allocation_failures),
	};
	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
