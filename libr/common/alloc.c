#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* The test hook's state. Atomic because the libraries allocate from several threads (a
 * core's background servers, a test's in-process peers) while a test sets the hook. */
static atomic_long fail_countdown = -1; /* successes left before failures; < 0: never fail */
static atomic_bool fail_once;           /* only the one allocation fails, then none */
static atomic_long fail_count;          /* allocations refused since the hook was last set */
/* With fail_here_only, only the thread that set the hook counts: threads are told apart by
 * the address of a thread-local variable (unique among live threads). */
static atomic_bool fail_here_only;
static atomic_uintptr_t fail_thread;
static _Thread_local char thread_tag;

static void arm(long n, bool once)
{
	atomic_store(&fail_countdown, -1);
	atomic_store(&fail_count, 0);
	atomic_store(&fail_once, once);
	atomic_store(&fail_thread, (uintptr_t)&thread_tag);
	atomic_store(&fail_countdown, n < 0 ? -1 : n);
}

void rap__alloc_fail_here_only(bool on)
{
	atomic_store(&fail_here_only, on);
}

void rap__alloc_fail_after(long n)
{
	arm(n, false);
}

void rap__alloc_fail_nth(long n)
{
	arm(n, true);
}

long rap__alloc_failures(void)
{
	return atomic_load(&fail_count);
}

static bool should_fail(void)
{
	long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
	if (c >= 0 && atomic_load(&fail_here_only) && atomic_load(&fail_thread) != (uintptr_t)&thread_tag)
		return false;
	while (c >= 0) {
		long next = c > 0 ? c - 1 : (atomic_load(&fail_once) ? -1 : 0);
		if (atomic_compare_exchange_weak(&fail_countdown, &c, next)) {
			if (c > 0)
				return false;
			atomic_fetch_add(&fail_count, 1);
			return true;
		}
	}
	return false;
}

void *rap__malloc(size_t n)
{
	return should_fail() ? NULL : malloc(n ? n : 1);
}

void *rap__calloc(size_t nmemb, size_t size)
{
	return should_fail() ? NULL : calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *rap__realloc(void *p, size_t n)
{
	return should_fail() ? NULL : realloc(p, n ? n : 1);
}

void rap__free(void *p)
{
	free(p);
}

char *rap__strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = rap__malloc(len + 1);
	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *rap__strdup(const char *s)
{
	return rap__strndup(s, strlen(s));
}
