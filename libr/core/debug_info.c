/* What the debugger shows about the process: dp (the process), dm (its maps), dbt (its
 * backtrace, by frame pointers), in radare2's layout (test/vectors/r2/debug-session.txt)
 * minus what needs symbols, which rap does not read. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rap/dbg.h>

#include "common.h"
#include "core_private.h"
#include "debug.h"

#define FRAMES_MAX 128

/* Reads a small /proc file of pid into buf (NUL-terminated). Returns bytes read or -errno. */
static ssize_t proc_read(pid_t pid, const char *what, char *buf, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

/* " * PID ppid:PPID uid:UID s CMD": state as radare2 spells it (s stopped or sleeping,
 * r running, z zombie), cmd the program's argv[0]. */
int rap__core_debug_dp(struct rap_core *c, struct rap_dbg *d)
{
	pid_t pid = rap_dbg_pid(d);
	char stat[512], status[2048], cmdline[256];
	if (rap_dbg_exited(d) || proc_read(pid, "stat", stat, sizeof(stat)) <= 0 ||
	    proc_read(pid, "status", status, sizeof(status)) <= 0) {
		rap__core_errorf(c, "'dp': the process %d has ended", (int)pid);
		return RAP_EBADFD;
	}
	ssize_t cl = proc_read(pid, "cmdline", cmdline, sizeof(cmdline));
	if (cl <= 0)
		snprintf(cmdline, sizeof(cmdline), "?");
	const char *rp = strrchr(stat, ')');
	char state = '?';
	int ppid = 0;
	if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
		state = '?';
	const char *u = strstr(status, "\nUid:");
	unsigned uid = u ? (unsigned)strtoul(u + 5, NULL, 10) : 0;
	char s = state == 'R' ? 'r' : state == 'Z' ? 'z' : 's';
	fprintf(c->err, "INFO: Selected: %d %d\n", (int)pid, (int)pid);
	fprintf(c->out, " * %d ppid:%d uid:%u %c %s\n", (int)pid, ppid, uid, s, cmdline);
	return 0;
}

/* radare2's size units: 4096 -> "4K", 1536 -> "1.5K". */
static void units(uint64_t n, char *buf, size_t cap)
{
	static const char suffix[] = "KMGT";
	if (n < 1024) {
		snprintf(buf, cap, "%" PRIu64, n);
		return;
	}
	double v = (double)n / 1024;
	size_t i = 0;
	while (v >= 1024 && i + 1 < sizeof(suffix) - 1) {
		v /= 1024;
		i++;
	}
	if (v == (double)(uint64_t)v)
		snprintf(buf, cap, "%" PRIu64 "%c", (uint64_t)v, suffix[i]);
	else
		snprintf(buf, cap, "%.1f%c", v, suffix[i]);
}

int rap__core_debug_dm(struct rap_core *c, struct rap_dbg *d)
{
	struct rap_dbg_map *m;
	size_t n;
	int rc = rap_dbg_maps(d, &m, &n);
	if (rc < 0) {
		rap__core_errorf(c, "'dm' failed: %s", rap_strerror(rc));
		return rc;
	}
	uint64_t pc = 0;
	const struct rap_dbg_reg *pcr = rap_dbg_arch_role(rap_dbg_arch(d), RAP_DBG_ROLE_PC);
	if (pcr)
		(void)rap_dbg_reg_get(d, pcr->name, &pc);
	for (size_t i = 0; i < n; i++) {
		char size[16], perm[4] = { m[i].perm[0], m[i].perm[1], m[i].perm[2], 0 };
		units(m[i].end - m[i].start, size, sizeof(size));
		bool here = pc >= m[i].start && pc < m[i].end;
		fprintf(c->out, "0x%016" PRIx64 " - 0x%016" PRIx64 " %c usr %6s s %s %s %s\n", m[i].start, m[i].end,
			here ? '*' : '-', size, perm, m[i].name, m[i].name);
	}
	rap_dbg_maps_free(m, n);
	return 0;
}

void rap__core_debug_module(struct rap_dbg *d, uint64_t addr, char *buf, size_t cap)
{
	struct rap_dbg_map *m;
	size_t n;
	if (cap)
		buf[0] = '\0';
	if (!cap || rap_dbg_maps(d, &m, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (addr < m[i].start || addr >= m[i].end || m[i].name[0] != '/')
			continue;
		size_t k = 0;
		for (const char *p = m[i].name; *p && k + 1 < cap; p++)
			buf[k++] = isalnum((unsigned char)*p) || *p == '.' || *p == '_' ? *p : '_';
		buf[k] = '\0';
		break;
	}
	rap_dbg_maps_free(m, n);
}

static bool read_word(struct rap_dbg *d, uint64_t addr, unsigned bytes, uint64_t *v)
{
	uint8_t b[8] = { 0 };
	if (rap_dbg_read(d, addr, b, bytes) != (ssize_t)bytes)
		return false;
	uint64_t x = 0;
	for (unsigned i = bytes; i-- > 0;)
		x = x << 8 | b[i];
	*v = x;
	return true;
}

/* Frame 0 is the PC; each next one is the return address saved above the frame pointer
 * chain (x86-64 push rbp; mov rbp, rsp). Code built without frame pointers ends the walk
 * early. Columns as radare2's: index, pc, sp, the frame's size. */
int rap__core_debug_dbt(struct rap_core *c, struct rap_dbg *d)
{
	const struct rap_dbg_arch *a = rap_dbg_arch(d);
	const struct rap_dbg_reg *pcr = rap_dbg_arch_role(a, RAP_DBG_ROLE_PC);
	const struct rap_dbg_reg *spr = rap_dbg_arch_role(a, RAP_DBG_ROLE_SP);
	const struct rap_dbg_reg *bpr = rap_dbg_arch_role(a, RAP_DBG_ROLE_BP);
	uint64_t pc, sp, fp;
	if (!pcr || !spr || !bpr || rap_dbg_reg_get(d, pcr->name, &pc) < 0 || rap_dbg_reg_get(d, spr->name, &sp) < 0 ||
	    rap_dbg_reg_get(d, bpr->name, &fp) < 0) {
		rap__core_errorf(c, "'dbt': cannot read the registers");
		return RAP_EINVAL;
	}
	unsigned w = a->pc_bits / 8;
	uint64_t prev_sp = sp;
	for (unsigned i = 0; i < FRAMES_MAX; i++) {
		fprintf(c->out, "%-3u0x%-16" PRIx64 " sp: 0x%-16" PRIx64 "  %-5" PRIu64 "[??]\n", i, pc, sp, sp - prev_sp);
		uint64_t ret, next_fp;
		/* The chain must go up the stack, or it is not a chain. */
		if (fp == 0 || fp < sp || !read_word(d, fp + w, w, &ret) || !read_word(d, fp, w, &next_fp) || ret == 0)
			break;
		prev_sp = sp;
		pc = ret;
		sp = fp + 2 * w;
		fp = next_fp;
	}
	return 0;
}
