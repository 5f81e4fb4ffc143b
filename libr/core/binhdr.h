/* Executable headers (never installed): what an ELF (32/64 bits, either byte order), PE
 * (PE32, PE32+) or Mach-O (32/64 bits) header says about the code in the file: format,
 * architecture, bits, byte order and entry point. Only the header and the tables that place
 * the entry point in the file (ELF program headers, PE sections, Mach-O load commands) are
 * read, every length and offset checked against the file and against hard caps first: the
 * files are hostile. The rest of the binary is never parsed (rapcli is radare2 with -n). */
#ifndef RAP_CORE_BINHDR_H
#define RAP_CORE_BINHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads up to len bytes at off into buf. Returns how many were read (fewer at the end of
 * the file, 0 past it) or a negative RAP_E* / -errno. */
typedef int (*rap__binhdr_read_fn)(void *ctx, uint64_t off, uint8_t *buf, size_t len);

/* Largest table (program headers, sections, load commands) read to find the entry point. */
#define RAP__BINHDR_TABLE_MAX (64u * 1024u)

struct rap__binhdr {
	/* All strings are static. */
	const char *format;  /* radare2's bin plugin: "elf", "elf64", "pe", "pe64", "mach0", "mach064" */
	const char *bintype; /* "elf", "pe", "mach0" */
	const char *bclass;  /* "ELF32", "ELF64", "PE32", "PE32+", "MACH0", "MACH064" */
	const char *type;    /* "EXEC (Executable file)", "DYN (Shared object file)"...; NULL: none */
	const char *arch;    /* radare2's asm.arch name ("x86", "arm", "mips", "ppc"...); "unknown" */
	const char *machine; /* "AMD x86-64 architecture", "i386", "ARM64"... */
	unsigned bits;       /* 16 (Thumb entry), 32 or 64 */
	bool big_endian;
	bool has_entry;
	uint64_t entry;       /* virtual address */
	bool has_entry_paddr; /* the entry lies in a part of the file the tables map */
	uint64_t entry_paddr; /* its file offset */
};

/* Parses the header of a file of size bytes (UINT64_MAX: unknown) read through read(ctx).
 * Returns 0 and fills *out when the file is one of the formats, RAP_EINVAL when it is not
 * (or its header is malformed, or cut short), or the read's error. */
int rap__binhdr_parse(rap__binhdr_read_fn read, void *ctx, uint64_t size, struct rap__binhdr *out);

#endif
