/* What the HTTP server of the prompt ("=h PORT", and HTTP clients of "=t PORT") answers:
 * its home page, and GET /cmd/<command> and POST /cmd, which run a command on the
 * server's core, for clients that pass the checks against web pages. Parsing and the
 * response format are http.c's; the connection is servers_conn.c's. */
#include <stdbool.h>
#include <string.h>

#include <rap/rap.h>

#include "common.h"
#include "servers.h"

char *rap__srv_http_error(struct rap__srv *s, const char *peer, int status, const char *why, size_t *len)
{
	rap__srv_logf(s, "%s %d %s", peer, status, why ? why : rap__http_status_text(status));
	return rap__http_error_response(status, why, len);
}

static const char home_page[] =
	"rap HTTP server\n"
	"\n"
	"GET  /cmd/<url-encoded command>   runs the command, answers its output as text\n"
	"POST /cmd                         runs the request body as the command\n"
	"\n"
	"example: curl http://127.0.0.1:9090/cmd/px%2032\n"
	"\n"
	"Web browsers are refused at /cmd (so that no web page can run commands here):\n"
	"use curl or a script, or send the header 'X-Rap: 1'.\n";

char *rap__srv_http_answer(struct rap__srv *s, const char *peer, const struct rap__http_req *r, const char *body,
			   size_t body_len, size_t *len)
{
	bool get = !strcmp(r->method, "GET"), head = !strcmp(r->method, "HEAD"), post = !strcmp(r->method, "POST");
	if (!get && !head && !post)
		return rap__srv_http_error(s, peer, 405, NULL, len);
	/* On a loopback server only loopback names may appear: a page elsewhere cannot reach
	 * it through DNS rebinding, nor post commands to it from another origin. */
	if (s->loopback && r->has_host && !rap__http_host_is_loopback(r->host))
		return rap__srv_http_error(s, peer, 403, "Host is not a loopback name", len);
	const char *why = rap__http_origin_refusal(r);
	if (why)
		return rap__srv_http_error(s, peer, 403, why, len);
	const char *t = r->target;
	bool is_cmd = !strcmp(t, "/cmd") || !strncmp(t, "/cmd/", 5);
	if (is_cmd && (why = rap__http_csrf_refusal(r)) != NULL)
		return rap__srv_http_error(s, peer, 403, why, len);
	if (!strcmp(t, "/") && !post) {
		rap__srv_logf(s, "%s %s / 200", peer, r->method);
		return rap__http_response(200, home_page, sizeof(home_page) - 1, head, len);
	}
	if (!is_cmd)
		return rap__srv_http_error(s, peer, strcmp(t, "/") ? 404 : 405, NULL, len);
	char *cmd;
	if (post && body_len) {
		if (memchr(body, '\0', body_len))
			return rap__srv_http_error(s, peer, 400, "NUL byte in the command", len);
		cmd = rap__strndup(body, body_len);
	} else {
		cmd = rap__strdup(t[4] ? t + 5 : "");
		if (cmd && rap__http_url_decode(cmd) < 0) {
			rap__free(cmd);
			return rap__srv_http_error(s, peer, 400, "invalid percent-encoding", len);
		}
	}
	if (!cmd)
		return rap__srv_http_error(s, peer, 500, "out of memory", len);
	size_t out_len = 0;
	bool denied = false;
	char *out = rap__srv_run_command(s, cmd, &out_len, &denied);
	rap__free(cmd);
	if (!out)
		return rap__srv_http_error(s, peer, 500, "out of memory", len);
	int status = denied ? 403 : 200;
	rap__srv_logf(s, "%s %s %.60s %d", peer, r->method, t, status);
	char *resp = rap__http_response(status, out, out_len, head, len);
	rap__free(out);
	return resp;
}
