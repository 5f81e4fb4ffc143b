/* The debugging backend (rap/dbg.h): one traced process and the tracer thread that issues
 * every ptrace and waitpid call on it. API calls post a function to the tracer thread and
 * wait for its answer; memory reads and maps use process_vm_readv and /proc from the
 * caller's thread (they need no tracer). Architecture specifics come from dbg_arch_*.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <elf.h>

#include <rap/dbg.h>

#include "common.h"
#include "dbg_private.h"

#if !defined(__x86_64__) && !defined(__aarch64__) && !defined(__arm__)
struct rap__dbg_arch *rap__dbg_arch_host_table(void)
{
	return NULL;
}
#endif

#define BP_MAX 256
#define REGSET_MAX 1024 /* bytes: larger than any register set used here */

struct dbg_bp {
	uint64_t addr;
	uint8_t orig[8]; /* the bytes the breakpoint instruction replaced */
};

/* A function to run on the tracer thread, and its answer. */
struct dbg_req {
	int (*fn)(struct rap_dbg *d, void *arg);
	void *arg;
	int rc;
	bool done;
	bool end; /* the last request: the thread exits after answering it */
};

struct rap_dbg {
	const struct rap__dbg_arch *arch; /* static */
	pid_t pid;
	bool started;
	pthread_t thread;
	bool thread_running;

	pthread_mutex_t call_mu; /* one request at a time */
	pthread_mutex_t mu;      /* everything below */
	pthread_cond_t cv;       /* a request posted or answered, callers changed */
	struct dbg_req *req;     /* posted, not yet answered; NULL when none (borrowed) */
	unsigned callers;        /* API calls in progress */
	bool closing;            /* rap_dbg_free has begun */
	bool running;            /* a PTRACE_CONT is waiting for its stop */
	bool interrupt_sent;     /* rap_dbg_interrupt sent SIGSTOP during this cont */
	bool gone;               /* exited or killed, reaped */
	struct rap_dbg_stop last;
	struct dbg_bp bps[BP_MAX]; /* sorted by address; changed on the tracer thread */
	size_t nbps;

	/* Tracer thread only. */
	bool swallow_stop; /* a late interrupt's SIGSTOP is queued: ignore it once */
	int pending_sig;   /* the signal of the last stop, delivered on the next run */
};

/* ---- the tracer thread -------------------------------------------------------------- */

static void *tracer_main(void *arg)
{
	struct rap_dbg *d = arg;
	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (!d->req)
			pthread_cond_wait(&d->cv, &d->mu);
		struct dbg_req *r = d->req;
		pthread_mutex_unlock(&d->mu);
		int rc = r->fn(d, r->arg);
		pthread_mutex_lock(&d->mu);
		r->rc = rc;
		r->done = true;
		d->req = NULL;
		pthread_cond_broadcast(&d->cv);
		if (r->end)
			break;
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* Counts an API call in; fails once rap_dbg_free has begun (unless end). */
static int enter(struct rap_dbg *d, bool end)
{
	pthread_mutex_lock(&d->mu);
	if (d->closing && !end) {
		pthread_mutex_unlock(&d->mu);
		return RAP_ECLOSED;
	}
	d->callers++;
	pthread_mutex_unlock(&d->mu);
	return 0;
}

static void leave(struct rap_dbg *d)
{
	pthread_mutex_lock(&d->mu);
	d->callers--;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* Runs fn(d, arg) on the tracer thread and returns its result. */
static int call_locked(struct rap_dbg *d, int (*fn)(struct rap_dbg *, void *), void *arg, bool end)
{
	struct dbg_req r = {.fn = fn, .arg = arg, .end = end};
	pthread_mutex_lock(&d->call_mu);
	pthread_mutex_lock(&d->mu);
	if (d->closing && !end) {
		pthread_mutex_unlock(&d->mu);
		pthread_mutex_unlock(&d->call_mu);
		return RAP_ECLOSED;
	}
	/* The tracer thread takes r and sets d->req back to NULL before it marks r done, which
	 * this frame waits for: r outlives every use of the pointer. */
	d->req = &r; /* cppcheck-suppress autoVariables */
	pthread_cond_broadcast(&d->cv);
	while (!r.done)
		pthread_cond_wait(&d->cv, &d->mu);
	pthread_mutex_unlock(&d->mu);
	pthread_mutex_unlock(&d->call_mu);
	return r.rc;
}

static int call(struct rap_dbg *d, int (*fn)(struct rap_dbg *, void *), void *arg)
{
	if (!d)
		return RAP_EINVAL;
	int rc = enter(d, false);
	if (rc < 0)
		return rc;
	rc = call_locked(d, fn, arg, false);
	leave(d);
	return rc;
}

static bool is_gone(struct rap_dbg *d)
{
	pthread_mutex_lock(&d->mu);
	bool g = d->gone;
	pthread_mutex_unlock(&d->mu);
	return g;
}

/* ---- registers (tracer thread) ------------------------------------------------------ */

static int regset_get(struct rap_dbg *d, enum rap__dbg_regset set, uint8_t *buf, size_t size)
{
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	int type = set == RAP__DBG_SET_GPR ? NT_PRSTATUS : NT_FPREGSET;
	if (ptrace(PTRACE_GETREGSET, d->pid, (void *)(uintptr_t)type, &iov) < 0)
		return -errno;
	return 0;
}

static int regset_set(struct rap_dbg *d, enum rap__dbg_regset set, uint8_t *buf, size_t size)
{
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	int type = set == RAP__DBG_SET_GPR ? NT_PRSTATUS : NT_FPREGSET;
	if (ptrace(PTRACE_SETREGSET, d->pid, (void *)(uintptr_t)type, &iov) < 0)
		return -errno;
	return 0;
}

static size_t set_size(const struct rap__dbg_arch *a, enum rap__dbg_regset set)
{
	return set == RAP__DBG_SET_GPR ? a->gpr_size : a->fpr_size;
}

/* Copies register i's value out of its set into out (bits/8 bytes, zero-extended). */
static void loc_load(const struct rap__dbg_arch *a, size_t i, const uint8_t *set, uint8_t *out)
{
	size_t width = a->pub.regs[i].bits / 8;
	const struct rap__dbg_loc *l = &a->locs[i];
	memset(out, 0, width);
	memcpy(out, set + l->off, l->size < width ? l->size : width);
}

static void loc_store(const struct rap__dbg_arch *a, size_t i, uint8_t *set, const uint8_t *in)
{
	size_t width = a->pub.regs[i].bits / 8;
	const struct rap__dbg_loc *l = &a->locs[i];
	memset(set + l->off, 0, l->size);
	memcpy(set + l->off, in, l->size < width ? l->size : width);
}

static int pc_index(const struct rap__dbg_arch *a)
{
	for (size_t i = 0; i < a->pub.nregs; i++)
		if (a->pub.regs[i].role == RAP_DBG_ROLE_PC)
			return (int)i;
	return -1;
}

/* Register i as a number (at most 64 bits wide). */
static int reg_read(struct rap_dbg *d, size_t i, uint64_t *val)
{
	const struct rap__dbg_arch *a = d->arch;
	uint8_t set[REGSET_MAX];
	enum rap__dbg_regset which = a->locs[i].set;
	int rc = regset_get(d, which, set, set_size(a, which));
	if (rc < 0)
		return rc;
	uint8_t v[16];
	loc_load(a, i, set, v);
	uint64_t x = 0;
	for (size_t b = a->pub.regs[i].bits / 8; b-- > 0;)
		x = (x << 8) | v[b];
	*val = x;
	return 0;
}

static int reg_write(struct rap_dbg *d, size_t i, uint64_t val)
{
	const struct rap__dbg_arch *a = d->arch;
	uint8_t set[REGSET_MAX];
	enum rap__dbg_regset which = a->locs[i].set;
	size_t size = set_size(a, which);
	int rc = regset_get(d, which, set, size);
	if (rc < 0)
		return rc;
	uint8_t v[16] = {0};
	for (size_t b = 0; b < a->pub.regs[i].bits / 8 && b < 8; b++)
		v[b] = (uint8_t)(val >> (8 * b));
	loc_store(a, i, set, v);
	return regset_set(d, which, set, size);
}

static int pc_get(struct rap_dbg *d, uint64_t *pc)
{
	int i = pc_index(d->arch);
	return i < 0 ? RAP_ENOTSUP : reg_read(d, (size_t)i, pc);
}

static int pc_set(struct rap_dbg *d, uint64_t pc)
{
	int i = pc_index(d->arch);
	return i < 0 ? RAP_ENOTSUP : reg_write(d, (size_t)i, pc);
}

/* ---- memory ------------------------------------------------------------------------- */

/* process_vm_readv page by page (a partial transfer never splits an iovec), so the read
 * stops exactly at the first unmapped page. Any thread. */
static ssize_t raw_read(pid_t pid, uint64_t addr, uint8_t *buf, size_t len)
{
	enum { CHUNK = 64 };
	const uint64_t page = 4096;
	size_t done = 0;
	while (done < len) {
		struct iovec remote[CHUNK];
		size_t n = 0, want = 0;
		uint64_t at = addr + done;
		while (n < CHUNK && done + want < len) {
			uint64_t a = at + want;
			size_t piece = (size_t)(page - (a % page));
			if (piece > len - done - want)
				piece = len - done - want;
			remote[n].iov_base = (void *)(uintptr_t)a;
			remote[n].iov_len = piece;
			want += piece;
			n++;
		}
		struct iovec local = {.iov_base = buf + done, .iov_len = want};
		ssize_t got = process_vm_readv(pid, &local, 1, remote, (unsigned long)n, 0);
		if (got < 0) {
			if (errno == EFAULT || errno == EIO || errno == ENOMEM)
				break; /* the first page of this batch is unmapped */
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)got;
		if ((size_t)got < want)
			break;
	}
	return (ssize_t)done;
}

/* Writes with PTRACE_POKEDATA (also into read-only code, as a debugger must), word by word;
 * stops at the first word it cannot read or write. Tracer thread. */
static ssize_t raw_write(struct rap_dbg *d, uint64_t addr, const uint8_t *buf, size_t len)
{
	const size_t w = sizeof(long);
	size_t done = 0;
	while (done < len) {
		uint64_t at = addr + done;
		uint64_t base = at - (at % w);
		size_t skip = (size_t)(at - base);
		size_t n = w - skip;
		if (n > len - done)
			n = len - done;
		long word;
		if (skip || n < w) {
			errno = 0;
			word = ptrace(PTRACE_PEEKDATA, d->pid, (void *)(uintptr_t)base, NULL);
			if (errno)
				return errno == ESRCH ? -ESRCH : (ssize_t)done;
		}
		memcpy((uint8_t *)&word + skip, buf + done, n);
		if (ptrace(PTRACE_POKEDATA, d->pid, (void *)(uintptr_t)base, (void *)word) < 0)
			return errno == ESRCH ? -ESRCH : (ssize_t)done;
		done += n;
	}
	return (ssize_t)done;
}

/* Puts the original bytes of every breakpoint inside [addr, addr+len) into buf. Under mu. */
static void hide_bps(const struct rap_dbg *d, uint64_t addr, uint8_t *buf, size_t len)
{
	size_t bl = d->arch->bp_len;
	for (size_t i = 0; i < d->nbps; i++) {
		for (size_t k = 0; k < bl; k++) {
			uint64_t a = d->bps[i].addr + k;
			if (a >= addr && a - addr < len)
				buf[a - addr] = d->bps[i].orig[k];
		}
	}
}

ssize_t rap_dbg_read(struct rap_dbg *d, uint64_t addr, void *buf, size_t len)
{
	if (!d || (!buf && len))
		return RAP_EINVAL;
	if (len > (uint64_t)UINT64_MAX - addr)
		len = (size_t)(UINT64_MAX - addr);
	int rc = enter(d, false);
	if (rc < 0)
		return rc;
	ssize_t n;
	if (is_gone(d)) {
		n = -ESRCH;
	} else {
		n = raw_read(d->pid, addr, buf, len);
		if (n > 0 && buf) {
			pthread_mutex_lock(&d->mu);
			hide_bps(d, addr, buf, (size_t)n);
			pthread_mutex_unlock(&d->mu);
		}
	}
	leave(d);
	return n;
}

struct write_args {
	uint64_t addr;
	const uint8_t *buf;
	size_t len;
};

static int do_write(struct rap_dbg *d, void *arg)
{
	struct write_args *w = arg;
	if (d->gone)
		return -ESRCH;
	uint8_t *tmp = rap__malloc(w->len ? w->len : 1);
	if (!tmp)
		return RAP_ENOMEM;
	memcpy(tmp, w->buf, w->len);
	/* Bytes that fall on a breakpoint keep the breakpoint instruction in memory. */
	size_t bl = d->arch->bp_len;
	for (size_t i = 0; i < d->nbps; i++)
		for (size_t k = 0; k < bl; k++) {
			uint64_t a = d->bps[i].addr + k;
			if (a >= w->addr && a - w->addr < w->len)
				tmp[a - w->addr] = d->arch->bp_insn[k];
		}
	ssize_t n = raw_write(d, w->addr, tmp, w->len);
	rap__free(tmp);
	if (n > 0) {
		pthread_mutex_lock(&d->mu);
		for (size_t i = 0; i < d->nbps; i++)
			for (size_t k = 0; k < bl; k++) {
				uint64_t a = d->bps[i].addr + k;
				if (a >= w->addr && a - w->addr < (size_t)n)
					d->bps[i].orig[k] = w->buf[a - w->addr];
			}
		pthread_mutex_unlock(&d->mu);
	}
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

ssize_t rap_dbg_write(struct rap_dbg *d, uint64_t addr, const void *buf, size_t len)
{
	if (!d || (!buf && len) || len > INT32_MAX)
		return RAP_EINVAL;
	if (len > (uint64_t)UINT64_MAX - addr)
		len = (size_t)(UINT64_MAX - addr);
	struct write_args w = {addr, buf, len};
	return call(d, do_write, &w);
}

/* ---- breakpoints -------------------------------------------------------------------- */

static struct dbg_bp *bp_at(struct rap_dbg *d, uint64_t addr)
{
	for (size_t i = 0; i < d->nbps; i++)
		if (d->bps[i].addr == addr)
			return &d->bps[i];
	return NULL;
}

static int do_bp_add(struct rap_dbg *d, void *arg)
{
	uint64_t addr = *(const uint64_t *)arg;
	size_t bl = d->arch->bp_len;
	if (d->gone)
		return -ESRCH;
	if (addr > UINT64_MAX - bl)
		return RAP_EINVAL;
	for (size_t i = 0; i < d->nbps; i++)
		if (d->bps[i].addr < addr + bl && addr < d->bps[i].addr + bl)
			return RAP_EINVAL; /* one there already, or overlapping */
	if (d->nbps == BP_MAX)
		return RAP_ENOSPC;
	struct dbg_bp bp = {.addr = addr};
	if (raw_read(d->pid, addr, bp.orig, bl) != (ssize_t)bl)
		return -EFAULT;
	ssize_t n = raw_write(d, addr, d->arch->bp_insn, bl);
	if (n < 0)
		return (int)n;
	if ((size_t)n != bl) {
		raw_write(d, addr, bp.orig, (size_t)n);
		return -EFAULT;
	}
	pthread_mutex_lock(&d->mu);
	size_t at = 0;
	while (at < d->nbps && d->bps[at].addr < addr)
		at++;
	memmove(&d->bps[at + 1], &d->bps[at], (d->nbps - at) * sizeof(d->bps[0]));
	d->bps[at] = bp;
	d->nbps++;
	pthread_mutex_unlock(&d->mu);
	return 0;
}

/* Restores the original bytes and forgets the breakpoint. Tracer thread. */
static int bp_remove(struct rap_dbg *d, struct dbg_bp *bp)
{
	ssize_t n = d->gone ? 0 : raw_write(d, bp->addr, bp->orig, d->arch->bp_len);
	pthread_mutex_lock(&d->mu);
	size_t at = (size_t)(bp - d->bps);
	memmove(&d->bps[at], &d->bps[at + 1], (d->nbps - at - 1) * sizeof(d->bps[0]));
	d->nbps--;
	pthread_mutex_unlock(&d->mu);
	return n < 0 ? (int)n : 0;
}

static int do_bp_del(struct rap_dbg *d, void *arg)
{
	struct dbg_bp *bp = bp_at(d, *(const uint64_t *)arg);
	if (!bp)
		return RAP_EINVAL;
	return bp_remove(d, bp);
}

int rap_dbg_bp_add(struct rap_dbg *d, uint64_t addr)
{
	return call(d, do_bp_add, &addr);
}

int rap_dbg_bp_del(struct rap_dbg *d, uint64_t addr)
{
	return call(d, do_bp_del, &addr);
}

size_t rap_dbg_bp_list(struct rap_dbg *d, uint64_t *addrs, size_t cap)
{
	if (!d)
		return 0;
	pthread_mutex_lock(&d->mu);
	size_t n = d->nbps;
	for (size_t i = 0; i < n && i < cap; i++)
		addrs[i] = d->bps[i].addr;
	pthread_mutex_unlock(&d->mu);
	return n;
}

/* ---- stops -------------------------------------------------------------------------- */

/* Waits for the process's next stop and describes it. stepping: a PTRACE_SINGLESTEP was
 * issued (a SIGTRAP is its completion). Tracer thread. */
static int wait_stop(struct rap_dbg *d, bool stepping, struct rap_dbg_stop *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned spins = 0;; spins++) {
		int status;
		pid_t r = waitpid(d->pid, &status, __WALL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			pthread_mutex_lock(&d->mu);
			d->running = false;
			d->interrupt_sent = false;
			if (e == -ECHILD)
				d->gone = true;
			pthread_mutex_unlock(&d->mu);
			return e == -ECHILD ? -ESRCH : e;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			st->kind = WIFEXITED(status) ? RAP_DBG_STOP_EXITED : RAP_DBG_STOP_KILLED;
			st->status = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
			st->signo = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
			pthread_mutex_lock(&d->mu);
			d->gone = true;
			d->running = false;
			d->interrupt_sent = false;
			d->last = *st;
			pthread_mutex_unlock(&d->mu);
			return 0;
		}
		if (!WIFSTOPPED(status))
			continue;
		int sig = WSTOPSIG(status);
		if (sig == SIGSTOP && d->swallow_stop && spins < 8) {
			/* The stale SIGSTOP of an interrupt that came too late: resume as asked. */
			d->swallow_stop = false;
			ptrace(stepping ? PTRACE_SINGLESTEP : PTRACE_CONT, d->pid, NULL, NULL);
			continue;
		}
		pthread_mutex_lock(&d->mu);
		bool interrupted = sig == SIGSTOP && d->interrupt_sent;
		if (!interrupted && d->interrupt_sent)
			d->swallow_stop = true;
		d->interrupt_sent = false;
		d->running = false;
		pthread_mutex_unlock(&d->mu);
		uint64_t pc = 0;
		pc_get(d, &pc);
		d->pending_sig = 0;
		if (interrupted) {
			st->kind = RAP_DBG_STOP_INTERRUPTED;
			st->signo = SIGINT;
		} else if (sig == SIGTRAP && stepping) {
			st->kind = RAP_DBG_STOP_STEP;
			st->signo = SIGTRAP;
		} else if (sig == SIGTRAP && pc >= d->arch->pc_after_bp && bp_at(d, pc - d->arch->pc_after_bp)) {
			pc -= d->arch->pc_after_bp;
			pc_set(d, pc);
			st->kind = RAP_DBG_STOP_BREAKPOINT;
			st->signo = SIGTRAP;
		} else {
			st->kind = RAP_DBG_STOP_SIGNAL;
			st->signo = sig & 0x7f;
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			if (ptrace(PTRACE_GETSIGINFO, d->pid, NULL, &si) == 0) {
				st->sig_errno = si.si_errno;
				st->sig_code = si.si_code;
				st->sig_addr = (uint64_t)(uintptr_t)si.si_addr;
				st->sig_pid = si.si_code <= 0 || st->signo == SIGCHLD ? (int)si.si_pid : 0;
			}
			/* A stray trap (an int3 of the program's own) is not delivered: it would
			 * kill the program. Every other signal is, on the next run. */
			if (st->signo != SIGTRAP)
				d->pending_sig = st->signo;
		}
		st->pc = pc;
		pthread_mutex_lock(&d->mu);
		d->last = *st;
		pthread_mutex_unlock(&d->mu);
		return 0;
	}
}

/* Resumes with req (PTRACE_CONT or PTRACE_SINGLESTEP) and waits. A failed resume (the
 * process died meanwhile) still waits: the wait reports how it ended. */
static int resume_wait(struct rap_dbg *d, int req, int sig, struct rap_dbg_stop *st)
{
	if (req == PTRACE_CONT) {
		pthread_mutex_lock(&d->mu);
		if (d->closing) {
			pthread_mutex_unlock(&d->mu);
			return RAP_ECLOSED;
		}
		d->running = true;
		pthread_mutex_unlock(&d->mu);
	}
	if (ptrace(req, d->pid, NULL, (void *)(uintptr_t)sig) < 0 && errno != ESRCH) {
		int e = -errno;
		pthread_mutex_lock(&d->mu);
		d->running = false;
		pthread_mutex_unlock(&d->mu);
		return e;
	}
	return wait_stop(d, req == PTRACE_SINGLESTEP, st);
}

/* One instruction, stepping over a breakpoint at the PC by removing it for the step. */
static int step_once(struct rap_dbg *d, int sig, struct rap_dbg_stop *st)
{
	if (!d->arch->single_step)
		return RAP_ENOTSUP;
	uint64_t pc;
	int rc = pc_get(d, &pc);
	if (rc < 0)
		return rc == -ESRCH ? wait_stop(d, true, st) : rc;
	struct dbg_bp *bp = bp_at(d, pc);
	if (bp && raw_write(d, pc, bp->orig, d->arch->bp_len) < 0)
		return -ESRCH;
	rc = resume_wait(d, PTRACE_SINGLESTEP, sig, st);
	if (bp && !d->gone)
		raw_write(d, pc, d->arch->bp_insn, d->arch->bp_len);
	return rc;
}

struct run_args {
	int sig;
	struct rap_dbg_stop *stop;
};

static int do_step(struct rap_dbg *d, void *arg)
{
	struct run_args *a = arg;
	if (d->gone)
		return -ESRCH;
	int sig = d->pending_sig;
	d->pending_sig = 0;
	return step_once(d, sig, a->stop);
}

static int do_cont(struct rap_dbg *d, void *arg)
{
	struct run_args *a = arg;
	if (d->gone)
		return -ESRCH;
	int sig = a->sig > 0 ? a->sig : a->sig == 0 ? d->pending_sig : 0;
	d->pending_sig = 0;
	uint64_t pc = 0;
	if (pc_get(d, &pc) == 0 && bp_at(d, pc)) {
		int rc = step_once(d, sig, a->stop);
		if (rc < 0 || a->stop->kind != RAP_DBG_STOP_STEP)
			return rc;
		sig = d->pending_sig;
		d->pending_sig = 0;
	}
	int rc = resume_wait(d, PTRACE_CONT, sig, a->stop);
	if (rc == 0) {
		pthread_mutex_lock(&d->mu);
		if (d->closing)
			rc = RAP_ECLOSED;
		pthread_mutex_unlock(&d->mu);
	}
	return rc;
}

int rap_dbg_step(struct rap_dbg *d, struct rap_dbg_stop *stop)
{
	struct rap_dbg_stop ignored;
	struct run_args a = {0, stop ? stop : &ignored};
	return call(d, do_step, &a);
}

int rap_dbg_cont(struct rap_dbg *d, int sig, struct rap_dbg_stop *stop)
{
	if (sig < -1 || sig >= 65)
		return RAP_EINVAL;
	struct rap_dbg_stop ignored;
	struct run_args a = {sig, stop ? stop : &ignored};
	return call(d, do_cont, &a);
}

void rap_dbg_interrupt(struct rap_dbg *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	if (d->running && !d->interrupt_sent && !d->gone) {
		d->interrupt_sent = true;
		kill(d->pid, SIGSTOP);
	}
	pthread_mutex_unlock(&d->mu);
}

int rap_dbg_kill(struct rap_dbg *d, int sig)
{
	if (!d || sig < 0 || sig >= 65)
		return RAP_EINVAL;
	pthread_mutex_lock(&d->mu);
	int rc = d->gone ? -ESRCH : kill(d->pid, sig) < 0 ? -errno : 0;
	pthread_mutex_unlock(&d->mu);
	return rc;
}

void rap_dbg_last_stop(const struct rap_dbg *d, struct rap_dbg_stop *stop)
{
	struct rap_dbg *m = (struct rap_dbg *)d; /* the lock only */
	pthread_mutex_lock(&m->mu);
	*stop = d->last;
	pthread_mutex_unlock(&m->mu);
}

/* ---- registers (API) ---------------------------------------------------------------- */

const struct rap_dbg_reg *rap_dbg_arch_reg(const struct rap_dbg_arch *arch, const char *name)
{
	if (!arch || !name)
		return NULL;
	for (size_t i = 0; i < arch->nregs; i++)
		if (strcmp(arch->regs[i].name, name) == 0)
			return &arch->regs[i];
	for (size_t i = 0; i < arch->nregs; i++)
		if (strcmp(arch->regs[i].gdb_name, name) == 0)
			return &arch->regs[i];
	return NULL;
}

const struct rap_dbg_reg *rap_dbg_arch_role(const struct rap_dbg_arch *arch, enum rap_dbg_role role)
{
	if (!arch || role == RAP_DBG_ROLE_NONE)
		return NULL;
	for (size_t i = 0; i < arch->nregs; i++)
		if (arch->regs[i].role == role)
			return &arch->regs[i];
	return NULL;
}

struct reg_args {
	size_t index;
	uint64_t val;
};

static int do_reg_get(struct rap_dbg *d, void *arg)
{
	struct reg_args *a = arg;
	return d->gone ? -ESRCH : reg_read(d, a->index, &a->val);
}

static int do_reg_set(struct rap_dbg *d, void *arg)
{
	struct reg_args *a = arg;
	return d->gone ? -ESRCH : reg_write(d, a->index, a->val);
}

static int reg_index(const struct rap_dbg *d, const char *name, size_t *index)
{
	const struct rap_dbg_reg *r = d ? rap_dbg_arch_reg(&d->arch->pub, name) : NULL;
	if (!r || r->bits > 64)
		return RAP_EINVAL;
	*index = (size_t)(r - d->arch->pub.regs);
	return 0;
}

int rap_dbg_reg_get(struct rap_dbg *d, const char *name, uint64_t *val)
{
	struct reg_args a = {0};
	int rc = reg_index(d, name, &a.index);
	if (rc < 0 || !val)
		return rc < 0 ? rc : RAP_EINVAL;
	rc = call(d, do_reg_get, &a);
	if (rc == 0)
		*val = a.val;
	return rc;
}

int rap_dbg_reg_set(struct rap_dbg *d, const char *name, uint64_t val)
{
	struct reg_args a = {0, val};
	int rc = reg_index(d, name, &a.index);
	return rc < 0 ? rc : call(d, do_reg_set, &a);
}

struct gdb_args {
	uint8_t *buf; /* at least arch->gdb_regs_size bytes (checked by the callers) */
	bool set;
};

/* The gdb register file: registers in gdb number order, each bits/8 bytes. */
static int do_regs_gdb(struct rap_dbg *d, void *arg)
{
	struct gdb_args *g = arg;
	const struct rap__dbg_arch *a = d->arch;
	if (d->gone)
		return -ESRCH;
	uint8_t gpr[REGSET_MAX], fpr[REGSET_MAX];
	int rc = regset_get(d, RAP__DBG_SET_GPR, gpr, a->gpr_size);
	if (rc == 0 && a->fpr_size)
		rc = regset_get(d, RAP__DBG_SET_FPR, fpr, a->fpr_size);
	if (rc < 0)
		return rc;
	size_t off = 0;
	for (int num = 0; off < a->pub.gdb_regs_size; num++) {
		size_t i = 0;
		while (i < a->pub.nregs && a->pub.regs[i].gdb_num != num)
			i++;
		if (i == a->pub.nregs)
			return RAP_EINVAL; /* a gap in the table: caught by the unit test */
		uint8_t *set = a->locs[i].set == RAP__DBG_SET_GPR ? gpr : fpr;
		size_t width = a->pub.regs[i].bits / 8;
		if (g->set)
			loc_store(a, i, set, g->buf + off);
		else
			loc_load(a, i, set, g->buf + off);
		off += width;
	}
	if (!g->set)
		return (int)off;
	rc = regset_set(d, RAP__DBG_SET_GPR, gpr, a->gpr_size);
	if (rc == 0 && a->fpr_size)
		rc = regset_set(d, RAP__DBG_SET_FPR, fpr, a->fpr_size);
	return rc;
}

ssize_t rap_dbg_regs_gdb_get(struct rap_dbg *d, void *buf, size_t cap)
{
	if (!d || !buf)
		return RAP_EINVAL;
	if (cap < d->arch->pub.gdb_regs_size)
		return RAP_ENOSPC;
	struct gdb_args g = {buf, false};
	return call(d, do_regs_gdb, &g);
}

int rap_dbg_regs_gdb_set(struct rap_dbg *d, const void *buf, size_t len)
{
	if (!d || !buf || len != d->arch->pub.gdb_regs_size)
		return RAP_EINVAL;
	struct gdb_args g = {(uint8_t *)(uintptr_t)buf, true};
	return call(d, do_regs_gdb, &g);
}

/* ---- start, attach, end ------------------------------------------------------------- */

const struct rap_dbg_arch *rap_dbg_host_arch(void)
{
	const struct rap__dbg_arch *a = rap__dbg_arch_host();
	return a ? &a->pub : NULL;
}

const struct rap_dbg_arch *rap_dbg_arch(const struct rap_dbg *d)
{
	return d ? &d->arch->pub : NULL;
}

pid_t rap_dbg_pid(const struct rap_dbg *d)
{
	return d ? d->pid : -1;
}

bool rap_dbg_started(const struct rap_dbg *d)
{
	return d && d->started;
}

bool rap_dbg_exited(const struct rap_dbg *d)
{
	return d ? is_gone((struct rap_dbg *)d) : true;
}

struct start_args {
	int prog_fd;
	const char *const *argv;
	const char *const *envp;
	int out_fd;
};

static const char *const minimal_env[] = {"PATH=/usr/bin:/bin", NULL};

/* The child, between fork and exec: only async-signal-safe calls. Reports a failure as its
 * errno through errfd and exits. */
static void child_exec(const struct start_args *a, pid_t parent, int in_fd, int errfd)
{
	int err = 0;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127); /* the tracer thread is already gone */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < 65; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	if (dup2(in_fd, 0) < 0 || dup2(a->out_fd, 1) < 0 || dup2(a->out_fd, 2) < 0) {
		err = errno;
	} else {
		/* Nothing of the server's but the program itself reaches the program. */
		syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) {
			err = errno;
		} else {
			syscall(SYS_execveat, a->prog_fd, "", a->argv, a->envp ? a->envp : minimal_env,
			        AT_EMPTY_PATH);
			err = errno;
		}
	}
	ssize_t w = write(errfd, &err, sizeof(err));
	(void)w;
	_exit(127);
}

static int do_start(struct rap_dbg *d, void *arg)
{
	struct start_args *a = arg;
	int ep[2], in[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		return -errno;
	/* stdin: /dev/null; where it cannot be opened (a sandbox without it), an empty pipe
	 * whose writer is closed, which reads end of file just the same. */
	in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in[0] < 0) {
		if (pipe2(in, O_CLOEXEC) < 0) {
			int e = -errno;
			close(ep[0]);
			close(ep[1]);
			return e;
		}
		close(in[1]);
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		child_exec(a, parent, in[0], ep[1]);
	int e = pid < 0 ? -errno : 0;
	close(ep[1]);
	close(in[0]);
	if (e < 0) {
		close(ep[0]);
		return e;
	}
	int child_err = 0;
	ssize_t n;
	do
		n = read(ep[0], &child_err, sizeof(child_err));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	d->pid = pid;
	struct rap_dbg_stop st;
	int rc = wait_stop(d, false, &st);
	if (n == (ssize_t)sizeof(child_err)) {
		/* exec failed: the child has exited (or stops in its exit): reap it. */
		while (rc == 0 && !d->gone) {
			kill(pid, SIGKILL);
			rc = wait_stop(d, false, &st);
		}
		return -child_err;
	}
	if (rc < 0)
		return rc;
	if (st.kind != RAP_DBG_STOP_SIGNAL || st.signo != SIGTRAP) {
		if (!d->gone) {
			kill(pid, SIGKILL);
			wait_stop(d, false, &st);
		}
		return -ECHILD;
	}
	d->pending_sig = 0;
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(uintptr_t)(PTRACE_O_EXITKILL));
	return 0;
}

static int do_attach(struct rap_dbg *d, void *arg)
{
	pid_t pid = *(const pid_t *)arg;
	if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0)
		return -errno;
	d->pid = pid;
	struct rap_dbg_stop st;
	int first = 0;
	for (unsigned i = 0; i < 64; i++) {
		int rc = wait_stop(d, false, &st);
		if (rc < 0 || d->gone)
			return rc < 0 ? rc : -ESRCH;
		if (st.kind == RAP_DBG_STOP_SIGNAL && st.signo == SIGSTOP)
			break;
		/* Another signal arrived first: keep the first for the program, wait for ours. Not
		 * a SIGTRAP: attached during its execve, the process gets one after the exec (ptrace's
		 * legacy exec trap) that would kill it if delivered. */
		if (!first && st.signo != SIGTRAP)
			first = st.signo;
		ptrace(PTRACE_CONT, pid, NULL, NULL);
	}
	d->pending_sig = first;
	return 0;
}

/* Ends the process: kills and reaps a started one; removes the breakpoints of an attached
 * one and detaches it. Tracer thread; the thread exits after this. */
static int do_end(struct rap_dbg *d, void *arg)
{
	(void)arg;
	struct rap_dbg_stop st;
	if (d->pid <= 0 || d->gone)
		return 0;
	if (d->started) {
		kill(d->pid, SIGKILL);
		for (unsigned i = 0; i < 64 && !d->gone; i++)
			if (wait_stop(d, false, &st) < 0)
				break;
		return 0;
	}
	while (d->nbps)
		bp_remove(d, &d->bps[d->nbps - 1]);
	ptrace(PTRACE_DETACH, d->pid, NULL, (void *)(uintptr_t)d->pending_sig);
	return 0;
}

/* Makes d with its tracer thread (all signals but faults blocked on it). */
static int dbg_new(struct rap_dbg **out)
{
	const struct rap__dbg_arch *arch = rap__dbg_arch_host();
	if (!arch)
		return RAP_ENOTSUP;
	struct rap_dbg *d = rap__calloc(1, sizeof(*d));
	if (!d)
		return RAP_ENOMEM;
	d->arch = arch;
	d->pid = -1;
	pthread_mutex_init(&d->call_mu, NULL);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&d->thread, NULL, tracer_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&d->cv);
		pthread_mutex_destroy(&d->mu);
		pthread_mutex_destroy(&d->call_mu);
		rap__free(d);
		return RAP_ENOMEM; /* EAGAIN: no thread could be made */
	}
	d->thread_running = true;
	*out = d;
	return 0;
}

void rap_dbg_free(struct rap_dbg *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->closing = true;
	if (d->running && !d->gone) {
		if (d->started) {
			kill(d->pid, SIGKILL);
		} else if (!d->interrupt_sent) {
			d->interrupt_sent = true;
			kill(d->pid, SIGSTOP);
		}
	}
	while (d->callers > 0)
		pthread_cond_wait(&d->cv, &d->mu);
	pthread_mutex_unlock(&d->mu);
	if (d->thread_running) {
		call_locked(d, do_end, NULL, true);
		pthread_join(d->thread, NULL);
	}
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	pthread_mutex_destroy(&d->call_mu);
	rap__free(d);
}

int rap_dbg_start(int prog_fd, const char *const *argv, const struct rap_dbg_start_opts *opts,
                  struct rap_dbg **out)
{
	if (prog_fd < 0 || !argv || !argv[0] || !out)
		return RAP_EINVAL;
	int null_fd = -1;
	struct start_args a = {prog_fd, argv, opts ? opts->envp : NULL, opts ? opts->out_fd : -1};
	if (a.out_fd < 0) {
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null_fd < 0)
			return -errno;
		a.out_fd = null_fd;
	}
	struct rap_dbg *d = NULL;
	int rc = dbg_new(&d);
	if (rc == 0) {
		d->started = true;
		rc = call(d, do_start, &a);
		if (rc < 0)
			rap_dbg_free(d);
		else
			*out = d;
	}
	if (null_fd >= 0)
		close(null_fd);
	return rc;
}

int rap_dbg_attach(pid_t pid, struct rap_dbg **out)
{
	if (pid <= 0 || pid == getpid() || !out)
		return RAP_EINVAL;
	struct rap_dbg *d = NULL;
	int rc = dbg_new(&d);
	if (rc < 0)
		return rc;
	rc = call(d, do_attach, &pid);
	if (rc < 0) {
		d->pid = -1; /* not traced: nothing to end */
		rap_dbg_free(d);
		return rc;
	}
	*out = d;
	return 0;
}
