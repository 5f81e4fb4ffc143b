/* ELF, PE and Mach-O headers: what radare2's bin plugins report about the code (format,
 * arch, bits, endianness, machine, type, entry point), from the header and the one table
 * that places the entry in the file. Every offset and count is checked before it is used:
 * against the file's size, against RAP__BINHDR_TABLE_MAX, and against overflow. */
#include <string.h>

#include <rap/rap.h>

#include "binhdr.h"
#include "common.h"

struct src {
	rap__binhdr_read_fn read;
	void *ctx;
	uint64_t size;
};

/* Reads exactly len bytes at off. RAP_EINVAL when they are not all in the file. */
static int read_exact(const struct src *s, uint64_t off, void *buf, size_t len)
{
	if (off + len < off || (s->size != UINT64_MAX && off + len > s->size))
		return RAP_EINVAL;
	size_t done = 0;
	while (done < len) {
		int n = s->read(s->ctx, off + done, (uint8_t *)buf + done, len - done);
		if (n < 0)
			return n;
		if (n == 0)
			return RAP_EINVAL;
		done += (size_t)n;
	}
	return 0;
}

static uint16_t u16(const uint8_t *p, bool be)
{
	return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t u32(const uint8_t *p, bool be)
{
	return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
		  : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t u64(const uint8_t *p, bool be)
{
	return be ? (uint64_t)u32(p, true) << 32 | u32(p + 4, true) : (uint64_t)u32(p + 4, false) << 32 | u32(p, false);
}

/* Reads a table of count entries of entsize bytes at off into a heap buffer (*out), when
 * it is within the caps and the file. Returns 0, RAP_EINVAL (no table to use), an error. */
static int read_table(const struct src *s, uint64_t off, uint64_t count, uint64_t entsize, uint8_t **out)
{
	*out = NULL;
	if (!count || !entsize || count > RAP__BINHDR_TABLE_MAX / entsize)
		return RAP_EINVAL;
	size_t len = (size_t)(count * entsize);
	uint8_t *t = rap__malloc(len);
	if (!t)
		return RAP_ENOMEM;
	int rc = read_exact(s, off, t, len);
	if (rc < 0) {
		rap__free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* Maps vaddr through a segment [va, va + filesz) at file offset fileoff. */
static bool map_entry(struct rap__binhdr *h, uint64_t va, uint64_t filesz, uint64_t fileoff, uint64_t size)
{
	if (h->entry < va || h->entry - va >= filesz)
		return false;
	uint64_t p = fileoff + (h->entry - va);
	if (p < fileoff || (size != UINT64_MAX && p >= size))
		return false;
	h->has_entry_paddr = true;
	h->entry_paddr = p;
	return true;
}

/* ---- ELF ----------------------------------------------------------------------------- */

/* The machines of the three formats: radare2's asm.arch for each, and its name for it. */
enum arch { A_X86, A_ARM, A_MIPS, A_PPC, A_SPARC, A_M68K, A_S390, A_RISCV };
static const char arch_names[][6] = { "x86", "arm", "mips", "ppc", "sparc", "m68k", "s390", "riscv" };

struct machine {
	uint32_t id;
	unsigned char arch; /* enum arch */
	const char *name;
};

/* Sets h's arch and machine from table (n entries) when it lists id; they stay as they are
 * otherwise. */
static void find_machine(const struct machine *table, size_t n, uint32_t id, struct rap__binhdr *h)
{
	for (size_t i = 0; i < n; i++) {
		if (table[i].id == id) {
			h->arch = arch_names[table[i].arch];
			h->machine = table[i].name;
		}
	}
}

static const struct machine elf_machines[] = {
	{ 2, A_SPARC, "SUN SPARC" },
	{ 3, A_X86, "Intel 80386" },
	{ 4, A_M68K, "Motorola m68k family" },
	{ 8, A_MIPS, "MIPS R3000" },
	{ 10, A_MIPS, "MIPS R3000 little-endian" },
	{ 18, A_SPARC, "Sun's \"v8plus\"" },
	{ 20, A_PPC, "PowerPC" },
	{ 21, A_PPC, "PowerPC 64-bit" },
	{ 22, A_S390, "IBM S390" },
	{ 40, A_ARM, "ARM" },
	{ 43, A_SPARC, "SPARC v9 64-bit" },
	{ 62, A_X86, "AMD x86-64 architecture" },
	{ 183, A_ARM, "ARM aarch64" },
	{ 243, A_RISCV, "RISC V" },
};

static const char *elf_type(unsigned t)
{
	switch (t) {
	case 0: return "NONE (None)";
	case 1: return "REL (Relocatable file)";
	case 2: return "EXEC (Executable file)";
	case 3: return "DYN (Shared object file)";
	case 4: return "CORE (Core file)";
	}
	return NULL;
}

#define EM_ARM 40
#define EM_AARCH64 183
#define EM_MIPS 8
#define EF_MIPS_ARCH 0xf0000000u
#define PT_LOAD 1

static int parse_elf(const struct src *s, const uint8_t *id, struct rap__binhdr *h)
{
	unsigned cls = id[4], data = id[5];
	if ((cls != 1 && cls != 2) || (data != 1 && data != 2))
		return RAP_EINVAL;
	bool is64 = cls == 2, be = data == 2;
	uint8_t e[64];
	int rc = read_exact(s, 0, e, is64 ? 64 : 52);
	if (rc < 0)
		return rc;
	unsigned machine = u16(e + 18, be);
	uint64_t entry = is64 ? u64(e + 24, be) : u32(e + 24, be);
	uint64_t phoff = is64 ? u64(e + 32, be) : u32(e + 28, be);
	uint32_t flags = u32(e + (is64 ? 48 : 36), be);
	unsigned phentsize = u16(e + (is64 ? 54 : 42), be), phnum = u16(e + (is64 ? 56 : 44), be);
	h->format = is64 ? "elf64" : "elf";
	h->bintype = "elf";
	h->bclass = is64 ? "ELF64" : "ELF32";
	h->type = elf_type(u16(e + 16, be));
	h->arch = "unknown";
	h->machine = "unknown";
	find_machine(elf_machines, sizeof(elf_machines) / sizeof(elf_machines[0]), machine, h);
	h->big_endian = be;
	h->has_entry = true;
	h->entry = entry;
	/* radare2's bits: Thumb when the entry is odd; MIPS by the ISA in the flags. */
	h->bits = is64 ? 64 : 32;
	if (machine == EM_ARM)
		h->bits = entry & 1 ? 16 : 32;
	else if (machine == EM_AARCH64)
		h->bits = 64;
	else if (machine == EM_MIPS)
		h->bits = ((flags & EF_MIPS_ARCH) == 0x60000000u || (flags & EF_MIPS_ARCH) == 0xa0000000u) ? 64 : 32;
	/* The entry's file offset, through the loadable segments. */
	unsigned minent = is64 ? 56 : 32;
	uint8_t *ph;
	if (phentsize < minent || read_table(s, phoff, phnum, phentsize, &ph) < 0)
		return 0;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *p = ph + (size_t)i * phentsize;
		if (u32(p, be) != PT_LOAD)
			continue;
		uint64_t off = is64 ? u64(p + 8, be) : u32(p + 4, be);
		uint64_t va = is64 ? u64(p + 16, be) : u32(p + 8, be);
		uint64_t filesz = is64 ? u64(p + 32, be) : u32(p + 16, be);
		if (map_entry(h, va, filesz, off, s->size))
			break;
	}
	rap__free(ph);
	return 0;
}

/* ---- PE ------------------------------------------------------------------------------ */

static const struct machine pe_machines[] = {
	{ 0x014c, A_X86, "i386" },
	{ 0x8664, A_X86, "AMD 64" },
	{ 0x01c0, A_ARM, "ARM" },
	{ 0x01c2, A_ARM, "Thumb" },
	{ 0x01c4, A_ARM, "ARM Thumb-2" },
	{ 0xaa64, A_ARM, "ARM64" },
	{ 0xa641, A_ARM, "ARM64EC" },
	{ 0xa64e, A_ARM, "ARM64X" },
	{ 0x0266, A_MIPS, "Mips 16" },
	{ 0x0366, A_MIPS, "Mips FPU" },
	{ 0x0466, A_MIPS, "Mips FPU 16" },
	{ 0x0169, A_MIPS, "WCE Mips V2" },
	{ 0x0162, A_X86, "R3000" },
	{ 0x0166, A_X86, "R4000" },
	{ 0x0168, A_X86, "R10000" },
	{ 0x01f0, A_PPC, "PowerPC" },
	{ 0x01f1, A_PPC, "PowerPC FP" },
	{ 0x01f2, A_PPC, "PowerPC BE" },
};

#define PE_SECTION_SIZE 40u

static int parse_pe(const struct src *s, const uint8_t *mz, struct rap__binhdr *h)
{
	uint8_t dos[64];
	int rc = read_exact(s, 0, dos, sizeof(dos));
	if (rc < 0)
		return rc;
	uint64_t nt = u32(dos + 0x3c, false);
	/* Signature, file header (20 bytes), and the optional header's first 64 bytes. */
	uint8_t f[24 + 112];
	rc = read_exact(s, nt, f, 24 + 2);
	if (rc < 0)
		return rc;
	if (memcmp(f, "PE\0\0", 4) != 0)
		return RAP_EINVAL;
	unsigned machine = u16(f + 4, false), nsect = u16(f + 6, false), optsize = u16(f + 20, false);
	unsigned magic = u16(f + 24, false);
	bool pe64 = magic == 0x20b;
	if ((magic != 0x10b && !pe64) || optsize < 64)
		return RAP_EINVAL;
	rc = read_exact(s, nt + 24, f + 24, 64);
	if (rc < 0)
		return rc;
	const uint8_t *opt = f + 24;
	uint64_t rva = u32(opt + 16, false);
	uint64_t base = pe64 ? u64(opt + 24, false) : u32(opt + 28, false);
	uint64_t headers = u32(opt + 60, false);
	h->format = pe64 ? "pe64" : "pe";
	h->bintype = "pe";
	h->bclass = pe64 ? "PE32+" : "PE32";
	h->type = NULL;
	/* radare2 calls any machine it does not list x86. */
	h->arch = "x86";
	h->machine = "unknown";
	find_machine(pe_machines, sizeof(pe_machines) / sizeof(pe_machines[0]), machine, h);
	bool arm64 = machine == 0xaa64 || machine == 0xa641 || machine == 0xa64e;
	bool arm = machine == 0x01c0 || machine == 0x01c2 || machine == 0x01c4;
	h->bits = arm64 ? 64 : arm ? (rva & 1 ? 16 : 32) : pe64 ? 64 : 32;
	h->big_endian = machine == 0x01f2;
	h->has_entry = true;
	h->entry = base + rva;
	/* The entry's file offset: in the headers, or through the section it falls in. */
	if (rva < headers && (s->size == UINT64_MAX || rva < s->size)) {
		h->has_entry_paddr = true;
		h->entry_paddr = rva;
		return 0;
	}
	uint8_t *sec;
	if (read_table(s, nt + 24 + optsize, nsect, PE_SECTION_SIZE, &sec) < 0)
		return 0;
	for (unsigned i = 0; i < nsect; i++) {
		const uint8_t *p = sec + (size_t)i * PE_SECTION_SIZE;
		uint64_t vsize = u32(p + 8, false), va = u32(p + 12, false);
		uint64_t rawsize = u32(p + 16, false), raw = u32(p + 20, false);
		uint64_t span = vsize > rawsize ? vsize : rawsize;
		if (rva >= va && rva - va < span && rva - va < rawsize) {
			uint64_t p2 = raw + (rva - va);
			if (s->size == UINT64_MAX || p2 < s->size) {
				h->has_entry_paddr = true;
				h->entry_paddr = p2;
			}
			break;
		}
	}
	rap__free(sec);
	return 0;
}

/* ---- Mach-O -------------------------------------------------------------------------- */

#define CPU_ARCH_ABI64 0x01000000u
#define CPU_TYPE_X86 7u
#define CPU_TYPE_ARM 12u
#define CPU_TYPE_ARM64 (CPU_TYPE_ARM | CPU_ARCH_ABI64)
#define CPU_TYPE_ARM64_32 (CPU_TYPE_ARM | 0x02000000u)
#define CPU_TYPE_MIPS 8u
#define CPU_TYPE_SPARC 14u
#define CPU_TYPE_POWERPC 18u
#define LC_SEGMENT 0x1u
#define LC_THREAD 0x4u
#define LC_UNIXTHREAD 0x5u
#define LC_SEGMENT_64 0x19u
#define LC_MAIN 0x80000028u

static const struct machine macho_cpus[] = {
	{ CPU_TYPE_X86, A_X86, "x86" },
	{ CPU_TYPE_X86 | CPU_ARCH_ABI64, A_X86, "x86_64" },
	{ CPU_TYPE_ARM, A_ARM, "arm" },
	{ CPU_TYPE_ARM64, A_ARM, "arm64" },
	{ CPU_TYPE_ARM64_32, A_ARM, "arm64_32" },
	{ CPU_TYPE_MIPS, A_MIPS, "mips" },
	{ CPU_TYPE_SPARC, A_SPARC, "sparc" },
	{ CPU_TYPE_POWERPC, A_PPC, "ppc" },
	{ CPU_TYPE_POWERPC | CPU_ARCH_ABI64, A_PPC, "ppc64" },
};

static const char *macho_type(uint32_t t)
{
	switch (t) {
	case 1: return "OBJECT";
	case 2: return "EXECUTE";
	case 3: return "FVMLIB";
	case 4: return "CORE";
	case 5: return "PRELOAD";
	case 6: return "DYLIB";
	case 7: return "DYLINKER";
	case 8: return "BUNDLE";
	}
	return NULL;
}

/* The program counter in an LC_UNIXTHREAD state: (flavor, byte offset in the state). */
static bool thread_pc(uint32_t cpu, uint32_t flavor, const uint8_t *state, size_t len, bool be, uint64_t *pc)
{
	static const struct {
		uint32_t cpu, flavor;
		unsigned off, width;
	} pcs[] = {
		{ CPU_TYPE_X86, 1, 40, 4 },                   /* i386_THREAD_STATE: eip */
		{ CPU_TYPE_X86 | CPU_ARCH_ABI64, 4, 128, 8 }, /* x86_THREAD_STATE64: rip */
		{ CPU_TYPE_ARM, 1, 60, 4 },                   /* ARM_THREAD_STATE: pc */
		{ CPU_TYPE_ARM64, 6, 256, 8 },                /* ARM_THREAD_STATE64: pc */
	};
	for (size_t i = 0; i < sizeof(pcs) / sizeof(pcs[0]); i++) {
		if (pcs[i].cpu != cpu || pcs[i].flavor != flavor || pcs[i].off + pcs[i].width > len)
			continue;
		*pc = pcs[i].width == 8 ? u64(state + pcs[i].off, be) : u32(state + pcs[i].off, be);
		return true;
	}
	return false;
}

static int parse_macho(const struct src *s, const uint8_t *m, struct rap__binhdr *h)
{
	uint32_t magic_le = u32(m, false);
	bool be = magic_le == 0xcefaedfeu || magic_le == 0xcffaedfeu;
	uint32_t magic = u32(m, be);
	bool is64 = magic == 0xfeedfacfu;
	uint8_t hdr[32];
	int rc = read_exact(s, 0, hdr, is64 ? 32 : 28);
	if (rc < 0)
		return rc;
	uint32_t cpu = u32(hdr + 4, be), sub = u32(hdr + 8, be), ftype = u32(hdr + 12, be);
	uint32_t ncmds = u32(hdr + 16, be), sizeofcmds = u32(hdr + 20, be);
	h->format = is64 ? "mach064" : "mach0";
	h->bintype = "mach0";
	h->bclass = is64 ? "MACH064" : "MACH0";
	h->type = macho_type(ftype);
	h->arch = "unknown";
	h->machine = "unknown";
	find_machine(macho_cpus, sizeof(macho_cpus) / sizeof(macho_cpus[0]), cpu, h);
	/* radare2: 64 for 64-bit headers and arm64_32, 16 for armv7k, else 32 (Thumb below). */
	h->bits = is64 || cpu == CPU_TYPE_ARM64_32 ? 64 : (sub & 0xff) == 16 && cpu == CPU_TYPE_ARM ? 16 : 32;
	h->big_endian = cpu == CPU_TYPE_POWERPC || cpu == (CPU_TYPE_POWERPC | CPU_ARCH_ABI64);
	uint8_t *cmds;
	if (read_table(s, is64 ? 32 : 28, 1, sizeofcmds, &cmds) < 0)
		return 0;
	/* The entry: LC_MAIN gives its file offset (the address is __TEXT's plus it),
	 * LC_UNIXTHREAD its address (mapped to the file through the segments). */
	bool have_main = false, have_thread = false, have_text = false;
	uint64_t entryoff = 0, pc = 0, text_va = 0, text_off = 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t at = 0;
		for (uint32_t i = 0; i < ncmds && at + 8 <= sizeofcmds; i++) {
			const uint8_t *c = cmds + at;
			uint32_t cmd = u32(c, be), cmdsize = u32(c + 4, be);
			if (cmdsize < 8 || cmdsize > sizeofcmds - at)
				break;
			at += cmdsize;
			bool seg = (cmd == LC_SEGMENT_64 && cmdsize >= 72) || (cmd == LC_SEGMENT && cmdsize >= 56);
			bool s64 = cmd == LC_SEGMENT_64;
			uint64_t va = 0, fileoff = 0, filesz = 0;
			if (seg) {
				va = s64 ? u64(c + 24, be) : u32(c + 24, be);
				fileoff = s64 ? u64(c + 40, be) : u32(c + 32, be);
				filesz = s64 ? u64(c + 48, be) : u32(c + 36, be);
			}
			if (pass == 1) {
				if (seg && have_thread && !have_main && !h->has_entry_paddr)
					map_entry(h, va, filesz, fileoff, s->size);
				continue;
			}
			if (cmd == LC_MAIN && cmdsize >= 24) {
				have_main = true;
				entryoff = u64(c + 8, be);
			} else if ((cmd == LC_UNIXTHREAD || cmd == LC_THREAD) && cmdsize >= 16 && !have_thread) {
				uint32_t flavor = u32(c + 8, be), count = u32(c + 12, be);
				size_t statelen = (size_t)cmdsize - 16;
				if ((uint64_t)count * 4 < statelen)
					statelen = (size_t)count * 4;
				have_thread = thread_pc(cpu, flavor, c + 16, statelen, be, &pc);
			} else if (seg && !have_text && !memcmp(c + 8, "__TEXT\0", 7)) {
				have_text = true;
				text_va = va;
				text_off = fileoff;
			}
		}
		if (pass == 0 && have_main) {
			h->has_entry = true;
			h->entry = (have_text ? text_va - text_off : 0) + entryoff;
			if (s->size == UINT64_MAX || entryoff < s->size) {
				h->has_entry_paddr = true;
				h->entry_paddr = entryoff;
			}
		} else if (pass == 0 && have_thread) {
			h->has_entry = true;
			h->entry = pc;
		}
	}
	if (h->has_entry && cpu == CPU_TYPE_ARM && (h->entry & 1))
		h->bits = 16;
	rap__free(cmds);
	return 0;
}

int rap__binhdr_parse(rap__binhdr_read_fn read, void *ctx, uint64_t size, struct rap__binhdr *out)
{
	memset(out, 0, sizeof(*out));
	struct src s = { read, ctx, size };
	uint8_t m[16];
	int rc = read_exact(&s, 0, m, 4);
	if (rc < 0)
		return rc;
	int r;
	if (!memcmp(m, "\x7f" "ELF", 4)) {
		rc = read_exact(&s, 0, m, 16);
		r = rc < 0 ? rc : parse_elf(&s, m, out);
	} else if (m[0] == 'M' && m[1] == 'Z') {
		r = parse_pe(&s, m, out);
	} else {
		uint32_t le = u32(m, false), be = u32(m, true);
		if (le == 0xfeedfaceu || le == 0xfeedfacfu || be == 0xfeedfaceu || be == 0xfeedfacfu)
			r = parse_macho(&s, m, out);
		else
			r = RAP_EINVAL;
	}
	if (r < 0)
		memset(out, 0, sizeof(*out));
	return r;
}
