/* "malloc": a zero-filled buffer of fixed size, malloc://N.
 *
 * radare2's plugin also takes hex://; only malloc:// is provided here, so the buffer never
 * holds anything a client did not write into it. */
#include <string.h>

#include <rap/io.h>

#include "common.h"
#include "io_private.h"

#define MALLOC_SCHEME "malloc://"
/* A remote OPEN can ask for any size: keep one request from taking the server's memory. */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define MALLOC_MAX ((uint64_t)1 << 30)
#else
#define MALLOC_MAX ((uint64_t)1 << 20) /* libFuzzer builds: see meson.build */
#endif

struct malloc_state {
	uint8_t *buf;
	size_t size;
};

static bool malloc_accepts(const char *uri)
{
	return strncmp(uri, MALLOC_SCHEME, strlen(MALLOC_SCHEME)) == 0;
}

/* Decimal or 0x-prefixed hex, nothing else: strtoull would also take signs, blanks and
 * octal, none of which a user means in a size. */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return RAP_EINVAL;
	uint64_t v = 0;
	for (; *s; s++) {
		unsigned digit;
		if (*s >= '0' && *s <= '9')
			digit = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			digit = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			digit = (unsigned)(*s - 'A' + 10);
		else
			return RAP_EINVAL;
		v = v * base + digit;
		if (v > MALLOC_MAX)
			return RAP_EINVAL;
	}
	*out = v;
	return 0;
}

static int malloc_open(struct rap_io_desc *d, const char *uri, int perm)
{
	uint64_t size;
	int rc = parse_size(uri + strlen(MALLOC_SCHEME), &size);
	if (rc < 0)
		return rc;
	struct malloc_state *s = rap__malloc(sizeof(*s));
	if (!s)
		return RAP_ENOMEM;
	/* calloc: the zero pages of a large buffer cost nothing until written. */
	s->buf = rap__calloc(1, (size_t)size);
	if (!s->buf) {
		rap__free(s);
		return RAP_ENOMEM;
	}
	s->size = (size_t)size;
	rap_io_desc_set_data(d, s);
	return 0;
}

static int malloc_close(struct rap_io_desc *d)
{
	struct malloc_state *s = rap_io_desc_data(d);
	rap__free(s->buf);
	rap__free(s);
	return 0;
}

/* How many of len bytes at off lie inside the buffer. */
static size_t in_bounds(const struct malloc_state *s, uint64_t off, size_t len)
{
	if (off >= s->size)
		return 0;
	size_t avail = s->size - (size_t)off;
	return len < avail ? len : avail;
}

static ssize_t malloc_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	struct malloc_state *s = rap_io_desc_data(d);
	size_t n = in_bounds(s, off, len);
	if (n)
		memcpy(buf, s->buf + off, n);
	return (ssize_t)n;
}

static ssize_t malloc_write(struct rap_io_desc *d, uint64_t off, const void *buf, size_t len)
{
	struct malloc_state *s = rap_io_desc_data(d);
	size_t n = in_bounds(s, off, len);
	if (n)
		memcpy(s->buf + off, buf, n);
	return (ssize_t)n;
}

static int malloc_size(struct rap_io_desc *d, uint64_t *size)
{
	const struct malloc_state *s = rap_io_desc_data(d);
	*size = s->size;
	return 0;
}

const struct rap_io_plugin rap__io_plugin_malloc = {
	.abi = RAP_IO_PLUGIN_ABI,
	.name = "malloc",
	.desc = "Memory allocation plugin",
	.uris = MALLOC_SCHEME,
	.author = RAP__IO_AUTHOR,
	.license = RAP__IO_LICENSE,
	.accepts = malloc_accepts,
	.open = malloc_open,
	.close = malloc_close,
	.read = malloc_read,
	.write = malloc_write,
	.size = malloc_size,
};
