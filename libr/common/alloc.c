#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Remaining successful allocations before failures start; negative = never fail. */
static long fail_countdown = -1;

void rap__alloc_fail_after(long n)
{
	fail_countdown = n;
}

static bool should_fail(void)
{
	if (fail_countdown < 0)
		return false;
	if (fail_countdown == 0)
		return true;
	fail_countdown--;
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
