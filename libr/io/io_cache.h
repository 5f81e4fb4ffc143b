/* The read cache between io.c and a descriptor's plugin (cache.c); rap/io.h documents what
 * it does for users. Shared by the files of librap-io and its unit tests; never installed.
 *
 * cache.c knows nothing of descriptors: io.c gives it a function that reads through the
 * plugin, and keeps one struct rap__io_cache_fd per descriptor. Everything here takes the
 * instance cache's own lock, a leaf: it is taken under a descriptor's operation lock or the
 * instance's, never the other way round, and never held across a plugin call. */
#ifndef RAP_IO_CACHE_PRIVATE_H
#define RAP_IO_CACHE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rap/io.h>

struct rap__io_cache;    /* one per instance: the memory bound, the LRU, the descriptors */
struct rap__io_cache_fd; /* one per descriptor: its blocks and read-ahead streams */

/* Reads through the plugin: pread-like, as struct rap_io_plugin's read. */
typedef ssize_t (*rap__io_cache_read_fn)(void *user, uint64_t off, void *buf, size_t len);
/* The plugin's size: 0 or negative, as struct rap_io_plugin's size. */
typedef int (*rap__io_cache_size_fn)(void *user, uint64_t *size);

/* A cache with the default bound and read-ahead limit. Errors: RAP_ENOMEM, -errno. */
int rap__io_cache_new(struct rap__io_cache **out);
/* Frees c; every descriptor's state must have been freed before. NULL is fine. */
void rap__io_cache_free(struct rap__io_cache *c);

/* State for one descriptor, caching nothing until rap__io_cache_fd_set turns it on.
 * Errors: RAP_ENOMEM. */
int rap__io_cache_fd_new(struct rap__io_cache *c, struct rap__io_cache_fd **out);
/* Drops f's blocks and frees it. NULL is fine. */
void rap__io_cache_fd_free(struct rap__io_cache_fd *f);

/* RAP_IO_CACHE_ON and RAP_IO_CACHE_VOLATILE (rap/io.h); a change drops f's blocks. */
void rap__io_cache_fd_set(struct rap__io_cache_fd *f, unsigned flags);
unsigned rap__io_cache_fd_flags(struct rap__io_cache_fd *f);

/* A read of len (> 0) bytes at off through the cache: what fn would answer for the same
 * range, from blocks where they are held and from fn (one call per miss, covering the
 * block and the read-ahead) where not. Errors: fn's. f NULL or off: fn alone. */
ssize_t rap__io_cache_read(struct rap__io_cache_fd *f, rap__io_cache_read_fn fn, void *user, uint64_t off,
			   void *buf, size_t len);
/* The size through the cache (kept until an invalidation or a write). */
int rap__io_cache_size(struct rap__io_cache_fd *f, rap__io_cache_size_fn fn, void *user, uint64_t *size);
/* After a write of len bytes at off through f (whatever its result): drops the range from
 * every descriptor of the instance (another may be open on the same file), every block of
 * volatile ones, and what any of them knew of its end and size (a write may extend a
 * file). */
void rap__io_cache_wrote(struct rap__io_cache_fd *f, uint64_t off, size_t len);
/* Drops f's blocks and what it knew of its end and size. */
void rap__io_cache_invalidate(struct rap__io_cache_fd *f);
/* rap__io_cache_invalidate on every volatile descriptor, or on every descriptor. */
void rap__io_cache_invalidate_volatile(struct rap__io_cache *c);
void rap__io_cache_invalidate_all(struct rap__io_cache *c);

void rap__io_cache_set_max(struct rap__io_cache *c, size_t bytes);
size_t rap__io_cache_max(struct rap__io_cache *c);
void rap__io_cache_set_readahead(struct rap__io_cache *c, size_t bytes);
size_t rap__io_cache_readahead(struct rap__io_cache *c);
void rap__io_cache_stats(struct rap__io_cache_fd *f, struct rap_io_cache_stats *out);

/* Test seam: the clock the read-ahead measures fetches with (nanoseconds, any origin), so
 * a unit test can play a link of any latency and bandwidth; NULL: CLOCK_MONOTONIC. */
void rap__io_cache_set_clock(struct rap__io_cache *c, uint64_t (*now_ns)(void *user), void *user);

#endif
