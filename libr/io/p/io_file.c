/* "file": local files, for plain paths and file:// URIs.
 *
 * radare2 calls its equivalent plugin "default" (uris "file://,nocache://"); ours is named
 * "file" because that is the word operators write in allow-lists, and nocache:// is left
 * out because local files are not cached (libio's read cache is for files behind a link,
 * see rap/io.h). The description is radare2's. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rap/io.h>

#include "common.h"
#include "io_private.h"

#define FILE_SCHEME "file://"

struct file_state {
	int fd;
};

static bool file_accepts(const char *uri)
{
	return strncmp(uri, FILE_SCHEME, strlen(FILE_SCHEME)) == 0 || !strstr(uri, "://");
}

static int file_open(struct rap_io_desc *d, const char *uri, int perm)
{
	const char *path = uri;
	if (strncmp(uri, FILE_SCHEME, strlen(FILE_SCHEME)) == 0)
		path += strlen(FILE_SCHEME);

	/* Never O_CREAT: a remote OPEN of a mistyped name must not leave files behind. The
	 * open itself refuses what is not a regular file (devices only when the opener asked
	 * for them) and never blocks. */
	int flags = (perm & RAP_PERM_W) ? O_RDWR : O_RDONLY;
	int fd = rap_io_open_local_ex(rap_io_desc_io(d), path, flags, rap_io_desc_opts(d));
	if (fd < 0)
		return fd;

	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
		rc = RAP_ENOTSUP; /* streams have no offsets to read at */
	struct file_state *s = rc == 0 ? rap__malloc(sizeof(*s)) : NULL;
	if (rc == 0 && !s)
		rc = RAP_ENOMEM;
	if (rc != 0) {
		close(fd);
		return rc;
	}
	s->fd = fd;
	rap_io_desc_set_data(d, s);
	return 0;
}

static int file_close(struct rap_io_desc *d)
{
	struct file_state *s = rap_io_desc_data(d);
	/* close() is not retried on EINTR: on Linux the descriptor is gone either way. */
	int rc = close(s->fd) < 0 && errno != EINTR ? -errno : 0;
	rap__free(s);
	return rc;
}

static ssize_t file_read(struct rap_io_desc *d, uint64_t off, void *buf, size_t len)
{
	struct file_state *s = rap_io_desc_data(d);
	if (off > INT64_MAX)
		return 0;
	if (len > (uint64_t)INT64_MAX - off)
		len = (size_t)((uint64_t)INT64_MAX - off);
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(s->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* Bytes already read are worth more than the error that follows them. */
			return done ? (ssize_t)done : -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* The data of fd on stable storage (rap_io_set_sync). Files that cannot be flushed
 * (character devices, pipes: EINVAL; read-only file systems have nothing to flush: EROFS)
 * have nothing in a cache to lose. A flush failure is the write's failure: the data may
 * be gone, and the client must not be told otherwise. */
static int flush(int fd)
{
	while (fdatasync(fd) < 0) {
		if (errno == EINTR)
			continue;
		return errno == EINVAL || errno == EROFS ? 0 : -errno;
	}
	return 0;
}

static ssize_t file_write(struct rap_io_desc *d, uint64_t off, const void *buf, size_t len)
{
	struct file_state *s = rap_io_desc_data(d);
	if (off > INT64_MAX)
		return -EFBIG;
	if (len > (uint64_t)INT64_MAX - off)
		len = (size_t)((uint64_t)INT64_MAX - off);
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(s->fd, (const uint8_t *)buf + done, len - done,
				   (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (!done)
				return -errno;
			break; /* what was written is reported, once flushed */
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (done && rap_io_sync(rap_io_desc_io(d))) {
		int rc = flush(s->fd);
		if (rc < 0)
			return rc;
	}
	return (ssize_t)done;
}

static int file_size(struct rap_io_desc *d, uint64_t *size)
{
	struct file_state *s = rap_io_desc_data(d);
	struct stat st;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	/* Block devices report st_size 0; their end is where lseek says. The file position
	 * is free to move: every read and write is positional. */
	off_t end = lseek(s->fd, 0, SEEK_END);
	if (end < 0)
		return RAP_ENOTSUP;
	*size = (uint64_t)end;
	return 0;
}

const struct rap_io_plugin rap__io_plugin_file = {
	.abi = RAP_IO_PLUGIN_ABI,
	.name = "file",
	.desc = "Open local files",
	.uris = FILE_SCHEME,
	.author = RAP__IO_AUTHOR,
	.license = RAP__IO_LICENSE,
	.accepts = file_accepts,
	.open = file_open,
	.close = file_close,
	.read = file_read,
	.write = file_write,
	.size = file_size,
};
