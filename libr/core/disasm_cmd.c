/* pd, pi and pD: which bytes of the current file to disassemble, as radare2 6.2.1 picks
 * them, and the listing (records from disasm.c, text from disasm_print.c).
 *
 *   pi N / pd N   N instructions from the position (default: the block size).
 *   pi -N / pd -N N instructions ending at the position: the start is found N steps back,
 *                 one step being the instruction size of fixed-size architectures, or,
 *                 for x86 and Thumb, the instruction that covers the position when 32
 *                 bytes before it are decoded in a row; an unaligned position steps back
 *                 to the alignment first. From there N instructions are listed.
 *   pD N / pD -N  the instructions in the N bytes from (or before) the position; the last
 *                 one is decoded from the bytes left in the range ("invalid" when they are
 *                 too few).
 *
 * The jump arrows of pd and pD cover the jumps radare2 finds when it scans the first block
 * (pd: the block size from the start, pd -N: twice the block size plus 64, pD: the range)
 * for at most N instructions, stepping one byte over what its decoder rejects and four
 * past the end of the file. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rap/core.h>

#include "common.h"
#include <rap/dbg.h>
#include <rap/io.h>

#include "core_private.h"
#include "disasm.h"

#define WINDOW 4096u
#define LOOKAHEAD 32u        /* bytes past an address a decode is given (the longest is 16) */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define BACKWARD_MAX 0xffffu /* radare2's limit of instructions walked backwards */
#else
#define BACKWARD_MAX 0x3ffu /* libFuzzer builds: see meson.build */
#endif
#define PREV_SPAN 32u        /* bytes decoded in a row to find the previous x86 instruction */

/* A window of the current file's bytes. */
struct reader {
	struct rap_core *c;
	uint64_t base;
	size_t len;
	uint8_t buf[WINDOW];
};

/* Points *p at the bytes at addr, with at least LOOKAHEAD of them in *avail. */
static int reader_at(struct reader *r, uint64_t addr, const uint8_t **p, size_t *avail)
{
	if (!r->len || addr < r->base || addr - r->base > r->len - LOOKAHEAD) {
		r->len = 0;
		int rc = rap__core_read(r->c, addr, r->buf, WINDOW);
		if (rc < 0) {
			rap__core_errorf(r->c, "cannot read at 0x%08" PRIx64 ": %s", addr, rap_strerror(rc));
			return rc;
		}
		r->base = addr;
		r->len = WINDOW;
	}
	*p = r->buf + (addr - r->base);
	*avail = r->len - (size_t)(addr - r->base);
	return 0;
}

struct listing {
	struct rap_core *c;
	struct rap__disasm *d;             /* owned */
	const struct rap__arch_mode *mode; /* static */
	struct rap__reflines *jumps;       /* owned; NULL without asm.lines */
	struct rap__disasm_style style;
	char kind;                         /* 'd' (pd, pD) or 'i' (pi) */
	uint64_t size;                     /* of the file; UINT64_MAX: unknown */
	struct reader *rd;                 /* owned */
	/* A debugged process's program counter, flagged in pd as radare2 does ("pc" names
	 * the register); has_pc false on other files. */
	bool has_pc;
	uint64_t pc;
	const char *pc_name;
};

static bool var_true(const struct rap_core *c, enum rap__core_var v)
{
	return !strcmp(c->vars[v], "true");
}

static int open_listing(struct rap_core *c, char kind, struct listing *l)
{
	memset(l, 0, sizeof(*l));
	l->c = c;
	l->kind = kind;
	struct rap_dbg *dbg = c->fd >= 0 ? rap_io_dbg(c->io, c->fd) : NULL;
	const struct rap_dbg_reg *pcr = dbg ? rap_dbg_arch_role(rap_dbg_arch(dbg), RAP_DBG_ROLE_PC) : NULL;
	if (pcr && rap_dbg_reg_get(dbg, pcr->name, &l->pc) == 0) {
		l->has_pc = true;
		l->pc_name = pcr->name;
	}
	if (c->fd < 0) {
		rap__core_errorf(c, "no file is open (open one with 'o URI')");
		return RAP_EBADFD;
	}
	const struct rap__arch *a = rap__arch_find(c->vars[RAP__VAR_ASM_ARCH]);
	unsigned bits = (unsigned)strtoul(c->vars[RAP__VAR_ASM_BITS], NULL, 10);
	bool big = var_true(c, RAP__VAR_CFG_BIGENDIAN);
	int rc = rap__disasm_new(a, bits, big, &l->d);
	if (rc == RAP_ENOTSUP) {
		rap__core_errorf(c, "disassembly is not in this build (rap was built without Capstone)");
		return rc;
	}
	if (rc < 0) {
		rap__core_errorf(c, "cannot disassemble %s in %u bits: %s", c->vars[RAP__VAR_ASM_ARCH], bits,
				 rap_strerror(rc));
		return rc;
	}
	l->mode = rap__disasm_mode(l->d);
	l->rd = rap__calloc(1, sizeof(*l->rd));
	if (!l->rd) {
		rap__disasm_free(l->d);
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	l->rd->c = c;
	l->style.lines = kind == 'd' && var_true(c, RAP__VAR_ASM_LINES);
	l->style.comments = kind == 'd' && var_true(c, RAP__VAR_ASM_COMMENTS);
	l->style.segments = a == &rap__arch_x86 && bits == 16;
	l->style.big = big;
	if (rap_io_size(c->io, c->fd, &l->size) < 0)
		l->size = UINT64_MAX;
	return 0;
}

static void close_listing(struct listing *l)
{
	rap__reflines_free(l->jumps);
	rap__disasm_free(l->d);
	rap__free(l->rd);
}

/* Decodes the instruction at addr with at most limit bytes of it in range. */
static int decode_at(struct listing *l, uint64_t addr, uint64_t limit, struct rap__insn *in)
{
	const uint8_t *p;
	size_t avail;
	int rc = reader_at(l->rd, addr, &p, &avail);
	if (rc < 0)
		return rc;
	rap__disasm_decode(l->d, addr, p, limit < avail ? (size_t)limit : avail, avail, in);
	return 0;
}

/* radare2's scan for the jump arrows (see the top of the file). */
static int scan_jumps(struct listing *l, uint64_t start, uint64_t span, uint64_t count)
{
	if (!l->style.lines)
		return 0;
	int rc = rap__reflines_new(&l->jumps);
	if (rc < 0) {
		rap__core_errorf(l->c, "out of memory");
		return rc;
	}
	uint64_t at = 0, addr = start;
	unsigned step = 0;
	for (unsigned n = 0; at < span && count > 0; count--, n++) {
		/* Up to 16 MiB are scanned before the first line: a user or a disconnecting client
		 * must be able to stop that too. */
		if ((n & 4095) == 0 && rap__core_interrupted(l->c)) {
			rap__core_errorf(l->c, "interrupted after scanning 0x%" PRIx64 " of 0x%" PRIx64 " bytes for jumps",
			                 at, span);
			return -EINTR;
		}
		addr += step;
		if (l->size != UINT64_MAX && addr >= l->size) {
			/* Past the file radare2 steps 4 bytes more than the last instruction. */
			at += 4 + step;
			addr += 4;
			continue;
		}
		struct rap__insn in;
		rc = decode_at(l, addr, span - at, &in);
		if (rc < 0)
			return rc;
		step = in.failed ? 1 : in.size;
		if (!in.failed && in.flow == RAP__FLOW_JUMP && in.target != UINT64_MAX && in.target != 0) {
			rc = rap__reflines_add(l->jumps, addr, in.target);
			if (rc < 0) {
				rap__core_errorf(l->c, "out of memory");
				return rc;
			}
		}
		at += step;
	}
	rap__reflines_layout(l->jumps);
	return 0;
}

/* Prints one record. */
static int emit(struct listing *l, const struct rap__insn *in)
{
	struct rap_core *c = l->c;
	if (l->kind == 'i') {
		rap__disasm_print_text(c->out, in);
		return 0;
	}
	char arrows[64];
	if (l->jumps)
		rap__reflines_render(l->jumps, in->addr, arrows, sizeof(arrows));
	uint8_t ref[8];
	bool have_ref = false;
	/* radare2 comments on addresses that are positive as signed numbers only. */
	if (l->style.comments && in->has_ref && (int64_t)in->ref.addr > 0 && in->ref.size <= sizeof(ref)) {
		int rc = rap__core_read(c, in->ref.addr, ref, in->ref.size);
		if (rc < 0) {
			rap__core_errorf(c, "cannot read at 0x%08" PRIx64 ": %s", in->ref.addr, rap_strerror(rc));
			return rc;
		}
		have_ref = true;
	}
	/* radare2's flag line above the instruction at the program counter. */
	if (l->has_pc && in->addr == l->pc)
		fprintf(c->out, "%s;-- %s:\n", l->jumps ? "            " : "", l->pc_name);
	rap__disasm_print_line(c->out, &l->style, in, l->jumps ? arrows : NULL, have_ref ? ref : NULL);
	return 0;
}

/* Stops a long listing when the capture passed its cap or the user interrupted. */
static int keep_going(struct listing *l, uint64_t done, uint64_t total, const char *unit)
{
	if (rap__core_output_over(l->c))
		return RAP_ETOOBIG;
	if (rap__core_interrupted(l->c)) {
		fflush(l->c->out);
		rap__core_errorf(l->c, "interrupted after %" PRIu64 " of %" PRIu64 " %s", done, total, unit);
		return -EINTR;
	}
	return 0;
}

/* count instructions from start. */
static int list_count(struct listing *l, uint64_t start, uint64_t count)
{
	uint64_t addr = start;
	for (uint64_t i = 0; i < count; i++) {
		int rc = (i & 63) == 0 ? keep_going(l, i, count, "instructions") : 0;
		struct rap__insn in;
		if (rc == 0)
			rc = decode_at(l, addr, UINT64_MAX, &in);
		if (rc == 0)
			rc = emit(l, &in);
		if (rc < 0)
			return rc;
		addr += in.size;
	}
	return 0;
}

/* The instructions of the len bytes from start. */
static int list_bytes(struct listing *l, uint64_t start, uint64_t len)
{
	unsigned n = 0;
	for (uint64_t done = 0; done < len; n++) {
		int rc = (n & 63) == 0 ? keep_going(l, done, len, "bytes") : 0;
		struct rap__insn in;
		if (rc == 0)
			rc = decode_at(l, start + done, len - done, &in);
		if (rc == 0)
			rc = emit(l, &in);
		if (rc < 0)
			return rc;
		done += in.size;
	}
	return 0;
}

/* One instruction back from addr, as radare2 steps back (see the top of the file). */
static int prev_insn(struct listing *l, uint64_t addr, uint64_t *out)
{
	const struct rap__arch_mode *m = l->mode;
	if (m->align > 1 && addr % m->align) {
		*out = addr - addr % m->align;
		return 0;
	}
	if (m->min_op == m->max_op) {
		*out = addr < m->min_op ? 0 : addr - m->min_op;
		return 0;
	}
	uint64_t base = addr > PREV_SPAN ? addr - PREV_SPAN : 0;
	uint8_t buf[2 * PREV_SPAN];
	int rc = rap__core_read(l->c, base, buf, sizeof(buf));
	if (rc < 0) {
		rap__core_errorf(l->c, "cannot read at 0x%08" PRIx64 ": %s", base, rap_strerror(rc));
		return rc;
	}
	for (size_t i = 0; i < sizeof(buf); i++) {
		struct rap__insn in;
		rap__disasm_decode(l->d, base + i, buf + i, sizeof(buf) - i, sizeof(buf) - i, &in);
		unsigned len = in.size ? in.size : 1;
		if (addr <= base + i + len) {
			*out = base + i;
			return 0;
		}
		i += len - 1;
	}
	*out = addr > 4 ? addr - 4 : 0;
	return 0;
}

static int walk_back(struct listing *l, uint64_t addr, uint64_t count, uint64_t *start)
{
	for (uint64_t i = 0; i < count; i++) {
		int rc = (i & 63) == 0 ? keep_going(l, i, count, "instructions back") : 0;
		if (rc == 0)
			rc = prev_insn(l, addr, &addr);
		if (rc < 0)
			return rc;
	}
	*start = addr;
	return 0;
}

int rap__core_cmd_disasm(struct rap_core *c, const char *name, char *args)
{
	bool bytes = !strcmp(name, "pD");
	uint64_t n = c->blocksize;
	bool back = false;
	if (*args) {
		if (rap__core_eval(c, args, &n) < 0) {
			rap__core_errorf(c, "invalid %s '%s'", bytes ? "length" : "count", args);
			return RAP_EINVAL;
		}
		if ((int64_t)n < 0) {
			back = true;
			n = (uint64_t)0 - n;
		}
	}
	if (!n)
		return 0;
	if (n > RAP__CORE_BLOCK_MAX || (back && !bytes && n > BACKWARD_MAX)) {
		rap__core_errorf(c, "%s %s0x%" PRIx64 " is larger than the maximum 0x%x", bytes ? "length" : "count",
				 back ? "-" : "", n, back && !bytes ? BACKWARD_MAX : RAP__CORE_BLOCK_MAX);
		return RAP_ETOOBIG;
	}
	struct listing l;
	int rc = open_listing(c, name[1] == 'i' ? 'i' : 'd', &l);
	if (rc < 0)
		return rc;
	uint64_t start = c->off;
	if (bytes) {
		if (back)
			start -= n;
		rc = scan_jumps(&l, start, n, n);
		if (rc == 0)
			rc = list_bytes(&l, start, n);
	} else {
		uint64_t span = c->blocksize;
		if (back) {
			rc = walk_back(&l, c->off, n, &start);
			/* radare2 scans twice the block and 64 bytes, more when the walk went further. */
			uint64_t walked = c->off - start;
			span = 2 * (uint64_t)c->blocksize + 64;
			if (walked > c->blocksize)
				span += walked + 32;
		}
		if (rc == 0)
			rc = scan_jumps(&l, start, span, n);
		if (rc == 0)
			rc = list_count(&l, start, n);
	}
	close_listing(&l);
	return rc;
}
