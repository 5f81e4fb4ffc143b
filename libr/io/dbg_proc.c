/* What the debugging backend reads from /proc: a process's memory maps and whether this
 * kernel lets us trace at all. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rap/dbg.h>

#include "common.h"
#include "dbg_private.h"

#define PROC_TEXT_MAX (16u << 20) /* a maps file larger than this is refused */

/* Reads a whole /proc file into a heap string. */
static int read_text(const char *path, char **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno ? -errno : -EIO;
	struct rap__buf b;
	rap__buf_init(&b, PROC_TEXT_MAX);
	int rc = 0;
	for (;;) {
		rc = rap__buf_reserve(&b, 4096);
		if (rc < 0)
			break;
		ssize_t n = read(fd, b.data + b.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
	}
	close(fd);
	if (rc < 0) {
		rap__buf_free(&b);
		return rc;
	}
	char *s = rap__buf_steal_str(&b);
	if (!s)
		return RAP_ENOMEM;
	*out = s;
	return 0;
}

static bool parse_hex(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	size_t digits = 0;
	for (; *s; s++, digits++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else
			break;
		if (digits == 16)
			return false;
		x = x << 4 | d;
	}
	*p = s;
	*v = x;
	return digits > 0;
}

void rap_dbg_maps_free(struct rap_dbg_map *maps, size_t n)
{
	for (size_t i = 0; maps && i < n; i++)
		rap__free(maps[i].name);
	rap__free(maps);
}

/* One line: "start-end perm offset dev inode [name]". */
static int parse_line(const char *s, const char *end, struct rap_dbg_map *m)
{
	uint64_t dummy;
	if (!parse_hex(&s, &m->start) || *s++ != '-' || !parse_hex(&s, &m->end) || *s++ != ' ')
		return RAP_EPROTO;
	for (int i = 0; i < 4; i++, s++) {
		if (!strchr("rwxsp-", *s) || !*s)
			return RAP_EPROTO;
		m->perm[i] = *s;
	}
	m->perm[4] = 0;
	if (*s++ != ' ' || !parse_hex(&s, &m->offset) || *s++ != ' ')
		return RAP_EPROTO;
	/* dev (hh:hh) and inode */
	if (!parse_hex(&s, &dummy) || *s++ != ':' || !parse_hex(&s, &dummy) || *s++ != ' ')
		return RAP_EPROTO;
	while (s < end && *s >= '0' && *s <= '9')
		s++;
	while (s < end && *s == ' ')
		s++;
	m->name = rap__strndup(s, (size_t)(end - s));
	return m->name ? 0 : RAP_ENOMEM;
}

int rap__dbg_maps_parse(const char *text, struct rap_dbg_map **out, size_t *n)
{
	size_t lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	struct rap_dbg_map *maps = rap__calloc(lines + 1, sizeof(*maps));
	if (!maps)
		return RAP_ENOMEM;
	size_t count = 0;
	const char *p = text;
	while (*p) {
		const char *end = strchr(p, '\n');
		if (!end)
			end = p + strlen(p);
		int rc = parse_line(p, end, &maps[count]);
		if (rc < 0) {
			rap_dbg_maps_free(maps, count);
			return rc;
		}
		count++;
		p = *end ? end + 1 : end;
	}
	*out = maps;
	*n = count;
	return 0;
}

int rap_dbg_maps(struct rap_dbg *d, struct rap_dbg_map **out, size_t *n)
{
	if (!d || !out || !n)
		return RAP_EINVAL;
	if (rap_dbg_exited(d))
		return -ESRCH;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)rap_dbg_pid(d));
	char *text = NULL;
	int rc = read_text(path, &text);
	if (rc < 0)
		return rc == -ENOENT ? -ESRCH : rc;
	rc = rap__dbg_maps_parse(text, out, n);
	rap__free(text);
	return rc;
}

/* CAP_SYS_PTRACE (19) in the effective set, from /proc/self/status. */
static bool has_cap_sys_ptrace(void)
{
	char *text = NULL;
	if (read_text("/proc/self/status", &text) < 0 || !text)
		return false;
	const char *c = strstr(text, "\nCapEff:");
	bool yes = false;
	if (c) {
		unsigned long long caps = strtoull(c + 8, NULL, 16);
		yes = (caps >> 19) & 1;
	}
	rap__free(text);
	return yes;
}

const char *rap__dbg_denied_reason_for(const char *scope, bool cap_sys_ptrace)
{
	if (!scope)
		return NULL; /* no Yama */
	int level = atoi(scope);
	if (level >= 3)
		return "ptrace is not permitted: kernel.yama.ptrace_scope is 3 (no process may be traced)";
	if (level == 2 && !cap_sys_ptrace)
		return "ptrace is not permitted: kernel.yama.ptrace_scope is 2 and this process lacks CAP_SYS_PTRACE";
	return NULL;
}

const char *rap_dbg_ptrace_denied_reason(void)
{
	char *text = NULL;
	if (read_text("/proc/sys/kernel/yama/ptrace_scope", &text) < 0 || !text)
		return NULL; /* no Yama */
	const char *why = rap__dbg_denied_reason_for(text, has_cap_sys_ptrace());
	rap__free(text);
	return why;
}
