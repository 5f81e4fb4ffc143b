/* aarch64 (Linux): register table, breakpoint instruction (brk #0) and PC adjustment (none:
 * the PC stays on the brk). Compiled on aarch64 hosts only; tested on devices. */
#include "dbg_private.h"

#if defined(__aarch64__)

#include <stdbool.h>
#include <sys/user.h>

#define GPR_AT(field, at) {RAP__DBG_SET_GPR, offsetof(struct user_regs_struct, field) + (at), 8}

/* name, bits, gdb number, gdb name, gdb type, shown by dr, drp role. */
static const struct rap_dbg_reg aarch64_regs[] = {
	{"x0", 64, 0, "x0", "int", true, RAP_DBG_ROLE_A0},
	{"x1", 64, 1, "x1", "int", true, RAP_DBG_ROLE_A1},
	{"x2", 64, 2, "x2", "int", true, RAP_DBG_ROLE_A2},
	{"x3", 64, 3, "x3", "int", true, RAP_DBG_ROLE_A3},
	{"x4", 64, 4, "x4", "int", true, RAP_DBG_ROLE_A4},
	{"x5", 64, 5, "x5", "int", true, RAP_DBG_ROLE_A5},
	{"x6", 64, 6, "x6", "int", true, RAP_DBG_ROLE_NONE},
	{"x7", 64, 7, "x7", "int", true, RAP_DBG_ROLE_NONE},
	{"x8", 64, 8, "x8", "int", true, RAP_DBG_ROLE_SN},
	{"x9", 64, 9, "x9", "int", true, RAP_DBG_ROLE_NONE},
	{"x10", 64, 10, "x10", "int", true, RAP_DBG_ROLE_NONE},
	{"x11", 64, 11, "x11", "int", true, RAP_DBG_ROLE_NONE},
	{"x12", 64, 12, "x12", "int", true, RAP_DBG_ROLE_NONE},
	{"x13", 64, 13, "x13", "int", true, RAP_DBG_ROLE_NONE},
	{"x14", 64, 14, "x14", "int", true, RAP_DBG_ROLE_NONE},
	{"x15", 64, 15, "x15", "int", true, RAP_DBG_ROLE_NONE},
	{"x16", 64, 16, "x16", "int", true, RAP_DBG_ROLE_NONE},
	{"x17", 64, 17, "x17", "int", true, RAP_DBG_ROLE_NONE},
	{"x18", 64, 18, "x18", "int", true, RAP_DBG_ROLE_NONE},
	{"x19", 64, 19, "x19", "int", true, RAP_DBG_ROLE_NONE},
	{"x20", 64, 20, "x20", "int", true, RAP_DBG_ROLE_NONE},
	{"x21", 64, 21, "x21", "int", true, RAP_DBG_ROLE_NONE},
	{"x22", 64, 22, "x22", "int", true, RAP_DBG_ROLE_NONE},
	{"x23", 64, 23, "x23", "int", true, RAP_DBG_ROLE_NONE},
	{"x24", 64, 24, "x24", "int", true, RAP_DBG_ROLE_NONE},
	{"x25", 64, 25, "x25", "int", true, RAP_DBG_ROLE_NONE},
	{"x26", 64, 26, "x26", "int", true, RAP_DBG_ROLE_NONE},
	{"x27", 64, 27, "x27", "int", true, RAP_DBG_ROLE_NONE},
	{"x28", 64, 28, "x28", "int", true, RAP_DBG_ROLE_NONE},
	{"x29", 64, 29, "x29", "int", true, RAP_DBG_ROLE_BP},
	{"x30", 64, 30, "x30", "int", true, RAP_DBG_ROLE_NONE},
	{"sp", 64, 31, "sp", "data_ptr", true, RAP_DBG_ROLE_SP},
	{"pc", 64, 32, "pc", "code_ptr", true, RAP_DBG_ROLE_PC},
	{"pstate", 32, 33, "cpsr", "int", true, RAP_DBG_ROLE_NONE},
};

/* Parallel to aarch64_regs. The return value (=R0) is x0 like the first argument. */
static const struct rap__dbg_loc aarch64_locs[] = {
	GPR_AT(regs, 0),
	GPR_AT(regs, 8),
	GPR_AT(regs, 16),
	GPR_AT(regs, 24),
	GPR_AT(regs, 32),
	GPR_AT(regs, 40),
	GPR_AT(regs, 48),
	GPR_AT(regs, 56),
	GPR_AT(regs, 64),
	GPR_AT(regs, 72),
	GPR_AT(regs, 80),
	GPR_AT(regs, 88),
	GPR_AT(regs, 96),
	GPR_AT(regs, 104),
	GPR_AT(regs, 112),
	GPR_AT(regs, 120),
	GPR_AT(regs, 128),
	GPR_AT(regs, 136),
	GPR_AT(regs, 144),
	GPR_AT(regs, 152),
	GPR_AT(regs, 160),
	GPR_AT(regs, 168),
	GPR_AT(regs, 176),
	GPR_AT(regs, 184),
	GPR_AT(regs, 192),
	GPR_AT(regs, 200),
	GPR_AT(regs, 208),
	GPR_AT(regs, 216),
	GPR_AT(regs, 224),
	GPR_AT(regs, 232),
	GPR_AT(regs, 240),
	GPR_AT(sp, 0),
	GPR_AT(pc, 0),
	{RAP__DBG_SET_GPR, offsetof(struct user_regs_struct, pstate), 4},
};

static const uint8_t aarch64_brk[] = {0x00, 0x00, 0x20, 0xd4};

static const struct rap__dbg_feature aarch64_features[] = {
	{"org.gnu.gdb.aarch64.core", 0},
};

/* Not const: target_xml is written once, from the table, on first use (dbg_xml.c). */
static struct rap__dbg_arch aarch64 = {
	.pub = {
		.name = "aarch64",
		.gdb_arch = "aarch64",
		.regs = aarch64_regs,
		.nregs = sizeof(aarch64_regs) / sizeof(aarch64_regs[0]),
		.gdb_regs_size = 33 * 8 + 4,
		.target_xml = NULL,
		.profile_note = NULL,
		.pc_bits = 64,
	},
	.locs = aarch64_locs,
	.features = aarch64_features,
	.nfeatures = sizeof(aarch64_features) / sizeof(aarch64_features[0]),
	.gpr_size = sizeof(struct user_regs_struct),
	.fpr_size = 0,
	.bp_insn = aarch64_brk,
	.bp_len = sizeof(aarch64_brk),
	.single_step = true,
	.pc_after_bp = 0,
};

struct rap__dbg_arch *rap__dbg_arch_host_table(void)
{
	return &aarch64;
}

#endif
