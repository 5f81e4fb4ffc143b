/* Fuzz target for the client session (libr/rap/client.c) over an in-memory transport
 * (rap__client_attach_transport): a script of calls runs against what the input says the
 * server answers. No system call per input. Input layout:
 *   byte 0      settings: bits 0-2 how many bytes one receive returns (1, 2, 7, 64, 1500,
 *               4096, 65536, 3), bit 3 reverse commands enabled, bits 4-5 the largest reply
 *               (default 64 MiB, 16, 4096, 1 MiB)
 *   byte 1      script length N (at most 32 calls)
 *   N * 3       the calls: function, two argument bytes
 *   the rest    the server's byte stream; after it the server has hung up
 * Checks: every byte the client sends is a well-formed request stream; results stay within
 * what was asked; errors are RAP_E* codes; once the server hung up nothing more is sent. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

#include "rap_private.h"

#include "fuzz.h"

#define INPUT_MAX (512u << 10)
#define SCRIPT_MAX 32
#define IO_MAX (256u << 10) /* largest read_at / write_at of a script */

struct wire {
	const struct rap_client *c; /* whose requests these are */
	const uint8_t *in; /* the server's bytes */
	size_t len, pos;
	size_t chunk;      /* bytes per receive */
	struct rap_decoder *sent; /* decodes what the client sends */
	uint64_t requests;
};

static ssize_t w_recv(void *user, void *buf, size_t n)
{
	struct wire *w = user;
	CHECK(n > 0);
	size_t k = w->len - w->pos;
	if (k > n)
		k = n;
	if (k > w->chunk)
		k = w->chunk;
	memcpy(buf, w->in + w->pos, k);
	w->pos += k;
	return (ssize_t)k;
}

static int w_send(void *user, const void *buf, size_t n)
{
	struct wire *w = user;
	const uint8_t *p = buf;
	/* The extension's messages only once the server granted them: a stock peer never
	 * sees one (the decoder refuses them otherwise, and the check below fails). */
	rap_decoder_set_extension(w->sent, rap_client_has_extension(w->c));
	while (n) {
		struct rap_msg m;
		size_t used;
		int rc = rap_decoder_decode(w->sent, p, n, &used, &m);
		CHECK(rc >= 0);
		CHECK(used <= n);
		p += used;
		n -= used;
		if (rc == 1)
			w->requests++;
		else
			CHECK(n == 0);
	}
	return 0;
}

static const struct rap__transport transport = { .recv = w_recv, .send = w_send };

static int reverse(void *user, const char *cmd, char **out)
{
	if (cmd[0] == 'x')
		return RAP_EDENIED;
	*out = strdup(cmd);
	return *out ? 0 : RAP_ENOMEM;
}

/* The transport never fails with an errno, so every error is one of ours, or an errno
 * the server reported (the extension's status, -errno in the table's range). */
static bool known_error(int rc)
{
	return rap__is_rap_error(rc) || (rc < 0 && rc >= -133);
}

static uint8_t io_buf[IO_MAX];
static char text[8192];

/* Runs one call of the script. Returns true once the connection is known to be closed. */
static bool call(struct rap_client *c, const uint8_t *op)
{
	int rc = 0;
	uint8_t a = op[1], b = op[2];
	uint64_t off = (uint64_t)a << (b & 31);
	size_t n = ((size_t)a << 8 | b) % IO_MAX;
	switch (op[0] % 11) {
	case 0: {
		rc = rap_client_probe(c);
		CHECK(rc == 0 || rc == 1 || known_error(rc));
		CHECK(rap_client_extended(c) == (rc == 1) || rc <= 0);
		break;
	}
	case 1: {
		/* 254 bytes and more are refused before anything is sent. */
		size_t pl = ((size_t)a + b) % 300;
		memset(text, 'a' + (b & 7), pl);
		text[pl] = '\0';
		rc = rap_client_open(c, text, b);
		CHECK(rc >= 0 || known_error(rc));
		if (pl + 1 >= RAP_OPEN_PATH_MAX)
			CHECK(rc == RAP_EINVAL);
		break;
	}
	case 2: {
		ssize_t got = rap_client_read_at(c, off, io_buf, n);
		CHECK(got < 0 ? known_error((int)got) : (size_t)got <= n);
		rc = got < 0 ? (int)got : 0;
		break;
	}
	case 3: {
		ssize_t put = rap_client_write_at(c, off, io_buf, n);
		CHECK(put < 0 ? known_error((int)put) : (size_t)put <= n);
		rc = put < 0 ? (int)put : 0;
		break;
	}
	case 4: {
		uint64_t pos;
		rc = rap_client_seek(c, off, b % 4, &pos);
		CHECK(rc == 0 || known_error(rc));
		if (b % 4 == 3)
			CHECK(rc == RAP_EINVAL);
		break;
	}
	case 5: {
		uint64_t sz;
		rc = rap_client_size(c, &sz);
		CHECK(rc == 0 || known_error(rc));
		break;
	}
	case 6: {
		rc = rap_client_close_fd(c, (int32_t)((uint32_t)a << 24 | b));
		CHECK(rc == 0 || known_error(rc));
		break;
	}
	case 7:
	case 8: {
		size_t tl = ((size_t)a * 32 + b) % sizeof text;
		memset(text, a & 1 ? 'x' : 'p', tl);
		text[tl] = '\0';
		char *out = NULL;
		size_t outlen = 0;
		int status = 7;
		rc = op[0] % 11 == 7 ? rap_client_cmd(c, text, &out, &outlen)
				     : rap_client_cmd_status(c, text, &out, &outlen, &status);
		if (rc == 0) {
			CHECK(out != NULL && strlen(out) <= outlen && out[outlen] == '\0');
			CHECK(status == 7 || status == RAP_CMD_STATUS_UNKNOWN || status == RAP_CMD_STATUS_OK ||
			      status == RAP_CMD_STATUS_FAILED);
		} else {
			CHECK(known_error(rc) && out == NULL && outlen == 0);
		}
		free(out);
		break;
	}
	case 9:
		(void)rap_client_set_max_reply(c, (uint32_t)a << (b % 32));
		break;
	default:
		CHECK(rap_client_error(c) != NULL);
		CHECK(rap_client_fd(c) == -1);
		break;
	}
	return rc == RAP_ECLOSED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[8] = { 1, 2, 7, 64, 1500, 4096, 65536, 3 };
	static const uint32_t replies[4] = { 0, 16, 4096, 1u << 20 };
	if (size < 2 || size > INPUT_MAX)
		return 0;
	uint8_t cfg = data[0];
	size_t nops = data[1] % (SCRIPT_MAX + 1);
	if (size < 2 + nops * 3)
		return 0;
	const uint8_t *script = data + 2;

	struct wire w = { .in = script + nops * 3, .len = size - 2 - nops * 3, .chunk = chunks[cfg & 7] };
	CHECK(rap_decoder_new(RAP_ROLE_SERVER, &w.sent) == 0);
	CHECK(rap_decoder_set_max_payload(w.sent, 1u << 30) == 0);
	struct rap_client *c = NULL;
	CHECK(rap_client_new(&c) == 0);
	w.c = c;
	CHECK(rap__client_attach_transport(c, &transport, &w) == 0);
	CHECK(rap__client_attach_transport(c, &transport, &w) == RAP_EINVAL);
	CHECK(rap_client_attach_fd(c, 0) == RAP_EINVAL);
	if (cfg & 8)
		rap_client_set_reverse_cmd(c, reverse, NULL);
	if (replies[(cfg >> 4) & 3])
		CHECK(rap_client_set_max_reply(c, replies[(cfg >> 4) & 3]) == 0);

	bool closed = false;
	for (size_t i = 0; i < nops; i++) {
		uint64_t before = w.requests;
		bool now = call(c, script + i * 3);
		if (closed)
			CHECK(w.requests == before);
		closed = closed || now;
	}

	/* Whatever the client sent ended at a message boundary. */
	CHECK(rap_decoder_idle(w.sent));
	rap_client_free(c);
	rap_decoder_free(w.sent);
	return 0;
}
