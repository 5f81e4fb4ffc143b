/* The disassembler: Capstone decodes, the architecture's table (arch.h) turns Capstone's text
 * into radare2's and says what radare2 shows for what Capstone cannot decode. Built only with
 * Capstone; disasm_none.c stands in for it otherwise. Capstone is set up as radare2 sets it
 * up: details on, Intel syntax, unsigned immediates on x86. */
#include <string.h>

#include <capstone/capstone.h>

#include <rap/rap.h>

#include "common.h"
#include "disasm.h"

struct rap__disasm {
	const struct rap__arch *arch;
	const struct rap__arch_mode *mode;
	bool big;
	csh cs;          /* owned; cs_close */
	cs_insn *insn;   /* owned; cs_free(insn, 1) */
};

bool rap__disasm_available(void)
{
	return true;
}

/* This project's names of Capstone's architectures and modes, mapped. */
static cs_arch cs_arch_of(enum rap__cs_arch a)
{
	switch (a) {
	case RAP__CS_X86: return CS_ARCH_X86;
	case RAP__CS_ARM: return CS_ARCH_ARM;
	case RAP__CS_ARM64: return CS_ARCH_ARM64;
	case RAP__CS_MIPS: return CS_ARCH_MIPS;
	}
	return CS_ARCH_MAX;
}

static cs_mode cs_mode_of(unsigned flags, bool big)
{
	static const struct {
		unsigned flag;
		unsigned mode;
	} map[] = {
		{ RAP__CS_MODE_16, CS_MODE_16 },
		{ RAP__CS_MODE_32, CS_MODE_32 },
		{ RAP__CS_MODE_64, CS_MODE_64 },
		{ RAP__CS_MODE_ARM, CS_MODE_ARM },
		{ RAP__CS_MODE_THUMB, CS_MODE_THUMB },
		{ RAP__CS_MODE_MIPS32, CS_MODE_MIPS32 },
		{ RAP__CS_MODE_MIPS64, CS_MODE_MIPS64 },
	};
	unsigned mode = 0;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (flags & map[i].flag)
			mode |= map[i].mode;
	if ((flags & RAP__CS_ENDIAN) && big)
		mode |= CS_MODE_BIG_ENDIAN;
	return (cs_mode)mode;
}

int rap__disasm_new(const struct rap__arch *arch, unsigned bits, bool big, struct rap__disasm **out)
{
	*out = NULL;
	const struct rap__arch_mode *mode = rap__arch_mode(arch, bits);
	if (!mode)
		return RAP_EINVAL;
	struct rap__disasm *d = rap__calloc(1, sizeof(*d));
	if (!d)
		return RAP_ENOMEM;
	d->arch = arch;
	d->mode = mode;
	d->big = big;
	cs_err err = cs_open(cs_arch_of(mode->cs_arch), cs_mode_of(mode->cs_mode, big), &d->cs);
	if (err != CS_ERR_OK) {
		rap__free(d);
		return err == CS_ERR_MEM ? RAP_ENOMEM : RAP_ENOTSUP;
	}
	cs_option(d->cs, CS_OPT_DETAIL, CS_OPT_ON);
	if (mode->cs_arch == RAP__CS_X86)
		cs_option(d->cs, CS_OPT_UNSIGNED, CS_OPT_ON);
	d->insn = cs_malloc(d->cs);
	if (!d->insn) {
		cs_close(&d->cs);
		rap__free(d);
		return RAP_ENOMEM;
	}
	*out = d;
	return 0;
}

void rap__disasm_free(struct rap__disasm *d)
{
	if (!d)
		return;
	cs_free(d->insn, 1);
	cs_close(&d->cs);
	rap__free(d);
}

const struct rap__arch_mode *rap__disasm_mode(const struct rap__disasm *d)
{
	return d->mode;
}

/* Shows the first size bytes of buf (as many as it holds). */
static void show_bytes(struct rap__insn *out, const uint8_t *buf, size_t avail, unsigned size)
{
	size_t n = size < avail ? size : avail;
	if (n > RAP__INSN_BYTES)
		n = RAP__INSN_BYTES;
	memcpy(out->bytes, buf, n);
	out->nbytes = (unsigned)n;
}

void rap__disasm_decode(struct rap__disasm *d, uint64_t addr, const uint8_t *buf, size_t len, size_t avail,
			struct rap__insn *out)
{
	const struct rap__arch_rules *a = rap__arch_rules(d->arch);
	memset(out, 0, sizeof(*out));
	out->addr = addr;
	out->target = UINT64_MAX;
	struct rap__arch_ctx ctx = { .addr = addr, .bits = d->mode->bits, .big = d->big };
	if (d->mode->align > 1 && addr % d->mode->align) {
		out->kind = RAP__INSN_UNALIGNED;
		out->failed = true;
		out->size = d->mode->align - (unsigned)(addr % d->mode->align);
		show_bytes(out, buf, avail, out->size);
		snprintf(out->text, sizeof(out->text), "unaligned");
		return;
	}
	if (a->predecode) {
		unsigned n = a->predecode(&ctx, buf, len, out->text, sizeof(out->text));
		if (n) {
			out->size = n;
			show_bytes(out, buf, avail, n);
			return;
		}
	}
	const uint8_t *code = buf;
	size_t left = len;
	uint64_t pc = addr;
	cs_insn *in = d->insn;
	if (len && cs_disasm_iter(d->cs, &code, &left, &pc, in) && !(a->invalid && a->invalid(in->mnemonic))) {
		out->size = in->size;
		show_bytes(out, in->bytes, in->size, in->size);
		snprintf(out->text, sizeof(out->text), "%s%s%s", in->mnemonic, in->op_str[0] ? " " : "", in->op_str);
		ctx.size = in->size;
		if (a->reference)
			out->has_ref = a->reference(&ctx, out->text, &out->ref);
		a->rewrite(&ctx, out->text, sizeof(out->text));
		out->flow = a->flow(&ctx, out->text, &out->target);
		return;
	}
	out->size = d->mode->invalid_size;
	ctx.size = out->size;
	show_bytes(out, buf, avail, out->size);
	out->failed = len < out->size && d->arch->cut_short_fails;
	if (a->fallback && a->fallback(&ctx, buf, len, out->text, sizeof(out->text)))
		return;
	out->kind = RAP__INSN_INVALID;
	snprintf(out->text, sizeof(out->text), "invalid");
}
