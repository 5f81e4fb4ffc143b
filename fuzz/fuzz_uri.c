/* Fuzz target for URIs (libr/rap/uri.c). Input layout:
 *   byte 0      default scheme: none, "rap", "tcp", "http" (low 2 bits)
 *   the rest    the text, up to its first NUL
 * Checks: a parsed URI has NUL-terminated fields of legal characters; formatting it and
 * parsing the result gives the same URI (the text '=+' lists is the one it connects to);
 * formatting into a short buffer fails cleanly; a failed parse leaves *out cleared. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

#include "fuzz.h"

#define INPUT_MAX 8192

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static bool same(const struct rap_uri *a, const struct rap_uri *b)
{
	return !strcmp(a->scheme, b->scheme) && !strcmp(a->host, b->host) && !strcmp(a->port, b->port) &&
	       !strcmp(a->path, b->path) && a->has_path == b->has_path && a->listen == b->listen &&
	       a->tls == b->tls;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const schemes[4] = { NULL, "rap", "tcp", "http" };
	static const struct rap_uri zero;
	if (size < 1 || size > INPUT_MAX)
		return 0;
	const char *def = schemes[data[0] & 3];
	char *text = malloc(size);
	CHECK(text != NULL);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';

	struct rap_uri u, v;
	int rc = rap_uri_parse(text, def, &u);
	if (rc < 0) {
		CHECK(rc == RAP_EURI);
		CHECK(memcmp(&u, &zero, sizeof u) == 0);
		free(text);
		return 0;
	}
	CHECK(rc == 0);
	CHECK(terminated(u.scheme, sizeof u.scheme) && terminated(u.host, sizeof u.host));
	CHECK(terminated(u.port, sizeof u.port) && terminated(u.path, sizeof u.path));
	CHECK(u.scheme[0] != '\0' && u.port[0] != '\0');
	CHECK(strspn(u.port, "0123456789") == strlen(u.port) && atoi(u.port) <= 65535);
	CHECK(u.has_path == (u.path[0] != '\0'));
	CHECK(u.listen == (u.host[0] == '\0'));
	CHECK(u.tls == !strcmp(u.scheme, "raps"));
	CHECK(strpbrk(u.host, "/[]@ ") == NULL);

	size_t cap = strlen(u.scheme) + strlen(u.host) + strlen(u.port) + strlen(u.path) + 16;
	char *out = malloc(cap);
	CHECK(out != NULL);
	ssize_t n = rap_uri_format(&u, out, cap);
	CHECK(n > 0 && (size_t)n == strlen(out));
	CHECK(rap_uri_parse(out, NULL, &v) == 0);
	CHECK(same(&u, &v));
	/* One byte short: refused, and still a string. */
	CHECK(rap_uri_format(&u, out, (size_t)n) == RAP_ENOSPC);
	CHECK(strlen(out) < (size_t)n);
	free(out);
	free(text);
	return 0;
}
