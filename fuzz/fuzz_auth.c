/* Fuzz target for the extension's authentication (doc/rap.7.scd, AUTHENTICATION), both
 * sides of the handshake, in memory. The secret is fixed; the nonces are OpenSSL's, so no
 * input can forge a proof: the harness plays the honest peer when the input asks for it.
 *
 * Byte 0 bit 0 chooses the side.
 *
 * 0, a server session requiring the secret:
 *   byte 0      bit 1 the harness authenticates first as an honest client (probe, its
 *               nonce from bytes 9..40 of the input, the right proof), bit 2 (without bit 1)
 *               the stream starts with a version 2 probe, bit 3 the handler has no
 *               fd-addressed callbacks
 *   bytes 1..8  chunk sizes (each + 1), used in turn to split the stream
 *   the rest    what the client sends (after the honest handshake, with bit 1)
 * Checks: replies decode and are well formed; the session counts as authenticated only
 * after the honest handshake; once it ends (closing) nothing more is answered or counted;
 * one reply per request.
 *
 * 1, a client with the secret:
 *   byte 0      bit 1 the harness answers as an honest server (the grant, a nonce from bytes
 *               2..33 of the input, the right proof, or with bit 2 a proof with one bit
 *               flipped) before the input's own bytes, bit 3 the server grants version 2
 *               without authentication (the client must refuse), bits 4-6 bytes per receive
 *   byte 1      script length N (at most 16 calls: probe, open, read, cmd)
 *   N * 3       the calls
 *   the rest    the server's bytes (after the honest ones)
 * Checks: the client is authenticated only after a right server proof; before that it
 * sends nothing but the probe and the handshake; the secret never leaves it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rap/rap.h>

#include "common.h"
#include "rap_private.h"

#include "fuzz.h"

#define INPUT_MAX (32u << 10)
#define SECRET "the fuzzer's shared secret, 40 bytes long"

static struct rap_secret *secret;

static const uint8_t probe_v2[10] = { 0x04, 0xff, 'R', 'A', 'P', 'X', 0x00, 0x02, 0x00, 0x1f };

/* ---- a small handler ------------------------------------------------------------------ */

struct ctx {
	int open; /* fds 3.. handed out */
};

static int h_open(void *p, const char *path, uint8_t perm)
{
	struct ctx *x = p;
	(void)perm;
	return *path && x->open < 8 ? 3 + x->open++ : RAP_EBADFD;
}

static ssize_t h_read(void *p, uint8_t *buf, size_t len)
{
	(void)p;
	memset(buf, 'r', len < 100 ? len : 100);
	return len < 100 ? (ssize_t)len : 100;
}

static ssize_t h_write(void *p, const uint8_t *buf, size_t len)
{
	(void)p;
	(void)buf;
	return (ssize_t)len;
}

static int h_seek(void *p, int whence, uint64_t offset, uint64_t *result)
{
	(void)p;
	*result = whence == RAP_SEEK_SET ? offset : 0;
	return 0;
}

static int h_close(void *p, int32_t fd)
{
	struct ctx *x = p;
	return fd >= 3 && fd < 3 + x->open ? 0 : RAP_EBADFD;
}

static int h_cmd(void *p, const char *cmd, char **out)
{
	(void)p;
	*out = strdup(cmd);
	return *out ? 0 : RAP_ENOMEM;
}

static ssize_t h_pread(void *p, int32_t fd, uint64_t off, uint8_t *buf, size_t len)
{
	struct ctx *x = p;
	if (fd < 3 || fd >= 3 + x->open)
		return RAP_EBADFD;
	size_t n = off >= 1000 ? 0 : len < 1000 - off ? len : (size_t)(1000 - off);
	memset(buf, 'p', n);
	return (ssize_t)n;
}

static ssize_t h_pwrite(void *p, int32_t fd, uint64_t off, const uint8_t *buf, size_t len)
{
	(void)off;
	(void)buf;
	struct ctx *x = p;
	return fd >= 3 && fd < 3 + x->open ? (ssize_t)len : RAP_EBADFD;
}

static int h_stat(void *p, int32_t fd, struct rap_stat *st)
{
	struct ctx *x = p;
	if (fd < 3 || fd >= 3 + x->open)
		return RAP_EBADFD;
	st->size = 1000;
	st->perm = RAP_PERM_R;
	st->kind = RAP_KIND_FILE;
	return 0;
}

static void h_log(void *p, int level, const char *msg)
{
	(void)p;
	CHECK(level >= 0 && level <= 7 && msg != NULL);
}

static const struct rap_server_handler full = {
	.open = h_open, .read = h_read, .write = h_write, .seek = h_seek, .close = h_close,
	.cmd = h_cmd, .log = h_log, .pread = h_pread, .pwrite = h_pwrite, .stat = h_stat,
};

static const struct rap_server_handler stock_only = {
	.open = h_open, .read = h_read, .write = h_write, .seek = h_seek, .close = h_close,
	.cmd = h_cmd, .log = h_log,
};

/* ---- the server side ---------------------------------------------------------------------- */

struct replies {
	struct rap_decoder *dec;
	uint64_t count;
	uint8_t last[RAP_AUTH_NONCE_LEN]; /* the body of the last AUTH reply with status 0 */
	int32_t last_auth_status;
};

static void take(struct rap_server_session *s, struct replies *r)
{
	const uint8_t *p;
	size_t q;
	while ((q = rap_server_session_output(s, &p)) > 0) {
		size_t off = 0;
		while (off < q) {
			struct rap_msg m;
			size_t used;
			int rc = rap_decoder_decode(r->dec, p + off, q - off, &used, &m);
			CHECK(rc >= 0 && used <= q - off);
			off += used;
			if (rc == 0)
				break;
			CHECK(!m.dropped && (m.op & RAP_REPLY));
			if (m.op == (RAP_OP_AUTH_HELLO | RAP_REPLY) || m.op == (RAP_OP_AUTH_PROOF | RAP_REPLY)) {
				r->last_auth_status = m.status;
				if (m.status == 0) {
					CHECK(m.len == RAP_AUTH_NONCE_LEN);
					memcpy(r->last, m.data, RAP_AUTH_NONCE_LEN);
				} else {
					CHECK(m.status == RAP_EAUTH || m.status == RAP_ENOTSUP);
				}
			}
			if (m.op != (RAP_OP_XCMD_OUT | RAP_REPLY))
				r->count++;
		}
		CHECK(off == q);
		rap_server_session_consume(s, q);
	}
}

/* Feeds in[0..len) in pieces; returns the session's error, or 0. */
static int feed(struct rap_server_session *s, struct replies *r, const uint8_t *in, size_t len,
		const uint8_t *sizes, int failed)
{
	size_t pos = 0;
	for (unsigned k = 0; pos < len; k++) {
		size_t chunk = sizes ? (size_t)sizes[k % 8] + 1 : len - pos;
		if (chunk > len - pos)
			chunk = len - pos;
		bool was_closing = rap_server_session_closing(s);
		uint64_t before = rap_server_session_requests(s);
		ssize_t fed = rap_server_session_feed(s, in + pos, chunk);
		pos += chunk;
		if (fed < 0) {
			CHECK(!failed || fed == failed);
			failed = (int)fed;
		} else {
			CHECK(!failed && (size_t)fed == chunk);
		}
		if (was_closing) {
			/* An ended session answers nothing more. */
			CHECK(rap_server_session_requests(s) == before);
			CHECK(rap_server_session_output(s, NULL) == 0);
		}
		take(s, r);
	}
	return failed;
}

static int server_side(const uint8_t *data, size_t size)
{
	if (size < 9)
		return 0;
	uint8_t cfg = data[0];
	const uint8_t *sizes = data + 1;
	const uint8_t *in = data + 9;
	size_t len = size - 9;
	struct ctx x = { 0 };
	struct rap_server_session *s = NULL;
	CHECK(rap_server_session_new(cfg & 8 ? &stock_only : &full, &x, &s) == 0);
	CHECK(rap_server_session_require_auth(s, secret) == 0);
	CHECK(!rap_server_session_authenticated(s));
	struct replies r = { 0 };
	CHECK(rap_decoder_new(RAP_ROLE_CLIENT, &r.dec) == 0);
	rap_decoder_set_extension(r.dec, true);

	int failed = 0;
	bool honest = (cfg & 2) && len >= RAP_AUTH_NONCE_LEN;
	if (honest) {
		/* The probe, our nonce, the right proof; the server's proof checked. */
		uint8_t nc[RAP_AUTH_NONCE_LEN], ns[RAP_AUTH_NONCE_LEN], mac[RAP_AUTH_MAC_LEN];
		memcpy(nc, in, sizeof nc);
		in += sizeof nc;
		len -= sizeof nc;
		uint8_t msg[5 + RAP_AUTH_NONCE_LEN];
		failed = feed(s, &r, probe_v2, sizeof probe_v2, NULL, failed);
		msg[0] = RAP_OP_AUTH_HELLO;
		rap__put_be32(msg + 1, RAP_AUTH_NONCE_LEN);
		memcpy(msg + 5, nc, sizeof nc);
		failed = feed(s, &r, msg, sizeof msg, NULL, failed);
		CHECK(!failed && r.last_auth_status == 0);
		memcpy(ns, r.last, sizeof ns);
		CHECK(rap__auth_proof(secret, false, ns, nc, mac) == 0);
		msg[0] = RAP_OP_AUTH_PROOF;
		memcpy(msg + 5, mac, sizeof mac);
		failed = feed(s, &r, msg, sizeof msg, NULL, failed);
		CHECK(!failed && r.last_auth_status == 0);
		CHECK(rap__auth_proof(secret, true, ns, nc, mac) == 0);
		CHECK(rap__auth_equal(r.last, mac, sizeof mac));
		CHECK(rap_server_session_authenticated(s));
	} else if (cfg & 4) {
		failed = feed(s, &r, probe_v2, sizeof probe_v2, NULL, failed);
	}
	failed = feed(s, &r, in, len, sizes, failed);
	/* Only the honest client's handshake authenticates. */
	CHECK(rap_server_session_authenticated(s) == honest);
	uint64_t req = rap_server_session_requests(s);
	if (!failed)
		CHECK(r.count == req);
	else
		CHECK(r.count == req || r.count + 1 == req);
	CHECK(rap_decoder_idle(r.dec));
	rap_decoder_free(r.dec);
	rap_server_session_free(s);
	return 0;
}

/* ---- the client side ------------------------------------------------------------------------ */

#define SCRIPT_MAX 16

struct wire {
	const struct rap_client *c;
	/* The honest server: what it says next (queued), its nonce, what it saw. */
	bool honest, corrupt, no_auth;
	uint8_t queue[128];
	size_t qlen, qpos;
	uint8_t ns[RAP_AUTH_NONCE_LEN], nc[RAP_AUTH_NONCE_LEN];
	bool done;     /* the honest part is over: the input's bytes follow */
	const uint8_t *in;
	size_t len, pos, chunk;
	struct rap_decoder *sent;
	bool proof_ok; /* the client's proof was right */
};

static void queue(struct wire *w, const void *p, size_t n)
{
	CHECK(w->qlen + n <= sizeof w->queue);
	memcpy(w->queue + w->qlen, p, n);
	w->qlen += n;
}

static ssize_t w_recv(void *user, void *buf, size_t n)
{
	struct wire *w = user;
	if (w->qpos < w->qlen) {
		size_t k = w->qlen - w->qpos < n ? w->qlen - w->qpos : n;
		if (k > w->chunk)
			k = w->chunk;
		memcpy(buf, w->queue + w->qpos, k);
		w->qpos += k;
		return (ssize_t)k;
	}
	if (w->honest && !w->done)
		return 0; /* the honest server has nothing to say: it hangs up */
	size_t k = w->len - w->pos;
	if (k > n)
		k = n;
	if (k > w->chunk)
		k = w->chunk;
	memcpy(buf, w->in + w->pos, k);
	w->pos += k;
	return (ssize_t)k;
}

/* The honest server answers what the client sent. */
static void answer(struct wire *w, const struct rap_msg *m)
{
	if (m->op == RAP_OP_SEEK && m->whence == RAP_SEEK_PROBE) {
		uint8_t a[9] = { 0x84, 'r', 'a', 'p', 'x', 0x00, 0x02, 0x00, w->no_auth ? 0x0f : 0x1f };
		queue(w, a, sizeof a);
		if (w->no_auth)
			w->done = true;
	} else if (m->op == RAP_OP_AUTH_HELLO) {
		memcpy(w->nc, m->data, sizeof w->nc);
		uint8_t a[9] = { 0x96, 0, 0, 0, 36, 0, 0, 0, 0 };
		queue(w, a, sizeof a);
		queue(w, w->ns, sizeof w->ns);
	} else if (m->op == RAP_OP_AUTH_PROOF) {
		uint8_t want[RAP_AUTH_MAC_LEN], mine[RAP_AUTH_MAC_LEN];
		CHECK(rap__auth_proof(secret, false, w->ns, w->nc, want) == 0);
		w->proof_ok = rap__auth_equal(m->data, want, sizeof want);
		CHECK(w->proof_ok); /* the client has the same secret */
		CHECK(rap__auth_proof(secret, true, w->ns, w->nc, mine) == 0);
		if (w->corrupt)
			mine[mine[0] % RAP_AUTH_MAC_LEN] ^= 0x20;
		uint8_t a[9] = { 0x97, 0, 0, 0, 36, 0, 0, 0, 0 };
		queue(w, a, sizeof a);
		queue(w, mine, sizeof mine);
		w->done = true;
	}
}

static int w_send(void *user, const void *buf, size_t n)
{
	struct wire *w = user;
	const uint8_t *p = buf;
	/* The secret never leaves the client. */
	CHECK(n < 16 || !memmem(buf, n, SECRET, 16));
	rap_decoder_set_extension(w->sent, rap_client_extended(w->c));
	while (n) {
		struct rap_msg m;
		size_t used;
		int rc = rap_decoder_decode(w->sent, p, n, &used, &m);
		CHECK(rc >= 0 && used <= n);
		p += used;
		n -= used;
		if (rc == 0) {
			CHECK(n == 0);
			break;
		}
		/* Before it authenticated, only the probe and the handshake. */
		if (!rap_client_authenticated(w->c))
			CHECK((m.op == RAP_OP_SEEK && m.whence == RAP_SEEK_PROBE) || m.op == RAP_OP_AUTH_HELLO ||
			      m.op == RAP_OP_AUTH_PROOF);
		if (w->honest && !w->done)
			answer(w, &m);
	}
	return 0;
}

static const struct rap__transport transport = { .recv = w_recv, .send = w_send };

static int client_side(const uint8_t *data, size_t size)
{
	static const size_t chunks[8] = { 1, 2, 7, 64, 1500, 4096, 65536, 3 };
	if (size < 2 + RAP_AUTH_NONCE_LEN)
		return 0;
	uint8_t cfg = data[0];
	size_t nops = data[1] % (SCRIPT_MAX + 1);
	const uint8_t *ns = data + 2;
	if (size < 2 + RAP_AUTH_NONCE_LEN + nops * 3)
		return 0;
	const uint8_t *script = ns + RAP_AUTH_NONCE_LEN;

	struct rap_client *c = NULL;
	CHECK(rap_client_new(&c) == 0);
	struct wire *w = calloc(1, sizeof(*w));
	CHECK(w != NULL);
	w->c = c;
	w->honest = cfg & 2;
	w->corrupt = cfg & 4;
	w->no_auth = cfg & 8;
	memcpy(w->ns, ns, sizeof w->ns);
	w->in = script + nops * 3;
	w->len = size - 2 - RAP_AUTH_NONCE_LEN - nops * 3;
	w->chunk = chunks[(cfg >> 4) & 7];
	CHECK(rap_decoder_new(RAP_ROLE_SERVER, &w->sent) == 0);
	CHECK(rap__client_attach_transport(c, &transport, w) == 0);
	rap_client_set_secret(c, secret);

	/* The first call is always the probe: the handshake follows it. */
	int rc = rap_client_probe(c);
	CHECK(rc == 0 || rc == 1 || rap__is_rap_error(rc));
	if (w->honest) {
		bool ok = !w->no_auth && !w->corrupt;
		CHECK(rc == (ok ? 1 : RAP_EAUTH));
		CHECK(rap_client_authenticated(c) == ok);
		if (!ok && !w->no_auth)
			CHECK(!rap_client_alive(c)); /* a failed handshake ends the connection */
	} else {
		/* No proof can be forged: the raw bytes never authenticate, and a secret means
		 * nothing goes on without it. */
		CHECK(!rap_client_authenticated(c));
		CHECK(rc < 0);
	}
	for (size_t i = 0; i < nops; i++) {
		const uint8_t *op = script + i * 3;
		uint8_t buf[256];
		char *out = NULL;
		switch (op[0] % 4) {
		case 0:
			rc = rap_client_probe(c);
			break;
		case 1:
			rc = rap_client_open(c, "f", op[1]);
			break;
		case 2:
			rc = (int)rap_client_read_at(c, op[1], buf, op[2]);
			break;
		default:
			rc = rap_client_cmd(c, "?V", &out, NULL);
			free(out);
			break;
		}
		CHECK(rc >= 0 || rap__is_rap_error(rc) || rc >= -133);
	}
	CHECK(rap_decoder_idle(w->sent));
	rap_client_free(c);
	rap_decoder_free(w->sent);
	free(w);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > INPUT_MAX)
		return 0;
	if (!rap_auth_available()) {
		/* A build without OpenSSL has no secrets: nothing to drive but the refusal. */
		struct rap_secret *none = NULL;
		CHECK(rap_secret_new(SECRET, sizeof SECRET - 1, &none) == RAP_ENOTSUP && !none);
		return 0;
	}
	if (!secret)
		CHECK(rap_secret_new(SECRET, sizeof SECRET - 1, &secret) == 0);
	return data[0] & 1 ? client_side(data, size) : server_side(data, size);
}
