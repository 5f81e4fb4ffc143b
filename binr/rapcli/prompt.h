/* rapcli's interactive prompt: radare2's "[0x00000000]> ", line editing and history with
 * libedit when built with it, a plain prompt otherwise. Ctrl-C cancels the line being
 * typed; signals arrive through signals.h. */
#ifndef RAPCLI_PROMPT_H
#define RAPCLI_PROMPT_H

#include <rap/core.h>

struct prompt;

enum prompt_result {
	PROMPT_LINE,      /* a line was entered */
	PROMPT_CANCELLED, /* Ctrl-C dropped the line being typed */
	PROMPT_EOF,       /* Ctrl-D on an empty line, or the terminal went away */
	PROMPT_STOPPED,   /* SIGTERM or SIGHUP */
};

/* A prompt on the terminal for core (borrowed, must outlive the prompt); loads the history
 * (see history_path in prompt.c). Returns 0, or -errno / RAP_ENOMEM. */
int prompt_new(struct rap_core *core, struct prompt **out);

/* Shows the prompt and reads a line. With PROMPT_LINE, *line is the text without its
 * newline (heap; the caller frees it). With PROMPT_CANCELLED, *was_empty says whether
 * nothing had been typed. */
enum prompt_result prompt_read(struct prompt *p, char **line, bool *was_empty);

/* Saves the history and restores the terminal. NULL is ignored. */
void prompt_free(struct prompt *p);

#endif
