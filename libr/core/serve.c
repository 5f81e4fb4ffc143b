/* Serving a core over RAP: the rap_server_handler whose ctx is a struct rap_core. Each
 * session gets its own core, so descriptors and positions are never shared. */
#include <stdlib.h>
#include <string.h>

#include <rap/core.h>
#include <rap/io.h>

#include "common.h"
#include "core_private.h"

static int serve_open(void *ctx, const char *path, uint8_t perm)
{
	/* The IO instance carries the operator's open policy (root, write access, schemes);
	 * the served mark the rest (policy.c). */
	rap_core_set_served(ctx);
	return rap_core_open(ctx, path, perm);
}

/* A READ's answer: what could be read, or the error when nothing could. */
static ssize_t read_full(struct rap_io *io, int fd, uint64_t off, uint8_t *buf, size_t len)
{
	size_t got;
	int rc = rap_io_read_full(io, fd, off, buf, len, &got);
	return rc < 0 && !got ? rc : (ssize_t)got;
}

static ssize_t serve_read(void *ctx, uint8_t *buf, size_t len)
{
	struct rap_core *c = ctx;
	if (c->fd < 0)
		return RAP_EBADFD;
	return read_full(c->io, c->fd, c->off, buf, len);
}

static ssize_t serve_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct rap_core *c = ctx;
	if (c->fd < 0)
		return RAP_EBADFD;
	return rap_io_write_at(c->io, c->fd, c->off, buf, len);
}

static int serve_seek(void *ctx, int whence, uint64_t offset, uint64_t *result)
{
	struct rap_core *c = ctx;
	switch (whence) {
	case RAP_SEEK_SET: {
		int rc = rap_core_seek(c, offset);
		*result = c->off;
		return rc;
	}
	case RAP_SEEK_END:
		if (c->fd < 0)
			return RAP_EBADFD;
		return rap_io_size(c->io, c->fd, result);
	default:
		/* Stock servers answer every other whence like CUR. */
		*result = c->off;
		return 0;
	}
}

/* Whether fd is one a client of this core may address: any of its IO's, and on a borrowed
 * IO only its current file and what it opened. */
static int served_fd(struct rap_core *c, int32_t fd)
{
	if (fd < 0 || rap_io_fd_perm(c->io, fd) < 0)
		return RAP_EBADFD;
	if (c->io_borrowed && fd != c->fd && !rap__core_owns(c, fd))
		return RAP_EBADFD;
	return 0;
}

static ssize_t serve_pread(void *ctx, int32_t fd, uint64_t off, uint8_t *buf, size_t len)
{
	struct rap_core *c = ctx;
	int rc = served_fd(c, fd);
	if (rc < 0)
		return rc;
	return read_full(c->io, fd, off, buf, len);
}

static ssize_t serve_pwrite(void *ctx, int32_t fd, uint64_t off, const uint8_t *buf, size_t len)
{
	struct rap_core *c = ctx;
	int rc = served_fd(c, fd);
	return rc < 0 ? rc : rap_io_write_at(c->io, fd, off, buf, len);
}

/* What a STAT says a plugin's descriptors are. */
static uint8_t plugin_kind(const struct rap_io_plugin *p)
{
	static const struct {
		const char *name;
		uint8_t kind;
	} kinds[] = {
		{ "file", RAP_KIND_FILE }, { "dbg", RAP_KIND_PROCESS },
		{ "malloc", RAP_KIND_BUFFER }, { "rap", RAP_KIND_REMOTE },
	};
	for (size_t i = 0; p && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(p->name, kinds[i].name))
			return kinds[i].kind;
	return RAP_KIND_OTHER;
}

static int serve_stat(void *ctx, int32_t fd, struct rap_stat *st)
{
	struct rap_core *c = ctx;
	int rc = served_fd(c, fd);
	if (rc < 0)
		return rc;
	const struct rap_io_plugin *p = rap_io_fd_plugin(c->io, fd);
	rc = rap_io_fd_stat(c->io, fd, st);
	if (rc == 0 && !p)
		rc = RAP_EBADFD; /* closed meanwhile by another thread sharing the IO */
	st->kind = plugin_kind(p);
	return rc;
}

static int serve_close(void *ctx, int32_t fd)
{
	struct rap_core *c = ctx;
	/* Only this core's IO table is searched: another session's fds and the server's own
	 * OS descriptors are unknown here (stock radare2 would close(2) any number). On a
	 * borrowed IO only what this core opened. */
	return rap__core_close(c, fd);
}

/* a followed by b, in a's allocation (a long output is not copied); either may be NULL.
 * Takes both. NULL for no text at all, or when memory ran out. */
static char *join_take(char *a, char *b)
{
	size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
	if (!lb) {
		free(b);
		if (a && !la) {
			free(a);
			return NULL;
		}
		return a;
	}
	if (!la) {
		free(a);
		return b;
	}
	char *s = rap__realloc(a, la + lb + 1);
	if (!s) {
		free(a);
		free(b);
		return NULL;
	}
	memcpy(s + la, b, lb + 1);
	free(b);
	return s;
}

/* Runs cmd capped at cap bytes of output and error text together. The answer is the output
 * followed by the error text: whatever ran before a failure keeps its output and the reason
 * follows, so a refused command answers with its one-line explanation. *stopped: the line
 * was stopped at the cap. */
static int serve_run(struct rap_core *c, const char *cmd, size_t cap, char **out, bool *stopped)
{
	char *o = NULL, *e = NULL;
	*out = NULL;
	/* A core that serves a client is marked so, whoever made it (policy.c). */
	rap_core_set_served(c);
	size_t saved = c->output_max;
	c->output_max = cap;
	int rc = rap__core_cmd_capture(c, cmd, &o, &e, stopped);
	c->output_max = saved;
	if (rc == RAP_ENOMEM && !o && !e) {
		*out = rap__strdup("error: out of memory\n");
		return rc;
	}
	if (rc >= 0) {
		free(e);
		e = NULL;
	}
	*out = join_take(o, e);
	return rc;
}

static int serve_cmd(void *ctx, const char *cmd, char **out)
{
	struct rap_core *c = ctx;
	/* A client's line may ask for far more output than anyone should buffer: without a
	 * cap of the caller's, the largest reply a client takes by default. */
	size_t cap = c->output_max_set ? c->output_max : RAP_CORE_SERVE_OUTPUT_MAX;
	bool stopped;
	return serve_run(c, cmd, cap, out, &stopped);
}

static int serve_cmd_bounded(void *ctx, const struct rap_cmd_request *req, char **out, bool *stopped)
{
	struct rap_core *c = ctx;
	/* The request's bound (what the reply can carry, what the server's memory allows), or
	 * the caller's own cap when that is smaller. */
	size_t cap = req->max_output ? req->max_output : 1;
	if (c->output_max_set && c->output_max && c->output_max < cap)
		cap = c->output_max;
	c->cancel_req = req;
	int rc = serve_run(c, req->cmd, cap, out, stopped);
	c->cancel_req = NULL;
	return rc;
}

static const struct rap_server_handler core_handler = {
	.open = serve_open,
	.read = serve_read,
	.write = serve_write,
	.seek = serve_seek,
	.close = serve_close,
	.cmd = serve_cmd,
	.log = NULL,
	.cmd_bounded = serve_cmd_bounded,
	.pread = serve_pread,
	.pwrite = serve_pwrite,
	.stat = serve_stat,
};

const struct rap_server_handler *rap_core_rap_handler(void)
{
	return &core_handler;
}
