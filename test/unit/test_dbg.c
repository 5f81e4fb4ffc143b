/* The debugging backend (rap/dbg.h) on real processes: the debuggee is radare2's hello.c
 * built by meson with gcc -O0 -no-pie -g (test/debuggee), whose symbol addresses are known
 * (dbg_hello_syms.h), and a program that spins forever. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rap/dbg.h>
#include <rap/io.h>

#include "common.h"
#include "dbg_private.h"
#include "dbg_hello_syms.h"
#include "dbg_spin_syms.h"

/* ---- helpers ------------------------------------------------------------------------ */

static struct rap_dbg *start_prog(const char *path, int out_fd)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	const char *argv[] = {path, NULL};
	struct rap_dbg_start_opts opts = {.out_fd = out_fd, .envp = NULL};
	struct rap_dbg *d = NULL;
	int rc = rap_dbg_start(fd, argv, &opts, &d);
	close(fd);
	assert_int_equal(rc, 0);
	assert_non_null(d);
	return d;
}

static struct rap_dbg *start_hello(void)
{
	return start_prog(RAP_TEST_DEBUGGEE, -1);
}

static uint64_t reg(struct rap_dbg *d, const char *name)
{
	uint64_t v = 0;
	assert_int_equal(rap_dbg_reg_get(d, name, &v), 0);
	return v;
}

/* Whether pid exists (as anything but a zombie we could not reap). */
static bool alive(pid_t pid)
{
	return kill(pid, 0) == 0;
}

/* Waits, bounded, until pid is gone. */
static bool gone_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (!alive(pid))
			return true;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return !alive(pid);
}

/* ---- the architecture table --------------------------------------------------------- */

/* The host's table, whatever the host (x86-64 here, aarch64 and arm in the cross builds,
 * which run under qemu-user): gdb numbers 0..n-1 without gaps, widths that make up the
 * register file, a target description that names every register with its number, and the
 * roles and names each architecture promises. Needs no process, so it runs under emulation. */
static void test_arch_table(void **state)
{
	(void)state;
	const struct rap_dbg_arch *a = rap_dbg_host_arch();
	assert_non_null(a);
	size_t total = 0;
	int max = -1;
	for (size_t i = 0; i < a->nregs; i++)
		if (a->regs[i].gdb_num > max)
			max = a->regs[i].gdb_num;
	for (int num = 0; num <= max; num++) {
		const struct rap_dbg_reg *r = NULL;
		for (size_t i = 0; i < a->nregs; i++)
			if (a->regs[i].gdb_num == num) {
				assert_null(r); /* each number once */
				r = &a->regs[i];
			}
		assert_non_null(r);
		total += r->bits / 8;
		/* target.xml names it with its number, in order */
		char needle[128];
		snprintf(needle, sizeof(needle), "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%d\"",
		         r->gdb_name, r->bits, r->gdb_type, num);
		assert_non_null(strstr(a->target_xml, needle));
	}
	assert_int_equal(total, a->gdb_regs_size);
	assert_null(rap_dbg_arch_reg(a, "nosuch"));
	assert_null(rap_dbg_arch_reg(a, NULL));
	assert_null(rap_dbg_arch_role(a, RAP_DBG_ROLE_NONE));
	size_t shown = 0;
	for (size_t i = 0; i < a->nregs; i++)
		shown += a->regs[i].in_dr;
	char arch[64];
	snprintf(arch, sizeof(arch), "<architecture>%s</architecture>", a->gdb_arch);
	assert_non_null(strstr(a->target_xml, arch));
#if defined(__x86_64__)
	assert_string_equal(a->name, "x86_64");
	assert_string_equal(a->gdb_arch, "i386:x86-64");
	assert_non_null(strstr(a->target_xml, "<feature name=\"org.gnu.gdb.i386.sse\">\n<reg name=\"xmm0\""));
	/* names: radare2's and gdb's */
	assert_ptr_equal(rap_dbg_arch_reg(a, "rflags"), rap_dbg_arch_reg(a, "eflags"));
	assert_ptr_equal(rap_dbg_arch_reg(a, "orax"), rap_dbg_arch_reg(a, "orig_rax"));
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_PC)->name, "rip");
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_SP)->name, "rsp");
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_A0)->name, "rdi");
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_SN)->name, "orax");
	/* dr lists radare2's 19 general registers, rax first, orax last */
	assert_int_equal(shown, 19);
	assert_string_equal(a->regs[0].name, "rax");
	assert_string_equal(a->regs[18].name, "orax");
#elif defined(__aarch64__)
	assert_string_equal(a->name, "aarch64");
	assert_string_equal(a->gdb_arch, "aarch64");
	assert_non_null(strstr(a->target_xml, "<feature name=\"org.gnu.gdb.aarch64.core\">\n<reg name=\"x0\""));
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_PC)->name, "pc");
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_SP)->name, "sp");
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_A0)->name, "x0");
	assert_string_equal(a->regs[0].name, "x0");
	/* x0..x30, sp, pc: 64 bits; cpsr: 32 (gdb's aarch64 core) */
	assert_int_equal(rap_dbg_arch_reg(a, "x30")->bits, 64);
	assert_int_equal(rap_dbg_arch_reg(a, "pc")->gdb_num, 32);
	assert_int_equal(rap_dbg_arch_reg(a, "cpsr")->bits, 32);
	assert_int_equal(a->pc_bits, 64);
#elif defined(__arm__)
	assert_string_equal(a->name, "arm");
	assert_string_equal(a->gdb_arch, "arm");
	assert_non_null(strstr(a->target_xml, "<feature name=\"org.gnu.gdb.arm.core\">\n<reg name=\"r0\""));
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_PC)->name, "pc");
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_SP)->name, "sp");
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_A0)->name, "r0");
	assert_string_equal(rap_dbg_arch_role(a, RAP_DBG_ROLE_SN)->name, "r7"); /* the EABI syscall number */
	/* r0..r12, sp, lr, pc, cpsr: 17 words, pc as gdb's 15 */
	assert_int_equal(a->gdb_regs_size, 17 * 4);
	assert_int_equal(rap_dbg_arch_reg(a, "pc")->gdb_num, 15);
	assert_int_equal(a->pc_bits, 32);
#endif
	assert_true(shown > 0);
}

/* What a user is told where ptrace is not permitted (Yama's levels, the capability). */
static void test_denied_reason(void **state)
{
	(void)state;
	assert_null(rap__dbg_denied_reason_for(NULL, false));
	assert_null(rap__dbg_denied_reason_for("0\n", false));
	assert_null(rap__dbg_denied_reason_for("1\n", false));
	assert_null(rap__dbg_denied_reason_for("2\n", true));
	assert_string_equal(rap__dbg_denied_reason_for("2\n", false),
			    "ptrace is not permitted: kernel.yama.ptrace_scope is 2 and this process lacks CAP_SYS_PTRACE");
	assert_string_equal(rap__dbg_denied_reason_for("3\n", true),
			    "ptrace is not permitted: kernel.yama.ptrace_scope is 3 (no process may be traced)");
}

static void test_maps_parse(void **state)
{
	(void)state;
	struct rap_dbg_map *m;
	size_t n;
	const char *good = "00400000-00401000 r--p 00000000 fe:01 1234     /data/files/hello\n"
	                   "7ffd0000-7ffd2000 rw-p 00000000 00:00 0                  [stack]\n"
	                   "7f0000000000-7f0000001000 ---p 00001000 00:00 0\n";
	assert_int_equal(rap__dbg_maps_parse(good, &m, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(m[0].start, 0x400000);
	assert_int_equal(m[0].end, 0x401000);
	assert_string_equal(m[0].perm, "r--p");
	assert_string_equal(m[0].name, "/data/files/hello");
	assert_string_equal(m[1].name, "[stack]");
	assert_int_equal(m[2].offset, 0x1000);
	assert_string_equal(m[2].name, "");
	rap_dbg_maps_free(m, n);
	const char *bad[] = {
		"0040000 r--p 00000000 fe:01 1 x\n",         /* no end */
		"00400000-00401000 rq-p 00000000 fe:01 1\n",  /* bad perm */
		"00400000-00401000 r--p zz fe:01 1\n",        /* bad offset */
		"00400000-00401000 r--p 0 fe01 1\n",          /* bad device */
		"11112222333344445-1 r--p 0 fe:01 1\n",       /* 17 hex digits */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rap__dbg_maps_parse(bad[i], &m, &n), RAP_EPROTO);
	assert_int_equal(rap__dbg_maps_parse("", &m, &n), 0);
	assert_int_equal(n, 0);
	rap_dbg_maps_free(m, n);
}

/* ---- starting ----------------------------------------------------------------------- */

/* Stopped at the dynamic loader's first instruction, as radare2 shows it: rip inside
 * ld-linux, orax 59 (the execve that made the program), rax 0. */
static void test_start_first_instruction(void **state)
{
	(void)state;
	struct rap_dbg *d = start_hello();
	pid_t pid = rap_dbg_pid(d);
	assert_true(pid > 0);
	assert_true(rap_dbg_started(d));
	assert_false(rap_dbg_exited(d));
	uint64_t rip = reg(d, "rip");
	assert_int_equal(reg(d, "orax"), 59);
	assert_int_equal(reg(d, "rax"), 0);
	assert_true(reg(d, "rsp") > 0);
	struct rap_dbg_map *m;
	size_t n;
	assert_int_equal(rap_dbg_maps(d, &m, &n), 0);
	bool in_ld = false, has_prog = false;
	for (size_t i = 0; i < n; i++) {
		if (rip >= m[i].start && rip < m[i].end)
			in_ld = strstr(m[i].name, "ld-linux") != NULL && m[i].perm[2] == 'x';
		if (m[i].start == 0x400000 && strstr(m[i].name, "dbg_hello"))
			has_prog = true;
	}
	rap_dbg_maps_free(m, n);
	assert_true(in_ld);
	assert_true(has_prog);
	struct rap_dbg_stop st;
	rap_dbg_last_stop(d, &st);
	assert_int_equal(st.kind, RAP_DBG_STOP_SIGNAL);
	assert_int_equal(st.signo, SIGTRAP);
	/* stdin /dev/null, stdout and stderr the given descriptor (here /dev/null too), and
	 * nothing else of ours */
	char path[64], link[256];
	snprintf(path, sizeof(path), "/proc/%d/fd/0", (int)pid);
	ssize_t ln = readlink(path, link, sizeof(link) - 1);
	assert_true(ln > 0);
	link[ln] = 0;
	assert_string_equal(link, "/dev/null");
	snprintf(path, sizeof(path), "/proc/%d/fd/3", (int)pid);
	assert_true(readlink(path, link, sizeof(link)) < 0);
	rap_dbg_free(d);
	/* a started process dies with its rap_dbg and is reaped */
	assert_true(gone_within(pid, 2000));
}

static void test_start_errors(void **state)
{
	(void)state;
	const char *argv[] = {"x", NULL};
	struct rap_dbg *d = NULL;
	assert_int_equal(rap_dbg_start(-1, argv, NULL, &d), RAP_EINVAL);
	/* hello.c itself: a readable file that is not executable */
	const char *src = getenv("RAP_TEST_SRCDIR");
	assert_non_null(src);
	char path[4096];
	snprintf(path, sizeof(path), "%s/vectors/r2/hello.c", src);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(rap_dbg_start(fd, NULL, NULL, &d), RAP_EINVAL);
	const char *empty[] = {NULL};
	assert_int_equal(rap_dbg_start(fd, empty, NULL, &d), RAP_EINVAL);
	assert_int_equal(rap_dbg_start(fd, argv, NULL, NULL), RAP_EINVAL);
	/* a text file without exec permission: the child's execveat fails, reported here */
	int rc = rap_dbg_start(fd, argv, NULL, &d);
	assert_true(rc == -EACCES || rc == -ENOEXEC);
	close(fd);
	assert_int_equal(rap_dbg_attach(0, &d), RAP_EINVAL);
	assert_int_equal(rap_dbg_attach(getpid(), &d), RAP_EINVAL);
	/* a pid that cannot exist (above pid_max) */
	assert_int_equal(rap_dbg_attach(0x7ffffff0, &d), -ESRCH);
	rap_dbg_free(NULL);
}

/* ---- memory ------------------------------------------------------------------------- */

static void test_memory(void **state)
{
	(void)state;
	struct rap_dbg *d = start_hello();
	uint8_t b[8] = {0};
	assert_int_equal(rap_dbg_read(d, DEBUGGEE_COUNTER, b, 4), 4);
	assert_memory_equal(b, "\x34\x12\x00\x00", 4);
	assert_int_equal(rap_dbg_write(d, DEBUGGEE_COUNTER, "\x99", 1), 1);
	assert_int_equal(rap_dbg_read(d, DEBUGGEE_COUNTER, b, 4), 4);
	assert_memory_equal(b, "\x99\x12\x00\x00", 4);
	/* writes reach read-only code too (a debugger patches code) */
	uint8_t code[4], patched[4] = {0x90, 0x90, 0x90, 0x90}, back[4];
	assert_int_equal(rap_dbg_read(d, DEBUGGEE_MAIN, code, 4), 4);
	assert_int_equal(rap_dbg_write(d, DEBUGGEE_MAIN, patched, 4), 4);
	assert_int_equal(rap_dbg_read(d, DEBUGGEE_MAIN, back, 4), 4);
	assert_memory_equal(back, patched, 4);
	assert_int_equal(rap_dbg_write(d, DEBUGGEE_MAIN, code, 4), 4);
	/* unmapped: nothing at 0; short at the end of a mapping followed by a hole */
	assert_int_equal(rap_dbg_read(d, 0, b, 8), 0);
	assert_int_equal(rap_dbg_write(d, 0, b, 8), 0);
	struct rap_dbg_map *m;
	size_t n;
	assert_int_equal(rap_dbg_maps(d, &m, &n), 0);
	/* the end of the program's last (data) mapping: a hole follows it before the first
	 * instruction (no heap yet) */
	uint64_t edge = 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (strstr(m[i].name, "dbg_hello") && m[i].end != m[i + 1].start)
			edge = m[i].end;
	rap_dbg_maps_free(m, n);
	assert_int_equal(edge, 0x405000);
	uint8_t big[8192];
	assert_int_equal(rap_dbg_read(d, edge - 10, big, sizeof(big)), 10);
	assert_int_equal(rap_dbg_write(d, edge - 3, "abcdef", 6), 3);
	assert_int_equal(rap_dbg_read(d, edge - 3, b, 8), 3);
	assert_memory_equal(b, "abc", 3);
	/* across many pages at once */
	assert_int_equal(rap_dbg_read(d, 0x400000, big, sizeof(big)), sizeof(big));
	assert_memory_equal(big, "\x7f" "ELF", 4);
	assert_int_equal(rap_dbg_read(NULL, 0, b, 1), RAP_EINVAL);
	assert_int_equal(rap_dbg_read(d, 0, NULL, 1), RAP_EINVAL);
	/* the top of the address space does not wrap */
	assert_int_equal(rap_dbg_read(d, UINT64_MAX - 2, b, 8), 0);
	rap_dbg_free(d);
}

/* ---- registers ---------------------------------------------------------------------- */

static void test_registers(void **state)
{
	(void)state;
	struct rap_dbg *d = start_hello();
	assert_int_equal(rap_dbg_reg_set(d, "rax", 0x1122334455667788u), 0);
	assert_int_equal(reg(d, "rax"), 0x1122334455667788u);
	assert_int_equal(rap_dbg_reg_set(d, "rflags", 0x246), 0);
	assert_int_equal(reg(d, "eflags"), 0x246);
	uint64_t v;
	assert_int_equal(rap_dbg_reg_get(d, "nosuch", &v), RAP_EINVAL);
	assert_int_equal(rap_dbg_reg_get(d, "xmm0", &v), RAP_EINVAL); /* wider than 64 bits */
	assert_int_equal(rap_dbg_reg_set(d, "nosuch", 1), RAP_EINVAL);
	assert_int_equal(rap_dbg_reg_get(d, "rax", NULL), RAP_EINVAL);

	/* the gdb register file: rax at 0, rip at 16 * 8, eflags (4 bytes) after it */
	const struct rap_dbg_arch *a = rap_dbg_arch(d);
	uint8_t g[1024];
	assert_int_equal(rap_dbg_regs_gdb_get(d, g, 10), RAP_ENOSPC);
	assert_int_equal(rap_dbg_regs_gdb_get(d, g, sizeof(g)), a->gdb_regs_size);
	uint64_t x;
	memcpy(&x, g, 8);
	assert_int_equal(x, 0x1122334455667788u);
	memcpy(&x, g + 16 * 8, 8);
	assert_int_equal(x, reg(d, "rip"));
	uint32_t fl;
	memcpy(&fl, g + 17 * 8, 4);
	assert_int_equal(fl, 0x246);
	/* mxcsr's default 0x1f80, at the end of the sse feature: 560 - 3 * 8 - 4 */
	memcpy(&fl, g + a->gdb_regs_size - 28, 4);
	assert_int_equal(fl, 0x1f80);
	x = 0x42;
	memcpy(g, &x, 8);
	assert_int_equal(rap_dbg_regs_gdb_set(d, g, a->gdb_regs_size), 0);
	assert_int_equal(reg(d, "rax"), 0x42);
	assert_int_equal(rap_dbg_regs_gdb_set(d, g, 3), RAP_EINVAL);
	rap_dbg_free(d);
}

/* ---- running ------------------------------------------------------------------------ */

static void test_step(void **state)
{
	(void)state;
	struct rap_dbg *d = start_hello();
	uint64_t pc0 = reg(d, "rip");
	struct rap_dbg_stop st;
	assert_int_equal(rap_dbg_step(d, &st), 0);
	assert_int_equal(st.kind, RAP_DBG_STOP_STEP);
	/* ld.so's first instruction is 'mov rdi, rsp' (3 bytes) */
	assert_int_equal(st.pc, pc0 + 3);
	assert_int_equal(reg(d, "rip"), pc0 + 3);
	rap_dbg_free(d);
}

/* Breakpoint at add(): hit with the PC on it, invisible to reads, re-inserted after
 * stepping off it (hit again by the next call), removed: the program runs to its end. */
static void test_breakpoints(void **state)
{
	(void)state;
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	struct rap_dbg *d = start_prog(RAP_TEST_DEBUGGEE, pfd[1]);
	close(pfd[1]);
	uint8_t orig[2], seen[2];
	assert_int_equal(rap_dbg_read(d, DEBUGGEE_ADD, orig, 2), 2);
	assert_int_equal(rap_dbg_bp_add(d, DEBUGGEE_ADD), 0);
	assert_int_equal(rap_dbg_bp_add(d, DEBUGGEE_ADD), RAP_EINVAL);
	assert_int_equal(rap_dbg_bp_add(d, 0), -EFAULT);
	uint64_t list[4];
	assert_int_equal(rap_dbg_bp_list(d, list, 4), 1);
	assert_int_equal(list[0], DEBUGGEE_ADD);
	assert_int_equal(rap_dbg_read(d, DEBUGGEE_ADD, seen, 2), 2);
	assert_memory_equal(seen, orig, 2);

	struct rap_dbg_stop st;
	for (int call = 0; call < 2; call++) {
		assert_int_equal(rap_dbg_cont(d, 0, &st), 0);
		assert_int_equal(st.kind, RAP_DBG_STOP_BREAKPOINT);
		assert_int_equal(st.pc, DEBUGGEE_ADD);
		assert_int_equal(reg(d, "rip"), DEBUGGEE_ADD);
		assert_int_equal(reg(d, "rsi"), (uint64_t)call); /* add(counter, i) */
	}
	assert_int_equal(rap_dbg_step(d, &st), 0);
	assert_int_equal(st.kind, RAP_DBG_STOP_STEP);
	assert_int_equal(st.pc, DEBUGGEE_ADD + 1); /* push rbp */
	assert_int_equal(rap_dbg_bp_del(d, DEBUGGEE_ADD), 0);
	assert_int_equal(rap_dbg_bp_del(d, DEBUGGEE_ADD), RAP_EINVAL);
	assert_int_equal(rap_dbg_bp_list(d, list, 4), 0);
	assert_int_equal(rap_dbg_cont(d, 0, &st), 0);
	assert_int_equal(st.kind, RAP_DBG_STOP_EXITED);
	assert_int_equal(st.status, 0);
	assert_true(rap_dbg_exited(d));
	char out[32] = {0};
	ssize_t n = read(pfd[0], out, sizeof(out) - 1);
	assert_int_equal(n, 5);
	assert_string_equal(out, "4663\n");
	close(pfd[0]);
	/* after the end: -ESRCH everywhere */
	uint64_t v;
	uint8_t b;
	assert_int_equal(rap_dbg_reg_get(d, "rip", &v), -ESRCH);
	assert_int_equal(rap_dbg_read(d, DEBUGGEE_COUNTER, &b, 1), -ESRCH);
	assert_int_equal(rap_dbg_step(d, &st), -ESRCH);
	assert_int_equal(rap_dbg_cont(d, 0, &st), -ESRCH);
	assert_int_equal(rap_dbg_kill(d, SIGKILL), -ESRCH);
	struct rap_dbg_map *m;
	size_t nm;
	assert_int_equal(rap_dbg_maps(d, &m, &nm), -ESRCH);
	rap_dbg_free(d);
}

static void test_kill(void **state)
{
	(void)state;
	struct rap_dbg *d = start_hello();
	assert_int_equal(rap_dbg_kill(d, -1), RAP_EINVAL);
	assert_int_equal(rap_dbg_kill(d, SIGKILL), 0);
	struct rap_dbg_stop st;
	assert_int_equal(rap_dbg_cont(d, 0, &st), 0);
	assert_int_equal(st.kind, RAP_DBG_STOP_KILLED);
	assert_int_equal(st.signo, SIGKILL);
	assert_int_equal(rap_dbg_cont(d, 99, &st), RAP_EINVAL);
	rap_dbg_free(d);
}

/* A signal the program gets is reported, then delivered on the next cont (SIGTERM kills). */
static void test_signal_delivery(void **state)
{
	(void)state;
	struct rap_dbg *d = start_prog(RAP_TEST_SPIN, -1);
	assert_int_equal(rap_dbg_kill(d, SIGTERM), 0);
	struct rap_dbg_stop st;
	assert_int_equal(rap_dbg_cont(d, 0, &st), 0);
	assert_int_equal(st.kind, RAP_DBG_STOP_SIGNAL);
	assert_int_equal(st.signo, SIGTERM);
	assert_int_equal(st.sig_code, SI_USER); /* kill(2), from us */
	assert_int_equal(st.sig_pid, getpid());
	assert_int_equal(rap_dbg_cont(d, 0, &st), 0);
	assert_int_equal(st.kind, RAP_DBG_STOP_KILLED);
	assert_int_equal(st.signo, SIGTERM);
	rap_dbg_free(d);
}

struct cont_thread {
	struct rap_dbg *d;
	int rc;
	struct rap_dbg_stop st;
};

static void *cont_main(void *arg)
{
	struct cont_thread *c = arg;
	c->rc = rap_dbg_cont(c->d, 0, &c->st);
	return NULL;
}

/* Waits (bounded) until pid runs one of the debuggees (after its exec: the name is dbg_*)
 * and is on a CPU or runnable ('R' in /proc/PID/stat). */
static bool running_within(pid_t pid, int ms)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < ms; i++) {
		FILE *f = fopen(path, "r");
		if (f) {
			char buf[256] = {0};
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
			const char *p = n ? strrchr(buf, ')') : NULL;
			if (p && p[1] == ' ' && p[2] == 'R' && strstr(buf, "(dbg_"))
				return true;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

/* rap_dbg_interrupt from another thread stops a cont; afterwards the process still runs on. */
static void test_interrupt(void **state)
{
	(void)state;
	struct rap_dbg *d = start_prog(RAP_TEST_SPIN, -1);
	rap_dbg_interrupt(d); /* nothing runs: a no-op, not remembered */
	for (int round = 0; round < 2; round++) {
		struct cont_thread c = {.d = d};
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, cont_main, &c), 0);
		assert_true(running_within(rap_dbg_pid(d), 5000));
		/* the cont may not be waiting yet when the process runs: repeat, bounded */
		struct timespec ts = {0, 2000000};
		for (int i = 0; i < 1000; i++) {
			rap_dbg_interrupt(d);
			nanosleep(&ts, NULL);
			if (pthread_tryjoin_np(t, NULL) == 0)
				break;
			if (i == 999)
				fail_msg("cont was not interrupted");
		}
		assert_int_equal(c.rc, 0);
		assert_int_equal(c.st.kind, RAP_DBG_STOP_INTERRUPTED);
		assert_int_equal(c.st.signo, SIGINT);
		assert_false(rap_dbg_exited(d));
	}
	rap_dbg_free(d);
}

/* rap_dbg_free while a cont waits: the cont returns RAP_ECLOSED and the process is gone. */
static void test_free_during_cont(void **state)
{
	(void)state;
	struct rap_dbg *d = start_prog(RAP_TEST_SPIN, -1);
	pid_t pid = rap_dbg_pid(d);
	struct cont_thread c = {.d = d};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cont_main, &c), 0);
	assert_true(running_within(pid, 5000));
	rap_dbg_free(d);
	pthread_join(t, NULL);
	assert_true(c.rc == RAP_ECLOSED);
	assert_true(gone_within(pid, 2000));
}

/* Attach to a process we did not start: registers readable, breakpoints removed and the
 * process left running on rap_dbg_free. */
static void test_attach(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* not the test's stdout: meson waits for every holder of it */
		int null_fd = open("/dev/null", O_RDWR);
		dup2(null_fd, 1);
		dup2(null_fd, 2);
		execl(RAP_TEST_SPIN, RAP_TEST_SPIN, (char *)NULL);
		_exit(127);
	}
	assert_true(running_within(pid, 5000));
	/* Attach until it is caught in main's loop (it may still be in the loader): detaching
	 * between tries also shows that an attached process is left running. */
	struct rap_dbg *d = NULL;
	uint64_t rip = 0;
	for (int tries = 0; tries < 500; tries++) {
		int rc = rap_dbg_attach(pid, &d);
		if (rc != 0) {
			print_message("# attach try %d: %s\n", tries, rap_strerror(rc));
			kill(pid, SIGKILL);
		}
		assert_int_equal(rc, 0);
		rip = reg(d, "rip");
		if (rip >= DEBUGGEE_SPIN_MAIN && rip < DEBUGGEE_SPIN_MAIN + 0x40)
			break;
		rap_dbg_free(d);
		d = NULL;
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	if (!d)
		kill(pid, SIGKILL);
	assert_non_null(d);
	assert_false(rap_dbg_started(d));
	assert_int_equal(rap_dbg_pid(d), pid);
	/* a breakpoint that would be hit at once if it stayed in: main's loop */
	assert_int_equal(rap_dbg_bp_add(d, rip), 0);
	rap_dbg_free(d);
	assert_true(running_within(pid, 5000));
	int status;
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* no SIGTRAP killed it */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* Calls from a thread other than the one that started the process (the server's pool). */
static void *other_thread(void *arg)
{
	struct rap_dbg *d = arg;
	struct rap_dbg_stop st;
	uintptr_t ok = rap_dbg_step(d, &st) == 0 && st.kind == RAP_DBG_STOP_STEP;
	return (void *)ok;
}

static void test_other_threads(void **state)
{
	(void)state;
	struct rap_dbg *d = start_hello();
	for (int i = 0; i < 3; i++) {
		pthread_t t;
		void *ok;
		assert_int_equal(pthread_create(&t, NULL, other_thread, d), 0);
		pthread_join(t, &ok);
		assert_true(ok != NULL);
	}
	rap_dbg_free(d);
}

/* ---- the dbg:// plugin -------------------------------------------------------------- */

static void test_plugin(void **state)
{
	(void)state;
	struct rap_io *io;
	assert_int_equal(rap_io_new(&io), 0);
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	rap_io_set_dbg_output(io, pfd[1]);
	int fd = rap_io_open(io, "dbg://" RAP_TEST_DEBUGGEE " one two", RAP_PERM_RW);
	assert_true(fd >= 3);
	assert_true(rap_io_fd_plugin(io, fd)->is_debugger);
	struct rap_dbg *d = rap_io_dbg(io, fd);
	assert_non_null(d);
	assert_null(rap_io_dbg(io, fd + 1));
	pid_t pid = rap_dbg_pid(d);
	uint8_t b[16];
	assert_int_equal(rap_io_read_at(io, fd, DEBUGGEE_COUNTER, b, 4), 4);
	assert_memory_equal(b, "\x34\x12\x00\x00", 4);
	assert_int_equal(rap_io_write_at(io, fd, DEBUGGEE_COUNTER, "\x35", 1), 1);
	assert_int_equal(rap_io_read_at(io, fd, 0x405000 - 4, b, 16), 4); /* short at the hole */
	assert_int_equal(rap_io_read_at(io, fd, 0, b, 16), 0);
	uint64_t size;
	assert_int_equal(rap_io_size(io, fd, &size), 0);
	assert_int_equal(size, UINT64_MAX);
	/* argc 3: main's edi at main's first instruction */
	assert_int_equal(rap_dbg_bp_add(d, DEBUGGEE_MAIN), 0);
	struct rap_dbg_stop st;
	assert_int_equal(rap_dbg_cont(d, 0, &st), 0);
	assert_int_equal(st.kind, RAP_DBG_STOP_BREAKPOINT);
	assert_int_equal(reg(d, "rdi"), 3);
	assert_int_equal(rap_dbg_bp_del(d, DEBUGGEE_MAIN), 0);
	assert_int_equal(rap_dbg_cont(d, 0, &st), 0);
	assert_int_equal(st.kind, RAP_DBG_STOP_EXITED);
	close(pfd[1]);
	char out[16] = {0};
	assert_int_equal(read(pfd[0], out, sizeof(out) - 1), 5);
	assert_string_equal(out, "4664\n"); /* 0x1235 + 0 + 1 + 2 */
	close(pfd[0]);
	assert_int_equal(rap_io_close(io, fd), 0);
	assert_true(gone_within(pid, 2000));

	/* closing kills a started process that still runs */
	rap_io_set_dbg_output(io, -1);
	fd = rap_io_open(io, "dbg://" RAP_TEST_SPIN, RAP_PERM_R);
	assert_true(fd >= 3);
	pid = rap_dbg_pid(rap_io_dbg(io, fd));
	assert_int_equal(rap_io_close(io, fd), 0);
	assert_true(gone_within(pid, 2000));

	/* bad URIs */
	assert_int_equal(rap_io_open(io, "dbg://", RAP_PERM_R), RAP_EINVAL);
	assert_int_equal(rap_io_open(io, "dbg://   ", RAP_PERM_R), RAP_EINVAL);
	char many[512] = "dbg://" RAP_TEST_DEBUGGEE;
	for (int i = 0; i < 70; i++)
		strcat(many, " a");
	assert_int_equal(rap_io_open(io, many, RAP_PERM_R), RAP_ETOOBIG);
	assert_int_equal(rap_io_open(io, "dbg:///nonexistent/prog", RAP_PERM_R), -ENOENT);
	assert_int_equal(rap_io_open(io, "dbg://0x12", RAP_PERM_R), -ENOENT); /* not a pid: a path */
	assert_int_equal(rap_io_open(io, "dbg://99999999", RAP_PERM_R), -ENOENT); /* above pid_max */
	rap_io_free(io);
}

/* The program path obeys the root like any file; the scheme must be allowed; limits. */
static void test_plugin_policy(void **state)
{
	(void)state;
	struct rap_io *io;
	assert_int_equal(rap_io_new(&io), 0);
	rap_io_set_dbg_output(io, -1);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", RAP_TEST_DEBUGGEE);
	*strrchr(dir, '/') = 0;
	assert_int_equal(rap_io_set_root(io, dir), 0);
	int fd = rap_io_open(io, "dbg://dbg_hello", RAP_PERM_R);
	assert_true(fd >= 3);
	assert_int_equal(rap_io_close(io, fd), 0);
	fd = rap_io_open(io, "dbg://" RAP_TEST_DEBUGGEE, RAP_PERM_R);
	assert_true(fd >= 3);
	assert_int_equal(rap_io_close(io, fd), 0);
	assert_int_equal(rap_io_open(io, "dbg://../debuggee/dbg_hello", RAP_PERM_R), RAP_EDENIED);
	assert_int_equal(rap_io_open(io, "dbg:///bin/true", RAP_PERM_R), RAP_EDENIED);

	/* one process per instance */
	rap_io_set_max_processes(io, 1);
	fd = rap_io_open(io, "dbg://dbg_spin", RAP_PERM_R);
	assert_true(fd >= 3);
	assert_int_equal(rap_io_open(io, "dbg://dbg_spin", RAP_PERM_R), -EAGAIN);
	assert_non_null(strstr(rap_io_error(io), "at most 1 debugged processes"));
	assert_int_equal(rap_io_close(io, fd), 0);
	fd = rap_io_open(io, "dbg://dbg_spin", RAP_PERM_R);
	assert_true(fd >= 3);
	/* and one in the whole process, across instances */
	rap_io_set_max_processes(io, 0);
	rap_io_set_max_processes_total(1);
	struct rap_io *other;
	assert_int_equal(rap_io_new(&other), 0);
	rap_io_set_dbg_output(other, -1);
	assert_int_equal(rap_io_open(other, "dbg://" RAP_TEST_SPIN, RAP_PERM_R), -EAGAIN);
	assert_non_null(strstr(rap_io_error(other), "all 1 debugged processes"));
	assert_int_equal(rap_io_close(io, fd), 0);
	fd = rap_io_open(other, "dbg://" RAP_TEST_SPIN, RAP_PERM_R);
	assert_true(fd >= 3);
	rap_io_free(other); /* closes it: the count is given back */
	rap_io_set_max_processes_total(0);

	/* not allowed */
	assert_int_equal(rap_io_set_allowed_plugins(io, "file,malloc"), 0);
	assert_int_equal(rap_io_open(io, "dbg://dbg_hello", RAP_PERM_R), RAP_EDENIED);
	rap_io_free(io);
}

/* Every allocation of an open and a session failing in turn: each failure is clean (an
 * error, no leak, no process left behind), and the walk ends with one that succeeds. */
static void test_alloc_failures(void **state)
{
	(void)state;
	struct rap_io *io;
	assert_int_equal(rap_io_new(&io), 0);
	rap_io_set_dbg_output(io, -1);
	bool done = false;
	for (long n = 0; n < 200 && !done; n++) {
		rap__alloc_fail_nth(n);
		int fd = rap_io_open(io, "dbg://" RAP_TEST_DEBUGGEE, RAP_PERM_R);
		struct rap_dbg *d = fd >= 0 ? rap_io_dbg(io, fd) : NULL;
		uint8_t b[4];
		ssize_t r = d ? rap_dbg_write(d, DEBUGGEE_COUNTER, "\x01", 1) : 0;
		if (d)
			r = rap_dbg_read(d, DEBUGGEE_COUNTER, b, sizeof(b));
		struct rap_dbg_map *m = NULL;
		size_t nm = 0;
		int mrc = d ? rap_dbg_maps(d, &m, &nm) : 0;
		rap__alloc_fail_nth(-1);
		done = rap__alloc_failures() == 0;
		if (fd < 0)
			assert_true(fd == RAP_ENOMEM);
		else
			assert_true(r == 4);
		if (mrc == 0)
			rap_dbg_maps_free(m, nm);
		else
			assert_int_equal(mrc, RAP_ENOMEM);
		if (fd >= 0)
			assert_int_equal(rap_io_close(io, fd), 0);
	}
	assert_true(done);
	rap_io_free(io);
	/* every process of the walk is gone and reaped */
	int status;
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	/* and the description never needs memory */
	char small[16];
	assert_int_equal(rap__dbg_target_xml_into(rap__dbg_arch_host(), small, sizeof(small)), RAP_ENOSPC);
}

int main(void)
{
	/* Where processes cannot be traced, the tests that need one are left out, each named
	 * with the reason, and the rest runs: Yama or a container without CAP_SYS_PTRACE (a
	 * probe start tells what the configuration does not), qemu-user (the cross builds: it
	 * emulates no ptrace, ENOSYS; dbg:// is only compile-tested there), or an architecture
	 * without a register table. */
	const char *why = rap_dbg_ptrace_denied_reason();
	if (!why && !rap_dbg_host_arch())
		why = "no register table for this architecture (dbg:// supports x86-64, aarch64 and arm)";
	if (!why) {
		int fd = open(RAP_TEST_DEBUGGEE, O_RDONLY | O_CLOEXEC);
		const char *argv[] = { RAP_TEST_DEBUGGEE, NULL };
		struct rap_dbg *probe = NULL;
		int rc = fd >= 0 ? rap_dbg_start(fd, argv, NULL, &probe) : 0;
		if (fd >= 0)
			close(fd);
		rap_dbg_free(probe);
		if (rc == -EPERM)
			why = "ptrace is not permitted here (no CAP_SYS_PTRACE, or a seccomp policy or container forbids it)";
		else if (rc == -ENOSYS)
			why = "ptrace is not implemented here (qemu-user emulates none: compile-tested only)";
	}
	const struct CMUnitTest always[] = {
		cmocka_unit_test(test_maps_parse),
		cmocka_unit_test(test_denied_reason),
	};
	const struct CMUnitTest with_table[] = {
		cmocka_unit_test(test_arch_table),
	};
	const struct CMUnitTest with_ptrace[] = {
		cmocka_unit_test(test_start_first_instruction),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_step),
		cmocka_unit_test(test_breakpoints),
		cmocka_unit_test(test_kill),
		cmocka_unit_test(test_signal_delivery),
		cmocka_unit_test(test_interrupt),
		cmocka_unit_test(test_free_during_cont),
		cmocka_unit_test(test_attach),
		cmocka_unit_test(test_other_threads),
		cmocka_unit_test(test_plugin),
		cmocka_unit_test(test_plugin_policy),
		cmocka_unit_test(test_alloc_failures),
	};
	enum { N_ALWAYS = sizeof(always) / sizeof(always[0]), N_TABLE = sizeof(with_table) / sizeof(with_table[0]),
	       N_PTRACE = sizeof(with_ptrace) / sizeof(with_ptrace[0]) };
	struct CMUnitTest tests[N_ALWAYS + N_TABLE + N_PTRACE];
	size_t n = 0;
	for (size_t i = 0; i < N_ALWAYS; i++)
		tests[n++] = always[i];
	/* Not skip(): cmocka 1.1.5 reports it as "not ok", which meson counts as a failure. */
	for (size_t i = 0; i < N_TABLE; i++) {
		if (rap_dbg_host_arch())
			tests[n++] = with_table[i];
		else
			printf("# SKIP %s: no register table for this architecture\n", with_table[i].name);
	}
	for (size_t i = 0; i < N_PTRACE; i++) {
		if (!why)
			tests[n++] = with_ptrace[i];
		else
			printf("# SKIP %s: %s\n", with_ptrace[i].name, why);
	}
	return _cmocka_run_group_tests("dbg", tests, n, NULL, NULL);
}
