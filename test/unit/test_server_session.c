/* The server session against every recorded radare2 client stream, fed in one piece and
 * byte by byte, with a fake in-memory handler; each reply is checked field by field against
 * what our server must answer and against what the stock r2 server answered, our deliberate
 * deviations asserted as such. Then the edges the recordings do not reach. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
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

/* Which transcript and request a failing check belongs to; cmocka only knows the line. */
static char where[256];

#define CHECK(c)                                                                    \
	do {                                                                        \
		if (!(c)) {                                                         \
			print_error("%s: check failed: %s\n", where, #c);          \
			fail();                                                     \
		}                                                                   \
	} while (0)

#define CHECK_EQ(a, b)                                                              \
	do {                                                                        \
		unsigned long long a_ = (unsigned long long)(a);                   \
		unsigned long long b_ = (unsigned long long)(b);                   \
		if (a_ != b_) {                                                     \
			print_error("%s: %s is 0x%llx, expected 0x%llx\n", where, #a, a_, b_); \
			fail();                                                     \
		}                                                                   \
	} while (0)

#define SAMPLE_SIZE 131072u
#define BIG64_SIZE (64u << 20)
#define FD_BASE 100 /* far from the fds stock r2 hands out, so a stock fd is never ours */

/* ---- the files the fake handler serves --------------------------------------------- */

struct file {
	const char *path;
	uint8_t *data;
	size_t size;
	bool can_write; /* the server-side file permits writing (with a W open) */
};

struct store {
	struct file f[3];
};

static uint8_t *sample_make(void)
{
	uint8_t *p = malloc(SAMPLE_SIZE);
	assert_non_null(p);
	for (size_t o = 0; o < SAMPLE_SIZE; o += 16) {
		char rec[17];
		snprintf(rec, sizeof rec, "@%08zx|rap2!\n", o);
		memcpy(p + o, rec, 16);
	}
	return p;
}

static void store_init(struct store *st)
{
	st->f[0] = (struct file){ "/data/files/sample.bin", sample_make(), SAMPLE_SIZE, false };
	st->f[1] = (struct file){ "/data/files/sample-rw.bin", sample_make(), SAMPLE_SIZE, true };
	/* 64 MiB of random bytes on the recording host; only what the recordings show of it is
	 * known, and the test fills that in from the stock replies. */
	st->f[2] = (struct file){ "/data/files/big64.bin", NULL, BIG64_SIZE, false };
}

static struct file *store_find(struct store *st, const char *path)
{
	for (size_t i = 0; i < 3; i++)
		if (strcmp(st->f[i].path, path) == 0)
			return &st->f[i];
	return NULL;
}

static void store_need(struct file *f)
{
	if (!f->data) {
		f->data = calloc(1, f->size);
		assert_non_null(f->data);
	}
}

static void store_free(struct store *st)
{
	for (size_t i = 0; i < 3; i++)
		free(st->f[i].data);
}

/* ---- the fake handler ---------------------------------------------------------------- */

struct fake {
	struct store *st;
	struct {
		int fd;
		struct file *f;
		bool w;
	} open[16];
	size_t nopen;
	int cur; /* index into open[], -1 for none */
	uint64_t pos;
	int next_fd;
	/* Canned CMD outputs, in order (NULL entries: no output); otherwise built-ins. */
	char **canned;
	size_t ncanned, icanned;
	size_t max_read;
	int nlog;
	char last_log[256];
	/* The async and bounded handlers below. */
	struct rap_server_session *s;    /* the session, for a completion from inside */
	int reenter_rc;                  /* what rap_server_session_complete answered there */
	size_t last_max;                 /* max_output of the last bounded request */
	bool last_checkpoint;            /* it had a checkpoint */
	int ncmd;                        /* CMD callbacks so far */
};

static void fake_init(struct fake *k, struct store *st)
{
	memset(k, 0, sizeof *k);
	k->st = st;
	k->cur = -1;
	k->next_fd = FD_BASE;
}

static int f_open(void *ctx, const char *path, uint8_t perm)
{
	struct fake *k = ctx;
	struct file *f = store_find(k->st, path);
	if (!f || k->nopen == 16)
		return RAP_EBADFD;
	store_need(f);
	k->open[k->nopen].fd = k->next_fd++;
	k->open[k->nopen].f = f;
	k->open[k->nopen].w = (perm & RAP_PERM_W) && f->can_write;
	k->cur = (int)k->nopen++;
	k->pos = 0;
	return k->open[k->cur].fd;
}

static ssize_t f_read(void *ctx, uint8_t *buf, size_t len)
{
	struct fake *k = ctx;
	if (len > k->max_read)
		k->max_read = len;
	if (k->cur < 0)
		return RAP_EBADFD;
	struct file *f = k->open[k->cur].f;
	if (k->pos >= f->size)
		return 0;
	size_t n = f->size - k->pos < len ? f->size - k->pos : len;
	memcpy(buf, f->data + k->pos, n);
	return (ssize_t)n;
}

static ssize_t f_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct fake *k = ctx;
	if (k->cur < 0)
		return RAP_EBADFD;
	if (!k->open[k->cur].w)
		return RAP_EDENIED;
	if (len == 3 && memcmp(buf, "EIO", 3) == 0)
		return -EIO; /* what a failing disk gives */
	struct file *f = k->open[k->cur].f;
	if (k->pos >= f->size)
		return 0;
	size_t n = f->size - k->pos < len ? f->size - k->pos : len;
	memcpy(f->data + k->pos, buf, n);
	return (ssize_t)n;
}

static int f_seek(void *ctx, int whence, uint64_t off, uint64_t *res)
{
	struct fake *k = ctx;
	if (k->cur < 0)
		return RAP_EBADFD;
	switch (whence) {
	case RAP_SEEK_SET:
		if (off == 0xdead)
			return RAP_EINVAL; /* a seek the handler refuses */
		k->pos = off;
		*res = off;
		return 0;
	case RAP_SEEK_CUR:
		*res = k->pos;
		return 0;
	case RAP_SEEK_END:
		*res = k->open[k->cur].f->size;
		return 0;
	default:
		fail_msg("session passed whence %d to the handler", whence);
		return RAP_EINVAL;
	}
}

static int f_close(void *ctx, int32_t fd)
{
	struct fake *k = ctx;
	for (size_t i = 0; i < k->nopen; i++) {
		if (k->open[i].fd != fd)
			continue;
		k->open[i] = k->open[--k->nopen];
		if (k->cur == (int)i)
			k->cur = -1;
		else if (k->cur == (int)k->nopen)
			k->cur = (int)i;
		return 0;
	}
	return RAP_EBADFD;
}

static char *dup_or_null(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	assert_non_null(d);
	return d;
}

static int f_cmd(void *ctx, const char *cmd, char **out)
{
	struct fake *k = ctx;
	if (k->canned) {
		assert_true(k->icanned < k->ncanned);
		*out = dup_or_null(k->canned[k->icanned++]);
		return 0;
	}
	unsigned long n;
	if (sscanf(cmd, "big %lu", &n) == 1) {
		char *s = malloc(n + 1);
		assert_non_null(s);
		for (unsigned long i = 0; i < n; i++)
			s[i] = (char)('a' + i % 26);
		s[n] = 0;
		*out = s;
		return 0;
	}
	if (strcmp(cmd, "null") == 0) {
		*out = NULL;
		return 0;
	}
	if (strcmp(cmd, "deny") == 0)
		return RAP_EDENIED;
	if (strcmp(cmd, "deny-text") == 0) {
		*out = dup_or_null("error: not allowed here\n");
		return RAP_EDENIED;
	}
	size_t len = strlen(cmd);
	char *s = malloc(len + 2);
	assert_non_null(s);
	memcpy(s, cmd, len);
	s[len] = '\n';
	s[len + 1] = 0;
	*out = s;
	return 0;
}

/* "later" (and "later ...") is answered afterwards; "reenter" tries to complete itself
 * from inside the callback; "stop N" (bounded) prints N letters and says it was stopped;
 * anything else as f_cmd. */
static int f_cmd_async(void *ctx, const char *cmd, char **out)
{
	struct fake *k = ctx;
	k->ncmd++;
	if (strncmp(cmd, "later", 5) == 0)
		return RAP_PENDING;
	if (strcmp(cmd, "reenter") == 0) {
		k->reenter_rc = rap_server_session_complete(k->s, 0, strdup("nested"), false);
		return RAP_PENDING;
	}
	return f_cmd(ctx, cmd, out);
}

static int f_cmd_bounded(void *ctx, const struct rap_cmd_request *req, char **out, bool *stopped)
{
	struct fake *k = ctx;
	k->last_max = req->max_output;
	k->last_checkpoint = req->checkpoint != NULL;
	unsigned long n;
	if (sscanf(req->cmd, "stop %lu", &n) == 1) {
		/* As a command stopped at the bound: never more than max_output. */
		if (n > req->max_output)
			n = req->max_output;
		char *t = malloc(n + 1);
		assert_non_null(t);
		for (unsigned long i = 0; i < n; i++)
			t[i] = (char)('a' + i % 26);
		t[n] = 0;
		*out = t;
		*stopped = true;
		return RAP_ETOOBIG;
	}
	int rc = f_cmd_async(ctx, req->cmd, out);
	if (rc != RAP_PENDING && *out && strlen(*out) > req->max_output)
		fail_msg("bounded CMD '%s' printed more than its %zu bytes", req->cmd, req->max_output);
	return rc;
}

static void f_log(void *ctx, int level, const char *msg)
{
	struct fake *k = ctx;
	assert_true(level >= 0 && level <= 7);
	k->nlog++;
	snprintf(k->last_log, sizeof k->last_log, "%s", msg);
}

/* The open entry for fd, or -1. */
static int fake_find(struct fake *k, int32_t fd)
{
	for (size_t i = 0; i < k->nopen; i++)
		if (k->open[i].fd == fd)
			return (int)i;
	return -1;
}

static ssize_t f_pread(void *ctx, int32_t fd, uint64_t off, uint8_t *buf, size_t len)
{
	struct fake *k = ctx;
	int i = fake_find(k, fd);
	if (i < 0)
		return RAP_EBADFD;
	if (len > k->max_read)
		k->max_read = len;
	struct file *f = k->open[i].f;
	if (off >= f->size)
		return 0;
	size_t n = f->size - off < len ? (size_t)(f->size - off) : len;
	memcpy(buf, f->data + off, n);
	return (ssize_t)n;
}

static ssize_t f_pwrite(void *ctx, int32_t fd, uint64_t off, const uint8_t *buf, size_t len)
{
	struct fake *k = ctx;
	int i = fake_find(k, fd);
	if (i < 0)
		return RAP_EBADFD;
	if (!k->open[i].w)
		return RAP_EDENIED;
	if (len == 3 && memcmp(buf, "EIO", 3) == 0)
		return -EIO;
	struct file *f = k->open[i].f;
	if (off >= f->size)
		return -ENOSPC;
	size_t n = f->size - off < len ? (size_t)(f->size - off) : len;
	memcpy(f->data + off, buf, n);
	return (ssize_t)n;
}

static int f_stat(void *ctx, int32_t fd, struct rap_stat *st)
{
	struct fake *k = ctx;
	int i = fake_find(k, fd);
	if (i < 0)
		return RAP_EBADFD;
	/* The session zeroes it first. */
	CHECK(st->size == 0 && st->perm == 0 && st->kind == 0 && st->name[0] == 0);
	st->size = k->open[i].f->size;
	st->perm = k->open[i].w ? RAP_PERM_RW : RAP_PERM_R;
	st->kind = RAP_KIND_FILE;
	snprintf(st->name, sizeof st->name, "%s", k->open[i].f->path);
	return 0;
}

static const struct rap_server_handler handler = {
	.open = f_open, .read = f_read, .write = f_write, .seek = f_seek,
	.close = f_close, .cmd = f_cmd, .log = f_log,
};

static const struct rap_server_handler async_handler = {
	.open = f_open, .read = f_read, .write = f_write, .seek = f_seek,
	.close = f_close, .cmd = f_cmd_async, .log = f_log,
};

static const struct rap_server_handler bounded_handler = {
	.open = f_open, .read = f_read, .write = f_write, .seek = f_seek,
	.close = f_close, .cmd = f_cmd, .log = f_log, .cmd_bounded = f_cmd_bounded,
};

static const struct rap_server_handler ext_handler = {
	.open = f_open, .read = f_read, .write = f_write, .seek = f_seek, .close = f_close,
	.cmd = f_cmd_async, .log = f_log, .pread = f_pread, .pwrite = f_pwrite, .stat = f_stat,
};

static const struct rap_server_handler ext_bounded_handler = {
	.open = f_open, .read = f_read, .write = f_write, .seek = f_seek, .close = f_close,
	.cmd = f_cmd, .log = f_log, .cmd_bounded = f_cmd_bounded, .pread = f_pread, .pwrite = f_pwrite,
	.stat = f_stat,
};

/* ---- an independent framer for both directions ------------------------------------- */

/* One request or reply as the wire shows it, framed without the codec under test. */
struct pkt {
	uint8_t op;
	const uint8_t *p; /* first byte (the opcode) */
	size_t size;      /* bytes present */
	size_t full;      /* bytes the packet declares (header + payload) */
	uint8_t whence, perm;
	uint32_t len;     /* READ: asked; payload length otherwise */
	uint32_t u32;     /* fd / result */
	uint64_t u64;     /* SEEK offset or reply position */
	const uint8_t *data;
};

static size_t header_len(uint8_t op, bool request)
{
	if (request) {
		switch (op) {
		case 0x01: return 3;
		case 0x02: case 0x03: case 0x05: case 0x06: case 0x07: case 0x87: return 5;
		case 0x04: return 10;
		default: return 0;
		}
	}
	switch (op) {
	case 0x81: case 0x82: case 0x83: case 0x85: case 0x86: case 0x87: case 0x07: return 5;
	case 0x84: return 9;
	default: return 0;
	}
}

/* Frames s[0..n) into packets; returns the count. A trailing partial packet is included
 * (size < full); framing stops at an unknown opcode, which is returned as a packet with
 * full 0. */
static size_t frame(const uint8_t *s, size_t n, bool request, struct pkt **out)
{
	size_t cap = 16, cnt = 0, off = 0;
	struct pkt *v = malloc(cap * sizeof *v);
	assert_non_null(v);
	while (off < n) {
		if (cnt == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof *v);
			assert_non_null(v);
		}
		struct pkt *k = &v[cnt++];
		memset(k, 0, sizeof *k);
		k->op = s[off];
		k->p = s + off;
		size_t h = header_len(k->op, request);
		if (!h) {
			k->size = 1;
			break;
		}
		const uint8_t *b = s + off;
		size_t have = n - off;
		k->full = h;
		if (have >= h) {
			switch (k->op) {
			case 0x01:
				k->perm = b[1];
				k->len = b[2];
				k->full = h + k->len;
				break;
			case 0x04:
				k->whence = b[1];
				k->u64 = rap__get_be64(b + 2);
				break;
			case 0x84:
				k->u64 = rap__get_be64(b + 1);
				break;
			case 0x02:
				k->len = rap__get_be32(b + 1);
				break;
			case 0x05: case 0x81: case 0x83: case 0x85:
				k->u32 = rap__get_be32(b + 1);
				break;
			default:
				k->len = rap__get_be32(b + 1);
				k->full = h + k->len;
				break;
			}
			k->data = b + h;
		}
		k->size = have < k->full ? have : k->full;
		off += k->size;
	}
	*out = v;
	return cnt;
}

/* ---- driving a session ---------------------------------------------------------------- */

struct outbuf {
	uint8_t *p;
	size_t n, cap;
};

static void out_add(struct outbuf *o, const uint8_t *p, size_t n)
{
	if (!n)
		return;
	if (o->n + n > o->cap) {
		o->cap = (o->n + n) * 2;
		o->p = realloc(o->p, o->cap);
		assert_non_null(o->p);
	}
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

static void drain_out(struct rap_server_session *s, struct outbuf *o)
{
	const uint8_t *p;
	size_t n;
	while ((n = rap_server_session_output(s, &p)) > 0) {
		out_add(o, p, n);
		rap_server_session_consume(s, n);
	}
}

/* Feeds in[0..n) in pieces of step bytes (0: all at once), draining after each. Returns
 * the first error from feed, or 0. */
static int drive(struct rap_server_session *s, const uint8_t *in, size_t n, size_t step,
		 struct outbuf *o)
{
	size_t off = 0;
	do {
		size_t k = step && n - off > step ? step : n - off;
		ssize_t rc = rap_server_session_feed(s, in + off, k);
		drain_out(s, o);
		if (rc < 0)
			return (int)rc;
		assert_int_equal(rc, (ssize_t)k);
		off += k;
	} while (off < n);
	return 0;
}

/* ---- replaying a transcript ------------------------------------------------------------ */

static bool all_ff(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0xff)
			return false;
	return true;
}

/* What the test expects the session's handler state to be: the model is deliberately
 * written apart from the fake so that a handler or session bug shows up as a mismatch. */
struct model {
	uint8_t *content[3]; /* each store file as it was before the conn, then as the
			      * conn's writes must have changed it */
	int fds[16];
	int file[16];        /* store index */
	bool w[16];
	size_t n;
	int cur;
	uint64_t pos;
};

/* Counts of the deviations from stock a replay met, per kind; each one was checked. */
struct deviations {
	int open_fail_reply;    /* stock hangs up, we answer -1 */
	int read_short_eof;     /* stock pads past EOF with 0xff, we answer short */
	int read_no_file;       /* stock pads with 0xff before OPEN, we answer 0 bytes */
	int read_wrap;          /* stock wraps around 2^64 into offset 0 */
	int read_after_raw_close; /* stock closed its own fd on CLOSE and now reads 0xff */
	int read_negative_len;  /* stock exits on a READ len >= 2^31, we clamp to 4096 */
	int seek_end_no_file;   /* stock answers 2^64-1, we answer 0 */
	int write_count;        /* stock answers 1, we answer the byte count */
	int write_oversized;    /* stock exits, we drain and answer 0 */
	int close_foreign;      /* stock close(2)s any process fd and answers 0, we answer -1 */
	int cmd_len4096;        /* stock refuses 4096 without draining, we run it */
	int cmd_truncated;      /* stock sends > 16 KiB that its clients reject, we cut */
	int incomplete_tail;    /* stock still answers a request completed by EOF, we don't */
	int dropped;            /* unknown opcode or unexpected 0x87: dropped like stock */
};

static uint8_t *slice_dup(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	assert_non_null(d);
	memcpy(d, p, n);
	return d;
}

/* The OPEN path as a C string (the wire path may lack its NUL, or be empty). */
static const char *req_path(const struct pkt *r, char *buf)
{
	memcpy(buf, r->data, r->len);
	buf[r->len] = 0;
	return buf;
}

/* Fills big64 with what the stock replies of this transcript show of it. */
static void learn_unknown_file(const struct transcript *t, struct store *st)
{
	struct file *big = &st->f[2];
	for (size_t c = 0; c < t->nconns; c++) {
		struct pkt *rq, *rp;
		size_t nrq = frame(t->conns[c].client, t->conns[c].client_len, true, &rq);
		size_t nrp = frame(t->conns[c].server, t->conns[c].server_len, false, &rp);
		bool is_big = false;
		uint64_t pos = 0;
		size_t j = 0;
		for (size_t i = 0; i < nrq && j < nrp; i++) {
			if (rq[i].op == 0x87)
				continue;
			while (j < nrp && rp[j].op == 0x07)
				j++;
			if (j == nrp)
				break;
			struct pkt *a = &rp[j++];
			char path[256];
			if (rq[i].op == 0x01 && rq[i].size == rq[i].full)
				is_big = strcmp(req_path(&rq[i], path), big->path) == 0;
			if (rq[i].op == 0x04 && rq[i].whence == 0)
				pos = a->u64;
			if (rq[i].op == 0x02 && is_big && a->size == a->full && pos < big->size) {
				store_need(big);
				size_t n = a->len < big->size - pos ? a->len : big->size - pos;
				memcpy(big->data + pos, a->data, n);
			}
		}
		free(rq);
		free(rp);
	}
}

static void model_init(struct model *m, const struct store *st)
{
	memset(m, 0, sizeof *m);
	m->cur = -1;
	for (size_t i = 0; i < 3; i++) {
		if (!st->f[i].data)
			continue; /* allocated when opened, like the fake does */
		m->content[i] = malloc(st->f[i].size);
		assert_non_null(m->content[i]);
		memcpy(m->content[i], st->f[i].data, st->f[i].size);
	}
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < 3; i++)
		free(m->content[i]);
}


static int model_find(const struct model *m, uint32_t fd)
{
	for (size_t i = 0; i < m->n; i++)
		if ((uint32_t)m->fds[i] == fd)
			return (int)i;
	return -1;
}

static void replay_conn(const char *name, const struct transcript_conn *tc, struct store *st,
			size_t step, struct deviations *dv, struct outbuf *ours_bytes)
{
	struct pkt *rq, *sp, *op;
	size_t nrq = frame(tc->client, tc->client_len, true, &rq);
	size_t nsp = frame(tc->server, tc->server_len, false, &sp);

	/* Pair every request with the stock reply to it; a reverse CMD from the (fake) stock
	 * server and the client's answer to it pair with nothing. */
	const struct pkt **stock = calloc(nrq + 1, sizeof *stock);
	assert_non_null(stock);
	char **canned = calloc(nrq + 1, sizeof *canned);
	assert_non_null(canned);
	size_t ncanned = 0;
	for (size_t i = 0, j = 0; i < nrq; i++) {
		if (rq[i].op == 0x87 || rq[i].size < rq[i].full || !rq[i].full)
			continue;
		while (j < nsp && sp[j].op == 0x07)
			j++;
		if (j < nsp)
			stock[i] = &sp[j++];
		if (rq[i].op == 0x07 && rq[i].len > 0) {
			const struct pkt *a = stock[i];
			canned[ncanned++] = a && a->len ? (char *)slice_dup(a->data, a->len) : NULL;
		}
	}

	struct fake k;
	fake_init(&k, st);
	k.canned = canned;
	k.ncanned = ncanned;
	struct model m;
	model_init(&m, st);
	struct rap_server_session *s = NULL;
	assert_int_equal(rap_server_session_new(&handler, &k, &s), 0);
	struct outbuf o = { 0 };
	int frc = drive(s, tc->client, tc->client_len, step, &o);
	size_t nop = frame(o.p, o.n, false, &op);

	size_t j = 0; /* next reply of ours */
	bool stock_closed_raw = false;
	for (size_t i = 0; i < nrq; i++) {
		const struct pkt *r = &rq[i];
		const struct pkt *a = stock[i];
		snprintf(where, sizeof where, "%s conn %d step %zu request %zu (op 0x%02x)", name,
			 tc->id, step, i, r->op);
		if (!r->full || r->op == 0x87) {
			/* Unknown opcode or an answer to a reverse CMD we never sent: dropped,
			 * like stock drops unknown opcodes, with the opcode in the reason. */
			char hex[8];
			snprintf(hex, sizeof hex, "0x%02x", r->op);
			CHECK_EQ(frc, RAP_EPROTO);
			CHECK(strstr(rap_server_session_error(s), hex) != NULL);
			CHECK(a == NULL);
			dv->dropped++;
			break;
		}
		bool oversized = r->op == 0x03 && r->len > RAP_PACKET_MAX;
		if (r->size < r->full && !oversized) {
			/* EOF inside a request: nothing to answer. Stock blocks, then answers. */
			CHECK_EQ(j, nop);
			CHECK_EQ(i + 1, nrq);
			dv->incomplete_tail++;
			break;
		}
		CHECK(j < nop);
		const struct pkt *b = &op[j++];
		CHECK_EQ(b->size, b->full);
		CHECK_EQ(b->op, r->op | 0x80);
		struct file *f = m.cur >= 0 ? &st->f[m.file[m.cur]] : NULL;
		uint8_t *content = m.cur >= 0 ? m.content[m.file[m.cur]] : NULL;
		switch (r->op) {
		case 0x01: {
			char path[256];
			struct file *want = store_find(st, req_path(r, path));
			if (!want) {
				CHECK_EQ(b->u32, UINT32_MAX);
				CHECK(a == NULL); /* stock hung up instead */
				dv->open_fail_reply++;
				break;
			}
			CHECK((int32_t)b->u32 >= 0);
			CHECK(a != NULL && (int32_t)a->u32 >= 0);
			CHECK(m.n < 16);
			m.fds[m.n] = (int32_t)b->u32;
			m.file[m.n] = (int)(want - st->f);
			if (!m.content[m.file[m.n]]) {
				m.content[m.file[m.n]] = calloc(1, want->size);
				assert_non_null(m.content[m.file[m.n]]);
			}
			m.w[m.n] = (r->perm & RAP_PERM_W) && want->can_write;
			m.cur = (int)m.n++;
			m.pos = 0;
			break;
		}
		case 0x02: {
			size_t n = r->len < RAP_PACKET_MAX ? r->len : RAP_PACKET_MAX;
			if (!a && r->len > INT32_MAX)
				dv->read_negative_len++; /* the stock server process exits */
			if (!f) {
				CHECK_EQ(b->len, 0);
				CHECK(a == NULL || (a->len == n && all_ff(a->data, n)));
				if (a)
					dv->read_no_file++;
				break;
			}
			size_t exp = m.pos >= f->size ? 0 : f->size - m.pos < n ? f->size - m.pos : n;
			CHECK_EQ(b->len, exp);
			CHECK(memcmp(b->data, content + m.pos, exp) == 0);
			if (!a)
				break;
			CHECK_EQ(a->len, n);
			if (m.pos + n < m.pos) {
				/* Stock reads the address space, which wraps at 2^64 to offset 0. */
				size_t tail = (size_t)(0 - m.pos);
				CHECK(all_ff(a->data, tail));
				CHECK(memcmp(a->data + tail, content, n - tail) == 0);
				dv->read_wrap++;
			} else if (stock_closed_raw && all_ff(a->data, n) && exp) {
				dv->read_after_raw_close++;
			} else {
				CHECK(memcmp(a->data, b->data, exp) == 0);
				CHECK(all_ff(a->data + exp, n - exp));
				if (exp < n)
					dv->read_short_eof++;
			}
			break;
		}
		case 0x03: {
			if (oversized) {
				CHECK_EQ(b->u32, 0);
				CHECK(a == NULL); /* the stock server exits */
				dv->write_oversized++;
				break;
			}
			size_t exp = 0;
			if (f && m.w[m.cur] && m.pos < f->size) {
				exp = f->size - m.pos < r->len ? f->size - m.pos : r->len;
				memcpy(content + m.pos, r->data, exp);
			}
			CHECK_EQ(b->u32, exp);
			if (a) {
				CHECK_EQ(a->u32, exp ? 1 : 0);
				if (exp > 1)
					dv->write_count++;
			}
			break;
		}
		case 0x04: {
			uint64_t exp;
			if (!f)
				exp = 0;
			else if (r->whence == RAP_SEEK_SET)
				exp = m.pos = r->u64;
			else if (r->whence == RAP_SEEK_END)
				exp = f->size;
			else
				exp = m.pos;
			CHECK_EQ(b->u64, exp);
			if (a && !f && r->whence == RAP_SEEK_END) {
				CHECK_EQ(a->u64, UINT64_MAX);
				dv->seek_end_no_file++;
			} else if (a) {
				CHECK_EQ(a->u64, b->u64);
			}
			break;
		}
		case 0x05: {
			int idx = model_find(&m, r->u32);
			CHECK_EQ(b->u32, idx >= 0 ? 0 : UINT32_MAX);
			if (idx >= 0) {
				m.n--;
				m.fds[idx] = m.fds[m.n];
				m.file[idx] = m.file[m.n];
				m.w[idx] = m.w[m.n];
				if (m.cur == idx)
					m.cur = -1;
				else if (m.cur == (int)m.n)
					m.cur = idx;
			}
			if (a && a->u32 != b->u32) {
				CHECK(idx < 0 && a->u32 == 0);
				stock_closed_raw = true;
				dv->close_foreign++;
			}
			break;
		}
		case 0x07: {
			if (r->len == 0) {
				CHECK_EQ(b->len, 0);
				CHECK(a != NULL && a->len == 0);
				break;
			}
			CHECK(b->len >= 1 && b->data[b->len - 1] == 0);
			CHECK(a != NULL);
			if (!a)
				break;
			if (a->len == 0) {
				/* Stock refuses len >= 4096 and parses the payload as packets. */
				CHECK_EQ(r->len, RAP_PACKET_MAX);
				CHECK_EQ(b->len, 1);
				dv->cmd_len4096++;
			} else if (a->len > RAP_STOCK_CMD_REPLY_MAX) {
				CHECK(b->len <= RAP_STOCK_CMD_REPLY_MAX);
				const char *note = strstr((const char *)b->data, "\n[rap: output truncated, ");
				CHECK(note != NULL);
				size_t keep = (size_t)(note - (const char *)b->data);
				unsigned long omitted, total;
				CHECK(sscanf(note, "\n[rap: output truncated, %lu of %lu bytes not shown]",
					     &omitted, &total) == 2);
				CHECK_EQ(total, a->len - 1);
				CHECK_EQ(keep + omitted, total);
				CHECK(memcmp(b->data, a->data, keep) == 0);
				dv->cmd_truncated++;
			} else {
				CHECK_EQ(b->len, a->len);
				CHECK(memcmp(b->data, a->data, a->len) == 0);
			}
			break;
		}
		default:
			fail_msg("%s: transcript request opcode 0x%02x not handled", where, r->op);
		}
	}
	snprintf(where, sizeof where, "%s conn %d step %zu", name, tc->id, step);
	CHECK_EQ(j, nop);
	if (frc == 0)
		CHECK_EQ(k.icanned, k.ncanned);
	out_add(ours_bytes, o.p ? o.p : (const uint8_t *)"", o.n);

	model_free(&m);
	rap_server_session_free(s);
	for (size_t i = 0; i < ncanned; i++)
		free(canned[i]);
	free(canned);
	free(stock);
	free(o.p);
	free(op);
	free(rq);
	free(sp);
}

static void replay(const char *name, size_t step, struct deviations *dv, struct outbuf *bytes)
{
	struct transcript t;
	snprintf(where, sizeof where, "%s", name);
	CHECK(transcript_load(name, &t) == 0);
	struct store st;
	store_init(&st);
	learn_unknown_file(&t, &st);
	for (size_t c = 0; c < t.nconns; c++)
		replay_conn(name, &t.conns[c], &st, step, dv, bytes);
	store_free(&st);
	transcript_free(&t);
}

static bool dev_eq(const struct deviations *a, const struct deviations *b)
{
	return memcmp(a, b, sizeof *a) == 0;
}

static void test_replay_all_transcripts(void **state)
{
	(void)state;
	char **names;
	int n = transcript_names(&names);
	assert_true(n > 20);
	struct deviations total = { 0 };
	for (int i = 0; i < n; i++) {
		struct deviations whole = { 0 }, bytewise = { 0 }, odd = { 0 };
		struct outbuf ob1 = { 0 }, ob2 = { 0 }, ob3 = { 0 };
		replay(names[i], 0, &whole, &ob1);
		replay(names[i], 1, &bytewise, &ob2);
		replay(names[i], 7, &odd, &ob3);
		snprintf(where, sizeof where, "%s: split invariance", names[i]);
		/* The same replies, byte for byte, whatever the split. */
		CHECK_EQ(ob1.n, ob2.n);
		CHECK_EQ(ob1.n, ob3.n);
		CHECK(ob1.n == 0 || memcmp(ob1.p, ob2.p, ob1.n) == 0);
		CHECK(ob1.n == 0 || memcmp(ob1.p, ob3.p, ob1.n) == 0);
		CHECK(dev_eq(&whole, &bytewise) && dev_eq(&whole, &odd));
		free(ob1.p);
		free(ob2.p);
		free(ob3.p);
		int *t = (int *)&total;
		const int *w = (const int *)&whole;
		for (size_t k = 0; k < sizeof total / sizeof(int); k++)
			t[k] += w[k];
	}
	transcript_names_free(names, n);

	/* Every deviation the recordings exercise was met (and checked field by field above);
	 * the counts pin them so a new transcript or a behaviour change is noticed. */
	print_message("# deviations: open-fail %d, short-eof %d, no-file %d, wrap %d, raw-close %d, "
		      "negative-len %d, seek-end %d, write-count %d, write-big %d, close-foreign %d, cmd4096 %d, "
		      "cmd-cut %d, tail %d, dropped %d\n",
		      total.open_fail_reply, total.read_short_eof, total.read_no_file, total.read_wrap,
		      total.read_after_raw_close, total.read_negative_len, total.seek_end_no_file, total.write_count,
		      total.write_oversized, total.close_foreign, total.cmd_len4096,
		      total.cmd_truncated, total.incomplete_tail, total.dropped);
	assert_true(total.open_fail_reply >= 2);    /* open-missing, open-len0 */
	assert_true(total.read_short_eof >= 1);     /* seek-raw: 0x1fff8 and 0x30000 */
	assert_int_equal(total.read_no_file, 1);    /* read-before-open-raw */
	assert_int_equal(total.read_wrap, 1);       /* seek-raw: 2^64-1 */
	assert_int_equal(total.read_after_raw_close, 1); /* close-raw conn 2 */
	assert_int_equal(total.seek_end_no_file, 1);
	assert_int_equal(total.read_negative_len, 1); /* read-ffffffff */
	assert_true(total.write_count >= 2);        /* write.txt, write-edge-raw */
	assert_int_equal(total.write_oversized, 2); /* write-edge-raw, write-hugelen-raw */
	assert_int_equal(total.close_foreign, 2);   /* close-raw: fd 4 and fd 8 */
	assert_int_equal(total.cmd_len4096, 1);
	assert_int_equal(total.cmd_truncated, 1);   /* cmd-big-reply */
	assert_true(total.incomplete_tail >= 1);    /* cmd-edge-raw */
	assert_true(total.dropped >= 4);            /* bad-opcode, desync, http-get x2, reverse */
}


/* ---- edges the recordings do not reach --------------------------------------------- */

struct env {
	struct store st;
	struct fake k;
	struct rap_server_session *s;
	struct outbuf o;
};

static void env_open(struct env *e)
{
	store_init(&e->st);
	fake_init(&e->k, &e->st);
	e->s = NULL;
	memset(&e->o, 0, sizeof e->o);
	assert_int_equal(rap_server_session_new(&handler, &e->k, &e->s), 0);
}

/* env_open with another handler. */
static void env_open_with(struct env *e, const struct rap_server_handler *h)
{
	store_init(&e->st);
	fake_init(&e->k, &e->st);
	e->s = NULL;
	memset(&e->o, 0, sizeof e->o);
	assert_int_equal(rap_server_session_new(h, &e->k, &e->s), 0);
	e->k.s = e->s;
}

static void env_close(struct env *e)
{
	rap_server_session_free(e->s);
	store_free(&e->st);
	free(e->o.p);
}

/* Hex text (spaces allowed) to bytes; returns the count. */
static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	for (const char *p = hex; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		unsigned v;
		assert_int_equal(sscanf(p, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	return n;
}

/* Feeds bytes and returns the replies they produced (borrowed from e->o, reset first). */
static const uint8_t *ask(struct env *e, const uint8_t *req, size_t n, size_t *outn)
{
	e->o.n = 0;
	assert_int_equal(drive(e->s, req, n, 0, &e->o), 0);
	*outn = e->o.n;
	return e->o.p;
}

static void ask_hex(struct env *e, const char *req, const char *want)
{
	uint8_t in[512], exp[512];
	size_t n = unhex(req, in), wn = unhex(want, exp), got;
	const uint8_t *out = ask(e, in, n, &got);
	if (got != wn)
		print_error("request %s: got %zu bytes, want %s\n", req, got, want);
	assert_int_equal(got, wn);
	assert_memory_equal(out, exp, wn);
}

static size_t put_msg(uint8_t *p, uint8_t op, const void *data, uint32_t len)
{
	p[0] = op;
	rap__put_be32(p + 1, len);
	if (len && data)
		memcpy(p + 5, data, len);
	return 5 + len;
}

static size_t put_read(uint8_t *p, uint32_t len)
{
	p[0] = 0x02;
	rap__put_be32(p + 1, len);
	return 5;
}

static void open_sample(struct env *e, bool rw)
{
	const char *path = rw ? "/data/files/sample-rw.bin" : "/data/files/sample.bin";
	uint8_t req[64];
	req[0] = 1;
	req[1] = rw ? 7 : 5;
	req[2] = (uint8_t)(strlen(path) + 1);
	memcpy(req + 3, path, req[2]);
	size_t n;
	const uint8_t *out = ask(e, req, 3u + req[2], &n);
	assert_int_equal(n, 5);
	assert_int_equal(out[0], 0x81);
	assert_int_equal((int32_t)rap__get_be32(out + 1), e->k.open[e->k.cur].fd);
}

/* The CMD reply text for cmd (without its NUL); heap, caller frees. */
static char *cmd_reply(struct env *e, const char *cmd, size_t *len)
{
	uint8_t req[256];
	size_t n = put_msg(req, 0x07, cmd, (uint32_t)strlen(cmd) + 1), got;
	const uint8_t *out = ask(e, req, n, &got);
	assert_true(got >= 6);
	assert_int_equal(out[0], 0x87);
	uint32_t l = rap__get_be32(out + 1);
	assert_int_equal(got, 5 + (size_t)l);
	assert_int_equal(out[5 + l - 1], 0);
	*len = l - 1;
	char *t = malloc(l);
	assert_non_null(t);
	memcpy(t, out + 5, l);
	return t;
}

/* The CMD reply text for cmd in a session granted CAP_CMD_STATUS, checking the status that
 * follows the text's NUL; heap, caller frees. */
static char *cmd_reply_status(struct env *e, const char *cmd, size_t *len, uint32_t status)
{
	uint8_t req[256];
	size_t n = put_msg(req, 0x07, cmd, (uint32_t)strlen(cmd) + 1), got;
	const uint8_t *out = ask(e, req, n, &got);
	assert_true(got >= 10);
	assert_int_equal(out[0], 0x87);
	uint32_t l = rap__get_be32(out + 1);
	assert_int_equal(got, 5 + (size_t)l);
	assert_int_equal(out[5 + l - 5], 0);
	assert_int_equal(rap__get_be32(out + 5 + l - 4), status);
	*len = l - 5;
	char *t = malloc(l - 4);
	assert_non_null(t);
	memcpy(t, out + 5, l - 4);
	return t;
}

static void test_probe(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	open_sample(&e, false);
	/* Stock sessions: READ is clamped to 4096 whatever is asked. */
	uint8_t req[16];
	size_t n;
	const uint8_t *out = ask(&e, req, unhex("02 00002000", req), &n);
	assert_int_equal(n, 5 + 4096);
	assert_int_equal(rap__get_be32(out + 1), 4096);
	/* 0xff without the magic, and the magic under another whence: just a position. */
	ask_hex(&e, "04 00 0000000000000010", "84 0000000000000010");
	ask_hex(&e, "04 ff 0000000000000055", "84 0000000000000010");
	ask_hex(&e, "04 03 5241505800010001", "84 0000000000000010");
	assert_false(e.k.max_read > 4096);
	/* The probe: "RAPX" v1 caps 0x0001 -> "rapx" v1 granted 0x0001; position untouched. */
	ask_hex(&e, "04 ff 5241505800010001", "84 7261707800010001");
	ask_hex(&e, "04 01 0000000000000000", "84 0000000000000010");
	out = ask(&e, req, unhex("02 00002000", req), &n);
	assert_int_equal(n, 5 + 8192);
	assert_memory_equal(out + 5, e.st.f[0].data + 0x10, 8192);
	out = ask(&e, req, unhex("02 00200000", req), &n); /* 2 MiB asked: clamped to 1 MiB */
	assert_int_equal(e.k.max_read, 1u << 20);
	assert_int_equal(n, 5 + SAMPLE_SIZE - 0x10); /* short at EOF */
	assert_int_equal(rap__get_be32(out + 1), SAMPLE_SIZE - 0x10);
	/* Unknown capability bits are not granted; a later version still gets ours (2), and
	 * this handler has no fd-addressed callbacks: no extension messages (0x0008). */
	ask_hex(&e, "04 ff 524150580007ffff", "84 7261707800020007");
	/* Version 1 is answered as version 1, with version 1's bits only. */
	ask_hex(&e, "04 ff 524150580001001f", "84 7261707800010007");
	/* A probe asking for nothing is answered and leaves the stock limits. */
	ask_hex(&e, "04 ff 5241505800010000", "84 7261707800010000");
	out = ask(&e, req, unhex("02 00002000", req), &n);
	assert_int_equal(n, 5 + 4096);
	env_close(&e);
}

static void test_oversized_write(void **state)
{
	(void)state;
	for (size_t step = 0; step <= 1; step++) {
		struct env e;
		env_open(&e);
		open_sample(&e, true);
		size_t big = 5000;
		uint8_t *req = malloc(big + 64);
		assert_non_null(req);
		memset(req + 5, 'Z', big);
		size_t n = put_msg(req, 0x03, NULL, (uint32_t)big);
		n += unhex("04 01 0000000000000000", req + n);
		e.o.n = 0;
		int nlog = e.k.nlog;
		assert_int_equal(drive(e.s, req, n, step, &e.o), 0);
		/* Refused, drained, and the SEEK after it is read as a SEEK. */
		uint8_t want[14];
		size_t wn = unhex("83 00000000 84 0000000000000000", want);
		assert_int_equal(e.o.n, wn);
		assert_memory_equal(e.o.p, want, wn);
		assert_true(e.k.nlog > nlog);
		assert_non_null(strstr(e.k.last_log, "drained"));
		assert_int_equal(e.st.f[1].data[0], '@');
		/* After the probe, large writes are taken whole and answered with the count. */
		ask_hex(&e, "04 ff 5241505800010001", "84 7261707800010001");
		e.o.n = 0;
		assert_int_equal(drive(e.s, req, n, step, &e.o), 0);
		wn = unhex("83 00001388 84 0000000000000000", want);
		assert_int_equal(e.o.n, wn);
		assert_memory_equal(e.o.p, want, wn);
		assert_int_equal(e.st.f[1].data[4999], 'Z');
		free(req);
		env_close(&e);
	}
}

static void test_write_results(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	ask_hex(&e, "03 00000002 4142", "83 00000000"); /* no file */
	open_sample(&e, false);
	ask_hex(&e, "03 00000002 4142", "83 00000000"); /* read-only */
	open_sample(&e, true);
	ask_hex(&e, "04 00 000000000001fffe", "84 000000000001fffe");
	ask_hex(&e, "03 00000004 41424344", "83 00000002"); /* only 2 bytes fit */
	ask_hex(&e, "03 00000000", "83 00000000");
	ask_hex(&e, "04 01 0000000000000000", "84 000000000001fffe"); /* WRITE does not move */
	ask_hex(&e, "03 00000003 45494f", "83 00000000"); /* -EIO: stock clients know 0 only */
	env_close(&e);

	/* Granted CAP_WRITE_ERRORS (0x0004): failures answer a negative RAP_E* code; errno
	 * values, which differ between architectures, become RAP_EREMOTE (-1011). */
	env_open(&e);
	ask_hex(&e, "04 ff 5241505800010004", "84 7261707800010004");
	ask_hex(&e, "03 00000002 4142", "83 fffffc09"); /* RAP_EBADFD: no file */
	open_sample(&e, false);
	ask_hex(&e, "03 00000002 4142", "83 fffffc0c"); /* RAP_EDENIED: read-only */
	open_sample(&e, true);
	ask_hex(&e, "03 00000003 45494f", "83 fffffc0d"); /* -EIO -> RAP_EREMOTE */
	ask_hex(&e, "03 00000002 4142", "83 00000002");
	ask_hex(&e, "03 00000000", "83 00000000");
	env_close(&e);
}

static void test_read_and_seek_failures(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	/* Before any OPEN the handler refuses: no invented bytes, position 0. */
	ask_hex(&e, "02 00000010", "82 00000000");
	ask_hex(&e, "04 02 0000000000000000", "84 0000000000000000");
	ask_hex(&e, "04 00 0000000000000100", "84 0000000000000000");
	open_sample(&e, false);
	ask_hex(&e, "04 00 0000000000000100", "84 0000000000000100");
	/* A SET the handler refuses answers where we still are, as stock never errors. */
	ask_hex(&e, "04 00 000000000000dead", "84 0000000000000100");
	ask_hex(&e, "02 00000000", "82 00000000");
	ask_hex(&e, "04 00 0000000000020000", "84 0000000000020000");
	ask_hex(&e, "02 00000010", "82 00000000"); /* at EOF: nothing, not 0xff */
	env_close(&e);
}

static void test_open_and_close(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	/* A failed OPEN answers -1 and keeps the session; an empty path too. */
	ask_hex(&e, "01 05 04 2f6e6f00", "81 ffffffff");
	ask_hex(&e, "01 05 00", "81 ffffffff");
	open_sample(&e, false);
	int fd = e.k.open[e.k.cur].fd;
	/* CLOSE only knows this session's fds. */
	ask_hex(&e, "05 00000004", "85 ffffffff");
	ask_hex(&e, "05 ffffffff", "85 ffffffff");
	uint8_t req[5] = { 0x05 };
	rap__put_be32(req + 1, (uint32_t)fd);
	size_t n;
	const uint8_t *out = ask(&e, req, 5, &n);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "\x85\0\0\0\0", 5);
	out = ask(&e, req, 5, &n);
	assert_memory_equal(out, "\x85\xff\xff\xff\xff", 5);
	/* A path longer than the payload limit is refused without reaching the handler. */
	assert_int_equal(rap_server_session_set_max_payload(e.s, 8), 0);
	ask_hex(&e, "01 05 17 2f646174612f66696c65732f73616d706c652e62696e00 04 01 0000000000000000",
		"81 ffffffff 84 0000000000000000");
	env_close(&e);
}

static void test_cmd_variants(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	ask_hex(&e, "07 00000000", "87 00000000");           /* as stock */
	ask_hex(&e, "07 00000005 6e756c6c00", "87 00000001 00"); /* "null": no output */
	ask_hex(&e, "07 00000002 6869", "87 00000004 68690a00"); /* no NUL sent: still "hi" */
	size_t n;
	char *t = cmd_reply(&e, "deny", &n);
	char want[128];
	snprintf(want, sizeof want, "error: command refused: %s\n", rap_strerror(RAP_EDENIED));
	assert_string_equal(t, want);
	free(t);
	t = cmd_reply(&e, "deny-text", &n);
	assert_string_equal(t, "error: not allowed here\n");
	free(t);
	/* Longer than the limit: drained, answered with an error text, still in sync. */
	size_t big = 5000;
	uint8_t *req = malloc(big + 32);
	assert_non_null(req);
	memset(req + 5, 'x', big);
	size_t rn = put_msg(req, 0x07, NULL, (uint32_t)big);
	rn += unhex("04 01 0000000000000000", req + rn);
	for (size_t step = 0; step <= 1; step++) {
		e.o.n = 0;
		assert_int_equal(drive(e.s, req, rn, step, &e.o), 0);
		const char *msg = "error: command too long (5000 bytes, limit 4096)\n";
		size_t ml = strlen(msg) + 1;
		assert_int_equal(e.o.n, 5 + ml + 9);
		assert_int_equal(e.o.p[0], 0x87);
		assert_int_equal(rap__get_be32(e.o.p + 1), ml);
		assert_memory_equal(e.o.p + 5, msg, ml);
		assert_int_equal(e.o.p[5 + ml], 0x84);
	}
	free(req);
	/* SYSTEM is retired: an error text in an 0x86, payload drained, session kept. */
	const char *sys = "SYSTEM (0x06) is retired; use CMD (0x07)\n";
	uint8_t exp[128];
	size_t en = put_msg(exp, 0x86, sys, (uint32_t)strlen(sys) + 1);
	char hex[300] = "";
	for (size_t i = 0; i < en; i++)
		snprintf(hex + 2 * i, 3, "%02x", exp[i]);
	strcat(hex, "840000000000000000");
	ask_hex(&e, "06 00000003 6c7300 04 01 0000000000000000", hex);
	env_close(&e);
}

/* After a probe granting CAP_CMD_STATUS (0x0002), every CMD reply ends with a be32 status
 * after the text's NUL: 0 when the handler succeeded, 1 when it failed or the command was
 * refused; the status counts in the reply's length and in the cut limit. */
static void test_cmd_status(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	/* Before the probe: stock replies. */
	ask_hex(&e, "07 00000002 6869", "87 00000004 68690a00");
	ask_hex(&e, "04 ff 5241505800010002", "84 7261707800010002");
	ask_hex(&e, "07 00000003 686900", "87 00000008 68690a00 00000000");
	ask_hex(&e, "07 00000005 6e756c6c00", "87 00000005 00 00000000");
	ask_hex(&e, "07 0000000a 64656e792d7465787400",
		"87 0000001d 6572726f723a206e6f7420616c6c6f77656420686572650a00 00000001");
	ask_hex(&e, "07 00000000", "87 00000000"); /* as stock: no text, no status */
	size_t n;
	char *t = cmd_reply_status(&e, "deny", &n, 1);
	char want[128];
	snprintf(want, sizeof want, "error: command refused: %s\n", rap_strerror(RAP_EDENIED));
	assert_string_equal(t, want);
	free(t);
	/* Drained for its size: refused with status 1, the SEEK after it still a SEEK. */
	size_t big = 5000;
	uint8_t *req = malloc(big + 32);
	assert_non_null(req);
	memset(req + 5, 'x', big);
	size_t rn = put_msg(req, 0x07, NULL, (uint32_t)big);
	rn += unhex("04 01 0000000000000000", req + rn);
	e.o.n = 0;
	assert_int_equal(drive(e.s, req, rn, 0, &e.o), 0);
	const char *msg = "error: command too long (5000 bytes, limit 4096)\n";
	size_t ml = strlen(msg) + 1;
	assert_int_equal(e.o.n, 5 + ml + 4 + 9);
	assert_int_equal(rap__get_be32(e.o.p + 1), ml + 4);
	assert_memory_equal(e.o.p + 5, msg, ml);
	assert_int_equal(rap__get_be32(e.o.p + 5 + ml), 1);
	assert_int_equal(e.o.p[5 + ml + 4], 0x84);
	free(req);
	/* The cut limit counts the status: text, NUL and status fit in 80 bytes. */
	rap_server_session_set_stock_reply_max(e.s, 80);
	t = cmd_reply_status(&e, "big 100", &n, 0);
	assert_true(n + 1 + 4 <= 80);
	assert_non_null(strstr(t, "[rap: output truncated"));
	free(t);
	env_close(&e);
}

/* Parses a cut reply: the kept prefix length and the two numbers of the note. */
static void parse_cut(const char *t, size_t len, size_t *keep, unsigned long *omitted,
		      unsigned long *total)
{
	const char *note = strstr(t, "\n[rap: output truncated, ");
	assert_non_null(note);
	*keep = (size_t)(note - t);
	int end = 0;
	assert_int_equal(sscanf(note, "\n[rap: output truncated, %lu of %lu bytes not shown]\n%n",
				omitted, total, &end), 2);
	assert_int_equal(*keep + (size_t)end, len); /* the note ends the text */
}

static void test_cmd_truncation(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	size_t n, keep;
	unsigned long omitted, total;
	char *t = cmd_reply(&e, "big 20000", &n);
	/* As much as fits: the reply (text + NUL) is exactly the stock client's limit, or
	 * one byte short when the real count has fewer digits than the first estimate. */
	assert_true(n + 1 <= RAP_STOCK_CMD_REPLY_MAX && n + 1 >= RAP_STOCK_CMD_REPLY_MAX - 1);
	parse_cut(t, n, &keep, &omitted, &total);
	assert_int_equal(total, 20000);
	assert_int_equal(keep + omitted, 20000);
	for (size_t i = 0; i < keep; i++)
		assert_int_equal(t[i], 'a' + i % 26);
	free(t);
	/* Exactly at the limit: not cut. */
	t = cmd_reply(&e, "big 16383", &n);
	assert_int_equal(n, 16383);
	free(t);
	t = cmd_reply(&e, "big 16384", &n);
	assert_true(n < 16384);
	free(t);
	/* A small limit still gets the note; one too small for the note gets a bare cut. */
	rap_server_session_set_stock_reply_max(e.s, 80);
	t = cmd_reply(&e, "big 100", &n);
	assert_true(n + 1 <= 80);
	parse_cut(t, n, &keep, &omitted, &total);
	assert_int_equal(keep + omitted, 100);
	free(t);
	rap_server_session_set_stock_reply_max(e.s, 10);
	t = cmd_reply(&e, "big 100", &n);
	assert_int_equal(n, 9);
	assert_string_equal(t, "abcdefghi");
	free(t);
	rap_server_session_set_stock_reply_max(e.s, 0);
	t = cmd_reply(&e, "big 20000", &n);
	assert_int_equal(n, 20000);
	free(t);
	/* A multi-byte character is never split. */
	rap_server_session_set_stock_reply_max(e.s, RAP_STOCK_CMD_REPLY_MAX);
	char *utf = malloc(20001);
	assert_non_null(utf);
	for (size_t i = 0; i < 20000; i += 2) {
		utf[i] = (char)0xc3;
		utf[i + 1] = (char)0xa9;
	}
	utf[20000] = 0;
	char *canned[1] = { utf };
	e.k.canned = canned;
	e.k.ncanned = 1;
	t = cmd_reply(&e, "whatever", &n);
	parse_cut(t, n, &keep, &omitted, &total);
	assert_int_equal(keep % 2, 0);
	assert_int_equal(keep + omitted, 20000);
	free(t);
	free(utf);
	e.k.canned = NULL;
	/* Extended clients get it all. */
	ask_hex(&e, "04 ff 5241505800010001", "84 7261707800010001");
	t = cmd_reply(&e, "big 100000", &n);
	assert_int_equal(n, 100000);
	free(t);
	env_close(&e);
}

static void test_dropped_peers(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	uint8_t req[64];
	size_t n = unhex("01 05 17 2f646174612f66696c65732f73616d706c652e62696e00 42 00", req);
	e.o.n = 0;
	assert_int_equal(drive(e.s, req, n, 0, &e.o), RAP_EPROTO);
	assert_int_equal(e.o.n, 5); /* the OPEN before it is answered */
	assert_int_equal(e.o.p[0], 0x81);
	assert_non_null(strstr(rap_server_session_error(e.s), "0x42"));
	/* The session stays refused. */
	assert_int_equal(rap_server_session_feed(e.s, (const uint8_t *)"\x04", 1), RAP_EPROTO);
	env_close(&e);

	env_open(&e);
	assert_string_equal(rap_server_session_error(e.s), "no error");
	n = unhex("87 00000003 6f6b00", req);
	assert_int_equal(drive(e.s, req, n, 0, &e.o), RAP_EPROTO);
	assert_int_equal(e.o.n, 0);
	assert_non_null(strstr(rap_server_session_error(e.s), "0x87"));
	env_close(&e);
}

/* Many pipelined READs: replies wait below the high-water mark and the requests behind
 * them are answered as the output drains, all in order. */
static void test_backpressure(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	open_sample(&e, false);
	enum { N = 300 };
	uint8_t *req = malloc(N * 15);
	assert_non_null(req);
	size_t rn = 0;
	for (size_t i = 0; i < N; i++) {
		req[rn] = 0x04;
		req[rn + 1] = 0;
		rap__put_be64(req + rn + 2, (uint64_t)i * 400);
		rn += 10;
		rn += put_read(req + rn, 4096);
	}
	assert_int_equal(rap_server_session_feed(e.s, req, rn), (ssize_t)rn);
	const uint8_t *p;
	size_t queued = rap_server_session_output(e.s, &p);
	assert_true(queued < N * (9 + 4101));
	assert_true(queued <= (256u << 10) + 4101 + 9);
	e.o.n = 0;
	/* Drain in odd-sized pieces. */
	while ((queued = rap_server_session_output(e.s, &p)) > 0) {
		size_t take = queued > 1000 ? 1000 : queued;
		out_add(&e.o, p, take);
		rap_server_session_consume(e.s, take);
	}
	struct pkt *v;
	size_t nv = frame(e.o.p, e.o.n, false, &v);
	assert_int_equal(nv, 2 * N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(v[2 * i].op, 0x84);
		assert_int_equal(v[2 * i].u64, (uint64_t)i * 400);
		assert_int_equal(v[2 * i + 1].len, 4096);
		assert_memory_equal(v[2 * i + 1].data, e.st.f[0].data + i * 400, 4096);
	}
	free(v);
	/* A caller that feeds forever without taking the replies gets the peer dropped. */
	uint8_t *flood = malloc(64 << 10);
	assert_non_null(flood);
	size_t fn = 0;
	while (fn + 5 <= (64u << 10))
		fn += put_read(flood + fn, 4096);
	ssize_t rc = 0;
	for (int i = 0; i < 1000 && rc >= 0; i++)
		rc = rap_server_session_feed(e.s, flood, fn);
	assert_int_equal(rc, RAP_EPROTO);
	assert_non_null(strstr(rap_server_session_error(e.s), "without reading"));
	free(flood);
	free(req);
	env_close(&e);
}

struct served {
	struct rap_server_session *s;
	int fd;
	int rc;
};

static void *serve_thread(void *arg)
{
	struct served *sv = arg;
	sv->rc = rap_server_session_serve_fd(sv->s, sv->fd);
	return NULL;
}

static void read_exact(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);
		assert_true(r > 0);
		p += r;
		n -= (size_t)r;
	}
}

static void test_serve_fd(void **state)
{
	(void)state;
	for (int variant = 0; variant < 2; variant++) {
		struct env e;
		env_open(&e);
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		struct served srv = { e.s, sv[1], 1 };
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, serve_thread, &srv), 0);
		uint8_t req[64 * 15 + 64];
		size_t n = unhex("01 05 17 2f646174612f66696c65732f73616d706c652e62696e00", req);
		for (size_t i = 0; i < 64; i++) {
			req[n] = 0x04;
			req[n + 1] = 0;
			rap__put_be64(req + n + 2, (uint64_t)i * 4096);
			n += 10;
			n += put_read(req + n, 4096);
		}
		if (variant == 1)
			req[n++] = 0x42;
		assert_int_equal(rap_send_all(sv[0], req, n), 0);
		uint8_t *reply = malloc(4101);
		assert_non_null(reply);
		read_exact(sv[0], reply, 5);
		assert_int_equal(reply[0], 0x81);
		for (size_t i = 0; i < 64; i++) {
			read_exact(sv[0], reply, 9);
			assert_int_equal(rap__get_be64(reply + 1), i * 4096);
			/* The file ends after 32 chunks: the rest are empty replies. */
			size_t want = i * 4096 < SAMPLE_SIZE ? 4096 : 0;
			read_exact(sv[0], reply, 5 + want);
			assert_int_equal(rap__get_be32(reply + 1), want);
			assert_memory_equal(reply + 5, e.st.f[0].data + i * 4096, want);
		}
		free(reply);
		if (variant == 0) {
			shutdown(sv[0], SHUT_WR);
			pthread_join(th, NULL);
			assert_int_equal(srv.rc, 0);
		} else {
			pthread_join(th, NULL);
			assert_int_equal(srv.rc, RAP_EPROTO);
		}
		close(sv[0]);
		close(sv[1]);
		env_close(&e);
	}
}

/* A client that hangs up with replies still to come is a hang-up, not an error. */
static void test_serve_fd_hangup(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uint8_t req[64 + 200 * 5];
	size_t n = unhex("01 05 17 2f646174612f66696c65732f73616d706c652e62696e00", req);
	for (size_t i = 0; i < 200; i++)
		n += put_read(req + n, 4096);
	assert_int_equal(rap_send_all(sv[0], req, n), 0);
	close(sv[0]);
	assert_int_equal(rap_server_session_serve_fd(e.s, sv[1]), 0);
	close(sv[1]);
	env_close(&e);
}


/* Parses the replies in e->o into packets (caller frees *v); returns the count. */
static size_t replies(struct env *e, struct pkt **v)
{
	return frame(e->o.p, e->o.n, false, v);
}

/* A CMD answered later: nothing behind it is decoded or answered until it is complete,
 * then everything goes out in request order. */
static void test_pending_cmd(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &async_handler);
	uint8_t req[512];
	size_t n = unhex("01 05 17 2f646174612f66696c65732f73616d706c652e62696e00", req);
	n += put_msg(req + n, 0x07, "later", 6);
	n += unhex("04 00 0000000000000010", req + n);
	n += put_read(req + n, 16);
	n += put_msg(req + n, 0x07, "x", 2);
	e.o.n = 0;
	assert_int_equal(drive(e.s, req, n, 0, &e.o), 0);
	assert_int_equal(e.o.n, 5); /* the OPEN only */
	assert_true(rap_server_session_pending(e.s));
	assert_false(rap_server_session_wants_input(e.s));
	assert_false(rap_server_session_done(e.s));
	assert_false(rap_server_session_release(e.s));
	assert_int_equal(e.k.ncmd, 1);
	/* More input waits too. */
	uint8_t more[16];
	size_t mn = put_msg(more, 0x07, "y", 2);
	assert_int_equal(drive(e.s, more, mn, 0, &e.o), 0);
	assert_int_equal(e.o.n, 5);
	assert_int_equal(e.k.ncmd, 1);
	/* The answer, then the rest in order. */
	char *answer = strdup("answer\n");
	assert_non_null(answer);
	assert_int_equal(rap_server_session_complete(e.s, 0, answer, false), 0);
	assert_false(rap_server_session_pending(e.s));
	drain_out(e.s, &e.o);
	struct pkt *v;
	size_t nv = replies(&e, &v);
	assert_int_equal(nv, 6);
	assert_int_equal(v[1].op, 0x87);
	assert_memory_equal(v[1].data, "answer\n", 8);
	assert_int_equal(v[2].op, 0x84);
	assert_int_equal(v[2].u64, 0x10);
	assert_int_equal(v[3].op, 0x82);
	assert_memory_equal(v[3].data, e.st.f[0].data + 0x10, 16);
	assert_memory_equal(v[4].data, "x\n", 3);
	assert_memory_equal(v[5].data, "y\n", 3);
	free(v);
	assert_true(rap_server_session_done(e.s));
	assert_true(rap_server_session_wants_input(e.s));
	/* Nothing pending: refused, and the text is freed all the same (ASan checks). */
	assert_int_equal(rap_server_session_complete(e.s, 0, strdup("stray"), false), RAP_EINVAL);
	assert_int_equal(rap_server_session_complete(NULL, 0, NULL, false), RAP_EINVAL);
	assert_false(rap_server_session_pending(NULL));
	assert_false(rap_server_session_done(NULL));
	/* A failure without text is explained; a "pending" completion is no result. */
	size_t got;
	char *t;
	for (int i = 0; i < 2; i++) {
		e.o.n = 0;
		n = put_msg(req, 0x07, "later", 6);
		assert_int_equal(drive(e.s, req, n, 0, &e.o), 0);
		assert_int_equal(e.o.n, 0);
		assert_int_equal(rap_server_session_complete(e.s, i ? RAP_PENDING : RAP_EDENIED, NULL, false), 0);
		drain_out(e.s, &e.o);
		got = e.o.n;
		t = (char *)e.o.p + 5;
		assert_true(got > 6);
		char want[128];
		snprintf(want, sizeof want, "error: command refused: %s\n",
			 rap_strerror(i ? RAP_EINVAL : RAP_EDENIED));
		assert_string_equal(t, want);
	}
	env_close(&e);
}

/* A completion from inside a handler callback of the session is refused. */
static void test_complete_from_inside(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &async_handler);
	uint8_t req[64];
	size_t n = put_msg(req, 0x07, "reenter", 8);
	assert_int_equal(drive(e.s, req, n, 0, &e.o), 0);
	assert_int_equal(e.k.reenter_rc, RAP_EINVAL);
	assert_true(rap_server_session_pending(e.s));
	assert_int_equal(e.o.n, 0);
	assert_int_equal(rap_server_session_complete(e.s, 0, strdup("late"), false), 0);
	drain_out(e.s, &e.o);
	assert_int_equal(e.o.n, 5 + 5);
	assert_memory_equal(e.o.p + 5, "late", 5);
	env_close(&e);
}

/* Held-back input that turns out malformed fails the session when the completion runs
 * it: the answer before it is still queued. */
static void test_complete_then_protocol_error(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &async_handler);
	uint8_t req[64];
	size_t n = put_msg(req, 0x07, "later", 6);
	req[n++] = 0x42;
	assert_int_equal(rap_server_session_feed(e.s, req, n), (ssize_t)n);
	assert_int_equal(rap_server_session_complete(e.s, 0, strdup("ok"), false), RAP_EPROTO);
	assert_non_null(strstr(rap_server_session_error(e.s), "0x42"));
	drain_out(e.s, &e.o);
	assert_int_equal(e.o.n, 5 + 3);
	/* A failed session with nothing queued is done: there is nothing left to answer. */
	assert_true(rap_server_session_done(e.s));
	env_close(&e);
}

/* cmd_bounded gets what the client takes: for a client without the extension a little more
 * than the 16 KiB it takes, so a stop is cut with the note; for an extended one what a
 * reply carries. The synchronous path has no checkpoint. */
static void test_cmd_bounded(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &bounded_handler);
	size_t n;
	char *t = cmd_reply(&e, "hi", &n);
	assert_string_equal(t, "hi\n");
	free(t);
	assert_int_equal(e.k.last_max, RAP_STOCK_CMD_REPLY_MAX - 1 + 256);
	assert_false(e.k.last_checkpoint);
	/* Stopped past what fits: cut, and the note says the command was stopped. */
	t = cmd_reply(&e, "stop 20000", &n);
	assert_true(n + 1 <= RAP_STOCK_CMD_REPLY_MAX);
	const char *note = strstr(t, "\n[rap: output truncated at ");
	assert_non_null(note);
	size_t shown = 0;
	int end = 0;
	assert_int_equal(sscanf(note, "\n[rap: output truncated at %zu bytes; the command was stopped there]\n%n",
				&shown, &end), 1);
	assert_int_equal(shown, (size_t)(note - t));
	assert_int_equal((size_t)(note - t) + (size_t)end, n);
	for (size_t i = 0; i < shown; i++)
		assert_int_equal(t[i], 'a' + i % 26);
	free(t);
	assert_non_null(strstr(e.k.last_log, "stopped after"));
	/* Stopped within what fits: its own text stands, no note. */
	t = cmd_reply(&e, "stop 100", &n);
	assert_int_equal(n, 100);
	free(t);
	/* Extended, with the status: the reply carries 64 MiB, less the NUL and the status. */
	ask_hex(&e, "04 ff 5241505800010003", "84 7261707800010003");
	t = cmd_reply_status(&e, "stop 10", &n, 1);
	assert_int_equal(n, 10);
	free(t);
	assert_int_equal(e.k.last_max, (64u << 20) - 5);
	/* A bounded handler may answer later too. */
	uint8_t req[64];
	size_t rn = put_msg(req, 0x07, "later", 6);
	e.o.n = 0;
	assert_int_equal(drive(e.s, req, rn, 0, &e.o), 0);
	assert_true(rap_server_session_pending(e.s));
	assert_int_equal(rap_server_session_complete(e.s, 0, strdup("done"), false), 0);
	drain_out(e.s, &e.o);
	assert_int_equal(e.o.n, 5 + 5 + 4);
	env_close(&e);
}

/* A long reply takes over the handler's buffer, behind replies already queued, and an
 * allocation failure there fails the session cleanly. */
static void test_long_reply_adopted(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &async_handler);
	open_sample(&e, false);
	ask_hex(&e, "04 ff 5241505800010001", "84 7261707800010001");
	uint8_t req[64];
	size_t n = put_read(req, 4096);
	n += put_msg(req + n, 0x07, "later", 6);
	assert_int_equal(rap_server_session_feed(e.s, req, n), (ssize_t)n);
	const size_t big = 3u << 20;
	char *text = malloc(big + 1);
	assert_non_null(text);
	for (size_t i = 0; i < big; i++)
		text[i] = (char)('A' + i % 23);
	text[big] = 0;
	/* The READ reply is still queued in front of it. */
	const uint8_t *p;
	assert_int_equal(rap_server_session_output(e.s, &p), 5 + 4096);
	assert_int_equal(rap_server_session_complete(e.s, 0, text, false), 0);
	e.o.n = 0;
	drain_out(e.s, &e.o);
	struct pkt *v;
	assert_int_equal(replies(&e, &v), 2);
	assert_int_equal(v[0].len, 4096);
	assert_memory_equal(v[0].data, e.st.f[0].data, 4096);
	assert_int_equal(v[1].len, big + 1);
	for (size_t i = 0; i < big; i += 4099)
		assert_int_equal(v[1].data[i], 'A' + i % 23);
	assert_int_equal(v[1].data[big], 0);
	free(v);
	/* Out of memory for it: the session fails, saying so. */
	n = put_msg(req, 0x07, "later", 6);
	assert_int_equal(rap_server_session_feed(e.s, req, n), (ssize_t)n);
	text = malloc(big + 1);
	assert_non_null(text);
	memset(text, 'z', big);
	text[big] = 0;
	rap__alloc_fail_after(0);
	int rc = rap_server_session_complete(e.s, 0, text, false);
	rap__alloc_fail_after(-1);
	assert_int_equal(rc, RAP_ENOMEM);
	assert_non_null(strstr(rap_server_session_error(e.s), "memory"));
	env_close(&e);
}

/* serve_fd runs everything in its own thread: a handler that answers later cannot be
 * served, and the client is told nothing more (the replies before still go out). */
static void test_serve_fd_refuses_pending(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &async_handler);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uint8_t req[64];
	size_t n = put_msg(req, 0x07, "x", 2);
	n += put_msg(req + n, 0x07, "later", 6);
	assert_int_equal(rap_send_all(sv[0], req, n), 0);
	assert_int_equal(rap_server_session_serve_fd(e.s, sv[1]), RAP_EINVAL);
	uint8_t reply[16];
	read_exact(sv[0], reply, 8);
	assert_memory_equal(reply, "\x87\0\0\0\x03x\n\0", 8);
	assert_non_null(strstr(e.k.last_log, "RAP_PENDING"));
	close(sv[0]);
	close(sv[1]);
	env_close(&e);
}

/* A client that sends its requests and shuts down its side at once still gets every
 * reply. */
static void test_serve_fd_half_close(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uint8_t req[128];
	size_t n = unhex("01 05 17 2f646174612f66696c65732f73616d706c652e62696e00", req);
	n += put_read(req + n, 16);
	n += put_msg(req + n, 0x07, "bye", 4);
	assert_int_equal(rap_send_all(sv[0], req, n), 0);
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(rap_server_session_serve_fd(e.s, sv[1]), 0);
	uint8_t reply[64];
	read_exact(sv[0], reply, 5 + 21 + 10);
	assert_int_equal(reply[0], 0x81);
	assert_memory_equal(reply + 5 + 5, e.st.f[0].data, 16);
	assert_memory_equal(reply + 26, "\x87\0\0\0\x05" "bye\n", 10);
	close(sv[0]);
	close(sv[1]);
	env_close(&e);
}

static void test_alloc_failure(void **state)
{
	(void)state;
	uint8_t req[256];
	size_t n = unhex("01 07 1a 2f646174612f66696c65732f73616d706c652d72772e62696e00"
			 "04 ff 5241505800010001 02 00010000 03 00000002 4142"
			 "07 0000000a 62696720323030303000", req);
	bool reached_end = false;
	for (long fail_at = 0; fail_at < 64 && !reached_end; fail_at++) {
		struct store st;
		store_init(&st);
		struct fake k;
		fake_init(&k, &st);
		rap__alloc_fail_after(fail_at);
		struct rap_server_session *s = NULL;
		int rc = rap_server_session_new(&handler, &k, &s);
		if (rc < 0) {
			assert_int_equal(rc, RAP_ENOMEM);
			assert_null(s);
		} else {
			struct outbuf o = { 0 };
			rc = drive(s, req, n, 0, &o);
			if (rc != 0 && rc != RAP_ENOMEM)
				print_error("fail_at %ld: rc %d (%s)\n", fail_at, rc,
					    rap_server_session_error(s));
			assert_true(rc == 0 || rc == RAP_ENOMEM);
			if (rc < 0)
				assert_non_null(strstr(rap_server_session_error(s), "memory"));
			reached_end = rc == 0;
			rap_server_session_free(s);
			free(o.p);
		}
		rap__alloc_fail_after(-1);
		store_free(&st);
	}
	assert_true(reached_end);
}

bool rap_server_session_busy(const struct rap_server_session *s); /* server_session.c, not public */

/* busy: a request is half received, or requests wait behind unsent replies. */
static void test_busy(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	assert_false(rap_server_session_busy(e.s));
	assert_int_equal(rap_server_session_feed(e.s, (const uint8_t *)"\x04\x01\0\0", 4), 4);
	assert_true(rap_server_session_busy(e.s));
	assert_int_equal(rap_server_session_feed(e.s, (const uint8_t *)"\0\0\0\0\0\0", 6), 6);
	assert_false(rap_server_session_busy(e.s));
	drain_out(e.s, &e.o);
	open_sample(&e, false);
	uint8_t req[100 * 5];
	for (size_t i = 0; i < 100; i++)
		put_read(req + 5 * i, 4096);
	assert_int_equal(rap_server_session_feed(e.s, req, sizeof req), (ssize_t)sizeof req);
	assert_true(rap_server_session_busy(e.s));
	drain_out(e.s, &e.o);
	assert_false(rap_server_session_busy(e.s));
	assert_false(rap_server_session_busy(NULL));
	env_close(&e);
}

static void test_release(void **state)
{
	(void)state;
	struct env e;
	env_open(&e);
	open_sample(&e, false);
	/* A queued reply or a half-received request keeps the buffers. */
	uint8_t req[5];
	put_read(req, 4096);
	assert_int_equal(rap_server_session_feed(e.s, req, sizeof req), (ssize_t)sizeof req);
	assert_false(rap_server_session_release(e.s));
	drain_out(e.s, &e.o);
	assert_int_equal(rap_server_session_feed(e.s, (const uint8_t *)"\x04\x00\0", 3), 3);
	assert_false(rap_server_session_release(e.s));
	assert_int_equal(rap_server_session_feed(e.s, (const uint8_t *)"\0\0\0\0\0\0\x10", 7), 7);
	drain_out(e.s, &e.o);
	/* Idle: released, and the session works as before (buffers grow back). */
	assert_true(rap_server_session_release(e.s));
	e.o.n = 0;
	assert_int_equal(rap_server_session_feed(e.s, req, sizeof req), (ssize_t)sizeof req);
	drain_out(e.s, &e.o);
	assert_int_equal(e.o.n, 5 + 4096);
	assert_memory_equal(e.o.p + 5, "@00000010|rap2!\n", 16);
	uint8_t big[5 + 3000];
	memset(big + 5, 'Y', 3000);
	size_t n = put_msg(big, 0x07, NULL, 3000);
	big[n - 1] = '\0';
	assert_true(rap_server_session_release(e.s));
	assert_int_equal(rap_server_session_feed(e.s, big, n), (ssize_t)n);
	drain_out(e.s, &e.o);
	assert_true(rap_server_session_release(e.s));
	assert_false(rap_server_session_release(NULL));
	env_close(&e);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct rap_server_session *s = (void *)1;
	assert_int_equal(rap_server_session_new(NULL, NULL, &s), RAP_EINVAL);
	assert_null(s);
	struct rap_server_handler h = handler;
	h.cmd = NULL;
	assert_int_equal(rap_server_session_new(&h, NULL, &s), RAP_EINVAL);
	h = handler;
	h.log = NULL; /* optional */
	struct fake k;
	struct store st;
	store_init(&st);
	fake_init(&k, &st);
	assert_int_equal(rap_server_session_new(&h, &k, &s), 0);
	assert_int_equal(rap_server_session_set_max_payload(s, 0), RAP_EINVAL);
	assert_int_equal(rap_server_session_feed(s, NULL, 1), RAP_EINVAL);
	assert_int_equal(rap_server_session_feed(s, NULL, 0), 0);
	const uint8_t *p = (const uint8_t *)"x";
	assert_int_equal(rap_server_session_output(s, &p), 0);
	rap_server_session_consume(s, 10);
	assert_int_equal(rap_server_session_serve_fd(s, -1), RAP_EINVAL);
	/* No log callback: refusals still work. */
	uint8_t req[8];
	size_t n = put_msg(req, 0x03, NULL, 0);
	n = (size_t)rap_server_session_feed(s, req, n);
	assert_int_equal(n, 5);
	rap_server_session_free(s);
	rap_server_session_free(NULL);
	store_free(&st);
}


/* ---- the extension's messages ------------------------------------------------------- */

/* A request of op with body[0..n) (extension framing). */
static size_t put_ext(uint8_t *p, uint8_t op, const void *body, uint32_t n)
{
	p[0] = op;
	rap__put_be32(p + 1, n);
	if (n)
		memcpy(p + 5, body, n);
	return 5 + n;
}

static size_t put_pread(uint8_t *p, int32_t fd, uint64_t off, uint32_t count)
{
	uint8_t b[16];
	rap__put_be32(b, (uint32_t)fd);
	rap__put_be64(b + 4, off);
	rap__put_be32(b + 12, count);
	return put_ext(p, 0x11, b, 16);
}

static size_t put_fd_msg(uint8_t *p, uint8_t op, int32_t fd)
{
	uint8_t b[4];
	rap__put_be32(b, (uint32_t)fd);
	return put_ext(p, op, b, 4);
}

static size_t put_xopen(uint8_t *p, const char *path, uint8_t perm)
{
	size_t n = strlen(path);
	p[0] = 0x10;
	rap__put_be32(p + 1, (uint32_t)(n + 1));
	p[5] = perm;
	memcpy(p + 6, path, n);
	return 6 + n;
}

/* One extension reply at *out (advanced past it): its opcode must be op; returns the
 * status, with the body after it in *body, *blen. */
static int32_t take_ext(const uint8_t **out, size_t *left, uint8_t op, const uint8_t **body, size_t *blen)
{
	assert_true(*left >= 9);
	const uint8_t *p = *out;
	if (p[0] != op)
		print_error("reply opcode 0x%02x, expected 0x%02x\n", p[0], op);
	assert_int_equal(p[0], op);
	uint32_t n = rap__get_be32(p + 1);
	assert_true(n >= 4 && 5 + (size_t)n <= *left);
	*body = p + 9;
	*blen = n - 4;
	*out += 5 + n;
	*left -= 5 + n;
	return (int32_t)rap__get_be32(p + 5);
}

/* The single extension reply to req: its status, the body copied into a static buffer. */
static int32_t ask_ext(struct env *e, const uint8_t *req, size_t n, uint8_t op, const uint8_t **body, size_t *blen)
{
	size_t got;
	const uint8_t *out = ask(e, req, n, &got);
	int32_t st = take_ext(&out, &got, op, body, blen);
	assert_int_equal(got, 0);
	return st;
}

/* An extension error reply: the status is err, the message contains text. */
static void expect_ext_error(struct env *e, const uint8_t *req, size_t n, uint8_t op, int32_t err, const char *text)
{
	const uint8_t *body;
	size_t blen;
	int32_t st = ask_ext(e, req, n, op, &body, &blen);
	char msg[RAP_ERROR_TEXT_MAX + 1];
	assert_true(blen <= RAP_ERROR_TEXT_MAX);
	memcpy(msg, body, blen);
	msg[blen] = 0;
	if (st != err || !strstr(msg, text))
		print_error("status %d '%s', expected %d '...%s...'\n", st, msg, err, text);
	assert_int_equal(st, err);
	assert_non_null(strstr(msg, text));
}

static void probe_v2(struct env *e, const char *want_answer)
{
	ask_hex(e, "04 ff 524150580002001f", want_answer);
}

static int32_t xopen(struct env *e, const char *path, uint8_t perm)
{
	uint8_t req[600];
	const uint8_t *body;
	size_t blen;
	int32_t st = ask_ext(e, req, put_xopen(req, path, perm), 0x90, &body, &blen);
	assert_int_equal(st, 0);
	assert_int_equal(blen, 4);
	return (int32_t)rap__get_be32(body);
}

static void test_ext_probe(void **state)
{
	(void)state;
	struct env e;
	/* A handler with the fd-addressed callbacks: version 2 grants 0x0008 as well. */
	env_open_with(&e, &ext_handler);
	probe_v2(&e, "84 726170780002000f");
	/* Version 1 clients never get it; a later version gets 2. */
	ask_hex(&e, "04 ff 524150580001000f", "84 7261707800010007");
	ask_hex(&e, "04 ff 52415058000900ff", "84 726170780002000f");
	/* Asking for the extension alone. */
	ask_hex(&e, "04 ff 5241505800020008", "84 7261707800020008");
	env_close(&e);
	/* Without them: bits 0-2 only, and no authentication bit without a secret. */
	env_open(&e);
	probe_v2(&e, "84 7261707800020007");
	/* The extension's opcodes are then unknown, as to a stock server: the peer is dropped. */
	uint8_t req[64];
	size_t n = put_fd_msg(req, 0x13, 3);
	e.o.n = 0;
	assert_int_equal(drive(e.s, req, n, 0, &e.o), RAP_EPROTO);
	assert_string_equal(rap_server_session_error(e.s), "unknown opcode 0x13");
	env_close(&e);
	/* Before any probe, likewise. */
	env_open_with(&e, &ext_handler);
	e.o.n = 0;
	assert_int_equal(drive(e.s, req, n, 0, &e.o), RAP_EPROTO);
	env_close(&e);
}

static void test_ext_open_read_write(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &ext_handler);
	probe_v2(&e, "84 726170780002000f");
	int32_t ro = xopen(&e, "/data/files/sample.bin", 5);
	int32_t rw = xopen(&e, "/data/files/sample-rw.bin", 7);
	assert_int_equal(ro, FD_BASE);
	assert_int_equal(rw, FD_BASE + 1);
	/* 2 MiB: static, not on the stack (valgrind's main stack is smaller than glibc's). */
	static uint8_t req[2 * 1024 * 1024];
	const uint8_t *body;
	size_t blen;
	/* One connection, two files, addressed in turn: no SEEK, and the fd is honoured. */
	memcpy(e.st.f[1].data + 0x100, "OTHER", 5);
	assert_int_equal(ask_ext(&e, req, put_pread(req, ro, 0x100, 16), 0x91, &body, &blen), 0);
	assert_int_equal(blen, 16);
	assert_memory_equal(body, e.st.f[0].data + 0x100, 16);
	assert_int_equal(ask_ext(&e, req, put_pread(req, rw, 0x100, 5), 0x91, &body, &blen), 0);
	assert_memory_equal(body, "OTHER", 5);
	/* 1 MiB in one message; short at the end; empty past it. */
	assert_int_equal(ask_ext(&e, req, put_pread(req, ro, 0x10, 1u << 20), 0x91, &body, &blen), 0);
	assert_int_equal(blen, SAMPLE_SIZE - 0x10);
	assert_memory_equal(body, e.st.f[0].data + 0x10, blen);
	assert_int_equal(ask_ext(&e, req, put_pread(req, ro, SAMPLE_SIZE + 5, 100), 0x91, &body, &blen), 0);
	assert_int_equal(blen, 0);
	assert_int_equal(ask_ext(&e, req, put_pread(req, ro, 0, 0), 0x91, &body, &blen), 0);
	assert_int_equal(blen, 0);
	/* Errors, each with its code and a message. */
	expect_ext_error(&e, req, put_pread(req, 77, 0, 16), 0x91, RAP_EBADFD, "cannot read fd 77 at 0x0: no such descriptor");
	expect_ext_error(&e, req, put_pread(req, ro, 0, (1u << 20) + 1), 0x91, RAP_ETOOBIG, "PREAD of 1048577 bytes (at most 1048576)");

	/* PWRITE: a count, or the reason. */
	uint8_t b[64];
	rap__put_be32(b, (uint32_t)rw);
	rap__put_be64(b + 4, 0x20);
	memcpy(b + 12, "written!", 8);
	assert_int_equal(ask_ext(&e, req, put_ext(req, 0x12, b, 20), 0x92, &body, &blen), 0);
	assert_int_equal(blen, 4);
	assert_int_equal(rap__get_be32(body), 8);
	assert_memory_equal(e.st.f[1].data + 0x20, "written!", 8);
	/* Short at the end of the file: the count says so. */
	rap__put_be64(b + 4, SAMPLE_SIZE - 3);
	assert_int_equal(ask_ext(&e, req, put_ext(req, 0x12, b, 20), 0x92, &body, &blen), 0);
	assert_int_equal(rap__get_be32(body), 3);
	rap__put_be64(b + 4, SAMPLE_SIZE);
	expect_ext_error(&e, req, put_ext(req, 0x12, b, 20), 0x92, -28, "cannot write fd 101 at 0x20000: No space left");
	rap__put_be32(b, (uint32_t)ro);
	rap__put_be64(b + 4, 0);
	expect_ext_error(&e, req, put_ext(req, 0x12, b, 20), 0x92, RAP_EDENIED, "cannot write fd 100 at 0x0: refused by policy");
	assert_memory_equal(e.st.f[0].data, "@00000000|rap2!\n", 16);
	rap__put_be32(b, (uint32_t)rw);
	memcpy(b + 12, "EIO", 3);
	expect_ext_error(&e, req, put_ext(req, 0x12, b, 15), 0x92, -5, strerror(EIO));
	/* Nothing to write: 0, the handler not asked. */
	assert_int_equal(ask_ext(&e, req, put_ext(req, 0x12, b, 12), 0x92, &body, &blen), 0);
	assert_int_equal(rap__get_be32(body), 0);
	/* Over the limit (1 MiB with the extension): drained and refused, the stream in step. */
	size_t big = (1u << 20) + 1;
	rap__put_be32(req + 5, (uint32_t)rw);
	rap__put_be64(req + 9, 0);
	req[0] = 0x12;
	rap__put_be32(req + 1, (uint32_t)(12 + big));
	memset(req + 17, 'z', big);
	size_t n = 17 + big;
	n += put_fd_msg(req + n, 0x13, rw);
	size_t got;
	const uint8_t *out = ask(&e, req, n, &got);
	char msg[128];
	int32_t st = take_ext(&out, &got, 0x92, &body, &blen);
	assert_int_equal(st, RAP_ETOOBIG);
	snprintf(msg, sizeof msg, "%.*s", (int)blen, (const char *)body);
	assert_string_equal(msg, "PWRITE of 1048577 bytes (at most 1048576): length exceeds the configured limit");
	assert_int_equal(take_ext(&out, &got, 0x93, &body, &blen), 0);
	assert_int_equal(got, 0);
	assert_int_equal(e.st.f[1].data[0], '@');
	env_close(&e);
}

static void test_ext_open_stat_close(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &ext_handler);
	probe_v2(&e, "84 726170780002000f");
	uint8_t req[8192];
	const uint8_t *body;
	size_t blen;
	expect_ext_error(&e, req, put_xopen(req, "/missing", 5), 0x90, RAP_EBADFD, "cannot open '/missing': no such descriptor");
	/* A path with a NUL; a path no file system takes; an empty one. */
	size_t n = put_xopen(req, "/data/files/sample.bin", 5);
	req[10] = 0;
	expect_ext_error(&e, req, n, 0x90, RAP_EINVAL, "path holds a NUL byte");
	char longp[4097];
	memset(longp, 'a', 4096);
	longp[4096] = 0;
	expect_ext_error(&e, req, put_xopen(req, longp, 5), 0x90, -36, "path of 4096 bytes (at most 4095)");
	expect_ext_error(&e, req, put_xopen(req, "", 5), 0x90, RAP_EBADFD, "cannot open ''");

	int32_t fd = xopen(&e, "/data/files/sample-rw.bin", 7);
	int32_t st = ask_ext(&e, req, put_fd_msg(req, 0x13, fd), 0x93, &body, &blen);
	assert_int_equal(st, 0);
	struct rap_stat s;
	assert_int_equal(rap_stat_parse(body, blen, &s), 0);
	assert_int_equal(s.size, SAMPLE_SIZE);
	assert_int_equal(s.perm, RAP_PERM_RW);
	assert_int_equal(s.kind, RAP_KIND_FILE);
	assert_string_equal(s.name, "/data/files/sample-rw.bin");
	expect_ext_error(&e, req, put_fd_msg(req, 0x13, 5), 0x93, RAP_EBADFD, "cannot describe fd 5");
	/* Close: 0, then the fd is gone. */
	assert_int_equal(ask_ext(&e, req, put_fd_msg(req, 0x14, fd), 0x94, &body, &blen), 0);
	assert_int_equal(blen, 0);
	expect_ext_error(&e, req, put_fd_msg(req, 0x14, fd), 0x94, RAP_EBADFD, "cannot close fd 100");
	expect_ext_error(&e, req, put_fd_msg(req, 0x13, fd), 0x93, RAP_EBADFD, "cannot describe fd 100");
	/* Stock messages still work beside them. */
	ask_hex(&e, "04 02 0000000000000000", "84 0000000000000000");
	env_close(&e);
}

/* Reads a XCMD's chunks and final frame from out; returns the status, the output joined
 * (heap) in *text, and the chunk count in *chunks. */
static int32_t take_xcmd(const uint8_t **out, size_t *left, char **text, size_t *textlen, size_t *chunks)
{
	struct outbuf all = { 0 };
	*chunks = 0;
	for (;;) {
		const uint8_t *body;
		size_t blen;
		assert_true(*left >= 9);
		if ((*out)[0] == 0x95) {
			int32_t st = take_ext(out, left, 0x95, &body, &blen);
			if (st >= 0)
				assert_int_equal(blen, 0);
			out_add(&all, (const uint8_t *)"", 1);
			all.n--;
			*text = (char *)all.p;
			*textlen = all.n;
			if (st < 0) {
				/* the message instead of output */
				free(all.p);
				*text = malloc(blen + 1);
				assert_non_null(*text);
				memcpy(*text, body, blen);
				(*text)[blen] = 0;
				*textlen = blen;
			}
			return st;
		}
		assert_int_equal(take_ext(out, left, 0x98, &body, &blen), 0);
		assert_true(blen > 0 && blen <= 65536);
		out_add(&all, body, blen);
		(*chunks)++;
	}
}

static int32_t xcmd(struct env *e, const char *cmd, char **text, size_t *textlen, size_t *chunks)
{
	uint8_t req[256];
	size_t got;
	const uint8_t *out = ask(e, req, put_ext(req, 0x15, cmd, (uint32_t)strlen(cmd)), &got);
	int32_t st = take_xcmd(&out, &got, text, textlen, chunks);
	assert_int_equal(got, 0);
	return st;
}

static void test_ext_cmd(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &ext_handler);
	probe_v2(&e, "84 726170780002000f");
	char *t;
	size_t tl, chunks;
	assert_int_equal(xcmd(&e, "?V", &t, &tl, &chunks), 0);
	assert_string_equal(t, "?V\n");
	assert_int_equal(chunks, 1);
	free(t);
	/* No output: only the final frame. */
	assert_int_equal(xcmd(&e, "null", &t, &tl, &chunks), 0);
	assert_int_equal(tl, 0);
	assert_int_equal(chunks, 0);
	free(t);
	/* A failure with its explanation: the text, then status 1. */
	assert_int_equal(xcmd(&e, "deny-text", &t, &tl, &chunks), 1);
	assert_string_equal(t, "error: not allowed here\n");
	free(t);
	/* A refusal without text: an error status and a message. */
	assert_int_equal(xcmd(&e, "deny", &t, &tl, &chunks), RAP_EDENIED);
	assert_string_equal(t, "command refused: refused by policy");
	free(t);
	/* Far past the 16 KiB cliff, in 64 KiB chunks: no cut, no note. */
	assert_int_equal(xcmd(&e, "big 200000", &t, &tl, &chunks), 0);
	assert_int_equal(tl, 200000);
	assert_int_equal(chunks, 4);
	for (size_t i = 0; i < tl; i++)
		if (t[i] != (char)('a' + i % 26))
			fail_msg("byte %zu of the output differs", i);
	free(t);
	/* Empty and NUL-holding commands. */
	uint8_t req[64];
	expect_ext_error(&e, req, put_ext(req, 0x15, NULL, 0), 0x95, RAP_EINVAL, "empty command");
	expect_ext_error(&e, req, put_ext(req, 0x15, "a\0b", 3), 0x95, RAP_EINVAL, "command holds a NUL byte");
	env_close(&e);

	/* A bounded handler is asked for everything the server allows; its stop note stays. */
	env_open_with(&e, &ext_bounded_handler);
	probe_v2(&e, "84 726170780002000f");
	assert_int_equal(xcmd(&e, "stop 100", &t, &tl, &chunks), 1);
	assert_int_equal(tl, 100);
	/* 1 TiB, or SIZE_MAX where size_t has 32 bits (armhf, mips). */
	uint64_t tib = (uint64_t)1 << 40;
	assert_true(e.k.last_max == (size_t)(tib < SIZE_MAX ? tib : SIZE_MAX));
	assert_true(e.k.last_max >= (size_t)UINT32_MAX);
	free(t);
	env_close(&e);
}

/* A XCMD answered later, its output framed as the caller takes it: the queue stays under
 * its mark, and the requests behind it wait for the final frame. */
static void test_ext_cmd_streamed(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &ext_handler);
	probe_v2(&e, "84 726170780002000f");
	int32_t fd = xopen(&e, "/data/files/sample.bin", 5);
	uint8_t req[128];
	size_t n = put_ext(req, 0x15, "later", 5);
	n += put_pread(req + n, fd, 0, 4);
	assert_int_equal(rap_server_session_feed(e.s, req, n), (ssize_t)n);
	assert_true(rap_server_session_pending(e.s));
	const uint8_t *p;
	assert_int_equal(rap_server_session_output(e.s, &p), 0);
	size_t total = 8u << 20; /* 8 MiB: 32 times the queue's mark */
	char *big = malloc(total + 1);
	assert_non_null(big);
	for (size_t i = 0; i < total; i++)
		big[i] = (char)('A' + i % 23);
	big[total] = 0;
	assert_int_equal(rap_server_session_complete(e.s, 0, big, false), 0);
	assert_false(rap_server_session_pending(e.s));
	assert_false(rap_server_session_wants_input(e.s));
	assert_false(rap_server_session_done(e.s));
	/* Taken in odd pieces; never much more than the mark queued. */
	struct outbuf o = { 0 };
	size_t peak = 0, rounds = 0;
	for (;;) {
		size_t q = rap_server_session_output(e.s, &p);
		if (!q)
			break;
		assert_true(rap_server_session_buffered(e.s) >= q);
		if (q > peak)
			peak = q;
		size_t take = q > 100003 ? 100003 : q;
		out_add(&o, p, take);
		rap_server_session_consume(e.s, take);
		assert_true(++rounds < 100000);
	}
	assert_true(peak < (256u << 10) + 70000);
	assert_true(rap_server_session_done(e.s));
	assert_int_equal(rap_server_session_buffered(e.s), 0);
	const uint8_t *out = o.p;
	size_t left = o.n;
	char *t;
	size_t tl, chunks;
	assert_int_equal(take_xcmd(&out, &left, &t, &tl, &chunks), 0);
	assert_int_equal(tl, total);
	assert_int_equal(chunks, total / 65536);
	for (size_t i = 0; i < total; i += 4099)
		assert_int_equal(t[i], (char)('A' + i % 23));
	free(t);
	/* Then the PREAD held back behind it. */
	const uint8_t *body;
	size_t blen;
	assert_int_equal(take_ext(&out, &left, 0x91, &body, &blen), 0);
	assert_memory_equal(body, "@000", 4);
	assert_int_equal(left, 0);
	free(o.p);

	/* A pending XCMD refused without output: the error frame, no chunk. */
	n = put_ext(req, 0x15, "later x", 7);
	assert_int_equal(rap_server_session_feed(e.s, req, n), (ssize_t)n);
	assert_int_equal(rap_server_session_complete(e.s, RAP_EDENIED, NULL, false), 0);
	e.o.n = 0;
	drain_out(e.s, &e.o);
	out = e.o.p;
	left = e.o.n;
	assert_int_equal(take_xcmd(&out, &left, &t, &tl, &chunks), RAP_EDENIED);
	assert_int_equal(chunks, 0);
	free(t);
	/* A session freed in the middle of a stream frees the output. */
	n = put_ext(req, 0x15, "later y", 7);
	assert_int_equal(rap_server_session_feed(e.s, req, n), (ssize_t)n);
	big = malloc(1u << 20);
	assert_non_null(big);
	memset(big, 'q', (1u << 20) - 1);
	big[(1u << 20) - 1] = 0;
	assert_int_equal(rap_server_session_complete(e.s, 0, big, false), 0);
	assert_false(rap_server_session_release(e.s));
	env_close(&e);
}

/* Malformed or misplaced extension messages drop the peer with the decoder's reason. */
static void test_ext_dropped(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &ext_handler);
	probe_v2(&e, "84 726170780002000f");
	uint8_t req[64];
	size_t n = unhex("11 0000000f 00000003 0000000000000000 000010", req);
	e.o.n = 0;
	assert_int_equal(drive(e.s, req, n, 0, &e.o), RAP_EPROTO);
	assert_string_equal(rap_server_session_error(e.s), "0x11 with a 15-byte body (16 expected)");
	assert_string_equal(e.k.last_log, "dropping client: 0x11 with a 15-byte body (16 expected)");
	env_close(&e);
	/* A version 1 session never decodes them. */
	env_open_with(&e, &ext_handler);
	ask_hex(&e, "04 ff 5241505800010007", "84 7261707800010007");
	n = put_fd_msg(req, 0x13, 3);
	e.o.n = 0;
	assert_int_equal(drive(e.s, req, n, 0, &e.o), RAP_EPROTO);
	env_close(&e);
}

/* ---- authentication ------------------------------------------------------------------ */

#define TEST_SECRET "correct horse battery staple"

#if RAP_TEST_HAVE_OPENSSL

static struct rap_secret *test_secret(const char *text)
{
	struct rap_secret *sec = NULL;
	assert_int_equal(rap_secret_new(text, strlen(text), &sec), 0);
	return sec;
}

/* The client's side of a handshake against e: the bytes it sent (into sent, may be NULL)
 * and whether the server's proof checked out. */
static bool handshake(struct env *e, const struct rap_secret *sec, struct outbuf *sent)
{
	uint8_t nc[32], ns[32], mine[32], theirs[32], req[64];
	assert_int_equal(rap__auth_nonce(nc), 0);
	size_t n = put_ext(req, 0x16, nc, 32);
	if (sent)
		out_add(sent, req, n);
	const uint8_t *body;
	size_t blen;
	assert_int_equal(ask_ext(e, req, n, 0x96, &body, &blen), 0);
	assert_int_equal(blen, 32);
	memcpy(ns, body, 32);
	assert_int_equal(rap__auth_proof(sec, false, ns, nc, mine), 0);
	n = put_ext(req, 0x17, mine, 32);
	if (sent)
		out_add(sent, req, n);
	int32_t st = ask_ext(e, req, n, 0x97, &body, &blen);
	if (st != 0)
		return false;
	assert_int_equal(blen, 32);
	assert_int_equal(rap__auth_proof(sec, true, ns, nc, theirs), 0);
	return memcmp(body, theirs, 32) == 0;
}

static void env_open_auth(struct env *e, const struct rap_server_handler *h, const struct rap_secret *sec)
{
	env_open_with(e, h);
	assert_false(rap_server_session_closing(e->s));
	assert_true(rap_server_session_authenticated(e->s));
	assert_int_equal(rap_server_session_require_auth(e->s, sec), 0);
	assert_false(rap_server_session_authenticated(e->s));
}

/* After a refusal nothing more is answered, and the session says it is ending. */
static void expect_closed(struct env *e, const char *log_part)
{
	assert_true(rap_server_session_closing(e->s));
	assert_false(rap_server_session_wants_input(e->s));
	if (!strstr(e->k.last_log, log_part))
		fail_msg("log '%s' lacks '%s'", e->k.last_log, log_part);
	uint8_t req[16];
	size_t n, got;
	ask(e, req, (n = unhex("04 01 0000000000000000", req)), &got);
	assert_int_equal(got, 0);
	assert_true(rap_server_session_done(e->s));
}

static void test_auth_handshake(void **state)
{
	(void)state;
	struct rap_secret *sec = test_secret(TEST_SECRET);
	struct env e;
	env_open_auth(&e, &ext_handler, sec);
	probe_v2(&e, "84 726170780002001f");
	assert_true(handshake(&e, sec, NULL));
	assert_true(rap_server_session_authenticated(e.s));
	assert_string_equal(e.k.last_log, "client authenticated");
	/* Now everything works, stock requests included. */
	int32_t fd = xopen(&e, "/data/files/sample.bin", 5);
	assert_int_equal(fd, FD_BASE);
	open_sample(&e, false);
	/* A proof or a hello after success: refused, the session ends. */
	uint8_t req[64];
	expect_ext_error(&e, req, put_ext(req, 0x17, TEST_SECRET "0123", 32), 0x97, RAP_EAUTH, "already authenticated");
	expect_closed(&e, "after the client authenticated");
	env_close(&e);

	/* Between the hello and the proof the client is not authenticated yet. */
	env_open_auth(&e, &ext_handler, sec);
	probe_v2(&e, "84 726170780002001f");
	const uint8_t *body;
	size_t blen;
	assert_int_equal(ask_ext(&e, req, put_ext(req, 0x16, TEST_SECRET "0123", 32), 0x96, &body, &blen), 0);
	assert_int_equal(blen, 32);
	ask_hex(&e, "01 05 08 2f62696e2f6c7300", "81 ffffffff");
	expect_closed(&e, "OPEN refused (the client did not authenticate)");
	env_close(&e);
	rap_secret_free(sec);
}

static void test_auth_failures(void **state)
{
	(void)state;
	struct rap_secret *sec = test_secret(TEST_SECRET);
	struct rap_secret *wrong = test_secret(TEST_SECRET "!");
	struct env e;
	/* The wrong secret: refused, logged, closed; no server proof given away. */
	env_open_auth(&e, &ext_handler, sec);
	probe_v2(&e, "84 726170780002001f");
	assert_false(handshake(&e, wrong, NULL));
	assert_false(rap_server_session_authenticated(e.s));
	expect_closed(&e, "authentication failed: wrong secret, or a replayed handshake");
	env_close(&e);

	/* A recorded successful handshake, replayed to a new connection: the server's nonce
	 * is fresh, so the recorded proof is wrong. */
	struct outbuf rec = { 0 };
	env_open_auth(&e, &ext_handler, sec);
	probe_v2(&e, "84 726170780002001f");
	assert_true(handshake(&e, sec, &rec));
	env_close(&e);
	env_open_auth(&e, &ext_handler, sec);
	probe_v2(&e, "84 726170780002001f");
	size_t got;
	const uint8_t *out = ask(&e, rec.p, rec.n, &got);
	const uint8_t *body;
	size_t blen;
	assert_int_equal(take_ext(&out, &got, 0x96, &body, &blen), 0);
	assert_int_equal(take_ext(&out, &got, 0x97, &body, &blen), RAP_EAUTH);
	assert_int_equal(got, 0);
	expect_closed(&e, "authentication failed");
	env_close(&e);
	free(rec.p);

	/* A proof without a hello; two hellos. */
	uint8_t req[128];
	env_open_auth(&e, &ext_handler, sec);
	probe_v2(&e, "84 726170780002001f");
	expect_ext_error(&e, req, put_ext(req, 0x17, TEST_SECRET "0123", 32), 0x97, RAP_EAUTH, "no challenge");
	expect_closed(&e, "a proof without a challenge");
	env_close(&e);
	env_open_auth(&e, &ext_handler, sec);
	probe_v2(&e, "84 726170780002001f");
	size_t n = put_ext(req, 0x16, TEST_SECRET "0123", 32);
	n += put_ext(req + n, 0x16, TEST_SECRET "0123", 32);
	out = ask(&e, req, n, &got);
	assert_int_equal(take_ext(&out, &got, 0x96, &body, &blen), 0);
	assert_int_equal(take_ext(&out, &got, 0x96, &body, &blen), RAP_EAUTH);
	assert_int_equal(got, 0);
	expect_closed(&e, "a second handshake");
	env_close(&e);

	/* A hello to a server that does not authenticate: told so, and kept. */
	env_open_with(&e, &ext_handler);
	probe_v2(&e, "84 726170780002000f");
	expect_ext_error(&e, req, put_ext(req, 0x16, TEST_SECRET "0123", 32), 0x96, RAP_ENOTSUP, "does not authenticate");
	expect_ext_error(&e, req, put_ext(req, 0x17, TEST_SECRET "0123", 32), 0x97, RAP_ENOTSUP, "does not authenticate");
	assert_false(rap_server_session_closing(e.s));
	env_close(&e);

	/* Authentication without the extension messages (a handler without them): the
	 * handshake works, and a PREAD is a protocol error. */
	env_open_auth(&e, &handler, sec);
	probe_v2(&e, "84 7261707800020017");
	assert_true(handshake(&e, sec, NULL));
	n = put_pread(req, 3, 0, 4);
	e.o.n = 0;
	assert_int_equal(drive(e.s, req, n, 0, &e.o), RAP_EPROTO);
	assert_string_equal(rap_server_session_error(e.s), "extension message 0x11 without the capability");
	env_close(&e);
	assert_int_equal(rap_server_session_require_auth(NULL, sec), RAP_EINVAL);
	rap_secret_free(sec);
	rap_secret_free(wrong);
}

/* Requests before authentication: each gets what a stock client takes for a failure, the
 * session ends, and the log says why. */
static void test_auth_required(void **state)
{
	(void)state;
	struct rap_secret *sec = test_secret(TEST_SECRET);
	static const struct {
		const char *req, *reply;
	} stock[] = {
		{ "01 05 08 2f62696e2f6c7300", "81 ffffffff" },
		{ "02 00000010", "82 00000000" },
		{ "03 00000001 41", "83 00000000" },
		{ "04 00 0000000000000100", "84 0000000000000000" },
		{ "04 01 0000000000000000", "84 0000000000000000" },
		{ "05 00000003", "85 ffffffff" },
		{ "07 00000000", "87 00000000" },
	};
	struct env e;
	for (size_t i = 0; i < sizeof(stock) / sizeof(stock[0]); i++) {
		env_open_auth(&e, &ext_handler, sec);
		/* A stock client, pipelining: one refusal, nothing after it. */
		uint8_t req[64];
		size_t n = unhex(stock[i].req, req);
		n += unhex("02 00000010 01 05 02 7800", req + n);
		uint8_t want[32];
		size_t wn = unhex(stock[i].reply, want), got;
		const uint8_t *out = ask(&e, req, n, &got);
		assert_int_equal(got, wn);
		assert_memory_equal(out, want, wn);
		expect_closed(&e, "(a stock client?); closing");
		assert_int_equal(e.k.nopen, 0);
		env_close(&e);
	}
	/* CMD: an error text saying what to do; SYSTEM likewise. */
	env_open_auth(&e, &ext_handler, sec);
	size_t tl;
	char *t = cmd_reply(&e, "?V", &tl);
	assert_string_equal(t, "error: authentication required: this server needs a shared secret (rapcli "
			       "--secret-file FILE)\n");
	free(t);
	expect_closed(&e, "authentication required: CMD refused (a stock client?)");
	env_close(&e);
	env_open_auth(&e, &ext_handler, sec);
	uint8_t req[64];
	size_t got, n = put_msg(req, 0x06, "x", 2);
	const uint8_t *out = ask(&e, req, n, &got);
	assert_int_equal(out[0], 0x86);
	assert_non_null(memmem(out, got, "authentication required", 23));
	env_close(&e);

	/* A version 1 client (no authentication bit): refused the same way, told apart in the
	 * log; a write-errors client gets RAP_EDENIED, a code it knows. */
	env_open_auth(&e, &ext_handler, sec);
	ask_hex(&e, "04 ff 5241505800010007", "84 7261707800010007");
	ask_hex(&e, "03 00000001 41", "83 fffffc0c");
	expect_closed(&e, "WRITE refused (the client cannot authenticate)");
	env_close(&e);
	/* A client that could but did not: the extension's messages get RAP_EAUTH. */
	env_open_auth(&e, &ext_handler, sec);
	probe_v2(&e, "84 726170780002001f");
	expect_ext_error(&e, req, put_xopen(req, "/data/files/sample.bin", 5), 0x90, RAP_EAUTH, "authentication required");
	expect_closed(&e, "XOPEN refused (the client did not authenticate)");
	env_close(&e);
	env_open_auth(&e, &ext_handler, sec);
	probe_v2(&e, "84 726170780002001f");
	expect_ext_error(&e, req, put_ext(req, 0x15, "?V", 2), 0x95, RAP_EAUTH, "authentication required");
	env_close(&e);
	rap_secret_free(sec);
}

/* serve_fd: a refused client gets its refusal, then the session ends with RAP_EAUTH. */
static void test_auth_serve_fd(void **state)
{
	(void)state;
	struct rap_secret *sec = test_secret(TEST_SECRET);
	struct env e;
	env_open_auth(&e, &ext_handler, sec);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	uint8_t req[64];
	size_t n = unhex("01 05 08 2f62696e2f6c7300", req);
	assert_int_equal(write(sv[0], req, n), (ssize_t)n);
	assert_int_equal(rap_server_session_serve_fd(e.s, sv[1]), RAP_EAUTH);
	uint8_t reply[16];
	assert_int_equal(read(sv[0], reply, sizeof reply), 5);
	assert_memory_equal(reply, "\x81\xff\xff\xff\xff", 5);
	close(sv[0]);
	close(sv[1]);
	env_close(&e);
	rap_secret_free(sec);
}

#endif

#if !RAP_TEST_HAVE_OPENSSL
/* A build without OpenSSL: no session can require authentication, no probe grants it,
 * and a handshake is answered "not supported". */
static void test_auth_unavailable(void **state)
{
	(void)state;
	struct env e;
	env_open_with(&e, &ext_handler);
	assert_int_equal(rap_server_session_require_auth(e.s, (const struct rap_secret *)&e), RAP_ENOTSUP);
	assert_true(rap_server_session_authenticated(e.s));
	probe_v2(&e, "84 726170780002000f");
	uint8_t req[64];
	expect_ext_error(&e, req, put_ext(req, 0x16, TEST_SECRET "0123", 32), 0x96, RAP_ENOTSUP, "does not authenticate");
	assert_false(rap_server_session_closing(e.s));
	env_close(&e);
}
#endif

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		FD_CHECKED(test_replay_all_transcripts),
		FD_CHECKED(test_probe),
		FD_CHECKED(test_oversized_write),
		FD_CHECKED(test_release),
		FD_CHECKED(test_write_results),
		FD_CHECKED(test_read_and_seek_failures),
		FD_CHECKED(test_open_and_close),
		FD_CHECKED(test_cmd_variants),
		FD_CHECKED(test_cmd_truncation),
		FD_CHECKED(test_cmd_status),
		FD_CHECKED(test_dropped_peers),
		FD_CHECKED(test_backpressure),
		FD_CHECKED(test_serve_fd),
		FD_CHECKED(test_serve_fd_hangup),
		FD_CHECKED(test_pending_cmd),
		FD_CHECKED(test_complete_from_inside),
		FD_CHECKED(test_complete_then_protocol_error),
		FD_CHECKED(test_cmd_bounded),
		FD_CHECKED(test_long_reply_adopted),
		FD_CHECKED(test_serve_fd_refuses_pending),
		FD_CHECKED(test_serve_fd_half_close),
		FD_CHECKED(test_alloc_failure),
		FD_CHECKED(test_busy),
		FD_CHECKED(test_bad_arguments),
		FD_CHECKED(test_ext_probe),
		FD_CHECKED(test_ext_open_read_write),
		FD_CHECKED(test_ext_open_stat_close),
		FD_CHECKED(test_ext_cmd),
		FD_CHECKED(test_ext_cmd_streamed),
		FD_CHECKED(test_ext_dropped),
#if RAP_TEST_HAVE_OPENSSL
		FD_CHECKED(test_auth_handshake),
		FD_CHECKED(test_auth_failures),
		FD_CHECKED(test_auth_required),
		FD_CHECKED(test_auth_serve_fd),
#else
		FD_CHECKED(test_auth_unavailable),
#endif
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
