/* rapcli's interactive prompt (see prompt.h).
 *
 * With libedit the line editor reads keys through read_key, which waits on the terminal
 * and on the signal descriptor at once: Ctrl-C (SIGINT, the terminal keeps ISIG) becomes a
 * key bound to "rapcli-cancel", which shows "^C" after the text and ends the line as
 * cancelled; SIGTERM and SIGHUP end the prompt; SIGWINCH redraws it. The plain prompt
 * reads lines with input.h, whose wait a signal ends too. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "input.h"
#include "prompt.h"
#include "rapcli_config.h"
#include "signals.h"

#if HAVE_LIBEDIT
#include <histedit.h>

#define HISTORY_MAX 1000
#define CTRL_C 0x03

struct prompt {
	struct rap_core *core;       /* borrowed */
	char text[64];               /* the prompt shown now */
	EditLine *el;
	History *hist;
	char *hist_path;             /* heap; NULL: no history file */
	bool cancelled, cancelled_empty, stopped;
};

/* $RAPCLI_HISTFILE (empty: none), $XDG_STATE_HOME/rapcli/history or
 * ~/.local/state/rapcli/history; the directories are created quietly (history is a
 * convenience, not a requirement). Heap, or NULL. */
static char *history_path(void)
{
	const char *env = getenv("RAPCLI_HISTFILE");
	if (env)
		return *env ? strdup(env) : NULL;
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char dir[4096];
	if (state && *state)
		snprintf(dir, sizeof(dir), "%s/rapcli", state);
	else if (home && *home)
		snprintf(dir, sizeof(dir), "%s/.local/state/rapcli", home);
	else
		return NULL;
	for (char *p = dir + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0700);
			*p = '/';
		}
	}
	mkdir(dir, 0700);
	size_t len = strlen(dir) + sizeof("/history");
	char *path = malloc(len);
	if (path)
		snprintf(path, len, "%s/history", dir);
	return path;
}

static struct prompt *of(EditLine *el)
{
	struct prompt *p = NULL;
	el_get(el, EL_CLIENTDATA, &p);
	return p;
}

static char *prompt_text(EditLine *el)
{
	return of(el)->text;
}

/* One key: a character from the terminal (decoded per the locale), Ctrl-C when SIGINT
 * arrived, end of input when the terminal closed or SIGTERM/SIGHUP arrived. */
static int read_key(EditLine *el, wchar_t *wc)
{
	struct prompt *p = of(el);
	char mb[MB_LEN_MAX];
	size_t n = 0;
	mbstate_t st;
	memset(&st, 0, sizeof(st));
	for (;;) {
		struct pollfd fds[2] = { { STDIN_FILENO, POLLIN, 0 }, { signals_fd(), POLLIN, 0 } };
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (fds[1].revents & POLLIN) {
			unsigned got = signals_take();
			if (got & SIGNALS_WINCH) {
				el_resize(el);
				el_set(el, EL_REFRESH);
			}
			if (got & SIGNALS_STOP) {
				p->stopped = true;
				return 0;
			}
			if (got & SIGNALS_INT) {
				*wc = CTRL_C;
				return 1;
			}
			continue;
		}
		if (!fds[0].revents)
			continue;
		unsigned char ch;
		ssize_t r = read(STDIN_FILENO, &ch, 1);
		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		mb[n++] = (char)ch;
		size_t k = mbrtowc(wc, mb, n, &st);
		if (k == (size_t)-2 && n < sizeof(mb))
			continue;
		if (k == (size_t)-1 || k == (size_t)-2)
			*wc = (wchar_t)(unsigned char)mb[0]; /* not valid here: taken byte for byte */
		return 1;
	}
}

/* Ctrl-C: the line is dropped, but stays on the screen with "^C" after it. */
static unsigned char key_cancel(EditLine *el, int ch)
{
	(void)ch;
	struct prompt *p = of(el);
	const LineInfo *li = el_line(el);
	p->cancelled = true;
	p->cancelled_empty = li->lastchar == li->buffer;
	el_cursor(el, (int)(li->lastchar - li->cursor));
	el_insertstr(el, "^C");
	el_set(el, EL_REFRESH);
	return CC_NEWLINE;
}

int prompt_new(struct rap_core *core, struct prompt **out)
{
	struct prompt *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->core = core;
	p->hist = history_init();
	p->el = el_init("rapcli", stdin, stdout, stderr);
	if (!p->hist || !p->el) {
		prompt_free(p);
		return -ENOMEM;
	}
	HistEvent ev;
	history(p->hist, &ev, H_SETSIZE, HISTORY_MAX);
	p->hist_path = history_path();
	if (p->hist_path)
		history(p->hist, &ev, H_LOAD, p->hist_path);
	el_set(p->el, EL_CLIENTDATA, p);
	el_set(p->el, EL_EDITOR, "emacs");
	el_set(p->el, EL_PROMPT, prompt_text);
	el_set(p->el, EL_HIST, history, p->hist);
	el_set(p->el, EL_GETCFN, read_key);
	el_source(p->el, NULL); /* ~/.editrc, before our binding so that Ctrl-C stays ours */
	/* The wide form: the narrow EL_ADDFN copies name and help and never frees them. */
	el_wset(p->el, EL_ADDFN, L"rapcli-cancel", L"Drop the line being typed", key_cancel);
	el_wset(p->el, EL_BIND, L"^C", L"rapcli-cancel", NULL);
	*out = p;
	return 0;
}

enum prompt_result prompt_read(struct prompt *p, char **line, bool *was_empty)
{
	*line = NULL;
	*was_empty = false;
	rap_core_prompt(p->core, p->text, sizeof(p->text));
	p->cancelled = p->stopped = false;
	int count = 0;
	const char *s = el_gets(p->el, &count);
	if (p->stopped) {
		putchar('\n');
		return PROMPT_STOPPED;
	}
	if (p->cancelled) {
		putchar('\n'); /* after the "^C", which stays on the screen */
		*was_empty = p->cancelled_empty;
		return PROMPT_CANCELLED;
	}
	if (!s || count <= 0) {
		putchar('\n');
		return PROMPT_EOF;
	}
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	char *copy = strndup(s, n);
	if (!copy)
		return PROMPT_EOF;
	if (n) {
		HistEvent ev;
		history(p->hist, &ev, H_ENTER, copy);
	}
	*line = copy;
	return PROMPT_LINE;
}

void prompt_free(struct prompt *p)
{
	if (!p)
		return;
	if (p->hist && p->hist_path) {
		HistEvent ev;
		history(p->hist, &ev, H_SAVE, p->hist_path);
	}
	if (p->el)
		el_end(p->el);
	if (p->hist)
		history_end(p->hist);
	free(p->hist_path);
	free(p);
}

#else /* !HAVE_LIBEDIT: a plain prompt, no editing beyond the terminal's, no history */

struct prompt {
	struct rap_core *core; /* borrowed */
	struct input in;
};

int prompt_new(struct rap_core *core, struct prompt **out)
{
	struct prompt *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->core = core;
	input_init(&p->in, STDIN_FILENO);
	*out = p;
	return 0;
}

enum prompt_result prompt_read(struct prompt *p, char **line, bool *was_empty)
{
	*line = NULL;
	*was_empty = false;
	char text[64];
	rap_core_prompt(p->core, text, sizeof(text));
	fputs(text, stdout);
	fflush(stdout);
	for (;;) {
		switch (input_line(&p->in, line)) {
		case INPUT_LINE:
			return PROMPT_LINE;
		case INPUT_SIGNAL: {
			unsigned got = signals_take();
			if (got & SIGNALS_STOP) {
				putchar('\n');
				return PROMPT_STOPPED;
			}
			if (got & SIGNALS_INT) {
				/* The terminal dropped what was typed; whether there was anything is
				 * not known here, so it counts as an empty line. */
				putchar('\n');
				*was_empty = true;
				return PROMPT_CANCELLED;
			}
			continue;
		}
		case INPUT_EOF:
		case INPUT_ERROR:
			putchar('\n');
			return PROMPT_EOF;
		}
	}
}

void prompt_free(struct prompt *p)
{
	if (!p)
		return;
	input_free(&p->in);
	free(p);
}

#endif
