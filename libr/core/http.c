/* HTTP/1.1 requests and responses for the servers of the prompt (http.h): a strict parser
 * for the one request a connection carries, the checks against browsers, and the
 * responder. Nothing here touches a socket. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#ifdef HAVE_OPENSSL
#include <openssl/rand.h>
#endif

#include <rap/rap.h>

#include "common.h"
#include "http.h"

/* ---- requests ---------------------------------------------------------------------------- */

static bool is_tchar(char ch)
{
	return isalnum((unsigned char)ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Parses "METHOD SP TARGET SP HTTP/1.x" (line without its end). 0, or an HTTP status. */
static int parse_request_line(const char *line, size_t len, struct rap__http_req *r)
{
	const char *sp1 = memchr(line, ' ', len);
	if (!sp1 || sp1 == line || (size_t)(sp1 - line) >= sizeof(r->method))
		return 400;
	for (const char *p = line; p < sp1; p++)
		if (!is_tchar(*p))
			return 400;
	memcpy(r->method, line, (size_t)(sp1 - line));
	r->method[sp1 - line] = '\0';
	const char *tgt = sp1 + 1, *end = line + len;
	const char *sp2 = memchr(tgt, ' ', (size_t)(end - tgt));
	if (!sp2 || sp2 == tgt)
		return 400;
	const char *ver = sp2 + 1;
	size_t vlen = (size_t)(end - ver);
	if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || !isdigit((unsigned char)ver[5]) || ver[6] != '.' ||
	    !isdigit((unsigned char)ver[7]))
		return 400;
	if (ver[5] != '1')
		return 505;
	r->minor = ver[7] - '0';
	for (const char *p = tgt; p < sp2; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return 400;
	r->target = rap__strndup(tgt, (size_t)(sp2 - tgt));
	return r->target ? 0 : 500;
}

/* Case-insensitive "Name" match for a header line split at its colon. */
static bool header_is(const char *name, size_t nlen, const char *want)
{
	return strlen(want) == nlen && !strncasecmp(name, want, nlen);
}

static void copy_value(char *dst, size_t cap, const char *v, size_t vlen)
{
	if (vlen >= cap)
		vlen = cap - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
}

/* The comma-separated options of a Connection header: "close" and "keep-alive" matter. */
static void connection_tokens(const char *v, size_t vlen, struct rap__http_req *r)
{
	size_t i = 0;
	while (i < vlen) {
		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t start = i;
		while (i < vlen && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		size_t n = i - start;
		if (n == 5 && !strncasecmp(v + start, "close", 5))
			r->conn_close = true;
		else if (n == 10 && !strncasecmp(v + start, "keep-alive", 10))
			r->conn_keep_alive = true;
	}
}

/* Parses the head in buf[0..len). Returns 0 when complete (r filled), RAP_EAGAIN when more
 * is needed, or an HTTP error status. Lines end with CRLF or a bare LF. */
static int parse_head(const char *buf, size_t len, struct rap__http_req *r)
{
	size_t pos = 0, nheaders = 0;
	bool first = true;
	for (;;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		if (!nl) {
			if (first && len > RAP__HTTP_LINE_MAX)
				return 414;
			return len > RAP__HTTP_HEAD_MAX ? 431 : RAP_EAGAIN;
		}
		size_t llen = (size_t)(nl - (buf + pos));
		const char *line = buf + pos;
		if (llen && line[llen - 1] == '\r')
			llen--;
		pos = (size_t)(nl - buf) + 1;
		if (first && llen > RAP__HTTP_LINE_MAX)
			return 414;
		if (pos > RAP__HTTP_HEAD_MAX)
			return 431;
		if (memchr(line, '\0', llen) || memchr(line, '\r', llen))
			return 400;
		if (first) {
			int st = parse_request_line(line, llen, r);
			if (st)
				return st;
			first = false;
			continue;
		}
		if (llen == 0)
			break;
		if (++nheaders > RAP__HTTP_HEADERS_MAX)
			return 431;
		/* Folded continuation lines are obsolete and a smuggling vector. */
		if (line[0] == ' ' || line[0] == '\t')
			return 400;
		const char *colon = memchr(line, ':', llen);
		if (!colon || colon == line)
			return 400;
		size_t nlen = (size_t)(colon - line);
		for (size_t i = 0; i < nlen; i++)
			if (!is_tchar(line[i]))
				return 400;
		const char *v = colon + 1, *ve = line + llen;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t vlen = (size_t)(ve - v);
		if (header_is(line, nlen, "Content-Length")) {
			if (!vlen || vlen > 12)
				return vlen > 12 ? 413 : 400;
			size_t n = 0;
			for (size_t i = 0; i < vlen; i++) {
				if (!isdigit((unsigned char)v[i]))
					return 400;
				n = n * 10 + (size_t)(v[i] - '0');
			}
			if (r->has_length && r->length != n)
				return 400;
			r->has_length = true;
			r->length = n;
		} else if (header_is(line, nlen, "Transfer-Encoding")) {
			return 501;
		} else if (header_is(line, nlen, "Expect")) {
			if (vlen == 12 && !strncasecmp(v, "100-continue", 12))
				r->expect_continue = true;
		} else if (header_is(line, nlen, "Host")) {
			if (r->has_host)
				return 400;
			r->has_host = true;
			copy_value(r->host, sizeof(r->host), v, vlen);
		} else if (header_is(line, nlen, "Origin")) {
			/* Two could disagree about where the request comes from. */
			if (r->has_origin)
				return 400;
			r->has_origin = true;
			copy_value(r->origin, sizeof(r->origin), v, vlen);
		} else if (header_is(line, nlen, "Sec-Fetch-Site")) {
			if (r->has_fetch_site)
				return 400;
			r->has_fetch_site = true;
			copy_value(r->fetch_site, sizeof(r->fetch_site), v, vlen);
		} else if (header_is(line, nlen, "Referer")) {
			r->has_referer = true;
		} else if (header_is(line, nlen, "X-Rap")) {
			r->has_xrap = true;
		} else if (header_is(line, nlen, "X-Rap-Token")) {
			/* Two could disagree; a cut one never matches. */
			if (r->has_token)
				return 400;
			r->has_token = true;
			copy_value(r->token, sizeof(r->token), v, vlen);
		} else if (header_is(line, nlen, "Authorization")) {
			if (r->has_auth)
				return 400;
			r->has_auth = true;
			copy_value(r->auth, sizeof(r->auth), v, vlen);
		} else if (header_is(line, nlen, "Connection")) {
			connection_tokens(v, vlen, r);
		} else if (header_is(line, nlen, "User-Agent")) {
			r->ua_browser = r->ua_browser || (vlen >= 8 && !strncmp(v, "Mozilla/", 8));
		}
		if (nlen > 10 && !strncasecmp(line, "Sec-Fetch-", 10))
			r->has_fetch_meta = true;
	}
	if (r->minor >= 1 && !r->has_host)
		return 400;
	r->head_len = pos;
	return 0;
}

int rap__http_parse(const char *buf, size_t len, struct rap__http_req *r)
{
	memset(r, 0, sizeof(*r));
	int st = parse_head(buf, len, r);
	if (st != 0)
		return st;
	size_t body_len = r->has_length ? r->length : 0;
	if (body_len > RAP__HTTP_BODY_MAX)
		return 413;
	return len - r->head_len < body_len ? RAP_EAGAIN : 0;
}

void rap__http_req_clear(struct rap__http_req *r)
{
	rap__free(r->target);
	r->target = NULL;
}

bool rap__http_keep_alive(const struct rap__http_req *r)
{
	return r->minor >= 1 ? !r->conn_close : r->conn_keep_alive && !r->conn_close;
}

bool rap__http_continue_due(const struct rap__http_req *r, size_t len)
{
	/* An HTTP/1.0 client's expectation is ignored (RFC 9110 10.1.1). */
	return r->head_len && r->expect_continue && r->minor >= 1 && len == r->head_len;
}

/* A TCP line that starts like "GET /cmd/px HTTP/1.1" is an HTTP client (curl). */
bool rap__http_looks_like_request(const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);
	if (!nl)
		return false;
	size_t llen = (size_t)(nl - buf);
	if (llen && buf[llen - 1] == '\r')
		llen--;
	size_t m = 0;
	while (m < llen && m < 10 && isupper((unsigned char)buf[m]))
		m++;
	if (m == 0 || m >= llen || buf[m] != ' ' || m + 1 >= llen || buf[m + 1] != '/')
		return false;
	return llen >= 9 && !memcmp(buf + llen - 9, " HTTP/1.", 8) && (buf[llen - 1] == '0' || buf[llen - 1] == '1');
}

/* Percent-decoding in place ('+' stays '+': a path, not a form). Refuses a bad escape and
 * %00, which would cut the command short. */
int rap__http_url_decode(char *s)
{
	char *d = s;
	for (const char *p = s; *p;) {
		if (*p != '%') {
			*d++ = *p++;
			continue;
		}
		int hi = rap__hexval(p[1]), lo = hi >= 0 ? rap__hexval(p[2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return RAP_EINVAL;
		*d++ = (char)(hi << 4 | lo);
		p += 3;
	}
	*d = '\0';
	return 0;
}

/* ---- who may ask ------------------------------------------------------------------------- */

bool rap__http_host_is_loopback(const char *host)
{
	char h[256];
	snprintf(h, sizeof(h), "%s", host);
	char *name = h;
	if (name[0] == '[') {
		char *close_br = strchr(name, ']');
		if (!close_br)
			return false;
		*close_br = '\0';
		name++;
	} else {
		char *colon = strchr(name, ':');
		if (colon && !strchr(colon + 1, ':'))
			*colon = '\0';
	}
	if (!strcasecmp(name, "localhost") || !strcmp(name, "::1"))
		return true;
	struct in_addr a4;
	return inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

bool rap__http_host_is_address(const char *host)
{
	char h[256];
	snprintf(h, sizeof(h), "%s", host);
	char *name = h;
	if (name[0] == '[') {
		char *close_br = strchr(name, ']');
		if (!close_br || (close_br[1] && close_br[1] != ':'))
			return false;
		*close_br = '\0';
		struct in6_addr a6;
		return inet_pton(AF_INET6, name + 1, &a6) == 1;
	}
	char *colon = strchr(name, ':');
	if (colon)
		*colon = '\0';
	struct in_addr a4;
	return !strcasecmp(name, "localhost") || inet_pton(AF_INET, name, &a4) == 1;
}

/* The host part of an Origin ("http://localhost:8080" -> "localhost:8080"). */
static const char *origin_host(const char *origin)
{
	const char *p = strstr(origin, "://");
	return p ? p + 3 : origin;
}

/* Whether a request may run a command: it must not be one a web page can make a browser
 * send. A page can make a cross-site GET (<img src>) or a form POST without asking anyone,
 * but only with CORS-safelisted headers, and browsers add Sec-Fetch-* (which no page can
 * forge), Origin or Referer, and always a "Mozilla/" User-Agent. So:
 *  - a request with an X-Rap-Token header runs a command when it is the server's token
 *    (the web console's page carries it, and no other origin can read that page), and is
 *    refused otherwise;
 *  - without one, a request that looks like no browser at all (no Sec-Fetch-*, Origin or
 *    Referer, and a User-Agent, if any, that does not start with "Mozilla/": curl, wget,
 *    r2pipe, scripts) runs it;
 *  - a browser's request with Origin or Sec-Fetch-Site (what every browser of this decade
 *    adds to a fetch, a form or an image to loopback) is refused: only the token lets a
 *    browser in;
 *  - the rest (a script that only looks like a browser, e.g. node's fetch with its
 *    Sec-Fetch-Mode) runs it with an X-Rap header, which a page could send only after a
 *    CORS preflight, which this server never grants.
 * Returns NULL when allowed, otherwise the reason. */
const char *rap__http_csrf_refusal(const struct rap__http_req *r, const char *token)
{
	if (r->has_token)
		return token && rap__http_secret_equal(r->token, token) ? NULL : "wrong X-Rap-Token (reload the page)";
	if (!r->has_fetch_meta && !r->has_origin && !r->has_referer && !r->ua_browser)
		return NULL;
	if (r->has_origin || r->has_fetch_site)
		return "browser request without the page's X-Rap-Token (see =h?)";
	if (r->has_xrap)
		return NULL;
	return "browser request without an X-Rap header (see =h?)";
}

bool rap__http_secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
	unsigned char diff = la != lb;
	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < la ? (unsigned char)a[i] : 0, y = i < lb ? (unsigned char)b[i] : 0;
		diff |= (unsigned char)(x ^ y);
	}
	return diff == 0;
}

int rap__http_token_new(char out[RAP__HTTP_TOKEN_LEN + 1])
{
	unsigned char raw[RAP__HTTP_TOKEN_LEN / 2];
#ifdef HAVE_OPENSSL
	if (RAND_bytes(raw, (int)sizeof(raw)) != 1)
		return -EIO;
#else
	size_t got = 0;
	/* Bounded: getrandom returns at most what was asked, and EINTR only before any byte. */
	for (int i = 0; i < 16 && got < sizeof(raw); i++) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	if (got < sizeof(raw))
		return -EIO;
#endif
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[RAP__HTTP_TOKEN_LEN] = '\0';
	return 0;
}

static int b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

bool rap__http_basic_auth_ok(const struct rap__http_req *r, const char *userpass)
{
	if (!r->has_auth || strncasecmp(r->auth, "Basic ", 6) != 0)
		return false;
	const char *p = r->auth + 6;
	while (*p == ' ')
		p++;
	char dec[sizeof(r->auth)] = { 0 };
	size_t n = 0, len = strlen(p);
	while (len && p[len - 1] == '=')
		len--;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64val(p[i]);
		if (v < 0)
			return false;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dec[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	dec[n] = '\0';
	bool ok = !memchr(dec, '\0', n) && rap__http_secret_equal(dec, userpass);
	memset(dec, 0, sizeof(dec));
	return ok;
}

/* Origin and Sec-Fetch-Site, whatever the path: a request from another site, or from a
 * sandboxed or opaque origin ("null"), is refused outright. An origin is this server's when
 * it is a loopback one or when its host is the request's Host (the page's own fetch on a
 * server beyond loopback, whose Host the checks of servers_http.c let in already). */
const char *rap__http_origin_refusal(const struct rap__http_req *r)
{
	if (r->has_origin) {
		const char *oh = origin_host(r->origin);
		bool own = r->has_host && r->host[0] && oh != r->origin && !strcasecmp(oh, r->host);
		if (!strcmp(r->origin, "null") || (!own && !rap__http_host_is_loopback(oh)))
			return "cross-origin request";
	}
	if (r->has_fetch_site && strcmp(r->fetch_site, "same-origin") != 0 && strcmp(r->fetch_site, "none") != 0)
		return "cross-site request";
	return NULL;
}

/* ---- responses --------------------------------------------------------------------------- */

const char *rap__http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

char *rap__http_format(const struct rap__http_head *h, const char *body, size_t body_len, size_t *len)
{
	char length[48] = "Transfer-Encoding: chunked\r\n";
	if (!h->chunked)
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", body_len);
	const char *extra = h->extra ? h->extra : "";
	const char *allow = h->status == 405 ? "Allow: GET, HEAD, POST\r\n" : "";
	const char *auth = h->status == 401 ? "WWW-Authenticate: Basic realm=\"rap\", charset=\"UTF-8\"\r\n" : "";
	const char *fmt = "HTTP/1.1 %d %s\r\n"
			  "Content-Type: %s\r\n"
			  "%s"
			  "Cache-Control: no-store\r\n"
			  "X-Content-Type-Options: nosniff\r\n"
			  "%s%s%s"
			  "Connection: %s\r\n"
			  "\r\n";
	const char *type = h->type ? h->type : "text/plain; charset=utf-8";
	const char *conn = h->keep_alive ? "keep-alive" : "close";
	int n = snprintf(NULL, 0, fmt, h->status, rap__http_status_text(h->status), type, length, allow, auth, extra,
			 conn);
	if (n < 0)
		return NULL;
	size_t blen = h->head_only || h->chunked ? 0 : body_len;
	char *r = rap__malloc((size_t)n + blen + 1);
	if (!r)
		return NULL;
	snprintf(r, (size_t)n + 1, fmt, h->status, rap__http_status_text(h->status), type, length, allow, auth, extra,
		 conn);
	if (blen)
		memcpy(r + n, body, blen);
	r[(size_t)n + blen] = '\0';
	*len = (size_t)n + blen;
	return r;
}

char *rap__http_response(int status, const char *body, size_t body_len, bool head_only, size_t *len)
{
	struct rap__http_head h = { .status = status, .head_only = head_only };
	return rap__http_format(&h, body, body_len, len);
}

size_t rap__http_chunk_size(char buf[24], size_t n)
{
	int k = snprintf(buf, 24, "%zx\r\n", n);
	return k > 0 ? (size_t)k : 0;
}

char *rap__http_error_response(int status, const char *why, size_t *len)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "%d %s%s%s\n", status, rap__http_status_text(status), why ? ": " : "",
			 why ? why : "");
	size_t blen = n < 0 ? 0 : (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1;
	return rap__http_response(status, body, blen, false, len);
}
