/* GDB Remote Serial Protocol requests (rap/gdb_rsp.h): one packet, as the decoder yields
 * it, parsed into a typed request. Every field is strict hex that must fit its type and be
 * followed by exactly the separator the packet's syntax puts there; anything else makes
 * the request MALFORMED with a reason, never a guess. */
#include <string.h>

#include <rap/gdb_rsp.h>
#include <rap/rap.h>

#include "common.h"

#define REGNO_MAX 0xffffu
#define BPKIND_MAX 0xffffu
#define SIGNO_MAX 0xffu

/* A cursor over the packet. */
struct cur {
	const char *p;
	const char *end;
};

/* One or more hex digits whose value fits in max. */
static bool hex_num(struct cur *c, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *start = c->p;
	while (c->p < c->end && rap__hexval(*c->p) >= 0) {
		if (v > (max >> 4))
			return false;
		v = v << 4 | (uint64_t)rap__hexval(*c->p);
		if (v > max)
			return false;
		c->p++;
	}
	if (c->p == start)
		return false;
	*out = v;
	return true;
}

static bool eat(struct cur *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static bool at_end(const struct cur *c)
{
	return c->p == c->end;
}

static bool has_prefix(const struct cur *c, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(c->end - c->p) >= n && !memcmp(c->p, s, n);
}

static bool is(const struct cur *c, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(c->end - c->p) == n && !memcmp(c->p, s, n);
}

static void malformed(struct rap_gdb_req *r, const char *why)
{
	memset(r, 0, sizeof(*r));
	r->kind = RAP_GDB_REQ_MALFORMED;
	r->why = why;
}

/* A thread id: "-1", "0", hex, or (multiprocess) "p" pid ["." tid]. Only checked. */
static bool thread_id(struct cur *c)
{
	uint64_t v;
	if (eat(c, 'p')) {
		if (!eat(c, '-') ? !hex_num(c, UINT32_MAX, &v) : !eat(c, '1'))
			return false;
		if (!eat(c, '.'))
			return true;
	}
	if (eat(c, '-'))
		return eat(c, '1');
	return hex_num(c, UINT32_MAX, &v);
}

/* addr "," length; the range must not wrap past 2^64. */
static bool addr_len(struct cur *c, struct rap_gdb_req *r)
{
	if (!hex_num(c, UINT64_MAX, &r->addr) || !eat(c, ',') || !hex_num(c, UINT64_MAX, &r->len))
		return false;
	return true;
}

static bool range_ok(const struct rap_gdb_req *r)
{
	return r->len == 0 || r->addr <= UINT64_MAX - (r->len - 1);
}

/* m addr,length   M addr,length:XX...   X addr,length:binary */
static void parse_mem(struct cur *c, char op, uint64_t maxmem, struct rap_gdb_req *r)
{
	if (!addr_len(c, r))
		{ malformed(r, "expected addr,length in hex"); return; }
	if (!range_ok(r))
		{ malformed(r, "the range wraps past the end of the address space"); return; }
	if (r->len > maxmem)
		{ malformed(r, "length over the packet size"); return; }
	if (op == 'm') {
		if (!at_end(c))
			{ malformed(r, "garbage after the length"); return; }
		r->kind = RAP_GDB_REQ_READ_MEM;
		return;
	}
	if (!eat(c, ':'))
		{ malformed(r, "expected ':' after the length"); return; }
	size_t rest = (size_t)(c->end - c->p);
	if (op == 'X') {
		if (rest != r->len)
			{ malformed(r, "binary data does not match the length"); return; }
		r->data = (const uint8_t *)c->p;
	} else {
		if (rest % 2)
			{ malformed(r, "odd number of hex digits"); return; }
		if (rest / 2 != r->len)
			{ malformed(r, "hex data does not match the length"); return; }
		uint8_t *out = (uint8_t *)(uintptr_t)c->p;
		if (rap_gdb_hex_decode(c->p, rest / 2, out) < 0)
			{ malformed(r, "invalid hex digit"); return; }
		r->data = out;
	}
	r->kind = RAP_GDB_REQ_WRITE_MEM;
}

/* c [addr]   s [addr]   C sig[;addr]   S sig[;addr] */
static void parse_resume(struct cur *c, char op, struct rap_gdb_req *r)
{
	uint64_t v;
	if (op == 'C' || op == 'S') {
		if (!hex_num(c, SIGNO_MAX, &v))
			{ malformed(r, "expected a signal number in hex"); return; }
		r->signo = (int)v;
		if (!at_end(c) && (!eat(c, ';') || at_end(c)))
			{ malformed(r, "expected ';' and an address after the signal"); return; }
	}
	if (!at_end(c)) {
		if (!hex_num(c, UINT64_MAX, &r->addr) || !at_end(c))
			{ malformed(r, "expected an address in hex"); return; }
		r->has_addr = true;
	}
	r->kind = op == 'c' || op == 'C' ? RAP_GDB_REQ_CONTINUE : RAP_GDB_REQ_STEP;
}

/* vCont;action[:thread][;action[:thread]]...: every action is checked, the leftmost one
 * is the request (one thread: it is the one that applies). */
static void parse_vcont(struct cur *c, struct rap_gdb_req *r)
{
	bool first = true;
	if (at_end(c))
		{ malformed(r, "vCont without an action"); return; }
	while (eat(c, ';')) {
		uint64_t sig = 0;
		enum rap_gdb_req_kind kind;
		if (eat(c, 'c')) {
			kind = RAP_GDB_REQ_CONTINUE;
		} else if (eat(c, 's')) {
			kind = RAP_GDB_REQ_STEP;
		} else if (eat(c, 'C') || eat(c, 'S')) {
			kind = c->p[-1] == 'C' ? RAP_GDB_REQ_CONTINUE : RAP_GDB_REQ_STEP;
			if (!hex_num(c, SIGNO_MAX, &sig))
				{ malformed(r, "expected a signal number in hex"); return; }
		} else {
			{ malformed(r, "unsupported vCont action"); return; }
		}
		if (eat(c, ':') && !thread_id(c))
			{ malformed(r, "invalid thread id"); return; }
		if (first) {
			r->kind = kind;
			r->signo = (int)sig;
			first = false;
		}
		if (!at_end(c) && *c->p != ';')
			{ malformed(r, "garbage after a vCont action"); return; }
	}
	if (!at_end(c) || first)
		{ malformed(r, "expected ';' before each vCont action"); return; }
}

/* Z type,addr,kind[;cond...]   z type,addr,kind */
static void parse_break(struct cur *c, char op, struct rap_gdb_req *r)
{
	uint64_t type, kind;
	if (!hex_num(c, 4, &type) || !eat(c, ',') || !hex_num(c, UINT64_MAX, &r->addr) || !eat(c, ',') ||
	    !hex_num(c, BPKIND_MAX, &kind))
		{ malformed(r, "expected type,addr,kind in hex"); return; }
	if (!at_end(c) && *c->p != ';')
		{ malformed(r, "garbage after the kind"); return; }
	r->bptype = (unsigned)type;
	r->len = kind;
	r->kind = op == 'Z' ? RAP_GDB_REQ_INSERT_BP : RAP_GDB_REQ_REMOVE_BP;
}

/* qXfer:features:read:annex:offset,length */
static void parse_xfer(struct cur *c, struct rap_gdb_req *r)
{
	char *annex = (char *)(uintptr_t)c->p;
	const char *colon = memchr(c->p, ':', (size_t)(c->end - c->p));
	if (!colon || colon == c->p)
		{ malformed(r, "expected annex:offset,length"); return; }
	c->p = colon + 1;
	if (!addr_len(c, r) || !at_end(c))
		{ malformed(r, "expected offset,length in hex"); return; }
	if (memchr(annex, '\0', (size_t)(colon - annex)))
		{ malformed(r, "NUL in the annex"); return; }
	annex[colon - annex] = '\0';
	r->annex = annex;
	r->kind = RAP_GDB_REQ_XFER_FEATURES;
}

static void parse_q(struct cur *c, struct rap_gdb_req *r)
{
	if (is(c, "qSupported") || has_prefix(c, "qSupported:")) {
		r->kind = RAP_GDB_REQ_SUPPORTED;
		/* features are ';'-separated; only multiprocess+ matters here */
		for (const char *p = c->p; p < c->end;) {
			const char *e = memchr(p, ';', (size_t)(c->end - p));
			if (!e)
				e = c->end;
			const char *start = p == c->p ? p + 11 : p;
			if (start <= e && (size_t)(e - start) == 13 && !memcmp(start, "multiprocess+", 13))
				r->multiprocess = true;
			p = e + 1;
		}
	} else if (has_prefix(c, "qXfer:features:read:")) {
		c->p += 20;
		parse_xfer(c, r);
	} else if (is(c, "qAttached")) {
		r->kind = RAP_GDB_REQ_ATTACHED;
	} else if (has_prefix(c, "qAttached:")) {
		uint64_t pid;
		c->p += 10;
		if (!hex_num(c, UINT32_MAX, &pid) || !at_end(c))
			{ malformed(r, "expected a process id in hex"); return; }
		r->kind = RAP_GDB_REQ_ATTACHED;
	} else if (is(c, "qC")) {
		r->kind = RAP_GDB_REQ_CURRENT_THREAD;
	} else if (is(c, "qfThreadInfo")) {
		r->kind = RAP_GDB_REQ_THREAD_FIRST;
	} else if (is(c, "qsThreadInfo")) {
		r->kind = RAP_GDB_REQ_THREAD_NEXT;
	}
}

/* vRun;hex[;hex]...: every field even-length hex (the file may be empty). */
static void parse_run(struct cur *c, struct rap_gdb_req *r)
{
	const char *start = c->p;
	unsigned n = 0;
	for (;;) {
		const char *f = c->p;
		while (c->p < c->end && rap__hexval(*c->p) >= 0)
			c->p++;
		if ((c->p - f) % 2) {
			malformed(r, "odd number of hex digits");
			return;
		}
		if (++n > RAP_GDB_RUN_ARGS_MAX) {
			malformed(r, "too many arguments");
			return;
		}
		if (at_end(c))
			break;
		if (!eat(c, ';')) {
			malformed(r, "expected hex fields separated by ';'");
			return;
		}
	}
	r->kind = RAP_GDB_REQ_RUN;
	r->data = (const uint8_t *)start;
	r->len = (uint64_t)(c->end - start);
	r->nargs = n;
}

static void parse_v(struct cur *c, struct rap_gdb_req *r)
{
	if (has_prefix(c, "vRun;")) {
		c->p += 5;
		parse_run(c, r);
	} else if (is(c, "vCont?")) {
		r->kind = RAP_GDB_REQ_VCONT_QUERY;
	} else if (has_prefix(c, "vCont;")) {
		c->p += 5;
		parse_vcont(c, r);
	} else if (is(c, "vMustReplyEmpty")) {
		r->kind = RAP_GDB_REQ_MUST_REPLY_EMPTY;
	} else if (has_prefix(c, "vKill;")) {
		uint64_t pid;
		c->p += 6;
		if (!hex_num(c, UINT32_MAX, &pid) || !at_end(c))
			{ malformed(r, "expected a process id in hex"); return; }
		r->kind = RAP_GDB_REQ_KILL;
	}
}

int rap_gdb_req_parse(uint8_t *pkt, size_t len, uint64_t maxmem, struct rap_gdb_req *req)
{
	if (!pkt || !req)
		return RAP_EINVAL;
	memset(req, 0, sizeof(*req));
	req->kind = RAP_GDB_REQ_UNKNOWN;
	if (len == 0)
		return 0;
	struct cur c = { (const char *)pkt, (const char *)pkt + len };
	char op = *c.p;
	uint64_t v;
	switch (op) {
	case '?':
		if (len == 1)
			req->kind = RAP_GDB_REQ_HALT_REASON;
		break;
	case 'g':
		if (len == 1)
			req->kind = RAP_GDB_REQ_READ_REGS;
		break;
	case 'G': {
		size_t digits = len - 1;
		if (digits == 0 || digits % 2) {
			malformed(req, digits ? "odd number of hex digits" : "no register data");
			break;
		}
		uint8_t *out = pkt + 1;
		if (rap_gdb_hex_decode((const char *)pkt + 1, digits / 2, out) < 0) {
			malformed(req, "invalid hex digit");
			break;
		}
		req->kind = RAP_GDB_REQ_WRITE_REGS;
		req->data = out;
		req->len = digits / 2;
		break;
	}
	case 'p':
		c.p++;
		if (!hex_num(&c, REGNO_MAX, &v) || !at_end(&c)) {
			malformed(req, "expected a register number in hex");
			break;
		}
		req->kind = RAP_GDB_REQ_READ_REG;
		req->regno = (unsigned)v;
		break;
	case 'P': {
		c.p++;
		if (!hex_num(&c, REGNO_MAX, &v) || !eat(&c, '=')) {
			malformed(req, "expected n=value with n in hex");
			break;
		}
		size_t digits = (size_t)(c.end - c.p);
		if (digits == 0 || digits % 2) {
			malformed(req, digits ? "odd number of hex digits" : "no register value");
			break;
		}
		uint8_t *out = (uint8_t *)(uintptr_t)c.p;
		if (rap_gdb_hex_decode(c.p, digits / 2, out) < 0) {
			malformed(req, "invalid hex digit");
			break;
		}
		req->kind = RAP_GDB_REQ_WRITE_REG;
		req->regno = (unsigned)v;
		req->data = out;
		req->len = digits / 2;
		break;
	}
	case 'm':
	case 'M':
	case 'X':
		c.p++;
		parse_mem(&c, op, maxmem, req);
		break;
	case 'c':
	case 's':
	case 'C':
	case 'S':
		c.p++;
		parse_resume(&c, op, req);
		break;
	case 'Z':
	case 'z':
		c.p++;
		parse_break(&c, op, req);
		break;
	case 'k':
		if (len == 1)
			req->kind = RAP_GDB_REQ_KILL;
		break;
	case 'D':
		c.p++;
		if (at_end(&c)) {
			req->kind = RAP_GDB_REQ_DETACH;
		} else if (!eat(&c, ';') || !hex_num(&c, UINT32_MAX, &v) || !at_end(&c)) {
			malformed(req, "expected D or D;pid");
		} else {
			req->kind = RAP_GDB_REQ_DETACH;
		}
		break;
	case 'H':
		c.p++;
		if (c.p == c.end || !(*c.p == 'g' || *c.p == 'c' || *c.p == 'G')) {
			malformed(req, "expected Hg or Hc");
			break;
		}
		c.p++;
		if (!thread_id(&c) || !at_end(&c)) {
			malformed(req, "invalid thread id");
			break;
		}
		req->kind = RAP_GDB_REQ_SET_THREAD;
		break;
	case 'T':
		c.p++;
		if (!thread_id(&c) || !at_end(&c)) {
			malformed(req, "invalid thread id");
			break;
		}
		req->kind = RAP_GDB_REQ_THREAD_ALIVE;
		break;
	case 'q':
		parse_q(&c, req);
		break;
	case 'Q':
		if (is(&c, "QStartNoAckMode"))
			req->kind = RAP_GDB_REQ_NOACK;
		break;
	case 'v':
		parse_v(&c, req);
		break;
	case '!':
		if (len == 1)
			req->kind = RAP_GDB_REQ_EXTENDED;
		break;
	default:
		break;
	}
	return 0;
}
