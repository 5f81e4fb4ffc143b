/* Shared between the files of the debugging backend (dbg*.c) and its unit test; never
 * installed. The architecture tables: everything that differs between CPUs lives in one
 * small table per architecture (dbg_arch_x86_64.c, dbg_arch_aarch64.c, dbg_arch_arm.c). */
#ifndef RAP_DBG_PRIVATE_H
#define RAP_DBG_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rap/dbg.h>

/* Which register set of PTRACE_GETREGSET holds a register. */
enum rap__dbg_regset {
	RAP__DBG_SET_GPR, /* NT_PRSTATUS: struct user_regs_struct */
	RAP__DBG_SET_FPR, /* NT_FPREGSET: struct user_fpregs_struct (x86-64 only here) */
};

/* Where a register's bytes are: size bytes at off in its set, little-endian, zero-extended
 * to the register's width (x87 fiseg is 2 bytes of a 64-bit field, for instance). */
struct rap__dbg_loc {
	enum rap__dbg_regset set;
	size_t off;
	size_t size;
};

/* A target.xml feature: its registers are those from first_gdb_num up to the next one's. */
struct rap__dbg_feature {
	const char *name;
	int first_gdb_num;
};

struct rap__dbg_arch {
	struct rap_dbg_arch pub;
	const struct rap__dbg_loc *locs; /* parallel to pub.regs */
	const struct rap__dbg_feature *features; /* ascending first_gdb_num, the first 0 */
	size_t nfeatures;
	size_t gpr_size;                 /* bytes of the NT_PRSTATUS set */
	size_t fpr_size;                 /* bytes of the NT_FPREGSET set, 0: none used */
	const uint8_t *bp_insn;          /* the software breakpoint instruction */
	size_t bp_len;
	/* How far past the breakpoint the PC is when its trap is reported (x86: 1, int3 has
	 * executed; arm: 0, the PC stays on the instruction). */
	uint64_t pc_after_bp;
	/* Whether the kernel single-steps (PTRACE_SINGLESTEP): not on 32-bit ARM, where stepping,
	 * and continuing from a breakpoint, answer RAP_ENOTSUP (no software stepping yet). */
	bool single_step;
};

/* The host's table as the arch file defines it (target_xml still NULL), or NULL when this
 * architecture has none (dbg_arch_*.c). */
struct rap__dbg_arch *rap__dbg_arch_host_table(void);
/* The host's table with its target_xml written (once, thread-safe; dbg_xml.c), or NULL. */
const struct rap__dbg_arch *rap__dbg_arch_host(void);
/* Writes arch's gdb target description from its table into buf (cap bytes, NUL-terminated).
 * Errors: RAP_ENOSPC (it does not fit). */
int rap__dbg_target_xml_into(const struct rap__dbg_arch *arch, char *buf, size_t cap);

/* /proc/PID/maps text to entries (dbg_maps.c). text is NUL-terminated. *out heap.
 * Malformed lines fail with RAP_EPROTO. */
int rap__dbg_maps_parse(const char *text, struct rap_dbg_map **out, size_t *n);

/* rap_dbg_ptrace_denied_reason's decision from the text of kernel.yama.ptrace_scope (NULL:
 * no Yama) and whether the process has CAP_SYS_PTRACE (dbg_proc.c). */
const char *rap__dbg_denied_reason_for(const char *scope, bool cap_sys_ptrace);

#endif
