/* HTTP/1.1 for the servers started from the prompt (librap-core only, never installed):
 * parsing a request (request line, headers, body framing, percent-decoding), the checks
 * against requests a web page can make a browser send, and formatting responses. No
 * sockets: bytes in, decisions and bytes out. Errors follow rap.h. */
#ifndef RAP_CORE_HTTP_H
#define RAP_CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define RAP__HTTP_HEAD_MAX (64u << 10) /* request line and headers */
#define RAP__HTTP_BODY_MAX (1u << 20)  /* a request body (POST /cmd) */

/* The interim answer to "Expect: 100-continue" (see rap__http_continue_due). */
#define RAP__HTTP_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* What the parser keeps of a request. Header values longer than their field are cut. */
struct rap__http_req {
	char method[16];
	char *target; /* heap, as sent (not decoded); rap__http_req_clear frees it */
	int minor;    /* HTTP/1.minor */
	bool has_length;
	size_t length; /* Content-Length */
	bool expect_continue;
	bool has_host;
	char host[256];
	bool has_origin;
	char origin[256];
	bool has_fetch_site;
	char fetch_site[32];
	bool has_fetch_meta; /* any Sec-Fetch-* header */
	bool has_referer;
	bool has_xrap;
	bool ua_browser;     /* a User-Agent that starts with "Mozilla/" */
	size_t head_len;     /* request line and headers with the blank line; 0 until complete */
};

/* Parses the request at the start of buf[0..len) into r (which it clears first). Lines end
 * with CRLF or a bare LF. Returns 0 when the head and the whole body have arrived (the body
 * is the r->length bytes at buf + r->head_len when r->has_length, otherwise empty),
 * RAP_EAGAIN when more bytes are needed (r->head_len is set once only the body is missing),
 * or the HTTP status to answer with: 400, 413 (body over RAP__HTTP_BODY_MAX), 414, 431
 * (head over RAP__HTTP_HEAD_MAX), 500 (out of memory), 501 (Transfer-Encoding), 505.
 * Whatever it returns, release r with rap__http_req_clear. */
int rap__http_parse(const char *buf, size_t len, struct rap__http_req *r);

/* Frees r->target. */
void rap__http_req_clear(struct rap__http_req *r);

/* After rap__http_parse answered RAP_EAGAIN for the len bytes received: whether the
 * client waits for RAP__HTTP_CONTINUE before it sends its body (an "Expect: 100-continue"
 * head, and no body byte yet). Sending it once is the caller's business. */
bool rap__http_continue_due(const struct rap__http_req *r, size_t len);

/* Whether the first line of buf[0..len) is an HTTP/1.0 or 1.1 request line
 * ("GET /cmd/px HTTP/1.1"): what the TCP command server takes for an HTTP client. False
 * until the line is complete. */
bool rap__http_looks_like_request(const char *buf, size_t len);

/* "localhost", "127.x.y.z", "[::1]" or "::1", with or without ":port". */
bool rap__http_host_is_loopback(const char *host);

/* Origin and Sec-Fetch-Site, whatever the path: NULL when the request may come from
 * where it says, otherwise the reason to refuse it (a static string). */
const char *rap__http_origin_refusal(const struct rap__http_req *r);

/* Whether the request may run a command: NULL when allowed, otherwise the reason to refuse
 * it (a static string). See http.c for the rule. */
const char *rap__http_csrf_refusal(const struct rap__http_req *r);

/* Percent-decoding in place ('+' stays '+': a path, not a form). Errors: RAP_EINVAL (a
 * bad escape, or %00, which would cut the text short). */
int rap__http_url_decode(char *s);

/* "OK", "Not Found", ...; "Error" for a status it does not know. Static. */
const char *rap__http_status_text(int status);

/* A complete response to one request (then the connection closes): the status line,
 * plain-text headers with the body's length, then the body byte for byte unless
 * head_only (a HEAD request). Returns heap text (rap__free) of *len bytes, or NULL
 * without memory. */
char *rap__http_response(int status, const char *body, size_t body_len, bool head_only, size_t *len);

/* rap__http_response for an error: the body is "STATUS TEXT: why\n" (why may be NULL).
 * Returns heap text (rap__free) of *len bytes, or NULL without memory. */
char *rap__http_error_response(int status, const char *why, size_t *len);

#endif
