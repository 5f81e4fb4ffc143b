/* "dbg": a traced process as a file (Linux, ptrace; rap/dbg.h does the tracing).
 *
 *   dbg:///path/prog [args]   starts the program stopped at its first instruction
 *   dbg://PID                 attaches to a running process
 *
 * The program is opened like any local file (rap_io_open_local: beneath the instance's
 * root, no "..", symlink or /proc escape) and executed from that descriptor, so the path
 * is resolved once. Reads and writes address the process's memory: an unmapped range reads
 * short (0 bytes at an unmapped address), never fails the descriptor. Closing kills a
 * started process and detaches from an attached one. The debugger commands (dr, ds, dc,
 * db...) are libcore's: they reach the process through rap_io_dbg. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <rap/dbg.h>
#include <rap/io.h>

#include "common.h"
#include "io_private.h"

#define DBG_SCHEME "dbg://"
#define DBG_ARGS_MAX 64 /* program arguments, argv[0] included */

struct dbg_state {
	struct rap_dbg *dbg; /* owned */
	struct rap_io *io;   /* borrowed: the instance whose process count this holds */
};

static bool dbg_accepts(const char *uri)
{
	return strncmp(uri, DBG_SCHEME, strlen(DBG_SCHEME)) == 0;
}

/* A decimal pid (1 .. 2^22, Linux's largest pid_max), or 0 when s is not one. */
static pid_t parse_pid(const char *s)
{
	long v = 0;
	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (*s - '0');
		if (v > (1L << 22))
			return 0;
	}
	return (pid_t)v;
}

/* Splits "prog a b" at blanks into argv (pointers into the heap copy *store). */
static int split_args(const char *spec, char **store, char **argv)
{
	char *s = rap__strdup(spec);
	if (!s)
		return RAP_ENOMEM;
	size_t n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(s, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == DBG_ARGS_MAX) {
			rap__free(s);
			return RAP_ETOOBIG;
		}
		argv[n++] = tok;
	}
	argv[n] = NULL;
	if (n == 0) {
		rap__free(s);
		return RAP_EINVAL;
	}
	*store = s;
	return 0;
}

static int start_program(struct rap_io *io, const char *spec, struct rap_dbg **out)
{
	char *store = NULL;
	char *argv[DBG_ARGS_MAX + 1];
	int rc = split_args(spec, &store, argv);
	if (rc < 0)
		return rc;
	int fd = rap_io_open_local(io, argv[0], O_RDONLY);
	if (fd < 0) {
		rap__free(store);
		return fd;
	}
	struct rap_dbg_start_opts opts = {.out_fd = rap__io_dbg_output(io), .envp = NULL};
	rc = rap_dbg_start(fd, (const char *const *)argv, &opts, out);
	close(fd);
	rap__free(store);
	return rc;
}

static int dbg_open(struct rap_io_desc *d, const char *uri, int perm)
{
	(void)perm;
	struct rap_io *io = rap_io_desc_io(d);
	const char *spec = uri + strlen(DBG_SCHEME);
	if (!rap_dbg_host_arch()) {
		rap_io_set_error(io, "debugging is not supported on this architecture");
		return RAP_ENOTSUP;
	}
	struct dbg_state *s = rap__calloc(1, sizeof(*s));
	if (!s)
		return RAP_ENOMEM;
	int rc = rap__io_proc_take(io);
	if (rc < 0) {
		rap__free(s);
		return rc;
	}
	pid_t pid = parse_pid(spec);
	rc = pid > 0 ? rap_dbg_attach(pid, &s->dbg) : start_program(io, spec, &s->dbg);
	if (rc < 0) {
		rap__io_proc_give(io);
		rap__free(s);
		const char *why = rap_dbg_ptrace_denied_reason();
		if (rc == -EPERM && why)
			rap_io_set_error(io, why);
		else if (rc == -EPERM && pid > 0)
			rap_io_set_error(io, "not permitted to trace that process (another user's, traced already, "
			                     "outside this process's Landlock sandbox, or ptrace is restricted here: "
			                     "kernel.yama.ptrace_scope, CAP_SYS_PTRACE)");
		else if (rc == -EPERM)
			rap_io_set_error(io, "ptrace is not permitted here (no CAP_SYS_PTRACE, or a seccomp policy "
			                     "or container forbids it)");
		return rc;
	}
	s->io = io;
	rap_io_desc_set_data(d, s);
	/* Memory changes whenever the process runs. Reading it costs no round trip, so it is
	 * not cached unless a user asks (rap_io_cache_set); then it is volatile. */
	rap_io_desc_set_cache(d, RAP_IO_CACHE_VOLATILE);
	return 0;
}

static int dbg_close(struct rap_io_desc *d)
{
	struct dbg_state *s = rap_io_desc_data(d);
	rap_dbg_free(s->dbg);
	rap__io_proc_give(s->io);
	rap__free(s);
	return 0;
}

static ssize_t dbg_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	struct dbg_state *s = rap_io_desc_data(d);
	return rap_dbg_read(s->dbg, off, buf, len);
}

static ssize_t dbg_write(struct rap_io_desc *d, uint64_t off, const void *buf, size_t len)
{
	struct dbg_state *s = rap_io_desc_data(d);
	return rap_dbg_write(s->dbg, off, buf, len);
}

/* A process's address space has no end of data: radare2 reports UT64_MAX as well. */
static int dbg_size(struct rap_io_desc *d, uint64_t *size)
{
	(void)d;
	*size = UINT64_MAX;
	return 0;
}

const struct rap_io_plugin rap__io_plugin_dbg = {
	.abi = RAP_IO_PLUGIN_ABI,
	.name = "dbg",
	.desc = "Attach to native debugger instance",
	.uris = DBG_SCHEME,
	.author = RAP__IO_AUTHOR,
	.license = RAP__IO_LICENSE,
	.accepts = dbg_accepts,
	.open = dbg_open,
	.close = dbg_close,
	.read = dbg_read,
	.write = dbg_write,
	.size = dbg_size,
	.is_debugger = true,
};

struct rap_dbg *rap_io_dbg(struct rap_io *io, int fd)
{
	const struct rap_io_plugin *p = rap_io_fd_plugin(io, fd);
	if (p != &rap__io_plugin_dbg)
		return NULL;
	struct dbg_state *s = rap__io_fd_data(io, fd);
	return s ? s->dbg : NULL;
}
