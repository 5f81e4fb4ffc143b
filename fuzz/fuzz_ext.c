/* Fuzz target for the extension's messages (doc/rap.7.scd, EXTENSION MESSAGES) on both
 * sides, in memory: no system call per input.
 *
 * Byte 0 bit 0 chooses the side.
 *
 * 0, the server session (libr/rap/server_session.c) over a handler with the fd-addressed
 * callbacks, whose files live in memory and whose commands may answer later:
 *   byte 0      bit 1 the stream starts with a version 2 probe (so the extension is on at
 *               once), bit 2 a payload limit of 16 bytes, bits 3-5 how much of the replies is
 *               taken after each chunk (all, none until the end, half, all but 1 byte, 64
 *               bytes per chunk-size unit, all every other chunk), bits 6-7 when a pending
 *               command is answered (at once, after the next chunk, at the end, at once with
 *               a failure)
 *   bytes 1..8  chunk sizes (each + 1), used in turn to split the stream
 *   the rest    what the client sends
 * Checks: every reply decodes (extension on) and is well formed (chunks of at most 64 KiB
 * and status 0, then the command's final frame; statuses are exit statuses or known error
 * codes); one reply per request once everything is taken; nothing is held back at the end.
 *
 * 1, the client (libr/rap/client.c) over an in-memory transport:
 *   byte 0      bit 1 the server's stream starts with a version 2 probe answer granting the
 *               extension, bits 2-4 bytes per receive (1, 2, 7, 64, 1500, 4096, 65536, 3),
 *               bits 5-6 the largest reply (default, 16, 4096, 1 MiB)
 *   byte 1      script length N (at most 32 calls)
 *   N * 3       the calls: function, two argument bytes
 *   the rest    the server's byte stream; after it the server has hung up
 * Checks: what the client sends decodes as requests, with the extension's messages only once
 * the server granted them (a stock peer never sees one); results stay within what was
 * asked; errors are RAP_E* codes or -errno values a server may report. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

#include "rap_private.h"

#include "fuzz.h"

#define INPUT_MAX (64u << 10)
#define FILES_MAX 8
#define FILE_SIZE_MAX (8u << 10)
#define CMD_OUTPUT_MAX 300000 /* several chunks, past the session's high-water mark */
#define PERIOD 251

static const uint8_t probe_v2[10] = { 0x04, 0xff, 'R', 'A', 'P', 'X', 0x00, 0x02, 0x00, 0x0f };
static const uint8_t grant_v2[9] = { 0x84, 'r', 'a', 'p', 'x', 0x00, 0x02, 0x00, 0x0f };

/* Errors a peer may report: ours, or -errno in the portable table's range. */
static bool known_error(int rc)
{
	return rap__is_rap_error(rc) || (rc < 0 && rc >= -133);
}

/* ---- the server side ------------------------------------------------------------------- */

static uint8_t pattern[FILE_SIZE_MAX + PERIOD];

struct file {
	bool open;
	uint8_t perm;
	uint64_t size;
};

struct ctx {
	struct file files[FILES_MAX];
	int cur;
	uint64_t pos;
	char *later;   /* the pending command's line (heap), NULL when none */
};

static struct file *by_fd(struct ctx *x, int32_t fd)
{
	if (fd < 3 || fd >= 3 + FILES_MAX || !x->files[fd - 3].open)
		return NULL;
	return &x->files[fd - 3];
}

static int h_open(void *p, const char *path, uint8_t perm)
{
	struct ctx *x = p;
	if (!*path || path[0] == '!')
		return path[0] == '!' ? RAP_EDENIED : -2; /* -ENOENT */
	for (int i = 0; i < FILES_MAX; i++) {
		if (x->files[i].open)
			continue;
		x->files[i] = (struct file){ true, perm, FILE_SIZE_MAX >> ((unsigned char)path[0] & 15) };
		x->cur = i;
		x->pos = 0;
		return i + 3;
	}
	return -24; /* -EMFILE */
}

static ssize_t h_read(void *p, uint8_t *buf, size_t len)
{
	struct ctx *x = p;
	if (x->cur < 0)
		return RAP_EBADFD;
	uint64_t size = x->files[x->cur].size;
	if (x->pos >= size)
		return 0;
	size_t n = size - x->pos < len ? (size_t)(size - x->pos) : len;
	memcpy(buf, pattern + x->pos % PERIOD, n);
	return (ssize_t)n;
}

static ssize_t h_write(void *p, const uint8_t *buf, size_t len)
{
	struct ctx *x = p;
	(void)buf;
	if (x->cur < 0)
		return RAP_EBADFD;
	return x->files[x->cur].perm & RAP_PERM_W ? (ssize_t)len : RAP_EDENIED;
}

static int h_seek(void *p, int whence, uint64_t offset, uint64_t *result)
{
	struct ctx *x = p;
	if (x->cur < 0)
		return RAP_EBADFD;
	if (whence == RAP_SEEK_SET)
		x->pos = offset;
	*result = whence == RAP_SEEK_END ? x->files[x->cur].size : x->pos;
	return 0;
}

static int h_close(void *p, int32_t fd)
{
	struct ctx *x = p;
	struct file *f = by_fd(x, fd);
	if (!f)
		return RAP_EBADFD;
	f->open = false;
	if (x->cur == fd - 3)
		x->cur = -1;
	return 0;
}

static ssize_t h_pread(void *p, int32_t fd, uint64_t off, uint8_t *buf, size_t len)
{
	struct file *f = by_fd(p, fd);
	CHECK(len > 0 && len <= (1u << 20));
	if (!f)
		return RAP_EBADFD;
	if (off >= f->size)
		return 0;
	size_t n = f->size - off < len ? (size_t)(f->size - off) : len;
	memcpy(buf, pattern + off % PERIOD, n);
	return (ssize_t)n;
}

static ssize_t h_pwrite(void *p, int32_t fd, uint64_t off, const uint8_t *buf, size_t len)
{
	struct file *f = by_fd(p, fd);
	CHECK(len > 0 && buf != NULL);
	if (!f)
		return RAP_EBADFD;
	if (!(f->perm & RAP_PERM_W))
		return RAP_EDENIED;
	if (off >= f->size)
		return -28; /* -ENOSPC */
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum ^= buf[i]; /* ASan checks the payload really is len bytes */
	(void)sum;
	return f->size - off < len ? (ssize_t)(f->size - off) : (ssize_t)len;
}

static int h_stat(void *p, int32_t fd, struct rap_stat *st)
{
	struct file *f = by_fd(p, fd);
	if (!f)
		return RAP_EBADFD;
	CHECK(st->size == 0 && st->name[0] == '\0');
	st->size = f->size;
	st->perm = f->perm;
	st->kind = (uint8_t)(fd % 5);
	memset(st->name, 'n', (size_t)fd * 700 % (RAP_STAT_NAME_MAX + 1));
	return 0;
}

/* Text of n bytes (heap). */
static char *text_of(size_t n)
{
	char *t = malloc(n + 1);
	if (!t)
		return NULL;
	for (size_t i = 0; i < n; i++)
		t[i] = (char)('a' + i % 26);
	t[n] = '\0';
	return t;
}

static size_t cmd_size(const char *cmd)
{
	size_t len = strlen(cmd);
	return len >= 3 ? ((size_t)(unsigned char)cmd[1] * 256 * 5 + (unsigned char)cmd[2]) % CMD_OUTPUT_MAX : 100;
}

/* By the first byte: 'L' answers later (the harness completes it), 'E' fails with no text,
 * 'e' fails with a reason, 'n' succeeds silently, 'b' prints cmd_size() bytes, anything else
 * is echoed. */
static int h_cmd(void *p, const char *cmd, char **out)
{
	struct ctx *x = p;
	*out = NULL;
	switch (cmd[0]) {
	case 'L':
		CHECK(x->later == NULL);
		x->later = strdup(cmd);
		return x->later ? RAP_PENDING : RAP_ENOMEM;
	case 'E':
		return RAP_EDENIED;
	case 'e':
		*out = strdup("error: refused\n");
		return *out ? RAP_EDENIED : RAP_ENOMEM;
	case 'n':
		return 0;
	case 'b':
		*out = text_of(cmd_size(cmd));
		return *out ? 0 : RAP_ENOMEM;
	default:
		*out = strdup(cmd);
		return *out ? 0 : RAP_ENOMEM;
	}
}

static void h_log(void *p, int level, const char *msg)
{
	(void)p;
	CHECK(level >= 0 && level <= 7 && msg != NULL);
}

static const struct rap_server_handler handler = {
	.open = h_open, .read = h_read, .write = h_write, .seek = h_seek, .close = h_close,
	.cmd = h_cmd, .log = h_log, .pread = h_pread, .pwrite = h_pwrite, .stat = h_stat,
};

struct replies {
	struct rap_decoder *dec;
	uint64_t count;    /* replies, XCMD chunks not counted */
	bool in_xcmd;      /* chunks seen, final frame not yet */
};

static void check_reply(struct replies *r, const struct rap_msg *m)
{
	CHECK(!m->dropped && (m->op & RAP_REPLY));
	uint8_t op = (uint8_t)(m->op & ~RAP_REPLY);
	if (op == RAP_OP_XCMD_OUT) {
		CHECK(m->status == 0 && m->len > 0 && m->len <= XCMD_CHUNK);
		r->in_xcmd = true;
		return;
	}
	/* Chunks are followed by their final frame and nothing else. */
	CHECK(!r->in_xcmd || op == RAP_OP_XCMD);
	r->in_xcmd = false;
	if (op >= RAP_OP_XOPEN && op <= RAP_OP_AUTH_PROOF) {
		CHECK(m->status >= 0 || known_error(rap__status_from_wire(m->status)));
		CHECK(m->status <= 1);
		if (m->status < 0)
			CHECK(m->len <= RAP_ERROR_TEXT_MAX);
		if (op == RAP_OP_PREAD && m->status == 0)
			CHECK(m->len <= (1u << 20));
		if (op == RAP_OP_STAT && m->status == 0) {
			struct rap_stat *st = malloc(sizeof(*st));
			CHECK(st != NULL);
			CHECK(rap_stat_parse(m->data, m->len, st) == 0);
			free(st);
		}
	}
	r->count++;
}

static void take(struct rap_server_session *s, struct replies *r, size_t n)
{
	for (;;) {
		const uint8_t *p;
		size_t q = rap_server_session_output(s, &p);
		if (!q || !n)
			return;
		CHECK(rap_server_session_buffered(s) >= q);
		size_t k = q < n ? q : n;
		size_t off = 0;
		while (off < k) {
			struct rap_msg m;
			size_t used;
			int rc = rap_decoder_decode(r->dec, p + off, k - off, &used, &m);
			CHECK(rc >= 0 && used <= k - off);
			off += used;
			if (rc == 0)
				break;
			check_reply(r, &m);
		}
		CHECK(off == k);
		rap_server_session_consume(s, k);
		if (n != SIZE_MAX)
			n -= k;
	}
}

/* Answers the pending command, if any: its output, or a failure. */
static void complete(struct rap_server_session *s, struct ctx *x, bool fail)
{
	if (!x->later)
		return;
	CHECK(rap_server_session_pending(s));
	char *out = fail ? NULL : text_of(cmd_size(x->later));
	free(x->later);
	x->later = NULL;
	int rc = rap_server_session_complete(s, fail ? RAP_EDENIED : 0, out, false);
	CHECK(rc <= 0);
}

static int server_side(const uint8_t *data, size_t size)
{
	if (size < 9)
		return 0;
	uint8_t cfg = data[0];
	const uint8_t *sizes = data + 1;
	size_t len = size - 9;
	uint8_t *in = malloc(sizeof probe_v2 + len + 1);
	CHECK(in != NULL);
	size_t n = 0;
	if (cfg & 2) {
		memcpy(in, probe_v2, sizeof probe_v2);
		n = sizeof probe_v2;
	}
	memcpy(in + n, data + 9, len);
	len += n;

	struct ctx x;
	memset(&x, 0, sizeof x);
	x.cur = -1;
	struct rap_server_session *s = NULL;
	CHECK(rap_server_session_new(&handler, &x, &s) == 0);
	if (cfg & 4)
		CHECK(rap_server_session_set_max_payload(s, 16) == 0);
	unsigned drain = (cfg >> 3) & 7, when = cfg >> 6;
	struct replies r = { NULL, 0, false };
	CHECK(rap_decoder_new(RAP_ROLE_CLIENT, &r.dec) == 0);
	rap_decoder_set_extension(r.dec, true);
	CHECK(rap_decoder_set_max_payload(r.dec, (64u << 20) + 64) == 0);

	int failed = 0;
	size_t pos = 0;
	for (unsigned k = 0; pos < len; k++) {
		size_t chunk = (size_t)sizes[k % 8] + 1;
		if (chunk > len - pos)
			chunk = len - pos;
		ssize_t fed = rap_server_session_feed(s, in + pos, chunk);
		pos += chunk;
		if (fed < 0) {
			CHECK(failed == 0 || fed == failed);
			failed = (int)fed;
		} else {
			CHECK(failed == 0 && (size_t)fed == chunk);
		}
		if (when == 0 || when == 3 || (when == 1 && (k & 1)))
			complete(s, &x, when == 3);
		size_t queued = rap_server_session_output(s, NULL);
		switch (drain) {
		case 1: break;
		case 2: take(s, &r, queued / 2); break;
		case 3: take(s, &r, queued > 1 ? queued - 1 : 0); break;
		case 4: take(s, &r, (size_t)sizes[k % 8] * 64 + 1); break;
		case 5: if (k & 1) take(s, &r, SIZE_MAX); break;
		default: take(s, &r, SIZE_MAX); break;
		}
		(void)rap_server_session_busy(s);
		(void)rap_server_session_release(s);
	}
	/* The end: a pending command answered, every reply taken, in as many rounds as a
	 * pending command held requests back. */
	for (size_t round = 0; round < len + 64 && (x.later || rap_server_session_output(s, NULL)); round++) {
		complete(s, &x, when == 3);
		take(s, &r, SIZE_MAX);
	}
	CHECK(!x.later);
	ssize_t end = rap_server_session_feed(s, in, 0);
	CHECK(end == 0 || (end < 0 && (!failed || end == failed)));
	CHECK(!r.in_xcmd);
	if (end == 0) {
		CHECK(rap_server_session_done(s));
		CHECK(rap_server_session_buffered(s) == 0);
		CHECK(r.count == rap_server_session_requests(s));
	} else {
		uint64_t req = rap_server_session_requests(s);
		CHECK(r.count == req || r.count + 1 == req);
	}
	CHECK(rap_decoder_idle(r.dec));
	CHECK(!rap_server_session_closing(s)); /* no secret: nothing ends a session but errors */
	rap_decoder_free(r.dec);
	rap_server_session_free(s);
	free(in);
	return 0;
}

/* ---- the client side --------------------------------------------------------------------- */

#define SCRIPT_MAX 32
#define IO_MAX (256u << 10)

struct wire {
	const struct rap_client *c;
	const uint8_t *in;
	size_t len, pos, chunk;
	struct rap_decoder *sent;
};

static ssize_t w_recv(void *user, void *buf, size_t n)
{
	struct wire *w = user;
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
	/* A server that did not grant the extension never sees its messages. */
	rap_decoder_set_extension(w->sent, rap_client_has_extension(w->c));
	while (n) {
		struct rap_msg m;
		size_t used;
		int rc = rap_decoder_decode(w->sent, p, n, &used, &m);
		CHECK(rc >= 0 && used <= n);
		p += used;
		n -= used;
		if (rc == 0)
			CHECK(n == 0);
		else if (m.op == RAP_OP_PREAD)
			CHECK(m.len > 0 && m.len <= (1u << 20));
	}
	return 0;
}

static const struct rap__transport transport = { .recv = w_recv, .send = w_send };

static uint8_t io_buf[IO_MAX];
static char text[4096];

static int on_chunk(void *user, const char *data, size_t len)
{
	size_t *total = user;
	CHECK(len > 0 && len <= XCMD_CHUNK && data != NULL);
	*total += len;
	return *total > 200000 ? RAP_ENOSPC : 0;
}

static void call(struct rap_client *c, const uint8_t *op)
{
	uint8_t a = op[1], b = op[2];
	uint64_t off = (uint64_t)a << (b & 31);
	size_t n = ((size_t)a << 8 | b) % IO_MAX;
	int32_t fd = (int32_t)(b % 12);
	int rc = 0;
	switch (op[0] % 12) {
	case 0:
		rc = rap_client_probe(c);
		CHECK(rc == 0 || rc == 1 || known_error(rc));
		break;
	case 1: {
		size_t pl = ((size_t)a * 17 + b) % 5000;
		memset(text, 'a' + (b & 7), pl < sizeof text ? pl : sizeof text - 1);
		text[pl < sizeof text ? pl : sizeof text - 1] = '\0';
		rc = rap_client_open(c, text, b);
		CHECK(rc >= 0 || known_error(rc));
		break;
	}
	case 2:
	case 3: {
		ssize_t got = op[0] % 12 == 2 ? rap_client_read_at(c, off, io_buf, n) : rap_client_pread(c, fd, off, io_buf, n);
		CHECK(got < 0 ? known_error((int)got) : (size_t)got <= n);
		break;
	}
	case 4:
	case 5: {
		ssize_t put = op[0] % 12 == 4 ? rap_client_write_at(c, off, io_buf, n) : rap_client_pwrite(c, fd, off, io_buf, n);
		CHECK(put < 0 ? known_error((int)put) : (size_t)put <= n);
		break;
	}
	case 6: {
		struct rap_stat *st = malloc(sizeof(*st));
		CHECK(st != NULL);
		rc = rap_client_stat(c, fd, st);
		CHECK(rc == 0 || known_error(rc));
		if (rc == 0)
			CHECK(strlen(st->name) <= RAP_STAT_NAME_MAX);
		free(st);
		break;
	}
	case 7: {
		uint64_t sz;
		rc = rap_client_size(c, &sz);
		CHECK(rc == 0 || known_error(rc));
		break;
	}
	case 8:
		rc = rap_client_close_fd(c, fd);
		CHECK(rc == 0 || known_error(rc));
		break;
	case 9: {
		size_t tl = ((size_t)a * 16 + b) % sizeof text;
		memset(text, 'p', tl);
		text[tl] = '\0';
		char *out = NULL;
		size_t outlen = 0;
		int status = 7;
		rc = rap_client_cmd_status(c, text, &out, &outlen, &status);
		if (rc == 0)
			CHECK(out != NULL && out[outlen] == '\0' && status >= RAP_CMD_STATUS_UNKNOWN &&
			      status <= RAP_CMD_STATUS_FAILED);
		else
			CHECK(known_error(rc) && out == NULL);
		free(out);
		break;
	}
	case 10: {
		size_t total = 0;
		int status = 7;
		rc = rap_client_cmd_stream(c, "x", on_chunk, &total, &status);
		CHECK(rc == 0 || known_error(rc));
		if (rc == 0)
			CHECK(status >= RAP_CMD_STATUS_UNKNOWN && status <= RAP_CMD_STATUS_FAILED);
		break;
	}
	default:
		(void)rap_client_set_max_reply(c, (uint32_t)a << (b % 32));
		break;
	}
	/* A client that had the extension keeps it. */
	CHECK(!rap_client_has_extension(c) || rap_client_extended(c));
}

static int client_side(const uint8_t *data, size_t size)
{
	static const size_t chunks[8] = { 1, 2, 7, 64, 1500, 4096, 65536, 3 };
	static const uint32_t replies[4] = { 0, 16, 4096, 1u << 20 };
	if (size < 2)
		return 0;
	uint8_t cfg = data[0];
	size_t nops = data[1] % (SCRIPT_MAX + 1);
	if (size < 2 + nops * 3)
		return 0;
	const uint8_t *script = data + 2;
	size_t slen = size - 2 - nops * 3;
	uint8_t *in = malloc(sizeof grant_v2 + slen + 1);
	CHECK(in != NULL);
	size_t n = 0;
	if (cfg & 2) {
		memcpy(in, grant_v2, sizeof grant_v2);
		n = sizeof grant_v2;
	}
	memcpy(in + n, script + nops * 3, slen);

	struct rap_client *c = NULL;
	CHECK(rap_client_new(&c) == 0);
	struct wire w = { .c = c, .in = in, .len = n + slen, .chunk = chunks[(cfg >> 2) & 7] };
	CHECK(rap_decoder_new(RAP_ROLE_SERVER, &w.sent) == 0);
	CHECK(rap_decoder_set_max_payload(w.sent, 1u << 30) == 0);
	CHECK(rap__client_attach_transport(c, &transport, &w) == 0);
	if (replies[(cfg >> 5) & 3])
		CHECK(rap_client_set_max_reply(c, replies[(cfg >> 5) & 3]) == 0);
	/* With the answer given, the script starts from a probe. */
	if (cfg & 2)
		CHECK(rap_client_probe(c) == 1 && rap_client_has_extension(c));
	for (size_t i = 0; i < nops; i++)
		call(c, script + i * 3);
	CHECK(rap_decoder_idle(w.sent));
	rap_client_free(c);
	rap_decoder_free(w.sent);
	free(in);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > INPUT_MAX)
		return 0;
	static bool ready;
	if (!ready) {
		for (size_t i = 0; i < sizeof pattern; i++)
			pattern[i] = (uint8_t)(i % PERIOD * 131 + 7);
		ready = true;
	}
	return data[0] & 1 ? client_side(data, size) : server_side(data, size);
}
