/* The gdb server's target operations (gdb_session.h) over the debugging backend, rap/dbg.h:
 * each one the backend's function of the same name, t being a struct rap_dbg. */
#include <rap/dbg.h>

#include "gdb_session.h"

static const struct rap_dbg_arch *op_arch(void *t)
{
	return rap_dbg_arch(t);
}

static ssize_t op_read(void *t, uint64_t addr, void *buf, size_t len)
{
	return rap_dbg_read(t, addr, buf, len);
}

static ssize_t op_write(void *t, uint64_t addr, const void *buf, size_t len)
{
	return rap_dbg_write(t, addr, buf, len);
}

static ssize_t op_regs_get(void *t, void *buf, size_t cap)
{
	return rap_dbg_regs_gdb_get(t, buf, cap);
}

static int op_regs_set(void *t, const void *buf, size_t len)
{
	return rap_dbg_regs_gdb_set(t, buf, len);
}

static int op_step(void *t, struct rap_dbg_stop *stop)
{
	return rap_dbg_step(t, stop);
}

static int op_cont(void *t, int sig, struct rap_dbg_stop *stop)
{
	return rap_dbg_cont(t, sig, stop);
}

static void op_interrupt(void *t)
{
	rap_dbg_interrupt(t);
}

static int op_kill(void *t, int sig)
{
	return rap_dbg_kill(t, sig);
}

static int op_bp_add(void *t, uint64_t addr)
{
	return rap_dbg_bp_add(t, addr);
}

static int op_bp_del(void *t, uint64_t addr)
{
	return rap_dbg_bp_del(t, addr);
}

static pid_t op_pid(void *t)
{
	return rap_dbg_pid(t);
}

static bool op_started(void *t)
{
	return rap_dbg_started(t);
}

static bool op_exited(void *t)
{
	return rap_dbg_exited(t);
}

static void op_last_stop(void *t, struct rap_dbg_stop *stop)
{
	rap_dbg_last_stop(t, stop);
}

const struct rap__gdb_target_ops rap__gdb_dbg_ops = {
	.arch = op_arch,
	.read = op_read,
	.write = op_write,
	.regs_get = op_regs_get,
	.regs_set = op_regs_set,
	.step = op_step,
	.cont = op_cont,
	.interrupt = op_interrupt,
	.kill = op_kill,
	.bp_add = op_bp_add,
	.bp_del = op_bp_del,
	.pid = op_pid,
	.started = op_started,
	.exited = op_exited,
	.last_stop = op_last_stop,
};
