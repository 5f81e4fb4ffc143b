/* x86-64 (Linux): the register table (radare2's names in dr order, their place in struct
 * user_regs_struct / user_fpregs_struct and in gdb's amd64 register file), the breakpoint
 * instruction and the PC adjustment after it. */
#include "dbg_private.h"

#if defined(__x86_64__)

#include <stdbool.h>
#include <sys/user.h>

#define GPR(field, size) {RAP__DBG_SET_GPR, offsetof(struct user_regs_struct, field), size}
#define FPR_AT(field, at, size) {RAP__DBG_SET_FPR, offsetof(struct user_fpregs_struct, field) + (at), size}

/* name, bits, gdb number, gdb name, gdb type, shown by dr, drp role. */
static const struct rap_dbg_reg x86_64_regs[] = {
	{"rax", 64, 0, "rax", "int64", true, RAP_DBG_ROLE_R0},
	{"rbx", 64, 1, "rbx", "int64", true, RAP_DBG_ROLE_NONE},
	{"rcx", 64, 2, "rcx", "int64", true, RAP_DBG_ROLE_A3},
	{"rdx", 64, 3, "rdx", "int64", true, RAP_DBG_ROLE_A2},
	{"r8", 64, 8, "r8", "int64", true, RAP_DBG_ROLE_A4},
	{"r9", 64, 9, "r9", "int64", true, RAP_DBG_ROLE_A5},
	{"r10", 64, 10, "r10", "int64", true, RAP_DBG_ROLE_NONE},
	{"r11", 64, 11, "r11", "int64", true, RAP_DBG_ROLE_NONE},
	{"r12", 64, 12, "r12", "int64", true, RAP_DBG_ROLE_NONE},
	{"r13", 64, 13, "r13", "int64", true, RAP_DBG_ROLE_NONE},
	{"r14", 64, 14, "r14", "int64", true, RAP_DBG_ROLE_NONE},
	{"r15", 64, 15, "r15", "int64", true, RAP_DBG_ROLE_NONE},
	{"rsi", 64, 4, "rsi", "int64", true, RAP_DBG_ROLE_A1},
	{"rdi", 64, 5, "rdi", "int64", true, RAP_DBG_ROLE_A0},
	{"rsp", 64, 7, "rsp", "data_ptr", true, RAP_DBG_ROLE_SP},
	{"rbp", 64, 6, "rbp", "data_ptr", true, RAP_DBG_ROLE_BP},
	{"rip", 64, 16, "rip", "code_ptr", true, RAP_DBG_ROLE_PC},
	{"rflags", 32, 17, "eflags", "int32", true, RAP_DBG_ROLE_NONE},
	{"orax", 64, 57, "orig_rax", "int64", true, RAP_DBG_ROLE_SN},
	{"cs", 32, 18, "cs", "int32", false, RAP_DBG_ROLE_NONE},
	{"ss", 32, 19, "ss", "int32", false, RAP_DBG_ROLE_NONE},
	{"ds", 32, 20, "ds", "int32", false, RAP_DBG_ROLE_NONE},
	{"es", 32, 21, "es", "int32", false, RAP_DBG_ROLE_NONE},
	{"fs", 32, 22, "fs", "int32", false, RAP_DBG_ROLE_NONE},
	{"gs", 32, 23, "gs", "int32", false, RAP_DBG_ROLE_NONE},
	{"st0", 80, 24, "st0", "i387_ext", false, RAP_DBG_ROLE_NONE},
	{"st1", 80, 25, "st1", "i387_ext", false, RAP_DBG_ROLE_NONE},
	{"st2", 80, 26, "st2", "i387_ext", false, RAP_DBG_ROLE_NONE},
	{"st3", 80, 27, "st3", "i387_ext", false, RAP_DBG_ROLE_NONE},
	{"st4", 80, 28, "st4", "i387_ext", false, RAP_DBG_ROLE_NONE},
	{"st5", 80, 29, "st5", "i387_ext", false, RAP_DBG_ROLE_NONE},
	{"st6", 80, 30, "st6", "i387_ext", false, RAP_DBG_ROLE_NONE},
	{"st7", 80, 31, "st7", "i387_ext", false, RAP_DBG_ROLE_NONE},
	{"fctrl", 32, 32, "fctrl", "int", false, RAP_DBG_ROLE_NONE},
	{"fstat", 32, 33, "fstat", "int", false, RAP_DBG_ROLE_NONE},
	{"ftag", 32, 34, "ftag", "int", false, RAP_DBG_ROLE_NONE},
	{"fiseg", 32, 35, "fiseg", "int", false, RAP_DBG_ROLE_NONE},
	{"fioff", 32, 36, "fioff", "int", false, RAP_DBG_ROLE_NONE},
	{"foseg", 32, 37, "foseg", "int", false, RAP_DBG_ROLE_NONE},
	{"fooff", 32, 38, "fooff", "int", false, RAP_DBG_ROLE_NONE},
	{"fop", 32, 39, "fop", "int", false, RAP_DBG_ROLE_NONE},
	{"xmm0", 128, 40, "xmm0", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm1", 128, 41, "xmm1", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm2", 128, 42, "xmm2", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm3", 128, 43, "xmm3", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm4", 128, 44, "xmm4", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm5", 128, 45, "xmm5", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm6", 128, 46, "xmm6", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm7", 128, 47, "xmm7", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm8", 128, 48, "xmm8", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm9", 128, 49, "xmm9", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm10", 128, 50, "xmm10", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm11", 128, 51, "xmm11", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm12", 128, 52, "xmm12", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm13", 128, 53, "xmm13", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm14", 128, 54, "xmm14", "uint128", false, RAP_DBG_ROLE_NONE},
	{"xmm15", 128, 55, "xmm15", "uint128", false, RAP_DBG_ROLE_NONE},
	{"mxcsr", 32, 56, "mxcsr", "int", false, RAP_DBG_ROLE_NONE},
	{"fs_base", 64, 58, "fs_base", "int64", false, RAP_DBG_ROLE_NONE},
	{"gs_base", 64, 59, "gs_base", "int64", false, RAP_DBG_ROLE_NONE},
};

/* Parallel to x86_64_regs. */
static const struct rap__dbg_loc x86_64_locs[] = {
	GPR(rax, 8),
	GPR(rbx, 8),
	GPR(rcx, 8),
	GPR(rdx, 8),
	GPR(r8, 8),
	GPR(r9, 8),
	GPR(r10, 8),
	GPR(r11, 8),
	GPR(r12, 8),
	GPR(r13, 8),
	GPR(r14, 8),
	GPR(r15, 8),
	GPR(rsi, 8),
	GPR(rdi, 8),
	GPR(rsp, 8),
	GPR(rbp, 8),
	GPR(rip, 8),
	GPR(eflags, 8),
	GPR(orig_rax, 8),
	GPR(cs, 8),
	GPR(ss, 8),
	GPR(ds, 8),
	GPR(es, 8),
	GPR(fs, 8),
	GPR(gs, 8),
	FPR_AT(st_space, 0, 10),
	FPR_AT(st_space, 16, 10),
	FPR_AT(st_space, 32, 10),
	FPR_AT(st_space, 48, 10),
	FPR_AT(st_space, 64, 10),
	FPR_AT(st_space, 80, 10),
	FPR_AT(st_space, 96, 10),
	FPR_AT(st_space, 112, 10),
	FPR_AT(cwd, 0, 2),
	FPR_AT(swd, 0, 2),
	FPR_AT(ftw, 0, 2),
	FPR_AT(rip, 4, 2),
	FPR_AT(rip, 0, 4),
	FPR_AT(rdp, 4, 2),
	FPR_AT(rdp, 0, 4),
	FPR_AT(fop, 0, 2),
	FPR_AT(xmm_space, 0, 16),
	FPR_AT(xmm_space, 16, 16),
	FPR_AT(xmm_space, 32, 16),
	FPR_AT(xmm_space, 48, 16),
	FPR_AT(xmm_space, 64, 16),
	FPR_AT(xmm_space, 80, 16),
	FPR_AT(xmm_space, 96, 16),
	FPR_AT(xmm_space, 112, 16),
	FPR_AT(xmm_space, 128, 16),
	FPR_AT(xmm_space, 144, 16),
	FPR_AT(xmm_space, 160, 16),
	FPR_AT(xmm_space, 176, 16),
	FPR_AT(xmm_space, 192, 16),
	FPR_AT(xmm_space, 208, 16),
	FPR_AT(xmm_space, 224, 16),
	FPR_AT(xmm_space, 240, 16),
	FPR_AT(mxcsr, 0, 4),
	GPR(fs_base, 8),
	GPR(gs_base, 8),
};

_Static_assert(sizeof(x86_64_regs) / sizeof(x86_64_regs[0]) == sizeof(x86_64_locs) / sizeof(x86_64_locs[0]),
               "one location per register");

static const uint8_t x86_64_int3[] = {0xcc};

static const struct rap__dbg_feature x86_64_features[] = {
	{"org.gnu.gdb.i386.core", 0},
	{"org.gnu.gdb.i386.sse", 40},
	{"org.gnu.gdb.i386.linux", 57},
	{"org.gnu.gdb.i386.segments", 58},
};

/* Not const: target_xml is written once, from the table, on first use (dbg_xml.c). */
static struct rap__dbg_arch x86_64 = {
	.pub = {
		.name = "x86_64",
		.gdb_arch = "i386:x86-64",
		.regs = x86_64_regs,
		.nregs = sizeof(x86_64_regs) / sizeof(x86_64_regs[0]),
		.gdb_regs_size = 560,
		.target_xml = NULL,
		.profile_note = "# no profile defined for x86-64",
		.pc_bits = 64,
	},
	.locs = x86_64_locs,
	.features = x86_64_features,
	.nfeatures = sizeof(x86_64_features) / sizeof(x86_64_features[0]),
	.gpr_size = sizeof(struct user_regs_struct),
	.fpr_size = sizeof(struct user_fpregs_struct),
	.bp_insn = x86_64_int3,
	.bp_len = sizeof(x86_64_int3),
	.single_step = true,
	.pc_after_bp = 1,
};

struct rap__dbg_arch *rap__dbg_arch_host_table(void)
{
	return &x86_64;
}

#endif
