/* Disassembly as data (never installed): one record per instruction (address, bytes, text,
 * and what the views need besides: its flow of control and the memory it names), produced
 * by disasm.c through Capstone and the per-architecture tables of arch.h, and turned into
 * text by disasm_print.c (pd, pi, pD), so that other views (JSON, a web console) can reuse
 * the records. disasm_lines.c lays out the jump arrows. */
#ifndef RAP_CORE_DISASM_H
#define RAP_CORE_DISASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <rap/rap.h>

#include "arch.h"

/* Most bytes one record shows (the longest x86 instruction is 15). */
#define RAP__INSN_BYTES 16

enum rap__insn_kind {
	RAP__INSN_OK,        /* decoded */
	RAP__INSN_INVALID,   /* "invalid": Capstone could not decode it */
	RAP__INSN_UNALIGNED, /* "unaligned": the address is not a multiple of the alignment */
};

struct rap__insn {
	uint64_t addr;
	unsigned size;   /* bytes it covers: the next instruction starts at addr + size */
	unsigned nbytes; /* bytes shown: bytes[0 .. nbytes) */
	uint8_t bytes[RAP__INSN_BYTES];
	enum rap__insn_kind kind;
	/* radare2's decoder reports a failure for it (an unaligned address, an ARM word cut
	 * short): the scan for jump arrows steps over it one byte at a time. */
	bool failed;
	enum rap__flow flow;
	uint64_t target; /* of a jump or call; UINT64_MAX when not an immediate */
	bool has_ref;    /* ref: a memory operand with a constant address (x86) */
	struct rap__arch_ref ref;
	char text[RAP__ARCH_TEXT_MAX];
};

/* A decoder for one architecture, mode and byte order. */
struct rap__disasm;

/* A build without Capstone (RAP_HAVE_CAPSTONE 0, meson -Dcapstone=disabled) has no decoder:
 * the functions below are inline there and say so, and the compiler leaves out what only
 * decoded instructions reach (listings, jump arrows), which the small rapsrv does without. */
#if defined(RAP_HAVE_CAPSTONE) && !RAP_HAVE_CAPSTONE
static inline bool rap__disasm_available(void)
{
	return false;
}

static inline int rap__disasm_new(const struct rap__arch *arch, unsigned bits, bool big, struct rap__disasm **out)
{
	(void)arch;
	(void)bits;
	(void)big;
	*out = NULL;
	return RAP_ENOTSUP;
}

static inline void rap__disasm_free(struct rap__disasm *d)
{
	(void)d;
}

static inline const struct rap__arch_mode *rap__disasm_mode(const struct rap__disasm *d)
{
	(void)d;
	return NULL;
}

static inline void rap__disasm_decode(struct rap__disasm *d, uint64_t addr, const uint8_t *buf, size_t len,
				      size_t avail, struct rap__insn *out)
{
	/* Never reached (no decoder opens); as its contract says, *out filled, size 1. */
	(void)d;
	(void)buf;
	(void)len;
	(void)avail;
	*out = (struct rap__insn){ .addr = addr, .size = 1, .kind = RAP__INSN_INVALID, .failed = true,
				   .target = UINT64_MAX };
}
#else
/* Whether this build has a disassembler (it needs Capstone). */
bool rap__disasm_available(void);

/* Opens a decoder for arch (borrowed; a static table) in bits with the byte order big
 * (ignored by architectures without one). Free with rap__disasm_free.
 * Errors: RAP_ENOTSUP (a build without Capstone), RAP_EINVAL (bits not a mode of arch),
 * RAP_ENOMEM. */
int rap__disasm_new(const struct rap__arch *arch, unsigned bits, bool big, struct rap__disasm **out);
void rap__disasm_free(struct rap__disasm *d);

/* The mode the decoder runs in (borrowed, static). */
const struct rap__arch_mode *rap__disasm_mode(const struct rap__disasm *d);

/* Decodes the instruction at addr from buf[0 .. len) into *out. buf holds avail >= len
 * bytes: those past len are not decoded but are shown when the record covers them (an
 * undecodable ARM word cut short by the end of a pD range shows all of its four bytes,
 * read from the file, as radare2 shows it). Always fills *out; size is at least 1. */
void rap__disasm_decode(struct rap__disasm *d, uint64_t addr, const uint8_t *buf, size_t len, size_t avail,
			struct rap__insn *out);
#endif

/* ---- disasm_lines.c: radare2's jump arrows ------------------------------------------- */

/* The jumps of a listing and the column ("level") each one is drawn in. */
struct rap__reflines;

/* Errors: RAP_ENOMEM. Free with rap__reflines_free. */
int rap__reflines_new(struct rap__reflines **out);
void rap__reflines_free(struct rap__reflines *r);

/* Adds a jump from -> to, in the order the listing meets them. Errors: RAP_ENOMEM. */
int rap__reflines_add(struct rap__reflines *r, uint64_t from, uint64_t to);

/* Gives every jump its level: walking the ends of all jumps in address order, the first
 * end of a jump takes the lowest free level and its second end frees it. Call once, after
 * the last rap__reflines_add. */
void rap__reflines_layout(struct rap__reflines *r);

/* The arrow column of the line at addr, as radare2 draws it with scr.utf8: ten cells
 * (seven of lines, then "─< " at a jump, "─> " at a target, or three blanks), in UTF-8
 * into buf. Returns the length (snprintf-like). */
size_t rap__reflines_render(const struct rap__reflines *r, uint64_t addr, char *buf, size_t cap);

/* ---- disasm_print.c: the text of the records ------------------------------------------ */

struct rap__disasm_style {
	bool lines;    /* asm.lines: the function and arrow columns before the address */
	bool comments; /* asm.comments: the reference comment after the text */
	bool segments; /* x86 in 16 bits: addresses as SEG:OFF */
	bool big;      /* cfg.bigendian, for the values of comments */
};

/* "pi": the text and a newline. */
void rap__disasm_print_text(FILE *out, const struct rap__insn *insn);

/* "pd"/"pD": one line in radare2's columns. arrows is the rendered arrow column of the
 * line (NULL: no jumps, blanks); refdata holds the bytes at insn->ref.addr (ref.size of
 * them) when the instruction has a reference and comments are on, else NULL. */
void rap__disasm_print_line(FILE *out, const struct rap__disasm_style *style, const struct rap__insn *insn,
			    const char *arrows, const uint8_t *refdata);

/* radare2's reference comment "[0x%x:SIZE]=VALUE" for the bytes data (ref->size of them)
 * read at ref->addr, into buf. Returns the length (snprintf-like). */
int rap__disasm_ref_comment(char *buf, size_t cap, const struct rap__arch_ref *ref, const uint8_t *data, bool big);

#endif
