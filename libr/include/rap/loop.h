/* A small reactor: one thread, epoll (level-triggered), timers on a min-heap, signals as
 * events (signalfd), and a before-sleep hook. Its epoll fd can be nested in another loop.
 * Errors follow rap.h. Not thread-safe: use a loop from the thread that runs it, except
 * rap_loop_wake(), which any thread may call. */
#ifndef RAP_LOOP_H
#define RAP_LOOP_H

#include <rap/rap.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rap_loop;
struct rap_loop_timer;

enum {
	RAP_LOOP_READ = 1u << 0,
	RAP_LOOP_WRITE = 1u << 1,
	RAP_LOOP_HUP = 1u << 2,   /* reported only: peer hung up or error */
};

/* events: what fired (RAP_LOOP_*). The callback may add, modify or remove any watcher,
 * including its own; a removed watcher is never called again. */
typedef void (*rap_loop_fd_cb)(struct rap_loop *loop, int fd, unsigned events, void *user);
/* One-shot: re-arm with rap_loop_timer_set from inside the callback to repeat. */
typedef void (*rap_loop_timer_cb)(struct rap_loop *loop, struct rap_loop_timer *t, void *user);
typedef void (*rap_loop_signal_cb)(struct rap_loop *loop, int signo, void *user);
typedef void (*rap_loop_hook_cb)(struct rap_loop *loop, void *user);

/* Creates a loop; free with rap_loop_free() (which does not close watched fds).
 * Errors: RAP_ENOMEM, -errno. */
RAP_API int rap_loop_new(struct rap_loop **out);
RAP_API void rap_loop_free(struct rap_loop *loop);

/* The epoll fd, readable when the loop has work: nest it in another loop and call
 * rap_loop_run_once(loop, 0) when it is readable. Borrowed. */
RAP_API int rap_loop_fd(const struct rap_loop *loop);

/* Watches fd (borrowed: the caller closes it after removing it). Errors: RAP_EINVAL
 * (already watched), RAP_ENOMEM, -errno. */
RAP_API int rap_loop_add_fd(struct rap_loop *loop, int fd, unsigned events, rap_loop_fd_cb cb, void *user);
RAP_API int rap_loop_mod_fd(struct rap_loop *loop, int fd, unsigned events);
RAP_API int rap_loop_del_fd(struct rap_loop *loop, int fd);

/* Creates a disarmed timer owned by the loop (freed by rap_loop_timer_free or the loop). */
RAP_API struct rap_loop_timer *rap_loop_timer_new(struct rap_loop *loop, rap_loop_timer_cb cb, void *user);
/* Arms t to fire once after ms milliseconds (re-arming replaces the previous deadline). */
RAP_API int rap_loop_timer_set(struct rap_loop_timer *t, uint64_t ms);
RAP_API void rap_loop_timer_cancel(struct rap_loop_timer *t);
RAP_API void rap_loop_timer_free(struct rap_loop_timer *t);

/* Delivers signo as an event: the signal is blocked in the calling thread and read from a
 * signalfd. Errors: RAP_EINVAL, RAP_ENOMEM, -errno. */
RAP_API int rap_loop_add_signal(struct rap_loop *loop, int signo, rap_loop_signal_cb cb, void *user);

/* Called before every sleep (e.g. to flush queued output). One hook; NULL removes it. */
RAP_API void rap_loop_set_before_sleep(struct rap_loop *loop, rap_loop_hook_cb cb, void *user);

/* Waits at most timeout_ms (-1: until something happens; the nearest timer shortens it),
 * then dispatches. Returns the number of callbacks run, or -errno. */
RAP_API int rap_loop_run_once(struct rap_loop *loop, int timeout_ms);

/* Runs until rap_loop_stop(). Returns 0 or -errno. */
RAP_API int rap_loop_run(struct rap_loop *loop);
RAP_API void rap_loop_stop(struct rap_loop *loop);

/* Wakes a sleeping loop from any thread (an eventfd). */
RAP_API void rap_loop_wake(struct rap_loop *loop);

/* Monotonic milliseconds, the loop's clock. */
RAP_API uint64_t rap_loop_now_ms(void);

#ifdef __cplusplus
}
#endif

#endif
