/* The disassembler of a build without Capstone (meson -Dcapstone=disabled): there is none,
 * and pd, pi and pD say so. */
#include <rap/rap.h>

#include "disasm.h"

bool rap__disasm_available(void)
{
	return false;
}

int rap__disasm_new(const struct rap__arch *arch, unsigned bits, bool big, struct rap__disasm **out)
{
	*out = NULL;
	return RAP_ENOTSUP;
}

void rap__disasm_free(struct rap__disasm *d)
{
}

const struct rap__arch_mode *rap__disasm_mode(const struct rap__disasm *d)
{
	return NULL;
}

void rap__disasm_decode(struct rap__disasm *d, uint64_t addr, const uint8_t *buf, size_t len, size_t avail,
			struct rap__insn *out)
{
}
