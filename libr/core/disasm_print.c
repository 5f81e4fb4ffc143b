/* The text of disassembly records, radare2 6.2.1's with colours off (the rules come from its
 * output in test/vectors/r2/disasm.txt):
 *
 *   pi   the instruction text alone.
 *   pd   [2 blanks + 10 cells of jump arrows, with asm.lines]
 *        address: "0x%08x " (or "%04x:%04x" segment:offset for x86 in 16 bits),
 *        5 blanks, the bytes in hex padded to 15 columns (more than 6 bytes: the first 5
 *        and ".."), the text;
 *        with asm.comments, a reference comment "; [ADDR:SIZE]=VALUE" after the text, the
 *        line first padded to 70 cells. */
#include <inttypes.h>
#include <string.h>

#include "disasm.h"

#define BYTES_SHOWN 6    /* asm.nbytes */
#define BYTES_COLUMN 15  /* width of the bytes column */
#define COMMENT_COLUMN 70 /* asm.cmt.col - 1 */

void rap__disasm_print_text(FILE *out, const struct rap__insn *insn)
{
	fputs(insn->text, out);
	fputc('\n', out);
}

/* Display cells of a UTF-8 string: continuation bytes take none. */
static size_t cells(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

int rap__disasm_ref_comment(char *buf, size_t cap, const struct rap__arch_ref *ref, const uint8_t *data, bool big)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < ref->size; i++)
		n |= (uint64_t)data[big ? ref->size - 1 - i : i] << (8 * i);
	int64_t s = (int64_t)n;
	int32_t s32 = (int32_t)(uint32_t)n;
	/* radare2: all ones of 4 or 8 bytes is -1; a small number is decimal, the rest hex. */
	if (n == UINT32_MAX || n == UINT64_MAX)
		return snprintf(buf, cap, "[0x%" PRIx64 ":%u]=-1", ref->addr, ref->size);
	if (s == (int64_t)s32 && s32 > -512 && s32 < 512)
		return snprintf(buf, cap, "[0x%" PRIx64 ":%u]=%" PRId64, ref->addr, ref->size, s);
	return snprintf(buf, cap, "[0x%" PRIx64 ":%u]=0x%" PRIx64, ref->addr, ref->size, n);
}

void rap__disasm_print_line(FILE *out, const struct rap__disasm_style *style, const struct rap__insn *insn,
			    const char *arrows, const uint8_t *refdata)
{
	char line[1024];
	size_t n = 0;
	int k;
#define ADD(...)                                                                   \
	do {                                                                       \
		k = snprintf(line + n, sizeof(line) - n, __VA_ARGS__);             \
		n += k > 0 ? (size_t)k : 0;                                        \
		if (n >= sizeof(line))                                             \
			n = sizeof(line) - 1;                                      \
	} while (0)
	if (style->lines)
		ADD("  %s", arrows ? arrows : "          ");
	if (style->segments)
		ADD("%04x:%04x", (unsigned)((insn->addr >> 16) << 12) & 0xffff, (unsigned)insn->addr & 0xffff);
	else
		ADD("0x%08" PRIx64 " ", insn->addr);
	ADD("     ");
	char hex[2 * RAP__INSN_BYTES + 3];
	size_t h = 0;
	unsigned shown = insn->nbytes > BYTES_SHOWN ? BYTES_SHOWN - 1 : insn->nbytes;
	for (unsigned i = 0; i < shown; i++)
		h += (size_t)snprintf(hex + h, sizeof(hex) - h, "%02x", insn->bytes[i]);
	if (insn->nbytes > BYTES_SHOWN)
		snprintf(hex + h, sizeof(hex) - h, "..");
	ADD("%-*s%s", BYTES_COLUMN, hex, insn->text);
	if (style->comments && insn->has_ref && refdata) {
		char cmt[96];
		rap__disasm_ref_comment(cmt, sizeof(cmt), &insn->ref, refdata, style->big);
		for (size_t c = cells(line, n); c < COMMENT_COLUMN; c++)
			ADD(" ");
		ADD(" ; %s", cmt);
	}
#undef ADD
	fwrite(line, 1, n, out);
	fputc('\n', out);
}
