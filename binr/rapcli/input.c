/* Command lines from a descriptor: see input.h. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "input.h"
#include "signals.h"

#define READ_SIZE 4096

void input_init(struct input *in, int fd)
{
	memset(in, 0, sizeof(*in));
	in->fd = fd;
}

void input_free(struct input *in)
{
	free(in->buf);
	in->buf = NULL;
}

/* Returns the first n bytes after start as a line and drops them (and the newline). */
static enum input_result take(struct input *in, size_t n, size_t skip, char **line)
{
	*line = malloc(n + 1);
	if (!*line) {
		errno = ENOMEM;
		return INPUT_ERROR;
	}
	memcpy(*line, in->buf + in->start, n);
	(*line)[n] = '\0';
	if (n > 0 && (*line)[n - 1] == '\r')
		(*line)[n - 1] = '\0';
	in->start += n + skip;
	return INPUT_LINE;
}

enum input_result input_line(struct input *in, char **line)
{
	*line = NULL;
	for (;;) {
		char *nl = in->len > in->start ? memchr(in->buf + in->start, '\n', in->len - in->start) : NULL;
		if (nl)
			return take(in, (size_t)(nl - (in->buf + in->start)), 1, line);
		if (in->eof)
			return in->len > in->start ? take(in, in->len - in->start, 0, line) : INPUT_EOF;
		if (in->start) {
			memmove(in->buf, in->buf + in->start, in->len - in->start);
			in->len -= in->start;
			in->start = 0;
		}
		if (in->cap - in->len < READ_SIZE) {
			char *b = realloc(in->buf, in->cap + READ_SIZE);
			if (!b) {
				errno = ENOMEM;
				return INPUT_ERROR;
			}
			in->buf = b;
			in->cap += READ_SIZE;
		}
		struct pollfd fds[2] = { { in->fd, POLLIN, 0 }, { signals_fd(), POLLIN, 0 } };
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return INPUT_ERROR;
		}
		if (fds[1].revents & POLLIN)
			return INPUT_SIGNAL;
		if (!fds[0].revents)
			continue;
		ssize_t n = read(in->fd, in->buf + in->len, in->cap - in->len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return INPUT_ERROR;
		}
		if (n == 0)
			in->eof = true;
		in->len += (size_t)n;
	}
}
