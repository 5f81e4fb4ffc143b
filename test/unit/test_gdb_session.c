/* The gdb protocol engine (gdb_session.c) against a fake target: a little machine with six
 * registers, 256 bytes of memory at 0x1000, one instruction per byte, an exit at 0x1010,
 * breakpoints, and a "spin" mode in which it runs until interrupted from another thread. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rap/gdb_rsp.h>
#include <rap/rap.h>

#include "common.h"
#include "gdb_session.h"

#define MEM_BASE 0x1000u
#define MEM_SIZE 256u
#define EXIT_PC 0x1010u
#define PID 0x4d2
#define PKT 1024u

/* ---- the fake target ---------------------------------------------------------------------- */

static const struct rap_dbg_reg fake_regs[] = {
	{ "r0", 64, 0, "r0", "int64", true, RAP_DBG_ROLE_R0 },
	{ "r1", 64, 1, "r1", "int64", true, RAP_DBG_ROLE_NONE },
	{ "r2", 64, 2, "r2", "int64", true, RAP_DBG_ROLE_NONE },
	{ "r3", 64, 3, "r3", "int64", true, RAP_DBG_ROLE_NONE },
	{ "pc", 64, 4, "pc", "code_ptr", true, RAP_DBG_ROLE_PC },
	{ "hidden", 64, -1, NULL, NULL, false, RAP_DBG_ROLE_NONE },
	{ "flags", 32, 5, "flags", "int32", true, RAP_DBG_ROLE_NONE },
};
#define REGS_SIZE 44u

static char fake_xml[1500];

static struct rap_dbg_arch fake_arch = {
	.name = "fake",
	.gdb_arch = "fake",
	.regs = fake_regs,
	.nregs = sizeof(fake_regs) / sizeof(*fake_regs),
	.gdb_regs_size = REGS_SIZE,
	.target_xml = fake_xml,
	.pc_bits = 64,
};

struct fake {
	uint8_t regs[REGS_SIZE];
	uint8_t mem[MEM_SIZE];
	uint64_t bps[8];
	size_t nbps;
	bool exited;
	struct rap_dbg_stop last;
	bool spin;
	bool interrupted;
	int last_sig;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static uint64_t get_pc(struct fake *f)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | f->regs[32 + i];
	return v;
}

static void put_pc(struct fake *f, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		f->regs[32 + i] = (uint8_t)(v >> (8 * i));
}

static const struct rap_dbg_arch *f_arch(void *t)
{
	(void)t;
	return &fake_arch;
}

/* Memory access within [MEM_BASE, MEM_BASE + MEM_SIZE), short at its end. */
static ssize_t f_access(struct fake *f, uint64_t addr, void *rbuf, const void *wbuf, size_t len)
{
	if (f->exited)
		return -ESRCH;
	if (addr < MEM_BASE || addr >= MEM_BASE + MEM_SIZE)
		return 0;
	size_t n = MEM_BASE + MEM_SIZE - addr;
	if (n > len)
		n = len;
	if (rbuf)
		memcpy(rbuf, f->mem + (addr - MEM_BASE), n);
	if (wbuf)
		memcpy(f->mem + (addr - MEM_BASE), wbuf, n);
	return (ssize_t)n;
}

static ssize_t f_read(void *t, uint64_t addr, void *buf, size_t len)
{
	return f_access(t, addr, buf, NULL, len);
}

static ssize_t f_write(void *t, uint64_t addr, const void *buf, size_t len)
{
	return f_access(t, addr, NULL, buf, len);
}

static ssize_t f_regs_get(void *t, void *buf, size_t cap)
{
	struct fake *f = t;
	if (f->exited)
		return -ESRCH;
	if (cap < REGS_SIZE)
		return RAP_ENOSPC;
	memcpy(buf, f->regs, REGS_SIZE);
	return REGS_SIZE;
}

static int f_regs_set(void *t, const void *buf, size_t len)
{
	struct fake *f = t;
	if (f->exited)
		return -ESRCH;
	if (len != REGS_SIZE)
		return RAP_EINVAL;
	memcpy(f->regs, buf, REGS_SIZE);
	return 0;
}

static bool at_bp(struct fake *f, uint64_t pc)
{
	for (size_t i = 0; i < f->nbps; i++)
		if (f->bps[i] == pc)
			return true;
	return false;
}

static int finish(struct fake *f, struct rap_dbg_stop *st, enum rap_dbg_stop_kind kind)
{
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	st->signo = kind == RAP_DBG_STOP_INTERRUPTED ? SIGINT : SIGTRAP;
	if (kind == RAP_DBG_STOP_EXITED) {
		f->exited = true;
		st->status = 7;
		st->signo = 0;
	} else {
		st->pc = get_pc(f);
	}
	f->last = *st;
	return 0;
}

static int f_step(void *t, struct rap_dbg_stop *st)
{
	struct fake *f = t;
	if (f->exited)
		return -ESRCH;
	put_pc(f, get_pc(f) + 1);
	return finish(f, st, get_pc(f) == EXIT_PC ? RAP_DBG_STOP_EXITED : RAP_DBG_STOP_STEP);
}

static int f_cont(void *t, int sig, struct rap_dbg_stop *st)
{
	struct fake *f = t;
	if (f->exited)
		return -ESRCH;
	f->last_sig = sig;
	if (f->spin) {
		pthread_mutex_lock(&f->lock);
		while (!f->interrupted)
			pthread_cond_wait(&f->cond, &f->lock);
		f->interrupted = false;
		pthread_mutex_unlock(&f->lock);
		return finish(f, st, RAP_DBG_STOP_INTERRUPTED);
	}
	/* Bounded by the memory's size. */
	for (;;) {
		put_pc(f, get_pc(f) + 1);
		if (get_pc(f) == EXIT_PC)
			return finish(f, st, RAP_DBG_STOP_EXITED);
		if (at_bp(f, get_pc(f)))
			return finish(f, st, RAP_DBG_STOP_BREAKPOINT);
		if (get_pc(f) >= MEM_BASE + MEM_SIZE)
			return -EFAULT;
	}
}

static void f_interrupt(void *t)
{
	struct fake *f = t;
	pthread_mutex_lock(&f->lock);
	f->interrupted = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static int f_kill(void *t, int sig)
{
	struct fake *f = t;
	if (f->exited)
		return -ESRCH;
	f->exited = true;
	memset(&f->last, 0, sizeof(f->last));
	f->last.kind = RAP_DBG_STOP_KILLED;
	f->last.signo = sig;
	return 0;
}

static int f_bp_add(void *t, uint64_t addr)
{
	struct fake *f = t;
	if (addr < MEM_BASE || addr >= MEM_BASE + MEM_SIZE)
		return -EFAULT;
	if (at_bp(f, addr))
		return RAP_EINVAL;
	if (f->nbps == 8)
		return RAP_ENOSPC;
	f->bps[f->nbps++] = addr;
	return 0;
}

static int f_bp_del(void *t, uint64_t addr)
{
	struct fake *f = t;
	for (size_t i = 0; i < f->nbps; i++) {
		if (f->bps[i] == addr) {
			f->bps[i] = f->bps[--f->nbps];
			return 0;
		}
	}
	return RAP_EINVAL;
}

static pid_t f_pid(void *t)
{
	(void)t;
	return PID;
}

static bool f_started(void *t)
{
	(void)t;
	return true;
}

static bool f_exited(void *t)
{
	return ((struct fake *)t)->exited;
}

static void f_last_stop(void *t, struct rap_dbg_stop *st)
{
	*st = ((struct fake *)t)->last;
}

static const struct rap__gdb_target_ops fake_ops = {
	.arch = f_arch,
	.read = f_read,
	.write = f_write,
	.regs_get = f_regs_get,
	.regs_set = f_regs_set,
	.step = f_step,
	.cont = f_cont,
	.interrupt = f_interrupt,
	.kill = f_kill,
	.bp_add = f_bp_add,
	.bp_del = f_bp_del,
	.pid = f_pid,
	.started = f_started,
	.exited = f_exited,
	.last_stop = f_last_stop,
};

/* ---- fixture ------------------------------------------------------------------------------ */

struct fx {
	struct fake f;
	struct rap__gdb_session *s;
	struct rap__buf out;
	int last_rc;
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	if (!x)
		return -1;
	for (size_t i = 0; i < sizeof(fake_xml) - 1; i++)
		fake_xml[i] = (char)('a' + i % 26);
	memcpy(fake_xml, "<?xml", 5);
	for (size_t i = 0; i < REGS_SIZE; i++)
		x->f.regs[i] = (uint8_t)i;
	put_pc(&x->f, MEM_BASE);
	for (size_t i = 0; i < MEM_SIZE; i++)
		x->f.mem[i] = (uint8_t)(0xa0 + i);
	x->f.last.kind = RAP_DBG_STOP_SIGNAL;
	x->f.last.signo = SIGTRAP;
	x->f.last.pc = MEM_BASE;
	pthread_mutex_init(&x->f.lock, NULL);
	pthread_cond_init(&x->f.cond, NULL);
	rap__buf_init(&x->out, 1u << 20);
	if (rap__gdb_session_new(&fake_ops, &x->f, PKT, &x->s) < 0)
		return -1;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	rap__gdb_session_free(x->s);
	rap__buf_free(&x->out);
	pthread_mutex_destroy(&x->f.lock);
	pthread_cond_destroy(&x->f.cond);
	free(x);
	return 0;
}

/* Feeds raw bytes; returns what the session wrote (NUL-terminated copy in a static buffer). */
static const char *feed_raw(struct fx *x, const void *in, size_t len)
{
	static char text[8192];
	x->out.len = 0;
	size_t used;
	x->last_rc = rap__gdb_session_input(x->s, in, len, &used, &x->out);
	assert_true(x->last_rc >= 0);
	assert_int_equal(used, len);
	assert_true(x->out.len < sizeof(text));
	memcpy(text, x->out.data, x->out.len);
	text[x->out.len] = '\0';
	return text;
}

static char frame_buf[4096];

static const char *frame(const char *payload)
{
	ssize_t n = rap_gdb_encode((const uint8_t *)payload, strlen(payload), false, (uint8_t *)frame_buf,
				   sizeof(frame_buf) - 1);
	assert_true(n > 0);
	frame_buf[n] = '\0';
	return frame_buf;
}

/* The payload of the single reply frame in text (after an optional '+'), run-length
 * expanded, NUL-terminated. */
static const char *reply_of(const char *text, bool acked)
{
	static char payload[8192];
	if (acked) {
		assert_int_equal(text[0], '+');
		text++;
	}
	struct rap_gdb_decoder *d;
	assert_int_equal(rap_gdb_decoder_new(sizeof(payload) - 1, &d), 0);
	size_t used;
	struct rap_gdb_event ev;
	size_t len = strlen(text);
	assert_int_equal(rap_gdb_decode(d, (const uint8_t *)text, len, &used, &ev), 1);
	assert_int_equal(ev.kind, RAP_GDB_EV_PACKET);
	assert_int_equal(used, len);
	memcpy(payload, ev.data, ev.len);
	payload[ev.len] = '\0';
	rap_gdb_decoder_free(d);
	return payload;
}

/* Sends one packet, returns its reply's payload (acknowledged unless noack). */
static const char *req(struct fx *x, const char *payload)
{
	const char *f = frame(payload);
	const char *out = feed_raw(x, f, strlen(f));
	return reply_of(out, true);
}

static void assert_reply(struct fx *x, const char *payload, const char *expected)
{
	const char *got = req(x, payload);
	if (strcmp(got, expected)) {
		print_error("'%s' answered '%s', expected '%s'\n", payload, got, expected);
		fail();
	}
}

/* Resume requested by the last packet: runs it, returns the stop reply. */
static const char *resume(struct fx *x)
{
	assert_int_equal(x->last_rc, RAP__GDB_RESUME);
	x->out.len = 0;
	assert_int_equal(rap__gdb_session_resume(x->s, &x->out), 0);
	static char text[512];
	assert_true(x->out.len < sizeof(text));
	memcpy(text, x->out.data, x->out.len);
	text[x->out.len] = '\0';
	return reply_of(text, false);
}

static void send_resume(struct fx *x, const char *payload)
{
	const char *f = frame(payload);
	const char *out = feed_raw(x, f, strlen(f));
	assert_string_equal(out, "+");
	assert_int_equal(x->last_rc, RAP__GDB_RESUME);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_handshake(void **state)
{
	struct fx *x = *state;
	assert_reply(x, "qSupported:multiprocess+;swbreak+;xmlRegisters=i386",
		     "PacketSize=400;QStartNoAckMode+;qXfer:features:read+;swbreak+;vContSupported+");
	assert_reply(x, "vMustReplyEmpty", "");
	assert_reply(x, "QStartNoAckMode", "OK");
	/* no acks from now on */
	const char *f = frame("qC");
	assert_string_equal(reply_of(feed_raw(x, f, strlen(f)), false), "QC4d2");
	f = frame("qAttached:4d2");
	assert_string_equal(reply_of(feed_raw(x, f, strlen(f)), false), "0");
	f = frame("qfThreadInfo");
	assert_string_equal(reply_of(feed_raw(x, f, strlen(f)), false), "m4d2");
	f = frame("qsThreadInfo");
	assert_string_equal(reply_of(feed_raw(x, f, strlen(f)), false), "l");
	f = frame("Hg0");
	assert_string_equal(reply_of(feed_raw(x, f, strlen(f)), false), "OK");
	f = frame("T4d2");
	assert_string_equal(reply_of(feed_raw(x, f, strlen(f)), false), "OK");
	f = frame("qTStatus");
	assert_string_equal(reply_of(feed_raw(x, f, strlen(f)), false), "");
	f = frame("vCont?");
	assert_string_equal(reply_of(feed_raw(x, f, strlen(f)), false), "vCont;c;C;s;S");
	/* a bad checksum in no-ack mode gets an error reply instead of a '-' */
	assert_string_equal(reply_of(feed_raw(x, "$g#00", 5), false), "E01");
}

static void test_halt_reason(void **state)
{
	struct fx *x = *state;
	assert_reply(x, "?", "T0504:0010000000000000;thread:4d2;");
}

static void test_registers(void **state)
{
	struct fx *x = *state;
	char hex[2 * REGS_SIZE + 1];
	rap_gdb_hex_encode(x->f.regs, REGS_SIZE, hex);
	hex[2 * REGS_SIZE] = '\0';
	assert_reply(x, "g", hex);
	assert_reply(x, "p4", "0010000000000000");
	assert_reply(x, "p5", "28292a2b"); /* flags: after 5 registers of 8 bytes */
	assert_reply(x, "p0", "0001020304050607");
	assert_reply(x, "p6", "E16");
	assert_reply(x, "pffff", "E16");
	assert_reply(x, "P4=2010000000000000", "OK");
	assert_int_equal(get_pc(&x->f), 0x1020);
	assert_reply(x, "P4=20100000", "E16");
	assert_reply(x, "P9=2010000000000000", "E16");
	char g[3 + 2 * REGS_SIZE];
	g[0] = 'G';
	memset(g + 1, '1', 2 * REGS_SIZE);
	g[1 + 2 * REGS_SIZE] = '\0';
	assert_reply(x, g, "OK");
	assert_int_equal(x->f.regs[0], 0x11);
	assert_int_equal(x->f.regs[REGS_SIZE - 1], 0x11);
	assert_reply(x, "G1111", "E16");
	assert_reply(x, "G1", "E01");
	assert_reply(x, "P4=zz", "E01");
}

static void test_memory(void **state)
{
	struct fx *x = *state;
	assert_reply(x, "m1000,4", "a0a1a2a3");
	assert_reply(x, "m10fe,4", "9e9f"); /* short at the end of the mapping */
	assert_reply(x, "m2000,4", "E14");
	assert_reply(x, "m0,1", "E14");
	assert_reply(x, "m1000,0", "");
	assert_reply(x, "mffffffffffffffff,2", "E01");
	assert_reply(x, "m1000,401", "E01"); /* over PacketSize */
	assert_reply(x, "M1004,2:beef", "OK");
	assert_reply(x, "m1004,2", "beef");
	assert_reply(x, "M2000,1:00", "E14");
	assert_reply(x, "M10ff,2:0000", "E14"); /* partly written */
	assert_reply(x, "M1004,2:bee", "E01");
	assert_reply(x, "X1000,0:", "OK");
	/* X with escaped bytes: 23 ('#') and 7d ('}') */
	const char raw[] = "$X1008,2:}\x03}]#";
	char fr[32];
	snprintf(fr, sizeof(fr), "%s%02x", raw, rap_gdb_checksum((const uint8_t *)raw + 1, sizeof(raw) - 3));
	assert_string_equal(reply_of(feed_raw(x, fr, strlen(fr)), true), "OK");
	assert_int_equal(x->f.mem[8], 0x23);
	assert_int_equal(x->f.mem[9], 0x7d);
}

static void test_breakpoint_and_exit(void **state)
{
	struct fx *x = *state;
	assert_reply(x, "Z0,1005,1", "OK");
	assert_reply(x, "Z0,1005,1", "E16"); /* twice */
	assert_reply(x, "Z0,9000,1", "E14");
	assert_reply(x, "Z1,1005,1", "");    /* hardware: not supported */
	assert_reply(x, "Z2,1005,4", "");
	send_resume(x, "vCont;c:p4d2.-1");
	assert_true(rap__gdb_session_running(x->s) == false);
	assert_string_equal(resume(x), "T0504:0510000000000000;thread:4d2;swbreak:;");
	assert_int_equal(x->f.last_sig, -1); /* c discards a pending signal */
	assert_reply(x, "z0,1005,1", "OK");
	assert_reply(x, "z0,1005,1", "E16");
	send_resume(x, "s");
	assert_string_equal(resume(x), "T0504:0610000000000000;thread:4d2;");
	send_resume(x, "C0b");
	assert_string_equal(resume(x), "W07");
	assert_int_equal(x->f.last_sig, SIGSEGV);
	/* the process is gone */
	assert_reply(x, "g", "E03");
	assert_reply(x, "m1000,1", "E03");
	assert_reply(x, "?", "W07");
	assert_reply(x, "c", "W07");
	assert_reply(x, "T4d2", "E03");
	assert_reply(x, "qfThreadInfo", "l");
}

static void test_resume_at_address(void **state)
{
	struct fx *x = *state;
	send_resume(x, "s100e");
	assert_string_equal(resume(x), "T0504:0f10000000000000;thread:4d2;");
	send_resume(x, "vCont;s");
	assert_string_equal(resume(x), "W07");
	/* a resume without one pending */
	x->out.len = 0;
	assert_int_equal(rap__gdb_session_resume(x->s, &x->out), RAP_EINVAL);
}

struct runner {
	struct fx *x;
	const char *reply;
};

static void *run_resume(void *arg)
{
	struct runner *r = arg;
	r->reply = resume(r->x);
	return NULL;
}

static void test_interrupt(void **state)
{
	struct fx *x = *state;
	x->f.spin = true;
	send_resume(x, "c");
	struct runner r = { x, NULL };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, run_resume, &r), 0);
	/* The runner waits in the target until this interrupt, whenever it arrives. */
	fake_ops.interrupt(&x->f);
	pthread_join(th, NULL);
	assert_string_equal(r.reply, "T0204:0010000000000000;thread:4d2;");
	/* 0x03 while stopped is ignored */
	assert_string_equal(feed_raw(x, "\x03", 1), "");
	assert_int_equal(x->last_rc, 0);
}

static void test_xfer(void **state)
{
	struct fx *x = *state;
	const char *r = req(x, "qXfer:features:read:target.xml:0,64");
	assert_int_equal(strlen(r), 1 + 0x64);
	assert_int_equal(r[0], 'm');
	assert_memory_equal(r + 1, fake_xml, 0x64);
	/* asking for more than a packet: at most PacketSize - 1 bytes, and 'm' */
	r = req(x, "qXfer:features:read:target.xml:0,1000");
	assert_int_equal(strlen(r), PKT);
	assert_int_equal(r[0], 'm');
	r = req(x, "qXfer:features:read:target.xml:5d0,100");
	assert_int_equal(r[0], 'l');
	assert_int_equal(strlen(r), 1 + sizeof(fake_xml) - 1 - 0x5d0);
	assert_reply(x, "qXfer:features:read:target.xml:5dc,100", "l");
	assert_reply(x, "qXfer:features:read:target.xml:ffffffff,100", "l");
	assert_reply(x, "qXfer:features:read:other.xml:0,100", "E00");
	assert_reply(x, "qXfer:features:read:target.xml:0", "E01");
}

static void test_framing_errors(void **state)
{
	struct fx *x = *state;
	assert_string_equal(feed_raw(x, "$g#00", 5), "-");
	assert_string_equal(feed_raw(x, "$g#zz", 5), "-");
	/* '-' resends the last reply */
	const char *got = feed_raw(x, frame("qC"), strlen(frame_buf));
	char first[64];
	snprintf(first, sizeof(first), "%s", got + 1);
	assert_string_equal(feed_raw(x, "-", 1), first);
	assert_string_equal(feed_raw(x, "+", 1), "");
	/* oversize: read whole, acknowledged, refused */
	static char big[PKT + 16];
	memset(big, '0', sizeof(big) - 1);
	big[0] = 'G';
	big[sizeof(big) - 1] = '\0';
	assert_string_equal(req(x, big), "E22");
	/* malformed request */
	assert_reply(x, "m1g,4", "E01");
	size_t packets, bad;
	rap__gdb_session_stats(x->s, &packets, &bad);
	assert_int_equal(bad, 3);
	assert_int_equal(packets, 2);
}

static void test_kill_and_detach(void **state)
{
	struct fx *x = *state;
	assert_reply(x, "vKill;4d2", "OK");
	assert_int_equal(x->last_rc, RAP__GDB_CLOSE);
	assert_true(x->f.exited);
	assert_int_equal(x->f.last.signo, SIGKILL);
	assert_reply(x, "?", "X09"); /* died of SIGKILL */
	/* bytes after the kill are the caller's: they are not consumed */
	x->out.len = 0;
	size_t used;
	const char *two = "$k#6b$?#3f";
	assert_int_equal(rap__gdb_session_input(x->s, (const uint8_t *)two, strlen(two), &used, &x->out), RAP__GDB_CLOSE);
	assert_int_equal(used, 5);
	assert_reply(x, "D;4d2", "OK");
	assert_int_equal(x->last_rc, RAP__GDB_CLOSE);
}

static void test_out_full(void **state)
{
	struct fx *x = *state;
	struct rap__buf small;
	rap__buf_init(&small, 8);
	const char *f = frame("g");
	size_t used;
	assert_int_equal(rap__gdb_session_input(x->s, (const uint8_t *)f, strlen(f), &used, &small), RAP_ETOOBIG);
	rap__buf_free(&small);
}

static void test_new_errors(void **state)
{
	(void)state;
	struct fake f;
	memset(&f, 0, sizeof(f));
	struct rap__gdb_session *s = (void *)1;
	assert_int_equal(rap__gdb_session_new(&fake_ops, &f, 255, &s), RAP_EINVAL);
	assert_null(s);
	assert_int_equal(rap__gdb_session_new(NULL, &f, PKT, &s), RAP_EINVAL);
	assert_int_equal(rap__gdb_session_new(&fake_ops, &f, RAP_GDB_PACKET_LIMIT + 1, &s), RAP_EINVAL);
	assert_int_equal(rap__gdb_session_new(&fake_ops, &f, PKT, NULL), RAP_EINVAL);
	for (long n = 0; n < 8; n++) {
		rap__alloc_fail_nth(n);
		int rc = rap__gdb_session_new(&fake_ops, &f, PKT, &s);
		rap__alloc_fail_nth(-1);
		if (rc == 0) {
			rap__gdb_session_free(s);
			break;
		}
		assert_int_equal(rc, RAP_ENOMEM);
		assert_null(s);
	}
	rap__gdb_session_free(NULL);
}

/* ---- extended mode ---------------------------------------------------------------------- */

struct launches {
	int count;
	char argv0[64];
	int argc;
	char arg1[64];
	int live; /* fakes launched and not released */
};

static void fake_init(struct fake *f)
{
	for (size_t i = 0; i < REGS_SIZE; i++)
		f->regs[i] = (uint8_t)i;
	put_pc(f, MEM_BASE);
	f->last.kind = RAP_DBG_STOP_SIGNAL;
	f->last.signo = SIGTRAP;
	f->last.pc = MEM_BASE;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
}

static int l_launch(void *user, const char *const *argv, void **t)
{
	struct launches *l = user;
	l->count++;
	snprintf(l->argv0, sizeof(l->argv0), "%s", argv[0]);
	for (l->argc = 0; argv[l->argc]; l->argc++)
		;
	snprintf(l->arg1, sizeof(l->arg1), "%s", l->argc > 1 ? argv[1] : "");
	if (!strcmp(argv[0], "fail"))
		return -ENOENT;
	if (!strcmp(argv[0], "denied"))
		return RAP_EDENIED;
	struct fake *f = calloc(1, sizeof(*f));
	if (!f)
		return RAP_ENOMEM;
	fake_init(f);
	l->live++;
	*t = f;
	return 0;
}

static void l_release(void *user, void *t)
{
	struct launches *l = user;
	struct fake *f = t;
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f);
	l->live--;
}

static void test_extended(void **state)
{
	struct fx *x = *state;
	/* a session of its own, without a program, with a launcher */
	rap__gdb_session_free(x->s);
	assert_int_equal(rap__gdb_session_new(&fake_ops, NULL, PKT, &x->s), 0);
	struct launches l;
	memset(&l, 0, sizeof(l));
	struct rap__gdb_launcher launcher = { l_launch, l_release, &l };
	rap__gdb_session_set_launcher(x->s, &launcher);
	assert_null(rap__gdb_session_target(x->s));
	assert_reply(x, "!", "OK");
	assert_reply(x, "?", "W00");
	assert_reply(x, "g", "E03");
	assert_reply(x, "c", "E03");
	assert_reply(x, "qfThreadInfo", "l");
	assert_reply(x, "qC", "E03");
	assert_reply(x, "vCont?", "vCont;c;C;s;S");
	assert_reply(x, "vRun;", "T0504:0010000000000000;thread:4d2;");
	assert_int_equal(l.count, 1);
	assert_string_equal(l.argv0, "");
	assert_int_equal(l.argc, 1);
	assert_non_null(rap__gdb_session_target(x->s));
	assert_reply(x, "p4", "0010000000000000");
	/* a kill keeps the connection in extended mode */
	assert_reply(x, "vKill;4d2", "OK");
	assert_int_equal(x->last_rc, 0);
	assert_reply(x, "?", "X09");
	/* run again, with arguments: the old program is released first */
	assert_reply(x, "vRun;68656c6c6f;6131", "T0504:0010000000000000;thread:4d2;");
	assert_string_equal(l.argv0, "hello");
	assert_int_equal(l.argc, 2);
	assert_string_equal(l.arg1, "a1");
	assert_int_equal(l.live, 1);
	/* failures: no program afterwards */
	assert_reply(x, "vRun;6661696c", "E02"); /* "fail" */
	assert_int_equal(l.live, 0);
	assert_reply(x, "?", "W00");
	assert_reply(x, "vRun;64656e696564", "E13"); /* "denied" */
	assert_reply(x, "vRun;6100", "E01");          /* a NUL inside */
	assert_int_equal(l.count, 4);
	assert_reply(x, "vRun;zz", "E01");
	assert_int_equal(l.count, 4);
	assert_reply(x, "vRun;", "T0504:0010000000000000;thread:4d2;");
	assert_reply(x, "D", "OK");
	assert_int_equal(x->last_rc, RAP__GDB_CLOSE);
	/* the last target is the caller's */
	l_release(&l, rap__gdb_session_target(x->s));
	assert_int_equal(l.live, 0);
}

static void test_no_extended_mode(void **state)
{
	struct fx *x = *state;
	assert_reply(x, "!", "");
	assert_reply(x, "vRun;", "");
	assert_reply(x, "vKill;4d2", "OK");
	assert_int_equal(x->last_rc, RAP__GDB_CLOSE);
}

static void test_signals(void **state)
{
	(void)state;
	assert_int_equal(rap__gdb_signal_from_host(SIGTRAP), 5);
	assert_int_equal(rap__gdb_signal_from_host(SIGINT), 2);
	assert_int_equal(rap__gdb_signal_from_host(SIGSEGV), 11);
	assert_int_equal(rap__gdb_signal_from_host(SIGUSR1), 30);
	assert_int_equal(rap__gdb_signal_from_host(SIGBUS), 10);
	assert_int_equal(rap__gdb_signal_from_host(SIGKILL), 9);
	assert_int_equal(rap__gdb_signal_from_host(0), 143);
	assert_int_equal(rap__gdb_signal_to_host(10), SIGBUS);
	assert_int_equal(rap__gdb_signal_to_host(30), SIGUSR1);
	assert_int_equal(rap__gdb_signal_to_host(200), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_halt_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_breakpoint_and_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_at_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_framing_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_and_detach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_extended_mode, setup, teardown),
		cmocka_unit_test(test_new_errors),
		cmocka_unit_test(test_signals),
	};
	return cmocka_run_group_tests_name("gdb_session", tests, NULL, NULL);
}
