/* MIPS (32 and 64 bits, either byte order) as radare2 6.2.1 shows it: Capstone's text with
 * the '$' of the register names dropped ("sb t2, 0x33a1(s3)"). Undecodable words are
 * "invalid", four bytes each. */
#include <string.h>

#include "arch.h"

static const struct rap__arch_mode modes[] = {
	{ 32, RAP__CS_MIPS, RAP__CS_MODE_MIPS32 | RAP__CS_ENDIAN, 4, 4, 4, 4 },
	{ 64, RAP__CS_MIPS, RAP__CS_MODE_MIPS64 | RAP__CS_ENDIAN, 4, 4, 4, 4 },
};

static void rewrite(const struct rap__arch_ctx *ctx, char *text, size_t cap)
{
	rap__text_delete_char(text, '$');
}

/* radare2's jumps and calls of MIPS, the target being the instruction's immediate. */
static enum rap__flow flow(const struct rap__arch_ctx *ctx, const char *text, uint64_t *target)
{
	*target = UINT64_MAX;
	char mnemonic[32];
	rap__text_mnemonic(text, mnemonic, sizeof(mnemonic));
	enum rap__flow kind = RAP__FLOW_NONE;
	if (rap__text_word_in(mnemonic, "jal jals jalx jraddiusp bal bltzal bgezal bltzall bgezall bltzalc blezalc "
					"bgezalc bgtzalc jialc jic"))
		kind = RAP__FLOW_CALL;
	else if (rap__text_word_in(mnemonic, "j b bz beq beqc beqz beqzc bnz bne bnec bnel beql bnez bnezc bneg "
					     "bnegi bteqz btnez bltz bltzl blez blezl bgez bgezl bgtz bgtzl blezc "
					     "bgezc bltzc bgtzc"))
		kind = RAP__FLOW_JUMP;
	uint64_t v;
	if (kind != RAP__FLOW_NONE && rap__text_last_number(text, &v))
		*target = v;
	return kind;
}

const struct rap__arch rap__arch_mips = {
	.name = "mips",
	.desc = "MIPS (32 and 64 bits)",
	.modes = modes,
	.nmodes = sizeof(modes) / sizeof(modes[0]),
	.default_bits = 32,
	.big_endian = true,
};

const struct rap__arch_rules rap__arch_mips_rules = {
	.rewrite = rewrite,
	.flow = flow,
};
