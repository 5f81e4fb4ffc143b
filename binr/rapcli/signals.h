/* rapcli's signals: Ctrl-C interrupts the running command (rap_core_interrupt) and, at the
 * prompt, cancels the line; SIGTERM and SIGHUP interrupt it too and end the session the way
 * q does; SIGWINCH tells the line editor the terminal changed size. Handlers only record what
 * arrived and make a descriptor readable, so a poll() loop learns of it; system calls the
 * signals interrupt are restarted. */
#ifndef RAPCLI_SIGNALS_H
#define RAPCLI_SIGNALS_H

#include <rap/core.h>

enum {
	SIGNALS_INT = 1u << 0,   /* SIGINT (Ctrl-C) */
	SIGNALS_STOP = 1u << 1,  /* SIGTERM or SIGHUP */
	SIGNALS_WINCH = 1u << 2, /* SIGWINCH */
};

/* Installs the handlers of SIGINT, SIGTERM, SIGHUP and SIGWINCH. core (borrowed, must
 * outlive the handlers) is interrupted by all but SIGWINCH. Returns 0 or -errno. */
int signals_install(struct rap_core *core);

/* Readable while signals wait to be taken. */
int signals_fd(void);

/* The SIGNALS_* that arrived since the last call (0: none); empties signals_fd. */
unsigned signals_take(void);

/* The last SIGTERM or SIGHUP number that arrived, 0 if none. */
int signals_stop_signo(void);

#endif
