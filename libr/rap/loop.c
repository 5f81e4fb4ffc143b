#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <rap/loop.h>

#include "common.h"

#define MAX_EVENTS 256

/* Internal fds are watched like user fds, with these tags in place of a callback owner. */
struct fd_watch {
	int fd;
	unsigned events;
	uint32_t gen;    /* detects events for a watcher removed and re-added within one batch */
	rap_loop_fd_cb cb;
	void *user;
};

struct rap_loop_timer {
	struct rap_loop *loop;
	uint64_t deadline;
	size_t heap_index; /* SIZE_MAX while disarmed */
	rap_loop_timer_cb cb;
	void *user;
	struct rap_loop_timer *next_owned; /* every timer of the loop, for rap_loop_free */
	struct rap_loop_timer *prev_owned;
};

struct signal_watch {
	rap_loop_signal_cb cb;
	void *user;
};

struct rap_loop {
	int epfd;
	int wakefd;
	int sigfd;
	sigset_t sigmask;
	struct signal_watch signals[_NSIG];
	struct fd_watch **fds; /* indexed by fd */
	size_t nfds;
	uint32_t next_gen;
	struct rap_loop_timer **heap;
	size_t heap_len;
	size_t heap_cap;
	struct rap_loop_timer *owned;
	rap_loop_hook_cb before_sleep;
	void *before_sleep_user;
	bool stop;
};

uint64_t rap_loop_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t to_epoll(unsigned events)
{
	uint32_t e = 0;
	if (events & RAP_LOOP_READ)
		e |= EPOLLIN | EPOLLRDHUP;
	if (events & RAP_LOOP_WRITE)
		e |= EPOLLOUT;
	return e;
}

static unsigned from_epoll(uint32_t e)
{
	unsigned ev = 0;
	if (e & (EPOLLIN | EPOLLRDHUP))
		ev |= RAP_LOOP_READ;
	if (e & EPOLLOUT)
		ev |= RAP_LOOP_WRITE;
	if (e & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		ev |= RAP_LOOP_HUP;
	return ev;
}

static int watch_internal(struct rap_loop *loop, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)UINT32_MAX << 32 | (uint32_t)fd };
	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int rap_loop_new(struct rap_loop **out)
{
	if (!out)
		return RAP_EINVAL;
	struct rap_loop *loop = rap__calloc(1, sizeof(*loop));
	if (!loop)
		return RAP_ENOMEM;
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int rc = (loop->epfd < 0 || loop->wakefd < 0) ? -errno : watch_internal(loop, loop->wakefd);
	if (rc < 0) {
		rap_loop_free(loop);
		return rc;
	}
	*out = loop;
	return 0;
}

void rap_loop_free(struct rap_loop *loop)
{
	if (!loop)
		return;
	for (size_t i = 0; i < loop->nfds; i++)
		rap__free(loop->fds[i]);
	rap__free(loop->fds);
	while (loop->owned)
		rap_loop_timer_free(loop->owned);
	rap__free(loop->heap);
	if (loop->sigfd >= 0) {
		close(loop->sigfd);
		pthread_sigmask(SIG_UNBLOCK, &loop->sigmask, NULL);
	}
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	rap__free(loop);
}

int rap_loop_fd(const struct rap_loop *loop)
{
	return loop->epfd;
}

static struct fd_watch *lookup(const struct rap_loop *loop, int fd)
{
	return (fd >= 0 && (size_t)fd < loop->nfds) ? loop->fds[fd] : NULL;
}

int rap_loop_add_fd(struct rap_loop *loop, int fd, unsigned events, rap_loop_fd_cb cb, void *user)
{
	if (fd < 0 || !cb || lookup(loop, fd))
		return RAP_EINVAL;
	if ((size_t)fd >= loop->nfds) {
		size_t n = loop->nfds ? loop->nfds : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct fd_watch **v = rap__realloc(loop->fds, n * sizeof(*v));
		if (!v)
			return RAP_ENOMEM;
		memset(v + loop->nfds, 0, (n - loop->nfds) * sizeof(*v));
		loop->fds = v;
		loop->nfds = n;
	}
	struct fd_watch *w = rap__calloc(1, sizeof(*w));
	if (!w)
		return RAP_ENOMEM;
	w->fd = fd;
	w->events = events;
	w->gen = loop->next_gen++ & 0x7fffffffu;
	w->cb = cb;
	w->user = user;
	struct epoll_event ev = { .events = to_epoll(events), .data.u64 = (uint64_t)w->gen << 32 | (uint32_t)fd };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;
		rap__free(w);
		return err;
	}
	loop->fds[fd] = w;
	return 0;
}

int rap_loop_mod_fd(struct rap_loop *loop, int fd, unsigned events)
{
	struct fd_watch *w = lookup(loop, fd);
	if (!w)
		return RAP_EINVAL;
	if (w->events == events)
		return 0;
	struct epoll_event ev = { .events = to_epoll(events), .data.u64 = (uint64_t)w->gen << 32 | (uint32_t)fd };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

int rap_loop_del_fd(struct rap_loop *loop, int fd)
{
	struct fd_watch *w = lookup(loop, fd);
	if (!w)
		return RAP_EINVAL;
	/* The fd may already be closed by the caller; the watcher goes regardless. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->fds[fd] = NULL;
	rap__free(w);
	return 0;
}

/* ---- timers: a binary min-heap on the deadline ------------------------------------- */

static void heap_place(struct rap_loop *loop, size_t i, struct rap_loop_timer *t)
{
	loop->heap[i] = t;
	t->heap_index = i;
}

static void heap_up(struct rap_loop *loop, size_t i)
{
	struct rap_loop_timer *t = loop->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (loop->heap[parent]->deadline <= t->deadline)
			break;
		heap_place(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_place(loop, i, t);
}

static void heap_down(struct rap_loop *loop, size_t i)
{
	struct rap_loop_timer *t = loop->heap[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= loop->heap_len)
			break;
		if (child + 1 < loop->heap_len && loop->heap[child + 1]->deadline < loop->heap[child]->deadline)
			child++;
		if (loop->heap[child]->deadline >= t->deadline)
			break;
		heap_place(loop, i, loop->heap[child]);
		i = child;
	}
	heap_place(loop, i, t);
}

static void heap_remove(struct rap_loop *loop, struct rap_loop_timer *t)
{
	size_t i = t->heap_index;
	t->heap_index = SIZE_MAX;
	struct rap_loop_timer *last = loop->heap[--loop->heap_len];
	if (last == t)
		return;
	heap_place(loop, i, last);
	heap_down(loop, i);
	heap_up(loop, last->heap_index);
}

struct rap_loop_timer *rap_loop_timer_new(struct rap_loop *loop, rap_loop_timer_cb cb, void *user)
{
	if (!cb)
		return NULL;
	struct rap_loop_timer *t = rap__calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->loop = loop;
	t->heap_index = SIZE_MAX;
	t->cb = cb;
	t->user = user;
	t->next_owned = loop->owned;
	if (loop->owned)
		loop->owned->prev_owned = t;
	loop->owned = t;
	return t;
}

int rap_loop_timer_set(struct rap_loop_timer *t, uint64_t ms)
{
	struct rap_loop *loop = t->loop;
	uint64_t now = rap_loop_now_ms();
	t->deadline = ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
	if (t->heap_index != SIZE_MAX) {
		heap_down(loop, t->heap_index);
		heap_up(loop, t->heap_index);
		return 0;
	}
	if (loop->heap_len == loop->heap_cap) {
		size_t n = loop->heap_cap ? loop->heap_cap * 2 : 64;
		struct rap_loop_timer **v = rap__realloc(loop->heap, n * sizeof(*v));
		if (!v)
			return RAP_ENOMEM;
		loop->heap = v;
		loop->heap_cap = n;
	}
	loop->heap[loop->heap_len] = t;
	t->heap_index = loop->heap_len++;
	heap_up(loop, t->heap_index);
	return 0;
}

void rap_loop_timer_cancel(struct rap_loop_timer *t)
{
	if (t && t->heap_index != SIZE_MAX)
		heap_remove(t->loop, t);
}

void rap_loop_timer_free(struct rap_loop_timer *t)
{
	if (!t)
		return;
	rap_loop_timer_cancel(t);
	struct rap_loop *loop = t->loop;
	if (t->prev_owned)
		t->prev_owned->next_owned = t->next_owned;
	else
		loop->owned = t->next_owned;
	if (t->next_owned)
		t->next_owned->prev_owned = t->prev_owned;
	rap__free(t);
}

static int run_timers(struct rap_loop *loop)
{
	int ran = 0;
	uint64_t now = rap_loop_now_ms();
	/* Bounded: a callback re-arming with 0 ms runs again on the next iteration, not here. */
	size_t budget = loop->heap_len;
	while (budget-- > 0 && loop->heap_len > 0 && loop->heap[0]->deadline <= now) {
		struct rap_loop_timer *t = loop->heap[0];
		heap_remove(loop, t);
		t->cb(loop, t, t->user);
		ran++;
	}
	return ran;
}

/* ---- signals ------------------------------------------------------------------------ */

int rap_loop_add_signal(struct rap_loop *loop, int signo, rap_loop_signal_cb cb, void *user)
{
	if (signo <= 0 || signo >= _NSIG || !cb)
		return RAP_EINVAL;
	sigset_t mask = loop->sigmask;
	sigaddset(&mask, signo);
	int rc = pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (rc != 0)
		return -rc;
	int fd = signalfd(loop->sigfd, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (loop->sigfd < 0) {
		loop->sigfd = fd;
		rc = watch_internal(loop, fd);
		if (rc < 0)
			return rc;
	}
	loop->sigmask = mask;
	loop->signals[signo].cb = cb;
	loop->signals[signo].user = user;
	return 0;
}

static int run_signals(struct rap_loop *loop)
{
	int ran = 0;
	struct signalfd_siginfo si;
	/* Bounded by what is pending; each read consumes one. */
	for (int i = 0; i < 64 && read(loop->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si); i++) {
		int signo = (int)si.ssi_signo;
		if (signo > 0 && signo < _NSIG && loop->signals[signo].cb) {
			loop->signals[signo].cb(loop, signo, loop->signals[signo].user);
			ran++;
		}
	}
	return ran;
}

/* ---- running ------------------------------------------------------------------------ */

void rap_loop_set_before_sleep(struct rap_loop *loop, rap_loop_hook_cb cb, void *user)
{
	loop->before_sleep = cb;
	loop->before_sleep_user = user;
}

void rap_loop_wake(struct rap_loop *loop)
{
	uint64_t one = 1;
	/* EAGAIN means a wake-up is already pending, which is all we need. */
	ssize_t n = write(loop->wakefd, &one, sizeof(one));
	(void)n;
}

static int next_timeout(const struct rap_loop *loop, int timeout_ms)
{
	if (loop->heap_len == 0)
		return timeout_ms;
	uint64_t now = rap_loop_now_ms();
	uint64_t d = loop->heap[0]->deadline;
	uint64_t wait = d > now ? d - now : 0;
	if (wait > INT32_MAX)
		wait = INT32_MAX;
	if (timeout_ms < 0 || (uint64_t)timeout_ms > wait)
		return (int)wait;
	return timeout_ms;
}

int rap_loop_run_once(struct rap_loop *loop, int timeout_ms)
{
	if (loop->before_sleep)
		loop->before_sleep(loop, loop->before_sleep_user);
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_wait(loop->epfd, evs, MAX_EVENTS, next_timeout(loop, timeout_ms));
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	int ran = 0;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		if (gen == UINT32_MAX) {
			if (fd == loop->wakefd) {
				uint64_t v;
				ssize_t r = read(loop->wakefd, &v, sizeof(v));
				(void)r;
			} else if (fd == loop->sigfd) {
				ran += run_signals(loop);
			}
			continue;
		}
		struct fd_watch *w = lookup(loop, fd);
		if (!w || w->gen != gen)
			continue; /* removed (or replaced) by an earlier callback of this batch */
		w->cb(loop, fd, from_epoll(evs[i].events), w->user);
		ran++;
	}
	return ran + run_timers(loop);
}

int rap_loop_run(struct rap_loop *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		int rc = rap_loop_run_once(loop, -1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void rap_loop_stop(struct rap_loop *loop)
{
	loop->stop = true;
	rap_loop_wake(loop);
}
