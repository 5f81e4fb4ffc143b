/* One gdb connection's protocol engine (gdb_session.h): framing and requests are librap's
 * (rap/gdb_rsp.h); this file answers each request from the target, as gdb 13 expects:
 * acknowledgments until QStartNoAckMode, the register file in gdb's order with the
 * architecture's target description, memory with E14 for unmapped addresses, software
 * breakpoints, one thread (the process id), stop replies T (with the PC and, for a
 * breakpoint, swbreak), W on exit and X on death by a signal. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <rap/gdb_rsp.h>
#include <rap/rap.h>

#include "common.h"
#include "gdb_session.h"

#define REGS_MAX 4096          /* bytes of the largest register file we answer */
#define ERR_MALFORMED "E01"    /* a request we could not read */
#define ERR_GONE "E03"         /* ESRCH: the process is gone */
#define ERR_FAULT "E14"        /* EFAULT: unmapped or unwritable memory */
#define ERR_INVAL "E16"        /* a request the target refused (wrong size, no such register) */
#define ERR_TOO_BIG "E22"      /* a packet over PacketSize */

struct rap__gdb_session {
	const struct rap__gdb_target_ops *ops;
	void *t;               /* NULL: no program (extended mode, before vRun) */
	struct rap__gdb_launcher launcher; /* launch NULL: no extended mode */
	bool extended;         /* gdb sent '!' */
	struct rap_gdb_decoder *dec;
	size_t packet_max;
	bool noack;
	bool running;
	bool pending;          /* a resume waits for rap__gdb_session_resume */
	bool pending_step;
	int pending_sig;       /* for cont: rap/dbg.h's sig argument */
	struct rap__buf last;  /* the last frame sent, for a '-' */
	uint8_t *scratch;      /* reply text being built, 2 * packet_max + 64 bytes */
	size_t scratch_cap;
	size_t packets, bad;
};

int rap__gdb_session_new(const struct rap__gdb_target_ops *ops, void *t, size_t packet_max,
			 struct rap__gdb_session **out)
{
	if (!out)
		return RAP_EINVAL;
	*out = NULL;
	if (!ops || packet_max < 256 || packet_max > RAP_GDB_PACKET_LIMIT)
		return RAP_EINVAL;
	struct rap__gdb_session *s = rap__calloc(1, sizeof(*s));
	if (!s)
		return RAP_ENOMEM;
	s->ops = ops;
	s->t = t;
	s->packet_max = packet_max;
	s->scratch_cap = 2 * packet_max + 64;
	rap__buf_init(&s->last, rap_gdb_encoded_max(s->scratch_cap));
	s->scratch = rap__malloc(s->scratch_cap);
	int rc = s->scratch ? rap_gdb_decoder_new(packet_max, &s->dec) : RAP_ENOMEM;
	if (rc < 0) {
		rap__gdb_session_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void rap__gdb_session_free(struct rap__gdb_session *s)
{
	if (!s)
		return;
	rap_gdb_decoder_free(s->dec);
	rap__buf_free(&s->last);
	rap__free(s->scratch);
	rap__free(s);
}

void rap__gdb_session_set_launcher(struct rap__gdb_session *s, const struct rap__gdb_launcher *l)
{
	memset(&s->launcher, 0, sizeof(s->launcher));
	if (l)
		s->launcher = *l;
}

void *rap__gdb_session_target(const struct rap__gdb_session *s)
{
	return s->t;
}

bool rap__gdb_session_running(const struct rap__gdb_session *s)
{
	return s->running;
}

void rap__gdb_session_stats(const struct rap__gdb_session *s, size_t *packets, size_t *bad)
{
	*packets = s->packets;
	*bad = s->bad;
}

/* ---- sending ------------------------------------------------------------------------------ */

/* Frames payload into out, and keeps the frame for a resend. */
static int send_packet(struct rap__gdb_session *s, struct rap__buf *out, const void *payload, size_t len)
{
	size_t max = rap_gdb_encoded_max(len);
	if (!max)
		return RAP_ETOOBIG;
	s->last.len = 0;
	int rc = rap__buf_reserve(&s->last, max);
	if (rc < 0)
		return rc;
	ssize_t n = rap_gdb_encode(payload, len, true, s->last.data, max);
	if (n < 0)
		return (int)n;
	s->last.len = (size_t)n;
	return rap__buf_append(out, s->last.data, s->last.len);
}

static int send_str(struct rap__gdb_session *s, struct rap__buf *out, const char *text)
{
	return send_packet(s, out, text, strlen(text));
}

/* ---- registers ---------------------------------------------------------------------------- */

/* Where gdb register regno lies in the register file: the sizes of the registers before it
 * in gdb's numbering. False when the architecture has no such register. */
static bool reg_slot(const struct rap_dbg_arch *a, unsigned regno, size_t *off, size_t *size)
{
	const struct rap_dbg_reg *r = NULL;
	size_t o = 0;
	for (size_t i = 0; i < a->nregs; i++) {
		const struct rap_dbg_reg *x = &a->regs[i];
		if (x->gdb_num < 0)
			continue;
		if ((unsigned)x->gdb_num == regno)
			r = x;
		else if ((unsigned)x->gdb_num < regno)
			o += x->bits / 8;
	}
	if (!r || o + r->bits / 8 > a->gdb_regs_size)
		return false;
	*off = o;
	*size = r->bits / 8;
	return true;
}

static const char *errno_reply(ssize_t rc)
{
	return rc == -ESRCH ? ERR_GONE : rc == -EFAULT ? ERR_FAULT : ERR_INVAL;
}

static int answer_read_regs(struct rap__gdb_session *s, struct rap__buf *out)
{
	uint8_t regs[REGS_MAX];
	ssize_t n = s->ops->regs_get(s->t, regs, sizeof(regs));
	if (n < 0)
		return send_str(s, out, errno_reply(n));
	rap_gdb_hex_encode(regs, (size_t)n, (char *)s->scratch);
	return send_packet(s, out, s->scratch, 2 * (size_t)n);
}

static int answer_read_reg(struct rap__gdb_session *s, unsigned regno, struct rap__buf *out)
{
	size_t off, size;
	if (!reg_slot(s->ops->arch(s->t), regno, &off, &size))
		return send_str(s, out, ERR_INVAL);
	uint8_t regs[REGS_MAX];
	ssize_t n = s->ops->regs_get(s->t, regs, sizeof(regs));
	if (n < 0)
		return send_str(s, out, errno_reply(n));
	if (off + size > (size_t)n)
		return send_str(s, out, ERR_INVAL);
	rap_gdb_hex_encode(regs + off, size, (char *)s->scratch);
	return send_packet(s, out, s->scratch, 2 * size);
}

/* Writes size bytes at off of the register file (the whole file when off is 0 and size
 * its length). Returns 0 or the target's error. */
static int patch_regs(struct rap__gdb_session *s, size_t off, const uint8_t *val, size_t size)
{
	uint8_t regs[REGS_MAX];
	ssize_t n = s->ops->regs_get(s->t, regs, sizeof(regs));
	if (n < 0)
		return (int)n;
	if (off + size > (size_t)n)
		return RAP_EINVAL;
	memcpy(regs + off, val, size);
	return s->ops->regs_set(s->t, regs, (size_t)n);
}

static int answer_write_reg(struct rap__gdb_session *s, const struct rap_gdb_req *r, struct rap__buf *out)
{
	size_t off, size;
	if (!reg_slot(s->ops->arch(s->t), r->regno, &off, &size) || r->len != size)
		return send_str(s, out, ERR_INVAL);
	int rc = patch_regs(s, off, r->data, size);
	return send_str(s, out, rc < 0 ? errno_reply(rc) : "OK");
}

static int answer_write_regs(struct rap__gdb_session *s, const struct rap_gdb_req *r, struct rap__buf *out)
{
	if (r->len != s->ops->arch(s->t)->gdb_regs_size)
		return send_str(s, out, ERR_INVAL);
	int rc = s->ops->regs_set(s->t, r->data, (size_t)r->len);
	return send_str(s, out, rc < 0 ? errno_reply(rc) : "OK");
}

static const struct rap_dbg_reg *pc_reg(const struct rap_dbg_arch *a)
{
	for (size_t i = 0; i < a->nregs; i++)
		if (a->regs[i].role == RAP_DBG_ROLE_PC)
			return &a->regs[i];
	return NULL;
}

/* The PC register's gdb number and value, from the register file. */
static bool read_pc(struct rap__gdb_session *s, unsigned *regno, uint8_t *val, size_t *size)
{
	const struct rap_dbg_arch *a = s->ops->arch(s->t);
	const struct rap_dbg_reg *pc = pc_reg(a);
	size_t off;
	if (!pc || pc->gdb_num < 0 || !reg_slot(a, (unsigned)pc->gdb_num, &off, size) || *size > 16)
		return false;
	uint8_t regs[REGS_MAX];
	ssize_t n = s->ops->regs_get(s->t, regs, sizeof(regs));
	if (n < 0 || off + *size > (size_t)n)
		return false;
	memcpy(val, regs + off, *size);
	*regno = (unsigned)pc->gdb_num;
	return true;
}

/* Sets the PC to addr (c addr, s addr), in the target's byte order (little-endian: every
 * architecture rap/dbg.h knows). */
static int set_pc(struct rap__gdb_session *s, uint64_t addr)
{
	const struct rap_dbg_arch *a = s->ops->arch(s->t);
	const struct rap_dbg_reg *pc = pc_reg(a);
	size_t off, size;
	if (!pc || pc->gdb_num < 0 || !reg_slot(a, (unsigned)pc->gdb_num, &off, &size) || size > 8)
		return RAP_EINVAL;
	uint8_t val[8];
	for (size_t i = 0; i < size; i++)
		val[i] = (uint8_t)(addr >> (8 * i));
	return patch_regs(s, off, val, size);
}

/* ---- stop replies ------------------------------------------------------------------------- */

static int send_stop(struct rap__gdb_session *s, const struct rap_dbg_stop *st, struct rap__buf *out)
{
	char text[128];
	switch (st->kind) {
	case RAP_DBG_STOP_EXITED:
		snprintf(text, sizeof(text), "W%02x", (unsigned)st->status & 0xff);
		return send_str(s, out, text);
	case RAP_DBG_STOP_KILLED:
		snprintf(text, sizeof(text), "X%02x", (unsigned)rap__gdb_signal_from_host(st->signo) & 0xff);
		return send_str(s, out, text);
	default:
		break;
	}
	int sig = st->kind == RAP_DBG_STOP_INTERRUPTED ? SIGINT
		  : st->kind == RAP_DBG_STOP_SIGNAL    ? st->signo
						       : SIGTRAP;
	/* The initial stop of a started process is SIGTRAP or SIGSTOP; gdb expects 05. */
	if (sig == SIGSTOP && st->kind == RAP_DBG_STOP_SIGNAL)
		sig = SIGTRAP;
	int n = snprintf(text, sizeof(text), "T%02x", (unsigned)rap__gdb_signal_from_host(sig) & 0xff);
	unsigned regno;
	uint8_t pc[16];
	size_t size;
	if (read_pc(s, &regno, pc, &size)) {
		n += snprintf(text + n, sizeof(text) - (size_t)n, "%02x:", regno);
		rap_gdb_hex_encode(pc, size, text + n);
		n += (int)(2 * size);
		text[n++] = ';';
		text[n] = '\0';
	}
	n += snprintf(text + n, sizeof(text) - (size_t)n, "thread:%x;", (unsigned)s->ops->pid(s->t));
	if (st->kind == RAP_DBG_STOP_BREAKPOINT)
		snprintf(text + n, sizeof(text) - (size_t)n, "swbreak:;");
	return send_str(s, out, text);
}

/* ---- requests ----------------------------------------------------------------------------- */

static int answer_read_mem(struct rap__gdb_session *s, const struct rap_gdb_req *r, struct rap__buf *out)
{
	if (r->len == 0)
		return send_str(s, out, "");
	/* The raw bytes go to the second half of scratch, their hex to the first. */
	uint8_t *raw = s->scratch + s->scratch_cap / 2 + 16;
	ssize_t n = s->ops->read(s->t, r->addr, raw, (size_t)r->len);
	if (n < 0)
		return send_str(s, out, errno_reply(n));
	if (n == 0)
		return send_str(s, out, ERR_FAULT);
	rap_gdb_hex_encode(raw, (size_t)n, (char *)s->scratch);
	return send_packet(s, out, s->scratch, 2 * (size_t)n);
}

static int answer_write_mem(struct rap__gdb_session *s, const struct rap_gdb_req *r, struct rap__buf *out)
{
	if (r->len == 0)
		return send_str(s, out, "OK");
	ssize_t n = s->ops->write(s->t, r->addr, r->data, (size_t)r->len);
	if (n < 0)
		return send_str(s, out, errno_reply(n));
	return send_str(s, out, (uint64_t)n == r->len ? "OK" : ERR_FAULT);
}

static int answer_xfer(struct rap__gdb_session *s, const struct rap_gdb_req *r, struct rap__buf *out)
{
	const char *xml = s->ops->arch(s->t)->target_xml;
	if (strcmp(r->annex, "target.xml") || !xml)
		return send_str(s, out, "E00");
	size_t total = strlen(xml);
	if (r->addr >= total)
		return send_str(s, out, "l");
	size_t rest = total - (size_t)r->addr;
	size_t n = r->len < rest ? (size_t)r->len : rest;
	if (n > s->packet_max - 1)
		n = s->packet_max - 1;
	s->scratch[0] = n < rest ? 'm' : 'l';
	memcpy(s->scratch + 1, xml + r->addr, n);
	return send_packet(s, out, s->scratch, n + 1);
}

static int answer_break(struct rap__gdb_session *s, const struct rap_gdb_req *r, struct rap__buf *out)
{
	if (r->bptype != 0)
		return send_str(s, out, ""); /* hardware breakpoints, watchpoints: not supported */
	int rc = r->kind == RAP_GDB_REQ_INSERT_BP ? s->ops->bp_add(s->t, r->addr) : s->ops->bp_del(s->t, r->addr);
	return send_str(s, out, rc < 0 ? errno_reply(rc) : "OK");
}

/* Queues a continue or step; RAP__GDB_RESUME, or 0 with an error reply sent. */
static int request_resume(struct rap__gdb_session *s, const struct rap_gdb_req *r, struct rap__buf *out)
{
	if (s->ops->exited(s->t)) {
		struct rap_dbg_stop st;
		s->ops->last_stop(s->t, &st);
		return send_stop(s, &st, out);
	}
	if (r->has_addr) {
		int rc = set_pc(s, r->addr);
		if (rc < 0)
			return send_str(s, out, errno_reply(rc));
	}
	s->pending = true;
	s->pending_step = r->kind == RAP_GDB_REQ_STEP;
	/* gdb's c continues without a signal: a pending one is discarded (-1). */
	int host = r->signo ? rap__gdb_signal_to_host(r->signo) : 0;
	s->pending_sig = host > 0 ? host : -1;
	return RAP__GDB_RESUME;
}

/* vRun: the fields are hex (checked by the parser): decoded into argv, the old program
 * released, the new one launched; its first stop answers. */
static int answer_run(struct rap__gdb_session *s, const struct rap_gdb_req *r, struct rap__buf *out)
{
	if (!s->launcher.launch)
		return send_str(s, out, "");
	char *argv[RAP_GDB_RUN_ARGS_MAX + 1] = { NULL };
	const char *p = (const char *)r->data, *end = p + r->len;
	int rc = 0;
	for (unsigned i = 0; i < r->nargs && rc == 0; i++) {
		const char *e = memchr(p, ';', (size_t)(end - p));
		if (!e)
			e = end;
		size_t n = (size_t)(e - p) / 2;
		argv[i] = rap__malloc(n + 1);
		if (!argv[i] || rap_gdb_hex_decode(p, n, (uint8_t *)argv[i]) < 0)
			rc = argv[i] ? RAP_EPROTO : RAP_ENOMEM;
		else if (memchr(argv[i], '\0', n))
			rc = RAP_EPROTO; /* no NUL inside a C string */
		else
			argv[i][n] = '\0';
		p = e + 1;
	}
	if (rc == 0) {
		if (s->t)
			s->launcher.release(s->launcher.user, s->t);
		s->t = NULL;
		void *t = NULL;
		rc = s->launcher.launch(s->launcher.user, (const char *const *)argv, &t);
		if (rc == 0)
			s->t = t;
	}
	for (unsigned i = 0; i < r->nargs; i++)
		rap__free(argv[i]);
	if (rc == RAP_ENOMEM)
		return rc;
	if (rc < 0)
		return send_str(s, out, rc == RAP_EPROTO ? ERR_MALFORMED : rc == RAP_EDENIED ? "E13" : "E02");
	struct rap_dbg_stop st;
	s->ops->last_stop(s->t, &st);
	return send_stop(s, &st, out);
}

/* Requests while there is no program (extended mode before vRun, or after a failed one). */
static int answer_no_program(struct rap__gdb_session *s, struct rap_gdb_req *r, struct rap__buf *out)
{
	switch (r->kind) {
	case RAP_GDB_REQ_HALT_REASON:
		return send_str(s, out, "W00");
	case RAP_GDB_REQ_THREAD_FIRST:
	case RAP_GDB_REQ_THREAD_NEXT:
		return send_str(s, out, "l");
	case RAP_GDB_REQ_ATTACHED:
		return send_str(s, out, "0");
	case RAP_GDB_REQ_SET_THREAD:
	case RAP_GDB_REQ_KILL:
		return send_str(s, out, "OK");
	case RAP_GDB_REQ_DETACH: {
		int rc = send_str(s, out, "OK");
		return rc < 0 ? rc : RAP__GDB_CLOSE;
	}
	case RAP_GDB_REQ_UNKNOWN:
	case RAP_GDB_REQ_MUST_REPLY_EMPTY:
		return send_str(s, out, "");
	default:
		return send_str(s, out, ERR_GONE);
	}
}

static int answer(struct rap__gdb_session *s, struct rap_gdb_req *r, struct rap__buf *out)
{
	char text[160];
	switch (r->kind) {
	case RAP_GDB_REQ_EXTENDED:
		if (!s->launcher.launch)
			return send_str(s, out, "");
		s->extended = true;
		return send_str(s, out, "OK");
	case RAP_GDB_REQ_RUN:
		return answer_run(s, r, out);
	default:
		break;
	}
	if (!s->t && r->kind != RAP_GDB_REQ_SUPPORTED && r->kind != RAP_GDB_REQ_NOACK &&
	    r->kind != RAP_GDB_REQ_MALFORMED && r->kind != RAP_GDB_REQ_VCONT_QUERY)
		return answer_no_program(s, r, out);
	bool gone = s->t && s->ops->exited(s->t);
	switch (r->kind) {
	case RAP_GDB_REQ_MALFORMED:
		return send_str(s, out, ERR_MALFORMED);
	case RAP_GDB_REQ_SUPPORTED:
		snprintf(text, sizeof(text), "PacketSize=%zx;QStartNoAckMode+;qXfer:features:read+;swbreak+;vContSupported+",
			 s->packet_max);
		return send_str(s, out, text);
	case RAP_GDB_REQ_NOACK: {
		int rc = send_str(s, out, "OK");
		s->noack = true; /* from the next packet on */
		return rc;
	}
	case RAP_GDB_REQ_HALT_REASON: {
		struct rap_dbg_stop st;
		s->ops->last_stop(s->t, &st);
		return send_stop(s, &st, out);
	}
	case RAP_GDB_REQ_VCONT_QUERY:
		return send_str(s, out, "vCont;c;C;s;S");
	case RAP_GDB_REQ_XFER_FEATURES:
		return answer_xfer(s, r, out);
	case RAP_GDB_REQ_ATTACHED:
		return send_str(s, out, s->ops->started(s->t) ? "0" : "1");
	case RAP_GDB_REQ_CURRENT_THREAD:
		snprintf(text, sizeof(text), "QC%x", (unsigned)s->ops->pid(s->t));
		return send_str(s, out, text);
	case RAP_GDB_REQ_THREAD_FIRST:
		if (gone) /* no thread left */
			return send_str(s, out, "l");
		snprintf(text, sizeof(text), "m%x", (unsigned)s->ops->pid(s->t));
		return send_str(s, out, text);
	case RAP_GDB_REQ_THREAD_NEXT:
		return send_str(s, out, "l");
	case RAP_GDB_REQ_SET_THREAD:
		return send_str(s, out, "OK");
	case RAP_GDB_REQ_THREAD_ALIVE:
		return send_str(s, out, gone ? ERR_GONE : "OK");
	case RAP_GDB_REQ_KILL:
	case RAP_GDB_REQ_DETACH: {
		/* Nothing outlives the connection: detach kills a started process too (the
		 * owner frees the target, which kills and reaps it). */
		if (!gone)
			s->ops->kill(s->t, SIGKILL);
		/* vKill and D expect OK; k expects nothing, and an OK does no harm. In
		 * extended mode a kill keeps the connection: gdb may run the program again. */
		int rc = send_str(s, out, "OK");
		if (rc == 0 && s->extended && r->kind == RAP_GDB_REQ_KILL)
			return 0;
		return rc < 0 ? rc : RAP__GDB_CLOSE;
	}
	case RAP_GDB_REQ_CONTINUE:
	case RAP_GDB_REQ_STEP:
		return request_resume(s, r, out); /* once gone: how it ended */
	case RAP_GDB_REQ_UNKNOWN:
	case RAP_GDB_REQ_MUST_REPLY_EMPTY:
		return send_str(s, out, "");
	default:
		break;
	}
	if (gone)
		return send_str(s, out, ERR_GONE);
	switch (r->kind) {
	case RAP_GDB_REQ_READ_REGS:
		return answer_read_regs(s, out);
	case RAP_GDB_REQ_WRITE_REGS:
		return answer_write_regs(s, r, out);
	case RAP_GDB_REQ_READ_REG:
		return answer_read_reg(s, r->regno, out);
	case RAP_GDB_REQ_WRITE_REG:
		return answer_write_reg(s, r, out);
	case RAP_GDB_REQ_READ_MEM:
		return answer_read_mem(s, r, out);
	case RAP_GDB_REQ_WRITE_MEM:
		return answer_write_mem(s, r, out);
	case RAP_GDB_REQ_INSERT_BP:
	case RAP_GDB_REQ_REMOVE_BP:
		return answer_break(s, r, out);
	default:
		return send_str(s, out, "");
	}
}

int rap__gdb_session_input(struct rap__gdb_session *s, const uint8_t *in, size_t len, size_t *consumed,
			   struct rap__buf *out)
{
	*consumed = 0;
	size_t pos = 0;
	/* Bounded: each round consumes at least one byte or returns. */
	while (pos < len) {
		size_t used;
		struct rap_gdb_event ev;
		int rc = rap_gdb_decode(s->dec, in + pos, len - pos, &used, &ev);
		pos += used;
		*consumed = pos;
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		switch (ev.kind) {
		case RAP_GDB_EV_ACK:
		case RAP_GDB_EV_INTERRUPT: /* while stopped: nothing to interrupt */
			continue;
		case RAP_GDB_EV_NAK:
			if (!s->noack && s->last.len) {
				rc = rap__buf_append(out, s->last.data, s->last.len);
				if (rc < 0)
					return rc;
			}
			continue;
		case RAP_GDB_EV_BAD:
			s->bad++;
			if (ev.bad != RAP_GDB_BAD_TOO_BIG && !s->noack) {
				rc = rap__buf_append(out, "-", 1);
			} else {
				/* Read whole but refused: an error reply lets gdb go on. */
				rc = s->noack ? 0 : rap__buf_append(out, "+", 1);
				if (rc == 0)
					rc = send_str(s, out, ev.bad == RAP_GDB_BAD_TOO_BIG ? ERR_TOO_BIG : ERR_MALFORMED);
			}
			if (rc < 0)
				return rc;
			continue;
		case RAP_GDB_EV_PACKET:
			break;
		}
		s->packets++;
		if (!s->noack) {
			rc = rap__buf_append(out, "+", 1);
			if (rc < 0)
				return rc;
		}
		struct rap_gdb_req req;
		/* ev.data is the decoder's own buffer, which the parser may write into. */
		rc = rap_gdb_req_parse((uint8_t *)(uintptr_t)ev.data, ev.len, s->packet_max, &req);
		if (rc == 0)
			rc = answer(s, &req, out);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int rap__gdb_session_resume(struct rap__gdb_session *s, struct rap__buf *out)
{
	if (!s->pending)
		return RAP_EINVAL;
	s->pending = false;
	s->running = true;
	struct rap_dbg_stop st;
	memset(&st, 0, sizeof(st));
	int rc = s->pending_step ? s->ops->step(s->t, &st) : s->ops->cont(s->t, s->pending_sig, &st);
	s->running = false;
	if (rc < 0) {
		/* Gone meanwhile (killed from outside): its last stop says how. */
		if (s->ops->exited(s->t)) {
			s->ops->last_stop(s->t, &st);
			return send_stop(s, &st, out);
		}
		return send_str(s, out, errno_reply(rc));
	}
	return send_stop(s, &st, out);
}
