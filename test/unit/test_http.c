/* The HTTP/1.1 parser and responder of the prompt servers (http.c), on their own: good
 * requests of every shape, each malformed case with the status it answers, the limits,
 * body framing and 100-continue, percent-decoding, the checks against browsers and other
 * origins, the TCP server's HTTP detection, and the exact bytes of responses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rap/rap.h>

#include "common.h"
#include "http.h"

/* Parses text (a C string) and returns the result; r is cleared by the caller. */
static int parse(const char *text, struct rap__http_req *r)
{
	return rap__http_parse(text, strlen(text), r);
}

/* The status text answers for a whole request. */
static int status_of(const char *text)
{
	struct rap__http_req r;
	int st = parse(text, &r);
	rap__http_req_clear(&r);
	return st;
}

/* ---- good requests ------------------------------------------------------------------- */

static void test_get(void **state)
{
	(void)state;
	struct rap__http_req r;
	const char *text = "GET /cmd/px%2032 HTTP/1.1\r\nHost: 127.0.0.1:9090\r\nUser-Agent: curl/8.0\r\n\r\n";
	assert_int_equal(parse(text, &r), 0);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.target, "/cmd/px%2032"); /* as sent: decoding is the caller's */
	assert_int_equal(r.minor, 1);
	assert_true(r.has_host);
	assert_string_equal(r.host, "127.0.0.1:9090");
	assert_false(r.has_length);
	assert_false(r.ua_browser);
	assert_false(r.has_origin || r.has_referer || r.has_fetch_meta || r.has_fetch_site || r.has_xrap);
	assert_int_equal(r.head_len, strlen(text));
	rap__http_req_clear(&r);
	assert_null(r.target);
	rap__http_req_clear(&r); /* twice is harmless */
}

static void test_bare_lf_and_http10(void **state)
{
	(void)state;
	struct rap__http_req r;
	/* HTTP/1.0 needs no Host; lines may end with a bare LF. */
	const char *text = "HEAD / HTTP/1.0\n\n";
	assert_int_equal(parse(text, &r), 0);
	assert_string_equal(r.method, "HEAD");
	assert_string_equal(r.target, "/");
	assert_int_equal(r.minor, 0);
	assert_false(r.has_host);
	assert_int_equal(r.head_len, strlen(text));
	rap__http_req_clear(&r);
	/* Mixed line ends, and any token as a method (the server answers 405 itself). */
	assert_int_equal(status_of("PROPFIND /x HTTP/1.1\r\nHost: a\n\r\n"), 0);
}

static void test_post_body(void **state)
{
	(void)state;
	struct rap__http_req r;
	const char *text = "POST /cmd HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\npx 16";
	assert_int_equal(parse(text, &r), 0);
	assert_string_equal(r.method, "POST");
	assert_true(r.has_length);
	assert_int_equal(r.length, 5);
	assert_memory_equal(text + r.head_len, "px 16", 5);
	rap__http_req_clear(&r);
	/* Bytes after the body (a pipelined request) are not this request's. */
	assert_int_equal(status_of("POST /cmd HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\npxGET"), 0);
	/* The same length twice is one length. */
	assert_int_equal(parse("POST /cmd HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-length: 2\r\n\r\np8", &r), 0);
	assert_int_equal(r.length, 2);
	rap__http_req_clear(&r);
	/* Content-Length: 0 and leading zeros. */
	assert_int_equal(parse("POST /cmd HTTP/1.1\r\nHost: a\r\nContent-Length: 000\r\n\r\n", &r), 0);
	assert_true(r.has_length);
	assert_int_equal(r.length, 0);
	rap__http_req_clear(&r);
}

static void test_header_values(void **state)
{
	(void)state;
	struct rap__http_req r;
	/* Names are case-insensitive; values lose surrounding blanks; long values are cut. */
	char text[1024];
	char longhost[400];
	memset(longhost, 'h', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "GET / HTTP/1.1\r\nhOsT: \t %s \t\r\norigin:   http://localhost:9090  \r\n"
		 "SEC-FETCH-SITE: same-origin\r\nX-Custom: 1\r\n\r\n",
		 longhost);
	assert_int_equal(parse(text, &r), 0);
	assert_int_equal(strlen(r.host), sizeof(r.host) - 1);
	assert_int_equal(strspn(r.host, "h"), sizeof(r.host) - 1);
	assert_true(r.has_origin);
	assert_string_equal(r.origin, "http://localhost:9090");
	assert_true(r.has_fetch_site);
	assert_string_equal(r.fetch_site, "same-origin");
	assert_true(r.has_fetch_meta);
	rap__http_req_clear(&r);

	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nSec-Fetch-Mode: cors\r\nReferer: x\r\n"
			       "X-Rap: 1\r\nUser-Agent: Mozilla/5.0 (X11)\r\n\r\n",
			       &r),
			 0);
	assert_true(r.has_fetch_meta);
	assert_false(r.has_fetch_site);
	assert_true(r.has_referer);
	assert_true(r.has_xrap);
	assert_true(r.ua_browser);
	rap__http_req_clear(&r);

	/* "Sec-Fetch-" alone is no Sec-Fetch-* header; "Mozilla" without the slash no browser. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nSec-Fetch-: x\r\nUser-Agent: Mozilla\r\n\r\n", &r), 0);
	assert_false(r.has_fetch_meta);
	assert_false(r.ua_browser);
	rap__http_req_clear(&r);

	/* An empty value is still a header. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n", &r), 0);
	assert_true(r.has_host);
	assert_string_equal(r.host, "");
	rap__http_req_clear(&r);
}

/* ---- malformed requests ------------------------------------------------------------------ */

static void test_malformed_request_line(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int status;
	} cases[] = {
		{ "\r\n\r\n", 400 },                                 /* empty request line */
		{ " / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },           /* no method */
		{ "GET\r\nHost: a\r\n\r\n", 400 },                   /* no target */
		{ "GET / \r\nHost: a\r\n\r\n", 400 },                /* no version */
		{ "GET  HTTP/1.1\r\nHost: a\r\n\r\n", 400 },         /* empty target */
		{ "GET /\r\nHost: a\r\n\r\n", 400 },                 /* HTTP/0.9 style */
		{ "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },        /* not a token */
		{ "ABCDEFGHIJKLMNOP / HTTP/1.1\r\nHost: a\r\n\r\n", 400 }, /* method too long */
		{ "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400 },       /* trailing blank */
		{ "GET / http/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/1\r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/x.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/1,1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400 },   /* control byte in the target */
		{ "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
		{ "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400 },     /* space in the target */
		{ "GET /\rx HTTP/1.1\r\nHost: a\r\n\r\n", 400 },     /* bare CR */
		{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
		{ "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505 },
		{ "GET / HTTP/1.1\r\n\r\n", 400 },                   /* 1.1 without Host */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = status_of(cases[i].text);
		if (st != cases[i].status)
			fail_msg("case %zu (%s): %d, want %d", i, cases[i].text, st, cases[i].status);
	}
	/* A NUL byte in a line. */
	static const char nul[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
	struct rap__http_req r;
	assert_int_equal(rap__http_parse(nul, sizeof(nul) - 1, &r), 400);
	rap__http_req_clear(&r);
}

static void test_malformed_headers(void **state)
{
	(void)state;
	static const struct {
		const char *headers;
		int status;
	} cases[] = {
		{ "Host: a\r\n folded\r\n", 400 },             /* obsolete line folding */
		{ "Host: a\r\n\tfolded\r\n", 400 },
		{ "Host: a\r\nNoColon\r\n", 400 },
		{ "Host: a\r\n: empty name\r\n", 400 },
		{ "Host: a\r\nBad Name: x\r\n", 400 },          /* blank in the name */
		{ "Host: a\r\nBad(Name): x\r\n", 400 },
		{ "Host: a\r\nX: a\rb\r\n", 400 },              /* bare CR in a value */
		{ "Host: a\r\nHost: b\r\n", 400 },              /* two Hosts */
		{ "Host: a\r\nOrigin: x\r\nOrigin: x\r\n", 400 },
		{ "Host: a\r\nSec-Fetch-Site: none\r\nSec-Fetch-Site: none\r\n", 400 },
		{ "Host: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n", 400 },
		{ "Host: a\r\nContent-Length:\r\n", 400 },
		{ "Host: a\r\nContent-Length: 1a\r\n", 400 },
		{ "Host: a\r\nContent-Length: -1\r\n", 400 },
		{ "Host: a\r\nContent-Length: +1\r\n", 400 },
		{ "Host: a\r\nContent-Length: 1 2\r\n", 400 },
		{ "Host: a\r\nContent-Length: 1234567890123\r\n", 413 }, /* more than 12 digits */
		{ "Host: a\r\nTransfer-Encoding: chunked\r\n", 501 },
		{ "Host: a\r\ntransfer-encoding: identity\r\n", 501 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "POST /cmd HTTP/1.1\r\n%s\r\n", cases[i].headers);
		int st = status_of(text);
		if (st != cases[i].status)
			fail_msg("case %zu (%s): %d, want %d", i, cases[i].headers, st, cases[i].status);
	}
	/* A NUL byte in a header. */
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	struct rap__http_req r;
	assert_int_equal(rap__http_parse(nul, sizeof(nul) - 1, &r), 400);
	rap__http_req_clear(&r);
}

/* ---- limits and framing ------------------------------------------------------------------ */

static void test_incomplete(void **state)
{
	(void)state;
	const char *text = "POST /cmd HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\np8 4";
	size_t full = strlen(text), head = full - 4;
	/* Every prefix of the head needs more; with the head, only the body is missing. */
	for (size_t len = 0; len < full; len++) {
		struct rap__http_req r;
		int st = rap__http_parse(text, len, &r);
		if (st != RAP_EAGAIN)
			fail_msg("prefix %zu: %d", len, st);
		assert_int_equal(r.head_len, len < head ? 0 : head);
		rap__http_req_clear(&r);
	}
	struct rap__http_req r;
	assert_int_equal(rap__http_parse(text, full, &r), 0);
	rap__http_req_clear(&r);
}

static void test_limits(void **state)
{
	(void)state;
	size_t cap = RAP__HTTP_HEAD_MAX + 64;
	char *buf = malloc(cap);
	assert_non_null(buf);

	/* A request line that never ends: 414 once past the line limit, not before. */
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', cap - 5);
	struct rap__http_req r;
	assert_int_equal(rap__http_parse(buf, RAP__HTTP_LINE_MAX, &r), RAP_EAGAIN);
	rap__http_req_clear(&r);
	assert_int_equal(rap__http_parse(buf, RAP__HTTP_LINE_MAX + 1, &r), 414);
	rap__http_req_clear(&r);
	/* A complete request line longer than the limit, and one exactly at it. */
	memcpy(buf + RAP__HTTP_LINE_MAX - 8, " HTTP/1.1\n\n", 11);
	assert_int_equal(rap__http_parse(buf, RAP__HTTP_LINE_MAX + 3, &r), 414);
	rap__http_req_clear(&r);
	memcpy(buf + RAP__HTTP_LINE_MAX - 9, " HTTP/1.0\n\n", 11);
	assert_int_equal(rap__http_parse(buf, RAP__HTTP_LINE_MAX + 2, &r), 0);
	assert_int_equal(strlen(r.target), RAP__HTTP_LINE_MAX - 9 - 4);
	rap__http_req_clear(&r);

	/* More header lines than the limit: 431; as many as the limit: fine. */
	size_t n0 = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < RAP__HTTP_HEADERS_MAX; i++)
		n0 += (size_t)snprintf(buf + n0, cap - n0, "X-%d: y\r\n", i);
	memcpy(buf + n0, "\r\n", 2);
	assert_int_equal(rap__http_parse(buf, n0 + 2, &r), 0);
	rap__http_req_clear(&r);
	n0 += (size_t)snprintf(buf + n0, cap - n0, "X-last: y\r\n\r\n");
	assert_int_equal(rap__http_parse(buf, n0, &r), 431);
	rap__http_req_clear(&r);

	/* Headers that never end: 431 past the limit. */
	int n = snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\nX-Filler: ");
	memset(buf + n, 'b', cap - (size_t)n);
	assert_int_equal(rap__http_parse(buf, RAP__HTTP_HEAD_MAX, &r), RAP_EAGAIN);
	rap__http_req_clear(&r);
	assert_int_equal(rap__http_parse(buf, RAP__HTTP_HEAD_MAX + 1, &r), 431);
	rap__http_req_clear(&r);
	/* Complete header lines past the limit. */
	memcpy(buf + RAP__HTTP_HEAD_MAX - 2, "\r\n\r\n", 4);
	assert_int_equal(rap__http_parse(buf, RAP__HTTP_HEAD_MAX + 2, &r), 431);
	rap__http_req_clear(&r);
	/* Exactly at the limit the head is complete. */
	memcpy(buf + RAP__HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
	assert_int_equal(rap__http_parse(buf, RAP__HTTP_HEAD_MAX, &r), 0);
	assert_int_equal(r.head_len, RAP__HTTP_HEAD_MAX);
	rap__http_req_clear(&r);
	free(buf);

	/* A body over the limit is refused as soon as the head says so. */
	char text[128];
	snprintf(text, sizeof(text), "POST /cmd HTTP/1.1\r\nHost: a\r\nContent-Length: %u\r\n\r\n", RAP__HTTP_BODY_MAX + 1);
	assert_int_equal(status_of(text), 413);
	snprintf(text, sizeof(text), "POST /cmd HTTP/1.1\r\nHost: a\r\nContent-Length: %u\r\n\r\n", RAP__HTTP_BODY_MAX);
	assert_int_equal(status_of(text), RAP_EAGAIN);
	assert_int_equal(status_of("POST /cmd HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999\r\n\r\n"), 413);
}

static void test_continue(void **state)
{
	(void)state;
	const char *text = "POST /cmd HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\np8";
	size_t full = strlen(text), head = full - 2;
	struct rap__http_req r;
	/* Not before the head is complete. */
	assert_int_equal(rap__http_parse(text, head - 1, &r), RAP_EAGAIN);
	assert_false(rap__http_continue_due(&r, head - 1));
	rap__http_req_clear(&r);
	/* The head and nothing more: the client waits for it. */
	assert_int_equal(rap__http_parse(text, head, &r), RAP_EAGAIN);
	assert_true(r.expect_continue);
	assert_true(rap__http_continue_due(&r, head));
	rap__http_req_clear(&r);
	/* A body byte arrived: it did not wait. */
	assert_int_equal(rap__http_parse(text, head + 1, &r), RAP_EAGAIN);
	assert_false(rap__http_continue_due(&r, head + 1));
	rap__http_req_clear(&r);
	/* Without the Expect header, or with another expectation, never. */
	const char *plain = "POST /cmd HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n";
	assert_int_equal(parse(plain, &r), RAP_EAGAIN);
	assert_false(r.expect_continue);
	assert_false(rap__http_continue_due(&r, strlen(plain)));
	rap__http_req_clear(&r);
	/* An HTTP/1.0 client's expectation is ignored (RFC 9110 10.1.1): it knows no 1xx. */
	const char *old = "POST /cmd HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
	assert_int_equal(parse(old, &r), RAP_EAGAIN);
	assert_false(rap__http_continue_due(&r, strlen(old)));
	rap__http_req_clear(&r);
	assert_string_equal(RAP__HTTP_CONTINUE, "HTTP/1.1 100 Continue\r\n\r\n");
}

static void test_looks_like_request(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		bool http;
	} cases[] = {
		{ "GET /cmd/px HTTP/1.1\r\n", true },
		{ "GET / HTTP/1.0\n", true },
		{ "POST /cmd HTTP/1.1\nHost: a\n", true },
		{ "GET /cmd/px HTTP/1.1", false }, /* the line is not complete yet */
		{ "px 32\n", false },
		{ "get / HTTP/1.1\n", false },
		{ "GET x HTTP/1.1\n", false },
		{ "GET / HTTP/1.2\n", false },
		{ "GET / HTTP/2.0\n", false },
		{ "GET /HTTP/1.1\n", false },
		{ "GET / http/1.1\n", false },
		{ "ABCDEFGHIJK / HTTP/1.1\n", false }, /* longer than any method we take for HTTP */
		{ " / HTTP/1.1\n", false },
		{ "\n", false },
		{ "", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (rap__http_looks_like_request(cases[i].text, strlen(cases[i].text)) != cases[i].http)
			fail_msg("case %zu: %s", i, cases[i].text);
}

/* ---- percent-decoding ---------------------------------------------------------------------- */

static void test_url_decode(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "px%2032", "px 32" },
		{ "px+32", "px+32" },       /* a path, not a form */
		{ "%4a%4A%7e", "JJ~" },
		{ "%25", "%" },
		{ "%2520", "%20" },         /* decoded once */
		{ "", "" },
		{ "wx%20ff%3b%20p8%201", "wx ff; p8 1" },
		{ "%ff", "\xff" },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", good[i].in);
		assert_int_equal(rap__http_url_decode(buf), 0);
		assert_string_equal(buf, good[i].out);
	}
	static const char *const bad[] = { "%", "%2", "a%zz", "%g0", "%0g", "x%00y", "%%41" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", bad[i]);
		if (rap__http_url_decode(buf) != RAP_EINVAL)
			fail_msg("'%s' decoded", bad[i]);
	}
}

/* ---- who may ask ------------------------------------------------------------------------- */

static void test_host_is_address(void **state)
{
	(void)state;
	static const char *const yes[] = { "192.0.2.10", "192.0.2.10:9090", "[2001:db8::1]", "[2001:db8::1]:80",
					   "127.0.0.1", "localhost:1", "[::1]" };
	static const char *const no[] = { "example.com", "rebind.example:9090", "192.0.2.10.example", "[2001:db8::1",
					  "[2001:db8::1]x", "[evil]", "", "1.2.3", "localhost.evil" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!rap__http_host_is_address(yes[i]))
			fail_msg("'%s' is an address", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (rap__http_host_is_address(no[i]))
			fail_msg("'%s' is not an address", no[i]);
}

static void test_host_is_loopback(void **state)
{
	(void)state;
	static const char *const yes[] = { "localhost", "LocalHost:8080", "127.0.0.1", "127.1.2.3:80",
					   "[::1]", "[::1]:9090", "::1" };
	static const char *const no[] = { "example.com", "localhost.example.com", "128.0.0.1", "10.0.0.1:80",
					  "[::2]:80", "[::1", "::2", "", "0.0.0.0", "127.0.0.1.example.com",
					  "[::ffff:127.0.0.1]" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!rap__http_host_is_loopback(yes[i]))
			fail_msg("'%s' is loopback", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (rap__http_host_is_loopback(no[i]))
			fail_msg("'%s' is not loopback", no[i]);
}

static void test_origin_refusal(void **state)
{
	(void)state;
	struct rap__http_req r = { 0 };
	assert_null(rap__http_origin_refusal(&r));
	r.has_origin = true;
	static const char *const allowed[] = { "http://localhost:9090", "http://127.0.0.1", "https://[::1]:8443",
					       "localhost" };
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		snprintf(r.origin, sizeof(r.origin), "%s", allowed[i]);
		assert_null(rap__http_origin_refusal(&r));
	}
	static const char *const refused[] = { "null", "http://example.com", "http://localhost.evil:80", "" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(r.origin, sizeof(r.origin), "%s", refused[i]);
		assert_string_equal(rap__http_origin_refusal(&r), "cross-origin request");
	}
	memset(&r, 0, sizeof(r));
	r.has_fetch_site = true;
	strcpy(r.fetch_site, "same-origin");
	assert_null(rap__http_origin_refusal(&r));
	strcpy(r.fetch_site, "none");
	assert_null(rap__http_origin_refusal(&r));
	strcpy(r.fetch_site, "same-site");
	assert_string_equal(rap__http_origin_refusal(&r), "cross-site request");
	strcpy(r.fetch_site, "cross-site");
	assert_string_equal(rap__http_origin_refusal(&r), "cross-site request");
}

#define TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void test_csrf_refusal(void **state)
{
	(void)state;
	const char *why = "browser request without an X-Rap header (see =h?)";
	const char *why_token = "browser request without the page's X-Rap-Token (see =h?)";
	const char *wrong = "wrong X-Rap-Token (reload the page)";
	struct rap__http_req r = { 0 };
	assert_null(rap__http_csrf_refusal(&r, TOKEN)); /* curl, wget, scripts, r2pipe */
	r.ua_browser = true;
	assert_string_equal(rap__http_csrf_refusal(&r, TOKEN), why);
	r.has_xrap = true; /* a browser sends it cross-site only after a preflight */
	assert_null(rap__http_csrf_refusal(&r, TOKEN));
	struct rap__http_req each[3] = { { .has_fetch_meta = true }, { .has_referer = true }, { .ua_browser = true } };
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(rap__http_csrf_refusal(&each[i], TOKEN), why);
		each[i].has_xrap = true;
		assert_null(rap__http_csrf_refusal(&each[i], TOKEN));
	}
	/* What every browser adds (Origin, Sec-Fetch-Site): only the token lets it in. */
	struct rap__http_req br[2] = { { .has_origin = true, .has_xrap = true },
				       { .has_fetch_meta = true, .has_fetch_site = true, .has_xrap = true } };
	for (size_t i = 0; i < 2; i++) {
		assert_string_equal(rap__http_csrf_refusal(&br[i], TOKEN), why_token);
		br[i].has_token = true;
		strcpy(br[i].token, TOKEN);
		assert_null(rap__http_csrf_refusal(&br[i], TOKEN));
		/* Another token, a cut one, one longer, none at the server: refused. */
		br[i].token[63] = '0';
		assert_string_equal(rap__http_csrf_refusal(&br[i], TOKEN), wrong);
		br[i].token[63] = '\0';
		assert_string_equal(rap__http_csrf_refusal(&br[i], TOKEN), wrong);
		strcpy(br[i].token, TOKEN "0");
		assert_string_equal(rap__http_csrf_refusal(&br[i], TOKEN), wrong);
		strcpy(br[i].token, TOKEN);
		assert_string_equal(rap__http_csrf_refusal(&br[i], NULL), wrong);
	}
	/* A wrong token is refused from anyone. */
	struct rap__http_req any = { .has_token = true };
	strcpy(any.token, "x");
	assert_string_equal(rap__http_csrf_refusal(&any, TOKEN), wrong);
	/* Parsed from real header lines. */
	struct rap__http_req p;
	assert_int_equal(parse("GET /cmd/px HTTP/1.1\r\nHost: a\r\nUser-Agent: Mozilla/5.0\r\n\r\n", &p), 0);
	assert_string_equal(rap__http_csrf_refusal(&p, TOKEN), why);
	rap__http_req_clear(&p);
	assert_int_equal(parse("GET /cmd/px HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8.5.0\r\n\r\n", &p), 0);
	assert_null(rap__http_csrf_refusal(&p, TOKEN));
	rap__http_req_clear(&p);
	assert_int_equal(parse("POST /cmd HTTP/1.1\r\nHost: a\r\nOrigin: http://127.0.0.1:1\r\nSec-Fetch-Site: same-origin\r\n"
			       "X-Rap-Token: " TOKEN "\r\n\r\n",
			       &p),
			 0);
	assert_true(p.has_token);
	assert_string_equal(p.token, TOKEN);
	assert_null(rap__http_csrf_refusal(&p, TOKEN));
	rap__http_req_clear(&p);
	/* A value longer than the field is cut: never equal. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Rap-Token: " TOKEN "ff\r\n\r\n", &p), 0);
	assert_string_equal(rap__http_csrf_refusal(&p, TOKEN), wrong);
	rap__http_req_clear(&p);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-Rap-Token: a\r\nX-Rap-Token: a\r\n\r\n"), 400);
}

static void test_tokens_and_secrets(void **state)
{
	(void)state;
	char a[RAP__HTTP_TOKEN_LEN + 1], b[RAP__HTTP_TOKEN_LEN + 1];
	assert_int_equal(rap__http_token_new(a), 0);
	assert_int_equal(rap__http_token_new(b), 0);
	assert_int_equal(strlen(a), RAP__HTTP_TOKEN_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), RAP__HTTP_TOKEN_LEN);
	assert_string_not_equal(a, b); /* 256 random bits each */
	assert_true(rap__http_secret_equal(a, a));
	assert_false(rap__http_secret_equal(a, b));
	assert_false(rap__http_secret_equal("abc", "abcd"));
	assert_false(rap__http_secret_equal("abcd", "abc"));
	assert_false(rap__http_secret_equal("", "a"));
	assert_true(rap__http_secret_equal("", ""));
}

static void test_basic_auth(void **state)
{
	(void)state;
	static const struct {
		const char *header;
		bool ok;
	} cases[] = {
		{ "Authorization: Basic YWxpY2U6czNjcjN0\r\n", true },   /* alice:s3cr3t */
		{ "Authorization: basic YWxpY2U6czNjcjN0\r\n", true },   /* the scheme is case-insensitive */
		{ "Authorization: Basic YWxpY2U6czNjcjN1\r\n", false },  /* alice:s3cr3u */
		{ "Authorization: Basic YWxpY2U6czNjcjM=\r\n", false },  /* alice:s3cr3 */
		{ "Authorization: Basic YWxpY2U6czNjcjN0dA==\r\n", false }, /* alice:s3cr3tt */
		{ "Authorization: Basic YWxpY2U6czNj*jN0\r\n", false },  /* not base64 */
		{ "Authorization: Bearer YWxpY2U6czNjcjN0\r\n", false },
		{ "Authorization: Basic YWxpY2UAOnMzY3IzdA==\r\n", false }, /* a NUL inside */
		{ "", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", cases[i].header);
		struct rap__http_req r;
		assert_int_equal(parse(text, &r), 0);
		if (rap__http_basic_auth_ok(&r, "alice:s3cr3t") != cases[i].ok)
			fail_msg("case %zu: %s", i, cases[i].header);
		rap__http_req_clear(&r);
	}
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: x\r\nAuthorization: y\r\n\r\n"), 400);
}

static void test_keep_alive(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		bool keep;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade,close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\n\r\n", false },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\nConnection: te, keep-alive\r\n\r\n", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rap__http_req r;
		assert_int_equal(parse(cases[i].text, &r), 0);
		if (rap__http_keep_alive(&r) != cases[i].keep)
			fail_msg("case %zu: %s", i, cases[i].text);
		rap__http_req_clear(&r);
	}
}

/* ---- responses --------------------------------------------------------------------------- */

static void test_response(void **state)
{
	(void)state;
	size_t len = 0;
	char *r = rap__http_response(200, "hi\n", 3, false, &len);
	const char *want = "HTTP/1.1 200 OK\r\n"
			   "Content-Type: text/plain; charset=utf-8\r\n"
			   "Content-Length: 3\r\n"
			   "Cache-Control: no-store\r\n"
			   "X-Content-Type-Options: nosniff\r\n"
			   "Connection: close\r\n"
			   "\r\n"
			   "hi\n";
	assert_non_null(r);
	assert_int_equal(len, strlen(want));
	assert_string_equal(r, want);
	rap__free(r);

	/* HEAD: the length of the body that GET would send, without the body. */
	r = rap__http_response(200, "hi\n", 3, true, &len);
	assert_non_null(r);
	assert_int_equal(len, strlen(want) - 3);
	assert_memory_equal(r, want, len);
	assert_int_equal(r[len], '\0');
	rap__free(r);

	/* A body is sent byte for byte, NUL bytes included. */
	r = rap__http_response(200, "a\0b", 3, false, &len);
	assert_non_null(r);
	assert_memory_equal(r + len - 3, "a\0b", 3);
	rap__free(r);

	/* 405 says what is allowed. */
	r = rap__http_response(405, "", 0, false, &len);
	assert_non_null(r);
	assert_non_null(strstr(r, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(r, "\r\nAllow: GET, HEAD, POST\r\n"));
	assert_non_null(strstr(r, "\r\nContent-Length: 0\r\n"));
	rap__free(r);
	r = rap__http_response(404, "", 0, false, &len);
	assert_null(strstr(r, "Allow:"));
	rap__free(r);
}

static void test_format(void **state)
{
	(void)state;
	size_t len = 0;
	/* A page: its type and headers, kept alive. */
	struct rap__http_head h = { .status = 200, .type = "text/html; charset=utf-8", .extra = "X-Frame-Options: DENY\r\n",
				    .keep_alive = true };
	char *r = rap__http_format(&h, "<p>", 3, &len);
	const char *want = "HTTP/1.1 200 OK\r\n"
			   "Content-Type: text/html; charset=utf-8\r\n"
			   "Content-Length: 3\r\n"
			   "Cache-Control: no-store\r\n"
			   "X-Content-Type-Options: nosniff\r\n"
			   "X-Frame-Options: DENY\r\n"
			   "Connection: keep-alive\r\n"
			   "\r\n"
			   "<p>";
	assert_non_null(r);
	assert_string_equal(r, want);
	assert_int_equal(len, strlen(want));
	rap__free(r);
	/* Chunked: no length, no body (the chunks follow). */
	struct rap__http_head c = { .status = 200, .chunked = true, .keep_alive = true };
	r = rap__http_format(&c, "ignored", 7, &len);
	assert_non_null(r);
	assert_non_null(strstr(r, "\r\nTransfer-Encoding: chunked\r\n"));
	assert_null(strstr(r, "Content-Length"));
	assert_int_equal(strcmp(r + len - 4, "\r\n\r\n"), 0);
	rap__free(r);
	/* 401 asks for Basic credentials; nothing ever grants CORS. */
	r = rap__http_error_response(401, "credentials required", &len);
	assert_non_null(r);
	assert_non_null(strstr(r, "HTTP/1.1 401 Unauthorized\r\n"));
	assert_non_null(strstr(r, "\r\nWWW-Authenticate: Basic realm=\"rap\", charset=\"UTF-8\"\r\n"));
	assert_null(strstr(r, "Access-Control"));
	rap__free(r);
	/* Chunk size lines. */
	char line[24];
	assert_int_equal(rap__http_chunk_size(line, 1), 3);
	assert_string_equal(line, "1\r\n");
	assert_int_equal(rap__http_chunk_size(line, 0x40000), 7);
	assert_string_equal(line, "40000\r\n");
	assert_string_equal(RAP__HTTP_LAST_CHUNK, "0\r\n\r\n");
}

static void test_error_response(void **state)
{
	(void)state;
	size_t len = 0;
	char *r = rap__http_error_response(403, "cross-origin request", &len);
	assert_non_null(r);
	assert_int_equal(len, strlen(r));
	assert_true(strncmp(r, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
	const char *body = strstr(r, "\r\n\r\n") + 4;
	assert_string_equal(body, "403 Forbidden: cross-origin request\n");
	assert_non_null(strstr(r, "\r\nContent-Length: 36\r\n"));
	rap__free(r);

	r = rap__http_error_response(404, NULL, &len);
	assert_non_null(r);
	assert_string_equal(strstr(r, "\r\n\r\n") + 4, "404 Not Found\n");
	rap__free(r);

	/* A reason longer than the body's room is cut, never read past. */
	char why[400];
	memset(why, 'w', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	r = rap__http_error_response(400, why, &len);
	assert_non_null(r);
	assert_int_equal(len, strlen(r));
	assert_int_equal(strlen(strstr(r, "\r\n\r\n") + 4), 255);
	rap__free(r);
}

static void test_status_text(void **state)
{
	(void)state;
	static const struct {
		int status;
		const char *text;
	} cases[] = {
		{ 200, "OK" }, { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 408, "Request Timeout" }, { 413, "Content Too Large" },
		{ 414, "URI Too Long" }, { 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" }, { 503, "Service Unavailable" },
		{ 505, "HTTP Version Not Supported" }, { 418, "Error" }, { 0, "Error" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(rap__http_status_text(cases[i].status), cases[i].text);
}

static void test_allocation_failures(void **state)
{
	(void)state;
	struct rap__http_req r;
	rap__alloc_fail_after(0);
	int st = parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	size_t len = 0;
	char *resp = rap__http_response(200, "x", 1, false, &len);
	char *err = rap__http_error_response(400, NULL, &len);
	rap__alloc_fail_after(-1);
	assert_int_equal(st, 500);
	assert_null(r.target);
	rap__http_req_clear(&r);
	assert_null(resp);
	assert_null(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_bare_lf_and_http10),
		cmocka_unit_test(test_post_body),
		cmocka_unit_test(test_header_values),
		cmocka_unit_test(test_malformed_request_line),
		cmocka_unit_test(test_malformed_headers),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_continue),
		cmocka_unit_test(test_looks_like_request),
		cmocka_unit_test(test_url_decode),
		cmocka_unit_test(test_host_is_address),
		cmocka_unit_test(test_host_is_loopback),
		cmocka_unit_test(test_origin_refusal),
		cmocka_unit_test(test_csrf_refusal),
		cmocka_unit_test(test_tokens_and_secrets),
		cmocka_unit_test(test_basic_auth),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_error_response),
		cmocka_unit_test(test_status_text),
		cmocka_unit_test(test_allocation_failures),
	};
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
