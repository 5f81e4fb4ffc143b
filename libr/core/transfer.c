/* File transfers between the current file and this machine's filesystem: "wtf" copies bytes
 * from the position into a local file, "wff" writes a local file at the position.
 *
 * Both move data in CHUNK-sized pieces through rap_io_read_at / rap_io_write_at, so memory
 * stays bounded whatever the size, and over rap:// the client pipelines each piece.
 *
 * Decisions a user can observe:
 * - "wtf" copies real data only. When the size of the file is known, N is clamped to its
 *   end (a stock server would otherwise pad with 0xff, and "wtf F -1" would fill the disk);
 *   when it is unknown, N is an upper bound and the copy stops where the data ends. Unlike
 *   px, no 0xff fill is invented. The summary line gives the count actually copied.
 * - An existing LOCALFILE is left untouched when the first piece cannot be read (a dead
 *   connection does not destroy it); it is truncated only once data is in hand.
 * - A failure later in the copy removes LOCALFILE, because a partial copy under the
 *   expected name looks complete. It is removed only when it is a regular file that the
 *   name still designates directly; a symlink's target, a device or a FIFO is left alone,
 *   and the error then says how much it holds.
 * - Every failure reports how many bytes were transferred.
 * - A progress bar shows on a terminal (progress.c).
 * - Status goes to the error stream, like radare2's "dumped" line and unlike command
 *   output, so "wtf" composes with '>' and '~' without mixing into them. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rap/core.h>

#include "common.h"
#include "core_private.h"

/* Large enough that a rap:// piece fills the client's pipeline, small enough to never
 * matter for memory. */
#define CHUNK (1u << 20)

/* ---- arguments ---------------------------------------------------------------------- */

/* Cuts the first word of args (a pair of quotes groups blanks and is removed) and returns
 * it; *rest receives the remaining text, trimmed. Returns NULL when there is no word. */
static char *first_word(char *args, char **rest)
{
	char *p = args;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return NULL;
	char *w = p, *end;
	if ((*p == '"' || *p == '\'') && strchr(p + 1, *p)) {
		end = strchr(p + 1, *p);
		w = p + 1;
		*end = '\0';
		p = end + 1;
	} else {
		p += strcspn(p, " \t");
		if (*p)
			*p++ = '\0';
	}
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strlen(p);
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		p[--n] = '\0';
	*rest = p;
	return w;
}

static bool asks_help(const char *args)
{
	while (*args == ' ' || *args == '\t')
		args++;
	return args[0] == '?' && !args[1];
}

static void usage_wtf(struct rap_core *c)
{
	fprintf(c->out, "Usage: wtf LOCALFILE [N]   copy N bytes (default: to the end of the file) from the position into LOCALFILE\n");
}

static void usage_wff(struct rap_core *c)
{
	fprintf(c->out, "Usage: wff LOCALFILE [N]   write LOCALFILE (at most N bytes of it) at the position\n");
}

static int need_file(struct rap_core *c)
{
	if (c->fd >= 0)
		return 0;
	rap__core_errorf(c, "no file is open (open one with 'o URI')");
	return RAP_EBADFD;
}

static const char *current_uri(struct rap_core *c)
{
	const char *uri;
	(void)rap__core_fd_uri(c, c->fd, &uri);
	return uri ? uri : "?";
}

/* ---- local file helpers ------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Fills buf from fd until it is full or the file ends. Returns the bytes read or -errno. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* True when path names the open file fd directly (not through a symlink) and it is a
 * regular file: only then may a failed copy remove it. */
static bool removable(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && S_ISREG(a.st_mode) && lstat(path, &b) == 0 && S_ISREG(b.st_mode) &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* True when the current file is a plain local file and fd is that same file: truncating
 * it would destroy the data about to be copied. */
static bool is_source(struct rap_core *c, int fd)
{
	const struct rap_io_plugin *pl = rap_io_fd_plugin(c->io, c->fd);
	const char *uri;
	if (rap__core_fd_uri(c, c->fd, &uri) < 0 || !pl || strcmp(pl->name, "file") != 0)
		return false;
	if (!strncmp(uri, "file://", 7))
		uri += 7;
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(uri, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* ---- wtf ---------------------------------------------------------------------------- */

struct wtf_job {
	const char *path;
	int fd;
	bool created; /* the command created path (nothing was there before) */
	bool regular; /* path is a regular file (devices and FIFOs cannot be truncated) */
	uint64_t off, len, done;
};

/* Fills buf with up to len bytes at off of the current file. *got receives the bytes read,
 * fewer than len only where the data ends (*eof) or on failure (the error is returned). */
static int read_piece(struct rap_core *c, uint64_t off, uint8_t *buf, size_t len, size_t *got, bool *eof)
{
	int rc = rap_io_read_full(c->io, c->fd, off, buf, len, got);
	if (rc == 0 && *got < len)
		*eof = true;
	return rc;
}

/* Cleans up after a failure: see the header for when the local file is removed. */
static void wtf_fail_cleanup(struct rap_core *c, struct wtf_job *j, bool truncated)
{
	bool rm = removable(j->fd, j->path);
	close(j->fd);
	if (!truncated) {
		/* Nothing was written: an existing file keeps its contents, and the empty file
		 * this command created goes away without a word. */
		if (j->created && rm)
			unlink(j->path);
		else if (!j->created && j->regular)
			rap__core_errorf(c, "'%s' was left unchanged", j->path);
		return;
	}
	if (rm && unlink(j->path) == 0)
		rap__core_errorf(c, "removed the incomplete '%s'", j->path);
	else if (j->regular)
		rap__core_errorf(c, "'%s' is incomplete: it holds 0x%" PRIx64 " of 0x%" PRIx64 " bytes",
				 j->path, j->done, j->len);
}

/* Empties an existing regular file once the first data is in hand. */
static int wtf_truncate(struct rap_core *c, struct wtf_job *j)
{
	if (!j->regular || ftruncate(j->fd, 0) == 0)
		return 0;
	int rc = -errno;
	rap__core_errorf(c, "cannot truncate '%s': %s", j->path, strerror(errno));
	return rc;
}

static int wtf_copy(struct rap_core *c, struct wtf_job *j, bool total_known)
{
	uint8_t *buf = rap__malloc(CHUNK);
	if (!buf) {
		rap__core_errorf(c, "out of memory");
		wtf_fail_cleanup(c, j, false);
		return RAP_ENOMEM;
	}
	struct rap__progress p;
	rap__progress_start(&p, c, j->len, total_known, 0);
	bool eof = false, truncated = false;
	int rc = 0;
	while (j->done < j->len && !eof) {
		if (rap__core_interrupted(c)) {
			rc = -EINTR;
			rap__progress_end(&p, j->done, false);
			rap__core_errorf(c, "interrupted after 0x%" PRIx64 " of 0x%" PRIx64 " bytes", j->done, j->len);
			break;
		}
		uint64_t left = j->len - j->done;
		size_t want = left < CHUNK ? (size_t)left : CHUNK, got;
		int rrc = read_piece(c, j->off + j->done, buf, want, &got, &eof);
		/* Whatever arrived before a read failure is kept, so the local file (when it
		 * stays) and the message agree on what was transferred. */
		if (!truncated && (got || rrc == 0)) {
			rc = wtf_truncate(c, j);
			if (rc < 0)
				break;
			truncated = true;
		}
		if (got) {
			rc = write_all(j->fd, buf, got);
			if (rc < 0) {
				rap__progress_end(&p, j->done, false);
				rap__core_errorf(c, "cannot write '%s' after 0x%" PRIx64 " of 0x%" PRIx64 " bytes: %s",
						 j->path, j->done, j->len, strerror(-rc));
				break;
			}
			j->done += got;
		}
		if (rrc < 0) {
			rc = rrc;
			rap__progress_end(&p, j->done, false);
			rap__core_errorf(c, "cannot read at 0x%08" PRIx64 " after 0x%" PRIx64 " of 0x%" PRIx64 " bytes: %s",
					 j->off + j->done, j->done, j->len, rap_strerror(rc));
			break;
		}
		rap__progress_update(&p, j->done);
	}
	rap__free(buf);
	/* The empty copy still has to empty an existing file. */
	if (rc == 0 && !truncated) {
		rc = wtf_truncate(c, j);
		truncated = rc == 0;
	}
	if (rc < 0) {
		wtf_fail_cleanup(c, j, truncated);
		return rc;
	}
	/* close() is where a network filesystem or a full disk may report the last write. */
	bool rm = removable(j->fd, j->path);
	if (close(j->fd) < 0) {
		rc = -errno;
		rap__progress_end(&p, j->done, false);
		rap__core_errorf(c, "cannot write '%s': %s", j->path, strerror(-rc));
		if (rm && unlink(j->path) == 0)
			rap__core_errorf(c, "removed the incomplete '%s'", j->path);
		return rc;
	}
	/* The data may end before N (size unknown): the bar ends at what was copied. */
	p.total = j->done;
	rap__progress_end(&p, j->done, true);
	/* radare2's wording, so scripts that look for it keep working. */
	fprintf(c->err, "dumped 0x%" PRIx64 " bytes\n", j->done);
	return 0;
}

/* Opens path for writing without truncating it (that waits for the first data). */
static int wtf_open(struct rap_core *c, struct wtf_job *j)
{
	j->created = true;
	j->fd = rap__core_open_file(c, j->path, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY);
	if (j->fd == -EEXIST) {
		j->created = false;
		j->fd = rap__core_open_file(c, j->path, O_WRONLY | O_NOCTTY);
	}
	if (j->fd < 0) {
		int rc = j->fd;
		j->fd = -1;
		rap__core_errorf(c, "cannot open '%s' for writing: %s", j->path, rap__core_open_reason(c, NULL, rc));
		return rc;
	}
	struct stat st;
	j->regular = fstat(j->fd, &st) == 0 && S_ISREG(st.st_mode);
	if (!j->created && is_source(c, j->fd)) {
		close(j->fd);
		rap__core_errorf(c, "'%s' is the file being read; choose another local file", j->path);
		return RAP_EINVAL;
	}
	return 0;
}

int rap__core_cmd_wtf(struct rap_core *c, const char *name, char *args)
{
	if (asks_help(args)) {
		usage_wtf(c);
		return 0;
	}
	char *rest;
	char *path = first_word(args, &rest);
	if (!path || !*path) {
		rap__core_errorf(c, "usage: wtf LOCALFILE [N]");
		return RAP_EINVAL;
	}
	int rc = need_file(c);
	if (rc < 0)
		return rc;
	struct wtf_job j = { .path = path, .fd = -1, .off = c->off };
	uint64_t n = 0;
	if (*rest && rap__core_eval(c, rest, &n) < 0) {
		rap__core_errorf(c, "invalid length '%s'", rest);
		return RAP_EINVAL;
	}
	uint64_t size;
	rc = rap_io_size(c->io, c->fd, &size);
	bool known = rc == 0;
	if (known) {
		if (c->off > size) {
			rap__core_errorf(c, "the position 0x%" PRIx64 " is past the end of '%s' (0x%" PRIx64 ")",
					 c->off, current_uri(c), size);
			return RAP_EINVAL;
		}
		j.len = size - c->off;
		if (*rest && n < j.len)
			j.len = n;
	} else if (!*rest) {
		rap__core_errorf(c, "the size of '%s' is unknown (%s); give the length: wtf %s N",
				 current_uri(c), rap_strerror(rc), path);
		return rc;
	} else {
		/* Nothing lies past the last address; the copy ends there at the latest. */
		uint64_t room = c->off ? UINT64_MAX - c->off + 1 : UINT64_MAX;
		j.len = n < room ? n : room;
		/* "-1" (2^64-1) means "all there is": no meaningful percentage then. */
		known = n < (UINT64_C(1) << 63);
	}
	rc = wtf_open(c, &j);
	if (rc < 0)
		return rc;
	return wtf_copy(c, &j, known);
}

/* ---- wff ---------------------------------------------------------------------------- */

/* Writes len bytes at off of the current file. Returns 0 or the failure; *written counts
 * the bytes the file accepted. */
static int write_piece(struct rap_core *c, uint64_t off, const uint8_t *buf, size_t len, size_t *written)
{
	*written = 0;
	while (*written < len) {
		ssize_t n = rap_io_write_at(c->io, c->fd, off + *written, buf + *written, len - *written);
		if (n < 0)
			return (int)n;
		/* A fixed-size file (malloc://) accepts nothing past its end: stop, don't spin. */
		if (n == 0)
			return RAP_ENOSPC;
		*written += (size_t)n;
	}
	return 0;
}

int rap__core_cmd_wff(struct rap_core *c, const char *name, char *args)
{
	if (asks_help(args)) {
		usage_wff(c);
		return 0;
	}
	char *rest;
	char *path = first_word(args, &rest);
	if (!path || !*path) {
		rap__core_errorf(c, "usage: wff LOCALFILE [N]");
		return RAP_EINVAL;
	}
	int rc = need_file(c);
	if (rc < 0)
		return rc;
	uint64_t limit = UINT64_MAX;
	if (*rest && rap__core_eval(c, rest, &limit) < 0) {
		rap__core_errorf(c, "invalid length '%s'", rest);
		return RAP_EINVAL;
	}
	/* Checked before touching the local file, so the refusal is the only message. */
	int perm = rap_io_fd_perm(c->io, c->fd);
	if (perm < 0 || !(perm & RAP_PERM_W)) {
		rap__core_errorf(c, "cannot write: '%s' is open read-only (reopen it with 'o URI rw')", current_uri(c));
		return RAP_EDENIED;
	}
	int fd = rap__core_open_file(c, path, O_RDONLY | O_NOCTTY);
	if (fd < 0) {
		rap__core_errorf(c, "cannot open '%s': %s", path, rap__core_open_reason(c, NULL, fd));
		return fd;
	}
	struct stat st;
	rc = fstat(fd, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : 0;
	if (rc < 0) {
		rap__core_errorf(c, "cannot read '%s': %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	/* A FIFO or a device has no size: the bar then shows bytes and rate only. */
	bool known = S_ISREG(st.st_mode);
	uint64_t total = known ? (uint64_t)st.st_size : 0;
	if (known && total > limit)
		total = limit;
	uint8_t *buf = rap__malloc(CHUNK);
	if (!buf) {
		close(fd);
		rap__core_errorf(c, "out of memory");
		return RAP_ENOMEM;
	}
	struct rap__progress p;
	rap__progress_start(&p, c, total, known, 0);
	uint64_t off = c->off, done = 0;
	rc = 0;
	while (done < limit) {
		if (rap__core_interrupted(c)) {
			rc = -EINTR;
			rap__progress_end(&p, done, false);
			rap__core_errorf(c, "interrupted after writing 0x%" PRIx64 " bytes of '%s'", done, path);
			break;
		}
		uint64_t left = limit - done;
		ssize_t n = read_full(fd, buf, left < CHUNK ? (size_t)left : CHUNK);
		if (n < 0) {
			rc = (int)n;
			rap__progress_end(&p, done, false);
			rap__core_errorf(c, "cannot read '%s' after 0x%" PRIx64 " bytes: %s", path, done, strerror(-rc));
			break;
		}
		if (n == 0)
			break;
		/* Writing wraps to address 0 past 2^64-1: refuse rather than corrupt the start. */
		if (off + done + (uint64_t)(n - 1) < off) {
			rc = RAP_EINVAL;
			rap__progress_end(&p, done, false);
			rap__core_errorf(c, "writing '%s' at 0x%" PRIx64 " goes past the end of the address space after 0x%" PRIx64 " bytes",
					 path, off, done);
			break;
		}
		size_t w;
		rc = write_piece(c, off + done, buf, (size_t)n, &w);
		done += w;
		if (rc < 0) {
			rap__progress_end(&p, done, false);
			if (rc == RAP_ENOSPC)
				rap__core_errorf(c, "'%s' cannot grow past 0x%08" PRIx64 ": wrote 0x%" PRIx64 " bytes of '%s'",
						 current_uri(c), off + done, done, path);
			else
				rap__core_errorf(c, "cannot write at 0x%08" PRIx64 " after 0x%" PRIx64 " bytes: %s",
						 off + done, done, rap__core_write_error(c, rc));
			break;
		}
		rap__progress_update(&p, done);
	}
	rap__free(buf);
	close(fd);
	if (rc < 0)
		return rc;
	rap__progress_end(&p, done, true);
	fprintf(c->err, "wrote 0x%" PRIx64 " bytes\n", done);
	return 0;
}
