/* "upstream": the relay's files, each a path on the relay session's one upstream
 * connection (relay.c). With the extension every file is addressed by its upstream fd;
 * with a stock upstream only the file opened last can be read or written, and its size is
 * asked once at open (a stock server pads reads past the end with 0xff, so reads are cut
 * at the size, which writes through this file grow). */
#include <string.h>
#include <strings.h>

#include "common.h"
#include "io_private.h"
#include "relay_private.h"

struct upstream_file {
	int32_t rfd;   /* the upstream's fd */
	uint64_t gen;  /* the connection it belongs to */
	uint64_t size; /* stock upstream: the size, grown by our writes */
	bool volatile_; /* a process: never prefetched */
	int perm;       /* as opened, for opening it again on a new connection */
	char *path;     /* owned; the same */
	uint64_t next; /* where the last read ended: a read starting here is sequential */
};

static bool upstream_accepts(const char *uri)
{
	(void)uri;
	return true;
}

static struct rap_relay_session *session_of(struct rap_io_desc *d)
{
	return rap_io_user(rap_io_desc_io(d));
}

/* Opens f again on the session's connection (a new one when the old is gone). */
static int reopen(struct rap_io_desc *d, struct rap_relay_session *s, struct upstream_file *f)
{
	int rc = rap__relay_connect(s);
	if (rc < 0)
		return rc;
	rc = rap_client_open(s->up, f->path, (uint8_t)f->perm);
	if (rc < 0) {
		rap_io_set_error(rap_io_desc_io(d), rap_client_error(s->up));
		return rap__relay_check(s, rc);
	}
	f->rfd = rc;
	f->gen = s->gen;
	s->last_rfd = rc;
	if (!s->ext) {
		rc = rap_client_size(s->up, &f->size);
		if (rc < 0)
			return rap__relay_check(s, rc);
	}
	return 0;
}

/* The file's session, its connection live and the file open on it. Only this thread
 * changes s->up; the prefetch thread may be using it (wait: until it is done; without
 * wait, only a file open on the current connection is usable). */
static int usable_now(struct rap_io_desc *d, struct rap_relay_session **out, bool wait)
{
	struct rap_relay_session *s = session_of(d);
	struct upstream_file *f = rap_io_desc_data(d);
	if (!wait && (!s->up || f->gen != s->gen))
		wait = true;
	if (wait) {
		rap__prefetch_wait(s);
		/* An upstream that hung up (idle): connect and open the file again. */
		int rc = rap__relay_connect(s);
		if (rc == 0 && f->gen != s->gen)
			rc = reopen(d, s, f);
		if (rc < 0)
			return rc;
	}
	/* A stock upstream reads and writes its current file: the one opened last. */
	if (!s->ext && f->rfd != s->last_rfd)
		return RAP_ENOTSUP;
	*out = s;
	return 0;
}

static int usable(struct rap_io_desc *d, struct rap_relay_session **out)
{
	return usable_now(d, out, true);
}

static int upstream_open(struct rap_io_desc *d, const char *uri, int perm)
{
	struct rap_relay_session *s = session_of(d);
	if (!s)
		return RAP_EINVAL;
	rap__prefetch_wait(s);
	int rc = rap__relay_connect(s);
	if (rc < 0)
		return rc;
	struct upstream_file *f = rap__calloc(1, sizeof(*f));
	if (!f)
		return RAP_ENOMEM;
	rc = rap_client_open(s->up, uri, (uint8_t)perm);
	if (rc < 0) {
		rap_io_set_error(rap_io_desc_io(d), rap_client_error(s->up));
		rap__free(f);
		return rap__relay_check(s, rc);
	}
	f->rfd = rc;
	f->gen = s->gen;
	s->last_rfd = rc;
	f->perm = perm;
	f->path = rap__strdup(uri);
	if (!f->path) {
		rap__free(f);
		return RAP_ENOMEM;
	}
	if (!s->ext) {
		rc = rap_client_size(s->up, &f->size);
		if (rc < 0) {
			rap_io_set_error(rap_io_desc_io(d), rap_client_error(s->up));
			rap__free(f->path);
			rap__free(f);
			return rap__relay_check(s, rc);
		}
	}
	rap_io_desc_set_data(d, f);
	/* A debugged process changes on its own: its blocks live until the next command. */
	f->volatile_ = strncasecmp(uri, "dbg://", 6) == 0;
	f->next = UINT64_MAX;
	rap_io_desc_set_cache(d, RAP_IO_CACHE_ON | (f->volatile_ ? RAP_IO_CACHE_VOLATILE : 0));
	return 0;
}

static int upstream_close(struct rap_io_desc *d)
{
	struct rap_relay_session *s = session_of(d);
	struct upstream_file *f = rap_io_desc_data(d);
	/* A stock server passes CLOSE's number to close(2) in its own process: only our
	 * servers are told; a stock one keeps the file until the connection ends. */
	rap__prefetch_drop(s, f->rfd);
	if (s->up && f->gen == s->gen && s->ext)
		rap__relay_check(s, rap_client_close_fd(s->up, f->rfd));
	rap__free(f->path);
	rap__free(f);
	return 0;
}

static ssize_t upstream_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	struct rap_relay_session *s;
	/* What a fetch under way brings need not be waited for before it is needed. */
	int rc = usable_now(d, &s, false);
	if (rc < 0)
		return rc;
	struct upstream_file *f = rap_io_desc_data(d);
	if (!s->ext) {
		if (off >= f->size)
			return 0;
		if (len > f->size - off)
			len = (size_t)(f->size - off);
	}
	bool sequential = off == f->next;
	/* What a prefetch already read, then the rest from the upstream. */
	size_t pre = f->volatile_ ? 0 : rap__prefetch_take(s, f->rfd, f->gen, off, buf, len);
	ssize_t n = (ssize_t)pre;
	if (pre < len && (rc = usable(d, &s)) < 0)
		return rc;
	if (pre < len) {
		uint8_t *rest = (uint8_t *)buf + pre;
		ssize_t m = s->ext ? rap_client_pread(s->up, f->rfd, off + pre, rest, len - pre)
				   : rap_client_read_at(s->up, off + pre, rest, len - pre);
		s->stats.reads++;
		if (m < 0) /* never a short count: the cache would take it for the end */
			return rap__relay_check(s, (int)m);
		if (m > 0) {
			s->stats.read_bytes += (uint64_t)m;
			n += m;
		}
	}
	f->next = off + (uint64_t)n;
	/* A sequential stream: read its next range while the client takes this one. */
	if (!f->volatile_ && (size_t)n == len && (sequential || pre))
		rap__prefetch_advance(s, f->rfd, f->gen, off + len, s->ext ? UINT64_MAX : f->size);
	return n;
}

static ssize_t upstream_write(struct rap_io_desc *d, uint64_t off, const void *buf, size_t len)
{
	struct rap_relay_session *s;
	int rc = usable(d, &s);
	if (rc < 0)
		return rc;
	struct upstream_file *f = rap_io_desc_data(d);
	/* A prefetch may hold what this write replaces. */
	rap__prefetch_drop(s, f->rfd);
	ssize_t n = s->ext ? rap_client_pwrite(s->up, f->rfd, off, buf, len)
			   : rap_client_write_at(s->up, off, buf, len);
	s->stats.writes++;
	if (n < 0)
		return rap__relay_check(s, (int)n);
	if (!s->ext && off + (uint64_t)n > f->size)
		f->size = off + (uint64_t)n;
	return n;
}

static int upstream_size(struct rap_io_desc *d, uint64_t *size)
{
	struct rap_relay_session *s;
	int rc = usable(d, &s);
	if (rc < 0)
		return rc;
	struct upstream_file *f = rap_io_desc_data(d);
	if (!s->ext) {
		*size = f->size;
		return 0;
	}
	struct rap_stat st;
	rc = rap_client_stat(s->up, f->rfd, &st);
	if (rc < 0)
		return rap__relay_check(s, rc);
	if (st.size == RAP_SIZE_UNKNOWN)
		return RAP_ENOTSUP;
	*size = st.size;
	return 0;
}

const struct rap_io_plugin rap__io_plugin_upstream = {
	.abi = RAP_IO_PLUGIN_ABI,
	.name = "upstream",
	.desc = "Files of a relay session's upstream RAP server",
	.uris = "",
	.author = RAP__IO_AUTHOR,
	.license = RAP__IO_LICENSE,
	.accepts = upstream_accepts,
	.open = upstream_open,
	.close = upstream_close,
	.read = upstream_read,
	.write = upstream_write,
	.size = upstream_size,
};
