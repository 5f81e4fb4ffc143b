/* What the HTTP server of the prompt ("=h PORT", and HTTP clients of "=t PORT") answers:
 * the web console's page at /, and GET /cmd/<command>, POST /cmd and POST /cmd?stream=1,
 * which run a command on the server's core, for clients that pass the checks against web
 * pages. Parsing and the response format are http.c's; the connection and the command
 * thread are servers_conn.c's and servers_cmd.c's.
 *
 * Who may ask. Every request: the server's Basic credentials when it has some (e
 * http.auth); on a loopback server a loopback Host (DNS rebinding), elsewhere without
 * credentials a Host that is an address, since a DNS name could be rebound; an Origin and
 * a Sec-Fetch-Site that are not another site's. A command besides: the rule of
 * rap__http_csrf_refusal, for which the page carries the server's token. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rap/rap.h>

#include "common.h"
#include "servers.h"

char *rap__srv_http_error(struct rap__srv *s, const char *peer, int status, const char *why, size_t *len)
{
	rap__srv_logf(s, "%s %d %s", peer, status, why ? why : rap__http_status_text(status));
	return rap__http_error_response(status, why, len);
}

static const char *method_name(int m)
{
	return m == 'H' ? "HEAD" : m == 'P' ? "POST" : "GET";
}

/* An error answer in a (which closes the connection: what follows may be anything); a
 * HEAD request's has the headers alone. */
static void refuse(struct rap__srv *s, const char *peer, int status, const char *why, struct rap__srv_http_action *a)
{
	a->keep_alive = false;
	a->resp = rap__srv_http_error(s, peer, status, why, &a->resp_len);
	const char *end = a->resp && a->head_only ? strstr(a->resp, "\r\n\r\n") : NULL;
	if (end)
		a->resp_len = (size_t)(end + 4 - a->resp);
}

/* The page with s's token in place: headers that keep it from every other origin (no
 * framing, no referrer, only its own script and style), and no caching. */
static void page(struct rap__srv *s, const char *peer, struct rap__srv_http_action *a)
{
	size_t hl = rap__web_page_head_len, tl = rap__web_page_tail_len, len = hl + RAP__HTTP_TOKEN_LEN + tl;
	char *body = rap__malloc(len);
	size_t elen = strlen(rap__web_page_csp) + 256;
	char *extra = body ? rap__malloc(elen) : NULL;
	if (!extra) {
		rap__free(body);
		return;
	}
	memcpy(body, rap__web_page_head, hl);
	memcpy(body + hl, s->token, RAP__HTTP_TOKEN_LEN);
	memcpy(body + hl + RAP__HTTP_TOKEN_LEN, rap__web_page_tail, tl);
	snprintf(extra, elen,
		 "Content-Security-Policy: %s\r\n"
		 "X-Frame-Options: DENY\r\n"
		 "Referrer-Policy: no-referrer\r\n"
		 "Cross-Origin-Opener-Policy: same-origin\r\n"
		 "Cross-Origin-Resource-Policy: same-origin\r\n",
		 rap__web_page_csp);
	struct rap__http_head h = { .status = 200,
				    .type = "text/html; charset=utf-8",
				    .extra = extra,
				    .keep_alive = a->keep_alive,
				    .head_only = a->head_only };
	a->resp = rap__http_format(&h, body, len, &a->resp_len);
	rap__free(extra);
	rap__free(body);
	rap__srv_logf(s, "%s %s / 200", peer, method_name(a->method));
}

void rap__srv_http_route(struct rap__srv *s, const char *peer, const struct rap__http_req *r, const char *body,
			 size_t body_len, struct rap__srv_http_action *a)
{
	memset(a, 0, sizeof(*a));
	bool get = !strcmp(r->method, "GET"), head = !strcmp(r->method, "HEAD"), post = !strcmp(r->method, "POST");
	a->method = head ? 'H' : post ? 'P' : 'G';
	a->head_only = head;
	a->keep_alive = rap__http_keep_alive(r);
	if (!get && !head && !post) {
		refuse(s, peer, 405, NULL, a);
		return;
	}
	if (s->auth && !rap__http_basic_auth_ok(r, s->auth)) {
		refuse(s, peer, 401, r->has_auth ? "wrong credentials" : "credentials required", a);
		return;
	}
	/* On a loopback server only loopback names may appear: a page elsewhere cannot reach
	 * it through DNS rebinding, nor post commands to it from another origin. Elsewhere a
	 * name could be rebound too, unless credentials (which a browser sends only to the
	 * origin they belong to) stand in the way. */
	if (s->loopback && r->has_host && !rap__http_host_is_loopback(r->host)) {
		refuse(s, peer, 403, "Host is not a loopback name", a);
		return;
	}
	if (!s->loopback && !s->auth && r->has_host && !rap__http_host_is_address(r->host)) {
		refuse(s, peer, 403, "Host is a name, not an address (see e http.auth)", a);
		return;
	}
	const char *why = rap__http_origin_refusal(r);
	if (why) {
		refuse(s, peer, 403, why, a);
		return;
	}
	const char *t = r->target;
	bool stream = !strcmp(t, "/cmd?stream=1");
	bool is_cmd = stream || !strcmp(t, "/cmd") || !strncmp(t, "/cmd/", 5);
	if (is_cmd && (why = rap__http_csrf_refusal(r, s->token)) != NULL) {
		refuse(s, peer, 403, why, a);
		return;
	}
	if (!strcmp(t, "/")) {
		if (post)
			refuse(s, peer, 405, NULL, a);
		else
			page(s, peer, a);
		return;
	}
	if (!is_cmd) {
		refuse(s, peer, 404, NULL, a);
		return;
	}
	if (stream && !post) {
		refuse(s, peer, 405, "streaming is for POST", a);
		return;
	}
	/* An HTTP/1.0 client knows no chunked body (RFC 9112 6.1): its answer comes whole. */
	a->stream = stream && r->minor >= 1;
	if (post && (body_len || t[4] != '/')) {
		if (memchr(body, '\0', body_len)) {
			refuse(s, peer, 400, "NUL byte in the command", a);
			return;
		}
		a->cmd = rap__strndup(body, body_len);
	} else {
		a->cmd = rap__strdup(t[4] ? t + 5 : "");
		if (a->cmd && rap__http_url_decode(a->cmd) < 0) {
			rap__free(a->cmd);
			a->cmd = NULL;
			refuse(s, peer, 400, "invalid percent-encoding", a);
			return;
		}
	}
	if (!a->cmd) {
		refuse(s, peer, 500, "out of memory", a);
		return;
	}
	/* What the log line shows: a streamed command's now, the others' with the answer (as
	 * text: rap__srv_logf). */
	snprintf(a->what, sizeof(a->what), "%s", a->cmd);
	if (a->stream)
		rap__srv_logf(s, "%s POST /cmd?stream=1 %s", peer, a->what);
}

char *rap__srv_http_cmd_answer(struct rap__srv *s, const char *peer, const struct rap__srv_http_action *a,
			       const char *text, size_t text_len, bool denied, size_t *len)
{
	int status = denied ? 403 : 200;
	rap__srv_logf(s, "%s %s %s %d", peer, method_name(a->method), a->what, status);
	struct rap__http_head h = { .status = status, .keep_alive = a->keep_alive, .head_only = a->head_only };
	return rap__http_format(&h, text, text_len, len);
}

char *rap__srv_http_stream_head(struct rap__srv *s, const char *peer, const struct rap__srv_http_action *a,
				size_t *len)
{
	struct rap__http_head h = { .status = 200, .keep_alive = a->keep_alive, .chunked = true };
	return rap__http_format(&h, NULL, 0, len);
}
