/* Accepting connections on a rap_loop, for every server of the suite: listening sockets
 * handed over by the caller, at most RAP_LISTENER_ACCEPTS_PER_EVENT accepts per readiness
 * event (so a connection flood cannot starve the connections already served), and, when
 * the process runs out of descriptors or memory, a pause of RAP_LISTENER_PAUSE_MS on a
 * loop timer instead of a busy loop on a listener that stays readable. Each accepted socket
 * is non-blocking and close-on-exec, and goes to a callback with its peer's address.
 * Errors follow rap.h. Not thread-safe: use a listener from the thread that runs its loop. */
#ifndef RAP_LISTENER_H
#define RAP_LISTENER_H

#include <sys/socket.h>

#include <rap/loop.h>
#include <rap/rap.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bounded, so a connection flood cannot starve sessions. */
#define RAP_LISTENER_ACCEPTS_PER_EVENT 64
/* After EMFILE, ENFILE, ENOBUFS or ENOMEM: wait for descriptors instead of spinning. */
#define RAP_LISTENER_PAUSE_MS 100

/* One or more listening sockets accepting on one loop; a pause stops all of them. */
struct rap_listener;

/* Either callback may free the listener; then no further connection is accepted. */
struct rap_listener_callbacks {
	/* A connection was accepted on the socket added with sock_user. fd (non-blocking,
	 * close-on-exec) is owned by the callee from now on: it keeps it or closes it. peer is
	 * the client's address, borrowed for the call. Required. */
	void (*accept)(void *user, void *sock_user, int fd, const struct sockaddr_storage *peer);
	/* Optional: accept failed with err (-EMFILE, -ENFILE, -ENOBUFS or -ENOMEM), and every
	 * socket of the listener stops accepting for pause_ms (connections wait in the
	 * kernel's backlog meanwhile). Called on each pause, so rate-limit any log line. */
	void (*paused)(void *user, int err, uint64_t pause_ms);
};

/* Creates a listener without sockets on loop (borrowed; must outlive it). cb is copied;
 * user (borrowed) is passed to both callbacks. *out is freed with rap_listener_free.
 * Errors: RAP_EINVAL (a NULL argument or no accept callback), RAP_ENOMEM. */
RAP_API int rap_listener_new(struct rap_loop *loop, const struct rap_listener_callbacks *cb, void *user,
			     struct rap_listener **out);

/* Stops watching and closes every socket of l, and frees it; connections already accepted
 * stay the callee's. NULL is ignored. May be called from the callbacks. */
RAP_API void rap_listener_free(struct rap_listener *l);

/* Accepts on fd, a listening socket, from now on; it is made non-blocking. On success the
 * listener owns fd (rap_listener_free closes it); on failure the caller still does.
 * sock_user (borrowed) is passed to the accept callback for this socket's connections.
 * Errors: RAP_EINVAL (fd < 0 or already watched by the loop), RAP_ENOMEM, -errno. */
RAP_API int rap_listener_add(struct rap_listener *l, int fd, void *sock_user);

#ifdef __cplusplus
}
#endif

#endif
