/* Command lines from a descriptor (a script, a pipe, a terminal without libedit), read so
 * that a signal (signals.h) ends the wait for the next line instead of being held until
 * one arrives. */
#ifndef RAPCLI_INPUT_H
#define RAPCLI_INPUT_H

#include <stdbool.h>
#include <stddef.h>

struct input {
	int fd;       /* borrowed */
	char *buf;    /* heap: buf[start..len) read but not returned yet */
	size_t start, len, cap;
	bool eof;
};

enum input_result {
	INPUT_LINE,   /* *line: the next line without its newline (heap; the caller frees it) */
	INPUT_EOF,    /* no more lines (a last line without a newline was returned before) */
	INPUT_SIGNAL, /* a signal arrived first; it is still there for signals_take() */
	INPUT_ERROR,  /* read failed or no memory; errno says which */
};

void input_init(struct input *in, int fd);
enum input_result input_line(struct input *in, char **line);
void input_free(struct input *in);

#endif
