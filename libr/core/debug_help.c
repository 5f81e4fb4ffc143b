/* The help pages of the debugger commands (d?, dr?, ds?, dc?, db?, ...). ds?, dc? and db?
 * are radare2 6.2.1's, byte for byte (test/vectors/r2/debug-session.txt), so they also name
 * subcommands rap does not have; those answer that they are not supported. */
#include <stdio.h>
#include <string.h>

#include "core_private.h"
#include "debug.h"

static const char help_d[] =
	"Usage: d   Debugger commands (on a dbg:// file)\n"
	"| db[?]                   breakpoints\n"
	"| dbt                     backtrace (frame pointers)\n"
	"| dc[?]                   continue execution\n"
	"| dk [sig]                send a signal to the process (default 9, SIGKILL)\n"
	"| dm                      list the memory maps\n"
	"| dp                      show the process\n"
	"| dr[?]                   registers\n"
	"| ds[?]                   step\n";

static const char help_dr[] =
	"Usage: dr   Registers commands\n"
	"| dr                      show the general purpose registers\n"
	"| dr <register>           show the value of a register\n"
	"| dr <register>=<val>     set the value of a register\n"
	"| dr?<register>           show the value of a register, unpadded\n"
	"| drj                     show the general purpose registers in JSON\n"
	"| drp                     show the register profile roles\n";

static const char help_ds[] =
	"Usage: ds  Step commands\n"
	"| ds                step one instruction\n"
	"| ds <num>          step <num> instructions\n"
	"| dsb               step back one instruction\n"
	"| dsf               step until end of frame\n"
	"| dsi <cond>        continue until condition matches\n"
	"| dsl               step one source line\n"
	"| dsl <num>         step <num> source lines\n"
	"| dso <num>         step over <num> instructions\n"
	"| dsp               step into program (skip libs)\n"
	"| dss <num>         skip <num> step instructions\n"
	"| dsu[?] <address>  step until <address>. See 'dsu?' for other step until cmds.\n";

static const char help_dc[] =
	"Usage: dc  Execution continuation commands\n"
	"| dc                           continue execution of all children\n"
	"| dc <pid>                     continue execution of pid\n"
	"| dc[-pid]                     stop execution of pid\n"
	"| dcb                          continue back until breakpoint\n"
	"| dcc                          continue until call (use step into)\n"
	"| dcco                         continue until call (use step over)\n"
	"| dccu                         continue until unknown call (call reg)\n"
	"| dce                          continue execution (pass exception to program)\n"
	"| dcf                          continue until fork (TODO)\n"
	"| dck <signal> <pid>           continue sending signal to process\n"
	"| dcp                          continue until program code (mapped io section)\n"
	"| dcr                          continue until ret (uses step over)\n"
	"| dcs[?] <num>                 continue until syscall\n"
	"| dct <len>                    traptrace from curseek to len, no argument to list\n"
	"| dcu[?] [..end|addr] ([end])  continue until address (or range)\n"
	"| dcut ([ms])                  continue and interrupt the child after 100ms (or the given ms)\n";

static const char help_db[] =
	"Usage: db   # Breakpoints commands\n"
	"| db                        list breakpoints\n"
	"| db addr                   add breakpoint (see dbg.hwbp)\n"
	"| db-*|addr                 remove breakpoint at address (or all breakpoints*)\n"
	"| db.                       show breakpoint details in current address\n"
	"| db*                       list breakpoints in radare commands\n"
	"| dbj                       list breakpoints in JSON format\n"
	"| db[c|C] addr cmd          run command when breakpoint is hit (dbC, continue after hit)\n"
	"| db[d|e] addr              disable or enable a breakpoint by address\n"
	"| dbf                       put a breakpoint into every no-return function\n"
	"| dbh[-| x86]               use/remove/list breakpoint plugin handlers\n"
	"| dbH [addr]                add hardware breakpoint\n"
	"| dbi[?]                    manipulate breakpoints by index\n"
	"| dbl file:line             add breakpoint by source line (dwarf)\n"
	"| dbm <module> <offset>     add a breakpoint at an offset from a module's base\n"
	"| dbn [<name>]              show or set name for current breakpoint\n"
	"| dbs <addr>                toggle breakpoint\n"
	"| dbt[?]                    show backtrace. See dbt? for more details\n"
	"| dbx [expr]                set expression for bp in current offset\n"
	"| dbw <addr> <r/w/rw>       add watchpoint\n"
	"| dbx number addr len perm  modify hardware breakpoint\n"
	"| dbx-number                clear hardware breakpoint\n";

static const char help_dm[] =
	"Usage: dm   Memory maps commands\n"
	"| dm                      list the memory maps of the process (* marks the PC's)\n";

static const char help_dk[] =
	"Usage: dk   Signal commands\n"
	"| dk                      send SIGKILL to the process\n"
	"| dk <signal>             send <signal> (a number) to the process\n";

static const char help_dp[] =
	"Usage: dp   Process commands\n"
	"| dp                      show the debugged process\n";

void rap__core_debug_help(struct rap_core *c, const char *family)
{
	static const struct {
		const char *family;
		const char *text;
	} pages[] = {
		{ "dr", help_dr }, { "drp", help_dr }, { "drj", help_dr },
		{ "ds", help_ds }, { "dso", help_ds },
		{ "dc", help_dc }, { "dcu", help_dc },
		{ "db", help_db }, { "dbt", help_db },
		{ "dm", help_dm }, { "dk", help_dk }, { "dp", help_dp },
	};
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		if (!strcmp(pages[i].family, family)) {
			fputs(pages[i].text, c->out);
			return;
		}
	}
	fputs(help_d, c->out);
}
