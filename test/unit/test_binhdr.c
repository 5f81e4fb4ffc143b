/* ELF, PE and Mach-O headers: well-formed ones of each kind, then truncated and hostile ones
 * (offsets past the file, counts that overflow, tables past the caps, loops that never end)
 * which must be refused or read without the entry's file offset, never overrun. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rap/rap.h>

#include "binhdr.h"
#include "transcript.h"

struct mem {
	const uint8_t *p;
	size_t len;
	size_t chunk; /* most bytes one read returns (0: all) */
	int fail;     /* this read number fails with -EIO (0: never) */
	int reads;
};

static int mem_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct mem *m = ctx;
	if (++m->reads == m->fail)
		return -EIO;
	if (off >= m->len)
		return 0;
	size_t n = m->len - off < len ? (size_t)(m->len - off) : len;
	if (m->chunk && n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->p + off, n);
	return (int)n;
}

static int parse(const uint8_t *p, size_t len, struct rap__binhdr *h)
{
	struct mem m = { p, len, 0, 0, 0 };
	return rap__binhdr_parse(mem_read, &m, len, h);
}

static void put16(uint8_t *p, uint16_t v, bool be)
{
	p[be ? 1 : 0] = (uint8_t)v;
	p[be ? 0 : 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v, bool be)
{
	for (int i = 0; i < 4; i++)
		p[be ? 3 - i : i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v, bool be)
{
	for (int i = 0; i < 8; i++)
		p[be ? 7 - i : i] = (uint8_t)(v >> (8 * i));
}

/* ---- ELF ----------------------------------------------------------------------------- */

/* An ELF header at buf with one PT_LOAD (offset 0x1000, vaddr va, filesz 0x1000) at 0x40. */
static size_t elf(uint8_t *buf, bool is64, bool be, uint16_t machine, uint16_t type, uint64_t entry, uint64_t va,
		  uint32_t flags)
{
	memset(buf, 0, 0x2000);
	memcpy(buf, "\x7f" "ELF", 4);
	buf[4] = is64 ? 2 : 1;
	buf[5] = be ? 2 : 1;
	buf[6] = 1;
	put16(buf + 16, type, be);
	put16(buf + 18, machine, be);
	put32(buf + 20, 1, be);
	if (is64) {
		put64(buf + 24, entry, be);
		put64(buf + 32, 0x40, be);
		put32(buf + 48, flags, be);
		put16(buf + 52, 64, be);
		put16(buf + 54, 56, be);
		put16(buf + 56, 1, be);
		uint8_t *ph = buf + 0x40;
		put32(ph, 1, be);
		put64(ph + 8, 0x1000, be);
		put64(ph + 16, va, be);
		put64(ph + 32, 0x1000, be);
	} else {
		put32(buf + 24, (uint32_t)entry, be);
		put32(buf + 28, 0x40, be);
		put32(buf + 36, flags, be);
		put16(buf + 40, 52, be);
		put16(buf + 42, 32, be);
		put16(buf + 44, 1, be);
		uint8_t *ph = buf + 0x40;
		put32(ph, 1, be);
		put32(ph + 4, 0x1000, be);
		put32(ph + 8, (uint32_t)va, be);
		put32(ph + 16, 0x1000, be);
	}
	return 0x2000;
}

static void test_elf(void **state)
{
	static uint8_t b[0x2000];
	struct rap__binhdr h;
	size_t n = elf(b, true, false, 62, 3, 0x401040, 0x401000, 0);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.format, "elf64");
	assert_string_equal(h.bintype, "elf");
	assert_string_equal(h.bclass, "ELF64");
	assert_string_equal(h.type, "DYN (Shared object file)");
	assert_string_equal(h.arch, "x86");
	assert_string_equal(h.machine, "AMD x86-64 architecture");
	assert_int_equal(h.bits, 64);
	assert_false(h.big_endian);
	assert_true(h.has_entry && h.has_entry_paddr);
	assert_int_equal(h.entry, 0x401040);
	assert_int_equal(h.entry_paddr, 0x1040);
	/* 32-bit big-endian MIPS; the ISA in the flags makes MIPS64 code 64 bits */
	n = elf(b, false, true, 8, 2, 0x400100, 0x400000, 0);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.format, "elf");
	assert_string_equal(h.arch, "mips");
	assert_int_equal(h.bits, 32);
	assert_true(h.big_endian);
	assert_int_equal(h.entry_paddr, 0x1100);
	n = elf(b, false, true, 8, 2, 0x400100, 0x400000, 0x60000000);
	assert_int_equal(parse(b, n, &h), 0);
	assert_int_equal(h.bits, 64);
	/* The machine table: radare2's arch and its name for each, "unknown" past it. */
	static const struct {
		unsigned id;
		const char *arch, *machine;
	} machines[] = {
		{ 2, "sparc", "SUN SPARC" }, { 4, "m68k", "Motorola m68k family" }, { 21, "ppc", "PowerPC 64-bit" },
		{ 22, "s390", "IBM S390" }, { 243, "riscv", "RISC V" }, { 3, "x86", "Intel 80386" },
		{ 999, "unknown", "unknown" },
	};
	for (size_t i = 0; i < sizeof(machines) / sizeof(machines[0]); i++) {
		n = elf(b, false, false, machines[i].id, 2, 0x8000, 0x8000, 0);
		assert_int_equal(parse(b, n, &h), 0);
		assert_string_equal(h.arch, machines[i].arch);
		assert_string_equal(h.machine, machines[i].machine);
	}
	/* ARM: an odd entry is Thumb; AArch64 is 64 */
	n = elf(b, false, false, 40, 2, 0x8001, 0x8000, 0);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.arch, "arm");
	assert_int_equal(h.bits, 16);
	n = elf(b, false, false, 40, 2, 0x8000, 0x8000, 0);
	assert_int_equal(parse(b, n, &h), 0);
	assert_int_equal(h.bits, 32);
	n = elf(b, true, false, 183, 2, 0x400000, 0x400000, 0);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.machine, "ARM aarch64");
	assert_int_equal(h.bits, 64);
	/* a machine rap does not disassemble is still an ELF */
	n = elf(b, true, false, 0x1234, 0x99, 0, 0, 0);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.arch, "unknown");
	assert_null(h.type);
	/* the entry outside every loadable segment: no file offset */
	n = elf(b, true, false, 62, 2, 0x500000, 0x401000, 0);
	assert_int_equal(parse(b, n, &h), 0);
	assert_true(h.has_entry);
	assert_false(h.has_entry_paddr);
	/* slow readers (one byte a read) read the same */
	n = elf(b, true, false, 62, 3, 0x401040, 0x401000, 0);
	struct mem m = { b, n, 1, 0, 0 };
	assert_int_equal(rap__binhdr_parse(mem_read, &m, n, &h), 0);
	assert_int_equal(h.entry_paddr, 0x1040);
}

static void test_elf_hostile(void **state)
{
	static uint8_t b[0x2000];
	struct rap__binhdr h;
	/* cut short: the identification, the header */
	size_t n = elf(b, true, false, 62, 2, 0x401040, 0x401000, 0);
	for (size_t cut = 0; cut < 64; cut++)
		assert_int_equal(parse(b, cut, &h), RAP_EINVAL);
	n = elf(b, false, false, 3, 2, 0, 0, 0);
	assert_int_equal(parse(b, 51, &h), RAP_EINVAL);
	assert_int_equal(parse(b, 52, &h), 0);
	assert_false(h.has_entry_paddr); /* the program headers are cut off */
	/* bad class or data */
	n = elf(b, true, false, 62, 2, 0, 0, 0);
	b[4] = 3;
	assert_int_equal(parse(b, n, &h), RAP_EINVAL);
	b[4] = 2;
	b[5] = 0;
	assert_int_equal(parse(b, n, &h), RAP_EINVAL);
	/* program headers past the file, overflowing, too small, too many */
	n = elf(b, true, false, 62, 2, 0x401040, 0x401000, 0);
	put64(b + 32, 0xffffffffffffffc0ull, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry_paddr);
	n = elf(b, true, false, 62, 2, 0x401040, 0x401000, 0);
	put64(b + 32, 0x1fff, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry_paddr);
	n = elf(b, true, false, 62, 2, 0x401040, 0x401000, 0);
	put16(b + 54, 8, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry_paddr);
	n = elf(b, true, false, 62, 2, 0x401040, 0x401000, 0);
	put16(b + 54, 0xffff, false);
	put16(b + 56, 0xffff, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry_paddr);
	n = elf(b, true, false, 62, 2, 0x401040, 0x401000, 0);
	put16(b + 56, 0, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry_paddr);
	/* a segment whose file offset plus the entry's overflows, or lies past the file */
	n = elf(b, true, false, 62, 2, 0x401040, 0x401000, 0);
	put64(b + 0x40 + 8, 0xfffffffffffffff0ull, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry_paddr);
	n = elf(b, true, false, 62, 2, 0x401040, 0x401000, 0);
	put64(b + 0x40 + 8, 0x1fc0, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry_paddr);
	/* read errors come back as they are */
	n = elf(b, true, false, 62, 2, 0x401040, 0x401000, 0);
	for (int fail = 1; fail <= 3; fail++) {
		struct mem m = { b, n, 0, fail, 0 };
		int rc = rap__binhdr_parse(mem_read, &m, n, &h);
		assert_true(rc == -EIO || (rc == 0 && !h.has_entry_paddr));
	}
}

/* ---- PE ------------------------------------------------------------------------------ */

/* An MZ/PE image: NT headers at 0x80, one section .text (VA 0x1000, raw 0x400, 0x200). */
static size_t pe(uint8_t *buf, bool pe64, uint16_t machine, uint32_t entry_rva)
{
	memset(buf, 0, 0x1000);
	buf[0] = 'M';
	buf[1] = 'Z';
	put32(buf + 0x3c, 0x80, false);
	uint8_t *nt = buf + 0x80;
	memcpy(nt, "PE\0\0", 4);
	put16(nt + 4, machine, false);
	put16(nt + 6, 1, false);
	uint16_t optsize = pe64 ? 240 : 224;
	put16(nt + 20, optsize, false);
	uint8_t *opt = nt + 24;
	put16(opt, pe64 ? 0x20b : 0x10b, false);
	put32(opt + 16, entry_rva, false);
	if (pe64)
		put64(opt + 24, 0x140000000ull, false);
	else
		put32(opt + 28, 0x400000, false);
	put32(opt + 60, 0x400, false); /* SizeOfHeaders */
	uint8_t *sec = opt + optsize;
	memcpy(sec, ".text", 5);
	put32(sec + 8, 0x300, false);  /* VirtualSize */
	put32(sec + 12, 0x1000, false);
	put32(sec + 16, 0x200, false); /* SizeOfRawData */
	put32(sec + 20, 0x400, false);
	return 0x1000;
}

static void test_pe(void **state)
{
	static uint8_t b[0x1000];
	struct rap__binhdr h;
	size_t n = pe(b, false, 0x14c, 0x1010);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.format, "pe");
	assert_string_equal(h.bclass, "PE32");
	assert_string_equal(h.arch, "x86");
	assert_string_equal(h.machine, "i386");
	assert_int_equal(h.bits, 32);
	assert_int_equal(h.entry, 0x401010);
	assert_int_equal(h.entry_paddr, 0x410);
	n = pe(b, true, 0x8664, 0x1010);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.format, "pe64");
	assert_string_equal(h.bclass, "PE32+");
	assert_int_equal(h.bits, 64);
	assert_int_equal(h.entry, 0x140001010ull);
	/* ARM64; Thumb-2 with its odd entry; radare2 calls unknown machines x86 */
	n = pe(b, true, 0xaa64, 0x1010);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.arch, "arm");
	assert_int_equal(h.bits, 64);
	n = pe(b, false, 0x1c4, 0x1011);
	assert_int_equal(parse(b, n, &h), 0);
	assert_int_equal(h.bits, 16);
	n = pe(b, false, 0x1234, 0x1010);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.arch, "x86");
	assert_string_equal(h.machine, "unknown");
	/* an entry in the headers; one in the section's uninitialised tail has no file offset */
	n = pe(b, false, 0x14c, 0x100);
	assert_int_equal(parse(b, n, &h), 0);
	assert_int_equal(h.entry_paddr, 0x100);
	n = pe(b, false, 0x14c, 0x1250);
	assert_int_equal(parse(b, n, &h), 0);
	assert_true(h.has_entry);
	assert_false(h.has_entry_paddr);
}

static void test_pe_hostile(void **state)
{
	static uint8_t b[0x1000];
	struct rap__binhdr h;
	size_t n = pe(b, false, 0x14c, 0x1010);
	/* the NT headers past the file, at its very end, or overflowing */
	put32(b + 0x3c, 0xfffffff0u, false);
	assert_int_equal(parse(b, n, &h), RAP_EINVAL);
	put32(b + 0x3c, (uint32_t)n - 4, false);
	assert_int_equal(parse(b, n, &h), RAP_EINVAL);
	put32(b + 0x3c, 0x80, false);
	/* cut short anywhere before the optional header's end */
	for (size_t cut = 0; cut < 0x80 + 24 + 64; cut += 7)
		assert_int_equal(parse(b, cut, &h), RAP_EINVAL);
	/* no signature, a wrong magic, an optional header too small */
	b[0x80] = 'X';
	assert_int_equal(parse(b, n, &h), RAP_EINVAL);
	n = pe(b, false, 0x14c, 0x1010);
	put16(b + 0x80 + 24, 0x107, false);
	assert_int_equal(parse(b, n, &h), RAP_EINVAL);
	n = pe(b, false, 0x14c, 0x1010);
	put16(b + 0x80 + 20, 63, false);
	assert_int_equal(parse(b, n, &h), RAP_EINVAL);
	/* sections: too many, past the file, a raw offset past it, sizes that overflow */
	n = pe(b, false, 0x14c, 0x1010);
	put16(b + 0x80 + 6, 0xffff, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry_paddr);
	n = pe(b, false, 0x14c, 0x1010);
	put16(b + 0x80 + 20, 0xfff0, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry_paddr);
	n = pe(b, false, 0x14c, 0x1010);
	put32(b + 0x80 + 24 + 224 + 20, 0xfffff000u, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry_paddr);
	/* a section at the top of the 32-bit space: 64-bit arithmetic, no wrap */
	n = pe(b, false, 0x14c, 0xffffffffu);
	put32(b + 0x80 + 24 + 224 + 8, 0xffffffffu, false);
	put32(b + 0x80 + 24 + 224 + 12, 0xfffffff0u, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_int_equal(h.entry, 0x400000ull + 0xffffffffu);
	assert_int_equal(h.entry_paddr, 0x40f);
	/* MZ alone is not PE */
	assert_int_equal(parse((const uint8_t *)"MZ\x90\x00", 4, &h), RAP_EINVAL);
}

/* ---- Mach-O -------------------------------------------------------------------------- */

static size_t macho64_main(uint8_t *buf, bool be, uint32_t cpu, uint64_t entryoff)
{
	memset(buf, 0, 0x1000);
	put32(buf, 0xfeedfacfu, be);
	put32(buf + 4, cpu, be);
	put32(buf + 12, 2, be); /* MH_EXECUTE */
	put32(buf + 16, 2, be);
	put32(buf + 20, 72 + 24, be);
	uint8_t *seg = buf + 32;
	put32(seg, 0x19, be); /* LC_SEGMENT_64 __TEXT */
	put32(seg + 4, 72, be);
	memcpy(seg + 8, "__TEXT", 6);
	put64(seg + 24, 0x100000000ull, be);
	put64(seg + 32, 0x1000, be);
	put64(seg + 40, 0, be);
	put64(seg + 48, 0x1000, be);
	uint8_t *main_ = seg + 72;
	put32(main_, 0x80000028u, be);
	put32(main_ + 4, 24, be);
	put64(main_ + 8, entryoff, be);
	return 0x1000;
}

/* 32-bit ARM with LC_SEGMENT __TEXT and an LC_UNIXTHREAD whose pc is the entry. */
static size_t macho32_thread(uint8_t *buf, uint32_t pc)
{
	memset(buf, 0, 0x1000);
	put32(buf, 0xfeedfaceu, false);
	put32(buf + 4, 12, false);
	put32(buf + 12, 2, false);
	put32(buf + 16, 2, false);
	put32(buf + 20, 56 + 16 + 68, false);
	uint8_t *th = buf + 28;
	put32(th, 0x5, false);
	put32(th + 4, 16 + 68, false);
	put32(th + 8, 1, false);
	put32(th + 12, 17, false);
	put32(th + 16 + 60, pc, false);
	uint8_t *seg = th + 16 + 68;
	put32(seg, 0x1, false);
	put32(seg + 4, 56, false);
	memcpy(seg + 8, "__TEXT", 6);
	put32(seg + 24, 0x4000, false);
	put32(seg + 28, 0x1000, false);
	put32(seg + 32, 0, false);
	put32(seg + 36, 0x1000, false);
	return 0x1000;
}

static void test_macho(void **state)
{
	static uint8_t b[0x1000];
	struct rap__binhdr h;
	size_t n = macho64_main(b, false, 0x01000007, 0x500);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.format, "mach064");
	assert_string_equal(h.bclass, "MACH064");
	assert_string_equal(h.arch, "x86");
	assert_string_equal(h.machine, "x86_64");
	assert_string_equal(h.type, "EXECUTE");
	assert_int_equal(h.bits, 64);
	assert_int_equal(h.entry, 0x100000500ull);
	assert_int_equal(h.entry_paddr, 0x500);
	/* the other byte order, a big-endian CPU */
	n = macho64_main(b, true, 0x01000012, 0x500);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.arch, "ppc");
	assert_true(h.big_endian);
	/* a thread's pc, Thumb when odd */
	n = macho32_thread(b, 0x4101);
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.format, "mach0");
	assert_string_equal(h.arch, "arm");
	assert_int_equal(h.bits, 16);
	assert_int_equal(h.entry, 0x4101);
	assert_int_equal(h.entry_paddr, 0x101);
}

static void test_macho_hostile(void **state)
{
	static uint8_t b[0x1000];
	struct rap__binhdr h;
	/* cut short */
	size_t n = macho64_main(b, false, 0x01000007, 0x500);
	for (size_t cut = 0; cut < 32; cut++)
		assert_int_equal(parse(b, cut, &h), RAP_EINVAL);
	/* a command of size 0 must not loop for ever; huge counts are bounded by the table */
	n = macho64_main(b, false, 0x01000007, 0x500);
	put32(b + 16, 0xffffffffu, false);
	put32(b + 32 + 4, 0, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry);
	/* a command larger than the table, the table past the file or the cap */
	n = macho64_main(b, false, 0x01000007, 0x500);
	put32(b + 32 + 4, 0x10000, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry);
	n = macho64_main(b, false, 0x01000007, 0x500);
	put32(b + 20, 0xffffff00u, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry);
	/* an entry offset past the file */
	n = macho64_main(b, false, 0x01000007, 0x5000);
	assert_int_equal(parse(b, n, &h), 0);
	assert_true(h.has_entry);
	assert_false(h.has_entry_paddr);
	/* a thread state too short for the pc; a pc no segment maps */
	n = macho32_thread(b, 0x4101);
	put32(b + 28 + 12, 2, false);
	assert_int_equal(parse(b, n, &h), 0);
	assert_false(h.has_entry);
	n = macho32_thread(b, 0x9000);
	assert_int_equal(parse(b, n, &h), 0);
	assert_true(h.has_entry);
	assert_false(h.has_entry_paddr);
}

/* Random bytes behind each magic: whatever comes back, nothing is read out of bounds
 * (ASan watches) and a success is a complete description. */
static void test_random(void **state)
{
	static const char *const magics[] = { "\x7f" "ELF\x01\x01", "\x7f" "ELF\x02\x02", "MZ", "\xcf\xfa\xed\xfe",
					      "\xfe\xed\xfa\xce" };
	uint32_t seed = 12345;
	static uint8_t b[4096];
	for (int round = 0; round < 4000; round++) {
		size_t len = (size_t)(seed % sizeof(b));
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			b[i] = (uint8_t)(seed >> 16);
		}
		const char *magic = magics[round % 5];
		memcpy(b, magic, len < strlen(magic) ? len : strlen(magic));
		/* small tables and offsets now and then, so the parsers get past the header */
		if (len > 0x40 && round % 3 == 0) {
			b[0x3c] = 0x40;
			b[0x3d] = b[0x3e] = b[0x3f] = 0;
		}
		struct rap__binhdr h;
		int rc = parse(b, len, &h);
		if (rc == 0) {
			assert_non_null(h.format);
			assert_non_null(h.arch);
			assert_true(h.bits == 16 || h.bits == 32 || h.bits == 64);
			assert_true(!h.has_entry_paddr || h.entry_paddr < len);
		} else {
			assert_int_equal(rc, RAP_EINVAL);
		}
	}
}

/* The real executable of the vectors. */
static void test_hello(void **state)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/hello", transcript_dir());
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static uint8_t b[65536];
	size_t n = fread(b, 1, sizeof(b), f);
	fclose(f);
	struct rap__binhdr h;
	assert_int_equal(parse(b, n, &h), 0);
	assert_string_equal(h.format, "elf64");
	assert_string_equal(h.type, "EXEC (Executable file)");
	assert_int_equal(h.entry, 0x401040);
	assert_int_equal(h.entry_paddr, 0x1040);
	/* not executables */
	assert_int_equal(parse((const uint8_t *)"\x7f" "EL", 3, &h), RAP_EINVAL);
	assert_int_equal(parse((const uint8_t *)"\xca\xfe\xba\xbe\x00\x00\x00\x02", 8, &h), RAP_EINVAL);
	assert_int_equal(parse((const uint8_t *)"@00000000|rap2!\n", 16, &h), RAP_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf),
		cmocka_unit_test(test_elf_hostile),
		cmocka_unit_test(test_pe),
		cmocka_unit_test(test_pe_hostile),
		cmocka_unit_test(test_macho),
		cmocka_unit_test(test_macho_hostile),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_hello),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
