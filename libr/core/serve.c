/* Serving a core over RAP: the rap_server_handler whose ctx is a struct rap_core. Each
 * session gets its own core, so descriptors and positions are never shared. */
#include <stdlib.h>
#include <string.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"

static int serve_open(void *ctx, const char *path, uint8_t perm)
{
	/* The IO instance carries the operator's open policy (root, write access, schemes);
	 * the served mark the rest (policy.c). */
	rap_core_set_served(ctx);
	return rap_core_open(ctx, path, perm);
}

static ssize_t serve_read(void *ctx, uint8_t *buf, size_t len)
{
	struct rap_core *c = ctx;
	if (c->fd < 0)
		return RAP_EBADFD;
	size_t done = 0;
	/* Plugins may return less than asked before the end (rap:// in chunks); only a 0 is
	 * the end of the data. */
	while (done < len) {
		uint64_t off = c->off + done;
		if (off < c->off)
			break;
		ssize_t n = rap_io_read_at(c->io, c->fd, off, buf + done, len - done);
		if (n < 0)
			return done ? (ssize_t)done : n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
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

static int serve_close(void *ctx, int32_t fd)
{
	struct rap_core *c = ctx;
	/* Only this core's IO table is searched: another session's fds and the server's own
	 * OS descriptors are unknown here (stock radare2 would close(2) any number). On a
	 * borrowed IO only what this core opened. */
	return rap__core_close(c, fd);
}

/* Joins a and b into one heap string (either may be NULL). */
static char *join(const char *a, const char *b)
{
	size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
	char *s = rap__malloc(la + lb + 1);
	if (!s)
		return NULL;
	if (la)
		memcpy(s, a, la);
	if (lb)
		memcpy(s + la, b, lb);
	s[la + lb] = '\0';
	return s;
}

static int serve_cmd(void *ctx, const char *cmd, char **out)
{
	struct rap_core *c = ctx;
	char *o = NULL, *e = NULL;
	*out = NULL;
	/* A core that serves a client is marked so, whoever made it (policy.c). */
	rap_core_set_served(c);
	/* A client's line may ask for far more output than anyone should buffer: without a
	 * cap of the caller's, the largest reply a client takes by default. */
	bool dflt = !c->output_max_set;
	if (dflt)
		c->output_max = RAP_CORE_SERVE_OUTPUT_MAX;
	int rc = rap_core_cmd_str(c, cmd, &o, &e);
	if (dflt)
		c->output_max = 0;
	if (rc == RAP_ENOMEM && !o && !e) {
		*out = join("error: out of memory\n", NULL);
		return rc;
	}
	if (rc < 0) {
		/* Whatever ran before the failure keeps its output; the reason follows, so a
		 * refused command answers with its one-line explanation. */
		*out = join(o, e);
		free(o);
	} else {
		*out = o;
	}
	free(e);
	if (*out && !**out) {
		free(*out);
		*out = NULL;
	}
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
};

const struct rap_server_handler *rap_core_rap_handler(void)
{
	return &core_handler;
}
