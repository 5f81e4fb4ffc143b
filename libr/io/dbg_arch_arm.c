/* 32-bit ARM (Linux, ARM state): register table, breakpoint instruction (the undefined
 * instruction the kernel reports as SIGTRAP) and PC adjustment (none). Thumb code is not
 * handled. Compiled on arm hosts only; tested on devices. */
#include "dbg_private.h"

#if defined(__arm__)

#include <stdbool.h>
#include <sys/user.h>

#define UREG(i) {RAP__DBG_SET_GPR, offsetof(struct user_regs, uregs) + (i) * 4, 4}

/* name, bits, gdb number, gdb name, gdb type, shown by dr, drp role. =R0 is r0. */
static const struct rap_dbg_reg arm_regs[] = {
	{"r0", 32, 0, "r0", "uint32", true, RAP_DBG_ROLE_A0},
	{"r1", 32, 1, "r1", "uint32", true, RAP_DBG_ROLE_A1},
	{"r2", 32, 2, "r2", "uint32", true, RAP_DBG_ROLE_A2},
	{"r3", 32, 3, "r3", "uint32", true, RAP_DBG_ROLE_A3},
	{"r4", 32, 4, "r4", "uint32", true, RAP_DBG_ROLE_NONE},
	{"r5", 32, 5, "r5", "uint32", true, RAP_DBG_ROLE_NONE},
	{"r6", 32, 6, "r6", "uint32", true, RAP_DBG_ROLE_NONE},
	{"r7", 32, 7, "r7", "uint32", true, RAP_DBG_ROLE_SN},
	{"r8", 32, 8, "r8", "uint32", true, RAP_DBG_ROLE_NONE},
	{"r9", 32, 9, "r9", "uint32", true, RAP_DBG_ROLE_NONE},
	{"r10", 32, 10, "r10", "uint32", true, RAP_DBG_ROLE_NONE},
	{"r11", 32, 11, "r11", "uint32", true, RAP_DBG_ROLE_BP},
	{"r12", 32, 12, "r12", "uint32", true, RAP_DBG_ROLE_NONE},
	{"sp", 32, 13, "sp", "data_ptr", true, RAP_DBG_ROLE_SP},
	{"lr", 32, 14, "lr", "uint32", true, RAP_DBG_ROLE_NONE},
	{"pc", 32, 15, "pc", "code_ptr", true, RAP_DBG_ROLE_PC},
	{"cpsr", 32, 16, "cpsr", "int", true, RAP_DBG_ROLE_NONE},
};

/* Parallel to arm_regs. */
static const struct rap__dbg_loc arm_locs[] = {
	UREG(0),
	UREG(1),
	UREG(2),
	UREG(3),
	UREG(4),
	UREG(5),
	UREG(6),
	UREG(7),
	UREG(8),
	UREG(9),
	UREG(10),
	UREG(11),
	UREG(12),
	UREG(13),
	UREG(14),
	UREG(15),
	UREG(16),
};

static const uint8_t arm_udf[] = {0xf0, 0x01, 0xf0, 0xe7};

static const struct rap__dbg_feature arm_features[] = {
	{"org.gnu.gdb.arm.core", 0},
};

/* Not const: target_xml is written once, from the table, on first use (dbg_xml.c). */
static struct rap__dbg_arch arm = {
	.pub = {
		.name = "arm",
		.gdb_arch = "arm",
		.regs = arm_regs,
		.nregs = sizeof(arm_regs) / sizeof(arm_regs[0]),
		.gdb_regs_size = 17 * 4,
		.target_xml = NULL,
		.profile_note = NULL,
		.pc_bits = 32,
	},
	.locs = arm_locs,
	.features = arm_features,
	.nfeatures = sizeof(arm_features) / sizeof(arm_features[0]),
	.gpr_size = sizeof(struct user_regs),
	.fpr_size = 0,
	.bp_insn = arm_udf,
	.bp_len = sizeof(arm_udf),
	.single_step = false,
	.pc_after_bp = 0,
};

struct rap__dbg_arch *rap__dbg_arch_host_table(void)
{
	return &arm;
}

#endif
