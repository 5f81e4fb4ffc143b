/* pd, pi and pD through libcore: every command of test/vectors/r2/disasm.txt replayed and
 * compared byte for byte with what radare2 6.2.1 printed, then cases derived from the rules
 * radare2's output shows (rip- and pc-relative operands, partial instructions, alignment,
 * byte order, arrows, comments, backward walks, the asm.* variables, errors). A build
 * without Capstone runs only the tests that need no disassembler, and its commands must say
 * that it has none. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"
#include "transcript.h"

/* ---- helpers ------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static char *vector_path(const char *name)
{
	static char path[4096];
	snprintf(path, sizeof(path), "%s/%s", transcript_dir(), name);
	return path;
}

/* A scratch file with the given bytes; path receives its name. */
static void scratch(char path[64], const void *data, size_t len)
{
	strcpy(path, "/tmp/rap-test-disasm-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	for (const char *p = hex; p[0] && p[1];) {
		if (*p == ' ') {
			p++;
			continue;
		}
		unsigned v;
		assert_int_equal(sscanf(p, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	return n;
}

/* A core on a scratch file of the given hex bytes, with settings "KEY=VALUE;..." set as
 * the user would. */
struct scratch_core {
	struct rap_core *c;
	char path[64];
};

static void open_hex(struct scratch_core *s, const char *hex, const char *settings)
{
	uint8_t bytes[4096];
	size_t n = unhex(hex, bytes);
	scratch(s->path, bytes, n);
	assert_int_equal(rap_core_new(&s->c), 0);
	assert_true(rap_core_open(s->c, s->path, RAP_PERM_R | RAP_PERM_X) >= 0);
	if (settings) {
		char *copy = strdup(settings);
		for (char *save = NULL, *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
			char *eq = strchr(kv, '=');
			assert_non_null(eq);
			*eq = '\0';
			if (rap_core_config_set(s->c, kv, eq + 1) != 0)
				fail_msg("cannot set %s=%s", kv, eq + 1);
		}
		free(copy);
	}
}

static void close_hex(struct scratch_core *s)
{
	rap_core_free(s->c);
	unlink(s->path);
}

/* Fails showing the first line where got and want differ (cmocka cuts long messages). */
static void compare(const char *what, const char *got, const char *want)
{
	if (!strcmp(got, want))
		return;
	const char *g = got, *w = want;
	int line = 1;
	while (*g && *g == *w) {
		if (*g == '\n') {
			line++;
			got = g + 1;
			want = w + 1;
		}
		g++;
		w++;
	}
	fail_msg("%s: line %d differs\n--- got\n%.*s\n--- want\n%.*s", what, line, (int)strcspn(got, "\n"), got,
		 (int)strcspn(want, "\n"), want);
}

static void expect(struct rap_core *c, const char *line, const char *want)
{
	char *out = NULL, *err = NULL;
	int rc = rap_core_cmd_str(c, line, &out, &err);
	if (rc != 0)
		fail_msg("'%s' failed (%d): %s", line, rc, err);
	compare(line, out, want);
	free(out);
	free(err);
}

static void expect_error(struct rap_core *c, const char *line, int want_rc, const char *needle)
{
	char *out = NULL, *err = NULL;
	int rc = rap_core_cmd_str(c, line, &out, &err);
	if (rc != want_rc || !strstr(err, needle))
		fail_msg("'%s': rc %d (want %d)\n--- err\n%s--- want '%s'", line, rc, want_rc, err, needle);
	free(out);
	free(err);
}

/* Disassembles hex (at address 0 of a scratch file) with the settings and compares. */
static void check(const char *hex, const char *settings, const char *cmd, const char *want)
{
	struct scratch_core s;
	open_hex(&s, hex, settings);
	expect(s.c, cmd, want);
	close_hex(&s);
}

#define HAVE_CAPSTONE RAP_TEST_HAVE_CAPSTONE

/* ---- disasm.txt, replayed ------------------------------------------------------------ */

/* One "$ r2 ..." command of disasm.txt and the output radare2 printed for it. */
struct r2run {
	char file[64];
	char *settings[16];
	int nsettings;
	char *cmds[8];
	int ncmds;
	const char *want; /* points into the file text */
	size_t want_len;
};

static bool is_option(const char *w)
{
	return !strcmp(w, "-c") || !strcmp(w, "-e") || !strcmp(w, "-a") || !strcmp(w, "-b") || !strcmp(w, "-q") ||
	       !strcmp(w, "-n");
}

/* Parses "r2 -q -n -e k=v -a x -b n -c CMD WORDS... FILE" (the command words are not quoted
 * in the file: they run until the next option). */
static void parse_run(char *line, struct r2run *r)
{
	memset(r, 0, sizeof(*r));
	char *words[64];
	int n = 0;
	for (char *save = NULL, *w = strtok_r(line, " ", &save); w && n < 64; w = strtok_r(NULL, " ", &save))
		words[n++] = w;
	assert_true(n >= 3 && !strcmp(words[0], "r2"));
	snprintf(r->file, sizeof(r->file), "%s", words[n - 1]);
	static char buf[16][64];
	for (int i = 1; i < n - 1; i++) {
		if (!strcmp(words[i], "-e") || !strcmp(words[i], "-a") || !strcmp(words[i], "-b")) {
			const char *key = !strcmp(words[i], "-a") ? "asm.arch=" : !strcmp(words[i], "-b") ? "asm.bits=" : "";
			snprintf(buf[r->nsettings], sizeof(buf[0]), "%s%s", key, words[i + 1]);
			r->settings[r->nsettings] = buf[r->nsettings];
			r->nsettings++;
			i++;
		} else if (!strcmp(words[i], "-c")) {
			size_t len = 0;
			char cmd[256] = "";
			for (i++; i < n - 1 && !is_option(words[i]); i++)
				len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, "%s%s", len ? " " : "", words[i]);
			i--;
			r->cmds[r->ncmds++] = strdup(cmd);
		}
	}
}

static void free_run(struct r2run *r)
{
	for (int i = 0; i < r->ncmds; i++)
		free(r->cmds[i]);
}

static char *replay(const struct r2run *r)
{
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	if (rap_core_open(c, vector_path(r->file), RAP_PERM_R | RAP_PERM_X) < 0)
		fail_msg("cannot open %s", vector_path(r->file));
	for (int i = 0; i < r->nsettings; i++) {
		char kv[64];
		snprintf(kv, sizeof(kv), "%s", r->settings[i]);
		char *eq = strchr(kv, '=');
		*eq = '\0';
		if (rap_core_config_set(c, kv, eq + 1) != 0)
			fail_msg("cannot set %s", r->settings[i]);
	}
	size_t cap = 1, len = 0;
	char *all = calloc(1, 1);
	for (int i = 0; i < r->ncmds; i++) {
		char *out = NULL, *err = NULL;
		int rc = rap_core_cmd_str(c, r->cmds[i], &out, &err);
		if (rc != 0)
			fail_msg("'%s' failed (%d): %s", r->cmds[i], rc, err);
		size_t n = strlen(out);
		cap = len + n + 1;
		all = realloc(all, cap);
		memcpy(all + len, out, n + 1);
		len += n;
		free(out);
		free(err);
	}
	rap_core_free(c);
	return all;
}

/* Every "$ r2" block of disasm.txt; the output is the lines up to the next blank line. */
static void test_vectors(void **state)
{
	size_t flen;
	char *text = slurp(vector_path("disasm.txt"), &flen);
	int blocks = 0;
	size_t lines = 0, output_lines = 0;
	for (char *p = text; p && *p;) {
		char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);
		if (strncmp(p, "$ r2 ", 5) != 0) {
			p = nl ? nl + 1 : NULL;
			continue;
		}
		char cmdline[1024];
		snprintf(cmdline, sizeof(cmdline), "%.*s", (int)(ll - 2), p + 2);
		struct r2run r;
		parse_run(cmdline, &r);
		char *want = nl + 1, *end = want;
		while (*end && *end != '\n') {
			end = strchr(end, '\n');
			end = end ? end + 1 : want + strlen(want);
			output_lines++;
		}
		char *expected = strndup(want, (size_t)(end - want));
		char *got = replay(&r);
		compare(cmdline, got, expected);
		for (const char *q = got; (q = strchr(q, '\n')); q++)
			lines++;
		free(got);
		free(expected);
		free_run(&r);
		blocks++;
		p = end;
	}
	free(text);
	/* All 17 commands and every line of their output were compared. */
	assert_int_equal(blocks, 17);
	assert_int_equal(lines, output_lines);
	assert_int_equal(lines, 348);
}

/* ---- rules derived from radare2's output ------------------------------------------ */

#define X64 "asm.arch=x86;asm.bits=64"
#define X32 "asm.arch=x86;asm.bits=32"
#define X16 "asm.arch=x86;asm.bits=16"
#define A16 "asm.arch=arm;asm.bits=16"
#define A32 "asm.arch=arm;asm.bits=32"
#define A64 "asm.arch=arm;asm.bits=64"
#define M32 "asm.arch=mips;asm.bits=32"
#define PLAIN ";asm.lines=false;asm.comments=false"

static void test_x86_rules(void **state)
{
	/* rip-relative: the next instruction's address plus or minus the displacement. */
	check("488b0510000000 488b05f0ffffff", X64, "pi 2",
	      "mov rax, qword [0x00000017]\nmov rax, qword [0xfffffffffffffffe]\n");
	check("ff2510000000", X64, "pi 1", "jmp qword [0x00000016]\n");
	/* every "ptr " goes */
	check("a4", X64, "pi 1", "movsb byte [rdi], byte [rsi]\n");
	/* Capstone's unsigned immediates, in every mode */
	check("6a9d", X16, "pi 1", "push 0xffffffffffffff9d\n");
	/* 0f 1a and 0f 1b: radare2's two-byte nop2 */
	check("0f1a0f1b", X64, "pi 2", "nop2\nnop2\n");
	/* undecodable: "invalid", one byte each (past the end of the file: 0xff bytes) */
	check("f0", X32 PLAIN, "pd 2", "0x00000000      f0             invalid\n0x00000001      ff             invalid\n");
	/* far calls show SEG:OFF */
	check("9a78563412", X16 PLAIN, "pd 1", "0000:0000     9a78563412     lcall 0x1234:0x5678\n");
}

static void test_x86_columns(void **state)
{
	/* six bytes in full, more: the first five and ".." */
	check("298f2de52ead 4e33a727585b4c", X64 PLAIN, "pd 2",
	      "0x00000000      298f2de52ead   sub dword [rdi - 0x52d11ad3], ecx\n"
	      "0x00000006      4e33a72758..   xor r12, qword [rdi + 0x4c5b5827]\n");
	/* addresses past 32 bits widen the column; the five blanks stay */
	check("90", X64 PLAIN, "pd 1 @ 0x100000000", "0x100000000      ff             invalid\n");
	/* x86 in 16 bits: SEG:OFF with 4-bit segment granularity */
	check("90", X16 PLAIN, "pd 1 @ 0x12345", "1000:2345     ff             invalid\n");
	/* asm.lines: two blanks and ten cells of arrows before the address */
	check("90", X64 ";asm.comments=false", "pd 1", "            0x00000000      90             nop\n");
}

static void test_arm_rules(void **state)
{
	/* '#' goes; [pc, N]: (address + 8) & ~3, plus or minus N */
	check("10009fe510001fe50100a0e3", A32, "pi 3 @ 0", "ldr r0, [0x00000018]\nldr r0, [0xfffffffffffffffc]\nmov r0, 1\n");
	/* Thumb: + 4 for 2-byte instructions and ".w" ones, + 8 for the other 4-byte ones */
	check("00bf0448dff81000", A16, "pi 3", "nop\nldr r0, [0x00000014]\nldr.w r0, [0x00000018]\n");
	/* udf and hint are invalid, four bytes each even in Thumb */
	check("00de00bf0000", A16 PLAIN, "pd 2", "0x00000000      00de00bf       invalid\n0x00000004      0000           movs r0, r0\n");
	check("f000f0e7", A32, "pi 1", "invalid\n");
	/* byte order */
	check("e3a00001", A32 ";cfg.bigendian=true", "pi 1", "mov r0, 1\n");
	/* AArch64 words are little-endian whatever cfg.bigendian says */
	check("1f2003d5", A64 ";cfg.bigendian=true", "pi 1", "nop\n");
	/* memory tagging (ARMv8.5), which Capstone 4 cannot decode, as radare2 names it */
	check("2010df9a 2010c29a 5f2403d5 20088191 201820d9 40840069 ff0360d9 00000000 1f00dfba", A64, "pi 9",
	      "irg x0, x1\nirg x0, x1, x2\nbti c\naddg x0, x1, 0x10, 2\nstg x0, [x1, 0x10]\n"
	      "stgp x0, x1, [x2, 0x10]\nldg sp, [sp, 0x0]\ninvalid\ncmpp x0, sp\n");
}

static void test_mips_rules(void **state)
{
	/* '$' goes; either byte order */
	check("0800e003 01000224", M32, "pi 2", "jr ra\naddiu v0, zero, 1\n");
	check("03e00008 24020001", M32 ";cfg.bigendian=true", "pi 2", "jr ra\naddiu v0, zero, 1\n");
	check("ffffffff", M32, "pi 1", "invalid\n");
	check("00000000", "asm.arch=mips;asm.bits=64", "pi 1", "nop\n");
}

/* The last instruction of pD is decoded from the bytes left in the range. */
static void test_partial(void **state)
{
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	assert_true(rap_core_open(c, vector_path("hello"), RAP_PERM_R) >= 0);
	/* x86: two bytes of 8975f8 left: two one-byte invalid instructions */
	expect(c, "e asm.lines=false; pD 8 @ 0x1127",
	       "0x00001127      4889e5         mov rbp, rsp\n0x0000112a      897dfc         mov dword [rbp - 4], edi\n"
	       "0x0000112d      89             invalid\n0x0000112e      75             invalid\n");
	rap_core_free(c);
	/* ARM and MIPS: the undecodable word shows all four of its bytes, read from the file */
	check("0100a0e3 fdffffea", A32 PLAIN, "pD 6",
	      "0x00000000      0100a0e3       mov r0, 1\n0x00000004      fdffffea       invalid\n");
	check("00bf 0000", A16 PLAIN, "pD 3", "0x00000000      00bf           nop\n0x00000002      0000ffff       invalid\n");
	check("00000000 0800e003", M32 PLAIN, "pD 6",
	      "0x00000000      00000000       nop\n0x00000004      0800e003       invalid\n");
	/* a range ending mid-file takes only its own bytes */
	check("9090909090", X64 PLAIN, "pD 2 @ 3", "0x00000003      90             nop\n0x00000004      90             nop\n");
	/* pD -N: the N bytes before the position */
	check("9090c3", X64 PLAIN, "pD -2 @ 3", "0x00000001      90             nop\n0x00000002      c3             ret\n");
}

static void test_unaligned(void **state)
{
	/* the bytes up to the next multiple of the alignment are "unaligned", in pd and pi */
	check("0100a0e3 0000a0e1", A32 PLAIN, "pd 2 @ 1",
	      "0x00000001      00a0e3         unaligned\n0x00000004      0000a0e1       mov r0, r0\n");
	check("0100a0e3 0000a0e1", A32, "pi 2 @ 2", "unaligned\nmov r0, r0\n");
	check("00bf00bf", A16, "pi 2 @ 1", "unaligned\nnop\n");
	check("0000000000000000", M32, "pi 2 @ 3", "unaligned\nnop\n");
	/* x86 has no alignment */
	check("909090", X64, "pi 1 @ 1", "nop\n");
}

static void test_backward(void **state)
{
	/* fixed-size instructions: N words back; an unaligned position first aligns */
	check("0000a0e1 0100a0e3 0200a0e3", A32, "pi -2 @ 8", "mov r0, r0\nmov r0, 1\n");
	check("0000a0e1 0100a0e3 0200a0e3", A32, "pi -1 @ 9", "mov r0, 2\n");
	/* nothing before the start: the listing starts at 0 */
	check("0000a0e1 0100a0e3", A32, "pi -2 @ 4", "mov r0, r0\nmov r0, 1\n");
	/* x86: the instruction that covers the position, decoding in a row */
	check("9090 4889e5 c3", X64, "pi -2 @ 5", "nop\nmov rbp, rsp\n");
	check("9090 4889e5 c3", X64, "pi -1 @ 4", "mov rbp, rsp\n");
	/* the listing is N instructions from the start, whatever the position was */
	check("9090 4889e5 c3", X64, "pi -1 @ 3", "mov rbp, rsp\n");
	/* Thumb walks like x86 */
	check("00bfdff8100000bf", A16, "pi -2 @ 6", "nop\nldr.w r0, [0x00000014]\n");
}

static void test_arrows(void **state)
{
	/* a jump down and its target; calls and jumps to 0 get none */
	check("eb019090 e8000000 00 ebf5", X32 ";asm.comments=false", "pd 5",
	      "        \xe2\x94\x8c\xe2\x94\x80< 0x00000000      eb01           jmp 3\n"
	      "        \xe2\x94\x82   0x00000002      90             nop\n"
	      "        \xe2\x94\x94\xe2\x94\x80> 0x00000003      90             nop\n"
	      "            0x00000004      e800000000     call 9\n"
	      "            0x00000009      ebf5           jmp 0\n");
	/* jumps up from below, overlapping ones in more columns, one target for two jumps */
	check("e8000000007405eb0390ebfa0000", X32 ";asm.comments=false", "pd 6",
	      "            0x00000000      e800000000     call 5\n"
	      "        \xe2\x94\x8c\xe2\x94\x80< 0x00000005      7405           je 0xc\n"
	      "      \xe2\x94\x8c\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80< 0x00000007      eb03           jmp 0xc\n"
	      "      \xe2\x94\x82\xe2\x95\x8e\xe2\x94\x82   0x00000009      90             nop\n"
	      "      \xe2\x94\x82\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80< 0x0000000a      ebfa           jmp 6\n"
	      "      \xe2\x94\x94\xe2\x94\x80\xe2\x94\x94\xe2\x94\x80> 0x0000000c      0000           add byte [eax], al\n");
	/* asm.lines=false: neither arrows nor the two blanks; pi never has them */
	check("eb0190", X32 PLAIN, "pd 1", "0x00000000      eb01           jmp 3\n");
	/* the scan covers the first block only: with a 2-byte block the jump at 2 is unseen */
	check("9090eb0190", X32 ";asm.comments=false", "b 2; pd 3",
	      "            0x00000000      90             nop\n"
	      "            0x00000001      90             nop\n"
	      "            0x00000002      eb01           jmp 5\n");
}

static void test_comments(void **state)
{
	/* [ADDR:SIZE]=VALUE with the line padded to column 70: all ones is -1 */
	check("8b0425001000006448 8b042528000000", X64 ";asm.lines=false", "pd 2",
	      "0x00000000      8b04250010..   mov eax, dword [0x1000]                 ; [0x1000:4]=-1\n"
	      "0x00000007      64488b0425..   mov rax, qword fs:[0x28]\n");
	/* values read from the file: small ones decimal, others hex */
	uint8_t file[0x1010];
	memset(file, 0, sizeof(file));
	memcpy(file, "\x8b\x04\x25\x00\x10\x00\x00\x8b\x04\x25\x04\x10\x00\x00\xa0\x08\x10\x00\x00\x00\x00\x00\x00", 23);
	memcpy(file + 0x1000, "\x05\x00\x00\x00\x78\x56\x34\x12\x80", 9);
	char path[64];
	scratch(path, file, sizeof(file));
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	assert_true(rap_core_open(c, path, RAP_PERM_R) >= 0);
	expect(c, "e asm.lines=false; pd 3",
	       "0x00000000      8b04250010..   mov eax, dword [0x1000]                 ; [0x1000:4]=5\n"
	       "0x00000007      8b04250410..   mov eax, dword [0x1004]                 ; [0x1004:4]=0x12345678\n"
	       "0x0000000e      a008100000..   movabs al, byte [0x1008]                ; [0x1008:1]=128\n");
	/* asm.comments=false: none */
	expect(c, "e asm.comments=false; pd 1 ~[", "0x00000000      8b04250010..   mov eax, dword [0x1000]\n");
	/* pi never has comments */
	expect(c, "e asm.comments=true; pi 1", "mov eax, dword [0x1000]\n");
	rap_core_free(c);
	unlink(path);
	/* frame-relative, small base-relative and negative addresses: none */
	check("8b45f8 8b4010 8b8010000100", X64 ";asm.lines=false", "pd 3",
	      "0x00000000      8b45f8         mov eax, dword [rbp - 8]\n"
	      "0x00000003      8b4010         mov eax, dword [rax + 0x10]\n"
	      "0x00000006      8b8010000100   mov eax, dword [rax + 0x10010]          ; [0x10010:4]=-1\n");
}

static void test_config(void **state)
{
	struct scratch_core s;
	open_hex(&s, "90", NULL);
	/* radare2's defaults; a raw file leaves them */
	expect(s.c, "e asm.arch; e asm.bits; e asm.lines; e asm.comments; e cfg.bigendian", "x86\n64\ntrue\ntrue\nfalse\n");
	/* bits must be a mode of the architecture; an architecture the bits do not fit brings
	 * its own default */
	expect(s.c, "e asm.arch=arm; e asm.bits", "64\n");
	expect(s.c, "e asm.bits=16; e asm.arch=mips; e asm.bits", "32\n");
	expect_error(s.c, "e asm.bits=16", RAP_EINVAL, "invalid value '16' for 'asm.bits'");
	expect_error(s.c, "e asm.bits=8", RAP_EINVAL, "invalid value");
	expect_error(s.c, "e asm.arch=z80", RAP_EINVAL, "invalid value 'z80' for 'asm.arch'");
	expect_error(s.c, "e asm.lines=maybe", RAP_EINVAL, "invalid value");
	expect(s.c, "e asm.arch=x86; e asm.bits=16; e asm.bits", "16\n");
	/* pd? documents the commands and the variables */
	char *out = NULL;
	assert_int_equal(rap_core_cmd_str(s.c, "pd?", &out, NULL), 0);
	assert_non_null(strstr(out, "| pD [len]"));
	assert_non_null(strstr(out, "asm.bits"));
	free(out);
	close_hex(&s);
}

/* The header of an opened executable sets asm.arch, asm.bits, cfg.bigendian, unless the
 * user set them. */
static void test_follow_header(void **state)
{
	/* a tiny big-endian MIPS ELF32 and an ARM one with a Thumb entry */
	uint8_t elf[52] = { 0x7f, 'E', 'L', 'F', 1, 2, 1 };
	elf[17] = 2;  /* e_type EXEC (big-endian) */
	elf[19] = 8;  /* EM_MIPS */
	char path[64];
	scratch(path, elf, sizeof(elf));
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	assert_true(rap_core_open(c, path, RAP_PERM_R) >= 0);
	expect(c, "e asm.arch; e asm.bits; e cfg.bigendian", "mips\n32\ntrue\n");
	char want[1024];
	snprintf(want, sizeof(want),
		 "fd       %d\nfile     %s\nsize     0x34\nhumansz  52\nmode     r--\nformat   elf\niorw     false\n"
		 "block    0x100\ntype     EXEC (Executable file)\narch     mips\nbintype  elf\nbits     32\n"
		 "class    ELF32\nendian   big\nentry    vaddr=0x00000000\nmachine  MIPS R3000\n",
		 rap_core_current_fd(c), path);
	expect(c, "i", want);
	rap_core_free(c);
	/* what the user set stays: asm.arch here, and the header's bits fit it */
	assert_int_equal(rap_core_new(&c), 0);
	assert_int_equal(rap_core_config_set(c, "asm.arch", "arm"), 0);
	assert_true(rap_core_open(c, path, RAP_PERM_R) >= 0);
	expect(c, "e asm.arch; e asm.bits; e cfg.bigendian", "arm\n32\ntrue\n");
	rap_core_free(c);
	unlink(path);
	uint8_t arm[52] = { 0x7f, 'E', 'L', 'F', 1, 1, 1 };
	arm[16] = 2;
	arm[18] = 40;   /* EM_ARM */
	arm[24] = 0x41; /* odd entry: Thumb */
	scratch(path, arm, sizeof(arm));
	assert_int_equal(rap_core_new(&c), 0);
	assert_int_equal(rap_core_config_set(c, "cfg.bigendian", "true"), 0);
	assert_true(rap_core_open(c, path, RAP_PERM_R) >= 0);
	expect(c, "e asm.arch; e asm.bits; e cfg.bigendian", "arm\n16\ntrue\n");
	rap_core_free(c);
	unlink(path);
	/* hello, the x86-64 executable of the vectors */
	assert_int_equal(rap_core_new(&c), 0);
	assert_int_equal(rap_core_config_set(c, "asm.bits", "32"), 0);
	assert_true(rap_core_open(c, vector_path("hello"), RAP_PERM_R | RAP_PERM_X) >= 0);
	expect(c, "e asm.arch; e asm.bits", "x86\n32\n");
	expect(c, "i~format", "format   elf64\n");
	expect(c, "i~type", "type     EXEC (Executable file)\nbintype  elf\n");
	expect(c, "i~entry", "entry    vaddr=0x00401040 paddr=0x00001040\n");
	expect(c, "i~machine", "machine  AMD x86-64 architecture\n");
	rap_core_free(c);
}

static void test_listing_options(void **state)
{
	/* no count: the block size; ~ filters and > redirection apply */
	check("90909090909090", X64, "b 3; pi", "nop\nnop\nnop\n");
	check("9090c3", X64, "pi 3~ret", "ret\n");
	check("9090c3", X64, "pi 3~!nop", "ret\n");
	check("9090c3", X64 PLAIN, "pd 3 @ 2", "0x00000002      c3             ret\n0x00000003      ff             invalid\n"
					       "0x00000004      ff             invalid\n");
	char out[] = "/tmp/rap-test-disasm-out-XXXXXX";
	int fd = mkstemp(out);
	assert_true(fd >= 0);
	close(fd);
	struct scratch_core s;
	open_hex(&s, "c3", X64);
	char line[128];
	snprintf(line, sizeof(line), "pi 1 > %s", out);
	expect(s.c, line, "");
	size_t n;
	char *text = slurp(out, &n);
	assert_string_equal(text, "ret\n");
	free(text);
	unlink(out);
	/* a capture's cap stops a long listing */
	rap_core_set_output_max(s.c, 200);
	expect_error(s.c, "pd 1000", RAP_ETOOBIG, "output exceeds 200 bytes");
	close_hex(&s);
}

/* ":pd 1" of cmd.txt: radare2's server answered with the default pd layout. */
static void test_cmd_transcript(void **state)
{
	struct transcript t;
	assert_int_equal(transcript_load("cmd.txt", &t), 0);
	const struct transcript_conn *conn = transcript_conn(&t, 1);
	assert_non_null(conn);
	/* The fourth CMD reply (two empty ones, ?V twice... ) belongs to "pd 1": find the
	 * replies in order and pick the one after the request "pd 1". */
	const uint8_t *cl = conn->client, *sv = conn->server;
	size_t ci = 0, si = 0, cmds = 0, target = 0;
	while (ci + 5 <= conn->client_len) {
		uint8_t op = cl[ci];
		size_t len = op == 0x01 ? 3u + cl[ci + 2] : op == 0x04 ? 10u : op == 0x02 || op == 0x05 ? 5u : 5u + rap__get_be32(cl + ci + 1);
		if (op == 0x07 && ci + len <= conn->client_len) {
			cmds++;
			if (len == 10 && !memcmp(cl + ci + 5, "pd 1", 5))
				target = cmds;
		}
		ci += len;
	}
	assert_true(target > 0);
	char *want = NULL;
	for (size_t n = 0; si + 5 <= conn->server_len;) {
		uint8_t op = sv[si];
		size_t len = op == 0x84 ? 9u : op == 0x81 || op == 0x83 || op == 0x85 ? 5u : 5u + rap__get_be32(sv + si + 1);
		if (op == 0x87 && ++n == target)
			want = strndup((const char *)sv + si + 5, rap__get_be32(sv + si + 1) - 1);
		si += len;
	}
	transcript_free(&t);
	assert_non_null(want);
	/* sample.bin: 16-byte records "@%08x|rap2!\n" */
	uint8_t sample[4096];
	for (size_t o = 0; o < sizeof(sample); o += 16) {
		char rec[17];
		snprintf(rec, sizeof(rec), "@%08zx|rap2!\n", o);
		memcpy(sample + o, rec, 16);
	}
	char path[64];
	scratch(path, sample, sizeof(sample));
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	assert_true(rap_core_open(c, path, RAP_PERM_R | RAP_PERM_X) >= 0);
	expect(c, "pd 1", want);
	rap_core_free(c);
	unlink(path);
	free(want);
}

static void test_errors(void **state)
{
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	expect_error(c, "pd 1", RAP_EBADFD, "no file is open");
	rap_core_free(c);
	struct scratch_core s;
	open_hex(&s, "90", "asm.arch=x86");
	if (!HAVE_CAPSTONE) {
		expect_error(s.c, "pd 1", RAP_ENOTSUP, "disassembly is not in this build");
		expect_error(s.c, "pi 1", RAP_ENOTSUP, "disassembly is not in this build");
		expect_error(s.c, "pD 4", RAP_ENOTSUP, "disassembly is not in this build");
	}
	expect_error(s.c, "pd x", RAP_EINVAL, "invalid count 'x'");
	expect_error(s.c, "pD 12abc", RAP_EINVAL, "invalid length '12abc'");
	expect_error(s.c, "pi 0x2000000", RAP_ETOOBIG, "larger than the maximum");
	expect_error(s.c, "pd -0x10000", RAP_ETOOBIG, "larger than the maximum 0xffff");
	expect(s.c, "pd 0; pi 0; pD 0", "");
	/* a read-class command: a core that serves clients under "read" runs it */
	rap_core_set_policy(s.c, RAP_CORE_POLICY_READ);
	if (HAVE_CAPSTONE)
		expect(s.c, "pi 1", "nop\n");
	close_hex(&s);
}

/* An IO plugin of 16 MiB of zeroes ("add byte [rax], al" on x86) that interrupts the core
 * once a read reaches trip.at, and remembers how far reads went. */
static struct {
	struct rap_core *core;
	uint64_t at, furthest;
} trip;

static bool trip_accepts(const char *uri)
{
	return strncmp(uri, "trip://", 7) == 0;
}

static int trip_open(struct rap_io_desc *d, const char *uri, int perm)
{
	return 0;
}

static int trip_close(struct rap_io_desc *d)
{
	return 0;
}

static ssize_t trip_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	if (off >= trip.at)
		rap_core_interrupt(trip.core);
	if (off > trip.furthest)
		trip.furthest = off;
	memset(buf, 0, len);
	return (ssize_t)len;
}

static int trip_size(struct rap_io_desc *d, uint64_t *size)
{
	*size = 16u << 20;
	return 0;
}

static const struct rap_io_plugin trip_plugin = {
	.abi = RAP_IO_PLUGIN_ABI,
	.name = "trip",
	.desc = "Test plugin: zeroes that interrupt the core past an offset",
	.uris = "trip://",
	.accepts = trip_accepts,
	.open = trip_open,
	.close = trip_close,
	.read = trip_read,
	.size = trip_size,
};

/* pD scans its whole range for jumps before its first line: an interruption stops the scan
 * (it used to run all 16 MiB through the disassembler first). */
static void test_interrupt(void **state)
{
	struct rap_core *c;
	assert_int_equal(rap_core_new(&c), 0);
	assert_int_equal(rap_io_register(rap_core_io(c), &trip_plugin), 0);
	assert_true(rap_core_open(c, "trip://", RAP_PERM_R) >= 0);
	trip.core = c;
	trip.at = 1u << 20;
	trip.furthest = 0;
	expect(c, "e asm.arch=x86; e asm.bits=64", "");
	expect_error(c, "pD 0x1000000", -EINTR, "error: interrupted after scanning 0x");
	assert_true(trip.furthest < (2u << 20));
	/* and the listing itself, once the scan is done (no arrows: no scan) */
	trip.furthest = 0;
	expect_error(c, "e asm.lines=false; pD 0x1000000", -EINTR, "error: interrupted after ");
	assert_true(trip.furthest < (2u << 20));
	rap_core_free(c);
}

int main(void)
{
	/* The disassembly of every architecture needs Capstone; a build without it runs the
	 * rest (cmocka's skip() would be a TAP failure). */
	const struct CMUnitTest with_capstone[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_x86_rules),
		cmocka_unit_test(test_x86_columns),
		cmocka_unit_test(test_arm_rules),
		cmocka_unit_test(test_mips_rules),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_unaligned),
		cmocka_unit_test(test_backward),
		cmocka_unit_test(test_arrows),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_listing_options),
		cmocka_unit_test(test_cmd_transcript),
		cmocka_unit_test(test_interrupt),
	};
	const struct CMUnitTest always[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_follow_header),
		cmocka_unit_test(test_errors),
	};
	struct CMUnitTest tests[sizeof(with_capstone) / sizeof(with_capstone[0]) + sizeof(always) / sizeof(always[0])];
	size_t n = 0;
	for (size_t i = 0; HAVE_CAPSTONE && i < sizeof(with_capstone) / sizeof(with_capstone[0]); i++)
		tests[n++] = with_capstone[i];
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		tests[n++] = always[i];
	return _cmocka_run_group_tests("disasm", tests, n, NULL, NULL);
}
