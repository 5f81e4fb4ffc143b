/* ARM as radare2 6.2.1 shows it: asm.bits 16 is Thumb, 32 is ARM, 64 is AArch64. Capstone's
 * text with every '#' dropped ("mov r0, 1"), and
 *  - a pc-relative operand "[pc, N]" written as the address "[0x%08x]": the instruction's
 *    address plus 4 (a 2-byte instruction, or one whose text has ".w") or 8, rounded down
 *    to a multiple of 4, plus or minus N;
 *  - Capstone's "udf" and "hint" shown as "invalid";
 *  - on AArch64, the memory-tagging instructions of ARMv8.5 that Capstone 4 does not know
 *    (irg, gmi, subp, subps, cmpp, addg, subg, bti, stg, stzg, st2g, stz2g, stgm, stzgm,
 *    ldg, ldgm, stgp) decoded as radare2 prints them, quirks included: the offset of stgp
 *    keeps only its low 8 bits ("stgp x8, x4, [x2, 0x20]!").
 * Whatever cannot be decoded is "invalid", four bytes at a time, in Thumb too. AArch64
 * instruction words are little-endian whatever cfg.bigendian says (radare2's rule), but
 * the memory-tagging words are read in the cfg.bigendian order, as radare2 reads them. */
#include <stdio.h>
#include <string.h>

#include "arch.h"

static const struct rap__arch_mode modes[] = {
	{ 16, RAP__CS_ARM, RAP__CS_MODE_THUMB | RAP__CS_ENDIAN, 2, 2, 4, 4 },
	{ 32, RAP__CS_ARM, RAP__CS_MODE_ARM | RAP__CS_ENDIAN, 4, 4, 4, 4 },
	{ 64, RAP__CS_ARM64, RAP__CS_MODE_ARM, 4, 4, 4, 4 },
};

static bool invalid(const char *mnemonic)
{
	return !strncmp(mnemonic, "hint", 4) || !strncmp(mnemonic, "udf", 3);
}

/* ---- AArch64 memory tagging (ARMv8.5), which Capstone 4 cannot decode ---------------- */

static unsigned field(uint32_t w, unsigned lsb, unsigned width)
{
	return (w >> lsb) & ((1u << width) - 1);
}

/* Data processing (2 source), 64-bit: irg, gmi, subp, subps and its alias cmpp. */
static bool tag_dp_reg(uint32_t w, char *text, size_t cap)
{
	if (field(w, 30, 1) || !field(w, 28, 1) || field(w, 21, 4) != 6 || !field(w, 31, 1))
		return false;
	unsigned s = field(w, 29, 1), opcode = field(w, 10, 5);
	unsigned xm = field(w, 16, 5), xn = field(w, 5, 5), xd = field(w, 0, 5);
	const char *m = NULL;
	if (!s)
		m = opcode == 4 ? "irg" : opcode == 0 ? "subp" : opcode == 5 ? "gmi" : NULL;
	else if (opcode == 0)
		m = "subps";
	if (!m)
		return false;
	if (xm == 31 && !strcmp(m, "irg"))
		snprintf(text, cap, "%s x%u, x%u", m, xd, xn);
	else if (s && xd == 31)
		snprintf(text, cap, "cmpp x%u, x%u", xn, xm);
	else
		snprintf(text, cap, "%s x%u, x%u, x%u", m, xd, xn, xm);
	return true;
}

/* Add/subtract immediate with tags: addg, subg. */
static bool tag_dp_imm(uint32_t w, char *text, size_t cap)
{
	if (field(w, 23, 3) != 3 || !field(w, 31, 1) || field(w, 29, 1) || field(w, 22, 1))
		return false;
	snprintf(text, cap, "%s x%u, x%u, 0x%x, %u", field(w, 30, 1) ? "subg" : "addg", field(w, 0, 5),
		 field(w, 5, 5), field(w, 16, 6) << 4, field(w, 10, 4));
	return true;
}

/* The branch target identification hints: bti, bti c, bti j, bti jc. */
static bool tag_bti(uint32_t w, char *text, size_t cap)
{
	if (field(w, 29, 3) != 6 || field(w, 12, 14) != 4146 || field(w, 0, 5) != 31)
		return false;
	static const char *const forms[] = { "bti", NULL, "bti c", NULL, "bti j", NULL, "bti jc", NULL };
	const char *f = field(w, 8, 4) == 4 ? forms[field(w, 5, 3)] : NULL;
	if (!f)
		return false;
	snprintf(text, cap, "%s", f);
	return true;
}

/* Loads and stores of memory tags, and stgp. */
static bool tag_ldst(uint32_t w, char *text, size_t cap)
{
	unsigned op0 = field(w, 28, 4), op1 = field(w, 26, 1), op2 = field(w, 23, 2), op3 = field(w, 21, 1);
	unsigned xn = field(w, 5, 5), xt = field(w, 0, 5);
	if (op0 == 13 && !op1 && (op2 == 2 || op2 == 3) && op3) {
		unsigned opc = field(w, 22, 2), imm9 = field(w, 12, 9) << 4, mode = field(w, 10, 2);
		if (mode) {
			static const char *const names[] = { "stg", "stzg", "st2g", "stz2g" };
			static const char *const forms[] = { NULL, "%s x%u, [x%u], 0x%x", "%s x%u, [x%u, 0x%x]",
							     "%s x%u, [x%u, 0x%x]!" };
			snprintf(text, cap, forms[mode], names[opc], xt, xn, imm9);
			return true;
		}
		static const char *const names[] = { "stzgm", "ldg", "stgm", "ldgm" };
		if (opc == 1)
			snprintf(text, cap, "%s x%u, [x%u, 0x%x]", names[opc], xt, xn, imm9);
		else
			snprintf(text, cap, "%s x%u, [x%u]", names[opc], xt, xn);
		return true;
	}
	if ((op0 & 3) == 2 && field(w, 30, 2) == 1 && !field(w, 26, 1) && !field(w, 22, 1)) {
		/* radare2 keeps imm7 << 4 in a byte: only the low 8 bits are shown. */
		unsigned imm = (field(w, 15, 7) << 4) & 0xff, xt2 = field(w, 10, 5);
		static const char *const forms[] = { NULL, "stgp x%u, x%u, [x%u], 0x%x", "stgp x%u, x%u, [x%u, 0x%x]",
						     "stgp x%u, x%u, [x%u, 0x%x]!" };
		if (!forms[op2])
			return false;
		snprintf(text, cap, forms[op2], xt, xt2, xn, imm);
		return true;
	}
	return false;
}

static bool fallback(const struct rap__arch_ctx *ctx, const uint8_t *buf, size_t len, char *text, size_t cap)
{
	if (ctx->bits != 64 || len < 4)
		return false;
	uint32_t w = ctx->big ? (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3]
			      : (uint32_t)buf[3] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[1] << 8 | buf[0];
	bool ok = false;
	switch (field(w, 25, 4)) {
	case 5: case 13: ok = tag_dp_reg(w, text, cap); break;
	case 8: case 9: ok = tag_dp_imm(w, text, cap); break;
	case 10: case 11: ok = tag_bti(w, text, cap); break;
	case 4: case 6: case 12: case 14: ok = tag_ldst(w, text, cap); break;
	default: break;
	}
	/* Register 31 of these instructions is the stack pointer. */
	return ok && rap__text_replace_all(text, cap, "x31", "sp");
}

/* ---- text ---------------------------------------------------------------------------- */

/* "[pc, N]" → "[0x%08x]" (see the top of the file). A comma after "[pc, " leaves it. */
static void pc_relative(const struct rap__arch_ctx *ctx, char *text, size_t cap)
{
	char *pc = strstr(text, "[pc, ");
	if (!pc || strchr(pc + 4, ','))
		return;
	const char *num = pc + 4;
	uint64_t off = (ctx->size == 2 || strstr(text, ".w") || strstr(text, ".W")) ? 4 : 8;
	uint64_t v = (ctx->addr + off) & ~(uint64_t)3;
	const char *minus = strchr(num, '-');
	if (minus)
		v -= rap__text_number(minus + 1);
	else
		v += rap__text_number(num);
	const char *end = strchr(num, ']');
	size_t at = (size_t)(pc - text) + 1;
	size_t len = end ? (size_t)(end - text) - at : strlen(text) - at;
	char addr[24];
	snprintf(addr, sizeof(addr), "0x%08llx%s", (unsigned long long)v, end ? "" : "]");
	rap__text_splice(text, cap, at, len, addr);
}

static void rewrite(const struct rap__arch_ctx *ctx, char *text, size_t cap)
{
	rap__text_delete_char(text, '#');
	pc_relative(ctx, text, cap);
}

/* B<cond> → jump, BL<cond> and BLX → call: ARM's condition suffixes. */
static bool cond_suffix(const char *s)
{
	return !*s || rap__text_word_in(s, "eq ne cs hs cc lo mi pl vs vc hi ls ge lt gt le al");
}

static enum rap__flow flow(const struct rap__arch_ctx *ctx, const char *text, uint64_t *target)
{
	*target = UINT64_MAX;
	char m[32];
	rap__text_mnemonic(text, m, sizeof(m));
	/* Thumb's width suffixes. */
	size_t n = strlen(m);
	if (n > 2 && (!strcmp(m + n - 2, ".w") || !strcmp(m + n - 2, ".n")))
		m[n - 2] = '\0';
	enum rap__flow kind = RAP__FLOW_NONE;
	if (ctx->bits == 64) {
		if (!strcmp(m, "bl"))
			kind = RAP__FLOW_CALL;
		else if (!strcmp(m, "b") || !strncmp(m, "b.", 2) || rap__text_word_in(m, "cbz cbnz tbz tbnz"))
			kind = RAP__FLOW_JUMP;
	} else if (!strncmp(m, "blx", 3) && cond_suffix(m + 3)) {
		kind = RAP__FLOW_CALL;
	} else if (m[0] == 'b' && cond_suffix(m + 1)) {
		kind = RAP__FLOW_JUMP;
	} else if (!strncmp(m, "bl", 2) && cond_suffix(m + 2)) {
		kind = RAP__FLOW_CALL;
	} else if (!strcmp(m, "cbz") || !strcmp(m, "cbnz")) {
		kind = RAP__FLOW_JUMP;
	}
	uint64_t v;
	if (kind != RAP__FLOW_NONE && rap__text_last_number(text, &v))
		*target = v;
	return kind;
}

const struct rap__arch rap__arch_arm = {
	.name = "arm",
	.desc = "ARM: Thumb (16), ARM (32), AArch64 (64)",
	.modes = modes,
	.nmodes = sizeof(modes) / sizeof(modes[0]),
	.default_bits = 32,
	.big_endian = true,
	.cut_short_fails = true,
};

const struct rap__arch_rules rap__arch_arm_rules = {
	.invalid = invalid,
	.fallback = fallback,
	.rewrite = rewrite,
	.flow = flow,
};
