/* rapcli's signal handlers: see signals.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "signals.h"

static struct rap_core *target;        /* borrowed: the core SIGINT interrupts */
static int wake[2] = { -1, -1 };       /* self-pipe: [0] polled, [1] written by handlers */
static volatile sig_atomic_t pending;  /* SIGNALS_* not taken yet */
static volatile sig_atomic_t stop_signo;

static void on_signal(int signo)
{
	int saved = errno;
	switch (signo) {
	case SIGINT:
		pending |= SIGNALS_INT;
		rap_core_interrupt(target);
		break;
	case SIGWINCH:
		pending |= SIGNALS_WINCH;
		break;
	default:
		pending |= SIGNALS_STOP;
		stop_signo = signo;
		rap_core_interrupt(target);
		break;
	}
	/* Non-blocking: a full pipe already says "something arrived". */
	ssize_t n = write(wake[1], "", 1);
	(void)n;
	errno = saved;
}

static int catch(int signo)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* Interrupted writes and reads carry on (a hexdump half-written to the terminal
	 * would lose text); waits that must end at a signal poll signals_fd() too. */
	sa.sa_flags = SA_RESTART;
	return sigaction(signo, &sa, NULL) < 0 ? -errno : 0;
}

int signals_install(struct rap_core *core)
{
	target = core;
	if (wake[0] < 0 && pipe2(wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	static const int caught[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++) {
		int rc = catch(caught[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int signals_fd(void)
{
	return wake[0];
}

unsigned signals_take(void)
{
	char buf[64];
	while (read(wake[0], buf, sizeof(buf)) > 0)
		;
	/* Taken after draining: a signal arriving in between stays pending and has written
	 * to the pipe again. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	unsigned got = (unsigned)pending;
	pending = 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return got;
}

int signals_stop_signo(void)
{
	return stop_signo;
}
