/* The caching relay (rap/relay.h): its configuration, each session's upstream connection,
 * and the rap_server_handler that answers a client from the session's IO instance, whose
 * only plugin is the upstream (p/io_upstream.c) and whose descriptors go through the read
 * cache. */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <rap/io.h>
#include <rap/relay.h>
#include <rap/tls.h>

#include "common.h"
#include "relay_private.h"

/* A client CMD without a bound of its own gets at most this much output. */
#define RELAY_CMD_OUTPUT_MAX ((size_t)64 << 20)

static void relay_log(const struct rap_relay *r, int level, const char *fmt, ...)
{
	if (!r->log)
		return;
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->log(r->log_user, level, msg);
}

static void set_why(char *why, size_t cap, const char *text)
{
	if (why && cap)
		snprintf(why, cap, "%s", text);
}

int rap_relay_new(const struct rap_relay_config *cfg, struct rap_relay **out, char *why, size_t cap)
{
	set_why(why, cap, "");
	if (!cfg || !cfg->uri || !out)
		return RAP_EINVAL;
	*out = NULL;
	struct rap_uri *u = rap__malloc(sizeof(*u));
	if (!u)
		return RAP_ENOMEM;
	int rc = rap_uri_parse(cfg->uri, NULL, u);
	if (rc < 0) {
		set_why(why, cap, "not a rap:// or raps:// URI with a host and a port");
	} else if (strcmp(u->scheme, "rap") != 0 && strcmp(u->scheme, "raps") != 0) {
		set_why(why, cap, "the upstream must be a rap:// or raps:// URI");
		rc = RAP_EURI;
	} else if (u->listen || !u->host[0]) {
		set_why(why, cap, "the upstream URI needs a host (rap://HOST:PORT/)");
		rc = RAP_EURI;
	} else if (u->has_path && u->path[0]) {
		set_why(why, cap, "the upstream URI takes no path: clients' paths are used as they are");
		rc = RAP_EINVAL;
	} else if (u->tls && !rap_tls_available()) {
		set_why(why, cap, "raps:// needs TLS, which this build lacks");
		rc = RAP_ENOTSUP;
	}
	if (rc < 0) {
		rap__free(u);
		return rc;
	}
	struct rap_relay *r = rap__calloc(1, sizeof(*r));
	if (!r) {
		rap__free(u);
		return RAP_ENOMEM;
	}
	snprintf(r->host, sizeof(r->host), "%s", u->host);
	snprintf(r->port, sizeof(r->port), "%s", u->port);
	r->tls = u->tls;
	/* Bounded by its parts' sizes: 16 + 256 + 32 and the punctuation. */
	(void)snprintf(r->uri, sizeof(r->uri), "%.15s://%s%.255s%s:%.31s/", u->scheme, strchr(u->host, ':') ? "[" : "",
		 u->host, strchr(u->host, ':') ? "]" : "", u->port);
	rap__free(u);
	r->tls_cfg = cfg->tls;
	r->secret = cfg->secret;
	r->cache_max = cfg->cache_max ? cfg->cache_max : RAP_IO_CACHE_MAX_DEFAULT;
	r->connect_timeout_ms = cfg->connect_timeout_ms;
	r->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : RAP_RELAY_TIMEOUT_DEFAULT;
	r->log = cfg->log;
	r->log_user = cfg->log_user;
	*out = r;
	return 0;
}

void rap_relay_free(struct rap_relay *r)
{
	rap__free(r);
}

int rap_relay_session_new(const struct rap_relay *r, struct rap_relay_session **out)
{
	if (!r || !out)
		return RAP_EINVAL;
	*out = NULL;
	struct rap_relay_session *s = rap__calloc(1, sizeof(*s));
	if (!s)
		return RAP_ENOMEM;
	int rc = rap__prefetch_init(&s->pf);
	if (rc < 0) {
		rap__free(s);
		return rc;
	}
	rc = rap_io_new_bare(&s->io);
	if (rc == 0)
		rc = rap_io_register(s->io, &rap__io_plugin_upstream);
	if (rc < 0) {
		rap_io_free(s->io);
		rap__prefetch_fini(&s->pf);
		rap__free(s);
		return rc;
	}
	rap_io_set_user(s->io, s);
	rap_io_cache_set_max(s->io, r->cache_max);
	/* Each miss asks for its own blocks: the prefetch reads sequential streams ahead, on
	 * its own thread, so that the link never idles between misses. */
	rap_io_cache_set_readahead(s->io, 0);
	s->relay = r;
	s->fd = -1;
	s->last_rfd = -1;
	*out = s;
	return 0;
}

void rap_relay_session_free(struct rap_relay_session *s)
{
	if (!s)
		return;
	/* The files first: an extension upstream is told of each close (after the prefetch
	 * under way, which each close waits for); then the prefetch thread. */
	rap_io_free(s->io);
	rap__prefetch_fini(&s->pf);
	rap_client_free(s->up);
	rap__free(s);
}

void rap_relay_session_stats(const struct rap_relay_session *s, struct rap_relay_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!s)
		return;
	*out = s->stats;
	out->extension = s->up && s->ext;
	int fds[64];
	size_t n = rap_io_fds(s->io, fds, 64);
	for (size_t i = 0; i < n && i < 64; i++) {
		struct rap_io_cache_stats cs;
		if (rap_io_cache_stats(s->io, fds[i], &cs) == 0)
			out->hits += cs.hits;
	}
}

/* ---- the upstream connection ---------------------------------------------------------- */

static void drop(struct rap_relay_session *s, const char *why)
{
	relay_log(s->relay, 4, "upstream %s: connection lost (%s)", s->relay->uri, why);
	rap_client_free(s->up);
	s->up = NULL;
	s->ext = false;
	s->last_rfd = -1;
}

int rap__relay_check(struct rap_relay_session *s, int rc)
{
	if (rc < 0 && s->up && !rap_client_alive(s->up)) {
		const char *e = rap_client_error(s->up);
		drop(s, e && *e ? e : rap_strerror(rc));
	}
	return rc;
}

/* Whether the upstream closed an idle connection (its --idle-timeout): between requests
 * nothing may arrive, so anything readable, or a hang-up, means it is gone. Asked before
 * each use, so a request is never sent on a connection that cannot answer it. */
static bool hung_up(const struct rap_relay_session *s)
{
	struct pollfd pfd = { .fd = rap_client_fd(s->up), .events = POLLIN | POLLRDHUP };
	return pfd.fd >= 0 && poll(&pfd, 1, 0) > 0;
}

int rap__relay_connect(struct rap_relay_session *s)
{
	if (s->up && hung_up(s))
		drop(s, "the upstream closed it, perhaps for being idle; connecting again");
	if (s->up)
		return 0;
	const struct rap_relay *r = s->relay;
	struct rap_client *c = NULL;
	int rc = rap_client_new(&c);
	if (rc < 0)
		return rc;
	if (r->connect_timeout_ms > 0)
		rap_client_set_connect_timeout(c, r->connect_timeout_ms);
	/* A silent upstream must not hold the loop's thread (and every other client) for
	 * good: each request waits at most this long for it. Commands lift it. */
	rap_client_set_stall_timeout(c, r->timeout_ms);
	if (r->tls) {
		struct rap_tls_config *own = NULL;
		struct rap_tls_config *cfg = r->tls_cfg;
		if (!cfg) {
			rc = rap_tls_config_new(false, &own);
			cfg = own;
		}
		if (rc == 0)
			rc = rap_client_connect_tls(c, r->host, r->port, cfg);
		/* The connection holds its own reference to the TLS context. */
		rap_tls_config_free(own);
	} else {
		rc = rap_client_connect(c, r->host, r->port);
	}
	if (rc == 0) {
		rap_client_set_secret(c, r->secret);
		rc = rap_client_probe(c);
	}
	if (rc < 0) {
		const char *e = rap_client_error(c);
		char text[640];
		snprintf(text, sizeof(text), "upstream %s: %.300s", r->uri, e && *e ? e : rap_strerror(rc));
		rap_io_set_error(s->io, text);
		relay_log(r, 3, "%s", text);
		rap_client_free(c);
		return rc;
	}
	s->up = c;
	s->gen++;
	s->ext = rap_client_has_extension(c);
	s->last_rfd = -1;
	s->stats.connects++;
	relay_log(r, 6, "upstream %s: connected (%s%s)", r->uri,
		  s->ext ? "extension" : "stock protocol", rap_client_authenticated(c) ? ", authenticated" : "");
	return 0;
}

/* ---- the handler --------------------------------------------------------------------- */

static int relay_open(void *ctx, const char *path, uint8_t perm)
{
	struct rap_relay_session *s = ctx;
	int fd = rap_io_open(s->io, path, perm);
	if (fd < 0) {
		const char *e = rap_io_error(s->io);
		relay_log(s->relay, 5, "open of %s refused: %s", path, e && *e ? e : rap_strerror(fd));
		return fd;
	}
	s->fd = fd;
	s->off = 0;
	return fd;
}

/* A READ's answer: what could be read, or the error when nothing could. */
static ssize_t read_full(struct rap_relay_session *s, int fd, uint64_t off, uint8_t *buf, size_t len)
{
	size_t got;
	int rc = rap_io_read_full(s->io, fd, off, buf, len, &got);
	return rc < 0 && !got ? rc : (ssize_t)got;
}

static ssize_t relay_read(void *ctx, uint8_t *buf, size_t len)
{
	struct rap_relay_session *s = ctx;
	if (s->fd < 0)
		return RAP_EBADFD;
	return read_full(s, s->fd, s->off, buf, len);
}

static ssize_t relay_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct rap_relay_session *s = ctx;
	if (s->fd < 0)
		return RAP_EBADFD;
	return rap_io_write_at(s->io, s->fd, s->off, buf, len);
}

static int relay_seek(void *ctx, int whence, uint64_t offset, uint64_t *result)
{
	struct rap_relay_session *s = ctx;
	switch (whence) {
	case RAP_SEEK_SET:
		s->off = offset;
		*result = s->off;
		return 0;
	case RAP_SEEK_END:
		if (s->fd < 0)
			return RAP_EBADFD;
		/* Asked once: the cache keeps the size until the file is written. */
		return rap_io_size(s->io, s->fd, result);
	default:
		*result = s->off;
		return 0;
	}
}

static int relay_close(void *ctx, int32_t fd)
{
	struct rap_relay_session *s = ctx;
	/* The session's hits outlive the descriptor's cache, which goes with it whatever
	 * the close answers. */
	struct rap_io_cache_stats cs;
	if (rap_io_cache_stats(s->io, fd, &cs) == 0)
		s->stats.hits += cs.hits;
	int rc = rap_io_close(s->io, fd);
	if (rc == 0 && fd == s->fd)
		s->fd = -1;
	return rc;
}

/* Drops what a command upstream may have changed: every descriptor but those of files
 * opened read-only that are not processes. */
static void invalidate_after_cmd(struct rap_relay_session *s)
{
	int fds[256];
	size_t n = rap_io_fds(s->io, fds, 256);
	if (n > 256) {
		rap_io_cache_invalidate_all(s->io);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int perm = rap_io_fd_perm(s->io, fds[i]);
		int flags = rap_io_cache_get(s->io, fds[i]);
		if (perm < 0 || flags < 0 || (perm & RAP_PERM_W) || (flags & RAP_IO_CACHE_VOLATILE))
			rap_io_cache_invalidate(s->io, fds[i]);
	}
}

struct collect {
	char *buf;  /* heap; the output so far */
	size_t len;
	size_t cap; /* the most kept */
	bool stopped;
};

static int collect_chunk(void *user, const char *data, size_t len)
{
	struct collect *o = user;
	size_t room = o->cap - o->len;
	bool over = len > room;
	size_t take = over ? room : len;
	if (take) {
		char *b = rap__realloc(o->buf, o->len + take + 1);
		if (!b)
			return RAP_ENOMEM;
		o->buf = b;
		memcpy(o->buf + o->len, data, take);
		o->len += take;
		o->buf[o->len] = '\0';
	}
	if (over) {
		o->stopped = true;
		return RAP_ETOOBIG; /* the rest is read and dropped */
	}
	return 0;
}

static char *error_text(const char *uri, const char *what)
{
	size_t n = strlen(uri) + strlen(what) + 32;
	char *t = malloc(n);
	if (t)
		snprintf(t, n, "error: upstream %s: %s\n", uri, what);
	return t;
}

static int forward_cmd(struct rap_relay_session *s, const char *cmd, size_t cap, char **out, bool *stopped)
{
	*out = NULL;
	*stopped = false;
	/* Nothing to run: radare2 sends two empty CMDs when it opens a file (its io's init),
	 * which a stock upstream answers with nothing and ours, through the extension,
	 * refuses as an empty command. Answered here, as stock does, without a round trip. */
	if (!cmd[0])
		return 0;
	/* A debugged process may have run since its blocks were read; a prefetch's data may be
	 * what the command changes. (Dropping it waits for a fetch under way, which must end
	 * before the connection is looked at.) */
	rap__prefetch_drop(s, -1);
	int rc = rap__relay_connect(s);
	if (rc < 0) {
		*out = error_text(s->relay->uri, rap_io_error(s->io));
		return rc;
	}
	rap_io_cache_invalidate_volatile(s->io);
	struct collect o = { .cap = cap };
	int status = RAP_CMD_STATUS_UNKNOWN;
	/* A command may run upstream for minutes; it runs on a worker thread here. */
	rap_client_set_stall_timeout(s->up, 0);
	rc = rap_client_cmd_stream(s->up, cmd, collect_chunk, &o, &status);
	if (s->up)
		rap_client_set_stall_timeout(s->up, s->relay->timeout_ms);
	s->stats.cmds++;
	invalidate_after_cmd(s);
	if (rc == RAP_ETOOBIG && o.stopped)
		rc = 0;
	if (rc < 0) {
		const char *e = rap_client_error(s->up);
		char *t = error_text(s->relay->uri, e && *e ? e : rap_strerror(rc));
		rap__relay_check(s, rc);
		rap__free(o.buf);
		*out = t;
		return rc;
	}
	*stopped = o.stopped;
	/* The session frees *out with free(). */
	if (o.buf) {
		*out = malloc(o.len + 1);
		if (*out)
			memcpy(*out, o.buf, o.len + 1);
		rap__free(o.buf);
	}
	return status == RAP_CMD_STATUS_FAILED ? RAP_EREMOTE : 0;
}

static int relay_cmd(void *ctx, const char *cmd, char **out)
{
	bool stopped;
	return forward_cmd(ctx, cmd, RELAY_CMD_OUTPUT_MAX, out, &stopped);
}

static int relay_cmd_bounded(void *ctx, const struct rap_cmd_request *req, char **out, bool *stopped)
{
	return forward_cmd(ctx, req->cmd, req->max_output ? req->max_output : 1, out, stopped);
}

/* The extension's messages address any of the session's files. */
static int served_fd(struct rap_relay_session *s, int32_t fd)
{
	return fd < 0 || rap_io_fd_perm(s->io, fd) < 0 ? RAP_EBADFD : 0;
}

static ssize_t relay_pread(void *ctx, int32_t fd, uint64_t off, uint8_t *buf, size_t len)
{
	struct rap_relay_session *s = ctx;
	int rc = served_fd(s, fd);
	return rc < 0 ? rc : read_full(s, fd, off, buf, len);
}

static ssize_t relay_pwrite(void *ctx, int32_t fd, uint64_t off, const uint8_t *buf, size_t len)
{
	struct rap_relay_session *s = ctx;
	int rc = served_fd(s, fd);
	return rc < 0 ? rc : rap_io_write_at(s->io, fd, off, buf, len);
}

static int relay_stat(void *ctx, int32_t fd, struct rap_stat *st)
{
	struct rap_relay_session *s = ctx;
	int rc = served_fd(s, fd);
	if (rc < 0)
		return rc;
	int flags = rap_io_cache_get(s->io, fd);
	rc = rap_io_fd_stat(s->io, fd, st);
	if (rc == 0 && flags < 0)
		rc = RAP_EBADFD;
	st->kind = (flags & RAP_IO_CACHE_VOLATILE) ? RAP_KIND_PROCESS : RAP_KIND_REMOTE;
	return rc;
}

static const struct rap_server_handler relay_handler = {
	.open = relay_open,
	.read = relay_read,
	.write = relay_write,
	.seek = relay_seek,
	.close = relay_close,
	.cmd = relay_cmd,
	.log = NULL,
	.cmd_bounded = relay_cmd_bounded,
	.pread = relay_pread,
	.pwrite = relay_pwrite,
	.stat = relay_stat,
};

const struct rap_server_handler *rap_relay_handler(void)
{
	return &relay_handler;
}
