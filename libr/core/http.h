/* HTTP/1.1 for the servers started from the prompt (librap-core only, never installed):
 * parsing a request (request line, headers, body framing, percent-decoding), the checks
 * against requests a web page can make a browser send, and formatting responses. No
 * sockets: bytes in, decisions and bytes out. Errors follow rap.h. */
#ifndef RAP_CORE_HTTP_H
#define RAP_CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define RAP__HTTP_LINE_MAX (32u << 10) /* the request line (414 past it) */
#define RAP__HTTP_HEAD_MAX (64u << 10) /* request line and headers (431 past it) */
#define RAP__HTTP_HEADERS_MAX 100      /* header lines (431 past it) */
#define RAP__HTTP_BODY_MAX (1u << 20)  /* a request body (POST /cmd; 413 past it) */
#define RAP__HTTP_TOKEN_LEN 64         /* hex digits of a server's token (32 random bytes) */

/* The end of a chunked body (the last chunk, no trailers). */
#define RAP__HTTP_LAST_CHUNK "0\r\n\r\n"

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
	bool conn_close;      /* a "close" token in Connection */
	bool conn_keep_alive; /* a "keep-alive" token in Connection */
	bool has_token;
	char token[RAP__HTTP_TOKEN_LEN + 2]; /* X-Rap-Token (a longer value is cut: never equal) */
	bool has_auth;
	char auth[512];      /* Authorization */
	size_t head_len;     /* request line and headers with the blank line; 0 until complete */
};

/* Parses the request at the start of buf[0..len) into r (which it clears first). Lines end
 * with CRLF or a bare LF. Returns 0 when the head and the whole body have arrived (the body
 * is the r->length bytes at buf + r->head_len when r->has_length, otherwise empty),
 * RAP_EAGAIN when more bytes are needed (r->head_len is set once only the body is missing),
 * or the HTTP status to answer with: 400, 413 (body over RAP__HTTP_BODY_MAX), 414 (request
 * line over RAP__HTTP_LINE_MAX), 431 (head over RAP__HTTP_HEAD_MAX, or more than
 * RAP__HTTP_HEADERS_MAX header lines), 500 (out of memory), 501 (Transfer-Encoding), 505.
 * Bytes after the body belong to the next request on the connection.
 * Whatever it returns, release r with rap__http_req_clear. */
int rap__http_parse(const char *buf, size_t len, struct rap__http_req *r);

/* Frees r->target. */
void rap__http_req_clear(struct rap__http_req *r);

/* Whether the connection stays open after the answer to r: HTTP/1.1 unless the client said
 * "Connection: close", HTTP/1.0 only when it said "Connection: keep-alive". */
bool rap__http_keep_alive(const struct rap__http_req *r);

/* After rap__http_parse answered RAP_EAGAIN for the len bytes received: whether the
 * client waits for RAP__HTTP_CONTINUE before it sends its body (an HTTP/1.1 "Expect:
 * 100-continue" head, and no body byte yet). Sending it once is the caller's business. */
bool rap__http_continue_due(const struct rap__http_req *r, size_t len);

/* Whether the first line of buf[0..len) is an HTTP/1.0 or 1.1 request line
 * ("GET /cmd/px HTTP/1.1"): what the TCP command server takes for an HTTP client. False
 * until the line is complete. */
bool rap__http_looks_like_request(const char *buf, size_t len);

/* "localhost", "127.x.y.z", "[::1]" or "::1", with or without ":port". */
bool rap__http_host_is_loopback(const char *host);

/* An IPv4 or bracketed IPv6 address, or "localhost", with or without ":port": a Host
 * that no DNS name (so no DNS rebinding) can produce. */
bool rap__http_host_is_address(const char *host);

/* Origin and Sec-Fetch-Site, whatever the path: NULL when the request may come from
 * where it says (an Origin that is a loopback one or whose host is the request's Host, a
 * Sec-Fetch-Site "same-origin" or "none"), otherwise the reason to refuse it (a static
 * string). */
const char *rap__http_origin_refusal(const struct rap__http_req *r);

/* Whether the request may run a command, for a server whose token is token (NUL-terminated
 * hex, RAP__HTTP_TOKEN_LEN digits): NULL when allowed, otherwise the reason to refuse it (a
 * static string). See http.c for the rule. */
const char *rap__http_csrf_refusal(const struct rap__http_req *r, const char *token);

/* Fills out with a new random token: RAP__HTTP_TOKEN_LEN lower-case hex digits and a NUL
 * (32 bytes of OpenSSL's RAND_bytes, or getrandom without OpenSSL). Errors: -EIO, -errno. */
int rap__http_token_new(char out[RAP__HTTP_TOKEN_LEN + 1]);

/* Whether a and b are the same string, in a time that depends on the longer one's length
 * only. */
bool rap__http_secret_equal(const char *a, const char *b);

/* Whether r carries "Authorization: Basic ..." whose decoded "user:password" is userpass. */
bool rap__http_basic_auth_ok(const struct rap__http_req *r, const char *userpass);

/* Percent-decoding in place ('+' stays '+': a path, not a form). Errors: RAP_EINVAL (a
 * bad escape, or %00, which would cut the text short). */
int rap__http_url_decode(char *s);

/* "OK", "Not Found", ...; "Error" for a status it does not know. Static. */
const char *rap__http_status_text(int status);

/* What a response says about itself, for rap__http_format. */
struct rap__http_head {
	int status;
	const char *type;   /* Content-Type; NULL: "text/plain; charset=utf-8" */
	const char *extra;  /* more header lines, each ending in CRLF (borrowed); may be NULL */
	bool keep_alive;    /* "Connection: keep-alive" (HTTP/1.0 clients need it said), else
	                     * "Connection: close" */
	bool chunked;       /* "Transfer-Encoding: chunked" instead of a Content-Length: the
	                     * body follows in chunks (rap__http_chunk_size) */
	bool head_only;     /* a HEAD request: the headers of the answer, no body */
};

/* The status line and headers of h, then (unless head_only or chunked) body[0..body_len)
 * byte for byte. Every response carries "Cache-Control: no-store" and
 * "X-Content-Type-Options: nosniff", never a CORS header; 405 adds "Allow", 401 a Basic
 * "WWW-Authenticate". Returns heap text (rap__free) of *len bytes, or NULL without memory. */
char *rap__http_format(const struct rap__http_head *h, const char *body, size_t body_len, size_t *len);

/* rap__http_format of a plain-text response that closes the connection. */
char *rap__http_response(int status, const char *body, size_t body_len, bool head_only, size_t *len);

/* rap__http_response for an error: the body is "STATUS TEXT: why\n" (why may be NULL).
 * Returns heap text (rap__free) of *len bytes, or NULL without memory. */
char *rap__http_error_response(int status, const char *why, size_t *len);

/* The line that starts a chunk of n bytes (n > 0: the zero-sized chunk ends the body, see
 * RAP__HTTP_LAST_CHUNK): hex size and CRLF into buf. Returns its length. The chunk's data
 * follows, then CRLF. */
size_t rap__http_chunk_size(char buf[24], size_t n);

#endif
