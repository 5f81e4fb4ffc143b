/* Internal helpers shared by the three libraries (linked into each, never exported).
 * Every allocation of the libraries goes through rap__malloc and friends so that tests can
 * make the N-th allocation fail (rap__alloc_fail_after). */
#ifndef RAP_COMMON_H
#define RAP_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of the hex digit c (either case), or -1. */
int rap__hexval(int c);

void *rap__malloc(size_t n);
void *rap__calloc(size_t nmemb, size_t size);
void *rap__realloc(void *p, size_t n);
void rap__free(void *p);
char *rap__strdup(const char *s);
char *rap__strndup(const char *s, size_t n);

/* Test hooks, process-wide (every thread's allocations count). Setting one cancels the other.
 * rap__alloc_fail_after: after n more successful allocations, every allocation fails.
 * rap__alloc_fail_nth: after n more successful allocations, the next one fails, and
 * the ones after it succeed again. n < 0 (either) stops failing.
 * rap__alloc_failures: how many allocations were refused since a hook was last set (so a
 * test knows whether an operation ran into the failure or completed before it).
 * rap__alloc_fail_here_only(true): from the next rap__alloc_fail_* on, only allocations made
 * by the thread that called it count and fail (a test's peer threads then allocate freely). */
void rap__alloc_fail_after(long n);
void rap__alloc_fail_nth(long n);
long rap__alloc_failures(void);
void rap__alloc_fail_here_only(bool on);

/* A growable byte buffer with a hard cap fixed at initialisation. */
struct rap__buf {
	uint8_t *data;
	size_t len;  /* bytes held */
	size_t cap;  /* bytes allocated */
	size_t max;  /* hard cap: appends past it fail with RAP_ETOOBIG */
};

void rap__buf_init(struct rap__buf *b, size_t max);
void rap__buf_free(struct rap__buf *b);
/* Ensures room for n more bytes. Errors: RAP_ETOOBIG, RAP_ENOMEM. */
int rap__buf_reserve(struct rap__buf *b, size_t n);
int rap__buf_append(struct rap__buf *b, const void *p, size_t n);
int rap__buf_printf(struct rap__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rap__buf_vprintf(struct rap__buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes. */
void rap__buf_consume(struct rap__buf *b, size_t n);
/* Hands the data to the caller as a NUL-terminated heap string (free()) and empties b. */
char *rap__buf_steal_str(struct rap__buf *b);

/* Big-endian helpers. */
static inline void rap__put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t rap__get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void rap__put_be64(uint8_t *p, uint64_t v)
{
	rap__put_be32(p, (uint32_t)(v >> 32));
	rap__put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t rap__get_be64(const uint8_t *p)
{
	return ((uint64_t)rap__get_be32(p) << 32) | rap__get_be32(p + 4);
}

#endif
