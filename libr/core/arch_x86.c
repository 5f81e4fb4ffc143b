/* x86 (16, 32 and 64 bits) as radare2 6.2.1 shows it. Capstone decodes in Intel syntax with
 * unsigned immediates (so "push 0xffffffffffffff9d" even in 32 bits); then radare2
 *  - drops every "ptr " ("mov dword [rbp - 4], edi"),
 *  - writes a rip-relative operand as the absolute address, "0x%08x" of the next
 *    instruction's address plus or minus the displacement ("[0xfffffffff0fcb8de]"),
 *  - in 16 bits writes "lcall SEG, OFF" as "lcall SEG:OFF",
 *  - decodes 0f 1a and 0f 1b itself, as the two-byte "nop2".
 * Undecodable bytes are "invalid", one byte at a time. */
#include <stdio.h>
#include <string.h>

#include "arch.h"

static const struct rap__arch_mode modes[] = {
	{ 16, RAP__CS_X86, RAP__CS_MODE_16, 1, 1, 16, 1 },
	{ 32, RAP__CS_X86, RAP__CS_MODE_32, 1, 1, 16, 1 },
	{ 64, RAP__CS_X86, RAP__CS_MODE_64, 1, 1, 16, 1 },
};

static unsigned predecode(const struct rap__arch_ctx *ctx, const uint8_t *buf, size_t len, char *text, size_t cap)
{
	/* radare2's "ghost ops": the hint-nop space 0f 1a / 0f 1b shown as a 2-byte nop. */
	if (len >= 2 && buf[0] == 0x0f && (buf[1] == 0x1a || buf[1] == 0x1b) && cap > 4) {
		memcpy(text, "nop2", 5);
		return 2;
	}
	return 0;
}

/* "[rip + 0x10]" → "[0x%08x]" of the next instruction's address plus 0x10. The '+' and '-'
 * are looked for anywhere after "[rip", as radare2 does. */
static void rip_relative(const struct rap__arch_ctx *ctx, char *text, size_t cap)
{
	char *rip = strstr(text, "[rip");
	if (!rip)
		return;
	uint64_t v = ctx->addr + ctx->size;
	const char *plus = strchr(rip, '+'), *minus = strchr(rip, '-');
	if (plus)
		v += rap__text_number(plus + 1);
	if (minus)
		v -= rap__text_number(minus + 1);
	const char *end = strchr(rip + 3, ']');
	size_t at = (size_t)(rip - text) + 1;
	size_t len = end ? (size_t)(end - text) - at : strlen(text) - at;
	char num[24];
	snprintf(num, sizeof(num), "0x%08llx%s", (unsigned long long)v, end ? "" : "]");
	rap__text_splice(text, cap, at, len, num);
}

static void rewrite(const struct rap__arch_ctx *ctx, char *text, size_t cap)
{
	if (ctx->bits == 16 && !strncmp(text, "lcall", 5)) {
		char *ops = strchr(text, ' ');
		if (ops)
			rap__text_replace_all(ops + 1, cap - (size_t)(ops + 1 - text), ", ", ":");
	}
	rap__text_replace_all(text, cap, "ptr ", "");
	rip_relative(ctx, text, cap);
}

/* Jumps and calls by mnemonic (after the prefixes "bnd" and "notrack"); the target is the
 * immediate, or SEG:OFF of a far one, radare2 taking SEG << 4 + OFF. */
static enum rap__flow flow(const struct rap__arch_ctx *ctx, const char *text, uint64_t *target)
{
	*target = UINT64_MAX;
	while (!strncmp(text, "bnd ", 4) || !strncmp(text, "notrack ", 8))
		text = strchr(text, ' ') + 1;
	char mnemonic[32];
	rap__text_mnemonic(text, mnemonic, sizeof(mnemonic));
	enum rap__flow kind = RAP__FLOW_NONE;
	if (!strcmp(mnemonic, "call") || !strcmp(mnemonic, "lcall"))
		kind = RAP__FLOW_CALL;
	else if (rap__text_word_in(mnemonic, "jmp ljmp ja jae jb jbe jcxz jecxz jrcxz je jne jg jge jl jle jo jno "
					     "jp jnp js jns loop loope loopne"))
		kind = RAP__FLOW_JUMP;
	if (kind == RAP__FLOW_NONE)
		return kind;
	const char *ops = text + strlen(mnemonic);
	const char *colon = strchr(ops, ':');
	if (colon && !strchr(ops, '[')) {
		*target = (rap__text_number(ops) << 4) + rap__text_number(colon + 1);
		return kind;
	}
	uint64_t v;
	if (rap__text_last_number(text, &v))
		*target = v;
	return kind;
}

static unsigned operand_size(const char *word, size_t len)
{
	static const struct {
		const char *name;
		unsigned size;
	} sizes[] = { { "byte", 1 }, { "word", 2 }, { "dword", 4 }, { "qword", 8 } };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (strlen(sizes[i].name) == len && !strncmp(word, sizes[i].name, len))
			return sizes[i].size;
	return 0;
}

/* The parts of an Intel memory operand "[base + index*scale ± disp]". */
struct mem {
	bool base, index, rip, frame; /* frame: the base is rbp or ebp */
	bool disp_neg;
	uint64_t disp;
};

static bool is_register(const char *s, size_t n)
{
	return n > 0 && s[0] >= 'a' && s[0] <= 'z';
}

static void parse_mem(const char *open, const char *close, struct mem *m)
{
	memset(m, 0, sizeof(*m));
	const char *p = open + 1;
	bool neg = false;
	while (p < close) {
		size_t n = 0;
		while (p + n < close && p[n] != ' ')
			n++;
		if (is_register(p, n)) {
			const char *star = memchr(p, '*', n);
			if (star || m->base) {
				m->index = true;
			} else {
				m->base = true;
				m->rip = n == 3 && !strncmp(p, "rip", 3);
				m->frame = n == 3 && (!strncmp(p, "rbp", 3) || !strncmp(p, "ebp", 3));
			}
		} else if (n) {
			m->disp = rap__text_number(p);
			m->disp_neg = neg;
		}
		p += n;
		while (p < close && *p == ' ')
			p++;
		if (p < close && (*p == '+' || *p == '-')) {
			neg = *p == '-';
			p++;
			while (p < close && *p == ' ')
				p++;
		}
	}
}

/* radare2 puts the address a memory operand names into its "[ADDR:SIZE]=VALUE" comment:
 * rip-relative operands, absolute ones ("[0x601040]") and a base or index plus a large
 * displacement (at least 0x1000 without a base, 0x10000 with one); not frame-relative
 * ([rbp - 8]) ones. In the first operand an absolute address below 0x1000 is not one;
 * cmp and test take any absolute address and no base-relative one. lea, nop and jumps
 * through memory get other comments, which are not made here. */
static bool reference(const struct rap__arch_ctx *ctx, const char *text, struct rap__arch_ref *out)
{
	char mnemonic[32];
	rap__text_mnemonic(text, mnemonic, sizeof(mnemonic));
	if (rap__text_word_in(mnemonic, "lea nop call lcall jmp ljmp"))
		return false;
	const char *open = strchr(text, '['), *close = open ? strchr(open, ']') : NULL;
	if (!close)
		return false;
	/* The operand's position, and its size from the keyword before "ptr". */
	int index = 0;
	for (const char *p = text; p < open; p++)
		index += *p == ',';
	const char *ptr = strstr(text, " ptr ");
	if (!ptr || ptr > open)
		return false;
	const char *word = ptr;
	while (word > text && word[-1] != ' ')
		word--;
	unsigned size = operand_size(word, (size_t)(ptr - word));
	if (!size)
		return false;
	bool segment = open[-1] == ':';
	struct mem m;
	parse_mem(open, close, &m);
	uint64_t disp = m.disp_neg ? (uint64_t)0 - m.disp : m.disp;
	bool cmp = !strcmp(mnemonic, "cmp") || !strcmp(mnemonic, "test");
	uint64_t addr;
	if (m.rip) {
		addr = ctx->addr + ctx->size + disp;
	} else if (m.frame) {
		return false;
	} else if (!segment && !m.base && !m.index) {
		addr = disp;
		if (index == 0 && !cmp && addr < 0x1000)
			return false;
	} else if (cmp) {
		return false;
	} else {
		/* The displacement as a signed number against the threshold. */
		int64_t sdisp = (int64_t)disp;
		if (sdisp < (m.base ? 0x10000 : 0x1000))
			return false;
		addr = disp;
	}
	out->addr = addr;
	out->size = size;
	return true;
}

const struct rap__arch rap__arch_x86 = {
	.name = "x86",
	.desc = "Intel x86 (16, 32 and 64 bits)",
	.modes = modes,
	.nmodes = sizeof(modes) / sizeof(modes[0]),
	.default_bits = 64,
	.big_endian = false,
};

const struct rap__arch_rules rap__arch_x86_rules = {
	.predecode = predecode,
	.rewrite = rewrite,
	.flow = flow,
	.reference = reference,
};
