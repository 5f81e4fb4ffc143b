/* Fuzz target for the sans-IO server session (libr/rap/server_session.c) over a handler that
 * keeps its files in memory: no system call per input. Input layout:
 *   byte 0      settings: bits 0-1 payload limit (default, 1, 16, 1 MiB), bits 2-3 stock
 *               reply cut (default, none, 64, 5), bit 4 release the buffers whenever idle,
 *               bits 5-7 how much of the replies is taken after each chunk (all, none until
 *               the end, half, all but 1 byte, all but 4 KiB, all every other chunk, 64 bytes
 *               per chunk-size unit)
 *   bytes 1..8  chunk sizes (each + 1), used in turn to split the stream
 *   the rest    what the client sends
 * Checks: feed() consumes everything or reports the session's error; the replies form a
 * well-formed reply stream, one reply per request; once the replies are taken nothing is
 * held back; a failed session stays failed. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

#include "fuzz.h"

#define HEADER 9
#define INPUT_MAX (16u << 10) /* longer inputs add nothing but time */
#define FILES_MAX 8
/* Files are small so that one READ costs little; 8 KiB still takes a READ past the stock
 * 4 KiB chunk, and 32 of them past the session's high-water mark. */
#define FILE_SIZE_MAX (8u << 10)
#define CMD_OUTPUT_MAX 20000 /* past the 16 KiB stock cut */

/* ---- the handler: files are sizes and positions; their bytes are a function of the
 * offset (a period of 251), so nothing needs storing or resetting ------------------------ */

#define PERIOD 251
static uint8_t pattern[FILE_SIZE_MAX + PERIOD];

struct file {
	bool open;
	uint8_t perm;
	uint64_t size;
};

struct ctx {
	struct file files[FILES_MAX];
	int cur; /* index into files, -1 when none */
	uint64_t pos;
};

static int h_open(void *p, const char *path, uint8_t perm)
{
	struct ctx *x = p;
	if (!*path || path[0] == '!')
		return RAP_EDENIED;
	for (int i = 0; i < FILES_MAX; i++) {
		if (x->files[i].open)
			continue;
		x->files[i].open = true;
		x->files[i].perm = perm;
		x->files[i].size = FILE_SIZE_MAX >> ((unsigned char)path[0] & 15);
		x->cur = i;
		x->pos = 0;
		return i + 3;
	}
	return -24; /* -EMFILE */
}

static ssize_t h_read(void *p, uint8_t *buf, size_t len)
{
	struct ctx *x = p;
	CHECK(len > 0);
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
	CHECK(len > 0 && buf != NULL);
	if (x->cur < 0)
		return RAP_EBADFD;
	if (!(x->files[x->cur].perm & RAP_PERM_W))
		return RAP_EDENIED;
	uint64_t size = x->files[x->cur].size;
	if (x->pos >= size)
		return -28; /* -ENOSPC: an errno, which extended clients get as RAP_EREMOTE */
	/* Touch every byte: ASan checks the payload really is len bytes. */
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum ^= buf[i];
	(void)sum;
	return size - x->pos < len ? (ssize_t)(size - x->pos) : (ssize_t)len;
}

static int h_seek(void *p, int whence, uint64_t offset, uint64_t *result)
{
	struct ctx *x = p;
	CHECK(whence == RAP_SEEK_SET || whence == RAP_SEEK_CUR || whence == RAP_SEEK_END);
	if (x->cur < 0)
		return RAP_EBADFD;
	if (whence == RAP_SEEK_SET) {
		if (offset > (1ull << 40))
			return RAP_EINVAL;
		x->pos = offset;
	}
	*result = whence == RAP_SEEK_END ? x->files[x->cur].size : x->pos;
	return 0;
}

static int h_close(void *p, int32_t fd)
{
	struct ctx *x = p;
	if (fd < 3 || fd >= 3 + FILES_MAX || !x->files[fd - 3].open)
		return RAP_EBADFD;
	x->files[fd - 3].open = false;
	if (x->cur == fd - 3)
		x->cur = -1;
	return 0;
}

/* What the command asks for, by its first byte: 'E' fails with no text, 'e' fails with a
 * reason, 'n' succeeds silently, 'b' prints (cmd[1] * 256 + cmd[2]) % CMD_OUTPUT_MAX bytes of
 * text with two-byte UTF-8 characters in it (stock clients get it cut), anything else is
 * echoed. */
static int h_cmd(void *p, const char *cmd, char **out)
{
	*out = NULL;
	size_t len = strlen(cmd);
	switch (cmd[0]) {
	case 'E':
		return RAP_EDENIED;
	case 'e':
		*out = strdup("error: refused\n");
		return *out ? RAP_EDENIED : RAP_ENOMEM;
	case 'n':
		return 0;
	case 'b': {
		size_t n = len >= 3 ? ((size_t)(unsigned char)cmd[1] * 256 + (unsigned char)cmd[2]) % CMD_OUTPUT_MAX : 100;
		char *t = malloc(n + 1);
		if (!t)
			return RAP_ENOMEM;
		for (size_t i = 0; i < n; i++)
			t[i] = (i % 7 == 5 && i + 1 < n) ? (char)0xc3 : (i % 7 == 6 && i > 0 && t[i - 1] == (char)0xc3) ? (char)0xa9 : 'a';
		t[n] = '\0';
		*out = t;
		return 0;
	}
	default:
		*out = strdup(cmd);
		return *out ? 0 : RAP_ENOMEM;
	}
}

static void h_log(void *p, int level, const char *msg)
{
	CHECK(level >= 0 && level <= 7 && msg != NULL);
}

static const struct rap_server_handler handler = {
	.open = h_open,
	.read = h_read,
	.write = h_write,
	.seek = h_seek,
	.close = h_close,
	.cmd = h_cmd,
	.log = h_log,
};

/* ---- reading the replies ------------------------------------------------------------- */

struct replies {
	struct rap_decoder *dec;
	uint64_t count;
};

/* Takes up to n queued reply bytes (all when n is SIZE_MAX) and checks them. */
static void take(struct rap_server_session *s, struct replies *r, size_t n)
{
	for (;;) {
		const uint8_t *p;
		size_t q = rap_server_session_output(s, &p);
		if (!q || !n)
			return;
		size_t k = q < n ? q : n;
		CHECK(p != NULL);
		size_t off = 0;
		while (off < k) {
			struct rap_msg m;
			size_t used;
			int rc = rap_decoder_decode(r->dec, p + off, k - off, &used, &m);
			CHECK(rc >= 0);
			CHECK(used <= k - off);
			off += used;
			if (rc == 0)
				break;
			CHECK(!m.dropped);
			CHECK(m.op & RAP_REPLY);
			if (m.op == (RAP_OP_READ | RAP_REPLY))
				CHECK(m.len <= (1u << 20));
			r->count++;
		}
		CHECK(off == k);
		rap_server_session_consume(s, k);
		if (n != SIZE_MAX)
			n -= k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t payloads[4] = { 0, 1, 16, 1u << 20 };
	static const uint32_t cuts[4] = { RAP_STOCK_CMD_REPLY_MAX, 0, 64, 5 };
	if (size < HEADER || size > INPUT_MAX)
		return 0;
	static bool ready;
	if (!ready) {
		for (size_t i = 0; i < sizeof pattern; i++)
			pattern[i] = (uint8_t)(i % PERIOD * 131 + 7);
		ready = true;
	}
	uint8_t cfg = data[0];
	const uint8_t *sizes = data + 1;
	const uint8_t *in = data + HEADER;
	size_t len = size - HEADER;

	struct ctx x;
	memset(&x, 0, sizeof x);
	x.cur = -1;
	struct rap_server_session *s = NULL;
	CHECK(rap_server_session_new(&handler, &x, &s) == 0);
	if (payloads[cfg & 3])
		CHECK(rap_server_session_set_max_payload(s, payloads[cfg & 3]) == 0);
	rap_server_session_set_stock_reply_max(s, cuts[(cfg >> 2) & 3]);
	bool release = cfg & 16;
	unsigned drain = cfg >> 5;

	struct replies r = { NULL, 0 };
	CHECK(rap_decoder_new(RAP_ROLE_CLIENT, &r.dec) == 0);
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
			CHECK(!rap_server_session_wants_input(s));
		} else {
			CHECK(failed == 0 && (size_t)fed == chunk);
		}
		/* Only mode 1 lets replies pile up past the high-water mark (then requests are held
		 * back): each such input costs a few hundred KiB of fresh memory, so the other
		 * modes take enough to keep the queue short. */
		size_t queued = rap_server_session_output(s, NULL);
		switch (drain) {
		case 1: break;
		case 2: take(s, &r, queued / 2); break;
		case 3: take(s, &r, queued > 1 ? queued - 1 : 0); break;
		case 4: take(s, &r, queued > 4096 ? queued - 4096 : 1); break;
		case 5: if (k & 1) take(s, &r, SIZE_MAX); break;
		case 6: take(s, &r, (size_t)sizes[k % 8] * 64); break;
		default: take(s, &r, SIZE_MAX); break;
		}
		if (release)
			(void)rap_server_session_release(s);
		(void)rap_server_session_busy(s);
		(void)rap_server_session_partial(s);
	}
	take(s, &r, SIZE_MAX);
	/* A held-back request may fail the session while its replies are taken. */
	ssize_t end = rap_server_session_feed(s, in, 0);
	CHECK(end == 0 || (end < 0 && (!failed || end == failed)));
	if (end == 0) {
		/* Taking every reply let every held-back request run. */
		CHECK(rap_server_session_wants_input(s));
		CHECK(strcmp(rap_server_session_error(s), "no error") == 0);
		CHECK(r.count == rap_server_session_requests(s));
	} else {
		CHECK(!rap_server_session_wants_input(s));
		CHECK(strcmp(rap_server_session_error(s), "no error") != 0);
		/* Only a CMD reply (0x87, never expected) counts as a request and gets no answer. */
		uint64_t req = rap_server_session_requests(s);
		CHECK(r.count == req || r.count + 1 == req);
	}
	CHECK(rap_decoder_idle(r.dec));
	rap_decoder_free(r.dec);
	rap_server_session_free(s);
	return 0;
}
