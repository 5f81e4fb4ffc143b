/* Fuzz target for the HTTP/1.1 request parser and responder (libr/core/http.c). Input:
 *   byte 0      where the request is cut for the incremental check (k/256 of it)
 *   byte 1      padding: bits 4-7 times 8 KiB of 'x' inserted before the end of the first
 *               (bit 0 clear) or second (bit 0 set) line, to reach the head limits
 *   the rest    the bytes a client sends
 * Checks: the parser decides the same whether the bytes come at once or in two parts, as
 * the servers feed it (an answer other than "need more" is final); a complete request has
 * its body inside the input, and the requests pipelined after it parse one after the
 * other within what is left; percent-decoding never grows a target or lets a NUL in; only
 * the server's token, or no browser sign at all, passes the check against web pages;
 * "Connection: close" is never kept alive; the answer to any status, chunked or not, is a
 * well-formed response without a CORS grant. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

#include "common.h"
#include "http.h"

#include "fuzz.h"

#define INPUT_MAX (64u << 10)
#define PAD_UNIT (8u << 10)

static bool same_req(const struct rap__http_req *a, const struct rap__http_req *b)
{
	return !strcmp(a->method, b->method) && !strcmp(a->target, b->target) && a->minor == b->minor &&
	       a->has_length == b->has_length && a->length == b->length &&
	       a->expect_continue == b->expect_continue && a->has_host == b->has_host &&
	       !strcmp(a->host, b->host) && a->has_origin == b->has_origin && !strcmp(a->origin, b->origin) &&
	       a->has_fetch_site == b->has_fetch_site && !strcmp(a->fetch_site, b->fetch_site) &&
	       a->has_fetch_meta == b->has_fetch_meta && a->has_referer == b->has_referer &&
	       a->has_xrap == b->has_xrap && a->ua_browser == b->ua_browser && a->conn_close == b->conn_close &&
	       a->conn_keep_alive == b->conn_keep_alive && a->has_token == b->has_token && !strcmp(a->token, b->token) &&
	       a->has_auth == b->has_auth && !strcmp(a->auth, b->auth) && a->head_len == b->head_len;
}

#define FUZZ_TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void check_response(int status, const char *why, bool head_only, bool keep_alive, bool chunked)
{
	size_t len = 0;
	struct rap__http_head h = { .status = status, .keep_alive = keep_alive, .chunked = chunked, .head_only = head_only };
	char *r = why ? rap__http_error_response(status, why, &len) : rap__http_format(&h, "body\n", 5, &len);
	CHECK(r != NULL);
	CHECK(len == strlen(r) && len > 12 && !memcmp(r, "HTTP/1.1 ", 9));
	const char *end = strstr(r, "\r\n\r\n");
	CHECK(end != NULL);
	/* What we send is what our own client-side parsing of a status line expects. */
	CHECK(r[12] == ' ' && atoi(r + 9) == status % 1000);
	/* The body is there only when it should be, and never a CORS grant. */
	size_t body = len - (size_t)(end + 4 - r);
	CHECK(why ? body > 0 : body == (head_only || chunked ? 0 : 5));
	CHECK(strstr(r, "Access-Control-") == NULL);
	rap__free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > INPUT_MAX)
		return 0;
	size_t pad = (size_t)(data[1] >> 4) * PAD_UNIT;
	const char *in = (const char *)data + 2;
	size_t inlen = size - 2;

	/* The request, with the padding in place. */
	size_t at = inlen;
	const char *nl = memchr(in, '\n', inlen);
	if (nl && (data[1] & 1))
		nl = memchr(nl + 1, '\n', inlen - (size_t)(nl + 1 - in));
	if (nl)
		at = (size_t)(nl - in);
	size_t len = inlen + pad;
	char *buf = malloc(len ? len : 1);
	CHECK(buf != NULL);
	memcpy(buf, in, at);
	memset(buf + at, 'x', pad);
	memcpy(buf + at + pad, in + at, inlen - at);

	struct rap__http_req whole, part;
	int st = rap__http_parse(buf, len, &whole);
	CHECK(st == 0 || st == RAP_EAGAIN || (st >= 400 && st <= 505));
	if (st == 0) {
		CHECK(whole.target != NULL && whole.head_len > 0 && whole.head_len <= len);
		CHECK(!whole.has_length || whole.length <= len - whole.head_len);
		CHECK(whole.length <= RAP__HTTP_BODY_MAX);
		CHECK(whole.minor >= 0 && whole.minor <= 9);
	}
	if (st == RAP_EAGAIN)
		(void)rap__http_continue_due(&whole, len);

	/* The same bytes in two parts: the first part decides only what the whole decides. */
	size_t cut = len * data[0] / 256;
	int pst = rap__http_parse(buf, cut, &part);
	if (pst != RAP_EAGAIN) {
		CHECK(pst == st);
		if (pst == 0)
			CHECK(same_req(&part, &whole));
	} else {
		CHECK(!part.head_len || (part.has_length && part.head_len + part.length > cut));
	}
	rap__http_req_clear(&part);
	CHECK(part.target == NULL);

	if (st == 0) {
		(void)rap__http_looks_like_request(buf, len);
		(void)rap__http_host_is_loopback(whole.host);
		const char *origin = rap__http_origin_refusal(&whole);
		const char *csrf = rap__http_csrf_refusal(&whole, FUZZ_TOKEN);
		/* Only the right token, or no browser sign at all, lets a command through. */
		if (!csrf && whole.has_token)
			CHECK(!strcmp(whole.token, FUZZ_TOKEN));
		if (!csrf && !whole.has_token)
			CHECK(!whole.has_origin && !whole.has_fetch_site);
		(void)rap__http_host_is_address(whole.host);
		(void)rap__http_basic_auth_ok(&whole, "user:password");
		bool keep = rap__http_keep_alive(&whole);
		if (whole.conn_close)
			CHECK(!keep);
		size_t tl = strlen(whole.target);
		char *t = strdup(whole.target);
		CHECK(t != NULL);
		if (rap__http_url_decode(t) == 0)
			CHECK(strlen(t) <= tl);
		free(t);
		check_response(origin ? 403 : csrf ? 403 : 200, origin ? origin : csrf, !strcmp(whole.method, "HEAD"), keep,
			       data[0] & 1);
		/* What follows the request is the next one on the connection: parsed the same
		 * way, one after the other, each inside what is left. */
		size_t used = whole.head_len + (whole.has_length ? whole.length : 0);
		for (int k = 0; k < 8 && used < len; k++) {
			struct rap__http_req next;
			int nst = rap__http_parse(buf + used, len - used, &next);
			CHECK(nst == 0 || nst == RAP_EAGAIN || (nst >= 400 && nst <= 505));
			size_t step = nst == 0 ? next.head_len + (next.has_length ? next.length : 0) : 0;
			rap__http_req_clear(&next);
			if (nst != 0)
				break;
			CHECK(step > 0 && step <= len - used);
			used += step;
		}
	} else if (st != RAP_EAGAIN) {
		check_response(st, rap__http_status_text(st), false, false, false);
	}
	char line[24];
	CHECK(rap__http_chunk_size(line, inlen + 1) >= 3);
	rap__http_req_clear(&whole);
	(void)rap__http_looks_like_request(buf, cut);
	free(buf);
	return 0;
}
