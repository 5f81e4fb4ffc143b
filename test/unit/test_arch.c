/* The per-architecture tables and their text rules, fed Capstone's text directly: they turn it
 * into radare2 6.2.1's text, classify jumps and calls, find the memory x86 comments name, and
 * decode what Capstone 4 cannot (AArch64 memory tagging). Needs no Capstone, so it runs in
 * every build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arch.h"

static void rewrite(const struct rap__arch *a, unsigned bits, uint64_t addr, unsigned size, const char *in,
		    const char *want)
{
	char text[RAP__ARCH_TEXT_MAX];
	snprintf(text, sizeof(text), "%s", in);
	struct rap__arch_ctx ctx = { .addr = addr, .size = size, .bits = bits };
	rap__arch_rules(a)->rewrite(&ctx, text, sizeof(text));
	if (strcmp(text, want))
		fail_msg("%s %u: '%s' became '%s', want '%s'", a->name, bits, in, text, want);
}

static void flow(const struct rap__arch *a, unsigned bits, const char *text, enum rap__flow kind, uint64_t target)
{
	struct rap__arch_ctx ctx = { .bits = bits };
	uint64_t t = 0;
	enum rap__flow k = rap__arch_rules(a)->flow(&ctx, text, &t);
	if (k != kind || t != target)
		fail_msg("%s %u '%s': flow %d target 0x%llx, want %d 0x%llx", a->name, bits, text, k,
			 (unsigned long long)t, kind, (unsigned long long)target);
}

static void test_table(void **state)
{
	assert_ptr_equal(rap__arch_find("x86"), &rap__arch_x86);
	assert_ptr_equal(rap__arch_find("arm"), &rap__arch_arm);
	assert_ptr_equal(rap__arch_rules(&rap__arch_x86), &rap__arch_x86_rules);
	assert_ptr_equal(rap__arch_rules(&rap__arch_arm), &rap__arch_arm_rules);
	assert_ptr_equal(rap__arch_rules(&rap__arch_mips), &rap__arch_mips_rules);
	assert_ptr_equal(rap__arch_find("mips"), &rap__arch_mips);
	assert_null(rap__arch_find("z80"));
	assert_null(rap__arch_find(NULL));
	assert_null(rap__arch_find(""));
	size_t n = 0;
	while (rap__arch_at(n))
		n++;
	assert_int_equal(n, 3);
	/* every mode: a default among them, sizes that make sense */
	for (size_t i = 0; i < n; i++) {
		const struct rap__arch *a = rap__arch_at(i);
		assert_non_null(rap__arch_mode(a, a->default_bits));
		/* text rules of its own, apart from the facts (a build without Capstone leaves
		 * them out of its programs) */
		const struct rap__arch_rules *r = rap__arch_rules(a);
		assert_non_null(r);
		assert_non_null(r->rewrite);
		assert_non_null(r->flow);
		for (size_t m = 0; m < a->nmodes; m++) {
			const struct rap__arch_mode *md = &a->modes[m];
			assert_true(md->min_op >= 1 && md->min_op <= md->max_op && md->max_op <= 16);
			assert_true(md->align >= 1 && md->invalid_size >= 1);
		}
	}
	/* radare2's alignment and invalid sizes */
	assert_int_equal(rap__arch_mode(&rap__arch_arm, 16)->align, 2);
	assert_int_equal(rap__arch_mode(&rap__arch_arm, 16)->invalid_size, 4);
	assert_int_equal(rap__arch_mode(&rap__arch_arm, 64)->align, 4);
	assert_int_equal(rap__arch_mode(&rap__arch_x86, 32)->align, 1);
	assert_int_equal(rap__arch_mode(&rap__arch_x86, 32)->invalid_size, 1);
	assert_null(rap__arch_mode(&rap__arch_mips, 16));
	assert_null(rap__arch_mode(&rap__arch_x86, 8));
	/* AArch64 decodes little-endian whatever cfg.bigendian says; ARM and MIPS follow it */
	assert_false(rap__arch_mode(&rap__arch_arm, 64)->cs_mode & RAP__CS_ENDIAN);
	assert_true(rap__arch_mode(&rap__arch_arm, 32)->cs_mode & RAP__CS_ENDIAN);
	assert_true(rap__arch_mode(&rap__arch_mips, 64)->cs_mode & RAP__CS_ENDIAN);
}

static void test_text_helpers(void **state)
{
	assert_int_equal(rap__text_number("0x10]"), 16);
	assert_int_equal(rap__text_number("  0X1f"), 31);
	assert_int_equal(rap__text_number("42, 3"), 42);
	assert_int_equal(rap__text_number("-0x10"), 0);          /* '-' then hex: r2 reads 0 */
	assert_int_equal(rap__text_number("-3"), (uint64_t)-3);  /* decimal wraps */
	assert_int_equal(rap__text_number("017"), 15);           /* radare2: octal */
	assert_int_equal(rap__text_number("r1]"), 0);
	assert_int_equal(rap__text_number(""), 0);
	assert_int_equal(rap__text_number("0x"), 0);
	assert_int_equal(rap__text_number("0xffffffffffffffff"), UINT64_MAX);

	char t[16] = "a#b#c#";
	rap__text_delete_char(t, '#');
	assert_string_equal(t, "abc");
	char r[16] = "ptr ptr x";
	assert_true(rap__text_replace_all(r, sizeof(r), "ptr ", ""));
	assert_string_equal(r, "x");
	/* growing past the buffer: refused, the text stays whole */
	char g[8] = "aaa";
	assert_false(rap__text_replace_all(g, sizeof(g), "a", "bbbb"));
	assert_int_equal(strlen(g) < sizeof(g), 1);
	char s[8] = "abcdef";
	assert_false(rap__text_splice(s, sizeof(s), 2, 10, "x"));
	assert_false(rap__text_splice(s, sizeof(s), 7, 0, "x"));
	assert_true(rap__text_splice(s, sizeof(s), 2, 2, "X"));
	assert_string_equal(s, "abXef");
	assert_true(rap__text_splice(s, sizeof(s), 5, 0, "12"));
	assert_string_equal(s, "abXef12");
	assert_false(rap__text_splice(s, sizeof(s), 0, 0, "!"));

	uint64_t v;
	assert_true(rap__text_last_number("jnp 0x157", &v));
	assert_int_equal(v, 0x157);
	assert_true(rap__text_last_number("bnel t7, a2, 0xee4c", &v));
	assert_int_equal(v, 0xee4c);
	assert_true(rap__text_last_number("call 5", &v));
	assert_int_equal(v, 5);
	assert_false(rap__text_last_number("jmp rax", &v));
	assert_false(rap__text_last_number("jmp qword [0x1000]", &v));
	assert_false(rap__text_last_number("ret", &v));
	assert_false(rap__text_last_number("jmp 0x", &v));
	assert_false(rap__text_last_number("jmp 12abc", &v));

	char m[4];
	rap__text_mnemonic("movabs byte", m, sizeof(m));
	assert_string_equal(m, "mov");
	assert_true(rap__text_word_in("je", "jmp je jne"));
	assert_false(rap__text_word_in("j", "jmp je jne"));
	assert_false(rap__text_word_in("jnee", "jmp je jne"));
}

static void test_x86_text(void **state)
{
	const struct rap__arch *x = &rap__arch_x86;
	rewrite(x, 64, 0x144, 6, "or eax, dword ptr [rip - 0xf03486c]", "or eax, dword [0xfffffffff0fcb8de]");
	rewrite(x, 64, 0x1000, 7, "mov rax, qword ptr [rip + 0x10]", "mov rax, qword [0x00001017]");
	rewrite(x, 64, 0, 7, "lea rax, [rip]", "lea rax, [0x00000007]");
	/* '+' and '-' are looked for after "[rip" wherever they are, as radare2 does */
	rewrite(x, 64, 0, 10, "mov qword ptr [rip + 0x10], -1", "mov qword [0x00000019], -1");
	rewrite(x, 32, 0, 2, "movsb byte ptr es:[edi], byte ptr [esi]", "movsb byte es:[edi], byte [esi]");
	rewrite(x, 16, 0, 5, "lcall 0x1234, 0x5678", "lcall 0x1234:0x5678");
	rewrite(x, 32, 0, 5, "lcall 0x1234, 0x5678", "lcall 0x1234, 0x5678");
	rewrite(x, 64, 0, 1, "ret", "ret");

	flow(x, 64, "jmp 0x10", RAP__FLOW_JUMP, 0x10);
	flow(x, 64, "jne 0xffffffffffffff00", RAP__FLOW_JUMP, 0xffffffffffffff00);
	flow(x, 64, "loop 0x4", RAP__FLOW_JUMP, 4);
	flow(x, 64, "jrcxz 0x4", RAP__FLOW_JUMP, 4);
	flow(x, 64, "bnd jmp 0x20", RAP__FLOW_JUMP, 0x20);
	flow(x, 64, "notrack jmp rax", RAP__FLOW_JUMP, UINT64_MAX);
	flow(x, 64, "jmp qword [0x00001017]", RAP__FLOW_JUMP, UINT64_MAX);
	flow(x, 64, "call 0x1000", RAP__FLOW_CALL, 0x1000);
	flow(x, 16, "lcall 0x1234:0x5678", RAP__FLOW_CALL, 0x12340 + 0x5678);
	flow(x, 32, "ljmp 0x10:0x20", RAP__FLOW_JUMP, 0x120);
	flow(x, 64, "ret", RAP__FLOW_NONE, UINT64_MAX);
	flow(x, 64, "jmpx 0x10", RAP__FLOW_NONE, UINT64_MAX);
	flow(x, 64, "int3", RAP__FLOW_NONE, UINT64_MAX);

	/* radare2's "nop2": 0f 1a / 0f 1b, when two bytes are there */
	char text[16];
	struct rap__arch_ctx ctx = { .bits = 64 };
	assert_int_equal(rap__arch_x86_rules.predecode(&ctx, (const uint8_t *)"\x0f\x1a\x00", 3, text, sizeof(text)), 2);
	assert_string_equal(text, "nop2");
	assert_int_equal(rap__arch_x86_rules.predecode(&ctx, (const uint8_t *)"\x0f\x1b", 2, text, sizeof(text)), 2);
	assert_int_equal(rap__arch_x86_rules.predecode(&ctx, (const uint8_t *)"\x0f\x1a", 1, text, sizeof(text)), 0);
	assert_int_equal(rap__arch_x86_rules.predecode(&ctx, (const uint8_t *)"\x0f\x1c", 2, text, sizeof(text)), 0);
}

static void ref(const char *text, uint64_t addr, unsigned size, bool want, uint64_t want_addr, unsigned want_size)
{
	struct rap__arch_ctx ctx = { .addr = addr, .size = size, .bits = 64 };
	struct rap__arch_ref r = { 0, 0 };
	bool got = rap__arch_x86_rules.reference(&ctx, text, &r);
	if (got != want || (want && (r.addr != want_addr || r.size != want_size)))
		fail_msg("'%s': %d [0x%llx:%u], want %d [0x%llx:%u]", text, got, (unsigned long long)r.addr, r.size, want,
			 (unsigned long long)want_addr, want_size);
}

static void test_x86_references(void **state)
{
	/* the data of disasm.txt */
	ref("rcl dword ptr [rsi + 0x33a1f481], 0x6a", 0x108, 7, true, 0x33a1f481, 4);
	ref("movabs byte ptr [0x5d84b6f06e8039e9], al", 0x11b, 9, true, 0x5d84b6f06e8039e9, 1);
	ref("xor r12, qword ptr [rdi + 0x4c5b5827]", 0x14a, 7, true, 0x4c5b5827, 8);
	ref("sub dword ptr [rdi - 0x52d11ad3], ecx", 0x129, 6, false, 0, 0);
	ref("or bh, byte ptr [rbp + rcx*8 + 0x25]", 0x13d, 4, false, 0, 0);
	ref("mov dword ptr [rsi], esp", 0x141, 3, false, 0, 0);
	ref("or eax, dword ptr [rip - 0xf03486c]", 0x144, 6, true, 0xfffffffff0fcb8de, 4);
	/* rip-relative: any displacement */
	ref("mov eax, dword ptr [rip + 0x10]", 0, 6, true, 0x16, 4);
	/* absolute: any in the second operand, from 0x1000 in the first */
	ref("mov eax, dword ptr [0x10]", 0, 7, true, 0x10, 4);
	ref("mov dword ptr [0x10], eax", 0, 7, false, 0, 0);
	ref("mov dword ptr [0x1000], eax", 0, 7, true, 0x1000, 4);
	/* cmp and test: absolute ones only */
	ref("cmp dword ptr [0x10], 1", 0, 7, true, 0x10, 4);
	ref("cmp dword ptr [rax + 0x100000], 1", 0, 7, false, 0, 0);
	/* base or index: 0x10000 with a base, 0x1000 without */
	ref("mov eax, dword ptr [rax + 0xffff]", 0, 6, false, 0, 0);
	ref("mov eax, dword ptr [rax + 0x10000]", 0, 6, true, 0x10000, 4);
	ref("mov eax, dword ptr [rax*4 + 0x1000]", 0, 7, true, 0x1000, 4);
	ref("mov eax, dword ptr [rax*4 + 0xfff]", 0, 7, false, 0, 0);
	/* segments count as "not absolute" */
	ref("mov rax, qword ptr fs:[0x28]", 0, 9, false, 0, 0);
	ref("mov rax, qword ptr fs:[0x2800]", 0, 9, true, 0x2800, 8);
	/* frame-relative, lea, nop, control flow, no size keyword, odd sizes: none */
	ref("mov eax, dword ptr [ebp + 0x100000]", 0, 6, false, 0, 0);
	ref("lea rax, [rip + 0x10]", 0, 7, false, 0, 0);
	ref("nop dword ptr [rax + 0x100000]", 0, 7, false, 0, 0);
	ref("call qword ptr [rip + 0x10]", 0, 6, false, 0, 0);
	ref("movaps xmm0, xmmword ptr [0x100000]", 0, 8, false, 0, 0);
	ref("mov eax, ebx", 0, 2, false, 0, 0);
	ref("mov eax, dword ptr [rax + 0x10000", 0, 6, false, 0, 0);
	ref("mov ax, word ptr [0x2000]", 0, 6, true, 0x2000, 2);
}

static void test_arm_text(void **state)
{
	const struct rap__arch *a = &rap__arch_arm;
	rewrite(a, 32, 0, 4, "mov r0, #1", "mov r0, 1");
	rewrite(a, 32, 0x128, 4, "stchs p9, c2, [pc, #0x2e0]", "stchs p9, c2, [0x00000410]");
	rewrite(a, 32, 0x138, 4, "stcvc p3, c3, [pc, #-0x2ac]!", "stcvc p3, c3, [0xfffffffffffffe94]!");
	rewrite(a, 16, 0x102, 2, "ldr r0, [pc, #0x10]", "ldr r0, [0x00000114]");
	rewrite(a, 16, 0x102, 4, "ldr.w r0, [pc, #0x10]", "ldr.w r0, [0x00000114]");
	rewrite(a, 16, 0x102, 4, "vldr d0, [pc, #8]", "vldr d0, [0x00000110]");
	/* a register offset is read as 0, as radare2 reads it */
	rewrite(a, 32, 0x100, 4, "ldr r0, [pc, r1]", "ldr r0, [0x00000108]");
	/* a comma after "[pc, " leaves the operand alone */
	rewrite(a, 32, 0x100, 4, "ldr r0, [pc, r1, lsl #2]", "ldr r0, [pc, r1, lsl 2]");
	rewrite(a, 64, 0, 4, "stp x29, x30, [sp, #-0x10]!", "stp x29, x30, [sp, -0x10]!");
	rewrite(a, 64, 0, 4, "ldr q12, #0xfffffffffff46a58", "ldr q12, 0xfffffffffff46a58");

	assert_true(rap__arch_arm_rules.invalid("udf"));
	assert_true(rap__arch_arm_rules.invalid("hint"));
	assert_false(rap__arch_arm_rules.invalid("nop"));
	assert_false(rap__arch_arm_rules.invalid("ud"));

	flow(a, 32, "b 0x14", RAP__FLOW_JUMP, 0x14);
	flow(a, 32, "beq 0x21e", RAP__FLOW_JUMP, 0x21e);
	flow(a, 32, "ble 0x21e", RAP__FLOW_JUMP, 0x21e);
	flow(a, 32, "bls 0x21e", RAP__FLOW_JUMP, 0x21e);
	flow(a, 32, "bl 0x14", RAP__FLOW_CALL, 0x14);
	flow(a, 32, "bleq 0x14", RAP__FLOW_CALL, 0x14);
	flow(a, 32, "blx 0x1038", RAP__FLOW_CALL, 0x1038);
	flow(a, 32, "blx r3", RAP__FLOW_CALL, UINT64_MAX);
	flow(a, 16, "b.w 0x100", RAP__FLOW_JUMP, 0x100);
	flow(a, 16, "cbz r0, 0x6", RAP__FLOW_JUMP, 6);
	flow(a, 32, "bx lr", RAP__FLOW_NONE, UINT64_MAX);
	flow(a, 32, "bic r0, r0, 1", RAP__FLOW_NONE, UINT64_MAX);
	flow(a, 32, "bkpt 1", RAP__FLOW_NONE, UINT64_MAX);
	flow(a, 64, "b.eq 0x107c", RAP__FLOW_JUMP, 0x107c);
	flow(a, 64, "tbnz x11, 0x32, 0xffffffffffff81e4", RAP__FLOW_JUMP, 0xffffffffffff81e4);
	flow(a, 64, "cbnz w0, 0x8", RAP__FLOW_JUMP, 8);
	flow(a, 64, "bl 0x18", RAP__FLOW_CALL, 0x18);
	flow(a, 64, "br x1", RAP__FLOW_NONE, UINT64_MAX);
	flow(a, 64, "beq 0x8", RAP__FLOW_NONE, UINT64_MAX);
}

static void tag(uint32_t word, bool big, const char *want)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(big ? word >> (24 - 8 * i) : word >> (8 * i));
	struct rap__arch_ctx ctx = { .bits = 64, .big = big };
	char text[64] = "";
	bool ok = rap__arch_arm_rules.fallback(&ctx, b, 4, text, sizeof(text));
	if (want ? !ok || strcmp(text, want) : ok)
		fail_msg("0x%08x: %s '%s', want '%s'", word, ok ? "decoded" : "refused", text, want ? want : "(none)");
}

/* ARMv8.5 memory tagging: the encodings of the Arm reference, printed as radare2 prints them. */
static void test_arm_memory_tagging(void **state)
{
	tag(0x9adf1020, false, "irg x0, x1");
	tag(0x9ac21020, false, "irg x0, x1, x2");
	tag(0x9ac01400, false, "gmi x0, x0, x0");
	tag(0x9ac20020, false, "subp x0, x1, x2");
	tag(0xbac20020, false, "subps x0, x1, x2");
	tag(0xbadf001f, false, "cmpp x0, sp");
	tag(0x91810820, false, "addg x0, x1, 0x10, 2");
	tag(0xd1bf0bff, false, "subg sp, sp, 0x3f0, 2");
	tag(0xd503241f, false, "bti");
	tag(0xd503245f, false, "bti c");
	tag(0xd503249f, false, "bti j");
	tag(0xd50324df, false, "bti jc");
	tag(0xd503243f, false, NULL); /* op2 odd: not a bti */
	tag(0xd9200420, false, "stg x0, [x1], 0x0");
	tag(0xd9201820, false, "stg x0, [x1, 0x10]");
	tag(0xd9201c20, false, "stg x0, [x1, 0x10]!");
	tag(0xd9601820, false, "stzg x0, [x1, 0x10]");
	tag(0xd9a01820, false, "st2g x0, [x1, 0x10]");
	tag(0xd9e01820, false, "stz2g x0, [x1, 0x10]");
	tag(0xd92003ff, false, "stzgm sp, [sp]");
	tag(0xd96013ff, false, "ldg sp, [sp, 0x10]");
	tag(0xd9a00020, false, "stgm x0, [x1]");
	tag(0xd9e00020, false, "ldgm x0, [x1]");
	tag(0x68808440, false, "stgp x0, x1, [x2], 0x10");
	tag(0x69008440, false, "stgp x0, x1, [x2, 0x10]");
	/* radare2 keeps the offset of stgp in a byte: disasm.txt's "stgp x8, x4, [x2, 0x20]!" */
	tag(0x69a11048, false, "stgp x8, x4, [x2, 0x20]!");
	tag(0x69a11048, true, "stgp x8, x4, [x2, 0x20]!");
	/* no memory-tagging instruction */
	tag(0x00000000, false, NULL);
	tag(0xdac00040, false, NULL);
	tag(0x68008440, false, NULL); /* stgp's op2 0 */
	tag(0xa9bf7bfd, false, NULL); /* stp */
	/* only AArch64, only four bytes */
	struct rap__arch_ctx ctx32 = { .bits = 32 };
	char text[64];
	assert_false(rap__arch_arm_rules.fallback(&ctx32, (const uint8_t *)"\x20\x10\xdf\x9a", 4, text, sizeof(text)));
	struct rap__arch_ctx ctx64 = { .bits = 64 };
	assert_false(rap__arch_arm_rules.fallback(&ctx64, (const uint8_t *)"\x20\x10\xdf", 3, text, sizeof(text)));
}

static void test_mips_text(void **state)
{
	const struct rap__arch *m = &rap__arch_mips;
	rewrite(m, 32, 0, 4, "sb $t2, 0x33a1($s3)", "sb t2, 0x33a1(s3)");
	rewrite(m, 64, 0, 4, "jr $ra", "jr ra");
	flow(m, 32, "bnel t7, a2, 0xee4c", RAP__FLOW_JUMP, 0xee4c);
	flow(m, 32, "b 0x10", RAP__FLOW_JUMP, 0x10);
	flow(m, 32, "j 0x2b4bb94", RAP__FLOW_JUMP, 0x2b4bb94);
	flow(m, 32, "jalx 0x2b4bb94", RAP__FLOW_CALL, 0x2b4bb94);
	flow(m, 32, "bal 0x8", RAP__FLOW_CALL, 8);
	flow(m, 32, "jalr t9", RAP__FLOW_NONE, UINT64_MAX);
	flow(m, 32, "jr ra", RAP__FLOW_NONE, UINT64_MAX);
	flow(m, 32, "bc1t 0x10", RAP__FLOW_NONE, UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_text_helpers),
		cmocka_unit_test(test_x86_text),
		cmocka_unit_test(test_x86_references),
		cmocka_unit_test(test_arm_text),
		cmocka_unit_test(test_arm_memory_tagging),
		cmocka_unit_test(test_mips_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
