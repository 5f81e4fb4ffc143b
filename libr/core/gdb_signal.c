/* Signal numbers as the GDB remote protocol spells them (GDB's own numbering, the same on
 * every host) against this host's. Stop replies carry GDB numbers; C and S requests too. */
#include <signal.h>

#include "gdb_session.h"

#define GDB_SIGNAL_UNKNOWN 143

struct pair {
	int host;
	int gdb;
};

static const struct pair table[] = {
	{ SIGHUP, 1 },     { SIGINT, 2 },     { SIGQUIT, 3 },   { SIGILL, 4 },     { SIGTRAP, 5 },
	{ SIGABRT, 6 },    { SIGFPE, 8 },     { SIGKILL, 9 },   { SIGBUS, 10 },    { SIGSEGV, 11 },
	{ SIGSYS, 12 },    { SIGPIPE, 13 },   { SIGALRM, 14 },  { SIGTERM, 15 },   { SIGURG, 16 },
	{ SIGSTOP, 17 },   { SIGTSTP, 18 },   { SIGCONT, 19 },  { SIGCHLD, 20 },   { SIGTTIN, 21 },
	{ SIGTTOU, 22 },   { SIGIO, 23 },     { SIGXCPU, 24 },  { SIGXFSZ, 25 },   { SIGVTALRM, 26 },
	{ SIGPROF, 27 },   { SIGWINCH, 28 },  { SIGUSR1, 30 },  { SIGUSR2, 31 },   { SIGPWR, 32 },
};

int rap__gdb_signal_from_host(int sig)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++)
		if (table[i].host == sig)
			return table[i].gdb;
	return GDB_SIGNAL_UNKNOWN;
}

int rap__gdb_signal_to_host(int g)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++)
		if (table[i].gdb == g)
			return table[i].host;
	return 0;
}
