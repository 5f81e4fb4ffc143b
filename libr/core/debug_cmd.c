/* The debugger commands that act on the process: dr (registers), ds/dso (step), dc/dcu
 * (continue), db (breakpoints), dk (signals); dp, dm and dbt are in debug_info.c. Output
 * is radare2's (test/vectors/r2/debug-session.txt). After a step or a continue the position
 * follows the program counter, so that "ds; pi 1" shows the next instruction. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rap/dbg.h>
#include <rap/io.h>

#include "arch.h"
#include "common.h"
#include "core_private.h"
#include "debug.h"
#include "disasm.h"

#define STEPS_MAX 1000000u /* ds/dso count */

struct rap_dbg *rap__core_debug_need(struct rap_core *c, const char *cmd, bool ended_ok)
{
	struct rap_dbg *d = c->fd >= 0 ? rap_io_dbg(c->io, c->fd) : NULL;
	if (!d) {
		rap__core_errorf(c, "'%s' needs a debugged process: the current file is not a dbg:// file "
				    "(open one with 'o dbg:///path/prog')", cmd);
		return NULL;
	}
	if (!ended_ok && rap_dbg_exited(d)) {
		rap__core_errorf(c, "'%s': the process %d has ended", cmd, (int)rap_dbg_pid(d));
		return NULL;
	}
	return d;
}

static const char *pc_name(const struct rap_dbg *d)
{
	const struct rap_dbg_reg *r = rap_dbg_arch_role(rap_dbg_arch(d), RAP_DBG_ROLE_PC);
	return r ? r->name : "pc";
}

int rap__core_debug_reg(struct rap_core *c, const char *name, size_t len, uint64_t *out)
{
	struct rap_dbg *d = c->fd >= 0 ? rap_io_dbg(c->io, c->fd) : NULL;
	char reg[32];
	if (!d || len == 0 || len >= sizeof(reg))
		return RAP_EINVAL;
	memcpy(reg, name, len);
	reg[len] = '\0';
	const struct rap_dbg_reg *r = rap_dbg_arch_reg(rap_dbg_arch(d), reg);
	if (!r || r->bits > 64)
		return RAP_EINVAL;
	return rap_dbg_reg_get(d, reg, out);
}

/* An expression argument; prints why it is not one. */
static int arg_value(struct rap_core *c, const char *cmd, const char *expr, uint64_t *v)
{
	if (rap__core_eval(c, expr, v) == 0)
		return 0;
	rap__core_errorf(c, "'%s': invalid address or number '%s'", cmd, expr);
	return RAP_EINVAL;
}

static int backend_error(struct rap_core *c, const char *cmd, int rc)
{
	rap__core_errorf(c, "'%s' failed: %s", cmd, rap_strerror(rc));
	return rc;
}

/* Prints how a run ended, as radare2 does, and moves the position to the PC. */

/* A signal's name without "SIG", as sigabbrev_np() gives it (a glibc extension other C
 * libraries lack), from the host's own macros; "?" for one it does not know. */
static const char *signal_abbrev(int sig)
{
	switch (sig) {
#define SIG_NAME(n) \
	case SIG##n:  \
		return #n;
	SIG_NAME(HUP) SIG_NAME(INT) SIG_NAME(QUIT) SIG_NAME(ILL) SIG_NAME(TRAP) SIG_NAME(ABRT)
	SIG_NAME(BUS) SIG_NAME(FPE) SIG_NAME(KILL) SIG_NAME(USR1) SIG_NAME(SEGV) SIG_NAME(USR2)
	SIG_NAME(PIPE) SIG_NAME(ALRM) SIG_NAME(TERM) SIG_NAME(CHLD) SIG_NAME(CONT) SIG_NAME(STOP)
	SIG_NAME(TSTP) SIG_NAME(TTIN) SIG_NAME(TTOU) SIG_NAME(URG) SIG_NAME(XCPU) SIG_NAME(XFSZ)
	SIG_NAME(VTALRM) SIG_NAME(PROF) SIG_NAME(WINCH) SIG_NAME(SYS)
#ifdef SIGPOLL /* glibc's name for SIGIO's number */
	SIG_NAME(POLL)
#else
	SIG_NAME(IO)
#endif
#ifdef SIGSTKFLT
	SIG_NAME(STKFLT)
#endif
#if defined(SIGPWR) && SIGPWR != SIGSYS
	SIG_NAME(PWR)
#endif
#undef SIG_NAME
	default:
		return "?";
	}
}

static void report_stop(struct rap_core *c, struct rap_dbg *d, const struct rap_dbg_stop *st)
{
	int pid = (int)rap_dbg_pid(d);
	switch (st->kind) {
	case RAP_DBG_STOP_EXITED:
		fprintf(c->out, "(%d) Process exited with status=0x%x\n", pid, (unsigned)st->status);
		return;
	case RAP_DBG_STOP_KILLED:
		fprintf(c->out, "(%d) Process killed by signal %d (%s)\n", pid, st->signo, signal_abbrev(st->signo));
		return;
	case RAP_DBG_STOP_SIGNAL:
		/* radare2's line, on its error stream, from the signal's siginfo. */
		fprintf(c->err, "[+] SIGNAL %d errno=%d addr=0x%08" PRIx64 " code=%d si_pid=%d ret=0\n", st->signo,
			st->sig_errno, st->sig_addr, st->sig_code, st->sig_pid);
		break;
	case RAP_DBG_STOP_INTERRUPTED:
		fprintf(c->err, "INFO: interrupted at 0x%08" PRIx64 "\n", st->pc);
		break;
	case RAP_DBG_STOP_STEP:
	case RAP_DBG_STOP_BREAKPOINT:
		break;
	}
	c->off = st->pc;
}

/* ---- dr ----------------------------------------------------------------------------- */

static int cmd_dr(struct rap_core *c, const char *word, char *args)
{
	bool unpadded = word[2] == '?'; /* "dr?rip" */
	if (unpadded)
		args = rap__core_trim((char *)word + 3);
	struct rap_dbg *d = rap__core_debug_need(c, "dr", false);
	if (!d)
		return RAP_EBADFD;
	const struct rap_dbg_arch *a = rap_dbg_arch(d);
	if (!*args) {
		for (size_t i = 0; i < a->nregs; i++) {
			if (!a->regs[i].in_dr)
				continue;
			uint64_t v;
			int rc = rap_dbg_reg_get(d, a->regs[i].name, &v);
			if (rc < 0)
				return backend_error(c, "dr", rc);
			fprintf(c->out, "%s = 0x%08" PRIx64 "\n", a->regs[i].name, v);
		}
		return 0;
	}
	char *eq = strchr(args, '=');
	if (eq) {
		*eq = '\0';
		char *name = rap__core_trim(args);
		char *expr = rap__core_trim(eq + 1);
		const struct rap_dbg_reg *r = rap_dbg_arch_reg(a, name);
		if (!r || r->bits > 64) {
			rap__core_errorf(c, "'dr': unknown register '%s' (see 'dr' for the names)", name);
			return RAP_EINVAL;
		}
		uint64_t v;
		if (arg_value(c, "dr", expr, &v) < 0)
			return RAP_EINVAL;
		int rc = rap_dbg_reg_set(d, name, v);
		return rc < 0 ? backend_error(c, "dr", rc) : 0;
	}
	const struct rap_dbg_reg *r = rap_dbg_arch_reg(a, args);
	if (!r || r->bits > 64) {
		rap__core_errorf(c, "'dr': unknown register '%s' (see 'dr' for the names)", args);
		return RAP_EINVAL;
	}
	uint64_t v;
	int rc = rap_dbg_reg_get(d, args, &v);
	if (rc < 0)
		return backend_error(c, "dr", rc);
	fprintf(c->out, unpadded ? "0x%" PRIx64 "\n" : "0x%08" PRIx64 "\n", v);
	return 0;
}

static int cmd_drj(struct rap_core *c)
{
	struct rap_dbg *d = rap__core_debug_need(c, "drj", false);
	if (!d)
		return RAP_EBADFD;
	const struct rap_dbg_arch *a = rap_dbg_arch(d);
	const char *sep = "{";
	for (size_t i = 0; i < a->nregs; i++) {
		if (!a->regs[i].in_dr)
			continue;
		uint64_t v;
		int rc = rap_dbg_reg_get(d, a->regs[i].name, &v);
		if (rc < 0)
			return backend_error(c, "drj", rc);
		fprintf(c->out, "%s\"%s\":%" PRIu64, sep, a->regs[i].name, v);
		sep = ",";
	}
	fputs("}\n", c->out);
	return 0;
}

static int cmd_drp(struct rap_core *c)
{
	struct rap_dbg *d = rap__core_debug_need(c, "drp", true);
	if (!d)
		return RAP_EBADFD;
	static const struct {
		enum rap_dbg_role role;
		const char *alias;
	} roles[] = {
		{ RAP_DBG_ROLE_PC, "PC" }, { RAP_DBG_ROLE_SP, "SP" }, { RAP_DBG_ROLE_BP, "BP" },
		{ RAP_DBG_ROLE_R0, "R0" }, { RAP_DBG_ROLE_A0, "A0" }, { RAP_DBG_ROLE_A1, "A1" },
		{ RAP_DBG_ROLE_A2, "A2" }, { RAP_DBG_ROLE_A3, "A3" }, { RAP_DBG_ROLE_A4, "A4" },
		{ RAP_DBG_ROLE_A5, "A5" }, { RAP_DBG_ROLE_SN, "SN" },
	};
	const struct rap_dbg_arch *a = rap_dbg_arch(d);
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		const struct rap_dbg_reg *r = rap_dbg_arch_role(a, roles[i].role);
		/* Where the return value shares the first argument's register (arm). */
		if (!r && roles[i].role == RAP_DBG_ROLE_R0)
			r = rap_dbg_arch_role(a, RAP_DBG_ROLE_A0);
		if (r)
			fprintf(c->out, "=%s\t%s\n", roles[i].alias, r->name);
	}
	if (a->profile_note)
		fprintf(c->out, "%s\n", a->profile_note);
	return 0;
}

/* ---- running ------------------------------------------------------------------------ */

/* Watches the core's interrupt flag (set by a signal handler: Ctrl-C) and, in a served
 * core, whether the client is still there (a vanished client cancels its command) while a
 * continue runs, and interrupts the process from this thread (rap_dbg_interrupt takes a
 * lock, so a signal handler cannot call it). */
struct watch {
	struct rap_core *c;
	struct rap_dbg *d;
	atomic_bool done;
};

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	while (!atomic_load(&w->done)) {
		if (rap__core_interrupted(w->c))
			rap_dbg_interrupt(w->d);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* rap_dbg_cont, interruptible by rap_core_interrupt. */
static int cont(struct rap_core *c, struct rap_dbg *d, struct rap_dbg_stop *st)
{
	struct watch w = { .c = c, .d = d };
	atomic_init(&w.done, false);
	pthread_t t;
	bool watching = pthread_create(&t, NULL, watch_main, &w) == 0;
	int rc = rap_dbg_cont(d, 0, st);
	atomic_store(&w.done, true);
	if (watching)
		pthread_join(t, NULL);
	return rc;
}

static int count_arg(struct rap_core *c, const char *cmd, const char *args, uint64_t *n)
{
	*n = 1;
	if (!*args)
		return 0;
	if (arg_value(c, cmd, args, n) < 0)
		return RAP_EINVAL;
	if (*n > STEPS_MAX) {
		rap__core_errorf(c, "'%s': at most %u steps at once", cmd, STEPS_MAX);
		return RAP_EINVAL;
	}
	return 0;
}

static int cmd_ds(struct rap_core *c, char *args)
{
	struct rap_dbg *d = rap__core_debug_need(c, "ds", false);
	uint64_t n;
	if (!d)
		return RAP_EBADFD;
	if (count_arg(c, "ds", args, &n) < 0)
		return RAP_EINVAL;
	for (uint64_t i = 0; i < n && !rap__core_interrupted(c); i++) {
		struct rap_dbg_stop st = { 0 };
		int rc = rap_dbg_step(d, &st);
		if (rc < 0)
			return backend_error(c, "ds", rc);
		report_stop(c, d, &st);
		if (st.kind != RAP_DBG_STOP_STEP)
			break;
	}
	return 0;
}

/* Continues until addr with a breakpoint there for the time it takes (unless one is
 * there already). */
static int run_until(struct rap_core *c, struct rap_dbg *d, const char *cmd, uint64_t addr,
		     struct rap_dbg_stop *st)
{
	bool mine = false;
	int rc = rap_dbg_bp_add(d, addr);
	if (rc == 0)
		mine = true;
	else if (rc != RAP_EINVAL) /* RAP_EINVAL: one is there already */
		return backend_error(c, cmd, rc);
	rc = cont(c, d, st);
	if (mine && rc != RAP_ECLOSED && !rap_dbg_exited(d))
		(void)rap_dbg_bp_del(d, addr);
	return rc < 0 ? backend_error(c, cmd, rc) : 0;
}

/* Whether the instruction at pc is a call, and its size. Without a disassembler, no. */
static bool call_at(struct rap_core *c, struct rap_dbg *d, uint64_t pc, unsigned *size)
{
	const struct rap__arch *a = rap__arch_find(c->vars[RAP__VAR_ASM_ARCH]);
	struct rap__disasm *dis;
	unsigned bits = (unsigned)strtoul(c->vars[RAP__VAR_ASM_BITS], NULL, 10);
	if (!a || rap__disasm_new(a, bits, false, &dis) < 0)
		return false;
	uint8_t buf[RAP__INSN_BYTES];
	ssize_t n = rap_dbg_read(d, pc, buf, sizeof(buf));
	struct rap__insn insn;
	bool call = false;
	if (n > 0) {
		rap__disasm_decode(dis, pc, buf, (size_t)n, (size_t)n, &insn);
		call = insn.kind == RAP__INSN_OK && insn.flow == RAP__FLOW_CALL;
		*size = insn.size;
	}
	rap__disasm_free(dis);
	return call;
}

static int cmd_dso(struct rap_core *c, char *args)
{
	struct rap_dbg *d = rap__core_debug_need(c, "dso", false);
	uint64_t n;
	if (!d)
		return RAP_EBADFD;
	if (count_arg(c, "dso", args, &n) < 0)
		return RAP_EINVAL;
	for (uint64_t i = 0; i < n && !rap__core_interrupted(c); i++) {
		uint64_t pc;
		int rc = rap_dbg_reg_get(d, pc_name(d), &pc);
		if (rc < 0)
			return backend_error(c, "dso", rc);
		unsigned size = 0;
		struct rap_dbg_stop st = { 0 };
		bool over = call_at(c, d, pc, &size);
		if (over) {
			rc = run_until(c, d, "dso", pc + size, &st);
			if (rc < 0)
				return rc;
		} else {
			rc = rap_dbg_step(d, &st);
			if (rc < 0)
				return backend_error(c, "dso", rc);
		}
		report_stop(c, d, &st);
		/* Stepping over a call ends at the instruction after it; anything else (another
		 * breakpoint inside the call, a signal, the end) stops the count. */
		bool stepped = over ? st.kind == RAP_DBG_STOP_BREAKPOINT && st.pc == pc + size
				    : st.kind == RAP_DBG_STOP_STEP;
		if (!stepped)
			break;
	}
	return 0;
}

static int cmd_dc(struct rap_core *c, char *args)
{
	if (*args) {
		rap__core_errorf(c, "'dc %s': not supported (rap debugs one process per file; 'dc' continues it)", args);
		return RAP_ENOTSUP;
	}
	struct rap_dbg *d = rap__core_debug_need(c, "dc", false);
	if (!d)
		return RAP_EBADFD;
	struct rap_dbg_stop st = { 0 };
	int rc = cont(c, d, &st);
	if (rc == RAP_ECLOSED)
		return rc; /* the file was closed meanwhile: d is gone */
	if (rc < 0)
		return backend_error(c, "dc", rc);
	report_stop(c, d, &st);
	return 0;
}

static int cmd_dcu(struct rap_core *c, char *args)
{
	if (!*args) {
		rap__core_errorf(c, "missing argument for 'dcu' (see 'dc?')");
		return RAP_EINVAL;
	}
	struct rap_dbg *d = rap__core_debug_need(c, "dcu", false);
	uint64_t addr;
	if (!d)
		return RAP_EBADFD;
	if (arg_value(c, "dcu", args, &addr) < 0)
		return RAP_EINVAL;
	fprintf(c->err, "INFO: Continue until 0x%08" PRIx64 " using %zu bpsize\n", addr, (size_t)1);
	struct rap_dbg_stop st = { 0 };
	int rc = run_until(c, d, "dcu", addr, &st);
	if (rc < 0)
		return rc;
	report_stop(c, d, &st);
	return 0;
}

/* ---- breakpoints -------------------------------------------------------------------- */

#define BP_LIST_MAX 256

static int bp_list(struct rap_core *c, struct rap_dbg *d)
{
	uint64_t addrs[BP_LIST_MAX];
	size_t n = rap_dbg_bp_list(d, addrs, BP_LIST_MAX);
	if (n > BP_LIST_MAX)
		n = BP_LIST_MAX;
	for (size_t i = 0; i < n; i++) {
		char module[256];
		rap__core_debug_module(d, addrs[i], module, sizeof(module));
		/* rap has no symbols: the name is the address (radare2 shows a flag there). */
		fprintf(c->out, "0x%08" PRIx64 " - 0x%08" PRIx64 " 1 --x sw break enabled valid name=\"0x%" PRIx64
			"\" module=\"%s\"\n", addrs[i], addrs[i] + 1, addrs[i], module);
	}
	return 0;
}

static int cmd_db(struct rap_core *c, char *args)
{
	struct rap_dbg *d = rap__core_debug_need(c, "db", false);
	if (!d)
		return RAP_EBADFD;
	if (!*args)
		return bp_list(c, d);
	if (args[0] == '-') {
		char *what = rap__core_trim(args + 1);
		if (!strcmp(what, "*")) {
			uint64_t addrs[BP_LIST_MAX];
			size_t n;
			/* Bounded: every round removes what it lists. */
			for (unsigned round = 0; round < 64 && (n = rap_dbg_bp_list(d, addrs, BP_LIST_MAX)) > 0; round++)
				for (size_t i = 0; i < n && i < BP_LIST_MAX; i++)
					(void)rap_dbg_bp_del(d, addrs[i]);
			return 0;
		}
		uint64_t addr;
		if (arg_value(c, "db-", what, &addr) < 0)
			return RAP_EINVAL;
		int rc = rap_dbg_bp_del(d, addr);
		if (rc == RAP_EINVAL) {
			rap__core_errorf(c, "'db-': no breakpoint at 0x%" PRIx64, addr);
			return rc;
		}
		return rc < 0 ? backend_error(c, "db-", rc) : 0;
	}
	uint64_t addr;
	if (arg_value(c, "db", args, &addr) < 0)
		return RAP_EINVAL;
	int rc = rap_dbg_bp_add(d, addr);
	if (rc == RAP_EINVAL) {
		rap__core_errorf(c, "'db': a breakpoint at or next to 0x%" PRIx64 " exists already", addr);
		return rc;
	}
	if (rc == -EFAULT) {
		rap__core_errorf(c, "'db': cannot write a breakpoint at 0x%" PRIx64 " (unmapped)", addr);
		return rc;
	}
	return rc < 0 ? backend_error(c, "db", rc) : 0;
}

/* ---- signals ------------------------------------------------------------------------ */

static int cmd_dk(struct rap_core *c, char *args)
{
	struct rap_dbg *d = rap__core_debug_need(c, "dk", false);
	uint64_t sig = SIGKILL;
	if (!d)
		return RAP_EBADFD;
	if (*args && arg_value(c, "dk", args, &sig) < 0)
		return RAP_EINVAL;
	if (sig == 0 || sig > 64) {
		rap__core_errorf(c, "'dk': invalid signal %" PRIu64 " (1 to 64)", sig);
		return RAP_EINVAL;
	}
	int rc = rap_dbg_kill(d, (int)sig);
	return rc < 0 ? backend_error(c, "dk", rc) : 0;
}

/* ---- dispatch ----------------------------------------------------------------------- */

bool rap__core_debug_is_help(const char *text)
{
	size_t wl = strcspn(text, " \t");
	if (text[0] != 'd' || wl == 0)
		return false;
	/* "dr?rip" reads a register (radare2's spelling); "dr?" and "ds?" are help. */
	if (!strncmp(text, "dr?", 3) && wl > 3)
		return false;
	return text[wl - 1] == '?';
}

static int dispatch(struct rap_core *c, char *text);

int rap__core_cmd_debug(struct rap_core *c, const char *name, char *text)
{
	(void)name;
	bool help = rap__core_debug_is_help(text);
	int rc = dispatch(c, text);
	/* A step, a continue, a breakpoint or a signal changes the process's memory, also
	 * for reads later in the same line or on other threads sharing the IO. */
	if (!help) {
		if (c->fd >= 0)
			(void)rap_io_cache_invalidate(c->io, c->fd);
		rap_io_cache_invalidate_volatile(c->io);
	}
	return rc;
}

static int dispatch(struct rap_core *c, char *text)
{
	/* Glued forms first, whatever their length: "db-0x00007f0000001000", "db-*". */
	if (!strncmp(text, "db-", 3))
		return cmd_db(c, text + 2);
	size_t wl = strcspn(text, " \t");
	char word[64];
	if (wl >= sizeof(word)) {
		rap__core_errorf(c, "unknown command '%.*s'", (int)wl, text);
		return RAP_ENOTSUP;
	}
	memcpy(word, text, wl);
	word[wl] = '\0';
	char *args = rap__core_trim(text + wl);
	if (rap__core_debug_is_help(text)) {
		size_t fl = wl;
		while (fl && word[fl - 1] == '?')
			fl--;
		word[fl] = '\0';
		rap__core_debug_help(c, word);
		return 0;
	}
	if (!strncmp(word, "dr?", 3)) /* "dr?rip" */
		return cmd_dr(c, text, args);
	if (!strcmp(word, "dr"))
		return cmd_dr(c, word, args);
	if (!strcmp(word, "drj"))
		return cmd_drj(c);
	if (!strcmp(word, "drp"))
		return cmd_drp(c);
	if (!strcmp(word, "ds"))
		return cmd_ds(c, args);
	if (!strcmp(word, "dso"))
		return cmd_dso(c, args);
	if (!strcmp(word, "dc"))
		return cmd_dc(c, args);
	if (!strcmp(word, "dcu"))
		return cmd_dcu(c, args);
	if (!strcmp(word, "db"))
		return cmd_db(c, args);
	if (!strcmp(word, "dk"))
		return cmd_dk(c, args);
	if (!strcmp(word, "dp") || !strcmp(word, "dm") || !strcmp(word, "dbt")) {
		struct rap_dbg *d = rap__core_debug_need(c, word, word[1] == 'p');
		if (!d)
			return RAP_EBADFD;
		return word[1] == 'p' ? rap__core_debug_dp(c, d)
		       : word[1] == 'm' ? rap__core_debug_dm(c, d) : rap__core_debug_dbt(c, d);
	}
	rap__core_errorf(c, "'%s': not supported by rap's debugger (see 'd?')", word);
	return RAP_ENOTSUP;
}
