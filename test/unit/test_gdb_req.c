/* The GDB RSP request parser: every packet the server answers, with its fields, and the
 * malformed ones (truncated and odd hex, overflowing numbers, wrapping ranges, lengths over
 * the packet size, garbage after a field). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rap/gdb_rsp.h>
#include <rap/rap.h>

#define MAXMEM 4096u

/* Parses a copy of s (the parser writes into its packet); the copy stays alive in buf
 * until the next call, for data and annex. */
static uint8_t buf[8192];

static struct rap_gdb_req parse_n(const char *s, size_t len)
{
	assert_true(len < sizeof(buf));
	memcpy(buf, s, len);
	buf[len] = '\0';
	struct rap_gdb_req r;
	assert_int_equal(rap_gdb_req_parse(buf, len, MAXMEM, &r), 0);
	if (r.kind == RAP_GDB_REQ_MALFORMED)
		assert_non_null(r.why);
	return r;
}

static struct rap_gdb_req parse(const char *s)
{
	return parse_n(s, strlen(s));
}

static void expect_kind(const char *s, enum rap_gdb_req_kind kind)
{
	struct rap_gdb_req r = parse(s);
	if (r.kind != kind) {
		print_error("'%s': kind %d, expected %d\n", s, (int)r.kind, (int)kind);
		fail();
	}
}

static void test_simple(void **state)
{
	(void)state;
	expect_kind("?", RAP_GDB_REQ_HALT_REASON);
	expect_kind("g", RAP_GDB_REQ_READ_REGS);
	expect_kind("k", RAP_GDB_REQ_KILL);
	expect_kind("vKill;1a2", RAP_GDB_REQ_KILL);
	expect_kind("D", RAP_GDB_REQ_DETACH);
	expect_kind("D;1234", RAP_GDB_REQ_DETACH);
	expect_kind("QStartNoAckMode", RAP_GDB_REQ_NOACK);
	expect_kind("vCont?", RAP_GDB_REQ_VCONT_QUERY);
	expect_kind("vMustReplyEmpty", RAP_GDB_REQ_MUST_REPLY_EMPTY);
	expect_kind("qAttached", RAP_GDB_REQ_ATTACHED);
	expect_kind("qAttached:3039", RAP_GDB_REQ_ATTACHED);
	expect_kind("qC", RAP_GDB_REQ_CURRENT_THREAD);
	expect_kind("qfThreadInfo", RAP_GDB_REQ_THREAD_FIRST);
	expect_kind("qsThreadInfo", RAP_GDB_REQ_THREAD_NEXT);
	expect_kind("Hg0", RAP_GDB_REQ_SET_THREAD);
	expect_kind("Hc-1", RAP_GDB_REQ_SET_THREAD);
	expect_kind("Hgp1.-1", RAP_GDB_REQ_SET_THREAD);
	expect_kind("T3039", RAP_GDB_REQ_THREAD_ALIVE);
	expect_kind("!", RAP_GDB_REQ_EXTENDED);
}

static void test_run(void **state)
{
	(void)state;
	struct rap_gdb_req r = parse("vRun;");
	assert_int_equal(r.kind, RAP_GDB_REQ_RUN);
	assert_int_equal(r.nargs, 1);
	assert_int_equal(r.len, 0);
	r = parse("vRun;68656c6c6f;6131;");
	assert_int_equal(r.kind, RAP_GDB_REQ_RUN);
	assert_int_equal(r.nargs, 3);
	assert_int_equal(r.len, 16);
	assert_memory_equal(r.data, "68656c6c6f;6131;", 16);
	char many[8 + 3 * 70];
	strcpy(many, "vRun;");
	for (int i = 0; i < 63; i++)
		strcat(many, "61;");
	strcat(many, "61");
	assert_int_equal(parse(many).kind, RAP_GDB_REQ_RUN);
	strcat(many, ";61");
	assert_int_equal(parse(many).kind, RAP_GDB_REQ_MALFORMED);
	const char *bad[] = { "vRun;6", "vRun;6g", "vRun;61;6", "vRun;61 ", "vRun;61;;zz" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_kind(bad[i], RAP_GDB_REQ_MALFORMED);
	expect_kind("vRun", RAP_GDB_REQ_UNKNOWN);
}

static void test_unknown(void **state)
{
	(void)state;
	const char *unknown[] = { "", "!!", "qTStatus", "qOffsets", "qSymbol::", "vAttach;1", "vFile:open:",
				  "qXfer:auxv:read::0,100", "QNonStop:1", "gg", "??", "kk", "vCtrlC", "qSupportedX",
				  "vContX", "qL1200000000000000000", "bc", "i", "A", "R00", "qCx" };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(*unknown); i++)
		expect_kind(unknown[i], RAP_GDB_REQ_UNKNOWN);
}

static void test_supported(void **state)
{
	(void)state;
	struct rap_gdb_req r = parse("qSupported");
	assert_int_equal(r.kind, RAP_GDB_REQ_SUPPORTED);
	assert_false(r.multiprocess);
	r = parse("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;xmlRegisters=i386");
	assert_int_equal(r.kind, RAP_GDB_REQ_SUPPORTED);
	assert_true(r.multiprocess);
	r = parse("qSupported:swbreak+;multiprocess-");
	assert_false(r.multiprocess);
	r = parse("qSupported:xmultiprocess+");
	assert_false(r.multiprocess);
}

static void test_registers(void **state)
{
	(void)state;
	struct rap_gdb_req r = parse("p10");
	assert_int_equal(r.kind, RAP_GDB_REQ_READ_REG);
	assert_int_equal(r.regno, 16);
	r = parse("pFFFF");
	assert_int_equal(r.regno, 0xffff);
	r = parse("P10=0011223344556677");
	assert_int_equal(r.kind, RAP_GDB_REQ_WRITE_REG);
	assert_int_equal(r.regno, 16);
	assert_int_equal(r.len, 8);
	assert_memory_equal(r.data, "\x00\x11\x22\x33\x44\x55\x66\x77", 8);
	r = parse("G00ff10");
	assert_int_equal(r.kind, RAP_GDB_REQ_WRITE_REGS);
	assert_int_equal(r.len, 3);
	assert_memory_equal(r.data, "\x00\xff\x10", 3);
	const char *bad[] = { "p", "p10000", "p1g", "p-1", "P", "P10", "P10=", "P10=0", "P10=0g", "P=00", "G", "G0",
			      "G0x", "G 00" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_kind(bad[i], RAP_GDB_REQ_MALFORMED);
}

static void test_memory(void **state)
{
	(void)state;
	struct rap_gdb_req r = parse("m401126,4");
	assert_int_equal(r.kind, RAP_GDB_REQ_READ_MEM);
	assert_int_equal(r.addr, 0x401126);
	assert_int_equal(r.len, 4);
	r = parse("mffffffffffffffff,1");
	assert_int_equal(r.kind, RAP_GDB_REQ_READ_MEM);
	assert_int_equal(r.addr, UINT64_MAX);
	r = parse("m0000000000000000000000000010,0");
	assert_int_equal(r.kind, RAP_GDB_REQ_READ_MEM); /* leading zeros are fine */
	assert_int_equal(r.addr, 0x10);
	r = parse("m10,1000");
	assert_int_equal(r.kind, RAP_GDB_REQ_READ_MEM);
	r = parse("M404028,4:07000000");
	assert_int_equal(r.kind, RAP_GDB_REQ_WRITE_MEM);
	assert_int_equal(r.addr, 0x404028);
	assert_int_equal(r.len, 4);
	assert_memory_equal(r.data, "\x07\0\0\0", 4);
	r = parse("M10,0:");
	assert_int_equal(r.kind, RAP_GDB_REQ_WRITE_MEM);
	assert_int_equal(r.len, 0);
	r = parse_n("X10,3:a\0#", 9);
	assert_int_equal(r.kind, RAP_GDB_REQ_WRITE_MEM);
	assert_int_equal(r.len, 3);
	assert_memory_equal(r.data, "a\0#", 3);
	r = parse("X10,0:");
	assert_int_equal(r.kind, RAP_GDB_REQ_WRITE_MEM);
	const char *bad[] = {
		"m", "m10", "m10,", "m,4", "m10,4x", "m10;4", "m1g,4",
		"m10000000000000000,1",        /* address over 64 bits */
		"m10,10000000000000000",       /* length over 64 bits */
		"m10,1001",                    /* over the packet size */
		"mffffffffffffffff,2",         /* wraps */
		"M10,4:0000", "M10,2:000", "M10,2:00zz", "M10,2", "M10,2;0000", "M10,1:", "M10,1001:00",
		"X10,2:a", "X10,1:ab", "X10,1", "Xffffffffffffffff,2:ab",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_kind(bad[i], RAP_GDB_REQ_MALFORMED);
}

static void test_resume(void **state)
{
	(void)state;
	struct rap_gdb_req r = parse("c");
	assert_int_equal(r.kind, RAP_GDB_REQ_CONTINUE);
	assert_false(r.has_addr);
	assert_int_equal(r.signo, 0);
	r = parse("c401000");
	assert_true(r.has_addr);
	assert_int_equal(r.addr, 0x401000);
	r = parse("s");
	assert_int_equal(r.kind, RAP_GDB_REQ_STEP);
	r = parse("C0b");
	assert_int_equal(r.kind, RAP_GDB_REQ_CONTINUE);
	assert_int_equal(r.signo, 11);
	r = parse("S02;401000");
	assert_int_equal(r.kind, RAP_GDB_REQ_STEP);
	assert_int_equal(r.signo, 2);
	assert_true(r.has_addr);
	const char *bad[] = { "cx", "c1,2", "C", "C100", "C02;", "C02x", "S;10", "s10 " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_kind(bad[i], RAP_GDB_REQ_MALFORMED);
}

static void test_vcont(void **state)
{
	(void)state;
	struct rap_gdb_req r = parse("vCont;c");
	assert_int_equal(r.kind, RAP_GDB_REQ_CONTINUE);
	r = parse("vCont;s:1;c");
	assert_int_equal(r.kind, RAP_GDB_REQ_STEP);
	r = parse("vCont;C0b:p1a.1a;c");
	assert_int_equal(r.kind, RAP_GDB_REQ_CONTINUE);
	assert_int_equal(r.signo, 11);
	r = parse("vCont;S02:-1");
	assert_int_equal(r.kind, RAP_GDB_REQ_STEP);
	assert_int_equal(r.signo, 2);
	r = parse("vCont;c:p1.-1");
	assert_int_equal(r.kind, RAP_GDB_REQ_CONTINUE);
	const char *bad[] = { "vCont;", "vCont;x", "vCont;t", "vCont;r10,20", "vCont;c;", "vCont;cc", "vCont;c:",
			      "vCont;c:zz", "vCont;C", "vCont;C100", "vCont;s:1;q", "vCont;c:-2", "vCont;c:p" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_kind(bad[i], RAP_GDB_REQ_MALFORMED);
}

static void test_breakpoints(void **state)
{
	(void)state;
	struct rap_gdb_req r = parse("Z0,401126,1");
	assert_int_equal(r.kind, RAP_GDB_REQ_INSERT_BP);
	assert_int_equal(r.bptype, 0);
	assert_int_equal(r.addr, 0x401126);
	assert_int_equal(r.len, 1);
	r = parse("z0,401126,1");
	assert_int_equal(r.kind, RAP_GDB_REQ_REMOVE_BP);
	r = parse("Z1,10,1;X2,0a0b");
	assert_int_equal(r.kind, RAP_GDB_REQ_INSERT_BP);
	assert_int_equal(r.bptype, 1);
	const char *bad[] = { "Z", "Z0", "Z0,", "Z0,10", "Z0,10,", "Z5,10,1", "Z0,10,1x", "Z0,,1", "Z0,10,10000",
			      "z0,10000000000000000,1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_kind(bad[i], RAP_GDB_REQ_MALFORMED);
}

static void test_xfer(void **state)
{
	(void)state;
	struct rap_gdb_req r = parse("qXfer:features:read:target.xml:0,ffb");
	assert_int_equal(r.kind, RAP_GDB_REQ_XFER_FEATURES);
	assert_string_equal(r.annex, "target.xml");
	assert_int_equal(r.addr, 0);
	assert_int_equal(r.len, 0xffb);
	r = parse("qXfer:features:read:64bit-core.xml:7fe,7fe");
	assert_string_equal(r.annex, "64bit-core.xml");
	assert_int_equal(r.addr, 0x7fe);
	const char *bad[] = { "qXfer:features:read:", "qXfer:features:read::0,10", "qXfer:features:read:t.xml",
			      "qXfer:features:read:t.xml:", "qXfer:features:read:t.xml:0", "qXfer:features:read:t.xml:0,",
			      "qXfer:features:read:t.xml:0,1x", "qXfer:features:read:t.xml:10000000000000000,1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_kind(bad[i], RAP_GDB_REQ_MALFORMED);
	r = parse_n("qXfer:features:read:a\0b:0,1", 27);
	assert_int_equal(r.kind, RAP_GDB_REQ_MALFORMED);
}

static void test_misc_malformed(void **state)
{
	(void)state;
	const char *bad[] = { "D;", "D;x", "D1", "vKill;", "vKill;x", "qAttached:", "qAttached:zz", "H", "Hx0", "Hg",
			      "Hgx", "T", "Tzz", "T-2" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		expect_kind(bad[i], RAP_GDB_REQ_MALFORMED);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct rap_gdb_req r;
	assert_int_equal(rap_gdb_req_parse(NULL, 1, MAXMEM, &r), RAP_EINVAL);
	assert_int_equal(rap_gdb_req_parse(buf, 1, MAXMEM, NULL), RAP_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_supported),
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_vcont),
		cmocka_unit_test(test_breakpoints),
		cmocka_unit_test(test_xfer),
		cmocka_unit_test(test_misc_malformed),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests_name("gdb_req", tests, NULL, NULL);
}
