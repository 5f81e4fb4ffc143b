/* The help pages of the debugger commands (d?, dr?, ds?, dc?, db?, ...). ds?, dc? and db?
 * are radare2 6.2.1's, byte for byte (test/vectors/r2/debug-session.txt), so they also name
 * subcommands rap does not have; those answer that they are not supported. Pages of
 * rap__help_print (help.c), each in radare2's column. */
#include <stdio.h>
#include <string.h>

#include "core_private.h"
#include "debug.h"

static const char help_d[] =
	"Usage: d   Debugger commands (on a dbg:// file)\n"
	"db[?]\tbreakpoints\n"
	"dbt\tbacktrace (frame pointers)\n"
	"dc[?]\tcontinue execution\n"
	"dk [sig]\tsend a signal to the process (default 9, SIGKILL)\n"
	"dm\tlist the memory maps\n"
	"dp\tshow the process\n"
	"dr[?]\tregisters\n"
	"ds[?]\tstep\n";

static const char help_dr[] =
	"Usage: dr   Registers commands\n"
	"dr\tshow the general purpose registers\n"
	"dr <register>\tshow the value of a register\n"
	"dr <register>=<val>\tset the value of a register\n"
	"dr?<register>\tshow the value of a register, unpadded\n"
	"drj\tshow the general purpose registers in JSON\n"
	"drp\tshow the register profile roles\n";

static const char help_ds[] =
	"Usage: ds  Step commands\n"
	"ds\tstep one instruction\n"
	"ds <num>\tstep <num> instructions\n"
	"dsb\tstep back one instruction\n"
	"dsf\tstep until end of frame\n"
	"dsi <cond>\tcontinue until condition matches\n"
	"dsl\tstep one source line\n"
	"dsl <num>\tstep <num> source lines\n"
	"dso <num>\tstep over <num> instructions\n"
	"dsp\tstep into program (skip libs)\n"
	"dss <num>\tskip <num> step instructions\n"
	"dsu[?] <address>\tstep until <address>. See 'dsu?' for other step until cmds.\n";

static const char help_dc[] =
	"Usage: dc  Execution continuation commands\n"
	"dc\tcontinue execution of all children\n"
	"dc <pid>\tcontinue execution of pid\n"
	"dc[-pid]\tstop execution of pid\n"
	"dcb\tcontinue back until breakpoint\n"
	"dcc\tcontinue until call (use step into)\n"
	"dcco\tcontinue until call (use step over)\n"
	"dccu\tcontinue until unknown call (call reg)\n"
	"dce\tcontinue execution (pass exception to program)\n"
	"dcf\tcontinue until fork (TODO)\n"
	"dck <signal> <pid>\tcontinue sending signal to process\n"
	"dcp\tcontinue until program code (mapped io section)\n"
	"dcr\tcontinue until ret (uses step over)\n"
	"dcs[?] <num>\tcontinue until syscall\n"
	"dct <len>\ttraptrace from curseek to len, no argument to list\n"
	"dcu[?] [..end|addr] ([end])\tcontinue until address (or range)\n"
	"dcut ([ms])\tcontinue and interrupt the child after 100ms (or the given ms)\n";

static const char help_db[] =
	"Usage: db   # Breakpoints commands\n"
	"db\tlist breakpoints\n"
	"db addr\tadd breakpoint (see dbg.hwbp)\n"
	"db-*|addr\tremove breakpoint at address (or all breakpoints*)\n"
	"db.\tshow breakpoint details in current address\n"
	"db*\tlist breakpoints in radare commands\n"
	"dbj\tlist breakpoints in JSON format\n"
	"db[c|C] addr cmd\trun command when breakpoint is hit (dbC, continue after hit)\n"
	"db[d|e] addr\tdisable or enable a breakpoint by address\n"
	"dbf\tput a breakpoint into every no-return function\n"
	"dbh[-| x86]\tuse/remove/list breakpoint plugin handlers\n"
	"dbH [addr]\tadd hardware breakpoint\n"
	"dbi[?]\tmanipulate breakpoints by index\n"
	"dbl file:line\tadd breakpoint by source line (dwarf)\n"
	"dbm <module> <offset>\tadd a breakpoint at an offset from a module's base\n"
	"dbn [<name>]\tshow or set name for current breakpoint\n"
	"dbs <addr>\ttoggle breakpoint\n"
	"dbt[?]\tshow backtrace. See dbt? for more details\n"
	"dbx [expr]\tset expression for bp in current offset\n"
	"dbw <addr> <r/w/rw>\tadd watchpoint\n"
	"dbx number addr len perm\tmodify hardware breakpoint\n"
	"dbx-number\tclear hardware breakpoint\n";

static const char help_dm[] =
	"Usage: dm   Memory maps commands\n"
	"dm\tlist the memory maps of the process (* marks the PC's)\n";

static const char help_dk[] =
	"Usage: dk   Signal commands\n"
	"dk\tsend SIGKILL to the process\n"
	"dk <signal>\tsend <signal> (a number) to the process\n";

static const char help_dp[] =
	"Usage: dp   Process commands\n"
	"dp\tshow the debugged process\n";

void rap__core_debug_help(struct rap_core *c, const char *family)
{
	enum { D, DR, DS, DC, DB, DM, DK, DP };
	static const struct {
		const char *text;
		int column;
	} pages[] = {
		[D] = { help_d, 24 }, [DR] = { help_dr, 24 }, [DS] = { help_ds, 18 }, [DC] = { help_dc, 29 },
		[DB] = { help_db, 26 }, [DM] = { help_dm, 24 }, [DK] = { help_dk, 24 }, [DP] = { help_dp, 24 },
	};
	static const struct {
		char family[4];
		unsigned char page;
	} families[] = {
		{ "dr", DR }, { "drp", DR }, { "drj", DR }, { "ds", DS }, { "dso", DS }, { "dc", DC },
		{ "dcu", DC }, { "db", DB }, { "dbt", DB }, { "dm", DM }, { "dk", DK }, { "dp", DP },
	};
	int page = D;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (!strcmp(families[i].family, family))
			page = families[i].page;
	rap__help_print(c->out, pages[page].text, pages[page].column);
}
