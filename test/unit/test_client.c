/* The client against two kinds of peer over socketpair(): a fake server thread with the
 * stock radare2 behaviour (0xff padding, position answered to the probe, hang-up on a
 * failed OPEN, no drain of a refused CMD) and our own server session. Request bytes are
 * compared with what the real radare2 client sent in the recordings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rap/rap.h>

#include "common.h"
#include "rap_private.h"
#include "transcript.h"

#define SAMPLE_SIZE 131072u

static uint8_t *sample_make(size_t size)
{
	uint8_t *p = malloc(size);
	assert_non_null(p);
	for (size_t o = 0; o < size; o += 16) {
		char rec[17];
		snprintf(rec, sizeof rec, "@%08zx|rap2!\n", o);
		memcpy(p + o, rec, size - o < 16 ? size - o : 16);
	}
	return p;
}

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (!n)
		return;
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static bool contains(const struct bytes *hay, const uint8_t *needle, size_t n)
{
	return hay->n >= n && memmem(hay->p, hay->n, needle, n) != NULL;
}

/* ---- a buffered reader for the fake servers ----------------------------------------- */

struct rd {
	int fd;
	uint8_t buf[1 << 16];
	size_t pos, len;
	struct bytes *rec; /* every byte taken is recorded here */
};

/* True when a byte is buffered or arrives within timeout_ms (-1: wait for it or EOF). */
static bool rd_ready(struct rd *r, int timeout_ms)
{
	if (r->pos < r->len)
		return true;
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return false;
	ssize_t n = read(r->fd, r->buf, sizeof r->buf);
	if (n <= 0)
		return false;
	r->pos = 0;
	r->len = (size_t)n;
	return true;
}

static bool rd_exact(struct rd *r, void *out, size_t n)
{
	uint8_t *p = out;
	while (n) {
		if (!rd_ready(r, -1))
			return false;
		size_t k = r->len - r->pos < n ? r->len - r->pos : n;
		if (p) {
			memcpy(p, r->buf + r->pos, k);
			p += k;
		}
		bytes_add(r->rec, r->buf + r->pos, k);
		r->pos += k;
		n -= k;
	}
	return true;
}

static void send_all(int fd, const void *p, size_t n)
{
	assert_int_equal(rap_send_all(fd, p, n), 0);
}

/* ---- fake stock server -------------------------------------------------------------- */

struct stock {
	int fd;
	uint8_t *file;
	size_t size;
	bool writable;
	uint64_t pos;
	size_t batch;          /* answer only after this many requests (or a 300 ms pause) */
	size_t max_batch;      /* most requests read before answering */
	const char *reverse;   /* CMD: first send this reverse command */
	struct bytes answer;   /* the client's answer to it, as sent */
	size_t hangup_after;   /* close after sending this many reply bytes (0: never) */
	struct bytes rec;      /* everything the client sent */
	pthread_t th;
};

static void put_u32(struct bytes *o, uint8_t op, uint32_t v)
{
	uint8_t p[5] = { op };
	rap__put_be32(p + 1, v);
	bytes_add(o, p, 5);
}

static void put_text(struct bytes *o, uint8_t op, const char *t)
{
	put_u32(o, op, (uint32_t)strlen(t) + 1);
	bytes_add(o, t, strlen(t) + 1);
}

static char *big_text(size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)('a' + i % 26);
	s[n] = 0;
	return s;
}

/* The stock server's answer to one CMD. */
static char *stock_cmd_output(struct stock *k, struct rd *r, const char *cmd)
{
	unsigned long n;
	if (sscanf(cmd, "big %lu", &n) == 1)
		return big_text(n);
	if (k->reverse) {
		struct bytes o = { 0 };
		put_text(&o, 0x07, k->reverse);
		send_all(k->fd, o.p, o.n);
		free(o.p);
		struct bytes *keep = r->rec;
		r->rec = &k->answer;
		uint8_t h[5];
		char said[256] = "";
		if (rd_exact(r, h, 5)) {
			uint32_t l = rap__get_be32(h + 1);
			char *t = calloc(1, l + 1);
			assert_non_null(t);
			if (rd_exact(r, t, l))
				snprintf(said, sizeof said, "%s", t);
			free(t);
		}
		r->rec = keep;
		char *out = malloc(512);
		assert_non_null(out);
		snprintf(out, 512, "fake-server-reply: %s / client said: %s\n", cmd, said);
		return out;
	}
	return strdup(cmd);
}

static void *stock_main(void *arg)
{
	struct stock *k = arg;
	struct rd *r = calloc(1, sizeof *r);
	assert_non_null(r);
	r->fd = k->fd;
	r->rec = &k->rec;
	struct bytes out = { 0 };
	size_t nbatch = 0, sent = 0;
	for (;;) {
		if (out.n && (nbatch >= k->batch || !rd_ready(r, 300))) {
			if (nbatch > k->max_batch)
				k->max_batch = nbatch;
			size_t n = out.n;
			if (k->hangup_after && sent + n > k->hangup_after)
				n = k->hangup_after - sent;
			send_all(k->fd, out.p, n);
			sent += n;
			out.n = nbatch = 0;
			if (k->hangup_after && sent >= k->hangup_after)
				break;
		}
		uint8_t op, h[9];
		if (!rd_ready(r, -1) || !rd_exact(r, &op, 1))
			break;
		nbatch++;
		if (op == 0x01) {
			if (!rd_exact(r, h, 2))
				break;
			char path[256] = "";
			if (!rd_exact(r, path, h[1]))
				break;
			if (strcmp(path, "/data/files/sample.bin") != 0)
				break; /* stock hangs up on a failed OPEN */
			k->pos = 0;
			put_u32(&out, 0x81, 4);
		} else if (op == 0x02) {
			if (!rd_exact(r, h, 4))
				break;
			uint32_t l = rap__get_be32(h);
			if (l > INT32_MAX)
				break;
			if (l > RAP_PACKET_MAX)
				l = RAP_PACKET_MAX;
			put_u32(&out, 0x82, l);
			for (uint32_t i = 0; i < l; i++) {
				uint64_t at = k->pos + i;
				uint8_t b = at < k->size ? k->file[at] : 0xff;
				bytes_add(&out, &b, 1);
			}
		} else if (op == 0x03) {
			if (!rd_exact(r, h, 4))
				break;
			uint32_t l = rap__get_be32(h);
			if (l > RAP_PACKET_MAX)
				break; /* stock exits */
			uint8_t *d = malloc(l + 1);
			assert_non_null(d);
			bool ok = rd_exact(r, d, l);
			bool done = ok && l && k->writable && k->pos + l <= k->size;
			if (done)
				memcpy(k->file + k->pos, d, l);
			free(d);
			if (!ok)
				break;
			put_u32(&out, 0x83, done ? 1 : 0);
		} else if (op == 0x04) {
			if (!rd_exact(r, h, 9))
				break;
			uint64_t off = rap__get_be64(h + 1), res;
			if (h[0] == 0)
				res = k->pos = off;
			else if (h[0] == 2)
				res = k->size;
			else
				res = k->pos;
			uint8_t p[9] = { 0x84 };
			rap__put_be64(p + 1, res);
			bytes_add(&out, p, 9);
		} else if (op == 0x05) {
			if (!rd_exact(r, h, 4))
				break;
			put_u32(&out, 0x85, 0);
		} else if (op == 0x07) {
			if (!rd_exact(r, h, 4))
				break;
			uint32_t l = rap__get_be32(h);
			if (l == 0 || l >= RAP_PACKET_MAX) {
				put_u32(&out, 0x87, 0); /* and the payload is parsed as packets */
				continue;
			}
			char *cmd = calloc(1, l + 1);
			assert_non_null(cmd);
			bool ok = rd_exact(r, cmd, l);
			if (ok) {
				if (out.n) { /* a reverse CMD must not overtake earlier replies */
					send_all(k->fd, out.p, out.n);
					sent += out.n;
					out.n = 0;
				}
				char *o = stock_cmd_output(k, r, cmd);
				put_text(&out, 0x87, o);
				free(o);
			}
			free(cmd);
			if (!ok)
				break;
		} else {
			break; /* unknown command: connection closed */
		}
	}
	if (out.n && !k->hangup_after)
		(void)rap_send_all(k->fd, out.p, out.n);
	free(out.p);
	free(r);
	shutdown(k->fd, SHUT_RDWR);
	return NULL;
}

/* Starts a stock fake and a client attached to it. */
static struct rap_client *stock_start(struct stock *k, bool writable)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	k->fd = sv[1];
	k->file = sample_make(SAMPLE_SIZE);
	k->size = SAMPLE_SIZE;
	k->writable = writable;
	if (!k->batch)
		k->batch = 1;
	assert_int_equal(pthread_create(&k->th, NULL, stock_main, k), 0);
	struct rap_client *c = NULL;
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap_client_attach_fd(c, sv[0]), 0);
	assert_int_equal(rap_client_fd(c), sv[0]);
	return c;
}

static void stock_stop(struct stock *k, struct rap_client *c)
{
	rap_client_free(c);
	pthread_join(k->th, NULL);
	close(k->fd);
	free(k->file);
	free(k->rec.p);
	free(k->answer.p);
}

/* ---- our server, through a server session --------------------------------------------- */

struct ours {
	int fd;
	struct rap_server_session *s;
	uint8_t *file;
	size_t size;
	bool open, writable;
	uint64_t pos;
	size_t max_read, max_write;
	int seeks;          /* SEEKs the handler saw */
	int rc;
	pthread_t th;
};

/* The second file of the extension's server (fd 8): its bytes are a function of the
 * offset. */
#define OTHER_SIZE 5000u
static uint8_t other_byte(uint64_t off)
{
	return (uint8_t)(off * 31 + 7);
}

static int o_open(void *ctx, const char *path, uint8_t perm)
{
	struct ours *k = ctx;
	if (strcmp(path, "/data/files/sample.bin") != 0)
		return RAP_EBADFD;
	k->open = true;
	k->writable = perm & RAP_PERM_W;
	k->pos = 0;
	return 7;
}

static ssize_t o_read(void *ctx, uint8_t *buf, size_t len)
{
	struct ours *k = ctx;
	if (len > k->max_read)
		k->max_read = len;
	if (!k->open)
		return RAP_EBADFD;
	if (k->pos >= k->size)
		return 0;
	size_t n = k->size - k->pos < len ? k->size - k->pos : len;
	memcpy(buf, k->file + k->pos, n);
	return (ssize_t)n;
}

static ssize_t o_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct ours *k = ctx;
	if (len > k->max_write)
		k->max_write = len;
	if (!k->open || !k->writable)
		return RAP_EDENIED;
	if (k->pos >= k->size)
		return 0;
	size_t n = k->size - k->pos < len ? k->size - k->pos : len;
	memcpy(k->file + k->pos, buf, n);
	return (ssize_t)n;
}

static int o_seek(void *ctx, int whence, uint64_t off, uint64_t *res)
{
	struct ours *k = ctx;
	k->seeks++;
	if (!k->open)
		return RAP_EBADFD;
	if (whence == RAP_SEEK_SET)
		k->pos = off;
	*res = whence == RAP_SEEK_END ? k->size : k->pos;
	return 0;
}

static int o_close(void *ctx, int32_t fd)
{
	struct ours *k = ctx;
	if (fd != 7 || !k->open)
		return RAP_EBADFD;
	k->open = false;
	return 0;
}

static int o_cmd(void *ctx, const char *cmd, char **out)
{
	(void)ctx;
	unsigned long n;
	if (sscanf(cmd, "big %lu", &n) == 1) {
		*out = big_text(n);
		return 0;
	}
	if (strcmp(cmd, "fail") == 0) {
		*out = strdup("error: it failed\n");
		assert_non_null(*out);
		return RAP_EINVAL;
	}
	if (strcmp(cmd, "deny") == 0)
		return RAP_EDENIED;
	size_t l = strlen(cmd);
	*out = malloc(l + 2);
	assert_non_null(*out);
	memcpy(*out, cmd, l);
	memcpy(*out + l, "\n", 2);
	return 0;
}

static ssize_t o_pread(void *ctx, int32_t fd, uint64_t off, uint8_t *buf, size_t len)
{
	struct ours *k = ctx;
	if (len > k->max_read)
		k->max_read = len;
	if (fd == 8) {
		size_t n = off >= OTHER_SIZE ? 0 : OTHER_SIZE - off < len ? (size_t)(OTHER_SIZE - off) : len;
		for (size_t i = 0; i < n; i++)
			buf[i] = other_byte(off + i);
		return (ssize_t)n;
	}
	if (fd == 10) { /* a bad block from 1 MiB on */
		if (off >= (1u << 20))
			return -EIO;
		for (size_t i = 0; i < len; i++)
			buf[i] = other_byte(off + i);
		return (ssize_t)len;
	}
	if (fd != 7 || !k->open)
		return RAP_EBADFD;
	if (off >= k->size)
		return 0;
	size_t n = k->size - off < len ? (size_t)(k->size - off) : len;
	memcpy(buf, k->file + off, n);
	return (ssize_t)n;
}

static ssize_t o_pwrite(void *ctx, int32_t fd, uint64_t off, const uint8_t *buf, size_t len)
{
	struct ours *k = ctx;
	if (len > k->max_write)
		k->max_write = len;
	if (fd != 7 || !k->open)
		return RAP_EBADFD;
	if (!k->writable)
		return RAP_EDENIED;
	if (off >= k->size)
		return -ENOSPC;
	size_t n = k->size - off < len ? (size_t)(k->size - off) : len;
	memcpy(k->file + off, buf, n);
	return (ssize_t)n;
}

static int o_stat(void *ctx, int32_t fd, struct rap_stat *st)
{
	struct ours *k = ctx;
	if (fd != 7 || !k->open)
		return RAP_EBADFD;
	st->size = k->size;
	st->perm = k->writable ? RAP_PERM_RW : RAP_PERM_R;
	st->kind = RAP_KIND_FILE;
	snprintf(st->name, sizeof st->name, "/data/files/sample.bin");
	return 0;
}

static const struct rap_server_handler ours_handler = {
	.open = o_open, .read = o_read, .write = o_write, .seek = o_seek,
	.close = o_close, .cmd = o_cmd,
};

static const struct rap_server_handler ours_ext_handler = {
	.open = o_open, .read = o_read, .write = o_write, .seek = o_seek,
	.close = o_close, .cmd = o_cmd, .pread = o_pread, .pwrite = o_pwrite, .stat = o_stat,
};

static void *ours_main(void *arg)
{
	struct ours *k = arg;
	k->rc = rap_server_session_serve_fd(k->s, k->fd);
	shutdown(k->fd, SHUT_RDWR);
	return NULL;
}

/* Our server with handler h, requiring secret when not NULL. */
static struct rap_client *ours_start_with(struct ours *k, size_t size, const struct rap_server_handler *h,
					  const struct rap_secret *secret)
{
	memset(k, 0, sizeof *k);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	k->fd = sv[1];
	k->size = size;
	k->file = sample_make(size);
	assert_int_equal(rap_server_session_new(h, k, &k->s), 0);
	if (secret)
		assert_int_equal(rap_server_session_require_auth(k->s, secret), 0);
	assert_int_equal(pthread_create(&k->th, NULL, ours_main, k), 0);
	struct rap_client *c = NULL;
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap_client_attach_fd(c, sv[0]), 0);
	return c;
}

static struct rap_client *ours_start(struct ours *k, size_t size)
{
	memset(k, 0, sizeof *k);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	k->fd = sv[1];
	k->size = size;
	k->file = sample_make(size);
	assert_int_equal(rap_server_session_new(&ours_handler, k, &k->s), 0);
	assert_int_equal(pthread_create(&k->th, NULL, ours_main, k), 0);
	struct rap_client *c = NULL;
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap_client_attach_fd(c, sv[0]), 0);
	return c;
}

#if RAP_TEST_HAVE_OPENSSL
/* Stops the server thread, which must have ended with rc. */
static void ours_stop_rc(struct ours *k, struct rap_client *c, int rc)
{
	rap_client_free(c);
	pthread_join(k->th, NULL);
	assert_int_equal(k->rc, rc);
	close(k->fd);
	rap_server_session_free(k->s);
	free(k->file);
}
#endif

static void ours_stop(struct ours *k, struct rap_client *c)
{
	rap_client_free(c);
	pthread_join(k->th, NULL);
	assert_int_equal(k->rc, 0);
	close(k->fd);
	rap_server_session_free(k->s);
	free(k->file);
}

/* ---- tests ----------------------------------------------------------------------------- */

/* Length of the request starting at p in a recorded client stream (complete requests of
 * the opcodes radare2 sends). */
static size_t request_len(const uint8_t *p)
{
	switch (p[0]) {
	case 0x01: return 3u + p[2];
	case 0x04: return 10u;
	case 0x02:
	case 0x05: return 5u;
	default: return 5u + rap__get_be32(p + 1);
	}
}

/* The bytes radare2's client sent in the recordings, request by request, are what ours
 * sends for the same operation. */
static void test_request_bytes_match_r2(void **state)
{
	(void)state;
	struct transcript ro, cmd, eq;
	assert_int_equal(transcript_load("open-ro-n.txt", &ro), 0);
	assert_int_equal(transcript_load("cmd.txt", &cmd), 0);
	assert_int_equal(transcript_load("eq-rap-plus.txt", &eq), 0);
	struct bytes r2 = { ro.conns[0].client, ro.conns[0].client_len, 0 };

	struct stock k = { 0 };
	struct rap_client *c = stock_start(&k, false);
	/* OPEN: exactly the first request of the recording. */
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 5), 4);
	assert_int_equal(k.rec.n, 26);
	assert_memory_equal(k.rec.p, ro.conns[0].client, 26);
	/* The empty CMD r2 sends after OPEN. */
	char *out;
	size_t outlen;
	size_t mark = k.rec.n;
	assert_int_equal(rap_client_cmd(c, "", &out, &outlen), 0);
	free(out);
	assert_memory_equal(k.rec.p + mark, "\x07\0\0\0\x01\0", 6);
	/* The size query: SEEK CUR 0, SEEK END 0, SEEK SET back, as recorded right after. */
	mark = k.rec.n;
	uint64_t size = 0;
	assert_int_equal(rap_client_size(c, &size), 0);
	assert_int_equal(size, SAMPLE_SIZE);
	assert_int_equal(k.rec.n - mark, 30);
	assert_memory_equal(k.rec.p + mark, ro.conns[0].client + 26 + 6, 30);
	/* A read: the SEEK SET and READ packets are the recorded ones (r2 adds a SEEK CUR
	 * between them, which only costs a round trip). */
	mark = k.rec.n;
	uint8_t buf[32];
	assert_int_equal(rap_client_read_at(c, 0, buf, 32), 32);
	assert_int_equal(k.rec.n - mark, 15);
	assert_true(contains(&r2, k.rec.p + mark, 10));
	assert_true(contains(&r2, k.rec.p + mark + 10, 5));
	assert_memory_equal(buf, k.file, 32);
	/* Every CMD of cmd.txt, sent from its text, is the recorded packet. */
	struct transcript_conn *tc = &cmd.conns[0];
	size_t found = 0;
	for (size_t off = 0; off + 5 <= tc->client_len;) {
		uint8_t op = tc->client[off];
		size_t len = request_len(tc->client + off);
		if (op == 0x07) {
			const char *text = (const char *)tc->client + off + 5;
			mark = k.rec.n;
			assert_int_equal(rap_client_cmd(c, text, &out, NULL), 0);
			free(out);
			assert_int_equal(k.rec.n - mark, len);
			assert_memory_equal(k.rec.p + mark, tc->client + off, len);
			found++;
		}
		off += len;
	}
	assert_true(found >= 5);
	/* Every SEEK of seek.txt, whatever its whence, is the recorded packet. */
	struct transcript sk;
	assert_int_equal(transcript_load("seek.txt", &sk), 0);
	tc = &sk.conns[0];
	found = 0;
	for (size_t off = 0; off + 5 <= tc->client_len;) {
		uint8_t op = tc->client[off];
		size_t len = request_len(tc->client + off);
		if (op == 0x04) {
			mark = k.rec.n;
			uint64_t pos;
			assert_int_equal(rap_client_seek(c, rap__get_be64(tc->client + off + 2),
							 tc->client[off + 1], &pos), 0);
			assert_int_equal(k.rec.n - mark, 10);
			assert_memory_equal(k.rec.p + mark, tc->client + off, 10);
			found++;
		}
		off += len;
	}
	assert_true(found >= 10);
	transcript_free(&sk);
	stock_stop(&k, c);

	/* =+ opens with permission 0. */
	memset(&k, 0, sizeof k);
	c = stock_start(&k, false);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 0), 4);
	assert_memory_equal(k.rec.p, eq.conns[0].client, 26);
	stock_stop(&k, c);
	transcript_free(&ro);
	transcript_free(&cmd);
	transcript_free(&eq);
}

static void test_stock_reads(void **state)
{
	(void)state;
	struct stock k = { .batch = 16 };
	struct rap_client *c = stock_start(&k, false);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 5), 4);
	/* A stock peer answers the probe with its position: nothing changes. */
	size_t mark = k.rec.n;
	assert_int_equal(rap_client_probe(c), 0);
	assert_false(rap_client_extended(c));
	assert_memory_equal(k.rec.p + mark, "\x04\xff" "RAPX" "\x00\x02\x00\x1f", 10);
	/* Many chunks, pipelined: the fake answers only once 16 requests have arrived. */
	size_t n = 100000;
	uint8_t *buf = malloc(n);
	assert_non_null(buf);
	assert_int_equal(rap_client_read_at(c, 0, buf, n), (ssize_t)n);
	assert_memory_equal(buf, k.file, n);
	assert_true(k.max_batch >= 16);
	/* Every READ asked at most 4096. */
	for (size_t i = mark; i + 5 <= k.rec.n; i++)
		if (k.rec.p[i] == 0x02 && i >= 10 && k.rec.p[i - 10] == 0x04)
			assert_true(rap__get_be32(k.rec.p + i + 1) <= 4096);
	/* Across the end: stock pads with 0xff and the client passes that on. */
	assert_int_equal(rap_client_read_at(c, SAMPLE_SIZE - 100, buf, 4096), 4096);
	assert_memory_equal(buf, k.file + SAMPLE_SIZE - 100, 100);
	for (size_t i = 100; i < 4096; i++)
		assert_int_equal(buf[i], 0xff);
	/* An unaligned read of a few bytes. */
	assert_int_equal(rap_client_read_at(c, 0x1233, buf, 3), 3);
	assert_memory_equal(buf, k.file + 0x1233, 3);
	assert_int_equal(rap_client_read_at(c, 0, buf, 0), 0);
	uint64_t pos = 1;
	assert_int_equal(rap_client_seek(c, 0x40, RAP_SEEK_SET, &pos), 0);
	assert_int_equal(pos, 0x40);
	assert_int_equal(rap_client_seek(c, 0x99, RAP_SEEK_CUR, &pos), 0);
	assert_int_equal(pos, 0x40);
	assert_int_equal(rap_client_seek(c, 0, RAP_SEEK_END, &pos), 0);
	assert_int_equal(pos, SAMPLE_SIZE);
	assert_int_equal(rap_client_seek(c, 0, 7, &pos), RAP_EINVAL);
	free(buf);
	stock_stop(&k, c);
}

/* The pipeline covers a bandwidth-delay product: 100 Mbit/s over 20 ms is 250 KB, 64 stock
 * chunks; 32 of them (radare2's whole file in 128 KiB) would leave the link idle. */
static void test_read_window(void **state)
{
	(void)state;
	size_t n = 512u << 10;
	uint8_t *buf = malloc(n);
	assert_non_null(buf);
	/* The fake answers only once 64 chunks (128 requests) are in, or after a 300 ms pause. */
	struct stock k = { .batch = 128 };
	struct rap_client *c = stock_start(&k, false);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 5), 4);
	assert_int_equal(rap_client_read_at(c, 0, buf, n), (ssize_t)n);
	assert_memory_equal(buf, k.file, SAMPLE_SIZE);
	assert_true(k.max_batch >= 128);
	/* Without memory for a large ring the read still works, with a smaller window. */
	rap__alloc_fail_after(0);
	assert_int_equal(rap_client_read_at(c, 0, buf, n), (ssize_t)n);
	rap__alloc_fail_after(-1);
	assert_memory_equal(buf, k.file, SAMPLE_SIZE);
	stock_stop(&k, c);

	/* A window of two chunks: never more than 4 requests ahead of the replies, which the
	 * fake, waiting for 5, answers after its pause. */
	memset(&k, 0, sizeof k);
	k.batch = 5;
	c = stock_start(&k, false);
	assert_int_equal(rap_client_set_window(c, 0), RAP_EINVAL);
	assert_int_equal(rap_client_set_window(c, ((size_t)1 << 30) + 1), RAP_EINVAL);
	assert_int_equal(rap_client_set_window(NULL, 4096), RAP_EINVAL);
	assert_int_equal(rap_client_set_window(c, 1), 0); /* still two chunks */
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 5), 4);
	assert_int_equal(rap_client_read_at(c, 4096, buf, 16384), 16384);
	assert_memory_equal(buf, k.file + 4096, 16384);
	assert_int_equal(k.max_batch, 4);
	stock_stop(&k, c);
	free(buf);
}

static void test_ours_reads(void **state)
{
	(void)state;
	struct ours k;
	size_t size = 3u << 20;
	struct rap_client *c = ours_start(&k, size);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 5), 7);
	/* Before the probe: stock-sized chunks. */
	uint8_t *buf = malloc(size + 100);
	assert_non_null(buf);
	assert_int_equal(rap_client_read_at(c, 0, buf, 20000), 20000);
	assert_memory_equal(buf, k.file, 20000);
	assert_int_equal(k.max_read, 4096);
	assert_int_equal(rap_client_probe(c), 1);
	assert_true(rap_client_extended(c));
	/* After it: 1 MiB chunks, short at the end of the file, 0 past it. */
	assert_int_equal(rap_client_read_at(c, 0, buf, size), (ssize_t)size);
	assert_memory_equal(buf, k.file, size);
	assert_int_equal(k.max_read, 1u << 20);
	assert_int_equal(rap_client_read_at(c, size - 10, buf, 5000), 10);
	assert_memory_equal(buf, k.file + size - 10, 10);
	assert_int_equal(rap_client_read_at(c, size - 3000000, buf, size), 3000000);
	assert_int_equal(rap_client_read_at(c, size + 1, buf, 100), 0);
	uint64_t sz = 0;
	assert_int_equal(rap_client_size(c, &sz), 0);
	assert_int_equal(sz, size);
	/* CLOSE: our fd works once. */
	assert_int_equal(rap_client_close_fd(c, 7), 0);
	assert_int_equal(rap_client_close_fd(c, 7), RAP_EREMOTE);
	/* Nothing open now: the server cannot seek there, and we say so. */
	assert_int_equal(rap_client_read_at(c, 5, buf, 10), RAP_EREMOTE);
	free(buf);
	ours_stop(&k, c);
}

static void test_writes(void **state)
{
	(void)state;
	uint8_t *data = malloc(3u << 20);
	assert_non_null(data);
	for (size_t i = 0; i < (3u << 20); i++)
		data[i] = (uint8_t)(i * 7 + 3);

	struct stock k = { .batch = 4 };
	struct rap_client *c = stock_start(&k, true);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 7), 4);
	assert_int_equal(rap_client_write_at(c, 100, data, 10000), 10000);
	assert_memory_equal(k.file + 100, data, 10000);
	assert_true(k.max_batch >= 4);
	for (size_t i = 0; i + 5 <= k.rec.n; i++)
		if (k.rec.p[i] == 0x03 && i >= 10 && k.rec.p[i - 10] == 0x04)
			assert_true(rap__get_be32(k.rec.p + i + 1) <= 4096);
	/* Past the end the stock fake refuses: answered 0, reported as a remote failure. */
	assert_int_equal(rap_client_write_at(c, SAMPLE_SIZE - 2, data, 4), RAP_EREMOTE);
	assert_int_equal(rap_client_write_at(c, 0, data, 0), 0);
	stock_stop(&k, c);

	memset(&k, 0, sizeof k);
	c = stock_start(&k, false);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 5), 4);
	assert_int_equal(rap_client_write_at(c, 0, data, 5000), RAP_EREMOTE);
	/* Still in step after the refused pipeline. */
	uint8_t b[4];
	assert_int_equal(rap_client_read_at(c, 0, b, 4), 4);
	assert_memory_equal(b, "@000", 4);
	stock_stop(&k, c);

	struct ours o;
	c = ours_start(&o, 3u << 20);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 7), 7);
	assert_int_equal(rap_client_probe(c), 1);
	assert_int_equal(rap_client_write_at(c, 0, data, 3u << 20), 3u << 20);
	assert_memory_equal(o.file, data, 3u << 20);
	assert_int_equal(o.max_write, 1u << 20);
	/* Our server reports a partial write as a count; the client returns what was done. */
	assert_int_equal(rap_client_write_at(c, (3u << 20) - 10, data, 100), 10);
	ours_stop(&o, c);

	c = ours_start(&o, 4096);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 5), 7);
	assert_int_equal(rap_client_write_at(c, 0, data, 100), RAP_EREMOTE);
	/* After the probe our server says why: the file is read-only there. */
	assert_int_equal(rap_client_probe(c), 1);
	assert_int_equal(rap_client_write_at(c, 0, data, 100), RAP_EDENIED);
	assert_int_equal(rap_client_write_at(c, 0, data, 3u << 20), RAP_EDENIED);
	/* Still in step: the pipelined chunks after the refused one were read. */
	uint8_t b4[4];
	assert_int_equal(rap_client_read_at(c, 0, b4, 4), 4);
	ours_stop(&o, c);
	free(data);
}

static void test_cmd_outputs(void **state)
{
	(void)state;
	struct ours k;
	struct rap_client *c = ours_start(&k, 4096);
	char *out = NULL;
	size_t n = 0;
	/* Without the probe our server cuts for stock clients, and reports no status. */
	int status = 7;
	assert_int_equal(rap_client_cmd_status(c, "big 100000", &out, &n, &status), 0);
	assert_true(n < RAP_STOCK_CMD_REPLY_MAX);
	assert_non_null(strstr(out, "[rap: output truncated"));
	assert_int_equal(status, RAP_CMD_STATUS_UNKNOWN);
	free(out);
	assert_int_equal(rap_client_cmd_status(c, "fail", &out, &n, &status), 0);
	assert_string_equal(out, "error: it failed\n");
	assert_int_equal(status, RAP_CMD_STATUS_UNKNOWN);
	free(out);
	assert_int_equal(rap_client_probe(c), 1);
	/* After it: the status of every command, its text unchanged. */
	assert_int_equal(rap_client_cmd_status(c, "fail", &out, &n, &status), 0);
	assert_string_equal(out, "error: it failed\n");
	assert_int_equal(n, strlen("error: it failed\n"));
	assert_int_equal(status, RAP_CMD_STATUS_FAILED);
	free(out);
	assert_int_equal(rap_client_cmd_status(c, "?e ok", &out, &n, &status), 0);
	assert_string_equal(out, "?e ok\n");
	assert_int_equal(status, RAP_CMD_STATUS_OK);
	free(out);
	assert_int_equal(rap_client_cmd(c, "big 100000", &out, &n), 0);
	assert_int_equal(n, 100000);
	assert_int_equal(strlen(out), 100000);
	assert_memory_equal(out, "abcdefghij", 10);
	free(out);
	assert_int_equal(rap_client_cmd(c, "?e hi", &out, &n), 0);
	assert_string_equal(out, "?e hi\n");
	assert_int_equal(n, 6);
	free(out);
	/* Longer than a stock server takes: sent to an extended peer, which takes up to
	 * 1 MiB and refuses more with a text (drained). */
	char *longcmd = big_text(6000);
	assert_int_equal(rap_client_cmd(c, longcmd, &out, &n), 0);
	assert_int_equal(n, 6001);
	free(out);
	free(longcmd);
	longcmd = big_text((1u << 20) + 10);
	assert_int_equal(rap_client_cmd(c, longcmd, &out, &n), 0);
	assert_string_equal(out, "error: command too long (1048587 bytes, limit 1048576)\n");
	free(out);
	free(longcmd);
	ours_stop(&k, c);
}

static void test_stock_cmd_limits(void **state)
{
	(void)state;
	struct stock k = { 0 };
	struct rap_client *c = stock_start(&k, false);
	char *out = NULL;
	/* A 4096-byte CMD would make a stock server parse its payload as packets. */
	char *cmd = big_text(RAP_PACKET_MAX - 1);
	size_t mark = k.rec.n;
	assert_int_equal(rap_client_cmd(c, cmd, &out, NULL), RAP_ETOOBIG);
	assert_null(out);
	cmd[RAP_PACKET_MAX - 2] = 0;
	assert_int_equal(rap_client_cmd(c, cmd, &out, NULL), 0);
	assert_int_equal(strlen(out), RAP_PACKET_MAX - 2);
	assert_int_equal(k.rec.n - mark, 5 + RAP_PACKET_MAX - 1);
	free(out);
	free(cmd);
	/* Stock sends a 17 KiB reply whole: accepted up to our max reply. */
	assert_int_equal(rap_client_cmd(c, "big 17990", &out, NULL), 0);
	assert_int_equal(strlen(out), 17990);
	free(out);
	stock_stop(&k, c);
}

static int reverse_cb(void *user, const char *cmd, char **out)
{
	int *calls = user;
	(*calls)++;
	assert_string_equal(cmd, "?e reverse-ok");
	*out = strdup("reverse-ok\n");
	return 0;
}

static int reverse_refuse(void *user, const char *cmd, char **out)
{
	(void)user;
	(void)cmd;
	(void)out;
	return RAP_EDENIED;
}

static void test_reverse_cmd(void **state)
{
	(void)state;
	struct transcript t;
	assert_int_equal(transcript_load("cmd-reverse.txt", &t), 0);
	/* What r2 answered to the fake server's "?e reverse-ok". */
	static const uint8_t r2_answer[] = "\x87\0\0\0\x0c" "reverse-ok\n";
	struct bytes r2 = { t.conns[0].client, t.conns[0].client_len, 0 };
	assert_true(contains(&r2, r2_answer, sizeof r2_answer));

	/* Default: refused with a text, never run; the real reply still arrives. */
	struct stock k = { .reverse = "?e reverse-ok" };
	struct rap_client *c = stock_start(&k, false);
	char *out = NULL;
	assert_int_equal(rap_client_cmd(c, "?e hi", &out, NULL), 0);
	assert_string_equal(out, "fake-server-reply: ?e hi / client said: "
				 "reverse commands are disabled on this client\n\n");
	free(out);
	const char *refusal = "reverse commands are disabled on this client\n";
	assert_int_equal(k.answer.n, 5 + strlen(refusal) + 1);
	assert_int_equal(k.answer.p[0], 0x87);
	assert_memory_equal(k.answer.p + 5, refusal, strlen(refusal) + 1);
	stock_stop(&k, c);

	/* Enabled: run, and answered byte for byte as radare2 does. */
	memset(&k, 0, sizeof k);
	k.reverse = "?e reverse-ok";
	c = stock_start(&k, false);
	int calls = 0;
	rap_client_set_reverse_cmd(c, reverse_cb, &calls);
	assert_int_equal(rap_client_cmd(c, "?e hi", &out, NULL), 0);
	assert_int_equal(calls, 1);
	assert_string_equal(out, "fake-server-reply: ?e hi / client said: reverse-ok\n\n");
	free(out);
	assert_int_equal(k.answer.n, sizeof r2_answer);
	assert_memory_equal(k.answer.p, r2_answer, sizeof r2_answer);
	stock_stop(&k, c);

	/* A callback that refuses still answers, or the server would wait forever. */
	memset(&k, 0, sizeof k);
	k.reverse = "?e reverse-ok";
	c = stock_start(&k, false);
	rap_client_set_reverse_cmd(c, reverse_refuse, NULL);
	assert_int_equal(rap_client_cmd(c, "?e hi", &out, NULL), 0);
	assert_non_null(strstr(out, "client said: error: reverse command refused"));
	free(out);
	stock_stop(&k, c);
	transcript_free(&t);
}

static void test_too_big_drained(void **state)
{
	(void)state;
	struct ours k;
	struct rap_client *c = ours_start(&k, SAMPLE_SIZE);
	assert_int_equal(rap_client_set_max_reply(c, 0), RAP_EINVAL);
	assert_int_equal(rap_client_set_max_reply(c, 1000), 0);
	assert_int_equal(rap_client_probe(c), 1);
	char *out = (char *)1;
	assert_int_equal(rap_client_cmd(c, "big 300000", &out, NULL), RAP_ETOOBIG);
	assert_null(out);
	/* The connection is still in step. */
	assert_int_equal(rap_client_cmd(c, "again", &out, NULL), 0);
	assert_string_equal(out, "again\n");
	free(out);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 5), 7);
	/* Reads stay within the limit too: chunks shrink to it. */
	uint8_t buf[5000];
	assert_int_equal(rap_client_read_at(c, 0, buf, sizeof buf), (ssize_t)sizeof buf);
	assert_memory_equal(buf, k.file, sizeof buf);
	assert_true(k.max_read <= 1000);
	ours_stop(&k, c);
}

/* A scripted peer: reads n bytes, writes a canned reply, then closes. */
struct script {
	int fd;
	size_t read_n;
	const uint8_t *reply;
	size_t reply_n;
	bool keep_open; /* after the reply, keep serving the stock way */
	size_t then_read; /* or: after the reply, read this many more bytes before closing */
	pthread_t th;
	struct stock rest;
};

static void *script_main(void *arg)
{
	struct script *s = arg;
	uint8_t *in = malloc(s->read_n + s->then_read + 1);
	assert_non_null(in);
	size_t got = 0;
	while (got < s->read_n) {
		ssize_t r = read(s->fd, in + got, s->read_n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	send_all(s->fd, s->reply, s->reply_n);
	while (got < s->read_n + s->then_read) {
		ssize_t r = read(s->fd, in + got, s->read_n + s->then_read - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	free(in);
	if (s->keep_open) {
		s->rest.fd = s->fd;
		s->rest.batch = 1;
		s->rest.file = sample_make(SAMPLE_SIZE);
		s->rest.size = SAMPLE_SIZE;
		stock_main(&s->rest);
		free(s->rest.file);
		free(s->rest.rec.p);
	}
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

static struct rap_client *script_start(struct script *s)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->fd = sv[1];
	assert_int_equal(pthread_create(&s->th, NULL, script_main, s), 0);
	struct rap_client *c = NULL;
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap_client_attach_fd(c, sv[0]), 0);
	return c;
}

static void script_stop(struct script *s, struct rap_client *c)
{
	rap_client_free(c);
	pthread_join(s->th, NULL);
	close(s->fd);
}

static void test_broken_peers(void **state)
{
	(void)state;
	uint8_t reply[9 + 5 + 8192];
	memset(reply, 'D', sizeof reply);
	reply[0] = 0x84;
	rap__put_be64(reply + 1, 0);
	reply[9] = 0x82;

	/* Hang-up in the middle of a READ reply. */
	rap__put_be32(reply + 10, 4096);
	struct script s = { .read_n = 15, .reply = reply, .reply_n = 9 + 5 + 100 };
	struct rap_client *c = script_start(&s);
	uint8_t buf[4096];
	assert_int_equal(rap_client_read_at(c, 0, buf, 4096), RAP_ECLOSED);
	/* And it stays closed. */
	uint64_t pos;
	assert_int_equal(rap_client_seek(c, 0, RAP_SEEK_SET, &pos), RAP_ECLOSED);
	script_stop(&s, c);

	/* A READ reply longer than asked: refused, drained, the connection still works. */
	rap__put_be32(reply + 10, 8192);
	s = (struct script){ .read_n = 15, .reply = reply, .reply_n = sizeof reply,
			     .keep_open = true };
	c = script_start(&s);
	assert_int_equal(rap_client_read_at(c, 0, buf, 4096), RAP_EPROTO);
	char *out;
	assert_int_equal(rap_client_cmd(c, "still there", &out, NULL), 0);
	assert_string_equal(out, "still there");
	free(out);
	script_stop(&s, c);

	/* Longer than asked but within the chunk size. */
	rap__put_be32(reply + 10, 200);
	s = (struct script){ .read_n = 15, .reply = reply, .reply_n = 9 + 5 + 200,
			     .keep_open = true };
	c = script_start(&s);
	assert_int_equal(rap_client_read_at(c, 0, buf, 100), RAP_EPROTO);
	assert_int_equal(rap_client_cmd(c, "ok", &out, NULL), 0);
	free(out);
	script_stop(&s, c);

	/* A reply of the wrong kind: the stream can no longer be trusted. */
	static const uint8_t wrong[] = "\x83\0\0\0\x01";
	s = (struct script){ .read_n = 10, .reply = wrong, .reply_n = 5, .keep_open = true };
	c = script_start(&s);
	assert_int_equal(rap_client_seek(c, 0, RAP_SEEK_SET, &pos), RAP_EPROTO);
	assert_int_equal(rap_client_seek(c, 0, RAP_SEEK_SET, &pos), RAP_EPROTO);
	script_stop(&s, c);

	/* A server that granted the command status but sent a reply without one (the script
	 * answers the probe and the command together, then takes the command). */
	static const uint8_t nostatus[] = "\x84rapx\0\x01\0\x02" "\x87\0\0\0\x03hi";
	s = (struct script){ .read_n = 10, .reply = nostatus, .reply_n = 9 + 8, .then_read = 8 };
	c = script_start(&s);
	assert_int_equal(rap_client_probe(c), 1);
	int st = 5;
	assert_int_equal(rap_client_cmd_status(c, "x?", &out, NULL, &st), RAP_EPROTO);
	assert_null(out);
	assert_int_equal(st, RAP_CMD_STATUS_UNKNOWN);
	script_stop(&s, c);
	static const uint8_t badstatus[] = "\x84rapx\0\x01\0\x02" "\x87\0\0\0\x06hi\0\0\0\0";
	s = (struct script){ .read_n = 10, .reply = badstatus, .reply_n = 9 + 11, .then_read = 8 };
	c = script_start(&s);
	assert_int_equal(rap_client_probe(c), 1);
	assert_int_equal(rap_client_cmd_status(c, "x?", &out, NULL, &st), RAP_EPROTO);
	script_stop(&s, c);

	/* A WRITE failure code that is no RAP_E* code of ours (-5, an errno) is not passed on. */
	static const uint8_t errnocode[] = "\x84rapx\0\x01\0\x04" "\x84\0\0\0\0\0\0\0\0"
					   "\x83\xff\xff\xff\xfb";
	s = (struct script){ .read_n = 10, .reply = errnocode, .reply_n = 9 + 9 + 5, .then_read = 10 + 5 + 2 };
	c = script_start(&s);
	assert_int_equal(rap_client_probe(c), 1);
	assert_int_equal(rap_client_write_at(c, 0, "ab", 2), RAP_EPROTO);
	script_stop(&s, c);

	/* An opcode no server sends. */
	static const uint8_t junk[] = "\x42\0\0\0\0\0\0\0\0";
	s = (struct script){ .read_n = 10, .reply = junk, .reply_n = 9 };
	c = script_start(&s);
	assert_int_equal(rap_client_seek(c, 0, RAP_SEEK_SET, &pos), RAP_EPROTO);
	script_stop(&s, c);

	/* The SEEK before a READ did not land: no data from elsewhere. */
	static uint8_t moved[9 + 5 + 4];
	moved[0] = 0x84;
	rap__put_be64(moved + 1, 0x10);
	moved[9] = 0x82;
	rap__put_be32(moved + 10, 4);
	memcpy(moved + 14, "XXXX", 4);
	s = (struct script){ .read_n = 15, .reply = moved, .reply_n = sizeof moved,
			     .keep_open = true };
	c = script_start(&s);
	assert_int_equal(rap_client_read_at(c, 0x20, buf, 4), RAP_EREMOTE);
	assert_int_equal(rap_client_read_at(c, 0x20, buf, 4), 4);
	assert_memory_equal(buf, "@000", 4);
	script_stop(&s, c);
}

static void test_open_failures(void **state)
{
	(void)state;
	/* Stock hangs up on a failed OPEN. */
	struct stock k = { 0 };
	struct rap_client *c = stock_start(&k, false);
	assert_int_equal(rap_client_open(c, "/no/such/file", 5), RAP_ECLOSED);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 5), RAP_ECLOSED);
	stock_stop(&k, c);

	/* Ours answers -1 and the connection stays usable. */
	struct ours o;
	c = ours_start(&o, 100);
	assert_int_equal(rap_client_open(c, "/no/such/file", 5), RAP_EREMOTE);
	char path[300];
	memset(path, 'a', sizeof path);
	path[254] = 0; /* 254 bytes + NUL: the length byte would be 255 */
	assert_int_equal(rap_client_open(c, path, 5), RAP_EINVAL);
	path[253] = 0;
	assert_int_equal(rap_client_open(c, path, 5), RAP_EREMOTE);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", 5), 7);
	ours_stop(&o, c);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct rap_client *c = NULL;
	assert_int_equal(rap_client_new(NULL), RAP_EINVAL);
	assert_int_equal(rap_client_new(&c), 0);
	uint8_t b[4];
	char *out;
	/* Not connected. */
	assert_int_equal(rap_client_fd(c), -1);
	assert_int_equal(rap_client_probe(c), RAP_EINVAL);
	assert_int_equal(rap_client_open(c, "x", 4), RAP_EINVAL);
	assert_int_equal(rap_client_read_at(c, 0, b, 4), RAP_EINVAL);
	assert_int_equal(rap_client_write_at(c, 0, b, 4), RAP_EINVAL);
	assert_int_equal(rap_client_cmd(c, "x", &out, NULL), RAP_EINVAL);
	assert_int_equal(rap_client_size(c, NULL), RAP_EINVAL);
	assert_int_equal(rap_client_close_fd(c, 3), RAP_EINVAL);
	assert_int_equal(rap_client_attach_fd(c, -1), RAP_EINVAL);
	assert_false(rap_client_extended(c));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(rap_client_attach_fd(c, sv[0]), 0);
	assert_int_equal(rap_client_attach_fd(c, sv[1]), RAP_EINVAL);
	assert_int_equal(rap_client_connect(c, "127.0.0.1", "1"), RAP_EINVAL);
	assert_int_equal(rap_client_read_at(c, 0, NULL, 4), RAP_EINVAL);
	assert_int_equal(rap_client_cmd(c, NULL, &out, NULL), RAP_EINVAL);
	assert_int_equal(rap_client_cmd(c, "x", NULL, NULL), RAP_EINVAL);
	/* The peer is gone: errors, no SIGPIPE. */
	close(sv[1]);
	assert_int_equal(rap_client_cmd(c, "x", &out, NULL), RAP_ECLOSED);
	rap_client_free(c);
	rap_client_free(NULL);
	rap_client_set_reverse_cmd(NULL, NULL, NULL);
	assert_int_equal(rap_client_set_max_reply(NULL, 5), RAP_EINVAL);
}

static void test_alloc_failure(void **state)
{
	(void)state;
	bool reached_end = false;
	for (long fail_at = 0; fail_at < 32 && !reached_end; fail_at++) {
		struct stock k = { 0 };
		struct rap_client *c = NULL;
		rap__alloc_fail_after(fail_at);
		int rc = rap_client_new(&c);
		rap__alloc_fail_after(-1);
		if (rc < 0) {
			assert_int_equal(rc, RAP_ENOMEM);
			assert_null(c);
			continue;
		}
		rap_client_free(c);
		/* The stock fake allocates with plain malloc: the failures hit the client only. */
		c = stock_start(&k, true);
		rap__alloc_fail_after(fail_at);
		char *out = NULL;
		uint8_t buf[8192];
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (uint8_t)(i * 7 + 3);
		rc = rap_client_cmd(c, "hello", &out, NULL);
		if (rc == 0) {
			free(out);
			rc = (int)rap_client_write_at(c, 0, buf, sizeof buf);
		}
		rap__alloc_fail_after(-1);
		assert_true(rc >= 0 || rc == RAP_ENOMEM);
		reached_end = rc >= 0;
		/* Every reply is in, so the fake has stored what it was sent. */
		if (reached_end) {
			assert_int_equal(rc, sizeof buf);
			assert_memory_equal(k.file, buf, sizeof buf);
		}
		stock_stop(&k, c);
	}
	assert_true(reached_end);
}

/* ---- fd-leak check around every test ------------------------------------------------ */

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static int fds_before;

#define FD_CHECKED(f) cmocka_unit_test_setup_teardown(f, fd_setup, fd_teardown)

static int fd_setup(void **state)
{
	(void)state;
	fds_before = count_fds();
	return 0;
}

static int fd_teardown(void **state)
{
	(void)state;
	int now = count_fds();
	if (now != fds_before) {
		print_error("fd leak: %d open before the test, %d after\n", fds_before, now);
		return -1;
	}
	return 0;
}

/* ---- an in-memory transport (rap__client_attach_transport) ------------------------------ */

struct memwire {
	const uint8_t *in; /* what the server says */
	size_t len, pos;
	struct bytes sent;
	int fail_send;     /* returned by send when not 0 */
};

static ssize_t mem_recv(void *user, void *buf, size_t n)
{
	struct memwire *w = user;
	size_t k = w->len - w->pos < n ? w->len - w->pos : n;
	if (k > 3)
		k = 3; /* replies arrive in pieces */
	memcpy(buf, w->in + w->pos, k);
	w->pos += k;
	return (ssize_t)k;
}

static int mem_send(void *user, const void *buf, size_t n)
{
	struct memwire *w = user;
	if (w->fail_send)
		return w->fail_send;
	bytes_add(&w->sent, buf, n);
	return 0;
}

static const struct rap__transport mem_transport = { .recv = mem_recv, .send = mem_send };

static void test_memory_transport(void **state)
{
	/* Our server: the probe granted with every capability, then a CMD answered with its
	 * status, then the server hangs up. */
	static const uint8_t server[] = {
		0x84, 'r', 'a', 'p', 'x', 0x00, 0x01, 0x00, 0x07,
		0x87, 0x00, 0x00, 0x00, 0x08, 'o', 'k', '\n', 0x00, 0x00, 0x00, 0x00, 0x01,
	};
	static const uint8_t expect_sent[] = {
		0x04, 0xff, 'R', 'A', 'P', 'X', 0x00, 0x02, 0x00, 0x1f,
		0x07, 0x00, 0x00, 0x00, 0x03, '?', 'V', 0x00,
	};
	struct memwire w = { .in = server, .len = sizeof server };
	struct rap_client *c = NULL;
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap__client_attach_transport(c, NULL, &w), RAP_EINVAL);
	assert_int_equal(rap__client_attach_transport(c, &mem_transport, &w), 0);
	assert_int_equal(rap__client_attach_transport(c, &mem_transport, &w), RAP_EINVAL);
	assert_int_equal(rap_client_attach_fd(c, 0), RAP_EINVAL);
	assert_int_equal(rap_client_connect(c, "127.0.0.1", "1"), RAP_EINVAL);
	assert_int_equal(rap_client_fd(c), -1);

	assert_int_equal(rap_client_probe(c), 1);
	char *out = NULL;
	size_t len = 0;
	int status = 0;
	assert_int_equal(rap_client_cmd_status(c, "?V", &out, &len, &status), 0);
	assert_string_equal(out, "ok\n");
	assert_int_equal(len, 3);
	assert_int_equal(status, RAP_CMD_STATUS_FAILED);
	free(out);
	assert_int_equal(w.sent.n, sizeof expect_sent);
	assert_memory_equal(w.sent.p, expect_sent, sizeof expect_sent);

	/* The end of the stream is the server hanging up, and the connection stays dead. */
	assert_int_equal(rap_client_seek(c, 0, RAP_SEEK_CUR, NULL), RAP_ECLOSED);
	size_t before = w.sent.n;
	assert_int_equal(rap_client_open(c, "x", RAP_PERM_R), RAP_ECLOSED);
	assert_int_equal(w.sent.n, before);
	rap_client_free(c);
	free(w.sent.p);

	/* A failing send is the connection's error. */
	struct memwire w2 = { .in = server, .len = sizeof server, .fail_send = RAP_ECLOSED };
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap__client_attach_transport(c, &mem_transport, &w2), 0);
	assert_int_equal(rap_client_probe(c), RAP_ECLOSED);
	assert_int_equal(rap_client_probe(c), RAP_ECLOSED);
	rap_client_free(c);
}


/* ---- the extension's messages and authentication ----------------------------------------- */

static void test_ext_files(void **state)
{
	(void)state;
	struct ours k;
	size_t size = 3u << 20;
	struct rap_client *c = ours_start_with(&k, size, &ours_ext_handler, NULL);
	assert_int_equal(rap_client_probe(c), 1);
	assert_true(rap_client_has_extension(c));
	assert_false(rap_client_authenticated(c));
	/* Without the extension these are refused locally. */
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", RAP_PERM_R), 7);
	/* 3 MiB in 1 MiB PREADs, no SEEK at all. */
	uint8_t *buf = malloc(size + 100);
	assert_non_null(buf);
	assert_int_equal(rap_client_read_at(c, 0, buf, size), (ssize_t)size);
	assert_memory_equal(buf, k.file, size);
	assert_int_equal(k.max_read, 1u << 20);
	/* Short at the end, empty past it. */
	assert_int_equal(rap_client_read_at(c, size - 10, buf, 100), 10);
	assert_memory_equal(buf, k.file + size - 10, 10);
	assert_int_equal(rap_client_read_at(c, size + 1, buf, 100), 0);
	/* The size, and the rest, in one STAT. */
	uint64_t sz = 0;
	assert_int_equal(rap_client_size(c, &sz), 0);
	assert_int_equal(sz, size);
	struct rap_stat st;
	assert_int_equal(rap_client_stat(c, 7, &st), 0);
	assert_int_equal(st.size, size);
	assert_int_equal(st.perm, RAP_PERM_R);
	assert_int_equal(st.kind, RAP_KIND_FILE);
	assert_string_equal(st.name, "/data/files/sample.bin");
	/* Another fd of the same connection, interleaved with the first. */
	assert_int_equal(rap_client_pread(c, 8, 4990, buf, 64), 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(buf[i], other_byte(4990 + (uint64_t)i));
	assert_int_equal(rap_client_pread(c, 7, 16, buf, 16), 16);
	assert_memory_equal(buf, k.file + 16, 16);
	assert_int_equal(k.seeks, 0);
	/* Errors come with the server's message; the connection stays. */
	/* A chunk that fails after others were read: what came before it is the answer; the
	 * first chunk failing is the error. */
	assert_int_equal(rap_client_pread(c, 10, 0, buf, 2u << 20), 1u << 20);
	assert_int_equal(buf[(1u << 20) - 1], other_byte((1u << 20) - 1));
	assert_true(rap_client_pread(c, 10, 1u << 20, buf, 2u << 20) < 0);
	assert_true(rap_client_alive(c));
	assert_int_equal(rap_client_pread(c, 9, 0, buf, 16), RAP_EBADFD);
	assert_string_equal(rap_client_error(c), "server: cannot read fd 9 at 0x0: no such descriptor or no file open");
	assert_true(rap_client_alive(c));
	assert_int_equal(rap_client_write_at(c, 0, "xy", 2), RAP_EDENIED);
	assert_string_equal(rap_client_error(c), "server: cannot write fd 7 at 0x0: refused by policy");
	assert_int_equal(rap_client_stat(c, 9, &st), RAP_EBADFD);
	assert_int_equal(rap_client_open(c, "/nope", RAP_PERM_R), RAP_EBADFD);
	assert_string_equal(rap_client_error(c), "server: cannot open '/nope': no such descriptor or no file open");
	assert_true(rap_client_alive(c));
	/* Writes: 2 MiB in 1 MiB PWRITEs, short at the end of the file. */
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", RAP_PERM_RW), 7);
	memset(buf, 'w', size);
	assert_int_equal(rap_client_write_at(c, 1000, buf, 2u << 20), (ssize_t)(2u << 20));
	assert_int_equal(k.max_write, 1u << 20);
	assert_int_not_equal(k.file[999], 'w');
	assert_int_equal(k.file[1000], 'w');
	assert_int_equal(k.file[1000 + (2u << 20) - 1], 'w');
	assert_int_equal(rap_client_pwrite(c, 7, size - 5, buf, 50), 5);
	assert_int_equal(rap_client_pwrite(c, 7, size, buf, 50), -ENOSPC);
	assert_string_equal(rap_client_error(c), "server: cannot write fd 7 at 0x300000: No space left on device");
	assert_int_equal(rap_client_pwrite(c, 7, 0, buf, 0), 0);
	/* Close: once; then the server says it is gone. */
	assert_int_equal(rap_client_close_fd(c, 7), 0);
	assert_int_equal(rap_client_close_fd(c, 7), RAP_EBADFD);
	assert_int_equal(rap_client_stat(c, 7, &st), RAP_EBADFD);
	assert_int_equal(k.seeks, 0);
	free(buf);
	ours_stop(&k, c);

	/* A server without them: the stock messages, and the calls that need them refuse. */
	c = ours_start(&k, SAMPLE_SIZE);
	assert_int_equal(rap_client_probe(c), 1);
	assert_false(rap_client_has_extension(c));
	uint8_t b[4];
	assert_int_equal(rap_client_pread(c, 7, 0, b, 4), RAP_ENOTSUP);
	assert_int_equal(rap_client_pwrite(c, 7, 0, b, 4), RAP_ENOTSUP);
	assert_int_equal(rap_client_stat(c, 7, &st), RAP_ENOTSUP);
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", RAP_PERM_R), 7);
	assert_int_equal(rap_client_read_at(c, 0, b, 4), 4);
	assert_true(k.seeks > 0);
	ours_stop(&k, c);
}

struct chunks {
	size_t n, bytes;
	int refuse_at; /* refuse the chunk with this index (-1: none) */
	char first[8];
};

static int on_chunk(void *user, const char *data, size_t len)
{
	struct chunks *k = user;
	if (k->n == 0)
		memcpy(k->first, data, len < 8 ? len : 8);
	if ((int)k->n == k->refuse_at)
		return RAP_ENOSPC;
	k->n++;
	k->bytes += len;
	return 0;
}

static void test_ext_cmd(void **state)
{
	(void)state;
	struct ours k;
	struct rap_client *c = ours_start_with(&k, SAMPLE_SIZE, &ours_ext_handler, NULL);
	assert_int_equal(rap_client_probe(c), 1);
	char *out = NULL;
	size_t len = 0;
	int status = -5;
	/* Far past the stock 16 KiB, whole, with its status. */
	assert_int_equal(rap_client_cmd_status(c, "big 300000", &out, &len, &status), 0);
	assert_int_equal(len, 300000);
	assert_int_equal(strlen(out), 300000);
	assert_int_equal(status, RAP_CMD_STATUS_OK);
	free(out);
	assert_int_equal(rap_client_cmd_status(c, "fail", &out, &len, &status), 0);
	assert_string_equal(out, "error: it failed\n");
	assert_int_equal(status, RAP_CMD_STATUS_FAILED);
	free(out);
	/* A refusal without text: its message becomes the output, as from a stock server. */
	assert_int_equal(rap_client_cmd_status(c, "deny", &out, &len, &status), 0);
	assert_string_equal(out, "error: command refused: refused by policy\n");
	assert_int_equal(status, RAP_CMD_STATUS_FAILED);
	free(out);
	/* Streamed: chunks of 64 KiB as they come. */
	struct chunks ch = { .refuse_at = -1 };
	assert_int_equal(rap_client_cmd_stream(c, "big 300000", on_chunk, &ch, &status), 0);
	assert_int_equal(ch.n, 5);
	assert_int_equal(ch.bytes, 300000);
	assert_int_equal(status, RAP_CMD_STATUS_OK);
	assert_int_equal(rap_client_cmd_stream(c, "deny", on_chunk, &ch, &status), RAP_EDENIED);
	assert_string_equal(rap_client_error(c), "server: command refused: refused by policy");
	assert_int_equal(status, RAP_CMD_STATUS_UNKNOWN);
	/* A callback that stops taking: its error, the rest read and dropped, in step. */
	ch = (struct chunks){ .refuse_at = 2 };
	assert_int_equal(rap_client_cmd_stream(c, "big 300000", on_chunk, &ch, &status), RAP_ENOSPC);
	assert_int_equal(ch.n, 2);
	assert_true(rap_client_alive(c));
	assert_int_equal(rap_client_cmd(c, "?V", &out, &len), 0);
	assert_string_equal(out, "?V\n");
	free(out);
	/* The client's own limit: refused after the whole output was read. */
	assert_int_equal(rap_client_set_max_reply(c, 100000), 0);
	assert_int_equal(rap_client_cmd(c, "big 300000", &out, &len), RAP_ETOOBIG);
	assert_null(out);
	assert_true(rap_client_alive(c));
	assert_int_equal(rap_client_cmd(c, "big 99999", &out, &len), 0);
	assert_int_equal(len, 99999);
	free(out);
	/* A command far longer than a stock server takes. */
	char *longcmd = malloc(100001);
	assert_non_null(longcmd);
	memset(longcmd, 'x', 100000);
	longcmd[100000] = 0;
	assert_int_equal(rap_client_set_max_reply(c, 1u << 20), 0);
	assert_int_equal(rap_client_cmd(c, longcmd, &out, &len), 0);
	assert_int_equal(len, 100001);
	free(out);
	free(longcmd);
	assert_int_equal(rap_client_cmd_stream(c, "x", NULL, NULL, NULL), RAP_EINVAL);
	ours_stop(&k, c);

	/* A server without the extension messages: one piece through the callback. */
	c = ours_start(&k, SAMPLE_SIZE);
	assert_int_equal(rap_client_probe(c), 1);
	ch = (struct chunks){ .refuse_at = -1 };
	assert_int_equal(rap_client_cmd_stream(c, "big 20000", on_chunk, &ch, &status), 0);
	assert_int_equal(ch.n, 1);
	assert_int_equal(ch.bytes, 20000);
	ours_stop(&k, c);
}

/* A stock server sees nothing but stock messages, whatever the client is asked to do:
 * everything it received decodes with the extension off. */
static void test_stock_never_sees_extension(void **state)
{
	(void)state;
	struct stock k = { 0 };
	struct rap_client *c = stock_start(&k, true);
	assert_int_equal(rap_client_probe(c), 0);
	assert_false(rap_client_has_extension(c));
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", RAP_PERM_RW), 4);
	uint8_t buf[9000];
	assert_int_equal(rap_client_read_at(c, 10, buf, sizeof buf), (ssize_t)sizeof buf);
	assert_int_equal(rap_client_write_at(c, 10, buf, 5000), 5000);
	uint64_t size;
	assert_int_equal(rap_client_size(c, &size), 0);
	struct rap_stat st;
	assert_int_equal(rap_client_stat(c, 4, &st), RAP_ENOTSUP);
	assert_int_equal(rap_client_pread(c, 4, 0, buf, 4), RAP_ENOTSUP);
	assert_int_equal(rap_client_pwrite(c, 4, 0, buf, 4), RAP_ENOTSUP);
	char *out = NULL;
	assert_int_equal(rap_client_cmd(c, "?V", &out, NULL), 0);
	free(out);
	int status;
	assert_int_equal(rap_client_cmd_status(c, "x", &out, NULL, &status), 0);
	assert_int_equal(status, RAP_CMD_STATUS_UNKNOWN);
	free(out);
	struct rap_decoder *d;
	assert_int_equal(rap_decoder_new(RAP_ROLE_SERVER, &d), 0);
	assert_int_equal(rap_decoder_set_max_payload(d, 1u << 20), 0);
	size_t off = 0, msgs = 0;
	while (off < k.rec.n) {
		struct rap_msg m;
		size_t used;
		int rc = rap_decoder_decode(d, k.rec.p + off, k.rec.n - off, &used, &m);
		assert_true(rc >= 0);
		assert_true(m.op >= RAP_OP_OPEN && m.op <= RAP_OP_CMD);
		off += used;
		msgs += rc == 1;
		if (rc == 0)
			break;
	}
	assert_int_equal(off, k.rec.n);
	assert_true(msgs > 10);
	rap_decoder_free(d);
	stock_stop(&k, c);
}

#define SECRET_TEXT "a shared secret of some length"

#if !RAP_TEST_HAVE_OPENSSL
/* A build without OpenSSL: no secrets, and a server requiring one is refused with a
 * message saying so. */
static void test_auth_unavailable(void **state)
{
	(void)state;
	struct rap_secret *sec = (struct rap_secret *)&sec;
	assert_int_equal(rap_secret_new(SECRET_TEXT, strlen(SECRET_TEXT), &sec), RAP_ENOTSUP);
	assert_null(sec);
	static const uint8_t grant[] = { 0x84, 'r', 'a', 'p', 'x', 0x00, 0x02, 0x00, 0x1f };
	struct memwire w = { .in = grant, .len = sizeof grant };
	struct rap_client *c = NULL;
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap__client_attach_transport(c, &mem_transport, &w), 0);
	assert_int_equal(rap_client_probe(c), RAP_EAUTH);
	assert_string_equal(rap_client_error(c), "the server requires authentication: give the shared secret (rapcli --secret-file FILE)");
	rap_client_free(c);
	free(w.sent.p);
}
#endif

#if RAP_TEST_HAVE_OPENSSL
static void test_auth(void **state)
{
	(void)state;
	struct rap_secret *sec, *wrong;
	assert_int_equal(rap_secret_new(SECRET_TEXT, strlen(SECRET_TEXT), &sec), 0);
	assert_int_equal(rap_secret_new(SECRET_TEXT "?", strlen(SECRET_TEXT) + 1, &wrong), 0);
	struct ours k;
	/* The right secret: both sides proved, and everything works. */
	struct rap_client *c = ours_start_with(&k, SAMPLE_SIZE, &ours_ext_handler, sec);
	rap_client_set_secret(c, sec);
	assert_int_equal(rap_client_probe(c), 1);
	assert_true(rap_client_authenticated(c));
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", RAP_PERM_R), 7);
	uint8_t b[16];
	assert_int_equal(rap_client_read_at(c, 0, b, 16), 16);
	/* Probing again does not authenticate again. */
	assert_int_equal(rap_client_probe(c), 1);
	ours_stop(&k, c);
	/* Also without the extension messages (a handler without them). */
	c = ours_start_with(&k, SAMPLE_SIZE, &ours_handler, sec);
	rap_client_set_secret(c, sec);
	assert_int_equal(rap_client_probe(c), 1);
	assert_true(rap_client_authenticated(c));
	assert_false(rap_client_has_extension(c));
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", RAP_PERM_R), 7);
	ours_stop(&k, c);

	/* The wrong secret: refused, and the connection is over on both sides. */
	c = ours_start_with(&k, SAMPLE_SIZE, &ours_ext_handler, sec);
	rap_client_set_secret(c, wrong);
	assert_int_equal(rap_client_probe(c), RAP_EAUTH);
	assert_string_equal(rap_client_error(c), "authentication failed: the server refused our proof (a different secret?)");
	assert_false(rap_client_alive(c));
	assert_false(rap_client_authenticated(c));
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", RAP_PERM_R), RAP_EAUTH);
	ours_stop_rc(&k, c, RAP_EAUTH);

	/* No secret for a server that requires one: said before anything else is sent. */
	c = ours_start_with(&k, SAMPLE_SIZE, &ours_ext_handler, sec);
	assert_int_equal(rap_client_probe(c), RAP_EAUTH);
	assert_string_equal(rap_client_error(c), "the server requires authentication: give the shared secret (rapcli --secret-file FILE)");
	ours_stop(&k, c);

	/* A secret, and a server that does not authenticate: refused by the client. */
	c = ours_start_with(&k, SAMPLE_SIZE, &ours_ext_handler, NULL);
	rap_client_set_secret(c, sec);
	assert_int_equal(rap_client_probe(c), RAP_EAUTH);
	assert_non_null(strstr(rap_client_error(c), "the server does not authenticate (rapsrv without --secret-file?)"));
	/* Nothing more goes to it. */
	assert_false(rap_client_alive(c));
	assert_int_equal(rap_client_open(c, "/data/files/sample.bin", RAP_PERM_R), RAP_EAUTH);
	ours_stop(&k, c);
	struct stock sk = { 0 };
	c = stock_start(&sk, false);
	rap_client_set_secret(c, sec);
	assert_int_equal(rap_client_probe(c), RAP_EAUTH);
	assert_non_null(strstr(rap_client_error(c), "a stock server"));
	stock_stop(&sk, c);
	rap_secret_free(sec);
	rap_secret_free(wrong);
}

/* A server that takes any proof and answers one it cannot have computed: the client,
 * which checks the server's proof, refuses it (mutual authentication). */
static void test_auth_fake_server(void **state)
{
	(void)state;
	struct rap_secret *sec;
	assert_int_equal(rap_secret_new(SECRET_TEXT, strlen(SECRET_TEXT), &sec), 0);
	uint8_t server[128];
	size_t n = 0;
	memcpy(server + n, "\x84rapx\x00\x02\x00\x18", 9);
	n += 9;
	memcpy(server + n, "\x96\x00\x00\x00\x24\x00\x00\x00\x00", 9);
	n += 9;
	memset(server + n, 0x11, 32);
	n += 32;
	memcpy(server + n, "\x97\x00\x00\x00\x24\x00\x00\x00\x00", 9);
	n += 9;
	memset(server + n, 0x22, 32);
	n += 32;
	struct memwire w = { .in = server, .len = n };
	struct rap_client *c = NULL;
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap__client_attach_transport(c, &mem_transport, &w), 0);
	rap_client_set_secret(c, sec);
	assert_int_equal(rap_client_probe(c), RAP_EAUTH);
	assert_string_equal(rap_client_error(c), "authentication failed: the server could not prove it knows the secret");
	assert_false(rap_client_alive(c));
	/* What went out: the probe, our nonce, our proof; never the secret. */
	assert_int_equal(w.sent.n, 10 + 37 + 37);
	assert_memory_equal(w.sent.p, "\x04\xff" "RAPX" "\x00\x02\x00\x1f", 10);
	assert_int_equal(w.sent.p[10], 0x16);
	assert_int_equal(w.sent.p[47], 0x17);
	assert_null(memmem(w.sent.p, w.sent.n, SECRET_TEXT, 8));
	rap_client_free(c);
	free(w.sent.p);
	rap_secret_free(sec);
}

#endif

/* Replies the client refuses: more data than asked, a reply of another kind. */
static void test_ext_bad_replies(void **state)
{
	(void)state;
	static const uint8_t server[] = {
		0x84, 'r', 'a', 'p', 'x', 0x00, 0x02, 0x00, 0x08,
		0x90, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 3,
		0x91, 0, 0, 0, 9, 0, 0, 0, 0, 'a', 'b', 'c', 'd', 'e',
	};
	struct memwire w = { .in = server, .len = sizeof server };
	struct rap_client *c = NULL;
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap__client_attach_transport(c, &mem_transport, &w), 0);
	assert_int_equal(rap_client_probe(c), 1);
	assert_int_equal(rap_client_open(c, "x", RAP_PERM_R), 3);
	assert_memory_equal(w.sent.p + 10, "\x10\x00\x00\x00\x02\x04x", 7);
	uint8_t b[8];
	assert_int_equal(rap_client_read_at(c, 0, b, 4), RAP_EPROTO);
	assert_memory_equal(w.sent.p + 17, "\x11\x00\x00\x00\x10\x00\x00\x00\x03\0\0\0\0\0\0\0\0\x00\x00\x00\x04", 21);
	rap_client_free(c);
	free(w.sent.p);

	/* Replies over the limit whose fields the client needs: the connection ends, nothing
	 * is read from fields never decoded (found by the auth fuzz target: a 256 MiB
	 * AUTH-PROOF reply). */
	static const uint8_t huge[] = {
		0x84, 'r', 'a', 'p', 'x', 0x00, 0x02, 0x00, 0x0f,
		0x93, 0x10, 0x00, 0x00, 0x24, 0, 0, 0, 0,
	};
	struct memwire wh = { .in = huge, .len = sizeof huge };
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap__client_attach_transport(c, &mem_transport, &wh), 0);
	assert_int_equal(rap_client_probe(c), 1);
	struct rap_stat st;
	assert_int_equal(rap_client_stat(c, 3, &st), RAP_EPROTO);
	assert_false(rap_client_alive(c));
	rap_client_free(c);
	free(wh.sent.p);
	struct rap_secret *sec = NULL;
	assert_int_equal(rap_secret_new(SECRET_TEXT, strlen(SECRET_TEXT), &sec), rap_auth_available() ? 0 : RAP_ENOTSUP);
	static const uint8_t huge_proof[] = {
		0x84, 'r', 'a', 'p', 'x', 0x00, 0x02, 0x00, 0x1f,
		0x96, 0x00, 0x00, 0x00, 0x24, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
		0x97, 0x10, 0x00, 0x00, 0x24, 0, 0, 0, 0,
	};
	struct memwire wp = { .in = huge_proof, .len = sizeof huge_proof };
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap__client_attach_transport(c, &mem_transport, &wp), 0);
	rap_client_set_secret(c, sec);
	/* Without OpenSSL there is no secret, and a server requiring one is refused at once. */
	assert_int_equal(rap_client_probe(c), sec ? RAP_EPROTO : RAP_EAUTH);
	assert_false(rap_client_authenticated(c));
	rap_client_free(c);
	free(wp.sent.p);
	rap_secret_free(sec);

	/* A STAT with the longest name fits, whatever the limit of earlier calls. */
	uint8_t *longst = malloc(9 + 9 + 10 + RAP_STAT_NAME_MAX);
	assert_non_null(longst);
	memcpy(longst, "\x84rapx\x00\x02\x00\x08", 9);
	longst[9] = 0x93;
	rap__put_be32(longst + 10, 4 + 10 + RAP_STAT_NAME_MAX);
	memset(longst + 14, 0, 4 + 10);
	longst[14 + 4 + 9] = RAP_KIND_PROCESS;
	memset(longst + 14 + 4 + 10, 'n', RAP_STAT_NAME_MAX);
	struct memwire wl = { .in = longst, .len = 14 + 4 + 10 + RAP_STAT_NAME_MAX };
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap__client_attach_transport(c, &mem_transport, &wl), 0);
	assert_int_equal(rap_client_probe(c), 1);
	assert_int_equal(rap_client_stat(c, 3, &st), 0);
	assert_int_equal(strlen(st.name), RAP_STAT_NAME_MAX);
	assert_int_equal(st.kind, RAP_KIND_PROCESS);
	rap_client_free(c);
	free(wl.sent.p);
	free(longst);

	/* The probe granting authentication from a version 1 server is no answer of ours. */
	static const uint8_t v1[] = { 0x84, 'r', 'a', 'p', 'x', 0x00, 0x01, 0x00, 0x10 };
	struct memwire w1 = { .in = v1, .len = sizeof v1 };
	assert_int_equal(rap_client_new(&c), 0);
	assert_int_equal(rap__client_attach_transport(c, &mem_transport, &w1), 0);
	assert_int_equal(rap_client_probe(c), 0);
	assert_false(rap_client_extended(c));
	rap_client_free(c);
	free(w1.sent.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FD_CHECKED(test_request_bytes_match_r2),
		FD_CHECKED(test_ext_files),
		FD_CHECKED(test_stock_never_sees_extension),
		FD_CHECKED(test_ext_cmd),
#if RAP_TEST_HAVE_OPENSSL
		FD_CHECKED(test_auth),
		FD_CHECKED(test_auth_fake_server),
#else
		FD_CHECKED(test_auth_unavailable),
#endif
		FD_CHECKED(test_ext_bad_replies),
		FD_CHECKED(test_stock_reads),
		FD_CHECKED(test_read_window),
		FD_CHECKED(test_ours_reads),
		FD_CHECKED(test_writes),
		FD_CHECKED(test_cmd_outputs),
		FD_CHECKED(test_stock_cmd_limits),
		FD_CHECKED(test_reverse_cmd),
		FD_CHECKED(test_too_big_drained),
		FD_CHECKED(test_broken_peers),
		FD_CHECKED(test_open_failures),
		FD_CHECKED(test_bad_arguments),
		FD_CHECKED(test_alloc_failure),
		FD_CHECKED(test_memory_transport),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
