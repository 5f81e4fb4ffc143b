/* The core object: its IO instance, current file and position, block size and
 * configuration variables. The command language lives in cmd.c, the policy in policy.c. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rap/core.h>

#include "arch.h"
#include "common.h"
#include <rap/dbg.h>

#include "core_private.h"

enum var_type {
	VAR_STRING, /* a host name or address: non-empty, no blanks */
	VAR_PORT,
	VAR_BOOL,
	VAR_COLOR,
	VAR_POLICY, /* a command policy level: none, read, write, all */
	/* search.c */
	VAR_ADDR,      /* an address: decimal or 0x hex, -1 for unset; kept as 0x hex */
	VAR_COUNT,     /* a count: decimal or 0x hex; kept in decimal */
	VAR_SEARCH_IN, /* what searches cover: io.maps, file, block, range */
	VAR_ARCH,   /* an architecture of the disassembler (arch.h) */
	VAR_BITS,   /* 16, 32 or 64, as asm.arch allows */
	VAR_BYTES,  /* a size in bytes: decimal or 0x hex, at most SIZE_MAX; kept in decimal */
};

static const struct var_def {
	const char *key;
	const char *def;
	enum var_type type;
	const char *desc;
} var_defs[RAP__VAR_COUNT] = {
	/* Disassembly (pd, pi, pD): radare2's defaults on x86-64 Linux. */
	[RAP__VAR_ASM_ARCH] = { "asm.arch", "x86", VAR_ARCH, "architecture to disassemble: x86, arm, mips" },
	[RAP__VAR_ASM_BITS] = { "asm.bits", "64", VAR_BITS, "16, 32 or 64 as asm.arch allows (arm 16: Thumb)" },
	[RAP__VAR_ASM_COMMENTS] = { "asm.comments", "true", VAR_BOOL, "reference comments in pd" },
	[RAP__VAR_ASM_LINES] = { "asm.lines", "true", VAR_BOOL, "jump arrows column in pd" },
	[RAP__VAR_CFG_BIGENDIAN] = { "cfg.bigendian", "false", VAR_BOOL, "big-endian code (arm, mips)" },
	[RAP__VAR_HTTP_AUTH] = { "http.auth", "", VAR_STRING,
				 "file (mode 0600): user:password =h clients must give" },
	[RAP__VAR_HTTP_BIND] = { "http.bind", "localhost", VAR_STRING, "address the HTTP server listens on" },
	[RAP__VAR_HTTP_CERT] = { "http.cert", "", VAR_STRING, "PEM certificate chain: =h serves https" },
	[RAP__VAR_HTTP_KEY] = { "http.key", "", VAR_STRING, "PEM private key of http.cert (default: in it)" },
	[RAP__VAR_HTTP_PORT] = { "http.port", "9090", VAR_PORT, "default port of the HTTP server" },
	/* The IO instance's read cache (rap/io.h): what rap:// files keep in memory. */
	[RAP__VAR_IO_CACHE_SIZE] = { "io.cache.size", "67108864", VAR_BYTES,
				     "bytes the read cache of remote files may hold (0: off)" },
	[RAP__VAR_IO_SPECIAL] = { "io.special", "false", VAR_BOOL,
				  "open FIFOs, devices and sockets too (never in served sessions)" },
	[RAP__VAR_RAP_BIND] = { "rap.bind", "localhost", VAR_STRING, "address the =: and =& rap servers listen on" },
	[RAP__VAR_RAP_LOOP] = { "rap.loop", "true", VAR_BOOL, "keep serving after a rap client disconnects" },
	[RAP__VAR_SCR_COLOR] = { "scr.color", "0", VAR_COLOR, "colours (output is always plain: only 0)" },
	[RAP__VAR_SEARCH_FROM] = { "search.from", "0xffffffffffffffff", VAR_ADDR,
				   "where searches start (-1: the start, or the position for range)" },
	[RAP__VAR_SEARCH_IN] = { "search.in", "io.maps", VAR_SEARCH_IN,
				 "what / covers: io.maps or file (all), block, range" },
	[RAP__VAR_SEARCH_MAXHITS] = { "search.maxhits", "0", VAR_COUNT, "hits after which a search stops (0: no limit)" },
	[RAP__VAR_SEARCH_TO] = { "search.to", "0xffffffffffffffff", VAR_ADDR,
				 "where searches end, exclusive (-1: the end of the file)" },
	[RAP__VAR_SRV_CMD] = { "srv.cmd", "read", VAR_POLICY,
			       "commands clients of =: =h =t may run: none, read, write, all" },
	[RAP__VAR_SRV_SHELL] = { "srv.shell", "false", VAR_BOOL, "whether clients of =: =h =t may run ! commands" },
	[RAP__VAR_TCP_BIND] = { "tcp.bind", "localhost", VAR_STRING, "address the TCP command server listens on" },
};

/* Frees variable i's value unless it is the default (which is static). */
static void var_release(struct rap_core *c, int i)
{
	if (c->vars[i] != var_defs[i].def)
		rap__free((char *)c->vars[i]);
	c->vars[i] = NULL;
}

/* A core with the given IO instance maker (rap_io_new, or rap_io_new_local for a lean one). */
static int core_new(struct rap_core **out, int (*io_new)(struct rap_io **))
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
	for (int i = 0; i < RAP__VAR_COUNT; i++)
		c->vars[i] = var_defs[i].def;
	int rc = io_new(&c->io);
	if (rc < 0) {
		rap_core_free(c);
		return rc;
	}
	rap_io_cache_set_max(c->io, (size_t)strtoull(var_defs[RAP__VAR_IO_CACHE_SIZE].def, NULL, 10));
	*out = c;
	return 0;
}

int rap_core_new_lean(struct rap_core **out)
{
	return core_new(out, rap_io_new_local);
}

int rap_core_new(struct rap_core **out)
{
	int rc = core_new(out, rap_io_new);
	if (rc == 0) {
		(*out)->remote_ops = &rap__core_remote_ops;
		(*out)->progress_draw = rap__progress_draw;
	}
	return rc;
}

int rap__core_new_shared(struct rap_core *parent, struct rap_core **out)
{
	*out = NULL;
	struct rap_core *c = rap__calloc(1, sizeof(*c));
	if (!c)
		return RAP_ENOMEM;
	c->io = parent->io;
	c->io_borrowed = true;
	c->remote_ops = parent->remote_ops;
	c->progress_draw = parent->progress_draw;
	c->fd = parent->fd;
	c->off = parent->off;
	c->blocksize = parent->blocksize;
	rap__core_policy_inherit(c, parent);
	c->output_max = parent->output_max;
	c->output_max_set = parent->output_max_set;
	c->os_gate = parent->os_gate;
	c->vars_user = parent->vars_user;
	c->out = stdout;
	c->err = stderr;
	/* The values as the parent reads them: clamped when it is served. */
	for (int i = 0; i < RAP__VAR_COUNT; i++) {
		const char *v = rap__core_var_value(parent, (enum rap__core_var)i);
		if (v == var_defs[i].def) {
			c->vars[i] = v;
			continue;
		}
		char *copy = rap__strdup(v);
		if (!copy) {
			rap_core_free(c); /* the unset ones are NULL: nothing to free */
			return RAP_ENOMEM;
		}
		c->vars[i] = copy;
	}
	*out = c;
	return 0;
}

void rap_core_free(struct rap_core *c)
{
	if (!c)
		return;
	if (c->remote_ops)
		c->remote_ops->free(c);
	/* What a served session opened goes with it; the user's files stay. */
	for (size_t i = 0; i < c->nowned; i++) {
		if (rap_io_fd_has_uri(c->io, c->owned[i].fd, c->owned[i].uri))
			(void)rap_io_close(c->io, c->owned[i].fd);
		rap__free(c->owned[i].uri);
	}
	rap__free(c->owned);
	rap__free(c->uri_buf);
	if (c->io && !c->io_borrowed)
		rap_io_free(c->io);
	for (int i = 0; i < RAP__VAR_COUNT; i++)
		var_release(c, i);
	rap__free(c);
}

struct rap_io *rap_core_io(struct rap_core *c)
{
	return c->io;
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
	/* libio's one way to open a local path: never blocks, refuses what is not a regular
	 * file unless io.special asks for it; beneath the IO's root when confined. */
	return rap_io_open_local_ex(c->confined ? c->io : NULL, path, flags, rap__core_open_opts(c, true));
}

void rap_core_set_output_max(struct rap_core *c, size_t bytes)
{
	c->output_max = bytes;
	c->output_max_set = true;
}

static size_t stream_size(const struct rap_core *c, FILE *f)
{
	if (f && f == c->cap_stream)
		return c->cap_streamed;
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
	if (atomic_load(&((struct rap_core *)c)->interrupted))
		return true;
	const struct rap_cmd_request *r = c->cancel_req;
	return r && r->checkpoint && r->checkpoint(r);
}

size_t rap__core_output_room(struct rap_core *c)
{
	if (!c->output_max || !c->cap_out)
		return SIZE_MAX;
	size_t n = stream_size(c, c->cap_out) + stream_size(c, c->cap_err) + stream_size(c, c->cap_filter);
	return n < c->output_max ? c->output_max - n : 0;
}

bool rap__core_output_over(struct rap_core *c)
{
	if (c->output_over)
		return true;
	if (!c->output_max || !c->cap_out)
		return false;
	/* ftell of a memory stream is what it holds (it flushes first). */
	size_t n = stream_size(c, c->cap_out) + stream_size(c, c->cap_err) + stream_size(c, c->cap_filter);
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
	if (fd >= 0) {
		(void)rap_core_seek(c, 0);
		rap__core_bin_follow(c);
		/* A debugged process: at its program counter, as radare2 -d starts. */
		struct rap_dbg *d = rap_io_dbg(c->io, fd);
		const struct rap_dbg_reg *pc = d ? rap_dbg_arch_role(rap_dbg_arch(d), RAP_DBG_ROLE_PC) : NULL;
		uint64_t v;
		if (pc && rap_dbg_reg_get(d, pc->name, &v) == 0)
			c->off = v;
	}
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
	if (c->fd >= 0)
		rap__core_bin_follow(c);
}

int rap__core_fd_uri(struct rap_core *c, int fd, const char **uri)
{
	*uri = NULL;
	for (;;) {
		ssize_t n = rap_io_fd_uri_copy(c->io, fd, c->uri_buf, c->uri_cap);
		if (n < 0)
			return (int)n;
		if ((size_t)n < c->uri_cap) {
			*uri = c->uri_buf;
			return 0;
		}
		/* Longer than the buffer: grow it and copy again (the number may have been closed
		 * and reused meanwhile, so the length is asked again). */
		char *b = rap__realloc(c->uri_buf, (size_t)n + 1);
		if (!b)
			return RAP_ENOMEM;
		c->uri_buf = b;
		c->uri_cap = (size_t)n + 1;
	}
}

/* Index of fd in the owned list, or -1. An entry whose number the IO no longer knows, or
 * now knows under another URI (the user's side closed it and reused the number), is
 * dropped on the way. */
static long owned_index(struct rap_core *c, int fd)
{
	for (size_t i = 0; i < c->nowned; i++) {
		if (c->owned[i].fd != fd)
			continue;
		if (rap_io_fd_has_uri(c->io, fd, c->owned[i].uri))
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
	/* A served core opens no network files (policy.c). */
	int rc = rap__core_open_policy(c, uri);
	if (rc < 0)
		return rc;
	if (c->io_borrowed) {
		/* A served session's files are tracked so that it can close them, and only
		 * them; a session with a full list opens nothing more. */
		owned_prune(c);
		if (c->nowned == RAP__CORE_OWNED_MAX)
			return -EMFILE;
		if (c->nowned == c->owned_cap) {
			size_t cap = c->owned_cap ? 2 * c->owned_cap : 4;
			if (cap > RAP__CORE_OWNED_MAX)
				cap = RAP__CORE_OWNED_MAX;
			struct rap__core_owned *o = rap__realloc(c->owned, cap * sizeof(*o));
			if (!o)
				return RAP_ENOMEM;
			c->owned = o;
			c->owned_cap = cap;
		}
		copy = rap__strdup(uri);
		if (!copy)
			return RAP_ENOMEM;
	}
	int fd = rap_io_open_ex(c->io, uri, perm, rap__core_open_opts(c, false));
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
	size_t done;
	int rc = rap_io_read_full(c->io, c->fd, off, buf, len, &done);
	if (rc < 0)
		memset(buf + done, 0xff, len - done);
	return rc;
}

static int var_index(const char *key)
{
	for (int i = 0; i < RAP__VAR_COUNT; i++)
		if (strcmp(var_defs[i].key, key) == 0)
			return i;
	return -1;
}

bool rap__core_var_is_view(const char *assignment)
{
	/* search.*: the range and the limit of this core's searches; asm.* and cfg.bigendian:
	 * how this core's disassembly reads the bytes (a raw blob has no header to say). */
	static const char *const prefixes[] = { "search.", "asm.", "cfg.bigendian" };
	const char *p = assignment;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strcspn(p, "= \t");
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t k = strlen(prefixes[i]);
		if (!strncmp(p, prefixes[i], k) && (prefixes[i][k - 1] == '.' ? n > k : n == k))
			return true;
	}
	return false;
}

const char *rap__core_var_key(enum rap__core_var i)
{
	return var_defs[i].key;
}

const char *rap__core_var_desc(enum rap__core_var i)
{
	return var_defs[i].desc;
}

const char *rap__core_var_value(const struct rap_core *c, enum rap__core_var i)
{
	/* Variables that widen a policy read as at most the core's own level when it is
	 * served: clamped here, so every reader sees the clamp. */
	return rap__core_policy_var(c, i, c->vars[i]);
}

const char *rap_core_config_get(const struct rap_core *c, const char *key)
{
	int i = var_index(key);
	return i < 0 ? NULL : rap__core_var_value(c, (enum rap__core_var)i);
}

/* A number the way variables take them: decimal or 0x hex, nothing else around it. */
static bool parse_u64(const char *s, uint64_t *out)
{
	const char *p = s;
	int base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!*p || !(base == 16 ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p)))
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p, &end, base);
	if (*end || errno)
		return false;
	*out = v;
	return true;
}

/* Checks value for the variable's type and returns its canonical spelling ("true" for
 * "1"), or NULL when it does not fit. scratch holds a spelling made up here. */
static const char *normalize(enum var_type type, const char *value, char scratch[24])
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
	case VAR_ADDR:
	case VAR_COUNT:
	case VAR_BYTES: {
		uint64_t v = UINT64_MAX;
		if (!(type == VAR_ADDR && !strcmp(value, "-1")) && !parse_u64(value, &v))
			return NULL;
		if (type == VAR_BYTES && v > SIZE_MAX)
			return NULL;
		snprintf(scratch, 24, type == VAR_ADDR ? "0x%" PRIx64 : "%" PRIu64, v);
		return scratch;
	}
	case VAR_SEARCH_IN:
		return rap__search_in_valid(value) ? value : NULL;
	case VAR_POLICY: {
		enum rap_core_policy level;
		return rap__core_policy_parse(value, &level) == 0 ? value : NULL;
	}
	case VAR_STRING:
		if (!*value || strpbrk(value, " \t\r\n"))
			return NULL;
		return value;
	case VAR_ARCH:
		return rap__arch_find(value) ? value : NULL;
	case VAR_BITS:
		return (!strcmp(value, "16") || !strcmp(value, "32") || !strcmp(value, "64")) ? value : NULL;
	}
	return NULL;
}

static int store_var(struct rap_core *c, int i, const char *v)
{
	char *copy = rap__strdup(v);
	if (!copy)
		return RAP_ENOMEM;
	var_release(c, i);
	c->vars[i] = copy;
	return 0;
}

/* ---- asm.arch and asm.bits: the bits must be a mode of the architecture ---------------- */

_Static_assert(RAP__VAR_COUNT <= 32, "vars_user has a bit per variable");

static bool bits_fit(const char *arch, const char *bits)
{
	return rap__arch_mode(rap__arch_find(arch), (unsigned)atoi(bits)) != NULL;
}

/* Sets variable i; asm.bits must fit asm.arch, and a new asm.arch the bits do not fit
 * brings its own default bits. */
static int set_var(struct rap_core *c, int i, const char *value)
{
	char scratch[24];
	const char *v = normalize(var_defs[i].type, value, scratch);
	if (!v)
		return RAP_EINVAL;
	int rc = rap__core_policy_var_check(c, (enum rap__core_var)i, v);
	if (rc < 0)
		return rc;
	if (i == RAP__VAR_ASM_BITS && !bits_fit(c->vars[RAP__VAR_ASM_ARCH], v))
		return RAP_EINVAL;
	if (i == RAP__VAR_ASM_ARCH && !bits_fit(v, c->vars[RAP__VAR_ASM_BITS])) {
		char bits[8];
		snprintf(bits, sizeof(bits), "%u", rap__arch_find(v)->default_bits);
		rc = store_var(c, RAP__VAR_ASM_BITS, bits);
		if (rc < 0)
			return rc;
	}
	rc = store_var(c, i, v);
	/* The IO's own settings follow their variables (only an owner gets this far). */
	if (rc == 0 && i == RAP__VAR_IO_CACHE_SIZE)
		rap_io_cache_set_max(c->io, (size_t)strtoull(v, NULL, 10));
	return rc;
}

int rap__core_config_auto(struct rap_core *c, enum rap__core_var i, const char *value)
{
	if (c->vars_user & (1u << i))
		return 0;
	return set_var(c, (int)i, value);
}

int rap_core_config_set(struct rap_core *c, const char *key, const char *value)
{
	int i = var_index(key);
	if (i < 0 || !value)
		return RAP_EINVAL;
	int rc = set_var(c, i, value);
	if (rc == 0)
		c->vars_user |= 1u << i;
	return rc;
}

size_t rap_core_prompt(const struct rap_core *c, char *buf, size_t cap)
{
	if (!cap)
		return 0;
	size_t rn = c->remote_ops ? c->remote_ops->prompt(c, buf, cap) : 0;
	if (rn)
		return rn;
	int n = snprintf(buf, cap, "[0x%08" PRIx64 "]> ", c->off);
	if (n < 0) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n < cap ? (size_t)n : cap - 1;
}
