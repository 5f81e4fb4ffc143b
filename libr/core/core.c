/* The core object: its IO instance, current file and position, block size, policy and
 * configuration variables. The command language itself lives in cmd.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"

enum var_type {
	VAR_STRING, /* a host name or address: non-empty, no blanks */
	VAR_PORT,
	VAR_BOOL,
	VAR_COLOR,
	VAR_POLICY, /* a command policy level: none, read, write, all */
};

static const struct var_def {
	const char *key;
	const char *def;
	enum var_type type;
	const char *desc;
} var_defs[RAP__VAR_COUNT] = {
	[RAP__VAR_HTTP_BIND] = { "http.bind", "localhost", VAR_STRING, "address the HTTP server listens on" },
	[RAP__VAR_HTTP_PORT] = { "http.port", "9090", VAR_PORT, "default port of the HTTP server" },
	[RAP__VAR_RAP_BIND] = { "rap.bind", "localhost", VAR_STRING, "address the =: and =& rap servers listen on" },
	[RAP__VAR_RAP_LOOP] = { "rap.loop", "true", VAR_BOOL, "keep serving after a rap client disconnects" },
	[RAP__VAR_SCR_COLOR] = { "scr.color", "0", VAR_COLOR, "colours (output is always plain: only 0)" },
	[RAP__VAR_SRV_CMD] = { "srv.cmd", "read", VAR_POLICY,
			       "commands clients of =: =h =t may run: none, read, write, all" },
	[RAP__VAR_SRV_SHELL] = { "srv.shell", "false", VAR_BOOL, "whether clients of =: =h =t may run ! commands" },
	[RAP__VAR_TCP_BIND] = { "tcp.bind", "localhost", VAR_STRING, "address the TCP command server listens on" },
};

int rap_core_new(struct rap_core **out)
{
	*out = NULL;
	struct rap_core *c = rap__calloc(1, sizeof(*c));
	if (!c)
		return RAP_ENOMEM;
	c->fd = -1;
	c->blocksize = RAP__CORE_BLOCK_DEFAULT;
	c->policy = RAP_CORE_POLICY_ALL;
	c->allow_shell = true;
	c->out = stdout;
	c->err = stderr;
	for (int i = 0; i < RAP__VAR_COUNT; i++) {
		c->vars[i] = rap__strdup(var_defs[i].def);
		if (!c->vars[i]) {
			rap_core_free(c);
			return RAP_ENOMEM;
		}
	}
	int rc = rap_io_new(&c->io);
	if (rc < 0) {
		rap_core_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int rap__core_new_shared(struct rap_core *parent, struct rap_core **out)
{
	*out = NULL;
	struct rap_core *c = rap__calloc(1, sizeof(*c));
	if (!c)
		return RAP_ENOMEM;
	c->io = parent->io;
	c->io_borrowed = true;
	c->fd = parent->fd;
	c->off = parent->off;
	c->blocksize = parent->blocksize;
	c->policy = parent->policy;
	c->allow_shell = parent->allow_shell;
	c->confined = parent->confined;
	c->output_max = parent->output_max;
	c->output_max_set = parent->output_max_set;
	c->os_gate = parent->os_gate;
	c->out = stdout;
	c->err = stderr;
	for (int i = 0; i < RAP__VAR_COUNT; i++) {
		c->vars[i] = rap__strdup(parent->vars[i]);
		if (!c->vars[i]) {
			rap_core_free(c);
			return RAP_ENOMEM;
		}
	}
	*out = c;
	return 0;
}

int rap__core_policy_parse(const char *name, enum rap_core_policy *out)
{
	static const char *const names[] = { "none", "read", "write", "all" };
	for (int i = 0; i < 4; i++) {
		if (name && !strcmp(name, names[i])) {
			*out = (enum rap_core_policy)i;
			return 0;
		}
	}
	return RAP_EINVAL;
}

void rap_core_free(struct rap_core *c)
{
	if (!c)
		return;
	rap__core_servers_free(c);
	rap__core_remote_free(c);
	/* What a served session opened goes with it; the user's files stay. */
	for (size_t i = 0; i < c->nowned; i++) {
		const char *uri = rap_io_fd_uri(c->io, c->owned[i].fd);
		if (uri && !strcmp(uri, c->owned[i].uri))
			(void)rap_io_close(c->io, c->owned[i].fd);
		rap__free(c->owned[i].uri);
	}
	if (c->io && !c->io_borrowed)
		rap_io_free(c->io);
	for (int i = 0; i < RAP__VAR_COUNT; i++)
		rap__free(c->vars[i]);
	rap__free(c);
}

struct rap_io *rap_core_io(struct rap_core *c)
{
	return c->io;
}

void rap_core_set_policy(struct rap_core *c, enum rap_core_policy level)
{
	/* An out-of-range value must not widen the policy. */
	if (level < RAP_CORE_POLICY_NONE || level > RAP_CORE_POLICY_ALL)
		level = RAP_CORE_POLICY_NONE;
	c->policy = level;
}

void rap_core_set_allow_shell(struct rap_core *c, bool allow)
{
	c->allow_shell = allow;
}

void rap_core_set_confined(struct rap_core *c, bool confined)
{
	c->confined = confined;
}

int rap__core_os_gate(struct rap_core *c, enum rap__core_os op, const char *what)
{
	return c->os_gate ? c->os_gate(op, what) : 0;
}

int rap__core_open_file(struct rap_core *c, const char *path, int flags)
{
	if (c->confined && (flags & O_ACCMODE) != O_RDONLY && !rap_io_allow_write(c->io))
		return RAP_EDENIED;
	int rc = rap__core_os_gate(c, RAP__CORE_OS_FILE, path);
	if (rc < 0)
		return rc;
	if (c->confined)
		return rap_io_open_local(c->io, path, flags);
	int fd;
	do
		fd = open(path, flags | O_CLOEXEC, 0666);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

void rap_core_set_output_max(struct rap_core *c, size_t bytes)
{
	c->output_max = bytes;
	c->output_max_set = true;
}

static size_t stream_size(FILE *f)
{
	long n = f ? ftell(f) : 0;
	return n > 0 ? (size_t)n : 0;
}

void rap_core_interrupt(struct rap_core *c)
{
	if (c)
		atomic_store(&c->interrupted, true);
}

bool rap__core_interrupted(const struct rap_core *c)
{
	return atomic_load(&((struct rap_core *)c)->interrupted);
}

bool rap__core_output_over(struct rap_core *c)
{
	if (c->output_over)
		return true;
	if (!c->output_max || !c->cap_out)
		return false;
	/* ftell of a memory stream is what it holds (it flushes first). */
	size_t n = stream_size(c->cap_out) + stream_size(c->cap_err) + stream_size(c->cap_filter);
	c->output_over = n > c->output_max;
	return c->output_over;
}

void rap_core_set_output(struct rap_core *c, FILE *out, FILE *err)
{
	c->out = out ? out : stdout;
	c->err = err ? err : stderr;
}

void rap__core_errorf(struct rap_core *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("error: ", c->err);
	vfprintf(c->err, fmt, ap);
	fputc('\n', c->err);
	va_end(ap);
}

const char *rap__core_write_error(const struct rap_core *c, int rc)
{
	const struct rap_io_plugin *p = c->fd >= 0 ? rap_io_fd_plugin(c->io, c->fd) : NULL;
	/* The local descriptor was writable (that is checked first), so the refusal came
	 * from the server. */
	if (rc == RAP_EDENIED && p && strcmp(p->name, "rap") == 0)
		return "the server is read-only (rapsrv --write)";
	return rap_strerror(rc);
}

void rap__core_set_current(struct rap_core *c, int fd)
{
	c->fd = fd;
	c->off = 0;
	if (fd >= 0)
		(void)rap_core_seek(c, 0);
}

void rap__core_forget_fd(struct rap_core *c, int fd)
{
	if (c->fd != fd)
		return;
	/* radare2 falls back to another open file; the newest one is the likeliest wanted. */
	int small[64], *fds = small;
	size_t cap = sizeof(small) / sizeof(small[0]);
	size_t n = rap_io_fds(c->io, fds, cap);
	if (n > cap) {
		int *all = rap__malloc(n * sizeof(*all));
		if (all) {
			fds = all;
			cap = n;
			n = rap_io_fds(c->io, fds, cap);
		}
	}
	/* Without memory for the whole list the highest fd seen is still a valid choice. */
	c->fd = n ? fds[(n < cap ? n : cap) - 1] : -1;
	if (fds != small)
		rap__free(fds);
}

/* Index of fd in the owned list, or -1. An entry whose number the IO no longer knows, or
 * now knows under another URI (the user's side closed it and reused the number), is
 * dropped on the way. */
static long owned_index(struct rap_core *c, int fd)
{
	for (size_t i = 0; i < c->nowned; i++) {
		if (c->owned[i].fd != fd)
			continue;
		const char *uri = rap_io_fd_uri(c->io, fd);
		if (uri && !strcmp(uri, c->owned[i].uri))
			return (long)i;
		rap__free(c->owned[i].uri);
		c->owned[i] = c->owned[--c->nowned];
		return -1;
	}
	return -1;
}

static void owned_drop(struct rap_core *c, size_t at)
{
	rap__free(c->owned[at].uri);
	c->owned[at] = c->owned[--c->nowned];
}

/* Drops entries of files closed elsewhere, so the list has room for new ones. */
static void owned_prune(struct rap_core *c)
{
	for (size_t i = c->nowned; i-- > 0;)
		(void)owned_index(c, c->owned[i].fd);
}

bool rap__core_owns(struct rap_core *c, int fd)
{
	return c->io_borrowed && owned_index(c, fd) >= 0;
}

int rap_core_open(struct rap_core *c, const char *uri, int perm)
{
	char *copy = NULL;
	if (c->io_borrowed) {
		/* A served client makes no outgoing connections (as rapsrv's default
		 * --allow-scheme): a rap:// open would run on the servers' own thread, and
		 * one that led back to a server of this process would wait on itself. */
		const struct rap_io_plugin *p = rap_io_plugin_for(c->io, uri);
		if (p && !strcmp(p->name, "rap"))
			return RAP_EDENIED;
		/* A served session's files are tracked so that it can close them, and only
		 * them; a session with a full list opens nothing more. */
		owned_prune(c);
		if (c->nowned == RAP__CORE_OWNED_MAX)
			return -EMFILE;
		copy = rap__strdup(uri);
		if (!copy)
			return RAP_ENOMEM;
	}
	int fd = rap_io_open(c->io, uri, perm);
	if (fd < 0) {
		rap__free(copy);
		return fd;
	}
	if (copy) {
		c->owned[c->nowned].fd = fd;
		c->owned[c->nowned].uri = copy;
		c->nowned++;
	}
	rap__core_set_current(c, fd);
	return fd;
}

int rap__core_close(struct rap_core *c, int fd)
{
	if (c->io_borrowed) {
		long at = owned_index(c, fd);
		if (at < 0)
			return RAP_EDENIED;
		/* The number is gone from the IO whatever its plugin reports. */
		owned_drop(c, (size_t)at);
	}
	int rc = rap_io_close(c->io, fd);
	if (rc < 0)
		return rc;
	rap__core_forget_fd(c, fd);
	return 0;
}

bool rap_core_quit_requested(const struct rap_core *c)
{
	return c->quit;
}

uint64_t rap_core_offset(const struct rap_core *c)
{
	return c->off;
}

int rap_core_seek(struct rap_core *c, uint64_t off)
{
	c->off = off;
	if (c->fd < 0)
		return 0;
	/* Stream plugins must see position changes; positional ones answer RAP_ENOTSUP and the
	 * position simply lives here. */
	int64_t pos = rap_io_seek(c->io, c->fd, off, RAP_SEEK_SET);
	if (pos >= 0)
		c->off = (uint64_t)pos;
	else if (pos != RAP_ENOTSUP)
		return (int)pos;
	return 0;
}

int rap_core_current_fd(const struct rap_core *c)
{
	return c->fd;
}

int rap__core_read(struct rap_core *c, uint64_t off, uint8_t *buf, size_t len)
{
	if (c->fd < 0)
		return RAP_EBADFD;
	memset(buf, 0xff, len);
	/* Nothing lies beyond 2^64-1; those bytes stay 0xff instead of wrapping to 0. */
	if (off + len < off)
		len = (size_t)(UINT64_MAX - off) + 1;
	size_t done = 0;
	while (done < len) {
		ssize_t n = rap_io_read_at(c->io, c->fd, off + done, buf + done, len - done);
		if (n < 0) {
			memset(buf + done, 0xff, len - done);
			return (int)n;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return 0;
}

static int var_index(const char *key)
{
	for (int i = 0; i < RAP__VAR_COUNT; i++)
		if (strcmp(var_defs[i].key, key) == 0)
			return i;
	return -1;
}

const char *rap__core_var_key(enum rap__core_var i)
{
	return var_defs[i].key;
}

const char *rap__core_var_desc(enum rap__core_var i)
{
	return var_defs[i].desc;
}

const char *rap_core_config_get(const struct rap_core *c, const char *key)
{
	int i = var_index(key);
	return i < 0 ? NULL : c->vars[i];
}

/* Checks value for the variable's type and returns its canonical spelling ("true" for
 * "1"), or NULL when it does not fit. */
static const char *normalize(enum var_type type, const char *value)
{
	switch (type) {
	case VAR_BOOL:
		if (!strcmp(value, "true") || !strcmp(value, "1"))
			return "true";
		if (!strcmp(value, "false") || !strcmp(value, "0"))
			return "false";
		return NULL;
	case VAR_COLOR:
		return (!strcmp(value, "0") || !strcmp(value, "false")) ? "0" : NULL;
	case VAR_PORT: {
		char *end;
		errno = 0;
		unsigned long p = strtoul(value, &end, 10);
		if (!*value || *end || errno || p < 1 || p > 65535 || value[0] == '-' || value[0] == '+')
			return NULL;
		return value;
	}
	case VAR_POLICY: {
		enum rap_core_policy level;
		return rap__core_policy_parse(value, &level) == 0 ? value : NULL;
	}
	case VAR_STRING:
		if (!*value || strpbrk(value, " \t\r\n"))
			return NULL;
		return value;
	}
	return NULL;
}

int rap_core_config_set(struct rap_core *c, const char *key, const char *value)
{
	int i = var_index(key);
	if (i < 0 || !value)
		return RAP_EINVAL;
	const char *v = normalize(var_defs[i].type, value);
	if (!v)
		return RAP_EINVAL;
	char *copy = rap__strdup(v);
	if (!copy)
		return RAP_ENOMEM;
	rap__free(c->vars[i]);
	c->vars[i] = copy;
	return 0;
}

size_t rap_core_prompt(const struct rap_core *c, char *buf, size_t cap)
{
	if (!cap)
		return 0;
	size_t rn = rap__core_remote_prompt(c, buf, cap);
	if (rn)
		return rn;
	int n = snprintf(buf, cap, "[0x%08" PRIx64 "]> ", c->off);
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n < cap ? (size_t)n : cap - 1;
}
