/* The RAP server of the prompt ("=:PORT", "=&:PORT"): a rap_server whose every client
 * gets its own session core on the user's shared IO.
 *
 * Policy. Below "write" a client may OPEN only files the user has open, read-only
 * (opening the user's URI, not the client's path), and WRITE is refused; at any level a
 * client may CLOSE (or "o-", "o--") only what it opened, and those files close when it
 * goes, and opens no network file (its core is served: policy.c). Opens also pass the IO
 * instance's own policy (root, schemes, write access), which the user's files share. A
 * client's q ends its own session, never the server. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <rap/core.h>
#include <rap/io.h>
#include <rap/server.h>

#include "common.h"
#include "core_private.h"
#include "servers.h"

#define RAP_MAX_SESSIONS 256

/* One RAP client. Its core tracks the files it opened (rap__core_owns). */
struct rap_sess {
	struct rap__srv *srv;
	struct rap_core *core;
};

/* A local file's real path, for plain paths and file:// URIs; false for other schemes. */
static bool local_realpath(const char *uri, char *out)
{
	if (!strncmp(uri, "file://", 7))
		uri += 7;
	else if (strstr(uri, "://"))
		return false;
	return realpath(uri, out) != NULL;
}

/* Below "write" a client opens only what the user has open ("serve the open files"),
 * by the same URI or, for local files, the same real path; opening anything else is
 * what "o URI" does, a write-level command. Returns a heap copy of the user's URI for
 * path, which is what gets opened (never the client's string, which a symlink swap could
 * point elsewhere between this check and the open), or NULL. */
static char *user_uri_for(struct rap_sess *rs, const char *path)
{
	struct rap_io *io = rs->core->io;
	char want[PATH_MAX], have[PATH_MAX];
	bool local = local_realpath(path, want);
	int fds[64];
	size_t n = rap_io_fds(io, fds, 64);
	for (size_t i = 0; i < n && i < 64; i++) {
		const char *uri;
		if (rap__core_fd_uri(rs->core, fds[i], &uri) < 0 || rap__core_owns(rs->core, fds[i]))
			continue;
		if (!strcmp(uri, path) || (local && local_realpath(uri, have) && !strcmp(want, have)))
			return rap__strdup(uri);
	}
	return NULL;
}

static int h_open(void *ctx, const char *path, uint8_t perm)
{
	struct rap_sess *rs = ctx;
	char *uri = NULL;
	if (rs->srv->policy < RAP_CORE_POLICY_WRITE) {
		uri = user_uri_for(rs, path);
		if (!uri)
			return RAP_EDENIED;
		/* Below "write" a client only reads: a write open degrades to read-only, as
		 * the IO policy does when writes are off. */
		perm &= (uint8_t)~RAP_PERM_W;
	}
	/* The core tracks what it opens (at most RAP__CORE_OWNED_MAX files): those the
	 * client may close, and they close when it goes. */
	int fd = rap_core_rap_handler()->open(rs->core, uri ? uri : path, perm);
	rap__free(uri);
	return fd;
}

static ssize_t h_read(void *ctx, uint8_t *buf, size_t len)
{
	struct rap_sess *rs = ctx;
	return rap_core_rap_handler()->read(rs->core, buf, len);
}

static ssize_t h_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct rap_sess *rs = ctx;
	/* The client may be positioned on one of the user's files opened read-write. */
	if (rs->srv->policy < RAP_CORE_POLICY_WRITE)
		return RAP_EDENIED;
	return rap_core_rap_handler()->write(rs->core, buf, len);
}

static int h_seek(void *ctx, int whence, uint64_t off, uint64_t *result)
{
	struct rap_sess *rs = ctx;
	return rap_core_rap_handler()->seek(rs->core, whence, off, result);
}

static int h_close(void *ctx, int32_t fd)
{
	struct rap_sess *rs = ctx;
	/* The user's files are shared, not the client's to close: the session's core (on
	 * the borrowed IO) closes only what it opened. */
	return rap_core_rap_handler()->close(rs->core, fd);
}

/* A client's q leaves its own session, never the server: the answer still goes out, then
 * the connection closes. (From the command's worker thread, as rap_server allows.) */
static void quit_if_asked(struct rap_sess *rs)
{
	if (rs->core->quit) {
		rs->core->quit = false;
		rap_server_end_session(rs->srv->rap, rs);
	}
}

static int h_cmd(void *ctx, const char *cmd, char **out)
{
	struct rap_sess *rs = ctx;
	int rc = rap_core_rap_handler()->cmd(rs->core, cmd, out);
	quit_if_asked(rs);
	return rc;
}

/* The output bound of the request (what the client and the server's memory allow), or the
 * session core's own cap when smaller. */
static int h_cmd_bounded(void *ctx, const struct rap_cmd_request *req, char **out, bool *stopped)
{
	struct rap_sess *rs = ctx;
	int rc = rap_core_rap_handler()->cmd_bounded(rs->core, req, out, stopped);
	quit_if_asked(rs);
	return rc;
}

static const struct rap_server_handler sess_handler = {
	.open = h_open,
	.read = h_read,
	.write = h_write,
	.seek = h_seek,
	.close = h_close,
	.cmd = h_cmd,
	.log = NULL,
	.cmd_bounded = h_cmd_bounded,
};

/* A new core on the shared IO for one RAP client. */
static int make_session_core(struct rap__srv *s, struct rap_core **out)
{
	int rc = rap__core_new_shared(s->tmpl, out);
	if (rc < 0)
		return rc;
	struct rap_core *c = *out;
	/* The user may have closed the file the server started on. */
	if (c->fd >= 0 && rap_io_fd_perm(c->io, c->fd) < 0)
		rap__core_forget_fd(c, c->fd);
	rap_core_set_policy(c, s->policy);
	rap_core_set_allow_shell(c, s->shell);
	rap_core_set_served(c); /* inherited from tmpl already; said again where it matters */
	rap_core_set_output_max(c, RAP__SRV_RAP_OUTPUT_MAX);
	return 0;
}

static int sess_open(void *user, const char *peer, void **ctx)
{
	struct rap__srv *s = user;
	struct rap_sess *rs = rap__calloc(1, sizeof(*rs));
	if (!rs)
		return RAP_ENOMEM;
	rs->srv = s;
	int rc = make_session_core(s, &rs->core);
	if (rc < 0) {
		rap__free(rs);
		return rc;
	}
	*ctx = rs;
	return 0;
}

static void sess_close(void *user, void *ctx)
{
	struct rap__srv *s = user;
	struct rap_sess *rs = ctx;
	/* What the client opened goes with its core; the user's files stay. */
	rap_core_free(rs->core);
	rap__free(rs);
	if (s->once)
		s->stop_requested = true;
}

static void sess_log(void *user, int level, const char *peer, const char *msg)
{
	struct rap__srv *s = user;
	if (level <= 6)
		rap__srv_logf(s, "%s%s%s", peer ? peer : "", peer ? " " : "", msg);
}

int rap__srv_rap_attach(struct rap__srv *s)
{
	static const struct rap_server_callbacks cb = {
		.session_open = sess_open,
		.session_close = sess_close,
		.log = sess_log,
	};
	int rc = rap_server_new(s->loop, &sess_handler, &cb, s, &s->rap);
	if (rc < 0)
		return rc;
	rap_server_set_max_sessions(s->rap, s->once ? 1 : RAP_MAX_SESSIONS);
	/* A client's command may print up to the session core's cap (rapcli(1) says 64 MiB),
	 * not only the 16 MiB rap_server's default allows; all of them together 256 MiB. */
	rc = rap_server_set_max_buffered(s->rap, (size_t)256 << 20, RAP__SRV_RAP_OUTPUT_MAX);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < s->nlisteners; i++) {
		rc = rap_server_add_listener(s->rap, s->listen_fds[i], NULL);
		if (rc < 0)
			return rc;
		s->listen_fds[i] = -1; /* the rap_server's now */
	}
	return 0;
}

void rap__srv_rap_detach(struct rap__srv *s)
{
	rap_server_free(s->rap); /* closes the sessions and the listeners it took */
	s->rap = NULL;
}
