/* Per-architecture facts of the disassembler (never installed): one const table per
 * architecture (arch_x86.c, arch_arm.c, arch_mips.c), listed by arch.c, and beside it the
 * architecture's text rules (rap__arch_rules). disasm.c decodes through Capstone and then
 * applies the text rules, which turn Capstone's text into radare2's; disasm_cmd.c reads the sizes and alignment to walk backwards; core.c validates
 * asm.arch and asm.bits against the tables.
 *
 * Nothing here needs Capstone: the Capstone architecture and mode are named with this
 * project's own constants (disasm.c maps them), so the tables and their text rules are built
 * and tested in builds without Capstone too. */
#ifndef RAP_CORE_ARCH_H
#define RAP_CORE_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The Capstone architecture a mode decodes with. */
enum rap__cs_arch {
	RAP__CS_X86,
	RAP__CS_ARM,
	RAP__CS_ARM64,
	RAP__CS_MIPS,
};

/* The Capstone mode flags (disasm.c maps each to CS_MODE_*). The byte order is not here:
 * it comes from cfg.bigendian where the mode has RAP__CS_ENDIAN. */
enum {
	RAP__CS_MODE_16 = 1u << 0,
	RAP__CS_MODE_32 = 1u << 1,
	RAP__CS_MODE_64 = 1u << 2,
	RAP__CS_MODE_ARM = 1u << 3,
	RAP__CS_MODE_THUMB = 1u << 4,
	RAP__CS_MODE_MIPS32 = 1u << 5,
	RAP__CS_MODE_MIPS64 = 1u << 6,
	RAP__CS_ENDIAN = 1u << 7, /* Capstone decodes big-endian words when cfg.bigendian is set */
};

/* One value of asm.bits of an architecture. */
struct rap__arch_mode {
	unsigned bits;
	enum rap__cs_arch cs_arch;
	unsigned cs_mode;      /* RAP__CS_MODE_* */
	unsigned align;        /* code alignment; other addresses decode as "unaligned" */
	unsigned min_op;       /* shortest and longest instruction, for walking backwards */
	unsigned max_op;
	unsigned invalid_size; /* bytes an undecodable instruction covers */
};

/* What an instruction does to the flow of control: radare2 draws arrows for jumps (and
 * calls, with asm.lines.call, which is off) to an immediate target. */
enum rap__flow {
	RAP__FLOW_NONE,
	RAP__FLOW_JUMP, /* jump or conditional jump */
	RAP__FLOW_CALL,
};

/* What the text rules know about the instruction being rewritten. */
struct rap__arch_ctx {
	uint64_t addr;
	unsigned size;  /* bytes of the instruction */
	unsigned bits;
	bool big;       /* cfg.bigendian */
};

/* A memory operand with a constant address, for radare2's "; [ADDR:SIZE]=VALUE" comment. */
struct rap__arch_ref {
	uint64_t addr;
	unsigned size; /* bytes the operand reads: 1, 2, 4 or 8 */
};

/* Longest text of one instruction, NUL included. */
#define RAP__ARCH_TEXT_MAX 256

struct rap__arch {
	const char *name; /* the value of asm.arch */
	const char *desc;
	const struct rap__arch_mode *modes;
	size_t nmodes;
	unsigned default_bits;
	bool big_endian; /* whether cfg.bigendian changes the decoding */
	/* radare2's decoder fails on an instruction cut short by the end of the bytes (rather
	 * than calling it invalid); its scan for jump arrows then steps one byte (ARM). */
	bool cut_short_fails;
};

/* The text rules of an architecture, apart from its facts: only decoded instructions reach
 * them, so the disassembler (disasm.c) and the tests alone refer to them, through
 * rap__arch_rules(). A build without Capstone has no disassembler, and then a program
 * linked with section garbage collection (the minsize builds, the devices' rapsrv) leaves
 * them out. */
struct rap__arch_rules {
	/* Encodings radare2 decodes itself before Capstone sees them (x86's "nop2"). Returns
	 * the size and writes text, or returns 0. NULL: none. */
	unsigned (*predecode)(const struct rap__arch_ctx *ctx, const uint8_t *buf, size_t len, char *text,
			      size_t cap);
	/* Whether radare2 shows Capstone's decoding of this mnemonic as "invalid" (ARM's udf
	 * and hint). NULL: never. */
	bool (*invalid)(const char *mnemonic);
	/* Text for a word Capstone cannot decode, as radare2 names it (aarch64's memory
	 * tagging). Returns true and writes text, or false. NULL: none. */
	bool (*fallback)(const struct rap__arch_ctx *ctx, const uint8_t *buf, size_t len, char *text, size_t cap);
	/* Turns Capstone's text ("mnemonic op_str", in a buffer of cap bytes) into radare2's,
	 * in place. */
	void (*rewrite)(const struct rap__arch_ctx *ctx, char *text, size_t cap);
	/* Jump, call or neither, from radare2's text, with the target when it is an immediate
	 * (*target: UINT64_MAX when it is not). */
	enum rap__flow (*flow)(const struct rap__arch_ctx *ctx, const char *text, uint64_t *target);
	/* The constant address a memory operand of Capstone's text refers to. Returns false
	 * when there is none. NULL: radare2's reference comments are not made for this arch. */
	bool (*reference)(const struct rap__arch_ctx *ctx, const char *cs_text, struct rap__arch_ref *out);
};

extern const struct rap__arch rap__arch_x86;
extern const struct rap__arch rap__arch_arm;
extern const struct rap__arch rap__arch_mips;
extern const struct rap__arch_rules rap__arch_x86_rules;
extern const struct rap__arch_rules rap__arch_arm_rules;
extern const struct rap__arch_rules rap__arch_mips_rules;

/* ---- arch.c: the list of architectures --------------------------------------------- */

/* The architecture named name, or NULL. */
const struct rap__arch *rap__arch_find(const char *name);

/* The i-th architecture (in the order "e asm.arch=?" lists them), or NULL past the end. */
const struct rap__arch *rap__arch_at(size_t i);

/* The text rules of a (never NULL for an architecture of the list). */
const struct rap__arch_rules *rap__arch_rules(const struct rap__arch *a);

/* The mode of a for bits, or NULL when a has none. */
const struct rap__arch_mode *rap__arch_mode(const struct rap__arch *a, unsigned bits);

/* ---- arch_text.c: helpers of the text rules ------------------------------------------ */

/* Deletes every ch from text. */
void rap__text_delete_char(char *text, char ch);

/* Replaces every from in text by to while the result fits cap bytes (NUL included);
 * returns false (and leaves the rest as it is) when one does not fit. */
bool rap__text_replace_all(char *text, size_t cap, const char *from, const char *to);

/* Replaces text[at .. at+len) by repl when the result fits cap. */
bool rap__text_splice(char *text, size_t cap, size_t at, size_t len, const char *repl);

/* A number as radare2's r_num_get reads the start of s: blanks skipped, "0x" hex, a digit
 * or '-' decimal (a leading 0 then a digit: octal), anything else 0. Stops at the first
 * character that is not part of the number; a negative number wraps as uint64_t does. */
uint64_t rap__text_number(const char *s);

/* The mnemonic of text (up to the first blank) copied into buf. */
void rap__text_mnemonic(const char *text, char *buf, size_t cap);

/* The last operand of text when it is a plain number ("jnp 0x157", "bnel t7, a2, 0xee4c"):
 * true and *out. */
bool rap__text_last_number(const char *text, uint64_t *out);

/* Whether mnemonic is one of the space-separated words of list. */
bool rap__text_word_in(const char *mnemonic, const char *list);

#endif
