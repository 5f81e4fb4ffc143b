#include <stdio.h>
#include <string.h>

#include <rap/rap.h>

#include "common.h"

void rap__buf_init(struct rap__buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void rap__buf_free(struct rap__buf *b)
{
	rap__free(b->data);
	rap__buf_init(b, b->max);
}

int rap__buf_reserve(struct rap__buf *b, size_t n)
{
	/* +1 keeps room for the NUL that rap__buf_steal_str adds. */
	if (n > b->max - b->len || b->len + n + 1 < b->len)
		return RAP_ETOOBIG;
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = rap__realloc(b->data, cap);
	if (!p)
		return RAP_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int rap__buf_append(struct rap__buf *b, const void *p, size_t n)
{
	int rc = rap__buf_reserve(b, n);
	if (rc < 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int rap__buf_vprintf(struct rap__buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return RAP_EINVAL;
	int rc = rap__buf_reserve(b, (size_t)n);
	if (rc < 0)
		return rc;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int rap__buf_printf(struct rap__buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = rap__buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void rap__buf_consume(struct rap__buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

char *rap__buf_steal_str(struct rap__buf *b)
{
	if (rap__buf_reserve(b, 0) < 0)
		return NULL;
	b->data[b->len] = '\0';
	char *s = (char *)b->data;
	rap__buf_init(b, b->max);
	return s;
}
